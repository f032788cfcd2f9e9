//! The edge worker in `deploy/edge` (run under Node.js) in front of the real download server, and
//! the server's side of that pattern: `POST /v1/redeem` and `GET /.well-known/jwks.json`.

use super::forge;
use futures_util::future::join_all;
use integration_tests::{DownloadServer, EdgeWorker, ServerFiles};
use serde_json::{Value, json};

/// The key the tests' edge presents; the origin's key file also holds an older one (rotation).
const EDGE_KEY: &str = "edge-key-5f0c8e2a9b7d4c1e8f3a6b2d";
const OLD_EDGE_KEY: &str = "edge-key-retiring-91d2c7b3";

/// A download server with `--edge-keys` set (two keys, a comment and a blank line).
async fn origin() -> DownloadServer {
    let files = ServerFiles::new();
    let keys = files.dir.path().join("edge-keys");
    std::fs::write(
        &keys,
        format!("# retired once every edge has the new key\n{OLD_EDGE_KEY}\n\n{EDGE_KEY}\n"),
    )
    .unwrap();
    let mut config = files.config();
    config.edge_keys = Some(keys);
    DownloadServer::start(files, config).await
}

/// The worker's settings for `origin`: JWKS from the origin's well-known URL.
fn edge_env(origin: &DownloadServer, delivery: &str, key: &str) -> Value {
    json!({
        "DELIVERY": delivery,
        "ORIGIN": origin.base,
        "ISSUER": origin.config.issuer,
        "AUDIENCE": origin.config.audience,
        "EDGE_KEY": key,
    })
}

/// Every download request the origin answered, whatever the outcome.
async fn requests_seen(origin: &DownloadServer) -> u64 {
    origin
        .metrics()
        .await
        .lines()
        .filter(|line| line.starts_with("download_requests_total{"))
        .map(|line| line.rsplit(' ').next().unwrap().parse::<u64>().unwrap())
        .sum()
}

/// The worker's fetches of anything but the JWKS: what reached the origin or the store.
fn fetches_past_the_keys(edge: &EdgeWorker) -> Vec<Value> {
    edge.fetches()
        .into_iter()
        .filter(|fetch| !fetch["url"].as_str().unwrap().ends_with("/.well-known/jwks.json"))
        .collect()
}

async fn redeem(
    origin: &DownloadServer,
    key: Option<&str>,
    idempotency_key: Option<&str>,
    body: &Value,
) -> reqwest::Response {
    let mut request = origin
        .client
        .post(format!("{}/v1/redeem", origin.base))
        .json(body);
    if let Some(key) = key {
        request = request.bearer_auth(key);
    }
    if let Some(idempotency_key) = idempotency_key {
        request = request.header("idempotency-key", idempotency_key);
    }
    request.send().await.expect("request completes")
}

#[tokio::test]
async fn a_valid_link_through_the_edge_gives_the_exact_bytes_once() {
    let origin = origin().await;
    let body = integration_tests::download::sample_bytes(300_000, 1);
    origin.put_file("reports/q3.bin", &body);
    let edge = EdgeWorker::start(&edge_env(&origin, "origin", EDGE_KEY)).await;
    let token = origin.mint_named("reports/q3.bin", "Q3 report.bin");

    let response = edge.get(&format!("{token}/Q3%20report.bin")).await;

    assert_eq!(response.status(), 200, "{}", edge.log());
    assert_eq!(response.headers()["cache-control"], "private, no-store");
    assert_eq!(response.headers()["content-length"], "300000");
    assert!(
        response.headers()["content-disposition"]
            .to_str()
            .unwrap()
            .contains("Q3%20report.bin")
    );
    assert_eq!(response.bytes().await.unwrap().as_ref(), body.as_slice());

    let again = edge.get(&token).await;
    let (status, problem) = forge::problem(again).await;
    assert_eq!(status, 410);
    assert_eq!(
        problem["type"],
        "tag:download-server,2026:problem:already_used"
    );
}

#[tokio::test]
async fn forged_links_are_refused_at_the_edge_and_never_reach_the_origin() {
    let origin = origin().await;
    origin.put_file("f.txt", b"secret bytes");
    let edge = EdgeWorker::start(&edge_env(&origin, "origin", EDGE_KEY)).await;
    let valid = origin.mint("f.txt");
    let (head, rest) = valid.split_once('.').unwrap();
    let (payload, signature) = rest.split_once('.').unwrap();
    let flipped = {
        let mut bytes = signature.as_bytes().to_vec();
        bytes[10] = if bytes[10] == b'A' { b'B' } else { b'A' };
        String::from_utf8(bytes).unwrap()
    };
    // The last of 86 characters carries 2 bits: jose ignores the other 4, the origin does not.
    let non_canonical = {
        const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        let last = ALPHABET.iter().position(|&c| c == signature.as_bytes()[85]).unwrap();
        format!("{}{}", &signature[..85], char::from(ALPHABET[last | 1]))
    };
    let other_key = shared::SigningKey::generate().unwrap();
    let claims = forge::claims_json(&origin, "f.txt");
    let mut wrong_issuer = claims.clone();
    wrong_issuer["iss"] = json!("https://evil.test");
    let mut wrong_audience = claims.clone();
    wrong_audience["aud"] = json!("somewhere-else");
    let mut untyped = forge::header(&origin);
    untyped.typ = Some("JWT".into());
    let kid = origin.files.key.public_jwk().kid;
    let forged = [
        ("a flipped signature", format!("{head}.{payload}.{flipped}")),
        (
            "a signature with its unused bits set",
            format!("{head}.{payload}.{non_canonical}"),
        ),
        (
            "a signature by another key under the origin's kid",
            forge::sign_with(&other_key.encoding_key(), &forge::header(&origin), &claims),
        ),
        (
            "another issuer",
            forge::sign(&origin, &forge::header(&origin), &wrong_issuer),
        ),
        (
            "another audience",
            forge::sign(&origin, &forge::header(&origin), &wrong_audience),
        ),
        ("typ JWT", forge::sign(&origin, &untyped, &claims)),
        (
            "HS256 keyed with the public key",
            forge::sign_with(
                &jsonwebtoken::EncodingKey::from_secret(
                    &forge::public_key_forms(&origin).0,
                ),
                &forge::hs256_header(&kid),
                &claims,
            ),
        ),
        (
            "alg none",
            forge::raw(
                &json!({"alg": "none", "typ": "dl+jwt", "kid": kid}),
                &claims,
                b"",
            ),
        ),
        ("garbage", "not.a.token".into()),
        ("an over-long token", format!("{valid}{}", "A".repeat(4096))),
    ];

    for (why, token) in &forged {
        forge::assert_invalid(edge.get(token).await, why).await;
    }

    assert_eq!(requests_seen(&origin).await, 0, "the origin saw a download");
    assert_eq!(fetches_past_the_keys(&edge), Vec::<Value>::new());
    // And the link they were made from still works.
    assert_eq!(edge.get(&valid).await.status(), 200);
}

#[tokio::test]
async fn an_expired_link_is_refused_at_the_edge() {
    let origin = origin().await;
    origin.put_file("f.txt", b"late");
    let edge = EdgeWorker::start(&edge_env(&origin, "origin", EDGE_KEY)).await;
    let mut claims = origin.claims("f.txt");
    claims.iat -= 600;
    claims.exp = shared::time::now_secs() - 120;
    let token = origin.sign(&claims);

    let (status, problem) = forge::problem(edge.get(&token).await).await;

    assert_eq!(status, 410);
    assert_eq!(problem["type"], "tag:download-server,2026:problem:expired");
    assert_eq!(requests_seen(&origin).await, 0);
    assert_eq!(fetches_past_the_keys(&edge), Vec::<Value>::new());
}

#[tokio::test]
async fn a_download_opened_before_expiry_resumes_through_the_edge_after_it() {
    let origin = {
        let files = ServerFiles::new();
        let mut config = files.config();
        config.leeway = 0;
        DownloadServer::start(files, config).await
    };
    let body = integration_tests::download::sample_bytes(100_000, 2);
    origin.put_file("big.bin", &body);
    let mut env = edge_env(&origin, "origin", EDGE_KEY);
    env["LEEWAY_SECONDS"] = json!("0");
    let edge = EdgeWorker::start(&env).await;
    let mut claims = origin.claims("big.bin");
    claims.exp = shared::time::now_secs() + 2;
    let token = origin.sign(&claims);
    let first = edge
        .client
        .get(edge.url(&token))
        .header("range", "bytes=0-999")
        .send()
        .await
        .unwrap();
    assert_eq!(first.status(), 206, "{}", edge.log());
    assert_eq!(first.bytes().await.unwrap().as_ref(), &body[..1000]);
    integration_tests::eventually(
        std::time::Duration::from_secs(10),
        "the link expires",
        || async { shared::time::now_secs() > claims.exp + 1 },
    )
    .await;
    // A fresh start with the expired link is refused at the edge...
    assert_eq!(edge.get(&token).await.status(), 410);

    // ...while the resume is left to the origin, which knows the download is open.
    let rest = edge
        .client
        .get(edge.url(&token))
        .header("range", "bytes=1000-")
        .send()
        .await
        .unwrap();

    assert_eq!(rest.status(), 206, "{}", edge.log());
    assert_eq!(rest.bytes().await.unwrap().as_ref(), &body[1000..]);
}

#[tokio::test]
async fn the_jwks_reaches_the_worker_as_jose_needs_it() {
    let origin = origin().await;
    origin.put_file("f.txt", b"x");
    let edge = EdgeWorker::start(&edge_env(&origin, "origin", EDGE_KEY)).await;

    assert_eq!(edge.get(&origin.mint("f.txt")).await.status(), 200);

    let fetched = edge.fetches_of("/.well-known/jwks.json");
    assert_eq!(fetched.len(), 1, "{fetched:?}");
    let (status, headers) = (&fetched[0]["status"], &fetched[0]["headers"]);
    // jose fetches with `redirect: "manual"` and takes 200 only: a redirect would show here.
    assert_eq!(status, 200);
    assert_eq!(headers["content-type"], "application/jwk-set+json");
    let etag = headers["etag"].as_str().expect("an ETag");
    assert!(etag.starts_with('"') && etag.ends_with('"'), "strong: {etag}");
    let cache_control = headers["cache-control"].as_str().unwrap();
    for directive in ["public", "max-age=", "stale-if-error="] {
        assert!(cache_control.contains(directive), "{cache_control}");
    }
    assert!(headers.get("location").is_none());
}

#[tokio::test]
async fn the_jwks_holds_exactly_the_public_keys_the_origin_trusts() {
    let origin = origin().await;

    let response = origin.get_path("/.well-known/jwks.json").await;

    assert_eq!(response.status(), 200);
    let etag = response.headers()["etag"].clone();
    let jwks: Value = response.json().await.unwrap();
    let expected = serde_json::to_value(origin.files.key.public_jwks()).unwrap();
    assert_eq!(jwks, expected);
    for key in jwks["keys"].as_array().unwrap() {
        assert!(key.get("d").is_none(), "no private member: {key}");
    }
    let again = origin
        .client
        .get(format!("{}/.well-known/jwks.json", origin.base))
        .header("if-none-match", etag.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(again.headers()["etag"], etag, "the same keys, the same ETag");
}

#[tokio::test]
async fn a_redeem_with_a_wrong_or_missing_edge_key_is_401_and_uses_nothing() {
    let origin = origin().await;
    origin.put_file("f.txt", b"kept");
    let token = origin.mint("f.txt");
    let body = json!({ "token": token });

    for key in [Some("not-an-edge-key"), Some(""), None] {
        let response = redeem(&origin, key, None, &body).await;
        assert_eq!(response.status(), 401, "key {key:?}");
        assert_eq!(response.headers()["www-authenticate"], "Bearer");
        assert_eq!(response.headers()["cache-control"], "private, no-store");
    }
    // The retiring key still works, and the link was not used by the refusals.
    let granted = redeem(&origin, Some(OLD_EDGE_KEY), None, &body).await;
    assert_eq!(granted.status(), 200);
}

#[tokio::test]
async fn a_worker_with_a_wrong_edge_key_refuses_without_using_the_link() {
    let origin = origin().await;
    origin.put_file("f.txt", b"kept");
    let edge = EdgeWorker::start(&edge_env(&origin, "presigned", "not-an-edge-key")).await;
    let token = origin.mint("f.txt");

    let (status, problem) = forge::problem(edge.get(&token).await).await;

    assert_eq!(status, 500);
    assert_eq!(
        problem["type"],
        "tag:download-server,2026:problem:edge_misconfigured"
    );
    assert!(edge.log().contains("EDGE_KEY"), "{}", edge.log());
    let redeems = edge.fetches_of("/v1/redeem");
    assert_eq!(redeems.len(), 1);
    assert_eq!(redeems[0]["status"], 401);
    assert_eq!(origin.get(&token).await.status(), 200, "the link still works");
}

#[tokio::test]
async fn a_redeem_answers_the_object_and_the_same_for_the_same_idempotency_key() {
    let origin = origin().await;
    origin.put_file("docs/a.pdf", &[5u8; 1234]);
    let token = origin.mint_named("docs/a.pdf", "A.pdf");
    let body = json!({ "token": token });

    let first = redeem(&origin, Some(EDGE_KEY), Some("attempt-1"), &body).await;
    assert_eq!(first.status(), 200);
    assert_eq!(first.headers()["cache-control"], "private, no-store");
    let first: Value = first.json().await.unwrap();
    let replayed = redeem(&origin, Some(EDGE_KEY), Some("attempt-1"), &body).await;
    assert_eq!(replayed.status(), 200);
    let replayed: Value = replayed.json().await.unwrap();

    assert_eq!(first, replayed);
    assert_eq!(first["obj"], "docs/a.pdf");
    assert_eq!(first["name"], "A.pdf");
    assert_eq!(first["size"], 1234);
    assert_eq!(first["status"], 200);
    assert_eq!(first["content_range"], Value::Null);
    assert_eq!(first["url"], Value::Null, "a folder store has no presigned URL");
    assert!(first["etag"].as_str().is_some_and(|e| e.starts_with('"')));
    let other = redeem(&origin, Some(EDGE_KEY), Some("attempt-2"), &body).await;
    let (status, problem) = forge::problem(other).await;
    assert_eq!(status, 410);
    assert_eq!(
        problem["type"],
        "tag:download-server,2026:problem:already_used"
    );
}

#[tokio::test]
async fn of_64_concurrent_redeems_of_one_link_exactly_one_is_granted() {
    let origin = origin().await;
    origin.put_file("f.bin", &[9u8; 200_000]);
    let body = json!({ "token": origin.mint("f.bin") });

    let answers = join_all((0..64).map(|i| {
        let (origin, body) = (&origin, &body);
        async move {
            let key = format!("attempt-{i}");
            let response = redeem(origin, Some(EDGE_KEY), Some(&key), body).await;
            let status = response.status().as_u16();
            (status, response.json::<Value>().await.unwrap())
        }
    }))
    .await;

    let granted = answers.iter().filter(|(status, _)| *status == 200).count();
    assert_eq!(granted, 1, "{answers:?}");
    for (status, answer) in answers.iter().filter(|(status, _)| *status != 200) {
        assert_eq!(*status, 410, "{answer}");
        assert_eq!(
            answer["type"],
            "tag:download-server,2026:problem:already_used"
        );
    }
}

#[tokio::test]
async fn a_head_redeem_uses_nothing_and_a_head_through_the_edge_neither() {
    let origin = origin().await;
    origin.put_file("f.bin", &[1u8; 4321]);
    let token = origin.mint("f.bin");

    let probe = redeem(
        &origin,
        Some(EDGE_KEY),
        None,
        &json!({ "token": token, "method": "HEAD" }),
    )
    .await;
    assert_eq!(probe.status(), 200);
    let edge = EdgeWorker::start(&edge_env(&origin, "presigned", EDGE_KEY)).await;
    let head = edge.client.head(edge.url(&token)).send().await.unwrap();
    assert_eq!(head.status(), 200, "{}", edge.log());
    assert_eq!(head.headers()["content-length"], "4321");
    assert_eq!(head.headers()["accept-ranges"], "bytes");
    assert_eq!(head.headers()["cache-control"], "private, no-store");

    assert_eq!(origin.get(&token).await.status(), 200, "nothing was used");
}

#[tokio::test]
async fn redeem_is_not_there_without_edge_keys() {
    let origin = DownloadServer::spawn().await;
    origin.put_file("f.txt", b"x");

    let response = redeem(
        &origin,
        Some(EDGE_KEY),
        None,
        &json!({ "token": origin.mint("f.txt") }),
    )
    .await;

    assert_eq!(response.status(), 404);
}
