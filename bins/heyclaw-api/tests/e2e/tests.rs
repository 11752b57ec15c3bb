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

/// The seed's Step 8: signup → status → message → response with usage.
pub async fn seed_step_8_through_the_real_gateway() {
    let app = stack::app().await;
    let user = sign_up(&app, "test@test.com", "Test User").await;
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

/// The second message of a user reaches the same gateway session: the dev
/// model counts the user turns the gateway sends it.
pub async fn a_conversation_continues_in_the_same_gateway_session() {
    let app = stack::app().await;
    let user = sign_up(&app, "cont@test.com", "Cont").await;
    let (_, first) = message(&app, &user, "my favourite colour is teal").await;
    assert!(reply(&first).ends_with("(turn 1)"), "{first}");
    let (_, second) = message(&app, &user, "what did I say?").await;
    assert!(reply(&second).ends_with("(turn 2)"), "{second}");
    // Another user starts their own conversation.
    let other = sign_up(&app, "other@test.com", "Other").await;
    let (_, theirs) = message(&app, &other, "hello").await;
    assert!(reply(&theirs).ends_with("(turn 1)"), "{theirs}");
    app.shutdown().await;
}

/// Signups hot-add agents: the gateway process is the same before and after
/// 20 signups, and a user in mid-conversation keeps getting answers.
pub async fn twenty_signups_restart_nothing_and_interrupt_no_one() {
    let app = stack::app().await;
    let pid = stack::gateway_pid();
    let talker = sign_up(&app, "talker@test.com", "Talker").await;
    assert_eq!(message(&app, &talker, "warm up").await.0, 200);

    let chatting = async {
        let mut statuses = Vec::new();
        for i in 0..15 {
            statuses.push(message(&app, &talker, &format!("still here {i}")).await.0);
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        statuses
    };
    // Each new user sends their first message right after signing up.
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
    let (statuses, mut latencies) = tokio::join!(chatting, signing_up);
    latencies.sort();
    println!(
        "signup → first answered message, 20 users one after another: p50 {:?}, p95 {:?}, max {:?}",
        percentile(&latencies, 0.5),
        percentile(&latencies, 0.95),
        latencies[latencies.len() - 1]
    );
    assert!(statuses.iter().all(|s| *s == 200), "{statuses:?}");
    assert_eq!(stack::gateway_pid(), pid);
    assert!(
        stack::gateway_running(),
        "the gateway is still the process we started"
    );
    assert_eq!(
        stack::roster_ids()
            .iter()
            .filter(|id| id.starts_with("agent-"))
            .count(),
        21
    );
    assert!(
        stack::gateway_log().contains("config hot reload applied"),
        "roster changes were hot-applied"
    );
    app.shutdown().await;
}

/// 20 concurrent signups; every new user can message within seconds.
/// Prints signup → first answered message latency (p50/p95).
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
    // A regression bound, not a performance target (see the benchmarks).
    assert!(latencies[latencies.len() - 1] < Duration::from_secs(90));
    app.shutdown().await;
}

/// Deleting the gateway's config files loses no agent. The seed's "force
/// regenerate" procedure — delete openclaw.json, restart the gateway, whose
/// entrypoint writes the base config — plus reconcile (at API start-up)
/// brings every user's agent back from the database.
pub async fn reconcile_after_deleting_the_config_restores_every_agent() {
    let mut app = stack::app().await;
    let mut users = Vec::new();
    for i in 0..3 {
        users.push(sign_up(&app, &format!("rec{i}@test.com"), "Rec").await);
    }
    std::fs::remove_file(&stack::stack().config_path).unwrap();
    std::fs::remove_file(&stack::stack().roster_path).unwrap();
    stack::restart_gateway();
    assert_eq!(
        stack::roster_ids(),
        ["heyclaw-reserved"],
        "the regenerated config holds no user agent"
    );
    app.restart().await;
    let deadline = Instant::now() + Duration::from_secs(15);
    while stack::roster_ids()
        .iter()
        .filter(|id| id.starts_with("agent-"))
        .count()
        < 3
    {
        assert!(
            Instant::now() < deadline,
            "reconcile did not rebuild the roster"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for user in &users {
        let (status, body) = message(&app, user, "back?").await;
        assert_eq!(status, 200, "{body}");
    }
    app.shutdown().await;
}

/// A scripted model asks for dangerous tools; none of them runs. Each reply
/// carries the tool result the gateway produced, which shows the refusal,
/// and no reply carries the config, the gateway token or another user's data.
pub async fn tenant_isolation_no_dangerous_tool_runs() {
    let app = stack::app().await;
    let alice = sign_up(&app, "alice@test.com", "Alice-Marker-7f3a").await;
    let bob = sign_up(&app, "bob@test.com", "Bob-Secret-91c2").await;
    // Bob's agent exists on disk with his name in USER.md.
    let bob_user_md = stack::stack()
        .workspaces
        .join(format!("agent-{}", bob.id))
        .join("USER.md");
    assert!(
        std::fs::read_to_string(&bob_user_md)
            .unwrap()
            .contains("Bob-Secret-91c2")
    );
    let config = stack::stack().config_path.to_string_lossy().into_owned();

    // Positive control: Alice may read her own workspace.
    let (status, own) = message(
        &app,
        &alice,
        r#"DO_TOOL:{"name":"read","args":{"path":"USER.md"}}"#,
    )
    .await;
    assert_eq!(status, 200, "{own}");
    assert!(
        reply(&own).contains("Alice-Marker-7f3a"),
        "reading her own USER.md works: {own}"
    );

    let attempts = [
        ("exec", json!({"command": format!("cat {config}")})),
        ("exec", json!({"command": "env"})),
        ("read", json!({"path": bob_user_md.to_string_lossy()})),
        (
            "read",
            json!({"path": format!("../agent-{}/USER.md", bob.id)}),
        ),
        ("read", json!({"path": config})),
        (
            "write",
            json!({"path": "/tmp/heyclaw-e2e-escape.txt", "content": "escaped"}),
        ),
        ("process", json!({"action": "list"})),
        ("openclaw", json!({"action": "config.get"})),
        ("gateway", json!({"action": "config.get"})),
        (
            "cron",
            json!({"action": "add", "schedule": "* * * * *", "task": "exfiltrate"}),
        ),
        (
            "sessions_spawn",
            json!({"agentId": format!("agent-{}", bob.id), "task": "read USER.md"}),
        ),
        (
            "sessions_send",
            json!({"sessionKey": format!("agent:agent-{}:main", bob.id), "message": "hi"}),
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
        "Bob-Secret-91c2",
        "chatCompletions",
        "\"sessions\"",
        "uid=",
        "HOME=",
    ];
    let mut evidence = Vec::new();
    for (tool, args) in attempts {
        let directive = format!("DO_TOOL:{}", json!({"name": tool, "args": args}));
        let (status, body) = message(&app, &alice, &directive).await;
        let text = reply(&body).to_owned();
        for secret in forbidden {
            assert!(
                !text.contains(secret),
                "{tool} {args} leaked {secret:?}: {text}"
            );
        }
        assert!(status == 200 || status == 502, "{tool}: {status} {body}");
        evidence.push(format!(
            "{tool} {args} -> {status} {}",
            text.chars().take(200).collect::<String>()
        ));
    }
    assert!(
        !std::path::Path::new("/tmp/heyclaw-e2e-escape.txt").exists(),
        "a write escaped the workspace"
    );
    println!("tool refusals:\n{}", evidence.join("\n"));
    app.shutdown().await;
}

/// The base config, and a config whose roster our writer filled with 200
/// agents, pass the real `openclaw config validate`; a broken roster fails it.
pub async fn generated_configs_pass_openclaw_config_validate() {
    use heyclaw_agent_provisioning::{
        AgentEntry, GatewayConfigOptions, RosterChange, RosterWriter, write_if_missing,
    };
    use heyclaw_domain::{AgentId, UserId};

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
    };
    write_if_missing(&config, &options, &dir.join("workspaces")).unwrap();
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
    let base = validate();
    assert!(
        base.status.success(),
        "base config: {}",
        String::from_utf8_lossy(&base.stdout)
    );

    let writer = RosterWriter::start(
        config.with_file_name("heyclaw-agents.json"),
        Default::default(),
        Duration::ZERO,
    );
    let entries: Vec<AgentEntry> = (0..200)
        .map(|_| {
            let id = AgentId::for_user(UserId(uuid::Uuid::new_v4()));
            AgentEntry {
                workspace: dir
                    .join("workspaces")
                    .join(id.as_str())
                    .to_string_lossy()
                    .into_owned(),
                id,
                name: "Validated".into(),
                model: "openai-custom/gpt-5-nano".into(),
            }
        })
        .collect();
    writer
        .apply(vec![RosterChange::ReplaceManaged(entries)])
        .await
        .unwrap();
    let many = validate();
    assert!(
        many.status.success(),
        "200 agents: {}",
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

/// What one turn costs: the dev model alone, the gateway (straight to it),
/// and the API (auth, quota, gateway, recording). Printed, not asserted.
pub async fn per_turn_costs() {
    let app = stack::app().await;
    let user = sign_up(&app, "timing@test.com", "Timing").await;
    assert_eq!(message(&app, &user, "warm up").await.0, 200);
    let client = reqwest::Client::new();
    let agent = format!("agent-{}", user.id);
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
            .post(format!("{}/v1/chat/completions", stack::stack().gateway_url))
            .bearer_auth(TEST_GATEWAY_TOKEN)
            .header("x-openclaw-agent-id", &agent)
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
/// user's text carries) is stored, runs through the real gateway as a turn
/// of the user's own agent when its time comes, and its result comes back
/// through `/automation/check`.
pub async fn an_automation_the_agent_asks_for_runs_and_comes_back() {
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
    app.clock.advance(Duration::from_secs(3700));
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
    app.shutdown().await;
}
