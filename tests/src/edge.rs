//! `EdgeWorker`: the shipped edge worker (`deploy/edge/worker.js`) run under Node.js on a free
//! loopback port by `tests/edge/serve.mjs`, with a log of every fetch it made.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;
use tempfile::TempDir;
use test_support::procs::{run_bounded, wait_for_port};
use test_support::{ChildGuard, free_port};

/// The oldest Node.js with fetch, WHATWG streams and WebCrypto Ed25519 (Debian bookworm has 18).
const NODE_MAJOR_MIN: u32 = 18;

pub struct EdgeWorker {
    pub base: String,
    pub client: reqwest::Client,
    dir: TempDir,
    _process: ChildGuard,
}

impl EdgeWorker {
    /// Starts the worker with `env` as its vars and secrets; returns once it listens.
    pub async fn start(env: &serde_json::Value) -> Self {
        let root = workspace_root();
        let edge = root.join("deploy/edge");
        assert!(
            edge.join("node_modules/jose/package.json").exists(),
            "jose is not installed in deploy/edge: run ./scripts/test (it runs `npm ci` there)"
        );
        check_node_version().await;
        let dir = tempfile::tempdir().unwrap();
        let env_path = dir.path().join("env.json");
        std::fs::write(&env_path, env.to_string()).unwrap();
        let log = std::fs::File::create(dir.path().join("node.log")).unwrap();
        let port = free_port();
        let process = ChildGuard(
            Command::new("node")
                .arg(root.join("tests/edge/serve.mjs"))
                .arg(edge.join("worker.js"))
                .arg(&env_path)
                .arg(port.to_string())
                .arg(dir.path().join("fetches.jsonl"))
                .stdin(Stdio::null())
                .stdout(log.try_clone().unwrap())
                .stderr(log)
                .spawn()
                .expect("node runs (./scripts/test installs nodejs)"),
        );
        wait_for_port(port, Duration::from_secs(20)).await;
        EdgeWorker {
            base: format!("http://127.0.0.1:{port}"),
            client: crate::download::client(),
            dir,
            _process: process,
        }
    }

    pub fn url(&self, token: &str) -> String {
        format!("{}/d/{token}", self.base)
    }

    pub async fn get(&self, token: &str) -> reqwest::Response {
        self.client
            .get(self.url(token))
            .send()
            .await
            .expect("request completes")
    }

    /// `GET /d/{token}` with `Range: {range}`.
    pub async fn get_range(&self, token: &str, range: &str) -> reqwest::Response {
        self.client
            .get(self.url(token))
            .header("range", range)
            .send()
            .await
            .expect("request completes")
    }

    /// Every fetch the worker made so far, in order: `method`, `url` (no query, tokens cut out),
    /// `status` and the response's `headers` (`status` null and an `error` for a fetch that failed).
    pub fn fetches(&self) -> Vec<serde_json::Value> {
        match std::fs::read_to_string(self.dir.path().join("fetches.jsonl")) {
            Ok(text) => text
                .lines()
                .map(|line| serde_json::from_str(line).unwrap())
                .collect(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => panic!("reading the fetch log: {e}"),
        }
    }

    /// The fetches whose URL path is `path`.
    pub fn fetches_of(&self, path: &str) -> Vec<serde_json::Value> {
        self.fetches()
            .into_iter()
            .filter(|fetch| {
                let url = fetch["url"].as_str().unwrap();
                url.parse::<reqwest::Url>().unwrap().path() == path
            })
            .collect()
    }

    /// What the worker printed (its `console.error` lines and the adapter's).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("node.log")).unwrap_or_default()
    }
}

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

async fn check_node_version() {
    let output = run_bounded(
        tokio::process::Command::new("node").arg("--version"),
        Duration::from_secs(20),
    )
    .await;
    let version = String::from_utf8_lossy(&output.stdout);
    let major: u32 = version
        .trim()
        .trim_start_matches('v')
        .split('.')
        .next()
        .and_then(|major| major.parse().ok())
        .unwrap_or_else(|| panic!("node --version printed {version:?}"));
    assert!(
        major >= NODE_MAJOR_MIN,
        "the edge worker needs Node.js {NODE_MAJOR_MIN}+, found {version}"
    );
}
