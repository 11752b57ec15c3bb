use std::fmt;

/// An e-mail address as HeyClaw stores it: trimmed and lower-cased, so that
/// two spellings of one address can never become two accounts.
///
/// Validation is deliberately modest — one `@`, a non-empty local part, a
/// dotted domain, no spaces or control characters, RFC 5321 lengths. Only a
/// delivered mail proves an address; this only rejects what cannot be one.
///
/// ```
/// use heyclaw_domain::{Email, EmailError};
///
/// let email = Email::parse("  Ada.Lovelace@Example.COM ")?;
/// assert_eq!(email.as_str(), "ada.lovelace@example.com");
/// assert_eq!(Email::parse("ada@localhost"), Err(EmailError::Malformed));
/// # Ok::<(), EmailError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Email(String);

/// Why [`Email::parse`] refused an address. The messages can be shown to
/// users.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum EmailError {
    /// Nothing but whitespace.
    #[error("Email is required")]
    Empty,
    /// More than 254 bytes once trimmed.
    #[error("Email address is too long")]
    TooLong,
    /// Anything else that cannot be an address: no `@`, an empty or
    /// over-long (64 bytes) local part, a domain without a dot, spaces,
    /// control or forbidden characters, misplaced dots or hyphens.
    #[error("Email address is not valid")]
    Malformed,
}

const MAX_EMAIL_LEN: usize = 254;
const MAX_LOCAL_LEN: usize = 64;
const FORBIDDEN: &[char] = &['<', '>', '(', ')', ',', ';', ':', '"', '[', ']', '\\', '@'];

impl Email {
    /// Trims, lower-cases and checks an address.
    ///
    /// # Errors
    /// [`EmailError::Empty`], [`EmailError::TooLong`] or
    /// [`EmailError::Malformed`].
    pub fn parse(raw: &str) -> Result<Self, EmailError> {
        let trimmed = raw.trim();
        if trimmed.is_empty() {
            return Err(EmailError::Empty);
        }
        if trimmed.len() > MAX_EMAIL_LEN {
            return Err(EmailError::TooLong);
        }
        let normalised = trimmed.to_lowercase();
        let (local, domain) = normalised.rsplit_once('@').ok_or(EmailError::Malformed)?;
        let valid_part = |part: &str| {
            !part.is_empty()
                && !part
                    .chars()
                    .any(|c| c.is_whitespace() || c.is_control() || FORBIDDEN.contains(&c))
        };
        let domain_ok = valid_part(domain)
            && domain.contains('.')
            && domain
                .split('.')
                .all(|label| !label.is_empty() && !label.starts_with('-'));
        let local_ok = valid_part(local)
            && local.len() <= MAX_LOCAL_LEN
            && !local.starts_with('.')
            && !local.ends_with('.')
            && !local.contains("..");
        if local_ok && domain_ok {
            Ok(Self(normalised))
        } else {
            Err(EmailError::Malformed)
        }
    }

    /// The address, trimmed and lower-cased.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn normalises_case_and_whitespace() {
        let email = Email::parse("  Alice.Smith@Example.COM \n").unwrap();
        assert_eq!(email.as_str(), "alice.smith@example.com");
    }

    #[test]
    fn accepts_unicode_and_plus_addressing() {
        assert!(Email::parse("zoë+tag@exämple.de").is_ok());
        assert!(Email::parse("abc123@privaterelay.appleid.com").is_ok());
    }

    #[test]
    fn rejects_what_cannot_be_an_address() {
        for bad in [
            "plainaddress",
            "@example.com",
            "alice@",
            "alice@localhost",
            "alice@@example.com",
            "al ice@example.com",
            "alice@exa mple.com",
            "alice@example..com",
            ".alice@example.com",
            "alice.@example.com",
            "a..b@example.com",
            "alice@-example.com",
            "<alice>@example.com",
            "alice@example.com\u{0}",
        ] {
            assert_eq!(Email::parse(bad), Err(EmailError::Malformed), "{bad:?}");
        }
        assert_eq!(Email::parse("   "), Err(EmailError::Empty));
        let long = format!("{}@example.com", "a".repeat(300));
        assert_eq!(Email::parse(&long), Err(EmailError::TooLong));
        let long_local = format!("{}@example.com", "a".repeat(65));
        assert_eq!(Email::parse(&long_local), Err(EmailError::Malformed));
    }

    proptest! {
        #[test]
        fn parsing_is_idempotent(raw in "\\PC{0,80}") {
            if let Ok(email) = Email::parse(&raw) {
                let again = Email::parse(email.as_str()).unwrap();
                prop_assert_eq!(again, email);
            }
        }

        #[test]
        fn spellings_of_one_address_are_equal(local in "[a-z0-9]{1,5}(\\.?[a-z0-9]{1,5}){0,3}", domain in "[a-z]{1,10}\\.[a-z]{2,5}") {
            let lower = Email::parse(&format!("{local}@{domain}")).unwrap();
            let shouted = Email::parse(&format!("  {}@{} ", local.to_uppercase(), domain.to_uppercase())).unwrap();
            prop_assert_eq!(lower, shouted);
        }
    }
}
