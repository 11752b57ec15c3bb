//! OpenClaw gateways on disk: the base config ([`base_config`],
//! [`prepare_gateway`]), the agent roster — the reserved agent plus a fixed
//! pool of slot agents `slot-<n>` — written atomically under a file lock
//! ([`write_roster`]), the hook that makes `openclaw.json` include that
//! roster ([`include_roster`]), and slot workspaces: rendered from templates
//! for a new user ([`Templates`]), filled from and read back into a user's
//! archived files ([`fill_workspace`], [`read_workspace`],
//! [`wipe_workspace`]).
//!
//! Everything here is blocking file I/O (or pure JSON): call it from a
//! blocking thread (`tokio::task::spawn_blocking`), not from an async
//! runtime's workers.
//!
//! # What it must not do
//!
//! It knows nothing of the database, users or HTTP; the keeper decides
//! *who* is in which slot and calls this crate to make the files say so.
//! Paths are derived from slot numbers and checked relative paths
//! ([`is_workspace_path`]), never from user input, and links found in a
//! workspace are never followed. It never replaces an existing gateway
//! config (it only adds the roster include to one), never writes a secret
//! into one, and never touches roster entries it does not manage (an
//! operator's own agents).
//!
//! # Example
//!
//! A gateway with two slots, and a new user's workspace in slot 0:
//!
//! ```
//! use heyclaw_agent_provisioning::{
//!     GatewayConfigOptions, ROSTER_FILE_NAME, TEMPLATE_FILES, Templates, fill_workspace,
//!     prepare_gateway, read_roster, read_workspace, slot_id,
//! };
//!
//! let root = std::env::temp_dir().join(format!("heyclaw-provisioning-{}", std::process::id()));
//! let config = root.join("openclaw.json");
//! let workspaces = root.join("workspaces");
//!
//! // The config is written because it is missing; the roster holds the
//! // reserved agent and slot-0, slot-1.
//! let options = GatewayConfigOptions {
//!     port: 18789,
//!     bind: "loopback".into(),
//!     model_base_url: "https://api.openai.com/v1".into(),
//!     log_file: None,
//!     prompt_plugin_dir: None,
//! };
//! assert!(prepare_gateway(&config, &options, &workspaces, 2)?);
//! let roster = read_roster(&root.join(ROSTER_FILE_NAME))?;
//! assert_eq!(roster.len(), 3);
//! assert!(roster.contains("heyclaw-reserved") && roster.contains("slot-1"));
//! // A second call changes nothing.
//! assert!(!prepare_gateway(&config, &options, &workspaces, 2)?);
//!
//! // Templates (the repository's `templates/` has real ones).
//! let templates_dir = root.join("templates");
//! std::fs::create_dir_all(&templates_dir)?;
//! for name in TEMPLATE_FILES {
//!     std::fs::write(templates_dir.join(name), format!("# {name}\n"))?;
//! }
//! std::fs::write(templates_dir.join("USER.md"), "# User\n- Name: {{name}}\n")?;
//!
//! let files = Templates::load(&templates_dir)?.render(Some("Ada"));
//! let slot = workspaces.join(slot_id(0));
//! fill_workspace(&slot, &files)?;
//! assert_eq!(std::fs::read_to_string(slot.join("USER.md"))?, "# User\n- Name: Ada\n");
//! assert_eq!(read_workspace(&slot)?.len(), TEMPLATE_FILES.len());
//! # std::fs::remove_dir_all(&root)?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! `examples/render.rs` does the same into a directory of your choice:
//! `cargo run -p heyclaw-agent-provisioning --example render -- /tmp/gw`.

#![deny(missing_docs)]

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
