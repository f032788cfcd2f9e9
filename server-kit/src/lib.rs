//! What both servers need the same way, in one place so they cannot drift apart: logging
//! set-up, the SIGTERM/SIGINT wait with a graceful stop, and opening an object store from the
//! URL an operator gives (`--store`).

pub mod shutdown;
pub mod store_url;
pub mod telemetry;
