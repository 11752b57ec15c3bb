//! Chat history: a user's sessions and their ordered messages. Every
//! function is scoped to a user: another user's session reads as missing.
//! Answered turns are appended by [`turns::record_batch`](super::turns::record_batch).

use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use crate::{
    PersistenceError,
    models::{ChatMessage, ChatSession, NewChatMessage},
    schema::{chat_messages, chat_sessions},
    transaction,
};

/// The title of a session created by the server or by `POST /chat/sessions`.
pub const NEW_SESSION_TITLE: &str = "New Chat";

/// SQL function for the queries here. `define_sql_function!` always makes
/// it `pub`; the private module keeps it out of the crate's API.
mod sql {
    diesel::define_sql_function!(
        /// The database's `now()` as a `timestamptz` (the transaction's start).
        fn now() -> diesel::sql_types::Timestamptz
    );
}
use sql::now;

/// The user's sessions, most recently updated first.
pub async fn list_sessions(
    conn: &mut AsyncPgConnection,
    user_id: Uuid,
) -> Result<Vec<ChatSession>, PersistenceError> {
    Ok(chat_sessions::table
        .filter(chat_sessions::user_id.eq(user_id))
        .order((chat_sessions::updated_at.desc(), chat_sessions::id))
        .select(ChatSession::as_select())
        .load(conn)
        .await?)
}

/// Creates an empty session for the user and returns it. A title over 200
/// characters, or a user that does not exist, is a `Query` error.
pub async fn create_session(
    conn: &mut AsyncPgConnection,
    user_id: Uuid,
    title: &str,
) -> Result<ChatSession, PersistenceError> {
    Ok(diesel::insert_into(chat_sessions::table)
        .values((
            chat_sessions::user_id.eq(user_id),
            chat_sessions::title.eq(title),
        ))
        .returning(ChatSession::as_returning())
        .get_result(conn)
        .await?)
}

/// A session of this user with its messages in order; `None` for a session
/// that does not exist *or* belongs to someone else — callers cannot tell.
pub async fn get_session(
    conn: &mut AsyncPgConnection,
    user_id: Uuid,
    session_id: Uuid,
) -> Result<Option<(ChatSession, Vec<ChatMessage>)>, PersistenceError> {
    let Some(session) = chat_sessions::table
        .filter(chat_sessions::id.eq(session_id))
        .filter(chat_sessions::user_id.eq(user_id))
        .select(ChatSession::as_select())
        .first(conn)
        .await
        .optional()?
    else {
        return Ok(None);
    };
    let messages = messages_of(conn, session.id).await?;
    Ok(Some((session, messages)))
}

async fn messages_of(
    conn: &mut AsyncPgConnection,
    session_id: Uuid,
) -> Result<Vec<ChatMessage>, PersistenceError> {
    Ok(chat_messages::table
        .filter(chat_messages::session_id.eq(session_id))
        .order(chat_messages::position.asc())
        .select(ChatMessage::as_select())
        .load(conn)
        .await?)
}

/// Updates a session's title and/or replaces its whole message list, in
/// one transaction: readers see the old list or the new one, never a mix.
///
/// The session's row is locked while it changes, and its `updated_at` is
/// set to the database's `now()` even when both are `None` (a "touch").
/// New messages take positions from 0 in the order given. Returns the
/// session with its messages as they now stand; `None`, with nothing
/// written, when the session does not exist or is someone else's.
pub async fn update_session(
    conn: &mut AsyncPgConnection,
    user_id: Uuid,
    session_id: Uuid,
    title: Option<&str>,
    messages: Option<&[NewChatMessage]>,
) -> Result<Option<(ChatSession, Vec<ChatMessage>)>, PersistenceError> {
    transaction(conn, async |conn| {
        let owned = chat_sessions::table
            .filter(chat_sessions::id.eq(session_id))
            .filter(chat_sessions::user_id.eq(user_id))
            .select(chat_sessions::id)
            .for_update()
            .first::<Uuid>(conn)
            .await
            .optional()?;
        if owned.is_none() {
            return Ok(None);
        }
        if let Some(messages) = messages {
            diesel::delete(chat_messages::table.filter(chat_messages::session_id.eq(session_id)))
                .execute(conn)
                .await?;
            insert_messages(conn, session_id, 0, messages).await?;
        }
        let target = chat_sessions::table.filter(chat_sessions::id.eq(session_id));
        let session = match title {
            Some(title) => {
                diesel::update(target)
                    .set((
                        chat_sessions::title.eq(title),
                        chat_sessions::updated_at.eq(now()),
                    ))
                    .returning(ChatSession::as_returning())
                    .get_result(conn)
                    .await?
            }
            None => {
                diesel::update(target)
                    .set(chat_sessions::updated_at.eq(now()))
                    .returning(ChatSession::as_returning())
                    .get_result(conn)
                    .await?
            }
        };
        let messages = messages_of(conn, session_id).await?;
        Ok::<_, PersistenceError>(Some((session, messages)))
    })
    .await
}

async fn insert_messages(
    conn: &mut AsyncPgConnection,
    session_id: Uuid,
    first_position: i32,
    messages: &[NewChatMessage],
) -> Result<(), PersistenceError> {
    if messages.is_empty() {
        return Ok(());
    }
    let rows: Vec<_> = messages
        .iter()
        .zip(first_position..)
        .map(|(message, position)| {
            (
                chat_messages::session_id.eq(session_id),
                chat_messages::position.eq(position),
                chat_messages::client_id.eq(message.client_id.as_deref()),
                chat_messages::role.eq(message.role.as_str()),
                chat_messages::content.eq(message.content.as_str()),
                chat_messages::is_voice.eq(message.is_voice),
            )
        })
        .collect();
    diesel::insert_into(chat_messages::table)
        .values(rows)
        .execute(conn)
        .await?;
    Ok(())
}

/// Deletes one of the user's sessions with its messages; false when there
/// is no such session of this user.
pub async fn delete_session(
    conn: &mut AsyncPgConnection,
    user_id: Uuid,
    session_id: Uuid,
) -> Result<bool, PersistenceError> {
    Ok(diesel::delete(
        chat_sessions::table
            .filter(chat_sessions::id.eq(session_id))
            .filter(chat_sessions::user_id.eq(user_id)),
    )
    .execute(conn)
    .await?
        == 1)
}

/// The last `limit` messages of the user's most recently updated session,
/// in conversation order, with the session's id; `None` when the user has
/// no session. This is the session new turns are appended to.
pub async fn recent_messages(
    conn: &mut AsyncPgConnection,
    user_id: Uuid,
    limit: i64,
) -> Result<Option<(Uuid, Vec<ChatMessage>)>, PersistenceError> {
    let Some(session_id) = chat_sessions::table
        .filter(chat_sessions::user_id.eq(user_id))
        .order(chat_sessions::updated_at.desc())
        .select(chat_sessions::id)
        .first::<Uuid>(conn)
        .await
        .optional()?
    else {
        return Ok(None);
    };
    let mut messages: Vec<ChatMessage> = chat_messages::table
        .filter(chat_messages::session_id.eq(session_id))
        .order(chat_messages::position.desc())
        .limit(limit)
        .select(ChatMessage::as_select())
        .load(conn)
        .await?;
    messages.reverse();
    Ok(Some((session_id, messages)))
}
