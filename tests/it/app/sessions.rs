//! The devices list: what is recorded, revoking one device or all others, cookie flags, and
//! that only a hash of the cookie secret is stored.

use integration_tests::app::AppServer;
use serde_json::Value;

#[tokio::test]
async fn a_person_sees_every_device_with_the_current_one_marked() {
    let app = AppServer::spawn().await;
    let laptop = app.signed_in("alice").await;
    let phone = app.device();
    assert_eq!(phone.login("alice", "alice-password").await.status(), 200);
    let sessions: Vec<Value> = laptop.sessions().await.json().await.unwrap();
    assert_eq!(sessions.len(), 2);
    assert_eq!(sessions.iter().filter(|s| s["current"] == true).count(), 1);
    for s in &sessions {
        assert_eq!(s["user_agent"], "integration-tests");
        assert_eq!(s["ip"], "127.0.0.1");
        assert!(s["created_at"].as_str().unwrap().ends_with('Z'));
        assert!(s["last_seen_at"].as_str().is_some());
        uuid::Uuid::parse_str(s["id"].as_str().unwrap()).unwrap();
    }
}

#[tokio::test]
async fn revoking_another_session_makes_it_401() {
    let app = AppServer::spawn().await;
    let laptop = app.signed_in("alice").await;
    let phone = app.device();
    assert_eq!(phone.login("alice", "alice-password").await.status(), 200);
    let sessions: Vec<Value> = laptop.sessions().await.json().await.unwrap();
    let phone_id = sessions.iter().find(|s| s["current"] == false).unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();

    assert_eq!(laptop.revoke_session(&phone_id).await.status(), 204);
    assert_eq!(phone.me().await.status(), 401);
    assert_eq!(laptop.me().await.status(), 200);
    assert_eq!(laptop.revoke_session(&phone_id).await.status(), 404);
}

#[tokio::test]
async fn nobody_can_revoke_another_persons_session() {
    let app = AppServer::spawn().await;
    let alice = app.signed_in("alice").await;
    let bob = app.signed_in("bob").await;
    let alices: Vec<Value> = alice.sessions().await.json().await.unwrap();
    let id = alices[0]["id"].as_str().unwrap();
    assert_eq!(bob.revoke_session(id).await.status(), 404);
    assert_eq!(alice.me().await.status(), 200);
}

#[tokio::test]
async fn signing_out_all_others_keeps_only_this_device() {
    let app = AppServer::spawn().await;
    let laptop = app.signed_in("alice").await;
    let others = [app.device(), app.device()];
    for device in &others {
        assert_eq!(device.login("alice", "alice-password").await.status(), 200);
    }
    assert_eq!(laptop.revoke_others().await.status(), 204);
    for device in &others {
        assert_eq!(device.me().await.status(), 401);
    }
    let left: Vec<Value> = laptop.sessions().await.json().await.unwrap();
    assert_eq!(left.len(), 1);
    assert_eq!(left[0]["current"], true);
}

/// The `Set-Cookie` of alice's first login on a fresh server.
async fn login_set_cookie(app: &AppServer) -> String {
    assert_eq!(
        app.api.signup("alice", "alice-password").await.status(),
        201
    );
    let response = app.api.login("alice", "alice-password").await;
    response.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn the_session_cookie_is_http_only_lax_and_path_root_over_http() {
    let app = AppServer::spawn().await;
    let cookie = login_set_cookie(&app).await;
    assert!(cookie.starts_with("session="), "{cookie}");
    let value = cookie
        .trim_start_matches("session=")
        .split(';')
        .next()
        .unwrap();
    assert_eq!(value.len(), 43, "256 random bits, base64url");
    for flag in ["HttpOnly", "SameSite=Lax", "Path=/"] {
        assert!(cookie.contains(flag), "{flag} missing: {cookie}");
    }
    assert!(
        !cookie.contains("Secure"),
        "http cannot carry a Secure cookie back: {cookie}"
    );
    assert!(!cookie.contains("Domain"), "{cookie}");
}

#[tokio::test]
async fn over_https_the_cookie_is_secure_and_host_prefixed() {
    let app =
        AppServer::spawn_with(|c| c.public_url = Some("https://files.example".parse().unwrap()))
            .await;
    let cookie = login_set_cookie(&app).await;
    assert!(cookie.starts_with("__Host-session="), "{cookie}");
    for flag in ["Secure", "HttpOnly", "SameSite=Lax", "Path=/"] {
        assert!(cookie.contains(flag), "{flag} missing: {cookie}");
    }
    assert!(!cookie.contains("Domain"), "{cookie}");
}

#[tokio::test]
async fn the_database_holds_only_a_hash_of_the_cookie_secret() {
    let app = AppServer::spawn().await;
    let alice = app.signed_in("alice").await;
    let secret = alice.session_cookie().unwrap();
    assert_eq!(alice.me().await.status(), 200);
    let mut seen_db = false;
    for entry in std::fs::read_dir(app.data_dir()).unwrap().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with("app.db") {
            seen_db = true;
            let bytes = std::fs::read(entry.path()).unwrap();
            assert!(
                !bytes.windows(secret.len()).any(|w| w == secret.as_bytes()),
                "{name} holds the cookie secret"
            );
        }
    }
    assert!(seen_db);
}

#[tokio::test]
async fn revoking_this_very_device_through_the_api_also_clears_its_cookie() {
    let app = AppServer::spawn().await;
    let alice = app.signed_in("alice").await;
    let sessions: Vec<Value> = alice.sessions().await.json().await.unwrap();
    let own = sessions[0]["id"].as_str().unwrap().to_owned();
    let response = alice.revoke_session(&own).await;
    assert_eq!(response.status(), 204);
    let cleared = response.headers()["set-cookie"].to_str().unwrap();
    assert!(
        cleared.starts_with("session=;") && cleared.contains("Max-Age=0"),
        "{cleared}"
    );
    assert_eq!(alice.me().await.status(), 401);
    assert_eq!(alice.session_cookie(), None, "the jar dropped it");
}
