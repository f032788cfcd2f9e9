//! The session-based app server (Server A): accounts, server-side sessions, uploads into the
//! object store, server-rendered pages, and minting single-use download tokens for Server B.
//!
//! The public surface is what the binary, `local` and the integration tests use: the
//! configuration, `Application`, the `user add` command, key publishing, the input types of
//! `domain`, and the database opener with the throttle's counting statement (tested on a real
//! PostgreSQL). Everything else is private to the crate.

mod access_log;
mod auth;
pub mod cli;
pub mod config;
mod csrf;
pub mod db;
pub mod domain;
mod error;
mod files;
mod history;
mod keys;
mod revocation;
mod routes;
mod security_headers;
pub mod startup;
mod state;
mod storage;
mod time_fmt;

pub use config::Config;
pub use server_kit::trusted_proxies::TrustedProxy;
pub use startup::{Application, publish_keys};
