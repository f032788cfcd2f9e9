//! A real S3-compatible server (s3s-fs, installed by scripts/test) over a folder, on a loopback
//! port, for the tests of S3 stores.

use crate::procs::wait_for_port;
use crate::{ChildGuard, free_port};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;
use tempfile::TempDir;

pub const ACCESS_KEY: &str = "AKIATESTKEY";
pub const SECRET_KEY: &str = "test-secret-key";
/// The one bucket `S3Server::start` creates.
pub const BUCKET: &str = "downloads";

/// The s3s-fs binary: `$S3S_FS`, else where `cargo install` put it.
pub fn s3s_fs_binary() -> PathBuf {
    if let Ok(path) = std::env::var("S3S_FS") {
        return path.into();
    }
    let home = std::env::var("CARGO_HOME").map_or_else(
        |_| PathBuf::from(std::env::var("HOME").unwrap()).join(".cargo"),
        PathBuf::from,
    );
    let candidate = home.join("bin/s3s-fs");
    assert!(
        candidate.exists(),
        "s3s-fs is not installed: run ./scripts/test (it installs s3s-fs 0.14.1) or \
         `cargo install s3s-fs --version 0.14.1 --features binary --locked`"
    );
    candidate
}

/// Starts s3s-fs serving `root` (one folder per bucket) on `port`, and waits (bounded) until it
/// listens.
pub async fn start_s3(root: &Path, port: u16) -> ChildGuard {
    let process = ChildGuard(
        Command::new(s3s_fs_binary())
            .args(["--host", "127.0.0.1", "--port", &port.to_string()])
            .args(["--access-key", ACCESS_KEY, "--secret-key", SECRET_KEY])
            .arg(root)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    wait_for_port(port, Duration::from_secs(30)).await;
    process
}

/// s3s-fs with the bucket `BUCKET` in a fresh temp folder; killed on drop.
pub struct S3Server {
    pub endpoint: String,
    root: TempDir,
    _process: ChildGuard,
}

impl S3Server {
    pub async fn start() -> Self {
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(root.path().join(BUCKET)).unwrap();
        let port = free_port();
        let process = start_s3(root.path(), port).await;
        S3Server {
            endpoint: format!("http://127.0.0.1:{port}"),
            root,
            _process: process,
        }
    }

    /// The `AWS_*` variables that point a server's `s3://` store here.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AWS_ENDPOINT", self.endpoint.clone()),
            ("AWS_ALLOW_HTTP", "true".into()),
            ("AWS_REGION", "us-east-1".into()),
            ("AWS_ACCESS_KEY_ID", ACCESS_KEY.into()),
            ("AWS_SECRET_ACCESS_KEY", SECRET_KEY.into()),
        ]
    }

    /// Stores `bytes` as the object `key` of `BUCKET` (s3s-fs keeps an object as a plain file).
    pub fn put(&self, key: &str, bytes: &[u8]) {
        let path = self.root.path().join(BUCKET).join(key);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, bytes).unwrap();
    }
}
