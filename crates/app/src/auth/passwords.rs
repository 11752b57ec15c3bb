//! argon2id password hashing, off the async workers: a hash takes tens of
//! milliseconds of CPU.
//!
//! Each hash also holds ~19 MiB (argon2id's memory cost) while it runs, so a
//! flood of logins must not run them all at once: [`PasswordHashing`] lets
//! a few run (about one per core) and queues the rest; one that waits too
//! long is refused as busy (503 with `Retry-After`), never run late. They
//! run on threads of their own, as many as may hash at once: the allocator
//! keeps a freed 19 MiB block in the arena of the thread that used it, so
//! hashing on the runtime's large blocking pool would leave one such block
//! behind on every thread a storm ever touched (measured: 0.9 GiB resident
//! after 500 logins with two at a time, against 0.14 GiB at rest).

use std::{
    sync::{Arc, LazyLock, Mutex, mpsc},
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

type Job = Box<dyn FnOnce() + Send>;

/// Bounds how many hashes run at once and how long a caller queues.
///
/// Clones share the threads and the queue; the threads end when the last
/// clone is dropped.
///
/// ```
/// use std::time::Duration;
///
/// use heyclaw_app::auth::passwords::PasswordHashing;
/// use secrecy::SecretString;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), heyclaw_app::AppError> {
/// let hashing = PasswordHashing::new(1, Duration::from_secs(5));
/// let hash = hashing.hash(SecretString::from("correct horse battery")).await?;
/// assert!(hash.starts_with("$argon2id$"));
/// assert!(hashing.verify(SecretString::from("correct horse battery"), Some(hash)).await?);
/// // No stored hash: the same work, and the answer is no.
/// assert!(!hashing.verify(SecretString::from("anything"), None).await?);
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct PasswordHashing {
    permits: Arc<tokio::sync::Semaphore>,
    queue_timeout: Duration,
    /// The hashing threads' queue; they end when the last clone is dropped.
    jobs: mpsc::Sender<Job>,
}

impl PasswordHashing {
    /// At most `concurrency` hashes at once (at least one), on as many
    /// threads of their own; a caller waits up to `queue_timeout` for its
    /// turn.
    pub fn new(concurrency: usize, queue_timeout: Duration) -> Self {
        let concurrency = concurrency.max(1);
        let (jobs, queue) = mpsc::channel::<Job>();
        let queue = Arc::new(Mutex::new(queue));
        for index in 0..concurrency {
            let queue = Arc::clone(&queue);
            let spawned = std::thread::Builder::new()
                .name(format!("password-hash-{index}"))
                .spawn(move || {
                    loop {
                        let next = queue
                            .lock()
                            .map_err(|_| ())
                            .and_then(|q| q.recv().map_err(|_| ()));
                        match next {
                            Ok(job) => job(),
                            Err(()) => return,
                        }
                    }
                });
            if let Err(err) = spawned {
                tracing::error!(error = %err, "could not start a password hashing thread");
            }
        }
        Self {
            permits: Arc::new(tokio::sync::Semaphore::new(concurrency)),
            queue_timeout,
            jobs,
        }
    }

    /// Hashes a new password: an argon2id PHC string (`$argon2id$…`) with a
    /// fresh random salt, so hashing one password twice gives two different
    /// strings. Waits for a free hashing slot first.
    ///
    /// # Errors
    /// [`AppError::Busy`] (retry after 5 s) when no slot frees up within
    /// the queue timeout; [`AppError::Internal`] if hashing itself fails or
    /// the hashing threads are gone.
    pub async fn hash(&self, password: SecretString) -> Result<String, AppError> {
        let _permit = self.turn().await?;
        self.run(move || hash_now(&password)).await?
    }

    /// Checks a password against a stored hash: argon2id, or a legacy bcrypt
    /// hash; with none, the work is still done (against a dummy hash, so an
    /// unknown account costs the same time) and the answer is false. A
    /// stored hash that cannot be parsed is simply no match.
    ///
    /// # Errors
    /// [`AppError::Busy`] (retry after 5 s) when no slot frees up within
    /// the queue timeout; [`AppError::Internal`] if the hashing threads are
    /// gone.
    pub async fn verify(
        &self,
        password: SecretString,
        stored: Option<String>,
    ) -> Result<bool, AppError> {
        let _permit = self.turn().await?;
        self.run(move || verify_now(&password, stored)).await
    }

    /// Runs `work` on a hashing thread (the caller holds a permit, so one is
    /// free).
    async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, AppError> {
        let (done, result) = tokio::sync::oneshot::channel();
        self.jobs
            .send(Box::new(move || {
                let _ = done.send(work());
            }))
            .map_err(|_| AppError::Internal("password hashing threads are gone".to_owned()))?;
        result
            .await
            .map_err(|_| AppError::Internal("a password hashing job was lost".to_owned()))
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

/// An argon2id hash of `password` (blocking: tens of milliseconds).
fn hash_now(password: &SecretString) -> Result<String, AppError> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.expose_secret().as_bytes(), &salt)
        .map(|hash| hash.to_string())
        .map_err(|err| AppError::Internal(format!("password hashing failed: {err}")))
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
/// the answer is false. Blocking.
fn verify_now(password: &SecretString, stored: Option<String>) -> bool {
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

    fn hashing() -> PasswordHashing {
        PasswordHashing::new(2, Duration::from_secs(10))
    }

    #[tokio::test]
    async fn legacy_bcrypt_hashes_verify() {
        let hashing = hashing();
        let legacy = bcrypt::hash("correct horse", 4).unwrap();
        assert!(is_legacy_hash(&legacy));
        assert!(
            hashing
                .verify(SecretString::from("correct horse"), Some(legacy.clone()))
                .await
                .unwrap()
        );
        assert!(
            !hashing
                .verify(SecretString::from("wrong horse"), Some(legacy))
                .await
                .unwrap()
        );
        assert!(!is_legacy_hash("otp-auth"));
    }

    #[tokio::test]
    async fn hashes_verify_and_differ_by_salt() {
        let hashing = hashing();
        let first = hashing
            .hash(SecretString::from("correct horse"))
            .await
            .unwrap();
        let second = hashing
            .hash(SecretString::from("correct horse"))
            .await
            .unwrap();
        assert_ne!(first, second);
        assert!(first.starts_with("$argon2id$"));
        assert!(
            hashing
                .verify(SecretString::from("correct horse"), Some(first.clone()))
                .await
                .unwrap()
        );
        assert!(
            !hashing
                .verify(SecretString::from("wrong horse"), Some(first))
                .await
                .unwrap()
        );
        assert!(
            !hashing
                .verify(SecretString::from("heyclaw-timing-equaliser"), None)
                .await
                .unwrap()
        );
    }

    #[tokio::test]
    async fn hashing_runs_on_its_own_threads() {
        let hashing = hashing();
        let name = hashing
            .run(|| std::thread::current().name().map(str::to_owned))
            .await
            .unwrap();
        assert!(
            name.is_some_and(|name| name.starts_with("password-hash-")),
            "not on the runtime's blocking pool"
        );
    }
}
