//! `jwks::parse_jwks`, the public keys the download server trusts, read from a file or a URL:
//! never a panic, and exactly the keys the documented rules allow (OKP/Ed25519, `alg` EdDSA,
//! `use` sig or absent, no `d`, a 32-byte `x`, a non-empty `kid`) end up in the key set.
#![no_main]

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use download_server::jwks::{VerifyingKey, parse_jwks};
use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};

fuzz_target!(|data: &[u8]| {
    let Ok(keys) = parse_jwks(data) else {
        return;
    };
    let doc: Value = serde_json::from_slice(data).expect("accepted a JWKS that is not JSON");
    let entries = doc
        .get("keys")
        .and_then(Value::as_array)
        .unwrap_or_else(|| {
            panic!("accepted a JWKS that is not an object with a keys array: {doc}")
        });
    // An unusable entry is skipped as if absent (so it never displaces an earlier key with its
    // kid); among the usable ones, later entries win a kid, as parse_jwks documents.
    let mut allowed = BTreeMap::new();
    for entry in entries {
        if let Some((kid, x)) = usable(entry).filter(|(_, x)| VerifyingKey::ed25519(x).is_ok()) {
            allowed.insert(kid, x);
        }
    }
    let expected: BTreeSet<&str> = allowed.keys().map(String::as_str).collect();
    let loaded: BTreeSet<&str> = keys.keys().map(String::as_str).collect();
    assert_eq!(loaded, expected, "{doc}");
});

fn usable(entry: &Value) -> Option<(String, Vec<u8>)> {
    let entry = entry.as_object()?;
    let text = |name: &str| entry.get(name).and_then(Value::as_str);
    let kid = text("kid").filter(|kid| !kid.is_empty())?;
    let ed25519 = text("kty") == Some("OKP") && text("crv") == Some("Ed25519");
    let signing = text("alg") == Some("EdDSA")
        && entry.get("use").is_none_or(|u| u.as_str() == Some("sig"))
        && !entry.contains_key("d");
    if !ed25519 || !signing {
        return None;
    }
    let x = URL_SAFE_NO_PAD.decode(text("x")?).ok()?;
    (x.len() == 32).then(|| (kid.to_owned(), x))
}
