//! Attempt limits against brute force, counted in Redis per account and per
//! client IP over fixed windows.

use std::{net::IpAddr, time::Duration};

use heyclaw_persistence::RedisStore;

use crate::AppError;

#[derive(Debug, Clone, Copy)]
pub struct Limit {
    pub max: u64,
    pub window: Duration,
}

#[derive(Debug, Clone, Copy)]
pub struct AuthLimits {
    /// Failed logins per e-mail address.
    pub login_per_account: Limit,
    /// Failed logins per client IP.
    pub login_per_ip: Limit,
    /// Forgot-password requests per e-mail address.
    pub reset_per_account: Limit,
    /// Forgot-password requests per client IP.
    pub reset_per_ip: Limit,
    /// Sign-in codes sent per e-mail address.
    pub code_per_account: Limit,
    /// Sign-in codes sent per client IP.
    pub code_per_ip: Limit,
}

impl Default for AuthLimits {
    fn default() -> Self {
        let quarter_hour = Duration::from_secs(15 * 60);
        let hour = Duration::from_secs(3600);
        Self {
            login_per_account: Limit {
                max: 10,
                window: quarter_hour,
            },
            login_per_ip: Limit {
                max: 50,
                window: quarter_hour,
            },
            reset_per_account: Limit {
                max: 3,
                window: hour,
            },
            reset_per_ip: Limit {
                max: 20,
                window: hour,
            },
            code_per_account: Limit {
                max: 5,
                window: hour,
            },
            code_per_ip: Limit {
                max: 30,
                window: hour,
            },
        }
    }
}

/// The counter keys of one attempt.
pub struct AttemptKeys {
    pub account: String,
    pub ip: Option<String>,
}

impl AttemptKeys {
    pub fn new(action: &str, email: &str, ip: Option<IpAddr>) -> Self {
        Self {
            account: format!("attempts:{action}:account:{email}"),
            ip: ip.map(|ip| format!("attempts:{action}:ip:{ip}")),
        }
    }
}

/// Counts the attempt against both counters first — so concurrent attempts
/// cannot slip past the limit together — and refuses it when either is over.
pub async fn count(
    redis: &RedisStore,
    keys: &AttemptKeys,
    per_account: Limit,
    per_ip: Limit,
    what: &str,
) -> Result<(), AppError> {
    let account = redis
        .count_attempt(&keys.account, per_account.window)
        .await?;
    let mut retry_after = (account.count > per_account.max).then_some(account.resets_in);
    if let Some(ip_key) = &keys.ip {
        let ip = redis.count_attempt(ip_key, per_ip.window).await?;
        if ip.count > per_ip.max {
            retry_after = Some(retry_after.unwrap_or_default().max(ip.resets_in));
        }
    }
    match retry_after {
        None => Ok(()),
        Some(retry_after) => {
            let minutes = retry_after.as_secs().div_ceil(60).max(1);
            Err(AppError::RateLimited {
                message: format!(
                    "{what} limit reached. Please try again in {minutes} minute{}.",
                    if minutes == 1 { "" } else { "s" }
                ),
                retry_after: retry_after.max(Duration::from_secs(1)),
            })
        }
    }
}
