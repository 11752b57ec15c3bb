//! Test harness for HeyClaw's integration tests: the real server, real
//! PostgreSQL and Redis, and local stand-ins for everything outside.
//!
//! [`TestApp::spawn`] starts the real server (`heyclaw-api`'s
//! `Application`) on `127.0.0.1`, port 0, against the machine's PostgreSQL
//! and Redis. Each test gets:
//!
//! - its own database ([`TestDatabase`]), copied from a template migrated
//!   once per machine and per state of `migrations/` (cheap: a file copy
//!   inside Postgres), dropped when the [`TestApp`] drops;
//! - its own Redis key prefix, removed by [`TestApp::shutdown`];
//! - its own gateway shard ([`TestShard`]): a gateway stand-in
//!   ([`GatewayStandIn`], OpenAI wire format over real HTTP) and a real
//!   keeper in-process over the test's own temporary directories;
//! - its own clock ([`TestClock`]), moved forward instead of sleeping.
//!
//! So tests run in parallel and leave nothing behind. Other stand-ins speak
//! the real protocols on local ports: SMTP ([`SmtpStandIn`]), the speech
//! providers ([`speech`]), Sign in with Apple ([`apple`]) and the App Store
//! ([`app_store`]). The fault suite gets servers of its own to stop and
//! restart ([`TestPostgres`], [`TestRedis`]); the end-to-end suite runs the
//! real gateway ([`real_gateway`]).
//!
//! `TEST_DATABASE_URL` (default `postgres://postgres@127.0.0.1:5432/postgres`)
//! names the admin connection (it must be allowed to create databases);
//! `TEST_REDIS_URL` (default `redis://127.0.0.1:6379`) the Redis server.
//!
//! Helpers fail loudly: on a broken environment or an unexpected answer
//! they panic with a message instead of returning errors, which is what a
//! test wants. They need a Tokio runtime (`#[tokio::test]` is enough):
//! servers, keepers and stand-ins run as tasks on it and stop when it ends.
//!
//! # What it must not do
//!
//! It is tooling, above every layer: only tests, benchmarks and `xtask`
//! depend on it, never a crate that ships. It does not mock our own code,
//! database or cache — the server under test is the production one, wired
//! by `heyclaw-api` from settings; only services outside HeyClaw (gateway,
//! model, speech, SMTP, Apple) are stood in for, over real network
//! connections. It never stops, flushes or restarts the machine's shared
//! PostgreSQL or Redis; it only creates and drops `heyclaw_test_*`
//! databases and `heyclaw-test-*` keyspaces.
//!
//! # Example
//!
//! An integration test (in `bins/heyclaw-api/tests/`):
//!
//! ```no_run
//! use heyclaw_test_support::{TestApp, json_body};
//! use reqwest::Method;
//!
//! # #[tokio::main] async fn main() {
//! // #[tokio::test] async fn signed_up_users_see_their_profile() {
//! let app = TestApp::spawn().await;
//! let session = app.signup("ada@example.com", "testpass123").await;
//! let token = session["access_token"].as_str().expect("a token");
//!
//! let response = app.request(Method::GET, "/user/me", Some(token), None).await;
//! assert_eq!(response.status(), 200);
//! assert_eq!(json_body(response).await["email"], "ada@example.com");
//!
//! app.shutdown().await;
//! # }
//! ```

#![deny(missing_docs)]
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

/// The admin connection tests create and drop their databases with:
/// `TEST_DATABASE_URL`, or `postgres://postgres@127.0.0.1:5432/postgres`.
pub fn admin_database_url() -> String {
    std::env::var("TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

/// The Redis server tests share (each under its own key prefix):
/// `TEST_REDIS_URL`, or `redis://127.0.0.1:6379`.
pub fn redis_url() -> String {
    std::env::var("TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned())
}

/// A fresh Redis keyspace name for one test: `heyclaw-test-<uuid>`, unique
/// per call. Nothing is created; keys under it appear as they are written.
pub fn new_redis_prefix() -> String {
    format!("heyclaw-test-{}", uuid::Uuid::new_v4().simple())
}

/// A small Redis pool (two connections, 2 s timeouts) on [`redis_url`],
/// every key under `prefix`: what a test reads or seeds the server's
/// counters with. Connections are made lazily, so this does not check that
/// Redis is up.
///
/// # Panics
///
/// If the Redis URL is malformed.
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

/// A running server with its own database, Redis keyspace, gateway
/// shard(s) and clock. Start one with [`TestApp::spawn`] or a variant.
///
/// The server runs as a task on the test's Tokio runtime: it stops when
/// [`TestApp::shutdown`] is called or the runtime ends. Dropping a
/// `TestApp` drops its database (forcibly, even with the server still
/// connected), its shards' keepers and their temporary directories, but
/// not its Redis keys: call [`TestApp::shutdown`] at the end of a test to
/// remove those too.
pub struct TestApp {
    /// The server's base URL, `http://127.0.0.1:<port>` (no trailing
    /// slash). Changes on [`TestApp::restart`].
    pub address: String,
    /// A plain HTTP client (no default headers, no cookies, no timeout) the
    /// request helpers use.
    pub client: reqwest::Client,
    /// The test's database, for assertions and setting up state with SQL.
    pub db: TestDatabase,
    /// A pool on the server's Redis keyspace (same prefix), to inspect or
    /// change counters.
    pub redis: RedisStore,
    /// The gateway shards, in the order given to
    /// [`TestApp::spawn_sharded`]: one (id `default`) unless spawned with
    /// more.
    pub shards: Vec<TestShard>,
    /// The server's clock, shared with the keepers: `app.clock.advance(…)`
    /// jumps over time windows (token expiry, attempt windows, idle
    /// timeouts) without sleeping.
    pub clock: TestClock,
    /// The metrics listener's port when spawned with `METRICS_PORT` (use
    /// `0` for a free port); `None` otherwise. Not updated by
    /// [`TestApp::restart`].
    pub metrics_port: Option<u16>,
    handle: heyclaw_api::ServerHandle,
    vars: Vec<(String, String)>,
}

/// Another server of a [`TestApp`], sharing its database and keyspace; see
/// [`TestApp::replica`].
pub struct Replica {
    /// The replica's base URL, `http://127.0.0.1:<port>`: a port of its own.
    pub address: String,
    handle: heyclaw_api::ServerHandle,
}

impl Replica {
    /// Stops the replica gracefully and waits until it has stopped
    /// (in-flight requests get the server's one-second shutdown timeout).
    pub async fn stop(self) {
        self.handle.stop(true).await;
    }
}

fn dependencies(clock: &TestClock) -> Dependencies {
    Dependencies {
        clock: std::sync::Arc::new(clock.clone()),
    }
}

/// The original Node server's schema, as SQL to run in an empty database
/// ([`TestDatabase::create_empty`]), for the import tests and benchmark.
/// Several statements: run it with `batch_execute`, not
/// [`TestDatabase::execute`].
pub const ORIGINAL_SCHEMA: &str = include_str!("../fixtures/original-schema.sql");

/// The gateway token `TestApp` configures on both sides: the server's
/// `OPENCLAW_GATEWAY_TOKEN` and what every shard's stand-in accepts.
pub const TEST_GATEWAY_TOKEN: &str = "test-gateway-token-0123456789";

/// The repository's agent workspace templates (`templates/`), found from
/// this crate's source directory, so it only works in a checkout.
pub fn templates_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../templates")
}

/// HeyClaw's OpenClaw plugin (`infrastructure/openclaw-plugin`), found
/// from this crate's source directory, so it only works in a checkout.
pub fn prompt_plugin_path() -> PathBuf {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../infrastructure/openclaw-plugin");
    path.canonicalize().unwrap_or(path)
}

/// Whether a slot workspace holds nobody's data: exactly a new user's
/// files, the templates with no name (what the keeper leaves in a slot it
/// releases). False while any file differs, or the directory is unreadable.
pub fn holds_only_the_templates(workspace: &Path) -> bool {
    let templates = heyclaw_agent_provisioning::Templates::load(&templates_path())
        .expect("the repository's templates");
    let mut neutral = templates.render(None);
    neutral.sort();
    heyclaw_agent_provisioning::read_workspace(workspace).is_ok_and(|mut files| {
        files.sort();
        files == neutral
    })
}

impl TestApp {
    /// Starts a server with the test defaults and one gateway shard (a
    /// stand-in with 8 slots and a keeper), and returns once it listens.
    ///
    /// The defaults: `127.0.0.1`, port 0, 2 workers, a one-second shutdown
    /// timeout, a fresh database and Redis prefix, small pools, a fixed JWT
    /// secret, [`TEST_GATEWAY_TOKEN`], a 5 s agent readiness timeout, no
    /// access cache (`ACCESS_CACHE_TTL=0s`, so a row changed with SQL is
    /// seen by the next request) and JSON logs. The process environment is
    /// not read; everything else is the server's own default (e.g. no
    /// `SMTP_HOST`: mail goes to the log; no provider keys).
    ///
    /// # Panics
    ///
    /// If PostgreSQL or Redis cannot be reached, the migrations do not
    /// apply, or the server does not start.
    pub async fn spawn() -> Self {
        Self::spawn_with(&[]).await
    }

    /// Starts the server with extra environment settings on top of the
    /// test defaults, e.g. `&[("MAX_BODY_BYTES", "2048")]`. A key given
    /// here replaces the default; an empty value unsets it. Panics like
    /// [`TestApp::spawn`], and also on settings the server refuses.
    pub async fn spawn_with(overrides: &[(&str, &str)]) -> Self {
        let owned: Vec<(String, String)> = overrides
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        Self::spawn_with_env(owned).await
    }

    /// [`TestApp::spawn_with`] with owned pairs, convenient with stand-ins'
    /// `settings()` (e.g. [`SmtpStandIn::settings`]).
    pub async fn spawn_with_env(overrides: Vec<(String, String)>) -> Self {
        Self::spawn_sharded(vec![ShardOptions::default()], overrides).await
    }

    /// Starts the server with these gateway shards (each a stand-in, or an
    /// external gateway, with a keeper), all listed in `GATEWAYS`, and the
    /// extra settings `overrides` on top of the defaults of
    /// [`TestApp::spawn`].
    ///
    /// The keepers run against the server's database: the test's own, or
    /// the `DATABASE_URL` given in `overrides`. The shards are started
    /// (config and roster written, shard announced) before the server.
    /// Panics like [`TestApp::spawn`].
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

    /// Stops the server gracefully (waiting for it) and starts a new one
    /// with the same settings, on the same database, Redis keyspace, shards
    /// and clock. The new server listens on a new port; `address` follows
    /// it (`metrics_port` does not).
    ///
    /// # Panics
    ///
    /// If the new server does not start.
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

    /// Starts a second server with the same settings, on the same
    /// database, Redis keyspace, shards and clock — another replica, on a
    /// port of its own. It runs until [`Replica::stop`] or the end of the
    /// test's runtime; [`TestApp::shutdown`] does not stop it.
    ///
    /// # Panics
    ///
    /// If the replica does not start.
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

    /// The first shard's gateway stand-in, to script its answers or read
    /// the turns it received.
    ///
    /// # Panics
    ///
    /// If the first shard is an external gateway.
    pub fn gateway(&self) -> &GatewayStandIn {
        self.shards[0]
            .stand_in
            .as_ref()
            .expect("the first shard is a stand-in")
    }

    /// The first shard's directories (config, roster, slot workspaces).
    pub fn dirs(&self) -> &TestDirs {
        &self.shards[0].dirs
    }

    /// Whether the user's agent (`user_id`: the user's UUID as text) is
    /// placed on one of this app's shards, hibernated or active — not
    /// necessarily resident in a slot. Checks once, without waiting.
    /// Panics if the database cannot be queried.
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

    /// The user's slot while their agent is resident (its slot is
    /// `ready`): the shard's index in `shards` and the slot number. `None`
    /// when it is not resident — and also when the query fails. Checks
    /// once; see [`TestApp::wait_resident`] to wait.
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

    /// Waits until the user's agent is resident and returns its slot's
    /// workspace directory. Polls every 20 ms.
    ///
    /// # Panics
    ///
    /// If the agent is not resident within 10 seconds.
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

    /// The absolute URL of `path` on the server (`path` starts with `/`).
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    /// `GET path` without a token. Whatever the status, the response is
    /// returned; panics only if the request cannot be sent.
    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client
            .get(self.url(path))
            .send()
            .await
            .expect("request is sent")
    }

    /// `POST path` with `body` as JSON, without a token. Whatever the
    /// status, the response is returned; panics only if the request cannot
    /// be sent.
    pub async fn post_json(&self, path: &str, body: &serde_json::Value) -> reqwest::Response {
        self.client
            .post(self.url(path))
            .json(body)
            .send()
            .await
            .expect("request is sent")
    }

    /// `POST path` with a raw body labelled `application/json`, without a
    /// token (for malformed-JSON and oversized-body tests). Returns the
    /// response whatever its status; panics only if it cannot be sent.
    pub async fn post_raw(&self, path: &str, body: impl Into<reqwest::Body>) -> reqwest::Response {
        self.client
            .post(self.url(path))
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .expect("request is sent")
    }

    /// Sends `method path` with an optional bearer token and optional JSON
    /// body. Returns the response whatever its status; panics only if it
    /// cannot be sent.
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

    /// Signs a user up (`POST /auth/signup`, name `Test User`) and returns
    /// the response body: `user`, `access_token`, `refresh_token`, …
    ///
    /// # Panics
    ///
    /// Unless the answer is `201` with a JSON body.
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

    /// Stops the server gracefully and waits for it, stops every shard
    /// (keeper and stand-in), and removes the test's Redis keys. The
    /// database is dropped when the consumed `TestApp` drops, at the end of
    /// this call. Replicas are not stopped.
    ///
    /// # Panics
    ///
    /// If the Redis keys cannot be removed.
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

/// Polls `check` every 20 ms until it returns `true`. For state that
/// follows a response shortly (answered turns are recorded write-behind,
/// keepers act on notifications).
///
/// # Panics
///
/// With `timed out waiting for: {what}` if `check` still fails after five
/// seconds.
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

/// Reads a response's body as JSON.
///
/// # Panics
///
/// If the `content-type` is not `application/json…`, or the body is not
/// JSON. The status is not checked: assert it before.
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
