//! Sign-in with an e-mailed one-time code, through a real SMTP conversation.

use std::time::Duration;

use heyclaw_test_support::{CapturedMail, SmtpStandIn, TestApp, json_body};
use reqwest::Method;
use serde_json::{Value, json};

async fn count(app: &TestApp, sql: &str) -> i64 {
    app.db.count(sql).await
}

async fn spawn(extra: &[(&str, &str)]) -> (TestApp, SmtpStandIn) {
    let smtp = SmtpStandIn::start().await;
    let mut env = smtp.settings();
    env.extend(
        extra
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
    );
    (TestApp::spawn_with_env(env).await, smtp)
}

fn code_in(mail: &CapturedMail) -> String {
    let body = mail.body();
    let start = body.find("code is ").expect("the mail states the code") + "code is ".len();
    body[start..start + 6].to_owned()
}

async fn send(app: &TestApp, email: &str) -> (u16, Value) {
    let response = app
        .post_json("/auth/send-otp", &json!({ "email": email }))
        .await;
    let status = response.status().as_u16();
    (status, json_body(response).await)
}

async fn verify(app: &TestApp, email: &str, code: &str) -> (u16, Value) {
    let response = app
        .post_json("/auth/verify-otp", &json!({ "email": email, "code": code }))
        .await;
    let status = response.status().as_u16();
    (status, json_body(response).await)
}

#[tokio::test]
async fn a_new_address_signs_in_with_its_code_and_gets_a_whole_account() {
    let (app, smtp) = spawn(&[]).await;
    assert_eq!(
        send(&app, "New.User@Example.com").await,
        (200, json!({"message": "Code sent", "is_new_user": true}))
    );
    let mails = smtp.wait_for(1, Duration::from_secs(10)).await;
    assert_eq!(mails[0].to, ["<new.user@example.com>"]);
    let code = code_in(&mails[0]);
    assert!(code.chars().all(|c| c.is_ascii_digit()), "{code}");
    // Only a keyed hash is stored.
    assert_eq!(
        count(
            &app,
            &format!(
                "SELECT count(*) AS n FROM email_login_codes WHERE code_hash = '{code}'::bytea"
            )
        )
        .await,
        0
    );

    let (status, body) = verify(&app, "new.user@example.com", &code).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["is_new_user"], true);
    assert_eq!(body["user"]["email"], "new.user@example.com");
    let id = body["user"]["id"].as_str().unwrap();
    // Created exactly as signup does: subscription, assistant, agent.
    assert_eq!(
        count(
            &app,
            &format!(
                "SELECT count(*) AS n FROM subscriptions WHERE user_id = '{id}' AND plan = 'free'"
            )
        )
        .await,
        1
    );
    assert!(app.agent_placed(id).await);
    let me = app
        .request(Method::GET, "/user/me", body["access_token"].as_str(), None)
        .await;
    assert_eq!(me.status(), 200);
    // Such an account has no password: password login says the usual.
    let login = app
        .post_json(
            "/auth/login",
            &json!({"email": "new.user@example.com", "password": "anything123"}),
        )
        .await;
    assert_eq!(login.status(), 401);

    // A second sign-in finds the same account.
    assert_eq!(
        send(&app, "new.user@example.com").await.1["is_new_user"],
        false
    );
    let mails = smtp.wait_for(2, Duration::from_secs(10)).await;
    let (status, again) = verify(&app, "new.user@example.com", &code_in(&mails[1])).await;
    assert_eq!(status, 200);
    assert_eq!(again["is_new_user"], false);
    assert_eq!(again["user"]["id"], id);
    app.shutdown().await;
}

#[tokio::test]
async fn a_code_works_once_and_only_the_latest_code_works() {
    let (app, smtp) = spawn(&[]).await;
    // Mails leave in the background: wait for each before asking for the next.
    send(&app, "once@example.com").await;
    let first = code_in(&smtp.wait_for(1, Duration::from_secs(10)).await[0]);
    send(&app, "once@example.com").await;
    let second = code_in(&smtp.wait_for(2, Duration::from_secs(10)).await[1]);
    if first != second {
        let (status, body) = verify(&app, "once@example.com", &first).await;
        assert_eq!(
            (status, body["message"].as_str()),
            (400, Some("Invalid code")),
            "a replaced code is dead"
        );
    }
    assert_eq!(verify(&app, "once@example.com", &second).await.0, 200);
    let (status, body) = verify(&app, "once@example.com", &second).await;
    assert_eq!(
        (status, body["message"].as_str()),
        (400, Some("Code expired. Please request a new one."))
    );
    app.shutdown().await;
}

#[tokio::test]
async fn codes_expire() {
    let (app, smtp) = spawn(&[]).await;
    send(&app, "late@example.com").await;
    let code = code_in(&smtp.wait_for(1, Duration::from_secs(10)).await[0]);
    // Ten minutes pass.
    app.db
        .execute("UPDATE email_login_codes SET expires_at = now() - interval '1 second'")
        .await;
    let (status, body) = verify(&app, "late@example.com", &code).await;
    assert_eq!(
        (status, body["message"].as_str()),
        (400, Some("Code expired. Please request a new one."))
    );
    app.shutdown().await;
}

#[tokio::test]
async fn five_wrong_tries_kill_the_code() {
    let (app, smtp) = spawn(&[]).await;
    send(&app, "guess@example.com").await;
    let code = code_in(&smtp.wait_for(1, Duration::from_secs(10)).await[0]);
    let wrong = if code == "000000" { "111111" } else { "000000" };
    for _ in 0..5 {
        let (status, body) = verify(&app, "guess@example.com", wrong).await;
        assert_eq!(
            (status, body["message"].as_str()),
            (400, Some("Invalid code"))
        );
    }
    let (status, _) = verify(&app, "guess@example.com", &code).await;
    assert_eq!(
        status, 400,
        "the right code no longer works after five wrong tries"
    );
    app.shutdown().await;
}

#[tokio::test]
async fn sending_is_limited_per_address() {
    let (app, _smtp) = spawn(&[("OTP_MAX_PER_ACCOUNT", "2")]).await;
    assert_eq!(send(&app, "spam@example.com").await.0, 200);
    assert_eq!(send(&app, "spam@example.com").await.0, 200);
    let response = app
        .post_json("/auth/send-otp", &json!({"email": "spam@example.com"}))
        .await;
    assert_eq!(response.status(), 429);
    assert!(response.headers().contains_key("retry-after"));
    assert!(
        json_body(response).await["message"]
            .as_str()
            .unwrap()
            .contains("limit")
    );
    app.shutdown().await;
}

#[tokio::test]
async fn answers_differ_only_in_is_new_user() {
    let (app, _smtp) = spawn(&[]).await;
    app.signup("known@example.com", "testpass123").await;
    let (known_status, mut known) = send(&app, "known@example.com").await;
    let (unknown_status, mut unknown) = send(&app, "unknown@example.com").await;
    assert_eq!((known_status, unknown_status), (200, 200));
    assert_eq!(
        (known["is_new_user"].clone(), unknown["is_new_user"].clone()),
        (json!(false), json!(true))
    );
    known.as_object_mut().unwrap().remove("is_new_user");
    unknown.as_object_mut().unwrap().remove("is_new_user");
    assert_eq!(known, unknown);
    // Wrong codes say the same for both.
    assert_eq!(
        verify(&app, "known@example.com", "123456").await,
        verify(&app, "unknown@example.com", "123456").await
    );
    app.shutdown().await;
}

#[tokio::test]
async fn bad_input_is_400() {
    let (app, _smtp) = spawn(&[]).await;
    assert_eq!(
        send(&app, "").await,
        (
            400,
            json!({"message": "Email is required", "code": "invalid_request"})
        )
    );
    let missing = app.post_json("/auth/send-otp", &json!({})).await;
    assert_eq!(json_body(missing).await["message"], "Email is required");
    assert_eq!(send(&app, "not-an-email").await.0, 400);
    for body in [
        json!({}),
        json!({"email": "a@example.com"}),
        json!({"code": "123456"}),
    ] {
        let response = app.post_json("/auth/verify-otp", &body).await;
        assert_eq!(response.status(), 400);
        assert_eq!(
            json_body(response).await["message"],
            "Email and code are required"
        );
    }
    app.shutdown().await;
}

#[tokio::test]
async fn the_review_account_signs_in_with_its_fixed_code_and_gets_no_mail() {
    let (app, smtp) = spawn(&[
        ("REVIEW_ACCOUNT_EMAIL", "review@heyclaw.app"),
        ("REVIEW_ACCOUNT_CODE", "424242"),
    ])
    .await;
    assert_eq!(
        send(&app, "Review@HeyClaw.app").await,
        (200, json!({"message": "Code sent", "is_new_user": true}))
    );
    let (status, body) = verify(&app, "review@heyclaw.app", "424242").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["is_new_user"], true);
    assert_eq!(verify(&app, "review@heyclaw.app", "000000").await.0, 400);
    assert_eq!(
        verify(&app, "review@heyclaw.app", "424242").await.1["is_new_user"],
        false
    );
    assert!(
        smtp.wait_for(1, Duration::from_millis(500))
            .await
            .is_empty(),
        "the review account is never mailed"
    );
    app.shutdown().await;
}

#[tokio::test]
async fn guesses_at_the_review_code_hit_the_login_limit() {
    let (app, _smtp) = spawn(&[
        ("REVIEW_ACCOUNT_EMAIL", "review@heyclaw.app"),
        ("REVIEW_ACCOUNT_CODE", "424242"),
    ])
    .await;
    // The login limit: 10 tries per address in 15 minutes. A success
    // clears the count.
    for _ in 0..9 {
        assert_eq!(verify(&app, "review@heyclaw.app", "000000").await.0, 400);
    }
    assert_eq!(verify(&app, "review@heyclaw.app", "424242").await.0, 200);
    for _ in 0..10 {
        assert_eq!(verify(&app, "review@heyclaw.app", "111111").await.0, 400);
    }
    let (status, body) = verify(&app, "review@heyclaw.app", "424242").await;
    assert_eq!(status, 429, "{body}");
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .starts_with("Login attempt limit reached"),
        "{body}"
    );
    app.shutdown().await;
}
