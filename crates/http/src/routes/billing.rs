//! `/billing`: Apple in-app purchases. `verify` and `status` are the app's;
//! `webhook` is Apple's (App Store Server Notifications V2, no bearer token:
//! the payload's signature is the authentication).

use actix_web::{HttpResponse, get, post, web};
use chrono::{DateTime, Utc};
use heyclaw_app::billing::PlanStatus;
use serde::{Deserialize, Serialize};

use utoipa::ToSchema;
use utoipa_actix_web::service_config::ServiceConfig;

use crate::{
    ApiError, AppState, AuthUser,
    openapi::{AuthFailures, BodyFailures, ErrorBody, NotFound, Unavailable},
    routes::user::Limits,
};

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
struct VerifyBody {
    receipt_data: Option<String>,
    product_id: Option<String>,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
struct Verified {
    plan: String,
    status: String,
    limits: Limits,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = BillingStatus)]
struct Status {
    plan: String,
    status: String,
    subscription_ends_at: Option<DateTime<Utc>>,
    limits: Limits,
}

/// Verifies a purchase (a StoreKit 1 app receipt or a StoreKit 2 signed
/// transaction) and puts the caller on its plan.
#[utoipa::path(tag = "billing", request_body = VerifyBody,
    responses((status = 200, body = Verified), BodyFailures, AuthFailures,
        (status = 409, description = "The purchase belongs to another account", body = ErrorBody),
        Unavailable),
    security(("bearer" = [])))]
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

/// The plan in force now.
#[utoipa::path(tag = "billing", responses((status = 200, body = Status), AuthFailures, NotFound), security(("bearer" = [])))]
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

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
struct NotificationBody {
    signed_payload: Option<String>,
}

#[derive(Serialize, ToSchema)]
struct NotificationAnswer {
    status: &'static str,
}

/// App Store Server Notifications V2 (Apple's; the signature authenticates).
#[utoipa::path(tag = "billing", request_body = NotificationBody,
    responses((status = 200, body = NotificationAnswer), BodyFailures, Unavailable))]
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

pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(
        utoipa_actix_web::scope("/billing")
            .service(verify)
            .service(status)
            .service(webhook),
    );
}
