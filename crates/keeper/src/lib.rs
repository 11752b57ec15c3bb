//! The keeper: one small process beside each OpenClaw gateway (a shard).
//! The database says which user should be in which of the shard's slot
//! agents; the keeper makes the gateway's files say so, so the API never
//! needs the gateway's filesystem and a shard may run on another machine.
//!
//! - **Gateway files.** It writes the base config if missing and a roster of
//!   the reserved agent plus `slots` slot agents. The roster does not change
//!   while the gateway serves: waking a user never makes the gateway reload
//!   (docs/gateway-scale.md has the measurements behind this).
//! - **Slots.** A pass compares each slot's marker (whose files it holds)
//!   with the database. Files of a user who should no longer be there are
//!   saved to their archive (`agent_files`) and the slot emptied (left
//!   holding the templates, nobody's data: see `save_and_empty`) — every
//!   save of a pass before any load, so a user moving between two slots is
//!   always loaded from a fresh archive. Then each bound user's files are
//!   loaded (from the archive; a new user's from the templates) and the
//!   binding is marked ready. Passes run on `LISTEN heyclaw_slots` within
//!   milliseconds of a wake, and every `reconcile_interval` in full (which
//!   also copies changed resident workspaces to the archive, releases idle
//!   users and repairs deleted config, roster or slot files).
//! - It is level-based: a pass after a crash anywhere finishes the job.
//!
//! The `heyclaw-keeper` binary wraps this library: `init` writes the
//! gateway's files and exits (no database needed), `run` runs
//! [`Keeper::run`] until SIGTERM or ctrl-c.
//!
//! # What it must not do
//!
//! It never decides who goes where: the API claims slots by writing rows,
//! and the keeper only makes files follow them. It trusts only its markers,
//! kept outside every workspace, to know whose files a slot holds — never
//! a workspace's contents — and it never loads a user's files before every
//! save of the same pass. It does not call the gateway, serve HTTP, or
//! rewrite the roster while the gateway serves (only when the slot count
//! changes or the file was lost).
//!
//! # Example
//!
//! What `heyclaw-keeper init` does, with no database: the gateway's config
//! (if missing) and a roster of the reserved agent plus the slot agents.
//!
//! ```
//! use std::time::Duration;
//!
//! use heyclaw_agent_provisioning::GatewayConfigOptions;
//! use heyclaw_keeper::{KeeperConfig, prepare, slot_dir};
//!
//! let root = std::env::temp_dir().join(format!("heyclaw-keeper-{}", std::process::id()));
//! let config = KeeperConfig {
//!     gateway_id: "default".into(),
//!     config_path: root.join("openclaw.json"),
//!     workspaces_dir: root.join("w"),
//!     gateway_workspaces_dir: root.join("w"),
//!     slots: 4,
//!     idle_timeout: Duration::from_secs(30 * 60),
//!     reconcile_interval: Duration::from_secs(30),
//!     gateway: GatewayConfigOptions {
//!         port: 18789,
//!         bind: "loopback".into(),
//!         model_base_url: "https://api.openai.com/v1".into(),
//!         log_file: None,
//!         prompt_plugin_dir: None,
//!     },
//! };
//! assert!(prepare(&config)?, "the config was missing, so it was written");
//! assert!(!prepare(&config)?, "an existing config is kept");
//! assert!(root.join("heyclaw-agents.json").exists());
//! assert_eq!(slot_dir(&config.workspaces_dir, 3), root.join("w/slot-3"));
//! # std::fs::remove_dir_all(&root)?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Running a keeper needs PostgreSQL with HeyClaw's schema:
//!
//! ```no_run
//! # use std::time::Duration;
//! # use heyclaw_agent_provisioning::{GatewayConfigOptions, Templates};
//! # use heyclaw_keeper::{Keeper, KeeperConfig};
//! # use heyclaw_persistence::{PgPoolSettings, connect_pg_pool};
//! # #[tokio::main]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let config = KeeperConfig {
//! #     gateway_id: "default".into(),
//! #     config_path: "/root/.openclaw/openclaw.json".into(),
//! #     workspaces_dir: "/w".into(),
//! #     gateway_workspaces_dir: "/w".into(),
//! #     slots: 24,
//! #     idle_timeout: Duration::from_secs(30 * 60),
//! #     reconcile_interval: Duration::from_secs(30),
//! #     gateway: GatewayConfigOptions {
//! #         port: 18789,
//! #         bind: "lan".into(),
//! #         model_base_url: "https://api.openai.com/v1".into(),
//! #         log_file: None,
//! #         prompt_plugin_dir: None,
//! #     },
//! # };
//! let database_url = std::env::var("DATABASE_URL")?;
//! let pool = connect_pg_pool(&database_url, &PgPoolSettings {
//!     max_size: 4,
//!     wait_timeout: Duration::from_secs(10),
//!     connect_timeout: Duration::from_secs(5),
//! })?;
//! let templates = Templates::load("templates".as_ref())?;
//! let keeper = Keeper::new(pool, templates, config, heyclaw_domain::clock::system());
//!
//! let (stop, stopped) = tokio::sync::watch::channel(false);
//! let task = tokio::spawn(keeper.run(database_url, stopped));
//! tokio::signal::ctrl_c().await?;
//! stop.send(true)?;
//! task.await?;
//! # Ok(())
//! # }
//! ```

#![deny(missing_docs)]

mod marker;
pub mod sessions;
pub mod warm;

use std::{
    path::{Path, PathBuf},
    sync::Arc,
    time::Duration,
};

use futures_util::{FutureExt, StreamExt};
use heyclaw_agent_provisioning::{
    GatewayConfigOptions, ProvisioningError, Templates, WorkspaceFile, fill_workspace,
    prepare_gateway, read_workspace, set_user_field, slot_id,
};
use heyclaw_domain::clock::SharedClock;
use heyclaw_persistence::{
    PersistenceError, PgPool,
    notify::slot_changes,
    queries::{
        agent_files,
        slots::{self, DesiredSlot, STATE_FREE},
    },
};
use tokio::sync::watch;
use uuid::Uuid;

pub use marker::SlotMarker;

/// Why a keeper step failed. Every step is safe to run again: the next
/// pass picks up where a failed one stopped.
#[derive(Debug, thiserror::Error)]
pub enum KeeperError {
    /// The database could not be reached (pool wait, connection) or a query
    /// failed.
    #[error(transparent)]
    Database(#[from] PersistenceError),
    /// A gateway or workspace file could not be read or written.
    #[error(transparent)]
    Files(#[from] ProvisioningError),
    /// A blocking file task panicked or was cancelled (the runtime shutting
    /// down).
    #[error("a file task failed: {0}")]
    Task(String),
}

/// One keeper's settings: which shard, where its gateway's files are, how
/// many slots, and how often to reconcile.
#[derive(Debug, Clone)]
pub struct KeeperConfig {
    /// The shard this keeper serves (`assistants.gateway_id`).
    pub gateway_id: String,
    /// The gateway's `openclaw.json`; the roster is written beside it.
    pub config_path: PathBuf,
    /// Where the slot workspaces are, as the keeper sees them.
    pub workspaces_dir: PathBuf,
    /// The same directory as the gateway sees it (its own mount path).
    pub gateway_workspaces_dir: PathBuf,
    /// Slot agents: the most users resident on this gateway at once.
    pub slots: u32,
    /// A user not served for this long leaves their slot.
    pub idle_timeout: Duration,
    /// Time between full passes.
    pub reconcile_interval: Duration,
    /// What the base config is written with, when it is missing.
    pub gateway: GatewayConfigOptions,
}

/// What one pass did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PassReport {
    /// Users whose files were saved and moved out of a slot.
    pub released: usize,
    /// Users whose files were moved into a slot.
    pub loaded: usize,
    /// Resident workspaces copied to the archive because they changed.
    pub backed_up: usize,
}

/// The keeper of one shard. Cheap to clone (clones share one state, so
/// their passes still run one at a time).
///
/// Build it with [`Keeper::new`], then either call [`Keeper::run`] (what
/// the `heyclaw-keeper run` binary does) or drive it step by step with
/// [`full_round`](Keeper::full_round) and [`pass`](Keeper::pass).
#[derive(Clone)]
pub struct Keeper {
    inner: Arc<Inner>,
}

struct Inner {
    pg: PgPool,
    templates: Templates,
    config: KeeperConfig,
    clock: SharedClock,
    /// One pass at a time, whoever asks.
    pass: tokio::sync::Mutex<()>,
}

impl Keeper {
    /// A keeper over `pg` (the database holding `agent_slots` and
    /// `agent_files`), with `templates` for new users' workspaces. Nothing
    /// is read or written until a method is called. `clock` is what idle
    /// time is measured against and liveness is stamped with.
    pub fn new(pg: PgPool, templates: Templates, config: KeeperConfig, clock: SharedClock) -> Self {
        Self {
            inner: Arc::new(Inner {
                pg,
                templates,
                config,
                clock,
                pass: tokio::sync::Mutex::new(()),
            }),
        }
    }

    /// The settings it was built with.
    pub fn config(&self) -> &KeeperConfig {
        &self.inner.config
    }

    /// Writes the gateway's config if missing and makes its roster hold the
    /// slot agents. Needs no database: the container entrypoint runs it
    /// before the gateway starts. Returns whether the config was written.
    ///
    /// Blocking file I/O (see [`prepare_gateway`]): from async code, call it
    /// on a blocking thread.
    ///
    /// # Errors
    /// [`KeeperError::Files`].
    pub fn prepare(&self) -> Result<bool, KeeperError> {
        prepare(&self.inner.config)
    }

    /// Says the shard is alive and makes its slot rows match `slots` (slot
    /// rows past the count are dropped once free).
    ///
    /// # Errors
    /// [`KeeperError::Database`].
    pub async fn announce(&self) -> Result<(), KeeperError> {
        let config = &self.inner.config;
        let mut conn = self.inner.pg.get().await.map_err(PersistenceError::from)?;
        let slots = i32::try_from(config.slots).unwrap_or(i32::MAX);
        slots::announce(&mut conn, &config.gateway_id, slots, self.inner.clock.now()).await?;
        Ok(())
    }

    /// Unbinds users idle past the idle timeout (their turn leases passed);
    /// the next pass saves their files. Returns how many.
    ///
    /// # Errors
    /// [`KeeperError::Database`].
    pub async fn release_idle(&self) -> Result<usize, KeeperError> {
        let now = self.inner.clock.now();
        let idle = chrono::Duration::from_std(self.inner.config.idle_timeout)
            .unwrap_or(chrono::Duration::MAX);
        let mut conn = self.inner.pg.get().await.map_err(PersistenceError::from)?;
        Ok(slots::release_idle(&mut conn, &self.inner.config.gateway_id, now, now - idle).await?)
    }

    /// One full round: gateway files ([`prepare`](Self::prepare)), liveness
    /// ([`announce`](Self::announce)), idle users
    /// ([`release_idle`](Self::release_idle)), then a full
    /// [`pass`](Self::pass). Stops at the first step that fails.
    ///
    /// # Errors
    /// Any [`KeeperError`].
    pub async fn full_round(&self) -> Result<PassReport, KeeperError> {
        let keeper = self.clone();
        blocking(move || keeper.prepare()).await??;
        self.announce().await?;
        let released = self.release_idle().await?;
        if released > 0 {
            tracing::info!(released, "idle agents leave their slots");
        }
        self.pass(true).await
    }

    /// Makes every slot's files match the database (see the crate docs).
    /// `full` also copies changed resident workspaces to the archive.
    ///
    /// Passes run one at a time: a call waits for one under way (from any
    /// clone) to finish. A pass that fails or is dropped part-way may leave
    /// a slot half done; the next pass finishes the job (a slot's marker is
    /// written last, and file work already handed to a blocking thread runs
    /// to its end).
    ///
    /// # Errors
    /// Any [`KeeperError`]; the pass stops at the first.
    pub async fn pass(&self, full: bool) -> Result<PassReport, KeeperError> {
        let _one_at_a_time = self.inner.pass.lock().await;
        let config = &self.inner.config;
        let desired = {
            let mut conn = self.inner.pg.get().await.map_err(PersistenceError::from)?;
            slots::desired(&mut conn, &config.gateway_id).await?
        };
        let mut report = PassReport::default();

        // Saves first: nobody is loaded from an archive that a slot of this
        // shard still holds newer files for.
        let mut left = Vec::new();
        let mut emptied = Vec::new();
        for want in &desired {
            let Ok(slot) = u32::try_from(want.slot) else {
                continue;
            };
            let current = self.marker(slot).await?;
            match current {
                Some(marker) if Some(marker.user) != want.user_id => {
                    self.save_and_empty(slot, &marker).await?;
                    left.push(marker.user);
                    report.released += 1;
                    if want.user_id.is_none() {
                        emptied.push(want.slot);
                    }
                }
                Some(marker) if full => {
                    report.backed_up += usize::from(self.back_up(slot, marker).await?);
                }
                None if want.user_id.is_none() && want.state != STATE_FREE => {
                    emptied.push(want.slot);
                }
                _ => {}
            }
        }
        if !left.is_empty() || !emptied.is_empty() {
            let mut conn = self.inner.pg.get().await.map_err(PersistenceError::from)?;
            slots::mark_hibernated(&mut conn, &left).await?;
            slots::mark_empty_free(&mut conn, &config.gateway_id, &emptied).await?;
        }

        // Then loads, and bindings made ready.
        for want in &desired {
            let (Some(user), Ok(slot)) = (want.user_id, u32::try_from(want.slot)) else {
                continue;
            };
            match self.marker(slot).await? {
                Some(marker) if marker.user == user => {
                    self.refresh(slot, marker, want).await?;
                }
                _ => {
                    self.load(slot, user, want).await?;
                    report.loaded += 1;
                }
            }
        }
        if report != PassReport::default() {
            tracing::info!(
                released = report.released,
                loaded = report.loaded,
                backed_up = report.backed_up,
                "slots reconciled"
            );
        }
        Ok(report)
    }

    /// Runs until told to stop through `shutdown` (send `true`): a full
    /// round every `reconcile_interval`, a pass on every slot change of this
    /// shard.
    ///
    /// The first full round starts at once. Slot changes arrive on
    /// `LISTEN heyclaw_slots` over a connection of its own to
    /// `database_url` (not from the pool); while that connection is down,
    /// it is opened again on every round, with a pass for whatever was
    /// missed. Errors are logged (`tracing`) and retried on the next change
    /// or round; they never end the loop. Any change of `shutdown` (or its
    /// sender being dropped) ends it once the round or pass under way is
    /// done.
    pub async fn run(self, database_url: String, mut shutdown: watch::Receiver<bool>) {
        let mut ticker = tokio::time::interval(self.inner.config.reconcile_interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut changes = None;
        loop {
            if changes.is_none() {
                match slot_changes(&database_url).await {
                    Ok(stream) => {
                        changes = Some(Box::pin(stream));
                        // Anything missed while not listening.
                        self.logged_pass(false).await;
                    }
                    Err(err) => tracing::warn!(error = %err, "cannot listen for slot changes yet"),
                }
            }
            tokio::select! {
                _ = shutdown.changed() => break,
                _ = ticker.tick() => {
                    if let Err(err) = self.full_round().await {
                        tracing::error!(error = %err, "keeper round failed; retried next round");
                    }
                }
                next = next_change(&mut changes) => match next {
                    Some(Ok(shard)) => {
                        // A burst of wakes is one pass.
                        let mut mine = shard == self.inner.config.gateway_id;
                        while let Some(Some(Ok(more))) = changes.as_mut().and_then(|s| s.next().now_or_never()) {
                            mine |= more == self.inner.config.gateway_id;
                        }
                        if mine {
                            self.logged_pass(false).await;
                        }
                    }
                    Some(Err(err)) => {
                        tracing::warn!(error = %err, "slot change listener lost; listening again");
                        changes = None;
                    }
                    None => changes = None,
                },
            }
        }
    }

    async fn logged_pass(&self, full: bool) {
        if let Err(err) = self.pass(full).await {
            tracing::error!(error = %err, "keeper pass failed; retried on the next change or round");
        }
    }

    fn slot_dir(&self, slot: u32) -> PathBuf {
        self.inner.config.workspaces_dir.join(slot_id(slot))
    }

    async fn marker(&self, slot: u32) -> Result<Option<SlotMarker>, KeeperError> {
        let dir = self.inner.config.workspaces_dir.clone();
        blocking(move || marker::read(&dir, slot)).await
    }

    /// Saves the slot's files to their owner's archive, then empties it:
    /// what stays is a new user's workspace (the templates, no name), not an
    /// empty directory. After a gateway restart OpenClaw refuses a workspace
    /// it had seen in use and finds empty (`WorkspaceVanishedError`, HTTP
    /// 500), so an empty slot could be neither warmed nor trusted until a
    /// user's files arrived; the templates hold nobody's data.
    async fn save_and_empty(&self, slot: u32, current: &SlotMarker) -> Result<(), KeeperError> {
        let dir = self.slot_dir(slot);
        let files = blocking(move || read_workspace(&dir)).await??;
        let kept = {
            let mut conn = self.inner.pg.get().await.map_err(PersistenceError::from)?;
            agent_files::replace(&mut conn, current.user, &files).await?
        };
        if !kept {
            tracing::info!(slot, "slot emptied of a deleted user's files");
        }
        let dir = self.slot_dir(slot);
        let workspaces = self.inner.config.workspaces_dir.clone();
        let neutral = self.inner.templates.render(None);
        blocking(move || {
            marker::remove(&workspaces, slot)?;
            fill_workspace(&dir, &neutral)
        })
        .await??;
        Ok(())
    }

    /// Copies a resident workspace to the archive if it changed since it was
    /// last loaded or saved. True when it did.
    async fn back_up(&self, slot: u32, mut current: SlotMarker) -> Result<bool, KeeperError> {
        let dir = self.slot_dir(slot);
        let files = blocking(move || read_workspace(&dir)).await??;
        let digest = marker::digest(&files);
        if digest == current.digest {
            return Ok(false);
        }
        {
            let mut conn = self.inner.pg.get().await.map_err(PersistenceError::from)?;
            agent_files::replace(&mut conn, current.user, &files).await?;
        }
        current.digest = digest;
        self.write_marker(slot, current).await?;
        Ok(true)
    }

    /// Fills the slot with the user's files and marks the binding ready.
    async fn load(&self, slot: u32, user: Uuid, want: &DesiredSlot) -> Result<(), KeeperError> {
        let archived = {
            let mut conn = self.inner.pg.get().await.map_err(PersistenceError::from)?;
            agent_files::load(&mut conn, user).await?
        };
        let mut files = if archived.is_empty() {
            self.first_files(user, want.user_name.as_deref()).await?
        } else {
            archived
        };
        if let Some(zone) = &want.timezone {
            with_time_zone(&mut files, zone);
        }
        let marker = SlotMarker {
            user,
            generation: want.generation,
            timezone: want.timezone.clone(),
            digest: marker::digest(&files),
        };
        let dir = self.slot_dir(slot);
        let workspaces = self.inner.config.workspaces_dir.clone();
        blocking(move || {
            // The marker goes last: a crash in between leaves a slot the
            // next pass refills rather than one it would save from.
            marker::remove(&workspaces, slot)?;
            fill_workspace(&dir, &files)?;
            marker::write(&workspaces, slot, &marker)
        })
        .await??;
        self.mark_ready(want).await
    }

    /// A user already in the slot: a new binding of theirs is ready at once;
    /// a changed time zone is written into USER.md.
    async fn refresh(
        &self,
        slot: u32,
        mut current: SlotMarker,
        want: &DesiredSlot,
    ) -> Result<(), KeeperError> {
        let mut changed = false;
        if current.timezone != want.timezone
            && let Some(zone) = want.timezone.clone()
        {
            let path = self.slot_dir(slot).join("USER.md");
            let line_zone = zone.clone();
            blocking(move || {
                let text = std::fs::read_to_string(&path).unwrap_or_default();
                std::fs::write(&path, set_user_field(&text, "Time zone", &line_zone)).map_err(
                    |source| ProvisioningError::Io {
                        action: "writing",
                        path,
                        source,
                    },
                )
            })
            .await??;
            current.timezone = Some(zone);
            changed = true;
        }
        if current.generation != want.generation {
            current.generation = want.generation;
            changed = true;
        }
        if changed {
            self.write_marker(slot, current).await?;
        }
        if want.state != slots::STATE_READY {
            self.mark_ready(want).await?;
        }
        Ok(())
    }

    async fn mark_ready(&self, want: &DesiredSlot) -> Result<(), KeeperError> {
        let mut conn = self.inner.pg.get().await.map_err(PersistenceError::from)?;
        slots::mark_ready(
            &mut conn,
            &self.inner.config.gateway_id,
            want.slot,
            want.generation,
        )
        .await?;
        Ok(())
    }

    async fn write_marker(&self, slot: u32, current: SlotMarker) -> Result<(), KeeperError> {
        let workspaces = self.inner.config.workspaces_dir.clone();
        blocking(move || marker::write(&workspaces, slot, &current)).await??;
        Ok(())
    }

    /// A user with nothing archived: the workspace an earlier version kept
    /// on disk (`<workspaces>/agent-<uuid>`), or else the templates.
    async fn first_files(
        &self,
        user: Uuid,
        user_name: Option<&str>,
    ) -> Result<Vec<WorkspaceFile>, KeeperError> {
        let legacy = self
            .inner
            .config
            .workspaces_dir
            .join(format!("agent-{user}"));
        let found = blocking(move || read_workspace(&legacy)).await??;
        if found.is_empty() {
            Ok(self.inner.templates.render(user_name))
        } else {
            tracing::info!(%user, "workspace of an earlier version taken over");
            Ok(found)
        }
    }
}

/// [`Keeper::prepare`] without a keeper (the entrypoint's `init`): needs no
/// database. Blocking file I/O.
///
/// # Errors
/// [`KeeperError::Files`].
pub fn prepare(config: &KeeperConfig) -> Result<bool, KeeperError> {
    Ok(prepare_gateway(
        &config.config_path,
        &config.gateway,
        &config.gateway_workspaces_dir,
        config.slots,
    )?)
}

fn with_time_zone(files: &mut [WorkspaceFile], zone: &str) {
    if let Some((_, bytes)) = files.iter_mut().find(|(path, _)| path == "USER.md") {
        let text = String::from_utf8_lossy(bytes).into_owned();
        *bytes = set_user_field(&text, "Time zone", zone).into_bytes();
    }
}

async fn next_change<S>(changes: &mut Option<std::pin::Pin<Box<S>>>) -> Option<S::Item>
where
    S: futures_util::Stream,
{
    match changes {
        Some(stream) => stream.next().await,
        None => std::future::pending().await,
    }
}

async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, KeeperError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|err| KeeperError::Task(err.to_string()))
}

/// The slot workspace directory of `slot` under `workspaces_dir`
/// (`<workspaces_dir>/slot-<n>`).
pub fn slot_dir(workspaces_dir: &Path, slot: u32) -> PathBuf {
    workspaces_dir.join(slot_id(slot))
}
