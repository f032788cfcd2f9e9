//! The real `download-server` binary: configured from the environment, logs without tokens,
//! stops cleanly on SIGTERM.

mod common;

use common::free_port;
use shared::{Minter, ObjectPath};
use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[tokio::test]
async fn the_binary_serves_once_never_logs_a_token_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let files = dir.path().join("files");
    std::fs::create_dir_all(&files).unwrap();
    std::fs::write(files.join("hello.txt"), b"hello from the binary").unwrap();
    let (key, jwks) = common::keys(dir.path());
    let port = free_port();

    let mut child = Command::new(env!("CARGO_BIN_EXE_download-server"))
        .env("DL_LISTEN", format!("127.0.0.1:{port}"))
        .env("DL_STORE", &files)
        .env("DL_JWKS", &jwks)
        .env("DL_ISSUER", "https://issuer.test")
        .env("RUST_LOG", "debug")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    while client.get(format!("{base}/healthz")).send().await.is_err() {
        assert!(Instant::now() < deadline, "server did not come up");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(1100)).await; // past the start-up epoch second

    let minter = Minter::new(key, "https://issuer.test", "download", 60);
    let minted = minter
        .mint("user-7", &ObjectPath::parse("hello.txt").unwrap(), None)
        .unwrap();
    let url = format!("{base}/d/{}/hello.txt", minted.token);
    let first = client.get(&url).send().await.unwrap();
    assert_eq!(first.status(), 200);
    assert_eq!(first.text().await.unwrap(), "hello from the binary");
    assert_eq!(client.get(&url).send().await.unwrap().status(), 410);
    let bad = format!("{}x", minted.token);
    assert_eq!(
        client
            .get(format!("{base}/d/{bad}"))
            .send()
            .await
            .unwrap()
            .status(),
        403
    );

    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let deadline = Instant::now() + Duration::from_secs(20);
    let exit = loop {
        if let Some(exit) = child.try_wait().unwrap() {
            break exit;
        }
        assert!(Instant::now() < deadline, "server did not stop on SIGTERM");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(exit.success(), "{exit:?}");

    let mut logs = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut logs)
        .unwrap();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut logs)
        .unwrap();
    let signature = minted.token.rsplit('.').next().unwrap();
    let payload = minted.token.split('.').nth(1).unwrap();
    assert!(
        !logs.contains(signature),
        "a token signature reached the logs:\n{logs}"
    );
    assert!(
        !logs.contains(payload),
        "a token payload reached the logs:\n{logs}"
    );
    assert!(
        logs.contains(&minted.claims.jti.to_string()),
        "the verified jti should be logged:\n{logs}"
    );
    assert!(
        logs.contains("/d/{token}"),
        "the route pattern should be logged:\n{logs}"
    );
    assert!(
        !logs.contains('\u{1b}'),
        "a log that is not a terminal has no colour codes:\n{logs}"
    );
}
