//! `/logout` and `/password`.

use super::extract::{FormUser, PageUser};
use super::{Notice, PageError, html, see_other, signed_out};
use crate::auth::{ClientInfo, accounts};
use crate::csrf::check_form_token;
use crate::domain::Password;
use crate::error::AppError;
use crate::revocation::events;
use crate::state::AppState;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, ResponseError, web};
use askama::Template;
use serde::Deserialize;

pub async fn logout(
    state: web::Data<AppState>,
    FormUser(user): FormUser,
) -> Result<HttpResponse, PageError> {
    events::log_out(&state, &user).await?;
    signed_out(&state)
}

#[derive(Template)]
#[template(path = "password.html")]
struct PasswordPage<'a> {
    username: &'a str,
    csrf: &'a str,
    notice: Option<&'static str>,
    error: Option<String>,
}

pub async fn show_password(PageUser(user): PageUser, notice: web::Query<Notice>) -> HttpResponse {
    let page = PasswordPage {
        username: &user.username,
        csrf: &user.csrf_token,
        notice: notice.text(),
        error: None,
    };
    html(StatusCode::OK, &page)
}

#[derive(Deserialize)]
pub struct PasswordForm {
    csrf: String,
    current_password: String,
    new_password: String,
    confirm: String,
}

/// On success the session is renewed too: a cookie stolen before the change dies with it.
pub async fn change_password(
    req: HttpRequest,
    client: ClientInfo,
    state: web::Data<AppState>,
    PageUser(user): PageUser,
    form: web::Form<PasswordForm>,
) -> Result<HttpResponse, PageError> {
    let form = form.into_inner();
    check_form_token(&user.csrf_token, &form.csrf)?;
    let result = async {
        if form.new_password != form.confirm {
            return Err(AppError::bad("The two new passwords differ."));
        }
        let current = Password::parse_attempt(form.current_password).map_err(AppError::bad)?;
        let new = Password::parse_new(form.new_password).map_err(AppError::bad)?;
        let presented = state.sessions.presented_secret(&req);
        accounts::change_password(&state, &user, &client, presented.as_deref(), &current, &new)
            .await
    }
    .await;
    match result {
        Ok(secret) => {
            let mut response = see_other("/password?notice=password-changed");
            response
                .add_cookie(&state.sessions.cookie(secret))
                .map_err(|e| PageError::App(AppError::internal(e)))?;
            Ok(response)
        }
        Err(AppError::Internal(cause)) => Err(AppError::Internal(cause).into()),
        Err(error) => {
            let page = PasswordPage {
                username: &user.username,
                csrf: &user.csrf_token,
                notice: None,
                error: Some(error.message()),
            };
            let mut response = html(error.status_code(), &page);
            error.add_retry_after(&mut response);
            Ok(response)
        }
    }
}
