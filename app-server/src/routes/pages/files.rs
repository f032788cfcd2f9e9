//! `/` (the files page), uploads from its form, each file's Download and Delete buttons, and
//! its outstanding links with their Revoke buttons, and its download history.

use super::extract::{FormUser, PageUser};
use super::{Notice, PageError, html, see_other};
use crate::auth::CurrentUser;
use crate::error::AppError;
use crate::history::{
    self,
    summary::{Download, Refusal},
};
use crate::revocation::events;
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
    links: Vec<LinkView>,
    downloads: Vec<DownloadView>,
    refused: Vec<RefusalView>,
}

/// "Downloaded 2026-12-02 14:02 UTC from 127.0.0.1 (Chrome on Linux), 24.0 MB, completed".
struct DownloadView {
    started: String,
    from: String,
    sent: String,
    outcome: String,
    completed: bool,
}

/// "Refused 2026-12-02 14:05 UTC: used link opened again, from 198.51.100.4 (curl)".
struct RefusalView {
    at: String,
    reason: String,
    from: String,
    other_network: bool,
}

fn download_view(d: &Download) -> DownloadView {
    DownloadView {
        started: time_fmt::readable(d.started_at),
        from: from(d.ip.as_deref(), &d.device),
        sent: time_fmt::size(d.sent),
        outcome: if d.completed {
            "completed".to_owned()
        } else {
            format!("interrupted at {} %", d.coverage_percent)
        },
        completed: d.completed,
    }
}

fn refusal_view(r: &Refusal) -> RefusalView {
    RefusalView {
        at: time_fmt::readable(r.at),
        reason: r.reason_text().to_owned(),
        from: from(r.ip.as_deref(), &r.device),
        other_network: r.other_network,
    }
}

/// "127.0.0.1 (Chrome on Linux)", or the device alone when the address is unknown.
fn from(ip: Option<&str>, device: &str) -> String {
    match ip {
        Some(ip) => format!("{ip} ({device})"),
        None => device.to_owned(),
    }
}

/// A link that may still be in use: until it expires, and a download it started for up to the
/// grant max age after.
struct LinkView {
    jti: String,
    minted: String,
    expires: String,
    in_use_until: String,
    revoked: Option<String>,
}

/// Most links the page lists (newest first), over all files.
const MAX_LINKS_SHOWN: i64 = 500;

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
    let grant_max_age = state.revocations.retention.grant_max_age;
    let since = shared::time::now_secs() - grant_max_age;
    let mut links =
        db::links::for_user(&state.pool, &user.user_id, None, since, MAX_LINKS_SHOWN).await?;
    let mut files = Vec::new();
    for f in db::files::for_user(&state.pool, &user.user_id).await? {
        let history = history::of_object(&state.pool, &f.object_path).await?;
        files.push(FileView {
            size: time_fmt::size(f.size),
            created: time_fmt::readable(f.created_at),
            links: links
                .extract_if(.., |l| l.file_id == f.id)
                .map(|l| LinkView {
                    minted: time_fmt::readable(l.minted_at),
                    expires: time_fmt::readable(l.expires_at),
                    in_use_until: time_fmt::readable(l.expires_at + grant_max_age),
                    revoked: l.revoked_at.map(time_fmt::readable),
                    jti: l.jti,
                })
                .collect(),
            downloads: history.downloads.iter().map(download_view).collect(),
            refused: history.refused.iter().map(refusal_view).collect(),
            id: f.id,
            name: f.name,
        });
    }
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

/// "Revoke this link": the person's own links only (another's is not found).
pub async fn revoke_link(
    state: web::Data<AppState>,
    FormUser(user): FormUser,
    jti: web::Path<String>,
) -> Result<HttpResponse, PageError> {
    events::revoke_link(&state, &user, &jti).await?;
    Ok(see_other("/?notice=link-revoked"))
}
