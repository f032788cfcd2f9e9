//! Long-polls the app server for its revocation state, verifies each answer with the revocation
//! keys (their own JWKS, `typ` and audience: a download token can never pass as a state) and
//! hands the newer ones to `Revocations`.

use super::{RevocationOptions, Revocations};
use crate::jwks::KeyStore;
use crate::verify::{VerifyError, json_object_text, verified_payload};
use shared::RevocationState;
use shared::revocation::{MAX_REVOCATIONS_LEN, REVOCATIONS_AUD, REVOCATIONS_TYP};
use std::sync::{Arc, Weak};
use std::time::Duration;

/// Most seconds the app server may hold a poll open. A poll waits half of
/// `--revocation-max-age` at most, so that a quiet feed's heartbeat refreshes the state well
/// before it goes stale.
const MAX_WAIT_SECS: i64 = 20;
/// Pause after a failed poll.
const RETRY: Duration = Duration::from_secs(1);
/// How long after start a missing app server is expected rather than warned about.
const STARTUP_GRACE: Duration = Duration::from_secs(10);

/// Why an answer was not taken.
#[derive(Debug, thiserror::Error)]
pub(super) enum FeedError {
    #[error("{0}")]
    Fetch(String),
    #[error("the state is signed with an unknown key")]
    UnknownKid,
    #[error("the state does not verify: {0}")]
    Invalid(String),
}

pub(super) async fn spawn(
    revocations: Arc<Revocations>,
    options: RevocationOptions,
) -> anyhow::Result<()> {
    let keys = Arc::new(KeyStore::unloaded(&options.keys)?);
    let http = reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(2))
        .timeout(Duration::from_secs(MAX_WAIT_SECS as u64 + 10))
        .redirect(reqwest::redirect::Policy::none())
        .build()?;
    tracing::info!(feed = %options.feed, keys = %options.keys, max_age = options.max_age, "revocation on: waiting for the first state");
    tokio::spawn(poll(Arc::downgrade(&revocations), options, keys, http));
    let weak = Arc::downgrade(&revocations);
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_millis(500));
        loop {
            tick.tick().await;
            let Some(revocations) = weak.upgrade() else {
                return;
            };
            revocations.tick(shared::time::now_secs());
        }
    });
    Ok(())
}

async fn poll(
    revocations: Weak<Revocations>,
    options: RevocationOptions,
    keys: Arc<KeyStore>,
    http: reqwest::Client,
) {
    let mut failing = false;
    let started = std::time::Instant::now();
    loop {
        let Some(held) = revocations.upgrade().map(|r| r.held()) else {
            return;
        };
        let wait = (options.max_age / 2).clamp(1, MAX_WAIT_SECS);
        let result = fetch(&http, &options.feed, held.map(|(seq, _)| seq), wait).await;
        let Some(target) = revocations.upgrade() else {
            return;
        };
        let outcome = match result {
            Ok(jws) => match verify(&jws, &keys, &options) {
                Err(FeedError::UnknownKid) => match keys.refresh().await {
                    Ok(()) => verify(&jws, &keys, &options),
                    Err(error) => Err(FeedError::Fetch(format!(
                        "reading the revocation keys: {error:#}"
                    ))),
                },
                other => other,
            },
            Err(error) => Err(error),
        }
        .and_then(|state| {
            let seq = state.seq;
            target
                .accept(state)
                .map(|newer| (seq, newer))
                .map_err(FeedError::Invalid)
        });
        drop(target);
        match outcome {
            Ok((seq, newer)) => {
                if failing {
                    tracing::info!(seq, "revocation state received again");
                }
                failing = false;
                if newer {
                    tracing::debug!(seq, "revocation state updated");
                }
            }
            Err(error) => {
                // One warning per outage, not one per retry; none while the app server may
                // still be starting beside this one (`local`, a deployment starting together).
                if held.is_none() && started.elapsed() < STARTUP_GRACE {
                    tracing::debug!(%error, "no revocation state yet; waiting for the app server");
                } else if !failing {
                    tracing::warn!(%error, "could not get the revocation state; retrying");
                    failing = true;
                }
                tokio::time::sleep(RETRY).await;
            }
        }
    }
}

async fn fetch(
    http: &reqwest::Client,
    feed: &url::Url,
    after: Option<i64>,
    wait: i64,
) -> Result<String, FeedError> {
    let mut url = feed.clone();
    if let Some(after) = after {
        url.query_pairs_mut()
            .append_pair("after", &after.to_string())
            .append_pair("wait", &wait.to_string());
    }
    let fail = |what: &str, e: &dyn std::fmt::Display| FeedError::Fetch(format!("{what}: {e}"));
    let mut response = http
        .get(url)
        .header(reqwest::header::ACCEPT, "application/jwt")
        .send()
        .await
        .map_err(|e| fail("polling the revocation feed", &e))?;
    if !response.status().is_success() {
        return Err(fail("the revocation feed answered", &response.status()));
    }
    let mut body = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| fail("reading the revocation state", &e))?
    {
        if body.len() + chunk.len() > MAX_REVOCATIONS_LEN {
            return Err(FeedError::Fetch(format!(
                "the revocation state is larger than {MAX_REVOCATIONS_LEN} bytes"
            )));
        }
        body.extend_from_slice(&chunk);
    }
    String::from_utf8(body).map_err(|_| FeedError::Invalid("not text".into()))
}

/// Signature (revocation keys, `typ`), then the claims: our issuer, the revocations audience,
/// not signed in the future.
pub(super) fn verify(
    jws: &str,
    keys: &KeyStore,
    options: &RevocationOptions,
) -> Result<RevocationState, FeedError> {
    let jws = jws.trim_ascii();
    let payload = verified_payload(jws, &keys.current(), REVOCATIONS_TYP).map_err(|e| match e {
        VerifyError::UnknownKid(_) => FeedError::UnknownKid,
        other => FeedError::Invalid(other.to_string()),
    })?;
    let text = json_object_text(&payload)
        .ok_or_else(|| FeedError::Invalid("not a UTF-8 JSON object".into()))?;
    let state: RevocationState =
        serde_json::from_str(text).map_err(|e| FeedError::Invalid(e.to_string()))?;
    if state.iss != options.issuer {
        return Err(FeedError::Invalid("wrong issuer".into()));
    }
    if state.aud != REVOCATIONS_AUD {
        return Err(FeedError::Invalid("wrong audience".into()));
    }
    if state.iat > shared::time::now_secs() + options.leeway {
        return Err(FeedError::Invalid("signed in the future".into()));
    }
    if state.retain <= 0 || state.seq < 0 {
        return Err(FeedError::Invalid("retain and seq must be positive".into()));
    }
    Ok(state)
}

#[cfg(test)]
mod tests {
    use super::*;
    use shared::SigningKey;

    fn sign(key: &SigningKey, typ: &str, state: &RevocationState) -> String {
        let mut header = jsonwebtoken::Header::new(shared::TOKEN_ALG);
        header.typ = Some(typ.to_owned());
        header.kid = Some(key.kid().to_owned());
        jsonwebtoken::encode(&header, state, key.encoding_key()).unwrap()
    }

    fn state() -> RevocationState {
        RevocationState {
            iss: "https://a.example".into(),
            aud: REVOCATIONS_AUD.into(),
            iat: shared::time::now_secs(),
            seq: 3,
            retain: 3900,
            ..RevocationState::default()
        }
    }

    async fn keys_of(key: &SigningKey) -> (tempfile::TempDir, Arc<KeyStore>, RevocationOptions) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("revocation-jwks.json");
        key.public_jwks().write_atomically(&path).unwrap();
        let spec = path.to_str().unwrap().to_owned();
        let options = RevocationOptions {
            feed: "http://127.0.0.1:9/.well-known/dl-revocations"
                .parse()
                .unwrap(),
            keys: spec.clone(),
            issuer: "https://a.example".into(),
            max_age: 30,
            leeway: 30,
        };
        (dir, KeyStore::load(&spec).await.unwrap(), options)
    }

    #[tokio::test]
    async fn only_a_state_signed_by_a_revocation_key_with_its_own_typ_and_audience_verifies() {
        let key = SigningKey::generate().unwrap();
        let token_key = SigningKey::generate().unwrap();
        let (_dir, keys, options) = keys_of(&key).await;
        let mut good = state();
        good.jti.insert(shared::Jti::new_random());
        let verified = verify(&sign(&key, REVOCATIONS_TYP, &good), &keys, &options).unwrap();
        assert_eq!(verified, good);

        let by_token_key = sign(&token_key, REVOCATIONS_TYP, &good);
        assert!(matches!(
            verify(&by_token_key, &keys, &options),
            Err(FeedError::UnknownKid)
        ));
        for (what, jws) in [
            (
                "a download token's typ",
                sign(&key, shared::TOKEN_TYP, &good),
            ),
            ("no typ", sign(&key, "JWT", &good)),
            (
                "another audience",
                sign(
                    &key,
                    REVOCATIONS_TYP,
                    &RevocationState {
                        aud: shared::DEFAULT_AUDIENCE.into(),
                        ..good.clone()
                    },
                ),
            ),
            (
                "another issuer",
                sign(
                    &key,
                    REVOCATIONS_TYP,
                    &RevocationState {
                        iss: "https://evil.example".into(),
                        ..good.clone()
                    },
                ),
            ),
            (
                "signed in the future",
                sign(
                    &key,
                    REVOCATIONS_TYP,
                    &RevocationState {
                        iat: good.iat + 120,
                        ..good.clone()
                    },
                ),
            ),
            (
                "no retention",
                sign(
                    &key,
                    REVOCATIONS_TYP,
                    &RevocationState {
                        retain: 0,
                        ..good.clone()
                    },
                ),
            ),
        ] {
            assert!(
                matches!(verify(&jws, &keys, &options), Err(FeedError::Invalid(_))),
                "{what} verified"
            );
        }
        let mut tampered = sign(&key, REVOCATIONS_TYP, &good);
        let payload = base64::Engine::encode(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD,
            serde_json::to_vec(&state()).unwrap(),
        );
        let parts: Vec<&str> = tampered.split('.').collect();
        tampered = format!("{}.{payload}.{}", parts[0], parts[2]);
        assert!(matches!(
            verify(&tampered, &keys, &options),
            Err(FeedError::Invalid(_))
        ));
    }
}
