//! Bytes per live `jti` in the in-memory replay store at 6,000,000 live entries: 20,000 tokens/s
//! consumed for 300 s, so 300 one-second slots of 20,000 ids each. Heap bytes are counted exactly
//! by a counting global allocator; RSS is read from /proc for comparison.
//!
//! `cargo bench -p download-server --bench jti_memory [-- --rate N --seconds S]`

use download_server::replay::{GrantPolicy, Joined, MemoryReplayStore, StreamRequest};
use shared::Jti;
use stats_alloc::{INSTRUMENTED_SYSTEM, Region, StatsAlloc};
use std::alloc::System;

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

const TARGET_BYTES_PER_JTI: f64 = 48.0;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let flag = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .and_then(|v| v.parse::<u64>().ok())
    };
    // `cargo test --benches` runs bench targets without `--bench`: keep that run small.
    let full = args.iter().any(|a| a == "--bench");
    let rate = flag("--rate").unwrap_or(if full { 20_000 } else { 2_000 });
    let seconds = flag("--seconds").unwrap_or(if full { 300 } else { 10 });

    // The server's defaults: 600 s max lifetime, 30 s leeway.
    let rss_before = rss_bytes();
    let region = Region::new(GLOBAL);
    let store = MemoryReplayStore::new(30, 600, GrantPolicy::default());
    let now = shared::time::now_secs();
    let started = std::time::Instant::now();
    for second in 0..seconds as i64 {
        // Tokens used during one second carry the same `exp` (TTL after their mint second).
        let exp = now + 1 + second;
        for _ in 0..rate {
            // The common download: one request opens the grant, sends the object, closes.
            let jti = Jti::new_random();
            let request = download(&jti, exp, now, store.new_stream_id(), 1024, 0, 1024);
            let joined = store.join(&request).expect("store answers");
            assert_eq!(joined, Joined::Lease { end: 1024 });
            store.close(&jti, exp, request.stream, 1024, now);
        }
    }
    assert_eq!(
        store.open_grants(),
        0,
        "finished downloads leave only their jti"
    );
    let elapsed = started.elapsed();
    let change = region.change();
    let heap = change.bytes_allocated as i64 - change.bytes_deallocated as i64
        + change.bytes_reallocated as i64;
    let rss = rss_bytes().saturating_sub(rss_before);
    let live = store.len() as u64;
    assert_eq!(live, rate * seconds, "every id is still live");

    let per_jti = heap as f64 / live as f64;
    println!(
        "jti_memory: {live} live jtis ({rate}/s for {seconds} s) inserted in {:.2} s ({:.1} M/s)",
        elapsed.as_secs_f64(),
        live as f64 / elapsed.as_secs_f64() / 1e6
    );
    println!(
        "jti_memory: heap {heap} bytes = {per_jti:.1} bytes per live jti (target <= {TARGET_BYTES_PER_JTI}: {})",
        if per_jti <= TARGET_BYTES_PER_JTI {
            "met"
        } else {
            "MISSED"
        }
    );
    println!(
        "jti_memory: RSS grew {rss} bytes = {:.1} bytes per live jti",
        rss as f64 / live as f64
    );
    // One machine-readable line for bench/run.
    println!(
        "JTI_MEMORY live={live} heap_bytes={heap} bytes_per_jti={per_jti:.2} rss_bytes_per_jti={:.2}",
        rss as f64 / live as f64
    );
    drop(store);
    open_grants(seconds.min(10) as usize * 1000);
}

/// A request for `[start, want)` of an object of `size` bytes.
fn download(
    jti: &Jti,
    exp: i64,
    now: i64,
    stream: u64,
    size: u64,
    start: u64,
    want: u64,
) -> StreamRequest<'_> {
    StreamRequest {
        jti,
        // At or after the store's epoch (its start, rounded up).
        iat: now + 1,
        exp,
        may_open: true,
        etag: "\"5f3759df-40000000\"",
        size,
        start,
        want,
        stream,
        now,
    }
}

/// Heap per open grant: `count` downloads of 1 GiB cut off at 100 MiB, then resumed by a second
/// stream that is still running (two delivered spans, one live stream each).
fn open_grants(count: usize) {
    let region = Region::new(GLOBAL);
    let store = MemoryReplayStore::new(30, 600, GrantPolicy::default());
    let now = shared::time::now_secs();
    for _ in 0..count {
        let jti = Jti::new_random();
        let first = download(
            &jti,
            now + 120,
            now,
            store.new_stream_id(),
            1 << 30,
            0,
            1 << 30,
        );
        let Ok(Joined::Lease { mut end }) = store.join(&first) else {
            panic!("the first request opens the grant");
        };
        while end < 100 << 20 {
            end = store
                .renew(&jti, first.stream, end, now)
                .expect("a lone stream goes on");
        }
        store.close(&jti, now + 120, first.stream, 100 << 20, now);
        let resume = download(
            &jti,
            now + 120,
            now,
            store.new_stream_id(),
            1 << 30,
            99 << 20,
            1 << 30,
        );
        assert!(matches!(store.join(&resume), Ok(Joined::Lease { .. })));
    }
    let change = region.change();
    let heap = change.bytes_allocated as i64 - change.bytes_deallocated as i64
        + change.bytes_reallocated as i64;
    assert_eq!(store.open_grants(), count);
    let per_grant = heap as f64 / count as f64;
    println!(
        "grant_memory: {count} open grants, heap {heap} bytes = {per_grant:.1} bytes per open grant"
    );
    println!("GRANT_MEMORY grants={count} heap_bytes={heap} bytes_per_grant={per_grant:.2}");
    drop(store);
}

/// Resident set size of this process, from /proc/self/statm (Linux); 0 elsewhere.
fn rss_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1)?.parse::<u64>().ok())
        .map_or(0, |pages| pages * 4096)
}
