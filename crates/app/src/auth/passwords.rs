//! argon2id password hashing, always on the blocking pool: a hash takes tens
//! of milliseconds of CPU and must not stall the async workers.

use std::sync::LazyLock;

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

/// True when `password` matches `stored`. With no stored hash the work of a
/// verification is still done, and the answer is false.
pub async fn verify(password: SecretString, stored: Option<String>) -> Result<bool, AppError> {
    tokio::task::spawn_blocking(move || {
        let (stored, real) = match stored {
            Some(stored) => (stored, true),
            None => (DUMMY_HASH.clone().unwrap_or_default(), false),
        };
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
