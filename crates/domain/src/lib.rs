//! HeyClaw's pure types and rules.
//!
//! Everything here is plain data and functions over it: identifiers, e-mail
//! addresses, plans and their limits. This crate performs no I/O, knows no
//! async runtime, web framework or database, and depends on no other HeyClaw
//! crate — `cargo xtask ci` enforces that.

mod email;
mod ids;
mod plan;

pub use email::{Email, EmailError};
pub use ids::{AgentId, UserId};
pub use plan::{Plan, PlanLimits, UnknownPlan};
