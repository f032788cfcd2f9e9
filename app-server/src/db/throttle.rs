//! The `login_attempts` table: the login throttle's counts, shared by every app server on the
//! database. Each function is one statement, atomic on its own on both backends (SQLite runs one
//! writer at a time; PostgreSQL's `ON CONFLICT DO UPDATE` locks the row it updates, so parallel
//! upserts of one key queue and each sees the count the one before it left).

use super::{Pool, on_pool};

/// Counts one attempt for `key` and returns `(attempts in the window, when the window ends)`.
/// An ended window (or none yet) restarts at 1, ending at `now + window`; a running one counts
/// up and keeps its end. The `SET` expressions all read the row as it was before the update.
pub async fn count(pool: &Pool, key: &str, now: i64, window: i64) -> sqlx::Result<(i64, i64)> {
    on_pool!(pool, |p| {
        sqlx::query_as(
            "INSERT INTO login_attempts (key, attempts, window_ends_at) VALUES ($1, 1, $2 + $3)
             ON CONFLICT (key) DO UPDATE SET
                 attempts = CASE WHEN login_attempts.window_ends_at <= $2 THEN 1
                                 ELSE login_attempts.attempts + 1 END,
                 window_ends_at = CASE WHEN login_attempts.window_ends_at <= $2 THEN $2 + $3
                                       ELSE login_attempts.window_ends_at END
             RETURNING attempts, window_ends_at",
        )
        .bind(key)
        .bind(now)
        .bind(window)
        .fetch_one(p)
        .await
    })
}

/// Takes one attempt off `key`'s count (never below zero); the window's end stays.
pub(crate) async fn give_back(pool: &Pool, key: &str) -> sqlx::Result<()> {
    on_pool!(pool, |p| {
        sqlx::query(
            "UPDATE login_attempts SET attempts = attempts - 1 WHERE key = $1 AND attempts > 0",
        )
        .bind(key)
        .execute(p)
        .await?;
    });
    Ok(())
}

/// Forgets `key`'s count: its next attempt starts a new window.
pub(crate) async fn clear(pool: &Pool, key: &str) -> sqlx::Result<()> {
    on_pool!(pool, |p| {
        sqlx::query("DELETE FROM login_attempts WHERE key = $1")
            .bind(key)
            .execute(p)
            .await?;
    });
    Ok(())
}

/// Deletes the rows whose window has ended (`count` would restart them anyway).
pub(crate) async fn delete_ended(pool: &Pool, now: i64) -> sqlx::Result<u64> {
    Ok(on_pool!(pool, |p| {
        sqlx::query("DELETE FROM login_attempts WHERE window_ends_at <= $1")
            .bind(now)
            .execute(p)
            .await?
            .rows_affected()
    }))
}

#[cfg(test)]
mod tests {
    use super::{clear, count, delete_ended, give_back};
    use crate::db::{self, Pool};

    async fn sqlite() -> (tempfile::TempDir, Pool) {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("app.db").display());
        let pool = db::open(&url).await.unwrap();
        (dir, pool)
    }

    #[tokio::test]
    async fn a_window_counts_up_keeps_its_end_and_restarts_once_ended() {
        let (_dir, pool) = sqlite().await;
        assert_eq!(count(&pool, "u:alice", 1000, 60).await.unwrap(), (1, 1060));
        assert_eq!(count(&pool, "u:alice", 1030, 60).await.unwrap(), (2, 1060));
        assert_eq!(count(&pool, "u:alice", 1059, 60).await.unwrap(), (3, 1060));
        assert_eq!(
            count(&pool, "ip:1.1.1.1", 1059, 60).await.unwrap(),
            (1, 1119)
        );
        assert_eq!(count(&pool, "u:alice", 1060, 60).await.unwrap(), (1, 1120));
        assert_eq!(count(&pool, "u:alice", 1061, 60).await.unwrap(), (2, 1120));
    }

    #[tokio::test]
    async fn giving_back_stops_at_zero_and_clearing_starts_afresh() {
        let (_dir, pool) = sqlite().await;
        count(&pool, "ip:1.1.1.1", 1000, 60).await.unwrap();
        for _ in 0..3 {
            give_back(&pool, "ip:1.1.1.1").await.unwrap();
        }
        assert_eq!(
            count(&pool, "ip:1.1.1.1", 1010, 60).await.unwrap(),
            (1, 1060)
        );
        count(&pool, "u:alice", 1000, 60).await.unwrap();
        clear(&pool, "u:alice").await.unwrap();
        assert_eq!(count(&pool, "u:alice", 1010, 60).await.unwrap(), (1, 1070));
    }

    #[tokio::test]
    async fn the_sweep_deletes_ended_windows_only() {
        let (_dir, pool) = sqlite().await;
        count(&pool, "u:old", 1000, 60).await.unwrap();
        count(&pool, "u:new", 1030, 60).await.unwrap();
        assert_eq!(delete_ended(&pool, 1059).await.unwrap(), 0);
        assert_eq!(delete_ended(&pool, 1060).await.unwrap(), 1);
        assert_eq!(count(&pool, "u:new", 1060, 60).await.unwrap(), (2, 1090));
        assert_eq!(count(&pool, "u:old", 1060, 60).await.unwrap(), (1, 1120));
    }
}
