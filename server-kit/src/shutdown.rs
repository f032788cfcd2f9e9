//! Waiting for SIGTERM/SIGINT, and stopping an actix server gracefully when a future completes.

use actix_web::dev::Server;
use std::future::Future;

/// Resolves on the first SIGINT (Ctrl-C) or SIGTERM.
pub async fn signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
}

/// Runs `server` until `shutdown` completes, then stops it gracefully: no new connections, and
/// requests in flight get the server's shutdown timeout to finish. `message` is logged then.
pub async fn run_until(
    server: Server,
    shutdown: impl Future<Output = ()> + Send + 'static,
    message: &'static str,
) -> std::io::Result<()> {
    let handle = server.handle();
    let stopper = tokio::spawn(async move {
        shutdown.await;
        tracing::info!("{message}");
        handle.stop(true).await;
    });
    let result = server.await;
    stopper.abort();
    result
}
