//! Whom a mirror serves (SPEC §13): the countries it may or must not serve,
//! the client networks it serves first, and the largest share of a pool's
//! downloads it may take. The index turns these into pools when it is
//! built; nothing here runs on the redirect path.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use crate::geoip::Country;

/// An operator's rules for whom one mirror serves. The default: everyone,
/// no network first, no cap.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Audience {
    /// The only countries it may serve (empty: any). Clients whose country
    /// is unknown never go to a mirror that has such a list.
    pub only: Vec<Country>,
    /// Countries it must never serve.
    pub never: Vec<Country>,
    /// Client networks it serves first, before their region's mirrors.
    pub networks: Vec<ClientNet>,
    /// The largest share of a pool's downloads it may take, in percent
    /// (1–99; `None`: no cap).
    pub max_share: Option<u8>,
}

impl Audience {
    /// Whether a client from `country` (`None`: unknown) may be sent there.
    pub fn serves_country(&self, country: Option<Country>) -> bool {
        match country {
            Some(c) => (self.only.is_empty() || self.only.contains(&c)) && !self.never.contains(&c),
            None => self.only.is_empty(),
        }
    }

    /// Whether it is the default (serves everyone alike).
    pub fn is_default(&self) -> bool {
        *self == Audience::default()
    }

    /// One line for the audit log and `mirror list`: `-` for the default.
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        if !self.only.is_empty() {
            parts.push(format!("only {}", join(&self.only)));
        }
        if !self.never.is_empty() {
            parts.push(format!("never {}", join(&self.never)));
        }
        if !self.networks.is_empty() {
            parts.push(format!("first {}", join(&self.networks)));
        }
        if let Some(s) = self.max_share {
            parts.push(format!("max {s}%"));
        }
        if parts.is_empty() {
            "-".into()
        } else {
            parts.join("; ")
        }
    }
}

/// Items separated by `,` as the CLI, forms and exports write lists.
pub fn join<T: fmt::Display>(items: &[T]) -> String {
    items
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

/// What is wrong with a list of countries, networks or a share.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AudienceError {
    /// Not a two-letter country code.
    Country(String),
    /// Not a CIDR prefix or `AS` number; says why.
    Network(String, &'static str),
    /// Not a whole percentage from 1 to 100.
    Share(String),
}

impl fmt::Display for AudienceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AudienceError::Country(s) => write!(
                f,
                "{s:?} is not a country: give two-letter ISO codes separated by commas, e.g. DE,AT"
            ),
            AudienceError::Network(s, why) => write!(
                f,
                "{s:?} is not a client network ({why}): give CIDR prefixes or AS numbers separated by commas, e.g. 192.0.2.0/24,2001:db8::/32,AS64500"
            ),
            AudienceError::Share(s) => write!(
                f,
                "{s:?} is not a share: give a whole percentage from 1 to 100 (100: no cap)"
            ),
        }
    }
}

impl std::error::Error for AudienceError {}

/// The items of a comma- (or space-) separated list, trimmed, empties and
/// `none` left out.
fn items(list: &str) -> impl Iterator<Item = &str> {
    list.split([',', ' ', '\n', '\t', ';'])
        .map(str::trim)
        .filter(|s| !s.is_empty() && !s.eq_ignore_ascii_case("none"))
}

/// Reads a list of country codes (`DE,at`), sorted and without repeats.
pub fn parse_countries(list: &str) -> Result<Vec<Country>, AudienceError> {
    let mut out = items(list)
        .map(|s| Country::parse(s).ok_or_else(|| AudienceError::Country(s.into())))
        .collect::<Result<Vec<_>, _>>()?;
    out.sort_unstable();
    out.dedup();
    Ok(out)
}

/// Reads a list of client networks, in order, without repeats.
pub fn parse_networks(list: &str) -> Result<Vec<ClientNet>, AudienceError> {
    let mut out: Vec<ClientNet> = Vec::new();
    for s in items(list) {
        let net = s.parse()?;
        if !out.contains(&net) {
            out.push(net);
        }
    }
    Ok(out)
}

/// Reads a share cap: `40`, `40%`; 100, empty or `none` mean no cap.
pub fn parse_share(s: &str) -> Result<Option<u8>, AudienceError> {
    let t = s.trim().trim_end_matches('%').trim();
    if t.is_empty() || t.eq_ignore_ascii_case("none") {
        return Ok(None);
    }
    match t.parse::<u8>() {
        Ok(100) => Ok(None),
        Ok(n @ 1..=99) => Ok(Some(n)),
        _ => Err(AudienceError::Share(s.trim().into())),
    }
}

/// A client network a mirror serves first: an address prefix, or every
/// address an autonomous system announces (from the imported ASN table).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ClientNet {
    /// An IPv4 prefix: the first address and the prefix length.
    V4(u32, u8),
    /// An IPv6 prefix: the first address and the prefix length.
    V6(u128, u8),
    /// An autonomous system number.
    Asn(u32),
}

impl ClientNet {
    /// The first and last IPv4 address of an IPv4 prefix.
    pub fn v4_range(self) -> Option<(u32, u32)> {
        match self {
            ClientNet::V4(a, len) => {
                Some((a, a | u32::MAX.checked_shr(u32::from(len)).unwrap_or(0)))
            }
            _ => None,
        }
    }

    /// The first and last IPv6 address of an IPv6 prefix.
    pub fn v6_range(self) -> Option<(u128, u128)> {
        match self {
            ClientNet::V6(a, len) => {
                Some((a, a | u128::MAX.checked_shr(u32::from(len)).unwrap_or(0)))
            }
            _ => None,
        }
    }
}

impl FromStr for ClientNet {
    type Err = AudienceError;

    fn from_str(s: &str) -> Result<ClientNet, AudienceError> {
        let bad = |why| AudienceError::Network(s.into(), why);
        if let Some(n) = s
            .strip_prefix("AS")
            .or_else(|| s.strip_prefix("as"))
            .or_else(|| s.strip_prefix("As"))
        {
            return match n.parse::<u32>() {
                Ok(n) if n > 0 => Ok(ClientNet::Asn(n)),
                _ => Err(bad("an AS number is AS and 1 to 4294967295")),
            };
        }
        let (addr, len) = match s.split_once('/') {
            Some((a, l)) => (a, Some(l)),
            None => (s, None),
        };
        let addr: IpAddr = addr
            .parse()
            .map_err(|_| bad("the part before / is not an IP address"))?;
        let len = |max: u8| match len {
            None => Ok(max),
            Some(l) => l
                .parse::<u8>()
                .ok()
                .filter(|&l| l <= max)
                .ok_or_else(|| bad("the prefix length is too long or not a number")),
        };
        match addr {
            IpAddr::V4(a) => {
                let len = len(32)?;
                let a = u32::from(a);
                if a & u32::MAX.checked_shr(u32::from(len)).unwrap_or(0) != 0 {
                    return Err(bad("bits are set after the prefix length"));
                }
                Ok(ClientNet::V4(a, len))
            }
            IpAddr::V6(a) => {
                let len = len(128)?;
                let a = u128::from(a);
                if a & u128::MAX.checked_shr(u32::from(len)).unwrap_or(0) != 0 {
                    return Err(bad("bits are set after the prefix length"));
                }
                Ok(ClientNet::V6(a, len))
            }
        }
    }
}

impl fmt::Display for ClientNet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            ClientNet::V4(a, len) => write!(f, "{}/{len}", std::net::Ipv4Addr::from(a)),
            ClientNet::V6(a, len) => write!(f, "{}/{len}", std::net::Ipv6Addr::from(a)),
            ClientNet::Asn(n) => write!(f, "AS{n}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(s: &str) -> Country {
        Country::parse(s).unwrap()
    }

    #[test]
    fn networks_parse_and_print_back() {
        let nets = parse_networks("192.0.2.0/24, 2001:db8::/32 as64500,AS64500;10.1.2.3").unwrap();
        assert_eq!(
            join(&nets),
            "192.0.2.0/24,2001:db8::/32,AS64500,10.1.2.3/32"
        );
        assert_eq!(nets[0].v4_range(), Some((0xc000_0200, 0xc000_02ff)));
        assert_eq!(
            nets[1].v6_range(),
            Some((0x2001_0db8 << 96, (0x2001_0db8 << 96) | (u128::MAX >> 32)))
        );
        assert_eq!(
            "0.0.0.0/0".parse::<ClientNet>().unwrap().v4_range(),
            Some((0, u32::MAX))
        );
        assert_eq!(parse_networks("none").unwrap(), vec![]);
    }

    #[test]
    fn bad_networks_say_why() {
        for (input, why) in [
            ("10.0.0.1/8", "bits are set"),
            ("10.0.0.0/33", "too long"),
            ("AS0", "AS number"),
            ("ASx", "AS number"),
            ("example.org", "not an IP address"),
        ] {
            let e = parse_networks(input).unwrap_err();
            assert!(e.to_string().contains(why), "{input}: {e}");
            assert!(e.to_string().contains("e.g."), "{e}");
        }
    }

    #[test]
    fn countries_and_shares() {
        assert_eq!(
            parse_countries("de, AT,de").unwrap(),
            vec![c("AT"), c("DE")]
        );
        assert_eq!(
            parse_countries("DEU").unwrap_err(),
            AudienceError::Country("DEU".into())
        );
        assert_eq!(parse_share("40%"), Ok(Some(40)));
        assert_eq!(parse_share("100"), Ok(None));
        assert_eq!(parse_share(""), Ok(None));
        assert!(parse_share("0").is_err());
        assert!(parse_share("120").is_err());
    }

    #[test]
    fn country_rules() {
        let only_de = Audience {
            only: vec![c("DE")],
            ..Default::default()
        };
        assert!(only_de.serves_country(Some(c("DE"))));
        assert!(!only_de.serves_country(Some(c("FR"))));
        assert!(!only_de.serves_country(None), "unknown is not DE");
        let never_cn = Audience {
            never: vec![c("CN")],
            ..Default::default()
        };
        assert!(!never_cn.serves_country(Some(c("CN"))));
        assert!(never_cn.serves_country(None));
        assert!(Audience::default().serves_country(None));
        assert_eq!(Audience::default().describe(), "-");
        let all = Audience {
            only: vec![c("DE")],
            never: vec![c("CN")],
            networks: vec![ClientNet::Asn(3320)],
            max_share: Some(40),
        };
        assert_eq!(all.describe(), "only DE; never CN; first AS3320; max 40%");
    }
}
