//! The agent roster: the object OpenClaw reads as `agents.entries` (through
//! `$include`), keyed by agent id. HeyClaw manages the reserved entry and
//! the slot agents `slot-<n>` (and removes the per-user `agent-<uuid>`
//! entries of earlier versions); any other entry (an operator's own agent)
//! is kept as it is.

use std::path::Path;

use serde_json::{Map, Value, json};

use crate::{ProvisioningError, RESERVED_AGENT_ID};

/// The id of slot agent `n`.
pub fn slot_id(n: u32) -> String {
    format!("slot-{n}")
}

/// The slot number in a slot agent's id: `Some(3)` for `slot-3`; `None` for
/// anything else, including non-canonical spellings such as `slot-03`.
pub fn slot_number(id: &str) -> Option<u32> {
    let digits = id.strip_prefix("slot-")?;
    if digits.is_empty() || (digits.len() > 1 && digits.starts_with('0')) {
        return None;
    }
    digits.parse().ok()
}

/// A slot agent's roster entry. The tool policy is repeated here although
/// the base config sets it for every agent: a gateway config written by an
/// earlier version has no global policy, and a slot must never run without
/// one. The roster never changes while the gateway serves, so the extra
/// bytes cost nothing per turn.
fn slot_entry(gateway_workspaces_dir: &Path, n: u32) -> Value {
    json!({
        "name": slot_id(n),
        "workspace": gateway_workspaces_dir.join(slot_id(n)).to_string_lossy(),
        "tools": tool_policy(),
    })
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

/// The entries HeyClaw owns: the reserved agent, slot agents and the
/// per-user `agent-<uuid>` entries of earlier versions.
pub fn is_managed_agent_id(id: &str) -> bool {
    id == RESERVED_AGENT_ID || slot_number(id).is_some() || is_legacy_agent_id(id)
}

/// `agent-` followed by a lowercase hyphenated UUID: an earlier version's
/// per-user entry.
pub fn is_legacy_agent_id(id: &str) -> bool {
    let Some(uuid) = id.strip_prefix("agent-") else {
        return false;
    };
    uuid.len() == 36
        && uuid.char_indices().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => c == '-',
            _ => c.is_ascii_digit() || ('a'..='f').contains(&c),
        })
}

/// The roster file's contents: agent entries keyed by agent id, as OpenClaw
/// reads `agents.entries`. The entries themselves are OpenClaw's JSON,
/// not interpreted here.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Roster {
    entries: Map<String, Value>,
}

impl Roster {
    /// Parses a roster file (JSON5, as OpenClaw accepts). Empty text is an
    /// empty roster. `path` is only used in errors.
    ///
    /// # Errors
    /// [`ProvisioningError::Parse`] for text that is not JSON5,
    /// [`ProvisioningError::Shape`] for JSON5 that is not an object.
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

    /// The file's contents: pretty-printed JSON with a final newline.
    pub fn to_json(&self) -> Vec<u8> {
        let mut text = serde_json::to_vec_pretty(&self.entries).unwrap_or_default();
        text.push(b'\n');
        text
    }

    /// Whether the roster has an entry for `id`.
    pub fn contains(&self, id: &str) -> bool {
        self.entries.contains_key(id)
    }

    /// How many entries it has.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether it has no entries (OpenClaw refuses such a roster).
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The agent ids, in the map's order.
    pub fn ids(&self) -> impl Iterator<Item = &str> {
        self.entries.keys().map(String::as_str)
    }

    /// Makes the managed entries exactly the reserved agent and slots
    /// `0..slots`, leaving others alone: slots past `slots` and the
    /// per-user entries of earlier versions are removed; each slot's
    /// workspace is `<gateway_workspaces_dir>/slot-<n>`.
    pub fn set_slots(&mut self, gateway_workspaces_dir: &Path, slots: u32, reserved: Value) {
        self.entries.retain(|id, _| !is_managed_agent_id(id));
        self.entries.insert(RESERVED_AGENT_ID.to_owned(), reserved);
        for n in 0..slots {
            self.entries
                .insert(slot_id(n), slot_entry(gateway_workspaces_dir, n));
        }
    }

    /// Adds entries (e.g. found inline in openclaw.json) without replacing
    /// any already present.
    pub fn adopt(&mut self, entries: Map<String, Value>) {
        for (id, entry) in entries {
            self.entries.entry(id).or_insert(entry);
        }
    }

    /// The entry of agent `id`, if there is one.
    pub fn entry(&self, id: &str) -> Option<&Value> {
        self.entries.get(id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reserved_entry;

    #[test]
    fn managed_ids_are_reserved_slots_and_legacy_agents() {
        for managed in [
            "heyclaw-reserved",
            "slot-0",
            "slot-17",
            "agent-00000000-0000-0000-0000-0000000000ab",
        ] {
            assert!(is_managed_agent_id(managed), "{managed}");
        }
        for other in [
            "main",
            "slot-",
            "slot-01",
            "slot-x",
            "agent-",
            "agent-../../etc",
            "agent-A0000000-0000-0000-0000-000000000000",
        ] {
            assert!(!is_managed_agent_id(other), "{other}");
        }
        assert_eq!(slot_number(&slot_id(42)), Some(42));
    }

    #[test]
    fn set_slots_keeps_operator_agents_and_drops_legacy_ones() {
        let path = Path::new("roster.json");
        let mut roster = Roster::parse(
            path,
            r#"{ main: { workspace: "/w/main" }, // JSON5
            "agent-00000000-0000-0000-0000-000000000000": { workspace: "/w/gone" },
            "slot-9": { workspace: "/w/slot-9" } }"#,
        )
        .unwrap();
        roster.set_slots(Path::new("/w"), 2, reserved_entry(Path::new("/w")));
        let ids: Vec<_> = roster.ids().collect();
        assert_eq!(ids.len(), 4, "{ids:?}");
        for id in ["main", "heyclaw-reserved", "slot-0", "slot-1"] {
            assert!(roster.contains(id), "{id}");
        }
        let slot = roster.entry("slot-1").unwrap();
        assert_eq!(slot["workspace"], "/w/slot-1");
        assert_eq!(slot["tools"]["fs"]["workspaceOnly"], true);
        assert_eq!(
            slot["tools"]["allow"],
            json!(["read", "write", "edit", "ls"])
        );
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
