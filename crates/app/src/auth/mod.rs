//! Credentials: password hashing, access and refresh tokens, attempt limits.

pub mod limits;
pub mod passwords;
pub mod tokens;
