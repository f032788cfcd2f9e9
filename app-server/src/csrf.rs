//! Cross-site request forgery defences. Layer one, for every state-changing request: refuse it
//! (403) when the browser says it comes from another site (`Sec-Fetch-Site`, else `Origin`).
//! Layer two, for HTML forms: a synchronizer token from the session row, compared in constant time.

use crate::error::AppError;
use actix_web::ResponseError;
use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use subtle::ConstantTimeEq;

/// Middleware: a cross-site POST/PUT/PATCH/DELETE never reaches a handler. Non-browser clients
/// send neither header and pass; they cannot ride a person's cookie anyway. `public_origin` is
/// this server's `scheme://host[:port]` as people reach it, given once when the app is built.
pub async fn refuse_cross_site(
    public_origin: std::sync::Arc<str>,
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    if !req.method().is_safe() && !same_site_request(&req, &public_origin) {
        let response = AppError::Forbidden("Cross-site request refused.").error_response();
        return Ok(req.into_response(response));
    }
    Ok(next.call(req).await?.map_into_boxed_body())
}

fn same_site_request(req: &ServiceRequest, public_origin: &str) -> bool {
    let header = |name: &str| req.headers().get(name).and_then(|v| v.to_str().ok());
    if let Some(site) = header("sec-fetch-site") {
        // `none`: typed into the address bar or a bookmark, never a forged cross-site request.
        return matches!(site, "same-origin" | "none");
    }
    match header("origin") {
        Some(origin) => origin == public_origin,
        None => true,
    }
}

/// Compares a form's `csrf` field with the session's token.
pub fn check_form_token(expected: &str, given: &str) -> Result<(), AppError> {
    if !given.is_empty() && bool::from(expected.as_bytes().ct_eq(given.as_bytes())) {
        Ok(())
    } else {
        Err(missing_form_token())
    }
}

pub fn missing_form_token() -> AppError {
    AppError::Forbidden(
        "This form has expired or did not come from this site; reload the page and try again.",
    )
}
