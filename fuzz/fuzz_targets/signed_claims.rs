//! The claim checks behind the signature: the input is `header JSON \0 payload JSON` (or only a
//! payload, under the contract header), signed with the fuzz key and verified. Whatever the
//! verifier accepts must have the contract header and claims that keep `obj` inside the store.
#![no_main]

use libfuzzer_sys::fuzz_target;
use serde_json::Value;

fuzz_target!(|data: &[u8]| {
    let fixture = download_token_fuzz::fixture();
    let (header, payload) = match data.iter().position(|&b| b == 0) {
        Some(at) => (data[..at].to_vec(), &data[at + 1..]),
        None => (fixture.contract_header(), data),
    };
    let token = fixture.sign(&header, payload);

    let before = shared::time::now_secs();
    let verified = fixture.verify(&token);
    let after = shared::time::now_secs();
    let Ok(claims) = verified else {
        return;
    };

    let header: Value =
        serde_json::from_slice(&header).expect("accepted a header that is not JSON");
    let header = header
        .as_object()
        .unwrap_or_else(|| panic!("accepted a header that is not a JSON object: {header}"));
    assert_eq!(
        header.get("alg").and_then(Value::as_str),
        Some("EdDSA"),
        "alg"
    );
    let typ = header
        .get("typ")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let typ = typ.strip_prefix("application/").unwrap_or(typ);
    assert!(typ.eq_ignore_ascii_case(shared::TOKEN_TYP), "typ {typ:?}");
    assert!(!header.contains_key("crit"), "accepted a header with crit");
    assert_eq!(
        header.get("kid").and_then(Value::as_str),
        Some(fixture.key.kid()),
        "kid"
    );
    let payload: Value =
        serde_json::from_slice(payload).expect("accepted claims that are not JSON");
    assert!(
        payload.is_object(),
        "accepted claims that are not a JSON object: {payload}"
    );
    fixture.assert_accepted(&claims, before, after);
});
