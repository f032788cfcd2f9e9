//! Liveness, readiness, metrics, and the public keys for edges.

use crate::serve::DownloadState;
use actix_web::http::header::{CACHE_CONTROL, HeaderValue};
use actix_web::{HttpResponse, web};

/// 200 while the process lives.
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/plain; charset=utf-8")
        .body("ok\n")
}

/// 200 only when the replay store answers and (with revocation on) the revocation state is
/// fresh: a load balancer must not send downloads to an instance that would have to refuse them
/// all.
pub async fn readyz(state: web::Data<DownloadState>) -> HttpResponse {
    let unready = if !state.replay.ready().await {
        Some("replay store unavailable\n")
    } else if state
        .revocations
        .as_ref()
        .is_some_and(|r| !r.fresh(shared::time::now_secs()))
    {
        Some("revocation state unavailable\n")
    } else {
        None
    };
    match unready {
        None => HttpResponse::Ok()
            .content_type("text/plain; charset=utf-8")
            .body("ready\n"),
        Some(reason) => HttpResponse::ServiceUnavailable()
            .insert_header((actix_web::http::header::RETRY_AFTER, 2))
            .content_type("text/plain; charset=utf-8")
            .body(reason),
    }
}

/// Prometheus text exposition.
pub async fn metrics(state: web::Data<DownloadState>) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((CACHE_CONTROL, HeaderValue::from_static("no-store")))
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(state.metrics.render())
}

/// `GET /.well-known/jwks.json`: the public keys this server trusts, for edge workers that verify
/// links themselves (jose's `createRemoteJWKSet` wants exactly 200, no redirect). Always 200:
/// no conditional answers, which some JWKS clients do not expect.
pub async fn jwks(state: web::Data<DownloadState>) -> HttpResponse {
    let published = state.verifier.keys().published();
    HttpResponse::Ok()
        .insert_header((
            CACHE_CONTROL,
            HeaderValue::from_static(
                "public, max-age=300, stale-while-revalidate=60, stale-if-error=86400",
            ),
        ))
        .insert_header((actix_web::http::header::ETAG, published.etag.as_str()))
        .content_type("application/jwk-set+json")
        .body(published.body.clone())
}
