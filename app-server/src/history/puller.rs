//! One task per app server that follows a download server's event feed: it long-polls
//! `GET {--download-events}?after=<cursor>`, authenticated by a 60-second token signed with the
//! signing key, and stores each answer's events with its `next` cursor in one transaction. The
//! task stops with the server (it holds only a weak reference to the app state).

use crate::db::{self, history::EventRow};
use crate::state::AppState;
use anyhow::Context;
use serde::{Deserialize, Serialize};
use shared::SigningKey;
use std::sync::Weak;
use std::time::Duration;
use url::Url;

/// The pull token's `typ` and `aud` (docs/history.md).
pub const PULL_TYP: &str = "dl-events+jwt";
pub const PULL_AUD: &str = "urn:dl:events";
/// How long a pull token lives (the feed accepts at most 60 s).
const PULL_TTL_SECS: i64 = 60;
/// How long the feed may hold a request when there is nothing new, and most events per answer.
const WAIT_SECS: u64 = 20;
const LIMIT: u32 = 500;
/// Beyond the wait: time for the answer itself.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(WAIT_SECS + 15);
/// The pause after a failed pull.
const BACKOFF: Duration = Duration::from_secs(1);
/// How often a waiting puller checks that its server still runs.
const STOP_CHECK: Duration = Duration::from_millis(200);

#[derive(Serialize)]
struct PullClaims<'a> {
    iss: &'a str,
    aud: &'a str,
    iat: i64,
    exp: i64,
    jti: String,
}

/// A fresh pull token: `{"alg":"EdDSA","typ":"dl-events+jwt","kid":…}`, `iss` = `issuer`,
/// `aud` = `urn:dl:events`, valid 60 s.
pub fn pull_token(key: &SigningKey, issuer: &str) -> anyhow::Result<String> {
    let mut header = jsonwebtoken::Header::new(shared::TOKEN_ALG);
    header.typ = Some(PULL_TYP.to_owned());
    header.kid = Some(key.kid().to_owned());
    let iat = shared::time::now_secs();
    let claims = PullClaims {
        iss: issuer,
        aud: PULL_AUD,
        iat,
        exp: iat + PULL_TTL_SECS,
        jti: uuid::Uuid::new_v4().to_string(),
    };
    Ok(jsonwebtoken::encode(&header, &claims, key.encoding_key())?)
}

/// One answer of the feed.
#[derive(Debug, Deserialize)]
struct Page {
    events: Vec<WireEvent>,
    next: String,
    #[serde(default)]
    gap: bool,
}

/// One event as sent; what a type does not carry is absent.
#[derive(Debug, Deserialize)]
struct WireEvent {
    id: String,
    #[serde(rename = "type")]
    kind: String,
    at: i64,
    #[serde(default)]
    jti: String,
    #[serde(default)]
    sub: String,
    #[serde(default)]
    obj: String,
    size: Option<i64>,
    started_at: Option<i64>,
    start: Option<i64>,
    sent: Option<i64>,
    ip: Option<String>,
    ua: Option<String>,
    reason: Option<String>,
    status: Option<i64>,
}

impl From<WireEvent> for EventRow {
    fn from(e: WireEvent) -> Self {
        EventRow {
            id: e.id,
            kind: e.kind,
            at: e.at,
            jti: e.jti,
            user_id: e.sub,
            object_path: e.obj,
            size: e.size,
            started_at: e.started_at,
            start_byte: e.start,
            sent: e.sent,
            ip: e.ip,
            ua: e.ua,
            reason: e.reason,
            status: e.status,
        }
    }
}

/// Starts following `source` for the server whose state `state` is.
pub fn spawn(state: Weak<AppState>, source: Url) {
    tokio::spawn(async move {
        let client = match reqwest::Client::builder()
            .timeout(REQUEST_TIMEOUT)
            .user_agent("app-server history puller")
            .build()
        {
            Ok(client) => client,
            Err(error) => {
                tracing::error!(%error, "could not build the history puller's HTTP client");
                return;
            }
        };
        let mut failing = false;
        let mut in_gap = false;
        loop {
            let pulled = tokio::select! {
                pulled = pull_once(&client, &state, &source) => pulled,
                () = stopped(&state) => return,
            };
            match pulled {
                Ok(Some(gap)) => {
                    if failing {
                        tracing::info!(source = %source, "download events can be pulled again");
                        failing = false;
                    }
                    if gap && !in_gap {
                        tracing::warn!(source = %source,
                            "the download server may have lost events: the history has a gap");
                    }
                    in_gap = gap;
                }
                Ok(None) => return,
                Err(error) => {
                    if !failing {
                        tracing::warn!(source = %source, error = format!("{error:#}"),
                            "could not pull download events; retrying every second");
                        failing = true;
                    }
                    tokio::select! {
                        () = tokio::time::sleep(BACKOFF) => {}
                        () = stopped(&state) => return,
                    }
                }
            }
        }
    });
}

/// One pull and its storage; `None` when the server has stopped, else whether the answer
/// reported a gap.
async fn pull_once(
    client: &reqwest::Client,
    state: &Weak<AppState>,
    source: &Url,
) -> anyhow::Result<Option<bool>> {
    let Some((pool, token)) = state.upgrade().map(|s| {
        let token = pull_token(s.keys.minter.key(), &s.revocations.issuer);
        (s.pool.clone(), token)
    }) else {
        return Ok(None);
    };
    let token = token?;
    let seen = db::history::cursor(&pool, source.as_str())
        .await
        .context("reading the cursor")?;
    let mut url = source.clone();
    {
        let mut query = url.query_pairs_mut();
        if let Some(cursor) = &seen {
            query.append_pair("after", cursor);
        }
        query
            .append_pair("wait", &WAIT_SECS.to_string())
            .append_pair("limit", &LIMIT.to_string());
    }
    let response = client
        .get(url)
        .bearer_auth(token)
        .send()
        .await
        .map_err(reqwest::Error::without_url)
        .context("asking the feed")?;
    let status = response.status();
    if !status.is_success() {
        anyhow::bail!("the feed answered {status}");
    }
    let page: Page = response
        .json()
        .await
        .map_err(reqwest::Error::without_url)
        .context("reading the feed's answer")?;
    let events: Vec<EventRow> = page.events.into_iter().map(EventRow::from).collect();
    let stored = db::history::store(
        &pool,
        source.as_str(),
        &events,
        seen.as_deref(),
        &page.next,
        shared::time::now_secs(),
    )
    .await
    .context("storing download events")?;
    if !events.is_empty() {
        tracing::debug!(received = events.len(), stored, "download events pulled");
    }
    Ok(Some(page.gap))
}

/// Completes once the server is gone (no strong reference to its state is left).
async fn stopped(state: &Weak<AppState>) {
    while state.strong_count() > 0 {
        tokio::time::sleep(STOP_CHECK).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jsonwebtoken::{DecodingKey, Validation};

    #[test]
    fn the_pull_token_has_the_feeds_header_and_claims() {
        let key = SigningKey::generate().unwrap();
        let token = pull_token(&key, "https://app.test").unwrap();
        let header = jsonwebtoken::decode_header(&token).unwrap();
        assert_eq!(header.alg, jsonwebtoken::Algorithm::EdDSA);
        assert_eq!(header.typ.as_deref(), Some("dl-events+jwt"));
        assert_eq!(header.kid.as_deref(), Some(key.kid()));
        let mut validation = Validation::new(jsonwebtoken::Algorithm::EdDSA);
        validation.set_audience(&["urn:dl:events"]);
        validation.set_issuer(&["https://app.test"]);
        let claims = jsonwebtoken::decode::<serde_json::Value>(
            &token,
            &DecodingKey::from_ed_components(&key.public_jwk().x).unwrap(),
            &validation,
        )
        .unwrap()
        .claims;
        assert_eq!(
            claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(),
            60
        );
        assert!(uuid::Uuid::parse_str(claims["jti"].as_str().unwrap()).is_ok());
    }

    #[test]
    fn the_documented_answer_parses() {
        let page: Page = serde_json::from_str(
            r#"{"events":[{"id":"e1","type":"stream","at":5,"jti":"j","sub":"u","obj":"u/u/f",
                "size":10,"started_at":4,"start":0,"sent":10,"ip":"203.0.113.7","ua":"curl/8"},
               {"id":"e2","type":"refused","at":6,"jti":"j","sub":"u","obj":"u/u/f",
                "reason":"already_used","status":410}],"next":"c2","gap":false}"#,
        )
        .unwrap();
        let rows: Vec<EventRow> = page.events.into_iter().map(EventRow::from).collect();
        assert_eq!(rows[0].start_byte, Some(0));
        assert_eq!(rows[0].object_path, "u/u/f");
        assert_eq!(rows[1].reason.as_deref(), Some("already_used"));
        assert_eq!(rows[1].ip, None);
        assert_eq!(page.next, "c2");
    }
}
