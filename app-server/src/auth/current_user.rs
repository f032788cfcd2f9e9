//! `CurrentUser`: the signed-in user behind the session cookie, as an extractor. The API flavour
//! answers 401; `PageUser` sends a browser to the login page instead.

use crate::csrf::check_form_token;
use crate::error::AppError;
use crate::routes::pages::{CsrfForm, PageError};
use crate::state::AppState;
use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest, web};
use futures_util::future::LocalBoxFuture;

#[derive(Clone)]
pub struct CurrentUser {
    pub user_id: String,
    pub username: String,
    pub session_id: String,
    pub csrf_token: String,
}

/// The CSRF token is a per-session secret: never in a log line or a panic message.
impl std::fmt::Debug for CurrentUser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CurrentUser")
            .field("user_id", &self.user_id)
            .field("username", &self.username)
            .field("session_id", &self.session_id)
            .field("csrf_token", &"<redacted>")
            .finish()
    }
}

impl FromRequest for CurrentUser {
    type Error = AppError;
    type Future = LocalBoxFuture<'static, Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let state = req.app_data::<web::Data<AppState>>().cloned();
        let cookie = state
            .as_ref()
            .and_then(|s| req.cookie(s.sessions.cookie_name))
            .map(|c| c.value().to_owned());
        Box::pin(async move {
            let (Some(state), Some(cookie)) = (state, cookie) else {
                return Err(AppError::Unauthorized);
            };
            let session = state
                .sessions
                .resolve(&state.pool, &cookie)
                .await?
                .ok_or(AppError::Unauthorized)?;
            Ok(CurrentUser {
                user_id: session.user_id,
                username: session.username,
                session_id: session.id,
                csrf_token: session.csrf_token,
            })
        })
    }
}

/// The signed-in user of a page; anyone else is redirected to `/login`.
pub struct PageUser(pub CurrentUser);

impl FromRequest for PageUser {
    type Error = PageError;
    type Future = LocalBoxFuture<'static, Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let user = CurrentUser::from_request(req, payload);
        Box::pin(async move {
            match user.await {
                Ok(user) => Ok(PageUser(user)),
                Err(AppError::Unauthorized) => Err(PageError::SignedOut),
                Err(other) => Err(PageError::App(other)),
            }
        })
    }
}

/// The signed-in user of a button form (Delete, Sign out, …) whose `csrf` field matched the
/// session's token; the check happens before any handler runs.
pub struct FormUser(pub CurrentUser);

impl FromRequest for FormUser {
    type Error = PageError;
    type Future = LocalBoxFuture<'static, Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let user = PageUser::from_request(req, payload);
        let form = web::Form::<CsrfForm>::from_request(req, payload);
        Box::pin(async move {
            let PageUser(user) = user.await?;
            let form = form.await.map_err(|_| {
                PageError::App(AppError::bad("The form was incomplete or malformed."))
            })?;
            check_form_token(&user.csrf_token, &form.csrf)?;
            Ok(FormUser(user))
        })
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn debug_output_leaves_the_csrf_token_out() {
        let user = super::CurrentUser {
            user_id: "u1".into(),
            username: "alice".into(),
            session_id: "s1".into(),
            csrf_token: "csrf-secret-value".into(),
        };
        let shown = format!("{user:?}");
        assert!(
            shown.contains("alice") && !shown.contains("csrf-secret-value"),
            "{shown}"
        );
    }
}
