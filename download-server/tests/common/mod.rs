//! Starting the real `download-server` binary (and the programs it talks to) from a test.
#![allow(dead_code)]

use shared::SigningKey;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Kills and reaps the child when dropped.
pub struct Running(pub Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A fresh key pair with its JWKS written to `dir/jwks.json`.
pub fn keys(dir: &Path) -> (SigningKey, std::path::PathBuf) {
    let key = SigningKey::generate().unwrap();
    let jwks = dir.join("jwks.json");
    key.public_jwks().write_atomically(&jwks).unwrap();
    (key, jwks)
}

/// Starts the binary with `env` on a free port; returns it with its base URL once `/healthz`
/// answers and the replay store's start-up epoch second has passed.
pub async fn start_download_server(env: &[(&str, &str)], output: Stdio) -> (Running, String) {
    let port = free_port();
    let mut command = Command::new(env!("CARGO_BIN_EXE_download-server"));
    command
        .env("DL_LISTEN", format!("127.0.0.1:{port}"))
        .stdout(Stdio::null())
        .stderr(output);
    for (k, v) in env {
        command.env(k, v);
    }
    let running = Running(command.spawn().unwrap());
    let base = format!("http://127.0.0.1:{port}");
    wait_until_up(&format!("{base}/healthz")).await;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    (running, base)
}

pub async fn wait_until_up(url: &str) {
    let client = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while client.get(url).send().await.is_err() {
        assert!(Instant::now() < deadline, "{url} did not come up");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

pub async fn wait_for_port(port: u16) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .is_err()
    {
        assert!(Instant::now() < deadline, "port {port} did not open");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits (bounded) until `{base}/readyz` answers 200: the replay store answers.
pub async fn wait_until_ready(base: &str) {
    let client = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    while client
        .get(format!("{base}/readyz"))
        .send()
        .await
        .map(|r| r.status())
        .ok()
        != Some(reqwest::StatusCode::OK)
    {
        assert!(Instant::now() < deadline, "{base} never became ready");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
