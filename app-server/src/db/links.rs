//! The `links` table: every download link minted, kept while it may be in use, so its owner
//! can see it and take it back ("revoke this link": a `jti` record).

use super::revocations::{Kind, Stamp, insert_record};
use super::{Pool, on_pool};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct LinkRow {
    pub jti: String,
    pub file_id: String,
    pub minted_at: i64,
    pub expires_at: i64,
    pub revoked_at: Option<i64>,
}

pub struct NewLink<'a> {
    pub jti: &'a str,
    pub user_id: &'a str,
    pub file_id: &'a str,
    pub sid: &'a str,
    pub minted_at: i64,
    pub expires_at: i64,
}

pub async fn insert(pool: &Pool, l: &NewLink<'_>) -> sqlx::Result<()> {
    on_pool!(pool, |p| {
        sqlx::query(
            "INSERT INTO links (jti, user_id, file_id, sid, minted_at, expires_at)
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(l.jti)
        .bind(l.user_id)
        .bind(l.file_id)
        .bind(l.sid)
        .bind(l.minted_at)
        .bind(l.expires_at)
        .execute(p)
        .await?;
    });
    Ok(())
}

/// Links shown to their owner: those that expired after `since` (they may still be in use until
/// `expires_at` + the grant max age), newest first, at most `limit`.
pub async fn for_user(
    pool: &Pool,
    user_id: &str,
    file_id: Option<&str>,
    since: i64,
    limit: i64,
) -> sqlx::Result<Vec<LinkRow>> {
    on_pool!(pool, |p| {
        sqlx::query_as(
            "SELECT jti, file_id, minted_at, expires_at, revoked_at FROM links
             WHERE user_id = $1 AND ($2 IS NULL OR file_id = $2) AND expires_at > $3
             ORDER BY minted_at DESC, jti LIMIT $4",
        )
        .bind(user_id)
        .bind(file_id)
        .bind(since)
        .bind(limit)
        .fetch_all(p)
        .await
    })
}

/// What "revoke this link" did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Revoked {
    /// Revoked now (a `jti` record was inserted).
    Now,
    /// It was revoked before; nothing changed.
    Already,
    /// Not one of this person's links (or no longer kept).
    NotFound,
}

/// Marks one of `user_id`'s links revoked and inserts its `jti` record, in one transaction.
pub async fn revoke(pool: &Pool, user_id: &str, jti: &str, stamp: Stamp) -> sqlx::Result<Revoked> {
    on_pool!(pool, |p| {
        let mut tx = p.begin().await?;
        let updated = sqlx::query(
            "UPDATE links SET revoked_at = $1 WHERE jti = $2 AND user_id = $3
             AND revoked_at IS NULL",
        )
        .bind(stamp.now)
        .bind(jti)
        .bind(user_id)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if updated == 1 {
            insert_record!(tx, Kind::Jti, jti, 0_i64, stamp)?;
            tx.commit().await?;
            return Ok(Revoked::Now);
        }
        let exists: Option<i64> =
            sqlx::query_scalar("SELECT minted_at FROM links WHERE jti = $1 AND user_id = $2")
                .bind(jti)
                .bind(user_id)
                .fetch_optional(&mut *tx)
                .await?;
        tx.commit().await?;
        Ok(if exists.is_some() {
            Revoked::Already
        } else {
            Revoked::NotFound
        })
    })
}

/// Deletes the links minted at or before `minted_before` (older than the retention).
pub async fn delete_ended(pool: &Pool, minted_before: i64) -> sqlx::Result<u64> {
    Ok(on_pool!(pool, |p| {
        sqlx::query("DELETE FROM links WHERE minted_at <= $1")
            .bind(minted_before)
            .execute(p)
            .await?
            .rows_affected()
    }))
}
