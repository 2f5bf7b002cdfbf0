//! `bouncer export` and `bouncer import`: the whole configuration as one
//! JSON document that refers to everything by name, never by internal id,
//! so it moves between databases.
//!
//! What a document holds: operating systems; products with their flags,
//! languages, locations and the files of each location (sizes, hashes,
//! language); aliases; regions; mirrors (base URL, rating, active, regions,
//! contact); users with their roles and **password hashes** (argon2id: keep
//! the file as private as the database); settings as stored (mail and
//! others; no password is among them: the SMTP password lives only in
//! `$BOUNCER_SMTP_PASSWORD`). With `--with-counts`, every day's download
//! counts too. Never: sentry's findings (availability, mirror health,
//! runs), the audit log, or the GeoIP table (large, and re-imported from
//! its source with `bouncer geoip import`).
//!
//! The output is deterministic: a `format`/`version` header first, then the
//! sections; entries sorted (by name, path, OS or day); keys in a fixed
//! order (identifying keys first, then the rest alphabetically); two-space
//! indentation. So export → import into an empty database → export gives
//! the same bytes.
//!
//! Importing makes the database's configuration that of the document, in
//! one write transaction, through the store's validating operations:
//! whatever fails, nothing is written. Things that exist under the same
//! name are updated in place (keeping their ids, so sentry's findings and
//! counts for unchanged locations and mirrors stay), the rest is added, and
//! what the document lacks is removed. Download counts are replaced by the
//! document's when it has them, else left alone. A database with a
//! configuration is refused unless `replace`. Errors name the place in the document:
//! `products[3].locations[1].path: invalid path: …`.
//!
//! Reading a document is [`parse`]: its shape first (`read`: serde, with
//! unknown keys refused), then its values (`check`: the rules of
//! [`crate::validate`]); importing it is [`apply`], a section at a time.

mod apply;
mod check;
mod read;

use std::collections::{BTreeMap, HashMap};
use std::fmt::Display;

use serde::{Deserialize, Serialize};

pub use apply::apply;

use crate::error::{Error, Result};
use crate::model::{FileInfo, LocationId, MirrorId, ProductId};
use crate::store::{Dump, Store};

/// The `format` of every export document.
pub const FORMAT: &str = "bouncer-export";
/// The `version` this build writes and reads.
pub const VERSION: u64 = 1;

/// A whole export document.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Always [`FORMAT`].
    pub format: String,
    /// Always [`VERSION`].
    pub version: u64,
    /// Aliases, by name.
    pub aliases: Vec<AliasEntry>,
    /// Daily download counts (`--with-counts` only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub counts: Option<CountsEntry>,
    /// Files that belong to no location, by path.
    pub files: Vec<FileEntry>,
    /// Mirrors, by name.
    pub mirrors: Vec<MirrorEntry>,
    /// Operating system names, sorted.
    pub oses: Vec<String>,
    /// Products, by name.
    pub products: Vec<ProductEntry>,
    /// Regions, by name.
    pub regions: Vec<RegionEntry>,
    /// Operator settings.
    pub settings: BTreeMap<String, String>,
    /// Users, by name.
    pub users: Vec<UserEntry>,
}

/// A product and its locations.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProductEntry {
    /// Its name.
    pub name: String,
    /// Bounced at all.
    pub active: bool,
    /// Languages, in the product's order (empty: every language).
    pub languages: Vec<String>,
    /// Locations, by OS.
    pub locations: Vec<LocationEntry>,
    /// Ordering hint.
    pub priority: u32,
    /// Shown on public pages.
    pub public: bool,
    /// https mirrors only.
    pub ssl_only: bool,
    /// How many minutes its files may lag behind the origin (absent: any).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_lag_minutes: Option<u32>,
}

/// A location and its files.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LocationEntry {
    /// Operating system.
    pub os: String,
    /// Known files of this location, by path.
    pub files: Vec<FileEntry>,
    /// Path template.
    pub path: String,
}

/// What is known about one file.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileEntry {
    /// Its path.
    pub path: String,
    /// The language filling the location's `:lang`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lang: Option<String>,
    /// Hex MD5.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub md5: Option<String>,
    /// Hex SHA-1.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sha1: Option<String>,
    /// Hex SHA-256.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    /// Hex SHA-512.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sha512: Option<String>,
    /// Size in bytes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
}

/// An alias.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AliasEntry {
    /// The alias.
    pub name: String,
    /// The product it points at, by name.
    pub product: String,
}

/// A mirror's settings.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MirrorEntry {
    /// Its name.
    pub name: String,
    /// The operator's switch.
    pub active: bool,
    /// Root URL.
    pub base_url: String,
    /// Contact e-mail (may be empty).
    pub contact: String,
    /// Selection weight.
    pub rating: u32,
    /// Regions it serves, by name.
    pub regions: Vec<String>,
    /// The address families it serves: `both`, `ipv4` or `ipv6` (absent
    /// in exports from before there was a choice: both).
    #[serde(default)]
    pub families: String,
    /// The only countries it may serve (absent or empty: any).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub only_countries: Vec<String>,
    /// Countries it must never serve.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub never_countries: Vec<String>,
    /// Client networks it serves first: CIDR prefixes and `AS` numbers.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub networks: Vec<String>,
    /// The largest share of a pool's downloads it may take, in percent
    /// (absent: no cap).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_share: Option<u8>,
    /// Its root over the other scheme (absent: none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alt_url: Option<String>,
    /// Its trace file under its root (absent: none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trace: Option<String>,
    /// `cdn` for a CDN (absent: a mirror).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub kind: String,
}

impl MirrorEntry {
    /// Its audience, or the field that is wrong and why.
    pub fn audience(
        &self,
    ) -> std::result::Result<
        crate::model::Audience,
        (&'static str, crate::model::audience::AudienceError),
    > {
        use crate::model::audience::{parse_countries, parse_networks, parse_share};
        Ok(crate::model::Audience {
            only: parse_countries(&self.only_countries.join(","))
                .map_err(|e| ("only_countries", e))?,
            never: parse_countries(&self.never_countries.join(","))
                .map_err(|e| ("never_countries", e))?,
            networks: parse_networks(&self.networks.join(",")).map_err(|e| ("networks", e))?,
            max_share: match self.max_share {
                None => None,
                Some(n) => parse_share(&n.to_string()).map_err(|e| ("max_share", e))?,
            },
        })
    }
}

/// A region.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegionEntry {
    /// Its name.
    pub name: String,
    /// ISO country codes, sorted.
    pub countries: Vec<String>,
    /// The region its traffic falls back to, by name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fallback: Option<String>,
    /// Whether traffic may finally go to the whole world.
    pub global_fallback: bool,
    /// Percent of traffic kept in the region.
    pub throttle: i32,
}

/// A user.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserEntry {
    /// Login name.
    pub name: String,
    /// The argon2id PHC string (never the password).
    pub password_hash: String,
    /// `admin`, `release` or `viewer`.
    pub role: String,
}

/// Day (`YYYY-MM-DD`, UTC) → downloads.
pub type Days = BTreeMap<String, u64>;

/// Downloads by day, by name.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CountsEntry {
    /// Country code (`--`: unknown) → day → downloads.
    pub countries: BTreeMap<String, Days>,
    /// Product → OS → language (empty: none) → day → downloads.
    pub locations: BTreeMap<String, BTreeMap<String, BTreeMap<String, Days>>>,
    /// Mirror → day → downloads.
    pub mirrors: BTreeMap<String, Days>,
    /// Product → day → downloads.
    pub products: BTreeMap<String, Days>,
}

// ----- export -----

/// The export document of `store` as JSON text (with a final newline).
pub fn export(store: &Store, with_counts: bool) -> Result<String> {
    let config = from_dump(&store.dump(with_counts)?, with_counts);
    let mut text = serde_json::to_string_pretty(&config)
        .map_err(|e| Error::Internal(format!("cannot write JSON: {e}")))?;
    text.push('\n');
    Ok(text)
}

/// Sorts by a case-insensitive name, ties by the exact one.
fn by_name<T>(v: &mut [T], name: impl Fn(&T) -> &str) {
    v.sort_by(|a, b| {
        let (a, b) = (name(a), name(b));
        a.to_lowercase().cmp(&b.to_lowercase()).then(a.cmp(b))
    });
}

/// The document for what a [`Store::dump`] read.
pub fn from_dump(dump: &Dump, with_counts: bool) -> Config {
    let s = &dump.snapshot;
    let product_name: HashMap<ProductId, &str> =
        s.products.iter().map(|p| (p.id, p.name.as_str())).collect();
    let mirror_name: HashMap<MirrorId, &str> =
        s.mirrors.iter().map(|m| (m.id, m.name.as_str())).collect();
    let location_of: HashMap<LocationId, (&str, &str)> = s
        .locations
        .iter()
        .filter_map(|l| Some((l.id, (*product_name.get(&l.product)?, l.os.as_str()))))
        .collect();

    let file_entry = |f: &FileInfo| FileEntry {
        path: f.path.clone(),
        lang: f.lang.clone(),
        md5: f.md5.clone(),
        sha1: f.sha1.clone(),
        sha256: f.sha256.clone(),
        sha512: f.sha512.clone(),
        size: f.size,
    };
    let mut files_of: HashMap<LocationId, Vec<FileEntry>> = HashMap::new();
    let mut loose = Vec::new();
    for f in &dump.files {
        match f.location.filter(|l| location_of.contains_key(l)) {
            Some(l) => files_of.entry(l).or_default().push(file_entry(f)),
            None => loose.push(file_entry(f)),
        }
    }

    let products: Vec<ProductEntry> = s
        .products
        .iter()
        .map(|p| {
            let locations: Vec<LocationEntry> = s
                .locations
                .iter()
                .filter(|l| l.product == p.id)
                .map(|l| LocationEntry {
                    os: l.os.clone(),
                    files: files_of.remove(&l.id).unwrap_or_default(),
                    path: l.path.clone(),
                })
                .collect();
            ProductEntry {
                name: p.name.clone(),
                active: p.active,
                languages: p.languages.clone(),
                locations,
                priority: p.priority,
                public: p.public,
                ssl_only: p.ssl_only,
                max_lag_minutes: p.max_lag_minutes,
            }
        })
        .collect();

    let aliases: Vec<AliasEntry> = s
        .aliases
        .iter()
        .filter_map(|a| {
            Some(AliasEntry {
                name: a.name.clone(),
                product: product_name.get(&a.product)?.to_string(),
            })
        })
        .collect();

    let mirrors: Vec<MirrorEntry> = s
        .mirrors
        .iter()
        .map(|m| MirrorEntry {
            name: m.name.clone(),
            active: m.active,
            base_url: m.base_url.clone(),
            contact: m.contact.clone(),
            rating: m.rating,
            regions: m.regions.clone(),
            families: m.families.as_str().to_string(),
            only_countries: m.audience.only.iter().map(ToString::to_string).collect(),
            never_countries: m.audience.never.iter().map(ToString::to_string).collect(),
            networks: m
                .audience
                .networks
                .iter()
                .map(ToString::to_string)
                .collect(),
            max_share: m.audience.max_share,
            alt_url: m.alt_url.clone(),
            trace: m.trace.clone(),
            kind: match m.kind {
                crate::model::MirrorKind::Mirror => String::new(),
                k => k.as_str().to_string(),
            },
        })
        .collect();

    let regions: Vec<RegionEntry> = s
        .regions
        .iter()
        .map(|r| RegionEntry {
            name: r.name.clone(),
            countries: r.countries.clone(),
            fallback: r.fallback.clone(),
            global_fallback: r.global_fallback,
            throttle: r.throttle,
        })
        .collect();

    let users: Vec<UserEntry> = dump
        .users
        .iter()
        .map(|u| UserEntry {
            name: u.name.clone(),
            password_hash: u.password_hash.clone(),
            role: u.role.as_str().to_string(),
        })
        .collect();

    let counts = with_counts.then(|| {
        let mut c = CountsEntry::default();
        for batch in &dump.counts {
            let day = date(batch.day);
            // Counts of removed products, locations and mirrors have no
            // name to go by: they stay behind.
            for (p, n) in &batch.products {
                if let Some(name) = product_name.get(p) {
                    add(&mut c.products, name, &day, *n);
                }
            }
            for (l, lang, n) in &batch.locations {
                if let Some((product, os)) = location_of.get(l) {
                    let langs = c
                        .locations
                        .entry(product.to_string())
                        .or_default()
                        .entry(os.to_string())
                        .or_default();
                    add(langs, lang, &day, *n);
                }
            }
            for (m, n) in &batch.mirrors {
                if let Some(name) = mirror_name.get(m) {
                    add(&mut c.mirrors, name, &day, *n);
                }
            }
            for (country, n) in &batch.countries {
                add(&mut c.countries, country, &day, *n);
            }
        }
        c
    });

    let mut config = Config {
        format: FORMAT.to_string(),
        version: VERSION,
        aliases,
        counts,
        files: loose,
        mirrors,
        oses: s.oses.clone(),
        products,
        regions,
        settings: s.settings.clone(),
        users,
    };
    config.sort();
    config
}

impl Config {
    /// Puts every list in export order: by name (case-insensitively),
    /// locations by OS, files by path. Languages, a mirror's regions and
    /// the document's other lists keep their order.
    pub fn sort(&mut self) {
        by_name(&mut self.products, |p| &p.name);
        for p in &mut self.products {
            p.locations.sort_by(|a, b| a.os.cmp(&b.os));
            for l in &mut p.locations {
                l.files.sort_by(|a, b| a.path.cmp(&b.path));
            }
        }
        self.files.sort_by(|a, b| a.path.cmp(&b.path));
        by_name(&mut self.aliases, |a| &a.name);
        by_name(&mut self.mirrors, |m| &m.name);
        by_name(&mut self.regions, |r| &r.name);
        for r in &mut self.regions {
            r.countries.sort();
        }
        self.users.sort_by(|a, b| a.name.cmp(&b.name));
        self.oses.sort();
    }
}

fn add(map: &mut BTreeMap<String, Days>, name: &str, day: &str, n: u64) {
    *map.entry(name.to_string())
        .or_default()
        .entry(day.to_string())
        .or_default() += n;
}

/// `YYYY-MM-DD` of a day since the Unix epoch.
pub fn date(day: u32) -> String {
    let (y, m, d) = crate::model::civil(u64::from(day) * 86_400);
    format!("{y:04}-{m:02}-{d:02}")
}

/// The day since the Unix epoch of a `YYYY-MM-DD` date (1970 or later).
pub fn parse_date(s: &str) -> Option<u32> {
    let b = s.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let part = &s[r];
        part.bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| part.parse().ok())?
    };
    let (y, m, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    if !(1..=12).contains(&m) || d < 1 {
        return None;
    }
    // Days from civil (Howard Hinnant's algorithm), the inverse of
    // `model::civil`.
    let yy = if m <= 2 { y - 1 } else { y };
    let era = yy.div_euclid(400);
    let yoe = yy - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let day = u32::try_from(days).ok()?;
    // Rejects 2023-02-30 and the like: the date must come back the same.
    (date(day) == s).then_some(day)
}

// ----- importing -----

/// A place in the document, for error messages:
/// `products[3].locations[1].path`; empty for the document as a whole.
#[derive(Clone, Debug, Default)]
struct At(String);

impl At {
    /// The document as a whole.
    fn top() -> At {
        At::default()
    }

    fn as_str(&self) -> &str {
        &self.0
    }

    /// Its field `key`: `a.key`.
    fn field(&self, key: &str) -> At {
        if self.0.is_empty() {
            At(key.to_string())
        } else {
            At(format!("{}.{key}", self.0))
        }
    }

    /// Its entry `i`: `a[i]`.
    fn index(&self, i: usize) -> At {
        At(format!("{}[{i}]", self.0))
    }

    /// Its map key `key`, quoted: `a["key"]`.
    fn key(&self, key: &str) -> At {
        At(format!("{}[{key:?}]", self.0))
    }

    /// The error `why` here.
    fn err(&self, why: impl Display) -> Error {
        Error::ImportFile {
            file: None,
            place: Some(self.to_string()),
            detail: why.to_string(),
        }
    }

    /// `result` with its error placed here.
    fn check<T>(&self, result: Result<T>) -> Result<T> {
        result.map_err(|e| self.err(e))
    }
}

impl Display for At {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_empty() { "(top)" } else { &self.0 })
    }
}

/// Reads an export document: its shape ([`read`]), then every value the
/// store would check ([`check`]), so errors name their place. References
/// between entries (an alias's product, a mirror's regions) are checked
/// by [`apply`].
pub fn parse(bytes: &[u8]) -> Result<Config> {
    check::config(read::document(bytes)?)
}

// ----- importing -----

/// What an import wrote: the document's entries.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Imported {
    /// Products.
    pub products: usize,
    /// Locations.
    pub locations: usize,
    /// Files.
    pub files: usize,
    /// Aliases.
    pub aliases: usize,
    /// Mirrors.
    pub mirrors: usize,
    /// Regions.
    pub regions: usize,
    /// Users.
    pub users: usize,
    /// Settings.
    pub settings: usize,
    /// Operating systems.
    pub oses: usize,
    /// Days of download counts (`None`: the document had none, counts left
    /// as they were).
    pub count_days: Option<usize>,
}

impl Imported {
    /// One line for the CLI.
    pub fn describe(&self) -> String {
        let mut s = format!(
            "imported {} product(s) with {} location(s) and {} file(s), {} alias(es), {} mirror(s), {} region(s), {} user(s), {} setting(s), {} operating system(s)",
            self.products,
            self.locations,
            self.files,
            self.aliases,
            self.mirrors,
            self.regions,
            self.users,
            self.settings,
            self.oses
        );
        if let Some(days) = self.count_days {
            s.push_str(&format!(", download counts of {days} day(s)"));
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use serde_json::Value;

    use super::*;
    use crate::model::{Availability, Role, User};

    /// A copy of the schema-1 fixture (products, files, aliases, regions,
    /// mirrors, a user, settings, counts, availability), opened.
    fn populated() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.redb");
        std::fs::copy(
            concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/schema-v1.redb"),
            &path,
        )
        .unwrap();
        let store = Store::open(&path).unwrap();
        (dir, store)
    }

    fn empty() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("b.redb")).unwrap();
        (dir, store)
    }

    fn import(store: &Store, text: &str, replace: bool) -> Result<Imported> {
        let config = parse(text.as_bytes())?;
        store.write(&crate::model::Actor::Cli, |tx| apply(tx, &config, replace))
    }

    fn json(config: &Config) -> String {
        let mut s = serde_json::to_string_pretty(config).unwrap();
        s.push('\n');
        s
    }

    #[test]
    fn dates_round_trip() {
        assert_eq!(date(0), "1970-01-01");
        assert_eq!(parse_date("1970-01-01"), Some(0));
        assert_eq!(parse_date("2000-02-29"), Some(11_016));
        assert_eq!(date(19_675), "2023-11-14");
        for day in (0..200_000).step_by(7) {
            assert_eq!(parse_date(&date(day)), Some(day));
        }
        for bad in [
            "2023-02-30",
            "2023-13-01",
            "2023-00-10",
            "2023-01-00",
            "2023-1-01",
            "23-01-01",
            "1969-12-31",
            "abcd-ef-gh",
            "2023-01-01 ",
            "+202-01-01",
        ] {
            assert_eq!(parse_date(bad), None, "{bad}");
        }
    }

    #[test]
    fn export_import_export_is_identical() {
        let (_a, from) = populated();
        for counts in [false, true] {
            let text = export(&from, counts).unwrap();
            assert!(
                text.starts_with("{\n  \"format\": \"bouncer-export\",\n  \"version\": 1,\n"),
                "{text}"
            );
            assert_eq!(text.contains("\"counts\""), counts);
            // Never the ids, sentry's findings, the audit log or GeoIP.
            for absent in ["\"id\"", "created_at", "checked_at", "healthy", "fixture"] {
                assert!(!text.contains(absent), "{absent} in {text}");
            }
            let (_b, to) = empty();
            let done = import(&to, &text, false).unwrap();
            assert_eq!(done.products, 2);
            assert_eq!(done.locations, 3);
            assert_eq!(done.files, 2);
            assert_eq!(done.mirrors, 3);
            assert_eq!(done.count_days, counts.then_some(2));
            assert_eq!(export(&to, counts).unwrap(), text);
            let (a, b) = (from.snapshot().unwrap(), to.snapshot().unwrap());
            assert_eq!(a.oses, b.oses);
            assert_eq!(a.settings, b.settings);
            assert_eq!(
                from.users().unwrap()[0].password_hash,
                to.users().unwrap()[0].password_hash
            );
            if counts {
                let (x, y) = (
                    from.counts(0, u32::MAX).unwrap(),
                    to.counts(0, u32::MAX).unwrap(),
                );
                assert_eq!(
                    (x.total, &x.by_day, &x.by_country),
                    (y.total, &y.by_day, &y.by_country)
                );
                assert_eq!(y.total, 8);
            } else {
                assert_eq!(to.counts(0, u32::MAX).unwrap().total, 0);
            }
        }
    }

    #[test]
    fn a_configured_database_is_refused_without_replace() {
        let (_a, store) = populated();
        let text = export(&store, true).unwrap();
        let events = store.events(1000).unwrap();
        let err = import(&store, &text, false).unwrap_err().to_string();
        assert!(
            err.contains("has a configuration already (2 product(s), 3 mirror(s), 1 alias(s), 1 region(s), 1 user(s), 2 setting(s))")
                && err.contains("--replace"),
            "{err}"
        );
        assert_eq!(store.events(1000).unwrap(), events);

        // A user alone counts as a configuration too.
        let (_b, other) = empty();
        other
            .write(&crate::model::Actor::Cli, |tx| {
                tx.user_put(
                    &User {
                        name: "root".into(),
                        password_hash: store.users().unwrap()[0].password_hash.clone(),
                        role: Role::Admin,
                        created_at: 0,
                    },
                    "user.add",
                )
            })
            .unwrap();
        let err = import(&other, &text, false).unwrap_err().to_string();
        assert!(err.contains("(1 user(s))"), "{err}");
    }

    #[test]
    fn replacing_with_the_same_document_changes_nothing() {
        let (_a, store) = populated();
        let text = export(&store, false).unwrap();
        let events = store.events(1000).unwrap();
        let pairs = store.checked_pairs().unwrap();
        let counts = store.counts(0, u32::MAX).unwrap();
        import(&store, &text, true).unwrap();
        let after = store.events(1000).unwrap();
        // One event: the import itself.
        assert_eq!(after.len(), events.len() + 1);
        assert_eq!(after[0].action, "config.import");
        assert_eq!(&after[1..], &events[..]);
        assert_eq!(store.checked_pairs().unwrap(), pairs);
        assert_eq!(store.counts(0, u32::MAX).unwrap(), counts);
        assert_eq!(export(&store, false).unwrap(), text);
    }

    #[test]
    fn replacing_makes_the_configuration_the_documents() {
        let (_a, store) = populated();
        let before = parse(export(&store, false).unwrap().as_bytes()).unwrap();
        let mut b = before.clone();
        let hash = b.users[0].password_hash.clone();
        // A product goes; an alias takes its name; another product comes
        // and the old alias points at it.
        b.products.retain(|p| p.name != "thunderbird-115.0");
        b.aliases.push(AliasEntry {
            name: "thunderbird-115.0".into(),
            product: "firefox-120.0".into(),
        });
        b.products.push(ProductEntry {
            name: "firefox-121.0".into(),
            active: false,
            languages: vec!["fr".into()],
            locations: vec![LocationEntry {
                os: "solaris".into(),
                files: vec![FileEntry {
                    path: "/f/121/fr/setup.exe".into(),
                    lang: Some("fr".into()),
                    size: Some(7),
                    ..Default::default()
                }],
                path: "/f/121/:lang/setup.exe".into(),
            }],
            priority: 3,
            public: true,
            ssl_only: true,
            max_lag_minutes: None,
        });
        b.aliases[0].product = "firefox-121.0".into();
        // One location gets a new path, its file goes; the other stays.
        let ff = &mut b.products[0];
        assert_eq!(ff.name, "firefox-120.0");
        ff.languages.push("fr".into());
        let win = ff.locations.iter_mut().find(|l| l.os == "win").unwrap();
        win.path = "/firefox/120.0/win64/:lang/setup.exe".into();
        win.files.clear();
        // A country moves to a new region that falls back to the old one;
        // another new region falls back to that one.
        b.regions[0].countries = vec!["DE".into()];
        b.regions.push(RegionEntry {
            name: "france".into(),
            countries: vec!["FR".into()],
            fallback: Some("europe".into()),
            global_fallback: false,
            throttle: 50,
        });
        b.regions.push(RegionEntry {
            name: "asia".into(),
            countries: vec!["JP".into()],
            fallback: Some("france".into()),
            global_fallback: true,
            throttle: 100,
        });
        // Mirrors: one moves host, one changes regions, one goes, one comes.
        b.mirrors[0].regions = vec!["france".into(), "asia".into()];
        b.mirrors[1].base_url = "https://m2.example.com".into();
        b.mirrors.retain(|m| m.name != "m3");
        b.mirrors.push(MirrorEntry {
            name: "m4".into(),
            active: true,
            base_url: "http://m4.example".into(),
            contact: String::new(),
            rating: 7,
            regions: vec![],
            families: "ipv6".into(),
            only_countries: vec!["AT".into(), "DE".into()],
            never_countries: vec![],
            networks: vec!["AS64500".into(), "192.0.2.0/24".into()],
            max_share: Some(40),
            alt_url: Some("https://m4.example".into()),
            trace: None,
            kind: String::new(),
        });
        b.oses.retain(|o| o != "beos");
        b.oses.push("solaris".into());
        b.users[0].role = "viewer".into();
        b.users.push(UserEntry {
            name: "bob".into(),
            password_hash: hash,
            role: "release".into(),
        });
        b.settings.remove("mail.to");
        b.settings.insert("mail.port".into(), "2525".into());
        b.sort();
        let text = json(&b);

        let m1 = store.snapshot().unwrap().mirror("m1").unwrap().id;
        let kept = store.availability_of_mirror(m1).unwrap();
        assert_eq!(kept.len(), 2);
        let done = import(&store, &text, true).unwrap();
        assert_eq!((done.products, done.aliases, done.regions), (2, 2, 3));
        assert_eq!(export(&store, false).unwrap(), text);

        // m1 kept what sentry found at the unchanged location only; m2
        // moved host and lost its findings; m3 is gone.
        let s = store.snapshot().unwrap();
        let linux = s
            .locations
            .iter()
            .find(|l| l.os == "linux")
            .map(|l| l.id)
            .unwrap();
        let now: Vec<(LocationId, Availability)> = store.availability_of_mirror(m1).unwrap();
        assert_eq!(now.len(), 1);
        assert_eq!(now[0].0, linux);
        assert!(kept.contains(&now[0]));
        assert_eq!(store.checked_pairs().unwrap().len(), 1);
        // Counts of the kept product still count.
        assert_eq!(store.counts(0, u32::MAX).unwrap().total, 8);
        let (x, y) = availability_index_of(&store);
        assert_eq!(x, y);

        // And back again.
        import(&store, &json(&before), true).unwrap();
        assert_eq!(export(&store, false).unwrap(), json(&before));
    }

    fn availability_index_of(store: &Store) -> (usize, usize) {
        let pairs = store.checked_pairs().unwrap().len();
        let mut rows = 0;
        for l in store.snapshot().unwrap().locations {
            rows += store.availability_of(l.id).unwrap().len();
        }
        (pairs, rows)
    }

    #[test]
    fn counts_are_replaced_by_the_documents() {
        let (_a, store) = populated();
        let mut config = parse(export(&store, true).unwrap().as_bytes()).unwrap();
        let counts = config.counts.as_mut().unwrap();
        counts.products.clear();
        counts
            .mirrors
            .insert("m2".into(), BTreeMap::from([("2024-01-01".into(), 40)]));
        import(&store, &json(&config), true).unwrap();
        let c = store.counts(0, u32::MAX).unwrap();
        assert!(c.by_product.is_empty());
        assert_eq!(c.by_mirror.values().sum::<u64>(), 8 + 40);
        assert_eq!(export(&store, true).unwrap(), json(&config));
    }

    /// A change to a good document, and the error it must bring.
    type Case<'a> = (&'a dyn Fn(&mut Value), &'a str);

    /// `good` changed by `change`, as JSON text.
    fn changed(good: &Value, change: impl Fn(&mut Value)) -> String {
        let mut v = good.clone();
        change(&mut v);
        serde_json::to_string(&v).unwrap()
    }

    /// The message of `parse` refusing `text`, without the prefix and the
    /// advice every import error has.
    fn parse_error(text: &str) -> String {
        let err = parse(text.as_bytes()).unwrap_err();
        assert!(
            matches!(err, Error::ImportFile { file: None, .. }),
            "{err:?}"
        );
        let err = err.to_string();
        err.strip_prefix("invalid import file: ")
            .and_then(|e| e.strip_suffix(" (fix the file and run `bouncer import` again)"))
            .unwrap_or_else(|| panic!("{err}"))
            .to_string()
    }

    #[test]
    fn an_unknown_key_is_refused_at_its_place() {
        let (_a, store) = populated();
        let good: Value = serde_json::from_str(&export(&store, true).unwrap()).unwrap();
        let cases: &[Case] = &[
            (
                &|v| v["colour"] = "red".into(),
                "colour: unknown key (known: format, version, aliases, counts, files, mirrors, oses, products, regions, settings, users)",
            ),
            (
                &|v| v["products"][0]["locations"][1]["files"][0]["md6"] = "x".into(),
                "products[0].locations[1].files[0].md6: unknown key (known: path, lang, md5, sha1, sha256, sha512, size)",
            ),
            (
                &|v| v["mirrors"][2]["region"] = serde_json::json!([]),
                "mirrors[2].region: unknown key (known: name, active, base_url, contact, rating, regions, families, only_countries, never_countries, networks, max_share, alt_url, trace, kind)",
            ),
            (
                &|v| v["counts"]["days"] = serde_json::json!({}),
                "counts.days: unknown key (known: countries, locations, mirrors, products)",
            ),
            (
                &|v| v["users"][0]["password"] = "hunter2".into(),
                "users[0].password: unknown key (known: name, password_hash, role)",
            ),
        ];
        for &(change, expected) in cases {
            assert_eq!(parse_error(&changed(&good, change)), expected);
        }
    }

    #[test]
    fn a_value_of_the_wrong_type_is_refused_at_its_place() {
        let (_a, store) = populated();
        let good: Value = serde_json::from_str(&export(&store, true).unwrap()).unwrap();
        let cases: &[Case] = &[
            (
                &|v| v["mirrors"][1]["regions"][0] = 7.into(),
                "mirrors[1].regions[0]: expected a string, found a number",
            ),
            (
                &|v| v["regions"][0]["throttle"] = "50".into(),
                "regions[0].throttle: expected a whole number, found a string",
            ),
            (
                &|v| v["products"][1]["priority"] = 1.5.into(),
                "products[1].priority: 1.5 is not a whole number in range",
            ),
            (
                &|v| v["regions"][0]["throttle"] = 3_000_000_000_u64.into(),
                "regions[0].throttle: 3000000000 is not a whole number in range",
            ),
            (
                &|v| v["products"][0]["locations"] = serde_json::json!({}),
                "products[0].locations: expected a list, found an object",
            ),
            (
                &|v| v["aliases"][0] = "firefox".into(),
                "aliases[0]: expected an object, found a string",
            ),
            (
                &|v| v["users"][0]["name"] = Value::Null,
                "users[0].name: expected a string, found null",
            ),
            (
                &|v| {
                    v["products"][0]["locations"][0]
                        .as_object_mut()
                        .unwrap()
                        .remove("path");
                },
                "products[0].locations[0].path: missing",
            ),
            (
                &|v| {
                    v["counts"]["locations"]["firefox-120.0"]["win"]["de"]["2023-11-14"] =
                        (-3).into()
                },
                "counts.locations[\"firefox-120.0\"][\"win\"][\"de\"][\"2023-11-14\"]: -3 is not a whole number in range",
            ),
        ];
        for &(change, expected) in cases {
            assert_eq!(parse_error(&changed(&good, change)), expected);
        }
        // Optional values may be null or absent alike.
        let text = changed(&good, |v| {
            v["regions"][0]["fallback"] = Value::Null;
            v["counts"] = Value::Null;
        });
        let config = parse(text.as_bytes()).unwrap();
        assert_eq!(config.regions[0].fallback, None);
        assert_eq!(config.counts, None);
    }

    #[test]
    fn a_value_that_breaks_a_rule_is_refused_at_its_place() {
        let (_a, store) = populated();
        let good: Value = serde_json::from_str(&export(&store, true).unwrap()).unwrap();
        let cases: &[Case] = &[
            (
                &|v| v["files"] = serde_json::json!([{"path": "/x", "lang": "d e"}]),
                "files[0].lang: invalid language",
            ),
            (
                &|v| v["oses"][1] = v["oses"][0].clone(),
                "oses[1]: operating system",
            ),
            (
                &|v| v["settings"][" "] = "x".into(),
                "settings[\" \"]: a setting needs a printable name",
            ),
            (
                &|v| v["counts"]["countries"]["Germany"] = serde_json::json!({}),
                "counts.countries[\"Germany\"]: invalid country",
            ),
            (
                &|v| v["mirrors"][0]["contact"] = "a@b.example, c@d.example".into(),
                "mirrors[0].contact: ",
            ),
            (
                &|v| {
                    v["products"][0]["locations"][0]["files"] =
                        v["products"][0]["locations"][1]["files"].clone()
                },
                "products[0].locations[1].files[0].path: file ",
            ),
        ];
        for &(change, expected) in cases {
            let err = parse_error(&changed(&good, change));
            assert!(
                err.starts_with(expected),
                "expected {expected:?} in {err:?}"
            );
        }
        // And the file's name, when the command gives it, comes first.
        let Err(Error::ImportFile { place, detail, .. }) =
            parse(changed(&good, |v| v["oses"][0] = "".into()).as_bytes())
        else {
            panic!("an empty OS name was accepted");
        };
        let named = Error::ImportFile {
            file: Some("conf.json".into()),
            place,
            detail,
        };
        assert!(
            named
                .to_string()
                .starts_with("invalid import file: conf.json: oses[0]: "),
            "{named}"
        );
    }

    #[test]
    fn a_document_reads_back_as_it_was_written() {
        let (_a, store) = populated();
        for counts in [false, true] {
            let text = export(&store, counts).unwrap();
            let config = parse(text.as_bytes()).unwrap();
            assert_eq!(config, from_dump(&store.dump(counts).unwrap(), counts));
            assert_eq!(json(&config), text);
        }
        // Every optional value, set and not.
        let mut config = Config {
            format: FORMAT.into(),
            version: VERSION,
            files: vec![
                FileEntry {
                    path: "/a".into(),
                    ..Default::default()
                },
                FileEntry {
                    path: "/b".into(),
                    lang: Some("de".into()),
                    md5: Some("0".repeat(32)),
                    sha1: Some("1".repeat(40)),
                    sha256: Some("a".repeat(64)),
                    sha512: Some("f".repeat(128)),
                    size: Some(u64::MAX),
                },
            ],
            regions: vec![RegionEntry {
                name: "r".into(),
                fallback: Some("s".into()),
                throttle: i32::MIN,
                ..Default::default()
            }],
            counts: Some(CountsEntry::default()),
            ..Default::default()
        };
        config.sort();
        assert_eq!(parse(json(&config).as_bytes()).unwrap(), config);
    }

    /// The error of importing `text` into an empty database, which must
    /// stay empty.
    fn refused(text: &str) -> String {
        let (_dir, store) = empty();
        let snapshot = format!("{:?}", store.snapshot().unwrap());
        let err = import(&store, text, false).unwrap_err().to_string();
        assert_eq!(format!("{:?}", store.snapshot().unwrap()), snapshot);
        assert!(store.events(10).unwrap().is_empty(), "{err}");
        assert!(store.users().unwrap().is_empty(), "{err}");
        err
    }

    #[test]
    fn errors_name_their_place_and_write_nothing() {
        let (_a, store) = populated();
        let good: Value = serde_json::from_str(&export(&store, true).unwrap()).unwrap();
        let with = |change: &dyn Fn(&mut Value)| {
            let mut v = good.clone();
            change(&mut v);
            serde_json::to_string(&v).unwrap()
        };
        let cases: Vec<(String, &str)> = vec![
            ("{\"format\": ".into(), "not JSON: line 1, column 11"),
            ("[]".into(), "(top): expected an object, found a list"),
            (
                with(&|v| v["format"] = "other".into()),
                "format: expected \"bouncer-export\"",
            ),
            (
                with(&|v| v["version"] = 2.into()),
                "version: 2 is not supported",
            ),
            (
                with(&|v| {
                    v.as_object_mut().unwrap().remove("version");
                }),
                "version: missing",
            ),
            (
                with(&|v| {
                    v.as_object_mut().unwrap().remove("oses");
                }),
                "oses: missing",
            ),
            (
                with(&|v| v["products"][1]["locations"][0]["path"] = "tb.dmg".into()),
                "products[1].locations[0].path: invalid path: \"tb.dmg\": must start with '/'",
            ),
            (
                with(&|v| v["products"][0]["colour"] = "red".into()),
                "products[0].colour: unknown key (known: name, active,",
            ),
            (
                with(&|v| v["products"][0]["languages"][1] = "d e".into()),
                "products[0].languages[1]: invalid language",
            ),
            (
                with(&|v| v["products"][0]["active"] = "yes".into()),
                "products[0].active: expected true or false, found a string",
            ),
            (
                with(&|v| v["products"][0]["locations"][1]["files"][0]["sha256"] = "xyz".into()),
                "products[0].locations[1].files[0].sha256: expected 64 hexadecimal digits",
            ),
            (
                with(&|v| v["products"][1]["name"] = "FIREFOX-120.0".into()),
                "products[1].name: product \"FIREFOX-120.0\" appears twice (first at products[0].name)",
            ),
            (
                with(&|v| v["mirrors"][0]["rating"] = (-1).into()),
                "mirrors[0].rating: -1 is not a whole number in range",
            ),
            (
                with(&|v| v["mirrors"][2]["base_url"] = "ftp://x".into()),
                "mirrors[2].base_url: invalid base URL",
            ),
            (
                with(&|v| v["regions"][0]["countries"][0] = "Germany".into()),
                "regions[0].countries[0]: invalid country",
            ),
            (
                with(&|v| v["users"][0]["role"] = "root".into()),
                "users[0].role: \"root\": use admin, release or viewer",
            ),
            (
                with(&|v| v["users"][0]["password_hash"] = "hunter2".into()),
                "users[0].password_hash: not a password hash",
            ),
            (
                with(&|v| v["aliases"][0]["name"] = "thunderbird-115.0".into()),
                "aliases[0].name: \"thunderbird-115.0\" is a product's name too",
            ),
            (
                with(&|v| v["settings"]["mail.port"] = 25.into()),
                "settings[\"mail.port\"]: expected a string, found a number",
            ),
            (
                with(&|v| {
                    v["counts"]["products"]["firefox-120.0"]["2023-02-30"] = 1.into();
                }),
                "counts.products[\"firefox-120.0\"][\"2023-02-30\"]: not a date",
            ),
            // Found on import, inside the transaction.
            (
                with(&|v| v["aliases"][0]["product"] = "nope".into()),
                "aliases[0]: no product named \"nope\"",
            ),
            (
                with(&|v| v["mirrors"][1]["regions"][0] = "nowhere".into()),
                "mirrors[1]: no region named \"nowhere\"",
            ),
            (
                with(&|v| v["products"][0]["locations"][0]["os"] = "plan9".into()),
                "products[0].locations[0]: no operating system named \"plan9\"",
            ),
            (
                with(&|v| v["regions"][0]["fallback"] = "europe".into()),
                "regions[0].fallback: invalid fallback region",
            ),
            (
                with(&|v| {
                    v["counts"]["mirrors"]["m9"] = serde_json::json!({"2023-11-14": 1});
                }),
                "counts.mirrors[\"m9\"]: no mirror named \"m9\" in the file",
            ),
        ];
        for (text, expected) in cases {
            let err = refused(&text);
            assert!(
                err.starts_with("invalid import file: ") && err.contains(expected),
                "expected {expected:?} in {err:?}"
            );
        }
    }
}
