use std::time::Duration;

/// What a speech provider failed with, in the terms callers act on.
///
/// Nothing in this crate retries: whether and when to try again (e.g. after
/// [`SpeechError::RateLimited`]) is the caller's decision.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SpeechError {
    /// Our key was refused (`401`, `403`): configuration, not the user's
    /// doing.
    #[error("the speech provider rejected the API key")]
    Unauthorized,
    /// The provider answered `429`.
    #[error("the speech provider is rate limiting us")]
    RateLimited {
        /// The provider's `Retry-After`, when it gave one in seconds.
        retry_after: Option<Duration>,
    },
    /// The provider refused the input (`400`, `413`, `415`, `422`: empty
    /// text, unsupported audio, …), or the input was refused before any
    /// request (an invalid content type, no ElevenLabs voice id). Holds the
    /// provider's message, or what was wrong.
    #[error("the speech provider refused the input: {0}")]
    BadInput(String),
    /// Could not connect, or the provider said it is unavailable (`502`,
    /// `503`, `504`); also when the HTTP client cannot be built.
    #[error("the speech provider is unavailable: {0}")]
    Unavailable(String),
    /// The configured timeout passed.
    #[error("the speech provider did not answer in time")]
    Timeout,
    /// Anything else the provider failed with.
    #[error("the speech provider failed: {status} {message}")]
    Upstream {
        /// The HTTP status; `0` when there was none (the response broke off
        /// or its body was unreadable).
        status: u16,
        /// The provider's error message when it sent one, else what went
        /// wrong.
        message: String,
    },
}

impl SpeechError {
    pub(crate) async fn from_response(response: reqwest::Response) -> Self {
        let status = response.status();
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok())
            .map(Duration::from_secs);
        let text = response.text().await.unwrap_or_default();
        let message = serde_json::from_str::<serde_json::Value>(&text)
            .ok()
            .and_then(|v| {
                v["error"]["message"]
                    .as_str()
                    .or_else(|| v["detail"]["message"].as_str())
                    .or_else(|| v["detail"].as_str())
                    .map(str::to_owned)
            })
            .unwrap_or(text);
        match status.as_u16() {
            401 | 403 => Self::Unauthorized,
            429 => Self::RateLimited { retry_after },
            400 | 413 | 415 | 422 => Self::BadInput(message),
            502..=504 => Self::Unavailable(format!("{status}: {message}")),
            code => Self::Upstream {
                status: code,
                message,
            },
        }
    }
}

impl From<reqwest::Error> for SpeechError {
    fn from(err: reqwest::Error) -> Self {
        if err.is_timeout() {
            Self::Timeout
        } else if err.is_connect() {
            Self::Unavailable(err.to_string())
        } else {
            Self::Upstream {
                status: err.status().map_or(0, |s| s.as_u16()),
                message: err.to_string(),
            }
        }
    }
}
