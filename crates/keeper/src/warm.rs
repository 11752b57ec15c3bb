//! Warming the slot agents once their gateway answers.
//!
//! OpenClaw prepares an agent's runtime on that agent's first turn after
//! the gateway starts, on its only event loop: measured on the 2-core
//! development machine, 1.5 s for a slot's first turn (4 s for the
//! gateway's very first), against 0.24 s for a new session on a slot that
//! has served once. Without warming, the first user to land on each slot
//! after a (re)start pays it, and a burst of signups queues behind every
//! cold slot of the gateway. One short turn per idle slot right after the
//! gateway answers moves that cost to start-up — at the price of one model
//! call per idle slot per gateway start (no user's data: an idle slot holds
//! nothing or the templates, and the session is the keeper's own).
//!
//! A released slot keeps the templates rather than nothing: after a gateway
//! restart OpenClaw refuses turns on a workspace it had seen in use and
//! finds empty (`WorkspaceVanishedError`: it will not reseed a recently
//! attested workspace), so an emptied slot could not be warmed.

use std::{path::Path, time::Duration};

use heyclaw_gateway_client::{ChatRequest, GatewayClient, GatewayError};

use crate::marker;

/// How the gateway sessions of warm-up turns start (no user's): each warming
/// opens its own (`heyclaw-warm-up-<unix seconds>`), so no transcript grows
/// over restarts or is carried into the next start.
pub const WARM_UP_SESSION: &str = "heyclaw-warm-up";
/// What a warm-up turn says.
pub const WARM_UP_TEXT: &str = "Warm-up after a restart: reply with OK.";

/// Tries per slot: a gateway that has just started may refuse a first
/// turn or two while it settles.
const ATTEMPTS: u32 = 3;
/// The pause between a slot's tries that the keeper uses.
pub const RETRY_PAUSE: Duration = Duration::from_secs(1);

/// What [`warm_idle_slots`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WarmReport {
    /// Idle slots that took their warm-up turn.
    pub warmed: usize,
    /// Idle slots whose every try failed (logged; their first user pays
    /// instead).
    pub failed: usize,
    /// Slots left alone because a user is in them (their turns warm them).
    pub occupied: usize,
    /// The last error a try met, if any.
    pub last_error: Option<String>,
}

/// Waits up to `ready_within` for the gateway to answer its health probe,
/// then sends one warm-up turn to each of its `slots` that holds no user
/// (per the slot markers in `workspaces_dir`), one at a time so users'
/// turns interleave. A slot is tried up to three times, `retry_pause`
/// apart ([`RETRY_PAUSE`] in the keeper); then it is logged, counted as
/// failed and left cold.
///
/// # Errors
///
/// The last health-probe error when the gateway did not answer in time.
pub async fn warm_idle_slots(
    gateway: &GatewayClient,
    workspaces_dir: &Path,
    slots: u32,
    ready_within: Duration,
    retry_pause: Duration,
) -> Result<WarmReport, GatewayError> {
    let started = tokio::time::Instant::now();
    loop {
        match gateway.health(Duration::from_secs(2)).await {
            Ok(()) => break,
            Err(err) if started.elapsed() >= ready_within => return Err(err),
            Err(_) => tokio::time::sleep(Duration::from_millis(250)).await,
        }
    }
    let session = format!(
        "{WARM_UP_SESSION}-{}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |since| since.as_secs())
    );
    let mut report = WarmReport::default();
    for slot in 0..slots {
        if marker::read(workspaces_dir, slot).is_some() {
            report.occupied += 1;
            continue;
        }
        let agent = format!("slot-{slot}");
        let turn = ChatRequest {
            agent_id: &agent,
            session: &session,
            text: WARM_UP_TEXT,
            history: &[],
        };
        let mut attempt = 1;
        loop {
            match gateway.chat(turn).await {
                Ok(_) => {
                    report.warmed += 1;
                    break;
                }
                Err(err) => {
                    tracing::warn!(slot, attempt, error = %err, "warm-up turn failed");
                    report.last_error = Some(err.to_string());
                    if attempt == ATTEMPTS {
                        report.failed += 1;
                        break;
                    }
                    attempt += 1;
                    tokio::time::sleep(retry_pause).await;
                }
            }
        }
    }
    Ok(report)
}
