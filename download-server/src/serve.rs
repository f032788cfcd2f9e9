//! `GET`/`HEAD /d/{token}[/{filename}]`: verify, check, consume once, stream.
//!
//! Order matters for single use: everything that can refuse without burning the token (signature,
//! claims, epoch, prefetch, missing object, unsatisfiable range) runs before the one atomic
//! consume; a failure to open the object after consuming releases the `jti` again.

use crate::metrics::{InFlight, Metrics};
use crate::negotiate::prefers_html;
use crate::outcome::Outcome;
use crate::problem::DownloadError;
use crate::range::{self, RangeRequest, Validators};
use crate::replay::{Consumed, ReplayStore};
use crate::store::Store;
use crate::stream::{self, ByteStream};
use crate::verify::{Verifier, VerifyError};
use actix_web::body::SizedStream;
use actix_web::http::header::{self, HeaderValue, HttpDate};
use actix_web::http::{Method, StatusCode};
use actix_web::{HttpMessage, HttpRequest, HttpResponse, web};
use futures_util::StreamExt;
use object_store::{Attribute, GetOptions, GetRange, GetResult, GetResultPayload, ObjectMeta};
use shared::{Claims, DownloadName, Jti};
use std::sync::Arc;
use std::time::Instant;

/// Everything a download handler needs, shared by all workers.
pub struct DownloadState {
    pub verifier: Verifier,
    pub replay: Arc<ReplayStore>,
    pub store: Store,
    pub metrics: Arc<Metrics>,
    pub read_chunk: usize,
}

/// Put in the request's extensions for the access log, with the `Outcome`: the verified `jti`.
#[derive(Clone, Copy)]
pub struct LoggedJti(pub Jti);

pub async fn download(req: HttpRequest, state: web::Data<DownloadState>) -> HttpResponse {
    let token = download_token(req.path()).unwrap_or_default();
    let (outcome, response) = match serve(&req, token, &state).await {
        Ok((outcome, response)) => (outcome, response),
        Err(error) => {
            if matches!(
                error,
                DownloadError::ReplayUnavailable(_) | DownloadError::StorageUnavailable(_)
            ) {
                tracing::warn!(error = %error, "download failed closed");
            }
            (error.outcome(), error.respond(prefers_html(&req)))
        }
    };
    state.metrics.outcome(outcome);
    req.extensions_mut().insert(outcome);
    response
}

/// The token of `/d/{token}` or `/d/{token}/{filename}` (the name is cosmetic), read from the
/// raw path: tokens are base64url and dots, never percent-encoded.
pub fn download_token(path: &str) -> Option<&str> {
    let rest = path.strip_prefix("/d/")?;
    let (token, name) = match rest.split_once('/') {
        Some((token, name)) => (token, Some(name)),
        None => (rest, None),
    };
    if token.is_empty() || name.is_some_and(|n| n.is_empty() || n.contains('/')) {
        return None;
    }
    Some(token)
}

/// Everything under the `/d` scope (`web::scope("/d").default_service(web::to(serve::route))`):
/// a download URL gets `download` (GET, HEAD) or 405, any other shape 404. Routing here instead
/// of with `{token}` patterns keeps actix's regex engine (regex-lite, a PikeVM) off paths that
/// are mostly a 300-byte token: profiled, it cost more CPU than the signature check.
pub async fn route(req: HttpRequest, state: web::Data<DownloadState>) -> HttpResponse {
    if download_token(req.path()).is_none() {
        return DownloadError::NoSuchRoute.respond(prefers_html(&req));
    }
    match *req.method() {
        Method::GET | Method::HEAD => download(req, state).await,
        _ => method_not_allowed(req, state).await,
    }
}

/// Any method but GET and HEAD: 405, never a 2xx, never a consume.
pub async fn method_not_allowed(req: HttpRequest, state: web::Data<DownloadState>) -> HttpResponse {
    let error = DownloadError::MethodNotAllowed;
    state.metrics.outcome(error.outcome());
    req.extensions_mut().insert(error.outcome());
    error.respond(prefers_html(&req))
}

async fn serve(
    req: &HttpRequest,
    token: &str,
    state: &DownloadState,
) -> Result<(Outcome, HttpResponse), DownloadError> {
    let is_head = req.method() == Method::HEAD;

    let started = Instant::now();
    let claims = state.verifier.verify(token).await?;
    state
        .metrics
        .verify_seconds
        .observe(started.elapsed().as_secs_f64());
    req.extensions_mut().insert(LoggedJti(claims.jti));

    if claims.iat < state.replay.epoch().await? {
        return Err(DownloadError::BeforeEpoch);
    }
    if !is_head && is_speculative(req) {
        return Err(DownloadError::Prefetch);
    }

    let location = object_store::path::Path::parse(claims.obj.as_str())
        .map_err(|_| DownloadError::InvalidToken(VerifyError::Claims("obj".into())))?;
    let probe = state.store.probe(&location).await.map_err(storage_error)?;
    let etag = probe.meta.e_tag.as_deref().and_then(quoted_etag);
    let range = range::evaluate(
        req.headers().get(header::RANGE),
        req.headers().get(header::IF_RANGE),
        probe.meta.size,
        &Validators {
            etag: etag.as_deref(),
            last_modified: probe.meta.last_modified.into(),
        },
    );
    let (status, start, end_exclusive) = match range {
        RangeRequest::Full => (StatusCode::OK, 0, probe.meta.size),
        RangeRequest::Partial { start, end } => (StatusCode::PARTIAL_CONTENT, start, end + 1),
        RangeRequest::Unsatisfiable => {
            return Err(DownloadError::RangeNotSatisfiable(probe.meta.size));
        }
    };

    let mut response = HttpResponse::build(status);
    content_headers(&mut response, &claims, &probe, etag.as_deref());
    if status == StatusCode::PARTIAL_CONTENT {
        response.insert_header((
            header::CONTENT_RANGE,
            format!("bytes {start}-{}/{}", end_exclusive - 1, probe.meta.size),
        ));
    }
    let len = end_exclusive - start;

    if is_head {
        if state.replay.is_used(&claims.jti, claims.exp).await? {
            return Err(DownloadError::AlreadyUsed);
        }
        // The check refreshed the epoch (Redis may have lost its data since the first look).
        if claims.iat < state.replay.epoch().await? {
            return Err(DownloadError::BeforeEpoch);
        }
        let empty: ByteStream = Box::pin(futures_util::stream::empty());
        return Ok((Outcome::Head, response.body(SizedStream::new(len, empty))));
    }

    let receipt = match state
        .replay
        .consume(&claims.jti, claims.iat, claims.exp)
        .await?
    {
        Consumed::First(receipt) => receipt,
        Consumed::AlreadyUsed => return Err(DownloadError::AlreadyUsed),
        Consumed::BeforeEpoch => return Err(DownloadError::BeforeEpoch),
    };
    let body = match open_body(state, &location, probe, start..end_exclusive).await {
        Ok(body) => body,
        Err(error) => {
            // Nothing was sent: give the token back so the person can retry.
            let released = state.replay.release(&claims.jti, claims.exp, receipt);
            if let Err(release_error) = released.await {
                tracing::warn!(error = %release_error, jti = %claims.jti, "could not release jti");
            }
            return Err(error);
        }
    };
    let guard = InFlight::start(&state.metrics.in_flight);
    let bytes_sent = state.metrics.bytes_sent.clone();
    let body = body.inspect(move |chunk| {
        let _in_flight = &guard;
        if let Ok(chunk) = chunk {
            bytes_sent.inc_by(chunk.len() as u64);
        }
    });
    let outcome = if status == StatusCode::OK {
        Outcome::Served
    } else {
        Outcome::Partial
    };
    Ok((
        outcome,
        response.body(SizedStream::new(len, Box::pin(body) as ByteStream)),
    ))
}

/// Local files were already opened by the probe: stream that very file. Other stores get one
/// ranged GET, pinned to the ETag seen by the probe so the object cannot change in between.
async fn open_body(
    state: &DownloadState,
    location: &object_store::path::Path,
    probe: GetResult,
    range: std::ops::Range<u64>,
) -> Result<ByteStream, DownloadError> {
    if let GetResultPayload::File(file, _) = probe.payload {
        return Ok(stream::local_file(file, range, state.read_chunk));
    }
    if range.is_empty() {
        return Ok(Box::pin(futures_util::stream::empty()));
    }
    let options = GetOptions {
        range: Some(GetRange::Bounded(range)),
        if_match: probe.meta.e_tag.clone(),
        ..GetOptions::default()
    };
    let result = state
        .store
        .get_opts(location, options)
        .await
        .map_err(storage_error)?;
    Ok(Box::pin(
        result
            .into_stream()
            .map(|chunk| chunk.map_err(std::io::Error::other)),
    ))
}

fn content_headers(
    response: &mut actix_web::HttpResponseBuilder,
    claims: &Claims,
    probe: &GetResult,
    etag: Option<&str>,
) {
    let name = DownloadName::sanitize(claims.name.as_deref().unwrap_or(claims.obj.file_name()));
    response
        .insert_header((
            header::CONTENT_TYPE,
            content_type(&probe.attributes, &name, &probe.meta),
        ))
        .insert_header((header::CONTENT_DISPOSITION, name.content_disposition()))
        .insert_header((
            header::LAST_MODIFIED,
            HttpDate::from(std::time::SystemTime::from(probe.meta.last_modified)),
        ))
        .insert_header((header::ACCEPT_RANGES, HeaderValue::from_static("bytes")))
        .insert_header((
            header::CACHE_CONTROL,
            HeaderValue::from_static("private, no-store"),
        ));
    if let Some(etag) = etag {
        response.insert_header((header::ETAG, etag));
    }
}

/// The store's own content type (S3 keeps one per object), else a guess from the name, else
/// `application/octet-stream`. The body is always an attachment with `nosniff`.
fn content_type(
    attributes: &object_store::Attributes,
    name: &DownloadName,
    meta: &ObjectMeta,
) -> String {
    if let Some(stored) = attributes.get(&Attribute::ContentType)
        && let Ok(mime) = stored.as_ref().parse::<mime_guess::mime::Mime>()
        && mime.essence_str() != "binary/octet-stream"
    {
        return mime.to_string();
    }
    mime_guess::from_path(name.as_str())
        .first()
        .or_else(|| mime_guess::from_path(meta.location.as_ref()).first())
        .map(|m| m.to_string())
        .unwrap_or_else(|| "application/octet-stream".to_owned())
}

/// object_store hands out ETags quoted (S3, local files); accept those that are valid
/// `entity-tag`s, quote bare ones, drop anything else.
fn quoted_etag(raw: &str) -> Option<String> {
    let valid = |s: &str| {
        s.bytes()
            .all(|b| b == 0x21 || (0x23..=0x7e).contains(&b) || b >= 0x80)
    };
    let (weak, rest) = raw.strip_prefix("W/").map_or((false, raw), |r| (true, r));
    let inner = rest
        .strip_prefix('"')
        .and_then(|r| r.strip_suffix('"'))
        .unwrap_or(rest);
    if inner.is_empty() || !inner.is_ascii() || !valid(inner) {
        return None;
    }
    Some(if weak {
        format!("W/\"{inner}\"")
    } else {
        format!("\"{inner}\"")
    })
}

/// Speculative loads (`Sec-Purpose: prefetch`, `Purpose: prefetch`, and the older `X-Purpose`
/// and `X-Moz` forms) must not burn a single-use link.
fn is_speculative(req: &HttpRequest) -> bool {
    ["sec-purpose", "purpose", "x-purpose", "x-moz"]
        .iter()
        .any(|name| {
            req.headers()
                .get(*name)
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| {
                    let v = v.to_ascii_lowercase();
                    v.contains("prefetch") || v.contains("prerender") || v.contains("preview")
                })
        })
}

fn storage_error(error: object_store::Error) -> DownloadError {
    match error {
        object_store::Error::NotFound { .. } | object_store::Error::InvalidPath { .. } => {
            DownloadError::NotFound
        }
        other if names_no_object(&other) => DownloadError::NotFound,
        other => DownloadError::StorageUnavailable(other.to_string()),
    }
}

/// A local path through a file (`a.txt/b`) or with an over-long segment names no object: 404,
/// not a storage outage.
fn names_no_object(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut current = Some(error);
    while let Some(e) = current {
        if let Some(io) = e.downcast_ref::<std::io::Error>()
            && matches!(
                io.kind(),
                std::io::ErrorKind::NotFound
                    | std::io::ErrorKind::NotADirectory
                    | std::io::ErrorKind::InvalidFilename
            )
        {
            return true;
        }
        current = e.source();
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_token_is_the_first_segment_after_d() {
        assert_eq!(download_token("/d/abc.def.ghi"), Some("abc.def.ghi"));
        assert_eq!(
            download_token("/d/abc.def.ghi/report.pdf"),
            Some("abc.def.ghi")
        );
        assert_eq!(download_token("/d/"), None);
        assert_eq!(download_token("/d//name"), None);
        assert_eq!(download_token("/d/tok/"), None);
        assert_eq!(download_token("/d/tok/a/b"), None);
        assert_eq!(download_token("/dx/tok"), None);
        assert_eq!(download_token("/healthz"), None);
    }

    #[test]
    fn etags_from_the_store_are_normalised() {
        assert_eq!(quoted_etag("\"abc-1\"").as_deref(), Some("\"abc-1\""));
        assert_eq!(quoted_etag("abc").as_deref(), Some("\"abc\""));
        assert_eq!(quoted_etag("W/\"abc\"").as_deref(), Some("W/\"abc\""));
        assert_eq!(quoted_etag("a\"b"), None);
        assert_eq!(quoted_etag("\"\""), None);
        assert_eq!(quoted_etag("a b"), None);
    }
}
