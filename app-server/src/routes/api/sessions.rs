//! `/api/sessions`: the devices a person is signed in on; revoke one or all others.

use crate::auth::CurrentUser;
use crate::db;
use crate::error::AppError;
use crate::revocation::events;
use crate::state::AppState;
use crate::time_fmt::rfc3339;
use actix_web::{HttpResponse, web};
use serde_json::json;

pub async fn list(state: web::Data<AppState>, user: CurrentUser) -> Result<HttpResponse, AppError> {
    let rows =
        db::sessions::live_for_user(&state.pool, &user.user_id, shared::time::now_secs()).await?;
    let body: Vec<_> = rows
        .iter()
        .map(|s| {
            json!({
                "id": s.id,
                "created_at": rfc3339(s.created_at),
                "last_seen_at": rfc3339(s.last_seen_at),
                "user_agent": s.user_agent,
                "ip": s.ip,
                "current": s.id == user.session_id,
            })
        })
        .collect();
    Ok(HttpResponse::Ok().json(body))
}

pub async fn revoke(
    state: web::Data<AppState>,
    user: CurrentUser,
    id: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    events::end_session(&state, &user, &id).await?;
    let mut response = HttpResponse::NoContent();
    if *id == user.session_id {
        // Revoking this very device is a logout: the browser drops the dead cookie too.
        response.cookie(state.sessions.removal_cookie());
    }
    Ok(response.finish())
}

pub async fn revoke_others(
    state: web::Data<AppState>,
    user: CurrentUser,
) -> Result<HttpResponse, AppError> {
    events::end_other_sessions(&state, &user).await?;
    Ok(HttpResponse::NoContent().finish())
}
