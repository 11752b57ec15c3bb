//! Credentials: password hashing, access and refresh tokens, attempt limits.

pub mod limits;
pub mod passwords;
pub mod tokens;

/// Whether two secrets are equal, compared in time that depends only on
/// their lengths (not on where they first differ), so a wrong guess reveals
/// nothing but its length. Used for the App Store review account's code.
///
/// ```
/// use heyclaw_app::auth::constant_time_eq;
///
/// assert!(constant_time_eq(b"123456", b"123456"));
/// assert!(!constant_time_eq(b"123456", b"123457"));
/// assert!(!constant_time_eq(b"123456", b"12345"));
/// ```
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
