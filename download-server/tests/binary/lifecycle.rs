//! The real `download-server` binary: configured from the environment, logs without tokens,
//! stops cleanly on SIGTERM.

use crate::support::{Binary, keys};
use shared::{Minter, ObjectPath};

#[tokio::test]
async fn the_binary_serves_once_never_logs_a_token_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let files = dir.path().join("files");
    std::fs::create_dir_all(&files).unwrap();
    std::fs::write(files.join("hello.txt"), b"hello from the binary").unwrap();
    let (key, jwks) = keys(dir.path());
    let server = Binary::start(&[
        ("DL_STORE", files.to_str().unwrap()),
        ("DL_JWKS", jwks.to_str().unwrap()),
        ("DL_ISSUER", "https://issuer.test"),
        ("RUST_LOG", "debug"),
    ])
    .await;
    let base = server.base.clone();
    let client = reqwest::Client::new();

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

    let (exit, logs) = server.stop().await;
    assert!(exit.success(), "{exit:?}");

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
