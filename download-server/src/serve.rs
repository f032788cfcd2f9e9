//! `GET`/`HEAD /d/{token}[/{filename}]`: verify, check, open or join the token's grant, stream.
//!
//! Order matters for single use: everything that can refuse without using the token (signature,
//! claims, epoch, prefetch, missing object, preconditions, unsatisfiable range) runs before the
//! one atomic step on the grant; a failure to open the object after it gives back what this
//! request took. A token grants one copy of the object's bytes, not one response: see
//! `replay::grant` for the rules, `body` for how a stream keeps to them.

use crate::body::{self, Leased};
use crate::metrics::Metrics;
use crate::negotiate::prefers_html;
use crate::outcome::Outcome;
use crate::problem::{DownloadError, Gone};
use crate::range::{self, RangeRequest, Validators};
use crate::replay::{Joined, Peeked, Refusal, ReplayStore, StreamRequest};
use crate::response_headers::{content_headers, is_speculative, quoted_etag};
use crate::store::{Store, storage_error};
use crate::stream::{self, ByteStream};
use crate::verify::{Verified, Verifier, VerifyError};
use actix_web::body::SizedStream;
use actix_web::http::header::{self, HttpDate};
use actix_web::http::{Method, StatusCode};
use actix_web::{HttpMessage, HttpRequest, HttpResponse, web};
use futures_util::StreamExt;
use object_store::{GetOptions, GetRange, GetResult, GetResultPayload};
use shared::Jti;
use std::sync::Arc;
use std::time::Instant;

/// Everything a download handler needs, shared by all workers.
pub struct DownloadState {
    pub(crate) verifier: Verifier,
    /// The replay store (tests and benchmarks look at its epoch).
    pub replay: Arc<ReplayStore>,
    pub(crate) store: Store,
    pub(crate) metrics: Arc<Metrics>,
    pub(crate) read_chunk: usize,
    /// `--grant-max-age`: an expired token older than its `exp` + leeway + this has no grant.
    pub(crate) grant_max_age: i64,
}

impl DownloadState {
    /// The object store downloads come from (tests put objects into a `memory:///` one).
    pub fn objects(&self) -> &Arc<dyn object_store::ObjectStore> {
        self.store.objects()
    }
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
    let ranged = req.headers().contains_key(header::RANGE);

    let started = Instant::now();
    let Verified { claims, expired } = state.verifier.verify_allowing_expired(token).await?;
    state
        .metrics
        .verify_seconds
        .observe(started.elapsed().as_secs_f64());
    req.extensions_mut().insert(LoggedJti(claims.jti));
    let now = shared::time::now_secs();
    let gone = |reason| DownloadError::Gone { reason, ranged };
    // No grant outlives its max age, and none opens after `exp` + leeway.
    if expired && now > claims.exp + state.verifier.leeway() + state.grant_max_age {
        return Err(gone(Gone::Expired));
    }
    if claims.iat < state.replay.epoch().await? {
        // No grant from before the epoch survived it; an expired token is first of all expired.
        return Err(gone(if expired {
            Gone::Expired
        } else {
            Gone::BeforeEpoch
        }));
    }
    if !is_head && is_speculative(req) {
        return Err(DownloadError::Prefetch);
    }

    let location = object_store::path::Path::parse(claims.obj.as_str())
        .map_err(|_| DownloadError::InvalidToken(VerifyError::Claims("obj".into())))?;
    let probe = state.store.probe(&location).await.map_err(storage_error)?;
    let etag = probe.meta.e_tag.as_deref().and_then(quoted_etag);
    let validators = Validators {
        etag: etag.as_deref(),
        last_modified: probe.meta.last_modified.into(),
    };
    if !preconditions_hold(req, &validators) {
        return Err(DownloadError::PreconditionFailed);
    }
    let range = range::evaluate(
        req.headers().get(header::RANGE),
        req.headers().get(header::IF_RANGE),
        probe.meta.size,
        &validators,
    );
    let (status, start, end) = match range {
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
            format!("bytes {start}-{}/{}", end - 1, probe.meta.size),
        ));
    }
    let request = StreamRequest {
        jti: &claims.jti,
        iat: claims.iat,
        exp: claims.exp,
        may_open: !expired,
        // The grant is pinned to this version; an object without an ETag is pinned to its size
        // and modification time.
        etag: &etag.clone().unwrap_or_else(|| {
            format!(
                "{}-{}",
                probe.meta.size,
                probe.meta.last_modified.timestamp_micros()
            )
        }),
        size: probe.meta.size,
        start,
        want: end,
        stream: state.replay.new_stream_id(),
        now,
    };

    if is_head {
        return match state.replay.peek(&request).await? {
            Peeked::Unused | Peeked::Open => {
                let empty: ByteStream = Box::pin(futures_util::stream::empty());
                Ok((
                    Outcome::Head,
                    response.body(SizedStream::new(end - start, empty)),
                ))
            }
            Peeked::Refused(refusal) => Err(refused(refusal, ranged)),
        };
    }

    let lease_end = match state.replay.join(&request).await? {
        Joined::Lease { end } => end,
        Joined::Refused(refusal) => return Err(refused(refusal, ranged)),
    };
    // From here on the stream is the grant's: dropping `leased` closes it, so a failure to open
    // the object gives back what this request took (a grant nothing was sent under is forgotten).
    let leased = Leased {
        replay: Arc::clone(&state.replay),
        jti: claims.jti,
        exp: claims.exp,
        stream: request.stream,
        pos: start,
        lease_end,
        end,
    };
    let inner = open_body(state, &location, probe, start..end).await?;
    let body = body::leased(leased, inner, Arc::clone(&state.metrics));
    let outcome = if status == StatusCode::OK {
        Outcome::Served
    } else {
        Outcome::Partial
    };
    Ok((outcome, response.body(SizedStream::new(end - start, body))))
}

/// How a refusal of the grant is answered.
fn refused(refusal: Refusal, ranged: bool) -> DownloadError {
    let reason = match refusal {
        Refusal::Busy => return DownloadError::Busy,
        Refusal::Spent => Gone::AlreadyUsed,
        Refusal::Ended => Gone::GrantEnded,
        Refusal::Changed => Gone::ObjectChanged,
        Refusal::Expired => Gone::Expired,
        Refusal::BeforeEpoch => Gone::BeforeEpoch,
    };
    DownloadError::Gone { reason, ranged }
}

/// `If-Match` (strong comparison, RFC 9110 §13.1.1) and, without it, `If-Unmodified-Since`:
/// a resuming Firefox sends both, so that it never appends another version's bytes.
fn preconditions_hold(req: &HttpRequest, validators: &Validators<'_>) -> bool {
    if let Some(if_match) = req.headers().get(header::IF_MATCH) {
        let Ok(if_match) = if_match.to_str() else {
            return false;
        };
        return if_match.trim() == "*"
            || if_match
                .split(',')
                .map(str::trim)
                .any(|tag| !tag.starts_with("W/") && Some(tag) == validators.etag);
    }
    if let Some(since) = req.headers().get(header::IF_UNMODIFIED_SINCE)
        && let Ok(since) = since.to_str().unwrap_or_default().parse::<HttpDate>()
    {
        return HttpDate::from(validators.last_modified) <= since;
    }
    true
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
}
