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

/// The answer to a text message.
#[derive(Debug, Clone)]
pub struct Reply {
    /// The agent's reply without its action markers, followed by any notes
    /// about automations that could not be set up.
    pub response: String,
    /// The reply's actions for the app (automation markers are carried out
    /// here and not included).
    pub actions: Vec<Action>,
    /// Text messages counted today, this one and any in flight included.
    pub messages_used: u64,
    /// The plan's daily text-message limit.
    pub messages_limit: u64,
    /// The plan in force.
    pub plan: String,
}

/// The text message path. Cheap to clone.
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
    /// The message path over the given storage and services; `cache` saves
    /// the Postgres round trip for the user's assistant and plan.
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

    /// Sends one text message to the user's agent and returns its reply.
    ///
    /// In order: the text is trimmed and checked; the assistant and plan
    /// come from the [`AccessCache`] (or Postgres); one unit of today's
    /// text-message quota is reserved; the agent answers ([`Agents::chat`]:
    /// it may have to be woken first, which can take up to the readiness
    /// timeout); automation markers in the reply are carried out; the turn
    /// (usage and both messages, appended to the latest chat session) is
    /// queued for the write-behind [`TurnRecorder`]. If the agent fails,
    /// the unit is given back. Dropping the future while the agent answers
    /// cancels the gateway call, but the unit stays counted (and nothing is
    /// recorded).
    ///
    /// # Errors
    ///
    /// [`AppError::Invalid`] for an empty or too long text
    /// ([`MAX_MESSAGE_CHARS`]); [`AppError::NotFound`] when the user has no
    /// assistant; [`AppError::RateLimited`] at the daily limit;
    /// [`AppError::Unavailable`], [`AppError::GatewayTimeout`] or
    /// [`AppError::GatewayFailed`] when the agent cannot answer (nothing is
    /// charged then); [`AppError::Storage`].
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
