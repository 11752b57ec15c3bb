//! `POST /voice/speak`: text to speech for a piece of text, with the
//! configured provider. The characters count against the day's TTS
//! characters (reserved before the provider is called, given back if it
//! fails), so a user past the limit gets a 429 and no audio.

use std::sync::Arc;

use heyclaw_domain::{UserId, Voice};
use heyclaw_persistence::{
    PersistenceError, PgPool, RedisStore,
    queries::{
        assistants,
        turns::{TurnRecord, TurnUsage},
    },
};
use heyclaw_tts::{SpeechError, SpeechSynthesizer};

use crate::{
    AppError,
    quota::{self, Meter},
    recorder::TurnRecorder,
};

/// Longest text spoken in one request, in characters.
pub const MAX_SPEAK_CHARS: usize = 4096;

/// Text to speech on request. Cheap to clone.
#[derive(Clone)]
pub struct Speech {
    pg: PgPool,
    redis: RedisStore,
    recorder: TurnRecorder,
    synthesizer: Option<Arc<dyn SpeechSynthesizer>>,
}

impl Speech {
    /// Speech over the given storage; `synthesizer: None` (no provider
    /// configured) makes every request [`AppError::Unavailable`].
    pub fn new(
        pg: PgPool,
        redis: RedisStore,
        recorder: TurnRecorder,
        synthesizer: Option<Arc<dyn SpeechSynthesizer>>,
    ) -> Self {
        Self {
            pg,
            redis,
            recorder,
            synthesizer,
        }
    }

    /// MP3 of `text` in `voice` (else the assistant's voice, else `alloy`).
    ///
    /// The text's characters (after trimming) are reserved against today's
    /// TTS-character quota before the provider is called, given back if it
    /// fails, and recorded (write-behind) once the audio is there. Dropping
    /// the future cancels the call but keeps the characters counted.
    ///
    /// # Errors
    ///
    /// [`AppError::Invalid`] for an empty or too long text
    /// ([`MAX_SPEAK_CHARS`]), an unknown voice, or a text the provider
    /// refuses; [`AppError::Unavailable`] when no provider is configured or
    /// it fails; [`AppError::NotFound`] when the user has no assistant;
    /// [`AppError::RateLimited`] at the daily limit;
    /// [`AppError::GatewayTimeout`] when the provider times out;
    /// [`AppError::Storage`].
    pub async fn speak(
        &self,
        user: UserId,
        text: &str,
        voice: Option<&str>,
    ) -> Result<Vec<u8>, AppError> {
        let text = text.trim();
        if text.is_empty() {
            return Err(AppError::invalid("Text is required"));
        }
        let chars = text.chars().count();
        if chars > MAX_SPEAK_CHARS {
            return Err(AppError::invalid(format!(
                "Text is too long ({MAX_SPEAK_CHARS} characters at most)"
            )));
        }
        let voice = voice
            .map(str::parse::<Voice>)
            .transpose()
            .map_err(|err| AppError::invalid(err.to_string()))?;
        let synthesizer = self
            .synthesizer
            .as_ref()
            .ok_or_else(|| AppError::Unavailable("Text-to-speech is not configured".to_owned()))?;
        let (assistant, _, limits) = {
            let mut conn = self.pg.get().await.map_err(PersistenceError::from)?;
            assistants::with_plan(&mut conn, user.0, chrono::Utc::now())
                .await?
                .ok_or(AppError::NotFound("No assistant for this account"))?
        };
        let voice = voice
            .or_else(|| assistant.voice.parse().ok())
            .unwrap_or(Voice::Alloy);
        let limit = u64::try_from(limits.daily_tts_characters).unwrap_or(0);
        let reserved = quota::reserve(
            &self.redis,
            &self.pg,
            user,
            Meter::TtsCharacters,
            chars as u64,
            limit,
        )
        .await?;
        let audio = match crate::observe::speech_call("tts", synthesizer.synthesize(text, voice))
            .await
        {
            Ok(audio) => audio,
            Err(err) => {
                reserved.release(&self.redis).await;
                return Err(match err {
                    SpeechError::BadInput(message) => {
                        AppError::invalid(format!("The text could not be spoken: {message}"))
                    }
                    SpeechError::Timeout => AppError::GatewayTimeout,
                    other => {
                        tracing::warn!(error = %other, "speech failed");
                        AppError::Unavailable(
                            "Text-to-speech is unavailable right now. Please try again.".to_owned(),
                        )
                    }
                });
            }
        };
        self.recorder.record(TurnRecord {
            user_id: user.0,
            day: reserved.day,
            usage: TurnUsage {
                tts_characters: i32::try_from(chars).unwrap_or(i32::MAX),
                ..TurnUsage::default()
            },
            messages: Vec::new(),
        });
        Ok(audio)
    }
}
