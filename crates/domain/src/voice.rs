use std::{fmt, str::FromStr};

/// The assistant voices the app offers (OpenAI speech voice names).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Voice {
    Alloy,
    Ash,
    Coral,
    Echo,
    Fable,
    Nova,
    Onyx,
    Sage,
    Shimmer,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "Unknown voice {0:?}. Choose one of: alloy, ash, coral, echo, fable, nova, onyx, sage, shimmer"
)]
pub struct UnknownVoice(pub String);

impl Voice {
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
