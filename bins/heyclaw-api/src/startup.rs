use std::{
    net::{SocketAddr, TcpListener},
    sync::Arc,
};

use heyclaw_app::{
    accounts::{Accounts, AccountsConfig},
    mail::{LogMailer, Mailer, SmtpConfig, SmtpMailer},
    provisioning::DatabaseOnlyAgents,
};
use heyclaw_http::{AppState, Server, ServerHandle};
use heyclaw_persistence::{PersistenceError, RedisStore};
use secrecy::ExposeSecret;

use crate::Settings;

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
}

/// A built, bound, not yet running server.
pub struct Application {
    port: u16,
    server: Server,
}

impl Application {
    /// Connects to Postgres and Redis (failing fast if either is down),
    /// binds the listener and builds the server.
    pub async fn build(settings: &Settings) -> Result<Self, StartupError> {
        let pg = heyclaw_persistence::connect_pg_pool(
            settings.database_url.expose_secret(),
            &settings.database_pool,
        )
        .map_err(StartupError::Postgres)?;
        heyclaw_persistence::check_connection(&pg)
            .await
            .map_err(StartupError::Postgres)?;
        let redis = RedisStore::connect(settings.redis_url.expose_secret(), &settings.redis_pool)
            .map_err(StartupError::Redis)?;
        redis.ping().await.map_err(StartupError::Redis)?;

        let addr = SocketAddr::new(settings.host, settings.port);
        let listener =
            TcpListener::bind(addr).map_err(|source| StartupError::Bind { addr, source })?;
        let port = listener
            .local_addr()
            .map_err(|source| StartupError::Bind { addr, source })?
            .port();
        let accounts = Accounts::new(
            pg.clone(),
            redis.clone(),
            AccountsConfig {
                jwt_secret: settings.auth.jwt_secret.clone(),
                access_token_ttl: settings.auth.access_token_ttl,
                refresh_token_ttl: settings.auth.refresh_token_ttl,
                password_reset_ttl: settings.auth.password_reset_ttl,
                password_reset_url: settings.auth.password_reset_url.clone(),
                limits: settings.auth.limits,
            },
            mailer(settings)?,
            Arc::new(DatabaseOnlyAgents),
        );
        let state = AppState {
            pg,
            redis,
            accounts,
            trust_proxy_headers: settings.trust_proxy_headers,
        };
        let server = heyclaw_http::serve(listener, state, &settings.http)
            .map_err(|source| StartupError::Bind { addr, source })?;
        Ok(Self { port, server })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// A handle to stop the server gracefully from elsewhere.
    pub fn handle(&self) -> ServerHandle {
        self.server.handle()
    }

    /// Serves until SIGTERM/SIGINT (or [`ServerHandle::stop`]), then lets
    /// in-flight requests finish within the shutdown timeout.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        self.server.await
    }
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
            "SMTP_HOST is not set: mail is written to the log instead of sent (local use only)"
        );
        return Ok(Arc::new(LogMailer));
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
