//! Token verification per contract v1 and RFC 8725: the header must say `EdDSA`, `typ: dl+jwt`,
//! name a known `kid` and carry no `crit`; the signature must verify with that key; the claims must
//! name our issuer and audience, be within their lifetime (with leeway), and not live too long.
//!
//! Why not `jsonwebtoken::decode` (which still mints the tokens, in `shared`): it re-parses the
//! public key on every call and has no way to keep a parsed one, and its checks leave `typ`, `kid`
//! and `crit` to us anyway; so the compact JWS is split here and its signature checked with keys
//! parsed once per JWKS read (`signature`), together with the other requests on the same worker
//! (`batch`). benches/verify.rs compares the paths.

mod batch;
pub mod signature;

pub use batch::enable_on_this_thread as enable_batching_on_this_thread;

use crate::jwks::{KeyMap, KeyStore};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Deserialize;
use shared::{Claims, MAX_TOKEN_LEN, TOKEN_TYP};
use std::borrow::Cow;
use std::sync::Arc;

use signature::{SIGNATURE_LEN, Signature, VerifyingKey};

/// Why a token was refused. Every variant but `Expired` is a 403; `Expired` is a 410.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    #[error("token is longer than {MAX_TOKEN_LEN} bytes")]
    TooLong,
    #[error("token is not a well-formed JWS: {0}")]
    Malformed(String),
    #[error("alg is not EdDSA")]
    Algorithm,
    #[error("typ is not the expected type")]
    Type,
    #[error("header has no kid")]
    MissingKid,
    #[error("unknown kid")]
    UnknownKid(String),
    #[error("header carries crit")]
    Critical,
    #[error("signature does not verify")]
    Signature,
    #[error("claims are missing or ill-typed: {0}")]
    Claims(String),
    #[error("wrong issuer")]
    Issuer,
    #[error("wrong audience")]
    Audience,
    #[error("token is not yet valid (nbf)")]
    NotYetValid,
    #[error("token was issued in the future (iat)")]
    IssuedInFuture,
    #[error("token lifetime exceeds the maximum")]
    LifetimeTooLong,
    #[error("token has expired")]
    Expired,
}

impl VerifyError {
    pub fn is_expired(&self) -> bool {
        matches!(self, VerifyError::Expired)
    }
}

/// A token whose signature and claims verified; `expired` says whether it is past `exp` + leeway
/// (it may then only join the download it opened, never open one).
#[derive(Debug, Clone)]
pub struct Verified {
    pub claims: Claims,
    pub expired: bool,
}

/// Verifies tokens against the live key set. Cheap to clone.
#[derive(Clone)]
pub struct Verifier {
    keys: Arc<KeyStore>,
    issuer: Arc<str>,
    audience: Arc<str>,
    max_lifetime: i64,
    leeway: i64,
}

/// The JOSE header members contract v1 reads. `jwk`, `jku`, `x5u` and `x5c` are not even
/// deserialized: keys come only from our own JWKS.
#[derive(Deserialize)]
struct JoseHeader<'a> {
    #[serde(borrow)]
    alg: Cow<'a, str>,
    #[serde(default, borrow)]
    typ: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    kid: Option<Cow<'a, str>>,
    /// Any `crit` member refuses the token, even `null`: contract v1 understands no extension.
    #[serde(default, deserialize_with = "present")]
    crit: bool,
}

fn present<'de, D: serde::Deserializer<'de>>(member: D) -> Result<bool, D::Error> {
    serde::de::IgnoredAny::deserialize(member).map(|_| true)
}

/// RFC 7515 §5.2 and RFC 7519 §7.2: header and claims are UTF-8 JSON objects. serde_json skips
/// unknown members without checking their UTF-8, and serde's derived structs also read a JSON
/// array (`["EdDSA","dl+jwt",kid]`); UTF-8 text that starts with `{` and parses whole is one.
pub(crate) fn json_object_text(json: &[u8]) -> Option<&str> {
    std::str::from_utf8(json)
        .ok()
        .filter(|text| text.trim_ascii_start().starts_with('{'))
}

impl Verifier {
    pub fn new(
        keys: Arc<KeyStore>,
        issuer: &str,
        audience: &str,
        max_lifetime: u32,
        leeway: u32,
    ) -> Self {
        Verifier {
            keys,
            issuer: issuer.into(),
            audience: audience.into(),
            max_lifetime: i64::from(max_lifetime),
            leeway: i64::from(leeway),
        }
    }

    pub fn leeway(&self) -> i64 {
        self.leeway
    }

    /// The `iss` tokens (and the app server's pull tokens) must carry.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// The live key set.
    pub fn keys(&self) -> &KeyStore {
        &self.keys
    }

    /// Verifies a token; an expired one is an error. See `verify_allowing_expired`.
    pub async fn verify(&self, token: &str) -> Result<Claims, VerifyError> {
        unexpired(self.verify_allowing_expired(token).await)
    }

    /// Verifies a token, telling an expired one apart (`Verified::expired`) once everything else
    /// about it checked out; re-reads the JWKS once (rate-limited) when its `kid` is unknown, so
    /// that a key rotated in on the issuer works without a restart.
    pub async fn verify_allowing_expired(&self, token: &str) -> Result<Verified, VerifyError> {
        match self.check_batched(token).await {
            Err(VerifyError::UnknownKid(kid)) if self.keys.refresh_for_unknown_kid(&kid).await => {
                self.check_batched(token).await
            }
            other => other,
        }
    }

    /// `check`, with the signature checked together with the other requests on this worker.
    async fn check_batched(&self, token: &str) -> Result<Verified, VerifyError> {
        if token.len() > MAX_TOKEN_LEN {
            return Err(VerifyError::TooLong);
        }
        let (key, signed) = {
            let keys = self.keys.current();
            let signed = signed(token, &keys, TOKEN_TYP)?;
            (signed.key.clone(), signed.detach())
        };
        if !batch::verifies(&key, signed.signing_input.as_bytes(), signed.signature).await {
            return Err(VerifyError::Signature);
        }
        self.claims(&signed.payload()?)
    }

    /// `verify` with the keys loaded now, without a JWKS re-read.
    pub fn verify_with_current_keys(&self, token: &str) -> Result<Claims, VerifyError> {
        unexpired(self.check(token))
    }

    /// The synchronous path: one header parse, one signature check with a key parsed when the
    /// JWKS was read, one claims parse, the claim checks. Nothing in the payload is looked at
    /// before the signature verified.
    fn check(&self, token: &str) -> Result<Verified, VerifyError> {
        if token.len() > MAX_TOKEN_LEN {
            return Err(VerifyError::TooLong);
        }
        let payload = verified_payload(token, &self.keys.current(), TOKEN_TYP)?;
        self.claims(&payload)
    }

    /// The claims of a token whose signature verified, checked.
    fn claims(&self, payload: &[u8]) -> Result<Verified, VerifyError> {
        let payload = json_object_text(payload)
            .ok_or_else(|| VerifyError::Claims("not a UTF-8 JSON object".into()))?;
        let claims: Claims =
            serde_json::from_str(payload).map_err(|e| VerifyError::Claims(e.to_string()))?;
        let now = shared::time::now_secs();
        self.check_claims(&claims, now)?;
        let expired = claims.exp < now - self.leeway;
        Ok(Verified { claims, expired })
    }

    /// RFC 7519 checks, then what jsonwebtoken never checked: `iat` not in the future and
    /// `exp - iat` within the maximum lifetime. Expiry is the caller's to judge
    /// (`Verified::expired`): a token that is wrong in any other way is invalid, expired or not.
    fn check_claims(&self, claims: &Claims, now: i64) -> Result<(), VerifyError> {
        if claims.exp < 0 {
            return Err(malformed("exp"));
        }
        if claims.nbf.is_some_and(|nbf| nbf > now + self.leeway) {
            return Err(VerifyError::NotYetValid);
        }
        if claims.iss != *self.issuer {
            return Err(VerifyError::Issuer);
        }
        if claims.aud != *self.audience {
            return Err(VerifyError::Audience);
        }
        self.check_lifetime(claims, now)
    }

    fn check_lifetime(&self, claims: &Claims, now: i64) -> Result<(), VerifyError> {
        if claims.iat > now + self.leeway {
            return Err(VerifyError::IssuedInFuture);
        }
        if claims.exp < claims.iat || claims.exp - claims.iat > self.max_lifetime {
            return Err(VerifyError::LifetimeTooLong);
        }
        Ok(())
    }
}

/// A compact JWS whose header says `EdDSA`, the `typ` given, a `kid` in `keys` and no `crit`,
/// and whose signature verifies with that key: its decoded payload, not yet looked at. Download
/// tokens and revocation states each have their own `typ` and their own key set.
pub(crate) fn verified_payload(
    token: &str,
    keys: &KeyMap,
    typ: &str,
) -> Result<Vec<u8>, VerifyError> {
    let signed = signed(token, keys, typ)?;
    if !signed
        .key
        .verifies_parsed(signed.signing_input.as_bytes(), &signed.signature)
    {
        return Err(VerifyError::Signature);
    }
    signed.payload()
}

/// A compact JWS whose header checked out, with its key and signature, before the signature is
/// checked; the payload is still encoded.
struct Signed<'t, K> {
    key: K,
    signing_input: &'t str,
    signature: Signature,
    payload: &'t str,
}

impl<'t> Signed<'t, &VerifyingKey> {
    /// The same without the borrow of the key set.
    fn detach(self) -> Signed<'t, ()> {
        Signed {
            key: (),
            signing_input: self.signing_input,
            signature: self.signature,
            payload: self.payload,
        }
    }
}

impl<K> Signed<'_, K> {
    /// The payload, decoded: only once the signature verified.
    fn payload(&self) -> Result<Vec<u8>, VerifyError> {
        URL_SAFE_NO_PAD
            .decode(self.payload)
            .map_err(|_| malformed("encoding"))
    }
}

/// Splits `token` and checks its header against `typ` and `keys`.
fn signed<'t, 'k>(
    token: &'t str,
    keys: &'k KeyMap,
    typ: &str,
) -> Result<Signed<'t, &'k VerifyingKey>, VerifyError> {
    let (signing_input, signature) = token.rsplit_once('.').ok_or(malformed("parts"))?;
    let (header, payload) = signing_input.split_once('.').ok_or(malformed("parts"))?;
    let header = URL_SAFE_NO_PAD
        .decode(header)
        .map_err(|_| malformed("encoding"))?;
    // Not an object, an `alg` that is not a string, a missing `alg`, a duplicate member: not a
    // JOSE header.
    let header = json_object_text(&header).ok_or_else(|| malformed("header"))?;
    let header: JoseHeader = serde_json::from_str(header).map_err(|_| malformed("header"))?;
    if header.alg != "EdDSA" {
        return Err(VerifyError::Algorithm);
    }
    if !is_typ(header.typ.as_deref(), typ) {
        return Err(VerifyError::Type);
    }
    if header.crit {
        return Err(VerifyError::Critical);
    }
    let kid = header.kid.ok_or(VerifyError::MissingKid)?;
    let key = keys
        .get(kid.as_ref())
        .ok_or_else(|| VerifyError::UnknownKid(kid.into_owned()))?;

    let mut raw_signature = [0u8; SIGNATURE_LEN + 3];
    let signature_len = URL_SAFE_NO_PAD
        .decode_slice(signature, &mut raw_signature)
        .map_err(|e| match e {
            base64::DecodeSliceError::OutputSliceTooSmall => VerifyError::Signature,
            base64::DecodeSliceError::DecodeError(_) => malformed("encoding"),
        })?;
    let signature =
        Signature::parse(&raw_signature[..signature_len]).ok_or(VerifyError::Signature)?;
    Ok(Signed {
        key,
        signing_input,
        signature,
        payload,
    })
}

fn unexpired(verified: Result<Verified, VerifyError>) -> Result<Claims, VerifyError> {
    match verified {
        Ok(Verified { expired: true, .. }) => Err(VerifyError::Expired),
        Ok(Verified { claims, .. }) => Ok(claims),
        Err(error) => Err(error),
    }
}

/// RFC 7515 §4.1.9: `typ` is a media type, compared case-insensitively, `application/` optional.
fn is_typ(typ: Option<&str>, expected: &str) -> bool {
    let Some(typ) = typ else { return false };
    let typ = typ.strip_prefix("application/").unwrap_or(typ);
    typ.eq_ignore_ascii_case(expected)
}

fn malformed(what: &str) -> VerifyError {
    VerifyError::Malformed(what.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typ_comparison_follows_rfc_7515() {
        assert!(is_typ(Some("dl+jwt"), TOKEN_TYP));
        assert!(is_typ(Some("DL+JWT"), TOKEN_TYP));
        assert!(is_typ(Some("application/dl+jwt"), TOKEN_TYP));
        assert!(!is_typ(Some("JWT"), TOKEN_TYP));
        assert!(!is_typ(Some("at+jwt"), TOKEN_TYP));
        assert!(!is_typ(Some("dl-revocations+jwt"), TOKEN_TYP));
        assert!(!is_typ(None, TOKEN_TYP));
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(512))]
        #[test]
        fn arbitrary_input_is_refused_without_panicking(token in "[A-Za-z0-9_.=+/-]{0,300}|\\PC{0,100}") {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            let verifier = runtime.block_on(test_verifier());
            proptest::prop_assert!(verifier.verify_with_current_keys(&token).is_err());
        }
    }

    /// A compact JWS of exactly these header and claims bytes, signed with `key`.
    fn signed(key: &shared::SigningKey, header: &[u8], claims: &[u8]) -> String {
        let input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header),
            URL_SAFE_NO_PAD.encode(claims)
        );
        let signature =
            jsonwebtoken::crypto::sign(input.as_bytes(), key.encoding_key(), shared::TOKEN_ALG)
                .unwrap();
        format!("{input}.{signature}")
    }

    // Found by fuzz/fuzz_targets/signed_claims.rs: each was accepted with a valid signature.
    #[test]
    fn a_signed_header_or_claims_set_that_is_no_utf8_json_object_or_carries_crit_is_refused() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let (verifier, key) = runtime.block_on(test_verifier_and_key());
        let verify_bytes = |header: &[u8], claims: &[u8]| {
            verifier.verify_with_current_keys(&signed(&key, header, claims))
        };
        let verify = |header: serde_json::Value, claims: serde_json::Value| {
            verify_bytes(header.to_string().as_bytes(), claims.to_string().as_bytes())
        };
        let (kid, jti, now) = (
            key.kid(),
            shared::Jti::new_random(),
            shared::time::now_secs(),
        );
        let header = serde_json::json!({"alg": "EdDSA", "typ": "dl+jwt", "kid": kid});
        let claims = serde_json::json!({
            "iss": "iss", "aud": "download", "sub": "u", "jti": jti,
            "iat": now, "exp": now + 60, "obj": "a/b.txt",
        });
        assert!(verify(header.clone(), claims.clone()).is_ok());

        let array_header = serde_json::json!(["EdDSA", "dl+jwt", kid]);
        assert_eq!(
            verify(array_header, claims.clone()),
            Err(malformed("header"))
        );
        let array_claims = serde_json::json!([
            "iss",
            "download",
            "u",
            jti,
            now,
            now + 60,
            null,
            "a/b.txt",
            null
        ]);
        assert!(matches!(
            verify(header.clone(), array_claims),
            Err(VerifyError::Claims(_))
        ));
        let null_crit =
            serde_json::json!({"alg": "EdDSA", "typ": "dl+jwt", "kid": kid, "crit": null});
        assert_eq!(
            verify(null_crit, claims.clone()),
            Err(VerifyError::Critical)
        );

        // Invalid UTF-8 inside a member the verifier does not read.
        let with_bad_utf8 = |json: serde_json::Value| {
            let text = json.to_string();
            [&text.as_bytes()[..text.len() - 1], b",\"x\":\"\xe2s\"}"].concat()
        };
        assert_eq!(
            verify_bytes(
                &with_bad_utf8(header.clone()),
                claims.to_string().as_bytes()
            ),
            Err(malformed("header"))
        );
        assert!(matches!(
            verify_bytes(header.to_string().as_bytes(), &with_bad_utf8(claims)),
            Err(VerifyError::Claims(_))
        ));
    }

    async fn test_verifier() -> Verifier {
        test_verifier_and_key().await.0
    }

    async fn test_verifier_and_key() -> (Verifier, shared::SigningKey) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("jwks.json");
        let key = shared::SigningKey::generate().unwrap();
        key.public_jwks().write_atomically(&path).unwrap();
        let keys = KeyStore::load(path.to_str().unwrap()).await.unwrap();
        (Verifier::new(keys, "iss", "download", 600, 30), key)
    }
}
