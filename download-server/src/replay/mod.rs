//! The replay store: remembers which `jti`s were used, so that each token is served once.
//!
//! Backends are chosen once from `--replay` and sit behind one enum, so the handler never knows
//! which one it talks to.

pub mod grant;
pub mod memory;
pub mod redis;

pub use grant::{GrantPolicy, Lease, Refusal, Sent};
pub use memory::MemoryReplayStore;
pub use redis::RedisReplayStore;
use shared::Jti;
use std::time::Duration;

/// One request for bytes `[start, want)` of the object version `etag` under token `jti`. The
/// stream id is random per request; a retry with the same id gets the same answer.
#[derive(Debug, Clone, Copy)]
pub struct StreamRequest<'a> {
    pub jti: &'a Jti,
    pub iat: i64,
    pub exp: i64,
    /// Whether the token may still open a grant (it has not expired); an expired one may only
    /// join the grant it opened.
    pub may_open: bool,
    pub etag: &'a str,
    pub size: u64,
    pub start: u64,
    pub want: u64,
    pub stream: u64,
    /// How the stream sends: this server a lease at a time, or a proxy the whole range.
    pub lease: Lease,
    pub now: i64,
}

/// What opening or joining a grant gave.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Joined {
    /// Stream up to `end` (exclusive), then renew.
    Lease {
        end: u64,
    },
    Refused(Refusal),
}

/// A token's grant as HEAD sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Peeked {
    /// Never used: a GET would open the grant.
    Unused,
    /// Open for this version: a GET would join it.
    Open,
    Refused(Refusal),
}

impl Peeked {
    fn of(grant: &grant::Grant, policy: &GrantPolicy, request: &StreamRequest<'_>) -> Self {
        if grant.ended(policy, request.now) {
            Peeked::Refused(Refusal::Ended)
        } else if grant.etag != request.etag {
            Peeked::Refused(Refusal::Changed)
        } else if grant.spent() {
            Peeked::Refused(Refusal::Spent)
        } else {
            Peeked::Open
        }
    }
}

/// How the replay store is opened: the backend URL and its tuning.
#[derive(Debug, Clone)]
pub struct ReplayOptions {
    /// `memory`, or `redis://host:port/db` / `rediss://...`.
    pub spec: String,
    /// Prepended to every Redis key, so deployments can share one Redis.
    pub prefix: String,
    /// Longest a Redis call may take before the request fails closed.
    pub timeout: Duration,
    pub leeway: u32,
    pub max_lifetime: u32,
    pub grants: GrantPolicy,
}

/// The store cannot answer: the caller must fail closed (503), never serve.
#[derive(Debug, thiserror::Error)]
#[error("replay store unavailable: {0}")]
pub struct ReplayUnavailable(pub String);

pub enum ReplayStore {
    Memory(MemoryReplayStore),
    /// Boxed: it is far larger than the memory store's handle.
    Redis(Box<RedisReplayStore>),
}

impl ReplayStore {
    /// Opens the backend named by `--replay`. `leeway` and `max_lifetime` bound how long a `jti`
    /// must be remembered: until its token's `exp` + leeway.
    pub fn open(options: &ReplayOptions) -> anyhow::Result<Self> {
        let (leeway, max_lifetime) = (i64::from(options.leeway), i64::from(options.max_lifetime));
        match options.spec.as_str() {
            "memory" | "memory://" | "memory:///" => Ok(ReplayStore::Memory(
                MemoryReplayStore::new(leeway, max_lifetime, options.grants),
            )),
            url if url.starts_with("redis://") || url.starts_with("rediss://") => {
                Ok(ReplayStore::Redis(Box::new(RedisReplayStore::new(
                    url,
                    &options.prefix,
                    leeway,
                    options.timeout,
                    options.grants,
                )?)))
            }
            _ => anyhow::bail!("unsupported replay store (use memory, redis:// or rediss://)"),
        }
    }

    /// Opens the token's grant (the first request that sends bytes; the `jti` is then used) or
    /// joins it, in one atomic step across every instance.
    /// On Redis, the join waits in its thread's queue for the next join call: one call for the
    /// joins of concurrent requests (`RedisReplayStore::flush_joins`, run by a task this starts
    /// when none is running).
    pub async fn join(
        self: &std::sync::Arc<Self>,
        request: &StreamRequest<'_>,
    ) -> Result<Joined, ReplayUnavailable> {
        let redis = match &**self {
            ReplayStore::Memory(m) => return m.join(request),
            ReplayStore::Redis(r) => r,
        };
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return redis.join(request).await;
        };
        let (answer, start) = redis.queue_join(request);
        if let Some(queue) = start {
            let store = std::sync::Arc::clone(self);
            runtime.spawn(async move {
                if let ReplayStore::Redis(redis) = &*store {
                    redis.flush_joins(&queue).await;
                }
            });
        }
        answer
            .await
            .unwrap_or_else(|_| Err(ReplayUnavailable("the join call was dropped".into())))
    }

    /// What a GET with this token would find, without using anything (HEAD).
    pub async fn peek(&self, request: &StreamRequest<'_>) -> Result<Peeked, ReplayUnavailable> {
        match self {
            ReplayStore::Memory(m) => m.peek(request),
            ReplayStore::Redis(r) => r.peek(request).await,
        }
    }

    /// Stream `stream` sent everything up to `written`: its next lease's end, or `None` (stop).
    pub async fn renew(
        &self,
        jti: &Jti,
        exp: i64,
        stream: u64,
        written: u64,
        now: i64,
    ) -> Result<Option<u64>, ReplayUnavailable> {
        match self {
            ReplayStore::Memory(m) => Ok(m.renew(jti, stream, written, now)),
            ReplayStore::Redis(r) => r.renew(jti, exp, stream, written, now).await,
        }
    }

    /// A stream id no other request uses (on any instance sharing the store).
    pub fn new_stream_id(&self) -> u64 {
        match self {
            ReplayStore::Memory(m) => m.new_stream_id(),
            ReplayStore::Redis(r) => r.new_stream_id(),
        }
    }

    /// Stream `stream` ended having sent `sent`. A grant that nothing was sent under is
    /// forgotten, so the token works again; one whose every byte was sent is spent.
    pub async fn close(
        &self,
        jti: &Jti,
        exp: i64,
        stream: u64,
        sent: Sent,
        now: i64,
    ) -> Result<(), ReplayUnavailable> {
        match self {
            ReplayStore::Memory(m) => {
                m.close(jti, exp, stream, sent, now);
                Ok(())
            }
            ReplayStore::Redis(r) => r.close(jti, exp, stream, sent, now, None).await,
        }
    }

    /// The same close, off the caller's path: memory closes at once; Redis queues it, with the
    /// stream's history `event` (JSON), for the next close call, made by a task this starts when
    /// none is running (`RedisReplayStore::flush_closes`).
    pub fn close_soon(
        self: &std::sync::Arc<Self>,
        jti: &Jti,
        exp: i64,
        stream: u64,
        sent: Sent,
        event: Option<String>,
    ) {
        let redis = match &**self {
            ReplayStore::Memory(m) => {
                m.close(jti, exp, stream, sent, shared::time::now_secs());
                return;
            }
            ReplayStore::Redis(r) => r,
        };
        // Checked before queueing: a close queued with no task to send it would mark a flusher
        // as running and leave every later close waiting behind it.
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            tracing::warn!("no runtime to close a download stream on");
            return;
        };
        if !redis.queue_close(jti, exp, stream, sent, event) {
            return;
        }
        let store = std::sync::Arc::clone(self);
        runtime.spawn(async move {
            if let ReplayStore::Redis(redis) = &*store {
                redis.flush_closes().await;
            }
        });
    }

    /// Tokens issued (`iat`) before this second are refused: the store cannot know whether they
    /// were used before it started (memory) or before Redis lost its data (Redis).
    pub async fn epoch(&self) -> Result<i64, ReplayUnavailable> {
        match self {
            ReplayStore::Memory(m) => Ok(m.epoch()),
            ReplayStore::Redis(r) => r.epoch(),
        }
    }

    /// Whether the store answers right now (`/readyz`).
    pub async fn ready(&self) -> bool {
        match self {
            ReplayStore::Memory(_) => true,
            ReplayStore::Redis(r) => r.ready().await,
        }
    }

    /// Starts background work (expiry sweeping, reconnection).
    pub fn spawn_maintenance(self: &std::sync::Arc<Self>) {
        match **self {
            ReplayStore::Memory(_) => {
                let store = std::sync::Arc::downgrade(self);
                tokio::spawn(async move {
                    let mut tick = tokio::time::interval(std::time::Duration::from_secs(1));
                    loop {
                        tick.tick().await;
                        let Some(store) = store.upgrade() else { return };
                        if let ReplayStore::Memory(m) = &*store {
                            m.sweep(shared::time::now_secs());
                        }
                    }
                });
            }
            ReplayStore::Redis(_) => {
                tokio::spawn(RedisReplayStore::maintain(std::sync::Arc::downgrade(self)));
            }
        }
    }

    pub fn kind(&self) -> &'static str {
        match self {
            ReplayStore::Memory(_) => "memory",
            ReplayStore::Redis(_) => "redis",
        }
    }
}
