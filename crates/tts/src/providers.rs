//! Text-to-speech: one trait, two providers. Both return MP3 bytes.

use std::{collections::HashMap, time::Duration};

use async_trait::async_trait;
use heyclaw_domain::Voice;
use secrecy::{ExposeSecret, SecretString};
use serde_json::json;

use crate::SpeechError;

/// Text-to-speech, whichever provider does it. Implemented by
/// [`OpenAiSpeech`] and [`ElevenLabsSpeech`]; implement it yourself for a
/// stand-in. Object safe (through `async-trait`): callers usually hold an
/// `Arc<dyn SpeechSynthesizer>`.
#[async_trait]
pub trait SpeechSynthesizer: Send + Sync {
    /// MP3 audio of `text` spoken with `voice`, as one buffer. One request,
    /// no retry; dropping the future cancels it.
    ///
    /// # Errors
    /// See [`SpeechError`]; empty text is the provider's to refuse
    /// ([`SpeechError::BadInput`]).
    async fn synthesize(&self, text: &str, voice: Voice) -> Result<Vec<u8>, SpeechError>;
}

fn client(timeout: Duration) -> Result<reqwest::Client, SpeechError> {
    reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(5))
        .timeout(timeout)
        .build()
        .map_err(|err| SpeechError::Unavailable(format!("building the HTTP client: {err}")))
}

async fn audio(response: reqwest::Response) -> Result<Vec<u8>, SpeechError> {
    if !response.status().is_success() {
        return Err(SpeechError::from_response(response).await);
    }
    Ok(response.bytes().await?.to_vec())
}

/// What [`OpenAiSpeech`] needs. Its `Debug` output redacts the key.
#[derive(Debug, Clone)]
pub struct OpenAiSpeechConfig {
    /// The API's base, e.g. `https://api.openai.com/v1` (a trailing `/` is
    /// ignored); `/audio/speech` is appended.
    pub base_url: String,
    /// The OpenAI API key, sent as a bearer token.
    pub api_key: SecretString,
    /// The speech model, e.g. `tts-1`.
    pub model: String,
    /// The longest a whole request may take, the audio's download included
    /// (connecting is bounded separately, by 5 seconds).
    pub timeout: Duration,
}

/// OpenAI speech (`POST {base}/audio/speech`, `response_format: mp3`); the
/// app's voice names are OpenAI's.
pub struct OpenAiSpeech {
    http: reqwest::Client,
    config: OpenAiSpeechConfig,
}

impl OpenAiSpeech {
    /// Builds the provider. Nothing is sent yet: a wrong key shows on the
    /// first call.
    ///
    /// # Errors
    /// [`SpeechError::Unavailable`] if the HTTP client cannot be built.
    pub fn new(config: OpenAiSpeechConfig) -> Result<Self, SpeechError> {
        Ok(Self {
            http: client(config.timeout)?,
            config,
        })
    }
}

#[async_trait]
impl SpeechSynthesizer for OpenAiSpeech {
    async fn synthesize(&self, text: &str, voice: Voice) -> Result<Vec<u8>, SpeechError> {
        let response = self
            .http
            .post(format!(
                "{}/audio/speech",
                self.config.base_url.trim_end_matches('/')
            ))
            .bearer_auth(self.config.api_key.expose_secret())
            .json(&json!({
                "model": self.config.model,
                "input": text,
                "voice": voice.as_str(),
                "response_format": "mp3",
            }))
            .send()
            .await?;
        audio(response).await
    }
}

/// What [`ElevenLabsSpeech`] needs. Its `Debug` output redacts the key.
#[derive(Debug, Clone)]
pub struct ElevenLabsConfig {
    /// The API's origin, e.g. `https://api.elevenlabs.io` (a trailing `/` is
    /// ignored); `/v1/text-to-speech/{voice id}/stream` is appended.
    pub base_url: String,
    /// The ElevenLabs API key, sent as `xi-api-key`.
    pub api_key: SecretString,
    /// The model, e.g. `eleven_turbo_v2_5`.
    pub model_id: String,
    /// The audio format asked for, e.g. `mp3_44100_128`. Only an `mp3_…`
    /// format gives the MP3 that [`SpeechSynthesizer`] promises.
    pub output_format: String,
    /// ElevenLabs voice id per app voice; missing ones use `nova`'s
    /// ([`Voice::DEFAULT`]). [`ElevenLabsConfig::default_voice_ids`] has a
    /// full set.
    pub voice_ids: HashMap<Voice, String>,
    /// The longest a whole request may take, the audio's download included
    /// (connecting is bounded separately, by 5 seconds).
    pub timeout: Duration,
}

impl ElevenLabsConfig {
    /// ElevenLabs' stock voices standing in for the app's voice names.
    pub fn default_voice_ids() -> HashMap<Voice, String> {
        [
            (Voice::Alloy, "pNInz6obpgDQGcFmaJgB"),
            (Voice::Ash, "TxGEqnHWrfWFTfGW9XjX"),
            (Voice::Coral, "EXAVITQu4vr4xnSDxMaL"),
            (Voice::Echo, "ErXwobaYiN019PkySvjV"),
            (Voice::Fable, "VR6AewLTigWG4xSOukaG"),
            (Voice::Nova, "21m00Tcm4TlvDq8ikWAM"),
            (Voice::Onyx, "yoZ06aMxZJJ28mfd3POQ"),
            (Voice::Sage, "AZnzlk1XvdvUeBnXmlld"),
            (Voice::Shimmer, "MF3mGyEYCl7XYWbV9V6O"),
        ]
        .into_iter()
        .map(|(voice, id)| (voice, id.to_owned()))
        .collect()
    }
}

/// ElevenLabs streaming TTS (`POST {base}/v1/text-to-speech/{voice}/stream`).
/// The streamed audio is collected into one buffer before it is returned.
pub struct ElevenLabsSpeech {
    http: reqwest::Client,
    config: ElevenLabsConfig,
}

impl ElevenLabsSpeech {
    /// Builds the provider. Nothing is sent yet.
    ///
    /// # Errors
    /// [`SpeechError::Unavailable`] if the HTTP client cannot be built.
    pub fn new(config: ElevenLabsConfig) -> Result<Self, SpeechError> {
        Ok(Self {
            http: client(config.timeout)?,
            config,
        })
    }
}

#[async_trait]
impl SpeechSynthesizer for ElevenLabsSpeech {
    async fn synthesize(&self, text: &str, voice: Voice) -> Result<Vec<u8>, SpeechError> {
        let voice_id = self
            .config
            .voice_ids
            .get(&voice)
            .or_else(|| self.config.voice_ids.get(&Voice::DEFAULT))
            .ok_or_else(|| SpeechError::BadInput(format!("no ElevenLabs voice for {voice}")))?;
        let response = self
            .http
            .post(format!(
                "{}/v1/text-to-speech/{voice_id}/stream",
                self.config.base_url.trim_end_matches('/')
            ))
            .query(&[("output_format", self.config.output_format.as_str())])
            .header("xi-api-key", self.config.api_key.expose_secret())
            .json(&json!({ "text": text, "model_id": self.config.model_id }))
            .send()
            .await?;
        audio(response).await
    }
}
