//! The memory-mode feed: the last `capacity` events of this instance, numbered from 1. A cursor
//! is `m<boot>-<seq>`: `boot` is random per start, so a cursor from before a restart is known to
//! be from another life (a gap), not mistaken for a position in this one.

use std::collections::VecDeque;
use std::sync::Mutex;

pub struct Ring {
    boot: u64,
    inner: Mutex<Inner>,
    arrived: tokio::sync::Notify,
    capacity: usize,
}

struct Inner {
    /// `(seq, event JSON)`, oldest first.
    events: VecDeque<(u64, String)>,
    next_seq: u64,
}

/// What a read found.
pub struct Read {
    pub events: Vec<(String, String)>,
    pub next: String,
    pub gap: bool,
}

impl Ring {
    pub fn new(capacity: usize) -> Self {
        Ring {
            boot: uuid::Uuid::new_v4().as_u64_pair().0,
            inner: Mutex::new(Inner {
                events: VecDeque::new(),
                next_seq: 1,
            }),
            arrived: tokio::sync::Notify::new(),
            capacity,
        }
    }

    pub fn push(&self, json: String) {
        {
            let mut inner = self
                .inner
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            let seq = inner.next_seq;
            inner.next_seq += 1;
            if inner.events.len() == self.capacity {
                inner.events.pop_front();
            }
            inner.events.push_back((seq, json));
        }
        self.arrived.notify_waiters();
    }

    fn cursor(&self, seq: u64) -> String {
        format!("m{:016x}-{seq}", self.boot)
    }

    /// The position a cursor names in this life, `None` for another life's or garbage.
    fn position(&self, cursor: &str) -> Option<u64> {
        let (boot, seq) = cursor.strip_prefix('m')?.split_once('-')?;
        (u64::from_str_radix(boot, 16).ok()? == self.boot)
            .then(|| seq.parse().ok())
            .flatten()
    }

    /// Up to `limit` events after `after`.
    pub fn read(&self, after: Option<&str>, limit: usize) -> Read {
        let inner = self
            .inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let oldest = inner.events.front().map_or(inner.next_seq, |(seq, _)| *seq);
        let (from, gap) = match after.map(|c| self.position(c)) {
            None => (oldest, false),
            // Another life's cursor: everything since this start, and say so.
            Some(None) => (oldest, true),
            Some(Some(seq)) => (seq + 1, seq + 1 < oldest),
        };
        let events: Vec<(String, String)> = inner
            .events
            .iter()
            .filter(|(seq, _)| *seq >= from)
            .take(limit)
            .map(|(seq, json)| (self.cursor(*seq), json.clone()))
            .collect();
        let last = match events.last() {
            Some(_) => from + events.len() as u64 - 1,
            None => from.max(1) - 1,
        };
        Read {
            events,
            next: self.cursor(last),
            gap,
        }
    }

    /// Completes when an event is pushed after this call (create it before reading, so that
    /// an event pushed in between is not missed).
    pub fn arrival(&self) -> tokio::sync::futures::Notified<'_> {
        self.arrived.notified()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cursor_reads_on_from_where_it_stopped_and_a_lost_stretch_is_a_gap() {
        let ring = Ring::new(3);
        let first = ring.read(None, 10);
        assert!(first.events.is_empty() && !first.gap);
        ring.push("a".into());
        ring.push("b".into());
        let read = ring.read(Some(&first.next), 10);
        assert_eq!(
            read.events.iter().map(|e| e.1.as_str()).collect::<Vec<_>>(),
            ["a", "b"]
        );
        assert!(!read.gap);
        let after_b = read.next;
        assert!(ring.read(Some(&after_b), 10).events.is_empty());
        for event in ["c", "d", "e", "f"] {
            ring.push(event.into());
        }
        // "c" was pushed out of the ring (of 3) before it was read.
        let read = ring.read(Some(&after_b), 10);
        assert!(read.gap);
        assert_eq!(
            read.events.iter().map(|e| e.1.as_str()).collect::<Vec<_>>(),
            ["d", "e", "f"]
        );
        // Paging.
        let page = ring.read(None, 1);
        assert_eq!(page.events[0].1, "d");
        assert_eq!(ring.read(Some(&page.next), 1).events[0].1, "e");
    }

    #[test]
    fn another_lifes_cursor_is_a_gap() {
        let old = Ring::new(3);
        old.push("a".into());
        let cursor = old.read(None, 10).next;
        let new = Ring::new(3);
        new.push("b".into());
        let read = new.read(Some(&cursor), 10);
        assert!(read.gap);
        assert_eq!(read.events[0].1, "b");
        assert!(new.read(Some("garbage"), 10).gap);
    }
}
