//! `heyclaw-keeper`: runs beside one OpenClaw gateway (in its container).
//! `init` writes the gateway's config (if missing) and slot roster before
//! the gateway starts; `run` keeps the slots' files in step with the
//! database until stopped (SIGTERM/ctrl-c). See the library docs.

use std::{path::PathBuf, process::ExitCode, time::Duration};

use clap::{Parser, Subcommand};
use heyclaw_agent_provisioning::{GatewayConfigOptions, Templates};
use heyclaw_domain::parse_setting_duration;
use heyclaw_gateway_client::{GatewayClient, GatewayConfig};
use heyclaw_keeper::{
    Keeper, KeeperConfig, prepare,
    sessions::clean_up_sessions,
    warm::{RETRY_PAUSE, warm_idle_slots},
};
use heyclaw_persistence::PgPoolSettings;

#[derive(Parser)]
#[command(about = "Keeps one OpenClaw gateway's config, roster and slot workspaces")]
struct Cli {
    #[command(subcommand)]
    command: Command,
    /// This gateway's shard id (`assistants.gateway_id`).
    #[arg(long, env = "GATEWAY_ID", default_value = "default", global = true)]
    gateway_id: String,
    /// The gateway's config file; the roster is written beside it.
    #[arg(
        long,
        env = "OPENCLAW_CONFIG_PATH",
        default_value = "/root/.openclaw/openclaw.json",
        global = true
    )]
    config: PathBuf,
    /// The slot workspaces, as this process sees them.
    #[arg(long, env = "WORKSPACES_DIR", default_value = "/w", global = true)]
    workspaces: PathBuf,
    /// The same directory as the gateway sees it (default: the same path).
    #[arg(long, env = "GATEWAY_WORKSPACES_DIR", global = true)]
    gateway_workspaces: Option<PathBuf>,
    /// Slot agents: the most users resident on this gateway at once.
    #[arg(
        long,
        env = "GATEWAY_MAX_RESIDENT_AGENTS",
        default_value_t = 24,
        global = true
    )]
    slots: u32,
    #[arg(
        long,
        env = "OPENCLAW_GATEWAY_PORT",
        default_value_t = 18789,
        global = true
    )]
    port: u16,
    /// `lan` in a container, `loopback` on a host.
    #[arg(long, default_value = "lan", global = true)]
    bind: String,
    /// The OpenAI-compatible endpoint for `openai-custom/gpt-5-nano`.
    #[arg(
        long,
        env = "OPENAI_BASE_URL",
        default_value = "https://api.openai.com/v1",
        global = true
    )]
    model_base_url: String,
    /// Where the gateway writes its log.
    #[arg(long, env = "OPENCLAW_LOG_FILE", global = true)]
    log_file: Option<PathBuf>,
    /// HeyClaw's OpenClaw plugin, which trims each turn's system prompt
    /// (the gateway image has it in `/app/openclaw-plugin`); unset: the
    /// gateway sends OpenClaw's whole prompt.
    #[arg(long, env = "OPENCLAW_PLUGIN_DIR", global = true)]
    prompt_plugin_dir: Option<PathBuf>,
}

#[derive(Subcommand)]
enum Command {
    /// Write the config (if missing) and the slot roster, then exit.
    Init,
    /// Keep the slots in step with the database until stopped.
    Run(RunArgs),
}

#[derive(clap::Args)]
struct RunArgs {
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    database_url: String,
    /// Workspace templates for new users.
    #[arg(long, env = "TEMPLATES_DIR", default_value = "templates")]
    templates: PathBuf,
    /// A user not served for this long leaves their slot.
    #[arg(long, env = "AGENT_IDLE_TIMEOUT", default_value = "30m", value_parser = duration)]
    idle_timeout: Duration,
    /// Time between full passes (the safety net under LISTEN/NOTIFY).
    #[arg(long, env = "KEEPER_RECONCILE_INTERVAL", default_value = "30s", value_parser = duration)]
    reconcile_interval: Duration,
    /// Once the gateway answers, send each idle slot one short turn, so the
    /// first users after a start do not pay the gateway's per-agent warm-up
    /// (one model call per idle slot per start).
    #[arg(long, env = "KEEPER_WARM_SLOTS", default_value_t = true, action = clap::ArgAction::Set)]
    warm_slots: bool,
    /// The gateway's token, for the warm-up turns and session maintenance.
    #[arg(long, env = "OPENCLAW_GATEWAY_TOKEN", hide_env_values = true)]
    gateway_token: Option<String>,
    /// How often OpenClaw's session maintenance is applied (the gateway's
    /// config leaves it off the turn path; see `heyclaw_keeper::sessions`).
    #[arg(long, env = "KEEPER_SESSION_CLEANUP_INTERVAL", default_value = "6h", value_parser = duration)]
    session_cleanup_interval: Duration,
    /// The `openclaw` command, for session maintenance (in the gateway
    /// image it is on `PATH`).
    #[arg(long, env = "OPENCLAW_BIN", default_value = "openclaw")]
    openclaw_bin: PathBuf,
}

/// The longest a session cleanup may run before it is killed.
const SESSION_CLEANUP_TIMEOUT: Duration = Duration::from_secs(600);
/// The first session cleanup after a start comes at most this late.
const FIRST_SESSION_CLEANUP_WITHIN: Duration = Duration::from_secs(600);

fn duration(raw: &str) -> Result<Duration, String> {
    parse_setting_duration(raw)
        .filter(|d| !d.is_zero())
        .ok_or_else(|| format!("expected a duration such as 500ms, 30s, 30m or 1h, got {raw:?}"))
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let cli = Cli::parse();
    let run = match cli.command {
        Command::Init => None,
        Command::Run(args) => Some(args),
    };
    let config = KeeperConfig {
        gateway_id: cli.gateway_id,
        config_path: cli.config,
        gateway_workspaces_dir: cli
            .gateway_workspaces
            .unwrap_or_else(|| cli.workspaces.clone()),
        workspaces_dir: cli.workspaces,
        slots: cli.slots,
        idle_timeout: run
            .as_ref()
            .map_or(Duration::from_secs(1800), |r| r.idle_timeout),
        reconcile_interval: run
            .as_ref()
            .map_or(Duration::from_secs(30), |r| r.reconcile_interval),
        gateway: GatewayConfigOptions {
            port: cli.port,
            bind: cli.bind,
            model_base_url: cli.model_base_url,
            log_file: cli.log_file,
            prompt_plugin_dir: cli.prompt_plugin_dir,
        },
    };
    match prepare(&config) {
        Ok(written) => tracing::info!(
            config = %config.config_path.display(),
            written,
            slots = config.slots,
            "gateway config and roster ready"
        ),
        Err(err) => {
            tracing::error!(error = %err, "cannot prepare the gateway's files");
            return ExitCode::FAILURE;
        }
    }
    let Some(run) = run else {
        return ExitCode::SUCCESS;
    };
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(err) => {
            tracing::error!(error = %err, "cannot start the runtime");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(serve(config, run))
}

async fn serve(config: KeeperConfig, run: RunArgs) -> ExitCode {
    let templates = match Templates::load(&run.templates) {
        Ok(templates) => templates,
        Err(err) => {
            tracing::error!(error = %err, "cannot read the workspace templates");
            return ExitCode::FAILURE;
        }
    };
    let pool = PgPoolSettings {
        max_size: 4,
        wait_timeout: Duration::from_secs(10),
        connect_timeout: Duration::from_secs(5),
    };
    let pg = match heyclaw_persistence::connect_pg_pool(&run.database_url, &pool) {
        Ok(pg) => pg,
        Err(err) => {
            tracing::error!(error = %err, "DATABASE_URL");
            return ExitCode::FAILURE;
        }
    };
    let warming = match (run.warm_slots, &run.gateway_token) {
        (true, Some(token)) => Some(tokio::spawn(warm(config.clone(), token.clone()))),
        (true, None) => {
            tracing::warn!("OPENCLAW_GATEWAY_TOKEN is not set: the slots are not warmed");
            None
        }
        (false, _) => None,
    };
    let cleaning = match run.gateway_token {
        Some(token) => Some(tokio::spawn(clean_up_sessions_every(
            run.session_cleanup_interval,
            run.openclaw_bin,
            config.config_path.clone(),
            token,
        ))),
        None => {
            tracing::warn!("OPENCLAW_GATEWAY_TOKEN is not set: old sessions are not cleaned up");
            None
        }
    };
    let keeper = Keeper::new(pg, templates, config, heyclaw_domain::clock::system());
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let task = tokio::spawn(keeper.run(run.database_url, stopped));
    shutdown_signal().await;
    tracing::info!("stopping");
    for task in [warming, cleaning].into_iter().flatten() {
        task.abort();
    }
    let _ = stop.send(true);
    let _ = task.await;
    ExitCode::SUCCESS
}

/// Warms the idle slots of the gateway beside this keeper (see
/// `heyclaw_keeper::warm`) and logs what it did.
async fn warm(config: KeeperConfig, token: String) {
    let gateway = match GatewayClient::new(GatewayConfig {
        base_url: format!("http://127.0.0.1:{}", config.gateway.port),
        token: token.into(),
        connect_timeout: Duration::from_secs(2),
        request_timeout: Duration::from_secs(60),
        first_token_timeout: Duration::from_secs(60),
        idle_timeout: Duration::from_secs(60),
    }) {
        Ok(gateway) => gateway,
        Err(err) => {
            tracing::warn!(error = %err, "cannot warm the slots");
            return;
        }
    };
    let started = std::time::Instant::now();
    // A gateway's first start (plugins, caches) can take minutes.
    let ready_within = Duration::from_secs(600);
    let warming = warm_idle_slots(
        &gateway,
        &config.workspaces_dir,
        config.slots,
        ready_within,
        RETRY_PAUSE,
    );
    match warming.await {
        Ok(report) => tracing::info!(
            warmed = report.warmed,
            failed = report.failed,
            occupied = report.occupied,
            seconds = started.elapsed().as_secs_f64(),
            "slots warmed"
        ),
        Err(err) => tracing::warn!(error = %err, "the gateway did not answer: slots not warmed"),
    }
}

/// Applies OpenClaw's session maintenance every `interval`, the first time
/// ten minutes after the start at most (a starting gateway has enough to
/// do; a container restarted more often than `interval` still gets it),
/// and logs what it did.
async fn clean_up_sessions_every(
    interval: Duration,
    openclaw: PathBuf,
    config_path: PathBuf,
    token: String,
) {
    let first = interval.min(FIRST_SESSION_CLEANUP_WITHIN);
    let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + first, interval);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        let started = std::time::Instant::now();
        let cleanup = clean_up_sessions(
            std::process::Command::new(&openclaw),
            &config_path,
            &token,
            SESSION_CLEANUP_TIMEOUT,
        );
        match cleanup.await {
            Ok(report) => tracing::info!(
                stores = report.stores,
                entries = report.entries,
                seconds = started.elapsed().as_secs_f64(),
                "old sessions cleaned up"
            ),
            Err(err) => {
                tracing::warn!(error = %err, "session cleanup failed; trying again next interval")
            }
        }
    }
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(term) => term,
                Err(_) => return std::future::pending().await,
            };
        tokio::select! {
            _ = term.recv() => {}
            _ = tokio::signal::ctrl_c() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = tokio::signal::ctrl_c().await;
}
