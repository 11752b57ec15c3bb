//! Access tokens (HS256 JWTs, algorithm pinned), account-deletion tokens
//! (JWTs under a key of their own) and opaque refresh / reset tokens
//! (random, stored only as SHA-256 hashes).
//!
//! Access tokens are stateless: whether one is revoked, or its session
//! ended, is checked by [`crate::accounts::Accounts::authenticate`], not
//! here. Their expiry is checked against the system clock (jsonwebtoken's
//! own check, 5 s leeway), not the injected [`crate::clock::Clock`]; a
//! deletion token's expiry is checked against the time its caller passes.

use std::time::Duration;

use chrono::Utc;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation, errors::ErrorKind};
use rand::RngCore;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::AppError;

/// The claims of an access token. `fam` is the refresh-token family (the
/// login session) the token was issued with, so logout can end exactly that
/// session.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct AccessClaims {
    /// The user's id.
    pub sub: Uuid,
    /// The user's e-mail when the token was issued (not kept up to date).
    pub email: String,
    /// The token's own id: two tokens issued in the same second differ.
    pub jti: Uuid,
    /// The refresh-token family (login session) it was issued with.
    pub fam: Uuid,
    /// Issued at, in Unix seconds.
    pub iat: i64,
    /// Expires at, in Unix seconds.
    pub exp: i64,
}

/// Why a token was not accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenProblem {
    /// Well formed and correctly signed, but past its expiry.
    Expired,
    /// Anything else: malformed, signed with another key or algorithm, a
    /// required claim missing, or (deletion tokens) the wrong audience.
    Invalid,
}

/// Signs and verifies access tokens with the one configured secret.
///
/// ```
/// use std::time::Duration;
///
/// use heyclaw_app::auth::tokens::{AccessTokens, TokenProblem};
/// use secrecy::SecretString;
/// use uuid::Uuid;
///
/// let tokens = AccessTokens::new(&SecretString::from("k".repeat(40)), Duration::from_secs(900));
/// let (user, session) = (Uuid::new_v4(), Uuid::new_v4());
/// let token = tokens.issue(user, "ada@example.com", session)?;
/// let claims = tokens.verify(&token).map_err(|problem| format!("{problem:?}"))?;
/// assert_eq!((claims.sub, claims.fam, claims.exp - claims.iat), (user, session, 900));
///
/// let other = AccessTokens::new(&SecretString::from("o".repeat(40)), Duration::from_secs(900));
/// assert_eq!(other.verify(&token), Err(TokenProblem::Invalid));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct AccessTokens {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    ttl: Duration,
}

impl AccessTokens {
    /// Tokens signed with `secret` (the JWT secret from settings) that live
    /// `ttl`.
    pub fn new(secret: &SecretString, ttl: Duration) -> Self {
        let bytes = secret.expose_secret().as_bytes();
        // Only HS256 is ever accepted: a token naming `none`, RS256 or any
        // other algorithm fails validation before its signature is looked at.
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = 5;
        validation.set_required_spec_claims(&["exp", "iat", "sub"]);
        Self {
            encoding: EncodingKey::from_secret(bytes),
            decoding: DecodingKey::from_secret(bytes),
            validation,
            ttl,
        }
    }

    /// How long a new token lives.
    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    /// A new signed token for `user_id` in the login session `family`,
    /// valid for [`AccessTokens::ttl`] from now (system clock), with a fresh
    /// `jti`.
    ///
    /// # Errors
    ///
    /// [`AppError::Internal`] if signing fails.
    pub fn issue(&self, user_id: Uuid, email: &str, family: Uuid) -> Result<String, AppError> {
        let now = Utc::now().timestamp();
        let claims = AccessClaims {
            sub: user_id,
            email: email.to_owned(),
            jti: Uuid::new_v4(),
            fam: family,
            iat: now,
            exp: now + i64::try_from(self.ttl.as_secs()).unwrap_or(i64::MAX / 2),
        };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .map_err(|err| AppError::Internal(format!("signing an access token: {err}")))
    }

    /// The claims of `token` if it is an HS256 token signed with our secret,
    /// carries `exp`, `iat` and `sub`, and has not expired (5 s leeway).
    /// Revocation is not checked here.
    ///
    /// # Errors
    ///
    /// [`TokenProblem::Expired`] past its expiry, [`TokenProblem::Invalid`]
    /// for anything else.
    pub fn verify(&self, token: &str) -> Result<AccessClaims, TokenProblem> {
        jsonwebtoken::decode::<AccessClaims>(token, &self.decoding, &self.validation)
            .map(|data| data.claims)
            .map_err(|err| match err.kind() {
                ErrorKind::ExpiredSignature => TokenProblem::Expired,
                _ => TokenProblem::Invalid,
            })
    }
}

/// The claims of an account-deletion token.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct DeletionClaims {
    /// The id of the user whose account may be deleted.
    pub sub: Uuid,
    /// The token's own id.
    pub jti: Uuid,
    /// Always `heyclaw-account-deletion`.
    pub aud: String,
    /// Issued at, in Unix seconds.
    pub iat: i64,
    /// Expires at, in Unix seconds.
    pub exp: i64,
}

const DELETION_AUDIENCE: &str = "heyclaw-account-deletion";

/// Short-lived tokens good for deleting one account and nothing else. They
/// are signed with a key derived from the JWT secret for this purpose only,
/// so an access token is no deletion token and a deletion token is no access
/// token (each fails the other's signature check), and they name their own
/// audience. Expiry is checked against the injected clock.
///
/// They are not single use by themselves: once the account is deleted, a
/// second use finds no account.
#[derive(Clone)]
pub struct DeletionTokens {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    ttl: Duration,
}

impl DeletionTokens {
    /// Tokens under a key derived from `secret` (the JWT secret) that live
    /// `ttl`.
    pub fn new(secret: &SecretString, ttl: Duration) -> Self {
        let key = Sha256::new()
            .chain_update(b"heyclaw account deletion\0")
            .chain_update(secret.expose_secret().as_bytes())
            .finalize();
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_audience(&[DELETION_AUDIENCE]);
        validation.set_required_spec_claims(&["exp", "sub", "aud"]);
        // Expiry is checked against the clock in `verify`.
        validation.validate_exp = false;
        Self {
            encoding: EncodingKey::from_secret(&key),
            decoding: DecodingKey::from_secret(&key),
            validation,
            ttl,
        }
    }

    /// A new token good for deleting `user_id`'s account until `now` plus
    /// the ttl.
    ///
    /// # Errors
    ///
    /// [`AppError::Internal`] if signing fails.
    pub fn issue(&self, user_id: Uuid, now: chrono::DateTime<Utc>) -> Result<String, AppError> {
        let claims = DeletionClaims {
            sub: user_id,
            jti: Uuid::new_v4(),
            aud: DELETION_AUDIENCE.to_owned(),
            iat: now.timestamp(),
            exp: now.timestamp() + i64::try_from(self.ttl.as_secs()).unwrap_or(600),
        };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .map_err(|err| AppError::Internal(format!("signing a deletion token: {err}")))
    }

    /// The claims of `token` if it is a deletion token of ours that has not
    /// expired at `now` (no leeway).
    ///
    /// # Errors
    ///
    /// [`TokenProblem::Expired`] at or past its expiry;
    /// [`TokenProblem::Invalid`] for anything else, access tokens included.
    pub fn verify(
        &self,
        token: &str,
        now: chrono::DateTime<Utc>,
    ) -> Result<DeletionClaims, TokenProblem> {
        let claims =
            jsonwebtoken::decode::<DeletionClaims>(token, &self.decoding, &self.validation)
                .map(|data| data.claims)
                .map_err(|_| TokenProblem::Invalid)?;
        if claims.exp <= now.timestamp() {
            return Err(TokenProblem::Expired);
        }
        Ok(claims)
    }
}

/// A new opaque token (64 random bytes, hex) and the hash to store for it.
pub(crate) fn new_opaque_token() -> (String, Vec<u8>) {
    let mut bytes = [0u8; 64];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    let token = hex::encode(bytes);
    let hash = hash_opaque_token(&token);
    (token, hash)
}

/// The SHA-256 of an opaque token: what is stored and looked up.
pub(crate) fn hash_opaque_token(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokens() -> AccessTokens {
        AccessTokens::new(
            &SecretString::from("k".repeat(40)),
            Duration::from_secs(900),
        )
    }

    #[test]
    fn issued_tokens_verify_with_their_claims() {
        let tokens = tokens();
        let (user, family) = (Uuid::new_v4(), Uuid::new_v4());
        let token = tokens.issue(user, "a@example.com", family).unwrap();
        let claims = tokens.verify(&token).unwrap();
        assert_eq!((claims.sub, claims.fam), (user, family));
        assert_eq!(claims.exp - claims.iat, 900);
    }

    #[test]
    fn another_key_or_a_tampered_token_is_invalid() {
        let token = tokens()
            .issue(Uuid::new_v4(), "a@example.com", Uuid::new_v4())
            .unwrap();
        let other = AccessTokens::new(
            &SecretString::from("o".repeat(40)),
            Duration::from_secs(900),
        );
        assert_eq!(other.verify(&token), Err(TokenProblem::Invalid));
        let mut tampered = token.clone();
        tampered.insert(tampered.len() / 2, 'x');
        assert_eq!(tokens().verify(&tampered), Err(TokenProblem::Invalid));
        assert_eq!(tokens().verify("garbage"), Err(TokenProblem::Invalid));
    }

    #[test]
    fn deletion_and_access_tokens_are_not_interchangeable() {
        let secret = SecretString::from("k".repeat(40));
        let deletion = DeletionTokens::new(&secret, Duration::from_secs(600));
        let now = Utc::now();
        let user = Uuid::new_v4();
        let token = deletion.issue(user, now).unwrap();
        assert_eq!(deletion.verify(&token, now).unwrap().sub, user);
        assert_eq!(tokens().verify(&token), Err(TokenProblem::Invalid));
        let access = tokens()
            .issue(user, "a@example.com", Uuid::new_v4())
            .unwrap();
        assert_eq!(deletion.verify(&access, now), Err(TokenProblem::Invalid));
        assert_eq!(
            deletion.verify(&token, now + chrono::Duration::seconds(601)),
            Err(TokenProblem::Expired)
        );
    }

    #[test]
    fn opaque_tokens_are_random_and_hashed() {
        let (a, hash_a) = new_opaque_token();
        let (b, _) = new_opaque_token();
        assert_ne!(a, b);
        assert_eq!(a.len(), 128);
        assert_eq!(hash_opaque_token(&a), hash_a);
    }
}
