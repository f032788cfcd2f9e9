//! The common one-request download's replay-store work through `ReplayStore` (the enum the
//! handler calls): open the grant, close it spent. In memory, and in a real `redis-server`
//! started on a free loopback port (two round trips).

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use download_server::replay::{
    GrantPolicy, Joined, Lease, ReplayOptions, ReplayStore, Sent, StreamRequest,
};
use shared::Jti;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};
use test_support::redis::{RedisOptions, RedisServer};

const LEEWAY: u32 = 30;
const MAX_LIFETIME: u32 = 600;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

/// Opens the store as `Application::build` does (with its background work), on `runtime`.
fn open(runtime: &tokio::runtime::Runtime, spec: &str) -> anyhow::Result<Arc<ReplayStore>> {
    let store = Arc::new(ReplayStore::open(&ReplayOptions {
        spec: spec.to_owned(),
        // A fresh key space per run.
        prefix: format!("bench:{}:", uuid::Uuid::new_v4()),
        timeout: Duration::from_secs(2),
        leeway: LEEWAY,
        max_lifetime: MAX_LIFETIME,
        grants: GrantPolicy::default(),
    })?);
    runtime.block_on(async {
        store.spawn_maintenance();
        until_ready(&store).await
    })?;
    Ok(store)
}

/// Waits (bounded) until the store answers and its epoch has passed, so fresh tokens are accepted.
async fn until_ready(store: &ReplayStore) -> anyhow::Result<()> {
    for _ in 0..200 {
        if store.ready().await
            && let Ok(epoch) = store.epoch().await
            && shared::time::now_secs() >= epoch
        {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    anyhow::bail!("the replay store did not become ready within 5 s")
}

/// Times `iters` downloads of fresh 1 KiB tokens: every one takes the path the server takes
/// (open the grant with a lease over the whole object, close it spent).
fn consume_fresh(
    runtime: &tokio::runtime::Runtime,
    store: &Arc<ReplayStore>,
    iters: u64,
) -> Duration {
    let iat = shared::time::now_secs();
    let exp = iat + 120;
    let ids: Vec<Jti> = (0..iters).map(|_| Jti::new_random()).collect();
    runtime.block_on(async {
        let started = Instant::now();
        for jti in &ids {
            let request = StreamRequest {
                jti,
                iat,
                exp,
                may_open: true,
                etag: "\"1f-400\"",
                size: 1024,
                start: 0,
                want: 1024,
                stream: store.new_stream_id(),
                lease: Lease::Renewed,
                now: iat,
            };
            let joined = store.join(&request).await.expect("store answers");
            assert_eq!(joined, Joined::Lease { end: 1024 });
            store
                .close(jti, exp, request.stream, Sent::Upto(1024), iat)
                .await
                .expect("store answers");
        }
        started.elapsed()
    })
}

fn memory(c: &mut Criterion) {
    let runtime = runtime();
    let store = open(&runtime, "memory").expect("memory store");
    let mut group = c.benchmark_group("replay_consume");
    group.throughput(Throughput::Elements(1));
    group.bench_function("memory", |b| {
        b.iter_custom(|iters| consume_fresh(&runtime, &store, iters));
    });
    group.finish();
}

fn redis(c: &mut Criterion) {
    if Command::new("redis-server")
        .arg("--version")
        .output()
        .is_err()
    {
        eprintln!("replay_consume/redis: skipped, redis-server is not installed");
        return;
    }
    let server = RedisServer::start_with(RedisOptions {
        in_memory: true,
        ..RedisOptions::default()
    });
    let runtime = runtime();
    let store = match open(&runtime, &server.url()) {
        Ok(store) => store,
        Err(error) => {
            eprintln!("replay_consume/redis: the Redis replay store is not available: {error:#}");
            return;
        }
    };
    let mut group = c.benchmark_group("replay_consume");
    group.throughput(Throughput::Elements(1));
    group.bench_function("redis", |b| {
        b.iter_custom(|iters| consume_fresh(&runtime, &store, iters));
    });
    group.finish();
}

criterion_group!(benches, memory, redis);
criterion_main!(benches);
