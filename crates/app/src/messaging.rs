//! `POST /agent/message`: reserve a unit of today's quota, make sure the
//! agent is there, ask the gateway, record the turn — and give the unit back
//! if the gateway failed.

use heyclaw_domain::{Action, UserId, extract_actions};
use heyclaw_persistence::{
    PersistenceError, PgPool, RedisStore,
    models::NewChatMessage,
    queries::{
        assistants,
        turns::{TurnRecord, TurnUsage},
    },
};

use crate::{
    AppError,
    access_cache::AccessCache,
    agents::{Agents, Conversation},
    automation::{Automations, with_notes},
    quota::{self, Meter},
    recorder::TurnRecorder,
};

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
    automations: Automations,
    cache: AccessCache,
}

impl Messaging {
    pub fn new(
        pg: PgPool,
        redis: RedisStore,
        agents: Agents,
        recorder: TurnRecorder,
        automations: Automations,
        cache: AccessCache,
    ) -> Self {
        Self {
            pg,
            redis,
            agents,
            recorder,
            automations,
            cache,
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
        let (assistant, plan, limits) = self
            .cache
            .message_context(user.0, async {
                let mut conn = self.pg.get().await.map_err(PersistenceError::from)?;
                assistants::with_plan(&mut conn, user.0, chrono::Utc::now()).await
            })
            .await?
            .ok_or(AppError::NotFound("No assistant for this account"))?;
        let limit = u64::try_from(limits.daily_text_messages).unwrap_or(0);
        let reservation =
            quota::reserve(&self.redis, &self.pg, user, Meter::TextMessages, 1, limit).await?;

        let reply = match self.agents.chat(&assistant, Conversation::Chat, text).await {
            Ok(reply) => reply,
            Err(err) => {
                reservation.release(&self.redis).await;
                return Err(err);
            }
        };
        let parsed = extract_actions(&reply);
        let (actions, notes) = self.automations.apply_markers(user, parsed.actions).await;
        let response = with_notes(parsed.text, &notes);
        self.record(user, reservation.day, text, &response);
        Ok(Reply {
            response,
            actions,
            messages_used: reservation.used,
            messages_limit: reservation.limit,
            plan,
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
