//! The gateway client against the stand-in over real HTTP: JSON and SSE
//! replies, typed errors, the one retry on the transient 500.

use std::{path::PathBuf, time::Duration};

use futures_util::StreamExt;
use heyclaw_gateway_client::{ChatRequest, GatewayClient, GatewayConfig, GatewayError};
use heyclaw_test_support::GatewayStandIn;
use secrecy::SecretString;

const TOKEN: &str = "stand-in-token-0123456789";
const AGENT: &str = "agent-00000000-0000-0000-0000-0000000000aa";

async fn stand_in() -> (GatewayStandIn, PathBuf) {
    let dir = std::env::temp_dir().join(format!("heyclaw-gw-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let roster = dir.join("heyclaw-agents.json");
    std::fs::write(&roster, format!(r#"{{"{AGENT}": {{"workspace": "/w"}}}}"#)).unwrap();
    (GatewayStandIn::start(TOKEN, roster).await, dir)
}

fn client(url: &str, token: &str) -> GatewayClient {
    GatewayClient::new(GatewayConfig {
        base_url: url.to_owned(),
        token: SecretString::from(token.to_owned()),
        connect_timeout: Duration::from_secs(2),
        request_timeout: Duration::from_secs(5),
        first_token_timeout: Duration::from_secs(5),
        idle_timeout: Duration::from_secs(5),
    })
    .unwrap()
}

fn request<'a>(agent: &'a str, text: &'a str) -> ChatRequest<'a> {
    ChatRequest {
        agent_id: agent,
        session: "heyclaw-user-test",
        text,
        history: &[],
    }
}

#[tokio::test]
async fn streams_deltas_that_join_to_the_reply() {
    let (gateway, dir) = stand_in().await;
    let client = client(&gateway.url, TOKEN);
    let stream = client
        .chat_stream(request(AGENT, "tell me a story"))
        .await
        .unwrap();
    let deltas: Vec<String> = stream.map(|d| d.unwrap()).collect().await;
    assert!(deltas.len() > 3, "{deltas:?}");
    assert_eq!(deltas.concat(), "echo[1]: tell me a story");
    let json = client.chat(request(AGENT, "again")).await.unwrap();
    assert_eq!(
        json, "echo[2]: again",
        "streamed and JSON turns share the session"
    );
    assert!(gateway.turns()[0].stream && !gateway.turns()[1].stream);
    gateway.stop().await;
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
async fn errors_are_typed() {
    let (gateway, dir) = stand_in().await;
    let unknown = "agent-00000000-0000-0000-0000-0000000000bb";
    assert_eq!(
        client(&gateway.url, TOKEN)
            .chat(request(unknown, "hi"))
            .await,
        Err(GatewayError::UnknownAgent(unknown.to_owned()))
    );
    assert!(matches!(
        client(&gateway.url, TOKEN)
            .chat_stream(request(unknown, "hi"))
            .await,
        Err(GatewayError::UnknownAgent(_))
    ));
    assert_eq!(
        client(&gateway.url, "wrong-token")
            .chat(request(AGENT, "hi"))
            .await,
        Err(GatewayError::Unauthorized)
    );
    gateway.fail_next(2);
    assert!(matches!(
        client(&gateway.url, TOKEN).chat(request(AGENT, "hi")).await,
        Err(GatewayError::Upstream { status: 500, .. })
    ));
    gateway.fail_next(1);
    assert!(
        client(&gateway.url, TOKEN)
            .chat_stream(request(AGENT, "hi"))
            .await
            .is_ok(),
        "one retry before streaming"
    );
    let models = client(&gateway.url, TOKEN).model_ids().await.unwrap();
    assert!(models.contains(&format!("openclaw/{AGENT}")));
    gateway.stop().await;
    match client(&gateway.url, TOKEN).chat(request(AGENT, "hi")).await {
        Err(GatewayError::Unavailable(why)) => assert!(
            why.to_lowercase().contains("connection refused"),
            "the cause is told, not only 'error sending request': {why}"
        ),
        other => panic!("{other:?}"),
    }
    let _ = std::fs::remove_dir_all(dir);
}
