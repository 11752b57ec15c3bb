//! The roster writer: one task per process applies roster changes in
//! batches. Changes that arrive while a write is in progress are applied
//! together in the next write, so a burst of signups causes a handful of
//! file writes, not one each. Each write holds an exclusive file lock, reads
//! the current file, applies the batch and replaces the file atomically —
//! so writers in other processes (API replicas, `cargo xtask reconcile`)
//! never lose each other's changes.

use std::{
    path::{Path, PathBuf},
    sync::Arc,
};

use heyclaw_domain::AgentId;
use serde_json::{Map, Value};
use tokio::sync::{mpsc, oneshot};

use crate::{AgentEntry, ProvisioningError, Roster, atomic};

#[derive(Debug, Clone)]
pub enum RosterChange {
    Upsert(AgentEntry),
    Remove(AgentId),
    /// Make the managed entries exactly these (reconcile).
    ReplaceManaged(Vec<AgentEntry>),
    /// Add entries that are not there yet (found inline in openclaw.json).
    Adopt(Map<String, Value>),
}

struct Job {
    changes: Vec<RosterChange>,
    done: oneshot::Sender<Result<(), String>>,
}

#[derive(Clone)]
pub struct RosterWriter {
    jobs: mpsc::UnboundedSender<Job>,
    path: Arc<PathBuf>,
}

impl RosterWriter {
    /// Starts the writer task on the current tokio runtime. `always` are
    /// entries every write makes sure are present (the reserved agent).
    /// `min_interval` spaces writes out: the gateway takes about a second to
    /// apply a roster change, and a change landing while it applies the
    /// previous one supersedes it (seen with openclaw 2026.9.6, which then
    /// stopped noticing later changes). Changes arriving in the meantime are
    /// batched into the next write.
    pub fn start(
        roster_path: PathBuf,
        always: Map<String, Value>,
        min_interval: std::time::Duration,
    ) -> Self {
        let (jobs, mut queue) = mpsc::unbounded_channel::<Job>();
        let path = Arc::new(roster_path);
        let task_path = Arc::clone(&path);
        tokio::spawn(async move {
            while let Some(first) = queue.recv().await {
                let mut batch = vec![first];
                while let Ok(job) = queue.try_recv() {
                    batch.push(job);
                }
                let mut changes: Vec<RosterChange> =
                    batch.iter().flat_map(|job| job.changes.clone()).collect();
                if !always.is_empty() {
                    changes.push(RosterChange::Adopt(always.clone()));
                }
                let path = Arc::clone(&task_path);
                let started = std::time::Instant::now();
                let result = tokio::task::spawn_blocking(move || write_batch(&path, &changes))
                    .await
                    .map_err(|err| err.to_string())
                    .and_then(|result| result.map_err(|err| err.to_string()));
                metrics::histogram!("heyclaw_roster_write_seconds")
                    .record(started.elapsed().as_secs_f64());
                if let Err(err) = &result {
                    tracing::error!(error = %err, jobs = batch.len(), "roster write failed");
                }
                for job in batch {
                    let _ = job.done.send(result.clone());
                }
                tokio::time::sleep(min_interval).await;
            }
        });
        Self { jobs, path }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Applies `changes` (batched with concurrent callers' changes) and
    /// returns once they are on disk.
    pub async fn apply(&self, changes: Vec<RosterChange>) -> Result<(), ProvisioningError> {
        let (done, wait) = oneshot::channel();
        self.jobs
            .send(Job { changes, done })
            .map_err(|_| ProvisioningError::WriterStopped)?;
        wait.await
            .map_err(|_| ProvisioningError::WriterStopped)?
            .map_err(|message| ProvisioningError::Shape {
                path: self.path.to_path_buf(),
                message,
            })
    }

    /// The roster as it is on disk now.
    pub async fn read(&self) -> Result<Roster, ProvisioningError> {
        let path = Arc::clone(&self.path);
        tokio::task::spawn_blocking(move || read_roster(&path))
            .await
            .map_err(|err| {
                ProvisioningError::io("reading", self.path.to_path_buf())(std::io::Error::other(
                    err,
                ))
            })?
    }
}

fn lock_path(roster: &Path) -> PathBuf {
    let name = roster
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    roster.with_file_name(format!(".{name}.lock"))
}

fn read_roster(path: &Path) -> Result<Roster, ProvisioningError> {
    match std::fs::read_to_string(path) {
        Ok(text) => Roster::parse(path, &text),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(Roster::default()),
        Err(err) => Err(ProvisioningError::io("reading", path)(err)),
    }
}

pub(crate) fn write_batch(path: &Path, changes: &[RosterChange]) -> Result<(), ProvisioningError> {
    let _lock = atomic::lock(&lock_path(path))?;
    let mut roster = read_roster(path)?;
    let before = roster.clone();
    for change in changes {
        match change {
            RosterChange::Upsert(entry) => roster.upsert(entry),
            RosterChange::Remove(id) => {
                roster.remove(id.as_str());
            }
            RosterChange::ReplaceManaged(entries) => roster.replace_managed(entries),
            RosterChange::Adopt(entries) => roster.adopt(entries.clone()),
        }
    }
    if roster != before || !path.exists() {
        atomic::write_file(path, &roster.to_json())?;
        tracing::debug!(
            entries = roster.len(),
            changes = changes.len(),
            "roster written"
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use heyclaw_domain::UserId;

    use super::*;

    fn entry() -> AgentEntry {
        let id = AgentId::for_user(UserId(uuid::Uuid::new_v4()));
        AgentEntry {
            workspace: format!("/ws/{id}"),
            id,
            name: "A".into(),
            model: "openai-custom/gpt-5-nano".into(),
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn a_hundred_concurrent_upserts_all_land() {
        let dir = std::env::temp_dir().join(format!("heyclaw-roster-{}", uuid::Uuid::new_v4()));
        let writer = RosterWriter::start(
            dir.join("heyclaw-agents.json"),
            Map::new(),
            std::time::Duration::ZERO,
        );
        let entries: Vec<AgentEntry> = (0..100).map(|_| entry()).collect();
        let tasks: Vec<_> = entries
            .iter()
            .cloned()
            .map(|e| {
                let writer = writer.clone();
                tokio::spawn(async move { writer.apply(vec![RosterChange::Upsert(e)]).await })
            })
            .collect();
        for task in tasks {
            task.await.unwrap().unwrap();
        }
        let roster = writer.read().await.unwrap();
        assert_eq!(roster.len(), 100);
        for e in &entries {
            assert!(roster.contains(e.id.as_str()));
        }
        let _ = std::fs::remove_dir_all(dir);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn two_writers_on_one_file_lose_nothing() {
        // Two writers stand for two processes: each re-reads under the lock.
        let dir = std::env::temp_dir().join(format!("heyclaw-roster-{}", uuid::Uuid::new_v4()));
        let path = dir.join("heyclaw-agents.json");
        let (a, b) = (
            RosterWriter::start(path.clone(), Map::new(), std::time::Duration::ZERO),
            RosterWriter::start(path.clone(), Map::new(), std::time::Duration::ZERO),
        );
        let entries: Vec<AgentEntry> = (0..40).map(|_| entry()).collect();
        let tasks: Vec<_> = entries
            .iter()
            .cloned()
            .enumerate()
            .map(|(i, e)| {
                let writer = if i % 2 == 0 { a.clone() } else { b.clone() };
                tokio::spawn(async move { writer.apply(vec![RosterChange::Upsert(e)]).await })
            })
            .collect();
        for task in tasks {
            task.await.unwrap().unwrap();
        }
        assert_eq!(a.read().await.unwrap().len(), 40);
        let removed = entries[0].id.clone();
        b.apply(vec![RosterChange::Remove(removed.clone())])
            .await
            .unwrap();
        let roster = a.read().await.unwrap();
        assert_eq!(roster.len(), 39);
        assert!(!roster.contains(removed.as_str()));
        let _ = std::fs::remove_dir_all(dir);
    }
}
