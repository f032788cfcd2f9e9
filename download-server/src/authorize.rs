//! `GET|HEAD /v1/authorize`: forward auth for a proxy that serves the bytes itself (nginx
//! `auth_request`, Caddy `forward_auth`, Traefik `forwardAuth`, Envoy `ext_authz`). The client's
//! URI and method come from a trusted proxy's forwarded headers; the answer is in status and
//! headers only, since nginx drops the body of an auth answer and turns any status but 2xx,
//! 401 and 403 into a 500.

use crate::admit::{Admitted, Ask, Conditions, admit};
use crate::forwarded::Forwarded;
use crate::outcome::Outcome;
use crate::problem::DownloadError;
use crate::replay::Lease;
use crate::response_headers::{content_type_and_disposition, is_speculative};
use crate::serve::{DownloadState, LoggedJti, download_token};
use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpMessage, HttpRequest, HttpResponse, web};

pub async fn authorize(req: HttpRequest, state: web::Data<DownloadState>) -> HttpResponse {
    let (outcome, response) = match check(&req, &state).await {
        Ok(admitted) => (Outcome::Authorized, allow(&admitted)),
        Err(error) => {
            if matches!(
                error,
                DownloadError::ReplayUnavailable(_) | DownloadError::StorageUnavailable(_)
            ) {
                tracing::warn!(error = %error, "authorization failed closed");
            }
            (error.outcome(), deny(&error))
        }
    };
    state.metrics.outcome(outcome);
    req.extensions_mut().insert(outcome);
    response
}

async fn check(req: &HttpRequest, state: &DownloadState) -> Result<Admitted, DownloadError> {
    let forwarded = Forwarded::of(req, &state.trusted_proxies);
    if !forwarded.trusted() {
        return Err(DownloadError::UntrustedProxy);
    }
    let uri = forwarded
        .first_of(&["x-forwarded-uri", "x-original-uri"])
        .ok_or(DownloadError::MissingUri)?;
    let method = forwarded
        .first_of(&["x-forwarded-method", "x-original-method"])
        .ok_or(DownloadError::MissingMethod)?;
    // Exactly a download URL: no query, nothing but `/d/{token}[/{name}]`.
    let token = download_token(uri)
        .filter(|_| !uri.contains(['?', '#']))
        .ok_or(DownloadError::BadUri)?;
    let head = match method {
        "GET" => false,
        "HEAD" => true,
        _ => return Err(DownloadError::MethodNotAllowed),
    };
    let ask = Ask {
        token,
        head,
        // The proxy forwards its client's own headers (Range, If-Range, If-Match, ...).
        conditions: Conditions::of(req.headers()),
        speculative: is_speculative(req),
        stream: forwarded.stream_id(),
        lease: Lease::Whole,
        verbatim_path: true,
    };
    let admitted = admit(state, &ask, |claims| {
        req.extensions_mut().insert(LoggedJti(claims.jti));
    })
    .await?;
    if let Some((stream, _)) = admitted.stream {
        state
            .pending_reports
            .insert(token, stream, admitted.claims.jti, admitted.claims.exp);
    }
    Ok(admitted)
}

/// 200 with what the proxy needs to serve the object. Every header is always present (empty
/// when it does not apply), so a proxy that copies them never passes on a client's own.
fn allow(admitted: &Admitted) -> HttpResponse {
    let (content_type, disposition) =
        content_type_and_disposition(&admitted.claims, &admitted.probe);
    let header =
        |value: String| HeaderValue::from_str(&value).unwrap_or(HeaderValue::from_static(""));
    HttpResponse::Ok()
        .insert_header((
            header::CACHE_CONTROL,
            HeaderValue::from_static("private, no-store"),
        ))
        .insert_header(("x-dl-object", header(admitted.location.to_string())))
        .insert_header(("x-dl-content-type", header(content_type)))
        .insert_header(("x-dl-content-disposition", header(disposition)))
        .insert_header(("x-dl-size", admitted.probe.meta.size))
        .insert_header((
            "x-dl-etag",
            header(admitted.etag.clone().unwrap_or_default()),
        ))
        .insert_header(("x-dl-status", admitted.status.as_str()))
        .insert_header((
            "x-dl-content-range",
            header(admitted.content_range().unwrap_or_default()),
        ))
        .insert_header(("x-dl-deny", HeaderValue::from_static("")))
        .finish()
}

/// 403 with the reason in `X-Dl-Deny` and the status this server would have answered in
/// `X-Dl-Status`; 503 with `Retry-After` when the answer cannot be known now (fail closed).
fn deny(error: &DownloadError) -> HttpResponse {
    let unavailable = matches!(
        error,
        DownloadError::ReplayUnavailable(_)
            | DownloadError::StorageUnavailable(_)
            | DownloadError::Busy
    );
    let status = if unavailable {
        StatusCode::SERVICE_UNAVAILABLE
    } else {
        StatusCode::FORBIDDEN
    };
    let mut response = HttpResponse::build(status);
    response
        .insert_header((
            header::CACHE_CONTROL,
            HeaderValue::from_static("private, no-store"),
        ))
        .insert_header(("x-dl-deny", error.outcome().as_str()))
        .insert_header(("x-dl-status", error.status().as_str()));
    for name in [
        "x-dl-object",
        "x-dl-content-type",
        "x-dl-content-disposition",
        "x-dl-etag",
        "x-dl-content-range",
    ] {
        response.insert_header((name, HeaderValue::from_static("")));
    }
    // A 416 names the object's size (`Content-Range: bytes */size`), which only this knows.
    match error {
        DownloadError::RangeNotSatisfiable(size) => response.insert_header(("x-dl-size", *size)),
        _ => response.insert_header(("x-dl-size", HeaderValue::from_static(""))),
    };
    if unavailable {
        response.insert_header((header::RETRY_AFTER, 2));
    }
    response.finish()
}
