//! `cargo xtask ci`: the README's test command and what `.ci/run` calls.

use anyhow::Result;

pub fn run() -> Result<()> {
    crate::services::ensure_running()?;
    let cargo = env!("CARGO");
    step("format", || {
        crate::run_cmd(cargo, &["fmt", "--all", "--", "--check"])
    })?;
    step("clippy", || {
        crate::run_cmd(
            cargo,
            &[
                "clippy",
                "--workspace",
                "--all-targets",
                "--",
                "-D",
                "warnings",
            ],
        )
    })?;
    step("cargo deny", || {
        let deny = crate::tools::ensure("cargo-deny")?;
        crate::run_cmd(
            &deny.to_string_lossy(),
            &["check", "bans", "licenses", "sources"],
        )
    })?;
    step("layering", crate::layering::run)?;
    step("schema drift", crate::schema::run)?;
    step("tests", || {
        if crate::tools::nextest_available() {
            crate::run_cmd(cargo, &["nextest", "run", "--workspace", "--no-fail-fast"])
        } else {
            crate::run_cmd(cargo, &["test", "--workspace", "--no-fail-fast"])
        }
    })?;
    println!("ci: all checks passed");
    Ok(())
}

fn step(name: &str, f: impl FnOnce() -> Result<()>) -> Result<()> {
    println!("\n==> {name}");
    let started = std::time::Instant::now();
    let result = f();
    println!(
        "<== {name}: {} in {:.1?}",
        if result.is_ok() { "ok" } else { "FAILED" },
        started.elapsed()
    );
    result.map_err(|err| anyhow::anyhow!("{name}: {err}"))
}
