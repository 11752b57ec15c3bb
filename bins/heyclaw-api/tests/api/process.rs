//! The real binary: configuration errors, serving, graceful shutdown.

use std::{
    net::TcpListener,
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use heyclaw_test_support::{TestDatabase, redis_url};

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

#[tokio::test(flavor = "multi_thread")]
async fn serves_health_and_stops_gracefully_on_sigterm() {
    let db = TestDatabase::create().await;
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut child = server_command()
        .env("DATABASE_URL", db.url())
        .env("REDIS_URL", redis_url())
        .env("REDIS_KEY_PREFIX", format!("heyclaw-test-proc-{port}"))
        .env("JWT_SECRET", "x".repeat(40))
        .env("OPENCLAW_GATEWAY_TOKEN", "y".repeat(20))
        .env("HOST", "127.0.0.1")
        .env("PORT", port.to_string())
        .env("HTTP_WORKERS", "1")
        .spawn()
        .unwrap();
    let url = format!("http://127.0.0.1:{port}/health");
    let deadline = Instant::now() + Duration::from_secs(20);
    let body = loop {
        if let Ok(response) = reqwest::get(&url).await {
            break response.text().await.unwrap();
        }
        assert!(Instant::now() < deadline, "server did not come up");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(body, r#"{"status":"ok","service":"heyclaw-api"}"#);

    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let deadline = Instant::now() + Duration::from_secs(20);
    let exit = loop {
        if let Some(exit) = child.try_wait().unwrap() {
            break exit;
        }
        assert!(Instant::now() < deadline, "server ignored SIGTERM");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(exit.success(), "graceful shutdown exits 0, got {exit}");
}
