//! The OpenAPI 3.1 document, generated from the code: every route is
//! registered through `utoipa-actix-web`, which only accepts handlers that
//! carry a `#[utoipa::path]` description — a route cannot be served without
//! being documented. `GET /openapi.json` serves it; a committed snapshot
//! (`docs/openapi.json`, written by `cargo xtask openapi`) shows its changes
//! in review, and a unit test fails when the two differ.
//!
//! The whole document is [`crate::document`]. This module holds its pieces
//! shared between routes: the error body, and the refusals a route lists in
//! its `responses(...)` (e.g. `responses((status = 200, body = MessageBody),
//! AuthFailures, NotFound)`). Doc comments on these types are the
//! document's descriptions: changing one changes the snapshot.

use actix_web::{HttpResponse, get, web};
use utoipa::{
    Modify, OpenApi, ToSchema,
    openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme},
};

/// The body of every error response.
#[derive(serde::Serialize, ToSchema)]
pub struct ErrorBody {
    /// Human text; the mobile app shows it as it is. Every 429's contains
    /// the word "limit".
    pub message: String,
    /// A stable machine-readable code (e.g. `invalid_request`,
    /// `rate_limited`, `agent_timeout`).
    pub code: String,
}

/// A plain `{message}` answer.
#[derive(serde::Serialize, ToSchema)]
pub struct MessageBody {
    /// The outcome, in words the app can show.
    pub message: String,
}

/// Refusals of an authenticated route.
#[derive(utoipa::IntoResponses)]
pub enum AuthFailures {
    /// Missing, malformed, expired or revoked access token (the app then refreshes once).
    #[response(status = 401)]
    Unauthorized(ErrorBody),
    /// The account is suspended.
    #[response(status = 403)]
    Suspended(ErrorBody),
}

/// Refusals of a JSON body.
#[derive(utoipa::IntoResponses)]
pub enum BodyFailures {
    /// Malformed JSON, a field of the wrong type, or a value the rules refuse.
    #[response(status = 400)]
    Invalid(ErrorBody),
    /// Larger than `MAX_BODY_BYTES`.
    #[response(status = 413)]
    TooLarge(ErrorBody),
    /// Not `Content-Type: application/json`.
    #[response(status = 415)]
    NotJson(ErrorBody),
}

/// A daily or attempt limit was reached (`Retry-After` says when to retry).
#[derive(utoipa::IntoResponses)]
pub enum LimitReached {
    /// A limit was reached; `Retry-After` says when to try again.
    #[response(status = 429)]
    Limit(ErrorBody),
}

/// The thing the path names does not exist (or is another user's).
#[derive(utoipa::IntoResponses)]
pub enum NotFound {
    /// Not found, or not the caller's.
    #[response(status = 404)]
    Missing(ErrorBody),
}

/// The user's agent could not answer; never charged.
#[derive(utoipa::IntoResponses)]
pub enum AgentFailures {
    /// The gateway or the model failed.
    #[response(status = 502)]
    Failed(ErrorBody),
    /// The agent is not available yet or its gateway is down (`Retry-After`).
    #[response(status = 503)]
    Unavailable(ErrorBody),
    /// The agent took longer than the time bound.
    #[response(status = 504)]
    Timeout(ErrorBody),
}

/// A dependency (database, cache, provider) is busy or down (`Retry-After`).
#[derive(utoipa::IntoResponses)]
pub enum Unavailable {
    /// A dependency is busy or down; `Retry-After` says when to try again.
    #[response(status = 503)]
    Busy(ErrorBody),
}

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .description(Some(
                        "An access token from /auth/signup, /auth/login, /auth/verify-otp, /auth/apple or /auth/refresh",
                    ))
                    .build(),
            ),
        );
    }
}

/// The document's fixed parts: title, description, licence, the shared
/// schemas and the `bearer` security scheme. The routes are added by
/// [`crate::document`], as they are registered; on its own this has no
/// paths.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "HeyClaw API",
        description = "The backend of the HeyClaw voice-first assistant app. Every error is `{message, code}` JSON.",
        license(name = "MIT OR Apache-2.0")
    ),
    components(schemas(ErrorBody, MessageBody)),
    modifiers(&BearerAuth)
)]
pub struct ApiDoc;

/// The document as JSON text, rendered once by [`crate::serve`] and kept
/// as application data for [`openapi_json`].
pub struct Document(pub String);

/// `GET /openapi.json`: this document.
#[utoipa::path(
    tag = "meta",
    responses((status = 200, description = "The OpenAPI 3.1 document of this API", content_type = "application/json"))
)]
#[get("/openapi.json")]
pub async fn openapi_json(document: web::Data<Document>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .body(document.0.clone())
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_committed_snapshot_is_the_document() {
        let mut generated = crate::document().to_pretty_json().unwrap();
        generated.push('\n');
        let committed = include_str!("../../../docs/openapi.json");
        assert!(
            generated == committed,
            "docs/openapi.json is out of date: run `cargo xtask openapi` and commit it"
        );
    }

    #[test]
    fn every_operation_describes_its_answers() {
        let document = crate::document();
        let mut operations = 0;
        for (path, item) in &document.paths.paths {
            for (method, operation) in [
                ("get", &item.get),
                ("post", &item.post),
                ("put", &item.put),
                ("patch", &item.patch),
                ("delete", &item.delete),
            ] {
                let Some(operation) = operation else {
                    continue;
                };
                operations += 1;
                let responses = &operation.responses.responses;
                assert!(
                    responses.keys().any(|status| status.starts_with('2')),
                    "{method} {path} has no success answer"
                );
                let secured = operation.security.as_ref().is_some_and(|s| !s.is_empty());
                if secured && path != "/cron/health" {
                    assert!(responses.contains_key("401"), "{method} {path}: no 401");
                }
                if operation.request_body.is_some() && !path.starts_with("/voice/transcribe") {
                    assert!(responses.contains_key("400"), "{method} {path}: no 400");
                }
            }
        }
        assert!(operations >= 50, "{operations} operations");
    }
}
