//! The agent roster: the object OpenClaw reads as `agents.entries` (through
//! `$include`), keyed by agent id. HeyClaw manages the `agent-<uuid>`
//! entries; any other entry (an operator's own agent) is kept as it is.

use std::path::Path;

use heyclaw_domain::AgentId;
use serde_json::{Map, Value, json};

use crate::ProvisioningError;

/// One managed agent as the gateway sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct AgentEntry {
    pub id: AgentId,
    /// Shown in the gateway's UI and logs.
    pub name: String,
    /// The workspace as the *gateway* sees it (its own mount path).
    pub workspace: String,
    /// `provider/model`, e.g. `openai-custom/gpt-5-nano`.
    pub model: String,
}

impl AgentEntry {
    fn to_value(&self) -> Value {
        json!({
            "name": self.name,
            "workspace": self.workspace,
            "model": { "primary": self.model },
            "tools": tool_policy(),
        })
    }
}

/// The tool policy every user agent gets. One gateway is one trust domain,
/// so each agent is confined to an explicit allow-list — file tools, inside
/// its own workspace only. A deny-list alone is not enough: tools reached
/// through the gateway's deferred catalog (`tool_search`/`tool_call`, e.g.
/// `terminal`) slip past it, and new gateway versions add tools. The deny
/// list stays as a second fence naming what must never run: shell and
/// process control, gateway/config control, scheduling, browser, device
/// nodes, and spawning or messaging other agents' sessions.
pub fn tool_policy() -> Value {
    json!({
        "allow": ["read", "write", "edit", "ls"],
        "deny": [
            "group:runtime",
            "group:automation",
            "exec",
            "process",
            "apply_patch",
            "openclaw",
            "gateway",
            "cron",
            "browser",
            "nodes",
            "sessions_spawn",
            "sessions_send"
        ],
        "fs": { "workspaceOnly": true },
        "exec": { "security": "deny" }
    })
}

/// `agent-` followed by a lowercase hyphenated UUID: the ids HeyClaw owns.
pub fn is_managed_agent_id(id: &str) -> bool {
    let Some(uuid) = id.strip_prefix("agent-") else {
        return false;
    };
    uuid.len() == 36
        && uuid.char_indices().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => c == '-',
            _ => c.is_ascii_digit() || ('a'..='f').contains(&c),
        })
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Roster {
    entries: Map<String, Value>,
}

impl Roster {
    /// Parses a roster file (JSON5, as OpenClaw accepts). Empty text is an
    /// empty roster.
    pub fn parse(path: &Path, text: &str) -> Result<Self, ProvisioningError> {
        if text.trim().is_empty() {
            return Ok(Self::default());
        }
        let value: Value = json5::from_str(text).map_err(|err| ProvisioningError::Parse {
            path: path.to_path_buf(),
            message: err.to_string(),
        })?;
        match value {
            Value::Object(entries) => Ok(Self { entries }),
            _ => Err(ProvisioningError::Shape {
                path: path.to_path_buf(),
                message: "the roster must be an object keyed by agent id".to_owned(),
            }),
        }
    }

    pub fn to_json(&self) -> Vec<u8> {
        let mut text = serde_json::to_vec_pretty(&self.entries).unwrap_or_default();
        text.push(b'\n');
        text
    }

    pub fn contains(&self, id: &str) -> bool {
        self.entries.contains_key(id)
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn ids(&self) -> impl Iterator<Item = &str> {
        self.entries.keys().map(String::as_str)
    }

    pub fn upsert(&mut self, entry: &AgentEntry) {
        self.entries
            .insert(entry.id.as_str().to_owned(), entry.to_value());
    }

    pub fn remove(&mut self, id: &str) -> bool {
        self.entries.remove(id).is_some()
    }

    /// Makes the managed entries exactly `entries`, leaving others alone.
    pub fn replace_managed(&mut self, entries: &[AgentEntry]) {
        self.entries.retain(|id, _| !is_managed_agent_id(id));
        for entry in entries {
            self.upsert(entry);
        }
    }

    /// Adds entries (e.g. found inline in openclaw.json) without replacing
    /// any already present.
    pub fn adopt(&mut self, entries: Map<String, Value>) {
        for (id, entry) in entries {
            self.entries.entry(id).or_insert(entry);
        }
    }

    pub fn entry(&self, id: &str) -> Option<&Value> {
        self.entries.get(id)
    }
}

#[cfg(test)]
mod tests {
    use heyclaw_domain::UserId;

    use super::*;

    fn entry() -> AgentEntry {
        let id = AgentId::for_user(UserId(uuid::Uuid::new_v4()));
        AgentEntry {
            workspace: format!("/root/.openclaw/workspaces/{id}"),
            id,
            name: "My Assistant".into(),
            model: "openai-custom/gpt-5-nano".into(),
        }
    }

    #[test]
    fn managed_ids_are_agent_uuid_only() {
        assert!(is_managed_agent_id(entry().id.as_str()));
        for other in [
            "main",
            "agent-",
            "agent-../../etc",
            "agent-A0000000-0000-0000-0000-000000000000",
            "agent-x",
        ] {
            assert!(!is_managed_agent_id(other), "{other}");
        }
    }

    #[test]
    fn replace_managed_keeps_operator_agents() {
        let path = Path::new("roster.json");
        let mut roster = Roster::parse(
            path,
            r#"{ main: { workspace: "/w/main" }, // JSON5
            "agent-00000000-0000-0000-0000-000000000000": { workspace: "/w/gone" } }"#,
        )
        .unwrap();
        let kept = entry();
        roster.replace_managed(std::slice::from_ref(&kept));
        let ids: Vec<_> = roster.ids().collect();
        assert_eq!(ids.len(), 2);
        assert!(roster.contains("main") && roster.contains(kept.id.as_str()));
        let written = roster.entry(kept.id.as_str()).unwrap();
        assert_eq!(written["model"]["primary"], "openai-custom/gpt-5-nano");
        assert_eq!(written["tools"]["fs"]["workspaceOnly"], true);
        let reparsed = Roster::parse(path, &String::from_utf8(roster.to_json()).unwrap()).unwrap();
        assert_eq!(reparsed, roster);
    }

    #[test]
    fn a_roster_must_be_an_object() {
        assert!(Roster::parse(Path::new("r.json"), "[1,2]").is_err());
        assert!(Roster::parse(Path::new("r.json"), "{ nope").is_err());
        assert!(Roster::parse(Path::new("r.json"), "  ").unwrap().is_empty());
    }
}
