//! Accounts: creating one whole, finding users, the per-request session
//! check, credentials and profile changes, deletion.

use diesel::prelude::*;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use heyclaw_domain::{AgentId, UserId};
use uuid::Uuid;

use crate::{
    PersistenceError,
    models::{NewAssistant, NewUser, User},
    schema::{assistants, subscriptions, users},
};

/// SQL functions for the queries here. `define_sql_function!` always makes
/// them `pub`; the private module keeps them out of the crate's API.
mod sql {
    diesel::define_sql_function!(
        /// SQL `lower(text)`.
        fn lower(x: diesel::sql_types::Text) -> diesel::sql_types::Text
    );
}
use sql::lower;

/// The display name an assistant gets when its user gave no name
/// (the same as the column's default).
pub const DEFAULT_ASSISTANT_NAME: &str = "My Assistant";

/// Creates a user, their free subscription and their assistant row in one
/// transaction: either the whole account exists or none of it does. A
/// taken e-mail (whatever its case) or Apple subject surfaces as a unique
/// violation ([`PersistenceError::is_unique_violation`]).
///
/// The subscription starts on the `free` plan; the assistant is
/// `agent-<user id>`, named after the user (else
/// [`DEFAULT_ASSISTANT_NAME`]), in status `provisioning` on the `default`
/// shard: placing and provisioning it is the caller's next step.
pub async fn create_account(
    conn: &mut AsyncPgConnection,
    new_user: &NewUser<'_>,
) -> Result<User, PersistenceError> {
    conn.transaction::<User, PersistenceError, _>(async |conn| {
        let user: User = diesel::insert_into(users::table)
            .values(new_user)
            .returning(User::as_returning())
            .get_result(conn)
            .await?;
        diesel::insert_into(subscriptions::table)
            .values(subscriptions::user_id.eq(user.id))
            .execute(conn)
            .await?;
        let agent_id = AgentId::for_user(UserId(user.id));
        diesel::insert_into(assistants::table)
            .values(NewAssistant {
                user_id: user.id,
                agent_id: agent_id.as_str(),
                display_name: new_user.name.unwrap_or(DEFAULT_ASSISTANT_NAME),
            })
            .execute(conn)
            .await?;
        Ok(user)
    })
    .await
}

/// The user with this address, compared case-insensitively (both sides are
/// lower-cased); the address is not trimmed here.
pub async fn find_by_email(
    conn: &mut AsyncPgConnection,
    email: &str,
) -> Result<Option<User>, PersistenceError> {
    Ok(users::table
        .filter(lower(users::email).eq(email.to_lowercase()))
        .select(User::as_select())
        .first(conn)
        .await
        .optional()?)
}

/// The user linked to this Sign in with Apple subject (exact match).
pub async fn find_by_apple_sub(
    conn: &mut AsyncPgConnection,
    sub: &str,
) -> Result<Option<User>, PersistenceError> {
    Ok(users::table
        .filter(users::apple_sub.eq(sub))
        .select(User::as_select())
        .first(conn)
        .await
        .optional()?)
}

/// Links an Apple account to an existing user, replacing any subject
/// linked before. A subject already linked to another user is a unique
/// violation; an unknown `id` changes nothing and is not an error.
pub async fn set_apple_sub(
    conn: &mut AsyncPgConnection,
    id: Uuid,
    sub: &str,
) -> Result<(), PersistenceError> {
    diesel::update(users::table.find(id))
        .set(users::apple_sub.eq(sub))
        .execute(conn)
        .await?;
    Ok(())
}

/// The user with this id.
pub async fn find_by_id(
    conn: &mut AsyncPgConnection,
    id: Uuid,
) -> Result<Option<User>, PersistenceError> {
    Ok(users::table
        .find(id)
        .select(User::as_select())
        .first(conn)
        .await
        .optional()?)
}

/// What the per-request auth check needs, in one statement: the user's
/// status, and whether the login session (refresh-token family) the access
/// token belongs to is still live — logout, reuse detection and a password
/// reset revoke every token of a family, so their access tokens die with
/// it even when Redis has lost its revocation list.
///
/// Returns `(status, session_live)`; `None` when the user does not exist.
/// A family that belongs to another user reads as not live.
pub async fn session_status(
    conn: &mut AsyncPgConnection,
    id: Uuid,
    family: Uuid,
) -> Result<Option<(String, bool)>, PersistenceError> {
    use crate::schema::refresh_tokens;
    let live = diesel::dsl::exists(
        refresh_tokens::table
            .filter(refresh_tokens::family_id.eq(family))
            .filter(refresh_tokens::user_id.eq(id))
            .filter(refresh_tokens::revoked_at.is_null()),
    );
    Ok(users::table
        .find(id)
        .select((users::status, live))
        .first(conn)
        .await
        .optional()?)
}

/// Replaces the user's password hash; false when the user does not exist.
/// Revoking their sessions is the caller's job
/// ([`refresh_tokens::revoke_all_for_user`](super::refresh_tokens::revoke_all_for_user)).
pub async fn set_password_hash(
    conn: &mut AsyncPgConnection,
    id: Uuid,
    hash: &str,
) -> Result<bool, PersistenceError> {
    let updated = diesel::update(users::table.find(id))
        .set(users::password_hash.eq(hash))
        .execute(conn)
        .await?;
    Ok(updated == 1)
}

/// Deletes the user; every row they own goes with them (ON DELETE CASCADE):
/// subscription, assistant, tokens, usage, chats, automations, archived
/// files; their slot, if any, is left with no user. False when there was no such
/// user. What lives outside Postgres (Redis counters, a resident agent's
/// files on its gateway) is the caller's to clean up.
pub async fn delete_user(conn: &mut AsyncPgConnection, id: Uuid) -> Result<bool, PersistenceError> {
    Ok(diesel::delete(users::table.find(id)).execute(conn).await? == 1)
}

/// What a user may change of their profile; `None` fields stay as they are.
#[derive(Debug, Default, AsChangeset)]
#[diesel(table_name = users)]
pub struct ProfileChange<'a> {
    /// A new name (at most 200 characters). There is no way to clear it:
    /// `None` keeps the current one.
    pub name: Option<&'a str>,
    /// A new avatar URL (checked by the caller); `None` keeps it.
    pub avatar_url: Option<&'a str>,
    /// A new IANA time zone (checked by the caller; 1 to 64 characters);
    /// `None` keeps it. A resident user's shard is told of a change
    /// (`NOTIFY heyclaw_slots`) so the agent learns it.
    pub timezone: Option<&'a str>,
}

/// Applies a profile change. False when the user does not exist (or the
/// change is empty).
pub async fn update_profile(
    conn: &mut AsyncPgConnection,
    id: Uuid,
    change: &ProfileChange<'_>,
) -> Result<bool, PersistenceError> {
    if change.name.is_none() && change.avatar_url.is_none() && change.timezone.is_none() {
        return Ok(false);
    }
    Ok(diesel::update(users::table.find(id))
        .set(change)
        .execute(conn)
        .await?
        == 1)
}
