//! `ObjectPath::parse`, the `obj` claim's type: what it accepts is contained in the store (the
//! project's rules, object_store's `Path`, the local store's file path), and what it refuses
//! breaks one of the rules. `Deserialize` agrees with `parse`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use shared::ObjectPath;
use shared::object_path::MAX_OBJECT_PATH_LEN;

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    let parsed = ObjectPath::parse(s);
    let deserialized = serde_json::from_value::<ObjectPath>(serde_json::Value::from(s));
    assert_eq!(parsed.as_ref().ok(), deserialized.as_ref().ok(), "{s:?}");
    match parsed {
        Ok(obj) => {
            assert_eq!(obj.as_str(), s, "parse rewrote the path");
            download_token_fuzz::fixture().assert_contained(&obj);
        }
        Err(error) => assert!(
            s.is_empty()
                || s.len() > MAX_OBJECT_PATH_LEN
                || s.starts_with('/')
                || s.contains('\\')
                || s.chars().any(char::is_control)
                || s.split('/').any(|seg| matches!(seg, "" | "." | ".."))
                || is_upload_part(s),
            "{s:?} refused ({error}) though it breaks no rule"
        ),
    }
});

/// object_store's local store reserves a last segment `name#<digits>` for in-progress uploads.
fn is_upload_part(s: &str) -> bool {
    let file_name = s.rsplit('/').next().unwrap_or(s);
    file_name
        .split_once('#')
        .is_some_and(|(_, n)| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}
