//! Daily quotas. A unit is *reserved* before the work it pays for, in one
//! atomic Redis step (check and increment together — never check-then-
//! increment), and *released* if the work fails. Postgres keeps the durable
//! count of what was actually used; Redis is seeded from it when it has no
//! counter for the day (a new day, or a Redis that lost its data).
//!
//! Days are UTC days.

use std::time::Duration;

use chrono::{NaiveDate, Utc};
use heyclaw_domain::UserId;
use heyclaw_persistence::{PersistenceError, PgPool, RedisStore, Reservation, queries::usage};

use crate::AppError;

/// Counters outlive their day a little, for requests straddling midnight.
const COUNTER_TTL: Duration = Duration::from_secs(48 * 3600);

pub fn today() -> NaiveDate {
    Utc::now().date_naive()
}

/// Time until the next UTC midnight, when daily quotas reset.
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

/// One reserved text message, to be kept (the reply came) or released.
#[derive(Debug)]
pub struct TextReservation {
    key: String,
    pub day: NaiveDate,
    pub used: u64,
    pub limit: u64,
}

fn text_key(user: UserId, day: NaiveDate) -> String {
    format!("quota:text:{day}:{user}")
}

/// Reserves one text message of today's quota, or refuses with 429.
pub async fn reserve_text(
    redis: &RedisStore,
    pg: &PgPool,
    user: UserId,
    limit: u64,
) -> Result<TextReservation, AppError> {
    let day = today();
    let key = text_key(user, day);
    let mut outcome = redis.reserve(&key, 1, limit, COUNTER_TTL, None).await?;
    if outcome == Reservation::NeedsSeed {
        let durable = {
            let mut conn = pg.get().await.map_err(PersistenceError::from)?;
            usage::text_messages_on(&mut conn, user.0, day).await?
        };
        let seed = u64::try_from(durable).unwrap_or(0);
        outcome = redis
            .reserve(&key, 1, limit, COUNTER_TTL, Some(seed))
            .await?;
    }
    match outcome {
        Reservation::Granted { total } => Ok(TextReservation {
            key,
            day,
            used: total,
            limit,
        }),
        Reservation::Refused { .. } | Reservation::NeedsSeed => Err(AppError::RateLimited {
            message: "Daily message limit reached. Upgrade your plan.".to_owned(),
            retry_after: until_reset(),
        }),
    }
}

/// Today's text messages as Redis counts them (answered and in flight),
/// if Redis has a counter for today.
pub async fn text_used_today(redis: &RedisStore, user: UserId) -> Result<Option<u64>, AppError> {
    Ok(redis.counter(&text_key(user, today())).await?)
}

impl TextReservation {
    /// Gives the unit back: the work it reserved for did not happen.
    pub async fn release(self, redis: &RedisStore) {
        if let Err(err) = redis.release(&self.key, 1).await {
            tracing::error!(error = %err, "could not release a quota reservation");
        }
    }
}
