//! How the gateway learns about roster changes. OpenClaw watches its config
//! (and included files) and hot-applies `agents` changes, so the default is
//! to do nothing. The restart strategy is an opt-in fallback for gateways
//! that do not hot-reload: it restarts the container through the Docker API,
//! debounced so a burst of signups causes one restart.

use std::{future::Future, pin::Pin, sync::Arc, time::Duration};

use tokio::sync::mpsc;

#[derive(Clone)]
pub enum Reload {
    /// The gateway applies roster changes itself (`gateway.reload.mode: hybrid`).
    Hot,
    Restart(ContainerRestarter),
}

impl Reload {
    /// Called after every roster write.
    pub fn after_roster_change(&self) {
        if let Reload::Restart(restarter) = self {
            restarter.request();
        }
    }
}

type RestartAction =
    Arc<dyn Fn() -> Pin<Box<dyn Future<Output = Result<(), String>> + Send>> + Send + Sync>;

/// Restarts once the roster has been quiet for `debounce`.
#[derive(Clone)]
pub struct ContainerRestarter {
    requests: mpsc::UnboundedSender<()>,
}

impl ContainerRestarter {
    /// Restarts the Docker container `name` (via the local Docker socket).
    pub fn docker(name: String, debounce: Duration) -> Result<Self, String> {
        let docker =
            bollard::Docker::connect_with_local_defaults().map_err(|err| err.to_string())?;
        let action: RestartAction = Arc::new(move || {
            let docker = docker.clone();
            let name = name.clone();
            Box::pin(async move {
                docker
                    .restart_container(&name, None)
                    .await
                    .map_err(|err| format!("restarting container {name}: {err}"))
            })
        });
        Ok(Self::with_action(action, debounce))
    }

    /// Runs `action` for each quiet period after one or more requests.
    pub fn with_action(action: RestartAction, debounce: Duration) -> Self {
        let (requests, mut queue) = mpsc::unbounded_channel::<()>();
        tokio::spawn(async move {
            while queue.recv().await.is_some() {
                // Wait until no request has come for a whole debounce period.
                loop {
                    tokio::time::sleep(debounce).await;
                    let mut more = false;
                    while queue.try_recv().is_ok() {
                        more = true;
                    }
                    if !more {
                        break;
                    }
                }
                match action().await {
                    Ok(()) => tracing::info!("gateway restarted to apply roster changes"),
                    Err(err) => tracing::error!(error = %err, "gateway restart failed"),
                }
            }
        });
        Self { requests }
    }

    pub fn request(&self) {
        let _ = self.requests.send(());
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    // Paused time: the sleeps below advance a virtual clock, so the test
    // checks the debounce logic without waiting on the wall clock.
    #[tokio::test(start_paused = true)]
    async fn a_burst_of_changes_causes_one_restart() {
        let restarts = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&restarts);
        let action: RestartAction = Arc::new(move || {
            let counter = Arc::clone(&counter);
            Box::pin(async move {
                counter.fetch_add(1, Ordering::SeqCst);
                Ok(())
            })
        });
        let restarter = ContainerRestarter::with_action(action, Duration::from_millis(100));
        for _ in 0..20 {
            restarter.request();
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        tokio::time::sleep(Duration::from_millis(400)).await;
        assert_eq!(restarts.load(Ordering::SeqCst), 1);
        restarter.request();
        tokio::time::sleep(Duration::from_millis(400)).await;
        assert_eq!(
            restarts.load(Ordering::SeqCst),
            2,
            "a later change restarts again"
        );
    }
}
