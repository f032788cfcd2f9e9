//! The in-memory replay store for a single instance.
//!
//! No crate offers what this needs: about 16 bytes of payload per `jti`, expiry of millions of
//! entries without per-entry timers or scans per request, and an atomic insert-if-absent. So:
//! a ring of one-second slots keyed by the token's `exp`. A `jti` always lands in the slot of its
//! own `exp` (a signed claim, so every request with one token agrees on the slot); a slot holds a
//! plain hash set of 128-bit ids and is dropped whole once `exp` + leeway has passed.
//!
//! That ring remembers which tokens were used. The grants of downloads in progress live beside
//! it in one map, under one lock, for at most their `max_age`; a grant whose every byte was sent
//! leaves only its `jti` in the ring, so a finished download costs what a used token always did.

use super::grant::{AfterClose, Grant, GrantPolicy, Refusal};
use super::{Joined, Peeked, ReplayUnavailable, StreamRequest};
use shared::Jti;
use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::{Mutex, MutexGuard};

/// Extra slots beyond the acceptance window, for clock jitter between verification and insert.
const SLACK_SECS: i64 = 8;
const EMPTY: i64 = i64::MIN;
/// Ended grants are swept this long after they ended.
const ENDED_GRACE_SECS: i64 = 60;

pub struct MemoryReplayStore {
    slots: Box<[Mutex<Slot>]>,
    /// A `jti` is remembered until `exp` + this many seconds.
    retain_after_exp: i64,
    epoch: i64,
    /// Open grants. Locked before any slot.
    grants: Mutex<HashMap<u128, Grant, BuildHasherDefault<JtiHasher>>>,
    policy: GrantPolicy,
    streams: std::sync::atomic::AtomicU64,
}

struct Slot {
    /// The `exp` second whose ids this slot holds, or `EMPTY`.
    exp: i64,
    ids: HashSet<u128, BuildHasherDefault<JtiHasher>>,
}

impl MemoryReplayStore {
    /// Accepted tokens have `exp` within [now - leeway, now + leeway + max_lifetime], so a ring of
    /// `max_lifetime + 2 * leeway` slots (plus slack) never needs two live seconds in one slot.
    pub fn new(leeway: i64, max_lifetime: i64, policy: GrantPolicy) -> Self {
        let len = (max_lifetime + 2 * leeway + SLACK_SECS).max(1) as usize;
        let slots = (0..len)
            .map(|_| {
                Mutex::new(Slot {
                    exp: EMPTY,
                    ids: HashSet::default(),
                })
            })
            .collect();
        MemoryReplayStore {
            slots,
            retain_after_exp: leeway,
            epoch: shared::time::now_secs_ceil(),
            grants: Mutex::default(),
            policy,
            streams: std::sync::atomic::AtomicU64::new(0),
        }
    }

    pub fn new_stream_id(&self) -> u64 {
        self.streams
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    }

    fn grants(&self) -> MutexGuard<'_, HashMap<u128, Grant, BuildHasherDefault<JtiHasher>>> {
        self.grants
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Opens the token's grant or joins it, as one step: of any number of concurrent first
    /// requests exactly one opens it.
    pub fn join(&self, request: &StreamRequest<'_>) -> Result<Joined, ReplayUnavailable> {
        if request.iat < self.epoch {
            return Ok(Joined::Refused(Refusal::BeforeEpoch));
        }
        let key = request.jti.as_u128();
        let mut grants = self.grants();
        let grant = match grants.get_mut(&key) {
            Some(grant) => grant,
            None if !request.may_open => {
                return Ok(Joined::Refused(self.refusal_without_grant(request)?));
            }
            None => {
                if self.mark(request.jti, request.exp, request.now)? {
                    return Ok(Joined::Refused(Refusal::Spent));
                }
                let grant = Grant::open(request.etag, request.size, &self.policy, request.now);
                grants.entry(key).or_insert(grant)
            }
        };
        let joined = grant.join(
            request.stream,
            request.etag,
            request.start,
            request.want,
            &self.policy,
            request.now,
        );
        if joined == Err(Refusal::Ended) {
            grants.remove(&key);
        }
        Ok(joined.map_or_else(Joined::Refused, |end| Joined::Lease { end }))
    }

    /// The state of a token's grant, without joining it (HEAD).
    pub fn peek(&self, request: &StreamRequest<'_>) -> Result<Peeked, ReplayUnavailable> {
        if request.iat < self.epoch {
            return Ok(Peeked::Refused(Refusal::BeforeEpoch));
        }
        match self.grants().get(&request.jti.as_u128()) {
            Some(grant) => Ok(Peeked::of(grant, &self.policy, request)),
            None if !request.may_open => Ok(Peeked::Refused(self.refusal_without_grant(request)?)),
            None if self.is_used(request.jti, request.exp)? => Ok(Peeked::Refused(Refusal::Spent)),
            None => Ok(Peeked::Unused),
        }
    }

    /// Stream `id` sent everything up to `written`: its next lease's end, or `None` (stop).
    pub fn renew(&self, jti: &Jti, id: u64, written: u64, now: i64) -> Option<u64> {
        self.grants()
            .get_mut(&jti.as_u128())?
            .renew(id, written, &self.policy, now)
    }

    /// Stream `id` ended after sending everything up to `written`.
    pub fn close(&self, jti: &Jti, exp: i64, id: u64, written: u64, now: i64) {
        let key = jti.as_u128();
        let mut grants = self.grants();
        let Some(grant) = grants.get_mut(&key) else {
            return;
        };
        match grant.close(id, written, now) {
            AfterClose::Open => {}
            // The ring keeps the `jti` until `exp` + leeway: the token stays used.
            AfterClose::Spent => {
                grants.remove(&key);
            }
            AfterClose::Released => {
                grants.remove(&key);
                self.release(jti, exp);
            }
        }
    }

    /// No grant: a token that expired unused, or one whose grant is over (spent or ended).
    fn refusal_without_grant(
        &self,
        request: &StreamRequest<'_>,
    ) -> Result<Refusal, ReplayUnavailable> {
        Ok(if self.is_used(request.jti, request.exp)? {
            Refusal::Spent
        } else {
            Refusal::Expired
        })
    }

    /// Marks `jti` used; whether it already was.
    fn mark(&self, jti: &Jti, exp: i64, now: i64) -> Result<bool, ReplayUnavailable> {
        Ok(!self.consume_at(jti, exp, now)?)
    }

    pub fn epoch(&self) -> i64 {
        self.epoch
    }

    fn slot(&self, exp: i64) -> &Mutex<Slot> {
        &self.slots[exp.rem_euclid(self.slots.len() as i64) as usize]
    }

    /// Adds `jti` to the ring: whether it was not there yet.
    fn consume_at(&self, jti: &Jti, exp: i64, now: i64) -> Result<bool, ReplayUnavailable> {
        let mut slot = self
            .slot(exp)
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if slot.exp != exp {
            if slot.exp != EMPTY && slot.exp > exp {
                // A later second owns the slot: this token's window is long gone. Refuse.
                return Ok(false);
            }
            if slot.exp != EMPTY && slot.exp + self.retain_after_exp >= now {
                // Two live seconds would share a slot: cannot guarantee single use, fail closed.
                return Err(ReplayUnavailable(format!(
                    "exp {exp} outside the replay window"
                )));
            }
            slot.exp = exp;
            slot.ids = HashSet::default();
        }
        Ok(slot.ids.insert(jti.as_u128()))
    }

    fn is_used(&self, jti: &Jti, exp: i64) -> Result<bool, ReplayUnavailable> {
        let slot = self
            .slot(exp)
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        Ok(slot.exp > exp || (slot.exp == exp && slot.ids.contains(&jti.as_u128())))
    }

    fn release(&self, jti: &Jti, exp: i64) {
        let mut slot = self
            .slot(exp)
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if slot.exp == exp {
            slot.ids.remove(&jti.as_u128());
        }
    }

    /// Frees every slot whose `exp` + leeway has passed, and every grant that ended. Runs once a
    /// second, touching each slot once, independent of request traffic.
    pub fn sweep(&self, now: i64) {
        // A minute late, so that the first request after a grant ended learns why (as with
        // Redis, where the grant stays until a request finds it ended).
        self.grants()
            .retain(|_, grant| !grant.ended(&self.policy, now - ENDED_GRACE_SECS));
        for slot in &self.slots {
            let mut slot = slot
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if slot.exp != EMPTY && slot.exp + self.retain_after_exp < now {
                slot.exp = EMPTY;
                slot.ids = HashSet::default();
            }
        }
    }

    /// Number of open grants (for benchmarks).
    pub fn open_grants(&self) -> usize {
        self.grants().len()
    }

    /// Number of `jti`s remembered (for metrics and benchmarks).
    pub fn len(&self) -> usize {
        self.slots
            .iter()
            .map(|s| {
                s.lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .ids
                    .len()
            })
            .sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// `jti`s are random UUIDs chosen by our own issuer and authenticated by its signature, so a fast
/// multiplicative mix is enough; an attacker cannot pick them to collide.
#[derive(Default)]
struct JtiHasher(u64);

impl Hasher for JtiHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            self.write_u64(u64::from_le_bytes(word));
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = (self.0.rotate_left(5) ^ n).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
    fn write_u128(&mut self, n: u128) {
        self.write_u64(n as u64);
        self.write_u64((n >> 64) as u64);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> MemoryReplayStore {
        MemoryReplayStore::new(30, 600, GrantPolicy::default())
    }

    fn request(jti: &Jti, exp: i64, stream: u64, now: i64) -> StreamRequest<'_> {
        StreamRequest {
            jti,
            iat: exp - 120,
            exp,
            may_open: now <= exp,
            etag: "\"e\"",
            size: 1024,
            start: 0,
            want: 1024,
            stream,
            now,
        }
    }

    #[test]
    fn a_token_opens_one_grant_and_is_spent_once_its_bytes_went_out() {
        let store = MemoryReplayStore {
            epoch: 0,
            ..store()
        };
        let (jti, exp) = (Jti::new_random(), 1_000_100);
        let first = store.join(&request(&jti, exp, 1, 1_000_000)).unwrap();
        assert_eq!(first, Joined::Lease { end: 1024 });
        assert_eq!(
            store.join(&request(&jti, exp, 2, 1_000_001)).unwrap(),
            Joined::Refused(Refusal::Spent),
            "the live stream has the whole object"
        );
        store.close(&jti, exp, 1, 1024, 1_000_001);
        assert_eq!(store.open_grants(), 0, "a spent grant leaves only its jti");
        assert!(store.is_used(&jti, exp).unwrap());
        assert_eq!(
            store.join(&request(&jti, exp, 3, 1_000_002)).unwrap(),
            Joined::Refused(Refusal::Spent)
        );
    }

    #[test]
    fn a_stream_that_sent_nothing_gives_the_token_back() {
        let store = MemoryReplayStore {
            epoch: 0,
            ..store()
        };
        let (jti, exp) = (Jti::new_random(), 2_000_000);
        store.join(&request(&jti, exp, 1, exp - 10)).unwrap();
        store.close(&jti, exp, 1, 0, exp - 10);
        assert!(!store.is_used(&jti, exp).unwrap());
        assert_eq!(
            store.join(&request(&jti, exp, 2, exp - 9)).unwrap(),
            Joined::Lease { end: 1024 }
        );
    }

    #[test]
    fn an_open_grant_outlives_its_token_and_an_unused_expired_token_opens_nothing() {
        let store = MemoryReplayStore {
            epoch: 0,
            ..store()
        };
        let (jti, exp) = (Jti::new_random(), 3_000_000);
        store.join(&request(&jti, exp, 1, exp - 1)).unwrap();
        store.close(&jti, exp, 1, 500, exp);
        // Long after `exp` (and the sweep of its slot) the download resumes.
        store.sweep(exp + 300);
        let resume = StreamRequest {
            start: 500,
            ..request(&jti, exp, 2, exp + 300)
        };
        assert_eq!(store.join(&resume).unwrap(), Joined::Lease { end: 1024 });
        let unused = Jti::new_random();
        assert_eq!(
            store.join(&request(&unused, exp, 1, exp + 300)).unwrap(),
            Joined::Refused(Refusal::Expired)
        );
    }

    #[test]
    fn tokens_from_before_the_epoch_are_refused() {
        let store = store();
        let jti = Jti::new_random();
        let old = StreamRequest {
            iat: store.epoch - 1,
            ..request(&jti, store.epoch + 100, 1, store.epoch)
        };
        assert_eq!(
            store.join(&old).unwrap(),
            Joined::Refused(Refusal::BeforeEpoch)
        );
    }

    #[test]
    fn entries_are_kept_until_exp_plus_leeway_then_swept() {
        let store = store();
        let (jti, exp) = (Jti::new_random(), 3_000_000);
        store.consume_at(&jti, exp, exp - 60).unwrap();
        store.sweep(exp + 30);
        assert!(store.is_used(&jti, exp).unwrap());
        store.sweep(exp + 31);
        assert!(!store.is_used(&jti, exp).unwrap());
        assert!(store.is_empty());
    }

    #[test]
    fn a_slot_is_reused_only_after_its_second_expired() {
        let store = store();
        let ring = store.slots.len() as i64;
        let (a, b) = (Jti::new_random(), Jti::new_random());
        let exp = 4_000_000;
        store.consume_at(&a, exp, exp - 5).unwrap();
        // A later second mapping to the same slot while the first is still live: fail closed.
        assert!(store.consume_at(&b, exp + ring, exp + 10).is_err());
        // Once the first second is past its retention the slot is recycled.
        assert!(store.consume_at(&b, exp + ring, exp + 31).unwrap());
        // And the old second now reads as used (refused), never as fresh.
        assert!(!store.consume_at(&a, exp, exp + 32).unwrap());
    }

    #[test]
    fn of_concurrent_first_requests_exactly_one_gets_the_object() {
        let store = std::sync::Arc::new(MemoryReplayStore {
            epoch: 0,
            ..store()
        });
        let jti = Jti::new_random();
        let now = shared::time::now_secs();
        let leases: usize = std::thread::scope(|s| {
            let handles: Vec<_> = (0..16)
                .map(|id| {
                    let (store, jti) = (&store, &jti);
                    s.spawn(move || {
                        let joined = store.join(&request(jti, now + 60, id, now)).unwrap();
                        usize::from(matches!(joined, Joined::Lease { .. }))
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).sum()
        });
        assert_eq!(leases, 1);
    }
}
