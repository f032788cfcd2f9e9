//! The HTML pages, driven as a browser without JavaScript would: plain form posts.

use integration_tests::app::{AppServer, form_field as field, location};

#[tokio::test]
async fn the_whole_flow_works_through_plain_html_forms() {
    let app = AppServer::spawn().await;
    let browser = app.device();

    let home = browser.get("/").await;
    assert_eq!(home.status(), 303);
    assert_eq!(location(&home), "/login");
    let login_page = browser.get("/login").await.text().await.unwrap();
    assert!(login_page.contains("name=\"username\"") && login_page.contains("name=\"password\""));

    let signup = browser
        .post_form(
            "/signup",
            &[
                ("username", "Alice"),
                ("password", "alice-password"),
                ("confirm", "alice-password"),
            ],
        )
        .await;
    assert_eq!(signup.status(), 303);
    assert_eq!(
        browser.get("/api/me").await.status(),
        200,
        "sign-up through the page signs in"
    );
    let logout_token = field(&browser.get("/").await.text().await.unwrap(), "csrf");
    let logout = browser
        .post_form("/logout", &[("csrf", logout_token.as_str())])
        .await;
    assert_eq!(location(&logout), "/login?notice=signed-out");
    assert_eq!(browser.me().await.status(), 401);

    let wrong = browser
        .post_form(
            "/login",
            &[("username", "alice"), ("password", "nope-nope")],
        )
        .await;
    assert_eq!(wrong.status(), 401);
    assert!(
        wrong
            .text()
            .await
            .unwrap()
            .contains("Wrong user name or password.")
    );

    let login = browser
        .post_form(
            "/login",
            &[("username", "alice"), ("password", "alice-password")],
        )
        .await;
    assert_eq!(login.status(), 303);
    assert_eq!(location(&login), "/");
    let again = browser.get("/login").await;
    assert_eq!(
        again.status(),
        303,
        "a signed-in visitor skips the login form"
    );

    let files_page = browser.get("/").await.text().await.unwrap();
    assert!(files_page.contains("type=\"file\" name=\"file\""));
    assert!(files_page.contains("No files yet"));
    let csrf = field(&files_page, "csrf");

    let upload = browser
        .upload_form(&csrf, "<script>notes.txt", b"page bytes")
        .await;
    assert_eq!(upload.status(), 303);
    assert_eq!(location(&upload), "/?notice=uploaded");

    let listed = browser.get("/?notice=uploaded").await.text().await.unwrap();
    assert!(listed.contains("File uploaded."));
    assert!(
        listed.contains("&#60;script&#62;notes.txt"),
        "names are escaped"
    );
    assert!(!listed.contains("<script>"));
    assert!(listed.contains("10 B"));
    assert!(listed.contains(">Download</button>") && listed.contains(">Delete</button>"));
    let download_action = listed
        .split("action=\"")
        .find(|s| s.contains("/download\""))
        .unwrap();
    let download_path = download_action.split('"').next().unwrap();

    let click = browser
        .post_form(download_path, &[("csrf", csrf.as_str())])
        .await;
    assert_eq!(click.status(), 303);
    let url = location(&click);
    assert!(
        url.starts_with(&format!("{}/d/", app.download.base)),
        "{url}"
    );
    let got = app.fetch(&url).await;
    assert_eq!(got.status(), 200);
    assert_eq!(got.bytes().await.unwrap().as_ref(), b"page bytes");

    let devices = browser.get("/sessions").await.text().await.unwrap();
    assert!(devices.contains("This device"));
    assert!(devices.contains("Sign out"));
}

#[tokio::test]
async fn an_upload_form_without_a_file_shows_a_clear_error() {
    let app = AppServer::spawn().await;
    let browser = app.signed_in("alice").await;
    let csrf = field(&browser.get("/").await.text().await.unwrap(), "csrf");
    let response = browser.upload_form(&csrf, "", b"").await;
    assert_eq!(response.status(), 400);
    let page = response.text().await.unwrap();
    assert!(page.contains("Choose a file to upload."), "{page}");
    assert!(page.contains("type=\"file\""), "the page is shown again");
}

#[tokio::test]
async fn the_password_and_devices_pages_sign_out_other_devices() {
    let app = AppServer::spawn().await;
    let laptop = app.signed_in("alice").await;
    let phone = app.device();
    assert_eq!(phone.login("alice", "alice-password").await.status(), 200);
    let csrf = field(&laptop.get("/password").await.text().await.unwrap(), "csrf");
    let changed = laptop
        .post_form(
            "/password",
            &[
                ("csrf", csrf.as_str()),
                ("current_password", "alice-password"),
                ("new_password", "brand-new-pw"),
                ("confirm", "brand-new-pw"),
            ],
        )
        .await;
    assert_eq!(location(&changed), "/password?notice=password-changed");
    let shown = laptop.get(&location(&changed)).await.text().await.unwrap();
    assert!(shown.contains("Every other device was signed out."));
    assert_eq!(phone.me().await.status(), 401);
    let stale = laptop
        .post_form("/sessions/revoke-others", &[("csrf", csrf.as_str())])
        .await;
    assert_eq!(
        stale.status(),
        403,
        "the renewed session has a new CSRF token"
    );
    let csrf = field(&shown, "csrf");

    assert_eq!(phone.login("alice", "brand-new-pw").await.status(), 200);
    let revoke_all = laptop
        .post_form("/sessions/revoke-others", &[("csrf", csrf.as_str())])
        .await;
    assert_eq!(location(&revoke_all), "/sessions?notice=others");
    assert_eq!(phone.me().await.status(), 401);
    assert_eq!(laptop.me().await.status(), 200);
}

#[tokio::test]
async fn the_login_page_explains_throttling_and_sign_up_mistakes() {
    let app = AppServer::spawn_with(|c| c.login_attempts = 2).await;
    let browser = app.device();
    let browser = &browser;
    let signup = |password: &'static str, confirm: &'static str| async move {
        let fields = [
            ("username", "alice"),
            ("password", password),
            ("confirm", confirm),
        ];
        browser.post_form("/signup", &fields).await
    };
    let differ = signup("alice-password", "alice-passwort").await;
    assert_eq!(differ.status(), 400);
    assert!(
        differ
            .text()
            .await
            .unwrap()
            .contains("The two passwords differ.")
    );
    let short = signup("short", "short").await;
    assert_eq!(short.status(), 400);
    assert!(
        short
            .text()
            .await
            .unwrap()
            .contains("at least 8 characters")
    );
    assert_eq!(browser.me().await.status(), 401);

    let login = || {
        browser.post_form(
            "/login",
            &[("username", "alice"), ("password", "wrong-password")],
        )
    };
    for _ in 0..2 {
        assert_eq!(login().await.status(), 401);
    }
    let throttled = login().await;
    assert_eq!(throttled.status(), 429);
    assert!(throttled.headers().contains_key("retry-after"));
    let page = throttled.text().await.unwrap();
    assert!(
        page.contains("Too many failed attempts; try again in"),
        "{page}"
    );
    assert!(
        page.contains("name=\"username\" value=\"alice\""),
        "the form keeps the name"
    );
}

#[tokio::test]
async fn head_answers_wherever_get_does_with_the_same_headers_and_no_body() {
    let app = AppServer::spawn().await;
    let alice = app.signed_in("alice").await;
    let visitor = app.device();
    for (device, path, status) in [
        (&visitor, "/login", 200),
        (&visitor, "/signup", 200),
        (&visitor, "/", 303),
        (&visitor, "/static/app.css", 200),
        (&visitor, "/.well-known/jwks.json", 200),
        (&visitor, "/healthz", 200),
        (&visitor, "/api/me", 401),
        (&visitor, "/no-such-page", 404),
        (&alice, "/", 200),
        (&alice, "/sessions", 200),
        (&alice, "/password", 200),
        (&alice, "/api/me", 200),
        (&alice, "/api/files", 200),
        (&alice, "/api/sessions", 200),
    ] {
        let get = device.get(path).await;
        let head = device.client.head(device.url(path)).send().await.unwrap();
        assert_eq!(get.status(), status, "GET {path}");
        assert_eq!(head.status(), status, "HEAD {path}");
        for name in [
            "content-type",
            "content-length",
            "location",
            "cache-control",
            "content-security-policy",
            "x-content-type-options",
        ] {
            assert_eq!(
                head.headers().get(name),
                get.headers().get(name),
                "{name} of HEAD {path}"
            );
        }
        assert!(
            head.bytes().await.unwrap().is_empty(),
            "HEAD {path} has no body"
        );
    }
}
