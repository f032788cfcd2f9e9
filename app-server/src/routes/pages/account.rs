//! `/logout` and `/password`.

use super::{PageError, html, signed_out};
use crate::auth::{FormUser, PageUser, accounts};
use crate::csrf::check_form_token;
use crate::db;
use crate::domain::Password;
use crate::error::AppError;
use crate::state::AppState;
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError, web};
use askama::Template;
use serde::Deserialize;

pub async fn logout(
    state: web::Data<AppState>,
    FormUser(user): FormUser,
) -> Result<HttpResponse, PageError> {
    db::sessions::delete(&state.pool, &user.user_id, &user.session_id).await?;
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

pub async fn show_password(PageUser(user): PageUser) -> HttpResponse {
    let page = PasswordPage {
        username: &user.username,
        csrf: &user.csrf_token,
        notice: None,
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

pub async fn change_password(
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
        accounts::change_password(&state.pool, &user.user_id, &user.session_id, &current, &new)
            .await
    }
    .await;
    let (status, notice, error) = match result {
        Ok(()) => (
            StatusCode::OK,
            Some("Password changed. Every other device was signed out."),
            None,
        ),
        Err(AppError::Internal(cause)) => return Err(AppError::Internal(cause).into()),
        Err(error) => (error.status_code(), None, Some(error.message())),
    };
    let page = PasswordPage {
        username: &user.username,
        csrf: &user.csrf_token,
        notice,
        error,
    };
    Ok(html(status, &page))
}
