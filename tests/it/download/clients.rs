//! Real download clients on loopback (curl, wget, aria2c, Chromium) resume a download cut off
//! mid-file, split it into parallel segments and probe it first, under one token, and still
//! never get a second copy; on Redis, the same across instances and closed while Redis is out.
//! Connections are cut by `CutProxy`, as a dropped Wi-Fi would.

use fantoccini::Client;
use integration_tests::DownloadServer;
use integration_tests::chromium::{open_browser, start_chromedriver};
use integration_tests::cut_proxy::CutProxy;
use integration_tests::download::sample_bytes;
use integration_tests::procs::run_bounded;
use integration_tests::redis::RedisServer;
use serde_json::Value;
use std::path::PathBuf;
use std::process::Output;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// About 30 MB: large enough that a cut lands mid-file and segments run side by side.
const SIZE: usize = 30_000_000;
/// Response bytes after which the proxy cuts the first connection.
const CUT: u64 = 12_000_000;

/// One object on one server, a token for it, and a folder for the clients' files.
struct Download {
    body: Vec<u8>,
    token: String,
    dir: tempfile::TempDir,
}

impl Download {
    fn on(server: &DownloadServer, seed: u64) -> Self {
        let body = sample_bytes(SIZE, seed);
        server.put_file("big.bin", &body);
        Download {
            body,
            token: server.mint("big.bin"),
            dir: tempfile::tempdir().unwrap(),
        }
    }

    fn path(&self) -> String {
        format!("/d/{}", self.token)
    }

    /// Where the clients save the file.
    fn saved(&self) -> PathBuf {
        self.dir.path().join("big.bin")
    }

    fn saved_str(&self) -> String {
        self.saved().to_string_lossy().into_owned()
    }

    fn saved_len(&self) -> u64 {
        std::fs::metadata(self.saved()).map_or(0, |m| m.len())
    }

    /// The saved file holds exactly the object's bytes.
    fn assert_complete(&self) {
        assert_same_bytes(&std::fs::read(self.saved()).unwrap(), &self.body);
    }
}

/// `S + R` of the object under `server`'s grant policy.
fn budget(server: &DownloadServer) -> u64 {
    SIZE as u64 + server.config.grant_policy().redundancy(SIZE as u64)
}

fn assert_same_bytes(got: &[u8], want: &[u8]) {
    if got != want {
        let first = got.iter().zip(want).position(|(g, w)| g != w);
        panic!(
            "got {} bytes, want {}; first difference at {first:?}",
            got.len(),
            want.len()
        );
    }
}

async fn program(name: &str, args: &[&str]) -> Output {
    run_bounded(
        tokio::process::Command::new(name).args(args),
        Duration::from_secs(60),
    )
    .await
}

/// curl with `-sS -w '%{http_code}'`: its output and the HTTP status it printed.
async fn curl(args: &[&str]) -> (Output, String) {
    let mut all = vec!["-sS", "--max-time", "30", "-w", "%{http_code}"];
    all.extend_from_slice(args);
    let output = program("curl", &all).await;
    let status = String::from_utf8_lossy(&output.stdout).into_owned();
    (output, status)
}

/// A measurement worth reading, printed when `TEST_LOG` is set.
fn note(line: String) {
    if std::env::var_os("TEST_LOG").is_some() {
        eprintln!("{line}");
    }
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Downloads with curl through a proxy in front of `server` that cuts the connection after `at`
/// response bytes: curl fails, and the saved file holds a part of the object.
async fn curl_cut_off(server: &DownloadServer, download: &Download, at: u64) {
    let proxy = CutProxy::start(server.address, [at]).await;
    let (cut, _) = curl(&["-o", &download.saved_str(), &proxy.url(&download.path())]).await;
    assert_cut_off(download, &cut, &proxy);
}

/// `curl -C -` into the saved file: its output and the HTTP status.
async fn curl_resume(download: &Download, url: &str) -> (Output, String) {
    curl(&["--fail", "-C", "-", "-o", &download.saved_str(), url]).await
}

/// A download through `proxy` that the proxy cut: the client failed, and the saved file holds a
/// part of the object.
fn assert_cut_off(download: &Download, output: &Output, proxy: &CutProxy) {
    assert!(
        !output.status.success(),
        "the cut download should fail: {}",
        stderr(output)
    );
    assert_eq!(proxy.cut_count(), 1, "the proxy cut the connection");
    let partial = download.saved_len();
    assert!(
        0 < partial && partial < SIZE as u64,
        "kept {partial} of {SIZE} bytes"
    );
}

#[tokio::test]
async fn curl_cut_off_mid_file_resumes_with_dash_c_and_then_a_plain_curl_is_refused() {
    let server = DownloadServer::spawn().await;
    let download = Download::on(&server, 1);
    curl_cut_off(&server, &download, CUT).await;
    let partial = download.saved_len();
    let sent_before_resume = server.bytes_sent().await;

    let url = server.url(&download.token);
    let (resumed, status) = curl_resume(&download, &url).await;
    assert!(resumed.status.success(), "{}", stderr(&resumed));
    assert_eq!(status, "206");
    download.assert_complete();
    let sent = server.bytes_sent().await;
    assert!(sent <= budget(&server), "sent {sent} > S + R");
    note(format!(
        "curl: kept {partial} of {sent_before_resume} bytes sent before the cut; {sent} sent in all"
    ));

    let (again, status) = curl(&["-o", "/dev/null", &url]).await;
    assert!(again.status.success(), "{}", stderr(&again));
    assert_eq!(status, "410");
    assert_eq!(server.bytes_sent().await, sent, "the refusal sent no bytes");
}

/// The last megabytes are where a cut costs most: the server may have handed them all to its
/// socket before the connection dropped, and the client still needs them.
#[tokio::test]
async fn curl_cut_off_two_megabytes_before_the_end_still_resumes_to_the_exact_bytes() {
    let server = DownloadServer::spawn().await;
    let download = Download::on(&server, 10);
    curl_cut_off(&server, &download, SIZE as u64 - 2_000_000).await;
    let (partial, sent) = (download.saved_len(), server.bytes_sent().await);

    let (resumed, status) = curl_resume(&download, &server.url(&download.token)).await;
    assert!(
        resumed.status.success(),
        "curl -C - from {partial} (the server had sent {sent}): status {status}, {}",
        stderr(&resumed)
    );
    assert_eq!(status, "206");
    download.assert_complete();
    assert!(server.bytes_sent().await <= budget(&server));
}

#[tokio::test]
async fn wget_cut_off_mid_file_resumes_with_dash_c_to_the_exact_bytes() {
    let server = DownloadServer::spawn().await;
    let download = Download::on(&server, 2);
    let proxy = CutProxy::start(server.address, [CUT]).await;
    let saved = download.saved_str();
    let wget = |extra: &'static [&'static str], url: String| {
        let saved = saved.clone();
        async move {
            let mut args = vec!["-q", "--tries=1", "--timeout=30"];
            args.extend_from_slice(extra);
            args.extend_from_slice(&["-O", &saved, &url]);
            program("wget", &args).await
        }
    };

    let cut = wget(&[], proxy.url(&download.path())).await;
    assert_cut_off(&download, &cut, &proxy);

    let resumed = wget(&["-c"], server.url(&download.token)).await;
    assert!(
        resumed.status.success(),
        "wget -c exit {:?}: {}",
        resumed.status.code(),
        stderr(&resumed)
    );
    download.assert_complete();
    assert!(server.bytes_sent().await <= budget(&server));
}

#[tokio::test]
async fn aria2c_in_eight_parallel_segments_gets_the_exact_bytes_and_the_server_sends_at_most_s_plus_r()
 {
    let server = DownloadServer::spawn().await;
    let download = Download::on(&server, 3);
    let dir = download.dir.path().to_string_lossy().into_owned();
    let log = download.dir.path().join("aria2c.log");
    let log_arg = format!("--log={}", log.display());
    let url = server.url(&download.token);
    let args = [
        &log_arg,
        "--log-level=info",
        "-x8",
        "-s8",
        "-k1M",
        // About 3 s for the file: the segments overlap in time.
        "--max-overall-download-limit=10M",
        "--max-tries=1",
        "--timeout=30",
        "--file-allocation=none",
        "--allow-overwrite=true",
        "--auto-file-renaming=false",
        "--summary-interval=0",
        "--console-log-level=warn",
        "-d",
        &dir,
        "-o",
        "big.bin",
        &url,
    ]
    .map(str::to_owned);
    let aria2c = tokio::spawn(async move {
        run_bounded(
            tokio::process::Command::new("aria2c").args(args),
            Duration::from_secs(60),
        )
        .await
    });
    let mut most_in_flight = 0;
    for _ in 0..1200 {
        if aria2c.is_finished() {
            break;
        }
        most_in_flight = most_in_flight.max(server.metric("downloads_in_flight").await);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let output = aria2c.await.unwrap();

    if !output.status.success() {
        let log = std::fs::read_to_string(&log).unwrap_or_default();
        panic!(
            "aria2c exit {:?}: {}{}\nits log, requests and errors:\n{}",
            output.status.code(),
            String::from_utf8_lossy(&output.stdout),
            stderr(&output),
            aria2c_log_summary(&log)
        );
    }
    download.assert_complete();
    assert!(
        most_in_flight >= 2,
        "segments ran in parallel (at most {most_in_flight} at once)"
    );
    let sent = server.bytes_sent().await;
    assert!(
        sent <= budget(&server),
        "sent {sent} > S + R = {}",
        budget(&server)
    );
    let partial = server
        .metric("download_requests_total{outcome=\"partial\"}")
        .await;
    note(format!(
        "aria2c: {partial} segment responses, {most_in_flight} at once, {sent} bytes sent"
    ));
}

/// The lines of an aria2c log worth reading when it failed: requests, responses, errors.
fn aria2c_log_summary(log: &str) -> String {
    log.lines()
        .filter(|line| {
            [
                "Range:",
                "HTTP/1.1",
                "ERROR",
                "Exception",
                "[WARN]",
                "Content-Range",
            ]
            .iter()
            .any(|mark| line.contains(mark))
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[tokio::test]
async fn probes_of_the_first_byte_and_first_256_bytes_leave_the_download_working_but_not_a_second()
{
    let server = DownloadServer::spawn().await;
    let download = Download::on(&server, 4);
    for (range, len) in [("bytes=0-0", 1usize), ("bytes=0-255", 256)] {
        let probe = server
            .client
            .get(server.url(&download.token))
            .header("range", range)
            .send()
            .await
            .unwrap();
        assert_eq!(probe.status(), 206, "{range}");
        assert_eq!(
            probe.headers()["content-range"],
            format!("bytes 0-{}/{SIZE}", len - 1).as_str()
        );
        assert_same_bytes(&probe.bytes().await.unwrap(), &download.body[..len]);
    }

    let url = server.url(&download.token);
    let (full, status) = curl(&["--fail", "-o", &download.saved_str(), &url]).await;
    assert!(full.status.success(), "{}", stderr(&full));
    assert_eq!(status, "200");
    download.assert_complete();
    let sent = server.bytes_sent().await;
    assert_eq!(sent, SIZE as u64 + 257, "the probes and one copy");

    let (second, status) = curl(&["-o", "/dev/null", &url]).await;
    assert!(second.status.success(), "{}", stderr(&second));
    assert_eq!(status, "410", "a second full download is refused");
    assert_eq!(server.bytes_sent().await, sent);
}

#[tokio::test]
async fn a_leaked_url_used_by_other_clients_after_the_owner_finished_is_refused_and_sends_nothing()
{
    let server = DownloadServer::spawn().await;
    let download = Download::on(&server, 5);
    let url = server.url(&download.token);
    let (owner, status) = curl(&["--fail", "-o", &download.saved_str(), &url]).await;
    assert!(owner.status.success(), "{}", stderr(&owner));
    assert_eq!(status, "200");
    let sent = server.bytes_sent().await;
    let other = tempfile::tempdir().unwrap();
    let copy = other.path().join("copy.bin").to_string_lossy().into_owned();

    let wget = program("wget", &["-q", "--tries=1", "-O", &copy, &url]).await;
    assert_eq!(wget.status.code(), Some(8), "wget: the server refused");
    // A resume from the start, and a download manager's probe: small enough for the allowance.
    for range in ["0-", "0-255"] {
        let (ranged, status) = curl(&["-r", range, "-o", "/dev/null", &url]).await;
        assert!(ranged.status.success(), "{}", stderr(&ranged));
        assert_eq!(status, "403", "Range: bytes={range} on a spent link");
    }
    let aria2c = program(
        "aria2c",
        &["--max-tries=1", "--allow-overwrite=true", "-d"]
            .into_iter()
            .chain([other.path().to_str().unwrap(), "-o", "aria.bin", &url])
            .collect::<Vec<_>>(),
    )
    .await;
    assert!(!aria2c.status.success(), "aria2c was refused");

    assert_eq!(
        server.bytes_sent().await,
        sent,
        "not one byte to the others"
    );
    assert_eq!(
        server
            .metric("download_requests_total{outcome=\"already_used\"}")
            .await,
        4
    );
}

/// The download items of chrome://downloads (the page must be open): each item's data.
async fn download_items(browser: &Client) -> Vec<Value> {
    let script = r#"
        const manager = document.querySelector('downloads-manager');
        if (!manager || !manager.shadowRoot) return [];
        return Array.from(manager.shadowRoot.querySelectorAll('downloads-item')).map(item =>
            JSON.parse(JSON.stringify(item.data || {},
                (key, value) => typeof value === 'bigint' ? value.toString() : value)));
    "#;
    let found = browser.execute(script, vec![]).await.unwrap();
    found.as_array().cloned().unwrap_or_default()
}

/// `data.state` of a finished item on chrome://downloads (`downloads.mojom` `State`: in
/// progress 0, cancelled 1, complete 2, paused 3, dangerous 4, interrupted 5).
const IN_PROGRESS: u64 = 0;
const COMPLETE: u64 = 2;
const INTERRUPTED: u64 = 5;

/// Polls chrome://downloads (bounded) until its one item satisfies `check`.
async fn wait_for_item(
    browser: &Client,
    what: &str,
    mut check: impl FnMut(&Value) -> bool,
) -> Value {
    let mut items = Vec::new();
    for _ in 0..300 {
        items = download_items(browser).await;
        if let [item] = items.as_slice()
            && check(item)
        {
            return item.clone();
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("chrome://downloads never showed {what}; items: {items:?}");
}

#[tokio::test]
async fn chromium_resumes_a_download_cut_mid_file_when_resume_is_pressed_and_saves_the_exact_bytes()
{
    let server = DownloadServer::spawn().await;
    let body = sample_bytes(SIZE, 6);
    server.put_file("big.bin", &body);
    let token = server.mint_named("big.bin", "chrome-big.bin");
    let proxy = CutProxy::start(server.address, [8_000_000]).await;
    let work = tempfile::tempdir().unwrap();
    let (profile, downloads) = (work.path().join("profile"), work.path().join("downloads"));
    std::fs::create_dir_all(&downloads).unwrap();

    let (_driver, port) = start_chromedriver().await;
    let browser = open_browser(port, &profile, &downloads).await;
    let outcome = async {
        browser
            .goto(&proxy.url(&format!("/d/{token}")))
            .await
            .unwrap();
        browser.goto("chrome://downloads").await.unwrap();
        let failed = wait_for_item(&browser, "the cut download, resumable", |item| {
            item["state"] == INTERRUPTED
        })
        .await;
        assert_eq!(failed["resume"], true, "{failed}");
        assert_eq!(
            failed["lastReasonText"], "Failed - Network error",
            "{failed}"
        );
        assert_eq!(proxy.cut_count(), 1);

        // As a person does: open the item's menu and press Resume.
        let pressed = browser
            .execute(
                r#"
                const item = document.querySelector('downloads-manager').shadowRoot
                    .querySelector('downloads-item').shadowRoot;
                item.querySelector('#more-actions').click();
                const resume = item.querySelector('#pause-or-resume');
                const label = resume.textContent.trim();
                resume.click();
                return label;
            "#,
                vec![],
            )
            .await
            .unwrap();
        assert_eq!(pressed, "Resume");
        // The item runs again, then ends: complete, or interrupted again.
        let mut running = false;
        let done = wait_for_item(&browser, "the resumed download's end", |item| {
            running |= item["state"] == IN_PROGRESS;
            let failed_again = item["state"] == INTERRUPTED
                && (running || item["lastReasonText"] != failed["lastReasonText"]);
            item["state"] == COMPLETE || failed_again
        })
        .await;
        assert_eq!(
            done["state"], COMPLETE,
            "the resumed download failed: {done}"
        );
        let saved = downloads.join("chrome-big.bin");
        let got = std::fs::read(&saved)
            .unwrap_or_else(|e| panic!("{} not saved ({e}); item: {done}", saved.display()));
        assert_same_bytes(&got, &body);
    };
    // Close the browser even when an assertion fails, then report the failure.
    let result = futures_util::FutureExt::catch_unwind(std::panic::AssertUnwindSafe(outcome)).await;
    let _ = browser.close().await;
    if let Err(panic) = result {
        std::panic::resume_unwind(panic);
    }

    let heads = proxy.request_heads();
    let [_, resume] = heads.as_slice() else {
        panic!("want the download and one resume: {heads:?}");
    };
    let lower = resume.to_ascii_lowercase();
    let from: u64 = lower
        .split_once("\r\nrange: bytes=")
        .and_then(|(_, rest)| rest.split_once("-\r\n"))
        .and_then(|(from, _)| from.parse().ok())
        .unwrap_or_else(|| panic!("the resume asks for bytes=N-: {resume}"));
    assert!(0 < from && from < SIZE as u64, "{resume}");
    assert!(lower.contains("\r\nif-range: "), "{resume}");
    assert_eq!(
        server
            .metric("download_requests_total{outcome=\"partial\"}")
            .await,
        1,
        "the resume was answered 206"
    );
    let sent = server.bytes_sent().await;
    assert!(sent <= budget(&server), "sent {sent} > S + R");
    note(format!(
        "chromium: resumed from {from}; {sent} bytes sent in all"
    ));
    assert_eq!(
        server.get(&token).await.status(),
        410,
        "and then it is spent"
    );
}

#[tokio::test]
async fn a_download_cut_on_one_instance_resumes_on_another_instance_of_the_same_redis() {
    let redis = RedisServer::start();
    let a = DownloadServer::spawn_on_redis(&redis).await;
    let b = a.spawn_peer().await;
    let download = Download::on(&a, 7);
    curl_cut_off(&a, &download, CUT).await;

    let (resumed, status) = curl_resume(&download, &b.url(&download.token)).await;
    assert!(resumed.status.success(), "{}", stderr(&resumed));
    assert_eq!(status, "206");
    download.assert_complete();
    let (sent_a, sent_b) = (a.bytes_sent().await, b.bytes_sent().await);
    assert!(sent_b > 0, "B served the rest");
    assert!(sent_a + sent_b <= budget(&a), "sent {sent_a} + {sent_b}");

    for server in [&a, &b] {
        let (again, status) = curl(&["-o", "/dev/null", &server.url(&download.token)]).await;
        assert!(again.status.success(), "{}", stderr(&again));
        assert_eq!(status, "410");
    }
}

#[tokio::test]
async fn sixty_four_concurrent_segments_over_two_instances_deliver_the_file_within_s_plus_r() {
    let redis = RedisServer::start();
    let a = DownloadServer::spawn_on_redis(&redis).await;
    let b = a.spawn_peer().await;
    let download = Download::on(&a, 8);
    let segments = 64;
    let bounds = |i: usize| (i * SIZE / segments, (i + 1) * SIZE / segments);

    let requests = (0..segments).map(|i| {
        let url = [&a, &b][i % 2].url(&download.token);
        let client = a.client.clone();
        let (start, end) = bounds(i);
        tokio::spawn(async move {
            // A segmenting client waits as Retry-After says while the download has as many
            // streams as it may.
            for busy in 0..20 {
                let response = client
                    .get(&url)
                    .header("range", format!("bytes={start}-{}", end - 1))
                    .send()
                    .await
                    .unwrap();
                if response.status() != 503 {
                    let status = response.status().as_u16();
                    return (status, busy, response.bytes().await.unwrap());
                }
                let wait: u64 = response.headers()["retry-after"]
                    .to_str()
                    .unwrap()
                    .parse()
                    .unwrap();
                tokio::time::sleep(Duration::from_secs(wait)).await;
            }
            panic!("segment {i} was busy 20 times");
        })
    });
    let results = futures_util::future::join_all(requests).await;

    let mut waits = 0;
    for (i, result) in results.into_iter().enumerate() {
        let (status, busy, bytes) = result.unwrap();
        assert_eq!(status, 206, "segment {i}");
        let (start, end) = bounds(i);
        assert_same_bytes(&bytes, &download.body[start..end]);
        waits += busy;
    }
    let sent = a.bytes_sent().await + b.bytes_sent().await;
    assert!(sent <= budget(&a), "sent {sent} > S + R = {}", budget(&a));
    assert_eq!(
        a.get(&download.token).await.status(),
        410,
        "the file was delivered"
    );
    note(format!(
        "64 segments: {sent} bytes sent, {waits} busy answers waited out"
    ));
}

#[tokio::test]
async fn a_resume_while_redis_is_frozen_gets_503_and_no_bytes_and_works_once_redis_is_back() {
    let redis = RedisServer::start();
    let server = DownloadServer::spawn_on_redis(&redis).await;
    let mut download = Download::on(&server, 9);
    let claims = server.claims("big.bin");
    download.token = server.sign(&claims);
    curl_cut_off(&server, &download, CUT).await;
    wait_for_no_stream(&redis, &server, &claims.jti).await;
    let (partial, sent) = (download.saved_len(), server.bytes_sent().await);
    let url = server.url(&download.token);

    redis.freeze();
    let (refused, status) = curl_resume(&download, &url).await;
    assert!(!refused.status.success());
    assert_eq!(status, "503", "{}", stderr(&refused));
    let plain = server.get(&download.token).await;
    assert_eq!(plain.status(), 503);
    assert!(plain.headers().contains_key("retry-after"));
    assert_eq!(download.saved_len(), partial);
    assert_eq!(
        server.bytes_sent().await,
        sent,
        "no bytes while Redis is out"
    );

    redis.thaw();
    server.wait_ready(200).await;
    let (resumed, status) = curl_resume(&download, &url).await;
    assert!(resumed.status.success(), "{}", stderr(&resumed));
    assert_eq!(status, "206");
    download.assert_complete();
}

/// Waits (bounded) until the grant in Redis has no live stream (`t`, the streams in
/// `grant.lua`'s JSON, is empty): the cut stream's close landed.
async fn wait_for_no_stream(redis: &RedisServer, server: &DownloadServer, jti: &shared::Jti) {
    let key = format!(
        "{}jti:{}",
        server.config.replay_prefix,
        jti.as_uuid().hyphenated()
    );
    let mut grant = Value::Null;
    for _ in 0..100 {
        let stored: Option<String> = redis::cmd("GET")
            .arg(&key)
            .query(&mut redis.connection())
            .unwrap();
        grant = stored.map_or(Value::Null, |s| {
            serde_json::from_str(&s).unwrap_or(Value::Null)
        });
        // cjson writes an empty Lua table as `{}`.
        if grant["t"] == serde_json::json!({}) || grant["t"] == serde_json::json!([]) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the cut stream never closed; the grant: {grant}");
}

/// What aria2c's first connection does: an open-ended request, read at a limited rate, runs into
/// a segment another connection has started; it should end exactly there, having sent every
/// byte before it and none after (the client has asked for those on the other connection).
/// Read from a plain socket: an HTTP client may drop the last bytes of a response cut short.
#[tokio::test]
async fn an_open_ended_download_ends_where_a_parallel_segment_begins_with_every_byte_before_it() {
    let server = DownloadServer::spawn().await;
    let download = Download::on(&server, 11);
    let mut whole = tokio::net::TcpStream::connect(server.address)
        .await
        .unwrap();
    let request = format!("GET {} HTTP/1.1\r\nHost: loopback\r\n\r\n", download.path());
    whole.write_all(request.as_bytes()).await.unwrap();
    let split = 8 * 1024 * 1024;
    let mut received = Vec::new();
    let mut buffer = vec![0u8; 64 * 1024];
    // The response's head: the whole download's stream is open before the segment's.
    while !received.windows(4).any(|w| w == b"\r\n\r\n") {
        let read = whole.read(&mut buffer).await.unwrap();
        assert!(read > 0, "no response head");
        received.extend_from_slice(&buffer[..read]);
    }
    let segment = server
        .client
        .get(server.url(&download.token))
        .header("range", format!("bytes={split}-"))
        .send()
        .await
        .unwrap();
    assert_eq!(segment.status(), 206);
    // Neither body is read for a moment: the server fills both connections' socket buffers, as
    // it does for a client that reads slower than loopback.
    tokio::time::sleep(Duration::from_millis(300)).await;

    for _ in 0..100_000 {
        match whole.read(&mut buffer).await {
            Ok(0) | Err(_) => break,
            Ok(read) => received.extend_from_slice(&buffer[..read]),
        }
        // Read as a rate-limited client does, so the server's writes wait on the socket.
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let head = received.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
    let sent = server.bytes_sent().await;
    note(format!(
        "open-ended: received {} of the {split} before the segment; {sent} sent in all",
        received.len() - head
    ));
    assert!(received.starts_with(b"HTTP/1.1 200"));
    assert_same_bytes(&received[head..], &download.body[..split]);
    // The segment's stream stayed live throughout.
    drop(segment);
}
