//! Address families (SPEC §13): a mirror's IPv4 and IPv6 addresses fail
//! apart, so a client is sent only to mirrors that serve its own family.

use std::net::IpAddr;

/// The family a client reaches bouncer over (or its forwarded address).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Family {
    /// IPv4 (and IPv4-mapped IPv6 addresses).
    V4 = 0,
    /// IPv6.
    V6 = 1,
}

impl Family {
    /// The family of `ip`; an IPv4-mapped IPv6 address is IPv4.
    pub fn of(ip: IpAddr) -> Family {
        match crate::client::unmap(ip) {
            IpAddr::V4(_) => Family::V4,
            IpAddr::V6(_) => Family::V6,
        }
    }

    /// `ipv4` or `ipv6`.
    pub fn as_str(self) -> &'static str {
        match self {
            Family::V4 => "ipv4",
            Family::V6 => "ipv6",
        }
    }

    /// `IPv4` or `IPv6`.
    pub fn label(self) -> &'static str {
        match self {
            Family::V4 => "IPv4",
            Family::V6 => "IPv6",
        }
    }

    /// Both families.
    pub const ALL: [Family; 2] = [Family::V4, Family::V6];
}

/// The families an operator says a mirror serves.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Families {
    /// IPv4 and IPv6 (the default).
    #[default]
    Both,
    /// IPv4 only: IPv6 clients never go there.
    V4Only,
    /// IPv6 only: IPv4 clients never go there.
    V6Only,
}

impl Families {
    /// Every setting, in the order forms offer them.
    pub const ALL: [Families; 3] = [Families::Both, Families::V4Only, Families::V6Only];

    /// Whether a client of `family` may be sent there.
    pub fn serves(self, family: Family) -> bool {
        !matches!(
            (self, family),
            (Families::V4Only, Family::V6) | (Families::V6Only, Family::V4)
        )
    }

    /// `both`, `ipv4` or `ipv6`: how forms, the CLI and exports name it.
    pub fn as_str(self) -> &'static str {
        match self {
            Families::Both => "both",
            Families::V4Only => "ipv4",
            Families::V6Only => "ipv6",
        }
    }

    /// Reads [`Families::as_str`] (also `v4`, `v6`, `ipv4-only`, …).
    pub fn parse(s: &str) -> Option<Families> {
        match s.trim().to_ascii_lowercase().as_str() {
            "both" | "" | "any" | "ipv4+ipv6" => Some(Families::Both),
            "ipv4" | "v4" | "ipv4-only" | "v4-only" => Some(Families::V4Only),
            "ipv6" | "v6" | "ipv6-only" | "v6-only" => Some(Families::V6Only),
            _ => None,
        }
    }

    /// The byte stored in rows (0: both, as rows written before had it).
    pub fn code(self) -> u8 {
        match self {
            Families::Both => 0,
            Families::V4Only => 4,
            Families::V6Only => 6,
        }
    }

    /// Reads [`Families::code`]; `None` for a byte no version wrote.
    pub fn from_code(code: u8) -> Option<Families> {
        Families::ALL.into_iter().find(|f| f.code() == code)
    }
}

impl std::str::FromStr for Families {
    type Err = String;

    /// [`Families::parse`], with what to say instead (for the CLI).
    fn from_str(s: &str) -> Result<Families, String> {
        Families::parse(s).ok_or_else(|| format!("{s:?}: say both, ipv4 or ipv6"))
    }
}

/// What sentry last found of a mirror over one address family.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Reach {
    /// Not checked apart (a check from before families were).
    #[default]
    Unknown,
    /// Its host has no address in this family: unreachable for clients
    /// of that family.
    NoAddress,
    /// Its base URL answered over this family.
    Up,
    /// It has addresses in this family but did not answer over them.
    Down,
}

impl Reach {
    /// Every value.
    pub const ALL: [Reach; 4] = [Reach::Unknown, Reach::NoAddress, Reach::Up, Reach::Down];

    /// Whether clients of this family may be sent there (unknown: yes, as
    /// before families were checked apart).
    pub fn serves(self) -> bool {
        matches!(self, Reach::Unknown | Reach::Up)
    }

    /// `unknown`, `no address`, `up` or `down`.
    pub fn as_str(self) -> &'static str {
        match self {
            Reach::Unknown => "unknown",
            Reach::NoAddress => "no address",
            Reach::Up => "up",
            Reach::Down => "down",
        }
    }

    /// The byte stored in rows (0: unknown, as rows written before).
    pub fn code(self) -> u8 {
        match self {
            Reach::Unknown => 0,
            Reach::NoAddress => 1,
            Reach::Up => 2,
            Reach::Down => 3,
        }
    }

    /// Reads [`Reach::code`]; `None` for a byte no version wrote.
    pub fn from_code(code: u8) -> Option<Reach> {
        Reach::ALL.into_iter().find(|r| r.code() == code)
    }
}

/// Whether a client of `family` may be sent to a mirror the operator says
/// serves `families`, where sentry found `reaches`: both must allow it.
pub fn serves(families: Families, reaches: Reaches, family: Family) -> bool {
    families.serves(family) && reaches.of(family).serves()
}

/// What sentry found of a mirror over each family.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Reaches {
    /// Over IPv4.
    pub v4: Reach,
    /// Over IPv6.
    pub v6: Reach,
}

impl Reaches {
    /// The finding for `family`.
    pub fn of(self, family: Family) -> Reach {
        match family {
            Family::V4 => self.v4,
            Family::V6 => self.v6,
        }
    }

    /// The finding for `family`, to set.
    pub fn of_mut(&mut self, family: Family) -> &mut Reach {
        match family {
            Family::V4 => &mut self.v4,
            Family::V6 => &mut self.v6,
        }
    }

    /// `IPv4 up, IPv6 down`: for lists and mails (empty when unknown).
    pub fn describe(self) -> String {
        let known: Vec<String> = Family::ALL
            .into_iter()
            .filter(|&f| self.of(f) != Reach::Unknown)
            .map(|f| format!("{} {}", f.label(), self.of(f).as_str()))
            .collect();
        known.join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clients_go_only_where_their_family_is_served() {
        let v4: IpAddr = "192.0.2.1".parse().unwrap();
        let v6: IpAddr = "2001:db8::1".parse().unwrap();
        let mapped: IpAddr = "::ffff:192.0.2.1".parse().unwrap();
        assert_eq!(Family::of(v4), Family::V4);
        assert_eq!(Family::of(v6), Family::V6);
        assert_eq!(
            Family::of(mapped),
            Family::V4,
            "an IPv4 client on a dual-stack socket"
        );
        let served = |f: Families| (f.serves(Family::V4), f.serves(Family::V6));
        assert_eq!(served(Families::Both), (true, true));
        assert_eq!(served(Families::V4Only), (true, false));
        assert_eq!(served(Families::V6Only), (false, true));
    }

    #[test]
    fn names_and_codes_read_back() {
        for f in Families::ALL {
            assert_eq!(Families::parse(f.as_str()), Some(f));
            assert_eq!(Families::from_code(f.code()), Some(f));
        }
        assert_eq!(Families::parse(" V6-only "), Some(Families::V6Only));
        assert_eq!(Families::parse("ipv5"), None);
        assert_eq!(
            Families::from_code(0),
            Some(Families::Both),
            "rows from before"
        );
        assert_eq!(Families::from_code(9), None);
        for r in Reach::ALL {
            assert_eq!(Reach::from_code(r.code()), Some(r));
        }
        assert_eq!(
            Reach::from_code(0),
            Some(Reach::Unknown),
            "rows from before"
        );
    }

    #[test]
    fn only_reachable_families_serve_and_findings_read_well() {
        let r = Reaches {
            v4: Reach::Up,
            v6: Reach::Down,
        };
        assert!(r.of(Family::V4).serves() && !r.of(Family::V6).serves());
        assert!(
            Reach::Unknown.serves(),
            "unchecked families serve, as before"
        );
        assert!(!Reach::NoAddress.serves());
        assert_eq!(r.describe(), "IPv4 up, IPv6 down");
        assert_eq!(Reaches::default().describe(), "");
    }
}
