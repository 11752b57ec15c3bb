//! OpenClaw's session maintenance, run by the keeper off the turn path.
//!
//! OpenClaw prunes its sessions (entries older than 30 days, more than
//! 5,000 per agent, a disk budget) as *session maintenance*. In its default
//! mode it plans that after session writes, in a new worker thread; with
//! turns running at once the plans went stale before they committed and were
//! planned again in yet another worker. That was half of a new session's
//! gateway CPU (`cargo xtask bench first-turns`, 16 slots: 0.41 CPU-s per
//! first turn with it, 0.21 without; docs/gateway-scale.md §6). The base
//! config therefore sets `session.maintenance.mode: "warn"` (no maintenance
//! on writes) and the keeper applies the same rules every
//! `KEEPER_SESSION_CLEANUP_INTERVAL` with `openclaw sessions cleanup
//! --all-agents --enforce`, which hands the work to the running gateway
//! (its `sessions.cleanup` method), so nothing of a slot grows for ever.

use std::{path::Path, process::Stdio, time::Duration};

use serde_json::Value;

/// What one cleanup reported.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CleanupReport {
    /// Agent session stores maintained.
    pub stores: usize,
    /// Session entries they hold afterwards.
    pub entries: u64,
}

/// Why a cleanup did not complete.
#[derive(Debug, thiserror::Error)]
pub enum CleanupError {
    /// The command could not be started (not installed, not on `PATH`).
    #[error("cannot run openclaw: {0}")]
    Spawn(#[from] std::io::Error),
    /// It ran longer than allowed and was killed.
    #[error("openclaw sessions cleanup did not finish within {0:?}")]
    Timeout(Duration),
    /// It exited with a failure.
    #[error("openclaw sessions cleanup failed ({status}): {output}")]
    Failed {
        /// How it exited.
        status: String,
        /// The end of what it printed.
        output: String,
    },
}

/// Runs `openclaw sessions cleanup --all-agents --enforce --json` with the
/// gateway's config (`config_path`) and token, waits at most `timeout`, and
/// reads what it applied. `openclaw` is the command to run (its program and
/// environment, e.g. `PATH` for its Node); the cleanup runs in the gateway
/// it reaches through the config, or on the stores directly when no gateway
/// answers.
///
/// # Errors
///
/// [`CleanupError`] when the command cannot start, takes longer than
/// `timeout` (it is killed) or fails; its output is in the error.
pub async fn clean_up_sessions(
    openclaw: std::process::Command,
    config_path: &Path,
    gateway_token: &str,
    timeout: Duration,
) -> Result<CleanupReport, CleanupError> {
    let mut command = tokio::process::Command::from(openclaw);
    command
        .args(["sessions", "cleanup", "--all-agents", "--enforce", "--json"])
        .env("OPENCLAW_CONFIG_PATH", config_path)
        .env("OPENCLAW_GATEWAY_TOKEN", gateway_token)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let output = tokio::time::timeout(timeout, command.output())
        .await
        .map_err(|_| CleanupError::Timeout(timeout))??;
    let stdout = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        return Err(CleanupError::Failed {
            status: output.status.to_string(),
            output: tail(&format!("{stdout}\n{stderr}"), 2000),
        });
    }
    Ok(report(&stdout))
}

/// The stores and entries in the command's JSON (one summary, or `stores`
/// with one per agent); nothing counted when it printed something else.
fn report(stdout: &str) -> CleanupReport {
    let Some(json) = stdout
        .find('{')
        .and_then(|start| serde_json::from_str::<Value>(stdout[start..].trim()).ok())
    else {
        return CleanupReport::default();
    };
    let summaries = match json.get("stores").and_then(Value::as_array) {
        Some(stores) => stores.as_slice(),
        None => std::slice::from_ref(&json),
    };
    CleanupReport {
        stores: summaries.len(),
        entries: summaries
            .iter()
            .filter_map(|summary| summary.get("appliedCount").and_then(Value::as_u64))
            .sum(),
    }
}

/// The last `max` bytes of `text` (at a character boundary).
fn tail(text: &str, max: usize) -> String {
    let text = text.trim();
    let mut start = text.len().saturating_sub(max);
    while !text.is_char_boundary(start) {
        start += 1;
    }
    text[start..].to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_the_stores_and_entries_the_command_printed() {
        let printed = r#"{"allAgents": true, "mode": "enforce", "stores": [
            {"agentId": "slot-0", "appliedCount": 3},
            {"agentId": "slot-1", "appliedCount": 0}
        ]}"#;
        assert_eq!(
            report(printed),
            CleanupReport {
                stores: 2,
                entries: 3
            }
        );
        let one = r#"{"agentId": "slot-0", "appliedCount": 7}"#;
        assert_eq!(
            report(one),
            CleanupReport {
                stores: 1,
                entries: 7
            }
        );
        assert_eq!(report("no JSON here"), CleanupReport::default());
    }

    #[test]
    fn keeps_the_end_of_long_output_on_a_character_boundary() {
        let text = format!("{}é-end", "x".repeat(10));
        assert_eq!(tail(&text, 5), "-end");
        assert_eq!(tail("short", 100), "short");
    }

    /// A cleanup by `openclaw` as the shell script `script` (or, with
    /// `None`, by a command that does not exist), allowed `timeout`.
    async fn cleanup_by(
        script: Option<&str>,
        timeout: Duration,
    ) -> Result<CleanupReport, CleanupError> {
        let command = match script {
            Some(script) => {
                let mut sh = std::process::Command::new("sh");
                sh.args(["-c", script, "openclaw"]);
                sh
            }
            None => std::process::Command::new("/nonexistent/openclaw"),
        };
        clean_up_sessions(
            command,
            Path::new("/nonexistent/openclaw.json"),
            "token",
            timeout,
        )
        .await
    }

    #[tokio::test]
    async fn a_missing_failing_or_hanging_command_is_an_error() {
        let missing = cleanup_by(None, Duration::from_secs(5)).await;
        assert!(
            matches!(missing, Err(CleanupError::Spawn(_))),
            "{missing:?}"
        );
        match cleanup_by(Some("echo refused >&2; exit 3"), Duration::from_secs(5)).await {
            Err(CleanupError::Failed { output, .. }) => assert!(output.contains("refused")),
            other => panic!("expected a failure, got {other:?}"),
        }
        let hung = cleanup_by(Some("exec sleep 30"), Duration::from_millis(200)).await;
        assert!(matches!(hung, Err(CleanupError::Timeout(_))), "{hung:?}");
        let ok = cleanup_by(
            Some(r#"echo '{"stores": [{"appliedCount": 2}]}'"#),
            Duration::from_secs(5),
        )
        .await;
        assert_eq!(
            ok.unwrap(),
            CleanupReport {
                stores: 1,
                entries: 2
            }
        );
    }
}
