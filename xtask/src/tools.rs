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
