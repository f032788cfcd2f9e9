//! `Jti`: the token id, a UUID in its hyphenated 36-character form and nothing else.

use std::fmt;
use uuid::Uuid;

#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
/// A token's one-time id: a UUID, written hyphenated.
pub struct Jti(Uuid);

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("jti must be a UUID in hyphenated form (8-4-4-4-12 hex digits)")]
/// A `jti` that is not a hyphenated 36-character UUID.
pub struct InvalidJti;

impl Jti {
    /// A fresh random (v4) id.
    pub fn new_random() -> Self {
        Jti(Uuid::new_v4())
    }

    /// Accepts only `xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx` (either case); rejects the simple, braced
    /// and URN forms that `Uuid::parse_str` would also take.
    pub fn parse(s: &str) -> Result<Self, InvalidJti> {
        let b = s.as_bytes();
        if b.len() != 36 || [8, 13, 18, 23].iter().any(|&i| b[i] != b'-') {
            return Err(InvalidJti);
        }
        Uuid::try_parse(s).map(Jti).map_err(|_| InvalidJti)
    }

    /// The id's 128 bits (the memory replay store keys by them).
    pub fn as_u128(&self) -> u128 {
        self.0.as_u128()
    }

    /// The id as a UUID.
    pub fn as_uuid(&self) -> &Uuid {
        &self.0
    }
}

impl fmt::Display for Jti {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0.hyphenated(), f)
    }
}

impl fmt::Debug for Jti {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Jti({self})")
    }
}

impl serde::Serialize for Jti {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Jti {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        Jti::parse(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hyphenated_uuids_are_accepted_in_either_case() {
        let j = Jti::parse("67e55044-10b1-426f-9247-bb680e5fe0c8").unwrap();
        assert_eq!(j.to_string(), "67e55044-10b1-426f-9247-bb680e5fe0c8");
        assert!(Jti::parse("67E55044-10B1-426F-9247-BB680E5FE0C8").is_ok());
    }

    #[test]
    fn other_uuid_forms_and_garbage_are_rejected() {
        for bad in [
            "67e5504410b1426f9247bb680e5fe0c8",
            "{67e55044-10b1-426f-9247-bb680e5fe0c8}",
            "urn:uuid:67e55044-10b1-426f-9247-bb680e5fe0c8",
            "67e55044-10b1-426f-9247-bb680e5fe0c",
            "67e55044-10b1-426f-9247-bb680e5fe0c8 ",
            "g7e55044-10b1-426f-9247-bb680e5fe0c8",
            "67e55044_10b1-426f-9247-bb680e5fe0c8",
            "",
            "é7e55044-10b1-426f-9247-bb680e5fe0c",
        ] {
            assert_eq!(Jti::parse(bad), Err(InvalidJti), "{bad:?}");
        }
    }
}
