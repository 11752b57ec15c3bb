//! argon2id password hashing, always on the blocking pool: a hash takes tens
//! of milliseconds of CPU and must not stall the async workers.
//!
//! Each hash also holds ~19 MiB (argon2id's memory cost) while it runs, so a
//! flood of logins must not run them all at once: [`PasswordHashing`] lets
//! a few run (about one per core) and queues the rest; one that waits too
//! long is refused as busy (503 with `Retry-After`), never run late.

use std::{
    sync::{Arc, LazyLock},
    time::Duration,
};

use argon2::{
    Argon2,
    password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString, rand_core::OsRng},
};
use secrecy::{ExposeSecret, SecretString};

use crate::AppError;

/// Verified against when the account does not exist or has no password, so
/// an unknown e-mail costs the same time as a wrong password.
static DUMMY_HASH: LazyLock<Option<String>> = LazyLock::new(|| {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(b"heyclaw-timing-equaliser", &salt)
        .ok()
        .map(|hash| hash.to_string())
});

/// Bounds how many hashes run at once and how long a caller queues.
#[derive(Clone)]
pub struct PasswordHashing {
    permits: Arc<tokio::sync::Semaphore>,
    queue_timeout: Duration,
}

impl PasswordHashing {
    /// At most `concurrency` hashes at once (at least one); a caller waits up
    /// to `queue_timeout` for its turn.
    pub fn new(concurrency: usize, queue_timeout: Duration) -> Self {
        Self {
            permits: Arc::new(tokio::sync::Semaphore::new(concurrency.max(1))),
            queue_timeout,
        }
    }

    /// Hashes a new password.
    ///
    /// # Errors
    /// [`AppError::Busy`] when no slot frees up within the queue timeout.
    pub async fn hash(&self, password: SecretString) -> Result<String, AppError> {
        let _permit = self.turn().await?;
        hash(password).await
    }

    /// Checks a password against a stored hash (see [`verify`]).
    ///
    /// # Errors
    /// [`AppError::Busy`] when no slot frees up within the queue timeout.
    pub async fn verify(
        &self,
        password: SecretString,
        stored: Option<String>,
    ) -> Result<bool, AppError> {
        let _permit = self.turn().await?;
        verify(password, stored).await
    }

    async fn turn(&self) -> Result<tokio::sync::SemaphorePermit<'_>, AppError> {
        match tokio::time::timeout(self.queue_timeout, self.permits.acquire()).await {
            Ok(Ok(permit)) => Ok(permit),
            Ok(Err(_closed)) => Err(AppError::Internal("password hashing closed".to_owned())),
            Err(_elapsed) => {
                tracing::warn!("password hashing queue full; request refused as busy");
                Err(AppError::Busy {
                    retry_after: Duration::from_secs(5),
                })
            }
        }
    }
}

pub async fn hash(password: SecretString) -> Result<String, AppError> {
    tokio::task::spawn_blocking(move || {
        let salt = SaltString::generate(&mut OsRng);
        Argon2::default()
            .hash_password(password.expose_secret().as_bytes(), &salt)
            .map(|hash| hash.to_string())
            .map_err(|err| AppError::Internal(format!("password hashing failed: {err}")))
    })
    .await
    .map_err(|err| AppError::Internal(format!("password hashing task failed: {err}")))?
}

/// Whether a stored hash is bcrypt (`$2a$`, `$2b$`, `$2y$`): accounts taken
/// over from the original server. They verify, and are replaced by argon2id
/// at the first successful login.
pub fn is_legacy_hash(stored: &str) -> bool {
    ["$2a$", "$2b$", "$2y$"]
        .iter()
        .any(|prefix| stored.starts_with(prefix))
}

/// True when `password` matches `stored` (argon2id, or a legacy bcrypt
/// hash). With no stored hash the work of a verification is still done, and
/// the answer is false.
pub async fn verify(password: SecretString, stored: Option<String>) -> Result<bool, AppError> {
    tokio::task::spawn_blocking(move || {
        let (stored, real) = match stored {
            Some(stored) => (stored, true),
            None => (DUMMY_HASH.clone().unwrap_or_default(), false),
        };
        if is_legacy_hash(&stored) {
            return bcrypt::verify(password.expose_secret(), &stored).unwrap_or(false);
        }
        let Ok(parsed) = PasswordHash::new(&stored) else {
            return false;
        };
        let matches = Argon2::default()
            .verify_password(password.expose_secret().as_bytes(), &parsed)
            .is_ok();
        real && matches
    })
    .await
    .map_err(|err| AppError::Internal(format!("password verification task failed: {err}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_caller_that_cannot_get_a_slot_in_time_is_told_busy() {
        let hashing = PasswordHashing::new(1, Duration::from_millis(50));
        let held = hashing.turn().await.unwrap();
        let refused = hashing.hash(SecretString::from("correct horse")).await;
        assert!(matches!(refused, Err(AppError::Busy { .. })), "{refused:?}");
        drop(held);
        assert!(
            hashing
                .hash(SecretString::from("correct horse"))
                .await
                .is_ok()
        );
    }

    #[tokio::test]
    async fn legacy_bcrypt_hashes_verify() {
        let legacy = bcrypt::hash("correct horse", 4).unwrap();
        assert!(is_legacy_hash(&legacy));
        assert!(
            verify(SecretString::from("correct horse"), Some(legacy.clone()))
                .await
                .unwrap()
        );
        assert!(
            !verify(SecretString::from("wrong horse"), Some(legacy))
                .await
                .unwrap()
        );
        assert!(!is_legacy_hash("otp-auth"));
    }

    #[tokio::test]
    async fn hashes_verify_and_differ_by_salt() {
        let first = hash(SecretString::from("correct horse")).await.unwrap();
        let second = hash(SecretString::from("correct horse")).await.unwrap();
        assert_ne!(first, second);
        assert!(first.starts_with("$argon2id$"));
        assert!(
            verify(SecretString::from("correct horse"), Some(first.clone()))
                .await
                .unwrap()
        );
        assert!(
            !verify(SecretString::from("wrong horse"), Some(first))
                .await
                .unwrap()
        );
        assert!(
            !verify(SecretString::from("heyclaw-timing-equaliser"), None)
                .await
                .unwrap()
        );
    }
}
