//! The events that revoke links, for the JSON API and the pages alike: each is one database
//! transaction (in `db`), after which the feed's waiting long-polls are woken. (Password change
//! is in `auth::accounts`, file deletion in `files`, disabling an account in `cli`.)

use super::sid_of;
use crate::auth::CurrentUser;
use crate::db::{self, links::Revoked};
use crate::error::AppError;
use crate::state::AppState;

/// Signs out one of the person's devices (this one too: a logout); `NotFound` when it is not
/// theirs. Its links are revoked (`sid`).
pub async fn end_session(state: &AppState, user: &CurrentUser, id: &str) -> Result<(), AppError> {
    let stamp = state.revocations.retention.stamp();
    let ended = db::sessions::end(&state.pool, &user.user_id, id, &sid_of(id), stamp).await?;
    if !ended {
        return Err(AppError::NotFound);
    }
    made(state).await;
    Ok(())
}

/// Signs out this device (its session may be gone already: signed out elsewhere meanwhile).
pub async fn log_out(state: &AppState, user: &CurrentUser) -> Result<(), AppError> {
    match end_session(state, user, &user.session_id).await {
        Ok(()) | Err(AppError::NotFound) => Ok(()),
        Err(other) => Err(other),
    }
}

/// Signs out every other device of the person, revoking each one's links (`sid`).
pub async fn end_other_sessions(state: &AppState, user: &CurrentUser) -> Result<(), AppError> {
    let stamp = state.revocations.retention.stamp();
    let ended =
        db::sessions::end_others(&state.pool, &user.user_id, &user.session_id, sid_of, stamp)
            .await?;
    if ended > 0 {
        made(state).await;
    }
    Ok(())
}

/// "Revoke this link" (`jti`), for the person's own links only: another's is `NotFound`.
/// Revoking a revoked link again changes nothing.
pub async fn revoke_link(state: &AppState, user: &CurrentUser, jti: &str) -> Result<(), AppError> {
    let jti = shared::Jti::parse(jti)
        .map_err(|_| AppError::NotFound)?
        .to_string();
    let stamp = state.revocations.retention.stamp();
    match db::links::revoke(&state.pool, &user.user_id, &jti, stamp).await? {
        Revoked::Now => {
            tracing::info!(%jti, "revoked a download link");
            made(state).await;
            Ok(())
        }
        Revoked::Already => Ok(()),
        Revoked::NotFound => Err(AppError::NotFound),
    }
}

/// After a revocation committed: wakes the long-polls here at once (the poller would within
/// half a second). The revocation stands either way, so a failure is only logged.
pub async fn made(state: &AppState) {
    if let Err(error) = state.revocations.changes.refresh(&state.pool).await {
        tracing::warn!(%error, "could not wake the revocation long-polls");
    }
}
