use integration_tests::DownloadServer;

#[tokio::test]
async fn a_valid_token_downloads_the_exact_bytes_with_every_header() {
    let server = DownloadServer::spawn().await;
    let body: Vec<u8> = (0..=255u8).cycle().take(100_000).collect();
    server.put_file("u/1/report.pdf", &body);
    let token = server.mint("u/1/report.pdf");

    let response = server.get(&token).await;

    assert_eq!(response.status(), 200);
    let h = response.headers().clone();
    assert_eq!(h["content-length"], "100000");
    assert_eq!(h["content-type"], "application/pdf");
    assert_eq!(
        h["content-disposition"],
        "attachment; filename=\"report.pdf\"; filename*=UTF-8''report.pdf"
    );
    assert_eq!(h["accept-ranges"], "bytes");
    assert_eq!(h["cache-control"], "private, no-store");
    assert_eq!(h["referrer-policy"], "no-referrer");
    assert_eq!(h["x-content-type-options"], "nosniff");
    let etag = h["etag"].to_str().unwrap();
    assert!(
        etag.starts_with('"') && etag.ends_with('"') && etag.len() > 2,
        "{etag}"
    );
    assert!(httpdate_like(h["last-modified"].to_str().unwrap()));
    assert_eq!(response.bytes().await.unwrap().as_ref(), body.as_slice());
}

#[tokio::test]
async fn the_url_with_a_cosmetic_file_name_works_too() {
    let server = DownloadServer::spawn().await;
    server.put_file("a/b.bin", b"0123456789");
    let token = server.mint("a/b.bin");

    let response = server
        .get_path(&format!("/d/{token}/whatever-name.bin"))
        .await;

    assert_eq!(response.status(), 200);
    // The cosmetic segment changes nothing: the name comes from the token.
    assert_eq!(
        response.headers()["content-disposition"],
        "attachment; filename=\"b.bin\"; filename*=UTF-8''b.bin"
    );
    assert_eq!(response.bytes().await.unwrap().as_ref(), b"0123456789");
}

#[tokio::test]
async fn a_non_ascii_download_name_gets_an_ascii_fallback_and_a_utf8_filename_star() {
    let server = DownloadServer::spawn().await;
    server.put_file("u/9/blob", b"data");
    let token = server.mint_named("u/9/blob", "Ünïcödé \"report\" 2026.txt");

    let response = server.get(&token).await;

    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["content-disposition"],
        "attachment; filename=\"_n_c_d_ _report_ 2026.txt\"; \
         filename*=UTF-8''%C3%9Cn%C3%AFc%C3%B6d%C3%A9%20%22report%22%202026.txt"
    );
    assert_eq!(response.headers()["content-type"], "text/plain");
}

#[tokio::test]
async fn a_name_with_cr_lf_cannot_inject_headers() {
    let server = DownloadServer::spawn().await;
    server.put_file("x", b"data");
    let token = server.mint_named("x", "evil\r\nSet-Cookie: a=b.txt");

    let response = server.get(&token).await;

    assert_eq!(response.status(), 200);
    assert!(response.headers().get("set-cookie").is_none());
    let cd = response.headers()["content-disposition"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        cd.starts_with("attachment; filename=\"evil__Set-Cookie: a=b.txt\""),
        "{cd}"
    );
}

#[tokio::test]
async fn an_unknown_type_is_served_as_octet_stream() {
    let server = DownloadServer::spawn().await;
    server.put_file("blob.zzzunknown", b"x");
    let response = server.get(&server.mint("blob.zzzunknown")).await;
    assert_eq!(
        response.headers()["content-type"],
        "application/octet-stream"
    );
}

#[tokio::test]
async fn an_empty_file_downloads_as_an_empty_200() {
    let server = DownloadServer::spawn().await;
    server.put_file("empty.txt", b"");
    let response = server.get(&server.mint("empty.txt")).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-length"], "0");
    assert!(response.bytes().await.unwrap().is_empty());
}

#[tokio::test]
async fn health_readiness_and_metrics_answer() {
    let server = DownloadServer::spawn().await;
    server.put_file("m.txt", b"12345");
    assert_eq!(server.get(&server.mint("m.txt")).await.status(), 200);
    assert_eq!(server.get_path("/healthz").await.status(), 200);
    assert_eq!(server.get_path("/readyz").await.status(), 200);

    let metrics = server.metrics().await;

    assert!(
        metrics.contains("download_requests_total{outcome=\"served\"} 1"),
        "{metrics}"
    );
    assert!(metrics.contains("download_bytes_sent_total 5"), "{metrics}");
    assert!(metrics.contains("downloads_in_flight 0"), "{metrics}");
    assert!(
        metrics.contains("token_verify_seconds_count 1"),
        "{metrics}"
    );
}

fn httpdate_like(s: &str) -> bool {
    s.ends_with(" GMT") && s.len() == 29
}
