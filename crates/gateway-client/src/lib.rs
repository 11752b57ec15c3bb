//! HTTP client for the OpenClaw gateway: chat completions (JSON and SSE),
//! model listing and health, with typed errors. It knows nothing of users,
//! plans or storage: callers pass an agent id and a session key.

mod client;
mod error;
mod wire;

pub use client::{ChatRequest, GatewayClient, GatewayConfig, PriorMessage, TextStream};
pub use error::GatewayError;
