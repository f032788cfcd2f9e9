//! With every password-hash slot busy and no queue, whatever hashes a password (API login and
//! sign-up, the login form) is turned away with 503, `Retry-After` and a readable message,
//! instead of queueing without bound.

use futures_util::future::join_all;
use integration_tests::app::AppServer;
use reqwest::Response;

/// Status, `Retry-After` and body of each answer.
async fn answers(responses: Vec<Response>) -> Vec<(u16, bool, String)> {
    let mut out = Vec::new();
    for response in responses {
        let status = response.status().as_u16();
        let retry_after = response.headers().contains_key("retry-after");
        out.push((status, retry_after, response.text().await.unwrap()));
    }
    out
}

/// Every answer is `ok` or a 503 that says when to come back and what happened; at least one
/// is the 503 (sixteen hashes of tens of milliseconds each, sent at once, for one slot).
fn busy_or(ok: u16, answers: &[(u16, bool, String)], says: &str) {
    for (status, retry_after, body) in answers {
        match status {
            503 => {
                assert!(retry_after, "{body}");
                assert!(body.contains(says), "{body}");
            }
            other => assert_eq!(*other, ok, "{body}"),
        }
    }
    assert!(
        answers.iter().any(|(status, ..)| *status == 503),
        "nobody was turned away: {answers:?}"
    );
}

#[tokio::test]
async fn with_every_hash_slot_busy_the_api_and_the_forms_answer_503_with_retry_after() {
    let app = AppServer::spawn_with(|c| {
        c.password_hashes = Some(1);
        c.password_queue = 0;
    })
    .await;
    let api_logins = (0..16).map(|i| {
        let device = app.device();
        async move { device.login(&format!("nobody{i}"), "wrong-guess").await }
    });
    let form_logins = (0..16).map(|i| {
        let device = app.device();
        async move {
            let name = format!("somebody{i}");
            device
                .post_form(
                    "/login",
                    &[("username", &name), ("password", "wrong-guess")],
                )
                .await
        }
    });
    let signups = (0..16).map(|i| {
        let device = app.device();
        async move { device.signup(&format!("new{i}"), "new-password").await }
    });
    let (api_logins, form_logins, signups) = tokio::join!(
        join_all(api_logins),
        join_all(form_logins),
        join_all(signups)
    );
    busy_or(401, &answers(api_logins).await, r#""error":"busy""#);
    busy_or(401, &answers(form_logins).await, "The server is busy");
    busy_or(201, &answers(signups).await, r#""error":"busy""#);
}
