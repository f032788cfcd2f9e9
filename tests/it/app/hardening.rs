//! Findings of the security review, each pinned by a test: parallel guesses cannot outrun the
//! throttle, an IPv6 /64 is one throttle key, and file names cannot hide their real extension
//! behind text-direction characters. Case variants of a name were already one key; pinned too.

use futures_util::future::join_all;
use integration_tests::app::AppServer;

#[tokio::test]
async fn parallel_guesses_cannot_outrun_the_account_throttle() {
    let app = AppServer::spawn_with(|c| c.login_attempts = 3).await;
    app.signed_in("alice").await;
    let attacker = app.device();
    let guesses = (0..12).map(|i| {
        let attacker = attacker.clone();
        async move {
            attacker
                .login("alice", &format!("guess-{i}"))
                .await
                .status()
        }
    });
    let statuses = join_all(guesses).await;
    let checked = statuses.iter().filter(|s| s.as_u16() == 401).count();
    let refused = statuses.iter().filter(|s| s.as_u16() == 429).count();
    assert_eq!(checked + refused, 12, "{statuses:?}");
    assert!(
        checked <= 3,
        "{checked} passwords were checked: {statuses:?}"
    );
}

#[tokio::test]
async fn case_and_space_variants_of_a_name_share_one_count() {
    let app = AppServer::spawn_with(|c| c.login_attempts = 3).await;
    app.signed_in("alice").await;
    let attacker = app.device();
    for name in ["ALICE", " Alice", "alice\u{3000}"] {
        assert_eq!(attacker.login(name, "wrong-guess").await.status(), 401);
    }
    for name in ["aLiCe", "alice"] {
        assert_eq!(attacker.login(name, "alice-password").await.status(), 429);
    }
}

#[tokio::test]
async fn addresses_of_one_ipv6_network_share_a_throttle_count() {
    let app = AppServer::spawn_with(|c| {
        c.login_attempts = 1;
        c.trusted_proxies = vec!["127.0.0.1".parse().unwrap()];
    })
    .await;
    let device = app.device();
    for i in 0..10 {
        let ip = format!("2001:db8:0:7::{:x}", i + 1);
        let status = device
            .login_forwarded_for(&ip, &format!("nobody{i}"), "wrong-password")
            .await
            .status();
        assert_eq!(status, 401, "attempt {i}");
    }
    let same_net = device
        .login_forwarded_for("2001:db8:0:7:abcd::99", "fresh-name", "wrong-password")
        .await;
    assert_eq!(same_net.status(), 429, "a new address in the same /64");
    let other_net = device
        .login_forwarded_for("2001:db8:0:8::1", "fresh-name", "wrong-password")
        .await;
    assert_eq!(other_net.status(), 401);
}

#[tokio::test]
async fn file_names_with_text_direction_tricks_are_refused() {
    let app = AppServer::spawn().await;
    let alice = app.signed_in("alice").await;
    for name in ["invoice\u{202E}fdp.exe", "a\u{2067}b.txt", "x\u{200B}y.txt"] {
        let response = alice.upload(name, b"MZ".to_vec()).await;
        assert_eq!(response.status(), 400, "{name:?}");
    }
    assert_eq!(alice.file_count().await, 0);
    assert_eq!(alice.upload("ok.txt", b"x".to_vec()).await.status(), 201);
}
