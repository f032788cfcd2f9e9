//! The edge worker in `deploy/edge`, run under Node.js with the real jose, in front of the real
//! download server: it verifies links with the server's remote JWKS and serves them by
//! `POST /v1/redeem` and a presigned GET (S3 store) or by passing them on (folder store).

use super::forge;
use super::redeem::{EDGE_KEY, origin, s3_origin};
use download_server::Config;
use integration_tests::{DownloadServer, EdgeWorker, ServerFiles};
use serde_json::{Value, json};

/// The worker's settings for `origin`: JWKS from the origin's well-known URL.
fn edge_env(base: &str, config: &Config, delivery: &str, key: &str) -> Value {
    json!({
        "DELIVERY": delivery,
        "ORIGIN": base,
        "ISSUER": config.issuer,
        "AUDIENCE": config.audience,
        "EDGE_KEY": key,
    })
}

/// The worker in `presigned` mode with the edge key, in front of the origin at `base`.
async fn presigned_edge(base: &str, config: &Config) -> EdgeWorker {
    EdgeWorker::start(&edge_env(base, config, "presigned", EDGE_KEY)).await
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
        .filter(|fetch| {
            !fetch["url"]
                .as_str()
                .unwrap()
                .ends_with("/.well-known/jwks.json")
        })
        .collect()
}

#[tokio::test]
async fn a_valid_link_through_the_edge_gives_the_exact_bytes_once() {
    let origin = origin().await;
    let body = integration_tests::download::sample_bytes(300_000, 1);
    origin.put_file("reports/q3.bin", &body);
    let edge = EdgeWorker::start(&edge_env(&origin.base, &origin.config, "origin", EDGE_KEY)).await;
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
    let edge = EdgeWorker::start(&edge_env(&origin.base, &origin.config, "origin", EDGE_KEY)).await;
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
        let last = ALPHABET
            .iter()
            .position(|&c| c == signature.as_bytes()[85])
            .unwrap();
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
            forge::sign_with(other_key.encoding_key(), &forge::header(&origin), &claims),
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
                &jsonwebtoken::EncodingKey::from_secret(&forge::public_key_forms(&origin).0),
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
    let edge = EdgeWorker::start(&edge_env(&origin.base, &origin.config, "origin", EDGE_KEY)).await;
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
    let mut env = edge_env(&origin.base, &origin.config, "origin", EDGE_KEY);
    env["LEEWAY_SECONDS"] = json!("0");
    let edge = EdgeWorker::start(&env).await;
    let mut claims = origin.claims("big.bin");
    claims.exp = shared::time::now_secs() + 2;
    let token = origin.sign(&claims);
    let first = edge.get_range(&token, "bytes=0-999").await;
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
    let rest = edge.get_range(&token, "bytes=1000-").await;

    assert_eq!(rest.status(), 206, "{}", edge.log());
    assert_eq!(rest.bytes().await.unwrap().as_ref(), &body[1000..]);
}

#[tokio::test]
async fn the_jwks_reaches_the_worker_as_jose_needs_it() {
    let origin = origin().await;
    origin.put_file("f.txt", b"x");
    let edge = EdgeWorker::start(&edge_env(&origin.base, &origin.config, "origin", EDGE_KEY)).await;

    assert_eq!(edge.get(&origin.mint("f.txt")).await.status(), 200);

    let fetched = edge.fetches_of("/.well-known/jwks.json");
    assert_eq!(fetched.len(), 1, "{fetched:?}");
    let (status, headers) = (&fetched[0]["status"], &fetched[0]["headers"]);
    // jose fetches with `redirect: "manual"` and takes 200 only: a redirect would show here.
    assert_eq!(status, 200);
    assert_eq!(headers["content-type"], "application/jwk-set+json");
    let etag = headers["etag"].as_str().expect("an ETag");
    assert!(
        etag.starts_with('"') && etag.ends_with('"'),
        "strong: {etag}"
    );
    let cache_control = headers["cache-control"].as_str().unwrap();
    for directive in ["public", "max-age=", "stale-if-error="] {
        assert!(cache_control.contains(directive), "{cache_control}");
    }
    assert!(headers.get("location").is_none());
}

#[tokio::test]
async fn a_worker_with_a_wrong_edge_key_refuses_without_using_the_link() {
    let origin = origin().await;
    origin.put_file("f.txt", b"kept");
    let edge = EdgeWorker::start(&edge_env(
        &origin.base,
        &origin.config,
        "presigned",
        "not-an-edge-key",
    ))
    .await;
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
    assert_eq!(
        origin.get(&token).await.status(),
        200,
        "the link still works"
    );
}

#[tokio::test]
async fn a_presigned_worker_before_a_folder_store_says_so_and_leaves_the_link_unused() {
    let origin = origin().await;
    origin.put_file("f.txt", b"kept");
    let edge = presigned_edge(&origin.base, &origin.config).await;
    let token = origin.mint("f.txt");

    let (status, problem) = forge::problem(edge.get(&token).await).await;

    assert_eq!(status, 500);
    assert_eq!(
        problem["type"],
        "tag:download-server,2026:problem:edge_misconfigured"
    );
    assert!(
        edge.log().contains("DELIVERY = \"origin\""),
        "{}",
        edge.log()
    );
    let reported = reports(&edge, 1).await;
    assert_eq!(reported[0]["status"], 204);
    assert_eq!(
        origin.get(&token).await.status(),
        200,
        "the link still works"
    );
}

#[tokio::test]
async fn a_head_through_the_edge_uses_nothing() {
    let origin = origin().await;
    origin.put_file("f.bin", &[1u8; 4321]);
    let token = origin.mint("f.bin");
    let edge = presigned_edge(&origin.base, &origin.config).await;

    let head = edge.client.head(edge.url(&token)).send().await.unwrap();

    assert_eq!(head.status(), 200, "{}", edge.log());
    assert_eq!(head.headers()["content-length"], "4321");
    assert_eq!(head.headers()["accept-ranges"], "bytes");
    assert_eq!(head.headers()["cache-control"], "private, no-store");
    let redeems = edge.fetches_of("/v1/redeem");
    assert_eq!(redeems.len(), 1, "answered from a HEAD redeem");
    assert_eq!(origin.get(&token).await.status(), 200, "nothing was used");
}

#[tokio::test]
async fn a_valid_link_through_the_edge_is_served_once_from_the_store() {
    let origin = s3_origin().await;
    let body = integration_tests::download::sample_bytes(300_000, 3);
    origin.s3.put("reports/q3.bin", &body);
    let edge = presigned_edge(&origin.base, &origin.config).await;
    let token = origin.mint("reports/q3.bin");

    let response = edge.get(&format!("{token}/q3.bin")).await;

    assert_eq!(response.status(), 200, "{}\n{}", edge.log(), origin.log());
    assert_eq!(response.headers()["cache-control"], "private, no-store");
    assert_eq!(response.headers()["content-length"], "300000");
    assert!(response.headers().get("x-amz-request-id").is_none());
    assert_eq!(response.bytes().await.unwrap().as_ref(), body.as_slice());
    let objects: Vec<Value> = edge
        .fetches()
        .into_iter()
        .filter(|fetch| {
            fetch["url"]
                .as_str()
                .unwrap()
                .starts_with(&origin.s3.endpoint)
        })
        .collect();
    assert_eq!(
        objects.len(),
        1,
        "the bytes came from the store: {objects:?}"
    );
    assert_eq!(objects[0]["status"], 200);

    let again = edge.get(&token).await;
    let (status, problem) = forge::problem(again).await;
    assert_eq!(status, 410);
    assert_eq!(
        problem["type"],
        "tag:download-server,2026:problem:already_used"
    );
    let redeems = edge.fetches_of("/v1/redeem");
    assert_eq!(redeems.len(), 2, "{redeems:?}");
    assert_eq!(redeems[1]["status"], 410);

    // A range: the edge asks the store for exactly the granted bytes.
    let ranged = edge
        .get_range(&origin.mint("reports/q3.bin"), "bytes=1000-1999")
        .await;
    assert_eq!(ranged.status(), 206);
    assert_eq!(ranged.headers()["content-range"], "bytes 1000-1999/300000");
    assert_eq!(ranged.bytes().await.unwrap().as_ref(), &body[1000..2000]);
}

#[tokio::test]
async fn with_the_origin_down_the_edge_fails_closed() {
    let mut origin = s3_origin().await;
    origin.s3.put("f.bin", b"the bytes");
    let env = edge_env(&origin.base, &origin.config, "presigned", EDGE_KEY);
    let warm = EdgeWorker::start(&env).await;
    assert_eq!(
        warm.get(&origin.mint("f.bin")).await.status(),
        200,
        "{}",
        warm.log()
    );
    let token = origin.mint("f.bin");

    origin.kill();

    // An edge that holds the keys verifies the link, but without the origin's word it serves
    // nothing; one that never had the keys cannot even verify it.
    let cold = EdgeWorker::start(&env).await;
    for edge in [&warm, &cold] {
        let response = edge.get(&token).await;
        assert_eq!(response.headers()["retry-after"], "5");
        let (status, problem) = forge::problem(response).await;
        assert_eq!(status, 503, "{}", edge.log());
        assert_eq!(
            problem["type"],
            "tag:download-server,2026:problem:origin_unavailable"
        );
    }
    let tried = |edge: &EdgeWorker, path: &str| -> Vec<Value> {
        edge.fetches_of(path)
            .into_iter()
            .filter(|fetch| fetch["status"].is_null())
            .collect()
    };
    assert_eq!(tried(&warm, "/v1/redeem").len(), 2, "one retry, same key");
    assert_eq!(tried(&cold, "/.well-known/jwks.json").len(), 1);
    assert_eq!(fetches_past_the_keys(&cold), Vec::<Value>::new());
    let from_store = |edge: &EdgeWorker| {
        edge.fetches()
            .into_iter()
            .filter(|fetch| {
                fetch["url"]
                    .as_str()
                    .unwrap()
                    .starts_with(&origin.s3.endpoint)
            })
            .count()
    };
    assert_eq!(from_store(&warm), 1, "only the warm-up's object");
    assert_eq!(from_store(&cold), 0);
}

/// The worker's reports to the origin of what it sent, once there are `count`.
async fn reports(edge: &EdgeWorker, count: usize) -> Vec<Value> {
    integration_tests::eventually(
        std::time::Duration::from_secs(10),
        "the edge reports what it sent",
        || async {
            let reports = edge.fetches_of("/v1/handoff/report");
            (reports.len() >= count).then_some(reports)
        },
    )
    .await
}

#[tokio::test]
async fn the_edge_reports_a_delivered_copy_so_the_link_is_spent() {
    let origin = s3_origin().await;
    let body = integration_tests::download::sample_bytes(300_000, 4);
    origin.s3.put("f.bin", &body);
    let edge = presigned_edge(&origin.base, &origin.config).await;
    let token = origin.mint("f.bin");

    let whole = edge.get(&token).await;
    assert_eq!(whole.bytes().await.unwrap().as_ref(), body.as_slice());

    let reported = reports(&edge, 1).await;
    assert_eq!(reported[0]["status"], 204, "{}", edge.log());
    // Every byte went out and no stream is left: not even a short range is served again.
    let (_, problem) = forge::problem(edge.get_range(&token, "bytes=0-99").await).await;
    assert_eq!(
        problem["type"],
        "tag:download-server,2026:problem:already_used"
    );
}

#[tokio::test]
async fn a_download_cut_at_the_edge_resumes_through_it() {
    let origin = s3_origin().await;
    // What the edge reports is what it handed on, more than the client got by what sat in the
    // buffers between them (megabytes on loopback); a resume sends that again, within the
    // allowance for bytes sent twice: S/16 = 8 MiB here.
    let body = integration_tests::download::sample_bytes(128 << 20, 5);
    origin.s3.put("big.bin", &body);
    let edge = presigned_edge(&origin.base, &origin.config).await;
    let token = origin.mint("big.bin");

    let address = edge.base.trim_start_matches("http://").parse().unwrap();
    let proxy = integration_tests::cut_proxy::CutProxy::start(address, [1 << 20]).await;
    let mut cut = edge
        .client
        .get(proxy.url(&format!("/d/{token}")))
        .send()
        .await
        .unwrap();
    assert_eq!(cut.status(), 200, "{}", edge.log());
    let mut received = Vec::new();
    while let Ok(Some(chunk)) = cut.chunk().await {
        received.extend_from_slice(&chunk);
    }
    assert_eq!(proxy.cut_count(), 1);
    assert!(!received.is_empty() && received.len() < body.len());
    let reported = reports(&edge, 1).await;
    assert_eq!(reported[0]["status"], 204, "{}", edge.log());

    let rest = edge
        .get_range(&token, &format!("bytes={}-", received.len()))
        .await;

    assert_eq!(rest.status(), 206, "{}", edge.log());
    assert_eq!(
        rest.bytes().await.unwrap().as_ref(),
        &body[received.len()..]
    );
    assert_eq!(received.as_slice(), &body[..received.len()]);
}
