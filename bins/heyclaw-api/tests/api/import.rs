//! Taking users over from the original server: a database in the
//! original's shape with tricky rows is imported twice into a running API's
//! database; every row is checked, and a user then logs in with the
//! original's bcrypt password, which is replaced by argon2id.

use diesel_async::SimpleAsyncConnection;
use heyclaw_app::import::{ImportOptions, ImportReport, import_original};
use heyclaw_test_support::{ORIGINAL_SCHEMA, TestApp, TestDatabase, json_body};
use reqwest::Method;
use serde_json::json;

const ALICE: &str = "a11ce000-0000-4000-8000-000000000001";
const ALICE_DUPLICATE: &str = "a11ce000-0000-4000-8000-000000000002";
const OTP: &str = "0a0a0000-0000-4000-8000-000000000003";
const APPLE: &str = "a0a1e000-0000-4000-8000-000000000004";
const BAD_EMAIL: &str = "bad00000-0000-4000-8000-000000000005";
const BARE: &str = "ba4e0000-0000-4000-8000-000000000006";
const SESSION: &str = "5e550000-0000-4000-8000-000000000007";

async fn original() -> TestDatabase {
    let db = TestDatabase::create_empty().await;
    let mut conn = db.connect().await;
    conn.batch_execute(ORIGINAL_SCHEMA).await.unwrap();
    let bcrypt = bcrypt::hash("alicepass1", 4).unwrap();
    conn.batch_execute(&format!(
        "INSERT INTO users (id, email, password_hash, name, created_at) VALUES
           ('{ALICE}', 'Alice@Example.com', '{bcrypt}', 'Alice', '2025-01-01 10:00'),
           ('{ALICE_DUPLICATE}', 'alice@example.com', '{bcrypt}', 'Alice Again', '2025-06-01 10:00'),
           ('{OTP}', 'otp@example.com', 'otp-auth', NULL, '2025-02-01 10:00'),
           ('{BAD_EMAIL}', 'not-an-email', 'otp-auth', NULL, '2025-02-02 10:00'),
           ('{BARE}', 'bare@example.com', 'otp-auth', 'Bare', '2025-02-03 10:00');
         INSERT INTO users (id, email, password_hash, apple_user_id, status, created_at) VALUES
           ('{APPLE}', 'apple@example.com', 'apple-auth', '000123.abcdef', 'active', '2025-03-01 10:00');
         INSERT INTO subscriptions (user_id, plan, status, apple_original_transaction_id, apple_product_id, subscription_ends_at) VALUES
           ('{ALICE}', 'pro', 'active', '1000001', 'com.heyclaw.pro.monthly', now() + interval '20 days'),
           ('{OTP}', 'free', 'active', NULL, NULL, NULL),
           ('{APPLE}', 'premium', 'active', NULL, 'com.heyclaw.premium.monthly', now() + interval '10 days');
         INSERT INTO assistants (user_id, agent_id, display_name, voice, status, message_count) VALUES
           ('{ALICE}', 'agent-{ALICE}', 'Ally', 'shimmer', 'active', 42),
           ('{OTP}', 'agent-{OTP}', 'My Assistant', 'robot-voice', 'paused', 3),
           ('{APPLE}', 'agent-{APPLE}', 'Apple Pal', 'nova', 'active', 0);
         INSERT INTO daily_usage (user_id, date, text_messages, voice_input_seconds, voice_output_seconds, tts_characters) VALUES
           ('{ALICE}', (now() AT TIME ZONE 'utc')::date, 3, 12.5, 4.2, 300),
           ('{ALICE}', '2025-01-02', 40, 0, 0, 0);
         INSERT INTO chat_sessions (id, user_id, title, messages, created_at, updated_at) VALUES
           ('{SESSION}', '{ALICE}', 'Tea talk', '[
               {{\"id\": \"m1\", \"role\": \"user\", \"content\": \"hi\"}},
               {{\"role\": \"assistant\", \"content\": \"hello\", \"isVoice\": true}},
               \"just a string\",
               {{\"role\": \"robot\", \"content\": \"beep\"}},
               {{\"role\": \"user\", \"content\": {{\"text\": \"an object\"}}}},
               {{\"id\": 7, \"role\": \"user\", \"content\": \"numeric id\"}}
             ]', '2025-01-05 10:00', '2025-01-06 10:00'),
           (gen_random_uuid(), '{OTP}', NULL, '{{\"not\": \"a list\"}}', '2025-02-05 10:00', '2025-02-05 10:00'),
           (gen_random_uuid(), '{ALICE_DUPLICATE}', 'Lost', '[]', '2025-06-05 10:00', '2025-06-05 10:00');
         INSERT INTO automation_results (user_id, job_id, job_name, result, run_at, seen) VALUES
           ('{ALICE}', 'cron-123', 'Morning', 'Good morning, Alice', '2025-01-07 08:00', false),
           ('{ALICE}', 'cron-123', 'Morning', 'Good morning again', '2025-01-08 08:00', true);"
    ))
    .await
    .unwrap();
    db
}

async fn run_import(
    app: &TestApp,
    source: &TestDatabase,
    workspaces: Option<&std::path::Path>,
    dry_run: bool,
) -> ImportReport {
    let mut source = source.connect().await;
    let mut target = app.db.connect().await;
    let options = ImportOptions {
        dry_run,
        batch_size: 2,
        gateway_id: "default".into(),
        today: chrono::Utc::now().date_naive(),
        workspaces_from: workspaces.map(std::path::Path::to_path_buf),
    };
    let mut lines = Vec::new();
    let report = import_original(&mut source, &mut target, &options, &mut |line: &str| {
        lines.push(line.to_owned())
    })
    .await
    .unwrap();
    assert!(!lines.is_empty(), "progress is reported");
    report
}

async fn count(app: &TestApp, sql: &str) -> i64 {
    app.db.count(sql).await
}

#[tokio::test]
async fn the_originals_users_are_taken_over_and_importing_again_changes_nothing_twice() {
    let app = TestApp::spawn().await;
    let source = original().await;
    let old_workspaces =
        std::env::temp_dir().join(format!("heyclaw-old-ws-{}", uuid::Uuid::new_v4().simple()));
    let alice_ws = old_workspaces.join(format!("agent-{ALICE}"));
    std::fs::create_dir_all(alice_ws.join("memory")).unwrap();
    std::fs::write(alice_ws.join("MEMORY.md"), "Alice likes tea.").unwrap();
    std::fs::write(alice_ws.join("memory/2025-01-05.md"), "Talked about tea.").unwrap();
    std::fs::write(alice_ws.join("USER.md"), "old USER.md").unwrap();

    // A dry run reports everything and writes nothing.
    let dry = run_import(&app, &source, Some(&old_workspaces), true).await;
    assert!(dry.dry_run);
    assert_eq!(dry.tables["users"].written, 4);
    assert_eq!(count(&app, "SELECT count(*) AS n FROM users").await, 0);
    assert_eq!(
        count(&app, "SELECT count(*) AS n FROM agent_files").await,
        0
    );

    let report = run_import(&app, &source, Some(&old_workspaces), false).await;
    println!("{report}");
    assert_eq!(report.tables["users"].read, 6);
    assert_eq!(report.tables["users"].written, 4, "alice, otp, apple, bare");
    let skipped_ids: Vec<&str> = report.skipped.iter().map(|s| s.id.as_str()).collect();
    assert!(skipped_ids.contains(&ALICE_DUPLICATE), "{report}");
    assert!(skipped_ids.contains(&BAD_EMAIL), "{report}");
    assert!(
        report
            .skipped
            .iter()
            .any(|s| s.id == ALICE_DUPLICATE && s.reason.contains("differs only in case")),
        "never merged silently: {report}"
    );
    assert_eq!(report.flagged.len(), 1, "{report}");
    assert_eq!(report.flagged[0].email, "apple@example.com");
    assert_eq!(report.flagged[0].plan, "premium");
    assert_eq!(report.tables["chat_messages"].written, 3, "{report}");
    assert_eq!(
        report.tables["chat_messages"].skipped, 4,
        "three odd messages and a non-list: {report}"
    );
    assert_eq!((report.files_copied, report.files_kept), (3, 0));

    // Users: e-mail normalised, placeholders gone, Apple id kept.
    assert_eq!(count(&app, &format!("SELECT count(*) AS n FROM users WHERE id = '{ALICE}' AND email = 'alice@example.com' AND password_hash LIKE '$2%' AND created_at = '2025-01-01 10:00+00'")).await, 1);
    assert_eq!(count(&app, &format!("SELECT count(*) AS n FROM users WHERE id IN ('{OTP}', '{APPLE}') AND password_hash IS NULL")).await, 2);
    assert_eq!(count(&app, &format!("SELECT count(*) AS n FROM users WHERE id = '{APPLE}' AND apple_sub = '000123.abcdef'")).await, 1);
    // Subscriptions: plans carried over; every user has one.
    assert_eq!(count(&app, &format!("SELECT count(*) AS n FROM subscriptions WHERE user_id = '{ALICE}' AND plan = 'pro' AND apple_original_transaction_id = '1000001' AND current_period_end > now()")).await, 1);
    assert_eq!(count(&app, &format!("SELECT count(*) AS n FROM subscriptions WHERE user_id = '{APPLE}' AND plan = 'premium' AND apple_original_transaction_id IS NULL")).await, 1);
    assert_eq!(
        count(
            &app,
            &format!(
                "SELECT count(*) AS n FROM subscriptions WHERE user_id = '{BARE}' AND plan = 'free'"
            )
        )
        .await,
        1
    );
    // Assistants: same ids, hibernated until they wake, an unknown voice → nova.
    assert_eq!(count(&app, &format!("SELECT count(*) AS n FROM assistants WHERE user_id = '{ALICE}' AND agent_id = 'agent-{ALICE}' AND display_name = 'Ally' AND voice = 'shimmer' AND message_count = 42")).await, 1);
    assert_eq!(count(&app, &format!("SELECT count(*) AS n FROM assistants WHERE user_id = '{OTP}' AND status = 'hibernated' AND voice = 'nova'")).await, 1);
    assert_eq!(count(&app, &format!("SELECT count(*) AS n FROM assistants WHERE user_id = '{BARE}' AND display_name = 'My Assistant'")).await, 1);
    // Today's usage only, whole seconds rounded up.
    assert_eq!(
        count(&app, "SELECT count(*) AS n FROM daily_usage").await,
        1
    );
    assert_eq!(count(&app, &format!("SELECT count(*) AS n FROM daily_usage WHERE user_id = '{ALICE}' AND text_messages = 3 AND voice_input_seconds = 13 AND voice_output_seconds = 5")).await, 1);
    // Chats: the good messages, in order, with their client ids.
    assert_eq!(
        count(
            &app,
            &format!("SELECT count(*) AS n FROM chat_messages WHERE session_id = '{SESSION}'")
        )
        .await,
        3
    );
    assert_eq!(count(&app, &format!("SELECT count(*) AS n FROM chat_messages WHERE session_id = '{SESSION}' AND position = 1 AND role = 'assistant' AND is_voice")).await, 1);
    assert_eq!(count(&app, &format!("SELECT count(*) AS n FROM chat_messages WHERE session_id = '{SESSION}' AND position = 2 AND client_id = '7'")).await, 1);
    assert_eq!(
        count(&app, "SELECT count(*) AS n FROM chat_sessions").await,
        2
    );
    // Automation results: delivered already, seen as they were.
    assert_eq!(
        count(
            &app,
            "SELECT count(*) AS n FROM automation_results WHERE delivered AND job_id IS NULL"
        )
        .await,
        2
    );
    assert_eq!(
        count(
            &app,
            "SELECT count(*) AS n FROM automation_results WHERE seen"
        )
        .await,
        1
    );
    // Workspaces: archived, to be loaded when the agent wakes.
    assert_eq!(
        count(
            &app,
            &format!("SELECT count(*) AS n FROM agent_files WHERE user_id = '{ALICE}'")
        )
        .await,
        3
    );

    // Alice signs in with her original password; it becomes argon2id.
    let login = app
        .post_json(
            "/auth/login",
            &json!({"email": "ALICE@example.com", "password": "alicepass1"}),
        )
        .await;
    assert_eq!(login.status(), 200);
    let token = json_body(login).await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(count(&app, &format!("SELECT count(*) AS n FROM users WHERE id = '{ALICE}' AND password_hash LIKE '$argon2id$%'")).await, 1);
    let me = json_body(
        app.request(Method::GET, "/user/me", Some(&token), None)
            .await,
    )
    .await;
    assert_eq!(
        (me["plan"].clone(), me["agent"]["messageCount"].clone()),
        (json!("pro"), json!(42))
    );
    // Opening the app woke her agent, with her old workspace.
    let workspace = app.wait_resident(ALICE).await;
    assert_eq!(
        std::fs::read_to_string(workspace.join("MEMORY.md")).unwrap(),
        "Alice likes tea."
    );
    assert_eq!(
        std::fs::read_to_string(workspace.join("memory/2025-01-05.md")).unwrap(),
        "Talked about tea."
    );
    let wrong = app
        .post_json(
            "/auth/login",
            &json!({"email": "alice@example.com", "password": "wrongpass1"}),
        )
        .await;
    assert_eq!(wrong.status(), 401);

    // Importing again: the same counts, nothing doubled, her new hash kept.
    let again = run_import(&app, &source, Some(&old_workspaces), false).await;
    assert_eq!(again.tables["users"].written, 4);
    assert_eq!((again.files_copied, again.files_kept), (0, 3));
    assert_eq!(count(&app, "SELECT count(*) AS n FROM users").await, 4);
    assert_eq!(
        count(&app, "SELECT count(*) AS n FROM chat_messages").await,
        3
    );
    assert_eq!(
        count(&app, "SELECT count(*) AS n FROM automation_results").await,
        2
    );
    assert_eq!(
        count(&app, "SELECT count(*) AS n FROM subscriptions").await,
        4
    );
    assert_eq!(count(&app, &format!("SELECT count(*) AS n FROM users WHERE id = '{ALICE}' AND password_hash LIKE '$argon2id$%'")).await, 1);

    // The others stay hibernated until they come.
    assert!(app.resident_slot(OTP).await.is_none());
    let _ = std::fs::remove_dir_all(&old_workspaces);
    app.shutdown().await;
}

#[tokio::test]
async fn a_database_that_is_not_the_originals_is_refused() {
    let app = TestApp::spawn().await;
    let other = TestDatabase::create().await;
    let mut source = other.connect().await;
    let mut target = app.db.connect().await;
    let options = ImportOptions {
        dry_run: false,
        batch_size: 100,
        gateway_id: "default".into(),
        today: chrono::Utc::now().date_naive(),
        workspaces_from: None,
    };
    let result = import_original(&mut source, &mut target, &options, &mut |_: &str| {}).await;
    assert!(result.is_err());
    app.shutdown().await;
}

#[tokio::test]
async fn a_session_id_taken_by_another_user_here_is_left_alone() {
    let app = TestApp::spawn().await;
    let source = original().await;
    // Someone here already has a chat with the id of Alice's original one.
    let local = app.signup("local@example.com", "localpass1").await;
    let local_id = local["user"]["id"].as_str().unwrap().to_owned();
    app.db
        .execute(&format!(
            "INSERT INTO chat_sessions (id, user_id, title, created_at, updated_at)
               VALUES ('{SESSION}', '{local_id}', 'Mine', now(), now())"
        ))
        .await;
    app.db
        .execute(&format!(
            "INSERT INTO chat_messages (session_id, position, role, content, is_voice, created_at)
               VALUES ('{SESSION}', 0, 'user', 'my own words', false, now())"
        ))
        .await;

    run_import(&app, &source, None, false).await;
    run_import(&app, &source, None, false).await;

    assert_eq!(
        count(
            &app,
            &format!(
                "SELECT count(*) AS n FROM chat_sessions
                  WHERE id = '{SESSION}' AND user_id = '{local_id}' AND title = 'Mine'"
            )
        )
        .await,
        1
    );
    assert_eq!(
        count(
            &app,
            &format!("SELECT count(*) AS n FROM chat_messages WHERE session_id = '{SESSION}'")
        )
        .await,
        1,
        "none of Alice's messages went into the local user's chat"
    );
    app.shutdown().await;
}
