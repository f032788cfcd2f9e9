//! Consuming a `jti` through `ReplayStore` (the enum the handler calls): in memory, and in a
//! real `redis-server` started on a free loopback port (one round trip per consume).
#![forbid(unsafe_code)]

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use download_server::replay::{Consumed, ReplayOptions, ReplayStore};
use shared::Jti;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const LEEWAY: u32 = 30;
const MAX_LIFETIME: u32 = 600;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

fn open(spec: &str) -> anyhow::Result<ReplayStore> {
    ReplayStore::open(&ReplayOptions {
        spec: spec.to_owned(),
        // A fresh key space per store, so samples never see each other's ids.
        prefix: format!("bench:{}:", uuid::Uuid::new_v4()),
        timeout: Duration::from_secs(2),
        leeway: LEEWAY,
        max_lifetime: MAX_LIFETIME,
    })
}

/// Waits (bounded) until the store answers and its epoch has passed, so fresh tokens are accepted.
async fn until_ready(store: &ReplayStore) -> anyhow::Result<()> {
    for _ in 0..100 {
        if store.ready().await
            && let Ok(epoch) = store.epoch().await
            && shared::time::now_secs() >= epoch
        {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    anyhow::bail!("the replay store did not become ready within 5 s")
}

/// Times `iters` first-time consumes of fresh ids on a fresh store, so memory stays bounded by
/// one sample and every call takes the insert path the server takes.
fn consume_fresh(runtime: &tokio::runtime::Runtime, spec: &str, iters: u64) -> Duration {
    runtime.block_on(async {
        let store = open(spec).expect("open replay store");
        until_ready(&store).await.expect("replay store ready");
        let iat = shared::time::now_secs();
        let exp = iat + 120;
        let ids: Vec<Jti> = (0..iters).map(|_| Jti::new_random()).collect();
        let started = Instant::now();
        for jti in &ids {
            let consumed = store.consume(jti, iat, exp).await.expect("store answers");
            assert!(matches!(consumed, Consumed::First(_)), "{consumed:?}");
        }
        started.elapsed()
    })
}

fn memory(c: &mut Criterion) {
    let runtime = runtime();
    let mut group = c.benchmark_group("replay_consume");
    group.throughput(Throughput::Elements(1));
    group.bench_function("memory", |b| {
        b.iter_custom(|iters| consume_fresh(&runtime, "memory", iters))
    });
    group.finish();
}

fn redis(c: &mut Criterion) {
    let Some(server) = RedisServer::start() else {
        eprintln!("replay_consume/redis: skipped, redis-server is not installed");
        return;
    };
    let spec = format!("redis://127.0.0.1:{}/0", server.port);
    let runtime = runtime();
    let opened = open(&spec).and_then(|store| runtime.block_on(until_ready(&store)));
    if let Err(error) = opened {
        eprintln!("replay_consume/redis: the Redis replay store is not available: {error:#}");
        return;
    }
    let mut group = c.benchmark_group("replay_consume");
    group.throughput(Throughput::Elements(1));
    group.bench_function("redis", |b| {
        b.iter_custom(|iters| consume_fresh(&runtime, &spec, iters))
    });
    group.finish();
}

/// A throw-away `redis-server` on a free loopback port, without persistence; killed on drop.
struct RedisServer {
    child: Child,
    port: u16,
}

impl RedisServer {
    fn start() -> Option<Self> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .ok()?
            .local_addr()
            .ok()?
            .port();
        let child = Command::new("redis-server")
            .args(["--bind", "127.0.0.1", "--port", &port.to_string()])
            .args(["--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .ok()?;
        let server = RedisServer { child, port };
        for _ in 0..100 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return Some(server);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        None
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

criterion_group!(benches, memory, redis);
criterion_main!(benches);
