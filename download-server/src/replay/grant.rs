//! A grant: what one token may still receive, namely one copy of one version of the object.
//!
//! The first request that sends bytes opens the grant, pinned to the object's ETag and size `S`.
//! Every request with the same token then joins it (a resume, a parallel segment, the download
//! after a probe) and streams under a *lease*: a byte range it may send before it must check in
//! again. The accounting keeps, whatever the clients do:
//! - **never two copies:** bytes sent under one token never exceed the budget `S + R`
//!   (`GrantPolicy::redundancy`). Leases reserve budget before a byte goes out. A stream that has
//!   sent fresh bytes stops at the first byte of another live stream's run (the frontier: what
//!   that stream sent or may send since its request began), which is where segmenting clients
//!   stop reading anyway; bytes only finished streams sent are sent again, within the allowance;
//! - **spent when delivered:** once every byte was sent at least once and no stream is left,
//!   no new request is served; while streams run, a request is served only if what it must send
//!   again fits in the allowance;
//! - **bounded:** at most `max_streams` live streams and `max_requests` requests per grant; a
//!   grant ends `idle` seconds after its last activity or `max_age` after it opened.
//!
//! This type is the single statement of the rules: the memory store runs it under a lock, and the
//! Redis store's scripts (`redis/grant.lua`) implement the same steps, checked against it by a
//! test that drives both with the same operations.

use serde::{Deserialize, Serialize};

/// Limits of every grant (flags `--grant-*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GrantPolicy {
    /// The redundancy allowance is at least this many bytes (but never over half the object).
    pub redundancy_min: u64,
    /// ... and at least `S / redundancy_divisor`.
    pub redundancy_divisor: u64,
    /// Seconds without a request or a renewal after which a grant ends.
    pub idle: i64,
    /// Seconds after opening at which a grant ends, however active.
    pub max_age: i64,
    /// Streams in flight at once.
    pub max_streams: usize,
    /// Requests over the grant's life.
    pub max_requests: u32,
}

impl Default for GrantPolicy {
    fn default() -> Self {
        GrantPolicy {
            redundancy_min: 4 * MIB,
            redundancy_divisor: 16,
            idle: 600,
            max_age: 3600,
            max_streams: 16,
            max_requests: 1024,
        }
    }
}

const KIB: u64 = 1024;
const MIB: u64 = 1024 * KIB;
/// Leases are never shorter than this (a lease costs a store call) ...
pub(crate) const LEASE_MIN: u64 = 64 * KIB;
/// ... nor longer than this.
pub(crate) const LEASE_MAX: u64 = 16 * MIB;
/// The opening stream's first lease covers at least this much: a file up to this size goes out
/// in one lease, so the common one-request download costs one store call to open and one to close.
pub(crate) const FIRST_LEASE: u64 = MIB;

impl GrantPolicy {
    /// `R`: bytes that may be sent twice, for what is lost in flight when a connection drops and
    /// re-sent on resume, and for segments that overlap. `min(S/2, max(redundancy_min,
    /// S/redundancy_divisor))`: whole socket buffers' worth for small files, a sixteenth of
    /// large ones, and never enough for a second copy.
    pub fn redundancy(&self, size: u64) -> u64 {
        (size / 2).min(
            self.redundancy_min
                .max(size / self.redundancy_divisor.max(1)),
        )
    }

    /// The lease length: a quarter of `R`, so that a few segments started inside another
    /// stream's lease (sending those bytes twice) still fit in the allowance.
    pub fn lease(&self, size: u64) -> u64 {
        (self.redundancy(size) / 4).clamp(LEASE_MIN, LEASE_MAX)
    }
}

/// Why a request under a grant is not served.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Refusal {
    /// Every byte was sent (or is being sent), or what is asked would exceed the allowance.
    Spent,
    /// Idle too long, too old, or too many requests.
    Ended,
    /// The object is no longer the version the grant was opened on.
    Changed,
    /// Too many streams in flight: try again in a moment.
    Busy,
    /// The token expired before any request opened a grant.
    Expired,
    /// The token was issued before the store's epoch: the store cannot know whether it was used.
    BeforeEpoch,
}

/// One live stream: since its request began at `origin` it has sent `[origin, pos)` and it may
/// send `[pos, end)`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stream {
    pub id: u64,
    pub origin: u64,
    pub pos: u64,
    pub end: u64,
    /// Where the request's range ends (exclusive).
    pub want: u64,
    /// Whether it has been granted bytes nobody had sent; from then on it stops at the frontier.
    pub fresh: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Grant {
    pub etag: String,
    pub size: u64,
    /// `S + R`.
    pub budget: u64,
    pub opened: i64,
    pub last: i64,
    pub requests: u32,
    /// Bytes sent and accounted (renewed or closed), re-sent bytes included.
    pub sent: u64,
    /// Bytes sent at least once: sorted, merged, half-open intervals.
    pub delivered: Vec<[u64; 2]>,
    pub streams: Vec<Stream>,
}

/// What a close left behind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AfterClose {
    /// Streams remain, or bytes remain to be sent: the grant stays.
    Open,
    /// Every byte was sent and no stream is left: the token is spent.
    Spent,
    /// Nothing was ever sent: the token is as good as new.
    Released,
}

impl Grant {
    pub fn open(etag: &str, size: u64, policy: &GrantPolicy, now: i64) -> Self {
        Grant {
            etag: etag.to_owned(),
            size,
            budget: size + policy.redundancy(size),
            opened: now,
            last: now,
            requests: 0,
            sent: 0,
            delivered: Vec::new(),
            streams: Vec::new(),
        }
    }

    /// Whether the grant has ended at `now` (idle with no stream, or too old).
    pub fn ended(&self, policy: &GrantPolicy, now: i64) -> bool {
        now - self.opened > policy.max_age
            || (self.streams.is_empty() && now - self.last > policy.idle)
    }

    /// Whether every byte was sent and no stream is left: the token is spent.
    pub fn spent(&self) -> bool {
        self.streams.is_empty() && covers(&self.delivered, self.size)
    }

    /// A new request for bytes `[start, want)` of the version `etag`: refused, or stream `id`
    /// with its first lease's end. Retrying with the same `id` gives the same answer.
    pub fn join(
        &mut self,
        id: u64,
        etag: &str,
        start: u64,
        want: u64,
        policy: &GrantPolicy,
        now: i64,
    ) -> Result<u64, Refusal> {
        if let Some(stream) = self.streams.iter().find(|s| s.id == id) {
            return Ok(stream.end);
        }
        if self.ended(policy, now) || self.requests >= policy.max_requests {
            return Err(Refusal::Ended);
        }
        if etag != self.etag {
            return Err(Refusal::Changed);
        }
        // An empty object is delivered from the start: its first request is its one copy.
        if self.spent() && (self.size > 0 || self.requests > 0) {
            return Err(Refusal::Spent);
        }
        if self.streams.len() >= policy.max_streams {
            return Err(Refusal::Busy);
        }
        let want = want.min(self.size);
        let start = start.min(want);
        let first = self.delivered.is_empty() && self.streams.is_empty();
        let mut stream = Stream {
            id,
            origin: start,
            pos: start,
            end: start,
            want,
            fresh: false,
        };
        // A request whose first bytes were all sent before must fit its re-send in what is left
        // of the allowance, or it is refused now rather than cut off later.
        let claims = self.claims_besides(id);
        if let Some(region_end) = containing(&claims.all, start)
            && region_end.min(want) - start > claims.available
        {
            return Err(Refusal::Spent);
        }
        let cap = if first {
            policy.lease(self.size).max(FIRST_LEASE)
        } else {
            policy.lease(self.size)
        };
        if start < want {
            stream.end = claims
                .lease_end(&mut stream.fresh, start, want, &self.delivered, cap)
                .ok_or(Refusal::Spent)?;
        }
        self.requests += 1;
        self.last = now;
        self.streams.push(stream);
        Ok(self.streams.last().map_or(start, |s| s.end))
    }

    /// Stream `id` has sent everything up to `written`; its next lease's end, or `None`: stop
    /// (and the stream is gone).
    pub fn renew(&mut self, id: u64, written: u64, policy: &GrantPolicy, now: i64) -> Option<u64> {
        let index = self.streams.iter().position(|s| s.id == id)?;
        self.commit(index, written);
        self.last = now;
        let stream = &self.streams[index];
        if now - self.opened > policy.max_age || stream.pos >= stream.want {
            self.streams.remove(index);
            return None;
        }
        let claims = self.claims_besides(id);
        let stream = &mut self.streams[index];
        match claims.lease_end(
            &mut stream.fresh,
            stream.pos,
            stream.want,
            &self.delivered,
            policy.lease(self.size),
        ) {
            Some(end) => {
                stream.end = end;
                Some(end)
            }
            None => {
                self.streams.remove(index);
                None
            }
        }
    }

    /// Stream `id` ended after sending everything up to `written`.
    pub fn close(&mut self, id: u64, written: u64, now: i64) -> AfterClose {
        if let Some(index) = self.streams.iter().position(|s| s.id == id) {
            self.commit(index, written);
            self.streams.remove(index);
            self.last = now;
        }
        if !self.streams.is_empty() {
            AfterClose::Open
        } else if self.size == 0 {
            // An empty object is delivered by its one response.
            AfterClose::Spent
        } else if self.delivered.is_empty() {
            AfterClose::Released
        } else if covers(&self.delivered, self.size) {
            AfterClose::Spent
        } else {
            AfterClose::Open
        }
    }

    /// Accounts `[pos, written)` of stream `index` as sent (never past its lease).
    fn commit(&mut self, index: usize, written: u64) {
        let stream = &mut self.streams[index];
        let written = written.clamp(stream.pos, stream.end);
        if written > stream.pos {
            self.sent += written - stream.pos;
            let span = [stream.pos, written];
            stream.pos = written;
            self.delivered = merged(self.delivered.iter().copied().chain([span]));
        }
    }

    /// What the other streams hold, and the budget left once their leases are reserved.
    fn claims_besides(&self, id: u64) -> Claims {
        let others = self.streams.iter().filter(|s| s.id != id);
        let reserved: u64 = others.clone().map(|s| s.end - s.pos).sum();
        let live = merged(others.map(|s| [s.origin, s.end]));
        Claims {
            all: merged(self.delivered.iter().copied().chain(live.iter().copied())),
            live,
            available: self.budget.saturating_sub(self.sent + reserved),
        }
    }
}

/// What is taken, as one stream sees it: the runs of the other live streams (what each sent or
/// may send since its request began), those and the delivered bytes together (merged), and the
/// budget left.
struct Claims {
    live: Vec<[u64; 2]>,
    all: Vec<[u64; 2]>,
    available: u64,
}

impl Claims {
    /// The end of the next lease for a stream at `pos` that wants `[pos, want)`, or `None`: stop.
    /// Another live stream's run: a stream that has sent fresh bytes stops there (the
    /// frontier); one that has not (a resume whose first stream has not closed yet) re-sends
    /// it. Bytes only finished streams delivered: re-sent, up to the end of what was delivered.
    /// Fresh bytes: up to the next taken byte. Never more than `cap`, nor than the budget left.
    fn lease_end(
        &self,
        fresh: &mut bool,
        pos: u64,
        want: u64,
        delivered: &[[u64; 2]],
        cap: u64,
    ) -> Option<u64> {
        let (end, resend) = if containing(&self.live, pos).is_some() {
            if *fresh {
                return None;
            }
            (containing(&self.all, pos)?, true)
        } else if let Some(delivered_end) = containing(delivered, pos) {
            // Up to another live stream's bytes at most: the next lease decides about those.
            let next_live = self
                .live
                .iter()
                .map(|span| span[0])
                .find(|&start| start > pos);
            (delivered_end.min(next_live.unwrap_or(u64::MAX)), true)
        } else {
            let next = self
                .all
                .iter()
                .map(|span| span[0])
                .find(|&start| start > pos);
            (next.unwrap_or(u64::MAX), false)
        };
        let end = end.min(want).min(pos + cap.min(self.available));
        if end <= pos {
            return None;
        }
        if !resend {
            *fresh = true;
        }
        Some(end)
    }
}

/// The end of the claimed span containing `pos`, if any.
fn containing(claimed: &[[u64; 2]], pos: u64) -> Option<u64> {
    claimed
        .iter()
        .find(|span| span[0] <= pos && pos < span[1])
        .map(|span| span[1])
}

/// Sorted, merged, non-empty half-open spans.
fn merged(spans: impl Iterator<Item = [u64; 2]>) -> Vec<[u64; 2]> {
    let mut spans: Vec<[u64; 2]> = spans.filter(|s| s[0] < s[1]).collect();
    spans.sort_unstable();
    let mut out: Vec<[u64; 2]> = Vec::with_capacity(spans.len());
    for span in spans {
        match out.last_mut() {
            Some(last) if span[0] <= last[1] => last[1] = last[1].max(span[1]),
            _ => out.push(span),
        }
    }
    out
}

fn covers(merged: &[[u64; 2]], size: u64) -> bool {
    size == 0 || matches!(merged.first(), Some(&[0, end]) if end >= size)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const POLICY: GrantPolicy = GrantPolicy {
        redundancy_min: 4 * MIB,
        redundancy_divisor: 16,
        idle: 600,
        max_age: 3600,
        max_streams: 16,
        max_requests: 1024,
    };

    #[test]
    fn the_allowance_is_a_sixteenth_at_least_4_mib_and_never_half() {
        assert_eq!(POLICY.redundancy(1024), 512);
        assert_eq!(POLICY.redundancy(MIB), MIB / 2);
        assert_eq!(POLICY.redundancy(30 * MIB), 4 * MIB);
        assert_eq!(POLICY.redundancy(1024 * MIB), 64 * MIB);
        assert_eq!(POLICY.lease(1024 * MIB), 16 * MIB);
        assert_eq!(POLICY.lease(30 * MIB), MIB);
        assert_eq!(POLICY.lease(1024), LEASE_MIN);
    }

    #[test]
    fn one_request_for_a_small_file_is_one_lease_and_spends_the_grant() {
        let mut grant = Grant::open("\"v1\"", MIB, &POLICY, 0);
        assert_eq!(grant.join(1, "\"v1\"", 0, MIB, &POLICY, 0), Ok(MIB));
        assert_eq!(
            grant.join(2, "\"v1\"", 0, MIB, &POLICY, 0),
            Err(Refusal::Spent),
            "a second copy does not fit in the allowance"
        );
        assert_eq!(grant.close(1, MIB, 1), AfterClose::Spent);
        assert_eq!(grant.sent, MIB);
    }

    #[test]
    fn a_cut_download_resumes_and_resending_what_was_lost_costs_the_allowance() {
        let size = 30 * MIB;
        let mut grant = Grant::open("e", size, &POLICY, 0);
        let mut end = grant.join(1, "e", 0, size, &POLICY, 0).unwrap();
        while end < 10 * MIB {
            end = grant.renew(1, end, &POLICY, 0).unwrap();
        }
        // The connection drops: the server wrote 10 MiB + 100 KiB, the client kept 9 MiB.
        grant.renew(1, end, &POLICY, 0);
        assert_eq!(grant.close(1, 10 * MIB + 100 * KIB, 1), AfterClose::Open);
        let mut end = grant.join(2, "e", 9 * MIB, size, &POLICY, 2).unwrap();
        assert_eq!(
            end,
            10 * MIB,
            "re-sends what was lost first, a lease at a time"
        );
        end = grant.renew(2, end, &POLICY, 2).unwrap();
        assert_eq!(end, 10 * MIB + 100 * KIB, "up to where the lost bytes end");
        assert!(!grant.streams[0].fresh);
        while end < size {
            end = grant.renew(2, end, &POLICY, 2).unwrap();
        }
        assert_eq!(grant.renew(2, size, &POLICY, 2), None);
        assert_eq!(grant.close(2, size, 3), AfterClose::Spent);
        assert_eq!(grant.sent, size + MIB + 100 * KIB);
    }

    #[test]
    fn a_probe_then_the_download_works_and_a_second_download_does_not() {
        let size = 2 * MIB;
        let mut grant = Grant::open("e", size, &POLICY, 0);
        assert_eq!(grant.join(1, "e", 0, 1, &POLICY, 0), Ok(1));
        assert_eq!(grant.close(1, 1, 0), AfterClose::Open);
        let mut end = grant.join(2, "e", 0, size, &POLICY, 0).unwrap();
        assert_eq!(end, 1, "the probed byte is re-sent first");
        while let Some(next) = grant.renew(2, end, &POLICY, 0) {
            end = next;
        }
        assert_eq!(end, size);
        assert_eq!(grant.close(2, size, 0), AfterClose::Spent);
        assert_eq!(grant.join(3, "e", 0, size, &POLICY, 0), Err(Refusal::Spent));
    }

    #[test]
    fn a_stream_stops_at_bytes_another_stream_claimed() {
        let size = 30 * MIB;
        let mut grant = Grant::open("e", size, &POLICY, 0);
        let mut a = grant.join(1, "e", 0, size, &POLICY, 0).unwrap();
        assert_eq!(a, MIB);
        let b = grant.join(2, "e", 3 * MIB, size, &POLICY, 0).unwrap();
        assert_eq!(b, 4 * MIB);
        while let Some(next) = grant.renew(1, a, &POLICY, 0) {
            a = next;
        }
        assert_eq!(a, 3 * MIB, "stream 1 stopped where stream 2 began");
    }

    #[test]
    fn another_version_too_many_streams_and_time_end_the_grant() {
        let mut grant = Grant::open("e", 100 * MIB, &POLICY, 0);
        assert_eq!(
            grant.join(1, "other", 0, 10, &POLICY, 0),
            Err(Refusal::Changed)
        );
        for id in 0..16 {
            assert!(
                grant
                    .join(id, "e", id * 5 * MIB, 100 * MIB, &POLICY, 0)
                    .is_ok()
            );
        }
        assert_eq!(
            grant.join(99, "e", 90 * MIB, 100 * MIB, &POLICY, 0),
            Err(Refusal::Busy)
        );
        for id in 0..16 {
            grant.close(id, id * 5 * MIB + 10, 1);
        }
        assert_eq!(
            grant.join(99, "e", 90 * MIB, 100 * MIB, &POLICY, 602),
            Err(Refusal::Ended),
            "idle for ten minutes"
        );
        let mut old = Grant::open("e", 100 * MIB, &POLICY, 0);
        let end = old.join(1, "e", 0, 100 * MIB, &POLICY, 0).unwrap();
        assert_eq!(old.renew(1, end, &POLICY, 3601), None, "an hour old");
    }

    #[test]
    fn a_join_retried_with_its_own_id_gets_the_same_lease() {
        let mut grant = Grant::open("e", 10 * MIB, &POLICY, 0);
        let first = grant.join(7, "e", 0, 10 * MIB, &POLICY, 0);
        assert_eq!(grant.join(7, "e", 0, 10 * MIB, &POLICY, 0), first);
        assert_eq!(grant.requests, 1);
    }

    #[test]
    fn a_stream_that_sent_nothing_releases_the_grant() {
        let mut grant = Grant::open("e", 10, &POLICY, 0);
        grant.join(1, "e", 0, 10, &POLICY, 0).unwrap();
        assert_eq!(grant.close(1, 0, 0), AfterClose::Released);
    }

    #[derive(Debug, Clone)]
    enum Op {
        Join { id: u64, start: u64, len: u64 },
        Renew { id: u64, sent: u64 },
        Close { id: u64, sent: u64 },
    }

    fn op(size: u64) -> impl Strategy<Value = Op> {
        prop_oneof![
            (0..20u64, 0..size, 1..=size).prop_map(|(id, start, len)| Op::Join { id, start, len }),
            (0..20u64, 0..=size).prop_map(|(id, sent)| Op::Renew { id, sent }),
            (0..20u64, 0..=size).prop_map(|(id, sent)| Op::Close { id, sent }),
        ]
    }

    proptest! {
        /// Whatever clients do: the bytes sent never exceed `S + R`, no two live leases that send
        /// fresh bytes overlap, and a grant whose every byte was sent, with no stream left,
        /// refuses new requests.
        #[test]
        fn no_interleaving_sends_more_than_one_copy_and_the_allowance(
            size in 1u64..64 * MIB,
            ops in proptest::collection::vec(op(64 * MIB), 1..200),
        ) {
            let mut grant = Grant::open("e", size, &POLICY, 0);
            for op in ops {
                match op {
                    Op::Join { id, start, len } => {
                        let start = start % size;
                        let _ = grant.join(id, "e", start, start + len, &POLICY, 0);
                    }
                    Op::Renew { id, sent } => {
                        let pos = grant.streams.iter().find(|s| s.id == id).map(|s| (s.pos, s.end));
                        if let Some((pos, end)) = pos {
                            let _ = grant.renew(id, pos + sent % (end - pos + 1), &POLICY, 0);
                        }
                    }
                    Op::Close { id, sent } => {
                        let pos = grant.streams.iter().find(|s| s.id == id).map(|s| (s.pos, s.end));
                        if let Some((pos, end)) = pos {
                            let _ = grant.close(id, pos + sent % (end - pos + 1), 0);
                        }
                    }
                }
                let reserved: u64 = grant.streams.iter().map(|s| s.end - s.pos).sum();
                prop_assert!(grant.sent + reserved <= size + POLICY.redundancy(size));
                prop_assert!(grant.sent >= grant.delivered.iter().map(|s| s[1] - s[0]).sum::<u64>());
                let fresh: Vec<[u64; 2]> = grant.streams.iter().filter(|s| s.fresh).map(|s| [s.pos, s.end]).collect();
                for (i, a) in fresh.iter().enumerate() {
                    for b in &fresh[i + 1..] {
                        prop_assert!(a[1] <= b[0] || b[1] <= a[0], "fresh leases {:?} and {:?} overlap", a, b);
                    }
                }
                if grant.spent() {
                    prop_assert_eq!(grant.join(1000, "e", 0, size, &POLICY, 0), Err(Refusal::Spent));
                }
            }
        }
    }
}
