//! Hand-off, forward auth and the hand-off report, spoken to directly as a proxy would (the real
//! nginx and Caddy run in `proxies`): who is trusted, what each answer carries, what it uses.

use integration_tests::DownloadServer;
use integration_tests::redis::RedisServer;
use reqwest::header::HeaderMap;
use std::net::{IpAddr, Ipv4Addr};

/// The proxy's address; the tests' ordinary client (127.0.0.1) is an untrusted peer.
const PROXY: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2));

async fn spawn(accel: bool) -> DownloadServer {
    DownloadServer::spawn_with(|config| {
        config.trusted_proxies = vec!["127.0.0.2".parse().unwrap()];
        config.accel_redirect = accel.then(|| "/_dl/".to_owned());
    })
    .await
}

fn proxy_client() -> reqwest::Client {
    reqwest::Client::builder()
        .local_address(PROXY)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

fn has_accel_header(headers: &HeaderMap) -> bool {
    headers
        .keys()
        .any(|name| name.as_str().starts_with("x-accel"))
}

async fn hand_off(server: &DownloadServer, token: &str, request_id: &str) -> reqwest::Response {
    proxy_client()
        .get(server.url(token))
        .header("x-request-id", request_id)
        .send()
        .await
        .unwrap()
}

async fn report(server: &DownloadServer, token: &str, request_id: &str, sent: u64) -> u16 {
    proxy_client()
        .post(format!("{}/v1/handoff/report", server.base))
        .header("x-original-uri", format!("/d/{token}"))
        .header("x-request-id", request_id)
        .header("x-bytes-sent", sent.to_string())
        .header("x-request-completion", "OK")
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

/// Asks `/v1/authorize` about `uri` as a proxy whose client sent `method`.
async fn authorize(
    server: &DownloadServer,
    method: &str,
    uri: &str,
    id: &str,
) -> reqwest::Response {
    proxy_client()
        .get(format!("{}/v1/authorize", server.base))
        .header("x-original-method", method)
        .header("x-original-uri", uri)
        .header("x-request-id", id)
        .send()
        .await
        .unwrap()
}

fn header<'a>(response: &'a reqwest::Response, name: &str) -> &'a str {
    response
        .headers()
        .get(name)
        .map_or("<absent>", |v| v.to_str().unwrap())
}

#[tokio::test]
async fn a_trusted_proxy_gets_an_empty_hand_off_naming_the_escaped_object() {
    let server = spawn(true).await;
    server.put_file("dir/a b ü.txt", b"hello, proxy");
    let token = server.mint_named("dir/a b ü.txt", "report final.txt");

    let response = hand_off(&server, &token, "req-1").await;

    assert_eq!(response.status(), 200);
    assert_eq!(
        header(&response, "x-accel-redirect"),
        "/_dl/dir/a%20b%20%C3%BC.txt"
    );
    assert_eq!(header(&response, "cache-control"), "private, no-store");
    assert_eq!(header(&response, "x-accel-buffering"), "no");
    assert!(
        header(&response, "content-disposition").contains("report final.txt"),
        "{:?}",
        response.headers()
    );
    assert_eq!(header(&response, "content-type"), "text/plain");
    assert!(response.bytes().await.unwrap().is_empty());
}

#[tokio::test]
async fn an_untrusted_peer_is_streamed_the_file_and_never_sees_an_accel_header() {
    let server = spawn(true).await;
    server.put_file("f.txt", b"streamed by the server");
    let token = server.mint("f.txt");

    // Headers a client might try to steer a proxy with are ignored from an untrusted peer.
    let response = server
        .client
        .get(server.url(&token))
        .header("x-request-id", "chosen-by-client")
        .header("x-accel-redirect", "/_dl/../../etc/passwd")
        .header("x-forwarded-for", "10.9.9.9")
        .send()
        .await
        .unwrap();

    assert_eq!(response.status(), 200);
    assert!(!has_accel_header(response.headers()));
    assert_eq!(
        &response.bytes().await.unwrap()[..],
        b"streamed by the server"
    );
}

#[tokio::test]
async fn without_accel_redirect_a_trusted_proxy_is_streamed_the_file_too() {
    let server = spawn(false).await;
    server.put_file("f.txt", b"no hand-off configured");
    let token = server.mint("f.txt");

    let response = hand_off(&server, &token, "req-1").await;

    assert_eq!(response.status(), 200);
    assert!(!response.headers().contains_key("x-accel-redirect"));
    // ... asking the proxy (which consumes the header) not to read ahead of its client.
    assert_eq!(header(&response, "x-accel-buffering"), "no");
    assert_eq!(
        &response.bytes().await.unwrap()[..],
        b"no hand-off configured"
    );
}

#[tokio::test]
async fn a_retry_of_the_same_request_gets_the_same_hand_off_and_another_request_does_not() {
    let server = spawn(true).await;
    server.put_file("f.bin", &vec![1u8; 5000]);
    let token = server.mint("f.bin");
    assert_eq!(hand_off(&server, &token, "req-1").await.status(), 200);

    let retry = hand_off(&server, &token, "req-1").await;
    let other = hand_off(&server, &token, "req-2").await;

    assert_eq!(retry.status(), 200);
    assert_eq!(header(&retry, "x-accel-redirect"), "/_dl/f.bin");
    // The whole object is leased to req-1 until nginx reports: a second copy is never handed off.
    assert_ne!(other.status(), 200);
    assert!(!has_accel_header(other.headers()));
}

#[tokio::test]
async fn a_reported_complete_hand_off_spends_the_link() {
    let server = spawn(true).await;
    server.put_file("f.bin", &vec![1u8; 5000]);
    let token = server.mint("f.bin");
    assert_eq!(hand_off(&server, &token, "req-1").await.status(), 200);

    assert_eq!(report(&server, &token, "req-1", 5000).await, 204);

    let again = hand_off(&server, &token, "req-2").await;
    assert_eq!(again.status(), 410);
    assert_eq!(header(&again, "cache-control"), "private, no-store");
    assert!(!has_accel_header(again.headers()));
}

#[tokio::test]
async fn a_reported_cut_hand_off_lets_the_client_resume_but_not_start_over() {
    let server = spawn(true).await;
    server.put_file("f.bin", &vec![1u8; 5000]);
    let token = server.mint("f.bin");
    assert_eq!(hand_off(&server, &token, "req-1").await.status(), 200);
    assert_eq!(report(&server, &token, "req-1", 1200).await, 204);

    let resume = proxy_client()
        .get(server.url(&token))
        .header("x-request-id", "req-2")
        .header("range", "bytes=1200-")
        .send()
        .await
        .unwrap();
    assert_eq!(resume.status(), 200);
    assert_eq!(header(&resume, "x-accel-redirect"), "/_dl/f.bin");
    assert_eq!(report(&server, &token, "req-2", 3800).await, 204);

    // Every byte went out once: the link is spent.
    assert_eq!(hand_off(&server, &token, "req-3").await.status(), 410);
}

#[tokio::test]
async fn head_from_a_trusted_proxy_is_answered_by_the_server_and_uses_nothing() {
    let server = spawn(true).await;
    server.put_file("f.txt", b"twelve bytes");
    let token = server.mint("f.txt");

    let head = proxy_client()
        .head(server.url(&token))
        .header("x-request-id", "req-1")
        .send()
        .await
        .unwrap();

    assert_eq!(head.status(), 200);
    assert!(!head.headers().contains_key("x-accel-redirect"));
    assert_eq!(header(&head, "content-length"), "12");
    assert_eq!(hand_off(&server, &token, "req-2").await.status(), 200);
}

#[tokio::test]
async fn a_report_is_only_taken_from_a_trusted_proxy_with_every_header() {
    let server = spawn(true).await;
    server.put_file("f.bin", &vec![1u8; 5000]);
    let token = server.mint("f.bin");
    assert_eq!(hand_off(&server, &token, "req-1").await.status(), 200);

    let untrusted = server
        .client
        .post(format!("{}/v1/handoff/report", server.base))
        .header("x-original-uri", format!("/d/{token}"))
        .header("x-request-id", "req-1")
        .header("x-bytes-sent", "0")
        .send()
        .await
        .unwrap();
    assert_eq!(untrusted.status(), 403);
    let missing = proxy_client()
        .post(format!("{}/v1/handoff/report", server.base))
        .header("x-original-uri", format!("/d/{token}"))
        .header("x-request-id", "req-1")
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 400);
    let garbled = proxy_client()
        .post(format!("{}/v1/handoff/report", server.base))
        .header("x-original-uri", "/elsewhere")
        .header("x-request-id", "req-1")
        .header("x-bytes-sent", "0")
        .send()
        .await
        .unwrap();
    assert_eq!(garbled.status(), 400);

    // None of those closed req-1's lease: another request is still refused a second copy.
    assert_ne!(hand_off(&server, &token, "req-2").await.status(), 200);
}

#[tokio::test]
async fn authorize_allows_a_download_once_with_every_header_the_proxy_needs() {
    let server = spawn(false).await;
    server.put_file("docs/a-b.pdf", &vec![3u8; 4096]);
    let token = server.mint_named("docs/a-b.pdf", "a b.pdf");
    let uri = format!("/d/{token}/a%20b.pdf");

    let allow = authorize(&server, "GET", &uri, "req-1").await;

    assert_eq!(allow.status(), 200);
    assert_eq!(header(&allow, "x-dl-object"), "docs/a-b.pdf");
    assert_eq!(header(&allow, "x-dl-size"), "4096");
    assert_eq!(header(&allow, "x-dl-status"), "200");
    assert_eq!(header(&allow, "x-dl-content-range"), "");
    assert_eq!(header(&allow, "x-dl-content-type"), "application/pdf");
    assert!(header(&allow, "x-dl-content-disposition").starts_with("attachment"));
    assert!(header(&allow, "x-dl-etag").starts_with('"'));
    assert_eq!(header(&allow, "x-dl-deny"), "");
    assert_eq!(header(&allow, "cache-control"), "private, no-store");
    assert!(allow.bytes().await.unwrap().is_empty());

    // The proxy's retry of the same call is answered the same; a report then spends the link.
    assert_eq!(authorize(&server, "GET", &uri, "req-1").await.status(), 200);
    assert_eq!(report(&server, &token, "req-1", 4096).await, 204);
    let spent = authorize(&server, "GET", &uri, "req-2").await;
    assert_eq!(spent.status(), 403);
    assert_eq!(header(&spent, "x-dl-status"), "410");
    assert_eq!(header(&spent, "x-dl-deny"), "already_used");
    assert_eq!(header(&spent, "x-dl-object"), "");
}

#[tokio::test]
async fn authorize_for_head_or_an_unsatisfiable_range_uses_nothing() {
    let server = spawn(false).await;
    server.put_file("f.bin", &[3u8; 100]);
    let token = server.mint("f.bin");
    let uri = format!("/d/{token}");

    let head = authorize(&server, "HEAD", &uri, "req-1").await;
    let unsatisfiable = proxy_client()
        .get(format!("{}/v1/authorize", server.base))
        .header("x-forwarded-method", "GET")
        .header("x-forwarded-uri", &uri)
        .header("x-request-id", "req-2")
        .header("range", "bytes=500-")
        .send()
        .await
        .unwrap();

    assert_eq!(head.status(), 200);
    assert_eq!(header(&head, "x-dl-size"), "100");
    assert_eq!(unsatisfiable.status(), 403);
    assert_eq!(header(&unsatisfiable, "x-dl-status"), "416");
    assert_eq!(header(&unsatisfiable, "x-dl-deny"), "range_not_satisfiable");
    let ranged = proxy_client()
        .get(format!("{}/v1/authorize", server.base))
        .header("x-forwarded-method", "GET")
        .header("x-forwarded-uri", &uri)
        .header("x-request-id", "req-3")
        .header("range", "bytes=10-19")
        .send()
        .await
        .unwrap();
    assert_eq!(ranged.status(), 200);
    assert_eq!(header(&ranged, "x-dl-status"), "206");
    assert_eq!(header(&ranged, "x-dl-content-range"), "bytes 10-19/100");
}

#[tokio::test]
async fn authorize_refuses_what_it_cannot_believe() {
    let server = spawn(false).await;
    server.put_file("f.bin", b"x");
    let token = server.mint("f.bin");
    let uri = format!("/d/{token}");
    let deny = |response: &reqwest::Response| {
        (
            response.status().as_u16(),
            header(response, "x-dl-deny").to_owned(),
        )
    };

    // A client reaching /v1/authorize itself is not a proxy, whatever it forwards.
    let untrusted = server
        .client
        .get(format!("{}/v1/authorize", server.base))
        .header("x-original-method", "GET")
        .header("x-original-uri", &uri)
        .send()
        .await
        .unwrap();
    assert_eq!(deny(&untrusted), (403, "untrusted_proxy".to_owned()));
    let no_uri = proxy_client()
        .get(format!("{}/v1/authorize", server.base))
        .header("x-original-method", "GET")
        .send()
        .await
        .unwrap();
    assert_eq!(deny(&no_uri), (403, "missing_uri".to_owned()));
    let no_method = proxy_client()
        .get(format!("{}/v1/authorize", server.base))
        .header("x-original-uri", &uri)
        .send()
        .await
        .unwrap();
    assert_eq!(deny(&no_method), (403, "missing_method".to_owned()));
    for bad in [
        format!("{uri}?x=1"),
        format!("/other{uri}"),
        format!("/d/{token}/a/b"),
        "/healthz".to_owned(),
    ] {
        let response = authorize(&server, "GET", &bad, "req").await;
        assert_eq!(deny(&response), (403, "bad_uri".to_owned()), "{bad}");
    }
    let post = authorize(&server, "POST", &uri, "req").await;
    assert_eq!(deny(&post), (403, "method_not_allowed".to_owned()));
    // nginx does not decode a variable in `alias`: a path that would need escaping is refused.
    server.put_file("a b.bin", b"x");
    let spaced = authorize(
        &server,
        "GET",
        &format!("/d/{}", server.mint("a b.bin")),
        "r",
    )
    .await;
    assert_eq!(deny(&spaced), (403, "unsafe_object".to_owned()));
    let missing = authorize(&server, "GET", &format!("/d/{}", server.mint("nope")), "r").await;
    assert_eq!(deny(&missing), (403, "not_found".to_owned()));
    assert_eq!(header(&missing, "x-dl-status"), "404");

    // None of that used the token.
    assert_eq!(authorize(&server, "GET", &uri, "req-9").await.status(), 200);
}

#[tokio::test]
async fn authorize_fails_closed_with_503_when_redis_cannot_answer() {
    let mut redis = RedisServer::start();
    let server = DownloadServer::spawn_with(|config| {
        config.replay = redis.url();
        config.replay_prefix = RedisServer::prefix();
        config.replay_timeout_ms = 200;
        config.trusted_proxies = vec!["127.0.0.2".parse().unwrap()];
    })
    .await;
    server.put_file("f.bin", b"x");
    let token = server.mint("f.bin");
    redis.stop();

    let response = authorize(&server, "GET", &format!("/d/{token}"), "req-1").await;

    assert_eq!(response.status(), 503);
    assert!(response.headers().contains_key("retry-after"));
    assert_eq!(header(&response, "x-dl-object"), "");
}

#[tokio::test]
async fn an_edge_reports_what_it_sent_by_its_key_so_its_client_can_resume() {
    let keys = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(keys.path(), "edge-key-0123456789abcdef\n").unwrap();
    let path = keys.path().to_owned();
    let server = DownloadServer::spawn_with(|config| config.edge_keys = Some(path)).await;
    server.put_file("f.bin", &vec![5u8; 5000]);
    let token = server.mint("f.bin");
    let redeem = |id: &'static str, range: Option<&'static str>| {
        let body = serde_json::json!({ "token": token, "range": range });
        server
            .client
            .post(format!("{}/v1/redeem", server.base))
            .bearer_auth("edge-key-0123456789abcdef")
            .header("idempotency-key", id)
            .json(&body)
            .send()
    };
    let edge_report = |key: &'static str, sent: u64| {
        server
            .client
            .post(format!("{}/v1/handoff/report", server.base))
            .bearer_auth(key)
            .header("idempotency-key", "edge-1")
            .header("x-original-uri", format!("/d/{token}"))
            .header("x-bytes-sent", sent.to_string())
            .send()
    };
    assert_eq!(redeem("edge-1", None).await.unwrap().status(), 200);
    // The first redemption holds the whole object until the edge says what it sent.
    assert_ne!(
        redeem("edge-2", Some("bytes=1000-"))
            .await
            .unwrap()
            .status(),
        200
    );

    assert_eq!(
        edge_report("not-the-edge-key-at-all", 1000)
            .await
            .unwrap()
            .status(),
        403
    );
    assert_eq!(
        edge_report("edge-key-0123456789abcdef", 1000)
            .await
            .unwrap()
            .status(),
        204
    );

    let resumed = redeem("edge-2", Some("bytes=1000-")).await.unwrap();
    assert_eq!(resumed.status(), 200);
    let body: serde_json::Value = resumed.json().await.unwrap();
    assert_eq!(body["status"], 206);
    assert_eq!(body["content_range"], "bytes 1000-4999/5000");
}

#[tokio::test]
async fn a_report_of_a_hand_off_made_here_needs_no_second_signature_check() {
    let server = spawn(true).await;
    server.put_file("f.bin", &vec![1u8; 5000]);
    let token = server.mint("f.bin");
    let checks = || server.metric("token_verify_seconds_count");
    let before = checks().await;
    assert_eq!(hand_off(&server, &token, "req-1").await.status(), 200);
    assert_eq!(checks().await, before + 1);

    assert_eq!(report(&server, &token, "req-1", 5000).await, 204);

    assert_eq!(
        checks().await,
        before + 1,
        "the report reused the hand-off's check"
    );
    assert_eq!(hand_off(&server, &token, "req-2").await.status(), 410);
}

#[tokio::test]
async fn a_report_that_reaches_another_instance_on_the_same_redis_counts_too() {
    let redis = RedisServer::start();
    let (url, prefix) = (redis.url(), RedisServer::prefix());
    let first = DownloadServer::spawn_with(move |config| {
        config.replay = url;
        config.replay_prefix = prefix;
        config.trusted_proxies = vec!["127.0.0.2".parse().unwrap()];
        config.accel_redirect = Some("/_dl/".to_owned());
    })
    .await;
    let second = first.spawn_peer().await;
    first.put_file("f.bin", &vec![1u8; 5000]);
    let token = first.mint("f.bin");
    assert_eq!(hand_off(&first, &token, "req-1").await.status(), 200);
    let checks = second.metric("token_verify_seconds_count").await;

    assert_eq!(report(&second, &token, "req-1", 5000).await, 204);

    assert_eq!(
        second.metric("token_verify_seconds_count").await,
        checks + 1,
        "checked where it was not handed off"
    );
    assert_eq!(hand_off(&first, &token, "req-2").await.status(), 410);
}
