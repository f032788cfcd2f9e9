//! What a trusted proxy says about the request it forwards, and nothing from anyone else: the
//! forwarded headers are read only when the TCP peer is one of `--trusted-proxies`.

use actix_web::HttpRequest;
use server_kit::trusted_proxies::{TrustedProxies, forwarded_for_hops};
use std::net::IpAddr;

/// The request as its TCP peer, trusted or not, tells it.
pub(crate) struct Forwarded<'a> {
    req: &'a HttpRequest,
    peer: Option<IpAddr>,
    trusted: bool,
}

impl<'a> Forwarded<'a> {
    pub fn of(req: &'a HttpRequest, proxies: &TrustedProxies) -> Self {
        let peer = req.peer_addr().map(|addr| addr.ip().to_canonical());
        Forwarded {
            req,
            peer,
            trusted: peer.is_some_and(|ip| proxies.contains(ip)),
        }
    }

    /// Whether the peer is a trusted proxy.
    pub fn trusted(&self) -> bool {
        self.trusted
    }

    /// A forwarded header's value, from a trusted proxy only.
    pub fn header(&self, name: &str) -> Option<&'a str> {
        if !self.trusted {
            return None;
        }
        self.req
            .headers()
            .get(name)
            .and_then(|value| value.to_str().ok())
            .map(str::trim)
            .filter(|value| !value.is_empty())
    }

    /// The first of `names` that a trusted proxy forwarded.
    pub fn first_of(&self, names: &[&str]) -> Option<&'a str> {
        names.iter().find_map(|name| self.header(name))
    }

    /// The client: the peer, or behind trusted proxies the rightmost forwarded address that is
    /// not one of them (`X-Forwarded-For`, else RFC 7239 `Forwarded`).
    pub fn client_ip(&self, proxies: &TrustedProxies) -> Option<IpAddr> {
        let peer = self.peer?;
        let headers = self.req.headers();
        let values = |name| {
            headers
                .get_all(name)
                .filter_map(|value| value.to_str().ok())
                .collect::<Vec<_>>()
        };
        let forwarded_for = values("x-forwarded-for");
        Some(if forwarded_for.is_empty() {
            let forwarded = values("forwarded");
            proxies.client_ip(peer, forwarded.iter().flat_map(|v| forwarded_for_hops(v)))
        } else {
            proxies.client_ip(peer, forwarded_for.into_iter())
        })
    }

    /// The stream id a retry of the same proxied request repeats, from its `X-Request-Id`.
    pub fn stream_id(&self) -> Option<u64> {
        self.header("x-request-id").map(stream_for_key)
    }
}

/// A stream id for a request key (a proxy's request id, an edge's `Idempotency-Key`): the same
/// key, the same stream, on every instance. FNV-1a, with the top bit set so it can never equal
/// an id the replay store draws itself (those stay below 2^53).
pub(crate) fn stream_for_key(key: &str) -> u64 {
    let hash = key.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
    });
    hash | 1 << 63
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_gives_one_stream_apart_from_drawn_ids() {
        assert_eq!(stream_for_key("abc"), stream_for_key("abc"));
        assert_ne!(stream_for_key("abc"), stream_for_key("abd"));
        assert!(stream_for_key("") >= 1 << 63);
    }
}
