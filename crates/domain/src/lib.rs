//! HeyClaw's pure types and rules.
//!
//! Everything here is plain data and functions over it: identifiers, e-mail
//! addresses, voices, action markers and sentence splitting. This crate performs no I/O, knows no
//! async runtime, web framework or database, and depends on no other HeyClaw
//! crate — `cargo xtask ci` enforces that.

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
