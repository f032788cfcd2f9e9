//! Properties of the parse-don't-validate types, over arbitrary input.

use proptest::prelude::*;
use shared::{DownloadName, Jti, ObjectPath};

proptest! {
    #[test]
    fn any_name_gives_a_header_value_of_visible_ascii(raw in any::<String>()) {
        let name = DownloadName::sanitize(&raw);
        let header = name.content_disposition();
        prop_assert!(header.bytes().all(|b| b == b' ' || b.is_ascii_graphic()), "{header:?}");
        prop_assert_eq!(header.matches('"').count(), 2);
        prop_assert!(!name.as_str().contains(['/', '\\']));
        prop_assert!(!name.as_str().chars().any(char::is_control));
        prop_assert!(!name.as_str().is_empty());
        let segment = name.url_path_segment();
        prop_assert!(segment.bytes().all(|b| b.is_ascii_alphanumeric() || b"-._~%".contains(&b)));
    }

    #[test]
    fn an_accepted_object_path_never_leaves_its_root(raw in "[a-z./\\\\%\\x00\\n]{0,24}") {
        if let Ok(path) = ObjectPath::parse(&raw) {
            let joined = std::path::Path::new("/root/store").join(path.as_str());
            let mut depth = 0i32;
            for c in joined.strip_prefix("/root/store").unwrap().components() {
                match c {
                    std::path::Component::Normal(_) => depth += 1,
                    other => prop_assert!(false, "{raw:?} has {other:?}"),
                }
            }
            prop_assert!(depth >= 1);
        }
    }

    #[test]
    fn jti_accepts_exactly_the_hyphenated_form(raw in "[0-9a-fA-F-]{30,40}") {
        let hyphenated = raw.len() == 36
            && raw.char_indices().all(|(i, c)| if [8, 13, 18, 23].contains(&i) { c == '-' } else { c.is_ascii_hexdigit() });
        prop_assert_eq!(Jti::parse(&raw).is_ok(), hyphenated, "{}", raw);
    }
}
