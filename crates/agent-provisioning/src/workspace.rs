//! Agent workspaces: `<root>/agent-<uuid>/` holding the template files.
//! Existing files are never overwritten — the agent edits MEMORY.md and
//! USER.md over time — so creating a workspace twice changes nothing, and a
//! half-created one is completed by the next run.

use std::path::{Path, PathBuf};

use heyclaw_domain::AgentId;

use crate::{ProvisioningError, atomic};

/// The files every workspace starts with.
pub const TEMPLATE_FILES: [&str; 4] = ["SOUL.md", "AGENTS.md", "MEMORY.md", "USER.md"];

const NAME_PLACEHOLDER: &str = "{{name}}";

#[derive(Debug, Clone)]
pub struct Workspaces {
    root: PathBuf,
    templates: Vec<(&'static str, String)>,
}

impl Workspaces {
    /// Reads the templates once; a missing one is an error naming it.
    pub fn load(root: impl Into<PathBuf>, templates_dir: &Path) -> Result<Self, ProvisioningError> {
        let templates = TEMPLATE_FILES
            .iter()
            .map(|name| {
                let path = templates_dir.join(name);
                std::fs::read_to_string(&path)
                    .map(|text| (*name, text))
                    .map_err(ProvisioningError::io("reading template", path))
            })
            .collect::<Result<_, _>>()?;
        Ok(Self {
            root: root.into(),
            templates,
        })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn path_of(&self, agent: &AgentId) -> PathBuf {
        self.root.join(agent.as_str())
    }

    /// Creates whatever is missing of the agent's workspace.
    pub async fn ensure(
        &self,
        agent: &AgentId,
        user_name: Option<&str>,
    ) -> Result<PathBuf, ProvisioningError> {
        let dir = self.path_of(agent);
        let files: Vec<(PathBuf, String)> = self
            .templates
            .iter()
            .map(|(name, text)| {
                let text = if *name == "USER.md" {
                    text.replace(NAME_PLACEHOLDER, user_name.unwrap_or("(not given yet)"))
                } else {
                    text.clone()
                };
                (dir.join(name), text)
            })
            .collect();
        let result_dir = dir.clone();
        tokio::task::spawn_blocking(move || {
            std::fs::create_dir_all(&dir).map_err(ProvisioningError::io("creating", &dir))?;
            for (path, text) in files {
                if !path.exists() {
                    atomic::write_file(&path, text.as_bytes())?;
                }
            }
            Ok(())
        })
        .await
        .map_err(|err| {
            ProvisioningError::io("creating", &result_dir)(std::io::Error::other(err))
        })??;
        Ok(result_dir)
    }

    /// Sets one `- <field>: <value>` line of the agent's USER.md (replacing
    /// the line if there is one, else adding it), leaving the rest of the
    /// file — which the agent edits too — as it is.
    pub async fn set_user_field(
        &self,
        agent: &AgentId,
        field: &str,
        value: &str,
    ) -> Result<(), ProvisioningError> {
        let path = self.path_of(agent).join("USER.md");
        let prefix = format!("- {field}:");
        let line = format!("{prefix} {value}");
        tokio::task::spawn_blocking(move || {
            let text = match std::fs::read_to_string(&path) {
                Ok(text) => text,
                // Not provisioned yet: the next `ensure` writes the template.
                Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(()),
                Err(err) => return Err(ProvisioningError::io("reading", &path)(err)),
            };
            let mut found = false;
            let mut lines: Vec<String> = text
                .lines()
                .map(|current| {
                    if !found && current.trim_start().starts_with(&prefix) {
                        found = true;
                        line.clone()
                    } else {
                        current.to_owned()
                    }
                })
                .collect();
            if !found {
                lines.push(line.clone());
            }
            let mut updated = lines.join("\n");
            updated.push('\n');
            atomic::write_file(&path, updated.as_bytes())
        })
        .await
        .map_err(|err| {
            ProvisioningError::io("writing USER.md", "USER.md")(std::io::Error::other(err))
        })?
    }

    /// Deletes the agent's workspace and everything in it. Missing is fine.
    pub async fn remove(&self, agent: &AgentId) -> Result<(), ProvisioningError> {
        let dir = self.path_of(agent);
        match tokio::fs::remove_dir_all(&dir).await {
            Ok(()) => Ok(()),
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(err) => Err(ProvisioningError::io("removing", dir)(err)),
        }
    }
}

#[cfg(test)]
mod tests {
    use heyclaw_domain::UserId;

    use super::*;

    fn templates() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../templates")
    }

    #[tokio::test]
    async fn creates_from_templates_idempotently_and_never_overwrites() {
        let root = std::env::temp_dir().join(format!("heyclaw-ws-{}", uuid::Uuid::new_v4()));
        let workspaces = Workspaces::load(&root, &templates()).unwrap();
        let agent = AgentId::for_user(UserId(uuid::Uuid::new_v4()));
        let dir = workspaces.ensure(&agent, Some("Ada")).await.unwrap();
        assert_eq!(dir, root.join(agent.as_str()));
        for name in TEMPLATE_FILES {
            assert!(dir.join(name).exists(), "{name}");
        }
        let user_md = std::fs::read_to_string(dir.join("USER.md")).unwrap();
        assert!(
            user_md.contains("Ada") && !user_md.contains("{{name}}"),
            "{user_md}"
        );

        std::fs::write(dir.join("MEMORY.md"), "likes tea").unwrap();
        std::fs::remove_file(dir.join("SOUL.md")).unwrap();
        workspaces.ensure(&agent, Some("Ada")).await.unwrap();
        assert_eq!(
            std::fs::read_to_string(dir.join("MEMORY.md")).unwrap(),
            "likes tea"
        );
        assert!(dir.join("SOUL.md").exists(), "a missing file is repaired");

        workspaces
            .set_user_field(&agent, "Time zone", "Europe/Paris")
            .await
            .unwrap();
        workspaces
            .set_user_field(&agent, "Time zone", "Asia/Tokyo")
            .await
            .unwrap();
        let user_md = std::fs::read_to_string(dir.join("USER.md")).unwrap();
        assert_eq!(user_md.matches("- Time zone:").count(), 1, "{user_md}");
        assert!(user_md.contains("- Time zone: Asia/Tokyo") && user_md.contains("Ada"));

        workspaces.remove(&agent).await.unwrap();
        assert!(!dir.exists());
        workspaces.remove(&agent).await.unwrap();
        let _ = std::fs::remove_dir_all(root);
    }

    #[test]
    fn a_missing_template_is_named() {
        let err = Workspaces::load("/tmp/x", Path::new("/nonexistent-templates")).unwrap_err();
        assert!(err.to_string().contains("SOUL.md"), "{err}");
    }
}
