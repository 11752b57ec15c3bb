//! `cargo xtask gateway …`: the real OpenClaw gateway for local runs —
//! install the pinned versions, write the base config, run it.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Subcommand;
use heyclaw_agent_provisioning::{GatewayConfigOptions, write_if_missing};
use heyclaw_test_support::real_gateway::GatewayInstall;

#[derive(Subcommand)]
pub enum GatewayCommand {
    /// Install the pinned Node and openclaw into ~/.cache/heyclaw (skipped when present).
    Install,
    /// Write the base gateway config for local runs, if it is missing.
    Config,
}

/// The dev stack's gateway port and the dev model's.
pub const DEV_GATEWAY_PORT: u16 = 18789;
pub const DEV_MODEL_PORT: u16 = 18790;

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

pub fn write_dev_config(
    env: &std::collections::BTreeMap<String, String>,
) -> Result<(PathBuf, bool)> {
    let config_path = PathBuf::from(
        env.get("OPENCLAW_CONFIG_PATH")
            .context("OPENCLAW_CONFIG_PATH")?,
    );
    let workspaces = PathBuf::from(
        env.get("GATEWAY_WORKSPACES_DIR")
            .context("GATEWAY_WORKSPACES_DIR")?,
    );
    let state = crate::dev::dev_dir().join("gateway/state");
    let written = write_if_missing(
        &config_path,
        &GatewayConfigOptions {
            port: DEV_GATEWAY_PORT,
            bind: "loopback".to_owned(),
            model_base_url: model_base_url(),
            log_file: Some(state.join("logs/openclaw.log")),
        },
        &workspaces,
    )?;
    Ok((config_path, written))
}
