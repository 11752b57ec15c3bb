//! `/voice`: `POST /voice/speak` (text to MP3) and `POST /voice/transcribe`,
//! a multipart upload with the recording in the
//! `audio` field. The size cap is enforced while the upload streams in — a
//! too-large file is refused as soon as it passes the cap, never buffered
//! whole — and only audio content types are accepted.

use actix_multipart::Multipart;
use actix_web::{HttpResponse, http::StatusCode, post, web};
use futures_util::TryStreamExt;
use heyclaw_tts::AudioUpload;
use serde::Serialize;

use utoipa::ToSchema;
use utoipa_actix_web::service_config::ServiceConfig;

use crate::{
    ApiError, AppState, AuthUser,
    openapi::{AgentFailures, AuthFailures, BodyFailures, LimitReached, NotFound},
};

/// Recordings larger than this are refused (Whisper's own limit is 25 MB).
pub const MAX_AUDIO_BYTES: usize = 25 * 1024 * 1024;

const AUDIO_TYPES: &[&str] = &[
    "audio/mpeg",
    "audio/mp3",
    "audio/mp4",
    "audio/m4a",
    "audio/x-m4a",
    "audio/aac",
    "audio/wav",
    "audio/x-wav",
    "audio/wave",
    "audio/webm",
    "audio/ogg",
    "audio/flac",
    "audio/x-flac",
    "video/mp4",
    "video/webm",
];

#[derive(Serialize, ToSchema)]
struct Transcript {
    text: String,
}

fn too_large() -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "payload_too_large",
        format!(
            "The recording is too large ({} MB at most)",
            MAX_AUDIO_BYTES / (1024 * 1024)
        ),
    )
}

fn bad_upload(err: impl std::fmt::Display) -> ApiError {
    ApiError::bad_request(
        "invalid_upload",
        format!("Could not read the upload: {err}"),
    )
}

/// A multipart form with the recording in the `audio` field.
#[derive(ToSchema)]
#[expect(dead_code, reason = "describes the form for the document")]
struct AudioUploadForm {
    /// mp3, m4a/mp4, wav, webm, ogg or flac; at most 25 MB.
    #[schema(format = Binary, content_media_type = "application/octet-stream")]
    audio: String,
}

/// Speech to text (Whisper); the recording's seconds count as voice usage.
#[utoipa::path(tag = "voice",
    request_body(content = AudioUploadForm, content_type = "multipart/form-data"),
    responses((status = 200, body = Transcript), BodyFailures, AuthFailures, NotFound, LimitReached, AgentFailures),
    security(("bearer" = [])))]
#[post("/transcribe")]
async fn transcribe(
    state: web::Data<AppState>,
    user: AuthUser,
    mut form: Multipart,
) -> Result<HttpResponse, ApiError> {
    let mut upload = None;
    while let Some(mut field) = form.try_next().await.map_err(bad_upload)? {
        if field.name() != Some("audio") {
            // Other fields are read and dropped, within the same cap.
            let mut skipped = 0usize;
            while let Some(chunk) = field.try_next().await.map_err(bad_upload)? {
                skipped += chunk.len();
                if skipped > MAX_AUDIO_BYTES {
                    return Err(too_large());
                }
            }
            continue;
        }
        let content_type = field
            .content_type()
            .map(|m| m.essence_str().to_ascii_lowercase())
            .unwrap_or_default();
        if !AUDIO_TYPES.contains(&content_type.as_str()) {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                format!(
                    "Unsupported audio type {content_type:?}; send mp3, m4a, wav, webm, ogg or flac"
                ),
            ));
        }
        let file_name = field
            .content_disposition()
            .and_then(|d| d.get_filename())
            .map(|name| {
                name.chars()
                    .filter(|c| c.is_ascii_alphanumeric() || ".-_".contains(*c))
                    .take(100)
                    .collect()
            })
            .filter(|name: &String| !name.is_empty())
            .unwrap_or_else(|| "recording".to_owned());
        let mut bytes = Vec::new();
        while let Some(chunk) = field.try_next().await.map_err(bad_upload)? {
            if bytes.len() + chunk.len() > MAX_AUDIO_BYTES {
                return Err(too_large());
            }
            bytes.extend_from_slice(&chunk);
        }
        upload = Some(AudioUpload {
            file_name,
            content_type,
            bytes,
        });
    }
    let upload = upload.filter(|u| !u.bytes.is_empty()).ok_or_else(|| {
        ApiError::bad_request(
            "invalid_request",
            "No audio file provided (multipart field \"audio\")",
        )
    })?;
    let text = state
        .transcriptions
        .transcribe(user.0.user_id, upload)
        .await?;
    Ok(HttpResponse::Ok().json(Transcript { text }))
}

#[derive(serde::Deserialize, ToSchema)]
struct SpeakBody {
    text: Option<String>,
    voice: Option<String>,
}

/// `POST /voice/speak {text, voice?}`: the text spoken, as `audio/mpeg`.
#[utoipa::path(tag = "voice", request_body = SpeakBody,
    responses((status = 200, description = "MP3 audio", content_type = "audio/mpeg", body = Vec<u8>),
        BodyFailures, AuthFailures, NotFound, LimitReached, AgentFailures),
    security(("bearer" = [])))]
#[post("/speak")]
async fn speak(
    state: web::Data<AppState>,
    user: AuthUser,
    body: web::Json<SpeakBody>,
) -> Result<HttpResponse, ApiError> {
    let audio = state
        .speech
        .speak(
            user.0.user_id,
            body.text.as_deref().unwrap_or_default(),
            body.voice.as_deref(),
        )
        .await?;
    Ok(HttpResponse::Ok().content_type("audio/mpeg").body(audio))
}

pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(
        utoipa_actix_web::scope("/voice")
            .service(transcribe)
            .service(speak),
    );
}
