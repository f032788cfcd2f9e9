//! A user name: 3–32 characters of ASCII letters, digits, `.`, `_` or `-`, stored lower-case so
//! `Alice` and `alice` are one account.

use std::fmt;

#[derive(Clone, PartialEq, Eq)]
pub struct Username(String);

impl Username {
    const MAX_LEN: usize = 32;

    pub fn parse(raw: &str) -> Result<Self, &'static str> {
        let trimmed = raw.trim();
        if trimmed.len() < 3 || trimmed.len() > Self::MAX_LEN {
            return Err("A user name has 3 to 32 characters.");
        }
        if !trimmed
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
        {
            return Err("A user name may use letters, digits, '.', '_' and '-' only.");
        }
        Ok(Username(trimmed.to_ascii_lowercase()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Username {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

#[cfg(test)]
mod tests {
    use super::Username;

    #[test]
    fn names_are_trimmed_and_lower_cased() {
        assert_eq!(Username::parse(" Alice_1 ").unwrap().as_str(), "alice_1");
    }

    #[test]
    fn short_long_and_odd_names_are_refused() {
        for bad in [
            "",
            "ab",
            &"a".repeat(33),
            "a b c",
            "al/ice",
            "ali\0ce",
            "ålice",
            &"x".repeat(100_000),
        ] {
            assert!(Username::parse(bad).is_err(), "{bad:?}");
        }
    }
}
