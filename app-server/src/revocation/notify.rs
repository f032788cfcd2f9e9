//! Waking long-polls: a watch on the records' version, `(MAX(seq), COUNT(*))`, refreshed after
//! each revocation committed here and every 500 ms by one poller per app server, so that a
//! revocation made by another app server on the same PostgreSQL (or by `app-server user
//! disable`) wakes the long-polls here within about half a second.

use crate::db::{self, Pool};
use crate::state::AppState;
use std::sync::Weak;
use std::time::Duration;
use tokio::sync::watch;

/// How often the poller reads the version.
pub const POLL_EVERY: Duration = Duration::from_millis(500);

pub struct Changes {
    version: watch::Sender<(i64, i64)>,
}

impl Default for Changes {
    fn default() -> Self {
        Changes {
            version: watch::Sender::new((0, 0)),
        }
    }
}

impl Changes {
    /// A receiver that has seen the current version: `changed()` fires on the next change.
    pub fn subscribe(&self) -> watch::Receiver<(i64, i64)> {
        self.version.subscribe()
    }

    /// Reads the version and wakes every waiter if it moved.
    pub async fn refresh(&self, pool: &Pool) -> sqlx::Result<()> {
        let now = db::revocations::version(pool).await?;
        self.version.send_if_modified(|seen| {
            let moved = *seen != now;
            *seen = now;
            moved
        });
        Ok(())
    }
}

/// Refreshes the app state's `Changes` every [`POLL_EVERY`] until that state is gone (the
/// server stopped).
pub fn spawn_poller(state: Weak<AppState>) {
    tokio::spawn(async move {
        let mut every = tokio::time::interval(POLL_EVERY);
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            every.tick().await;
            let Some(state) = state.upgrade() else {
                return;
            };
            if let Err(error) = state.revocations.changes.refresh(&state.pool).await {
                tracing::warn!(%error, "could not read the revocations' version");
            }
        }
    });
}
