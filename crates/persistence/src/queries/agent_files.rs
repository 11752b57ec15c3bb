//! A user's workspace files as archived in Postgres: what a slot is filled
//! with when the user wakes, and where the keeper saves them when the user
//! leaves the slot (and, as a copy, while they are resident).

use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use crate::{PersistenceError, schema::agent_files};

/// One file: its path relative to the workspace, and its bytes.
pub type WorkspaceFile = (String, Vec<u8>);

/// The user's archived files, by path; empty when nothing is archived
/// (or the user does not exist).
pub async fn load(
    conn: &mut AsyncPgConnection,
    user_id: Uuid,
) -> Result<Vec<WorkspaceFile>, PersistenceError> {
    Ok(agent_files::table
        .filter(agent_files::user_id.eq(user_id))
        .order(agent_files::path.asc())
        .select((agent_files::path, agent_files::content))
        .load(conn)
        .await?)
}

/// Makes the archive exactly `files`, in one transaction: paths not in
/// `files` are deleted, the others inserted or overwritten (stamped with
/// the database's `now()`). False when the user no longer exists (deleted
/// meanwhile): nothing is kept for them. Of two files with one path, the
/// later wins. One insert per file: meant for workspaces of tens of files.
pub async fn replace(
    conn: &mut AsyncPgConnection,
    user_id: Uuid,
    files: &[WorkspaceFile],
) -> Result<bool, PersistenceError> {
    let saved = crate::transaction(conn, async |conn| {
        diesel::delete(
            agent_files::table
                .filter(agent_files::user_id.eq(user_id))
                .filter(agent_files::path.ne_all(files.iter().map(|(path, _)| path))),
        )
        .execute(conn)
        .await?;
        for (path, content) in files {
            diesel::insert_into(agent_files::table)
                .values((
                    agent_files::user_id.eq(user_id),
                    agent_files::path.eq(path),
                    agent_files::content.eq(content),
                ))
                .on_conflict((agent_files::user_id, agent_files::path))
                .do_update()
                .set((
                    agent_files::content.eq(content),
                    agent_files::updated_at.eq(diesel::dsl::now),
                ))
                .execute(conn)
                .await?;
        }
        Ok::<_, PersistenceError>(())
    })
    .await;
    match saved {
        Ok(()) => Ok(true),
        Err(PersistenceError::Query(diesel::result::Error::DatabaseError(
            diesel::result::DatabaseErrorKind::ForeignKeyViolation,
            _,
        ))) => Ok(false),
        Err(err) => Err(err),
    }
}

/// Whether the user has anything archived (a brand-new user has not).
pub async fn exists(conn: &mut AsyncPgConnection, user_id: Uuid) -> Result<bool, PersistenceError> {
    Ok(diesel::select(diesel::dsl::exists(
        agent_files::table.filter(agent_files::user_id.eq(user_id)),
    ))
    .get_result(conn)
    .await?)
}
