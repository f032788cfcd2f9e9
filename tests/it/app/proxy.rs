//! `--trusted-proxies`: `X-Forwarded-For` names the client only when the TCP peer is a trusted
//! proxy; otherwise a spoofed header changes neither the recorded IP nor the throttle key.

use integration_tests::app::AppServer;

#[tokio::test]
async fn without_trusted_proxies_a_spoofed_forwarded_for_is_ignored() {
    let app = AppServer::spawn_with(|c| c.login_attempts = 1).await;
    let alice = app.signed_in("alice").await;
    let spoofer = app.device();
    assert_eq!(
        spoofer
            .login_forwarded_for("203.0.113.9", "alice", "alice-password")
            .await
            .status(),
        200
    );
    assert_eq!(spoofer.current_session_ip().await, "127.0.0.1");
    assert_eq!(alice.current_session_ip().await, "127.0.0.1");

    // Ten failures (the per-IP limit) each claiming another address all count against the peer.
    for i in 0..10 {
        let forged = format!("198.51.100.{i}");
        let status = spoofer
            .login_forwarded_for(&forged, &format!("nobody{i}"), "wrong-password")
            .await
            .status();
        assert_eq!(status, 401, "attempt {i}");
    }
    let response = spoofer
        .login_forwarded_for("192.0.2.200", "fresh-name", "wrong-password")
        .await;
    assert_eq!(
        response.status(),
        429,
        "a new forged address is still 127.0.0.1"
    );
}

#[tokio::test]
async fn behind_a_trusted_proxy_the_forwarded_client_is_recorded_and_throttled() {
    let app = AppServer::spawn_with(|c| {
        c.login_attempts = 1;
        c.trusted_proxies = vec!["127.0.0.1".parse().unwrap()];
    })
    .await;
    let alice = app.signed_in("alice").await;
    assert_eq!(
        alice
            .login_forwarded_for("6.6.6.6, 203.0.113.9", "alice", "alice-password")
            .await
            .status(),
        200
    );
    assert_eq!(
        alice.current_session_ip().await,
        "203.0.113.9",
        "the rightmost address the proxy saw, not what the client prepended"
    );

    let device = app.device();
    for i in 0..10 {
        let status = device
            .login_forwarded_for("198.51.100.1", &format!("nobody{i}"), "wrong-password")
            .await
            .status();
        assert_eq!(status, 401, "attempt {i}");
    }
    let throttled = device
        .login_forwarded_for("198.51.100.1", "fresh-name", "wrong-password")
        .await;
    assert_eq!(throttled.status(), 429);
    assert!(throttled.headers().contains_key("retry-after"));
    let other = device
        .login_forwarded_for("198.51.100.2", "fresh-name", "wrong-password")
        .await;
    assert_eq!(
        other.status(),
        401,
        "another forwarded IP has its own count"
    );
    assert_eq!(
        device
            .login_forwarded_for("198.51.100.2", "alice", "alice-password")
            .await
            .status(),
        200
    );
}
