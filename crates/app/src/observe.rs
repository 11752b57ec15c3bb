//! Figures the use cases record (the `metrics` facade; the binary installs
//! the Prometheus exporter). Names start with `heyclaw_`.

use std::{future::Future, time::Instant};

/// Runs a speech provider call (`kind`: `tts` or `stt`) and records its
/// latency and outcome.
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
