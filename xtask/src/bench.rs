//! `cargo xtask bench message`: the API's overhead on the message path.
//!
//! Starts an instantly-answering gateway stand-in and a release build of
//! heyclaw-api (own database `heyclaw_bench`, own Redis prefix), signs up
//! users, then drives the same open-loop request rate at the stand-in
//! directly and at `POST /agent/message`, and prints throughput and latency
//! percentiles side by side. Latency is measured from each request's
//! *scheduled* send time, so a stalled server cannot hide its queue
//! (no coordinated omission). A benchmark prints figures; it never fails on time.

use std::{
    process::{Child, Command, Stdio},
    sync::Arc,
    time::{Duration, Instant},
};

use anyhow::{Context, Result};
use clap::Subcommand;
use heyclaw_persistence::admin;
use heyclaw_test_support::GatewayStandIn;
use serde_json::{Value, json};
use tokio::sync::Semaphore;

#[derive(Subcommand)]
pub enum BenchCommand {
    /// /agent/message against an instantly-answering gateway, next to the gateway hit directly.
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
    },
    /// import-original: N users of the original, each with chat sessions.
    Import {
        #[arg(long, default_value_t = 10_000)]
        users: usize,
        /// Chat sessions per user (four messages each).
        #[arg(long, default_value_t = 10)]
        sessions: usize,
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
const TOKEN: &str = "bench-gateway-token-0123456789";

pub fn run(command: BenchCommand) -> Result<()> {
    match command {
        BenchCommand::Message {
            rate,
            seconds,
            users,
        } => {
            // The load generator shares the machine with what it measures:
            // an unoptimised one would eat the CPU the server needs.
            if cfg!(debug_assertions) {
                let (rate, seconds, users) =
                    (rate.to_string(), seconds.to_string(), users.to_string());
                return crate::run_cmd(
                    env!("CARGO"),
                    &[
                        "run",
                        "--release",
                        "--quiet",
                        "--package",
                        "xtask",
                        "--",
                        "bench",
                        "message",
                        "--rate",
                        &rate,
                        "--seconds",
                        &seconds,
                        "--users",
                        &users,
                    ],
                );
            }
            crate::services::ensure_running()?;
            crate::run_cmd(
                env!("CARGO"),
                &["build", "--release", "--quiet", "--package", "heyclaw-api"],
            )?;
            crate::runtime()?.block_on(message(rate, Duration::from_secs(seconds), users))
        }
        BenchCommand::Import { users, sessions } => crate::bench_import::run(users, sessions),
        BenchCommand::Voice { turns } => {
            crate::services::ensure_running()?;
            crate::runtime()?.block_on(voice(turns.max(1)))
        }
    }
}

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

async fn message(rate: u32, duration: Duration, users: usize) -> Result<()> {
    let admin_url = heyclaw_test_support::admin_database_url();
    let admin_url = admin_url.as_str();
    let db_url = admin::with_database(admin_url, BENCH_DB);
    {
        let mut maintenance = heyclaw_persistence::establish(admin_url).await?;
        admin::drop_database(&mut maintenance, BENCH_DB).await?;
        admin::create_database(&mut maintenance, BENCH_DB, None).await?;
        heyclaw_persistence::run_migrations(heyclaw_persistence::establish(&db_url).await?).await?;
    }
    // The bench measures overhead, not quota refusals.
    admin::execute(
        &mut heyclaw_persistence::establish(&db_url).await?,
        "UPDATE plan_limits SET daily_text_messages = 100000000",
    )
    .await?;
    let dir = std::env::temp_dir().join(format!("heyclaw-bench-{}", std::process::id()));
    let config = dir.join("config");
    std::fs::create_dir_all(&config)?;
    let gateway = GatewayStandIn::start(TOKEN, config.join("heyclaw-agents.json")).await;
    let port = free_port()?;
    let binary = crate::target_dir().join("release/heyclaw-api");
    let _server = Server(
        Command::new(&binary)
            .env("DATABASE_URL", &db_url)
            .env("REDIS_URL", "redis://127.0.0.1:6379")
            .env(
                "REDIS_KEY_PREFIX",
                format!("heyclaw-bench-{}", std::process::id()),
            )
            .env("JWT_SECRET", crate::random_hex(32))
            .env("OPENCLAW_GATEWAY_TOKEN", TOKEN)
            .env("OPENCLAW_GATEWAY_URL", &gateway.url)
            .env("OPENCLAW_CONFIG_PATH", config.join("openclaw.json"))
            .env("WORKSPACES_DIR", dir.join("workspaces"))
            .env("GATEWAY_WORKSPACES_DIR", dir.join("workspaces"))
            .env("TEMPLATES_DIR", crate::repo_root().join("templates"))
            .env("HOST", "127.0.0.1")
            .env("PORT", port.to_string())
            .env("HTTP_WORKERS", "2")
            .env("DATABASE_POOL_SIZE", "20")
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .spawn()
            .with_context(|| format!("starting {}", binary.display()))?,
    );
    let api = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(1024)
        .build()?;
    wait_for(&client, &format!("{api}/health")).await?;

    let mut tokens = Vec::with_capacity(users);
    let mut agents = Vec::with_capacity(users);
    for i in 0..users {
        let body: Value = client
            .post(format!("{api}/auth/signup"))
            .json(&json!({"email": format!("bench{i}@example.com"), "password": "benchpass123"}))
            .send()
            .await?
            .json()
            .await?;
        tokens.push(
            body["access_token"]
                .as_str()
                .context("signup token")?
                .to_owned(),
        );
        agents.push(format!(
            "agent-{}",
            body["user"]["id"].as_str().context("user id")?
        ));
    }
    let (tokens, agents) = (Arc::new(tokens), Arc::new(agents));

    println!(
        "offered load: {rate} requests/s for {}s per side, {users} users",
        duration.as_secs()
    );
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
    let gateway_stats = load(&direct, rate, duration).await;
    load(&through_api, rate, warm_up).await;
    let api_stats = load(&through_api, rate, duration).await;

    println!();
    println!(
        "{:<28} {:>10} {:>8} {:>9} {:>9} {:>9} {:>9}",
        "", "req/s", "errors", "p50 ms", "p90 ms", "p99 ms", "max ms"
    );
    gateway_stats.print("gateway stand-in, direct");
    api_stats.print("POST /agent/message");
    let overhead = |f: fn(&Stats) -> f64| f(&api_stats) - f(&gateway_stats);
    println!();
    println!(
        "API overhead: p50 {:+.2} ms, p99 {:+.2} ms; throughput ratio (API / direct) {:.2}",
        overhead(|s| s.percentile(0.50)),
        overhead(|s| s.percentile(0.99)),
        api_stats.throughput / gateway_stats.throughput.max(f64::MIN_POSITIVE)
    );
    gateway.stop().await;
    let _ = std::fs::remove_dir_all(dir);
    Ok(())
}

struct Stats {
    latencies: Vec<Duration>,
    errors: usize,
    throughput: f64,
}

impl Stats {
    fn percentile(&self, p: f64) -> f64 {
        if self.latencies.is_empty() {
            return f64::NAN;
        }
        let index = ((self.latencies.len() as f64 - 1.0) * p).round() as usize;
        self.latencies[index].as_secs_f64() * 1000.0
    }

    fn print(&self, label: &str) {
        println!(
            "{label:<28} {:>10.0} {:>8} {:>9.2} {:>9.2} {:>9.2} {:>9.2}",
            self.throughput,
            self.errors,
            self.percentile(0.50),
            self.percentile(0.90),
            self.percentile(0.99),
            self.percentile(1.0)
        );
    }
}

/// Offers `rate` requests per second for `duration`, open loop.
async fn load(
    make: &(impl Fn(usize) -> reqwest::RequestBuilder + Sync),
    rate: u32,
    duration: Duration,
) -> Stats {
    let total = (u64::from(rate) * duration.as_millis() as u64 / 1000) as usize;
    let interval = Duration::from_secs_f64(1.0 / f64::from(rate.max(1)));
    let in_flight = Arc::new(Semaphore::new(4096));
    let start = tokio::time::Instant::now();
    let mut handles = Vec::with_capacity(total);
    for i in 0..total {
        let scheduled = start + interval * i as u32;
        tokio::time::sleep_until(scheduled).await;
        let request = make(i);
        let permit = Arc::clone(&in_flight).acquire_owned().await;
        handles.push(tokio::spawn(async move {
            let _permit = permit;
            let ok = match request.send().await {
                Ok(response) => response.status().is_success() && response.bytes().await.is_ok(),
                Err(_) => false,
            };
            (scheduled.elapsed(), ok)
        }));
    }
    let mut latencies = Vec::with_capacity(total);
    let mut errors = 0;
    for handle in handles {
        match handle.await {
            Ok((latency, true)) => latencies.push(latency),
            _ => errors += 1,
        }
    }
    let elapsed = start.elapsed();
    latencies.sort();
    Stats {
        throughput: latencies.len() as f64 / elapsed.as_secs_f64(),
        latencies,
        errors,
    }
}

async fn wait_for(client: &reqwest::Client, url: &str) -> Result<()> {
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

fn free_port() -> Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// Time to speak one sentence in the voice benchmark.
const TTS_LATENCY: Duration = Duration::from_millis(300);

async fn voice(turns: usize) -> Result<()> {
    use heyclaw_test_support::{
        TestApp,
        speech::{SPEECH_KEY, SpeechStandIn},
    };

    let speech = SpeechStandIn::start().await;
    speech.set_delay(TTS_LATENCY);
    let app = TestApp::spawn_with(&[
        ("OPENAI_API_KEY", SPEECH_KEY),
        ("OPENAI_BASE_URL", &speech.openai_url),
    ])
    .await;
    app.gateway.reply_with(
        "Here is the plan for today. First we check the weather outside. Then we pick a route for the walk. \
         After that we stop for a coffee. Finally we head back home before noon.",
    );
    // Words arrive about as fast as a fast model streams them.
    app.gateway.set_chunk_delay(Duration::from_millis(15));
    let (mut first_audio, mut done, mut seq_first, mut seq_done) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for turn in 0..turns {
        let signup: Value = app
            .post_json(
                "/auth/signup",
                &json!({"email": format!("voice{turn}@example.com"), "password": "benchpass123"}),
            )
            .await
            .json()
            .await?;
        let token = signup["access_token"].as_str().context("token")?.to_owned();
        let started = Instant::now();
        let mut response = app
            .request(
                reqwest::Method::POST,
                "/agent/voice",
                Some(&token),
                Some(&json!({"text": "plan my morning"})),
            )
            .await;
        anyhow::ensure!(
            response.status().is_success(),
            "voice turn failed: {}",
            response.status()
        );
        let (mut buffer, mut text_at, mut audio_at, mut done_at) =
            (String::new(), Vec::new(), None, None);
        while let Some(chunk) = response.chunk().await? {
            buffer.push_str(&String::from_utf8_lossy(&chunk));
            while let Some(end) = buffer.find("\n\n") {
                let block: String = buffer.drain(..end + 2).collect();
                let Some(data) = block.lines().find_map(|line| line.strip_prefix("data: ")) else {
                    continue;
                };
                let event: Value = serde_json::from_str(data)?;
                match event["type"].as_str() {
                    Some("text") => text_at.push(started.elapsed()),
                    Some("audio") if audio_at.is_none() => audio_at = Some(started.elapsed()),
                    Some("done") => done_at = Some(started.elapsed()),
                    _ => {}
                }
            }
        }
        let (Some(audio_at), Some(done_at)) = (audio_at, done_at) else {
            anyhow::bail!("the voice turn ended without audio or done");
        };
        // The same turn through a strictly sequential pipeline: each
        // sentence is spoken after the previous one, once its text is there.
        let mut spoken = Duration::ZERO;
        for (i, at) in text_at.iter().enumerate() {
            spoken = spoken.max(*at) + TTS_LATENCY;
            if i == 0 {
                seq_first.push(spoken);
            }
        }
        seq_done.push(spoken);
        first_audio.push(audio_at);
        done.push(done_at);
    }
    let median = |mut v: Vec<Duration>| {
        v.sort();
        v[v.len() / 2].as_secs_f64() * 1000.0
    };
    println!(
        "voice turn: 5 sentences, speech {} ms a sentence, median of {turns} turns",
        TTS_LATENCY.as_millis()
    );
    println!("{:<28} {:>14} {:>10}", "", "first audio ms", "done ms");
    println!(
        "{:<28} {:>14.0} {:>10.0}",
        "POST /agent/voice",
        median(first_audio),
        median(done)
    );
    println!(
        "{:<28} {:>14.0} {:>10.0}",
        "strictly sequential (model)",
        median(seq_first),
        median(seq_done)
    );
    app.shutdown().await;
    speech.stop().await;
    Ok(())
}
