//! Logs to stderr, filtered by `RUST_LOG`.

/// Logs to stderr, filtered by `RUST_LOG` (default `info`, without actix's per-worker start and
/// stop lines); colours only on a terminal, never in a file or a log collector. A second call
/// keeps the first subscriber (tests start many servers in one process).
pub fn init() {
    use std::io::IsTerminal;
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,actix_server=warn"));
    let _ = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_env_filter(filter)
        .with_target(true)
        .try_init();
}
