//! What is recorded about the client with a session and keys the login throttle: its IP (after
//! the `--trusted-proxies` rule) and its User-Agent. Plain values; the request extractor that
//! builds them is in `auth::extract`.

use crate::trusted_proxies::TrustedProxies;
use std::net::SocketAddr;

/// Enough of a User-Agent to tell devices apart, and a bounded column in the sessions table.
const USER_AGENT_MAX_CHARS: usize = 256;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientInfo {
    /// The client's address, or `unknown` when the connection has no peer address.
    pub ip: String,
    pub user_agent: String,
}

impl ClientInfo {
    /// From a request's TCP peer, its `X-Forwarded-For` values and its `User-Agent`.
    pub fn new<'a>(
        proxies: &TrustedProxies,
        peer: Option<SocketAddr>,
        forwarded_for: impl Iterator<Item = &'a str>,
        user_agent: Option<&str>,
    ) -> Self {
        let ip = match peer {
            Some(peer) => proxies.client_ip(peer.ip(), forwarded_for).to_string(),
            None => "unknown".to_owned(),
        };
        let user_agent = user_agent
            .unwrap_or("")
            .chars()
            .take(USER_AGENT_MAX_CHARS)
            .collect();
        ClientInfo { ip, user_agent }
    }
}

#[cfg(test)]
mod tests {
    use super::ClientInfo;
    use crate::trusted_proxies::TrustedProxies;

    #[test]
    fn the_user_agent_is_cut_and_a_missing_peer_is_unknown() {
        let long = "x".repeat(10_000);
        let client = ClientInfo::new(
            &TrustedProxies::default(),
            None,
            ["203.0.113.9"].into_iter(),
            Some(&long),
        );
        assert_eq!(client.ip, "unknown");
        assert_eq!(client.user_agent.chars().count(), 256);
        let peer = "[::ffff:192.0.2.7]:4000".parse().ok();
        let client = ClientInfo::new(&TrustedProxies::default(), peer, [].into_iter(), None);
        assert_eq!(client.ip, "192.0.2.7");
        assert_eq!(client.user_agent, "");
    }
}
