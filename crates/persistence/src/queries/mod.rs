//! Query functions. Each takes `&mut AsyncPgConnection`, so the caller picks
//! the transaction it runs in.
//!
//! Conventions, so each function need not repeat them:
//!
//! - every failure is a [`PersistenceError`](crate::PersistenceError), a
//!   statement's as `Query`; none retries;
//! - `Option`/`bool` answers "was there such a row": a missing (or someone
//!   else's) row is `None`/`false`, not an error;
//! - functions that lock rows (`FOR UPDATE`, advisory locks) hold the locks
//!   until the caller's transaction ends; outside a transaction the lock
//!   lasts one statement and protects nothing;
//! - functions that need several statements to be atomic open their own
//!   [`transaction`](crate::transaction) (a savepoint inside the caller's),
//!   and say so;
//! - times that rules depend on are parameters (`now`, `lease_until`), so
//!   the caller's clock decides; the database's own `now()` or the system
//!   clock is used only for bookkeeping stamps, and the functions say so.

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
