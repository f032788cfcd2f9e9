//! `--sendfile`: cached local files go from the page cache to the socket, and the client cannot
//! tell: the same statuses, headers and bytes, keep-alive, resumes after a cut.

use download_server::config::Switch;
use integration_tests::DownloadServer;
use integration_tests::download::sample_bytes;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};

const MIB: usize = 1024 * 1024;

async fn sendfile_bytes(server: &DownloadServer) -> u64 {
    server.metric("download_sendfile_bytes_total").await
}

/// One response read off a raw connection: its head (lower-cased) and exactly its
/// Content-Length of body, leaving the connection at the next response.
async fn read_response(stream: &mut (impl AsyncRead + Unpin)) -> (String, Vec<u8>) {
    let mut received = Vec::new();
    let mut byte = [0u8; 1];
    while !received.ends_with(b"\r\n\r\n") {
        assert_eq!(stream.read(&mut byte).await.unwrap(), 1, "the head arrives");
        received.push(byte[0]);
    }
    let head = String::from_utf8(received).unwrap().to_ascii_lowercase();
    let len: usize = head
        .lines()
        .find_map(|line| line.strip_prefix("content-length: "))
        .expect("a content-length")
        .trim()
        .parse()
        .unwrap();
    let mut body = vec![0u8; len];
    stream.read_exact(&mut body).await.unwrap();
    (head, body)
}

#[tokio::test]
async fn a_cached_file_goes_out_with_sendfile_byte_for_byte() {
    let server = DownloadServer::spawn().await;
    let body = sample_bytes(3 * MIB + 12_345, 1);
    server.put_file("big.bin", &body);
    let (before, sent_before) = (sendfile_bytes(&server).await, server.bytes_sent().await);

    let response = server.get(&server.mint("big.bin")).await;

    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["content-length"],
        body.len().to_string().as_str()
    );
    assert!(response.headers().get("transfer-encoding").is_none());
    assert!(response.bytes().await.unwrap() == body);
    assert_eq!(sendfile_bytes(&server).await - before, body.len() as u64);
    assert_eq!(server.bytes_sent().await - sent_before, body.len() as u64);
}

#[tokio::test]
async fn a_range_goes_out_with_sendfile_as_a_206() {
    let server = DownloadServer::spawn().await;
    let body = sample_bytes(4 * MIB, 2);
    server.put_file("big.bin", &body);
    let before = sendfile_bytes(&server).await;
    let (first, last) = (100_001, 2 * MIB + 77);

    let response = server
        .client
        .get(server.url(&server.mint("big.bin")))
        .header("range", format!("bytes={first}-{last}"))
        .send()
        .await
        .unwrap();

    assert_eq!(response.status(), 206);
    assert_eq!(
        response.headers()["content-range"],
        format!("bytes {first}-{last}/{}", body.len()).as_str()
    );
    assert!(response.bytes().await.unwrap() == body[first..=last]);
    assert_eq!(
        sendfile_bytes(&server).await - before,
        (last + 1 - first) as u64
    );
}

#[tokio::test]
async fn downloads_one_after_another_share_a_keep_alive_connection() {
    let server = DownloadServer::spawn().await;
    let big = sample_bytes(2 * MIB + 1, 3);
    let small = sample_bytes(1000, 4);
    server.put_file("big.bin", &big);
    server.put_file("small.bin", &small);
    let mut stream = tokio::net::TcpStream::connect(server.address)
        .await
        .unwrap();

    for (obj, want) in [("big.bin", &big), ("small.bin", &small), ("big.bin", &big)] {
        let token = server.mint(obj);
        let request = format!("GET /d/{token} HTTP/1.1\r\nHost: x\r\n\r\n");
        stream.write_all(request.as_bytes()).await.unwrap();
        let (head, body) = read_response(&mut stream).await;
        assert!(head.starts_with("http/1.1 200"), "{head}");
        assert!(!head.contains("connection: close"), "{head}");
        assert!(&body == want, "{obj}: the body on the shared connection");
    }
    assert_eq!(sendfile_bytes(&server).await, 2 * big.len() as u64);
}

#[tokio::test]
async fn pipelined_requests_get_their_responses_in_order() {
    let server = DownloadServer::spawn().await;
    let big = sample_bytes(MIB + 3, 5);
    let small = sample_bytes(10, 6);
    server.put_file("big.bin", &big);
    server.put_file("small.bin", &small);
    let mut stream = tokio::net::TcpStream::connect(server.address)
        .await
        .unwrap();
    let objects = ["big.bin", "small.bin", "big.bin", "small.bin"];
    let requests: String = objects
        .iter()
        .map(|obj| format!("GET /d/{} HTTP/1.1\r\nHost: x\r\n\r\n", server.mint(obj)))
        .collect();

    stream.write_all(requests.as_bytes()).await.unwrap();

    for obj in objects {
        let (head, body) = read_response(&mut stream).await;
        assert!(head.starts_with("http/1.1 200"), "{head}");
        let want = if obj == "big.bin" { &big } else { &small };
        assert!(&body == want, "{obj}: a pipelined body");
    }
}

#[tokio::test]
async fn with_sendfile_off_the_same_bytes_go_out_through_memory() {
    let server = DownloadServer::spawn_with(|config| config.sendfile = Switch::Off).await;
    let body = sample_bytes(2 * MIB, 7);
    server.put_file("big.bin", &body);
    let sent_before = server.bytes_sent().await;

    let response = server.get(&server.mint("big.bin")).await;

    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["content-length"],
        body.len().to_string().as_str()
    );
    assert!(response.bytes().await.unwrap() == body);
    assert_eq!(sendfile_bytes(&server).await, 0);
    assert_eq!(server.bytes_sent().await - sent_before, body.len() as u64);
}

#[tokio::test]
async fn head_sends_no_body_and_no_sendfile() {
    let server = DownloadServer::spawn().await;
    server.put_file("big.bin", &sample_bytes(MIB, 8));

    let response = server.head(&server.mint("big.bin")).await;

    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["content-length"],
        MIB.to_string().as_str()
    );
    assert!(response.bytes().await.unwrap().is_empty());
    assert_eq!(sendfile_bytes(&server).await, 0);
}

/// A client that reads `keep` body bytes through a small receive buffer, then drops the
/// connection: the server counts what sendfile wrote, not the pieces it asked for, and a resume
/// with the same link gets the rest.
#[tokio::test]
async fn a_client_cut_off_mid_file_resumes_the_rest_with_the_same_link() {
    let server = DownloadServer::spawn().await;
    let body = sample_bytes(8 * MIB, 9);
    server.put_file("big.bin", &body);
    let token = server.mint("big.bin");
    // Mid-piece: pieces are 1 MiB.
    let keep = 3 * MIB + 300 * 1024;

    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(64 * 1024).unwrap();
    let mut stream = socket.connect(server.address).await.unwrap();
    let request = format!("GET /d/{token} HTTP/1.1\r\nHost: x\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut received = Vec::new();
    let mut buffer = vec![0u8; 16 * 1024];
    let mut body_start = None;
    while body_start.is_none_or(|start| received.len() < start + keep) {
        let n = stream.read(&mut buffer).await.unwrap();
        assert!(n > 0, "the response goes on");
        received.extend_from_slice(&buffer[..n]);
        if body_start.is_none() {
            body_start = received
                .windows(4)
                .position(|w| w == b"\r\n\r\n")
                .map(|at| at + 4);
        }
    }
    let head = received[body_start.unwrap()..][..keep].to_vec();
    drop(stream);

    integration_tests::eventually(
        Duration::from_secs(10),
        "the cut download is released",
        || async { server.metrics().await.contains("downloads_in_flight 0") },
    )
    .await;
    // Both the metric and the grant's record (its history event) count what the socket took
    // (a 64 KiB window, TCP_NOTSENT_LOWAT's 128 KiB, what was in flight), not the whole piece
    // it was sending.
    let counted = sendfile_bytes(&server).await;
    let events = super::history::events(&server, 1).await;
    let recorded = events[0]["sent"].as_u64().unwrap();
    for sent in [counted, recorded] {
        assert!(
            (keep as u64..(keep + 512 * 1024) as u64).contains(&sent),
            "counted {counted}, recorded {recorded} for {keep} received"
        );
    }
    assert!(head == body[..keep]);

    let rest = server
        .client
        .get(server.url(&token))
        .header("range", format!("bytes={keep}-"))
        .send()
        .await
        .unwrap();
    assert_eq!(rest.status(), 206);
    let rest = rest.bytes().await.unwrap();
    assert!([head.as_slice(), &rest].concat() == body);
}

/// Evicts `path` from the page cache; whether it worked (not on every file system).
///
/// The check probes both ends, as the server does, with `RWF_NOWAIT`. A miss still reads the
/// probed page back in (the whole readahead window without random access advice), so the ends
/// are evicted once more after that read has had time to finish.
#[cfg(target_os = "linux")]
fn evict(path: &std::path::Path) -> bool {
    use rustix::fs::{Advice, fadvise};
    use rustix::io::{ReadWriteFlags, preadv2};
    let file = std::fs::File::open(path).unwrap();
    file.sync_all().unwrap();
    fadvise(&file, 0, None, Advice::DontNeed).unwrap();
    fadvise(&file, 0, None, Advice::Random).unwrap();
    let len = file.metadata().unwrap().len();
    let mut byte = [0u8; 1];
    let evicted = [0, len - 1].into_iter().all(|at| {
        let slice = &mut [std::io::IoSliceMut::new(&mut byte)];
        preadv2(&file, slice, at, ReadWriteFlags::NOWAIT).is_err()
    });
    std::thread::sleep(std::time::Duration::from_millis(100));
    fadvise(&file, 0, None, Advice::DontNeed).unwrap();
    evicted
}

#[cfg(target_os = "linux")]
#[tokio::test]
async fn a_file_not_in_the_page_cache_is_read_instead() {
    // The kernel may read an evicted file back in before the request (readahead, writeback), so
    // a few fresh files are tried: at least one must be served by reading, and every one whole.
    let server = DownloadServer::spawn().await;
    let body = sample_bytes(2 * MIB, 10);
    let mut read_instead = 0;
    for attempt in 0..5 {
        let name = format!("cold-{attempt}.bin");
        server.put_file(&name, &body);
        let evicted = evict(&server.files.files().join(&name));
        let before = sendfile_bytes(&server).await;

        let response = server.get(&server.mint(&name)).await;

        assert_eq!(response.status(), 200);
        assert!(response.bytes().await.unwrap() == body);
        if evicted && sendfile_bytes(&server).await == before {
            read_instead += 1;
        }
    }
    assert!(
        read_instead > 0,
        "no cold file of five was read instead of sent from the cache"
    );
}
