//! Security headers on every response, in one place, each with its reason.

use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::DefaultHeaders;

/// `download_origin` is where the Download button's form POST is redirected to: CSP
/// `form-action` applies to redirect targets too, so without it Chromium blocks the download.
pub fn middleware(download_origin: &str) -> DefaultHeaders {
    let csp = format!(
        // Scripts only from our own files (no inline, no eval) and talking only to us (the
        // upload progress XHR); styles only from our own stylesheet; forms only to us and the
        // download server; never framed (clickjacking); no <base> tricks.
        "default-src 'none'; script-src 'self'; connect-src 'self'; style-src 'self'; img-src 'self'; \
         form-action 'self' {download_origin}; frame-ancestors 'none'; base-uri 'none'"
    );
    let header = |name: &'static str, value: &str| {
        (
            HeaderName::from_static(name),
            HeaderValue::from_str(value).expect("a valid header value"),
        )
    };
    DefaultHeaders::new()
        .add(header("content-security-policy", &csp))
        // Older browsers without frame-ancestors.
        .add(header("x-frame-options", "DENY"))
        // A served upload or JSON is never sniffed into HTML.
        .add(header("x-content-type-options", "nosniff"))
        // Not `no-referrer`: Chromium then sends `Origin: null` on our own form POSTs.
        .add(header("referrer-policy", "same-origin"))
        .add(header("cross-origin-opener-policy", "same-origin"))
        // Pages and API answers are per person; only the stylesheet, the script and JWKS say otherwise.
        .add(header("cache-control", "no-store"))
}
