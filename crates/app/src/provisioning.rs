//! The seam between accounts and agents: signing up asks for an agent,
//! deleting an account removes it. `heyclaw-agent-provisioning` implements
//! it for the real gateway.

use async_trait::async_trait;
use heyclaw_domain::UserId;

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ProvisioningError(pub String);

#[async_trait]
pub trait AgentLifecycle: Send + Sync {
    /// Makes sure the user's agent exists and is usable. Idempotent.
    async fn provision(&self, user: UserId, name: Option<&str>) -> Result<(), ProvisioningError>;

    /// Removes the user's agent (gateway entry and workspace). Idempotent.
    async fn deprovision(&self, user: UserId) -> Result<(), ProvisioningError>;
}
