//! Garbage in never gives a 5xx, and the server stays healthy.

use integration_tests::DownloadServer;

#[tokio::test]
async fn garbage_tokens_get_4xx_and_the_server_stays_healthy() {
    let server = DownloadServer::spawn().await;
    server.put_file("f.txt", b"x");
    let random: String = (0..300)
        .map(|i| char::from(b'!' + ((i * 7919 + 13) % 90) as u8))
        .collect();
    let cases = vec![
        "a".to_owned(),
        "a.b.c".to_owned(),
        "....".to_owned(),
        "not base64!.x.y".to_owned(),
        "eyJ.eyJ.sig".to_owned(),
        random,
        "A".repeat(5000),
        format!(
            "{}.{}.{}",
            "e".repeat(2000),
            "e".repeat(2000),
            "e".repeat(2000)
        ),
        "%00%ff%fe".to_owned(),
        "..%2f..%2fetc%2fpasswd".to_owned(),
    ];
    for token in &cases {
        let response = server
            .client
            .get(format!("{}/d/{}", server.base, token))
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        assert!(
            (400..500).contains(&status),
            "{} bytes: {status}",
            token.len()
        );
    }
    // 100 KB is more than HTTP clients will even build; send it over a plain socket.
    let status = raw_status(
        server.address,
        format!(
            "GET /d/{} HTTP/1.1\r\nHost: x\r\n\r\n",
            "A".repeat(100 * 1024)
        )
        .as_bytes(),
    )
    .await;
    assert!((400..500).contains(&status), "100 KB token: {status}");
    let status = raw_status(
        server.address,
        b"GET /d/\xff\xfe HTTP/1.1\r\nHost: x\r\n\r\n",
    )
    .await;
    assert!((400..500).contains(&status), "non-UTF-8 path: {status}");

    // Raw bytes that are not UTF-8 in the path.
    let response = server
        .client
        .get(format!("{}/d/%C3%28%A0%A1", server.base))
        .send()
        .await
        .unwrap();
    assert!(response.status().is_client_error());

    assert_eq!(server.get_path("/healthz").await.status(), 200);
    assert_eq!(server.get(&server.mint("f.txt")).await.status(), 200);
}

/// Sends raw request bytes and returns the status code of the answer.
async fn raw_status(address: std::net::SocketAddr, request: &[u8]) -> u16 {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut socket = tokio::net::TcpStream::connect(address).await.unwrap();
    let _ = socket.write_all(request).await;
    let mut head = vec![0u8; 64];
    let n = tokio::time::timeout(std::time::Duration::from_secs(10), socket.read(&mut head))
        .await
        .unwrap()
        .unwrap();
    let line = String::from_utf8_lossy(&head[..n]).to_string();
    line.split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("no status line: {line:?}"))
}

#[tokio::test]
async fn a_token_over_4_kib_is_refused_before_parsing() {
    let server = DownloadServer::spawn().await;
    server.put_file("f.txt", b"x");
    let mut claims = server.claims("f.txt");
    claims.name = Some("n".repeat(4096));
    let token = server.sign(&claims);
    assert!(token.len() > 4096);
    assert_eq!(server.get(&token).await.status(), 403);
}

#[tokio::test]
async fn unknown_routes_are_a_problem_404() {
    let server = DownloadServer::spawn().await;
    let response = server.get_path("/nothing/here").await;
    assert_eq!(response.status(), 404);
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json"
    );
}

#[tokio::test]
async fn a_key_rotated_into_the_jwks_is_picked_up_without_a_restart() {
    let server = DownloadServer::spawn().await;
    server.put_file("f.txt", b"rotated");
    let new_key = shared::SigningKey::generate().unwrap();
    shared::PublicJwks {
        keys: vec![new_key.public_jwk(), server.files.key.public_jwk()],
    }
    .write_atomically(&server.files.jwks_path())
    .unwrap();
    let minter = shared::Minter::new(new_key, &server.config.issuer, &server.config.audience, 120);
    let token = minter
        .mint("u", &shared::ObjectPath::parse("f.txt").unwrap(), None)
        .unwrap()
        .token;

    let response = server.get(&token).await;

    assert_eq!(response.status(), 200);
    // The old key is still published, so its tokens keep working during the overlap.
    assert_eq!(server.get(&server.mint("f.txt")).await.status(), 200);
}

#[tokio::test]
async fn a_graceful_stop_lets_a_download_in_flight_finish() {
    let server = DownloadServer::spawn().await;
    let body: Vec<u8> = (0..8 * 1024 * 1024u32).map(|i| (i % 253) as u8).collect();
    server.put_file("big.bin", &body);
    let mut response = server.get(&server.mint("big.bin")).await;
    assert_eq!(response.status(), 200);
    let mut received = response.chunk().await.unwrap().unwrap().to_vec();

    let address = server.address;
    let stopping = tokio::spawn(server.stop());
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    // New connections are refused while the old download goes on.
    assert!(tokio::net::TcpStream::connect(address).await.is_err());
    while let Some(chunk) = response.chunk().await.unwrap() {
        received.extend_from_slice(&chunk);
    }

    assert_eq!(received.len(), body.len());
    assert!(received == body);
    stopping.await.unwrap();
}

#[tokio::test]
async fn a_client_that_never_finishes_its_request_head_is_cut_off() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let server = DownloadServer::spawn_with(|c| c.header_timeout = 1).await;
    let mut socket = tokio::net::TcpStream::connect(server.address)
        .await
        .unwrap();
    socket
        .write_all(b"GET /d/abc HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        .await
        .unwrap();

    let mut answer = Vec::new();
    let read = tokio::time::timeout(
        std::time::Duration::from_secs(10),
        socket.read_to_end(&mut answer),
    )
    .await;

    let answer = String::from_utf8_lossy(&answer).to_string();
    assert!(
        read.is_ok(),
        "the server kept a half-sent request open for 10 s"
    );
    assert!(
        answer.is_empty() || answer.starts_with("HTTP/1.1 408"),
        "{answer}"
    );
}

#[tokio::test]
async fn public_keys_can_come_from_a_jwks_url() {
    // A plain HTTP server publishing the JWKS, as the app server does at /.well-known/jwks.json.
    let files = integration_tests::ServerFiles::new();
    let jwks = std::fs::read_to_string(files.jwks_path()).unwrap();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let jwks_url = format!(
        "http://{}/.well-known/jwks.json",
        listener.local_addr().unwrap()
    );
    let publisher = actix_web::HttpServer::new(move || {
        let jwks = jwks.clone();
        actix_web::App::new().route(
            "/.well-known/jwks.json",
            actix_web::web::get().to(move || {
                let jwks = jwks.clone();
                async move {
                    actix_web::HttpResponse::Ok()
                        .content_type("application/json")
                        .body(jwks)
                }
            }),
        )
    })
    .workers(1)
    .listen(listener)
    .unwrap()
    .run();
    let publisher_handle = publisher.handle();
    tokio::spawn(publisher);

    let mut config = files.config();
    config.jwks = jwks_url;
    let server = DownloadServer::start(files, config).await;
    server.put_file("f.txt", b"via url");

    let response = server.get(&server.mint("f.txt")).await;

    assert_eq!(response.status(), 200);
    assert_eq!(response.bytes().await.unwrap().as_ref(), b"via url");
    publisher_handle.stop(false).await;
}

#[tokio::test]
async fn a_client_that_stops_reading_is_cut_off_and_the_download_released() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let server = DownloadServer::spawn_with(|c| c.send_timeout = 1).await;
    let len = 48 * 1024 * 1024;
    server.put_file("stall.bin", &vec![1u8; len]);
    let token = server.mint("stall.bin");
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(16 * 1024).unwrap();
    let mut stream = socket.connect(server.address).await.unwrap();
    stream
        .write_all(format!("GET /d/{token} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let mut first = vec![0u8; 4096];
    let _ = stream.read(&mut first).await.unwrap();

    // Stop reading: the server's unacknowledged data sits in a zero window.
    tokio::time::sleep(std::time::Duration::from_secs(6)).await;
    let mut rest = Vec::new();
    let read = tokio::time::timeout(
        std::time::Duration::from_secs(20),
        stream.read_to_end(&mut rest),
    )
    .await;

    assert!(
        read.is_ok(),
        "the connection should have been cut, not kept open"
    );
    assert!(
        rest.len() + 4096 < len,
        "received {} of {len} bytes: the stall was not cut off",
        rest.len()
    );
    integration_tests::eventually(
        std::time::Duration::from_secs(10),
        "the stalled download is released",
        || async { server.metrics().await.contains("downloads_in_flight 0") },
    )
    .await;
}
