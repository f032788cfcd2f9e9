//! Cross-site request refusal, CSRF tokens in forms, security headers, and bad input that must
//! get a clear 4xx (never a 5xx).

use integration_tests::app::AppServer;
use serde_json::Value;

#[tokio::test]
async fn a_state_changing_request_from_a_foreign_origin_is_refused() {
    let app = AppServer::spawn().await;
    let alice = app.signed_in("alice").await;
    let id = alice.upload_ok("a.txt", b"a").await;
    let link = format!("/api/files/{id}/link");

    let foreign = alice
        .post_with_header(&link, "origin", "https://evil.example")
        .await;
    assert_eq!(foreign.status(), 403);
    let cross_site = alice
        .post_with_header(&link, "sec-fetch-site", "cross-site")
        .await;
    assert_eq!(cross_site.status(), 403);
    let null_origin = alice.post_with_header(&link, "origin", "null").await;
    assert_eq!(null_origin.status(), 403);
    let delete = alice
        .client
        .delete(alice.url(&format!("/api/files/{id}")))
        .header("origin", "https://evil.example")
        .send()
        .await
        .unwrap();
    assert_eq!(delete.status(), 403);
    assert_eq!(alice.file_count().await, 1, "nothing was deleted");
    let login = app
        .device()
        .client
        .post(app.api.url("/api/login"))
        .header("origin", "https://evil.example")
        .json(&serde_json::json!({"username": "alice", "password": "alice-password"}))
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), 403, "no login CSRF either");

    let own = alice.post_with_header(&link, "origin", &app.base).await;
    assert_eq!(own.status(), 200);
    let same = alice
        .post_with_header(&link, "sec-fetch-site", "same-origin")
        .await;
    assert_eq!(same.status(), 200);
    let read = alice
        .client
        .get(alice.url("/api/files"))
        .header("origin", "https://evil.example")
        .send()
        .await
        .unwrap();
    assert_eq!(read.status(), 200, "reads are not state changes");
}

#[tokio::test]
async fn html_forms_need_the_sessions_csrf_token() {
    let app = AppServer::spawn().await;
    let alice = app.signed_in("alice").await;
    let id = alice.upload_ok("a.txt", b"a").await;
    let delete = format!("/files/{id}/delete");
    let missing = alice.post_form(&delete, &[("x", "y")]).await;
    assert_eq!(missing.status(), 400);
    let wrong = alice.post_form(&delete, &[("csrf", "not-the-token")]).await;
    assert_eq!(wrong.status(), 403);
    let bob = app.signed_in("bob").await;
    let bobs_token = bob.csrf_token().await;
    let borrowed = alice
        .post_form(&delete, &[("csrf", bobs_token.as_str())])
        .await;
    assert_eq!(borrowed.status(), 403, "a token is bound to its session");
    assert_eq!(alice.file_count().await, 1);

    let token = alice.csrf_token().await;
    let ok = alice.post_form(&delete, &[("csrf", token.as_str())]).await;
    assert_eq!(ok.status(), 303);
    assert_eq!(alice.file_count().await, 0);
}

#[tokio::test]
async fn every_response_carries_the_security_headers() {
    let app = AppServer::spawn().await;
    for path in ["/login", "/api/me", "/no/such/page"] {
        let response = app.api.get(path).await;
        let h = response.headers();
        let csp = h["content-security-policy"].to_str().unwrap();
        assert!(csp.contains("frame-ancestors 'none'"), "{path}: {csp}");
        assert!(
            csp.contains(&format!("form-action 'self' {}", app.download.base)),
            "{path}: {csp}"
        );
        assert!(csp.contains("default-src 'none'"), "{path}: {csp}");
        assert_eq!(h["x-content-type-options"], "nosniff");
        assert_eq!(h["referrer-policy"], "same-origin");
        assert_eq!(h["x-frame-options"], "DENY");
        assert_eq!(h["cache-control"], "no-store", "{path}");
    }
}

fn raw_multipart(filename: &[u8], body: &[u8]) -> (String, Vec<u8>) {
    let boundary = "XyZboundary42";
    let mut out = Vec::new();
    out.extend_from_slice(
        format!("--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"")
            .as_bytes(),
    );
    out.extend_from_slice(filename);
    out.extend_from_slice(b"\"\r\nContent-Type: application/octet-stream\r\n\r\n");
    out.extend_from_slice(body);
    out.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), out)
}

fn assert_clear_4xx(what: &str, status: reqwest::StatusCode) {
    assert!(status.is_client_error(), "{what}: {status}");
}

#[tokio::test]
async fn bad_input_gets_a_clear_4xx_and_never_a_5xx() {
    let app = AppServer::spawn().await;
    let alice = app.signed_in("alice").await;
    let post_raw = |path: &str, content_type: &str, body: Vec<u8>| {
        alice
            .client
            .post(alice.url(path))
            .header("content-type", content_type)
            .body(body)
            .send()
    };

    let malformed = post_raw(
        "/api/login",
        "application/json",
        b"{\"username\": ".to_vec(),
    )
    .await
    .unwrap();
    assert_eq!(malformed.status(), 400);
    let body: Value = malformed.json().await.unwrap();
    assert_eq!(body["error"], "bad_request");
    assert!(body["message"].as_str().unwrap().contains("JSON"));

    let missing = post_raw(
        "/api/signup",
        "application/json",
        br#"{"username":"x"}"#.to_vec(),
    )
    .await
    .unwrap();
    assert_eq!(missing.status(), 400);
    assert!(missing.text().await.unwrap().contains("password"));

    let not_json = post_raw("/api/login", "text/plain", b"username=alice".to_vec())
        .await
        .unwrap();
    assert_eq!(not_json.status(), 415);

    let huge = "u".repeat(100_000);
    assert_clear_4xx(
        "100 KB user name at sign-up",
        app.device().signup(&huge, "long-enough-pw").await.status(),
    );
    assert_clear_4xx(
        "100 KB user name at login",
        app.device().login(&huge, "long-enough-pw").await.status(),
    );
    let huge_form = app
        .device()
        .post_form("/login", &[("username", huge.as_str()), ("password", "x")])
        .await;
    assert_clear_4xx("100 KB user name in the form", huge_form.status());
    assert_eq!(
        app.device().signup("a b", "long-enough-pw").await.status(),
        400
    );
    assert_eq!(
        app.device().signup("validname", "short").await.status(),
        400
    );

    for name in [&b"../x"[..], b"a/b", b"..", b"a\0b", b"a\x1bb", b""] {
        let (content_type, body) = raw_multipart(name, b"data");
        let response = post_raw("/api/files", &content_type, body).await.unwrap();
        assert_clear_4xx(
            &format!("file name {:?}", String::from_utf8_lossy(name)),
            response.status(),
        );
    }
    assert_eq!(alice.file_count().await, 0);

    let wrong_field = reqwest::multipart::Form::new().text("other", "x");
    let response = alice
        .client
        .post(alice.url("/api/files"))
        .multipart(wrong_field)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    let not_multipart = post_raw("/api/files", "application/json", b"{}".to_vec())
        .await
        .unwrap();
    assert_eq!(not_multipart.status(), 415);
    let truncated = post_raw(
        "/api/files",
        "multipart/form-data; boundary=abc",
        b"--abc\r\nContent-Disp".to_vec(),
    )
    .await
    .unwrap();
    assert_clear_4xx("truncated multipart", truncated.status());

    for id in ["../../etc/passwd", "%00", "x".repeat(5000).as_str()] {
        assert_eq!(alice.link(id).await.status(), 404, "{id}");
    }
    assert_eq!(alice.revoke_session("not-a-session").await.status(), 404);
    let form_missing = app
        .device()
        .post_form("/login", &[("username", "alice")])
        .await;
    assert_eq!(form_missing.status(), 400);
}

#[tokio::test]
async fn every_state_changing_route_refuses_a_foreign_origin_and_forms_need_the_token() {
    let app = AppServer::spawn().await;
    let alice = app.signed_in("alice").await;
    let id = alice.upload_ok("a.txt", b"a").await;
    let session = alice.sessions().await.json::<Vec<Value>>().await.unwrap()[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let json_routes = [
        ("POST", "/api/signup".to_owned()),
        ("POST", "/api/login".to_owned()),
        ("POST", "/api/logout".to_owned()),
        ("POST", "/api/password".to_owned()),
        ("POST", "/api/files".to_owned()),
        ("DELETE", format!("/api/files/{id}")),
        ("POST", format!("/api/files/{id}/link")),
        ("POST", "/api/sessions/revoke-others".to_owned()),
        ("DELETE", format!("/api/sessions/{session}")),
    ];
    let form_routes = [
        "/logout".to_owned(),
        "/password".to_owned(),
        "/files".to_owned(),
        format!("/files/{id}/download"),
        format!("/files/{id}/delete"),
        "/sessions/revoke-others".to_owned(),
        format!("/sessions/{session}/revoke"),
    ];
    let all = json_routes
        .iter()
        .cloned()
        .chain(form_routes.iter().map(|p| ("POST", p.clone())))
        .chain([
            ("POST", "/login".to_owned()),
            ("POST", "/signup".to_owned()),
        ]);
    for (method, path) in all {
        for (header, value) in [
            ("origin", "https://evil.example"),
            ("sec-fetch-site", "cross-site"),
            ("sec-fetch-site", "same-site"),
        ] {
            let response = alice
                .client
                .request(method.parse().unwrap(), alice.url(&path))
                .header(header, value)
                .send()
                .await
                .unwrap();
            assert_eq!(
                response.status(),
                403,
                "{method} {path} with {header}: {value}"
            );
        }
    }
    for path in form_routes.iter().filter(|p| *p != "/files") {
        let fields = [
            ("csrf", "forged"),
            ("current_password", "alice-password"),
            ("new_password", "forged-password"),
            ("confirm", "forged-password"),
        ];
        let response = alice.post_form(path, &fields).await;
        assert_eq!(response.status(), 403, "{path} with a wrong token");
    }
    let response = alice.upload_form("forged", "b.txt", b"x").await;
    assert_eq!(response.status(), 403, "/files with a wrong token");
    assert_eq!(
        alice.me().await.status(),
        200,
        "nothing above signed alice out"
    );
    assert_eq!(
        alice.file_count().await,
        1,
        "nothing above deleted the file"
    );
}
