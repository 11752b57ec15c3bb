//! HeyClaw's HTTP surface on actix-web: routes, extractors, middleware and the
//! single place where errors become HTTP responses.
//!
//! Handlers are thin: they extract, call one use case, and map the result.
//! This is the only crate that knows actix-web.

mod auth_user;
mod client;
mod error;
mod extract;
pub mod openapi;
mod routes;
mod server;

pub use auth_user::AuthUser;
pub use error::ApiError;
pub use server::{
    AppState, HttpSettings, MetricsRender, Server, ServerHandle, document, serve, serve_metrics,
};
