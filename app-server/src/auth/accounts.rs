//! Creating accounts and checking credentials; shared by the API, the pages and the CLI. Each
//! takes the `HashSlot` its password work runs under (`HashLimit::reserve`).

use super::hash_limit::HashSlot;
use super::password;
use crate::db::{self, Pool};
use crate::domain::{Password, Username};
use crate::error::AppError;

/// Creates an account; `Conflict` when the name is taken.
pub async fn create(
    pool: &Pool,
    slot: HashSlot,
    username: &Username,
    password: &Password,
) -> Result<String, AppError> {
    let password = password.clone();
    let hash = slot
        .run(move |memory| password::hash(memory, &password))
        .await
        .and_then(|hash| hash)
        .map_err(AppError::internal)?;
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
    slot: HashSlot,
    username: &Username,
    password: &Password,
) -> Result<Option<String>, AppError> {
    let user = db::users::by_name(pool, username).await?;
    let (id, stored) = match user {
        Some(user) => (Some(user.id), Some(user.password_hash)),
        None => (None, None),
    };
    let password = password.clone();
    let ok = slot
        .run(move |memory| password::verify(memory, &password, stored.as_deref()))
        .await
        .map_err(AppError::internal)?;
    Ok(if ok { id } else { None })
}

/// Checks `current`, stores `new`, and signs out every other session of the user. Both hashes
/// run one after the other under the one slot.
pub async fn change_password(
    pool: &Pool,
    slot: HashSlot,
    user_id: &str,
    keep_session: &str,
    current: &Password,
    new: &Password,
) -> Result<(), AppError> {
    let user = db::users::by_id(pool, user_id)
        .await?
        .ok_or(AppError::Unauthorized)?;
    let (current, new) = (current.clone(), new.clone());
    let hash = slot
        .run(move |memory| {
            password::verify(memory, &current, Some(&user.password_hash))
                .then(|| password::hash(memory, &new))
                .transpose()
        })
        .await
        .and_then(|hash| hash)
        .map_err(AppError::internal)?
        .ok_or(AppError::Forbidden("The current password is wrong."))?;
    db::users::set_password(pool, user_id, &hash).await?;
    db::sessions::delete_others(pool, user_id, keep_session).await?;
    Ok(())
}
