//! Schema drift: migrate a scratch database, print its schema with diesel
//! CLI and compare it with the committed `schema.rs`.

use anyhow::{Context, Result};
use heyclaw_persistence::admin;

const SCHEMA_RS: &str = "crates/persistence/src/schema.rs";

pub fn run() -> Result<()> {
    let diesel = crate::tools::ensure("diesel")?;
    let admin_url = heyclaw_test_support::admin_database_url();
    let scratch = format!("heyclaw_schema_check_{}", std::process::id());
    let scratch_url = admin::with_database(&admin_url, &scratch);
    let rt = crate::runtime()?;
    rt.block_on(async {
        let mut maintenance = heyclaw_persistence::establish(&admin_url).await?;
        admin::drop_database(&mut maintenance, &scratch).await?;
        admin::create_database(&mut maintenance, &scratch, None).await?;
        let conn = heyclaw_persistence::establish(&scratch_url).await?;
        heyclaw_persistence::run_migrations(conn).await?;
        anyhow::Ok(())
    })?;
    let printed = std::process::Command::new(&diesel)
        .args(["print-schema", "--database-url", &scratch_url])
        .current_dir(crate::repo_root())
        .output()
        .context("running diesel print-schema");
    rt.block_on(async {
        let mut maintenance = heyclaw_persistence::establish(&admin_url).await?;
        admin::drop_database(&mut maintenance, &scratch).await?;
        anyhow::Ok(())
    })?;
    let printed = printed?;
    anyhow::ensure!(
        printed.status.success(),
        "diesel print-schema failed: {}",
        String::from_utf8_lossy(&printed.stderr)
    );
    let committed = std::fs::read_to_string(crate::repo_root().join(SCHEMA_RS))?;
    let generated = String::from_utf8(printed.stdout)?;
    if committed == generated {
        println!("schema: {SCHEMA_RS} matches the migrations");
        return Ok(());
    }
    let fresh = std::env::temp_dir().join(format!("heyclaw-schema-{}.rs", std::process::id()));
    std::fs::write(&fresh, &generated)?;
    let _ = std::process::Command::new("diff")
        .args(["-u", SCHEMA_RS])
        .arg(&fresh)
        .current_dir(crate::repo_root())
        .status();
    anyhow::bail!(
        "{SCHEMA_RS} has drifted from migrations/; regenerate it: cp {} {SCHEMA_RS}",
        fresh.display()
    )
}
