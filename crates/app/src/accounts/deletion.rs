//! Deleting an account from the web (App Store rule 5.1.1(v): deletion must
//! be reachable outside the app): an e-mailed code proves the address, and
//! buys a short-lived token good for deleting that account only.
//!
//! `request_deletion` answers the same whether or not the address has an
//! account; the lookup and the mail happen after the answer. Codes follow
//! the sign-in codes' rules (keyed hash, lifetime, single use, five tries,
//! limits per address and IP) but only work for deletion.

use heyclaw_domain::{Email, UserId};
use heyclaw_persistence::{
    PersistenceError,
    queries::{accounts, login_codes::PURPOSE_DELETE},
};

use super::{Accounts, ClientInfo, parse_email};
use crate::{
    AppError,
    auth::{
        limits::{self, AttemptKeys},
        tokens::TokenProblem,
    },
    mail::Mail,
};

impl Accounts {
    /// Mails a deletion code if the address has an account, and answers the
    /// same either way: the lookup, the code and the mail happen in the
    /// background after the answer (failures there are only logged). A new
    /// code retires the address's earlier deletion code; sign-in codes are
    /// not affected.
    ///
    /// # Errors
    ///
    /// [`AppError::Invalid`] for a missing or malformed e-mail;
    /// [`AppError::RateLimited`] past the code-request limits of the
    /// address or the IP (counted whether or not it has an account);
    /// [`AppError::Storage`] when Redis fails.
    pub async fn request_deletion(&self, email: &str, client: &ClientInfo) -> Result<(), AppError> {
        if email.trim().is_empty() {
            return Err(AppError::invalid("Email is required"));
        }
        let email = parse_email(email)?;
        let limits = self.inner.limits;
        let keys = AttemptKeys::new("delete-code", email.as_str(), client.ip);
        limits::count(
            &self.inner.redis,
            &keys,
            limits.code_per_account,
            limits.code_per_ip,
            "Code request",
        )
        .await?;
        let this = self.clone();
        tokio::spawn(async move {
            if let Err(err) = this.send_deletion_code(&email).await {
                tracing::error!(error = %err, "account deletion code mail failed");
            }
        });
        Ok(())
    }

    async fn send_deletion_code(&self, email: &Email) -> Result<(), AppError> {
        let exists = {
            let mut conn = self.inner.pg.get().await.map_err(PersistenceError::from)?;
            accounts::find_by_email(&mut conn, email.as_str())
                .await?
                .is_some()
        };
        if !exists {
            return Ok(());
        }
        let code = self.new_code(email, PURPOSE_DELETE).await?;
        let minutes = self.inner.login_code_ttl.as_secs().div_ceil(60);
        self.inner
            .mailer
            .send(Mail {
                to: email.as_str().to_owned(),
                subject: format!("Your HeyClaw account deletion code: {code}"),
                body: format!(
                    "Someone (hopefully you) asked to delete the HeyClaw account of this address.\n\n\
                     The code is {code}. It works once, for {minutes} minutes.\n\n\
                     Deleting the account removes your assistant, its memory and your chats for good. \
                     If you did not ask for this, ignore this mail: nothing happens without the code.\n"
                ),
            })
            .await
            .map_err(|err| AppError::Internal(err.to_string()))?;
        tracing::info!("account deletion code sent");
        Ok(())
    }

    /// Spends a deletion code and returns a token that can delete that
    /// account (and nothing else) for a short while (the configured
    /// deletion-token lifetime, by the injected clock). Nothing is deleted
    /// yet: see [`Accounts::confirm_deletion`].
    ///
    /// # Errors
    ///
    /// [`AppError::Invalid`] for a missing e-mail or code, a malformed
    /// e-mail, a wrong, spent or expired code (a code dies after
    /// [`super::MAX_CODE_ATTEMPTS`] wrong tries), or an account gone since
    /// the code was sent; [`AppError::Storage`]; [`AppError::Internal`] if
    /// the token cannot be signed.
    pub async fn verify_deletion_code(&self, email: &str, code: &str) -> Result<String, AppError> {
        if email.trim().is_empty() || code.trim().is_empty() {
            return Err(AppError::invalid("Email and code are required"));
        }
        let email = parse_email(email)?;
        self.spend_code(&email, PURPOSE_DELETE, code.trim()).await?;
        let user = {
            let mut conn = self.inner.pg.get().await.map_err(PersistenceError::from)?;
            accounts::find_by_email(&mut conn, email.as_str())
                .await?
                .ok_or_else(|| AppError::invalid("Invalid code"))?
        };
        self.inner.deletion.issue(user.id, self.inner.clock.now())
    }

    /// Deletes the account a deletion token names, exactly as the app's own
    /// `DELETE /user/me` does. A used token finds no account: 401.
    ///
    /// `bearer` is the deletion token from [`Accounts::verify_deletion_code`];
    /// an access token is refused.
    ///
    /// # Errors
    ///
    /// [`AppError::Unauthorized`] for no token, an invalid one, an expired
    /// one ("This link has expired. Please start again.") or an account that
    /// no longer exists; [`AppError::Storage`].
    pub async fn confirm_deletion(&self, bearer: Option<&str>) -> Result<(), AppError> {
        let token = bearer.ok_or(AppError::Unauthorized("Unauthorized"))?;
        let claims = self
            .inner
            .deletion
            .verify(token, self.inner.clock.now())
            .map_err(|problem| match problem {
                TokenProblem::Expired => {
                    AppError::Unauthorized("This link has expired. Please start again.")
                }
                TokenProblem::Invalid => AppError::Unauthorized("Invalid token"),
            })?;
        match self.delete_user(UserId(claims.sub)).await {
            Err(AppError::NotFound(_)) => {
                Err(AppError::Unauthorized("This account no longer exists"))
            }
            other => other,
        }
    }
}
