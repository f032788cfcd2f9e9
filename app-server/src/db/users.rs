//! The `users` table.

use super::{Pool, on_pool};
use crate::domain::Username;

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct UserRow {
    pub id: String,
    pub password_hash: String,
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
        sqlx::query_as("SELECT id, password_hash FROM users WHERE username = $1")
            .bind(username.as_str())
            .fetch_optional(p)
            .await
    })
}

pub async fn by_id(pool: &Pool, id: &str) -> sqlx::Result<Option<UserRow>> {
    on_pool!(pool, |p| {
        sqlx::query_as("SELECT id, password_hash FROM users WHERE id = $1")
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

pub async fn set_password(pool: &Pool, id: &str, password_hash: &str) -> sqlx::Result<()> {
    on_pool!(pool, |p| {
        sqlx::query("UPDATE users SET password_hash = $1 WHERE id = $2")
            .bind(password_hash)
            .bind(id)
            .execute(p)
            .await?;
    });
    Ok(())
}
