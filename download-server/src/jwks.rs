//! The public keys the server trusts: a JWKS read from a file or a URL, re-read periodically and
//! when a token names an unknown `kid`. Each key is pinned to EdDSA/Ed25519; unusable keys are
//! skipped with a warning, and a failed re-read keeps the keys already loaded.

use anyhow::{Context, bail};
use arc_swap::ArcSwap;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};
use url::Url;

/// Largest JWKS document accepted.
const MAX_JWKS_BYTES: usize = 1024 * 1024;
/// An unknown `kid` re-reads the JWKS at most this often.
const UNKNOWN_KID_REFRESH_INTERVAL: Duration = Duration::from_secs(10);

/// `kid` → Ed25519 verification key. Only EdDSA keys are ever inserted, so the algorithm is
/// pinned by the key, never chosen by the token.
pub type KeyMap = HashMap<String, VerifyingKey>;

pub use crate::verify::signature::VerifyingKey;

#[derive(Debug, Clone)]
pub enum JwksSource {
    File(PathBuf),
    Url(Url),
}

impl JwksSource {
    pub fn parse(spec: &str) -> Self {
        match Url::parse(spec) {
            Ok(url) if matches!(url.scheme(), "http" | "https") => JwksSource::Url(url),
            Ok(url) if url.scheme() == "file" => JwksSource::File(
                url.to_file_path()
                    .unwrap_or_else(|_| PathBuf::from(url.path())),
            ),
            _ => JwksSource::File(PathBuf::from(spec)),
        }
    }

    async fn fetch(&self, http: &reqwest::Client) -> anyhow::Result<Vec<u8>> {
        match self {
            JwksSource::File(path) => {
                let bytes = tokio::fs::read(path)
                    .await
                    .with_context(|| format!("reading JWKS {}", path.display()))?;
                if bytes.len() > MAX_JWKS_BYTES {
                    bail!(
                        "JWKS {} is larger than {MAX_JWKS_BYTES} bytes",
                        path.display()
                    );
                }
                Ok(bytes)
            }
            JwksSource::Url(url) => {
                let response = http
                    .get(url.clone())
                    .send()
                    .await
                    .with_context(|| format!("fetching JWKS {url}"))?;
                let status = response.status();
                if !status.is_success() {
                    bail!("fetching JWKS {url}: HTTP {status}");
                }
                let bytes = response
                    .bytes()
                    .await
                    .with_context(|| format!("reading JWKS {url}"))?;
                if bytes.len() > MAX_JWKS_BYTES {
                    bail!("JWKS {url} is larger than {MAX_JWKS_BYTES} bytes");
                }
                Ok(bytes.to_vec())
            }
        }
    }
}

/// Parses a JWKS key by key: a key that is not a usable Ed25519 signing key (other `kty`/`crv`,
/// `alg` not `EdDSA`, `use` not `sig`, `x` not 32 bytes, no `kid`) is skipped with a warning.
pub fn parse_jwks(bytes: &[u8]) -> anyhow::Result<KeyMap> {
    // Read as a JSON value, not a derived struct: serde reads a struct from a JSON array too, and
    // `[[]]` is no JWK Set (RFC 7517 §5).
    let doc: serde_json::Value = serde_json::from_slice(bytes).context("JWKS is not JSON")?;
    let Some(entries) = doc.get("keys").and_then(serde_json::Value::as_array) else {
        bail!("JWKS is not a JSON object with a \"keys\" array");
    };
    let mut keys = KeyMap::new();
    for (index, value) in entries.iter().enumerate() {
        match usable_key(value) {
            Ok((kid, key)) => {
                if keys.insert(kid.clone(), key).is_some() {
                    tracing::warn!(
                        index,
                        kid,
                        "JWKS has two keys with the same kid; using the later one"
                    );
                }
            }
            Err(reason) => tracing::warn!(index, %reason, "skipping unusable JWKS key"),
        }
    }
    Ok(keys)
}

fn usable_key(value: &serde_json::Value) -> Result<(String, VerifyingKey), String> {
    let field = |name: &str| value.get(name).and_then(|v| v.as_str());
    let kid = field("kid").filter(|k| !k.is_empty()).ok_or("no kid")?;
    if field("kty") != Some("OKP") || field("crv") != Some("Ed25519") {
        return Err(format!(
            "kid {kid}: not an Ed25519 (kty OKP, crv Ed25519) key"
        ));
    }
    if field("alg") != Some("EdDSA") {
        return Err(format!("kid {kid}: alg must be EdDSA"));
    }
    if let Some(usage) = value.get("use")
        && usage.as_str() != Some("sig")
    {
        return Err(format!("kid {kid}: use must be sig"));
    }
    if value.get("d").is_some() {
        return Err(format!(
            "kid {kid}: a private key does not belong in a public JWKS"
        ));
    }
    let x = field("x").ok_or_else(|| format!("kid {kid}: no x"))?;
    let raw = URL_SAFE_NO_PAD
        .decode(x)
        .map_err(|_| format!("kid {kid}: x is not base64url"))?;
    if raw.len() != 32 {
        return Err(format!(
            "kid {kid}: x is {} bytes, an Ed25519 key is 32",
            raw.len()
        ));
    }
    let key = VerifyingKey::ed25519(&raw).map_err(|e| format!("kid {kid}: {e}"))?;
    Ok((kid.to_owned(), key))
}

/// The key set as this server publishes it to edges: a JWKS document and its ETag.
pub struct PublishedJwks {
    pub body: String,
    pub etag: String,
}

impl PublishedJwks {
    /// Exactly the keys in `keys`, as public JWKs in `kid` order (so the same set always gives
    /// the same document and ETag); nothing but the public members.
    fn of(keys: &KeyMap) -> Self {
        let mut kids: Vec<&String> = keys.keys().collect();
        kids.sort();
        let keys: Vec<serde_json::Value> = kids
            .into_iter()
            .map(|kid| {
                serde_json::json!({
                    "kty": "OKP",
                    "crv": "Ed25519",
                    "x": URL_SAFE_NO_PAD.encode(keys[kid].raw()),
                    "kid": kid,
                    "alg": "EdDSA",
                    "use": "sig",
                })
            })
            .collect();
        let body = serde_json::json!({ "keys": keys }).to_string();
        let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, body.as_bytes());
        let etag = format!("\"{}\"", URL_SAFE_NO_PAD.encode(&digest.as_ref()[..18]));
        PublishedJwks { body, etag }
    }
}

/// The live key set, swapped atomically on every successful re-read.
pub struct KeyStore {
    keys: ArcSwap<KeyMap>,
    published: ArcSwap<PublishedJwks>,
    source: JwksSource,
    http: reqwest::Client,
    last_unknown_kid_refresh: tokio::sync::Mutex<Option<Instant>>,
}

impl KeyStore {
    /// Loads the JWKS once; fails when the source cannot be read or parsed.
    pub async fn load(spec: &str) -> anyhow::Result<Arc<Self>> {
        let store = KeyStore::unloaded(spec)?;
        let keys = parse_jwks(&store.source.fetch(&store.http).await?)?;
        if keys.is_empty() {
            tracing::warn!("the JWKS holds no usable key: every token will be refused");
        }
        tracing::info!(keys = keys.len(), source = ?store.source, "loaded public keys");
        store.published.store(Arc::new(PublishedJwks::of(&keys)));
        store.keys.store(Arc::new(keys));
        Ok(Arc::new(store))
    }

    /// A key set that holds no key until `refresh` reads one (the revocation keys, whose
    /// source may not answer yet when this server starts).
    pub fn unloaded(spec: &str) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(2))
            .timeout(Duration::from_secs(5))
            .redirect(reqwest::redirect::Policy::limited(3))
            .build()
            .context("building the JWKS HTTP client")?;
        Ok(KeyStore {
            published: ArcSwap::from_pointee(PublishedJwks::of(&KeyMap::new())),
            keys: ArcSwap::from_pointee(KeyMap::new()),
            source: JwksSource::parse(spec),
            http,
            last_unknown_kid_refresh: tokio::sync::Mutex::new(None),
        })
    }

    pub fn current(&self) -> arc_swap::Guard<Arc<KeyMap>> {
        self.keys.load()
    }

    /// The current keys as a JWKS document, for edges that verify links themselves.
    pub fn published(&self) -> Arc<PublishedJwks> {
        self.published.load_full()
    }

    /// Re-reads the source; on failure the keys already loaded stay in use.
    pub async fn refresh(&self) -> anyhow::Result<()> {
        let keys = parse_jwks(&self.source.fetch(&self.http).await?)?;
        self.published.store(Arc::new(PublishedJwks::of(&keys)));
        self.keys.store(Arc::new(keys));
        Ok(())
    }

    /// Called when a token names a `kid` we do not know (the issuer may have rotated keys):
    /// re-reads at most once per interval, and returns whether the kid is known afterwards.
    pub async fn refresh_for_unknown_kid(&self, kid: &str) -> bool {
        let mut last = self.last_unknown_kid_refresh.lock().await;
        if self.current().contains_key(kid) {
            return true; // another request refreshed while we waited
        }
        if last.is_some_and(|at| at.elapsed() < UNKNOWN_KID_REFRESH_INTERVAL) {
            return false;
        }
        *last = Some(Instant::now());
        if let Err(error) = self.refresh().await {
            tracing::warn!(error = format!("{error:#}"), "re-reading the JWKS failed");
        }
        self.current().contains_key(kid)
    }

    /// Re-reads the JWKS every `every` until the process ends.
    pub fn spawn_refresher(self: &Arc<Self>, every: Duration) {
        let store = Arc::downgrade(self);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            tick.tick().await;
            loop {
                tick.tick().await;
                let Some(store) = store.upgrade() else { return };
                if let Err(error) = store.refresh().await {
                    tracing::warn!(
                        error = format!("{error:#}"),
                        "periodic JWKS re-read failed; keeping the old keys"
                    );
                }
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unusable_keys_are_skipped_not_fatal() {
        let good = shared::SigningKey::generate().unwrap().public_jwk();
        let doc = serde_json::json!({"keys": [
            {"kty":"OKP","crv":"Ed25519","x": URL_SAFE_NO_PAD.encode([1u8; 31]),"kid":"short","alg":"EdDSA","use":"sig"},
            {"kty":"OKP","crv":"Ed25519","x": URL_SAFE_NO_PAD.encode([1u8; 33]),"kid":"long","alg":"EdDSA"},
            {"kty":"OKP","crv":"X25519","x": URL_SAFE_NO_PAD.encode([1u8; 32]),"kid":"x25519","alg":"EdDSA"},
            {"kty":"OKP","crv":"Ed448","x": "AAAA","kid":"ed448","alg":"EdDSA"},
            {"kty":"EC","crv":"P-256","x":"AAAA","y":"AAAA","kid":"ec","alg":"ES256"},
            {"kty":"OKP","crv":"Ed25519","x": good.x,"kid":"hs","alg":"HS256"},
            {"kty":"OKP","crv":"Ed25519","x": good.x,"kid":"noalg"},
            {"kty":"OKP","crv":"Ed25519","x": good.x,"kid":"enc","alg":"EdDSA","use":"enc"},
            {"kty":"OKP","crv":"Ed25519","x": "not base64!","kid":"junk","alg":"EdDSA"},
            {"kty":"OKP","crv":"Ed25519","x": good.x,"alg":"EdDSA"},
            "not an object",
            serde_json::to_value(&good).unwrap(),
        ]});
        let keys = parse_jwks(doc.to_string().as_bytes()).unwrap();
        assert_eq!(keys.keys().collect::<Vec<_>>(), vec![&good.kid]);
    }

    #[test]
    fn a_later_unusable_key_does_not_displace_an_earlier_one_with_its_kid() {
        let good = shared::SigningKey::generate().unwrap().public_jwk();
        // 0x02 repeated is no point on the curve: refused when read, like a malformed entry.
        let not_a_point = {
            let mut jwk = serde_json::to_value(&good).unwrap();
            jwk["x"] = URL_SAFE_NO_PAD.encode([2u8; 32]).into();
            jwk
        };
        let doc = serde_json::json!({"keys": [serde_json::to_value(&good).unwrap(), not_a_point]});
        let keys = parse_jwks(doc.to_string().as_bytes()).unwrap();
        assert_eq!(keys.keys().collect::<Vec<_>>(), vec![&good.kid]);
        assert_eq!(URL_SAFE_NO_PAD.encode(keys[&good.kid].raw()), good.x);
    }

    #[test]
    fn a_document_without_keys_is_an_error() {
        assert!(parse_jwks(b"{}").is_err());
        assert!(parse_jwks(b"not json").is_err());
        assert!(parse_jwks(br#"{"keys": {}}"#).is_err());
    }

    // Found by fuzz/fuzz_targets/jwks.rs: serde read `[[]]` as the struct `{"keys": []}`.
    #[test]
    fn a_key_set_must_be_a_json_object() {
        let good =
            serde_json::to_value(shared::SigningKey::generate().unwrap().public_jwk()).unwrap();
        assert!(parse_jwks(b"[[]]").is_err());
        assert!(parse_jwks(serde_json::json!([[good.clone()]]).to_string().as_bytes()).is_err());
        let keys = parse_jwks(serde_json::json!({"keys": [good]}).to_string().as_bytes()).unwrap();
        assert_eq!(keys.len(), 1);
    }
}
