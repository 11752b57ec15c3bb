//! Durations as settings spell them: `900` (seconds), `500ms`, `90s`,
//! `15m`, `12h`, `30d`. The API's and the keeper's settings read them the
//! same way.

use std::time::Duration;

/// `900` (seconds), `500ms`, `90s`, `15m`, `12h`, `30d`, surrounding spaces
/// ignored. `None` for anything else: a space between number and unit, a
/// unit other than these, a fraction, a negative number or an overflow.
/// Zero is accepted; callers that need a positive duration check that
/// themselves.
///
/// ```
/// use std::time::Duration;
/// use heyclaw_domain::parse_setting_duration;
///
/// assert_eq!(parse_setting_duration("15m"), Some(Duration::from_secs(900)));
/// assert_eq!(parse_setting_duration("15 minutes"), None);
/// ```
pub fn parse_setting_duration(raw: &str) -> Option<Duration> {
    let raw = raw.trim();
    let (digits, unit) = match raw.find(|c: char| !c.is_ascii_digit()) {
        Some(split) => raw.split_at(split),
        None => (raw, "s"),
    };
    let n: u64 = digits.parse().ok()?;
    if unit == "ms" {
        return Some(Duration::from_millis(n));
    }
    let seconds = match unit {
        "s" => n,
        "m" => n.checked_mul(60)?,
        "h" => n.checked_mul(3600)?,
        "d" => n.checked_mul(86_400)?,
        _ => return None,
    };
    Some(Duration::from_secs(seconds))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(
            parse_setting_duration("900"),
            Some(Duration::from_secs(900))
        );
        assert_eq!(
            parse_setting_duration("15m"),
            Some(Duration::from_secs(900))
        );
        assert_eq!(
            parse_setting_duration("30d"),
            Some(Duration::from_secs(30 * 86_400))
        );
        assert_eq!(parse_setting_duration("0"), Some(Duration::ZERO));
        assert_eq!(parse_setting_duration("15 minutes"), None);
        assert_eq!(parse_setting_duration("m"), None);
    }
}
