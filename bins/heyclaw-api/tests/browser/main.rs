//! The two web pages driven end to end in a real browser: Debian's headless
//! Chromium through chromedriver (WebDriver, `fantoccini`). A test types
//! into the real form, reads the mail from the SMTP stand-in, finishes the
//! flow, then checks the result through the API and the database. Each page
//! state is saved as a screenshot under
//! `$CARGO_TARGET_TMPDIR/browser-screenshots/<test>/`.
//!
//! Needs `/usr/bin/chromium` and `/usr/bin/chromedriver` (`cargo xtask ci`
//! installs Debian's packages); never downloads a browser.

#![expect(
    clippy::expect_used,
    clippy::unwrap_used,
    reason = "test helpers fail loudly"
)]

use std::{
    path::PathBuf,
    process::{Child, Command, Stdio},
    time::Duration,
};

use fantoccini::{Client, ClientBuilder, Locator};
use heyclaw_test_support::{CapturedMail, SmtpStandIn, TestApp, json_body};
use hyper_util::client::legacy::connect::HttpConnector;
use reqwest::Method;
use serde_json::{Value, json};

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// Headless Chromium behind its own chromedriver, with a fresh profile.
struct Browser {
    client: Client,
    driver: Child,
    profile: PathBuf,
    shots: PathBuf,
    shot: usize,
}

impl Browser {
    async fn start(test: &str) -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let driver = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver runs (apt-get install chromium chromium-driver)");
        let profile = std::env::temp_dir().join(format!(
            "heyclaw-chromium-{}",
            uuid::Uuid::new_v4().simple()
        ));
        std::fs::create_dir_all(&profile).unwrap();
        let mut capabilities = serde_json::Map::new();
        capabilities.insert(
            "goog:chromeOptions".to_owned(),
            json!({
                "binary": CHROMIUM,
                "args": [
                    "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                    "--disable-background-networking", "--disable-component-update",
                    "--disable-sync", "--disable-quic", "--window-size=480,900",
                    format!("--user-data-dir={}", profile.display()),
                ],
            }),
        );
        let url = format!("http://127.0.0.1:{port}");
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        let client = loop {
            match ClientBuilder::new(HttpConnector::new())
                .capabilities(capabilities.clone())
                .connect(&url)
                .await
            {
                Ok(client) => break client,
                Err(err) => {
                    assert!(
                        std::time::Instant::now() < deadline,
                        "chromedriver did not start: {err}"
                    );
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        };
        let shots = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
            .join("browser-screenshots")
            .join(test);
        let _ = std::fs::remove_dir_all(&shots);
        std::fs::create_dir_all(&shots).unwrap();
        Self {
            client,
            driver,
            profile,
            shots,
            shot: 0,
        }
    }

    async fn screenshot(&mut self, state: &str) {
        self.shot += 1;
        let png = self.client.screenshot().await.expect("screenshot");
        let path = self.shots.join(format!("{:02}-{state}.png", self.shot));
        std::fs::write(&path, png).unwrap();
        println!("screenshot: {}", path.display());
    }

    /// Waits until the element matching `css` is shown.
    async fn shown(&self, css: &str) -> fantoccini::elements::Element {
        self.client
            .wait()
            .at_most(Duration::from_secs(15))
            .for_element(Locator::Css(&format!("{css}:not([hidden])")))
            .await
            .unwrap_or_else(|err| panic!("{css} never showed: {err}"))
    }

    async fn type_into(&self, css: &str, text: &str) {
        let field = self.shown(css).await;
        field.clear().await.unwrap();
        field.send_keys(text).await.unwrap();
    }

    async fn click(&self, css: &str) {
        self.shown(css).await.click().await.unwrap();
    }

    /// Waits until `#error` says something, and returns it.
    async fn error(&self) -> String {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
        loop {
            let text = self
                .client
                .find(Locator::Css("#error"))
                .await
                .unwrap()
                .text()
                .await
                .unwrap();
            if !text.trim().is_empty() {
                return text;
            }
            assert!(tokio::time::Instant::now() < deadline, "no error was shown");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn close(mut self) {
        let _ = self.client.clone().close().await;
        let _ = self.driver.kill();
        let _ = self.driver.wait();
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}

async fn spawn() -> (TestApp, SmtpStandIn) {
    let smtp = SmtpStandIn::start().await;
    (TestApp::spawn_with_env(smtp.settings()).await, smtp)
}

fn code_in(mail: &CapturedMail) -> String {
    let body = mail.body();
    let start = body.find("code is ").expect("the mail states the code") + "code is ".len();
    body[start..start + 6].to_owned()
}

#[tokio::test]
async fn an_account_is_deleted_through_the_web_page() {
    let (app, smtp) = spawn().await;
    let signup = app.signup("web.leaver@example.com", "testpass123").await;
    let user_id = signup["user"]["id"].as_str().unwrap().to_owned();
    let mut browser = Browser::start("delete-account").await;
    browser
        .client
        .goto(&app.url("/delete-account"))
        .await
        .unwrap();
    browser.shown("#email-step").await;
    browser.screenshot("email").await;

    browser.type_into("#email", "not an address").await;
    browser.click("#send-code").await;
    assert!(browser.error().await.contains("valid e-mail"));
    browser.screenshot("email-invalid").await;

    browser.type_into("#email", "web.leaver@example.com").await;
    browser.click("#send-code").await;
    browser.shown("#code-step").await;
    browser.screenshot("code").await;
    let code = code_in(&smtp.wait_for(1, Duration::from_secs(10)).await[0]);

    let wrong = if code == "000000" { "111111" } else { "000000" };
    browser.type_into("#code", wrong).await;
    browser.click("#verify-code").await;
    assert!(browser.error().await.contains("Invalid code"));
    browser.screenshot("code-wrong").await;

    browser.type_into("#code", &code).await;
    browser.click("#verify-code").await;
    browser.shown("#confirm-step").await;
    browser.screenshot("confirm").await;

    browser.click("#confirm-delete").await;
    let done = browser.shown("#done-step").await;
    assert!(done.text().await.unwrap().contains("has been deleted"));
    browser.screenshot("deleted").await;
    browser.close().await;

    assert_eq!(
        app.db
            .count(&format!(
                "SELECT count(*) AS n FROM users WHERE id = '{user_id}'"
            ))
            .await,
        0,
        "the account is gone"
    );
    let login = app
        .post_json(
            "/auth/login",
            &json!({"email": "web.leaver@example.com", "password": "testpass123"}),
        )
        .await;
    assert_eq!(login.status(), 401);
    app.shutdown().await;
}

#[tokio::test]
async fn a_password_is_reset_through_the_mailed_link() {
    let (app, smtp) = spawn().await;
    app.signup("web.forgetful@example.com", "oldpass123").await;
    let forgot = app
        .post_json(
            "/auth/forgot-password",
            &json!({"email": "web.forgetful@example.com"}),
        )
        .await;
    assert_eq!(forgot.status(), 200);
    let body = smtp.wait_for(1, Duration::from_secs(10)).await[0].body();
    let start = body
        .find("/reset-password?token=")
        .expect("the mail has the link");
    let link_path: String = body[start..]
        .chars()
        .take_while(|c| !c.is_whitespace())
        .collect();

    let mut browser = Browser::start("reset-password").await;
    browser.client.goto(&app.url(&link_path)).await.unwrap();
    browser.shown("#reset-step").await;
    let shown_url = browser.client.current_url().await.unwrap();
    assert!(
        shown_url.query().is_none(),
        "the token leaves the address bar: {shown_url}"
    );
    browser.screenshot("form").await;

    browser.type_into("#password", "newpass123").await;
    browser.type_into("#password-again", "newpass124").await;
    browser.click("#save").await;
    assert!(browser.error().await.contains("do not match"));
    browser.screenshot("mismatch").await;

    browser.type_into("#password", "short").await;
    browser.type_into("#password-again", "short").await;
    browser.click("#save").await;
    assert!(browser.error().await.contains("at least 8"));
    browser.screenshot("too-short").await;

    browser.type_into("#password", "newpass123").await;
    browser.type_into("#password-again", "newpass123").await;
    browser.click("#save").await;
    browser.shown("#success-step").await;
    browser.screenshot("success").await;

    // The same link again: spent.
    browser.client.goto(&app.url(&link_path)).await.unwrap();
    browser.type_into("#password", "another123").await;
    browser.type_into("#password-again", "another123").await;
    browser.click("#save").await;
    browser.shown("#expired-step").await;
    browser.screenshot("expired").await;
    // No token at all: the expired state at once.
    browser
        .client
        .goto(&app.url("/reset-password"))
        .await
        .unwrap();
    browser.shown("#expired-step").await;
    browser.close().await;

    for (password, status) in [("newpass123", 200), ("oldpass123", 401)] {
        let login = app
            .post_json(
                "/auth/login",
                &json!({"email": "web.forgetful@example.com", "password": password}),
            )
            .await;
        assert_eq!(login.status(), status, "{password}");
    }
    let me: Value = json_body(
        app.request(
            Method::POST,
            "/auth/login",
            None,
            Some(&json!({"email": "web.forgetful@example.com", "password": "newpass123"})),
        )
        .await,
    )
    .await;
    assert!(me["access_token"].is_string());
    app.shutdown().await;
}
