//! `/api/files/{id}/links` (the links minted for a file that may still be in use) and
//! `/api/links/{jti}/revoke`.

use crate::auth::CurrentUser;
use crate::db::{self, links::LinkRow};
use crate::error::AppError;
use crate::revocation::events;
use crate::state::AppState;
use crate::time_fmt::rfc3339;
use actix_web::{HttpResponse, web};
use serde_json::{Value, json};

/// Most links listed for one file.
const MAX_LISTED: i64 = 200;

pub fn link_json(link: &LinkRow, grant_max_age: i64) -> Value {
    json!({
        "jti": link.jti,
        "minted_at": rfc3339(link.minted_at),
        "expires_at": rfc3339(link.expires_at),
        "in_use_until": rfc3339(link.expires_at + grant_max_age),
        "revoked_at": link.revoked_at.map(rfc3339),
    })
}

pub async fn for_file(
    state: web::Data<AppState>,
    user: CurrentUser,
    id: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    let file = db::files::owned(&state.pool, &user.user_id, &id)
        .await?
        .ok_or(AppError::NotFound)?;
    let grant_max_age = state.revocations.retention.grant_max_age;
    let since = shared::time::now_secs() - grant_max_age;
    let links = db::links::for_user(
        &state.pool,
        &user.user_id,
        Some(&file.id),
        since,
        MAX_LISTED,
    )
    .await?;
    Ok(HttpResponse::Ok()
        .insert_header(("cache-control", "no-store"))
        .json(
            links
                .iter()
                .map(|l| link_json(l, grant_max_age))
                .collect::<Vec<_>>(),
        ))
}

pub async fn revoke(
    state: web::Data<AppState>,
    user: CurrentUser,
    jti: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    events::revoke_link(&state, &user, &jti).await?;
    Ok(HttpResponse::NoContent().finish())
}
