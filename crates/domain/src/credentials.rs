//! Rules for what users type when they create an account.

/// Shortest password accepted (the seed's rule).
pub const MIN_PASSWORD_CHARS: usize = 8;
/// Longest password accepted. Argon2 would hash anything, but a megabyte
/// "password" is an attack on the hasher, not a credential; this bound is
/// checked before any hashing happens.
pub const MAX_PASSWORD_CHARS: usize = 128;
/// Longest display or user name accepted.
pub const MAX_NAME_CHARS: usize = 100;

/// Why a new password was refused. The messages can be shown to users.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PasswordError {
    /// The password is empty.
    #[error("Password is required")]
    Missing,
    /// Fewer than [`MIN_PASSWORD_CHARS`] characters.
    #[error("Password must be at least 8 characters")]
    TooShort,
    /// More than [`MAX_PASSWORD_CHARS`] characters.
    #[error("Password must be at most 128 characters")]
    TooLong,
}

/// Checks a new password against the length rules. Characters, not bytes,
/// are counted, so non-Latin passwords are not penalised. Whitespace is
/// part of the password: nothing is trimmed.
///
/// # Errors
/// [`PasswordError::Missing`], [`PasswordError::TooShort`] or
/// [`PasswordError::TooLong`].
pub fn check_new_password(password: &str) -> Result<(), PasswordError> {
    if password.is_empty() {
        return Err(PasswordError::Missing);
    }
    // Counting stops early so an absurdly long input costs nothing.
    match password.chars().take(MAX_PASSWORD_CHARS + 1).count() {
        n if n < MIN_PASSWORD_CHARS => Err(PasswordError::TooShort),
        n if n > MAX_PASSWORD_CHARS => Err(PasswordError::TooLong),
        _ => Ok(()),
    }
}

/// Whether a password could ever have been accepted: a login with a longer
/// one is rejected without hashing it.
pub fn is_plausible_password(password: &str) -> bool {
    !password.is_empty()
        && password.chars().take(MAX_PASSWORD_CHARS + 1).count() <= MAX_PASSWORD_CHARS
}

/// Why a name was refused. The messages can be shown to users.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    /// More than [`MAX_NAME_CHARS`] characters once trimmed.
    #[error("Name must be at most 100 characters")]
    TooLong,
    /// The name holds a control character (a newline, a tab, NUL, …).
    #[error("Name must not contain control characters")]
    ControlCharacters,
}

/// Trims a person's or assistant's name; blank (or `None`) means "no name"
/// and gives `Ok(None)`.
///
/// # Errors
/// [`NameError::ControlCharacters`] or [`NameError::TooLong`] (counted in
/// characters, after trimming).
pub fn clean_name(raw: Option<&str>) -> Result<Option<String>, NameError> {
    let Some(name) = raw.map(str::trim).filter(|n| !n.is_empty()) else {
        return Ok(None);
    };
    if name.chars().any(char::is_control) {
        return Err(NameError::ControlCharacters);
    }
    if name.chars().count() > MAX_NAME_CHARS {
        return Err(NameError::TooLong);
    }
    Ok(Some(name.to_owned()))
}

/// Longest avatar URL accepted.
pub const MAX_AVATAR_URL_CHARS: usize = 2048;

/// Why an avatar URL was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum AvatarUrlError {
    /// Not an absolute `https` URL with a host (this includes text that is
    /// not a URL at all).
    #[error("avatar_url must be an https URL")]
    NotHttps,
    /// More than [`MAX_AVATAR_URL_CHARS`] characters once trimmed.
    #[error("avatar_url must be at most 2048 characters")]
    TooLong,
}

/// Checks an avatar URL: an absolute `https` URL with a host, at most 2,048
/// characters. The app shows it as an image, so nothing else is accepted
/// (no `http`, `data:` or `javascript:`). Returns the URL trimmed, otherwise
/// as given (not normalised).
///
/// # Errors
/// [`AvatarUrlError::TooLong`] or [`AvatarUrlError::NotHttps`].
pub fn check_avatar_url(raw: &str) -> Result<String, AvatarUrlError> {
    let raw = raw.trim();
    if raw.chars().count() > MAX_AVATAR_URL_CHARS {
        return Err(AvatarUrlError::TooLong);
    }
    let parsed = url::Url::parse(raw).map_err(|_| AvatarUrlError::NotHttps)?;
    if parsed.scheme() != "https" || parsed.host_str().is_none_or(str::is_empty) {
        return Err(AvatarUrlError::NotHttps);
    }
    Ok(raw.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn avatar_urls_are_https_and_bounded() {
        assert_eq!(
            check_avatar_url(" https://cdn.example.com/a.png "),
            Ok("https://cdn.example.com/a.png".to_owned())
        );
        for bad in [
            "http://example.com/a.png",
            "javascript:alert(1)",
            "data:image/png;base64,AA",
            "https://",
            "not a url",
            "",
        ] {
            assert_eq!(
                check_avatar_url(bad),
                Err(AvatarUrlError::NotHttps),
                "{bad}"
            );
        }
        let long = format!("https://example.com/{}", "a".repeat(2048));
        assert_eq!(check_avatar_url(&long), Err(AvatarUrlError::TooLong));
    }

    #[test]
    fn password_lengths() {
        assert_eq!(check_new_password(""), Err(PasswordError::Missing));
        assert_eq!(check_new_password("1234567"), Err(PasswordError::TooShort));
        assert_eq!(check_new_password("12345678"), Ok(()));
        assert_eq!(
            check_new_password("пароль12"),
            Ok(()),
            "8 Cyrillic characters"
        );
        assert_eq!(check_new_password(&"x".repeat(128)), Ok(()));
        assert_eq!(
            check_new_password(&"x".repeat(129)),
            Err(PasswordError::TooLong)
        );
        assert!(!is_plausible_password(&"x".repeat(10_000)));
    }

    #[test]
    fn names() {
        assert_eq!(clean_name(None), Ok(None));
        assert_eq!(clean_name(Some("   ")), Ok(None));
        assert_eq!(clean_name(Some("  Zoë 王 ")), Ok(Some("Zoë 王".to_owned())));
        assert_eq!(
            clean_name(Some("a\u{7}b")),
            Err(NameError::ControlCharacters)
        );
        assert_eq!(clean_name(Some(&"n".repeat(101))), Err(NameError::TooLong));
    }
}
