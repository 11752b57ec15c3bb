//! Daily quotas. A unit is *reserved* before the work it pays for, in one
//! atomic Redis step (check and increment together — never check-then-
//! increment), and *released* if the work fails. Postgres keeps the durable
//! count of what was actually used; Redis is seeded from it when it has no
//! counter for the day (a new day, or a Redis that lost its data).
//!
//! Days are UTC days, read from the system clock (not the injected
//! [`crate::clock::Clock`]: Redis's counters expire by real time anyway).
//!
//! ```
//! use std::time::Duration;
//!
//! use heyclaw_app::quota::{Meter, until_reset};
//!
//! assert!(until_reset() <= Duration::from_secs(24 * 3600));
//! assert_eq!(Meter::VoiceSeconds.name(), "voice_seconds");
//! ```

use std::time::Duration;

use chrono::{NaiveDate, Utc};
use heyclaw_domain::UserId;
use heyclaw_persistence::{PersistenceError, PgPool, RedisStore, Reservation, queries::usage};

use crate::AppError;

/// Counters outlive their day a little, for requests straddling midnight.
const COUNTER_TTL: Duration = Duration::from_secs(48 * 3600);

/// Today's UTC date by the system clock: the day quotas count against.
pub fn today() -> NaiveDate {
    Utc::now().date_naive()
}

/// Time until the next UTC midnight (system clock), when daily quotas
/// reset: the `retry_after` of a quota refusal. An hour if it cannot be
/// computed.
pub fn until_reset() -> Duration {
    let now = Utc::now();
    let tomorrow = now
        .date_naive()
        .succ_opt()
        .and_then(|d| d.and_hms_opt(0, 0, 0));
    tomorrow
        .map(|midnight| midnight.and_utc() - now)
        .and_then(|left| left.to_std().ok())
        .unwrap_or(Duration::from_secs(3600))
}

/// What a quota counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Meter {
    /// Text turns (`POST /agent/message`, and each automation run); voice
    /// turns are counted as voice seconds instead.
    TextMessages,
    /// Voice input and output seconds together (the voice quota).
    VoiceSeconds,
    /// Characters sent to text-to-speech.
    TtsCharacters,
}

impl Meter {
    fn key(self, user: UserId, day: NaiveDate) -> String {
        match self {
            Meter::TextMessages => format!("quota:text:{day}:{user}"),
            Meter::VoiceSeconds => format!("quota:voice:{day}:{user}"),
            Meter::TtsCharacters => format!("quota:tts:{day}:{user}"),
        }
    }

    /// The meter's name in metrics.
    pub fn name(self) -> &'static str {
        match self {
            Meter::TextMessages => "text_messages",
            Meter::VoiceSeconds => "voice_seconds",
            Meter::TtsCharacters => "tts_characters",
        }
    }

    fn refusal(self) -> &'static str {
        match self {
            Meter::TextMessages => "Daily message limit reached. Upgrade your plan.",
            Meter::VoiceSeconds => "Daily voice limit reached. Upgrade your plan.",
            Meter::TtsCharacters => "Daily speech limit reached. Upgrade your plan.",
        }
    }

    async fn durable(self, pg: &PgPool, user: UserId, day: NaiveDate) -> Result<u64, AppError> {
        let mut conn = pg.get().await.map_err(PersistenceError::from)?;
        let usage = usage::on_day(&mut conn, user.0, day).await?;
        let used = match self {
            Meter::TextMessages => usage.text_messages,
            Meter::VoiceSeconds => usage
                .voice_input_seconds
                .saturating_add(usage.voice_output_seconds),
            Meter::TtsCharacters => usage.tts_characters,
        };
        Ok(u64::try_from(used).unwrap_or(0))
    }
}

/// Units reserved against a quota, to be kept (the work happened) or released.
///
/// Dropping it keeps the units counted: only [`Reserved::release`] gives
/// them back.
#[derive(Debug)]
pub struct Reserved {
    key: String,
    amount: u64,
    /// The UTC day the units count against: record the turn's usage on
    /// this day, even if it ends after midnight.
    pub day: NaiveDate,
    /// The counter after this reservation.
    pub used: u64,
    /// The daily limit the reservation was checked against.
    pub limit: u64,
}

/// Reserves `amount` units of today's `meter` for `user`, checked against
/// `limit` and counted in the same atomic Redis step. When Redis has no
/// counter for the day it is first seeded from the day's durable usage in
/// Postgres.
///
/// # Errors
///
/// [`AppError::RateLimited`] (retry at the next UTC midnight, counted in
/// `heyclaw_quota_refusals_total`) when the units would take the counter
/// past `limit` — nothing is counted then; [`AppError::Storage`] when Redis
/// or Postgres fails.
pub async fn reserve(
    redis: &RedisStore,
    pg: &PgPool,
    user: UserId,
    meter: Meter,
    amount: u64,
    limit: u64,
) -> Result<Reserved, AppError> {
    let day = today();
    let key = meter.key(user, day);
    let mut outcome = redis
        .reserve(&key, amount, limit, COUNTER_TTL, None)
        .await?;
    if outcome == Reservation::NeedsSeed {
        let seed = meter.durable(pg, user, day).await?;
        outcome = redis
            .reserve(&key, amount, limit, COUNTER_TTL, Some(seed))
            .await?;
    }
    match outcome {
        Reservation::Granted { total } => Ok(Reserved {
            key,
            amount,
            day,
            used: total,
            limit,
        }),
        Reservation::Refused { .. } | Reservation::NeedsSeed => {
            metrics::counter!("heyclaw_quota_refusals_total", "meter" => meter.name()).increment(1);
            Err(AppError::RateLimited {
                message: meter.refusal().to_owned(),
                retry_after: until_reset(),
            })
        }
    }
}

/// Today's count of `meter` as Redis has it (answered and in flight), if
/// Redis has a counter for today.
///
/// # Errors
///
/// [`AppError::Storage`] when Redis fails.
pub async fn used_today(
    redis: &RedisStore,
    user: UserId,
    meter: Meter,
) -> Result<Option<u64>, AppError> {
    Ok(redis.counter(&meter.key(user, today())).await?)
}

impl Reserved {
    /// Gives the units back (everything reserved and added): the work they
    /// were reserved for did not happen. Never fails: a Redis error is
    /// logged and the units stay counted until the day's counter expires.
    pub async fn release(self, redis: &RedisStore) {
        if let Err(err) = redis.release(&self.key, self.amount).await {
            tracing::error!(error = %err, "could not release a quota reservation");
        }
    }

    /// Counts `more` units on top, without a limit check (usage measured
    /// after the fact, like the seconds of a spoken reply), so the total may
    /// end above the limit. Returns the total; a later
    /// [`Reserved::release`] gives these units back too.
    ///
    /// # Errors
    ///
    /// [`AppError::Storage`] when Redis fails (nothing is added).
    pub async fn add(&mut self, redis: &RedisStore, more: u64) -> Result<u64, AppError> {
        if let Reservation::Granted { total } = redis
            .reserve(&self.key, more, u64::MAX, COUNTER_TTL, Some(self.used))
            .await?
        {
            self.used = total;
            self.amount += more;
        }
        Ok(self.used)
    }
}
