//! The speech providers against local stand-ins over real HTTP.

use std::time::Duration;

use heyclaw_domain::Voice;
use heyclaw_test_support::speech::{SPEECH_KEY, SpeechStandIn};
use heyclaw_tts::{
    AudioUpload, ElevenLabsConfig, ElevenLabsSpeech, OpenAiSpeech, OpenAiSpeechConfig, SpeechError,
    SpeechSynthesizer, WhisperConfig, WhisperTranscriber,
};
use secrecy::SecretString;

fn openai(url: &str, key: &str) -> OpenAiSpeech {
    OpenAiSpeech::new(OpenAiSpeechConfig {
        base_url: url.to_owned(),
        api_key: SecretString::from(key.to_owned()),
        model: "tts-1".into(),
        timeout: Duration::from_secs(2),
    })
    .unwrap()
}

#[tokio::test]
async fn openai_speech_speaks_the_text_with_the_voice() {
    let stand_in = SpeechStandIn::start().await;
    let audio = openai(&stand_in.openai_url, SPEECH_KEY)
        .synthesize("Hello there.", Voice::Shimmer)
        .await
        .unwrap();
    assert_eq!(audio, b"MP3|shimmer|Hello there.");
    stand_in.stop().await;
}

#[tokio::test]
async fn elevenlabs_maps_app_voices_to_its_voice_ids() {
    let stand_in = SpeechStandIn::start().await;
    let speech = ElevenLabsSpeech::new(ElevenLabsConfig {
        base_url: stand_in.elevenlabs_url.clone(),
        api_key: SecretString::from(SPEECH_KEY),
        model_id: "eleven_turbo_v2_5".into(),
        output_format: "mp3_44100_128".into(),
        voice_ids: ElevenLabsConfig::default_voice_ids(),
        timeout: Duration::from_secs(2),
    })
    .unwrap();
    let audio = speech.synthesize("Hi", Voice::Nova).await.unwrap();
    assert_eq!(audio, b"MP3|21m00Tcm4TlvDq8ikWAM|Hi");
    stand_in.stop().await;
}

#[tokio::test]
async fn provider_failures_are_typed() {
    let stand_in = SpeechStandIn::start().await;
    assert_eq!(
        openai(&stand_in.openai_url, "wrong")
            .synthesize("x", Voice::Nova)
            .await,
        Err(SpeechError::Unauthorized)
    );
    assert!(matches!(
        openai(&stand_in.openai_url, SPEECH_KEY)
            .synthesize(" ", Voice::Nova)
            .await,
        Err(SpeechError::BadInput(_))
    ));
    stand_in.fail_next(1);
    assert!(matches!(
        openai(&stand_in.openai_url, SPEECH_KEY)
            .synthesize("x", Voice::Nova)
            .await,
        Err(SpeechError::Upstream { status: 500, .. })
    ));
    stand_in.set_delay(Duration::from_secs(3));
    assert_eq!(
        openai(&stand_in.openai_url, SPEECH_KEY)
            .synthesize("x", Voice::Nova)
            .await,
        Err(SpeechError::Timeout)
    );
    stand_in.stop().await;
    assert!(matches!(
        openai(&stand_in.openai_url, SPEECH_KEY)
            .synthesize("x", Voice::Nova)
            .await,
        Err(SpeechError::Unavailable(_))
    ));
}

#[tokio::test]
async fn whisper_transcribes_a_multipart_upload() {
    let stand_in = SpeechStandIn::start().await;
    let whisper = WhisperTranscriber::new(WhisperConfig {
        base_url: stand_in.openai_url.clone(),
        api_key: SecretString::from(SPEECH_KEY),
        model: "whisper-1".into(),
        timeout: Duration::from_secs(5),
    })
    .unwrap();
    let transcript = whisper
        .transcribe(AudioUpload {
            file_name: "voice.m4a".into(),
            content_type: "audio/mp4".into(),
            bytes: vec![7u8; 10_000],
        })
        .await
        .unwrap();
    assert!(
        transcript.text.starts_with("transcribed "),
        "{}",
        transcript.text
    );
    assert!((transcript.duration_seconds - 2.5).abs() < f64::EPSILON);
    assert!(
        stand_in.upload_sizes()[0] > 10_000,
        "the whole file went up"
    );
    stand_in.stop().await;
}
