//! Starting the binary from a test: a key with its JWKS, the process on a free port with its
//! output in a log file, and a bounded stop.

use shared::SigningKey;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus};
use std::time::Duration;
use test_support::procs::signal;
use test_support::{ChildGuard, eventually, free_port};

/// A fresh key with its one-key JWKS written to `dir/jwks.json`.
pub fn keys(dir: &Path) -> (SigningKey, PathBuf) {
    let key = SigningKey::generate().unwrap();
    let jwks = dir.join("jwks.json");
    key.public_jwks().write_atomically(&jwks).unwrap();
    (key, jwks)
}

/// A running `download-server` binary; killed on drop.
pub struct Binary {
    pub base: String,
    process: ChildGuard,
    /// Its stdout and stderr: a file, so a chatty server never blocks on a full pipe.
    log: tempfile::NamedTempFile,
}

impl Binary {
    /// Starts the binary on a free port with `env` (and no `DL_*` variable of the test's own
    /// environment); returns once `/healthz` answers and the replay store's start-up epoch
    /// second has passed, so tokens minted from then on are accepted.
    pub async fn start(env: &[(&str, &str)]) -> Self {
        let port = free_port();
        let log = tempfile::NamedTempFile::new().unwrap();
        let mut command = Command::new(env!("CARGO_BIN_EXE_download-server"));
        for (name, _) in std::env::vars_os() {
            if name.to_string_lossy().starts_with("DL_") {
                command.env_remove(name);
            }
        }
        command
            .env("DL_LISTEN", format!("127.0.0.1:{port}"))
            .envs(env.iter().copied())
            .stdout(log.as_file().try_clone().unwrap())
            .stderr(log.as_file().try_clone().unwrap());
        let process = ChildGuard(command.spawn().unwrap());
        let base = format!("http://127.0.0.1:{port}");
        let client = reqwest::Client::new();
        let healthz = format!("{base}/healthz");
        eventually(
            Duration::from_secs(30),
            "the binary answers /healthz",
            || client.get(&healthz).send(),
        )
        .await;
        tokio::time::sleep(Duration::from_millis(1100)).await;
        Binary { base, process, log }
    }

    /// Waits (bounded) until `/readyz` answers 200: the replay store answers.
    pub async fn wait_until_ready(&self) {
        let client = reqwest::Client::new();
        let readyz = format!("{}/readyz", self.base);
        eventually(Duration::from_secs(20), "/readyz answers 200", || async {
            matches!(client.get(&readyz).send().await, Ok(r) if r.status() == 200)
        })
        .await;
    }

    /// Sends SIGTERM and waits (bounded) until the binary exits; returns how it exited and what
    /// it logged.
    pub async fn stop(mut self) -> (ExitStatus, String) {
        signal("TERM", self.process.0.id());
        let exit = eventually(
            Duration::from_secs(20),
            "the binary exits on SIGTERM",
            || std::future::ready(self.process.0.try_wait().unwrap()),
        )
        .await;
        (exit, std::fs::read_to_string(self.log.path()).unwrap())
    }
}
