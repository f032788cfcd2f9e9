//! `ObjectPath`: the `obj` claim, an object path relative to the store root that cannot escape it.

use std::fmt;

/// Longest accepted object path, in bytes.
pub const MAX_OBJECT_PATH_LEN: usize = 1024;

#[derive(Clone, PartialEq, Eq, Hash)]
/// A path inside the object store that can never name anything outside it.
pub struct ObjectPath(String);

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
/// Why a string is not an object path.
pub enum InvalidObjectPath {
    #[error("object path is empty")]
    /// Nothing at all.
    Empty,
    #[error("object path is longer than {MAX_OBJECT_PATH_LEN} bytes")]
    /// Over `MAX_OBJECT_PATH_LEN` bytes.
    TooLong,
    #[error("object path must be relative (no leading '/')")]
    /// Starts with `/`.
    Absolute,
    #[error("object path must not contain a backslash")]
    /// Holds a backslash.
    Backslash,
    #[error("object path must not contain control characters")]
    /// Holds NUL or another control character.
    ControlCharacter,
    #[error("object path must not contain empty segments")]
    /// Has an empty segment (`a//b`, a trailing `/`).
    EmptySegment,
    #[error("object path must not contain '.' or '..' segments")]
    /// Has a `.` or `..` segment.
    DotSegment,
    #[error("object path must not end in '#' and digits")]
    /// Ends in `name#<digits>`, the form object_store's local store keeps for in-progress uploads.
    UploadSuffix,
}

impl ObjectPath {
    /// Relative, `/`-separated, no `.`/`..`/empty segment, no backslash, no NUL or other control
    /// character, no last segment of the form `name#123`. What passes can be joined under a store
    /// root without leaving it, and names a file every store can hold.
    pub fn parse(s: &str) -> Result<Self, InvalidObjectPath> {
        if s.is_empty() {
            return Err(InvalidObjectPath::Empty);
        }
        if s.len() > MAX_OBJECT_PATH_LEN {
            return Err(InvalidObjectPath::TooLong);
        }
        if s.starts_with('/') {
            return Err(InvalidObjectPath::Absolute);
        }
        if s.contains('\\') {
            return Err(InvalidObjectPath::Backslash);
        }
        if s.chars().any(char::is_control) {
            return Err(InvalidObjectPath::ControlCharacter);
        }
        for segment in s.split('/') {
            match segment {
                "" => return Err(InvalidObjectPath::EmptySegment),
                "." | ".." => return Err(InvalidObjectPath::DotSegment),
                _ => {}
            }
        }
        // object_store's local store keeps in-progress uploads as `name#<n>` and refuses to read
        // such a name as an object; the download server would answer 503 for it.
        let file_name = s.rsplit('/').next().unwrap_or(s);
        if let Some((_, suffix)) = file_name.split_once('#')
            && !suffix.is_empty()
            && suffix.bytes().all(|b| b.is_ascii_digit())
        {
            return Err(InvalidObjectPath::UploadSuffix);
        }
        Ok(ObjectPath(s.to_owned()))
    }

    /// The path, as parsed.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The last segment, used as the download name when the token names none.
    pub fn file_name(&self) -> &str {
        self.0.rsplit('/').next().unwrap_or(&self.0)
    }
}

impl AsRef<str> for ObjectPath {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ObjectPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for ObjectPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ObjectPath({:?})", self.0)
    }
}

impl serde::Serialize for ObjectPath {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> serde::Deserialize<'de> for ObjectPath {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        ObjectPath::parse(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordinary_relative_paths_are_accepted() {
        for ok in [
            "a",
            "users/42/report.pdf",
            "a/b.c/d",
            "ünï/çødé 1.txt",
            "..a/b..",
            ".hidden",
            "a#1/b",
            "b#",
            "b#2x",
            "b#1#2",
        ] {
            assert_eq!(ObjectPath::parse(ok).unwrap().as_str(), ok);
        }
        assert_eq!(
            ObjectPath::parse("u/1/x.tar.gz").unwrap().file_name(),
            "x.tar.gz"
        );
    }

    #[test]
    fn paths_that_could_escape_the_root_are_rejected() {
        use InvalidObjectPath::*;
        let cases = [
            ("", Empty),
            ("/etc/passwd", Absolute),
            ("../secret", DotSegment),
            ("a/../../b", DotSegment),
            ("a/./b", DotSegment),
            ("a/..", DotSegment),
            ("..", DotSegment),
            ("a//b", EmptySegment),
            ("a/", EmptySegment),
            ("a\\..\\b", Backslash),
            ("a\0b", ControlCharacter),
            ("a\nb", ControlCharacter),
            // Found by fuzz/fuzz_targets/object_path.rs: the local store could not place it.
            ("b#2", UploadSuffix),
            ("u/1/report.pdf#0042", UploadSuffix),
        ];
        for (input, expected) in cases {
            assert_eq!(ObjectPath::parse(input), Err(expected), "{input:?}");
        }
        assert_eq!(ObjectPath::parse(&"a".repeat(1025)), Err(TooLong));
    }
}
