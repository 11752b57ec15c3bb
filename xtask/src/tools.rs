//! The cargo-installed tools CI needs, installed once into a cache outside
//! the repository (`~/.cache/heyclaw/tools`, or `$HEYCLAW_CACHE_DIR/tools`).

use std::path::PathBuf;

use anyhow::Result;

/// (binary, crate, version, extra install args)
const TOOLS: &[(&str, &str, &str, &[&str])] = &[
    ("cargo-deny", "cargo-deny", "0.20.2", &[]),
    (
        "diesel",
        "diesel_cli",
        "2.3.14",
        &["--no-default-features", "--features", "postgres"],
    ),
];

fn tools_root() -> PathBuf {
    heyclaw_test_support::real_gateway::cache_dir().join("tools")
}

/// Path of an installed tool, installing it first if needed.
pub fn ensure(binary: &str) -> Result<PathBuf> {
    let path = tools_root().join("bin").join(binary);
    if path.exists() {
        return Ok(path);
    }
    let Some((_, krate, version, extra)) = TOOLS.iter().find(|(b, ..)| *b == binary) else {
        anyhow::bail!("unknown tool {binary}");
    };
    println!(
        "installing {krate} {version} into {} (once per machine)",
        tools_root().display()
    );
    let root = tools_root();
    let root = root.to_string_lossy();
    let spec = format!("{krate}@{version}");
    let mut args = vec!["install", "--locked", "--root", &root, &spec];
    args.extend_from_slice(extra);
    crate::run_cmd(env!("CARGO"), &args)?;
    Ok(path)
}

pub fn nextest_available() -> bool {
    std::process::Command::new(env!("CARGO"))
        .args(["nextest", "--version"])
        .output()
        .is_ok_and(|out| out.status.success())
}

/// Debian's Chromium and ChromeDriver for the browser tests, installed with
/// apt when missing (never a browser a test tool downloads by itself).
pub fn ensure_chromium() -> Result<()> {
    ensure_debian_packages(
        &["/usr/bin/chromium", "/usr/bin/chromedriver"],
        &["chromium", "chromium-driver"],
    )
}

/// Debian's packages when any of `binaries` is missing (apt-get, as root or
/// through sudo; the package lists are fetched if need be).
///
/// Tests run in parallel processes and several install something on a
/// fresh machine; apt-get refuses to run while another holds dpkg's lock.
/// So installs here take turns (a file lock), and apt-get waits for a lock
/// held by anyone else.
pub fn ensure_debian_packages(binaries: &[&str], packages: &[&str]) -> Result<()> {
    let present = || {
        binaries
            .iter()
            .all(|path| std::path::Path::new(path).exists())
    };
    if present() {
        return Ok(());
    }
    let turn = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(std::env::temp_dir().join("heyclaw-apt.lock"))?;
    turn.lock()?;
    // Another process may have installed them while this one waited.
    if present() {
        return Ok(());
    }
    println!(
        "installing Debian's {} (once per machine)",
        packages.join(", ")
    );
    let root = std::process::Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|out| String::from_utf8_lossy(&out.stdout).trim() == "0");
    let apt = |args: &[&str]| {
        let mut command = if root {
            std::process::Command::new("apt-get")
        } else {
            let mut sudo = std::process::Command::new("sudo");
            sudo.arg("apt-get");
            sudo
        };
        command
            .args(["-o", "DPkg::Lock::Timeout=600"])
            .args(args)
            .env("DEBIAN_FRONTEND", "noninteractive");
        let status = command.status()?;
        anyhow::ensure!(
            status.success(),
            "apt-get {} failed ({status})",
            args.join(" ")
        );
        Ok(())
    };
    let install: Vec<&str> = ["install", "-y", "-q"]
        .into_iter()
        .chain(packages.iter().copied())
        .collect();
    if apt(&install).is_err() {
        // A fresh machine may not have the package lists yet.
        apt(&["update", "-q"])?;
        apt(&install)?;
    }
    Ok(())
}
