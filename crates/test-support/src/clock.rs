//! A clock a test moves forward instead of sleeping.

use std::sync::{Arc, Mutex};

use chrono::{DateTime, TimeDelta, Utc};
use heyclaw_app::clock::Clock;

/// The system time plus an offset the test advances. Time keeps flowing
/// (so nothing waits forever), and `advance` jumps over a window at once.
#[derive(Clone, Default)]
pub struct TestClock {
    offset: Arc<Mutex<TimeDelta>>,
}

impl TestClock {
    /// What the server sees as now.
    pub fn now(&self) -> DateTime<Utc> {
        Clock::now(self)
    }

    /// Moves this clock `by` into the future, for every clone of it (the
    /// server's and the keepers' too). There is no way back.
    pub fn advance(&self, by: std::time::Duration) {
        let by = TimeDelta::from_std(by).expect("a test advances by a sane amount");
        *self.offset.lock().expect("lock") += by;
    }
}

impl Clock for TestClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now() + *self.offset.lock().expect("lock")
    }
}
