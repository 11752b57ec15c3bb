//! Automations: scheduled tasks a user asks their agent for, run by us (the
//! gateway's own cron is shared by every agent, so tenants never get it).
//!
//! - The agent asks with a marker in its reply (see `templates/AGENTS.md`);
//!   [`Automations::apply_markers`] stores, cancels, pauses or resumes jobs
//!   and strips the markers. An invalid job is dropped and logged; one past
//!   the plan's cap is refused and the reply says so.
//! - [`Automations::start_scheduler`] runs due jobs: claimed with `FOR UPDATE
//!   SKIP LOCKED` and a lease, so replicas never run one twice and a crashed
//!   replica's claim is taken over. A run is one turn of the user's own
//!   agent (woken if need be) in a session of its own, counted as one text
//!   message; at the daily limit it is skipped; gateway failures are retried
//!   with backoff, then recorded as failed. Each run's result is stored once.
//! - The app polls [`Automations::check`]; each result is delivered once,
//!   even to two checks that race.

use std::{sync::Arc, time::Duration};

use chrono::{DateTime, Utc};
use heyclaw_domain::{
    Action, MAX_JOB_NAME_CHARS, MAX_JOB_PROMPT_CHARS, Schedule, Tz, UserId, extract_actions,
    parse_time_zone,
};
use heyclaw_persistence::{
    PersistenceError, PgPool, RedisStore,
    queries::{
        accounts, assistants,
        automations::{self, Job, NewJob, NewResult, RunResult},
        turns::{TurnRecord, TurnUsage},
    },
};
use uuid::Uuid;

use crate::{
    AppError,
    agents::{Agents, Conversation},
    clock::SharedClock,
    quota::{self, Meter},
    recorder::TurnRecorder,
};

/// How the scheduler runs.
#[derive(Debug, Clone)]
pub struct SchedulerConfig {
    /// This replica's name in claims.
    pub replica: String,
    /// Time between two looks for due jobs.
    pub poll_interval: Duration,
    /// How long a claim holds before another replica may take the job over.
    pub lease: Duration,
    /// Gateway attempts per run.
    pub attempts: u32,
    /// Wait before the second attempt; doubled for each one after.
    pub retry_backoff: Duration,
    /// Most jobs claimed (and run at once) per look.
    pub batch: i64,
}

/// Automation jobs: creating them (from reply markers or directly),
/// listing, pausing, deleting, the scheduler, and the results. Cheap to
/// clone (one shared state).
#[derive(Clone)]
pub struct Automations {
    inner: Arc<Inner>,
}

struct Inner {
    pg: PgPool,
    redis: RedisStore,
    agents: Agents,
    recorder: TurnRecorder,
    clock: SharedClock,
}

const STATUS_OK: &str = "ok";
const STATUS_SKIPPED: &str = "skipped";
const STATUS_FAILED: &str = "failed";

impl Automations {
    /// Automations over the given storage; runs go to the users' agents
    /// through `agents`, their usage to `recorder`; schedules, claims and
    /// due times follow `clock`. Starts nothing: see
    /// [`Automations::start_scheduler`].
    pub fn new(
        pg: PgPool,
        redis: RedisStore,
        agents: Agents,
        recorder: TurnRecorder,
        clock: SharedClock,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                pg,
                redis,
                agents,
                recorder,
                clock,
            }),
        }
    }

    /// Acts on the automation markers of a reply. Returns the other actions
    /// (for the app) and notes to add to the reply (a refusal the user must
    /// hear about).
    ///
    /// `automation|<schedule>|<name>|<prompt>[|<zone>]` creates a job (see
    /// [`Automations::create`]); `automation_cancel`, `automation_pause` and
    /// `automation_resume` take a job's name (any case) or id. Markers are
    /// applied in order.
    /// Never fails: a marker that cannot be carried out (invalid, unknown
    /// name, storage failure) is logged and dropped, except a job past the
    /// plan's cap, whose refusal comes back as a note — add the notes to
    /// the reply with [`with_notes`].
    pub async fn apply_markers(
        &self,
        user: UserId,
        actions: Vec<Action>,
    ) -> (Vec<Action>, Vec<String>) {
        let mut for_app = Vec::new();
        let mut notes = Vec::new();
        for action in actions {
            let result = match action.kind.as_str() {
                "automation" => self.create_from_marker(user, &action.params).await,
                "automation_cancel" => self.by_name(user, &action.params, Change::Delete).await,
                "automation_pause" => self.by_name(user, &action.params, Change::Pause).await,
                "automation_resume" => self.by_name(user, &action.params, Change::Resume).await,
                _ => {
                    for_app.push(action);
                    continue;
                }
            };
            match result {
                Ok(()) => {}
                Err(MarkerProblem::Note(note)) => notes.push(note),
                Err(MarkerProblem::Dropped(reason)) => {
                    tracing::warn!(%user, kind = %action.kind, %reason, "automation marker dropped");
                }
            }
        }
        (for_app, notes)
    }

    async fn create_from_marker(
        &self,
        user: UserId,
        params: &[String],
    ) -> Result<(), MarkerProblem> {
        let (Some(schedule), Some(name)) = (params.first(), params.get(1)) else {
            return Err(MarkerProblem::Dropped(
                "schedule and name are required".into(),
            ));
        };
        let mut rest: Vec<&str> = params[2.min(params.len())..]
            .iter()
            .map(String::as_str)
            .collect();
        // An optional time zone comes last (`Area/City` or `UTC`); a prompt
        // may itself contain `|`.
        let zone = match rest.last() {
            Some(last) if rest.len() > 1 && looks_like_zone(last) => {
                let zone = (*last).to_owned();
                rest.pop();
                Some(zone)
            }
            _ => None,
        };
        let prompt = rest.join("|");
        match self
            .create(user, schedule, name, &prompt, zone.as_deref())
            .await
        {
            Ok(_) => Ok(()),
            Err(AppError::Conflict(message)) => Err(MarkerProblem::Note(message)),
            Err(err) => Err(MarkerProblem::Dropped(err.to_string())),
        }
    }

    async fn by_name(
        &self,
        user: UserId,
        params: &[String],
        change: Change,
    ) -> Result<(), MarkerProblem> {
        let name = params.first().map(String::as_str).unwrap_or_default();
        let job = {
            let mut conn = self.inner.pg.get().await.map_err(dropped)?;
            automations::find(&mut conn, user.0, name)
                .await
                .map_err(dropped)?
        };
        let Some(job) = job else {
            return Err(MarkerProblem::Dropped(format!(
                "no automation named {name:?}"
            )));
        };
        match change {
            Change::Delete => self.delete(user, job.id).await.map_err(dropped),
            Change::Pause => self
                .set_enabled(user, job.id, false)
                .await
                .map(|_| ())
                .map_err(dropped),
            Change::Resume => self
                .set_enabled(user, job.id, true)
                .await
                .map(|_| ())
                .map_err(dropped),
        }
    }

    /// Stores a job, checked: the schedule (at least 15 minutes apart, in the
    /// future), the zone (else the user's), the name and prompt, and the
    /// plan's cap (a [`AppError::Conflict`] whose message says so).
    ///
    /// The schedule is cron, `every <n> <unit>` or a one-time moment (see
    /// [`Schedule`]), read in `zone` or else the user's time zone; the job's
    /// first run is its next time after now (injected clock). The cap counts
    /// paused jobs too and is checked under a lock on the user's row, so
    /// concurrent creations cannot pass it.
    ///
    /// # Errors
    ///
    /// [`AppError::Invalid`] for an empty or too long name (100 characters)
    /// or prompt (2000), an unknown zone or an invalid schedule;
    /// [`AppError::Conflict`] at the plan's cap (the message is written to
    /// be said to the user); [`AppError::NotFound`] when the user or their
    /// assistant is gone; [`AppError::Storage`].
    pub async fn create(
        &self,
        user: UserId,
        schedule_text: &str,
        name: &str,
        prompt: &str,
        zone: Option<&str>,
    ) -> Result<Job, AppError> {
        let (name, prompt) = (name.trim(), prompt.trim());
        if name.is_empty() || name.chars().count() > MAX_JOB_NAME_CHARS {
            return Err(AppError::invalid(
                "An automation needs a name of at most 100 characters",
            ));
        }
        if prompt.is_empty() || prompt.chars().count() > MAX_JOB_PROMPT_CHARS {
            return Err(AppError::invalid(
                "An automation needs a prompt of at most 2000 characters",
            ));
        }
        let mut conn = self.inner.pg.get().await.map_err(PersistenceError::from)?;
        let now = self.inner.clock.now();
        let account = accounts::find_by_id(&mut conn, user.0)
            .await?
            .ok_or(AppError::NotFound("User not found"))?;
        let zone_name = zone.unwrap_or(&account.timezone);
        let tz = parse_time_zone(zone_name).map_err(|err| AppError::invalid(err.to_string()))?;
        let schedule = Schedule::parse(schedule_text, tz, now)
            .map_err(|err| AppError::invalid(err.to_string()))?;
        let (_, plan, limits) = assistants::with_plan(&mut conn, user.0, now)
            .await?
            .ok_or(AppError::NotFound("No assistant for this account"))?;
        let job = NewJob {
            user_id: user.0,
            name,
            schedule: schedule_text.trim(),
            kind: schedule.kind().as_str(),
            interval_seconds: schedule.interval_seconds(),
            prompt,
            timezone: tz.name(),
            next_run_at: schedule.next_after(now, tz),
        };
        match automations::insert_capped(&mut conn, &job, i64::from(limits.max_automation_jobs))
            .await?
        {
            Some(job) => {
                tracing::info!(%user, job = %job.id, kind = job.kind, "automation created");
                Ok(job)
            }
            None => Err(AppError::Conflict(format!(
                "I couldn't set up \"{name}\": the {plan} plan allows {} automations, and you have that many. \
                 Remove one in the app, or upgrade your plan.",
                limits.max_automation_jobs
            ))),
        }
    }

    /// The user's jobs, paused ones included.
    ///
    /// # Errors
    ///
    /// [`AppError::Storage`].
    pub async fn jobs(&self, user: UserId) -> Result<Vec<Job>, AppError> {
        let mut conn = self.inner.pg.get().await.map_err(PersistenceError::from)?;
        Ok(automations::for_user(&mut conn, user.0).await?)
    }

    /// Deletes one of the user's jobs; its past results stay. A run in
    /// flight finishes but its result is not recorded.
    ///
    /// # Errors
    ///
    /// [`AppError::NotFound`] when the user has no such job (another user's
    /// job answers the same); [`AppError::Storage`].
    pub async fn delete(&self, user: UserId, job: Uuid) -> Result<(), AppError> {
        let mut conn = self.inner.pg.get().await.map_err(PersistenceError::from)?;
        if automations::delete(&mut conn, user.0, job).await? {
            Ok(())
        } else {
            Err(AppError::NotFound("Automation not found"))
        }
    }

    /// Pauses or resumes a job; a resumed job runs next at its next
    /// scheduled time from now (a one-time job whose time passed is over).
    /// Runs missed while paused are not made up. Returns the job as it is
    /// now.
    ///
    /// # Errors
    ///
    /// [`AppError::NotFound`] when the user has no such job;
    /// [`AppError::Storage`].
    pub async fn set_enabled(
        &self,
        user: UserId,
        job_id: Uuid,
        enabled: bool,
    ) -> Result<Job, AppError> {
        let mut conn = self.inner.pg.get().await.map_err(PersistenceError::from)?;
        let now = self.inner.clock.now();
        let next = if enabled {
            let jobs = automations::for_user(&mut conn, user.0).await?;
            let job = jobs
                .iter()
                .find(|job| job.id == job_id)
                .ok_or(AppError::NotFound("Automation not found"))?;
            next_from_now(job, now)
        } else {
            None
        };
        automations::set_enabled(&mut conn, user.0, job_id, enabled, next)
            .await?
            .ok_or(AppError::NotFound("Automation not found"))
    }

    /// Results the app has not been given yet (each once, oldest run
    /// first) and the assistant's name (empty if the user has no assistant).
    ///
    /// Taking is atomic: a result is handed to one check only, even when two
    /// race, and is marked delivered whether or not the client got the
    /// answer (it stays readable through [`Automations::results`]).
    ///
    /// # Errors
    ///
    /// [`AppError::Storage`].
    pub async fn check(&self, user: UserId) -> Result<(Vec<RunResult>, String), AppError> {
        let mut conn = self.inner.pg.get().await.map_err(PersistenceError::from)?;
        let results = automations::take_undelivered(&mut conn, user.0).await?;
        let name = assistants::for_user(&mut conn, user.0)
            .await?
            .map(|a| a.display_name)
            .unwrap_or_default();
        Ok((results, name))
    }

    /// The newest results first (`unseen_only`: those not marked seen), at
    /// most `limit`, delivered or not. Reading marks nothing.
    ///
    /// # Errors
    ///
    /// [`AppError::Storage`].
    pub async fn results(
        &self,
        user: UserId,
        unseen_only: bool,
        limit: i64,
    ) -> Result<Vec<RunResult>, AppError> {
        let mut conn = self.inner.pg.get().await.map_err(PersistenceError::from)?;
        Ok(automations::recent(&mut conn, user.0, unseen_only, limit).await?)
    }

    /// Marks the user's results `ids` seen (all of them with `None`);
    /// others' ids are ignored. Returns how many changed.
    ///
    /// # Errors
    ///
    /// [`AppError::Storage`].
    pub async fn mark_seen(&self, user: UserId, ids: Option<&[Uuid]>) -> Result<usize, AppError> {
        let mut conn = self.inner.pg.get().await.map_err(PersistenceError::from)?;
        Ok(automations::mark_seen(&mut conn, user.0, ids).await?)
    }

    /// Starts this replica's scheduler; it runs until the process ends (or
    /// the returned task is aborted). Every `poll_interval` it runs
    /// [`Automations::run_due`]; a failed look is logged and retried at the
    /// next. Must be called within a Tokio runtime.
    pub fn start_scheduler(&self, config: SchedulerConfig) -> tokio::task::JoinHandle<()> {
        let this = self.clone();
        tokio::spawn(async move {
            tracing::info!(replica = %config.replica, "automation scheduler started");
            loop {
                match this.run_due(&config).await {
                    Ok(0) => {}
                    Ok(ran) => tracing::debug!(ran, "automations ran"),
                    Err(err) => {
                        tracing::warn!(error = %err, "automation scheduler: claiming failed")
                    }
                }
                tokio::time::sleep(config.poll_interval).await;
            }
        })
    }

    /// Claims the due jobs and runs them (at once, up to the batch size),
    /// returning how many were claimed once all have finished.
    ///
    /// A run reserves one text message of the user's daily quota (at the
    /// limit the run is recorded as skipped), asks the user's agent —
    /// waking it — in the job's own session, retrying a failed turn
    /// `attempts` times with doubling backoff (then recorded as failed, the
    /// unit given back), and stores the reply without its markers as the
    /// run's result. The result and the job's next run are written together,
    /// only if this replica still holds the claim; a missed run is skipped,
    /// not replayed.
    ///
    /// # Errors
    ///
    /// [`AppError::Storage`] when the jobs cannot be claimed; a failing run
    /// is recorded (or logged), never an error here.
    pub async fn run_due(&self, config: &SchedulerConfig) -> Result<usize, AppError> {
        let now = self.inner.clock.now();
        let lease =
            chrono::TimeDelta::from_std(config.lease).unwrap_or(chrono::TimeDelta::minutes(5));
        let jobs = {
            let mut conn = self.inner.pg.get().await.map_err(PersistenceError::from)?;
            automations::claim_due(&mut conn, &config.replica, now, now + lease, config.batch)
                .await?
        };
        let ran = jobs.len();
        futures_util::future::join_all(jobs.into_iter().map(|job| self.run(job, config))).await;
        Ok(ran)
    }

    async fn run(&self, job: Job, config: &SchedulerConfig) {
        let Some(scheduled_for) = job.next_run_at else {
            return;
        };
        let (status, text) = match self.execute(&job, config).await {
            Ok(outcome) => outcome,
            Err(err) => {
                tracing::warn!(job = %job.id, error = %err, "automation run failed");
                (STATUS_FAILED, "This automation could not run.".to_owned())
            }
        };
        let tz = parse_time_zone(&job.timezone).unwrap_or(Tz::UTC);
        let next = Schedule::from_stored(&job.kind, &job.schedule, job.interval_seconds, None)
            .and_then(|schedule| schedule.next_run(scheduled_for, self.inner.clock.now(), tz));
        let result = NewResult {
            user_id: job.user_id,
            job_id: Some(job.id),
            job_name: &job.name,
            result: &text,
            run_at: scheduled_for,
            status,
        };
        let finished = async {
            let mut conn = self.inner.pg.get().await.map_err(PersistenceError::from)?;
            automations::finish_run(&mut conn, &config.replica, job.id, &result, next).await
        };
        match finished.await {
            Ok(true) => tracing::info!(job = %job.id, status, "automation ran"),
            Ok(false) => {
                tracing::info!(job = %job.id, "automation gone or taken over; result not recorded")
            }
            Err(err) => {
                tracing::error!(job = %job.id, error = %err, "automation result not recorded; the claim will be retried")
            }
        }
    }

    /// One run: quota, then the agent's turn with retries.
    async fn execute(
        &self,
        job: &Job,
        config: &SchedulerConfig,
    ) -> Result<(&'static str, String), AppError> {
        let user = UserId(job.user_id);
        let now = self.inner.clock.now();
        let (assistant, _, limits) = {
            let mut conn = self.inner.pg.get().await.map_err(PersistenceError::from)?;
            assistants::with_plan(&mut conn, user.0, now)
                .await?
                .ok_or(AppError::NotFound("No assistant for this account"))?
        };
        let limit = u64::try_from(limits.daily_text_messages).unwrap_or(0);
        let reserved = match quota::reserve(
            &self.inner.redis,
            &self.inner.pg,
            user,
            Meter::TextMessages,
            1,
            limit,
        )
        .await
        {
            Ok(reserved) => reserved,
            Err(AppError::RateLimited { .. }) => {
                return Ok((
                    STATUS_SKIPPED,
                    "Skipped: today's message limit was already reached.".to_owned(),
                ));
            }
            Err(err) => return Err(err),
        };
        let mut wait = config.retry_backoff;
        for attempt in 1..=config.attempts.max(1) {
            match self
                .inner
                .agents
                .chat(&assistant, Conversation::Automation(job.id), &job.prompt)
                .await
            {
                Ok(reply) => {
                    self.inner.recorder.record(TurnRecord {
                        user_id: user.0,
                        day: reserved.day,
                        usage: TurnUsage {
                            text_messages: 1,
                            ..TurnUsage::default()
                        },
                        messages: Vec::new(),
                    });
                    return Ok((STATUS_OK, extract_actions(&reply).text));
                }
                Err(err) if attempt < config.attempts => {
                    tracing::warn!(job = %job.id, attempt, error = %err, "automation turn failed; retrying");
                    tokio::time::sleep(wait).await;
                    wait = wait.saturating_mul(2);
                }
                Err(err) => {
                    tracing::warn!(job = %job.id, attempt, error = %err, "automation turn failed; giving up");
                }
            }
        }
        reserved.release(&self.inner.redis).await;
        Ok((
            STATUS_FAILED,
            "Your assistant could not be reached for this automation.".to_owned(),
        ))
    }
}

/// A reply with the notes about refused automations after it, each after a
/// blank line.
///
/// ```
/// use heyclaw_app::automation::with_notes;
///
/// let notes = ["I couldn't set up \"Tea\": the free plan allows 1 automations.".to_owned()];
/// assert_eq!(
///     with_notes("Sure!".to_owned(), &notes),
///     "Sure!\n\nI couldn't set up \"Tea\": the free plan allows 1 automations."
/// );
/// assert_eq!(with_notes("Sure!".to_owned(), &[]), "Sure!");
/// ```
pub fn with_notes(reply: String, notes: &[String]) -> String {
    if notes.is_empty() {
        return reply;
    }
    let mut text = reply;
    for note in notes {
        if !text.is_empty() {
            text.push_str("\n\n");
        }
        text.push_str(note);
    }
    text
}

/// Whether a marker's last part names a time zone (valid or not).
fn looks_like_zone(part: &str) -> bool {
    let part = part.trim();
    !part.is_empty()
        && !part.contains(char::is_whitespace)
        && (part.contains('/') || part.eq_ignore_ascii_case("utc"))
}

/// When a resumed job runs next, seen from `now`.
fn next_from_now(job: &Job, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let tz = parse_time_zone(&job.timezone).unwrap_or(Tz::UTC);
    if job.kind == "once" {
        return job.next_run_at.filter(|at| *at > now);
    }
    Schedule::from_stored(&job.kind, &job.schedule, job.interval_seconds, None)?.next_after(now, tz)
}

enum Change {
    Delete,
    Pause,
    Resume,
}

/// Why a marker was not carried out.
enum MarkerProblem {
    /// The reply must tell the user (e.g. the plan's cap).
    Note(String),
    /// Logged only: the user never sees an invalid marker.
    Dropped(String),
}

fn dropped(err: impl std::fmt::Display) -> MarkerProblem {
    MarkerProblem::Dropped(err.to_string())
}
