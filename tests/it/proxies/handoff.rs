//! Hand-off mode (`--accel-redirect`): what the download server answers nginx, that only nginx
//! gets it, and that nginx serves every object path it names.

use integration_tests::DownloadServer;
use integration_tests::download::sample_bytes;
use integration_tests::proxies::{
    ACCEL_PREFIX, Behind, Setup, assert_nothing_for_the_proxy, trust_the_proxy, untrusted_client,
};

async fn hand_off_server() -> DownloadServer {
    DownloadServer::spawn_with(|config| {
        trust_the_proxy(config);
        config.accel_redirect = Some(ACCEL_PREFIX.into());
    })
    .await
}

#[tokio::test]
async fn the_hand_off_answer_is_empty_and_names_the_object_under_the_prefix() {
    let server = hand_off_server().await;
    server.put_file("u/1/report.pdf", &sample_bytes(5_000, 21));
    let token = server.mint("u/1/report.pdf");

    // The test client connects from 127.0.0.1, the trusted proxy's address.
    let response = server
        .client
        .get(server.url(&token))
        .header("x-request-id", "f00dfeedf00dfeedf00dfeedf00dfeed")
        .send()
        .await
        .unwrap();

    assert_eq!(response.status(), 200);
    let h = response.headers().clone();
    assert_eq!(h["x-accel-redirect"], "/_dl/u/1/report.pdf");
    assert_eq!(h["content-type"], "application/pdf");
    assert_eq!(
        h["content-disposition"],
        "attachment; filename=\"report.pdf\"; filename*=UTF-8''report.pdf"
    );
    assert_eq!(h["cache-control"], "private, no-store");
    assert!(response.bytes().await.unwrap().is_empty());
    assert_eq!(server.bytes_sent().await, 0);
}

#[tokio::test]
async fn the_same_server_reached_from_an_untrusted_address_streams_the_file_itself() {
    let server = hand_off_server().await;
    let body = sample_bytes(50_000, 22);
    server.put_file("f.bin", &body);
    let token = server.mint("f.bin");

    let response = untrusted_client()
        .get(server.url(&token))
        // What a client could write to pose as the proxy: not believed from this address.
        .header("x-forwarded-for", "127.0.0.1")
        .header("forwarded", "for=127.0.0.1")
        .header("x-request-id", "f00dfeedf00dfeedf00dfeedf00dfeed")
        .send()
        .await
        .unwrap();

    assert_eq!(response.status(), 200);
    assert_nothing_for_the_proxy(response.headers());
    assert_eq!(response.bytes().await.unwrap().as_ref(), body.as_slice());
    assert_eq!(server.bytes_sent().await, 50_000);
    assert_eq!(
        untrusted_client()
            .get(server.url(&token))
            .send()
            .await
            .unwrap()
            .status(),
        410
    );
}

#[tokio::test]
async fn an_object_path_that_needs_escaping_is_handed_off_and_served_exactly() {
    let behind = Behind::start(Setup::NginxHandoff).await;
    let body = sample_bytes(3_000, 23);
    for obj in ["dir one/ünï cödé.txt", "100% real?.bin", "a#b/c;d=e&f.dat"] {
        behind.server.put_file(obj, &body);
        let token = behind.server.mint(obj);

        let response = behind.get(&token).await;

        assert_eq!(response.status(), 200, "{obj}: {}", behind.proxy_log());
        assert_nothing_for_the_proxy(response.headers());
        assert_eq!(
            response.bytes().await.unwrap().as_ref(),
            body.as_slice(),
            "{obj}"
        );
    }
}

#[tokio::test]
async fn a_refusal_comes_from_the_download_server_itself() {
    let behind = Behind::start(Setup::NginxHandoff).await;
    let token = behind.server.mint("not/there.txt");

    let response = behind.get(&token).await;

    assert_eq!(response.status(), 404);
    assert_nothing_for_the_proxy(response.headers());
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json"
    );
    let problem: serde_json::Value = response.json().await.unwrap();
    assert_eq!(
        problem["type"],
        "tag:download-server,2026:problem:not_found"
    );
}
