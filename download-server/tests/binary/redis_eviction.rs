//! Start-up check of Redis's eviction policy: an evicting Redis could forget used tokens, so the
//! real binary says so loudly; with `noeviction` it stays quiet.

use crate::support::{Binary, keys};
use test_support::redis::{RedisOptions, RedisServer};

/// Runs the binary against a Redis with `policy` until it is ready and returns what it logged.
async fn startup_log(policy: &'static str) -> String {
    let redis = RedisServer::start_with(RedisOptions {
        eviction_policy: Some(policy),
        in_memory: true,
        ..RedisOptions::default()
    });
    let dir = tempfile::tempdir().unwrap();
    let (_, jwks) = keys(dir.path());
    let url = redis.url();
    let server = Binary::start(&[
        ("DL_STORE", dir.path().to_str().unwrap()),
        ("DL_JWKS", jwks.to_str().unwrap()),
        ("DL_REPLAY", url.as_str()),
        ("RUST_LOG", "info"),
    ])
    .await;
    server.wait_until_ready().await;
    // The policy is checked right after connecting; give the log line a moment to be written.
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let (_, log) = server.stop().await;
    log
}

#[tokio::test]
async fn an_evicting_redis_is_reported_at_start_up() {
    let log = startup_log("allkeys-lru").await;
    assert!(log.contains("maxmemory-policy is not noeviction"), "{log}");
    assert!(log.contains("allkeys-lru"), "{log}");
}

#[tokio::test]
async fn a_noeviction_redis_gives_no_warning() {
    let log = startup_log("noeviction").await;
    assert!(log.contains("connected to the Redis replay store"), "{log}");
    assert!(!log.contains("maxmemory-policy"), "{log}");
}
