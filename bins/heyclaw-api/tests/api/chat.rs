//! Chat sessions: CRUD, messages as rows replaced in one transaction, and
//! strict isolation — another user's session is a 404 like a missing one.

use heyclaw_test_support::{TestApp, json_body};
use reqwest::Method;
use serde_json::{Value, json};

async fn token(app: &TestApp, email: &str) -> String {
    app.signup(email, "testpass123").await["access_token"]
        .as_str()
        .unwrap()
        .to_owned()
}

async fn call(
    app: &TestApp,
    method: Method,
    path: &str,
    token: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let response = app.request(method, path, Some(token), body.as_ref()).await;
    let status = response.status().as_u16();
    (status, json_body(response).await)
}

#[tokio::test]
async fn sessions_can_be_created_listed_read_updated_and_deleted() {
    let app = TestApp::spawn().await;
    let me = token(&app, "ava@example.com").await;

    let (status, created) = call(&app, Method::POST, "/chat/sessions", &me, None).await;
    assert_eq!(status, 200);
    assert_eq!(created["title"], "New Chat");
    assert_eq!(created["messages"], json!([]));
    for field in ["id", "user_id", "created_at", "updated_at"] {
        assert!(created[field].is_string(), "{field}");
    }
    let id = created["id"].as_str().unwrap().to_owned();

    let messages = json!([
        {"id": "m1", "role": "user", "content": "Hi 👋"},
        {"id": 1732400000000_u64, "role": "assistant", "content": "Hello!", "isVoice": true, "extra": "ignored"},
        {"role": "user", "content": "no id"}
    ]);
    let (status, updated) = call(
        &app,
        Method::PUT,
        &format!("/chat/sessions/{id}"),
        &me,
        Some(json!({"title": "Greetings", "messages": messages})),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(updated["title"], "Greetings");
    let got = updated["messages"].as_array().unwrap();
    assert_eq!(got.len(), 3);
    assert_eq!(
        got[0],
        json!({"id": "m1", "role": "user", "content": "Hi 👋", "isVoice": false})
    );
    assert_eq!(
        got[1],
        json!({"id": 1732400000000_u64, "role": "assistant", "content": "Hello!", "isVoice": true}),
        "ids round-trip with their type"
    );
    assert!(got[2]["id"].is_string());

    // Replacing the list replaces it whole.
    let (_, replaced) = call(
        &app,
        Method::PUT,
        &format!("/chat/sessions/{id}"),
        &me,
        Some(json!({"messages": [{"role": "user", "content": "only"}]})),
    )
    .await;
    assert_eq!(replaced["messages"].as_array().unwrap().len(), 1);
    assert_eq!(
        replaced["title"], "Greetings",
        "an update without a title keeps it"
    );
    let (_, read) = call(
        &app,
        Method::GET,
        &format!("/chat/sessions/{id}"),
        &me,
        None,
    )
    .await;
    assert_eq!(read["messages"], replaced["messages"]);

    let (_, second) = call(&app, Method::POST, "/chat/sessions", &me, None).await;
    let (_, list) = call(&app, Method::GET, "/chat/sessions", &me, None).await;
    let ids: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        [second["id"].as_str().unwrap(), id.as_str()],
        "newest updated first"
    );
    assert!(list[0].get("messages").is_none());

    let (status, body) = call(
        &app,
        Method::DELETE,
        &format!("/chat/sessions/{id}"),
        &me,
        None,
    )
    .await;
    assert_eq!((status, body), (200, json!({"message": "Session deleted"})));
    let (status, body) = call(
        &app,
        Method::GET,
        &format!("/chat/sessions/{id}"),
        &me,
        None,
    )
    .await;
    assert_eq!(
        (status, body["message"].as_str()),
        (404, Some("Session not found"))
    );
    app.shutdown().await;
}

#[tokio::test]
async fn another_users_session_is_exactly_like_a_missing_one() {
    let app = TestApp::spawn().await;
    let owner = token(&app, "bea@example.com").await;
    let intruder = token(&app, "cal@example.com").await;
    let (_, session) = call(&app, Method::POST, "/chat/sessions", &owner, None).await;
    let id = session["id"].as_str().unwrap();
    call(
        &app,
        Method::PUT,
        &format!("/chat/sessions/{id}"),
        &owner,
        Some(json!({"messages": [{"role": "user", "content": "secret"}]})),
    )
    .await;

    let missing = format!("/chat/sessions/{}", uuid::Uuid::new_v4());
    let theirs = format!("/chat/sessions/{id}");
    for (method, body) in [
        (Method::GET, None),
        (Method::PUT, Some(json!({"title": "pwned"}))),
        (Method::DELETE, None),
    ] {
        let foreign = call(&app, method.clone(), &theirs, &intruder, body.clone()).await;
        let absent = call(&app, method.clone(), &missing, &intruder, body.clone()).await;
        assert_eq!(foreign, absent, "{method}");
        assert_eq!(foreign.0, 404);
    }
    for garbage in ["not-a-uuid", "1", "..%2F..%2Fetc"] {
        let (status, _) = call(
            &app,
            Method::GET,
            &format!("/chat/sessions/{garbage}"),
            &intruder,
            None,
        )
        .await;
        assert_eq!(status, 404, "{garbage}");
    }
    let (_, list) = call(&app, Method::GET, "/chat/sessions", &intruder, None).await;
    assert_eq!(list, json!([]));
    let (_, recent) = call(&app, Method::GET, "/chat/recent", &intruder, None).await;
    assert_eq!(recent, json!({"messages": [], "source": "none"}));
    // The owner's data is untouched.
    let (_, read) = call(&app, Method::GET, &theirs, &owner, None).await;
    assert_eq!(read["title"], "New Chat");
    assert_eq!(read["messages"][0]["content"], "secret");
    app.shutdown().await;
}

#[tokio::test]
async fn invalid_session_updates_are_400_and_change_nothing() {
    let app = TestApp::spawn().await;
    let me = token(&app, "dee@example.com").await;
    let (_, session) = call(&app, Method::POST, "/chat/sessions", &me, None).await;
    let path = format!("/chat/sessions/{}", session["id"].as_str().unwrap());
    call(
        &app,
        Method::PUT,
        &path,
        &me,
        Some(json!({"messages": [{"role": "user", "content": "keep me"}]})),
    )
    .await;
    for body in [
        json!({"messages": [{"role": "robot", "content": "x"}]}),
        json!({"messages": [{"role": "user"}]}),
        json!({"messages": [{"role": "user", "content": "x", "id": {"nested": true}}]}),
        json!({"messages": "not a list"}),
        json!({"title": ""}),
        json!({"title": "t".repeat(201)}),
        json!({"messages": [{"role": "user", "content": "c".repeat(32_001)}]}),
    ] {
        let (status, error) = call(&app, Method::PUT, &path, &me, Some(body.clone())).await;
        assert_eq!(status, 400, "{body}: {error}");
    }
    let (_, read) = call(&app, Method::GET, &path, &me, None).await;
    assert_eq!(read["messages"][0]["content"], "keep me");
    assert_eq!(read["title"], "New Chat");
    app.shutdown().await;
}

#[tokio::test]
async fn recent_returns_the_last_ten_messages_of_the_latest_session() {
    let app = TestApp::spawn().await;
    let me = token(&app, "eli@example.com").await;
    let (_, session) = call(&app, Method::POST, "/chat/sessions", &me, None).await;
    let id = session["id"].as_str().unwrap();
    let messages: Vec<Value> = (0..15)
        .map(|i| json!({"id": format!("m{i}"), "role": "user", "content": format!("n{i}")}))
        .collect();
    call(
        &app,
        Method::PUT,
        &format!("/chat/sessions/{id}"),
        &me,
        Some(json!({"messages": messages})),
    )
    .await;
    let (_, recent) = call(&app, Method::GET, "/chat/recent", &me, None).await;
    assert_eq!(recent["source"], "session");
    assert_eq!(recent["sessionId"], id);
    let contents: Vec<&str> = recent["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["content"].as_str().unwrap())
        .collect();
    let expected: Vec<String> = (5..15).map(|i| format!("n{i}")).collect();
    assert_eq!(contents, expected);
    app.shutdown().await;
}

/// The turn recorder writes a batch of many users' turns with a few
/// statements in all: each user's messages still land, in their order, after
/// the last message of that user's latest session; a user with no session
/// gets one; usage alone creates none.
#[tokio::test]
async fn a_batch_of_turns_appends_each_users_messages_to_their_latest_session() {
    use heyclaw_persistence::{
        models::NewChatMessage,
        queries::turns::{TurnRecord, TurnUsage, record_batch},
    };

    let app = TestApp::spawn().await;
    let signed_up = async |email: &str| {
        let body = app.signup(email, "testpass123").await;
        let id = body["user"]["id"]
            .as_str()
            .unwrap()
            .parse::<uuid::Uuid>()
            .unwrap();
        (id, body["access_token"].as_str().unwrap().to_owned())
    };
    let (ava, ava_token) = signed_up("ava@example.com").await;
    let (ben, ben_token) = signed_up("ben@example.com").await;
    let (cy, cy_token) = signed_up("cy@example.com").await;
    let (_, older) = call(&app, Method::POST, "/chat/sessions", &ava_token, None).await;
    let (_, latest) = call(&app, Method::POST, "/chat/sessions", &ava_token, None).await;
    let latest = latest["id"].as_str().unwrap();
    let earlier =
        json!([{"role": "user", "content": "m0"}, {"role": "assistant", "content": "m1"}]);
    call(
        &app,
        Method::PUT,
        &format!("/chat/sessions/{latest}"),
        &ava_token,
        Some(json!({"messages": earlier})),
    )
    .await;

    let turn = |user, said: &str, answered: &str| {
        let message = |role: &str, content: &str| NewChatMessage {
            client_id: None,
            role: role.to_owned(),
            content: content.to_owned(),
            is_voice: false,
        };
        TurnRecord {
            user_id: user,
            day: chrono::Utc::now().date_naive(),
            usage: TurnUsage {
                text_messages: 1,
                ..TurnUsage::default()
            },
            messages: vec![message("user", said), message("assistant", answered)],
        }
    };
    let usage_only = TurnRecord {
        messages: Vec::new(),
        ..turn(cy, "", "")
    };
    let batch = [
        turn(ava, "u1", "a1"),
        turn(ben, "q1", "r1"),
        turn(ava, "u2", "a2"),
        usage_only,
        turn(ben, "q2", "r2"),
    ];
    let mut conn = app.db.connect().await;
    record_batch(&mut conn, &batch, "New Chat").await.unwrap();

    let contents = async |token: &str, session: &str| -> Vec<String> {
        let (_, read) = call(
            &app,
            Method::GET,
            &format!("/chat/sessions/{session}"),
            token,
            None,
        )
        .await;
        read["messages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["content"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(
        contents(&ava_token, latest).await,
        ["m0", "m1", "u1", "a1", "u2", "a2"]
    );
    assert!(
        contents(&ava_token, older["id"].as_str().unwrap())
            .await
            .is_empty()
    );
    let (_, bens) = call(&app, Method::GET, "/chat/sessions", &ben_token, None).await;
    let bens = bens.as_array().unwrap();
    assert_eq!(bens.len(), 1, "one session made for ben: {bens:?}");
    assert_eq!(bens[0]["title"], "New Chat");
    assert_eq!(
        contents(&ben_token, bens[0]["id"].as_str().unwrap()).await,
        ["q1", "r1", "q2", "r2"]
    );
    let (_, cys) = call(&app, Method::GET, "/chat/sessions", &cy_token, None).await;
    assert_eq!(cys, json!([]), "usage alone makes no session");
    assert_eq!(
        app.db
            .count("SELECT sum(text_messages) AS n FROM daily_usage")
            .await,
        5
    );
    app.shutdown().await;
}
