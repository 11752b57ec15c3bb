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
    step("gateway install", || crate::gateway::install().map(|_| ()))?;
    step("chromium install", crate::tools::ensure_chromium)?;
    step(
        "deployment files (compose, Kubernetes, Dockerfiles)",
        crate::deploy_files::run,
    )?;
    step("tests", || {
        if crate::tools::nextest_available() {
            crate::run_cmd(
                cargo,
                &[
                    "nextest",
                    "run",
                    "--workspace",
                    "--no-fail-fast",
                    "-E",
                    "not binary(e2e) and not binary(browser)",
                ],
            )
        } else {
            crate::run_cmd(
                cargo,
                &[
                    "test",
                    "--workspace",
                    "--no-fail-fast",
                    "--exclude",
                    "heyclaw-api",
                ],
            )?;
            crate::run_cmd(
                cargo,
                &[
                    "test",
                    "--package",
                    "heyclaw-api",
                    "--no-fail-fast",
                    "--lib",
                    "--test",
                    "api",
                    "--test",
                    "faults",
                ],
            )
        }
    })?;
    step("docs (warnings are errors) and doctests", || {
        let status = std::process::Command::new(cargo)
            .args(["doc", "--workspace", "--no-deps", "--quiet"])
            .env("RUSTDOCFLAGS", "-D warnings")
            .status()?;
        anyhow::ensure!(status.success(), "cargo doc found problems ({status})");
        crate::run_cmd(cargo, &["test", "--workspace", "--doc", "--quiet"])
    })?;
    step(
        "fuzzing from the OpenAPI document (schemathesis)",
        crate::fuzz::run,
    )?;
    step("web pages in headless Chromium", || {
        crate::run_cmd(
            cargo,
            &["test", "--package", "heyclaw-api", "--test", "browser"],
        )
    })?;
    // One process for the end-to-end target: its tests share one real gateway.
    step("end-to-end (real OpenClaw gateway)", || {
        crate::run_cmd(
            cargo,
            &[
                "test",
                "--package",
                "heyclaw-api",
                "--test",
                "e2e",
                "--",
                "--nocapture",
            ],
        )
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
