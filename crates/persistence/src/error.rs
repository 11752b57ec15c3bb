/// Every way storage can fail, as one enum for the layers above.
///
/// Callers mostly ask two questions of it rather than match on it:
/// [`is_unavailable`](Self::is_unavailable) (answer "try again", 503) and
/// [`is_unique_violation`](Self::is_unique_violation) (a taken e-mail,
/// purchase or slot). The messages carry driver text, which may name tables
/// and values: log them, do not show them to users.
#[derive(Debug, thiserror::Error)]
pub enum PersistenceError {
    /// No database connection became free within the pool's wait timeout,
    /// or none could be opened: the caller should answer "try again".
    #[error("database unavailable: {0}")]
    DatabaseUnavailable(String),
    /// A statement failed: a constraint violation, a deadlock or
    /// serialization failure, a row that did not decode, or the connection
    /// dropping mid-query ([`is_unavailable`](Self::is_unavailable) says
    /// which of these mean "try again"). Also a `BEGIN` or `COMMIT` that
    /// failed in [`transaction`](crate::transaction).
    #[error("database query failed: {0}")]
    Query(#[from] diesel::result::Error),
    /// No Redis connection became free within the pool's wait timeout, or
    /// none could be opened.
    #[error("redis unavailable: {0}")]
    RedisUnavailable(String),
    /// A Redis command or script failed (including I/O errors and timeouts
    /// on an open connection, which count as unavailable).
    #[error("redis command failed: {0}")]
    Redis(#[from] deadpool_redis::redis::RedisError),
    /// Running or listing the embedded migrations failed (a migration's SQL,
    /// or the blocking task running it panicked).
    #[error("migrations failed: {0}")]
    Migration(String),
    /// A pool could not be built from its URL and settings, or a database
    /// name given to [`admin`](crate::admin) is not a plain identifier.
    #[error("invalid storage configuration: {0}")]
    Config(String),
}

impl PersistenceError {
    /// True when the failure is a missing resource (pool exhausted, server
    /// down) rather than a bad query — the HTTP layer answers 503 for these.
    ///
    /// Covers both `*Unavailable` variants, Redis I/O errors, dropped
    /// connections and timeouts, and Postgres connections closed or cut
    /// mid-query (recognised by the server's message text, e.g. during a
    /// shutdown or failover).
    pub fn is_unavailable(&self) -> bool {
        match self {
            Self::DatabaseUnavailable(_) | Self::RedisUnavailable(_) => true,
            Self::Redis(err) => {
                err.is_io_error() || err.is_connection_dropped() || err.is_timeout()
            }
            Self::Query(diesel::result::Error::DatabaseError(
                diesel::result::DatabaseErrorKind::ClosedConnection
                | diesel::result::DatabaseErrorKind::UnableToSendCommand,
                _,
            )) => true,
            // A server shutting down or a connection cut mid-query.
            Self::Query(diesel::result::Error::DatabaseError(_, info)) => {
                let message = info.message();
                message.contains("terminating connection")
                    || message.contains("connection closed")
                    || message.contains("the database system is")
            }
            Self::Query(diesel::result::Error::BrokenTransactionManager) => true,
            _ => false,
        }
    }

    /// True for a unique-constraint violation, which several use cases turn
    /// into a domain answer ("email already registered").
    ///
    /// Inside a caller's transaction such a violation aborts the
    /// transaction: roll back (or use a nested [`transaction`](crate::transaction),
    /// which is a savepoint) before issuing more statements.
    pub fn is_unique_violation(&self) -> bool {
        matches!(
            self,
            Self::Query(diesel::result::Error::DatabaseError(
                diesel::result::DatabaseErrorKind::UniqueViolation,
                _,
            ))
        )
    }
}

impl From<diesel_async::pooled_connection::deadpool::PoolError> for PersistenceError {
    fn from(err: diesel_async::pooled_connection::deadpool::PoolError) -> Self {
        Self::DatabaseUnavailable(err.to_string())
    }
}

impl From<deadpool_redis::PoolError> for PersistenceError {
    fn from(err: deadpool_redis::PoolError) -> Self {
        Self::RedisUnavailable(err.to_string())
    }
}
