use std::time::{Duration, Instant};

use heyclaw_test_support::{TEST_GATEWAY_TOKEN, TestApp, json_body};
use reqwest::Method;
use serde_json::{Value, json};

use crate::stack;

struct User {
    id: String,
    token: String,
}

async fn sign_up(app: &TestApp, email: &str, name: &str) -> User {
    let response = app
        .post_json(
            "/auth/signup",
            &json!({"email": email, "password": "testpass123", "name": name}),
        )
        .await;
    assert_eq!(response.status(), 201);
    let body = json_body(response).await;
    User {
        id: body["user"]["id"].as_str().unwrap().to_owned(),
        token: body["access_token"].as_str().unwrap().to_owned(),
    }
}

async fn message(app: &TestApp, user: &User, text: &str) -> (u16, Value) {
    let response = app
        .request(
            Method::POST,
            "/agent/message",
            Some(&user.token),
            Some(&json!({ "text": text })),
        )
        .await;
    let status = response.status().as_u16();
    (status, json_body(response).await)
}

fn reply(body: &Value) -> &str {
    body["response"].as_str().unwrap_or_default()
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

/// Waits until `user`'s agent is resident; its shard and slot.
async fn resident(app: &TestApp, user: &User) -> (usize, u32) {
    app.wait_resident(&user.id).await;
    app.resident_slot(&user.id).await.unwrap()
}

/// The seed's Step 8: signup → status → message → response with usage.
pub async fn seed_step_8_through_the_real_gateway() {
    let app = stack::app().await;
    let user = sign_up(&app, "test@test.com", "Test User").await;
    // Signing up wakes the agent into a slot of its shard.
    resident(&app, &user).await;
    let status = json_body(
        app.request(Method::GET, "/agent/status", Some(&user.token), None)
            .await,
    )
    .await;
    assert_eq!(status["agentStatus"], "running");
    assert_eq!(status["agentId"], format!("agent-{}", user.id));
    let (code, body) = message(&app, &user, "Hello, what can you help me with?").await;
    assert_eq!(code, 200, "{body}");
    assert!(
        reply(&body).contains("Hello, what can you help me with?"),
        "{body}"
    );
    assert_eq!(
        body["usage"],
        json!({"messagesUsed": 1, "messagesLimit": 50})
    );
    app.shutdown().await;
}

/// A conversation continues in its gateway session; after the agent has
/// hibernated and woken in another slot, the conversation so far reaches
/// the model with the first turn, and the agent's memory file is back.
pub async fn a_conversation_continues_across_hibernation() {
    let app = stack::app().await;
    let user = sign_up(&app, "cont@test.com", "Cont").await;
    let (_, first) = message(&app, &user, "my favourite colour is teal").await;
    assert!(reply(&first).ends_with("(turn 1)"), "{first}");
    let (_, second) = message(&app, &user, "what did I say?").await;
    assert!(reply(&second).ends_with("(turn 2)"), "{second}");
    let other = sign_up(&app, "other@test.com", "Other").await;
    let (_, theirs) = message(&app, &other, "hello").await;
    assert!(reply(&theirs).ends_with("(turn 1)"), "{theirs}");

    // The agent writes to its memory, through the gateway's file tool.
    let (status, wrote) = message(
        &app,
        &user,
        r#"DO_TOOL:{"name":"write","args":{"path":"MEMORY.md","content":"Cont likes teal."}}"#,
    )
    .await;
    assert_eq!(status, 200, "{wrote}");
    let workspace = app.wait_resident(&user.id).await;
    assert_eq!(
        std::fs::read_to_string(workspace.join("MEMORY.md")).unwrap(),
        "Cont likes teal.",
        "the gateway wrote into the slot's workspace"
    );
    let before = app.resident_slot(&user.id).await.unwrap();

    app.clock.advance(Duration::from_secs(31 * 60));
    let deadline = Instant::now() + Duration::from_secs(20);
    while app.resident_slot(&user.id).await.is_some() {
        assert!(Instant::now() < deadline, "the agent never hibernated");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let started = Instant::now();
    let (code, after) = message(&app, &user, "what is my favourite colour?").await;
    let wake = started.elapsed();
    assert_eq!(code, 200, "{after}");
    assert!(
        reply(&after).contains("my favourite colour is teal"),
        "the conversation so far came along: {after}"
    );
    // Its memory file came along into whichever slot it woke in.
    let workspace = app.wait_resident(&user.id).await;
    assert_eq!(
        std::fs::read_to_string(workspace.join("MEMORY.md")).unwrap(),
        "Cont likes teal."
    );
    println!(
        "hibernate → wake → answer (slot {before:?} → {:?}): {wake:?}",
        app.resident_slot(&user.id).await
    );
    app.shutdown().await;
}

/// Signups and wakes change no roster: both gateways are the processes we
/// started, their roster files are byte for byte the same and they logged no
/// reload, while a user in mid-conversation keeps getting answers.
pub async fn twenty_signups_restart_nothing_and_interrupt_no_one() {
    let app = stack::app().await;
    let pids = [stack::gateway_pid(0), stack::gateway_pid(1)];
    let rosters = [stack::roster(0), stack::roster(1)];
    let reloads = |shard| {
        stack::gateway_log(shard)
            .matches("config change detected")
            .count()
    };
    let reloads_before = [reloads(0), reloads(1)];
    let talker = sign_up(&app, "talker@test.com", "Talker").await;
    assert_eq!(message(&app, &talker, "warm up").await.0, 200);

    let chatting = async {
        let mut latencies = Vec::new();
        for i in 0..15 {
            let started = Instant::now();
            let (status, body) = message(&app, &talker, &format!("still here {i}")).await;
            assert_eq!(status, 200, "{body}");
            latencies.push(started.elapsed());
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        latencies
    };
    let signing_up = async {
        let mut latencies = Vec::new();
        for i in 0..20 {
            let started = Instant::now();
            let user = sign_up(&app, &format!("new{i}@test.com"), "New").await;
            let (status, body) = message(&app, &user, "first").await;
            assert_eq!(status, 200, "{body}");
            latencies.push(started.elapsed());
        }
        latencies
    };
    let (mut talking, mut latencies) = tokio::join!(chatting, signing_up);
    latencies.sort();
    talking.sort();
    println!(
        "signup → first answered message, 20 users one after another: p50 {:?}, p95 {:?}, max {:?}; \
         meanwhile another user's turns: p50 {:?}, max {:?}",
        percentile(&latencies, 0.5),
        percentile(&latencies, 0.95),
        latencies[latencies.len() - 1],
        percentile(&talking, 0.5),
        talking[talking.len() - 1],
    );
    for shard in 0..2 {
        assert_eq!(stack::gateway_pid(shard), pids[shard]);
        assert!(stack::gateway_running(shard));
        assert_eq!(
            stack::roster(shard),
            rosters[shard],
            "roster of shard {shard}"
        );
        assert_eq!(
            reloads(shard),
            reloads_before[shard],
            "shard {shard} reloaded"
        );
    }
    app.shutdown().await;
}

/// 20 concurrent signups, each messaging at once: all answered, spread
/// evenly over the two shards. Prints signup → first answer p50/p95.
pub async fn twenty_concurrent_signups_can_all_message_within_seconds() {
    let app = stack::app().await;
    let app_ref = &app;
    let runs = (0..20).map(|i| async move {
        let started = Instant::now();
        let user = sign_up(app_ref, &format!("burst{i}@test.com"), "Burst").await;
        let (status, body) = message(app_ref, &user, "first words").await;
        (status, body, started.elapsed())
    });
    let results = futures_util::future::join_all(runs).await;
    let mut latencies: Vec<Duration> = Vec::new();
    for (status, body, latency) in results {
        assert_eq!(status, 200, "{body}");
        assert!(reply(&body).contains("first words"));
        latencies.push(latency);
    }
    latencies.sort();
    println!(
        "signup → first answered message, 20 concurrent users: p50 {:?}, p95 {:?}, max {:?}",
        percentile(&latencies, 0.5),
        percentile(&latencies, 0.95),
        latencies[latencies.len() - 1]
    );
    let placed = async |shard: &str| {
        app.db
            .count(&format!(
                "SELECT count(*) AS n FROM assistants WHERE gateway_id = '{shard}'"
            ))
            .await
    };
    let (a, b) = (placed("a").await, placed("b").await);
    assert_eq!(a + b, 20);
    assert!((a - b).abs() <= 1, "placed by room: {a} on a, {b} on b");
    // A regression bound, not a performance target (see the benchmarks).
    assert!(latencies[latencies.len() - 1] < Duration::from_secs(90));
    app.shutdown().await;
}

/// A shard whose gateway dies fails only its own users, with a 503 and
/// Retry-After; once it is back they are answered again, with their files.
pub async fn a_dead_shard_fails_only_its_users_then_recovers() {
    let app = stack::app().await;
    let mut on = [Vec::new(), Vec::new()];
    for i in 0..4 {
        let user = sign_up(&app, &format!("shard{i}@test.com"), "Shard").await;
        let (shard, _) = resident(&app, &user).await;
        on[shard].push(user);
    }
    assert!(!on[0].is_empty() && !on[1].is_empty(), "both shards used");
    stack::kill(1);
    for user in &on[0] {
        assert_eq!(message(&app, user, "fine?").await.0, 200);
    }
    for user in &on[1] {
        let response = app
            .request(
                Method::POST,
                "/agent/message",
                Some(&user.token),
                Some(&json!({"text": "fine?"})),
            )
            .await;
        assert_eq!(response.status(), 503);
        assert!(response.headers().contains_key("retry-after"));
    }
    stack::restart(1);
    for user in &on[1] {
        let (status, body) = message(&app, user, "back?").await;
        assert_eq!(status, 200, "{body}");
    }
    app.shutdown().await;
}

/// Deleting both gateways' config and roster loses no agent: the gateway
/// containers' entrypoints write them again on restart, and every user is
/// answered from the same files.
pub async fn deleting_config_and_roster_loses_no_agent() {
    let app = stack::app().await;
    let mut users = Vec::new();
    for i in 0..4 {
        let user = sign_up(&app, &format!("rec{i}@test.com"), "Rec").await;
        let (status, body) = message(
            &app,
            &user,
            &format!(
                r#"DO_TOOL:{{"name":"write","args":{{"path":"MEMORY.md","content":"note {i}"}}}}"#
            ),
        )
        .await;
        assert_eq!(status, 200, "{body}");
        users.push(user);
    }
    for (shard, gateway) in stack::stack().shards.iter().enumerate() {
        std::fs::remove_file(&gateway.config_path).unwrap();
        std::fs::remove_file(&gateway.roster_path).unwrap();
        stack::restart(shard);
    }
    for (i, user) in users.iter().enumerate() {
        let (status, body) = message(&app, user, "still there?").await;
        assert_eq!(status, 200, "{body}");
        let workspace = app.wait_resident(&user.id).await;
        assert_eq!(
            std::fs::read_to_string(workspace.join("MEMORY.md")).unwrap(),
            format!("note {i}")
        );
    }
    app.shutdown().await;
}
/// A scripted model asks for dangerous tools; none of them runs, on either
/// shard. Each reply carries the tool result the gateway produced, which
/// shows the refusal, and no reply carries the config, the gateway token or
/// another user's data — not even the user in the next slot of the same
/// gateway.
pub async fn tenant_isolation_no_dangerous_tool_runs() {
    let app = stack::app().await;
    // Users until each shard has two: an attacker and a victim.
    let mut on: [Vec<(User, u32)>; 2] = [Vec::new(), Vec::new()];
    let mut i = 0;
    while on.iter().any(|users| users.len() < 2) {
        let user = sign_up(
            &app,
            &format!("iso{i}@test.com"),
            &format!("Secret-Name-{i}-91c2"),
        )
        .await;
        let (shard, slot) = resident(&app, &user).await;
        on[shard].push((user, slot));
        i += 1;
    }
    for (shard, users) in on.iter().enumerate() {
        let (attacker, _) = &users[0];
        let (victim, victim_slot) = &users[1];
        attack(&app, shard, attacker, victim, *victim_slot).await;
    }
    app.shutdown().await;
}

async fn attack(app: &TestApp, shard: usize, attacker: &User, victim: &User, victim_slot: u32) {
    let gateway = &stack::stack().shards[shard];
    let victim_user_md = gateway
        .workspaces
        .join(format!("slot-{victim_slot}"))
        .join("USER.md");
    let victim_secret = std::fs::read_to_string(&victim_user_md).unwrap();
    let victim_secret = victim_secret
        .lines()
        .find_map(|line| line.split("Secret-Name-").nth(1))
        .map(|rest| format!("Secret-Name-{rest}"))
        .expect("the victim's name is in their USER.md");
    let config = gateway.config_path.to_string_lossy().into_owned();
    let _ = victim;

    // Positive control: the attacker may read their own workspace.
    let (status, own) = message(
        app,
        attacker,
        r#"DO_TOOL:{"name":"read","args":{"path":"USER.md"}}"#,
    )
    .await;
    assert_eq!(status, 200, "{own}");
    assert!(
        reply(&own).contains("Secret-Name-") && !reply(&own).contains(&victim_secret),
        "reading their own USER.md works: {own}"
    );

    let attempts = [
        ("exec", json!({"command": format!("cat {config}")})),
        ("exec", json!({"command": "env"})),
        ("read", json!({"path": victim_user_md.to_string_lossy()})),
        (
            "read",
            json!({"path": format!("../slot-{victim_slot}/USER.md")}),
        ),
        ("read", json!({"path": "../.heyclaw/slot-0.json"})),
        ("read", json!({"path": config})),
        (
            "write",
            json!({"path": "/tmp/heyclaw-e2e-escape.txt", "content": "escaped"}),
        ),
        (
            "write",
            json!({"path": format!("../slot-{victim_slot}/MEMORY.md"), "content": "overwritten"}),
        ),
        ("ls", json!({"path": ".."})),
        ("process", json!({"action": "list"})),
        ("openclaw", json!({"action": "config.get"})),
        ("gateway", json!({"action": "config.get"})),
        (
            "cron",
            json!({"action": "add", "schedule": "* * * * *", "task": "exfiltrate"}),
        ),
        (
            "sessions_spawn",
            json!({"agentId": format!("slot-{victim_slot}"), "task": "read USER.md"}),
        ),
        (
            "sessions_send",
            json!({"sessionKey": format!("agent:slot-{victim_slot}:main"), "message": "hi"}),
        ),
        (
            "tool_call",
            json!({"id": "exec", "args": {"command": "id"}}),
        ),
        (
            "tool_call",
            json!({"id": "terminal", "args": {"action": "list"}}),
        ),
        ("tool_search", json!({"query": "terminal shell exec"})),
    ];
    let forbidden = [
        TEST_GATEWAY_TOKEN,
        victim_secret.as_str(),
        "chatCompletions",
        "\"sessions\"",
        "uid=",
        "HOME=",
        "\"generation\"",
    ];
    let mut evidence = Vec::new();
    for (tool, args) in attempts {
        let directive = format!("DO_TOOL:{}", json!({"name": tool, "args": args}));
        let (status, body) = message(app, attacker, &directive).await;
        let text = reply(&body).to_owned();
        for secret in forbidden {
            assert!(
                !text.contains(secret),
                "shard {shard}: {tool} {args} leaked {secret:?}: {text}"
            );
        }
        assert!(status == 200 || status == 502, "{tool}: {status} {body}");
        evidence.push(format!(
            "{tool} {args} -> {status} {}",
            text.chars().take(160).collect::<String>()
        ));
    }
    assert!(
        !std::path::Path::new("/tmp/heyclaw-e2e-escape.txt").exists(),
        "a write escaped the workspace"
    );
    assert!(
        !std::fs::read_to_string(
            gateway
                .workspaces
                .join(format!("slot-{victim_slot}/MEMORY.md"))
        )
        .unwrap_or_default()
        .contains("overwritten"),
        "a write reached the next slot"
    );
    println!("shard {shard} tool refusals:\n{}", evidence.join("\n"));
}

/// The base config and a roster of 200 slot agents pass the real
/// HeyClaw's OpenClaw plugin (`infrastructure/openclaw-plugin`), run by
/// the pinned Node: OpenClaw's own sections go, the user's files stay
/// whole whatever headings they hold, and a prompt of another shape is left
/// as it is.
pub async fn the_prompt_plugin_trims_only_openclaws_sections() {
    let prompt = "<!-- openclaw:attempt:STABLE -->\nYou are a personal assistant.\n\
        ## Tooling\n- read: Read files\n\
        ## Execution Bias\nopenclaw bias\n\
        <persona_latch>\nopenclaw latch\n</persona_latch>\n\
        <completion_contract>\nopenclaw contract\n</completion_contract>\n\
        ## Safety\nkeep safety\n\
        ## Documentation\nopenclaw docs\n\
        # Project Context\n## /w/slot-1/MEMORY.md\n\
        ## Documentation\nuser docs\n## Messaging\nuser messaging\n\
        <persona_latch>\nuser latch\n\
        ## Temporal Context\nuser temporal\n\
        ## Temporal Context\nCurrent date: 2026-12-06\n\
        ## Messaging\nopenclaw messaging\n\
        ## Silent Replies\nkeep silent\n\
        <!-- /openclaw:attempt:DYNAMIC -->";
    let script = format!(
        "import {{ trimSystemPrompt }} from {plugin};\n\
         const input = process.argv[1];\n\
         console.log(JSON.stringify([trimSystemPrompt(input), trimSystemPrompt('no known shape')]));",
        plugin = json!(format!(
            "file://{}/index.mjs",
            heyclaw_test_support::prompt_plugin_path().display()
        )),
    );
    let install = heyclaw_test_support::real_gateway::GatewayInstall::pinned();
    let output = std::process::Command::new(install.node_bin_dir().join("node"))
        .args(["--input-type=module", "-e", &script, "--", prompt])
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let results: Value = serde_json::from_slice(&output.stdout).unwrap();
    let trimmed = results[0].as_str().unwrap();
    for gone in [
        "openclaw bias",
        "openclaw latch",
        "openclaw contract",
        "openclaw docs",
        "openclaw messaging",
    ] {
        assert!(!trimmed.contains(gone), "{gone} stayed:\n{trimmed}");
    }
    for kept in [
        "You are a personal assistant.",
        "- read: Read files",
        "keep safety",
        "user docs",
        "user messaging",
        "user latch",
        "user temporal",
        "Current date: 2026-12-06",
        "keep silent",
        "<!-- /openclaw:attempt:DYNAMIC -->",
    ] {
        assert!(trimmed.contains(kept), "{kept} went:\n{trimmed}");
    }
    assert_eq!(results[1], Value::Null, "an unknown shape is left alone");
}

/// `openclaw config validate`; a broken roster fails it.
pub async fn generated_configs_pass_openclaw_config_validate() {
    use heyclaw_agent_provisioning::{GatewayConfigOptions, prepare_gateway};

    let dir = std::env::temp_dir().join(format!(
        "heyclaw-validate-{}",
        uuid::Uuid::new_v4().simple()
    ));
    let config = dir.join("openclaw.json");
    let options = GatewayConfigOptions {
        port: 18999,
        bind: "lan".into(),
        model_base_url: "http://dev-model:18790/v1".into(),
        log_file: None,
        prompt_plugin_dir: Some(heyclaw_test_support::prompt_plugin_path()),
    };
    let validate = || {
        heyclaw_test_support::real_gateway::GatewayInstall::pinned()
            .command()
            .args(["config", "validate"])
            .env("OPENCLAW_CONFIG_PATH", &config)
            .env("OPENCLAW_STATE_DIR", dir.join("state"))
            .env("HOME", dir.join("state"))
            .env("OPENCLAW_GATEWAY_TOKEN", "validate-token-0123456789")
            .env("OPENAI_API_KEY", "placeholder")
            .output()
            .unwrap()
    };
    prepare_gateway(&config, &options, &dir.join("w"), 2).unwrap();
    let base = validate();
    assert!(
        base.status.success(),
        "base config: {}",
        String::from_utf8_lossy(&base.stdout)
    );
    prepare_gateway(&config, &options, &dir.join("w"), 200).unwrap();
    let many = validate();
    assert!(
        many.status.success(),
        "200 slots: {}",
        String::from_utf8_lossy(&many.stdout)
    );

    // The validator really looks at the roster: a bad entry fails it.
    let mut roster: serde_json::Map<String, Value> = serde_json::from_str(
        &std::fs::read_to_string(config.with_file_name("heyclaw-agents.json")).unwrap(),
    )
    .unwrap();
    roster.insert(
        "Bad Id".into(),
        json!({"workspace": "/w", "tools": {"exec": {"security": "never"}}}),
    );
    std::fs::write(
        config.with_file_name("heyclaw-agents.json"),
        serde_json::to_vec(&roster).unwrap(),
    )
    .unwrap();
    assert!(
        !validate().status.success(),
        "a broken roster must fail validation"
    );
    let _ = std::fs::remove_dir_all(dir);
}

/// What one turn costs: the dev model alone, the gateway (straight to the
/// slot agent), and the API (auth, quota, gateway, recording); and what the
/// model receives for a one-line message, and how many calls a turn makes.
/// Printed; asserted: one model call per turn, and at most 10 KB of model
/// input (HeyClaw's OpenClaw plugin trims the system prompt; without it a
/// turn is ~15 KB).
pub async fn per_turn_costs() {
    let app = stack::app().await;
    let user = sign_up(&app, "timing@test.com", "Timing").await;
    assert_eq!(message(&app, &user, "warm up").await.0, 200);
    let (shard, slot) = resident(&app, &user).await;
    let gateway_url = &stack::stack().shards[shard].url;

    stack::reset_model_requests().await;
    assert_eq!(message(&app, &user, "hi").await.0, 200);
    // Background work of the gateway's, if any, would show up meanwhile.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let calls = stack::model_requests().await;
    println!(
        "model input for a one-line message: {} bytes in {} model call(s)",
        calls.iter().sum::<u64>(),
        calls.len()
    );
    assert_eq!(calls.len(), 1, "one model call per turn: {calls:?}");
    assert!(
        calls.iter().sum::<u64>() <= 10 * 1024,
        "a one-line message takes at most 10 KB of model input: {calls:?}"
    );

    let client = reqwest::Client::new();
    let agent = format!("slot-{slot}");
    let median = |mut samples: Vec<Duration>| {
        samples.sort();
        samples[samples.len() / 2]
    };
    let (mut model, mut gateway, mut api) = (Vec::new(), Vec::new(), Vec::new());
    for i in 0..10 {
        let started = Instant::now();
        let direct = client
            .post(format!("{}/chat/completions", stack::stack().model_url))
            .json(&json!({"model": "gpt-5-nano", "messages": [{"role": "user", "content": "hi"}], "stream": true}))
            .send()
            .await
            .unwrap();
        assert!(direct.status().is_success());
        direct.bytes().await.unwrap();
        model.push(started.elapsed());

        let started = Instant::now();
        let through_gateway = client
            .post(format!("{gateway_url}/v1/chat/completions"))
            .bearer_auth(TEST_GATEWAY_TOKEN)
            .header("x-openclaw-agent-id", &agent)
            .header("x-openclaw-message-channel", "heyclaw")
            .json(&json!({"model": format!("openclaw/{agent}"), "messages": [{"role": "user", "content": format!("direct {i}")}], "user": "timing"}))
            .send()
            .await
            .unwrap();
        assert!(through_gateway.status().is_success());
        through_gateway.bytes().await.unwrap();
        gateway.push(started.elapsed());

        let started = Instant::now();
        assert_eq!(message(&app, &user, &format!("api {i}")).await.0, 200);
        api.push(started.elapsed());
    }
    let (model, gateway, api) = (median(model), median(gateway), median(api));
    println!(
        "per-turn median over 10 turns: dev model alone {model:?}; gateway {gateway:?} (gateway overhead {:?}); \
         through the API {api:?} (API overhead {:?})",
        gateway.saturating_sub(model),
        api.saturating_sub(gateway)
    );
    app.shutdown().await;
}

/// An automation the model asks for (the dev model echoes the marker the
/// user's text carries) is stored; when its time comes its agent has
/// hibernated, and the run wakes it, runs as a turn of its own session and
/// comes back through `/automation/check`.
pub async fn an_automation_wakes_its_hibernated_agent_and_comes_back() {
    let app = stack::app().await;
    let user = sign_up(&app, "auto@test.com", "Auto").await;
    let (code, body) = message(
        &app,
        &user,
        "Please <!--action:automation|in 1 hour|Fruit check|Name a yellow fruit-->",
    )
    .await;
    assert_eq!(code, 200, "{body}");
    assert!(
        !reply(&body).contains("<!--"),
        "the marker is stripped: {body}"
    );
    let jobs = json_body(
        app.request(Method::GET, "/automation/jobs", Some(&user.token), None)
            .await,
    )
    .await;
    assert_eq!(jobs["jobs"][0]["name"], "Fruit check", "{jobs}");
    // Idle past the idle timeout: the agent hibernates before the job is due.
    app.clock.advance(Duration::from_secs(31 * 60));
    let deadline = Instant::now() + Duration::from_secs(20);
    while app.resident_slot(&user.id).await.is_some() {
        assert!(Instant::now() < deadline, "the agent never hibernated");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    app.clock.advance(Duration::from_secs(30 * 60));
    let deadline = Instant::now() + Duration::from_secs(60);
    let result = loop {
        let check = json_body(
            app.request(Method::POST, "/automation/check", Some(&user.token), None)
                .await,
        )
        .await;
        if let Some(result) = check["newResults"].as_array().and_then(|r| r.first()) {
            break result.clone();
        }
        assert!(Instant::now() < deadline, "the automation never ran");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(result["job_name"], "Fruit check");
    let text = result["result"].as_str().unwrap();
    assert!(
        text.contains("Name a yellow fruit") && text.contains("(turn 1)"),
        "a turn of its own session: {text}"
    );
    assert!(
        app.resident_slot(&user.id).await.is_some(),
        "the run woke the agent"
    );
    app.shutdown().await;
}

/// Session maintenance is off the turn path (the base config's
/// `session.maintenance.mode: "warn"`); the keeper applies it with
/// `openclaw sessions cleanup`, which the running gateway carries out for
/// every agent's store, keeping the sessions in use.
pub async fn the_keeper_cleans_up_old_sessions_through_the_gateway() {
    let shard = 0;
    let config = stack::stack().shards[shard].config_path.clone();
    let mut openclaw = heyclaw_test_support::real_gateway::GatewayInstall::pinned().command();
    openclaw
        .env("OPENCLAW_STATE_DIR", stack::state_dir(shard))
        .env("HOME", stack::state_dir(shard));
    let before = stack::gateway_log(shard)
        .matches("sessions.cleanup")
        .count();
    let report = heyclaw_keeper::sessions::clean_up_sessions(
        openclaw,
        &config,
        TEST_GATEWAY_TOKEN,
        Duration::from_secs(120),
    )
    .await
    .expect("the cleanup runs");
    assert_eq!(
        report.stores,
        stack::SLOTS as usize + 1,
        "every slot agent's store and the reserved agent's"
    );
    assert!(report.entries > 0, "the sessions in use stay: {report:?}");
    assert!(
        stack::gateway_log(shard)
            .matches("sessions.cleanup")
            .count()
            > before,
        "the gateway carried it out"
    );
    println!("session cleanup on shard a: {report:?}");
}
