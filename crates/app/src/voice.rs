//! `POST /agent/voice`: a voice turn as a stream of events. The reply is
//! streamed from the gateway; each delta goes out at once as a `Token`;
//! completed sentences go out as `Text` and are spoken concurrently (a few
//! at a time), their `Audio` leaving strictly in sentence order; then the
//! reply's actions, then `Done` with usage.
//!
//! Failures: one sentence's speech failing is an `AudioError` for that
//! index and the turn goes on; the gateway failing mid-reply is `Error`, the
//! stream ends and the reserved voice seconds are given back. A client that
//! goes away stops everything: the gateway stream and pending speech calls
//! are dropped (cancelled) at once.
//!
//! Voice usage, in seconds: `ceil(recordingDuration) + ceil(words / 2.5)` of
//! the spoken reply (the original's formula), against the plan's daily
//! voice minutes × 60; TTS characters are counted too.

use std::{pin::Pin, sync::Arc};

use base64::{Engine, engine::general_purpose::STANDARD};
use futures_util::{Future, StreamExt, stream::FuturesOrdered};
use heyclaw_domain::{Action, SentenceSplitter, UserId, Voice, extract_actions};
use heyclaw_persistence::{
    PersistenceError, PgPool, RedisStore,
    models::NewChatMessage,
    queries::{
        assistants,
        turns::{TurnRecord, TurnUsage},
    },
};
use heyclaw_tts::SpeechSynthesizer;
use tokio::sync::{Semaphore, mpsc};

use crate::{
    AppError,
    access_cache::AccessCache,
    agents::{Agents, Conversation},
    automation::{Automations, with_notes},
    messaging::MAX_MESSAGE_CHARS,
    quota::{self, Meter},
    recorder::TurnRecorder,
};

/// Speech calls in flight at once for one turn.
pub const TTS_CONCURRENCY: usize = 3;
/// Longest recording duration a client may claim, in seconds.
const MAX_RECORDING_SECONDS: f64 = 600.0;

/// One event of a voice turn, in the order the client receives them.
///
/// Sentences are numbered from 0 in reply order. Every sentence has a
/// `Text`; it has an `Audio` or an `AudioError` only when speech is on
/// (a provider is configured and the client did not ask for native TTS)
/// and it has at least two speakable characters. The turn ends with
/// exactly one `Done` or `Error`, unless the client went away.
#[derive(Debug, Clone, PartialEq)]
pub enum VoiceEvent {
    /// A piece of the reply as the gateway streamed it (action markers
    /// included), sent at once.
    Token(String),
    /// A completed sentence of the reply, as streamed (markers included).
    Text {
        /// The sentence's number.
        index: usize,
        /// The sentence.
        text: String,
    },
    /// MP3, base64-encoded.
    Audio {
        /// The number of the sentence spoken.
        index: usize,
        /// The sentence spoken (markdown marks removed), MP3, base64.
        mp3_base64: String,
    },
    /// A sentence could not be spoken (the provider failed, or today's TTS
    /// characters are used up); the turn goes on.
    AudioError {
        /// The number of the sentence not spoken.
        index: usize,
        /// Why, for the user.
        message: String,
    },
    /// One of the reply's actions for the app (automation markers are
    /// carried out, not sent), after the last audio.
    Action(Action),
    /// The turn is over (and queued for recording): the last event.
    Done {
        /// Today's usage after this turn.
        usage: VoiceUsage,
        /// The whole reply without its markers, followed by any notes about
        /// automations that could not be set up.
        full_text: String,
    },
    /// The gateway failed mid-reply: the last event; the turn is not
    /// recorded and its voice seconds are given back.
    Error {
        /// What to tell the user.
        message: String,
    },
}

/// Today's usage as a voice turn's `Done` reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VoiceUsage {
    /// Text messages counted today (a voice turn counts voice seconds, not
    /// a text message).
    pub messages_used: u64,
    /// The plan's daily text-message limit.
    pub messages_limit: u64,
    /// Voice seconds counted today, this turn's input and output included.
    pub voice_seconds_used: u64,
    /// The plan's daily voice seconds (its voice minutes × 60).
    pub voice_seconds_limit: u64,
}

/// What the client sends for a voice turn.
pub struct VoiceRequest<'a> {
    /// What the user said, as text (transcribed by the client or by
    /// `POST /voice/transcribe`).
    pub text: &'a str,
    /// The voice to speak the reply in; else the assistant's, else `alloy`.
    pub voice: Option<&'a str>,
    /// The client speaks the reply itself: no `Audio` events, no TTS
    /// characters counted.
    pub native_tts: bool,
    /// How long the user's recording was, in seconds (0 to 600): counted
    /// against the voice quota, rounded up, at least one second.
    pub recording_seconds: f64,
}

/// The voice turn path. Cheap to clone.
#[derive(Clone)]
pub struct VoiceTurns {
    pg: PgPool,
    redis: RedisStore,
    agents: Agents,
    recorder: TurnRecorder,
    speech: Option<Arc<dyn SpeechSynthesizer>>,
    automations: Automations,
    cache: AccessCache,
}

type SpeechFuture = Pin<Box<dyn Future<Output = (usize, Result<Vec<u8>, String>)> + Send>>;

impl VoiceTurns {
    /// Voice turns over the given storage and services; `speech: None` (no
    /// provider configured) means no `Audio` events, as with native TTS.
    pub fn new(
        pg: PgPool,
        redis: RedisStore,
        agents: Agents,
        recorder: TurnRecorder,
        speech: Option<Arc<dyn SpeechSynthesizer>>,
        automations: Automations,
        cache: AccessCache,
    ) -> Self {
        Self {
            pg,
            redis,
            agents,
            recorder,
            speech,
            automations,
            cache,
        }
    }

    /// Checks the request and the quota and opens the gateway stream — any
    /// refusal is an ordinary error, before a single event — then returns
    /// the events of the turn.
    ///
    /// The recording's seconds are reserved against today's voice quota
    /// before the gateway is called. The rest runs in a spawned task that
    /// streams the reply into the returned channel (64 events deep): each
    /// sentence's speech is reserved against the TTS-character quota and
    /// synthesised, at most [`TTS_CONCURRENCY`] at once, its audio sent in
    /// sentence order. At the end the reply's spoken seconds
    /// (`ceil(words / 2.5)`) are added to the voice count without a limit
    /// check, and the turn (usage and both messages, marked as voice) is
    /// queued for the write-behind recorder.
    ///
    /// Dropping the receiver cancels the turn at once: the gateway stream
    /// and pending speech calls are dropped, the voice seconds given back
    /// (TTS characters already spoken stay counted) and nothing is recorded.
    ///
    /// # Errors
    ///
    /// [`AppError::Invalid`] for an empty or too long text
    /// ([`MAX_MESSAGE_CHARS`]), an unknown voice or a recording duration out
    /// of range; [`AppError::NotFound`] when the user has no assistant;
    /// [`AppError::RateLimited`] when no voice seconds are left;
    /// [`AppError::Unavailable`], [`AppError::GatewayTimeout`] or
    /// [`AppError::GatewayFailed`] when the agent cannot start answering
    /// (the seconds are given back); [`AppError::Storage`].
    pub async fn start(
        &self,
        user: UserId,
        request: VoiceRequest<'_>,
    ) -> Result<mpsc::Receiver<VoiceEvent>, AppError> {
        let text = request.text.trim();
        if text.is_empty() {
            return Err(AppError::invalid("Message text is required"));
        }
        if text.chars().count() > MAX_MESSAGE_CHARS {
            return Err(AppError::invalid(format!(
                "Message is too long ({MAX_MESSAGE_CHARS} characters at most)"
            )));
        }
        let voice = match request.voice.map(str::parse::<Voice>) {
            Some(Ok(voice)) => Some(voice),
            Some(Err(err)) => return Err(AppError::invalid(err.to_string())),
            None => None,
        };
        let recording = request.recording_seconds;
        if !recording.is_finite() || !(0.0..=MAX_RECORDING_SECONDS).contains(&recording) {
            return Err(AppError::invalid(
                "recordingDuration must be between 0 and 600 seconds",
            ));
        }
        let (assistant, _plan, limits) = self
            .cache
            .message_context(user.0, async {
                let mut conn = self.pg.get().await.map_err(PersistenceError::from)?;
                assistants::with_plan(&mut conn, user.0, chrono::Utc::now()).await
            })
            .await?
            .ok_or(AppError::NotFound("No assistant for this account"))?;
        let voice_limit = u64::try_from(limits.daily_voice_input_minutes).unwrap_or(0) * 60;
        // At least one second, so a user at the limit is refused up front.
        let input_seconds = (recording.ceil() as u64).max(1);
        let reserved = quota::reserve(
            &self.redis,
            &self.pg,
            user,
            Meter::VoiceSeconds,
            input_seconds,
            voice_limit,
        )
        .await?;
        let voice = voice
            .or_else(|| assistant.voice.parse().ok())
            .unwrap_or(Voice::Alloy);

        let stream = match self
            .agents
            .chat_stream(&assistant, Conversation::Chat, text)
            .await
        {
            Ok(stream) => stream,
            Err(err) => {
                reserved.release(&self.redis).await;
                return Err(err);
            }
        };
        let messages_limit = u64::try_from(limits.daily_text_messages).unwrap_or(0);
        let tts_limit = u64::try_from(limits.daily_tts_characters).unwrap_or(0);
        let (events, receiver) = mpsc::channel(64);
        let this = self.clone();
        let speech = if request.native_tts {
            None
        } else {
            self.speech.clone()
        };
        let user_text = text.to_owned();
        tokio::spawn(async move {
            this.run(
                user,
                stream,
                speech,
                voice,
                events,
                reserved,
                input_seconds,
                messages_limit,
                voice_limit,
                tts_limit,
                user_text,
            )
            .await;
        });
        Ok(receiver)
    }

    #[expect(
        clippy::too_many_arguments,
        reason = "one turn's whole context, used once"
    )]
    async fn run(
        self,
        user: UserId,
        mut stream: heyclaw_gateway_client::TextStream,
        speech: Option<Arc<dyn SpeechSynthesizer>>,
        voice: Voice,
        events: mpsc::Sender<VoiceEvent>,
        mut reserved: quota::Reserved,
        input_seconds: u64,
        messages_limit: u64,
        voice_limit: u64,
        tts_limit: u64,
        user_text: String,
    ) {
        let limiter = Arc::new(Semaphore::new(TTS_CONCURRENCY));
        let mut pending: FuturesOrdered<SpeechFuture> = FuturesOrdered::new();
        let mut splitter = SentenceSplitter::new();
        let mut full = String::new();
        let mut index = 0usize;
        let spoken_chars = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let (redis, pg) = (self.redis.clone(), self.pg.clone());
        let mut queue_sentence = |sentence: String,
                                  pending: &mut FuturesOrdered<SpeechFuture>,
                                  out: &mut Vec<VoiceEvent>| {
            let text = extract_actions(&sentence).text;
            out.push(VoiceEvent::Text {
                index,
                text: sentence,
            });
            let speakable = speakable(&text);
            if let Some(speech) = speech.clone().filter(|_| speakable.chars().count() >= 2) {
                let (limiter, spoken_chars, redis, pg) = (
                    Arc::clone(&limiter),
                    Arc::clone(&spoken_chars),
                    redis.clone(),
                    pg.clone(),
                );
                let i = index;
                pending.push_back(Box::pin(async move {
                    let _permit = limiter.acquire_owned().await;
                    let chars = speakable.chars().count();
                    // Speech has its own daily quota, in characters.
                    let reserved = match quota::reserve(
                        &redis,
                        &pg,
                        user,
                        Meter::TtsCharacters,
                        chars as u64,
                        tts_limit,
                    )
                    .await
                    {
                        Ok(reserved) => reserved,
                        Err(AppError::RateLimited { message, .. }) => return (i, Err(message)),
                        Err(err) => return (i, Err(err.to_string())),
                    };
                    match crate::observe::speech_call("tts", speech.synthesize(&speakable, voice))
                        .await
                    {
                        Ok(mp3) => {
                            spoken_chars.fetch_add(chars, std::sync::atomic::Ordering::SeqCst);
                            (i, Ok(mp3))
                        }
                        Err(err) => {
                            tracing::warn!(index = i, error = %err, "speech for a sentence failed");
                            reserved.release(&redis).await;
                            (
                                i,
                                Err("Could not speak this part of the answer.".to_owned()),
                            )
                        }
                    }
                }));
            }
            index += 1;
        };
        loop {
            let mut out = Vec::new();
            tokio::select! {
                () = events.closed() => {
                    tracing::debug!(%user, "voice client went away; turn cancelled");
                    reserved.release(&self.redis).await;
                    return;
                }
                delta = stream.next() => match delta {
                    Some(Ok(delta)) => {
                        full.push_str(&delta);
                        out.push(VoiceEvent::Token(delta.clone()));
                        for sentence in splitter.push(&delta) {
                            queue_sentence(sentence, &mut pending, &mut out);
                        }
                    }
                    Some(Err(err)) => {
                        tracing::warn!(%user, error = %err, "gateway failed mid voice turn");
                        let _ = events.send(VoiceEvent::Error { message: "Your assistant could not finish the answer. Please try again.".into() }).await;
                        reserved.release(&self.redis).await;
                        return;
                    }
                    None => break,
                },
                Some((i, result)) = pending.next(), if !pending.is_empty() => out.push(audio_event(i, result)),
            }
            for event in out {
                if events.send(event).await.is_err() {
                    reserved.release(&self.redis).await;
                    return;
                }
            }
        }
        let mut out = Vec::new();
        if let Some(rest) = std::mem::take(&mut splitter).finish() {
            queue_sentence(rest, &mut pending, &mut out);
        }
        for event in out {
            if events.send(event).await.is_err() {
                reserved.release(&self.redis).await;
                return;
            }
        }
        loop {
            tokio::select! {
                () = events.closed() => {
                    reserved.release(&self.redis).await;
                    return;
                }
                next = pending.next() => match next {
                    Some((i, result)) => {
                        if events.send(audio_event(i, result)).await.is_err() {
                            reserved.release(&self.redis).await;
                            return;
                        }
                    }
                    None => break,
                },
            }
        }
        let parsed = extract_actions(&full);
        let (actions, notes) = self.automations.apply_markers(user, parsed.actions).await;
        for action in actions {
            let _ = events.send(VoiceEvent::Action(action)).await;
        }
        let full_text = with_notes(parsed.text, &notes);
        let words = full_text.split_whitespace().count() as u64;
        let output_seconds = words.saturating_mul(2).div_ceil(5);
        let voice_used = reserved
            .add(&self.redis, output_seconds)
            .await
            .unwrap_or(reserved.used);
        let messages_used = quota::used_today(&self.redis, user, Meter::TextMessages)
            .await
            .ok()
            .flatten()
            .unwrap_or(0);
        let message = |role: &str, content: &str| NewChatMessage {
            client_id: None,
            role: role.to_owned(),
            content: content.to_owned(),
            is_voice: true,
        };
        self.recorder.record(TurnRecord {
            user_id: user.0,
            day: reserved.day,
            usage: TurnUsage {
                text_messages: 0,
                voice_input_seconds: i32::try_from(input_seconds).unwrap_or(i32::MAX),
                voice_output_seconds: i32::try_from(output_seconds).unwrap_or(i32::MAX),
                tts_characters: i32::try_from(
                    spoken_chars.load(std::sync::atomic::Ordering::SeqCst),
                )
                .unwrap_or(i32::MAX),
            },
            messages: vec![
                message("user", &user_text),
                message("assistant", &full_text),
            ],
        });
        let _ = events
            .send(VoiceEvent::Done {
                usage: VoiceUsage {
                    messages_used,
                    messages_limit,
                    voice_seconds_used: voice_used,
                    voice_seconds_limit: voice_limit,
                },
                full_text,
            })
            .await;
    }
}

fn audio_event(index: usize, result: Result<Vec<u8>, String>) -> VoiceEvent {
    match result {
        Ok(mp3) => VoiceEvent::Audio {
            index,
            mp3_base64: STANDARD.encode(mp3),
        },
        Err(message) => VoiceEvent::AudioError { index, message },
    }
}

/// Text as it should be spoken: markdown emphasis, headings and code marks
/// removed, whitespace collapsed.
fn speakable(text: &str) -> String {
    text.chars()
        .filter(|c| !matches!(c, '*' | '_' | '#' | '`' | '>' | '~'))
        .collect::<String>()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}
