//! Fail closed: when the app server stops answering, every download server refuses new
//! downloads and cuts running ones once its revocation state is older than
//! `--revocation-max-age`, a download server started meanwhile serves nothing, and all of them
//! serve again as soon as the app server is back.

use super::{BIG, Backend, Fixture, Running};
use integration_tests::download::DownloadServer;
use serde_json::Value;
use std::time::{Duration, Instant};

const MAX_AGE: u32 = 4;

async fn a_silent_app_server_stops_downloads_until_it_answers_again(backend: Backend) {
    let fixture = Fixture::spawn_with(backend, MAX_AGE).await;
    let (alice, file) = fixture.user_with_file("alice").await;
    let unused = alice.link_ok(&file).await;
    let downloading = alice.link_ok(&file).await;
    let running = Running::start(&fixture, &downloading).await;
    let Fixture {
        app,
        b,
        backend,
        _redis,
    } = fixture;
    let files = app.download.files.clone();
    let config = b[0].config.clone();
    let path = format!("/d/{}", unused.split_once("/d/").unwrap().1);
    let (app, ()) = app
        .down_while(async {
            let since = Instant::now();
            let bound = Duration::from_secs(u64::from(MAX_AGE) + 3);
            for (i, server) in b.iter().enumerate() {
                loop {
                    let url = format!("{}{path}", server.base);
                    let status = server.client.head(url).send().await.unwrap().status();
                    if status == 503 {
                        break;
                    }
                    assert!(since.elapsed() < bound, "B{i} still answers {status}");
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                server.wait_ready(503).await;
            }
            println!(
                "feed silent ({backend:?}): both download servers refused after {} ms \
                 (max age {MAX_AGE} s)",
                since.elapsed().as_millis()
            );
            let (received, cut) = running.finish().await;
            assert!(
                cut && received < BIG,
                "the running download went on: {received} bytes"
            );

            let refused = b[0].get_path(&path).await;
            assert_eq!(refused.status(), 503);
            assert!(refused.headers().contains_key("retry-after"));
            let problem: Value = refused.json().await.unwrap();
            assert!(
                problem["type"]
                    .as_str()
                    .unwrap()
                    .ends_with(":revocation_unavailable"),
                "{problem}"
            );

            // A download server started while the app server is down serves nothing, not even a
            // token signed after it started (on memory, older ones are before its epoch).
            let fresh = DownloadServer::start(files.clone(), config.clone()).await;
            fresh.wait_ready(503).await;
            fresh.put_file("late.txt", b"late");
            assert_eq!(fresh.get(&fresh.mint("late.txt")).await.status(), 503);
        })
        .await;

    for server in &b {
        server.wait_ready(200).await;
    }
    let back = Fixture {
        app,
        b,
        backend,
        _redis,
    };
    assert_eq!(
        back.fetch(0, &unused).await,
        (200, BIG),
        "the unused link works again"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_a_silent_app_server_stops_downloads_until_it_answers_again() {
    a_silent_app_server_stops_downloads_until_it_answers_again(Backend::Memory).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_a_silent_app_server_stops_downloads_until_it_answers_again() {
    a_silent_app_server_stops_downloads_until_it_answers_again(Backend::Redis).await;
}
