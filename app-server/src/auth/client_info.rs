//! What is recorded about the client with a session and keys the login throttle: its IP (after
//! the `--trusted-proxies` rule) and its User-Agent. Plain values; the request extractor that
//! builds them is in `auth::extract`.

use server_kit::trusted_proxies::TrustedProxies;
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

/// "Firefox on Linux" from a User-Agent string; (the sessions page puts the full
/// string in a tooltip).
pub fn describe_device(user_agent: &str) -> String {
    let ua = user_agent;
    let browser = [
        ("Edg/", "Edge"),
        ("Firefox/", "Firefox"),
        ("Chrome/", "Chrome"),
        ("Safari/", "Safari"),
        ("curl/", "curl"),
        ("reqwest", "a program"),
    ]
    .iter()
    .find(|(needle, _)| ua.contains(needle))
    .map(|(_, name)| *name);
    let system = [
        ("Android", "Android"),
        ("iPhone", "iPhone"),
        ("iPad", "iPad"),
        ("Windows", "Windows"),
        ("Mac OS X", "macOS"),
        ("CrOS", "ChromeOS"),
        ("Linux", "Linux"),
    ]
    .iter()
    .find(|(needle, _)| ua.contains(needle))
    .map(|(_, name)| *name);
    match (browser, system) {
        (Some(b), Some(s)) => format!("{b} on {s}"),
        (Some(b), None) => b.to_owned(),
        (None, Some(s)) => format!("A browser on {s}"),
        (None, None) if ua.is_empty() => "Unknown device".to_owned(),
        (None, None) => ua.chars().take(40).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::ClientInfo;
    use server_kit::trusted_proxies::TrustedProxies;

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

    #[test]
    fn devices_are_named_readably() {
        let chrome = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0 Safari/537.36";
        assert_eq!(super::describe_device(chrome), "Chrome on Linux");
        assert_eq!(super::describe_device("curl/8.5.0"), "curl");
        assert_eq!(super::describe_device(""), "Unknown device");
    }
}
