//! Signing in with a user name and a password, for the JSON API and the login page alike:
//! the throttle first, then the credential check, then the throttle cleared on success.

use super::accounts;
use super::client_info::ClientInfo;
use crate::domain::{Password, Username};
use crate::error::AppError;
use crate::state::AppState;

/// Who signed in.
pub struct SignedIn {
    pub user_id: String,
    pub username: String,
}

/// `BadCredentials` for a wrong or malformed name or password alike; `TooManyRequests` once the
/// client's network or the account is over its limit; `Busy` when too many password checks are
/// already running and waiting. Starts no session: the caller does.
pub async fn log_in(
    state: &AppState,
    client: &ClientInfo,
    raw_username: &str,
    raw_password: String,
) -> Result<SignedIn, AppError> {
    // Over-long input is cut before it becomes a throttle key.
    let throttle_name: String = raw_username
        .trim()
        .to_ascii_lowercase()
        .chars()
        .take(64)
        .collect();
    // A slot first: a request turned away (503) has not touched the throttle or the database.
    let slot = state.hashes.reserve().await?;
    // A database error fails closed: no password is checked without a counted attempt.
    state
        .throttle
        .begin(&throttle_name, &client.ip)
        .await?
        .map_err(|retry_after| AppError::TooManyRequests { retry_after })?;
    let (Ok(username), Ok(password)) = (
        Username::parse(raw_username),
        Password::parse_attempt(raw_password),
    ) else {
        return Err(AppError::BadCredentials);
    };
    match accounts::check(&state.pool, slot, &username, &password).await? {
        Some(user_id) => {
            state.throttle.succeeded(&throttle_name, &client.ip).await?;
            tracing::info!(user = %user_id, "signed in");
            Ok(SignedIn {
                user_id,
                username: username.as_str().to_owned(),
            })
        }
        None => {
            tracing::info!("failed sign-in");
            Err(AppError::BadCredentials)
        }
    }
}
