//! Typed configuration: every flag has an environment-variable fallback and a local default.

use clap::Parser;
use std::net::SocketAddr;
use std::path::PathBuf;
use url::Url;

#[derive(Debug, Clone, Parser)]
#[command(
    name = "app-server",
    version,
    about = "Accounts, uploads and single-use download links"
)]
pub struct Config {
    /// Address to listen on (port 0 picks a free port).
    #[arg(long, env = "APP_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,

    /// Folder for the database, signing key, JWKS and files unless each is set on its own.
    #[arg(long, env = "APP_DATA_DIR", default_value = "./data")]
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
    #[arg(
        long,
        env = "APP_DOWNLOAD_BASE",
        default_value = "http://127.0.0.1:8081"
    )]
    pub download_base: Url,

    /// The URL people use to reach this server (default: `http://<listen address>`). With https
    /// the session cookie is `Secure` and named `__Host-session`.
    #[arg(long, env = "APP_PUBLIC_URL")]
    pub public_url: Option<Url>,

    /// `iss` of minted tokens.
    #[arg(long, env = "APP_ISSUER", default_value = shared::DEFAULT_ISSUER)]
    pub issuer: String,

    /// `aud` of minted tokens.
    #[arg(long, env = "APP_AUDIENCE", default_value = shared::DEFAULT_AUDIENCE)]
    pub audience: String,

    /// Lifetime of a download link, in seconds.
    #[arg(long, env = "APP_TOKEN_TTL", default_value_t = 120)]
    pub token_ttl: u32,

    /// Whether people may create their own accounts.
    #[arg(long, env = "APP_ALLOW_SIGNUP", default_value_t = true, action = clap::ArgAction::Set)]
    pub allow_signup: bool,

    /// Largest accepted upload, in bytes.
    #[arg(long, env = "APP_MAX_UPLOAD", default_value_t = 1_000_000_000)]
    pub max_upload: u64,

    /// A session unused for this many seconds ends.
    #[arg(long, env = "APP_SESSION_IDLE", default_value_t = 7 * 24 * 3600)]
    pub session_idle: i64,

    /// A session ends this many seconds after login, however active.
    #[arg(long, env = "APP_SESSION_MAX", default_value_t = 30 * 24 * 3600)]
    pub session_max: i64,

    /// Failed logins per account, and ten times that per client IP, before `429` for
    /// `--login-lockout` seconds.
    #[arg(long, env = "APP_LOGIN_ATTEMPTS", default_value_t = 5)]
    pub login_attempts: u32,

    /// Seconds a throttled account or IP has to wait.
    #[arg(long, env = "APP_LOGIN_LOCKOUT", default_value_t = 300)]
    pub login_lockout: u64,

    /// Reverse proxies (comma-separated IPs or CIDRs) whose `X-Forwarded-For` names the client;
    /// from anyone else the header is ignored. Default: none, the TCP peer is the client.
    #[arg(long, env = "APP_TRUSTED_PROXIES", value_delimiter = ',')]
    pub trusted_proxies: Vec<crate::client::TrustedProxy>,

    /// Worker threads (default: one per core).
    #[arg(long, env = "APP_WORKERS")]
    pub workers: Option<usize>,
}

impl Config {
    /// Defaults for tests and embedding: loopback, port 0, everything in `data_dir`.
    pub fn for_tests(data_dir: impl Into<PathBuf>, download_base: Url) -> Self {
        let mut config = Config::parse_from(["app-server"]);
        config.listen = "127.0.0.1:0".parse().expect("valid address");
        config.data_dir = data_dir.into();
        config.download_base = download_base;
        config.workers = Some(2);
        config
    }

    /// The database URL, password included: hand it to `db::open` only, never to a log.
    pub fn database_url(&self) -> String {
        match &self.database {
            Some(url) => url.expose().to_owned(),
            None => format!("sqlite://{}", self.data_dir.join("app.db").display()),
        }
    }

    pub fn store_spec(&self) -> String {
        self.store
            .clone()
            .unwrap_or_else(|| self.data_dir.join("files").to_string_lossy().into_owned())
    }

    pub fn signing_key_path(&self) -> PathBuf {
        self.signing_key
            .clone()
            .unwrap_or_else(|| self.data_dir.join("signing-key.pem"))
    }

    pub fn jwks_out_path(&self) -> PathBuf {
        self.jwks_out
            .clone()
            .unwrap_or_else(|| self.data_dir.join("jwks.json"))
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
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The URL with its password, if any, replaced by `***`.
    pub fn redacted(&self) -> String {
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
