//! The state document: its query (`after`, `wait`), the records merged (sub/obj: the highest
//! generation per key) and the compact JWS signed by the revocation key.

use super::Revocations;
use crate::db::revocations::{Kind, Record};
use crate::error::AppError;
use jsonwebtoken::Header;
use shared::revocation::{REVOCATIONS_AUD, REVOCATIONS_TYP};
use shared::{Jti, RevocationState};
use std::time::Duration;

/// The longest a request may be held.
pub const MAX_WAIT_SECS: u64 = 25;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeedQuery {
    /// The `seq` the caller holds.
    pub after: Option<i64>,
    pub wait: Duration,
}

/// `after` a non-negative integer, `wait` one too (above 25 taken as 25); each at most once.
/// Other parameters are ignored; anything else is a 400.
pub fn parse_query(query: &str) -> Result<FeedQuery, AppError> {
    let (mut after, mut wait) = (None, None);
    for (name, value) in url::form_urlencoded::parse(query.as_bytes()) {
        let slot = match name.as_ref() {
            "after" => &mut after,
            "wait" => &mut wait,
            _ => continue,
        };
        if slot.is_some() {
            return Err(AppError::bad(format!("{name} is given twice.")));
        }
        *slot = Some(value.into_owned());
    }
    let digits = |name: &str, value: &str| {
        if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
            return Err(AppError::bad(format!(
                "{name} must be a non-negative integer."
            )));
        }
        Ok(())
    };
    let after = match after {
        Some(value) => {
            digits("after", &value)?;
            Some(
                value
                    .parse::<i64>()
                    .map_err(|_| AppError::bad("after is too large."))?,
            )
        }
        None => None,
    };
    let wait = match wait {
        Some(value) => {
            digits("wait", &value)?;
            // Any number of digits: larger than 25 is 25.
            value.parse::<u64>().unwrap_or(u64::MAX).min(MAX_WAIT_SECS)
        }
        None => 0,
    };
    Ok(FeedQuery {
        after,
        wait: Duration::from_secs(wait),
    })
}

/// The whole current state at `now`.
pub fn state(
    revocations: &Revocations,
    seq: i64,
    records: Vec<Record>,
    now: i64,
) -> RevocationState {
    let mut state = RevocationState {
        iss: revocations.issuer.clone(),
        aud: REVOCATIONS_AUD.to_owned(),
        iat: now,
        seq,
        retain: revocations.retention.retain,
        ..RevocationState::default()
    };
    for record in records {
        let gen_ = u64::try_from(record.gen_).unwrap_or(0);
        match record.kind {
            Kind::Sub => max_into(&mut state.sub, record.key, gen_),
            Kind::Obj => max_into(&mut state.obj, record.key, gen_),
            Kind::Sid => {
                state.sid.insert(record.key);
            }
            Kind::Jti => {
                if let Ok(jti) = Jti::parse(&record.key) {
                    state.jti.insert(jti);
                }
            }
        }
    }
    state
}

fn max_into(map: &mut std::collections::HashMap<String, u64>, key: String, gen_: u64) {
    let held = map.entry(key).or_insert(gen_);
    *held = (*held).max(gen_);
}

/// The compact JWS: `{"alg":"EdDSA","typ":"dl-revocations+jwt","kid":…}`.
pub fn sign(revocations: &Revocations, state: &RevocationState) -> anyhow::Result<String> {
    let mut header = Header::new(shared::TOKEN_ALG);
    header.typ = Some(REVOCATIONS_TYP.to_owned());
    header.kid = Some(revocations.key.kid().to_owned());
    Ok(jsonwebtoken::encode(
        &header,
        state,
        revocations.key.encoding_key(),
    )?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(query: &str) -> Option<(Option<i64>, u64)> {
        parse_query(query).ok().map(|q| (q.after, q.wait.as_secs()))
    }

    #[test]
    fn after_and_wait_are_non_negative_integers_wait_capped_at_25() {
        assert_eq!(parsed(""), Some((None, 0)));
        assert_eq!(parsed("after=42&wait=25"), Some((Some(42), 25)));
        assert_eq!(parsed("after=0&wait=0"), Some((Some(0), 0)));
        assert_eq!(parsed("after=000&wait=007"), Some((Some(0), 7)));
        assert_eq!(parsed("wait=26"), Some((None, 25)));
        assert_eq!(parsed("wait=99999999999999999999999"), Some((None, 25)));
        assert_eq!(
            parsed("after=9223372036854775807"),
            Some((Some(i64::MAX), 0))
        );
        assert_eq!(parsed("other=x&after=1"), Some((Some(1), 0)));
        for bad in [
            "after=",
            "after=-1",
            "after=+1",
            "after=1.5",
            "after=abc",
            "after=%20",
            "after=1&after=2",
            "after=9223372036854775808",
            "wait=-1",
            "wait=",
            "wait=1s",
            "wait=1&wait=1",
        ] {
            assert_eq!(parsed(bad), None, "{bad}");
        }
    }

    #[test]
    fn generations_merge_to_the_highest_and_lists_deduplicate() {
        let revocations = Revocations {
            key: shared::SigningKey::generate().unwrap(),
            jwks: shared::PublicJwks::default(),
            issuer: "https://app.test".into(),
            retention: super::super::Retention::new(120, 3600),
            changes: Default::default(),
            long_polls: tokio::sync::Semaphore::new(1),
        };
        let jti = Jti::new_random();
        let record = |kind, key: &str, gen_| Record {
            kind,
            key: key.into(),
            gen_,
        };
        let merged = state(
            &revocations,
            7,
            vec![
                record(Kind::Sub, "u1", 3),
                record(Kind::Sub, "u1", 2),
                record(Kind::Obj, "u/u1/f", 1),
                record(Kind::Sid, "s", 0),
                record(Kind::Sid, "s", 0),
                record(Kind::Jti, &jti.to_string(), 0),
            ],
            1000,
        );
        assert_eq!((merged.seq, merged.iat, merged.retain), (7, 1000, 3840));
        assert_eq!(merged.aud, REVOCATIONS_AUD);
        assert_eq!(merged.sub["u1"], 3);
        assert_eq!(merged.obj["u/u1/f"], 1);
        assert_eq!(merged.sid.len(), 1);
        assert!(merged.jti.contains(&jti));
    }
}
