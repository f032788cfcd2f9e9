//! Every event that revokes, on memory and on Redis: a link minted before it is refused by both
//! download servers within the bound, a download already running is cut (and cannot be
//! resumed), and what the event does not cover keeps working.

use super::{BIG, Backend, Fixture, Running, millis, refused_everywhere};
use integration_tests::app::AppClient;
use integration_tests::download::jti_of;
use serde_json::Value;
use std::future::Future;
use std::time::Instant;

/// `victim` mints two links before `event`: one stays unused (probed with HEAD on both download
/// servers), one is downloading on server 1. After the event both are refused everywhere and
/// the running download is cut.
async fn revokes(
    fixture: &Fixture,
    what: &str,
    victim: &AppClient,
    file: &str,
    event: impl Future<Output = ()>,
) {
    let unused = victim.link_ok(file).await;
    let downloading = victim.link_ok(file).await;
    for i in 0..2 {
        assert_eq!(fixture.head_status(i, &unused).await, 200, "before {what}");
    }
    let running = Running::start(fixture, &downloading).await;
    event.await;
    let since = Instant::now();
    let delays = refused_everywhere(fixture, &unused, 410, since).await;
    let (received, cut) = running.finish().await;
    let cut_after = since.elapsed();
    assert!(
        cut && received < BIG,
        "{what}: the running download was not cut ({received} of {BIG} bytes)"
    );
    // Its resume is refused too: 403 for a Range request, 410 without.
    let resume = fixture.b[1]
        .client
        .get(fixture.at(1, &downloading))
        .header("range", format!("bytes={received}-"))
        .send()
        .await
        .unwrap();
    assert_eq!(resume.status(), 403, "{what}: resume after the event");
    let problem: Value = resume.json().await.unwrap();
    assert!(
        problem["type"].as_str().unwrap().ends_with(":revoked"),
        "{problem}"
    );
    assert_eq!(fixture.head_status(0, &downloading).await, 410);
    println!(
        "revocation delay ({what}, {:?}): unused link refused by B0, B1 after {}; running \
         download cut after {} ms at {received} of {BIG} bytes",
        fixture.backend,
        millis(&delays),
        cut_after.as_millis()
    );
}

async fn session_id(device: &AppClient, current: bool) -> String {
    let sessions: Vec<Value> = device.sessions().await.json().await.unwrap();
    sessions
        .iter()
        .find(|s| s["current"] == current)
        .expect("the session is listed")["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

async fn second_device(fixture: &Fixture, name: &str) -> AppClient {
    let phone = fixture.app.device();
    let password = format!("{name}-password");
    assert_eq!(phone.login(name, &password).await.status(), 200);
    phone
}

async fn signing_out_one_device_revokes_the_links_it_minted(backend: Backend) {
    let fixture = Fixture::spawn(backend).await;
    let (laptop, file) = fixture.user_with_file("alice").await;
    let phone = second_device(&fixture, "alice").await;
    let laptops_link = laptop.link_ok(&file).await;
    let phone_id = session_id(&laptop, false).await;
    revokes(&fixture, "sign out one device", &phone, &file, async {
        assert_eq!(laptop.revoke_session(&phone_id).await.status(), 204);
    })
    .await;
    assert_eq!(
        fixture.fetch(0, &laptops_link).await,
        (200, BIG),
        "another device's link"
    );
    assert_eq!(
        fixture.fetch(0, &laptop.link_ok(&file).await).await,
        (200, BIG)
    );
}

async fn signing_out_all_other_devices_revokes_their_links_not_this_ones(backend: Backend) {
    let fixture = Fixture::spawn(backend).await;
    let (laptop, file) = fixture.user_with_file("alice").await;
    let phone = second_device(&fixture, "alice").await;
    let laptops_link = laptop.link_ok(&file).await;
    revokes(
        &fixture,
        "sign out all other devices",
        &phone,
        &file,
        async {
            assert_eq!(laptop.revoke_others().await.status(), 204);
        },
    )
    .await;
    assert_eq!(
        fixture.fetch(1, &laptops_link).await,
        (200, BIG),
        "this device's link"
    );
    assert_eq!(
        fixture.fetch(0, &laptop.link_ok(&file).await).await,
        (200, BIG)
    );
}

async fn signing_out_revokes_this_devices_links(backend: Backend) {
    let fixture = Fixture::spawn(backend).await;
    let (laptop, file) = fixture.user_with_file("alice").await;
    let phone = second_device(&fixture, "alice").await;
    let phones_link = phone.link_ok(&file).await;
    revokes(&fixture, "sign out", &laptop, &file, async {
        assert_eq!(laptop.logout().await.status(), 204);
    })
    .await;
    assert_eq!(
        fixture.fetch(0, &phones_link).await,
        (200, BIG),
        "another device's link"
    );
}

async fn a_password_change_revokes_every_link_of_the_account(backend: Backend) {
    let fixture = Fixture::spawn(backend).await;
    let (laptop, file) = fixture.user_with_file("alice").await;
    let phone = second_device(&fixture, "alice").await;
    let (bob, bobs_file) = fixture.user_with_file("bob").await;
    let bobs_link = bob.link_ok(&bobs_file).await;
    let laptops_link = laptop.link_ok(&file).await;
    revokes(&fixture, "password change", &phone, &file, async {
        let changed = laptop
            .change_password("alice-password", "new-password-1")
            .await;
        assert_eq!(changed.status(), 204);
    })
    .await;
    assert_eq!(
        fixture.head_status(0, &laptops_link).await,
        410,
        "this device's old link too"
    );
    assert_eq!(
        fixture.fetch(0, &laptop.link_ok(&file).await).await,
        (200, BIG),
        "a new link"
    );
    assert_eq!(
        fixture.fetch(1, &bobs_link).await,
        (200, BIG),
        "another account"
    );
}

async fn deleting_a_file_revokes_its_links(backend: Backend) {
    let fixture = Fixture::spawn(backend).await;
    let (laptop, file) = fixture.user_with_file("alice").await;
    let other = laptop.upload_ok("other.bin", b"another file").await;
    let others_link = laptop.link_ok(&other).await;
    revokes(&fixture, "file deleted", &laptop, &file, async {
        assert_eq!(laptop.delete_file(&file).await.status(), 204);
    })
    .await;
    assert_eq!(
        fixture.fetch(0, &others_link).await,
        (200, 12),
        "another file's link"
    );
}

async fn disabling_an_account_revokes_every_link_of_it(backend: Backend) {
    let fixture = Fixture::spawn(backend).await;
    let (laptop, file) = fixture.user_with_file("alice").await;
    let (bob, bobs_file) = fixture.user_with_file("bob").await;
    let bobs_link = bob.link_ok(&bobs_file).await;
    // What `app-server user disable alice` runs, on the same database: the running app server
    // learns of it from the database, as it would from another process.
    let config = fixture.app.config.clone();
    revokes(&fixture, "account disabled", &laptop, &file, async {
        app_server::cli::disable_user(&config, "alice")
            .await
            .expect("alice is disabled");
    })
    .await;
    assert_eq!(laptop.me().await.status(), 401, "signed out");
    let again = fixture.app.device();
    assert_ne!(again.login("alice", "alice-password").await.status(), 200);
    assert_eq!(
        fixture.fetch(0, &bobs_link).await,
        (200, BIG),
        "another account"
    );
}

async fn revoking_one_link_stops_that_link_alone(backend: Backend) {
    let fixture = Fixture::spawn(backend).await;
    let (laptop, file) = fixture.user_with_file("alice").await;
    let other = laptop.link_ok(&file).await;
    let link = laptop.link_ok(&file).await;
    assert_eq!(fixture.head_status(0, &link).await, 200);
    let running = Running::start(&fixture, &link).await;
    let revoke = laptop
        .client
        .post(laptop.url(&format!("/api/links/{}/revoke", jti_of(&link))))
        .send()
        .await
        .unwrap();
    assert_eq!(revoke.status(), 204);
    let since = Instant::now();
    let delays = refused_everywhere(&fixture, &link, 410, since).await;
    let (received, cut) = running.finish().await;
    assert!(
        cut && received < BIG,
        "the running download went on: {received} bytes"
    );
    println!(
        "revocation delay (revoke this link, {backend:?}): refused by B0, B1 after {}; running \
         download cut after {} ms",
        millis(&delays),
        since.elapsed().as_millis()
    );
    assert_eq!(
        fixture.fetch(0, &other).await,
        (200, BIG),
        "another link to the file"
    );

    let bob = fixture.app.signed_in("bob").await;
    let not_bobs = bob
        .client
        .post(bob.url(&format!("/api/links/{}/revoke", jti_of(&other))))
        .send()
        .await
        .unwrap();
    assert_eq!(not_bobs.status(), 404, "another person's link");
}

macro_rules! on_both_backends {
    ($($name:ident),+ $(,)?) => {
        mod memory {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(super::Backend::Memory).await;
                }
            )+
        }
        mod redis {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(super::Backend::Redis).await;
                }
            )+
        }
    };
}

on_both_backends!(
    signing_out_one_device_revokes_the_links_it_minted,
    signing_out_all_other_devices_revokes_their_links_not_this_ones,
    signing_out_revokes_this_devices_links,
    a_password_change_revokes_every_link_of_the_account,
    deleting_a_file_revokes_its_links,
    disabling_an_account_revokes_every_link_of_it,
    revoking_one_link_stops_that_link_alone,
);
