//! The gateway's base configuration — the one source of truth for it. The
//! keeper (`heyclaw-keeper init`, in the gateway container's entrypoint),
//! `cargo xtask gateway` and the tests all write it, only when the file is
//! missing (as in the seed), so an operator's later edits are never
//! overwritten.
//!
//! What it sets, and why, is on [`base_config`].

use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use crate::{
    ProvisioningError, ROSTER_FILE_NAME, atomic, include_roster, tool_policy, write_roster,
};

/// The one agent that is always in the roster: OpenClaw rejects an explicit
/// roster with no agents. It is never called; it carries the heartbeat
/// declaration (see [`base_config`]) and the same locked-down tool policy.
pub const RESERVED_AGENT_ID: &str = "heyclaw-reserved";

/// What differs between one gateway's base config and another's.
#[derive(Debug, Clone)]
pub struct GatewayConfigOptions {
    /// The port the gateway listens on (OpenClaw's default is `18789`).
    pub port: u16,
    /// `loopback` (local runs) or `lan` (containers).
    pub bind: String,
    /// The OpenAI-compatible endpoint the model calls go to, e.g.
    /// `https://api.openai.com/v1`.
    pub model_base_url: String,
    /// Where the gateway writes its log (instead of a shared /tmp file).
    pub log_file: Option<PathBuf>,
    /// HeyClaw's OpenClaw plugin (`infrastructure/openclaw-plugin`; in the
    /// gateway image `/app/openclaw-plugin`): it leaves out of each turn's
    /// system prompt what a phone chat never uses (~15 KB → ~9 KB of model
    /// input for a one-line message). `None`: OpenClaw's whole prompt.
    pub prompt_plugin_dir: Option<PathBuf>,
}

/// The gateway's base config (`openclaw.json`) as JSON. Pure: it writes
/// nothing (see [`prepare_gateway`]).
///
/// What it sets, and why (docs/gateway-scale.md has the measurements):
/// token auth from the environment, the chat-completions endpoint, hybrid
/// hot reload, sandbox off (no Docker inside the gateway), an explicit agent
/// roster included from the keeper's own file, the `openai-custom/gpt-5-nano`
/// model, and every switch that would reach the internet or start work of
/// its own turned off (update check, telemetry, model catalog refresh, mDNS,
/// autonomous skill reviews, heartbeats). Beyond that it keeps each agent
/// and each turn cheap:
/// - the tool policy once, for every agent (`tools`), not per entry;
/// - only the `openai` plugin and HeyClaw's own (`heyclaw-prompt`, when
///   [`GatewayConfigOptions::prompt_plugin_dir`] is set), and no memory
///   plugin (its embeddings would send user text to api.openai.com on every
///   session change);
/// - no skills list and no deferred tool catalog in the prompt;
/// - session maintenance (pruning old sessions) in `warn` mode, so it is
///   not planned in a new worker after every session write (half of a new
///   session's gateway CPU); the keeper applies it periodically instead
///   (`heyclaw_keeper::sessions`);
/// - `cron.enabled: true`: with cron off, OpenClaw re-reads its whole job
///   store for every job it reconciles on a roster change (O(agents²));
///   every system job stays disabled, and tenants never reach cron (the
///   tool policy denies it);
/// - a heartbeat declared on the reserved agent only, so one heartbeat job
///   exists instead of one per agent (and none of them runs: `0m`).
///
/// No secret is baked in: the gateway token and the model's API key are the
/// placeholders `${OPENCLAW_GATEWAY_TOKEN}` and `${OPENAI_API_KEY}`, which
/// the gateway fills from its environment. The agents are not in it either:
/// `agents.entries` includes the roster file ([`ROSTER_FILE_NAME`]).
///
/// ```
/// use heyclaw_agent_provisioning::{GatewayConfigOptions, base_config};
///
/// let config = base_config(&GatewayConfigOptions {
///     port: 18789,
///     bind: "loopback".into(),
///     model_base_url: "https://api.openai.com/v1".into(),
///     log_file: None,
///     prompt_plugin_dir: None,
/// });
/// assert_eq!(config["gateway"]["port"], 18789);
/// assert_eq!(config["agents"]["entries"]["$include"], "./heyclaw-agents.json");
/// ```
pub fn base_config(options: &GatewayConfigOptions) -> Value {
    let mut tools = tool_policy();
    tools["toolSearch"] = json!(false);
    let mut config = json!({
        "gateway": {
            "mode": "local",
            "bind": options.bind,
            "port": options.port,
            "auth": { "mode": "token", "token": "${OPENCLAW_GATEWAY_TOKEN}" },
            "http": { "endpoints": { "chatCompletions": { "enabled": true } } },
            "reload": { "mode": "hybrid" }
        },
        "agents": {
            "ownership": "explicit",
            "defaults": {
                "sandbox": { "mode": "off" },
                "model": { "primary": "openai-custom/gpt-5-nano" },
                // Workspaces are made from HeyClaw's templates; the gateway's
                // own bootstrap files would only add first-turn work.
                "skipBootstrap": true,
                "skills": []
            },
            "entries": { "$include": format!("./{ROSTER_FILE_NAME}") }
        },
        "tools": tools,
        "plugins": { "allow": ["openai"], "slots": { "memory": "none" } },
        "models": {
            "mode": "merge",
            "catalogRefresh": { "enabled": false },
            "providers": {
                "openai-custom": {
                    "api": "openai-completions",
                    "baseUrl": options.model_base_url,
                    "apiKey": "${OPENAI_API_KEY}",
                    "models": [{
                        "id": "gpt-5-nano",
                        "name": "gpt-5-nano",
                        "reasoning": false,
                        "input": ["text"],
                        "contextWindow": 128000,
                        "maxTokens": 4096
                    }]
                }
            }
        },
        "update": { "checkOnStart": false },
        "telemetry": { "enabled": false },
        "discovery": { "mdns": { "mode": "off" } },
        "cron": { "enabled": true },
        "skills": { "workshop": { "autonomous": { "mode": "off" } } },
        // Not after every session write: the keeper applies the same rules
        // periodically (`heyclaw_keeper::sessions`).
        "session": { "maintenance": { "mode": "warn" } }
    });
    if let Some(log_file) = &options.log_file {
        config["logging"] = json!({ "file": log_file.to_string_lossy() });
    }
    if let Some(plugin_dir) = &options.prompt_plugin_dir {
        config["plugins"]["allow"] = json!(["openai", PROMPT_PLUGIN_ID]);
        config["plugins"]["load"] = json!({ "paths": [plugin_dir.to_string_lossy()] });
    }
    config
}

/// The id of HeyClaw's OpenClaw plugin (its `openclaw.plugin.json`).
pub const PROMPT_PLUGIN_ID: &str = "heyclaw-prompt";

/// The reserved roster entry (see [`RESERVED_AGENT_ID`]); its workspace is
/// `<gateway_workspaces_dir>/heyclaw-reserved`.
pub fn reserved_entry(gateway_workspaces_dir: &Path) -> Value {
    json!({
        "name": "HeyClaw (reserved)",
        "workspace": gateway_workspaces_dir.join(RESERVED_AGENT_ID).to_string_lossy(),
        "heartbeat": { "every": "0m" },
        "tools": tool_policy()
    })
}

/// Writes the base config if it is missing; if it is there, makes it
/// include the roster (adopting agents inline in it). Then makes the roster
/// hold the reserved agent and `slots` slot agents. Returns whether the
/// config was written.
///
/// The config and the roster ([`ROSTER_FILE_NAME`], beside the config) are
/// written atomically; an existing config is never replaced, so an
/// operator's edits stay (but see [`include_roster`] for the one rewrite).
/// `gateway_workspaces_dir` is where the *gateway* finds the workspaces,
/// which may differ from this process's view of the same volume. Blocking
/// file I/O: run it off an async runtime's worker threads.
///
/// # Errors
/// [`ProvisioningError::Io`] when a file cannot be read, written or locked;
/// [`ProvisioningError::Parse`] or [`ProvisioningError::Shape`] for an
/// existing config or roster that cannot be read as one.
pub fn prepare_gateway(
    config_path: &Path,
    options: &GatewayConfigOptions,
    gateway_workspaces_dir: &Path,
    slots: u32,
) -> Result<bool, ProvisioningError> {
    let written = if config_path.exists() {
        false
    } else {
        atomic::write_file(config_path, &pretty(&base_config(options)))?;
        true
    };
    let adopted = include_roster(config_path)?.unwrap_or_default();
    write_roster(
        &config_path.with_file_name(ROSTER_FILE_NAME),
        gateway_workspaces_dir,
        slots,
        adopted,
    )?;
    Ok(written)
}

fn pretty(value: &Value) -> Vec<u8> {
    let mut bytes = serde_json::to_vec_pretty(value).unwrap_or_default();
    bytes.push(b'\n');
    bytes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_config_has_what_the_api_relies_on() {
        let config = base_config(&GatewayConfigOptions {
            port: 18789,
            bind: "lan".into(),
            model_base_url: "http://dev-model:18790/v1".into(),
            log_file: None,
            prompt_plugin_dir: None,
        });
        assert_eq!(
            config["gateway"]["http"]["endpoints"]["chatCompletions"]["enabled"],
            true
        );
        assert_eq!(config["gateway"]["auth"]["mode"], "token");
        assert_eq!(config["agents"]["defaults"]["sandbox"]["mode"], "off");
        assert_eq!(config["agents"]["ownership"], "explicit");
        assert_eq!(
            config["agents"]["entries"]["$include"],
            "./heyclaw-agents.json"
        );
        assert_eq!(
            config["tools"]["allow"],
            json!(["read", "write", "edit", "ls"])
        );
        assert_eq!(config["tools"]["fs"]["workspaceOnly"], true);
        assert_eq!(config["plugins"]["slots"]["memory"], "none");
        assert!(
            config["agents"]["defaults"].get("heartbeat").is_none(),
            "a default heartbeat enrols every agent"
        );
        assert_eq!(config["models"]["catalogRefresh"]["enabled"], false);
        assert_eq!(config["update"]["checkOnStart"], false);
        assert_eq!(config["telemetry"]["enabled"], false);
        assert_eq!(config["discovery"]["mdns"]["mode"], "off");
        assert_eq!(
            config["session"]["maintenance"]["mode"], "warn",
            "maintenance is the keeper's, off the turn path"
        );
        assert!(!config.to_string().contains("sk-"), "no key is baked in");
    }

    #[test]
    fn prepares_only_what_is_missing() {
        let dir = std::env::temp_dir().join(format!("heyclaw-base-{}", uuid::Uuid::new_v4()));
        let config = dir.join("openclaw.json");
        let options = GatewayConfigOptions {
            port: 1,
            bind: "loopback".into(),
            model_base_url: "http://127.0.0.1:2/v1".into(),
            log_file: None,
            prompt_plugin_dir: None,
        };
        assert!(prepare_gateway(&config, &options, Path::new("/ws"), 2).unwrap());
        let edited = r#"{ edited: true, agents: { ownership: "explicit", entries: { "$include": "./heyclaw-agents.json" } } }"#;
        std::fs::write(&config, edited).unwrap();
        std::fs::write(dir.join(ROSTER_FILE_NAME), "{}").unwrap();
        assert!(!prepare_gateway(&config, &options, Path::new("/ws"), 2).unwrap());
        assert_eq!(std::fs::read_to_string(&config).unwrap(), edited);
        let roster: Value =
            serde_json::from_str(&std::fs::read_to_string(dir.join(ROSTER_FILE_NAME)).unwrap())
                .unwrap();
        assert_eq!(
            roster[RESERVED_AGENT_ID]["workspace"],
            "/ws/heyclaw-reserved"
        );
        assert_eq!(roster["slot-1"]["workspace"], "/ws/slot-1");
        let _ = std::fs::remove_dir_all(dir);
    }
}
