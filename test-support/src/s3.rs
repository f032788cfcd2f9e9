//! `S3Server`: a real S3-compatible server (s3s-fs, which scripts/test installs) serving a temp
//! folder on a free loopback port, with one bucket and a fixed test credential. Killed on drop.

use crate::procs::{ChildGuard, free_port, wait_for_port};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;
use tempfile::TempDir;

pub const ACCESS_KEY: &str = "AKIATESTKEY";
pub const SECRET_KEY: &str = "test-secret-key";
pub const REGION: &str = "us-east-1";

/// How long s3s-fs gets to start listening.
const START: Duration = Duration::from_secs(30);

pub struct S3Server {
    pub address: SocketAddr,
    /// `http://` + the address: the `AWS_ENDPOINT` of a client.
    pub endpoint: String,
    pub bucket: String,
    _dir: TempDir,
    _child: ChildGuard,
}

impl S3Server {
    /// Starts s3s-fs with an empty `bucket` in a temp folder.
    pub async fn start(bucket: &str) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::create_dir_all(dir.path().join(bucket)).unwrap();
        let address: SocketAddr = ([127, 0, 0, 1], free_port()).into();
        let child = start_on(dir.path(), address.port()).await;
        S3Server {
            address,
            endpoint: format!("http://{address}"),
            bucket: bucket.to_owned(),
            _dir: dir,
            _child: child,
        }
    }

    /// The `AWS_*` settings a client of this server needs (object_store reads these names).
    pub fn aws_env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AWS_ENDPOINT", self.endpoint.clone()),
            ("AWS_ALLOW_HTTP", "true".into()),
            ("AWS_REGION", REGION.into()),
            ("AWS_ACCESS_KEY_ID", ACCESS_KEY.into()),
            ("AWS_SECRET_ACCESS_KEY", SECRET_KEY.into()),
        ]
    }
}

/// Starts s3s-fs serving `root` (one folder per bucket) on `port` of 127.0.0.1 and waits
/// (bounded) until it listens; for tests that stop and restart it on the same folder.
pub async fn start_on(root: &Path, port: u16) -> ChildGuard {
    let child = ChildGuard(
        Command::new(binary())
            .args(["--host", "127.0.0.1", "--port", &port.to_string()])
            .args(["--access-key", ACCESS_KEY, "--secret-key", SECRET_KEY])
            .arg(root)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("s3s-fs runs"),
    );
    wait_for_port(port, START).await;
    child
}

/// `$S3S_FS`, else cargo's install folder.
fn binary() -> PathBuf {
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
