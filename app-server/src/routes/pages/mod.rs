//! Server-rendered HTML pages (askama), working without JavaScript. Every form carries the
//! session's CSRF token; signed-out visitors are sent to `/login`.

mod account;
mod extract;
mod files;
mod login;
mod sessions;

use crate::error::AppError;
use actix_web::http::StatusCode;
use actix_web::http::header;
use actix_web::{HttpResponse, ResponseError, web};
use askama::Template;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.app_data(
        web::FormConfig::default()
            .limit(16 * 1024)
            .error_handler(|error, _| {
                PageError::App(AppError::bad(format!(
                    "The form was incomplete or malformed ({error})."
                )))
                .into()
            }),
    )
    .route("/login", crate::routes::get().to(login::show))
    .route("/login", web::post().to(login::submit))
    .route("/signup", crate::routes::get().to(login::show_signup))
    .route("/signup", web::post().to(login::submit_signup))
    .route("/logout", web::post().to(account::logout))
    .route("/password", crate::routes::get().to(account::show_password))
    .route("/password", web::post().to(account::change_password))
    .route("/", crate::routes::get().to(files::show))
    .route("/files", web::post().to(files::upload))
    .route("/files/{id}/download", web::post().to(files::download))
    .route("/files/{id}/delete", web::post().to(files::delete))
    .route("/links/{jti}/revoke", web::post().to(files::revoke_link))
    .route("/sessions", crate::routes::get().to(sessions::show))
    .route(
        "/sessions/revoke-others",
        web::post().to(sessions::revoke_others),
    )
    .route("/sessions/{id}/revoke", web::post().to(sessions::revoke))
    .default_service(web::to(|| async {
        Err::<HttpResponse, _>(PageError::App(AppError::NotFound))
    }));
}

/// A page's failure: signed out (go log in) or an error shown as a readable page.
#[derive(Debug, thiserror::Error)]
pub enum PageError {
    #[error("signed out")]
    SignedOut,
    #[error(transparent)]
    App(#[from] AppError),
}

impl From<sqlx::Error> for PageError {
    fn from(error: sqlx::Error) -> Self {
        PageError::App(error.into())
    }
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage<'a> {
    title: &'a str,
    message: String,
}

impl ResponseError for PageError {
    fn status_code(&self) -> StatusCode {
        match self {
            PageError::SignedOut => StatusCode::SEE_OTHER,
            PageError::App(error) => error.status_code(),
        }
    }

    fn error_response(&self) -> HttpResponse {
        match self {
            PageError::SignedOut => see_other("/login"),
            PageError::App(error) => {
                crate::error::log(error);
                let mut response = html(
                    error.status_code(),
                    &ErrorPage {
                        title: error.title(),
                        message: error.message(),
                    },
                );
                error.add_retry_after(&mut response);
                response
            }
        }
    }
}

pub fn html(status: StatusCode, page: &impl Template) -> HttpResponse {
    match page.render() {
        Ok(body) => HttpResponse::build(status)
            .content_type("text/html; charset=utf-8")
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .body(body),
        Err(error) => {
            tracing::error!(%error, "rendering a page failed");
            HttpResponse::InternalServerError().body("Something went wrong.")
        }
    }
}

pub fn see_other(location: &str) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, location))
        .finish()
}

/// Back to the login page with this device's cookie removed (its session row is already gone).
pub fn signed_out(state: &crate::state::AppState) -> Result<HttpResponse, PageError> {
    let mut response = see_other("/login?notice=signed-out");
    response
        .add_removal_cookie(&state.sessions.removal_cookie())
        .map_err(|e| PageError::App(AppError::internal(e)))?;
    Ok(response)
}

/// One-word notices in a redirect's query string map to fixed sentences, so a link cannot put
/// arbitrary text on the page.
#[derive(serde::Deserialize, Default)]
pub struct Notice {
    notice: Option<String>,
}

impl Notice {
    pub fn text(&self) -> Option<&'static str> {
        Some(match self.notice.as_deref()? {
            "uploaded" => "File uploaded.",
            "deleted" => "File deleted.",
            "link-revoked" => "That link was revoked: it no longer downloads.",
            "revoked" => "That device was signed out.",
            "others" => "Every other device was signed out.",
            "signed-out" => "You are signed out.",
            "welcome" => "Welcome! Your account is ready.",
            "password-changed" => "Password changed. Every other device was signed out.",
            _ => return None,
        })
    }
}
