//! The cache of what an access token resolves to (`ACCESS_CACHE_TTL`):
//! whatever changes — even by hand in SQL — reaches the next requests at
//! once through Postgres LISTEN/NOTIFY; this replica's own changes (logout,
//! a purchase) are seen by the very next request.

use heyclaw_test_support::{TestApp, eventually, json_body};
use reqwest::Method;
use serde_json::{Value, json};

async fn spawn() -> (TestApp, String) {
    let app = TestApp::spawn_with(&[("ACCESS_CACHE_TTL", "30s")]).await;
    let signup = app.signup("cached@example.com", "testpass123").await;
    // Signing up wakes the agent, which changes the assistant's status (and
    // evicts the cached entry): let that settle first.
    app.wait_resident(signup["user"]["id"].as_str().unwrap())
        .await;
    let token = signup["access_token"].as_str().unwrap().to_owned();
    (app, token)
}

async fn message(app: &TestApp, token: &str) -> (u16, Value) {
    let response = app
        .request(
            Method::POST,
            "/agent/message",
            Some(token),
            Some(&json!({"text": "hi"})),
        )
        .await;
    (response.status().as_u16(), json_body(response).await)
}

#[tokio::test]
async fn a_suspension_made_in_sql_reaches_the_cached_session() {
    let (app, token) = spawn().await;
    // Warm the cache (the change feed connects in the background).
    eventually("messages are answered", async || {
        message(&app, &token).await.0 == 200
    })
    .await;
    app.db
        .execute("UPDATE users SET status = 'suspended'")
        .await;
    eventually("the suspension is seen", async || {
        message(&app, &token).await.0 == 403
    })
    .await;
    app.db.execute("UPDATE users SET status = 'active'").await;
    eventually("and lifted", async || message(&app, &token).await.0 == 200).await;
    app.shutdown().await;
}

#[tokio::test]
async fn plan_and_limit_changes_reach_the_cached_message_path() {
    let (app, token) = spawn().await;
    eventually("messages are answered", async || {
        message(&app, &token).await.0 == 200
    })
    .await;
    app.db
        .execute("UPDATE subscriptions SET plan = 'pro'")
        .await;
    eventually("the new plan's limit is used", async || {
        message(&app, &token).await.1["usage"]["messagesLimit"] == 500
    })
    .await;
    app.db
        .execute("UPDATE plan_limits SET daily_text_messages = 600 WHERE plan = 'pro'")
        .await;
    eventually("the new limit is used", async || {
        message(&app, &token).await.1["usage"]["messagesLimit"] == 600
    })
    .await;
    app.shutdown().await;
}

#[tokio::test]
async fn logout_is_seen_by_the_very_next_request() {
    let (app, token) = spawn().await;
    eventually("messages are answered", async || {
        message(&app, &token).await.0 == 200
    })
    .await;
    let me = app
        .request(Method::GET, "/user/me", Some(&token), None)
        .await;
    assert_eq!(me.status(), 200);
    let logout = app
        .request(Method::POST, "/auth/logout", Some(&token), None)
        .await;
    assert_eq!(logout.status(), 200);
    assert_eq!(
        message(&app, &token).await.0,
        401,
        "no waiting for the change feed"
    );
    app.shutdown().await;
}

/// With the cache warm, a message needs no Postgres round trip: it is
/// answered while the users table is locked against every reader.
#[tokio::test]
async fn a_cached_message_does_not_touch_postgres() {
    use diesel_async::SimpleAsyncConnection;

    let (app, token) = spawn().await;
    let answered = std::sync::atomic::AtomicI64::new(0);
    eventually("messages are answered", async || {
        let ok = message(&app, &token).await.0 == 200;
        answered.fetch_add(i64::from(ok), std::sync::atomic::Ordering::SeqCst);
        ok
    })
    .await;
    // The turn recorder writes to these tables too: let it finish first, or
    // the lock below and its transaction could deadlock.
    let answered = answered.load(std::sync::atomic::Ordering::SeqCst);
    eventually("the answered turns are recorded", async || {
        app.db
            .count("SELECT message_count AS n FROM assistants")
            .await
            == answered
    })
    .await;
    let mut locker = app.db.connect().await;
    locker
        .batch_execute(
            "BEGIN; LOCK TABLE users, subscriptions, assistants IN ACCESS EXCLUSIVE MODE",
        )
        .await
        .unwrap();
    let answered =
        tokio::time::timeout(std::time::Duration::from_secs(5), message(&app, &token)).await;
    locker.batch_execute("ROLLBACK").await.unwrap();
    let (status, body) = answered.expect("answered without waiting for the locked tables");
    assert_eq!(status, 200, "{body}");
    app.shutdown().await;
}
