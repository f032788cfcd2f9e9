//! `rediss://`: two real download-server binaries share one real Redis over TLS (a private CA,
//! trusted through `SSL_CERT_FILE`), so a token used on one is gone on the other.

mod common;
// The harness crate's certificate authority (it cannot be a dependency: it depends on us).
#[path = "../../tests/src/tls.rs"]
mod tls;

use common::{Running, free_port, keys, start_download_server, wait_for_port, wait_until_ready};
use shared::{Minter, ObjectPath};
use std::process::{Command, Stdio};
use std::time::Duration;

#[tokio::test]
async fn two_instances_share_one_redis_over_tls() {
    let dir = tempfile::tempdir().unwrap();
    tls::make_certificates(dir.path());
    let port = free_port();
    let _redis = Running(
        Command::new("redis-server")
            .current_dir(dir.path())
            .args([
                "--port",
                "0",
                "--bind",
                "127.0.0.1",
                "--tls-port",
                &port.to_string(),
            ])
            .args([
                "--tls-cert-file",
                "server.crt",
                "--tls-key-file",
                "server.key",
            ])
            .args(["--tls-ca-cert-file", "ca.crt", "--tls-auth-clients", "no"])
            .args(["--save", "", "--appendonly", "no", "--daemonize", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server runs (scripts/test installs it)"),
    );
    wait_for_port(port).await;

    let files = dir.path().join("files");
    std::fs::create_dir_all(&files).unwrap();
    std::fs::write(files.join("tls.txt"), b"over tls").unwrap();
    let (key, jwks) = keys(dir.path());
    let ca = dir.path().join("ca.crt");
    let url = format!("rediss://127.0.0.1:{port}/0");
    let env = [
        ("DL_STORE", files.to_str().unwrap()),
        ("DL_JWKS", jwks.to_str().unwrap()),
        ("DL_ISSUER", "https://issuer.test"),
        ("DL_REPLAY", url.as_str()),
        ("SSL_CERT_FILE", ca.to_str().unwrap()),
    ];
    let (_a, base_a) = start_download_server(&env, Stdio::null()).await;
    let (_b, base_b) = start_download_server(&env, Stdio::null()).await;
    let client = reqwest::Client::new();
    for base in [&base_a, &base_b] {
        wait_until_ready(base).await;
    }
    // The epoch Redis holds was set at the first connection: wait past that second.
    tokio::time::sleep(Duration::from_millis(1100)).await;

    let token = Minter::new(key, "https://issuer.test", "download", 60)
        .mint("user-1", &ObjectPath::parse("tls.txt").unwrap(), None)
        .unwrap()
        .token;
    let first = client
        .get(format!("{base_a}/d/{token}"))
        .send()
        .await
        .unwrap();
    assert_eq!(first.status(), 200);
    assert_eq!(first.text().await.unwrap(), "over tls");
    let other = client
        .get(format!("{base_b}/d/{token}"))
        .send()
        .await
        .unwrap();
    assert_eq!(other.status(), 410);
}
