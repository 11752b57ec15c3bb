use std::{pin::Pin, sync::Arc, time::Duration};

use eventsource_stream::Eventsource;
use futures_util::{Stream, StreamExt};
use reqwest::{StatusCode, header};
use secrecy::{ExposeSecret, SecretString};

use crate::{
    GatewayError,
    wire::{Chunk, Completion, CompletionRequest, ErrorEnvelope, Message, ModelList},
};

/// Where the gateway is, how to authenticate, and how long to wait.
///
/// Its `Debug` output redacts the token.
#[derive(Debug, Clone)]
pub struct GatewayConfig {
    /// The gateway's origin, e.g. `http://127.0.0.1:18789` (a trailing `/` is
    /// ignored). `/v1/chat/completions`, `/v1/models` and `/health` are
    /// appended to it.
    pub base_url: String,
    /// The gateway's bearer token (its `gateway.auth.token`, usually
    /// `OPENCLAW_GATEWAY_TOKEN`). Sent with chat turns and the model list,
    /// not with the health probe.
    pub token: SecretString,
    /// The longest wait to connect, for every request.
    pub connect_timeout: Duration,
    /// The longest a whole non-streaming turn may take, per attempt: with its
    /// one retry, a [`GatewayClient::chat`] call may take up to twice this.
    pub request_timeout: Duration,
    /// A streamed turn: the longest wait from the call to its first text,
    /// the connection, the request and its one retry included.
    pub first_token_timeout: Duration,
    /// A streamed turn: the longest pause between two pieces of text.
    pub idle_timeout: Duration,
}

/// One chat turn for one agent.
#[derive(Debug, Clone, Copy)]
pub struct ChatRequest<'a> {
    /// The gateway's agent id (e.g. `slot-0`), sent as the
    /// `x-openclaw-agent-id` header and in the model name
    /// (`openclaw/<agent>`).
    pub agent_id: &'a str,
    /// The conversation key: the same key continues the same gateway
    /// session; the gateway keeps the transcript, so only the new turn is sent.
    pub session: &'a str,
    /// The user's new message.
    pub text: &'a str,
    /// Earlier messages of the conversation the gateway has not seen (the
    /// first turn of a new session); the gateway folds them into the turn's
    /// context. Usually empty.
    pub history: &'a [PriorMessage],
}

/// A message from earlier in a conversation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PriorMessage {
    /// `true` for the user's message, `false` for the assistant's.
    pub from_user: bool,
    /// The message's text.
    pub content: String,
}

/// Text deltas of a streamed reply, in order (never empty strings). The
/// stream ends after the reply's last text, or right after its first `Err`
/// item: an error is always the last item. Dropping it cancels the request.
pub type TextStream = Pin<Box<dyn Stream<Item = Result<String, GatewayError>> + Send>>;

/// A pooled client for one gateway. Cheap to clone (clones share the
/// connection pool); build it once.
///
/// Every call is bounded in time (see [`GatewayConfig`]) and may be
/// cancelled by dropping its future (or, for [`chat_stream`](Self::chat_stream),
/// the stream). Turns name a channel of their own (`heyclaw`) to the gateway,
/// so it leaves out the prompt sections only its web chat uses.
#[derive(Clone)]
pub struct GatewayClient {
    http: reqwest::Client,
    base_url: Arc<str>,
    token: SecretString,
    request_timeout: Duration,
    first_token_timeout: Duration,
    idle_timeout: Duration,
}

const AGENT_HEADER: &str = "x-openclaw-agent-id";
/// Below the gateway's keep-alive (Node's default `keepAliveTimeout`, 5 s).
const POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(4);
/// Names the channel turns come from. Without it the gateway assumes its
/// web chat and adds prompt sections only its Control UI uses (~1.2 KB per
/// turn).
const CHANNEL_HEADER: &str = "x-openclaw-message-channel";
const CHANNEL: &str = "heyclaw";

impl GatewayClient {
    /// Builds the client. Nothing is sent yet: a wrong URL or token shows on
    /// the first call.
    ///
    /// # Errors
    /// [`GatewayError::Unavailable`] if the HTTP client cannot be built (its
    /// TLS backend failed to initialise).
    pub fn new(config: GatewayConfig) -> Result<Self, GatewayError> {
        // Every call sets its own time bound (a whole turn, a stream's first
        // text and its pauses, a probe): no blanket read timeout.
        let http = reqwest::Client::builder()
            .connect_timeout(config.connect_timeout)
            // The gateway (Node's HTTP server) closes a connection idle for
            // 5 s. Reusing one just as it does fails the turn ("connection
            // closed before message completed"; seen in the soak bench), and
            // a chat turn is not safe to resend: drop idle ones before that.
            .pool_idle_timeout(POOL_IDLE_TIMEOUT)
            .build()
            .map_err(|err| GatewayError::Unavailable(format!("building the HTTP client: {err}")))?;
        Ok(Self {
            http,
            base_url: config.base_url.trim_end_matches('/').into(),
            token: config.token,
            request_timeout: config.request_timeout,
            first_token_timeout: config.first_token_timeout,
            idle_timeout: config.idle_timeout,
        })
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url)
    }

    /// A complete reply (a non-streaming chat completion). The gateway's
    /// transient `500` is retried once; nothing else is.
    ///
    /// # Errors
    /// [`GatewayError::Unauthorized`] (the token was refused),
    /// [`GatewayError::UnknownAgent`], [`GatewayError::Unavailable`] (no
    /// connection, `502`/`503`/`504`, or `404`: the chat-completions endpoint
    /// is off), [`GatewayError::Timeout`] past the request timeout, and
    /// [`GatewayError::Upstream`] for any other failure, including a reply
    /// without content.
    pub async fn chat(&self, request: ChatRequest<'_>) -> Result<String, GatewayError> {
        match self.chat_once(request).await {
            Err(err) if err.is_transient() => {
                tracing::debug!(
                    agent = request.agent_id,
                    "transient gateway error; retrying once"
                );
                self.chat_once(request).await
            }
            other => other,
        }
    }

    async fn chat_once(&self, request: ChatRequest<'_>) -> Result<String, GatewayError> {
        let response = self
            .completion(request, false)
            .timeout(self.request_timeout)
            .send()
            .await?;
        let response = check(response, request.agent_id).await?;
        let completion: Completion =
            response
                .json()
                .await
                .map_err(|err| GatewayError::Upstream {
                    status: 200,
                    message: format!("unreadable completion: {err}"),
                })?;
        completion
            .choices
            .into_iter()
            .next()
            .and_then(|choice| choice.message)
            .and_then(|message| message.content)
            .ok_or_else(|| GatewayError::Upstream {
                status: 200,
                message: "completion without content".to_owned(),
            })
    }

    /// A streamed reply. The request is retried once on the transient `500`
    /// before any text has arrived; a failure mid-stream ends the stream with
    /// an error item. Time is bounded twice: the first text must come within
    /// the first-token timeout of this call, and each later piece within the
    /// idle timeout of the one before; past either, the stream ends with
    /// [`GatewayError::Timeout`]. Dropping the stream cancels the request.
    ///
    /// # Errors
    /// Before any text: as [`chat`](Self::chat), with
    /// [`GatewayError::Timeout`] when the response has not started within
    /// the first-token timeout. Once the stream is returned, failures come
    /// as its last item: [`GatewayError::Timeout`], or
    /// [`GatewayError::Upstream`] (status `200`) for an error event, an
    /// unreadable chunk, a broken connection or a stream that ends without
    /// `[DONE]`.
    pub async fn chat_stream(&self, request: ChatRequest<'_>) -> Result<TextStream, GatewayError> {
        let first_deadline = tokio::time::Instant::now() + self.first_token_timeout;
        let started = tokio::time::timeout_at(first_deadline, async {
            match self.start_stream(request).await {
                Err(err) if err.is_transient() => self.start_stream(request).await,
                other => other,
            }
        })
        .await;
        let response = started.map_err(|_| GatewayError::Timeout)??;
        let events = response.bytes_stream().eventsource();
        let agent = request.agent_id.to_owned();
        let steps = events.map(move |event| match event {
            Err(err) => Step::Failed(GatewayError::Upstream {
                status: 200,
                message: format!("broken event stream from agent {agent}: {err}"),
            }),
            Ok(event) => Step::from_data(&event.data),
        });
        let idle = self.idle_timeout;
        let state = StreamState {
            steps: Box::pin(steps),
            deadline: first_deadline,
        };
        let deltas = futures_util::stream::unfold(Some(state), move |state| async move {
            let mut state = state?;
            loop {
                let next = tokio::time::timeout_at(state.deadline, state.steps.next()).await;
                match next {
                    Err(_) => return Some((Err(GatewayError::Timeout), None)),
                    Ok(Some(Step::Text(text))) => {
                        state.deadline = tokio::time::Instant::now() + idle;
                        return Some((Ok(text), Some(state)));
                    }
                    Ok(Some(Step::Skip)) => continue,
                    Ok(Some(Step::Done)) => return None,
                    Ok(Some(Step::Failed(err))) => return Some((Err(err), None)),
                    Ok(None) => {
                        let err = GatewayError::Upstream {
                            status: 200,
                            message: "the reply stream ended before [DONE]".to_owned(),
                        };
                        return Some((Err(err), None));
                    }
                }
            }
        });
        Ok(Box::pin(deltas))
    }

    async fn start_stream(
        &self,
        request: ChatRequest<'_>,
    ) -> Result<reqwest::Response, GatewayError> {
        let response = self.completion(request, true).send().await?;
        check(response, request.agent_id).await
    }

    fn completion(&self, request: ChatRequest<'_>, stream: bool) -> reqwest::RequestBuilder {
        self.http
            .post(self.url("/v1/chat/completions"))
            .bearer_auth(self.token.expose_secret())
            .header(AGENT_HEADER, request.agent_id)
            .header(CHANNEL_HEADER, CHANNEL)
            .json(&CompletionRequest {
                // With several agents the bare `openclaw` model is ambiguous
                // to the gateway; name the agent in the model too.
                model: &format!("openclaw/{}", request.agent_id),
                messages: request
                    .history
                    .iter()
                    .map(|prior| Message {
                        role: if prior.from_user { "user" } else { "assistant" },
                        content: &prior.content,
                    })
                    .chain(std::iter::once(Message {
                        role: "user",
                        content: request.text,
                    }))
                    .collect(),
                user: request.session,
                stream,
            })
    }

    /// The model ids the gateway serves (`GET /v1/models`), within a fixed
    /// 5 seconds, without retry.
    ///
    /// # Errors
    /// As [`chat`](Self::chat).
    pub async fn model_ids(&self) -> Result<Vec<String>, GatewayError> {
        let response = self
            .http
            .get(self.url("/v1/models"))
            .bearer_auth(self.token.expose_secret())
            .timeout(Duration::from_secs(5))
            .send()
            .await?;
        let response = check(response, "").await?;
        let list: ModelList = response
            .json()
            .await
            .map_err(|err| GatewayError::Upstream {
                status: 200,
                message: format!("unreadable model list: {err}"),
            })?;
        Ok(list.data.into_iter().map(|model| model.id).collect())
    }

    /// Liveness of the gateway process (`GET /health`, unauthenticated),
    /// within `timeout`, without retry.
    ///
    /// # Errors
    /// [`GatewayError::Unavailable`] when it cannot be reached or answers
    /// anything but a success; [`GatewayError::Timeout`] past `timeout`.
    pub async fn health(&self, timeout: Duration) -> Result<(), GatewayError> {
        let response = self
            .http
            .get(self.url("/health"))
            .timeout(timeout)
            .send()
            .await?;
        if response.status().is_success() {
            Ok(())
        } else {
            Err(GatewayError::Unavailable(format!(
                "health answered {}",
                response.status()
            )))
        }
    }
}

/// Maps a non-success response to a typed error.
async fn check(
    response: reqwest::Response,
    agent_id: &str,
) -> Result<reqwest::Response, GatewayError> {
    let status = response.status();
    if status.is_success() {
        return Ok(response);
    }
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("json"));
    let text = response.text().await.unwrap_or_default();
    let message = if is_json {
        serde_json::from_str::<ErrorEnvelope>(&text)
            .map(|envelope| envelope.error.message)
            .unwrap_or(text)
    } else {
        text
    };
    Err(match status {
        StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => GatewayError::Unauthorized,
        StatusCode::BAD_REQUEST if message.contains("Unknown agent") => {
            GatewayError::UnknownAgent(agent_id.to_owned())
        }
        StatusCode::NOT_FOUND => GatewayError::Unavailable(format!(
            "endpoint not found (is chatCompletions enabled?): {message}"
        )),
        StatusCode::BAD_GATEWAY | StatusCode::SERVICE_UNAVAILABLE | StatusCode::GATEWAY_TIMEOUT => {
            GatewayError::Unavailable(format!("{status}: {message}"))
        }
        _ => GatewayError::Upstream {
            status: status.as_u16(),
            message,
        },
    })
}

/// A streamed reply in progress: its events and when the next text is due.
struct StreamState {
    steps: Pin<Box<dyn Stream<Item = Step> + Send>>,
    deadline: tokio::time::Instant,
}

/// What one server-sent event means for the reply.
enum Step {
    Text(String),
    /// A chunk without text (role announcement, finish reason).
    Skip,
    /// The `[DONE]` sentinel.
    Done,
    /// An error chunk or a broken stream: the reply ends here.
    Failed(GatewayError),
}

impl Step {
    fn from_data(data: &str) -> Self {
        if data.trim() == "[DONE]" {
            return Step::Done;
        }
        match serde_json::from_str::<Chunk>(data) {
            Ok(Chunk {
                error: Some(error), ..
            }) => Step::Failed(GatewayError::Upstream {
                status: 200,
                message: error.message,
            }),
            Ok(chunk) => chunk
                .choices
                .into_iter()
                .next()
                .and_then(|choice| choice.delta)
                .and_then(|delta| delta.content)
                .filter(|text| !text.is_empty())
                .map_or(Step::Skip, Step::Text),
            Err(err) => Step::Failed(GatewayError::Upstream {
                status: 200,
                message: format!("unreadable chunk: {err}"),
            }),
        }
    }
}
