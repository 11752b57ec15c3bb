//! HeyClaw's use cases — sign up, log in, refresh, reset a password, read a
//! profile — as plain async functions over storage and the outside services
//! (mail, agent provisioning) behind traits.
//!
//! It knows no HTTP types, so every rule here is testable without a server;
//! `heyclaw-http` maps [`AppError`] to status codes in one place.

pub mod access_cache;
pub mod accounts;
pub mod agents;
pub mod auth;
pub mod automation;
pub mod billing;
pub mod chat;
pub mod clock;
mod error;
pub mod import;
pub mod mail;
pub mod messaging;
pub mod observe;
pub mod profile;
pub mod provisioning;
pub mod quota;
pub mod recorder;
pub mod speech;
pub mod transcription;
pub mod voice;

pub use error::AppError;
