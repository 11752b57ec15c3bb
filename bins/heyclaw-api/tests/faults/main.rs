//! The fault suite: the real server against PostgreSQL and Redis servers of
//! the test's own (stopped, restarted, flushed — never the machine's shared
//! ones) and the gateway stand-in misbehaving. What must hold: clear 503s
//! with `Retry-After` while a dependency is down, recovery without a
//! restart, no answered turn lost, no quota unit left reserved, revoked
//! sessions staying revoked, and a client never charged for a failure.

#![expect(clippy::unwrap_used, reason = "test helpers fail loudly")]

use std::time::{Duration, Instant};

use diesel_async::SimpleAsyncConnection;
use heyclaw_test_support::{ShardOptions, TestApp, TestPostgres, TestRedis, eventually, json_body};
use reqwest::Method;
use serde_json::{Value, json};

async fn migrated(pg: &TestPostgres) {
    let conn = heyclaw_persistence::establish(&pg.url()).await.unwrap();
    heyclaw_persistence::run_migrations(conn).await.unwrap();
}

async fn count(url: &str, sql: &str) -> i64 {
    #[derive(diesel::QueryableByName)]
    struct Count {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    let mut conn = heyclaw_persistence::establish(url).await.unwrap();
    diesel_async::RunQueryDsl::get_result::<Count>(diesel::sql_query(sql), &mut conn)
        .await
        .unwrap()
        .n
}

async fn call(
    app: &TestApp,
    method: Method,
    path: &str,
    token: &str,
    body: Option<Value>,
) -> (u16, Value, Option<String>) {
    let response = app.request(method, path, Some(token), body.as_ref()).await;
    let status = response.status().as_u16();
    let retry_after = response
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().to_owned());
    (status, json_body(response).await, retry_after)
}

async fn message(app: &TestApp, token: &str) -> (u16, Value) {
    let (status, body, _) = call(
        app,
        Method::POST,
        "/agent/message",
        token,
        Some(json!({"text": "hi"})),
    )
    .await;
    (status, body)
}

fn token_of(body: &Value) -> String {
    body["access_token"].as_str().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_postgres_outage_is_a_fast_503_and_loses_no_answered_turn() {
    let pg = tokio::task::spawn_blocking(TestPostgres::start)
        .await
        .unwrap();
    migrated(&pg).await;
    let url = pg.url();
    let app = TestApp::spawn_with(&[
        ("DATABASE_URL", &url),
        ("DATABASE_POOL_TIMEOUT", "1s"),
        ("DATABASE_CONNECT_TIMEOUT", "1s"),
    ])
    .await;
    let user = app.signup("outage@example.com", "testpass123").await;
    let token = token_of(&user);
    let user_id = user["user"]["id"].as_str().unwrap().to_owned();

    // Turns answered just before the outage are still on their way to
    // Postgres: the assistant's row is held, so the recorder is mid-write
    // when the server dies.
    let mut blocker = heyclaw_persistence::establish(&url).await.unwrap();
    // Signing up woke the agent; let that finish first.
    let awake = format!(
        "SELECT count(*) AS n FROM agent_slots s JOIN assistants a ON a.user_id = s.user_id \
         WHERE s.state = 'ready' AND a.status = 'active' AND s.user_id = '{user_id}'"
    );
    heyclaw_test_support::eventually("the agent is awake", async || {
        count(&url, &awake).await == 1
    })
    .await;
    blocker
        .batch_execute(&format!(
            "BEGIN; SELECT 1 FROM assistants WHERE user_id = '{user_id}' FOR UPDATE"
        ))
        .await
        .unwrap();
    for _ in 0..3 {
        assert_eq!(message(&app, &token).await.0, 200);
    }
    let server = std::sync::Arc::new(pg);
    let stopping = std::sync::Arc::clone(&server);
    tokio::task::spawn_blocking(move || stopping.stop())
        .await
        .unwrap();
    drop(blocker);

    let started = Instant::now();
    let (status, body, retry_after) = call(&app, Method::GET, "/user/me", &token, None).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["code"], "unavailable");
    assert!(retry_after.is_some(), "Retry-After tells the client when");
    let (status, _) = message(&app, &token).await;
    assert_eq!(status, 503);
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "fails fast: {:?}",
        started.elapsed()
    );

    let starting = std::sync::Arc::clone(&server);
    tokio::task::spawn_blocking(move || starting.start_again())
        .await
        .unwrap();
    eventually("the API recovers by itself", async || {
        call(&app, Method::GET, "/user/me", &token, None).await.0 == 200
    })
    .await;
    eventually("the three answered turns reach Postgres", async || {
        count(
            &url,
            "SELECT coalesce(sum(message_count), 0)::bigint AS n FROM assistants",
        )
        .await
            == 3
    })
    .await;
    assert_eq!(
        count(&url, "SELECT count(*) AS n FROM chat_messages").await,
        6
    );
    let (status, body) = message(&app, &token).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["usage"]["messagesUsed"], 4,
        "no unit stayed reserved for the failed request"
    );
    app.shutdown().await;
    drop(server);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_restart_keeps_revoked_sessions_revoked_and_counters_reseed() {
    let mut redis = tokio::task::spawn_blocking(TestRedis::start).await.unwrap();
    let app = TestApp::spawn_with(&[("REDIS_URL", &redis.url())]).await;
    app.db
        .execute("UPDATE plan_limits SET daily_text_messages = 4 WHERE plan = 'free'")
        .await;
    let phone = app.signup("restart@example.com", "testpass123").await;
    let phone = token_of(&phone);
    let tablet = json_body(
        app.post_json(
            "/auth/login",
            &json!({"email": "restart@example.com", "password": "testpass123"}),
        )
        .await,
    )
    .await;
    let tablet = token_of(&tablet);
    assert_eq!(
        call(&app, Method::POST, "/auth/logout", &phone, None)
            .await
            .0,
        200
    );
    for _ in 0..3 {
        assert_eq!(message(&app, &tablet).await.0, 200);
    }
    eventually("the turns are recorded", async || {
        app.db
            .count("SELECT coalesce(sum(text_messages), 0)::bigint AS n FROM daily_usage")
            .await
            == 3
    })
    .await;

    // Redis loses everything: attempt and quota counters.
    let redis = tokio::task::spawn_blocking(move || {
        redis.restart();
        redis
    })
    .await
    .unwrap();
    eventually("the API talks to the new Redis", async || {
        call(&app, Method::GET, "/user/me", &tablet, None).await.0 == 200
    })
    .await;
    let (status, _, _) = call(&app, Method::GET, "/user/me", &phone, None).await;
    assert_eq!(status, 401, "a logged-out session stays logged out");
    let me = call(&app, Method::GET, "/user/me", &tablet, None).await.1;
    assert_eq!(
        me["usage"]["textMessages"], 3,
        "counters re-seed from Postgres"
    );
    let (status, body) = message(&app, &tablet).await;
    assert_eq!(
        (status, body["usage"]["messagesUsed"].clone()),
        (200, json!(4))
    );
    let (status, body) = message(&app, &tablet).await;
    assert_eq!(status, 429, "the limit still holds: {body}");
    app.shutdown().await;
    drop(redis);
}

/// Pooled Redis connections in steady use are not checked when handed out
/// (that check was a round trip per call), so a call that finds one broken
/// must discard it: after a restart each pooled connection fails at most
/// one call, never every call that draws it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_restart_under_steady_use_fails_at_most_one_call_per_pooled_connection() {
    use heyclaw_persistence::{RedisPoolSettings, RedisStore};

    const POOL: usize = 3;
    let mut redis = tokio::task::spawn_blocking(TestRedis::start).await.unwrap();
    let store = RedisStore::connect(
        &redis.url(),
        &RedisPoolSettings {
            max_size: POOL,
            wait_timeout: Duration::from_secs(2),
            connect_timeout: Duration::from_secs(2),
            key_prefix: "steady".to_owned(),
        },
    )
    .unwrap();
    // Every pooled connection opened and in use.
    let calls: Vec<_> = (0..POOL).map(|_| store.counter("c")).collect();
    for result in futures_util::future::join_all(calls).await {
        assert_eq!(result.unwrap(), None);
    }
    let redis = tokio::task::spawn_blocking(move || {
        redis.restart();
        redis
    })
    .await
    .unwrap();
    let mut failed = 0;
    for _ in 0..3 * POOL {
        if store.counter("c").await.is_err() {
            failed += 1;
        }
    }
    assert!(failed <= POOL, "{failed} calls failed after the restart");
    for _ in 0..POOL {
        assert_eq!(
            store.counter("c").await.unwrap(),
            None,
            "every connection works again"
        );
    }
    drop(redis);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gateway_that_dies_mid_stream_or_answers_garbage_costs_nothing() {
    let app = TestApp::spawn().await;
    let token = token_of(&app.signup("unlucky@example.com", "testpass123").await);

    app.gateway().garbage_next(2);
    let (status, body) = message(&app, &token).await;
    assert_eq!(status, 502, "{body}");
    assert_eq!(body["code"], "agent_failed");

    app.gateway()
        .reply_with("This reply is cut off by a gateway that dies half way through it.");
    app.gateway().abort_streams_after(4);
    let response = app
        .request(
            Method::POST,
            "/agent/voice",
            Some(&token),
            Some(&json!({"text": "hi", "nativeTts": true, "recordingDuration": 3})),
        )
        .await;
    assert_eq!(response.status(), 200);
    let text = response.text().await.unwrap();
    let events: Vec<Value> = text
        .lines()
        .filter_map(|line| line.strip_prefix("data: "))
        .map(|data| serde_json::from_str(data).unwrap())
        .collect();
    assert_eq!(
        events.last().unwrap()["type"],
        "error",
        "a clean end: {events:?}"
    );
    assert!(events.iter().all(|e| e["type"] != "done"));

    app.gateway().stop_aborting();
    app.gateway().echo();
    let (status, body) = message(&app, &token).await;
    assert_eq!(status, 200, "the next turn works: {body}");
    assert_eq!(
        body["usage"]["messagesUsed"], 1,
        "the failures were not charged"
    );
    eventually("no voice seconds were charged", async || {
        call(&app, Method::GET, "/user/me", &token, None).await.1["usage"]["voiceSeconds"] == 0
    })
    .await;
    app.shutdown().await;
}

/// A small filesystem for slot workspaces, unmounted on drop.
struct TinyDisk {
    dir: std::path::PathBuf,
}

impl TinyDisk {
    fn mount(kib: u32) -> Self {
        let dir =
            std::env::temp_dir().join(format!("heyclaw-tiny-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).unwrap();
        let status = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={kib}k"), "tmpfs"])
            .arg(&dir)
            .status()
            .unwrap();
        assert!(
            status.success(),
            "mounting a tmpfs (the fault suite runs as root)"
        );
        Self { dir }
    }

    /// Fills the disk; the returned file frees it when removed.
    fn fill(&self) -> std::path::PathBuf {
        use std::io::Write;
        let filler = self.dir.join("filler");
        let mut file = std::fs::File::create(&filler).unwrap();
        let block = vec![0u8; 4096];
        while file.write_all(&block).is_ok() {}
        filler
    }
}

impl Drop for TinyDisk {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg(&self.dir).status();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The keeper cannot write a slot (the disk is full): a signup still
/// answers and the account stands; the wake fails cleanly (503 with
/// Retry-After, nothing charged); once there is room again the same
/// message goes through, with the user's workspace.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_under_the_slots_fails_wakes_cleanly_until_there_is_room() {
    let disk = TinyDisk::mount(256);
    let filler = disk.fill();
    let app = TestApp::spawn_sharded(
        vec![ShardOptions {
            workspaces: Some(disk.dir.join("w")),
            ..ShardOptions::default()
        }],
        vec![("AGENT_READINESS_TIMEOUT".into(), "1s".into())],
    )
    .await;
    let signup = app.signup("full@example.com", "testpass123").await;
    let token = token_of(&signup);
    let user_id = signup["user"]["id"].as_str().unwrap().to_owned();
    assert_eq!(
        app.db
            .count(&format!(
                "SELECT count(*) AS n FROM users WHERE id = '{user_id}'"
            ))
            .await,
        1,
        "the account stands"
    );
    let (status, body, retry_after) = call(
        &app,
        Method::POST,
        "/agent/message",
        &token,
        Some(json!({"text": "hi"})),
    )
    .await;
    assert_eq!(status, 503, "{body}");
    assert!(retry_after.is_some());
    let (_, me, _) = call(&app, Method::GET, "/user/me", &token, None).await;
    assert_eq!(me["usage"]["textMessages"], 0, "nothing charged");

    std::fs::remove_file(filler).unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while message(&app, &token).await.0 != 200 {
        assert!(Instant::now() < deadline, "no wake once the disk had room");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let workspace = app.wait_resident(&user_id).await;
    assert!(
        std::fs::read_to_string(workspace.join("USER.md"))
            .unwrap()
            .contains("Name"),
        "the workspace was written in full"
    );
    app.shutdown().await;
}
