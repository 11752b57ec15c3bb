//! Hibernation, wakes and shards, with gateway stand-ins and real keepers:
//! idle agents leave their slot with their files archived and wake with the
//! conversation, the least recently used agent makes room at the cap, a turn
//! in flight keeps its slot, agents spread over shards by room, a dead shard
//! fails only its own users, and a hibernated agent moves between shards.

use std::time::Duration;

use heyclaw_persistence::queries::slots;
use heyclaw_test_support::{ShardOptions, TestApp, eventually, json_body};
use reqwest::Method;
use serde_json::{Value, json};

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

async fn agent_status(app: &TestApp, user: &User) -> Value {
    json_body(
        app.request(Method::GET, "/agent/status", Some(&user.token), None)
            .await,
    )
    .await["agentStatus"]
        .clone()
}

async fn hibernated(app: &TestApp, user: &User) -> bool {
    app.db
        .count(&format!(
            "SELECT count(*) AS n FROM assistants a WHERE a.user_id = '{}' \
             AND a.status = 'hibernated' \
             AND NOT EXISTS (SELECT 1 FROM agent_slots s WHERE s.user_id = a.user_id)",
            user.id
        ))
        .await
        == 1
}

/// Counts the user's archived file `path` holding `content`.
fn archived(user: &User, path: &str, content: &str) -> String {
    format!(
        "SELECT count(*) AS n FROM agent_files WHERE user_id = '{}' AND path = '{path}' \
         AND convert_from(content, 'UTF8') = '{}'",
        user.id,
        content.replace('\'', "''")
    )
}

#[tokio::test]
async fn an_idle_agent_hibernates_with_its_files_archived_and_wakes_with_the_conversation() {
    let app = TestApp::spawn().await;
    let user = sign_up(&app, "rhea@example.com").await;
    assert_eq!(message(&app, &user, "my name is Rhea").await.status(), 200);
    let workspace = app.wait_resident(&user.id).await;
    // The agent writes to its memory (as its file tools would).
    std::fs::write(workspace.join("MEMORY.md"), "Rhea likes figs.").unwrap();
    eventually("the turn is recorded", async || {
        app.db
            .count(&format!(
                "SELECT count(*) AS n FROM chat_messages m JOIN chat_sessions s \
                 ON s.id = m.session_id WHERE s.user_id = '{}'",
                user.id
            ))
            .await
            == 2
    })
    .await;
    let first = app.gateway().turns()[0].clone();

    // Past the idle timeout the keeper saves the files and frees the slot.
    app.clock.advance(Duration::from_secs(31 * 60));
    eventually("the agent hibernates", async || {
        hibernated(&app, &user).await
    })
    .await;
    assert_eq!(
        app.db
            .count(&archived(&user, "MEMORY.md", "Rhea likes figs."))
            .await,
        1
    );
    eventually("the slot holds nobody's files", async || {
        heyclaw_test_support::holds_only_the_templates(&workspace)
    })
    .await;
    assert_eq!(agent_status(&app, &user).await, "hibernated");

    // The next message wakes it: same files, and the conversation so far
    // travels with the binding's first turn (a new gateway session).
    let response = message(&app, &user, "what is my name?").await;
    assert_eq!(response.status(), 200);
    let turns = app.gateway().turns();
    let wake = turns.last().unwrap();
    assert_ne!(
        (&wake.agent, &wake.user),
        (&first.agent, &first.user),
        "a new binding is a new gateway session"
    );
    assert_eq!(
        wake.history,
        [
            ("user".to_owned(), "my name is Rhea".to_owned()),
            (
                "assistant".to_owned(),
                "echo[1]: my name is Rhea".to_owned()
            ),
        ]
    );
    let workspace = app.wait_resident(&user.id).await;
    assert_eq!(
        std::fs::read_to_string(workspace.join("MEMORY.md")).unwrap(),
        "Rhea likes figs."
    );
    assert_eq!(agent_status(&app, &user).await, "running");
    // Only the binding's first turn carries the past.
    assert_eq!(message(&app, &user, "and then?").await.status(), 200);
    assert!(app.gateway().turns().last().unwrap().history.is_empty());
    app.shutdown().await;
}

#[tokio::test]
async fn at_the_cap_the_least_recently_used_agent_makes_room() {
    let app = TestApp::spawn_sharded(
        vec![ShardOptions {
            slots: 2,
            ..ShardOptions::default()
        }],
        vec![("AGENT_LEASE".into(), "1s".into())],
    )
    .await;
    let (ann, ben, cy) = (
        sign_up(&app, "ann@example.com").await,
        sign_up(&app, "ben@example.com").await,
        sign_up(&app, "cy@example.com").await,
    );
    assert_eq!(message(&app, &ann, "first").await.status(), 200);
    let anns = app.wait_resident(&ann.id).await;
    std::fs::write(anns.join("MEMORY.md"), "Ann's notes").unwrap();
    assert_eq!(message(&app, &ben, "second").await.status(), 200);
    // Both slots are taken: Cy waits for a lease to pass, then takes the
    // least recently used one — Ann's.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let response = message(&app, &cy, "third").await;
        if response.status() == 200 {
            break;
        }
        assert_eq!(response.status(), 503);
        assert!(response.headers().contains_key("retry-after"));
        assert!(
            tokio::time::Instant::now() < deadline,
            "Cy never got a slot"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    eventually("Ann hibernates", async || hibernated(&app, &ann).await).await;
    assert!(app.resident_slot(&ben.id).await.is_some());
    assert_eq!(
        app.db
            .count(&archived(&ann, "MEMORY.md", "Ann's notes"))
            .await,
        1
    );
    assert!(
        !std::fs::read_to_string(app.wait_resident(&cy.id).await.join("MEMORY.md"))
            .unwrap()
            .contains("Ann"),
        "Cy's slot holds Cy's files only"
    );
    app.shutdown().await;
}

#[tokio::test]
async fn a_lease_a_third_gone_is_renewed_beside_the_turn() {
    let app = TestApp::spawn().await;
    let ann = sign_up(&app, "ann@example.com").await;
    app.wait_resident(&ann.id).await;
    assert_eq!(message(&app, &ann, "hello").await.status(), 200);
    let lease_until = format!(
        "SELECT extract(epoch FROM lease_until)::bigint AS n FROM agent_slots \
         WHERE user_id = '{}'",
        ann.id
    );
    let granted = app.db.count(&lease_until).await;
    // The default lease is 30 s: 19 s left, more than half, so the turn
    // goes ahead on the binding this replica holds, and the lease is
    // renewed beside it.
    app.clock.advance(Duration::from_secs(11));
    assert_eq!(message(&app, &ann, "still there?").await.status(), 200);
    eventually("the lease is renewed ahead of need", async || {
        app.db.count(&lease_until).await >= granted + 11
    })
    .await;
    app.shutdown().await;
}

#[tokio::test]
async fn a_turn_in_flight_keeps_its_slot() {
    // A wake waits for a lease to pass only briefly here, so Ben's attempts
    // while Ann's turn runs end in 503s the test can count.
    let app = TestApp::spawn_sharded(
        vec![ShardOptions {
            slots: 1,
            ..ShardOptions::default()
        }],
        vec![
            ("AGENT_LEASE".into(), "1s".into()),
            ("AGENT_READINESS_TIMEOUT".into(), "300ms".into()),
        ],
    )
    .await;
    let ann = sign_up(&app, "ann@example.com").await;
    app.wait_resident(&ann.id).await;
    let ben = sign_up(&app, "ben@example.com").await;
    app.gateway().set_delay(Duration::from_secs(3));
    let answered = std::sync::atomic::AtomicBool::new(false);
    let long_turn = async {
        let response = message(&app, &ann, "a long question").await;
        answered.store(true, std::sync::atomic::Ordering::SeqCst);
        response
    };
    let others = async {
        eventually("Ann's turn reached the gateway", async || {
            !app.gateway().turns().is_empty()
        })
        .await;
        let mut refused = 0;
        // Well past the 1 s lease: the turn renews it while it runs.
        loop {
            let response = message(&app, &ben, "me too").await;
            if answered.load(std::sync::atomic::Ordering::SeqCst) {
                break;
            }
            assert_eq!(
                response.status(),
                503,
                "Ben took the slot of a turn in flight"
            );
            refused += 1;
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        refused
    };
    let (answer, refused) = tokio::join!(long_turn, others);
    assert_eq!(answer.status(), 200);
    assert_eq!(
        json_body(answer).await["response"],
        "echo[1]: a long question"
    );
    assert!(refused >= 3, "Ben asked while Ann's turn ran: {refused}");
    app.gateway().set_delay(Duration::ZERO);
    // Once the turn is over and its lease has passed, Ben gets the slot.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while message(&app, &ben, "me too").await.status() != 200 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "Ben never got the slot"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    app.shutdown().await;
}

#[tokio::test]
async fn agents_spread_over_shards_by_room_and_a_dead_shard_fails_only_its_users() {
    let app = TestApp::spawn_sharded(
        vec![
            ShardOptions {
                id: "a".into(),
                slots: 4,
                ..ShardOptions::default()
            },
            ShardOptions {
                id: "b".into(),
                slots: 8,
                ..ShardOptions::default()
            },
        ],
        vec![],
    )
    .await;
    let mut users = Vec::new();
    for i in 0..6 {
        users.push(sign_up(&app, &format!("spread{i}@example.com")).await);
    }
    // Room is agents per slot: b has twice a's slots, so twice its agents.
    let on = async |shard: &str| {
        app.db
            .count(&format!(
                "SELECT count(*) AS n FROM assistants WHERE gateway_id = '{shard}'"
            ))
            .await
    };
    assert_eq!((on("a").await, on("b").await), (2, 4));
    for user in &users {
        assert_eq!(message(&app, user, "hello").await.status(), 200);
    }

    // Shard b's gateway dies: only its users get a 503 with Retry-After.
    app.shards[1].stop().await;
    for user in &users {
        let shard: String = if app
            .db
            .count(&format!(
                "SELECT count(*) AS n FROM assistants WHERE user_id = '{}' AND gateway_id = 'a'",
                user.id
            ))
            .await
            == 1
        {
            "a".into()
        } else {
            "b".into()
        };
        let response = message(&app, user, "still there?").await;
        if shard == "a" {
            assert_eq!(response.status(), 200);
        } else {
            assert_eq!(response.status(), 503);
            assert!(response.headers().contains_key("retry-after"));
            let health = json_body(
                app.request(Method::GET, "/agent/health", Some(&user.token), None)
                    .await,
            )
            .await;
            assert_eq!(health["healthy"], false);
        }
    }
    app.shutdown().await;
}

#[tokio::test]
async fn a_hibernated_agent_moves_to_another_shard_and_wakes_there_with_its_files() {
    let app = TestApp::spawn_sharded(
        vec![
            ShardOptions {
                id: "a".into(),
                ..ShardOptions::default()
            },
            ShardOptions {
                id: "b".into(),
                ..ShardOptions::default()
            },
        ],
        vec![],
    )
    .await;
    let user = sign_up(&app, "mover@example.com").await;
    let workspace = app.wait_resident(&user.id).await;
    std::fs::write(workspace.join("MEMORY.md"), "packed for the move").unwrap();
    let (from, _) = app.resident_slot(&user.id).await.unwrap();
    let to = &app.shards[1 - from].id;
    let id: uuid::Uuid = user.id.parse().unwrap();
    let mut conn = app.db.connect().await;
    assert!(
        !slots::move_agent(&mut conn, id, to).await.unwrap(),
        "a resident agent does not move"
    );
    app.clock.advance(Duration::from_secs(31 * 60));
    eventually("the agent hibernates", async || {
        hibernated(&app, &user).await
    })
    .await;
    assert!(slots::move_agent(&mut conn, id, to).await.unwrap());
    assert_eq!(message(&app, &user, "where am I?").await.status(), 200);
    assert_eq!(app.resident_slot(&user.id).await.unwrap().0, 1 - from);
    let workspace = app.wait_resident(&user.id).await;
    assert_eq!(
        std::fs::read_to_string(workspace.join("MEMORY.md")).unwrap(),
        "packed for the move"
    );
    app.shutdown().await;
}

#[tokio::test]
async fn without_its_keeper_a_wake_is_a_clear_503_not_a_hang() {
    let app = TestApp::spawn_with(&[("AGENT_READINESS_TIMEOUT", "1s")]).await;
    app.shards[0].stop_keeper();
    let user = sign_up(&app, "nokeeper@example.com").await;
    let started = std::time::Instant::now();
    let response = message(&app, &user, "hello?").await;
    assert_eq!(response.status(), 503);
    assert!(response.headers().contains_key("retry-after"));
    assert!(started.elapsed() < Duration::from_secs(5));
    app.shutdown().await;
}

fn gateway_client(url: &str) -> heyclaw_gateway_client::GatewayClient {
    heyclaw_gateway_client::GatewayClient::new(heyclaw_gateway_client::GatewayConfig {
        base_url: url.to_owned(),
        token: heyclaw_test_support::TEST_GATEWAY_TOKEN.to_owned().into(),
        connect_timeout: Duration::from_secs(1),
        request_timeout: Duration::from_secs(5),
        first_token_timeout: Duration::from_secs(5),
        idle_timeout: Duration::from_secs(5),
    })
    .unwrap()
}

#[tokio::test]
async fn idle_slots_are_warmed_once_and_occupied_ones_are_left_alone() {
    use heyclaw_keeper::warm::{WARM_UP_SESSION, warm_idle_slots};

    let app = TestApp::spawn().await;
    let user = sign_up(&app, "warm@example.com").await;
    app.wait_resident(&user.id).await;
    let (_, occupied) = app.resident_slot(&user.id).await.unwrap();
    let shard = &app.shards[0];
    let before = app.gateway().turns().len();
    // A gateway that has just started may refuse the first tries.
    app.gateway().fail_next(2);

    let report = warm_idle_slots(
        &gateway_client(&shard.url),
        &shard.dirs.workspaces,
        8,
        Duration::from_secs(10),
        // The refused tries are retried at once: nothing here waits on time.
        Duration::ZERO,
    )
    .await
    .unwrap();
    assert_eq!((report.warmed, report.failed, report.occupied), (7, 0, 1));
    assert!(
        report.last_error.is_some(),
        "the refusals were met: {report:?}"
    );
    let turns = app.gateway().turns()[before..].to_vec();
    let mut agents: Vec<String> = turns.iter().map(|turn| turn.agent.clone()).collect();
    agents.sort();
    agents.dedup();
    assert_eq!(agents.len(), 7, "one turn per idle slot: {turns:?}");
    assert!(!agents.contains(&format!("slot-{occupied}")), "{agents:?}");
    assert!(
        turns.iter().all(|turn| turn
            .user
            .as_deref()
            .is_some_and(|user| user.starts_with(WARM_UP_SESSION))
            && turn.history.is_empty()),
        "the keeper's own session, no user's: {turns:?}"
    );
    app.shutdown().await;
}

#[tokio::test]
async fn warming_gives_up_on_a_gateway_that_never_answers() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let dir = std::env::temp_dir();
    let result = heyclaw_keeper::warm::warm_idle_slots(
        &gateway_client(&url),
        &dir,
        4,
        // No patience: the first refused probe is the answer.
        Duration::ZERO,
        Duration::ZERO,
    )
    .await;
    assert!(result.is_err(), "{result:?}");
}
