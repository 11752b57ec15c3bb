//! `cargo xtask bench soak --minutes N`: steady mixed load — messages,
//! voice turns (with speech), chat reads and token refreshes — against the
//! stand-ins, printing every minute the server's resident memory and open
//! files (both must stay flat), the errors (must be 0) and latency
//! percentiles per route.

use std::{
    collections::BTreeMap,
    sync::{Arc, Mutex},
    time::Duration,
};

use anyhow::Result;
use serde_json::{Value, json};

use super::stack::Stack;

#[derive(Clone, Copy)]
enum Route {
    Message,
    Voice,
    Recent,
    Sessions,
    Refresh,
}

impl Route {
    /// Of ten requests: six messages, one voice turn, one of each read,
    /// one refresh.
    fn of(i: usize) -> Self {
        match i % 10 {
            0..=5 => Route::Message,
            6 => Route::Voice,
            7 => Route::Recent,
            8 => Route::Sessions,
            _ => Route::Refresh,
        }
    }

    fn label(self) -> &'static str {
        match self {
            Route::Message => "POST /agent/message",
            Route::Voice => "POST /agent/voice",
            Route::Recent => "GET /chat/recent",
            Route::Sessions => "GET /chat/sessions",
            Route::Refresh => "POST /auth/refresh",
        }
    }
}

pub async fn run(minutes: u64, rate: u32) -> Result<()> {
    let stack = Arc::new(Stack::start("heyclaw_bench_soak", &[]).await?);
    let users = stack.users("soak", 50).await?;
    let access: Arc<Vec<String>> = Arc::new(users.iter().map(|(a, _)| a.clone()).collect());
    let refresh: Arc<Vec<Mutex<String>>> =
        Arc::new(users.into_iter().map(|(_, r)| Mutex::new(r)).collect());
    println!(
        "soak: {rate} requests/s for {minutes} min (6/10 messages, 1/10 voice, 1/10 each chat read, 1/10 refresh), 50 users"
    );
    let interval = Duration::from_secs_f64(1.0 / f64::from(rate.max(1)));
    let mut i = 0usize;
    for minute in 1..=minutes {
        let started = tokio::time::Instant::now();
        let mut handles = Vec::new();
        while started.elapsed() < Duration::from_secs(60) {
            let scheduled = started + interval * u32::try_from(handles.len()).unwrap_or(u32::MAX);
            tokio::time::sleep_until(scheduled).await;
            let route = Route::of(i);
            let user = i % access.len();
            i += 1;
            let (stack, access, refresh) = (
                Arc::clone(&stack),
                Arc::clone(&access),
                Arc::clone(&refresh),
            );
            handles.push(tokio::spawn(async move {
                let ok = request(&stack, route, &access[user], &refresh[user]).await;
                (route, scheduled.elapsed(), ok)
            }));
        }
        let mut per_route: BTreeMap<&'static str, Vec<Duration>> = BTreeMap::new();
        let mut failed: BTreeMap<String, usize> = BTreeMap::new();
        for handle in handles {
            match handle.await {
                Ok((route, latency, Ok(()))) => {
                    per_route.entry(route.label()).or_default().push(latency);
                }
                Ok((route, _, Err(why))) => {
                    *failed
                        .entry(format!("{} {why}", route.label()))
                        .or_default() += 1;
                }
                Err(_) => *failed.entry("task panicked".into()).or_default() += 1,
            }
        }
        println!(
            "minute {minute}: RSS {:.1} MiB, open files {}, errors {}",
            stack.rss_mib(),
            stack.open_files(),
            failed.values().sum::<usize>()
        );
        for (what, n) in &failed {
            println!("    error: {what} × {n}");
        }
        for (route, mut latencies) in per_route {
            latencies.sort();
            let p = |q: f64| {
                latencies[((latencies.len() - 1) as f64 * q) as usize].as_secs_f64() * 1000.0
            };
            println!(
                "    {route:<22} n {:>6}  p50 {:>7.2} ms  p99 {:>7.2} ms  max {:>7.2} ms",
                latencies.len(),
                p(0.5),
                p(0.99),
                p(1.0)
            );
        }
    }
    if let Ok(stack) = Arc::try_unwrap(stack) {
        stack.stop().await;
    }
    Ok(())
}

/// `Err` says what went wrong: a status, an error event, or the transport.
async fn request(
    stack: &Stack,
    route: Route,
    access: &str,
    refresh: &Mutex<String>,
) -> Result<(), String> {
    let client = &stack.client;
    let url = |path: &str| format!("{}{path}", stack.api);
    let response = match route {
        Route::Message => client
            .post(url("/agent/message"))
            .bearer_auth(access)
            .json(&json!({"text": "hi"}))
            .send()
            .await,
        Route::Voice => client
            .post(url("/agent/voice"))
            .bearer_auth(access)
            .json(&json!({"text": "Tell me a short thing. Then another one.", "recordingDuration": 1}))
            .send()
            .await,
        Route::Recent => client.get(url("/chat/recent")).bearer_auth(access).send().await,
        Route::Sessions => client.get(url("/chat/sessions")).bearer_auth(access).send().await,
        Route::Refresh => {
            let token = refresh.lock().map(|t| t.clone()).unwrap_or_default();
            let response = client
                .post(url("/auth/refresh"))
                .json(&json!({"refresh_token": token}))
                .send()
                .await;
            let response = response.map_err(|err| format!("transport: {err}"))?;
            let status = response.status();
            if !status.is_success() {
                return Err(format!("status {status}"));
            }
            let body: Value = response
                .json()
                .await
                .map_err(|err| format!("body: {err}"))?;
            if let (Some(new), Ok(mut held)) = (body["refresh_token"].as_str(), refresh.lock()) {
                *held = new.to_owned();
            }
            return Ok(());
        }
    };
    let response = response.map_err(|err| {
        format!(
            "transport: {}",
            if err.is_timeout() { "timeout" } else { "error" }
        )
    })?;
    let status = response.status();
    let body = response
        .bytes()
        .await
        .map_err(|err| format!("body: {err}"))?;
    if !status.is_success() {
        let message: Value = serde_json::from_slice(&body).unwrap_or_default();
        return Err(format!("status {status} {}", message["code"]));
    }
    if body.windows(15).any(|w| w == b"\"type\":\"error\"") {
        return Err("error event".into());
    }
    Ok(())
}
