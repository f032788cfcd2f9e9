//! The Redis (or Valkey) replay store, shared by every download-server instance.
//!
//! One script call per consumption, atomic on the server: read the epoch (setting it to now when
//! it is missing, i.e. Redis lost its data), refuse a token issued before it, then
//! `SET key receipt EXAT t NX`. Epoch check and consumption happen in one step, so a Redis that
//! restarts empty between them cannot let a used token through. Every call is bounded by a short
//! timeout and any error or delay fails closed. A call whose connection turns out to be lost is
//! made once more on the reconnected one (see `RedisReplayStore::run`); the consume script
//! answers a retry that finds its own receipt as the first use it is.
//!
//! Each actix worker thread gets a connection of its own, made on its own runtime, once the
//! shared one (the maintenance task's) works. Profiled, one shared multiplexed connection driven
//! from the main runtime cost every consume two cross-thread wake-ups (futexes, context switches,
//! about a fifth of the server's CPU).

use super::{Consumed, Receipt, ReplayUnavailable};
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use shared::Jti;
use std::cell::RefCell;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};
use thread_local::ThreadLocal;
use tokio::runtime::{Handle, RuntimeFlavor};

/// Keys outlive `exp` + leeway by this much, so clock skew between instances and Redis can never
/// let a key vanish while its token is still accepted somewhere.
const TTL_MARGIN_SECS: i64 = 60;
const UNKNOWN_EPOCH: i64 = i64::MIN;

const CONSUME: &str = r"
local epoch = redis.call('GET', KEYS[2])
if not epoch then
  redis.call('SET', KEYS[2], ARGV[3])
  epoch = ARGV[3]
end
epoch = tonumber(epoch)
if tonumber(ARGV[4]) < epoch then return {2, epoch} end
if redis.call('SET', KEYS[1], ARGV[1], 'EXAT', ARGV[2], 'NX') then return {0, epoch} end
if redis.call('GET', KEYS[1]) == ARGV[1] then return {0, epoch} end
return {1, epoch}
";

/// Deletes the key only when it still holds this request's receipt.
const RELEASE: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
";

pub struct RedisReplayStore {
    client: redis::Client,
    /// Set once the first connection succeeds; reconnection is the manager's job from then on.
    conn: Arc<OnceLock<ConnectionManager>>,
    /// Per worker thread (current-thread runtime): that runtime's own connection.
    local: ThreadLocal<RefCell<LocalConn>>,
    prefix: String,
    epoch_key: String,
    /// The last epoch Redis reported; refreshed by every consume and once a second.
    epoch: AtomicI64,
    retain_after_exp: i64,
    timeout: Duration,
    consume_script: redis::Script,
    release_script: redis::Script,
    /// Receipts are this process's random id plus a counter: unique across instances without a
    /// random draw per request.
    instance: u64,
    counter: AtomicU64,
}

impl RedisReplayStore {
    /// Checks the URL and returns at once; the connection is made in the background
    /// (`spawn_maintenance`), so a download server started before its Redis comes up is simply
    /// not ready until it does.
    pub fn new(url: &str, prefix: &str, leeway: i64, timeout: Duration) -> anyhow::Result<Self> {
        let client = redis::Client::open(url)
            .map_err(|e| anyhow::anyhow!("invalid replay store URL: {e}"))?;
        Ok(RedisReplayStore {
            client,
            conn: Arc::new(OnceLock::new()),
            local: ThreadLocal::new(),
            prefix: prefix.to_owned(),
            epoch_key: format!("{prefix}epoch"),
            epoch: AtomicI64::new(UNKNOWN_EPOCH),
            retain_after_exp: leeway + TTL_MARGIN_SECS,
            timeout,
            consume_script: redis::Script::new(CONSUME),
            release_script: redis::Script::new(RELEASE),
            instance: uuid::Uuid::new_v4().as_u64_pair().0,
            counter: AtomicU64::new(0),
        })
    }

    fn shared_conn(&self) -> Result<ConnectionManager, ReplayUnavailable> {
        self.conn
            .get()
            .cloned()
            .ok_or_else(|| ReplayUnavailable("not connected to Redis yet".into()))
    }

    /// This worker's own connection, made on first use once the shared one works (so an outage
    /// does not turn every request into a connection attempt); the shared one meanwhile, while
    /// another request of this worker connects, for a second after a failed attempt, and on any
    /// multi-thread runtime.
    async fn conn(&self) -> Result<ConnectionManager, ReplayUnavailable> {
        // Checked without cloning the shared connection, which the common path does not use.
        if self.conn.get().is_none() {
            return self.shared_conn();
        }
        let Ok(handle) = Handle::try_current() else {
            return self.shared_conn();
        };
        if handle.runtime_flavor() != RuntimeFlavor::CurrentThread {
            return self.shared_conn();
        }
        let runtime = handle.id();
        {
            let mut local = self.local.get_or(Default::default).borrow_mut();
            // A thread id can be reused by a later runtime: never a connection of a dead one.
            if local.runtime != Some(runtime) {
                *local = LocalConn {
                    runtime: Some(runtime),
                    ..LocalConn::default()
                };
            }
            if let Some(conn) = &local.conn {
                return Ok(conn.clone());
            }
            if local.connecting || local.retry_at.is_some_and(|at| Instant::now() < at) {
                return self.shared_conn();
            }
            local.connecting = true;
        }
        let connected = self.connect().await;
        // Same thread: a current-thread runtime never moves a task.
        let mut local = self.local.get_or(Default::default).borrow_mut();
        local.connecting = false;
        match connected {
            Ok(conn) => {
                local.conn = Some(conn.clone());
                Ok(conn)
            }
            Err(error) => {
                tracing::debug!(%error, "could not open this worker's Redis connection");
                local.retry_at = Some(Instant::now() + Duration::from_secs(1));
                self.shared_conn()
            }
        }
    }

    fn key(&self, jti: &Jti) -> String {
        format!("{}jti:{}", self.prefix, jti.as_uuid().hyphenated())
    }

    /// Runs one Redis call on this worker's connection within the timeout; an error or a slow
    /// reply is "unavailable". When the connection turns out to be lost, the call is made once
    /// more at once, on the connection the manager has just started to re-make: a worker whose
    /// connection broke while Redis was away (its last reconnect attempt was refused) would
    /// otherwise fail the first request after Redis is back, although `/readyz`, answered by
    /// another worker, already says ready. Every call here is safe to repeat. On failure the
    /// connection last used is handed back, so a follow-up can be queued behind the call.
    async fn run<T, Call>(
        &self,
        mut call: impl FnMut(ConnectionManager) -> Call,
    ) -> Result<T, (ReplayUnavailable, Option<ConnectionManager>)>
    where
        Call: Future<Output = redis::RedisResult<T>>,
    {
        let mut attempts_left = 2;
        loop {
            attempts_left -= 1;
            let conn = self.conn().await.map_err(|e| (e, None))?;
            let error = match tokio::time::timeout(self.timeout, call(conn.clone())).await {
                Ok(Ok(value)) => return Ok(value),
                Ok(Err(error)) if attempts_left > 0 && connection_lost(&error) => {
                    tracing::debug!(%error, "Redis connection lost; trying once more");
                    continue;
                }
                Ok(Err(error)) => ReplayUnavailable(format!("redis: {error}")),
                Err(_) => {
                    ReplayUnavailable(format!("redis did not answer within {:?}", self.timeout))
                }
            };
            return Err((error, Some(conn)));
        }
    }

    /// `run`, for calls with nothing to follow up on failure.
    async fn bounded<T, Call>(
        &self,
        call: impl FnMut(ConnectionManager) -> Call,
    ) -> Result<T, ReplayUnavailable>
    where
        Call: Future<Output = redis::RedisResult<T>>,
    {
        self.run(call).await.map_err(|(error, _)| error)
    }

    pub async fn consume(
        &self,
        jti: &Jti,
        iat: i64,
        exp: i64,
    ) -> Result<Consumed, ReplayUnavailable> {
        let receipt = Receipt(
            (u128::from(self.instance) << 64)
                | u128::from(self.counter.fetch_add(1, Ordering::Relaxed)),
        );
        let mut call = self.consume_script.prepare_invoke();
        call.key(self.key(jti))
            .key(&self.epoch_key)
            .arg(format!("{:032x}", receipt.0))
            .arg(exp + self.retain_after_exp)
            .arg(shared::time::now_secs_ceil())
            .arg(iat);
        let reply = self
            .run(|mut conn| {
                let call = &call;
                async move { call.invoke_async(&mut conn).await }
            })
            .await;
        let (code, epoch): (i64, i64) = match reply {
            Ok(reply) => reply,
            Err((error, conn)) => {
                if let Some(conn) = conn {
                    self.release_in_background(conn, self.key(jti), receipt);
                }
                return Err(error);
            }
        };
        self.epoch.store(epoch, Ordering::Relaxed);
        match code {
            0 => Ok(Consumed::First(receipt)),
            1 => Ok(Consumed::AlreadyUsed),
            2 => Ok(Consumed::BeforeEpoch),
            other => Err(ReplayUnavailable(format!(
                "unexpected script reply {other}"
            ))),
        }
    }

    /// Whether `jti` was used (HEAD): one round trip, nothing written but a missing epoch.
    pub async fn is_used(&self, jti: &Jti) -> Result<bool, ReplayUnavailable> {
        let mut pipe = self.epoch_pipe();
        pipe.exists(self.key(jti));
        let (epoch, used): (i64, bool) = self
            .bounded(|mut conn| {
                let pipe = &pipe;
                async move { pipe.query_async(&mut conn).await }
            })
            .await?;
        self.epoch.store(epoch, Ordering::Relaxed);
        Ok(used)
    }

    pub async fn release(&self, jti: &Jti, receipt: Receipt) -> Result<(), ReplayUnavailable> {
        let mut call = self.release_script.prepare_invoke();
        call.key(self.key(jti)).arg(format!("{:032x}", receipt.0));
        let _: i64 = self
            .bounded(|mut conn| {
                let call = &call;
                async move { call.invoke_async(&mut conn).await }
            })
            .await?;
        Ok(())
    }

    /// A consume that timed out may still be applied later (a frozen or slow Redis works through
    /// its queue). The request already failed closed and served nothing, so take the mark back
    /// once Redis answers again; the script deletes only this receipt's mark, never another's,
    /// and it runs after the consume on the same ordered connection.
    fn release_in_background(&self, mut conn: ConnectionManager, key: String, receipt: Receipt) {
        let script = self.release_script.clone();
        let timeout = self.timeout;
        tokio::spawn(async move {
            for _ in 0..60 {
                let mut call = script.prepare_invoke();
                call.key(&key).arg(format!("{:032x}", receipt.0));
                if let Ok(Ok(_)) =
                    tokio::time::timeout(timeout, call.invoke_async::<i64>(&mut conn)).await
                {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            tracing::warn!("gave up releasing a consumption whose outcome is unknown");
        });
    }

    /// The epoch Redis last reported. Unknown until the first answer: fail closed until then.
    pub fn epoch(&self) -> Result<i64, ReplayUnavailable> {
        match self.epoch.load(Ordering::Relaxed) {
            UNKNOWN_EPOCH => Err(ReplayUnavailable("replay epoch not known yet".into())),
            epoch => Ok(epoch),
        }
    }

    pub async fn ready(&self) -> bool {
        self.refresh_epoch().await.is_ok()
    }

    /// Reads the epoch, creating it when Redis has none (first start, or data lost).
    async fn refresh_epoch(&self) -> Result<i64, ReplayUnavailable> {
        let pipe = self.epoch_pipe();
        let (epoch,): (i64,) = self
            .bounded(|mut conn| {
                let pipe = &pipe;
                async move { pipe.query_async(&mut conn).await }
            })
            .await?;
        self.epoch.store(epoch, Ordering::Relaxed);
        Ok(epoch)
    }

    /// A pipeline that sets the epoch to now when Redis has none, then reads it (the winner of
    /// concurrent first sets is what every instance reads).
    fn epoch_pipe(&self) -> redis::Pipeline {
        let mut pipe = redis::pipe();
        pipe.cmd("SET")
            .arg(&self.epoch_key)
            .arg(shared::time::now_secs_ceil())
            .arg("NX")
            .ignore()
            .get(&self.epoch_key);
        pipe
    }

    /// Connects (retrying until Redis answers), checks the eviction policy once, then keeps the
    /// cached epoch fresh. Runs for the life of the store.
    pub async fn maintain(store: std::sync::Weak<super::ReplayStore>) {
        let mut tick = tokio::time::interval(Duration::from_millis(500));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut checked_policy = false;
        loop {
            tick.tick().await;
            let Some(store) = store.upgrade() else { return };
            let super::ReplayStore::Redis(redis) = &*store else {
                return;
            };
            if redis.conn.get().is_none() {
                match redis.connect().await {
                    Ok(conn) => {
                        let _ = redis.conn.set(conn);
                        tracing::info!("connected to the Redis replay store");
                    }
                    Err(error) => {
                        tracing::warn!(%error, "Redis replay store not reachable yet");
                        continue;
                    }
                }
            }
            if !checked_policy {
                checked_policy = redis.check_eviction_policy().await;
            }
            if let Err(error) = redis.refresh_epoch().await {
                tracing::debug!(%error, "could not refresh the replay epoch");
            }
        }
    }

    async fn connect(&self) -> redis::RedisResult<ConnectionManager> {
        // redis-rs defaults retry for seconds per command during an outage; a download must
        // fail fast instead, so: one retry, short delays, short timeouts.
        let config = ConnectionManagerConfig::new()
            .set_number_of_retries(1)
            .set_min_delay(Duration::from_millis(50))
            .set_max_delay(Duration::from_millis(200))
            .set_connection_timeout(Some(self.timeout.max(Duration::from_millis(100))))
            .set_response_timeout(Some(self.timeout));
        let connect = ConnectionManager::new_with_config(self.client.clone(), config);
        match tokio::time::timeout(self.timeout * 4, connect).await {
            Ok(result) => result,
            Err(_) => Err(redis::RedisError::from((
                redis::ErrorKind::Io,
                "connection timed out",
            ))),
        }
    }

    /// Eviction would silently forget used `jti`s (every key has a TTL, so even `volatile-*`
    /// policies apply): warn loudly unless the policy is `noeviction`. Returns whether the check
    /// reached a conclusion (a managed Redis may forbid `CONFIG`).
    async fn check_eviction_policy(&self) -> bool {
        let mut command = redis::cmd("CONFIG");
        command.arg("GET").arg("maxmemory-policy");
        let reply: Result<Vec<String>, _> = self
            .bounded(|mut conn| {
                let command = &command;
                async move { command.query_async(&mut conn).await }
            })
            .await;
        match reply.as_deref() {
            Ok([_, policy]) if policy == "noeviction" => {}
            Ok([_, policy]) => tracing::error!(
                policy = %policy,
                "Redis maxmemory-policy is not noeviction: under memory pressure Redis may evict \
                 used download tokens and allow replays; set maxmemory-policy noeviction"
            ),
            Ok(_) | Err(_) => tracing::warn!(
                "could not read Redis maxmemory-policy (CONFIG GET refused?); make sure it is \
                 noeviction, or used download tokens may be evicted and replayed"
            ),
        }
        true
    }
}

/// Whether the call failed because the connection is gone (refused, reset, closed), not because
/// Redis answered with an error or was slow (a slow Redis gets no second wait): then the manager
/// has begun to reconnect, and one more try on the new connection can succeed at once.
fn connection_lost(error: &redis::RedisError) -> bool {
    !error.is_timeout()
        && (error.is_io_error() || error.is_connection_dropped() || error.is_connection_refusal())
}

/// One worker thread's connection (see `RedisReplayStore::conn`).
#[derive(Default)]
struct LocalConn {
    runtime: Option<tokio::runtime::Id>,
    conn: Option<ConnectionManager>,
    connecting: bool,
    retry_at: Option<Instant>,
}
