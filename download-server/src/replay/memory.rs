//! The in-memory replay store for a single instance.
//!
//! No crate offers what this needs: about 16 bytes of payload per `jti`, expiry of millions of
//! entries without per-entry timers or scans per request, and an atomic insert-if-absent. So:
//! a ring of one-second slots keyed by the token's `exp`. A `jti` always lands in the slot of its
//! own `exp` (a signed claim, so every request with one token agrees on the slot); a slot holds a
//! plain hash set of 128-bit ids and is dropped whole once `exp` + leeway has passed.

use super::{Consumed, Receipt, ReplayUnavailable};
use shared::Jti;
use std::collections::HashSet;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::Mutex;

/// Extra slots beyond the acceptance window, for clock jitter between verification and insert.
const SLACK_SECS: i64 = 8;
const EMPTY: i64 = i64::MIN;

pub struct MemoryReplayStore {
    slots: Box<[Mutex<Slot>]>,
    /// A `jti` is remembered until `exp` + this many seconds.
    retain_after_exp: i64,
    epoch: i64,
}

struct Slot {
    /// The `exp` second whose ids this slot holds, or `EMPTY`.
    exp: i64,
    ids: HashSet<u128, BuildHasherDefault<JtiHasher>>,
}

impl MemoryReplayStore {
    /// Accepted tokens have `exp` within [now - leeway, now + leeway + max_lifetime], so a ring of
    /// `max_lifetime + 2 * leeway` slots (plus slack) never needs two live seconds in one slot.
    pub fn new(leeway: i64, max_lifetime: i64) -> Self {
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
        }
    }

    pub fn epoch(&self) -> i64 {
        self.epoch
    }

    fn slot(&self, exp: i64) -> &Mutex<Slot> {
        &self.slots[exp.rem_euclid(self.slots.len() as i64) as usize]
    }

    pub fn consume(&self, jti: &Jti, exp: i64) -> Result<Consumed, ReplayUnavailable> {
        self.consume_at(jti, exp, shared::time::now_secs())
    }

    fn consume_at(&self, jti: &Jti, exp: i64, now: i64) -> Result<Consumed, ReplayUnavailable> {
        let mut slot = self.slot(exp).lock().unwrap_or_else(|p| p.into_inner());
        if slot.exp != exp {
            if slot.exp != EMPTY && slot.exp > exp {
                // A later second owns the slot: this token's window is long gone. Refuse.
                return Ok(Consumed::AlreadyUsed);
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
        Ok(if slot.ids.insert(jti.as_u128()) {
            // One process, one lock: only the consumer can release, so no receipt is needed.
            Consumed::First(Receipt(0))
        } else {
            Consumed::AlreadyUsed
        })
    }

    pub fn is_used(&self, jti: &Jti, exp: i64) -> Result<bool, ReplayUnavailable> {
        let slot = self.slot(exp).lock().unwrap_or_else(|p| p.into_inner());
        Ok(slot.exp > exp || (slot.exp == exp && slot.ids.contains(&jti.as_u128())))
    }

    pub fn release(&self, jti: &Jti, exp: i64) {
        let mut slot = self.slot(exp).lock().unwrap_or_else(|p| p.into_inner());
        if slot.exp == exp {
            slot.ids.remove(&jti.as_u128());
        }
    }

    /// Frees every slot whose `exp` + leeway has passed. Runs once a second, touching each slot
    /// once, independent of request traffic.
    pub fn sweep(&self, now: i64) {
        for slot in self.slots.iter() {
            let mut slot = slot.lock().unwrap_or_else(|p| p.into_inner());
            if slot.exp != EMPTY && slot.exp + self.retain_after_exp < now {
                slot.exp = EMPTY;
                slot.ids = HashSet::default();
            }
        }
    }

    /// Number of `jti`s remembered (for metrics and benchmarks).
    pub fn len(&self) -> usize {
        self.slots
            .iter()
            .map(|s| s.lock().unwrap_or_else(|p| p.into_inner()).ids.len())
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

    #[test]
    fn a_jti_is_consumed_once() {
        let store = MemoryReplayStore::new(30, 600);
        let (jti, exp) = (Jti::new_random(), 1_000_100);
        assert_eq!(
            store.consume_at(&jti, exp, 1_000_000).unwrap(),
            Consumed::First(Receipt(0))
        );
        assert_eq!(
            store.consume_at(&jti, exp, 1_000_001).unwrap(),
            Consumed::AlreadyUsed
        );
        assert!(store.is_used(&jti, exp).unwrap());
        assert!(!store.is_used(&Jti::new_random(), exp).unwrap());
    }

    #[test]
    fn release_makes_a_jti_usable_again() {
        let store = MemoryReplayStore::new(30, 600);
        let (jti, exp) = (Jti::new_random(), 2_000_000);
        store.consume_at(&jti, exp, exp - 10).unwrap();
        store.release(&jti, exp);
        assert_eq!(
            store.consume_at(&jti, exp, exp - 9).unwrap(),
            Consumed::First(Receipt(0))
        );
    }

    #[test]
    fn entries_are_kept_until_exp_plus_leeway_then_swept() {
        let store = MemoryReplayStore::new(30, 600);
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
        let store = MemoryReplayStore::new(30, 600);
        let ring = store.slots.len() as i64;
        let (a, b) = (Jti::new_random(), Jti::new_random());
        let exp = 4_000_000;
        store.consume_at(&a, exp, exp - 5).unwrap();
        // A later second mapping to the same slot while the first is still live: fail closed.
        assert!(store.consume_at(&b, exp + ring, exp + 10).is_err());
        // Once the first second is past its retention the slot is recycled.
        assert_eq!(
            store.consume_at(&b, exp + ring, exp + 31).unwrap(),
            Consumed::First(Receipt(0))
        );
        // And the old second now reads as used (refused), never as fresh.
        assert_eq!(
            store.consume_at(&a, exp, exp + 32).unwrap(),
            Consumed::AlreadyUsed
        );
    }

    #[test]
    fn concurrent_consumers_of_one_jti_get_exactly_one_first() {
        let store = std::sync::Arc::new(MemoryReplayStore::new(30, 600));
        let jti = Jti::new_random();
        let exp = shared::time::now_secs() + 60;
        let firsts: usize = std::thread::scope(|s| {
            let handles: Vec<_> = (0..16)
                .map(|_| {
                    s.spawn(|| {
                        (store.consume(&jti, exp).unwrap() == Consumed::First(Receipt(0))) as usize
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).sum()
        });
        assert_eq!(firsts, 1);
    }
}
