//! Credentials: password hashing, access and refresh tokens, attempt limits.

pub mod limits;
pub mod passwords;
pub mod tokens;

/// Compares two secrets in time that depends only on their lengths.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
