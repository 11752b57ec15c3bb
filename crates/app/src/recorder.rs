//! Write-behind recording of answered turns, with group commit.
//!
//! Recording a turn (usage counters, the assistant's count, two chat
//! messages) costs several statements; doing it on the request path made the
//! database the message path's bottleneck. The reply does not depend on it —
//! the quota is enforced from Redis before the gateway is called — so turns
//! are queued and one task writes whatever has queued up in one transaction,
//! after gathering for 20 ms from the first. Under load that is a few
//! dozen transactions a second instead of one per message, each a fixed
//! handful of statements.
//!
//! Ordering: one queue, one writer, so a user's turns are written in the
//! order they were answered. On shutdown the queue is drained
//! ([`RecorderTask::finish`]); only a hard crash can lose the turns queued
//! in the last moment (their quota units stay counted in Redis).

use std::time::Duration;

use heyclaw_persistence::{
    PgPool,
    queries::{
        chat::NEW_SESSION_TITLE,
        turns::{self, TurnRecord},
    },
};
use tokio::{sync::mpsc, task::JoinHandle};

/// The most turns written in one transaction.
const MAX_BATCH: usize = 1000;
/// How long the writer gathers turns after the first one before it writes
/// them. A batch costs a fixed handful of statements however many turns it
/// holds, so fewer, fuller batches cost the database less per turn: at
/// 2,000 turns a second, writing whatever had queued made ~190 batches a
/// second of ~10 turns; gathering caps it at ~50.
const GATHER: Duration = Duration::from_millis(20);
/// The longest wait between two tries while the database is unreachable.
const UNAVAILABLE_BACKOFF_MAX: Duration = Duration::from_secs(2);

/// The queue of answered turns to record. Cheap to clone; every clone feeds
/// the one writer task. Made by [`TurnRecorder::start`].
#[derive(Clone)]
pub struct TurnRecorder {
    queue: mpsc::UnboundedSender<TurnRecord>,
}

/// The writer task; await [`RecorderTask::finish`] after the last sender
/// (the server's handlers) is gone, to flush what is queued.
pub struct RecorderTask {
    task: JoinHandle<()>,
}

impl TurnRecorder {
    /// Spawns the writer task (on the current Tokio runtime) and returns
    /// the queue and the task. The task ends once every [`TurnRecorder`]
    /// clone is dropped and the queue is written; await
    /// [`RecorderTask::finish`] to wait for that.
    ///
    /// Each batch is up to 1000 turns in one transaction. While Postgres is
    /// unreachable a batch waits and is retried (backoff up to 2 s), never
    /// dropped; if it fails for another reason its turns are retried one by
    /// one, and a turn that still fails (say, its user was deleted
    /// meanwhile) is logged and dropped.
    pub fn start(pg: PgPool) -> (Self, RecorderTask) {
        let (queue, mut pending) = mpsc::unbounded_channel::<TurnRecord>();
        let task = tokio::spawn(async move {
            let mut batch = Vec::with_capacity(64);
            while pending.recv_many(&mut batch, MAX_BATCH).await > 0 {
                // Sleep through the window rather than wait on the queue:
                // a turn queued meanwhile then wakes nobody.
                tokio::time::sleep(GATHER).await;
                while batch.len() < MAX_BATCH
                    && let Ok(record) = pending.try_recv()
                {
                    batch.push(record);
                }
                write(&pg, &batch).await;
                batch.clear();
            }
        });
        (Self { queue }, RecorderTask { task })
    }

    /// Queues a turn; returns at once (the queue is unbounded). If the
    /// writer has stopped, the turn is logged as lost — never an error for
    /// the caller, whose reply does not depend on it.
    pub fn record(&self, record: TurnRecord) {
        if self.queue.send(record).is_err() {
            tracing::error!("turn recorder has stopped; a turn was not recorded");
        }
    }
}

/// The assistant's message count as its user must see it — their own
/// writes included — although answered turns reach Postgres a moment late.
/// Redis's counter of today's text messages is never behind; the part of it
/// Postgres has not recorded yet is added to the recorded total.
/// `recorded_today` must come from the same snapshot as `recorded_total`
/// (see `assistants::for_user_with_day`), or a batch landing between the two
/// reads would be counted twice. Turns still in flight count already.
///
/// `live_today` is `None` when Redis has no counter for today; a counter
/// behind Postgres (re-seeded) adds nothing.
///
/// ```
/// use heyclaw_app::recorder::message_count_with_unrecorded as count;
///
/// assert_eq!(count(10, 2, Some(5)), 13); // three answered, not recorded yet
/// assert_eq!(count(10, 5, Some(5)), 10); // all recorded
/// assert_eq!(count(10, 5, None), 10); // Redis lost its counter
/// ```
pub fn message_count_with_unrecorded(
    recorded_total: i64,
    recorded_today: i32,
    live_today: Option<u64>,
) -> i64 {
    let live_today = live_today.map_or(0, |live| i64::try_from(live).unwrap_or(i64::MAX));
    let unrecorded = live_today.saturating_sub(i64::from(recorded_today)).max(0);
    recorded_total.saturating_add(unrecorded)
}

impl RecorderTask {
    /// Waits (up to `timeout`) for the queue to be drained and closed. Call
    /// it after the last [`TurnRecorder`] is dropped (the server has
    /// stopped); while one lives the queue stays open and this waits the
    /// whole `timeout`. What is still queued at the timeout is lost (logged).
    pub async fn finish(self, timeout: Duration) {
        if tokio::time::timeout(timeout, self.task).await.is_err() {
            tracing::error!("turn recorder did not drain in time; queued turns were dropped");
        }
    }
}

/// Writes a batch; while the database is unreachable it waits and tries
/// again (answered turns are not dropped because Postgres restarted), up to
/// [`UNAVAILABLE_BACKOFF_MAX`] between tries.
async fn write(pg: &PgPool, batch: &[TurnRecord]) {
    let mut wait = Duration::from_millis(50);
    let result = loop {
        let attempt = async {
            let mut conn = pg
                .get()
                .await
                .map_err(heyclaw_persistence::PersistenceError::from)?;
            turns::record_batch(&mut conn, batch, NEW_SESSION_TITLE).await
        };
        match attempt.await {
            Err(err) if err.is_unavailable() => {
                tracing::warn!(error = %err, turns = batch.len(), "database unavailable; turns wait to be recorded");
                tokio::time::sleep(wait).await;
                wait = (wait * 2).min(UNAVAILABLE_BACKOFF_MAX);
            }
            other => break other,
        }
    };
    match result {
        Ok(()) => tracing::debug!(turns = batch.len(), "turns recorded"),
        Err(err) if batch.len() > 1 => {
            // One bad record (say, a user deleted meanwhile) must not cost
            // the others: record them one by one.
            tracing::warn!(error = %err, turns = batch.len(), "batch failed; recording turns one by one");
            let Ok(mut conn) = pg.get().await else {
                tracing::error!(turns = batch.len(), "turns could not be recorded");
                return;
            };
            for record in batch {
                if let Err(err) =
                    turns::record_batch(&mut conn, std::slice::from_ref(record), NEW_SESSION_TITLE)
                        .await
                {
                    tracing::error!(user_id = %record.user_id, error = %err, "a turn could not be recorded");
                }
            }
        }
        Err(err) => tracing::error!(error = %err, "a turn could not be recorded"),
    }
}

#[cfg(test)]
mod tests {
    use super::message_count_with_unrecorded as count;

    #[test]
    fn adds_only_what_postgres_has_not_recorded_yet() {
        assert_eq!(count(10, 2, Some(5)), 13, "three answered, not recorded");
        assert_eq!(count(10, 5, Some(5)), 10, "all recorded");
        assert_eq!(count(10, 5, None), 10, "Redis lost its counter");
        assert_eq!(
            count(10, 5, Some(3)),
            10,
            "a re-seeded counter behind Postgres"
        );
    }
}
