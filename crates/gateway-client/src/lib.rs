//! HTTP client for the OpenClaw gateway: chat completions (JSON and SSE),
//! model listing and health, with typed errors ([`GatewayError`]).
//!
//! One [`GatewayClient`] per gateway holds a connection pool; each call
//! names the agent (`slot-0`, …) and a session key, and the gateway keeps
//! the conversation, so only the new turn is sent. Every wait is bounded
//! (a whole turn; a stream's first text and each pause after it), the
//! gateway's transient `500` is retried once, and dropping a call's future
//! (or a reply stream) cancels it.
//!
//! # What it must not do
//!
//! It knows nothing of users, plans, quotas or storage: callers pass an
//! agent id and a session key, and decide what a failure means for the user.
//! It does not log message text.
//!
//! # Example
//!
//! A turn with a complete reply, then the same turn streamed. Here the
//! gateway is a local stand-in that answers every turn with `Hello!`; point
//! `base_url` at a real gateway (`http://127.0.0.1:18789`) to talk to one.
//!
//! ```
//! use std::time::Duration;
//!
//! use futures_util::StreamExt;
//! use heyclaw_gateway_client::{ChatRequest, GatewayClient, GatewayConfig};
//! use secrecy::SecretString;
//!
//! #[tokio::main]
//! async fn main() -> Result<(), Box<dyn std::error::Error>> {
//!     let base_url = stand_in::start().await?;
//!     let client = GatewayClient::new(GatewayConfig {
//!         base_url,
//!         token: SecretString::from("the-gateway-token"),
//!         connect_timeout: Duration::from_secs(5),
//!         request_timeout: Duration::from_secs(120),
//!         first_token_timeout: Duration::from_secs(60),
//!         idle_timeout: Duration::from_secs(30),
//!     })?;
//!     let turn = ChatRequest {
//!         agent_id: "slot-0",
//!         session: "example",
//!         text: "hi",
//!         history: &[],
//!     };
//!
//!     let reply = client.chat(turn).await?;
//!     assert_eq!(reply, "Hello!");
//!
//!     let mut deltas = client.chat_stream(turn).await?;
//!     let mut streamed = String::new();
//!     while let Some(delta) = deltas.next().await {
//!         streamed.push_str(&delta?);
//!     }
//!     assert_eq!(streamed, "Hello!");
//!     Ok(())
//! }
//! # mod stand_in {
//! #     use tokio::io::{AsyncReadExt, AsyncWriteExt};
//! #     /// A gateway stand-in on a local port: every chat turn is answered
//! #     /// with "Hello!" (in two SSE chunks when streamed).
//! #     pub async fn start() -> std::io::Result<String> {
//! #         let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
//! #         let url = format!("http://{}", listener.local_addr()?);
//! #         tokio::spawn(async move {
//! #             while let Ok((mut socket, _)) = listener.accept().await {
//! #                 tokio::spawn(async move {
//! #                     let request = read_request(&mut socket).await;
//! #                     let (content_type, body) = if request.contains("\"stream\":true") {
//! #                         ("text/event-stream", concat!(
//! #                             "data: {\"choices\":[{\"delta\":{\"content\":\"Hel\"}}]}\n\n",
//! #                             "data: {\"choices\":[{\"delta\":{\"content\":\"lo!\"}}]}\n\n",
//! #                             "data: [DONE]\n\n"))
//! #                     } else {
//! #                         ("application/json",
//! #                          "{\"choices\":[{\"message\":{\"content\":\"Hello!\"}}]}")
//! #                     };
//! #                     let response = format!(
//! #                         "HTTP/1.1 200 OK\r\ncontent-type: {content_type}\r\n\
//! #                          content-length: {}\r\nconnection: close\r\n\r\n{body}",
//! #                         body.len()
//! #                     );
//! #                     let _ = socket.write_all(response.as_bytes()).await;
//! #                 });
//! #             }
//! #         });
//! #         Ok(url)
//! #     }
//! #     async fn read_request(socket: &mut tokio::net::TcpStream) -> String {
//! #         let mut bytes = Vec::new();
//! #         let mut buffer = [0u8; 4096];
//! #         loop {
//! #             match socket.read(&mut buffer).await {
//! #                 Ok(0) | Err(_) => break,
//! #                 Ok(n) => bytes.extend_from_slice(&buffer[..n]),
//! #             }
//! #             let text = String::from_utf8_lossy(&bytes).into_owned();
//! #             if let Some(end) = text.find("\r\n\r\n") {
//! #                 let length = text[..end].lines()
//! #                     .find_map(|line| line.to_ascii_lowercase()
//! #                         .strip_prefix("content-length:")
//! #                         .and_then(|value| value.trim().parse::<usize>().ok()))
//! #                     .unwrap_or(0);
//! #                 if bytes.len() >= end + 4 + length {
//! #                     return text;
//! #                 }
//! #             }
//! #         }
//! #         String::from_utf8_lossy(&bytes).into_owned()
//! #     }
//! # }
//! ```
//!
//! `examples/chat.rs` talks to a real gateway:
//! `cargo run -p heyclaw-gateway-client --example chat -- --agent slot-0 "hi"`.

#![deny(missing_docs)]

mod client;
mod error;
mod wire;

pub use client::{ChatRequest, GatewayClient, GatewayConfig, PriorMessage, TextStream};
pub use error::GatewayError;
