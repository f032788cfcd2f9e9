//! Creating accounts, checking credentials and changing passwords; shared by the API, the
//! pages and the CLI. The password work runs under a `HashSlot` (`HashLimit::reserve`).

use super::client_info::ClientInfo;
use super::extract::CurrentUser;
use super::hash_limit::HashSlot;
use super::password;
use crate::db::{self, Pool};
use crate::domain::{Password, Username};
use crate::error::AppError;
use crate::state::AppState;

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

/// The user id when `username` and `password` match an account; `Disabled` when they match
/// a disabled one (said only to whoever knows the password).
pub async fn check(
    pool: &Pool,
    slot: HashSlot,
    username: &Username,
    password: &Password,
) -> Result<Option<String>, AppError> {
    let user = db::users::by_name(pool, username).await?;
    let (id, stored, disabled) = match user {
        Some(user) => (
            Some(user.id),
            Some(user.password_hash),
            user.disabled_at.is_some(),
        ),
        None => (None, None, false),
    };
    let password = password.clone();
    let ok = slot
        .run(move |memory| password::verify(memory, &password, stored.as_deref()))
        .await
        .map_err(AppError::internal)?;
    if ok && disabled {
        return Err(AppError::Disabled);
    }
    Ok(if ok { id } else { None })
}

/// Checks `current`, stores `new`, revokes every link of the person (`sub`), signs out every
/// other session of the user and renews this
/// device's (a new cookie: one stolen before the change dies with it); returns the new
/// session's secret. Both hashes run one after the other under one slot.
pub async fn change_password(
    state: &AppState,
    user: &CurrentUser,
    device: &ClientInfo,
    presented_secret: Option<&str>,
    current: &Password,
    new: &Password,
) -> Result<String, AppError> {
    let slot = state.hashes.reserve().await?;
    let pool = &state.pool;
    let stored = db::users::by_id(pool, &user.user_id)
        .await?
        .ok_or(AppError::Unauthorized)?
        .password_hash;
    let (current, new) = (current.clone(), new.clone());
    let hash = slot
        .run(move |memory| {
            password::verify(memory, &current, Some(&stored))
                .then(|| password::hash(memory, &new))
                .transpose()
        })
        .await
        .and_then(|hash| hash)
        .map_err(AppError::internal)?
        .ok_or(AppError::Forbidden("The current password is wrong."))?;
    let stamp = state.revocations.retention.stamp();
    db::users::change_password(pool, &user.user_id, &hash, &user.session_id, stamp).await?;
    crate::revocation::events::made(state).await;
    Ok(state
        .sessions
        .start(pool, device, presented_secret, &user.user_id)
        .await?)
}
