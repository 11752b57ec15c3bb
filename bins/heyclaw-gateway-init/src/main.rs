//! `heyclaw-gateway-init`: the gateway container's entrypoint runs this
//! before `openclaw gateway`. It writes the base `openclaw.json` only when
//! it is missing (so an operator's edits survive restarts, as in the seed),
//! and makes sure the agent roster it includes exists and is never empty.
//! The config it writes is `heyclaw_agent_provisioning::base_config` — the
//! same code `cargo xtask dev` and the tests use.

use std::{path::PathBuf, process::ExitCode};

use clap::Parser;
use heyclaw_agent_provisioning::{GatewayConfigOptions, write_if_missing};

#[derive(Parser)]
#[command(about = "Write the OpenClaw gateway's base config if it is missing")]
struct Cli {
    /// The gateway's config file.
    #[arg(
        long,
        env = "OPENCLAW_CONFIG_PATH",
        default_value = "/root/.openclaw/openclaw.json"
    )]
    config: PathBuf,
    /// The workspaces directory as the gateway sees it.
    #[arg(
        long,
        env = "WORKSPACES_DIR",
        default_value = "/root/.openclaw/workspaces"
    )]
    workspaces: PathBuf,
    #[arg(long, env = "OPENCLAW_GATEWAY_PORT", default_value_t = 18789)]
    port: u16,
    /// `lan` in a container, `loopback` on a host.
    #[arg(long, default_value = "lan")]
    bind: String,
    /// The OpenAI-compatible endpoint for `openai-custom/gpt-5-nano`.
    #[arg(
        long,
        env = "OPENAI_BASE_URL",
        default_value = "https://api.openai.com/v1"
    )]
    model_base_url: String,
    /// Where the gateway writes its log.
    #[arg(long, env = "OPENCLAW_LOG_FILE")]
    log_file: Option<PathBuf>,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let options = GatewayConfigOptions {
        port: cli.port,
        bind: cli.bind,
        model_base_url: cli.model_base_url,
        log_file: cli.log_file,
    };
    match write_if_missing(&cli.config, &options, &cli.workspaces) {
        Ok(true) => {
            println!("heyclaw-gateway-init: wrote {}", cli.config.display());
            ExitCode::SUCCESS
        }
        Ok(false) => {
            println!(
                "heyclaw-gateway-init: kept existing {}",
                cli.config.display()
            );
            ExitCode::SUCCESS
        }
        Err(err) => {
            eprintln!("heyclaw-gateway-init: {err}");
            ExitCode::FAILURE
        }
    }
}
