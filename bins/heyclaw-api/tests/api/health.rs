use heyclaw_test_support::{TestApp, json_body};
use serde_json::json;

#[tokio::test]
async fn health_answers_the_seed_body() {
    let app = TestApp::spawn().await;
    for path in ["/health", "/"] {
        let response = app.get(path).await;
        assert_eq!(response.status(), 200);
        assert!(response.headers().contains_key("x-request-id"));
        assert_eq!(
            json_body(response).await,
            json!({"status": "ok", "service": "heyclaw-api"})
        );
    }
    app.shutdown().await;
}

#[tokio::test]
async fn ready_checks_postgres_and_redis() {
    let app = TestApp::spawn().await;
    let response = app.get("/ready").await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        json_body(response).await,
        json!({"ready": true, "postgres": true, "redis": true})
    );
    app.shutdown().await;
}

#[tokio::test]
async fn cors_allows_any_origin() {
    let app = TestApp::spawn().await;
    let response = app
        .client
        .get(app.url("/health"))
        .header("origin", "https://example.com")
        .send()
        .await
        .unwrap();
    assert!(
        response
            .headers()
            .contains_key("access-control-allow-origin")
    );
    app.shutdown().await;
}
