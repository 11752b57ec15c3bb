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

/// What every handler can reach. Cheap to clone: pools are handles.
#[derive(Clone)]
pub struct AppState {
    pub pg: PgPool,
    pub redis: RedisStore,
    pub accounts: Accounts,
    pub billing: Billing,
    pub automations: Automations,
    pub agents: Agents,
    pub messaging: Messaging,
    pub chats: Chats,
    pub voice: VoiceTurns,
    pub transcriptions: Transcriptions,
    pub speech: Speech,
    /// `GET /cron/health` answers only with this bearer (404 when unset).
    pub cron_secret: Option<secrecy::SecretString>,
    /// Whether `Forwarded`/`X-Forwarded-For` name the client (only behind a
    /// reverse proxy that sets them).
    pub trust_proxy_headers: bool,
}

#[derive(Debug, Clone)]
pub struct HttpSettings {
    /// Largest JSON body accepted; larger ones get 413.
    pub max_body_bytes: usize,
    /// Worker threads; `None` = one per core.
    pub workers: Option<usize>,
    /// How long in-flight requests get to finish after SIGTERM/SIGINT.
    pub shutdown_timeout: Duration,
}

const REQUEST_ID_HEADER: HeaderName = HeaderName::from_static("x-request-id");

/// Builds the server on an already-bound listener (port 0 in tests). The
/// returned future runs until a shutdown signal, then drains gracefully.
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
    let mut server = HttpServer::new(move || {
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
    .shutdown_timeout(settings.shutdown_timeout.as_secs());
    if let Some(workers) = settings.workers {
        server = server.workers(workers);
    }
    Ok(server.run())
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

/// The OpenAPI document of every registered route.
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

/// What `GET /metrics` answers: the Prometheus text exposition.
pub type MetricsRender = std::sync::Arc<dyn Fn() -> String + Send + Sync>;

/// Serves `GET /metrics` on a listener of its own (so the figures are not
/// public with the API); stops with the process.
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
