//! `cargo xtask bench voice`: time to first audio and to `done` of a voice
//! turn, next to a strictly sequential pipeline.

use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use serde_json::{Value, json};

/// Time to speak one sentence in the voice benchmark.
const TTS_LATENCY: Duration = Duration::from_millis(300);

pub async fn run(turns: usize) -> Result<()> {
    use heyclaw_test_support::{
        TestApp,
        speech::{SPEECH_KEY, SpeechStandIn},
    };

    let speech = SpeechStandIn::start().await;
    speech.set_delay(TTS_LATENCY);
    let app = TestApp::spawn_with(&[
        ("OPENAI_API_KEY", SPEECH_KEY),
        ("OPENAI_BASE_URL", &speech.openai_url),
    ])
    .await;
    app.gateway().reply_with(
        "Here is the plan for today. First we check the weather outside. Then we pick a route for the walk. \
         After that we stop for a coffee. Finally we head back home before noon.",
    );
    // Words arrive about as fast as a fast model streams them.
    app.gateway().set_chunk_delay(Duration::from_millis(15));
    let (mut first_audio, mut done, mut seq_first, mut seq_done) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for turn in 0..turns {
        let signup: Value = app
            .post_json(
                "/auth/signup",
                &json!({"email": format!("voice{turn}@example.com"), "password": "benchpass123"}),
            )
            .await
            .json()
            .await?;
        let token = signup["access_token"].as_str().context("token")?.to_owned();
        let started = Instant::now();
        let mut response = app
            .request(
                reqwest::Method::POST,
                "/agent/voice",
                Some(&token),
                Some(&json!({"text": "plan my morning"})),
            )
            .await;
        anyhow::ensure!(
            response.status().is_success(),
            "voice turn failed: {}",
            response.status()
        );
        let (mut buffer, mut text_at, mut audio_at, mut done_at) =
            (String::new(), Vec::new(), None, None);
        while let Some(chunk) = response.chunk().await? {
            buffer.push_str(&String::from_utf8_lossy(&chunk));
            while let Some(end) = buffer.find("\n\n") {
                let block: String = buffer.drain(..end + 2).collect();
                let Some(data) = block.lines().find_map(|line| line.strip_prefix("data: ")) else {
                    continue;
                };
                let event: Value = serde_json::from_str(data)?;
                match event["type"].as_str() {
                    Some("text") => text_at.push(started.elapsed()),
                    Some("audio") if audio_at.is_none() => audio_at = Some(started.elapsed()),
                    Some("done") => done_at = Some(started.elapsed()),
                    _ => {}
                }
            }
        }
        let (Some(audio_at), Some(done_at)) = (audio_at, done_at) else {
            anyhow::bail!("the voice turn ended without audio or done");
        };
        // The same turn through a strictly sequential pipeline: each
        // sentence is spoken after the previous one, once its text is there.
        let mut spoken = Duration::ZERO;
        for (i, at) in text_at.iter().enumerate() {
            spoken = spoken.max(*at) + TTS_LATENCY;
            if i == 0 {
                seq_first.push(spoken);
            }
        }
        seq_done.push(spoken);
        first_audio.push(audio_at);
        done.push(done_at);
    }
    let median = |mut v: Vec<Duration>| {
        v.sort();
        v[v.len() / 2].as_secs_f64() * 1000.0
    };
    println!(
        "voice turn: 5 sentences, speech {} ms a sentence, median of {turns} turns",
        TTS_LATENCY.as_millis()
    );
    println!("{:<28} {:>14} {:>10}", "", "first audio ms", "done ms");
    println!(
        "{:<28} {:>14.0} {:>10.0}",
        "POST /agent/voice",
        median(first_audio),
        median(done)
    );
    println!(
        "{:<28} {:>14.0} {:>10.0}",
        "strictly sequential (model)",
        median(seq_first),
        median(seq_done)
    );
    app.shutdown().await;
    speech.stop().await;
    Ok(())
}
