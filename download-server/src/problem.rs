//! Every way a download request can fail, mapped to HTTP in this one place: a stable
//! problem+json body (RFC 9457) for tools, a short readable page for people in a browser.
//! Internal error text goes to the logs, never into a response.

use crate::outcome::Outcome;
use crate::verify::VerifyError;
use actix_web::HttpResponse;
use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};

/// Prefix of every problem `type`: a tag URI (RFC 4151), stable and never dereferenced.
pub const PROBLEM_TYPE_PREFIX: &str = "tag:download-server,2026:problem:";

#[derive(Debug, thiserror::Error)]
pub enum DownloadError {
    #[error("invalid token: {0}")]
    InvalidToken(VerifyError),
    /// The link cannot be used (any more): 410, or 403 when the request has `Range` (a resume or
    /// a segment: Chrome offers a Resume that can never work after a 410, and gives up cleanly
    /// after a 403; curl, wget and aria2 treat both as final).
    #[error("link gone: {reason:?}")]
    Gone { reason: Gone, ranged: bool },
    #[error("object not found")]
    NotFound,
    #[error("range not satisfiable for length {0}")]
    RangeNotSatisfiable(u64),
    #[error("If-Match or If-Unmodified-Since does not hold")]
    PreconditionFailed,
    #[error("speculative prefetch not served")]
    Prefetch,
    #[error("the download has as many streams in flight as it may")]
    Busy,
    #[error("replay store unavailable: {0}")]
    ReplayUnavailable(String),
    /// Revocation is on and the state held is missing or too old.
    #[error("revocation state unavailable")]
    RevocationUnavailable,
    #[error("object store unavailable: {0}")]
    StorageUnavailable(String),
    #[error("method not allowed")]
    MethodNotAllowed,
    #[error("no such route")]
    NoSuchRoute,
    /// A proxy endpoint called by a peer not in `--trusted-proxies`.
    #[error("peer is not a trusted proxy")]
    UntrustedProxy,
    /// A forwarded URI that is not exactly a download URL.
    #[error("the forwarded URI is not a download URL")]
    BadUri,
    #[error("no forwarded URI")]
    MissingUri,
    #[error("no forwarded method")]
    MissingMethod,
    /// An object path a proxy could not be trusted to use as a file path verbatim.
    #[error("object path outside the characters a proxy may use verbatim")]
    UnsafeObject,
    /// No edge credential, or a wrong one.
    #[error("missing or wrong edge credential")]
    Unauthorized,
    #[error("bad request: {0}")]
    BadRequest(String),
}

/// Why a link is gone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Gone {
    /// Expired before any request used it.
    Expired,
    /// Its download is complete (every byte was sent), or what was asked would exceed the
    /// allowance for re-sent bytes.
    AlreadyUsed,
    /// Issued before the replay store's epoch.
    BeforeEpoch,
    /// Its download was idle or open too long, or made too many requests.
    GrantEnded,
    /// The file changed since its download started.
    ObjectChanged,
    /// The app server revoked it (signed out, password changed, account disabled, file
    /// deleted, link revoked), or it is older than the revocation state's retention.
    Revoked,
}

impl From<VerifyError> for DownloadError {
    fn from(e: VerifyError) -> Self {
        if e.is_expired() {
            DownloadError::Gone {
                reason: Gone::Expired,
                ranged: false,
            }
        } else {
            DownloadError::InvalidToken(e)
        }
    }
}

impl From<crate::replay::ReplayUnavailable> for DownloadError {
    fn from(e: crate::replay::ReplayUnavailable) -> Self {
        DownloadError::ReplayUnavailable(e.0)
    }
}

struct Presentation {
    status: StatusCode,
    title: &'static str,
    detail: &'static str,
    retry_after: Option<u32>,
}

impl DownloadError {
    /// The outcome this refusal is counted and logged as; its label is the problem type suffix.
    pub fn outcome(&self) -> Outcome {
        match self {
            DownloadError::InvalidToken(_) => Outcome::InvalidToken,
            DownloadError::Gone { reason, .. } => match reason {
                Gone::Expired => Outcome::Expired,
                Gone::AlreadyUsed => Outcome::AlreadyUsed,
                Gone::BeforeEpoch => Outcome::BeforeEpoch,
                Gone::GrantEnded => Outcome::GrantEnded,
                Gone::ObjectChanged => Outcome::ObjectChanged,
                Gone::Revoked => Outcome::Revoked,
            },
            DownloadError::NotFound => Outcome::NotFound,
            DownloadError::RangeNotSatisfiable(_) => Outcome::RangeNotSatisfiable,
            DownloadError::PreconditionFailed => Outcome::PreconditionFailed,
            DownloadError::Prefetch => Outcome::Prefetch,
            DownloadError::Busy => Outcome::Busy,
            DownloadError::ReplayUnavailable(_) => Outcome::ReplayUnavailable,
            DownloadError::RevocationUnavailable => Outcome::RevocationUnavailable,
            DownloadError::StorageUnavailable(_) => Outcome::StorageUnavailable,
            DownloadError::MethodNotAllowed => Outcome::MethodNotAllowed,
            DownloadError::NoSuchRoute => Outcome::NoSuchRoute,
            DownloadError::UntrustedProxy => Outcome::UntrustedProxy,
            DownloadError::BadUri => Outcome::BadUri,
            DownloadError::MissingUri => Outcome::MissingUri,
            DownloadError::MissingMethod => Outcome::MissingMethod,
            DownloadError::UnsafeObject => Outcome::UnsafeObject,
            DownloadError::Unauthorized => Outcome::Unauthorized,
            DownloadError::BadRequest(_) => Outcome::BadRequest,
        }
    }

    fn presentation(&self) -> Presentation {
        let p = |status, title, detail, retry_after| Presentation {
            status,
            title,
            detail,
            retry_after,
        };
        match self {
            DownloadError::InvalidToken(_) => p(
                StatusCode::FORBIDDEN,
                "Invalid download link",
                "This download link is not valid. Go back and click Download again.",
                None,
            ),
            DownloadError::Gone { reason, ranged } => {
                let status = if *ranged {
                    StatusCode::FORBIDDEN
                } else {
                    StatusCode::GONE
                };
                let (title, detail) = match reason {
                    Gone::Expired => (
                        "Download link expired",
                        "This download link has expired. Go back and click Download again.",
                    ),
                    Gone::AlreadyUsed => (
                        "Download link already used",
                        "This link has already delivered its file; go back and click Download \
                         again.",
                    ),
                    Gone::BeforeEpoch => (
                        "Download link no longer valid",
                        "The download service restarted since this link was made, so it cannot \
                         tell whether the link was already used. Go back and click Download again.",
                    ),
                    Gone::GrantEnded => (
                        "Download can no longer be resumed",
                        "This download was paused too long, or started too long ago, to be \
                         resumed with this link. Go back and click Download again.",
                    ),
                    Gone::ObjectChanged => (
                        "File changed",
                        "The file changed since this download started, so it cannot be resumed \
                         with this link. Go back and click Download again.",
                    ),
                    Gone::Revoked => (
                        "Download link revoked",
                        "This link was taken back: its account signed out, changed its \
                         password or was disabled, or the file was deleted. Sign in and click \
                         Download again.",
                    ),
                };
                p(status, title, detail, None)
            }
            DownloadError::NotFound => p(
                StatusCode::NOT_FOUND,
                "File not found",
                "The file this link points to does not exist (any more). The link was not used up.",
                None,
            ),
            DownloadError::RangeNotSatisfiable(_) => p(
                StatusCode::RANGE_NOT_SATISFIABLE,
                "Range not satisfiable",
                "The requested byte range lies outside the file. The link was not used up.",
                None,
            ),
            DownloadError::PreconditionFailed => p(
                StatusCode::PRECONDITION_FAILED,
                "Precondition failed",
                "The file is not the version the request asked for. The link was not used up.",
                None,
            ),
            DownloadError::Busy => p(
                StatusCode::SERVICE_UNAVAILABLE,
                "Too many connections",
                "This download already has as many connections as it may use. Try again in a \
                 moment.",
                Some(1),
            ),
            DownloadError::Prefetch => p(
                StatusCode::SERVICE_UNAVAILABLE,
                "Prefetch not served",
                "Single-use links are not served to speculative prefetches; the link was not used up.",
                None,
            ),
            DownloadError::ReplayUnavailable(_) => p(
                StatusCode::SERVICE_UNAVAILABLE,
                "Temporarily unavailable",
                "The download service cannot check this link right now. Try again in a moment; \
                 the link was not used up.",
                Some(2),
            ),
            DownloadError::RevocationUnavailable => p(
                StatusCode::SERVICE_UNAVAILABLE,
                "Temporarily unavailable",
                "The download service cannot tell right now whether this link was revoked. Try \
                 again in a moment; the link was not used up.",
                Some(2),
            ),
            DownloadError::StorageUnavailable(_) => p(
                StatusCode::SERVICE_UNAVAILABLE,
                "Storage temporarily unavailable",
                "The file cannot be read right now. Try again in a moment; the link was not used up.",
                Some(5),
            ),
            DownloadError::MethodNotAllowed => p(
                StatusCode::METHOD_NOT_ALLOWED,
                "Method not allowed",
                "Download links answer GET and HEAD only.",
                None,
            ),
            DownloadError::NoSuchRoute => p(
                StatusCode::NOT_FOUND,
                "Not found",
                "There is nothing here.",
                None,
            ),
            DownloadError::UntrustedProxy => p(
                StatusCode::FORBIDDEN,
                "Not a trusted proxy",
                "Only the proxies this server was told to trust may call this endpoint.",
                None,
            ),
            DownloadError::BadUri => p(
                StatusCode::FORBIDDEN,
                "Not a download URL",
                "The forwarded URI is not a download link of this server.",
                None,
            ),
            DownloadError::MissingUri => p(
                StatusCode::FORBIDDEN,
                "No forwarded URI",
                "The proxy did not say which URI its client asked for \
                 (X-Forwarded-Uri or X-Original-URI).",
                None,
            ),
            DownloadError::MissingMethod => p(
                StatusCode::FORBIDDEN,
                "No forwarded method",
                "The proxy did not say which method its client used \
                 (X-Forwarded-Method or X-Original-Method).",
                None,
            ),
            DownloadError::UnsafeObject => p(
                StatusCode::FORBIDDEN,
                "Object not servable by a proxy",
                "This object's path holds characters a proxy cannot be trusted to use as a file \
                 path; download it from this server directly.",
                None,
            ),
            DownloadError::Unauthorized => p(
                StatusCode::UNAUTHORIZED,
                "Credential required",
                "This endpoint needs a Bearer credential: one of the edge keys (/v1/redeem), or \
                 a pull token signed by the app server (/v1/events).",
                None,
            ),
            DownloadError::BadRequest(_) => p(
                StatusCode::BAD_REQUEST,
                "Bad request",
                "The request lacks a header or body this endpoint needs, or sends it in another form.",
                None,
            ),
        }
    }

    /// The status this refusal is answered with.
    pub fn status(&self) -> StatusCode {
        self.presentation().status
    }

    /// The response: problem+json, or an HTML page when the client prefers HTML.
    pub fn respond(&self, html: bool) -> HttpResponse {
        let Presentation {
            status,
            title,
            detail,
            retry_after,
        } = self.presentation();
        let mut builder = HttpResponse::build(status);
        // Every answer about a token, refusals included: no proxy or CDN may keep it.
        builder.insert_header((
            header::CACHE_CONTROL,
            HeaderValue::from_static("private, no-store"),
        ));
        builder.insert_header((header::VARY, HeaderValue::from_static("Accept")));
        if let Some(seconds) = retry_after {
            builder.insert_header((header::RETRY_AFTER, seconds));
        }
        match self {
            DownloadError::RangeNotSatisfiable(len) => {
                builder.insert_header((header::CONTENT_RANGE, format!("bytes */{len}")));
            }
            DownloadError::MethodNotAllowed => {
                builder.insert_header((header::ALLOW, HeaderValue::from_static("GET, HEAD")));
            }
            DownloadError::Unauthorized => {
                builder
                    .insert_header((header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer")));
            }
            _ => {}
        }
        if html {
            builder
                .content_type("text/html; charset=utf-8")
                .body(html_page(status, title, detail))
        } else {
            let body = serde_json::json!({
                "type": format!("{PROBLEM_TYPE_PREFIX}{}", self.outcome()),
                "title": title,
                "status": status.as_u16(),
                "detail": detail,
            });
            builder
                .content_type("application/problem+json")
                .body(body.to_string())
        }
    }
}

/// Titles and details are constants of this module, so nothing here needs escaping.
fn html_page(status: StatusCode, title: &str, detail: &str) -> String {
    format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{title}</title><style>body{{font-family:system-ui,sans-serif;max-width:36rem;\
         margin:4rem auto;padding:0 1rem;color:#222;line-height:1.5}}h1{{font-size:1.4rem}}\
         .code{{color:#888}}</style></head><body><h1>{title}</h1><p>{detail}</p>\
         <p class=\"code\">HTTP {}</p></body></html>\n",
        status.as_u16()
    )
}
