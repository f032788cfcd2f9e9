//! A real browser: headless Chromium driven through WebDriver (fantoccini + chromedriver) signs
//! in through the form, uploads, clicks Download, finds the file in its download folder, and
//! sees the readable "already used" page when it opens the used link again. The upload form's
//! progress script is watched mid-upload (throttled by DevTools), cancelled, refused over
//! `--max-upload`, and the plain form is used with JavaScript turned off.

use fantoccini::{Client, Locator};
use integration_tests::app::AppServer;
use integration_tests::chromium::{
    browser_log, go_offline, open_browser, open_browser_with, start_chromedriver, throttle_uploads,
};
use serde_json::Value;
use std::path::Path;
use std::time::Duration;

/// Polls (bounded) until `check` holds for the page source.
async fn wait_for_page(browser: &Client, what: &str, check: impl Fn(&str) -> bool) -> String {
    let mut source = String::new();
    for _ in 0..300 {
        source = browser.source().await.unwrap();
        if check(&source) {
            return source;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("page never showed {what}; last page:\n{source}");
}

/// The URLs Chromium's download list remembers (newest first).
async fn downloaded_urls(browser: &Client) -> Vec<String> {
    browser.goto("chrome://downloads").await.unwrap();
    let script = r#"
        const manager = document.querySelector('downloads-manager');
        if (!manager || !manager.shadowRoot) return [];
        return Array.from(manager.shadowRoot.querySelectorAll('downloads-item')).map(item => {
            const data = item.data || {};
            const url = data.url && (data.url.url || data.url);
            const anchor = item.shadowRoot && item.shadowRoot.querySelector('#url');
            return (typeof url === 'string' && url) || (anchor && anchor.href) || '';
        });
    "#;
    for _ in 0..50 {
        let found: Value = browser.execute(script, vec![]).await.unwrap();
        let urls: Vec<String> = found
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str())
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default();
        if !urls.is_empty() {
            return urls;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Vec::new()
}

#[tokio::test]
async fn a_person_signs_in_uploads_and_downloads_once_in_a_real_browser() {
    let app = AppServer::spawn().await;
    assert_eq!(
        app.api.signup("alice", "alice-password").await.status(),
        201
    );
    let work = tempfile::tempdir().unwrap();
    let (profile, downloads) = (work.path().join("profile"), work.path().join("downloads"));
    std::fs::create_dir_all(&downloads).unwrap();
    let upload = work.path().join("browser-upload.txt");
    let bytes: Vec<u8> = (0..200_000u32).flat_map(u32::to_le_bytes).collect();
    std::fs::write(&upload, &bytes).unwrap();

    let (_driver, port) = start_chromedriver().await;
    let browser = open_browser(port, &profile, &downloads).await;
    let outcome = async {
        browser.goto(&format!("{}/", app.base)).await.unwrap();
        assert!(
            browser
                .current_url()
                .await
                .unwrap()
                .as_str()
                .ends_with("/login")
        );
        browser
            .find(Locator::Css("input[name=username]"))
            .await
            .unwrap()
            .send_keys("alice")
            .await
            .unwrap();
        browser
            .find(Locator::Css("input[name=password]"))
            .await
            .unwrap()
            .send_keys("alice-password")
            .await
            .unwrap();
        browser
            .find(Locator::Css("form[action='/login'] button[type=submit]"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        wait_for_page(&browser, "the files page", |s| s.contains("Your files")).await;

        browser
            .find(Locator::Css("input[type=file][name=file]"))
            .await
            .unwrap()
            .send_keys(&upload.to_string_lossy())
            .await
            .unwrap();
        browser
            .find(Locator::Css("form.upload button[type=submit]"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        wait_for_page(&browser, "the uploaded file", |s| {
            s.contains("File uploaded.") && s.contains("browser-upload.txt")
        })
        .await;

        browser
            .find(Locator::XPath("//button[normalize-space()='Download']"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        let saved = downloads.join("browser-upload.txt");
        let mut landed = false;
        for _ in 0..300 {
            if std::fs::read(&saved).is_ok_and(|got| got == bytes) {
                landed = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let listing: Vec<_> = std::fs::read_dir(&downloads)
            .unwrap()
            .flatten()
            .map(|e| e.file_name())
            .collect();
        assert!(
            landed,
            "the file did not land with the right bytes; download folder holds {listing:?}"
        );

        let urls = downloaded_urls(&browser).await;
        let used = urls
            .iter()
            .find(|u| u.starts_with(&format!("{}/d/", app.download.base)))
            .unwrap_or_else(|| panic!("the download list names no download-server URL: {urls:?}"))
            .clone();
        browser.goto(&used).await.unwrap();
        let page = wait_for_page(&browser, "the used-link page", |s| s.contains("already")).await;
        assert!(page.contains("Download link already used"), "{page}");
        assert!(page.contains("click Download again"), "{page}");
        assert_eq!(app.fetch(&used).await.status(), 410);
    };
    // Close the browser even when an assertion fails, then report the failure.
    let result = futures_util::FutureExt::catch_unwind(std::panic::AssertUnwindSafe(outcome)).await;
    let _ = browser.close().await;
    if let Err(panic) = result {
        std::panic::resume_unwind(panic);
    }
}

/// Runs `outcome`, closes the browser even when an assertion failed, then reports the failure.
async fn closing(browser: Client, outcome: impl std::future::Future<Output = ()>) {
    let result = futures_util::FutureExt::catch_unwind(std::panic::AssertUnwindSafe(outcome)).await;
    let _ = browser.close().await;
    if let Err(panic) = result {
        std::panic::resume_unwind(panic);
    }
}

/// Signs in through the login form and waits for the files page.
async fn sign_in(browser: &Client, app: &AppServer, name: &str) {
    browser.goto(&format!("{}/login", app.base)).await.unwrap();
    for (field, value) in [
        ("username", name.to_owned()),
        ("password", format!("{name}-password")),
    ] {
        browser
            .find(Locator::Css(&format!("input[name={field}]")))
            .await
            .unwrap()
            .send_keys(&value)
            .await
            .unwrap();
    }
    browser
        .find(Locator::Css("form[action='/login'] button[type=submit]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_for_page(browser, "the files page", |s| s.contains("Your files")).await;
}

/// Chooses `file` in the upload form and clicks Upload.
async fn submit_upload(browser: &Client, file: &Path) {
    browser
        .find(Locator::Css("input[type=file][name=file]"))
        .await
        .unwrap()
        .send_keys(&file.to_string_lossy())
        .await
        .unwrap();
    browser
        .find(Locator::Css("form.upload button[type=submit]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
}

/// A file of `len` bytes that does not compress to nothing.
fn write_file(dir: &Path, name: &str, len: usize) -> std::path::PathBuf {
    let path = dir.join(name);
    let bytes: Vec<u8> = (0..len as u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    std::fs::write(&path, bytes).unwrap();
    path
}

/// What the upload panel shows right now: `{hidden, value, max, text, error, busy}`; `None`
/// while the page is navigating.
async fn upload_panel(browser: &Client) -> Option<Value> {
    let script = r#"
        const panel = document.querySelector('.upload-progress');
        const bar = panel && panel.querySelector('progress');
        const error = document.querySelector('.upload-error');
        const submit = document.querySelector('form.upload button[type=submit]');
        if (!panel || !bar || !error || !submit) return null;
        return {
            hidden: panel.hidden,
            value: bar.hasAttribute('value') ? bar.value : null,
            max: bar.max,
            text: panel.querySelector('.upload-status').textContent,
            error: error.hidden ? null : error.textContent,
            busy: submit.disabled,
            enhanced: document.querySelector('form.upload').classList.contains('enhanced'),
        };
    "#;
    match browser.execute(script, vec![]).await {
        Ok(Value::Null) | Err(_) => None,
        Ok(panel) => Some(panel),
    }
}

/// "12.3 MB of 40.0 MB (31 %)" with a percent strictly between 0 and 100: its percent.
fn intermediate_percent(text: &str) -> Option<u32> {
    let (sent, rest) = text.split_once(" of ")?;
    let (total, percent) = rest.split_once(" (")?;
    let percent: u32 = percent.strip_suffix(" %)")?.parse().ok()?;
    let is_size = |s: &str| {
        s.strip_suffix(" MB")
            .or_else(|| s.strip_suffix(" KB"))
            .is_some_and(|n| n.parse::<f64>().is_ok())
    };
    (is_size(sent) && is_size(total) && (1..100).contains(&percent)).then_some(percent)
}

/// Every file under `dir` (the store's objects, and any staging file of a partial upload).
fn files_under(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(files_under(&path));
        } else {
            out.push(path);
        }
    }
    out
}

const MIB: usize = 1024 * 1024;

#[tokio::test]
async fn a_large_upload_shows_its_progress_then_lands_in_the_list() {
    let app = AppServer::spawn().await;
    assert_eq!(
        app.api.signup("alice", "alice-password").await.status(),
        201
    );
    let work = tempfile::tempdir().unwrap();
    let upload = write_file(work.path(), "big-upload.bin", 48 * MIB);
    let (_driver, port) = start_chromedriver().await;
    let browser = open_browser(port, &work.path().join("profile"), work.path()).await;
    closing(browser.clone(), async {
        sign_in(&browser, &app, "alice").await;
        let panel = upload_panel(&browser).await.expect("the upload panel");
        assert_eq!(panel["enhanced"], true, "the script ran: {panel}");
        assert_eq!(panel["hidden"], true, "{panel}");
        assert_eq!(
            browser.execute("return document.cookie", vec![]).await.unwrap(),
            "",
            "the page's scripts cannot see the session cookie"
        );

        // 48 MiB at 8 MiB/s: about six seconds in flight.
        throttle_uploads(&browser, port, Some(8 * MIB as u64)).await;
        submit_upload(&browser, &upload).await;
        let mut percents = Vec::new();
        let mut last_text = String::new();
        for _ in 0..1200 {
            if let Some(panel) = upload_panel(&browser).await {
                let text = panel["text"].as_str().unwrap_or_default().to_owned();
                if let Some(percent) = intermediate_percent(&text) {
                    let (value, max) = (panel["value"].as_f64(), panel["max"].as_f64());
                    let (value, max) = (value.unwrap(), max.unwrap());
                    assert!(0.0 < value && value < max, "the bar agrees with {text:?}: {panel}");
                    assert_eq!(panel["busy"], true, "{panel}");
                    percents.push(percent);
                }
                last_text = text;
            }
            if browser.current_url().await.unwrap().query() == Some("notice=uploaded") {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        percents.dedup();
        assert!(
            percents.len() >= 2,
            "the page never showed the upload moving (percents seen {percents:?}, last {last_text:?})"
        );
        assert!(percents.is_sorted(), "{percents:?}");

        let page = wait_for_page(&browser, "the uploaded file", |s| {
            s.contains("File uploaded.") && s.contains("big-upload.bin")
        })
        .await;
        assert!(page.contains("50.3 MB"), "48 MiB listed as 50.3 MB:\n{page}");
        assert_eq!(app.api.login("alice", "alice-password").await.status(), 200);
        let files: Vec<Value> = app.api.files().await.json().await.unwrap();
        assert_eq!(files.len(), 1, "{files:?}");
        assert_eq!(files[0]["size"], 48 * MIB as u64, "{files:?}");

        // The script comes from 'self' under a CSP that still has no inline script or eval,
        // and the browser reported no violation.
        let response = app.api.get("/").await;
        let csp = response.headers()["content-security-policy"].to_str().unwrap();
        assert!(csp.contains("script-src 'self';"), "{csp}");
        assert!(!csp.contains("unsafe-"), "{csp}");
        let script = app.api.get("/static/upload.js").await;
        assert_eq!(script.headers()["content-type"], "text/javascript; charset=utf-8");
        assert_eq!(script.headers()["cache-control"], "public, max-age=3600");
        let log = browser_log(&browser, port).await;
        let violations: Vec<_> = log
            .iter()
            .filter(|entry| {
                let message = entry["message"].as_str().unwrap_or_default();
                message.contains("Content Security Policy") || message.contains("Refused to")
            })
            .collect();
        assert!(violations.is_empty(), "{violations:?}");
    })
    .await;
}

#[tokio::test]
async fn a_cancelled_upload_leaves_nothing_and_the_form_works_again() {
    let app = AppServer::spawn().await;
    assert_eq!(
        app.api.signup("alice", "alice-password").await.status(),
        201
    );
    let work = tempfile::tempdir().unwrap();
    let big = write_file(work.path(), "cancelled.bin", 48 * MIB);
    let small = write_file(work.path(), "after-cancel.bin", 300_000);
    let (_driver, port) = start_chromedriver().await;
    let browser = open_browser(port, &work.path().join("profile"), work.path()).await;
    closing(browser.clone(), async {
        sign_in(&browser, &app, "alice").await;
        throttle_uploads(&browser, port, Some(4 * MIB as u64)).await;
        submit_upload(&browser, &big).await;
        let moving = wait_for_progress(&browser).await;
        browser
            .find(Locator::Css(".upload-progress button.cancel"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        let panel = upload_panel(&browser)
            .await
            .expect("still on the files page");
        assert_eq!(
            panel["hidden"], true,
            "the panel goes away on Cancel: {panel} (was {moving})"
        );
        assert_eq!(panel["busy"], false, "the form is usable again: {panel}");
        assert_eq!(panel["error"], Value::Null, "{panel}");
        assert!(browser.current_url().await.unwrap().query().is_none());

        // The server saw the body cut off and removed the partial object.
        let store = app.download.files.files();
        let mut leftovers = files_under(&store);
        for _ in 0..100 {
            if leftovers.is_empty() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
            leftovers = files_under(&store);
        }
        assert!(leftovers.is_empty(), "{leftovers:?}");
        assert_eq!(app.api.login("alice", "alice-password").await.status(), 200);
        assert_eq!(app.api.file_count().await, 0);

        throttle_uploads(&browser, port, None).await;
        submit_upload(&browser, &small).await;
        let page = wait_for_page(&browser, "the upload after the cancel", |s| {
            s.contains("File uploaded.") && s.contains("after-cancel.bin")
        })
        .await;
        assert!(!page.contains("cancelled.bin"), "{page}");
        assert_eq!(app.api.file_count().await, 1);
    })
    .await;
}

/// Waits (bounded) until the upload panel shows moving progress.
async fn wait_for_progress(browser: &Client) -> Value {
    for _ in 0..300 {
        let panel = upload_panel(browser)
            .await
            .expect("still on the files page");
        if intermediate_percent(panel["text"].as_str().unwrap_or_default()).is_some() {
            return panel;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the upload never showed progress");
}

/// Waits (bounded) until the page shows an upload error; returns the panel then.
async fn wait_for_upload_error(browser: &Client) -> Value {
    for _ in 0..300 {
        let panel = upload_panel(browser)
            .await
            .expect("still on the files page");
        if panel["error"].is_string() {
            return panel;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("no upload error was shown");
}

#[tokio::test]
async fn a_connection_lost_mid_upload_says_so_and_gives_the_form_back() {
    let app = AppServer::spawn().await;
    assert_eq!(
        app.api.signup("alice", "alice-password").await.status(),
        201
    );
    let work = tempfile::tempdir().unwrap();
    let big = write_file(work.path(), "interrupted.bin", 48 * MIB);
    let (_driver, port) = start_chromedriver().await;
    let browser = open_browser(port, &work.path().join("profile"), work.path()).await;
    closing(browser.clone(), async {
        sign_in(&browser, &app, "alice").await;
        throttle_uploads(&browser, port, Some(4 * MIB as u64)).await;
        submit_upload(&browser, &big).await;
        wait_for_progress(&browser).await;
        go_offline(&browser, port).await;
        let panel = wait_for_upload_error(&browser).await;
        assert!(
            panel["error"]
                .as_str()
                .unwrap()
                .contains("connection to the server was lost"),
            "{panel}"
        );
        assert_eq!(panel["hidden"], true, "{panel}");
        assert_eq!(panel["busy"], false, "{panel}");
        // What the server ends up with is not asserted: DevTools' offline fails the request for
        // the page, yet Chromium's network stack may still deliver the body.
    })
    .await;
}

#[tokio::test]
async fn an_upload_over_the_limit_shows_the_servers_message_on_the_page() {
    let app = AppServer::spawn_with(|c| c.max_upload = 1_000_000).await;
    assert_eq!(
        app.api.signup("alice", "alice-password").await.status(),
        201
    );
    let work = tempfile::tempdir().unwrap();
    // Far over the limit: the server answers 413 long before the browser has sent it all.
    let big = write_file(work.path(), "too-big.bin", 48 * MIB);
    let (_driver, port) = start_chromedriver().await;
    let browser = open_browser(port, &work.path().join("profile"), work.path()).await;
    closing(browser.clone(), async {
        sign_in(&browser, &app, "alice").await;
        submit_upload(&browser, &big).await;
        let panel = wait_for_upload_error(&browser).await;
        assert_eq!(
            panel["error"], "The upload is larger than 1000000 bytes.",
            "{panel}"
        );
        assert_eq!(panel["hidden"], true, "{panel}");
        assert_eq!(panel["text"], "", "{panel}");
        assert_eq!(panel["busy"], false, "{panel}");
        assert!(browser.current_url().await.unwrap().query().is_none());
        assert_eq!(app.api.login("alice", "alice-password").await.status(), 200);
        assert_eq!(app.api.file_count().await, 0);
    })
    .await;
}

#[tokio::test]
async fn with_javascript_off_the_plain_form_still_uploads() {
    let app = AppServer::spawn().await;
    assert_eq!(
        app.api.signup("alice", "alice-password").await.status(),
        201
    );
    let work = tempfile::tempdir().unwrap();
    let file = write_file(work.path(), "no-script.bin", 2 * MIB);
    let (_driver, port) = start_chromedriver().await;
    let browser = open_browser_with(port, &work.path().join("profile"), work.path(), false).await;
    closing(browser.clone(), async {
        sign_in(&browser, &app, "alice").await;
        let form = browser.find(Locator::Css("form.upload")).await.unwrap();
        assert_eq!(
            form.attr("class").await.unwrap().as_deref(),
            Some("upload"),
            "the progress script did not run"
        );
        submit_upload(&browser, &file).await;
        let page = wait_for_page(&browser, "the uploaded file", |s| {
            s.contains("File uploaded.") && s.contains("no-script.bin")
        })
        .await;
        assert!(page.contains("2.1 MB"), "{page}");
        assert_eq!(app.api.login("alice", "alice-password").await.status(), 200);
        assert_eq!(app.api.file_count().await, 1);
    })
    .await;
}

#[tokio::test]
async fn a_browser_download_shows_on_the_files_page_as_completed_with_the_browser_as_device() {
    let app = AppServer::spawn().await;
    app.signed_in("alice").await;
    let work = tempfile::tempdir().unwrap();
    let (profile, downloads) = (work.path().join("profile"), work.path().join("downloads"));
    std::fs::create_dir_all(&downloads).unwrap();
    let upload = write_file(work.path(), "history.bin", 500_000);
    let bytes = std::fs::read(&upload).unwrap();

    let (_driver, port) = start_chromedriver().await;
    let browser = open_browser(port, &profile, &downloads).await;
    closing(browser.clone(), async {
        sign_in(&browser, &app, "alice").await;
        submit_upload(&browser, &upload).await;
        wait_for_page(&browser, "the uploaded file", |s| s.contains("history.bin")).await;
        browser
            .find(Locator::XPath("//button[normalize-space()='Download']"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        let saved = downloads.join("history.bin");
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while !std::fs::read(&saved).is_ok_and(|got| got == bytes) {
            assert!(
                std::time::Instant::now() < deadline,
                "the file never landed"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }

        // Reload the files page until the puller has recorded the download (at most 10 s).
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        let history = loop {
            browser.goto(&format!("{}/", app.base)).await.unwrap();
            let row = browser.find(Locator::Css("tr.history")).await;
            if let Ok(row) = row {
                break row.text().await.unwrap();
            }
            assert!(
                std::time::Instant::now() < deadline,
                "no history on the files page after 10 s"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        };
        assert!(history.contains("Downloaded "), "{history}");
        assert!(history.contains("from 127.0.0.1 (Chrome"), "{history}");
        assert!(history.contains("500.0 KB, completed"), "{history}");
    })
    .await;
}
