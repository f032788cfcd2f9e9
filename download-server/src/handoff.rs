//! Hand-off mode (`--accel-redirect`): to a trusted proxy, a download is answered with an empty
//! body that names the object for the proxy to serve itself (nginx `X-Accel-Redirect`), with the
//! headers nginx keeps across that redirect; the proxy then reports what it really sent
//! (`POST /v1/handoff/report`), so the grant knows and a resume through the proxy works.

use crate::admit::Admitted;
use crate::forwarded::Forwarded;
use crate::problem::DownloadError;
use crate::redeem;
use crate::replay::Sent;
use crate::response_headers::content_type_and_disposition;
use crate::serve::{DownloadState, download_token};
use crate::store::StoreKind;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpMessage, HttpRequest, HttpResponse, web};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

/// Escaped in an object path segment: everything but RFC 3986's unreserved characters.
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// `path` with each segment percent-encoded (nginx decodes an X-Accel-Redirect URI once).
pub(crate) fn encode_path(path: &str) -> String {
    path.split('/')
        .map(|segment| utf8_percent_encode(segment, SEGMENT).to_string())
        .collect::<Vec<_>>()
        .join("/")
}

/// The hand-off answer for an admitted GET: nginx serves `[start, end)` itself (and the client's
/// Range), from the folder (`PREFIX<object>`) or from S3 through a presigned URL
/// (`PREFIXs3/<scheme>/<host>/<path>?<query>`, the path escaped once more because nginx decodes
/// the redirect once before passing the path on verbatim).
pub(crate) async fn respond(
    state: &DownloadState,
    prefix: &str,
    token: &str,
    admitted: &Admitted,
) -> Result<HttpResponse, DownloadError> {
    let target = match state.store.kind() {
        StoreKind::Folder => format!("{prefix}{}", encode_path(admitted.location.as_ref())),
        StoreKind::S3 => {
            let presigner = state
                .store
                .presigner()
                .ok_or_else(|| DownloadError::StorageUnavailable("no presigner".into()))?;
            let url = presigner
                .get_url(&admitted.location, state.presign_ttl)
                .await
                .map_err(|e| DownloadError::StorageUnavailable(e.to_string()))?;
            let authority = match url.port() {
                Some(port) => format!("{}:{port}", url.host_str().unwrap_or_default()),
                None => url.host_str().unwrap_or_default().to_owned(),
            };
            let path = utf8_percent_encode(url.path(), SEGMENT_KEEPING_SLASHES).to_string();
            let query = url.query().map(|q| format!("?{q}")).unwrap_or_default();
            format!("{prefix}s3/{}/{authority}{path}{query}", url.scheme())
        }
        // Refused at start-up: a proxy cannot read this process's memory.
        StoreKind::Memory => {
            return Err(DownloadError::StorageUnavailable(
                "hand-off from a memory store".into(),
            ));
        }
    };
    if let Some((stream, _)) = admitted.stream {
        state
            .pending_reports
            .insert(token, stream, admitted.claims.jti, admitted.claims.exp);
    }
    let (content_type, disposition) =
        content_type_and_disposition(&admitted.claims, &admitted.probe);
    let mut response = HttpResponse::Ok();
    response
        .insert_header((
            "x-accel-redirect",
            HeaderValue::from_str(&target).map_err(|_| DownloadError::UnsafeObject)?,
        ))
        .insert_header((header::CONTENT_TYPE, content_type))
        .insert_header((header::CONTENT_DISPOSITION, disposition))
        .insert_header((
            header::CACHE_CONTROL,
            HeaderValue::from_static("private, no-store"),
        ))
        .insert_header(("x-accel-buffering", HeaderValue::from_static("no")));
    Ok(response.finish())
}

/// Escaped in a presigned URL's (already escaped) path: `%` and what nginx would read as
/// special, keeping `/` so the location can split host and path.
const SEGMENT_KEEPING_SLASHES: &AsciiSet = &SEGMENT.remove(b'/');

/// `POST /v1/handoff/report`: a trusted proxy says how much of a hand-off it sent (nginx
/// `post_action` with `$body_bytes_sent`), and that stream of the grant is closed with it.
pub async fn report(req: HttpRequest, state: web::Data<DownloadState>) -> HttpResponse {
    let result = async {
        let forwarded = Forwarded::of(&req, &state.trusted_proxies);
        // A trusted proxy reports by its request id; an edge (by its key) by its Idempotency-Key.
        let (uri, stream) = if forwarded.trusted() {
            let uri = forwarded.first_of(&["x-original-uri", "x-forwarded-uri"]);
            (uri, forwarded.stream_id())
        } else if redeem::is_edge(&req, &state) {
            let uri = req
                .headers()
                .get("x-original-uri")
                .and_then(|value| value.to_str().ok());
            (uri, redeem::idempotency_stream(&req))
        } else {
            return Err(DownloadError::UntrustedProxy);
        };
        let uri = uri.ok_or_else(|| DownloadError::BadRequest("no X-Original-URI".into()))?;
        // nginx's `$request_uri` keeps the client's query, which the download itself ignored.
        let path = uri.split(['?', '#']).next().unwrap_or_default();
        let token = download_token(path).ok_or_else(|| {
            DownloadError::BadRequest("X-Original-URI is not a download URL".into())
        })?;
        let stream = stream.ok_or_else(|| {
            DownloadError::BadRequest("no X-Request-Id (Idempotency-Key from an edge)".into())
        })?;
        // The caller is authenticated (a trusted peer or an edge key): its headers count.
        let sent: u64 = req
            .headers()
            .get("x-bytes-sent")
            .and_then(|bytes| bytes.to_str().ok())
            .and_then(|bytes| bytes.trim().parse().ok())
            .ok_or_else(|| DownloadError::BadRequest("no X-Bytes-Sent".into()))?;
        // A report for a hand-off made here repeats a token checked a moment ago.
        let (jti, exp) = match state.pending_reports.take(token, stream) {
            Some(known) => known,
            None => {
                let claims = crate::admit::verify(&state, token).await?.claims;
                (claims.jti, claims.exp)
            }
        };
        req.extensions_mut().insert(crate::serve::LoggedJti(jti));
        state
            .replay
            .close(
                &jti,
                exp,
                stream,
                Sent::Count(sent),
                shared::time::now_secs(),
            )
            .await?;
        Ok(())
    }
    .await;
    match result {
        Ok(()) => HttpResponse::NoContent().finish(),
        Err(error) => {
            state.metrics.outcome(error.outcome());
            req.extensions_mut().insert(error.outcome());
            error.respond(false)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_segment_is_escaped_and_slashes_stay() {
        assert_eq!(encode_path("a/b c/ü.txt"), "a/b%20c/%C3%BC.txt");
        assert_eq!(encode_path("x?y#z%"), "x%3Fy%23z%25");
        assert_eq!(encode_path("plain-name_1.~"), "plain-name_1.~");
    }
}
