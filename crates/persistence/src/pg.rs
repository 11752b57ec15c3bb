use std::time::Duration;

use diesel_async::{
    AsyncConnection, AsyncPgConnection,
    pooled_connection::{AsyncDieselConnectionManager, deadpool::Pool},
};

use crate::PersistenceError;

pub type PgPool = Pool<AsyncPgConnection>;
/// A connection checked out of the pool.
pub type PooledPg = diesel_async::pooled_connection::deadpool::Object<AsyncPgConnection>;

#[derive(Debug, Clone)]
pub struct PgPoolSettings {
    pub max_size: usize,
    /// How long a request waits for a free connection before it gets a 503.
    pub wait_timeout: Duration,
    pub connect_timeout: Duration,
}

/// Builds the Postgres pool. Connections open lazily; call
/// [`check_connection`] to fail fast at start-up.
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

/// Opens one connection outside any pool, e.g. to run migrations.
pub async fn establish(url: &str) -> Result<AsyncPgConnection, PersistenceError> {
    AsyncPgConnection::establish(url)
        .await
        .map_err(|err| PersistenceError::DatabaseUnavailable(err.to_string()))
}

/// Round-trips a trivial query through the pool.
pub async fn check_connection(pool: &PgPool) -> Result<(), PersistenceError> {
    use diesel_async::RunQueryDsl;
    let mut conn = pool.get().await?;
    diesel::sql_query("SELECT 1").execute(&mut conn).await?;
    Ok(())
}
