//! `/login` and `/signup`: the forms, and on success a new session and a redirect to the files.

use super::{Notice, PageError, html, see_other};
use crate::auth::login::log_in;
use crate::auth::{ClientInfo, CurrentUser, accounts};
use crate::domain::{Password, Username};
use crate::error::AppError;
use crate::state::AppState;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, ResponseError, web};
use askama::Template;
use serde::Deserialize;

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage {
    username: String,
    error: Option<String>,
    notice: Option<&'static str>,
    allow_signup: bool,
}

#[derive(Template)]
#[template(path = "signup.html")]
struct SignupPage {
    username: String,
    error: Option<String>,
    allow_signup: bool,
}

#[derive(Deserialize)]
pub struct LoginForm {
    username: String,
    password: String,
}

#[derive(Deserialize)]
pub struct SignupForm {
    username: String,
    password: String,
    confirm: String,
}

pub async fn show(
    state: web::Data<AppState>,
    notice: web::Query<Notice>,
    signed_in: Option<CurrentUser>,
) -> HttpResponse {
    if signed_in.is_some() {
        return see_other("/");
    }
    let page = LoginPage {
        username: String::new(),
        error: None,
        notice: notice.text(),
        allow_signup: state.allow_signup,
    };
    html(StatusCode::OK, &page)
}

pub async fn submit(
    req: HttpRequest,
    client: ClientInfo,
    state: web::Data<AppState>,
    form: web::Form<LoginForm>,
) -> Result<HttpResponse, PageError> {
    let form = form.into_inner();
    let shown_name: String = form.username.chars().take(32).collect();
    match log_in(&state, &client, &form.username, form.password).await {
        Ok(user) => start_session(&req, &client, &state, &user.user_id, "/").await,
        Err(
            error @ (AppError::BadCredentials
            | AppError::Disabled
            | AppError::TooManyRequests { .. }
            | AppError::Busy),
        ) => {
            let page = LoginPage {
                username: shown_name,
                error: Some(error.message()),
                notice: None,
                allow_signup: state.allow_signup,
            };
            let mut response = html(error.status_code(), &page);
            error.add_retry_after(&mut response);
            Ok(response)
        }
        Err(other) => Err(other.into()),
    }
}

/// A fresh session (never a reused id: no fixation), its cookie, and a redirect.
async fn start_session(
    req: &HttpRequest,
    client: &ClientInfo,
    state: &AppState,
    user_id: &str,
    to: &str,
) -> Result<HttpResponse, PageError> {
    let presented = state.sessions.presented_secret(req);
    let secret = state
        .sessions
        .start(&state.pool, client, presented.as_deref(), user_id)
        .await?;
    let mut response = see_other(to);
    response
        .add_cookie(&state.sessions.cookie(secret))
        .map_err(|e| PageError::App(AppError::internal(e)))?;
    Ok(response)
}

pub async fn show_signup(state: web::Data<AppState>) -> HttpResponse {
    let page = SignupPage {
        username: String::new(),
        error: None,
        allow_signup: state.allow_signup,
    };
    html(
        if state.allow_signup {
            StatusCode::OK
        } else {
            StatusCode::FORBIDDEN
        },
        &page,
    )
}

pub async fn submit_signup(
    req: HttpRequest,
    client: ClientInfo,
    state: web::Data<AppState>,
    form: web::Form<SignupForm>,
) -> Result<HttpResponse, PageError> {
    let form = form.into_inner();
    let shown_name: String = form.username.chars().take(32).collect();
    let refuse = |status: StatusCode, message: String| {
        let page = SignupPage {
            username: shown_name.clone(),
            error: Some(message),
            allow_signup: state.allow_signup,
        };
        Ok(html(status, &page))
    };
    if !state.allow_signup {
        return refuse(
            StatusCode::FORBIDDEN,
            "Sign-up is disabled on this server.".into(),
        );
    }
    let username = match Username::parse(&form.username) {
        Ok(name) => name,
        Err(message) => return refuse(StatusCode::BAD_REQUEST, message.into()),
    };
    if form.password != form.confirm {
        return refuse(StatusCode::BAD_REQUEST, "The two passwords differ.".into());
    }
    let password = match Password::parse_new(form.password) {
        Ok(password) => password,
        Err(message) => return refuse(StatusCode::BAD_REQUEST, message.into()),
    };
    let created = async {
        let slot = state.hashes.reserve().await?;
        accounts::create(&state.pool, slot, &username, &password).await
    };
    match created.await {
        Ok(user_id) => start_session(&req, &client, &state, &user_id, "/?notice=welcome").await,
        Err(error @ (AppError::Conflict(_) | AppError::Busy)) => {
            let mut response = refuse(error.status_code(), error.message())?;
            error.add_retry_after(&mut response);
            Ok(response)
        }
        Err(other) => Err(other.into()),
    }
}
