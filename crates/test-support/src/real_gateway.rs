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

/// The pinned openclaw version (`OPENCLAW_VERSION` in
/// `infrastructure/gateway.versions`, compiled in); empty if the file does
/// not name one.
pub fn openclaw_version() -> String {
    pin("OPENCLAW_VERSION")
}

/// Where installs are cached: `$HEYCLAW_CACHE_DIR`, else
/// `$HOME/.cache/heyclaw` (`/tmp/.cache/heyclaw` without `HOME`). Not
/// created here.
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
    /// The npm prefix the pinned Node package is installed into
    /// (`<cache>/gateway/node-<version>`).
    pub node_dir: PathBuf,
    /// The npm prefix openclaw is installed into
    /// (`<cache>/gateway/openclaw-<version>`).
    pub openclaw_dir: PathBuf,
}

impl GatewayInstall {
    /// The install locations for the pinned versions, under
    /// [`cache_dir`]. Installs nothing; see [`GatewayInstall::install`].
    pub fn pinned() -> Self {
        let root = cache_dir().join("gateway");
        Self {
            node_dir: root.join(format!("node-{}", pin("NODE_VERSION"))),
            openclaw_dir: root.join(format!("openclaw-{}", openclaw_version())),
        }
    }

    /// The directory holding the pinned `node` binary.
    pub fn node_bin_dir(&self) -> PathBuf {
        self.node_dir
            .join("node_modules")
            .join(pin("NODE_PACKAGE"))
            .join("bin")
    }

    /// The `openclaw` executable (an npm bin link; it needs the pinned
    /// Node on `PATH`, see [`GatewayInstall::command`]).
    pub fn openclaw(&self) -> PathBuf {
        self.openclaw_dir.join("node_modules/.bin/openclaw")
    }

    /// `PATH` with the pinned Node's directory first, then this process's
    /// `PATH`.
    pub fn path_env(&self) -> String {
        format!(
            "{}:{}",
            self.node_bin_dir().display(),
            std::env::var("PATH").unwrap_or_default()
        )
    }

    /// Whether both the pinned `node` and `openclaw` are present (their
    /// versions are not checked).
    pub fn is_installed(&self) -> bool {
        self.node_bin_dir().join("node").exists() && self.openclaw().exists()
    }

    /// The openclaw package directory (where HeyClaw's patches apply).
    pub fn openclaw_package(&self) -> PathBuf {
        self.openclaw_dir.join("node_modules/openclaw")
    }

    /// Installs whatever is missing from the npm registry (npm must be on
    /// `PATH` and shows its progress; this needs the network), applies
    /// HeyClaw's patches to openclaw ([`openclaw_patches`]) unless they are
    /// applied, then checks that `openclaw --version` prints the pinned
    /// version — so even when everything is present, it runs openclaw once.
    ///
    /// # Errors
    ///
    /// A message when npm cannot be run or fails, a patch applies neither
    /// forwards nor is found applied, or openclaw does not run or prints
    /// another version.
    pub fn install(&self) -> Result<(), String> {
        if !self.node_bin_dir().join("node").exists() {
            let spec = format!("{}@{}", pin("NODE_PACKAGE"), pin("NODE_VERSION"));
            npm_install(&self.node_dir, &spec, None)?;
        }
        if !self.openclaw().exists() {
            let spec = format!("openclaw@{}", openclaw_version());
            npm_install(&self.openclaw_dir, &spec, Some(&self.path_env()))?;
        }
        for patch in openclaw_patches()? {
            apply_patch(&self.openclaw_package(), &patch)?;
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

    /// A command for `openclaw` with the pinned Node on `PATH`; add
    /// arguments and run it.
    pub fn command(&self) -> Command {
        let mut command = Command::new(self.openclaw());
        command.env("PATH", self.path_env());
        command
    }
}

/// HeyClaw's patches to the pinned openclaw
/// (`infrastructure/openclaw-patches/*.patch`, in name order; each says why
/// it exists). The gateway image applies the same files.
///
/// # Errors
///
/// A message when the directory cannot be read.
pub fn openclaw_patches() -> Result<Vec<PathBuf>, String> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../infrastructure/openclaw-patches");
    let mut patches: Vec<PathBuf> = std::fs::read_dir(&dir)
        .map_err(|e| format!("reading {}: {e}", dir.display()))?
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "patch"))
        .collect();
    patches.sort();
    Ok(patches)
}

/// Applies `patch` (`patch -p1`) in `package` unless it is already applied
/// (it reverses cleanly): an install is patched once, whenever it was made.
fn apply_patch(package: &Path, patch: &Path) -> Result<(), String> {
    let run = |extra: &[&str]| {
        Command::new("patch")
            .args(["-p1", "--batch", "--silent", "-d"])
            .arg(package)
            .args(extra)
            .arg("-i")
            .arg(patch)
            .output()
            .map_err(|e| format!("running patch (GNU patch must be installed): {e}"))
    };
    if run(&["--reverse", "--force", "--dry-run"])?
        .status
        .success()
    {
        return Ok(());
    }
    let applied = run(&["--forward"])?;
    if applied.status.success() {
        println!("applied {} to {}", patch.display(), package.display());
        return Ok(());
    }
    Err(format!(
        "{} applies neither forwards nor backwards to {} (another openclaw version? \
         remove the install to start again): {}",
        patch.display(),
        package.display(),
        String::from_utf8_lossy(&applied.stdout)
    ))
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

/// A running gateway process; killed (SIGKILL) on drop.
pub struct RealGateway {
    /// Its base URL, `http://127.0.0.1:<port>`.
    pub url: String,
    /// The loopback port it was told to listen on.
    pub port: u16,
    /// Its stdout and stderr, `gateway.out` in the state directory.
    pub log_path: PathBuf,
    child: Child,
}

/// How to run a [`RealGateway`].
pub struct RealGatewayOptions<'a> {
    /// Its config file (`OPENCLAW_CONFIG_PATH`), e.g. one a keeper prepared.
    pub config_path: &'a Path,
    /// Its state directory (`OPENCLAW_STATE_DIR`, and its `HOME`), created
    /// if missing; the log goes there too.
    pub state_dir: &'a Path,
    /// The loopback port to listen on; it must be free.
    pub port: u16,
    /// The bearer token it requires (`OPENCLAW_GATEWAY_TOKEN`).
    pub token: &'a str,
    /// The model provider's key (a placeholder for the dev model).
    pub model_api_key: &'a str,
    /// More environment for the gateway (e.g. a patch's settings).
    pub env: &'a [(&'a str, &'a str)],
}

impl RealGateway {
    /// Spawns `openclaw gateway` on loopback at `options.port`, offline, with
    /// auto-update and telemetry off and its output in
    /// [`RealGateway::log_path`]. Returns at once: use
    /// [`RealGateway::wait_ready`] before talking to it.
    ///
    /// # Errors
    ///
    /// A message when the state directory or log file cannot be created,
    /// or the process cannot be spawned (e.g. not installed).
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
            .envs(options.env.iter().copied())
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

    /// Kills the process (SIGKILL) and waits for it to exit, as the seed's
    /// `docker restart` would before starting it again. Start a new
    /// [`RealGateway`] to bring it back.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// The process id of the gateway.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Whether the process is still the one we started (not exited).
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Waits until `GET /health` answers with a success, polling every
    /// 200 ms (each try bounded to 2 s).
    ///
    /// # Errors
    ///
    /// A message naming the log file when the process exits or `timeout`
    /// passes first.
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

    /// What the gateway has written so far to its log (empty if the file
    /// cannot be read).
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_patch_applies_once_and_refuses_a_file_it_does_not_fit() {
        let root = std::env::temp_dir().join(format!("heyclaw-patch-{}", uuid::Uuid::new_v4()));
        let package = root.join("package");
        std::fs::create_dir_all(package.join("dist")).unwrap();
        let file = package.join("dist/a.mjs");
        std::fs::write(
            &file,
            "const keep = 1;\nconst idle = 60;\nexport { idle };\n",
        )
        .unwrap();
        let patch = root.join("idle.patch");
        std::fs::write(
            &patch,
            "Why it exists.\n\n--- a/dist/a.mjs\n+++ b/dist/a.mjs\n@@ -1,3 +1,3 @@\n const keep = 1;\n-const idle = 60;\n+const idle = 1800;\n export { idle };\n",
        )
        .unwrap();
        apply_patch(&package, &patch).unwrap();
        let patched = std::fs::read_to_string(&file).unwrap();
        assert!(patched.contains("const idle = 1800;"), "{patched}");
        // An install patched before is left as it is.
        apply_patch(&package, &patch).unwrap();
        assert_eq!(std::fs::read_to_string(&file).unwrap(), patched);
        // Another version of the file: neither applied nor applicable.
        std::fs::write(&file, "const keep = 2;\nconst idle = 90;\n").unwrap();
        let err = apply_patch(&package, &patch).unwrap_err();
        assert!(err.contains("applies neither"), "{err}");
        let _ = std::fs::remove_dir_all(root);
    }

    #[test]
    fn every_patch_says_why_it_exists_before_its_diff() {
        let patches = openclaw_patches().unwrap();
        assert!(!patches.is_empty());
        for patch in patches {
            let text = std::fs::read_to_string(&patch).unwrap();
            assert!(
                text.lines()
                    .next()
                    .is_some_and(|line| !line.starts_with("---")),
                "{}: starts with why it exists",
                patch.display()
            );
        }
    }
}
