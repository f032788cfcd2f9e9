//! Forward auth (`/v1/authorize`, for nginx `auth_request` and Caddy `forward_auth`): what a
//! client writes into forwarding headers is never believed, only the trusted proxy may ask, and
//! a proxy's retry of a consuming call is answered the same.

use integration_tests::DownloadServer;
use integration_tests::proxies::{Behind, Setup, trust_the_proxy, untrusted_client};

async fn spoofed_forwarding_headers_are_never_believed(setup: Setup) {
    let behind = Behind::start(setup).await;
    behind.server.put_file("mine.txt", b"the real one");
    behind.server.put_file("other.txt", b"not authorized");
    let valid = behind.server.mint("mine.txt");
    let valid_path = format!("/d/{valid}");

    // A bad link dressed up as a good one is refused, and the good one is not touched.
    let spoofed = [
        ("x-original-uri", valid_path.as_str()),
        ("x-forwarded-uri", valid_path.as_str()),
        ("x-original-method", "GET"),
        ("x-forwarded-method", "GET"),
    ];
    let refused = behind.get_with("not-a-token", &spoofed).await;
    assert_eq!(refused.status(), 403, "{}", behind.proxy_log());

    // A GET dressed up as a HEAD (which consumes nothing) is a GET; a client's X-Dl-Object
    // does not choose what is served.
    let posing = [
        ("x-original-uri", "/d/not-a-token"),
        ("x-forwarded-uri", "/d/not-a-token"),
        ("x-original-method", "HEAD"),
        ("x-forwarded-method", "HEAD"),
        ("x-dl-object", "other.txt"),
        ("x-dl-status", "206"),
    ];
    let served = behind.get_with(&valid, &posing).await;
    assert_eq!(served.status(), 200, "{}", behind.proxy_log());
    assert_eq!(served.bytes().await.unwrap().as_ref(), b"the real one");
    behind.wait_for_logged(2).await;
    assert_eq!(behind.get(&valid).await.status(), 410);
}

#[tokio::test]
async fn spoofed_forwarding_headers_are_never_believed_by_nginx_auth_request() {
    spoofed_forwarding_headers_are_never_believed(Setup::NginxAuthRequest).await;
}

#[tokio::test]
async fn spoofed_forwarding_headers_are_never_believed_by_caddy_forward_auth() {
    spoofed_forwarding_headers_are_never_believed(Setup::CaddyForwardAuth).await;
}

#[tokio::test]
async fn spoofed_forwarding_headers_are_never_believed_by_nginx_hand_off() {
    spoofed_forwarding_headers_are_never_believed(Setup::NginxHandoff).await;
}

/// `GET /v1/authorize` on `server` from `client`, as a proxy asks it.
async fn authorize(
    server: &DownloadServer,
    client: &reqwest::Client,
    headers: &[(&str, &str)],
) -> reqwest::Response {
    headers
        .iter()
        .fold(
            client.get(format!("{}/v1/authorize", server.base)),
            |request, (name, value)| request.header(*name, *value),
        )
        .send()
        .await
        .unwrap()
}

async fn trusting_server() -> DownloadServer {
    DownloadServer::spawn_with(trust_the_proxy).await
}

#[tokio::test]
async fn an_untrusted_peer_calling_authorize_is_refused_and_consumes_nothing() {
    let server = trusting_server().await;
    server.put_file("f.txt", b"file");
    let token = server.mint("f.txt");
    let uri = format!("/d/{token}");

    let response = authorize(
        &server,
        &untrusted_client(),
        &[
            ("x-original-uri", &uri),
            ("x-original-method", "GET"),
            ("x-request-id", "1"),
        ],
    )
    .await;

    assert_eq!(response.status(), 403);
    assert_eq!(response.headers()["x-dl-deny"], "untrusted_proxy");
    assert_eq!(response.headers()["x-dl-object"], "");
    // The link was not touched.
    assert_eq!(server.get(&token).await.status(), 200);
}

#[tokio::test]
async fn a_retried_consuming_call_with_the_same_request_id_is_answered_the_same() {
    let server = trusting_server().await;
    server.put_file("f.txt", b"file");
    let token = server.mint("f.txt");
    let uri = format!("/d/{token}");
    let call = |id: &'static str| {
        let (server, uri) = (&server, uri.clone());
        async move {
            let headers = [
                ("x-original-uri", uri.as_str()),
                ("x-original-method", "GET"),
                ("x-request-id", id),
            ];
            // The test client connects from 127.0.0.1, the trusted proxy's address.
            authorize(server, &server.client, &headers).await
        }
    };

    let first = call("a1b2c3d4a1b2c3d4a1b2c3d4a1b2c3d4").await;
    let retry = call("a1b2c3d4a1b2c3d4a1b2c3d4a1b2c3d4").await;
    let other = call("ffffeeeeffffeeeeffffeeeeffffeeee").await;

    assert_eq!(first.status(), 200);
    assert_eq!(first.headers()["x-dl-object"], "f.txt");
    assert_eq!(first.headers()["cache-control"], "private, no-store");
    assert_eq!(retry.status(), 200, "{:?}", retry.headers());
    for name in [
        "x-dl-object",
        "x-dl-content-type",
        "x-dl-content-disposition",
        "x-dl-size",
        "x-dl-etag",
        "x-dl-status",
    ] {
        assert_eq!(first.headers()[name], retry.headers()[name], "{name}");
    }
    assert_eq!(other.status(), 403, "another request is another use");
}

#[tokio::test]
async fn an_authorize_call_without_the_clients_method_or_uri_is_refused() {
    let server = trusting_server().await;
    server.put_file("f.txt", b"file");
    let token = server.mint("f.txt");
    let uri = format!("/d/{token}");
    let with_query = format!("{uri}?x=1");
    let client = &server.client;

    for (headers, deny) in [
        (vec![("x-original-uri", uri.as_str())], "missing_method"),
        (vec![("x-original-method", "GET")], "missing_uri"),
        (
            vec![
                ("x-original-uri", "/etc/passwd"),
                ("x-original-method", "GET"),
            ],
            "bad_uri",
        ),
        (
            vec![
                ("x-original-uri", with_query.as_str()),
                ("x-original-method", "GET"),
            ],
            "bad_uri",
        ),
        (
            vec![
                ("x-original-uri", uri.as_str()),
                ("x-original-method", "POST"),
            ],
            "method_not_allowed",
        ),
    ] {
        let response = authorize(&server, client, &headers).await;
        assert_eq!(response.status(), 403, "{headers:?}");
        assert_eq!(response.headers()["x-dl-deny"], deny, "{headers:?}");
    }
    // None of them touched the link.
    assert_eq!(server.get(&token).await.status(), 200);
}
