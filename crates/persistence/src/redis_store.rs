use std::{sync::LazyLock, time::Duration};

use deadpool::managed::{Manager, Metrics, Object, Pool, RecycleResult};
use deadpool_redis::{
    Runtime,
    redis::{self, RedisError, RedisResult, aio::MultiplexedConnection},
};

use crate::PersistenceError;

/// How [`RedisStore::connect`] sizes and times its pool, and the keyspace.
#[derive(Debug, Clone)]
pub struct RedisPoolSettings {
    /// Most connections open at once (per process).
    pub max_size: usize,
    /// How long a call waits for a free connection before it fails with
    /// [`PersistenceError::RedisUnavailable`].
    pub wait_timeout: Duration,
    /// Bound on opening a new connection, and on the check a pooled
    /// connection gets when it is handed out again after a quiet spell.
    pub connect_timeout: Duration,
    /// Every key this process writes starts with `<prefix>:`. Deployments
    /// sharing a Redis, and parallel tests, each get their own keyspace.
    pub key_prefix: String,
}

/// The Redis pool plus the keyspace prefix all keys go through.
///
/// Cheap to clone (clones share the pool). Every method takes a *logical*
/// key and prefixes it itself; each borrows a pooled connection for the
/// call, so a Redis that is down or saturated shows as
/// [`PersistenceError::RedisUnavailable`] (or a `Redis` error that
/// [`is_unavailable`](PersistenceError::is_unavailable)). Counters are
/// changed by Lua scripts, so each check-and-change is atomic across
/// replicas.
#[derive(Clone)]
pub struct RedisStore {
    pool: Pool<QuietCheckManager>,
    prefix: String,
}

/// A pooled connection handed out again within this of its last hand-out
/// is not checked first: it is in steady use, and a call that finds it
/// broken discards it ([`RedisStore::with_connection`]).
const CHECK_AFTER_QUIET: Duration = Duration::from_secs(5);

/// deadpool-redis's manager, except for the check on hand-out. Upstream
/// round-trips `UNWATCH`+`PING` every time, which doubled the Redis round
/// trips of the message path (one script call per message). Here only a
/// connection that was quiet for [`CHECK_AFTER_QUIET`] is checked — the
/// case where Redis may have restarted unseen.
struct QuietCheckManager(deadpool_redis::Manager);

impl Manager for QuietCheckManager {
    type Type = MultiplexedConnection;
    type Error = RedisError;

    async fn create(&self) -> RedisResult<MultiplexedConnection> {
        self.0.create().await
    }

    async fn recycle(
        &self,
        conn: &mut MultiplexedConnection,
        metrics: &Metrics,
    ) -> RecycleResult<RedisError> {
        if metrics.last_used() < CHECK_AFTER_QUIET {
            return Ok(());
        }
        self.0.recycle(conn, metrics).await
    }
}

impl RedisStore {
    /// Builds the pool for `url` (`redis://host:port/db`). Connects lazily:
    /// call [`ping`](Self::ping) to fail fast at start-up.
    /// [`PersistenceError::Config`] for a URL Redis cannot parse or a pool
    /// that cannot be built.
    pub fn connect(url: &str, settings: &RedisPoolSettings) -> Result<Self, PersistenceError> {
        let manager = deadpool_redis::Manager::new(url)
            .map_err(|err| PersistenceError::Config(err.to_string()))?;
        let pool = Pool::builder(QuietCheckManager(manager))
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

    /// The full key for a logical key: `<prefix>:<logical>`, e.g.
    /// `key("blacklist:<jti>")`. Pure; for commands this type has no
    /// method for.
    pub fn key(&self, logical: &str) -> String {
        format!("{}:{logical}", self.prefix)
    }

    /// The keyspace prefix (without the trailing `:`).
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// Runs `call` on a pooled connection. [`PersistenceError::RedisUnavailable`]
    /// when none is free within the wait timeout or none can be opened. A
    /// connection the call found broken (an error that
    /// [`is_unavailable`](PersistenceError::is_unavailable): I/O, dropped,
    /// timed out) is discarded rather than pooled again: connections in
    /// steady use are not checked on hand-out.
    async fn with_connection<T>(
        &self,
        call: impl AsyncFnOnce(&mut MultiplexedConnection) -> RedisResult<T>,
    ) -> Result<T, PersistenceError> {
        let mut conn = self.pool.get().await?;
        let result = call(&mut conn).await.map_err(PersistenceError::from);
        if result.as_ref().is_err_and(PersistenceError::is_unavailable) {
            drop(Object::take(conn));
        }
        result
    }

    /// Round-trips a `PING`: the start-up and readiness check.
    pub async fn ping(&self) -> Result<(), PersistenceError> {
        let _: String = self
            .with_connection(async |conn| redis::cmd("PING").query_async(conn).await)
            .await?;
        Ok(())
    }

    /// Deletes every key of this store's keyspace and returns how many.
    /// Used by tests to leave nothing behind; never called by the server.
    ///
    /// Walks the keyspace with `SCAN` (non-blocking, not atomic): keys
    /// written meanwhile may survive. Keys outside the prefix are never
    /// touched.
    pub async fn delete_keyspace(&self) -> Result<u64, PersistenceError> {
        let pattern = format!("{}:*", self.prefix);
        self.with_connection(async |conn| {
            let mut cursor: u64 = 0;
            let mut deleted = 0;
            loop {
                let (next, keys): (u64, Vec<String>) = redis::cmd("SCAN")
                    .arg(cursor)
                    .arg("MATCH")
                    .arg(&pattern)
                    .arg("COUNT")
                    .arg(500)
                    .query_async(conn)
                    .await?;
                if !keys.is_empty() {
                    deleted += redis::cmd("DEL")
                        .arg(&keys)
                        .query_async::<u64>(conn)
                        .await?;
                }
                if next == 0 {
                    return Ok(deleted);
                }
                cursor = next;
            }
        })
        .await
    }
}

/// A fixed-window attempt counter after one more attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AttemptCount {
    /// Attempts counted in the current window, this one included (1 for
    /// the first).
    pub count: u64,
    /// Time until the window resets.
    pub resets_in: Duration,
}

/// INCR and, for the first hit of a window, set its expiry — atomically, so
/// a crash between the two can never leave a counter that never expires.
static COUNT_ATTEMPT: LazyLock<redis::Script> = LazyLock::new(|| {
    redis::Script::new(
        r"
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then redis.call('PEXPIRE', KEYS[1], ARGV[1]); ttl = tonumber(ARGV[1]) end
return {n, ttl}
",
    )
});

/// DECR that never goes below zero and never creates a key.
static UNCOUNT_ATTEMPT: LazyLock<redis::Script> = LazyLock::new(|| {
    redis::Script::new(
        r"
local n = tonumber(redis.call('GET', KEYS[1]) or '0')
if n > 0 then return redis.call('DECR', KEYS[1]) end
return 0
",
    )
});

impl RedisStore {
    /// Counts one attempt in the window `logical_key` names and returns the
    /// count so far; the caller compares it with its limit.
    ///
    /// Fixed window: the first attempt starts a window of `window` (at
    /// least 1 ms); later ones do not extend it, and the counter vanishes
    /// when it ends. A counter found without an expiry gets one, so none
    /// lives forever.
    pub async fn count_attempt(
        &self,
        logical_key: &str,
        window: Duration,
    ) -> Result<AttemptCount, PersistenceError> {
        let millis = u64::try_from(window.as_millis()).unwrap_or(u64::MAX).max(1);
        let (count, ttl): (u64, i64) = self
            .with_connection(async |conn| {
                COUNT_ATTEMPT
                    .key(self.key(logical_key))
                    .arg(millis)
                    .invoke_async(conn)
                    .await
            })
            .await?;
        Ok(AttemptCount {
            count,
            resets_in: Duration::from_millis(u64::try_from(ttl).unwrap_or(0)),
        })
    }

    /// Takes back one counted attempt (e.g. a login that succeeded). Never
    /// goes below zero, never creates a counter, and leaves the window's
    /// expiry as it is.
    pub async fn uncount_attempt(&self, logical_key: &str) -> Result<(), PersistenceError> {
        let _: i64 = self
            .with_connection(async |conn| {
                UNCOUNT_ATTEMPT
                    .key(self.key(logical_key))
                    .invoke_async(conn)
                    .await
            })
            .await?;
        Ok(())
    }

    /// Forgets a counter entirely (its window too). Nothing happens when it
    /// does not exist.
    pub async fn reset_attempts(&self, logical_key: &str) -> Result<(), PersistenceError> {
        let _: u64 = self
            .with_connection(async |conn| {
                redis::cmd("DEL")
                    .arg(self.key(logical_key))
                    .query_async(conn)
                    .await
            })
            .await?;
        Ok(())
    }
}

/// The answer of a quota reservation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reservation {
    /// Reserved; the counter now stands at this total.
    Granted {
        /// The counter after the reservation.
        total: u64,
    },
    /// Refused: the reservation would pass the limit; the counter stays at `total`.
    Refused {
        /// The counter, unchanged.
        total: u64,
    },
    /// Redis has no counter for this key (new day, or Redis lost it): call
    /// again with the durable count as `seed`.
    NeedsSeed,
}

/// Check-and-increment in one step inside Redis, so concurrent requests can
/// never reserve past the limit. A missing counter is seeded (SET NX) from
/// the durable count the caller read from Postgres.
static RESERVE: LazyLock<redis::Script> = LazyLock::new(|| {
    redis::Script::new(
        r"
local current = redis.call('GET', KEYS[1])
if not current then
  if ARGV[4] == '' then return {-1, 0} end
  redis.call('SET', KEYS[1], ARGV[4], 'PX', ARGV[3], 'NX')
  current = redis.call('GET', KEYS[1])
end
current = tonumber(current)
local amount = tonumber(ARGV[2])
if current + amount > tonumber(ARGV[1]) then return {0, current} end
return {1, redis.call('INCRBY', KEYS[1], amount)}
",
    )
});

/// Gives back a reservation, never going below zero or creating a key.
static RELEASE: LazyLock<redis::Script> = LazyLock::new(|| {
    redis::Script::new(
        r"
local current = tonumber(redis.call('GET', KEYS[1]) or '0')
if current <= 0 then return 0 end
local amount = math.min(current, tonumber(ARGV[1]))
return redis.call('DECRBY', KEYS[1], amount)
",
    )
});

impl RedisStore {
    /// Reserves `amount` units of the counter `logical_key` if that keeps it
    /// at or under `limit`. `ttl` bounds the counter's life (a day and a bit).
    ///
    /// Check and increment are one Lua script, so concurrent reservations
    /// (from any replica) never pass `limit` together; a refusal changes
    /// nothing. When the counter does not exist, `seed` matters:
    /// `None` answers [`Reservation::NeedsSeed`] without writing anything;
    /// `Some(durable)` first creates the counter at `durable` with expiry
    /// `ttl` (unless a concurrent call created it meanwhile, `SET NX`), then
    /// reserves. `ttl` is only set when the counter is created; reserving
    /// does not extend it. A reservation is given back with
    /// [`release`](Self::release).
    pub async fn reserve(
        &self,
        logical_key: &str,
        amount: u64,
        limit: u64,
        ttl: Duration,
        seed: Option<u64>,
    ) -> Result<Reservation, PersistenceError> {
        let millis = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1);
        let seed = seed.map(|s| s.to_string()).unwrap_or_default();
        let (outcome, total): (i64, i64) = self
            .with_connection(async |conn| {
                RESERVE
                    .key(self.key(logical_key))
                    .arg(limit)
                    .arg(amount)
                    .arg(millis)
                    .arg(&seed)
                    .invoke_async(conn)
                    .await
            })
            .await?;
        let total = u64::try_from(total).unwrap_or(0);
        Ok(match outcome {
            1 => Reservation::Granted { total },
            0 => Reservation::Refused { total },
            _ => Reservation::NeedsSeed,
        })
    }

    /// The current value of a counter, if it exists (`None` once it has
    /// expired or was never created). Reads only.
    pub async fn counter(&self, logical_key: &str) -> Result<Option<u64>, PersistenceError> {
        self.with_connection(async |conn| {
            redis::cmd("GET")
                .arg(self.key(logical_key))
                .query_async(conn)
                .await
        })
        .await
    }

    /// Returns `amount` reserved units (a failed call is not charged).
    /// Never goes below zero (a counter that expired or was reseeded
    /// meanwhile is lowered by at most what it holds), never creates a
    /// counter, and keeps its expiry.
    pub async fn release(&self, logical_key: &str, amount: u64) -> Result<(), PersistenceError> {
        let _: i64 = self
            .with_connection(async |conn| {
                RELEASE
                    .key(self.key(logical_key))
                    .arg(amount)
                    .invoke_async(conn)
                    .await
            })
            .await?;
        Ok(())
    }
}
