//! The grant rules are written twice: in Rust (`replay::grant`, which the memory store runs) and
//! in Lua (`replay/redis/grant.lua`, which Redis runs). Here both stores, the second on a real
//! Redis, get the same random sequences of joins, peeks, renewals and closes, with the clock
//! given, and must answer every step alike.

use download_server::replay::{
    GrantPolicy, Joined, Lease, Peeked, ReplayOptions, ReplayStore, Sent, StreamRequest,
};
use integration_tests::redis::RedisServer;
use proptest::prelude::*;
use shared::Jti;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

/// Short times, so that idle and age limits are reached within a sequence.
const POLICY: GrantPolicy = GrantPolicy {
    redundancy_min: 64 * 1024,
    redundancy_divisor: 16,
    idle: 20,
    max_age: 60,
    max_streams: 4,
    max_requests: 12,
};

/// One step; a renewal or close reports `permille`/1000 of the stream's lease as sent.
#[derive(Debug, Clone)]
enum Step {
    Join {
        id: u64,
        start: u64,
        len: u64,
        may_open: bool,
        other_version: bool,
        whole: bool,
    },
    Peek {
        may_open: bool,
        other_version: bool,
    },
    Renew {
        id: u64,
        permille: u64,
    },
    /// `counted`: reported as a count from the request's start, as a proxy reports it.
    Close {
        id: u64,
        permille: u64,
        counted: bool,
    },
}

fn step(size: u64) -> impl Strategy<Value = Step> {
    let id = 0..6u64;
    // Half the requests start on an eighth of the object, so that streams meet often.
    let start = prop_oneof![(0..8u64).prop_map(move |e| e * size / 8), 0..size.max(1)];
    let permille = prop_oneof![Just(1000u64), 0..=1000u64];
    prop_oneof![
        4 => (id.clone(), start, 1..400_000u64, prop::bool::weighted(0.9), prop::bool::weighted(0.05), prop::bool::weighted(0.2))
            .prop_map(|(id, start, len, may_open, other_version, whole)| Step::Join { id, start, len, may_open, other_version, whole }),
        1 => (prop::bool::weighted(0.9), prop::bool::weighted(0.1))
            .prop_map(|(may_open, other_version)| Step::Peek { may_open, other_version }),
        4 => (id.clone(), permille.clone()).prop_map(|(id, permille)| Step::Renew { id, permille }),
        2 => (id, permille, any::<bool>()).prop_map(|(id, permille, counted)| Step::Close { id, permille, counted }),
    ]
}

/// A single-threaded runtime, as `#[tokio::test]` makes: each test drives its stores on one.
fn current_thread() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn open(runtime: &tokio::runtime::Runtime, spec: &str, prefix: &str) -> Arc<ReplayStore> {
    let store = Arc::new(
        ReplayStore::open(&ReplayOptions {
            spec: spec.to_owned(),
            prefix: prefix.to_owned(),
            timeout: Duration::from_secs(2),
            leeway: 30,
            max_lifetime: 600,
            grants: POLICY,
        })
        .unwrap(),
    );
    runtime.block_on(async {
        store.spawn_maintenance();
        for _ in 0..200 {
            if store.ready().await && store.epoch().await.is_ok() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("the store never became ready");
    });
    store
}

/// What one step answered, in a form both stores share.
#[derive(Debug, PartialEq, Eq)]
enum Answer {
    Joined(Joined),
    Peeked(Peeked),
    Renewed(Option<u64>),
    Closed,
    Skipped,
}

/// Runs `steps` on `store` for a fresh token, tracking each stream's position from the answers.
async fn run(store: &Arc<ReplayStore>, steps: &[(i64, Step)], size: u64, base: i64) -> Vec<Answer> {
    let jti = Jti::new_random();
    // Every time stays below exp + leeway + 60 s, where the Redis store still keeps a used
    // token's mark (the memory store keeps it until its real-time sweep, which these simulated
    // times never reach); from exp + leeway on, no request may open a grant.
    let (iat, exp) = (base, base + 60);
    let mut positions: HashMap<u64, (u64, u64)> = HashMap::new();
    let mut origins: HashMap<u64, u64> = HashMap::new();
    let mut answers = Vec::new();
    for (now, step) in steps {
        let now = base + now;
        let request =
            |start, want, may_open: bool, other_version: bool, id, whole: bool| StreamRequest {
                jti: &jti,
                iat,
                exp,
                may_open: may_open && now <= exp + 30,
                etag: if other_version { "\"v2\"" } else { "\"v1\"" },
                size,
                start,
                want,
                stream: id,
                lease: if whole { Lease::Whole } else { Lease::Renewed },
                now,
            };
        let answer = match *step {
            Step::Join {
                id,
                start,
                len,
                may_open,
                other_version,
                whole,
            } => {
                let start = start.min(size);
                let want = (start + len).min(size);
                let joined = store
                    .join(&request(start, want, may_open, other_version, id, whole))
                    .await
                    .unwrap();
                // A join with the id of a live stream is a retry: same stream, same origin.
                if let Joined::Lease { end } = joined
                    && !positions.contains_key(&id)
                {
                    positions.insert(id, (start, end));
                    origins.insert(id, start);
                }
                Answer::Joined(joined)
            }
            Step::Peek {
                may_open,
                other_version,
            } => Answer::Peeked(
                store
                    .peek(&request(0, size, may_open, other_version, 99, false))
                    .await
                    .unwrap(),
            ),
            Step::Renew { id, permille } => match positions.get(&id).copied() {
                Some((pos, end)) => {
                    let written = pos + (end - pos) * permille / 1000;
                    let renewed = store.renew(&jti, exp, id, written, now).await.unwrap();
                    match renewed {
                        Some(next) => positions.insert(id, (written, next)),
                        None => positions.remove(&id),
                    };
                    Answer::Renewed(renewed)
                }
                None => Answer::Skipped,
            },
            Step::Close {
                id,
                permille,
                counted,
            } => match positions.remove(&id) {
                Some((pos, end)) => {
                    let written = pos + (end - pos) * permille / 1000;
                    let origin = origins[&id];
                    let sent = if counted {
                        Sent::Count(written - origin)
                    } else {
                        Sent::Upto(written)
                    };
                    store.close(&jti, exp, id, sent, now).await.unwrap();
                    Answer::Closed
                }
                None => Answer::Skipped,
            },
        };
        answers.push(answer);
    }
    answers
}

const KIB: u64 = 1024;
const MIB: u64 = 1024 * KIB;

/// A fresh stream reaching delivered bytes re-sends them, but not into bytes another live stream
/// is re-sending at that moment: its lease stops where that stream's begins.
#[test]
fn both_stores_stop_a_fresh_stream_where_another_streams_re_send_begins() {
    let runtime = current_thread();
    let redis = RedisServer::start();
    let memory = open(&runtime, "memory", "");
    let shared = open(&runtime, &redis.url(), &RedisServer::prefix());
    let base = shared::time::now_secs() + 5;
    let join = |id, start| Step::Join {
        id,
        start,
        len: 8 * MIB,
        may_open: true,
        other_version: false,
        whole: false,
    };
    let renew = |id| (0, Step::Renew { id, permille: 1000 });
    let steps = [
        (0, join(1, MIB)),
        (
            0,
            Step::Close {
                id: 1,
                permille: 1000,
                counted: false,
            },
        ),
        (0, join(2, MIB + 64 * KIB)),
        (0, join(3, 0)),
        renew(3),
        renew(3),
        renew(3),
        renew(3),
        renew(3),
        renew(3),
        renew(3),
        renew(3),
    ];
    let size = 9 * MIB;
    let in_memory = runtime.block_on(run(&memory, &steps, size, base));
    let in_redis = runtime.block_on(run(&shared, &steps, size, base));
    assert_eq!(in_memory, in_redis);
    assert_eq!(
        in_memory.last(),
        Some(&Answer::Renewed(Some(MIB + 64 * KIB))),
        "{in_memory:?}"
    );
}

/// A request for the whole of a 4 KiB object as a proxy streams it.
fn whole_4k(jti: &Jti, now: i64, stream: u64) -> StreamRequest<'_> {
    StreamRequest {
        jti,
        iat: now,
        exp: now + 60,
        may_open: true,
        etag: "\"v1\"",
        size: 4096,
        start: 0,
        want: 4096,
        stream,
        lease: Lease::Whole,
        now,
    }
}

/// Freezes Redis and gives up `request`'s join after 200 ms, unanswered; Redis stays frozen.
async fn give_up_a_join(
    redis: &RedisServer,
    store: &Arc<ReplayStore>,
    request: &StreamRequest<'_>,
) {
    redis.freeze();
    let given_up = tokio::time::timeout(Duration::from_millis(200), store.join(request));
    assert!(given_up.await.is_err(), "Redis is frozen: no answer yet");
}

/// A join whose caller gave up before Redis answered (a request dropped mid-join) served
/// nothing: once the answer comes its stream is closed again, so the token is as if unasked.
#[test]
fn a_join_given_up_before_its_answer_is_taken_back() {
    let runtime = current_thread();
    let redis = RedisServer::start();
    let prefix = RedisServer::prefix();
    let store = open(&runtime, &redis.url(), &prefix);
    let (jti, now) = (Jti::new_random(), shared::time::now_secs() + 1);
    let request = |stream| whole_4k(&jti, now, stream);
    runtime.block_on(async {
        give_up_a_join(&redis, &store, &request(1)).await;
        redis.thaw();
        // Bounded: the join is applied (the key appears), then taken back (it goes).
        let key = format!("{prefix}jti:{}", jti.as_uuid().hyphenated());
        let mut conn = redis.connection();
        let mut seen = false;
        for _ in 0..300 {
            let exists: bool = redis::cmd("EXISTS").arg(&key).query(&mut conn).unwrap();
            seen |= exists;
            if seen && !exists {
                break;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        assert_eq!(
            store.join(&request(2)).await.unwrap(),
            Joined::Lease { end: 4096 }
        );
        store
            .close(&jti, now + 60, 2, Sent::Upto(4096), now)
            .await
            .unwrap();
        assert_eq!(
            store.join(&request(3)).await.unwrap(),
            Joined::Refused(download_server::replay::Refusal::Spent)
        );
    });
}

/// A runtime that shuts down while a join is in flight drops its flush; a later runtime on the
/// same thread must not find its joins queued behind that flush forever.
#[test]
fn a_join_flush_dropped_with_its_runtime_leaves_no_queue_stuck() {
    let first = current_thread();
    let redis = RedisServer::start();
    let store = open(&first, &redis.url(), &RedisServer::prefix());
    let now = shared::time::now_secs() + 1;
    let (lost, later) = (Jti::new_random(), Jti::new_random());
    first.block_on(give_up_a_join(&redis, &store, &whole_4k(&lost, now, 1)));
    drop(first);
    redis.thaw();
    let second = current_thread();
    let joined = second.block_on(async {
        let later = whole_4k(&later, now, 1);
        tokio::time::timeout(Duration::from_secs(5), store.join(&later)).await
    });
    assert_eq!(
        joined.expect("the join is answered").unwrap(),
        Joined::Lease { end: 4096 }
    );
}

#[test]
fn the_memory_store_and_the_redis_store_answer_every_step_alike() {
    let runtime = current_thread();
    let redis = RedisServer::start();
    let memory = open(&runtime, "memory", "");
    let shared = open(&runtime, &redis.url(), &RedisServer::prefix());
    // Tokens issued after both stores' epochs.
    let base = shared::time::now_secs() + 5;
    let cases = prop_oneof![Just(0u64), 1..4_000_000u64].prop_flat_map(|size| {
        (
            Just(size),
            prop::collection::vec((0..5i64, step(size)), 1..60),
        )
    });
    let timed = |steps: Vec<(i64, Step)>| {
        let mut now = 0;
        steps
            .into_iter()
            .map(|(pause, step)| {
                // Mostly small steps, sometimes past the idle limit; never past 145 s.
                now = (now + pause * pause).min(145);
                (now, step)
            })
            .collect::<Vec<_>>()
    };
    let config = ProptestConfig {
        cases: 600,
        failure_persistence: None,
        ..ProptestConfig::default()
    };
    proptest!(config, |((size, steps) in cases)| {
        let steps = timed(steps);
        let in_memory = runtime.block_on(run(&memory, &steps, size, base));
        let in_redis = runtime.block_on(run(&shared, &steps, size, base));
        prop_assert_eq!(in_memory, in_redis);
    });
}
