use std::collections::BTreeMap;

use actix_web::{HttpResponse, get, web};
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_actix_web::service_config::ServiceConfig;

use crate::{ApiError, AppState};

#[derive(Serialize, ToSchema)]
struct Liveness {
    status: &'static str,
    service: &'static str,
}

const LIVE: Liveness = Liveness {
    status: "ok",
    service: "heyclaw-api",
};

/// Liveness: the process answers. Checks nothing else, so an orchestrator
/// never restarts the API because a dependency is down.
#[utoipa::path(tag = "meta", responses((status = 200, body = Liveness)))]
#[get("/health")]
async fn health() -> HttpResponse {
    HttpResponse::Ok().json(LIVE)
}

#[utoipa::path(tag = "meta", responses((status = 200, body = Liveness)))]
#[get("/")]
async fn root() -> HttpResponse {
    HttpResponse::Ok().json(LIVE)
}

#[derive(Serialize, ToSchema)]
struct Readiness {
    ready: bool,
    /// `ok`, `degraded` (some gateway shard does not answer: only its users
    /// are affected) or `down`.
    status: &'static str,
    postgres: bool,
    redis: bool,
    /// Each gateway shard and whether it answers.
    gateways: BTreeMap<String, bool>,
}

/// Readiness: Postgres, Redis and at least one gateway shard answer (with a
/// shard down it is `degraded`, still ready). 503 with the same body
/// otherwise.
#[utoipa::path(
    tag = "meta",
    responses(
        (status = 200, description = "Ready (ok or degraded)", body = Readiness),
        (status = 503, description = "A dependency is down", body = Readiness)
    )
)]
#[get("/ready")]
async fn ready(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let (postgres, redis, gateways) = futures_util::join!(
        heyclaw_persistence::check_connection(&state.pg),
        state.redis.ping(),
        state.agents.shard_health(std::time::Duration::from_secs(2)),
    );
    let gateways: BTreeMap<String, bool> = gateways.into_iter().collect();
    let some_gateway = gateways.values().any(|up| *up);
    let ready = postgres.is_ok() && redis.is_ok() && some_gateway;
    let body = Readiness {
        ready,
        status: match (ready, gateways.values().all(|up| *up)) {
            (false, _) => "down",
            (true, true) => "ok",
            (true, false) => "degraded",
        },
        postgres: postgres.is_ok(),
        redis: redis.is_ok(),
        gateways,
    };
    if let Err(err) = &postgres {
        tracing::warn!(error = %err, "readiness: postgres");
    }
    if let Err(err) = &redis {
        tracing::warn!(error = %err, "readiness: redis");
    }
    Ok(if body.ready {
        HttpResponse::Ok().json(body)
    } else {
        HttpResponse::ServiceUnavailable().json(body)
    })
}

pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(health).service(root).service(ready);
}
