//! What a user sees of their own account: `GET /user/me`.

use chrono::Utc;
use heyclaw_domain::UserId;
use heyclaw_persistence::{PersistenceError, PgPool, models::Profile, queries::profile};

use crate::AppError;

/// The profile with today's usage. Days are UTC days: usage resets at 00:00 UTC.
pub async fn load(pg: &PgPool, user: UserId) -> Result<Profile, AppError> {
    let mut conn = pg.get().await.map_err(PersistenceError::from)?;
    profile::load(&mut conn, user.0, Utc::now().date_naive())
        .await?
        .ok_or(AppError::NotFound("User not found"))
}
