//! Download history (`docs/history.md`): the events the download server reports about each
//! link, pulled into the database, and summed up per file for its owner.

pub mod puller;
pub mod summary;

/// How long events are kept: older ones are swept.
pub const KEEP_SECS: i64 = 90 * 24 * 3600;
/// Most events read for one file, and most downloads and refusals shown for it.
pub const MAX_EVENTS_READ: i64 = 1000;
pub const MAX_SHOWN: usize = 50;

use crate::db::{self, Pool};
use summary::History;

/// The history of the object at `object_path`, newest first.
pub async fn of_object(pool: &Pool, object_path: &str) -> sqlx::Result<History> {
    let events = db::history::for_object(pool, object_path, MAX_EVENTS_READ).await?;
    Ok(summary::summarize(&events, MAX_SHOWN))
}
