//! The OpenAI chat-completions wire format, as much of it as we use.

use serde::{Deserialize, Serialize};

#[derive(Serialize)]
pub struct CompletionRequest<'a> {
    pub model: &'a str,
    pub messages: Vec<Message<'a>>,
    /// A stable session key: same `user` → same gateway conversation.
    pub user: &'a str,
    pub stream: bool,
}

#[derive(Serialize)]
pub struct Message<'a> {
    pub role: &'a str,
    pub content: &'a str,
}

#[derive(Deserialize)]
pub struct Completion {
    pub choices: Vec<Choice>,
}

#[derive(Deserialize)]
pub struct Choice {
    pub message: Option<ChoiceMessage>,
}

#[derive(Deserialize)]
pub struct ChoiceMessage {
    pub content: Option<String>,
}

#[derive(Deserialize)]
pub struct Chunk {
    #[serde(default)]
    pub choices: Vec<ChunkChoice>,
    pub error: Option<ErrorBody>,
}

#[derive(Deserialize)]
pub struct ChunkChoice {
    pub delta: Option<Delta>,
}

#[derive(Deserialize)]
pub struct Delta {
    pub content: Option<String>,
}

#[derive(Deserialize)]
pub struct ErrorEnvelope {
    pub error: ErrorBody,
}

#[derive(Deserialize, Debug)]
pub struct ErrorBody {
    #[serde(default)]
    pub message: String,
}

#[derive(Deserialize)]
pub struct ModelList {
    #[serde(default)]
    pub data: Vec<ModelEntry>,
}

#[derive(Deserialize)]
pub struct ModelEntry {
    pub id: String,
}
