//! A token grants one copy of the object's bytes: what joins its download, what ends it, and
//! how every refusal is answered (410, or 403 to a request with `Range`), over HTTP. Every case
//! runs on the memory store and on a real Redis.

use download_server::Config;
use integration_tests::DownloadServer;
use integration_tests::redis::RedisServer;
use std::time::Duration;

/// A download server on the memory store, or on a Redis of its own (kept alive with it).
struct Server {
    server: DownloadServer,
    _redis: Option<RedisServer>,
}

impl std::ops::Deref for Server {
    type Target = DownloadServer;
    fn deref(&self) -> &DownloadServer {
        &self.server
    }
}

#[derive(Clone, Copy)]
enum Backend {
    Memory,
    Redis,
}

async fn spawn(backend: Backend, tweak: impl FnOnce(&mut Config)) -> Server {
    let redis = matches!(backend, Backend::Redis).then(RedisServer::start);
    let replay = redis.as_ref().map(|r| (r.url(), RedisServer::prefix()));
    let server = DownloadServer::spawn_with(move |config| {
        if let Some((url, prefix)) = replay {
            config.replay = url;
            config.replay_prefix = prefix;
        }
        tweak(config);
    })
    .await;
    Server {
        server,
        _redis: redis,
    }
}

/// Each case as a test on the memory store and one on Redis.
macro_rules! on_both_stores {
    ($($case:ident),+ $(,)?) => {
        mod memory {
            $(#[tokio::test] async fn $case() { super::$case(super::Backend::Memory).await })+
        }
        mod redis {
            $(#[tokio::test] async fn $case() { super::$case(super::Backend::Redis).await })+
        }
    };
}

on_both_stores!(
    a_download_cut_off_resumes_with_the_same_link_and_ends_spent,
    probes_then_the_download_work_and_a_second_download_does_not,
    head_says_what_a_get_would_get_and_never_opens_anything,
    segments_in_parallel_make_one_copy,
    a_download_goes_on_after_its_link_expired_but_an_unused_expired_link_opens_nothing,
    more_streams_than_allowed_get_503_with_retry_after,
    a_file_changed_under_an_open_download_is_never_mixed_in,
    if_match_on_another_version_is_412_and_uses_nothing,
    a_download_idle_too_long_or_asked_too_often_ends,
    a_full_download_again_after_a_cut_is_refused_when_it_would_be_a_second_copy,
);

const MIB: usize = 1024 * 1024;

fn body(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 7 % 251) as u8).collect()
}

async fn get_range(server: &DownloadServer, token: &str, range: &str) -> reqwest::Response {
    server
        .client
        .get(server.url(token))
        .header("range", range)
        .send()
        .await
        .unwrap()
}

fn problem_type(body: &serde_json::Value) -> &str {
    body["type"]
        .as_str()
        .unwrap_or_default()
        .trim_start_matches("tag:download-server,2026:problem:")
}

/// `download_bytes_sent_total` from /metrics.
async fn bytes_sent(server: &DownloadServer) -> u64 {
    let metrics = server.metrics().await;
    metrics
        .lines()
        .find_map(|line| line.strip_prefix("download_bytes_sent_total "))
        .and_then(|value| value.trim().parse().ok())
        .expect("download_bytes_sent_total in /metrics")
}

/// A GET of `token` cut off after `keep` body bytes, as when a network drops: a client socket
/// with a small receive buffer (a short path holds little in flight), read as it arrives, then
/// closed. (reqwest on loopback would let the kernel and hyper take megabytes ahead of what the
/// test reads; a real drop loses what is in flight, and the server counts what it wrote.)
async fn get_cut_off(server: &DownloadServer, token: &str, keep: usize) -> Vec<u8> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(64 * 1024).unwrap();
    let mut stream = socket.connect(server.address).await.unwrap();
    let request = format!(
        "GET /d/{token} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
        server.address
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut received = Vec::new();
    let mut buffer = vec![0u8; 16 * 1024];
    let body_start = loop {
        let n = stream.read(&mut buffer).await.unwrap();
        assert!(n > 0, "the response head arrives");
        received.extend_from_slice(&buffer[..n]);
        if let Some(at) = received.windows(4).position(|w| w == b"\r\n\r\n") {
            assert!(
                received.starts_with(b"HTTP/1.1 200"),
                "a full download starts"
            );
            break at + 4;
        }
    };
    let mut body = received.split_off(body_start);
    while body.len() < keep {
        let n = stream.read(&mut buffer).await.unwrap();
        assert!(n > 0, "the body goes on");
        body.extend_from_slice(&buffer[..n]);
    }
    body.truncate(keep);
    body
}

async fn a_download_cut_off_resumes_with_the_same_link_and_ends_spent(backend: Backend) {
    let server = spawn(backend, |_| {}).await;
    let body = body(8 * MIB);
    server.put_file("big.bin", &body);
    let token = server.mint("big.bin");

    let head = get_cut_off(&server, &token, 3 * MIB).await;
    // The server notices the drop when it next writes.
    tokio::time::sleep(Duration::from_millis(200)).await;

    let rest = get_range(&server, &token, &format!("bytes={}-", head.len())).await;
    assert_eq!(rest.status(), 206);
    assert_eq!(
        rest.headers()["content-range"],
        format!("bytes {}-{}/{}", head.len(), body.len() - 1, body.len()).as_str()
    );
    let rest = rest.bytes().await.unwrap();
    assert_eq!([head.as_slice(), &rest].concat(), body);

    let again = get_range(&server, &token, "bytes=0-").await;
    assert_eq!(again.status(), 403, "a Range request on a spent link");
    let body_again: serde_json::Value = again.json().await.unwrap();
    assert_eq!(problem_type(&body_again), "already_used");
    assert_eq!(server.get(&token).await.status(), 410);
    let r = 8 * MIB as u64 / 2; // min(S/2, max(4 MiB, S/16))
    assert!(bytes_sent(&server).await <= body.len() as u64 + r);
}

async fn probes_then_the_download_work_and_a_second_download_does_not(backend: Backend) {
    let server = spawn(backend, |_| {}).await;
    let body = body(3 * MIB);
    server.put_file("f.bin", &body);
    let token = server.mint("f.bin");

    for (range, len) in [("bytes=0-0", 1), ("bytes=0-255", 256)] {
        let probe = get_range(&server, &token, range).await;
        assert_eq!(probe.status(), 206);
        assert_eq!(probe.bytes().await.unwrap().as_ref(), &body[..len]);
    }
    let whole = server.get(&token).await;
    assert_eq!(whole.status(), 200);
    assert_eq!(whole.bytes().await.unwrap().as_ref(), body.as_slice());

    let second = server.get(&token).await;
    assert_eq!(second.status(), 410);
    assert_eq!(bytes_sent(&server).await, body.len() as u64 + 1 + 256);
}

async fn head_says_what_a_get_would_get_and_never_opens_anything(backend: Backend) {
    let server = spawn(backend, |_| {}).await;
    let body = body(2 * MIB);
    server.put_file("f.bin", &body);
    let token = server.mint("f.bin");

    assert_eq!(server.head(&token).await.status(), 200, "unused");
    let part = get_range(&server, &token, "bytes=0-99").await;
    assert_eq!(part.bytes().await.unwrap().len(), 100);
    let head = server.head(&token).await;
    assert_eq!(head.status(), 200, "an open download");
    assert_eq!(
        head.headers()["content-length"],
        body.len().to_string().as_str()
    );
    let rest = get_range(&server, &token, "bytes=100-").await;
    assert_eq!(rest.bytes().await.unwrap().as_ref(), &body[100..]);
    assert_eq!(server.head(&token).await.status(), 410, "spent");
}

async fn segments_in_parallel_make_one_copy(backend: Backend) {
    let server = spawn(backend, |_| {}).await;
    let body = body(6 * MIB);
    server.put_file("f.bin", &body);
    let token = server.mint("f.bin");
    let eighth = body.len() / 8;

    let segments = (0..8).map(|i| {
        let (start, end) = (i * eighth, (i + 1) * eighth - 1);
        let (client, url) = (server.client.clone(), server.url(&token));
        async move {
            let response = client
                .get(url)
                .header("range", format!("bytes={start}-{end}"))
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), 206);
            (start, response.bytes().await.unwrap())
        }
    });
    let mut parts = futures_util::future::join_all(segments).await;
    parts.sort_by_key(|(start, _)| *start);
    let joined: Vec<u8> = parts.into_iter().flat_map(|(_, bytes)| bytes).collect();
    assert_eq!(joined, body);
    assert_eq!(bytes_sent(&server).await, body.len() as u64);
    assert_eq!(server.get(&token).await.status(), 410);
}

async fn a_download_goes_on_after_its_link_expired_but_an_unused_expired_link_opens_nothing(
    backend: Backend,
) {
    let server = spawn(backend, |config| config.leeway = 0).await;
    let body = body(2 * MIB);
    server.put_file("f.bin", &body);
    let mut claims = server.claims("f.bin");
    claims.exp = claims.iat + 2;
    let token = server.sign(&claims);
    let unused = server.sign(&shared::Claims {
        jti: shared::Jti::new_random(),
        ..claims.clone()
    });
    let part = get_range(&server, &token, "bytes=0-999").await;
    assert_eq!(part.bytes().await.unwrap().len(), 1000);

    // Bounded: past `exp` within a few seconds.
    for _ in 0..100 {
        if shared::time::now_secs() > claims.exp {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let rest = get_range(&server, &token, "bytes=1000-").await;
    assert_eq!(rest.status(), 206);
    assert_eq!(rest.bytes().await.unwrap().as_ref(), &body[1000..]);

    let expired = get_range(&server, &unused, "bytes=0-").await;
    assert_eq!(expired.status(), 403);
    let problem: serde_json::Value = expired.json().await.unwrap();
    assert_eq!(problem_type(&problem), "expired");
    assert_eq!(server.get(&unused).await.status(), 410);
}

async fn more_streams_than_allowed_get_503_with_retry_after(backend: Backend) {
    let server = spawn(backend, |config| config.grant_max_streams = 1).await;
    let body = body(8 * MIB);
    server.put_file("f.bin", &body);
    let token = server.mint("f.bin");
    // A stream that is open and not read: its connection stays, its lease stays.
    let held = server.get(&token).await;
    assert_eq!(held.status(), 200);

    let second = get_range(&server, &token, "bytes=7000000-").await;
    assert_eq!(second.status(), 503);
    assert_eq!(second.headers()["retry-after"], "1");
    let problem: serde_json::Value = second.json().await.unwrap();
    assert_eq!(problem_type(&problem), "busy");
    assert_eq!(held.bytes().await.unwrap().len(), body.len());
}

async fn a_file_changed_under_an_open_download_is_never_mixed_in(backend: Backend) {
    let server = spawn(backend, |_| {}).await;
    server.put_file("f.bin", &body(2 * MIB));
    let token = server.mint("f.bin");
    let part = get_range(&server, &token, "bytes=0-999").await;
    assert_eq!(part.status(), 206);
    let etag = part.headers()["etag"].to_str().unwrap().to_owned();
    let _ = part.bytes().await;
    // The file is replaced (another size, another ETag).
    server.put_file("f.bin", &body(3 * MIB));

    let resumed = get_range(&server, &token, "bytes=1000-").await;
    assert_eq!(resumed.status(), 403);
    let problem: serde_json::Value = resumed.json().await.unwrap();
    assert_eq!(problem_type(&problem), "object_changed");
    // A resume that names the old version in If-Match: 412, as HTTP says.
    let firefox = server
        .client
        .get(server.url(&token))
        .header("range", "bytes=1000-")
        .header("if-match", etag)
        .send()
        .await
        .unwrap();
    assert_eq!(firefox.status(), 412);
}

async fn if_match_on_another_version_is_412_and_uses_nothing(backend: Backend) {
    let server = spawn(backend, |_| {}).await;
    server.put_file("f.txt", b"payload");
    let token = server.mint("f.txt");
    let refused = server
        .client
        .get(server.url(&token))
        .header("if-match", "\"some-other-version\"")
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 412);
    let served = server.get(&token).await;
    assert_eq!(served.status(), 200);
    assert_eq!(served.bytes().await.unwrap().as_ref(), b"payload");
}

async fn a_download_idle_too_long_or_asked_too_often_ends(backend: Backend) {
    let server = spawn(backend, |config| {
        config.grant_idle = 1;
        config.grant_max_requests = 3;
    })
    .await;
    let body = body(2 * MIB);
    server.put_file("f.bin", &body);
    let idle = server.mint("f.bin");
    let _ = get_range(&server, &idle, "bytes=0-9").await.bytes().await;
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let late = get_range(&server, &idle, "bytes=10-").await;
    assert_eq!(late.status(), 403);
    let problem: serde_json::Value = late.json().await.unwrap();
    assert_eq!(problem_type(&problem), "grant_ended");

    let busy = server.mint("f.bin");
    for i in 0..3 {
        let part = get_range(&server, &busy, &format!("bytes={i}-{i}")).await;
        assert_eq!(part.status(), 206);
    }
    let fourth = get_range(&server, &busy, "bytes=3-").await;
    assert_eq!(fourth.status(), 403);
}

async fn a_full_download_again_after_a_cut_is_refused_when_it_would_be_a_second_copy(
    backend: Backend,
) {
    let server = spawn(backend, |_| {}).await;
    let body = body(16 * MIB);
    server.put_file("f.bin", &body);
    let token = server.mint("f.bin");
    let got = get_cut_off(&server, &token, 12 * MIB).await;
    tokio::time::sleep(Duration::from_millis(200)).await;

    // A plain GET would re-send 12 MiB, more than the 4 MiB allowance: refused at once.
    let again = server.get(&token).await;
    assert_eq!(again.status(), 410);
    let problem: serde_json::Value = again.json().await.unwrap();
    assert_eq!(problem_type(&problem), "already_used");
    // The resume still works.
    let rest = get_range(&server, &token, &format!("bytes={}-", got.len())).await;
    assert_eq!(rest.status(), 206);
    assert_eq!(rest.bytes().await.unwrap().as_ref(), &body[got.len()..]);
}

/// Redis work per download: the common one-request download of a file up to 1 MiB is two
/// script calls (open, close), as a consumption and a release were before grants; a larger one
/// adds one renewal per lease (a quarter of the allowance: 1 MiB for 64 MiB, 16 MiB from 1 GiB).
#[tokio::test]
async fn a_download_costs_redis_one_call_to_open_one_to_close_and_one_per_lease() {
    let server = spawn(Backend::Redis, |_| {}).await;
    let redis = server._redis.as_ref().unwrap();
    // Once, so that Redis has the script (its first call is an EVALSHA refused, then an EVAL).
    server.put_file("warm.bin", b"x");
    assert_eq!(server.get(&server.mint("warm.bin")).await.status(), 200);
    for (name, size, leases) in [("one.bin", MIB, 1), ("big.bin", 64 * MIB, 64)] {
        server.put_file(name, &body(size));
        let token = server.mint(name);
        let before = redis.script_calls();
        let response = server.get(&token).await;
        assert_eq!(response.bytes().await.unwrap().len(), size);
        // The close runs once the body ended; wait for it (bounded).
        let mut calls = 0;
        for _ in 0..100 {
            calls = redis.script_calls() - before;
            if calls > leases {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert_eq!(
            calls,
            leases + 1,
            "{name}: open, {} renewals, close",
            leases - 1
        );
    }
}
