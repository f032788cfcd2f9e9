//! A download cut off midway resumes through the proxy with the same link, because the proxy
//! told the download server what it really sent; If-Range means the same to both.

use integration_tests::cut_proxy::CutProxy;
use integration_tests::download::sample_bytes;
use integration_tests::procs::run_bounded;
use integration_tests::proxies::{Behind, Setup};
use std::process::Output;
use std::time::Duration;

/// Large enough that the cut lands midway with the kernel's socket buffers full behind it.
const SIZE: usize = 24_000_000;
/// Response bytes after which the first connection is cut.
const CUT: u64 = 8_000_000;

/// curl with `-sS -w '%{http_code}'`: its output and the HTTP status it printed.
async fn curl(args: &[&str]) -> (Output, String) {
    let mut all = vec!["-sS", "--max-time", "30", "-w", "%{http_code}"];
    all.extend_from_slice(args);
    let output = run_bounded(
        tokio::process::Command::new("curl").args(&all),
        Duration::from_secs(60),
    )
    .await;
    let status = String::from_utf8_lossy(&output.stdout).into_owned();
    (output, status)
}

/// `query`: what a client may add to the link (nginx reports `$request_uri`, query included).
async fn a_download_cut_off_midway_resumes_with_the_same_link(setup: Setup, query: &str) {
    // On loopback, what nginx counts as sent when the cut comes (the socket buffers of two hops,
    // the cutting proxy's own) can exceed the default 4 MiB the link may send twice.
    let behind = Behind::start_with(setup, |config| config.grant_redundancy_min = 16 << 20).await;
    let body = sample_bytes(SIZE, 11);
    behind.server.put_file("big.bin", &body);
    let token = behind.server.mint("big.bin");
    let dir = tempfile::tempdir().unwrap();
    let saved = dir.path().join("big.bin");
    let saved = saved.to_str().unwrap();

    let cutter = CutProxy::start(behind.address, [CUT]).await;
    let (cut, _) = curl(&["-o", saved, &cutter.url(&format!("/d/{token}{query}"))]).await;
    assert!(!cut.status.success(), "the cut download fails");
    assert_eq!(cutter.cut_count(), 1);
    let kept = std::fs::metadata(saved).unwrap().len();
    assert!(0 < kept && kept < SIZE as u64, "kept {kept} of {SIZE}");
    // The proxy's report of what it sent is in once it logged the request.
    behind.wait_for_logged(1).await;

    let (resumed, status) = curl(&["--fail", "-C", "-", "-o", saved, &behind.url(&token)]).await;

    assert!(
        resumed.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&resumed.stderr),
        behind.access_log()
    );
    assert_eq!(status, "206");
    assert!(
        std::fs::read(saved).unwrap() == body,
        "the saved file is the object"
    );
    behind.wait_for_logged(2).await;
    let (_, again) = curl(&["-o", "/dev/null", &behind.url(&token)]).await;
    assert_eq!(
        again,
        "410",
        "the copy was delivered: {}",
        behind.access_log()
    );
}

#[tokio::test]
async fn a_download_cut_off_midway_resumes_through_nginx_hand_off() {
    a_download_cut_off_midway_resumes_with_the_same_link(Setup::NginxHandoff, "?utm_source=mail")
        .await;
}

#[tokio::test]
async fn a_download_cut_off_midway_resumes_through_nginx_auth_request() {
    // `/v1/authorize` takes a download URL exactly, without a query.
    a_download_cut_off_midway_resumes_with_the_same_link(Setup::NginxAuthRequest, "").await;
}

/// The validator a client resumes with: the ETag when the proxy sends one, else Last-Modified.
fn validator(headers: &reqwest::header::HeaderMap) -> String {
    headers
        .get("etag")
        .or_else(|| headers.get("last-modified"))
        .expect("a validator")
        .to_str()
        .unwrap()
        .to_owned()
}

async fn if_range_means_the_same_to_the_proxy_and_the_download_server(setup: Setup) {
    let behind = Behind::start(setup).await;
    let body = sample_bytes(10_000, 12);
    behind.server.put_file("r.bin", &body);
    let token = behind.server.mint("r.bin");
    let first = behind.get_with(&token, &[("range", "bytes=0-99")]).await;
    assert_eq!(first.status(), 206, "{}", behind.proxy_log());
    let validator = validator(first.headers());
    assert_eq!(first.bytes().await.unwrap().as_ref(), &body[..100]);

    // The validator the client was given: the rest, as asked.
    let rest = behind
        .get_with(
            &token,
            &[("range", "bytes=100-4999"), ("if-range", &validator)],
        )
        .await;
    assert_eq!(rest.status(), 206, "{}", behind.access_log());
    assert_eq!(rest.bytes().await.unwrap().as_ref(), &body[100..5000]);

    // A validator of another version: the whole object, from both points of view (had the
    // proxy sent only the range, the download server's count would be off).
    let stale = behind
        .get_with(
            &token,
            &[
                ("range", "bytes=5000-"),
                ("if-range", "\"another-version\""),
            ],
        )
        .await;
    assert_eq!(stale.status(), 200, "{}", behind.access_log());
    assert_eq!(stale.bytes().await.unwrap().as_ref(), body.as_slice());
    behind.wait_for_logged(3).await;
    assert_eq!(
        behind.get(&token).await.status(),
        410,
        "{}",
        behind.access_log()
    );
}

#[tokio::test]
async fn if_range_means_the_same_to_nginx_hand_off_and_the_download_server() {
    if_range_means_the_same_to_the_proxy_and_the_download_server(Setup::NginxHandoff).await;
}

#[tokio::test]
async fn if_range_means_the_same_to_nginx_auth_request_and_the_download_server() {
    if_range_means_the_same_to_the_proxy_and_the_download_server(Setup::NginxAuthRequest).await;
}

#[tokio::test]
async fn if_range_means_the_same_to_caddy_and_the_download_server() {
    if_range_means_the_same_to_the_proxy_and_the_download_server(Setup::CaddyForwardAuth).await;
}
