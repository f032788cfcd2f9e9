//! Revocation on the app server (`docs/revocation.md`): the signed state verifies with the
//! revocation key set and never with the tokens', each event puts the right record in the next
//! state, long-polls wake on a revocation (here, from the CLI, and from another app server on
//! the same PostgreSQL) and heartbeat when quiet, records end after `retain`, and a disabled
//! account cannot sign in.

use app_server::config::DatabaseUrl;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use integration_tests::PostgresServer;
use integration_tests::app::{AppClient, AppServer, form_field};
use jsonwebtoken::DecodingKey;
use serde_json::Value;
use shared::revocation::{REVOCATIONS_AUD, REVOCATIONS_TYP};
use shared::{Claims, PublicJwks, RevocationState, RevokedBy};
use std::time::{Duration, Instant};

/// The state `client` gets for `query`, verified with the app server's revocation key set
/// (typ, alg, kid, aud, iss checked).
async fn state(app: &AppServer, client: &AppClient, query: &str) -> RevocationState {
    let response = client.revocations(query).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "application/jwt");
    assert_eq!(response.headers()["cache-control"], "no-store");
    let jws = response.text().await.unwrap();
    let keys: PublicJwks = client.revocation_jwks().await.json().await.unwrap();
    verify(&jws, &keys, &app.config.issuer).expect("the state verifies with the revocation key")
}

fn verify(jws: &str, keys: &PublicJwks, issuer: &str) -> Result<RevocationState, String> {
    let header = jsonwebtoken::decode_header(jws).map_err(|e| e.to_string())?;
    assert_eq!(header.typ.as_deref(), Some(REVOCATIONS_TYP));
    assert_eq!(header.alg, jsonwebtoken::Algorithm::EdDSA);
    let kid = header.kid.ok_or("no kid")?;
    let key = keys
        .keys
        .iter()
        .find(|k| k.kid == kid)
        .ok_or_else(|| format!("kid {kid} is not in the key set"))?;
    let key = DecodingKey::from_ed_components(&key.x).map_err(|e| e.to_string())?;
    // Checked by hand: `jsonwebtoken::decode` reads `sub` as the JWT's string claim, and the
    // state's `sub` is a map.
    let (message, signature) = jws.rsplit_once('.').ok_or("not a compact JWS")?;
    let valid = jsonwebtoken::crypto::verify(signature, message.as_bytes(), &key, header.alg)
        .map_err(|e| e.to_string())?;
    if !valid {
        return Err("the signature does not verify".into());
    }
    let payload = URL_SAFE_NO_PAD
        .decode(message.split('.').nth(1).ok_or("no payload")?)
        .map_err(|e| e.to_string())?;
    let state: RevocationState = serde_json::from_slice(&payload).map_err(|e| e.to_string())?;
    if state.aud != REVOCATIONS_AUD || state.iss != issuer {
        return Err(format!("aud {} / iss {}", state.aud, state.iss));
    }
    Ok(state)
}

/// The claims of the token inside a download URL (read, not verified: the download server does).
fn claims_of(url: &str) -> Claims {
    let token = url.split("/d/").nth(1).unwrap().split('/').next().unwrap();
    let payload = token.split('.').nth(1).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
}

/// This device's session row id (what `sid` is derived from).
async fn current_session_id(device: &AppClient) -> String {
    let sessions: Vec<Value> = device.sessions().await.json().await.unwrap();
    let current = sessions.iter().find(|s| s["current"] == true).unwrap();
    current["id"].as_str().unwrap().to_owned()
}

/// A device of `name` (already signed up) signed in anew.
async fn another_device(app: &AppServer, name: &str) -> AppClient {
    let device = app.device();
    let password = format!("{name}-password");
    assert_eq!(device.login(name, &password).await.status(), 200);
    device
}

#[tokio::test]
async fn the_state_is_signed_by_the_revocation_key_and_never_verifies_with_the_token_keys() {
    let app = AppServer::spawn().await;
    let keys: PublicJwks = app.api.revocation_jwks().await.json().await.unwrap();
    let token_keys: PublicJwks = app.api.jwks().await.json().await.unwrap();
    assert_eq!(keys.keys.len(), 1);
    assert!(
        token_keys.keys.iter().all(|k| k.kid != keys.keys[0].kid),
        "the revocation key is not in the tokens' JWKS"
    );

    let empty = state(&app, &app.api, "").await;
    assert_eq!((empty.seq, empty.aud.as_str()), (0, REVOCATIONS_AUD));
    assert_eq!(empty.iss, app.config.issuer);
    assert_eq!(empty.retain, 120 + 60 + 3600 + 60);
    assert!(empty.is_empty());
    assert!((empty.iat - shared::time::now_secs()).abs() <= 5);

    let jws = app.api.revocations("").await.text().await.unwrap();
    let with_token_keys = verify(&jws, &token_keys, &app.config.issuer);
    assert!(with_token_keys.is_err(), "{with_token_keys:?}");
    // Even handed the token key under the revocation key's kid, the signature does not verify.
    let mut disguised = token_keys.clone();
    disguised.keys[0].kid = keys.keys[0].kid.clone();
    assert!(verify(&jws, &disguised, &app.config.issuer).is_err());
    assert!(verify(&jws, &keys, "https://someone.else").is_err());

    for bad in [
        "after=",
        "after=abc",
        "after=-1",
        "after=1.0",
        "after=1&after=2",
        "wait=-1",
        "wait=x",
        "after=99999999999999999999",
    ] {
        assert_eq!(app.api.revocations(bad).await.status(), 400, "{bad}");
    }
    let head = app
        .api
        .client
        .head(app.api.url("/.well-known/dl-revocations"))
        .send()
        .await
        .unwrap();
    assert_eq!(head.status(), 200);
    assert_eq!(head.headers()["content-type"], "application/jwt");
}

#[tokio::test]
async fn each_event_puts_its_record_in_the_next_state() {
    let app = AppServer::spawn().await;
    let laptop = app.signed_in("alice").await;
    let (phone, tablet) = (
        another_device(&app, "alice").await,
        another_device(&app, "alice").await,
    );
    let alice_id: String = laptop.me().await.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let file = laptop.upload_ok("report.txt", b"numbers").await;
    let from = |device: &AppClient| {
        let device = device.clone();
        let file = file.clone();
        async move { claims_of(&device.link_ok(&file).await) }
    };
    let (on_laptop, on_phone, on_tablet) =
        (from(&laptop).await, from(&phone).await, from(&tablet).await);
    assert_eq!((on_phone.sgen, on_phone.ogen), (0, 0));
    assert_eq!(on_phone.sub, alice_id);
    let sids = [&on_laptop.sid, &on_phone.sid, &on_tablet.sid];
    assert!(
        sids.iter()
            .all(|s| s.as_ref().is_some_and(|s| s.len() == 22))
    );
    assert!(on_laptop.sid != on_phone.sid && on_phone.sid != on_tablet.sid);
    let phone_session = current_session_id(&phone).await;
    assert_ne!(
        on_phone.sid.as_deref(),
        Some(phone_session.as_str()),
        "never the row id itself"
    );
    assert!(
        !phone
            .session_cookie()
            .unwrap()
            .contains(on_phone.sid.as_deref().unwrap())
    );
    assert_eq!(state(&app, &laptop, "").await.revokes(&on_phone), None);

    // Sign out one device.
    assert_eq!(laptop.revoke_session(&phone_session).await.status(), 204);
    let after_phone = state(&app, &laptop, "").await;
    assert_eq!(after_phone.seq, 1);
    assert_eq!(after_phone.revokes(&on_phone), Some(RevokedBy::Session));
    assert_eq!(after_phone.revokes(&on_tablet), None);
    assert_eq!(after_phone.revokes(&on_laptop), None);

    // Sign out all other devices.
    assert_eq!(laptop.revoke_others().await.status(), 204);
    let after_others = state(&app, &laptop, "").await;
    assert_eq!(after_others.seq, 2);
    assert_eq!(after_others.revokes(&on_tablet), Some(RevokedBy::Session));
    assert_eq!(after_others.revokes(&on_laptop), None);

    // Revoke this link: the owner's only.
    let bob = app.signed_in("bob").await;
    let one_link = claims_of(&laptop.link_ok(&file).await);
    let jti = one_link.jti.to_string();
    assert_eq!(bob.revoke_link(&jti).await.status(), 404);
    assert_eq!(bob.file_links(&file).await.status(), 404);
    assert_eq!(laptop.revoke_link("not-a-jti").await.status(), 404);
    assert_eq!(state(&app, &laptop, "").await.seq, 2, "bob revoked nothing");
    assert_eq!(laptop.revoke_link(&jti).await.status(), 204);
    let after_link = state(&app, &laptop, "").await;
    assert_eq!(after_link.seq, 3);
    assert_eq!(after_link.revokes(&one_link), Some(RevokedBy::Link));
    assert_eq!(after_link.revokes(&on_laptop), None);
    assert_eq!(
        laptop.revoke_link(&jti).await.status(),
        204,
        "again: no change"
    );
    assert_eq!(state(&app, &laptop, "").await.seq, 3);
    let links: Vec<Value> = laptop.file_links(&file).await.json().await.unwrap();
    let listed = links.iter().find(|l| l["jti"] == jti.as_str()).unwrap();
    assert!(listed["revoked_at"].is_string(), "{listed}");
    assert!(listed["in_use_until"].is_string(), "{listed}");
    assert_eq!(links.len(), 4, "every link minted for the file: {links:#?}");

    // Password change: every link of the person, this device's too; new links carry sgen 1.
    assert_eq!(
        laptop
            .change_password("alice-password", "alice-password-2")
            .await
            .status(),
        204
    );
    let after_password = state(&app, &laptop, "").await;
    assert_eq!(after_password.seq, 4);
    assert_eq!(after_password.sub[&alice_id], 1);
    assert_eq!(after_password.revokes(&on_laptop), Some(RevokedBy::Subject));
    let fresh = claims_of(&laptop.link_ok(&file).await);
    assert_eq!(fresh.sgen, 1);
    assert_eq!(after_password.revokes(&fresh), None);

    // Logout: this session's links.
    let second = bob.upload_ok("b.txt", b"b").await;
    let bobs = claims_of(&bob.link_ok(&second).await);
    assert_eq!(bob.logout().await.status(), 204);
    let after_logout = state(&app, &laptop, "").await;
    assert_eq!(after_logout.seq, 5);
    assert_eq!(after_logout.revokes(&bobs), Some(RevokedBy::Session));
    assert_eq!(after_logout.revokes(&fresh), None);

    // File deleted: every link to it, at the file's next generation.
    assert_eq!(laptop.delete_file(&file).await.status(), 204);
    let after_delete = state(&app, &laptop, "").await;
    assert_eq!(after_delete.seq, 6);
    assert_eq!(after_delete.obj[fresh.obj.as_str()], 1);
    assert_eq!(after_delete.revokes(&fresh), Some(RevokedBy::Object));
    // The whole state, not a delta: every record is still there.
    assert_eq!((after_delete.sid.len(), after_delete.jti.len()), (3, 1));
}

#[tokio::test]
async fn the_files_page_lists_a_files_links_and_revokes_one_with_its_button() {
    let app = AppServer::spawn().await;
    let alice = app.signed_in("alice").await;
    let file = alice.upload_ok("photo.jpg", b"jpeg").await;
    let link = claims_of(&alice.link_ok(&file).await);
    let page = alice.get("/").await.text().await.unwrap();
    let action = format!("/links/{}/revoke", link.jti);
    assert!(page.contains(&format!("action=\"{action}\"")), "{page}");
    assert!(page.contains("may stay in use until"), "{page}");
    let csrf = form_field(&page, "csrf");
    assert_eq!(
        alice
            .post_form(&action, &[("csrf", "wrong")])
            .await
            .status(),
        403
    );
    let revoked = alice.post_form(&action, &[("csrf", &csrf)]).await;
    assert_eq!(revoked.status(), 303);
    let page = alice
        .get("/?notice=link-revoked")
        .await
        .text()
        .await
        .unwrap();
    assert!(
        !page.contains(&format!("action=\"{action}\"")),
        "the button is gone: {page}"
    );
    assert!(page.contains("revoked"), "{page}");
    assert_eq!(
        state(&app, &alice, "").await.revokes(&link),
        Some(RevokedBy::Link)
    );
}

#[tokio::test]
async fn a_waiting_long_poll_wakes_on_a_revocation_and_a_quiet_one_heartbeats() {
    let app = AppServer::spawn().await;
    let alice = app.signed_in("alice").await;
    let phone = another_device(&app, "alice").await;
    let file = alice.upload_ok("a.txt", b"a").await;
    let link = claims_of(&phone.link_ok(&file).await);

    // Quiet: held for `wait`, then the same seq with a newer iat.
    let first = state(&app, &alice, "").await;
    let started = Instant::now();
    let heartbeat = state(&app, &alice, "after=0&wait=2").await;
    let held = started.elapsed();
    assert!(
        held >= Duration::from_millis(1900),
        "answered after {held:?}"
    );
    assert!(held < Duration::from_secs(10), "answered after {held:?}");
    assert_eq!(heartbeat.seq, first.seq);
    assert!(heartbeat.iat > first.iat);
    // wait=0, or no `after`, answers at once.
    let started = Instant::now();
    state(&app, &alice, "after=0&wait=0").await;
    state(&app, &alice, "wait=25").await;
    assert!(started.elapsed() < Duration::from_secs(2));

    // Waiting: woken by a revocation on this server.
    let waiting = {
        let (app_base, alice) = (app.base.clone(), alice.clone());
        tokio::spawn(async move {
            let response = alice.revocations("after=0&wait=20").await;
            let woke = Instant::now();
            assert_eq!(response.status(), 200, "{app_base}");
            (woke, response.text().await.unwrap())
        })
    };
    tokio::time::sleep(Duration::from_millis(500)).await;
    let phone_session = current_session_id(&phone).await;
    let revoked = Instant::now();
    assert_eq!(alice.revoke_session(&phone_session).await.status(), 204);
    let (woke, jws) = waiting.await.unwrap();
    let latency = woke.saturating_duration_since(revoked);
    println!("long-poll woken {latency:?} after the revocation request was sent (same app server)");
    assert!(latency < Duration::from_secs(5), "woken after {latency:?}");
    let keys: PublicJwks = alice.revocation_jwks().await.json().await.unwrap();
    let woken = verify(&jws, &keys, &app.config.issuer).unwrap();
    assert_eq!(woken.seq, 1);
    assert_eq!(woken.revokes(&link), Some(RevokedBy::Session));
    // Behind the current seq: at once.
    let started = Instant::now();
    assert_eq!(state(&app, &alice, "after=0&wait=20").await.seq, 1);
    assert!(started.elapsed() < Duration::from_secs(2));
}

#[tokio::test]
async fn a_disabled_account_cannot_sign_in_its_sessions_end_and_its_links_are_revoked() {
    let app = AppServer::spawn().await;
    let alice = app.signed_in("alice").await;
    let file = alice.upload_ok("a.txt", b"a").await;
    let link = claims_of(&alice.link_ok(&file).await);
    let bob = app.signed_in("bob").await;

    // Disabled by the command (its own database connection, as another process would be):
    // a long-poll here is woken by the poller.
    let waiting = {
        let bob = bob.clone();
        tokio::spawn(async move {
            let response = bob.revocations("after=0&wait=20").await;
            (Instant::now(), response.status())
        })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    let disabled = Instant::now();
    app_server::cli::disable_user(&app.config, "Alice")
        .await
        .unwrap();
    let (woke, status) = waiting.await.unwrap();
    assert_eq!(status, 200);
    let latency = woke.saturating_duration_since(disabled);
    println!("long-poll woken {latency:?} after `user disable` (another connection, the poller)");
    assert!(latency < Duration::from_secs(5), "woken after {latency:?}");

    let after = state(&app, &bob, "").await;
    assert_eq!(after.revokes(&link), Some(RevokedBy::Subject));
    assert_eq!(alice.me().await.status(), 401, "the session is gone");
    let refused = app.device().login("alice", "alice-password").await;
    assert_eq!(refused.status(), 403);
    let body: Value = refused.json().await.unwrap();
    assert_eq!(body["error"], "account_disabled");
    // Only to whoever knows the password.
    assert_eq!(
        app.device().login("alice", "wrong-password").await.status(),
        401
    );
    let page = app
        .device()
        .post_form(
            "/login",
            &[("username", "alice"), ("password", "alice-password")],
        )
        .await;
    assert_eq!(page.status(), 403);
    assert!(
        page.text()
            .await
            .unwrap()
            .contains("This account is disabled.")
    );
    assert!(
        app_server::cli::disable_user(&app.config, "nobody")
            .await
            .is_err()
    );
    assert_eq!(bob.me().await.status(), 200, "others are untouched");

    app_server::cli::enable_user(&app.config, "alice")
        .await
        .unwrap();
    let back = app.device();
    assert_eq!(back.login("alice", "alice-password").await.status(), 200);
    let fresh = claims_of(&back.link_ok(&file).await);
    assert_eq!(fresh.sgen, 1);
    assert_eq!(state(&app, &bob, "").await.revokes(&fresh), None);
}

#[tokio::test]
async fn records_are_left_out_once_their_retention_ends_and_seq_stays() {
    let app = AppServer::spawn_with(|c| {
        c.token_ttl = 5;
        c.revocation_grant_max_age = 0;
    })
    .await;
    let alice = app.signed_in("alice").await;
    let file = alice.upload_ok("a.txt", b"a").await;
    let link = claims_of(&alice.link_ok(&file).await);
    assert_eq!(alice.revoke_link(&link.jti.to_string()).await.status(), 204);
    let kept = state(&app, &alice, "").await;
    assert_eq!(kept.retain, 5 + 60 + 60);
    assert_eq!((kept.seq, kept.jti.len()), (1, 1));

    let db = sqlx::SqlitePool::connect(&app.config.database_url())
        .await
        .unwrap();
    let (created, until): (i64, i64) =
        sqlx::query_as("SELECT created_at, until_at FROM dl_revocations")
            .fetch_one(&db)
            .await
            .unwrap();
    assert_eq!(until - created, kept.retain);
    // Time passes: the record's retention is over now.
    sqlx::query("UPDATE dl_revocations SET until_at = $1")
        .bind(shared::time::now_secs())
        .execute(&db)
        .await
        .unwrap();
    let later = state(&app, &alice, "").await;
    assert_eq!(later.seq, 1, "seq never goes down");
    assert!(later.is_empty(), "{later:?}");
}

#[tokio::test]
async fn two_app_servers_on_one_postgres_share_the_feed_and_wake_each_others_long_polls() {
    let postgres = PostgresServer::start();
    let database = postgres.create_database();
    let url = DatabaseUrl::new(&database);
    let (one, two) = tokio::join!(
        AppServer::spawn_with(|c| c.database = Some(url.clone())),
        AppServer::spawn_with(|c| c.database = Some(url.clone()))
    );
    let alice = one.signed_in("alice").await;
    let phone = another_device(&one, "alice").await;
    let file = alice.upload_ok("a.txt", b"a").await;
    let link = claims_of(&phone.link_ok(&file).await);
    let watcher = two.device();
    assert_eq!(state(&two, &watcher, "").await.seq, 0);

    let waiting = {
        let watcher = watcher.clone();
        tokio::spawn(async move {
            let response = watcher.revocations("after=0&wait=20").await;
            (Instant::now(), response.text().await.unwrap())
        })
    };
    tokio::time::sleep(Duration::from_millis(700)).await;
    let revoked = Instant::now();
    assert_eq!(
        alice
            .revoke_session(&current_session_id(&phone).await)
            .await
            .status(),
        204
    );
    let (woke, jws) = waiting.await.unwrap();
    let latency = woke.saturating_duration_since(revoked);
    println!(
        "long-poll on the other app server woken {latency:?} after the revocation (PostgreSQL)"
    );
    assert!(latency < Duration::from_secs(5), "woken after {latency:?}");
    let keys: PublicJwks = watcher.revocation_jwks().await.json().await.unwrap();
    let on_two = verify(&jws, &keys, &two.config.issuer).unwrap();
    assert_eq!(on_two.seq, 1);
    assert_eq!(on_two.revokes(&link), Some(RevokedBy::Session));

    // One sequence for both: the next revocation, made on two, is 2 on one.
    assert_eq!(
        alice
            .revoke_link(&claims_of(&alice.link_ok(&file).await).jti.to_string())
            .await
            .status(),
        204
    );
    let bob = two.signed_in("bob").await;
    assert_eq!(bob.logout().await.status(), 204);
    let (a, b) = (
        state(&one, &alice, "").await,
        state(&two, &watcher, "").await,
    );
    assert_eq!((a.seq, b.seq), (3, 3));
    assert_eq!((a.sid, a.jti), (b.sid, b.jti));
}
