//! The server's settings, read and validated once at start-up from the
//! environment (the seed guide's `.env.production` names). Secrets are
//! wrapped in [`SecretString`] so they cannot end up in a log line.

use std::{collections::BTreeMap, net::IpAddr, path::PathBuf, time::Duration};

use heyclaw_app::{
    accounts::ReviewAccount,
    auth::limits::{AuthLimits, Limit},
    mail::SmtpSecurity,
};
use heyclaw_http::HttpSettings;
use heyclaw_persistence::{PgPoolSettings, RedisPoolSettings};
use secrecy::{ExposeSecret, SecretString};

use crate::env::{Env, SettingsError, invalid};

#[derive(Debug)]
pub struct Settings {
    pub host: IpAddr,
    pub port: u16,
    /// Trust `Forwarded`/`X-Forwarded-For` for the client IP (only behind a
    /// reverse proxy that sets them).
    pub trust_proxy_headers: bool,
    pub http: HttpSettings,
    pub log_format: LogFormat,
    pub database_url: SecretString,
    pub database_pool: PgPoolSettings,
    pub redis_url: SecretString,
    pub redis_pool: RedisPoolSettings,
    /// How long start-up waits for PostgreSQL and Redis to answer.
    pub dependency_wait: Duration,
    pub auth: AuthSettings,
    pub gateway: GatewaySettings,
    pub providers: ProviderSettings,
    pub smtp: Option<SmtpSettings>,
    /// Without SMTP, whether mail (sign-in codes, reset links) is written to
    /// the log in full — for local runs only, as those are credentials.
    pub mail_log_content: bool,
    pub mail_from: String,
    pub apple: AppleSettings,
    pub billing: BillingSettings,
    /// Where the API is reached from outside (links in mail point here).
    pub public_base_url: String,
    /// `GET /cron/health` answers with this bearer only; off when unset.
    pub cron_secret: Option<SecretString>,
    pub automations: AutomationSettings,
    /// Serve Prometheus metrics on this port (of `HOST`); unset: no metrics.
    pub metrics_port: Option<u16>,
    /// How long what an access token resolves to is cached (0: never).
    pub access_cache_ttl: Duration,
}

/// The automation scheduler of this replica.
#[derive(Debug)]
pub struct AutomationSettings {
    /// Run due jobs in this replica (any number of replicas may).
    pub scheduler: bool,
    pub poll_interval: Duration,
    /// How long a claimed run holds before another replica may take it over.
    pub lease: Duration,
    /// Gateway attempts per run.
    pub attempts: u32,
    /// Wait before the second attempt, doubled after.
    pub retry_backoff: Duration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// One JSON object per line, for log shippers.
    Json,
    /// Human-readable, for a terminal.
    Pretty,
}

#[derive(Debug)]
pub struct AuthSettings {
    pub jwt_secret: SecretString,
    pub access_token_ttl: Duration,
    pub refresh_token_ttl: Duration,
    /// How long a just-rotated refresh token still gets a fresh pair.
    pub refresh_reuse_grace: Duration,
    /// Password hashes running at once (each holds ~19 MiB).
    pub password_hash_concurrency: usize,
    /// How long a login waits for a hashing slot before a 503.
    pub password_hash_queue_timeout: Duration,
    pub password_reset_ttl: Duration,
    /// The reset link mailed to users is `<this>?token=<token>`.
    pub password_reset_url: String,
    pub limits: AuthLimits,
    /// How long an e-mailed sign-in code works.
    pub login_code_ttl: Duration,
    /// App Store review: a fixed address and code, never mailed. Off unless
    /// both are set.
    pub review_account: Option<ReviewAccount>,
}

/// One gateway shard (an OpenClaw gateway and its keeper).
#[derive(Debug)]
pub struct ShardSettings {
    /// `assistants.gateway_id`; the keeper's `GATEWAY_ID`.
    pub id: String,
    pub url: String,
    pub token: SecretString,
}

#[derive(Debug)]
pub struct GatewaySettings {
    /// `GATEWAYS`, or the one shard of `GATEWAY_ID`/`OPENCLAW_GATEWAY_URL`/
    /// `OPENCLAW_GATEWAY_TOKEN`. New agents go to the least loaded live one.
    pub shards: Vec<ShardSettings>,
    /// The longest whole text turn (504 after).
    pub request_timeout: Duration,
    /// A voice turn's longest wait for the first text.
    pub first_token_timeout: Duration,
    /// A voice turn's longest pause between two pieces of text.
    pub stream_idle_timeout: Duration,
    /// How long a turn waits for its agent to wake.
    pub readiness_timeout: Duration,
    /// How long a turn's hold on its agent's slot lasts before it is
    /// renewed; a slot whose lease has passed may go to another user.
    pub lease: Duration,
}

#[derive(Debug)]
pub struct ProviderSettings {
    pub openai_base_url: String,
    pub openai_api_key: Option<SecretString>,
    pub elevenlabs_base_url: String,
    pub elevenlabs_api_key: Option<SecretString>,
    pub elevenlabs_model_id: String,
    pub elevenlabs_output_format: String,
    pub openai_tts_model: String,
    pub tts_provider: TtsProvider,
}

/// Which text-to-speech provider voice turns use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TtsProvider {
    /// ElevenLabs if its key is set, else OpenAI if its key is set, else none.
    Auto,
    ElevenLabs,
    OpenAi,
    /// No audio: voice turns send text only.
    None,
}

#[derive(Debug)]
pub struct SmtpSettings {
    pub host: String,
    pub port: u16,
    pub username: Option<String>,
    pub password: Option<SecretString>,
    pub tls: SmtpSecurity,
}

#[derive(Debug)]
pub struct AppleSettings {
    pub bundle_id: String,
    pub jwks_url: String,
    /// Least time between two fetches of Apple's keys on unknown key ids.
    pub jwks_min_refresh: Duration,
}

/// Apple in-app purchases.
#[derive(Debug)]
pub struct BillingSettings {
    /// App Store product id → plan.
    pub products: BTreeMap<String, String>,
    /// The app's Apple ID; Production purchases can only be verified with it.
    pub app_apple_id: Option<i64>,
    /// Root certificates (DER files, `.cer`); empty: Apple Root CA G3.
    pub root_certificates: Vec<PathBuf>,
    pub server_api_url: String,
    pub server_api_sandbox_url: String,
    /// The In-App Purchase key, to look up StoreKit 1 receipts.
    pub server_api_key: Option<AppStoreKey>,
}

/// An App Store Connect In-App Purchase key.
#[derive(Debug)]
pub struct AppStoreKey {
    pub key_id: String,
    pub issuer_id: String,
    /// PKCS#8 PEM (the `.p8` file).
    pub private_key: SecretString,
}

/// `GATEWAYS`: comma-separated shards, each `id|url|token` (the token may
/// be left out: `OPENCLAW_GATEWAY_TOKEN` then). Without it, one shard:
/// `GATEWAY_ID` (default `default`) at `OPENCLAW_GATEWAY_URL`.
fn shards(env: &Env) -> Result<Vec<ShardSettings>, SettingsError> {
    const TOKEN_EXPECTED: &str =
        "the gateway's shared token, at least 16 characters (cargo xtask gen-secrets)";
    let shared_token = || env.secret("OPENCLAW_GATEWAY_TOKEN", 16, TOKEN_EXPECTED);
    let Some(list) = env.optional("GATEWAYS") else {
        return Ok(vec![ShardSettings {
            id: shard_id(env.string_or("GATEWAY_ID", "default"), "GATEWAY_ID")?,
            url: env.url_or(
                "OPENCLAW_GATEWAY_URL",
                "http://127.0.0.1:18789",
                &["http", "https"],
            )?,
            token: shared_token()?,
        }]);
    };
    let mut shards: Vec<ShardSettings> = Vec::new();
    for entry in list.split(',').map(str::trim).filter(|e| !e.is_empty()) {
        let mut parts = entry.splitn(3, '|').map(str::trim);
        let (Some(id), Some(url)) = (parts.next(), parts.next()) else {
            return Err(invalid(
                "GATEWAYS",
                "expected entries like id|http://host:18789|token, separated by commas (value not shown)",
            ));
        };
        let id = shard_id(id.to_owned(), "GATEWAYS")?;
        if shards.iter().any(|shard| shard.id == id) {
            return Err(invalid("GATEWAYS", format!("shard {id:?} is listed twice")));
        }
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            return Err(invalid(
                "GATEWAYS",
                format!("shard {id:?}: expected an http or https URL"),
            ));
        }
        let token = match parts.next() {
            Some(token) if token.len() >= 16 => SecretString::from(token.to_owned()),
            Some(_) => {
                return Err(invalid(
                    "GATEWAYS",
                    format!("shard {id:?}: the token must be at least 16 characters"),
                ));
            }
            None => shared_token()?,
        };
        shards.push(ShardSettings {
            id,
            url: url.trim_end_matches('/').to_owned(),
            token,
        });
    }
    if shards.is_empty() {
        return Err(invalid("GATEWAYS", "lists no shard"));
    }
    Ok(shards)
}

fn shard_id(id: String, variable: &'static str) -> Result<String, SettingsError> {
    let valid = !id.is_empty()
        && id.len() <= 64
        && id
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
    if valid {
        Ok(id)
    } else {
        Err(invalid(
            variable,
            format!("a shard id is lowercase letters, digits, - and _, got {id:?}"),
        ))
    }
}

const JWT_SECRET_MIN_LEN: usize = 32;

impl Settings {
    pub fn from_process_env() -> Result<Self, SettingsError> {
        Self::from_env(&Env::from_process())
    }

    pub fn from_env(env: &Env) -> Result<Self, SettingsError> {
        let max_body_bytes = env.parsed_or("MAX_BODY_BYTES", 256 * 1024, "a size in bytes")?;
        if max_body_bytes < 1024 {
            return Err(invalid("MAX_BODY_BYTES", "expected at least 1024 bytes"));
        }
        let public_base_url = env
            .url_or(
                "PUBLIC_BASE_URL",
                "http://localhost:3000",
                &["https", "http"],
            )?
            .trim_end_matches('/')
            .to_owned();
        Ok(Self {
            host: env.parsed_or(
                "HOST",
                IpAddr::from([0, 0, 0, 0]),
                "an IP address such as 0.0.0.0",
            )?,
            port: env.parsed_or("PORT", 3000, "a TCP port number (0-65535)")?,
            trust_proxy_headers: env.bool_or("TRUST_PROXY_HEADERS", false)?,
            http: HttpSettings {
                max_body_bytes,
                workers: match env.parsed_or(
                    "HTTP_WORKERS",
                    0usize,
                    "a number of worker threads",
                )? {
                    0 => None,
                    n => Some(n),
                },
                shutdown_timeout: env.duration_or("SHUTDOWN_TIMEOUT", Duration::from_secs(30))?,
            },
            log_format: match env.string_or("LOG_FORMAT", "json").as_str() {
                "json" => LogFormat::Json,
                "pretty" => LogFormat::Pretty,
                other => {
                    return Err(invalid(
                        "LOG_FORMAT",
                        format!("expected json or pretty, got {other:?}"),
                    ));
                }
            },
            database_url: env.secret_url("DATABASE_URL", &["postgres", "postgresql"])?,
            database_pool: PgPoolSettings {
                max_size: positive(env, "DATABASE_POOL_SIZE", 16)?,
                wait_timeout: env.duration_or("DATABASE_POOL_TIMEOUT", Duration::from_secs(5))?,
                connect_timeout: env
                    .duration_or("DATABASE_CONNECT_TIMEOUT", Duration::from_secs(5))?,
            },
            redis_url: env.secret_url("REDIS_URL", &["redis", "rediss"])?,
            redis_pool: RedisPoolSettings {
                max_size: positive(env, "REDIS_POOL_SIZE", 16)?,
                wait_timeout: env.duration_or("REDIS_POOL_TIMEOUT", Duration::from_secs(2))?,
                connect_timeout: env
                    .duration_or("REDIS_CONNECT_TIMEOUT", Duration::from_secs(2))?,
                key_prefix: redis_prefix(env)?,
            },
            dependency_wait: env.duration_or_zero("DEPENDENCY_WAIT", Duration::ZERO)?,
            auth: AuthSettings {
                jwt_secret: env.secret(
                    "JWT_SECRET",
                    JWT_SECRET_MIN_LEN,
                    "a random secret of at least 32 characters (cargo xtask gen-secrets)",
                )?,
                access_token_ttl: env
                    .duration_or("JWT_ACCESS_EXPIRES", Duration::from_secs(15 * 60))?,
                refresh_token_ttl: env
                    .duration_or("JWT_REFRESH_EXPIRES", Duration::from_secs(30 * 86_400))?,
                refresh_reuse_grace: env
                    .duration_or_zero("REFRESH_REUSE_GRACE", Duration::from_secs(30))?,
                password_hash_concurrency: positive(
                    env,
                    "PASSWORD_HASH_CONCURRENCY",
                    std::thread::available_parallelism().map_or(2, usize::from),
                )?,
                password_hash_queue_timeout: env
                    .duration_or("PASSWORD_HASH_QUEUE_TIMEOUT", Duration::from_secs(10))?,
                password_reset_ttl: env
                    .duration_or("PASSWORD_RESET_EXPIRES", Duration::from_secs(3600))?,
                password_reset_url: env.url_or(
                    "PASSWORD_RESET_URL",
                    &format!("{public_base_url}/reset-password"),
                    &["https", "http", "heyclaw"],
                )?,
                limits: auth_limits(env)?,
                login_code_ttl: env.duration_or("OTP_CODE_EXPIRES", Duration::from_secs(600))?,
                review_account: review_account(env)?,
            },
            gateway: GatewaySettings {
                shards: shards(env)?,
                // The seed's own smoke test gives a message 30 s (`curl --max-time 30`).
                request_timeout: env
                    .duration_or("OPENCLAW_REQUEST_TIMEOUT", Duration::from_secs(30))?,
                first_token_timeout: env
                    .duration_or("OPENCLAW_FIRST_TOKEN_TIMEOUT", Duration::from_secs(30))?,
                stream_idle_timeout: env
                    .duration_or("OPENCLAW_STREAM_IDLE_TIMEOUT", Duration::from_secs(30))?,
                readiness_timeout: env
                    .duration_or("AGENT_READINESS_TIMEOUT", Duration::from_secs(10))?,
                lease: env.duration_or("AGENT_LEASE", Duration::from_secs(30))?,
            },
            providers: ProviderSettings {
                openai_base_url: env.url_or(
                    "OPENAI_BASE_URL",
                    "https://api.openai.com/v1",
                    &["http", "https"],
                )?,
                openai_api_key: env.optional_secret("OPENAI_API_KEY"),
                elevenlabs_base_url: env.url_or(
                    "ELEVENLABS_BASE_URL",
                    "https://api.elevenlabs.io",
                    &["http", "https"],
                )?,
                elevenlabs_api_key: env.optional_secret("ELEVENLABS_API_KEY"),
                elevenlabs_model_id: env.string_or("ELEVENLABS_MODEL_ID", "eleven_turbo_v2_5"),
                elevenlabs_output_format: env
                    .string_or("ELEVENLABS_OUTPUT_FORMAT", "mp3_44100_128"),
                openai_tts_model: env.string_or("OPENAI_TTS_MODEL", "tts-1"),
                tts_provider: match env.string_or("TTS_PROVIDER", "auto").as_str() {
                    "auto" => TtsProvider::Auto,
                    "elevenlabs" => TtsProvider::ElevenLabs,
                    "openai" => TtsProvider::OpenAi,
                    "none" => TtsProvider::None,
                    other => {
                        return Err(invalid(
                            "TTS_PROVIDER",
                            format!("expected auto, elevenlabs, openai or none, got {other:?}"),
                        ));
                    }
                },
            },
            smtp: smtp(env)?,
            mail_log_content: env.parsed_or("MAIL_LOG_CONTENT", false, "true or false")?,
            mail_from: env.string_or("SMTP_FROM", "HeyClaw <no-reply@heyclaw.app>"),
            apple: AppleSettings {
                bundle_id: env.string_or("APPLE_BUNDLE_ID", "com.weiblocks.heyclaw"),
                jwks_url: env.url_or(
                    "APPLE_JWKS_URL",
                    "https://appleid.apple.com/auth/keys",
                    &["https", "http"],
                )?,
                jwks_min_refresh: env
                    .duration_or_zero("APPLE_JWKS_MIN_REFRESH", Duration::from_secs(10))?,
            },
            billing: billing(env)?,
            public_base_url,
            access_cache_ttl: env.duration_or_zero("ACCESS_CACHE_TTL", Duration::from_secs(30))?,
            metrics_port: match env.optional("METRICS_PORT") {
                None => None,
                Some(raw) => Some(raw.parse().map_err(|_| {
                    invalid("METRICS_PORT", "expected a TCP port number (0-65535)")
                })?),
            },
            automations: AutomationSettings {
                scheduler: env.bool_or("AUTOMATION_SCHEDULER", true)?,
                poll_interval: env
                    .duration_or("AUTOMATION_POLL_INTERVAL", Duration::from_secs(10))?,
                lease: env.duration_or("AUTOMATION_LEASE", Duration::from_secs(300))?,
                attempts: u32::try_from(positive(env, "AUTOMATION_ATTEMPTS", 3)?)
                    .map_err(|_| invalid("AUTOMATION_ATTEMPTS", "expected a small number"))?,
                retry_backoff: env
                    .duration_or_zero("AUTOMATION_RETRY_BACKOFF", Duration::from_secs(2))?,
            },
            cron_secret: match env.optional_secret("CRON_SECRET") {
                Some(secret) if secret.expose_secret().len() < 16 => {
                    return Err(invalid("CRON_SECRET", "expected at least 16 characters"));
                }
                other => other,
            },
        })
    }
}

fn billing(env: &Env) -> Result<BillingSettings, SettingsError> {
    let products = match env.optional("APP_STORE_PRODUCTS") {
        None => heyclaw_app::billing::default_product_plans(),
        Some(raw) => parse_products(raw)?,
    };
    let app_apple_id = match env.optional("APPLE_APP_ID") {
        None => None,
        Some(raw) => Some(raw.parse::<i64>().ok().filter(|id| *id > 0).ok_or_else(|| {
            invalid(
                "APPLE_APP_ID",
                "expected the app's Apple ID, a number (App Store Connect → App Information)",
            )
        })?),
    };
    let root_certificates = env
        .optional("APP_STORE_ROOT_CERTIFICATES")
        .map(|raw| {
            raw.split(',')
                .map(str::trim)
                .filter(|p| !p.is_empty())
                .map(PathBuf::from)
                .collect()
        })
        .unwrap_or_default();
    let key = match (
        env.optional("APP_STORE_KEY_ID"),
        env.optional("APP_STORE_ISSUER_ID"),
        env.optional("APP_STORE_PRIVATE_KEY"),
    ) {
        (None, None, None) => None,
        (Some(key_id), Some(issuer_id), Some(pem)) => {
            // One line in an env file: `\n` stands for a line break.
            let pem = pem.replace("\\n", "\n");
            if !pem.contains("-----BEGIN PRIVATE KEY-----") {
                return Err(invalid(
                    "APP_STORE_PRIVATE_KEY",
                    "expected the In-App Purchase key's .p8 contents (PKCS#8 PEM)",
                ));
            }
            Some(AppStoreKey {
                key_id: key_id.to_owned(),
                issuer_id: issuer_id.to_owned(),
                private_key: SecretString::from(pem),
            })
        }
        (key_id, issuer_id, _) => {
            let missing = if key_id.is_none() {
                "APP_STORE_KEY_ID"
            } else if issuer_id.is_none() {
                "APP_STORE_ISSUER_ID"
            } else {
                "APP_STORE_PRIVATE_KEY"
            };
            return Err(invalid(
                missing,
                "is missing; the App Store Server API key needs APP_STORE_KEY_ID, APP_STORE_ISSUER_ID and APP_STORE_PRIVATE_KEY",
            ));
        }
    };
    Ok(BillingSettings {
        products,
        app_apple_id,
        root_certificates,
        server_api_url: env.url_or(
            "APP_STORE_BASE_URL",
            "https://api.storekit.apple.com",
            &["https", "http"],
        )?,
        server_api_sandbox_url: env.url_or(
            "APP_STORE_SANDBOX_BASE_URL",
            "https://api.storekit-sandbox.apple.com",
            &["https", "http"],
        )?,
        server_api_key: key,
    })
}

/// `product=plan,product=plan`.
fn parse_products(raw: &str) -> Result<BTreeMap<String, String>, SettingsError> {
    let mut products = BTreeMap::new();
    for pair in raw.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let Some((product, plan)) = pair.split_once('=') else {
            return Err(invalid(
                "APP_STORE_PRODUCTS",
                format!("expected product=plan pairs separated by commas, got {pair:?}"),
            ));
        };
        let (product, plan) = (product.trim(), plan.trim());
        if product.is_empty() || plan.is_empty() {
            return Err(invalid(
                "APP_STORE_PRODUCTS",
                format!("expected product=plan, got {pair:?}"),
            ));
        }
        products.insert(product.to_owned(), plan.to_owned());
    }
    if products.is_empty() {
        return Err(invalid("APP_STORE_PRODUCTS", "lists no product"));
    }
    Ok(products)
}

fn positive(env: &Env, variable: &'static str, default: usize) -> Result<usize, SettingsError> {
    match env.parsed_or(variable, default, "a positive whole number")? {
        0 => Err(invalid(variable, "expected a positive whole number, got 0")),
        n => Ok(n),
    }
}

/// Attempt limits: counts are settings, windows are fixed (15 minutes for
/// logins, an hour for password-reset requests).
fn auth_limits(env: &Env) -> Result<AuthLimits, SettingsError> {
    let defaults = AuthLimits::default();
    let limit = |variable: &'static str, default: Limit| -> Result<Limit, SettingsError> {
        Ok(Limit {
            max: positive(
                env,
                variable,
                usize::try_from(default.max).unwrap_or(usize::MAX),
            )? as u64,
            window: default.window,
        })
    };
    Ok(AuthLimits {
        login_per_account: limit("LOGIN_MAX_FAILURES_PER_ACCOUNT", defaults.login_per_account)?,
        login_per_ip: limit("LOGIN_MAX_FAILURES_PER_IP", defaults.login_per_ip)?,
        reset_per_account: limit("PASSWORD_RESET_MAX_PER_ACCOUNT", defaults.reset_per_account)?,
        reset_per_ip: limit("PASSWORD_RESET_MAX_PER_IP", defaults.reset_per_ip)?,
        code_per_account: limit("OTP_MAX_PER_ACCOUNT", defaults.code_per_account)?,
        code_per_ip: limit("OTP_MAX_PER_IP", defaults.code_per_ip)?,
    })
}

fn review_account(env: &Env) -> Result<Option<ReviewAccount>, SettingsError> {
    match (
        env.optional("REVIEW_ACCOUNT_EMAIL"),
        env.optional("REVIEW_ACCOUNT_CODE"),
    ) {
        (None, None) => Ok(None),
        (Some(email), Some(code)) => {
            let email = heyclaw_domain::Email::parse(email).map_err(|err| {
                invalid(
                    "REVIEW_ACCOUNT_EMAIL",
                    format!("expected an e-mail address: {err}"),
                )
            })?;
            if code.len() < 6 {
                return Err(invalid(
                    "REVIEW_ACCOUNT_CODE",
                    "expected at least 6 characters",
                ));
            }
            Ok(Some(ReviewAccount {
                email,
                code: SecretString::from(code.to_owned()),
            }))
        }
        (Some(_), None) => Err(invalid(
            "REVIEW_ACCOUNT_CODE",
            "is missing; the review account needs both e-mail and code",
        )),
        (None, Some(_)) => Err(invalid(
            "REVIEW_ACCOUNT_EMAIL",
            "is missing; the review account needs both e-mail and code",
        )),
    }
}

fn redis_prefix(env: &Env) -> Result<String, SettingsError> {
    let prefix = env.string_or("REDIS_KEY_PREFIX", "heyclaw");
    if prefix.is_empty()
        || prefix.len() > 64
        || !prefix
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
    {
        return Err(invalid(
            "REDIS_KEY_PREFIX",
            format!("expected up to 64 letters, digits, '-', '_' or '.', got {prefix:?}"),
        ));
    }
    Ok(prefix)
}

/// SMTP is optional: without `SMTP_HOST` mail is written to the log instead
/// of sent, which is what a local run wants.
fn smtp(env: &Env) -> Result<Option<SmtpSettings>, SettingsError> {
    let Some(host) = env.optional("SMTP_HOST") else {
        return Ok(None);
    };
    let tls = match env.string_or("SMTP_TLS", "starttls").as_str() {
        "none" => SmtpSecurity::Plain,
        "starttls" => SmtpSecurity::StartTls,
        "tls" | "implicit" => SmtpSecurity::Implicit,
        other => {
            return Err(invalid(
                "SMTP_TLS",
                format!("expected none, starttls or tls, got {other:?}"),
            ));
        }
    };
    let default_port = match tls {
        SmtpSecurity::Implicit => 465,
        SmtpSecurity::StartTls => 587,
        SmtpSecurity::Plain => 25,
    };
    Ok(Some(SmtpSettings {
        host: host.to_owned(),
        port: env.parsed_or("SMTP_PORT", default_port, "a TCP port number")?,
        username: env.optional("SMTP_USERNAME").map(str::to_owned),
        password: env.optional_secret("SMTP_PASSWORD"),
        tls,
    }))
}

#[cfg(test)]
mod tests {
    use secrecy::ExposeSecret;

    use super::*;

    fn minimal() -> Vec<(&'static str, &'static str)> {
        vec![
            ("DATABASE_URL", "postgres://postgres@127.0.0.1/heyclaw"),
            ("REDIS_URL", "redis://127.0.0.1:6379"),
            ("JWT_SECRET", "0123456789abcdef0123456789abcdef-secret"),
            ("OPENCLAW_GATEWAY_TOKEN", "gateway-token-0123456789"),
        ]
    }

    fn without(name: &str) -> Env {
        Env::from_pairs(minimal().into_iter().filter(|(k, _)| *k != name))
    }

    #[test]
    fn minimal_environment_gives_working_defaults() {
        let settings = Settings::from_env(&Env::from_pairs(minimal())).unwrap();
        assert_eq!(settings.port, 3000);
        assert_eq!(settings.auth.access_token_ttl, Duration::from_secs(900));
        assert_eq!(settings.gateway.shards.len(), 1);
        assert_eq!(settings.gateway.shards[0].id, "default");
        assert_eq!(settings.gateway.shards[0].url, "http://127.0.0.1:18789");
        assert!(settings.smtp.is_none());
        assert_eq!(settings.redis_pool.key_prefix, "heyclaw");
        // api-contract §6: bounded waits and the refresh grace window.
        assert_eq!(settings.gateway.request_timeout, Duration::from_secs(30));
        assert_eq!(
            settings.gateway.first_token_timeout,
            Duration::from_secs(30)
        );
        assert_eq!(
            settings.gateway.stream_idle_timeout,
            Duration::from_secs(30)
        );
        assert_eq!(settings.auth.refresh_reuse_grace, Duration::from_secs(30));
        assert_eq!(
            settings.gateway.shards[0].token.expose_secret(),
            "gateway-token-0123456789"
        );
    }

    #[test]
    fn gateways_lists_shards_with_their_own_or_the_shared_token() {
        let mut env = minimal();
        env.push((
            "GATEWAYS",
            "a|http://gw-a:18789/|token-of-shard-a-0123, b|https://10.0.0.7:18789",
        ));
        let shards = Settings::from_env(&Env::from_pairs(env))
            .unwrap()
            .gateway
            .shards;
        let ids: Vec<_> = shards.iter().map(|s| s.id.as_str()).collect();
        assert_eq!(ids, ["a", "b"]);
        assert_eq!(shards[0].url, "http://gw-a:18789");
        assert_eq!(shards[0].token.expose_secret(), "token-of-shard-a-0123");
        assert_eq!(shards[1].token.expose_secret(), "gateway-token-0123456789");

        for (bad, expected) in [
            ("a|http://x|t0123456789abcdef, a|http://y", "twice"),
            ("A|http://x", "lowercase"),
            ("a|gw-a:18789", "http or https"),
            ("a|http://x|short", "16 characters"),
            ("justanid", "expected entries"),
        ] {
            let mut env = minimal();
            env.push(("GATEWAYS", bad));
            let err = Settings::from_env(&Env::from_pairs(env)).unwrap_err();
            assert_eq!(err.variable, "GATEWAYS");
            assert!(err.problem.contains(expected), "{bad}: {err}");
            assert!(
                !err.to_string().contains("short"),
                "tokens are never echoed"
            );
        }
    }

    #[test]
    fn each_required_variable_is_named_when_missing() {
        for name in [
            "DATABASE_URL",
            "REDIS_URL",
            "JWT_SECRET",
            "OPENCLAW_GATEWAY_TOKEN",
        ] {
            let err = Settings::from_env(&without(name)).unwrap_err();
            assert_eq!(err.variable, name);
            assert!(
                err.to_string().starts_with(&format!("{name}: is missing")),
                "{err}"
            );
        }
    }

    #[test]
    fn invalid_values_are_named_with_what_was_expected() {
        let cases = [
            ("PORT", "http", "expected a TCP port"),
            ("PORT", "70000", "expected a TCP port"),
            ("JWT_SECRET", "short", "too short"),
            ("REDIS_URL", "http://x", "expected a redis"),
            ("JWT_ACCESS_EXPIRES", "soon", "expected a duration"),
            ("GATEWAY_ID", "Shard A", "lowercase"),
            (
                "OPENAI_BASE_URL",
                "api.openai.com",
                "expected a http or https URL",
            ),
            ("DATABASE_POOL_SIZE", "0", "positive"),
            ("REDIS_KEY_PREFIX", "a b", "letters"),
            ("LOG_FORMAT", "xml", "json or pretty"),
        ];
        for (name, value, expected) in cases {
            let mut env = minimal();
            env.retain(|(k, _)| *k != name);
            env.push((name, value));
            let err = Settings::from_env(&Env::from_pairs(env)).unwrap_err();
            assert_eq!(err.variable, name, "{err}");
            assert!(err.problem.contains(expected), "{name}={value}: {err}");
        }
    }

    #[test]
    fn secrets_are_redacted_in_debug_output() {
        let settings = Settings::from_env(&Env::from_pairs(minimal())).unwrap();
        let debug = format!("{settings:?}");
        for (_, secret) in minimal() {
            assert!(!debug.contains(secret), "debug output leaks {secret}");
        }
    }

    #[test]
    fn smtp_is_configured_by_its_host() {
        let mut env = minimal();
        env.extend([("SMTP_HOST", "mail.example.com"), ("SMTP_TLS", "tls")]);
        let smtp = Settings::from_env(&Env::from_pairs(env))
            .unwrap()
            .smtp
            .unwrap();
        assert_eq!(smtp.port, 465);
        assert_eq!(smtp.tls, SmtpSecurity::Implicit);
    }

    /// `.env.example` is the operator's list of settings: it must name
    /// every variable read here, and parse once the secrets are filled in.
    #[test]
    fn env_example_is_complete_and_valid() {
        let example = include_str!("../../../.env.example");
        let source = include_str!("settings.rs");
        let documented: Vec<&str> = example
            .lines()
            .filter_map(|line| line.split_once('='))
            .map(|(name, _)| name.trim())
            .collect();
        let read: Vec<&str> = source
            .split('"')
            .skip(1)
            .step_by(2)
            .filter(|s| s.len() > 3 && s.starts_with(|c: char| c.is_ascii_uppercase()))
            .filter(|s| {
                s.chars()
                    .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
            })
            .collect();
        assert!(read.contains(&"DATABASE_URL") && read.contains(&"SMTP_TLS"));
        for variable in read {
            assert!(
                documented.contains(&variable),
                ".env.example lacks {variable}"
            );
        }
        let filled =
            example
                .lines()
                .filter_map(|line| line.split_once('='))
                .map(|(k, v)| match k {
                    "JWT_SECRET" => (k, "j".repeat(64)),
                    "OPENCLAW_GATEWAY_TOKEN" => (k, "g".repeat(32)),
                    _ => (k, v.to_owned()),
                });
        Settings::from_env(&Env::from_pairs(filled)).unwrap();
    }
}
