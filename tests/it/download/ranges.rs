use integration_tests::DownloadServer;

fn body() -> Vec<u8> {
    (0..10_000u32).map(|i| (i % 251) as u8).collect()
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

#[tokio::test]
async fn a_range_gets_206_with_exactly_those_bytes_and_opens_the_download() {
    let server = DownloadServer::spawn().await;
    let body = body();
    server.put_file("r.bin", &body);
    let token = server.mint("r.bin");

    let response = get_range(&server, &token, "bytes=100-199").await;

    assert_eq!(response.status(), 206);
    assert_eq!(response.headers()["content-range"], "bytes 100-199/10000");
    assert_eq!(response.headers()["content-length"], "100");
    assert_eq!(response.bytes().await.unwrap().as_ref(), &body[100..200]);
    // The rest of the one copy: the whole object (the 100 bytes again, within the allowance).
    let whole = server.get(&token).await;
    assert_eq!(whole.status(), 200);
    assert_eq!(whole.bytes().await.unwrap().as_ref(), body.as_slice());
    // Every byte went out: the link is spent.
    assert_eq!(server.get(&token).await.status(), 410);
    assert_eq!(get_range(&server, &token, "bytes=0-").await.status(), 403);
}

#[tokio::test]
async fn a_suffix_range_gets_the_last_bytes() {
    let server = DownloadServer::spawn().await;
    let body = body();
    server.put_file("r.bin", &body);

    let response = get_range(&server, &server.mint("r.bin"), "bytes=-500").await;

    assert_eq!(response.status(), 206);
    assert_eq!(response.headers()["content-range"], "bytes 9500-9999/10000");
    assert_eq!(response.bytes().await.unwrap().as_ref(), &body[9500..]);
}

#[tokio::test]
async fn an_open_ended_range_runs_to_the_end() {
    let server = DownloadServer::spawn().await;
    let body = body();
    server.put_file("r.bin", &body);
    let response = get_range(&server, &server.mint("r.bin"), "bytes=9990-").await;
    assert_eq!(response.status(), 206);
    assert_eq!(response.bytes().await.unwrap().as_ref(), &body[9990..]);
}

#[tokio::test]
async fn an_unsatisfiable_range_is_416_and_does_not_consume() {
    let server = DownloadServer::spawn().await;
    server.put_file("r.bin", &body());
    let token = server.mint("r.bin");

    let response = get_range(&server, &token, "bytes=10000-20000").await;

    assert_eq!(response.status(), 416);
    assert_eq!(response.headers()["content-range"], "bytes */10000");
    assert_eq!(server.get(&token).await.status(), 200);
}

#[tokio::test]
async fn multiple_or_malformed_ranges_get_the_whole_file() {
    let server = DownloadServer::spawn().await;
    let body = body();
    server.put_file("r.bin", &body);
    for range in ["bytes=0-1,5-6", "bytes=garbage", "lines=1-2"] {
        let response = get_range(&server, &server.mint("r.bin"), range).await;
        assert_eq!(response.status(), 200, "{range}");
        assert_eq!(response.bytes().await.unwrap().len(), body.len(), "{range}");
    }
}

#[tokio::test]
async fn a_stale_if_range_gets_the_whole_file() {
    let server = DownloadServer::spawn().await;
    let body = body();
    server.put_file("r.bin", &body);

    let response = server
        .client
        .get(server.url(&server.mint("r.bin")))
        .header("range", "bytes=0-9")
        .header("if-range", "\"some-other-etag\"")
        .send()
        .await
        .unwrap();

    assert_eq!(response.status(), 200);
    assert_eq!(response.bytes().await.unwrap().len(), body.len());
}

#[tokio::test]
async fn a_matching_if_range_keeps_the_range() {
    let server = DownloadServer::spawn().await;
    server.put_file("r.bin", &body());
    let etag = server.head(&server.mint("r.bin")).await.headers()["etag"].clone();

    let response = server
        .client
        .get(server.url(&server.mint("r.bin")))
        .header("range", "bytes=0-9")
        .header("if-range", etag)
        .send()
        .await
        .unwrap();

    assert_eq!(response.status(), 206);
}

#[tokio::test]
async fn head_with_a_range_reports_the_partial_length_without_consuming() {
    let server = DownloadServer::spawn().await;
    server.put_file("r.bin", &body());
    let token = server.mint("r.bin");

    let head = server
        .client
        .head(server.url(&token))
        .header("range", "bytes=0-99")
        .send()
        .await
        .unwrap();

    assert_eq!(head.status(), 206);
    assert_eq!(head.headers()["content-length"], "100");
    assert_eq!(head.headers()["content-range"], "bytes 0-99/10000");
    assert_eq!(server.get(&token).await.status(), 200);
}
