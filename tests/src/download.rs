//! `DownloadServer`: a real download server on 127.0.0.1:0 with its own key pair, JWKS file and
//! folder store, plus a client with redirects off.

use download_server::replay::ReplayStore;
use download_server::{Application, Config};
use shared::{Claims, DownloadName, Jti, Minter, ObjectPath, SigningKey};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tempfile::TempDir;
use test_support::eventually;

/// The on-disk state of a server: kept across restarts, and shared by instances that serve the
/// same files with the same keys.
#[derive(Clone)]
pub struct ServerFiles {
    pub dir: Arc<TempDir>,
    pub key: SigningKey,
}

impl ServerFiles {
    pub fn new() -> Self {
        Self::with_key(SigningKey::generate().unwrap())
    }

    /// Files whose JWKS publishes `key` alone.
    pub fn with_key(key: SigningKey) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::create_dir_all(dir.path().join("files")).unwrap();
        key.public_jwks()
            .write_atomically(&dir.path().join("jwks.json"))
            .unwrap();
        ServerFiles {
            dir: Arc::new(dir),
            key,
        }
    }

    pub fn files(&self) -> PathBuf {
        self.dir.path().join("files")
    }

    pub fn jwks_path(&self) -> PathBuf {
        self.dir.path().join("jwks.json")
    }

    pub fn config(&self) -> Config {
        let mut config = Config::for_tests(
            self.files().to_string_lossy(),
            self.jwks_path().to_string_lossy(),
        );
        config.issuer = "https://app.test".into();
        config.audience = "download".into();
        config
    }
}

impl Default for ServerFiles {
    fn default() -> Self {
        Self::new()
    }
}

pub struct DownloadServer {
    pub address: SocketAddr,
    pub base: String,
    pub client: reqwest::Client,
    pub files: ServerFiles,
    pub config: Config,
    pub state: actix_web::web::Data<download_server::DownloadState>,
    handle: actix_web::dev::ServerHandle,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl DownloadServer {
    pub async fn spawn() -> Self {
        Self::spawn_with(|_| {}).await
    }

    /// Starts a server after `tweak` has adjusted its config.
    pub async fn spawn_with(tweak: impl FnOnce(&mut Config)) -> Self {
        let files = ServerFiles::new();
        let mut config = files.config();
        tweak(&mut config);
        Self::start(files, config).await
    }

    /// Starts a server on existing files and config (restarts).
    pub async fn start(files: ServerFiles, config: Config) -> Self {
        crate::init_test_logging();
        let app = Application::build(config.clone())
            .await
            .expect("download server builds");
        let address = app.address();
        let state = app.state();
        wait_past_epoch(&state.replay).await;
        let handle = app.handle();
        let task = tokio::spawn(app.run_until(std::future::pending()));
        DownloadServer {
            address,
            base: format!("http://{address}"),
            client: client(),
            files,
            config,
            state,
            handle,
            task,
        }
    }

    /// A server whose replay store is `redis` under a fresh key prefix, failing closed when Redis
    /// takes longer than 200 ms.
    pub async fn spawn_on_redis(redis: &crate::redis::RedisServer) -> Self {
        let (url, prefix) = (redis.url(), crate::redis::RedisServer::prefix());
        Self::spawn_with(move |config| {
            config.replay = url;
            config.replay_prefix = prefix;
            config.replay_timeout_ms = 200;
        })
        .await
    }

    /// Another instance over the same files and keys with the same config (the Redis tests run
    /// several behind one replay store).
    pub async fn spawn_peer(&self) -> Self {
        Self::start(self.files.clone(), self.config.clone()).await
    }

    /// Stops gracefully and hands back the files, so the caller can start again on them.
    pub async fn stop(self) -> (ServerFiles, Config) {
        self.handle.stop(true).await;
        let _ = self.task.await;
        (self.files, self.config)
    }

    pub async fn restart(self) -> Self {
        let (files, config) = self.stop().await;
        Self::start(files, config).await
    }

    pub fn put_file(&self, obj: &str, bytes: &[u8]) {
        let path = self.files.files().join(obj);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, bytes).unwrap();
    }

    pub fn minter(&self) -> Minter {
        Minter::new(
            self.files.key.clone(),
            &self.config.issuer,
            &self.config.audience,
            120,
        )
    }

    /// A fresh valid token for `obj`.
    pub fn mint(&self, obj: &str) -> String {
        self.minter()
            .mint("user-1", &ObjectPath::parse(obj).unwrap(), None)
            .unwrap()
            .token
    }

    /// A fresh valid token for `obj` with a download name.
    pub fn mint_named(&self, obj: &str, name: &str) -> String {
        let name = DownloadName::sanitize(name);
        self.minter()
            .mint("user-1", &ObjectPath::parse(obj).unwrap(), Some(&name))
            .unwrap()
            .token
    }

    /// Valid claims for `obj`, to be altered by a test and signed with `sign`.
    pub fn claims(&self, obj: &str) -> Claims {
        let now = shared::time::now_secs();
        Claims {
            iss: self.config.issuer.clone(),
            aud: self.config.audience.clone(),
            sub: "user-1".into(),
            jti: Jti::new_random(),
            iat: now,
            exp: now + 120,
            nbf: None,
            obj: ObjectPath::parse(obj).unwrap(),
            name: None,
            sgen: 0,
            ogen: 0,
            sid: None,
        }
    }

    pub fn sign(&self, claims: &Claims) -> String {
        self.minter().sign(claims).unwrap()
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

    pub async fn head(&self, token: &str) -> reqwest::Response {
        self.client
            .head(self.url(token))
            .send()
            .await
            .expect("request completes")
    }

    pub async fn get_path(&self, path: &str) -> reqwest::Response {
        self.client
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .expect("request completes")
    }

    /// Waits (bounded) until `/readyz` says `want`.
    /// Waits (bounded) until `/readyz` says `want`.
    pub async fn wait_ready(&self, want: u16) {
        let what = format!("/readyz answers {want}");
        crate::eventually(std::time::Duration::from_secs(10), &what, || async {
            self.get_path("/readyz").await.status() == want
        })
        .await;
    }

    pub async fn metrics(&self) -> String {
        self.get_path("/metrics").await.text().await.unwrap()
    }

    /// The value of one series of `/metrics`, named as printed (`name` or `name{label="..."}`).
    pub async fn metric(&self, series: &str) -> u64 {
        let metrics = self.metrics().await;
        metrics
            .lines()
            .find_map(|line| line.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
            .unwrap_or_else(|| panic!("/metrics has no {series}:\n{metrics}"))
    }

    /// `download_bytes_sent_total`: body bytes this instance has sent for downloads.
    pub async fn bytes_sent(&self) -> u64 {
        self.metric("download_bytes_sent_total").await
    }

    pub fn files_dir(&self) -> &Path {
        self.files.dir.path()
    }
}

/// Waits (bounded) until the replay store knows its epoch (a Redis store connects in the
/// background) and the clock has passed it: the store refuses tokens issued before its epoch
/// (its start, rounded up to the next second), so tokens minted from then on are accepted.
pub async fn wait_past_epoch(replay: &ReplayStore) {
    eventually(
        Duration::from_secs(10),
        "the replay store's epoch passes",
        || async { matches!(replay.epoch().await, Ok(epoch) if shared::time::now_secs() >= epoch) },
    )
    .await;
}

/// `len` bytes that differ from place to place (`seed` picks which), so a byte served at the
/// wrong offset is never mistaken for the right one.
pub fn sample_bytes(len: usize, seed: u64) -> Vec<u8> {
    // SplitMix64: a few lines instead of a dependency, and fast enough for tens of megabytes.
    let mut state = seed;
    let mut bytes = Vec::with_capacity(len + 8);
    while bytes.len() < len {
        state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        bytes.extend_from_slice(&(z ^ (z >> 31)).to_le_bytes());
    }
    bytes.truncate(len);
    bytes
}

/// The `jti` of a token, or of the token in a download link (`…/d/{token}[/{name}]`): its
/// payload read without verifying (the test minted it).
pub fn jti_of(token_or_link: &str) -> String {
    use base64::Engine;
    let token = match token_or_link.split_once("/d/") {
        Some((_, rest)) => rest.split('/').next().unwrap(),
        None => token_or_link,
    };
    let payload = token.split('.').nth(1).expect("a compact JWS");
    let claims: serde_json::Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .unwrap(),
    )
    .unwrap();
    claims["jti"].as_str().unwrap().to_owned()
}

pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}
