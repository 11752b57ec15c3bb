//! `heyclaw-dev-model`: an OpenAI-compatible chat-completions server that
//! answers deterministically and offline, so the whole stack (API → real
//! OpenClaw gateway → model) runs without a provider account. A dev tool for
//! `cargo xtask dev` and the end-to-end tests; never part of the API.
//!
//! Replies, given the messages the gateway sends:
//! - after a tool result: `TOOL RESULT: <the result>` — so a test can see
//!   what a tool call returned (or that it was refused);
//! - when the last user message contains `DO_TOOL:{"name":…,"args":{…}}`:
//!   a tool call to that tool with those arguments;
//! - otherwise: `You said: <last user message> (turn N)`, N being the number
//!   of user messages in the request — the gateway sends the session's
//!   transcript, so N shows whether a conversation continued.
//!
//! Streams (SSE) when asked to, as the gateway always does.
//!
//! `GET /stats` tells how many requests it answered and the size of each
//! request body (what a turn costs in model input); `POST /stats/reset`
//! starts counting again.

use std::sync::Mutex;

use actix_web::{App, HttpResponse, HttpServer, web};
use serde_json::{Value, json};

/// The size of every request body, in arrival order.
#[derive(Default)]
struct Stats {
    request_bytes: Mutex<Vec<usize>>,
}

const MODEL: &str = "gpt-5-nano";
const TOOL_DIRECTIVE: &str = "DO_TOOL:";
const CURRENT_MESSAGE_MARKER: &str = "[Current message - respond to this]";

/// Serves on an already-bound listener until the process ends.
pub async fn serve(listener: std::net::TcpListener) -> std::io::Result<()> {
    let stats = web::Data::new(Stats::default());
    HttpServer::new(move || {
        App::new()
            .app_data(stats.clone())
            .app_data(web::PayloadConfig::default().limit(16 * 1024 * 1024))
            .route("/v1/chat/completions", web::post().to(completions))
            .route("/chat/completions", web::post().to(completions))
            .route("/v1/models", web::get().to(models))
            .route("/models", web::get().to(models))
            .route("/stats", web::get().to(stats_now))
            .route("/stats/reset", web::post().to(stats_reset))
    })
    .workers(2)
    .disable_signals()
    .listen(listener)?
    .run()
    .await
}

/// Starts the model on a thread of its own (with its own runtime, so it
/// outlives any test's runtime) and returns its base URL (`…/v1`).
pub fn spawn_on_free_port() -> std::io::Result<String> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    let url = format!("http://{}/v1", listener.local_addr()?);
    std::thread::spawn(move || actix_web::rt::System::new().block_on(serve(listener)));
    Ok(url)
}

async fn models() -> HttpResponse {
    HttpResponse::Ok().json(json!({"object": "list", "data": [{"id": MODEL, "object": "model", "owned_by": "heyclaw-dev"}]}))
}

enum Answer {
    Text(String),
    ToolCall { name: String, arguments: String },
}

fn text_of(message: &Value) -> String {
    match &message["content"] {
        Value::String(text) => text.clone(),
        Value::Array(parts) => parts
            .iter()
            .filter_map(|part| part["text"].as_str())
            .collect::<Vec<_>>()
            .join(""),
        _ => String::new(),
    }
}

fn answer(messages: &[Value]) -> Answer {
    let last = messages.last();
    if last.is_some_and(|m| m["role"] == "tool") {
        let result = last.map(text_of).unwrap_or_default();
        return Answer::Text(format!(
            "TOOL RESULT: {}",
            result.chars().take(2000).collect::<String>()
        ));
    }
    let user_turns: Vec<String> = messages
        .iter()
        .filter(|m| m["role"] == "user")
        .map(text_of)
        .collect();
    let said = user_turns.last().cloned().unwrap_or_default();
    // Earlier messages a client sent along are folded by the gateway into
    // the user message, before this marker: only what follows it is the
    // turn's own text (a directive in the past is not repeated).
    let current = said
        .rsplit_once(CURRENT_MESSAGE_MARKER)
        .map_or(said.as_str(), |(_, current)| current);
    if let Some((_, directive)) = current.split_once(TOOL_DIRECTIVE) {
        let line = directive.lines().next().unwrap_or_default();
        if let Ok(call) = serde_json::from_str::<Value>(line) {
            return Answer::ToolCall {
                name: call["name"].as_str().unwrap_or_default().to_owned(),
                arguments: call["args"].to_string(),
            };
        }
    }
    Answer::Text(format!(
        "You said: {} (turn {})",
        said.trim(),
        user_turns.len()
    ))
}

async fn stats_now(stats: web::Data<Stats>) -> HttpResponse {
    let bytes = stats
        .request_bytes
        .lock()
        .map(|b| b.clone())
        .unwrap_or_default();
    HttpResponse::Ok().json(json!({"requests": bytes.len(), "bytes": bytes}))
}

async fn stats_reset(stats: web::Data<Stats>) -> HttpResponse {
    if let Ok(mut bytes) = stats.request_bytes.lock() {
        bytes.clear();
    }
    HttpResponse::NoContent().finish()
}

async fn completions(stats: web::Data<Stats>, raw: web::Bytes) -> HttpResponse {
    if let Ok(mut bytes) = stats.request_bytes.lock() {
        bytes.push(raw.len());
    }
    let Ok(body) = serde_json::from_slice::<Value>(&raw) else {
        return HttpResponse::BadRequest().json(
            json!({"error": {"message": "the body is not JSON", "type": "invalid_request_error"}}),
        );
    };
    let messages = body["messages"].as_array().cloned().unwrap_or_default();
    let answer = answer(&messages);
    let created = 0;
    let id = "chatcmpl-heyclaw-dev";
    if !body["stream"].as_bool().unwrap_or(false) {
        let message = match &answer {
            Answer::Text(text) => json!({"role": "assistant", "content": text}),
            Answer::ToolCall { name, arguments } => json!({
                "role": "assistant", "content": null,
                "tool_calls": [{"id": "call_1", "type": "function", "function": {"name": name, "arguments": arguments}}]
            }),
        };
        let finish = if matches!(answer, Answer::ToolCall { .. }) {
            "tool_calls"
        } else {
            "stop"
        };
        return HttpResponse::Ok().json(json!({
            "id": id, "object": "chat.completion", "created": created, "model": MODEL,
            "choices": [{"index": 0, "message": message, "finish_reason": finish}],
            "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}
        }));
    }
    let chunk = |delta: Value, finish: Value| {
        json!({"id": id, "object": "chat.completion.chunk", "created": created, "model": MODEL,
               "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]})
    };
    let mut events = Vec::new();
    match answer {
        Answer::Text(text) => {
            events.push(chunk(
                json!({"role": "assistant", "content": ""}),
                Value::Null,
            ));
            for word in text.split_inclusive(' ') {
                events.push(chunk(json!({"content": word}), Value::Null));
            }
            events.push(chunk(json!({}), json!("stop")));
        }
        Answer::ToolCall { name, arguments } => {
            events.push(chunk(
                json!({"role": "assistant", "content": null, "tool_calls": [
                    {"index": 0, "id": "call_1", "type": "function", "function": {"name": name, "arguments": arguments}}
                ]}),
                Value::Null,
            ));
            events.push(chunk(json!({}), json!("tool_calls")));
        }
    }
    if body["stream_options"]["include_usage"]
        .as_bool()
        .unwrap_or(false)
    {
        events.push(json!({"id": id, "object": "chat.completion.chunk", "created": created, "model": MODEL, "choices": [],
                           "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}}));
    }
    let mut sse: String = events
        .iter()
        .map(|event| format!("data: {event}\n\n"))
        .collect();
    sse.push_str("data: [DONE]\n\n");
    HttpResponse::Ok()
        .content_type("text/event-stream")
        .insert_header(("cache-control", "no-cache"))
        .body(sse)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_are_deterministic() {
        let messages = vec![
            json!({"role": "system", "content": "be nice"}),
            json!({"role": "user", "content": "hi"}),
            json!({"role": "assistant", "content": "hello"}),
            json!({"role": "user", "content": [{"type": "text", "text": "again"}]}),
        ];
        assert!(matches!(answer(&messages), Answer::Text(t) if t == "You said: again (turn 2)"));
        let tool = vec![
            json!({"role": "user", "content": "please DO_TOOL:{\"name\":\"exec\",\"args\":{\"command\":\"id\"}}"}),
        ];
        assert!(
            matches!(answer(&tool), Answer::ToolCall { name, arguments } if name == "exec" && arguments == r#"{"command":"id"}"#)
        );
        let folded = vec![
            json!({"role": "user", "content": "[Chat messages since your last reply - for context]\nUser: DO_TOOL:{\"name\":\"exec\",\"args\":{}}\n\n[Current message - respond to this]\nUser: hello"}),
        ];
        assert!(
            matches!(answer(&folded), Answer::Text(t) if t.contains("[Current message") && t.ends_with("(turn 1)")),
            "a directive in the folded past is not repeated"
        );
        let result = vec![json!({"role": "tool", "content": "denied"})];
        assert!(matches!(answer(&result), Answer::Text(t) if t == "TOOL RESULT: denied"));
    }
}
