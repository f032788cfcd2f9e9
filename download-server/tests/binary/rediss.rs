//! `rediss://`: two real download-server binaries share one real Redis over TLS (a private CA,
//! trusted through `SSL_CERT_FILE`), so a token used on one is gone on the other.

use crate::support::{Binary, keys};
use shared::{Minter, ObjectPath};
use std::time::Duration;
use test_support::redis::{RedisOptions, RedisServer};

#[tokio::test]
async fn two_instances_share_one_redis_over_tls() {
    let redis = RedisServer::start_with(RedisOptions {
        tls: true,
        in_memory: true,
        ..RedisOptions::default()
    });
    let dir = tempfile::tempdir().unwrap();
    let files = dir.path().join("files");
    std::fs::create_dir_all(&files).unwrap();
    std::fs::write(files.join("tls.txt"), b"over tls").unwrap();
    let (key, jwks) = keys(dir.path());
    let ca = redis.ca_certificate();
    let url = redis.tls_url();
    let env = [
        ("DL_STORE", files.to_str().unwrap()),
        ("DL_JWKS", jwks.to_str().unwrap()),
        ("DL_ISSUER", "https://issuer.test"),
        ("DL_REPLAY", url.as_str()),
        ("SSL_CERT_FILE", ca.to_str().unwrap()),
    ];
    let a = Binary::start(&env).await;
    let b = Binary::start(&env).await;
    for server in [&a, &b] {
        server.wait_until_ready().await;
    }
    // The epoch Redis holds was set at the first connection: wait past that second.
    tokio::time::sleep(Duration::from_millis(1100)).await;

    let client = reqwest::Client::new();
    let token = Minter::new(key, "https://issuer.test", "download", 60)
        .mint("user-1", &ObjectPath::parse("tls.txt").unwrap(), None)
        .unwrap()
        .token;
    let first = client
        .get(format!("{}/d/{token}", a.base))
        .send()
        .await
        .unwrap();
    assert_eq!(first.status(), 200);
    assert_eq!(first.text().await.unwrap(), "over tls");
    let other = client
        .get(format!("{}/d/{token}", b.base))
        .send()
        .await
        .unwrap();
    assert_eq!(other.status(), 410);
}
