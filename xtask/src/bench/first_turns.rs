//! `cargo xtask bench first-turns`: what a new user's first turn costs one
//! real gateway, for OpenClaw settings compared in one run.
//!
//! For the gateway as HeyClaw runs it (its config, the pinned openclaw with
//! HeyClaw's patches), then for each `--variant` (config keys set over it,
//! or environment, e.g. a patch's settings): one gateway with `--slots`
//! warmed slot agents and the dev model; each slot's `USER.md` rewritten (a
//! new user moved in); then `--sessions` new sessions at once, spread over
//! the slots (a signup burst), the same sessions' second turns at once, new
//! sessions one after another, next turns of existing sessions one after
//! another, on one agent and going round the agents, and (`--idle`) the
//! same turns after the gateway had none for a while. Prints wall-time
//! percentiles, the gateway's CPU seconds per turn, and its "slow SQLite"
//! log lines.
//!
//! It prints figures; it never fails on time.

use std::{
    path::Path,
    time::{Duration, Instant},
};

use anyhow::{Context, Result, bail};
use heyclaw_gateway_client::{ChatRequest, GatewayClient};
use serde_json::Value;

use super::{
    procfs::{process_tree_cpu_secs, process_tree_rss_mib},
    scale::{count_in, gateway_client, keeper_config, pct, start_dev_model, start_gateway, warm},
};

/// Turns of one session after another, for the sequential figure.
const SEQUENTIAL: usize = 5;

/// Dotted config keys and the JSON each is set to, and the gateway's
/// environment.
#[derive(Clone, Debug)]
pub struct Variant {
    pub label: String,
    pub settings: Vec<(String, Value)>,
    pub env: Vec<(String, String)>,
}

/// `path.to.key=JSON` or `env:NAME=VALUE`, `;`-separated, for `--variant`.
pub fn parse_variant(text: &str) -> Result<Variant, String> {
    let mut variant = Variant {
        label: text.to_owned(),
        settings: Vec::new(),
        env: Vec::new(),
    };
    for setting in text.split(';') {
        let (key, value) = setting
            .split_once('=')
            .filter(|(key, _)| !key.is_empty())
            .ok_or_else(|| {
                format!("expected path.to.key=JSON or env:NAME=VALUE, got `{setting}`")
            })?;
        if let Some(name) = key.strip_prefix("env:") {
            variant.env.push((name.to_owned(), value.to_owned()));
        } else {
            let value = serde_json::from_str(value)
                .map_err(|err| format!("`{value}` is not JSON ({err})"))?;
            variant.settings.push((key.to_owned(), value));
        }
    }
    Ok(variant)
}

pub async fn run(
    slots: u32,
    sessions: usize,
    idle: Duration,
    variants: Vec<Variant>,
) -> Result<()> {
    crate::run_cmd(
        env!("CARGO"),
        &[
            "build",
            "--release",
            "--quiet",
            "--package",
            "heyclaw-dev-model",
        ],
    )?;
    let install = crate::gateway::install()?;
    let root = std::env::temp_dir().join(format!("heyclaw-bench-first-{}", std::process::id()));
    let (_model, model_url) =
        start_dev_model(&crate::target_dir().join("release/heyclaw-dev-model")).await?;

    println!(
        "one gateway, {slots} warmed slots; {sessions} new sessions at once, their second turns \
         at once, {SEQUENTIAL} new sessions one after another (wall s; gateway CPU s per turn)"
    );
    let as_written = Variant {
        label: "as HeyClaw runs it".to_owned(),
        settings: Vec::new(),
        env: Vec::new(),
    };
    for (index, variant) in std::iter::once(as_written).chain(variants).enumerate() {
        let dir = root.join(format!("variant-{index}"));
        println!("\n{}", variant.label);
        measure(&install, &dir, slots, sessions, idle, &model_url, &variant).await?;
        let _ = std::fs::remove_dir_all(&dir);
    }
    let _ = std::fs::remove_dir_all(&root);
    Ok(())
}

async fn measure(
    install: &heyclaw_test_support::real_gateway::GatewayInstall,
    dir: &Path,
    slots: u32,
    sessions: usize,
    idle: Duration,
    model_url: &str,
    variant: &Variant,
) -> Result<()> {
    let config = keeper_config("first", dir, super::free_port()?, slots, model_url, true);
    heyclaw_keeper::prepare(&config)?;
    set_keys(&config.config_path, &variant.settings)?;
    let (thread_install, thread_dir, thread_config, thread_env) = (
        install.clone(),
        dir.to_path_buf(),
        config.clone(),
        variant.env.clone(),
    );
    let gateway = tokio::task::spawn_blocking(move || {
        let env: Vec<(&str, &str)> = thread_env
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let gateway = start_gateway(&thread_install, &thread_dir, &thread_config, &env)?;
        warm(&gateway.url, &thread_config)?;
        Ok::<_, anyhow::Error>(gateway)
    })
    .await??;
    let client = gateway_client(&gateway.url, Duration::from_secs(120))?;
    // A new user moved into every slot: their files differ from what the
    // warm-up saw.
    for slot in 0..slots {
        let user_file = heyclaw_keeper::slot_dir(&config.workspaces_dir, slot).join("USER.md");
        let mut text = std::fs::read_to_string(&user_file).unwrap_or_default();
        text.push_str(&format!("\n- Name: First {slot}\n"));
        std::fs::write(&user_file, text)?;
    }
    let pid = gateway.pid();
    let log = dir.join("state/logs/openclaw.log");
    let slow_before = count_in(&log, "slow SQLite");
    let keys = spread_over_slots("first", sessions, slots);
    timed_round(&client, pid, "first turns at once", &keys, true).await?;
    timed_round(&client, pid, "second turns at once", &keys, true).await?;
    let new_sessions = spread_over_slots("sequential", SEQUENTIAL, slots);
    timed_round(
        &client,
        pid,
        "first turns one after another",
        &new_sessions,
        false,
    )
    .await?;
    // Existing sessions: turns on one agent, then turns that go round the
    // agents (what a gateway serving many users sees).
    let one_agent = vec![keys[0].clone(); SEQUENTIAL];
    let round_the_agents: Vec<_> = keys.iter().cycle().take(SEQUENTIAL).cloned().collect();
    timed_round(&client, pid, "next turns, one agent", &one_agent, false).await?;
    timed_round(
        &client,
        pid,
        "next turns, agent after agent",
        &round_the_agents,
        false,
    )
    .await?;
    // A quiet gateway: the next turns after `idle` without any.
    if !idle.is_zero() {
        let rss = process_tree_rss_mib(pid);
        tokio::time::sleep(idle).await;
        println!(
            "  gateway RSS {rss:.0} MiB, after {}s idle {:.0} MiB",
            idle.as_secs(),
            process_tree_rss_mib(pid)
        );
        let label = format!("next turns after {}s idle", idle.as_secs());
        timed_round(&client, pid, &label, &round_the_agents, false).await?;
    }
    println!(
        "  gateway RSS {:.0} MiB; its log: {} \"slow SQLite\" line(s) meanwhile",
        process_tree_rss_mib(pid),
        count_in(&log, "slow SQLite") - slow_before
    );
    Ok(())
}

/// `n` new sessions `<prefix>-<i>`, on slot agents in turn: (agent,
/// session) pairs.
fn spread_over_slots(prefix: &str, n: usize, slots: u32) -> Vec<(String, String)> {
    (0..n)
        .map(|i| {
            (
                heyclaw_agent_provisioning::slot_id(i as u32 % slots),
                format!("{prefix}-{i}"),
            )
        })
        .collect()
}

/// `turns` (agent, session) all at once or one after another, printed as
/// one round with the gateway's CPU per turn.
async fn timed_round(
    client: &GatewayClient,
    pid: u32,
    round: &str,
    turns: &[(String, String)],
    at_once: bool,
) -> Result<()> {
    let cpu = process_tree_cpu_secs(pid);
    let started = Instant::now();
    let mut walls = if at_once {
        let all = turns
            .iter()
            .map(|(agent, session)| timed_turn(client, agent, session));
        futures_util::future::try_join_all(all).await?
    } else {
        let mut walls = Vec::new();
        for (agent, session) in turns {
            walls.push(timed_turn(client, agent, session).await?);
        }
        walls
    };
    walls.sort();
    let cpu_per_turn = (process_tree_cpu_secs(pid) - cpu) / walls.len().max(1) as f64;
    println!(
        "  {round:<30} p50 {:>5.2}  p95 {:>5.2}  max {:>5.2}  all {:>5.1}  CPU/turn {cpu_per_turn:.2}",
        pct(&walls, 0.5),
        pct(&walls, 0.95),
        pct(&walls, 1.0),
        started.elapsed().as_secs_f64(),
    );
    Ok(())
}

async fn timed_turn(client: &GatewayClient, agent: &str, session: &str) -> Result<Duration> {
    let started = Instant::now();
    client
        .chat(ChatRequest {
            agent_id: agent,
            session,
            text: "first words",
            history: &[],
        })
        .await
        .with_context(|| format!("a turn of {agent} ({session})"))?;
    Ok(started.elapsed())
}

/// Sets dotted keys in the gateway config (objects made on the way).
fn set_keys(config_path: &Path, settings: &[(String, Value)]) -> Result<()> {
    if settings.is_empty() {
        return Ok(());
    }
    let mut config: Value = serde_json::from_str(&std::fs::read_to_string(config_path)?)?;
    for (key, value) in settings {
        let mut node = &mut config;
        let mut parts = key.split('.').peekable();
        while let Some(part) = parts.next() {
            let Some(object) = node.as_object_mut() else {
                bail!("`{key}`: `{part}` is inside a value that is not an object");
            };
            if parts.peek().is_none() {
                object.insert(part.to_owned(), value.clone());
                break;
            }
            node = object
                .entry(part)
                .or_insert_with(|| Value::Object(Default::default()));
        }
    }
    std::fs::write(config_path, serde_json::to_string_pretty(&config)?)?;
    Ok(())
}
