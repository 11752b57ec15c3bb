//! Users' agents: provisioning (workspace → roster entry → row marked
//! active), removal, readiness on the gateway, reconcile from the database,
//! status, personality and gateway health.

use std::{path::PathBuf, sync::Arc, time::Duration};

use async_trait::async_trait;
use heyclaw_agent_provisioning::{
    AgentEntry, RESERVED_AGENT_ID, ROSTER_FILE_NAME, Reload, RosterChange, RosterWriter,
    Workspaces, include_roster, reserved_entry,
};
use heyclaw_domain::{AgentId, UserId, Voice, clean_name};
use heyclaw_gateway_client::{GatewayClient, GatewayError};
use heyclaw_persistence::{
    PersistenceError, PgPool, RedisStore,
    models::Assistant,
    queries::{
        accounts,
        assistants::{self, STATUS_ACTIVE},
    },
};

use crate::{
    AppError,
    provisioning::{AgentLifecycle, ProvisioningError},
    quota,
    recorder::message_count_with_unrecorded,
};

#[derive(Debug, Clone)]
pub struct AgentsConfig {
    /// The gateway shard this API serves (`assistants.gateway_id`).
    pub gateway_id: String,
    /// `openclaw.json`, as the API sees it. The roster lives beside it.
    pub config_path: PathBuf,
    /// Where the gateway sees the workspaces directory.
    pub gateway_workspaces_dir: PathBuf,
    /// How long a first message waits for the gateway to apply a new agent.
    pub readiness_timeout: Duration,
    /// Least time between two roster writes (see `RosterWriter::start`).
    pub roster_write_interval: Duration,
}

/// What `GET /agent/status` reports.
#[derive(Debug, Clone)]
pub struct AgentStatus {
    /// Its `message_count` includes answered turns not yet recorded, so a
    /// client sees its own latest message (read-your-writes).
    pub assistant: Assistant,
    /// In the gateway's roster file right now.
    pub in_roster: bool,
}

/// What `POST /agent/provision` had to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EnsureOutcome {
    /// The agent was there and served.
    Ok,
    /// The agent had never been provisioned (or provisioning had failed).
    Created,
    /// The agent was hibernated and is resident again.
    Resumed,
    /// The agent was active in the database but missing from the gateway.
    Recreated,
}

impl EnsureOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::Created => "created",
            Self::Resumed => "resumed",
            Self::Recreated => "recreated",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReconcileReport {
    pub agents: usize,
    pub adopted: usize,
}

#[derive(Clone)]
pub struct Agents {
    inner: Arc<Inner>,
}

struct Inner {
    pg: PgPool,
    writer: RosterWriter,
    workspaces: Workspaces,
    gateway: GatewayClient,
    reload: Reload,
    config: AgentsConfig,
}

impl Agents {
    /// Starts the roster writer for the roster file beside `config_path`.
    pub fn new(
        pg: PgPool,
        workspaces: Workspaces,
        gateway: GatewayClient,
        reload: Reload,
        config: AgentsConfig,
    ) -> Self {
        let roster_path = config.config_path.parent().map_or_else(
            || PathBuf::from(ROSTER_FILE_NAME),
            |dir| dir.join(ROSTER_FILE_NAME),
        );
        // The reserved entry keeps the roster valid with no users at all.
        let mut reserved = serde_json::Map::new();
        reserved.insert(
            RESERVED_AGENT_ID.to_owned(),
            reserved_entry(&config.gateway_workspaces_dir),
        );
        Self {
            inner: Arc::new(Inner {
                writer: RosterWriter::start(roster_path, reserved, config.roster_write_interval),
                pg,
                workspaces,
                gateway,
                reload,
                config,
            }),
        }
    }

    pub fn gateway(&self) -> &GatewayClient {
        &self.inner.gateway
    }

    pub fn roster_path(&self) -> &std::path::Path {
        self.inner.writer.path()
    }

    fn entry(&self, agent: &AgentId, display_name: &str, model: &str) -> AgentEntry {
        AgentEntry {
            id: agent.clone(),
            name: display_name.to_owned(),
            workspace: self
                .inner
                .config
                .gateway_workspaces_dir
                .join(agent.as_str())
                .to_string_lossy()
                .into_owned(),
            model: model.to_owned(),
        }
    }

    async fn assistant_of(&self, user: UserId) -> Result<Assistant, AppError> {
        let mut conn = self.inner.pg.get().await.map_err(PersistenceError::from)?;
        assistants::for_user(&mut conn, user.0)
            .await?
            .ok_or(AppError::NotFound("No assistant for this account"))
    }

    /// Workspace, then roster entry, then the row marked active: each step
    /// idempotent, so running it again finishes whatever a crash left.
    pub async fn provision_user(
        &self,
        user: UserId,
        user_name: Option<&str>,
    ) -> Result<(), AppError> {
        let assistant = self.assistant_of(user).await?;
        let agent = AgentId::for_user(user);
        self.inner
            .workspaces
            .ensure(&agent, user_name)
            .await
            .map_err(|err| AppError::Internal(err.to_string()))?;
        self.inner
            .writer
            .apply(vec![RosterChange::Upsert(self.entry(
                &agent,
                &assistant.display_name,
                &assistant.model,
            ))])
            .await
            .map_err(|err| AppError::Internal(err.to_string()))?;
        self.inner.reload.after_roster_change();
        let mut conn = self.inner.pg.get().await.map_err(PersistenceError::from)?;
        assistants::mark_active(&mut conn, &[user.0]).await?;
        tracing::info!(%agent, "agent provisioned");
        Ok(())
    }

    /// Runs a gateway call for the user's agent. An agent whose row is not
    /// active is provisioned first; one the gateway does not know (just
    /// signed up, or lost from the roster) is provisioned again and waited
    /// for, then asked once more — never a 500 for that.
    pub async fn call_agent<T, F, Fut>(&self, assistant: &Assistant, call: F) -> Result<T, AppError>
    where
        F: Fn() -> Fut,
        Fut: Future<Output = Result<T, GatewayError>>,
    {
        let user = UserId(assistant.user_id);
        if assistant.status != STATUS_ACTIVE {
            self.reprovision(user).await?;
        }
        let shard = assistant.gateway_id.as_str();
        match timed(shard, call()).await {
            Err(GatewayError::UnknownAgent(_)) => {
                let agent = AgentId::for_user(user);
                tracing::info!(%agent, "gateway does not know the agent yet; provisioning and waiting");
                self.reprovision(user).await?;
                if !self.wait_until_served(&agent).await {
                    return Err(AppError::Unavailable(
                        "Your assistant is still starting. Please try again in a few seconds."
                            .to_owned(),
                    ));
                }
                timed(shard, call()).await.map_err(gateway_error)
            }
            other => other.map_err(gateway_error),
        }
    }

    /// Makes sure the user's agent exists and the gateway serves it,
    /// provisioning (or waking) it if need be.
    pub async fn ensure(&self, user: UserId) -> Result<(EnsureOutcome, AgentId), AppError> {
        let assistant = self.assistant_of(user).await?;
        let agent = AgentId::for_user(user);
        let in_roster = self
            .inner
            .writer
            .read()
            .await
            .map(|roster| roster.contains(agent.as_str()))
            .unwrap_or(false);
        let outcome = match (assistant.status.as_str(), in_roster) {
            (STATUS_ACTIVE, true) => EnsureOutcome::Ok,
            (STATUS_ACTIVE, false) => EnsureOutcome::Recreated,
            (assistants::STATUS_HIBERNATED, _) => EnsureOutcome::Resumed,
            _ => EnsureOutcome::Created,
        };
        if outcome != EnsureOutcome::Ok {
            self.reprovision(user).await?;
        }
        if !self.wait_until_served(&agent).await {
            return Err(AppError::Unavailable(
                "Your assistant is still starting. Please try again in a few seconds.".to_owned(),
            ));
        }
        Ok((outcome, agent))
    }

    /// Provisions the user's agent (with their name for USER.md); a failure
    /// is the service being unavailable for now.
    async fn reprovision(&self, user: UserId) -> Result<(), AppError> {
        let name = {
            let mut conn = self.inner.pg.get().await.map_err(PersistenceError::from)?;
            accounts::find_by_id(&mut conn, user.0)
                .await?
                .and_then(|u| u.name)
        };
        self.provision_user(user, name.as_deref())
            .await
            .map_err(|err| {
                tracing::error!(%user, error = %err, "provisioning before a turn failed");
                AppError::Unavailable(
                    "Your assistant is not available right now. Please try again shortly."
                        .to_owned(),
                )
            })
    }

    /// Waits until the gateway serves `agent` (it lists `openclaw/<id>` in
    /// `/v1/models` once a roster change is applied). False on timeout.
    pub async fn wait_until_served(&self, agent: &AgentId) -> bool {
        let wanted = format!("openclaw/{agent}");
        let deadline = tokio::time::Instant::now() + self.inner.config.readiness_timeout;
        loop {
            match self.inner.gateway.model_ids().await {
                Ok(ids) if ids.contains(&wanted) => return true,
                Ok(_) => {}
                Err(err) => tracing::debug!(error = %err, "readiness poll failed"),
            }
            if tokio::time::Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Rebuilds every managed roster entry of this gateway from the
    /// assistants table (and makes sure openclaw.json includes the roster):
    /// deleting the config files loses no agent.
    pub async fn reconcile(&self) -> Result<ReconcileReport, AppError> {
        let config_path = self.inner.config.config_path.clone();
        let adopted = tokio::task::spawn_blocking(move || include_roster(&config_path))
            .await
            .map_err(|err| AppError::Internal(err.to_string()))?
            .map_err(|err| AppError::Internal(err.to_string()))?
            .unwrap_or_default();
        let adopted_count = adopted.len();
        let members = {
            let mut conn = self.inner.pg.get().await.map_err(PersistenceError::from)?;
            assistants::roster(&mut conn, &self.inner.config.gateway_id).await?
        };
        let mut entries = Vec::with_capacity(members.len());
        let mut user_ids = Vec::with_capacity(members.len());
        for member in &members {
            let agent = AgentId::for_user(UserId(member.user_id));
            if agent.as_str() != member.agent_id {
                tracing::warn!(agent_id = %member.agent_id, "assistant row has a foreign agent id; skipped");
                continue;
            }
            self.inner
                .workspaces
                .ensure(&agent, member.user_name.as_deref())
                .await
                .map_err(|err| AppError::Internal(err.to_string()))?;
            entries.push(self.entry(&agent, &member.display_name, &member.model));
            user_ids.push(member.user_id);
        }
        let agents = entries.len();
        let changes = vec![
            RosterChange::Adopt(adopted),
            RosterChange::ReplaceManaged(entries),
        ];
        self.inner
            .writer
            .apply(changes)
            .await
            .map_err(|err| AppError::Internal(err.to_string()))?;
        self.inner.reload.after_roster_change();
        let mut conn = self.inner.pg.get().await.map_err(PersistenceError::from)?;
        assistants::mark_active(&mut conn, &user_ids).await?;
        tracing::info!(agents, adopted = adopted_count, "roster reconciled");
        Ok(ReconcileReport {
            agents,
            adopted: adopted_count,
        })
    }

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
        let in_roster = self
            .inner
            .writer
            .read()
            .await
            .map(|roster| roster.contains(&assistant.agent_id))
            .unwrap_or(false);
        Ok(Some(AgentStatus {
            assistant,
            in_roster,
        }))
    }

    /// Changes the display name and/or voice. At least one must be given.
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

    /// Writes the user's time zone into their agent's USER.md. A failure is
    /// logged: the zone is stored, and automations use it regardless.
    pub async fn tell_time_zone(&self, user: UserId, zone: &str) {
        let agent = AgentId::for_user(user);
        if let Err(err) = self
            .inner
            .workspaces
            .set_user_field(&agent, "Time zone", zone)
            .await
        {
            tracing::warn!(%agent, error = %err, "could not write the time zone to USER.md");
        }
    }

    /// Whether the gateway process answers (`GET /health`, 5 s).
    pub async fn gateway_healthy(&self) -> bool {
        self.inner
            .gateway
            .health(Duration::from_secs(5))
            .await
            .is_ok()
    }
}

#[async_trait]
impl AgentLifecycle for Agents {
    async fn provision(&self, user: UserId, name: Option<&str>) -> Result<(), ProvisioningError> {
        self.provision_user(user, name)
            .await
            .map_err(|err| ProvisioningError(err.to_string()))
    }

    async fn deprovision(&self, user: UserId) -> Result<(), ProvisioningError> {
        let agent = AgentId::for_user(user);
        self.inner
            .writer
            .apply(vec![RosterChange::Remove(agent.clone())])
            .await
            .map_err(|err| ProvisioningError(err.to_string()))?;
        self.inner.reload.after_roster_change();
        self.inner
            .workspaces
            .remove(&agent)
            .await
            .map_err(|err| ProvisioningError(err.to_string()))?;
        tracing::info!(%agent, "agent removed");
        Ok(())
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
