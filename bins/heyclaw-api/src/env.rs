//! Reading typed values out of the process environment, with errors that
//! name the variable and say what was expected. Values of secret variables
//! never appear in an error.

use std::{collections::HashMap, path::PathBuf, str::FromStr, time::Duration};

use secrecy::SecretString;

/// A setting that is missing or invalid: start-up stops with this one line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{variable}: {problem}")]
pub struct SettingsError {
    pub variable: &'static str,
    pub problem: String,
}

/// A snapshot of the environment. Empty values count as unset, because
/// docker compose blanks variables with `VAR: ""`.
pub struct Env(HashMap<String, String>);

impl Env {
    pub fn from_process() -> Self {
        Self::from_pairs(std::env::vars())
    }

    pub fn from_pairs<K: Into<String>, V: Into<String>>(
        pairs: impl IntoIterator<Item = (K, V)>,
    ) -> Self {
        Self(
            pairs
                .into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .filter(|(_, v)| !v.trim().is_empty())
                .collect(),
        )
    }

    pub fn optional(&self, variable: &'static str) -> Option<&str> {
        self.0.get(variable).map(|v| v.trim())
    }

    pub fn required(&self, variable: &'static str, expected: &str) -> Result<&str, SettingsError> {
        self.optional(variable)
            .ok_or_else(|| invalid(variable, format!("is missing; expected {expected}")))
    }

    pub fn string_or(&self, variable: &'static str, default: &str) -> String {
        self.optional(variable).unwrap_or(default).to_owned()
    }

    pub fn parsed_or<T: FromStr>(
        &self,
        variable: &'static str,
        default: T,
        expected: &str,
    ) -> Result<T, SettingsError> {
        match self.optional(variable) {
            None => Ok(default),
            Some(raw) => raw
                .parse()
                .map_err(|_| invalid(variable, format!("expected {expected}, got {raw:?}"))),
        }
    }

    pub fn secret(
        &self,
        variable: &'static str,
        min_len: usize,
        expected: &str,
    ) -> Result<SecretString, SettingsError> {
        let value = self.required(variable, expected)?;
        check_secret_len(variable, value, min_len, expected)?;
        Ok(SecretString::from(value.to_owned()))
    }

    pub fn optional_secret(&self, variable: &'static str) -> Option<SecretString> {
        self.optional(variable)
            .map(|v| SecretString::from(v.to_owned()))
    }

    pub fn url_or(
        &self,
        variable: &'static str,
        default: &str,
        schemes: &[&str],
    ) -> Result<String, SettingsError> {
        let value = self.optional(variable).unwrap_or(default);
        check_url(variable, value, schemes)?;
        Ok(value.trim_end_matches('/').to_owned())
    }

    /// A URL that may embed a password (database, Redis): validated by
    /// scheme only, and never echoed.
    pub fn secret_url(
        &self,
        variable: &'static str,
        schemes: &[&str],
    ) -> Result<SecretString, SettingsError> {
        let expected = format!("a {}:// URL", schemes.join(":// or "));
        let value = self.required(variable, &expected)?;
        if !schemes
            .iter()
            .any(|s| value.starts_with(&format!("{s}://")))
        {
            return Err(invalid(
                variable,
                format!("expected {expected} (value not shown)"),
            ));
        }
        Ok(SecretString::from(value.to_owned()))
    }

    pub fn path_or(&self, variable: &'static str, default: &str) -> PathBuf {
        PathBuf::from(self.optional(variable).unwrap_or(default))
    }

    /// A positive duration.
    pub fn duration_or(
        &self,
        variable: &'static str,
        default: Duration,
    ) -> Result<Duration, SettingsError> {
        self.duration(variable, default, false)
    }

    /// A duration that may be zero ("never wait").
    pub fn duration_or_zero(
        &self,
        variable: &'static str,
        default: Duration,
    ) -> Result<Duration, SettingsError> {
        self.duration(variable, default, true)
    }

    fn duration(
        &self,
        variable: &'static str,
        default: Duration,
        allow_zero: bool,
    ) -> Result<Duration, SettingsError> {
        match self.optional(variable) {
            None => Ok(default),
            Some(raw) => heyclaw_domain::parse_setting_duration(raw)
                .filter(|d| allow_zero || !d.is_zero())
                .ok_or_else(|| {
                    invalid(
                        variable,
                        format!(
                            "expected a duration such as 900, 500ms, 90s, 15m, 12h or 30d, got {raw:?}"
                        ),
                    )
                }),
        }
    }

    pub fn bool_or(&self, variable: &'static str, default: bool) -> Result<bool, SettingsError> {
        match self
            .optional(variable)
            .map(str::to_ascii_lowercase)
            .as_deref()
        {
            None => Ok(default),
            Some("1" | "true" | "yes" | "on") => Ok(true),
            Some("0" | "false" | "no" | "off") => Ok(false),
            Some(other) => Err(invalid(
                variable,
                format!("expected true or false, got {other:?}"),
            )),
        }
    }
}

pub fn invalid(variable: &'static str, problem: impl Into<String>) -> SettingsError {
    SettingsError {
        variable,
        problem: problem.into(),
    }
}

fn check_secret_len(
    variable: &'static str,
    value: &str,
    min_len: usize,
    expected: &str,
) -> Result<(), SettingsError> {
    if value.len() < min_len {
        return Err(invalid(
            variable,
            format!(
                "is too short ({} characters); expected {expected}",
                value.len()
            ),
        ));
    }
    Ok(())
}

fn check_url(variable: &'static str, value: &str, schemes: &[&str]) -> Result<(), SettingsError> {
    let ok = schemes.iter().any(|scheme| {
        value
            .strip_prefix(scheme)
            .and_then(|rest| rest.strip_prefix("://"))
            .is_some_and(|rest| !rest.is_empty() && !rest.contains(char::is_whitespace))
    });
    if ok {
        Ok(())
    } else {
        Err(invalid(
            variable,
            format!("expected a {} URL, got {value:?}", schemes.join(" or ")),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_values_count_as_unset() {
        let env = Env::from_pairs([("A", ""), ("B", "  "), ("C", "x")]);
        assert_eq!(env.optional("A"), None);
        assert_eq!(env.optional("B"), None);
        assert_eq!(env.optional("C"), Some("x"));
    }

    #[test]
    fn secret_urls_are_never_echoed() {
        let env = Env::from_pairs([("DATABASE_URL", "mysql://user:hunter2@db/app")]);
        let err = env
            .secret_url("DATABASE_URL", &["postgres", "postgresql"])
            .unwrap_err();
        assert!(!err.to_string().contains("hunter2"), "{err}");
        assert!(err.to_string().starts_with("DATABASE_URL: "));
    }
}
