//! `POST /agent/voice`: a voice turn as Server-Sent Events. Every event is
//! `event: chunk` + `data: <one-line JSON>` (the mobile client parses each
//! `data:` line alone). Refusals (bad input, 401, 429) are JSON errors
//! before any event.

use actix_web::{HttpResponse, post, web};
use futures_util::stream;
use heyclaw_app::voice::{VoiceEvent, VoiceRequest};
use serde::Deserialize;
use serde_json::{Value, json};
use utoipa::ToSchema;

use crate::{
    ApiError, AppState, AuthUser,
    openapi::{AgentFailures, AuthFailures, BodyFailures, LimitReached, NotFound},
};

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
struct VoiceBody {
    /// What the user said (transcribed), 1–8,000 characters.
    text: Option<String>,
    /// A voice for this reply (else the agent's).
    voice: Option<String>,
    /// `true`: text only, the app speaks it itself.
    #[serde(default)]
    native_tts: bool,
    /// Seconds the user spoke (0–600), counted as voice usage.
    #[serde(default)]
    recording_duration: f64,
}

fn event_json(event: VoiceEvent) -> Value {
    match event {
        VoiceEvent::Token(data) => json!({"type": "token", "data": data}),
        VoiceEvent::Text { index, text } => json!({"type": "text", "data": text, "index": index}),
        VoiceEvent::Audio { index, mp3_base64 } => {
            json!({"type": "audio", "data": mp3_base64, "index": index})
        }
        VoiceEvent::AudioError { index, message } => {
            json!({"type": "audio_error", "message": message, "index": index})
        }
        VoiceEvent::Action(action) => {
            json!({"type": "action", "action": action.kind, "params": action.params})
        }
        VoiceEvent::Done { usage, full_text } => json!({
            "type": "done",
            "usage": {
                "messagesUsed": usage.messages_used,
                "messagesLimit": usage.messages_limit,
                "voiceSecondsUsed": usage.voice_seconds_used,
                "voiceSecondsLimit": usage.voice_seconds_limit,
            },
            "fullText": full_text,
        }),
        VoiceEvent::Error { message } => json!({"type": "error", "message": message}),
    }
}

/// One Server-Sent Event of a voice turn.
#[derive(ToSchema)]
#[expect(dead_code, reason = "describes the stream for the document")]
struct VoiceStreamEvent {
    /// Always `chunk`.
    event: String,
    /// One line of JSON: `{type, …}` as described above.
    data: String,
}

/// A voice turn, as Server-Sent Events: every event is `event: chunk` and
/// one `data:` line of JSON — `{type: "token", data}` per delta,
/// `{type: "text", data, index}` per sentence, `{type: "audio", data (base64
/// MP3), index}` in sentence order, `{type: "audio_error", index, message}`
/// for a sentence whose speech failed, `{type: "action", action, params}`,
/// then `{type: "done", usage, fullText}` — or `{type: "error", message}`
/// when the turn failed. Refusals come before the stream, as JSON.
#[utoipa::path(
    tag = "agent",
    request_body = VoiceBody,
    responses(
        (status = 200, description = "The turn's events", content_type = "text/event-stream", body = VoiceStreamEvent),
        BodyFailures, AuthFailures, NotFound, LimitReached, AgentFailures
    ),
    security(("bearer" = []))
)]
#[post("/voice")]
pub(crate) async fn voice(
    state: web::Data<AppState>,
    user: AuthUser,
    body: web::Json<VoiceBody>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let receiver = state
        .voice
        .start(
            user.0.user_id,
            VoiceRequest {
                text: body.text.as_deref().unwrap_or_default(),
                voice: body.voice.as_deref(),
                native_tts: body.native_tts,
                recording_seconds: body.recording_duration,
            },
        )
        .await?;
    // serde_json never writes a raw newline, so each event is one data line.
    let events = stream::unfold(receiver, |mut receiver| async move {
        let event = receiver.recv().await?;
        let line = format!("event: chunk\ndata: {}\n\n", event_json(event));
        Some((Ok::<_, actix_web::Error>(web::Bytes::from(line)), receiver))
    });
    Ok(HttpResponse::Ok()
        .content_type("text/event-stream")
        .insert_header(("cache-control", "no-cache"))
        .insert_header(("x-accel-buffering", "no"))
        .streaming(events))
}
