//! `POST /agent/message`: reserve a unit of today's quota, make sure the
//! agent is there, ask the gateway, record the turn — and give the unit back
//! if the gateway failed.

use heyclaw_domain::{Action, AgentId, UserId, extract_actions};
use heyclaw_gateway_client::{ChatRequest, GatewayError};
use heyclaw_persistence::{
    PersistenceError, PgPool, RedisStore,
    models::NewChatMessage,
    queries::{
        accounts, assistants,
        turns::{TurnRecord, TurnUsage},
    },
};

use crate::{AppError, agents::Agents, quota, recorder::TurnRecorder};

/// Longest message accepted, in characters.
pub const MAX_MESSAGE_CHARS: usize = 8000;

#[derive(Debug, Clone)]
pub struct Reply {
    pub response: String,
    pub actions: Vec<Action>,
    pub messages_used: u64,
    pub messages_limit: u64,
    pub plan: String,
}

#[derive(Clone)]
pub struct Messaging {
    pg: PgPool,
    redis: RedisStore,
    agents: Agents,
    recorder: TurnRecorder,
}

/// The gateway session of a user's conversation: the same key continues
/// the same transcript on the gateway.
pub fn session_key(user: UserId) -> String {
    format!("heyclaw-user-{user}")
}

impl Messaging {
    pub fn new(pg: PgPool, redis: RedisStore, agents: Agents, recorder: TurnRecorder) -> Self {
        Self {
            pg,
            redis,
            agents,
            recorder,
        }
    }

    pub async fn send(&self, user: UserId, text: &str) -> Result<Reply, AppError> {
        let text = text.trim();
        if text.is_empty() {
            return Err(AppError::invalid("Message text is required"));
        }
        if text.chars().count() > MAX_MESSAGE_CHARS {
            return Err(AppError::invalid(format!(
                "Message is too long ({MAX_MESSAGE_CHARS} characters at most)"
            )));
        }
        let (assistant, plan, limits) = {
            let mut conn = self.pg.get().await.map_err(PersistenceError::from)?;
            assistants::with_plan(&mut conn, user.0)
                .await?
                .ok_or(AppError::NotFound("No assistant for this account"))?
        };
        let limit = u64::try_from(limits.daily_text_messages).unwrap_or(0);
        let reservation = quota::reserve_text(&self.redis, &self.pg, user, limit).await?;

        let reply = match self.ask(user, &assistant, text).await {
            Ok(reply) => reply,
            Err(err) => {
                reservation.release(&self.redis).await;
                return Err(err);
            }
        };
        let parsed = extract_actions(&reply);
        self.record(user, reservation.day, text, &parsed.text);
        Ok(Reply {
            response: parsed.text,
            actions: parsed.actions,
            messages_used: reservation.used,
            messages_limit: reservation.limit,
            plan,
        })
    }

    /// The gateway turn. An agent the gateway does not know yet (brand-new,
    /// or lost from the roster) is provisioned again and waited for, then
    /// asked once more.
    async fn ask(
        &self,
        user: UserId,
        assistant: &heyclaw_persistence::models::Assistant,
        text: &str,
    ) -> Result<String, AppError> {
        let agent = AgentId::for_user(user);
        let session = session_key(user);
        let request = ChatRequest {
            agent_id: agent.as_str(),
            session: &session,
            text,
        };
        if assistant.status != assistants::STATUS_ACTIVE {
            self.provision(user).await?;
        }
        match self.agents.gateway().chat(request).await {
            Err(GatewayError::UnknownAgent(_)) => {
                tracing::info!(%agent, "gateway does not know the agent yet; provisioning and waiting");
                self.provision(user).await?;
                if !self.agents.wait_until_served(&agent).await {
                    return Err(AppError::Unavailable(
                        "Your assistant is still starting. Please try again in a few seconds."
                            .to_owned(),
                    ));
                }
                self.agents
                    .gateway()
                    .chat(request)
                    .await
                    .map_err(gateway_error)
            }
            other => other.map_err(gateway_error),
        }
    }

    async fn provision(&self, user: UserId) -> Result<(), AppError> {
        let name = {
            let mut conn = self.pg.get().await.map_err(PersistenceError::from)?;
            accounts::find_by_id(&mut conn, user.0)
                .await?
                .and_then(|u| u.name)
        };
        self.agents
            .provision_user(user, name.as_deref())
            .await
            .map_err(|err| {
                tracing::error!(%user, error = %err, "provisioning before a message failed");
                AppError::Unavailable(
                    "Your assistant is not available right now. Please try again shortly."
                        .to_owned(),
                )
            })
    }

    /// Queues the answered turn for recording (see [`crate::recorder`]).
    fn record(&self, user: UserId, day: chrono::NaiveDate, text: &str, reply: &str) {
        let message = |role: &str, content: &str| NewChatMessage {
            client_id: None,
            role: role.to_owned(),
            content: content.to_owned(),
            is_voice: false,
        };
        self.recorder.record(TurnRecord {
            user_id: user.0,
            day,
            usage: TurnUsage {
                text_messages: 1,
                ..TurnUsage::default()
            },
            messages: vec![message("user", text), message("assistant", reply)],
        });
    }
}

pub(crate) fn gateway_error(err: GatewayError) -> AppError {
    tracing::warn!(error = %err, "gateway call failed");
    match err {
        GatewayError::Timeout => AppError::GatewayTimeout,
        GatewayError::Unavailable(_) | GatewayError::UnknownAgent(_) => AppError::Unavailable(
            "Your assistant is not available right now. Please try again shortly.".to_owned(),
        ),
        GatewayError::Unauthorized | GatewayError::Upstream { .. } => AppError::GatewayFailed,
    }
}
