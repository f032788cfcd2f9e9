//! Login throttling: attempts counted per account and per client network in a fixed window;
//! past the limit, logins for that key are refused (429) until the window ends. The counts live
//! in the database (`db::throttle`), so every app server on one database shares them: behind N
//! instances an attacker still gets the limit, not N times it.
//!
//! An attempt is counted when it starts, in the same statement as the check, and given back when
//! it succeeds: counting only after the (slow) password check let a burst of parallel guesses
//! all pass the check before the first failure was recorded. Time is whole Unix seconds, like
//! the rest of the schema: a window lasts more than `window - 1` and at most `window` seconds.

use crate::db::{self, Pool};
use std::net::IpAddr;
use std::time::Duration;

pub struct LoginThrottle {
    pool: Pool,
    per_account: i64,
    per_ip: i64,
    window: i64,
}

impl LoginThrottle {
    pub fn new(pool: Pool, per_account: u32, window: Duration) -> Self {
        let per_account = i64::from(per_account.max(1));
        LoginThrottle {
            pool,
            per_account,
            per_ip: per_account * 10,
            window: i64::try_from(window.as_secs())
                .unwrap_or(i64::MAX / 4)
                .max(1),
        }
    }

    /// Starts a login attempt: `Ok(Err(seconds to wait))` when the client's network or the
    /// account is over its limit, else `Ok(Ok(()))` and the attempt counts as a failure until
    /// `succeeded`. `Err` is the database failing: the caller must refuse the login then.
    pub async fn begin(&self, username: &str, ip: &str) -> sqlx::Result<Result<(), u64>> {
        self.begin_at(username, ip, shared::time::now_secs()).await
    }

    /// The network first: once it is over its limit, its attempts touch no account's count, so
    /// a blocked sprayer neither locks more accounts nor adds rows for more names.
    ///
    /// A refused attempt still counts on the key that refused it: one upsert per key is the
    /// atomic check (counting only below the limit would need a read before the write, which
    /// parallel requests on several servers all pass at once, or a transaction), and the window's
    /// end never moves while it runs, so the extra count does not lengthen a lockout. It does not
    /// count on the other key: an account refusal gives the network its attempt back, as before
    /// (when refused, neither key was charged).
    async fn begin_at(&self, username: &str, ip: &str, now: i64) -> sqlx::Result<Result<(), u64>> {
        let network = ip_key(ip);
        if let Err(wait) = self.count(&network, self.per_ip, now).await? {
            return Ok(Err(wait));
        }
        if let Err(wait) = self
            .count(&account_key(username), self.per_account, now)
            .await?
        {
            db::throttle::give_back(&self.pool, &network).await?;
            return Ok(Err(wait));
        }
        Ok(Ok(()))
    }

    async fn count(&self, key: &str, limit: i64, now: i64) -> sqlx::Result<Result<(), u64>> {
        let (attempts, ends_at) = db::throttle::count(&self.pool, key, now, self.window).await?;
        Ok(if attempts > limit {
            Err(u64::try_from(ends_at - now).unwrap_or(0).max(1))
        } else {
            Ok(())
        })
    }

    /// A successful login clears the account's count and gives the attempt back to the network.
    pub async fn succeeded(&self, username: &str, ip: &str) -> sqlx::Result<()> {
        db::throttle::clear(&self.pool, &account_key(username)).await?;
        db::throttle::give_back(&self.pool, &ip_key(ip)).await
    }
}

fn account_key(username: &str) -> String {
    format!("u:{username}")
}

/// One key per IPv4 address, but per /64 for IPv6: a single subscriber usually holds a whole
/// /64 and could otherwise rotate through 2^64 addresses, each with a fresh count.
fn ip_key(ip: &str) -> String {
    match ip.parse::<IpAddr>() {
        Ok(IpAddr::V6(v6)) if v6.to_ipv4_mapped().is_none() => {
            let s = v6.segments();
            format!("ip:{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
        }
        _ => format!("ip:{ip}"),
    }
}

#[cfg(test)]
mod tests {
    use super::{LoginThrottle, ip_key};
    use crate::db;
    use std::time::Duration;

    /// A throttle on a fresh SQLite file (the directory must outlive it).
    async fn throttle(per_account: u32, window: u64) -> (tempfile::TempDir, LoginThrottle) {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("app.db").display());
        let pool = db::open(&url).await.unwrap();
        let throttle = LoginThrottle::new(pool, per_account, Duration::from_secs(window));
        (dir, throttle)
    }

    async fn begin(t: &LoginThrottle, username: &str, ip: &str) -> Result<(), u64> {
        t.begin(username, ip).await.expect("the database answers")
    }

    #[tokio::test]
    async fn an_account_is_throttled_after_its_limit_and_others_are_not() {
        let (_dir, t) = throttle(3, 60).await;
        for _ in 0..3 {
            assert!(begin(&t, "alice", "1.1.1.1").await.is_ok());
        }
        let wait = begin(&t, "alice", "2.2.2.2").await.unwrap_err();
        assert!((1..=60).contains(&wait));
        assert!(begin(&t, "bob", "1.1.1.1").await.is_ok());
    }

    #[tokio::test]
    async fn an_ip_is_throttled_across_accounts() {
        let (_dir, t) = throttle(1, 60).await;
        for i in 0..10 {
            assert!(begin(&t, &format!("user{i}"), "9.9.9.9").await.is_ok());
        }
        assert!(begin(&t, "fresh", "9.9.9.9").await.is_err());
        assert!(begin(&t, "fresh", "9.9.9.8").await.is_ok());
    }

    #[tokio::test]
    async fn an_ipv6_network_is_one_key() {
        let (_dir, t) = throttle(1, 60).await;
        for i in 0..10 {
            let ip = format!("2001:db8:0:7::{i:x}");
            assert!(begin(&t, &format!("user{i}"), &ip).await.is_ok());
        }
        assert!(begin(&t, "fresh", "2001:db8:0:7:ffff::1").await.is_err());
        assert!(begin(&t, "fresh", "2001:db8:0:8::1").await.is_ok());
    }

    #[test]
    fn network_keys_are_an_ipv4_address_or_an_ipv6_64() {
        assert_eq!(ip_key("192.0.2.7"), "ip:192.0.2.7");
        assert_eq!(
            ip_key("2001:db8:0:7:1:2:3:4"),
            ip_key("2001:db8:0:7:ffff::1")
        );
        assert_ne!(ip_key("2001:db8:0:7::1"), ip_key("2001:db8:0:8::1"));
        assert_eq!(ip_key("::ffff:192.0.2.7"), "ip:::ffff:192.0.2.7");
    }

    #[tokio::test]
    async fn success_clears_the_account_and_gives_the_attempt_back() {
        let (_dir, t) = throttle(2, 60).await;
        assert!(begin(&t, "alice", "1.1.1.1").await.is_ok());
        assert!(begin(&t, "alice", "1.1.1.1").await.is_ok());
        t.succeeded("alice", "1.1.1.1").await.unwrap();
        assert!(begin(&t, "alice", "1.1.1.1").await.is_ok());
        assert!(begin(&t, "alice", "1.1.1.1").await.is_ok());
        assert!(begin(&t, "alice", "1.1.1.1").await.is_err());
    }

    #[tokio::test]
    async fn attempts_refused_for_a_locked_account_do_not_use_up_the_network() {
        let (_dir, t) = throttle(1, 60).await;
        assert!(begin(&t, "alice", "1.1.1.1").await.is_ok());
        for _ in 0..20 {
            assert!(begin(&t, "alice", "1.1.1.1").await.is_err());
        }
        for i in 0..9 {
            let name = format!("user{i}");
            assert!(begin(&t, &name, "1.1.1.1").await.is_ok(), "{name}");
        }
        assert!(begin(&t, "fresh", "1.1.1.1").await.is_err());
    }

    #[tokio::test]
    async fn refused_attempts_do_not_move_the_end_of_a_lockout() {
        let (_dir, t) = throttle(1, 60).await;
        assert!(t.begin_at("alice", "1.1.1.1", 1000).await.unwrap().is_ok());
        assert_eq!(t.begin_at("alice", "1.1.1.1", 1001).await.unwrap(), Err(59));
        assert_eq!(t.begin_at("alice", "1.1.1.1", 1059).await.unwrap(), Err(1));
        assert!(t.begin_at("alice", "1.1.1.1", 1060).await.unwrap().is_ok());
        assert_eq!(t.begin_at("alice", "1.1.1.1", 1061).await.unwrap(), Err(59));
    }

    #[tokio::test]
    async fn a_database_failure_is_an_error_not_a_pass() {
        let (_dir, t) = throttle(3, 60).await;
        t.pool.close().await;
        assert!(t.begin("alice", "1.1.1.1").await.is_err());
        assert!(t.succeeded("alice", "1.1.1.1").await.is_err());
    }
}
