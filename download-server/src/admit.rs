//! The one pipeline every way of asking for a download goes through: a download URL, a proxy's
//! forward-auth call, an edge's redeem. Verify, check, then open or join the token's grant.
//!
//! Order matters for single use: everything that can refuse without using the token (signature,
//! claims, epoch, prefetch, missing object, preconditions, unsatisfiable range) runs before the
//! one atomic step on the grant. See `replay::grant` for the rules.

use crate::problem::{DownloadError, Gone};
use crate::range::{self, RangeRequest, Validators};
use crate::replay::{Joined, Lease, Peeked, Refusal, StreamRequest};
use crate::response_headers::quoted_etag;
use crate::revocation::Refused;
use crate::serve::DownloadState;
use crate::store::storage_error;
use crate::verify::{Verified, VerifyError};
use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderMap, HeaderValue, HttpDate};
use object_store::GetResult;
use object_store::path::Path;
use shared::Claims;
use std::time::Instant;

/// What a request asks for, wherever it came from.
pub(crate) struct Ask<'a> {
    pub token: &'a str,
    /// HEAD: say what a GET would get, use nothing.
    pub head: bool,
    pub conditions: Conditions<'a>,
    /// A speculative load (prefetch, prerender).
    pub speculative: bool,
    /// The stream id a proxy's retry of the same request repeats (from its request id); a new
    /// random one when absent.
    pub stream: Option<u64>,
    pub lease: Lease,
    /// A proxy will use the object path verbatim as a file path (`X-Dl-Object`): refuse paths
    /// that would need escaping.
    pub verbatim_path: bool,
}

/// Characters an object path may hold to be handed to a proxy verbatim as a file path: nginx does
/// not decode a variable used in `alias` or `try_files`.
fn verbatim_safe(path: &str) -> bool {
    path.bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"-._~/".contains(&b))
}

/// The request's `Range` and conditional headers.
#[derive(Default, Clone, Copy)]
pub(crate) struct Conditions<'a> {
    pub range: Option<&'a HeaderValue>,
    pub if_range: Option<&'a HeaderValue>,
    pub if_match: Option<&'a HeaderValue>,
    pub if_unmodified_since: Option<&'a HeaderValue>,
}

impl<'a> Conditions<'a> {
    pub fn of(headers: &'a HeaderMap) -> Self {
        Conditions {
            range: headers.get(header::RANGE),
            if_range: headers.get(header::IF_RANGE),
            if_match: headers.get(header::IF_MATCH),
            if_unmodified_since: headers.get(header::IF_UNMODIFIED_SINCE),
        }
    }
}

/// A request the grant admitted: what to send, and (for a GET) the stream it sends as.
pub(crate) struct Admitted {
    pub claims: Claims,
    pub location: Path,
    pub probe: GetResult,
    pub etag: Option<String>,
    /// `200` or `206`.
    pub status: StatusCode,
    pub range: std::ops::Range<u64>,
    /// For a GET: the stream's id and its first lease's end.
    pub stream: Option<(u64, u64)>,
}

impl Admitted {
    /// `Content-Range` for a `206`.
    pub fn content_range(&self) -> Option<String> {
        (self.status == StatusCode::PARTIAL_CONTENT).then(|| {
            format!(
                "bytes {}-{}/{}",
                self.range.start,
                self.range.end - 1,
                self.probe.meta.size
            )
        })
    }
}

/// Verifies the token, checks the object and the request, and (GET) opens or joins the grant.
/// `claims` receives the verified claims as soon as there are some, for the access log.
/// Verifies `token` (an expired one too: a grant may outlive it), timed for `/metrics`.
pub(crate) async fn verify(state: &DownloadState, token: &str) -> Result<Verified, DownloadError> {
    let started = Instant::now();
    let verified = state.verifier.verify_allowing_expired(token).await?;
    state
        .metrics
        .verify_seconds
        .observe(started.elapsed().as_secs_f64());
    Ok(verified)
}

pub(crate) async fn admit(
    state: &DownloadState,
    ask: &Ask<'_>,
    on_verified: impl FnOnce(&Claims),
) -> Result<Admitted, DownloadError> {
    let ranged = ask.conditions.range.is_some();
    let Verified { claims, expired } = verify(state, ask.token).await?;
    on_verified(&claims);
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
    if let Some(revocations) = &state.revocations {
        revocations
            .check(&claims, now)
            .map_err(|refused| match refused {
                Refused::Stale => DownloadError::RevocationUnavailable,
                Refused::Revoked(_) | Refused::OutOfWindow => gone(Gone::Revoked),
            })?;
    }
    if !ask.head && ask.speculative {
        return Err(DownloadError::Prefetch);
    }

    let location = Path::parse(claims.obj.as_str())
        .map_err(|_| DownloadError::InvalidToken(VerifyError::Claims("obj".into())))?;
    if ask.verbatim_path && !verbatim_safe(location.as_ref()) {
        return Err(DownloadError::UnsafeObject);
    }
    let probe = state.store.probe(&location).await.map_err(storage_error)?;
    let etag = probe.meta.e_tag.as_deref().and_then(quoted_etag);
    let validators = Validators {
        etag: etag.as_deref(),
        last_modified: probe.meta.last_modified.into(),
    };
    if !preconditions_hold(&ask.conditions, &validators) {
        return Err(DownloadError::PreconditionFailed);
    }
    let (status, start, end) = match range::evaluate(
        ask.conditions.range,
        ask.conditions.if_range,
        probe.meta.size,
        &validators,
    ) {
        RangeRequest::Full => (StatusCode::OK, 0, probe.meta.size),
        RangeRequest::Partial { start, end } => (StatusCode::PARTIAL_CONTENT, start, end + 1),
        RangeRequest::Unsatisfiable => {
            return Err(DownloadError::RangeNotSatisfiable(probe.meta.size));
        }
    };

    // The grant is pinned to this version; an object without an ETag is pinned to its size and
    // modification time.
    let version = etag.clone().unwrap_or_else(|| {
        format!(
            "{}-{}",
            probe.meta.size,
            probe.meta.last_modified.timestamp_micros()
        )
    });
    let request = StreamRequest {
        jti: &claims.jti,
        iat: claims.iat,
        exp: claims.exp,
        may_open: !expired,
        etag: &version,
        size: probe.meta.size,
        start,
        want: end,
        stream: ask.stream.unwrap_or_else(|| state.replay.new_stream_id()),
        lease: ask.lease,
        now,
    };
    let stream = if ask.head {
        match state.replay.peek(&request).await? {
            Peeked::Unused | Peeked::Open => None,
            Peeked::Refused(refusal) => return Err(refused(refusal, ranged)),
        }
    } else {
        match state.replay.join(&request).await? {
            Joined::Lease { end } => Some((request.stream, end)),
            Joined::Refused(refusal) => return Err(refused(refusal, ranged)),
        }
    };
    Ok(Admitted {
        claims,
        location,
        probe,
        etag,
        status,
        range: start..end,
        stream,
    })
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
fn preconditions_hold(conditions: &Conditions<'_>, validators: &Validators<'_>) -> bool {
    if let Some(if_match) = conditions.if_match {
        let Ok(if_match) = if_match.to_str() else {
            return false;
        };
        return if_match.trim() == "*"
            || if_match
                .split(',')
                .map(str::trim)
                .any(|tag| !tag.starts_with("W/") && Some(tag) == validators.etag);
    }
    if let Some(since) = conditions.if_unmodified_since
        && let Ok(since) = since.to_str().unwrap_or_default().parse::<HttpDate>()
    {
        return HttpDate::from(validators.last_modified) <= since;
    }
    true
}

#[cfg(test)]
mod tests {
    use super::verbatim_safe;

    #[test]
    fn only_plain_paths_go_to_a_proxy_verbatim() {
        assert!(verbatim_safe("user-1/0b6e/report_2026.pdf"));
        assert!(!verbatim_safe("a b.txt"));
        assert!(!verbatim_safe("a%2e%2e/b"));
        assert!(!verbatim_safe("\u{fc}.txt"));
    }
}
