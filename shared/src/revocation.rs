//! The revocation state the app server publishes and every download server enforces (contract
//! v1.3, `docs/revocation.md`): a JWS signed by a key kept for this alone, with its own `typ` and
//! audience, so that it can never pass as a download token, nor a token as a state.

use crate::{Claims, Jti};
use serde::{Deserialize, Serialize};
use std::collections::{HashMap, HashSet};

/// The JOSE `typ` of a revocation state.
pub const REVOCATIONS_TYP: &str = "dl-revocations+jwt";
/// The audience of every revocation state.
pub const REVOCATIONS_AUD: &str = "urn:dl:revocations";
/// Longest state document a download server accepts (the compact JWS).
pub const MAX_REVOCATIONS_LEN: usize = 8 * 1024 * 1024;

/// The whole current state: every revocation that can still affect a token or a grant. Each
/// record lives `retain` seconds from when it was made, then the app server drops it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RevocationState {
    /// The app server's issuer, the same as its tokens'.
    pub iss: String,
    /// Always [`REVOCATIONS_AUD`].
    pub aud: String,
    /// When the state was signed: a download server whose state is older than its bound
    /// refuses new downloads.
    pub iat: i64,
    /// The number of the latest revocation: never goes down.
    pub seq: i64,
    /// How long the app server keeps a record, in seconds.
    pub retain: i64,
    /// Subject → the lowest `sgen` still valid.
    #[serde(default)]
    pub sub: HashMap<String, u64>,
    /// Object path → the lowest `ogen` still valid.
    #[serde(default)]
    pub obj: HashMap<String, u64>,
    /// Revoked sessions: tokens minted from them.
    #[serde(default)]
    pub sid: HashSet<String>,
    /// Revoked links.
    #[serde(default)]
    pub jti: HashSet<Jti>,
}

/// What a revocation names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RevokedBy {
    /// The subject (sign out everywhere, password change, account disabled).
    Subject,
    /// The object (file deleted).
    Object,
    /// The session the link was minted from (signed out).
    Session,
    /// This one link.
    Link,
}

impl RevokedBy {
    /// The reason as the contract spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            RevokedBy::Subject => "subject",
            RevokedBy::Object => "object",
            RevokedBy::Session => "session",
            RevokedBy::Link => "link",
        }
    }
}

impl RevocationState {
    /// What revokes a token with these claims, if anything.
    pub fn revokes(&self, claims: &Claims) -> Option<RevokedBy> {
        if self.jti.contains(&claims.jti) {
            return Some(RevokedBy::Link);
        }
        if claims.sid.as_ref().is_some_and(|sid| self.sid.contains(sid)) {
            return Some(RevokedBy::Session);
        }
        if self.sub.get(&claims.sub).is_some_and(|&gen_| claims.sgen < gen_) {
            return Some(RevokedBy::Subject);
        }
        if self
            .obj
            .get(claims.obj.as_str())
            .is_some_and(|&gen_| claims.ogen < gen_)
        {
            return Some(RevokedBy::Object);
        }
        None
    }

    /// Whether nothing is revoked.
    pub fn is_empty(&self) -> bool {
        self.sub.is_empty() && self.obj.is_empty() && self.sid.is_empty() && self.jti.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ObjectPath;

    fn claims() -> Claims {
        Claims {
            iss: "i".into(),
            aud: "a".into(),
            sub: "u1".into(),
            jti: Jti::new_random(),
            iat: 0,
            exp: 60,
            nbf: None,
            obj: ObjectPath::parse("u/u1/f").unwrap(),
            name: None,
            sgen: 2,
            ogen: 0,
            sid: Some("s1".into()),
        }
    }

    #[test]
    fn each_kind_of_record_revokes_only_what_it_names() {
        let token = claims();
        let mut state = RevocationState::default();
        assert_eq!(state.revokes(&token), None);
        state.sub.insert("u1".into(), 2);
        assert_eq!(state.revokes(&token), None, "sgen 2 is still valid at 2");
        state.sub.insert("u1".into(), 3);
        assert_eq!(state.revokes(&token), Some(RevokedBy::Subject));
        state.sub.clear();
        state.sub.insert("u2".into(), 9);
        state.obj.insert("u/u1/other".into(), 9);
        state.sid.insert("s2".into());
        assert_eq!(state.revokes(&token), None);
        state.obj.insert("u/u1/f".into(), 1);
        assert_eq!(state.revokes(&token), Some(RevokedBy::Object));
        state.obj.clear();
        state.sid.insert("s1".into());
        assert_eq!(state.revokes(&token), Some(RevokedBy::Session));
        state.jti.insert(token.jti);
        assert_eq!(state.revokes(&token), Some(RevokedBy::Link));
    }

    #[test]
    fn a_token_without_a_session_is_never_revoked_by_one() {
        let mut token = claims();
        token.sid = None;
        let mut state = RevocationState::default();
        state.sid.insert(String::new());
        assert_eq!(state.revokes(&token), None);
    }
}
