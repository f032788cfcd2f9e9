//! The Redis (or Valkey) replay store, shared by every download-server instance.
//!
//! Each step of a grant (open or join, renew, close; see `replay::grant`) is one call of one
//! script (`grant.lua`), atomic on the server: it reads the epoch (setting it to now when it is
//! missing, i.e. Redis lost its data), refuses a token issued before it, then applies the step
//! to the token's one key. Epoch check and step happen together, so a Redis that restarts empty
//! between them cannot let a used token through. Joins of concurrent requests on one worker
//! share one call (up to `JOIN_BATCH`: `flush_joins`), and so do closes of streams that end
//! together (up to `CLOSE_BATCH`), each applied to its own key as if alone, in order. Every call
//! is bounded by a short timeout and any error or delay fails closed; a call whose connection
//! turns out to be lost is made once more on the reconnected one (`connections.rs`), which every
//! step allows: a retry with the same stream id gets the same answer.

mod connections;

use super::grant::{GrantPolicy, Lease, Refusal, Sent};
use super::{Joined, Peeked, ReplayUnavailable, StreamRequest};
use connections::Connections;
use redis::aio::ConnectionManager;
use shared::Jti;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use thread_local::ThreadLocal;
use tokio::sync::oneshot;

/// Keys outlive `exp` + leeway by this much, so clock skew between instances and Redis can never
/// let a key vanish while its token is still accepted somewhere.
const TTL_MARGIN_SECS: i64 = 60;
const UNKNOWN_EPOCH: i64 = i64::MIN;

/// At most this many closes travel in one script call (each costs Redis about 20 µs).
const CLOSE_BATCH: usize = 64;
/// At most this many joins travel in one script call.
const JOIN_BATCH: usize = 64;

pub struct RedisReplayStore {
    connections: Connections,
    prefix: String,
    epoch_key: String,
    events_key: String,
    /// The last epoch Redis reported; refreshed by every step and once a second.
    epoch: AtomicI64,
    retain_after_exp: i64,
    script: redis::Script,
    /// Stream ids are this process's random id plus a counter: unique across instances without a
    /// random draw per request.
    instance: u64,
    counter: AtomicU64,
    /// Closes waiting for the close call in flight (`flush_closes`).
    closes: Mutex<Closes>,
    /// Per thread: joins waiting for that thread's join call in flight (`flush_joins`).
    joins: ThreadLocal<Arc<Mutex<Joins>>>,
}

/// A queued join's answer to come.
pub type JoinAnswer = oneshot::Receiver<Result<Joined, ReplayUnavailable>>;

/// One thread's queue of joins. Per thread, so that a join's answer wakes its request on the
/// worker it runs on: a wake-up across threads costs about what the shared call saves.
#[derive(Default)]
pub struct Joins {
    queue: Vec<(Join, oneshot::Sender<Result<Joined, ReplayUnavailable>>)>,
    flushing: bool,
}

/// A running `flush_joins`; when dropped mid-way (its runtime shutting down), the joins still
/// queued are dropped too (their requests get "unavailable"), so none waits for a flush that
/// will never come, and the next join starts a new one.
struct Flushing<'a>(Option<&'a Mutex<Joins>>);

impl Drop for Flushing<'_> {
    fn drop(&mut self) {
        if let Some(queue) = self.0 {
            let mut joins = queue.lock().unwrap_or_else(PoisonError::into_inner);
            joins.queue.clear();
            joins.flushing = false;
        }
    }
}

/// One join, as the script's join step takes it.
struct Join {
    key: String,
    jti: Jti,
    exp: i64,
    now: i64,
    iat: i64,
    may_open: bool,
    etag: String,
    size: u64,
    start: u64,
    want: u64,
    stream: u64,
    lease: Lease,
}

impl Join {
    /// The step's nine arguments: iat, retain, may_open, etag, size, start, want, stream, lease.
    fn push_args(&self, call: &mut redis::ScriptInvocation<'_>, retain_after_exp: i64) {
        call.arg(self.iat)
            .arg(self.exp + retain_after_exp)
            .arg(if self.may_open { "1" } else { "0" })
            .arg(&self.etag)
            .arg(self.size)
            .arg(self.start)
            .arg(self.want)
            .arg(self.stream.to_string())
            .arg(match self.lease {
                Lease::Renewed => "renewed",
                Lease::Whole => "whole",
            });
    }

    fn new(key: String, r: &StreamRequest<'_>) -> Self {
        Join {
            key,
            jti: *r.jti,
            exp: r.exp,
            now: r.now,
            iat: r.iat,
            may_open: r.may_open,
            etag: r.etag.to_owned(),
            size: r.size,
            start: r.start,
            want: r.want,
            stream: r.stream,
            lease: r.lease,
        }
    }
}

#[derive(Default)]
struct Closes {
    queue: Vec<Close>,
    flushing: bool,
}

/// One stream's close, as the script's close step takes it.
struct Close {
    key: String,
    stream: u64,
    sent: Sent,
    retain: i64,
    /// The stream's history event (JSON), appended by the same call.
    event: Option<String>,
}

impl RedisReplayStore {
    /// Checks the URL and returns at once; the connection is made in the background
    /// (`spawn_maintenance`), so a download server started before its Redis comes up is simply
    /// not ready until it does.
    pub fn new(
        url: &str,
        prefix: &str,
        leeway: i64,
        timeout: Duration,
        policy: GrantPolicy,
    ) -> anyhow::Result<Self> {
        let client = redis::Client::open(url)
            .map_err(|e| anyhow::anyhow!("invalid replay store URL: {e}"))?;
        Ok(RedisReplayStore {
            connections: Connections::new(client, timeout),
            prefix: prefix.to_owned(),
            epoch_key: format!("{prefix}epoch"),
            events_key: format!("{prefix}events"),
            epoch: AtomicI64::new(UNKNOWN_EPOCH),
            retain_after_exp: leeway + TTL_MARGIN_SECS,
            script: redis::Script::new(&script_text(&policy)),
            instance: uuid::Uuid::new_v4().as_u64_pair().0 & 0x1f_ffff,
            counter: AtomicU64::new(0),
            closes: Mutex::default(),
            joins: ThreadLocal::new(),
        })
    }

    /// A stream id no other request of any instance uses.
    pub fn new_stream_id(&self) -> u64 {
        (self.instance << 32) | (self.counter.fetch_add(1, Ordering::Relaxed) & 0xffff_ffff)
    }

    fn key(&self, jti: &Jti) -> String {
        format!("{}jti:{}", self.prefix, jti.as_uuid().hyphenated())
    }

    fn invocation(&self, step: &str, jti: &Jti, now: i64) -> redis::ScriptInvocation<'_> {
        step_call(&self.script, self.key(jti), &self.epoch_key, step, now)
    }

    /// Queues the join on this thread's queue and returns its answer to come, and the queue when
    /// the caller must start `flush_joins` on it (none is running).
    pub fn queue_join(
        &self,
        request: &StreamRequest<'_>,
    ) -> (JoinAnswer, Option<Arc<Mutex<Joins>>>) {
        let (reply, answer) = oneshot::channel();
        let queue = self.joins.get_or_default();
        let mut joins = queue.lock().unwrap_or_else(PoisonError::into_inner);
        joins
            .queue
            .push((Join::new(self.key(request.jti), request), reply));
        let start = !std::mem::replace(&mut joins.flushing, true);
        (answer, start.then(|| Arc::clone(queue)))
    }

    /// Sends the joins queued on `queue`, one call at a time, until none is left: the joins that
    /// came in while a call was in flight go together in the next one. A join whose request is
    /// gone by the time its answer comes (dropped mid-join) is closed again, so it holds nothing.
    pub async fn flush_joins(&self, queue: &Mutex<Joins>) {
        let mut running = Flushing(Some(queue));
        loop {
            let batch: Vec<_> = {
                let mut joins = queue.lock().unwrap_or_else(PoisonError::into_inner);
                if joins.queue.is_empty() {
                    joins.flushing = false;
                    running.0 = None;
                    return;
                }
                let n = joins.queue.len().min(JOIN_BATCH);
                joins.queue.drain(..n).collect()
            };
            let (calls, replies): (Vec<Join>, Vec<_>) = batch.into_iter().unzip();
            let answers: Vec<Result<Joined, ReplayUnavailable>> =
                match self.send_joins(&calls).await {
                    Ok(answers) => answers.into_iter().map(Ok).collect(),
                    Err(error) => (0..calls.len())
                        .map(|_| Err(ReplayUnavailable(error.0.clone())))
                        .collect(),
                };
            let mut abandoned = Vec::new();
            for ((call, reply), answer) in calls.iter().zip(replies).zip(answers) {
                if let Err(Ok(Joined::Lease { .. })) = reply.send(answer) {
                    abandoned.push(self.close_of(
                        &call.jti,
                        call.exp,
                        call.stream,
                        Sent::Count(0),
                        None,
                    ));
                }
            }
            if !abandoned.is_empty()
                && let Err(error) = self.send_closes(&abandoned, shared::time::now_secs()).await
            {
                tracing::warn!(%error, streams = abandoned.len(), "could not close abandoned download streams");
            }
        }
    }

    /// One join, sent at once on its own (no queue): for callers outside a tokio runtime.
    pub async fn join(&self, request: &StreamRequest<'_>) -> Result<Joined, ReplayUnavailable> {
        let mut answers = self
            .send_joins(&[Join::new(self.key(request.jti), request)])
            .await?;
        Ok(answers.remove(0))
    }

    /// The joins of `batch` in one script call, in order.
    async fn send_joins(&self, batch: &[Join]) -> Result<Vec<Joined>, ReplayUnavailable> {
        let call = join_call(&self.script, &self.epoch_key, batch, self.retain_after_exp);
        let reply = self
            .connections
            .run(|mut conn| {
                let call = &call;
                async move { call.invoke_async(&mut conn).await }
            })
            .await;
        let reply: Vec<i64> = match reply {
            Ok(reply) => reply,
            Err((error, conn)) => {
                // The call may still be applied later (a frozen or slow Redis works through its
                // queue): take these streams back behind it, so a request that served nothing
                // never leaves a used token.
                if let Some(conn) = conn {
                    let closes = batch
                        .iter()
                        .map(|j| self.close_of(&j.jti, j.exp, j.stream, Sent::Count(0), None))
                        .collect();
                    self.close_in_background(conn, closes, batch[0].now);
                }
                return Err(error);
            }
        };
        let [epoch, answers @ ..] = &reply[..] else {
            return Err(ReplayUnavailable("empty join reply".into()));
        };
        if answers.len() != 2 * batch.len() {
            return Err(ReplayUnavailable(format!(
                "join reply of {} values for {} joins",
                reply.len(),
                batch.len()
            )));
        }
        self.epoch.store(*epoch, Ordering::Relaxed);
        answers
            .chunks_exact(2)
            .map(|answer| match answer {
                [0, end] => u64::try_from(*end)
                    .map(|end| Joined::Lease { end })
                    .map_err(|_| ReplayUnavailable(format!("lease end {end} in a join reply"))),
                [code, _] => Ok(Joined::Refused(refusal(*code)?)),
                _ => unreachable!("chunks of two"),
            })
            .collect()
    }

    pub async fn peek(&self, r: &StreamRequest<'_>) -> Result<Peeked, ReplayUnavailable> {
        let peek = Join::new(self.key(r.jti), r);
        let mut call = step_call(
            &self.script,
            peek.key.clone(),
            &self.epoch_key,
            "peek",
            r.now,
        );
        peek.push_args(&mut call, self.retain_after_exp);
        let (code, _, epoch): (i64, u64, i64) = self
            .connections
            .bounded(|mut conn| {
                let call = &call;
                async move { call.invoke_async(&mut conn).await }
            })
            .await?;
        self.epoch.store(epoch, Ordering::Relaxed);
        Ok(match code {
            0 => Peeked::Unused,
            7 => Peeked::Open,
            code => Peeked::Refused(refusal(code)?),
        })
    }

    pub async fn renew(
        &self,
        jti: &Jti,
        exp: i64,
        stream: u64,
        written: u64,
        now: i64,
    ) -> Result<Option<u64>, ReplayUnavailable> {
        let mut call = self.invocation("renew", jti, now);
        call.arg(stream.to_string())
            .arg(written)
            .arg(exp + self.retain_after_exp);
        let (code, end): (i64, u64) = self
            .connections
            .bounded(|mut conn| {
                let call = &call;
                async move { call.invoke_async(&mut conn).await }
            })
            .await?;
        Ok((code == 0).then_some(end))
    }

    /// Closes the stream and, in the same script call, appends its history `event` (JSON) to
    /// the stream every instance shares (`history`), so the event is stored exactly when the
    /// close is.
    pub async fn close(
        &self,
        jti: &Jti,
        exp: i64,
        stream: u64,
        sent: Sent,
        now: i64,
        event: Option<String>,
    ) -> Result<(), ReplayUnavailable> {
        self.send_closes(&[self.close_of(jti, exp, stream, sent, event)], now)
            .await
    }

    /// Queues the close for the next close call (see `flush_closes`). Returns whether the caller
    /// must start `flush_closes`: none is running.
    pub fn queue_close(
        &self,
        jti: &Jti,
        exp: i64,
        stream: u64,
        sent: Sent,
        event: Option<String>,
    ) -> bool {
        let close = self.close_of(jti, exp, stream, sent, event);
        let mut closes = self.closes.lock().unwrap_or_else(PoisonError::into_inner);
        closes.queue.push(close);
        !std::mem::replace(&mut closes.flushing, true)
    }

    /// Sends the queued closes, one call at a time, until none is left: the closes of
    /// concurrent downloads that ended while a call was in flight go together in the next one,
    /// so a busy server makes one call for many closes (Redis's and the client's fixed cost per
    /// call shared) and a lone close is sent at once, with no timer.
    pub async fn flush_closes(&self) {
        loop {
            let batch: Vec<Close> = {
                let mut closes = self.closes.lock().unwrap_or_else(PoisonError::into_inner);
                if closes.queue.is_empty() {
                    closes.flushing = false;
                    return;
                }
                let n = closes.queue.len().min(CLOSE_BATCH);
                closes.queue.drain(..n).collect()
            };
            let now = shared::time::now_secs();
            if let Err(error) = self.send_closes(&batch, now).await {
                tracing::warn!(%error, streams = batch.len(), "could not close download streams");
            }
        }
    }

    fn close_of(
        &self,
        jti: &Jti,
        exp: i64,
        stream: u64,
        sent: Sent,
        event: Option<String>,
    ) -> Close {
        Close {
            key: self.key(jti),
            stream,
            sent,
            retain: exp + self.retain_after_exp,
            event,
        }
    }

    async fn send_closes(&self, batch: &[Close], now: i64) -> Result<(), ReplayUnavailable> {
        let call = close_call(&self.script, &self.events_key, &self.epoch_key, batch, now);
        let _: (i64,) = self
            .connections
            .bounded(|mut conn| {
                let call = &call;
                async move { call.invoke_async(&mut conn).await }
            })
            .await?;
        Ok(())
    }

    /// A join call that timed out may still be applied later. Its requests already failed closed
    /// and served nothing, so close their streams once Redis answers again: that takes back
    /// exactly those requests' parts (a grant one opened is forgotten) and runs after the join on
    /// the same ordered connection.
    fn close_in_background(&self, mut conn: ConnectionManager, close: Vec<Close>, now: i64) {
        let (script, events_key, epoch_key) = (
            self.script.clone(),
            self.events_key.clone(),
            self.epoch_key.clone(),
        );
        let timeout = self.connections.timeout;
        tokio::spawn(async move {
            for _ in 0..60 {
                let call = close_call(&script, &events_key, &epoch_key, &close, now);
                if let Ok(Ok(_)) =
                    tokio::time::timeout(timeout, call.invoke_async::<(i64,)>(&mut conn)).await
                {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            tracing::warn!("gave up taking back a download step whose outcome is unknown");
        });
    }

    /// Appends a download event to the stream every instance shares (`history`), trimmed to
    /// about `history::MAX_EVENTS`.
    pub async fn append_event(&self, json: &str) -> Result<(), ReplayUnavailable> {
        let _: String = self
            .connections
            .bounded(|mut conn| {
                let (key, json) = (&self.events_key, json);
                async move {
                    redis::cmd("XADD")
                        .arg(key)
                        .arg("MAXLEN")
                        .arg("~")
                        .arg(crate::history::MAX_EVENTS)
                        .arg("*")
                        .arg("e")
                        .arg(json)
                        .query_async(&mut conn)
                        .await
                }
            })
            .await?;
        Ok(())
    }

    /// Up to `limit` events after the stream id `after` (from the oldest when `None`), and the
    /// id of the oldest event the stream still holds.
    pub async fn events_after(
        &self,
        after: Option<&str>,
        limit: usize,
    ) -> Result<(Vec<(String, String)>, Option<String>), ReplayUnavailable> {
        let key = &self.events_key;
        let start = after.map_or_else(|| "-".to_owned(), |id| format!("({id}"));
        let mut pipe = redis::pipe();
        pipe.cmd("XRANGE")
            .arg(key)
            .arg("-")
            .arg("+")
            .arg("COUNT")
            .arg(1);
        pipe.cmd("XRANGE")
            .arg(key)
            .arg(&start)
            .arg("+")
            .arg("COUNT")
            .arg(limit);
        type Entries = Vec<(String, Vec<String>)>;
        let (oldest, entries): (Entries, Entries) = self
            .connections
            .bounded(|mut conn| {
                let pipe = &pipe;
                async move { pipe.query_async(&mut conn).await }
            })
            .await?;
        let events = entries
            .into_iter()
            .filter_map(|(id, fields)| {
                let json = fields.chunks(2).find(|f| f[0] == "e")?.get(1)?.clone();
                Some((id, json))
            })
            .collect();
        Ok((events, oldest.into_iter().next().map(|(id, _)| id)))
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
            .connections
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
            if !redis.connections.is_connected() {
                match redis.connections.connect_shared().await {
                    Ok(()) => {
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

    /// Eviction would silently forget used `jti`s (every key has a TTL, so even `volatile-*`
    /// policies apply): warn loudly unless the policy is `noeviction`. Returns whether the check
    /// reached a conclusion (a managed Redis may forbid `CONFIG`).
    async fn check_eviction_policy(&self) -> bool {
        let mut command = redis::cmd("CONFIG");
        command.arg("GET").arg("maxmemory-policy");
        let reply: Result<Vec<String>, _> = self
            .connections
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

/// The script call for `step` at `now` on `key`; the step's own arguments follow.
fn step_call<'a>(
    script: &'a redis::Script,
    key: String,
    epoch_key: &str,
    step: &str,
    now: i64,
) -> redis::ScriptInvocation<'a> {
    let mut call = script.prepare_invoke();
    call.key(key).key(epoch_key).arg(step).arg(now);
    call
}

/// The join step for `batch`: the epoch key, then each token's key, with its request's clock and
/// the step's nine arguments per join.
fn join_call<'a>(
    script: &'a redis::Script,
    epoch_key: &str,
    batch: &[Join],
    retain_after_exp: i64,
) -> redis::ScriptInvocation<'a> {
    let now = batch.iter().map(|join| join.now).max().unwrap_or_default();
    let mut call = script.prepare_invoke();
    call.key(epoch_key).arg("join").arg(now);
    for join in batch {
        call.key(&join.key).arg(join.now);
        join.push_args(&mut call, retain_after_exp);
    }
    call
}

/// The close step for `batch`: the history stream, the epoch key, then each token's key, with
/// five arguments per close.
fn close_call<'a>(
    script: &'a redis::Script,
    events_key: &str,
    epoch_key: &str,
    batch: &[Close],
    now: i64,
) -> redis::ScriptInvocation<'a> {
    let mut call = script.prepare_invoke();
    call.key(events_key).key(epoch_key).arg("close").arg(now);
    for close in batch {
        let (value, counted) = match close.sent {
            Sent::Upto(written) => (written, "upto"),
            Sent::Count(count) => (count, "count"),
        };
        call.key(&close.key)
            .arg(close.stream.to_string())
            .arg(value)
            .arg(close.retain)
            .arg(counted)
            .arg(close.event.as_deref().unwrap_or(""));
    }
    call
}

/// `grant.lua` with this store's constants in front: the policy, the lease constants as
/// `grant.rs` has them, and the history stream's length.
fn script_text(policy: &GrantPolicy) -> String {
    use super::grant::{FIRST_LEASE, LEASE_MAX, LEASE_MIN};
    format!(
        "local POLICY = {{ redundancy_min = {}, redundancy_divisor = {}, idle = {}, \
         max_age = {}, max_streams = {}, max_requests = {}, lease_min = {LEASE_MIN}, \
         lease_max = {LEASE_MAX}, first_lease = {FIRST_LEASE} }}\n\
         local MAX_EVENTS = '{}'\n{}",
        policy.redundancy_min,
        policy.redundancy_divisor,
        policy.idle,
        policy.max_age,
        policy.max_streams,
        policy.max_requests,
        crate::history::MAX_EVENTS,
        include_str!("grant.lua"),
    )
}

fn refusal(code: i64) -> Result<Refusal, ReplayUnavailable> {
    Ok(match code {
        1 => Refusal::Spent,
        2 => Refusal::Ended,
        3 => Refusal::Changed,
        4 => Refusal::Busy,
        5 => Refusal::Expired,
        6 => Refusal::BeforeEpoch,
        other => {
            return Err(ReplayUnavailable(format!(
                "unexpected script reply {other}"
            )));
        }
    })
}
