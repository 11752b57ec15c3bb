//! `POST /agent/voice` against the gateway and speech stand-ins over real
//! HTTP: event order and shapes, ordered audio, nativeTts, a sentence whose
//! speech fails, a gateway failing mid-reply, and the quota.

use std::time::Duration;

use base64::{Engine, engine::general_purpose::STANDARD};
use heyclaw_test_support::{
    TestApp, eventually, json_body,
    speech::{SPEECH_KEY, SpeechStandIn},
};
use reqwest::Method;
use serde_json::{Value, json};

async fn spawn() -> (TestApp, SpeechStandIn, String) {
    let speech = SpeechStandIn::start().await;
    let app = TestApp::spawn_with(&[
        ("OPENAI_API_KEY", SPEECH_KEY),
        ("OPENAI_BASE_URL", &speech.openai_url),
    ])
    .await;
    let token = app.signup("voice@example.com", "testpass123").await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    (app, speech, token)
}

/// Sends a voice turn and returns the parsed `data:` events.
async fn voice(app: &TestApp, token: &str, body: Value) -> Vec<Value> {
    let response = app
        .request(Method::POST, "/agent/voice", Some(token), Some(&body))
        .await;
    assert_eq!(response.status(), 200);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream")
    );
    let text = response.text().await.unwrap();
    let mut events = Vec::new();
    for block in text.split("\n\n").filter(|b| !b.trim().is_empty()) {
        let mut lines = block.lines();
        assert_eq!(lines.next(), Some("event: chunk"), "{block}");
        let data = lines.next().unwrap().strip_prefix("data: ").unwrap();
        assert!(lines.next().is_none(), "one data line per event");
        events.push(serde_json::from_str(data).unwrap());
    }
    events
}

fn of_type<'a>(events: &'a [Value], kind: &str) -> Vec<&'a Value> {
    events.iter().filter(|e| e["type"] == kind).collect()
}

fn position(events: &[Value], kind: &str, index: u64) -> usize {
    events
        .iter()
        .position(|e| e["type"] == kind && e["index"] == index)
        .unwrap()
}

#[tokio::test]
async fn a_voice_turn_streams_tokens_sentences_ordered_audio_actions_and_done() {
    let (app, speech, token) = spawn().await;
    let reply = "First sentence here. Second one is a bit longer! Third? <!--action:reminder|60|Tea|Drink-->";
    app.gateway().reply_with(reply);
    app.gateway().set_chunk_delay(Duration::from_millis(5));
    // Later sentences are spoken faster than earlier ones would allow in
    // order; audio must still leave in sentence order.
    speech.set_delay(Duration::from_millis(100));
    let events = voice(
        &app,
        &token,
        json!({"text": "Tell me three things", "recordingDuration": 3}),
    )
    .await;

    let tokens: String = of_type(&events, "token")
        .iter()
        .map(|e| e["data"].as_str().unwrap())
        .collect();
    assert_eq!(tokens, reply, "tokens carry the raw reply as it streamed");
    let texts = of_type(&events, "text");
    assert_eq!(texts.len(), 4);
    let indices: Vec<u64> = texts.iter().map(|e| e["index"].as_u64().unwrap()).collect();
    assert_eq!(indices, [0, 1, 2, 3]);
    let audio = of_type(&events, "audio");
    let audio_indices: Vec<u64> = audio.iter().map(|e| e["index"].as_u64().unwrap()).collect();
    assert_eq!(
        audio_indices,
        [0, 1, 2],
        "in order; the marker-only chunk is not spoken"
    );
    for i in 0..3 {
        assert!(position(&events, "text", i) < position(&events, "audio", i));
    }
    let first_audio = STANDARD.decode(audio[0]["data"].as_str().unwrap()).unwrap();
    assert_eq!(first_audio, b"MP3|nova|First sentence here.");
    let actions = of_type(&events, "action");
    assert_eq!(
        actions,
        [&json!({"type": "action", "action": "reminder", "params": ["60", "Tea", "Drink"]})]
    );
    let done = events.last().unwrap();
    assert_eq!(done["type"], "done");
    assert_eq!(
        done["fullText"],
        "First sentence here. Second one is a bit longer! Third?"
    );
    // 3 s recorded + ceil(9 words / 2.5) = 4 s spoken.
    assert_eq!(
        done["usage"],
        json!({"messagesUsed": 0, "messagesLimit": 50, "voiceSecondsUsed": 7, "voiceSecondsLimit": 120})
    );
    app.shutdown().await;
}

#[tokio::test]
async fn native_tts_sends_text_only() {
    let (app, speech, token) = spawn().await;
    app.gateway().reply_with("One. Two.");
    let events = voice(&app, &token, json!({"text": "hi", "nativeTts": true})).await;
    assert!(of_type(&events, "audio").is_empty());
    assert_eq!(of_type(&events, "text").len(), 2);
    assert_eq!(events.last().unwrap()["type"], "done");
    assert_eq!(speech.calls(), 0);
    app.shutdown().await;
}

#[tokio::test]
async fn a_sentence_whose_speech_fails_is_an_audio_error_for_that_index_and_the_turn_goes_on() {
    let (app, _speech, token) = spawn().await;
    app.gateway()
        .reply_with("One is fine. FAILTTS breaks here. Three is fine.");
    let events = voice(&app, &token, json!({"text": "hi"})).await;
    // `error` ends the turn in the app (api-contract §6): a missing sentence
    // of audio is reported as an event type the app ignores.
    assert!(of_type(&events, "error").is_empty(), "{events:?}");
    let errors = of_type(&events, "audio_error");
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0]["index"], 1);
    assert_eq!(of_type(&events, "text").len(), 3, "its text still goes out");
    let audio: Vec<u64> = of_type(&events, "audio")
        .iter()
        .map(|e| e["index"].as_u64().unwrap())
        .collect();
    assert_eq!(audio, [0, 2]);
    assert_eq!(events.last().unwrap()["type"], "done");
    app.shutdown().await;
}

#[tokio::test]
async fn a_gateway_failing_mid_reply_ends_the_stream_with_an_error_and_charges_nothing() {
    let (app, _speech, token) = spawn().await;
    app.gateway()
        .reply_with("This answer will never be finished by the gateway at all.");
    app.gateway().break_streams_after(3);
    let events = voice(&app, &token, json!({"text": "hi", "recordingDuration": 5})).await;
    assert!(
        !of_type(&events, "token").is_empty(),
        "the reply had started"
    );
    let last = events.last().unwrap();
    assert_eq!(last["type"], "error");
    assert!(last.get("index").is_none());
    assert!(of_type(&events, "done").is_empty());
    let me = json_body(
        app.request(Method::GET, "/user/me", Some(&token), None)
            .await,
    )
    .await;
    assert_eq!(me["usage"]["voiceSeconds"], 0);
    app.shutdown().await;
}

#[tokio::test]
async fn over_the_voice_limit_is_a_429_before_any_event() {
    let (app, _speech, token) = spawn().await;
    let response = app
        .request(
            Method::POST,
            "/agent/voice",
            Some(&token),
            Some(&json!({"text": "hi", "recordingDuration": 121})),
        )
        .await;
    assert_eq!(response.status(), 429);
    assert!(response.headers().contains_key("retry-after"));
    let body = json_body(response).await;
    assert_eq!(
        body["message"],
        "Daily voice limit reached. Upgrade your plan."
    );
    assert!(app.gateway().turns().is_empty());
    for (body, status) in [
        (json!({}), 400),
        (json!({"text": "  "}), 400),
        (json!({"text": "hi", "voice": "robot"}), 400),
    ] {
        let response = app
            .request(Method::POST, "/agent/voice", Some(&token), Some(&body))
            .await;
        assert_eq!(response.status(), status, "{body}");
    }
    app.shutdown().await;
}

async fn upload(
    app: &TestApp,
    token: &str,
    field: &str,
    content_type: &str,
    bytes: Vec<u8>,
) -> reqwest::Response {
    let part = reqwest::multipart::Part::bytes(bytes)
        .file_name("voice.m4a")
        .mime_str(content_type)
        .unwrap();
    let form = reqwest::multipart::Form::new().part(field.to_owned(), part);
    app.client
        .post(app.url("/voice/transcribe"))
        .bearer_auth(token)
        .multipart(form)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn a_recording_is_transcribed_and_its_seconds_counted() {
    let (app, speech, token) = spawn().await;
    let response = upload(&app, &token, "audio", "audio/mp4", vec![1u8; 50_000]).await;
    assert_eq!(response.status(), 200);
    let body = json_body(response).await;
    assert!(
        body["text"].as_str().unwrap().starts_with("transcribed"),
        "{body}"
    );
    assert!(speech.upload_sizes()[0] > 50_000);
    // Whisper measured 2.5 s: 3 voice seconds.
    let me = json_body(
        app.request(Method::GET, "/user/me", Some(&token), None)
            .await,
    )
    .await;
    assert_eq!(me["usage"]["voiceSeconds"], 3);
    app.shutdown().await;
}

#[tokio::test]
async fn uploads_are_checked_for_field_type_and_size() {
    let (app, speech, token) = spawn().await;
    let no_field = upload(&app, &token, "file", "audio/mp4", vec![1u8; 10]).await;
    assert_eq!(no_field.status(), 400);
    assert!(
        json_body(no_field).await["message"]
            .as_str()
            .unwrap()
            .contains("No audio file")
    );
    let wrong_type = upload(&app, &token, "audio", "text/plain", b"hello".to_vec()).await;
    assert_eq!(wrong_type.status(), 415);
    json_body(wrong_type).await;
    let too_big = upload(
        &app,
        &token,
        "audio",
        "audio/mpeg",
        vec![0u8; 25 * 1024 * 1024 + 1],
    )
    .await;
    assert_eq!(too_big.status(), 413);
    assert_eq!(json_body(too_big).await["code"], "payload_too_large");
    assert!(
        speech.upload_sizes().is_empty(),
        "nothing reached the provider"
    );
    app.shutdown().await;
}

#[tokio::test]
async fn a_client_that_goes_away_stops_the_gateway_stream_and_is_not_charged() {
    let (app, _speech, token) = spawn().await;
    let long_reply = "word ".repeat(60) + "end.";
    app.gateway().reply_with(&long_reply);
    app.gateway().set_chunk_delay(Duration::from_millis(100));
    let mut response = app
        .request(
            Method::POST,
            "/agent/voice",
            Some(&token),
            Some(&json!({"text": "talk", "recordingDuration": 4})),
        )
        .await;
    assert_eq!(response.status(), 200);
    let first = response.chunk().await.unwrap().unwrap();
    assert!(String::from_utf8_lossy(&first).contains("event: chunk"));
    drop(response);
    eventually(
        "the gateway stand-in sees its stream cancelled",
        async || app.gateway().streams_cancelled() == 1,
    )
    .await;
    eventually("an answer that never arrived is not charged", async || {
        let me = json_body(
            app.request(Method::GET, "/user/me", Some(&token), None)
                .await,
        )
        .await;
        me["usage"]["voiceSeconds"] == 0
    })
    .await;
    app.shutdown().await;
}

#[tokio::test]
async fn speech_stops_at_the_daily_character_limit_and_the_turn_goes_on() {
    let (app, _speech, token) = spawn().await;
    app.db
        .execute("UPDATE plan_limits SET daily_tts_characters = 30 WHERE plan = 'free'")
        .await;
    app.gateway()
        .reply_with("The first sentence fits. The second one is over the limit.");
    let events = voice(&app, &token, json!({"text": "hi"})).await;
    let audio: Vec<u64> = of_type(&events, "audio")
        .iter()
        .map(|e| e["index"].as_u64().unwrap())
        .collect();
    assert_eq!(audio, [0]);
    assert!(of_type(&events, "error").is_empty(), "{events:?}");
    let errors = of_type(&events, "audio_error");
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0]["index"], 1);
    assert!(errors[0]["message"].as_str().unwrap().contains("limit"));
    assert_eq!(events.last().unwrap()["type"], "done");
    let me = json_body(
        app.request(Method::GET, "/user/me", Some(&token), None)
            .await,
    )
    .await;
    assert_eq!(
        me["usage"]["ttsCharacters"],
        "The first sentence fits.".len(),
        "only what was spoken counts"
    );
    app.shutdown().await;
}
