//! Sign in with Apple (`/auth/apple`). The identity token is verified for
//! real: RS256 signature against Apple's published keys (fetched from
//! `APPLE_JWKS_URL`, cached, refreshed when a token names an unknown key),
//! issuer `https://appleid.apple.com`, audience = the app's bundle id,
//! expiry. The system this replaces only decoded the token, so anyone could
//! sign in as anyone.
//!
//! Account linking: by Apple `sub` first; else to the account with the
//! token's e-mail *only if Apple marks it verified*; else a new account. An
//! e-mail in the request body is never trusted.

use std::{
    collections::HashMap,
    sync::Arc,
    time::{Duration, Instant},
};

use heyclaw_domain::{Email, clean_name};
use heyclaw_persistence::{PersistenceError, models::NewUser, queries::accounts};
use jsonwebtoken::{Algorithm, DecodingKey, Validation, jwk::JwkSet};
use serde::Deserialize;
use tokio::sync::RwLock;

use super::{Accounts, ClientInfo, SignedIn};
use crate::AppError;

/// The `iss` every Apple identity token must carry.
pub const APPLE_ISSUER: &str = "https://appleid.apple.com";

const INVALID: &str = "Invalid identity token";

/// Apple's signing keys, cached by key id, and the audience (bundle id)
/// tokens must name. Cheap to clone; clones share the cache.
///
/// Keys are fetched on first use, and again when a token names a key not
/// in the cache — at most once per `min_refresh`, so made-up key ids cannot
/// make us hammer Apple. A fetch has a 10 s timeout.
#[derive(Clone)]
pub struct AppleKeys {
    http: reqwest::Client,
    jwks_url: String,
    bundle_id: String,
    /// A token naming an unknown key refreshes the keys at most this often,
    /// so made-up key ids cannot hammer Apple's endpoint through us.
    min_refresh: Duration,
    cache: Arc<RwLock<KeyCache>>,
}

#[derive(Default)]
struct KeyCache {
    keys: HashMap<String, DecodingKey>,
    fetched_at: Option<Instant>,
}

#[derive(Debug, Deserialize)]
struct AppleClaims {
    sub: String,
    email: Option<String>,
    /// Apple sends `true` or `"true"`.
    email_verified: Option<serde_json::Value>,
}

impl AppleClaims {
    fn email_verified(&self) -> bool {
        matches!(&self.email_verified, Some(serde_json::Value::Bool(true)))
            || matches!(&self.email_verified, Some(serde_json::Value::String(s)) if s == "true")
    }
}

/// A name the app sends from Apple's first sign-in (`fullName`).
#[derive(Debug, Clone, Default)]
pub struct AppleName {
    /// The given name, if Apple shared it.
    pub given_name: Option<String>,
    /// The family name, if Apple shared it.
    pub family_name: Option<String>,
}

impl AppleKeys {
    /// Keys from `jwks_url` (Apple's `https://appleid.apple.com/auth/keys`,
    /// or a stand-in in tests) for tokens whose audience is `bundle_id`.
    /// Nothing is fetched yet.
    ///
    /// # Errors
    ///
    /// [`AppError::Internal`] if the HTTP client cannot be built.
    pub fn new(
        jwks_url: String,
        bundle_id: String,
        min_refresh: Duration,
    ) -> Result<Self, AppError> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .map_err(|err| AppError::Internal(format!("HTTP client: {err}")))?;
        Ok(Self {
            http,
            jwks_url,
            bundle_id,
            min_refresh,
            cache: Arc::default(),
        })
    }

    async fn key(&self, kid: &str) -> Result<DecodingKey, AppError> {
        if let Some(key) = self.cache.read().await.keys.get(kid) {
            return Ok(key.clone());
        }
        let mut cache = self.cache.write().await;
        let recently = cache
            .fetched_at
            .is_some_and(|at| at.elapsed() < self.min_refresh);
        if !recently {
            cache.keys = self.fetch().await?;
            cache.fetched_at = Some(Instant::now());
        }
        cache
            .keys
            .get(kid)
            .cloned()
            .ok_or_else(|| AppError::invalid(INVALID))
    }

    async fn fetch(&self) -> Result<HashMap<String, DecodingKey>, AppError> {
        let unavailable = |err: String| {
            tracing::warn!(error = %err, "fetching Apple's keys failed");
            AppError::Unavailable(
                "Sign in with Apple is unavailable right now. Please try again.".to_owned(),
            )
        };
        let set: JwkSet = self
            .http
            .get(&self.jwks_url)
            .send()
            .await
            .and_then(reqwest::Response::error_for_status)
            .map_err(|err| unavailable(err.to_string()))?
            .json()
            .await
            .map_err(|err| unavailable(err.to_string()))?;
        Ok(set
            .keys
            .iter()
            .filter_map(|jwk| Some((jwk.common.key_id.clone()?, DecodingKey::from_jwk(jwk).ok()?)))
            .collect())
    }

    async fn verify(&self, token: &str) -> Result<AppleClaims, AppError> {
        let header = jsonwebtoken::decode_header(token).map_err(|_| AppError::invalid(INVALID))?;
        if header.alg != Algorithm::RS256 {
            return Err(AppError::invalid(INVALID));
        }
        let kid = header.kid.ok_or_else(|| AppError::invalid(INVALID))?;
        let key = self.key(&kid).await?;
        let mut validation = Validation::new(Algorithm::RS256);
        validation.set_issuer(&[APPLE_ISSUER]);
        validation.set_audience(&[&self.bundle_id]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        validation.leeway = 30;
        jsonwebtoken::decode::<AppleClaims>(token, &key, &validation)
            .map(|data| data.claims)
            .map_err(|err| {
                tracing::info!(error = %err, "Apple identity token rejected");
                AppError::invalid(INVALID)
            })
    }
}

impl Accounts {
    /// Verifies an Apple identity token and signs its owner in, creating the
    /// account if there is none. Returns the session and whether the account
    /// was created now.
    ///
    /// The token must be RS256, signed by one of Apple's keys, with issuer
    /// [`APPLE_ISSUER`], the bundle id as audience and an unexpired `exp`
    /// (30 s leeway). The account is the one already linked to the token's
    /// Apple `sub`; else the one with the token's e-mail, linked now (and
    /// relinked if it had another Apple ID) only if Apple marks the address
    /// verified; else a new one, named from `name` (Apple sends the name only
    /// on the first sign-in; later it is ignored), whose agent is placed as
    /// at sign-up.
    ///
    /// # Errors
    ///
    /// [`AppError::Invalid`] for a missing or invalid token (bad signature,
    /// audience, issuer, expiry, an unknown key) or a token without an
    /// e-mail for a new account; [`AppError::Unavailable`] when Sign in with
    /// Apple is not configured or Apple's keys cannot be fetched;
    /// [`AppError::EmailTaken`] when the e-mail has an account but Apple has
    /// not verified it; [`AppError::Suspended`]; [`AppError::Storage`].
    pub async fn sign_in_with_apple(
        &self,
        identity_token: &str,
        name: AppleName,
        client: &ClientInfo,
    ) -> Result<(SignedIn, bool), AppError> {
        if identity_token.trim().is_empty() {
            return Err(AppError::invalid("Identity token is required"));
        }
        let keys = self.inner.apple.as_ref().ok_or_else(|| {
            AppError::Unavailable("Sign in with Apple is not configured".to_owned())
        })?;
        let claims = keys.verify(identity_token.trim()).await?;
        let email = claims
            .email
            .as_deref()
            .map(Email::parse)
            .transpose()
            .map_err(|_| AppError::invalid(INVALID))?;
        let full_name = [name.given_name, name.family_name]
            .into_iter()
            .flatten()
            .map(|part| part.trim().to_owned())
            .filter(|part| !part.is_empty())
            .collect::<Vec<_>>()
            .join(" ");
        let full_name = clean_name(Some(&full_name)).ok().flatten();

        let mut conn = self.inner.pg.get().await.map_err(PersistenceError::from)?;
        if let Some(user) = accounts::find_by_apple_sub(&mut conn, &claims.sub).await? {
            drop(conn);
            return self.start_signed_in(user, false, client).await;
        }
        let Some(email) = email else {
            // Apple shares the address on every sign-in when it was granted;
            // without one there is nothing to make an account with.
            return Err(AppError::invalid("Apple did not share an e-mail address"));
        };
        if let Some(existing) = accounts::find_by_email(&mut conn, email.as_str()).await? {
            if !claims.email_verified() {
                // Never link on an address Apple has not verified.
                return Err(AppError::EmailTaken);
            }
            accounts::set_apple_sub(&mut conn, existing.id, &claims.sub).await?;
            drop(conn);
            return self.start_signed_in(existing, false, client).await;
        }
        let new_user = NewUser {
            email: email.as_str(),
            name: full_name.as_deref(),
            password_hash: None,
            apple_sub: Some(&claims.sub),
        };
        let user = accounts::create_account(&mut conn, &new_user)
            .await
            .map_err(super::email_taken)?;
        drop(conn);
        tracing::info!(user_id = %user.id, "account created with Sign in with Apple");
        self.provision_agent(&user).await;
        self.start_signed_in(user, true, client).await
    }
}
