//! The claims of a download token (contract v1; `sgen`, `ogen` and `sid` since v1.3).

use crate::{Jti, ObjectPath};
use serde::{Deserialize, Serialize};

/// Every field but `nbf` and `name` is required; a missing or ill-typed claim fails
/// deserialization, which the download server answers with 403.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// Issuer: the app server that minted the token.
    pub iss: String,
    /// A single string (an array is refused).
    pub aud: String,
    /// Subject: the user the link was minted for.
    pub sub: String,
    /// The token's one-time id.
    pub jti: Jti,
    /// Issued at, in seconds since the Unix epoch.
    pub iat: i64,
    /// Expiry: the token must be first used before this second (plus the leeway).
    pub exp: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    /// Not before, in seconds since the Unix epoch.
    pub nbf: Option<i64>,
    /// The object the holder may fetch, inside the store.
    pub obj: ObjectPath,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    /// The file name to save as; the last segment of `obj` when absent.
    pub name: Option<String>,
    /// The subject's generation when minted (v1.3; absent is 0): a revocation of `sub` at
    /// generation g refuses `sgen < g`.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub sgen: u64,
    /// The object's generation when minted (v1.3; absent is 0): a revocation of `obj` at
    /// generation g refuses `ogen < g`.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub ogen: u64,
    /// An opaque id of the session the link was minted from (v1.3; never the session cookie).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
}

/// What a minter puts into a token for revocation to name besides `sub`, `obj` and `jti`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Revocable {
    /// The subject's download generation (`sgen`).
    pub sgen: u64,
    /// The object's download generation (`ogen`).
    pub ogen: u64,
    /// The session the link is minted from (`sid`).
    pub sid: Option<String>,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}
