//! Sign in with Apple: identity tokens signed by a local key, served from a
//! local JWKS endpoint over real HTTP.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use heyclaw_test_support::{
    TestApp,
    apple::{self, JwksStandIn, OTHER_KEY_PEM, OTHER_KID, TEST_KEY_PEM, TEST_KID},
    json_body,
};
use serde_json::{Value, json};

const BUNDLE: &str = "com.heyclaw.test";

async fn spawn() -> (TestApp, JwksStandIn) {
    let jwks = JwksStandIn::start().await;
    let app = TestApp::spawn_with(&[
        ("APPLE_JWKS_URL", &jwks.url),
        ("APPLE_BUNDLE_ID", BUNDLE),
        // Every unknown key id may refetch the keys.
        ("APPLE_JWKS_MIN_REFRESH", "0s"),
    ])
    .await;
    (app, jwks)
}

async fn apple_sign_in(app: &TestApp, body: Value) -> (u16, Value) {
    let response = app.post_json("/auth/apple", &body).await;
    let status = response.status().as_u16();
    (status, json_body(response).await)
}

fn token(sub: &str, email: Option<&str>, verified: bool) -> String {
    apple::sign(
        &apple::claims(BUNDLE, sub, email, verified),
        TEST_KID,
        TEST_KEY_PEM,
    )
}

#[tokio::test]
async fn a_valid_token_signs_in_and_the_same_sub_finds_the_same_user() {
    let (app, jwks) = spawn().await;
    let body = json!({
        "identityToken": token("apple-sub-1", Some("abc123@privaterelay.appleid.com"), true),
        "authorizationCode": "ignored",
        "fullName": {"givenName": "Ada", "familyName": "Lovelace"},
        "email": "someone-else@example.com"
    });
    let (status, first) = apple_sign_in(&app, body).await;
    assert_eq!(status, 200, "{first}");
    assert_eq!(first["is_new_user"], true);
    assert_eq!(
        first["user"]["email"], "abc123@privaterelay.appleid.com",
        "the token's address, not the body's"
    );
    assert_eq!(first["user"]["name"], "Ada Lovelace");
    let id = first["user"]["id"].as_str().unwrap();
    assert!(
        app.agent_placed(id).await,
        "the agent is provisioned like signup"
    );

    // Later sign-ins carry no name; the sub finds the account.
    let (status, again) = apple_sign_in(
        &app,
        json!({"identityToken": token("apple-sub-1", None, false)}),
    )
    .await;
    assert_eq!(status, 200, "{again}");
    assert_eq!(
        (again["is_new_user"].as_bool(), again["user"]["id"].as_str()),
        (Some(false), Some(id))
    );
    // Such an account has no password.
    let login = app
        .post_json(
            "/auth/login",
            &json!({"email": "abc123@privaterelay.appleid.com", "password": "whatever1"}),
        )
        .await;
    assert_eq!(login.status(), 401);
    assert_eq!(jwks.hits(), 1, "keys are cached");
    app.shutdown().await;
}

#[tokio::test]
async fn forged_or_foreign_tokens_are_refused() {
    let (app, _jwks) = spawn().await;
    let now_claims = |aud: &str| apple::claims(aud, "sub-x", Some("x@example.com"), true);
    let mut expired = now_claims(BUNDLE);
    expired["exp"] = json!(expired["iat"].as_i64().unwrap() - 3600);
    let mut wrong_issuer = now_claims(BUNDLE);
    wrong_issuer["iss"] = json!("https://evil.example.com");
    let alg_none = format!(
        "{}.{}.",
        URL_SAFE_NO_PAD.encode(format!(r#"{{"alg":"none","kid":"{TEST_KID}"}}"#)),
        URL_SAFE_NO_PAD.encode(now_claims(BUNDLE).to_string())
    );
    let cases = [
        (
            "another key under the published kid",
            apple::sign(&now_claims(BUNDLE), TEST_KID, OTHER_KEY_PEM),
        ),
        (
            "wrong audience",
            apple::sign(&now_claims("com.other.app"), TEST_KID, TEST_KEY_PEM),
        ),
        (
            "wrong issuer",
            apple::sign(&wrong_issuer, TEST_KID, TEST_KEY_PEM),
        ),
        ("expired", apple::sign(&expired, TEST_KID, TEST_KEY_PEM)),
        ("alg none", alg_none),
        (
            "unknown kid",
            apple::sign(&now_claims(BUNDLE), "nobody-knows", TEST_KEY_PEM),
        ),
        ("garbage", "not.a.token".to_owned()),
    ];
    for (what, token) in cases {
        let (status, body) = apple_sign_in(&app, json!({ "identityToken": token })).await;
        assert_eq!(
            (status, body["message"].as_str()),
            (400, Some("Invalid identity token")),
            "{what}"
        );
    }
    let (status, body) = apple_sign_in(&app, json!({})).await;
    assert_eq!(
        (status, body["message"].as_str()),
        (400, Some("Identity token is required"))
    );
    app.shutdown().await;
}

#[tokio::test]
async fn an_unverified_email_never_links_to_an_existing_account() {
    let (app, _jwks) = spawn().await;
    let victim = app.signup("victim@example.com", "testpass123").await;
    let (status, body) = apple_sign_in(
        &app,
        json!({"identityToken": token("attacker-sub", Some("victim@example.com"), false)}),
    )
    .await;
    assert_eq!(status, 409, "{body}");
    // The body's e-mail is never used to link either.
    let (status, _) = apple_sign_in(
        &app,
        json!({"identityToken": token("attacker-sub", None, false), "email": "victim@example.com"}),
    )
    .await;
    assert_eq!(status, 400);
    // Apple vouching for the address links the account.
    let (status, linked) = apple_sign_in(
        &app,
        json!({"identityToken": token("victim-sub", Some("victim@example.com"), true)}),
    )
    .await;
    assert_eq!(status, 200, "{linked}");
    assert_eq!(linked["user"]["id"], victim["user"]["id"]);
    assert_eq!(linked["is_new_user"], false);
    app.shutdown().await;
}

#[tokio::test]
async fn rotated_keys_are_fetched_when_a_token_names_an_unknown_kid() {
    let (app, jwks) = spawn().await;
    assert_eq!(
        apple_sign_in(
            &app,
            json!({"identityToken": token("s1", Some("s1@example.com"), true)})
        )
        .await
        .0,
        200
    );
    assert_eq!(jwks.hits(), 1);
    jwks.publish_other_key();
    let rotated = apple::sign(
        &apple::claims(BUNDLE, "s2", Some("s2@example.com"), true),
        OTHER_KID,
        OTHER_KEY_PEM,
    );
    let (status, body) = apple_sign_in(&app, json!({ "identityToken": rotated })).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(jwks.hits(), 2);
    app.shutdown().await;
}

#[tokio::test]
async fn a_passwordless_account_can_set_a_password_by_reset() {
    let jwks = JwksStandIn::start().await;
    let smtp = heyclaw_test_support::SmtpStandIn::start().await;
    let mut env = smtp.settings();
    env.push(("APPLE_JWKS_URL".into(), jwks.url.clone()));
    env.push(("APPLE_BUNDLE_ID".into(), BUNDLE.into()));
    let app = TestApp::spawn_with_env(env).await;
    let (status, _) = apple_sign_in(
        &app,
        json!({"identityToken": token("pw-sub", Some("pw@example.com"), true)}),
    )
    .await;
    assert_eq!(status, 200);
    app.post_json("/auth/forgot-password", &json!({"email": "pw@example.com"}))
        .await;
    let mails = smtp.wait_for(1, std::time::Duration::from_secs(10)).await;
    let body = mails[0].body();
    let start = body.find("token=").unwrap() + "token=".len();
    let reset: String = body[start..]
        .chars()
        .take_while(char::is_ascii_hexdigit)
        .collect();
    let response = app
        .post_json(
            "/auth/reset-password",
            &json!({"token": reset, "new_password": "chosen-pass-1"}),
        )
        .await;
    assert_eq!(response.status(), 200);
    let login = app
        .post_json(
            "/auth/login",
            &json!({"email": "pw@example.com", "password": "chosen-pass-1"}),
        )
        .await;
    assert_eq!(login.status(), 200);
    app.shutdown().await;
}
