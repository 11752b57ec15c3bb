use std::time::Duration;

use deadpool_redis::{Config, Pool, Runtime, redis};

use crate::PersistenceError;

#[derive(Debug, Clone)]
pub struct RedisPoolSettings {
    pub max_size: usize,
    pub wait_timeout: Duration,
    pub connect_timeout: Duration,
    /// Every key this process writes starts with `<prefix>:`. Deployments
    /// sharing a Redis, and parallel tests, each get their own keyspace.
    pub key_prefix: String,
}

/// The Redis pool plus the keyspace prefix all keys go through.
#[derive(Clone)]
pub struct RedisStore {
    pool: Pool,
    prefix: String,
}

impl RedisStore {
    pub fn connect(url: &str, settings: &RedisPoolSettings) -> Result<Self, PersistenceError> {
        let pool = Config::from_url(url)
            .builder()
            .map_err(|err| PersistenceError::Config(err.to_string()))?
            .max_size(settings.max_size)
            .wait_timeout(Some(settings.wait_timeout))
            .create_timeout(Some(settings.connect_timeout))
            .recycle_timeout(Some(settings.connect_timeout))
            .runtime(Runtime::Tokio1)
            .build()
            .map_err(|err| PersistenceError::Config(err.to_string()))?;
        Ok(Self {
            pool,
            prefix: settings.key_prefix.clone(),
        })
    }

    /// The full key for a logical key, e.g. `key("blacklist:<jti>")`.
    pub fn key(&self, logical: &str) -> String {
        format!("{}:{logical}", self.prefix)
    }

    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    pub async fn connection(&self) -> Result<deadpool_redis::Connection, PersistenceError> {
        Ok(self.pool.get().await?)
    }

    pub async fn ping(&self) -> Result<(), PersistenceError> {
        let mut conn = self.connection().await?;
        let _: String = redis::cmd("PING").query_async(&mut conn).await?;
        Ok(())
    }

    /// Deletes every key of this store's keyspace. Used by tests to leave
    /// nothing behind; never called by the server.
    pub async fn delete_keyspace(&self) -> Result<u64, PersistenceError> {
        let mut conn = self.connection().await?;
        let pattern = format!("{}:*", self.prefix);
        let mut cursor: u64 = 0;
        let mut deleted = 0;
        loop {
            let (next, keys): (u64, Vec<String>) = redis::cmd("SCAN")
                .arg(cursor)
                .arg("MATCH")
                .arg(&pattern)
                .arg("COUNT")
                .arg(500)
                .query_async(&mut conn)
                .await?;
            if !keys.is_empty() {
                deleted += redis::cmd("DEL")
                    .arg(&keys)
                    .query_async::<u64>(&mut conn)
                    .await?;
            }
            if next == 0 {
                return Ok(deleted);
            }
            cursor = next;
        }
    }
}
