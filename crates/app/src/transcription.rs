//! `POST /voice/transcribe`: speech to text with Whisper. The recording's
//! duration counts against the day's voice seconds; a user with none left
//! is refused before anything is sent to the provider.

use std::sync::Arc;

use heyclaw_domain::UserId;
use heyclaw_persistence::{
    PersistenceError, PgPool, RedisStore,
    queries::{
        assistants,
        turns::{TurnRecord, TurnUsage},
    },
};
use heyclaw_tts::{AudioUpload, SpeechError, WhisperTranscriber};

use crate::{
    AppError,
    quota::{self, Meter},
    recorder::TurnRecorder,
};

/// Speech to text on request. Cheap to clone.
#[derive(Clone)]
pub struct Transcriptions {
    pg: PgPool,
    redis: RedisStore,
    recorder: TurnRecorder,
    whisper: Option<Arc<WhisperTranscriber>>,
}

impl Transcriptions {
    /// Transcriptions over the given storage; `whisper: None` (no OpenAI
    /// key) makes every request [`AppError::Unavailable`].
    pub fn new(
        pg: PgPool,
        redis: RedisStore,
        recorder: TurnRecorder,
        whisper: Option<Arc<WhisperTranscriber>>,
    ) -> Self {
        Self {
            pg,
            redis,
            recorder,
            whisper,
        }
    }

    /// The text spoken in `upload`.
    ///
    /// One voice second is reserved first (so a user with none left is
    /// refused before the audio is sent); once Whisper has measured the
    /// recording, the rest of its duration (rounded up) is added without a
    /// limit check — a long recording may end past the limit — and recorded
    /// as voice input (write-behind). If Whisper fails the second is given
    /// back.
    ///
    /// # Errors
    ///
    /// [`AppError::Unavailable`] when speech to text is not configured or
    /// the provider fails; [`AppError::NotFound`] when the user has no
    /// assistant; [`AppError::RateLimited`] when no voice seconds are left;
    /// [`AppError::Invalid`] for audio the provider refuses;
    /// [`AppError::GatewayTimeout`] when it times out;
    /// [`AppError::Storage`].
    pub async fn transcribe(&self, user: UserId, upload: AudioUpload) -> Result<String, AppError> {
        let whisper = self
            .whisper
            .as_ref()
            .ok_or_else(|| AppError::Unavailable("Speech-to-text is not configured".to_owned()))?;
        let limit = {
            let mut conn = self.pg.get().await.map_err(PersistenceError::from)?;
            let (_, _, limits) = assistants::with_plan(&mut conn, user.0, chrono::Utc::now())
                .await?
                .ok_or(AppError::NotFound("No assistant for this account"))?;
            u64::try_from(limits.daily_voice_input_minutes).unwrap_or(0) * 60
        };
        // One second up front proves there is quota left; the rest is
        // counted once Whisper has measured the recording.
        let mut reserved =
            quota::reserve(&self.redis, &self.pg, user, Meter::VoiceSeconds, 1, limit).await?;
        let transcript = match crate::observe::speech_call("stt", whisper.transcribe(upload)).await
        {
            Ok(transcript) => transcript,
            Err(err) => {
                reserved.release(&self.redis).await;
                return Err(match err {
                    SpeechError::BadInput(message) => {
                        AppError::invalid(format!("The audio could not be transcribed: {message}"))
                    }
                    SpeechError::Timeout => AppError::GatewayTimeout,
                    other => {
                        tracing::warn!(error = %other, "transcription failed");
                        AppError::Unavailable(
                            "Speech-to-text is unavailable right now. Please try again.".to_owned(),
                        )
                    }
                });
            }
        };
        let seconds = (transcript.duration_seconds.max(0.0).ceil() as u64).max(1);
        reserved.add(&self.redis, seconds - 1).await?;
        self.recorder.record(TurnRecord {
            user_id: user.0,
            day: reserved.day,
            usage: TurnUsage {
                voice_input_seconds: i32::try_from(seconds).unwrap_or(i32::MAX),
                ..TurnUsage::default()
            },
            messages: Vec::new(),
        });
        Ok(transcript.text)
    }
}
