//! The download server behind the real proxies (Debian's nginx and Caddy), each running a config
//! shipped in `deploy/` exactly as operators copy it (`integration_tests::proxies`).

mod core;
mod forward_auth;
mod handoff;
mod resume;
