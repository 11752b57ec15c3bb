//! `cargo xtask bench import`: how long taking the original's users over
//! takes. Builds a database in the original's shape with `--users` users,
//! each with `--sessions` chat sessions of four messages (plus plans,
//! agents, today's usage and a result), then imports it into a freshly
//! migrated database and prints the report and the time (release build).

use std::time::Instant;

use anyhow::Result;
use diesel_async::SimpleAsyncConnection;
use heyclaw_app::import::{ImportOptions, import_original};
use heyclaw_persistence::admin;

const SOURCE_DB: &str = "heyclaw_bench_original";
const TARGET_DB: &str = "heyclaw_bench_import";

/// Runs the benchmark (in a release build of xtask: see `bench::release_then`).
pub fn run(users: usize, sessions: usize) -> Result<()> {
    crate::runtime()?.block_on(bench(users, sessions))
}

async fn bench(users: usize, sessions: usize) -> Result<()> {
    let admin_url = heyclaw_test_support::admin_database_url();
    let mut maintenance = heyclaw_persistence::establish(&admin_url).await?;
    for name in [SOURCE_DB, TARGET_DB] {
        admin::drop_database(&mut maintenance, name).await?;
        admin::create_database(&mut maintenance, name, None).await?;
    }
    let source_url = admin::with_database(&admin_url, SOURCE_DB);
    let target_url = admin::with_database(&admin_url, TARGET_DB);
    heyclaw_persistence::run_migrations(heyclaw_persistence::establish(&target_url).await?).await?;

    let started = Instant::now();
    let mut source = heyclaw_persistence::establish(&source_url).await?;
    source
        .batch_execute(heyclaw_test_support::ORIGINAL_SCHEMA)
        .await?;
    // One bcrypt hash for all (hashing 10,000 would only time bcrypt).
    let hash = "$2b$12$R9h/cIPz0gi.URNNX3kh2OPST9/PgBkqquzi.Ss7KIUgO2t0jWMUW";
    source
        .batch_execute(&format!(
            "INSERT INTO users (id, email, password_hash, name, created_at)
               SELECT gen_random_uuid(), 'user' || n || '@example.com', '{hash}', 'User ' || n,
                      now()::timestamp - n * interval '1 minute'
               FROM generate_series(1, {users}) AS n;
             INSERT INTO subscriptions (user_id, plan, apple_original_transaction_id)
               SELECT id, CASE WHEN random() < 0.1 THEN 'pro' ELSE 'free' END, NULL FROM users;
             INSERT INTO assistants (user_id, agent_id, status, message_count)
               SELECT id, 'agent-' || id, CASE WHEN random() < 0.5 THEN 'paused' ELSE 'active' END, 10 FROM users;
             INSERT INTO daily_usage (user_id, text_messages, voice_input_seconds)
               SELECT id, 3, 20.5 FROM users;
             INSERT INTO chat_sessions (user_id, title, messages)
               SELECT u.id, 'Chat ' || s,
                      jsonb_build_array(
                        jsonb_build_object('id', 'a' || s, 'role', 'user', 'content', 'Hello, how are you today?'),
                        jsonb_build_object('id', 'b' || s, 'role', 'assistant', 'content', 'I am well, thank you. How can I help?'),
                        jsonb_build_object('id', 'c' || s, 'role', 'user', 'content', 'Tell me something about tea.', 'isVoice', true),
                        jsonb_build_object('id', 'd' || s, 'role', 'assistant', 'content', 'Tea is the second most drunk drink on Earth.'))
               FROM users u CROSS JOIN generate_series(1, {sessions}) AS s;
             INSERT INTO automation_results (user_id, job_id, job_name, result)
               SELECT id, 'cron', 'Morning', 'Good morning' FROM users;"
        ))
        .await?;
    println!(
        "original: {users} users x {sessions} chat sessions built in {:.1?}",
        started.elapsed()
    );

    let mut target = heyclaw_persistence::establish(&target_url).await?;
    let options = ImportOptions {
        dry_run: false,
        batch_size: 1000,
        gateway_id: "default".to_owned(),
        today: chrono::Utc::now().date_naive(),
        workspaces_from: None,
    };
    let started = Instant::now();
    let report = import_original(&mut source, &mut target, &options, &mut |_: &str| {}).await?;
    let took = started.elapsed();
    for (table, count) in &report.tables {
        println!(
            "{table:<20} read {:>8} written {:>8} skipped {:>6}",
            count.read, count.written, count.skipped
        );
    }
    println!("flagged subscriptions: {}", report.flagged.len());
    println!(
        "import of {users} users with {sessions} chat sessions each: {:.1?} ({:.0} users/s)",
        took,
        users as f64 / took.as_secs_f64()
    );
    let mut maintenance = heyclaw_persistence::establish(&admin_url).await?;
    drop((source, target));
    for name in [SOURCE_DB, TARGET_DB] {
        admin::drop_database(&mut maintenance, name).await?;
    }
    Ok(())
}
