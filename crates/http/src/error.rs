use std::time::Duration;

use actix_web::{
    HttpResponse, ResponseError,
    http::{StatusCode, header},
};
use heyclaw_app::AppError;
use heyclaw_persistence::PersistenceError;
use serde::Serialize;

/// The one error type handlers return. Its body is always
/// `{"message": <human text>, "code": <stable machine code>}`: the mobile
/// client shows `message`; tools can switch on `code`. A 5xx never carries
/// internals — the cause is logged where the error is built.
///
/// Use cases fail with [`heyclaw_app::AppError`] (storage with
/// [`heyclaw_persistence::PersistenceError`]); `?` converts both here, the
/// one place errors become statuses and codes: rule violations are `400
/// invalid_request`, limits `429 rate_limited` with `Retry-After`, a busy or
/// unreachable dependency a `503` with `Retry-After`, the agent's failures
/// `502`/`503`/`504`, anything else a `500` whose cause is only logged.
///
/// # Example
///
/// ```
/// use std::time::Duration;
///
/// use actix_web::{ResponseError, http::StatusCode};
/// use heyclaw_http::ApiError;
///
/// let error = ApiError::bad_request("invalid_voice", "Unknown voice")
///     .with_retry_after(Duration::from_millis(1500));
/// assert_eq!(error.status(), StatusCode::BAD_REQUEST);
/// assert_eq!(error.code(), "invalid_voice");
///
/// let response = error.error_response();
/// let retry_after = response.headers().get("retry-after");
/// assert_eq!(retry_after.and_then(|v| v.to_str().ok()), Some("2")); // rounded up
///
/// let error = ApiError::from(heyclaw_app::AppError::EmailTaken);
/// assert_eq!((error.status().as_u16(), error.code()), (409, "email_taken"));
/// ```
#[derive(Debug, Clone, thiserror::Error)]
#[error("{status} {code}: {message}")]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
    retry_after: Option<Duration>,
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    message: &'a str,
    code: &'a str,
}

impl ApiError {
    /// An error answered with `status` and the body `{message, code}`.
    ///
    /// `code` is part of the API contract (clients switch on it): keep it a
    /// stable `snake_case` word. `message` is shown to the user as it is, so
    /// it must carry no internals; for failures whose cause must stay
    /// private use [`ApiError::internal`] or
    /// [`ApiError::service_unavailable`], which log it.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            retry_after: None,
        }
    }

    /// Adds a `Retry-After` header to the response: whole seconds, rounded
    /// up, and never below `1` (a zero duration still says `1`). Replaces
    /// any delay set before.
    pub fn with_retry_after(mut self, after: Duration) -> Self {
        self.retry_after = Some(after);
        self
    }

    /// A `400 Bad Request` with this machine `code` (e.g. `invalid_body`,
    /// `invalid_query`) and a message the user can act on.
    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    /// A `404 Not Found` with code `not_found`. Also the answer for another
    /// user's resource and for a malformed id, so the three cannot be told
    /// apart.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    /// A `500` with code `internal` and the fixed message "Internal server
    /// error": a failure whose details must not reach the client. The cause
    /// is logged here (at `error` level, with the request's span), so build
    /// this once per failure, where it happens.
    pub fn internal(cause: &dyn std::fmt::Display) -> Self {
        tracing::error!(error = %cause, "internal error");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "Internal server error",
        )
    }

    /// A `503` with code `unavailable`, a generic "busy" message and
    /// `Retry-After: 2`: a dependency (database, cache) is down or
    /// saturated, so the client should try again shortly. The cause is
    /// logged here at `warn` level and never sent.
    pub fn service_unavailable(cause: &dyn std::fmt::Display) -> Self {
        tracing::warn!(error = %cause, "dependency unavailable");
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            "The service is busy, please try again shortly",
        )
        .with_retry_after(Duration::from_secs(2))
    }

    /// The HTTP status the response will carry.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The stable machine code of the body's `code` field.
    pub fn code(&self) -> &'static str {
        self.code
    }

    /// The human text of the body's `message` field.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    fn error_response(&self) -> HttpResponse {
        let mut response = HttpResponse::build(self.status);
        if let Some(after) = self.retry_after {
            let seconds = after.as_secs() + u64::from(after.subsec_nanos() > 0);
            response.insert_header((header::RETRY_AFTER, seconds.max(1).to_string()));
        }
        response.json(ErrorBody {
            message: &self.message,
            code: self.code,
        })
    }
}

impl From<PersistenceError> for ApiError {
    fn from(err: PersistenceError) -> Self {
        if err.is_unavailable() {
            Self::service_unavailable(&err)
        } else {
            Self::internal(&err)
        }
    }
}

impl From<AppError> for ApiError {
    fn from(err: AppError) -> Self {
        match err {
            AppError::Invalid(message) => Self::bad_request("invalid_request", message),
            AppError::EmailTaken => Self::new(StatusCode::CONFLICT, "email_taken", err.to_string()),
            AppError::InvalidCredentials => Self::new(
                StatusCode::UNAUTHORIZED,
                "invalid_credentials",
                err.to_string(),
            ),
            AppError::Suspended => {
                Self::new(StatusCode::FORBIDDEN, "account_suspended", err.to_string())
            }
            AppError::Unauthorized(message) => {
                Self::new(StatusCode::UNAUTHORIZED, "unauthorized", message)
            }
            AppError::RateLimited {
                message,
                retry_after,
            } => Self::new(StatusCode::TOO_MANY_REQUESTS, "rate_limited", message)
                .with_retry_after(retry_after),
            AppError::NotFound(message) => Self::not_found(message),
            AppError::Storage(err) => err.into(),
            AppError::Unavailable(message) => Self::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "agent_unavailable",
                message,
            )
            .with_retry_after(Duration::from_secs(5)),
            AppError::GatewayTimeout => Self::new(
                StatusCode::GATEWAY_TIMEOUT,
                "agent_timeout",
                err.to_string(),
            ),
            AppError::GatewayFailed => {
                Self::new(StatusCode::BAD_GATEWAY, "agent_failed", err.to_string())
            }
            AppError::Conflict(message) => Self::new(StatusCode::CONFLICT, "conflict", message),
            AppError::BillingUnavailable(message) => Self::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "billing_unavailable",
                message,
            )
            .with_retry_after(Duration::from_secs(30)),
            AppError::Busy { retry_after } => {
                Self::new(StatusCode::SERVICE_UNAVAILABLE, "busy", err.to_string())
                    .with_retry_after(retry_after)
            }
            AppError::Internal(cause) => Self::internal(&cause),
        }
    }
}
