//! The ASN table (SPEC §13): which autonomous system announces an address,
//! so a mirror can serve "its own network" (`AS64500`) first. Imported
//! like GeoIP, from MaxMind GeoLite2-ASN (the CSV blocks files or the
//! `.mmdb` file) or plain `start,end,asn` lines, and stored in the
//! database. The redirect path never searches it: the index keeps only
//! the ranges of AS numbers some mirror claims.

use std::collections::HashSet;
use std::net::IpAddr;

use super::import::{Range, Source, data_lines, network, prefix_range, range, split, split_mapped};
use crate::error::{Error, Result};

/// Inclusive IPv4 ranges and their AS numbers.
pub type V4Ranges = Vec<(u32, u32, u32)>;
/// Inclusive IPv6 ranges and their AS numbers.
pub type V6Ranges = Vec<(u128, u128, u32)>;

/// Address ranges → AS number, IPv4 and IPv6 apart, each sorted by start
/// and without overlaps.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct AsnDb {
    /// Where the ranges came from, for status output.
    pub source: String,
    /// When they were imported (Unix seconds).
    pub loaded: u64,
    v4: V4Ranges,
    v6: V6Ranges,
}

impl std::fmt::Debug for AsnDb {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AsnDb")
            .field("source", &self.source)
            .field("v4_ranges", &self.v4.len())
            .field("v6_ranges", &self.v6.len())
            .finish()
    }
}

/// Sorts `ranges` by start and drops those that overlap a kept one;
/// returns how many were dropped.
fn tidy<T: Ord + Copy>(ranges: &mut Vec<(T, T, u32)>) -> usize {
    ranges.sort_unstable_by_key(|r| (r.0, r.1));
    let before = ranges.len();
    let mut last_end: Option<T> = None;
    ranges.retain(|&(s, e, _)| {
        if s > e || last_end.is_some_and(|end| s <= end) {
            return false;
        }
        last_end = Some(e);
        true
    });
    before - ranges.len()
}

fn find<T: Ord + Copy>(ranges: &[(T, T, u32)], ip: T) -> Option<u32> {
    let i = ranges.partition_point(|r| r.0 <= ip).checked_sub(1)?;
    let (_, end, asn) = ranges[i];
    (ip <= end).then_some(asn)
}

impl AsnDb {
    /// From inclusive `(start, end, asn)` ranges in any order; overlapping
    /// ranges after the first are dropped and counted.
    pub fn from_ranges(mut v4: V4Ranges, mut v6: V6Ranges) -> (AsnDb, usize) {
        let dropped = tidy(&mut v4) + tidy(&mut v6);
        (
            AsnDb {
                source: String::new(),
                loaded: 0,
                v4,
                v6,
            },
            dropped,
        )
    }

    /// The AS number announcing `ip` (IPv4-mapped addresses as IPv4).
    pub fn lookup(&self, ip: IpAddr) -> Option<u32> {
        match crate::client::unmap(ip) {
            IpAddr::V4(a) => find(&self.v4, u32::from(a)),
            IpAddr::V6(a) => find(&self.v6, u128::from(a)),
        }
    }

    /// Number of IPv4 and IPv6 ranges.
    pub fn len(&self) -> (usize, usize) {
        (self.v4.len(), self.v6.len())
    }

    /// Whether it has no ranges.
    pub fn is_empty(&self) -> bool {
        self.v4.is_empty() && self.v6.is_empty()
    }

    /// The ranges of the AS numbers in `asns`, IPv4 and IPv6, in order.
    pub fn ranges_of(&self, asns: &HashSet<u32>) -> (V4Ranges, V6Ranges) {
        if asns.is_empty() {
            return Default::default();
        }
        (
            self.v4
                .iter()
                .copied()
                .filter(|r| asns.contains(&r.2))
                .collect(),
            self.v6
                .iter()
                .copied()
                .filter(|r| asns.contains(&r.2))
                .collect(),
        )
    }

    /// The stored form: a format byte, `loaded`, `source`, the two range
    /// counts, then the ranges (start, end, AS number), little-endian.
    pub fn encode(&self) -> Vec<u8> {
        let mut out =
            Vec::with_capacity(32 + self.source.len() + self.v4.len() * 12 + self.v6.len() * 36);
        out.push(FORMAT);
        out.extend_from_slice(&self.loaded.to_le_bytes());
        out.extend_from_slice(&(self.source.len() as u32).to_le_bytes());
        out.extend_from_slice(self.source.as_bytes());
        out.extend_from_slice(&(self.v4.len() as u32).to_le_bytes());
        out.extend_from_slice(&(self.v6.len() as u32).to_le_bytes());
        for &(s, e, a) in &self.v4 {
            out.extend_from_slice(&s.to_le_bytes());
            out.extend_from_slice(&e.to_le_bytes());
            out.extend_from_slice(&a.to_le_bytes());
        }
        for &(s, e, a) in &self.v6 {
            out.extend_from_slice(&s.to_le_bytes());
            out.extend_from_slice(&e.to_le_bytes());
            out.extend_from_slice(&a.to_le_bytes());
        }
        out
    }

    /// Reads [`AsnDb::encode`]'s form back; an error says to import again.
    pub fn decode(bytes: &[u8]) -> Result<AsnDb> {
        let damaged = |why: &str| {
            Error::invalid(
                "ASN table",
                format!("the stored ASN table is damaged ({why}); run `bouncer asn import` again"),
            )
        };
        let mut at = 0usize;
        let mut take = |n: usize| -> Result<&[u8]> {
            let end = at
                .checked_add(n)
                .filter(|&e| e <= bytes.len())
                .ok_or_else(|| damaged("it is cut short"))?;
            let out = &bytes[at..end];
            at = end;
            Ok(out)
        };
        let u32_of = |b: &[u8]| u32::from_le_bytes(b.try_into().expect("4 bytes"));
        if take(1)?[0] != FORMAT {
            return Err(damaged("its format is unknown to this build"));
        }
        let loaded = u64::from_le_bytes(take(8)?.try_into().expect("8 bytes"));
        let n = u32_of(take(4)?) as usize;
        let source =
            String::from_utf8(take(n)?.to_vec()).map_err(|_| damaged("the source is not text"))?;
        let n4 = u32_of(take(4)?) as usize;
        let n6 = u32_of(take(4)?) as usize;
        let header = 1 + 8 + 4 + n + 8;
        let need = n4
            .checked_mul(12)
            .zip(n6.checked_mul(36))
            .and_then(|(a, b)| a.checked_add(b));
        if need != Some(bytes.len() - header) {
            return Err(damaged("its range counts do not match its size"));
        }
        let mut v4 = Vec::with_capacity(n4);
        for _ in 0..n4 {
            let b = take(12)?;
            v4.push((u32_of(&b[..4]), u32_of(&b[4..8]), u32_of(&b[8..])));
        }
        let mut v6 = Vec::with_capacity(n6);
        for _ in 0..n6 {
            let b = take(36)?;
            let u128_of = |b: &[u8]| u128::from_le_bytes(b.try_into().expect("16 bytes"));
            v6.push((u128_of(&b[..16]), u128_of(&b[16..32]), u32_of(&b[32..])));
        }
        let (mut db, dropped) = AsnDb::from_ranges(v4, v6);
        if dropped > 0 {
            return Err(damaged("its ranges overlap"));
        }
        db.source = source;
        db.loaded = loaded;
        Ok(db)
    }
}

/// The first byte of [`AsnDb::encode`]'s output.
const FORMAT: u8 = 1;

/// What an import produced.
#[derive(Debug)]
pub struct Imported {
    /// The table.
    pub db: AsnDb,
    /// Data lines read.
    pub lines: usize,
    /// Lines that could not be used: (file, line, why); all of them.
    pub problems: Vec<(String, usize, String)>,
    /// Ranges left out because they overlap one kept before.
    pub overlaps: usize,
}

/// An AS number as written: `64500` or `AS64500`.
fn asn(s: &str) -> Result<u32, String> {
    let n = s
        .strip_prefix("AS")
        .or_else(|| s.strip_prefix("as"))
        .unwrap_or(s);
    n.parse::<u32>()
        .ok()
        .filter(|&n| n > 0)
        .ok_or_else(|| format!("{} is not an AS number", crate::error::excerpt(s)))
}

/// Reads CSV files: MaxMind GeoLite2-ASN blocks (`network,
/// autonomous_system_number,…` with its header) or `start,end,asn` lines
/// (with or without a header; AS numbers with or without `AS`). A
/// `.mmdb` file (by its name) is read with [`read_mmdb`].
pub fn import(sources: &[Source]) -> Result<Imported> {
    if let [one] = sources
        && one.name.to_ascii_lowercase().ends_with(".mmdb")
    {
        let db = read_mmdb(&one.name, one.bytes.clone())?;
        return Ok(Imported {
            lines: 0,
            db,
            problems: Vec::new(),
            overlaps: 0,
        });
    }
    let mut v4 = Vec::new();
    let mut v6 = Vec::new();
    let mut problems = Vec::new();
    let mut lines = 0;
    let mut fields = Vec::new();
    for source in sources {
        let mut data = data_lines(&source.bytes).peekable();
        let first = data
            .peek()
            .map(|(_, l)| String::from_utf8_lossy(l).to_ascii_lowercase())
            .unwrap_or_default();
        let blocks = first.starts_with("network,");
        // A first line whose first two fields are no range is a header.
        let header = blocks || {
            let mut head = Vec::new();
            split(&first, &mut head).is_err() || head.len() < 2 || range(head[0], head[1]).is_err()
        };
        for (line, bytes) in data.skip(usize::from(header)) {
            lines += 1;
            let parsed = std::str::from_utf8(bytes)
                .map_err(|_| "the line is not UTF-8 text".to_string())
                .and_then(|text| {
                    split(text, &mut fields)?;
                    if blocks {
                        if fields.len() < 2 {
                            return Err("expected network,autonomous_system_number,…".into());
                        }
                        Ok((network(fields[0])?, asn(fields[1])?))
                    } else {
                        if fields.len() < 3 {
                            return Err(format!(
                                "expected start,end,asn; found {} fields",
                                fields.len()
                            ));
                        }
                        Ok((range(fields[0], fields[1])?, asn(fields[2])?))
                    }
                });
            match parsed {
                Ok((r, n)) => {
                    for part in split_mapped(r) {
                        match part {
                            Range::V4(s, e) => v4.push((s, e, n)),
                            Range::V6(s, e) => v6.push((s, e, n)),
                        }
                    }
                }
                Err(why) => problems.push((source.name.clone(), line, why)),
            }
        }
    }
    let (mut db, overlaps) = AsnDb::from_ranges(v4, v6);
    if db.is_empty() {
        let first = problems
            .iter()
            .take(3)
            .map(|(f, l, why)| format!("{f} line {l}: {why}"))
            .collect::<Vec<_>>()
            .join("; ");
        return Err(Error::invalid(
            "ASN table",
            format!(
                "no usable range in {} ({lines} data lines{}{first}): give GeoLite2-ASN-Blocks-IPv4.csv / -IPv6.csv, a GeoLite2-ASN .mmdb file, or start,end,asn lines",
                sources
                    .iter()
                    .map(|s| s.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
                if first.is_empty() { "" } else { "; " },
            ),
        ));
    }
    db.source = sources
        .iter()
        .map(|s| s.name.as_str())
        .collect::<Vec<_>>()
        .join(", ");
    db.loaded = crate::model::now();
    Ok(Imported {
        db,
        lines,
        problems,
        overlaps,
    })
}

/// Reads a MaxMind `.mmdb` ASN database named `shown` (every network's
/// `autonomous_system_number`).
fn read_mmdb(shown: &str, bytes: Vec<u8>) -> Result<AsnDb> {
    use maxminddb::{MaxMindDbError, Reader, WithinOptions, path};
    let reader = Reader::from_source(bytes).map_err(|e| {
        Error::invalid(
            "ASN table",
            format!("{shown} is not a MaxMind DB file ({e}): give a GeoLite2-ASN .mmdb file"),
        )
    })?;
    let damaged = |e: MaxMindDbError| {
        Error::invalid(
            "ASN table",
            format!("{shown} is damaged ({e}): download it again"),
        )
    };
    let mut v4 = Vec::new();
    let mut v6 = Vec::new();
    for item in reader.networks(WithinOptions::default()).map_err(damaged)? {
        let found = item.map_err(damaged)?;
        if found.offset().is_none() {
            continue;
        }
        // GeoLite2-ASN stores it as uint32; other writers pick the
        // smallest type, which the decoder does not widen.
        let at = path!["autonomous_system_number"];
        let n = found
            .decode_path::<u32>(&at)
            .or_else(|_| found.decode_path::<u16>(&at).map(|n| n.map(u32::from)))
            .or_else(|_| {
                found
                    .decode_path::<u64>(&at)
                    .map(|n| n.and_then(|n| u32::try_from(n).ok()))
            });
        let Ok(Some(n)) = n else {
            continue;
        };
        let net = found.network().map_err(damaged)?;
        for part in split_mapped(prefix_range(net.network(), u32::from(net.prefix()))) {
            match part {
                Range::V4(s, e) => v4.push((s, e, n)),
                Range::V6(s, e) => v6.push((s, e, n)),
            }
        }
    }
    let (mut db, _) = AsnDb::from_ranges(v4, v6);
    if db.is_empty() {
        return Err(Error::invalid(
            "ASN table",
            format!("{shown} has no autonomous_system_number data: give a GeoLite2-ASN .mmdb file"),
        ));
    }
    let meta = reader.metadata();
    let (y, m, d) = crate::model::civil(meta.build_epoch);
    db.source = format!(
        "{shown} ({}, built {y:04}-{m:02}-{d:02})",
        meta.database_type
    );
    db.loaded = crate::model::now();
    Ok(db)
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    fn source(name: &str, text: &str) -> Source {
        Source {
            name: name.into(),
            bytes: text.as_bytes().to_vec(),
        }
    }

    fn at(db: &AsnDb, ip: &str) -> Option<u32> {
        db.lookup(ip.parse().unwrap())
    }

    #[test]
    fn reads_maxmind_blocks_and_plain_ranges() {
        let blocks = source(
            "GeoLite2-ASN-Blocks-IPv4.csv",
            "network,autonomous_system_number,autonomous_system_organization\n1.0.0.0/24,13335,\"CLOUDFLARENET, Inc\"\n1.0.4.0/22,38803,Wirefreebroadband\nbogus,1,x\n",
        );
        let plain = source(
            "plain.csv",
            "2001:db8::,2001:db8::ffff,AS64500\n10.0.0.0,10.0.0.255,64501\n",
        );
        let got = import(&[blocks, plain]).unwrap();
        let db = &got.db;
        assert_eq!(at(db, "1.0.0.7"), Some(13335));
        assert_eq!(at(db, "1.0.7.255"), Some(38803));
        assert_eq!(at(db, "1.0.8.0"), None);
        assert_eq!(at(db, "2001:db8::10"), Some(64500));
        assert_eq!(at(db, "::ffff:10.0.0.9"), Some(64501));
        assert_eq!(got.lines, 5);
        assert_eq!(got.problems.len(), 1, "{:?}", got.problems);
        assert!(
            got.problems[0].2.contains("not a network"),
            "{:?}",
            got.problems
        );
        assert_eq!(db.len(), (3, 1));
        let back = AsnDb::decode(&db.encode()).unwrap();
        assert_eq!(&back, db);
        let wanted: HashSet<u32> = [13335, 64500].into();
        let (v4, v6) = db.ranges_of(&wanted);
        assert_eq!(v4, vec![(0x0100_0000, 0x0100_00ff, 13335)]);
        assert_eq!(v6.len(), 1);
    }

    #[test]
    fn garbage_is_refused_with_what_to_give() {
        let e = import(&[source("x.csv", "hello,world\nfoo,bar,baz\n")])
            .unwrap_err()
            .to_string();
        assert!(e.contains("no usable range in x.csv"), "{e}");
        assert!(e.contains("GeoLite2-ASN"), "{e}");
        let mut bytes = import(&[source("p.csv", "1.0.0.0,1.0.0.255,1\n")])
            .unwrap()
            .db
            .encode();
        bytes.pop();
        let e = AsnDb::decode(&bytes).unwrap_err().to_string();
        assert!(e.contains("bouncer asn import"), "{e}");
    }

    #[test]
    fn reads_the_mmdb_fixture() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/geoip/test-asn.mmdb");
        let read = |p: &Path| {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            import(&[Source {
                name,
                bytes: std::fs::read(p).unwrap(),
            }])
            .map(|i| i.db)
        };
        let db = read(&path).unwrap();
        assert_eq!(at(&db, "1.1.1.1"), Some(13335));
        assert_eq!(at(&db, "1.1.2.1"), None);
        assert!(
            db.source.starts_with("test-asn.mmdb (GeoLite2-ASN"),
            "{}",
            db.source
        );
        let country = path.with_file_name("test-country.mmdb");
        assert!(
            read(&country)
                .unwrap_err()
                .to_string()
                .contains("no autonomous_system_number")
        );
    }
}
