//! `/` (the files page), uploads from its form, and each file's Download and Delete buttons.

use super::extract::{FormUser, PageUser};
use super::{Notice, PageError, html, see_other};
use crate::auth::CurrentUser;
use crate::error::AppError;
use crate::state::AppState;
use crate::{db, files, time_fmt};
use actix_multipart::Multipart;
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError, web};
use askama::Template;

struct FileView {
    id: String,
    name: String,
    size: String,
    created: String,
}

#[derive(Template)]
#[template(path = "files.html")]
struct FilesPage<'a> {
    username: &'a str,
    csrf: &'a str,
    files: Vec<FileView>,
    notice: Option<&'static str>,
    error: Option<String>,
    max_upload: String,
    ttl: u32,
}

async fn render(
    state: &AppState,
    user: &CurrentUser,
    status: StatusCode,
    notice: Option<&'static str>,
    error: Option<String>,
) -> Result<HttpResponse, PageError> {
    let files = db::files::for_user(&state.pool, &user.user_id)
        .await?
        .into_iter()
        .map(|f| FileView {
            size: time_fmt::size(f.size),
            created: time_fmt::readable(f.created_at),
            id: f.id,
            name: f.name,
        })
        .collect();
    let page = FilesPage {
        username: &user.username,
        csrf: &user.csrf_token,
        files,
        notice,
        error,
        max_upload: time_fmt::size(i64::try_from(state.max_upload).unwrap_or(i64::MAX)),
        ttl: state.keys.ttl_secs,
    };
    Ok(html(status, &page))
}

pub async fn show(
    state: web::Data<AppState>,
    PageUser(user): PageUser,
    notice: web::Query<Notice>,
) -> Result<HttpResponse, PageError> {
    render(&state, &user, StatusCode::OK, notice.text(), None).await
}

pub async fn upload(
    state: web::Data<AppState>,
    PageUser(user): PageUser,
    multipart: Multipart,
) -> Result<HttpResponse, PageError> {
    match files::receive(&state, &user, multipart, Some(&user.csrf_token)).await {
        Ok(_) => Ok(see_other("/?notice=uploaded")),
        Err(AppError::Internal(cause)) => Err(AppError::Internal(cause).into()),
        Err(error) => {
            render(
                &state,
                &user,
                error.status_code(),
                None,
                Some(error.message()),
            )
            .await
        }
    }
}

/// Mints a fresh single-use link and sends the browser straight to it.
pub async fn download(
    state: web::Data<AppState>,
    FormUser(user): FormUser,
    id: web::Path<String>,
) -> Result<HttpResponse, PageError> {
    let (url, _) = files::link(&state, &user, &id).await?;
    Ok(see_other(&url))
}

pub async fn delete(
    state: web::Data<AppState>,
    FormUser(user): FormUser,
    id: web::Path<String>,
) -> Result<HttpResponse, PageError> {
    files::delete(&state, &user, &id).await?;
    Ok(see_other("/?notice=deleted"))
}
