//! The `users` table.

use super::revocations::{Kind, Stamp, insert_record};
use super::{Pool, on_pool};
use crate::domain::Username;

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct UserRow {
    pub id: String,
    pub password_hash: String,
    /// Set while the account is disabled (`app-server user disable`): no sign-in.
    pub disabled_at: Option<i64>,
}

/// Inserts a user; `Ok(false)` when the name is taken.
pub async fn insert(
    pool: &Pool,
    id: &str,
    username: &Username,
    password_hash: &str,
    now: i64,
) -> sqlx::Result<bool> {
    let inserted = on_pool!(pool, |p| {
        sqlx::query(
            "INSERT INTO users (id, username, password_hash, created_at) VALUES ($1, $2, $3, $4)
             ON CONFLICT (username) DO NOTHING",
        )
        .bind(id)
        .bind(username.as_str())
        .bind(password_hash)
        .bind(now)
        .execute(p)
        .await?
        .rows_affected()
    });
    Ok(inserted == 1)
}

pub async fn by_name(pool: &Pool, username: &Username) -> sqlx::Result<Option<UserRow>> {
    on_pool!(pool, |p| {
        sqlx::query_as("SELECT id, password_hash, disabled_at FROM users WHERE username = $1")
            .bind(username.as_str())
            .fetch_optional(p)
            .await
    })
}

pub async fn by_id(pool: &Pool, id: &str) -> sqlx::Result<Option<UserRow>> {
    on_pool!(pool, |p| {
        sqlx::query_as("SELECT id, password_hash, disabled_at FROM users WHERE id = $1")
            .bind(id)
            .fetch_optional(p)
            .await
    })
}

pub async fn count(pool: &Pool) -> sqlx::Result<i64> {
    on_pool!(pool, |p| {
        sqlx::query_scalar("SELECT COUNT(*) FROM users")
            .fetch_one(p)
            .await
    })
}

/// Stores a new password hash, ends every other session of the person and revokes all their
/// links (a new generation and its `sub` record), in one transaction.
pub async fn change_password(
    pool: &Pool,
    id: &str,
    password_hash: &str,
    keep_session: &str,
    stamp: Stamp,
) -> sqlx::Result<()> {
    on_pool!(pool, |p| {
        let mut tx = p.begin().await?;
        let gen_: i64 = sqlx::query_scalar(
            "UPDATE users SET password_hash = $1, dl_gen = dl_gen + 1 WHERE id = $2
             RETURNING dl_gen",
        )
        .bind(password_hash)
        .bind(id)
        .fetch_one(&mut *tx)
        .await?;
        sqlx::query("DELETE FROM sessions WHERE user_id = $1 AND id <> $2")
            .bind(id)
            .bind(keep_session)
            .execute(&mut *tx)
            .await?;
        insert_record!(tx, Kind::Sub, id, gen_, stamp)?;
        tx.commit().await?;
    });
    Ok(())
}

/// Disables the account `username`: no sign-in, every session deleted, every link revoked (a
/// new generation and its `sub` record), in one transaction. Returns its id, or `None` when
/// there is no such account.
pub async fn disable(
    pool: &Pool,
    username: &Username,
    stamp: Stamp,
) -> sqlx::Result<Option<String>> {
    on_pool!(pool, |p| {
        let mut tx = p.begin().await?;
        let row: Option<(String, i64)> = sqlx::query_as(
            "UPDATE users SET disabled_at = COALESCE(disabled_at, $1), dl_gen = dl_gen + 1
             WHERE username = $2 RETURNING id, dl_gen",
        )
        .bind(stamp.now)
        .bind(username.as_str())
        .fetch_optional(&mut *tx)
        .await?;
        let Some((id, gen_)) = row else {
            return Ok(None);
        };
        sqlx::query("DELETE FROM sessions WHERE user_id = $1")
            .bind(&id)
            .execute(&mut *tx)
            .await?;
        insert_record!(tx, Kind::Sub, &id, gen_, stamp)?;
        tx.commit().await?;
        Ok(Some(id))
    })
}

/// Lets the account `username` sign in again; `Ok(false)` when there is no such account.
pub async fn enable(pool: &Pool, username: &Username) -> sqlx::Result<bool> {
    let updated = on_pool!(pool, |p| {
        sqlx::query("UPDATE users SET disabled_at = NULL WHERE username = $1")
            .bind(username.as_str())
            .execute(p)
            .await?
            .rows_affected()
    });
    Ok(updated == 1)
}
