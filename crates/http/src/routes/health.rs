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
    postgres: bool,
    redis: bool,
}

/// Readiness: Postgres and Redis answer. 503 with the same body otherwise.
#[utoipa::path(
    tag = "meta",
    responses(
        (status = 200, description = "Ready", body = Readiness),
        (status = 503, description = "A dependency is down", body = Readiness)
    )
)]
#[get("/ready")]
async fn ready(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let (postgres, redis) = futures_util::join!(
        heyclaw_persistence::check_connection(&state.pg),
        state.redis.ping(),
    );
    let body = Readiness {
        ready: postgres.is_ok() && redis.is_ok(),
        postgres: postgres.is_ok(),
        redis: redis.is_ok(),
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
