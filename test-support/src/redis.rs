//! `RedisServer`: a real `redis-server` on a free loopback port in its own temp dir, which tests
//! can stop, restart (with or without its data), freeze and thaw. Killed on drop.

use crate::procs::{ChildGuard, free_port, signal};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;
use tempfile::TempDir;

/// How a `RedisServer` runs; `Default` is what the replay store needs in production.
#[derive(Debug, Clone, Default)]
pub struct RedisOptions {
    /// `maxmemory-policy`; `None` is `noeviction`.
    pub eviction_policy: Option<&'static str>,
    /// Also serve TLS on a second port, with a certificate for 127.0.0.1 from a throwaway CA.
    pub tls: bool,
    /// No persistence (benchmarks): a stop loses every key.
    pub in_memory: bool,
}

pub struct RedisServer {
    pub port: u16,
    options: RedisOptions,
    tls: Option<Tls>,
    dir: TempDir,
    child: Option<ChildGuard>,
}

/// The TLS port and the throwaway CA's files, kept apart from the data so `start_empty` keeps
/// them.
struct Tls {
    port: u16,
    certs: TempDir,
}

impl RedisServer {
    /// Starts a fresh, empty Redis that persists every write (AOF, fsync always), so a stop and
    /// start keeps its data exactly.
    pub fn start() -> Self {
        Self::start_with(RedisOptions::default())
    }

    pub fn start_with(options: RedisOptions) -> Self {
        let port = free_port();
        let dir = tempfile::tempdir().expect("temp dir");
        let tls = options.tls.then(|| {
            let certs = tempfile::tempdir().expect("temp dir");
            crate::tls::make_certificates(certs.path());
            Tls {
                port: free_port(),
                certs,
            }
        });
        let mut server = RedisServer {
            port,
            options,
            tls,
            dir,
            child: None,
        };
        server.child = Some(server.launch());
        server
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/0", self.port)
    }

    /// The `rediss://` URL of a server started with `tls`.
    pub fn tls_url(&self) -> String {
        format!("rediss://127.0.0.1:{}/0", self.tls().port)
    }

    /// The CA certificate (PEM) that signed a `tls` server's certificate.
    pub fn ca_certificate(&self) -> PathBuf {
        self.tls().certs.path().join("ca.crt")
    }

    fn tls(&self) -> &Tls {
        self.tls.as_ref().expect("redis was started with tls")
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
        self.child = Some(self.launch());
    }

    /// Starts again on the same port with no data at all (a restart without persistence, or a
    /// flush).
    pub fn start_empty(&mut self) {
        if let Some(mut guard) = self.child.take() {
            signal("KILL", guard.0.id());
            let _ = guard.0.wait();
        }
        self.dir = tempfile::tempdir().expect("temp dir");
        self.child = Some(self.launch());
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

    /// Script calls Redis answered since its statistics were last reset (`INFO commandstats`:
    /// EVALSHA, and EVAL for a script it had to load first).
    pub fn script_calls(&self) -> u64 {
        let info: String = redis::cmd("INFO")
            .arg("commandstats")
            .query(&mut self.connection())
            .expect("INFO commandstats");
        info.lines()
            .filter(|line| {
                line.starts_with("cmdstat_evalsha:") || line.starts_with("cmdstat_eval:")
            })
            .filter_map(|line| {
                line.split("calls=")
                    .nth(1)?
                    .split(',')
                    .next()?
                    .parse::<u64>()
                    .ok()
            })
            .sum()
    }

    /// Starts `redis-server` with the options, and waits until it answers PING on the plain port.
    fn launch(&self) -> ChildGuard {
        let mut command = Command::new("redis-server");
        command
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .arg("--dir")
            .arg(self.dir.path())
            .args(["--daemonize", "no", "--save", ""])
            .arg("--maxmemory-policy")
            .arg(self.options.eviction_policy.unwrap_or("noeviction"));
        if self.options.in_memory {
            command.args(["--appendonly", "no"]);
        } else {
            command.args(["--appendonly", "yes", "--appendfsync", "always"]);
        }
        if let Some(tls) = &self.tls {
            let file = |name: &str| tls.certs.path().join(name);
            command
                .args(["--tls-port", &tls.port.to_string()])
                .arg("--tls-cert-file")
                .arg(file("server.crt"))
                .arg("--tls-key-file")
                .arg(file("server.key"))
                .arg("--tls-ca-cert-file")
                .arg(file("ca.crt"))
                .args(["--tls-auth-clients", "no"]);
        }
        let child = command
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server runs (scripts/test installs it)");
        let guard = ChildGuard(child);
        wait_for_ping(self.port);
        guard
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

fn wait_for_ping(port: u16) {
    let client = redis::Client::open(format!("redis://127.0.0.1:{port}/0")).unwrap();
    crate::eventually_blocking(
        Duration::from_secs(10),
        &format!("redis-server answers PING on port {port}"),
        || {
            let mut conn = client.get_connection_with_timeout(Duration::from_millis(200))?;
            redis::cmd("PING").query::<String>(&mut conn)
        },
    );
}
