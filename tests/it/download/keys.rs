//! Key files as operators handle them: `openssl` reads every signing key this project writes,
//! and a key made by `openssl genpkey` signs tokens the download server accepts.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use integration_tests::app::AppServer;
use integration_tests::{DownloadServer, ServerFiles};
use serde_json::Value;
use shared::SigningKey;
use std::path::{Path, PathBuf};
use test_support::openssl;

/// The public key (JWK `x`) of the private key file at `path`, as `openssl pkey -pubout` reads it.
fn x_by_openssl(path: &Path) -> String {
    URL_SAFE_NO_PAD.encode(openssl::ed25519_public_key(path))
}

fn openssl_key(dir: &tempfile::TempDir) -> PathBuf {
    let path = dir.path().join("openssl.pem");
    openssl::generate_ed25519_key(&path);
    path
}

#[tokio::test]
async fn openssl_reads_the_key_the_app_server_generates_as_the_key_it_publishes_first() {
    let app = AppServer::spawn().await;
    let jwks: Value = app.api.jwks().await.json().await.unwrap();
    assert_eq!(
        jwks["keys"][0]["x"],
        x_by_openssl(&app.data_dir().join("signing-key.pem"))
    );
}

#[tokio::test]
async fn links_from_an_app_server_signing_with_an_openssl_key_are_served() {
    let dir = tempfile::tempdir().unwrap();
    let key = openssl_key(&dir);
    let app = AppServer::spawn_with(|config| config.signing_key = Some(key.clone())).await;
    let jwks: Value = app.api.jwks().await.json().await.unwrap();
    assert_eq!(jwks["keys"][0]["x"], x_by_openssl(&key), "the signing key");

    let alice = app.signed_in("alice").await;
    let id = alice.upload_ok("o.txt", b"signed with openssl's key").await;
    let response = app.fetch(&alice.link_ok(&id).await).await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.bytes().await.unwrap().as_ref(),
        b"signed with openssl's key"
    );
}

#[tokio::test]
async fn tokens_minted_with_an_openssl_key_are_served() {
    let dir = tempfile::tempdir().unwrap();
    let path = openssl_key(&dir);
    // What `dl-token mint --key` does with the file.
    let key = SigningKey::load(&path).unwrap();
    assert_eq!(key.public_jwk().x, x_by_openssl(&path));
    let files = ServerFiles::with_key(key);
    let config = files.config();
    let server = DownloadServer::start(files, config).await;
    server.put_file("f.txt", b"minted");

    let response = server.get(&server.mint("f.txt")).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.bytes().await.unwrap().as_ref(), b"minted");
}
