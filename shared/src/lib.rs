//! Wire contract (v1.3, `docs/contract.md`) of the download-token system, shared by the app
//! server (which mints) and the download server (which verifies). Knows nothing of HTTP servers,
//! databases or templates.

#![warn(missing_docs)]
pub mod claims;
pub mod download_name;
pub mod jti;
pub mod keys;
pub mod mint;
pub mod object_path;
pub mod revocation;
pub mod time;

pub use claims::{Claims, Revocable};
pub use download_name::DownloadName;
pub use jti::Jti;
pub use keys::{PublicJwk, PublicJwks, SigningKey};
pub use mint::{MintedToken, Minter};
pub use object_path::ObjectPath;
pub use revocation::{RevocationState, RevokedBy};

/// The JOSE `typ` header every download token carries (RFC 8725 §3.11 explicit typing).
pub const TOKEN_TYP: &str = "dl+jwt";
/// The only signature algorithm of contract v1.
pub const TOKEN_ALG: jsonwebtoken::Algorithm = jsonwebtoken::Algorithm::EdDSA;
/// The audience tokens carry unless configured otherwise.
pub const DEFAULT_AUDIENCE: &str = "download";
/// The issuer both servers use unless configured otherwise.
pub const DEFAULT_ISSUER: &str = "http://127.0.0.1:8080";
/// Longest token the download server will even try to parse.
pub const MAX_TOKEN_LEN: usize = 4096;
