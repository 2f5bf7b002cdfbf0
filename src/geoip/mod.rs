//! GeoIP: which country an IP address is in. Address ranges are kept as
//! sorted arrays (IPv4 and IPv6 apart) and looked up by binary search (in
//! big tables, only among the ranges of the address's bucket of a 16-bit
//! index), so a lookup is O(log n) with no allocation and no lock.
//!
//! Ranges come from a CSV import ([`import`]: MaxMind GeoLite2-Country,
//! DB-IP lite, or plain `start,end,country`), stored in the database in the
//! compact form of [`GeoDb::encode`], or from a MaxMind `.mmdb` file read at
//! start-up ([`mmdb`]). [`continents`] maps countries to continents for the
//! default regions.

pub mod asn;
pub mod continents;
pub mod import;
pub mod mmdb;

use std::fmt;
use std::net::IpAddr;

use crate::error::{Error, Result};

/// An ISO 3166-1 alpha-2 country code, upper-case ASCII.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Country(pub [u8; 2]);

impl Country {
    /// What counters record when the country is unknown.
    pub const UNKNOWN: [u8; 2] = *b"--";

    /// Parses two ASCII letters (any case).
    pub fn parse(s: &str) -> Option<Country> {
        match *s.as_bytes() {
            [a, b] if a.is_ascii_alphabetic() && b.is_ascii_alphabetic() => {
                Some(Country([a.to_ascii_uppercase(), b.to_ascii_uppercase()]))
            }
            _ => None,
        }
    }

    /// The code as text (`--` if the bytes are not text, which
    /// [`Country::parse`] never makes).
    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.0).unwrap_or("--")
    }
}

impl fmt::Display for Country {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Address ranges → country, for IPv4 and IPv6.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct GeoDb {
    /// Where the ranges came from (file names, or the `.mmdb` file and its
    /// build date), for status pages.
    pub source: String,
    /// When they were imported or read (Unix seconds).
    pub loaded: u64,
    v4: Table<u32>,
    v6: Table<u128>,
}

impl fmt::Debug for GeoDb {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The ranges themselves are far too many to print.
        f.debug_struct("GeoDb")
            .field("source", &self.source)
            .field("loaded", &self.loaded)
            .field("v4_ranges", &self.v4.len())
            .field("v6_ranges", &self.v6.len())
            .finish()
    }
}

/// A range that [`GeoDb::from_ranges`] left out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Dropped {
    /// Whether it was in the IPv6 list (else the IPv4 list).
    pub ipv6: bool,
    /// Its index in that list.
    pub index: usize,
    /// Why it was left out.
    pub why: DropReason,
}

/// Why [`GeoDb::from_ranges`] left a range out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DropReason {
    /// It overlaps the kept range at this index of the same list.
    Overlaps(usize),
    /// Its start is after its end.
    Inverted,
    /// Its country is not two printable ASCII characters.
    NotACountry,
}

/// The first byte of [`GeoDb::encode`]'s output.
const FORMAT: u8 = 1;

impl GeoDb {
    /// Builds the tables from inclusive `(start, end, country)` ranges, in
    /// any order. Of two overlapping ranges the one that starts lower (at
    /// the same start, the one listed first) is kept and the other is
    /// reported; so are ranges whose start is after their end. Touching
    /// ranges of the same country are merged. `source` and `loaded` are
    /// left empty for the caller to fill.
    pub fn from_ranges(
        v4: Vec<(u32, u32, Country)>,
        v6: Vec<(u128, u128, Country)>,
    ) -> (GeoDb, Vec<Dropped>) {
        let mut dropped = Vec::new();
        let v4 = Table::build(v4, false, &mut dropped);
        let v6 = Table::build(v6, true, &mut dropped);
        let db = GeoDb {
            source: String::new(),
            loaded: 0,
            v4,
            v6,
        };
        (db, dropped)
    }

    /// The country of `ip` (IPv4-mapped IPv6 addresses as IPv4); `None`
    /// when no range holds it.
    #[inline]
    pub fn lookup(&self, ip: IpAddr) -> Option<Country> {
        match ip {
            IpAddr::V4(v4) => self.v4.lookup(u32::from(v4)),
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => self.v4.lookup(u32::from(v4)),
                None => self.v6.lookup(u128::from(v6)),
            },
        }
    }

    /// Number of IPv4 and IPv6 ranges.
    pub fn len(&self) -> (usize, usize) {
        (self.v4.len(), self.v6.len())
    }

    /// Whether there are no ranges at all.
    pub fn is_empty(&self) -> bool {
        self.len() == (0, 0)
    }

    /// The IPv4 ranges, `(first, last, country)` as integers, in order.
    pub fn v4_ranges(&self) -> impl Iterator<Item = (u32, u32, Country)> + '_ {
        self.v4.iter()
    }

    /// The IPv6 ranges, `(first, last, country)` as integers, in order.
    pub fn v6_ranges(&self) -> impl Iterator<Item = (u128, u128, Country)> + '_ {
        self.v6.iter()
    }

    /// The compact stored form: a format byte, `loaded`, `source`, the two
    /// range counts, then for IPv4 and for IPv6 the starts, the ends and
    /// the countries, all little-endian (10 bytes an IPv4 range, 34 an
    /// IPv6 range).
    pub fn encode(&self) -> Vec<u8> {
        let source = self.source.as_bytes();
        let mut out = Vec::with_capacity(
            1 + 8
                + 4
                + source.len()
                + 8
                + self.v4.len() * Table::<u32>::RANGE_BYTES
                + self.v6.len() * Table::<u128>::RANGE_BYTES,
        );
        out.push(FORMAT);
        out.extend_from_slice(&self.loaded.to_le_bytes());
        // Lengths are stored as u32; a source name or a table past 4 GiB
        // cannot be made by any import.
        out.extend_from_slice(&(source.len() as u32).to_le_bytes());
        out.extend_from_slice(source);
        out.extend_from_slice(&(self.v4.len() as u32).to_le_bytes());
        out.extend_from_slice(&(self.v6.len() as u32).to_le_bytes());
        self.v4.encode(&mut out);
        self.v6.encode(&mut out);
        out
    }

    /// Reads the stored form back; an error says the stored table is
    /// damaged and to import again.
    pub fn decode(bytes: &[u8]) -> Result<GeoDb> {
        let mut r = Reader { bytes, pos: 0 };
        let format = r.u8()?;
        if format != FORMAT {
            return Err(damaged(format!(
                "format {format} is unknown to this build, which reads format {FORMAT}"
            )));
        }
        let loaded = r.u64()?;
        let source_len = r.u32()? as usize;
        let source = std::str::from_utf8(r.take(source_len, "the source name")?)
            .map_err(|_| damaged("the source name is not UTF-8".to_string()))?
            .to_string();
        let n4 = r.u32()? as usize;
        let n6 = r.u32()? as usize;
        // Check the total size before allocating anything, so garbage
        // counts cannot ask for gigabytes.
        let need = n4
            .checked_mul(Table::<u32>::RANGE_BYTES)
            .and_then(|a| {
                n6.checked_mul(Table::<u128>::RANGE_BYTES)
                    .and_then(|b| a.checked_add(b))
            })
            .ok_or_else(|| damaged("its range counts are impossible".to_string()))?;
        let rest = bytes.len() - r.pos;
        if need != rest {
            return Err(damaged(format!(
                "{n4} IPv4 and {n6} IPv6 ranges need {need} bytes, but {rest} follow"
            )));
        }
        let v4 = Table::decode(&mut r, n4, "IPv4")?;
        let v6 = Table::decode(&mut r, n6, "IPv6")?;
        Ok(GeoDb {
            source,
            loaded,
            v4,
            v6,
        })
    }
}

/// The error for a stored table that cannot be read.
fn damaged(detail: String) -> Error {
    Error::invalid(
        "GeoIP table",
        format!("the stored GeoIP table is damaged ({detail}); run `bouncer geoip import` again"),
    )
}

/// A cursor over the stored form.
struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize, what: &str) -> Result<&'a [u8]> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|&end| end <= self.bytes.len())
            .ok_or_else(|| {
                damaged(format!(
                    "it ends at byte {} inside {what}",
                    self.bytes.len()
                ))
            })?;
        let slice = &self.bytes[self.pos..end];
        self.pos = end;
        Ok(slice)
    }

    fn array<const N: usize>(&mut self, what: &str) -> Result<[u8; N]> {
        let mut a = [0u8; N];
        a.copy_from_slice(self.take(N, what)?);
        Ok(a)
    }

    fn u8(&mut self) -> Result<u8> {
        Ok(self.array::<1>("the format byte")?[0])
    }

    fn u32(&mut self) -> Result<u32> {
        Ok(u32::from_le_bytes(self.array("the header")?))
    }

    fn u64(&mut self) -> Result<u64> {
        Ok(u64::from_le_bytes(self.array("the header")?))
    }
}

/// An address as an integer: `u32` for IPv4, `u128` for IPv6.
trait Addr: Copy + Ord + Default + fmt::Debug {
    /// Bytes of one address in the stored form.
    const BYTES: usize;
    /// The next address, if any.
    fn succ(self) -> Option<Self>;
    /// Appends the little-endian bytes.
    fn put(self, out: &mut Vec<u8>);
    /// Reads `Self::BYTES` little-endian bytes.
    fn get(bytes: &[u8]) -> Self;
    /// The bucket of [`Table::index`]: 16 bits of the address (for IPv4
    /// the top 16).
    fn bucket(self) -> usize;
}

impl Addr for u32 {
    const BYTES: usize = 4;
    fn succ(self) -> Option<u32> {
        self.checked_add(1)
    }
    fn put(self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.to_le_bytes());
    }
    fn get(bytes: &[u8]) -> u32 {
        let mut a = [0u8; 4];
        a.copy_from_slice(bytes);
        u32::from_le_bytes(a)
    }
    #[inline]
    fn bucket(self) -> usize {
        (self >> 16) as usize
    }
}

impl Addr for u128 {
    const BYTES: usize = 16;
    fn succ(self) -> Option<u128> {
        self.checked_add(1)
    }
    fn put(self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.to_le_bytes());
    }
    fn get(bytes: &[u8]) -> u128 {
        let mut a = [0u8; 16];
        a.copy_from_slice(bytes);
        u128::from_le_bytes(a)
    }
    /// Nearly all IPv6 ranges lie in 2000::/3 (global unicast): the bits
    /// after those 3 make the bucket there; everything below is bucket 0,
    /// everything above the last one. Never decreasing, as the index needs.
    #[inline]
    fn bucket(self) -> usize {
        const GLOBAL: u128 = 0x2000 << 112;
        if self < GLOBAL {
            0
        } else if self >= 2 * GLOBAL {
            BUCKETS - 1
        } else {
            ((self >> 109) & 0xffff) as usize
        }
    }
}

/// Sorted, non-overlapping inclusive ranges of one address family.
#[derive(Clone, Default, PartialEq, Eq)]
struct Table<T> {
    starts: Box<[T]>,
    ends: Box<[T]>,
    countries: Box<[Country]>,
    /// For big tables, `BUCKETS + 1` entries: `index[h]` is the first range
    /// whose start's [`Addr::bucket`] is `h` or more, so a lookup searches only
    /// the few ranges of its bucket (and the one before). Derived from
    /// `starts`, never stored. Empty for small tables.
    index: Box<[u32]>,
}

/// Buckets of [`Table::index`]: one for each value of 16 bits of an
/// address.
const BUCKETS: usize = 1 << 16;

/// Tables with fewer ranges do without an index (it takes 256 KiB).
const INDEX_MIN: usize = 4096;

impl<T: Addr> Table<T> {
    /// Bytes of one range in the stored form (and in memory).
    const RANGE_BYTES: usize = 2 * T::BYTES + 2;

    fn len(&self) -> usize {
        self.starts.len()
    }

    /// A table of sorted, non-overlapping ranges, with its index.
    fn new(starts: Box<[T]>, ends: Box<[T]>, countries: Box<[Country]>) -> Table<T> {
        let index = if starts.len() < INDEX_MIN {
            Box::default()
        } else {
            let mut index = Vec::with_capacity(BUCKETS + 1);
            let mut i = 0;
            for bucket in 0..=BUCKETS {
                while starts.get(i).is_some_and(|s| s.bucket() < bucket) {
                    i += 1;
                }
                // Fewer than 2^32 ranges: counts are stored as u32.
                index.push(i as u32);
            }
            index.into_boxed_slice()
        };
        Table {
            starts,
            ends,
            countries,
            index,
        }
    }

    #[inline]
    fn lookup(&self, ip: T) -> Option<Country> {
        // The ranges that can hold `ip`: those starting in its bucket, and
        // the one before them. Without an index, all.
        let bucket = ip.bucket();
        let (lo, hi) = match (self.index.get(bucket), self.index.get(bucket + 1)) {
            (Some(&lo), Some(&hi)) => (lo as usize, hi as usize),
            _ => (0, self.starts.len()),
        };
        let starts = self.starts.get(lo..hi)?;
        // The last range starting at or before `ip`, if it reaches `ip`.
        let i = (lo + starts.partition_point(|&s| s <= ip)).checked_sub(1)?;
        if ip <= *self.ends.get(i)? {
            self.countries.get(i).copied()
        } else {
            None
        }
    }

    fn iter(&self) -> impl Iterator<Item = (T, T, Country)> + '_ {
        self.starts
            .iter()
            .zip(self.ends.iter())
            .zip(self.countries.iter())
            .map(|((&s, &e), &c)| (s, e, c))
    }

    fn build(ranges: Vec<(T, T, Country)>, ipv6: bool, dropped: &mut Vec<Dropped>) -> Table<T> {
        let n = ranges.len();
        // Real files come sorted; sort an index only when they are not.
        let order: Option<Vec<usize>> = if ranges.is_sorted_by_key(|r| r.0) {
            None
        } else {
            let mut order: Vec<usize> = (0..n).collect();
            order.sort_unstable_by_key(|&i| (ranges[i].0, i));
            Some(order)
        };
        let mut starts: Vec<T> = Vec::with_capacity(n);
        let mut ends: Vec<T> = Vec::with_capacity(n);
        let mut countries: Vec<Country> = Vec::with_capacity(n);
        // Input index of the kept range that reaches furthest: the only
        // one a later-starting range can overlap.
        let mut last_kept = 0;
        let mut reject = |index, why| dropped.push(Dropped { ipv6, index, why });
        for k in 0..n {
            let i = order.as_ref().map_or(k, |o| o[k]);
            let (start, end, country) = ranges[i];
            if start > end {
                reject(i, DropReason::Inverted);
                continue;
            }
            if !country.0.iter().all(u8::is_ascii_graphic) {
                reject(i, DropReason::NotACountry);
                continue;
            }
            if let (Some(last_end), Some(last_country)) = (ends.last_mut(), countries.last()) {
                if start <= *last_end {
                    reject(i, DropReason::Overlaps(last_kept));
                    continue;
                }
                if last_end.succ() == Some(start) && *last_country == country {
                    *last_end = end;
                    last_kept = i;
                    continue;
                }
            }
            starts.push(start);
            ends.push(end);
            countries.push(country);
            last_kept = i;
        }
        Table::new(
            starts.into_boxed_slice(),
            ends.into_boxed_slice(),
            countries.into_boxed_slice(),
        )
    }

    fn encode(&self, out: &mut Vec<u8>) {
        for &s in self.starts.iter() {
            s.put(out);
        }
        for &e in self.ends.iter() {
            e.put(out);
        }
        for c in self.countries.iter() {
            out.extend_from_slice(&c.0);
        }
    }

    /// Reads `n` ranges and checks that lookups will be right: each range
    /// in order, after the one before, with a printable country.
    fn decode(r: &mut Reader<'_>, n: usize, family: &str) -> Result<Table<T>> {
        let addrs = |r: &mut Reader<'_>, what: &str| -> Result<Box<[T]>> {
            Ok(r.take(n * T::BYTES, what)?
                .chunks_exact(T::BYTES)
                .map(T::get)
                .collect())
        };
        let starts = addrs(r, "the range starts")?;
        let ends = addrs(r, "the range ends")?;
        let countries: Box<[Country]> = r
            .take(n * 2, "the countries")?
            .chunks_exact(2)
            .map(|c| Country([c[0], c[1]]))
            .collect();
        for i in 0..n {
            if starts[i] > ends[i] {
                return Err(damaged(format!("{family} range {i} ends before it starts")));
            }
            if i > 0 && starts[i] <= ends[i - 1] {
                return Err(damaged(format!(
                    "{family} range {i} does not come after range {}",
                    i - 1
                )));
            }
            if !countries[i].0.iter().all(u8::is_ascii_graphic) {
                return Err(damaged(format!("{family} range {i} has no country code")));
            }
        }
        Ok(Table::new(starts, ends, countries))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::net::{Ipv4Addr, Ipv6Addr};

    fn c(s: &str) -> Country {
        Country::parse(s).expect("a country code")
    }

    fn v4(s: &str) -> u32 {
        u32::from(s.parse::<Ipv4Addr>().expect("an IPv4 address"))
    }

    fn v6(s: &str) -> u128 {
        u128::from(s.parse::<Ipv6Addr>().expect("an IPv6 address"))
    }

    /// The country of `ip` as text, `-` for none.
    fn at(db: &GeoDb, ip: &str) -> String {
        db.lookup(ip.parse().expect("an IP address"))
            .map_or("-".to_string(), |c| c.to_string())
    }

    fn sample() -> GeoDb {
        let (db, dropped) = GeoDb::from_ranges(
            vec![
                (v4("1.0.0.0"), v4("1.0.0.255"), c("AU")),
                (v4("1.0.1.0"), v4("1.0.3.255"), c("CN")),
                (v4("1.0.8.0"), v4("1.0.15.255"), c("CN")),
                (v4("255.255.255.0"), v4("255.255.255.255"), c("US")),
                (v4("0.0.0.0"), v4("0.0.0.0"), c("DE")),
            ],
            vec![
                (
                    v6("2001:200::"),
                    v6("2001:200:ffff:ffff:ffff:ffff:ffff:ffff"),
                    c("JP"),
                ),
                (v6("2a00::"), v6("2a00::ffff"), c("FR")),
            ],
        );
        assert!(dropped.is_empty(), "{dropped:?}");
        db
    }

    #[test]
    fn country_codes_parse_in_any_case_and_print_upper_case() {
        assert_eq!(Country::parse("de"), Some(Country(*b"DE")));
        assert_eq!(
            Country::parse("Us").map(|c| c.to_string()),
            Some("US".into())
        );
        for bad in ["", "D", "DEU", "D1", "--", "é", "ÄB", " D"] {
            assert_eq!(Country::parse(bad), None, "{bad:?}");
        }
        assert_eq!(Country(*b"\xff\xfe").as_str(), "--");
    }

    #[test]
    fn lookups_at_range_boundaries() {
        let db = sample();
        assert_eq!(db.len(), (5, 2));
        assert_eq!(at(&db, "0.0.0.0"), "DE");
        assert_eq!(at(&db, "0.0.0.1"), "-");
        assert_eq!(at(&db, "0.255.255.255"), "-");
        assert_eq!(at(&db, "1.0.0.0"), "AU");
        assert_eq!(at(&db, "1.0.0.128"), "AU");
        assert_eq!(at(&db, "1.0.0.255"), "AU");
        assert_eq!(at(&db, "1.0.1.0"), "CN");
        assert_eq!(at(&db, "1.0.3.255"), "CN");
        assert_eq!(at(&db, "1.0.4.0"), "-");
        assert_eq!(at(&db, "1.0.7.255"), "-");
        assert_eq!(at(&db, "1.0.8.0"), "CN");
        assert_eq!(at(&db, "1.0.15.255"), "CN");
        assert_eq!(at(&db, "1.0.16.0"), "-");
        assert_eq!(at(&db, "255.255.254.255"), "-");
        assert_eq!(at(&db, "255.255.255.0"), "US");
        assert_eq!(at(&db, "255.255.255.255"), "US");
    }

    #[test]
    fn ipv6_and_ipv4_mapped_lookups() {
        let db = sample();
        assert_eq!(at(&db, "2001:1ff:ffff:ffff:ffff:ffff:ffff:ffff"), "-");
        assert_eq!(at(&db, "2001:200::"), "JP");
        assert_eq!(at(&db, "2001:200:1234::1"), "JP");
        assert_eq!(at(&db, "2001:200:ffff:ffff:ffff:ffff:ffff:ffff"), "JP");
        assert_eq!(at(&db, "2001:201::"), "-");
        assert_eq!(at(&db, "2a00::ffff"), "FR");
        assert_eq!(at(&db, "2a00::1:0"), "-");
        assert_eq!(at(&db, "::"), "-");
        assert_eq!(at(&db, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"), "-");
        // IPv4-mapped addresses are IPv4 addresses.
        assert_eq!(at(&db, "::ffff:1.0.0.7"), "AU");
        assert_eq!(at(&db, "::ffff:1.0.4.0"), "-");
        assert_eq!(at(&db, "::ffff:255.255.255.255"), "US");
        // IPv4-compatible (deprecated) addresses are not.
        assert_eq!(at(&db, "::1.0.0.7"), "-");
        assert_eq!(GeoDb::default().lookup("1.0.0.7".parse().unwrap()), None);
        assert!(GeoDb::default().is_empty());
    }

    #[test]
    fn touching_ranges_of_one_country_are_merged() {
        let (db, dropped) = GeoDb::from_ranges(
            vec![
                (10, 19, c("AU")),
                (20, 29, c("AU")),
                (30, 39, c("CN")),
                (41, 50, c("CN")),
                (51, 60, c("CN")),
                (u32::MAX - 1, u32::MAX, c("CN")),
            ],
            vec![(0, 5, c("JP")), (6, u128::MAX, c("JP"))],
        );
        assert!(dropped.is_empty());
        assert_eq!(
            db.v4_ranges().collect::<Vec<_>>(),
            vec![
                (10, 29, c("AU")),
                (30, 39, c("CN")),
                (41, 60, c("CN")),
                (u32::MAX - 1, u32::MAX, c("CN")),
            ]
        );
        assert_eq!(
            db.v6_ranges().collect::<Vec<_>>(),
            vec![(0, u128::MAX, c("JP"))]
        );
    }

    #[test]
    fn unsorted_input_is_sorted_and_overlaps_are_reported() {
        let (db, dropped) = GeoDb::from_ranges(
            vec![
                (100, 199, c("AU")),          // 0: kept
                (0, 9, c("DE")),              // 1: kept
                (150, 300, c("CN")),          // 2: overlaps 0
                (5, 5, c("FR")),              // 3: overlaps 1
                (200, 210, c("US")),          // 4: kept
                (20, 10, c("US")),            // 5: inverted
                (100, 100, c("JP")),          // 6: same start as 0, listed later
                (300, 400, Country(*b"a\0")), // 7: not a country
            ],
            vec![(10, 20, c("JP")), (20, 30, c("JP"))],
        );
        assert_eq!(
            db.v4_ranges().collect::<Vec<_>>(),
            vec![(0, 9, c("DE")), (100, 199, c("AU")), (200, 210, c("US"))]
        );
        let mut dropped = dropped;
        dropped.sort_by_key(|d| (d.ipv6, d.index));
        let d = |ipv6, index, why| Dropped { ipv6, index, why };
        assert_eq!(
            dropped,
            vec![
                d(false, 2, DropReason::Overlaps(0)),
                d(false, 3, DropReason::Overlaps(1)),
                d(false, 5, DropReason::Inverted),
                d(false, 6, DropReason::Overlaps(0)),
                d(false, 7, DropReason::NotACountry),
                d(true, 1, DropReason::Overlaps(0)),
            ]
        );
    }

    #[test]
    fn overlap_names_the_range_that_reaches_furthest() {
        // 0 and 1 merge; 2 overlaps the part that came from 1.
        let (_, dropped) = GeoDb::from_ranges(
            vec![(0, 9, c("DE")), (10, 19, c("DE")), (15, 30, c("FR"))],
            vec![],
        );
        assert_eq!(
            dropped,
            vec![Dropped {
                ipv6: false,
                index: 2,
                why: DropReason::Overlaps(1)
            }]
        );
    }

    #[test]
    fn encode_decode_round_trip() {
        let mut db = sample();
        db.source = "dbip-country-lite-2024-01.csv, ü".into();
        db.loaded = 1_700_000_000;
        let bytes = db.encode();
        assert_eq!(bytes[0], FORMAT);
        assert_eq!(
            bytes.len(),
            1 + 8 + 4 + db.source.len() + 8 + 5 * 10 + 2 * 34
        );
        let back = GeoDb::decode(&bytes).expect("decodes");
        assert_eq!(back, db);
        assert_eq!(at(&back, "1.0.8.9"), "CN");
        assert_eq!(
            GeoDb::decode(&GeoDb::default().encode()).expect("decodes"),
            GeoDb::default()
        );
    }

    #[test]
    fn damaged_tables_are_refused_with_a_reason() {
        let mut db = sample();
        db.source = "x".into();
        let good = db.encode();
        let msg = |bytes: &[u8]| GeoDb::decode(bytes).expect_err("refused").to_string();

        let m = msg(&[]);
        assert!(m.contains("stored GeoIP table is damaged"), "{m}");
        assert!(m.contains("bouncer geoip import"), "{m}");
        assert!(msg(&[9]).contains("format 9"));
        assert!(msg(&good[..good.len() - 1]).contains("follow"));
        let mut longer = good.clone();
        longer.push(0);
        assert!(msg(&longer).contains("follow"));

        // Offsets of the IPv4 arrays: header is 1 + 8 + 4 + 1 + 8.
        let h = 1 + 8 + 4 + 1 + 8;
        // Swap the first two IPv4 starts: no longer in order.
        let mut unsorted = good.clone();
        let (a, b) = (h, h + 4);
        for k in 0..4 {
            unsorted.swap(a + k, b + k);
        }
        let m = msg(&unsorted);
        assert!(m.contains("IPv4 range"), "{m}");
        // Make the first range end after the second starts.
        let mut overlapping = good.clone();
        let end0 = h + 5 * 4;
        overlapping[end0..end0 + 4].copy_from_slice(&v4("1.0.1.0").to_le_bytes());
        assert!(msg(&overlapping).contains("does not come after"));
        // A country that is not text.
        let mut country = good.clone();
        country[h + 5 * 8] = 0;
        assert!(msg(&country).contains("no country code"));
        // A source name that is not UTF-8.
        let mut source = good;
        source[1 + 8 + 4] = 0xff;
        assert!(msg(&source).contains("not UTF-8"));
        // Counts that would need more than all memory.
        let mut huge = vec![FORMAT];
        huge.extend_from_slice(&0u64.to_le_bytes());
        huge.extend_from_slice(&0u32.to_le_bytes());
        huge.extend_from_slice(&u32::MAX.to_le_bytes());
        huge.extend_from_slice(&u32::MAX.to_le_bytes());
        assert!(GeoDb::decode(&huge).is_err());
    }

    #[test]
    fn big_tables_find_the_same_through_their_index() {
        let mut rng = fastrand::Rng::with_seed(7);
        // Clustered cut points, so that some buckets hold many ranges, some
        // one, most none; and the extremes of the address space.
        let mut p4: Vec<u32> = (0..3 * INDEX_MIN)
            .map(|_| (rng.u32(..) & 0xff03_ffff) | u32::from(rng.bool()))
            .collect();
        p4.extend([0, 1, 0xffff, 0x1_0000, u32::MAX - 1, u32::MAX]);
        let mut p6: Vec<u128> = (0..3 * INDEX_MIN)
            .map(|_| (0x2001u128 << 112) | (rng.u128(..) >> (16 + rng.u32(0..100))))
            .collect();
        p6.extend([0, 1, u128::MAX - 1, u128::MAX]);
        for edge in [0x2000u128 << 112, 0x4000 << 112, 0x2002 << 112] {
            p6.extend([edge - 2, edge - 1, edge, edge + 1]);
        }
        p6.extend((0..INDEX_MIN).map(|_| (0x2000u128 << 112) | (rng.u128(..) >> 3)));
        let ks = [0, 1, 2, 3, 4];
        let (r4, r6) = (ranges(p4, &ks), ranges(p6, &ks));
        let (db, _) = GeoDb::from_ranges(r4.clone(), r6.clone());
        assert_eq!(db.v4.index.len(), BUCKETS + 1);
        assert_eq!(db.v6.index.len(), BUCKETS + 1);
        let plain4 = Table {
            index: Box::default(),
            ..db.v4.clone()
        };
        let plain6 = Table {
            index: Box::default(),
            ..db.v6.clone()
        };
        let mut probes4: Vec<u32> = (0..20_000).map(|_| rng.u32(..)).collect();
        for &(s, e, _) in &r4 {
            probes4.extend([s, e, s.wrapping_sub(1), e.wrapping_add(1)]);
        }
        for ip in probes4 {
            assert_eq!(db.v4.lookup(ip), plain4.lookup(ip), "{ip:#x}");
        }
        let mut probes6: Vec<u128> = (0..20_000).map(|_| rng.u128(..)).collect();
        for &(s, e, _) in &r6 {
            probes6.extend([s, e, s.wrapping_sub(1), e.wrapping_add(1)]);
        }
        for ip in probes6 {
            assert_eq!(db.v6.lookup(ip), plain6.lookup(ip), "{ip:#x}");
        }
        // And the plain search agrees with a linear scan on a sample.
        for &(s, e, c) in r4.iter().step_by(97) {
            assert_eq!(plain4.lookup(s), Some(c));
            assert_eq!(plain4.lookup(e), Some(c));
        }
        let back = GeoDb::decode(&db.encode()).expect("round trip");
        assert_eq!(back, db);
    }

    /// Random non-overlapping ranges: sorted distinct cut points, paired.
    fn ranges<T: Copy + Ord + std::fmt::Debug>(
        points: Vec<T>,
        countries: &[u8],
    ) -> Vec<(T, T, Country)> {
        let mut points = points;
        points.sort_unstable();
        points.dedup();
        points
            .chunks_exact(2)
            .zip(countries.iter().cycle())
            .map(|(p, &k)| (p[0], p[1], Country([b'A' + k % 3, b'A'])))
            .collect()
    }

    fn naive<T: Copy + Ord>(ranges: &[(T, T, Country)], ip: T) -> Option<Country> {
        ranges
            .iter()
            .find(|&&(s, e, _)| s <= ip && ip <= e)
            .map(|r| r.2)
    }

    proptest! {
        #[test]
        fn lookups_match_a_linear_scan_after_a_round_trip(
            p4 in proptest::collection::vec(any::<u32>(), 0..200),
            p6 in proptest::collection::vec(any::<u128>(), 0..100),
            ks in proptest::collection::vec(any::<u8>(), 1..20),
            probes4 in proptest::collection::vec(any::<u32>(), 50),
            probes6 in proptest::collection::vec(any::<u128>(), 50),
        ) {
            let r4 = ranges(p4, &ks);
            let r6 = ranges(p6, &ks);
            let mut shuffled = r4.clone();
            shuffled.reverse();
            let (db, dropped) = GeoDb::from_ranges(shuffled, r6.clone());
            prop_assert!(dropped.is_empty());
            let db = GeoDb::decode(&db.encode()).expect("round trip");
            // Probe the boundaries too: each start and end, and one either side.
            let mut ips4 = probes4;
            for &(s, e, _) in &r4 {
                ips4.extend([s, e, s.wrapping_sub(1), e.wrapping_add(1)]);
            }
            for ip in ips4 {
                prop_assert_eq!(db.lookup(IpAddr::from(Ipv4Addr::from(ip))), naive(&r4, ip));
            }
            let mut ips6 = probes6;
            for &(s, e, _) in &r6 {
                ips6.extend([s, e, s.wrapping_sub(1), e.wrapping_add(1)]);
            }
            for ip in ips6 {
                let addr = Ipv6Addr::from(ip);
                if addr.to_ipv4_mapped().is_some() {
                    continue;
                }
                prop_assert_eq!(db.lookup(IpAddr::from(addr)), naive(&r6, ip));
            }
        }

        #[test]
        fn decode_never_panics_on_garbage(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            let _ = GeoDb::decode(&bytes);
            let mut framed = bytes.clone();
            framed.insert(0, FORMAT);
            let _ = GeoDb::decode(&framed);
        }

        #[test]
        fn decode_never_panics_on_truncated_or_flipped_tables(
            cut in 0usize..400,
            flip in 0usize..400,
            bit in 0u8..8,
        ) {
            let mut db = sample();
            db.source = "source".into();
            let good = db.encode();
            let cut = cut.min(good.len());
            prop_assert!(cut == good.len() || GeoDb::decode(&good[..cut]).is_err());
            let mut flipped = good.clone();
            if flip < flipped.len() {
                flipped[flip] ^= 1 << bit;
            }
            // Either refused, or still a valid table whose lookups agree
            // with its own ranges.
            if let Ok(back) = GeoDb::decode(&flipped) {
                let r4: Vec<_> = back.v4_ranges().collect();
                for &(s, e, _) in &r4 {
                    for ip in [s, e, e.wrapping_add(1)] {
                        prop_assert_eq!(back.lookup(IpAddr::from(Ipv4Addr::from(ip))), naive(&r4, ip));
                    }
                }
            }
        }
    }
}
