//! The app server's `Username::parse` and `FileName::parse` (sign-up / login form fields and the
//! multipart upload's file name): what they accept keeps its documented invariants, parses again
//! to itself, and an accepted file name makes a valid download name.
#![no_main]

use app_server::domain::{FileName, Username};
use libfuzzer_sys::fuzz_target;
use shared::DownloadName;

/// The documented rule (docs/app-server.md, `POST /api/signup`), stated here rather than read from the code under test.
const USERNAME_MAX_LEN: usize = 32;

fuzz_target!(|data: &[u8]| {
    let Ok(raw) = std::str::from_utf8(data) else {
        return;
    };
    let trimmed = raw.trim();

    match Username::parse(raw) {
        Ok(user) => {
            let s = user.as_str();
            assert!((3..=USERNAME_MAX_LEN).contains(&s.len()), "{s:?}");
            assert!(
                s.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b)),
                "{s:?}"
            );
            assert_eq!(s, trimmed.to_ascii_lowercase());
            assert_eq!(Username::parse(s).as_ref(), Ok(&user), "not stable");
            assert_eq!(
                Username::parse(&s.to_ascii_uppercase()).as_ref(),
                Ok(&user),
                "case makes another account"
            );
        }
        Err(_) => assert!(
            !(3..=USERNAME_MAX_LEN).contains(&trimmed.len())
                || !trimmed
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b)),
            "{raw:?} refused though it is a valid user name"
        ),
    }

    if let Ok(name) = FileName::parse(raw) {
        let s = name.as_str();
        assert_eq!(s, trimmed);
        assert!(!s.is_empty() && s.len() <= 255, "{} bytes", s.len());
        assert!(
            !s.chars().any(|c| c.is_control() || is_invisible_or_bidi(c)),
            "{s:?}"
        );
        assert!(!s.contains(['/', '\\']) && s != "." && s != "..", "{s:?}");
        assert_eq!(FileName::parse(s).as_ref(), Ok(&name), "not stable");
        download_token_fuzz::assert_download_name(&DownloadName::sanitize(s));
    }
});

/// What a shown name must never hide: Unicode's Bidi_Control characters (`invoice\u{202E}fdp.exe`
/// reads as `invoiceexe.pdf`), the zero-width space and the byte-order mark.
fn is_invisible_or_bidi(c: char) -> bool {
    matches!(c,
        '\u{061C}' | '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}'
        | '\u{200B}' | '\u{FEFF}')
}
