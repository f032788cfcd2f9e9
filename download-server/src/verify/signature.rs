//! The one Ed25519 rule every signature is held to, alone or in a batch.
//!
//! A batch check is only sound if it accepts exactly what one-by-one checks accept. RFC 8032
//! allows two verification equations and libraries differ in the encodings they take; a batch
//! can only use the cofactored one. So both paths here use ZIP215 (ed25519-zebra): `S` must be
//! canonical (`S < l`), `R` and `A` any valid point encoding, and `[8][S]B = [8]R + [8][k]A`.
//! ed25519-zebra implements it for one signature and for a batch, and documents that the two
//! always agree (tests/it/download/batch.rs and this module's tests check the edge cases).
//!
//! What ZIP215 leaves open is the key, and we close it: under a key of small order (the
//! identity, or any of the 8 torsion points) `R = A`, `S = 0` verifies on every message, so such a
//! key is refused when the JWKS is read, and so is a key in a non-canonical encoding. An honest
//! signer never makes what ZIP215 accepts beyond RFC 8032's strict rule (an `R` with a
//! small-order component needs the private key too); such a signature over a payload yields
//! nothing new, and single use is keyed on the payload's `jti`, never on the signature bytes.

use curve25519_dalek::edwards::CompressedEdwardsY;

/// An Ed25519 signature is 64 bytes.
pub const SIGNATURE_LEN: usize = 64;

/// An Ed25519 public key, checked and decompressed once when the JWKS is read.
#[derive(Clone)]
pub struct VerifyingKey {
    key: ed25519_zebra::VerificationKey,
    /// The key's bytes, for publishing it again (`/.well-known/jwks.json`).
    raw: [u8; 32],
}

impl std::fmt::Debug for VerifyingKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VerifyingKey")
            .field("x", &self.raw)
            .finish()
    }
}

impl VerifyingKey {
    /// A key from its 32-byte encoding: refused unless it is the canonical encoding of a point
    /// that is not of small order.
    pub fn ed25519(raw: &[u8]) -> Result<Self, String> {
        let raw: [u8; 32] = raw
            .try_into()
            .map_err(|_| format!("an Ed25519 key is 32 bytes, not {}", raw.len()))?;
        let point = CompressedEdwardsY(raw)
            .decompress()
            .ok_or("not an Ed25519 public key: not a point on the curve")?;
        if point.compress().as_bytes() != &raw {
            return Err("not an Ed25519 public key: not in canonical encoding".into());
        }
        if point.is_small_order() {
            return Err("not an Ed25519 public key: a point of small order".into());
        }
        let key = ed25519_zebra::VerificationKey::try_from(raw)
            .map_err(|e| format!("not an Ed25519 public key: {e}"))?;
        Ok(VerifyingKey { key, raw })
    }

    /// Whether `signature` is a valid signature of `message` under this key (one check).
    pub fn verifies(&self, message: &[u8], signature: &[u8]) -> bool {
        Signature::parse(signature)
            .is_some_and(|signature| self.verifies_parsed(message, &signature))
    }

    pub(crate) fn verifies_parsed(&self, message: &[u8], signature: &Signature) -> bool {
        self.key.verify(&signature.0, message).is_ok()
    }

    pub(crate) fn raw(&self) -> &[u8; 32] {
        &self.raw
    }

    pub(crate) fn bytes(&self) -> ed25519_zebra::VerificationKeyBytes {
        ed25519_zebra::VerificationKeyBytes::from(self.raw)
    }
}

/// Whether every `(key, message, signature)` verifies, checked as one batch (one multiscalar
/// multiplication, the `A` terms of each key folded into one): `true` exactly when
/// `VerifyingKey::verifies` is true for each; `false` for an empty batch.
pub fn batch_verifies<'a>(
    items: impl IntoIterator<Item = (&'a VerifyingKey, &'a [u8], &'a [u8])>,
) -> bool {
    let mut parsed = Vec::new();
    for (key, message, signature) in items {
        let Some(signature) = Signature::parse(signature) else {
            return false;
        };
        parsed.push((key, message, signature));
    }
    batch_verifies_parsed(parsed)
}

pub(crate) fn batch_verifies_parsed<'a>(
    items: impl IntoIterator<Item = (&'a VerifyingKey, &'a [u8], Signature)>,
) -> bool {
    let mut verifier = ed25519_zebra::batch::Verifier::new();
    let mut empty = true;
    for (key, message, signature) in items {
        verifier.queue((key.bytes(), signature.0, message));
        empty = false;
    }
    !empty && verifier.verify(rand::rng()).is_ok()
}

/// A signature of the right length; whether it verifies is the key's to say.
#[derive(Clone, Copy)]
pub(crate) struct Signature(pub(crate) ed25519_zebra::Signature);

impl Signature {
    pub(crate) fn parse(bytes: &[u8]) -> Option<Self> {
        let bytes: [u8; SIGNATURE_LEN] = bytes.try_into().ok()?;
        Some(Signature(ed25519_zebra::Signature::from_bytes(&bytes)))
    }
}
