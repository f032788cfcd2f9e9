//! Command line: serve (the default), or `user add NAME --password-stdin`.

use crate::auth::accounts;
use crate::auth::hash_limit::HashLimit;
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
    // One command, one hash: a limit of one slot that is free.
    let slot = HashLimit::new(1, 0, Duration::from_secs(1))
        .reserve()
        .await
        .map_err(|_| anyhow::anyhow!("no free password hash slot"))?;
    let id = accounts::create(&pool, slot, &username, &password)
        .await
        .map_err(|e| anyhow::anyhow!(e.message()))?;
    pool.close().await;
    Ok((id, username.as_str().to_owned()))
}
