//! The `files` table: what each user uploaded and where it lives in the object store.

use super::revocations::{Kind, Stamp, insert_record};
use super::{Pool, on_pool};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct FileRow {
    pub id: String,
    pub user_id: String,
    pub name: String,
    pub object_path: String,
    pub size: i64,
    pub content_type: String,
    pub created_at: i64,
    /// The object's download generation (`ogen` of links minted now).
    pub dl_gen: i64,
}

const COLUMNS: &str = "id, user_id, name, object_path, size, content_type, created_at, dl_gen";

pub async fn insert(pool: &Pool, f: &FileRow) -> sqlx::Result<()> {
    on_pool!(pool, |p| {
        sqlx::query(
            "INSERT INTO files (id, user_id, name, object_path, size, content_type, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(&f.id)
        .bind(&f.user_id)
        .bind(&f.name)
        .bind(&f.object_path)
        .bind(f.size)
        .bind(&f.content_type)
        .bind(f.created_at)
        .execute(p)
        .await?;
    });
    Ok(())
}

pub async fn for_user(pool: &Pool, user_id: &str) -> sqlx::Result<Vec<FileRow>> {
    on_pool!(pool, |p| {
        sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM files WHERE user_id = $1 ORDER BY created_at DESC, id"
        )))
        .bind(user_id)
        .fetch_all(p)
        .await
    })
}

/// The file `id` when it belongs to `user_id` (another user's file is simply not found).
pub async fn owned(pool: &Pool, user_id: &str, id: &str) -> sqlx::Result<Option<FileRow>> {
    on_pool!(pool, |p| {
        sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM files WHERE id = $1 AND user_id = $2"
        )))
        .bind(id)
        .bind(user_id)
        .fetch_optional(p)
        .await
    })
}

/// Deletes one of `user_id`'s files and its links, and revokes every link to its object (an
/// `obj` record at the next generation), in one transaction; `Ok(false)` when it is not theirs.
pub async fn delete(pool: &Pool, user_id: &str, id: &str, stamp: Stamp) -> sqlx::Result<bool> {
    on_pool!(pool, |p| {
        let mut tx = p.begin().await?;
        let deleted: Option<(String, i64)> = sqlx::query_as(
            "DELETE FROM files WHERE id = $1 AND user_id = $2 RETURNING object_path, dl_gen",
        )
        .bind(id)
        .bind(user_id)
        .fetch_optional(&mut *tx)
        .await?;
        let Some((object_path, gen_)) = deleted else {
            return Ok(false);
        };
        sqlx::query("DELETE FROM links WHERE file_id = $1 AND user_id = $2")
            .bind(id)
            .bind(user_id)
            .execute(&mut *tx)
            .await?;
        insert_record!(tx, Kind::Obj, &object_path, gen_ + 1, stamp)?;
        tx.commit().await?;
        Ok(true)
    })
}
