//! `cargo xtask doctor [--env-file .env.production]`: the seed guide's
//! troubleshooting checks, run against a deployment, each printed `ok` or
//! `FAIL` with what to do. Settings come from the env file (default: the
//! local dev stack's). Checks that need the gateway's files (its config,
//! the templates, the workspaces) run where those paths exist — on the
//! gateway's machine — and say `skip` elsewhere.

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
    time::Duration,
};

use anyhow::{Result, bail};
use heyclaw_api::{Env, Settings};
use heyclaw_persistence::queries::slots;
use secrecy::ExposeSecret;
use serde_json::Value;

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

pub fn run(env_file: Option<PathBuf>) -> Result<()> {
    let env = match env_file {
        Some(path) => read_env_file(&path)?,
        None => crate::dev::environment()?,
    };
    let checks = crate::runtime()?.block_on(checks(&env));
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
    Ok(text
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .filter_map(|line| line.split_once('='))
        .map(|(key, value)| (key.trim().to_owned(), value.trim().to_owned()))
        .collect())
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

/// Every check, in the order an operator would want to read them.
pub async fn checks(env: &BTreeMap<String, String>) -> Vec<Check> {
    let mut out = Vec::new();
    let settings = match Settings::from_env(&Env::from_pairs(env.clone())) {
        Ok(settings) => settings,
        Err(err) => {
            out.push(Check::fail(
                "settings",
                err.to_string(),
                "correct that variable in the env file (.env.example lists every one)",
            ));
            return out;
        }
    };
    let defaults = placeholder_secrets(env);
    out.push(if defaults.is_empty() {
        Check::ok("settings", "valid, no placeholder secrets")
    } else {
        Check::fail(
            "settings",
            format!("placeholder values left in {}", defaults.join(", ")),
            "set real secrets (cargo xtask gen-secrets prints fresh ones)",
        )
    });

    let database_url = settings.database_url.expose_secret().to_owned();
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
            settings.redis_url.expose_secret(),
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
        match client.get(format!("{}/health", shard.url)).send().await {
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
            .get(format!("{}/v1/models", shard.url))
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
            .post(format!("{}/v1/chat/completions", shard.url))
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
    out.extend(local_file_checks(env));
    out
}

fn summarize(items: &[String]) -> String {
    match items.len() {
        0 => "any slot agent".to_owned(),
        1..=5 => items.join(", "),
        n => format!("{} and {} more", items[..5].join(", "), n - 5),
    }
}

/// The gateway's files, where they are on this machine.
fn local_file_checks(env: &BTreeMap<String, String>) -> Vec<Check> {
    let mut out = Vec::new();
    match env.get("OPENCLAW_CONFIG_PATH").map(PathBuf::from) {
        Some(path) if path.exists() => out.extend(config_checks(&path)),
        Some(path) => out.push(Check::skip(
            "gateway config",
            format!(
                "{} is not on this machine (run doctor beside the gateway)",
                path.display()
            ),
        )),
        None => out.push(Check::skip(
            "gateway config",
            "OPENCLAW_CONFIG_PATH is not set",
        )),
    }
    match env.get("TEMPLATES_DIR").map(PathBuf::from) {
        Some(dir) => {
            let missing: Vec<&str> = heyclaw_agent_provisioning::TEMPLATE_FILES
                .iter()
                .copied()
                .filter(|name| !dir.join(name).is_file())
                .collect();
            out.push(if missing.is_empty() {
                Check::ok("templates present", dir.display().to_string())
            } else {
                Check::fail(
                    "templates present",
                    format!("{} lacks {}", dir.display(), missing.join(", ")),
                    "point TEMPLATES_DIR at the repository's templates/ (the gateway image has them in /app/templates)",
                )
            });
        }
        None => out.push(Check::skip("templates present", "TEMPLATES_DIR is not set")),
    }
    match env.get("WORKSPACES_DIR").map(PathBuf::from) {
        Some(dir) if dir.exists() => {
            let probe = dir.join(format!(".doctor-{}", std::process::id()));
            let writable = std::fs::write(&probe, b"probe").is_ok();
            let _ = std::fs::remove_file(&probe);
            out.push(if writable {
                Check::ok("workspaces writable", dir.display().to_string())
            } else {
                Check::fail(
                    "workspaces writable",
                    format!("cannot write in {}", dir.display()),
                    "give the keeper's user write access to the workspaces volume (and room on its disk)",
                )
            });
        }
        Some(dir) => out.push(Check::skip(
            "workspaces writable",
            format!("{} is not on this machine", dir.display()),
        )),
        None => out.push(Check::skip(
            "workspaces writable",
            "WORKSPACES_DIR is not set",
        )),
    }
    out
}

/// openclaw.json: the roster included, the endpoint on, sandbox off and the
/// tool policy HeyClaw sets.
fn config_checks(path: &Path) -> Vec<Check> {
    let config: Value = match std::fs::read_to_string(path)
        .map_err(|err| err.to_string())
        .and_then(|text| json5::from_str(&text).map_err(|err| err.to_string()))
    {
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
    out
}

#[cfg(test)]
mod tests {
    use heyclaw_test_support::{TEST_GATEWAY_TOKEN, TestApp, templates_path};

    use super::*;

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
        let not_a_dir = app.shards[0].dirs.config_path.display().to_string();
        let found = checks(&with("WORKSPACES_DIR", &not_a_dir)).await;
        assert_eq!(failing(&found), ["workspaces writable"]);

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
        app.shards[0].stop_keeper();
        std::fs::write(&config_path, serde_json::to_vec(&broken).unwrap()).unwrap();
        let found = checks(&env).await;
        for name in [
            "gateway config includes the roster",
            "gateway config enables chat completions",
            "tool policy and sandbox",
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
}
