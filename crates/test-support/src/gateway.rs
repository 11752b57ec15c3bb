//! A local stand-in for the OpenClaw gateway, reached over real HTTP. It
//! speaks the OpenAI chat-completions wire format (JSON and SSE), checks the
//! bearer token, answers `Unknown agent` for agents not in the roster file
//! (read from disk like the real gateway, with an optional apply delay that
//! mimics hot reload), lists applied agents in `/v1/models`, keeps a
//! transcript per session, and can be told to fail or stall.

use std::{
    collections::{HashMap, HashSet},
    path::PathBuf,
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, AtomicUsize, Ordering},
    },
    time::{Duration, SystemTime},
};

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, dev::Service, web};
use futures_util::future::{Either, ready};
use serde_json::{Value, json};

/// A chat request as the gateway stand-in received it (recorded once the
/// token and agent are accepted, before any scripted failure or delay).
#[derive(Debug, Clone)]
pub struct RecordedTurn {
    /// The gateway agent addressed (`slot-<n>`): the `x-openclaw-agent-id`
    /// header, else the `model` after `openclaw/`.
    pub agent: String,
    /// The request's `user` field: the session key, if one was sent.
    pub user: Option<String>,
    /// The content of the last message: the turn's own text.
    pub text: String,
    /// Messages sent before the turn's own: `(role, content)` (a
    /// binding's first turn carries the history here).
    pub history: Vec<(String, String)>,
    /// Whether a streamed (SSE) reply was asked for.
    pub stream: bool,
    /// The `x-openclaw-message-channel` header.
    pub channel: Option<String>,
}

/// A roster file's inode, length and modification time.
type RosterVersion = (u64, u64, SystemTime);

struct State {
    token: String,
    roster_path: PathBuf,
    /// The roster last parsed, and which version of the file it was.
    roster: Mutex<Option<(RosterVersion, Arc<HashSet<String>>)>>,
    apply_delay: Mutex<Duration>,
    delay: Mutex<Duration>,
    fail_next: AtomicUsize,
    reply_override: Mutex<Option<String>>,
    turns: Mutex<Vec<RecordedTurn>>,
    transcripts: Mutex<HashMap<(String, String), usize>>,
    in_flight: AtomicUsize,
    max_in_flight: AtomicUsize,
    /// Pause between streamed chunks.
    chunk_delay: Mutex<Duration>,
    /// A streamed reply breaks with an error chunk after this many chunks.
    break_stream_after: Mutex<Option<usize>>,
    /// A streamed reply falls silent, connection open, after this many chunks.
    stall_stream_after: Mutex<Option<usize>>,
    /// A streamed reply's connection is cut after this many chunks (a
    /// gateway killed mid-reply).
    abort_stream_after: Mutex<Option<usize>>,
    /// The next `n` chat requests are answered 200 with garbage.
    garbage_next: AtomicUsize,
    /// Streamed replies dropped before their end (the client went away).
    streams_cancelled: Arc<AtomicUsize>,
    /// The chat-completions endpoint answers 404, as when it is disabled in
    /// the gateway's config.
    completions_disabled: AtomicBool,
    /// Set by [`GatewayStandIn::stop`]: every request is refused from then.
    stopped: AtomicBool,
}

/// A local stand-in for the OpenClaw gateway, over real HTTP on a free
/// port of `127.0.0.1`: `POST /v1/chat/completions` (JSON and SSE),
/// `GET /v1/models` and `GET /health`.
///
/// It answers `echo[<n>]: <text>`, `n` counting the turns of that agent and
/// session (`user`), unless told otherwise ([`GatewayStandIn::reply_with`]);
/// streamed replies come one word per chunk. Requests without the bearer
/// token get `401`; agents not in the roster file (read from disk on each
/// request, as the real gateway hot-reloads it) get the gateway's `400
/// Unknown agent`. The other methods script failures, delays and broken
/// streams; each setting holds until changed.
///
/// Clones share one server and its state. It runs on the test's runtime
/// until [`GatewayStandIn::stop`] or the runtime's end; dropping it does
/// not stop it.
#[derive(Clone)]
pub struct GatewayStandIn {
    /// Its base URL, `http://127.0.0.1:<port>` (no `/v1`).
    pub url: String,
    state: Arc<State>,
    handle: actix_web::dev::ServerHandle,
}

impl GatewayStandIn {
    /// Starts a stand-in that accepts `token` as its bearer and reads its
    /// roster (a JSON object keyed by agent id) from `roster_path`; a
    /// missing or unreadable roster means no agent is known.
    ///
    /// # Panics
    ///
    /// If no local port can be bound.
    pub async fn start(token: &str, roster_path: PathBuf) -> Self {
        let state = Arc::new(State {
            token: token.to_owned(),
            roster_path,
            roster: Mutex::default(),
            apply_delay: Mutex::new(Duration::ZERO),
            delay: Mutex::new(Duration::ZERO),
            fail_next: AtomicUsize::new(0),
            reply_override: Mutex::new(None),
            turns: Mutex::default(),
            transcripts: Mutex::default(),
            in_flight: AtomicUsize::new(0),
            max_in_flight: AtomicUsize::new(0),
            chunk_delay: Mutex::new(Duration::ZERO),
            break_stream_after: Mutex::new(None),
            stall_stream_after: Mutex::new(None),
            abort_stream_after: Mutex::new(None),
            garbage_next: AtomicUsize::new(0),
            streams_cancelled: Arc::default(),
            completions_disabled: AtomicBool::new(false),
            stopped: AtomicBool::new(false),
        });
        let data = web::Data::from(Arc::clone(&state));
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind gateway stand-in");
        let port = listener.local_addr().expect("local addr").port();
        let server = HttpServer::new(move || {
            App::new()
                .app_data(data.clone())
                .wrap_fn(|req, service| {
                    let stopped = req
                        .app_data::<web::Data<State>>()
                        .is_some_and(|state| state.stopped.load(Ordering::SeqCst));
                    if stopped {
                        let refused = HttpResponse::ServiceUnavailable().finish();
                        Either::Left(ready(Ok(req.into_response(refused))))
                    } else {
                        Either::Right(service.call(req))
                    }
                })
                .route("/v1/chat/completions", web::post().to(completions))
                .route("/v1/models", web::get().to(models))
                .route("/health", web::get().to(health))
        })
        .workers(2)
        .listen(listener)
        .expect("listen")
        .disable_signals()
        .shutdown_timeout(1)
        .run();
        let handle = server.handle();
        tokio::spawn(server);
        Self {
            url: format!("http://127.0.0.1:{port}"),
            state,
            handle,
        }
    }

    /// Answers chat requests 404, as a gateway whose chat-completions
    /// endpoint is disabled does.
    pub fn disable_chat_completions(&self) {
        self.state
            .completions_disabled
            .store(true, Ordering::SeqCst);
    }

    /// The next `n` chat requests fail with the gateway's transient 500
    /// (after being recorded and delayed). Replaces any count left.
    pub fn fail_next(&self, n: usize) {
        self.state.fail_next.store(n, Ordering::SeqCst);
    }

    /// Every chat request waits this long before answering (streamed or
    /// not); `Duration::ZERO` for none.
    pub fn set_delay(&self, delay: Duration) {
        *self.state.delay.lock().expect("lock") = delay;
    }

    /// A roster change is "applied" this long after the file was written:
    /// until then every agent is unknown, as while the real gateway
    /// reloads. Judged by the file's modification time.
    pub fn set_apply_delay(&self, delay: Duration) {
        *self.state.apply_delay.lock().expect("lock") = delay;
    }

    /// Answer every turn with this text instead of the echo, until
    /// [`GatewayStandIn::echo`].
    pub fn reply_with(&self, text: &str) {
        *self.state.reply_override.lock().expect("lock") = Some(text.to_owned());
    }

    /// Answer with the echo again.
    pub fn echo(&self) {
        *self.state.reply_override.lock().expect("lock") = None;
    }

    /// Streamed replies pause this long between chunks.
    pub fn set_chunk_delay(&self, delay: Duration) {
        *self.state.chunk_delay.lock().expect("lock") = delay;
    }

    /// Streamed replies send `chunks` chunks (the first is the role),
    /// then an error chunk, then `[DONE]`. Holds until changed; there is no
    /// way to turn it off.
    pub fn break_streams_after(&self, chunks: usize) {
        *self.state.break_stream_after.lock().expect("lock") = Some(chunks);
    }

    /// Streamed replies send `chunks` chunks, then nothing more, keeping the
    /// connection open (a gateway that hangs mid-reply). Holds until
    /// changed; there is no way to turn it off.
    pub fn stall_streams_after(&self, chunks: usize) {
        *self.state.stall_stream_after.lock().expect("lock") = Some(chunks);
    }

    /// Streamed replies send `chunks` chunks, then the connection is cut
    /// (as when the gateway process dies mid-reply).
    pub fn abort_streams_after(&self, chunks: usize) {
        *self.state.abort_stream_after.lock().expect("lock") = Some(chunks);
    }

    /// No more cut streams.
    pub fn stop_aborting(&self) {
        *self.state.abort_stream_after.lock().expect("lock") = None;
    }

    /// The next `n` chat requests get `200` with a body that is not the
    /// chat-completions format: an HTML page, or for a stream an event
    /// whose data is not JSON.
    pub fn garbage_next(&self, n: usize) {
        self.state.garbage_next.store(n, Ordering::SeqCst);
    }

    /// How many streamed replies were dropped before their end (the
    /// client went away), cut or stalled ones included, since the start.
    pub fn streams_cancelled(&self) -> usize {
        self.state.streams_cancelled.load(Ordering::SeqCst)
    }

    /// Every chat request received and accepted so far, oldest first.
    pub fn turns(&self) -> Vec<RecordedTurn> {
        self.state.turns.lock().expect("lock").clone()
    }

    /// The most chat requests that were waiting out
    /// [`GatewayStandIn::set_delay`] at once, since the start: how
    /// concurrent the server's calls were. Meaningful while a delay is set:
    /// without one, requests barely overlap.
    pub fn max_in_flight(&self) -> usize {
        self.state.max_in_flight.load(Ordering::SeqCst)
    }

    /// Stops the server at once (no grace: open connections are cut) and
    /// waits for it, as a gateway going down. It cannot be started again;
    /// requests to its URL are refused.
    ///
    /// A connection a client kept open is cut only once its worker thread
    /// has wound down, after this returns; until then a request on it is
    /// answered 503, never as if the gateway were still up.
    pub async fn stop(&self) {
        self.state.stopped.store(true, Ordering::SeqCst);
        self.handle.stop(false).await;
    }
}

impl State {
    /// The agents of the roster file, once its apply delay has passed.
    /// Parsed again only when the file changes (another inode, length or
    /// modification time): a bench's 2,048-slot roster parsed per request
    /// would make the stand-in, not the server, what is measured.
    fn applied_agents(&self) -> Arc<HashSet<String>> {
        use std::os::unix::fs::MetadataExt;
        let Ok(metadata) = std::fs::metadata(&self.roster_path) else {
            return Arc::default();
        };
        let written = metadata.modified().unwrap_or(SystemTime::UNIX_EPOCH);
        let apply_delay = *self.apply_delay.lock().expect("lock");
        if written.elapsed().unwrap_or_default() < apply_delay {
            return Arc::default();
        }
        let version = (metadata.ino(), metadata.len(), written);
        let mut cached = self.roster.lock().expect("lock");
        if let Some((seen, agents)) = cached.as_ref()
            && *seen == version
        {
            return Arc::clone(agents);
        }
        let agents: Arc<HashSet<String>> = Arc::new(
            std::fs::read_to_string(&self.roster_path)
                .ok()
                .and_then(|text| serde_json::from_str::<serde_json::Map<String, Value>>(&text).ok())
                .map(|roster| roster.keys().cloned().collect())
                .unwrap_or_default(),
        );
        *cached = Some((version, Arc::clone(&agents)));
        agents
    }

    fn authorized(&self, req: &HttpRequest) -> bool {
        req.headers()
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v == format!("Bearer {}", self.token))
    }
}

fn error(status: u16, message: &str, kind: &str) -> HttpResponse {
    HttpResponse::build(actix_web::http::StatusCode::from_u16(status).expect("status"))
        .json(json!({"error": {"message": message, "type": kind}}))
}

async fn completions(
    state: web::Data<State>,
    req: HttpRequest,
    body: web::Json<Value>,
) -> HttpResponse {
    if state.completions_disabled.load(Ordering::SeqCst) {
        return HttpResponse::NotFound().body("Not Found");
    }
    if !state.authorized(&req) {
        return error(401, "Unauthorized", "unauthorized");
    }
    let agent = req
        .headers()
        .get("x-openclaw-agent-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
        .or_else(|| {
            body["model"]
                .as_str()
                .and_then(|m| m.strip_prefix("openclaw/"))
                .map(str::to_owned)
        })
        .unwrap_or_default();
    if !state.applied_agents().contains(&agent) {
        return error(
            400,
            &format!("Unknown agent '{agent}'."),
            "invalid_request_error",
        );
    }
    let messages = body["messages"].as_array().cloned().unwrap_or_default();
    let text = messages
        .last()
        .and_then(|m| m["content"].as_str())
        .unwrap_or_default()
        .to_owned();
    let history = messages
        .iter()
        .take(messages.len().saturating_sub(1))
        .map(|m| {
            (
                m["role"].as_str().unwrap_or_default().to_owned(),
                m["content"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    let channel = req
        .headers()
        .get("x-openclaw-message-channel")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let user = body["user"].as_str().map(str::to_owned);
    let stream = body["stream"].as_bool().unwrap_or(false);
    state.turns.lock().expect("lock").push(RecordedTurn {
        agent: agent.clone(),
        user: user.clone(),
        text: text.clone(),
        history,
        stream,
        channel,
    });
    let now = state.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
    state.max_in_flight.fetch_max(now, Ordering::SeqCst);
    let delay = *state.delay.lock().expect("lock");
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    state.in_flight.fetch_sub(1, Ordering::SeqCst);
    if state
        .fail_next
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok()
    {
        return error(500, "internal error", "api_error");
    }
    if state
        .garbage_next
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok()
    {
        return if stream {
            HttpResponse::Ok()
                .content_type("text/event-stream")
                .body("data: {not json at all\n\ndata: [DONE]\n\n")
        } else {
            HttpResponse::Ok()
                .content_type("text/html")
                .body("<html><body>502 Bad Gateway (nginx)</body></html>")
        };
    }
    // Without `user` every call is a new session, as on the real gateway.
    let turn = match &user {
        Some(user) => {
            let mut transcripts = state.transcripts.lock().expect("lock");
            let count = transcripts
                .entry((agent.clone(), user.clone()))
                .or_default();
            *count += 1;
            *count
        }
        None => 1,
    };
    let reply = state
        .reply_override
        .lock()
        .expect("lock")
        .clone()
        .unwrap_or_else(|| format!("echo[{turn}]: {text}"));
    if stream {
        let mut events = vec![json!({"choices": [{"index": 0, "delta": {"role": "assistant"}}]})];
        for word in reply.split_inclusive(' ') {
            events.push(json!({"choices": [{"index": 0, "delta": {"content": word}}]}));
        }
        let mut lines: Vec<String> = events.iter().map(|e| format!("data: {e}\n\n")).collect();
        if let Some(after) = *state.break_stream_after.lock().expect("lock") {
            lines.truncate(after);
            lines.push(format!(
                "data: {}\n\n",
                json!({"error": {"message": "internal error", "type": "api_error"}})
            ));
        }
        lines.push("data: [DONE]\n\n".to_owned());
        let pause = *state.chunk_delay.lock().expect("lock");
        let stall_after = *state.stall_stream_after.lock().expect("lock");
        let abort_after = *state.abort_stream_after.lock().expect("lock");
        let paced = PacedReply {
            lines: lines.into_iter(),
            sent: 0,
            finished: false,
            cancelled: Arc::clone(&state.streams_cancelled),
        };
        let body = futures_util::stream::unfold(paced, move |mut paced| async move {
            if stall_after == Some(paced.sent) {
                std::future::pending::<()>().await;
            }
            if abort_after == Some(paced.sent) {
                paced.sent += 1;
                return Some((
                    Err(actix_web::error::ErrorInternalServerError("gateway died")),
                    paced,
                ));
            }
            let line = paced.next_line()?;
            if !pause.is_zero() {
                tokio::time::sleep(pause).await;
            }
            Some((
                Ok::<_, actix_web::Error>(actix_web::web::Bytes::from(line)),
                paced,
            ))
        });
        return HttpResponse::Ok()
            .content_type("text/event-stream")
            .streaming(body);
    }
    HttpResponse::Ok().json(json!({
        "id": "chatcmpl-standin",
        "object": "chat.completion",
        "model": "openclaw",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": reply}, "finish_reason": "stop"}]
    }))
}

async fn models(state: web::Data<State>, req: HttpRequest) -> HttpResponse {
    if !state.authorized(&req) {
        return error(401, "Unauthorized", "unauthorized");
    }
    let agents = state.applied_agents();
    let mut ids: Vec<&String> = agents.iter().collect();
    ids.sort();
    let mut data = vec![json!({"id": "openclaw", "object": "model"})];
    data.extend(
        ids.into_iter()
            .map(|id| json!({"id": format!("openclaw/{id}"), "object": "model"})),
    );
    HttpResponse::Ok().json(json!({"object": "list", "data": data}))
}

async fn health() -> HttpResponse {
    HttpResponse::Ok().json(json!({"ok": true, "status": "live"}))
}

/// A streamed reply's remaining lines; counts itself cancelled when dropped
/// before its end, which happens when the client's connection goes away.
struct PacedReply {
    lines: std::vec::IntoIter<String>,
    sent: usize,
    finished: bool,
    cancelled: Arc<AtomicUsize>,
}

impl PacedReply {
    fn next_line(&mut self) -> Option<String> {
        let line = self.lines.next();
        self.finished = line.is_none();
        self.sent += 1;
        line
    }
}

impl Drop for PacedReply {
    fn drop(&mut self) {
        if !self.finished {
            self.cancelled.fetch_add(1, Ordering::SeqCst);
        }
    }
}
