//! `cargo xtask bench memory`: the server's resident memory in a login
//! storm (`--logins` concurrent logins; argon2id holds ~19 MiB per hash)
//! with password hashing unbounded (64 at once) next to bounded (the
//! default: one per core, the rest queue), then at steady state under
//! message load. Figures from `/proc/<pid>/status` (VmHWM, VmRSS).

use std::{sync::Arc, time::Duration};

use anyhow::Result;
use serde_json::json;

use super::stack::Stack;

pub async fn run(logins: usize, seconds: u64) -> Result<()> {
    println!(
        "{:<44} {:>9} {:>10} {:>8} {:>8} {:>12}",
        "password hashing", "idle MiB", "storm peak", "200s", "503s", "steady MiB"
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
                ("LOGIN_MAX_FAILURES_PER_IP", "100000"),
            ],
        )
        .await?;
        let users = stack.users("storm", 20).await?;
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

        let tokens: Arc<Vec<String>> = Arc::new(users.into_iter().map(|(a, _)| a).collect());
        let message_url = format!("{}/agent/message", stack.api);
        let client = stack.client.clone();
        let make = move |i: usize| {
            client
                .post(&message_url)
                .bearer_auth(&tokens[i % tokens.len()])
                .json(&json!({"text": "hi"}))
        };
        super::load(&make, 300, Duration::from_secs(seconds)).await;
        let steady = stack.rss_mib();
        println!("{label:<44} {idle:>9.1} {peak:>10.1} {ok:>8} {busy:>8} {steady:>12.1}");
        stack.stop().await;
    }
    println!(
        "\n{logins} concurrent logins; steady state after {seconds} s of 300 messages/s. \
         Goals: storm peak ≤ 150 MiB, steady ≤ 50 MiB."
    );
    Ok(())
}
