//! Sign-up, login, logout, password changes, throttling, and the `user add` command.

use integration_tests::app::AppServer;
use serde_json::Value;

#[tokio::test]
async fn signing_up_and_logging_in_gives_a_session_that_knows_who_you_are() {
    let app = AppServer::spawn().await;
    let signup = app.api.signup("Alice", "alice-password").await;
    assert_eq!(signup.status(), 201);
    let created: Value = signup.json().await.unwrap();
    assert_eq!(created["username"], "alice");
    assert_eq!(
        app.api.me().await.status(),
        401,
        "sign-up alone does not sign in"
    );

    let login = app.api.login("alice", "alice-password").await;
    assert_eq!(login.status(), 200);
    assert!(app.api.session_cookie().is_some());
    let me: Value = app.api.me().await.json().await.unwrap();
    assert_eq!(me["username"], "alice");
    assert_eq!(me["id"], created["id"]);
}

#[tokio::test]
async fn a_wrong_password_or_unknown_user_gives_no_session() {
    let app = AppServer::spawn().await;
    assert_eq!(
        app.api.signup("alice", "alice-password").await.status(),
        201
    );
    for (user, password) in [("alice", "wrong-password"), ("nobody", "alice-password")] {
        let response = app.api.login(user, password).await;
        assert_eq!(response.status(), 401);
        assert!(response.headers().get("set-cookie").is_none());
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"], "bad_credentials");
    }
    assert!(app.api.session_cookie().is_none());
    assert_eq!(app.api.me().await.status(), 401);
}

#[tokio::test]
async fn a_taken_user_name_is_a_conflict_whatever_its_case() {
    let app = AppServer::spawn().await;
    assert_eq!(
        app.api.signup("alice", "alice-password").await.status(),
        201
    );
    assert_eq!(
        app.api.signup("ALICE", "other-password").await.status(),
        409
    );
}

#[tokio::test]
async fn sign_up_can_be_disabled() {
    let app = AppServer::spawn_with(|c| c.allow_signup = false).await;
    assert_eq!(
        app.api.signup("alice", "alice-password").await.status(),
        403
    );
    assert_eq!(app.api.get("/signup").await.status(), 403);
}

#[tokio::test]
async fn logout_deletes_the_session_so_its_cookie_is_worthless() {
    let app = AppServer::spawn().await;
    let alice = app.signed_in("alice").await;
    let secret = alice.session_cookie().unwrap();
    assert_eq!(alice.logout().await.status(), 204);
    assert_eq!(alice.me().await.status(), 401);
    let replayed = app.me_with_cookie(&secret).await;
    assert_eq!(replayed.status(), 401);
    assert_eq!(alice.logout().await.status(), 401);
}

#[tokio::test]
async fn every_login_starts_a_new_session() {
    let app = AppServer::spawn().await;
    let alice = app.signed_in("alice").await;
    let first = alice.session_cookie().unwrap();
    assert_eq!(alice.login("alice", "alice-password").await.status(), 200);
    let second = alice.session_cookie().unwrap();
    assert_ne!(first, second);
    // The device's previous session ends with it (no orphaned session, no live old cookie).
    let replayed = app.me_with_cookie(&first).await;
    assert_eq!(replayed.status(), 401);
    let sessions: Vec<Value> = alice.sessions().await.json().await.unwrap();
    assert_eq!(sessions.len(), 1, "{sessions:?}");
}

#[tokio::test]
async fn a_password_change_signs_out_the_other_devices_only() {
    let app = AppServer::spawn().await;
    let laptop = app.signed_in("alice").await;
    let before = laptop.session_cookie().unwrap();
    let phone = app.device();
    assert_eq!(phone.login("alice", "alice-password").await.status(), 200);

    assert_eq!(
        laptop
            .change_password("wrong-password", "new-password-1")
            .await
            .status(),
        403
    );
    assert_eq!(
        phone.me().await.status(),
        200,
        "a refused change signs nobody out"
    );
    assert_eq!(
        laptop
            .change_password("alice-password", "short")
            .await
            .status(),
        400
    );

    assert_eq!(
        laptop
            .change_password("alice-password", "new-password-1")
            .await
            .status(),
        204
    );
    assert_eq!(laptop.me().await.status(), 200);
    assert_eq!(phone.me().await.status(), 401);
    assert_ne!(
        laptop.session_cookie().unwrap(),
        before,
        "this device's session is renewed"
    );
    let stolen = app.me_with_cookie(&before).await;
    assert_eq!(
        stolen.status(),
        401,
        "a cookie from before the change is dead"
    );
    let other = app.device();
    assert_eq!(other.login("alice", "alice-password").await.status(), 401);
    assert_eq!(other.login("alice", "new-password-1").await.status(), 200);
}

#[tokio::test]
async fn repeated_failures_on_one_account_are_throttled_with_retry_after() {
    let app = AppServer::spawn_with(|c| c.login_attempts = 3).await;
    assert_eq!(
        app.api.signup("alice", "alice-password").await.status(),
        201
    );
    assert_eq!(app.api.signup("bob", "bob-password").await.status(), 201);
    for _ in 0..3 {
        assert_eq!(app.api.login("alice", "wrong-password").await.status(), 401);
    }
    let throttled = app.api.login("alice", "alice-password").await;
    assert_eq!(throttled.status(), 429, "even the right password waits");
    let retry_after: u64 = throttled.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=300).contains(&retry_after), "{retry_after}");
    assert!(app.api.session_cookie().is_none());
    assert_eq!(
        app.api.login("bob", "bob-password").await.status(),
        200,
        "other accounts are not locked"
    );
}

#[tokio::test]
async fn repeated_failures_from_one_ip_are_throttled_across_accounts() {
    let app = AppServer::spawn_with(|c| c.login_attempts = 1).await;
    assert_eq!(app.api.signup("zoe", "zoe-password").await.status(), 201);
    for i in 0..10 {
        assert_eq!(
            app.api
                .login(&format!("guess{i}"), "x-password")
                .await
                .status(),
            401
        );
    }
    assert_eq!(app.api.login("zoe", "zoe-password").await.status(), 429);
}

#[tokio::test]
async fn user_add_creates_an_account_from_a_password_on_stdin() {
    let app = AppServer::spawn_with(|c| c.allow_signup = false).await;
    let stdin = std::io::Cursor::new("carol-password\n");
    app_server::cli::add_user(&app.config, "carol", stdin)
        .await
        .unwrap();
    assert_eq!(app.api.login("carol", "carol-password").await.status(), 200);
    let again = app_server::cli::add_user(
        &app.config,
        "carol",
        std::io::Cursor::new("carol-password\n"),
    )
    .await;
    assert!(again.is_err());
    let weak =
        app_server::cli::add_user(&app.config, "dave", std::io::Cursor::new("short\n")).await;
    assert!(weak.is_err());
}

#[tokio::test]
async fn a_first_account_gets_a_random_password_and_only_on_an_empty_database() {
    let app = AppServer::spawn_with(|c| c.allow_signup = false).await;
    let password = app_server::cli::create_first_account(&app.config, "demo")
        .await
        .unwrap()
        .expect("the database had no account");
    assert_eq!(password.len(), 16);
    assert_eq!(app.api.login("demo", &password).await.status(), 200);
    let again = app_server::cli::create_first_account(&app.config, "other")
        .await
        .unwrap();
    assert_eq!(again, None, "an account exists, so none is made");
    assert_eq!(app.api.login("other", &password).await.status(), 401);
}
