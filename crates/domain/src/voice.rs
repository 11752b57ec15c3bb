use std::{fmt, str::FromStr};

/// The assistant voices the app offers (OpenAI speech voice names).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
///
/// Parse one from its name with [`str::parse`] (case-insensitive), print it
/// with [`Display`](fmt::Display) or [`Voice::as_str`].
///
/// ```
/// use heyclaw_domain::Voice;
///
/// assert_eq!(" Nova ".parse::<Voice>(), Ok(Voice::Nova));
/// assert_eq!(Voice::Coral.to_string(), "coral");
/// assert!("robot".parse::<Voice>().is_err());
/// ```
pub enum Voice {
    /// `alloy`.
    Alloy,
    /// `ash`.
    Ash,
    /// `coral`.
    Coral,
    /// `echo`.
    Echo,
    /// `fable`.
    Fable,
    /// `nova`, the [default](Voice::DEFAULT).
    Nova,
    /// `onyx`.
    Onyx,
    /// `sage`.
    Sage,
    /// `shimmer`.
    Shimmer,
}

/// A voice name that is not one of [`Voice::ALL`]; holds the name as given.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "Unknown voice {0:?}. Choose one of: alloy, ash, coral, echo, fable, nova, onyx, sage, shimmer"
)]
pub struct UnknownVoice(
    /// The name as given, untrimmed.
    pub String,
);

impl Voice {
    /// Every voice, in alphabetical order.
    pub const ALL: [Voice; 9] = [
        Voice::Alloy,
        Voice::Ash,
        Voice::Coral,
        Voice::Echo,
        Voice::Fable,
        Voice::Nova,
        Voice::Onyx,
        Voice::Sage,
        Voice::Shimmer,
    ];

    /// New assistants speak with this voice.
    pub const DEFAULT: Voice = Voice::Nova;

    /// The lower-case name, which is also OpenAI's voice name.
    pub fn as_str(self) -> &'static str {
        match self {
            Voice::Alloy => "alloy",
            Voice::Ash => "ash",
            Voice::Coral => "coral",
            Voice::Echo => "echo",
            Voice::Fable => "fable",
            Voice::Nova => "nova",
            Voice::Onyx => "onyx",
            Voice::Sage => "sage",
            Voice::Shimmer => "shimmer",
        }
    }
}

impl fmt::Display for Voice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Voice {
    type Err = UnknownVoice;

    /// Case-insensitive, surrounding spaces ignored.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let wanted = s.trim().to_ascii_lowercase();
        Voice::ALL
            .into_iter()
            .find(|voice| voice.as_str() == wanted)
            .ok_or_else(|| UnknownVoice(s.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn voices_parse_by_name() {
        for voice in Voice::ALL {
            assert_eq!(voice.as_str().parse::<Voice>().unwrap(), voice);
        }
        assert_eq!(" Nova ".parse::<Voice>().unwrap(), Voice::Nova);
        assert!("robot".parse::<Voice>().is_err());
        assert!("".parse::<Voice>().is_err());
    }
}
