//! The real binary: configuration errors, serving, graceful shutdown.

use std::{
    net::TcpListener,
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use heyclaw_test_support::{SmtpStandIn, TEST_GATEWAY_TOKEN, TestDatabase, redis_url};
use serde_json::json;

fn server_command() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_heyclaw-api"));
    cmd.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    cmd
}

#[test]
fn a_missing_database_url_stops_start_up_naming_it() {
    let output = server_command()
        .env("REDIS_URL", "redis://127.0.0.1:6379")
        .env("JWT_SECRET", "x".repeat(40))
        .env("OPENCLAW_GATEWAY_TOKEN", "y".repeat(20))
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(stderr.lines().count(), 1, "one line: {stderr}");
    assert!(stderr.contains("DATABASE_URL"), "{stderr}");
}

#[test]
fn an_invalid_value_is_named_without_echoing_secrets() {
    let output = server_command()
        .env("DATABASE_URL", "postgres://postgres@127.0.0.1/x")
        .env("REDIS_URL", "redis://127.0.0.1:6379")
        .env("JWT_SECRET", "tooshort-but-secret")
        .env("OPENCLAW_GATEWAY_TOKEN", "y".repeat(20))
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("JWT_SECRET"), "{stderr}");
    assert!(!stderr.contains("tooshort-but-secret"), "{stderr}");
}

/// Starts the binary on a free port and waits until it answers `/health`.
/// Its output goes to `log` (a pipe nobody reads would block it).
async fn start_server(
    db: &TestDatabase,
    log: &std::path::Path,
    extra: &[(&str, &str)],
) -> (std::process::Child, String) {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let out = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .unwrap();
    let err = out.try_clone().unwrap();
    let mut command = server_command();
    command
        .stdout(out)
        .stderr(err)
        .env("DATABASE_URL", db.url())
        .env("REDIS_URL", redis_url())
        .env("REDIS_KEY_PREFIX", format!("heyclaw-test-proc-{port}"))
        .env("JWT_SECRET", "x".repeat(40))
        .env("OPENCLAW_GATEWAY_TOKEN", TEST_GATEWAY_TOKEN)
        .env("HOST", "127.0.0.1")
        .env("PORT", port.to_string())
        .env("HTTP_WORKERS", "1");
    for (key, value) in extra {
        command.env(key, value);
    }
    let child = command.spawn().unwrap();
    let base = format!("http://127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(20);
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(2))
        .build()
        .unwrap();
    while client.get(format!("{base}/health")).send().await.is_err() {
        assert!(Instant::now() < deadline, "server did not come up");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    (child, base)
}

/// Sends SIGTERM and waits for the process to exit.
async fn stop(child: &mut std::process::Child) -> std::process::ExitStatus {
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(exit) = child.try_wait().unwrap() {
            return exit;
        }
        assert!(Instant::now() < deadline, "server ignored SIGTERM");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn serves_health_and_stops_gracefully_on_sigterm() {
    let db = TestDatabase::create().await;
    let log = std::env::temp_dir().join(format!("heyclaw-{}.log", db.name()));
    let (mut child, base) = start_server(&db, &log, &[]).await;
    let body = reqwest::get(format!("{base}/health"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(body, r#"{"status":"ok","service":"heyclaw-api"}"#);
    let exit = stop(&mut child).await;
    assert!(exit.success(), "graceful shutdown exits 0, got {exit}");
}

/// Every log line the server writes at the most verbose level, through a
/// signup, logins, a password reset (its link read from the log-only
/// mailer) and a login with the new password: no password appears.
#[tokio::test(flavor = "multi_thread")]
async fn passwords_never_reach_the_logs() {
    const PASSWORD: &str = "S3cret-Passw0rd-4-logs";
    const WRONG: &str = "Wr0ng-Passw0rd-4-logs";
    const NEW_PASSWORD: &str = "N3w-Passw0rd-4-logs";
    let db = TestDatabase::create().await;
    let log = std::env::temp_dir().join(format!("heyclaw-{}.log", db.name()));
    let verbose = [("RUST_LOG", "trace"), ("LOG_FORMAT", "json")];
    let (mut child, base) = start_server(&db, &log, &verbose).await;
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let post = |path: &str, body: serde_json::Value| {
        client.post(format!("{base}{path}")).json(&body).send()
    };
    let signup = post(
        "/auth/signup",
        json!({"email": "logs@example.com", "password": PASSWORD}),
    )
    .await
    .unwrap();
    assert_eq!(signup.status(), 201);
    assert_eq!(
        post(
            "/auth/login",
            json!({"email": "logs@example.com", "password": WRONG})
        )
        .await
        .unwrap()
        .status(),
        401
    );
    assert_eq!(
        post(
            "/auth/login",
            json!({"email": "logs@example.com", "password": PASSWORD})
        )
        .await
        .unwrap()
        .status(),
        200
    );
    assert_eq!(
        post(
            "/auth/forgot-password",
            json!({"email": "logs@example.com"})
        )
        .await
        .unwrap()
        .status(),
        200
    );
    // Without SMTP the mail is only logged — its recipient, not its link.
    // It is written by a background task: wait for it in the log.
    let deadline = Instant::now() + Duration::from_secs(10);
    while !std::fs::read_to_string(&log)
        .unwrap()
        .contains("mail not sent")
    {
        assert!(Instant::now() < deadline, "the log mailer wrote nothing");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(stop(&mut child).await.success());
    let logs = std::fs::read_to_string(&log).unwrap();
    assert!(
        logs.contains("account created"),
        "the capture holds the server's logs"
    );
    assert!(!logs.contains("?token="), "a reset link reached the logs");

    // With SMTP, a reset through the mailed link.
    let smtp = SmtpStandIn::start().await;
    let with_smtp: Vec<(String, String)> = verbose
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .chain(smtp.settings())
        .collect();
    let with_smtp: Vec<(&str, &str)> = with_smtp
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let (mut child, base) = start_server(&db, &log, &with_smtp).await;
    let post = |path: &str, body: serde_json::Value| {
        client.post(format!("{base}{path}")).json(&body).send()
    };
    assert_eq!(
        post(
            "/auth/forgot-password",
            json!({"email": "logs@example.com"})
        )
        .await
        .unwrap()
        .status(),
        200
    );
    let mails = smtp.wait_for(1, Duration::from_secs(10)).await;
    let body = mails[0].body();
    let start = body.find("?token=").expect("the mail carries the link") + "?token=".len();
    let reset_token: String = body[start..]
        .chars()
        .take_while(char::is_ascii_hexdigit)
        .collect();
    let reset = post(
        "/auth/reset-password",
        json!({"token": reset_token, "new_password": NEW_PASSWORD}),
    )
    .await
    .unwrap();
    assert_eq!(reset.status(), 200);
    assert_eq!(
        post(
            "/auth/login",
            json!({"email": "logs@example.com", "password": NEW_PASSWORD})
        )
        .await
        .unwrap()
        .status(),
        200
    );
    assert!(stop(&mut child).await.success());
    let all_logs = std::fs::read_to_string(&log).unwrap();
    let _ = std::fs::remove_file(&log);
    assert!(
        all_logs.lines().count() > 20,
        "trace logging produced output"
    );
    for secret in [PASSWORD, WRONG, NEW_PASSWORD] {
        assert!(!all_logs.contains(secret), "a password reached the logs");
    }
    assert!(
        !all_logs.contains(&reset_token),
        "a reset token reached the logs"
    );
}

/// Turns answered just before SIGTERM wait in the write-behind queue (the
/// assistant's row is held, so the recorder cannot finish); the server stops
/// taking requests, and exits only once every one of them is in Postgres.
#[tokio::test(flavor = "multi_thread")]
async fn sigterm_drains_the_queued_turns_into_postgres() {
    use diesel_async::SimpleAsyncConnection;
    use heyclaw_test_support::{ShardOptions, TestClock, TestShard};

    let db = TestDatabase::create().await;
    let log = std::env::temp_dir().join(format!("heyclaw-{}.log", db.name()));
    let shard = TestShard::start(db.url(), &TestClock::default(), ShardOptions::default()).await;
    let (mut child, base) = start_server(&db, &log, &[("OPENCLAW_GATEWAY_URL", &shard.url)]).await;
    let client = reqwest::Client::new();
    let signup: serde_json::Value = client
        .post(format!("{base}/auth/signup"))
        .json(&json!({"email": "drain@example.com", "password": "testpass123"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = signup["access_token"].as_str().unwrap().to_owned();
    heyclaw_test_support::eventually("the agent is awake", async || {
        db.count(
            "SELECT count(*) AS n FROM agent_slots s JOIN assistants a ON a.user_id = s.user_id \
             WHERE s.state = 'ready' AND a.status = 'active'",
        )
        .await
            == 1
    })
    .await;
    let mut blocker = db.connect().await;
    blocker
        .batch_execute("BEGIN; SELECT 1 FROM assistants FOR UPDATE")
        .await
        .unwrap();
    for _ in 0..3 {
        let response = client
            .post(format!("{base}/agent/message"))
            .bearer_auth(&token)
            .json(&json!({"text": "hi"}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
    }
    assert!(
        Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .unwrap()
            .success()
    );
    // Wait until the server has stopped taking requests, then let the
    // recorder through.
    let deadline = Instant::now() + Duration::from_secs(20);
    while client.get(format!("{base}/health")).send().await.is_ok() {
        assert!(
            Instant::now() < deadline,
            "the server kept serving after SIGTERM"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(
        child.try_wait().unwrap().is_none(),
        "it waits for the queued turns"
    );
    blocker.batch_execute("ROLLBACK").await.unwrap();
    let exit = stop_waiting(&mut child).await;
    assert!(exit.success(), "{exit}");
    assert_eq!(
        db.count("SELECT coalesce(sum(message_count), 0)::bigint AS n FROM assistants")
            .await,
        3
    );
    assert_eq!(db.count("SELECT count(*) AS n FROM chat_messages").await, 6);
    shard.stop().await;
    let _ = std::fs::remove_file(&log);
}

/// Waits (up to 20 s) for an already signalled process to exit.
async fn stop_waiting(child: &mut std::process::Child) -> std::process::ExitStatus {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(exit) = child.try_wait().unwrap() {
            return exit;
        }
        assert!(Instant::now() < deadline, "the server did not exit");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
