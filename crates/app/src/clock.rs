//! The time the use cases see: [`heyclaw_domain::clock`], re-exported where
//! the use cases look for it.

pub use heyclaw_domain::clock::{Clock, SharedClock, SystemClock, system};
