//! Speech-to-text with OpenAI Whisper (`POST {base}/audio/transcriptions`,
//! multipart, `verbose_json` for the audio's duration).
//!
//! The upload is sent from memory the caller already bounded, so a retry
//! (none here) could never resend a consumed stream — the original server's
//! Whisper calls hung exactly that way.

use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use crate::SpeechError;

/// What [`WhisperTranscriber`] needs. Its `Debug` output redacts the key.
#[derive(Debug, Clone)]
pub struct WhisperConfig {
    /// The API's base, e.g. `https://api.openai.com/v1` (a trailing `/` is
    /// ignored); `/audio/transcriptions` is appended.
    pub base_url: String,
    /// The OpenAI API key, sent as a bearer token.
    pub api_key: SecretString,
    /// The transcription model, e.g. `whisper-1`.
    pub model: String,
    /// The longest a whole request may take, the upload included
    /// (connecting is bounded separately, by 5 seconds).
    pub timeout: Duration,
}

/// An uploaded recording, held in memory (the caller bounds its size).
#[derive(Debug, Clone)]
pub struct AudioUpload {
    /// The file name sent to the provider; Whisper goes by its extension
    /// (`.m4a`, `.mp3`, `.wav`, …) to know the format.
    pub file_name: String,
    /// The MIME type, e.g. `audio/mpeg`.
    pub content_type: String,
    /// The audio itself.
    pub bytes: Vec<u8>,
}

/// What was said in a recording.
#[derive(Debug, Clone, PartialEq)]
pub struct Transcript {
    /// The text, as Whisper wrote it.
    pub text: String,
    /// The recording's length in seconds, as Whisper measured it (`0.0` when
    /// the provider did not say).
    pub duration_seconds: f64,
}

#[derive(Deserialize)]
struct VerboseJson {
    text: String,
    #[serde(default)]
    duration: f64,
}

/// Speech-to-text with OpenAI Whisper. Build it once and share it.
pub struct WhisperTranscriber {
    http: reqwest::Client,
    config: WhisperConfig,
}

impl WhisperTranscriber {
    /// Builds the transcriber. Nothing is sent yet.
    ///
    /// # Errors
    /// [`SpeechError::Unavailable`] if the HTTP client cannot be built.
    pub fn new(config: WhisperConfig) -> Result<Self, SpeechError> {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .timeout(config.timeout)
            .build()
            .map_err(|err| SpeechError::Unavailable(format!("building the HTTP client: {err}")))?;
        Ok(Self { http, config })
    }

    /// Transcribes one recording (one request, no retry; dropping the future
    /// cancels it).
    ///
    /// # Errors
    /// [`SpeechError::BadInput`] for a content type that is not a MIME type
    /// (before any request) or audio the provider refuses; otherwise see
    /// [`SpeechError`]. An answer that is not Whisper's `verbose_json` is
    /// [`SpeechError::Upstream`] with status `0`.
    pub async fn transcribe(&self, upload: AudioUpload) -> Result<Transcript, SpeechError> {
        let part = reqwest::multipart::Part::bytes(upload.bytes)
            .file_name(upload.file_name)
            .mime_str(&upload.content_type)
            .map_err(|err| SpeechError::BadInput(format!("content type: {err}")))?;
        let form = reqwest::multipart::Form::new()
            .text("model", self.config.model.clone())
            .text("response_format", "verbose_json")
            .part("file", part);
        let response = self
            .http
            .post(format!(
                "{}/audio/transcriptions",
                self.config.base_url.trim_end_matches('/')
            ))
            .bearer_auth(self.config.api_key.expose_secret())
            .multipart(form)
            .send()
            .await?;
        if !response.status().is_success() {
            return Err(SpeechError::from_response(response).await);
        }
        let body: VerboseJson = response.json().await?;
        Ok(Transcript {
            text: body.text,
            duration_seconds: body.duration,
        })
    }
}
