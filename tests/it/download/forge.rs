//! Building tokens the way an attacker or a buggy issuer would.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use integration_tests::DownloadServer;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::Value;

/// The contract header for this server's key.
pub fn header(server: &DownloadServer) -> Header {
    server.minter().header()
}

/// Valid claims as JSON, for tests that need ill-typed or missing members.
pub fn claims_json(server: &DownloadServer, obj: &str) -> Value {
    serde_json::to_value(server.claims(obj)).unwrap()
}

/// Signs any header and claims with the server's real key.
pub fn sign(server: &DownloadServer, header: &Header, claims: &Value) -> String {
    jsonwebtoken::encode(header, claims, server.files.key.encoding_key()).unwrap()
}

/// Signs with another key.
pub fn sign_with(key: &EncodingKey, header: &Header, claims: &Value) -> String {
    jsonwebtoken::encode(header, claims, key).unwrap()
}

/// `header.claims.signature` from raw JSON, with whatever signature bytes are given.
pub fn raw(header: &Value, claims: &Value, signature: &[u8]) -> String {
    format!(
        "{}.{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string()),
        URL_SAFE_NO_PAD.encode(signature)
    )
}

pub fn hs256_header(kid: &str) -> Header {
    let mut h = Header::new(Algorithm::HS256);
    h.typ = Some("dl+jwt".into());
    h.kid = Some(kid.into());
    h
}

/// The server's public key as raw bytes and as its JWK `x` string.
pub fn public_key_forms(server: &DownloadServer) -> (Vec<u8>, String) {
    let x = server.files.key.public_jwk().x;
    (URL_SAFE_NO_PAD.decode(&x).unwrap(), x)
}

pub async fn problem(response: reqwest::Response) -> (u16, Value) {
    let status = response.status().as_u16();
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json",
        "status {status} should carry problem+json"
    );
    (status, response.json().await.unwrap())
}

/// Asserts a 403 invalid_token problem.
pub async fn assert_invalid(response: reqwest::Response, why: &str) {
    let (status, body) = problem(response).await;
    assert_eq!(status, 403, "{why}: {body}");
    assert_eq!(
        body["type"], "tag:download-server,2026:problem:invalid_token",
        "{why}"
    );
}
