//! Login throttling: failed attempts counted per account and per client IP in a fixed window;
//! past the limit, logins for that key are refused (429) until the window ends. Bounded memory:
//! when full, the oldest windows are dropped first.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

const MAX_KEYS: usize = 100_000;

pub struct LoginThrottle {
    per_account: u32,
    per_ip: u32,
    window: Duration,
    failures: Mutex<HashMap<String, Window>>,
}

#[derive(Clone, Copy)]
struct Window {
    started: Instant,
    count: u32,
}

impl LoginThrottle {
    pub fn new(per_account: u32, window: Duration) -> Self {
        LoginThrottle {
            per_account: per_account.max(1),
            per_ip: per_account.max(1).saturating_mul(10),
            window,
            failures: Mutex::new(HashMap::new()),
        }
    }

    /// `Err(seconds to wait)` when the account or the IP is over its limit.
    pub fn check(&self, username: &str, ip: &str) -> Result<(), u64> {
        let now = Instant::now();
        let map = self.failures.lock().expect("throttle lock");
        let wait = |key: String, limit: u32| {
            map.get(&key).and_then(|w| {
                let elapsed = now.duration_since(w.started);
                (w.count >= limit && elapsed < self.window)
                    .then(|| (self.window - elapsed).as_secs().max(1))
            })
        };
        let account = wait(account_key(username), self.per_account);
        let ip = wait(ip_key(ip), self.per_ip);
        match account.max(ip) {
            Some(seconds) => Err(seconds),
            None => Ok(()),
        }
    }

    pub fn record_failure(&self, username: &str, ip: &str) {
        let now = Instant::now();
        let mut map = self.failures.lock().expect("throttle lock");
        if map.len() >= MAX_KEYS {
            map.retain(|_, w| now.duration_since(w.started) < self.window);
            if map.len() >= MAX_KEYS {
                map.clear();
            }
        }
        for key in [account_key(username), ip_key(ip)] {
            let entry = map.entry(key).or_insert(Window {
                started: now,
                count: 0,
            });
            if now.duration_since(entry.started) >= self.window {
                *entry = Window {
                    started: now,
                    count: 0,
                };
            }
            entry.count += 1;
        }
    }

    /// A successful login clears the account's count (not the IP's).
    pub fn record_success(&self, username: &str) {
        self.failures
            .lock()
            .expect("throttle lock")
            .remove(&account_key(username));
    }
}

fn account_key(username: &str) -> String {
    format!("u:{username}")
}

fn ip_key(ip: &str) -> String {
    format!("ip:{ip}")
}

#[cfg(test)]
mod tests {
    use super::LoginThrottle;
    use std::time::Duration;

    #[test]
    fn an_account_is_throttled_after_its_limit_and_others_are_not() {
        let t = LoginThrottle::new(3, Duration::from_secs(60));
        for _ in 0..3 {
            assert!(t.check("alice", "1.1.1.1").is_ok());
            t.record_failure("alice", "1.1.1.1");
        }
        let wait = t.check("alice", "2.2.2.2").unwrap_err();
        assert!((1..=60).contains(&wait));
        assert!(t.check("bob", "1.1.1.1").is_ok());
    }

    #[test]
    fn an_ip_is_throttled_across_accounts() {
        let t = LoginThrottle::new(1, Duration::from_secs(60));
        for i in 0..10 {
            t.record_failure(&format!("user{i}"), "9.9.9.9");
        }
        assert!(t.check("fresh", "9.9.9.9").is_err());
        assert!(t.check("fresh", "8.8.8.8").is_ok());
    }

    #[test]
    fn the_window_ends() {
        let t = LoginThrottle::new(1, Duration::from_millis(50));
        t.record_failure("alice", "1.1.1.1");
        assert!(t.check("alice", "1.1.1.1").is_err());
        std::thread::sleep(Duration::from_millis(60));
        assert!(t.check("alice", "1.1.1.1").is_ok());
    }
}
