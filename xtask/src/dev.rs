//! `cargo xtask dev`: the whole local stack in one command — Postgres and
//! Redis (started if installed but stopped), the migrated dev database, the
//! pinned OpenClaw gateway with its keeper and the offline dev model (or the
//! real provider when `OPENAI_API_KEY` is set), and the API. Ctrl-C stops
//! everything it started. State lives in `.dev/` (git-ignored).

use std::{
    collections::BTreeMap,
    path::Path,
    process::{Child, Command},
    time::Duration,
};

use anyhow::{Context, Result};
use heyclaw_test_support::real_gateway::{RealGateway, RealGatewayOptions};

use crate::gateway::{DEV_GATEWAY_PORT, DEV_MODEL_PORT};

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
    // No SMTP locally: sign-in codes and reset links are read from the log.
    set("MAIL_LOG_CONTENT", "true".to_owned());
    set("TEMPLATES_DIR", path(&crate::repo_root().join("templates")));
    set(
        "OPENCLAW_PLUGIN_DIR",
        path(&heyclaw_test_support::prompt_plugin_path()),
    );
    set(
        "OPENCLAW_GATEWAY_URL",
        format!("http://127.0.0.1:{DEV_GATEWAY_PORT}"),
    );
    set(
        "OPENCLAW_CONFIG_PATH",
        path(&gateway.join("config/openclaw.json")),
    );
    set("WORKSPACES_DIR", path(&gateway.join("workspaces")));
    set("GATEWAY_ID", "default".to_owned());
    set(
        "GATEWAY_MAX_RESIDENT_AGENTS",
        crate::gateway::DEV_SLOTS.to_string(),
    );
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

/// Kills a child process on drop.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub fn run() -> Result<()> {
    crate::services::ensure_running()?;
    let env = environment()?;
    let database_url = env.get("DATABASE_URL").cloned().unwrap_or_default();
    let runtime = crate::runtime()?;
    runtime.block_on(crate::db::setup(&database_url))?;

    let install = crate::gateway::install()?;
    let (config_path, _) = crate::gateway::write_dev_config(&env)?;
    crate::run_cmd(
        env!("CARGO"),
        &[
            "build",
            "--quiet",
            "--package",
            "heyclaw-dev-model",
            "--package",
            "heyclaw-api",
            "--package",
            "heyclaw-keeper",
        ],
    )?;

    let real_model = std::env::var("OPENAI_API_KEY").is_ok_and(|key| !key.trim().is_empty());
    let _model = if real_model {
        println!(
            "OPENAI_API_KEY is set: the gateway calls {}",
            crate::gateway::model_base_url()
        );
        None
    } else {
        let binary = crate::target_dir().join("debug/heyclaw-dev-model");
        Some(Running(
            Command::new(binary)
                .args(["--port", &DEV_MODEL_PORT.to_string()])
                .spawn()
                .context("starting heyclaw-dev-model")?,
        ))
    };
    let token = env
        .get("OPENCLAW_GATEWAY_TOKEN")
        .cloned()
        .unwrap_or_default();
    let model_key =
        std::env::var("OPENAI_API_KEY").unwrap_or_else(|_| "heyclaw-dev-model".to_owned());
    let state_dir = dev_dir().join("gateway/state");
    let mut gateway = RealGateway::start(
        &install,
        &RealGatewayOptions {
            config_path: &config_path,
            state_dir: &state_dir,
            port: DEV_GATEWAY_PORT,
            token: &token,
            model_api_key: &model_key,
            env: &[],
        },
    )
    .map_err(anyhow::Error::msg)?;
    println!(
        "starting the OpenClaw gateway (pid {}, log {})",
        gateway.pid(),
        gateway.log_path.display()
    );
    runtime
        .block_on(gateway.wait_ready(Duration::from_secs(90)))
        .map_err(anyhow::Error::msg)?;

    let keeper = crate::target_dir().join("debug/heyclaw-keeper");
    let _keeper = Running(
        Command::new(keeper)
            .args(["run", "--bind", "loopback"])
            .env("OPENAI_BASE_URL", crate::gateway::model_base_url())
            .env(
                "OPENCLAW_LOG_FILE",
                path(&state_dir.join("logs/openclaw.log")),
            )
            // Session maintenance runs `openclaw`: the pinned one, with its
            // Node, as the gateway (in the image: on PATH).
            .env("OPENCLAW_BIN", install.openclaw())
            .env("PATH", install.path_env())
            .env("OPENCLAW_STATE_DIR", &state_dir)
            .envs(&env)
            .spawn()
            .context("starting heyclaw-keeper")?,
    );
    let binary = crate::target_dir().join("debug/heyclaw-api");
    let _api = Running(
        Command::new(binary)
            .arg("--migrate")
            .current_dir(crate::repo_root())
            .envs(&env)
            .spawn()
            .context("starting heyclaw-api")?,
    );
    let port = env.get("PORT").cloned().unwrap_or_default();
    let base = format!("http://127.0.0.1:{port}");
    println!(
        "\nHeyClaw is up: API {base}, gateway {} (Ctrl-C stops everything)\n\n\
         TOKEN=$(curl -s -X POST {base}/auth/signup -H 'Content-Type: application/json' \\\n  \
         -d '{{\"email\":\"test@test.com\",\"password\":\"testpass123\",\"name\":\"Test User\"}}' \\\n  \
         | python3 -c 'import sys, json; print(json.load(sys.stdin)[\"access_token\"])')\n\
         curl -s {base}/agent/status -H \"Authorization: Bearer $TOKEN\"\n\
         curl -s --max-time 30 -X POST {base}/agent/message -H \"Authorization: Bearer $TOKEN\" \\\n  \
         -H 'Content-Type: application/json' -d '{{\"text\":\"Hello, what can you help me with?\"}}'\n",
        gateway.url
    );
    runtime.block_on(async {
        let _ = tokio::signal::ctrl_c().await;
    });
    println!("\nstopping the API, the gateway and the dev model");
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
