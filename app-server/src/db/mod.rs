//! The database: opened from a URL, migrated at start. All SQL lives in this module's children
//! and is portable to PostgreSQL (`$n` placeholders, TEXT ids, BIGINT seconds).

pub mod files;
pub mod sessions;
pub mod users;

use anyhow::Context;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions};
use std::str::FromStr;
use std::time::Duration;

pub type Pool = sqlx::SqlitePool;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

/// Opens (creating when missing) and migrates the database named by `url`.
pub async fn open(url: &str) -> anyhow::Result<Pool> {
    if !url.starts_with("sqlite:") {
        anyhow::bail!("unsupported database URL (this build supports sqlite://path)");
    }
    let options = SqliteConnectOptions::from_str(url)
        .context("parsing the database URL")?
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .busy_timeout(Duration::from_secs(5))
        .foreign_keys(true);
    let pool = SqlitePoolOptions::new()
        .max_connections(8)
        .connect_with(options)
        .await
        .context("opening the database")?;
    MIGRATOR
        .run(&pool)
        .await
        .context("migrating the database")?;
    Ok(pool)
}
