//! Speech for HeyClaw: text-to-speech providers (OpenAI speech, ElevenLabs)
//! behind one trait, [`SpeechSynthesizer`], giving MP3 bytes; and
//! speech-to-text with OpenAI Whisper ([`WhisperTranscriber`]). Failures
//! are one typed error, [`SpeechError`] (unauthorized, rate limited, bad
//! input, unavailable, timeout, upstream).
//!
//! Each call is one HTTP request bounded by the configured timeout (and 5
//! seconds to connect); nothing is retried, and dropping a call's future
//! cancels the request. Base URLs are configurable so proxies and test
//! stand-ins can take the providers' place.
//!
//! # What it must not do
//!
//! It knows nothing of users, quotas, sentences or HTTP routes: callers
//! decide what to speak, in which order, and what a failure costs the user.
//! It never logs keys, text or audio.
//!
//! # Example
//!
//! Speak a sentence with OpenAI speech, then transcribe the audio back with
//! Whisper. Here the provider is a local stand-in; with
//! `https://api.openai.com/v1` and a real key the same code talks to OpenAI
//! (`examples/speak.rs` does).
//!
//! ```
//! use std::time::Duration;
//!
//! use heyclaw_domain::Voice;
//! use heyclaw_tts::{
//!     AudioUpload, OpenAiSpeech, OpenAiSpeechConfig, SpeechSynthesizer, WhisperConfig,
//!     WhisperTranscriber,
//! };
//! use secrecy::SecretString;
//!
//! #[tokio::main]
//! async fn main() -> Result<(), Box<dyn std::error::Error>> {
//!     let base_url = stand_in::start().await?; // e.g. https://api.openai.com/v1
//!     let api_key = SecretString::from("sk-...");
//!
//!     let speech = OpenAiSpeech::new(OpenAiSpeechConfig {
//!         base_url: base_url.clone(),
//!         api_key: api_key.clone(),
//!         model: "tts-1".into(),
//!         timeout: Duration::from_secs(30),
//!     })?;
//!     let mp3 = speech.synthesize("Hello from HeyClaw.", Voice::Nova).await?;
//!     assert!(!mp3.is_empty());
//!
//!     let whisper = WhisperTranscriber::new(WhisperConfig {
//!         base_url,
//!         api_key,
//!         model: "whisper-1".into(),
//!         timeout: Duration::from_secs(60),
//!     })?;
//!     let transcript = whisper
//!         .transcribe(AudioUpload {
//!             file_name: "speech.mp3".into(),
//!             content_type: "audio/mpeg".into(),
//!             bytes: mp3,
//!         })
//!         .await?;
//!     assert_eq!(transcript.text, "Hello from HeyClaw.");
//!     Ok(())
//! }
//! # mod stand_in {
//! #     use tokio::io::{AsyncReadExt, AsyncWriteExt};
//! #     /// An OpenAI stand-in on a local port: speech is a few fake MP3
//! #     /// bytes, every transcript "Hello from HeyClaw.".
//! #     pub async fn start() -> std::io::Result<String> {
//! #         let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
//! #         let url = format!("http://{}/v1", listener.local_addr()?);
//! #         tokio::spawn(async move {
//! #             while let Ok((mut socket, _)) = listener.accept().await {
//! #                 tokio::spawn(async move {
//! #                     let request = read_request(&mut socket).await;
//! #                     let (content_type, body) = if request.starts_with("POST /v1/audio/speech ") {
//! #                         ("audio/mpeg", "ID3 not really an mp3")
//! #                     } else {
//! #                         ("application/json", "{\"text\":\"Hello from HeyClaw.\",\"duration\":1.2}")
//! #                     };
//! #                     let response = format!(
//! #                         "HTTP/1.1 200 OK\r\ncontent-type: {content_type}\r\n\
//! #                          content-length: {}\r\nconnection: close\r\n\r\n{body}",
//! #                         body.len()
//! #                     );
//! #                     let _ = socket.write_all(response.as_bytes()).await;
//! #                 });
//! #             }
//! #         });
//! #         Ok(url)
//! #     }
//! #     async fn read_request(socket: &mut tokio::net::TcpStream) -> String {
//! #         let mut bytes = Vec::new();
//! #         let mut buffer = [0u8; 4096];
//! #         loop {
//! #             match socket.read(&mut buffer).await {
//! #                 Ok(0) | Err(_) => break,
//! #                 Ok(n) => bytes.extend_from_slice(&buffer[..n]),
//! #             }
//! #             let text = String::from_utf8_lossy(&bytes).into_owned();
//! #             if let Some(end) = text.find("\r\n\r\n") {
//! #                 let length = text[..end].lines()
//! #                     .find_map(|line| line.to_ascii_lowercase()
//! #                         .strip_prefix("content-length:")
//! #                         .and_then(|value| value.trim().parse::<usize>().ok()))
//! #                     .unwrap_or(0);
//! #                 if bytes.len() >= end + 4 + length {
//! #                     return text;
//! #                 }
//! #             }
//! #         }
//! #         String::from_utf8_lossy(&bytes).into_owned()
//! #     }
//! # }
//! ```

#![deny(missing_docs)]

mod error;
mod providers;
mod whisper;

pub use error::SpeechError;
pub use providers::{
    ElevenLabsConfig, ElevenLabsSpeech, OpenAiSpeech, OpenAiSpeechConfig, SpeechSynthesizer,
};
pub use whisper::{AudioUpload, Transcript, WhisperConfig, WhisperTranscriber};
