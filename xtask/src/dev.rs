//! `cargo xtask dev`: the local stack in one command. Starts Postgres and
//! Redis if needed, sets up the dev database, keeps generated dev secrets in
//! `.dev/env` (git-ignored) and runs the API in the foreground.

use std::{collections::BTreeMap, path::Path};

use anyhow::{Context, Result};

/// Where the local stack keeps its state (git-ignored).
pub fn dev_dir() -> std::path::PathBuf {
    crate::repo_root().join(".dev")
}

/// The API's environment for local runs: dev defaults, overridden by any
/// variable already set in the caller's environment.
pub fn environment() -> Result<BTreeMap<String, String>> {
    let dev = dev_dir();
    let gateway = dev.join("gateway");
    let mut env: BTreeMap<String, String> = BTreeMap::new();
    let mut set = |key: &str, value: String| {
        env.insert(key.to_owned(), value);
    };
    set("DATABASE_URL", crate::db::DEV_DATABASE_URL.to_owned());
    set("REDIS_URL", "redis://127.0.0.1:6379".to_owned());
    set("HOST", "127.0.0.1".to_owned());
    set("PORT", "3000".to_owned());
    set("LOG_FORMAT", "pretty".to_owned());
    set("TEMPLATES_DIR", path(&crate::repo_root().join("templates")));
    set(
        "OPENCLAW_CONFIG_PATH",
        path(&gateway.join("config/openclaw.json")),
    );
    set("WORKSPACES_DIR", path(&gateway.join("workspaces")));
    set("GATEWAY_WORKSPACES_DIR", path(&gateway.join("workspaces")));
    for (key, value) in dev_secrets(&dev.join("env"))? {
        set(&key, value);
    }
    for (key, value) in env.iter_mut() {
        if let Ok(from_caller) = std::env::var(key) {
            *value = from_caller;
        }
    }
    Ok(env)
}

fn path(p: &Path) -> String {
    p.to_string_lossy().into_owned()
}

pub fn run() -> Result<()> {
    crate::services::ensure_running()?;
    let env = environment()?;
    let database_url = env.get("DATABASE_URL").cloned().unwrap_or_default();
    crate::runtime()?.block_on(crate::db::setup(&database_url))?;
    let port = env.get("PORT").cloned().unwrap_or_default();
    println!("\nHeyClaw API on http://127.0.0.1:{port}  (Ctrl-C stops it)");
    println!("  curl -s http://127.0.0.1:{port}/health\n");
    let status = std::process::Command::new(env!("CARGO"))
        .args(["run", "--package", "heyclaw-api", "--"])
        .current_dir(crate::repo_root())
        .envs(&env)
        .status()
        .context("starting heyclaw-api")?;
    anyhow::ensure!(
        status.success() || status.code().is_none(),
        "heyclaw-api exited with {status}"
    );
    Ok(())
}

/// Dev secrets, generated on first use and kept so tokens survive restarts.
fn dev_secrets(path: &Path) -> Result<Vec<(String, String)>> {
    if !path.exists() {
        std::fs::create_dir_all(path.parent().context("dev dir")?)?;
        std::fs::write(
            path,
            format!(
                "JWT_SECRET={}\nOPENCLAW_GATEWAY_TOKEN={}\n",
                crate::random_hex(64),
                crate::random_hex(32)
            ),
        )?;
    }
    Ok(std::fs::read_to_string(path)?
        .lines()
        .filter_map(|line| line.split_once('='))
        .filter(|(key, _)| matches!(key.trim(), "JWT_SECRET" | "OPENCLAW_GATEWAY_TOKEN"))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect())
}
