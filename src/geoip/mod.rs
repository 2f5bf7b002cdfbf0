//! GeoIP: which country an IP address is in. Address ranges are kept as
//! sorted arrays (IPv4 and IPv6 apart) and looked up by binary search, so a
//! lookup is O(log n) with no allocation and no lock.
//!
//! Ranges come from a CSV import ([`import`]: MaxMind GeoLite2-Country,
//! DB-IP lite, or plain `start,end,country`), stored in the database in the
//! compact form of [`GeoDb::encode`], or from a MaxMind `.mmdb` file read at
//! start-up ([`mmdb`]). [`continents`] maps countries to continents for the
//! default regions.

pub mod continents;
pub mod import;
pub mod mmdb;

use std::net::IpAddr;

use crate::error::Result;

/// An ISO 3166-1 alpha-2 country code, upper-case ASCII.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Country(pub [u8; 2]);

impl Country {
    /// What counters record when the country is unknown.
    pub const UNKNOWN: [u8; 2] = *b"--";

    /// Parses two ASCII letters (any case).
    pub fn parse(s: &str) -> Option<Country> {
        todo!("{s}")
    }

    /// The code as text.
    pub fn as_str(&self) -> &str {
        todo!()
    }
}

/// Address ranges → country, for IPv4 and IPv6.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct GeoDb {
    /// Where the ranges came from (file names, or the `.mmdb` file and its
    /// build date), for status pages.
    pub source: String,
    /// When they were imported or read (Unix seconds).
    pub loaded: u64,
}

impl GeoDb {
    /// The country of `ip` (IPv4-mapped IPv6 addresses as IPv4); `None`
    /// when no range holds it.
    pub fn lookup(&self, ip: IpAddr) -> Option<Country> {
        todo!("{ip}")
    }

    /// Number of IPv4 and IPv6 ranges.
    pub fn len(&self) -> (usize, usize) {
        todo!()
    }

    /// Whether there are no ranges at all.
    pub fn is_empty(&self) -> bool {
        self.len() == (0, 0)
    }

    /// The compact stored form.
    pub fn encode(&self) -> Vec<u8> {
        todo!()
    }

    /// Reads the stored form back; an error says the stored table is
    /// damaged and to import again.
    pub fn decode(bytes: &[u8]) -> Result<GeoDb> {
        todo!("{}", bytes.len())
    }
}
