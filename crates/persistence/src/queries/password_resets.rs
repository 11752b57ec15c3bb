use chrono::Utc;
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use crate::{PersistenceError, models::NewPasswordResetToken, schema::password_reset_tokens};

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
/// Returns the user it belongs to.
pub async fn consume(
    conn: &mut AsyncPgConnection,
    hash: &[u8],
) -> Result<Option<Uuid>, PersistenceError> {
    let now = Utc::now();
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
/// links must stop working).
pub async fn consume_all_for_user(
    conn: &mut AsyncPgConnection,
    user_id: Uuid,
) -> Result<usize, PersistenceError> {
    Ok(diesel::update(
        password_reset_tokens::table
            .filter(password_reset_tokens::user_id.eq(user_id))
            .filter(password_reset_tokens::used_at.is_null()),
    )
    .set(password_reset_tokens::used_at.eq(Utc::now()))
    .execute(conn)
    .await?)
}
