//! Minting: one fresh token per download click, per contract v1.

use crate::claims::Revocable;
use crate::{Claims, DownloadName, Jti, ObjectPath, SigningKey, TOKEN_ALG, TOKEN_TYP};
use jsonwebtoken::Header;

/// Signs download tokens with one key for one issuer and audience.
#[derive(Debug, Clone)]
pub struct Minter {
    key: SigningKey,
    issuer: String,
    audience: String,
    ttl_secs: i64,
}

/// A signed token and the claims it carries.
#[derive(Debug, Clone)]
pub struct MintedToken {
    /// The compact JWS.
    pub token: String,
    /// What it says.
    pub claims: Claims,
}

impl Minter {
    /// A minter that signs with `key` for `issuer` and `audience`, tokens living `ttl_secs`.
    pub fn new(
        key: SigningKey,
        issuer: impl Into<String>,
        audience: impl Into<String>,
        ttl_secs: i64,
    ) -> Self {
        Minter {
            key,
            issuer: issuer.into(),
            audience: audience.into(),
            ttl_secs,
        }
    }

    /// The signing key.
    pub fn key(&self) -> &SigningKey {
        &self.key
    }

    /// A fresh token for `obj`, with a new random `jti`, `iat` = now and `exp` = now + TTL.
    pub fn mint(
        &self,
        sub: &str,
        obj: &ObjectPath,
        name: Option<&DownloadName>,
    ) -> anyhow::Result<MintedToken> {
        self.mint_revocable(sub, obj, name, Revocable::default())
    }

    /// `mint`, carrying the generations and session a revocation can name.
    pub fn mint_revocable(
        &self,
        sub: &str,
        obj: &ObjectPath,
        name: Option<&DownloadName>,
        revocable: Revocable,
    ) -> anyhow::Result<MintedToken> {
        let now = crate::time::now_secs();
        let claims = Claims {
            iss: self.issuer.clone(),
            aud: self.audience.clone(),
            sub: sub.to_owned(),
            jti: Jti::new_random(),
            iat: now,
            exp: now + self.ttl_secs,
            nbf: None,
            obj: obj.clone(),
            name: name.map(|n| n.as_str().to_owned()),
            sgen: revocable.sgen,
            ogen: revocable.ogen,
            sid: revocable.sid,
        };
        let token = self.sign(&claims)?;
        Ok(MintedToken { token, claims })
    }

    /// Signs arbitrary claims with the contract header (`EdDSA`, `typ`, `kid`).
    pub fn sign(&self, claims: &Claims) -> anyhow::Result<String> {
        Ok(jsonwebtoken::encode(
            &self.header(),
            claims,
            self.key.encoding_key(),
        )?)
    }

    /// The contract header: `{"alg":"EdDSA","kid":…,"typ":"dl+jwt"}`.
    pub fn header(&self) -> Header {
        let mut header = Header::new(TOKEN_ALG);
        header.typ = Some(TOKEN_TYP.to_owned());
        header.kid = Some(self.key.kid().to_owned());
        header
    }
}
