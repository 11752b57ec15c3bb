//! Attempt limits against brute force, counted in Redis per account and per
//! client IP over fixed windows.
//!
//! Every attempt counts — successful or not — and is counted *before* it
//! is checked, so concurrent attempts cannot slip past a limit together. A
//! successful log-in clears the account's failed-login counter and takes its
//! own attempt back off the IP's. An attempt refused by either counter is
//! an [`AppError::RateLimited`] whose message names the wait in minutes.
//! The counters live in Redis, so the limits hold across replicas; windows
//! are fixed (they start at a key's first attempt and reset all at once).

use std::{net::IpAddr, time::Duration};

use heyclaw_persistence::RedisStore;

use crate::AppError;

/// At most `max` attempts per `window`.
#[derive(Debug, Clone, Copy)]
pub struct Limit {
    /// Attempts allowed in one window; the one after is refused.
    pub max: u64,
    /// How long a window lasts, from its first attempt.
    pub window: Duration,
}

/// The limits of each kind of attempt, per e-mail address and per client
/// IP. [`AuthLimits::default`] is what production uses unless settings say
/// otherwise.
///
/// ```
/// use std::time::Duration;
///
/// use heyclaw_app::auth::limits::AuthLimits;
///
/// let limits = AuthLimits::default();
/// assert_eq!(limits.login_per_account.max, 10);
/// assert_eq!(limits.login_per_account.window, Duration::from_secs(15 * 60));
/// assert_eq!(limits.reset_per_account.max, 3); // per hour
/// ```
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
    /// Log-ins: 10 per address and 50 per IP every 15 minutes. Password
    /// resets: 3 per address and 20 per IP an hour. E-mailed codes (sign-in
    /// and deletion): 5 per address and 30 per IP an hour.
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
pub(crate) struct AttemptKeys {
    /// `attempts:<action>:account:<email>`.
    pub(crate) account: String,
    /// `attempts:<action>:ip:<ip>`, when the client's IP is known.
    pub(crate) ip: Option<String>,
}

impl AttemptKeys {
    /// The keys of an `action` (`login`, `password-reset`, …) by `email`
    /// from `ip`.
    pub(crate) fn new(action: &str, email: &str, ip: Option<IpAddr>) -> Self {
        Self {
            account: format!("attempts:{action}:account:{email}"),
            ip: ip.map(|ip| format!("attempts:{action}:ip:{ip}")),
        }
    }
}

/// Counts the attempt against both counters first — so concurrent attempts
/// cannot slip past the limit together — and refuses it when either is over.
/// `what` starts the refusal's message (`"Login attempt"` → "Login attempt
/// limit reached. Please try again in 12 minutes.").
///
/// # Errors
///
/// [`AppError::RateLimited`] when a counter is over its limit, with the
/// later of the two resets as `retry_after` (at least a second);
/// [`AppError::Storage`] when Redis fails.
pub(crate) async fn count(
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
