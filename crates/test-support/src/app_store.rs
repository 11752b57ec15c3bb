//! The App Store, stood in for: a test certificate authority shaped like
//! Apple's (root → WWDR-style intermediate → receipt-signing leaf, with
//! Apple's OIDs) that signs App Store data as ES256 JWS with an x5c chain,
//! payload builders for transactions, renewal info and notifications, a
//! StoreKit 1 app receipt builder, and an App Store Server API stand-in over
//! real HTTP that checks the caller's ES256 bearer token.

use std::{
    collections::HashMap,
    path::{Path, PathBuf},
    sync::{
        Arc, Mutex,
        atomic::{AtomicU16, AtomicUsize, Ordering},
    },
};

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use base64::{Engine, engine::general_purpose::STANDARD};
use chrono::{DateTime, Utc};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use rcgen::{
    BasicConstraints, CertificateParams, CustomExtension, DnType, IsCa, Issuer, KeyPair,
    PKCS_ECDSA_P256_SHA256,
};
use serde_json::{Value, json};

/// The bundle id the server is configured with in billing tests.
pub const BUNDLE_ID: &str = "com.weiblocks.heyclaw";
/// The app Apple ID the server is configured with in billing tests.
pub const APP_APPLE_ID: i64 = 1_234_567_890;

const WWDR_INTERMEDIATE_OID: &[u64] = &[1, 2, 840, 113_635, 100, 6, 2, 1];
const RECEIPT_SIGNER_OID: &[u64] = &[1, 2, 840, 113_635, 100, 6, 11, 1];

/// How a signing chain should be made, for the rejection tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChainKind {
    /// Root → intermediate → leaf, all valid now.
    Valid,
    /// The leaf's validity ended in the past.
    ExpiredLeaf,
    /// The leaf lacks Apple's receipt-signing OID.
    LeafWithoutOid,
}

/// A certificate authority shaped like Apple's, generated at test time.
pub struct TestCa {
    root_der: Vec<u8>,
    root_key: KeyPair,
    root_params: CertificateParams,
}

/// A leaf that signs, with the chain to present in `x5c`.
pub struct Signer {
    key_pem: String,
    chain: Vec<String>,
}

fn ca_params(name: &str) -> CertificateParams {
    let mut params = CertificateParams::default();
    params.distinguished_name.push(DnType::CommonName, name);
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.not_before = rcgen::date_time_ymd(2020, 1, 1);
    params.not_after = rcgen::date_time_ymd(2090, 1, 1);
    params
}

fn key() -> KeyPair {
    KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).expect("P-256 key")
}

impl TestCa {
    /// Generates a fresh root (P-256, valid 2020–2090). Each call makes a
    /// different CA: the server must be told to trust this one's root.
    pub fn generate() -> Self {
        let root_key = key();
        let root_params = ca_params("HeyClaw Test Root CA");
        let root_der = root_params
            .self_signed(&root_key)
            .expect("root certificate")
            .der()
            .to_vec();
        Self {
            root_der,
            root_key,
            root_params,
        }
    }

    /// The root certificate (DER), as the server is told to trust it.
    pub fn root_der(&self) -> &[u8] {
        &self.root_der
    }

    /// Writes the root certificate into `dir` and returns its path.
    pub fn write_root(&self, dir: &Path) -> PathBuf {
        let path = dir.join("test-root-ca.cer");
        std::fs::write(&path, &self.root_der).expect("write the test root");
        path
    }

    /// A leaf signer with a new intermediate and leaf under this root, the
    /// chain of the given kind. Keys are generated on each call.
    pub fn signer(&self, kind: ChainKind) -> Signer {
        let root = Issuer::from_params(&self.root_params, &self.root_key);
        let intermediate_key = key();
        let mut intermediate_params = ca_params("HeyClaw Test WWDR");
        intermediate_params
            .custom_extensions
            .push(CustomExtension::from_oid_content(
                WWDR_INTERMEDIATE_OID,
                vec![0x05, 0x00],
            ));
        let intermediate = intermediate_params
            .signed_by(&intermediate_key, &root)
            .expect("intermediate certificate");
        let intermediate_issuer = Issuer::new(intermediate_params, &intermediate_key);
        let leaf_key = key();
        let mut leaf_params = CertificateParams::default();
        leaf_params
            .distinguished_name
            .push(DnType::CommonName, "HeyClaw Test StoreKit Signer");
        leaf_params.not_before = rcgen::date_time_ymd(2020, 1, 1);
        leaf_params.not_after = match kind {
            ChainKind::ExpiredLeaf => rcgen::date_time_ymd(2021, 1, 1),
            _ => rcgen::date_time_ymd(2090, 1, 1),
        };
        if kind != ChainKind::LeafWithoutOid {
            leaf_params
                .custom_extensions
                .push(CustomExtension::from_oid_content(
                    RECEIPT_SIGNER_OID,
                    vec![0x05, 0x00],
                ));
        }
        let leaf = leaf_params
            .signed_by(&leaf_key, &intermediate_issuer)
            .expect("leaf certificate");
        Signer {
            key_pem: leaf_key.serialize_pem(),
            chain: [
                leaf.der().to_vec(),
                intermediate.der().to_vec(),
                self.root_der.clone(),
            ]
            .iter()
            .map(|der| STANDARD.encode(der))
            .collect(),
        }
    }
}

impl Signer {
    /// `payload` as a compact ES256 JWS with the chain (leaf,
    /// intermediate, root; base64 DER) in `x5c`, as Apple signs
    /// transactions, renewal info and notifications.
    pub fn sign(&self, payload: &Value) -> String {
        let mut header = Header::new(Algorithm::ES256);
        header.x5c = Some(self.chain.clone());
        let key = EncodingKey::from_ec_pem(self.key_pem.as_bytes()).expect("leaf key");
        jsonwebtoken::encode(&header, payload, &key).expect("sign")
    }
}

fn millis(at: DateTime<Utc>) -> i64 {
    at.timestamp_millis()
}

/// A subscription transaction payload (`JWSTransactionDecodedPayload`).
#[derive(Debug, Clone)]
///
/// Build one with [`Transaction::new`], change the fields a test is about,
/// then sign [`Transaction::payload`] with a [`Signer`].
pub struct Transaction {
    /// The purchase's id across renewals (`originalTransactionId`): what
    /// links a subscription to one account.
    pub original_transaction_id: String,
    /// This transaction's id (`transactionId`).
    pub transaction_id: String,
    /// The App Store product (`productId`), which decides the plan.
    pub product_id: String,
    /// When the paid period ends (`expiresDate`).
    pub expires_at: DateTime<Utc>,
    /// When Apple signed it (`signedDate`; also the purchase dates): later
    /// snapshots win.
    pub signed_at: DateTime<Utc>,
    /// `Sandbox` or `Production`.
    pub environment: &'static str,
    /// The app's bundle id (`bundleId`); [`BUNDLE_ID`] unless testing a
    /// foreign app's transaction.
    pub bundle_id: String,
    /// The `appAccountToken` the app passed to StoreKit: the account the
    /// purchase is for, if set.
    pub app_account_token: Option<uuid::Uuid>,
    /// When Apple revoked it (refund); adds `revocationDate` and a
    /// `revocationReason` of 0.
    pub revoked_at: Option<DateTime<Utc>>,
}

impl Transaction {
    /// A Sandbox subscription of `product` for [`BUNDLE_ID`], signed now
    /// (system time), ending in 30 days. The transaction id is
    /// `<original>-<microseconds now>`, so two calls make two transactions
    /// of one purchase.
    pub fn new(original_transaction_id: &str, product: &str) -> Self {
        let now = Utc::now();
        Self {
            original_transaction_id: original_transaction_id.to_owned(),
            transaction_id: format!("{original_transaction_id}-{}", now.timestamp_micros()),
            product_id: product.to_owned(),
            expires_at: now + chrono::Duration::days(30),
            signed_at: now,
            environment: "Sandbox",
            bundle_id: BUNDLE_ID.to_owned(),
            app_account_token: None,
            revoked_at: None,
        }
    }

    /// The decoded JSON payload (`JWSTransactionDecodedPayload`, times in
    /// milliseconds), ready for [`Signer::sign`].
    pub fn payload(&self) -> Value {
        let mut payload = json!({
            "originalTransactionId": self.original_transaction_id,
            "transactionId": self.transaction_id,
            "webOrderLineItemId": "1",
            "bundleId": self.bundle_id,
            "productId": self.product_id,
            "subscriptionGroupIdentifier": "21000000",
            "purchaseDate": millis(self.signed_at),
            "originalPurchaseDate": millis(self.signed_at),
            "expiresDate": millis(self.expires_at),
            "quantity": 1,
            "type": "Auto-Renewable Subscription",
            "inAppOwnershipType": "PURCHASED",
            "signedDate": millis(self.signed_at),
            "environment": self.environment,
            "transactionReason": "PURCHASE",
            "storefront": "USA",
            "storefrontId": "143441",
        });
        if let Some(token) = self.app_account_token {
            payload["appAccountToken"] = json!(token);
        }
        if let Some(revoked) = self.revoked_at {
            payload["revocationDate"] = json!(millis(revoked));
            payload["revocationReason"] = json!(0);
        }
        payload
    }
}

/// A renewal info payload (`JWSRenewalInfoDecodedPayload`) for
/// `transaction`'s purchase, renewing into `auto_renew_product`; with
/// `grace_period_ends`, in billing retry until then.
pub fn renewal_payload(
    transaction: &Transaction,
    auto_renew_product: &str,
    grace_period_ends: Option<DateTime<Utc>>,
) -> Value {
    let mut payload = json!({
        "originalTransactionId": transaction.original_transaction_id,
        "autoRenewProductId": auto_renew_product,
        "productId": transaction.product_id,
        "autoRenewStatus": 1,
        "signedDate": millis(transaction.signed_at),
        "environment": transaction.environment,
        "recentSubscriptionStartDate": millis(transaction.signed_at),
    });
    if let Some(end) = grace_period_ends {
        payload["gracePeriodExpiresDate"] = json!(millis(end));
        payload["isInBillingRetryPeriod"] = json!(true);
    }
    payload
}

/// A notification payload (`ResponseBodyV2DecodedPayload`) carrying signed
/// transaction and renewal info, for [`BUNDLE_ID`] and [`APP_APPLE_ID`].
/// `uuid` is the notification's id (each is applied once); sign the result
/// and post it to the webhook as `{"signedPayload": …}`.
pub fn notification_payload(
    notification_type: &str,
    subtype: Option<&str>,
    uuid: &str,
    signed_at: DateTime<Utc>,
    environment: &str,
    signed_transaction: &str,
    signed_renewal: Option<&str>,
) -> Value {
    let mut data = json!({
        "appAppleId": APP_APPLE_ID,
        "bundleId": BUNDLE_ID,
        "bundleVersion": "1.0",
        "environment": environment,
        "signedTransactionInfo": signed_transaction,
        "status": 1,
    });
    if let Some(renewal) = signed_renewal {
        data["signedRenewalInfo"] = json!(renewal);
    }
    let mut payload = json!({
        "notificationType": notification_type,
        "notificationUUID": uuid,
        "data": data,
        "version": "2.0",
        "signedDate": millis(signed_at),
    });
    if let Some(subtype) = subtype {
        payload["subtype"] = json!(subtype);
    }
    payload
}

/// A StoreKit 1 app receipt (base64 PKCS#7) for [`BUNDLE_ID`] whose one
/// in-app purchase has `transaction_id` (its product is always
/// `com.heyclaw.pro.monthly`). Unsigned: the server must never trust it by
/// itself, only use the transaction id to ask the App Store Server API
/// ([`AppStoreApiStandIn`]).
pub fn app_receipt(transaction_id: &str) -> String {
    fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
        let mut out = vec![tag];
        let len = content.len();
        if len < 0x80 {
            out.push(u8::try_from(len).expect("short length"));
        } else {
            let bytes: Vec<u8> = len
                .to_be_bytes()
                .into_iter()
                .skip_while(|b| *b == 0)
                .collect();
            out.push(0x80 | u8::try_from(bytes.len()).expect("length of length"));
            out.extend(bytes);
        }
        out.extend_from_slice(content);
        out
    }
    let integer = |value: u16| {
        let mut bytes: Vec<u8> = value
            .to_be_bytes()
            .into_iter()
            .skip_while(|b| *b == 0)
            .collect();
        if bytes.first().is_none_or(|b| b & 0x80 != 0) {
            bytes.insert(0, 0);
        }
        tlv(0x02, &bytes)
    };
    let attribute = |kind: u16, value: &[u8]| {
        tlv(
            0x30,
            &[integer(kind), integer(1), tlv(0x04, value)].concat(),
        )
    };
    let in_app = tlv(
        0x31,
        &[
            attribute(1702, &tlv(0x0c, b"com.heyclaw.pro.monthly")),
            attribute(1703, &tlv(0x0c, transaction_id.as_bytes())),
        ]
        .concat(),
    );
    let payload = tlv(
        0x31,
        &[
            attribute(2, &tlv(0x0c, BUNDLE_ID.as_bytes())),
            attribute(17, &in_app),
        ]
        .concat(),
    );
    // OIDs 1.2.840.113549.1.7.2 (signedData) and 1.2.840.113549.1.7.1 (data).
    let signed_data_oid = tlv(
        0x06,
        &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x02],
    );
    let data_oid = tlv(
        0x06,
        &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x01],
    );
    let content_info = tlv(0x30, &[data_oid, tlv(0xa0, &tlv(0x04, &payload))].concat());
    let signed_data = tlv(
        0x30,
        &[integer(1), tlv(0x31, &[]), content_info, tlv(0x31, &[])].concat(),
    );
    STANDARD.encode(tlv(
        0x30,
        &[signed_data_oid, tlv(0xa0, &signed_data)].concat(),
    ))
}

/// The In-App Purchase key the server signs its API requests with.
pub struct ApiKey {
    /// The key id (`APP_STORE_KEY_ID`), `TESTKEY123`.
    pub key_id: String,
    /// The issuer id (`APP_STORE_ISSUER_ID`), a fixed UUID.
    pub issuer_id: String,
    /// PKCS#8 PEM, as in a `.p8` file.
    pub private_key_pem: String,
    public_key_pem: String,
}

impl ApiKey {
    /// A fresh P-256 key with fixed key and issuer ids. Give the private
    /// key to the server and the whole key to
    /// [`AppStoreApiStandIn::start`].
    pub fn generate() -> Self {
        let pair = key();
        Self {
            key_id: "TESTKEY123".to_owned(),
            issuer_id: "57246542-96fe-1a63-e053-0824d011072a".to_owned(),
            private_key_pem: pair.serialize_pem(),
            public_key_pem: pair.public_key_pem(),
        }
    }
}

struct ApiState {
    public_key_pem: String,
    key_id: String,
    issuer_id: String,
    /// Per environment (`production`/`sandbox`): transaction id → signed transactions.
    subscriptions: Mutex<HashMap<(String, String), Vec<String>>>,
    /// Answer every call with this HTTP status instead (e.g. 503).
    fail_with: AtomicU16,
    calls: AtomicUsize,
}

/// The App Store Server API, stood in for over real HTTP. Production lives
/// under `production_url`, Sandbox under `sandbox_url`.
pub struct AppStoreApiStandIn {
    /// The Production base URL, `http://127.0.0.1:<port>/production`
    /// (`APP_STORE_BASE_URL`).
    pub production_url: String,
    /// The Sandbox base URL, `http://127.0.0.1:<port>/sandbox`
    /// (`APP_STORE_SANDBOX_BASE_URL`).
    pub sandbox_url: String,
    state: Arc<ApiState>,
    handle: actix_web::dev::ServerHandle,
}

impl AppStoreApiStandIn {
    /// Starts the stand-in on a free port of `127.0.0.1`, accepting bearer
    /// tokens signed with `key`. It answers `GET
    /// …/inApps/v1/subscriptions/<transaction id>` only: `401` for a bad
    /// token, `404` for an unknown transaction, else the statuses set with
    /// [`AppStoreApiStandIn::set_subscription`]. It runs until
    /// [`AppStoreApiStandIn::stop`] or the end of the test's runtime.
    ///
    /// # Panics
    ///
    /// If no local port can be bound.
    pub async fn start(key: &ApiKey) -> Self {
        let state = Arc::new(ApiState {
            public_key_pem: key.public_key_pem.clone(),
            key_id: key.key_id.clone(),
            issuer_id: key.issuer_id.clone(),
            subscriptions: Mutex::default(),
            fail_with: AtomicU16::new(0),
            calls: AtomicUsize::new(0),
        });
        let data = web::Data::from(Arc::clone(&state));
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind App Store stand-in");
        let port = listener.local_addr().expect("local addr").port();
        let server = HttpServer::new(move || {
            App::new().app_data(data.clone()).route(
                "/{environment}/inApps/v1/subscriptions/{transaction_id}",
                web::get().to(statuses),
            )
        })
        .workers(1)
        .listen(listener)
        .expect("listen")
        .disable_signals()
        .shutdown_timeout(1)
        .run();
        let handle = server.handle();
        tokio::spawn(server);
        Self {
            production_url: format!("http://127.0.0.1:{port}/production"),
            sandbox_url: format!("http://127.0.0.1:{port}/sandbox"),
            state,
            handle,
        }
    }

    /// The customer who made `transaction_id` has this subscription now
    /// (`environment`: `production` or `sandbox`): looking it up answers
    /// `signed` (a signed transaction) as its last transaction. Replaces
    /// what was set for that transaction before.
    pub fn set_subscription(&self, environment: &str, transaction_id: &str, signed: &str) {
        self.state.subscriptions.lock().expect("lock").insert(
            (environment.to_owned(), transaction_id.to_owned()),
            vec![signed.to_owned()],
        );
    }

    /// Every call answers `status` with an Apple error body, before the
    /// token is checked (0: normal service again). `status` must be a valid
    /// HTTP status code.
    pub fn fail_with(&self, status: u16) {
        self.state.fail_with.store(status, Ordering::SeqCst);
    }

    /// How many calls arrived since the start, failed and refused ones
    /// included.
    pub fn calls(&self) -> usize {
        self.state.calls.load(Ordering::SeqCst)
    }

    /// Stops the server at once and waits for it (Apple unreachable):
    /// calls are then refused. It cannot be started again.
    pub async fn stop(&self) {
        self.handle.stop(false).await;
    }
}

async fn statuses(
    state: web::Data<ApiState>,
    request: HttpRequest,
    path: web::Path<(String, String)>,
) -> HttpResponse {
    state.calls.fetch_add(1, Ordering::SeqCst);
    let failing = state.fail_with.load(Ordering::SeqCst);
    if failing != 0 {
        return HttpResponse::build(
            actix_web::http::StatusCode::from_u16(failing).expect("status"),
        )
        .json(json!({"errorCode": 5_000_000, "errorMessage": "An unknown error occurred."}));
    }
    if !authorized(&state, &request) {
        return HttpResponse::Unauthorized().finish();
    }
    let (environment, transaction_id) = path.into_inner();
    let found = state
        .subscriptions
        .lock()
        .expect("lock")
        .get(&(environment.clone(), transaction_id))
        .cloned();
    let Some(signed) = found else {
        return HttpResponse::NotFound()
            .json(json!({"errorCode": 4_040_010, "errorMessage": "Transaction id not found."}));
    };
    let last: Vec<Value> = signed
        .iter()
        .map(|jws| json!({"status": 1, "originalTransactionId": "x", "signedTransactionInfo": jws}))
        .collect();
    HttpResponse::Ok().json(json!({
        "environment": if environment == "production" { "Production" } else { "Sandbox" },
        "bundleId": BUNDLE_ID,
        "appAppleId": APP_APPLE_ID,
        "data": [{"subscriptionGroupIdentifier": "21000000", "lastTransactions": last}],
    }))
}

/// The bearer token must be an ES256 JWT signed with the app's key, for
/// Apple's audience, naming our issuer, key id and bundle.
fn authorized(state: &ApiState, request: &HttpRequest) -> bool {
    let Some(token) = request
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
    else {
        return false;
    };
    let Ok(header) = jsonwebtoken::decode_header(token) else {
        return false;
    };
    if header.kid.as_deref() != Some(state.key_id.as_str()) {
        return false;
    }
    let Ok(key) = DecodingKey::from_ec_pem(state.public_key_pem.as_bytes()) else {
        return false;
    };
    let mut validation = Validation::new(Algorithm::ES256);
    validation.set_audience(&["appstoreconnect-v1"]);
    validation.set_issuer(&[state.issuer_id.as_str()]);
    jsonwebtoken::decode::<Value>(token, &key, &validation)
        .is_ok_and(|data| data.claims["bid"] == BUNDLE_ID)
}
