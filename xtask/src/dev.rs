//! `cargo xtask dev`: the local stack in one command. Starts Postgres and
//! Redis if needed, sets up the dev database, keeps generated dev secrets in
//! `.dev/env` (git-ignored) and runs the API in the foreground.

use std::{collections::BTreeMap, path::Path};

use anyhow::{Context, Result};

pub fn run() -> Result<()> {
    crate::services::ensure_running()?;
    let database_url = crate::db::database_url();
    crate::runtime()?.block_on(crate::db::setup(&database_url))?;
    let root = crate::repo_root();
    let secrets = dev_secrets(&root.join(".dev/env"))?;
    let port = std::env::var("PORT").unwrap_or_else(|_| "3000".to_owned());
    let mut env: BTreeMap<&str, String> = BTreeMap::new();
    env.insert("DATABASE_URL", database_url);
    env.insert(
        "REDIS_URL",
        std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned()),
    );
    env.insert("HOST", "127.0.0.1".to_owned());
    env.insert("PORT", port.clone());
    env.insert("LOG_FORMAT", "pretty".to_owned());
    env.insert(
        "TEMPLATES_DIR",
        root.join("templates").to_string_lossy().into_owned(),
    );
    for (key, value) in secrets {
        match key.as_str() {
            "JWT_SECRET" => env.insert("JWT_SECRET", value),
            "OPENCLAW_GATEWAY_TOKEN" => env.insert("OPENCLAW_GATEWAY_TOKEN", value),
            _ => None,
        };
    }
    println!("\nHeyClaw API on http://127.0.0.1:{port}  (Ctrl-C stops it)");
    println!("  curl -s http://127.0.0.1:{port}/health\n");
    let status = std::process::Command::new(env!("CARGO"))
        .args(["run", "--package", "heyclaw-api", "--"])
        .current_dir(&root)
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
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
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect())
}
