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
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            retry_after: None,
        }
    }

    /// Adds a `Retry-After` header (whole seconds, rounded up).
    pub fn with_retry_after(mut self, after: Duration) -> Self {
        self.retry_after = Some(after);
        self
    }

    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    /// A failure whose details must not reach the client. The cause is
    /// logged here, once, with the request's span.
    pub fn internal(cause: &dyn std::fmt::Display) -> Self {
        tracing::error!(error = %cause, "internal error");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "Internal server error",
        )
    }

    /// A dependency (database, cache) is down or saturated: the client
    /// should try again shortly (`Retry-After`).
    pub fn service_unavailable(cause: &dyn std::fmt::Display) -> Self {
        tracing::warn!(error = %cause, "dependency unavailable");
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            "The service is busy, please try again shortly",
        )
        .with_retry_after(Duration::from_secs(2))
    }

    pub fn status(&self) -> StatusCode {
        self.status
    }

    pub fn code(&self) -> &'static str {
        self.code
    }

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
