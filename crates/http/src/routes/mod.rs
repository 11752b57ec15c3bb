pub mod agent;
pub mod auth;
pub mod billing;
pub mod chat;
pub mod health;
pub mod transcribe;
pub mod user;
pub mod voice;
