//! Connections to Redis: one per actix worker thread, made on that worker's own runtime once the
//! shared one (the maintenance task's) works, and every call bounded by a short timeout.
//!
//! Profiled, one shared multiplexed connection driven from the main runtime cost every call two
//! cross-thread wake-ups (futexes, context switches, about a fifth of the server's CPU).

use super::super::ReplayUnavailable;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use std::cell::RefCell;
use std::sync::OnceLock;
use std::time::{Duration, Instant};
use thread_local::ThreadLocal;
use tokio::runtime::{Handle, RuntimeFlavor};

pub(super) struct Connections {
    client: redis::Client,
    /// Set once the first connection succeeds; reconnection is the manager's job from then on.
    shared: OnceLock<ConnectionManager>,
    /// Per worker thread (current-thread runtime): that runtime's own connection.
    local: ThreadLocal<RefCell<LocalConn>>,
    pub(super) timeout: Duration,
}

/// One worker thread's connection.
#[derive(Default)]
struct LocalConn {
    runtime: Option<tokio::runtime::Id>,
    conn: Option<ConnectionManager>,
    connecting: bool,
    retry_at: Option<Instant>,
}

impl Connections {
    pub(super) fn new(client: redis::Client, timeout: Duration) -> Self {
        Connections {
            client,
            shared: OnceLock::new(),
            local: ThreadLocal::new(),
            timeout,
        }
    }

    pub(super) fn is_connected(&self) -> bool {
        self.shared.get().is_some()
    }

    /// Makes the shared connection (the maintenance task calls this until it works).
    pub(super) async fn connect_shared(&self) -> redis::RedisResult<()> {
        let conn = self.connect().await?;
        let _ = self.shared.set(conn);
        Ok(())
    }

    fn shared_conn(&self) -> Result<ConnectionManager, ReplayUnavailable> {
        self.shared
            .get()
            .cloned()
            .ok_or_else(|| ReplayUnavailable("not connected to Redis yet".into()))
    }

    /// This worker's own connection, made on first use once the shared one works (so an outage
    /// does not turn every request into a connection attempt); the shared one meanwhile, while
    /// another request of this worker connects, for a second after a failed attempt, and on any
    /// multi-thread runtime.
    async fn conn(&self) -> Result<ConnectionManager, ReplayUnavailable> {
        // Checked without cloning the shared connection, which the common path does not use.
        if self.shared.get().is_none() {
            return self.shared_conn();
        }
        let Ok(handle) = Handle::try_current() else {
            return self.shared_conn();
        };
        if handle.runtime_flavor() != RuntimeFlavor::CurrentThread {
            return self.shared_conn();
        }
        let runtime = handle.id();
        {
            let mut local = self.local.get_or(Default::default).borrow_mut();
            // A thread id can be reused by a later runtime: never a connection of a dead one.
            if local.runtime != Some(runtime) {
                *local = LocalConn {
                    runtime: Some(runtime),
                    ..LocalConn::default()
                };
            }
            if let Some(conn) = &local.conn {
                return Ok(conn.clone());
            }
            if local.connecting || local.retry_at.is_some_and(|at| Instant::now() < at) {
                return self.shared_conn();
            }
            local.connecting = true;
        }
        let connected = self.connect().await;
        // Same thread: a current-thread runtime never moves a task.
        let mut local = self.local.get_or(Default::default).borrow_mut();
        local.connecting = false;
        match connected {
            Ok(conn) => {
                local.conn = Some(conn.clone());
                Ok(conn)
            }
            Err(error) => {
                tracing::debug!(%error, "could not open this worker's Redis connection");
                local.retry_at = Some(Instant::now() + Duration::from_secs(1));
                self.shared_conn()
            }
        }
    }

    /// Runs one Redis call on this worker's connection within the timeout; an error or a slow
    /// reply is "unavailable". When the connection turns out to be lost, the call is made once
    /// more at once, on the connection the manager has just started to re-make: a worker whose
    /// connection broke while Redis was away (its last reconnect attempt was refused) would
    /// otherwise fail the first request after Redis is back, although `/readyz`, answered by
    /// another worker, already says ready. Every call of this store is safe to repeat. On
    /// failure the connection last used is handed back, so a follow-up can be queued behind it.
    pub(super) async fn run<T, Call>(
        &self,
        mut call: impl FnMut(ConnectionManager) -> Call,
    ) -> Result<T, (ReplayUnavailable, Option<ConnectionManager>)>
    where
        Call: Future<Output = redis::RedisResult<T>>,
    {
        let mut attempts_left = 2;
        loop {
            attempts_left -= 1;
            let conn = self.conn().await.map_err(|e| (e, None))?;
            let error = match tokio::time::timeout(self.timeout, call(conn.clone())).await {
                Ok(Ok(value)) => return Ok(value),
                Ok(Err(error)) if attempts_left > 0 && connection_lost(&error) => {
                    tracing::debug!(%error, "Redis connection lost; trying once more");
                    continue;
                }
                Ok(Err(error)) => ReplayUnavailable(format!("redis: {error}")),
                Err(_) => {
                    ReplayUnavailable(format!("redis did not answer within {:?}", self.timeout))
                }
            };
            return Err((error, Some(conn)));
        }
    }

    /// `run`, for calls with nothing to follow up on failure.
    pub(super) async fn bounded<T, Call>(
        &self,
        call: impl FnMut(ConnectionManager) -> Call,
    ) -> Result<T, ReplayUnavailable>
    where
        Call: Future<Output = redis::RedisResult<T>>,
    {
        self.run(call).await.map_err(|(error, _)| error)
    }

    async fn connect(&self) -> redis::RedisResult<ConnectionManager> {
        // redis-rs defaults retry for seconds per command during an outage; a download must
        // fail fast instead, so: one retry, short delays, short timeouts.
        let config = ConnectionManagerConfig::new()
            .set_number_of_retries(1)
            .set_min_delay(Duration::from_millis(50))
            .set_max_delay(Duration::from_millis(200))
            .set_connection_timeout(Some(self.timeout.max(Duration::from_millis(100))))
            .set_response_timeout(Some(self.timeout));
        let connect = ConnectionManager::new_with_config(self.client.clone(), config);
        match tokio::time::timeout(self.timeout * 4, connect).await {
            Ok(result) => result,
            Err(_) => Err(redis::RedisError::from((
                redis::ErrorKind::Io,
                "connection timed out",
            ))),
        }
    }
}

/// Whether the call failed because the connection is gone (refused, reset, closed), not because
/// Redis answered with an error or was slow (a slow Redis gets no second wait): then the manager
/// has begun to reconnect, and one more try on the new connection can succeed at once.
fn connection_lost(error: &redis::RedisError) -> bool {
    !error.is_timeout()
        && (error.is_io_error() || error.is_connection_dropped() || error.is_connection_refusal())
}
