//! Speaks a sentence to an MP3 file with OpenAI speech, then transcribes the
//! file back with Whisper, printing the sizes and the transcript.
//!
//! ```text
//! export OPENAI_API_KEY=sk-...
//! cargo run -p heyclaw-tts --example speak
//! cargo run -p heyclaw-tts --example speak -- --voice coral --out /tmp/hi.mp3 "Good morning, Ada."
//! ```
//!
//! Settings: `--api-key` (or `OPENAI_API_KEY`, required), `--base-url` (or
//! `OPENAI_BASE_URL`, default `https://api.openai.com/v1`), `--voice`
//! (default `nova`), `--out` (default `speech.mp3`), `--tts-model` (or
//! `OPENAI_TTS_MODEL`, default `tts-1`), `--stt-model` (default
//! `whisper-1`), `--timeout` in seconds (default 60).

use std::{
    path::PathBuf,
    process::ExitCode,
    time::{Duration, Instant},
};

use clap::Parser;
use heyclaw_domain::Voice;
use heyclaw_tts::{
    AudioUpload, OpenAiSpeech, OpenAiSpeechConfig, SpeechError, SpeechSynthesizer, WhisperConfig,
    WhisperTranscriber,
};
use secrecy::SecretString;

/// Speak a sentence to an MP3 file, then transcribe it back.
#[derive(Parser)]
struct Args {
    /// The OpenAI API key.
    #[arg(long, env = "OPENAI_API_KEY", hide_env_values = true)]
    api_key: Option<String>,
    /// The OpenAI API's base URL (a proxy or stand-in may take its place).
    #[arg(
        long,
        env = "OPENAI_BASE_URL",
        default_value = "https://api.openai.com/v1"
    )]
    base_url: String,
    /// One of: alloy, ash, coral, echo, fable, nova, onyx, sage, shimmer.
    #[arg(long, default_value = "nova", value_parser = |raw: &str| raw.parse::<Voice>())]
    voice: Voice,
    /// Where the MP3 goes.
    #[arg(long, default_value = "speech.mp3")]
    out: PathBuf,
    /// The speech model.
    #[arg(long, env = "OPENAI_TTS_MODEL", default_value = "tts-1")]
    tts_model: String,
    /// The transcription model.
    #[arg(long, default_value = "whisper-1")]
    stt_model: String,
    /// The longest each request may take, in seconds.
    #[arg(long, default_value_t = 60)]
    timeout: u64,
    /// What to say.
    #[arg(default_value = "Hello! This is HeyClaw, speaking through OpenAI.")]
    text: Vec<String>,
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    match run(args).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}

async fn run(args: Args) -> Result<(), String> {
    let api_key = args
        .api_key
        .filter(|key| !key.trim().is_empty())
        .map(SecretString::from)
        .ok_or("no OpenAI API key: pass --api-key <KEY> or set OPENAI_API_KEY")?;
    let text = args.text.join(" ");
    let timeout = Duration::from_secs(args.timeout.max(1));

    let speech = OpenAiSpeech::new(OpenAiSpeechConfig {
        base_url: args.base_url.clone(),
        api_key: api_key.clone(),
        model: args.tts_model,
        timeout,
    })
    .map_err(|err| explain("speech", &err, &args.base_url))?;
    let started = Instant::now();
    let mp3 = speech
        .synthesize(&text, args.voice)
        .await
        .map_err(|err| explain("speech", &err, &args.base_url))?;
    println!(
        "spoke {} characters with {}: {} bytes of MP3 in {:.1}s",
        text.chars().count(),
        args.voice,
        mp3.len(),
        started.elapsed().as_secs_f64()
    );
    std::fs::write(&args.out, &mp3)
        .map_err(|err| format!("cannot write {}: {err}", args.out.display()))?;
    println!("wrote {}", args.out.display());

    let whisper = WhisperTranscriber::new(WhisperConfig {
        base_url: args.base_url.clone(),
        api_key,
        model: args.stt_model,
        timeout,
    })
    .map_err(|err| explain("transcription", &err, &args.base_url))?;
    let file_name = args.out.file_name().map_or_else(
        || "speech.mp3".to_owned(),
        |name| name.to_string_lossy().into_owned(),
    );
    let started = Instant::now();
    let transcript = whisper
        .transcribe(AudioUpload {
            file_name,
            content_type: "audio/mpeg".to_owned(),
            bytes: mp3,
        })
        .await
        .map_err(|err| explain("transcription", &err, &args.base_url))?;
    println!(
        "transcribed {:.1}s of audio in {:.1}s: {:?}",
        transcript.duration_seconds,
        started.elapsed().as_secs_f64(),
        transcript.text
    );
    Ok(())
}

/// The error, with what to check.
fn explain(step: &str, err: &SpeechError, base_url: &str) -> String {
    let hint = match err {
        SpeechError::Unauthorized => "check --api-key / OPENAI_API_KEY".to_owned(),
        SpeechError::RateLimited {
            retry_after: Some(after),
        } => format!("try again in {}s", after.as_secs()),
        SpeechError::RateLimited { retry_after: None } => "try again later".to_owned(),
        SpeechError::Unavailable(_) => {
            format!("is {base_url} reachable? (--base-url / OPENAI_BASE_URL)")
        }
        SpeechError::Timeout => "try a larger --timeout".to_owned(),
        SpeechError::BadInput(_) => "check the text, --voice and the model names".to_owned(),
        SpeechError::Upstream { .. } => format!("the provider at {base_url} failed"),
    };
    format!("{step}: {err}\nhint: {hint}")
}
