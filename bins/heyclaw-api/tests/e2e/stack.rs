//! The shared gateway stack: dev model, base config, real gateway.

use std::{
    path::PathBuf,
    sync::{Mutex, OnceLock},
    time::Duration,
};

use heyclaw_agent_provisioning::{GatewayConfigOptions, write_if_missing};
use heyclaw_test_support::{
    TEST_GATEWAY_TOKEN, TestApp,
    real_gateway::{GatewayInstall, RealGateway, RealGatewayOptions},
};

pub struct Stack {
    pub gateway: Mutex<RealGateway>,
    pub gateway_url: String,
    pub config_path: PathBuf,
    pub roster_path: PathBuf,
    pub workspaces: PathBuf,
    pub model_url: String,
    options: GatewayConfigOptions,
    state: PathBuf,
}

static STACK: OnceLock<Stack> = OnceLock::new();

pub fn stack() -> &'static Stack {
    STACK.get_or_init(|| {
        std::thread::spawn(build)
            .join()
            .expect("the gateway stack starts")
    })
}

fn build() -> Stack {
    let install = GatewayInstall::pinned();
    install.install().expect("the pinned gateway installs");
    let model_url = heyclaw_dev_model::spawn_on_free_port().expect("the dev model starts");
    let root = std::env::temp_dir().join(format!("heyclaw-e2e-{}", std::process::id()));
    let config_path = root.join("config/openclaw.json");
    let workspaces = root.join("workspaces");
    let state = root.join("state");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let options = GatewayConfigOptions {
        port,
        bind: "loopback".into(),
        model_base_url: model_url.clone(),
        log_file: Some(state.join("logs/openclaw.log")),
    };
    write_if_missing(&config_path, &options, &workspaces).expect("the base config is written");
    let gateway = start_gateway(&config_path, &state, port);
    Stack {
        gateway_url: gateway.url.clone(),
        gateway: Mutex::new(gateway),
        roster_path: config_path.with_file_name("heyclaw-agents.json"),
        config_path,
        workspaces,
        model_url,
        options,
        state,
    }
}

fn start_gateway(config_path: &std::path::Path, state: &std::path::Path, port: u16) -> RealGateway {
    let mut gateway = RealGateway::start(
        &GatewayInstall::pinned(),
        &RealGatewayOptions {
            config_path,
            state_dir: state,
            port,
            token: TEST_GATEWAY_TOKEN,
            model_api_key: "heyclaw-dev-model",
        },
    )
    .expect("the gateway starts");
    gateway.kill_when_this_process_exits().expect("watchdog");
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(gateway.wait_ready(Duration::from_secs(120)))
        .expect("the gateway becomes ready");
    gateway
}

/// What the gateway container does on (re)start: write the base config if it
/// is missing (the entrypoint), then start the gateway. Same port.
pub fn restart_gateway() {
    let stack = stack();
    write_if_missing(&stack.config_path, &stack.options, &stack.workspaces)
        .expect("the base config is written");
    let mut gateway = stack.gateway.lock().unwrap();
    gateway.kill();
    let (config_path, state, port) = (
        stack.config_path.clone(),
        stack.state.clone(),
        stack.options.port,
    );
    *gateway = std::thread::spawn(move || start_gateway(&config_path, &state, port))
        .join()
        .expect("the gateway restarts");
}

/// An API of its own (database, Redis keyspace) on the shared gateway.
pub async fn app() -> TestApp {
    let stack = stack();
    let path = |p: &PathBuf| p.to_string_lossy().into_owned();
    let app = TestApp::spawn_with_env(vec![
        ("OPENCLAW_GATEWAY_URL".into(), stack.gateway_url.clone()),
        ("OPENCLAW_CONFIG_PATH".into(), path(&stack.config_path)),
        ("WORKSPACES_DIR".into(), path(&stack.workspaces)),
        ("GATEWAY_WORKSPACES_DIR".into(), path(&stack.workspaces)),
        ("AGENT_READINESS_TIMEOUT".into(), "20s".into()),
        ("AUTOMATION_POLL_INTERVAL".into(), "200ms".into()),
    ])
    .await;
    // Wait for the start-up reconcile to make the roster this test's own.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while roster_ids().iter().any(|id| id.starts_with("agent-")) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the roster was not reconciled"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    app
}

pub fn roster_ids() -> Vec<String> {
    std::fs::read_to_string(&stack().roster_path)
        .ok()
        .and_then(|text| {
            serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(&text).ok()
        })
        .map(|roster| roster.keys().cloned().collect())
        .unwrap_or_default()
}

pub fn gateway_pid() -> u32 {
    stack().gateway.lock().unwrap().pid()
}

pub fn gateway_running() -> bool {
    stack().gateway.lock().unwrap().is_running()
}

pub fn gateway_log() -> String {
    stack().gateway.lock().unwrap().log()
}
