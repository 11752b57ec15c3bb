//! `cargo xtask`: HeyClaw's developer and operator tasks, in Rust so they run
//! wherever cargo does.

mod agents;
mod bench;
mod ci;
mod db;
mod deploy;
mod deploy_files;
mod dev;
mod doctor;
mod fuzz;
mod gateway;
mod import;
mod layering;
mod openapi;
mod schema;
mod services;
mod ssh;
mod tools;

use anyhow::Result;
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "cargo xtask", about = "HeyClaw developer and operator tasks")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Database tasks against DATABASE_URL (default: the local dev database).
    Db {
        #[command(subcommand)]
        command: db::DbCommand,
    },
    /// Print fresh random values for JWT_SECRET and OPENCLAW_GATEWAY_TOKEN.
    GenSecrets,
    /// Run the whole local stack (database, gateway, dev model, API) until Ctrl-C.
    Dev,
    /// The real OpenClaw gateway for local runs.
    Gateway {
        #[command(subcommand)]
        command: gateway::GatewayCommand,
    },
    /// The gateway shards and their agents; move an idle agent between shards.
    Agents {
        #[command(subcommand)]
        command: agents::AgentsCommand,
    },
    /// Ship this commit to a server over SSH and bring it up (or --rollback).
    Deploy(deploy::Args),
    /// The troubleshooting checks against a deployment (settings from
    /// --env-file, default the local dev stack; or a server's, with --host),
    /// each ok or FAIL with the fix.
    Doctor(doctor::Args),
    /// Check the deployment files without an engine or a cluster: compose
    /// config, Kubernetes manifests (rendered and validated), Dockerfiles.
    DeployFiles,
    /// Write the OpenAPI document to docs/openapi.json (the committed snapshot).
    Openapi,
    /// Fuzz a running server from its OpenAPI document (Schemathesis).
    Fuzz,
    /// Check that crates depend on each other only as SPEC.md allows.
    Layering,
    /// Check that crates/persistence/src/schema.rs matches the migrations.
    SchemaCheck,
    /// Everything CI runs: fmt, clippy, deny, layering, schema drift, tests.
    Ci,
    /// Take the original Node server's users over: its database (read only)
    /// and its workspaces into this database.
    ImportOriginal {
        /// PostgreSQL URL of the original's database.
        #[arg(long)]
        from: String,
        /// Archive agent workspaces from this directory (never replacing).
        #[arg(long)]
        workspaces: Option<std::path::PathBuf>,
        /// Do everything, roll it back, and print the report.
        #[arg(long)]
        dry_run: bool,
        /// Rows per write.
        #[arg(long, default_value_t = 1000)]
        batch_size: usize,
    },
    /// Benchmarks that print figures (they never fail on time).
    Bench {
        #[command(subcommand)]
        command: bench::BenchCommand,
    },
}

fn main() -> std::process::ExitCode {
    match dispatch(Cli::parse().command) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn dispatch(command: Command) -> Result<()> {
    match command {
        Command::Db { command } => db::run(command),
        Command::GenSecrets => {
            println!("JWT_SECRET={}", random_hex(64));
            println!("OPENCLAW_GATEWAY_TOKEN={}", random_hex(32));
            Ok(())
        }
        Command::Dev => dev::run(),
        Command::Gateway { command } => gateway::run(command),
        Command::Layering => layering::run(),
        Command::Fuzz => fuzz::run(),
        Command::Openapi => openapi::run(),
        Command::DeployFiles => deploy_files::run(),
        Command::Deploy(args) => deploy::run(args),
        Command::Doctor(args) => doctor::run(args),
        Command::Agents { command } => agents::run(command),
        Command::SchemaCheck => schema::run(),
        Command::Ci => ci::run(),
        Command::Bench { command } => bench::run(command),
        Command::ImportOriginal {
            from,
            workspaces,
            dry_run,
            batch_size,
        } => import::run(import::Args {
            from,
            workspaces,
            dry_run,
            batch_size,
        }),
    }
}

/// `bytes` random bytes from the OS generator, hex-encoded.
pub fn random_hex(bytes: usize) -> String {
    use rand::RngCore;
    let mut buf = vec![0u8; bytes];
    rand::rngs::OsRng.fill_bytes(&mut buf);
    hex::encode(buf)
}

/// The repository root (xtask lives one level below it).
pub fn repo_root() -> std::path::PathBuf {
    let manifest = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().unwrap_or(manifest).to_path_buf()
}

/// Where cargo puts build outputs.
pub fn target_dir() -> std::path::PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map_or_else(|| repo_root().join("target"), std::path::PathBuf::from)
}

/// Runs a command in the repository root, failing if it fails.
pub fn run_cmd(program: &str, args: &[&str]) -> Result<()> {
    println!("$ {program} {}", args.join(" "));
    let status = std::process::Command::new(program)
        .args(args)
        .current_dir(repo_root())
        .status()
        .map_err(|err| anyhow::anyhow!("cannot run {program}: {err}"))?;
    anyhow::ensure!(
        status.success(),
        "{program} {} failed ({status})",
        args.join(" ")
    );
    Ok(())
}

/// A tokio runtime for the tasks that talk to Postgres.
pub fn runtime() -> Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?)
}
