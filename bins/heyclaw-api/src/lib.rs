//! The HeyClaw API server: settings, wiring and start-up. `main.rs` is a thin
//! command-line wrapper; tests start the same [`Application`] on port 0.

mod env;
mod metrics;
pub mod settings;
mod startup;
pub mod telemetry;

pub use env::{Env, SettingsError};
pub use heyclaw_http::ServerHandle;
pub use settings::Settings;
pub use startup::{Application, Dependencies, StartupError, migrate};
