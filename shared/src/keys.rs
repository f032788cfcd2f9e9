//! Ed25519 signing keys and their public JWKS (RFC 7517 / RFC 8037), with RFC 7638 thumbprints as
//! key ids.

use anyhow::{Context, bail};
use aws_lc_rs::signature::{Ed25519KeyPair, KeyPair};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use jsonwebtoken::EncodingKey;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::path::Path;

const PEM_LABEL: &str = "PRIVATE KEY";

/// A private Ed25519 key with its key id. `Debug` never prints key material.
#[derive(Clone)]
pub struct SigningKey {
    kid: String,
    public: [u8; 32],
    encoding: EncodingKey,
    pkcs8_der: Vec<u8>,
}

impl SigningKey {
    /// A new random key.
    pub fn generate() -> anyhow::Result<Self> {
        let pair = Ed25519KeyPair::generate()
            .map_err(|_| anyhow::anyhow!("could not generate an Ed25519 key"))?;
        Self::from_pair(&pair)
    }

    /// From a PKCS#8 DER document: v1 (RFC 8410, as `openssl genpkey` writes) or v2 (RFC 5958,
    /// with the public key, as earlier versions of this project wrote).
    pub fn from_pkcs8_der(der: &[u8]) -> anyhow::Result<Self> {
        let pair = Ed25519KeyPair::from_pkcs8(der)
            .map_err(|e| anyhow::anyhow!("not an Ed25519 PKCS#8 private key: {e}"))?;
        Self::from_pair(&pair)
    }

    fn from_pair(pair: &Ed25519KeyPair) -> anyhow::Result<Self> {
        let public: [u8; 32] = pair
            .public_key()
            .as_ref()
            .try_into()
            .context("Ed25519 public key is not 32 bytes")?;
        // Kept (and so saved) as PKCS#8 v1: openssl 3.0 and Python's cryptography refuse v2.
        let v1 = pair
            .to_pkcs8v1()
            .map_err(|_| anyhow::anyhow!("could not encode the Ed25519 key"))?;
        Ok(SigningKey {
            kid: thumbprint(&public),
            public,
            encoding: EncodingKey::from_ed_der(v1.as_ref()),
            pkcs8_der: v1.as_ref().to_vec(),
        })
    }

    /// From a PEM file (`-----BEGIN PRIVATE KEY-----`, PKCS#8).
    pub fn from_pem(pem: &str) -> anyhow::Result<Self> {
        Self::from_pkcs8_der(&pem_decode(pem)?)
    }

    /// The key as PEM: PKCS#8 v1 (RFC 8410), whatever form it was read from.
    pub fn to_pem(&self) -> String {
        pem_encode(&self.pkcs8_der)
    }

    /// Reads a JWKS file.
    pub fn load(path: &Path) -> anyhow::Result<Self> {
        let pem = std::fs::read_to_string(path)
            .with_context(|| format!("reading signing key {}", path.display()))?;
        Self::from_pem(&pem).with_context(|| format!("parsing signing key {}", path.display()))
    }

    /// Writes the key as PEM with file mode 0600, refusing to overwrite an existing file.
    pub fn save_new(&self, path: &Path) -> anyhow::Result<()> {
        use std::io::Write;
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut file = options
            .open(path)
            .with_context(|| format!("creating signing key file {}", path.display()))?;
        file.write_all(self.to_pem().as_bytes())?;
        file.sync_all()?;
        Ok(())
    }

    /// Loads the key at `path`, or generates and saves one there when the file does not exist.
    pub fn load_or_generate(path: &Path) -> anyhow::Result<(Self, bool)> {
        if path.exists() {
            return Ok((Self::load(path)?, false));
        }
        let key = Self::generate()?;
        key.save_new(path)?;
        Ok((key, true))
    }

    /// The key id (its RFC 7638 thumbprint).
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The key in jsonwebtoken's form, for signing.
    pub fn encoding_key(&self) -> &EncodingKey {
        &self.encoding
    }

    /// The public half, as a JWK.
    pub fn public_jwk(&self) -> PublicJwk {
        PublicJwk::ed25519(&self.public)
    }

    /// The key set that publishes this key alone (what `dl-token keygen` writes beside it).
    pub fn public_jwks(&self) -> PublicJwks {
        PublicJwks {
            keys: vec![self.public_jwk()],
        }
    }
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKey")
            .field("kid", &self.kid)
            .field("private", &"[redacted]")
            .finish()
    }
}

/// One public key as published in a JWKS.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublicJwk {
    /// Key type: `OKP`.
    pub kty: String,
    /// Curve: `Ed25519`.
    pub crv: String,
    /// The 32-byte public key, base64url without padding.
    pub x: String,
    /// Key id: the RFC 7638 thumbprint.
    pub kid: String,
    /// The one algorithm this key verifies: `EdDSA`.
    pub alg: String,
    #[serde(rename = "use")]
    /// Public key use: `sig`.
    pub use_: String,
}

impl PublicJwk {
    /// The JWK of an Ed25519 public key, with its thumbprint as `kid`.
    pub fn ed25519(public: &[u8; 32]) -> Self {
        PublicJwk {
            kty: "OKP".into(),
            crv: "Ed25519".into(),
            x: URL_SAFE_NO_PAD.encode(public),
            kid: thumbprint(public),
            alg: "EdDSA".into(),
            use_: "sig".into(),
        }
    }
}

/// A JSON Web Key Set of public keys.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublicJwks {
    /// The keys, the one that signs now first.
    pub keys: Vec<PublicJwk>,
}

impl PublicJwks {
    /// The JWKS as indented JSON.
    pub fn to_json_pretty(&self) -> String {
        serde_json::to_string_pretty(self).expect("a JWKS always serializes")
    }

    /// Writes the JWKS atomically (temp file + rename), so a reader never sees half a file.
    pub fn write_atomically(&self, path: &Path) -> anyhow::Result<()> {
        let tmp = path.with_extension("json.tmp");
        std::fs::write(&tmp, self.to_json_pretty())
            .with_context(|| format!("writing {}", tmp.display()))?;
        std::fs::rename(&tmp, path).with_context(|| format!("renaming to {}", path.display()))?;
        Ok(())
    }
}

/// RFC 7638 JWK thumbprint of an Ed25519 public key: base64url(SHA-256 of the canonical members).
pub fn thumbprint(public: &[u8; 32]) -> String {
    let canonical = format!(
        r#"{{"crv":"Ed25519","kty":"OKP","x":"{}"}}"#,
        URL_SAFE_NO_PAD.encode(public)
    );
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, canonical.as_bytes());
    URL_SAFE_NO_PAD.encode(digest.as_ref())
}

fn pem_encode(der: &[u8]) -> String {
    let b64 = STANDARD.encode(der);
    let mut out = format!("-----BEGIN {PEM_LABEL}-----\n");
    for line in b64.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(line).expect("base64 is ASCII"));
        out.push('\n');
    }
    out.push_str(&format!("-----END {PEM_LABEL}-----\n"));
    out
}

fn pem_decode(pem: &str) -> anyhow::Result<Vec<u8>> {
    let begin = format!("-----BEGIN {PEM_LABEL}-----");
    let end = format!("-----END {PEM_LABEL}-----");
    let Some(start) = pem.find(&begin) else {
        bail!("no '{begin}' line")
    };
    let body = &pem[start + begin.len()..];
    let Some(stop) = body.find(&end) else {
        bail!("no '{end}' line")
    };
    let b64: String = body[..stop]
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    STANDARD.decode(b64).context("PEM body is not base64")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_survives_a_pem_round_trip_with_the_same_kid() {
        let key = SigningKey::generate().unwrap();
        let again = SigningKey::from_pem(&key.to_pem()).unwrap();
        assert_eq!(key.kid(), again.kid());
        assert_eq!(key.public_jwk(), again.public_jwk());
        assert!(!format!("{key:?}").contains(&key.to_pem()[30..60]));
    }

    /// Written by `dl-token keygen` before keys were saved as PKCS#8 v1: the v2 form (RFC 5958),
    /// with the public key after the seed.
    const V2_KEY: &str = "-----BEGIN PRIVATE KEY-----
MFECAQEwBQYDK2VwBCIEIJsriSQk/8sitz2qgXzffNCMHxYImkDvrj4uzxKX1mWe
gSEAIQ9In4vOzPEijUPgN7Ro6gdoz2g/9QA5vacS8mt83Tw=
-----END PRIVATE KEY-----
";
    const V2_KEY_KID: &str = "LzXVV0CrIyGAfQkPWN8CLoO9ZWu08A9CuRQmU5RJRc0";
    const V2_KEY_X: &str = "IQ9In4vOzPEijUPgN7Ro6gdoz2g_9QA5vacS8mt83Tw";

    /// RFC 8410 §7: SEQUENCE, version 0, the Ed25519 OID, then the 32-byte seed.
    const V1_PREFIX: [u8; 16] = [
        0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04,
        0x20,
    ];

    fn assert_v1(pem: &str) {
        let der = pem_decode(pem).unwrap();
        assert_eq!(der.len(), 48, "{der:02x?}");
        assert_eq!(der[..16], V1_PREFIX, "{der:02x?}");
    }

    #[test]
    fn generated_keys_are_written_in_the_rfc_8410_v1_form() {
        assert_v1(&SigningKey::generate().unwrap().to_pem());
    }

    #[test]
    fn saved_keys_are_read_by_openssl_as_the_published_public_key() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k.pem");
        let (key, _) = SigningKey::load_or_generate(&path).unwrap();
        let public = test_support::openssl::ed25519_public_key(&path);
        assert_eq!(URL_SAFE_NO_PAD.encode(public), key.public_jwk().x);
        assert_v1(&std::fs::read_to_string(&path).unwrap());
    }

    #[test]
    fn a_v2_key_written_by_earlier_versions_still_loads_with_its_kid() {
        let key = SigningKey::from_pem(V2_KEY).unwrap();
        assert_eq!(key.kid(), V2_KEY_KID);
        assert_eq!(key.public_jwk().x, V2_KEY_X);
        let rewritten = key.to_pem();
        assert_v1(&rewritten);
        assert_eq!(SigningKey::from_pem(&rewritten).unwrap().kid(), V2_KEY_KID);
    }

    #[test]
    fn a_key_made_by_openssl_genpkey_loads_with_the_public_key_openssl_reports() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("openssl.pem");
        test_support::openssl::generate_ed25519_key(&path);
        let key = SigningKey::load(&path).unwrap();
        let public = test_support::openssl::ed25519_public_key(&path);
        assert_eq!(key.public_jwk().x, URL_SAFE_NO_PAD.encode(public));
        assert_eq!(key.kid(), thumbprint(&public));
    }

    #[test]
    fn a_key_set_of_one_publishes_that_key() {
        let key = SigningKey::generate().unwrap();
        assert_eq!(key.public_jwks().keys, [key.public_jwk()]);
    }

    #[test]
    fn thumbprint_matches_rfc_8037_appendix_a3() {
        // RFC 8037 A.3: x = 11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo
        let x = URL_SAFE_NO_PAD
            .decode("11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo")
            .unwrap();
        let x: [u8; 32] = x.try_into().unwrap();
        assert_eq!(
            thumbprint(&x),
            "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"
        );
    }

    #[test]
    fn saved_keys_are_private_to_the_owner() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k.pem");
        let (key, created) = SigningKey::load_or_generate(&path).unwrap();
        assert!(created);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(
                std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
                0o600
            );
        }
        let (again, created) = SigningKey::load_or_generate(&path).unwrap();
        assert!(!created);
        assert_eq!(key.kid(), again.kid());
    }
}
