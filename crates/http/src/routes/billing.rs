//! `/billing`: Apple in-app purchases. `verify` and `status` are the app's;
//! `webhook` is Apple's (App Store Server Notifications V2, no bearer token:
//! the payload's signature is the authentication).

use actix_web::{HttpResponse, get, post, web};
use chrono::{DateTime, Utc};
use heyclaw_app::billing::PlanStatus;
use serde::{Deserialize, Serialize};

use crate::{ApiError, AppState, AuthUser, routes::user::Limits};

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct VerifyBody {
    receipt_data: Option<String>,
    product_id: Option<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Verified {
    plan: String,
    status: String,
    limits: Limits,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Status {
    plan: String,
    status: String,
    subscription_ends_at: Option<DateTime<Utc>>,
    limits: Limits,
}

#[post("/verify")]
async fn verify(
    state: web::Data<AppState>,
    user: AuthUser,
    body: web::Json<VerifyBody>,
) -> Result<HttpResponse, ApiError> {
    let PlanStatus {
        subscription,
        limits,
    } = state
        .billing
        .verify(
            user.0.user_id,
            body.receipt_data.as_deref().unwrap_or_default(),
            body.product_id.as_deref().unwrap_or_default(),
        )
        .await?;
    Ok(HttpResponse::Ok().json(Verified {
        plan: subscription.plan,
        status: subscription.status,
        limits: limits.into(),
    }))
}

#[get("/status")]
async fn status(state: web::Data<AppState>, user: AuthUser) -> Result<HttpResponse, ApiError> {
    let PlanStatus {
        subscription,
        limits,
    } = state.billing.status(user.0.user_id).await?;
    Ok(HttpResponse::Ok().json(Status {
        plan: subscription.plan,
        status: subscription.status,
        subscription_ends_at: subscription.current_period_end,
        limits: limits.into(),
    }))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct NotificationBody {
    signed_payload: Option<String>,
}

#[derive(Serialize)]
struct NotificationAnswer {
    status: &'static str,
}

#[post("/webhook")]
async fn webhook(
    state: web::Data<AppState>,
    body: web::Json<NotificationBody>,
) -> Result<HttpResponse, ApiError> {
    let outcome = state
        .billing
        .notification(body.signed_payload.as_deref().unwrap_or_default())
        .await?;
    Ok(HttpResponse::Ok().json(NotificationAnswer {
        status: outcome.as_str(),
    }))
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope("/billing")
            .service(verify)
            .service(status)
            .service(webhook),
    );
}
