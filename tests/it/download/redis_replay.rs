//! Several download servers on one real Redis: single use across instances, the shared epoch,
//! and failing closed while Redis is stopped, emptied or frozen.

use integration_tests::DownloadServer;
use integration_tests::redis::RedisServer;
use std::time::Duration;

async fn spawn_on(redis: &RedisServer) -> DownloadServer {
    DownloadServer::spawn_on_redis(redis).await
}

async fn wait_ready(server: &DownloadServer, want: u16) {
    server.wait_ready(want).await;
}

/// Waits until the clock has passed the store's current epoch, so fresh tokens are accepted.
async fn wait_past_epoch(server: &DownloadServer) {
    integration_tests::download::wait_past_epoch(&server.state.replay).await;
}

/// A download server on `redis` whose Redis calls may take 5 s: longer than the freezes of the
/// batching tests, so their joins wait for Redis instead of failing.
async fn spawn_patient_on(redis: &RedisServer) -> DownloadServer {
    let (url, prefix) = (redis.url(), RedisServer::prefix());
    DownloadServer::spawn_with(move |config| {
        config.replay = url;
        config.replay_prefix = prefix;
        config.replay_timeout_ms = 5_000;
    })
    .await
}

/// GETs every token at once while Redis is frozen for 500 ms, so that their replay steps pile
/// up and are answered in one burst; each answer's status and body, in the tokens' order.
async fn get_all_while_frozen(
    redis: &RedisServer,
    server: &DownloadServer,
    tokens: &[String],
) -> Vec<(u16, bytes::Bytes)> {
    redis.freeze();
    let requests: Vec<_> = tokens
        .iter()
        .map(|token| {
            let (client, url) = (server.client.clone(), server.url(token));
            tokio::spawn(async move {
                let response = client.get(url).send().await.unwrap();
                let status = response.status().as_u16();
                (status, response.bytes().await.unwrap())
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(500)).await;
    redis.thaw();
    let mut answers = Vec::with_capacity(requests.len());
    for request in requests {
        answers.push(request.await.unwrap());
    }
    answers
}

fn problem_type(body: &serde_json::Value) -> &str {
    body["type"].as_str().unwrap_or_default()
}

#[tokio::test]
async fn of_64_concurrent_uses_spread_over_three_instances_exactly_one_gets_the_file() {
    let redis = RedisServer::start();
    let a = spawn_on(&redis).await;
    let (b, c) = (a.spawn_peer().await, a.spawn_peer().await);
    let body = vec![9u8; 100_000];
    a.put_file("shared.bin", &body);
    let token = a.mint("shared.bin");

    let requests = (0..66).map(|i| {
        let url = [&a, &b, &c][i % 3].url(&token);
        let client = a.client.clone();
        tokio::spawn(async move {
            let response = client.get(url).send().await.unwrap();
            let status = response.status().as_u16();
            (status, response.bytes().await.unwrap())
        })
    });
    let results = futures_util::future::join_all(requests).await;

    let mut served = 0;
    for result in results {
        let (status, bytes) = result.unwrap();
        match status {
            200 => {
                served += 1;
                assert_eq!(bytes.as_ref(), body.as_slice());
            }
            410 => {}
            other => panic!("unexpected status {other}"),
        }
    }
    assert_eq!(served, 1);
}

#[tokio::test]
async fn a_token_used_on_one_instance_is_gone_on_the_others() {
    let redis = RedisServer::start();
    let a = spawn_on(&redis).await;
    let b = a.spawn_peer().await;
    a.put_file("f.txt", b"once");
    let token = a.mint("f.txt");

    assert_eq!(a.get(&token).await.status(), 200);
    let on_b = b.get(&token).await;

    assert_eq!(on_b.status(), 410);
    let body: serde_json::Value = on_b.json().await.unwrap();
    assert!(problem_type(&body).ends_with("already_used"), "{body}");
    assert_eq!(
        a.state.replay.epoch().await.unwrap(),
        b.state.replay.epoch().await.unwrap()
    );
}

#[tokio::test]
async fn head_missing_objects_and_bad_ranges_do_not_consume_with_redis() {
    let redis = RedisServer::start();
    let server = spawn_on(&redis).await;
    server.put_file("f.txt", b"0123456789");
    let token = server.mint("f.txt");
    let missing = server.mint("later.txt");

    assert_eq!(server.head(&token).await.status(), 200);
    let bad_range = server
        .client
        .get(server.url(&token))
        .header("range", "bytes=50-60")
        .send()
        .await
        .unwrap();
    assert_eq!(bad_range.status(), 416);
    assert_eq!(server.get(&missing).await.status(), 404);
    server.put_file("later.txt", b"now here");

    assert_eq!(
        server.get(&token).await.bytes().await.unwrap().as_ref(),
        b"0123456789"
    );
    assert_eq!(
        server.get(&missing).await.bytes().await.unwrap().as_ref(),
        b"now here"
    );
    assert_eq!(server.head(&token).await.status(), 410);
}

#[tokio::test]
async fn the_redis_key_outlives_exp_plus_leeway() {
    let redis = RedisServer::start();
    let server = spawn_on(&redis).await;
    server.put_file("f.txt", b"x");
    let claims = server.claims("f.txt");
    let token = server.sign(&claims);
    assert_eq!(server.get(&token).await.status(), 200);

    let key = format!("{}jti:{}", server.config.replay_prefix, claims.jti);
    let expires_at: i64 = redis::cmd("EXPIRETIME")
        .arg(&key)
        .query(&mut redis.connection())
        .unwrap();

    assert!(
        expires_at > claims.exp + i64::from(server.config.leeway),
        "key expires at {expires_at}, token exp {} + leeway {}",
        claims.exp,
        server.config.leeway
    );
}

#[tokio::test]
async fn while_redis_is_stopped_nothing_is_served_and_its_data_counts_when_it_is_back() {
    let mut redis = RedisServer::start();
    let server = spawn_on(&redis).await;
    server.put_file("f.txt", b"payload");
    let used = server.mint("f.txt");
    let fresh = server.mint("f.txt");
    assert_eq!(server.get(&used).await.status(), 200);

    redis.stop();
    let refused = server.get(&fresh).await;
    assert_eq!(refused.status(), 503);
    assert!(refused.headers().contains_key("retry-after"));
    let body: serde_json::Value = refused.json().await.unwrap();
    assert!(
        problem_type(&body).ends_with("replay_unavailable"),
        "{body}"
    );
    wait_ready(&server, 503).await;
    assert_eq!(server.get_path("/healthz").await.status(), 200);

    redis.start_again();
    wait_ready(&server, 200).await;
    let served = server.get(&fresh).await;
    assert_eq!(served.status(), 200);
    assert_eq!(served.bytes().await.unwrap().as_ref(), b"payload");
    assert_eq!(server.get(&fresh).await.status(), 410);
    assert_eq!(server.get(&used).await.status(), 410);
}

#[tokio::test]
async fn when_redis_comes_back_empty_older_tokens_are_refused_and_new_ones_work() {
    let mut redis = RedisServer::start();
    let a = spawn_on(&redis).await;
    let b = a.spawn_peer().await;
    a.put_file("f.txt", b"payload");
    let used = a.mint("f.txt");
    let unused = a.mint("f.txt");
    assert_eq!(a.get(&used).await.status(), 200);
    let old_epoch = a.state.replay.epoch().await.unwrap();

    redis.start_empty();
    wait_ready(&a, 200).await;
    wait_ready(&b, 200).await;

    for token in [&used, &unused] {
        let response = b.get(token).await;
        assert_eq!(response.status(), 410);
        let body: serde_json::Value = response.json().await.unwrap();
        assert!(problem_type(&body).ends_with("before_epoch"), "{body}");
    }
    let new_epoch = a.state.replay.epoch().await.unwrap();
    assert!(new_epoch > old_epoch);
    assert_eq!(b.state.replay.epoch().await.unwrap(), new_epoch);
    wait_past_epoch(&a).await;
    let fresh = a.mint("f.txt");
    assert_eq!(b.get(&fresh).await.status(), 200);
    assert_eq!(a.get(&fresh).await.status(), 410);
}

#[tokio::test]
async fn a_frozen_redis_gives_a_quick_503_then_the_same_token_works_once_it_thaws() {
    let redis = RedisServer::start();
    let server = spawn_on(&redis).await;
    server.put_file("f.txt", b"payload");
    let token = server.mint("f.txt");

    redis.freeze();
    // The client gives up after 30 s; the server's Redis timeout is 200 ms.
    let refused = server
        .client
        .get(server.url(&token))
        .timeout(Duration::from_secs(5))
        .send()
        .await
        .expect("the server answers while Redis is frozen");
    assert_eq!(refused.status(), 503);
    assert!(refused.headers().contains_key("retry-after"));
    assert_eq!(server.get_path("/readyz").await.status(), 503);

    redis.thaw();
    wait_ready(&server, 200).await;
    // The consume sent while frozen is applied late and then taken back: HEAD turns 200 again.
    wait_head(&server, &token, 200).await;
    let served = server.get(&token).await;
    assert_eq!(served.status(), 200);
    assert_eq!(served.bytes().await.unwrap().as_ref(), b"payload");
    assert_eq!(server.get(&token).await.status(), 410);
}

/// `CLIENT PAUSE WRITE` holds the consume script inside Redis past the server's timeout and then
/// runs it: the late mark must be taken back (the release queued behind it on the same
/// connection), or a request that served nothing would have burned the link. Keyspace
/// notifications show the order Redis applied them in.
#[tokio::test]
async fn a_consume_applied_after_its_timeout_is_taken_back() {
    let redis = RedisServer::start();
    let server = spawn_on(&redis).await;
    server.put_file("f.txt", b"payload");
    // A first download: the scripts are loaded and this worker has its own connection.
    assert_eq!(server.get(&server.mint("f.txt")).await.status(), 200);
    let claims = server.claims("f.txt");
    let token = server.sign(&claims);
    let key = format!("{}jti:{}", server.config.replay_prefix, claims.jti);

    let mut admin = redis.connection();
    let _: () = redis::cmd("CONFIG")
        .arg("SET")
        .arg("notify-keyspace-events")
        .arg("Kg$")
        .query(&mut admin)
        .unwrap();
    let mut events = redis.connection();
    events
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut events = events.as_pubsub();
    events.subscribe(format!("__keyspace@0__:{key}")).unwrap();

    let _: () = redis::cmd("CLIENT")
        .arg("PAUSE")
        .arg(10_000)
        .arg("WRITE")
        .query(&mut admin)
        .unwrap();
    let refused = server.get(&token).await;
    assert_eq!(refused.status(), 503);
    let exists: bool = redis::cmd("EXISTS").arg(&key).query(&mut admin).unwrap();
    assert!(!exists, "the consume is still held by the pause");
    let _: () = redis::cmd("CLIENT")
        .arg("UNPAUSE")
        .query(&mut admin)
        .unwrap();

    let mut seen = Vec::new();
    while !seen.iter().any(|e| e == "del") {
        let message = events
            .get_message()
            .unwrap_or_else(|e| panic!("no release after {seen:?}: {e}"));
        seen.push(message.get_payload::<String>().unwrap());
    }
    assert_eq!(seen.first().map(String::as_str), Some("set"), "{seen:?}");
    drop(events);
    let served = server.get(&token).await;
    assert_eq!(served.status(), 200);
    assert_eq!(served.bytes().await.unwrap().as_ref(), b"payload");
    assert_eq!(server.get(&token).await.status(), 410);
}

async fn wait_head(server: &DownloadServer, token: &str, want: u16) {
    let what = format!("HEAD answers {want}");
    integration_tests::eventually(Duration::from_secs(10), &what, || async {
        server.head(token).await.status() == want
    })
    .await;
}

#[tokio::test]
async fn a_download_server_started_before_redis_is_not_ready_until_redis_answers() {
    let mut redis = RedisServer::start();
    redis.stop();
    let files = integration_tests::ServerFiles::new();
    let mut config = files.config();
    config.replay = redis.url();
    config.replay_prefix = RedisServer::prefix();
    let app = download_server::Application::build(config)
        .await
        .expect("starts without Redis");
    let address = app.address();
    tokio::spawn(app.run_until(std::future::pending()));
    let client = integration_tests::download::client();
    let readyz = format!("http://{address}/readyz");
    assert_eq!(client.get(&readyz).send().await.unwrap().status(), 503);

    redis.start_again();
    integration_tests::eventually(
        Duration::from_secs(10),
        "ready once Redis answers",
        || async { client.get(&readyz).send().await.unwrap().status() == 200 },
    )
    .await;
}

/// A client with a single connection of its own: a new TCP connection, kept alive for every
/// request it sends.
fn one_connection_client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .pool_max_idle_per_host(1)
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}

/// Two downloads on one kept-alive connection of its own; the statuses they got.
async fn two_downloads_on_one_connection(server: &DownloadServer) -> Vec<u16> {
    let client = one_connection_client();
    let mut statuses = Vec::new();
    for _ in 0..2 {
        let response = client
            .get(server.url(&server.mint("f.txt")))
            .send()
            .await
            .expect("the server answers");
        statuses.push(response.status().as_u16());
        let _ = response.bytes().await;
    }
    statuses
}

/// As an operator would see it: Redis stopped with `SHUTDOWN SAVE` and started again on its
/// data, a load balancer polling `/readyz` throughout. Once `/readyz` says ready, every worker of
/// every instance must serve, not only the one that answered `/readyz` (each worker has its own
/// Redis connection, and those broke while Redis was away).
#[tokio::test]
async fn once_readyz_is_back_after_a_redis_restart_every_worker_serves() {
    let mut redis = RedisServer::start();
    let a = spawn_on(&redis).await;
    let b = a.spawn_peer().await;
    a.put_file("f.txt", b"payload");
    // A hundred downloads over many connections: every worker has its own Redis connection.
    // (On a loaded machine a call may miss the 200 ms timeout: that one is simply tried again.)
    for server in [&a, &b] {
        let warm_up = (0..16).map(|_| async {
            let client = one_connection_client();
            let mut served = 0;
            for _ in 0..20 {
                let token = server.mint("f.txt");
                let response = client.get(server.url(&token)).send().await.unwrap();
                served += u32::from(response.status() == 200);
                let _ = response.bytes().await;
                if served == 4 {
                    return;
                }
            }
            panic!("a warm-up connection got only {served} downloads in 20 tries");
        });
        futures_util::future::join_all(warm_up).await;
    }

    redis.shutdown_save();
    for server in [&a, &b] {
        wait_ready(server, 503).await;
        assert_eq!(server.get(&server.mint("f.txt")).await.status(), 503);
    }
    redis.start_again();
    for server in [&a, &b] {
        wait_ready(server, 200).await;
    }

    // At least one connection per worker (two workers each): eight per instance.
    for server in [&a, &b] {
        let connections = (0..8).map(|_| two_downloads_on_one_connection(server));
        let statuses = futures_util::future::join_all(connections).await;
        assert!(
            statuses.iter().flatten().all(|&status| status == 200),
            "after /readyz said ready: {statuses:?}"
        );
    }
}

/// Closes queue while a close call is in flight and go out together in the next one; each still
/// counts as its own stream's close. Redis is frozen while the downloads start, so that their
/// joins are answered in one burst and their bodies end together.
#[tokio::test]
async fn downloads_that_end_together_are_closed_in_one_call_and_each_close_counts() {
    let redis = RedisServer::start();
    let server = spawn_patient_on(&redis).await;
    server.put_file("f.bin", &[7u8; 4096]);
    wait_past_epoch(&server).await;
    let prefix = server.config.replay_prefix.clone();
    let events_key = format!("{prefix}events");
    let mut conn = redis.connection();
    // Downloads and refused reuses so far: each makes one event.
    let (mut downloads, mut refused) = (0, 0);
    for _ in 0..5 {
        let () = redis::cmd("CONFIG")
            .arg("RESETSTAT")
            .query(&mut conn)
            .unwrap();
        let tokens: Vec<String> = (0..32).map(|_| server.mint("f.bin")).collect();
        for (status, bytes) in get_all_while_frozen(&redis, &server, &tokens).await {
            assert_eq!((status, bytes.len()), (200, 4096));
        }
        downloads += tokens.len();

        // Every close lands (bounded): each appends its event in the same call, and leaves its
        // token's key as "used" (the whole file went out: the grant is spent and forgotten).
        let mut events = 0;
        for _ in 0..300 {
            events = redis::cmd("XLEN")
                .arg(&events_key)
                .query(&mut conn)
                .unwrap();
            if events >= downloads + refused {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert_eq!(events, downloads + refused, "one event per download");
        let keys: Vec<String> = redis::cmd("KEYS")
            .arg(format!("{prefix}jti:*"))
            .query(&mut conn)
            .unwrap();
        assert_eq!(keys.len(), downloads);
        for key in &keys {
            let value: String = redis::cmd("GET").arg(key).query(&mut conn).unwrap();
            assert_eq!(value, "1", "{key} is not spent");
        }
        // 32 joins, and fewer than 32 close calls.
        let calls = redis.script_calls();
        for token in &tokens {
            assert_eq!(server.get(token).await.status(), 410);
        }
        refused += tokens.len();
        if calls < 64 {
            return;
        }
    }
    panic!("no round closed two downloads in one call");
}

/// The joins of concurrent requests queue while a join call is in flight and go out together in
/// the next one, each answered as if alone: a token asked for by many of them is still granted
/// to exactly one. Redis is frozen while the requests start, so that their joins pile up.
#[tokio::test]
async fn concurrent_joins_go_in_one_call_and_each_is_answered_as_if_alone() {
    let redis = RedisServer::start();
    let server = spawn_patient_on(&redis).await;
    let body: Vec<u8> = (0..4096u32).map(|i| (i % 251) as u8).collect();
    server.put_file("f.bin", &body);
    wait_past_epoch(&server).await;
    let mut conn = redis.connection();
    for _ in 0..5 {
        let () = redis::cmd("CONFIG")
            .arg("RESETSTAT")
            .query(&mut conn)
            .unwrap();
        // 16 tokens asked for once each, and one token asked for 16 times.
        let shared = server.mint("f.bin");
        let tokens: Vec<String> = (0..16)
            .map(|_| server.mint("f.bin"))
            .chain(std::iter::repeat_n(shared.clone(), 16))
            .collect();
        let answers = get_all_while_frozen(&redis, &server, &tokens).await;
        let mut shared_served = 0;
        for (token, (status, bytes)) in tokens.iter().zip(answers) {
            match (status, *token == shared) {
                (200, _) => assert_eq!(bytes.as_ref(), body.as_slice()),
                (410, true) => {}
                (other, _) => panic!(
                    "unexpected status {other} (shared token: {})",
                    *token == shared
                ),
            }
            shared_served += usize::from(status == 200 && *token == shared);
        }
        assert_eq!(shared_served, 1, "the shared token is granted exactly once");
        // 32 joins and their closes; each join alone would be 32 calls at least.
        if redis.script_calls() < 16 {
            return;
        }
    }
    panic!("no round joined two requests in one call");
}
