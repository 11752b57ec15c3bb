//! `/automation`: the jobs a user's agent scheduled, and their results for
//! the app's poller (`POST /automation/check`, every minute and on return to
//! the foreground; each result is delivered once).

use actix_web::{HttpResponse, delete, get, patch, post, web};
use chrono::{DateTime, Utc};
use heyclaw_persistence::queries::automations::{Job, RunResult};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use utoipa::ToSchema;
use utoipa_actix_web::service_config::ServiceConfig;

use crate::{
    ApiError, AppState, AuthUser,
    openapi::{AuthFailures, BodyFailures, MessageBody, NotFound},
    routes::auth::MessageResponse,
};

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
struct JobView {
    id: Uuid,
    name: String,
    schedule: String,
    prompt: String,
    timezone: String,
    next_run_at: Option<DateTime<Utc>>,
    last_run_at: Option<DateTime<Utc>>,
    enabled: bool,
}

impl From<Job> for JobView {
    fn from(job: Job) -> Self {
        Self {
            id: job.id,
            name: job.name,
            schedule: job.schedule,
            prompt: job.prompt,
            timezone: job.timezone,
            next_run_at: job.next_run_at.filter(|_| job.enabled),
            last_run_at: job.last_run_at,
            enabled: job.enabled,
        }
    }
}

/// A run's result. `job_name` too: the shipped app reads that spelling.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
struct ResultView {
    id: Uuid,
    job_id: Option<Uuid>,
    job_name: String,
    #[serde(rename = "job_name")]
    job_name_snake: String,
    result: String,
    run_at: DateTime<Utc>,
    status: String,
    seen: bool,
}

impl From<RunResult> for ResultView {
    fn from(result: RunResult) -> Self {
        Self {
            id: result.id,
            job_id: result.job_id,
            job_name_snake: result.job_name.clone(),
            job_name: result.job_name,
            result: result.result,
            run_at: result.run_at,
            status: result.status,
            seen: result.seen,
        }
    }
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
struct Check {
    new_results: Vec<ResultView>,
    agent_name: String,
}

/// Results not yet delivered to the app (each once), and the agent's name.
#[utoipa::path(tag = "automation", responses((status = 200, body = Check), AuthFailures), security(("bearer" = [])))]
#[post("/check")]
async fn check(state: web::Data<AppState>, user: AuthUser) -> Result<HttpResponse, ApiError> {
    let (results, agent_name) = state.automations.check(user.0.user_id).await?;
    Ok(HttpResponse::Ok().json(Check {
        new_results: results.into_iter().map(ResultView::from).collect(),
        agent_name,
    }))
}

#[derive(Serialize, ToSchema)]
struct Jobs {
    jobs: Vec<JobView>,
}

/// The caller's automations.
#[utoipa::path(tag = "automation", responses((status = 200, body = Jobs), AuthFailures), security(("bearer" = [])))]
#[get("/jobs")]
async fn jobs(state: web::Data<AppState>, user: AuthUser) -> Result<HttpResponse, ApiError> {
    let jobs = state.automations.jobs(user.0.user_id).await?;
    Ok(HttpResponse::Ok().json(Jobs {
        jobs: jobs.into_iter().map(JobView::from).collect(),
    }))
}

/// A malformed id is the same 404 as a missing job.
fn job_id(raw: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(raw).map_err(|_| ApiError::not_found("Automation not found"))
}

/// Deletes an automation.
#[utoipa::path(tag = "automation", params(("id" = String, Path, description = "The job id (a UUID)")), responses((status = 200, body = MessageBody), AuthFailures, NotFound), security(("bearer" = [])))]
#[delete("/jobs/{id}")]
async fn delete_job(
    state: web::Data<AppState>,
    user: AuthUser,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    state
        .automations
        .delete(user.0.user_id, job_id(&id)?)
        .await?;
    Ok(HttpResponse::Ok().json(MessageResponse {
        message: "Automation deleted",
    }))
}

#[derive(Deserialize, ToSchema, utoipa::IntoParams)]
struct JobChange {
    enabled: Option<bool>,
}

/// Pauses or resumes an automation.
#[utoipa::path(tag = "automation", params(("id" = String, Path, description = "The job id (a UUID)")), request_body = JobChange,
    responses((status = 200, body = JobView), BodyFailures, AuthFailures, NotFound), security(("bearer" = [])))]
#[patch("/jobs/{id}")]
async fn update_job(
    state: web::Data<AppState>,
    user: AuthUser,
    id: web::Path<String>,
    body: web::Json<JobChange>,
) -> Result<HttpResponse, ApiError> {
    let id = job_id(&id)?;
    let Some(enabled) = body.enabled else {
        return Err(ApiError::bad_request(
            "invalid_request",
            "enabled is required",
        ));
    };
    let job = state
        .automations
        .set_enabled(user.0.user_id, id, enabled)
        .await?;
    Ok(HttpResponse::Ok().json(JobView::from(job)))
}

#[derive(Deserialize, ToSchema, utoipa::IntoParams)]
struct RunsQuery {
    limit: Option<i64>,
}

#[derive(Serialize, ToSchema)]
struct Runs {
    runs: Vec<ResultView>,
}

/// The newest results (default 20, at most 100).
#[utoipa::path(tag = "automation", params(RunsQuery), responses((status = 200, body = Runs), BodyFailures, AuthFailures), security(("bearer" = [])))]
#[get("/runs")]
async fn runs(
    state: web::Data<AppState>,
    user: AuthUser,
    query: web::Query<RunsQuery>,
) -> Result<HttpResponse, ApiError> {
    let limit = query.limit.unwrap_or(20);
    if !(1..=100).contains(&limit) {
        return Err(ApiError::bad_request(
            "invalid_query",
            "limit must be between 1 and 100",
        ));
    }
    let results = state
        .automations
        .results(user.0.user_id, false, limit)
        .await?;
    Ok(HttpResponse::Ok().json(Runs {
        runs: results.into_iter().map(ResultView::from).collect(),
    }))
}

#[derive(Serialize, ToSchema)]
struct Unseen {
    results: Vec<ResultView>,
}

/// Results not marked seen, newest first (at most 50).
#[utoipa::path(tag = "automation", responses((status = 200, body = Unseen), AuthFailures), security(("bearer" = [])))]
#[get("/unseen")]
async fn unseen(state: web::Data<AppState>, user: AuthUser) -> Result<HttpResponse, ApiError> {
    let results = state.automations.results(user.0.user_id, true, 50).await?;
    Ok(HttpResponse::Ok().json(Unseen {
        results: results.into_iter().map(ResultView::from).collect(),
    }))
}

#[derive(Deserialize, ToSchema, utoipa::IntoParams)]
struct MarkSeen {
    ids: Option<Vec<Uuid>>,
}

/// `{ids?}`; no body, or no `ids`, marks every result seen.
#[utoipa::path(tag = "automation", request_body(content = Option<MarkSeen>, content_type = "application/json"),
    responses((status = 200, body = MessageBody), BodyFailures, AuthFailures), security(("bearer" = [])))]
#[post("/mark-seen")]
async fn mark_seen(
    state: web::Data<AppState>,
    user: AuthUser,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let ids = if body.iter().all(u8::is_ascii_whitespace) {
        None
    } else {
        serde_json::from_slice::<MarkSeen>(&body)
            .map_err(|err| {
                ApiError::bad_request("invalid_body", format!("Invalid request body: {err}"))
            })?
            .ids
    };
    state
        .automations
        .mark_seen(user.0.user_id, ids.as_deref())
        .await?;
    Ok(HttpResponse::Ok().json(MessageResponse {
        message: "Marked as seen",
    }))
}

pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(
        utoipa_actix_web::scope("/automation")
            .service(check)
            .service(jobs)
            .service(delete_job)
            .service(update_job)
            .service(runs)
            .service(unseen)
            .service(mark_seen),
    );
}
