//! The seam between accounts and agents: signing up places an agent on a
//! shard, an app opening (a refresh) wakes it ahead of the first turn.
//! [`crate::agents::Agents`] implements it.

use async_trait::async_trait;
use heyclaw_domain::UserId;

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ProvisioningError(pub String);

#[async_trait]
pub trait AgentLifecycle: Send + Sync {
    /// Gives the user an agent on a shard (and starts waking it).
    /// Idempotent.
    async fn provision(&self, user: UserId) -> Result<(), ProvisioningError>;

    /// Starts waking the user's agent in the background; returns at once.
    fn prewake(&self, user: UserId);
}
