//! `cargo xtask bench message`: the API's overhead on the message path.
//!
//! Starts an instantly-answering gateway stand-in and a release build of
//! heyclaw-api (own database `heyclaw_bench`, own Redis prefix), signs up
//! users, then drives the same open-loop request rate at the stand-in
//! directly and at `POST /agent/message`, and prints throughput and latency
//! percentiles side by side. Latency is measured from each request's
//! *scheduled* send time, so a stalled server cannot hide its queue
//! (no coordinated omission). Then `wrk` saturates the API at 16 and 64
//! connections, and the server's CPU time per message is read from `/proc`.
//! A benchmark prints figures; it never fails on time.

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

mod first_turns;
mod import;
mod memory;
mod procfs;
mod scale;
mod soak;
mod stack;
mod voice;

use anyhow::Result;
use clap::Subcommand;
use serde_json::json;
use tokio::sync::Semaphore;

#[derive(Subcommand)]
pub enum BenchCommand {
    /// /agent/message against an instantly-answering gateway: open loop next
    /// to the gateway hit directly, then saturated (wrk), cache off and on.
    Message {
        /// Requests per second to offer.
        #[arg(long, default_value_t = 2000)]
        rate: u32,
        /// Seconds to measure each side (after a warm-up of a third of it).
        #[arg(long, default_value_t = 10)]
        seconds: u64,
        /// Distinct users sending messages.
        #[arg(long, default_value_t = 50)]
        users: usize,
        /// A server setting for both runs, `KEY=VALUE` (repeatable), to
        /// compare settings: e.g. `--set HTTP_WORKERS=2`.
        #[arg(long = "set", value_parser = parse_setting)]
        settings: Vec<(String, String)>,
    },
    /// Resident memory in a login storm (hashing unbounded vs bounded) and at
    /// steady state under message load.
    Memory {
        /// Concurrent logins in the storm.
        #[arg(long, default_value_t = 500)]
        logins: usize,
        /// Seconds of message load before the steady-state figure.
        #[arg(long, default_value_t = 30)]
        seconds: u64,
    },
    /// Steady mixed load; memory, open files, errors and latency per minute.
    Soak {
        #[arg(long, default_value_t = 10)]
        minutes: u64,
        /// Requests per second. The load generator, the stand-ins and the
        /// server share the machine; 200/s runs with room to spare on 2
        /// cores (messages p99 ~6.5 ms).
        #[arg(long, default_value_t = 200)]
        rate: u32,
    },
    /// import-original: N users of the original, each with chat sessions.
    Import {
        #[arg(long, default_value_t = 10_000)]
        users: usize,
        /// Chat sessions per user (four messages each).
        #[arg(long, default_value_t = 10)]
        sessions: usize,
    },
    /// The slot design on real gateways: roster curve, wakes among N
    /// hibernated users, stalls, RSS, model input per turn, concurrent signups.
    Scale {
        /// Registered users (all hibernated at the start).
        #[arg(long, default_value_t = 1000)]
        users: usize,
        /// Slot agents per shard (two shards).
        #[arg(long, default_value_t = 16)]
        slots: u32,
        /// Hibernated users woken one after another.
        #[arg(long, default_value_t = 40)]
        wakes: usize,
        /// Slot counts for the roster curve (comma-separated).
        #[arg(long, default_value = "8,16,32", value_delimiter = ',')]
        curve: Vec<u32>,
        /// Run the gateways without HeyClaw's OpenClaw plugin (OpenClaw's
        /// whole system prompt), to compare.
        #[arg(long)]
        without_prompt_plugin: bool,
    },
    /// A new user's first turn on one real gateway: new sessions at once and
    /// one after another, wall time and gateway CPU per turn, for OpenClaw
    /// settings compared in one run.
    FirstTurns {
        /// Slot agents on the gateway (all warmed).
        #[arg(long, default_value_t = 16)]
        slots: u32,
        /// New sessions sent at once (spread over the slots).
        #[arg(long, default_value_t = 20)]
        sessions: usize,
        /// Seconds without turns before a last round (0: no such round).
        #[arg(long, default_value_t = 0)]
        idle: u64,
        /// Measured after the gateway as HeyClaw runs it: OpenClaw config
        /// keys set over HeyClaw's (`path.to.key=JSON`) or the gateway's
        /// environment (`env:NAME=VALUE`), `;`-separated (repeatable, one
        /// variant each), e.g. `--variant 'session.maintenance.mode="warn"'`
        /// or, upstream's idle agent databases,
        /// `--variant 'env:HEYCLAW_IDLE_AGENT_DATABASES=1;env:HEYCLAW_IDLE_AGENT_DATABASE_MS=60000'`.
        #[arg(long = "variant", value_parser = first_turns::parse_variant)]
        variants: Vec<first_turns::Variant>,
    },
    /// /agent/voice: a 5-sentence reply, speech at 300 ms a sentence; time to
    /// first audio and to done, next to a strictly sequential pipeline.
    Voice {
        /// Voice turns to measure (the median is printed).
        #[arg(long, default_value_t = 5)]
        turns: usize,
    },
}

const BENCH_DB: &str = "heyclaw_bench";
/// Debian's `wrk`, the saturating load generator.
const WRK: &str = "/usr/bin/wrk";
use heyclaw_test_support::TEST_GATEWAY_TOKEN as TOKEN;

pub fn run(command: BenchCommand) -> Result<()> {
    match command {
        BenchCommand::Message {
            rate,
            seconds,
            users,
            settings,
        } => {
            let (rate_arg, seconds_arg, users_arg) =
                (rate.to_string(), seconds.to_string(), users.to_string());
            let set_args: Vec<String> = settings
                .iter()
                .map(|(k, v)| format!("--set={k}={v}"))
                .collect();
            let mut args = vec![
                "message",
                "--rate",
                &rate_arg,
                "--seconds",
                &seconds_arg,
                "--users",
                &users_arg,
            ];
            args.extend(set_args.iter().map(String::as_str));
            release_then(&args, || {
                crate::tools::ensure_debian_packages(&[WRK], &["wrk"])?;
                // One thread for the load generator: a request's wake-ups stay
                // on it instead of crossing between workers (CPU the server
                // would otherwise lose to the tool measuring it).
                tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()?
                    .block_on(message(
                        rate,
                        Duration::from_secs(seconds),
                        users,
                        &settings,
                    ))
            })
        }
        BenchCommand::Import { users, sessions } => release_then(
            &[
                "import",
                "--users",
                &users.to_string(),
                "--sessions",
                &sessions.to_string(),
            ],
            || import::run(users, sessions),
        ),
        BenchCommand::Memory { logins, seconds } => release_then(
            &[
                "memory",
                "--logins",
                &logins.to_string(),
                "--seconds",
                &seconds.to_string(),
            ],
            || crate::runtime()?.block_on(memory::run(logins, seconds)),
        ),
        BenchCommand::Soak { minutes, rate } => release_then(
            &[
                "soak",
                "--minutes",
                &minutes.to_string(),
                "--rate",
                &rate.to_string(),
            ],
            || crate::runtime()?.block_on(soak::run(minutes, rate)),
        ),
        BenchCommand::Scale {
            users,
            slots,
            wakes,
            curve,
            without_prompt_plugin,
        } => {
            crate::services::ensure_running()?;
            crate::runtime()?.block_on(scale::run(scale::Args {
                users,
                slots,
                wakes,
                curve,
                prompt_plugin: !without_prompt_plugin,
            }))
        }
        BenchCommand::FirstTurns {
            slots,
            sessions,
            idle,
            variants,
        } => crate::runtime()?.block_on(first_turns::run(
            slots.max(1),
            sessions.max(1),
            Duration::from_secs(idle),
            variants,
        )),
        BenchCommand::Voice { turns } => {
            crate::services::ensure_running()?;
            crate::runtime()?.block_on(voice::run(turns.max(1)))
        }
    }
}

/// `KEY=VALUE`, for `--set`.
fn parse_setting(text: &str) -> Result<(String, String), String> {
    text.split_once('=')
        .filter(|(key, _)| !key.is_empty())
        .map(|(key, value)| (key.to_owned(), value.to_owned()))
        .ok_or_else(|| format!("expected KEY=VALUE, got `{text}`"))
}

/// Runs `bench <args>` from a release build of xtask (an unoptimised load
/// generator shares the machine with what it measures and would take the
/// CPU the server needs), else `run` here once the services are up.
fn release_then(args: &[&str], run: impl FnOnce() -> Result<()>) -> Result<()> {
    if cfg!(debug_assertions) {
        let mut full = vec![
            "run",
            "--release",
            "--quiet",
            "--package",
            "xtask",
            "--",
            "bench",
        ];
        full.extend_from_slice(args);
        return crate::run_cmd(env!("CARGO"), &full);
    }
    crate::services::ensure_running()?;
    run()
}

/// The message path with the access cache off (every request reads
/// Postgres twice) and on (none): open loop at `rate`, in one-second blocks
/// taken in turn with the gateway hit directly (with the CPU the API,
/// Postgres and Redis spent per message), then saturated by `wrk` at 16 and
/// 64 connections, with the server's CPU time per message.
async fn message(
    rate: u32,
    duration: Duration,
    users: usize,
    settings: &[(String, String)],
) -> Result<()> {
    println!(
        "offered load: {rate} requests/s for {}s per side (1 s blocks in turn), {users} users{}",
        duration.as_secs(),
        settings
            .iter()
            .map(|(k, v)| format!(", {k}={v}"))
            .collect::<String>()
    );
    println!(
        "{:<38} {:>7} {:>6} {:>7} {:>7} {:>7} {:>7} {:>9}",
        "", "req/s", "errors", "p50 ms", "p90 ms", "p99 ms", "max ms", "late p99"
    );
    let mut saturated = Vec::new();
    for (label, ttl) in [("access cache off", "0s"), ("access cache on", "30s")] {
        let mut env = vec![("ACCESS_CACHE_TTL", ttl)];
        env.extend(settings.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        let stack = stack::Stack::start(BENCH_DB, &env).await?;
        let tokens: Vec<String> = stack
            .users("bench", users)
            .await?
            .into_iter()
            .map(|(access, _)| access)
            .collect();
        let (gateway_stats, api_stats, cpu) = message_run(&stack, &tokens, rate, duration).await?;
        gateway_stats.print(&format!("gateway direct ({label})"));
        api_stats.print(&format!("POST /agent/message ({label})"));
        let overhead = |f: fn(&Stats) -> f64| f(&api_stats) - f(&gateway_stats);
        let per_message = |secs: f64| {
            secs * 1000.0 / (api_stats.latencies.len() + api_stats.errors).max(1) as f64
        };
        println!(
            "  API overhead: p50 {:+.2} ms, p99 {:+.2} ms; throughput ratio (API / direct) {:.2}\n  \
             CPU per message: API {:.3} ms, Postgres {:.3} ms, Redis {:.3} ms",
            overhead(|s| s.percentile(0.50)),
            overhead(|s| s.percentile(0.99)),
            api_stats.throughput() / gateway_stats.throughput().max(f64::MIN_POSITIVE),
            per_message(cpu.api),
            per_message(cpu.postgres),
            per_message(cpu.redis),
        );
        for connections in [16, 64] {
            let cpu_before = stack.cpu_secs();
            let run = wrk(&stack.api, &tokens, connections, duration).await?;
            let cpu = stack.cpu_secs() - cpu_before;
            saturated.push((label, connections, run, cpu));
        }
        stack.stop().await;
    }
    println!(
        "\nsaturated (wrk, 2 threads, {}s each)\n{:<34} {:>10} {:>8} {:>9} {:>9} {:>14}",
        duration.as_secs(),
        "",
        "req/s",
        "errors",
        "p50 ms",
        "p99 ms",
        "CPU ms / msg"
    );
    for (label, connections, run, cpu) in saturated {
        println!(
            "{:<34} {:>10.0} {:>8} {:>9.2} {:>9.2} {:>14.3}",
            format!("c={connections} ({label})"),
            run.requests as f64 / run.seconds,
            run.errors,
            run.p50_ms,
            run.p99_ms,
            cpu * 1000.0 / run.requests.max(1) as f64,
        );
    }
    Ok(())
}

/// CPU seconds used while the API's side was measured.
#[derive(Default)]
struct SideCpu {
    api: f64,
    /// Every `postgres` process of the machine: the turns the API records.
    postgres: f64,
    /// Every `redis-server` process: quota reservations.
    redis: f64,
}

impl SideCpu {
    fn now(stack: &stack::Stack) -> Self {
        Self {
            api: stack.cpu_secs(),
            postgres: procfs::cpu_secs_of_command("postgres"),
            redis: procfs::cpu_secs_of_command("redis-server"),
        }
    }

    fn add_since(&mut self, before: &Self, after: &Self) {
        self.api += after.api - before.api;
        self.postgres += after.postgres - before.postgres;
        self.redis += after.redis - before.redis;
    }
}

/// Open loop at `rate`: the gateway directly, then through the API; the
/// CPU the API, Postgres and Redis used during the API's measured blocks.
async fn message_run(
    stack: &stack::Stack,
    tokens: &[String],
    rate: u32,
    duration: Duration,
) -> Result<(Stats, Stats, SideCpu)> {
    let (api, client, gateway) = (stack.api.clone(), stack.client.clone(), stack.gateway()?);
    // The gateway straight: one slot agent per user, as the API would use.
    let agents: Arc<Vec<String>> =
        Arc::new((0..tokens.len()).map(|i| format!("slot-{i}")).collect());
    let tokens = Arc::new(tokens.to_vec());
    let warm_up = duration / 3;
    let direct = {
        let (client, url, agents) = (
            client.clone(),
            format!("{}/v1/chat/completions", gateway.url),
            Arc::clone(&agents),
        );
        move |i: usize| {
            let agent = &agents[i % agents.len()];
            client
                .post(&url)
                .bearer_auth(TOKEN)
                .header("x-openclaw-agent-id", agent)
                .json(&json!({"model": format!("openclaw/{agent}"), "messages": [{"role": "user", "content": "hi"}], "user": agent}))
        }
    };
    let through_api = {
        let (client, url, tokens) = (
            client.clone(),
            format!("{api}/agent/message"),
            Arc::clone(&tokens),
        );
        move |i: usize| {
            client
                .post(&url)
                .bearer_auth(&tokens[i % tokens.len()])
                .json(&json!({"text": "hi"}))
        }
    };
    load(&direct, rate, warm_up).await;
    load(&through_api, rate, warm_up).await;
    // Every user is resident now. The keeper's test rounds (every 250 ms,
    // a production keeper's are minutes apart) would otherwise run in this
    // process beside the load generator, in what is measured.
    stack.shard.stop_keeper();
    // One-second blocks, the two sides in turn: the machine is shared, and
    // a slow spell of it then falls on both sides alike instead of on
    // whichever was measuring, so the difference is the API's.
    let mut gateway_stats = Stats::default();
    let mut api_stats = Stats::default();
    let mut cpu = SideCpu::default();
    for _ in 0..duration.as_secs().max(1) {
        gateway_stats.absorb(load(&direct, rate, BLOCK).await);
        let before = SideCpu::now(stack);
        api_stats.absorb(load(&through_api, rate, BLOCK).await);
        cpu.add_since(&before, &SideCpu::now(stack));
    }
    Ok((gateway_stats, api_stats, cpu))
}

/// How long each side is measured before the other takes its turn.
const BLOCK: Duration = Duration::from_secs(1);

/// What one `wrk` run measured.
struct WrkRun {
    requests: u64,
    /// Socket errors, timeouts and non-2xx answers.
    errors: u64,
    seconds: f64,
    p50_ms: f64,
    p99_ms: f64,
}

/// `POST /agent/message` as fast as `connections` connections allow
/// (closed loop, `wrk` from Debian: a load generator in C takes far less
/// of the 2 cores than the server it measures), users in turn.
async fn wrk(api: &str, tokens: &[String], connections: u32, duration: Duration) -> Result<WrkRun> {
    let tokens = tokens
        .iter()
        .map(|t| format!("\"{t}\""))
        .collect::<Vec<_>>()
        .join(",");
    // `done` prints one JSON line; wrk's latencies are microseconds.
    let script = format!(
        r#"local tokens = {{{tokens}}}
local n = 0
request = function()
  n = n + 1
  return wrk.format("POST", "/agent/message",
    {{["Authorization"] = "Bearer " .. tokens[(n % #tokens) + 1], ["Content-Type"] = "application/json"}},
    '{{"text":"hi"}}')
end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('{{"requests":%d,"errors":%d,"micros":%d,"p50":%d,"p99":%d}}\n',
    summary.requests, e.connect + e.read + e.write + e.timeout + e.status,
    summary.duration, latency:percentile(50), latency:percentile(99)))
end
"#
    );
    let path = std::env::temp_dir().join(format!("heyclaw-bench-{}.lua", std::process::id()));
    std::fs::write(&path, script)?;
    let args = vec![
        "-t2".to_owned(),
        format!("-c{connections}"),
        format!("-d{}s", duration.as_secs().max(1)),
        "--timeout".to_owned(),
        "10s".to_owned(),
        "-s".to_owned(),
        path.display().to_string(),
        api.to_owned(),
    ];
    let output =
        tokio::task::spawn_blocking(move || std::process::Command::new(WRK).args(&args).output())
            .await??;
    let _ = std::fs::remove_file(&path);
    let stdout = String::from_utf8_lossy(&output.stdout);
    anyhow::ensure!(output.status.success(), "wrk failed: {stdout}");
    let line = stdout
        .lines()
        .rev()
        .find(|l| l.starts_with('{'))
        .ok_or_else(|| anyhow::anyhow!("wrk printed no summary: {stdout}"))?;
    let summary: serde_json::Value = serde_json::from_str(line)?;
    let number = |key: &str| summary[key].as_f64().unwrap_or(f64::NAN);
    Ok(WrkRun {
        requests: summary["requests"].as_u64().unwrap_or(0),
        errors: summary["errors"].as_u64().unwrap_or(0),
        seconds: number("micros") / 1e6,
        p50_ms: number("p50") / 1000.0,
        p99_ms: number("p99") / 1000.0,
    })
}

#[derive(Default)]
pub(super) struct Stats {
    /// From each answered request's scheduled send time; sorted.
    latencies: Vec<Duration>,
    /// How late the load generator sent each answered request; sorted. Its
    /// tail shows how busy the machine was while this side was measured.
    late: Vec<Duration>,
    errors: usize,
    /// How long the load was offered.
    elapsed: Duration,
}

impl Stats {
    /// Answered requests per second of offered load.
    fn throughput(&self) -> f64 {
        self.latencies.len() as f64 / self.elapsed.as_secs_f64().max(f64::MIN_POSITIVE)
    }

    /// Adds another run's figures.
    fn absorb(&mut self, other: Stats) {
        self.latencies.extend(other.latencies);
        self.latencies.sort();
        self.late.extend(other.late);
        self.late.sort();
        self.errors += other.errors;
        self.elapsed += other.elapsed;
    }

    /// A latency percentile, ms.
    fn percentile(&self, p: f64) -> f64 {
        percentile_ms(&self.latencies, p)
    }

    fn print(&self, label: &str) {
        println!(
            "{label:<38} {:>7.0} {:>6} {:>7.2} {:>7.2} {:>7.2} {:>7.2} {:>9.2}",
            self.throughput(),
            self.errors,
            self.percentile(0.50),
            self.percentile(0.90),
            self.percentile(0.99),
            self.percentile(1.0),
            percentile_ms(&self.late, 0.99),
        );
    }
}

/// The `p` percentile of sorted durations, ms (NaN when there are none).
fn percentile_ms(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index].as_secs_f64() * 1000.0
}

/// Offers `rate` requests per second for `duration`, open loop.
pub(super) async fn load(
    make: &(impl Fn(usize) -> reqwest::RequestBuilder + Sync),
    rate: u32,
    duration: Duration,
) -> Stats {
    let total = (u64::from(rate) * duration.as_millis() as u64 / 1000) as usize;
    let interval = Duration::from_secs_f64(1.0 / f64::from(rate.max(1)));
    let in_flight = Arc::new(Semaphore::new(4096));
    let start = Instant::now();
    // Send times come from a thread of their own sleeping on the kernel's
    // timer. The runtime's timer wheel ticks in whole milliseconds (and its
    // park rounds up): requests left in bursts of four every 2 ms instead
    // of one every 0.5 ms, and ~1 ms late at the median.
    let (due, mut next) = tokio::sync::mpsc::unbounded_channel();
    let pacer = std::thread::spawn(move || {
        for i in 0..total {
            let scheduled = start + interval * i as u32;
            if let Some(wait) = scheduled.checked_duration_since(Instant::now()) {
                std::thread::sleep(wait);
            }
            if due.send((i, scheduled)).is_err() {
                break;
            }
        }
    });
    let mut handles = Vec::with_capacity(total);
    while let Some((i, scheduled)) = next.recv().await {
        let request = make(i);
        let permit = Arc::clone(&in_flight).acquire_owned().await;
        handles.push(tokio::spawn(async move {
            let _permit = permit;
            let late = scheduled.elapsed();
            let ok = match request.send().await {
                Ok(response) => response.status().is_success() && response.bytes().await.is_ok(),
                Err(_) => false,
            };
            (scheduled.elapsed(), late, ok)
        }));
    }
    let _ = pacer.join();
    let mut stats = Stats::default();
    for handle in handles {
        match handle.await {
            Ok((latency, late, true)) => {
                stats.latencies.push(latency);
                stats.late.push(late);
            }
            _ => stats.errors += 1,
        }
    }
    stats.elapsed = start.elapsed();
    stats.latencies.sort();
    stats.late.sort();
    stats
}

pub(super) async fn wait_for(client: &reqwest::Client, url: &str) -> Result<()> {
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(30) {
        if client
            .get(url)
            .send()
            .await
            .is_ok_and(|r| r.status().is_success())
        {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    anyhow::bail!("the API did not come up at {url}")
}

pub(super) fn free_port() -> Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}
