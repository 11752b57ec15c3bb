use diesel_async::{AsyncMigrationHarness, AsyncPgConnection};
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};

use crate::PersistenceError;

/// The schema migrations in `migrations/`, compiled into the binary so a
/// deployed server can migrate its database without the source tree.
pub const MIGRATIONS: EmbeddedMigrations = embed_migrations!("../../migrations");

/// Applies every pending migration of [`MIGRATIONS`] and returns how many
/// ran (0 when the database is current).
///
/// Takes the connection by value (it is consumed; open one with
/// [`establish`](crate::establish)). Each migration runs in its own
/// transaction, so a failure leaves the earlier ones applied and the failing
/// one not; it is reported as [`PersistenceError::Migration`].
///
/// Diesel's migration runner is synchronous; it runs on the blocking pool so
/// that it works from any tokio runtime flavour (which must be running).
pub async fn run_migrations(conn: AsyncPgConnection) -> Result<usize, PersistenceError> {
    tokio::task::spawn_blocking(move || {
        let mut harness = AsyncMigrationHarness::new(conn);
        harness
            .run_pending_migrations(MIGRATIONS)
            .map(|applied| applied.len())
            .map_err(|err| PersistenceError::Migration(err.to_string()))
    })
    .await
    .map_err(|err| PersistenceError::Migration(err.to_string()))?
}

/// The names of the migrations of [`MIGRATIONS`] not yet applied to this
/// database, oldest first; empty when it is current. Changes nothing.
/// Consumes the connection like [`run_migrations`]; failures are
/// [`PersistenceError::Migration`].
pub async fn pending_migrations(conn: AsyncPgConnection) -> Result<Vec<String>, PersistenceError> {
    tokio::task::spawn_blocking(move || {
        let mut harness = AsyncMigrationHarness::new(conn);
        harness
            .pending_migrations(MIGRATIONS)
            .map(|pending| pending.iter().map(|m| m.name().to_string()).collect())
            .map_err(|err| PersistenceError::Migration(err.to_string()))
    })
    .await
    .map_err(|err| PersistenceError::Migration(err.to_string()))?
}
