//! Sign in with Apple stand-ins: a JWKS endpoint serving test keys over real
//! HTTP, and identity tokens signed with the matching private keys (test
//! keys committed under `fixtures/`, used for nothing else).

use std::sync::{
    Arc, Mutex,
    atomic::{AtomicUsize, Ordering},
};

use actix_web::{App, HttpResponse, HttpServer, web};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};

/// The test key whose public half the stand-in serves by default.
pub const TEST_KEY_PEM: &str = include_str!("../fixtures/apple-test-key.pem");
const TEST_KEY_N: &str = include_str!("../fixtures/apple-test-key.n");
/// Another key, never published: tokens signed with it must fail.
pub const OTHER_KEY_PEM: &str = include_str!("../fixtures/apple-other-key.pem");
const OTHER_KEY_N: &str = include_str!("../fixtures/apple-other-key.n");

/// The key id (`kid`) under which the stand-in publishes [`TEST_KEY_PEM`]'s
/// public half.
pub const TEST_KID: &str = "heyclaw-test-kid";
/// The key id of [`OTHER_KEY_PEM`], published only after
/// [`JwksStandIn::publish_other_key`].
pub const OTHER_KID: &str = "heyclaw-other-kid";

fn jwk(kid: &str, n: &str) -> Value {
    json!({"kty": "RSA", "kid": kid, "use": "sig", "alg": "RS256", "n": n.trim(), "e": "AQAB"})
}

/// Apple's JWKS endpoint, stood in for over real HTTP on a free port of
/// `127.0.0.1`. Clones share one server and its keys; it runs until
/// [`JwksStandIn::stop`] or the end of the test's runtime.
#[derive(Clone)]
pub struct JwksStandIn {
    /// The full JWKS URL, `http://127.0.0.1:<port>/auth/keys`: the server's
    /// `APPLE_JWKS_URL`.
    pub url: String,
    keys: Arc<Mutex<Vec<Value>>>,
    hits: Arc<AtomicUsize>,
    handle: actix_web::dev::ServerHandle,
}

impl JwksStandIn {
    /// Starts serving the test key (`TEST_KID`) only. Panics if no local
    /// port can be bound.
    pub async fn start() -> Self {
        let keys = Arc::new(Mutex::new(vec![jwk(TEST_KID, TEST_KEY_N)]));
        let hits = Arc::new(AtomicUsize::new(0));
        let (served, counted) = (Arc::clone(&keys), Arc::clone(&hits));
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind JWKS stand-in");
        let url = format!("http://{}/auth/keys", listener.local_addr().expect("addr"));
        let server = HttpServer::new(move || {
            let (served, counted) = (Arc::clone(&served), Arc::clone(&counted));
            App::new().route(
                "/auth/keys",
                web::get().to(move || {
                    let (served, counted) = (Arc::clone(&served), Arc::clone(&counted));
                    async move {
                        counted.fetch_add(1, Ordering::SeqCst);
                        let keys = served.lock().expect("lock").clone();
                        HttpResponse::Ok().json(json!({ "keys": keys }))
                    }
                }),
            )
        })
        .workers(1)
        .disable_signals()
        .listen(listener)
        .expect("listen")
        .run();
        let handle = server.handle();
        tokio::spawn(server);
        Self {
            url,
            keys,
            hits,
            handle,
        }
    }

    /// Starts publishing the other key too (Apple rotating keys). Calling
    /// it twice publishes it twice.
    pub fn publish_other_key(&self) {
        self.keys
            .lock()
            .expect("lock")
            .push(jwk(OTHER_KID, OTHER_KEY_N));
    }

    /// How many times the key set was fetched: shows whether the server
    /// cached it.
    pub fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }

    /// Stops the server at once and waits for it (Apple unreachable):
    /// fetches are then refused. It cannot be started again.
    pub async fn stop(&self) {
        self.handle.stop(false).await;
    }
}

/// Claims of a valid identity token for `aud` (the app's bundle id) and
/// user `sub`: Apple's issuer, issued now (system time, not the test
/// clock), expiring in an hour. With an `email`, `email_verified` is added
/// as Apple writes it, a string. Change the claims to make invalid tokens.
pub fn claims(aud: &str, sub: &str, email: Option<&str>, email_verified: bool) -> Value {
    let now = chrono_now();
    let mut claims = json!({"iss": "https://appleid.apple.com", "aud": aud, "sub": sub, "iat": now, "exp": now + 3600});
    if let Some(email) = email {
        claims["email"] = json!(email);
        // Apple sends the flag as a string.
        claims["email_verified"] = json!(if email_verified { "true" } else { "false" });
    }
    claims
}

fn chrono_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or_default()
}

/// An RS256 token over `claims` with key id `kid` in its header, signed by
/// the private key `pem` ([`TEST_KEY_PEM`] or [`OTHER_KEY_PEM`]). The kid
/// and key need not match, to test mismatches.
///
/// # Panics
///
/// If `pem` is not an RSA private key.
pub fn sign(claims: &Value, kid: &str, pem: &str) -> String {
    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some(kid.to_owned());
    jsonwebtoken::encode(
        &header,
        claims,
        &EncodingKey::from_rsa_pem(pem.as_bytes()).expect("test key"),
    )
    .expect("sign")
}
