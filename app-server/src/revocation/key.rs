//! The revocation key: a second Ed25519 key that signs the state document alone, created
//! (mode 0600) on first start; its public JWKS is served on its own, never beside the tokens'.

use anyhow::Context;
use shared::SigningKey;
use std::path::Path;

/// Loads (or creates) the key at `path`; refuses the key that signs download tokens.
pub fn load(path: &Path, token_kid: &str) -> anyhow::Result<SigningKey> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let (key, created) = SigningKey::load_or_generate(path)?;
    if created {
        tracing::info!(kid = key.kid(), path = %path.display(), "generated a revocation key");
    }
    if key.kid() == token_kid {
        anyhow::bail!("--revocation-key must not be the key that signs download tokens");
    }
    Ok(key)
}
