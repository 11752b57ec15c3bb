//! `GET /cron/health`: a status report for external monitors, guarded by
//! `CRON_SECRET` (bearer). Off (404) when the secret is not set.

use actix_web::{HttpRequest, HttpResponse, get, web};
use chrono::{DateTime, Utc};
use secrecy::ExposeSecret;
use serde::Serialize;

use utoipa::ToSchema;
use utoipa_actix_web::service_config::ServiceConfig;

use crate::{
    ApiError, AppState,
    auth_user::bearer_token,
    openapi::{ErrorBody, NotFound},
};

#[derive(Serialize, ToSchema)]
struct Checks {
    postgres: &'static str,
    redis: &'static str,
    gateway: &'static str,
}

#[derive(Serialize, ToSchema)]
struct Report {
    status: &'static str,
    checks: Checks,
    timestamp: DateTime<Utc>,
}

fn state_of(ok: bool) -> &'static str {
    if ok { "ok" } else { "down" }
}

/// 200 `{status: "ok"}` when Postgres, Redis and the gateway answer; 503
/// `{status: "degraded"}` (same shape) when any does not.
#[utoipa::path(tag = "meta",
    responses((status = 200, body = Report), (status = 401, description = "Without CRON_SECRET as bearer", body = ErrorBody),
        NotFound, (status = 503, description = "Degraded", body = Report)),
    security(("bearer" = [])))]
#[get("/health")]
async fn cron_health(
    state: web::Data<AppState>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let Some(secret) = &state.cron_secret else {
        return Err(ApiError::not_found("Not found"));
    };
    let presented = bearer_token(&req).unwrap_or_default();
    if !heyclaw_app::auth::constant_time_eq(presented.as_bytes(), secret.expose_secret().as_bytes())
    {
        return Err(heyclaw_app::AppError::Unauthorized("Unauthorized").into());
    }
    let (postgres, redis, gateway) = futures_util::join!(
        heyclaw_persistence::check_connection(&state.pg),
        state.redis.ping(),
        state.agents.shard_health(std::time::Duration::from_secs(5)),
    );
    let gateway = gateway.iter().all(|(_, healthy)| *healthy);
    let healthy = postgres.is_ok() && redis.is_ok() && gateway;
    let report = Report {
        status: if healthy { "ok" } else { "degraded" },
        checks: Checks {
            postgres: state_of(postgres.is_ok()),
            redis: state_of(redis.is_ok()),
            gateway: state_of(gateway),
        },
        timestamp: Utc::now(),
    };
    Ok(if healthy {
        HttpResponse::Ok().json(report)
    } else {
        HttpResponse::ServiceUnavailable().json(report)
    })
}

pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(utoipa_actix_web::scope("/cron").service(cron_health));
}
