//! Per-user OpenClaw agents on disk: workspaces created from `templates/`,
//! the gateway's agent roster as typed data written atomically and in
//! batches, and the hook that makes `openclaw.json` include that roster.
//!
//! It knows nothing of the database or HTTP; the `app` crate decides *which*
//! agents exist and calls this crate to make the files say so. Paths are
//! derived from [`AgentId`](heyclaw_domain::AgentId)s only, never from user input.

mod atomic;
mod config_file;
mod error;
mod gateway_config;
mod reload;
mod roster;
mod workspace;
mod writer;

pub use config_file::{ROSTER_FILE_NAME, include_roster};
pub use error::ProvisioningError;
pub use gateway_config::{
    GatewayConfigOptions, RESERVED_AGENT_ID, base_config, reserved_entry, write_if_missing,
};
pub use reload::{ContainerRestarter, Reload};
pub use roster::{AgentEntry, Roster, is_managed_agent_id, tool_policy};
pub use workspace::{TEMPLATE_FILES, Workspaces};
pub use writer::{RosterChange, RosterWriter};
