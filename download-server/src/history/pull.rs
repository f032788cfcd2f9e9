//! `GET /v1/events`: the app server pulls the feed with a short-lived token signed by its own
//! signing key (`typ: dl-events+jwt`, `aud: urn:dl:events`), checked with the keys this server
//! already trusts for download tokens; their `typ` keeps the two apart (RFC 8725 §3.11).

use super::{History, Page};
use crate::problem::DownloadError;
use crate::replay::ReplayStore;
use crate::serve::DownloadState;
use crate::verify::{VerifyError, json_object_text, verified_payload};
use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;
use std::time::{Duration, Instant};

pub const EVENTS_TYP: &str = "dl-events+jwt";
pub const EVENTS_AUD: &str = "urn:dl:events";
/// Longest a pull token may live.
const MAX_PULL_LIFETIME: i64 = 60;
const DEFAULT_LIMIT: usize = 500;
const MAX_LIMIT: usize = 1000;
const MAX_WAIT: u64 = 25;
/// How often a waiting Redis-mode pull looks again.
const REDIS_POLL: Duration = Duration::from_millis(250);

#[derive(Deserialize)]
struct PullClaims {
    iss: String,
    aud: String,
    iat: i64,
    exp: i64,
}

#[derive(Deserialize)]
pub(crate) struct Query {
    after: Option<String>,
    limit: Option<String>,
    wait: Option<String>,
}

pub(crate) async fn events(
    req: HttpRequest,
    query: Result<web::Query<Query>, actix_web::Error>,
    state: web::Data<DownloadState>,
) -> HttpResponse {
    let html = crate::negotiate::prefers_html(&req);
    match answer(&req, query, &state).await {
        Ok(page) => HttpResponse::Ok()
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .json(page),
        Err(error) => {
            if matches!(error, DownloadError::ReplayUnavailable(_)) {
                tracing::warn!(%error, "could not read download events");
            }
            error.respond(html)
        }
    }
}

async fn answer(
    req: &HttpRequest,
    query: Result<web::Query<Query>, actix_web::Error>,
    state: &DownloadState,
) -> Result<Page, DownloadError> {
    authorize(req, state).await?;
    let bad = |what: &str| DownloadError::BadRequest(what.to_owned());
    let query = query.map_err(|_| bad("query"))?;
    let after = query.after.as_deref().filter(|a| !a.is_empty());
    if after.is_some_and(|a| a.len() > 64) {
        return Err(bad("after"));
    }
    let limit = match query.limit.as_deref() {
        None => DEFAULT_LIMIT,
        Some(n) => n
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=MAX_LIMIT).contains(n))
            .ok_or_else(|| bad("limit"))?,
    };
    let wait = match query.wait.as_deref() {
        None => 0,
        Some(n) => n
            .parse::<u64>()
            .ok()
            .filter(|n| *n <= MAX_WAIT)
            .ok_or_else(|| bad("wait"))?,
    };
    let deadline = Instant::now() + Duration::from_secs(wait);
    loop {
        let (page, arrival) = match &*state.history {
            History::Memory(ring) => {
                let arrival = ring.arrival();
                let read = ring.read(after, limit);
                (
                    Page {
                        events: with_ids(read.events),
                        next: read.next,
                        gap: read.gap,
                    },
                    Some(arrival),
                )
            }
            History::Redis(replay) => (redis_page(replay, after, limit).await?, None),
        };
        let remaining = deadline.saturating_duration_since(Instant::now());
        if !page.events.is_empty() || remaining.is_zero() {
            return Ok(page);
        }
        match arrival {
            Some(arrival) => {
                let _ = tokio::time::timeout(remaining, arrival).await;
            }
            None => tokio::time::sleep(remaining.min(REDIS_POLL)).await,
        }
    }
}

/// The events with their cursors as `id`.
fn with_ids(events: Vec<(String, String)>) -> Vec<serde_json::Value> {
    events
        .into_iter()
        .filter_map(|(id, json)| {
            let mut event: serde_json::Value = serde_json::from_str(&json).ok()?;
            event
                .as_object_mut()?
                .insert("id".into(), serde_json::Value::String(id));
            Some(event)
        })
        .collect()
}

/// A Redis cursor is `r` + a stream id; anything else (a memory-mode cursor, garbage) reads from
/// the oldest event and says there may be a gap.
async fn redis_page(
    replay: &ReplayStore,
    after: Option<&str>,
    limit: usize,
) -> Result<Page, DownloadError> {
    let ReplayStore::Redis(redis) = replay else {
        return Err(DownloadError::ReplayUnavailable("not a Redis store".into()));
    };
    let id = after.map(|a| a.strip_prefix('r').filter(|id| is_stream_id(id)));
    let foreign = matches!(id, Some(None));
    let id = id.flatten();
    let (events, oldest) = redis.events_after(id, limit).await?;
    let gap = foreign
        || id
            .zip(oldest.as_deref())
            .is_some_and(|(id, oldest)| stream_id_key(oldest) > stream_id_key(id));
    let next = match events.last() {
        Some((last, _)) => format!("r{last}"),
        None => format!("r{}", id.unwrap_or("0-0")),
    };
    let events = events
        .into_iter()
        .map(|(id, json)| (format!("r{id}"), json))
        .collect();
    Ok(Page {
        events: with_ids(events),
        next,
        gap,
    })
}

fn is_stream_id(id: &str) -> bool {
    id.split_once('-').is_some_and(|(ms, seq)| {
        !ms.is_empty()
            && !seq.is_empty()
            && ms.len() <= 20
            && seq.len() <= 20
            && ms.bytes().chain(seq.bytes()).all(|b| b.is_ascii_digit())
    })
}

fn stream_id_key(id: &str) -> (u64, u64) {
    let (ms, seq) = id.split_once('-').unwrap_or((id, "0"));
    (ms.parse().unwrap_or(0), seq.parse().unwrap_or(0))
}

/// A bearer pull token: signed by a key in the token JWKS with the events `typ`, our issuer,
/// the events audience, alive now, living at most a minute.
async fn authorize(req: &HttpRequest, state: &DownloadState) -> Result<(), DownloadError> {
    let token = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim())
        .filter(|t| t.len() <= shared::MAX_TOKEN_LEN)
        .ok_or(DownloadError::Unauthorized)?;
    let keys = state.verifier.keys();
    let payload = match verified_payload(token, &keys.current(), EVENTS_TYP) {
        Err(VerifyError::UnknownKid(kid)) if keys.refresh_for_unknown_kid(&kid).await => {
            verified_payload(token, &keys.current(), EVENTS_TYP)
        }
        other => other,
    }
    .map_err(|_| DownloadError::Unauthorized)?;
    let claims: PullClaims = json_object_text(&payload)
        .and_then(|text| serde_json::from_str(text).ok())
        .ok_or(DownloadError::Unauthorized)?;
    let (now, leeway) = (shared::time::now_secs(), state.verifier.leeway());
    let valid = claims.iss == state.verifier.issuer()
        && claims.aud == EVENTS_AUD
        && claims.iat <= now + leeway
        && claims.exp >= now - leeway
        && claims.exp >= claims.iat
        && claims.exp - claims.iat <= MAX_PULL_LIFETIME;
    if valid {
        Ok(())
    } else {
        Err(DownloadError::Unauthorized)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_stream_ids_are_redis_cursors() {
        assert!(is_stream_id("1764650012000-0"));
        assert!(!is_stream_id("1764650012000"));
        assert!(!is_stream_id("-0"));
        assert!(!is_stream_id("1-a"));
        assert!(!is_stream_id("1-2 + COUNT 1"));
        assert!(stream_id_key("10-1") > stream_id_key("9-7"));
        assert!(stream_id_key("10-1") > stream_id_key("10-0"));
    }
}
