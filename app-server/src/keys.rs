//! The signing key and the published key set. The key file is created (mode 0600) on first
//! start; keys already in the JWKS file stay published so tokens signed before a rotation still
//! verify, and the current key, the one that signs, is put first.

use anyhow::Context;
use shared::{Minter, PublicJwks, SigningKey};
use std::path::PathBuf;

/// What the key ring needs from the configuration (`Config::keys`).
pub struct KeyConfig {
    pub signing_key: PathBuf,
    pub jwks_out: PathBuf,
    pub issuer: String,
    pub audience: String,
    pub token_ttl: u32,
}

pub struct KeyRing {
    pub minter: Minter,
    pub jwks: PublicJwks,
    pub ttl_secs: u32,
}

impl KeyRing {
    pub fn load(config: &KeyConfig) -> anyhow::Result<Self> {
        let key_path = &config.signing_key;
        if let Some(dir) = key_path.parent() {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        }
        let (key, created) = SigningKey::load_or_generate(key_path)?;
        if created {
            tracing::info!(kid = key.kid(), path = %key_path.display(), "generated a signing key");
        }
        let jwks_path = &config.jwks_out;
        let published = match std::fs::read_to_string(jwks_path) {
            Ok(text) => serde_json::from_str::<PublicJwks>(&text)
                .with_context(|| format!("{} is not a JWKS", jwks_path.display()))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => PublicJwks::default(),
            Err(e) => return Err(e).with_context(|| format!("reading {}", jwks_path.display())),
        };
        let jwks = with_signing_key_first(&key, published.clone());
        if jwks != published {
            if let Some(dir) = jwks_path.parent() {
                std::fs::create_dir_all(dir)?;
            }
            jwks.write_atomically(jwks_path)?;
            tracing::info!(path = %jwks_path.display(), keys = jwks.keys.len(), "wrote the JWKS");
        }
        let minter = Minter::new(
            key,
            &config.issuer,
            &config.audience,
            i64::from(config.token_ttl),
        );
        Ok(KeyRing {
            minter,
            jwks,
            ttl_secs: config.token_ttl,
        })
    }
}

fn with_signing_key_first(key: &SigningKey, published: PublicJwks) -> PublicJwks {
    let mut keys = vec![key.public_jwk()];
    keys.extend(published.keys.into_iter().filter(|k| k.kid != key.kid()));
    PublicJwks { keys }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signing_key_comes_first_and_older_keys_stay() {
        let old = SigningKey::generate().unwrap();
        let new = SigningKey::generate().unwrap();
        let jwks = with_signing_key_first(
            &new,
            PublicJwks {
                keys: vec![old.public_jwk(), new.public_jwk()],
            },
        );
        let kids: Vec<_> = jwks.keys.iter().map(|k| k.kid.as_str()).collect();
        assert_eq!(kids, [new.kid(), old.kid()]);
    }
}
