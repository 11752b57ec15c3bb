//! Automations against the gateway stand-in with a clock the tests move
//! forward (no sleeps): jobs made from reply markers run at their time in
//! the user's zone, results reach `/automation/check` once, replicas never
//! double-run, crashed claims are taken over, quota and caps hold.

use std::time::Duration;

use chrono::{DateTime, Utc};
use heyclaw_test_support::{TestApp, eventually, json_body};
use reqwest::Method;
use serde_json::{Value, json};

/// The scheduler looks often; retries wait little.
const FAST: &[(&str, &str)] = &[
    ("AUTOMATION_POLL_INTERVAL", "30ms"),
    ("AUTOMATION_RETRY_BACKOFF", "10ms"),
];

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

async fn call(
    app: &TestApp,
    method: Method,
    path: &str,
    user: &User,
    body: Option<Value>,
) -> (u16, Value) {
    let response = app
        .request(method, path, Some(&user.token), body.as_ref())
        .await;
    (response.status().as_u16(), json_body(response).await)
}

/// The agent answers with `reply` (markers and all) to one message.
async fn agent_says(app: &TestApp, user: &User, reply: &str) -> Value {
    app.gateway().reply_with(reply);
    let (status, body) = call(
        app,
        Method::POST,
        "/agent/message",
        user,
        Some(json!({"text": "please"})),
    )
    .await;
    app.gateway().echo();
    assert_eq!(status, 200, "{body}");
    body
}

async fn jobs(app: &TestApp, user: &User) -> Vec<Value> {
    call(app, Method::GET, "/automation/jobs", user, None)
        .await
        .1["jobs"]
        .as_array()
        .unwrap()
        .clone()
}

fn time(value: &Value) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(value.as_str().unwrap())
        .unwrap()
        .with_timezone(&Utc)
}

/// Moves the server's clock to just after `at`.
fn jump_past(app: &TestApp, at: DateTime<Utc>) {
    let now = app.clock.now();
    if at >= now {
        app.clock
            .advance((at - now).to_std().unwrap() + Duration::from_secs(1));
    }
}

fn automation_turns(app: &TestApp) -> usize {
    app.gateway()
        .turns()
        .iter()
        .filter(|turn| {
            turn.user
                .as_deref()
                .is_some_and(|u| u.contains("automation"))
        })
        .count()
}

#[tokio::test]
async fn a_job_from_a_reply_marker_runs_in_the_users_zone_across_dst_and_is_delivered_once() {
    let app = TestApp::spawn_with(FAST).await;
    let user = sign_up(&app, "early.bird@example.com").await;
    let (status, me) = call(
        &app,
        Method::PATCH,
        "/user/me",
        &user,
        Some(json!({"timezone": "Europe/Paris"})),
    )
    .await;
    assert_eq!(
        (status, me["timezone"].clone()),
        (200, json!("Europe/Paris"))
    );
    // The keeper writes it into the resident agent's USER.md.
    let workspace = app.wait_resident(&user.id).await;
    heyclaw_test_support::eventually("the agent is told the time zone", async || {
        std::fs::read_to_string(workspace.join("USER.md"))
            .is_ok_and(|user_md| user_md.contains("- Time zone: Europe/Paris"))
    })
    .await;

    let reply = agent_says(
        &app,
        &user,
        "Of course, every morning at 8. <!--action:automation|0 8 * * *|Morning summary|Give me a summary of my day-->",
    )
    .await;
    assert_eq!(
        reply["response"], "Of course, every morning at 8.",
        "the marker is stripped"
    );
    assert_eq!(reply["actions"], json!([]), "and not passed to the app");
    let listed = jobs(&app, &user).await;
    assert_eq!(listed.len(), 1);
    let job = &listed[0];
    assert_eq!(job["name"], "Morning summary");
    assert_eq!(job["schedule"], "0 8 * * *");
    assert_eq!(job["timezone"], "Europe/Paris");
    assert_eq!(job["enabled"], true);
    let first = time(&job["nextRunAt"]);
    // Winter: 08:00 in Paris is 07:00 UTC.
    assert_eq!(first.format("%H:%M").to_string(), "07:00");

    // Jump to the morning DST begins (Sunday 28 March 2027): the run that
    // was due runs once, missed ones are skipped, and the next 08:00 is
    // 06:00 UTC.
    let dst_morning = DateTime::parse_from_rfc3339("2027-03-28T05:30:00Z")
        .unwrap()
        .with_timezone(&Utc);
    jump_past(&app, dst_morning);
    eventually("the due run ran", async || {
        jobs(&app, &user).await[0]["lastRunAt"].is_string()
    })
    .await;
    let job = &jobs(&app, &user).await[0];
    assert_eq!(time(&job["lastRunAt"]), first);
    assert_eq!(job["nextRunAt"], "2027-03-28T06:00:00Z");

    let (status, check) = call(&app, Method::POST, "/automation/check", &user, None).await;
    assert_eq!(status, 200);
    assert_eq!(check["agentName"], "Test User");
    let results = check["newResults"].as_array().unwrap();
    assert_eq!(results.len(), 1);
    assert_eq!(results[0]["jobName"], "Morning summary");
    assert_eq!(results[0]["job_name"], "Morning summary");
    assert_eq!(results[0]["result"], "echo[1]: Give me a summary of my day");
    assert_eq!(time(&results[0]["runAt"]), first);
    let again = call(&app, Method::POST, "/automation/check", &user, None)
        .await
        .1;
    assert_eq!(again["newResults"], json!([]), "delivered once");

    jump_past(&app, time(&json!("2027-03-28T06:00:00Z")));
    eventually("the DST-morning run ran", async || {
        let check = call(&app, Method::POST, "/automation/check", &user, None)
            .await
            .1;
        check["newResults"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["runAt"] == "2027-03-28T06:00:00Z")
    })
    .await;
    // Runs have a session of their own and count as messages.
    let turns = app.gateway().turns();
    let run_turns: Vec<_> = turns
        .iter()
        .filter(|t| t.text == "Give me a summary of my day")
        .collect();
    assert_eq!(run_turns.len(), 2);
    assert!(
        run_turns
            .iter()
            .all(|t| t.user.as_deref().unwrap().contains("automation"))
    );
    app.shutdown().await;
}

#[tokio::test]
async fn the_app_can_list_pause_resume_and_delete_jobs() {
    let app = TestApp::spawn_with(FAST).await;
    let user = sign_up(&app, "manager@example.com").await;
    agent_says(
        &app,
        &user,
        "Done. <!--action:automation|every 2 hours|Stretch|Remind me to stretch-->",
    )
    .await;
    let id = jobs(&app, &user).await[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();

    let (status, job) = call(
        &app,
        Method::PATCH,
        &format!("/automation/jobs/{id}"),
        &user,
        Some(json!({"enabled": false})),
    )
    .await;
    assert_eq!(
        (status, job["enabled"].clone(), job["nextRunAt"].clone()),
        (200, json!(false), Value::Null)
    );
    let (status, job) = call(
        &app,
        Method::PATCH,
        &format!("/automation/jobs/{id}"),
        &user,
        Some(json!({"enabled": true})),
    )
    .await;
    assert_eq!((status, job["enabled"].clone()), (200, json!(true)));
    assert!(job["nextRunAt"].is_string());

    // Another user's job is a 404, as is a malformed id; bad bodies are 400.
    let other = sign_up(&app, "other@example.com").await;
    assert_eq!(
        call(
            &app,
            Method::DELETE,
            &format!("/automation/jobs/{id}"),
            &other,
            None
        )
        .await
        .0,
        404
    );
    assert_eq!(
        call(
            &app,
            Method::DELETE,
            "/automation/jobs/not-a-uuid",
            &user,
            None
        )
        .await
        .0,
        404
    );
    assert_eq!(
        call(
            &app,
            Method::PATCH,
            &format!("/automation/jobs/{id}"),
            &user,
            Some(json!({}))
        )
        .await
        .0,
        400
    );
    assert_eq!(
        call(
            &app,
            Method::PATCH,
            &format!("/automation/jobs/{id}"),
            &user,
            Some(json!({"enabled": "yes"}))
        )
        .await
        .0,
        400
    );
    assert_eq!(
        call(&app, Method::GET, "/automation/runs?limit=0", &user, None)
            .await
            .0,
        400
    );
    assert_eq!(
        call(&app, Method::GET, "/automation/runs?limit=101", &user, None)
            .await
            .0,
        400
    );

    // The agent pauses and cancels by name, too.
    agent_says(
        &app,
        &user,
        "Paused. <!--action:automation_pause|stretch-->",
    )
    .await;
    assert_eq!(jobs(&app, &user).await[0]["enabled"], false);
    agent_says(&app, &user, "Gone. <!--action:automation_cancel|Stretch-->").await;
    assert!(jobs(&app, &user).await.is_empty());
    agent_says(
        &app,
        &user,
        "Again. <!--action:automation|every 3 hours|Water|Remind me to drink water-->",
    )
    .await;
    let id = jobs(&app, &user).await[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (status, body) = call(
        &app,
        Method::DELETE,
        &format!("/automation/jobs/{id}"),
        &user,
        None,
    )
    .await;
    assert_eq!(
        (status, body),
        (200, json!({"message": "Automation deleted"}))
    );
    assert_eq!(
        call(
            &app,
            Method::DELETE,
            &format!("/automation/jobs/{id}"),
            &user,
            None
        )
        .await
        .0,
        404
    );
    app.shutdown().await;
}

#[tokio::test]
async fn invalid_markers_are_dropped_silently_and_the_plan_caps_the_number_of_jobs() {
    let app = TestApp::spawn_with(FAST).await;
    let user = sign_up(&app, "greedy@example.com").await;
    for marker in [
        "<!--action:automation|every 5 minutes|Too often|x-->",
        "<!--action:automation|whenever|Vague|x-->",
        "<!--action:automation|0 8 * * *|Bad zone|x|Mars/Olympus-->",
        "<!--action:automation|0 8 * * *-->",
        "<!--action:automation_cancel|nothing by that name-->",
    ] {
        let reply = agent_says(&app, &user, &format!("Okay. {marker}")).await;
        assert_eq!(reply["response"], "Okay.", "never shown: {marker}");
    }
    assert!(jobs(&app, &user).await.is_empty());

    for n in 1..=3 {
        agent_says(
            &app,
            &user,
            &format!("Sure. <!--action:automation|every {n} days|Job {n}|Do thing {n}-->"),
        )
        .await;
    }
    let reply = agent_says(
        &app,
        &user,
        "Sure. <!--action:automation|every 4 days|Job 4|Do thing 4-->",
    )
    .await;
    let text = reply["response"].as_str().unwrap();
    assert!(text.starts_with("Sure."), "{text}");
    assert!(
        text.contains("allows 3 automations"),
        "the reply says so: {text}"
    );
    assert_eq!(jobs(&app, &user).await.len(), 3);
    app.shutdown().await;
}

#[tokio::test]
async fn two_replicas_never_run_a_job_twice() {
    let app = TestApp::spawn_with(FAST).await;
    let replica = app.replica().await;
    let mut users = Vec::new();
    for n in 0..6 {
        let user = sign_up(&app, &format!("crowd{n}@example.com")).await;
        agent_says(
            &app,
            &user,
            "Yes. <!--action:automation|in 1 hour|Ping|Say hello-->",
        )
        .await;
        users.push(user);
    }
    app.clock.advance(Duration::from_secs(3700));
    eventually("every job ran", async || {
        app.db
            .count("SELECT count(*) AS n FROM automation_results")
            .await
            == 6
    })
    .await;
    assert_eq!(automation_turns(&app), 6, "one gateway turn per run");
    assert_eq!(
        app.db.count("SELECT count(*) AS n FROM automation_jobs WHERE next_run_at IS NULL AND claimed_by IS NULL").await,
        6,
        "one-time jobs are over"
    );
    // Both pollers race on every user's check; each result is delivered once.
    let mut delivered = 0;
    for user in &users {
        let (a, b) = tokio::join!(
            call(&app, Method::POST, "/automation/check", user, None),
            call(&app, Method::POST, "/automation/check", user, None)
        );
        delivered += a.1["newResults"].as_array().unwrap().len()
            + b.1["newResults"].as_array().unwrap().len();
    }
    assert_eq!(delivered, 6);
    replica.stop().await;
    app.shutdown().await;
}

#[tokio::test]
async fn a_crashed_replicas_claim_is_taken_over_after_its_lease() {
    let app = TestApp::spawn_with(FAST).await;
    let user = sign_up(&app, "orphan@example.com").await;
    agent_says(
        &app,
        &user,
        "Yes. <!--action:automation|every 1 day|Daily|Say hi-->",
    )
    .await;
    // A replica claimed the job and died: its lease runs for an hour.
    app.db
        .execute("UPDATE automation_jobs SET claimed_by = 'dead-replica', claimed_until = now() + interval '1 hour', next_run_at = now() - interval '1 minute'")
        .await;
    app.clock.advance(Duration::from_secs(2 * 3600));
    eventually("the orphaned run is taken over", async || {
        app.db
            .count("SELECT count(*) AS n FROM automation_results WHERE status = 'ok'")
            .await
            == 1
    })
    .await;
    assert_eq!(
        app.db
            .count("SELECT count(*) AS n FROM automation_jobs WHERE claimed_by IS NULL")
            .await,
        1
    );
    app.shutdown().await;
}

#[tokio::test]
async fn runs_respect_the_daily_quota_and_failures_are_retried_then_recorded() {
    let app = TestApp::spawn_with(FAST).await;
    let user = sign_up(&app, "busy@example.com").await;
    agent_says(
        &app,
        &user,
        "Yes. <!--action:automation|in 30 minutes|Check in|How are you?-->",
    )
    .await;
    agent_says(
        &app,
        &user,
        "Yes. <!--action:automation|in 2 hours|Later|Anything new?-->",
    )
    .await;
    // Two messages were sent; the plan now allows exactly those.
    app.db
        .execute("UPDATE plan_limits SET daily_text_messages = 2 WHERE plan = 'free'")
        .await;
    app.clock.advance(Duration::from_secs(31 * 60));
    eventually("the run was skipped", async || {
        app.db
            .count("SELECT count(*) AS n FROM automation_results WHERE status = 'skipped'")
            .await
            == 1
    })
    .await;
    assert_eq!(
        automation_turns(&app),
        0,
        "a skipped run never reaches the agent"
    );

    app.db
        .execute("UPDATE plan_limits SET daily_text_messages = 50 WHERE plan = 'free'")
        .await;
    app.gateway().fail_next(1000);
    app.clock.advance(Duration::from_secs(2 * 3600));
    eventually("the run failed after its attempts", async || {
        app.db
            .count("SELECT count(*) AS n FROM automation_results WHERE status = 'failed'")
            .await
            == 1
    })
    .await;
    assert_eq!(
        automation_turns(&app),
        3 * 2,
        "three attempts (each with the client's one retry)"
    );
    let me = call(&app, Method::GET, "/user/me", &user, None).await.1;
    assert_eq!(me["usage"]["textMessages"], 2, "neither run was charged");
    let runs = call(&app, Method::GET, "/automation/runs", &user, None)
        .await
        .1;
    let statuses: Vec<&str> = runs["runs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, ["failed", "skipped"], "newest first");
    app.shutdown().await;
}

#[tokio::test]
async fn unseen_results_and_mark_seen() {
    let app = TestApp::spawn_with(FAST).await;
    let user = sign_up(&app, "reader@example.com").await;
    for n in 1..=2 {
        agent_says(
            &app,
            &user,
            &format!("Yes. <!--action:automation|in {n} hours|Note {n}|Write note {n}-->"),
        )
        .await;
    }
    app.clock.advance(Duration::from_secs(3 * 3600));
    eventually("both ran", async || {
        app.db
            .count("SELECT count(*) AS n FROM automation_results")
            .await
            == 2
    })
    .await;
    let unseen = call(&app, Method::GET, "/automation/unseen", &user, None)
        .await
        .1;
    let results = unseen["results"].as_array().unwrap();
    assert_eq!(results.len(), 2);
    assert_eq!(results[0]["jobName"], "Note 2", "newest first");
    let first = results[1]["id"].as_str().unwrap().to_owned();
    let (status, body) = call(
        &app,
        Method::POST,
        "/automation/mark-seen",
        &user,
        Some(json!({"ids": [first]})),
    )
    .await;
    assert_eq!((status, body), (200, json!({"message": "Marked as seen"})));
    assert_eq!(
        call(&app, Method::GET, "/automation/unseen", &user, None)
            .await
            .1["results"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    call(
        &app,
        Method::POST,
        "/automation/mark-seen",
        &user,
        Some(json!({})),
    )
    .await;
    assert_eq!(
        call(&app, Method::GET, "/automation/unseen", &user, None)
            .await
            .1["results"],
        json!([])
    );
    assert_eq!(
        call(
            &app,
            Method::POST,
            "/automation/mark-seen",
            &user,
            Some(json!({"ids": ["nope"]}))
        )
        .await
        .0,
        400
    );
    app.shutdown().await;
}

#[tokio::test]
async fn a_deleted_users_jobs_and_results_go_with_them() {
    let app = TestApp::spawn_with(FAST).await;
    let leaving = sign_up(&app, "leaving@example.com").await;
    let staying = sign_up(&app, "staying@example.com").await;
    agent_says(
        &app,
        &leaving,
        "Yes. <!--action:automation|in 1 hour|Leaver|Leaver prompt-->",
    )
    .await;
    agent_says(
        &app,
        &staying,
        "Yes. <!--action:automation|in 1 hour|Stayer|Stayer prompt-->",
    )
    .await;
    let (status, _) = call(&app, Method::DELETE, "/user/me", &leaving, None).await;
    assert_eq!(status, 200);
    assert_eq!(
        app.db
            .count(&format!(
                "SELECT count(*) AS n FROM automation_jobs WHERE user_id = '{}'",
                leaving.id
            ))
            .await,
        0
    );
    app.clock.advance(Duration::from_secs(3700));
    eventually("the remaining user's job ran", async || {
        app.db
            .count("SELECT count(*) AS n FROM automation_results")
            .await
            == 1
    })
    .await;
    assert!(
        app.gateway()
            .turns()
            .iter()
            .all(|t| t.text != "Leaver prompt"),
        "nothing ran for the deleted user"
    );
    app.shutdown().await;
}

#[tokio::test]
async fn the_time_zone_is_validated() {
    let app = TestApp::spawn().await;
    let user = sign_up(&app, "zoned@example.com").await;
    let me = call(&app, Method::GET, "/user/me", &user, None).await.1;
    assert_eq!(me["timezone"], "UTC");
    for bad in [
        json!({"timezone": "Mars/Olympus"}),
        json!({"timezone": ""}),
        json!({"timezone": 3}),
    ] {
        assert_eq!(
            call(&app, Method::PATCH, "/user/me", &user, Some(bad.clone()))
                .await
                .0,
            400,
            "{bad}"
        );
    }
    app.shutdown().await;
}
