//! Who is calling: the client address and whether it counts as local.
//!
//! The address is the TCP peer's. Only when the peer is one of the operator's
//! `trusted-proxies` are `X-Forwarded-For` (its right-most entry that is not
//! itself a trusted proxy) and then `X-Real-IP` believed; a client cannot make
//! itself local or dodge its ban by sending those headers.

use std::net::IpAddr;

use http::HeaderMap;

use crate::net::{self, Cidr};

/// Local means exactly 127.0.0.1 or ::1 (IPv4-mapped forms normalized).
pub fn is_local(ip: IpAddr) -> bool {
    match net::canonical(ip) {
        IpAddr::V4(v4) => v4.octets() == [127, 0, 0, 1],
        IpAddr::V6(v6) => v6.is_loopback(),
    }
}

/// The client address for a request that arrived from `peer`.
pub fn client_ip(peer: IpAddr, headers: &HeaderMap, trusted_proxies: &[String]) -> IpAddr {
    let peer = net::canonical(peer);
    let trusted: Vec<Cidr> = trusted_proxies
        .iter()
        .filter_map(|c| net::parse_cidr(c))
        .collect();
    let is_trusted = |ip: IpAddr| trusted.iter().any(|c| c.contains(ip));
    if !is_trusted(peer) {
        return peer;
    }
    if let Some(ip) = forwarded_for(headers, &is_trusted) {
        return ip;
    }
    headers
        .get("x-real-ip")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<IpAddr>().ok())
        .map(net::canonical)
        .unwrap_or(peer)
}

/// Right-most `X-Forwarded-For` entry that is not a trusted proxy (every
/// header line counts, in order). An unparsable entry stops the walk: what
/// lies left of it cannot be trusted either.
fn forwarded_for(headers: &HeaderMap, is_trusted: &dyn Fn(IpAddr) -> bool) -> Option<IpAddr> {
    let entries: Vec<&str> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect();
    let mut last_trusted = None;
    for entry in entries.iter().rev() {
        let ip = net::canonical(entry.parse::<IpAddr>().ok()?);
        if !is_trusted(ip) {
            return Some(ip);
        }
        last_trusted = Some(ip);
    }
    // Every hop is a trusted proxy: the left-most one is the origin.
    last_trusted
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, v.parse().expect("header value"));
        }
        h
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("ip")
    }

    #[test]
    fn local_is_exact() {
        assert!(is_local(ip("127.0.0.1")));
        assert!(is_local(ip("::1")));
        assert!(is_local(ip("::ffff:127.0.0.1")));
        assert!(!is_local(ip("127.0.0.2")));
        assert!(!is_local(ip("10.0.0.1")));
    }

    #[test]
    fn untrusted_peer_headers_are_ignored() {
        let h = headers(&[("x-forwarded-for", "127.0.0.1"), ("x-real-ip", "127.0.0.1")]);
        assert_eq!(client_ip(ip("127.0.0.2"), &h, &[]), ip("127.0.0.2"));
        assert_eq!(
            client_ip(ip("127.0.0.2"), &h, &["10.0.0.0/8".into()]),
            ip("127.0.0.2")
        );
    }

    #[test]
    fn trusted_peer_forwarded_for() {
        let trusted = vec!["127.0.0.2".to_string(), "10.0.0.0/8".to_string()];
        let h = headers(&[("x-forwarded-for", "1.2.3.4, 5.6.7.8, 10.1.1.1")]);
        assert_eq!(client_ip(ip("127.0.0.2"), &h, &trusted), ip("5.6.7.8"));
        let h = headers(&[("x-real-ip", "9.9.9.9")]);
        assert_eq!(client_ip(ip("127.0.0.2"), &h, &trusted), ip("9.9.9.9"));
        let h = headers(&[("x-forwarded-for", "10.0.0.5")]);
        assert_eq!(client_ip(ip("127.0.0.2"), &h, &trusted), ip("10.0.0.5"));
        let h = headers(&[("x-forwarded-for", "garbage"), ("x-real-ip", "8.8.8.8")]);
        assert_eq!(client_ip(ip("127.0.0.2"), &h, &trusted), ip("8.8.8.8"));
        let h = headers(&[]);
        assert_eq!(client_ip(ip("127.0.0.2"), &h, &trusted), ip("127.0.0.2"));
    }
}
