//! The pages' extractors: `PageUser` sends a signed-out browser to the login page instead of
//! answering 401, and `FormUser` also checks a button form's CSRF token before any handler runs.

use super::PageError;
use crate::auth::CurrentUser;
use crate::csrf::check_form_token;
use crate::error::AppError;
use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest, web};
use futures_util::future::LocalBoxFuture;

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

/// A form that carries only the CSRF token (buttons such as Delete and Sign out).
#[derive(serde::Deserialize)]
pub struct CsrfForm {
    pub csrf: String,
}

/// The signed-in user of a button form (Delete, Sign out, …) whose `csrf` field matched the
/// session's token.
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
