//! The `sessions` table: one row per signed-in device, found by the hash of its cookie secret.

use super::revocations::{Kind, Stamp, insert_record};
use super::{Pool, on_pool};

#[derive(Clone, sqlx::FromRow)]
pub struct SessionRow {
    pub id: String,
    pub user_id: String,
    pub username: String,
    pub created_at: i64,
    pub last_seen_at: i64,
    pub idle_expires_at: i64,
    pub expires_at: i64,
    pub user_agent: String,
    pub ip: String,
    pub csrf_token: String,
    /// The person's download generation, read with the session (`sgen` of links minted now).
    pub dl_gen: i64,
}

/// Everything but the CSRF token, a per-session secret.
impl std::fmt::Debug for SessionRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionRow")
            .field("id", &self.id)
            .field("user_id", &self.user_id)
            .field("username", &self.username)
            .field("created_at", &self.created_at)
            .field("last_seen_at", &self.last_seen_at)
            .field("expires_at", &self.expires_at)
            .field("ip", &self.ip)
            .field("csrf_token", &"<redacted>")
            .field("dl_gen", &self.dl_gen)
            .finish_non_exhaustive()
    }
}

pub struct NewSession<'a> {
    pub id: &'a str,
    pub token_hash: &'a str,
    pub user_id: &'a str,
    pub now: i64,
    pub idle_expires_at: i64,
    pub expires_at: i64,
    pub user_agent: &'a str,
    pub ip: &'a str,
    pub csrf_token: &'a str,
}

pub async fn insert(pool: &Pool, s: &NewSession<'_>) -> sqlx::Result<()> {
    on_pool!(pool, |p| {
        sqlx::query(
            "INSERT INTO sessions (id, token_hash, user_id, created_at, last_seen_at,
                                   idle_expires_at, expires_at, user_agent, ip, csrf_token)
             VALUES ($1, $2, $3, $4, $4, $5, $6, $7, $8, $9)",
        )
        .bind(s.id)
        .bind(s.token_hash)
        .bind(s.user_id)
        .bind(s.now)
        .bind(s.idle_expires_at)
        .bind(s.expires_at)
        .bind(s.user_agent)
        .bind(s.ip)
        .bind(s.csrf_token)
        .execute(p)
        .await?;
    });
    Ok(())
}

const COLUMNS: &str = "s.id, s.user_id, u.username, s.created_at, s.last_seen_at, \
    s.idle_expires_at, s.expires_at, s.user_agent, s.ip, s.csrf_token, u.dl_gen";

/// The live session whose cookie secret hashes to `token_hash`; none for a disabled account.
pub async fn live_by_token_hash(
    pool: &Pool,
    token_hash: &str,
    now: i64,
) -> sqlx::Result<Option<SessionRow>> {
    on_pool!(pool, |p| {
        sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM sessions s JOIN users u ON u.id = s.user_id
             WHERE s.token_hash = $1 AND s.idle_expires_at > $2 AND s.expires_at > $2
               AND u.disabled_at IS NULL"
        )))
        .bind(token_hash)
        .bind(now)
        .fetch_optional(p)
        .await
    })
}

pub async fn live_for_user(pool: &Pool, user_id: &str, now: i64) -> sqlx::Result<Vec<SessionRow>> {
    on_pool!(pool, |p| {
        sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM sessions s JOIN users u ON u.id = s.user_id
             WHERE s.user_id = $1 AND s.idle_expires_at > $2 AND s.expires_at > $2
             ORDER BY s.last_seen_at DESC, s.id"
        )))
        .bind(user_id)
        .bind(now)
        .fetch_all(p)
        .await
    })
}

pub async fn touch(pool: &Pool, id: &str, now: i64, idle_expires_at: i64) -> sqlx::Result<()> {
    on_pool!(pool, |p| {
        sqlx::query("UPDATE sessions SET last_seen_at = $1, idle_expires_at = $2 WHERE id = $3")
            .bind(now)
            .bind(idle_expires_at)
            .bind(id)
            .execute(p)
            .await?;
    });
    Ok(())
}

/// Ends one of `user_id`'s sessions and revokes the links minted from it (`sid` record), in
/// one transaction; `Ok(false)` when it is not theirs or does not exist.
pub async fn end(
    pool: &Pool,
    user_id: &str,
    id: &str,
    sid: &str,
    stamp: Stamp,
) -> sqlx::Result<bool> {
    on_pool!(pool, |p| {
        let mut tx = p.begin().await?;
        let deleted = sqlx::query("DELETE FROM sessions WHERE id = $1 AND user_id = $2")
            .bind(id)
            .bind(user_id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if deleted == 1 {
            insert_record!(tx, Kind::Sid, sid, 0_i64, stamp)?;
        }
        tx.commit().await?;
        Ok(deleted == 1)
    })
}

/// Ends every session of `user_id` but `keep_id`, with a `sid` record for each, in one
/// transaction; returns how many ended.
pub async fn end_others(
    pool: &Pool,
    user_id: &str,
    keep_id: &str,
    sid_of: fn(&str) -> String,
    stamp: Stamp,
) -> sqlx::Result<u64> {
    on_pool!(pool, |p| {
        let mut tx = p.begin().await?;
        let ended: Vec<String> =
            sqlx::query_scalar("DELETE FROM sessions WHERE user_id = $1 AND id <> $2 RETURNING id")
                .bind(user_id)
                .bind(keep_id)
                .fetch_all(&mut *tx)
                .await?;
        for id in &ended {
            insert_record!(tx, Kind::Sid, sid_of(id), 0_i64, stamp)?;
        }
        tx.commit().await?;
        Ok(ended.len() as u64)
    })
}

/// Deletes the session whose cookie secret hashes to `token_hash`, if any.
pub async fn delete_by_token_hash(pool: &Pool, token_hash: &str) -> sqlx::Result<()> {
    on_pool!(pool, |p| {
        sqlx::query("DELETE FROM sessions WHERE token_hash = $1")
            .bind(token_hash)
            .execute(p)
            .await?;
    });
    Ok(())
}

pub async fn delete_expired(pool: &Pool, now: i64) -> sqlx::Result<u64> {
    Ok(on_pool!(pool, |p| {
        sqlx::query("DELETE FROM sessions WHERE idle_expires_at <= $1 OR expires_at <= $1")
            .bind(now)
            .execute(p)
            .await?
            .rows_affected()
    }))
}
