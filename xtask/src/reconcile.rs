//! `cargo xtask reconcile`: rebuild the gateway's agent roster from the
//! assistants table, with the API's settings (dev defaults when unset).

use anyhow::Result;
use heyclaw_api::{Env, Settings};

pub fn run() -> Result<()> {
    let settings = Settings::from_env(&Env::from_pairs(crate::dev::environment()?))?;
    let report = crate::runtime()?.block_on(heyclaw_api::reconcile(&settings))?;
    println!(
        "reconciled {} agent(s); adopted {} entries found inline in openclaw.json",
        report.agents, report.adopted
    );
    Ok(())
}
