use std::time::Duration;

use diesel_async::{
    AsyncConnection, AsyncPgConnection,
    pooled_connection::{AsyncDieselConnectionManager, deadpool::Pool},
};

use crate::PersistenceError;

/// The Postgres connection pool (deadpool). Cheap to clone: clones share
/// the same connections.
pub type PgPool = Pool<AsyncPgConnection>;
/// A connection checked out of the pool; it goes back when dropped. Pass
/// `&mut conn` where a query function wants `&mut AsyncPgConnection`.
pub type PooledPg = diesel_async::pooled_connection::deadpool::Object<AsyncPgConnection>;

/// How [`connect_pg_pool`] sizes and times its pool.
#[derive(Debug, Clone)]
pub struct PgPoolSettings {
    /// Most connections open at once (per process).
    pub max_size: usize,
    /// How long a request waits for a free connection before it gets a 503
    /// ([`PersistenceError::DatabaseUnavailable`]).
    pub wait_timeout: Duration,
    /// Bound on opening a new connection, and on the health check a pooled
    /// connection gets when it is handed out again.
    pub connect_timeout: Duration,
}

/// Builds the Postgres pool for `url` (`postgres://user:pass@host/db`).
/// Connections open lazily; call [`check_connection`] to fail fast at
/// start-up.
///
/// Nothing is connected here, so a wrong host or password only shows on
/// first use. Its timeouts run on tokio. Errors with
/// [`PersistenceError::Config`] only when the pool cannot be built from the
/// settings.
pub fn connect_pg_pool(url: &str, settings: &PgPoolSettings) -> Result<PgPool, PersistenceError> {
    let manager = AsyncDieselConnectionManager::<AsyncPgConnection>::new(url);
    Pool::builder(manager)
        .max_size(settings.max_size)
        .wait_timeout(Some(settings.wait_timeout))
        .create_timeout(Some(settings.connect_timeout))
        .recycle_timeout(Some(settings.connect_timeout))
        .runtime(deadpool_redis::Runtime::Tokio1)
        .build()
        .map_err(|err| PersistenceError::Config(err.to_string()))
}

/// Opens one connection outside any pool, e.g. to run migrations or for
/// tooling. [`PersistenceError::DatabaseUnavailable`] when it cannot
/// connect (bad URL, host down, authentication refused); no timeout of its
/// own beyond the driver's.
pub async fn establish(url: &str) -> Result<AsyncPgConnection, PersistenceError> {
    AsyncPgConnection::establish(url)
        .await
        .map_err(|err| PersistenceError::DatabaseUnavailable(err.to_string()))
}

/// Round-trips a trivial query (`SELECT 1`) through the pool: the start-up
/// and readiness check. [`PersistenceError::DatabaseUnavailable`] when no
/// connection can be had within the wait timeout, a `Query` error when the
/// server fails the statement.
pub async fn check_connection(pool: &PgPool) -> Result<(), PersistenceError> {
    use diesel_async::RunQueryDsl;
    let mut conn = pool.get().await?;
    diesel::sql_query("SELECT 1").execute(&mut conn).await?;
    Ok(())
}
