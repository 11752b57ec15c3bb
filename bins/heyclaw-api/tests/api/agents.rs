//! Agents and messaging against the gateway stand-in (and a real keeper)
//! over real HTTP: placement and wake at signup, the message path, atomic
//! daily limits, refunds on gateway failure, a gateway still loading, lost
//! gateway files, status and personality.

use std::time::Duration;

use heyclaw_test_support::{ShardOptions, TestApp, eventually, json_body};
use reqwest::Method;
use serde_json::{Value, json};

async fn count(app: &TestApp, sql: &str) -> i64 {
    app.db.count(sql).await
}

struct User {
    id: String,
    token: String,
}

async fn sign_up(app: &TestApp, email: &str) -> User {
    let body = app.signup(email, "testpass123").await;
    User {
        id: body["user"]["id"].as_str().unwrap().to_owned(),
        token: body["access_token"].as_str().unwrap().to_owned(),
    }
}

async fn message(app: &TestApp, user: &User, text: &str) -> reqwest::Response {
    app.request(
        Method::POST,
        "/agent/message",
        Some(&user.token),
        Some(&json!({ "text": text })),
    )
    .await
}

async fn used_today(app: &TestApp, user: &User) -> Value {
    let me = json_body(
        app.request(Method::GET, "/user/me", Some(&user.token), None)
            .await,
    )
    .await;
    me["usage"]["textMessages"].clone()
}

#[tokio::test]
async fn signup_places_the_agent_and_wakes_it_into_a_slot_with_a_locked_down_tool_policy() {
    let app = TestApp::spawn().await;
    let roster_before = std::fs::read(&app.dirs().roster_path).unwrap();
    let user = sign_up(&app, "ann@example.com").await;
    let agent = format!("agent-{}", user.id);

    // Signing up wakes the agent ahead of its first turn: the keeper moves
    // its files (from the templates) into a slot agent.
    let workspace = app.wait_resident(&user.id).await;
    for file in ["SOUL.md", "AGENTS.md", "MEMORY.md", "USER.md"] {
        assert!(workspace.join(file).exists(), "{file}");
    }
    assert!(
        std::fs::read_to_string(workspace.join("USER.md"))
            .unwrap()
            .contains("Test User")
    );
    assert_eq!(
        std::fs::read(&app.dirs().roster_path).unwrap(),
        roster_before,
        "a signup changes no roster"
    );
    let roster = app.dirs().roster();
    let (_, slot) = app.resident_slot(&user.id).await.unwrap();
    let entry = &roster[&format!("slot-{slot}")];
    assert_eq!(entry["workspace"], workspace.to_string_lossy().as_ref());
    assert_eq!(entry["tools"]["fs"]["workspaceOnly"], true);
    assert_eq!(
        entry["tools"]["allow"],
        json!(["read", "write", "edit", "ls"])
    );
    let denied: Vec<&str> = entry["tools"]["deny"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    for tool in [
        "group:runtime",
        "exec",
        "process",
        "gateway",
        "cron",
        "browser",
        "nodes",
        "sessions_spawn",
        "sessions_send",
    ] {
        assert!(denied.contains(&tool), "{tool} is not denied");
    }
    assert_eq!(
        count(
            &app,
            "SELECT count(*) AS n FROM assistants WHERE status = 'active' AND gateway_id = 'default'"
        )
        .await,
        1
    );

    let status = json_body(
        app.request(Method::GET, "/agent/status", Some(&user.token), None)
            .await,
    )
    .await;
    assert_eq!(
        status,
        json!({"agentStatus": "running", "agentId": agent, "displayName": "Test User", "voice": "nova", "messageCount": 0})
    );
    app.shutdown().await;
}

#[tokio::test]
async fn a_message_reaches_the_users_agent_and_counts_once() {
    let app = TestApp::spawn().await;
    let user = sign_up(&app, "ben@example.com").await;
    let response = message(&app, &user, "Hello, what can you help me with?").await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["x-ratelimit-plan"], "free");
    assert_eq!(response.headers()["x-ratelimit-text-remaining"], "49");
    assert_eq!(
        json_body(response).await,
        json!({
            "response": "echo[1]: Hello, what can you help me with?",
            "actions": [],
            "usage": {"messagesUsed": 1, "messagesLimit": 50}
        })
    );
    let turns = app.gateway().turns();
    assert_eq!(turns.len(), 1);
    let (_, slot) = app.resident_slot(&user.id).await.unwrap();
    assert_eq!(turns[0].agent, format!("slot-{slot}"));
    assert!(
        turns[0].user.as_deref().unwrap().contains(&user.id),
        "a per-user session key"
    );
    assert_eq!(turns[0].channel.as_deref(), Some("heyclaw"));
    assert!(turns[0].history.is_empty(), "nothing to carry over yet");

    // The second message continues the same gateway session.
    let second = json_body(message(&app, &user, "And then?").await).await;
    assert_eq!(second["response"], "echo[2]: And then?");
    assert_eq!(second["usage"]["messagesUsed"], 2);
    assert_eq!(used_today(&app, &user).await, 2);
    eventually("the turns are counted on the assistant", async || {
        let status = json_body(
            app.request(Method::GET, "/agent/status", Some(&user.token), None)
                .await,
        )
        .await;
        status["messageCount"] == 2
    })
    .await;

    // Both turns are written through to the chat history, in order.
    let expected = json!([
        "Hello, what can you help me with?",
        "echo[1]: Hello, what can you help me with?",
        "And then?",
        "echo[2]: And then?"
    ]);
    eventually("the turns are in the chat history", async || {
        let recent = json_body(
            app.request(Method::GET, "/chat/recent", Some(&user.token), None)
                .await,
        )
        .await;
        let contents: Vec<Value> = recent["messages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["content"].clone())
            .collect();
        recent["source"] == "session" && Value::Array(contents) == expected
    })
    .await;
    app.shutdown().await;
}

#[tokio::test]
async fn action_markers_are_stripped_and_returned() {
    let app = TestApp::spawn().await;
    let user = sign_up(&app, "cat@example.com").await;
    app.gateway()
        .reply_with("Sure, I'll remind you. <!--action:reminder|600|Tea|Your tea is ready-->");
    let body = json_body(message(&app, &user, "Remind me about tea in 10 minutes").await).await;
    assert_eq!(body["response"], "Sure, I'll remind you.");
    assert_eq!(
        body["actions"],
        json!([{"type": "reminder", "params": ["600", "Tea", "Your tea is ready"]}])
    );
    app.shutdown().await;
}

#[tokio::test]
async fn blank_and_oversized_messages_are_400() {
    let app = TestApp::spawn().await;
    let user = sign_up(&app, "dan@example.com").await;
    for body in [json!({}), json!({"text": ""}), json!({"text": "   \n"})] {
        let response = app
            .request(
                Method::POST,
                "/agent/message",
                Some(&user.token),
                Some(&body),
            )
            .await;
        assert_eq!(response.status(), 400);
        assert_eq!(
            json_body(response).await["message"],
            "Message text is required"
        );
    }
    let response = message(&app, &user, &"x".repeat(8001)).await;
    assert_eq!(response.status(), 400);
    let response = app
        .request(
            Method::POST,
            "/agent/message",
            Some(&user.token),
            Some(&json!({"text": 42})),
        )
        .await;
    assert_eq!(response.status(), 400);
    assert!(app.gateway().turns().is_empty());
    assert_eq!(used_today(&app, &user).await, 0);
    let unauthenticated = app
        .post_json("/agent/message", &json!({"text": "hi"}))
        .await;
    assert_eq!(unauthenticated.status(), 401);
    app.shutdown().await;
}

#[tokio::test]
async fn eighty_concurrent_messages_at_a_limit_of_fifty_let_exactly_fifty_through() {
    let app = TestApp::spawn().await;
    let user = sign_up(&app, "eve@example.com").await;
    // Slow answers keep many requests in flight at once.
    app.gateway().set_delay(Duration::from_millis(50));
    let body = json!({"text": "hi"});
    let requests = (0..80).map(|_| {
        app.request(
            Method::POST,
            "/agent/message",
            Some(&user.token),
            Some(&body),
        )
    });
    let responses = futures_util::future::join_all(requests).await;
    let mut ok = 0;
    let mut limited = 0;
    for response in responses {
        match response.status().as_u16() {
            200 => ok += 1,
            429 => {
                limited += 1;
                assert!(response.headers().contains_key("retry-after"));
                let body = json_body(response).await;
                assert_eq!(
                    body["message"],
                    "Daily message limit reached. Upgrade your plan."
                );
            }
            other => panic!("unexpected status {other}"),
        }
    }
    assert_eq!((ok, limited), (50, 30));
    assert!(
        app.gateway().max_in_flight() > 1,
        "requests really ran concurrently"
    );
    assert_eq!(
        app.gateway().turns().len(),
        50,
        "refused requests never reached the gateway"
    );
    assert_eq!(used_today(&app, &user).await, 50);
    eventually("fifty turns are recorded", async || {
        count(&app, "SELECT coalesce(sum(amount), 0)::bigint AS n FROM usage_log WHERE kind = 'text_message'").await == 50
    })
    .await;
    assert_eq!(
        count(&app, "SELECT text_messages::bigint AS n FROM daily_usage").await,
        50
    );
    app.shutdown().await;
}

#[tokio::test]
async fn turns_of_more_users_than_a_recorder_step_are_all_recorded_each_in_order() {
    let shard = ShardOptions {
        slots: 16,
        ..ShardOptions::default()
    };
    let app = TestApp::spawn_sharded(vec![shard], vec![]).await;
    // Twelve users answered together land in one batch, which the recorder
    // writes in steps of eight users: each user's three turns must arrive
    // whole and in order.
    let emails: Vec<String> = (0..12).map(|i| format!("step{i}@example.com")).collect();
    let users =
        futures_util::future::join_all(emails.iter().map(|email| sign_up(&app, email))).await;
    app.gateway().set_delay(Duration::from_millis(30));
    futures_util::future::join_all(users.iter().map(|user| async {
        for text in ["one", "two", "three"] {
            assert_eq!(message(&app, user, text).await.status(), 200);
        }
    }))
    .await;
    eventually("every user's turns are recorded", async || {
        count(
            &app,
            "SELECT count(*) AS n FROM daily_usage WHERE text_messages = 3",
        )
        .await
            == 12
    })
    .await;
    let in_order = "SELECT count(*) AS n FROM (
            SELECT string_agg(m.role || ':' || m.content, '|' ORDER BY m.position) AS history
            FROM chat_messages m JOIN chat_sessions s ON s.id = m.session_id
            GROUP BY s.user_id
        ) t
        WHERE history LIKE 'user:one|assistant:%|user:two|assistant:%|user:three|assistant:%'
          AND history NOT LIKE '%|%|%|%|%|%|%'";
    assert_eq!(count(&app, in_order).await, 12);
    assert_eq!(
        count(
            &app,
            "SELECT count(*) AS n FROM assistants WHERE message_count = 3"
        )
        .await,
        12
    );
    app.shutdown().await;
}

#[tokio::test]
async fn the_transient_gateway_500_is_retried_once() {
    let app = TestApp::spawn().await;
    let user = sign_up(&app, "fay@example.com").await;
    app.gateway().fail_next(1);
    let response = message(&app, &user, "hi").await;
    assert_eq!(response.status(), 200);
    assert_eq!(app.gateway().turns().len(), 2);
    app.shutdown().await;
}

#[tokio::test]
async fn a_failed_gateway_call_is_502_and_not_charged() {
    let app = TestApp::spawn().await;
    let user = sign_up(&app, "gus@example.com").await;
    app.gateway().fail_next(2);
    let response = message(&app, &user, "hi").await;
    assert_eq!(response.status(), 502);
    let body = json_body(response).await;
    assert_eq!(body["code"], "agent_failed");
    assert_eq!(used_today(&app, &user).await, 0);
    let next = json_body(message(&app, &user, "again").await).await;
    assert_eq!(
        next["usage"]["messagesUsed"], 1,
        "the failed call gave its unit back"
    );
    app.shutdown().await;
}

#[tokio::test]
async fn a_gateway_timeout_is_504_and_not_charged() {
    let app = TestApp::spawn_with(&[("OPENCLAW_REQUEST_TIMEOUT", "1s")]).await;
    let user = sign_up(&app, "hal@example.com").await;
    app.gateway().set_delay(Duration::from_secs(3));
    let response = message(&app, &user, "hi").await;
    assert_eq!(response.status(), 504);
    assert_eq!(json_body(response).await["code"], "agent_timeout");
    app.gateway().set_delay(Duration::ZERO);
    let next = json_body(message(&app, &user, "again").await).await;
    assert_eq!(next["usage"]["messagesUsed"], 1);
    app.shutdown().await;
}

#[tokio::test]
async fn an_unreachable_gateway_is_503_and_not_charged() {
    let app = TestApp::spawn().await;
    let user = sign_up(&app, "ida@example.com").await;
    app.gateway().stop().await;
    let response = message(&app, &user, "hi").await;
    assert_eq!(response.status(), 503);
    assert_eq!(used_today(&app, &user).await, 0);
    let health = json_body(
        app.request(Method::GET, "/agent/health", Some(&user.token), None)
            .await,
    )
    .await;
    assert_eq!(health, json!({"healthy": false, "reason": "unreachable"}));
    app.shutdown().await;
}

#[tokio::test]
async fn agent_health_reports_a_live_gateway() {
    let app = TestApp::spawn().await;
    let user = sign_up(&app, "jon@example.com").await;
    let health = json_body(
        app.request(Method::GET, "/agent/health", Some(&user.token), None)
            .await,
    )
    .await;
    assert_eq!(health, json!({"healthy": true}));
    app.shutdown().await;
}

#[tokio::test]
async fn a_gateway_that_has_not_loaded_its_slots_yet_makes_a_turn_wait_not_fail() {
    let app = TestApp::spawn().await;
    let user = sign_up(&app, "kim@example.com").await;
    app.wait_resident(&user.id).await;
    // The gateway (re)starting: its roster is not applied for 1.5 s.
    app.gateway().set_apply_delay(Duration::from_millis(1500));
    let roster = std::fs::read(&app.dirs().roster_path).unwrap();
    std::fs::write(&app.dirs().roster_path, roster).unwrap();
    let response = message(&app, &user, "first words").await;
    assert_eq!(response.status(), 200);
    assert_eq!(json_body(response).await["usage"]["messagesUsed"], 1);
    app.shutdown().await;
}

#[tokio::test]
async fn deleted_gateway_config_and_roster_come_back_and_no_agent_is_lost() {
    let app = TestApp::spawn().await;
    let user = sign_up(&app, "lou@example.com").await;
    let workspace = app.wait_resident(&user.id).await;
    std::fs::write(workspace.join("MEMORY.md"), "Lou plays the tuba.").unwrap();
    std::fs::remove_file(&app.dirs().roster_path).unwrap();
    std::fs::remove_file(&app.dirs().config_path).unwrap();
    // The next turn waits for the keeper to write them again.
    let response = message(&app, &user, "are you there?").await;
    assert_eq!(response.status(), 200);
    assert!(app.dirs().config_path.exists());
    let roster = app.dirs().roster();
    assert!(roster.contains_key("heyclaw-reserved") && roster.contains_key("slot-7"));
    assert_eq!(
        std::fs::read_to_string(workspace.join("MEMORY.md")).unwrap(),
        "Lou plays the tuba."
    );
    app.shutdown().await;
}

#[tokio::test]
async fn a_hundred_concurrent_signups_place_a_hundred_agents_and_change_no_roster() {
    let app = TestApp::spawn().await;
    let roster_before = std::fs::read(&app.dirs().roster_path).unwrap();
    let app_ref = &app;
    let signups = (0..100).map(|i| async move {
        let body = json!({"email": format!("crowd{i}@example.com"), "password": "testpass123"});
        app_ref
            .post_json("/auth/signup", &body)
            .await
            .status()
            .as_u16()
    });
    let statuses = futures_util::future::join_all(signups).await;
    assert!(statuses.iter().all(|s| *s == 201), "{statuses:?}");
    assert_eq!(
        count(
            &app,
            "SELECT count(*) AS n FROM assistants WHERE gateway_id = 'default' \
             AND status IN ('hibernated', 'active')"
        )
        .await,
        100
    );
    assert!(
        count(
            &app,
            "SELECT count(*) AS n FROM agent_slots WHERE user_id IS NOT NULL"
        )
        .await
            <= 8,
        "at most one user per slot"
    );
    assert_eq!(
        std::fs::read(&app.dirs().roster_path).unwrap(),
        roster_before
    );
    app.shutdown().await;
}

#[tokio::test]
async fn the_keeper_makes_an_earlier_openclaw_json_include_the_roster_and_keeps_its_other_keys() {
    let app = TestApp::spawn().await;
    let captured =
        include_str!("../../../../crates/agent-provisioning/tests/fixtures/openclaw-2026.9.6.json");
    std::fs::write(&app.dirs().config_path, captured).unwrap();
    eventually("openclaw.json includes the roster", async || {
        let config: Value =
            serde_json::from_str(&std::fs::read_to_string(&app.dirs().config_path).unwrap())
                .unwrap();
        config["agents"]["entries"] == json!({"$include": "./heyclaw-agents.json"})
            && config["agents"]["ownership"] == "explicit"
            && config["gateway"]["http"]["endpoints"]["chatCompletions"]["enabled"] == true
    })
    .await;
    eventually("the inline agent is adopted into the roster", async || {
        let roster = app.dirs().roster();
        roster.contains_key("agent-a") && roster.contains_key("slot-0")
    })
    .await;
    app.shutdown().await;
}

#[tokio::test]
async fn personality_is_validated_and_shows_up_everywhere() {
    let app = TestApp::spawn().await;
    let user = sign_up(&app, "ola@example.com").await;
    let patch = async |body: Value| {
        app.request(
            Method::PATCH,
            "/agent/personality",
            Some(&user.token),
            Some(&body),
        )
        .await
    };
    for (body, message) in [
        (json!({}), "No updates provided"),
        (json!({"voice": "robot"}), "Unknown voice"),
        (
            json!({"displayName": "   "}),
            "Display name cannot be empty",
        ),
        (json!({"displayName": "x".repeat(101)}), "at most 100"),
    ] {
        let response = patch(body.clone()).await;
        assert_eq!(response.status(), 400, "{body}");
        let error = json_body(response).await;
        assert!(
            error["message"].as_str().unwrap().contains(message),
            "{body}: {error}"
        );
    }
    let response = patch(json!({"displayName": " Jarvis ", "voice": "Shimmer"})).await;
    assert_eq!(response.status(), 200);
    assert_eq!(json_body(response).await, json!({"message": "Updated"}));
    let status = json_body(
        app.request(Method::GET, "/agent/status", Some(&user.token), None)
            .await,
    )
    .await;
    assert_eq!(
        (status["displayName"].as_str(), status["voice"].as_str()),
        (Some("Jarvis"), Some("shimmer"))
    );
    let me = json_body(
        app.request(Method::GET, "/user/me", Some(&user.token), None)
            .await,
    )
    .await;
    assert_eq!(me["agent"]["displayName"], "Jarvis");
    assert_eq!(me["agent"]["voice"], "shimmer");
    let response = patch(json!({"voice": "onyx"})).await;
    assert_eq!(response.status(), 200);
    app.shutdown().await;
}

#[tokio::test]
async fn deleting_the_account_empties_its_slot_and_archive_and_leaves_others_alone() {
    let app = TestApp::spawn().await;
    let user = sign_up(&app, "pia@example.com").await;
    let other = sign_up(&app, "quin@example.com").await;
    let workspace = app.wait_resident(&user.id).await;
    let others = app.wait_resident(&other.id).await;
    let response = app
        .request(Method::DELETE, "/user/me", Some(&user.token), None)
        .await;
    assert_eq!(response.status(), 200);
    eventually("the keeper empties the slot (templates only)", async || {
        heyclaw_test_support::holds_only_the_templates(&workspace)
    })
    .await;
    assert_eq!(
        count(
            &app,
            &format!(
                "SELECT count(*) AS n FROM agent_files WHERE user_id = '{}'",
                user.id
            )
        )
        .await,
        0
    );
    assert!(others.join("USER.md").exists());
    assert_eq!(message(&app, &other, "still here?").await.status(), 200);
    app.shutdown().await;
}

/// The app reads `messageCount` right after an answer (api-contract §6):
/// it must include that answer although turns are recorded write-behind.
/// The test holds the assistant's row locked so the recorder cannot write:
/// the count still shows the user's own messages, then settles once the
/// recorder has written them, never counting one twice.
#[tokio::test]
async fn the_message_count_includes_answers_not_yet_recorded() {
    use diesel_async::SimpleAsyncConnection;

    let app = TestApp::spawn().await;
    let user = sign_up(&app, "rita@example.com").await;
    app.wait_resident(&user.id).await;
    let mut blocker = app.db.connect().await;
    blocker
        .batch_execute(&format!(
            "BEGIN; SELECT 1 FROM assistants WHERE user_id = '{}' FOR UPDATE",
            user.id
        ))
        .await
        .unwrap();
    for _ in 0..2 {
        assert_eq!(message(&app, &user, "hi").await.status(), 200);
    }
    let counts = async || {
        let status = json_body(
            app.request(Method::GET, "/agent/status", Some(&user.token), None)
                .await,
        )
        .await;
        let me = json_body(
            app.request(Method::GET, "/user/me", Some(&user.token), None)
                .await,
        )
        .await;
        (
            status["messageCount"].clone(),
            me["agent"]["messageCount"].clone(),
        )
    };
    assert_eq!(counts().await, (json!(2), json!(2)));
    assert_eq!(
        count(&app, "SELECT message_count AS n FROM assistants").await,
        0,
        "the recorder is held back"
    );
    blocker.batch_execute("ROLLBACK").await.unwrap();
    eventually("the recorder has written both turns", async || {
        count(&app, "SELECT message_count AS n FROM assistants").await == 2
    })
    .await;
    assert_eq!(counts().await, (json!(2), json!(2)));
    app.shutdown().await;
}
