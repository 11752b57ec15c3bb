//! Sign-in with a one-time code sent by e-mail (`/auth/send-otp`,
//! `/auth/verify-otp`) — the path the shipped app uses.
//!
//! Codes: six random digits, stored only as an HMAC (keyed with the JWT
//! secret, so a database leak does not reveal them by brute force), valid
//! for `login_code_ttl`, single use, dead after five wrong tries; sending is
//! limited per address and per client IP. `is_new_user` is the only hint
//! about an account the answers give.

use heyclaw_domain::Email;
use heyclaw_persistence::{
    PersistenceError,
    models::NewUser,
    queries::{
        accounts,
        login_codes::{self, PURPOSE_LOGIN},
    },
};
use hmac::{Hmac, Mac};
use rand::Rng;
use secrecy::ExposeSecret;
use sha2::Sha256;

use super::{Accounts, ClientInfo, SignedIn, parse_email};
use crate::{
    AppError,
    auth::limits::{self, AttemptKeys},
    mail::Mail,
};

/// Wrong tries after which a code is dead.
pub const MAX_CODE_ATTEMPTS: i32 = 5;

const EXPIRED: &str = "Code expired. Please request a new one.";
const INVALID: &str = "Invalid code";

/// The fixed account App Store review signs in with: an address and a code
/// from settings, never mailed.
///
/// For this address no code is sent and no request is counted against the
/// code limits; the configured code always works (compared in constant
/// time) and is never spent. Since it never dies, tries at it count against
/// the login limits (per address and per IP), like passwords.
#[derive(Debug, Clone)]
pub struct ReviewAccount {
    /// The review account's address.
    pub email: Email,
    /// The code that signs it in.
    pub code: secrecy::SecretString,
}

enum Verdict {
    Valid,
    Wrong,
    Expired,
}

impl Accounts {
    fn code_mac(&self, email: &Email, purpose: &str, code: &str) -> Result<Hmac<Sha256>, AppError> {
        let mut mac =
            Hmac::<Sha256>::new_from_slice(self.inner.code_key.expose_secret().as_bytes())
                .map_err(|err| AppError::Internal(format!("code key: {err}")))?;
        mac.update(purpose.as_bytes());
        mac.update(b"\0");
        mac.update(email.as_str().as_bytes());
        mac.update(b"\0");
        mac.update(code.as_bytes());
        Ok(mac)
    }

    /// Sends a sign-in code. Returns whether the address has no account yet
    /// (`is_new_user`: the app shows a sign-up screen).
    ///
    /// A new six-digit code is stored (only its HMAC), retiring the
    /// address's earlier sign-in code, and mailed in the background; a
    /// failed mail is only logged. The code works once, for the configured
    /// lifetime. Codes are sent to addresses without an account too: the
    /// account is created when the code is verified.
    ///
    /// # Errors
    ///
    /// [`AppError::Invalid`] for a malformed e-mail;
    /// [`AppError::RateLimited`] past the code-request limits of the
    /// address or the IP; [`AppError::Storage`].
    pub async fn send_login_code(
        &self,
        email: &str,
        client: &ClientInfo,
    ) -> Result<bool, AppError> {
        let email = parse_email(email)?;
        let is_new_user = {
            let mut conn = self.inner.pg.get().await.map_err(PersistenceError::from)?;
            accounts::find_by_email(&mut conn, email.as_str())
                .await?
                .is_none()
        };
        if self.is_review_account(&email) {
            return Ok(is_new_user);
        }
        let limits = self.inner.limits;
        let keys = AttemptKeys::new("login-code", email.as_str(), client.ip);
        limits::count(
            &self.inner.redis,
            &keys,
            limits.code_per_account,
            limits.code_per_ip,
            "Code request",
        )
        .await?;

        let code = self.new_code(&email, PURPOSE_LOGIN).await?;
        let minutes = self.inner.login_code_ttl.as_secs().div_ceil(60);
        let mail = Mail {
            to: email.as_str().to_owned(),
            subject: format!("Your HeyClaw code: {code}"),
            body: format!(
                "Your HeyClaw sign-in code is {code}.\n\nIt works once, for {minutes} minutes. \
                 If you did not ask for it, ignore this mail.\n"
            ),
        };
        let mailer = std::sync::Arc::clone(&self.inner.mailer);
        tokio::spawn(async move {
            if let Err(err) = mailer.send(mail).await {
                tracing::error!(error = %err, "sign-in code mail failed");
            }
        });
        Ok(is_new_user)
    }

    /// Signs in with a code, creating the account (exactly as signup does,
    /// without a password) for a new address. Returns the session and
    /// whether the account was created now.
    ///
    /// Only the address's latest code works; it is spent on success, and
    /// dies after [`MAX_CODE_ATTEMPTS`] wrong tries. A new account gets its
    /// agent placed as at sign-up (a failure there is only logged). If two
    /// verifications create the same account at once, both sign in to it.
    ///
    /// # Errors
    ///
    /// [`AppError::Invalid`] for a missing e-mail or code, a malformed
    /// e-mail, a wrong code ("Invalid code") or a spent or expired one
    /// ("Code expired. Please request a new one.");
    /// [`AppError::Suspended`] for a suspended account;
    /// [`AppError::Storage`].
    pub async fn verify_login_code(
        &self,
        email: &str,
        code: &str,
        client: &ClientInfo,
    ) -> Result<(SignedIn, bool), AppError> {
        if email.trim().is_empty() || code.trim().is_empty() {
            return Err(AppError::invalid("Email and code are required"));
        }
        let email = parse_email(email)?;
        let code = code.trim();
        if self.is_review_account(&email) {
            // A fixed code never dies, so its guesses are what the login
            // limits count (per address and per IP).
            let keys = self
                .count_login_attempt("review-code", &email, client)
                .await?;
            if !self.is_review_code(code) {
                return Err(AppError::invalid(INVALID));
            }
            self.inner.redis.reset_attempts(&keys.account).await?;
        } else {
            self.spend_code(&email, PURPOSE_LOGIN, code).await?;
        }
        self.sign_in_by_email(&email, None, client).await
    }

    /// Makes and stores a new code for `email` and `purpose` (retiring the
    /// previous one) and returns it.
    pub(crate) async fn new_code(&self, email: &Email, purpose: &str) -> Result<String, AppError> {
        let code = format!("{:06}", rand::rngs::OsRng.gen_range(0..1_000_000u32));
        let hash = self
            .code_mac(email, purpose, &code)?
            .finalize()
            .into_bytes()
            .to_vec();
        let mut conn = self.inner.pg.get().await.map_err(PersistenceError::from)?;
        login_codes::replace(
            &mut conn,
            email.as_str(),
            purpose,
            &hash,
            self.inner.clock.now() + self.inner.login_code_ttl,
        )
        .await?;
        Ok(code)
    }

    /// Spends the latest code of `email` for `purpose` if `code` is it.
    pub(crate) async fn spend_code(
        &self,
        email: &Email,
        purpose: &str,
        code: &str,
    ) -> Result<(), AppError> {
        let mut conn = self.inner.pg.get().await.map_err(PersistenceError::from)?;
        let verdict = heyclaw_persistence::transaction::<_, AppError, _>(&mut conn, async |conn| {
            let Some(latest) = login_codes::lock_latest(conn, email.as_str(), purpose).await?
            else {
                return Ok(Verdict::Wrong);
            };
            if latest.used_at.is_some() || latest.expires_at <= self.inner.clock.now() {
                return Ok(Verdict::Expired);
            }
            // Constant-time comparison of the keyed hashes.
            if self
                .code_mac(email, purpose, code)?
                .verify_slice(&latest.code_hash)
                .is_ok()
            {
                login_codes::retire(conn, latest.id).await?;
                return Ok(Verdict::Valid);
            }
            if login_codes::add_attempt(conn, latest.id).await? >= MAX_CODE_ATTEMPTS {
                login_codes::retire(conn, latest.id).await?;
            }
            Ok(Verdict::Wrong)
        })
        .await?;
        match verdict {
            Verdict::Valid => Ok(()),
            Verdict::Wrong => Err(AppError::invalid(INVALID)),
            Verdict::Expired => Err(AppError::invalid(EXPIRED)),
        }
    }

    /// Finds the account of a verified address or creates it (user, free
    /// subscription, assistant; then the agent), and starts a session.
    pub(crate) async fn sign_in_by_email(
        &self,
        email: &Email,
        name: Option<&str>,
        client: &ClientInfo,
    ) -> Result<(SignedIn, bool), AppError> {
        let mut conn = self.inner.pg.get().await.map_err(PersistenceError::from)?;
        let (user, created) = match accounts::find_by_email(&mut conn, email.as_str()).await? {
            Some(user) => (user, false),
            None => {
                let new_user = NewUser {
                    email: email.as_str(),
                    name,
                    password_hash: None,
                    apple_sub: None,
                };
                match accounts::create_account(&mut conn, &new_user).await {
                    Ok(user) => (user, true),
                    // Someone created it a moment ago: use theirs.
                    Err(err) if err.is_unique_violation() => (
                        accounts::find_by_email(&mut conn, email.as_str())
                            .await?
                            .ok_or(AppError::Internal(
                                "account vanished after a conflict".into(),
                            ))?,
                        false,
                    ),
                    Err(err) => return Err(err.into()),
                }
            }
        };
        drop(conn);
        if created {
            tracing::info!(user_id = %user.id, "account created by e-mail code");
            self.provision_agent(&user).await;
        }
        self.start_signed_in(user, created, client).await
    }

    fn is_review_account(&self, email: &Email) -> bool {
        self.inner
            .review_account
            .as_ref()
            .is_some_and(|review| review.email == *email)
    }

    fn is_review_code(&self, code: &str) -> bool {
        let Some(review) = &self.inner.review_account else {
            return false;
        };
        crate::auth::constant_time_eq(review.code.expose_secret().as_bytes(), code.as_bytes())
    }
}
