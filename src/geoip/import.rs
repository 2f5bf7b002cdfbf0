//! CSV imports: MaxMind GeoLite2-Country (blocks + locations files),
//! DB-IP lite, and plain `start,end,country`.
//!
//! Formats are told apart by their first line:
//! - MaxMind blocks (`GeoLite2-Country-Blocks-IPv4.csv`, `-IPv6.csv`): a
//!   header starting `network,geoname_id,registered_country_geoname_id`,
//!   networks in CIDR form; their countries come from a locations file
//!   (`GeoLite2-Country-Locations-en.csv`, header with `geoname_id` and
//!   `country_iso_code`) that must be in the same import. GeoLite2-City
//!   files have the same columns and work too.
//! - Ranges: `start,end,country` lines, with or without a header line
//!   (`start,end,country` or similar words). Addresses are IPv4 or IPv6
//!   text, or decimal integers as IP2Location LITE DB1 writes them
//!   (`"16777216","16777471","AU","Australia"`). DB-IP lite
//!   (`dbip-country-lite-YYYY-MM.csv`) is this format without a header;
//!   DB-IP city lite (continent before country) is recognised too.
//!
//! Countries `ZZ` (DB-IP), `-` (IP2Location) and `--` mean unknown: such
//! lines are skipped and counted, as are MaxMind blocks without a country.
//! Fields may be quoted (`"…"`, `""` inside). Blank lines and `#` comments
//! are skipped; a UTF-8 byte-order mark and CRLF line ends are fine.

use std::collections::HashMap;
use std::net::{Ipv4Addr, Ipv6Addr};

use super::{Country, DropReason, GeoDb};
use crate::error::{Error, Result, excerpt};

/// One input file: its name (for messages) and contents.
pub struct Source {
    /// The file's name as given.
    pub name: String,
    /// Its bytes.
    pub bytes: Vec<u8>,
}

/// A line that could not be used.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    /// The file's name.
    pub file: String,
    /// 1-based line number.
    pub line: usize,
    /// What was wrong.
    pub reason: String,
}

/// What an import produced.
pub struct Imported {
    /// The ranges.
    pub db: GeoDb,
    /// Data lines read (headers and blank lines not counted).
    pub lines: usize,
    /// Lines that could not be used (all of them; the caller shows a few).
    pub problems: Vec<Problem>,
    /// Data lines skipped because their country is unknown (`ZZ`, `-`, a
    /// MaxMind block or location without a country); not problems.
    pub unknown: usize,
}

/// How many problems the error for an import with nothing usable lists.
const FIRST_PROBLEMS: usize = 5;

/// Parses `sources` (formats detected from their contents) into one
/// database. Fails when no file is in a known format or nothing usable
/// is left.
pub fn import(sources: &[Source]) -> Result<Imported> {
    let formats = sources
        .iter()
        .map(detect)
        .collect::<Result<Vec<Format>>>()?;
    let locations_given = formats
        .iter()
        .any(|f| matches!(f, Format::Locations { .. }));
    if !locations_given
        && let Some((source, _)) = sources
            .iter()
            .zip(&formats)
            .find(|(_, f)| matches!(f, Format::Blocks { .. }))
    {
        return Err(Error::invalid(
            "GeoIP file",
            format!(
                "{} is a MaxMind blocks file, which needs its locations file (GeoLite2-Country-Locations-en.csv) in the same import: give both files",
                source.name
            ),
        ));
    }

    let mut acc = Acc::default();
    // Locations first: the blocks refer to them.
    let mut geonames: HashMap<u32, Option<Country>> = HashMap::new();
    for (file, (source, format)) in sources.iter().zip(&formats).enumerate() {
        if let Format::Locations {
            fields,
            geoname,
            country,
        } = *format
        {
            read_locations(
                source,
                file,
                fields,
                geoname,
                country,
                &mut geonames,
                &mut acc,
            );
        }
    }
    for (file, (source, format)) in sources.iter().zip(&formats).enumerate() {
        match *format {
            Format::Locations { .. } => {}
            Format::Blocks {
                fields,
                network,
                geoname,
                registered,
            } => read_blocks(
                source, file, fields, network, geoname, registered, &geonames, &mut acc,
            ),
            Format::Ranges {
                header,
                fields,
                country,
            } => read_ranges(source, file, header, fields, country, &mut acc),
        }
    }

    let Acc {
        v4,
        v6,
        origin4,
        origin6,
        mut problems,
        lines,
        unknown,
    } = acc;
    let (mut db, dropped) = GeoDb::from_ranges(v4, v6);
    for d in dropped {
        let origins = if d.ipv6 { &origin6 } else { &origin4 };
        let Some(&(file, line)) = origins.get(d.index) else {
            continue;
        };
        let reason = match d.why {
            DropReason::Overlaps(kept) => match origins.get(kept) {
                Some(&(kept_file, kept_line)) if kept_file == file => {
                    format!("overlaps line {kept_line}")
                }
                Some(&(kept_file, kept_line)) => format!(
                    "overlaps line {kept_line} of {}",
                    sources.get(kept_file as usize).map_or("", |s| &s.name)
                ),
                None => "overlaps another range".to_string(),
            },
            // The parsers below refuse these already.
            DropReason::Inverted => "its end is before its start".to_string(),
            DropReason::NotACountry => "it has no country code".to_string(),
        };
        problems.push((file as usize, line as usize, reason));
    }
    problems.sort_by_key(|p| (p.0, p.1));
    // A line split in parts (see `split_mapped`) is reported once.
    problems.dedup_by(|a, b| (a.0, a.1) == (b.0, b.1));
    let problems: Vec<Problem> = problems
        .into_iter()
        .map(|(file, line, reason)| Problem {
            file: sources.get(file).map_or(String::new(), |s| s.name.clone()),
            line,
            reason,
        })
        .collect();

    let names = sources
        .iter()
        .map(|s| s.name.as_str())
        .collect::<Vec<_>>()
        .join(", ");
    if db.is_empty() {
        return Err(nothing_usable(&names, lines, unknown, &problems));
    }
    db.source = names;
    db.loaded = crate::model::now();
    Ok(Imported {
        db,
        lines,
        problems,
        unknown,
    })
}

/// The error for an import that produced no range, saying why.
fn nothing_usable(names: &str, lines: usize, unknown: usize, problems: &[Problem]) -> Error {
    let why = if lines == 0 {
        "they have no data lines".to_string()
    } else if problems.is_empty() {
        format!("all {lines} data lines have an unknown country")
    } else {
        let first: Vec<String> = problems
            .iter()
            .take(FIRST_PROBLEMS)
            .map(|p| format!("{} line {}: {}", p.file, p.line, p.reason))
            .collect();
        format!(
            "of {lines} data lines, {unknown} have an unknown country and {} could not be used; first: {}",
            problems.len(),
            first.join("; ")
        )
    };
    Error::invalid(
        "GeoIP file",
        format!("no usable address range in {names}: {why}"),
    )
}

/// What the import gathers over all files.
#[derive(Default)]
struct Acc {
    v4: Vec<(u32, u32, Country)>,
    v6: Vec<(u128, u128, Country)>,
    /// (file index, line) of each range, for overlap messages.
    origin4: Vec<(u32, u32)>,
    origin6: Vec<(u32, u32)>,
    /// (file index, line, reason).
    problems: Vec<(usize, usize, String)>,
    lines: usize,
    unknown: usize,
}

impl Acc {
    fn problem(&mut self, file: usize, line: usize, reason: String) {
        self.problems.push((file, line, reason));
    }

    fn push(&mut self, file: usize, line: usize, range: Range, country: Country) {
        // Files and lines beyond u32 cannot be read into memory anyway.
        let origin = (file as u32, line as u32);
        for part in split_mapped(range) {
            match part {
                Range::V4(s, e) => {
                    self.v4.push((s, e, country));
                    self.origin4.push(origin);
                }
                Range::V6(s, e) => {
                    self.v6.push((s, e, country));
                    self.origin6.push(origin);
                }
            }
        }
    }
}

/// A file's format, with the columns that matter (0-based).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Format {
    /// MaxMind blocks: `fields` columns in the header.
    Blocks {
        fields: usize,
        network: usize,
        geoname: usize,
        registered: usize,
    },
    /// MaxMind locations.
    Locations {
        fields: usize,
        geoname: usize,
        country: usize,
    },
    /// `start,end,country…` lines, `fields` columns each.
    Ranges {
        header: bool,
        fields: usize,
        country: usize,
    },
}

/// Tells the format of `source` from its first data line.
fn detect(source: &Source) -> Result<Format> {
    let unknown = |what: String| {
        Error::invalid(
            "GeoIP file",
            format!(
                "{} is in no known format: {what}; give MaxMind GeoLite2-Country CSV files (blocks and locations), a DB-IP lite CSV, or start,end,country lines",
                source.name
            ),
        )
    };
    let Some((_, line)) = data_lines(&source.bytes).next() else {
        return Err(unknown("it has no data lines".to_string()));
    };
    let shown = || {
        format!(
            "its first line is {}",
            excerpt(&String::from_utf8_lossy(line))
        )
    };
    let Ok(text) = std::str::from_utf8(line) else {
        return Err(unknown(shown()));
    };
    let mut fields = Vec::new();
    if split(text, &mut fields).is_err() {
        return Err(unknown(shown()));
    }
    let names: Vec<String> = fields
        .iter()
        .map(|f| f.trim().to_ascii_lowercase())
        .collect();
    let column = |name: &str| names.iter().position(|n| n == name);
    if let (Some(network), Some(geoname), Some(registered)) = (
        column("network"),
        column("geoname_id"),
        column("registered_country_geoname_id"),
    ) {
        return Ok(Format::Blocks {
            fields: names.len(),
            network,
            geoname,
            registered,
        });
    }
    if let (Some(geoname), Some(country)) = (column("geoname_id"), column("country_iso_code")) {
        return Ok(Format::Locations {
            fields: names.len(),
            geoname,
            country,
        });
    }
    if names.len() >= 3 && is_range_header(&names) {
        return Ok(Format::Ranges {
            header: true,
            fields: names.len(),
            country: 2,
        });
    }
    if fields.len() >= 3 && address(fields[0]).is_some() && address(fields[1]).is_some() {
        // DB-IP city lite: start,end,continent,country,region,city,…
        let city = fields.len() >= 5
            && super::continents::CONTINENTS
                .iter()
                .any(|c| c.code == fields[2])
            && Country::parse(fields[3]).is_some();
        return Ok(Format::Ranges {
            header: false,
            fields: fields.len(),
            country: if city { 3 } else { 2 },
        });
    }
    Err(unknown(shown()))
}

/// Whether lower-cased `names` look like `start,end,country`.
fn is_range_header(names: &[String]) -> bool {
    let has = |name: &String, words: &[&str]| words.iter().any(|w| name.contains(w));
    has(&names[0], &["start", "from", "first", "begin", "low"])
        && has(&names[1], &["end", "to", "last", "stop", "high"])
        && has(&names[2], &["country", "cc", "code", "iso"])
}

/// Numbered lines of `bytes` that hold data: without a leading byte-order
/// mark, line ends (`\n` or `\r\n`), blank lines and `#` comments.
pub(super) fn data_lines(bytes: &[u8]) -> impl Iterator<Item = (usize, &[u8])> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    bytes
        .split(|&b| b == b'\n')
        .enumerate()
        .filter_map(|(i, line)| {
            let line = line.trim_ascii();
            (!line.is_empty() && line[0] != b'#').then_some((i + 1, line))
        })
}

/// Splits a CSV line into `out`. Quoted fields come without their quotes
/// (a `""` inside stays doubled: no field used here contains one).
pub(super) fn split<'a>(line: &'a str, out: &mut Vec<&'a str>) -> Result<(), String> {
    out.clear();
    let b = line.as_bytes();
    let blank = |c: u8| c == b' ' || c == b'\t';
    let mut i = 0;
    loop {
        while i < b.len() && blank(b[i]) {
            i += 1;
        }
        if b.get(i) == Some(&b'"') {
            let start = i + 1;
            let mut j = start;
            loop {
                match b[j..].iter().position(|&c| c == b'"') {
                    None => {
                        return Err(format!("field {} has no closing quote", out.len() + 1));
                    }
                    Some(p) if b.get(j + p + 1) == Some(&b'"') => j += p + 2,
                    Some(p) => {
                        j += p;
                        break;
                    }
                }
            }
            // `start` and `j` are next to ASCII quotes: char boundaries.
            out.push(&line[start..j]);
            i = j + 1;
            while i < b.len() && blank(b[i]) {
                i += 1;
            }
            if i == b.len() {
                return Ok(());
            }
            if b[i] != b',' {
                return Err(format!(
                    "text after the closing quote of field {}",
                    out.len()
                ));
            }
            i += 1;
        } else {
            let end = b[i..]
                .iter()
                .position(|&c| c == b',')
                .map_or(b.len(), |p| i + p);
            out.push(line[i..end].trim_end());
            if end == b.len() {
                return Ok(());
            }
            i = end + 1;
        }
    }
}

/// An address as written: IPv4 or IPv6 text, or a decimal integer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Address {
    V4(u32),
    V6(u128),
    Number(u128),
}

fn address(s: &str) -> Option<Address> {
    let b = s.as_bytes();
    if b.contains(&b':') {
        s.parse::<Ipv6Addr>()
            .ok()
            .map(|a| Address::V6(u128::from(a)))
    } else if b.contains(&b'.') {
        s.parse::<Ipv4Addr>()
            .ok()
            .map(|a| Address::V4(u32::from(a)))
    } else if !b.is_empty() && b.len() <= 39 && b.iter().all(u8::is_ascii_digit) {
        s.parse::<u128>().ok().map(Address::Number)
    } else {
        None
    }
}

/// An inclusive range of one family.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Range {
    V4(u32, u32),
    V6(u128, u128),
}

/// `::ffff:0:0/96`, where IPv4-mapped addresses live.
const MAPPED: u128 = 0xffff_0000_0000;
const MAPPED_END: u128 = 0xffff_ffff_ffff;

/// `range` as lookups see it: IPv4-mapped IPv6 addresses are looked up
/// as IPv4, so the part of an IPv6 range in `::ffff:0:0/96` is an IPv4
/// range, and what lies either side stays IPv6 (at most three parts).
pub(super) fn split_mapped(range: Range) -> impl Iterator<Item = Range> {
    let (below, mapped, above) = match range {
        Range::V4(..) => (None, Some(range), None),
        Range::V6(s, e) => (
            (s < MAPPED).then(|| Range::V6(s, e.min(MAPPED - 1))),
            (s <= MAPPED_END && e >= MAPPED).then(|| {
                Range::V4(
                    (s.max(MAPPED) - MAPPED) as u32,
                    (e.min(MAPPED_END) - MAPPED) as u32,
                )
            }),
            (e > MAPPED_END).then(|| Range::V6(s.max(MAPPED_END + 1), e)),
        ),
    };
    [below, mapped, above].into_iter().flatten()
}

/// The range from `start` to `end` (fields as written), or what is wrong.
pub(super) fn range(start: &str, end: &str) -> Result<Range, String> {
    let not_ip = |s: &str| format!("{} is not an IP address", excerpt(s));
    let a = address(start).ok_or_else(|| not_ip(start))?;
    let b = address(end).ok_or_else(|| not_ip(end))?;
    let r = match (a, b) {
        (Address::V4(a), Address::V4(b)) => Range::V4(a, b),
        // IPv4-mapped addresses become IPv4 in `Acc::push`.
        (Address::V6(a), Address::V6(b)) => Range::V6(a, b),
        (Address::Number(a), Address::Number(b)) => match (u32::try_from(a), u32::try_from(b)) {
            (Ok(a), Ok(b)) => Range::V4(a, b),
            _ => Range::V6(a, b),
        },
        (Address::Number(_), _) | (_, Address::Number(_)) => {
            return Err("mixes a decimal number and an IP address".to_string());
        }
        _ => return Err("mixes IPv4 and IPv6".to_string()),
    };
    let inverted = match r {
        Range::V4(a, b) => a > b,
        Range::V6(a, b) => a > b,
    };
    if inverted {
        return Err(format!("end {end} is before start {start}"));
    }
    Ok(r)
}

/// The range of the network `addr/prefix` (host bits of `addr` ignored;
/// `prefix` within the family's length).
pub(super) fn prefix_range(addr: std::net::IpAddr, prefix: u32) -> Range {
    match addr {
        std::net::IpAddr::V4(a) => {
            let host = u32::MAX.checked_shr(prefix).unwrap_or(0);
            let start = u32::from(a) & !host;
            Range::V4(start, start | host)
        }
        std::net::IpAddr::V6(a) => {
            let host = u128::MAX.checked_shr(prefix).unwrap_or(0);
            let start = u128::from(a) & !host;
            Range::V6(start, start | host)
        }
    }
}

/// The network `a.b.c.d/n` or `x::/n` as a range.
pub(super) fn network(s: &str) -> Result<Range, String> {
    let bad = || format!("{} is not a network (address/prefix length)", excerpt(s));
    let (addr, prefix) = s.split_once('/').ok_or_else(bad)?;
    let prefix: u32 = prefix.parse().map_err(|_| bad())?;
    let addr: std::net::IpAddr = addr.parse().map_err(|_| bad())?;
    if prefix > if addr.is_ipv4() { 32 } else { 128 } {
        return Err(bad());
    }
    Ok(prefix_range(addr, prefix))
}

/// The country in `s`: `Ok(None)` for the unknown markers.
fn country(s: &str) -> Result<Option<Country>, String> {
    match s {
        "ZZ" | "zz" | "-" | "--" => Ok(None),
        _ => Country::parse(s)
            .map(Some)
            .ok_or_else(|| format!("{} is not a two-letter country code", excerpt(s))),
    }
}

/// Each data line of `source` after the header (if `header`), as text
/// split into fields; lines that are not UTF-8 or not CSV are problems.
fn each_line<'a>(
    source: &'a Source,
    file: usize,
    header: bool,
    acc: &mut Acc,
    mut f: impl FnMut(&mut Acc, usize, &[&'a str]),
) {
    let mut fields: Vec<&'a str> = Vec::new();
    for (line, bytes) in data_lines(&source.bytes).skip(usize::from(header)) {
        acc.lines += 1;
        let Ok(text) = std::str::from_utf8(bytes) else {
            acc.problem(file, line, "the line is not UTF-8 text".to_string());
            continue;
        };
        if let Err(reason) = split(text, &mut fields) {
            acc.problem(file, line, reason);
            continue;
        }
        f(acc, line, &fields);
    }
}

fn expect_fields(fields: &[&str], n: usize) -> Result<(), String> {
    if fields.len() == n {
        Ok(())
    } else {
        Err(format!("expected {n} fields, found {}", fields.len()))
    }
}

fn read_ranges(
    source: &Source,
    file: usize,
    header: bool,
    n: usize,
    country_col: usize,
    acc: &mut Acc,
) {
    each_line(source, file, header, acc, |acc, line, fields| {
        let parsed = expect_fields(fields, n).and_then(|()| {
            let r = range(fields[0], fields[1])?;
            Ok((r, country(fields[country_col])?))
        });
        match parsed {
            Ok((r, Some(c))) => acc.push(file, line, r, c),
            Ok((_, None)) => acc.unknown += 1,
            Err(reason) => acc.problem(file, line, reason),
        }
    });
}

fn read_locations(
    source: &Source,
    file: usize,
    n: usize,
    geoname_col: usize,
    country_col: usize,
    geonames: &mut HashMap<u32, Option<Country>>,
    acc: &mut Acc,
) {
    each_line(source, file, true, acc, |acc, line, fields| {
        let parsed = expect_fields(fields, n).and_then(|()| {
            let id = geoname_id(fields[geoname_col])?;
            let code = fields[country_col];
            let c = if code.is_empty() {
                None
            } else {
                country(code)?
            };
            Ok((id, c))
        });
        match parsed {
            Ok((id, c)) => {
                if c.is_none() {
                    acc.unknown += 1;
                }
                geonames.insert(id, c);
            }
            Err(reason) => acc.problem(file, line, reason),
        }
    });
}

fn geoname_id(s: &str) -> Result<u32, String> {
    s.parse()
        .map_err(|_| format!("{} is not a geoname_id (a whole number)", excerpt(s)))
}

#[allow(clippy::too_many_arguments)]
fn read_blocks(
    source: &Source,
    file: usize,
    n: usize,
    network_col: usize,
    geoname_col: usize,
    registered_col: usize,
    geonames: &HashMap<u32, Option<Country>>,
    acc: &mut Acc,
) {
    each_line(source, file, true, acc, |acc, line, fields| {
        let parsed = expect_fields(fields, n).and_then(|()| {
            let r = network(fields[network_col])?;
            // The country where the addresses are used, else the one
            // where they are registered.
            let mut missing = None;
            for id in [fields[geoname_col], fields[registered_col]] {
                if id.is_empty() {
                    continue;
                }
                let id = geoname_id(id)?;
                match geonames.get(&id) {
                    Some(Some(c)) => return Ok((r, Some(*c))),
                    Some(None) => {}
                    None => {
                        missing.get_or_insert(id);
                    }
                }
            }
            match missing {
                Some(id) => Err(format!("geoname_id {id} is not in the locations file")),
                None => Ok((r, None)),
            }
        });
        match parsed {
            Ok((r, Some(c))) => acc.push(file, line, r, c),
            Ok((_, None)) => acc.unknown += 1,
            Err(reason) => acc.problem(file, line, reason),
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::IpAddr;

    fn src(name: &str, text: &str) -> Source {
        Source {
            name: name.to_string(),
            bytes: text.as_bytes().to_vec(),
        }
    }

    fn at(db: &GeoDb, ip: &str) -> String {
        db.lookup(ip.parse::<IpAddr>().expect("an IP address"))
            .map_or("-".to_string(), |c| c.to_string())
    }

    /// Imports one file and returns it with its problems as
    /// `(line, reason)`.
    fn one(text: &str) -> (Imported, Vec<(usize, String)>) {
        let imported = import(&[src("f.csv", text)]).expect("imports");
        let problems = imported
            .problems
            .iter()
            .map(|p| (p.line, p.reason.clone()))
            .collect();
        (imported, problems)
    }

    fn err(sources: &[Source]) -> String {
        match import(sources) {
            Ok(_) => panic!("expected an error"),
            Err(e) => e.to_string(),
        }
    }

    const LOCATIONS: &str = "\
geoname_id,locale_code,continent_code,continent_name,country_iso_code,country_name,is_in_european_union
49518,en,AF,Africa,RW,Rwanda,0
2077456,en,OC,Oceania,AU,Australia,0
2921044,en,EU,Europe,DE,Germany,1
1814991,en,AS,Asia,CN,China,0
6255148,en,EU,Europe,,,0
3017382,en,EU,Europe,FR,\"France, \"\"la\"\"\",1
";

    const BLOCKS4: &str = "\
network,geoname_id,registered_country_geoname_id,represented_country_geoname_id,is_anonymous_proxy,is_satellite_provider,is_anycast
1.0.0.0/24,2077456,2077456,,0,0,
1.0.1.0/24,1814991,1814991,,0,0,
1.0.2.0/23,,1814991,,0,0,
2.0.0.0/8,6255148,6255148,,0,0,
3.0.0.0/8,,,,1,0,
4.0.0.0/8,6255148,2921044,,0,0,
5.0.0.0/8,3017382,3017382,,0,0,
";

    const BLOCKS6: &str = "\
network,geoname_id,registered_country_geoname_id,represented_country_geoname_id,is_anonymous_proxy,is_satellite_provider
2001:200::/32,1814991,1814991,,0,0
2a00::/23,2921044,2921044,,0,0
";

    #[test]
    fn maxmind_blocks_with_locations() {
        let imported = import(&[
            src("GeoLite2-Country-Blocks-IPv4.csv", BLOCKS4),
            src("GeoLite2-Country-Blocks-IPv6.csv", BLOCKS6),
            src("GeoLite2-Country-Locations-en.csv", LOCATIONS),
        ])
        .expect("imports");
        assert_eq!(imported.problems, vec![]);
        let db = &imported.db;
        assert_eq!(at(db, "1.0.0.0"), "AU");
        assert_eq!(at(db, "1.0.0.255"), "AU");
        assert_eq!(at(db, "1.0.1.0"), "CN");
        // Only the registered country: that one.
        assert_eq!(at(db, "1.0.3.255"), "CN");
        assert_eq!(at(db, "1.0.4.0"), "-");
        // A continent without a country, and an anonymous proxy: none.
        assert_eq!(at(db, "2.1.2.3"), "-");
        assert_eq!(at(db, "3.1.2.3"), "-");
        // A continent, registered in a country: that country.
        assert_eq!(at(db, "4.1.2.3"), "DE");
        // A quoted country name with a comma and quotes.
        assert_eq!(at(db, "5.255.255.255"), "FR");
        assert_eq!(at(db, "2001:200::1"), "CN");
        assert_eq!(at(db, "2001:2ff:ffff::"), "-");
        assert_eq!(at(db, "2a00:1ff:ffff:ffff:ffff:ffff:ffff:ffff"), "DE");
        assert_eq!(at(db, "2a00:200::"), "-");
        // 1.0.1.0/24 and 1.0.2.0/23 merge.
        assert_eq!(db.len(), (4, 2));
        assert_eq!(imported.lines, 7 + 2 + 6);
        // 2.0.0.0/8 and 3.0.0.0/8, and the continent-only location.
        assert_eq!(imported.unknown, 3);
        assert_eq!(
            db.source,
            "GeoLite2-Country-Blocks-IPv4.csv, GeoLite2-Country-Blocks-IPv6.csv, GeoLite2-Country-Locations-en.csv"
        );
        assert!(db.loaded > 1_600_000_000);
    }

    #[test]
    fn maxmind_blocks_without_locations_are_refused() {
        let m = err(&[src("GeoLite2-Country-Blocks-IPv4.csv", BLOCKS4)]);
        assert!(m.contains("GeoLite2-Country-Blocks-IPv4.csv"), "{m}");
        assert!(m.contains("GeoLite2-Country-Locations-en.csv"), "{m}");
    }

    #[test]
    fn maxmind_problems() {
        let blocks = "\
network,geoname_id,registered_country_geoname_id,represented_country_geoname_id,is_anonymous_proxy,is_satellite_provider
1.0.0.0/24,2077456,2077456,,0,0
1.0.1.0/33,2077456,2077456,,0,0
1.0.2.0/24,123,,,0,0
1.0.3.0/24,abc,,,0,0
1.0.4.0/24,2077456
1.0.0.0/16,2921044,,,0,0
";
        let locations = "\
geoname_id,locale_code,continent_code,continent_name,country_iso_code,country_name,is_in_european_union
2077456,en,OC,Oceania,AU,Australia,0
2921044,en,EU,Europe,DE,Germany,1
x,en,EU,Europe,FR,France,1
42,en,EU,Europe,FRA,France,1
";
        let imported = import(&[src("b.csv", blocks), src("l.csv", locations)]).expect("imports");
        let p = |file: &str, line, reason: &str| Problem {
            file: file.into(),
            line,
            reason: reason.into(),
        };
        assert_eq!(
            imported.problems,
            vec![
                p(
                    "b.csv",
                    3,
                    "\"1.0.1.0/33\" is not a network (address/prefix length)"
                ),
                p("b.csv", 4, "geoname_id 123 is not in the locations file"),
                p("b.csv", 5, "\"abc\" is not a geoname_id (a whole number)"),
                p("b.csv", 6, "expected 6 fields, found 2"),
                p("b.csv", 7, "overlaps line 2"),
                p("l.csv", 4, "\"x\" is not a geoname_id (a whole number)"),
                p("l.csv", 5, "\"FRA\" is not a two-letter country code"),
            ]
        );
        assert_eq!(at(&imported.db, "1.0.0.1"), "AU");
    }

    #[test]
    fn dbip_lite() {
        let (imported, problems) = one("\
1.0.0.0,1.0.0.255,AU
1.0.1.0,1.0.3.255,CN
1.0.4.0,1.0.7.255,ZZ
1.0.8.0,1.0.15.255,CN
2001:200::,2001:200:ffff:ffff:ffff:ffff:ffff:ffff,JP
2001:201::,2001:201::ffff,ZZ
");
        assert_eq!(problems, vec![]);
        let db = &imported.db;
        assert_eq!(at(db, "0.255.255.255"), "-");
        assert_eq!(at(db, "1.0.0.0"), "AU");
        assert_eq!(at(db, "1.0.0.255"), "AU");
        assert_eq!(at(db, "1.0.1.0"), "CN");
        assert_eq!(at(db, "1.0.3.255"), "CN");
        assert_eq!(at(db, "1.0.4.0"), "-");
        assert_eq!(at(db, "1.0.7.255"), "-");
        assert_eq!(at(db, "1.0.8.0"), "CN");
        assert_eq!(at(db, "1.0.15.255"), "CN");
        assert_eq!(at(db, "1.0.16.0"), "-");
        assert_eq!(at(db, "2001:200:ffff::1"), "JP");
        assert_eq!(at(db, "2001:201::1"), "-");
        assert_eq!(db.len(), (3, 1));
        assert_eq!(imported.lines, 6);
        assert_eq!(imported.unknown, 2);
    }

    #[test]
    fn dbip_city_lite_takes_the_country_not_the_continent() {
        let (imported, problems) = one("\
1.0.0.0,1.0.0.255,OC,AU,Queensland,South Brisbane,-27.4767,153.017
1.0.1.0,1.0.3.255,AS,CN,Fujian,Wenzhou,26.0614,119.306
");
        assert_eq!(problems, vec![]);
        assert_eq!(at(&imported.db, "1.0.0.1"), "AU");
        assert_eq!(at(&imported.db, "1.0.2.1"), "CN");
    }

    #[test]
    fn plain_ranges_with_a_header_bom_crlf_comments_and_quotes() {
        let text = "\u{feff}# exported 2024-01-01\r\nstart,end,country\r\n\r\n\"10.0.0.0\" , 10.0.0.255,de\r\n  # comment\r\n10.0.1.0,10.0.1.255,\"FR\"\r\n::ffff:10.0.2.0,::ffff:10.0.2.255,US\r\n";
        let (imported, problems) = one(text);
        assert_eq!(problems, vec![]);
        let db = &imported.db;
        assert_eq!(at(db, "10.0.0.0"), "DE");
        assert_eq!(at(db, "10.0.0.255"), "DE");
        assert_eq!(at(db, "10.0.1.0"), "FR");
        // IPv4-mapped ranges are IPv4 ranges.
        assert_eq!(at(db, "10.0.2.7"), "US");
        assert_eq!(db.len(), (3, 0));
        assert_eq!(imported.lines, 3);
        // Other header words.
        let (imported, _) = one("ip_from,ip_to,country_code\n10.0.0.0,10.0.0.255,DE\n");
        assert_eq!(at(&imported.db, "10.0.0.9"), "DE");
    }

    #[test]
    fn ip2location_decimal_ranges() {
        let (imported, problems) = one("\
\"0\",\"16777215\",\"-\",\"-\"
\"16777216\",\"16777471\",\"US\",\"United States of America\"
\"16777472\",\"16778239\",\"CN\",\"China\"
\"281470698586112\",\"281470698586367\",\"AU\",\"Australia\"
\"42540528726795050063891204319802818560\",\"42540528806023212578155541913346768895\",\"JP\",\"Japan\"
");
        assert_eq!(problems, vec![]);
        let db = &imported.db;
        assert_eq!(at(db, "0.1.2.3"), "-");
        assert_eq!(at(db, "1.0.0.0"), "US");
        assert_eq!(at(db, "1.0.0.255"), "US");
        assert_eq!(at(db, "1.0.1.0"), "CN");
        assert_eq!(at(db, "1.0.3.255"), "CN");
        assert_eq!(at(db, "1.0.4.0"), "-");
        // ::ffff:1.1.0.0 – ::ffff:1.1.0.255
        assert_eq!(at(db, "1.1.0.9"), "AU");
        // 2001:200:: – 2001:200:ffff:ffff:ffff:ffff:ffff:ffff
        assert_eq!(at(db, "2001:200::"), "JP");
        assert_eq!(at(db, "2001:200:ffff:ffff:ffff:ffff:ffff:ffff"), "JP");
        assert_eq!(at(db, "2001:201::"), "-");
        assert_eq!(imported.unknown, 1);
    }

    #[test]
    fn every_kind_of_bad_line_is_reported_and_the_rest_imported() {
        let mut text = String::from("start,end,country\n");
        text.push_str("1.0.0.0,1.0.0.255,AU\n"); // 2
        text.push_str("1.0.0.255,1.0.0.0,AU\n"); // 3
        text.push_str("2.0.0.0,2.0.0.255,XX1\n"); // 4
        text.push_str("1.2.3,2.0.0.255,AU\n"); // 5
        text.push_str("3.0.0.0,2001:db8::,AU\n"); // 6
        text.push_str("1.0.0.128,1.0.1.255,CN\n"); // 7
        text.push_str("4.0.0.0,4.0.0.255\n"); // 8
        text.push_str("5.0.0.0,\"5.0.0.255,DE\n"); // 9
        text.push_str("6.0.0.0,6.0.0.255,\"DE\"x\n"); // 10
        text.push_str("16777216,1.0.0.5,DE\n"); // 11
        text.push_str("7.0.0.0,7.0.0.255,,\n"); // 12
        text.push_str("7.0.0.0,7.0.0.255,\n"); // 13
        text.push_str("9.0.0.0,9.0.0.255,FR\n"); // 14
        let mut bytes = text.into_bytes();
        bytes.extend_from_slice(b"8.0.0.0,8.0.0.255,\xff\xfe\n"); // 15
        let (imported, problems) = {
            let i = import(&[Source {
                name: "f.csv".into(),
                bytes,
            }])
            .expect("imports");
            let p = i
                .problems
                .iter()
                .map(|p| (p.line, p.reason.clone()))
                .collect::<Vec<_>>();
            (i, p)
        };
        let expected: Vec<(usize, String)> = [
            (3, "end 1.0.0.0 is before start 1.0.0.255"),
            (4, "\"XX1\" is not a two-letter country code"),
            (5, "\"1.2.3\" is not an IP address"),
            (6, "mixes IPv4 and IPv6"),
            (7, "overlaps line 2"),
            (8, "expected 3 fields, found 2"),
            (9, "field 2 has no closing quote"),
            (10, "text after the closing quote of field 3"),
            (11, "mixes a decimal number and an IP address"),
            (12, "expected 3 fields, found 4"),
            (13, "\"\" is not a two-letter country code"),
            (15, "the line is not UTF-8 text"),
        ]
        .into_iter()
        .map(|(l, r)| (l, r.to_string()))
        .collect();
        assert_eq!(problems, expected);
        assert_eq!(at(&imported.db, "1.0.0.200"), "AU");
        assert_eq!(at(&imported.db, "1.0.1.0"), "-");
        assert_eq!(at(&imported.db, "9.0.0.1"), "FR");
        assert_eq!(imported.db.len(), (2, 0));
        assert_eq!(imported.lines, 14);
    }

    #[test]
    fn ipv6_ranges_reaching_into_the_ipv4_mapped_block_are_split() {
        // Found by fuzzing (tests/fuzz.rs): a range only partly in
        // ::ffff:0:0/96 stayed IPv6 whole, and lookups of its IPv4-mapped
        // addresses, made as IPv4, missed it.
        let (imported, problems) = one("\
::fffe:0:0,::ffff:1.0.0.255,AU
::ffff:2.0.0.0,::1:0:0:5,DE
::fffe:ffff:ffff,::ffff:1.0.0.0,CN
");
        // Both parts of line 3 overlap line 1: said once.
        assert_eq!(problems, vec![(3, "overlaps line 1".to_string())]);
        let db = &imported.db;
        assert_eq!(at(db, "::fffe:0:0"), "AU");
        assert_eq!(at(db, "::fffe:ffff:ffff"), "AU");
        assert_eq!(at(db, "0.0.0.0"), "AU");
        assert_eq!(at(db, "::ffff:1.0.0.255"), "AU");
        assert_eq!(at(db, "1.0.1.0"), "-");
        assert_eq!(at(db, "2.0.0.0"), "DE");
        assert_eq!(at(db, "255.255.255.255"), "DE");
        assert_eq!(at(db, "::1:0:0:0"), "DE");
        assert_eq!(at(db, "::1:0:0:5"), "DE");
        assert_eq!(at(db, "::1:0:0:6"), "-");
        assert_eq!(db.len(), (2, 2));
        // Decimal ranges alike: 0 to 2^64 - 1 holds the whole block.
        let (imported, _) = one("\
start,end,country
\"0\",\"18446744073709551615\",FR
");
        assert_eq!(at(&imported.db, "::1"), "FR");
        assert_eq!(at(&imported.db, "8.8.8.8"), "FR");
        assert_eq!(at(&imported.db, "::1:0:0:0"), "FR");
        assert_eq!(imported.db.len(), (1, 2));
    }

    #[test]
    fn overlaps_across_files_name_the_other_file() {
        let imported = import(&[
            src("a.csv", "1.0.0.0,1.0.0.255,AU\n"),
            src("b.csv", "# b\n1.0.0.7,1.0.0.8,CN\n"),
        ])
        .expect("imports");
        assert_eq!(
            imported.problems,
            vec![Problem {
                file: "b.csv".into(),
                line: 2,
                reason: "overlaps line 1 of a.csv".into()
            }]
        );
    }

    #[test]
    fn unknown_formats_and_empty_imports_are_refused() {
        let m = err(&[src("page.html", "<html><body>Not found</body></html>\n")]);
        assert!(m.contains("page.html is in no known format"), "{m}");
        assert!(m.contains("\"<html><body>Not found</body></html>\""), "{m}");
        let m = err(&[src("x.csv", "\n# nothing\n")]);
        assert!(
            m.contains("x.csv is in no known format: it has no data lines"),
            "{m}"
        );
        let m = err(&[src("bin", "\u{0}\u{1},\u{2}")]);
        assert!(m.contains("bin is in no known format"), "{m}");
        let m = err(&[src("bad.csv", "\u{feff}\u{feff}é\n")]);
        assert!(m.contains("bad.csv"), "{m}");
        let m = err(&[
            src("good.csv", "1.0.0.0,1.0.0.255,AU\n"),
            src("zz.csv", "hello,world,again\n"),
        ]);
        assert!(m.contains("zz.csv is in no known format"), "{m}");
        // Known format, nothing usable: say why.
        let m = err(&[src("d.csv", "1.0.0.0,1.0.0.255,ZZ\n2.0.0.0,2.0.0.255,ZZ\n")]);
        assert!(
            m.contains("all 2 data lines have an unknown country"),
            "{m}"
        );
        let m = err(&[src("d.csv", "1.0.0.9,1.0.0.0,AU\n2.0.0.0,2.0.0.255,A\n")]);
        assert!(m.contains("no usable address range in d.csv"), "{m}");
        assert!(
            m.contains("d.csv line 1: end 1.0.0.0 is before start 1.0.0.9"),
            "{m}"
        );
        assert!(
            m.contains("d.csv line 2: \"A\" is not a two-letter country code"),
            "{m}"
        );
        let m = err(&[src("h.csv", "start,end,country\n")]);
        assert!(m.contains("no data lines"), "{m}");
    }

    #[test]
    fn fields_split_with_quotes() {
        let mut out = Vec::new();
        split("a, \"b,c\" ,\"d\"\"e\",,f ", &mut out).expect("splits");
        assert_eq!(out, vec!["a", "b,c", "d\"\"e", "", "f"]);
        split("a,", &mut out).expect("splits");
        assert_eq!(out, vec!["a", ""]);
        split("\"\"", &mut out).expect("splits");
        assert_eq!(out, vec![""]);
        assert!(split("\"abc", &mut out).is_err());
    }
}
