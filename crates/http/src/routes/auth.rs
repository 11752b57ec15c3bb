//! `/auth`: sign up, log in, refresh, log out, forgot and reset a password.

use actix_web::{HttpRequest, HttpResponse, post, web};
use heyclaw_app::accounts::{AppleName, SignedIn, TokenPair};
use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use utoipa::ToSchema;
use utoipa_actix_web::service_config::ServiceConfig;

use crate::{
    ApiError, AppState, AuthUser,
    auth_user::bearer_token,
    client::client_info,
    openapi::{AuthFailures, BodyFailures, LimitReached, MessageBody, Unavailable},
};

#[derive(Deserialize, ToSchema)]
struct SignupBody {
    email: Option<String>,
    password: Option<String>,
    name: Option<String>,
}

#[derive(Deserialize, ToSchema)]
struct LoginBody {
    email: Option<String>,
    password: Option<String>,
}

#[derive(Deserialize, ToSchema)]
struct RefreshBody {
    refresh_token: Option<String>,
}

#[derive(Deserialize, ToSchema)]
struct SendCodeBody {
    email: Option<String>,
}

#[derive(Deserialize, ToSchema)]
struct VerifyCodeBody {
    email: Option<String>,
    code: Option<String>,
}

#[derive(Serialize, ToSchema)]
struct CodeSent {
    message: &'static str,
    is_new_user: bool,
}

#[derive(Serialize, ToSchema)]
struct CodeSession {
    access_token: String,
    refresh_token: String,
    user: UserSummary,
    is_new_user: bool,
}

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
struct AppleBody {
    identity_token: Option<String>,
    full_name: Option<AppleFullName>,
    // `authorizationCode` and `email` are accepted and ignored: the token is
    // the only source of identity.
}

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
struct AppleFullName {
    given_name: Option<String>,
    family_name: Option<String>,
}

#[derive(Deserialize, ToSchema)]
struct ForgotBody {
    email: Option<String>,
}

#[derive(Deserialize, ToSchema)]
struct ResetBody {
    token: Option<String>,
    new_password: Option<String>,
}

#[derive(Serialize, ToSchema)]
struct UserSummary {
    id: Uuid,
    email: String,
    name: Option<String>,
}

#[derive(Serialize, ToSchema)]
struct SessionResponse {
    access_token: String,
    refresh_token: String,
    user: UserSummary,
}

#[derive(Serialize, ToSchema)]
struct TokensResponse {
    access_token: String,
    refresh_token: String,
}

#[derive(Serialize, ToSchema)]
pub(crate) struct MessageResponse {
    pub message: &'static str,
}

fn session(signed_in: SignedIn) -> SessionResponse {
    SessionResponse {
        access_token: signed_in.tokens.access_token,
        refresh_token: signed_in.tokens.refresh_token,
        user: UserSummary {
            id: signed_in.user_id,
            email: signed_in.email,
            name: signed_in.name,
        },
    }
}

/// The answer of the app's sign-in routes: a session plus `is_new_user`.
fn code_session(signed_in: SignedIn, is_new_user: bool) -> CodeSession {
    let session = session(signed_in);
    CodeSession {
        access_token: session.access_token,
        refresh_token: session.refresh_token,
        user: session.user,
        is_new_user,
    }
}

fn secret(value: Option<String>) -> SecretString {
    SecretString::from(value.unwrap_or_default())
}

/// Creates an account (a free plan, and an agent) and signs it in.
#[utoipa::path(
    tag = "auth",
    request_body = SignupBody,
    responses((status = 201, body = SessionResponse), BodyFailures, (status = 409, description = "Email already registered", body = crate::openapi::ErrorBody), LimitReached, Unavailable)
)]
#[post("/signup")]
async fn signup(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Json<SignupBody>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let client = client_info(&req, state.trust_proxy_headers);
    let signed_in = state
        .accounts
        .signup(
            body.email.as_deref().unwrap_or_default(),
            secret(body.password),
            body.name.as_deref(),
            &client,
        )
        .await?;
    Ok(HttpResponse::Created().json(session(signed_in)))
}

/// Signs in with e-mail and password.
#[utoipa::path(
    tag = "auth",
    request_body = LoginBody,
    responses((status = 200, body = SessionResponse), BodyFailures, AuthFailures, LimitReached, Unavailable)
)]
#[post("/login")]
async fn login(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Json<LoginBody>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let client = client_info(&req, state.trust_proxy_headers);
    let signed_in = state
        .accounts
        .login(
            body.email.as_deref().unwrap_or_default(),
            secret(body.password),
            &client,
        )
        .await?;
    Ok(HttpResponse::Ok().json(session(signed_in)))
}

/// Rotates a refresh token into a new pair (the just-rotated token may be presented again within the reuse grace window).
#[utoipa::path(
    tag = "auth",
    request_body = RefreshBody,
    responses((status = 200, body = TokensResponse), BodyFailures, AuthFailures, Unavailable)
)]
#[post("/refresh")]
async fn refresh(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Json<RefreshBody>,
) -> Result<HttpResponse, ApiError> {
    let client = client_info(&req, state.trust_proxy_headers);
    let TokenPair {
        access_token,
        refresh_token,
    } = state
        .accounts
        .refresh(body.refresh_token.as_deref().unwrap_or_default(), &client)
        .await?;
    Ok(HttpResponse::Ok().json(TokensResponse {
        access_token,
        refresh_token,
    }))
}

/// Revokes the access token and ends this login's session.
#[utoipa::path(
    tag = "auth",
    responses((status = 200, body = MessageBody), AuthFailures),
    security(("bearer" = []))
)]
#[post("/logout")]
async fn logout(state: web::Data<AppState>, user: AuthUser) -> Result<HttpResponse, ApiError> {
    state.accounts.logout(&user.0).await?;
    Ok(HttpResponse::Ok().json(MessageResponse {
        message: "Logged out",
    }))
}

/// The shipped app's sign-in: a code by e-mail…
#[utoipa::path(
    tag = "auth",
    request_body = SendCodeBody,
    responses((status = 200, body = CodeSent), BodyFailures, LimitReached)
)]
#[post("/send-otp")]
async fn send_otp(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Json<SendCodeBody>,
) -> Result<HttpResponse, ApiError> {
    let client = client_info(&req, state.trust_proxy_headers);
    let is_new_user = state
        .accounts
        .send_login_code(body.email.as_deref().unwrap_or_default(), &client)
        .await?;
    Ok(HttpResponse::Ok().json(CodeSent {
        message: "Code sent",
        is_new_user,
    }))
}

/// …then the code back, for a session (creating the account if new).
#[utoipa::path(
    tag = "auth",
    request_body = VerifyCodeBody,
    responses((status = 200, body = CodeSession), BodyFailures, AuthFailures, Unavailable)
)]
#[post("/verify-otp")]
async fn verify_otp(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Json<VerifyCodeBody>,
) -> Result<HttpResponse, ApiError> {
    let client = client_info(&req, state.trust_proxy_headers);
    let (signed_in, is_new_user) = state
        .accounts
        .verify_login_code(
            body.email.as_deref().unwrap_or_default(),
            body.code.as_deref().unwrap_or_default(),
            &client,
        )
        .await?;
    Ok(HttpResponse::Ok().json(code_session(signed_in, is_new_user)))
}

/// Signs in with Apple (an identity token verified against Apple's keys).
#[utoipa::path(
    tag = "auth",
    request_body = AppleBody,
    responses((status = 200, body = CodeSession), BodyFailures, AuthFailures, (status = 409, description = "The token's e-mail is taken and not verified by Apple", body = crate::openapi::ErrorBody), Unavailable)
)]
#[post("/apple")]
async fn apple(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Json<AppleBody>,
) -> Result<HttpResponse, ApiError> {
    let client = client_info(&req, state.trust_proxy_headers);
    let body = body.into_inner();
    let name = body
        .full_name
        .map(|n| AppleName {
            given_name: n.given_name,
            family_name: n.family_name,
        })
        .unwrap_or_default();
    let (signed_in, is_new_user) = state
        .accounts
        .sign_in_with_apple(
            body.identity_token.as_deref().unwrap_or_default(),
            name,
            &client,
        )
        .await?;
    Ok(HttpResponse::Ok().json(code_session(signed_in, is_new_user)))
}

/// Mails a reset link if the address has an account (the same answer either way).
#[utoipa::path(
    tag = "auth",
    request_body = ForgotBody,
    responses((status = 200, body = MessageBody), BodyFailures, LimitReached)
)]
#[post("/forgot-password")]
async fn forgot_password(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Json<ForgotBody>,
) -> Result<HttpResponse, ApiError> {
    let client = client_info(&req, state.trust_proxy_headers);
    state
        .accounts
        .forgot_password(body.email.as_deref().unwrap_or_default(), &client)
        .await?;
    Ok(HttpResponse::Ok().json(MessageResponse {
        message: "If an account exists, a reset link has been sent",
    }))
}

/// Sets a new password with a mailed token.
#[utoipa::path(
    tag = "auth",
    request_body = ResetBody,
    responses((status = 200, body = MessageBody), BodyFailures)
)]
#[post("/reset-password")]
async fn reset_password(
    state: web::Data<AppState>,
    body: web::Json<ResetBody>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    state
        .accounts
        .reset_password(
            body.token.as_deref().unwrap_or_default(),
            secret(body.new_password),
        )
        .await?;
    Ok(HttpResponse::Ok().json(MessageResponse {
        message: "Password reset successfully",
    }))
}

/// The account-deletion web page: a code by e-mail…
#[utoipa::path(
    tag = "auth",
    request_body = SendCodeBody,
    responses((status = 200, body = MessageBody), BodyFailures, LimitReached)
)]
#[post("/delete-request")]
async fn delete_request(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Json<SendCodeBody>,
) -> Result<HttpResponse, ApiError> {
    let client = client_info(&req, state.trust_proxy_headers);
    state
        .accounts
        .request_deletion(body.email.as_deref().unwrap_or_default(), &client)
        .await?;
    Ok(HttpResponse::Ok().json(MessageResponse {
        message: "If an account exists, a verification code has been sent",
    }))
}

#[derive(Serialize, ToSchema)]
struct DeletionToken {
    message: &'static str,
    token: String,
}

/// …then the code back, for a token that can delete that account only…
#[utoipa::path(
    tag = "auth",
    request_body = VerifyCodeBody,
    responses((status = 200, body = DeletionToken), BodyFailures)
)]
#[post("/delete-verify")]
async fn delete_verify(
    state: web::Data<AppState>,
    body: web::Json<VerifyCodeBody>,
) -> Result<HttpResponse, ApiError> {
    let token = state
        .accounts
        .verify_deletion_code(
            body.email.as_deref().unwrap_or_default(),
            body.code.as_deref().unwrap_or_default(),
        )
        .await?;
    Ok(HttpResponse::Ok().json(DeletionToken {
        message: "Code verified",
        token,
    }))
}

/// …and the deletion, with that token as the bearer.
#[utoipa::path(
    tag = "auth",
    responses((status = 200, body = MessageBody), AuthFailures),
    security(("bearer" = []))
)]
#[post("/delete-confirm")]
async fn delete_confirm(
    state: web::Data<AppState>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    state
        .accounts
        .confirm_deletion(bearer_token(&req).as_deref())
        .await?;
    Ok(HttpResponse::Ok().json(MessageResponse {
        message: "Account deleted successfully",
    }))
}

pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(
        utoipa_actix_web::scope("/auth")
            .service(signup)
            .service(login)
            .service(refresh)
            .service(logout)
            .service(send_otp)
            .service(verify_otp)
            .service(apple)
            .service(forgot_password)
            .service(reset_password)
            .service(delete_request)
            .service(delete_verify)
            .service(delete_confirm),
    );
}
