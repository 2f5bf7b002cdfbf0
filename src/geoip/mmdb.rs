//! MaxMind `.mmdb` files (GeoLite2-Country, GeoIP2-Country, and any
//! database whose records carry `country.iso_code`), read once at start-up
//! into a [`GeoDb`].

use std::collections::HashMap;
use std::path::Path;

use maxminddb::{LookupResult, MaxMindDbError, Reader, WithinOptions, path};

use super::{Country, GeoDb};
use crate::error::{Error, Result};

/// Reads every network of the `.mmdb` file at `path`.
///
/// A network's country is its `country.iso_code`, else its
/// `registered_country.iso_code`; networks with neither are left out.
/// Networks of the IPv4 part of the tree go to the IPv4 table; the
/// aliases of that part (`::ffff:0:0/96`, `2002::/16`) are not walked
/// twice. `source` is the file name with the database type and build date.
pub fn read(path: &Path) -> Result<GeoDb> {
    let name = path.file_name().map_or_else(
        || path.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    );
    let shown = path.display();
    let reader = Reader::open_readfile(path).map_err(|e| match e {
        MaxMindDbError::Io(io) => Error::io(format!("reading the GeoIP database {shown}"), io),
        other => Error::invalid(
            "GeoIP database",
            format!(
                "{shown} is not a MaxMind DB file ({other}): give a GeoLite2-Country or GeoIP2-Country .mmdb file"
            ),
        ),
    })?;
    let damaged = |e: MaxMindDbError| {
        Error::invalid(
            "GeoIP database",
            format!("{shown} is damaged ({e}): download it again"),
        )
    };
    let meta = reader.metadata();

    let mut v4 = Vec::new();
    let mut v6 = Vec::new();
    // Many networks share one record: decode each record once.
    let mut by_record: HashMap<usize, Option<Country>> = HashMap::new();
    let mut networks = 0usize;
    let mut first_decode_error = None;
    for item in reader.networks(WithinOptions::default()).map_err(damaged)? {
        let found = item.map_err(damaged)?;
        let Some(offset) = found.offset() else {
            continue;
        };
        networks += 1;
        let country = match by_record.get(&offset) {
            Some(&c) => c,
            None => {
                let c = country_of(&found).unwrap_or_else(|e| {
                    first_decode_error.get_or_insert(e);
                    None
                });
                by_record.insert(offset, c);
                c
            }
        };
        let Some(country) = country else {
            continue;
        };
        let net = found.network().map_err(damaged)?;
        match super::import::prefix_range(net.network(), u32::from(net.prefix())) {
            super::import::Range::V4(s, e) => v4.push((s, e, country)),
            super::import::Range::V6(s, e) => v6.push((s, e, country)),
        }
    }
    if v4.is_empty() && v6.is_empty() {
        let detail = match first_decode_error {
            Some(e) => format!(" (its records could not be read as GeoIP2 records: {e})"),
            None if networks == 0 => " (it has no networks at all)".to_string(),
            None => format!(
                " (none of its {networks} networks has country.iso_code or registered_country.iso_code)"
            ),
        };
        return Err(Error::invalid(
            "GeoIP database",
            format!(
                "{shown} has no country data{detail}; it is a {:?} database: give a GeoLite2-Country, GeoIP2-Country or GeoLite2-City .mmdb file",
                meta.database_type
            ),
        ));
    }
    // A search tree holds no overlapping networks, so nothing is dropped.
    let (mut db, _) = GeoDb::from_ranges(v4, v6);
    let (y, m, d) = crate::model::civil(meta.build_epoch);
    db.source = format!(
        "{name} ({}, built {y:04}-{m:02}-{d:02})",
        meta.database_type
    );
    db.loaded = crate::model::now();
    Ok(db)
}

/// The record's `country.iso_code`, else `registered_country.iso_code`.
fn country_of<S: AsRef<[u8]>>(
    found: &LookupResult<'_, S>,
) -> std::result::Result<Option<Country>, MaxMindDbError> {
    for field in ["country", "registered_country"] {
        let code: Option<&str> = found.decode_path(&path![field, "iso_code"])?;
        if let Some(c) = code.and_then(Country::parse) {
            return Ok(Some(c));
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> std::path::PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/geoip")
            .join(name)
    }

    fn at(db: &GeoDb, ip: &str) -> String {
        db.lookup(ip.parse().expect("an IP address"))
            .map_or("-".to_string(), |c| c.to_string())
    }

    #[test]
    fn reads_the_fixture() {
        let db = read(&fixture("test-country.mmdb")).expect("reads");
        // See tests/fixtures/geoip/make_mmdb.py for what it holds.
        assert_eq!(at(&db, "0.255.255.255"), "-");
        assert_eq!(at(&db, "1.0.0.0"), "AU");
        assert_eq!(at(&db, "1.0.0.255"), "AU");
        assert_eq!(at(&db, "1.0.1.0"), "CN");
        assert_eq!(at(&db, "1.0.3.255"), "CN");
        assert_eq!(at(&db, "1.0.4.0"), "-");
        // 2.0.0.0/16 only has registered_country.
        assert_eq!(at(&db, "2.0.0.0"), "FR");
        assert_eq!(at(&db, "2.0.255.255"), "FR");
        assert_eq!(at(&db, "2.1.0.0"), "-");
        // 3.0.0.0/16 has a record without any country.
        assert_eq!(at(&db, "3.0.0.1"), "-");
        // 81.2.69.0/24 then 81.2.70.0/24: one merged range.
        assert_eq!(at(&db, "81.2.68.255"), "-");
        assert_eq!(at(&db, "81.2.69.0"), "GB");
        assert_eq!(at(&db, "81.2.70.255"), "GB");
        assert_eq!(at(&db, "81.2.71.0"), "-");
        assert_eq!(at(&db, "216.160.83.56"), "US");
        assert_eq!(at(&db, "::ffff:216.160.83.56"), "US");
        assert_eq!(at(&db, "2001:218::1"), "JP");
        assert_eq!(at(&db, "2001:218:ffff:ffff:ffff:ffff:ffff:ffff"), "JP");
        assert_eq!(at(&db, "2001:219::"), "-");
        assert_eq!(at(&db, "2a02:cf40::"), "DE");
        assert_eq!(at(&db, "2a02:cf40:0:0:ffff:ffff:ffff:ffff"), "DE");
        assert_eq!(at(&db, "2a02:cf40:0:1::"), "-");
        assert_eq!(db.len(), (5, 2));
        assert!(
            db.source
                .starts_with("test-country.mmdb (GeoIP2-Country, built 2024-01-02)"),
            "{}",
            db.source
        );
    }

    #[test]
    fn databases_without_countries_are_refused() {
        let m = read(&fixture("test-asn.mmdb"))
            .expect_err("refused")
            .to_string();
        assert!(m.contains("test-asn.mmdb has no country data"), "{m}");
        assert!(m.contains("none of its 1 networks"), "{m}");
        assert!(m.contains("GeoLite2-ASN"), "{m}");
    }

    #[test]
    fn other_files_are_refused_with_a_reason() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let text = dir.path().join("GeoLite2-Country.mmdb");
        std::fs::write(&text, "network,geoname_id\n1.0.0.0/24,1\n").expect("write");
        let m = read(&text).expect_err("refused").to_string();
        assert!(
            m.contains("GeoLite2-Country.mmdb is not a MaxMind DB file"),
            "{m}"
        );
        let missing = dir.path().join("missing.mmdb");
        let m = read(&missing).expect_err("refused").to_string();
        assert!(m.contains("missing.mmdb"), "{m}");
    }
}
