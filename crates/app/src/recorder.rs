//! Write-behind recording of answered turns, with group commit.
//!
//! Recording a turn (usage counters, the assistant's count, two chat
//! messages) costs several statements; doing it on the request path made the
//! database the message path's bottleneck. The reply does not depend on it —
//! the quota is enforced from Redis before the gateway is called — so turns
//! are queued and one task writes whatever has queued up, after gathering
//! for 20 ms from the first. Under load that is a few dozen batches a second
//! instead of a write per message.
//!
//! A batch is written in steps of a few users each, one transaction per
//! step, with a millisecond's pause between steps. On a machine Postgres
//! shares with the API (the compose deployment) a whole batch was one
//! burst of ~3 ms on one core that held up the message path queued behind
//! it: `cargo xtask bench message` measured the API's p99 overhead at
//! +3.6 ms with whole batches, +1.6 to +1.9 ms in steps (and +1.3 ms with
//! nothing written at all), for 30 % (50 users) to 55 % (300 users) more
//! Postgres CPU per turn: each step costs ~0.3 ms however small. With
//! Postgres on a host of its own the steps buy nothing.
//!
//! Ordering: one queue, one writer, so a user's turns are written in the
//! order they were answered. On shutdown the queue is drained
//! ([`RecorderTask::finish`]); only a hard crash can lose the turns queued
//! in the last moment (their quota units stay counted in Redis).

use std::time::Duration;

use heyclaw_persistence::{
    PgPool, PooledPg,
    queries::{
        chat::NEW_SESSION_TITLE,
        turns::{self, TurnRecord},
    },
};
use tokio::{sync::mpsc, task::JoinHandle};

/// The most turns gathered into one batch.
const MAX_BATCH: usize = 1000;
/// How long the writer gathers turns after the first one before it writes
/// them. A batch costs a fixed handful of statements however many turns it
/// holds, so fewer, fuller batches cost the database less per turn: at
/// 2,000 turns a second, writing whatever had queued made ~190 batches a
/// second of ~10 turns; gathering caps it at ~50.
const GATHER: Duration = Duration::from_millis(20);
/// The most users whose turns are written in one step (one transaction).
/// Postgres spends ~60 µs a user on a batch: 50 users were one ~3 ms
/// burst of a single backend, and whatever the scheduler had queued on
/// that core (the API's HTTP worker, Redis) waited for the whole burst.
/// Eight users make a step of well under a millisecond.
const USERS_PER_STEP: usize = 8;
/// The pause between two steps of a batch, which hands the core back to
/// the message path: steps sent back to back queued it as one burst did.
/// One millisecond is the shortest sleep Tokio's timer gives.
const STEP_PAUSE: Duration = Duration::from_millis(1);
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
    /// Each batch is up to 1000 turns, written eight users per transaction
    /// (a step). While Postgres is unreachable a step waits and is retried
    /// (backoff up to 2 s), never dropped; if it fails for another reason
    /// its turns are retried one by one, and a turn that still fails (say,
    /// its user was deleted meanwhile) is logged and dropped.
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
                // A full batch means turns are queuing faster than they are
                // written: no pauses then, the writer catches up first.
                let pause = batch.len() < MAX_BATCH;
                // One connection for the whole batch: the steps then run in
                // one backend, whose caches are warm from the step before.
                let mut held = None;
                for (i, step) in by_users(&mut batch, USERS_PER_STEP).into_iter().enumerate() {
                    if i > 0 && pause {
                        tokio::time::sleep(STEP_PAUSE).await;
                    }
                    write(&pg, &mut held, step).await;
                }
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

/// Sorts a batch by user (stable: each user's turns stay in the order
/// they were answered) and splits it into steps holding the turns of at
/// most `users` users each (one when `users` is 0); a user's turns all go
/// in one step.
fn by_users(batch: &mut [TurnRecord], users: usize) -> Vec<&[TurnRecord]> {
    batch.sort_by_key(|record| record.user_id);
    let mut steps = Vec::new();
    let mut rest: &[TurnRecord] = batch;
    while !rest.is_empty() {
        let len = rest
            .chunk_by(|a, b| a.user_id == b.user_id)
            .take(users.max(1))
            .map(<[TurnRecord]>::len)
            .sum();
        let (step, tail) = rest.split_at(len);
        steps.push(step);
        rest = tail;
    }
    steps
}

/// Writes a step of a batch; while the database is unreachable it waits
/// and tries again (answered turns are not dropped because Postgres
/// restarted), up to [`UNAVAILABLE_BACKOFF_MAX`] between tries. Uses the
/// connection `held` (taking one from the pool if there is none) and keeps
/// it for the next step; after an error it is given back.
async fn write(pg: &PgPool, held: &mut Option<PooledPg>, step: &[TurnRecord]) {
    let mut wait = Duration::from_millis(50);
    let result = loop {
        let attempt = async {
            let conn = match held {
                Some(conn) => conn,
                None => held.insert(
                    pg.get()
                        .await
                        .map_err(heyclaw_persistence::PersistenceError::from)?,
                ),
            };
            turns::record_batch(conn, step, NEW_SESSION_TITLE).await
        };
        let outcome = attempt.await;
        if outcome.is_err() {
            *held = None;
        }
        match outcome {
            Err(err) if err.is_unavailable() => {
                tracing::warn!(error = %err, turns = step.len(), "database unavailable; turns wait to be recorded");
                tokio::time::sleep(wait).await;
                wait = (wait * 2).min(UNAVAILABLE_BACKOFF_MAX);
            }
            other => break other,
        }
    };
    match result {
        Ok(()) => tracing::debug!(turns = step.len(), "turns recorded"),
        Err(err) if step.len() > 1 => {
            // One bad record (say, a user deleted meanwhile) must not cost
            // the others: record them one by one.
            tracing::warn!(error = %err, turns = step.len(), "step failed; recording its turns one by one");
            let Ok(mut conn) = pg.get().await else {
                tracing::error!(turns = step.len(), "turns could not be recorded");
                return;
            };
            for record in step {
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
    use chrono::NaiveDate;
    use heyclaw_persistence::queries::turns::{TurnRecord, TurnUsage};
    use uuid::Uuid;

    use super::{by_users, message_count_with_unrecorded as count};

    fn turn(user: u128, nth: i32) -> TurnRecord {
        TurnRecord {
            user_id: Uuid::from_u128(user),
            day: NaiveDate::MIN,
            usage: TurnUsage {
                text_messages: nth,
                ..TurnUsage::default()
            },
            messages: Vec::new(),
        }
    }

    fn users_and_turns(step: &[TurnRecord]) -> Vec<(u128, i32)> {
        step.iter()
            .map(|r| (r.user_id.as_u128(), r.usage.text_messages))
            .collect()
    }

    #[test]
    fn steps_hold_whole_users_in_id_order_and_each_users_turns_in_order() {
        // Users 1..=5 with interleaved turns; user 3 has three.
        let mut batch = vec![
            turn(3, 1),
            turn(5, 1),
            turn(1, 1),
            turn(3, 2),
            turn(2, 1),
            turn(4, 1),
            turn(3, 3),
            turn(1, 2),
        ];
        let steps: Vec<_> = by_users(&mut batch, 2)
            .iter()
            .map(|step| users_and_turns(step))
            .collect();
        assert_eq!(
            steps,
            vec![
                vec![(1, 1), (1, 2), (2, 1)],
                vec![(3, 1), (3, 2), (3, 3), (4, 1)],
                vec![(5, 1)],
            ]
        );
    }

    #[test]
    fn a_batch_of_few_users_is_one_step_and_nothing_is_lost() {
        let mut batch: Vec<_> = (0..20).map(|i| turn(i % 3, i as i32)).collect();
        let steps = by_users(&mut batch, 8);
        assert_eq!(steps.len(), 1);
        assert_eq!(steps[0].len(), 20);
        assert!(by_users(&mut [], 8).is_empty());
        assert_eq!(
            by_users(&mut [turn(1, 1), turn(2, 1)], 0).len(),
            2,
            "one user a step"
        );
    }

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
