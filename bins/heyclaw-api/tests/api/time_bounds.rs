//! Bounded waits (api-contract §6): a gateway that accepts a request and
//! then says nothing costs the user a bounded wait and nothing else — a 504
//! JSON for a text turn, a clean `error` end for a voice stream — and the
//! next turn works.

use heyclaw_test_support::{TestApp, eventually, json_body};
use reqwest::Method;
use serde_json::{Value, json};

async fn spawn(overrides: &[(&str, &str)]) -> (TestApp, String) {
    let app = TestApp::spawn_with(overrides).await;
    let token = app.signup("slow@example.com", "testpass123").await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    (app, token)
}

async fn me(app: &TestApp, token: &str) -> Value {
    json_body(
        app.request(Method::GET, "/user/me", Some(token), None)
            .await,
    )
    .await
}

#[tokio::test]
async fn a_silent_gateway_gives_a_504_at_the_bound_and_charges_nothing() {
    let (app, token) = spawn(&[("OPENCLAW_REQUEST_TIMEOUT", "1s")]).await;
    let message = json!({"text": "hello"});
    app.gateway().set_delay(std::time::Duration::from_secs(600));
    let started = std::time::Instant::now();
    let response = app
        .request(Method::POST, "/agent/message", Some(&token), Some(&message))
        .await;
    assert_eq!(response.status(), 504);
    let body = json_body(response).await;
    assert_eq!(body["code"], "agent_timeout");
    assert!(body["message"].as_str().unwrap().contains("too long"));
    assert!(
        started.elapsed() < std::time::Duration::from_secs(20),
        "bounded by the setting, not by the gateway"
    );
    assert_eq!(me(&app, &token).await["usage"]["textMessages"], 0);

    app.gateway().set_delay(std::time::Duration::ZERO);
    let response = app
        .request(Method::POST, "/agent/message", Some(&token), Some(&message))
        .await;
    assert_eq!(response.status(), 200);
    assert_eq!(json_body(response).await["usage"]["messagesUsed"], 1);
    app.shutdown().await;
}

#[tokio::test]
async fn a_voice_turn_without_a_first_token_is_a_504_before_any_event() {
    let (app, token) = spawn(&[("OPENCLAW_FIRST_TOKEN_TIMEOUT", "1s")]).await;
    app.gateway().set_delay(std::time::Duration::from_secs(600));
    let response = app
        .request(
            Method::POST,
            "/agent/voice",
            Some(&token),
            Some(&json!({"text": "hi", "nativeTts": true, "recordingDuration": 4})),
        )
        .await;
    assert_eq!(response.status(), 504);
    assert_eq!(json_body(response).await["code"], "agent_timeout");
    assert_eq!(me(&app, &token).await["usage"]["voiceSeconds"], 0);
    app.shutdown().await;
}

#[tokio::test]
async fn a_voice_stream_that_stalls_mid_reply_ends_with_an_error_and_charges_nothing() {
    let (app, token) = spawn(&[("OPENCLAW_STREAM_IDLE_TIMEOUT", "1s")]).await;
    app.gateway()
        .reply_with("This answer stops after a few words and never goes on.");
    // The role chunk and two words, then silence with the connection open.
    app.gateway().stall_streams_after(3);
    let response = app
        .request(
            Method::POST,
            "/agent/voice",
            Some(&token),
            Some(&json!({"text": "hi", "nativeTts": true, "recordingDuration": 4})),
        )
        .await;
    assert_eq!(response.status(), 200);
    let text = response.text().await.unwrap();
    let events: Vec<Value> = text
        .lines()
        .filter_map(|line| line.strip_prefix("data: "))
        .map(|data| serde_json::from_str(data).unwrap())
        .collect();
    assert!(events.iter().any(|e| e["type"] == "token"), "{events:?}");
    let last = events.last().unwrap();
    assert_eq!(last["type"], "error", "{events:?}");
    assert!(events.iter().all(|e| e["type"] != "done"));
    eventually("the stalled turn is not charged", async || {
        me(&app, &token).await["usage"]["voiceSeconds"] == 0
    })
    .await;
    app.shutdown().await;
}
