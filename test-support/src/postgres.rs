//! `PostgresServer`: a real PostgreSQL (Debian's `postgresql` package) initialised in its own
//! temp dir, listening on a free loopback port with its unix socket in that dir, a random
//! password for TCP logins, and a fresh database per `create_database`. Stopped and removed on
//! drop; `start_with_tls` also serves TLS with a certificate for 127.0.0.1 from a throwaway CA.
//! PostgreSQL refuses to run as root: as root (CI), `initdb` and `postgres` run as the
//! `postgres` system user the package creates, and the temp dir is handed to it.

use crate::procs::{ChildGuard, free_port};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use tempfile::TempDir;

pub struct PostgresServer {
    pub port: u16,
    password: String,
    bin: PathBuf,
    dir: TempDir,
    child: Option<ChildGuard>,
}

impl PostgresServer {
    /// `initdb` and start a new, empty server (no fsync: test data need not survive a crash).
    pub fn start() -> Self {
        Self::launch(false)
    }

    /// Like `start`, with TLS offered (plain connections stay allowed); `ca_certificate()` is
    /// the CA that signed the server's certificate.
    pub fn start_with_tls() -> Self {
        Self::launch(true)
    }

    fn launch(tls: bool) -> Self {
        let bin = bin_dir();
        let dir = tempfile::tempdir().expect("temp dir");
        let password = uuid::Uuid::new_v4().simple().to_string();
        let pwfile = dir.path().join("pwfile");
        std::fs::write(&pwfile, &password).unwrap();
        let run_as = RunAs::detect();
        run_as.hand_over(dir.path());
        run_as.hand_over(&pwfile);

        let data = dir.path().join("data");
        let output = run_as
            .command(&bin.join("initdb"))
            .arg("-D")
            .arg(&data)
            .args(["--username=postgres", "--auth-local=trust"])
            .args([
                "--auth-host=scram-sha-256",
                "--encoding=UTF8",
                "--locale=C.UTF-8",
            ])
            .args(["--no-sync", "--no-instructions"])
            .arg(format!("--pwfile={}", pwfile.display()))
            .output()
            .expect("initdb runs");
        assert!(
            output.status.success(),
            "initdb failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        std::fs::remove_file(&pwfile).unwrap();

        let mut tls_settings = Vec::new();
        if tls {
            crate::tls::make_certificates(dir.path());
            for file in ["server.crt", "server.key"] {
                run_as.hand_over(&dir.path().join(file));
            }
            tls_settings.extend(["-c".to_owned(), "ssl=on".to_owned(), "-c".to_owned()]);
            tls_settings.push(format!(
                "ssl_cert_file={}",
                dir.path().join("server.crt").display()
            ));
            tls_settings.push("-c".to_owned());
            tls_settings.push(format!(
                "ssl_key_file={}",
                dir.path().join("server.key").display()
            ));
        }

        let port = free_port();
        let log = std::fs::File::create(dir.path().join("postgres.log")).unwrap();
        let child = run_as
            .command(&bin.join("postgres"))
            .arg("-D")
            .arg(&data)
            .args(["-c", "listen_addresses=127.0.0.1", "-p", &port.to_string()])
            .arg("-c")
            .arg(format!("unix_socket_directories={}", dir.path().display()))
            .args(["-c", "fsync=off", "-c", "synchronous_commit=off"])
            .args(["-c", "full_page_writes=off"])
            .args(&tls_settings)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("postgres runs");
        let mut server = PostgresServer {
            port,
            password,
            bin,
            dir,
            child: Some(ChildGuard(child)),
        };
        server.wait_until_ready();
        server
    }

    /// A URL for TCP logins as the `postgres` superuser, password included.
    pub fn url(&self, database: &str) -> String {
        format!(
            "postgres://postgres:{}@127.0.0.1:{}/{database}",
            self.password, self.port
        )
    }

    pub fn password(&self) -> &str {
        &self.password
    }

    /// Creates a new, empty database and returns its URL.
    pub fn create_database(&self) -> String {
        let name = format!("test_{}", uuid::Uuid::new_v4().simple());
        self.psql("postgres", &format!("CREATE DATABASE {name}"));
        self.url(&name)
    }

    /// Runs `sql` in `database` with `psql` over the unix socket; returns its unaligned,
    /// tuples-only output (`|` between columns).
    pub fn psql(&self, database: &str, sql: &str) -> String {
        let output = Command::new(self.bin.join("psql"))
            .arg("-h")
            .arg(self.dir.path())
            .args([
                "-p",
                &self.port.to_string(),
                "-U",
                "postgres",
                "-d",
                database,
            ])
            .args(["-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-c", sql])
            .output()
            .expect("psql runs");
        assert!(
            output.status.success(),
            "psql {sql:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout).unwrap()
    }

    /// The CA certificate (PEM) behind `start_with_tls`'s server certificate.
    pub fn ca_certificate(&self) -> PathBuf {
        self.dir.path().join("ca.crt")
    }

    fn wait_until_ready(&mut self) {
        crate::eventually_blocking(
            Duration::from_secs(20),
            "postgres accepts connections",
            || {
                let exited = self.child.as_mut().unwrap().0.try_wait().unwrap();
                assert!(exited.is_none(), "postgres exited: {}", self.log());
                let ready = Command::new(self.bin.join("pg_isready"))
                    .arg("-h")
                    .arg(self.dir.path())
                    .args(["-p", &self.port.to_string(), "-U", "postgres", "-q"])
                    .status()
                    .expect("pg_isready runs");
                if ready.success() {
                    Ok(())
                } else {
                    Err(format!("not ready; its log:\n{}", self.log()))
                }
            },
        );
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("postgres.log")).unwrap_or_default()
    }
}

impl Drop for PostgresServer {
    /// Immediate shutdown (SIGQUIT), bounded; the guard kills whatever is left.
    fn drop(&mut self) {
        if let Some(mut guard) = self.child.take() {
            let _ = Command::new("kill")
                .args(["-QUIT", &guard.0.id().to_string()])
                .status();
            let deadline = Instant::now() + Duration::from_secs(5);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = guard.0.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }
}

/// The newest `/usr/lib/postgresql/<version>/bin` (the Debian package's layout; not on PATH).
fn bin_dir() -> PathBuf {
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let version = entry.file_name().to_str()?.parse().ok()?;
            let bin = entry.path().join("bin");
            bin.join("postgres").exists().then_some((version, bin))
        })
        .collect();
    versions.sort();
    versions
        .pop()
        .map(|(_, bin)| bin)
        .expect("PostgreSQL is installed under /usr/lib/postgresql (scripts/test installs it)")
}

/// Whom initdb and postgres run as: ourselves, or (as root) the `postgres` system user.
enum RunAs {
    Me,
    Postgres { uid: u32, gid: u32 },
}

impl RunAs {
    fn detect() -> Self {
        let uid = std::fs::metadata("/proc/self").expect("/proc/self").uid();
        if uid != 0 {
            return RunAs::Me;
        }
        let passwd = std::fs::read_to_string("/etc/passwd").unwrap();
        let fields: Vec<&str> = passwd
            .lines()
            .find(|line| line.starts_with("postgres:"))
            .expect("the postgres system user exists (Debian's postgresql package creates it)")
            .split(':')
            .collect();
        RunAs::Postgres {
            uid: fields[2].parse().unwrap(),
            gid: fields[3].parse().unwrap(),
        }
    }

    fn hand_over(&self, path: &Path) {
        if let RunAs::Postgres { uid, gid } = self {
            std::os::unix::fs::chown(path, Some(*uid), Some(*gid)).unwrap();
        }
    }

    /// `program`, run directly or through `setpriv` (which execs it, so the child's pid is the
    /// server's and signals reach it).
    fn command(&self, program: &Path) -> Command {
        match self {
            RunAs::Me => Command::new(program),
            RunAs::Postgres { uid, gid } => {
                let mut command = Command::new("setpriv");
                command
                    .arg(format!("--reuid={uid}"))
                    .arg(format!("--regid={gid}"))
                    .args(["--clear-groups", "--"])
                    .arg(program);
                command
            }
        }
    }
}
