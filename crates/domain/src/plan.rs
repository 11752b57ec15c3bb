use std::{fmt, str::FromStr};

use serde::{Deserialize, Serialize};

/// A subscription plan. The daily limits of each plan live in the
/// `plan_limits` table (seeded by the migrations) so an operator can change
/// them without a release; [`PlanLimits`] is their in-memory shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Plan {
    Free,
    Pro,
    Premium,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown plan {0:?}")]
pub struct UnknownPlan(pub String);

impl Plan {
    pub const ALL: [Plan; 3] = [Plan::Free, Plan::Pro, Plan::Premium];

    pub fn as_str(self) -> &'static str {
        match self {
            Plan::Free => "free",
            Plan::Pro => "pro",
            Plan::Premium => "premium",
        }
    }
}

impl fmt::Display for Plan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Plan {
    type Err = UnknownPlan;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Plan::ALL
            .into_iter()
            .find(|plan| plan.as_str() == s)
            .ok_or_else(|| UnknownPlan(s.to_owned()))
    }
}

/// What one plan allows per UTC day.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlanLimits {
    pub daily_text_messages: u32,
    pub daily_voice_input_minutes: u32,
    pub daily_tts_characters: u32,
}

impl PlanLimits {
    /// The voice quota in seconds: voice usage is counted in seconds.
    pub fn daily_voice_seconds(&self) -> u32 {
        self.daily_voice_input_minutes.saturating_mul(60)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plan_names_round_trip() {
        for plan in Plan::ALL {
            assert_eq!(plan.as_str().parse::<Plan>().unwrap(), plan);
        }
        assert!("ultra".parse::<Plan>().is_err());
    }
}
