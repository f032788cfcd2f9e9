//! `S3Origin`: the download server as a process (`download-server-process`) over a real
//! S3-compatible store (s3s-fs), with `--edge-keys` set: presigned redeems and the edge worker's
//! `presigned` delivery need an `s3://` store, which is configured from the environment.

use crate::download::{ServerFiles, client};
use download_server::Config;
use shared::{Minter, ObjectPath};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;
use test_support::{ChildGuard, S3Server, eventually, free_port};

pub struct S3Origin {
    pub base: String,
    pub client: reqwest::Client,
    pub s3: S3Server,
    /// The signing key and JWKS (the store is `s3`, not `files.files()`).
    pub files: ServerFiles,
    /// The issuer and audience it expects, as `ServerFiles::config` has them.
    pub config: Config,
    process: ChildGuard,
    log: PathBuf,
}

impl S3Origin {
    /// Starts s3s-fs and `binary` (the `download-server-process` an integration test gets as
    /// `CARGO_BIN_EXE_download-server-process`) on `s3://downloads` with `edge_keys` as its key
    /// file; returns once `/healthz` answers and the replay store's start-up second has passed.
    pub async fn start(binary: &Path, edge_keys: &str) -> Self {
        let s3 = S3Server::start().await;
        let files = ServerFiles::new();
        let config = files.config();
        let keys = files.dir.path().join("edge-keys");
        std::fs::write(&keys, edge_keys).unwrap();
        let log = files.dir.path().join("server.log");
        let output = std::fs::File::create(&log).unwrap();
        let port = free_port();
        let mut command = Command::new(binary);
        for (name, _) in std::env::vars_os() {
            if name.to_string_lossy().starts_with("DL_") {
                command.env_remove(name);
            }
        }
        let process = ChildGuard(
            command
                .env("DL_LISTEN", format!("127.0.0.1:{port}"))
                .env("DL_STORE", format!("s3://{}", test_support::s3::BUCKET))
                .env("DL_JWKS", files.jwks_path())
                .env("DL_ISSUER", &config.issuer)
                .env("DL_AUDIENCE", &config.audience)
                .env("DL_EDGE_KEYS", &keys)
                .envs(s3.env())
                .stdout(output.try_clone().unwrap())
                .stderr(output)
                .spawn()
                .expect("the download server starts"),
        );
        let base = format!("http://127.0.0.1:{port}");
        let client = client();
        let healthz = format!("{base}/healthz");
        eventually(
            Duration::from_secs(30),
            "the download server answers /healthz",
            || client.get(&healthz).send(),
        )
        .await;
        // Tokens issued in the replay store's start-up second are refused (before_epoch).
        tokio::time::sleep(Duration::from_millis(1100)).await;
        S3Origin {
            base,
            client,
            s3,
            files,
            config,
            process,
            log,
        }
    }

    /// A fresh valid token for `obj`.
    pub fn mint(&self, obj: &str) -> String {
        Minter::new(
            self.files.key.clone(),
            &self.config.issuer,
            &self.config.audience,
            120,
        )
        .mint("user-1", &ObjectPath::parse(obj).unwrap(), None)
        .unwrap()
        .token
    }

    /// Kills the server (by its pid); the store stays up.
    pub fn kill(&mut self) {
        let _ = self.process.0.kill();
        let _ = self.process.0.wait();
    }

    /// What the server logged.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}
