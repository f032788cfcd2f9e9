//! The `openssl` command (`scripts/test` installs it): the tool operators inspect and make keys
//! with, so tests check this project's key files against it.

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

/// Writes a new Ed25519 private key to `path` as `openssl genpkey -algorithm ed25519` does (PEM,
/// PKCS#8 v1).
pub fn generate_ed25519_key(path: &Path) {
    let path = path.to_str().expect("a UTF-8 path");
    run(
        Path::new("."),
        &["genpkey", "-algorithm", "ed25519", "-out", path],
    );
}

/// The raw 32-byte public key of the Ed25519 private key file at `path`, as
/// `openssl pkey -in KEY -pubout` reads it (so this fails if openssl cannot read the file).
pub fn ed25519_public_key(path: &Path) -> [u8; 32] {
    let path = path.to_str().expect("a UTF-8 path");
    let spki = run(
        Path::new("."),
        &["pkey", "-in", path, "-pubout", "-outform", "DER"],
    );
    // SubjectPublicKeyInfo for Ed25519 (RFC 8410 §4): this fixed prefix, then the key.
    let prefix = [
        0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
    ];
    assert_eq!(spki.len(), 44, "not an Ed25519 public key: {spki:02x?}");
    assert_eq!(spki[..12], prefix, "not an Ed25519 public key: {spki:02x?}");
    spki[12..].try_into().unwrap()
}
