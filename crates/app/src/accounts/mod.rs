//! Account use cases: sign up, log in, refresh, log out, forgot and reset a
//! password, sign in with an e-mailed code or with Apple, authenticate a
//! request, delete an account (from the app, or from the web with an
//! e-mailed code).
//!
//! A login session is a refresh-token *family*: each refresh rotates the
//! token within its family, and every access token names its family, so
//! ending a session (logout, a detected reuse, a password reset) ends its
//! access tokens too. Secrets are never logged; passwords arrive and travel
//! as [`SecretString`].

mod apple;
mod deletion;
mod email_codes;

pub use apple::{APPLE_ISSUER, AppleKeys, AppleName};
pub use email_codes::{MAX_CODE_ATTEMPTS, ReviewAccount};

use std::{net::IpAddr, sync::Arc, time::Duration};

use heyclaw_domain::{Email, UserId, check_new_password, clean_name, is_plausible_password};
use heyclaw_persistence::{
    AsyncPgConnection, PersistenceError, PgPool, RedisStore,
    models::{NewPasswordResetToken, NewRefreshToken, NewUser, USER_ACTIVE, User},
    queries::{accounts, password_resets, refresh_tokens},
};
use secrecy::{ExposeSecret, SecretString};
use uuid::Uuid;

use crate::{
    AppError,
    access_cache::AccessCache,
    auth::{
        limits::{self, AttemptKeys, AuthLimits},
        passwords::{self, PasswordHashing},
        tokens::{
            AccessClaims, AccessTokens, DeletionTokens, TokenProblem, hash_opaque_token,
            new_opaque_token,
        },
    },
    clock::SharedClock,
    mail::{Mail, Mailer},
    provisioning::AgentLifecycle,
};

/// What [`Accounts`] is configured with (from settings).
pub struct AccountsConfig {
    /// Signs access tokens; also keys the HMAC of e-mailed codes and, through
    /// a derived key, deletion tokens. Changing it signs everyone out and
    /// voids outstanding codes.
    pub jwt_secret: SecretString,
    /// How long an access token works.
    pub access_token_ttl: Duration,
    /// How long a refresh token works if it is not used (each refresh
    /// issues a new one with a new lifetime).
    pub refresh_token_ttl: Duration,
    /// How long a mailed password-reset link works.
    pub password_reset_ttl: Duration,
    /// The mailed link is `<password_reset_url>?token=<token>`.
    pub password_reset_url: String,
    /// Attempt limits for log-ins, reset requests and e-mailed codes.
    pub limits: AuthLimits,
    /// How long an e-mailed sign-in code works.
    pub login_code_ttl: Duration,
    /// The App Store review account, if configured.
    pub review_account: Option<ReviewAccount>,
    /// Sign in with Apple's key source; `None` turns the route off.
    pub apple: Option<AppleKeys>,
    /// How long an account-deletion token (from the web page's e-mailed
    /// code) works.
    pub deletion_token_ttl: Duration,
    /// Bounds on concurrent password hashing.
    pub password_hashing: PasswordHashing,
    /// How long a just-rotated refresh token may be presented again and
    /// still get a fresh pair (clients refresh from several requests at once).
    pub refresh_reuse_grace: Duration,
}

/// Who is calling, as far as the transport can tell.
#[derive(Debug, Clone, Default)]
pub struct ClientInfo {
    /// The client's IP, for the per-IP attempt limits (not counted per IP
    /// when unknown).
    pub ip: Option<IpAddr>,
    /// The client's user agent, kept with its refresh tokens.
    pub device: Option<String>,
}

/// The tokens of a session: what sign-in and refresh hand out.
#[derive(Debug, Clone)]
pub struct TokenPair {
    /// A signed JWT for `Authorization: Bearer`, good for the configured
    /// access-token lifetime.
    pub access_token: String,
    /// An opaque token (128 hex characters) good for one refresh; only its
    /// hash is stored.
    pub refresh_token: String,
}

/// A user who just signed in (or up): a new session and who they are.
#[derive(Debug, Clone)]
pub struct SignedIn {
    /// The new session's tokens.
    pub tokens: TokenPair,
    /// The user's id.
    pub user_id: Uuid,
    /// The account's e-mail, normalised (lower-cased).
    pub email: String,
    /// The user's name, if they gave one.
    pub name: Option<String>,
}

/// A verified, unrevoked access token of an active user.
#[derive(Debug, Clone)]
pub struct Authenticated {
    /// Who is calling.
    pub user_id: UserId,
    /// The token's claims (its `jti` and session `fam` are what logout and
    /// deletion revoke).
    pub claims: AccessClaims,
}

/// The account use cases. Cheap to clone (one shared state); build one per
/// process with [`Accounts::new`].
#[derive(Clone)]
pub struct Accounts {
    inner: Arc<Inner>,
}

struct Inner {
    pg: PgPool,
    redis: RedisStore,
    access: AccessTokens,
    refresh_ttl: Duration,
    reset_ttl: Duration,
    reset_url: String,
    limits: AuthLimits,
    mailer: Arc<dyn Mailer>,
    agents: Arc<dyn AgentLifecycle>,
    /// Keys the HMAC of e-mailed codes.
    code_key: SecretString,
    login_code_ttl: Duration,
    review_account: Option<ReviewAccount>,
    apple: Option<AppleKeys>,
    refresh_reuse_grace: Duration,
    clock: SharedClock,
    passwords: PasswordHashing,
    deletion: DeletionTokens,
    cache: AccessCache,
}

const MAX_DEVICE_CHARS: usize = 200;

enum RefreshOutcome {
    Rotated(TokenPair, UserId),
    Rejected(&'static str),
    Reused,
    Suspended,
}

impl Accounts {
    /// Accounts over the given storage. `mailer` sends reset links and
    /// codes; `agents` places a new account's agent and pre-wakes it on
    /// refresh; `clock` decides the expiry of refresh tokens, reset links,
    /// codes and deletion tokens (access tokens use the system clock);
    /// `cache` is the process's [`AccessCache`], evicted on this replica's
    /// own changes.
    pub fn new(
        pg: PgPool,
        redis: RedisStore,
        config: AccountsConfig,
        mailer: Arc<dyn Mailer>,
        agents: Arc<dyn AgentLifecycle>,
        clock: SharedClock,
        cache: AccessCache,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                cache,
                refresh_reuse_grace: config.refresh_reuse_grace,
                passwords: config.password_hashing,
                deletion: DeletionTokens::new(&config.jwt_secret, config.deletion_token_ttl),
                clock,
                access: AccessTokens::new(&config.jwt_secret, config.access_token_ttl),
                code_key: config.jwt_secret.clone(),
                login_code_ttl: config.login_code_ttl,
                review_account: config.review_account,
                apple: config.apple,
                refresh_ttl: config.refresh_token_ttl,
                reset_ttl: config.password_reset_ttl,
                reset_url: config.password_reset_url,
                limits: config.limits,
                pg,
                redis,
                mailer,
                agents,
            }),
        }
    }

    /// Creates an account with a password and signs it in.
    ///
    /// The e-mail is normalised, the password must follow the rules of
    /// [`heyclaw_domain::check_new_password`], and the name (optional) those
    /// of [`heyclaw_domain::clean_name`]. User, free subscription and
    /// assistant row are created in one transaction; then the agent is
    /// placed on a shard — awaited, but a failure there is only logged: the
    /// account stands and the agent is placed at its first turn. Sign-up
    /// itself is not attempt-limited here.
    ///
    /// # Errors
    ///
    /// [`AppError::Invalid`] for a bad e-mail, password or name;
    /// [`AppError::EmailTaken`] when the address has an account (in any
    /// case), even if two sign-ups race; [`AppError::Busy`] when password
    /// hashing is saturated; [`AppError::Storage`].
    pub async fn signup(
        &self,
        email: &str,
        password: SecretString,
        name: Option<&str>,
        client: &ClientInfo,
    ) -> Result<SignedIn, AppError> {
        let email = parse_email(email)?;
        check_new_password(password.expose_secret())
            .map_err(|err| AppError::invalid(err.to_string()))?;
        let name = clean_name(name).map_err(|err| AppError::invalid(err.to_string()))?;
        let hash = self.inner.passwords.hash(password).await?;
        let mut conn = self.inner.pg.get().await.map_err(PersistenceError::from)?;
        let new_user = NewUser {
            email: email.as_str(),
            name: name.as_deref(),
            password_hash: Some(&hash),
            apple_sub: None,
        };
        let user = accounts::create_account(&mut conn, &new_user)
            .await
            .map_err(email_taken)?;
        let tokens = self
            .start_session(&mut conn, &user, Uuid::new_v4(), None, client)
            .await?;
        drop(conn);
        tracing::info!(user_id = %user.id, "account created");
        self.provision_agent(&user).await;
        Ok(signed_in(user, tokens))
    }

    /// Signs in with e-mail and password, starting a new session (other
    /// sessions are untouched).
    ///
    /// Every attempt counts against the login limits of the address and the
    /// IP before the password is checked. An unknown address costs the same
    /// hashing work as a wrong password, and both answer the same. A
    /// success clears the address's failed attempts (and its own from the
    /// IP's count), and replaces a legacy bcrypt hash by argon2id (best
    /// effort, awaited).
    ///
    /// # Errors
    ///
    /// [`AppError::Invalid`] for a malformed e-mail or an empty password;
    /// [`AppError::RateLimited`] past a login limit;
    /// [`AppError::InvalidCredentials`] for an unknown address or a wrong
    /// password; [`AppError::Suspended`] for a suspended account (only once
    /// the password matched); [`AppError::Busy`] when password hashing is
    /// saturated; [`AppError::Storage`].
    pub async fn login(
        &self,
        email: &str,
        password: SecretString,
        client: &ClientInfo,
    ) -> Result<SignedIn, AppError> {
        let email = parse_email(email)?;
        if password.expose_secret().is_empty() {
            return Err(AppError::invalid("Password is required"));
        }
        let keys = self.count_login_attempt("login", &email, client).await?;

        let user = {
            let mut conn = self.inner.pg.get().await.map_err(PersistenceError::from)?;
            accounts::find_by_email(&mut conn, email.as_str()).await?
        };
        let stored_hash = user.as_ref().and_then(|u| u.password_hash.clone());
        let legacy = stored_hash
            .as_deref()
            .is_some_and(passwords::is_legacy_hash);
        // An implausible password is never hashed: it could not match.
        let matches = is_plausible_password(password.expose_secret())
            && self
                .inner
                .passwords
                .verify(password.clone(), stored_hash)
                .await?;
        let Some(user) = user.filter(|_| matches) else {
            return Err(AppError::InvalidCredentials);
        };
        if !user.is_active() {
            return Err(AppError::Suspended);
        }
        if legacy {
            self.upgrade_legacy_hash(&user, password).await;
        }
        // The failures before this success no longer count against the account.
        self.inner.redis.reset_attempts(&keys.account).await?;
        if let Some(ip_key) = &keys.ip {
            self.inner.redis.uncount_attempt(ip_key).await?;
        }
        let mut conn = self.inner.pg.get().await.map_err(PersistenceError::from)?;
        let tokens = self
            .start_session(&mut conn, &user, Uuid::new_v4(), None, client)
            .await?;
        Ok(signed_in(user, tokens))
    }

    /// Rotates a refresh token. Presenting one that was already used means
    /// it leaked (or was replayed) and its whole family is revoked — except
    /// within the reuse grace window: a client that refreshes from several
    /// requests at once presents the token it just rotated again, and gets a
    /// fresh pair of the same family. A token whose successor has been used
    /// in turn is never inside the window.
    ///
    /// The token row is locked while it is rotated, so concurrent refreshes
    /// with one token are serialised. Times come from the injected clock;
    /// the grace window is measured from the token's first rotation. A
    /// success also starts waking the user's agent in the background (the
    /// app just opened).
    ///
    /// # Errors
    ///
    /// [`AppError::Invalid`] for an empty token; [`AppError::Unauthorized`]
    /// for an unknown, revoked or expired token, or a reuse (the family is
    /// revoked then, and this replica's whole access cache is emptied);
    /// [`AppError::Suspended`] for a suspended account;
    /// [`AppError::Storage`].
    pub async fn refresh(
        &self,
        refresh_token: &str,
        client: &ClientInfo,
    ) -> Result<TokenPair, AppError> {
        if refresh_token.trim().is_empty() {
            return Err(AppError::invalid("Refresh token is required"));
        }
        let hash = hash_opaque_token(refresh_token.trim());
        let now = self.inner.clock.now();
        let grace = self.inner.refresh_reuse_grace;
        let mut conn = self.inner.pg.get().await.map_err(PersistenceError::from)?;
        let outcome = heyclaw_persistence::transaction::<_, AppError, _>(&mut conn, async |conn| {
            // The row lock serialises concurrent presentations of one token.
            let Some(token) = refresh_tokens::lock_by_hash(conn, &hash).await? else {
                return Ok(RefreshOutcome::Rejected("Invalid refresh token"));
            };
            if token.revoked_at.is_some() {
                return Ok(RefreshOutcome::Rejected("Refresh token revoked"));
            }
            if let Some(used_at) = token.used_at {
                // A rotation stamped ahead of our clock (another replica's)
                // counts as just now.
                let within_grace = !grace.is_zero()
                    && (now - used_at).to_std().ok().is_none_or(|age| age <= grace);
                if !within_grace || refresh_tokens::has_used_child(conn, token.id).await? {
                    refresh_tokens::revoke_family(conn, token.family_id).await?;
                    return Ok(RefreshOutcome::Reused);
                }
            }
            if token.expires_at <= now {
                return Ok(RefreshOutcome::Rejected("Refresh token expired"));
            }
            let Some(user) = accounts::find_by_id(conn, token.user_id).await? else {
                return Ok(RefreshOutcome::Rejected("Invalid refresh token"));
            };
            if !user.is_active() {
                return Ok(RefreshOutcome::Suspended);
            }
            if token.used_at.is_none() {
                // The window is measured from the first rotation only.
                refresh_tokens::mark_used(conn, token.id, now).await?;
            }
            let pair = self
                .start_session(conn, &user, token.family_id, Some(token.id), client)
                .await?;
            Ok(RefreshOutcome::Rotated(pair, UserId(user.id)))
        })
        .await?;
        match outcome {
            RefreshOutcome::Rotated(pair, user) => {
                // The app just opened: wake the agent before the first turn.
                self.inner.agents.prewake(user);
                Ok(pair)
            }
            RefreshOutcome::Rejected(message) => Err(AppError::Unauthorized(message)),
            RefreshOutcome::Suspended => Err(AppError::Suspended),
            RefreshOutcome::Reused => {
                self.inner.cache.evict_all();
                tracing::warn!("refresh token reuse detected; token family revoked");
                Err(AppError::Unauthorized(
                    "Refresh token already used. Please sign in again.",
                ))
            }
        }
    }

    /// Ends the login session of this access token: the token is revoked
    /// at once and its refresh-token family can no longer refresh. Other
    /// devices stay signed in.
    ///
    /// The family is revoked in Postgres, which authentication checks for
    /// every access token of the session: this replica's access cache
    /// forgets the user at once, the others when Postgres tells them
    /// (`NOTIFY`, milliseconds).
    ///
    /// # Errors
    ///
    /// [`AppError::Storage`] when Postgres fails.
    pub async fn logout(&self, auth: &Authenticated) -> Result<(), AppError> {
        let mut conn = self.inner.pg.get().await.map_err(PersistenceError::from)?;
        refresh_tokens::revoke_family(&mut conn, auth.claims.fam).await?;
        // This replica forgets at once; the others hear it from Postgres.
        self.inner.cache.evict(auth.user_id.0);
        Ok(())
    }

    /// Answers the same whether or not the address has an account: the
    /// lookup and the mail happen after the answer, in the background.
    ///
    /// An active account gets a mail with `<password_reset_url>?token=<token>`,
    /// valid for the reset lifetime; earlier links stay valid until one is
    /// used. Unknown and suspended addresses get nothing. Failures after
    /// the answer are only logged.
    ///
    /// # Errors
    ///
    /// [`AppError::Invalid`] for a malformed e-mail;
    /// [`AppError::RateLimited`] past the reset-request limits (counted
    /// whether or not the address has an account); [`AppError::Storage`]
    /// when Redis fails.
    pub async fn forgot_password(&self, email: &str, client: &ClientInfo) -> Result<(), AppError> {
        let email = parse_email(email)?;
        let limits = self.inner.limits;
        let keys = AttemptKeys::new("password-reset", email.as_str(), client.ip);
        limits::count(
            &self.inner.redis,
            &keys,
            limits.reset_per_account,
            limits.reset_per_ip,
            "Password reset request",
        )
        .await?;
        let this = self.clone();
        tokio::spawn(async move {
            if let Err(err) = this.send_reset_link(&email).await {
                tracing::error!(error = %err, "password reset mail failed");
            }
        });
        Ok(())
    }

    async fn send_reset_link(&self, email: &Email) -> Result<(), AppError> {
        let mut conn = self.inner.pg.get().await.map_err(PersistenceError::from)?;
        let Some(user) = accounts::find_by_email(&mut conn, email.as_str()).await? else {
            return Ok(());
        };
        if !user.is_active() {
            return Ok(());
        }
        let (token, hash) = new_opaque_token();
        password_resets::insert(
            &mut conn,
            &NewPasswordResetToken {
                user_id: user.id,
                token_hash: &hash,
                expires_at: self.inner.clock.now() + self.inner.reset_ttl,
            },
        )
        .await?;
        drop(conn);
        let minutes = self.inner.reset_ttl.as_secs() / 60;
        let mail = Mail {
            to: user.email.clone(),
            subject: "Reset your HeyClaw password".to_owned(),
            body: format!(
                "Hi{name},\n\nSomeone (hopefully you) asked to reset the password of your HeyClaw account.\n\
                 Open this link within {minutes} minutes to choose a new one:\n\n{url}?token={token}\n\n\
                 If you did not ask for this, ignore this mail: your password stays as it is.\n",
                name = user
                    .name
                    .as_deref()
                    .map(|n| format!(" {n}"))
                    .unwrap_or_default(),
                url = self.inner.reset_url,
            ),
        };
        self.inner
            .mailer
            .send(mail)
            .await
            .map_err(|err| AppError::Internal(err.to_string()))?;
        tracing::info!(user_id = %user.id, "password reset link sent");
        Ok(())
    }

    /// Sets a new password with a mailed token. The token is spent, every
    /// other reset link dies and every refresh token of the user is revoked,
    /// in one transaction.
    ///
    /// Every session of the user ends: their access tokens are refused from
    /// then on. The new password is checked and hashed before the token is
    /// looked at.
    ///
    /// # Errors
    ///
    /// [`AppError::Invalid`] for an empty token, a password that breaks the
    /// rules, or a token that is unknown, used or expired;
    /// [`AppError::Busy`] when password hashing is saturated;
    /// [`AppError::Storage`].
    pub async fn reset_password(
        &self,
        token: &str,
        new_password: SecretString,
    ) -> Result<(), AppError> {
        if token.trim().is_empty() {
            return Err(AppError::invalid("Reset token is required"));
        }
        check_new_password(new_password.expose_secret())
            .map_err(|err| AppError::invalid(err.to_string()))?;
        let hash = hash_opaque_token(token.trim());
        let password_hash = self.inner.passwords.hash(new_password).await?;
        let mut conn = self.inner.pg.get().await.map_err(PersistenceError::from)?;
        let now = self.inner.clock.now();
        let reset = heyclaw_persistence::transaction::<_, AppError, _>(&mut conn, async |conn| {
            let Some(user_id) = password_resets::consume(conn, &hash, now).await? else {
                return Ok(None);
            };
            accounts::set_password_hash(conn, user_id, &password_hash).await?;
            password_resets::consume_all_for_user(conn, user_id, now).await?;
            refresh_tokens::revoke_all_for_user(conn, user_id).await?;
            Ok(Some(user_id))
        })
        .await?;
        match reset {
            Some(user_id) => {
                self.inner.cache.evict(user_id);
                tracing::info!(%user_id, "password reset");
                Ok(())
            }
            None => Err(AppError::invalid("Invalid or expired reset token")),
        }
    }

    /// Checks a bearer token: signature, expiry, that its session (its
    /// refresh-token family) is live, and that its user still exists and is
    /// active.
    ///
    /// `bearer` is the token without its `Bearer ` prefix. The user's
    /// status and the session come through the [`AccessCache`] (a Postgres
    /// query on a miss), so a request needs no round trip here; Redis is
    /// not asked (revocation is the session's, in Postgres).
    ///
    /// # Errors
    ///
    /// [`AppError::Unauthorized`] with "Unauthorized" (no token), "Token
    /// expired", "Invalid token", "Token revoked" (logged out, or the
    /// session ended) or "Account no longer exists";
    /// [`AppError::Suspended`]; [`AppError::Storage`].
    pub async fn authenticate(&self, bearer: Option<&str>) -> Result<Authenticated, AppError> {
        let token = bearer.ok_or(AppError::Unauthorized("Unauthorized"))?;
        let claims = self
            .inner
            .access
            .verify(token)
            .map_err(|problem| match problem {
                TokenProblem::Expired => AppError::Unauthorized("Token expired"),
                TokenProblem::Invalid => AppError::Unauthorized("Invalid token"),
            })?;
        let found = self
            .inner
            .cache
            .session(claims.sub, claims.fam, async {
                let mut conn = self.inner.pg.get().await.map_err(PersistenceError::from)?;
                accounts::session_status(&mut conn, claims.sub, claims.fam).await
            })
            .await?;
        match found {
            None => Err(AppError::Unauthorized("Account no longer exists")),
            Some((_, false)) => Err(AppError::Unauthorized("Token revoked")),
            Some((status, true)) if status == USER_ACTIVE => Ok(Authenticated {
                user_id: UserId(claims.sub),
                claims,
            }),
            Some(_) => Err(AppError::Suspended),
        }
    }

    /// Deletes the account and everything it owns (every table cascades
    /// from `users`, the archived workspace included); the slot the agent
    /// was in is emptied by its shard's keeper. Every token of the account
    /// then fails authentication because the user is gone. Not reversible.
    ///
    /// # Errors
    ///
    /// [`AppError::NotFound`] if the user is already gone;
    /// [`AppError::Storage`].
    pub async fn delete_account(&self, auth: &Authenticated) -> Result<(), AppError> {
        self.delete_user(auth.user_id).await
    }

    /// Counts a sign-in try of kind `action` against the login limits (per
    /// address and per IP) and returns its counter keys, for clearing them
    /// on success.
    ///
    /// # Errors
    ///
    /// [`AppError::RateLimited`] past a limit; [`AppError::Storage`].
    pub(crate) async fn count_login_attempt(
        &self,
        action: &str,
        email: &Email,
        client: &ClientInfo,
    ) -> Result<AttemptKeys, AppError> {
        let limits = self.inner.limits;
        let keys = AttemptKeys::new(action, email.as_str(), client.ip);
        limits::count(
            &self.inner.redis,
            &keys,
            limits.login_per_account,
            limits.login_per_ip,
            "Login attempt",
        )
        .await?;
        Ok(keys)
    }

    /// Deletes a user's rows: every table cascades from `users`, including
    /// the archived workspace; a slot the user was in is emptied by its
    /// keeper.
    async fn delete_user(&self, user: UserId) -> Result<(), AppError> {
        let mut conn = self.inner.pg.get().await.map_err(PersistenceError::from)?;
        if !accounts::delete_user(&mut conn, user.0).await? {
            return Err(AppError::NotFound("User not found"));
        }
        drop(conn);
        self.inner.cache.evict(user.0);
        tracing::info!(user_id = %user, "account deleted");
        Ok(())
    }

    async fn start_session(
        &self,
        conn: &mut AsyncPgConnection,
        user: &User,
        family: Uuid,
        parent: Option<Uuid>,
        client: &ClientInfo,
    ) -> Result<TokenPair, AppError> {
        let (refresh_token, hash) = new_opaque_token();
        let device: Option<String> = client.device.as_deref().map(|d| {
            d.chars()
                .filter(|c| !c.is_control())
                .take(MAX_DEVICE_CHARS)
                .collect()
        });
        refresh_tokens::insert(
            conn,
            &NewRefreshToken {
                user_id: user.id,
                token_hash: &hash,
                family_id: family,
                parent_id: parent,
                device: device.as_deref(),
                expires_at: self.inner.clock.now() + self.inner.refresh_ttl,
            },
        )
        .await?;
        Ok(TokenPair {
            access_token: self.inner.access.issue(user.id, &user.email, family)?,
            refresh_token,
        })
    }

    /// Replaces an imported bcrypt hash by argon2id after a successful login
    /// with it. Best effort: the login stands either way.
    async fn upgrade_legacy_hash(&self, user: &User, password: SecretString) {
        let upgraded = async {
            let hash = self.inner.passwords.hash(password).await?;
            let mut conn = self.inner.pg.get().await.map_err(PersistenceError::from)?;
            accounts::set_password_hash(&mut conn, user.id, &hash).await?;
            Ok::<_, AppError>(())
        };
        match upgraded.await {
            Ok(()) => {
                tracing::info!(user_id = %user.id, "legacy password hash replaced by argon2id")
            }
            Err(err) => {
                tracing::warn!(user_id = %user.id, error = %err, "legacy password hash kept for now");
            }
        }
    }

    async fn provision_agent(&self, user: &User) {
        if let Err(err) = self.inner.agents.provision(UserId(user.id)).await {
            // The account stands; the agent is provisioned again later.
            tracing::warn!(user_id = %user.id, error = %err, "agent provisioning failed; will retry");
        }
    }
}

impl Accounts {
    /// Starts a session for an active user (`created`: the account was made now).
    async fn start_signed_in(
        &self,
        user: User,
        created: bool,
        client: &ClientInfo,
    ) -> Result<(SignedIn, bool), AppError> {
        if !user.is_active() {
            return Err(AppError::Suspended);
        }
        let mut conn = self.inner.pg.get().await.map_err(PersistenceError::from)?;
        let tokens = self
            .start_session(&mut conn, &user, Uuid::new_v4(), None, client)
            .await?;
        Ok((signed_in(user, tokens), created))
    }
}

/// A unique violation on creating an account is a taken address.
fn email_taken(err: PersistenceError) -> AppError {
    if err.is_unique_violation() {
        AppError::EmailTaken
    } else {
        err.into()
    }
}

fn parse_email(raw: &str) -> Result<Email, AppError> {
    Email::parse(raw).map_err(|err| AppError::invalid(err.to_string()))
}

fn signed_in(user: User, tokens: TokenPair) -> SignedIn {
    SignedIn {
        tokens,
        user_id: user.id,
        email: user.email,
        name: user.name,
    }
}
