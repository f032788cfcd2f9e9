//! Headless Chromium driven through WebDriver: chromedriver on a free port (killed on drop), a
//! browser session that saves downloads to a given folder without asking, and the chromedriver
//! extensions the tests use (network throttling, the console log).

use crate::procs::{ChildGuard, free_port, wait_for_port};
use fantoccini::{Client, ClientBuilder};
use serde_json::{Value, json};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

/// Starts chromedriver on a free port and waits (bounded) until it accepts connections.
pub async fn start_chromedriver() -> (ChildGuard, u16) {
    let port = free_port();
    let child = Command::new("chromedriver")
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("chromedriver is installed (Debian package chromium-driver; ./scripts/test installs it)");
    let guard = ChildGuard(child);
    wait_for_port(port, Duration::from_secs(10)).await;
    (guard, port)
}

/// A Chromium session on the chromedriver at `port`, with its profile in `profile`, saving
/// downloads to `downloads`.
pub async fn open_browser(port: u16, profile: &Path, downloads: &Path) -> Client {
    open_browser_with(port, profile, downloads, true).await
}

/// Like `open_browser`; with `javascript` false, pages run no script at all (Chromium's
/// content setting, as a person who turned JavaScript off has it).
pub async fn open_browser_with(
    port: u16,
    profile: &Path,
    downloads: &Path,
    javascript: bool,
) -> Client {
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        json!({
            "binary": "/usr/bin/chromium",
            "args": [
                "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--no-first-run", format!("--user-data-dir={}", profile.display()),
            ],
            "prefs": {
                "download.default_directory": downloads.to_string_lossy(),
                "download.prompt_for_download": false,
                "download.directory_upgrade": true,
                "profile.managed_default_content_settings.javascript": if javascript { 1 } else { 2 },
            },
        }),
    );
    // The console (CSP violations land there) for `browser_log`.
    caps.insert("goog:loggingPrefs".into(), json!({"browser": "ALL"}));
    ClientBuilder::rustls()
        .expect("rustls client")
        .capabilities(caps)
        .connect(&format!("http://127.0.0.1:{port}"))
        .await
        .expect("a WebDriver session with Chromium")
}

/// A chromedriver extension command for `browser`'s session, sent as plain HTTP (fantoccini has
/// no method for it).
async fn chromedriver_command(browser: &Client, port: u16, path: &str, body: Value) -> Value {
    let session = browser
        .session_id()
        .await
        .expect("a session id")
        .expect("an open session");
    let response = reqwest::Client::new()
        .post(format!("http://127.0.0.1:{port}/session/{session}/{path}"))
        .json(&body)
        .send()
        .await
        .expect("chromedriver answers");
    assert!(
        response.status().is_success(),
        "chromedriver refused {path}: {}",
        response.text().await.unwrap_or_default()
    );
    response.json().await.expect("a JSON answer")
}

/// Caps what the page can send at `bytes_per_second` (DevTools network emulation), so a test
/// on loopback can watch an upload in flight; `None` lifts the cap.
pub async fn throttle_uploads(browser: &Client, port: u16, bytes_per_second: Option<u64>) {
    emulate_network(browser, port, false, bytes_per_second).await;
}

/// Cuts the page off the network, as a dropped Wi-Fi would (requests in flight fail).
pub async fn go_offline(browser: &Client, port: u16) {
    emulate_network(browser, port, true, None).await;
}

async fn emulate_network(browser: &Client, port: u16, offline: bool, upload: Option<u64>) {
    let conditions = json!({"network_conditions": {
        "offline": offline,
        "latency": 0,
        "download_throughput": -1,
        "upload_throughput": upload.map_or(-1, |b| b as i64),
    }});
    chromedriver_command(browser, port, "chromium/network_conditions", conditions).await;
}

/// The console messages since the last call (each `{level, message, ...}`).
pub async fn browser_log(browser: &Client, port: u16) -> Vec<Value> {
    let answer = chromedriver_command(browser, port, "se/log", json!({"type": "browser"})).await;
    answer["value"].as_array().cloned().unwrap_or_default()
}
