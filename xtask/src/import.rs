//! `cargo xtask import-original --from <postgres URL> [--workspaces <dir>]
//! [--dry-run]`: take the original Node server's users over (see
//! `heyclaw_app::import`). The target is this deployment's `DATABASE_URL`
//! (dev defaults when unset) and its shard `GATEWAY_ID`; workspaces are
//! archived in that database.

use std::path::PathBuf;

use anyhow::{Context, Result};
use heyclaw_app::import::{ImportOptions, import_original};

pub struct Args {
    pub from: String,
    pub workspaces: Option<PathBuf>,
    pub dry_run: bool,
    pub batch_size: usize,
}

pub fn run(args: Args) -> Result<()> {
    let env = crate::dev::environment()?;
    let target_url = env.get("DATABASE_URL").context("DATABASE_URL")?.clone();
    let options = ImportOptions {
        dry_run: args.dry_run,
        batch_size: args.batch_size,
        gateway_id: env
            .get("GATEWAY_ID")
            .cloned()
            .unwrap_or_else(|| "default".to_owned()),
        today: chrono::Utc::now().date_naive(),
        workspaces_from: args.workspaces,
    };
    let report = crate::runtime()?.block_on(async {
        let mut source = heyclaw_persistence::establish(&args.from)
            .await
            .context("connecting to the original's database (--from)")?;
        let mut target = heyclaw_persistence::establish(&target_url)
            .await
            .context("connecting to this deployment's database (DATABASE_URL)")?;
        let mut progress = |line: &str| println!("  {line}");
        import_original(&mut source, &mut target, &options, &mut progress)
            .await
            .map_err(anyhow::Error::from)
    })?;
    println!("\n{report}");
    Ok(())
}
