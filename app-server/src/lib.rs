//! The session-based app server (Server A): accounts, server-side sessions, uploads into the
//! object store, server-rendered pages, and minting single-use download tokens for Server B.
#![forbid(unsafe_code)]

pub mod access_log;
pub mod auth;
pub mod cli;
pub mod config;
pub mod csrf;
pub mod db;
pub mod domain;
pub mod error;
pub mod files;
pub mod keys;
pub mod routes;
pub mod security_headers;
pub mod startup;
pub mod state;
pub mod storage;
pub mod time_fmt;
pub mod trusted_proxies;

pub use config::Config;
pub use startup::Application;
