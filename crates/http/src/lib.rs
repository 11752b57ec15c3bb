//! HeyClaw's HTTP surface on actix-web: routes, extractors, middleware, the
//! OpenAPI document, and the single place where errors become HTTP
//! responses.
//!
//! - [`serve`] builds the API server on a bound listener from an
//!   [`AppState`] (the wired use cases) and [`HttpSettings`];
//!   [`serve_metrics`] serves `GET /metrics` on a listener of its own.
//! - [`AuthUser`] is the extractor of every protected route: it
//!   authenticates the bearer token through the accounts use case.
//! - [`ApiError`] is the one error type handlers return, and the one place
//!   use-case errors become statuses and `{message, code}` bodies; actix's
//!   own rejections (bad JSON, wrong content type, oversized body, bad path
//!   or query, unknown route) get the same shape.
//! - [`document`] is the OpenAPI 3.1 document of every route, generated
//!   from the handlers ([`openapi`]); `GET /openapi.json` serves it.
//!
//! # What it must not do
//!
//! This is the only crate that knows actix-web (`cargo xtask layering`
//! checks that no other library crate depends on it), and it knows little
//! else. Handlers are thin: extract, call one use case of `heyclaw-app`,
//! map the result to a wire shape. Business steps (quotas, the gateway,
//! refunds, storage) live in `heyclaw-app`, testable without HTTP; this
//! crate runs no queries and holds no state of its own. Each layer speaks
//! its own types: routes map `heyclaw-app` results to wire shapes and
//! should not use `heyclaw-persistence` rows or errors (`routes::chat`,
//! `routes::user`, `routes::automation` and [`ApiError`]'s conversions
//! still do, until `heyclaw-app` offers views for them). It does not read
//! settings from the environment or wire dependencies (the `heyclaw-api`
//! binary does), and a 5xx body never carries internals: the cause goes to
//! the log, with the request id the response carries in `x-request-id`.
//!
//! # Example
//!
//! Serving the API, as the binary does once it has wired an [`AppState`]
//! from its settings (`heyclaw-api`'s `Application::build`):
//!
//! ```no_run
//! use std::{net::TcpListener, time::Duration};
//!
//! use heyclaw_http::{AppState, HttpSettings};
//!
//! async fn run(state: AppState) -> std::io::Result<()> {
//!     let listener = TcpListener::bind("127.0.0.1:3000")?;
//!     let settings = HttpSettings {
//!         max_body_bytes: 256 * 1024,
//!         workers: None, // one per core
//!         shutdown_timeout: Duration::from_secs(30),
//!     };
//!     let server = heyclaw_http::serve(listener, state, &settings)?;
//!     let _handle = server.handle(); // to stop it from elsewhere
//!     server.await // serves until SIGTERM (graceful) or SIGINT
//! }
//! ```
//!
//! The OpenAPI document needs no server:
//!
//! ```
//! let document = heyclaw_http::document();
//! let login = document.paths.paths["/auth/login"].post.as_ref().expect("POST /auth/login");
//! // Refusals share one error body.
//! assert!(login.responses.responses.contains_key("401"));
//! let schemas = &document.components.as_ref().expect("components").schemas;
//! assert!(schemas.contains_key("ErrorBody"));
//! ```

#![deny(missing_docs)]

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
    AppState, HttpSettings, MetricsRender, Server, ServerHandle, default_workers, document, serve,
    serve_metrics,
};
