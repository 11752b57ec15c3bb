use heyclaw_test_support::{ShardOptions, TestApp, json_body};
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
async fn ready_checks_postgres_redis_and_each_gateway_shard() {
    let app = TestApp::spawn_sharded(
        vec![
            ShardOptions {
                id: "a".into(),
                ..ShardOptions::default()
            },
            ShardOptions {
                id: "b".into(),
                ..ShardOptions::default()
            },
        ],
        vec![],
    )
    .await;
    let response = app.get("/ready").await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        json_body(response).await,
        json!({"ready": true, "status": "ok", "postgres": true, "redis": true,
               "gateways": {"a": true, "b": true}})
    );
    // One shard down: degraded, still ready (only its users are affected).
    app.shards[1].stop().await;
    let response = app.get("/ready").await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        json_body(response).await,
        json!({"ready": true, "status": "degraded", "postgres": true, "redis": true,
               "gateways": {"a": true, "b": false}})
    );
    // Every shard down: not ready.
    app.shards[0].stop().await;
    let response = app.get("/ready").await;
    assert_eq!(response.status(), 503);
    assert_eq!(json_body(response).await["status"], "down");
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

/// Every operation of the OpenAPI document is a route the server has (the
/// converse holds by construction: a route is registered only with its
/// description).
#[tokio::test]
async fn the_openapi_document_is_served_and_names_only_real_routes() {
    let app = TestApp::spawn().await;
    let response = app.get("/openapi.json").await;
    assert_eq!(response.status(), 200);
    let document: serde_json::Value = response.json().await.unwrap();
    assert_eq!(document["openapi"], "3.1.0");
    let paths = document["paths"].as_object().unwrap();
    assert!(paths.len() >= 40);
    for (path, item) in paths {
        let concrete = path.replace("{id}", "00000000-0000-4000-8000-000000000000");
        for method in item.as_object().unwrap().keys() {
            let method = reqwest::Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            let response = app.request(method.clone(), &concrete, None, None).await;
            let status = response.status();
            let body = response.text().await.unwrap_or_default();
            assert!(
                !(status == 404 && body.contains("No route for")),
                "{method} {path} is documented but not served"
            );
        }
    }
    app.shutdown().await;
}

#[tokio::test]
async fn metrics_are_served_on_their_own_listener_only() {
    let app = TestApp::spawn_with(&[("METRICS_PORT", "0")]).await;
    let token = app.signup("counted@example.com", "testpass123").await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let reply = app
        .request(
            reqwest::Method::POST,
            "/agent/message",
            Some(&token),
            Some(&json!({"text": "hi"})),
        )
        .await;
    assert_eq!(reply.status(), 200);
    assert_eq!(
        app.get("/metrics").await.status(),
        404,
        "not on the API's port"
    );
    let port = app.metrics_port.expect("a metrics port");
    let scrape = || async {
        reqwest::get(format!("http://127.0.0.1:{port}/metrics"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    };
    let expected = [
        r#"heyclaw_http_requests_total{route="/agent/message",method="POST",status="200"} 1"#,
        r#"heyclaw_http_request_seconds_count{route="/auth/signup",method="POST"} 1"#,
        r#"heyclaw_gateway_call_seconds_count{shard="default",outcome="ok"} 1"#,
        // The wake is the signup's pre-wake, recorded by its own task once it
        // sees the slot ready — possibly just after the message's answer.
        r#"heyclaw_agent_wake_seconds_count{shard="default"} 1"#,
    ];
    heyclaw_test_support::eventually("every expected series", || async {
        let text = scrape().await;
        expected.iter().all(|line| text.contains(line))
    })
    .await;
    app.shutdown().await;
}
