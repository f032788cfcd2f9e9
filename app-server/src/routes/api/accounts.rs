//! `/api/signup`, `/api/login`, `/api/logout`, `/api/me`, `/api/password`.

use crate::auth::{CurrentUser, accounts};
use crate::domain::{Password, Username};
use crate::error::AppError;
use crate::state::AppState;
use crate::{client, db};
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;
use serde_json::json;

#[derive(Deserialize)]
pub struct Credentials {
    username: String,
    password: String,
}

pub async fn signup(
    state: web::Data<AppState>,
    body: web::Json<Credentials>,
) -> Result<HttpResponse, AppError> {
    if !state.allow_signup {
        return Err(AppError::Forbidden("Sign-up is disabled on this server."));
    }
    let body = body.into_inner();
    let username = Username::parse(&body.username).map_err(AppError::bad)?;
    let password = Password::parse_new(body.password).map_err(AppError::bad)?;
    let id = accounts::create(&state.pool, &username, &password).await?;
    Ok(HttpResponse::Created().json(json!({"id": id, "username": username.as_str()})))
}

pub async fn login(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Json<Credentials>,
) -> Result<HttpResponse, AppError> {
    let body = body.into_inner();
    let (user_id, username) = log_in(&req, &state, &body.username, body.password).await?;
    let secret = state.sessions.start(&state.pool, &req, &user_id).await?;
    Ok(HttpResponse::Ok()
        .cookie(state.sessions.cookie(secret))
        .json(json!({"id": user_id, "username": username})))
}

/// Throttling, then the credential check; shared with the login page. Returns `(id, username)`.
pub async fn log_in(
    req: &HttpRequest,
    state: &AppState,
    raw_username: &str,
    raw_password: String,
) -> Result<(String, String), AppError> {
    let ip = client::ip(req);
    // Over-long input is cut before it becomes a throttle key.
    let throttle_name: String = raw_username
        .trim()
        .to_ascii_lowercase()
        .chars()
        .take(64)
        .collect();
    // A database error fails closed: no password is checked without a counted attempt.
    state
        .throttle
        .begin(&throttle_name, &ip)
        .await?
        .map_err(|retry_after| AppError::TooManyRequests { retry_after })?;
    let (Ok(username), Ok(password)) = (
        Username::parse(raw_username),
        Password::parse_attempt(raw_password),
    ) else {
        return Err(AppError::BadCredentials);
    };
    match accounts::check(&state.pool, &username, &password).await? {
        Some(id) => {
            state.throttle.succeeded(&throttle_name, &ip).await?;
            tracing::info!(user = %id, "signed in");
            Ok((id, username.as_str().to_owned()))
        }
        None => {
            tracing::info!("failed sign-in");
            Err(AppError::BadCredentials)
        }
    }
}

pub async fn logout(
    state: web::Data<AppState>,
    user: CurrentUser,
) -> Result<HttpResponse, AppError> {
    db::sessions::delete(&state.pool, &user.user_id, &user.session_id).await?;
    Ok(HttpResponse::NoContent()
        .cookie(state.sessions.removal_cookie())
        .finish())
}

pub async fn me(user: CurrentUser) -> HttpResponse {
    HttpResponse::Ok().json(json!({"id": user.user_id, "username": user.username}))
}

#[derive(Deserialize)]
pub struct PasswordChange {
    current_password: String,
    new_password: String,
}

/// Also renews this device's session (a new cookie): one stolen before the change dies too.
pub async fn change_password(
    req: HttpRequest,
    state: web::Data<AppState>,
    user: CurrentUser,
    body: web::Json<PasswordChange>,
) -> Result<HttpResponse, AppError> {
    let body = body.into_inner();
    let current = Password::parse_attempt(body.current_password).map_err(AppError::bad)?;
    let new = Password::parse_new(body.new_password).map_err(AppError::bad)?;
    accounts::change_password(&state.pool, &user.user_id, &user.session_id, &current, &new).await?;
    let secret = state
        .sessions
        .start(&state.pool, &req, &user.user_id)
        .await?;
    Ok(HttpResponse::NoContent()
        .cookie(state.sessions.cookie(secret))
        .finish())
}
