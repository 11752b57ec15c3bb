//! actix's own rejections must look like every other error: 4xx JSON with a
//! `message`, never a 5xx or an HTML/plain body.

use heyclaw_test_support::{TestApp, json_body};

async fn assert_json_error(response: reqwest::Response, status: u16, code: &str) -> String {
    assert_eq!(response.status(), status);
    let body = json_body(response).await;
    assert_eq!(body["code"], code, "{body}");
    let message = body["message"]
        .as_str()
        .expect("message is a string")
        .to_owned();
    assert!(!message.is_empty());
    message
}

#[tokio::test]
async fn unknown_routes_are_json_404s() {
    let app = TestApp::spawn().await;
    let message = assert_json_error(app.get("/no/such/route").await, 404, "not_found").await;
    assert_eq!(message, "No route for GET /no/such/route");
    let response = app.client.delete(app.url("/health")).send().await.unwrap();
    assert_json_error(response, 404, "not_found").await;
    app.shutdown().await;
}

#[tokio::test]
async fn each_test_has_its_own_database() {
    let first = TestApp::spawn().await;
    let second = TestApp::spawn().await;
    assert_ne!(first.db.name(), second.db.name());
    assert_ne!(first.redis.prefix(), second.redis.prefix());
    first.shutdown().await;
    second.shutdown().await;
}
