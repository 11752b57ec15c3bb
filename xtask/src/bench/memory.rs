//! `cargo xtask bench memory`: the server's resident memory in a login
//! storm (`--logins` concurrent logins; argon2id holds ~19 MiB per hash)
//! with password hashing unbounded (64 at once) next to bounded (the
//! default: one per core, the rest queue); then, on a fresh server, the
//! steady state under message load (RSS each 10 s, so a climb shows).
//! Figures from `/proc/<pid>/status` (VmHWM, VmRSS).

use std::{sync::Arc, time::Duration};

use anyhow::Result;
use serde_json::json;

use super::stack::Stack;

pub async fn run(logins: usize, seconds: u64) -> Result<()> {
    println!(
        "{:<44} {:>9} {:>10} {:>8} {:>8}  other answers",
        "password hashing", "idle MiB", "storm peak", "200s", "503s"
    );
    for (label, concurrency) in [
        ("unbounded (64 at once)", "64"),
        ("bounded (default: one per core)", ""),
    ] {
        let stack = Stack::start(
            "heyclaw_bench_memory",
            &[
                ("PASSWORD_HASH_CONCURRENCY", concurrency),
                ("PASSWORD_HASH_QUEUE_TIMEOUT", "30s"),
                // Every login is counted until it succeeds: 25 at once per
                // account would pass the default limit and skip the hash.
                ("LOGIN_MAX_FAILURES_PER_IP", "100000"),
                ("LOGIN_MAX_FAILURES_PER_ACCOUNT", "100000"),
            ],
        )
        .await?;
        stack.users("storm", 20).await?;
        tokio::time::sleep(Duration::from_secs(1)).await;
        let idle = stack.rss_mib();
        stack.reset_peak();
        let url = format!("{}/auth/login", stack.api);
        let storm = (0..logins).map(|i| {
            let (client, url) = (stack.client.clone(), url.clone());
            async move {
                client
                    .post(url)
                    .json(&json!({"email": format!("storm{}@example.com", i % 20), "password": "benchpass123"}))
                    .send()
                    .await
                    .map(|r| r.status().as_u16())
                    .unwrap_or(0)
            }
        });
        let statuses = futures_util::future::join_all(storm).await;
        let peak = stack.peak_rss_mib();
        let ok = statuses.iter().filter(|s| **s == 200).count();
        let busy = statuses.iter().filter(|s| **s == 503).count();
        let mut other = std::collections::BTreeMap::new();
        for status in statuses.iter().filter(|s| !matches!(**s, 200 | 503)) {
            *other.entry(*status).or_insert(0) += 1;
        }
        // Status 0: no answer (the connection failed).
        println!("{label:<44} {idle:>9.1} {peak:>10.1} {ok:>8} {busy:>8}  {other:?}");
        stack.stop().await;
    }
    println!("{logins} concurrent logins. Goal: storm peak ≤ 150 MiB.\n");

    // Steady state: a fresh server, 50 users, 300 messages/s.
    let stack = Stack::start("heyclaw_bench_memory", &[]).await?;
    let tokens: Arc<Vec<String>> = Arc::new(
        stack
            .users("steady", 50)
            .await?
            .into_iter()
            .map(|(a, _)| a)
            .collect(),
    );
    let message_url = format!("{}/agent/message", stack.api);
    let client = stack.client.clone();
    let make = move |i: usize| {
        client
            .post(&message_url)
            .bearer_auth(&tokens[i % tokens.len()])
            .json(&json!({"text": "hi"}))
    };
    println!(
        "steady state, 300 messages/s: RSS MiB at start {:.1}",
        stack.rss_mib()
    );
    let mut errors = 0;
    for elapsed in (10..=seconds.max(10)).step_by(10) {
        let stats = super::load(&make, 300, Duration::from_secs(10)).await;
        errors += stats.errors;
        println!(
            "  after {elapsed:>4} s: RSS {:.1} MiB, p99 {:.2} ms, errors so far {errors}",
            stack.rss_mib(),
            stats.percentile(0.99)
        );
    }
    println!("Goal: steady ≤ 50 MiB.");
    stack.stop().await;
    Ok(())
}
