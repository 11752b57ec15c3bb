//! Change notifications. `heyclaw_user`: triggers announce every change
//! that alters what an access token resolves to (migration
//! `change_notifications`), so caches in every API replica can evict at
//! once. `heyclaw_slots`: a slot binding changed (migration `agent_slots`),
//! so the shard's keeper moves files at once.
//!
//! Each listener holds a dedicated connection (not a pooled one) for as long
//! as its stream lives. Notifications are only delivered while the
//! connection is up: one sent while nobody listened is lost, so a listener
//! that reconnects must assume it missed something.

use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use futures_util::{Stream, StreamExt};
use uuid::Uuid;

use crate::PersistenceError;

/// The channel the user triggers notify on; the payload is a user id, or
/// `*` for a change affecting everyone.
pub const USER_CHANNEL: &str = "heyclaw_user";

/// What changed, as announced on [`USER_CHANNEL`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UserChange {
    /// Something of this user.
    User(Uuid),
    /// Something of everyone (a plan's limits).
    All,
}

/// Opens a connection of its own, listens on [`USER_CHANNEL`], and yields
/// each change. The stream ends (or yields an error) when the connection is
/// lost: a cache must then forget everything and listen again.
///
/// A payload that is `*` or not a UUID is read as [`UserChange::All`], so
/// an unexpected message evicts too much rather than too little. Errors
/// with [`PersistenceError::DatabaseUnavailable`] when the connection
/// cannot be opened, `Query` when `LISTEN` fails. After the stream has
/// yielded an error it ends.
pub async fn user_changes(
    database_url: &str,
) -> Result<impl Stream<Item = Result<UserChange, PersistenceError>>, PersistenceError> {
    Ok(listen(database_url, USER_CHANNEL).await?.map(|payload| {
        payload.map(|payload| match payload.as_str() {
            "*" => UserChange::All,
            id => id.parse().map_or(UserChange::All, UserChange::User),
        })
    }))
}

/// The channel slot changes are announced on (by a trigger on
/// `agent_slots`); the payload is the shard (gateway) id.
pub const SLOT_CHANNEL: &str = "heyclaw_slots";

/// Opens a connection of its own, listens on [`SLOT_CHANNEL`] and yields the
/// shard of each change, for every shard (a keeper filters its own); errors
/// and ends like [`user_changes`].
pub async fn slot_changes(
    database_url: &str,
) -> Result<impl Stream<Item = Result<String, PersistenceError>>, PersistenceError> {
    listen(database_url, SLOT_CHANNEL).await
}

async fn listen(
    database_url: &str,
    channel: &'static str,
) -> Result<impl Stream<Item = Result<String, PersistenceError>>, PersistenceError> {
    let mut conn = AsyncPgConnection::establish(database_url)
        .await
        .map_err(|err| PersistenceError::DatabaseUnavailable(err.to_string()))?;
    diesel::sql_query(format!("LISTEN {channel}"))
        .execute(&mut conn)
        .await?;
    Ok(futures_util::stream::unfold(
        Some(conn),
        |state| async move {
            let mut conn = state?;
            let next = {
                let mut notifications = std::pin::pin!(conn.notifications_stream());
                notifications.next().await
            };
            match next {
                Some(Ok(notification)) => Some((Ok(notification.payload), Some(conn))),
                Some(Err(err)) => Some((Err(err.into()), None)),
                None => Some((
                    Err(PersistenceError::DatabaseUnavailable(
                        "the notification connection closed".to_owned(),
                    )),
                    None,
                )),
            }
        },
    ))
}
