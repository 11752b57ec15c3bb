//! Test harness for HeyClaw's integration tests.
//!
//! [`TestApp::spawn`] starts the real server on port 0 against the real
//! PostgreSQL and Redis of the machine. Each test gets its own database,
//! copied from a migrated template (cheap: a file copy inside Postgres), and
//! its own Redis key prefix; both are removed when the [`TestApp`] drops, so
//! tests run in parallel and leave nothing behind.
//!
//! `TEST_DATABASE_URL` (default `postgres://postgres@127.0.0.1:5432/postgres`)
//! names the admin connection; `TEST_REDIS_URL` (default
//! `redis://127.0.0.1:6379`) the Redis server.

#![expect(
    clippy::expect_used,
    reason = "a test harness fails loudly on a broken environment"
)]

pub mod app_store;
pub mod apple;
mod clock;
mod database;
mod gateway;
pub mod real_gateway;
mod servers;
mod shard;
mod smtp;
pub mod speech;

use std::{
    path::{Path, PathBuf},
    time::Duration,
};

use heyclaw_api::{Application, Dependencies, Env, Settings};
use heyclaw_persistence::{RedisPoolSettings, RedisStore};

pub use clock::TestClock;
pub use database::TestDatabase;
pub use gateway::{GatewayStandIn, RecordedTurn};
pub use servers::{TestPostgres, TestRedis};
pub use shard::{ExternalGateway, ShardOptions, TestDirs, TestShard};
pub use smtp::{CapturedMail, SmtpStandIn};

pub fn admin_database_url() -> String {
    std::env::var("TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

pub fn redis_url() -> String {
    std::env::var("TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned())
}

/// A fresh Redis keyspace name for one test.
pub fn new_redis_prefix() -> String {
    format!("heyclaw-test-{}", uuid::Uuid::new_v4().simple())
}

/// A small Redis pool on the test Redis, keys under `prefix`.
pub fn redis_store(prefix: &str) -> RedisStore {
    RedisStore::connect(
        &redis_url(),
        &RedisPoolSettings {
            max_size: 2,
            wait_timeout: Duration::from_secs(2),
            connect_timeout: Duration::from_secs(2),
            key_prefix: prefix.to_owned(),
        },
    )
    .expect("redis settings are valid")
}

/// A running server with its own database and Redis keyspace.
pub struct TestApp {
    pub address: String,
    pub client: reqwest::Client,
    pub db: TestDatabase,
    pub redis: RedisStore,
    /// The gateway shards: one unless spawned with more.
    pub shards: Vec<TestShard>,
    /// The server's clock: `app.clock.advance(…)` jumps over time windows.
    pub clock: TestClock,
    /// The metrics listener's port (with `METRICS_PORT=0`).
    pub metrics_port: Option<u16>,
    handle: heyclaw_api::ServerHandle,
    vars: Vec<(String, String)>,
}

/// Another server of a [`TestApp`], sharing its database and keyspace.
pub struct Replica {
    pub address: String,
    handle: heyclaw_api::ServerHandle,
}

impl Replica {
    pub async fn stop(self) {
        self.handle.stop(true).await;
    }
}

fn dependencies(clock: &TestClock) -> Dependencies {
    Dependencies {
        clock: std::sync::Arc::new(clock.clone()),
    }
}

/// The original Node server's schema (for the import tests and bench).
pub const ORIGINAL_SCHEMA: &str = include_str!("../fixtures/original-schema.sql");

/// The gateway token `TestApp` configures on both sides.
pub const TEST_GATEWAY_TOKEN: &str = "test-gateway-token-0123456789";

/// The repository's workspace templates.
pub fn templates_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../templates")
}

pub(crate) fn templates_dir() -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../templates")
        .to_string_lossy()
        .into_owned()
}

impl TestApp {
    pub async fn spawn() -> Self {
        Self::spawn_with(&[]).await
    }

    /// Starts the server with extra environment settings on top of the
    /// test defaults, e.g. `&[("MAX_BODY_BYTES", "2048")]`.
    pub async fn spawn_with(overrides: &[(&str, &str)]) -> Self {
        let owned: Vec<(String, String)> = overrides
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        Self::spawn_with_env(owned).await
    }

    pub async fn spawn_with_env(overrides: Vec<(String, String)>) -> Self {
        Self::spawn_sharded(vec![ShardOptions::default()], overrides).await
    }

    /// Starts the server with these gateway shards (each a stand-in and a
    /// keeper), all listed in `GATEWAYS`.
    pub async fn spawn_sharded(
        shards: Vec<ShardOptions>,
        overrides: Vec<(String, String)>,
    ) -> Self {
        let db = TestDatabase::create().await;
        let clock = TestClock::default();
        // Keepers use the server's database, whichever it is.
        let database_url = overrides
            .iter()
            .find(|(key, _)| key == "DATABASE_URL")
            .map_or_else(|| db.url().to_owned(), |(_, url)| url.clone());
        let mut started = Vec::with_capacity(shards.len());
        for options in shards {
            started.push(TestShard::start(&database_url, &clock, options).await);
        }
        let shards = started;
        let gateways = shards
            .iter()
            .map(TestShard::gateways_entry)
            .collect::<Vec<_>>()
            .join(",");
        let prefix = new_redis_prefix();
        let mut vars: Vec<(String, String)> = vec![
            ("HOST".into(), "127.0.0.1".into()),
            ("PORT".into(), "0".into()),
            ("HTTP_WORKERS".into(), "2".into()),
            ("SHUTDOWN_TIMEOUT".into(), "1".into()),
            ("DATABASE_URL".into(), db.url().to_owned()),
            ("DATABASE_POOL_SIZE".into(), "4".into()),
            ("REDIS_URL".into(), redis_url()),
            ("REDIS_POOL_SIZE".into(), "4".into()),
            ("REDIS_KEY_PREFIX".into(), prefix.clone()),
            (
                "JWT_SECRET".into(),
                "test-jwt-secret-0123456789abcdef0123456789".into(),
            ),
            ("OPENCLAW_GATEWAY_TOKEN".into(), TEST_GATEWAY_TOKEN.into()),
            ("GATEWAYS".into(), gateways),
            ("AGENT_READINESS_TIMEOUT".into(), "5s".into()),
            // Tests change rows with SQL and expect the next request to see
            // it; the cache has tests of its own (ACCESS_CACHE_TTL set).
            ("ACCESS_CACHE_TTL".into(), "0s".into()),
            ("LOG_FORMAT".into(), "json".into()),
        ];
        for (key, value) in overrides {
            vars.retain(|(k, _)| *k != key);
            vars.push((key, value));
        }
        let settings =
            Settings::from_env(&Env::from_pairs(vars.clone())).expect("test settings are valid");
        let app = Application::build_with(&settings, dependencies(&clock))
            .await
            .expect("the server starts");
        let address = format!("http://127.0.0.1:{}", app.port());
        let metrics_port = app.metrics_port();
        let handle = app.handle();
        tokio::spawn(app.run_until_stopped());
        let redis = redis_store(&prefix);
        Self {
            address,
            client: reqwest::Client::new(),
            db,
            redis,
            shards,
            clock,
            metrics_port,
            handle,
            vars,
        }
    }

    /// Stops the server and starts a new one on the same database, Redis
    /// keyspace and shards. The new server listens on a new port; `address`
    /// follows it.
    pub async fn restart(&mut self) {
        self.handle.stop(true).await;
        let settings = Settings::from_env(&Env::from_pairs(self.vars.clone()))
            .expect("test settings are valid");
        let app = Application::build_with(&settings, dependencies(&self.clock))
            .await
            .expect("the server restarts");
        self.address = format!("http://127.0.0.1:{}", app.port());
        self.handle = app.handle();
        tokio::spawn(app.run_until_stopped());
    }

    /// Starts a second server on the same database, Redis keyspace,
    /// directories, gateway and clock — another replica. It stops when the
    /// returned handle is stopped (or the test ends).
    pub async fn replica(&self) -> Replica {
        let settings = Settings::from_env(&Env::from_pairs(self.vars.clone()))
            .expect("test settings are valid");
        let app = Application::build_with(&settings, dependencies(&self.clock))
            .await
            .expect("the replica starts");
        let replica = Replica {
            address: format!("http://127.0.0.1:{}", app.port()),
            handle: app.handle(),
        };
        tokio::spawn(app.run_until_stopped());
        replica
    }

    /// The first shard's gateway stand-in.
    pub fn gateway(&self) -> &GatewayStandIn {
        self.shards[0]
            .stand_in
            .as_ref()
            .expect("the first shard is a stand-in")
    }

    /// The first shard's directories.
    pub fn dirs(&self) -> &TestDirs {
        &self.shards[0].dirs
    }

    /// Whether the user's agent is placed on one of the shards (not
    /// resident necessarily).
    pub async fn agent_placed(&self, user_id: &str) -> bool {
        let shards = self
            .shards
            .iter()
            .map(|shard| format!("'{}'", shard.id))
            .collect::<Vec<_>>()
            .join(",");
        self.db
            .count(&format!(
                "SELECT count(*) AS n FROM assistants WHERE user_id = '{user_id}' \
                 AND gateway_id IN ({shards}) AND status IN ('hibernated', 'active')"
            ))
            .await
            == 1
    }

    /// The user's slot while their agent is resident (ready): the shard's
    /// index in `shards` and the slot number.
    pub async fn resident_slot(&self, user_id: &str) -> Option<(usize, u32)> {
        #[derive(diesel::QueryableByName)]
        struct Row {
            #[diesel(sql_type = diesel::sql_types::Text)]
            gateway_id: String,
            #[diesel(sql_type = diesel::sql_types::Integer)]
            slot: i32,
        }
        let mut conn = self.db.connect().await;
        let row: Option<Row> = diesel_async::RunQueryDsl::get_result(
            diesel::sql_query(format!(
                "SELECT gateway_id, slot FROM agent_slots \
                 WHERE user_id = '{user_id}' AND state = 'ready'"
            )),
            &mut conn,
        )
        .await
        .ok();
        let row = row?;
        let shard = self.shards.iter().position(|s| s.id == row.gateway_id)?;
        Some((shard, u32::try_from(row.slot).ok()?))
    }

    /// Waits until the user's agent is resident; its slot's workspace.
    pub async fn wait_resident(&self, user_id: &str) -> PathBuf {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            if let Some((shard, slot)) = self.resident_slot(user_id).await {
                return self.shards[shard].dirs.slot(slot);
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "the agent of {user_id} did not become resident"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client
            .get(self.url(path))
            .send()
            .await
            .expect("request is sent")
    }

    pub async fn post_json(&self, path: &str, body: &serde_json::Value) -> reqwest::Response {
        self.client
            .post(self.url(path))
            .json(body)
            .send()
            .await
            .expect("request is sent")
    }

    /// Sends a raw body with a JSON content type (for malformed-JSON tests).
    pub async fn post_raw(&self, path: &str, body: impl Into<reqwest::Body>) -> reqwest::Response {
        self.client
            .post(self.url(path))
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .expect("request is sent")
    }

    /// Sends a request with an optional bearer token and JSON body.
    pub async fn request(
        &self,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
        body: Option<&serde_json::Value>,
    ) -> reqwest::Response {
        let mut request = self.client.request(method, self.url(path));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        request.send().await.expect("request is sent")
    }

    /// Signs a user up and returns the response body, asserting 201.
    pub async fn signup(&self, email: &str, password: &str) -> serde_json::Value {
        let response = self
            .post_json(
                "/auth/signup",
                &serde_json::json!({"email": email, "password": password, "name": "Test User"}),
            )
            .await;
        assert_eq!(response.status(), 201, "signup of {email}");
        json_body(response).await
    }

    /// Stops the server and removes the test's Redis keys. The database is
    /// dropped when `self.db` drops.
    pub async fn shutdown(self) {
        self.handle.stop(true).await;
        for shard in &self.shards {
            shard.stop().await;
        }
        self.redis
            .delete_keyspace()
            .await
            .expect("redis keyspace is removed");
    }
}

/// Polls `check` until it holds, failing after five seconds. For state that
/// follows a response shortly (answered turns are recorded write-behind).
pub async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while !check().await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for: {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Reads a response as JSON, asserting the content type says so.
pub async fn json_body(response: reqwest::Response) -> serde_json::Value {
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert!(
        content_type.starts_with("application/json"),
        "content-type {content_type:?}"
    );
    response.json().await.expect("body is JSON")
}
