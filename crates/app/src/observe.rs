//! Figures the use cases record (the `metrics` facade; the binary installs
//! the Prometheus exporter). Names start with `heyclaw_`.
//!
//! Besides the speech calls below, [`crate::agents`] records
//! `heyclaw_gateway_call_seconds`, `heyclaw_gateway_errors_total`,
//! `heyclaw_agent_wake_seconds` and `heyclaw_agent_wake_refused_total` (per
//! shard), and [`crate::quota`] `heyclaw_quota_refusals_total` (per meter).

use std::{future::Future, time::Instant};

/// Runs a speech provider call (`kind`: `tts` or `stt`) and records its
/// latency and outcome: `heyclaw_speech_seconds{kind, outcome}` (`ok` or
/// `error`) and, on failure, `heyclaw_speech_errors_total{kind}`. Returns
/// the call's result unchanged; dropping the future drops the call (and
/// records nothing).
pub async fn speech_call<T, E>(
    kind: &'static str,
    call: impl Future<Output = Result<T, E>>,
) -> Result<T, E> {
    let started = Instant::now();
    let result = call.await;
    let outcome = if result.is_ok() { "ok" } else { "error" };
    metrics::histogram!("heyclaw_speech_seconds", "kind" => kind, "outcome" => outcome)
        .record(started.elapsed().as_secs_f64());
    if result.is_err() {
        metrics::counter!("heyclaw_speech_errors_total", "kind" => kind).increment(1);
    }
    result
}
