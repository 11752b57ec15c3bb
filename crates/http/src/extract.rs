//! Extractor configuration: actix's own rejections (bad JSON, wrong content
//! type, oversized body, malformed path or query) become [`ApiError`]s, so
//! every 4xx has the same JSON shape as the ones our handlers produce.

use actix_web::{
    HttpRequest,
    error::{JsonPayloadError, PathError, PayloadError, QueryPayloadError},
    http::StatusCode,
    web,
};

use crate::ApiError;

pub fn json_config(max_body_bytes: usize) -> web::JsonConfig {
    web::JsonConfig::default()
        .limit(max_body_bytes)
        .error_handler(|err, _req: &HttpRequest| json_error(&err).into())
}

pub fn path_config() -> web::PathConfig {
    web::PathConfig::default().error_handler(|err: PathError, _req| {
        ApiError::bad_request("invalid_path", format!("Invalid path parameter: {err}")).into()
    })
}

pub fn query_config() -> web::QueryConfig {
    web::QueryConfig::default().error_handler(|err: QueryPayloadError, _req| {
        ApiError::bad_request("invalid_query", format!("Invalid query string: {err}")).into()
    })
}

fn json_error(err: &JsonPayloadError) -> ApiError {
    match err {
        JsonPayloadError::OverflowKnownLength { limit, .. }
        | JsonPayloadError::Overflow { limit } => payload_too_large(*limit),
        JsonPayloadError::Payload(PayloadError::Overflow) => payload_too_large(0),
        JsonPayloadError::ContentType => ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "Content-Type must be application/json",
        ),
        JsonPayloadError::Deserialize(inner) if inner.is_data() => {
            ApiError::bad_request("invalid_body", describe_data_error(inner))
        }
        JsonPayloadError::Deserialize(_) => {
            ApiError::bad_request("malformed_json", "Request body is not valid JSON")
        }
        other => ApiError::bad_request(
            "invalid_body",
            format!("Could not read the request body: {other}"),
        ),
    }
}

fn payload_too_large(limit: usize) -> ApiError {
    let message = if limit > 0 {
        format!("Request body is too large (limit {limit} bytes)")
    } else {
        "Request body is too large".to_owned()
    };
    ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large", message)
}

/// serde's data errors name the field and the expected type
/// ("missing field `email`", "invalid type: integer `5`, expected a string");
/// they are safe and useful to show, minus the line/column suffix.
fn describe_data_error(err: &serde_json::Error) -> String {
    let text = err.to_string();
    let text = text.split(" at line ").next().unwrap_or(&text);
    format!("Invalid request body: {text}")
}
