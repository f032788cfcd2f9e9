//! One integration-test binary: every test starts the real servers on free loopback ports.

mod app;
mod download;
mod proxies;
mod revocation;
