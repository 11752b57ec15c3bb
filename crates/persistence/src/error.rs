/// Every way storage can fail, as one enum for the layers above.
#[derive(Debug, thiserror::Error)]
pub enum PersistenceError {
    /// No database connection became free within the pool's wait timeout,
    /// or none could be opened: the caller should answer "try again".
    #[error("database unavailable: {0}")]
    DatabaseUnavailable(String),
    #[error("database query failed: {0}")]
    Query(#[from] diesel::result::Error),
    #[error("redis unavailable: {0}")]
    RedisUnavailable(String),
    #[error("redis command failed: {0}")]
    Redis(#[from] deadpool_redis::redis::RedisError),
    #[error("migrations failed: {0}")]
    Migration(String),
    #[error("invalid storage configuration: {0}")]
    Config(String),
}

impl PersistenceError {
    /// True when the failure is a missing resource (pool exhausted, server
    /// down) rather than a bad query — the HTTP layer answers 503 for these.
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
