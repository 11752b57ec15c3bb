//! Billing against a test certificate authority shaped like Apple's and an
//! App Store Server API stand-in over real HTTP: only Apple-signed data
//! changes a plan; notifications are idempotent and ordered; a purchase
//! belongs to one account; plan changes reach the very next quota check.

use std::path::PathBuf;

use chrono::{Duration, Utc};
use heyclaw_test_support::{
    TestApp,
    app_store::{
        APP_APPLE_ID, ApiKey, AppStoreApiStandIn, ChainKind, Signer, TestCa, Transaction,
        app_receipt, notification_payload, renewal_payload,
    },
    json_body,
};
use reqwest::Method;
use serde_json::{Value, json};

const PRO: &str = "com.heyclaw.pro.monthly";
const PREMIUM: &str = "com.heyclaw.premium.monthly";
const STARTER: &str = "com.heyclaw.starter.monthly";

struct Billing {
    app: TestApp,
    ca: TestCa,
    signer: Signer,
    api: AppStoreApiStandIn,
    root_dir: PathBuf,
}

impl Billing {
    async fn spawn() -> Self {
        let ca = TestCa::generate();
        let root_dir =
            std::env::temp_dir().join(format!("heyclaw-ca-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&root_dir).unwrap();
        let root = ca.write_root(&root_dir);
        let key = ApiKey::generate();
        let api = AppStoreApiStandIn::start(&key).await;
        let app = TestApp::spawn_with(&[
            ("APP_STORE_ROOT_CERTIFICATES", root.to_str().unwrap()),
            ("APPLE_APP_ID", &APP_APPLE_ID.to_string()),
            ("APP_STORE_KEY_ID", &key.key_id),
            ("APP_STORE_ISSUER_ID", &key.issuer_id),
            ("APP_STORE_PRIVATE_KEY", &key.private_key_pem),
            ("APP_STORE_BASE_URL", &api.production_url),
            ("APP_STORE_SANDBOX_BASE_URL", &api.sandbox_url),
        ])
        .await;
        let signer = ca.signer(ChainKind::Valid);
        Self {
            app,
            ca,
            signer,
            api,
            root_dir,
        }
    }

    async fn user(&self, email: &str) -> (String, String) {
        let body = self.app.signup(email, "testpass123").await;
        (
            body["user"]["id"].as_str().unwrap().to_owned(),
            body["access_token"].as_str().unwrap().to_owned(),
        )
    }

    async fn verify(&self, token: &str, receipt: &str, product: &str) -> (u16, Value) {
        let response = self
            .app
            .request(
                Method::POST,
                "/billing/verify",
                Some(token),
                Some(&json!({"receiptData": receipt, "productId": product})),
            )
            .await;
        (response.status().as_u16(), json_body(response).await)
    }

    async fn status(&self, token: &str) -> Value {
        json_body(
            self.app
                .request(Method::GET, "/billing/status", Some(token), None)
                .await,
        )
        .await
    }

    async fn notify(&self, signed_payload: &str) -> (u16, Value) {
        let response = self
            .app
            .post_json(
                "/billing/webhook",
                &json!({ "signedPayload": signed_payload }),
            )
            .await;
        (response.status().as_u16(), json_body(response).await)
    }

    /// A notification about `transaction`, signed by the test CA.
    fn notification(
        &self,
        kind: &str,
        subtype: Option<&str>,
        transaction: &Transaction,
        renewal: Option<Value>,
    ) -> String {
        let signed_renewal = renewal.map(|r| self.signer.sign(&r));
        self.signer.sign(&notification_payload(
            kind,
            subtype,
            &uuid::Uuid::new_v4().to_string(),
            transaction.signed_at,
            transaction.environment,
            &self.signer.sign(&transaction.payload()),
            signed_renewal.as_deref(),
        ))
    }

    async fn shutdown(self) {
        self.api.stop().await;
        self.app.shutdown().await;
        let _ = std::fs::remove_dir_all(&self.root_dir);
    }
}

async fn messages_limit(app: &TestApp, token: &str) -> Value {
    let response = app
        .request(
            Method::POST,
            "/agent/message",
            Some(token),
            Some(&json!({"text": "hi"})),
        )
        .await;
    assert_eq!(response.status(), 200);
    json_body(response).await["usage"]["messagesLimit"].clone()
}

#[tokio::test]
async fn a_signed_transaction_upgrades_the_plan_and_the_next_message_sees_its_limit() {
    let billing = Billing::spawn().await;
    let (_, token) = billing.user("payer@example.com").await;
    assert_eq!(
        billing.status(&token).await,
        json!({"plan": "free", "status": "active", "subscriptionEndsAt": null,
               "limits": {"dailyTextMessages": 50, "dailyVoiceInputMinutes": 2, "dailyTtsCharacters": 5000}})
    );
    assert_eq!(messages_limit(&billing.app, &token).await, 50);

    let transaction = Transaction::new("2000000001", PRO);
    let (status, body) = billing
        .verify(&token, &billing.signer.sign(&transaction.payload()), PRO)
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body,
        json!({"plan": "pro", "status": "active",
               "limits": {"dailyTextMessages": 500, "dailyVoiceInputMinutes": 20, "dailyTtsCharacters": 50000}})
    );
    assert_eq!(messages_limit(&billing.app, &token).await, 500);
    let status = billing.status(&token).await;
    assert_eq!(status["plan"], "pro");
    assert!(status["subscriptionEndsAt"].is_string());
    let me = json_body(
        billing
            .app
            .request(Method::GET, "/user/me", Some(&token), None)
            .await,
    )
    .await;
    assert_eq!(me["plan"], "pro");
    assert_eq!(me["limits"]["dailyTextMessages"], 500);
    // Verifying the same purchase again (Restore purchases) is fine.
    let (status, _) = billing
        .verify(&token, &billing.signer.sign(&transaction.payload()), PRO)
        .await;
    assert_eq!(status, 200);
    billing.shutdown().await;
}

#[tokio::test]
async fn the_starter_plan_is_sold_with_its_own_limits() {
    let billing = Billing::spawn().await;
    let (_, token) = billing.user("starter@example.com").await;
    let transaction = Transaction::new("2000000002", STARTER);
    let (status, body) = billing
        .verify(
            &token,
            &billing.signer.sign(&transaction.payload()),
            STARTER,
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["limits"],
        json!({"dailyTextMessages": 200, "dailyVoiceInputMinutes": 15, "dailyTtsCharacters": 20000})
    );
    billing.shutdown().await;
}

#[tokio::test]
async fn a_storekit1_receipt_is_looked_up_with_the_app_store_server_api() {
    let billing = Billing::spawn().await;
    let (_, token) = billing.user("receipt@example.com").await;
    let transaction = Transaction::new("2000000003", PREMIUM);
    // The receipt names a transaction; the API answers (from Sandbox, after
    // Production does not know it) with the subscription's current state.
    billing.api.set_subscription(
        "sandbox",
        "2000000003-first",
        &billing.signer.sign(&transaction.payload()),
    );
    let (status, body) = billing
        .verify(&token, &app_receipt("2000000003-first"), PREMIUM)
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["plan"], "premium");
    assert_eq!(billing.api.calls(), 2, "production first, then sandbox");

    // A receipt naming a purchase Apple does not know changes nothing.
    let (_, other) = billing.user("receipt2@example.com").await;
    let (status, body) = billing
        .verify(&other, &app_receipt("9999999999"), PREMIUM)
        .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(billing.status(&other).await["plan"], "free");
    billing.shutdown().await;
}

#[tokio::test]
async fn apple_unreachable_is_a_503_and_nothing_changes() {
    let billing = Billing::spawn().await;
    let (_, token) = billing.user("offline@example.com").await;
    billing.api.fail_with(503);
    let response = billing
        .app
        .request(
            Method::POST,
            "/billing/verify",
            Some(&token),
            Some(&json!({"receiptData": app_receipt("2000000004"), "productId": PRO})),
        )
        .await;
    assert_eq!(response.status(), 503);
    assert!(response.headers().contains_key("retry-after"));
    assert_eq!(json_body(response).await["code"], "billing_unavailable");
    assert_eq!(billing.status(&token).await["plan"], "free");
    billing.shutdown().await;
}

#[tokio::test]
async fn anything_not_signed_by_apple_for_this_app_is_refused_and_changes_nothing() {
    let billing = Billing::spawn().await;
    let (_, token) = billing.user("forger@example.com").await;
    let transaction = Transaction::new("2000000005", PREMIUM);
    let good = billing.signer.sign(&transaction.payload());

    let other_ca = TestCa::generate();
    let self_signed = other_ca
        .signer(ChainKind::Valid)
        .sign(&transaction.payload());
    let expired = billing
        .ca
        .signer(ChainKind::ExpiredLeaf)
        .sign(&transaction.payload());
    let no_oid = billing
        .ca
        .signer(ChainKind::LeafWithoutOid)
        .sign(&transaction.payload());
    let mut wrong_bundle = transaction.clone();
    wrong_bundle.bundle_id = "com.example.other".into();
    let mut wrong_environment = transaction.clone();
    wrong_environment.environment = "Xcode";
    // Tampered: the payload of another product under the good signature.
    let mut parts: Vec<String> = good.split('.').map(str::to_owned).collect();
    let mut forged = transaction.clone();
    forged.product_id = PREMIUM.into();
    forged.expires_at = Utc::now() + Duration::days(3650);
    parts[1] = billing
        .signer
        .sign(&forged.payload())
        .split('.')
        .nth(1)
        .unwrap()
        .to_owned();
    let tampered = parts.join(".");
    let unsigned = format!("eyJhbGciOiJub25lIn0.{}.", good.split('.').nth(1).unwrap()) + "c2ln";

    for (what, data) in [
        ("garbage", "not a receipt at all".to_owned()),
        ("unsigned", unsigned),
        ("self-signed chain", self_signed),
        ("expired chain", expired),
        ("leaf without Apple's OID", no_oid),
        ("wrong bundle", billing.signer.sign(&wrong_bundle.payload())),
        (
            "wrong environment",
            billing.signer.sign(&wrong_environment.payload()),
        ),
        ("tampered", tampered),
    ] {
        let (status, body) = billing.verify(&token, &data, PREMIUM).await;
        assert!((400..500).contains(&status), "{what}: {status} {body}");
        assert!(body["message"].is_string(), "{what}: {body}");
    }
    assert_eq!(billing.status(&token).await["plan"], "free");
    assert_eq!(billing.api.calls(), 0, "nothing here reached the App Store");
    billing.shutdown().await;
}

#[tokio::test]
async fn the_plan_comes_from_the_verified_product_never_the_clients() {
    let billing = Billing::spawn().await;
    let (_, token) = billing.user("claims@example.com").await;
    let transaction = billing
        .signer
        .sign(&Transaction::new("2000000006", PRO).payload());
    let (status, body) = billing.verify(&token, &transaction, PREMIUM).await;
    assert_eq!(status, 400, "{body}");
    let (status, body) = billing
        .verify(&token, &transaction, "com.heyclaw.gold.monthly")
        .await;
    assert_eq!(
        (status, body["message"].as_str()),
        (400, Some("Invalid product ID"))
    );
    for body in [
        json!({}),
        json!({"receiptData": transaction}),
        json!({"productId": PRO}),
    ] {
        let response = billing
            .app
            .request(Method::POST, "/billing/verify", Some(&token), Some(&body))
            .await;
        assert_eq!(response.status(), 400, "{body}");
    }
    assert_eq!(billing.status(&token).await["plan"], "free");
    billing.shutdown().await;
}

#[tokio::test]
async fn expired_and_refunded_purchases_do_not_grant_a_plan() {
    let billing = Billing::spawn().await;
    let (_, token) = billing.user("late@example.com").await;
    let mut expired = Transaction::new("2000000007", PRO);
    expired.expires_at = Utc::now() - Duration::days(1);
    let (status, _) = billing
        .verify(&token, &billing.signer.sign(&expired.payload()), PRO)
        .await;
    assert_eq!(status, 400);
    let mut refunded = Transaction::new("2000000008", PRO);
    refunded.revoked_at = Some(Utc::now());
    let (status, _) = billing
        .verify(&token, &billing.signer.sign(&refunded.payload()), PRO)
        .await;
    assert_eq!(status, 400);
    assert_eq!(billing.status(&token).await["plan"], "free");
    billing.shutdown().await;
}

#[tokio::test]
async fn one_purchase_belongs_to_one_account_even_when_two_race() {
    let billing = Billing::spawn().await;
    let (_, first) = billing.user("first@example.com").await;
    let (_, second) = billing.user("second@example.com").await;
    let signed = billing
        .signer
        .sign(&Transaction::new("2000000009", PRO).payload());
    let (a, b) = tokio::join!(
        billing.verify(&first, &signed, PRO),
        billing.verify(&second, &signed, PRO)
    );
    let mut statuses = [a.0, b.0];
    statuses.sort_unstable();
    assert_eq!(statuses, [200, 409], "{a:?} {b:?}");
    let plans = [
        billing.status(&first).await["plan"].clone(),
        billing.status(&second).await["plan"].clone(),
    ];
    assert!(plans.contains(&json!("pro")) && plans.contains(&json!("free")));

    // Later tries by the loser stay refused.
    let loser = if a.0 == 409 { &first } else { &second };
    let (status, body) = billing.verify(loser, &signed, PRO).await;
    assert_eq!(status, 409, "{body}");
    billing.shutdown().await;
}

#[tokio::test]
async fn an_app_account_token_must_be_the_callers() {
    let billing = Billing::spawn().await;
    let (owner_id, owner) = billing.user("owner@example.com").await;
    let (_, thief) = billing.user("thief@example.com").await;
    let me = json_body(
        billing
            .app
            .request(Method::GET, "/user/me", Some(&owner), None)
            .await,
    )
    .await;
    assert_eq!(me["appAccountToken"], json!(owner_id));
    let mut transaction = Transaction::new("2000000010", PRO);
    transaction.app_account_token = Some(owner_id.parse().unwrap());
    let signed = billing.signer.sign(&transaction.payload());
    let (status, body) = billing.verify(&thief, &signed, PRO).await;
    assert_eq!(status, 409, "{body}");
    let (status, body) = billing.verify(&owner, &signed, PRO).await;
    assert_eq!(status, 200, "{body}");
    billing.shutdown().await;
}

#[tokio::test]
async fn notifications_are_verified_idempotent_and_applied_in_signing_order() {
    let billing = Billing::spawn().await;
    let (_, token) = billing.user("renewer@example.com").await;
    let mut transaction = Transaction::new("2000000011", PRO);
    transaction.signed_at = Utc::now() - Duration::minutes(10);
    let (status, _) = billing
        .verify(&token, &billing.signer.sign(&transaction.payload()), PRO)
        .await;
    assert_eq!(status, 200);

    // Not signed by Apple: 400, nothing stored.
    let forged = TestCa::generate().signer(ChainKind::Valid);
    let bad = forged.sign(&notification_payload(
        "REFUND",
        None,
        "forged-uuid",
        Utc::now(),
        "Sandbox",
        &forged.sign(&transaction.payload()),
        None,
    ));
    assert_eq!(billing.notify(&bad).await.0, 400);
    assert_eq!(billing.notify("garbage").await.0, 400);
    assert_eq!(billing.status(&token).await["plan"], "pro");

    // A renewal into premium (an upgrade is a new transaction of the new product).
    let mut upgraded = transaction.clone();
    upgraded.product_id = PREMIUM.into();
    upgraded.signed_at = Utc::now() - Duration::minutes(5);
    let upgrade = billing.notification("DID_CHANGE_RENEWAL_PREF", Some("UPGRADE"), &upgraded, None);
    assert_eq!(
        billing.notify(&upgrade).await,
        (200, json!({"status": "processed"}))
    );
    assert_eq!(billing.status(&token).await["plan"], "premium");
    assert_eq!(messages_limit(&billing.app, &token).await, 2000);
    // Redelivered: nothing changes.
    assert_eq!(
        billing.notify(&upgrade).await,
        (200, json!({"status": "duplicate"}))
    );

    // Out of order: an EXPIRED signed before the upgrade arrives late.
    let mut stale = transaction.clone();
    stale.signed_at = Utc::now() - Duration::minutes(7);
    let late = billing.notification("EXPIRED", Some("VOLUNTARY"), &stale, None);
    assert_eq!(billing.notify(&late).await.0, 200);
    assert_eq!(
        billing.status(&token).await["plan"],
        "premium",
        "an older snapshot never wins"
    );

    // A downgrade takes effect at the next renewal, not before.
    let mut current = upgraded.clone();
    current.signed_at = Utc::now() - Duration::minutes(4);
    let downgrade = billing.notification(
        "DID_CHANGE_RENEWAL_PREF",
        Some("DOWNGRADE"),
        &current,
        Some(renewal_payload(&current, PRO, None)),
    );
    assert_eq!(billing.notify(&downgrade).await.0, 200);
    assert_eq!(billing.status(&token).await["plan"], "premium");
    let mut renewed = transaction.clone();
    renewed.product_id = PRO.into();
    renewed.signed_at = Utc::now() - Duration::minutes(3);
    renewed.expires_at = Utc::now() + Duration::days(60);
    let renewal = billing.notification("DID_RENEW", None, &renewed, None);
    assert_eq!(billing.notify(&renewal).await.0, 200);
    assert_eq!(billing.status(&token).await["plan"], "pro");

    // A refund ends it at once; the status says why.
    let mut refunded = renewed.clone();
    refunded.signed_at = Utc::now() - Duration::minutes(1);
    refunded.revoked_at = Some(Utc::now());
    let refund = billing.notification("REFUND", None, &refunded, None);
    assert_eq!(billing.notify(&refund).await.0, 200);
    let status = billing.status(&token).await;
    assert_eq!(
        (status["plan"].clone(), status["status"].clone()),
        (json!("free"), json!("refunded"))
    );
    assert_eq!(messages_limit(&billing.app, &token).await, 50);
    // An unrelated notification type is acknowledged and ignored.
    let mut later = refunded.clone();
    later.signed_at = Utc::now();
    let other = billing.notification("PRICE_INCREASE", Some("ACCEPTED"), &later, None);
    assert_eq!(
        billing.notify(&other).await,
        (200, json!({"status": "ignored"}))
    );
    billing.shutdown().await;
}

#[tokio::test]
async fn a_grace_period_keeps_the_plan_until_it_ends_and_a_lapsed_one_is_free_at_read_time() {
    let billing = Billing::spawn().await;
    let (_, token) = billing.user("grace@example.com").await;
    let mut transaction = Transaction::new("2000000012", PRO);
    transaction.signed_at = Utc::now() - Duration::minutes(10);
    billing
        .verify(&token, &billing.signer.sign(&transaction.payload()), PRO)
        .await;
    // Billing failed after the period ended; Apple grants a grace period.
    let mut failed = transaction.clone();
    failed.expires_at = Utc::now() - Duration::hours(1);
    failed.signed_at = Utc::now() - Duration::minutes(5);
    let grace = billing.notification(
        "DID_FAIL_TO_RENEW",
        Some("GRACE_PERIOD"),
        &failed,
        Some(renewal_payload(
            &failed,
            PRO,
            Some(Utc::now() + Duration::days(3)),
        )),
    );
    assert_eq!(billing.notify(&grace).await.0, 200);
    let status = billing.status(&token).await;
    assert_eq!(
        (status["plan"].clone(), status["status"].clone()),
        (json!("pro"), json!("grace_period"))
    );

    // The grace period ended and the GRACE_PERIOD_EXPIRED notification was
    // lost: the plan is free at read time anyway.
    billing
        .app
        .db
        .execute("UPDATE subscriptions SET grace_period_ends_at = now() - interval '1 minute'")
        .await;
    let status = billing.status(&token).await;
    assert_eq!(
        (status["plan"].clone(), status["status"].clone()),
        (json!("free"), json!("expired"))
    );
    assert_eq!(messages_limit(&billing.app, &token).await, 50);
    billing.shutdown().await;
}

#[tokio::test]
async fn a_notification_for_an_unclaimed_purchase_is_kept_and_applied_when_the_app_verifies() {
    let billing = Billing::spawn().await;
    let mut transaction = Transaction::new("2000000013", PRO);
    transaction.signed_at = Utc::now() - Duration::minutes(10);
    let mut renewed = transaction.clone();
    renewed.product_id = PREMIUM.into();
    renewed.signed_at = Utc::now() - Duration::minutes(2);
    let notification = billing.notification("DID_RENEW", None, &renewed, None);
    assert_eq!(
        billing.notify(&notification).await,
        (200, json!({"status": "processed"}))
    );

    // The app verifies the original (older) transaction; the newer renewal
    // the notification carried is applied on top.
    let (_, token) = billing.user("late-linker@example.com").await;
    let (status, body) = billing
        .verify(&token, &billing.signer.sign(&transaction.payload()), PRO)
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["plan"], "premium");
    billing.shutdown().await;
}
