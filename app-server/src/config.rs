//! Typed configuration: every flag has an environment-variable fallback and a local default.

use crate::keys::KeyConfig;
use clap::Parser;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::path::PathBuf;
use url::Url;

/// The defaults: one source for the flags' `default_value`s and for [`Config::defaults`].
mod default {
    use super::*;

    pub const LISTEN: SocketAddr = SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::LOCALHOST, 8080));
    pub const DATA_DIR: &str = "./data";
    pub const DOWNLOAD_BASE: &str = "http://127.0.0.1:8081";
    pub const TOKEN_TTL: u32 = 120;
    pub const ALLOW_SIGNUP: bool = true;
    pub const MAX_UPLOAD: u64 = 1_000_000_000;
    pub const SESSION_IDLE: i64 = 7 * 24 * 3600;
    pub const SESSION_MAX: i64 = 30 * 24 * 3600;
    pub const LOGIN_ATTEMPTS: u32 = 5;
    pub const LOGIN_LOCKOUT: u64 = 300;
    pub const PASSWORD_QUEUE: usize = 32;
    pub const REVOCATION_GRANT_MAX_AGE: u32 = 3600;
}

#[derive(Debug, Clone, Parser)]
#[command(
    name = "app-server",
    version,
    about = "Accounts, uploads and single-use download links"
)]
pub struct Config {
    /// Address to listen on (port 0 picks a free port).
    #[arg(long, env = "APP_LISTEN", default_value_t = default::LISTEN)]
    pub listen: SocketAddr,

    /// Folder for the database, signing key, JWKS and files unless each is set on its own.
    #[arg(long, env = "APP_DATA_DIR", default_value = default::DATA_DIR)]
    pub data_dir: PathBuf,

    /// Database URL: `sqlite://PATH` (default: `sqlite://<data-dir>/app.db`) or
    /// `postgres://USER:PASSWORD@HOST:PORT/DATABASE` (`postgresql://` too); migrated at start.
    #[arg(long, env = "APP_DATABASE", hide_env_values = true)]
    pub database: Option<DatabaseUrl>,

    /// Object store for uploads: a folder path, `file:///abs/dir` or `memory:///`
    /// (default: `<data-dir>/files`, the folder the download server serves).
    #[arg(long, env = "APP_STORE")]
    pub store: Option<String>,

    /// Ed25519 signing key (PKCS#8 PEM, created with mode 0600 when missing;
    /// default: `<data-dir>/signing-key.pem`).
    #[arg(long, env = "APP_SIGNING_KEY")]
    pub signing_key: Option<PathBuf>,

    /// Where the public JWKS is written for the download server (default: `<data-dir>/jwks.json`).
    /// Keys already in this file stay published (rotation); the signing key is added first.
    #[arg(long, env = "APP_JWKS_OUT")]
    pub jwks_out: Option<PathBuf>,

    /// Base URL of the download server; links are `{download-base}/d/{token}/{file name}`.
    #[arg(long, env = "APP_DOWNLOAD_BASE", default_value = default::DOWNLOAD_BASE)]
    pub download_base: Url,

    /// The download server's event feed, e.g. `http://127.0.0.1:8081/v1/events`: followed to
    /// record each file's download history (docs/history.md). Default: none, no history.
    #[arg(long, env = "APP_DOWNLOAD_EVENTS")]
    pub download_events: Option<Url>,

    /// The URL people use to reach this server (default: `http://<listen address>`). With https
    /// the session cookie is `Secure` and named `__Host-session`.
    #[arg(long, env = "APP_PUBLIC_URL")]
    pub public_url: Option<Url>,

    /// Ed25519 key that signs the revocation state (PKCS#8 PEM, created with mode 0600 when
    /// missing; default: `<data-dir>/revocation-key.pem`). Never the signing key; its public key
    /// is served at `/.well-known/dl-revocations/jwks.json`.
    #[arg(long, env = "APP_REVOCATION_KEY")]
    pub revocation_key: Option<PathBuf>,

    /// The longest a download server keeps a grant open, in seconds: at least every download
    /// server's `--grant-max-age`. Revocation records are kept the token lifetime + 60 + this
    /// + 60 seconds.
    #[arg(long, env = "APP_REVOCATION_GRANT_MAX_AGE", default_value_t = default::REVOCATION_GRANT_MAX_AGE)]
    pub revocation_grant_max_age: u32,

    /// `iss` of minted tokens (and of the revocation state).
    #[arg(long, env = "APP_ISSUER", default_value = shared::DEFAULT_ISSUER)]
    pub issuer: String,

    /// `aud` of minted tokens.
    #[arg(long, env = "APP_AUDIENCE", default_value = shared::DEFAULT_AUDIENCE)]
    pub audience: String,

    /// Lifetime of a download link, in seconds.
    #[arg(long, env = "APP_TOKEN_TTL", default_value_t = default::TOKEN_TTL)]
    pub token_ttl: u32,

    /// Whether people may create their own accounts.
    #[arg(long, env = "APP_ALLOW_SIGNUP", default_value_t = default::ALLOW_SIGNUP, action = clap::ArgAction::Set)]
    pub allow_signup: bool,

    /// Largest accepted upload, in bytes.
    #[arg(long, env = "APP_MAX_UPLOAD", default_value_t = default::MAX_UPLOAD)]
    pub max_upload: u64,

    /// A session unused for this many seconds ends.
    #[arg(long, env = "APP_SESSION_IDLE", default_value_t = default::SESSION_IDLE)]
    pub session_idle: i64,

    /// A session ends this many seconds after login, however active.
    #[arg(long, env = "APP_SESSION_MAX", default_value_t = default::SESSION_MAX)]
    pub session_max: i64,

    /// Failed logins per account, and ten times that per client IP, before `429` for
    /// `--login-lockout` seconds.
    #[arg(long, env = "APP_LOGIN_ATTEMPTS", default_value_t = default::LOGIN_ATTEMPTS)]
    pub login_attempts: u32,

    /// Seconds a throttled account or IP has to wait.
    #[arg(long, env = "APP_LOGIN_LOCKOUT", default_value_t = default::LOGIN_LOCKOUT)]
    pub login_lockout: u64,

    /// Reverse proxies (comma-separated IPs or CIDRs) whose `X-Forwarded-For` names the client;
    /// from anyone else the header is ignored. Default: none, the TCP peer is the client.
    #[arg(long, env = "APP_TRUSTED_PROXIES", value_delimiter = ',')]
    pub trusted_proxies: Vec<server_kit::trusted_proxies::TrustedProxy>,

    /// Password hashes (Argon2id, 19 MiB each) computed at once, by logins, sign-ups and password
    /// changes together (default: two per core). Requests beyond wait in `--password-queue`.
    #[arg(long, env = "APP_PASSWORD_HASHES")]
    pub password_hashes: Option<usize>,

    /// Requests that may wait (up to 5 s) for a password hash while all are busy; any more are
    /// answered `503` with `Retry-After` at once.
    #[arg(long, env = "APP_PASSWORD_QUEUE", default_value_t = default::PASSWORD_QUEUE)]
    pub password_queue: usize,

    /// Worker threads (default: one per core).
    #[arg(long, env = "APP_WORKERS")]
    pub workers: Option<usize>,
}

impl Config {
    /// The command line's defaults with `--data-dir` and `--download-base` given, for tests and
    /// embedding. Unlike parsing, it never reads the environment: an exported `APP_DATABASE`
    /// must not turn a test run into a run against that database.
    pub fn defaults(data_dir: impl Into<PathBuf>, download_base: Url) -> Self {
        Config {
            listen: default::LISTEN,
            data_dir: data_dir.into(),
            database: None,
            store: None,
            signing_key: None,
            jwks_out: None,
            revocation_key: None,
            revocation_grant_max_age: default::REVOCATION_GRANT_MAX_AGE,
            download_base,
            download_events: None,
            public_url: None,
            issuer: shared::DEFAULT_ISSUER.to_owned(),
            audience: shared::DEFAULT_AUDIENCE.to_owned(),
            token_ttl: default::TOKEN_TTL,
            allow_signup: default::ALLOW_SIGNUP,
            max_upload: default::MAX_UPLOAD,
            session_idle: default::SESSION_IDLE,
            session_max: default::SESSION_MAX,
            login_attempts: default::LOGIN_ATTEMPTS,
            login_lockout: default::LOGIN_LOCKOUT,
            trusted_proxies: Vec::new(),
            password_hashes: None,
            password_queue: default::PASSWORD_QUEUE,
            workers: None,
        }
    }

    /// `--password-hashes`, or two per core.
    pub(crate) fn password_hash_slots(&self) -> usize {
        self.password_hashes.unwrap_or_else(|| {
            2 * std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
        })
    }

    /// The database URL, password included: hand it to `db::open` only, never to a log.
    pub fn database_url(&self) -> String {
        match &self.database {
            Some(url) => url.expose().to_owned(),
            None => format!("sqlite://{}", self.data_dir.join("app.db").display()),
        }
    }

    pub(crate) fn store_spec(&self) -> String {
        self.store
            .clone()
            .unwrap_or_else(|| self.data_dir.join("files").to_string_lossy().into_owned())
    }

    pub(crate) fn signing_key_path(&self) -> PathBuf {
        self.signing_key
            .clone()
            .unwrap_or_else(|| self.data_dir.join("signing-key.pem"))
    }

    pub fn jwks_out_path(&self) -> PathBuf {
        self.jwks_out
            .clone()
            .unwrap_or_else(|| self.data_dir.join("jwks.json"))
    }

    pub(crate) fn revocation_key_path(&self) -> PathBuf {
        self.revocation_key
            .clone()
            .unwrap_or_else(|| self.data_dir.join("revocation-key.pem"))
    }

    /// How long revocation records and link rows are kept.
    pub(crate) fn retention(&self) -> crate::revocation::Retention {
        crate::revocation::Retention::new(self.token_ttl, self.revocation_grant_max_age)
    }

    /// The signing key's and the JWKS's paths and what minted tokens say.
    pub(crate) fn keys(&self) -> KeyConfig {
        KeyConfig {
            signing_key: self.signing_key_path(),
            jwks_out: self.jwks_out_path(),
            issuer: self.issuer.clone(),
            audience: self.audience.clone(),
            token_ttl: self.token_ttl,
        }
    }
}

/// A database URL whose `Debug` hides the password (a `Config` may be logged or printed).
#[derive(Clone, PartialEq, Eq)]
pub struct DatabaseUrl(String);

impl DatabaseUrl {
    pub fn new(url: impl Into<String>) -> Self {
        DatabaseUrl(url.into())
    }

    /// The URL as given, password included.
    fn expose(&self) -> &str {
        &self.0
    }

    /// The URL with its password, if any, replaced by `***`.
    fn redacted(&self) -> String {
        match Url::parse(&self.0) {
            Ok(mut url) if url.password().is_some() => {
                let _ = url.set_password(Some("***"));
                url.to_string()
            }
            Ok(_) => self.0.clone(),
            // Not a URL the parser understands: show only what precedes a possible `user:pass@`.
            Err(_) => match self.0.find('@') {
                Some(_) => "<database URL>".to_owned(),
                None => self.0.clone(),
            },
        }
    }
}

impl std::str::FromStr for DatabaseUrl {
    type Err = std::convert::Infallible;

    fn from_str(url: &str) -> Result<Self, Self::Err> {
        Ok(DatabaseUrl::new(url))
    }
}

impl std::fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("DatabaseUrl")
            .field(&self.redacted())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::{Config, DatabaseUrl};
    use clap::Parser;
    use std::path::PathBuf;

    /// Runs the ignored test `name` of this very test binary in a child process with `env`: the
    /// variables are never set in the shared test process (`set_var` is unsafe, and the crate
    /// forbids unsafe code).
    fn run_in_child(name: &str, clear_env: bool, env: &[(&str, &str)]) {
        let mut command = std::process::Command::new(std::env::current_exe().unwrap());
        command.args(["--ignored", "--exact", name]);
        if clear_env {
            command.env_clear();
        }
        let output = command.envs(env.iter().copied()).output().unwrap();
        let stdout = String::from_utf8_lossy(&output.stdout);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            output.status.success() && stdout.contains("1 passed"),
            "{name} in a child process:\n{stdout}\n{stderr}"
        );
    }

    fn download_base() -> url::Url {
        "http://dl.test:8081/".parse().unwrap()
    }

    #[test]
    fn defaults_never_read_app_variables_from_the_environment() {
        run_in_child(
            "config::tests::defaults_with_app_variables_set",
            false,
            &[
                (
                    "APP_DATABASE",
                    "postgres://intruder:pw@192.0.2.1/production",
                ),
                ("APP_STORE", "memory:///"),
                ("APP_TOKEN_TTL", "7"),
                ("APP_ALLOW_SIGNUP", "false"),
                ("APP_ISSUER", "https://intruder.test"),
            ],
        );
    }

    #[test]
    #[ignore = "run in a child process by defaults_never_read_app_variables_from_the_environment"]
    fn defaults_with_app_variables_set() {
        assert!(
            std::env::var_os("APP_DATABASE").is_some(),
            "the child runs with APP_DATABASE set"
        );
        let config = Config::defaults("/srv/app", download_base());
        assert_eq!(config.database, None);
        assert_eq!(config.store, None);
        assert_eq!(config.token_ttl, 120);
        assert!(config.allow_signup);
        assert_eq!(config.issuer, shared::DEFAULT_ISSUER);
        assert_eq!(config.data_dir, PathBuf::from("/srv/app"));
        assert_eq!(config.download_base, download_base());
    }

    #[test]
    fn the_defaults_are_the_command_lines_defaults() {
        run_in_child(
            "config::tests::defaults_match_an_empty_command_line",
            true,
            &[],
        );
    }

    #[test]
    #[ignore = "run in a child process without environment by the_defaults_are_the_command_lines_defaults"]
    fn defaults_match_an_empty_command_line() {
        let parsed = Config::parse_from([
            "app-server",
            "--data-dir",
            "/srv/app",
            "--download-base",
            download_base().as_str(),
        ]);
        assert_eq!(
            format!("{:?}", Config::defaults("/srv/app", download_base())),
            format!("{parsed:?}")
        );
    }

    #[test]
    fn a_database_password_never_shows_in_debug_output() {
        let config = Config::parse_from([
            "app-server",
            "--database",
            "postgres://app:s3cr3t-pw@db.internal:5432/app",
        ]);
        let printed = format!("{config:?}");
        assert!(!printed.contains("s3cr3t-pw"), "{printed}");
        assert!(
            printed.contains("postgres://app:***@db.internal:5432/app"),
            "{printed}"
        );
        assert_eq!(
            config.database_url(),
            "postgres://app:s3cr3t-pw@db.internal:5432/app"
        );
    }

    #[test]
    fn urls_without_a_password_print_as_given() {
        for url in ["sqlite:///var/lib/app/app.db", "postgres://app@db/app"] {
            assert_eq!(DatabaseUrl::new(url).redacted(), url);
        }
        assert_eq!(
            DatabaseUrl::new("postgres://app:pw@db:bad-port/app").redacted(),
            "<database URL>"
        );
    }
}
