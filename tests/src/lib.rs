//! Test harness: starts the real servers in-process on free loopback ports, each with a fresh
//! temp dir, and offers one method per endpoint. Logs stay silent unless `TEST_LOG` is set.

pub mod app;
pub mod chromium;
pub mod cut_proxy;
pub mod download;

pub use download::{DownloadServer, ServerFiles};
// The process harness lives in `test-support`, shared with the servers' own tests.
pub use test_support::{PostgresServer, eventually, postgres, procs, redis, tls};

use std::sync::Once;

/// Sends tracing output to the test's stderr when `TEST_LOG` is set.
pub fn init_test_logging() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        if std::env::var_os("TEST_LOG").is_some() {
            server_kit::telemetry::init();
        }
    });
}
