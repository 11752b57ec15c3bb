//! One-time codes sent by e-mail, to sign in or to confirm an account
//! deletion (the purpose). Only a keyed hash of a code is stored; a code is
//! spent on success and dies after too many wrong tries.
//!
//! Codes are keyed by the address as given, matched exactly: callers pass
//! the normalised (lower-cased) address. Checking a code (hash, expiry,
//! tries) is the caller's, under [`lock_latest`]'s lock.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use crate::{PersistenceError, schema::email_login_codes};

/// A stored code.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = email_login_codes, check_for_backend(diesel::pg::Pg))]
pub struct LoginCode {
    /// The code's row id.
    pub id: Uuid,
    /// The keyed hash of the code.
    pub code_hash: Vec<u8>,
    /// Wrong tries so far.
    pub attempts: i32,
    /// When it was spent, retired or replaced; `None` while live.
    pub used_at: Option<DateTime<Utc>>,
    /// After this it is refused (the caller checks).
    pub expires_at: DateTime<Utc>,
}

/// A code signs in.
pub const PURPOSE_LOGIN: &str = "login";
/// A code confirms an account deletion.
pub const PURPOSE_DELETE: &str = "delete";

/// Stores a new code for `email` and `purpose`, retiring every earlier live
/// one of that purpose: only the latest code works. Its own transaction;
/// the retired codes are stamped with the system clock, not a parameter.
pub async fn replace(
    conn: &mut AsyncPgConnection,
    email: &str,
    purpose: &str,
    code_hash: &[u8],
    expires_at: DateTime<Utc>,
) -> Result<(), PersistenceError> {
    crate::transaction(conn, async |conn| {
        diesel::update(
            email_login_codes::table
                .filter(email_login_codes::email.eq(email))
                .filter(email_login_codes::purpose.eq(purpose))
                .filter(email_login_codes::used_at.is_null()),
        )
        .set(email_login_codes::used_at.eq(Utc::now()))
        .execute(conn)
        .await?;
        diesel::insert_into(email_login_codes::table)
            .values((
                email_login_codes::email.eq(email),
                email_login_codes::purpose.eq(purpose),
                email_login_codes::code_hash.eq(code_hash),
                email_login_codes::expires_at.eq(expires_at),
            ))
            .execute(conn)
            .await?;
        Ok::<_, PersistenceError>(())
    })
    .await
}

/// The newest code of `email` for `purpose`, locked until the transaction
/// ends, so concurrent verifications of one code are serialised. Run it
/// in a transaction. It may be spent, retired or expired: the caller
/// checks `used_at` and `expires_at`.
pub async fn lock_latest(
    conn: &mut AsyncPgConnection,
    email: &str,
    purpose: &str,
) -> Result<Option<LoginCode>, PersistenceError> {
    Ok(email_login_codes::table
        .filter(email_login_codes::email.eq(email))
        .filter(email_login_codes::purpose.eq(purpose))
        .order(email_login_codes::created_at.desc())
        .select(LoginCode::as_select())
        .for_update()
        .first(conn)
        .await
        .optional()?)
}

/// Counts a wrong try; returns the tries so far. A code that does not
/// exist is a `Query` error (`NotFound`).
pub async fn add_attempt(conn: &mut AsyncPgConnection, id: Uuid) -> Result<i32, PersistenceError> {
    Ok(diesel::update(email_login_codes::table.find(id))
        .set(email_login_codes::attempts.eq(email_login_codes::attempts + 1))
        .returning(email_login_codes::attempts)
        .get_result(conn)
        .await?)
}

/// Spends (or kills) a code: stamps `used_at` with the system clock (again,
/// if it was already set). An unknown id changes nothing.
pub async fn retire(conn: &mut AsyncPgConnection, id: Uuid) -> Result<(), PersistenceError> {
    diesel::update(email_login_codes::table.find(id))
        .set(email_login_codes::used_at.eq(Utc::now()))
        .execute(conn)
        .await?;
    Ok(())
}
