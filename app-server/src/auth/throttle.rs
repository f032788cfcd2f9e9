//! Login throttling: attempts counted per account and per client network in a fixed window;
//! past the limit, logins for that key are refused (429) until the window ends. Bounded memory:
//! when full, ended windows go first, then those that lock nothing.
//!
//! An attempt is counted when it starts, under the same lock as the check, and given back when
//! it succeeds: counting only after the (slow) password check let a burst of parallel guesses
//! all pass the check before the first failure was recorded.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

const MAX_KEYS: usize = 100_000;

pub struct LoginThrottle {
    per_account: u32,
    per_ip: u32,
    window: Duration,
    attempts: Mutex<HashMap<String, Window>>,
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
            attempts: Mutex::new(HashMap::new()),
        }
    }

    /// Starts a login attempt: `Err(seconds to wait)` when the account or the client's network
    /// is over its limit, else the attempt is counted as a failure until `succeeded`.
    pub fn begin(&self, username: &str, ip: &str) -> Result<(), u64> {
        let now = Instant::now();
        let mut map = self.attempts.lock().expect("throttle lock");
        let keys = [
            (account_key(username), self.per_account),
            (ip_key(ip), self.per_ip),
        ];
        let wait = keys
            .iter()
            .filter_map(|(key, limit)| {
                let w = map.get(key)?;
                let elapsed = now.duration_since(w.started);
                (w.count >= *limit && elapsed < self.window)
                    .then(|| (self.window - elapsed).as_secs().max(1))
            })
            .max();
        if let Some(seconds) = wait {
            return Err(seconds);
        }
        if map.len() >= MAX_KEYS {
            self.make_room(&mut map, now);
        }
        for (key, _) in keys {
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
        Ok(())
    }

    /// Drops ended windows, then those that lock nothing yet. Never all at once while locks
    /// remain: filling the table with throwaway names must not lift a running lockout.
    fn make_room(&self, map: &mut HashMap<String, Window>, now: Instant) {
        map.retain(|_, w| now.duration_since(w.started) < self.window);
        if map.len() >= MAX_KEYS {
            map.retain(|_, w| w.count >= self.per_account);
        }
        if map.len() >= MAX_KEYS {
            map.clear();
        }
    }

    /// A successful login clears the account's count and gives the attempt back to the network.
    pub fn succeeded(&self, username: &str, ip: &str) {
        let mut map = self.attempts.lock().expect("throttle lock");
        map.remove(&account_key(username));
        if let Some(w) = map.get_mut(&ip_key(ip)) {
            w.count = w.count.saturating_sub(1);
        }
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
    use super::LoginThrottle;
    use std::time::Duration;

    #[test]
    fn an_account_is_throttled_after_its_limit_and_others_are_not() {
        let t = LoginThrottle::new(3, Duration::from_secs(60));
        for _ in 0..3 {
            assert!(t.begin("alice", "1.1.1.1").is_ok());
        }
        let wait = t.begin("alice", "2.2.2.2").unwrap_err();
        assert!((1..=60).contains(&wait));
        assert!(t.begin("bob", "1.1.1.1").is_ok());
    }

    #[test]
    fn an_ip_is_throttled_across_accounts() {
        let t = LoginThrottle::new(1, Duration::from_secs(60));
        for i in 0..10 {
            assert!(t.begin(&format!("user{i}"), "9.9.9.9").is_ok());
        }
        assert!(t.begin("fresh", "9.9.9.9").is_err());
        assert!(t.begin("fresh", "9.9.9.8").is_ok());
    }

    #[test]
    fn an_ipv6_network_is_one_key() {
        let t = LoginThrottle::new(1, Duration::from_secs(60));
        for i in 0..10 {
            let ip = format!("2001:db8:0:7::{i:x}");
            assert!(t.begin(&format!("user{i}"), &ip).is_ok());
        }
        assert!(t.begin("fresh", "2001:db8:0:7:ffff::1").is_err());
        assert!(t.begin("fresh", "2001:db8:0:8::1").is_ok());
    }

    #[test]
    fn success_clears_the_account_and_gives_the_attempt_back() {
        let t = LoginThrottle::new(2, Duration::from_secs(60));
        assert!(t.begin("alice", "1.1.1.1").is_ok());
        assert!(t.begin("alice", "1.1.1.1").is_ok());
        t.succeeded("alice", "1.1.1.1");
        assert!(t.begin("alice", "1.1.1.1").is_ok());
        assert!(t.begin("alice", "1.1.1.1").is_ok());
        assert!(t.begin("alice", "1.1.1.1").is_err());
    }

    #[test]
    fn flooding_the_table_with_new_names_does_not_lift_a_lockout() {
        let t = LoginThrottle::new(3, Duration::from_secs(60));
        for _ in 0..3 {
            assert!(t.begin("alice", "1.1.1.1").is_ok());
        }
        for i in 0..super::MAX_KEYS {
            let ip = format!("10.{}.{}.{}", i >> 16 & 255, i >> 8 & 255, i & 255);
            let _ = t.begin(&format!("junk{i}"), &ip);
        }
        assert!(t.attempts.lock().unwrap().len() <= super::MAX_KEYS);
        assert!(
            t.begin("alice", "2.2.2.2").is_err(),
            "alice is still locked"
        );
    }

    #[test]
    fn the_window_ends() {
        let t = LoginThrottle::new(1, Duration::from_millis(50));
        assert!(t.begin("alice", "1.1.1.1").is_ok());
        assert!(t.begin("alice", "1.1.1.1").is_err());
        std::thread::sleep(Duration::from_millis(60));
        assert!(t.begin("alice", "1.1.1.1").is_ok());
    }
}
