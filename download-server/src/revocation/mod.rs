//! Revocation: the app server publishes what it revoked as a signed state (`docs/revocation.md`);
//! this server long-polls it (`feed`), holds the latest verified one, and refuses every token it
//! names, at admission and, for a download already running, at its next chunk.
//!
//! Fail closed: with revocation configured, nothing is served before the first verified state,
//! nor while the state held is older than `--revocation-max-age`, nor for a token older than the
//! state's `retain` (the app server may have dropped a record that names it).

mod feed;

use arc_swap::ArcSwapOption;
use shared::{Claims, RevocationState, RevokedBy};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

/// Where the state comes from and how old it may be.
#[derive(Debug, Clone)]
pub struct RevocationOptions {
    /// The app server's `/.well-known/dl-revocations`.
    pub feed: url::Url,
    /// The JWKS (file or URL) of the keys that sign the state.
    pub keys: String,
    /// The `iss` the state must carry: the tokens' issuer.
    pub issuer: String,
    /// Seconds the state may be old.
    pub max_age: i64,
    /// Clock skew allowed on the state's `iat`.
    pub leeway: i64,
}

/// Why a token cannot be served now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// No state yet, or the one held is too old: the token might be revoked (503).
    Stale,
    /// The token is revoked.
    Revoked(RevokedBy),
    /// The token is older than the state's retention: a record that names it may be gone.
    OutOfWindow,
}

/// The latest verified state, shared by every worker.
pub struct Revocations {
    held: ArcSwapOption<RevocationState>,
    /// Moves whenever `check` may answer differently: a new state, or the held one going stale
    /// or fresh again. A running download re-checks its token only when it moved.
    version: AtomicU64,
    /// What the last staleness tick saw, so that a change of it moves `version`.
    was_fresh: AtomicBool,
    max_age: i64,
}

impl Revocations {
    fn new(max_age: i64) -> Self {
        Revocations {
            held: ArcSwapOption::empty(),
            version: AtomicU64::new(0),
            was_fresh: AtomicBool::new(false),
            max_age,
        }
    }

    /// Starts polling the feed; until a verified state arrives every token is refused as stale.
    pub async fn start(options: RevocationOptions) -> anyhow::Result<Arc<Self>> {
        let revocations = Arc::new(Revocations::new(options.max_age));
        feed::spawn(Arc::clone(&revocations), options).await?;
        Ok(revocations)
    }

    /// Holding `state` already, without a feed: for benchmarks.
    #[doc(hidden)]
    pub fn holding(state: RevocationState, max_age: i64) -> Self {
        let revocations = Revocations::new(max_age);
        revocations.held.store(Some(Arc::new(state)));
        revocations
    }

    /// Whether the token may be served now (`now` in seconds).
    pub fn check(&self, claims: &Claims, now: i64) -> Result<(), Refused> {
        let held = self.held.load();
        let Some(state) = held.as_deref().filter(|s| self.is_fresh(s, now)) else {
            return Err(Refused::Stale);
        };
        if now >= claims.iat.saturating_add(state.retain) {
            return Err(Refused::OutOfWindow);
        }
        match state.revokes(claims) {
            Some(by) => Err(Refused::Revoked(by)),
            None => Ok(()),
        }
    }

    /// Whether a verified state is held and recent enough to serve by (`/readyz`).
    pub fn fresh(&self, now: i64) -> bool {
        self.held
            .load()
            .as_deref()
            .is_some_and(|s| self.is_fresh(s, now))
    }

    fn is_fresh(&self, state: &RevocationState, now: i64) -> bool {
        now - state.iat <= self.max_age
    }

    /// The `seq` and `iat` of the state held.
    pub fn held(&self) -> Option<(i64, i64)> {
        self.held.load().as_deref().map(|s| (s.seq, s.iat))
    }

    pub(crate) fn version(&self) -> u64 {
        self.version.load(Ordering::Acquire)
    }

    /// Takes a verified state if it is newer than the one held: a higher `seq`, or the same `seq`
    /// signed later (a heartbeat) or in the same second with other records (on PostgreSQL a
    /// record with a lower `seq` may commit after a higher one). A lower `seq` is a rollback and
    /// is refused.
    fn accept(&self, state: RevocationState) -> Result<bool, String> {
        if let Some(held) = self.held.load().as_deref() {
            if state.seq < held.seq {
                return Err(format!(
                    "seq {} is older than the {} held",
                    state.seq, held.seq
                ));
            }
            if state.seq == held.seq
                && (state.iat < held.iat || (state.iat == held.iat && state == *held))
            {
                return Ok(false);
            }
        }
        self.held.store(Some(Arc::new(state)));
        self.was_fresh.store(true, Ordering::Release);
        self.version.fetch_add(1, Ordering::AcqRel);
        Ok(true)
    }

    /// Moves `version` when the state held went stale (or fresh) since the last tick, so that
    /// running downloads notice.
    fn tick(&self, now: i64) {
        let fresh = self.fresh(now);
        if self.was_fresh.swap(fresh, Ordering::AcqRel) != fresh {
            self.version.fetch_add(1, Ordering::AcqRel);
            if !fresh {
                tracing::error!(
                    max_age = self.max_age,
                    "the revocation state is too old: refusing downloads until the app server answers"
                );
            }
        }
    }
}

/// A running download's view: its token, and the `version` it was last checked at.
pub(crate) struct Watch {
    revocations: Arc<Revocations>,
    claims: Claims,
    seen: u64,
}

impl Watch {
    /// Watches a token that was just checked.
    pub fn new(revocations: Arc<Revocations>, claims: Claims) -> Self {
        let seen = revocations.version();
        Watch {
            revocations,
            claims,
            seen,
        }
    }

    /// Whether the download must stop: one atomic load per chunk, a real check only when the
    /// state changed.
    pub fn stop(&mut self) -> Option<Refused> {
        let version = self.revocations.version();
        if version == self.seen {
            return None;
        }
        self.seen = version;
        self.revocations
            .check(&self.claims, shared::time::now_secs())
            .err()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use shared::{Jti, ObjectPath};

    fn claims(iat: i64) -> Claims {
        Claims {
            iss: "i".into(),
            aud: "a".into(),
            sub: "u1".into(),
            jti: Jti::new_random(),
            iat,
            exp: iat + 60,
            nbf: None,
            obj: ObjectPath::parse("u/u1/f").unwrap(),
            name: None,
            sgen: 0,
            ogen: 0,
            sid: Some("s1".into()),
        }
    }

    fn state(seq: i64, iat: i64) -> RevocationState {
        RevocationState {
            iat,
            seq,
            retain: 1000,
            ..RevocationState::default()
        }
    }

    #[test]
    fn nothing_is_served_before_a_state_or_by_a_stale_one() {
        let r = Revocations::new(30);
        let token = claims(100);
        assert_eq!(r.check(&token, 100), Err(Refused::Stale));
        r.accept(state(0, 100)).unwrap();
        assert_eq!(r.check(&token, 130), Ok(()));
        assert_eq!(r.check(&token, 131), Err(Refused::Stale));
        assert!(!r.fresh(131));
    }

    #[test]
    fn a_token_older_than_the_retention_is_refused() {
        let r = Revocations::new(30);
        r.accept(state(0, 2000)).unwrap();
        assert_eq!(r.check(&claims(1001), 2000), Ok(()));
        assert_eq!(r.check(&claims(1000), 2000), Err(Refused::OutOfWindow));
    }

    #[test]
    fn only_newer_states_replace_the_one_held() {
        let r = Revocations::new(30);
        let mut revoking = state(5, 100);
        revoking.sid.insert("s1".into());
        assert_eq!(r.accept(revoking), Ok(true));
        assert!(r.accept(state(4, 200)).is_err(), "a rollback");
        assert_eq!(r.accept(state(5, 99)), Ok(false), "signed earlier");
        let mut revoking_more = state(5, 100);
        revoking_more.sid.extend(["s1".into(), "s2".into()]);
        assert_eq!(
            r.accept(revoking_more.clone()),
            Ok(true),
            "a late record, same second"
        );
        assert_eq!(r.accept(revoking_more), Ok(false), "the same state again");
        assert_eq!(
            r.check(&claims(100), 110),
            Err(Refused::Revoked(RevokedBy::Session))
        );
        assert_eq!(r.accept(state(6, 101)), Ok(true));
        assert_eq!(r.check(&claims(100), 110), Ok(()));
    }

    #[test]
    fn a_watch_rechecks_only_when_the_state_moved() {
        let r = Arc::new(Revocations::new(30));
        let now = shared::time::now_secs();
        r.accept(state(1, now)).unwrap();
        let token = claims(now);
        let mut watch = Watch::new(Arc::clone(&r), token.clone());
        assert_eq!(watch.stop(), None);
        let mut revoking = state(2, now);
        revoking.jti.insert(token.jti);
        r.accept(revoking).unwrap();
        assert_eq!(watch.stop(), Some(Refused::Revoked(RevokedBy::Link)));
    }

    #[test]
    fn going_stale_moves_the_version() {
        let r = Revocations::new(30);
        r.accept(state(1, 100)).unwrap();
        let before = r.version();
        r.tick(120);
        assert_eq!(r.version(), before);
        r.tick(131);
        assert_eq!(r.version(), before + 1);
        r.tick(132);
        assert_eq!(r.version(), before + 1);
    }
}
