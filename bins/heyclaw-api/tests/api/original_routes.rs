//! The original's routes that callers still use: the account-deletion web
//! flow's API, profile changes, usage, provisioning, speech, the monitors'
//! health check, and the two web pages' headers.

use std::time::Duration;

use heyclaw_test_support::{
    CapturedMail, SmtpStandIn, TestApp, json_body,
    speech::{SPEECH_KEY, SpeechStandIn},
};
use reqwest::Method;
use serde_json::{Value, json};

async fn spawn_with_mail(extra: &[(&str, &str)]) -> (TestApp, SmtpStandIn) {
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

async fn status_and_body(response: reqwest::Response) -> (u16, Value) {
    let status = response.status().as_u16();
    (status, json_body(response).await)
}

async fn post(app: &TestApp, path: &str, token: Option<&str>, body: Value) -> (u16, Value) {
    status_and_body(app.request(Method::POST, path, token, Some(&body)).await).await
}

fn token_of(body: &Value) -> String {
    body["access_token"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn an_account_is_deleted_from_the_web_with_an_emailed_code() {
    let (app, smtp) = spawn_with_mail(&[]).await;
    let signup = app.signup("leaving@example.com", "testpass123").await;
    let user_id = signup["user"]["id"].as_str().unwrap().to_owned();
    let access = token_of(&signup);

    let expected = json!({"message": "If an account exists, a verification code has been sent"});
    assert_eq!(
        post(
            &app,
            "/auth/delete-request",
            None,
            json!({"email": "Leaving@Example.com"})
        )
        .await,
        (200, expected.clone())
    );
    assert_eq!(
        post(
            &app,
            "/auth/delete-request",
            None,
            json!({"email": "nobody@example.com"})
        )
        .await,
        (200, expected),
        "the same answer for an address without an account"
    );
    let mails = smtp.wait_for(1, Duration::from_secs(10)).await;
    assert_eq!(mails.len(), 1, "only the real account gets mail");
    assert_eq!(mails[0].to, ["<leaving@example.com>"]);
    let code = code_in(&mails[0]);

    // A deletion code does not sign in, and a wrong code is refused.
    let (status, _) = post(
        &app,
        "/auth/verify-otp",
        None,
        json!({"email": "leaving@example.com", "code": code}),
    )
    .await;
    assert_eq!(status, 400);
    let (status, _) = post(
        &app,
        "/auth/delete-verify",
        None,
        json!({"email": "leaving@example.com", "code": "000000"}),
    )
    .await;
    assert_eq!(status, 400);

    let (status, body) = post(
        &app,
        "/auth/delete-verify",
        None,
        json!({"email": "leaving@example.com", "code": code}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["message"], "Code verified");
    let deletion = body["token"].as_str().unwrap().to_owned();
    // The code is spent.
    let (status, _) = post(
        &app,
        "/auth/delete-verify",
        None,
        json!({"email": "leaving@example.com", "code": code}),
    )
    .await;
    assert_eq!(status, 400);

    // The deletion token is no access token, and an access token deletes nothing.
    let me = app
        .request(Method::GET, "/user/me", Some(&deletion), None)
        .await;
    assert_eq!(me.status(), 401);
    assert_eq!(
        post(&app, "/auth/delete-confirm", Some(&access), json!({}))
            .await
            .0,
        401
    );
    assert_eq!(
        post(&app, "/auth/delete-confirm", None, json!({})).await.0,
        401
    );

    let workspace = app.wait_resident(&user_id).await;
    assert!(workspace.join("USER.md").exists());
    let (status, body) = post(&app, "/auth/delete-confirm", Some(&deletion), json!({})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body, json!({"message": "Account deleted successfully"}));
    assert_eq!(
        app.db
            .count(&format!(
                "SELECT count(*) AS n FROM users WHERE id = '{user_id}'"
            ))
            .await,
        0
    );
    heyclaw_test_support::eventually("the keeper empties the slot (templates only)", async || {
        heyclaw_test_support::holds_only_the_templates(&workspace)
    })
    .await;
    assert_eq!(
        app.db
            .count(&format!(
                "SELECT count(*) AS n FROM agent_files WHERE user_id = '{user_id}'"
            ))
            .await,
        0
    );
    let me = app
        .request(Method::GET, "/user/me", Some(&access), None)
        .await;
    assert_eq!(me.status(), 401, "the old access token is dead");
    // Used once: the token deletes nothing more.
    assert_eq!(
        post(&app, "/auth/delete-confirm", Some(&deletion), json!({}))
            .await
            .0,
        401
    );
    app.shutdown().await;
}

#[tokio::test]
async fn a_deletion_token_expires_after_ten_minutes() {
    let (app, smtp) = spawn_with_mail(&[]).await;
    app.signup("slowpoke@example.com", "testpass123").await;
    post(
        &app,
        "/auth/delete-request",
        None,
        json!({"email": "slowpoke@example.com"}),
    )
    .await;
    let code = code_in(&smtp.wait_for(1, Duration::from_secs(10)).await[0]);
    let (_, body) = post(
        &app,
        "/auth/delete-verify",
        None,
        json!({"email": "slowpoke@example.com", "code": code}),
    )
    .await;
    let deletion = body["token"].as_str().unwrap().to_owned();
    app.clock.advance(Duration::from_secs(11 * 60));
    let (status, body) = post(&app, "/auth/delete-confirm", Some(&deletion), json!({})).await;
    assert_eq!(status, 401, "{body}");
    assert_eq!(app.db.count("SELECT count(*) AS n FROM users").await, 1);
    app.shutdown().await;
}

#[tokio::test]
async fn deletion_requests_are_validated_and_limited() {
    let (app, _smtp) = spawn_with_mail(&[("OTP_MAX_PER_ACCOUNT", "2")]).await;
    for body in [
        json!({}),
        json!({"email": ""}),
        json!({"email": "not-an-address"}),
    ] {
        let (status, answer) = post(&app, "/auth/delete-request", None, body.clone()).await;
        assert_eq!(status, 400, "{body} → {answer}");
    }
    for body in [
        json!({}),
        json!({"email": "a@example.com"}),
        json!({"code": "123456"}),
    ] {
        let (status, _) = post(&app, "/auth/delete-verify", None, body.clone()).await;
        assert_eq!(status, 400, "{body}");
    }
    for _ in 0..2 {
        let (status, _) = post(
            &app,
            "/auth/delete-request",
            None,
            json!({"email": "x@example.com"}),
        )
        .await;
        assert_eq!(status, 200);
    }
    let (status, body) = post(
        &app,
        "/auth/delete-request",
        None,
        json!({"email": "x@example.com"}),
    )
    .await;
    assert_eq!(status, 429);
    assert!(body["message"].as_str().unwrap().contains("limit"));
    app.shutdown().await;
}

#[tokio::test]
async fn the_profile_can_be_changed_within_its_rules() {
    let app = TestApp::spawn().await;
    let token = token_of(&app.signup("patch@example.com", "testpass123").await);
    let patch = async |body: Value| {
        status_and_body(
            app.request(Method::PATCH, "/user/me", Some(&token), Some(&body))
                .await,
        )
        .await
    };
    let (status, me) =
        patch(json!({"name": "  Pat  ", "avatar_url": "https://cdn.example.com/p.png"})).await;
    assert_eq!(status, 200, "{me}");
    assert_eq!(me["name"], "Pat");
    assert_eq!(me["avatarUrl"], "https://cdn.example.com/p.png");
    assert_eq!(me["plan"], "free", "the whole profile comes back");
    let (status, me) = patch(json!({"name": "Patricia"})).await;
    assert_eq!(
        (status, me["avatarUrl"].clone()),
        (200, json!("https://cdn.example.com/p.png"))
    );

    let (status, body) = patch(json!({})).await;
    assert_eq!(
        (status, body["message"].as_str()),
        (400, Some("No valid fields to update"))
    );
    for bad in [
        json!({"name": "x".repeat(101)}),
        json!({"name": "   "}),
        json!({"name": "bad\u{0007}name"}),
        json!({"avatar_url": "http://insecure.example.com/a.png"}),
        json!({"avatar_url": "javascript:alert(1)"}),
        json!({"avatar_url": format!("https://example.com/{}", "a".repeat(2050))}),
        json!({"name": 42}),
    ] {
        let (status, body) = patch(bad.clone()).await;
        assert_eq!(status, 400, "{bad} → {body}");
    }
    let me = json_body(
        app.request(Method::GET, "/user/me", Some(&token), None)
            .await,
    )
    .await;
    assert_eq!(me["name"], "Patricia", "refused changes changed nothing");
    app.shutdown().await;
}

#[tokio::test]
async fn usage_reports_the_same_numbers_as_the_profile() {
    let app = TestApp::spawn().await;
    let token = token_of(&app.signup("usage@example.com", "testpass123").await);
    let (status, _) = post(&app, "/agent/message", Some(&token), json!({"text": "hi"})).await;
    assert_eq!(status, 200);
    let usage = json_body(
        app.request(Method::GET, "/user/usage", Some(&token), None)
            .await,
    )
    .await;
    let me = json_body(
        app.request(Method::GET, "/user/me", Some(&token), None)
            .await,
    )
    .await;
    assert_eq!(usage["plan"], "free");
    assert_eq!(usage["usage"], me["usage"]);
    assert_eq!(usage["limits"], me["limits"]);
    assert_eq!(usage["usage"]["textMessages"], 1);
    assert!(usage["limits"]["dailyVoiceInputMinutes"].is_number());
    assert_eq!(
        app.request(Method::GET, "/user/usage", None, None)
            .await
            .status(),
        401
    );
    app.shutdown().await;
}

#[tokio::test]
async fn provisioning_reports_what_it_had_to_do() {
    let app = TestApp::spawn().await;
    let signup = app.signup("prov@example.com", "testpass123").await;
    let token = token_of(&signup);
    let agent = format!("agent-{}", signup["user"]["id"].as_str().unwrap());
    // Signing up woke the agent already.
    app.wait_resident(&agent["agent-".len()..]).await;
    assert_eq!(
        post(&app, "/agent/provision", Some(&token), json!({})).await,
        (200, json!({"status": "ok", "agentId": agent}))
    );
    // Its slot lost while the database says active: recreated.
    app.db
        .execute("UPDATE agent_slots SET user_id = NULL, generation = generation + 1")
        .await;
    assert_eq!(
        post(&app, "/agent/provision", Some(&token), json!({})).await,
        (200, json!({"status": "recreated", "agentId": agent}))
    );
    assert!(app.resident_slot(&agent["agent-".len()..]).await.is_some());
    // Hibernated: resumed.
    app.db
        .execute("UPDATE agent_slots SET user_id = NULL, generation = generation + 1")
        .await;
    app.db
        .execute("UPDATE assistants SET status = 'hibernated'")
        .await;
    assert_eq!(
        post(&app, "/agent/provision", Some(&token), json!({})).await,
        (200, json!({"status": "resumed", "agentId": agent}))
    );
    // Never provisioned: created.
    app.db
        .execute("UPDATE assistants SET status = 'provisioning'")
        .await;
    assert_eq!(
        post(&app, "/agent/provision", Some(&token), json!({}))
            .await
            .1["status"],
        "created"
    );
    assert_eq!(post(&app, "/agent/provision", None, json!({})).await.0, 401);
    app.shutdown().await;
}

#[tokio::test]
async fn speak_returns_mp3_and_counts_tts_characters() {
    let speech = SpeechStandIn::start().await;
    let app = TestApp::spawn_with(&[
        ("OPENAI_API_KEY", SPEECH_KEY),
        ("OPENAI_BASE_URL", &speech.openai_url),
    ])
    .await;
    let token = token_of(&app.signup("speak@example.com", "testpass123").await);
    let response = app
        .request(
            Method::POST,
            "/voice/speak",
            Some(&token),
            Some(&json!({"text": "Hello there.", "voice": "nova"})),
        )
        .await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "audio/mpeg");
    assert!(!response.bytes().await.unwrap().is_empty());
    let me = json_body(
        app.request(Method::GET, "/user/me", Some(&token), None)
            .await,
    )
    .await;
    assert_eq!(me["usage"]["ttsCharacters"], "Hello there.".len());

    for bad in [
        json!({}),
        json!({"text": "  "}),
        json!({"text": "hi", "voice": "robot"}),
        json!({"text": "x".repeat(5000)}),
    ] {
        let (status, body) = post(&app, "/voice/speak", Some(&token), bad.clone()).await;
        assert_eq!(status, 400, "{bad} → {body}");
    }
    app.db
        .execute("UPDATE plan_limits SET daily_tts_characters = 20 WHERE plan = 'free'")
        .await;
    let (status, body) = post(
        &app,
        "/voice/speak",
        Some(&token),
        json!({"text": "This sentence is far too long for what is left."}),
    )
    .await;
    assert_eq!(status, 429);
    assert!(body["message"].as_str().unwrap().contains("limit"));
    app.shutdown().await;
}

#[tokio::test]
async fn speak_without_a_provider_is_a_503() {
    let app = TestApp::spawn().await;
    let token = token_of(&app.signup("mute@example.com", "testpass123").await);
    let (status, _) = post(&app, "/voice/speak", Some(&token), json!({"text": "hi"})).await;
    assert_eq!(status, 503);
    app.shutdown().await;
}

#[tokio::test]
async fn cron_health_needs_its_secret_and_is_off_without_one() {
    let off = TestApp::spawn().await;
    assert_eq!(off.get("/cron/health").await.status(), 404);
    off.shutdown().await;

    let secret = "monitor-secret-0123456789";
    let app = TestApp::spawn_with(&[("CRON_SECRET", secret)]).await;
    assert_eq!(app.get("/cron/health").await.status(), 401);
    let wrong = app
        .request(
            Method::GET,
            "/cron/health",
            Some("monitor-secret-wrong00000"),
            None,
        )
        .await;
    assert_eq!(wrong.status(), 401);
    let (status, body) = status_and_body(
        app.request(Method::GET, "/cron/health", Some(secret), None)
            .await,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "ok");
    assert_eq!(
        body["checks"],
        json!({"postgres": "ok", "redis": "ok", "gateway": "ok"})
    );
    assert!(body["timestamp"].as_str().unwrap().contains('T'));
    app.gateway().stop().await;
    // The stand-in's last connections close as it stops: wait for "down".
    heyclaw_test_support::eventually("the gateway reported down", || async {
        let (status, body) = status_and_body(
            app.request(Method::GET, "/cron/health", Some(secret), None)
                .await,
        )
        .await;
        (status, body["status"].clone()) == (503, json!("degraded"))
            && body["checks"]["gateway"] == "down"
    })
    .await;
    app.shutdown().await;
}

#[tokio::test]
async fn the_web_pages_are_served_with_a_strict_policy() {
    let app = TestApp::spawn().await;
    for path in ["/delete-account", "/reset-password"] {
        let response = app.get(path).await;
        assert_eq!(response.status(), 200, "{path}");
        let headers = response.headers().clone();
        assert!(
            headers["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/html")
        );
        let policy = headers["content-security-policy"].to_str().unwrap();
        assert!(policy.contains("default-src 'none'") && policy.contains("script-src 'self'"));
        assert!(!policy.contains("unsafe-inline"));
        assert_eq!(headers["referrer-policy"], "no-referrer");
        let html = response.text().await.unwrap();
        assert!(
            !html.contains("<script>") && !html.contains("style="),
            "nothing inline"
        );
        assert!(
            !html.contains("http://") && !html.contains("https://"),
            "no CDN"
        );
    }
    for path in [
        "/pages/pages.css",
        "/pages/delete-account.js",
        "/pages/reset-password.js",
    ] {
        assert_eq!(app.get(path).await.status(), 200, "{path}");
    }
    app.shutdown().await;
}

#[tokio::test]
async fn the_mailed_reset_link_points_at_the_apis_own_page() {
    let (app, smtp) = spawn_with_mail(&[("PUBLIC_BASE_URL", "https://api.heyclaw.test")]).await;
    app.signup("forgetful@example.com", "testpass123").await;
    post(
        &app,
        "/auth/forgot-password",
        None,
        json!({"email": "forgetful@example.com"}),
    )
    .await;
    let mail = &smtp.wait_for(1, Duration::from_secs(10)).await[0];
    assert!(
        mail.body()
            .contains("https://api.heyclaw.test/reset-password?token="),
        "{}",
        mail.body()
    );
    app.shutdown().await;
}
