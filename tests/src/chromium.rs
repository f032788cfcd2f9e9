//! Headless Chromium driven through WebDriver: chromedriver on a free port (killed on drop) and
//! a browser session that saves downloads to a given folder without asking.

use crate::procs::{ChildGuard, free_port, wait_for_port};
use fantoccini::{Client, ClientBuilder};
use serde_json::json;
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
            },
        }),
    );
    ClientBuilder::rustls()
        .expect("rustls client")
        .capabilities(caps)
        .connect(&format!("http://127.0.0.1:{port}"))
        .await
        .expect("a WebDriver session with Chromium")
}
