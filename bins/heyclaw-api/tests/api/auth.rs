//! Accounts end to end: signup, login, refresh rotation and reuse detection,
//! logout, password reset through a real SMTP conversation, limits, deletion.

use std::time::Duration;

use diesel_async::RunQueryDsl;
use heyclaw_test_support::{SmtpStandIn, TestApp, json_body};
use reqwest::Method;
use serde_json::{Value, json};

async fn count(app: &TestApp, sql: &str) -> i64 {
    app.db.count(sql).await
}

fn token(body: &Value, field: &str) -> String {
    body[field].as_str().expect("token field").to_owned()
}

async fn status_and_body(response: reqwest::Response) -> (u16, Value) {
    let status = response.status().as_u16();
    (status, json_body(response).await)
}

#[tokio::test]
async fn signup_creates_user_subscription_and_assistant_and_returns_tokens() {
    let app = TestApp::spawn().await;
    let response = app
        .post_json(
            "/auth/signup",
            &json!({"email": "  Alice@Example.COM ", "password": "testpass123", "name": "Alice"}),
        )
        .await;
    assert_eq!(response.status(), 201);
    let body = json_body(response).await;
    assert_eq!(body["user"]["email"], "alice@example.com");
    assert_eq!(body["user"]["name"], "Alice");
    assert!(body["access_token"].as_str().unwrap().split('.').count() == 3);
    assert_eq!(body["refresh_token"].as_str().unwrap().len(), 128);
    let id = body["user"]["id"].as_str().unwrap();
    assert_eq!(count(&app, &format!("SELECT count(*) AS n FROM subscriptions WHERE user_id = '{id}' AND plan = 'free' AND status = 'active'")).await, 1);
    assert_eq!(
        count(&app, &format!("SELECT count(*) AS n FROM assistants WHERE user_id = '{id}' AND agent_id = 'agent-{id}' AND display_name = 'Alice' AND voice = 'nova'")).await,
        1
    );
    // The password is stored only as an argon2id hash.
    assert_eq!(
        count(
            &app,
            "SELECT count(*) AS n FROM users WHERE password_hash LIKE '$argon2id$%'"
        )
        .await,
        1
    );

    let unnamed = app
        .post_json(
            "/auth/signup",
            &json!({"email": "bob@example.com", "password": "testpass123"}),
        )
        .await;
    let unnamed = json_body(unnamed).await;
    assert_eq!(unnamed["user"]["name"], Value::Null);
    let bob = unnamed["user"]["id"].as_str().unwrap();
    assert_eq!(
        count(&app, &format!("SELECT count(*) AS n FROM assistants WHERE user_id = '{bob}' AND display_name = 'My Assistant'")).await,
        1
    );
    app.shutdown().await;
}

#[tokio::test]
async fn the_same_email_in_any_case_is_one_account() {
    let app = TestApp::spawn().await;
    app.signup("carol@example.com", "testpass123").await;
    let (status, body) = status_and_body(
        app.post_json(
            "/auth/signup",
            &json!({"email": "CAROL@example.com", "password": "otherpass123"}),
        )
        .await,
    )
    .await;
    assert_eq!(status, 409);
    assert_eq!(body["message"], "Email already registered");
    app.shutdown().await;
}

#[tokio::test]
async fn concurrent_duplicate_signups_give_one_201_and_the_rest_409() {
    let app = TestApp::spawn().await;
    let app_ref = &app;
    let attempts = (0..12).map(|i| {
        let email = if i % 2 == 0 {
            "dave@example.com"
        } else {
            "DAVE@example.com"
        };
        let body = json!({"email": email, "password": "testpass123"});
        async move { app_ref.post_json("/auth/signup", &body).await }
    });
    let statuses: Vec<u16> = futures_util::future::join_all(attempts)
        .await
        .into_iter()
        .map(|r| r.status().as_u16())
        .collect();
    assert_eq!(
        statuses.iter().filter(|s| **s == 201).count(),
        1,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 409).count(),
        11,
        "{statuses:?}"
    );
    assert_eq!(count(&app, "SELECT count(*) AS n FROM users").await, 1);
    assert_eq!(
        count(&app, "SELECT count(*) AS n FROM subscriptions").await,
        1
    );
    app.shutdown().await;
}

#[tokio::test]
async fn login_accepts_the_right_password_only_and_never_says_which_part_was_wrong() {
    let app = TestApp::spawn().await;
    app.signup("erin@example.com", "testpass123").await;
    let ok = app
        .post_json(
            "/auth/login",
            &json!({"email": "ERIN@example.com", "password": "testpass123"}),
        )
        .await;
    assert_eq!(ok.status(), 200);
    let body = json_body(ok).await;
    assert_eq!(body["user"]["email"], "erin@example.com");
    assert!(body["access_token"].is_string() && body["refresh_token"].is_string());

    let wrong = status_and_body(
        app.post_json(
            "/auth/login",
            &json!({"email": "erin@example.com", "password": "wrongpass1"}),
        )
        .await,
    )
    .await;
    let unknown = status_and_body(
        app.post_json(
            "/auth/login",
            &json!({"email": "nobody@example.com", "password": "testpass123"}),
        )
        .await,
    )
    .await;
    assert_eq!(
        wrong,
        (
            401,
            json!({"message": "Invalid email or password", "code": "invalid_credentials"})
        )
    );
    assert_eq!(wrong, unknown);
    app.shutdown().await;
}

async fn refresh(app: &TestApp, refresh_token: &str) -> (u16, Value) {
    status_and_body(
        app.post_json("/auth/refresh", &json!({"refresh_token": refresh_token}))
            .await,
    )
    .await
}

async fn me_status(app: &TestApp, access_token: &str) -> u16 {
    app.request(Method::GET, "/user/me", Some(access_token), None)
        .await
        .status()
        .as_u16()
}

#[tokio::test]
async fn refresh_rotates_and_an_older_token_revokes_the_whole_family() {
    let app = TestApp::spawn().await;
    let signup = app.signup("frank@example.com", "testpass123").await;
    let first = token(&signup, "refresh_token");

    let (status, rotated) = refresh(&app, &first).await;
    assert_eq!(status, 200);
    assert!(rotated.get("user").is_none());
    let second = token(&rotated, "refresh_token");
    assert_ne!(first, second);
    assert_eq!(me_status(&app, &token(&rotated, "access_token")).await, 200);
    let (status, rotated_again) = refresh(&app, &second).await;
    assert_eq!(status, 200);
    let third = token(&rotated_again, "refresh_token");

    // `first` is no longer the latest rotation (its successor was used in
    // turn), so even inside the grace window it is a replay: the family dies.
    let (status, body) = refresh(&app, &first).await;
    assert_eq!(status, 401);
    assert!(
        body["message"].as_str().unwrap().contains("already used"),
        "{body}"
    );
    let (status, _) = refresh(&app, &third).await;
    assert_eq!(status, 401, "the newest token of the family died too");

    // Another login (another family) is unaffected.
    let other = json_body(
        app.post_json(
            "/auth/login",
            &json!({"email": "frank@example.com", "password": "testpass123"}),
        )
        .await,
    )
    .await;
    let (status, _) = refresh(&app, &token(&other, "refresh_token")).await;
    assert_eq!(status, 200);
    app.shutdown().await;
}

/// The shipped app refreshes from several requests at once with one token
/// (api-contract §6): every one of them must get a working pair.
#[tokio::test]
async fn concurrent_refreshes_with_one_token_all_get_working_pairs() {
    let app = TestApp::spawn().await;
    let signup = app.signup("gina@example.com", "testpass123").await;
    let refresh_token = token(&signup, "refresh_token");
    let attempts = (0..10).map(|_| refresh(&app, &refresh_token));
    let answers = futures_util::future::join_all(attempts).await;
    assert!(
        answers.iter().all(|(status, _)| *status == 200),
        "{answers:?}"
    );
    let mut refresh_tokens = std::collections::HashSet::new();
    for (_, pair) in &answers {
        assert_eq!(me_status(&app, &token(pair, "access_token")).await, 200);
        refresh_tokens.insert(token(pair, "refresh_token"));
    }
    assert_eq!(refresh_tokens.len(), 10, "every pair is a fresh one");
    // Each returned refresh token rotates in its turn.
    for refresh_token in &refresh_tokens {
        let (status, pair) = refresh(&app, refresh_token).await;
        assert_eq!(status, 200, "{pair}");
    }
    app.shutdown().await;
}

#[tokio::test]
async fn a_rotated_token_presented_after_the_grace_window_revokes_the_family() {
    let app = TestApp::spawn().await;
    let signup = app.signup("gail@example.com", "testpass123").await;
    let first = token(&signup, "refresh_token");
    let (status, rotated) = refresh(&app, &first).await;
    assert_eq!(status, 200);
    let (status, again) = refresh(&app, &first).await;
    assert_eq!(status, 200, "inside the window: {again}");

    app.clock.advance(Duration::from_secs(31));
    let (status, body) = refresh(&app, &first).await;
    assert_eq!(status, 401, "{body}");
    for pair in [&rotated, &again] {
        let (status, _) = refresh(&app, &token(pair, "refresh_token")).await;
        assert_eq!(status, 401, "the family is revoked");
    }
    app.shutdown().await;
}

#[tokio::test]
async fn a_zero_grace_window_keeps_strict_single_use() {
    let app = TestApp::spawn_with(&[("REFRESH_REUSE_GRACE", "0s")]).await;
    let signup = app.signup("gwen@example.com", "testpass123").await;
    let first = token(&signup, "refresh_token");
    let (status, rotated) = refresh(&app, &first).await;
    assert_eq!(status, 200);
    app.clock.advance(Duration::from_millis(10));
    assert_eq!(refresh(&app, &first).await.0, 401);
    assert_eq!(
        refresh(&app, &token(&rotated, "refresh_token")).await.0,
        401
    );
    app.shutdown().await;
}

#[tokio::test]
async fn logout_revokes_the_access_token_at_once_and_ends_only_that_session() {
    let app = TestApp::spawn().await;
    let phone = app.signup("hank@example.com", "testpass123").await;
    let tablet = json_body(
        app.post_json(
            "/auth/login",
            &json!({"email": "hank@example.com", "password": "testpass123"}),
        )
        .await,
    )
    .await;
    let access = token(&phone, "access_token");

    let (status, body) = status_and_body(
        app.request(Method::POST, "/auth/logout", Some(&access), None)
            .await,
    )
    .await;
    assert_eq!(
        (status, body["message"].as_str()),
        (200, Some("Logged out"))
    );

    let (status, body) = status_and_body(
        app.request(Method::GET, "/user/me", Some(&access), None)
            .await,
    )
    .await;
    assert_eq!(
        (status, body["message"].as_str()),
        (401, Some("Token revoked"))
    );
    let (status, _) = status_and_body(
        app.post_json(
            "/auth/refresh",
            &json!({"refresh_token": token(&phone, "refresh_token")}),
        )
        .await,
    )
    .await;
    assert_eq!(status, 401, "the logged-out session cannot refresh");

    let me = app
        .request(
            Method::GET,
            "/user/me",
            Some(&token(&tablet, "access_token")),
            None,
        )
        .await;
    assert_eq!(me.status(), 200, "the other device stays signed in");
    let refreshed = app
        .post_json(
            "/auth/refresh",
            &json!({"refresh_token": token(&tablet, "refresh_token")}),
        )
        .await;
    assert_eq!(refreshed.status(), 200);
    app.shutdown().await;
}

async fn reset_token_from(mail: &heyclaw_test_support::CapturedMail) -> String {
    let body = mail.body();
    let start = body.find("token=").expect("the mail carries a reset link") + "token=".len();
    body[start..]
        .chars()
        .take_while(char::is_ascii_hexdigit)
        .collect()
}

#[tokio::test]
async fn password_reset_end_to_end_through_smtp() {
    let smtp = SmtpStandIn::start().await;
    let mut env = smtp.settings();
    env.push((
        "PASSWORD_RESET_URL".into(),
        "https://heyclaw.test/reset".into(),
    ));
    let app = TestApp::spawn_with_env(env).await;
    let signup = app.signup("ivy@example.com", "oldpass123").await;

    let (status, body) = status_and_body(
        app.post_json(
            "/auth/forgot-password",
            &json!({"email": "Ivy@Example.com"}),
        )
        .await,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(
        body["message"],
        "If an account exists, a reset link has been sent"
    );

    let mails = smtp.wait_for(1, Duration::from_secs(10)).await;
    assert_eq!(mails.len(), 1);
    assert_eq!(mails[0].to, ["<ivy@example.com>"]);
    assert!(
        mails[0]
            .body()
            .contains("https://heyclaw.test/reset?token="),
        "{}",
        mails[0].body()
    );
    let reset_token = reset_token_from(&mails[0]).await;
    assert_eq!(reset_token.len(), 128);
    // Only the hash is stored.
    assert_eq!(count(&app, &format!("SELECT count(*) AS n FROM password_reset_tokens WHERE token_hash = '\\x{reset_token}'")).await, 0);

    let (status, _) = status_and_body(
        app.post_json(
            "/auth/reset-password",
            &json!({"token": reset_token, "new_password": "short"}),
        )
        .await,
    )
    .await;
    assert_eq!(status, 400, "the new password is checked");
    let (status, body) = status_and_body(
        app.post_json(
            "/auth/reset-password",
            &json!({"token": reset_token, "new_password": "newpass123"}),
        )
        .await,
    )
    .await;
    assert_eq!(
        (status, body["message"].as_str()),
        (200, Some("Password reset successfully"))
    );

    let (status, _) = status_and_body(
        app.post_json(
            "/auth/reset-password",
            &json!({"token": reset_token, "new_password": "again12345"}),
        )
        .await,
    )
    .await;
    assert_eq!(status, 400, "a reset token works once");
    let old = app
        .post_json(
            "/auth/login",
            &json!({"email": "ivy@example.com", "password": "oldpass123"}),
        )
        .await;
    assert_eq!(old.status(), 401);
    let new = app
        .post_json(
            "/auth/login",
            &json!({"email": "ivy@example.com", "password": "newpass123"}),
        )
        .await;
    assert_eq!(new.status(), 200);
    let stale = app
        .post_json(
            "/auth/refresh",
            &json!({"refresh_token": token(&signup, "refresh_token")}),
        )
        .await;
    assert_eq!(stale.status(), 401, "a reset revokes every refresh token");
    app.shutdown().await;
}

#[tokio::test]
async fn forgot_password_does_not_reveal_whether_an_account_exists() {
    let smtp = SmtpStandIn::start().await;
    let app = TestApp::spawn_with_env(smtp.settings()).await;
    app.signup("jack@example.com", "testpass123").await;
    let known = app
        .post_json(
            "/auth/forgot-password",
            &json!({"email": "jack@example.com"}),
        )
        .await;
    let known = (
        known.status(),
        known.headers().get("content-type").cloned(),
        known.text().await.unwrap(),
    );
    let unknown = app
        .post_json(
            "/auth/forgot-password",
            &json!({"email": "jill@example.com"}),
        )
        .await;
    let unknown = (
        unknown.status(),
        unknown.headers().get("content-type").cloned(),
        unknown.text().await.unwrap(),
    );
    assert_eq!(known, unknown);
    // Only the real account gets a mail.
    let mails = smtp.wait_for(2, Duration::from_secs(2)).await;
    assert_eq!(mails.len(), 1);
    assert_eq!(mails[0].to, ["<jack@example.com>"]);
    app.shutdown().await;
}

#[tokio::test]
async fn failed_logins_are_limited_per_account_with_retry_after() {
    let app = TestApp::spawn_with(&[("LOGIN_MAX_FAILURES_PER_ACCOUNT", "3")]).await;
    app.signup("kate@example.com", "testpass123").await;
    for _ in 0..3 {
        let r = app
            .post_json(
                "/auth/login",
                &json!({"email": "kate@example.com", "password": "wrongpass1"}),
            )
            .await;
        assert_eq!(r.status(), 401);
    }
    let limited = app
        .post_json(
            "/auth/login",
            &json!({"email": "kate@example.com", "password": "testpass123"}),
        )
        .await;
    assert_eq!(
        limited.status(),
        429,
        "even the right password waits out the window"
    );
    let retry_after: u64 = limited.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=900).contains(&retry_after), "{retry_after}");
    let body = json_body(limited).await;
    assert!(
        body["message"].as_str().unwrap().contains("limit"),
        "{body}"
    );
    app.shutdown().await;
}

#[tokio::test]
async fn a_successful_login_clears_the_account_failures() {
    let app = TestApp::spawn_with(&[("LOGIN_MAX_FAILURES_PER_ACCOUNT", "3")]).await;
    app.signup("leo@example.com", "testpass123").await;
    for round in 0..3 {
        for _ in 0..2 {
            let r = app
                .post_json(
                    "/auth/login",
                    &json!({"email": "leo@example.com", "password": "wrongpass1"}),
                )
                .await;
            assert_eq!(r.status(), 401, "round {round}");
        }
        let ok = app
            .post_json(
                "/auth/login",
                &json!({"email": "leo@example.com", "password": "testpass123"}),
            )
            .await;
        assert_eq!(ok.status(), 200, "round {round}");
    }
    app.shutdown().await;
}

#[tokio::test]
async fn failed_logins_are_limited_per_client_ip() {
    let app = TestApp::spawn_with(&[("LOGIN_MAX_FAILURES_PER_IP", "4")]).await;
    for i in 0..4 {
        let r = app
            .post_json(
                "/auth/login",
                &json!({"email": format!("guess{i}@example.com"), "password": "wrongpass1"}),
            )
            .await;
        assert_eq!(r.status(), 401);
    }
    let r = app
        .post_json(
            "/auth/login",
            &json!({"email": "guess9@example.com", "password": "wrongpass1"}),
        )
        .await;
    assert_eq!(r.status(), 429);
    assert!(r.headers().contains_key("retry-after"));
    app.shutdown().await;
}

#[tokio::test]
async fn concurrent_failed_logins_never_exceed_the_limit() {
    let app = TestApp::spawn_with(&[("LOGIN_MAX_FAILURES_PER_ACCOUNT", "5")]).await;
    app.signup("mia@example.com", "testpass123").await;
    let body = json!({"email": "mia@example.com", "password": "wrongpass1"});
    let attempts = (0..20).map(|_| app.post_json("/auth/login", &body));
    let statuses: Vec<u16> = futures_util::future::join_all(attempts)
        .await
        .into_iter()
        .map(|r| r.status().as_u16())
        .collect();
    assert_eq!(
        statuses.iter().filter(|s| **s == 401).count(),
        5,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 429).count(),
        15,
        "{statuses:?}"
    );
    app.shutdown().await;
}

#[tokio::test]
async fn forgot_password_requests_are_limited() {
    let smtp = SmtpStandIn::start().await;
    let mut env = smtp.settings();
    env.push(("PASSWORD_RESET_MAX_PER_ACCOUNT".into(), "2".into()));
    let app = TestApp::spawn_with_env(env).await;
    for _ in 0..2 {
        let r = app
            .post_json(
                "/auth/forgot-password",
                &json!({"email": "ned@example.com"}),
            )
            .await;
        assert_eq!(r.status(), 200);
    }
    let r = app
        .post_json(
            "/auth/forgot-password",
            &json!({"email": "ned@example.com"}),
        )
        .await;
    assert_eq!(r.status(), 429);
    assert!(r.headers().contains_key("retry-after"));
    assert!(
        json_body(r).await["message"]
            .as_str()
            .unwrap()
            .contains("limit")
    );
    app.shutdown().await;
}

#[tokio::test]
async fn user_me_shows_profile_plan_usage_and_limits() {
    let app = TestApp::spawn().await;
    let signup = app.signup("olga@example.com", "testpass123").await;
    let id = signup["user"]["id"].as_str().unwrap().to_owned();
    let response = app
        .request(
            Method::GET,
            "/user/me",
            Some(&token(&signup, "access_token")),
            None,
        )
        .await;
    assert_eq!(response.status(), 200);
    let mut me = json_body(response).await;
    assert!(me["createdAt"].as_str().unwrap().contains('T'));
    me["createdAt"] = json!("<time>");
    assert_eq!(
        me,
        json!({
            "id": id,
            "email": "olga@example.com",
            "name": "Test User",
            "avatarUrl": null,
            "createdAt": "<time>",
            "plan": "free",
            "subscriptionStatus": "active",
            "subscriptionEndsAt": null,
            "agent": {"agentId": format!("agent-{id}"), "displayName": "Test User", "voice": "nova", "messageCount": 0},
            "usage": {"textMessages": 0, "voiceSeconds": 0, "ttsCharacters": 0},
            "limits": {"dailyTextMessages": 50, "dailyVoiceInputMinutes": 2, "dailyTtsCharacters": 5000},
            "appAccountToken": id,
            "timezone": "UTC"
        })
    );
    app.shutdown().await;
}

#[tokio::test]
async fn deleting_the_account_removes_every_row_of_the_user() {
    let app = TestApp::spawn().await;
    let signup = app.signup("pam@example.com", "testpass123").await;
    let other = app.signup("quinn@example.com", "testpass123").await;
    let access = token(&signup, "access_token");
    let second_login = json_body(
        app.post_json(
            "/auth/login",
            &json!({"email": "pam@example.com", "password": "testpass123"}),
        )
        .await,
    )
    .await;

    let (status, body) = status_and_body(
        app.request(Method::DELETE, "/user/me", Some(&access), None)
            .await,
    )
    .await;
    assert_eq!(
        (status, body["message"].as_str()),
        (200, Some("Account deleted"))
    );

    let id = signup["user"]["id"].as_str().unwrap();
    for table in [
        "users WHERE id",
        "subscriptions WHERE user_id",
        "assistants WHERE user_id",
        "refresh_tokens WHERE user_id",
    ] {
        assert_eq!(
            count(&app, &format!("SELECT count(*) AS n FROM {table} = '{id}'")).await,
            0,
            "{table}"
        );
    }
    assert_eq!(
        count(&app, "SELECT count(*) AS n FROM users").await,
        1,
        "the other user stays"
    );
    // Every token of the deleted account is dead.
    for access in [access, token(&second_login, "access_token")] {
        let r = app
            .request(Method::GET, "/user/me", Some(&access), None)
            .await;
        assert_eq!(r.status(), 401);
    }
    let login = app
        .post_json(
            "/auth/login",
            &json!({"email": "pam@example.com", "password": "testpass123"}),
        )
        .await;
    assert_eq!(login.status(), 401);
    let me = app
        .request(
            Method::GET,
            "/user/me",
            Some(&token(&other, "access_token")),
            None,
        )
        .await;
    assert_eq!(me.status(), 200);
    app.shutdown().await;
}

#[tokio::test]
async fn a_suspended_account_can_neither_log_in_nor_refresh_nor_call_routes() {
    let app = TestApp::spawn().await;
    let signup = app.signup("rex@example.com", "testpass123").await;
    let mut conn = app.db.connect().await;
    diesel::sql_query("UPDATE users SET status = 'suspended'")
        .execute(&mut conn)
        .await
        .unwrap();
    let expected = json!({"message": "Account is suspended", "code": "account_suspended"});
    let login = status_and_body(
        app.post_json(
            "/auth/login",
            &json!({"email": "rex@example.com", "password": "testpass123"}),
        )
        .await,
    )
    .await;
    assert_eq!(login, (403, expected.clone()));
    let refresh = status_and_body(
        app.post_json(
            "/auth/refresh",
            &json!({"refresh_token": token(&signup, "refresh_token")}),
        )
        .await,
    )
    .await;
    assert_eq!(refresh, (403, expected.clone()));
    let me = status_and_body(
        app.request(
            Method::GET,
            "/user/me",
            Some(&token(&signup, "access_token")),
            None,
        )
        .await,
    )
    .await;
    assert_eq!(me, (403, expected));
    // A wrong password still says nothing about the account's state.
    let wrong = app
        .post_json(
            "/auth/login",
            &json!({"email": "rex@example.com", "password": "wrongpass1"}),
        )
        .await;
    assert_eq!(wrong.status(), 401);
    app.shutdown().await;
}

#[tokio::test]
async fn a_reset_link_expires_by_the_injected_clock() {
    let smtp = SmtpStandIn::start().await;
    let app = TestApp::spawn_with_env(smtp.settings()).await;
    app.signup("kim@example.com", "oldpass123").await;
    let forgot = json!({ "email": "kim@example.com" });
    let forgot = || app.post_json("/auth/forgot-password", &forgot);
    assert_eq!(forgot().await.status(), 200);
    let mails = smtp.wait_for(1, Duration::from_secs(10)).await;
    let stale = reset_token_from(&mails[0]).await;
    app.clock.advance(Duration::from_secs(3600));
    let (status, body) = status_and_body(
        app.post_json(
            "/auth/reset-password",
            &json!({"token": stale, "new_password": "newpass123"}),
        )
        .await,
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["message"], "Invalid or expired reset token");

    // A fresh link, just before its hour is up, still works.
    assert_eq!(forgot().await.status(), 200);
    let mails = smtp.wait_for(2, Duration::from_secs(10)).await;
    let fresh = reset_token_from(&mails[1]).await;
    app.clock.advance(Duration::from_secs(3599));
    let (status, body) = status_and_body(
        app.post_json(
            "/auth/reset-password",
            &json!({"token": fresh, "new_password": "newpass123"}),
        )
        .await,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    app.shutdown().await;
}
