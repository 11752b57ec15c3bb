//! `cargo xtask bench scale`: the slot design against real gateways.
//!
//! 1. The roster curve: a gateway started with n slot agents, for each n of
//!    `--curve` — time to ready, RSS, and one roster change (what a slot
//!    count change costs; wakes never change a roster).
//! 2. Two real gateway shards with their keepers (release binaries), the
//!    release API and the dev model; `--users` registered users placed on the
//!    shards, all hibernated. Then `--wakes` of them send a first message one
//!    after another (each a wake) while a resident user keeps chatting:
//!    wake latency p50/p95 and the longest turn that user saw meanwhile.
//! 3. Resident agents and RSS per gateway, failed turns, model input bytes
//!    and model calls for a one-line message, and 20 concurrent signups each
//!    sending a first message.
//!
//! It prints figures; it never fails on time.

use std::{
    path::Path,
    process::{Child, Command, Stdio},
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

use anyhow::{Context, Result, bail};
use heyclaw_agent_provisioning::{GatewayConfigOptions, write_roster};
use heyclaw_keeper::KeeperConfig;
use heyclaw_persistence::{admin, queries::slots::shard_loads};
use heyclaw_test_support::{
    TEST_GATEWAY_TOKEN,
    real_gateway::{GatewayInstall, RealGateway, RealGatewayOptions},
};
use serde_json::{Value, json};

use super::procfs::{process_tree_cpu_secs, process_tree_rss_mib};

const DB: &str = "heyclaw_bench_scale";

pub struct Args {
    pub users: usize,
    pub slots: u32,
    pub wakes: usize,
    pub curve: Vec<u32>,
    /// Whether the gateways load HeyClaw's OpenClaw plugin (as deployed).
    pub prompt_plugin: bool,
}

/// Kills a child process on drop.
pub(super) struct Running(pub(super) Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub async fn run(args: Args) -> Result<()> {
    crate::run_cmd(
        env!("CARGO"),
        &[
            "build",
            "--release",
            "--quiet",
            "--package",
            "heyclaw-api",
            "--package",
            "heyclaw-keeper",
            "--package",
            "heyclaw-dev-model",
        ],
    )?;
    let install = crate::gateway::install()?;
    let root = std::env::temp_dir().join(format!("heyclaw-bench-scale-{}", std::process::id()));
    let release = crate::target_dir().join("release");
    let (_model, model_url) = start_dev_model(&release.join("heyclaw-dev-model")).await?;
    let client = reqwest::Client::new();

    println!("1. one gateway, n slot agents (the roster never changes while it serves)");
    println!(
        "{:>6} {:>12} {:>10} {:>22} {:>14}",
        "slots", "start→ready", "RSS MiB", "roster change (n+1)", "longest /health"
    );
    for &slots in &args.curve {
        let dir = root.join(format!("curve-{slots}"));
        let figures = curve_point(&install, &dir, slots, &model_url, args.prompt_plugin).await?;
        println!(
            "{slots:>6} {:>11.1}s {:>10.0} {:>21.2}s {:>13.2}s",
            figures.ready.as_secs_f64(),
            figures.rss_mib,
            figures.change.as_secs_f64(),
            figures.longest_health.as_secs_f64()
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    println!(
        "\n2. two shards of {} slots, {} registered users",
        args.slots, args.users
    );
    let admin_url = heyclaw_test_support::admin_database_url();
    let db_url = admin::with_database(&admin_url, DB);
    {
        let mut maintenance = heyclaw_persistence::establish(&admin_url).await?;
        admin::drop_database(&mut maintenance, DB).await?;
        admin::create_database(&mut maintenance, DB, None).await?;
        heyclaw_persistence::run_migrations(heyclaw_persistence::establish(&db_url).await?).await?;
        admin::execute(
            &mut heyclaw_persistence::establish(&db_url).await?,
            "UPDATE plan_limits SET daily_text_messages = 100000000",
        )
        .await?;
    }
    let shards: [&'static str; 2] = ["a", "b"];
    let mut gateways = Vec::new();
    let mut keepers = Vec::new();
    let starting: Vec<_> = shards
        .into_iter()
        .map(|id| {
            let (dir, model_url, install) = (root.join(id), model_url.clone(), install.clone());
            let slots = args.slots;
            std::thread::spawn(move || -> Result<(KeeperConfig, RealGateway)> {
                let config = keeper_config(
                    id,
                    &dir,
                    super::free_port()?,
                    slots,
                    &model_url,
                    args.prompt_plugin,
                );
                heyclaw_keeper::prepare(&config)?;
                let gateway = start_gateway(&install, &dir, &config, &[])?;
                warm(&gateway.url, &config)?;
                Ok((config, gateway))
            })
        })
        .collect();
    for thread in starting {
        let (config, gateway) = thread
            .join()
            .map_err(|_| anyhow::anyhow!("a gateway thread panicked"))??;
        keepers.push(Running(
            Command::new(release.join("heyclaw-keeper"))
                .arg("run")
                .env("DATABASE_URL", &db_url)
                .env("GATEWAY_ID", &config.gateway_id)
                .env("OPENCLAW_CONFIG_PATH", &config.config_path)
                .env("WORKSPACES_DIR", &config.workspaces_dir)
                .env("GATEWAY_MAX_RESIDENT_AGENTS", config.slots.to_string())
                .env("OPENCLAW_GATEWAY_PORT", config.gateway.port.to_string())
                .env("OPENAI_BASE_URL", &config.gateway.model_base_url)
                .env("TEMPLATES_DIR", crate::repo_root().join("templates"))
                // Warmed above, before anything is measured (what the
                // keeper does by itself right after its gateway answers).
                .env("KEEPER_WARM_SLOTS", "false")
                .env("OPENCLAW_GATEWAY_TOKEN", TEST_GATEWAY_TOKEN)
                .env("OPENCLAW_BIN", install.openclaw())
                .env("PATH", install.path_env())
                .env("RUST_LOG", "warn")
                .args(["--bind", "loopback"])
                .spawn()
                .context("starting heyclaw-keeper")?,
        ));
        gateways.push(gateway);
    }
    let api_port = super::free_port()?;
    let gateways_setting = shards
        .iter()
        .zip(&gateways)
        .map(|(id, gateway)| format!("{id}|{}", gateway.url))
        .collect::<Vec<_>>()
        .join(",");
    let _api = Running(
        Command::new(release.join("heyclaw-api"))
            .env("DATABASE_URL", &db_url)
            .env("REDIS_URL", "redis://127.0.0.1:6379")
            .env(
                "REDIS_KEY_PREFIX",
                format!("heyclaw-bench-scale-{}", std::process::id()),
            )
            .env("JWT_SECRET", crate::random_hex(32))
            .env("OPENCLAW_GATEWAY_TOKEN", TEST_GATEWAY_TOKEN)
            .env("GATEWAYS", &gateways_setting)
            .env("AGENT_READINESS_TIMEOUT", "30s")
            .env("OPENCLAW_REQUEST_TIMEOUT", "60s")
            .env("HOST", "127.0.0.1")
            .env("PORT", api_port.to_string())
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .spawn()
            .context("starting heyclaw-api")?,
    );
    let api = format!("http://127.0.0.1:{api_port}");
    super::wait_for(&client, &format!("{api}/health")).await?;
    wait_for_shards(&db_url, shards.len()).await?;
    // Slot loads, read between the measured steps.
    let mut db = heyclaw_persistence::establish(&db_url).await?;

    // Registered users: one signs up through the API (its password hash is
    // reused), the rest are written straight into the database, placed
    // alternately on the shards, all hibernated.
    let first = signup(&client, &api, "scale-0@example.com").await?;
    register(&db_url, args.users.saturating_sub(1)).await?;
    let talker = first;
    let mut failed = 0usize;
    // The talker is resident: warm its slot.
    for _ in 0..3 {
        failed += usize::from(turn(&client, &api, &talker, "warm up").await?.is_none());
    }

    // Wakes, one after another, while the talker keeps chatting.
    let waking = Arc::new(AtomicBool::new(true));
    let talking = {
        let (client, api, talker, waking) = (
            client.clone(),
            api.clone(),
            talker.clone(),
            Arc::clone(&waking),
        );
        tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut failed = 0usize;
            let mut i = 0;
            while waking.load(Ordering::SeqCst) {
                match turn(&client, &api, &talker, &format!("still here {i}")).await {
                    Ok(Some(latency)) => latencies.push(latency),
                    _ => failed += 1,
                }
                i += 1;
            }
            (latencies, failed)
        })
    };
    // A wake finds a slot at once unless every slot of its shard had a
    // turn within AGENT_LEASE (then it waits for a lease to pass): the
    // wakes are told apart by whether both shards had such a slot.
    let (mut wakes, mut wakes_full) = (Vec::new(), Vec::new());
    for i in 1..=args.wakes.min(args.users.saturating_sub(1)) {
        let token = login(&client, &api, &format!("scale-{i}@example.com")).await?;
        let room = shard_loads(&mut db)
            .await?
            .iter()
            .all(|load| i64::from(load.slots) > load.leased);
        match turn(&client, &api, &token, "good morning").await? {
            Some(latency) if room => wakes.push(latency),
            Some(latency) => wakes_full.push(latency),
            None => failed += 1,
        }
    }
    waking.store(false, Ordering::SeqCst);
    let (mut talker_turns, talker_failed) = talking.await?;
    failed += talker_failed;
    wakes.sort();
    wakes_full.sort();
    talker_turns.sort();
    println!(
        "wake (hibernated → first answer), one after another, {} with a slot free or idle on both shards: \
         p50 {:.2}s, p95 {:.2}s, max {:.2}s",
        wakes.len(),
        pct(&wakes, 0.5),
        pct(&wakes, 0.95),
        pct(&wakes, 1.0)
    );
    println!(
        "  and {} when a shard had every slot leased: p50 {:.2}s, p95 {:.2}s, max {:.2}s",
        wakes_full.len(),
        pct(&wakes_full, 0.5),
        pct(&wakes_full, 0.95),
        pct(&wakes_full, 1.0)
    );
    println!(
        "another user's turns meanwhile ({}): p50 {:.2}s, longest {:.2}s",
        talker_turns.len(),
        pct(&talker_turns, 0.5),
        pct(&talker_turns, 1.0)
    );

    // Model input for a one-line message: a new user's first turn (no
    // conversation yet), once their agent is awake.
    let probe = signup(&client, &api, "probe@example.com").await?;
    let awake = Instant::now() + Duration::from_secs(30);
    while Instant::now() < awake {
        let status: Value = client
            .get(format!("{api}/agent/status"))
            .bearer_auth(&probe)
            .send()
            .await?
            .json()
            .await?;
        if status["agentStatus"] == "running" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let stats_url = format!("{}/stats", model_url.trim_end_matches("/v1"));
    client.post(format!("{stats_url}/reset")).send().await?;
    failed += usize::from(turn(&client, &api, &probe, "hi").await?.is_none());
    tokio::time::sleep(Duration::from_secs(3)).await;
    let stats: Value = client.get(&stats_url).send().await?.json().await?;
    let bytes: Vec<u64> = stats["bytes"]
        .as_array()
        .map(|b| b.iter().filter_map(Value::as_u64).collect())
        .unwrap_or_default();
    println!(
        "model input for a one-line message: {} bytes in {} model call(s) (no other call within 3 s)",
        bytes.iter().sum::<u64>(),
        bytes.len()
    );

    // 20 concurrent signups, each sending a first message; with the CPU
    // each process spent meanwhile (this machine's cores are the limit).
    let mut processes: Vec<(String, u32)> = shards
        .iter()
        .zip(&gateways)
        .map(|(id, gateway)| (format!("gateway {id}"), gateway.pid()))
        .collect();
    processes.push(("API".into(), _api.0.id()));
    processes.push(("dev model".into(), _model.0.id()));
    for (id, keeper) in shards.iter().zip(&keepers) {
        processes.push((format!("keeper {id}"), keeper.0.id()));
    }
    // Right after the wakes every slot has had a turn within AGENT_LEASE:
    // a new user waits for a lease to pass (a full gateway). Then the same
    // once those leases passed: slots held by idle users, as most are.
    let total_slots = args.slots as usize * shards.len();
    println!(
        "20 concurrent signups → first answer, with {} of {total_slots} slots leased:",
        leased_slots(&mut db).await?
    );
    failed += signup_burst(&client, &api, "burst-leased", &processes).await?;
    let waited = Instant::now();
    while leased_slots(&mut db).await? > 0 && waited.elapsed() < Duration::from_secs(90) {
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    println!(
        "the same once no lease is held ({} leased, after {:.0}s):",
        leased_slots(&mut db).await?,
        waited.elapsed().as_secs_f64()
    );
    failed += signup_burst(&client, &api, "burst-idle", &processes).await?;

    println!("\n3. per gateway");
    for (load, gateway) in shard_loads(&mut db).await?.iter().zip(&gateways) {
        println!(
            "shard {}: {} agents placed, {} resident of {} slots, gateway RSS {:.0} MiB",
            load.id,
            load.agents,
            load.resident,
            load.slots,
            process_tree_rss_mib(gateway.pid())
        );
    }
    println!("failed turns: {failed}");
    drop(keepers);
    drop(gateways);
    let _ = std::fs::remove_dir_all(&root);
    Ok(())
}

/// Slots of every shard whose lease has not passed.
async fn leased_slots(db: &mut diesel_async::AsyncPgConnection) -> Result<i64> {
    Ok(shard_loads(db).await?.iter().map(|load| load.leased).sum())
}

/// The dev model (`binary`) on a free port, once it answers: the process
/// and its `/v1` base URL.
pub(super) async fn start_dev_model(binary: &Path) -> Result<(Running, String)> {
    let port = super::free_port()?;
    let model = Running(
        Command::new(binary)
            .args(["--port", &port.to_string()])
            .stdout(Stdio::null())
            .spawn()
            .context("starting heyclaw-dev-model")?,
    );
    let url = format!("http://127.0.0.1:{port}/v1");
    super::wait_for(&reqwest::Client::new(), &format!("{url}/models")).await?;
    Ok((model, url))
}

/// 20 signups at once, each sending a first message: latency percentiles
/// and the CPU each process spent meanwhile. Returns the failed turns.
async fn signup_burst(
    client: &reqwest::Client,
    api: &str,
    prefix: &str,
    processes: &[(String, u32)],
) -> Result<usize> {
    let cpu_before: Vec<f64> = processes
        .iter()
        .map(|(_, pid)| process_tree_cpu_secs(*pid))
        .collect();
    let burst_started = Instant::now();
    let runs = (0..20).map(|i| async move {
        let started = Instant::now();
        let token = signup(client, api, &format!("{prefix}-{i}@example.com")).await?;
        let answered = turn(client, api, &token, "first words").await?;
        Ok::<_, anyhow::Error>(answered.map(|_| started.elapsed()))
    });
    let mut burst = Vec::new();
    let mut failed = 0;
    for result in futures_util::future::join_all(runs).await {
        match result? {
            Some(latency) => burst.push(latency),
            None => failed += 1,
        }
    }
    let burst_wall = burst_started.elapsed().as_secs_f64();
    burst.sort();
    println!(
        "  p50 {:.2}s, p95 {:.2}s, max {:.2}s ({} answered)",
        pct(&burst, 0.5),
        pct(&burst, 0.95),
        pct(&burst, 1.0),
        burst.len()
    );
    let spent: Vec<String> = processes
        .iter()
        .zip(&cpu_before)
        .map(|((name, pid), before)| format!("{name} {:.1}s", process_tree_cpu_secs(*pid) - before))
        .collect();
    println!(
        "  CPU meanwhile ({burst_wall:.1}s wall, {} cores): {} (PostgreSQL not counted)",
        std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get),
        spent.join(", ")
    );
    Ok(failed)
}

pub(super) fn keeper_config(
    id: &str,
    dir: &Path,
    port: u16,
    slots: u32,
    model_url: &str,
    prompt_plugin: bool,
) -> KeeperConfig {
    KeeperConfig {
        gateway_id: id.to_owned(),
        config_path: dir.join("config/openclaw.json"),
        workspaces_dir: dir.join("w"),
        gateway_workspaces_dir: dir.join("w"),
        slots,
        idle_timeout: Duration::from_secs(1800),
        reconcile_interval: Duration::from_secs(30),
        gateway: GatewayConfigOptions {
            port,
            bind: "loopback".into(),
            model_base_url: model_url.to_owned(),
            log_file: Some(dir.join("state/logs/openclaw.log")),
            prompt_plugin_dir: prompt_plugin.then(heyclaw_test_support::prompt_plugin_path),
        },
    }
}

pub(super) fn start_gateway(
    install: &GatewayInstall,
    dir: &Path,
    config: &KeeperConfig,
    env: &[(&str, &str)],
) -> Result<RealGateway> {
    let mut gateway = RealGateway::start(
        install,
        &RealGatewayOptions {
            config_path: &config.config_path,
            state_dir: &dir.join("state"),
            port: config.gateway.port,
            token: TEST_GATEWAY_TOKEN,
            model_api_key: "heyclaw-dev-model",
            env,
        },
    )
    .map_err(anyhow::Error::msg)?;
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?
        .block_on(gateway.wait_ready(Duration::from_secs(300)))
        .map_err(anyhow::Error::msg)?;
    Ok(gateway)
}

/// A client for the gateway at `url` (the test token), every wait bounded
/// by `timeout`.
pub(super) fn gateway_client(
    url: &str,
    timeout: Duration,
) -> Result<heyclaw_gateway_client::GatewayClient> {
    Ok(heyclaw_gateway_client::GatewayClient::new(
        heyclaw_gateway_client::GatewayConfig {
            base_url: url.to_owned(),
            token: TEST_GATEWAY_TOKEN.to_owned().into(),
            connect_timeout: Duration::from_secs(2),
            request_timeout: timeout,
            first_token_timeout: timeout,
            idle_timeout: timeout,
        },
    )?)
}

/// What the keeper does once its gateway answers: one turn per idle slot.
pub(super) fn warm(url: &str, config: &KeeperConfig) -> Result<()> {
    let client = gateway_client(url, Duration::from_secs(60))?;
    let started = Instant::now();
    let report = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?
        .block_on(heyclaw_keeper::warm::warm_idle_slots(
            &client,
            &config.workspaces_dir,
            config.slots,
            Duration::from_secs(60),
            heyclaw_keeper::warm::RETRY_PAUSE,
        ))?;
    println!(
        "shard {}: {} idle slots warmed in {:.1}s ({} failed; last error: {:?})",
        config.gateway_id,
        report.warmed,
        started.elapsed().as_secs_f64(),
        report.failed,
        report.last_error
    );
    Ok(())
}

struct CurvePoint {
    ready: Duration,
    rss_mib: f64,
    change: Duration,
    longest_health: Duration,
}

/// A gateway with `slots` slot agents: start → ready, RSS once idle, and one
/// roster change (adding a slot) timed by its own log lines, with `/health`
/// probed every 50 ms meanwhile.
async fn curve_point(
    install: &GatewayInstall,
    dir: &Path,
    slots: u32,
    model_url: &str,
    prompt_plugin: bool,
) -> Result<CurvePoint> {
    let config = keeper_config(
        "curve",
        dir,
        super::free_port()?,
        slots,
        model_url,
        prompt_plugin,
    );
    heyclaw_keeper::prepare(&config)?;
    let started = Instant::now();
    let (install, thread_dir, thread_config) = (install.clone(), dir.to_path_buf(), config.clone());
    let gateway = tokio::task::spawn_blocking(move || {
        start_gateway(&install, &thread_dir, &thread_config, &[])
    })
    .await??;
    let ready = started.elapsed();
    // Let start-up work settle before measuring.
    tokio::time::sleep(Duration::from_secs(5)).await;
    let rss_mib = process_tree_rss_mib(gateway.pid());
    let log = dir.join("state/logs/openclaw.log");
    let applied_before = count_in(&log, "config hot reload applied");
    let roster = config.config_path.with_file_name("heyclaw-agents.json");
    write_roster(
        &roster,
        &config.gateway_workspaces_dir,
        slots + 1,
        Default::default(),
    )?;
    let client = reqwest::Client::new();
    let mut longest_health = Duration::ZERO;
    let deadline = Instant::now() + Duration::from_secs(120);
    while count_in(&log, "config hot reload applied") == applied_before {
        if Instant::now() > deadline {
            bail!("the roster change of {slots} slots was not applied within 120 s");
        }
        let probe = Instant::now();
        let _ = client
            .get(format!("{}/health", gateway.url))
            .timeout(Duration::from_secs(30))
            .send()
            .await;
        longest_health = longest_health.max(probe.elapsed());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let change = last_reload_duration(&log).unwrap_or_default();
    drop(gateway);
    Ok(CurvePoint {
        ready,
        rss_mib,
        change,
        longest_health,
    })
}

pub(super) fn count_in(path: &Path, needle: &str) -> usize {
    std::fs::read_to_string(path)
        .map(|text| text.matches(needle).count())
        .unwrap_or(0)
}

/// Detected → applied of the last roster change, from the gateway's log
/// (one JSON object per line with an ISO `time`).
fn last_reload_duration(path: &Path) -> Option<Duration> {
    let text = std::fs::read_to_string(path).ok()?;
    let time_of = |needle: &str| {
        text.lines()
            .rev()
            .find(|line| line.contains(needle))
            .and_then(|line| {
                let value: Value = serde_json::from_str(line).ok()?;
                let time = value["time"]
                    .as_str()
                    .or_else(|| value["_meta"]["date"].as_str())?;
                chrono::DateTime::parse_from_rfc3339(time).ok()
            })
    };
    let detected = time_of("config change detected")?;
    let applied = time_of("config hot reload applied")?;
    (applied - detected).to_std().ok()
}

async fn wait_for_shards(db_url: &str, shards: usize) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let mut conn = heyclaw_persistence::establish(db_url).await?;
        let loads = shard_loads(&mut conn).await?;
        if loads.len() >= shards {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("the keepers did not announce their shards");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// `n` more users like `scale-0`, `scale-1`…, hibernated on the shards.
async fn register(db_url: &str, n: usize) -> Result<()> {
    let mut conn = heyclaw_persistence::establish(db_url).await?;
    admin::execute(
        &mut conn,
        &format!(
            "WITH template AS (SELECT password_hash FROM users WHERE email = 'scale-0@example.com'),
             new AS (
                 INSERT INTO users (email, name, password_hash)
                 SELECT 'scale-' || n || '@example.com', 'Scale ' || n, template.password_hash
                 FROM generate_series(1, {n}) AS n, template
                 RETURNING id),
             subscribed AS (INSERT INTO subscriptions (user_id) SELECT id FROM new)
             INSERT INTO assistants (user_id, agent_id, gateway_id, status)
             SELECT id, 'agent-' || id,
                    CASE WHEN row_number() OVER () % 2 = 0 THEN 'a' ELSE 'b' END,
                    'hibernated'
             FROM new"
        ),
    )
    .await?;
    Ok(())
}

async fn signup(client: &reqwest::Client, api: &str, email: &str) -> Result<String> {
    let body: Value = client
        .post(format!("{api}/auth/signup"))
        .json(&json!({"email": email, "password": "benchpass123", "name": "Scale"}))
        .send()
        .await?
        .json()
        .await?;
    Ok(body["access_token"]
        .as_str()
        .context("signup token")?
        .to_owned())
}

async fn login(client: &reqwest::Client, api: &str, email: &str) -> Result<String> {
    let body: Value = client
        .post(format!("{api}/auth/login"))
        .json(&json!({"email": email, "password": "benchpass123"}))
        .send()
        .await?
        .json()
        .await?;
    Ok(body["access_token"]
        .as_str()
        .context("login token")?
        .to_owned())
}

/// One message; its latency, or `None` when it was not answered.
async fn turn(
    client: &reqwest::Client,
    api: &str,
    token: &str,
    text: &str,
) -> Result<Option<Duration>> {
    let started = Instant::now();
    let response = client
        .post(format!("{api}/agent/message"))
        .bearer_auth(token)
        .json(&json!({ "text": text }))
        .timeout(Duration::from_secs(120))
        .send()
        .await?;
    Ok(response.status().is_success().then(|| started.elapsed()))
}

pub(super) fn pct(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize].as_secs_f64()
}
