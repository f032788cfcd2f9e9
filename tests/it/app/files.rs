//! Uploads, the file list, minting links (contract v1), single use through the real download
//! server, ownership, deletion and size limits.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use integration_tests::app::AppServer;
use serde_json::Value;

fn token_of(url: &str) -> String {
    let after = url.split("/d/").nth(1).unwrap();
    after.split('/').next().unwrap().to_owned()
}

fn decode_part(token: &str, index: usize) -> Value {
    let part = token.split('.').nth(index).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).unwrap()).unwrap()
}

#[tokio::test]
async fn an_upload_is_listed_linked_downloaded_once_and_then_gone() {
    let app = AppServer::spawn().await;
    let alice = app.signed_in("alice").await;
    let bytes = b"hello from alice\n".to_vec();
    let uploaded = alice.upload("hello.txt", bytes.clone()).await;
    assert_eq!(uploaded.status(), 201);
    let file: Value = uploaded.json().await.unwrap();
    assert_eq!(file["name"], "hello.txt");
    assert_eq!(file["size"], bytes.len());
    assert_eq!(file["content_type"], "text/plain");

    let list: Vec<Value> = alice.files().await.json().await.unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!(list[0]["id"], file["id"]);
    assert!(list[0]["created_at"].as_str().unwrap().ends_with('Z'));

    let link = alice.link(file["id"].as_str().unwrap()).await;
    assert_eq!(link.status(), 200);
    let link: Value = link.json().await.unwrap();
    let url = link["url"].as_str().unwrap();
    assert!(
        url.starts_with(&format!("{}/d/", app.download.base)),
        "{url}"
    );
    assert!(url.ends_with("/hello.txt"), "{url}");
    assert!(link["expires_at"].as_str().is_some());

    let first = app.fetch(url).await;
    assert_eq!(first.status(), 200);
    assert!(
        first.headers()["content-disposition"]
            .to_str()
            .unwrap()
            .contains("hello.txt")
    );
    assert_eq!(first.bytes().await.unwrap().to_vec(), bytes);
    assert_eq!(app.fetch(url).await.status(), 410, "a link works once");
}

#[tokio::test]
async fn every_click_mints_a_fresh_token_that_follows_contract_v1() {
    let app = AppServer::spawn().await;
    let alice = app.signed_in("alice").await;
    let me: Value = alice.me().await.json().await.unwrap();
    let id = alice
        .upload_ok("Report 2026 (final).pdf", b"%PDF-1.7 fake")
        .await;
    let (one, two) = (alice.link_ok(&id).await, alice.link_ok(&id).await);
    assert_ne!(one, two);

    let token = token_of(&one);
    let header = decode_part(&token, 0);
    let claims = decode_part(&token, 1);
    let jwks: Value = alice.jwks().await.json().await.unwrap();
    assert_eq!(header["alg"], "EdDSA");
    assert_eq!(header["typ"], "dl+jwt");
    assert_eq!(header["kid"], jwks["keys"][0]["kid"]);
    assert_eq!(claims["iss"], "https://app.test");
    assert_eq!(claims["aud"], "download");
    assert_eq!(claims["sub"], me["id"]);
    assert_eq!(
        claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(),
        120
    );
    assert_eq!(claims["name"], "Report 2026 (final).pdf");
    uuid::Uuid::parse_str(claims["jti"].as_str().unwrap()).unwrap();
    let obj = claims["obj"].as_str().unwrap();
    assert!(
        obj.starts_with(&format!("u/{}/", me["id"].as_str().unwrap())),
        "{obj}"
    );
    assert_ne!(decode_part(&token_of(&two), 1)["jti"], claims["jti"]);

    for url in [&one, &two] {
        let response = app.fetch(url).await;
        assert_eq!(response.status(), 200);
        assert_eq!(response.bytes().await.unwrap().as_ref(), b"%PDF-1.7 fake");
    }
}

#[tokio::test]
async fn another_users_file_is_not_found() {
    let app = AppServer::spawn().await;
    let alice = app.signed_in("alice").await;
    let bob = app.signed_in("bob").await;
    let id = alice.upload_ok("secret.txt", b"alice only").await;
    assert_eq!(bob.link(&id).await.status(), 404);
    assert_eq!(bob.delete_file(&id).await.status(), 404);
    let bobs: Vec<Value> = bob.files().await.json().await.unwrap();
    assert!(bobs.is_empty());
    assert_eq!(alice.file_count().await, 1);
}

#[tokio::test]
async fn signed_out_requests_get_401() {
    let app = AppServer::spawn().await;
    let alice = app.signed_in("alice").await;
    let id = alice.upload_ok("a.txt", b"a").await;
    let stranger = app.device();
    assert_eq!(stranger.files().await.status(), 401);
    assert_eq!(stranger.upload("b.txt", b"b".to_vec()).await.status(), 401);
    assert_eq!(stranger.link(&id).await.status(), 401);
    assert_eq!(stranger.delete_file(&id).await.status(), 401);
    assert_eq!(stranger.sessions().await.status(), 401);
}

#[tokio::test]
async fn deleting_a_file_removes_its_row_and_its_object() {
    let app = AppServer::spawn().await;
    let alice = app.signed_in("alice").await;
    let id = alice.upload_ok("gone.txt", b"soon gone").await;
    let early_link = alice.link_ok(&id).await;
    let obj = decode_part(&token_of(&early_link), 1)["obj"]
        .as_str()
        .unwrap()
        .to_owned();
    let on_disk = app.download.files.files().join(&obj);
    assert!(on_disk.exists());

    assert_eq!(alice.delete_file(&id).await.status(), 204);
    assert!(!on_disk.exists());
    assert_eq!(alice.file_count().await, 0);
    assert_eq!(alice.link(&id).await.status(), 404);
    assert_eq!(alice.delete_file(&id).await.status(), 404);
    assert_eq!(
        app.fetch(&early_link).await.status(),
        404,
        "the object is gone from the store"
    );
}

#[tokio::test]
async fn an_upload_over_the_limit_is_refused_and_leaves_nothing_behind() {
    let app = AppServer::spawn_with(|c| c.max_upload = 1000).await;
    let alice = app.signed_in("alice").await;
    let response = alice.upload("big.bin", vec![7u8; 5000]).await;
    assert_eq!(response.status(), 413);
    assert_eq!(alice.file_count().await, 0);
    let leftovers: Vec<_> = walk(&app.download.files.files());
    assert!(leftovers.is_empty(), "{leftovers:?}");
    assert_eq!(
        alice.upload("small.bin", vec![7u8; 1000]).await.status(),
        201
    );
}

#[tokio::test]
async fn a_large_upload_streams_through_several_parts_and_comes_back_intact() {
    let app = AppServer::spawn().await;
    let alice = app.signed_in("alice").await;
    let bytes: Vec<u8> = (0..12 * 1024 * 1024u32)
        .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
        .collect();
    let id = alice.upload_ok("big.bin", &bytes).await;
    let response = app.fetch(&alice.link_ok(&id).await).await;
    assert_eq!(response.status(), 200);
    let got = response.bytes().await.unwrap();
    assert_eq!(got.len(), bytes.len());
    assert!(got.as_ref() == bytes.as_slice());
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                out.extend(walk(&path));
            } else {
                out.push(path);
            }
        }
    }
    out
}
