//! PostgreSQL and Redis servers of a test's own, for the fault suite: it
//! stops, restarts and flushes them, which it must never do to the
//! machine's shared servers. Each has its own port and data directory and is
//! stopped and removed on drop.
//!
//! Both are started from the binaries installed on the machine
//! (PostgreSQL's under `/usr/lib/postgresql/<version>/bin`, the newest
//! version; `redis-server` on `PATH`); their ports are free ports picked
//! when they start. Their helpers block the calling thread while they
//! wait, and panic when a server does not start or stop.

use std::{
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::Duration,
};

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("a free port")
        .local_addr()
        .expect("local addr")
        .port()
}

fn scratch_dir(kind: &str) -> PathBuf {
    let dir =
        std::env::temp_dir().join(format!("heyclaw-{kind}-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).expect("scratch dir");
    dir
}

/// The newest PostgreSQL server binaries installed (Debian's layout).
fn pg_bin(tool: &str) -> PathBuf {
    let root = Path::new("/usr/lib/postgresql");
    let mut versions: Vec<PathBuf> = std::fs::read_dir(root)
        .expect("PostgreSQL is installed under /usr/lib/postgresql")
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .collect();
    versions.sort();
    versions
        .last()
        .expect("a PostgreSQL version")
        .join("bin")
        .join(tool)
}

/// Runs a PostgreSQL tool as the `postgres` user when we are root (initdb
/// and the server refuse to run as root).
fn as_postgres(tool: &str) -> Command {
    let root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|out| String::from_utf8_lossy(&out.stdout).trim() == "0");
    if root {
        let mut command = Command::new("runuser");
        command.args(["-u", "postgres", "--"]).arg(pg_bin(tool));
        command
    } else {
        Command::new(pg_bin(tool))
    }
}

/// A PostgreSQL cluster of the test's own (`initdb` + `pg_ctl`), in a
/// temporary directory, with trust authentication for user `postgres` on
/// `127.0.0.1` and `fsync` off. Stopped (immediately) and its directory
/// removed on drop.
pub struct TestPostgres {
    /// The port the cluster listens on (on `127.0.0.1`), kept across
    /// restarts.
    pub port: u16,
    data: PathBuf,
    root: PathBuf,
}

impl TestPostgres {
    /// Creates the cluster, starts it, and creates database `heyclaw`
    /// (empty: migrate it yourself, or let the server migrate it). Run as
    /// root, the PostgreSQL tools run as the `postgres` user through
    /// `runuser`.
    ///
    /// # Panics
    ///
    /// If PostgreSQL is not installed, or `initdb`, the start (30 s at
    /// most) or `createdb` fails.
    pub fn start() -> Self {
        let root = scratch_dir("pg");
        let data = root.join("data");
        let _ = Command::new("chown")
            .args(["-R", "postgres:postgres"])
            .arg(&root)
            .status();
        let status = as_postgres("initdb")
            .args(["-A", "trust", "-U", "postgres", "-D"])
            .arg(&data)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .expect("initdb runs");
        assert!(status.success(), "initdb failed");
        let server = Self {
            port: free_port(),
            data,
            root,
        };
        server.start_again();
        let status = as_postgres("createdb")
            .args([
                "-h",
                "127.0.0.1",
                "-p",
                &server.port.to_string(),
                "-U",
                "postgres",
                "heyclaw",
            ])
            .status()
            .expect("createdb runs");
        assert!(status.success(), "createdb failed");
        server
    }

    /// `postgres://…/heyclaw` on this cluster.
    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/heyclaw", self.port)
    }

    /// Starts the (stopped) server on the same port and data, and waits
    /// until it accepts connections (30 s at most).
    ///
    /// # Panics
    ///
    /// If it does not start, e.g. because it is already running.
    pub fn start_again(&self) {
        let options = format!(
            "-p {} -c listen_addresses=127.0.0.1 -k {} -c fsync=off",
            self.port,
            self.root.display()
        );
        let status = as_postgres("pg_ctl")
            .arg("-D")
            .arg(&self.data)
            .args(["-o", &options, "-l"])
            .arg(self.root.join("log"))
            .args(["-w", "-t", "30", "start"])
            .stdout(Stdio::null())
            .status()
            .expect("pg_ctl runs");
        assert!(status.success(), "the test cluster did not start");
    }

    /// Stops the server at once (`immediate`: connections are cut, as in a
    /// crash) and waits until it is down. The data stays; see
    /// [`TestPostgres::start_again`].
    ///
    /// # Panics
    ///
    /// If `pg_ctl` fails, e.g. because the server is not running.
    pub fn stop(&self) {
        let status = as_postgres("pg_ctl")
            .arg("-D")
            .arg(&self.data)
            .args(["-m", "immediate", "-w", "stop"])
            .stdout(Stdio::null())
            .status()
            .expect("pg_ctl runs");
        assert!(status.success(), "the test cluster did not stop");
    }
}

impl Drop for TestPostgres {
    fn drop(&mut self) {
        let _ = as_postgres("pg_ctl")
            .arg("-D")
            .arg(&self.data)
            .args(["-m", "immediate", "stop"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

/// A Redis server of the test's own (`redis-server` as a child process,
/// nothing kept on disk). Killed on drop.
pub struct TestRedis {
    /// The port the server listens on (on `127.0.0.1`), kept across
    /// restarts.
    pub port: u16,
    child: Option<Child>,
}

impl TestRedis {
    /// Starts `redis-server` on a free port and waits until it accepts
    /// connections.
    ///
    /// # Panics
    ///
    /// If `redis-server` cannot be run, or does not listen within 10 s.
    pub fn start() -> Self {
        let mut redis = Self {
            port: free_port(),
            child: None,
        };
        redis.start_again();
        redis
    }

    /// `redis://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Starts the (stopped) server, empty, on the same port, and waits
    /// until it accepts connections. Panics like [`TestRedis::start`]. Call
    /// it only after [`TestRedis::stop`]: on a running server the new
    /// process cannot bind, and the old one answers instead.
    pub fn start_again(&mut self) {
        let child = Command::new("redis-server")
            .args([
                "--port",
                &self.port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server runs");
        self.child = Some(child);
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(std::time::Instant::now() < deadline, "redis did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Kills the server (SIGKILL) and waits for it to exit; its data is
    /// gone, as it keeps nothing on disk. A no-op when it is not running.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Kills and starts the server again on the same port: everything in
    /// it is lost.
    pub fn restart(&mut self) {
        self.stop();
        self.start_again();
    }
}

impl Drop for TestRedis {
    fn drop(&mut self) {
        self.stop();
    }
}
