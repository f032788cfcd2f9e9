//! The stateless download server (Server B): verifies single-use download tokens against public
//! keys, consumes each `jti` once, and streams the object from object storage.
#![forbid(unsafe_code)]

pub mod access_log;
pub mod config;
pub mod health;
pub mod jwks;
pub mod metrics;
pub mod negotiate;
pub mod outcome;
pub mod problem;
pub mod range;
pub mod replay;
pub mod serve;
pub mod startup;
pub mod store;
pub mod stream;
pub mod verify;

pub use config::Config;
pub use startup::Application;
