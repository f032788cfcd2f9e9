//! Typed configuration: every flag has an environment-variable fallback and a local default.

use clap::{CommandFactory, FromArgMatches, Parser};
use std::net::SocketAddr;
use std::time::Duration;

#[derive(Debug, Clone, Parser)]
#[command(
    name = "download-server",
    version,
    about = "Serves each single-use download token once"
)]
pub struct Config {
    /// Address to listen on (port 0 picks a free port).
    #[arg(long, env = "DL_LISTEN", default_value = "127.0.0.1:8081")]
    pub listen: SocketAddr,

    /// Object store: `file:///abs/dir` (or a plain directory path), `s3://bucket/prefix`, `memory:///`.
    /// S3 settings come from the usual AWS_* variables (AWS_ENDPOINT, AWS_REGION, ...).
    #[arg(long, env = "DL_STORE", default_value = "./data/files")]
    pub store: String,

    /// Public keys: a JWKS file path or an http(s) URL (e.g. the app server's /.well-known/jwks.json).
    #[arg(long, env = "DL_JWKS", default_value = "./data/jwks.json")]
    pub jwks: String,

    /// How often the JWKS is re-read, in seconds (an unknown `kid` also triggers a re-read, at
    /// most once per 10 s).
    #[arg(long, env = "DL_JWKS_REFRESH", default_value_t = 60)]
    pub jwks_refresh: u64,

    /// Required `iss` claim.
    #[arg(long, env = "DL_ISSUER", default_value = shared::DEFAULT_ISSUER)]
    pub issuer: String,

    /// Required `aud` claim.
    #[arg(long, env = "DL_AUDIENCE", default_value = shared::DEFAULT_AUDIENCE)]
    pub audience: String,

    /// Replay store: `memory` (one instance) or `redis://host:port/db` (many instances).
    #[arg(long, env = "DL_REPLAY", default_value = "memory")]
    pub replay: String,

    /// Prefix of every key the Redis replay store writes, so several deployments can share one
    /// Redis.
    #[arg(long, env = "DL_REPLAY_PREFIX", default_value = "dl:")]
    pub replay_prefix: String,

    /// Milliseconds a replay-store call may take before the request fails closed (503).
    #[arg(long, env = "DL_REPLAY_TIMEOUT_MS", default_value_t = 250)]
    pub replay_timeout_ms: u64,

    /// Longest accepted token lifetime (`exp - iat`), in seconds.
    #[arg(long, env = "DL_MAX_TOKEN_LIFETIME", default_value_t = 600)]
    pub max_token_lifetime: u32,

    /// Clock-skew leeway applied to `exp`, `nbf` and `iat`, in seconds.
    #[arg(long, env = "DL_LEEWAY", default_value_t = 30)]
    pub leeway: u32,

    /// On SIGTERM/SIGINT, how long downloads in flight may take to finish, in seconds.
    #[arg(long, env = "DL_SHUTDOWN_GRACE", default_value_t = 30)]
    pub shutdown_grace: u64,

    /// Worker threads (default: one per core).
    #[arg(long, env = "DL_WORKERS")]
    pub workers: Option<usize>,

    /// Most token signatures one worker checks together in one batch (1: each alone). Requests
    /// that reach their signature check at the same time on a worker share one batch check.
    #[arg(long, env = "DL_VERIFY_BATCH", default_value_t = 64, value_parser = clap::value_parser!(u16).range(1..=256))]
    pub verify_batch: u16,

    /// Bytes read from a local file per chunk while streaming.
    #[arg(long, env = "DL_READ_CHUNK", default_value_t = 64 * 1024)]
    pub read_chunk: usize,

    /// `on`: a GET of more than 64 KiB of a cached local file is sent from the page cache to the
    /// socket with sendfile(2), never copied through the server (HTTP/1.1; Linux). `off`: read
    /// and written like any other body. The bytes on the wire are the same either way.
    #[arg(long, env = "DL_SENDFILE", value_enum, default_value_t = Switch::On)]
    pub sendfile: Switch,

    /// Seconds a client has to send its request head (slow-client protection).
    #[arg(long, env = "DL_HEADER_TIMEOUT", default_value_t = 5)]
    pub header_timeout: u64,

    /// Seconds sent data may stay unacknowledged before a client that stopped reading is cut off
    /// (TCP_USER_TIMEOUT, Linux). Slow clients that keep reading are never cut off.
    #[arg(long, env = "DL_SEND_TIMEOUT", default_value_t = 60)]
    pub send_timeout: u64,

    /// A download (a token's grant) ends this many seconds after its last request or renewal;
    /// until then it can be resumed.
    #[arg(long, env = "DL_GRANT_IDLE", default_value_t = 600)]
    pub grant_idle: u32,

    /// A download ends this many seconds after its first byte, however active.
    #[arg(long, env = "DL_GRANT_MAX_AGE", default_value_t = 3600)]
    pub grant_max_age: u32,

    /// Streams of one download in flight at once (more get 503 with Retry-After).
    #[arg(long, env = "DL_GRANT_MAX_STREAMS", default_value_t = 16)]
    pub grant_max_streams: u16,

    /// Requests over one download's life.
    #[arg(long, env = "DL_GRANT_MAX_REQUESTS", default_value_t = 1024)]
    pub grant_max_requests: u32,

    /// Bytes a download may send twice (re-sent after a drop, overlapping segments) are at least
    /// this many, and at least the object's size divided by `--grant-redundancy-divisor`; never
    /// more than half the object.
    #[arg(long, env = "DL_GRANT_REDUNDANCY_MIN", default_value_t = 4 * 1024 * 1024)]
    pub grant_redundancy_min: u64,

    /// The only peers whose forwarded headers (`X-Forwarded-For`, `X-Forwarded-Uri`,
    /// `X-Original-URI`, `X-Forwarded-Method`, `X-Original-Method`, `X-Request-Id`, `Forwarded`)
    /// are read, and the only ones that get a hand-off or may call `/v1/authorize`: IPs or CIDRs,
    /// comma-separated (e.g. `127.0.0.1,10.0.0.0/8`). Empty: nobody.
    #[arg(long, env = "DL_TRUSTED_PROXIES", value_delimiter = ',')]
    pub trusted_proxies: Vec<server_kit::trusted_proxies::TrustedProxy>,

    /// Hand-off mode: to a trusted proxy (nginx), a download is answered with an empty body and
    /// `X-Accel-Redirect: PREFIX<object path>` (S3: `PREFIXs3/<scheme>/<host>/<path>?<presigned query>`)
    /// for the proxy to serve itself, e.g. `/_dl/`.
    #[arg(long, env = "DL_ACCEL_REDIRECT")]
    pub accel_redirect: Option<String>,

    /// Bearer keys of the edge workers allowed to call `POST /v1/redeem`: a file with one key per
    /// line (several for rotation; blank lines and `#` comments ignored). Without it the
    /// endpoint does not exist.
    #[arg(long, env = "DL_EDGE_KEYS")]
    pub edge_keys: Option<std::path::PathBuf>,

    /// Seconds a presigned S3 URL handed to a proxy or an edge worker stays valid.
    #[arg(long, env = "DL_PRESIGN_TTL", default_value_t = 60)]
    pub presign_ttl: u32,

    /// Revocation: the app server's revocation state, long-polled (e.g.
    /// `http://127.0.0.1:8080/.well-known/dl-revocations`). With it, no download is served while
    /// the state held is older than `--revocation-max-age` (and none before the first one).
    /// Without it, links cannot be revoked before they expire.
    #[arg(long, env = "DL_REVOCATIONS")]
    pub revocations: Option<url::Url>,

    /// The public keys that sign the revocation state: a JWKS file or URL. Default: the feed's
    /// URL with `/jwks.json` appended. Never the download tokens' keys.
    #[arg(long, env = "DL_REVOCATION_KEYS")]
    pub revocation_keys: Option<String>,

    /// Seconds the revocation state may be old (by its `iat`) before downloads are refused with
    /// 503, running ones included.
    #[arg(long, env = "DL_REVOCATION_MAX_AGE", default_value_t = 30, value_parser = clap::value_parser!(u32).range(2..))]
    pub revocation_max_age: u32,

    /// See `--grant-redundancy-min`.
    #[arg(long, env = "DL_GRANT_REDUNDANCY_DIVISOR", default_value_t = 16, value_parser = clap::value_parser!(u64).range(1..))]
    pub grant_redundancy_divisor: u64,
}

/// A feature flag's `on` or `off`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Switch {
    On,
    Off,
}

impl Switch {
    pub fn is_on(self) -> bool {
        self == Switch::On
    }
}

impl Config {
    /// The command-line defaults, read from the flags' own declarations and never from the
    /// environment (`DL_*` variables are for the binary), with `store` and `jwks`: for tests and
    /// embedding.
    pub fn defaults(store: impl Into<String>, jwks: impl Into<String>) -> Self {
        let command = Config::command().mut_args(|arg| arg.env(None));
        let matches = command
            .try_get_matches_from(["download-server"])
            .expect("every flag has a default");
        let mut config = Config::from_arg_matches(&matches).expect("defaults are valid");
        config.store = store.into();
        config.jwks = jwks.into();
        config
    }

    /// `defaults` on loopback port 0 with two workers and a short shutdown grace: for tests.
    pub fn for_tests(store: impl Into<String>, jwks: impl Into<String>) -> Self {
        let mut config = Config::defaults(store, jwks);
        config.listen = "127.0.0.1:0".parse().expect("valid address");
        config.shutdown_grace = 5;
        config.workers = Some(2);
        config
    }

    pub fn replay_options(&self) -> crate::replay::ReplayOptions {
        crate::replay::ReplayOptions {
            spec: self.replay.clone(),
            prefix: self.replay_prefix.clone(),
            timeout: Duration::from_millis(self.replay_timeout_ms.max(1)),
            leeway: self.leeway,
            max_lifetime: self.max_token_lifetime,
            grants: self.grant_policy(),
        }
    }

    pub fn grant_policy(&self) -> crate::replay::GrantPolicy {
        crate::replay::GrantPolicy {
            redundancy_min: self.grant_redundancy_min,
            redundancy_divisor: self.grant_redundancy_divisor.max(1),
            idle: i64::from(self.grant_idle),
            max_age: i64::from(self.grant_max_age),
            max_streams: usize::from(self.grant_max_streams.max(1)),
            max_requests: self.grant_max_requests.max(1),
        }
    }

    /// Where revocations come from, when configured.
    pub fn revocation_options(&self) -> Option<crate::revocation::RevocationOptions> {
        let feed = self.revocations.clone()?;
        let keys = self
            .revocation_keys
            .clone()
            .unwrap_or_else(|| format!("{}/jwks.json", feed.as_str().trim_end_matches('/')));
        Some(crate::revocation::RevocationOptions {
            feed,
            keys,
            issuer: self.issuer.clone(),
            max_age: i64::from(self.revocation_max_age),
            leeway: i64::from(self.leeway),
        })
    }

    pub fn shutdown_grace(&self) -> Duration {
        Duration::from_secs(self.shutdown_grace)
    }
}

#[cfg(test)]
mod tests {
    use super::Config;

    /// Set in the environment of the child this test starts, where the assertions run.
    const CHILD: &str = "DOWNLOAD_SERVER_DEFAULTS_CHILD";

    /// `DL_*` variables exported in a developer's shell must not steer the tests or an embedding
    /// (`local`) to another Redis, store or key set. The variables are set on a child process
    /// (this same test binary, running only this test): the test process's own environment is
    /// shared by every test thread.
    #[test]
    fn the_defaults_ignore_dl_variables_in_the_environment() {
        if std::env::var_os(CHILD).is_some() {
            let config = Config::defaults("./files", "./jwks.json");
            assert_eq!(config.replay, "memory");
            assert_eq!(config.replay_prefix, "dl:");
            assert_eq!(config.listen.to_string(), "127.0.0.1:8081");
            assert_eq!(config.workers, None);
            assert_eq!(config.leeway, 30);
            assert_eq!(config.issuer, shared::DEFAULT_ISSUER);
            assert_eq!(
                (config.store.as_str(), config.jwks.as_str()),
                ("./files", "./jwks.json")
            );
            return;
        }
        let status = std::process::Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "config::tests::the_defaults_ignore_dl_variables_in_the_environment",
            ])
            .args(["--test-threads", "1", "--nocapture"])
            .env(CHILD, "1")
            .env("DL_REPLAY", "redis://203.0.113.1:6379/0")
            .env("DL_REPLAY_PREFIX", "elsewhere:")
            .env("DL_LISTEN", "0.0.0.0:9")
            .env("DL_WORKERS", "7")
            .env("DL_LEEWAY", "999")
            .env("DL_ISSUER", "https://other.example")
            .env("DL_STORE", "s3://other/")
            .status()
            .unwrap();
        assert!(status.success(), "the child's assertions failed");
    }

    #[test]
    fn the_binary_still_reads_dl_variables() {
        // clap's own parser is what the binary uses; the env fallbacks stay declared on it.
        let command = <Config as clap::CommandFactory>::command();
        let replay = command
            .get_arguments()
            .find(|arg| arg.get_id() == "replay")
            .unwrap();
        assert_eq!(replay.get_env(), Some(std::ffi::OsStr::new("DL_REPLAY")));
    }
}
