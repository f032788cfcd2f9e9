//! Token verification per contract v1 and RFC 8725: the header must say `EdDSA`, `typ: dl+jwt`,
//! name a known `kid` and carry no `crit`; the signature must verify with that key; the claims must
//! name our issuer and audience, be within their lifetime (with leeway), and not live too long.

use crate::jwks::KeyStore;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, Validation};
use shared::{Claims, MAX_TOKEN_LEN, TOKEN_TYP};
use std::sync::Arc;

/// Why a token was refused. Every variant but `Expired` is a 403; `Expired` is a 410.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    #[error("token is longer than {MAX_TOKEN_LEN} bytes")]
    TooLong,
    #[error("token is not a well-formed JWS: {0}")]
    Malformed(String),
    #[error("alg is not EdDSA")]
    Algorithm,
    #[error("typ is not dl+jwt")]
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

/// Verifies tokens against the live key set. Cheap to clone.
#[derive(Clone)]
pub struct Verifier {
    keys: Arc<KeyStore>,
    validation: Arc<Validation>,
    max_lifetime: i64,
    leeway: i64,
}

impl Verifier {
    pub fn new(
        keys: Arc<KeyStore>,
        issuer: &str,
        audience: &str,
        max_lifetime: u32,
        leeway: u32,
    ) -> Self {
        let mut validation = Validation::new(Algorithm::EdDSA);
        validation.algorithms = vec![Algorithm::EdDSA];
        validation.leeway = u64::from(leeway);
        validation.validate_exp = true;
        validation.validate_nbf = true;
        validation.validate_aud = true;
        validation.set_issuer(&[issuer]);
        validation.set_audience(&[audience]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        Verifier {
            keys,
            validation: Arc::new(validation),
            max_lifetime: i64::from(max_lifetime),
            leeway: i64::from(leeway),
        }
    }

    pub fn leeway(&self) -> i64 {
        self.leeway
    }

    /// Verifies a token; re-reads the JWKS once (rate-limited) when its `kid` is unknown, so that
    /// a key rotated in on the issuer works without a restart.
    pub async fn verify(&self, token: &str) -> Result<Claims, VerifyError> {
        match self.verify_with_current_keys(token) {
            Err(VerifyError::UnknownKid(kid)) if self.keys.refresh_for_unknown_kid(&kid).await => {
                self.verify_with_current_keys(token)
            }
            other => other,
        }
    }

    /// The synchronous core: one header parse, one signature check, the claim checks.
    pub fn verify_with_current_keys(&self, token: &str) -> Result<Claims, VerifyError> {
        if token.len() > MAX_TOKEN_LEN {
            return Err(VerifyError::TooLong);
        }
        let header = jsonwebtoken::decode_header(token).map_err(|e| match e.kind() {
            // An `alg` outside jsonwebtoken's enum ("none", "Ed448", ...) fails to deserialize.
            ErrorKind::Json(_) => VerifyError::Malformed("header".into()),
            _ => VerifyError::Malformed(e.to_string()),
        })?;
        if header.alg != Algorithm::EdDSA {
            return Err(VerifyError::Algorithm);
        }
        if !is_download_typ(header.typ.as_deref()) {
            return Err(VerifyError::Type);
        }
        if header.crit.is_some() {
            return Err(VerifyError::Critical);
        }
        // jku, jwk, x5u and x5c are never read: keys come only from our own JWKS.
        let kid = header.kid.ok_or(VerifyError::MissingKid)?;
        let keys = self.keys.current();
        let key = keys.get(&kid).ok_or(VerifyError::UnknownKid(kid))?;
        let claims = jsonwebtoken::decode::<Claims>(token, key, &self.validation)
            .map_err(|e| map_jwt_error(e.into_kind()))?
            .claims;
        self.check_lifetime(&claims)?;
        Ok(claims)
    }

    /// What jsonwebtoken does not check: `iat` not in the future and `exp - iat` within bounds.
    fn check_lifetime(&self, claims: &Claims) -> Result<(), VerifyError> {
        let now = shared::time::now_secs();
        if claims.iat > now + self.leeway {
            return Err(VerifyError::IssuedInFuture);
        }
        if claims.exp < claims.iat || claims.exp - claims.iat > self.max_lifetime {
            return Err(VerifyError::LifetimeTooLong);
        }
        Ok(())
    }
}

/// RFC 7515 §4.1.9: `typ` is a media type, compared case-insensitively, `application/` optional.
fn is_download_typ(typ: Option<&str>) -> bool {
    let Some(typ) = typ else { return false };
    let typ = typ.strip_prefix("application/").unwrap_or(typ);
    typ.eq_ignore_ascii_case(TOKEN_TYP)
}

fn map_jwt_error(kind: ErrorKind) -> VerifyError {
    match kind {
        ErrorKind::ExpiredSignature => VerifyError::Expired,
        ErrorKind::ImmatureSignature => VerifyError::NotYetValid,
        ErrorKind::InvalidIssuer => VerifyError::Issuer,
        ErrorKind::InvalidAudience => VerifyError::Audience,
        ErrorKind::InvalidSignature => VerifyError::Signature,
        ErrorKind::InvalidAlgorithm | ErrorKind::InvalidAlgorithmName => VerifyError::Algorithm,
        ErrorKind::MissingRequiredClaim(claim) => VerifyError::Claims(format!("missing {claim}")),
        ErrorKind::InvalidClaimFormat(claim) => VerifyError::Claims(format!("ill-typed {claim}")),
        ErrorKind::Json(e) => VerifyError::Claims(e.to_string()),
        ErrorKind::Base64(_) | ErrorKind::Utf8(_) | ErrorKind::InvalidToken => {
            VerifyError::Malformed("encoding".into())
        }
        other => VerifyError::Malformed(format!("{other:?}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typ_comparison_follows_rfc_7515() {
        assert!(is_download_typ(Some("dl+jwt")));
        assert!(is_download_typ(Some("DL+JWT")));
        assert!(is_download_typ(Some("application/dl+jwt")));
        assert!(!is_download_typ(Some("JWT")));
        assert!(!is_download_typ(Some("at+jwt")));
        assert!(!is_download_typ(None));
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

    async fn test_verifier() -> Verifier {
        let dir = tempfile::tempdir().unwrap();
        let key = shared::SigningKey::generate().unwrap();
        let path = dir.path().join("jwks.json");
        shared::PublicJwks {
            keys: vec![key.public_jwk()],
        }
        .write_atomically(&path)
        .unwrap();
        let keys = KeyStore::load(path.to_str().unwrap()).await.unwrap();
        Verifier::new(keys, "iss", "download", 600, 30)
    }
}
