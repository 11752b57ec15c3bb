//! Password-reset tokens: stored as hashes, single use, spent atomically.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use crate::{PersistenceError, models::NewPasswordResetToken, schema::password_reset_tokens};

/// Stores a new reset token. Earlier tokens of the user stay valid until
/// they expire or one is spent (the caller then spends them all with
/// [`consume_all_for_user`]).
pub async fn insert(
    conn: &mut AsyncPgConnection,
    token: &NewPasswordResetToken<'_>,
) -> Result<(), PersistenceError> {
    diesel::insert_into(password_reset_tokens::table)
        .values(token)
        .execute(conn)
        .await?;
    Ok(())
}

/// Spends a reset token: one statement marks it used if it is unused and
/// unexpired, so two concurrent resets with one token cannot both succeed.
/// Returns the user it belongs to; `None` for a token that is unknown,
/// spent or expired (callers cannot tell which).
/// Expired means `expires_at <= now` (the caller's clock).
pub async fn consume(
    conn: &mut AsyncPgConnection,
    hash: &[u8],
    now: DateTime<Utc>,
) -> Result<Option<Uuid>, PersistenceError> {
    Ok(diesel::update(
        password_reset_tokens::table
            .filter(password_reset_tokens::token_hash.eq(hash))
            .filter(password_reset_tokens::used_at.is_null())
            .filter(password_reset_tokens::expires_at.gt(now)),
    )
    .set(password_reset_tokens::used_at.eq(now))
    .returning(password_reset_tokens::user_id)
    .get_result(conn)
    .await
    .optional()?)
}

/// Spends every outstanding reset token of a user (after a reset, older
/// links must stop working). Returns how many were spent, stamped `now`.
pub async fn consume_all_for_user(
    conn: &mut AsyncPgConnection,
    user_id: Uuid,
    now: DateTime<Utc>,
) -> Result<usize, PersistenceError> {
    Ok(diesel::update(
        password_reset_tokens::table
            .filter(password_reset_tokens::user_id.eq(user_id))
            .filter(password_reset_tokens::used_at.is_null()),
    )
    .set(password_reset_tokens::used_at.eq(now))
    .execute(conn)
    .await?)
}
