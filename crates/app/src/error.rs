use std::time::Duration;

use heyclaw_persistence::PersistenceError;

/// Why a use case did not succeed. Messages are written for the person using
/// the app: the mobile client shows them as they are.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// The input cannot be accepted; the message says why.
    #[error("{0}")]
    Invalid(String),
    #[error("Email already registered")]
    EmailTaken,
    #[error("Invalid email or password")]
    InvalidCredentials,
    #[error("Account is suspended")]
    Suspended,
    /// Missing, malformed, expired or revoked credentials.
    #[error("{0}")]
    Unauthorized(&'static str),
    /// Too many attempts; the message contains the word "limit" (the mobile
    /// client looks for it).
    #[error("{message}")]
    RateLimited {
        message: String,
        retry_after: Duration,
    },
    #[error("{0}")]
    NotFound(&'static str),
    #[error(transparent)]
    Storage(#[from] PersistenceError),
    /// The gateway could not be reached or is not serving; try again later.
    #[error("{0}")]
    Unavailable(String),
    /// The gateway did not answer in time.
    #[error("Your assistant took too long to answer. Please try again.")]
    GatewayTimeout,
    /// The gateway (or the model behind it) failed.
    #[error("Your assistant could not answer right now. Please try again.")]
    GatewayFailed,
    /// The request conflicts with the current state (e.g. a purchase that
    /// belongs to another account).
    #[error("{0}")]
    Conflict(String),
    /// The App Store (or our billing setup) cannot verify purchases now.
    #[error("{0}")]
    BillingUnavailable(String),
    /// Too much work queued (e.g. a login storm); try again shortly.
    #[error("The service is busy, please try again shortly")]
    Busy { retry_after: Duration },
    /// A bug or an impossible state; details go to the log, not the client.
    #[error("internal error: {0}")]
    Internal(String),
}

impl AppError {
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::Invalid(message.into())
    }
}
