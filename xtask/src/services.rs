//! Starts the machine's PostgreSQL and Redis when they are not answering,
//! so a fresh machine (or CI) needs no manual step.

use std::{process::Command, thread, time::Duration};

use anyhow::Result;

pub fn ensure_running() -> Result<()> {
    if !postgres_up() {
        println!("PostgreSQL is not answering on 127.0.0.1:5432; starting it");
        let versions = std::fs::read_dir("/etc/postgresql")
            .map(|dir| {
                dir.filter_map(Result::ok)
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect::<Vec<_>>()
            })
            .unwrap_or_default();
        for version in versions {
            let _ = Command::new("pg_ctlcluster")
                .args(["--skip-systemctl-redirect", &version, "main", "start"])
                .status();
        }
        wait_for("PostgreSQL", postgres_up)?;
    }
    if !redis_up() {
        println!("Redis is not answering on 127.0.0.1:6379; starting it");
        let _ = Command::new("redis-server")
            .args([
                "--daemonize",
                "yes",
                "--bind",
                "127.0.0.1",
                "--port",
                "6379",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .status();
        wait_for("Redis", redis_up)?;
    }
    Ok(())
}

fn postgres_up() -> bool {
    Command::new("pg_isready")
        .args(["-q", "-h", "127.0.0.1", "-p", "5432"])
        .status()
        .is_ok_and(|s| s.success())
}

fn redis_up() -> bool {
    Command::new("redis-cli")
        .args(["-h", "127.0.0.1", "-p", "6379", "ping"])
        .output()
        .is_ok_and(|out| out.stdout.starts_with(b"PONG"))
}

fn wait_for(what: &str, up: fn() -> bool) -> Result<()> {
    for _ in 0..60 {
        if up() {
            return Ok(());
        }
        thread::sleep(Duration::from_millis(500));
    }
    anyhow::bail!("{what} did not start; start it by hand (see README) and retry")
}
