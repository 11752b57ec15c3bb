use std::{
    net::{SocketAddr, TcpListener},
    sync::Arc,
};

use heyclaw_app::{
    access_cache::AccessCache,
    accounts::{Accounts, AccountsConfig, AppleKeys},
    agents::{Agents, AgentsConfig, Shard},
    auth::passwords::PasswordHashing,
    automation::{Automations, SchedulerConfig},
    billing::Billing,
    chat::Chats,
    clock::SharedClock,
    mail::{LogMailer, Mailer, SmtpConfig, SmtpMailer},
    messaging::Messaging,
    recorder::{RecorderTask, TurnRecorder},
    speech::Speech,
    transcription::Transcriptions,
    voice::VoiceTurns,
};
use heyclaw_billing::{AppStore, AppStoreConfig, ServerApiCredentials};
use heyclaw_gateway_client::{GatewayClient, GatewayConfig};
use heyclaw_http::{AppState, Server, ServerHandle};
use heyclaw_persistence::{PersistenceError, RedisStore};
use heyclaw_tts::{
    ElevenLabsConfig, ElevenLabsSpeech, OpenAiSpeech, OpenAiSpeechConfig, SpeechSynthesizer,
    WhisperConfig, WhisperTranscriber,
};
use secrecy::ExposeSecret;

use crate::{Settings, settings::TtsProvider};

#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("cannot reach PostgreSQL: {0}")]
    Postgres(PersistenceError),
    #[error("cannot reach Redis: {0}")]
    Redis(PersistenceError),
    #[error("migrations failed: {0}")]
    Migrations(PersistenceError),
    #[error("SMTP settings: {0}")]
    Mail(String),
    #[error("agent provisioning: {0}")]
    Agents(String),
    #[error("Sign in with Apple: {0}")]
    Apple(String),
    #[error("speech: {0}")]
    Speech(String),
    #[error("billing: {0}")]
    Billing(String),
}

/// What the server takes from outside besides its settings. Production
/// uses the defaults; tests inject a clock they can move.
#[derive(Clone)]
pub struct Dependencies {
    pub clock: SharedClock,
}

impl Default for Dependencies {
    fn default() -> Self {
        Self {
            clock: heyclaw_app::clock::system(),
        }
    }
}

/// A built, bound, not yet running server.
pub struct Application {
    port: u16,
    server: Server,
    /// The metrics listener's port and server, when `METRICS_PORT` is set.
    metrics: Option<(u16, ServerHandle)>,
    gauges: Option<tokio::task::JoinHandle<()>>,
    cache_listener: Option<tokio::task::JoinHandle<()>>,
    recorder: RecorderTask,
    scheduler: Option<tokio::task::JoinHandle<()>>,
}

impl Application {
    /// Connects to Postgres and Redis (failing fast if either is down),
    /// binds the listener and builds the server.
    pub async fn build(settings: &Settings) -> Result<Self, StartupError> {
        Self::build_with(settings, Dependencies::default()).await
    }

    /// [`Application::build`] with the given dependencies.
    pub async fn build_with(settings: &Settings, deps: Dependencies) -> Result<Self, StartupError> {
        let pg = heyclaw_persistence::connect_pg_pool(
            settings.database_url.expose_secret(),
            &settings.database_pool,
        )
        .map_err(StartupError::Postgres)?;
        let redis = RedisStore::connect(settings.redis_url.expose_secret(), &settings.redis_pool)
            .map_err(StartupError::Redis)?;
        // Started beside its database (compose, a pod), the server waits a
        // while for it rather than failing at once.
        let deadline = tokio::time::Instant::now() + settings.dependency_wait;
        loop {
            let checked = match heyclaw_persistence::check_connection(&pg).await {
                Ok(()) => redis.ping().await.map_err(StartupError::Redis),
                Err(err) => Err(StartupError::Postgres(err)),
            };
            match checked {
                Ok(()) => break,
                Err(err) if tokio::time::Instant::now() < deadline => {
                    tracing::warn!(error = %err, "waiting for PostgreSQL and Redis");
                    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                }
                Err(err) => return Err(err),
            }
        }

        let addr = SocketAddr::new(settings.host, settings.port);
        let listener =
            TcpListener::bind(addr).map_err(|source| StartupError::Bind { addr, source })?;
        let port = listener
            .local_addr()
            .map_err(|source| StartupError::Bind { addr, source })?
            .port();
        let agents = agents(settings, pg.clone(), Arc::clone(&deps.clock))?;
        let (recorder, recorder_task) = TurnRecorder::start(pg.clone());
        let cache = AccessCache::new(settings.access_cache_ttl);
        let cache_listener = if settings.access_cache_ttl.is_zero() {
            None
        } else {
            Some(
                cache
                    .start_listening(
                        settings.database_url.expose_secret().to_owned(),
                        std::time::Duration::from_secs(2),
                    )
                    .await,
            )
        };
        let accounts = Accounts::new(
            pg.clone(),
            redis.clone(),
            AccountsConfig {
                jwt_secret: settings.auth.jwt_secret.clone(),
                access_token_ttl: settings.auth.access_token_ttl,
                refresh_token_ttl: settings.auth.refresh_token_ttl,
                refresh_reuse_grace: settings.auth.refresh_reuse_grace,
                deletion_token_ttl: std::time::Duration::from_secs(600),
                password_hashing: PasswordHashing::new(
                    settings.auth.password_hash_concurrency,
                    settings.auth.password_hash_queue_timeout,
                ),
                password_reset_ttl: settings.auth.password_reset_ttl,
                password_reset_url: settings.auth.password_reset_url.clone(),
                limits: settings.auth.limits,
                login_code_ttl: settings.auth.login_code_ttl,
                review_account: settings.auth.review_account.clone(),
                apple: Some(
                    AppleKeys::new(
                        settings.apple.jwks_url.clone(),
                        settings.apple.bundle_id.clone(),
                        settings.apple.jwks_min_refresh,
                    )
                    .map_err(|err| StartupError::Apple(err.to_string()))?,
                ),
            },
            mailer(settings)?,
            Arc::new(agents.clone()),
            Arc::clone(&deps.clock),
            cache.clone(),
        );
        let billing = Billing::new(
            pg.clone(),
            Some(Arc::new(app_store(settings)?)),
            settings.billing.products.clone(),
            Arc::clone(&deps.clock),
            cache.clone(),
        );
        billing
            .check_products()
            .await
            .map_err(|err| StartupError::Billing(format!("APP_STORE_PRODUCTS: {err}")))?;
        let automations = Automations::new(
            pg.clone(),
            redis.clone(),
            agents.clone(),
            recorder.clone(),
            Arc::clone(&deps.clock),
        );
        let scheduler = settings.automations.scheduler.then(|| {
            automations.start_scheduler(SchedulerConfig {
                replica: replica_name(),
                poll_interval: settings.automations.poll_interval,
                lease: settings.automations.lease,
                attempts: settings.automations.attempts,
                retry_backoff: settings.automations.retry_backoff,
                batch: 8,
            })
        });
        let synthesizer = speech(settings)?;
        let metrics_pg = pg.clone();
        let state = AppState {
            billing,
            messaging: Messaging::new(
                pg.clone(),
                redis.clone(),
                agents.clone(),
                recorder.clone(),
                automations.clone(),
                cache.clone(),
            ),
            voice: VoiceTurns::new(
                pg.clone(),
                redis.clone(),
                agents.clone(),
                recorder.clone(),
                synthesizer.clone(),
                automations.clone(),
                cache.clone(),
            ),
            automations,
            speech: Speech::new(pg.clone(), redis.clone(), recorder.clone(), synthesizer),
            transcriptions: Transcriptions::new(
                pg.clone(),
                redis.clone(),
                recorder,
                whisper(settings)?,
            ),
            cron_secret: settings.cron_secret.clone(),
            chats: Chats::new(pg.clone()),
            agents: agents.clone(),
            pg,
            redis,
            accounts,
            trust_proxy_headers: settings.trust_proxy_headers,
        };
        let server = heyclaw_http::serve(listener, state, &settings.http)
            .map_err(|source| StartupError::Bind { addr, source })?;
        let (metrics, gauges) = match settings.metrics_port {
            None => (None, None),
            Some(metrics_port) => {
                let addr = SocketAddr::new(settings.host, metrics_port);
                let listener = TcpListener::bind(addr)
                    .map_err(|source| StartupError::Bind { addr, source })?;
                let bound = listener
                    .local_addr()
                    .map_err(|source| StartupError::Bind { addr, source })?
                    .port();
                let handle = crate::metrics::handle();
                let render: heyclaw_http::MetricsRender =
                    Arc::new(move || handle.as_ref().map(|h| h.render()).unwrap_or_default());
                let metrics_server = heyclaw_http::serve_metrics(listener, render)
                    .map_err(|source| StartupError::Bind { addr, source })?;
                let metrics_handle = metrics_server.handle();
                tokio::spawn(metrics_server);
                let gauges =
                    crate::metrics::spawn_gauges(metrics_pg, std::time::Duration::from_secs(15));
                (Some((bound, metrics_handle)), Some(gauges))
            }
        };
        Ok(Self {
            port,
            server,
            metrics,
            gauges,
            cache_listener,
            recorder: recorder_task,
            scheduler,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The metrics listener's port, when metrics are on.
    pub fn metrics_port(&self) -> Option<u16> {
        self.metrics.as_ref().map(|(port, _)| *port)
    }

    /// A handle to stop the server gracefully from elsewhere.
    pub fn handle(&self) -> ServerHandle {
        self.server.handle()
    }

    /// Serves until SIGTERM or [`ServerHandle::stop`] (in-flight requests
    /// then finish within the shutdown timeout) or SIGINT/SIGQUIT (at once).
    /// Answered turns still queued for recording are written before it returns.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let served = self.server.await;
        if let Some((_, metrics)) = self.metrics {
            metrics.stop(false).await;
        }
        if let Some(gauges) = self.gauges {
            gauges.abort();
        }
        if let Some(listener) = self.cache_listener {
            listener.abort();
        }
        if let Some(scheduler) = self.scheduler {
            // A run cut short here is taken over once its lease passes.
            scheduler.abort();
        }
        self.recorder
            .finish(std::time::Duration::from_secs(10))
            .await;
        served
    }
}

/// This replica's name in automation claims: host name and a random part.
fn replica_name() -> String {
    let host = std::fs::read_to_string("/etc/hostname")
        .map(|h| h.trim().to_owned())
        .unwrap_or_default();
    format!(
        "{}-{}",
        if host.is_empty() { "api" } else { &host },
        &uuid::Uuid::new_v4().simple().to_string()[..8]
    )
}

/// Applies pending migrations to the configured database.
pub async fn migrate(settings: &Settings) -> Result<usize, StartupError> {
    let conn = heyclaw_persistence::establish(settings.database_url.expose_secret())
        .await
        .map_err(StartupError::Postgres)?;
    heyclaw_persistence::run_migrations(conn)
        .await
        .map_err(StartupError::Migrations)
}

fn mailer(settings: &Settings) -> Result<Arc<dyn Mailer>, StartupError> {
    let Some(smtp) = &settings.smtp else {
        tracing::warn!(
            content = settings.mail_log_content,
            "SMTP_HOST is not set: mail is not sent, only logged (its content only with MAIL_LOG_CONTENT=true, for local use)"
        );
        return Ok(Arc::new(LogMailer {
            content: settings.mail_log_content,
        }));
    };
    let mailer = SmtpMailer::new(SmtpConfig {
        host: smtp.host.clone(),
        port: smtp.port,
        security: smtp.tls,
        username: smtp.username.clone(),
        password: smtp.password.clone(),
        from: settings.mail_from.clone(),
    })
    .map_err(|err| StartupError::Mail(err.to_string()))?;
    Ok(Arc::new(mailer))
}

/// Whisper, when an OpenAI key is set.
fn whisper(settings: &Settings) -> Result<Option<Arc<WhisperTranscriber>>, StartupError> {
    let Some(api_key) = &settings.providers.openai_api_key else {
        return Ok(None);
    };
    let whisper = WhisperTranscriber::new(WhisperConfig {
        base_url: settings.providers.openai_base_url.clone(),
        api_key: api_key.clone(),
        model: "whisper-1".to_owned(),
        timeout: std::time::Duration::from_secs(120),
    })
    .map_err(|err| StartupError::Speech(err.to_string()))?;
    Ok(Some(Arc::new(whisper)))
}

/// The text-to-speech provider `TTS_PROVIDER` picks (`auto`: ElevenLabs
/// when its key is set, else OpenAI speech, else none — text only).
fn speech(settings: &Settings) -> Result<Option<Arc<dyn SpeechSynthesizer>>, StartupError> {
    let providers = &settings.providers;
    let timeout = std::time::Duration::from_secs(30);
    let missing = |variable: &str| StartupError::Speech(format!("TTS_PROVIDER needs {variable}"));
    let choice = match providers.tts_provider {
        TtsProvider::Auto if providers.elevenlabs_api_key.is_some() => TtsProvider::ElevenLabs,
        TtsProvider::Auto if providers.openai_api_key.is_some() => TtsProvider::OpenAi,
        TtsProvider::Auto => TtsProvider::None,
        chosen => chosen,
    };
    let speech: Arc<dyn SpeechSynthesizer> = match choice {
        TtsProvider::ElevenLabs => Arc::new(
            ElevenLabsSpeech::new(ElevenLabsConfig {
                base_url: providers.elevenlabs_base_url.clone(),
                api_key: providers
                    .elevenlabs_api_key
                    .clone()
                    .ok_or_else(|| missing("ELEVENLABS_API_KEY"))?,
                model_id: providers.elevenlabs_model_id.clone(),
                output_format: providers.elevenlabs_output_format.clone(),
                voice_ids: ElevenLabsConfig::default_voice_ids(),
                timeout,
            })
            .map_err(|err| StartupError::Speech(err.to_string()))?,
        ),
        TtsProvider::OpenAi => Arc::new(
            OpenAiSpeech::new(OpenAiSpeechConfig {
                base_url: providers.openai_base_url.clone(),
                api_key: providers
                    .openai_api_key
                    .clone()
                    .ok_or_else(|| missing("OPENAI_API_KEY"))?,
                model: providers.openai_tts_model.clone(),
                timeout,
            })
            .map_err(|err| StartupError::Speech(err.to_string()))?,
        ),
        TtsProvider::None | TtsProvider::Auto => {
            tracing::warn!("no text-to-speech provider: voice turns send text without audio");
            return Ok(None);
        }
    };
    Ok(Some(speech))
}

/// App Store verification: Apple Root CA G3 unless other roots are given.
fn app_store(settings: &Settings) -> Result<AppStore, StartupError> {
    let billing = &settings.billing;
    let root_certificates = if billing.root_certificates.is_empty() {
        vec![heyclaw_billing::APPLE_ROOT_CA_G3.to_vec()]
    } else {
        billing
            .root_certificates
            .iter()
            .map(|path| {
                std::fs::read(path).map_err(|err| {
                    StartupError::Billing(format!(
                        "APP_STORE_ROOT_CERTIFICATES: cannot read {}: {err}",
                        path.display()
                    ))
                })
            })
            .collect::<Result<_, _>>()?
    };
    if billing.app_apple_id.is_none() {
        tracing::warn!("APPLE_APP_ID is not set: only Sandbox purchases can be verified");
    }
    if billing.server_api_key.is_none() {
        tracing::warn!(
            "no App Store Server API key (APP_STORE_KEY_ID …): StoreKit 1 receipts cannot be verified"
        );
    }
    AppStore::new(AppStoreConfig {
        bundle_id: settings.apple.bundle_id.clone(),
        app_apple_id: billing.app_apple_id,
        root_certificates,
        server_api: billing
            .server_api_key
            .as_ref()
            .map(|key| ServerApiCredentials {
                key_id: key.key_id.clone(),
                issuer_id: key.issuer_id.clone(),
                private_key: key.private_key.clone(),
            }),
        server_api_url: billing.server_api_url.clone(),
        server_api_sandbox_url: billing.server_api_sandbox_url.clone(),
    })
    .map_err(|err| StartupError::Billing(err.to_string()))
}

fn agents(
    settings: &Settings,
    pg: heyclaw_persistence::PgPool,
    clock: SharedClock,
) -> Result<Agents, StartupError> {
    let gateway = &settings.gateway;
    let shards = gateway
        .shards
        .iter()
        .map(|shard| {
            let client = GatewayClient::new(GatewayConfig {
                base_url: shard.url.clone(),
                token: shard.token.clone(),
                connect_timeout: std::time::Duration::from_secs(3),
                request_timeout: gateway.request_timeout,
                first_token_timeout: gateway.first_token_timeout,
                idle_timeout: gateway.stream_idle_timeout,
            })
            .map_err(|err| StartupError::Agents(err.to_string()))?;
            Ok(Shard {
                id: shard.id.clone(),
                client,
            })
        })
        .collect::<Result<Vec<_>, StartupError>>()?;
    Ok(Agents::new(
        pg,
        clock,
        AgentsConfig {
            shards,
            readiness_timeout: gateway.readiness_timeout,
            lease: gateway.lease,
            shard_alive_within: std::time::Duration::from_secs(90),
            history_messages: 8,
        },
    ))
}
