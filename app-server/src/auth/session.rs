//! Server-side sessions: the cookie holds a random 256-bit secret, the table holds only its
//! SHA-256, so a database dump cannot be replayed as cookies.

use super::client_info::ClientInfo;
use crate::db::{self, Pool, sessions::SessionRow};
use actix_web::HttpRequest;
use actix_web::cookie::{Cookie, SameSite, time::Duration as CookieDuration};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// `last_seen` is written at most this often, so reads do not turn into writes.
const TOUCH_EVERY_SECS: i64 = 60;

#[derive(Debug, Clone)]
pub struct SessionPolicy {
    pub cookie_name: &'static str,
    pub secure: bool,
    pub idle_secs: i64,
    pub max_secs: i64,
}

impl SessionPolicy {
    /// `__Host-` (which browsers only accept with `Secure`, `Path=/` and no `Domain`) when served
    /// over https; plain `session` over http, where `Secure` cookies would not be sent back.
    pub fn new(https: bool, idle_secs: i64, max_secs: i64) -> Self {
        SessionPolicy {
            cookie_name: if https { "__Host-session" } else { "session" },
            secure: https,
            idle_secs,
            max_secs,
        }
    }

    /// Signs `user_id` in on the device `client`: a new session (never the presented one: no
    /// fixation), recording the device's User-Agent and IP. The session the device still
    /// presents, if any, is ended, so signing in again never leaves a live orphan behind.
    pub async fn start(
        &self,
        pool: &Pool,
        client: &ClientInfo,
        presented_secret: Option<&str>,
        user_id: &str,
    ) -> sqlx::Result<String> {
        if let Some(previous) = presented_secret {
            db::sessions::delete_by_token_hash(pool, &hash_secret(previous)).await?;
        }
        let secret = random_token();
        let now = shared::time::now_secs();
        let id = uuid::Uuid::new_v4().to_string();
        db::sessions::insert(
            pool,
            &db::sessions::NewSession {
                id: &id,
                token_hash: &hash_secret(&secret),
                user_id,
                now,
                idle_expires_at: now + self.idle_secs,
                expires_at: now + self.max_secs,
                user_agent: &client.user_agent,
                ip: &client.ip,
                csrf_token: &random_token(),
            },
        )
        .await?;
        Ok(secret)
    }

    /// The session secret the request's cookie presents, if any (checked by `resolve`).
    pub fn presented_secret(&self, req: &HttpRequest) -> Option<String> {
        req.cookie(self.cookie_name).map(|c| c.value().to_owned())
    }

    /// The live session behind a cookie value, its last-seen time refreshed when stale.
    pub async fn resolve(
        &self,
        pool: &Pool,
        cookie_value: &str,
    ) -> sqlx::Result<Option<SessionRow>> {
        if cookie_value.len() != 43 || URL_SAFE_NO_PAD.decode(cookie_value).is_err() {
            return Ok(None);
        }
        let now = shared::time::now_secs();
        let Some(mut session) =
            db::sessions::live_by_token_hash(pool, &hash_secret(cookie_value), now).await?
        else {
            return Ok(None);
        };
        if now - session.last_seen_at >= TOUCH_EVERY_SECS {
            let idle_expires_at = now + self.idle_secs;
            db::sessions::touch(pool, &session.id, now, idle_expires_at).await?;
            session.last_seen_at = now;
            session.idle_expires_at = idle_expires_at;
        }
        Ok(Some(session))
    }

    pub fn cookie(&self, secret: String) -> Cookie<'static> {
        let mut cookie = Cookie::build(self.cookie_name, secret)
            .path("/")
            .http_only(true)
            .secure(self.secure)
            .same_site(SameSite::Lax)
            .max_age(CookieDuration::seconds(self.max_secs))
            .finish();
        cookie.set_secure(self.secure);
        cookie
    }

    pub fn removal_cookie(&self) -> Cookie<'static> {
        let mut cookie = self.cookie(String::new());
        cookie.make_removal();
        cookie
    }
}

/// 256 random bits, base64url without padding (43 characters).
pub fn random_token() -> String {
    let mut bytes = [0u8; 32];
    aws_lc_rs::rand::fill(&mut bytes).expect("the system random generator works");
    URL_SAFE_NO_PAD.encode(bytes)
}

fn hash_secret(secret: &str) -> String {
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, secret.as_bytes());
    digest.as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_43_url_safe_characters_and_differ() {
        let (a, b) = (random_token(), random_token());
        assert_eq!(a.len(), 43);
        assert_ne!(a, b);
        assert_eq!(hash_secret(&a).len(), 64);
    }

    #[test]
    fn https_uses_a_secure_host_prefixed_cookie() {
        let cookie = SessionPolicy::new(true, 60, 600)
            .cookie("x".into())
            .to_string();
        assert!(cookie.starts_with("__Host-session=x"), "{cookie}");
        for part in ["HttpOnly", "Secure", "SameSite=Lax", "Path=/"] {
            assert!(cookie.contains(part), "{cookie}");
        }
        let plain = SessionPolicy::new(false, 60, 600)
            .cookie("x".into())
            .to_string();
        assert!(
            plain.starts_with("session=x") && !plain.contains("Secure"),
            "{plain}"
        );
    }
}
