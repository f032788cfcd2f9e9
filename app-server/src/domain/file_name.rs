//! The name of an uploaded file as a person gave it: one path segment, printable, at most 255
//! bytes. It is only ever shown (escaped) and put in a token's `name` (sanitised again there);
//! the object's path in the store never depends on it.

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileName(String);

impl FileName {
    pub fn parse(raw: &str) -> Result<Self, &'static str> {
        let name = raw.trim();
        if name.is_empty() {
            return Err("The file has no name.");
        }
        if name.len() > 255 {
            return Err("The file name is longer than 255 bytes.");
        }
        if name.chars().any(char::is_control) {
            return Err("The file name contains control characters.");
        }
        if name.chars().any(is_invisible_or_bidi) {
            return Err("The file name contains invisible or text-direction characters.");
        }
        if name.contains(['/', '\\']) || name == "." || name == ".." {
            return Err("The file name must not contain a path ('/', '\\', '.', '..').");
        }
        Ok(FileName(name.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Characters that change how the rest of a name reads without showing themselves: bidi
/// overrides, isolates and marks (`invoice\u{202E}fdp.exe` shows as `invoiceexe.pdf`), the
/// zero-width space and the byte-order mark. ZWJ/ZWNJ stay: scripts and emoji need them.
fn is_invisible_or_bidi(c: char) -> bool {
    matches!(c,
        '\u{061C}' | '\u{200B}' | '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}'
        | '\u{2060}'..='\u{2069}' | '\u{FEFF}' | '\u{FFF9}'..='\u{FFFB}')
}

#[cfg(test)]
mod tests {
    use super::FileName;

    #[test]
    fn ordinary_names_pass_unchanged() {
        for ok in ["report.pdf", "Übersicht 2026.xlsx", "a", "..hidden", "x..y"] {
            assert_eq!(FileName::parse(ok).unwrap().as_str(), ok);
        }
    }

    #[test]
    fn paths_control_characters_and_huge_names_are_refused() {
        for bad in [
            "",
            " ",
            "../x",
            "a/b",
            "a\\b",
            "..",
            ".",
            "a\0b",
            "a\nb",
            "invoice\u{202E}fdp.exe",
            "a\u{200B}b",
            "\u{2067}x",
            &"n".repeat(256),
        ] {
            assert!(FileName::parse(bad).is_err(), "{bad:?}");
        }
    }
}
