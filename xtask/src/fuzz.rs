//! `cargo xtask fuzz`: Schemathesis (PyPI, pinned, in a venv under
//! ~/.cache/heyclaw/tools) fuzzes a running server from its own
//! `/openapi.json`: a fixed number of examples per operation, generated
//! deterministically, so a run is bounded and repeatable. It fails on any answer ≥ 500
//! and on any answer the document does not describe (status, content type,
//! body schema). The server is the real one (in-process, port 0) with its own
//! database and Redis keyspace, configured like a deployment: the gateway
//! stand-in and its keeper, the speech stand-in for text-to-speech and
//! transcription.

use std::{path::PathBuf, process::Command};

use anyhow::{Context, Result};
use heyclaw_test_support::{
    TestApp,
    speech::{SPEECH_KEY, SpeechStandIn},
};

const SCHEMATHESIS: &str = "schemathesis==4.32.5";
const EXAMPLES_PER_OPERATION: &str = "25";

/// Operations that end the fuzzer's own session (they have tests of their own).
const EXCLUDED_OPERATIONS: &[&str] = &["delete_me", "logout", "delete_confirm"];

pub fn run() -> Result<()> {
    crate::services::ensure_running()?;
    let schemathesis = ensure_schemathesis()?;
    crate::runtime()?.block_on(async {
        let speech = SpeechStandIn::start().await;
        let app = TestApp::spawn_with(&[
            ("OPENAI_API_KEY", SPEECH_KEY),
            ("OPENAI_BASE_URL", &speech.openai_url),
        ])
        .await;
        let signup = app.signup("fuzzer@example.com", "fuzzpass123").await;
        let token = signup["access_token"]
            .as_str()
            .context("signup gave no token")?
            .to_owned();
        let mut command = Command::new(&schemathesis);
        command.args([
            "run",
            &app.url("/openapi.json"),
            "--checks",
            "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance",
            "--max-examples",
            EXAMPLES_PER_OPERATION,
            // The same cases every run (stronger than a fixed seed).
            "--generation-deterministic",
            "--workers",
            "2",
            "--no-color",
            "--header",
            &format!("Authorization: Bearer {token}"),
        ]);
        for operation in EXCLUDED_OPERATIONS {
            command.args(["--exclude-operation-id", operation]);
        }
        println!("$ schemathesis run {} (examples {EXAMPLES_PER_OPERATION}, deterministic)", app.url("/openapi.json"));
        let status = tokio::task::spawn_blocking(move || command.status())
            .await?
            .context("running schemathesis")?;
        app.shutdown().await;
        speech.stop().await;
        anyhow::ensure!(status.success(), "schemathesis found answers the document does not allow");
        Ok(())
    })
}

/// The pinned schemathesis in its own venv, installed once per machine.
fn ensure_schemathesis() -> Result<PathBuf> {
    let venv = heyclaw_test_support::real_gateway::cache_dir().join("tools/schemathesis-4.32.5");
    let binary = venv.join("bin/schemathesis");
    if binary.exists() {
        return Ok(binary);
    }
    println!(
        "installing {SCHEMATHESIS} into {} (once per machine)",
        venv.display()
    );
    let venv_arg = venv.to_string_lossy().into_owned();
    crate::run_cmd("python3", &["-m", "venv", &venv_arg])?;
    let pip = venv.join("bin/pip").to_string_lossy().into_owned();
    crate::run_cmd(&pip, &["install", "--quiet", SCHEMATHESIS])?;
    Ok(binary)
}
