//! Every verification failure is a 403 problem and never consumes anything.

use super::forge::{self, assert_invalid};
use integration_tests::DownloadServer;
use jsonwebtoken::{EncodingKey, Header};
use serde_json::json;
use shared::SigningKey;

async fn server_with_file() -> DownloadServer {
    let server = DownloadServer::spawn().await;
    server.put_file("f.txt", b"secret bytes");
    server
}

#[tokio::test]
async fn alg_none_is_refused() {
    let server = server_with_file().await;
    let kid = server.files.key.kid().to_owned();
    let claims = forge::claims_json(&server, "f.txt");
    for alg in ["none", "None", "NONE"] {
        let token = forge::raw(
            &json!({"alg": alg, "typ": "dl+jwt", "kid": kid}),
            &claims,
            b"",
        );
        assert_invalid(server.get(&token).await, alg).await;
        let token = token.trim_end_matches('.').to_owned() + ".";
        assert_invalid(server.get(&token).await, alg).await;
    }
}

#[tokio::test]
async fn hs256_signed_with_the_public_key_is_refused() {
    let server = server_with_file().await;
    let (raw_key, x) = forge::public_key_forms(&server);
    let claims = forge::claims_json(&server, "f.txt");
    let header = forge::hs256_header(server.files.key.kid());
    let jwk_json = serde_json::to_string(&server.files.key.public_jwk()).unwrap();
    for secret in [raw_key.as_slice(), x.as_bytes(), jwk_json.as_bytes()] {
        let token = forge::sign_with(&EncodingKey::from_secret(secret), &header, &claims);
        assert_invalid(server.get(&token).await, "HS256 with public key").await;
    }
}

#[tokio::test]
async fn a_foreign_key_with_the_same_kid_is_refused() {
    let server = server_with_file().await;
    let foreign = SigningKey::generate().unwrap();
    let token = forge::sign_with(
        foreign.encoding_key(),
        &forge::header(&server),
        &forge::claims_json(&server, "f.txt"),
    );
    assert_invalid(server.get(&token).await, "foreign key, our kid").await;
}

#[tokio::test]
async fn an_unknown_kid_is_refused() {
    let server = server_with_file().await;
    let foreign = SigningKey::generate().unwrap();
    let mut header = forge::header(&server);
    header.kid = Some(foreign.kid().to_owned());
    let token = forge::sign_with(
        foreign.encoding_key(),
        &header,
        &forge::claims_json(&server, "f.txt"),
    );
    assert_invalid(server.get(&token).await, "unknown kid").await;
}

#[tokio::test]
async fn stripped_or_flipped_signatures_are_refused() {
    let server = server_with_file().await;
    let token = server.mint("f.txt");
    let (signing_input, signature) = token.rsplit_once('.').unwrap();

    assert_invalid(server.get(&format!("{signing_input}.")).await, "stripped").await;
    assert_invalid(server.get(signing_input).await, "no third part").await;

    let mut flipped = signature.as_bytes().to_vec();
    flipped[10] = if flipped[10] == b'A' { b'B' } else { b'A' };
    let flipped = format!("{signing_input}.{}", String::from_utf8(flipped).unwrap());
    assert_invalid(server.get(&flipped).await, "flipped").await;

    // The original is still good: none of the above consumed it.
    assert_eq!(server.get(&token).await.status(), 200);
}

#[tokio::test]
async fn a_tampered_claim_breaks_the_signature() {
    let server = server_with_file().await;
    server.put_file("other.txt", b"other");
    let token = server.mint("f.txt");
    let parts: Vec<&str> = token.split('.').collect();
    let mut claims = forge::claims_json(&server, "other.txt");
    claims["jti"] = json!(uuid::Uuid::new_v4().to_string());
    let tampered = format!(
        "{}.{}.{}",
        parts[0],
        forge::raw(&json!({}), &claims, b"")
            .split('.')
            .nth(1)
            .unwrap(),
        parts[2]
    );
    assert_invalid(server.get(&tampered).await, "tampered claims").await;
}

#[tokio::test]
async fn the_header_must_say_dl_jwt_name_a_kid_and_carry_no_crit() {
    let server = server_with_file().await;
    let claims = forge::claims_json(&server, "f.txt");

    let mut no_typ = forge::header(&server);
    no_typ.typ = None;
    assert_invalid(
        server.get(&forge::sign(&server, &no_typ, &claims)).await,
        "no typ",
    )
    .await;

    let mut jwt_typ = forge::header(&server);
    jwt_typ.typ = Some("JWT".into());
    assert_invalid(
        server.get(&forge::sign(&server, &jwt_typ, &claims)).await,
        "typ JWT",
    )
    .await;

    let mut no_kid = forge::header(&server);
    no_kid.kid = None;
    assert_invalid(
        server.get(&forge::sign(&server, &no_kid, &claims)).await,
        "no kid",
    )
    .await;

    let mut crit = forge::header(&server);
    crit.crit = Some(vec!["exp".into()]);
    assert_invalid(
        server.get(&forge::sign(&server, &crit, &claims)).await,
        "crit",
    )
    .await;

    // application/dl+jwt is the same media type (RFC 7515 §4.1.9).
    let mut long_typ = forge::header(&server);
    long_typ.typ = Some("application/dl+jwt".into());
    assert_eq!(
        server
            .get(&forge::sign(&server, &long_typ, &claims))
            .await
            .status(),
        200
    );
}

#[tokio::test]
async fn an_embedded_jwk_or_jku_is_never_trusted() {
    let server = server_with_file().await;
    let attacker = SigningKey::generate().unwrap();
    let claims = forge::claims_json(&server, "f.txt");
    let jwk = serde_json::to_value(attacker.public_jwk()).unwrap();
    let header = json!({"alg": "EdDSA", "typ": "dl+jwt", "kid": attacker.kid(), "jwk": jwk, "jku": "http://127.0.0.1:9/jwks.json"});
    let header: Header = serde_json::from_value(header).unwrap();
    let token = jsonwebtoken::encode(&header, &claims, attacker.encoding_key()).unwrap();
    assert_invalid(server.get(&token).await, "embedded jwk").await;
}

#[tokio::test]
async fn wrong_issuer_or_audience_is_refused() {
    let server = server_with_file().await;
    let mut claims = server.claims("f.txt");
    claims.iss = "https://evil.test".into();
    assert_invalid(server.get(&server.sign(&claims)).await, "iss").await;

    let mut claims = server.claims("f.txt");
    claims.aud = "upload".into();
    assert_invalid(server.get(&server.sign(&claims)).await, "aud").await;

    let mut claims = forge::claims_json(&server, "f.txt");
    claims["aud"] = json!(["download", "other"]);
    assert_invalid(
        server
            .get(&forge::sign(&server, &forge::header(&server), &claims))
            .await,
        "aud array",
    )
    .await;
}

#[tokio::test]
async fn missing_or_ill_typed_claims_are_refused() {
    let server = server_with_file().await;
    for member in ["iss", "aud", "sub", "jti", "iat", "exp", "obj"] {
        let mut claims = forge::claims_json(&server, "f.txt");
        claims.as_object_mut().unwrap().remove(member);
        assert_invalid(
            server
                .get(&forge::sign(&server, &forge::header(&server), &claims))
                .await,
            member,
        )
        .await;
    }
    let ill_typed = [
        ("exp", json!("tomorrow")),
        ("iat", json!(1.5)),
        ("jti", json!(42)),
        ("jti", json!("67e5504410b1426f9247bb680e5fe0c8")),
        ("jti", json!("{67e55044-10b1-426f-9247-bb680e5fe0c8}")),
        ("sub", json!(null)),
        ("obj", json!(["a"])),
        ("nbf", json!("soon")),
        ("name", json!(7)),
    ];
    for (member, value) in ill_typed {
        let mut claims = forge::claims_json(&server, "f.txt");
        claims[member] = value.clone();
        let token = forge::sign(&server, &forge::header(&server), &claims);
        assert_invalid(server.get(&token).await, &format!("{member} = {value}")).await;
    }
}

#[tokio::test]
async fn a_lifetime_longer_than_the_maximum_is_refused() {
    let server = server_with_file().await;
    let mut claims = server.claims("f.txt");
    claims.exp = claims.iat + 601;
    assert_invalid(server.get(&server.sign(&claims)).await, "lifetime").await;

    let mut claims = server.claims("f.txt");
    claims.exp = claims.iat + 600;
    assert_eq!(server.get(&server.sign(&claims)).await.status(), 200);
}

#[tokio::test]
async fn nbf_or_iat_in_the_future_is_refused() {
    let server = server_with_file().await;
    let mut claims = server.claims("f.txt");
    claims.nbf = Some(claims.iat + 60);
    assert_invalid(server.get(&server.sign(&claims)).await, "nbf").await;

    let mut claims = server.claims("f.txt");
    claims.iat += 120;
    claims.exp = claims.iat + 60;
    assert_invalid(server.get(&server.sign(&claims)).await, "iat").await;
}

#[tokio::test]
async fn an_obj_outside_the_store_is_refused_and_never_read() {
    let server = DownloadServer::spawn().await;
    // A file beside the store folder, which a traversal would reach.
    std::fs::write(server.files_dir().join("outside.txt"), b"TOP SECRET").unwrap();
    let mut attempts = Vec::new();
    for obj in [
        "../outside.txt",
        "/etc/passwd",
        "a/../../outside.txt",
        "..\\outside.txt",
        "./../outside.txt",
        "files/../../outside.txt",
        "a//b",
        "a\u{0}b",
    ] {
        let mut claims = forge::claims_json(&server, "x");
        claims["obj"] = json!(obj);
        let response = server
            .get(&forge::sign(&server, &forge::header(&server), &claims))
            .await;
        attempts.push((obj, response.status().as_u16()));
        let body = response.bytes().await.unwrap();
        assert!(!body.windows(10).any(|w| w == b"TOP SECRET"), "{obj}");
    }
    assert!(attempts.iter().all(|(_, s)| *s == 403), "{attempts:?}");

    // Percent-encoded dots are just odd names inside the store, never a way out.
    for obj in [
        "%2e%2e/outside.txt",
        "%2E%2E%2Foutside.txt",
        "..%2foutside.txt",
    ] {
        let mut claims = forge::claims_json(&server, "x");
        claims["obj"] = json!(obj);
        let response = server
            .get(&forge::sign(&server, &forge::header(&server), &claims))
            .await;
        let status = response.status().as_u16();
        let body = response.bytes().await.unwrap();
        assert!(matches!(status, 403 | 404), "{obj}: {status}");
        assert!(!body.windows(10).any(|w| w == b"TOP SECRET"), "{obj}");
    }
}

#[tokio::test]
async fn a_directory_or_a_path_through_a_file_names_no_object() {
    let server = DownloadServer::spawn().await;
    server.put_file("dir/inner.txt", b"x");
    for obj in ["dir", "dir/inner.txt/deeper", &"n".repeat(300)] {
        let response = server.get(&server.mint(obj)).await;
        assert_eq!(response.status(), 404, "{obj}");
    }
}

#[tokio::test]
async fn any_alg_other_than_eddsa_is_refused() {
    let server = server_with_file().await;
    let claims = forge::claims_json(&server, "f.txt");
    for alg in ["ES256", "RS256", "PS256", "HS512", "Ed448", "EdDSA "] {
        let token = forge::raw(
            &json!({"alg": alg, "typ": "dl+jwt", "kid": server.files.key.kid()}),
            &claims,
            &[0u8; 64],
        );
        assert_invalid(server.get(&token).await, alg).await;
    }
}
