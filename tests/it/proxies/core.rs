//! The download server's core cases through each shipped proxy setup: what a client gets through
//! the proxy is what it would get from the download server directly, and a link still delivers
//! its object once.

use integration_tests::download::sample_bytes;
use integration_tests::proxies::{
    Behind, Setup, assert_nothing_for_the_proxy, raw_get, raw_status, untrusted_client,
};

/// Each case below, once through each shipped setup.
macro_rules! through_each_proxy {
    ($($case:ident),* $(,)?) => {$(
        mod $case {
            use integration_tests::proxies::Setup;

            #[tokio::test]
            async fn through_nginx_hand_off() {
                super::$case(Setup::NginxHandoff).await;
            }

            #[tokio::test]
            async fn through_nginx_auth_request() {
                super::$case(Setup::NginxAuthRequest).await;
            }

            #[tokio::test]
            async fn through_caddy_forward_auth() {
                super::$case(Setup::CaddyForwardAuth).await;
            }
        }
    )*};
}

through_each_proxy!(
    a_link_downloads_the_exact_bytes_with_the_download_servers_headers,
    a_used_link_is_refused,
    of_64_concurrent_uses_of_one_link_exactly_one_gets_the_file,
    head_does_not_consume_the_link,
    a_range_is_sent_by_the_proxy_and_the_rest_of_the_copy_follows,
    an_unsatisfiable_range_is_416_and_consumes_nothing,
    a_request_id_chosen_by_the_client_never_gets_a_second_copy,
    traversal_never_leaves_the_store,
);

async fn a_link_downloads_the_exact_bytes_with_the_download_servers_headers(setup: Setup) {
    let behind = Behind::start(setup).await;
    let body = sample_bytes(100_000, 1);
    behind.server.put_file("u/1/report.pdf", &body);
    let token = behind.server.mint("u/1/report.pdf");
    // What the download server itself answers (to an address it does not trust).
    let direct = untrusted_client()
        .head(behind.server.url(&token))
        .send()
        .await
        .unwrap();
    assert_eq!(direct.status(), 200);

    let response = behind.get(&token).await;

    assert_eq!(response.status(), 200, "{}", behind.proxy_log());
    let h = response.headers().clone();
    assert_nothing_for_the_proxy(&h);
    assert_eq!(h["content-length"], "100000");
    for (name, value) in [
        ("content-type", "application/pdf"),
        (
            "content-disposition",
            "attachment; filename=\"report.pdf\"; filename*=UTF-8''report.pdf",
        ),
        ("cache-control", "private, no-store"),
        ("x-content-type-options", "nosniff"),
        ("referrer-policy", "no-referrer"),
    ] {
        let values: Vec<_> = h.get_all(name).iter().collect();
        assert_eq!(values, [value], "{name}: {h:?}");
    }
    assert_eq!(
        h["last-modified"],
        direct.headers()["last-modified"],
        "the proxy's Last-Modified is the download server's, so If-Range dates agree"
    );
    match setup {
        // nginx's own ETag would not be the download server's: it sends none.
        Setup::NginxHandoff => assert!(!h.contains_key("etag"), "{h:?}"),
        Setup::NginxAuthRequest | Setup::CaddyForwardAuth => {
            assert_eq!(h["etag"], direct.headers()["etag"]);
        }
    }
    assert_eq!(response.bytes().await.unwrap().as_ref(), body.as_slice());
}

async fn a_used_link_is_refused(setup: Setup) {
    let behind = Behind::start(setup).await;
    behind.server.put_file("f.txt", b"once");
    let token = behind.server.mint("f.txt");
    let first = behind.get(&token).await;
    assert_eq!(first.status(), 200, "{}", behind.proxy_log());
    assert_eq!(first.bytes().await.unwrap().as_ref(), b"once");
    behind.wait_for_logged(1).await;

    let again = behind.get(&token).await;

    assert_eq!(again.status(), 410, "{}", behind.access_log());
    assert!(
        again.headers()["cache-control"]
            .to_str()
            .unwrap()
            .contains("no-store")
    );
    assert_nothing_for_the_proxy(again.headers());
    assert!(
        !again
            .bytes()
            .await
            .unwrap()
            .windows(4)
            .any(|w| w == b"once")
    );
}

async fn of_64_concurrent_uses_of_one_link_exactly_one_gets_the_file(setup: Setup) {
    let behind = Behind::start(setup).await;
    let body = sample_bytes(200_000, 2);
    behind.server.put_file("big.bin", &body);
    let url = behind.url(&behind.server.mint("big.bin"));

    let requests = (0..64).map(|_| {
        let (client, url) = (behind.server.client.clone(), url.clone());
        tokio::spawn(async move {
            let response = client.get(url).send().await.unwrap();
            let status = response.status().as_u16();
            (status, response.bytes().await.unwrap())
        })
    });
    let results: Vec<(u16, bytes::Bytes)> = futures_util::future::join_all(requests)
        .await
        .into_iter()
        .map(Result::unwrap)
        .collect();

    let statuses: Vec<u16> = results.iter().map(|(status, _)| *status).collect();
    let served: Vec<_> = results.iter().filter(|(s, _)| *s == 200).collect();
    assert_eq!(served.len(), 1, "{statuses:?}\n{}", behind.proxy_log());
    assert_eq!(served[0].1.as_ref(), body.as_slice());
    assert!(
        statuses.iter().all(|s| *s == 200 || *s >= 400),
        "every other use is refused: {statuses:?}"
    );
}

async fn head_does_not_consume_the_link(setup: Setup) {
    let behind = Behind::start(setup).await;
    behind.server.put_file("h.txt", b"hello head");
    let token = behind.server.mint("h.txt");

    for _ in 0..3 {
        let head = behind.head(&token).await;
        assert_eq!(head.status(), 200, "{}", behind.proxy_log());
        assert_eq!(head.headers()["content-length"], "10");
        assert_eq!(head.headers()["cache-control"], "private, no-store");
        assert_nothing_for_the_proxy(head.headers());
        assert!(head.bytes().await.unwrap().is_empty());
    }

    let get = behind.get(&token).await;
    assert_eq!(get.status(), 200);
    assert_eq!(get.bytes().await.unwrap().as_ref(), b"hello head");
}

async fn a_range_is_sent_by_the_proxy_and_the_rest_of_the_copy_follows(setup: Setup) {
    let behind = Behind::start(setup).await;
    let body = sample_bytes(10_000, 3);
    behind.server.put_file("r.bin", &body);
    let token = behind.server.mint("r.bin");

    let range = behind.get_with(&token, &[("range", "bytes=100-199")]).await;

    assert_eq!(range.status(), 206, "{}", behind.proxy_log());
    assert_eq!(range.headers()["content-range"], "bytes 100-199/10000");
    assert_nothing_for_the_proxy(range.headers());
    assert_eq!(range.bytes().await.unwrap().as_ref(), &body[100..200]);
    behind.wait_for_logged(1).await;
    let log = behind.access_log();
    // The shipped configs log `/d/<token>`: the credential never goes into a proxy's log.
    assert!(
        !log.contains(&token),
        "the token is in the proxy's log:\n{log}"
    );
    assert!(log.contains("/d/<token>"), "{log}");
    match setup {
        // nginx logs the status of the `post_action` report (204), then the bytes it sent.
        Setup::NginxHandoff | Setup::NginxAuthRequest => {
            assert!(log.contains(" 100 \"OK\""), "{log}");
        }
        Setup::CaddyForwardAuth => {
            assert!(log.contains("\"size\":100,\"status\":206"), "{log}");
        }
    }
    assert_eq!(
        behind.server.bytes_sent().await,
        0,
        "the proxy sent the bytes, not the download server"
    );

    if setup == Setup::CaddyForwardAuth {
        // Caddy cannot report what it sent: the range it was allowed stays taken, so the rest
        // of the copy is the bytes around it, and no request may have those 100 bytes again.
        for (range, bytes) in [("bytes=0-99", &body[..100]), ("bytes=200-", &body[200..])] {
            let rest = behind.get_with(&token, &[("range", range)]).await;
            assert_eq!(rest.status(), 206, "{range}: {}", behind.access_log());
            assert_eq!(rest.bytes().await.unwrap().as_ref(), bytes, "{range}");
        }
    } else {
        // The rest of the one copy: the whole object (the 100 bytes again, within the
        // allowance).
        let whole = behind.get(&token).await;
        assert_eq!(whole.status(), 200, "{}", behind.access_log());
        assert_eq!(whole.bytes().await.unwrap().as_ref(), body.as_slice());
        behind.wait_for_logged(2).await;
    }
    // Every byte went out: the link is spent.
    assert_eq!(
        behind.get(&token).await.status(),
        410,
        "{}",
        behind.access_log()
    );
}

async fn an_unsatisfiable_range_is_416_and_consumes_nothing(setup: Setup) {
    let behind = Behind::start(setup).await;
    let body = sample_bytes(10_000, 4);
    behind.server.put_file("r.bin", &body);
    let token = behind.server.mint("r.bin");

    let response = behind
        .get_with(&token, &[("range", "bytes=10000-20000")])
        .await;

    assert_eq!(response.status(), 416, "{}", behind.proxy_log());
    assert_eq!(response.headers()["content-range"], "bytes */10000");
    assert_nothing_for_the_proxy(response.headers());
    let whole = behind.get(&token).await;
    assert_eq!(whole.status(), 200);
    assert_eq!(whole.bytes().await.unwrap().as_ref(), body.as_slice());
}

async fn a_request_id_chosen_by_the_client_never_gets_a_second_copy(setup: Setup) {
    let behind = Behind::start(setup).await;
    // Large enough that the first response cannot end (and be reported) while its client does
    // not read: its stream stays open.
    let body = sample_bytes(32_000_000, 5);
    behind.server.put_file("big.bin", &body);
    let token = behind.server.mint("big.bin");
    // A retry with the same request id joins the same stream and gets the same answer; a client
    // must not be able to pass itself off as a retry of a download in progress.
    let id = [("x-request-id", "0123456789abcdef0123456789abcdef")];

    let first = behind.get_with(&token, &id).await;
    assert_eq!(first.status(), 200, "{}", behind.proxy_log());
    let second = behind.get_with(&token, &id).await;

    assert_ne!(second.status(), 200, "{}", behind.access_log());
    assert!(second.status().is_client_error(), "{}", second.status());
    drop(second);
    assert_eq!(first.bytes().await.unwrap().len(), body.len());
}

async fn traversal_never_leaves_the_store(setup: Setup) {
    const SECRET: &[u8] = b"secret beside the store";
    let behind = Behind::start(setup).await;
    let server = &behind.server;
    // Beside the store folder, and one folder further up.
    std::fs::write(server.files_dir().join("secret.txt"), SECRET).unwrap();
    // Objects whose paths decode to a way out if decoded once too often.
    server.put_file("%2e%2e/secret.txt", b"decoy 1");
    server.put_file("..%2Fsecret.txt", b"decoy 2");
    let mut attempts = Vec::new();
    for obj in ["%2e%2e/secret.txt", "..%2Fsecret.txt"] {
        let token = server.mint(obj);
        attempts.push(format!("/d/{token}"));
    }
    // A token whose `obj` leaves the store, signed with the real key.
    let mut claims = serde_json::to_value(server.claims("x.txt")).unwrap();
    claims["obj"] = "../secret.txt".into();
    let forged = jsonwebtoken::encode(
        &server.minter().header(),
        &claims,
        server.files.key.encoding_key(),
    )
    .unwrap();
    attempts.push(format!("/d/{forged}"));
    server.put_file("ok.txt", b"fine");
    let token = server.mint("ok.txt");
    for path in [
        "/d/{t}/../../secret.txt",
        "/d/{t}/..%2F..%2Fsecret.txt",
        "/d/..%2F..%2Fsecret.txt",
        "/d/%2e%2e/%2e%2e/secret.txt",
        "/_dl/../secret.txt",
        "/_dl/..%2Fsecret.txt",
        "/_dl/%2e%2e/secret.txt",
        "/_dl/%2e%2e%2fsecret.txt",
        "/../secret.txt",
        "/secret.txt",
        "/files/../secret.txt",
    ] {
        attempts.push(path.replace("{t}", &token));
    }

    for path in &attempts {
        let response = raw_get(behind.address, path).await;
        assert!(
            !response.contains(std::str::from_utf8(SECRET).unwrap()),
            "{path} left the store: {response}"
        );
        let status = raw_status(&response);
        assert!(
            status != 200 || response.contains("decoy"),
            "{path}: {response}"
        );
        let lower = response.to_ascii_lowercase();
        assert!(
            !lower.contains("\r\nx-accel-") && !lower.contains("\r\nx-dl-"),
            "{path}: {response}"
        );
    }
}
