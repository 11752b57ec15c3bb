//! The real OpenClaw gateway, installed from the npm registry at the pinned
//! versions (`infrastructure/gateway.versions`) into a cache outside the
//! repository, and run as a child process with a config of its own.
//! Used by `cargo xtask gateway`/`dev` and the end-to-end tests.

use std::{
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

const VERSIONS: &str = include_str!("../../../infrastructure/gateway.versions");

fn pin(name: &str) -> String {
    VERSIONS
        .lines()
        .filter_map(|line| line.split_once('='))
        .find(|(key, _)| key.trim() == name)
        .map(|(_, value)| value.trim().to_owned())
        .unwrap_or_default()
}

pub fn openclaw_version() -> String {
    pin("OPENCLAW_VERSION")
}

/// `~/.cache/heyclaw` (or `$HEYCLAW_CACHE_DIR`).
pub fn cache_dir() -> PathBuf {
    if let Ok(dir) = std::env::var("HEYCLAW_CACHE_DIR") {
        return PathBuf::from(dir);
    }
    PathBuf::from(std::env::var("HOME").unwrap_or_else(|_| "/tmp".to_owned()))
        .join(".cache/heyclaw")
}

/// Where the pinned Node and openclaw live once installed.
#[derive(Debug, Clone)]
pub struct GatewayInstall {
    pub node_dir: PathBuf,
    pub openclaw_dir: PathBuf,
}

impl GatewayInstall {
    pub fn pinned() -> Self {
        let root = cache_dir().join("gateway");
        Self {
            node_dir: root.join(format!("node-{}", pin("NODE_VERSION"))),
            openclaw_dir: root.join(format!("openclaw-{}", openclaw_version())),
        }
    }

    pub fn node_bin_dir(&self) -> PathBuf {
        self.node_dir
            .join("node_modules")
            .join(pin("NODE_PACKAGE"))
            .join("bin")
    }

    pub fn openclaw(&self) -> PathBuf {
        self.openclaw_dir.join("node_modules/.bin/openclaw")
    }

    /// PATH with the pinned Node first.
    pub fn path_env(&self) -> String {
        format!(
            "{}:{}",
            self.node_bin_dir().display(),
            std::env::var("PATH").unwrap_or_default()
        )
    }

    pub fn is_installed(&self) -> bool {
        self.node_bin_dir().join("node").exists() && self.openclaw().exists()
    }

    /// Installs whatever is missing (npm shows its progress); a no-op when
    /// both are present.
    pub fn install(&self) -> Result<(), String> {
        if !self.node_bin_dir().join("node").exists() {
            let spec = format!("{}@{}", pin("NODE_PACKAGE"), pin("NODE_VERSION"));
            npm_install(&self.node_dir, &spec, None)?;
        }
        if !self.openclaw().exists() {
            let spec = format!("openclaw@{}", openclaw_version());
            npm_install(&self.openclaw_dir, &spec, Some(&self.path_env()))?;
        }
        let version = self
            .command()
            .arg("--version")
            .output()
            .map_err(|e| e.to_string())?;
        let printed = String::from_utf8_lossy(&version.stdout);
        if printed.contains(&openclaw_version()) {
            Ok(())
        } else {
            Err(format!("openclaw --version printed {printed:?}"))
        }
    }

    /// `openclaw` with the pinned Node on PATH.
    pub fn command(&self) -> Command {
        let mut command = Command::new(self.openclaw());
        command.env("PATH", self.path_env());
        command
    }
}

fn npm_install(dir: &Path, spec: &str, path: Option<&str>) -> Result<(), String> {
    println!(
        "installing {spec} into {} (once per machine)",
        dir.display()
    );
    std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
    // Its own package.json: npm installs into the nearest one it finds.
    std::fs::write(
        dir.join("package.json"),
        r#"{"name":"heyclaw-gateway-cache","private":true}"#,
    )
    .map_err(|e| e.to_string())?;
    let mut npm = Command::new("npm");
    npm.args([
        "install",
        "--no-audit",
        "--no-fund",
        "--loglevel=http",
        spec,
    ])
    .current_dir(dir);
    if let Some(path) = path {
        npm.env("PATH", path);
    }
    let status = npm.status().map_err(|e| format!("running npm: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("npm install {spec} failed ({status})"))
    }
}

/// A running gateway process; killed on drop.
pub struct RealGateway {
    pub url: String,
    pub port: u16,
    pub log_path: PathBuf,
    child: Child,
}

pub struct RealGatewayOptions<'a> {
    pub config_path: &'a Path,
    pub state_dir: &'a Path,
    pub port: u16,
    pub token: &'a str,
    /// The model provider's key (a placeholder for the dev model).
    pub model_api_key: &'a str,
}

impl RealGateway {
    pub fn start(
        install: &GatewayInstall,
        options: &RealGatewayOptions<'_>,
    ) -> Result<Self, String> {
        std::fs::create_dir_all(options.state_dir).map_err(|e| e.to_string())?;
        let log_path = options.state_dir.join("gateway.out");
        let log = std::fs::File::create(&log_path).map_err(|e| e.to_string())?;
        let err = log.try_clone().map_err(|e| e.to_string())?;
        let child = install
            .command()
            .args([
                "gateway",
                "--bind",
                "loopback",
                "--port",
                &options.port.to_string(),
                "--allow-unconfigured",
            ])
            .env("OPENCLAW_CONFIG_PATH", options.config_path)
            .env("OPENCLAW_STATE_DIR", options.state_dir)
            .env("OPENCLAW_GATEWAY_TOKEN", options.token)
            .env("OPENAI_API_KEY", options.model_api_key)
            .env("HOME", options.state_dir)
            .env("OPENCLAW_NO_AUTO_UPDATE", "1")
            .env("OPENCLAW_OFFLINE", "1")
            .env("DO_NOT_TRACK", "1")
            // See infrastructure/gateway.Dockerfile: polling follows the
            // roster's atomic replacements reliably.
            .env("CHOKIDAR_USEPOLLING", "1")
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(err)
            .spawn()
            .map_err(|e| format!("starting openclaw: {e}"))?;
        Ok(Self {
            url: format!("http://127.0.0.1:{}", options.port),
            port: options.port,
            log_path,
            child,
        })
    }

    /// Stops the process (the seed's `docker restart` does this, then starts it again).
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Whether the process is still the one we started (not exited).
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Waits until `/health` answers.
    pub async fn wait_ready(&mut self, timeout: Duration) -> Result<(), String> {
        let client = reqwest::Client::new();
        let started = Instant::now();
        while started.elapsed() < timeout {
            if !self.is_running() {
                return Err(format!(
                    "the gateway exited; see {}",
                    self.log_path.display()
                ));
            }
            if client
                .get(format!("{}/health", self.url))
                .timeout(Duration::from_secs(2))
                .send()
                .await
                .is_ok_and(|r| r.status().is_success())
            {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        Err(format!(
            "the gateway was not ready within {timeout:?}; see {}",
            self.log_path.display()
        ))
    }

    /// Makes sure the gateway dies with the current process, even when the
    /// `RealGateway` is never dropped (a static in a test binary): a small
    /// watchdog shell kills it once this process is gone.
    pub fn kill_when_this_process_exits(&self) -> Result<(), String> {
        let script = format!(
            "while kill -0 {me} 2>/dev/null; do sleep 1; done; kill {gw} 2>/dev/null; sleep 5; kill -9 {gw} 2>/dev/null",
            me = std::process::id(),
            gw = self.child.id()
        );
        Command::new("sh")
            .args(["-c", &script])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map(|_| ())
            .map_err(|e| format!("starting the gateway watchdog: {e}"))
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log_path).unwrap_or_default()
    }
}

impl Drop for RealGateway {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
