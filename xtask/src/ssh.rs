//! Reaching a server over SSH, for `deploy` and `doctor --host`: commands,
//! and local port forwards to addresses as the server resolves them.

use std::{
    io::Write,
    net::{TcpListener, TcpStream},
    path::PathBuf,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use anyhow::{Context, Result, bail};

/// A server and how to log in to it. Batch mode: a key or an agent, never a
/// password prompt.
#[derive(Debug, Clone)]
pub struct Ssh {
    /// `user@server` (or an alias from ~/.ssh/config).
    pub host: String,
    pub port: Option<u16>,
    pub identity: Option<PathBuf>,
    /// More `-o` options (`Key=value`).
    pub options: Vec<String>,
}

/// What a command on the server printed, and how it exited.
#[derive(Debug)]
pub struct Output {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Ssh {
    /// `ssh` with the login options, before the host.
    fn base(&self) -> Command {
        let mut ssh = Command::new("ssh");
        ssh.args(["-o", "BatchMode=yes", "-o", "LogLevel=ERROR"]);
        if let Some(port) = self.port {
            ssh.args(["-p", &port.to_string()]);
        }
        if let Some(identity) = &self.identity {
            ssh.arg("-i").arg(identity);
        }
        for option in &self.options {
            ssh.args(["-o", option]);
        }
        ssh
    }

    /// The command line that would run `command` on the server (for dry runs).
    pub fn describe(&self, command: &str) -> String {
        let mut ssh = self.base();
        ssh.arg(&self.host).arg(command);
        format!("{ssh:?}")
    }

    /// Runs `command` on the server (with `input` on its stdin), whatever
    /// its exit code.
    pub fn output(&self, command: &str, input: Option<&[u8]>) -> Result<Output> {
        let mut ssh = self.base();
        ssh.arg(&self.host)
            .arg(command)
            .stdin(if input.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = ssh.spawn().context("running ssh")?;
        if let (Some(bytes), Some(mut stdin)) = (input, child.stdin.take()) {
            stdin.write_all(bytes).context("sending to ssh")?;
        }
        let output = child.wait_with_output().context("waiting for ssh")?;
        // 255 is ssh's own failure (connection, authentication).
        if output.status.code() == Some(255) {
            bail!(
                "cannot reach {} over SSH: {}",
                self.host,
                String::from_utf8_lossy(&output.stderr).trim()
            );
        }
        Ok(Output {
            code: output.status.code(),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        })
    }

    /// Runs `command` on the server; its stdout, or an error with its stderr
    /// when it fails.
    pub fn run(&self, command: &str, input: Option<&[u8]>) -> Result<String> {
        let output = self.output(command, input)?;
        if output.code != Some(0) {
            bail!(
                "on {}: `{command}` failed (exit {}): {}",
                self.host,
                output
                    .code
                    .map_or_else(|| "by signal".to_owned(), |c| c.to_string()),
                output.stderr.trim()
            );
        }
        Ok(output.stdout)
    }

    /// Forwards a local loopback port to each `(host, port)` as the server
    /// reaches it; the forwards last as long as the returned [`Tunnel`].
    pub fn forward(&self, targets: &[(String, u16)]) -> Result<Tunnel> {
        let mut local_ports = Vec::new();
        let mut ssh = self.base();
        ssh.args(["-N", "-o", "ExitOnForwardFailure=yes"]);
        for (host, port) in targets {
            let local = free_port()?;
            ssh.arg("-L")
                .arg(format!("127.0.0.1:{local}:{host}:{port}"));
            local_ports.push(local);
        }
        let child = ssh
            .arg(&self.host)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .context("running ssh")?;
        let mut tunnel = Tunnel { child, local_ports };
        let started = Instant::now();
        for port in tunnel.local_ports.clone() {
            while TcpStream::connect(("127.0.0.1", port)).is_err() {
                if let Some(status) = tunnel.child.try_wait()? {
                    let mut stderr = String::new();
                    if let Some(mut pipe) = tunnel.child.stderr.take() {
                        std::io::Read::read_to_string(&mut pipe, &mut stderr).ok();
                    }
                    bail!(
                        "forwarding ports through {} failed ({status}): {}",
                        self.host,
                        stderr.trim()
                    );
                }
                if started.elapsed() > Duration::from_secs(15) {
                    bail!("forwarding ports through {} timed out", self.host);
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        Ok(tunnel)
    }
}

/// Local forwards through a running `ssh -N`; closed on drop.
pub struct Tunnel {
    child: Child,
    /// One loopback port per target, in order.
    pub local_ports: Vec<u16>,
}

impl Drop for Tunnel {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// `value` as one single-quoted word for a POSIX shell.
pub fn quote(value: &str) -> String {
    format!("'{}'", value.replace('\'', r"'\''"))
}

/// An OpenSSH server on a loopback port with throw-away keys, for tests.
#[cfg(test)]
pub mod testing {
    use super::*;

    /// Stopped (and its keys removed) on drop.
    pub struct SshServer {
        pub dir: PathBuf,
        pub port: u16,
        child: Child,
    }

    impl SshServer {
        pub fn start() -> Self {
            crate::tools::ensure_debian_packages(&["/usr/sbin/sshd"], &["openssh-server"])
                .expect("openssh-server");
            let dir = std::env::temp_dir().join(format!("heyclaw-ssh-{}", crate::random_hex(6)));
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::create_dir_all("/run/sshd").unwrap();
            for key in ["host_key", "user_key"] {
                let status = Command::new("ssh-keygen")
                    .args(["-q", "-t", "ed25519", "-N", "", "-f"])
                    .arg(dir.join(key))
                    .status()
                    .unwrap();
                assert!(status.success());
            }
            std::fs::copy(dir.join("user_key.pub"), dir.join("authorized_keys")).unwrap();
            let port = free_port().unwrap();
            let child = Command::new("/usr/sbin/sshd")
                .args(["-D", "-e", "-p", &port.to_string(), "-h"])
                .arg(dir.join("host_key"))
                .args([
                    "-o",
                    "ListenAddress=127.0.0.1",
                    "-o",
                    "StrictModes=no",
                    "-o",
                    "UsePAM=no",
                    "-o",
                    "AllowTcpForwarding=yes",
                ])
                .arg("-o")
                .arg(format!(
                    "AuthorizedKeysFile={}",
                    dir.join("authorized_keys").display()
                ))
                .arg("-o")
                .arg(format!("PidFile={}", dir.join("pid").display()))
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap();
            let started = Instant::now();
            while TcpStream::connect(("127.0.0.1", port)).is_err() {
                assert!(
                    started.elapsed() < Duration::from_secs(10),
                    "sshd did not start"
                );
                std::thread::sleep(Duration::from_millis(50));
            }
            Self { dir, port, child }
        }

        /// This machine's user at the server, with the throw-away key.
        pub fn login(&self) -> Ssh {
            let user = String::from_utf8(Command::new("id").arg("-un").output().unwrap().stdout)
                .unwrap()
                .trim()
                .to_owned();
            Ssh {
                host: format!("{user}@127.0.0.1"),
                port: Some(self.port),
                identity: Some(self.dir.join("user_key")),
                options: vec![
                    "StrictHostKeyChecking=no".into(),
                    "UserKnownHostsFile=/dev/null".into(),
                ],
            }
        }
    }

    impl Drop for SshServer {
        fn drop(&mut self) {
            let _ = self.child.kill();
            let _ = self.child.wait();
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}
