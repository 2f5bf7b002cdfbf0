//! Who is asking: the client's IP address. The socket's peer address,
//! unless the peer is one of the operator's trusted proxies: then the
//! right-most address in `X-Forwarded-For` that is not a trusted proxy
//! (each proxy appends the address it saw, so everything left of the first
//! untrusted hop may be forged by the client).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use hyper::header::HeaderMap;

use crate::error::{Error, Result};

/// `X-Forwarded-For`.
const FORWARDED_FOR: &str = "x-forwarded-for";

/// At most this many `X-Forwarded-For` entries are walked; a longer chain
/// gives up at the nearest trusted hop rather than costing more.
const MAX_HOPS: usize = 16;

/// A block of addresses in CIDR notation (`10.0.0.0/8`, `2001:db8::/32`, or
/// a single address).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cidr {
    /// The network's first address (host bits cleared), IPv4 as mapped IPv6.
    network: u128,
    /// Prefix length on the 128-bit form.
    prefix: u8,
}

impl Cidr {
    /// Parses `a.b.c.d/n`, `x::/n` or a bare address.
    pub fn parse(s: &str) -> Result<Cidr> {
        let bad = |why: &str| {
            Error::invalid(
                "trusted proxy",
                format!(
                    "{s:?} {why} (expected an address or CIDR block such as 10.0.0.0/8 or 2001:db8::/32)"
                ),
            )
        };
        let s = s.trim();
        let (addr, prefix) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let ip: IpAddr = addr.parse().map_err(|_| bad("is not an IP address"))?;
        let max = if ip.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => max,
            Some(p) => p
                .parse::<u8>()
                .ok()
                .filter(|&p| p <= max)
                .ok_or_else(|| bad(&format!("has a prefix length that is not 0–{max}")))?,
        };
        let prefix = if ip.is_ipv4() { prefix + 96 } else { prefix };
        let network = wide(ip) & mask(prefix);
        Ok(Cidr { network, prefix })
    }

    /// Whether `ip` is in the block.
    pub fn contains(&self, ip: IpAddr) -> bool {
        wide(ip) & mask(self.prefix) == self.network
    }
}

impl std::fmt::Display for Cidr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let v6 = Ipv6Addr::from(self.network);
        match v6.to_ipv4_mapped() {
            Some(v4) if self.prefix >= 96 => write!(f, "{v4}/{}", self.prefix - 96),
            _ => write!(f, "{v6}/{}", self.prefix),
        }
    }
}

/// `ip` as 128 bits, IPv4 as IPv4-mapped IPv6 (so one comparison covers
/// both families and `::ffff:10.0.0.1` matches `10.0.0.0/8`).
fn wide(ip: IpAddr) -> u128 {
    match ip {
        IpAddr::V4(v4) => u128::from(v4.to_ipv6_mapped()),
        IpAddr::V6(v6) => u128::from(v6),
    }
}

fn mask(prefix: u8) -> u128 {
    if prefix == 0 {
        0
    } else {
        u128::MAX << (128 - u32::from(prefix))
    }
}

/// The proxies whose `X-Forwarded-For` entries are believed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TrustedProxies {
    blocks: Vec<Cidr>,
}

impl TrustedProxies {
    /// From CIDR blocks as typed by the operator.
    pub fn parse<S: AsRef<str>>(blocks: &[S]) -> Result<TrustedProxies> {
        let blocks = blocks
            .iter()
            .map(|b| Cidr::parse(b.as_ref()))
            .collect::<Result<_>>()?;
        Ok(TrustedProxies { blocks })
    }

    /// Whether there are none (then `X-Forwarded-For` is never read).
    pub fn is_empty(&self) -> bool {
        self.blocks.is_empty()
    }

    /// Whether `ip` is a trusted proxy.
    pub fn contains(&self, ip: IpAddr) -> bool {
        self.blocks.iter().any(|b| b.contains(ip))
    }

    /// The blocks, for messages.
    pub fn blocks(&self) -> &[Cidr] {
        &self.blocks
    }

    /// The client's address for a request from `peer` with `headers`: `peer`
    /// itself unless it is trusted; then the right-most `X-Forwarded-For`
    /// entry that is not trusted. A chain of only trusted hops gives the
    /// left-most. An entry that is no address (or a header that is not
    /// text, or a chain longer than 16 entries) makes the client
    /// [`UNKNOWN`]: never one of the trusted hops, whose address would
    /// earn it what only they may have (`/metrics` for loopback).
    pub fn client(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        let peer = unmap(peer);
        if self.blocks.is_empty() || !self.contains(peer) {
            return peer;
        }
        let mut client = peer;
        let mut hops = 0;
        // Several header lines form one list, in order.
        for value in headers.get_all(FORWARDED_FOR).iter().rev() {
            let Ok(value) = value.to_str() else {
                return UNKNOWN;
            };
            for entry in value.rsplit(',') {
                let entry = entry.trim();
                if entry.is_empty() {
                    continue;
                }
                hops += 1;
                let Some(ip) = parse_entry(entry) else {
                    return UNKNOWN;
                };
                if hops > MAX_HOPS {
                    return UNKNOWN;
                }
                client = ip;
                if !self.contains(ip) {
                    return ip;
                }
            }
        }
        client
    }
}

/// The client of a request whose forwarding chain could not be read: the
/// unspecified address `::` (in no range, trusted by no one, not loopback).
pub const UNKNOWN: IpAddr = IpAddr::V6(Ipv6Addr::UNSPECIFIED);

/// An `X-Forwarded-For` entry: an address, optionally with a port
/// (`1.2.3.4:80`, `[2001:db8::1]:443`, `[2001:db8::1]`).
fn parse_entry(entry: &str) -> Option<IpAddr> {
    if let Ok(ip) = entry.parse::<IpAddr>() {
        return Some(unmap(ip));
    }
    if let Some(rest) = entry.strip_prefix('[') {
        let (inside, after) = rest.split_once(']')?;
        if !(after.is_empty() || after.strip_prefix(':').is_some_and(is_port)) {
            return None;
        }
        return inside.parse::<Ipv6Addr>().ok().map(|v6| unmap(v6.into()));
    }
    let (host, port) = entry.rsplit_once(':')?;
    if !is_port(port) {
        return None;
    }
    host.parse::<Ipv4Addr>().ok().map(IpAddr::V4)
}

fn is_port(s: &str) -> bool {
    !s.is_empty() && s.len() <= 5 && s.bytes().all(|b| b.is_ascii_digit())
}

/// IPv4-mapped IPv6 (`::ffff:1.2.3.4`, as a dual-stack socket reports IPv4
/// peers) as plain IPv4.
pub fn unmap(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hyper::header::HeaderValue;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn xff(values: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in values {
            h.append(FORWARDED_FOR, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    fn proxies(blocks: &[&str]) -> TrustedProxies {
        TrustedProxies::parse(blocks).unwrap()
    }

    #[test]
    fn cidr_blocks_match_what_they_should() {
        let b = Cidr::parse("10.1.0.0/16").unwrap();
        assert!(b.contains(ip("10.1.0.0")));
        assert!(b.contains(ip("10.1.255.255")));
        assert!(!b.contains(ip("10.2.0.0")));
        assert!(!b.contains(ip("10.0.255.255")));
        assert!(b.contains(ip("::ffff:10.1.2.3")), "mapped IPv4 matches");
        assert!(!b.contains(ip("2001:db8::1")));
        // Host bits are cleared, as operators often write them.
        assert_eq!(Cidr::parse("10.1.2.3/16").unwrap(), b);
        assert_eq!(b.to_string(), "10.1.0.0/16");

        let v6 = Cidr::parse("2001:db8::/32").unwrap();
        assert!(v6.contains(ip("2001:db8:ffff::1")));
        assert!(!v6.contains(ip("2001:db9::")));
        assert!(!v6.contains(ip("10.0.0.1")));
        assert_eq!(v6.to_string(), "2001:db8::/32");

        let one = Cidr::parse("192.0.2.7").unwrap();
        assert!(one.contains(ip("192.0.2.7")));
        assert!(!one.contains(ip("192.0.2.8")));
        assert!(Cidr::parse("0.0.0.0/0").unwrap().contains(ip("8.8.8.8")));
        assert!(Cidr::parse("::/0").unwrap().contains(ip("2001:db8::1")));
    }

    #[test]
    fn bad_blocks_say_what_is_wrong() {
        for (input, says) in [
            ("10.0.0.0/33", "0–32"),
            ("::/129", "0–128"),
            ("10.0.0/8", "not an IP address"),
            ("proxy.example", "not an IP address"),
            ("10.0.0.0/x", "prefix length"),
            ("", "not an IP address"),
        ] {
            let err = Cidr::parse(input).unwrap_err().to_string();
            assert!(err.contains(says), "{input:?}: {err}");
            assert!(
                err.contains("10.0.0.0/8"),
                "{input:?} shows an example: {err}"
            );
        }
    }

    #[test]
    fn without_trusted_proxies_the_peer_is_the_client() {
        let h = xff(&["203.0.113.9"]);
        assert_eq!(
            TrustedProxies::default().client(ip("198.51.100.1"), &h),
            ip("198.51.100.1")
        );
        // A peer that is not trusted cannot claim another address.
        assert_eq!(
            proxies(&["10.0.0.0/8"]).client(ip("198.51.100.1"), &h),
            ip("198.51.100.1")
        );
    }

    #[test]
    fn the_right_most_untrusted_entry_is_the_client() {
        let p = proxies(&["10.0.0.0/8", "2001:db8:1::/48"]);
        let peer = ip("10.0.0.1");
        // The client forged the first entry; our proxies appended the rest.
        let h = xff(&["1.1.1.1, 203.0.113.9, 10.0.0.5"]);
        assert_eq!(p.client(peer, &h), ip("203.0.113.9"));
        // Spread over several header lines, in order.
        let h = xff(&["1.1.1.1", "203.0.113.9", "10.0.0.5,10.9.9.9"]);
        assert_eq!(p.client(peer, &h), ip("203.0.113.9"));
        // IPv6 client behind an IPv6 proxy, with ports and spaces.
        let h = xff(&["[2001:db8:2::7]:5555 , [2001:db8:1::2]"]);
        assert_eq!(p.client(ip("2001:db8:1::1"), &h), ip("2001:db8:2::7"));
        let h = xff(&["198.51.100.4:8080"]);
        assert_eq!(p.client(peer, &h), ip("198.51.100.4"));
        // Mapped addresses are plain IPv4.
        let h = xff(&["::ffff:198.51.100.4"]);
        assert_eq!(p.client(ip("::ffff:10.0.0.1"), &h), ip("198.51.100.4"));
    }

    #[test]
    fn broken_chains_make_the_client_unknown_never_trusted() {
        let p = proxies(&["10.0.0.0/8", "127.0.0.0/8"]);
        let peer = ip("10.0.0.1");
        assert_eq!(p.client(peer, &HeaderMap::new()), peer, "no header");
        assert_eq!(p.client(peer, &xff(&["", " , "])), peer, "empty entries");
        // Garbage anywhere the walk reaches: nobody known, and not a hop.
        let h = xff(&["203.0.113.9, not-an-ip, 10.0.0.7"]);
        assert_eq!(p.client(peer, &h), UNKNOWN);
        assert_eq!(p.client(peer, &xff(&["unknown"])), UNKNOWN);
        assert_eq!(p.client(ip("127.0.0.1"), &xff(&["garbage"])), UNKNOWN);
        assert_eq!(p.client(peer, &xff(&["1.2.3.4:99999999"])), UNKNOWN);
        assert!(!UNKNOWN.is_loopback() && !p.contains(UNKNOWN));
        // Garbage left of an untrusted client is never reached.
        let h = xff(&["not-an-ip, 203.0.113.9, 10.0.0.7"]);
        assert_eq!(p.client(peer, &h), ip("203.0.113.9"));
        // Only trusted hops: the left-most.
        let h = xff(&["10.0.0.9, 10.0.0.8"]);
        assert_eq!(p.client(peer, &h), ip("10.0.0.9"));
        // A very long chain of trusted hops gives up at the 16th.
        let long = vec!["10.1.1.1"; 40].join(",") + ",203.0.113.1";
        assert_eq!(p.client(peer, &xff(&[&long])), ip("203.0.113.1"));
        let long = String::from("203.0.113.1,") + &vec!["10.1.1.1"; 40].join(",");
        assert_eq!(p.client(peer, &xff(&[&long])), UNKNOWN);
    }
}
