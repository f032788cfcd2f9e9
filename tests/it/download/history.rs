//! The download-event feed (`GET /v1/events`, docs/history.md) against real download servers, on
//! memory and on a real Redis: a whole download, a cut one and a refused reuse each become one
//! event with what really happened; the feed pages with its cursor, long-polls, and answers only
//! a pull token signed by the issuer's key with its own `typ`.

use integration_tests::download::{DownloadServer, jti_of, sample_bytes};
use integration_tests::redis::RedisServer;
use serde_json::{Value, json};
use std::time::{Duration, Instant};

const SIZE: usize = 4 * 1024 * 1024;

fn pull_token(server: &DownloadServer, typ: &str, aud: &str, lifetime: i64) -> String {
    let key = &server.files.key;
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::EdDSA);
    header.typ = Some(typ.to_owned());
    header.kid = Some(key.kid().to_owned());
    let now = shared::time::now_secs();
    let claims = json!({
        "iss": server.config.issuer, "aud": aud, "iat": now, "exp": now + lifetime,
        "jti": uuid::Uuid::new_v4().to_string(),
    });
    jsonwebtoken::encode(&header, &claims, key.encoding_key()).unwrap()
}

async fn pull(server: &DownloadServer, query: &str) -> Value {
    let token = pull_token(server, "dl-events+jwt", "urn:dl:events", 60);
    let response = server
        .client
        .get(format!("{}/v1/events{query}", server.base))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["cache-control"], "no-store");
    response.json().await.unwrap()
}

/// Pulls (bounded) until `n` events are there.
pub(super) async fn events(server: &DownloadServer, n: usize) -> Vec<Value> {
    for _ in 0..200 {
        let page = pull(server, "").await;
        let events = page["events"].as_array().unwrap().clone();
        if events.len() >= n {
            return events;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("fewer than {n} events");
}

async fn a_download_a_cut_one_and_a_reuse_are_each_one_event(servers: &[DownloadServer]) {
    let (a, b) = (&servers[0], &servers[servers.len() - 1]);
    a.put_file("f.bin", &sample_bytes(SIZE, 3));
    let whole = a.mint("f.bin");
    let response = a
        .client
        .get(a.url(&whole))
        .header("user-agent", "curl/8.5.0")
        .send()
        .await
        .unwrap();
    assert_eq!(response.bytes().await.unwrap().len(), SIZE);
    // Used: refused on the other instance too.
    assert_eq!(b.get(&whole).await.status(), 410);

    let cut = a.mint("f.bin");
    let mut response = b.get(&cut).await;
    let mut received = 0;
    while received < 256 * 1024 {
        received += response.chunk().await.unwrap().unwrap().len();
    }
    drop(response);

    let events = events(a, 3).await;
    assert_eq!(events.len(), 3, "{events:#?}");
    let of = |jti: &str, kind: &str| -> Vec<&Value> {
        events
            .iter()
            .filter(|e| e["jti"] == jti && e["type"] == kind)
            .collect()
    };
    let jti = jti_of;
    let done = of(&jti(&whole), "stream");
    assert_eq!(done.len(), 1);
    assert_eq!(done[0]["sent"], SIZE as u64);
    assert_eq!(done[0]["start"], 0);
    assert_eq!(done[0]["size"], SIZE as u64);
    assert_eq!(done[0]["sub"], "user-1");
    assert_eq!(done[0]["obj"], "f.bin");
    assert_eq!(done[0]["ua"], "curl/8.5.0");
    assert_eq!(done[0]["ip"], "127.0.0.1");
    let refused = of(&jti(&whole), "refused");
    assert_eq!(refused.len(), 1);
    assert_eq!(refused[0]["reason"], "already_used");
    assert_eq!(refused[0]["status"], 410);
    let interrupted = of(&jti(&cut), "stream");
    assert_eq!(interrupted.len(), 1);
    let sent = interrupted[0]["sent"].as_u64().unwrap();
    assert!(sent >= 256 * 1024 && sent < SIZE as u64, "sent {sent}");
    let ids: std::collections::HashSet<_> = events.iter().map(|e| e["id"].clone()).collect();
    assert_eq!(ids.len(), 3, "every event has its own id");

    // Paging: one at a time, in order, then nothing after the last.
    let first = pull(a, "?limit=1").await;
    assert_eq!(first["events"][0]["id"], events[0]["id"]);
    let next = first["next"].as_str().unwrap().to_owned();
    let second = pull(a, &format!("?limit=1&after={next}")).await;
    assert_eq!(second["events"][0]["id"], events[1]["id"]);
    let last = pull(a, "").await["next"].as_str().unwrap().to_owned();
    let empty = pull(a, &format!("?after={last}")).await;
    assert!(empty["events"].as_array().unwrap().is_empty());
    assert_eq!(empty["next"], last.as_str());
    assert_eq!(empty["gap"], false);

    // A long-poll is answered when the next event arrives, not at its deadline.
    let query = format!("?after={last}&wait=20");
    let waiting = pull(a, &query);
    let started = Instant::now();
    let reuse = async {
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(a.get(&whole).await.status(), 410);
    };
    let (page, ()) = tokio::join!(waiting, reuse);
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(page["events"][0]["type"], "refused");
    println!(
        "events long-poll answered {} ms after it began (event at 300 ms)",
        started.elapsed().as_millis()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_a_download_a_cut_one_and_a_reuse_are_each_one_event() {
    let server = DownloadServer::spawn().await;
    a_download_a_cut_one_and_a_reuse_are_each_one_event(&[server]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_two_instances_write_one_feed() {
    let redis = RedisServer::start();
    let a = DownloadServer::spawn_on_redis(&redis).await;
    let b = a.spawn_peer().await;
    a_download_a_cut_one_and_a_reuse_are_each_one_event(&[a, b]).await;
}

#[tokio::test]
async fn the_feed_answers_only_a_valid_pull_token() {
    let server = DownloadServer::spawn().await;
    let url = format!("{}/v1/events", server.base);
    let status = |token: Option<String>| {
        let mut request = server.client.get(&url);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        async move { request.send().await.unwrap() }
    };
    let none = status(None).await;
    assert_eq!(none.status(), 401);
    assert_eq!(none.headers()["www-authenticate"], "Bearer");
    for (what, token) in [
        ("a download token", server.mint("f.txt")),
        (
            "the revocations typ",
            pull_token(&server, "dl-revocations+jwt", "urn:dl:events", 60),
        ),
        (
            "another audience",
            pull_token(&server, "dl-events+jwt", "download", 60),
        ),
        (
            "a long-lived token",
            pull_token(&server, "dl-events+jwt", "urn:dl:events", 3600),
        ),
        (
            "an expired token",
            pull_token(&server, "dl-events+jwt", "urn:dl:events", -120),
        ),
        ("garbage", "a.b.c".to_owned()),
    ] {
        assert_eq!(status(Some(token)).await.status(), 401, "{what}");
    }
    let other_key = shared::SigningKey::generate().unwrap();
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::EdDSA);
    header.typ = Some("dl-events+jwt".into());
    header.kid = Some(other_key.kid().to_owned());
    let now = shared::time::now_secs();
    let forged = jsonwebtoken::encode(
        &header,
        &json!({"iss": server.config.issuer, "aud": "urn:dl:events", "iat": now, "exp": now + 60}),
        other_key.encoding_key(),
    )
    .unwrap();
    assert_eq!(status(Some(forged)).await.status(), 401, "an unknown key");

    let good = pull_token(&server, "dl-events+jwt", "urn:dl:events", 60);
    for query in [
        "?limit=0",
        "?limit=5000",
        "?wait=99",
        "?wait=x",
        &format!("?after={}", "x".repeat(65)),
    ] {
        let response = server
            .client
            .get(format!("{url}{query}"))
            .bearer_auth(&good)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 400, "{query}");
        assert_eq!(
            response.headers()["content-type"],
            "application/problem+json"
        );
    }
}
