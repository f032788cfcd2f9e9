//! The claims of a download token (contract v1).

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
}
