//! The `dl-token` CLI: key generation and minting for load tests.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use std::path::Path;
use std::process::Command;

fn dl_token(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_dl-token"))
        .args(args)
        .output()
        .unwrap()
}

fn keygen(key: &Path, jwks: &Path) -> std::process::Output {
    dl_token(&[
        "keygen",
        "--key",
        key.to_str().unwrap(),
        "--jwks",
        jwks.to_str().unwrap(),
    ])
}

#[test]
fn keygen_writes_a_private_key_and_a_jwks_whose_kid_is_the_thumbprint() {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("k.pem");
    let jwks = dir.path().join("jwks.json");
    let out = keygen(&key, &jwks);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let loaded = shared::SigningKey::load(&key).unwrap();
    let published: shared::PublicJwks =
        serde_json::from_slice(&std::fs::read(&jwks).unwrap()).unwrap();
    assert_eq!(published.keys, vec![loaded.public_jwk()]);
    assert_eq!(published.keys[0].kid, loaded.kid());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&key).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }
    // Never overwrites an existing key.
    let again = keygen(&key, &jwks);
    assert!(!again.status.success());
}

#[test]
fn mint_writes_one_distinct_token_per_line_in_the_requested_format() {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("k.pem");
    shared::SigningKey::generate()
        .unwrap()
        .save_new(&key)
        .unwrap();
    let out_file = dir.path().join("urls.txt");
    let out = dl_token(&[
        "mint",
        "--key",
        key.to_str().unwrap(),
        "--obj",
        "a/x.bin",
        "--obj",
        "b/ü.txt",
        "--count",
        "50",
        "--format",
        "path",
        "--out",
        out_file.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let text = std::fs::read_to_string(&out_file).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 50);
    assert!(
        lines[0].starts_with("/d/ey") && lines[0].ends_with("/x.bin"),
        "{}",
        lines[0]
    );
    assert!(lines[1].ends_with("/%C3%BC.txt"), "{}", lines[1]);
    let unique: std::collections::HashSet<_> = lines.iter().collect();
    assert_eq!(unique.len(), 50);

    let bad = dl_token(&[
        "mint",
        "--key",
        key.to_str().unwrap(),
        "--obj",
        "../etc/passwd",
    ]);
    assert!(!bad.status.success());
}

#[test]
fn openssl_reads_the_key_keygen_writes_as_the_public_key_in_its_jwks() {
    let dir = tempfile::tempdir().unwrap();
    let (key, jwks) = (dir.path().join("k.pem"), dir.path().join("jwks.json"));
    let out = keygen(&key, &jwks);
    assert!(out.status.success(), "{out:?}");

    let public = test_support::openssl::ed25519_public_key(&key);
    let published: shared::PublicJwks =
        serde_json::from_slice(&std::fs::read(&jwks).unwrap()).unwrap();
    assert_eq!(published.keys[0].x, URL_SAFE_NO_PAD.encode(public));
}

#[test]
fn a_key_made_by_openssl_genpkey_publishes_and_signs() {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("openssl.pem");
    test_support::openssl::generate_ed25519_key(&key);
    let public = URL_SAFE_NO_PAD.encode(test_support::openssl::ed25519_public_key(&key));

    let jwks = dl_token(&["jwks", "--key", key.to_str().unwrap()]);
    assert!(jwks.status.success(), "{jwks:?}");
    let published: shared::PublicJwks = serde_json::from_slice(&jwks.stdout).unwrap();
    assert_eq!(published.keys[0].x, public);

    let minted = dl_token(&[
        "mint",
        "--key",
        key.to_str().unwrap(),
        "--obj",
        "a/x.bin",
        "--format",
        "token",
    ]);
    assert!(minted.status.success(), "{minted:?}");
    let token = String::from_utf8(minted.stdout).unwrap();
    let mut validation = jsonwebtoken::Validation::new(shared::TOKEN_ALG);
    validation.set_audience(&[shared::DEFAULT_AUDIENCE]);
    let decoding = jsonwebtoken::DecodingKey::from_ed_components(&public).unwrap();
    let verified = jsonwebtoken::decode::<shared::Claims>(token.trim(), &decoding, &validation)
        .expect("signed with the openssl key");
    assert_eq!(verified.claims.obj.as_str(), "a/x.bin");
    assert_eq!(
        verified.header.kid.as_deref(),
        Some(published.keys[0].kid.as_str())
    );
}
