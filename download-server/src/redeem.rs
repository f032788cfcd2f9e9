//! `POST /v1/redeem`: for edge workers that verify links themselves (Cloudflare Workers, Deno
//! Deploy, Lambda@Edge) and then need this server to open the token's download. The edge
//! authenticates with a bearer key from `--edge-keys`, the only secret this server holds; it
//! sends the whole token, which is verified again here, so a leaked edge key lets nobody use a
//! link they do not hold.

use crate::admit::{Admitted, Ask, Conditions, admit};
use crate::forwarded::stream_for_key;
use crate::outcome::Outcome;
use crate::problem::DownloadError;
use crate::replay::Lease;
use crate::response_headers::content_type_and_disposition;
use crate::serve::{DownloadState, LoggedJti};
use crate::store::StoreKind;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpMessage, HttpRequest, HttpResponse, web};
use anyhow::Context;
use serde::Deserialize;
use std::path::Path;
use subtle::ConstantTimeEq;

/// The bearer keys edge workers may present. `Debug` never prints them.
pub struct EdgeKeys(Vec<Vec<u8>>);

impl std::fmt::Debug for EdgeKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "EdgeKeys({} keys, redacted)", self.0.len())
    }
}

impl EdgeKeys {
    /// One key per line; blank lines and `#` comments are skipped. At least one key, each of at
    /// least 16 characters.
    pub fn load(path: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading edge keys {}", path.display()))?;
        let keys: Vec<Vec<u8>> = text
            .lines()
            .map(str::trim)
            .filter(|line| !line.is_empty() && !line.starts_with('#'))
            .map(|line| line.as_bytes().to_vec())
            .collect();
        anyhow::ensure!(!keys.is_empty(), "no key in {}", path.display());
        anyhow::ensure!(
            keys.iter().all(|key| key.len() >= 16),
            "every edge key in {} must be at least 16 characters",
            path.display()
        );
        Ok(EdgeKeys(keys))
    }

    /// Whether `presented` is one of the keys, compared in constant time against every key.
    fn accepts(&self, presented: &[u8]) -> bool {
        self.0
            .iter()
            .fold(subtle::Choice::from(0), |found, key| {
                found | key.as_slice().ct_eq(presented)
            })
            .into()
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RedeemRequest {
    token: String,
    /// A `Range` header value (`bytes=0-99`) the edge's client sent.
    #[serde(default)]
    range: Option<String>,
    /// `GET` (default) or `HEAD` (uses nothing).
    #[serde(default)]
    method: Option<String>,
}

pub async fn redeem(
    req: HttpRequest,
    body: web::Bytes,
    state: web::Data<DownloadState>,
) -> HttpResponse {
    let (outcome, response) = match check(&req, &body, &state).await {
        Ok(answer) => (Outcome::Redeemed, answer),
        Err(error) => {
            if matches!(
                error,
                DownloadError::ReplayUnavailable(_) | DownloadError::StorageUnavailable(_)
            ) {
                tracing::warn!(error = %error, "redeem failed closed");
            }
            (error.outcome(), error.respond(false))
        }
    };
    state.metrics.outcome(outcome);
    req.extensions_mut().insert(outcome);
    response
}

async fn check(
    req: &HttpRequest,
    body: &[u8],
    state: &DownloadState,
) -> Result<HttpResponse, DownloadError> {
    if state.edge_keys.is_none() {
        return Err(DownloadError::NoSuchRoute);
    }
    if !is_edge(req, state) {
        return Err(DownloadError::Unauthorized);
    }
    let asked: RedeemRequest =
        serde_json::from_slice(body).map_err(|e| DownloadError::BadRequest(e.to_string()))?;
    let range = asked
        .range
        .as_deref()
        .map(HeaderValue::from_str)
        .transpose()
        .map_err(|_| DownloadError::BadRequest("range is not a header value".into()))?;
    let head = match asked.method.as_deref() {
        None | Some("GET") => false,
        Some("HEAD") => true,
        // A 405 would carry `Allow: GET, HEAD`, untrue of this POST-only resource.
        Some(other) => {
            return Err(DownloadError::BadRequest(format!(
                "method {other:?} is not GET or HEAD"
            )));
        }
    };
    let ask = Ask {
        token: &asked.token,
        head,
        conditions: Conditions {
            range: range.as_ref(),
            ..Conditions::default()
        },
        speculative: false,
        stream: idempotency_stream(req),
        lease: Lease::Whole,
        verbatim_path: false,
    };
    let admitted = admit(state, &ask, |claims| {
        req.extensions_mut().insert(LoggedJti(claims.jti));
    })
    .await?;
    answer(state, &admitted).await
}

/// Whether the request carries one of the edge keys (`Authorization: Bearer <key>`).
pub(crate) fn is_edge(req: &HttpRequest, state: &DownloadState) -> bool {
    let presented = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split_once(' '))
        // The scheme is case-insensitive (RFC 9110 §11.1).
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, key)| key);
    match (&state.edge_keys, presented) {
        (Some(keys), Some(presented)) => keys.accepts(presented.trim().as_bytes()),
        _ => false,
    }
}

/// The stream an edge's `Idempotency-Key` names: the same key, the same stream.
pub(crate) fn idempotency_stream(req: &HttpRequest) -> Option<u64> {
    req.headers()
        .get("idempotency-key")
        .and_then(|value| value.to_str().ok())
        .map(str::trim)
        .filter(|key| !key.is_empty())
        .map(stream_for_key)
}

/// The object's metadata, and for an S3 store a presigned URL to fetch it from.
async fn answer(state: &DownloadState, admitted: &Admitted) -> Result<HttpResponse, DownloadError> {
    let (content_type, disposition) =
        content_type_and_disposition(&admitted.claims, &admitted.probe);
    let (url, url_expires_at) = match (state.store.kind(), state.store.presigner()) {
        (StoreKind::S3, Some(presigner)) if admitted.stream.is_some() => {
            let url = presigner
                .get_url(&admitted.location, state.presign_ttl)
                .await
                .map_err(|e| DownloadError::StorageUnavailable(e.to_string()))?;
            let expires = shared::time::now_secs() + state.presign_ttl.as_secs() as i64;
            (Some(url.to_string()), Some(expires))
        }
        _ => (None, None),
    };
    let claims = &admitted.claims;
    let body = serde_json::json!({
        "jti": claims.jti.to_string(),
        "obj": claims.obj.as_str(),
        "name": claims.name,
        "exp": claims.exp,
        "size": admitted.probe.meta.size,
        "etag": admitted.etag,
        "content_type": content_type,
        "content_disposition": disposition,
        "status": admitted.status.as_u16(),
        "content_range": admitted.content_range(),
        "url": url,
        "url_expires_at": url_expires_at,
    });
    Ok(HttpResponse::Ok()
        .insert_header((
            header::CACHE_CONTROL,
            HeaderValue::from_static("private, no-store"),
        ))
        .content_type("application/json")
        .body(body.to_string()))
}

#[cfg(test)]
mod tests {
    use super::EdgeKeys;

    #[test]
    fn keys_load_skipping_comments_and_compare_exactly() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("edge-keys");
        std::fs::write(
            &path,
            "# rotated in 2026-11\nfirst-key-0123456789\n\n  second-key-0123456789  \n",
        )
        .unwrap();
        let keys = EdgeKeys::load(&path).unwrap();
        assert!(keys.accepts(b"first-key-0123456789"));
        assert!(keys.accepts(b"second-key-0123456789"));
        assert!(!keys.accepts(b"first-key-012345678"));
        assert!(!keys.accepts(b""));
        assert!(!format!("{keys:?}").contains("first"));
        std::fs::write(&path, "short\n").unwrap();
        assert!(EdgeKeys::load(&path).is_err());
        std::fs::write(&path, "# nothing\n").unwrap();
        assert!(EdgeKeys::load(&path).is_err());
    }
}
