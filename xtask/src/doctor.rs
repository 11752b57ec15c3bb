//! `cargo xtask doctor [--env-file .env.production]` and `cargo xtask doctor
//! --host user@server [--dir /srv/heyclaw]`: the seed guide's
//! troubleshooting checks, run against a deployment, each printed `ok` or
//! `FAIL` with what to do.
//!
//! Locally, settings come from the env file (default: the local dev stack's)
//! and the checks that need the gateway's files (its config, the templates,
//! the workspaces) run where those paths exist and say `skip` elsewhere.
//!
//! With `--host`, everything is checked as the server sees it: the settings
//! `deploy` put in `<dir>/shared/.env.production`; Postgres, Redis and each
//! gateway through SSH port forwards (so the server's names and firewall
//! apply, and nothing needs publishing); the files over SSH. The Docker
//! engine is the one seam: with it, compose service names are forwarded to
//! their containers and each shard's files are read inside its
//! `gateway-<id>` service; `--no-engine` checks the server's own processes
//! and paths instead (what the tests do: there is no engine here).

use std::{
    collections::{BTreeMap, HashMap},
    path::{Path, PathBuf},
    time::Duration,
};

use anyhow::{Context, Result, bail};
use heyclaw_api::{Env, Settings};
use heyclaw_persistence::queries::slots;
use secrecy::ExposeSecret;
use serde_json::Value;

use crate::ssh::{Ssh, quote};

#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// The settings file (default: the local dev stack's). Not with --host:
    /// the server's own settings are read there.
    #[arg(long, conflicts_with = "host")]
    pub env_file: Option<PathBuf>,
    /// Check the deployment on this server over SSH (`user@server`).
    #[arg(long)]
    pub host: Option<String>,
    /// The deployment directory on the server (as given to deploy).
    #[arg(long, default_value = "/srv/heyclaw", requires = "host")]
    pub dir: String,
    /// SSH port.
    #[arg(long, requires = "host")]
    pub port: Option<u16>,
    /// SSH private key.
    #[arg(long, requires = "host")]
    pub identity: Option<PathBuf>,
    /// More `ssh -o` options (`Key=value`), repeatable.
    #[arg(long = "ssh-option", requires = "host")]
    pub ssh_options: Vec<String>,
    /// The server has no Docker engine: reach the addresses in its settings
    /// as they are and read files on the server itself.
    #[arg(long, requires = "host")]
    pub no_engine: bool,
}

/// One check's outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    pub name: String,
    pub outcome: Outcome,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Ok(String),
    /// What is wrong, and what to do about it.
    Fail {
        problem: String,
        fix: String,
    },
    /// Not checkable from here (a path of another machine).
    Skip(String),
}

impl Check {
    fn ok(name: impl Into<String>, detail: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            outcome: Outcome::Ok(detail.into()),
        }
    }

    fn fail(name: impl Into<String>, problem: impl Into<String>, fix: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            outcome: Outcome::Fail {
                problem: problem.into(),
                fix: fix.into(),
            },
        }
    }

    fn skip(name: impl Into<String>, why: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            outcome: Outcome::Skip(why.into()),
        }
    }

    pub fn failed(&self) -> bool {
        matches!(self.outcome, Outcome::Fail { .. })
    }
}

pub fn run(args: Args) -> Result<()> {
    let checks = match &args.host {
        Some(host) => {
            let ssh = Ssh {
                host: host.clone(),
                port: args.port,
                identity: args.identity.clone(),
                options: args.ssh_options.clone(),
            };
            remote_checks(&ssh, &args.dir, !args.no_engine)?
        }
        None => {
            let env = match &args.env_file {
                Some(path) => read_env_file(path)?,
                None => crate::dev::environment()?,
            };
            crate::runtime()?.block_on(checks(&env))
        }
    };
    for check in &checks {
        match &check.outcome {
            Outcome::Ok(detail) => println!("ok    {} — {detail}", check.name),
            Outcome::Skip(why) => println!("skip  {} — {why}", check.name),
            Outcome::Fail { problem, fix } => {
                println!("FAIL  {} — {problem}\n      fix: {fix}", check.name);
            }
        }
    }
    let failed = checks.iter().filter(|check| check.failed()).count();
    if failed > 0 {
        bail!("{failed} of {} checks failed", checks.len());
    }
    println!("doctor: all {} checks passed", checks.len());
    Ok(())
}

/// `KEY=VALUE` lines (comments and blank lines skipped), as compose reads them.
pub fn read_env_file(path: &Path) -> Result<BTreeMap<String, String>> {
    let text = std::fs::read_to_string(path)
        .map_err(|err| anyhow::anyhow!("reading {}: {err}", path.display()))?;
    Ok(parse_env(&text))
}

/// `KEY=VALUE` lines of an env file's text.
fn parse_env(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .filter_map(|line| line.split_once('='))
        .map(|(key, value)| (key.trim().to_owned(), value.trim().to_owned()))
        .collect()
}

/// The secret settings still holding `.env.example`'s placeholders.
pub fn placeholder_secrets(env: &BTreeMap<String, String>) -> Vec<&'static str> {
    ["JWT_SECRET", "OPENCLAW_GATEWAY_TOKEN", "DATABASE_URL"]
        .into_iter()
        .filter(|key| {
            env.get(*key).is_some_and(|value| {
                let value = value.to_ascii_lowercase();
                value.contains("change_me") || value.contains("change-me")
            })
        })
        .collect()
}

/// Every check, in the order an operator would want to read them, from
/// this machine.
pub async fn checks(env: &BTreeMap<String, String>) -> Vec<Check> {
    let (settings, mut out) = settings_checks(env);
    if let Some(settings) = settings {
        out.extend(service_checks(&settings, &|url: &str| url.to_owned()).await);
        out.extend(file_checks(env, &LocalFiles, ""));
    }
    out
}

/// Every check, as the server behind `ssh` sees the deployment in `dir`.
/// Blocking (SSH runs as child processes); it makes its own runtime for
/// the network checks.
pub fn remote_checks(ssh: &Ssh, dir: &str, engine: bool) -> Result<Vec<Check>> {
    let settings_path = format!("{dir}/shared/.env.production");
    let env = parse_env(
        &ssh.run(&format!("cat {}", quote(&settings_path)), None)
            .with_context(|| {
                format!(
                    "reading the deployed settings {settings_path} (deploy puts them there; is --dir right?)"
                )
            })?,
    );
    let (settings, mut out) = settings_checks(&env);
    let Some(settings) = settings else {
        return Ok(out);
    };

    // Every address in the settings, forwarded from a local port.
    let mut addresses = Vec::new();
    for url in [
        settings.database_url.expose_secret(),
        settings.redis_url.expose_secret(),
    ]
    .into_iter()
    .chain(
        settings
            .gateway
            .shards
            .iter()
            .map(|shard| shard.url.as_str()),
    ) {
        let address = address_of(url)?;
        if !addresses.contains(&address) {
            addresses.push(address);
        }
    }
    let targets = addresses
        .iter()
        .map(|(host, port)| {
            let host = if engine {
                container_address(ssh, dir, host)?.unwrap_or_else(|| host.clone())
            } else {
                host.clone()
            };
            Ok((host, *port))
        })
        .collect::<Result<Vec<_>>>()?;
    let tunnel = ssh.forward(&targets)?;
    let local: HashMap<(String, u16), u16> = addresses
        .into_iter()
        .zip(tunnel.local_ports.iter().copied())
        .collect();
    let via = |url: &str| -> String {
        let Ok(mut parsed) = url::Url::parse(url) else {
            return url.to_owned();
        };
        match address_of(url).ok().and_then(|address| local.get(&address)) {
            Some(port) => {
                let _ = parsed.set_host(Some("127.0.0.1"));
                let _ = parsed.set_port(Some(*port));
                parsed.as_str().trim_end_matches('/').to_owned()
            }
            None => url.to_owned(),
        }
    };
    out.extend(crate::runtime()?.block_on(service_checks(&settings, &via)));
    drop(tunnel);

    if engine {
        for shard in &settings.gateway.shards {
            let service = format!("gateway-{}", shard.id);
            let prefix = format!("shard {}: ", shard.id);
            let files = RemoteFiles {
                ssh,
                dir,
                service: Some(service.clone()),
            };
            match files.script("env") {
                Ok((Some(0), container_env)) => {
                    let mut env = env.clone();
                    env.extend(parse_env(&container_env));
                    out.extend(file_checks(&env, &files, &prefix));
                }
                _ => out.push(Check::skip(
                    format!("{prefix}gateway files"),
                    format!(
                        "no running compose service {service} on {} (a shard on another host: run doctor --host there)",
                        ssh.host
                    ),
                )),
            }
        }
    } else {
        let files = RemoteFiles {
            ssh,
            dir,
            service: None,
        };
        out.extend(file_checks(&env, &files, ""));
    }
    Ok(out)
}

/// `(host, port)` of a URL, with the scheme's default port.
fn address_of(url: &str) -> Result<(String, u16)> {
    let parsed = url::Url::parse(url).with_context(|| format!("not a URL: {url}"))?;
    let host = parsed
        .host_str()
        .with_context(|| format!("no host in {}", parsed.scheme()))?
        .to_owned();
    let port = parsed.port_or_known_default().or(match parsed.scheme() {
        "postgres" | "postgresql" => Some(5432),
        "redis" | "rediss" => Some(6379),
        _ => None,
    });
    Ok((
        host,
        port.with_context(|| format!("no port in a {} URL", parsed.scheme()))?,
    ))
}

/// The address of compose service `name`'s container, as the server reaches
/// it; `None` when `name` is not a running service (a managed database).
fn container_address(ssh: &Ssh, dir: &str, name: &str) -> Result<Option<String>> {
    let command = format!(
        "cd {} && id=$(docker compose ps -q {} 2>/dev/null) && [ -n \"$id\" ] && docker inspect -f '{{{{range .NetworkSettings.Networks}}}}{{{{.IPAddress}}}} {{{{end}}}}' \"$id\"",
        quote(&format!("{dir}/current")),
        quote(name)
    );
    let output = ssh.output(&command, None)?;
    Ok(output
        .stdout
        .split_whitespace()
        .next()
        .filter(|_| output.code == Some(0))
        .map(str::to_owned))
}

/// The settings parsed (`None` when they are invalid), and their check.
fn settings_checks(env: &BTreeMap<String, String>) -> (Option<Settings>, Vec<Check>) {
    let settings = match Settings::from_env(&Env::from_pairs(env.clone())) {
        Ok(settings) => settings,
        Err(err) => {
            let check = Check::fail(
                "settings",
                err.to_string(),
                "correct that variable in the env file (.env.example lists every one)",
            );
            return (None, vec![check]);
        }
    };
    let defaults = placeholder_secrets(env);
    let check = if defaults.is_empty() {
        Check::ok("settings", "valid, no placeholder secrets")
    } else {
        Check::fail(
            "settings",
            format!("placeholder values left in {}", defaults.join(", ")),
            "set real secrets (cargo xtask gen-secrets prints fresh ones)",
        )
    };
    (Some(settings), vec![check])
}

/// Postgres, Redis and each gateway shard, each address passed through
/// `via` (how this machine reaches it).
async fn service_checks(settings: &Settings, via: &dyn Fn(&str) -> String) -> Vec<Check> {
    let mut out = Vec::new();
    let database_url = via(settings.database_url.expose_secret());
    let postgres = heyclaw_persistence::establish(&database_url).await;
    match &postgres {
        Ok(_) => out.push(Check::ok("postgres reachable", "connected")),
        Err(err) => out.push(Check::fail(
            "postgres reachable",
            err.to_string(),
            "start PostgreSQL, or correct DATABASE_URL (host, port, password)",
        )),
    }
    if postgres.is_ok() {
        match heyclaw_persistence::establish(&database_url).await {
            Ok(conn) => match heyclaw_persistence::pending_migrations(conn).await {
                Ok(pending) if pending.is_empty() => {
                    out.push(Check::ok("migrations applied", "none pending"));
                }
                Ok(pending) => out.push(Check::fail(
                    "migrations applied",
                    format!("pending: {}", pending.join(", ")),
                    "run `heyclaw-api migrate` (the API image does it at start with --migrate)",
                )),
                Err(err) => out.push(Check::fail(
                    "migrations applied",
                    err.to_string(),
                    "check the database user's rights on __diesel_schema_migrations",
                )),
            },
            Err(err) => out.push(Check::fail(
                "migrations applied",
                err.to_string(),
                "see above",
            )),
        }
    }
    out.push(
        match heyclaw_persistence::RedisStore::connect(
            &via(settings.redis_url.expose_secret()),
            &settings.redis_pool,
        ) {
            Ok(redis) => match redis.ping().await {
                Ok(()) => Check::ok("redis reachable", "PONG"),
                Err(err) => Check::fail(
                    "redis reachable",
                    err.to_string(),
                    "start Redis, or correct REDIS_URL",
                ),
            },
            Err(err) => Check::fail("redis reachable", err.to_string(), "correct REDIS_URL"),
        },
    );

    let loads = match heyclaw_persistence::establish(&database_url).await {
        Ok(mut conn) => slots::shard_loads(&mut conn).await.unwrap_or_default(),
        Err(_) => Vec::new(),
    };
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap_or_default();
    for shard in &settings.gateway.shards {
        let name = |what: &str| format!("shard {}: {what}", shard.id);
        let token = shard.token.expose_secret();
        let url = via(&shard.url);
        match client.get(format!("{url}/health")).send().await {
            Ok(response) if response.status().is_success() => {
                out.push(Check::ok(name("gateway reachable"), shard.url.clone()));
            }
            Ok(response) => out.push(Check::fail(
                name("gateway reachable"),
                format!("/health answered {}", response.status()),
                "look at the gateway container's log",
            )),
            Err(err) => {
                out.push(Check::fail(
                    name("gateway reachable"),
                    format!("{}: {err}", shard.url),
                    "start the gateway (docker compose up -d), or correct its URL in GATEWAYS",
                ));
                continue;
            }
        }
        let models = client
            .get(format!("{url}/v1/models"))
            .bearer_auth(token)
            .send()
            .await;
        let served: Vec<String> = match models {
            Ok(response) if response.status().is_success() => {
                out.push(Check::ok(
                    name("token accepted"),
                    "the API's token is the gateway's",
                ));
                response
                    .json::<Value>()
                    .await
                    .ok()
                    .and_then(|list| list["data"].as_array().cloned())
                    .unwrap_or_default()
                    .iter()
                    .filter_map(|model| model["id"].as_str().map(str::to_owned))
                    .collect()
            }
            Ok(response) => {
                out.push(Check::fail(
                    name("token accepted"),
                    format!("/v1/models answered {}", response.status()),
                    "give the API and the gateway the same OPENCLAW_GATEWAY_TOKEN (or the shard's token in GATEWAYS)",
                ));
                Vec::new()
            }
            Err(err) => {
                out.push(Check::fail(
                    name("token accepted"),
                    err.to_string(),
                    "see above",
                ));
                Vec::new()
            }
        };
        let completions = client
            .post(format!("{url}/v1/chat/completions"))
            .bearer_auth(token)
            .json(&serde_json::json!({}))
            .send()
            .await;
        out.push(match completions {
            Ok(response) if response.status() == reqwest::StatusCode::NOT_FOUND => Check::fail(
                name("chat-completions endpoint"),
                "POST /v1/chat/completions answered 404: the endpoint is disabled",
                "set gateway.http.endpoints.chatCompletions.enabled: true in openclaw.json (or delete it: the keeper writes the base config)",
            ),
            Ok(response) => Check::ok(
                name("chat-completions endpoint"),
                format!("enabled (an empty request answered {})", response.status()),
            ),
            Err(err) => Check::fail(name("chat-completions endpoint"), err.to_string(), "see above"),
        });
        match loads.iter().find(|load| load.id == shard.id) {
            None => out.push(Check::fail(
                name("keeper"),
                "the shard's keeper never announced itself in the database",
                "start the keeper (the gateway container's entrypoint runs it) with this DATABASE_URL and GATEWAY_ID",
            )),
            Some(load) => {
                let age = chrono::Utc::now() - load.seen_at;
                out.push(if age > chrono::Duration::seconds(90) {
                    Check::fail(
                        name("keeper"),
                        format!("last seen {}s ago", age.num_seconds()),
                        "the keeper is not running: look at the gateway container's log (heyclaw-keeper lines)",
                    )
                } else {
                    Check::ok(name("keeper"), format!("seen {}s ago", age.num_seconds().max(0)))
                });
                let missing: Vec<String> = (0..load.slots)
                    .map(|n| format!("slot-{n}"))
                    .filter(|slot| !served.contains(&format!("openclaw/{slot}")))
                    .collect();
                out.push(if missing.is_empty() && !served.is_empty() {
                    Check::ok(
                        name("roster in step with the database"),
                        format!("{} slot agents served", load.slots),
                    )
                } else {
                    Check::fail(
                        name("roster in step with the database"),
                        format!("the gateway does not serve {}", summarize(&missing)),
                        "the keeper rewrites the roster within KEEPER_RECONCILE_INTERVAL; if it persists, check that openclaw.json includes ./heyclaw-agents.json and the gateway reloads it",
                    )
                });
                out.push(if load.resident <= i64::from(load.slots) {
                    Check::ok(
                        name("resident under the cap"),
                        format!("{} of {} slots, {} agents placed", load.resident, load.slots, load.agents),
                    )
                } else {
                    Check::fail(
                        name("resident under the cap"),
                        format!("{} resident with {} slots", load.resident, load.slots),
                        "restart the keeper so it announces its slot count",
                    )
                });
            }
        }
    }
    out
}

fn summarize(items: &[String]) -> String {
    match items.len() {
        0 => "any slot agent".to_owned(),
        1..=5 => items.join(", "),
        n => format!("{} and {} more", items[..5].join(", "), n - 5),
    }
}

/// Reads a deployment's files, wherever they are.
trait Files {
    /// Where, for messages ("this machine", "server:gateway-a").
    fn place(&self) -> String;
    /// The file's text; `None` when there is no such file.
    fn read(&self, path: &Path) -> Result<Option<String>>;
    /// Which of `names` are not files in `dir`.
    fn missing(&self, dir: &Path, names: &[&str]) -> Result<Vec<String>>;
    /// Whether a file can be made in `dir`; `None` when `dir` is not there.
    fn writable(&self, dir: &Path) -> Result<Option<bool>>;
}

struct LocalFiles;

impl Files for LocalFiles {
    fn place(&self) -> String {
        "this machine (run doctor beside the gateway, or with --host)".to_owned()
    }

    fn read(&self, path: &Path) -> Result<Option<String>> {
        if !path.exists() {
            return Ok(None);
        }
        Ok(Some(
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?,
        ))
    }

    fn missing(&self, dir: &Path, names: &[&str]) -> Result<Vec<String>> {
        Ok(names
            .iter()
            .filter(|name| !dir.join(name).is_file())
            .map(|name| (*name).to_owned())
            .collect())
    }

    fn writable(&self, dir: &Path) -> Result<Option<bool>> {
        if !dir.exists() {
            return Ok(None);
        }
        let probe = dir.join(format!(".doctor-{}", std::process::id()));
        let writable = std::fs::write(&probe, b"probe").is_ok();
        let _ = std::fs::remove_file(&probe);
        Ok(Some(writable))
    }
}

/// Files on a server, read over SSH — inside a compose service when
/// `service` is set (the engine seam), else on the server itself.
struct RemoteFiles<'a> {
    ssh: &'a Ssh,
    dir: &'a str,
    service: Option<String>,
}

impl RemoteFiles<'_> {
    /// Runs a shell script where the files are; its exit code and stdout.
    fn script(&self, script: &str) -> Result<(Option<i32>, String)> {
        let command = match &self.service {
            Some(service) => format!(
                "cd {} && docker compose exec -T {} sh -c {}",
                quote(&format!("{}/current", self.dir)),
                quote(service),
                quote(script)
            ),
            None => format!("sh -c {}", quote(script)),
        };
        let output = self.ssh.output(&command, None)?;
        Ok((output.code, output.stdout))
    }
}

impl Files for RemoteFiles<'_> {
    fn place(&self) -> String {
        match &self.service {
            Some(service) => format!("{} (service {service})", self.ssh.host),
            None => self.ssh.host.clone(),
        }
    }

    fn read(&self, path: &Path) -> Result<Option<String>> {
        let path = quote(&path.display().to_string());
        match self.script(&format!(
            "if [ -e {path} ]; then cat {path}; else exit 3; fi"
        ))? {
            (Some(0), text) => Ok(Some(text)),
            (Some(3), _) => Ok(None),
            (code, _) => bail!("reading {path} on {} failed ({code:?})", self.place()),
        }
    }

    fn missing(&self, dir: &Path, names: &[&str]) -> Result<Vec<String>> {
        let dir = quote(&dir.display().to_string());
        let names: Vec<String> = names.iter().map(|name| quote(name)).collect();
        let script = format!(
            "for f in {}; do [ -f {dir}/\"$f\" ] || echo \"$f\"; done",
            names.join(" ")
        );
        match self.script(&script)? {
            (Some(0), listed) => Ok(listed.lines().map(str::to_owned).collect()),
            (code, _) => bail!("listing {dir} on {} failed ({code:?})", self.place()),
        }
    }

    fn writable(&self, dir: &Path) -> Result<Option<bool>> {
        let dir = quote(&dir.display().to_string());
        let script = format!(
            "[ -e {dir} ] || exit 3; p={dir}/.doctor-$$; (echo probe > \"$p\") 2>/dev/null || exit 4; rm -f \"$p\""
        );
        match self.script(&script)? {
            (Some(0), _) => Ok(Some(true)),
            (Some(3), _) => Ok(None),
            (Some(4), _) => Ok(Some(false)),
            (code, _) => bail!("probing {dir} on {} failed ({code:?})", self.place()),
        }
    }
}

/// The gateway's config, the templates, HeyClaw's OpenClaw plugin and the
/// workspaces, as `files` sees them; check names start with `prefix`.
fn file_checks(env: &BTreeMap<String, String>, files: &dyn Files, prefix: &str) -> Vec<Check> {
    let name = |what: &str| format!("{prefix}{what}");
    let unreadable = |what: &str, err: anyhow::Error| {
        Check::fail(
            name(what),
            format!("cannot check: {err:#}"),
            "fix the access (SSH, docker compose) and run doctor again",
        )
    };
    let mut out = Vec::new();
    match env.get("OPENCLAW_CONFIG_PATH").map(PathBuf::from) {
        Some(path) => match files.read(&path) {
            Ok(Some(text)) => {
                out.extend(config_checks(&path, &text).into_iter().map(|check| Check {
                    name: name(&check.name),
                    ..check
                }))
            }
            Ok(None) => out.push(Check::skip(
                name("gateway config"),
                format!("{} is not on {}", path.display(), files.place()),
            )),
            Err(err) => out.push(unreadable("gateway config", err)),
        },
        None => out.push(Check::skip(
            name("gateway config"),
            "OPENCLAW_CONFIG_PATH is not set",
        )),
    }
    // A directory the gateway side needs, which must hold `names`.
    let holds = |variable: &str, check: &str, names: &[&str], unset: &str, hint: &str| match env
        .get(variable)
        .map(PathBuf::from)
    {
        Some(dir) => match files.missing(&dir, names) {
            Ok(missing) if missing.is_empty() => Check::ok(name(check), dir.display().to_string()),
            Ok(missing) => Check::fail(
                name(check),
                format!("{} lacks {}", dir.display(), missing.join(", ")),
                hint,
            ),
            Err(err) => unreadable(check, err),
        },
        None => Check::skip(name(check), unset),
    };
    out.push(holds(
        "TEMPLATES_DIR",
        "templates present",
        &heyclaw_agent_provisioning::TEMPLATE_FILES,
        "TEMPLATES_DIR is not set",
        "point TEMPLATES_DIR at the repository's templates/ (the gateway image has them in /app/templates)",
    ));
    out.push(holds(
        "OPENCLAW_PLUGIN_DIR",
        "prompt plugin present",
        &["openclaw.plugin.json", "index.mjs"],
        "OPENCLAW_PLUGIN_DIR is not set: every turn carries OpenClaw's whole system prompt (~15 KB instead of ~9 KB)",
        "point OPENCLAW_PLUGIN_DIR at the repository's infrastructure/openclaw-plugin/ (the gateway image has it in /app/openclaw-plugin)",
    ));
    out.push(match env.get("OPENCLAW_PACKAGE_DIR").map(PathBuf::from) {
        Some(package) => patches_check(files, &package, &name("openclaw patches applied")),
        None => Check::skip(
            name("openclaw patches applied"),
            "OPENCLAW_PACKAGE_DIR is not set (the gateway image sets it)",
        ),
    });
    match env.get("WORKSPACES_DIR").map(PathBuf::from) {
        Some(dir) => out.push(match files.writable(&dir) {
            Ok(Some(true)) => Check::ok(name("workspaces writable"), dir.display().to_string()),
            Ok(Some(false)) => Check::fail(
                name("workspaces writable"),
                format!("cannot write in {}", dir.display()),
                "give the keeper's user write access to the workspaces volume (and room on its disk)",
            ),
            Ok(None) => Check::skip(
                name("workspaces writable"),
                format!("{} is not on {}", dir.display(), files.place()),
            ),
            Err(err) => unreadable("workspaces writable", err),
        }),
        None => out.push(Check::skip(
            name("workspaces writable"),
            "WORKSPACES_DIR is not set",
        )),
    }
    out
}

/// Whether the openclaw package in `package` carries each of HeyClaw's
/// patches (`infrastructure/openclaw-patches`): every file a patch changes
/// holds the line naming HeyClaw that the patch adds there.
fn patches_check(files: &dyn Files, package: &Path, name: &str) -> Check {
    let marks = match patch_marks() {
        Ok(marks) => marks,
        Err(err) => {
            return Check::fail(
                name,
                format!("{err:#}"),
                "run doctor from a checkout of the repository",
            );
        }
    };
    let mut missing = Vec::new();
    for (patch, target, line) in &marks {
        match files.read(&package.join(target)) {
            Ok(Some(text)) if text.lines().any(|l| l.trim() == line) => {}
            Ok(_) => missing.push(format!("{patch} ({})", target.display())),
            Err(err) => {
                return Check::fail(
                    name,
                    format!("cannot check: {err:#}"),
                    "fix the access (SSH, docker compose) and run doctor again",
                );
            }
        }
    }
    if missing.is_empty() {
        Check::ok(name, format!("{} in {}", marks.len(), package.display()))
    } else {
        Check::fail(
            name,
            format!("{} lacks {}", package.display(), missing.join(", ")),
            "rebuild and redeploy the gateway image (infrastructure/gateway.Dockerfile applies them); a different openclaw version needs the patches redone",
        )
    }
}

/// Each patch's name, a file it changes and the first line it adds there
/// that names HeyClaw (trimmed): every patch says why in such a comment in
/// each file it changes; one that does not is an error.
fn patch_marks() -> Result<Vec<(String, PathBuf, String)>> {
    let mut marks = Vec::new();
    for patch in
        heyclaw_test_support::real_gateway::openclaw_patches().map_err(anyhow::Error::msg)?
    {
        let text = std::fs::read_to_string(&patch)
            .with_context(|| format!("reading {}", patch.display()))?;
        let patch_name = patch
            .file_name()
            .map_or_else(String::new, |n| n.to_string_lossy().into_owned());
        let mut files: Vec<(PathBuf, Option<String>)> = Vec::new();
        for line in text.lines() {
            if let Some(path) = line.strip_prefix("+++ b/") {
                files.push((PathBuf::from(path.split('\t').next().unwrap_or(path)), None));
            } else if let (Some(added), Some((_, mark @ None))) =
                (line.strip_prefix('+'), files.last_mut())
                && added.contains("HeyClaw")
            {
                *mark = Some(added.trim().to_owned());
            }
        }
        for (file, mark) in files {
            let line = mark.with_context(|| {
                format!(
                    "{patch_name} adds no line naming HeyClaw to {}",
                    file.display()
                )
            })?;
            marks.push((patch_name.clone(), file, line));
        }
    }
    Ok(marks)
}

/// openclaw.json: the roster included, the endpoint on, sandbox off and the
/// tool policy HeyClaw sets.
fn config_checks(path: &Path, text: &str) -> Vec<Check> {
    let config: Value = match json5::from_str(text) {
        Ok(config) => config,
        Err(err) => {
            return vec![Check::fail(
                "gateway config",
                format!("{}: {err}", path.display()),
                "delete it: the keeper writes the base config again (agents are not lost)",
            )];
        }
    };
    let regenerate = "or delete openclaw.json: the keeper writes the base config again";
    let mut out = Vec::new();
    let includes = config["agents"]["entries"]["$include"] == "./heyclaw-agents.json"
        && config["agents"]["ownership"] == "explicit";
    out.push(if includes {
        Check::ok("gateway config includes the roster", path.display().to_string())
    } else {
        Check::fail(
            "gateway config includes the roster",
            "agents.entries is not {\"$include\": \"./heyclaw-agents.json\"} with ownership explicit",
            format!("restart the keeper (it adds the include), {regenerate}"),
        )
    });
    out.push(
        if config["gateway"]["http"]["endpoints"]["chatCompletions"]["enabled"] == true {
            Check::ok("gateway config enables chat completions", "enabled")
        } else {
            Check::fail(
                "gateway config enables chat completions",
                "gateway.http.endpoints.chatCompletions.enabled is not true",
                format!("set it to true, {regenerate}"),
            )
        },
    );
    let policy = &config["tools"];
    let allow_ok = policy["allow"] == serde_json::json!(["read", "write", "edit", "ls"]);
    let fs_ok = policy["fs"]["workspaceOnly"] == true;
    let sandbox_ok = config["agents"]["defaults"]["sandbox"]["mode"] == "off";
    out.push(if allow_ok && fs_ok && sandbox_ok {
        Check::ok(
            "tool policy and sandbox",
            "file tools only, inside each workspace; sandbox off",
        )
    } else {
        Check::fail(
            "tool policy and sandbox",
            format!(
                "tools.allow {}, tools.fs.workspaceOnly {}, sandbox {}",
                policy["allow"],
                policy["fs"]["workspaceOnly"],
                config["agents"]["defaults"]["sandbox"]["mode"]
            ),
            format!("restore HeyClaw's tool policy (crates/agent-provisioning), {regenerate}"),
        )
    });
    // A config written before the keeper took session maintenance over
    // keeps it on every session write (half of a new session's CPU).
    let maintenance = &config["session"]["maintenance"]["mode"];
    out.push(if maintenance == "warn" {
        Check::ok(
            "session maintenance off the turn path",
            "session.maintenance.mode warn; the keeper applies it every KEEPER_SESSION_CLEANUP_INTERVAL",
        )
    } else {
        Check::fail(
            "session maintenance off the turn path",
            format!("session.maintenance.mode is {maintenance}, not \"warn\": the gateway plans maintenance after every session write"),
            format!("set session.maintenance.mode to \"warn\" (the keeper applies it periodically), {regenerate}"),
        )
    });
    out
}

#[cfg(test)]
mod tests {
    use heyclaw_test_support::{TEST_GATEWAY_TOKEN, TestApp, prompt_plugin_path, templates_path};

    use super::*;
    use crate::ssh::testing::SshServer;

    /// An openclaw package as the image has it, as far as doctor looks:
    /// each patched file holding the line its patch adds.
    fn patched_package() -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("heyclaw-doctor-openclaw-{}", uuid::Uuid::new_v4()));
        for (_, file, line) in patch_marks().unwrap() {
            let path = dir.join(file);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            let mut text = std::fs::read_to_string(&path).unwrap_or_default();
            text.push_str(&format!("before\n\t{line}\nafter\n"));
            std::fs::write(path, text).unwrap();
        }
        dir
    }

    #[test]
    fn every_patch_has_a_mark_that_names_heyclaw() {
        let marks = patch_marks().unwrap();
        let patches = heyclaw_test_support::real_gateway::openclaw_patches().unwrap();
        assert!(marks.len() >= patches.len(), "{marks:?}");
        for (patch, file, line) in &marks {
            assert!(file.starts_with("dist"), "{patch}: {}", file.display());
            assert!(line.contains("HeyClaw"), "{patch}: {line}");
        }
    }

    /// What doctor reads for a test's deployment.
    fn env_of(app: &TestApp) -> BTreeMap<String, String> {
        let shard = &app.shards[0];
        [
            ("DATABASE_URL", app.db.url().to_owned()),
            ("REDIS_URL", heyclaw_test_support::redis_url()),
            (
                "JWT_SECRET",
                "doctor-jwt-secret-0123456789abcdef012345".to_owned(),
            ),
            ("OPENCLAW_GATEWAY_TOKEN", TEST_GATEWAY_TOKEN.to_owned()),
            ("GATEWAYS", shard.gateways_entry()),
            (
                "OPENCLAW_CONFIG_PATH",
                shard.dirs.config_path.display().to_string(),
            ),
            (
                "WORKSPACES_DIR",
                shard.dirs.workspaces.display().to_string(),
            ),
            ("TEMPLATES_DIR", templates_path().display().to_string()),
            (
                "OPENCLAW_PACKAGE_DIR",
                patched_package().display().to_string(),
            ),
            (
                "OPENCLAW_PLUGIN_DIR",
                prompt_plugin_path().display().to_string(),
            ),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect()
    }

    fn failing(checks: &[Check]) -> Vec<String> {
        checks
            .iter()
            .filter(|check| check.failed())
            .map(|check| check.name.clone())
            .collect()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_healthy_deployment_passes_and_each_breakage_is_reported() {
        let app = TestApp::spawn().await;
        let env = env_of(&app);
        let all = checks(&env).await;
        assert!(failing(&all).is_empty(), "{all:#?}");
        assert!(
            all.iter().all(|c| !matches!(c.outcome, Outcome::Skip(_))),
            "{all:#?}"
        );

        let with = |key: &str, value: &str| {
            let mut env = env.clone();
            env.insert(key.to_owned(), value.to_owned());
            env
        };
        // Placeholder secrets.
        let found = checks(&with(
            "JWT_SECRET",
            "CHANGE_ME-CHANGE_ME-CHANGE_ME-CHANGE_ME-",
        ))
        .await;
        assert_eq!(failing(&found), ["settings"]);
        // Postgres and Redis unreachable.
        let found = checks(&with("DATABASE_URL", "postgres://postgres@127.0.0.1:1/x")).await;
        assert!(
            failing(&found).contains(&"postgres reachable".to_owned()),
            "{found:#?}"
        );
        let found = checks(&with("REDIS_URL", "redis://127.0.0.1:1")).await;
        assert_eq!(failing(&found), ["redis reachable"]);
        // The API's token is not the gateway's.
        let entry = app.shards[0].gateways_entry();
        let wrong = entry.replace(TEST_GATEWAY_TOKEN, "not-the-gateway-token-000");
        let found = checks(&with("GATEWAYS", &wrong)).await;
        assert!(
            failing(&found).contains(&"shard default: token accepted".to_owned()),
            "{found:#?}"
        );
        // Templates missing; workspaces not writable (a file, not a directory).
        let found = checks(&with("TEMPLATES_DIR", "/nonexistent-templates")).await;
        assert_eq!(failing(&found), ["templates present"]);
        let found = checks(&with("OPENCLAW_PLUGIN_DIR", "/nonexistent-plugin")).await;
        assert_eq!(failing(&found), ["prompt plugin present"]);
        let not_a_dir = app.shards[0].dirs.config_path.display().to_string();
        let found = checks(&with("WORKSPACES_DIR", &not_a_dir)).await;
        assert_eq!(failing(&found), ["workspaces writable"]);
        // An openclaw package without HeyClaw's patches (one file as shipped).
        let package = PathBuf::from(&env["OPENCLAW_PACKAGE_DIR"]);
        let (_, file, _) = patch_marks().unwrap().remove(0);
        let patched = std::fs::read_to_string(package.join(&file)).unwrap();
        std::fs::write(package.join(&file), "as shipped\n").unwrap();
        let found = checks(&env).await;
        assert_eq!(failing(&found), ["openclaw patches applied"]);
        std::fs::write(package.join(&file), patched).unwrap();
        let found = checks(&with("OPENCLAW_PACKAGE_DIR", "/nonexistent-openclaw")).await;
        assert_eq!(failing(&found), ["openclaw patches applied"]);

        // A migration not applied.
        let latest = app
            .db
            .count("SELECT max(version)::bigint AS n FROM __diesel_schema_migrations")
            .await;
        app.db
            .execute(&format!(
                "DELETE FROM __diesel_schema_migrations WHERE version = '{latest}'"
            ))
            .await;
        let found = checks(&env).await;
        assert_eq!(failing(&found), ["migrations applied"]);
        app.db
            .execute(&format!(
                "INSERT INTO __diesel_schema_migrations (version) VALUES ('{latest}')"
            ))
            .await;

        // The config: no include, endpoint off, tool policy widened.
        let config_path = app.shards[0].dirs.config_path.clone();
        let original = std::fs::read_to_string(&config_path).unwrap();
        let mut broken: Value = serde_json::from_str(&original).unwrap();
        broken["agents"]["entries"] = serde_json::json!({});
        broken["gateway"]["http"]["endpoints"]["chatCompletions"]["enabled"] = false.into();
        broken["tools"]["allow"] = serde_json::json!(["read", "write", "edit", "ls", "exec"]);
        broken["session"] = serde_json::json!({});
        app.shards[0].stop_keeper();
        std::fs::write(&config_path, serde_json::to_vec(&broken).unwrap()).unwrap();
        let found = checks(&env).await;
        for name in [
            "gateway config includes the roster",
            "gateway config enables chat completions",
            "tool policy and sandbox",
            "session maintenance off the turn path",
        ] {
            assert!(
                failing(&found).contains(&name.to_owned()),
                "{name}: {found:#?}"
            );
        }
        std::fs::write(&config_path, original).unwrap();

        // The gateway: endpoint disabled, slots missing from its roster.
        let roster_path = app.shards[0].dirs.roster_path.clone();
        let mut roster: serde_json::Map<String, Value> =
            serde_json::from_str(&std::fs::read_to_string(&roster_path).unwrap()).unwrap();
        roster.remove("slot-7");
        std::fs::write(&roster_path, serde_json::to_vec(&roster).unwrap()).unwrap();
        app.gateway().disable_chat_completions();
        let found = checks(&env).await;
        assert_eq!(
            failing(&found),
            [
                "shard default: chat-completions endpoint",
                "shard default: roster in step with the database"
            ],
            "{found:#?}"
        );
        // The keeper gone quiet.
        app.db
            .execute("UPDATE gateway_shards SET seen_at = now() - interval '10 minutes'")
            .await;
        let found = checks(&env).await;
        assert!(
            failing(&found).contains(&"shard default: keeper".to_owned()),
            "{found:#?}"
        );
        app.shutdown().await;
    }

    /// Runs `remote_checks` off the test's runtime (it blocks and makes its
    /// own).
    async fn over_ssh(ssh: &Ssh, dir: &Path) -> Result<Vec<Check>> {
        let (ssh, dir) = (ssh.clone(), dir.display().to_string());
        tokio::task::spawn_blocking(move || remote_checks(&ssh, &dir, false))
            .await
            .unwrap()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn checks_a_server_over_ssh_through_forwarded_ports() {
        let server = SshServer::start();
        let ssh = server.login();
        let app = TestApp::spawn().await;
        let dir = server.dir.join("srv");
        let settings = dir.join("shared/.env.production");
        let deploy = |env: &BTreeMap<String, String>| {
            std::fs::create_dir_all(settings.parent().unwrap()).unwrap();
            let text: String = env.iter().map(|(k, v)| format!("{k}={v}\n")).collect();
            std::fs::write(&settings, text).unwrap();
        };

        // No settings on the server: it says where it looked.
        let err = over_ssh(&ssh, &dir).await.unwrap_err().to_string();
        assert!(err.contains("shared/.env.production"), "{err}");

        // A healthy deployment: every check passes, none skipped — the
        // services reached through SSH forwards, the files over SSH.
        let env = env_of(&app);
        deploy(&env);
        let all = over_ssh(&ssh, &dir).await.unwrap();
        assert!(failing(&all).is_empty(), "{all:#?}");
        assert!(
            all.iter().all(|c| !matches!(c.outcome, Outcome::Skip(_))),
            "{all:#?}"
        );
        assert!(
            all.iter()
                .any(|c| c.name == "shard default: roster in step with the database")
        );

        // Breakages on the server are reported from here.
        let mut broken = env.clone();
        broken.insert(
            "GATEWAYS".into(),
            app.shards[0]
                .gateways_entry()
                .replace(TEST_GATEWAY_TOKEN, "not-the-gateway-token-000"),
        );
        broken.insert("TEMPLATES_DIR".into(), "/nonexistent-templates".into());
        broken.insert(
            "WORKSPACES_DIR".into(),
            app.shards[0].dirs.config_path.display().to_string(),
        );
        broken.insert("REDIS_URL".into(), "redis://127.0.0.1:1".into());
        deploy(&broken);
        let found = over_ssh(&ssh, &dir).await.unwrap();
        for name in [
            "redis reachable",
            "shard default: token accepted",
            "templates present",
            "workspaces writable",
        ] {
            assert!(
                failing(&found).contains(&name.to_owned()),
                "{name}: {found:#?}"
            );
        }
        assert!(
            !failing(&found).contains(&"postgres reachable".to_owned()),
            "{found:#?}"
        );
        app.shutdown().await;
    }
}
