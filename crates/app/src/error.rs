use std::time::Duration;

use heyclaw_persistence::PersistenceError;

/// Why a use case did not succeed. Messages are written for the person using
/// the app: the mobile client shows them as they are.
///
/// `heyclaw-http` maps each variant to a status and a stable machine code in
/// one place (`ApiError`); the statuses below are what it answers today.
/// [`AppError::Storage`] and [`AppError::Internal`] carry details that must
/// not reach a client: they are logged there, and the client gets a generic
/// message.
///
/// ```
/// use heyclaw_app::AppError;
///
/// let err = AppError::invalid("Message text is required");
/// assert_eq!(err.to_string(), "Message text is required");
/// assert!(matches!(err, AppError::Invalid(_)));
/// ```
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// The input cannot be accepted; the message says why (400). Also a
    /// wrong, expired or spent e-mailed code or reset token, and a purchase
    /// the App Store does not confirm.
    #[error("{0}")]
    Invalid(String),
    /// Sign-up (or Sign in with Apple with an unverified address) named an
    /// e-mail that already has an account, whatever its case (409).
    #[error("Email already registered")]
    EmailTaken,
    /// Log-in with an unknown e-mail or a wrong password; the two are not
    /// told apart (401).
    #[error("Invalid email or password")]
    InvalidCredentials,
    /// The account exists but is suspended: no log-in, refresh or
    /// authenticated request (403).
    #[error("Account is suspended")]
    Suspended,
    /// Missing, malformed, expired or revoked credentials; the message says
    /// which (401).
    #[error("{0}")]
    Unauthorized(&'static str),
    /// Too many attempts, or a daily quota is used up; the message contains
    /// the word "limit" (the mobile client looks for it) (429).
    #[error("{message}")]
    RateLimited {
        /// What was refused and when to try again, for the user.
        message: String,
        /// When trying again can succeed: the attempt window's end, or the
        /// next UTC midnight for a daily quota (the `Retry-After` header).
        retry_after: Duration,
    },
    /// The thing asked for does not exist, or belongs to someone else —
    /// the two answer the same (404).
    #[error("{0}")]
    NotFound(&'static str),
    /// PostgreSQL or Redis failed; `heyclaw-http` maps the cause (a pool
    /// wait timeout or an unreachable database is a 503, anything else a
    /// 500 whose body carries no details).
    #[error(transparent)]
    Storage(#[from] PersistenceError),
    /// A service the use case needs is down, busy or not configured: the
    /// user's gateway shard (or every slot on it is leased, or the agent is
    /// still waking), text to speech or speech to text, or Sign in with
    /// Apple's keys. The message says which; try again later (503).
    #[error("{0}")]
    Unavailable(String),
    /// The gateway did not answer in time (a turn that times out is not
    /// charged). Text to speech and speech to text timing out are reported
    /// with this variant too (504).
    #[error("Your assistant took too long to answer. Please try again.")]
    GatewayTimeout,
    /// The gateway (or the model behind it) failed, or refused our token
    /// (502).
    #[error("Your assistant could not answer right now. Please try again.")]
    GatewayFailed,
    /// The request conflicts with the current state: a purchase that
    /// belongs to another account, or an automation past the plan's cap
    /// (409).
    #[error("{0}")]
    Conflict(String),
    /// The App Store (or our billing setup) cannot verify purchases now
    /// (503).
    #[error("{0}")]
    BillingUnavailable(String),
    /// Too much work queued (e.g. a login storm waiting for password
    /// hashing); try again shortly (503 with `Retry-After`).
    #[error("The service is busy, please try again shortly")]
    Busy {
        /// How long the client should wait before trying again.
        retry_after: Duration,
    },
    /// A bug or an impossible state; details go to the log, not the client
    /// (500).
    #[error("internal error: {0}")]
    Internal(String),
}

impl AppError {
    /// An [`AppError::Invalid`] with `message`, shown to the user as it is.
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::Invalid(message.into())
    }
}
