//! Access log and security headers. The log line names the route pattern (`/d/{token}`), never
//! the path: the path of a download request *is* the bearer token. The `jti` is logged once the
//! token verified.

use crate::outcome::Outcome;
use crate::serve::LoggedJti;
use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{Error, HttpMessage};
use std::borrow::Cow;
use std::time::Instant;

/// How download requests are named in the log, whichever URL form they used.
pub const DOWNLOAD_ROUTE: &str = "/d/{token}";

pub async fn access_log(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let started = Instant::now();
    let method = req.method().clone();
    let mut res = next.call(req).await?;
    security_headers(res.headers_mut());
    let extensions = res.request().extensions();
    let jti = extensions
        .get::<LoggedJti>()
        .map(|j| tracing::field::display(j.0));
    let outcome = extensions.get::<Outcome>().map(|o| o.as_str());
    // Only the download handlers set an outcome. For them the pattern is known, and asking the
    // router again would re-run its regex over a path that is mostly a 300-byte token.
    let route: Cow<'static, str> = if outcome.is_some() {
        Cow::Borrowed(DOWNLOAD_ROUTE)
    } else {
        res.request()
            .match_pattern()
            .map_or(Cow::Borrowed("(unmatched)"), Cow::Owned)
    };
    tracing::info!(
        target: "access",
        %method,
        route = &*route,
        status = res.status().as_u16(),
        micros = started.elapsed().as_micros() as u64,
        jti,
        outcome,
        "request"
    );
    drop(extensions);
    Ok(res)
}

/// Set on every response, in this one place.
fn security_headers(headers: &mut actix_web::http::header::HeaderMap) {
    // Tokens live in URLs: never leak them to another site through Referer.
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    // Served bytes are never interpreted as another type than the one we declare.
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    // Nothing here is meant to be framed, scripted or to load anything (error pages included).
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; sandbox",
        ),
    );
    // No cache or CDN may keep a response unless a handler said otherwise (downloads: private, no-store).
    if !headers.contains_key(header::CACHE_CONTROL) {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
}
