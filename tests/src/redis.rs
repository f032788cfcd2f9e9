//! `RedisServer`: a real `redis-server` on a free loopback port in its own temp dir, which tests
//! can stop, restart (with or without its data), freeze and thaw. Killed on drop.

use crate::procs::{ChildGuard, free_port};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;
use tempfile::TempDir;

pub struct RedisServer {
    pub port: u16,
    dir: TempDir,
    child: Option<ChildGuard>,
}

impl RedisServer {
    /// Starts a fresh, empty Redis that persists every write (AOF, fsync always), so a stop and
    /// start keeps its data exactly.
    pub fn start() -> Self {
        let port = free_port();
        let dir = tempfile::tempdir().expect("temp dir");
        let child = launch(port, dir.path());
        RedisServer {
            port,
            dir,
            child: Some(child),
        }
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/0", self.port)
    }

    /// A random key prefix: every test gets its own keys.
    pub fn prefix() -> String {
        format!("test-{}:", uuid::Uuid::new_v4().simple())
    }

    /// Stops Redis the way an operator would (SIGTERM): it writes its data and exits.
    pub fn stop(&mut self) {
        if let Some(mut guard) = self.child.take() {
            signal("TERM", guard.0.id());
            let _ = guard.0.wait();
        }
    }

    /// Stops Redis with `SHUTDOWN SAVE`: it saves a snapshot, closes every client connection and
    /// exits.
    pub fn shutdown_save(&mut self) {
        let reply = redis::cmd("SHUTDOWN")
            .arg("SAVE")
            .query::<()>(&mut self.connection());
        assert!(
            reply.is_err(),
            "SHUTDOWN closes the connection instead of answering"
        );
        if let Some(mut guard) = self.child.take() {
            let _ = guard.0.wait();
        }
    }

    /// Starts again on the same port with the data it had.
    pub fn start_again(&mut self) {
        self.stop();
        self.child = Some(launch(self.port, self.dir.path()));
    }

    /// Starts again on the same port with no data at all (a restart without persistence, or a
    /// flush).
    pub fn start_empty(&mut self) {
        if let Some(mut guard) = self.child.take() {
            signal("KILL", guard.0.id());
            let _ = guard.0.wait();
        }
        self.dir = tempfile::tempdir().expect("temp dir");
        self.child = Some(launch(self.port, self.dir.path()));
    }

    /// SIGSTOP: the process keeps its sockets open but answers nothing.
    pub fn freeze(&self) {
        signal("STOP", self.pid());
    }

    pub fn thaw(&self) {
        signal("CONT", self.pid());
    }

    fn pid(&self) -> u32 {
        self.child.as_ref().expect("redis is running").0.id()
    }

    /// A plain client for inspecting keys.
    pub fn connection(&self) -> redis::Connection {
        redis::Client::open(self.url())
            .and_then(|c| c.get_connection_with_timeout(Duration::from_secs(2)))
            .expect("redis connection")
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        // A frozen process must be thawed to be killed and reaped promptly.
        if let Some(guard) = &self.child {
            signal("CONT", guard.0.id());
        }
    }
}

fn launch(port: u16, dir: &Path) -> ChildGuard {
    let child = Command::new("redis-server")
        .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
        .arg("--dir")
        .arg(dir)
        .args([
            "--appendonly",
            "yes",
            "--appendfsync",
            "always",
            "--save",
            "",
        ])
        .args(["--daemonize", "no", "--maxmemory-policy", "noeviction"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("redis-server runs (scripts/test installs it)");
    let guard = ChildGuard(child);
    let client = redis::Client::open(format!("redis://127.0.0.1:{port}/0")).unwrap();
    for _ in 0..200 {
        if let Ok(mut conn) = client.get_connection_with_timeout(Duration::from_millis(200))
            && redis::cmd("PING").query::<String>(&mut conn).is_ok()
        {
            return guard;
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    panic!("redis-server did not answer on port {port}");
}

fn signal(name: &str, pid: u32) {
    let status = Command::new("kill")
        .arg(format!("-{name}"))
        .arg(pid.to_string())
        .status()
        .expect("kill runs");
    assert!(status.success(), "kill -{name} {pid}");
}
