//! Speech for HeyClaw: text-to-speech providers (OpenAI speech, ElevenLabs)
//! behind one trait, and speech-to-text (OpenAI Whisper). Base URLs are
//! configurable so proxies and test stand-ins can take the providers' place.
//! It knows nothing of users, quotas or HTTP routes.

mod error;
mod providers;
mod whisper;

pub use error::SpeechError;
pub use providers::{
    ElevenLabsConfig, ElevenLabsSpeech, OpenAiSpeech, OpenAiSpeechConfig, SpeechSynthesizer,
};
pub use whisper::{AudioUpload, Transcript, WhisperConfig, WhisperTranscriber};
