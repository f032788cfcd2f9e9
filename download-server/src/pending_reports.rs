//! The hand-offs (and forward-auth allows) this instance made that await their proxy's report, so
//! that the report, which repeats the very token, closes its stream without a second signature
//! check: the token is recognised by its SHA-256 and the stream by its request id. A report that
//! lands on another instance, or comes after its entry was evicted, is verified as usual.

use shared::Jti;
use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// At most this many hand-offs await a report (about 160 bytes each, 10 MiB in all); the oldest
/// go first.
const CAPACITY: usize = 65_536;

type Key = ([u8; 32], u64);

pub(crate) struct PendingReports {
    /// Entries older than this (the grant's idle limit) can no longer matter.
    max_age: Duration,
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    entries: HashMap<Key, (Jti, i64)>,
    order: VecDeque<(Instant, Key)>,
}

fn key(token: &str, stream: u64) -> Key {
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, token.as_bytes());
    let mut hash = [0u8; 32];
    hash.copy_from_slice(digest.as_ref());
    (hash, stream)
}

impl PendingReports {
    pub fn new(max_age: Duration) -> Self {
        PendingReports {
            max_age,
            inner: Mutex::default(),
        }
    }

    /// Remembers that `token` (verified, with `jti` and `exp`) was handed off as `stream`.
    pub fn insert(&self, token: &str, stream: u64, jti: Jti, exp: i64) {
        let key = key(token, stream);
        let now = Instant::now();
        let mut inner = self
            .inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        while let Some(&(at, old)) = inner.order.front() {
            let full = inner.order.len() >= CAPACITY;
            if !full && now.duration_since(at) < self.max_age {
                break;
            }
            inner.order.pop_front();
            inner.entries.remove(&old);
        }
        if inner.entries.insert(key, (jti, exp)).is_none() {
            inner.order.push_back((now, key));
        }
    }

    /// The `jti` and `exp` of a hand-off of `token` as `stream` this instance made, forgotten.
    pub fn take(&self, token: &str, stream: u64) -> Option<(Jti, i64)> {
        let mut inner = self
            .inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        // Its place in `order` stays until it ages out; `insert` skips keys already gone.
        inner.entries.remove(&key(token, stream))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_report_finds_only_the_same_token_and_stream_once() {
        let pending = PendingReports::new(Duration::from_secs(600));
        let jti = Jti::new_random();
        pending.insert("token-a", 7, jti, 99);

        assert_eq!(pending.take("token-b", 7), None);
        assert_eq!(pending.take("token-a", 8), None);
        assert_eq!(pending.take("token-a", 7), Some((jti, 99)));
        assert_eq!(pending.take("token-a", 7), None);
    }

    #[test]
    fn the_oldest_go_once_full_or_too_old() {
        let pending = PendingReports::new(Duration::from_secs(600));
        let first = Jti::new_random();
        pending.insert("t", 0, first, 1);
        for stream in 1..=CAPACITY as u64 {
            pending.insert("t", stream, Jti::new_random(), 1);
        }
        assert_eq!(pending.take("t", 0), None, "evicted when full");
        assert!(pending.take("t", CAPACITY as u64).is_some());

        let aged = PendingReports::new(Duration::ZERO);
        aged.insert("t", 1, first, 1);
        aged.insert("t", 2, first, 1);
        assert_eq!(
            aged.take("t", 1),
            None,
            "evicted once older than the idle limit"
        );
    }
}
