//! `cargo xtask gateway …`: the real OpenClaw gateway for local runs —
//! install the pinned versions, write the base config and slot roster.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Subcommand;
use heyclaw_agent_provisioning::GatewayConfigOptions;
use heyclaw_keeper::KeeperConfig;
use heyclaw_test_support::real_gateway::GatewayInstall;

#[derive(Subcommand)]
pub enum GatewayCommand {
    /// Install the pinned Node and openclaw into ~/.cache/heyclaw (skipped when present).
    Install,
    /// Write the base gateway config for local runs (if it is missing) and
    /// its slot roster.
    Config,
}

/// The dev stack's gateway port and the dev model's.
pub const DEV_GATEWAY_PORT: u16 = 18789;
pub const DEV_MODEL_PORT: u16 = 18790;
/// Slot agents of the dev gateway.
pub const DEV_SLOTS: u32 = 16;

pub fn run(command: GatewayCommand) -> Result<()> {
    match command {
        GatewayCommand::Install => install().map(|_| ()),
        GatewayCommand::Config => {
            let env = crate::dev::environment()?;
            let (path, written) = write_dev_config(&env)?;
            println!(
                "{} {}",
                if written { "wrote" } else { "kept existing" },
                path.display()
            );
            Ok(())
        }
    }
}

pub fn install() -> Result<GatewayInstall> {
    // HeyClaw's patches to openclaw are applied with GNU patch.
    crate::tools::ensure_debian_packages(&["/usr/bin/patch"], &["patch"])?;
    let install = GatewayInstall::pinned();
    if install.is_installed() {
        println!(
            "openclaw {} is installed in {}",
            heyclaw_test_support::real_gateway::openclaw_version(),
            install.openclaw_dir.display()
        );
    }
    install.install().map_err(anyhow::Error::msg)?;
    Ok(install)
}

/// The model the local gateway calls: the real provider when
/// `OPENAI_API_KEY` is set, else the offline dev model.
pub fn model_base_url() -> String {
    if std::env::var("OPENAI_API_KEY").is_ok_and(|key| !key.trim().is_empty()) {
        std::env::var("OPENAI_BASE_URL").unwrap_or_else(|_| "https://api.openai.com/v1".to_owned())
    } else {
        format!("http://127.0.0.1:{DEV_MODEL_PORT}/v1")
    }
}

/// The dev gateway's keeper, as `environment()` describes it.
pub fn dev_keeper_config(env: &std::collections::BTreeMap<String, String>) -> Result<KeeperConfig> {
    let get = |key: &str| env.get(key).cloned().with_context(|| key.to_owned());
    let workspaces = PathBuf::from(get("WORKSPACES_DIR")?);
    let state = crate::dev::dev_dir().join("gateway/state");
    Ok(KeeperConfig {
        gateway_id: get("GATEWAY_ID")?,
        config_path: PathBuf::from(get("OPENCLAW_CONFIG_PATH")?),
        gateway_workspaces_dir: workspaces.clone(),
        workspaces_dir: workspaces,
        slots: get("GATEWAY_MAX_RESIDENT_AGENTS")?
            .parse()
            .context("GATEWAY_MAX_RESIDENT_AGENTS")?,
        idle_timeout: std::time::Duration::from_secs(1800),
        reconcile_interval: std::time::Duration::from_secs(30),
        gateway: GatewayConfigOptions {
            port: DEV_GATEWAY_PORT,
            bind: "loopback".to_owned(),
            model_base_url: model_base_url(),
            log_file: Some(state.join("logs/openclaw.log")),
            prompt_plugin_dir: env.get("OPENCLAW_PLUGIN_DIR").map(PathBuf::from),
        },
    })
}

pub fn write_dev_config(
    env: &std::collections::BTreeMap<String, String>,
) -> Result<(PathBuf, bool)> {
    let config = dev_keeper_config(env)?;
    let written = heyclaw_keeper::prepare(&config)?;
    Ok((config.config_path, written))
}
