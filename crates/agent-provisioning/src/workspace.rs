//! Slot workspaces: the directory a slot agent works in holds the files of
//! the user bound to it. These functions fill one from a user's archived
//! files (or from `templates/` for a new user), read it back, and empty it.
//! They are blocking; callers run them off the async runtime.
//!
//! Paths inside a workspace are relative, `/`-separated and never leave it:
//! anything else read from an archive is refused, and links found in a
//! workspace are skipped rather than followed.

use std::path::{Component, Path, PathBuf};

use crate::{ProvisioningError, atomic};

/// The files every workspace starts with.
pub const TEMPLATE_FILES: [&str; 4] = ["SOUL.md", "AGENTS.md", "MEMORY.md", "USER.md"];

/// The most files [`read_workspace`] returns; files past it are left out
/// (and logged), not an error.
pub const MAX_WORKSPACE_FILES: usize = 500;
/// The most bytes, all files together, [`read_workspace`] returns; a file
/// that would go past it is left out (and logged), not an error.
pub const MAX_WORKSPACE_BYTES: usize = 8 * 1024 * 1024;

const NAME_PLACEHOLDER: &str = "{{name}}";

/// One file of a workspace: its relative path and its bytes.
pub type WorkspaceFile = (String, Vec<u8>);

/// The workspace templates ([`TEMPLATE_FILES`]), read once. `USER.md` may
/// hold `{{name}}`, replaced by the user's name.
#[derive(Debug, Clone)]
pub struct Templates {
    files: Vec<(&'static str, String)>,
}

impl Templates {
    /// Reads the templates from `templates_dir` (blocking I/O).
    ///
    /// # Errors
    /// [`ProvisioningError::Io`] naming the first template that cannot be
    /// read (missing, or not UTF-8).
    pub fn load(templates_dir: &Path) -> Result<Self, ProvisioningError> {
        let files = TEMPLATE_FILES
            .iter()
            .map(|name| {
                let path = templates_dir.join(name);
                std::fs::read_to_string(&path)
                    .map(|text| (*name, text))
                    .map_err(ProvisioningError::io("reading template", path))
            })
            .collect::<Result<_, _>>()?;
        Ok(Self { files })
    }

    /// A new user's workspace, with their name in USER.md (`(not given
    /// yet)` without one), in [`TEMPLATE_FILES`] order.
    pub fn render(&self, user_name: Option<&str>) -> Vec<WorkspaceFile> {
        self.files
            .iter()
            .map(|(name, text)| {
                let text = if *name == "USER.md" {
                    text.replace(NAME_PLACEHOLDER, user_name.unwrap_or("(not given yet)"))
                } else {
                    text.clone()
                };
                ((*name).to_owned(), text.into_bytes())
            })
            .collect()
    }
}

/// Whether `path` is a plain relative path inside a workspace: not empty,
/// `/`-separated, no `..`, `.`, root or backslash.
///
/// ```
/// use heyclaw_agent_provisioning::is_workspace_path;
///
/// assert!(is_workspace_path("notes/today.md"));
/// assert!(!is_workspace_path("../other-slot/MEMORY.md"));
/// assert!(!is_workspace_path("/etc/passwd"));
/// ```
pub fn is_workspace_path(path: &str) -> bool {
    !path.is_empty()
        && !path.contains('\\')
        && Path::new(path)
            .components()
            .all(|component| matches!(component, Component::Normal(_)))
}

/// Every regular file under `dir` (links and special files skipped), in
/// path order, within [`MAX_WORKSPACE_FILES`] and [`MAX_WORKSPACE_BYTES`].
/// A missing directory is an empty workspace. Paths are relative and
/// `/`-separated. Blocking file I/O.
///
/// # Errors
/// [`ProvisioningError::Io`] when a directory cannot be listed or a file
/// read.
pub fn read_workspace(dir: &Path) -> Result<Vec<WorkspaceFile>, ProvisioningError> {
    let mut paths = Vec::new();
    collect(dir, dir, &mut paths)?;
    paths.sort();
    let mut files = Vec::with_capacity(paths.len());
    let mut total = 0usize;
    for (relative, path) in paths {
        let bytes = std::fs::read(&path).map_err(ProvisioningError::io("reading", &path))?;
        if files.len() == MAX_WORKSPACE_FILES || total + bytes.len() > MAX_WORKSPACE_BYTES {
            tracing::warn!(dir = %dir.display(), file = %relative, "workspace over its size limit; file left out");
            continue;
        }
        total += bytes.len();
        files.push((relative, bytes));
    }
    Ok(files)
}

fn collect(
    root: &Path,
    dir: &Path,
    out: &mut Vec<(String, PathBuf)>,
) -> Result<(), ProvisioningError> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(err) => return Err(ProvisioningError::io("listing", dir)(err)),
    };
    for entry in entries {
        let entry = entry.map_err(ProvisioningError::io("listing", dir))?;
        let path = entry.path();
        // `file_type` does not follow links.
        let kind = entry
            .file_type()
            .map_err(ProvisioningError::io("inspecting", &path))?;
        if kind.is_dir() {
            collect(root, &path, out)?;
        } else if kind.is_file() {
            let relative = path
                .strip_prefix(root)
                .unwrap_or(&path)
                .to_string_lossy()
                .replace(std::path::MAIN_SEPARATOR, "/");
            if is_workspace_path(&relative) {
                out.push((relative, path));
            }
        }
    }
    Ok(())
}

/// Makes `dir` hold exactly `files`. A path that would leave the workspace
/// is refused before anything is touched.
///
/// Destructive: whatever `dir` held before is deleted first (see
/// [`wipe_workspace`]). Each file is then written atomically; a failure
/// part-way leaves some of the files. Blocking file I/O.
///
/// # Errors
/// [`ProvisioningError::Shape`] for a path that fails
/// [`is_workspace_path`]; [`ProvisioningError::Io`] when emptying or writing
/// fails.
pub fn fill_workspace(dir: &Path, files: &[WorkspaceFile]) -> Result<(), ProvisioningError> {
    if let Some((bad, _)) = files.iter().find(|(path, _)| !is_workspace_path(path)) {
        return Err(ProvisioningError::Shape {
            path: dir.to_path_buf(),
            message: format!("refusing a file path outside the workspace: {bad:?}"),
        });
    }
    wipe_workspace(dir)?;
    for (relative, bytes) in files {
        atomic::write_file(&dir.join(relative), bytes)?;
    }
    Ok(())
}

/// Empties `dir` (creating it if need be): everything in it is deleted.
///
/// # Errors
/// [`ProvisioningError::Io`] when it cannot be emptied or created.
pub fn wipe_workspace(dir: &Path) -> Result<(), ProvisioningError> {
    match std::fs::remove_dir_all(dir) {
        Ok(()) => {}
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
        Err(err) => return Err(ProvisioningError::io("emptying", dir)(err)),
    }
    std::fs::create_dir_all(dir).map_err(ProvisioningError::io("creating", dir))
}

/// Sets one `- <field>: <value>` line of a USER.md (replacing the line if
/// there is one, else adding it), leaving the rest — which the agent edits
/// too — as it is. The result ends with a newline.
///
/// ```
/// use heyclaw_agent_provisioning::set_user_field;
///
/// let user = "# User\n- Name: Ada\n- Time zone: UTC\n";
/// assert_eq!(
///     set_user_field(user, "Time zone", "Europe/Paris"),
///     "# User\n- Name: Ada\n- Time zone: Europe/Paris\n"
/// );
/// ```
pub fn set_user_field(text: &str, field: &str, value: &str) -> String {
    let prefix = format!("- {field}:");
    let line = format!("{prefix} {value}");
    let mut found = false;
    let mut lines: Vec<&str> = text
        .lines()
        .map(|current| {
            if !found && current.trim_start().starts_with(&prefix) {
                found = true;
                line.as_str()
            } else {
                current
            }
        })
        .collect();
    if !found {
        lines.push(&line);
    }
    let mut updated = lines.join("\n");
    updated.push('\n');
    updated
}

#[cfg(test)]
mod tests {
    use super::*;

    fn templates() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../templates")
    }

    #[test]
    fn renders_templates_with_the_name() {
        let files = Templates::load(&templates()).unwrap().render(Some("Ada"));
        let names: Vec<_> = files.iter().map(|(name, _)| name.as_str()).collect();
        assert_eq!(names, TEMPLATE_FILES);
        let user = String::from_utf8(files[3].1.clone()).unwrap();
        assert!(user.contains("Ada") && !user.contains("{{name}}"), "{user}");
    }

    #[test]
    fn fill_then_read_round_trips_and_wipes_what_was_there() {
        let dir = std::env::temp_dir().join(format!("heyclaw-ws-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(dir.join("old")).unwrap();
        std::fs::write(dir.join("old/secret.md"), "previous user").unwrap();
        let files = vec![
            ("MEMORY.md".to_owned(), b"likes tea".to_vec()),
            ("notes/today.md".to_owned(), b"walk".to_vec()),
        ];
        fill_workspace(&dir, &files).unwrap();
        assert_eq!(read_workspace(&dir).unwrap(), files);
        #[cfg(unix)]
        std::os::unix::fs::symlink("/etc/hostname", dir.join("link.md")).unwrap();
        assert_eq!(
            read_workspace(&dir).unwrap(),
            files,
            "links are not followed"
        );
        wipe_workspace(&dir).unwrap();
        assert!(read_workspace(&dir).unwrap().is_empty());
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn paths_leaving_the_workspace_are_refused() {
        for bad in ["../x", "/etc/passwd", "a/../../b", "", "a\\b", "./a"] {
            assert!(!is_workspace_path(bad), "{bad}");
        }
        assert!(is_workspace_path("notes/a.md"));
        let dir = std::env::temp_dir().join(format!("heyclaw-ws-{}", uuid::Uuid::new_v4()));
        let err = fill_workspace(&dir, &[("../escape.md".to_owned(), vec![])]).unwrap_err();
        assert!(err.to_string().contains("outside"), "{err}");
        assert!(!dir.exists(), "nothing touched");
    }

    #[test]
    fn user_fields_are_set_once() {
        let text = "# User\n- Name: Ada\n";
        let once = set_user_field(text, "Time zone", "Europe/Paris");
        let twice = set_user_field(&once, "Time zone", "Asia/Tokyo");
        assert_eq!(twice, "# User\n- Name: Ada\n- Time zone: Asia/Tokyo\n");
    }
}
