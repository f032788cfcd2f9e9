//! `/api/signup`, `/api/login`, `/api/logout`, `/api/me`, `/api/password`.

use crate::auth::login::log_in;
use crate::auth::{ClientInfo, CurrentUser, accounts};
use crate::domain::{Password, Username};
use crate::error::AppError;
use crate::revocation::events;
use crate::state::AppState;
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
    let slot = state.hashes.reserve().await?;
    let id = accounts::create(&state.pool, slot, &username, &password).await?;
    Ok(HttpResponse::Created().json(json!({"id": id, "username": username.as_str()})))
}

pub async fn login(
    req: HttpRequest,
    client: ClientInfo,
    state: web::Data<AppState>,
    body: web::Json<Credentials>,
) -> Result<HttpResponse, AppError> {
    let body = body.into_inner();
    let user = log_in(&state, &client, &body.username, body.password).await?;
    let presented = state.sessions.presented_secret(&req);
    let secret = state
        .sessions
        .start(&state.pool, &client, presented.as_deref(), &user.user_id)
        .await?;
    Ok(HttpResponse::Ok()
        .cookie(state.sessions.cookie(secret))
        .json(json!({"id": user.user_id, "username": user.username})))
}

pub async fn logout(
    state: web::Data<AppState>,
    user: CurrentUser,
) -> Result<HttpResponse, AppError> {
    events::log_out(&state, &user).await?;
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
    client: ClientInfo,
    state: web::Data<AppState>,
    user: CurrentUser,
    body: web::Json<PasswordChange>,
) -> Result<HttpResponse, AppError> {
    let body = body.into_inner();
    let current = Password::parse_attempt(body.current_password).map_err(AppError::bad)?;
    let new = Password::parse_new(body.new_password).map_err(AppError::bad)?;
    let presented = state.sessions.presented_secret(&req);
    let secret =
        accounts::change_password(&state, &user, &client, presented.as_deref(), &current, &new)
            .await?;
    Ok(HttpResponse::NoContent()
        .cookie(state.sessions.cookie(secret))
        .finish())
}
