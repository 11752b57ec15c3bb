//! Chat history: a user's sessions and their ordered messages. Every
//! function is scoped to a user: another user's session reads as missing.
//! Answered turns are appended by [`turns::record_batch`](super::turns::record_batch).

use std::collections::{BTreeMap, HashMap};

use diesel::{
    prelude::*,
    sql_types::{Array, BigInt, Bool, Integer, Nullable, Text, Uuid as SqlUuid},
};
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

/// Appends each user's messages (in the order given) to that user's most
/// recent session, creating one (titled `new_title`) for a user who has
/// none; for callers in a transaction. A constant number of statements
/// whatever the number of users: the turn recorder appends a whole batch
/// at once.
///
/// Appends of one user are serialised by a transaction-scoped advisory lock
/// per user, so positions never collide; the locks are taken in the map's
/// (user-id) order, the same in every batch, so concurrent batches cannot
/// deadlock.
pub(crate) async fn append_in_transaction(
    conn: &mut AsyncPgConnection,
    per_user: &BTreeMap<Uuid, Vec<NewChatMessage>>,
    new_title: &str,
) -> Result<(), PersistenceError> {
    let per_user: Vec<(&Uuid, &Vec<NewChatMessage>)> = per_user
        .iter()
        .filter(|(_, messages)| !messages.is_empty())
        .collect();
    if per_user.is_empty() {
        return Ok(());
    }
    let users: Vec<Uuid> = per_user.iter().map(|(user, _)| **user).collect();
    let lock_keys: Vec<i64> = users.iter().map(|user| append_lock_key(*user)).collect();
    // `unnest` yields the keys in array order: the locks are taken in it.
    diesel::sql_query("SELECT pg_advisory_xact_lock(k) FROM unnest($1::bigint[]) AS k")
        .bind::<Array<BigInt>, _>(&lock_keys)
        .execute(conn)
        .await?;
    let tails: Vec<SessionTail> = diesel::sql_query(
        "SELECT u.user_id, s.id AS session_id,
                (SELECT max(m.position) FROM chat_messages m WHERE m.session_id = s.id) AS last_position
         FROM unnest($1::uuid[]) AS u (user_id)
         LEFT JOIN LATERAL (
             SELECT id FROM chat_sessions WHERE user_id = u.user_id ORDER BY updated_at DESC LIMIT 1
         ) AS s ON true",
    )
    .bind::<Array<SqlUuid>, _>(&users)
    .load(conn)
    .await?;
    let mut next: HashMap<Uuid, (Uuid, i32)> = HashMap::with_capacity(tails.len());
    for tail in tails {
        let session = match tail.session_id {
            Some(id) => (id, tail.last_position.map_or(0, |p| p + 1)),
            None => (create_session(conn, tail.user_id, new_title).await?.id, 0),
        };
        next.insert(tail.user_id, session);
    }
    let mut rows = MessageColumns::default();
    let mut sessions = Vec::with_capacity(per_user.len());
    for (user, messages) in per_user {
        let (session, first) = next
            .get(user)
            .copied()
            // The query answers a row per user asked for.
            .ok_or(diesel::result::Error::NotFound)?;
        sessions.push(session);
        for (message, position) in messages.iter().zip(first..) {
            rows.push(session, position, message);
        }
    }
    diesel::sql_query(
        "INSERT INTO chat_messages (session_id, position, client_id, role, content, is_voice)
         SELECT * FROM unnest($1::uuid[], $2::int[], $3::text[], $4::text[], $5::text[], $6::bool[])",
    )
    .bind::<Array<SqlUuid>, _>(&rows.session_id)
    .bind::<Array<Integer>, _>(&rows.position)
    .bind::<Array<Nullable<Text>>, _>(&rows.client_id)
    .bind::<Array<Text>, _>(&rows.role)
    .bind::<Array<Text>, _>(&rows.content)
    .bind::<Array<Bool>, _>(&rows.is_voice)
    .execute(conn)
    .await?;
    diesel::update(chat_sessions::table.filter(chat_sessions::id.eq_any(&sessions)))
        .set(chat_sessions::updated_at.eq(now()))
        .execute(conn)
        .await?;
    Ok(())
}

/// The advisory lock that serialises appends to one user's history.
fn append_lock_key(user_id: Uuid) -> i64 {
    let (head, _) = user_id.as_bytes().split_at(8);
    i64::from_be_bytes(head.try_into().unwrap_or_default())
}

/// A user's most recent session and its last position, if any.
#[derive(QueryableByName)]
struct SessionTail {
    #[diesel(sql_type = SqlUuid)]
    user_id: Uuid,
    #[diesel(sql_type = Nullable<SqlUuid>)]
    session_id: Option<Uuid>,
    #[diesel(sql_type = Nullable<Integer>)]
    last_position: Option<i32>,
}

/// Messages to insert, column by column (bound as arrays to `unnest`: six
/// parameters however many rows).
#[derive(Default)]
struct MessageColumns<'a> {
    session_id: Vec<Uuid>,
    position: Vec<i32>,
    client_id: Vec<Option<&'a str>>,
    role: Vec<&'a str>,
    content: Vec<&'a str>,
    is_voice: Vec<bool>,
}

impl<'a> MessageColumns<'a> {
    fn push(&mut self, session_id: Uuid, position: i32, message: &'a NewChatMessage) {
        self.session_id.push(session_id);
        self.position.push(position);
        self.client_id.push(message.client_id.as_deref());
        self.role.push(&message.role);
        self.content.push(&message.content);
        self.is_voice.push(message.is_voice);
    }
}
