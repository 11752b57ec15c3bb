//! What the load benchmarks run against: a release build of heyclaw-api as
//! its own process (own database, own Redis prefix), a shard of an
//! instantly-answering gateway stand-in with its keeper and, for voice, a
//! speech stand-in. The process can be measured from outside (`/proc`:
//! resident memory, its peak, open files).

use std::process::{Child, Command};

use anyhow::{Context, Result};
use heyclaw_persistence::admin;
use heyclaw_test_support::{
    GatewayStandIn, ShardOptions, TEST_GATEWAY_TOKEN, TestClock, TestShard,
    speech::{SPEECH_KEY, SpeechStandIn},
};
use serde_json::{Value, json};

pub struct Stack {
    pub api: String,
    pub client: reqwest::Client,
    pub shard: TestShard,
    pub speech: SpeechStandIn,
    child: Child,
}

impl Stack {
    /// The gateway stand-in.
    pub fn gateway(&self) -> Result<&GatewayStandIn> {
        self.shard
            .stand_in
            .as_ref()
            .context("the bench shard is a stand-in")
    }

    /// Builds the release binary, makes database `db` afresh (plans allow
    /// far more than the load), and starts the server with `extra` settings.
    pub async fn start(db: &str, extra: &[(&str, &str)]) -> Result<Self> {
        crate::run_cmd(
            env!("CARGO"),
            &["build", "--release", "--quiet", "--package", "heyclaw-api"],
        )?;
        let admin_url = heyclaw_test_support::admin_database_url();
        let db_url = admin::with_database(&admin_url, db);
        {
            let mut maintenance = heyclaw_persistence::establish(&admin_url).await?;
            admin::drop_database(&mut maintenance, db).await?;
            admin::create_database(&mut maintenance, db, None).await?;
            heyclaw_persistence::run_migrations(heyclaw_persistence::establish(&db_url).await?)
                .await?;
        }
        admin::execute(
            &mut heyclaw_persistence::establish(&db_url).await?,
            "UPDATE plan_limits SET daily_text_messages = 100000000, \
             daily_voice_input_minutes = 1000000, daily_tts_characters = 100000000",
        )
        .await?;
        // Room for every benchmark user to stay resident: the API's path is
        // measured, not wakes.
        let shard = TestShard::start(
            &db_url,
            &TestClock::default(),
            ShardOptions {
                slots: 2048,
                ..ShardOptions::default()
            },
        )
        .await;
        let speech = SpeechStandIn::start().await;
        let port = super::free_port()?;
        let binary = crate::target_dir().join("release/heyclaw-api");
        let mut command = Command::new(&binary);
        command
            .env("DATABASE_URL", &db_url)
            .env("REDIS_URL", "redis://127.0.0.1:6379")
            .env(
                "REDIS_KEY_PREFIX",
                format!("heyclaw-bench-{db}-{}", std::process::id()),
            )
            .env("JWT_SECRET", crate::random_hex(32))
            .env("OPENCLAW_GATEWAY_TOKEN", TEST_GATEWAY_TOKEN)
            .env("OPENCLAW_GATEWAY_URL", &shard.url)
            .env("OPENAI_API_KEY", SPEECH_KEY)
            .env("OPENAI_BASE_URL", &speech.openai_url)
            .env("HOST", "127.0.0.1")
            .env("PORT", port.to_string())
            .env("DATABASE_POOL_SIZE", "20")
            .env("RUST_LOG", "warn")
            // Warnings (failed gateway calls…) for whoever reads the figures.
            .stdout(std::fs::File::create(
                std::env::temp_dir().join(format!("{db}.log")),
            )?);
        for (key, value) in extra {
            command.env(key, value);
        }
        let child = command
            .spawn()
            .with_context(|| format!("starting {}", binary.display()))?;
        let api = format!("http://127.0.0.1:{port}");
        let client = reqwest::Client::builder()
            .pool_max_idle_per_host(1024)
            .build()?;
        super::wait_for(&client, &format!("{api}/health")).await?;
        Ok(Self {
            api,
            client,
            shard,
            speech,
            child,
        })
    }

    /// Signs up `n` users (`prefix{i}@example.com`, `benchpass123`); their
    /// access and refresh tokens.
    pub async fn users(&self, prefix: &str, n: usize) -> Result<Vec<(String, String)>> {
        let mut tokens = Vec::with_capacity(n);
        for i in 0..n {
            let body: Value = self
                .client
                .post(format!("{}/auth/signup", self.api))
                .json(&json!({"email": format!("{prefix}{i}@example.com"), "password": "benchpass123"}))
                .send()
                .await?
                .json()
                .await?;
            tokens.push((
                body["access_token"]
                    .as_str()
                    .context("signup token")?
                    .to_owned(),
                body["refresh_token"]
                    .as_str()
                    .context("refresh token")?
                    .to_owned(),
            ));
        }
        Ok(tokens)
    }

    fn status_kib(&self, field: &str) -> u64 {
        super::procfs::status_kib(self.child.id(), field)
    }

    /// Resident memory now, MiB.
    pub fn rss_mib(&self) -> f64 {
        self.status_kib("VmRSS:") as f64 / 1024.0
    }

    /// The highest resident memory since the last [`Stack::reset_peak`], MiB.
    pub fn peak_rss_mib(&self) -> f64 {
        self.status_kib("VmHWM:") as f64 / 1024.0
    }

    /// Starts measuring the peak again (`/proc/<pid>/clear_refs`, 5).
    pub fn reset_peak(&self) {
        let _ = std::fs::write(format!("/proc/{}/clear_refs", self.child.id()), "5");
    }

    /// CPU time (user + system) the server process has used, seconds.
    pub fn cpu_secs(&self) -> f64 {
        super::procfs::process_tree_cpu_secs(self.child.id())
    }

    /// Open file descriptors of the server process.
    pub fn open_files(&self) -> usize {
        std::fs::read_dir(format!("/proc/{}/fd", self.child.id()))
            .map(Iterator::count)
            .unwrap_or(0)
    }

    pub async fn stop(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.shard.stop().await;
        self.speech.stop().await;
    }
}
