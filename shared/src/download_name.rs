//! `DownloadName`: a file name that is always safe to put in a `Content-Disposition` header
//! (RFC 6266 with an RFC 8187 `filename*`), whatever bytes the uploader chose.

use std::fmt::{self, Write};

/// Longest name kept, in characters (most file systems allow 255 bytes).
pub const MAX_NAME_CHARS: usize = 200;
const FALLBACK: &str = "download";

#[derive(Clone, PartialEq, Eq)]
/// A download file name that is always safe in a header (see the module doc).
pub struct DownloadName(String);

impl DownloadName {
    /// Sanitises instead of rejecting: control characters and path separators become `_`,
    /// surrounding spaces and dots are trimmed, the length is capped, and an empty result becomes
    /// `download`. A name never carries a directory part.
    pub fn sanitize(raw: &str) -> Self {
        let cleaned: String = raw
            .chars()
            .map(|c| {
                if c.is_control() || c == '/' || c == '\\' {
                    '_'
                } else {
                    c
                }
            })
            .take(MAX_NAME_CHARS)
            .collect();
        let trimmed = cleaned.trim_matches(|c: char| c.is_whitespace() || c == '.');
        if trimmed.is_empty() {
            DownloadName(FALLBACK.to_owned())
        } else {
            DownloadName(trimmed.to_owned())
        }
    }

    /// The sanitised name.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The name in printable ASCII only, for the legacy `filename="…"` parameter: every other
    /// character, and `"`, `\` and `%`, becomes `_`.
    pub fn ascii_fallback(&self) -> String {
        self.0
            .chars()
            .map(|c| match c {
                '"' | '\\' | '%' => '_',
                ' '..='~' => c,
                _ => '_',
            })
            .collect()
    }

    /// `attachment; filename="<ascii>"; filename*=UTF-8''<percent-encoded>`: valid header bytes
    /// (visible ASCII and spaces only) for every input.
    pub fn content_disposition(&self) -> String {
        let mut v = String::with_capacity(self.0.len() * 3 + 48);
        v.push_str("attachment; filename=\"");
        v.push_str(&self.ascii_fallback());
        v.push_str("\"; filename*=UTF-8''");
        for byte in self.0.bytes() {
            if is_attr_char(byte) {
                v.push(byte as char);
            } else {
                let _ = write!(v, "%{byte:02X}");
            }
        }
        v
    }

    /// The name percent-encoded as one URL path segment (for the cosmetic `/d/{token}/{name}`).
    pub fn url_path_segment(&self) -> String {
        let mut out = String::with_capacity(self.0.len() * 3);
        for byte in self.0.bytes() {
            if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
                out.push(byte as char);
            } else {
                let _ = write!(out, "%{byte:02X}");
            }
        }
        out
    }
}

/// RFC 8187 `attr-char`.
fn is_attr_char(b: u8) -> bool {
    b.is_ascii_alphanumeric()
        || matches!(
            b,
            b'!' | b'#' | b'$' | b'&' | b'+' | b'-' | b'.' | b'^' | b'_' | b'`' | b'|' | b'~'
        )
}

impl fmt::Display for DownloadName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for DownloadName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DownloadName({:?})", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header_safe(v: &str) -> bool {
        v.bytes().all(|b| b == b' ' || b.is_ascii_graphic())
    }

    #[test]
    fn plain_names_pass_through() {
        let n = DownloadName::sanitize("report 2026.pdf");
        assert_eq!(n.as_str(), "report 2026.pdf");
        assert_eq!(
            n.content_disposition(),
            "attachment; filename=\"report 2026.pdf\"; filename*=UTF-8''report%202026.pdf"
        );
    }

    #[test]
    fn non_ascii_names_get_an_ascii_fallback_and_an_encoded_utf8_form() {
        let n = DownloadName::sanitize("Übersicht €.txt");
        assert_eq!(n.ascii_fallback(), "_bersicht _.txt");
        assert_eq!(
            n.content_disposition(),
            "attachment; filename=\"_bersicht _.txt\"; filename*=UTF-8''%C3%9Cbersicht%20%E2%82%AC.txt"
        );
    }

    #[test]
    fn hostile_names_still_give_a_valid_header() {
        for raw in [
            "a\"b.txt",
            "x\r\nSet-Cookie: y=1",
            "../../etc/passwd",
            "a\\b",
            "\0",
            "  ..  ",
            "%41.txt",
            "日本語.zip",
        ] {
            let n = DownloadName::sanitize(raw);
            let v = n.content_disposition();
            assert!(header_safe(&v), "{raw:?} -> {v:?}");
            assert!(
                !n.as_str().contains(['/', '\\', '\r', '\n', '\0']),
                "{raw:?}"
            );
            assert_eq!(v.matches('"').count(), 2, "{v}");
        }
        assert_eq!(DownloadName::sanitize("").as_str(), "download");
        assert_eq!(
            DownloadName::sanitize("../../etc/passwd").as_str(),
            "_.._etc_passwd"
        );
    }

    #[test]
    fn long_names_are_capped() {
        assert_eq!(
            DownloadName::sanitize(&"é".repeat(1000))
                .as_str()
                .chars()
                .count(),
            MAX_NAME_CHARS
        );
    }
}
