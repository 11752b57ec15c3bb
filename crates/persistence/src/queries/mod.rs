//! Query functions. Each takes `&mut AsyncPgConnection`, so the caller picks
//! the transaction it runs in.

pub mod accounts;
pub mod agent_files;
pub mod assistants;
pub mod automations;
pub mod chat;
pub mod import;
pub mod login_codes;
pub mod password_resets;
pub mod profile;
pub mod refresh_tokens;
pub mod slots;
pub mod subscriptions;
pub mod turns;
pub mod usage;
