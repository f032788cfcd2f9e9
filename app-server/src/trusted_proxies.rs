//! Which reverse proxies may name the client: `X-Forwarded-For` is believed only when the TCP
//! peer is one of the `--trusted-proxies`, since anyone else could write that header themselves.
//! Pure policy, no HTTP types: the `ClientInfo` extractor applies it to a request.

use ipnet::IpNet;
use std::net::IpAddr;
use std::str::FromStr;

/// One `--trusted-proxies` entry: a CIDR (`10.0.0.0/8`) or a single address (`127.0.0.1`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TrustedProxy(IpNet);

impl FromStr for TrustedProxy {
    type Err = String;

    fn from_str(raw: &str) -> Result<Self, Self::Err> {
        let raw = raw.trim();
        raw.parse::<IpNet>()
            .or_else(|_| raw.parse::<IpAddr>().map(IpNet::from))
            .map(|net| TrustedProxy(net.trunc()))
            .map_err(|_| format!("{raw:?} is neither an IP address nor a CIDR such as 10.0.0.0/8"))
    }
}

/// The proxies whose `X-Forwarded-For` is believed; empty trusts nobody.
#[derive(Debug, Clone, Default)]
pub struct TrustedProxies(Vec<TrustedProxy>);

impl TrustedProxies {
    pub fn new(entries: Vec<TrustedProxy>) -> Self {
        TrustedProxies(entries)
    }

    fn contains(&self, ip: IpAddr) -> bool {
        self.0.iter().any(|p| p.0.contains(&ip))
    }

    /// The client's address: the TCP peer, unless it is trusted; then, walking
    /// `X-Forwarded-For` from the right (each trusted proxy appends the address it saw), the
    /// first address that is not a trusted proxy. An unreadable entry stops the walk at the
    /// proxy that wrote it, since nothing left of it can be believed.
    pub fn client_ip<'a>(
        &self,
        peer: IpAddr,
        forwarded_for: impl Iterator<Item = &'a str>,
    ) -> IpAddr {
        // `::ffff:1.2.3.4` is 1.2.3.4: one client, one throttle key.
        let mut client = peer.to_canonical();
        if !self.contains(client) {
            return client;
        }
        let hops: Vec<&str> = forwarded_for.flat_map(|v| v.split(',')).collect();
        for hop in hops.iter().rev() {
            let Some(ip) = parse_hop(hop) else {
                return client;
            };
            client = ip;
            if !self.contains(ip) {
                return ip;
            }
        }
        client
    }
}

/// `1.2.3.4`, `2001:db8::1`, and the `1.2.3.4:5678` / `[2001:db8::1]:5678` forms some proxies write.
fn parse_hop(hop: &str) -> Option<IpAddr> {
    let hop = hop.trim();
    hop.parse::<IpAddr>()
        .ok()
        .or_else(|| hop.parse::<std::net::SocketAddr>().ok().map(|s| s.ip()))
        .map(|ip| ip.to_canonical())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn trusted(list: &[&str]) -> TrustedProxies {
        TrustedProxies::new(list.iter().map(|s| s.parse().unwrap()).collect())
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn an_untrusted_peer_is_the_client_whatever_it_forwards() {
        let none = trusted(&[]);
        assert_eq!(
            none.client_ip(ip("127.0.0.1"), ["9.9.9.9"].into_iter()),
            ip("127.0.0.1")
        );
        let other = trusted(&["10.0.0.0/8"]);
        assert_eq!(
            other.client_ip(ip("192.0.2.1"), ["9.9.9.9"].into_iter()),
            ip("192.0.2.1")
        );
    }

    #[test]
    fn the_rightmost_untrusted_hop_is_the_client() {
        let t = trusted(&["127.0.0.1", "10.0.0.0/8"]);
        let hops = ["6.6.6.6, 203.0.113.7", "10.1.2.3"];
        assert_eq!(
            t.client_ip(ip("127.0.0.1"), hops.into_iter()),
            ip("203.0.113.7")
        );
        assert_eq!(
            t.client_ip(ip("127.0.0.1"), [].into_iter()),
            ip("127.0.0.1")
        );
        assert_eq!(
            t.client_ip(ip("127.0.0.1"), ["10.0.0.1"].into_iter()),
            ip("10.0.0.1")
        );
        assert_eq!(
            t.client_ip(ip("127.0.0.1"), ["1.1.1.1, garbage, 10.0.0.2"].into_iter()),
            ip("10.0.0.2")
        );
        assert_eq!(
            t.client_ip(ip("127.0.0.1"), ["[2001:db8::1]:443"].into_iter()),
            ip("2001:db8::1")
        );
        assert_eq!(
            t.client_ip(ip("::ffff:127.0.0.1"), ["::ffff:8.8.8.8"].into_iter()),
            ip("8.8.8.8")
        );
    }

    #[test]
    fn entries_are_addresses_or_cidrs() {
        assert!("127.0.0.1".parse::<TrustedProxy>().is_ok());
        assert!(" fd00::/8 ".parse::<TrustedProxy>().is_ok());
        assert!("10.0.0.1/8".parse::<TrustedProxy>().is_ok());
        assert!("localhost".parse::<TrustedProxy>().is_err());
        assert!("10.0.0.0/33".parse::<TrustedProxy>().is_err());
    }
}
