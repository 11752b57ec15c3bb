use std::fmt;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// A user's id: a random UUID chosen by the database, never by the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct UserId(
    /// The UUID itself.
    pub Uuid,
);

impl fmt::Display for UserId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// The OpenClaw agent id of a user: `agent-<user uuid>`.
///
/// It is derived only from the user's UUID, so it always matches the
/// gateway's id pattern `^[a-z0-9_][a-z0-9_-]{0,63}$` and can never carry a
/// path separator: it is safe to use as a directory name.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct AgentId(String);

impl AgentId {
    /// `agent-<uuid>`, the UUID lower-case and hyphenated.
    ///
    /// ```
    /// use heyclaw_domain::{AgentId, UserId};
    /// use uuid::Uuid;
    ///
    /// let user = UserId(Uuid::nil());
    /// assert_eq!(
    ///     AgentId::for_user(user).as_str(),
    ///     "agent-00000000-0000-0000-0000-000000000000"
    /// );
    /// ```
    pub fn for_user(user: UserId) -> Self {
        // `Uuid`'s hyphenated form is lowercase hex, as the gateway requires.
        Self(format!("agent-{}", user.0.hyphenated()))
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for AgentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn agent_id_matches_the_gateway_pattern() {
        let user = UserId(Uuid::new_v4());
        let id = AgentId::for_user(user);
        let s = id.as_str();
        assert!(s.len() <= 64);
        assert!(s.starts_with("agent-"));
        assert!(
            s.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
        );
    }
}
