//! Argon2id hashing off the async workers. An unknown user is checked against a dummy hash, so
//! "no such user" costs the same time as "wrong password".

use crate::domain::Password;
use std::sync::LazyLock;

static DUMMY_HASH: LazyLock<String> =
    LazyLock::new(|| password_auth::generate_hash("not a real password, only spends time"));

pub async fn hash(password: &Password) -> anyhow::Result<String> {
    let password = password.clone();
    Ok(
        tokio::task::spawn_blocking(move || password_auth::generate_hash(password.expose()))
            .await?,
    )
}

/// Whether `password` matches `stored`; with no stored hash, spends the same time and says no.
pub async fn verify(password: &Password, stored: Option<String>) -> anyhow::Result<bool> {
    let password = password.clone();
    let known = stored.is_some();
    let matches = tokio::task::spawn_blocking(move || {
        let hash = stored.as_deref().unwrap_or(DUMMY_HASH.as_str());
        password_auth::verify_password(password.expose(), hash).is_ok()
    })
    .await?;
    Ok(known && matches)
}

/// Computes the dummy hash at start, so the first unknown-user login is not faster or slower.
pub fn warm_up() {
    LazyLock::force(&DUMMY_HASH);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn only_the_right_password_for_a_known_user_verifies() {
        let password = Password::parse_new("correct horse".into()).unwrap();
        let stored = hash(&password).await.unwrap();
        assert!(stored.starts_with("$argon2id$"), "{stored}");
        assert!(verify(&password, Some(stored.clone())).await.unwrap());
        let wrong = Password::parse_attempt("wrong horse".into()).unwrap();
        assert!(!verify(&wrong, Some(stored)).await.unwrap());
        // An unknown user is checked against the dummy hash and always refused, even with the
        // dummy's own password.
        let dummy =
            Password::parse_attempt("not a real password, only spends time".into()).unwrap();
        assert!(!verify(&dummy, None).await.unwrap());
    }
}
