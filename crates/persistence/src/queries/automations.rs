//! Automation jobs and their results. Due jobs are claimed with
//! `FOR UPDATE SKIP LOCKED` and a lease, so several API replicas never run
//! one job twice and a crashed replica's claims are taken over once their
//! lease has passed. Every time is the caller's (an injectable clock).

use chrono::{DateTime, Utc};
use diesel::{dsl::count_star, prelude::*};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use crate::{
    PersistenceError,
    schema::{automation_jobs, automation_results},
};

/// An automation job (its claim columns are not read).
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = automation_jobs, check_for_backend(diesel::pg::Pg))]
pub struct Job {
    /// The job's id.
    pub id: Uuid,
    /// Whose job it is.
    pub user_id: Uuid,
    /// Its name (1 to 100 characters; how the user and the agent refer to it).
    pub name: String,
    /// The schedule as written (a cron expression, `every …`, or a time).
    pub schedule: String,
    /// `cron`, `interval` or `once`.
    pub kind: String,
    /// For `interval` jobs, the period in seconds (at least 900).
    pub interval_seconds: Option<i32>,
    /// What the agent is asked at each run.
    pub prompt: String,
    /// The IANA time zone the schedule is read in.
    pub timezone: String,
    /// False while paused: never claimed.
    pub enabled: bool,
    /// The next time it is due; `None` when nothing is left to run (a
    /// one-time job that ran).
    pub next_run_at: Option<DateTime<Utc>>,
    /// The scheduled time of the last recorded run, if any.
    pub last_run_at: Option<DateTime<Utc>>,
}

/// A job to add with [`insert_capped`]; it starts enabled. Values are
/// checked by the caller (`heyclaw_domain::Schedule`); the table's checks
/// (lengths, kind, the 900-second minimum) reject the rest as `Query`
/// errors.
#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = automation_jobs)]
pub struct NewJob<'a> {
    /// Whose job it is.
    pub user_id: Uuid,
    /// Its name (1 to 100 characters).
    pub name: &'a str,
    /// The schedule as the user wrote it.
    pub schedule: &'a str,
    /// `cron`, `interval` or `once`.
    pub kind: &'a str,
    /// The period of an `interval` job, in seconds (at least 900).
    pub interval_seconds: Option<i32>,
    /// What the agent is asked at each run (1 to 8000 characters).
    pub prompt: &'a str,
    /// The IANA time zone the schedule is read in.
    pub timezone: &'a str,
    /// The first run, computed by the caller; `None` never runs.
    pub next_run_at: Option<DateTime<Utc>>,
}

/// Adds a job unless the user already has `max_jobs` (enabled or not) and
/// returns it; `None` when at the cap. The user's jobs are counted under a
/// lock on the user's row (`FOR UPDATE`, in a transaction of its own), so
/// two concurrent additions cannot both pass the cap. A user that does not
/// exist is a `Query` error (foreign key).
pub async fn insert_capped(
    conn: &mut AsyncPgConnection,
    job: &NewJob<'_>,
    max_jobs: i64,
) -> Result<Option<Job>, PersistenceError> {
    crate::transaction(conn, async |conn| {
        diesel::sql_query("SELECT 1 FROM users WHERE id = $1 FOR UPDATE")
            .bind::<diesel::sql_types::Uuid, _>(job.user_id)
            .execute(conn)
            .await?;
        let existing: i64 = automation_jobs::table
            .filter(automation_jobs::user_id.eq(job.user_id))
            .select(count_star())
            .first(conn)
            .await?;
        if existing >= max_jobs {
            return Ok(None);
        }
        Ok(Some(
            diesel::insert_into(automation_jobs::table)
                .values(job)
                .returning(Job::as_returning())
                .get_result(conn)
                .await?,
        ))
    })
    .await
}

/// The user's jobs, oldest first.
pub async fn for_user(
    conn: &mut AsyncPgConnection,
    user_id: Uuid,
) -> Result<Vec<Job>, PersistenceError> {
    Ok(automation_jobs::table
        .filter(automation_jobs::user_id.eq(user_id))
        .order(automation_jobs::created_at.asc())
        .select(Job::as_select())
        .load(conn)
        .await?)
}

/// The user's job with this id, or the one with this name (ASCII case
/// ignored, `id_or_name` trimmed). Loads all the user's jobs and picks the
/// first match, oldest first.
pub async fn find(
    conn: &mut AsyncPgConnection,
    user_id: Uuid,
    id_or_name: &str,
) -> Result<Option<Job>, PersistenceError> {
    let by_id = id_or_name.parse::<Uuid>().ok();
    let jobs = for_user(conn, user_id).await?;
    Ok(jobs
        .into_iter()
        .find(|job| Some(job.id) == by_id || job.name.eq_ignore_ascii_case(id_or_name.trim())))
}

/// Deletes one of the user's jobs; false when there is none. Its results
/// stay, with `job_id` cleared. A run in flight then finds the job gone
/// ([`finish_run`] answers false).
pub async fn delete(
    conn: &mut AsyncPgConnection,
    user_id: Uuid,
    job_id: Uuid,
) -> Result<bool, PersistenceError> {
    Ok(diesel::delete(
        automation_jobs::table
            .filter(automation_jobs::id.eq(job_id))
            .filter(automation_jobs::user_id.eq(user_id)),
    )
    .execute(conn)
    .await?
        == 1)
}

/// Pauses or resumes one of the user's jobs and returns it; `next_run_at`
/// is what a resumed job runs next (ignored when pausing: a paused job
/// keeps its old `next_run_at`). `None` when there is no such job of this
/// user.
pub async fn set_enabled(
    conn: &mut AsyncPgConnection,
    user_id: Uuid,
    job_id: Uuid,
    enabled: bool,
    next_run_at: Option<DateTime<Utc>>,
) -> Result<Option<Job>, PersistenceError> {
    let target = automation_jobs::table
        .filter(automation_jobs::id.eq(job_id))
        .filter(automation_jobs::user_id.eq(user_id));
    let updated = if enabled {
        diesel::update(target)
            .set((
                automation_jobs::enabled.eq(true),
                automation_jobs::next_run_at.eq(next_run_at),
            ))
            .returning(Job::as_returning())
            .get_result(conn)
            .await
            .optional()?
    } else {
        diesel::update(target)
            .set(automation_jobs::enabled.eq(false))
            .returning(Job::as_returning())
            .get_result(conn)
            .await
            .optional()?
    };
    Ok(updated)
}

/// Claims up to `limit` due jobs for `replica` until `lease_until`: enabled,
/// due at `now`, and not claimed by anyone whose lease still runs. The most
/// overdue are picked first; they are returned in no particular order.
///
/// Its own transaction; rows another replica is claiming at the same time
/// are skipped (`SKIP LOCKED`), not waited for. A claim is released by
/// [`finish_run`]; if that never comes, the job is claimable again once
/// `lease_until` has passed, so the lease must outlast a run.
pub async fn claim_due(
    conn: &mut AsyncPgConnection,
    replica: &str,
    now: DateTime<Utc>,
    lease_until: DateTime<Utc>,
    limit: i64,
) -> Result<Vec<Job>, PersistenceError> {
    crate::transaction(conn, async |conn| {
        let due: Vec<Uuid> = automation_jobs::table
            .filter(automation_jobs::enabled.eq(true))
            .filter(automation_jobs::next_run_at.le(now))
            .filter(
                automation_jobs::claimed_until
                    .is_null()
                    .or(automation_jobs::claimed_until.le(now)),
            )
            .order(automation_jobs::next_run_at.asc())
            .limit(limit)
            .select(automation_jobs::id)
            .for_update()
            .skip_locked()
            .load(conn)
            .await?;
        if due.is_empty() {
            return Ok(Vec::new());
        }
        Ok(
            diesel::update(automation_jobs::table.filter(automation_jobs::id.eq_any(&due)))
                .set((
                    automation_jobs::claimed_by.eq(replica),
                    automation_jobs::claimed_until.eq(lease_until),
                ))
                .returning(Job::as_returning())
                .get_results(conn)
                .await?,
        )
    })
    .await
}

/// One run's outcome.
#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = automation_results)]
pub struct NewResult<'a> {
    /// Whose job ran.
    pub user_id: Uuid,
    /// The job (set to `NULL` by the database if the job is deleted later).
    pub job_id: Option<Uuid>,
    /// The job's name, kept for when the job is gone.
    pub job_name: &'a str,
    /// What the agent answered (or why the run did not happen).
    pub result: &'a str,
    /// The scheduled time of the run; with `job_id`, it names the run.
    pub run_at: DateTime<Utc>,
    /// `ok`, `skipped` or `failed`.
    pub status: &'a str,
}

/// Records a run's result and moves its job on, in one transaction, if
/// `replica` still holds the claim. A run recorded before (a claim taken
/// over after its holder had finished) is not recorded twice.
///
/// Moving on sets `last_run_at` to the result's `run_at`, `next_run_at`
/// to the given one (`None`: nothing left to run) and clears the claim.
/// False, with nothing written, when the job is gone or its claim is no
/// longer `replica`'s.
pub async fn finish_run(
    conn: &mut AsyncPgConnection,
    replica: &str,
    job_id: Uuid,
    result: &NewResult<'_>,
    next_run_at: Option<DateTime<Utc>>,
) -> Result<bool, PersistenceError> {
    crate::transaction(conn, async |conn| {
        let moved = diesel::update(
            automation_jobs::table
                .filter(automation_jobs::id.eq(job_id))
                .filter(automation_jobs::claimed_by.eq(replica)),
        )
        .set((
            automation_jobs::last_run_at.eq(result.run_at),
            automation_jobs::next_run_at.eq(next_run_at),
            automation_jobs::claimed_by.eq(None::<String>),
            automation_jobs::claimed_until.eq(None::<DateTime<Utc>>),
        ))
        .execute(conn)
        .await?;
        if moved == 0 {
            // The job was deleted meanwhile, or the claim taken over.
            return Ok(false);
        }
        diesel::insert_into(automation_results::table)
            .values(result)
            .on_conflict_do_nothing()
            .execute(conn)
            .await?;
        Ok(true)
    })
    .await
}

/// A recorded run.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = automation_results, check_for_backend(diesel::pg::Pg))]
pub struct RunResult {
    /// The result's id.
    pub id: Uuid,
    /// The job that ran; `None` once the job is deleted.
    pub job_id: Option<Uuid>,
    /// The job's name at the time.
    pub job_name: String,
    /// What the agent answered (or why the run did not happen).
    pub result: String,
    /// The scheduled time of the run.
    pub run_at: DateTime<Utc>,
    /// `ok`, `skipped` or `failed`.
    pub status: String,
    /// Whether the user has marked it seen ([`mark_seen`]).
    pub seen: bool,
}

/// Results not yet delivered to the user's app, marked delivered in the
/// same statement: two checks racing get disjoint sets. Oldest run first.
/// Taking is final: a caller that fails to deliver them loses them (they
/// stay readable through [`recent`]).
pub async fn take_undelivered(
    conn: &mut AsyncPgConnection,
    user_id: Uuid,
) -> Result<Vec<RunResult>, PersistenceError> {
    let mut results: Vec<RunResult> = diesel::update(
        automation_results::table
            .filter(automation_results::user_id.eq(user_id))
            .filter(automation_results::delivered.eq(false)),
    )
    .set(automation_results::delivered.eq(true))
    .returning(RunResult::as_returning())
    .get_results(conn)
    .await?;
    results.sort_by_key(|r| r.run_at);
    Ok(results)
}

/// The user's last `limit` results, newest first (`unseen_only`: only
/// those not seen). Delivered or not; reading marks nothing.
pub async fn recent(
    conn: &mut AsyncPgConnection,
    user_id: Uuid,
    unseen_only: bool,
    limit: i64,
) -> Result<Vec<RunResult>, PersistenceError> {
    let mut query = automation_results::table
        .filter(automation_results::user_id.eq(user_id))
        .into_boxed();
    if unseen_only {
        query = query.filter(automation_results::seen.eq(false));
    }
    Ok(query
        .order(automation_results::run_at.desc())
        .limit(limit)
        .select(RunResult::as_select())
        .load(conn)
        .await?)
}

/// Marks the user's results seen (`None`: all of them) and returns how
/// many changed; ids of other users' or already-seen results are ignored.
pub async fn mark_seen(
    conn: &mut AsyncPgConnection,
    user_id: Uuid,
    ids: Option<&[Uuid]>,
) -> Result<usize, PersistenceError> {
    let mut query = diesel::update(automation_results::table)
        .filter(automation_results::user_id.eq(user_id))
        .filter(automation_results::seen.eq(false))
        .into_boxed();
    if let Some(ids) = ids {
        query = query.filter(automation_results::id.eq_any(ids));
    }
    Ok(query
        .set(automation_results::seen.eq(true))
        .execute(conn)
        .await?)
}
