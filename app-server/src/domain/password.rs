//! A new password: 8–1024 characters. Its `Debug` never shows it.

use std::fmt;

#[derive(Clone)]
pub struct Password(String);

impl Password {
    pub fn parse_new(raw: String) -> Result<Self, &'static str> {
        let chars = raw.chars().count();
        if chars < 8 {
            return Err("A password has at least 8 characters.");
        }
        if raw.len() > 1024 {
            return Err("A password has at most 1024 bytes.");
        }
        Ok(Password(raw))
    }

    /// A password typed at login: only bounded, so hashing cost stays bounded.
    pub fn parse_attempt(raw: String) -> Result<Self, &'static str> {
        if raw.is_empty() || raw.len() > 1024 {
            return Err("Enter your password.");
        }
        Ok(Password(raw))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password([redacted])")
    }
}

#[cfg(test)]
mod tests {
    use super::Password;

    #[test]
    fn short_and_huge_passwords_are_refused_and_debug_hides_them() {
        assert!(Password::parse_new("short".into()).is_err());
        assert!(Password::parse_new("x".repeat(2000)).is_err());
        let p = Password::parse_new("correct horse".into()).unwrap();
        assert!(!format!("{p:?}").contains("horse"));
    }
}
