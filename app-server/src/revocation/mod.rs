//! Taking links back before they expire (`docs/revocation.md`): the events record what they
//! revoke in the database, in the transaction that makes the change; the feed publishes every
//! record still kept as one document signed by the revocation key; long-polls wake on changes.

pub mod events;
pub mod feed;
pub mod key;
pub mod notify;

use crate::db::revocations::Stamp;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use shared::{PublicJwks, SigningKey};

/// The leeway a download server allows past `exp`, and the margin after a grant's end (contract).
const LEEWAY_SECS: i64 = 60;
const MARGIN_SECS: i64 = 60;

/// The opaque session id links carry (`sid`): base64url (no padding) of the first 16 bytes of
/// SHA-256(`"dl-sid:" || session row id`). The row id, never the cookie: it cannot become one.
pub fn sid_of(session_id: &str) -> String {
    let mut input = b"dl-sid:".to_vec();
    input.extend_from_slice(session_id.as_bytes());
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, &input);
    URL_SAFE_NO_PAD.encode(&digest.as_ref()[..16])
}

/// How long records (and link rows) are kept: after `retain` seconds every token minted before
/// a record has expired and every grant opened from one has ended.
#[derive(Debug, Clone, Copy)]
pub struct Retention {
    pub retain: i64,
    pub grant_max_age: i64,
}

impl Retention {
    /// token lifetime + 60 s leeway + the download server's grant max age + 60 s.
    pub fn new(token_ttl: u32, grant_max_age: u32) -> Self {
        let grant_max_age = i64::from(grant_max_age);
        Retention {
            retain: i64::from(token_ttl) + LEEWAY_SECS + grant_max_age + MARGIN_SECS,
            grant_max_age,
        }
    }

    /// A record made now, kept `retain` seconds.
    pub fn stamp(&self) -> Stamp {
        let now = shared::time::now_secs();
        Stamp {
            now,
            until: now + self.retain,
        }
    }
}

/// What the feed needs: the revocation key and its JWKS, the issuer, the retention, the
/// change notifier and the bound on waiting long-polls.
pub struct Revocations {
    pub key: SigningKey,
    pub jwks: PublicJwks,
    pub issuer: String,
    pub retention: Retention,
    pub changes: notify::Changes,
    pub long_polls: tokio::sync::Semaphore,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sid_is_22_characters_of_the_row_id_digest() {
        let sid = sid_of("0b6f0c3e-2b7e-4b8a-9c59-3f1f9a3c7d10");
        assert_eq!(sid.len(), 22);
        assert_eq!(sid, sid_of("0b6f0c3e-2b7e-4b8a-9c59-3f1f9a3c7d10"));
        assert_ne!(sid, sid_of("0b6f0c3e-2b7e-4b8a-9c59-3f1f9a3c7d11"));
        // SHA-256("dl-sid:s1"), first 16 bytes.
        let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, b"dl-sid:s1");
        assert_eq!(sid_of("s1"), URL_SAFE_NO_PAD.encode(&digest.as_ref()[..16]));
    }

    #[test]
    fn retention_is_ttl_leeway_grant_and_margin() {
        assert_eq!(Retention::new(120, 3600).retain, 3840);
        assert_eq!(Retention::new(1, 0).retain, 121);
    }
}
