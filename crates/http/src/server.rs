use std::{net::TcpListener, time::Duration};

use actix_web::{
    App, HttpMessage, HttpRequest, HttpResponse, HttpServer,
    body::MessageBody,
    dev::{ServiceRequest, ServiceResponse},
    http::header::{HeaderName, HeaderValue},
    middleware::{Next, from_fn},
    web,
};
use heyclaw_app::{
    accounts::Accounts, agents::Agents, automation::Automations, billing::Billing, chat::Chats,
    messaging::Messaging, speech::Speech, transcription::Transcriptions, voice::VoiceTurns,
};
use heyclaw_persistence::{PgPool, RedisStore};
use tracing_actix_web::{RequestId, TracingLogger};

use utoipa::OpenApi;
use utoipa_actix_web::{AppExt, service_config::ServiceConfig};

use crate::{ApiError, extract, openapi, routes};

pub use actix_web::dev::{Server, ServerHandle};

/// What every handler can reach: the use cases of `heyclaw-app`, already
/// wired, plus the pools the health checks and profile reads use.
///
/// The binary builds it once at start-up and hands it to [`serve`], which
/// shares it between all workers. Cheap to clone: every field is a handle
/// (pools, `Arc`s). Handlers call use cases through it; they do not run
/// business steps themselves.
#[derive(Clone)]
pub struct AppState {
    /// The Postgres pool, for `/ready`, `/cron/health` and profile reads.
    pub pg: PgPool,
    /// The Redis pool (keys under the configured prefix), for the same
    /// checks and for today's usage counters.
    pub redis: RedisStore,
    /// Sign-up, sign-in, tokens, password resets and account deletion; also
    /// what [`AuthUser`](crate::AuthUser) authenticates bearer tokens with.
    pub accounts: Accounts,
    /// Apple in-app purchases and the plan in force (`/billing`).
    pub billing: Billing,
    /// The jobs users' agents scheduled and their results (`/automation`).
    pub automations: Automations,
    /// Users' agents on the gateway shards: status, personality, wake-up
    /// and shard health.
    pub agents: Agents,
    /// One text turn with the user's agent (`POST /agent/message`).
    pub messaging: Messaging,
    /// The user's chat sessions (`/chat`).
    pub chats: Chats,
    /// Streamed voice turns (`POST /agent/voice`).
    pub voice: VoiceTurns,
    /// Speech to text (`POST /voice/transcribe`).
    pub transcriptions: Transcriptions,
    /// Text to speech (`POST /voice/speak`).
    pub speech: Speech,
    /// `GET /cron/health` answers only with this bearer (404 when unset).
    pub cron_secret: Option<secrecy::SecretString>,
    /// Whether `Forwarded`/`X-Forwarded-For` name the client (only behind a
    /// reverse proxy that sets them).
    pub trust_proxy_headers: bool,
}

/// How [`serve`] runs the HTTP server. The binary reads these from the
/// environment (`MAX_BODY_BYTES`, `HTTP_WORKERS`, `SHUTDOWN_TIMEOUT`).
#[derive(Debug, Clone)]
pub struct HttpSettings {
    /// Largest request body accepted, JSON or raw; larger ones get `413
    /// payload_too_large`. Multipart uploads (`/voice/transcribe`) have a
    /// cap of their own.
    pub max_body_bytes: usize,
    /// HTTP worker threads; `None` = [`default_workers`].
    pub workers: Option<usize>,
    /// How long in-flight requests get to finish after a graceful stop
    /// (SIGTERM, or [`ServerHandle::stop`] with `graceful = true`), rounded
    /// up to whole seconds (actix counts seconds). SIGINT and SIGQUIT stop
    /// at once, without grace.
    pub shutdown_timeout: Duration,
}

const REQUEST_ID_HEADER: HeaderName = HeaderName::from_static("x-request-id");

/// Builds the API server on an already-bound listener (port 0 in tests:
/// ask the listener for its port before calling this).
///
/// Every route is registered with its OpenAPI description, and
/// `GET /openapi.json` serves [`document`], rendered once here. Around the
/// routes: request ids (`x-request-id` on every response, the same id as in
/// the logs), request metrics (`heyclaw_http_requests_total`,
/// `heyclaw_http_request_seconds`, by route template), tracing, and
/// actix-cors' permissive policy (every origin, method and header,
/// credentials allowed, preflight cached an hour — tolerable only because
/// the API authenticates with bearer tokens, never cookies). Extractor
/// rejections and unknown routes answer the same `{message, code}` JSON as
/// handlers.
///
/// Nothing is served until the returned [`Server`] is awaited or spawned
/// (inside a Tokio runtime); it resolves once the server has stopped.
/// The server installs its own signal handlers: SIGTERM stops it
/// gracefully (see [`HttpSettings::shutdown_timeout`]), SIGINT and SIGQUIT
/// at once. [`Server::handle`] stops it from code. Dropping a running
/// `Server` forces its workers to stop.
///
/// # Errors
///
/// When the listener cannot be used (I/O error from actix), or when the
/// OpenAPI document cannot be serialised.
pub fn serve(
    listener: TcpListener,
    state: AppState,
    settings: &HttpSettings,
) -> std::io::Result<Server> {
    let max_body_bytes = settings.max_body_bytes;
    let data = web::Data::new(state);
    let document = web::Data::new(openapi::Document(
        document().to_pretty_json().map_err(std::io::Error::other)?,
    ));
    let server = HttpServer::new(move || {
        App::new()
            .into_utoipa_app()
            .app_data(data.clone())
            .app_data(document.clone())
            .app_data(extract::json_config(max_body_bytes))
            .app_data(extract::path_config())
            .app_data(extract::query_config())
            .app_data(web::PayloadConfig::new(max_body_bytes))
            .configure(register)
            .into_app()
            .default_service(web::to(unknown_route))
            .wrap(from_fn(echo_request_id))
            .wrap(from_fn(record_request))
            .wrap(TracingLogger::default())
            .wrap(actix_cors::Cors::permissive().max_age(3600))
    })
    .listen(listener)?
    // actix counts whole seconds: round up, so "500ms" still grants a grace.
    .shutdown_timeout(
        settings.shutdown_timeout.as_secs()
            + u64::from(settings.shutdown_timeout.subsec_nanos() > 0),
    );
    Ok(server
        .workers(settings.workers.unwrap_or_else(default_workers))
        .run())
}

/// Half the cores, at least one. Each HTTP worker is a thread with its own
/// event loop; the process's shared runtime (Redis and Postgres connections,
/// background loops, password hashing) needs the others. Measured on 2
/// cores in one session (`cargo xtask bench message`, access cache on,
/// saturated at 64 connections): one worker 7,300 messages/s at 0.10 ms CPU
/// each, two workers (one per core) 5,900 at 0.15 ms.
pub fn default_workers() -> usize {
    std::thread::available_parallelism().map_or(1, |cores| (cores.get() / 2).max(1))
}

/// Every route, each documented (see [`openapi`]).
fn register(cfg: &mut ServiceConfig) {
    cfg.configure(routes::health::configure)
        .configure(routes::auth::configure)
        .configure(routes::user::configure)
        .configure(routes::billing::configure)
        .configure(routes::automation::configure)
        .configure(routes::agent::configure)
        .configure(routes::chat::configure)
        .configure(routes::transcribe::configure)
        .configure(routes::cron::configure)
        .configure(routes::pages::configure)
        .service(openapi::openapi_json);
}

/// The OpenAPI 3.1 document of every route [`serve`] registers, as
/// `GET /openapi.json` serves it.
///
/// Built from the handlers' `#[utoipa::path]` descriptions and the types'
/// doc comments, without a server, a runtime or any I/O. `cargo xtask
/// openapi` writes it to `docs/openapi.json`, the committed snapshot that a
/// unit test compares it with, so doc comments on request and response
/// types are part of the API's description.
///
/// ```
/// let document = heyclaw_http::document();
/// assert_eq!(document.info.title, "HeyClaw API");
/// assert!(document.paths.paths.contains_key("/auth/login"));
/// assert!(document.to_pretty_json()?.contains("\"openapi\": \"3.1.0\""));
/// # Ok::<(), serde_json::Error>(())
/// ```
pub fn document() -> utoipa::openapi::OpenApi {
    let (_, document) = App::new()
        .into_utoipa_app()
        .openapi(openapi::ApiDoc::openapi())
        .configure(register)
        .split_for_parts();
    document
}

async fn unknown_route(req: HttpRequest) -> Result<HttpResponse, ApiError> {
    Err(ApiError::not_found(format!(
        "No route for {} {}",
        req.method(),
        req.path()
    )))
}

/// Counts requests by route template, method and status, and times them
/// (to the response's head: a stream's length is not its latency).
async fn record_request(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let started = std::time::Instant::now();
    let method = req.method().as_str().to_owned();
    let response = next.call(req).await?;
    let route = response
        .request()
        .match_pattern()
        .unwrap_or_else(|| "unmatched".to_owned());
    let status = response.status().as_u16().to_string();
    metrics::counter!("heyclaw_http_requests_total", "route" => route.clone(), "method" => method.clone(), "status" => status)
        .increment(1);
    metrics::histogram!("heyclaw_http_request_seconds", "route" => route, "method" => method)
        .record(started.elapsed().as_secs_f64());
    Ok(response)
}

/// Returns the id `TracingLogger` gave the request, so a client report can
/// be matched to its log lines.
async fn echo_request_id(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let request_id = req.extensions().get::<RequestId>().copied();
    let mut res = next.call(req).await?;
    if let Some(id) = request_id
        && let Ok(value) = HeaderValue::from_str(&id.to_string())
    {
        res.headers_mut().insert(REQUEST_ID_HEADER, value);
    }
    Ok(res)
}

/// Renders what `GET /metrics` answers: the Prometheus text exposition
/// (served as `text/plain; version=0.0.4`). Called on every scrape, from
/// the metrics server's worker thread.
pub type MetricsRender = std::sync::Arc<dyn Fn() -> String + Send + Sync>;

/// Serves `GET /metrics` on a listener of its own (so the figures are not
/// public with the API); any other path is a JSON 404.
///
/// One worker and no middleware (no request ids, CORS or request
/// metrics). It ignores signals: stop it through [`Server::handle`] (it
/// allows one second to finish), or it stops with the process. Like
/// [`serve`], nothing is served until the returned [`Server`] is awaited or
/// spawned.
///
/// # Errors
///
/// When the listener cannot be used.
pub fn serve_metrics(listener: TcpListener, render: MetricsRender) -> std::io::Result<Server> {
    let render = web::Data::new(render);
    Ok(HttpServer::new(move || {
        App::new()
            .app_data(render.clone())
            .route("/metrics", web::get().to(metrics_text))
            .default_service(web::to(unknown_route))
    })
    .workers(1)
    .listen(listener)?
    .disable_signals()
    .shutdown_timeout(1)
    .run())
}

async fn metrics_text(render: web::Data<MetricsRender>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4")
        .body(render.get_ref()())
}
