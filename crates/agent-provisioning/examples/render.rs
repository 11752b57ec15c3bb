//! Writes what a gateway needs on disk into a directory: the base config
//! (`openclaw.json`), the slot roster beside it, and one slot's workspace
//! rendered from the templates for a new user. Prints what was written.
//!
//! ```text
//! cargo run -p heyclaw-agent-provisioning --example render -- /tmp/gw
//! cargo run -p heyclaw-agent-provisioning --example render -- /tmp/gw --slots 4 --slot 2 --name Ada
//! ```
//!
//! Options: `--templates <dir>` (or `TEMPLATES_DIR`; default: the
//! repository's `templates/`), `--slots <n>` (default 2), `--slot <n>` (the
//! slot to fill, default 0), `--name <user name>`, `--port` (default 18789),
//! `--bind` (default `loopback`), `--model-base-url` (or `OPENAI_BASE_URL`,
//! default `https://api.openai.com/v1`), `--gateway-workspaces <dir>` (where
//! the gateway will see the workspaces; default `<dir>/workspaces`).
//!
//! An existing `openclaw.json` is kept; the slot's workspace is replaced.

use std::{
    path::{Path, PathBuf},
    process::ExitCode,
};

use clap::Parser;
use heyclaw_agent_provisioning::{
    GatewayConfigOptions, ROSTER_FILE_NAME, Templates, fill_workspace, prepare_gateway,
    read_roster, read_workspace, slot_id,
};

const REPO_TEMPLATES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../templates");

/// Write a gateway's config, roster and one slot workspace into a directory.
#[derive(Parser)]
struct Args {
    /// Where to write (created if missing).
    dir: PathBuf,
    /// The workspace templates (SOUL.md, AGENTS.md, MEMORY.md, USER.md).
    #[arg(long, env = "TEMPLATES_DIR", default_value = REPO_TEMPLATES)]
    templates: PathBuf,
    /// How many slot agents the roster holds.
    #[arg(long, default_value_t = 2)]
    slots: u32,
    /// The slot whose workspace is filled for a new user.
    #[arg(long, default_value_t = 0)]
    slot: u32,
    /// The new user's name, written into USER.md.
    #[arg(long)]
    name: Option<String>,
    /// The gateway's port.
    #[arg(long, default_value_t = 18789)]
    port: u16,
    /// `loopback` (a local run) or `lan` (a container).
    #[arg(long, default_value = "loopback")]
    bind: String,
    /// The OpenAI-compatible endpoint the gateway's model calls go to.
    #[arg(
        long,
        env = "OPENAI_BASE_URL",
        default_value = "https://api.openai.com/v1"
    )]
    model_base_url: String,
    /// Where the gateway sees the workspaces (default: `<dir>/workspaces`).
    #[arg(long)]
    gateway_workspaces: Option<PathBuf>,
}

fn main() -> ExitCode {
    match run(Args::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: Args) -> Result<(), String> {
    if args.slot >= args.slots {
        return Err(format!(
            "--slot {} is not one of the {} slots (0..{})",
            args.slot, args.slots, args.slots
        ));
    }
    // Load the templates first: a wrong directory should write nothing.
    let templates = Templates::load(&args.templates).map_err(|err| {
        format!("{err}\nhint: pass --templates <dir> (or TEMPLATES_DIR) with the four templates")
    })?;
    std::fs::create_dir_all(&args.dir)
        .map_err(|err| format!("cannot create {}: {err}", args.dir.display()))?;
    // The roster names workspaces by absolute path.
    let dir = args
        .dir
        .canonicalize()
        .map_err(|err| format!("cannot resolve {}: {err}", args.dir.display()))?;
    let workspaces = dir.join("workspaces");
    let gateway_workspaces = args
        .gateway_workspaces
        .unwrap_or_else(|| workspaces.clone());

    let config = dir.join("openclaw.json");
    let options = GatewayConfigOptions {
        port: args.port,
        bind: args.bind,
        model_base_url: args.model_base_url,
        log_file: None,
        prompt_plugin_dir: None,
    };
    let written = prepare_gateway(&config, &options, &gateway_workspaces, args.slots)
        .map_err(|err| err.to_string())?;
    if written {
        println!("wrote   {} ({})", config.display(), size(&config));
    } else {
        println!(
            "kept    {} (it was there; it includes the roster)",
            config.display()
        );
    }
    let roster_path = dir.join(ROSTER_FILE_NAME);
    let roster = read_roster(&roster_path).map_err(|err| err.to_string())?;
    let ids: Vec<&str> = roster.ids().collect();
    println!(
        "roster  {} ({}): {}",
        roster_path.display(),
        size(&roster_path),
        ids.join(", ")
    );

    let lock = dir.join(format!(".{ROSTER_FILE_NAME}.lock"));
    if lock.exists() {
        println!(
            "lock    {} (empty; held while the roster is written)",
            lock.display()
        );
    }

    let slot_dir = workspaces.join(slot_id(args.slot));
    fill_workspace(&slot_dir, &templates.render(args.name.as_deref()))
        .map_err(|err| err.to_string())?;
    println!("slot    {}:", slot_dir.display());
    for (path, bytes) in read_workspace(&slot_dir).map_err(|err| err.to_string())? {
        println!("          {path} ({} bytes)", bytes.len());
    }
    Ok(())
}

fn size(path: &Path) -> String {
    std::fs::metadata(path).map_or_else(|_| "?".to_owned(), |m| format!("{} bytes", m.len()))
}
