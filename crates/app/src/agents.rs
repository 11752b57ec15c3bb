//! Users' agents on the gateway shards (docs/gateway-scale.md).
//!
//! Every user's agent lives on one shard (`assistants.gateway_id`, chosen
//! at sign-up: the shard with the fewest agents per slot). It is *resident*
//! while bound to one of the shard's slot agents, and hibernated otherwise
//! (its files archived in Postgres). A turn first makes the agent resident:
//! it renews the user's binding, or claims a free slot — or the least
//! recently used one whose lease has passed — and waits for the shard's
//! keeper to move the files in (a wake). The binding's lease is renewed
//! while a turn runs, so a slot is never taken from a turn in flight.
//!
//! Each binding is a new gateway session (the slot's OpenClaw state stays
//! with the slot); its first chat turn carries the last messages of the
//! conversation, so the conversation continues after a wake.

use std::{
    collections::{HashMap, HashSet},
    sync::{Arc, Mutex},
    time::Duration,
};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use futures_util::StreamExt;
use heyclaw_agent_provisioning::slot_id;
use heyclaw_domain::{AgentId, UserId, Voice, clean_name};
use heyclaw_gateway_client::{ChatRequest, GatewayClient, GatewayError, PriorMessage, TextStream};
use heyclaw_persistence::{
    PersistenceError, PgPool, RedisStore,
    models::Assistant,
    queries::{
        assistants::{self, STATUS_ACTIVE, STATUS_HIBERNATED},
        chat,
        slots::{self, Binding, Claim, STATE_READY},
    },
};
use uuid::Uuid;

use crate::{
    AppError,
    clock::SharedClock,
    provisioning::{AgentLifecycle, ProvisioningError},
    quota,
    recorder::message_count_with_unrecorded,
};

/// One gateway shard as this API reaches it.
#[derive(Clone)]
pub struct Shard {
    /// The shard's id, as its keeper announces it (`gateway_shards.id`,
    /// `assistants.gateway_id`).
    pub id: String,
    /// The client for the shard's gateway.
    pub client: GatewayClient,
}

/// How [`Agents`] places and wakes agents.
#[derive(Clone)]
pub struct AgentsConfig {
    /// The shards this API serves; new agents go to the one with the most
    /// room among those whose keeper is alive (the first when none is).
    pub shards: Vec<Shard>,
    /// How long a turn waits for its agent to wake: for a slot to free up
    /// and the keeper to make it ready (together), and, if the gateway does
    /// not know the slot's agent yet, as long again for it to serve it.
    pub readiness_timeout: Duration,
    /// How long a binding is kept for a turn before it must be renewed.
    pub lease: Duration,
    /// A shard whose keeper has not announced itself for this long gets no
    /// new agents.
    pub shard_alive_within: Duration,
    /// Messages of the conversation sent with a binding's first turn.
    pub history_messages: i64,
}

/// What `GET /agent/status` reports.
#[derive(Debug, Clone)]
pub struct AgentStatus {
    /// Its `message_count` includes answered turns not yet recorded, so a
    /// client sees its own latest message (read-your-writes).
    pub assistant: Assistant,
    /// Bound to a ready slot right now.
    pub resident: bool,
}

/// What `POST /agent/provision` had to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EnsureOutcome {
    /// The agent was resident and served.
    Ok,
    /// The agent had never been placed on a shard (or placing had failed).
    Created,
    /// The agent was hibernated and is resident again.
    Resumed,
    /// The agent was active in the database but its slot was gone.
    Recreated,
}

impl EnsureOutcome {
    /// The outcome as the API reports it: `ok`, `created`, `resumed` or
    /// `recreated`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::Created => "created",
            Self::Resumed => "resumed",
            Self::Recreated => "recreated",
        }
    }
}

/// Which gateway session a turn belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Conversation {
    /// The user's chat (text and voice).
    Chat,
    /// The runs of one automation job: a session of their own, so runs do
    /// not fill the chat.
    Automation(Uuid),
}

/// A user's binding as this replica last saw it.
#[derive(Debug, Clone)]
struct Residence {
    shard: String,
    slot: i32,
    generation: i64,
    lease_until: DateTime<Utc>,
    primed: bool,
    /// A renewal ahead of need is running ([`Agents::renew_ahead`]).
    renewing: bool,
}

impl Residence {
    /// The same binding: one generation of one slot.
    fn is(&self, shard: &str, slot: i32, generation: i64) -> bool {
        self.shard == shard && self.slot == slot && self.generation == generation
    }
}

impl From<Binding> for Residence {
    fn from(binding: Binding) -> Self {
        Self {
            shard: binding.gateway_id,
            slot: binding.slot,
            generation: binding.generation,
            lease_until: binding.lease_until,
            primed: binding.primed,
            renewing: false,
        }
    }
}

/// Users' agents on the gateway shards: placement, waking and chat turns.
/// Cheap to clone (one shared state); build one per process with
/// [`Agents::new`].
///
/// Each replica remembers the bindings it holds a lease on, so a turn
/// whose binding has more than half its lease left goes straight to the
/// gateway without asking the database; past a third of the lease the
/// renewal runs beside the turn, not before it.
#[derive(Clone)]
pub struct Agents {
    inner: Arc<Inner>,
}

struct Inner {
    pg: PgPool,
    shards: HashMap<String, GatewayClient>,
    shard_order: Vec<String>,
    clock: SharedClock,
    config: AgentsConfig,
    /// Bindings this replica holds a lease on, by user.
    residences: Mutex<HashMap<Uuid, Residence>>,
    /// Users being woken ahead of their first turn.
    prewaking: Mutex<HashSet<Uuid>>,
}

impl Agents {
    /// Agents over `pg` and the shards of `config`; leases and shard
    /// liveness are judged by `clock`. Starts nothing.
    pub fn new(pg: PgPool, clock: SharedClock, config: AgentsConfig) -> Self {
        let shard_order = config.shards.iter().map(|s| s.id.clone()).collect();
        let shards = config
            .shards
            .iter()
            .map(|s| (s.id.clone(), s.client.clone()))
            .collect();
        Self {
            inner: Arc::new(Inner {
                pg,
                shards,
                shard_order,
                clock,
                config,
                residences: Mutex::default(),
                prewaking: Mutex::default(),
            }),
        }
    }

    /// The shards this API serves, in configuration order.
    pub fn shard_ids(&self) -> &[String] {
        &self.inner.shard_order
    }

    async fn assistant_of(&self, user: UserId) -> Result<Assistant, AppError> {
        let mut conn = self.inner.pg.get().await.map_err(PersistenceError::from)?;
        assistants::for_user(&mut conn, user.0)
            .await?
            .ok_or(AppError::NotFound("No assistant for this account"))
    }

    /// Puts the user's agent on the shard with the most room. Its files are
    /// made from the templates by the keeper when it first wakes.
    ///
    /// The shard is the one with the fewest agents per slot among this
    /// API's shards whose keeper announced itself within
    /// `shard_alive_within` (by the injected clock), else the first
    /// configured shard. Placements are serialised in Postgres, so a burst
    /// of sign-ups spreads. The assistant becomes `active` if it is bound to
    /// a slot, `hibernated` otherwise. Calling it again picks again: the
    /// agent may move (the database row only; a binding stays where it is).
    /// Returns the shard's id.
    ///
    /// # Errors
    ///
    /// [`AppError::Internal`] when no shard is configured;
    /// [`AppError::Storage`].
    pub async fn place(&self, user: UserId) -> Result<String, AppError> {
        let alive_since = self.inner.clock.now()
            - chrono::Duration::from_std(self.inner.config.shard_alive_within)
                .unwrap_or(chrono::Duration::MAX);
        let fallback = self
            .inner
            .shard_order
            .first()
            .ok_or_else(|| AppError::Internal("no gateway shard is configured".to_owned()))?;
        let mut conn = self.inner.pg.get().await.map_err(PersistenceError::from)?;
        let shard = slots::place(
            &mut conn,
            user.0,
            &self.inner.shard_order,
            alive_since,
            fallback,
        )
        .await?;
        assistants::mark_placed(&mut conn, user.0).await?;
        tracing::info!(%user, shard, "agent placed");
        Ok(shard)
    }

    /// A complete reply from the user's agent, waking it if need be.
    ///
    /// The agent is made resident first (see the module docs): this may
    /// wait for a slot and for the keeper, then for the gateway (up to the
    /// readiness timeout each). The binding's lease is renewed in the background while
    /// the call runs. The first [`Conversation::Chat`] turn of a binding
    /// carries the conversation's last messages. If the gateway does not
    /// know the slot's agent yet, this waits until it serves it and sends
    /// the turn once more. Dropping the future cancels the turn. Nothing is
    /// recorded and no quota is touched here.
    ///
    /// # Errors
    ///
    /// [`AppError::Unavailable`] when the agent cannot be woken in time
    /// (every slot leased, the keeper or the gateway slow), its shard is not
    /// one of this API's, or the gateway cannot be reached;
    /// [`AppError::GatewayTimeout`] when the gateway does not answer within
    /// its request timeout; [`AppError::GatewayFailed`] when it or the model
    /// fails; [`AppError::Storage`].
    pub async fn chat(
        &self,
        assistant: &Assistant,
        conversation: Conversation,
        text: &str,
    ) -> Result<String, AppError> {
        let turn = self.prepare_turn(assistant, conversation).await?;
        let request = turn.request(text);
        match timed(&turn.shard, turn.client.chat(request)).await {
            Err(GatewayError::UnknownAgent(_)) => {
                self.wait_until_served(&turn.shard, &turn.agent_id).await?;
                timed(&turn.shard, turn.client.chat(request))
                    .await
                    .map_err(gateway_error)
            }
            other => other.map_err(gateway_error),
        }
    }

    /// A streamed reply from the user's agent, waking it if need be. The
    /// binding stays leased until the stream is dropped.
    ///
    /// Waking, priming and the retry on an unknown agent are as for
    /// [`Agents::chat`]. The stream yields text deltas; a failure mid-stream
    /// (including the gateway's first-token and idle timeouts) is an item
    /// of the stream. Dropping the stream cancels the gateway call.
    ///
    /// # Errors
    ///
    /// As [`Agents::chat`], for everything up to the stream's opening.
    pub async fn chat_stream(
        &self,
        assistant: &Assistant,
        conversation: Conversation,
        text: &str,
    ) -> Result<TextStream, AppError> {
        let turn = self.prepare_turn(assistant, conversation).await?;
        let request = turn.request(text);
        let stream = match timed(&turn.shard, turn.client.chat_stream(request)).await {
            Err(GatewayError::UnknownAgent(_)) => {
                self.wait_until_served(&turn.shard, &turn.agent_id).await?;
                timed(&turn.shard, turn.client.chat_stream(request))
                    .await
                    .map_err(gateway_error)?
            }
            other => other.map_err(gateway_error)?,
        };
        let lease = turn.lease;
        Ok(Box::pin(stream.map(move |item| {
            let _held = &lease;
            item
        })))
    }

    /// Makes the user's agent resident and describes the turn's request.
    async fn prepare_turn(
        &self,
        assistant: &Assistant,
        conversation: Conversation,
    ) -> Result<Turn, AppError> {
        let user = UserId(assistant.user_id);
        let residence = self.residence(user, &assistant.gateway_id).await?;
        let client = self.client(&residence.shard)?;
        let history = match conversation {
            Conversation::Chat if !residence.primed => self.take_priming(user, &residence).await,
            _ => Vec::new(),
        };
        let session = match conversation {
            Conversation::Chat => format!("heyclaw-user-{user}-g{}", residence.generation),
            Conversation::Automation(job) => {
                format!("heyclaw-automation-{job}-g{}", residence.generation)
            }
        };
        let lease = self.hold_lease(user);
        Ok(Turn {
            agent_id: slot_id(u32::try_from(residence.slot).unwrap_or_default()),
            shard: residence.shard,
            client,
            session,
            history,
            lease,
        })
    }

    fn client(&self, shard: &str) -> Result<GatewayClient, AppError> {
        self.inner.shards.get(shard).cloned().ok_or_else(|| {
            tracing::error!(
                shard,
                "an agent lives on a shard this API is not configured for"
            );
            AppError::Unavailable(
                "Your assistant is not available right now. Please try again shortly.".to_owned(),
            )
        })
    }

    /// The user's binding, renewed if its lease is past its middle, or a
    /// new one (a wake) when they have none; waits until it is ready.
    async fn residence(&self, user: UserId, home_shard: &str) -> Result<Residence, AppError> {
        let now = self.inner.clock.now();
        if let Some(held) = self.held(user, now) {
            return Ok(held);
        }
        self.renewed_residence(user, home_shard, now).await
    }

    /// [`Self::residence`] from the database, whatever this replica holds.
    async fn renewed_residence(
        &self,
        user: UserId,
        home_shard: &str,
        mut now: DateTime<Utc>,
    ) -> Result<Residence, AppError> {
        let started = tokio::time::Instant::now();
        let deadline = started + self.inner.config.readiness_timeout;
        let mut lease_until = now + self.lease();
        let mut home = home_shard.to_owned();
        loop {
            let mut conn = self.inner.pg.get().await.map_err(PersistenceError::from)?;
            if let Some(binding) = slots::renew(&mut conn, user.0, now, lease_until).await? {
                drop(conn);
                return self.until_ready(user, binding, deadline).await;
            }
            if !self.inner.shards.contains_key(&home) {
                drop(conn);
                home = self.place(user).await?;
                continue;
            }
            match slots::claim(&mut conn, user.0, &home, now, lease_until).await? {
                Claim::Bound(binding) => {
                    drop(conn);
                    tracing::info!(%user, shard = home, slot = binding.slot, "waking agent");
                    let ready = self.until_ready(user, binding, deadline).await;
                    metrics::histogram!("heyclaw_agent_wake_seconds", "shard" => home.clone())
                        .record(started.elapsed().as_secs_f64());
                    return ready;
                }
                Claim::AlreadyBound => continue,
                // Every slot is leased: one frees up when a lease passes.
                Claim::Full if tokio::time::Instant::now() < deadline => {
                    drop(conn);
                    tokio::time::sleep(Duration::from_millis(250)).await;
                    now = self.inner.clock.now();
                    lease_until = now + self.lease();
                }
                Claim::Full => {
                    metrics::counter!("heyclaw_agent_wake_refused_total", "shard" => home.clone())
                        .increment(1);
                    return Err(AppError::Unavailable(
                        "Every assistant on this server is busy right now. Please try again in a minute."
                            .to_owned(),
                    ));
                }
            }
        }
    }

    /// A binding this replica holds with more than half its lease left.
    /// Once a third of the lease is gone it also starts a renewal in the
    /// background ([`Self::renew_ahead`]), one at a time.
    fn held(&self, user: UserId, now: DateTime<Utc>) -> Option<Residence> {
        let lease = chrono::Duration::from_std(self.lease()).unwrap_or_default();
        let (held, renew_ahead) = {
            let mut residences = self.inner.residences.lock().ok()?;
            let held = residences.get_mut(&user.0)?;
            let left = held.lease_until - now;
            if left <= lease / 2 {
                return None;
            }
            let renew_ahead = left <= lease * 2 / 3 && !held.renewing;
            held.renewing |= renew_ahead;
            (held.clone(), renew_ahead)
        };
        if renew_ahead {
            self.renew_ahead(user);
        }
        Some(held)
    }

    /// Renews the user's lease in the background, a third of the way
    /// through it ([`Self::held`]), so that a steady user's turns never
    /// wait on the renewal: done on the turn, it was a database round trip
    /// for one turn in `lease / 2` of each user — at 300 users and 2,000
    /// turns a second, 1 % of the turns, the whole of the message path's
    /// p99. If it has not succeeded by the lease's middle, the next turn
    /// renews (or wakes) as before.
    fn renew_ahead(&self, user: UserId) {
        let agents = self.clone();
        tokio::spawn(async move {
            let outcome = agents.extend_lease(user).await;
            if let Ok(mut residences) = agents.inner.residences.lock() {
                if let Ok(false) = outcome {
                    // The binding is gone (moved, account deleted): the
                    // next turn asks the database.
                    residences.remove(&user.0);
                } else if let Some(held) = residences.get_mut(&user.0) {
                    held.renewing = false;
                }
            }
            if let Err(err) = outcome {
                tracing::warn!(%user, error = %err, "lease renewal ahead of need failed");
            }
        });
    }

    /// Extends the user's lease to a whole one from now, in the database
    /// and in this replica's memory; `false` when the user is bound to no
    /// slot any more.
    async fn extend_lease(&self, user: UserId) -> Result<bool, PersistenceError> {
        let now = self.inner.clock.now();
        let until = now + self.lease();
        let mut conn = self.inner.pg.get().await.map_err(PersistenceError::from)?;
        let Some(binding) = slots::renew(&mut conn, user.0, now, until).await? else {
            return Ok(false);
        };
        drop(conn);
        if let Ok(mut residences) = self.inner.residences.lock()
            && let Some(held) = residences.get_mut(&user.0)
            && held.is(&binding.gateway_id, binding.slot, binding.generation)
        {
            held.lease_until = binding.lease_until;
        }
        Ok(true)
    }

    fn lease(&self) -> Duration {
        self.inner.config.lease
    }

    /// Polls until the keeper has made `binding` ready.
    async fn until_ready(
        &self,
        user: UserId,
        binding: Binding,
        deadline: tokio::time::Instant,
    ) -> Result<Residence, AppError> {
        let mut residence = Residence::from(binding.clone());
        if binding.state != STATE_READY {
            loop {
                if tokio::time::Instant::now() >= deadline {
                    return Err(AppError::Unavailable(
                        "Your assistant is waking up. Please try again in a few seconds."
                            .to_owned(),
                    ));
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
                let mut conn = self.inner.pg.get().await.map_err(PersistenceError::from)?;
                match slots::binding_state(
                    &mut conn,
                    &binding.gateway_id,
                    binding.slot,
                    binding.generation,
                )
                .await?
                .as_deref()
                {
                    Some(STATE_READY) => break,
                    Some(_) => {}
                    None => {
                        return Err(AppError::Unavailable(
                            "Your assistant is busy elsewhere. Please try again.".to_owned(),
                        ));
                    }
                }
            }
        }
        let mut residences = self
            .inner
            .residences
            .lock()
            .map_err(|_| AppError::Internal("residence cache poisoned".to_owned()))?;
        if let Some(previous) = residences.get(&user.0)
            && previous.is(&residence.shard, residence.slot, residence.generation)
        {
            residence.primed |= previous.primed;
        }
        let now = self.inner.clock.now();
        if residences.len() > 50_000 {
            residences.retain(|_, held| held.lease_until > now);
        }
        residences.insert(user.0, residence.clone());
        Ok(residence)
    }

    /// The last messages of the conversation, for the first chat turn of a
    /// binding (exactly one turn gets them). Best effort: a failure means a
    /// turn without context, not a failed turn.
    async fn take_priming(&self, user: UserId, residence: &Residence) -> Vec<PriorMessage> {
        if let Ok(mut residences) = self.inner.residences.lock()
            && let Some(held) = residences.get_mut(&user.0)
            && held.is(&residence.shard, residence.slot, residence.generation)
        {
            held.primed = true;
        }
        let loaded = async {
            let mut conn = self.inner.pg.get().await.map_err(PersistenceError::from)?;
            if !slots::take_priming(
                &mut conn,
                &residence.shard,
                residence.slot,
                residence.generation,
            )
            .await?
            {
                return Ok(Vec::new());
            }
            let recent =
                chat::recent_messages(&mut conn, user.0, self.inner.config.history_messages)
                    .await?;
            Ok::<_, PersistenceError>(
                recent
                    .map(|(_, messages)| messages)
                    .unwrap_or_default()
                    .into_iter()
                    .filter(|m| m.role == "user" || m.role == "assistant")
                    .map(|m| PriorMessage {
                        from_user: m.role == "user",
                        content: m.content,
                    })
                    .collect(),
            )
        };
        loaded.await.unwrap_or_else(|err| {
            tracing::warn!(%user, error = %err, "conversation context not loaded; turn goes without it");
            Vec::new()
        })
    }

    /// Renews the user's lease while the returned guard lives, so a long
    /// turn (a voice stream) keeps its slot.
    fn hold_lease(&self, user: UserId) -> LeaseGuard {
        let agents = self.clone();
        let every = self.lease() / 3;
        let task = tokio::spawn(async move {
            loop {
                tokio::time::sleep(every).await;
                match agents.extend_lease(user).await {
                    Ok(true) => {}
                    Ok(false) => return,
                    Err(err) => tracing::warn!(%user, error = %err, "lease renewal failed"),
                }
            }
        });
        LeaseGuard(task)
    }

    /// Wakes the user's agent in the background (the app just opened), so
    /// their first turn finds it ready. Does nothing if this replica holds
    /// the user's binding with half its lease left, or is already waking
    /// them. Returns at once; failures are logged (at debug level) only.
    /// Must be called within a Tokio runtime.
    pub fn prewake(&self, user: UserId) {
        if self.held(user, self.inner.clock.now()).is_some() {
            return;
        }
        let started = self
            .inner
            .prewaking
            .lock()
            .is_ok_and(|mut waking| waking.insert(user.0));
        if !started {
            return;
        }
        let agents = self.clone();
        tokio::spawn(async move {
            let woken = async {
                let assistant = agents.assistant_of(user).await?;
                agents.residence(user, &assistant.gateway_id).await
            };
            if let Err(err) = woken.await {
                tracing::debug!(%user, error = %err, "pre-wake did not finish");
            }
            if let Ok(mut waking) = agents.inner.prewaking.lock() {
                waking.remove(&user.0);
            }
        });
    }

    /// Makes sure the user's agent exists and the gateway serves it,
    /// placing or waking it if need be (`POST /agent/provision`). Returns
    /// what had to be done and the user's agent id (`agent-<uuid>`, not the
    /// slot's).
    ///
    /// It asks the database rather than this replica's memory, renews or
    /// claims a binding and waits (up to the readiness timeout, twice) for
    /// the keeper and for the gateway to list the slot's agent.
    ///
    /// # Errors
    ///
    /// [`AppError::NotFound`] when the user has no assistant;
    /// [`AppError::Unavailable`] when the agent cannot be woken or served in
    /// time; [`AppError::Internal`] when no shard is configured;
    /// [`AppError::Storage`].
    pub async fn ensure(&self, user: UserId) -> Result<(EnsureOutcome, AgentId), AppError> {
        let assistant = self.assistant_of(user).await?;
        let resident = self.resident(user).await?;
        let outcome = match (assistant.status.as_str(), resident) {
            (STATUS_ACTIVE, true) => EnsureOutcome::Ok,
            (STATUS_ACTIVE, false) => EnsureOutcome::Recreated,
            (STATUS_HIBERNATED, _) => EnsureOutcome::Resumed,
            _ => EnsureOutcome::Created,
        };
        let home = if outcome == EnsureOutcome::Created {
            self.place(user).await?
        } else {
            assistant.gateway_id.clone()
        };
        // An explicit request: ask the database, not this replica's memory.
        let residence = self
            .renewed_residence(user, &home, self.inner.clock.now())
            .await?;
        let agent_id = slot_id(u32::try_from(residence.slot).unwrap_or_default());
        self.wait_until_served(&residence.shard, &agent_id).await?;
        Ok((outcome, AgentId::for_user(user)))
    }

    async fn resident(&self, user: UserId) -> Result<bool, AppError> {
        let mut conn = self.inner.pg.get().await.map_err(PersistenceError::from)?;
        Ok(slots::binding_of(&mut conn, user.0)
            .await?
            .is_some_and(|binding| binding.state == STATE_READY))
    }

    /// Waits until the shard's gateway serves `agent_id` (it lists
    /// `openclaw/<id>` in `/v1/models` once its roster is loaded).
    async fn wait_until_served(&self, shard: &str, agent_id: &str) -> Result<(), AppError> {
        let client = self.client(shard)?;
        let wanted = format!("openclaw/{agent_id}");
        let deadline = tokio::time::Instant::now() + self.inner.config.readiness_timeout;
        loop {
            match client.model_ids().await {
                Ok(ids) if ids.contains(&wanted) => return Ok(()),
                Ok(_) => {}
                Err(err) => tracing::debug!(error = %err, "readiness poll failed"),
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(AppError::Unavailable(
                    "Your assistant is still starting. Please try again in a few seconds."
                        .to_owned(),
                ));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// What `GET /agent/status` reports: the assistant row, with a message
    /// count that includes answered turns not yet recorded, and whether the
    /// agent is bound to a ready slot now (from the database). `None` when
    /// the user has no assistant. Wakes nothing.
    ///
    /// # Errors
    ///
    /// [`AppError::Storage`] when Postgres or Redis fails.
    pub async fn status(
        &self,
        redis: &RedisStore,
        user: UserId,
    ) -> Result<Option<AgentStatus>, AppError> {
        let found = {
            let mut conn = self.inner.pg.get().await.map_err(PersistenceError::from)?;
            assistants::for_user_with_day(&mut conn, user.0, quota::today()).await?
        };
        let Some((mut assistant, recorded_today)) = found else {
            return Ok(None);
        };
        let live_today = quota::used_today(redis, user, quota::Meter::TextMessages).await?;
        assistant.message_count =
            message_count_with_unrecorded(assistant.message_count, recorded_today, live_today);
        let resident = self.resident(user).await?;
        Ok(Some(AgentStatus {
            assistant,
            resident,
        }))
    }

    /// Changes the display name and/or voice. At least one must be given.
    /// The name follows [`heyclaw_domain::clean_name`]; the voice must be one
    /// of [`Voice`]'s names. Only the assistant row changes (what the app
    /// shows, and the voice speech uses by default): nothing reaches the
    /// gateway or the agent's files.
    ///
    /// # Errors
    ///
    /// [`AppError::Invalid`] when neither is given, the name is empty or
    /// too long, or the voice is unknown; [`AppError::NotFound`] when the
    /// user has no assistant; [`AppError::Storage`].
    pub async fn update_personality(
        &self,
        user: UserId,
        display_name: Option<&str>,
        voice: Option<&str>,
    ) -> Result<(), AppError> {
        if display_name.is_none() && voice.is_none() {
            return Err(AppError::invalid("No updates provided"));
        }
        let display_name = match display_name {
            Some(raw) => Some(
                clean_name(Some(raw))
                    .map_err(|err| {
                        AppError::invalid(err.to_string().replace("Name", "Display name"))
                    })?
                    .ok_or_else(|| AppError::invalid("Display name cannot be empty"))?,
            ),
            None => None,
        };
        let voice = match voice {
            Some(raw) => Some(
                raw.parse::<Voice>()
                    .map_err(|err| AppError::invalid(err.to_string()))?,
            ),
            None => None,
        };
        let mut conn = self.inner.pg.get().await.map_err(PersistenceError::from)?;
        let updated = assistants::update_personality(
            &mut conn,
            user.0,
            display_name.as_deref(),
            voice.map(Voice::as_str),
        )
        .await?;
        if updated {
            Ok(())
        } else {
            Err(AppError::NotFound("No assistant for this account"))
        }
    }

    /// Whether the user's shard answers (`GET /health`, 5 s). False also
    /// when the shard is not one of this API's.
    ///
    /// # Errors
    ///
    /// [`AppError::NotFound`] when the user has no assistant;
    /// [`AppError::Storage`].
    pub async fn shard_healthy_for(&self, user: UserId) -> Result<bool, AppError> {
        let assistant = self.assistant_of(user).await?;
        Ok(match self.inner.shards.get(&assistant.gateway_id) {
            Some(client) => client.health(Duration::from_secs(5)).await.is_ok(),
            None => false,
        })
    }

    /// Each shard and whether its gateway answers `GET /health` within
    /// `timeout`, in configuration order; the shards are asked at once.
    pub async fn shard_health(&self, timeout: Duration) -> Vec<(String, bool)> {
        let checks = self.inner.shard_order.iter().map(|id| async move {
            let healthy = match self.inner.shards.get(id) {
                Some(client) => client.health(timeout).await.is_ok(),
                None => false,
            };
            (id.clone(), healthy)
        });
        futures_util::future::join_all(checks).await
    }
}

/// One prepared turn: where it goes and what it carries.
struct Turn {
    shard: String,
    client: GatewayClient,
    agent_id: String,
    session: String,
    history: Vec<PriorMessage>,
    lease: LeaseGuard,
}

impl Turn {
    fn request<'a>(&'a self, text: &'a str) -> ChatRequest<'a> {
        ChatRequest {
            agent_id: &self.agent_id,
            session: &self.session,
            text,
            history: &self.history,
        }
    }
}

/// Keeps a binding's lease renewed until dropped.
struct LeaseGuard(tokio::task::JoinHandle<()>);

impl Drop for LeaseGuard {
    fn drop(&mut self) {
        self.0.abort();
    }
}

#[async_trait]
impl AgentLifecycle for Agents {
    async fn provision(&self, user: UserId) -> Result<(), ProvisioningError> {
        self.place(user)
            .await
            .map_err(|err| ProvisioningError(err.to_string()))?;
        self.prewake(user);
        Ok(())
    }

    fn prewake(&self, user: UserId) {
        Agents::prewake(self, user);
    }
}

/// Runs one gateway call and records its latency and outcome per shard.
async fn timed<T>(
    shard: &str,
    call: impl Future<Output = Result<T, GatewayError>>,
) -> Result<T, GatewayError> {
    let started = std::time::Instant::now();
    let result = call.await;
    let outcome = result.as_ref().map_or_else(GatewayError::kind, |_| "ok");
    metrics::histogram!("heyclaw_gateway_call_seconds", "shard" => shard.to_owned(), "outcome" => outcome)
        .record(started.elapsed().as_secs_f64());
    if outcome != "ok" {
        metrics::counter!("heyclaw_gateway_errors_total", "shard" => shard.to_owned(), "kind" => outcome)
            .increment(1);
    }
    result
}

/// What a failed gateway call means for the user.
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
