//! Prometheus metrics: the exporter (installed once per process — tests
//! start many servers in one) and the gauges sampled from the database.

use std::{sync::OnceLock, time::Duration};

use heyclaw_persistence::{PgPool, queries::assistants};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// The process's recorder, installed on first use (`None` if another
/// recorder was installed first).
pub fn handle() -> Option<PrometheusHandle> {
    HANDLE
        .get_or_init(|| match PrometheusBuilder::new().install_recorder() {
            Ok(handle) => Some(handle),
            Err(err) => {
                tracing::warn!(error = %err, "metrics recorder not installed");
                None
            }
        })
        .clone()
}

/// Samples, every `every`: agents per shard and state, and the database
/// pool's size, idle connections and waiters.
pub fn spawn_gauges(pg: PgPool, every: Duration) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            let status = pg.status();
            metrics::gauge!("heyclaw_db_pool_connections").set(status.size as f64);
            metrics::gauge!("heyclaw_db_pool_idle").set(status.available as f64);
            metrics::gauge!("heyclaw_db_pool_waiting").set(status.waiting as f64);
            match pg.get().await {
                Ok(mut conn) => match assistants::counts_by_shard(&mut conn).await {
                    Ok(counts) => {
                        for (shard, state, count) in counts {
                            metrics::gauge!("heyclaw_agents", "shard" => shard, "state" => state)
                                .set(count as f64);
                        }
                    }
                    Err(err) => tracing::debug!(error = %err, "agent counts not sampled"),
                },
                Err(err) => tracing::debug!(error = %err, "agent counts not sampled"),
            }
            tokio::time::sleep(every).await;
        }
    })
}
