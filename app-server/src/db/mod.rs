//! The database: SQLite (embedded, the default) or PostgreSQL (shared by several app servers),
//! chosen by the URL's scheme, opened with each driver's own options and migrated at start. All
//! SQL lives in this module's children and runs unchanged on both (`$n` placeholders, TEXT ids,
//! BIGINT seconds, `ON CONFLICT`, no backend-only functions); `on_pool!` runs it on either.

pub(crate) mod files;
pub(crate) mod history;
pub(crate) mod links;
pub(crate) mod revocations;
pub(crate) mod sessions;
pub mod throttle;
pub(crate) mod users;

use anyhow::Context;
use sqlx::ConnectOptions;
use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions};
use std::str::FromStr;
use std::time::Duration;

/// A pool on one of the two backends. Cloning is cheap (both pools are reference-counted).
#[derive(Debug, Clone)]
pub enum Pool {
    Sqlite(sqlx::SqlitePool),
    Postgres(sqlx::PgPool),
}

/// Runs `$body` with `$pool` bound to the typed pool of whichever backend is open: the same
/// query text and bindings, checked by the compiler against both drivers.
macro_rules! on_pool {
    ($pool:expr, |$p:ident| $body:expr) => {
        match $pool {
            $crate::db::Pool::Sqlite($p) => $body,
            $crate::db::Pool::Postgres($p) => $body,
        }
    };
}
pub(crate) use on_pool;

static SQLITE_MIGRATIONS: Migrator = sqlx::migrate!("./migrations/sqlite");
static POSTGRES_MIGRATIONS: Migrator = sqlx::migrate!("./migrations/postgres");

/// Connections each app server keeps to PostgreSQL at most; several instances share the
/// server's `max_connections` (100 by default).
const POSTGRES_MAX_CONNECTIONS: u32 = 16;
/// How long opening a PostgreSQL connection (or waiting for a free one) may take.
const POSTGRES_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    /// The backend a database URL names. The error names the supported schemes and, when the
    /// URL has one, its scheme, never the rest (which may hold a password).
    fn of(url: &str) -> anyhow::Result<Self> {
        let scheme = url
            .split_once(':')
            .map(|(scheme, _)| scheme.to_ascii_lowercase())
            .filter(|s| {
                !s.is_empty()
                    && s.chars()
                        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
            });
        match scheme.as_deref() {
            Some("sqlite") => Ok(Backend::Sqlite),
            Some("postgres" | "postgresql") => Ok(Backend::Postgres),
            Some(other) => anyhow::bail!(
                "unsupported database URL scheme `{other}:` (supported: sqlite://PATH, \
                 postgres://USER:PASSWORD@HOST:PORT/DATABASE or postgresql://...)"
            ),
            None => anyhow::bail!(
                "the database URL has no scheme (supported: sqlite://PATH, \
                 postgres://USER:PASSWORD@HOST:PORT/DATABASE or postgresql://...)"
            ),
        }
    }
}

impl Pool {
    fn backend(&self) -> Backend {
        match self {
            Pool::Sqlite(_) => Backend::Sqlite,
            Pool::Postgres(_) => Backend::Postgres,
        }
    }

    /// Waits for the connections to close.
    pub async fn close(&self) {
        on_pool!(self, |p| p.close().await);
    }
}

/// Opens the database named by `url` (creating a missing SQLite file) and migrates it.
pub async fn open(url: &str) -> anyhow::Result<Pool> {
    let pool = match Backend::of(url)? {
        Backend::Sqlite => Pool::Sqlite(open_sqlite(url).await?),
        Backend::Postgres => Pool::Postgres(open_postgres(url).await?),
    };
    match &pool {
        Pool::Sqlite(p) => SQLITE_MIGRATIONS.run(p).await,
        Pool::Postgres(p) => POSTGRES_MIGRATIONS.run(p).await,
    }
    .context("migrating the database")?;
    tracing::info!(backend = ?pool.backend(), "database open and migrated");
    Ok(pool)
}

async fn open_sqlite(url: &str) -> anyhow::Result<sqlx::SqlitePool> {
    let options = SqliteConnectOptions::from_str(url)
        .context("parsing the database URL")?
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .busy_timeout(Duration::from_secs(5))
        .foreign_keys(true);
    SqlitePoolOptions::new()
        .max_connections(8)
        .connect_with(options)
        .await
        .context("opening the SQLite database")
}

async fn open_postgres(url: &str) -> anyhow::Result<sqlx::PgPool> {
    let options = PgConnectOptions::from_str(url)
        .context("parsing the database URL")?
        .application_name("app-server");
    let at = format!(
        "connecting to PostgreSQL at {}:{}",
        options.get_host(),
        options.get_port()
    );
    match PgPoolOptions::new()
        .max_connections(POSTGRES_MAX_CONNECTIONS)
        .acquire_timeout(POSTGRES_CONNECT_TIMEOUT)
        .connect_with(options.clone())
        .await
    {
        Ok(pool) => Ok(pool),
        // The pool retried until its deadline and kept no cause: one more attempt says why.
        Err(sqlx::Error::PoolTimedOut) => {
            let cause =
                match tokio::time::timeout(POSTGRES_CONNECT_TIMEOUT, options.connect()).await {
                    Ok(Err(error)) => anyhow::Error::from(error),
                    _ => anyhow::anyhow!("no connection within {POSTGRES_CONNECT_TIMEOUT:?}"),
                };
            Err(cause.context(at))
        }
        Err(error) => Err(anyhow::Error::from(error).context(at)),
    }
}

#[cfg(test)]
mod tests {
    use super::Backend;

    #[test]
    fn the_scheme_picks_the_backend() {
        assert_eq!(
            Backend::of("sqlite://data/app.db").unwrap(),
            Backend::Sqlite
        );
        assert_eq!(Backend::of("sqlite::memory:").unwrap(), Backend::Sqlite);
        assert_eq!(
            Backend::of("postgres://app:pw@db:5432/app").unwrap(),
            Backend::Postgres
        );
        assert_eq!(
            Backend::of("PostgreSQL://app@db/app").unwrap(),
            Backend::Postgres
        );
    }

    #[test]
    fn other_schemes_are_refused_with_the_supported_ones_and_no_secret() {
        let error = Backend::of("mysql://app:hunter2@db/app")
            .unwrap_err()
            .to_string();
        assert!(error.contains("`mysql:`"), "{error}");
        assert!(
            error.contains("sqlite://") && error.contains("postgres://"),
            "{error}"
        );
        assert!(!error.contains("hunter2"), "{error}");
        for no_scheme in ["app:hunter2@db/app", "/var/lib/app.db", ""] {
            let error = Backend::of(no_scheme).unwrap_err().to_string();
            assert!(error.contains("sqlite://"), "{error}");
            assert!(!error.contains("hunter2"), "{error}");
        }
    }
}
