//! The `download_events` and `event_cursors` tables: the events pulled from a download server's
//! feed, each stored once (keyed by its source and `id`), and each source's cursor, moved in the
//! transaction that stores the events it follows.

use super::{Pool, on_pool};

/// One event as the feed sends it (docs/history.md), flattened to the table's columns.
#[derive(Debug, Clone, Default, PartialEq, Eq, sqlx::FromRow)]
pub struct EventRow {
    pub id: String,
    #[sqlx(rename = "type")]
    pub kind: String,
    pub at: i64,
    pub jti: String,
    pub user_id: String,
    pub object_path: String,
    pub size: Option<i64>,
    pub started_at: Option<i64>,
    pub start_byte: Option<i64>,
    pub sent: Option<i64>,
    pub ip: Option<String>,
    pub ua: Option<String>,
    pub reason: Option<String>,
    pub status: Option<i64>,
}

/// The cursor stored for `source`, if any.
pub async fn cursor(pool: &Pool, source: &str) -> sqlx::Result<Option<String>> {
    on_pool!(pool, |p| {
        sqlx::query_scalar("SELECT cursor FROM event_cursors WHERE source = $1")
            .bind(source)
            .fetch_optional(p)
            .await
    })
}

/// In one transaction: inserts `events` (those already stored are left as they are) and moves
/// the cursor of `source` from `seen` (what this puller read before asking) to `next`. When
/// another app server moved it meanwhile the cursor is left where that one put it; the events
/// are stored either way. Returns the events newly stored.
pub async fn store(
    pool: &Pool,
    source: &str,
    events: &[EventRow],
    seen: Option<&str>,
    next: &str,
    now: i64,
) -> sqlx::Result<u64> {
    on_pool!(pool, |p| {
        let mut tx = p.begin().await?;
        let mut stored = 0;
        for e in events {
            stored += sqlx::query(
                "INSERT INTO download_events (source, id, type, at, jti, user_id, object_path,
                     size, started_at, start_byte, sent, ip, ua, reason, status)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)
                 ON CONFLICT (source, id) DO NOTHING",
            )
            .bind(source)
            .bind(&e.id)
            .bind(&e.kind)
            .bind(e.at)
            .bind(&e.jti)
            .bind(&e.user_id)
            .bind(&e.object_path)
            .bind(e.size)
            .bind(e.started_at)
            .bind(e.start_byte)
            .bind(e.sent)
            .bind(&e.ip)
            .bind(&e.ua)
            .bind(&e.reason)
            .bind(e.status)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        }
        sqlx::query(
            "INSERT INTO event_cursors (source, cursor, updated_at) VALUES ($1, $2, $3)
             ON CONFLICT (source) DO UPDATE SET cursor = excluded.cursor,
                 updated_at = excluded.updated_at
             WHERE event_cursors.cursor = $4",
        )
        .bind(source)
        .bind(next)
        .bind(now)
        .bind(seen)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(stored)
    })
}

/// The newest `limit` events about one object (every source), newest first.
pub async fn for_object(pool: &Pool, object_path: &str, limit: i64) -> sqlx::Result<Vec<EventRow>> {
    on_pool!(pool, |p| {
        sqlx::query_as(
            "SELECT id, type, at, jti, user_id, object_path, size, started_at, start_byte, sent,
                 ip, ua, reason, status
             FROM download_events WHERE object_path = $1
             ORDER BY at DESC, id DESC LIMIT $2",
        )
        .bind(object_path)
        .bind(limit)
        .fetch_all(p)
        .await
    })
}

/// Deletes the events that happened before `before` (the history is kept a bounded time).
pub async fn delete_older(pool: &Pool, before: i64) -> sqlx::Result<u64> {
    Ok(on_pool!(pool, |p| {
        sqlx::query("DELETE FROM download_events WHERE at < $1")
            .bind(before)
            .execute(p)
            .await?
            .rows_affected()
    }))
}
