//! HeyClaw's pure types and rules: the values the rest of the backend
//! agrees on, each checked once where it is made.
//!
//! - identifiers: [`UserId`], [`AgentId`] (`agent-<uuid>`, safe as a
//!   directory name);
//! - what users type: [`Email`] (trimmed, lower-cased, validated), password,
//!   name and avatar URL rules ([`check_new_password`], [`clean_name`],
//!   [`check_avatar_url`]);
//! - the assistant's [`Voice`]s;
//! - agent replies: action markers ([`extract_actions`]) and the streaming
//!   [`SentenceSplitter`] that lets speech start on the first sentence;
//! - automations: [`Schedule`] (cron, `every`, one time; time zones, the
//!   15-minute minimum);
//! - time as the use cases see it ([`clock`]) and durations as settings
//!   spell them ([`parse_setting_duration`]).
//!
//! # What it must not do
//!
//! This crate performs no I/O (no files, network, environment or logging),
//! knows no async runtime, web framework or database, and depends on no
//! other HeyClaw crate — `cargo xtask layering` enforces the dependency
//! rules. Plans and their limits are data (the `plan_limits` table), not
//! code, so they are not here either. Everything is plain data and pure
//! functions over it, except [`clock::SystemClock`], which reads the
//! system time.
//!
//! # Example
//!
//! ```
//! use heyclaw_domain::{Email, SentenceSplitter, Voice, extract_actions};
//!
//! // Values are checked where they are made.
//! let email = Email::parse("  Ada@Example.COM ")?;
//! assert_eq!(email.as_str(), "ada@example.com");
//! let voice: Voice = "coral".parse()?;
//! assert_eq!(voice, Voice::Coral);
//!
//! // A streamed reply: sentences come out as soon as they are decided.
//! let mut splitter = SentenceSplitter::new();
//! let mut sentences = Vec::new();
//! for delta in ["Hello the", "re. How are", " you? I'm f", "ine."] {
//!     sentences.extend(splitter.push(delta));
//! }
//! sentences.extend(splitter.finish());
//! assert_eq!(sentences, ["Hello there. ", "How are you? ", "I'm fine."]);
//!
//! // Action markers are taken out of what is shown and spoken.
//! let reply = extract_actions("Sure. <!--action:reminder|600|Tea-->");
//! assert_eq!(reply.text, "Sure.");
//! assert_eq!(reply.actions[0].kind, "reminder");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

#![deny(missing_docs)]

mod actions;
mod automation;
pub mod clock;
mod credentials;
mod email;
mod ids;

mod sentences;
mod setting_duration;
mod voice;

pub use actions::{Action, ParsedReply, extract_actions};
pub use automation::{
    MAX_JOB_NAME_CHARS, MAX_JOB_PROMPT_CHARS, MIN_INTERVAL, Schedule, ScheduleError, ScheduleKind,
    parse_time_zone,
};
pub use chrono_tz::Tz;
pub use credentials::{
    AvatarUrlError, MAX_AVATAR_URL_CHARS, MAX_NAME_CHARS, MAX_PASSWORD_CHARS, MIN_PASSWORD_CHARS,
    NameError, PasswordError, check_avatar_url, check_new_password, clean_name,
    is_plausible_password,
};
pub use email::{Email, EmailError};
pub use ids::{AgentId, UserId};

pub use sentences::{EARLY_FLUSH_CHARS, MAX_CHUNK_CHARS, SentenceSplitter, split_sentences};
pub use setting_duration::parse_setting_duration;
pub use voice::{UnknownVoice, Voice};
