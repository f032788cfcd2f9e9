//! A restart of the app server keeps sessions, the signing key and the files.

use integration_tests::app::AppServer;
use serde_json::Value;

#[tokio::test]
async fn a_restart_keeps_sessions_the_signing_key_and_files() {
    let app = AppServer::spawn().await;
    assert_eq!(
        app.api.signup("alice", "alice-password").await.status(),
        201
    );
    assert_eq!(app.api.login("alice", "alice-password").await.status(), 200);
    let id = app.api.upload_ok("kept.txt", b"still here").await;
    let jwks_before: Value = app.api.jwks().await.json().await.unwrap();
    let key_path = app.data_dir().join("signing-key.pem");
    let key_before = std::fs::read(&key_path).unwrap();

    let app = app.restart().await;

    assert_eq!(app.api.me().await.status(), 200, "the session survived");
    let jwks_after: Value = app.api.jwks().await.json().await.unwrap();
    assert_eq!(jwks_after, jwks_before);
    assert_eq!(std::fs::read(&key_path).unwrap(), key_before);
    let files: Vec<Value> = app.api.files().await.json().await.unwrap();
    assert_eq!(files.len(), 1);
    assert_eq!(files[0]["id"], id.as_str());
    let response = app.fetch(&app.api.link_ok(&id).await).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.bytes().await.unwrap().as_ref(), b"still here");
}

#[tokio::test]
async fn the_signing_key_is_private_and_the_jwks_is_written_for_the_download_server() {
    let app = AppServer::spawn().await;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(app.data_dir().join("signing-key.pem"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let served = app.api.jwks().await;
    assert_eq!(served.status(), 200);
    let cache = served.headers()["cache-control"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(cache.contains("max-age="), "{cache}");
    let served: Value = served.json().await.unwrap();
    let on_disk: Value =
        serde_json::from_str(&std::fs::read_to_string(app.data_dir().join("jwks.json")).unwrap())
            .unwrap();
    assert_eq!(served, on_disk);
    // The harness's own download-server key was already in the file: it stays published
    // (rotation), after the app server's signing key.
    assert_eq!(served["keys"].as_array().unwrap().len(), 2);
    assert!(
        served.to_string().find("\"d\"").is_none(),
        "no private members"
    );
}

#[tokio::test]
async fn a_rotated_key_signs_new_links_while_links_signed_before_still_work() {
    let app = AppServer::spawn().await;
    assert_eq!(
        app.api.signup("alice", "alice-password").await.status(),
        201
    );
    assert_eq!(app.api.login("alice", "alice-password").await.status(), 200);
    let id = app.api.upload_ok("r.txt", b"rotate me").await;
    let before_rotation = app.api.link_ok(&id).await;
    let old_kid = kid_of(&before_rotation);

    // The operator moves the old key aside: a new one is generated and put first in the JWKS.
    let new_key = app.data_dir().join("signing-key-2.pem");
    let app = app.restart_with(|c| c.signing_key = Some(new_key)).await;
    let jwks: Value = app.api.jwks().await.json().await.unwrap();
    let kids: Vec<&str> = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap())
        .collect();
    let after_rotation = app.api.link_ok(&id).await;
    let new_kid = kid_of(&after_rotation);
    assert_ne!(new_kid, old_kid);
    assert_eq!(kids[0], new_kid, "the newest key signs and comes first");
    assert!(
        kids.contains(&old_kid.as_str()),
        "the old key stays published"
    );

    for url in [&after_rotation, &before_rotation] {
        let response = app.fetch(url).await;
        assert_eq!(response.status(), 200, "{url}");
        assert_eq!(response.bytes().await.unwrap().as_ref(), b"rotate me");
    }
}

fn kid_of(url: &str) -> String {
    use base64::Engine;
    let token = url.split("/d/").nth(1).unwrap().split('/').next().unwrap();
    let header = token.split('.').next().unwrap();
    let header: Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(header)
            .unwrap(),
    )
    .unwrap();
    header["kid"].as_str().unwrap().to_owned()
}
