//! `cargo xtask deploy --host user@server [--dir /srv/heyclaw] [--dry-run]
//! [--rollback]`: ship this commit to a server over SSH and bring it up.
//!
//! Steps, each printed, stopping at the first failure with what to do:
//! preflight (the settings file is there and valid, no placeholder secrets,
//! the host answers over SSH) → package (`git archive HEAD`) → upload into
//! `<dir>/releases/<id>` → settings into `<dir>/shared/.env.production`
//! (mode 600, linked into the release) → switch `<dir>/current` (the old one
//! kept as `<dir>/previous`) → migrations → `docker compose up -d --build`
//! → wait for `/ready` → the seed's Step 8 as a smoke test (signup, status,
//! message; the smoke account is deleted after) → summary. Re-running makes
//! a new release and is safe; `--rollback` switches back to the previous
//! release and brings it up. `--dry-run` prints every command instead.
//!
//! The two steps that need a Docker engine on the server (migrations and
//! compose) are the one seam: `--no-engine` reports them as not run, for
//! servers (and tests) without one.

use std::{
    path::PathBuf,
    process::Command,
    time::{Duration, Instant},
};

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};

use crate::ssh::Ssh;

#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// `user@server` (or an alias from ~/.ssh/config).
    #[arg(long)]
    pub host: String,
    /// The deployment directory on the server.
    #[arg(long, default_value = "/srv/heyclaw")]
    pub dir: String,
    /// The settings file to ship (`.env.example` shows every variable).
    #[arg(long, default_value = ".env.production")]
    pub env_file: PathBuf,
    /// The API's public URL, for readiness and the smoke test (default:
    /// PUBLIC_BASE_URL from the settings file).
    #[arg(long)]
    pub url: Option<String>,
    /// SSH port.
    #[arg(long)]
    pub port: Option<u16>,
    /// SSH private key.
    #[arg(long)]
    pub identity: Option<PathBuf>,
    /// More `ssh -o` options (`Key=value`), repeatable.
    #[arg(long = "ssh-option")]
    pub ssh_options: Vec<String>,
    /// Print every command instead of running it.
    #[arg(long)]
    pub dry_run: bool,
    /// Switch back to the previous release and bring it up.
    #[arg(long)]
    pub rollback: bool,
    /// The server has no Docker engine: report the migration and compose
    /// steps as not run.
    #[arg(long)]
    pub no_engine: bool,
}

impl Args {
    pub fn ssh(&self) -> Ssh {
        Ssh {
            host: self.host.clone(),
            port: self.port,
            identity: self.identity.clone(),
            options: self.ssh_options.clone(),
        }
    }
}

pub fn run(args: Args) -> Result<()> {
    let deploy = Deploy::new(args)?;
    let summary = crate::runtime()?.block_on(deploy.run())?;
    println!("\n{summary}");
    Ok(())
}

struct Deploy {
    args: Args,
    env_text: String,
    url: String,
}

impl Deploy {
    fn new(args: Args) -> Result<Self> {
        let env_text = std::fs::read_to_string(&args.env_file).with_context(|| {
            format!(
                "preflight: {} is missing — copy .env.example to it and fill in the secrets",
                args.env_file.display()
            )
        })?;
        let env = crate::doctor::read_env_file(&args.env_file)?;
        heyclaw_api::Settings::from_env(&heyclaw_api::Env::from_pairs(env.clone()))
            .map_err(|err| anyhow::anyhow!("preflight: {} — {err}", args.env_file.display()))?;
        let placeholders = crate::doctor::placeholder_secrets(&env);
        if !placeholders.is_empty() {
            bail!(
                "preflight: placeholder values in {} ({}) — set real ones (cargo xtask gen-secrets)",
                args.env_file.display(),
                placeholders.join(", ")
            );
        }
        let url = args
            .url
            .clone()
            .or_else(|| env.get("PUBLIC_BASE_URL").cloned())
            .context("preflight: no --url and no PUBLIC_BASE_URL in the settings file")?
            .trim_end_matches('/')
            .to_owned();
        Ok(Self {
            args,
            env_text,
            url,
        })
    }

    async fn run(&self) -> Result<String> {
        let dir = &self.args.dir;
        step("preflight: the host answers over SSH");
        self.ssh("true", None)?;
        let release = if self.args.rollback {
            step("rollback: switch back to the previous release");
            self.ssh(
                &format!(
                    "cd {dir} && test -L previous || {{ echo 'no previous release to roll back to' >&2; exit 1; }}; \
                     target=$(readlink previous) && ln -sfn \"$(readlink current)\" previous && ln -sfn \"$target\" current && echo \"$target\""
                ),
                None,
            )?
            .trim()
            .to_owned()
        } else {
            step("package: git archive HEAD");
            let sha = git(&["rev-parse", "--short=12", "HEAD"])?;
            let id = format!(
                "{}-{}",
                chrono::Utc::now().format("%Y%m%d%H%M%S"),
                sha.trim()
            );
            let tarball = if self.args.dry_run {
                Vec::new()
            } else {
                let output = Command::new("git")
                    .args(["archive", "--format=tar", "HEAD"])
                    .current_dir(crate::repo_root())
                    .output()
                    .context("running git archive")?;
                anyhow::ensure!(output.status.success(), "git archive failed");
                output.stdout
            };
            step(&format!("upload: {dir}/releases/{id}"));
            self.ssh(
                &format!(
                    "mkdir -p {dir}/releases/{id} {dir}/shared && tar -x -C {dir}/releases/{id}"
                ),
                Some(&tarball),
            )?;
            step("settings: shared/.env.production (mode 600), linked into the release");
            self.ssh(
                &format!(
                    "umask 077 && cat > {dir}/shared/.env.production && chmod 600 {dir}/shared/.env.production \
                     && ln -sfn ../../shared/.env.production {dir}/releases/{id}/.env.production"
                ),
                Some(self.env_text.as_bytes()),
            )?;
            step("switch: current → this release (previous kept)");
            self.ssh(
                &format!(
                    "cd {dir} && if [ -L current ]; then ln -sfn \"$(readlink current)\" previous; fi \
                     && ln -sfn releases/{id} current"
                ),
                None,
            )?;
            format!("releases/{id}")
        };
        let mut not_run = Vec::new();
        for (what, command) in [
            (
                "migrations",
                format!(
                    "cd {dir}/current && docker compose run --rm --entrypoint heyclaw-api api migrate"
                ),
            ),
            (
                "docker compose up -d --build",
                format!("cd {dir}/current && docker compose up -d --build --remove-orphans"),
            ),
        ] {
            step(what);
            if self.args.no_engine {
                println!("    not run (--no-engine): {command}");
                not_run.push(what);
            } else {
                self.ssh(&command, None)?;
            }
        }
        step(&format!("wait for {}/ready", self.url));
        if self.args.dry_run {
            println!("    would poll GET {}/ready", self.url);
        } else {
            self.wait_ready().await?;
        }
        step("smoke test: the seed's Step 8 (signup → status → message)");
        let smoke = if self.args.dry_run {
            println!("    would sign up, read /agent/status, send a message, delete the account");
            "not run (dry run)".to_owned()
        } else {
            self.smoke_test().await?
        };
        Ok(format!(
            "deployed {release} to {}:{dir}\n  API {}\n  smoke test: {smoke}{}",
            self.args.host,
            self.url,
            if not_run.is_empty() {
                String::new()
            } else {
                format!(
                    "\n  not run here (no Docker engine): {}",
                    not_run.join(", ")
                )
            }
        ))
    }

    /// Runs `command` on the host (with `input` on its stdin); its stdout.
    fn ssh(&self, command: &str, input: Option<&[u8]>) -> Result<String> {
        let ssh = self.args.ssh();
        if self.args.dry_run {
            println!("    $ {}", ssh.describe(command));
            return Ok(String::new());
        }
        ssh.run(command, input).map_err(|err| {
            anyhow::anyhow!(
                "{err:#}\n    fix that on the server (or the SSH access), then run deploy again — it is safe to repeat"
            )
        })
    }

    async fn wait_ready(&self) -> Result<()> {
        let client = reqwest::Client::new();
        let started = Instant::now();
        loop {
            let ready = client
                .get(format!("{}/ready", self.url))
                .timeout(Duration::from_secs(5))
                .send()
                .await;
            if let Ok(response) = &ready
                && response.status().is_success()
            {
                println!("    ready after {:.1}s", started.elapsed().as_secs_f64());
                return Ok(());
            }
            if started.elapsed() > Duration::from_secs(180) {
                bail!(
                    "{}/ready did not answer 200 within 3 minutes — run `cargo xtask doctor --env-file {}` and look at `docker compose logs api` on the server",
                    self.url,
                    self.args.env_file.display()
                );
            }
            tokio::time::sleep(Duration::from_secs(2)).await;
        }
    }

    /// Signup → status → message, then the smoke account is deleted.
    async fn smoke_test(&self) -> Result<String> {
        let client = reqwest::Client::new();
        let email = format!("deploy-smoke-{}@example.com", crate::random_hex(6));
        let signup: Value = client
            .post(format!("{}/auth/signup", self.url))
            .json(
                &json!({"email": email, "password": crate::random_hex(12), "name": "Deploy Smoke"}),
            )
            .send()
            .await?
            .json()
            .await?;
        let token = signup["access_token"]
            .as_str()
            .with_context(|| format!("smoke test: signup answered {signup}"))?
            .to_owned();
        let status: Value = client
            .get(format!("{}/agent/status", self.url))
            .bearer_auth(&token)
            .send()
            .await?
            .json()
            .await?;
        let started = Instant::now();
        let message = client
            .post(format!("{}/agent/message", self.url))
            .bearer_auth(&token)
            .json(&json!({"text": "Hello, what can you help me with?"}))
            .timeout(Duration::from_secs(60))
            .send()
            .await?;
        let code = message.status();
        let body: Value = message.json().await.unwrap_or_default();
        let took = started.elapsed();
        let deletion = match client
            .delete(format!("{}/user/me", self.url))
            .bearer_auth(&token)
            .send()
            .await
        {
            Ok(response) if response.status().is_success() => None,
            Ok(response) => Some(format!(
                "{} {}",
                response.status(),
                response.text().await.unwrap_or_default()
            )),
            Err(err) => Some(err.to_string()),
        };
        if !code.is_success() || body["response"].as_str().is_none_or(str::is_empty) {
            bail!(
                "smoke test: /agent/message answered {code} {body} — run `cargo xtask doctor` against the deployment"
            );
        }
        Ok(format!(
            "signup ok, agent {}, answered in {:.1}s, usage {}{}",
            status["agentStatus"].as_str().unwrap_or("?"),
            took.as_secs_f64(),
            body["usage"],
            match deletion {
                None => "; smoke account deleted".to_owned(),
                Some(why) => format!("; smoke account NOT deleted ({why}): delete {email} by hand"),
            }
        ))
    }
}

fn step(what: &str) {
    println!("==> {what}");
}

fn git(args: &[&str]) -> Result<String> {
    let output = Command::new("git")
        .args(args)
        .current_dir(crate::repo_root())
        .output()
        .context("running git")?;
    anyhow::ensure!(output.status.success(), "git {} failed", args.join(" "));
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

#[cfg(test)]
mod tests {
    use heyclaw_test_support::{TEST_GATEWAY_TOKEN, TestApp};

    use super::*;
    use crate::ssh::testing::SshServer;

    fn args(ssh: &SshServer, dir: &str, env_file: PathBuf, url: &str) -> Args {
        let login = ssh.login();
        Args {
            host: login.host,
            dir: dir.to_owned(),
            env_file,
            url: Some(url.to_owned()),
            port: login.port,
            identity: login.identity,
            ssh_options: login.options,
            dry_run: false,
            rollback: false,
            no_engine: true,
        }
    }

    fn link(path: &str) -> String {
        std::fs::read_link(path)
            .map(|p| p.display().to_string())
            .unwrap_or_default()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn deploys_over_ssh_redeploys_rolls_back_and_dry_runs() {
        let ssh = SshServer::start();
        // The deployed service: this test's server (no Docker engine here).
        let app = TestApp::spawn().await;
        let dir = ssh.dir.join("srv").display().to_string();
        let env_file = ssh.dir.join("env.production");
        std::fs::write(
            &env_file,
            format!(
                "DATABASE_URL=postgres://heyclaw:s3cret@postgres:5432/heyclaw\nREDIS_URL=redis://redis:6379\n\
                 JWT_SECRET={}\nOPENCLAW_GATEWAY_TOKEN={TEST_GATEWAY_TOKEN}\nPUBLIC_BASE_URL=https://api.example.com\n",
                crate::random_hex(32)
            ),
        )
        .unwrap();

        let deploy = |args: Args| {
            tokio::task::spawn_blocking(move || {
                let deploy = Deploy::new(args)?;
                tokio::runtime::Runtime::new()?.block_on(deploy.run())
            })
        };
        let first = deploy(args(&ssh, &dir, env_file.clone(), &app.address))
            .await
            .unwrap()
            .unwrap();
        assert!(first.contains("smoke test: signup ok"), "{first}");
        assert!(first.contains("smoke account deleted"), "{first}");
        assert!(
            first.contains(
                "not run here (no Docker engine): migrations, docker compose up -d --build"
            ),
            "{first}"
        );
        let release = format!("{dir}/{}", link(&format!("{dir}/current")));
        assert!(std::path::Path::new(&format!("{release}/docker-compose.yml")).exists());
        assert!(std::path::Path::new(&format!("{release}/Cargo.toml")).exists());
        let shared = format!("{dir}/shared/.env.production");
        let mode = std::fs::metadata(&shared).unwrap();
        assert_eq!(
            std::os::unix::fs::PermissionsExt::mode(&mode.permissions()) & 0o777,
            0o600
        );
        assert_eq!(
            std::fs::read_to_string(format!("{release}/.env.production")).unwrap(),
            std::fs::read_to_string(&env_file).unwrap()
        );
        assert_eq!(
            app.db.count("SELECT count(*) AS n FROM users").await,
            0,
            "the smoke account was deleted"
        );

        // Again: a new release, the first kept as previous.
        std::thread::sleep(Duration::from_millis(1100));
        deploy(args(&ssh, &dir, env_file.clone(), &app.address))
            .await
            .unwrap()
            .unwrap();
        let second = link(&format!("{dir}/current"));
        assert_ne!(format!("{dir}/{second}"), release);
        assert_eq!(
            format!("{dir}/{}", link(&format!("{dir}/previous"))),
            release
        );

        // Rollback: the first release is current again.
        let mut back = args(&ssh, &dir, env_file.clone(), &app.address);
        back.rollback = true;
        deploy(back).await.unwrap().unwrap();
        assert_eq!(
            format!("{dir}/{}", link(&format!("{dir}/current"))),
            release
        );

        // A dry run changes nothing.
        let releases = std::fs::read_dir(format!("{dir}/releases"))
            .unwrap()
            .count();
        let mut dry = args(&ssh, &dir, env_file.clone(), &app.address);
        dry.dry_run = true;
        deploy(dry).await.unwrap().unwrap();
        assert_eq!(
            std::fs::read_dir(format!("{dir}/releases"))
                .unwrap()
                .count(),
            releases
        );

        // Preflight: placeholder secrets stop it before anything is shipped.
        std::fs::write(
            &env_file,
            std::fs::read_to_string(&env_file)
                .unwrap()
                .replace("s3cret", "CHANGE_ME"),
        )
        .unwrap();
        let err = Deploy::new(args(&ssh, &dir, env_file, &app.address))
            .err()
            .unwrap()
            .to_string();
        assert!(
            err.contains("placeholder") && err.contains("DATABASE_URL"),
            "{err}"
        );
        app.shutdown().await;
    }
}
