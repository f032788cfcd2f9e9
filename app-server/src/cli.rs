//! Command line: serve (the default), `user add NAME --password-stdin`, `user disable NAME`
//! or `user enable NAME`.

use crate::auth::accounts;
use crate::auth::hash_limit::{HashLimit, HashSlot};
use crate::auth::session::random_token;
use crate::config::Config;
use crate::db;
use crate::domain::{Password, Username};
use anyhow::Context;
use clap::{Parser, Subcommand};
use std::time::Duration;

#[derive(Parser)]
#[command(
    name = "app-server",
    version,
    about = "Accounts, uploads and single-use download links"
)]
pub struct Cli {
    #[command(flatten)]
    pub config: Config,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Subcommand)]
pub enum Command {
    /// Manage accounts.
    User {
        #[command(subcommand)]
        action: UserAction,
    },
}

#[derive(Subcommand)]
pub enum UserAction {
    /// Create an account; the password is read from the first line of standard input.
    Add {
        name: String,
        #[arg(long, required = true)]
        password_stdin: bool,
    },
    /// Disable an account: sign-in refused, every session ended, every download link revoked
    /// (give it the server's `--token-ttl` and `--revocation-grant-max-age`).
    Disable { name: String },
    /// Let a disabled account sign in again (links revoked stay revoked).
    Enable { name: String },
}

/// Creates the account `name` with a fresh random password when the database has no account
/// yet (a first run, as `local` does with its demo account); returns that password, or `None`
/// when there are accounts already.
pub async fn create_first_account(config: &Config, name: &str) -> anyhow::Result<Option<String>> {
    let username = Username::parse(name).map_err(anyhow::Error::msg)?;
    std::fs::create_dir_all(&config.data_dir)?;
    let pool = db::open(&config.database_url()).await?;
    let created = async {
        if db::users::count(&pool).await? > 0 {
            return Ok(None);
        }
        // 16 base64url characters: 96 random bits.
        let password = random_token()[..16].to_owned();
        let typed = Password::parse_new(password.clone()).map_err(anyhow::Error::msg)?;
        accounts::create(&pool, one_free_slot().await?, &username, &typed)
            .await
            .map_err(|e| anyhow::anyhow!(e.message()))?;
        Ok(Some(password))
    }
    .await;
    pool.close().await;
    created
}

/// One command, one hash: a limit of one slot that is free.
async fn one_free_slot() -> anyhow::Result<HashSlot> {
    HashLimit::new(1, 0, Duration::from_secs(1))
        .reserve()
        .await
        .map_err(|_| anyhow::anyhow!("no free password hash slot"))
}

/// `user add`: creates the account in the configured database; returns its id and stored name.
pub async fn add_user(
    config: &Config,
    name: &str,
    mut input: impl std::io::BufRead,
) -> anyhow::Result<(String, String)> {
    let username = Username::parse(name).map_err(anyhow::Error::msg)?;
    let mut line = String::new();
    input
        .read_line(&mut line)
        .context("reading the password from standard input")?;
    let password = Password::parse_new(line.trim_end_matches(['\r', '\n']).to_owned())
        .map_err(anyhow::Error::msg)?;
    std::fs::create_dir_all(&config.data_dir)?;
    let pool = db::open(&config.database_url()).await?;
    let id = accounts::create(&pool, one_free_slot().await?, &username, &password)
        .await
        .map_err(|e| anyhow::anyhow!(e.message()))?;
    pool.close().await;
    Ok((id, username.as_str().to_owned()))
}

/// `user disable`: in one transaction, marks the account disabled, deletes its sessions and
/// revokes its links (a `sub` record at a new generation); returns its id. Running app servers
/// see the record within half a second (their poller).
pub async fn disable_user(config: &Config, name: &str) -> anyhow::Result<String> {
    let username = Username::parse(name).map_err(anyhow::Error::msg)?;
    let pool = db::open(&config.database_url()).await?;
    let disabled = db::users::disable(&pool, &username, config.retention().stamp()).await;
    pool.close().await;
    disabled?.with_context(|| format!("no account named {}", username.as_str()))
}

/// `user enable`: the account may sign in again.
pub async fn enable_user(config: &Config, name: &str) -> anyhow::Result<()> {
    let username = Username::parse(name).map_err(anyhow::Error::msg)?;
    let pool = db::open(&config.database_url()).await?;
    let enabled = db::users::enable(&pool, &username).await;
    pool.close().await;
    if !enabled? {
        anyhow::bail!("no account named {}", username.as_str());
    }
    Ok(())
}
