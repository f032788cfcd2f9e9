//! Download history: what this server did with each token, kept as an event feed that the app
//! server pulls (`GET /v1/events`, `docs/history.md`). A `stream` event when a response that sent
//! object bytes ends (however it ends), a `refused` event when a validly signed token is refused
//! as gone. Memory mode keeps a bounded ring of this instance's events; Redis mode appends to
//! one stream shared by every instance. Recording never delays or fails a download: a lost
//! event is a gap in the history, never a refusal.

mod pull;
mod ring;

pub(crate) use pull::events;

use crate::replay::ReplayStore;
use ring::Ring;
use serde::Serialize;
use std::sync::Arc;

/// Events kept at most (memory: the ring; Redis: the stream, trimmed approximately).
pub const MAX_EVENTS: usize = 100_000;
/// Longest `User-Agent` kept.
const MAX_UA: usize = 256;

/// One event, as the feed answers it (without its `id`, given when stored).
#[derive(Debug, Clone, Serialize)]
pub struct Event {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub at: i64,
    pub jti: String,
    pub sub: String,
    pub obj: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub started_at: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub start: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sent: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ip: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ua: Option<String>,
}

/// Who asked: the client as the trusted-proxy rules allow, and its user agent.
#[derive(Debug, Clone, Default)]
pub struct Client {
    pub ip: Option<String>,
    pub ua: Option<String>,
}

impl Client {
    pub fn new(ip: Option<std::net::IpAddr>, ua: Option<&str>) -> Self {
        Client {
            ip: ip.map(|ip| ip.to_string()),
            ua: ua.map(|ua| {
                let mut end = ua.len().min(MAX_UA);
                while !ua.is_char_boundary(end) {
                    end -= 1;
                }
                ua[..end].to_owned()
            }),
        }
    }
}

/// Where events go.
pub enum History {
    Memory(Ring),
    Redis(Arc<ReplayStore>),
}

impl History {
    pub fn for_store(replay: &Arc<ReplayStore>) -> Self {
        match **replay {
            ReplayStore::Memory(_) => History::Memory(Ring::new(MAX_EVENTS)),
            ReplayStore::Redis(_) => History::Redis(Arc::clone(replay)),
        }
    }

    /// Records a stream's `event` at once where that is local (memory); in Redis mode returns
    /// its JSON for the stream's close, which appends it in the same script call.
    pub fn record_or_hand_over(&self, event: &Event) -> Option<String> {
        let json = serde_json::to_string(event).ok()?;
        match self {
            History::Memory(ring) => {
                ring.push(json);
                None
            }
            History::Redis(_) => Some(json),
        }
    }

    /// Records `event` (Redis: in the background, off the response's path).
    pub fn record(self: &Arc<Self>, event: &Event) {
        let Ok(json) = serde_json::to_string(event) else {
            return;
        };
        match &**self {
            History::Memory(ring) => ring.push(json),
            History::Redis(replay) => {
                let replay = Arc::clone(replay);
                let Ok(runtime) = tokio::runtime::Handle::try_current() else {
                    return;
                };
                runtime.spawn(async move {
                    if let ReplayStore::Redis(redis) = &*replay
                        && let Err(error) = redis.append_event(&json).await
                    {
                        tracing::warn!(%error, "could not record a download event");
                    }
                });
            }
        }
    }
}

/// A page of the feed.
#[derive(Debug, Serialize)]
pub struct Page {
    pub events: Vec<serde_json::Value>,
    pub next: String,
    pub gap: bool,
}
