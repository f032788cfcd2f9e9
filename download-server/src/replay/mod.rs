//! The replay store: remembers which `jti`s were used, so that each token is served once.
//!
//! Backends are chosen once from `--replay` and sit behind one enum, so the handler never knows
//! which one it talks to.

pub mod memory;

pub use memory::MemoryReplayStore;
use shared::Jti;

/// What consuming a `jti` found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Consumed {
    /// This request is the one and only use.
    First,
    /// Someone used this token before.
    AlreadyUsed,
}

/// The store cannot answer: the caller must fail closed (503), never serve.
#[derive(Debug, thiserror::Error)]
#[error("replay store unavailable: {0}")]
pub struct ReplayUnavailable(pub String);

pub enum ReplayStore {
    Memory(MemoryReplayStore),
}

impl ReplayStore {
    /// Opens the backend named by `--replay`. `leeway` and `max_lifetime` bound how long a `jti`
    /// must be remembered: until its token's `exp` + leeway.
    pub async fn open(spec: &str, leeway: u32, max_lifetime: u32) -> anyhow::Result<Self> {
        match spec {
            "memory" | "memory://" | "memory:///" => Ok(ReplayStore::Memory(
                MemoryReplayStore::new(i64::from(leeway), i64::from(max_lifetime)),
            )),
            other => anyhow::bail!("unsupported replay store {other:?} (use memory)"),
        }
    }

    /// Atomically marks `jti` used. Of any number of concurrent calls with one `jti`, exactly one
    /// gets `First`.
    pub async fn consume(&self, jti: &Jti, exp: i64) -> Result<Consumed, ReplayUnavailable> {
        match self {
            ReplayStore::Memory(m) => m.consume(jti, exp),
        }
    }

    /// Whether `jti` was used, without using it (HEAD).
    pub async fn is_used(&self, jti: &Jti, exp: i64) -> Result<bool, ReplayUnavailable> {
        match self {
            ReplayStore::Memory(m) => m.is_used(jti, exp),
        }
    }

    /// Forgets a use this request made, when it failed before sending the first byte.
    pub async fn release(&self, jti: &Jti, exp: i64) -> Result<(), ReplayUnavailable> {
        match self {
            ReplayStore::Memory(m) => {
                m.release(jti, exp);
                Ok(())
            }
        }
    }

    /// Tokens issued (`iat`) before this second are refused: the store cannot know whether they
    /// were used before it started.
    pub async fn epoch(&self) -> Result<i64, ReplayUnavailable> {
        match self {
            ReplayStore::Memory(m) => Ok(m.epoch()),
        }
    }

    /// Whether the store answers right now (`/readyz`).
    pub async fn ready(&self) -> bool {
        match self {
            ReplayStore::Memory(_) => true,
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
                        let ReplayStore::Memory(m) = &*store;
                        m.sweep(shared::time::now_secs());
                    }
                });
            }
        }
    }

    pub fn kind(&self) -> &'static str {
        match self {
            ReplayStore::Memory(_) => "memory",
        }
    }
}
