use std::process::ExitCode;

use clap::{Parser, Subcommand};
use heyclaw_api::{Application, Settings, telemetry};

/// mimalloc instead of glibc's allocator: a password hash holds ~19 MiB for
/// a moment, and glibc keeps such blocks in per-thread arenas of up to
/// 64 MiB each — measured: resident memory grew by ~15 MiB per signup up to
/// ~0.35 GiB after 20 and ~0.9 GiB in a login storm. mimalloc returns them.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// The HeyClaw API server. Settings come from the environment; see
/// `.env.example`.
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    /// Apply pending database migrations before serving.
    #[arg(long)]
    migrate: bool,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the API (the default).
    Serve,
    /// Apply pending database migrations and exit.
    Migrate,
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let settings = match Settings::from_process_env() {
        Ok(settings) => settings,
        Err(err) => {
            eprintln!("heyclaw-api: invalid configuration: {err}");
            return ExitCode::from(2);
        }
    };
    telemetry::init(settings.log_format);
    match run(cli, &settings).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            tracing::error!(error = %err, "heyclaw-api stopped");
            eprintln!("heyclaw-api: {err}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli, settings: &Settings) -> anyhow::Result<()> {
    let migrate_only = matches!(cli.command, Some(Command::Migrate));
    if cli.migrate || migrate_only {
        let applied = heyclaw_api::migrate(settings).await?;
        tracing::info!(applied, "migrations applied");
        if migrate_only {
            return Ok(());
        }
    }
    let app = Application::build(settings).await?;
    tracing::info!(port = app.port(), "heyclaw-api listening");
    app.run_until_stopped().await?;
    tracing::info!("heyclaw-api shut down");
    Ok(())
}
