//! Start-up check of Redis's eviction policy: an evicting Redis could forget used tokens, so the
//! real binary says so loudly; with `noeviction` it stays quiet.

mod common;

use common::{Running, free_port, keys, start_download_server, wait_for_port, wait_until_ready};
use std::io::Read;
use std::process::{Command, Stdio};
use std::time::Duration;

/// Runs the binary against a Redis with `policy` until it is ready and returns what it logged.
async fn startup_log(policy: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let _redis = Running(
        Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args([
                "--maxmemory-policy",
                policy,
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server runs (scripts/test installs it)"),
    );
    wait_for_port(port).await;
    let (_, jwks) = keys(dir.path());
    let url = format!("redis://127.0.0.1:{port}/0");
    let env = [
        ("DL_STORE", dir.path().to_str().unwrap()),
        ("DL_JWKS", jwks.to_str().unwrap()),
        ("DL_REPLAY", url.as_str()),
        ("RUST_LOG", "info"),
    ];
    let (mut server, base) = start_download_server(&env, Stdio::piped()).await;
    wait_until_ready(&base).await;
    // The policy is checked right after connecting; give the log line a moment to be written.
    tokio::time::sleep(Duration::from_millis(300)).await;
    server.0.kill().unwrap();
    server.0.wait().unwrap();
    let mut log = String::new();
    server
        .0
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut log)
        .unwrap();
    log
}

#[tokio::test]
async fn an_evicting_redis_is_reported_at_start_up() {
    let log = startup_log("allkeys-lru").await;
    assert!(log.contains("maxmemory-policy is not noeviction"), "{log}");
    assert!(log.contains("allkeys-lru"), "{log}");
}

#[tokio::test]
async fn a_noeviction_redis_gives_no_warning() {
    let log = startup_log("noeviction").await;
    assert!(log.contains("connected to the Redis replay store"), "{log}");
    assert!(!log.contains("maxmemory-policy"), "{log}");
}
