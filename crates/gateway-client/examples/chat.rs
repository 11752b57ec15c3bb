//! Chats with one agent of an OpenClaw gateway, streaming the reply to
//! standard output as it arrives.
//!
//! ```text
//! export OPENCLAW_GATEWAY_TOKEN=...        # the gateway's auth token
//! cargo run -p heyclaw-gateway-client --example chat -- --agent slot-0 "hi"
//! cargo run -p heyclaw-gateway-client --example chat -- \
//!     --url http://127.0.0.1:18789 --token "$TOKEN" --agent slot-0 --session demo "What did I just say?"
//! ```
//!
//! `--url` defaults to `OPENCLAW_GATEWAY_URL`, else `http://127.0.0.1:18789`;
//! `--token` to `OPENCLAW_GATEWAY_TOKEN`. The same `--session` continues the
//! same conversation. `--no-stream` waits for the whole reply instead.

use std::{
    io::Write,
    process::ExitCode,
    time::{Duration, Instant},
};

use clap::Parser;
use futures_util::StreamExt;
use heyclaw_gateway_client::{ChatRequest, GatewayClient, GatewayConfig, GatewayError};
use secrecy::SecretString;

/// Chat with an agent of an OpenClaw gateway.
#[derive(Parser)]
struct Args {
    /// The gateway's origin.
    #[arg(
        long,
        env = "OPENCLAW_GATEWAY_URL",
        default_value = "http://127.0.0.1:18789"
    )]
    url: String,
    /// The gateway's auth token.
    #[arg(long, env = "OPENCLAW_GATEWAY_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// The agent to talk to (a slot agent: slot-0, slot-1, …).
    #[arg(long)]
    agent: String,
    /// The conversation key: the same key continues the same conversation.
    #[arg(long, default_value = "example")]
    session: String,
    /// The longest wait for the first text (or, with --no-stream, the
    /// whole reply), in seconds.
    #[arg(long, default_value_t = 120)]
    timeout: u64,
    /// Wait for the whole reply instead of streaming it.
    #[arg(long)]
    no_stream: bool,
    /// What to say.
    #[arg(required = true)]
    text: Vec<String>,
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    let Some(token) = args.token.filter(|token| !token.trim().is_empty()) else {
        eprintln!("error: no gateway token: pass --token <TOKEN> or set OPENCLAW_GATEWAY_TOKEN");
        return ExitCode::FAILURE;
    };
    let text = args.text.join(" ");
    let timeout = Duration::from_secs(args.timeout.max(1));
    let client = match GatewayClient::new(GatewayConfig {
        base_url: args.url.clone(),
        token: SecretString::from(token),
        connect_timeout: Duration::from_secs(5),
        request_timeout: timeout,
        first_token_timeout: timeout,
        idle_timeout: Duration::from_secs(60),
    }) {
        Ok(client) => client,
        Err(err) => return fail(&err, &args.url, &args.agent),
    };
    let turn = ChatRequest {
        agent_id: &args.agent,
        session: &args.session,
        text: &text,
        history: &[],
    };
    let started = Instant::now();
    let result = if args.no_stream {
        client.chat(turn).await.map(|reply| println!("{reply}"))
    } else {
        stream(&client, turn).await
    };
    match result {
        Ok(()) => {
            eprintln!("({:.1}s)", started.elapsed().as_secs_f64());
            ExitCode::SUCCESS
        }
        Err(err) => fail(&err, &args.url, &args.agent),
    }
}

/// Prints each delta as it arrives.
async fn stream(client: &GatewayClient, turn: ChatRequest<'_>) -> Result<(), GatewayError> {
    let mut deltas = client.chat_stream(turn).await?;
    let mut stdout = std::io::stdout();
    while let Some(delta) = deltas.next().await {
        let delta = delta.inspect_err(|_| println!())?;
        // A closed stdout (`| head`) just ends the output early.
        let _ = write!(stdout, "{delta}").and_then(|()| stdout.flush());
    }
    println!();
    Ok(())
}

fn fail(err: &GatewayError, url: &str, agent: &str) -> ExitCode {
    eprintln!("error ({}): {err}", err.kind());
    let hint = match err {
        GatewayError::Unauthorized => {
            "check --token / OPENCLAW_GATEWAY_TOKEN against the gateway's auth token".to_owned()
        }
        GatewayError::UnknownAgent(_) => {
            format!(
                "the gateway at {url} has no agent {agent:?}; slot agents are slot-0, slot-1, …"
            )
        }
        GatewayError::Unavailable(_) => {
            format!("is a gateway running at {url}? (--url / OPENCLAW_GATEWAY_URL)")
        }
        GatewayError::Timeout => {
            "the gateway or its model is slow; try a larger --timeout".to_owned()
        }
        GatewayError::Upstream { .. } => "the gateway or the model behind it failed".to_owned(),
    };
    eprintln!("hint: {hint}");
    ExitCode::FAILURE
}
