//! Automations: scheduled tasks a user asks their agent for. The agent
//! writes a marker (`<!--action:automation|<schedule>|<name>|<prompt>|<zone?>-->`);
//! this module decides what the schedule means and when it runs next.
//!
//! A schedule is one of:
//! - a cron expression of five fields (`0 8 * * *`), in a time zone;
//! - `every <duration>` (`every 2 hours`, `every 30m`, `every day`);
//! - one time: `in <duration>` (`in 2 hours`) or an ISO 8601 time
//!   (`2026-12-24T18:00`, local to the zone, or with an offset).
//!
//! Cron parsing is `croner`'s, time zones are `chrono-tz`'s (DST included):
//! neither is hand-rolled here. Runs are at least [`MIN_INTERVAL`] apart.

use std::{str::FromStr, time::Duration};

use chrono::{DateTime, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Tz;
use croner::{
    Cron,
    parser::{CronParser, Seconds, Year},
};

/// The shortest time between two runs of a job.
pub const MIN_INTERVAL: Duration = Duration::from_secs(15 * 60);
/// The furthest a one-time job may be scheduled ahead.
const MAX_AHEAD: Duration = Duration::from_secs(366 * 86_400);
/// Longest job name, in characters. Callers check it; nothing in this crate
/// does.
pub const MAX_JOB_NAME_CHARS: usize = 100;
/// Longest job prompt, in characters. Callers check it; nothing in this
/// crate does.
pub const MAX_JOB_PROMPT_CHARS: usize = 2000;

/// Why a schedule or a time zone was refused. The messages are written to
/// be shown to the user (or handed back to the agent) as they are.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScheduleError {
    /// Not an IANA time zone name; holds the name as given, trimmed.
    #[error("unknown time zone {0:?} (expected an IANA name such as Europe/Paris)")]
    TimeZone(String),
    /// Not any of the accepted forms (see [`Schedule`]),
    /// a local time that does not exist (in a DST gap), or a cron
    /// expression that never runs again. Holds the schedule as written.
    #[error(
        "the schedule {0:?} is not a cron expression, \"every <duration>\", \"in <duration>\" or a date and time"
    )]
    Unreadable(String),
    /// Two runs would be less than [`MIN_INTERVAL`] apart.
    #[error("runs must be at least 15 minutes apart")]
    TooFrequent,
    /// A one-time schedule whose time is not after `now`.
    #[error("that time has already passed")]
    InThePast,
    /// A one-time schedule more than 366 days after `now`.
    #[error("that is more than a year ahead")]
    TooFarAhead,
}

/// An IANA time zone name (`Europe/Paris`, `UTC`), surrounding spaces
/// ignored.
///
/// # Errors
/// [`ScheduleError::TimeZone`] for a name `chrono-tz` does not know.
pub fn parse_time_zone(name: &str) -> Result<Tz, ScheduleError> {
    Tz::from_str(name.trim()).map_err(|_| ScheduleError::TimeZone(name.trim().to_owned()))
}

/// When a job runs.
///
/// The accepted forms:
/// - a cron expression of five fields (`0 8 * * *`: minute, hour, day of
///   month, month, day of week), evaluated in the job's time zone;
/// - `every <duration>` (`every 2 hours`, `every 30m`, `every day`);
/// - one time: `in <duration>` (`in 2 hours`) or an ISO 8601 time
///   (`2026-12-24T18:00`, local to the zone, or with an offset).
///
/// Durations are a count (default 1) and a unit: `m`/`min`/`minute`,
/// `h`/`hr`/`hour`, `d`/`day`, `w`/`week`, with or without a plural `s`.
///
/// ```
/// use chrono::{TimeZone, Utc};
/// use heyclaw_domain::{Schedule, ScheduleError, parse_time_zone};
///
/// let paris = parse_time_zone("Europe/Paris")?;
/// let now = Utc.with_ymd_and_hms(2026, 12, 1, 10, 0, 0).unwrap();
///
/// let daily = Schedule::parse("0 8 * * *", paris, now)?;
/// // 08:00 in Paris in winter is 07:00 UTC.
/// assert_eq!(
///     daily.next_after(now, paris),
///     Some(Utc.with_ymd_and_hms(2026, 12, 2, 7, 0, 0).unwrap())
/// );
/// assert_eq!(
///     Schedule::parse("every 5 minutes", paris, now).unwrap_err(),
///     ScheduleError::TooFrequent
/// );
/// # Ok::<(), ScheduleError>(())
/// ```
#[derive(Debug, Clone)]
pub enum Schedule {
    /// A cron expression (five fields), evaluated in the job's time zone.
    Cron(Box<Cron>),
    /// A run every so often, counted from the previous scheduled run; the
    /// time zone plays no part.
    Every(Duration),
    /// One run, at this instant.
    Once(DateTime<Utc>),
}

/// What a schedule is stored as: its kind and, for intervals, the seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScheduleKind {
    /// [`Schedule::Cron`]; stored as `cron`.
    Cron,
    /// [`Schedule::Every`]; stored as `interval`.
    Interval,
    /// [`Schedule::Once`]; stored as `once`.
    Once,
}

impl ScheduleKind {
    /// The stored name: `cron`, `interval` or `once` (what
    /// [`Schedule::from_stored`] reads back).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Cron => "cron",
            Self::Interval => "interval",
            Self::Once => "once",
        }
    }
}

impl Schedule {
    /// Reads a schedule as the agent wrote it (see [`Schedule`] for the
    /// forms; the `every `/`in ` prefixes are case-insensitive). `zone` is
    /// the zone of cron expressions and of times without an offset; `now`
    /// anchors `in <duration>` and the checks.
    ///
    /// # Errors
    /// [`ScheduleError::Unreadable`] for text in none of the forms;
    /// [`ScheduleError::TooFrequent`] when two runs would be less than
    /// [`MIN_INTERVAL`] apart (for cron, judged over the next eight days);
    /// [`ScheduleError::InThePast`] and [`ScheduleError::TooFarAhead`] for a
    /// one-time run not after `now` or more than 366 days ahead.
    pub fn parse(raw: &str, zone: Tz, now: DateTime<Utc>) -> Result<Self, ScheduleError> {
        let text = raw.trim();
        let lower = text.to_ascii_lowercase();
        let unreadable = || ScheduleError::Unreadable(text.to_owned());
        let schedule = if let Some(rest) = lower.strip_prefix("every ") {
            Schedule::Every(parse_duration(rest).ok_or_else(unreadable)?)
        } else if let Some(rest) = lower.strip_prefix("in ") {
            let delay = parse_duration(rest).ok_or_else(unreadable)?;
            let delay =
                chrono::TimeDelta::from_std(delay).map_err(|_| ScheduleError::TooFarAhead)?;
            Schedule::Once(now + delay)
        } else if text.split_whitespace().count() == 5 {
            Schedule::Cron(Box::new(
                cron_parser().parse(text).map_err(|_| unreadable())?,
            ))
        } else {
            Schedule::Once(parse_time(text, zone).ok_or_else(unreadable)?)
        };
        schedule.check(zone, now)?;
        Ok(schedule)
    }

    /// A stored job's schedule again: `kind`, the text as written, the
    /// interval for `interval` jobs. One-time jobs keep their time in
    /// `next_run_at` and need nothing here.
    ///
    /// `kind` is a [`ScheduleKind::as_str`] name; `run_at` is only read for
    /// `once`. Returns `None` for an unknown kind, an unparsable cron text, or
    /// a missing (or negative) interval. The checks of [`Schedule::parse`]
    /// are not applied again: what was stored is trusted.
    pub fn from_stored(
        kind: &str,
        text: &str,
        interval_seconds: Option<i32>,
        run_at: Option<DateTime<Utc>>,
    ) -> Option<Self> {
        match kind {
            "cron" => cron_parser()
                .parse(text)
                .ok()
                .map(|c| Schedule::Cron(Box::new(c))),
            "interval" => interval_seconds
                .and_then(|s| u64::try_from(s).ok())
                .map(|s| Schedule::Every(Duration::from_secs(s))),
            "once" => run_at.map(Schedule::Once),
            _ => None,
        }
    }

    /// How this schedule is stored.
    pub fn kind(&self) -> ScheduleKind {
        match self {
            Schedule::Cron(_) => ScheduleKind::Cron,
            Schedule::Every(_) => ScheduleKind::Interval,
            Schedule::Once(_) => ScheduleKind::Once,
        }
    }

    /// The interval of an `every` schedule, in whole seconds; `None` for the
    /// other kinds (and for an interval that does not fit an `i32`).
    pub fn interval_seconds(&self) -> Option<i32> {
        match self {
            Schedule::Every(every) => i32::try_from(every.as_secs()).ok(),
            _ => None,
        }
    }

    /// The first run strictly after `after` (cron in `zone`); `None` when
    /// there is none (a one-time run not after `after`, a cron expression
    /// with no later occurrence).
    pub fn next_after(&self, after: DateTime<Utc>, zone: Tz) -> Option<DateTime<Utc>> {
        match self {
            Schedule::Cron(cron) => cron
                .find_next_occurrence(&after.with_timezone(&zone), false)
                .ok()
                .map(|at| at.with_timezone(&Utc)),
            Schedule::Every(every) => Some(after + chrono::TimeDelta::from_std(*every).ok()?),
            Schedule::Once(at) => (*at > after).then_some(*at),
        }
    }

    /// The next run after one scheduled at `previous`, skipping runs that
    /// were missed while nothing ran (no burst of catch-up runs): the first
    /// occurrence after `previous` that is not before `now`. An interval
    /// keeps its phase (`previous` plus a whole number of intervals); a
    /// one-time schedule has no next run once its time is before `now`.
    pub fn next_run(
        &self,
        previous: DateTime<Utc>,
        now: DateTime<Utc>,
        zone: Tz,
    ) -> Option<DateTime<Utc>> {
        let next = self.next_after(previous, zone)?;
        if next >= now {
            return Some(next);
        }
        match self {
            // Keep the interval's phase: step whole intervals past `now`.
            Schedule::Every(every) => {
                let step = chrono::TimeDelta::from_std(*every).ok()?;
                let behind = (now - next).num_seconds();
                let steps = behind.div_euclid(step.num_seconds().max(1)) + 1;
                Some(next + step * i32::try_from(steps).ok()?)
            }
            Schedule::Cron(_) => self.next_after(now - chrono::TimeDelta::seconds(1), zone),
            Schedule::Once(_) => None,
        }
    }

    fn check(&self, zone: Tz, now: DateTime<Utc>) -> Result<(), ScheduleError> {
        match self {
            Schedule::Every(every) if *every < MIN_INTERVAL => Err(ScheduleError::TooFrequent),
            Schedule::Every(_) => Ok(()),
            Schedule::Once(at) if *at <= now => Err(ScheduleError::InThePast),
            Schedule::Once(at) if (*at - now).to_std().is_ok_and(|ahead| ahead > MAX_AHEAD) => {
                Err(ScheduleError::TooFarAhead)
            }
            Schedule::Once(_) => Ok(()),
            Schedule::Cron(_) => {
                // The gaps between the next runs, over a little more than a
                // week so day-of-week patterns are seen.
                let mut at = self
                    .next_after(now, zone)
                    .ok_or_else(|| ScheduleError::Unreadable("no future run".to_owned()))?;
                let horizon = now + chrono::TimeDelta::days(8);
                while at < horizon {
                    let Some(next) = self.next_after(at, zone) else {
                        break;
                    };
                    if (next - at).to_std().is_ok_and(|gap| gap < MIN_INTERVAL) {
                        return Err(ScheduleError::TooFrequent);
                    }
                    at = next;
                }
                Ok(())
            }
        }
    }
}

/// Five fields: minute, hour, day of month, month, day of week.
fn cron_parser() -> CronParser {
    CronParser::builder()
        .seconds(Seconds::Disallowed)
        .year(Year::Disallowed)
        .build()
}

/// `2 hours`, `30m`, `1 day`, `day`, `90 minutes`, `2h`.
fn parse_duration(text: &str) -> Option<Duration> {
    let text = text.trim();
    let digits: String = text.chars().take_while(char::is_ascii_digit).collect();
    let unit = text[digits.len()..].trim();
    let count: u64 = if digits.is_empty() {
        1
    } else {
        digits.parse().ok()?
    };
    // One plural `s` of a word (`mins`, `hours`), never of a short unit:
    // `30ms` must not read as 30 minutes.
    let unit = unit.to_ascii_lowercase();
    let singular = match unit.strip_suffix('s') {
        Some(word) if word.len() >= 2 => word,
        _ => unit.as_str(),
    };
    let unit_seconds = match singular {
        "m" | "min" | "minute" | "mn" => 60,
        "h" | "hr" | "hour" => 3600,
        "d" | "day" => 86_400,
        "w" | "week" => 7 * 86_400,
        _ => return None,
    };
    if count == 0 {
        return None;
    }
    Some(Duration::from_secs(count.checked_mul(unit_seconds)?))
}

/// An ISO 8601 date and time: with an offset as it says, without one in `zone`.
fn parse_time(text: &str, zone: Tz) -> Option<DateTime<Utc>> {
    if let Ok(at) = DateTime::parse_from_rfc3339(text) {
        return Some(at.with_timezone(&Utc));
    }
    let naive = [
        "%Y-%m-%dT%H:%M:%S",
        "%Y-%m-%dT%H:%M",
        "%Y-%m-%d %H:%M:%S",
        "%Y-%m-%d %H:%M",
    ]
    .iter()
    .find_map(|format| NaiveDateTime::parse_from_str(text, format).ok())?;
    // A time that falls in a DST gap does not exist; an ambiguous one is
    // taken at its first occurrence.
    zone.from_local_datetime(&naive)
        .earliest()
        .map(|at| at.with_timezone(&Utc))
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn utc(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .unwrap()
            .with_timezone(&Utc)
    }

    #[test]
    fn cron_follows_the_zone_across_a_dst_change() {
        let paris = parse_time_zone("Europe/Paris").unwrap();
        let now = utc("2026-03-27T12:00:00Z");
        let schedule = Schedule::parse("0 8 * * *", paris, now).unwrap();
        // 08:00 CET is 07:00Z before the change (29 March), 06:00Z after.
        let first = schedule.next_after(now, paris).unwrap();
        assert_eq!(first, utc("2026-03-28T07:00:00Z"));
        assert_eq!(
            schedule.next_after(first, paris).unwrap(),
            utc("2026-03-29T06:00:00Z")
        );
    }

    #[test]
    fn intervals_and_one_time_schedules() {
        let now = utc("2026-12-01T10:00:00Z");
        let utc_zone = parse_time_zone("UTC").unwrap();
        let every = Schedule::parse("every 2 hours", utc_zone, now).unwrap();
        assert_eq!(
            every.next_after(now, utc_zone),
            Some(utc("2026-12-01T12:00:00Z"))
        );
        assert_eq!(every.interval_seconds(), Some(7200));
        let once = Schedule::parse("in 2 hours", utc_zone, now).unwrap();
        assert_eq!(
            once.next_after(now, utc_zone),
            Some(utc("2026-12-01T12:00:00Z"))
        );
        let ny = parse_time_zone("America/New_York").unwrap();
        let at = Schedule::parse("2026-12-24T18:00", ny, now).unwrap();
        assert_eq!(at.next_after(now, ny), Some(utc("2026-12-24T23:00:00Z")));
        assert!(matches!(
            Schedule::parse("every day", utc_zone, now).unwrap(),
            Schedule::Every(d) if d == Duration::from_secs(86_400)
        ));
    }

    #[test]
    fn bad_schedules_are_refused_with_a_reason() {
        let now = utc("2026-12-01T10:00:00Z");
        let zone = parse_time_zone("UTC").unwrap();
        for (raw, expected) in [
            ("every 5 minutes", ScheduleError::TooFrequent),
            ("*/5 * * * *", ScheduleError::TooFrequent),
            ("2020-01-01T10:00", ScheduleError::InThePast),
            ("in 500 days", ScheduleError::TooFarAhead),
        ] {
            assert_eq!(
                Schedule::parse(raw, zone, now).unwrap_err(),
                expected,
                "{raw}"
            );
        }
        for raw in [
            "whenever",
            "every banana",
            "61 * * * *",
            "",
            "0 8 * * * *",
            "every 30ms",
            "every 2 hourss",
        ] {
            assert!(
                matches!(
                    Schedule::parse(raw, zone, now),
                    Err(ScheduleError::Unreadable(_))
                ),
                "{raw}"
            );
        }
        assert!(parse_time_zone("Mars/Olympus").is_err());
    }

    #[test]
    fn missed_runs_are_skipped_not_replayed() {
        let zone = parse_time_zone("UTC").unwrap();
        let start = utc("2026-12-01T00:00:00Z");
        let hourly = Schedule::parse("every 1 hour", zone, start).unwrap();
        let now = utc("2026-12-01T05:30:00Z");
        assert_eq!(
            hourly.next_run(start, now, zone),
            Some(utc("2026-12-01T06:00:00Z"))
        );
        let daily = Schedule::parse("0 8 * * *", zone, start).unwrap();
        assert_eq!(
            daily.next_run(utc("2026-11-20T08:00:00Z"), now, zone),
            Some(utc("2026-12-01T08:00:00Z"))
        );
    }

    proptest! {
        /// Whatever the start, the next run of a valid cron schedule is in
        /// the future and at least the minimum interval after the one before.
        #[test]
        fn cron_runs_move_forward(minute in 0u32..60, hour in 0u32..24, offset in 0i64..400_000_000) {
            let zone = parse_time_zone("Europe/Berlin").unwrap();
            let now = utc("2026-01-01T00:00:00Z") + chrono::TimeDelta::seconds(offset);
            let schedule = Schedule::parse(&format!("{minute} {hour} * * *"), zone, now).unwrap();
            let first = schedule.next_after(now, zone).unwrap();
            let second = schedule.next_after(first, zone).unwrap();
            prop_assert!(first > now);
            prop_assert!((second - first).num_seconds() >= 15 * 60);
        }
    }
}
