//! Local stand-ins for the speech providers, over real HTTP: OpenAI speech
//! and Whisper (`/v1/audio/…`) and ElevenLabs (`/v1/text-to-speech/…`).
//! Audio is fake but deterministic — `MP3|<voice>|<text>` — so a test can
//! check which text was spoken with which voice.

use std::{
    sync::{
        Arc, Mutex,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use serde_json::{Value, json};

/// The API key the speech stand-in accepts, as `Authorization: Bearer`
/// (OpenAI) or `xi-api-key` (ElevenLabs): configure the server with it.
pub const SPEECH_KEY: &str = "speech-stand-in-key";

#[derive(Default)]
struct State {
    delay: Mutex<Duration>,
    fail_next: AtomicUsize,
    calls: AtomicUsize,
    uploads: Mutex<Vec<usize>>,
}

/// The speech providers, stood in for over real HTTP on a free port of
/// `127.0.0.1`:
///
/// - `POST …/v1/audio/speech` (OpenAI): `MP3|<voice>|<input>` as
///   `audio/mpeg`; `500` if the input contains `FAILTTS`, `400` if it is
///   blank;
/// - `POST …/v1/text-to-speech/<voice>/stream` (ElevenLabs):
///   `MP3|<voice>|<text>`;
/// - `POST …/v1/audio/transcriptions` (Whisper): `{"text": "transcribed <n>
///   bytes", "duration": 2.5}` for a multipart upload with `model`, `file`
///   and `verbose_json`, where `n` is the size of the whole request body;
///   `400` otherwise. Bodies up to 64 MiB are read.
///
/// Every call without [`SPEECH_KEY`] gets `401`. Clones share one server
/// and its state; it runs until [`SpeechStandIn::stop`] or the end of the
/// test's runtime (dropping it does not stop it).
#[derive(Clone)]
pub struct SpeechStandIn {
    /// Base URL for OpenAI-style calls (`…/v1`).
    pub openai_url: String,
    /// Base URL for ElevenLabs-style calls.
    pub elevenlabs_url: String,
    state: Arc<State>,
    handle: actix_web::dev::ServerHandle,
}

fn authorized(req: &HttpRequest) -> bool {
    let bearer = req
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        == Some(&format!("Bearer {SPEECH_KEY}"));
    let xi = req
        .headers()
        .get("xi-api-key")
        .and_then(|v| v.to_str().ok())
        == Some(SPEECH_KEY);
    bearer || xi
}

async fn gate(state: &State, req: &HttpRequest) -> Option<HttpResponse> {
    state.calls.fetch_add(1, Ordering::SeqCst);
    if !authorized(req) {
        return Some(
            HttpResponse::Unauthorized().json(json!({"error": {"message": "Incorrect API key"}})),
        );
    }
    let delay = *state.delay.lock().expect("lock");
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    if state
        .fail_next
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok()
    {
        return Some(
            HttpResponse::InternalServerError()
                .json(json!({"error": {"message": "synthesis failed"}})),
        );
    }
    None
}

fn mp3(voice: &str, text: &str) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("audio/mpeg")
        .body(format!("MP3|{voice}|{text}"))
}

async fn openai_speech(
    state: web::Data<State>,
    req: HttpRequest,
    body: web::Json<Value>,
) -> HttpResponse {
    if let Some(refusal) = gate(&state, &req).await {
        return refusal;
    }
    let text = body["input"].as_str().unwrap_or_default();
    if text.contains("FAILTTS") {
        return HttpResponse::InternalServerError()
            .json(json!({"error": {"message": "synthesis failed"}}));
    }
    if text.trim().is_empty() {
        return HttpResponse::BadRequest().json(json!({"error": {"message": "input is empty"}}));
    }
    mp3(body["voice"].as_str().unwrap_or_default(), text)
}

async fn elevenlabs(
    state: web::Data<State>,
    req: HttpRequest,
    voice: web::Path<String>,
    body: web::Json<Value>,
) -> HttpResponse {
    if let Some(refusal) = gate(&state, &req).await {
        return refusal;
    }
    mp3(&voice, body["text"].as_str().unwrap_or_default())
}

async fn whisper(state: web::Data<State>, req: HttpRequest, body: web::Bytes) -> HttpResponse {
    if let Some(refusal) = gate(&state, &req).await {
        return refusal;
    }
    let text = String::from_utf8_lossy(&body);
    if !(text.contains("name=\"model\"")
        && text.contains("name=\"file\"")
        && text.contains("verbose_json"))
    {
        return HttpResponse::BadRequest()
            .json(json!({"error": {"message": "expected multipart with model and file"}}));
    }
    state.uploads.lock().expect("lock").push(body.len());
    HttpResponse::Ok()
        .json(json!({"text": format!("transcribed {} bytes", body.len()), "duration": 2.5}))
}

impl SpeechStandIn {
    /// Starts the stand-in. Panics if no local port can be bound.
    pub async fn start() -> Self {
        let state = Arc::new(State::default());
        let data = web::Data::from(Arc::clone(&state));
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind speech stand-in");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        let server = HttpServer::new(move || {
            App::new()
                .app_data(data.clone())
                .app_data(web::PayloadConfig::new(64 * 1024 * 1024))
                .route("/v1/audio/speech", web::post().to(openai_speech))
                .route("/v1/audio/transcriptions", web::post().to(whisper))
                .route(
                    "/v1/text-to-speech/{voice}/stream",
                    web::post().to(elevenlabs),
                )
        })
        .workers(2)
        .disable_signals()
        .listen(listener)
        .expect("listen")
        .run();
        let handle = server.handle();
        tokio::spawn(server);
        Self {
            openai_url: format!("{base}/v1"),
            elevenlabs_url: base,
            state,
            handle,
        }
    }

    /// Every authorised call waits this long before answering;
    /// `Duration::ZERO` for none.
    pub fn set_delay(&self, delay: Duration) {
        *self.state.delay.lock().expect("lock") = delay;
    }

    /// The next `n` authorised calls (of any endpoint) answer `500`, after
    /// the delay. Replaces any count left.
    pub fn fail_next(&self, n: usize) {
        self.state.fail_next.store(n, Ordering::SeqCst);
    }

    /// How many calls arrived since the start, refused ones included.
    pub fn calls(&self) -> usize {
        self.state.calls.load(Ordering::SeqCst)
    }

    /// The body size, in bytes, of each transcription request that was
    /// answered `200`, oldest first (the multipart body, not the audio
    /// alone).
    pub fn upload_sizes(&self) -> Vec<usize> {
        self.state.uploads.lock().expect("lock").clone()
    }

    /// Stops the server at once and waits for it (a provider going down):
    /// connections are then refused. It cannot be started again.
    pub async fn stop(&self) {
        self.handle.stop(false).await;
    }
}
