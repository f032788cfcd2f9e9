//! The stateless download server (Server B): verifies single-use download tokens against public
//! keys, opens or joins each token's grant (one copy of the object's bytes), and streams the
//! object from object storage.

mod access_log;
mod admit;
mod authorize;
mod body;
pub mod config;
mod forwarded;
mod handoff;
mod health;
mod history;
pub mod jwks;
pub mod metrics;
mod negotiate;
mod outcome;
mod pending_reports;
mod problem;
pub mod range;
mod redeem;
pub mod replay;
mod response_headers;
pub mod revocation;
mod sendfile;
mod serve;
mod startup;
mod store;
mod stream;
pub mod verify;

pub use config::Config;
pub use serve::{DownloadState, download_token};
pub use startup::Application;
