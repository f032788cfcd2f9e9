//! The replay store: remembers which `jti`s were used, so that each token is served once.
//!
//! Backends are chosen once from `--replay` and sit behind one enum, so the handler never knows
//! which one it talks to.

pub mod memory;
pub mod redis;

pub use memory::MemoryReplayStore;
pub use redis::RedisReplayStore;
use shared::Jti;
use std::time::Duration;

/// What consuming a `jti` found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Consumed {
    /// This request is the one and only use; the receipt lets it release exactly its own mark.
    First(Receipt),
    /// Someone used this token before.
    AlreadyUsed,
    /// The token was issued before the store's epoch: the store cannot know whether it was used.
    BeforeEpoch,
}

/// Proof of one particular consumption, so a release never deletes another request's mark.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Receipt(pub u128);

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
                MemoryReplayStore::new(leeway, max_lifetime),
            )),
            url if url.starts_with("redis://") || url.starts_with("rediss://") => {
                Ok(ReplayStore::Redis(Box::new(RedisReplayStore::new(
                    url,
                    &options.prefix,
                    leeway,
                    options.timeout,
                )?)))
            }
            _ => anyhow::bail!("unsupported replay store (use memory, redis:// or rediss://)"),
        }
    }

    /// Atomically marks `jti` used, unless its token was issued (`iat`) before the epoch. Of any
    /// number of concurrent calls with one `jti`, exactly one gets `First`.
    pub async fn consume(
        &self,
        jti: &Jti,
        iat: i64,
        exp: i64,
    ) -> Result<Consumed, ReplayUnavailable> {
        match self {
            ReplayStore::Memory(m) if iat < m.epoch() => Ok(Consumed::BeforeEpoch),
            ReplayStore::Memory(m) => m.consume(jti, exp),
            ReplayStore::Redis(r) => r.consume(jti, iat, exp).await,
        }
    }

    /// Whether `jti` was used, without using it (HEAD).
    pub async fn is_used(&self, jti: &Jti, exp: i64) -> Result<bool, ReplayUnavailable> {
        match self {
            ReplayStore::Memory(m) => m.is_used(jti, exp),
            ReplayStore::Redis(r) => r.is_used(jti).await,
        }
    }

    /// Forgets the use `receipt` made, when its request failed before sending the first byte.
    pub async fn release(
        &self,
        jti: &Jti,
        exp: i64,
        receipt: Receipt,
    ) -> Result<(), ReplayUnavailable> {
        match self {
            ReplayStore::Memory(m) => {
                m.release(jti, exp);
                Ok(())
            }
            ReplayStore::Redis(r) => r.release(jti, receipt).await,
        }
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
