//! The shared stack: the dev model and two real gateway shards, each with
//! its config and slot roster written as the container entrypoint writes
//! them (`heyclaw-keeper init`). Each test phase runs its own API and
//! database, with a keeper per shard (in-process, on the test's clock).

use std::{
    path::PathBuf,
    sync::{Mutex, OnceLock},
    time::Duration,
};

use heyclaw_agent_provisioning::GatewayConfigOptions;
use heyclaw_gateway_client::{GatewayClient, GatewayConfig};
use heyclaw_keeper::{KeeperConfig, warm::warm_idle_slots};
use heyclaw_test_support::{
    ExternalGateway, ShardOptions, TEST_GATEWAY_TOKEN, TestApp,
    real_gateway::{GatewayInstall, RealGateway, RealGatewayOptions},
};

/// Slot agents per shard.
pub const SLOTS: u32 = 16;
pub const SHARDS: [&str; 2] = ["a", "b"];

pub struct Shard {
    pub id: &'static str,
    pub process: Mutex<RealGateway>,
    pub url: String,
    pub config_path: PathBuf,
    pub roster_path: PathBuf,
    pub workspaces: PathBuf,
    pub port: u16,
    dir: PathBuf,
}

pub struct Stack {
    pub shards: Vec<Shard>,
    pub model_url: String,
}

static STACK: OnceLock<Stack> = OnceLock::new();

pub fn stack() -> &'static Stack {
    STACK.get_or_init(|| {
        std::thread::spawn(build)
            .join()
            .expect("the gateway stack starts")
    })
}

/// What the shard's entrypoint (`heyclaw-keeper init`) is given. A shard
/// lives in `dir`: `config/`, `w/` (slot workspaces), `state/`.
fn keeper_config(id: &str, dir: &std::path::Path, port: u16, model_url: &str) -> KeeperConfig {
    KeeperConfig {
        gateway_id: id.to_owned(),
        config_path: dir.join("config/openclaw.json"),
        workspaces_dir: dir.join("w"),
        gateway_workspaces_dir: dir.join("w"),
        slots: SLOTS,
        idle_timeout: Duration::from_secs(1800),
        reconcile_interval: Duration::from_secs(30),
        gateway: GatewayConfigOptions {
            port,
            bind: "loopback".into(),
            model_base_url: model_url.to_owned(),
            log_file: Some(dir.join("state/logs/openclaw.log")),
            prompt_plugin_dir: Some(heyclaw_test_support::prompt_plugin_path()),
        },
    }
}

fn build() -> Stack {
    let install = GatewayInstall::pinned();
    install.install().expect("the pinned gateway installs");
    let model_url = heyclaw_dev_model::spawn_on_free_port().expect("the dev model starts");
    let root = std::env::temp_dir().join(format!("heyclaw-e2e-{}", std::process::id()));
    let planned: Vec<(&'static str, PathBuf, u16)> = SHARDS
        .iter()
        .map(|id| {
            let port = std::net::TcpListener::bind("127.0.0.1:0")
                .unwrap()
                .local_addr()
                .unwrap()
                .port();
            (*id, root.join(id), port)
        })
        .collect();
    // The gateways start in parallel: each takes a while to get ready.
    let starting: Vec<_> = planned
        .into_iter()
        .map(|(id, dir, port)| {
            let model_url = model_url.clone();
            std::thread::spawn(move || {
                let config = keeper_config(id, &dir, port, &model_url);
                let process = start_gateway(&dir, port, &config);
                Shard {
                    id,
                    url: process.url.clone(),
                    process: Mutex::new(process),
                    roster_path: config.config_path.with_file_name("heyclaw-agents.json"),
                    config_path: config.config_path,
                    workspaces: config.workspaces_dir,
                    port,
                    dir,
                }
            })
        })
        .collect();
    Stack {
        shards: starting
            .into_iter()
            .map(|thread| thread.join().expect("a gateway shard starts"))
            .collect(),
        model_url,
    }
}

/// The container's start: the entrypoint writes the config (if missing) and
/// the slot roster, then the gateway runs, and the keeper warms its idle
/// slots once it answers.
fn start_gateway(dir: &std::path::Path, port: u16, config: &KeeperConfig) -> RealGateway {
    heyclaw_keeper::prepare(config).expect("the entrypoint writes config and roster");
    let mut gateway = RealGateway::start(
        &GatewayInstall::pinned(),
        &RealGatewayOptions {
            config_path: &config.config_path,
            state_dir: &dir.join("state"),
            port,
            token: TEST_GATEWAY_TOKEN,
            model_api_key: "heyclaw-dev-model",
            env: &[],
        },
    )
    .expect("the gateway starts");
    gateway.kill_when_this_process_exits().expect("watchdog");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime
        .block_on(gateway.wait_ready(Duration::from_secs(180)))
        .expect("the gateway becomes ready");
    let client = GatewayClient::new(GatewayConfig {
        base_url: gateway.url.clone(),
        token: TEST_GATEWAY_TOKEN.to_owned().into(),
        connect_timeout: Duration::from_secs(2),
        request_timeout: Duration::from_secs(60),
        first_token_timeout: Duration::from_secs(60),
        idle_timeout: Duration::from_secs(60),
    })
    .unwrap();
    let started = std::time::Instant::now();
    let report = runtime
        .block_on(warm_idle_slots(
            &client,
            &config.workspaces_dir,
            config.slots,
            Duration::from_secs(60),
            heyclaw_keeper::warm::RETRY_PAUSE,
        ))
        .expect("the gateway answers");
    println!(
        "warmed {} idle slots of {} in {:.1?} ({} occupied, {} failed; last error: {:?})",
        report.warmed,
        config.gateway_id,
        started.elapsed(),
        report.occupied,
        report.failed,
        report.last_error
    );
    gateway
}

/// Stops a shard's gateway (it died).
pub fn kill(shard: usize) {
    stack().shards[shard].process.lock().unwrap().kill();
}

/// What the gateway container does on (re)start: `heyclaw-keeper init`
/// (config if missing, slot roster), then the gateway. Same port.
pub fn restart(shard: usize) {
    let stack = stack();
    let shard = &stack.shards[shard];
    let (dir, port) = (shard.dir.clone(), shard.port);
    let config = keeper_config(shard.id, &dir, port, &stack.model_url);
    let mut process = shard.process.lock().unwrap();
    process.kill();
    *process = std::thread::spawn(move || start_gateway(&dir, port, &config))
        .join()
        .expect("the gateway restarts");
}

/// An API of its own (database, Redis keyspace) on the shared gateways, with
/// a keeper per shard. `lease` is `AGENT_LEASE`.
pub async fn app_with(lease: &str) -> TestApp {
    let stack = stack();
    let shards = stack
        .shards
        .iter()
        .map(|shard| ShardOptions {
            id: shard.id.to_owned(),
            slots: SLOTS,
            idle_timeout: Duration::from_secs(1800),
            external: Some(ExternalGateway {
                url: shard.url.clone(),
                config_path: shard.config_path.clone(),
                workspaces: shard.workspaces.clone(),
                model_base_url: stack.model_url.clone(),
                port: shard.port,
            }),
            workspaces: None,
        })
        .collect();
    TestApp::spawn_sharded(
        shards,
        vec![
            ("AGENT_READINESS_TIMEOUT".into(), "20s".into()),
            ("AUTOMATION_POLL_INTERVAL".into(), "200ms".into()),
            ("AGENT_LEASE".into(), lease.into()),
        ],
    )
    .await
}

pub async fn app() -> TestApp {
    app_with("30s").await
}

pub fn roster(shard: usize) -> Vec<u8> {
    std::fs::read(&stack().shards[shard].roster_path).unwrap_or_default()
}

pub fn gateway_pid(shard: usize) -> u32 {
    stack().shards[shard].process.lock().unwrap().pid()
}

pub fn gateway_running(shard: usize) -> bool {
    stack().shards[shard].process.lock().unwrap().is_running()
}

/// The shard's gateway state directory (`OPENCLAW_STATE_DIR`).
pub fn state_dir(shard: usize) -> PathBuf {
    stack().shards[shard].dir.join("state")
}

pub fn gateway_log(shard: usize) -> String {
    stack().shards[shard].process.lock().unwrap().log()
}

/// What the dev model has answered since the last reset: request body
/// sizes, in order.
pub async fn model_requests() -> Vec<u64> {
    let stats: serde_json::Value = reqwest::get(format!(
        "{}/stats",
        stack().model_url.trim_end_matches("/v1")
    ))
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    stats["bytes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b.as_u64().unwrap())
        .collect()
}

pub async fn reset_model_requests() {
    reqwest::Client::new()
        .post(format!(
            "{}/stats/reset",
            stack().model_url.trim_end_matches("/v1")
        ))
        .send()
        .await
        .unwrap();
}
