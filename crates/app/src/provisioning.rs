//! The seam between accounts and agents: signing up places an agent on a
//! shard, an app opening (a refresh) wakes it ahead of the first turn.
//! [`crate::agents::Agents`] implements it.

use async_trait::async_trait;
use heyclaw_domain::UserId;

/// Why an agent could not be placed. Sign-up logs it and carries on: the
/// account stands, and the agent is placed at its first turn or
/// `POST /agent/provision`.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ProvisioningError(
    /// What failed, for the log (not shown to the user).
    pub String,
);

/// What accounts need of agents. Implemented by [`crate::agents::Agents`];
/// tests may pass a stand-in.
#[async_trait]
pub trait AgentLifecycle: Send + Sync {
    /// Gives the user an agent on a shard (and starts waking it in the
    /// background). Called once an account exists, after its transaction
    /// has committed.
    ///
    /// Safe to repeat, but not a no-op: [`crate::agents::Agents`] picks the
    /// shard with the most room again each time, so a hibernated agent may
    /// move (its files are archived in Postgres, so nothing is lost).
    ///
    /// # Errors
    ///
    /// [`ProvisioningError`] when the agent could not be placed (no shard
    /// configured, the database failed); callers log it and go on.
    async fn provision(&self, user: UserId) -> Result<(), ProvisioningError>;

    /// Starts waking the user's agent in the background and returns at once
    /// (called on a token refresh: the app just opened). Failures are only
    /// logged; the first turn wakes the agent if this did not.
    fn prewake(&self, user: UserId);
}
