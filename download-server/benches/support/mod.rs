//! Shared set-up for the download-server benches: a key pair, its JWKS on disk, a minter.
#![allow(dead_code)] // each bench uses part of it

use download_server::jwks::KeyStore;
use download_server::verify::Verifier;
use shared::{Minter, ObjectPath, SigningKey};
use std::sync::Arc;

pub const ISSUER: &str = "https://app.example";
pub const AUDIENCE: &str = "download";

pub struct Keys {
    pub dir: tempfile::TempDir,
    pub minter: Minter,
}

impl Keys {
    pub fn generate() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let key = SigningKey::generate().expect("key");
        key.public_jwks()
            .write_atomically(&dir.path().join("jwks.json"))
            .expect("jwks");
        let minter = Minter::new(key, ISSUER, AUDIENCE, 300);
        Keys { dir, minter }
    }

    pub fn jwks_path(&self) -> String {
        self.dir
            .path()
            .join("jwks.json")
            .to_string_lossy()
            .into_owned()
    }

    /// A token shaped like the app server's: an object under a user folder and a download name.
    pub fn token(&self, obj: &str) -> String {
        let obj = ObjectPath::parse(obj).expect("path");
        self.minter.mint("user-42", &obj, None).expect("mint").token
    }

    /// The verifier exactly as `Application::build` makes it (defaults: 600 s, 30 s leeway).
    pub fn verifier(&self, runtime: &tokio::runtime::Runtime) -> Verifier {
        let keys: Arc<KeyStore> = runtime
            .block_on(KeyStore::load(&self.jwks_path()))
            .expect("load JWKS");
        Verifier::new(keys, ISSUER, AUDIENCE, 600, 30)
    }
}
