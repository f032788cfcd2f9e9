//! The `openssl` command (`scripts/test` installs it).

use std::path::Path;
use std::process::Command;

/// Runs `openssl args` in `dir` and returns its standard output; panics with its error output if
/// it fails.
pub fn run(dir: &Path, args: &[&str]) -> Vec<u8> {
    let output = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("openssl runs (scripts/test installs it)");
    assert!(
        output.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    output.stdout
}
