//! Argon2id hashing and checking in working memory the caller lends (`HashMemory`, one per
//! `HashSlot`). An unknown user is checked against a dummy hash, so "no such user" costs the
//! same time as "wrong password".
//!
//! Written on the `argon2` crate's own types rather than through `password-auth`, whose every
//! call allocates the 19 MiB afresh: glibc keeps those 64-byte-aligned blocks in each thread's
//! arena (38-57 MiB per blocking-pool thread, measured), so a burst of logins held hundreds of
//! MiB however few hashes ran at once. The PHC strings are the ones `password-auth` writes and
//! reads (its output is checked both ways in the tests).

use crate::domain::Password;
use argon2::password_hash::{Output, ParamsString, PasswordHash, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};

/// A well-formed hash at the default parameters that no known password matches: checking
/// against it costs what checking a real hash costs.
const DUMMY_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$\
    c29tZSBzYWx0IGZvciBub2JvZHk$6rBJNdqx7bKkd3pgC7q8HGv2ZnS0jJlsxdoSz7yzBUI";

/// Salt bytes per hash, as `password-hash` recommends.
const SALT_LEN: usize = 16;

/// Argon2's working memory for one hash at the default parameters (19 MiB). Reused from hash
/// to hash; every pass overwrites it, so nothing of one password is left for the next to read.
pub struct HashMemory(Vec<Block>);

impl Default for HashMemory {
    fn default() -> Self {
        HashMemory(vec![Block::default(); Params::default().block_count()])
    }
}

/// A new Argon2id hash of `password` as a PHC string, at the crate's default parameters.
/// Blocks for the whole run (tens of milliseconds).
pub fn hash(memory: &mut HashMemory, password: &Password) -> anyhow::Result<String> {
    let mut salt = [0u8; SALT_LEN];
    aws_lc_rs::rand::fill(&mut salt).map_err(|_| anyhow::anyhow!("no random salt"))?;
    let params = Params::default();
    let mut output = [0u8; Params::DEFAULT_OUTPUT_LEN];
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone())
        .hash_password_into_with_memory(
            password.expose().as_bytes(),
            &salt,
            &mut output,
            &mut memory.0,
        )
        .map_err(anyhow::Error::msg)?;
    let salt = SaltString::encode_b64(&salt).map_err(anyhow::Error::msg)?;
    let hash = PasswordHash {
        algorithm: Algorithm::Argon2id.ident(),
        version: Some(Version::V0x13.into()),
        params: ParamsString::try_from(&params).map_err(anyhow::Error::msg)?,
        salt: Some(salt.as_salt()),
        hash: Some(Output::new(&output).map_err(anyhow::Error::msg)?),
    };
    Ok(hash.to_string())
}

/// Whether `password` matches `stored`; with no stored hash, spends the same time and says no.
/// Blocks like `hash`.
pub fn verify(memory: &mut HashMemory, password: &Password, stored: Option<&str>) -> bool {
    let checked = matches(memory, password, stored.unwrap_or(DUMMY_HASH));
    if let Err(error) = &checked {
        tracing::error!(%error, "a stored password hash could not be checked");
    }
    stored.is_some() && checked.unwrap_or(false)
}

/// Recomputes the hash with the stored algorithm, version, parameters and salt, and compares
/// in constant time (`Output`'s `==`). Parameters needing more memory than the defaults are
/// refused rather than allocated: this server never writes them.
fn matches(memory: &mut HashMemory, password: &Password, stored: &str) -> anyhow::Result<bool> {
    let parsed = PasswordHash::new(stored).map_err(anyhow::Error::msg)?;
    let algorithm = Algorithm::try_from(parsed.algorithm).map_err(anyhow::Error::msg)?;
    let version = match parsed.version {
        Some(version) => Version::try_from(version).map_err(anyhow::Error::msg)?,
        None => Version::default(),
    };
    let params = Params::try_from(&parsed).map_err(anyhow::Error::msg)?;
    let (Some(salt), Some(expected)) = (parsed.salt, parsed.hash) else {
        anyhow::bail!("the stored hash has no salt or no output");
    };
    if params.block_count() > memory.0.len() {
        anyhow::bail!("the stored hash needs more memory than the default parameters");
    }
    let mut salt_bytes = [0u8; 64];
    let salt = salt
        .decode_b64(&mut salt_bytes)
        .map_err(anyhow::Error::msg)?;
    let mut output = vec![0u8; expected.len()];
    Argon2::new(algorithm, version, params)
        .hash_password_into_with_memory(
            password.expose().as_bytes(),
            salt,
            &mut output,
            &mut memory.0,
        )
        .map_err(anyhow::Error::msg)?;
    Ok(Output::new(&output).map_err(anyhow::Error::msg)? == expected)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attempt(text: &str) -> Password {
        Password::parse_attempt(text.into()).unwrap()
    }

    #[test]
    fn only_the_right_password_for_a_known_user_verifies() {
        let mut memory = HashMemory::default();
        let password = Password::parse_new("correct horse".into()).unwrap();
        let stored = hash(&mut memory, &password).unwrap();
        assert!(
            stored.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{stored}"
        );
        assert_ne!(
            stored,
            hash(&mut memory, &password).unwrap(),
            "a fresh salt"
        );
        assert!(verify(&mut memory, &password, Some(&stored)));
        assert!(!verify(&mut memory, &attempt("wrong horse"), Some(&stored)));
        // An unknown user is checked against the dummy hash and always refused.
        assert!(!verify(&mut memory, &password, None));
    }

    #[test]
    fn hashes_are_the_ones_password_auth_writes_and_reads() {
        let mut memory = HashMemory::default();
        let ours = hash(&mut memory, &attempt("correct horse")).unwrap();
        assert!(password_auth::verify_password("correct horse", &ours).is_ok());
        assert!(password_auth::verify_password("wrong horse", &ours).is_err());
        assert!(!password_auth::is_hash_obsolete(&ours).unwrap());
        let theirs = password_auth::generate_hash("correct horse");
        assert!(verify(
            &mut memory,
            &attempt("correct horse"),
            Some(&theirs)
        ));
        assert!(!verify(&mut memory, &attempt("wrong horse"), Some(&theirs)));
    }

    #[test]
    fn the_dummy_hash_is_a_real_hash_at_the_current_parameters() {
        let parsed = PasswordHash::new(DUMMY_HASH).unwrap();
        assert_eq!(parsed.algorithm, Algorithm::Argon2id.ident());
        assert_eq!(
            Params::try_from(&parsed).unwrap().block_count(),
            Params::default().block_count()
        );
        assert!(
            matches(
                &mut HashMemory::default(),
                &attempt("nobody's password"),
                DUMMY_HASH
            )
            .is_ok()
        );
    }

    #[test]
    fn memory_reused_from_another_password_changes_nothing() {
        let mut memory = HashMemory::default();
        let stored = password_auth::generate_hash("first password");
        hash(&mut memory, &attempt("something else entirely")).unwrap();
        assert!(verify(
            &mut memory,
            &attempt("first password"),
            Some(&stored)
        ));
    }

    #[test]
    fn malformed_or_oversized_stored_hashes_never_match() {
        let mut memory = HashMemory::default();
        let password = attempt("correct horse");
        assert!(!verify(&mut memory, &password, Some("not a hash")));
        let greedy = "$argon2id$v=19$m=4194304,t=1,p=1$c29tZXNhbHQAAAAAAAAAAA$+r0d29hqEB0yasKr55ZgICsQGSkl0v0kgwhd+U3wyRo";
        assert!(!verify(&mut memory, &password, Some(greedy)));
    }
}
