//! Creating accounts and checking credentials; shared by the API, the pages and the CLI.

use super::password;
use crate::db::{self, Pool};
use crate::domain::{Password, Username};
use crate::error::AppError;

/// Creates an account; `Conflict` when the name is taken.
pub async fn create(
    pool: &Pool,
    username: &Username,
    password: &Password,
) -> Result<String, AppError> {
    let hash = password::hash(password).await.map_err(AppError::internal)?;
    let id = uuid::Uuid::new_v4().to_string();
    if db::users::insert(pool, &id, username, &hash, shared::time::now_secs()).await? {
        Ok(id)
    } else {
        Err(AppError::Conflict("That user name is taken."))
    }
}

/// The user id when `username` and `password` match an account.
pub async fn check(
    pool: &Pool,
    username: &Username,
    password: &Password,
) -> Result<Option<String>, AppError> {
    let user = db::users::by_name(pool, username).await?;
    let (id, stored) = match user {
        Some(user) => (Some(user.id), Some(user.password_hash)),
        None => (None, None),
    };
    let ok = password::verify(password, stored)
        .await
        .map_err(AppError::internal)?;
    Ok(if ok { id } else { None })
}

/// Checks `current`, stores `new`, and signs out every other session of the user.
pub async fn change_password(
    pool: &Pool,
    user_id: &str,
    keep_session: &str,
    current: &Password,
    new: &Password,
) -> Result<(), AppError> {
    let user = db::users::by_id(pool, user_id)
        .await?
        .ok_or(AppError::Unauthorized)?;
    if !password::verify(current, Some(user.password_hash))
        .await
        .map_err(AppError::internal)?
    {
        return Err(AppError::Forbidden("The current password is wrong."));
    }
    let hash = password::hash(new).await.map_err(AppError::internal)?;
    db::users::set_password(pool, user_id, &hash).await?;
    db::sessions::delete_others(pool, user_id, keep_session).await?;
    Ok(())
}
