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

fn httpdate_like(s: &str) -> bool {
    s.ends_with(" GMT") && s.len() == 29
}
