use integration_tests::DownloadServer;

#[tokio::test]
async fn a_used_token_is_gone() {
    let server = DownloadServer::spawn().await;
    server.put_file("f.txt", b"once");
    let token = server.mint("f.txt");
    assert_eq!(server.get(&token).await.status(), 200);

    let again = server.get(&token).await;

    assert_eq!(again.status(), 410);
    assert_eq!(again.headers()["cache-control"], "no-store");
    let body: serde_json::Value = again.json().await.unwrap();
    assert_eq!(
        body["type"],
        "tag:download-server,2026:problem:already_used"
    );
    assert_eq!(body["status"], 410);
}

#[tokio::test]
async fn a_browser_reads_a_page_saying_the_link_was_used() {
    let server = DownloadServer::spawn().await;
    server.put_file("f.txt", b"once");
    let token = server.mint("f.txt");
    assert_eq!(server.get(&token).await.status(), 200);

    let page = server
        .client
        .get(server.url(&token))
        .header(
            "accept",
            "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
        )
        .send()
        .await
        .unwrap();

    assert_eq!(page.status(), 410);
    assert_eq!(page.headers()["content-type"], "text/html; charset=utf-8");
    let html = page.text().await.unwrap();
    assert!(
        html.contains(
            "This link has already delivered its file; go back and click Download again."
        ),
        "{html}"
    );
}

#[tokio::test]
async fn of_64_concurrent_uses_of_one_token_exactly_one_gets_the_file() {
    let server = DownloadServer::spawn().await;
    let body = vec![7u8; 200_000];
    server.put_file("big.bin", &body);
    let token = server.mint("big.bin");
    let url = server.url(&token);

    let requests = (0..64).map(|_| {
        let (client, url) = (server.client.clone(), url.clone());
        tokio::spawn(async move {
            let r = client.get(url).send().await.unwrap();
            let status = r.status().as_u16();
            let bytes = r.bytes().await.unwrap();
            (status, bytes.len())
        })
    });
    let results: Vec<(u16, usize)> = futures_util::future::join_all(requests)
        .await
        .into_iter()
        .map(Result::unwrap)
        .collect();

    let ok: Vec<_> = results.iter().filter(|(s, _)| *s == 200).collect();
    assert_eq!(ok.len(), 1, "{results:?}");
    assert_eq!(ok[0].1, body.len());
    assert_eq!(
        results.iter().filter(|(s, _)| *s == 410).count(),
        63,
        "{results:?}"
    );
}

#[tokio::test]
async fn head_does_not_consume_the_token() {
    let server = DownloadServer::spawn().await;
    server.put_file("h.txt", b"hello head");
    let token = server.mint("h.txt");

    for _ in 0..3 {
        let head = server.head(&token).await;
        assert_eq!(head.status(), 200);
        assert_eq!(head.headers()["content-length"], "10");
        assert_eq!(head.headers()["accept-ranges"], "bytes");
        assert_eq!(head.headers()["cache-control"], "private, no-store");
        assert!(head.headers().contains_key("etag"));
        assert!(
            head.headers()["content-disposition"]
                .to_str()
                .unwrap()
                .starts_with("attachment;")
        );
        assert!(head.bytes().await.unwrap().is_empty());
    }

    let get = server.get(&token).await;
    assert_eq!(get.status(), 200);
    assert_eq!(get.bytes().await.unwrap().as_ref(), b"hello head");
    // After use, HEAD reports the same 410 a GET would.
    assert_eq!(server.head(&token).await.status(), 410);
}

#[tokio::test]
async fn a_prefetch_is_not_served_and_does_not_consume() {
    let server = DownloadServer::spawn().await;
    server.put_file("p.txt", b"prefetched?");
    let token = server.mint("p.txt");

    for (name, value) in [
        ("sec-purpose", "prefetch"),
        ("purpose", "prefetch"),
        ("sec-purpose", "prefetch;prerender"),
    ] {
        let response = server
            .client
            .get(server.url(&token))
            .header(name, value)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 503, "{name}: {value}");
        assert_eq!(response.headers()["cache-control"], "no-store");
    }

    assert_eq!(server.get(&token).await.status(), 200);
}

#[tokio::test]
async fn other_methods_never_succeed_and_never_consume() {
    let server = DownloadServer::spawn().await;
    server.put_file("m.txt", b"methods");
    let token = server.mint("m.txt");

    for method in ["POST", "PUT", "DELETE", "PATCH", "OPTIONS"] {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let response = server
            .client
            .request(method.clone(), server.url(&token))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 405, "{method}");
        assert_eq!(response.headers()["allow"], "GET, HEAD");
    }

    assert_eq!(server.get(&token).await.status(), 200);
}

#[tokio::test]
async fn a_missing_object_is_404_and_the_token_works_once_the_object_exists() {
    let server = DownloadServer::spawn().await;
    let token = server.mint("later/arrives.txt");

    let missing = server.get(&token).await;
    assert_eq!(missing.status(), 404);
    assert_eq!(
        missing.json::<serde_json::Value>().await.unwrap()["type"],
        "tag:download-server,2026:problem:not_found"
    );

    server.put_file("later/arrives.txt", b"here now");
    let found = server.get(&token).await;
    assert_eq!(found.status(), 200);
    assert_eq!(found.bytes().await.unwrap().as_ref(), b"here now");
    assert_eq!(server.get(&token).await.status(), 410);
}

#[tokio::test]
async fn a_restart_refuses_a_token_issued_before_it() {
    let server = DownloadServer::spawn().await;
    server.put_file("r.txt", b"restart");
    let used = server.mint("r.txt");
    let unused = server.mint("r.txt");
    assert_eq!(server.get(&used).await.status(), 200);

    let server = server.restart().await;

    for token in [&used, &unused] {
        let response = server.get(token).await;
        assert_eq!(response.status(), 410);
        let body: serde_json::Value = response.json().await.unwrap();
        assert_eq!(
            body["type"],
            "tag:download-server,2026:problem:before_epoch"
        );
    }
    // A fresh click after the restart works.
    assert_eq!(server.get(&server.mint("r.txt")).await.status(), 200);
}

#[tokio::test]
async fn an_expired_token_is_gone() {
    let server = DownloadServer::spawn().await;
    server.put_file("e.txt", b"late");
    let mut claims = server.claims("e.txt");
    let now = shared::time::now_secs();
    claims.iat = now - 200;
    claims.exp = now - 31; // past the 30 s leeway
    let response = server.get(&server.sign(&claims)).await;
    assert_eq!(response.status(), 410);
    assert_eq!(
        response.json::<serde_json::Value>().await.unwrap()["type"],
        "tag:download-server,2026:problem:expired"
    );
}

#[tokio::test]
async fn a_token_just_past_exp_is_still_accepted_within_the_leeway() {
    let server = DownloadServer::spawn().await;
    server.put_file("l.txt", b"leeway");
    let mut claims = server.claims("l.txt");
    claims.exp = claims.iat + 1;
    let token = server.sign(&claims);
    while shared::time::now_secs() <= claims.exp + 1 {
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }

    assert_eq!(server.get(&token).await.status(), 200);
}

#[tokio::test]
async fn a_token_issued_slightly_in_the_future_is_accepted_within_the_leeway() {
    let server = DownloadServer::spawn().await;
    server.put_file("l.txt", b"leeway");
    let mut claims = server.claims("l.txt");
    claims.iat += 20;
    claims.exp = claims.iat + 60;
    assert_eq!(server.get(&server.sign(&claims)).await.status(), 200);
}
