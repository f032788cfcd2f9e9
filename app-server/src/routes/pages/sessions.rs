//! `/sessions`: every device the person is signed in on, with Sign out buttons.

use super::extract::{FormUser, PageUser};
use super::{Notice, PageError, html, see_other, signed_out};
use crate::auth::client_info::describe_device;
use crate::revocation::events;
use crate::state::AppState;
use crate::{db, time_fmt};
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;

struct SessionView {
    id: String,
    device: String,
    user_agent: String,
    ip: String,
    created: String,
    last_seen: String,
    current: bool,
}

#[derive(Template)]
#[template(path = "sessions.html")]
struct SessionsPage<'a> {
    username: &'a str,
    csrf: &'a str,
    sessions: Vec<SessionView>,
    notice: Option<&'static str>,
}

pub async fn show(
    state: web::Data<AppState>,
    PageUser(user): PageUser,
    notice: web::Query<Notice>,
) -> Result<HttpResponse, PageError> {
    let sessions =
        db::sessions::live_for_user(&state.pool, &user.user_id, shared::time::now_secs())
            .await?
            .into_iter()
            .map(|s| SessionView {
                device: describe_device(&s.user_agent),
                current: s.id == user.session_id,
                created: time_fmt::readable(s.created_at),
                last_seen: time_fmt::readable(s.last_seen_at),
                id: s.id,
                user_agent: s.user_agent,
                ip: s.ip,
            })
            .collect();
    let page = SessionsPage {
        username: &user.username,
        csrf: &user.csrf_token,
        sessions,
        notice: notice.text(),
    };
    Ok(html(StatusCode::OK, &page))
}

pub async fn revoke(
    state: web::Data<AppState>,
    FormUser(user): FormUser,
    id: web::Path<String>,
) -> Result<HttpResponse, PageError> {
    events::end_session(&state, &user, &id).await?;
    if *id == user.session_id {
        return signed_out(&state);
    }
    Ok(see_other("/sessions?notice=revoked"))
}

pub async fn revoke_others(
    state: web::Data<AppState>,
    FormUser(user): FormUser,
) -> Result<HttpResponse, PageError> {
    events::end_other_sessions(&state, &user).await?;
    Ok(see_other("/sessions?notice=others"))
}
