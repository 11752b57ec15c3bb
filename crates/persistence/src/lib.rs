//! HeyClaw's storage: PostgreSQL through diesel-async and Redis through
//! deadpool-redis.
//!
//! It owns the schema (`schema.rs`, generated from `migrations/`), the
//! embedded migrations, the two connection pools and the query functions.
//! Query functions take `&mut AsyncPgConnection` so callers decide where the
//! transaction boundaries lie. Nothing here knows HTTP or business rules
//! beyond what a query needs to stay correct under concurrency.

pub mod admin;
mod error;
mod migrations;
pub mod models;
pub mod notify;
pub mod original;
mod pg;
pub mod queries;
mod redis_store;
pub mod schema;
mod transaction;

pub use diesel_async::AsyncPgConnection;
pub use error::PersistenceError;
pub use migrations::{MIGRATIONS, pending_migrations, run_migrations};
pub use pg::{PgPool, PgPoolSettings, PooledPg, check_connection, connect_pg_pool, establish};
pub use redis_store::{AttemptCount, RedisPoolSettings, RedisStore, Reservation};
pub use transaction::transaction;
