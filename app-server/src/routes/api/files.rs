//! `/api/files`: list, upload (multipart field `file`), delete, and mint a download link.

use crate::auth::CurrentUser;
use crate::db::{self, files::FileRow};
use crate::error::AppError;
use crate::state::AppState;
use crate::{files, time_fmt};
use actix_multipart::Multipart;
use actix_web::{HttpResponse, web};
use serde_json::{Value, json};

fn file_json(f: &FileRow) -> Value {
    json!({
        "id": f.id,
        "name": f.name,
        "size": f.size,
        "content_type": f.content_type,
        "created_at": time_fmt::rfc3339(f.created_at),
    })
}

pub async fn list(state: web::Data<AppState>, user: CurrentUser) -> Result<HttpResponse, AppError> {
    let rows = db::files::for_user(&state.pool, &user.user_id).await?;
    Ok(HttpResponse::Ok().json(rows.iter().map(file_json).collect::<Vec<_>>()))
}

pub async fn upload(
    state: web::Data<AppState>,
    user: CurrentUser,
    multipart: Multipart,
) -> Result<HttpResponse, AppError> {
    let row = files::receive(&state, &user, multipart, None).await?;
    Ok(HttpResponse::Created().json(file_json(&row)))
}

pub async fn delete(
    state: web::Data<AppState>,
    user: CurrentUser,
    id: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    files::delete(&state, &user, &id).await?;
    Ok(HttpResponse::NoContent().finish())
}

pub async fn link(
    state: web::Data<AppState>,
    user: CurrentUser,
    id: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    let (url, expires_at) = files::link(&state, &user, &id).await?;
    Ok(HttpResponse::Ok()
        .insert_header(("cache-control", "no-store"))
        .json(json!({"url": url, "expires_at": time_fmt::rfc3339(expires_at)})))
}
