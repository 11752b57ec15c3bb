//! Bad input of every kind gets a 4xx with a JSON `message` — never a 5xx.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use heyclaw_test_support::{TestApp, json_body};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use reqwest::Method;
use serde_json::{Value, json};

/// The secret `TestApp` configures.
const TEST_JWT_SECRET: &str = "test-jwt-secret-0123456789abcdef0123456789";

async fn expect_error(response: reqwest::Response, status: u16) -> Value {
    assert_eq!(response.status(), status);
    let body = json_body(response).await;
    assert!(
        body["message"].as_str().is_some_and(|m| !m.is_empty()),
        "{body}"
    );
    body
}

#[tokio::test]
async fn malformed_and_mistyped_bodies_are_400s() {
    let app = TestApp::spawn().await;
    let body = expect_error(
        app.post_raw("/auth/signup", r#"{"email": "a@b.co", "password":"#)
            .await,
        400,
    )
    .await;
    assert_eq!(body["code"], "malformed_json");
    for raw in [
        "",
        "null",
        "[]",
        "\"text\"",
        "42",
        "{\"email\": \"a@b.co\",}",
    ] {
        expect_error(app.post_raw("/auth/signup", raw).await, 400).await;
    }
    let body = expect_error(
        app.post_json("/auth/signup", &json!({"email": 5, "password": true}))
            .await,
        400,
    )
    .await;
    assert_eq!(body["code"], "invalid_body");
    assert!(
        body["message"].as_str().unwrap().contains("invalid type"),
        "{body}"
    );
    expect_error(
        app.post_json(
            "/auth/login",
            &json!({"email": ["a@b.co"], "password": "x"}),
        )
        .await,
        400,
    )
    .await;
    expect_error(
        app.post_json("/auth/refresh", &json!({"refresh_token": 12345}))
            .await,
        400,
    )
    .await;
    app.shutdown().await;
}

#[tokio::test]
async fn wrong_content_type_is_415() {
    let app = TestApp::spawn().await;
    let response = app
        .client
        .post(app.url("/auth/signup"))
        .header("content-type", "text/plain")
        .body(r#"{"email":"a@b.co","password":"testpass123"}"#)
        .send()
        .await
        .unwrap();
    let body = expect_error(response, 415).await;
    assert_eq!(body["code"], "unsupported_media_type");
    app.shutdown().await;
}

#[tokio::test]
async fn oversized_bodies_are_413() {
    let app = TestApp::spawn_with(&[("MAX_BODY_BYTES", "4096")]).await;
    let huge = json!({"email": "a@b.co", "password": "x".repeat(10_000)});
    let body = expect_error(app.post_json("/auth/signup", &huge).await, 413).await;
    assert_eq!(body["code"], "payload_too_large");
    // Without a Content-Length (chunked), the limit still holds.
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> = vec![
        Ok(b"{\"email\":\"".to_vec()),
        Ok(vec![b'a'; 10_000]),
        Ok(b"\"}".to_vec()),
    ];
    let response = app
        .client
        .post(app.url("/auth/login"))
        .header("content-type", "application/json")
        .body(reqwest::Body::wrap_stream(futures_util::stream::iter(
            chunks,
        )))
        .send()
        .await
        .unwrap();
    expect_error(response, 413).await;
    app.shutdown().await;
}

#[tokio::test]
async fn missing_empty_and_absurd_fields_are_named() {
    let app = TestApp::spawn().await;
    let cases = [
        (json!({}), "Email is required"),
        (
            json!({"email": "", "password": "testpass123"}),
            "Email is required",
        ),
        (
            json!({"email": "   ", "password": "testpass123"}),
            "Email is required",
        ),
        (json!({"email": "a@b.co"}), "Password is required"),
        (
            json!({"email": "a@b.co", "password": ""}),
            "Password is required",
        ),
        (
            json!({"email": "a@b.co", "password": "short"}),
            "Password must be at least 8 characters",
        ),
        (
            json!({"email": "a@b.co", "password": "p".repeat(129)}),
            "Password must be at most 128 characters",
        ),
        (
            json!({"email": "a@b.co", "password": "testpass123", "name": "n".repeat(101)}),
            "Name must be at most 100 characters",
        ),
        (
            json!({"email": "a@b.co", "password": "testpass123", "name": "bell\u{7}"}),
            "Name must not contain control characters",
        ),
        (
            json!({"email": format!("{}@example.com", "a".repeat(300)), "password": "testpass123"}),
            "Email address is too long",
        ),
    ];
    for (body, message) in cases {
        let response = expect_error(app.post_json("/auth/signup", &body).await, 400).await;
        assert_eq!(response["message"], message, "{body}");
    }
    for (path, body, message) in [
        ("/auth/login", json!({}), "Email is required"),
        (
            "/auth/login",
            json!({"email": "a@b.co"}),
            "Password is required",
        ),
        ("/auth/refresh", json!({}), "Refresh token is required"),
        ("/auth/forgot-password", json!({}), "Email is required"),
        ("/auth/reset-password", json!({}), "Reset token is required"),
        (
            "/auth/reset-password",
            json!({"token": "abc"}),
            "Password is required",
        ),
        (
            "/auth/reset-password",
            json!({"token": "abc", "new_password": "newpass123"}),
            "Invalid or expired reset token",
        ),
    ] {
        let response = expect_error(app.post_json(path, &body).await, 400).await;
        assert_eq!(response["message"], message, "{path} {body}");
    }
    // A very long password at login is refused without being hashed.
    let long = expect_error(
        app.post_json(
            "/auth/login",
            &json!({"email": "a@b.co", "password": "p".repeat(50_000)}),
        )
        .await,
        401,
    )
    .await;
    assert_eq!(long["message"], "Invalid email or password");
    app.shutdown().await;
}

#[tokio::test]
async fn invalid_emails_are_400_and_unicode_is_welcome() {
    let app = TestApp::spawn().await;
    for email in [
        "plainaddress",
        "@example.com",
        "a@",
        "a@localhost",
        "a b@example.com",
        "a@@example.com",
        "<a>@example.com",
    ] {
        let body = expect_error(
            app.post_json(
                "/auth/signup",
                &json!({"email": email, "password": "testpass123"}),
            )
            .await,
            400,
        )
        .await;
        assert_eq!(body["message"], "Email address is not valid", "{email}");
    }
    let response = app
        .post_json(
            "/auth/signup",
            &json!({"email": "Zoë@Exämple.de", "password": "пароль-секрет", "name": "王小明 🦀"}),
        )
        .await;
    assert_eq!(response.status(), 201);
    let body = json_body(response).await;
    assert_eq!(body["user"]["email"], "zoë@exämple.de");
    assert_eq!(body["user"]["name"], "王小明 🦀");
    let login = app
        .post_json(
            "/auth/login",
            &json!({"email": "ZOË@exämple.de", "password": "пароль-секрет"}),
        )
        .await;
    assert_eq!(login.status(), 200);
    app.shutdown().await;
}

fn claims(sub: &str, exp_offset: i64) -> Value {
    let now = chrono::Utc::now().timestamp();
    json!({"sub": sub, "email": "x@example.com", "jti": uuid::Uuid::new_v4(), "fam": uuid::Uuid::new_v4(), "iat": now, "exp": now + exp_offset})
}

fn sign(alg: Algorithm, secret: &str, claims: &Value) -> String {
    jsonwebtoken::encode(
        &Header::new(alg),
        claims,
        &EncodingKey::from_secret(secret.as_bytes()),
    )
    .unwrap()
}

#[tokio::test]
async fn bad_tokens_are_401_with_a_reason() {
    let app = TestApp::spawn().await;
    let signup = app.signup("tom@example.com", "testpass123").await;
    let sub = signup["user"]["id"].as_str().unwrap();
    let valid = signup["access_token"].as_str().unwrap().to_owned();

    let alg_none = format!(
        "{}.{}.",
        URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#),
        URL_SAFE_NO_PAD.encode(claims(sub, 900).to_string())
    );
    let mut parts: Vec<String> = valid.split('.').map(str::to_owned).collect();
    let mut payload: Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(&parts[1]).unwrap()).unwrap();
    payload["sub"] = json!(uuid::Uuid::new_v4());
    parts[1] = URL_SAFE_NO_PAD.encode(payload.to_string());
    let tampered = parts.join(".");

    let cases = [
        ("garbage", "Invalid token".to_owned()),
        ("a.b.c", "Invalid token".to_owned()),
        ("alg none", alg_none),
        ("tampered", tampered),
        (
            "other key",
            sign(
                Algorithm::HS256,
                "another-secret-0123456789abcdef0123456789",
                &claims(sub, 900),
            ),
        ),
        (
            "other algorithm",
            sign(Algorithm::HS512, TEST_JWT_SECRET, &claims(sub, 900)),
        ),
        (
            "expired",
            sign(Algorithm::HS256, TEST_JWT_SECRET, &claims(sub, -3600)),
        ),
    ];
    for (what, token) in cases {
        let token = if what == "garbage" {
            "not-a-jwt".to_owned()
        } else {
            token
        };
        let body = expect_error(
            app.request(Method::GET, "/user/me", Some(&token), None)
                .await,
            401,
        )
        .await;
        let expected = if what == "expired" {
            "Token expired"
        } else {
            "Invalid token"
        };
        assert_eq!(body["message"], expected, "{what}");
    }

    // A well-signed token for a user that does not exist.
    let ghost = sign(
        Algorithm::HS256,
        TEST_JWT_SECRET,
        &claims(&uuid::Uuid::new_v4().to_string(), 900),
    );
    expect_error(
        app.request(Method::GET, "/user/me", Some(&ghost), None)
            .await,
        401,
    )
    .await;

    for header in ["", "Bearer", "Bearer ", "Basic dXNlcjpwYXNz", &valid] {
        let response = app
            .client
            .get(app.url("/user/me"))
            .header("authorization", header)
            .send()
            .await
            .unwrap();
        let body = expect_error(response, 401).await;
        assert_eq!(body["message"], "Unauthorized", "{header:?}");
    }
    let none = expect_error(app.get("/user/me").await, 401).await;
    assert_eq!(none["message"], "Unauthorized");
    // The valid token itself works.
    assert_eq!(
        app.request(Method::GET, "/user/me", Some(&valid), None)
            .await
            .status(),
        200
    );
    app.shutdown().await;
}
