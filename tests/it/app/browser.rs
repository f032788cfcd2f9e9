//! A real browser: headless Chromium driven through WebDriver (fantoccini + chromedriver) signs
//! in through the form, uploads, clicks Download, finds the file in its download folder, and
//! sees the readable "already used" page when it opens the used link again.

use fantoccini::{Client, Locator};
use integration_tests::app::AppServer;
use integration_tests::chromium::{open_browser, start_chromedriver};
use serde_json::Value;
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
