/// What went wrong talking to the gateway, in the terms callers act on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GatewayError {
    /// The gateway refused our token: a configuration error, not the user's.
    #[error("the gateway rejected the API's token")]
    Unauthorized,
    /// The gateway does not (yet) know this agent; holds the agent id.
    #[error("the gateway does not know agent {0}")]
    UnknownAgent(String),
    /// Could not connect, or the gateway said it is not ready (`502`, `503`,
    /// `504`), or the endpoint is missing (`404`: chat completions are not
    /// enabled in its config). Holds the detail.
    #[error("the gateway is unavailable: {0}")]
    Unavailable(String),
    /// A time bound of the call passed (see
    /// [`GatewayConfig`](crate::GatewayConfig)).
    #[error("the gateway did not answer in time")]
    Timeout,
    /// Anything else the gateway (or the model behind it) failed with.
    #[error("the gateway failed: {status} {message}")]
    Upstream {
        /// The HTTP status; `200` when a successful response turned out
        /// unusable (unreadable, without content, an error event in a
        /// stream), `0` when there was no response status at all.
        status: u16,
        /// The gateway's error message when it sent one, else what went
        /// wrong.
        message: String,
    },
}

impl GatewayError {
    /// A short, stable name of the kind of failure (for metrics and logs):
    /// `unauthorized`, `unknown_agent`, `unavailable`, `timeout` or
    /// `upstream`.
    pub fn kind(&self) -> &'static str {
        match self {
            GatewayError::Unauthorized => "unauthorized",
            GatewayError::UnknownAgent(_) => "unknown_agent",
            GatewayError::Unavailable(_) => "unavailable",
            GatewayError::Timeout => "timeout",
            GatewayError::Upstream { .. } => "upstream",
        }
    }

    /// Worth one more try: the gateway's transient `500 internal error`.
    pub(crate) fn is_transient(&self) -> bool {
        matches!(self, GatewayError::Upstream { status: 500, .. })
    }
}

impl From<reqwest::Error> for GatewayError {
    fn from(err: reqwest::Error) -> Self {
        if err.is_timeout() {
            GatewayError::Timeout
        } else if err.is_connect() {
            GatewayError::Unavailable(with_causes(&err))
        } else {
            GatewayError::Upstream {
                status: err.status().map_or(0, |s| s.as_u16()),
                message: with_causes(&err),
            }
        }
    }
}

/// The error and its causes, `: `-separated: reqwest's own message ("error
/// sending request for url …") leaves out why (a reset, a closed
/// connection), which is what an operator needs.
fn with_causes(err: &(dyn std::error::Error + 'static)) -> String {
    let mut text = err.to_string();
    let mut cause = err.source();
    while let Some(inner) = cause {
        text.push_str(": ");
        text.push_str(&inner.to_string());
        cause = inner.source();
    }
    text
}
