//! OpenClaw gateways on disk: the base config, the agent roster (a fixed
//! pool of slot agents) written atomically, the hook that makes
//! `openclaw.json` include that roster, and slot workspaces filled from and
//! read back into a user's archived files.
//!
//! It knows nothing of the database or HTTP; the keeper decides *who* is in
//! which slot and calls this crate to make the files say so. Paths are
//! derived from slot numbers and checked relative paths, never from user
//! input.

mod atomic;
mod config_file;
mod error;
mod gateway_config;
mod roster;
mod workspace;
mod writer;

pub use config_file::{ROSTER_FILE_NAME, include_roster};
pub use error::ProvisioningError;
pub use gateway_config::{
    GatewayConfigOptions, RESERVED_AGENT_ID, base_config, prepare_gateway, reserved_entry,
};
pub use roster::{
    Roster, is_legacy_agent_id, is_managed_agent_id, slot_id, slot_number, tool_policy,
};
pub use workspace::{
    MAX_WORKSPACE_BYTES, MAX_WORKSPACE_FILES, TEMPLATE_FILES, Templates, WorkspaceFile,
    fill_workspace, is_workspace_path, read_workspace, set_user_field, wipe_workspace,
};
pub use writer::{read_roster, write_roster};
