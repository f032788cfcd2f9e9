//! The claims of a download token (contract v1).

use crate::{Jti, ObjectPath};
use serde::{Deserialize, Serialize};

/// Every field but `nbf` and `name` is required; a missing or ill-typed claim fails
/// deserialization, which the download server answers with 403.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    pub iss: String,
    /// A single string (an array is refused).
    pub aud: String,
    pub sub: String,
    pub jti: Jti,
    pub iat: i64,
    pub exp: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nbf: Option<i64>,
    pub obj: ObjectPath,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}
