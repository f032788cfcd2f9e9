//! The download server's side of the edge pattern, over loopback: `POST /v1/redeem` (an edge's
//! redemption of a link it verified) and `GET /.well-known/jwks.json` (the keys it verifies with).

use super::forge;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use futures_util::future::join_all;
use integration_tests::{DownloadServer, S3Origin, ServerFiles};
use serde_json::{Value, json};
use std::time::Duration;

/// The key the tests' edges present; the origin's key file also holds an older one (rotation).
pub(super) const EDGE_KEY: &str = "edge-key-5f0c8e2a9b7d4c1e8f3a6b2d";
pub(super) const OLD_EDGE_KEY: &str = "edge-key-retiring-91d2c7b3";

/// An `--edge-keys` file: two keys, a comment and a blank line.
pub(super) fn edge_keys_file() -> String {
    format!("# retired once every edge has the new key\n{OLD_EDGE_KEY}\n\n{EDGE_KEY}\n")
}

/// A download server over a folder store with `--edge-keys` set.
pub(super) async fn origin() -> DownloadServer {
    let files = ServerFiles::new();
    let keys = files.dir.path().join("edge-keys");
    std::fs::write(&keys, edge_keys_file()).unwrap();
    let mut config = files.config();
    config.edge_keys = Some(keys);
    DownloadServer::start(files, config).await
}

/// A download server process over a real S3 store (s3s-fs) with `--edge-keys` set.
pub(super) async fn s3_origin() -> S3Origin {
    let binary = std::path::Path::new(env!("CARGO_BIN_EXE_download-server-process"));
    S3Origin::start(binary, &edge_keys_file()).await
}

/// `POST {base}/v1/redeem` with `body`, the bearer `key` and the `Idempotency-Key` given.
pub(super) async fn redeem(
    client: &reqwest::Client,
    base: &str,
    key: Option<&str>,
    idempotency_key: Option<&str>,
    body: &Value,
) -> reqwest::Response {
    let mut request = client.post(format!("{base}/v1/redeem")).json(body);
    if let Some(key) = key {
        request = request.bearer_auth(key);
    }
    if let Some(idempotency_key) = idempotency_key {
        request = request.header("idempotency-key", idempotency_key);
    }
    request.send().await.expect("request completes")
}

async fn redeem_at(
    origin: &DownloadServer,
    idempotency_key: Option<&str>,
    body: &Value,
) -> reqwest::Response {
    redeem(
        &origin.client,
        &origin.base,
        Some(EDGE_KEY),
        idempotency_key,
        body,
    )
    .await
}

/// Asserts the answer may be kept by no proxy or CDN, and hands it back.
fn private(response: reqwest::Response) -> reqwest::Response {
    assert_eq!(
        response.headers()["cache-control"],
        "private, no-store",
        "{} answer",
        response.status()
    );
    response
}

/// A granted redeem's JSON.
async fn granted(response: reqwest::Response) -> Value {
    let response = private(response);
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "application/json");
    response.json().await.unwrap()
}

const PROBLEM: &str = "tag:download-server,2026:problem:";

#[tokio::test]
async fn a_redeem_without_an_edge_key_or_with_a_wrong_one_is_401_and_uses_nothing() {
    let origin = origin().await;
    origin.put_file("f.txt", b"kept");
    let token = origin.mint("f.txt");
    let body = json!({ "token": token });
    let near_miss = &EDGE_KEY[..EDGE_KEY.len() - 1];
    let too_long = format!("{EDGE_KEY}0");
    let both = format!("{OLD_EDGE_KEY} {EDGE_KEY}");

    for key in [None, Some(""), Some("not-an-edge-key"), Some(near_miss)] {
        let response = private(redeem(&origin.client, &origin.base, key, None, &body).await);
        assert_eq!(response.status(), 401, "key {key:?}");
        assert_eq!(response.headers()["www-authenticate"], "Bearer");
        let (_, problem) = forge::problem(response).await;
        assert_eq!(problem["type"], format!("{PROBLEM}unauthorized"));
    }
    for key in [too_long.as_str(), both.as_str()] {
        let response = redeem(&origin.client, &origin.base, Some(key), None, &body).await;
        assert_eq!(response.status(), 401, "key {key:?}");
    }
    // The right key under another scheme is no bearer credential.
    let basic = origin
        .client
        .post(format!("{}/v1/redeem", origin.base))
        .header("authorization", format!("Basic {EDGE_KEY}"))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(basic.status(), 401);

    assert_eq!(
        origin.get(&token).await.status(),
        200,
        "the link was unused"
    );
}

#[tokio::test]
async fn either_of_two_rotated_edge_keys_is_accepted() {
    let origin = origin().await;
    origin.put_file("f.txt", b"kept");

    for key in [OLD_EDGE_KEY, EDGE_KEY] {
        let body = json!({ "token": origin.mint("f.txt") });
        let response = redeem(&origin.client, &origin.base, Some(key), None, &body).await;
        assert_eq!(granted(response).await["obj"], "f.txt", "key {key}");
    }
    // The scheme is case-insensitive (RFC 9110 §11.1).
    let lower = origin
        .client
        .post(format!("{}/v1/redeem", origin.base))
        .header("authorization", format!("bearer {EDGE_KEY}"))
        .json(&json!({ "token": origin.mint("f.txt") }))
        .send()
        .await
        .unwrap();
    assert_eq!(granted(lower).await["obj"], "f.txt");
}

#[tokio::test]
async fn a_replayed_idempotency_key_gets_the_same_answer_and_another_key_is_refused() {
    let origin = origin().await;
    origin.put_file("docs/a.pdf", &[5u8; 1234]);
    let token = origin.mint_named("docs/a.pdf", "A.pdf");
    let body = json!({ "token": token });

    let first = granted(redeem_at(&origin, Some("attempt-1"), &body).await).await;
    let replayed = granted(redeem_at(&origin, Some("attempt-1"), &body).await).await;

    assert_eq!(first, replayed);
    let payload = token.split('.').nth(1).unwrap();
    let claims: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap();
    assert_eq!(first["jti"], claims["jti"]);
    assert_eq!(first["obj"], "docs/a.pdf");
    assert_eq!(first["name"], "A.pdf");
    assert_eq!(first["size"], 1234);
    assert_eq!(first["status"], 200);
    assert_eq!(first["content_range"], Value::Null);
    assert_eq!(first["content_type"], "application/pdf");
    assert!(
        first["content_disposition"]
            .as_str()
            .unwrap()
            .starts_with("attachment;")
    );
    assert!(first["exp"].as_i64().unwrap() > shared::time::now_secs());
    assert_eq!(
        first["url"],
        Value::Null,
        "a folder store has no presigned URL"
    );
    assert_eq!(first["url_expires_at"], Value::Null);
    assert!(first["etag"].as_str().is_some_and(|e| e.starts_with('"')));
    let other = private(redeem_at(&origin, Some("attempt-2"), &body).await);
    let (status, problem) = forge::problem(other).await;
    assert_eq!(status, 410);
    assert_eq!(problem["type"], format!("{PROBLEM}already_used"));
    // Without a key, a redeem is a new attempt too.
    assert_eq!(redeem_at(&origin, None, &body).await.status(), 410);
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
            let response = private(redeem_at(origin, Some(&key), body).await);
            let status = response.status().as_u16();
            (status, response.json::<Value>().await.unwrap())
        }
    }))
    .await;

    let granted = answers.iter().filter(|(status, _)| *status == 200).count();
    assert_eq!(granted, 1, "{answers:?}");
    for (status, answer) in answers.iter().filter(|(status, _)| *status != 200) {
        assert_eq!(*status, 410, "{answer}");
        assert_eq!(answer["type"], format!("{PROBLEM}already_used"));
    }
}

#[tokio::test]
async fn a_head_redeem_answers_what_a_get_would_and_uses_nothing() {
    let origin = origin().await;
    origin.put_file("f.bin", &[1u8; 4321]);
    let token = origin.mint("f.bin");

    for _ in 0..3 {
        let body = json!({ "token": token, "method": "HEAD" });
        let probe = granted(redeem_at(&origin, None, &body).await).await;
        assert_eq!(probe["size"], 4321);
        assert_eq!(probe["status"], 200);
        assert_eq!(probe["url"], Value::Null);
    }

    let get = granted(redeem_at(&origin, None, &json!({ "token": token, "method": "GET" })).await);
    assert_eq!(get.await["size"], 4321, "nothing was used");
}

#[tokio::test]
async fn a_range_in_the_body_is_answered_206_with_its_content_range() {
    let origin = origin().await;
    origin.put_file("f.bin", &[3u8; 1000]);

    for (range, content_range) in [
        ("bytes=100-199", "bytes 100-199/1000"),
        ("bytes=900-", "bytes 900-999/1000"),
        ("bytes=-10", "bytes 990-999/1000"),
    ] {
        let body = json!({ "token": origin.mint("f.bin"), "range": range });
        let answer = granted(redeem_at(&origin, None, &body).await).await;
        assert_eq!(answer["status"], 206, "{range}");
        assert_eq!(answer["content_range"], content_range);
        assert_eq!(answer["size"], 1000);
    }
    // A range past the end is refused as a direct download's is, and uses nothing.
    let token = origin.mint("f.bin");
    let outside = private(
        redeem_at(
            &origin,
            None,
            &json!({ "token": token, "range": "bytes=1000-" }),
        )
        .await,
    );
    assert_eq!(outside.headers()["content-range"], "bytes */1000");
    let (status, problem) = forge::problem(outside).await;
    assert_eq!(status, 416);
    assert_eq!(problem["type"], format!("{PROBLEM}range_not_satisfiable"));
    let whole = granted(redeem_at(&origin, None, &json!({ "token": token })).await).await;
    assert_eq!(whole["status"], 200);
}

#[tokio::test]
async fn refusals_are_the_problems_a_direct_download_gets() {
    let origin = origin().await;
    origin.put_file("f.txt", b"hello");
    let expired = {
        let mut claims = origin.claims("f.txt");
        claims.iat -= 3 * 3600;
        claims.exp = claims.iat + 60;
        origin.sign(&claims)
    };
    let used = origin.mint("f.txt");
    assert_eq!(origin.get(&used).await.status(), 200);
    let mut other_audience = forge::claims_json(&origin, "f.txt");
    other_audience["aud"] = json!("somewhere-else");
    let cases = [
        ("garbage", "not.a.token".to_owned(), None),
        (
            "another audience",
            forge::sign(&origin, &forge::header(&origin), &other_audience),
            None,
        ),
        ("expired", expired, None),
        ("missing object", origin.mint("absent.txt"), None),
        ("used", used, None),
        (
            "unsatisfiable range",
            origin.mint("f.txt"),
            Some("bytes=5-"),
        ),
    ];

    for (why, token, range) in &cases {
        let mut body = json!({ "token": token });
        let mut direct = origin.client.get(origin.url(token));
        if let Some(range) = range {
            body["range"] = json!(range);
            direct = direct.header("range", *range);
        }
        let redeemed = private(redeem_at(&origin, None, &body).await);
        let direct = private(direct.send().await.unwrap());
        let (redeemed, direct) = (forge::problem(redeemed).await, forge::problem(direct).await);
        assert!(redeemed.0 >= 400 && redeemed.0 < 500, "{why}: {redeemed:?}");
        assert_eq!(redeemed.0, direct.0, "{why}");
        assert_eq!(redeemed.1["type"], direct.1["type"], "{why}");
    }
}

#[tokio::test]
async fn a_body_that_is_not_a_redeem_request_is_400_and_never_5xx() {
    let origin = origin().await;
    origin.put_file("f.txt", b"x");
    let token = origin.mint("f.txt");

    for body in [
        "",
        "not json",
        "[]",
        "{}",
        r#"{"token": 5}"#,
        &json!({ "token": token, "fetch": true }).to_string(),
        &json!({ "token": token, "range": "bytes=0-1\n" }).to_string(),
    ] {
        let response = origin
            .client
            .post(format!("{}/v1/redeem", origin.base))
            .bearer_auth(EDGE_KEY)
            .header("content-type", "application/json")
            .body(body.to_owned())
            .send()
            .await
            .unwrap();
        let (status, problem) = forge::problem(private(response)).await;
        assert_eq!(status, 400, "{body}");
        assert_eq!(problem["type"], format!("{PROBLEM}bad_request"), "{body}");
    }
    let other_method = redeem_at(&origin, None, &json!({ "token": token, "method": "PUT" })).await;
    let (status, problem) = forge::problem(private(other_method)).await;
    assert_eq!(status, 400, "a method other than GET or HEAD");
    assert_eq!(problem["type"], format!("{PROBLEM}bad_request"));

    assert_eq!(
        origin.get(&token).await.status(),
        200,
        "the link was unused"
    );
}

#[tokio::test]
async fn redeem_is_not_there_without_edge_keys() {
    let origin = DownloadServer::spawn().await;
    origin.put_file("f.txt", b"x");
    let token = origin.mint("f.txt");

    let response = redeem_at(&origin, None, &json!({ "token": token })).await;

    assert_eq!(response.status(), 404);
    assert_eq!(origin.get(&token).await.status(), 200);
}

#[tokio::test]
async fn on_an_s3_store_a_redeem_answers_a_presigned_get_of_the_object() {
    let origin = s3_origin().await;
    let body = integration_tests::download::sample_bytes(100_000, 7);
    origin.s3.put("reports/q3.bin", &body);
    let token = origin.mint("reports/q3.bin");
    let before = shared::time::now_secs();

    let probe = redeem(
        &origin.client,
        &origin.base,
        Some(EDGE_KEY),
        None,
        &json!({ "token": token, "method": "HEAD" }),
    )
    .await;
    let probe = granted(probe).await;
    assert_eq!(
        probe["url"],
        Value::Null,
        "a HEAD gets no bytes: {}",
        origin.log()
    );
    let answer = redeem(
        &origin.client,
        &origin.base,
        Some(EDGE_KEY),
        Some("attempt-1"),
        &json!({ "token": token }),
    )
    .await;
    let answer = granted(answer).await;

    assert_eq!(answer["size"], 100_000);
    let url = answer["url"].as_str().expect("a presigned URL");
    assert!(
        url.starts_with(&format!("{}/", origin.s3.endpoint)),
        "{url}"
    );
    assert!(url.contains("X-Amz-Signature="), "{url}");
    assert!(!url.contains(test_support::s3::SECRET_KEY));
    let expires = answer["url_expires_at"].as_i64().unwrap();
    // --presign-ttl defaults to 60 seconds.
    assert!(
        (before + 60..=shared::time::now_secs() + 60).contains(&expires),
        "{expires}"
    );
    let object = reqwest::get(url).await.unwrap();
    assert_eq!(object.status(), 200);
    assert_eq!(object.bytes().await.unwrap().as_ref(), body.as_slice());

    // A ranged redeem: the URL is for the object, the range is the edge's to ask.
    let ranged = redeem(
        &origin.client,
        &origin.base,
        Some(EDGE_KEY),
        None,
        &json!({ "token": origin.mint("reports/q3.bin"), "range": "bytes=500-999" }),
    )
    .await;
    let ranged = granted(ranged).await;
    assert_eq!(ranged["content_range"], "bytes 500-999/100000");
    let part = reqwest::Client::new()
        .get(ranged["url"].as_str().unwrap())
        .header("range", "bytes=500-999")
        .send()
        .await
        .unwrap();
    assert_eq!(part.status(), 206);
    assert_eq!(part.bytes().await.unwrap().as_ref(), &body[500..1000]);
}

/// A JWKS file of `keys`' public keys.
fn write_jwks(files: &ServerFiles, keys: &[&shared::SigningKey]) {
    let jwks = json!({
        "keys": keys.iter().map(|key| key.public_jwk()).collect::<Vec<_>>(),
    });
    std::fs::write(files.jwks_path(), jwks.to_string()).unwrap();
}

fn kids(jwks: &Value) -> Vec<String> {
    let mut kids: Vec<String> = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|key| key["kid"].as_str().unwrap().to_owned())
        .collect();
    kids.sort();
    kids
}

#[tokio::test]
async fn the_jwks_holds_exactly_the_public_keys_the_origin_trusts() {
    let files = ServerFiles::new();
    let next = shared::SigningKey::generate().unwrap();
    let mut doc = json!({ "keys": [files.key.public_jwk(), next.public_jwk()] });
    // A key the origin does not use (not EdDSA) is not published either.
    let mut foreign = serde_json::to_value(next.public_jwk()).unwrap();
    foreign["kid"] = json!("rs256-key");
    foreign["alg"] = json!("RS256");
    doc["keys"].as_array_mut().unwrap().push(foreign);
    std::fs::write(files.jwks_path(), doc.to_string()).unwrap();
    let config = files.config();
    let origin = DownloadServer::start(files, config).await;

    let response = origin.get_path("/.well-known/jwks.json").await;

    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["content-type"],
        "application/jwk-set+json"
    );
    assert_eq!(
        response.headers()["cache-control"],
        "public, max-age=300, stale-while-revalidate=60, stale-if-error=86400"
    );
    let etag = response.headers()["etag"].to_str().unwrap().to_owned();
    assert!(
        etag.starts_with('"') && etag.ends_with('"'),
        "strong: {etag}"
    );
    let jwks: Value = response.json().await.unwrap();
    let mut trusted = vec![origin.files.key.public_jwk().kid, next.public_jwk().kid];
    trusted.sort();
    assert_eq!(kids(&jwks), trusted);
    for key in jwks["keys"].as_array().unwrap() {
        let published = if key["kid"] == next.public_jwk().kid {
            next.public_jwk()
        } else {
            origin.files.key.public_jwk()
        };
        assert_eq!(key["x"], published.x);
        assert_eq!(key["kty"], "OKP");
        assert_eq!(key["crv"], "Ed25519");
        assert_eq!(key["alg"], "EdDSA");
        assert!(key.get("d").is_none(), "no private member: {key}");
    }
    // A key it publishes verifies tokens: the origin trusts what it says it trusts.
    let minted = shared::Minter::new(next, &origin.config.issuer, &origin.config.audience, 60)
        .mint("u", &shared::ObjectPath::parse("f.txt").unwrap(), None)
        .unwrap()
        .token;
    origin.put_file("f.txt", b"x");
    assert_eq!(origin.get(&minted).await.status(), 200);
}

#[tokio::test]
async fn the_jwks_is_always_a_200_and_its_etag_follows_the_keys() {
    let origin = DownloadServer::spawn_with(|config| config.jwks_refresh = 1).await;
    let first = origin.get_path("/.well-known/jwks.json").await;
    let etag = first.headers()["etag"].clone();
    let body = first.text().await.unwrap();

    // No conditional answer: a 304 is not what jose (which wants exactly 200) can take.
    let again = origin
        .client
        .get(format!("{}/.well-known/jwks.json", origin.base))
        .header("if-none-match", etag.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 200);
    assert_eq!(
        again.headers()["etag"],
        etag,
        "the same keys, the same ETag"
    );
    assert_eq!(again.text().await.unwrap(), body);

    // A key added to the file is published once the origin re-reads it, under a new ETag.
    let next = shared::SigningKey::generate().unwrap();
    write_jwks(&origin.files, &[&origin.files.key, &next]);
    let (new_etag, jwks) = integration_tests::eventually(
        Duration::from_secs(10),
        "the origin publishes the new key",
        || async {
            let response = origin.get_path("/.well-known/jwks.json").await;
            let etag = response.headers()["etag"].clone();
            let jwks: Value = response.json().await.unwrap();
            (kids(&jwks).len() == 2).then_some((etag, jwks))
        },
    )
    .await;
    assert_ne!(new_etag, etag);
    assert!(kids(&jwks).contains(&next.public_jwk().kid));
}
