//! `GET`/`HEAD /d/{token}[/{filename}]`: admit (verify, check, open or join the token's grant;
//! `admit`), then stream, or hand the bytes off to a trusted proxy (`handoff`). A failure to open
//! the object after admitting gives back what this request took. A token grants one copy of the
//! object's bytes, not one response: see `replay::grant` for the rules, `body` for how a stream
//! keeps to them.

use crate::admit::{Admitted, Ask, Conditions, admit};
use crate::body::{self, Leased, Source};
use crate::forwarded::Forwarded;
use crate::handoff;
use crate::history::{self, Client, Event};
use crate::metrics::Metrics;
use crate::negotiate::prefers_html;
use crate::outcome::Outcome;
use crate::problem::DownloadError;
use crate::redeem::EdgeKeys;
use crate::replay::{Lease, ReplayStore, Sent};
use crate::response_headers::{content_headers, is_speculative};
use crate::store::{Store, storage_error};
use crate::stream::{self, ByteStream};
use crate::verify::Verifier;
use actix_web::body::{BodyStream, SizedStream};
use actix_web::http::header;
use actix_web::http::{Method, StatusCode, Version};
use actix_web::{HttpMessage, HttpRequest, HttpResponse, web};
use futures_util::StreamExt;
use object_store::{GetOptions, GetRange, GetResult, GetResultPayload};
use shared::Jti;
use std::sync::Arc;

/// Everything a download handler needs, shared by all workers.
pub struct DownloadState {
    pub(crate) verifier: Verifier,
    /// The replay store (tests and benchmarks look at its epoch).
    pub replay: Arc<ReplayStore>,
    pub(crate) store: Store,
    pub(crate) metrics: Arc<Metrics>,
    pub(crate) read_chunk: usize,
    /// `--sendfile`: cached local files go to the socket with sendfile(2).
    pub(crate) sendfile: bool,
    /// `--grant-max-age`: an expired token older than its `exp` + leeway + this has no grant.
    pub(crate) grant_max_age: i64,
    pub(crate) trusted_proxies: server_kit::trusted_proxies::TrustedProxies,
    /// `--accel-redirect`: hand-off mode's prefix.
    pub(crate) accel_redirect: Option<String>,
    /// `--edge-keys`: who may call `/v1/redeem`.
    pub(crate) edge_keys: Option<EdgeKeys>,
    pub(crate) presign_ttl: std::time::Duration,
    /// Hand-offs awaiting their proxy's report.
    pub(crate) pending_reports: crate::pending_reports::PendingReports,
    /// `--revocations`: the app server's revocation state, when configured.
    pub revocations: Option<Arc<crate::revocation::Revocations>>,
    /// The download events the app server pulls (`/v1/events`).
    pub(crate) history: Arc<crate::history::History>,
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
    let head = req.method() == Method::HEAD;
    let forwarded = Forwarded::of(req, &state.trusted_proxies);
    // A trusted proxy in hand-off mode serves the bytes of a GET itself (HEAD stays here).
    let handoff = state
        .accel_redirect
        .as_deref()
        .filter(|_| forwarded.trusted() && !head);
    let ask = Ask {
        token,
        head,
        conditions: Conditions::of(req.headers()),
        speculative: is_speculative(req),
        stream: forwarded.stream_id(),
        lease: if handoff.is_some() {
            Lease::Whole
        } else {
            Lease::Renewed
        },
        verbatim_path: false,
    };
    let client = || {
        history::Client::new(
            forwarded.client_ip(&state.trusted_proxies),
            req.headers()
                .get(header::USER_AGENT)
                .and_then(|v| v.to_str().ok()),
        )
    };
    let mut named: Option<(Jti, String, String)> = None;
    let admitted = match admit(state, &ask, |claims| {
        req.extensions_mut().insert(LoggedJti(claims.jti));
        named = Some((
            claims.jti,
            claims.sub.clone(),
            claims.obj.as_str().to_owned(),
        ));
    })
    .await
    {
        Ok(admitted) => admitted,
        Err(error) => {
            if let (DownloadError::Gone { .. }, Some((jti, sub, obj))) = (&error, named) {
                let Client { ip, ua } = client();
                state.history.record(&Event {
                    kind: "refused",
                    at: shared::time::now_secs(),
                    jti: jti.to_string(),
                    sub,
                    obj,
                    size: None,
                    started_at: None,
                    start: None,
                    sent: None,
                    reason: Some(error.outcome().as_str()),
                    status: Some(error.status().as_u16()),
                    ip,
                    ua,
                });
            }
            return Err(error);
        }
    };
    if let Some(prefix) = handoff {
        let response = match handoff::respond(state, prefix, token, &admitted).await {
            Ok(response) => response,
            Err(error) => {
                give_back(state, &admitted).await;
                return Err(error);
            }
        };
        return Ok((Outcome::HandedOff, response));
    }

    let mut response = HttpResponse::build(admitted.status);
    content_headers(
        &mut response,
        &admitted.claims,
        &admitted.probe,
        admitted.etag.as_deref(),
    );
    if forwarded.trusted() {
        // A proxy in front must pass the bytes on as they come: the grant counts what this
        // server sent, and a proxy that read ahead would make a cut-off client's loss invisible.
        // Only to a trusted proxy (nginx consumes it): no X-Accel-* header ever reaches a client.
        response.insert_header(("x-accel-buffering", header::HeaderValue::from_static("no")));
    }
    if let Some(content_range) = admitted.content_range() {
        response.insert_header((header::CONTENT_RANGE, content_range));
    }
    let Admitted {
        claims,
        location,
        probe,
        status,
        range,
        stream,
        ..
    } = admitted;
    let len = range.end - range.start;
    let Some((stream, lease_end)) = stream else {
        let empty: ByteStream = Box::pin(futures_util::stream::empty());
        return Ok((Outcome::Head, response.body(SizedStream::new(len, empty))));
    };
    // From here on the stream is the grant's: dropping `leased` closes it, so a failure to open
    // the object gives back what this request took (a grant nothing was sent under is forgotten).
    let record = named.map(|(jti, sub, obj)| {
        let Client { ip, ua } = client();
        body::Record {
            history: Arc::clone(&state.history),
            event: Event {
                kind: "stream",
                at: 0,
                jti: jti.to_string(),
                sub,
                obj,
                size: Some(probe.meta.size),
                started_at: Some(shared::time::now_secs()),
                start: Some(range.start),
                sent: None,
                reason: None,
                status: None,
                ip,
                ua,
            },
        }
    });
    let leased = Leased {
        record,
        replay: Arc::clone(&state.replay),
        jti: claims.jti,
        exp: claims.exp,
        stream,
        pos: range.start,
        lease_end,
        end: range.end,
        revocation: state
            .revocations
            .as_ref()
            .map(|r| crate::revocation::Watch::new(Arc::clone(r), claims)),
    };
    let source = open_body(req, state, &location, probe, range).await?;
    let zero_copy = matches!(source, Source::File(_));
    let body = body::leased(leased, source, Arc::clone(&state.metrics));
    let outcome = if status == StatusCode::OK {
        Outcome::Served
    } else {
        Outcome::Partial
    };
    let response = if zero_copy {
        // The body yields no bytes itself (the connection sends them): a stream without
        // chunking, under the same Content-Length a sized body would get.
        response.no_chunking(len).body(BodyStream::new(body))
    } else {
        response.body(SizedStream::new(len, body))
    };
    Ok((outcome, response))
}

/// Files smaller than this go through memory: headers and body then share one write.
const SENDFILE_MIN: u64 = 64 * 1024;

/// The connection's sendfile slot when this response may use it: `--sendfile on`, a GET over
/// HTTP/1.1 on a connection that has one (HEAD sends no body; HTTP/2 frames it), a body of more
/// than `SENDFILE_MIN`, and the range in the page cache (sendfile on the worker must not wait
/// for a disk).
fn sendfile_slot(
    req: &HttpRequest,
    state: &DownloadState,
    file: &std::fs::File,
    range: &std::ops::Range<u64>,
) -> Option<crate::sendfile::Slot> {
    let eligible = state.sendfile
        && req.method() == Method::GET
        && req.version() == Version::HTTP_11
        && range.end - range.start > SENDFILE_MIN;
    if !eligible {
        return None;
    }
    let slot = req.conn_data::<crate::sendfile::Slot>()?.clone();
    crate::sendfile::is_cached(file, range.clone()).then_some(slot)
}

/// Closes an admitted stream that sent nothing (the answer failed before any byte): a grant
/// nothing was sent under is forgotten, so the link works again.
pub(crate) async fn give_back(state: &DownloadState, admitted: &Admitted) {
    let Some((stream, _)) = admitted.stream else {
        return;
    };
    let claims = &admitted.claims;
    let closed = state
        .replay
        .close(
            &claims.jti,
            claims.exp,
            stream,
            Sent::Count(0),
            shared::time::now_secs(),
        )
        .await;
    if let Err(error) = closed {
        tracing::warn!(%error, "could not give back a stream that sent nothing");
    }
}

/// Local files were already opened by the probe: send that very file, with sendfile when
/// `sendfile_slot` allows, else read in chunks. Other stores get one ranged GET, pinned to the
/// ETag seen by the probe so the object cannot change in between.
async fn open_body(
    req: &HttpRequest,
    state: &DownloadState,
    location: &object_store::path::Path,
    probe: GetResult,
    range: std::ops::Range<u64>,
) -> Result<Source, DownloadError> {
    if let GetResultPayload::File(file, _) = probe.payload {
        if let Some(slot) = sendfile_slot(req, state, &file, &range) {
            let source = crate::sendfile::FileSource::new(file, slot, Arc::clone(&state.metrics));
            return Ok(Source::File(source));
        }
        return Ok(Source::chunks(stream::local_file(
            file,
            range,
            state.read_chunk,
        )));
    }
    if range.is_empty() {
        return Ok(Source::chunks(Box::pin(futures_util::stream::empty())));
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
    Ok(Source::chunks(Box::pin(
        result
            .into_stream()
            .map(|chunk| chunk.map_err(std::io::Error::other)),
    )))
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
