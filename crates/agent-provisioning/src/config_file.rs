//! `openclaw.json` belongs to the gateway (it rewrites it at times); the API
//! owns only the roster file next to it. This module makes the main config
//! point `agents.entries` at the roster with `$include` — once: when the
//! include is already there the file is not touched.

use std::path::Path;

use serde_json::{Map, Value, json};

use crate::{ProvisioningError, atomic, is_managed_agent_id};

/// The roster file, beside `openclaw.json`, included by relative path so it
/// resolves in both the gateway's and the API's mount of the volume.
pub const ROSTER_FILE_NAME: &str = "heyclaw-agents.json";

/// Makes `config_path` include the roster. Returns the agent entries that
/// were inline in the config (or in the legacy `agents.list`), which the
/// caller adopts into the roster so no agent is lost. Does nothing and
/// returns `None` when the config file does not exist yet (the gateway's
/// entrypoint creates it).
///
/// When the include is already there the file is not touched and the map is
/// empty. Otherwise the file is rewritten (atomically) as plain,
/// pretty-printed JSON: every setting is kept, but JSON5 comments and
/// formatting are lost, and `bindings` naming HeyClaw-managed agents are
/// dropped.
///
/// # Errors
/// [`ProvisioningError::Io`], [`ProvisioningError::Parse`] (not JSON5) or
/// [`ProvisioningError::Shape`] (the config, or its `agents`, is not an
/// object).
pub fn include_roster(config_path: &Path) -> Result<Option<Map<String, Value>>, ProvisioningError> {
    let text = match std::fs::read_to_string(config_path) {
        Ok(text) => text,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(err) => return Err(ProvisioningError::io("reading", config_path)(err)),
    };
    let mut config: Value = json5::from_str(&text).map_err(|err| ProvisioningError::Parse {
        path: config_path.to_path_buf(),
        message: err.to_string(),
    })?;
    let adopted = rewrite(&mut config).map_err(|message| ProvisioningError::Shape {
        path: config_path.to_path_buf(),
        message,
    })?;
    if let Some(adopted) = &adopted {
        let mut bytes = serde_json::to_vec_pretty(&config).unwrap_or_default();
        bytes.push(b'\n');
        atomic::write_file(config_path, &bytes)?;
        tracing::info!(
            path = %config_path.display(),
            adopted = adopted.len(),
            "openclaw.json now includes the HeyClaw agent roster"
        );
    }
    Ok(Some(adopted.unwrap_or_default()))
}

fn include_value() -> Value {
    json!({ "$include": format!("./{ROSTER_FILE_NAME}") })
}

/// Edits the config in memory. `Ok(None)` when it already includes the
/// roster and needs no write.
fn rewrite(config: &mut Value) -> Result<Option<Map<String, Value>>, String> {
    let root = config
        .as_object_mut()
        .ok_or("the config must be an object")?;
    let agents = root
        .entry("agents")
        .or_insert_with(|| Value::Object(Map::new()))
        .as_object_mut()
        .ok_or("`agents` must be an object")?;
    let already = agents.get("entries") == Some(&include_value())
        && agents.get("ownership") == Some(&json!("explicit"))
        && !agents.contains_key("list");
    if already {
        return Ok(None);
    }
    let mut adopted = Map::new();
    match agents.remove("entries") {
        Some(Value::Object(entries)) if !entries.contains_key("$include") => {
            adopted.extend(entries)
        }
        _ => {}
    }
    // The seed's older shape: `agents.list: [{ id, … }]`.
    if let Some(Value::Array(list)) = agents.remove("list") {
        for item in list {
            if let Value::Object(mut item) = item
                && let Some(Value::String(id)) = item.remove("id")
            {
                adopted.entry(id).or_insert(Value::Object(item));
            }
        }
    }
    agents.insert("entries".to_owned(), include_value());
    agents.insert("ownership".to_owned(), json!("explicit"));
    // Bindings of the seed's webchat routing are ignored by the HTTP
    // endpoint; those naming our agents would only dangle.
    if let Some(Value::Array(bindings)) = root.get_mut("bindings") {
        bindings.retain(|binding| {
            !binding
                .get("agentId")
                .and_then(Value::as_str)
                .is_some_and(is_managed_agent_id)
        });
    }
    Ok(Some(adopted))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inline_entries_and_legacy_list_are_adopted_and_other_keys_kept() {
        let mut config = json!({
            "gateway": { "auth": { "mode": "token" }, "custom": [1, 2] },
            "meta": { "lastTouchedVersion": "2026.9.6" },
            "agents": {
                "defaults": { "sandbox": { "mode": "off" } },
                "entries": { "main": { "workspace": "/w/main" } },
                "list": [{ "id": "agent-00000000-0000-0000-0000-000000000001", "workspace": "/w/1" }]
            },
            "bindings": [
                { "agentId": "agent-00000000-0000-0000-0000-000000000001", "match": { "channel": "webchat" } },
                { "agentId": "main", "match": { "channel": "telegram" } }
            ]
        });
        let adopted = rewrite(&mut config).unwrap().unwrap();
        assert_eq!(adopted.len(), 2);
        assert_eq!(config["agents"]["entries"], include_value());
        assert_eq!(config["agents"]["ownership"], "explicit");
        assert!(config["agents"].get("list").is_none());
        assert_eq!(config["agents"]["defaults"]["sandbox"]["mode"], "off");
        assert_eq!(config["gateway"]["custom"], json!([1, 2]));
        assert_eq!(config["meta"]["lastTouchedVersion"], "2026.9.6");
        assert_eq!(config["bindings"].as_array().unwrap().len(), 1);
        // A second pass changes nothing.
        assert_eq!(rewrite(&mut config).unwrap(), None);
    }

    /// A config as openclaw 2026.9.6 left it after starting (captured).
    #[test]
    fn a_captured_real_config_gets_the_include_and_keeps_everything_else() {
        let captured = include_str!("../tests/fixtures/openclaw-2026.9.6.json");
        let original: Value = serde_json::from_str(captured).unwrap();
        let mut config = original.clone();
        let adopted = rewrite(&mut config).unwrap().unwrap();
        assert!(
            adopted.contains_key("agent-a"),
            "its inline agent is adopted"
        );
        assert_eq!(config["agents"]["entries"], include_value());
        // Every key outside agents.entries is unchanged.
        let (mut before, mut after) = (original, config);
        before["agents"].as_object_mut().unwrap().remove("entries");
        after["agents"].as_object_mut().unwrap().remove("entries");
        assert_eq!(before, after);
    }

    #[test]
    fn a_missing_config_is_left_to_the_gateway() {
        let dir = std::env::temp_dir().join(format!("heyclaw-cfg-{}", uuid::Uuid::new_v4()));
        assert_eq!(include_roster(&dir.join("openclaw.json")).unwrap(), None);
    }
}
