//! The operator configs shipped in `deploy/`, with their `@@NAME@@` placeholders filled, so the
//! proxies the tests start run exactly the files operators copy.

use std::path::PathBuf;

/// A shipped config being filled in.
#[derive(Debug, Clone)]
pub struct Template {
    name: String,
    text: String,
}

impl Template {
    /// `deploy/<relative>` in this workspace.
    pub fn shipped(relative: &str) -> Self {
        let path = deploy_dir().join(relative);
        let text = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
        Template {
            name: relative.to_owned(),
            text,
        }
    }

    /// Replaces every `@@placeholder@@` with `value`; a placeholder the file does not use is a
    /// typo in the test and fails it.
    #[must_use]
    pub fn fill(mut self, placeholder: &str, value: impl AsRef<str>) -> Self {
        let marker = format!("@@{placeholder}@@");
        assert!(
            self.text.contains(&marker),
            "{} has no {marker} to fill",
            self.name
        );
        self.text = self.text.replace(&marker, value.as_ref());
        self
    }

    /// Whether the file uses `@@placeholder@@` (the harness fills the ones it owns only then).
    pub fn uses(&self, placeholder: &str) -> bool {
        self.text.contains(&format!("@@{placeholder}@@"))
    }

    /// The filled text; a placeholder left unfilled fails the test, naming it.
    pub fn render(&self) -> String {
        if let Some(start) = self.text.find("@@") {
            let rest = &self.text[start + 2..];
            let name = rest.find("@@").map_or(rest, |end| &rest[..end]);
            panic!("{}: @@{name}@@ was not filled", self.name);
        }
        self.text.clone()
    }

    pub fn name(&self) -> &str {
        &self.name
    }
}

/// The workspace's `deploy/` folder.
pub fn deploy_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../deploy")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn template(text: &str) -> Template {
        Template {
            name: "t.conf".into(),
            text: text.into(),
        }
    }

    #[test]
    fn every_use_of_a_placeholder_is_filled() {
        let filled = template("listen @@LISTEN@@; # @@LISTEN@@ is the address")
            .fill("LISTEN", "127.0.0.1:8080")
            .render();
        assert_eq!(
            filled,
            "listen 127.0.0.1:8080; # 127.0.0.1:8080 is the address"
        );
    }

    #[test]
    #[should_panic(expected = "t.conf: @@FILES@@ was not filled")]
    fn a_placeholder_left_unfilled_fails_naming_it() {
        let _ = template("root @@FILES@@;").render();
    }

    #[test]
    #[should_panic(expected = "t.conf has no @@FIELS@@ to fill")]
    fn filling_a_placeholder_the_file_lacks_fails() {
        let _ = template("root @@FILES@@;").fill("FIELS", "/srv");
    }
}
