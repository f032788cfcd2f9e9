//! Download history end to end: the app server pulls its download server's event feed and shows
//! each file's downloads (completed or interrupted, with the device) and refused uses; the
//! history and the cursor outlive a restart; two app servers on one PostgreSQL record each event
//! once; and a real browser's download shows up on the files page.

use app_server::config::DatabaseUrl;
use integration_tests::PostgresServer;
use integration_tests::app::{AppClient, AppServer, download_event_rows};
use integration_tests::download::sample_bytes;
use std::time::{Duration, Instant};

const WHOLE: usize = 300_000;
/// Large enough that socket buffers cannot hold it all when the reader stops early.
const CUT: usize = 8 * 1024 * 1024;

/// What the three uses below must leave in the history of `whole` and `cut`.
struct Used {
    whole: String,
    cut: String,
}

/// Downloads `whole` fully, opens its used link again (410), and cuts a download of `cut`
/// after 256 KiB.
async fn use_links(app: &AppServer, device: &AppClient) -> Used {
    let whole = device.upload_ok("whole.bin", &sample_bytes(WHOLE, 1)).await;
    let cut = device.upload_ok("cut.bin", &sample_bytes(CUT, 2)).await;

    let url = device.link_ok(&whole).await;
    let response = app
        .download
        .client
        .get(&url)
        .header("user-agent", "curl/8.5.0")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.bytes().await.unwrap().len(), WHOLE);
    assert_eq!(app.fetch(&url).await.status(), 410);

    let mut response = app.fetch(&device.link_ok(&cut).await).await;
    assert_eq!(response.status(), 200);
    let mut received = 0;
    while received < 256 * 1024 {
        received += response.chunk().await.unwrap().unwrap().len();
    }
    drop(response);
    Used { whole, cut }
}

/// Waits (at most 10 s each) until the puller has recorded the three uses, and checks them.
async fn assert_history(device: &AppClient, used: &Used) {
    let started = Instant::now();
    let whole = device
        .file_downloads_once(&used.whole, |h| {
            h["downloads"].as_array().unwrap().len() == 1
                && h["refused"].as_array().unwrap().len() == 1
        })
        .await;
    let cut = device
        .file_downloads_once(&used.cut, |h| h["downloads"].as_array().unwrap().len() == 1)
        .await;
    eprintln!(
        "history caught up {:?} after the last use",
        started.elapsed()
    );

    let done = &whole["downloads"][0];
    assert_eq!(done["state"], "completed", "{whole}");
    assert_eq!(done["coverage_percent"], 100);
    assert_eq!(done["sent"], WHOLE as u64, "each stream counted once");
    assert_eq!(done["ip"], "127.0.0.1");
    assert_eq!(done["device"], "curl");
    let refused = &whole["refused"][0];
    assert_eq!(refused["reason"], "already_used", "{whole}");
    assert_eq!(refused["jti"], done["jti"]);
    assert_eq!(
        refused["other_network"], false,
        "same address as the download"
    );

    let interrupted = &cut["downloads"][0];
    assert_eq!(interrupted["state"], "interrupted", "{cut}");
    let coverage = interrupted["coverage_percent"].as_u64().unwrap();
    assert!(0 < coverage && coverage < 100, "{cut}");
    assert!(cut["refused"].as_array().unwrap().is_empty());
}

#[tokio::test]
async fn a_download_a_reuse_and_a_cut_download_show_in_the_files_history() {
    let app = AppServer::spawn().await;
    let alice = app.signed_in("alice").await;
    let used = use_links(&app, &alice).await;
    assert_history(&alice, &used).await;

    // Another person's file is not found; the page shows the same history in words.
    let bob = app.signed_in("bob").await;
    assert_eq!(bob.file_downloads(&used.whole).await.status(), 404);
    assert_eq!(app.device().file_downloads(&used.whole).await.status(), 401);
    let page = alice.get("/").await.text().await.unwrap();
    assert!(
        page.contains("from 127.0.0.1 (curl), 300.0 KB, completed"),
        "{page}"
    );
    assert!(page.contains("interrupted at "), "{page}");
    assert!(page.contains("Refused "), "{page}");
    assert!(page.contains("used link opened again"), "{page}");
}

#[tokio::test]
async fn the_history_outlives_a_restart_and_no_event_is_recorded_twice() {
    let app = AppServer::spawn().await;
    let alice = app.signed_in("alice").await;
    let used = use_links(&app, &alice).await;
    assert_history(&alice, &used).await;
    assert_eq!(app.download_event_rows().await, (3, 3));

    let app = app.restart().await;
    let alice = AppClient {
        base: app.base.clone(),
        ..alice
    };
    assert_history(&alice, &used).await;
    // One more download: the restarted puller has pulled after it, from the stored cursor.
    let url = alice.link_ok(&used.whole).await;
    assert_eq!(app.fetch(&url).await.status(), 200);
    alice
        .file_downloads_once(&used.whole, |h| {
            h["downloads"].as_array().unwrap().len() == 2
        })
        .await;
    assert_eq!(app.download_event_rows().await, (4, 4));
}

#[tokio::test]
async fn two_app_servers_on_one_postgres_record_each_event_once() {
    let postgres = PostgresServer::start();
    let database = postgres.create_database();
    let url = DatabaseUrl::new(&database);
    let one = AppServer::spawn_with(|c| c.database = Some(url)).await;
    // A second app server on the same database, key and download server: both follow one feed.
    let mut config = one.config.clone();
    config.listen = "127.0.0.1:0".parse().unwrap();
    let two = app_server::Application::build(config)
        .await
        .expect("the second app server builds");
    let two_base = format!("http://{}", two.address());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let two_task = tokio::spawn(two.run_until(async {
        let _ = stopped.await;
    }));

    let alice = one.signed_in("alice").await;
    let used = use_links(&one, &alice).await;
    assert_history(&alice, &used).await;
    let on_two = AppClient::new(&two_base);
    assert_eq!(on_two.login("alice", "alice-password").await.status(), 200);
    assert_history(&on_two, &used).await;
    // Both pullers have had their turn at the feed (each long-poll is answered at once by a
    // new event); one more download and both have surely pulled all four.
    let url = alice.link_ok(&used.whole).await;
    assert_eq!(one.fetch(&url).await.status(), 200);
    on_two
        .file_downloads_once(&used.whole, |h| {
            h["downloads"].as_array().unwrap().len() == 2
        })
        .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(download_event_rows(&database).await, (4, 4));

    let _ = stop.send(());
    two_task.await.unwrap().unwrap();
}
