//! HeyClaw's use cases: what a request means, as plain async functions over
//! storage and the outside services, with one error type ([`AppError`])
//! that says what went wrong in words the app can show. (The seams below
//! the use cases have their own: [`import::ImportError`] for the import
//! tool, [`mail::MailError`], [`provisioning::ProvisioningError`].)
//!
//! Each use case is a cheap-to-clone service built once at start-up and
//! shared by every request (or a free function taking the pools):
//!
//! - [`accounts::Accounts`]: sign up, log in, refresh, log out, forgotten and
//!   reset passwords, e-mailed sign-in codes, Sign in with Apple, account
//!   deletion, and authenticating each request's bearer token;
//! - [`agents::Agents`]: where each user's agent lives on the gateway shards,
//!   waking it into a slot, and chat turns with it (complete or streamed);
//! - [`messaging::Messaging`] (a text turn), [`voice::VoiceTurns`] (a spoken
//!   turn as a stream of events), [`speech::Speech`] and
//!   [`transcription::Transcriptions`] (text to speech, speech to text);
//! - [`automation::Automations`] (scheduled turns), [`billing::Billing`]
//!   (App Store purchases and the plan in force), [`chat::Chats`] (stored
//!   chat sessions), [`profile`] (the user's own account), [`import`] (taking
//!   users over from the original server);
//! - the machinery they share: daily [`quota`]s reserved in Redis before the
//!   work, the write-behind [`recorder`] of answered turns, the per-process
//!   [`access_cache`], attempt [`auth::limits`], bounded password hashing
//!   ([`auth::passwords`]), the [`clock`] and outgoing [`mail`].
//!
//! The business steps of a request live here — reserve quota, wake the
//! agent, call the gateway, give the quota back if it failed, record the
//! turn — so every rule is testable without a server.
//!
//! # What it must not do
//!
//! It knows no HTTP: no actix-web, no requests, responses, headers or status
//! codes. Handlers in `heyclaw-http` extract what a use case needs, call it,
//! and map [`AppError`] to a status and a stable code in one place. It does
//! not use diesel or Redis directly either — only `heyclaw-persistence`'s
//! query functions, pools and [`RedisStore`](heyclaw_persistence::RedisStore)
//! — and it depends only on HeyClaw's lower layers (`domain`, `persistence`,
//! `gateway-client`, `tts`, `billing`, `agent-provisioning`), never on
//! `http` or the binaries; `cargo xtask layering` checks all of this in CI.
//! It writes no gateway files: it writes rows (`agent_slots`) and waits for
//! the shard's keeper to make the agent ready. Rules about elapsed time
//! (refresh-token, code and link expiry, grace windows, leases, schedules,
//! [`billing`]'s paid periods) read a [`clock::Clock`] so tests can move
//! time instead of sleeping. The exceptions follow the system clock: the
//! UTC day of the daily quotas, access-token expiry, and the plan in force
//! as the message, voice, speech and profile paths load it.
//! Passwords, tokens and codes are never logged ([`mail::LogMailer`] logs a
//! mail's content only when a local run asks it to).
//!
//! # Examples
//!
//! The pure pieces run without any service: access tokens, the client-facing
//! error messages, the usage a client must see.
//!
//! ```
//! use std::time::Duration;
//!
//! use heyclaw_app::{
//!     AppError,
//!     auth::tokens::{AccessTokens, TokenProblem},
//!     recorder::message_count_with_unrecorded,
//! };
//! use secrecy::SecretString;
//! use uuid::Uuid;
//!
//! let tokens = AccessTokens::new(
//!     &SecretString::from("a-long-random-jwt-secret-from-settings"),
//!     Duration::from_secs(15 * 60),
//! );
//! let (user, session) = (Uuid::new_v4(), Uuid::new_v4());
//! let token = tokens.issue(user, "ada@example.com", session)?;
//! assert_eq!(tokens.verify(&token).map(|claims| (claims.sub, claims.fam)), Ok((user, session)));
//! assert_eq!(tokens.verify("not-a-token"), Err(TokenProblem::Invalid));
//!
//! // Messages are written for the person using the app.
//! assert_eq!(AppError::InvalidCredentials.to_string(), "Invalid email or password");
//!
//! // 40 turns recorded, 3 of today's 5 already in Postgres: the user sees 42.
//! assert_eq!(message_count_with_unrecorded(40, 3, Some(5)), 42);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Wiring the services over real storage (what `heyclaw-api`'s
//! `Application::build` does) and sending one text message. This needs
//! PostgreSQL (migrated), Redis and a gateway shard, so it is only compiled
//! here.
//!
//! ```no_run
//! use std::{sync::Arc, time::Duration};
//!
//! use heyclaw_app::{
//!     access_cache::AccessCache,
//!     accounts::{Accounts, AccountsConfig, ClientInfo},
//!     agents::{Agents, AgentsConfig, Shard},
//!     auth::{limits::AuthLimits, passwords::PasswordHashing},
//!     automation::Automations,
//!     clock,
//!     mail::LogMailer,
//!     messaging::Messaging,
//!     recorder::TurnRecorder,
//! };
//! use heyclaw_domain::UserId;
//! use heyclaw_gateway_client::{GatewayClient, GatewayConfig};
//! use heyclaw_persistence::{PgPoolSettings, RedisPoolSettings, RedisStore, connect_pg_pool};
//! use secrecy::SecretString;
//!
//! #[tokio::main]
//! async fn main() -> Result<(), Box<dyn std::error::Error>> {
//!     let wait = Duration::from_secs(5);
//!     let pg = connect_pg_pool(
//!         "postgres://heyclaw:heyclaw@localhost/heyclaw",
//!         &PgPoolSettings { max_size: 8, wait_timeout: wait, connect_timeout: wait },
//!     )?;
//!     let redis = RedisStore::connect(
//!         "redis://localhost",
//!         &RedisPoolSettings {
//!             max_size: 8,
//!             wait_timeout: wait,
//!             connect_timeout: wait,
//!             key_prefix: "heyclaw".to_owned(),
//!         },
//!     )?;
//!     let clock = clock::system();
//!     let gateway = GatewayClient::new(GatewayConfig {
//!         base_url: "http://127.0.0.1:18789".to_owned(),
//!         token: SecretString::from("the-gateway-token"),
//!         connect_timeout: Duration::from_secs(3),
//!         request_timeout: Duration::from_secs(120),
//!         first_token_timeout: Duration::from_secs(60),
//!         idle_timeout: Duration::from_secs(30),
//!     })?;
//!     let agents = Agents::new(
//!         pg.clone(),
//!         clock.clone(),
//!         AgentsConfig {
//!             shards: vec![Shard { id: "shard-0".to_owned(), client: gateway }],
//!             readiness_timeout: Duration::from_secs(30),
//!             lease: Duration::from_secs(300),
//!             shard_alive_within: Duration::from_secs(90),
//!             history_messages: 8,
//!         },
//!     );
//!     let (recorder, recorder_task) = TurnRecorder::start(pg.clone());
//!     let cache = AccessCache::new(Duration::ZERO); // zero: no caching
//!     let accounts = Accounts::new(
//!         pg.clone(),
//!         redis.clone(),
//!         AccountsConfig {
//!             jwt_secret: SecretString::from("a-long-random-jwt-secret-from-settings"),
//!             access_token_ttl: Duration::from_secs(15 * 60),
//!             refresh_token_ttl: Duration::from_secs(30 * 24 * 3600),
//!             refresh_reuse_grace: Duration::from_secs(30),
//!             password_reset_ttl: Duration::from_secs(3600),
//!             password_reset_url: "https://heyclaw.example/reset".to_owned(),
//!             limits: AuthLimits::default(),
//!             login_code_ttl: Duration::from_secs(600),
//!             review_account: None,
//!             apple: None,
//!             deletion_token_ttl: Duration::from_secs(600),
//!             password_hashing: PasswordHashing::new(2, Duration::from_secs(5)),
//!         },
//!         Arc::new(LogMailer { content: false }),
//!         Arc::new(agents.clone()),
//!         clock.clone(),
//!         cache.clone(),
//!     );
//!     let automations =
//!         Automations::new(pg.clone(), redis.clone(), agents.clone(), recorder.clone(), clock);
//!     let messaging = Messaging::new(pg, redis, agents, recorder, automations, cache);
//!
//!     let client = ClientInfo::default();
//!     let signed_in = accounts
//!         .signup("ada@example.com", SecretString::from("correct horse battery"), None, &client)
//!         .await?;
//!     let reply = messaging.send(UserId(signed_in.user_id), "Hello!").await?;
//!     println!("{} ({}/{} today)", reply.response, reply.messages_used, reply.messages_limit);
//!
//!     drop(messaging); // the last senders of the recorder's queue…
//!     recorder_task.finish(Duration::from_secs(10)).await; // …then flush it
//!     Ok(())
//! }
//! ```

#![deny(missing_docs)]

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
