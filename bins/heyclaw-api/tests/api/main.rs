//! Integration tests: the real server on port 0, real PostgreSQL and Redis.
//! One test binary with modules keeps link time down.

#![expect(
    clippy::expect_used,
    clippy::unwrap_used,
    reason = "helpers outside #[test] fail loudly too"
)]

mod access_cache;
mod agents;
mod apple;
mod auth;
mod automations;
mod bad_input;
mod billing;
mod chat;
mod email_codes;
mod errors;
mod gateway_client;
mod health;
mod import;
mod original_routes;
mod process;
mod provisioning;
mod residency;
mod schema;
mod speech;
mod time_bounds;
mod voice;
