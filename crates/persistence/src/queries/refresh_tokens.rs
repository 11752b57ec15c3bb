//! Refresh tokens: stored as hashes, single use, rotated under a row lock,
//! grouped in families (one per login session) that are revoked together.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use crate::{
    PersistenceError,
    models::{NewRefreshToken, RefreshToken},
    schema::refresh_tokens,
};

/// Stores a new token (a login's first, or a rotation's). A hash already
/// stored is a unique violation.
pub async fn insert(
    conn: &mut AsyncPgConnection,
    token: &NewRefreshToken<'_>,
) -> Result<(), PersistenceError> {
    diesel::insert_into(refresh_tokens::table)
        .values(token)
        .execute(conn)
        .await?;
    Ok(())
}

/// Finds a token by hash and locks its row until the transaction ends, so
/// two concurrent refreshes with one token are serialised: one rotates it,
/// the other sees it used. Run it in a transaction. The token may be used,
/// revoked or expired: the caller decides.
pub async fn lock_by_hash(
    conn: &mut AsyncPgConnection,
    hash: &[u8],
) -> Result<Option<RefreshToken>, PersistenceError> {
    Ok(refresh_tokens::table
        .filter(refresh_tokens::token_hash.eq(hash))
        .select(RefreshToken::as_select())
        .for_update()
        .first(conn)
        .await
        .optional()?)
}

/// Marks a token rotated at `at` (overwriting an earlier stamp). An unknown
/// id changes nothing.
pub async fn mark_used(
    conn: &mut AsyncPgConnection,
    id: Uuid,
    at: DateTime<Utc>,
) -> Result<(), PersistenceError> {
    diesel::update(refresh_tokens::table.find(id))
        .set(refresh_tokens::used_at.eq(at))
        .execute(conn)
        .await?;
    Ok(())
}

/// Whether a token rotated from `id` has itself been used: then `id` is no
/// longer the family's latest rotation.
pub async fn has_used_child(
    conn: &mut AsyncPgConnection,
    id: Uuid,
) -> Result<bool, PersistenceError> {
    Ok(diesel::select(diesel::dsl::exists(
        refresh_tokens::table
            .filter(refresh_tokens::parent_id.eq(id))
            .filter(refresh_tokens::used_at.is_not_null()),
    ))
    .get_result(conn)
    .await?)
}

/// Revokes every live token of one login session and returns how many.
/// Stamped with the system clock. Live access tokens of that session die
/// with it (the per-request check reads the family), and API replicas hear
/// of it (`NOTIFY heyclaw_user`).
pub async fn revoke_family(
    conn: &mut AsyncPgConnection,
    family_id: Uuid,
) -> Result<usize, PersistenceError> {
    Ok(diesel::update(
        refresh_tokens::table
            .filter(refresh_tokens::family_id.eq(family_id))
            .filter(refresh_tokens::revoked_at.is_null()),
    )
    .set(refresh_tokens::revoked_at.eq(Utc::now()))
    .execute(conn)
    .await?)
}

/// Revokes every live token of the user, on every device, and returns how
/// many (e.g. after a password reset). Stamped with the system clock.
pub async fn revoke_all_for_user(
    conn: &mut AsyncPgConnection,
    user_id: Uuid,
) -> Result<usize, PersistenceError> {
    Ok(diesel::update(
        refresh_tokens::table
            .filter(refresh_tokens::user_id.eq(user_id))
            .filter(refresh_tokens::revoked_at.is_null()),
    )
    .set(refresh_tokens::revoked_at.eq(Utc::now()))
    .execute(conn)
    .await?)
}
