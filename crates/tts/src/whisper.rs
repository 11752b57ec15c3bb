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

#[derive(Debug, Clone)]
pub struct WhisperConfig {
    /// e.g. `https://api.openai.com/v1`
    pub base_url: String,
    pub api_key: SecretString,
    /// e.g. `whisper-1`
    pub model: String,
    pub timeout: Duration,
}

/// An uploaded recording.
#[derive(Debug, Clone)]
pub struct AudioUpload {
    pub file_name: String,
    pub content_type: String,
    pub bytes: Vec<u8>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Transcript {
    pub text: String,
    /// The recording's length in seconds, as Whisper measured it.
    pub duration_seconds: f64,
}

#[derive(Deserialize)]
struct VerboseJson {
    text: String,
    #[serde(default)]
    duration: f64,
}

pub struct WhisperTranscriber {
    http: reqwest::Client,
    config: WhisperConfig,
}

impl WhisperTranscriber {
    pub fn new(config: WhisperConfig) -> Result<Self, SpeechError> {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .timeout(config.timeout)
            .build()
            .map_err(|err| SpeechError::Unavailable(format!("building the HTTP client: {err}")))?;
        Ok(Self { http, config })
    }

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
