//! A gateway shard for tests: the gateway stand-in and a real keeper (the
//! library, in-process, on the test's clock) over the test's own directories.

use std::{path::PathBuf, sync::Arc, time::Duration};

use heyclaw_agent_provisioning::{GatewayConfigOptions, Templates};
use heyclaw_keeper::{Keeper, KeeperConfig};
use heyclaw_persistence::PgPoolSettings;
use tokio::sync::watch;

use crate::{GatewayStandIn, TEST_GATEWAY_TOKEN, TestClock, templates_path};

/// A shard's gateway config and workspaces directories: the test's own
/// (removed on drop), or a shared gateway's.
pub struct TestDirs {
    /// The test's temporary directory (`heyclaw-test-<uuid>` under the
    /// system temp dir), removed on drop; for a shared gateway, its config
    /// file's directory, left alone.
    pub root: PathBuf,
    /// The gateway's config file, `openclaw.json`.
    pub config_path: PathBuf,
    /// The roster the keeper writes and the gateway reads,
    /// `heyclaw-agents.json` beside the config.
    pub roster_path: PathBuf,
    /// The directory of the slot workspaces (see [`TestDirs::slot`]).
    /// Not removed on drop when [`ShardOptions::workspaces`] put it
    /// outside `root`.
    pub workspaces: PathBuf,
    owned: bool,
}

impl TestDirs {
    /// A shared gateway's directories, left in place on drop. The roster is
    /// `heyclaw-agents.json` beside `config_path`. Creates nothing.
    pub fn shared(config_path: PathBuf, workspaces: PathBuf) -> Self {
        Self {
            root: config_path.parent().map(PathBuf::from).unwrap_or_default(),
            roster_path: config_path.with_file_name("heyclaw-agents.json"),
            config_path,
            workspaces,
            owned: false,
        }
    }

    fn create() -> Self {
        let root =
            std::env::temp_dir().join(format!("heyclaw-test-{}", uuid::Uuid::new_v4().simple()));
        let config = root.join("config");
        let workspaces = root.join("workspaces");
        std::fs::create_dir_all(&config).expect("config dir");
        std::fs::create_dir_all(&workspaces).expect("workspaces dir");
        Self {
            config_path: config.join("openclaw.json"),
            roster_path: config.join("heyclaw-agents.json"),
            workspaces,
            root,
            owned: true,
        }
    }

    /// The roster file as JSON, keyed by gateway agent id (an empty map
    /// when the file is missing or not a JSON object).
    pub fn roster(&self) -> serde_json::Map<String, serde_json::Value> {
        std::fs::read_to_string(&self.roster_path)
            .ok()
            .and_then(|text| serde_json::from_str(&text).ok())
            .unwrap_or_default()
    }

    /// A slot's workspace directory (which may not exist yet), as the
    /// keeper names it.
    pub fn slot(&self, slot: u32) -> PathBuf {
        heyclaw_keeper::slot_dir(&self.workspaces, slot)
    }
}

impl Drop for TestDirs {
    fn drop(&mut self) {
        if self.owned {
            let _ = std::fs::remove_dir_all(&self.root);
        }
    }
}

/// How a test shard is set up.
#[derive(Debug, Clone)]
pub struct ShardOptions {
    /// The shard's id: its `GATEWAYS` name and `assistants.gateway_id`.
    /// Default `default`.
    pub id: String,
    /// How many slot agents the gateway has (users resident at once).
    /// Default 8.
    pub slots: u32,
    /// How long a resident user may stay idle before the keeper releases
    /// the slot (on the test's clock). Default 30 minutes.
    pub idle_timeout: Duration,
    /// A real gateway already running (its URL, config file and workspaces
    /// directory); `None`: a stand-in over the test's own directories.
    pub external: Option<ExternalGateway>,
    /// Slot workspaces somewhere of the test's choosing (e.g. a small
    /// filesystem); `None`: in the test's own directory.
    pub workspaces: Option<PathBuf>,
}

/// A gateway the test did not start (the end-to-end suite's real ones).
#[derive(Debug, Clone)]
pub struct ExternalGateway {
    /// Its base URL, `http://127.0.0.1:<port>`.
    pub url: String,
    /// Its config file; the keeper writes the roster beside it (and the
    /// config if it is missing).
    pub config_path: PathBuf,
    /// Its slot workspaces directory.
    pub workspaces: PathBuf,
    /// The model endpoint its config names (written if the file is missing).
    pub model_base_url: String,
    /// The port its config names (written if the file is missing).
    pub port: u16,
}

impl Default for ShardOptions {
    fn default() -> Self {
        Self {
            id: "default".to_owned(),
            slots: 8,
            idle_timeout: Duration::from_secs(1800),
            external: None,
            workspaces: None,
        }
    }
}

/// One shard: its gateway, its directories and its running keeper.
///
/// Its keeper runs as a task on the test's runtime, every 250 ms and on
/// database notifications, until [`TestShard::stop`],
/// [`TestShard::stop_keeper`] or drop. The stand-in keeps serving until
/// [`TestShard::stop`] or the runtime's end.
pub struct TestShard {
    /// The shard's id, as in [`ShardOptions::id`].
    pub id: String,
    /// The stand-in, unless the shard is an external gateway.
    pub stand_in: Option<GatewayStandIn>,
    /// The gateway's base URL (the stand-in's or the external one's).
    pub url: String,
    /// The shard's directories, removed on drop unless shared.
    pub dirs: TestDirs,
    /// The keeper, for tests that run a pass themselves.
    pub keeper: Keeper,
    stop: watch::Sender<bool>,
}

impl TestShard {
    /// Writes the shard's config and roster, starts the stand-in on them
    /// (unless the gateway is external), announces the shard in the
    /// database at `database_url` (migrated already) and runs its keeper,
    /// on `clock`, until the shard is stopped (or dropped).
    ///
    /// # Panics
    ///
    /// If the directories, config or roster cannot be written, the
    /// templates cannot be loaded, or the shard cannot be announced.
    pub async fn start(database_url: &str, clock: &TestClock, options: ShardOptions) -> Self {
        let dirs = match &options.external {
            Some(external) => {
                TestDirs::shared(external.config_path.clone(), external.workspaces.clone())
            }
            None => {
                let mut dirs = TestDirs::create();
                if let Some(workspaces) = &options.workspaces {
                    dirs.workspaces.clone_from(workspaces);
                }
                dirs
            }
        };
        let (port, model_base_url) = options.external.as_ref().map_or_else(
            || (0, "http://127.0.0.1:9/v1".to_owned()),
            |e| (e.port, e.model_base_url.clone()),
        );
        let config = KeeperConfig {
            gateway_id: options.id.clone(),
            config_path: dirs.config_path.clone(),
            workspaces_dir: dirs.workspaces.clone(),
            gateway_workspaces_dir: dirs.workspaces.clone(),
            slots: options.slots,
            idle_timeout: options.idle_timeout,
            // Notifications do the work; the round is the safety net (and
            // what releases idle agents).
            reconcile_interval: Duration::from_millis(250),
            gateway: GatewayConfigOptions {
                port,
                bind: "loopback".to_owned(),
                model_base_url,
                log_file: None,
                prompt_plugin_dir: Some(crate::prompt_plugin_path()),
            },
        };
        heyclaw_keeper::prepare(&config).expect("the shard's config and roster are written");
        let stand_in = match &options.external {
            Some(_) => None,
            None => Some(GatewayStandIn::start(TEST_GATEWAY_TOKEN, dirs.roster_path.clone()).await),
        };
        let url = match (&options.external, &stand_in) {
            (Some(external), _) => external.url.clone(),
            (None, Some(stand_in)) => stand_in.url.clone(),
            (None, None) => unreachable!("a shard without an external gateway has a stand-in"),
        };
        let pg = heyclaw_persistence::connect_pg_pool(
            database_url,
            &PgPoolSettings {
                max_size: 2,
                wait_timeout: Duration::from_secs(5),
                connect_timeout: Duration::from_secs(5),
            },
        )
        .expect("keeper pool");
        let templates = Templates::load(&templates_path()).expect("templates");
        let keeper = Keeper::new(pg, templates, config, Arc::new(clock.clone()));
        keeper.announce().await.expect("the shard announces itself");
        let (stop, stopped) = watch::channel(false);
        tokio::spawn(keeper.clone().run(database_url.to_owned(), stopped));
        Self {
            id: options.id,
            stand_in,
            url,
            dirs,
            keeper,
            stop,
        }
    }

    /// The `GATEWAYS` entry of this shard: `<id>|<url>|<token>`, with
    /// [`TEST_GATEWAY_TOKEN`].
    pub fn gateways_entry(&self) -> String {
        format!("{}|{}|{TEST_GATEWAY_TOKEN}", self.id, self.url)
    }

    /// Stops the keeper and the stand-in, at once, and waits for the
    /// stand-in (a shard going down). An external gateway keeps running.
    /// There is no way to start the shard again.
    pub async fn stop(&self) {
        let _ = self.stop.send(true);
        if let Some(stand_in) = &self.stand_in {
            stand_in.stop().await;
        }
    }

    /// Stops only the keeper (after its current pass); the gateway keeps
    /// serving. Does not wait.
    pub fn stop_keeper(&self) {
        let _ = self.stop.send(true);
    }
}

impl Drop for TestShard {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}
