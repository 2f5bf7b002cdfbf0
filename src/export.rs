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

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt::Display;

use serde::Serialize;
use serde_json::{Map, Value};

use crate::error::{Error, Result};
use crate::model::{CountBatch, FileInfo, LocationId, MirrorId, ProductId, Region, Role, User};
use crate::store::{Dump, NewMirror, NewProduct, Store, Tx};

/// The `format` of every export document.
pub const FORMAT: &str = "bouncer-export";
/// The `version` this build writes and reads.
pub const VERSION: u64 = 1;

/// A whole export document.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
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
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
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
}

/// A location and its files.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct LocationEntry {
    /// Operating system.
    pub os: String,
    /// Known files of this location, by path.
    pub files: Vec<FileEntry>,
    /// Path template.
    pub path: String,
}

/// What is known about one file.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
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
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct AliasEntry {
    /// The alias.
    pub name: String,
    /// The product it points at, by name.
    pub product: String,
}

/// A mirror's settings.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
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
}

/// A region.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
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
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
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
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
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
        .map_err(|e| Error::Storage(format!("cannot write JSON: {e}")))?;
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
    for f in &s.files {
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

// ----- reading a document -----

/// A place in the document, for error messages:
/// `products[3].locations[1].path`.
#[derive(Clone, Debug)]
struct At(String);

impl At {
    fn field(&self, key: &str) -> At {
        if self.0.is_empty() {
            At(key.to_string())
        } else {
            At(format!("{}.{key}", self.0))
        }
    }

    fn index(&self, i: usize) -> At {
        At(format!("{}[{i}]", self.0))
    }

    fn key(&self, key: &str) -> At {
        At(format!("{}[{key:?}]", self.0))
    }

    fn err(&self, why: impl Display) -> Error {
        let place = if self.0.is_empty() { "(top)" } else { &self.0 };
        Error::invalid("import file", format!("{place}: {why}"))
    }

    /// `result` with its error placed here.
    fn check<T>(&self, result: Result<T>) -> Result<T> {
        result.map_err(|e| self.err(e))
    }
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

/// An object of the document with its place, whose keys were checked.
struct Obj<'a> {
    at: At,
    map: &'a Map<String, Value>,
}

impl<'a> Obj<'a> {
    /// `v` as an object with no keys but `keys`.
    fn new(v: &'a Value, at: At, keys: &[&str]) -> Result<Obj<'a>> {
        let map = v
            .as_object()
            .ok_or_else(|| at.err(format!("expected an object, found {}", kind(v))))?;
        if let Some(k) = map.keys().find(|k| !keys.contains(&k.as_str())) {
            return Err(at
                .field(k)
                .err(format!("unknown key (known: {})", keys.join(", "))));
        }
        Ok(Obj { at, map })
    }

    fn get(&self, key: &str) -> Result<&'a Value> {
        self.map
            .get(key)
            .ok_or_else(|| self.at.field(key).err("missing"))
    }

    /// The value at `key`, `None` when absent or null.
    fn opt(&self, key: &str) -> Option<&'a Value> {
        self.map.get(key).filter(|v| !v.is_null())
    }

    fn string(&self, key: &str) -> Result<String> {
        as_string(self.get(key)?, &self.at.field(key))
    }

    fn opt_string(&self, key: &str) -> Result<Option<String>> {
        self.opt(key)
            .map(|v| as_string(v, &self.at.field(key)))
            .transpose()
    }

    fn bool(&self, key: &str) -> Result<bool> {
        let v = self.get(key)?;
        v.as_bool().ok_or_else(|| {
            self.at
                .field(key)
                .err(format!("expected true or false, found {}", kind(v)))
        })
    }

    fn int<T: TryFrom<i64> + TryFrom<u64>>(&self, key: &str) -> Result<T> {
        as_int(self.get(key)?, &self.at.field(key))
    }

    fn opt_u64(&self, key: &str) -> Result<Option<u64>> {
        self.opt(key)
            .map(|v| as_int(v, &self.at.field(key)))
            .transpose()
    }

    fn list(&self, key: &str) -> Result<Vec<(At, &'a Value)>> {
        let at = self.at.field(key);
        let v = self.get(key)?;
        let list = v
            .as_array()
            .ok_or_else(|| at.err(format!("expected a list, found {}", kind(v))))?;
        Ok(list
            .iter()
            .enumerate()
            .map(|(i, v)| (at.index(i), v))
            .collect())
    }

    fn strings(&self, key: &str) -> Result<Vec<(At, String)>> {
        self.list(key)?
            .into_iter()
            .map(|(at, v)| Ok((at.clone(), as_string(v, &at)?)))
            .collect()
    }

    fn map(&self, key: &str) -> Result<Vec<(At, &'a str, &'a Value)>> {
        map_of(self.get(key)?, &self.at.field(key))
    }
}

fn as_string(v: &Value, at: &At) -> Result<String> {
    v.as_str()
        .map(str::to_string)
        .ok_or_else(|| at.err(format!("expected a string, found {}", kind(v))))
}

fn as_int<T: TryFrom<i64> + TryFrom<u64>>(v: &Value, at: &At) -> Result<T> {
    let n = match v {
        Value::Number(n) => n
            .as_u64()
            .and_then(|n| T::try_from(n).ok())
            .or_else(|| n.as_i64().and_then(|n| T::try_from(n).ok())),
        _ => return Err(at.err(format!("expected a whole number, found {}", kind(v)))),
    };
    n.ok_or_else(|| at.err(format!("{v} is not a whole number in range")))
}

/// The entries of an object, each with its place.
fn map_of<'a>(v: &'a Value, at: &At) -> Result<Vec<(At, &'a str, &'a Value)>> {
    let map = v
        .as_object()
        .ok_or_else(|| at.err(format!("expected an object, found {}", kind(v))))?;
    Ok(map
        .iter()
        .map(|(k, v)| (at.key(k), k.as_str(), v))
        .collect())
}

/// Refuses a second entry whose key (`key_of`) an earlier one had.
struct Unique {
    what: &'static str,
    seen: HashMap<String, At>,
}

impl Unique {
    fn new(what: &'static str) -> Unique {
        Unique {
            what,
            seen: HashMap::new(),
        }
    }

    fn check(&mut self, key: String, shown: &str, at: &At) -> Result<()> {
        if let Some(first) = self.seen.get(&key) {
            return Err(at.err(format!(
                "{} {shown:?} appears twice (first at {})",
                self.what, first.0
            )));
        }
        self.seen.insert(key, at.clone());
        Ok(())
    }
}

/// Reads an export document, checking its shape and every value the store
/// would check, so errors name their place. References between entries
/// (an alias's product, a mirror's regions) are checked on import.
pub fn parse(bytes: &[u8]) -> Result<Config> {
    let root: Value = serde_json::from_slice(bytes).map_err(|e| {
        let why = e.to_string();
        // serde_json ends its messages with "at line L column C".
        let why = why
            .rsplit_once(" at line ")
            .map_or(why.as_str(), |(w, _)| w);
        Error::invalid(
            "import file",
            format!("not JSON: line {}, column {}: {why}", e.line(), e.column()),
        )
    })?;
    let top = At(String::new());
    let header = root
        .as_object()
        .ok_or_else(|| top.err(format!("expected an object, found {}", kind(&root))))?;
    match header.get("format").and_then(Value::as_str) {
        Some(FORMAT) => {}
        _ => {
            return Err(top.field("format").err(format!(
                "expected {FORMAT:?}: this is not a Bouncer export (`bouncer export` writes one)"
            )));
        }
    }
    match header.get("version").map(|v| (v, v.as_u64())) {
        Some((_, Some(VERSION))) => {}
        Some((v, _)) => {
            return Err(top.field("version").err(format!(
                "{v} is not supported: this Bouncer reads version {VERSION} (a newer Bouncer wrote it? upgrade bouncer)"
            )));
        }
        None => return Err(top.field("version").err("missing")),
    }
    let o = Obj::new(
        &root,
        top,
        &[
            "format", "version", "aliases", "counts", "files", "mirrors", "oses", "products",
            "regions", "settings", "users",
        ],
    )?;

    let mut oses = Vec::new();
    let mut unique = Unique::new("operating system");
    for (at, os) in o.strings("oses")? {
        let os = at.check(crate::validate::os(&os))?;
        unique.check(os.clone(), &os, &at)?;
        oses.push(os);
    }

    let mut paths = Unique::new("file");
    let mut products = Vec::new();
    let mut names = Unique::new("product");
    for (at, v) in o.list("products")? {
        let p = product(v, at.clone(), &mut paths)?;
        names.check(p.name.to_lowercase(), &p.name, &at.field("name"))?;
        products.push(p);
    }

    let mut aliases = Vec::new();
    let mut unique = Unique::new("alias");
    for (at, v) in o.list("aliases")? {
        let a = Obj::new(v, at.clone(), &["name", "product"])?;
        let name = at
            .field("name")
            .check(crate::validate::name("alias", &a.string("name")?))?;
        unique.check(name.to_lowercase(), &name, &at.field("name"))?;
        if names.seen.contains_key(&name.to_lowercase()) {
            return Err(at
                .field("name")
                .err(format!("{name:?} is a product's name too")));
        }
        aliases.push(AliasEntry {
            name,
            product: a.string("product")?,
        });
    }

    let mut files = Vec::new();
    for (at, v) in o.list("files")? {
        let f = file(v, at.clone())?;
        paths.check(f.path.clone(), &f.path, &at.field("path"))?;
        files.push(f);
    }

    let mut mirrors: Vec<MirrorEntry> = Vec::new();
    let mut unique = Unique::new("mirror");
    // Base URL key → the first mirror with it and its place.
    let mut addresses: HashMap<String, (String, At)> = HashMap::new();
    for (at, v) in o.list("mirrors")? {
        let m = Obj::new(
            v,
            at.clone(),
            &["name", "active", "base_url", "contact", "rating", "regions"],
        )?;
        let name = at
            .field("name")
            .check(crate::validate::name("mirror", &m.string("name")?))?;
        unique.check(name.to_lowercase(), &name, &at.field("name"))?;
        let base_url = at
            .field("base_url")
            .check(crate::validate::base_url(&m.string("base_url")?))?;
        match addresses.get(&crate::validate::base_url_key(&base_url)) {
            Some((first, first_at)) => {
                return Err(at.field("base_url").err(format!(
                    "{base_url} is the base URL of mirror {first:?} ({}) too: two mirrors at one address would get its downloads twice; keep one",
                    first_at.0
                )));
            }
            None => {
                addresses.insert(
                    crate::validate::base_url_key(&base_url),
                    (name.clone(), at.clone()),
                );
            }
        }
        let mut regions = Vec::new();
        for (at, r) in m.strings("regions")? {
            regions.push(at.check(crate::validate::name("region", &r))?);
        }
        mirrors.push(MirrorEntry {
            name,
            active: m.bool("active")?,
            base_url,
            contact: at
                .field("contact")
                .check(crate::validate::contact(&m.string("contact")?))?,
            rating: m.int("rating")?,
            regions,
        });
    }

    let mut regions = Vec::new();
    let mut unique = Unique::new("region");
    for (at, v) in o.list("regions")? {
        let r = Obj::new(
            v,
            at.clone(),
            &[
                "name",
                "countries",
                "fallback",
                "global_fallback",
                "throttle",
            ],
        )?;
        let name = at
            .field("name")
            .check(crate::validate::name("region", &r.string("name")?))?;
        unique.check(name.to_lowercase(), &name, &at.field("name"))?;
        let mut countries = Vec::new();
        for (at, c) in r.strings("countries")? {
            countries.push(at.check(crate::validate::country(&c))?);
        }
        countries.sort();
        countries.dedup();
        let fallback = match r.opt_string("fallback")? {
            Some(f) => Some(
                at.field("fallback")
                    .check(crate::validate::name("fallback region", &f))?,
            ),
            None => None,
        };
        regions.push(RegionEntry {
            name,
            countries,
            fallback,
            global_fallback: r.bool("global_fallback")?,
            throttle: r.int("throttle")?,
        });
    }

    let mut users = Vec::new();
    let mut unique = Unique::new("user");
    for (at, v) in o.list("users")? {
        let u = Obj::new(v, at.clone(), &["name", "password_hash", "role"])?;
        let name = at
            .field("name")
            .check(crate::validate::name("user", &u.string("name")?))?;
        unique.check(name.clone(), &name, &at.field("name"))?;
        let role = u.string("role")?;
        if Role::parse(&role).is_none() {
            return Err(at
                .field("role")
                .err(format!("{role:?}: use admin, release or viewer")));
        }
        let password_hash = u.string("password_hash")?;
        if argon2::password_hash::PasswordHash::new(&password_hash).is_err() {
            return Err(at
                .field("password_hash")
                .err("not a password hash (a PHC string such as $argon2id$…)"));
        }
        users.push(UserEntry {
            name,
            password_hash,
            role,
        });
    }

    let mut settings = BTreeMap::new();
    for (at, key, v) in o.map("settings")? {
        if key.trim().is_empty() || key.chars().any(char::is_control) {
            return Err(at.err("a setting needs a printable name"));
        }
        settings.insert(key.to_string(), as_string(v, &at)?);
    }

    let counts = match o.opt("counts") {
        Some(v) => Some(counts(v, o.at.field("counts"))?),
        None => None,
    };

    Ok(Config {
        format: FORMAT.to_string(),
        version: VERSION,
        aliases,
        counts,
        files,
        mirrors,
        oses,
        products,
        regions,
        settings,
        users,
    })
}

fn product(v: &Value, at: At, paths: &mut Unique) -> Result<ProductEntry> {
    let p = Obj::new(
        v,
        at.clone(),
        &[
            "name",
            "active",
            "languages",
            "locations",
            "priority",
            "public",
            "ssl_only",
        ],
    )?;
    let name = at
        .field("name")
        .check(crate::validate::name("product", &p.string("name")?))?;
    let mut languages = Vec::new();
    let mut unique = Unique::new("language");
    for (at, l) in p.strings("languages")? {
        let l = at.check(crate::validate::lang(&l))?;
        unique.check(l.to_lowercase(), &l, &at)?;
        languages.push(l);
    }
    let mut locations = Vec::new();
    let mut oses = Unique::new("operating system");
    for (at, v) in p.list("locations")? {
        let l = Obj::new(v, at.clone(), &["os", "files", "path"])?;
        let os = at
            .field("os")
            .check(crate::validate::os(&l.string("os")?))?;
        oses.check(os.clone(), &os, &at.field("os"))?;
        let path = at
            .field("path")
            .check(crate::validate::path(&l.string("path")?))?;
        let mut files = Vec::new();
        for (at, v) in l.list("files")? {
            let f = file(v, at.clone())?;
            paths.check(f.path.clone(), &f.path, &at.field("path"))?;
            files.push(f);
        }
        locations.push(LocationEntry { os, files, path });
    }
    Ok(ProductEntry {
        name,
        active: p.bool("active")?,
        languages,
        locations,
        priority: p.int("priority")?,
        public: p.bool("public")?,
        ssl_only: p.bool("ssl_only")?,
    })
}

fn file(v: &Value, at: At) -> Result<FileEntry> {
    let f = Obj::new(
        v,
        at.clone(),
        &["path", "lang", "md5", "sha1", "sha256", "sha512", "size"],
    )?;
    let path = at
        .field("path")
        .check(crate::validate::path(&f.string("path")?))?;
    let lang = match f.opt_string("lang")? {
        Some(l) => Some(at.field("lang").check(crate::validate::lang(&l))?),
        None => None,
    };
    let hash = |key: &str, len: usize| -> Result<Option<String>> {
        let Some(h) = f.opt_string(key)? else {
            return Ok(None);
        };
        let h = h.to_ascii_lowercase();
        if h.len() != len || !h.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(at
                .field(key)
                .err(format!("expected {len} hexadecimal digits")));
        }
        Ok(Some(h))
    };
    Ok(FileEntry {
        path,
        lang,
        md5: hash("md5", 32)?,
        sha1: hash("sha1", 40)?,
        sha256: hash("sha256", 64)?,
        sha512: hash("sha512", 128)?,
        size: f.opt_u64("size")?,
    })
}

/// `day → downloads` of a counts object.
fn days(v: &Value, at: &At) -> Result<Days> {
    let mut out = BTreeMap::new();
    for (at, day, n) in map_of(v, at)? {
        if parse_date(day).is_none() {
            return Err(at.err("not a date: use YYYY-MM-DD"));
        }
        out.insert(day.to_string(), as_int(n, &at)?);
    }
    Ok(out)
}

fn counts(v: &Value, at: At) -> Result<CountsEntry> {
    let c = Obj::new(v, at, &["countries", "locations", "mirrors", "products"])?;
    let mut out = CountsEntry::default();
    for (at, country, v) in c.map("countries")? {
        if country != "--" {
            at.check(crate::validate::country(country))?;
        }
        out.countries.insert(country.to_string(), days(v, &at)?);
    }
    for (at, product, v) in c.map("locations")? {
        let by_os = out.locations.entry(product.to_string()).or_default();
        for (at, os, v) in map_of(v, &at)? {
            let by_lang = by_os.entry(os.to_string()).or_default();
            for (at, lang, v) in map_of(v, &at)? {
                if !lang.is_empty() {
                    at.check(crate::validate::lang(lang))?;
                }
                by_lang.insert(lang.to_string(), days(v, &at)?);
            }
        }
    }
    for (at, mirror, v) in c.map("mirrors")? {
        out.mirrors.insert(mirror.to_string(), days(v, &at)?);
    }
    for (at, product, v) in c.map("products")? {
        out.products.insert(product.to_string(), days(v, &at)?);
    }
    Ok(out)
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

fn region_key(name: &str) -> String {
    name.trim().to_lowercase()
}

fn same_region(a: Option<&str>, b: Option<&str>) -> bool {
    a.map(region_key) == b.map(region_key)
}

/// Makes the configuration in `tx` that of `config` (see the module
/// documentation). Refuses a database with a configuration unless
/// `replace`. Errors name the document's place; the caller's transaction
/// is then dropped, so nothing is written.
pub fn apply(tx: &mut Tx<'_>, config: &Config, replace: bool) -> Result<Imported> {
    let top = At(String::new());
    if !replace {
        let have = [
            ("product", tx.products()?.len()),
            ("mirror", tx.mirrors()?.len()),
            ("alias", tx.alias_list()?.len()),
            ("region", tx.regions()?.len()),
            ("user", tx.users()?.len()),
            ("setting", tx.settings()?.len()),
        ];
        let have: Vec<String> = have
            .iter()
            .filter(|(_, n)| *n > 0)
            .map(|(what, n)| format!("{n} {what}(s)"))
            .collect();
        if !have.is_empty() {
            return Err(Error::InUse {
                detail: format!(
                    "the database has a configuration already ({}): import into an empty database, or add --replace to make its configuration the file's",
                    have.join(", ")
                ),
            });
        }
    }

    // Operating systems the locations need; extras go at the end.
    let oses_before = tx.oses()?;
    for (i, os) in config.oses.iter().enumerate() {
        if !oses_before.contains(os) {
            top.field("oses").index(i).check(tx.os_add(os))?;
        }
    }

    // Regions, in three passes so that no intermediate state shares a
    // country or makes a fallback cycle: first every region keeps only the
    // countries (and the fallback) it will have, then every region gets
    // its countries, then its fallback.
    let wanted: HashMap<String, (usize, &RegionEntry)> = config
        .regions
        .iter()
        .enumerate()
        .map(|(i, r)| (region_key(&r.name), (i, r)))
        .collect();
    let regions_at = top.field("regions");
    for r in tx.regions()? {
        let want = wanted.get(&region_key(&r.name)).map(|(_, w)| *w);
        let countries: Vec<String> = r
            .countries
            .iter()
            .filter(|c| want.is_some_and(|w| w.countries.contains(c)))
            .cloned()
            .collect();
        let keep_fallback =
            want.is_some_and(|w| same_region(r.fallback.as_deref(), w.fallback.as_deref()));
        if countries != r.countries || (!keep_fallback && r.fallback.is_some()) {
            tx.region_update(&r.name, |x| {
                x.countries = countries;
                if !keep_fallback {
                    x.fallback = None;
                }
            })?;
        }
    }
    for (i, w) in config.regions.iter().enumerate() {
        let at = regions_at.index(i);
        match tx.region(&w.name)? {
            Some(_) => at.check(tx.region_update(&w.name, |x| {
                x.throttle = w.throttle;
                x.global_fallback = w.global_fallback;
                x.countries = w.countries.clone();
            }))?,
            None => at.check(tx.region_add(Region {
                name: w.name.clone(),
                throttle: w.throttle,
                fallback: None,
                global_fallback: w.global_fallback,
                countries: w.countries.clone(),
            }))?,
        };
    }
    for (i, w) in config.regions.iter().enumerate() {
        let current = tx.region(&w.name)?.and_then(|r| r.fallback);
        if !same_region(current.as_deref(), w.fallback.as_deref()) {
            regions_at
                .index(i)
                .field("fallback")
                .check(tx.region_update(&w.name, |x| x.fallback = w.fallback.clone()))?;
        }
    }

    // Aliases the document lacks go first: one may have a new product's name.
    let alias_keys: HashSet<String> = config
        .aliases
        .iter()
        .map(|a| a.name.to_lowercase())
        .collect();
    for a in tx.alias_list()? {
        if !alias_keys.contains(&a.name.to_lowercase()) {
            tx.alias_remove(&a.name)?;
        }
    }

    // Products and their locations.
    let products_at = top.field("products");
    for (i, w) in config.products.iter().enumerate() {
        let at = products_at.index(i);
        // A language the product does not have yet must be a locale code
        // (the store's rule, checked here to name its place).
        let had = tx
            .product(&w.name)?
            .map(|p| p.languages)
            .unwrap_or_default();
        for (j, l) in w.languages.iter().enumerate() {
            at.field("languages")
                .index(j)
                .check(crate::model::product_languages(
                    &had,
                    std::slice::from_ref(l),
                ))?;
        }
        if tx.product(&w.name)?.is_none() {
            at.check(tx.product_add(NewProduct {
                name: w.name.clone(),
                languages: w.languages.clone(),
                ssl_only: w.ssl_only,
                private: !w.public,
            }))?;
        }
        at.check(tx.product_update(&w.name, |p| {
            p.active = w.active;
            p.public = w.public;
            p.ssl_only = w.ssl_only;
            p.priority = w.priority;
            p.languages = w.languages.clone();
        }))?;
        let product = tx
            .product(&w.name)?
            .ok_or_else(|| Error::not_found("product", &w.name))?;
        for l in tx
            .locations()?
            .into_iter()
            .filter(|l| l.product == product.id)
        {
            if !w.locations.iter().any(|x| x.os == l.os) {
                tx.location_remove(&product.name, &l.os)?;
            }
        }
        for (j, l) in w.locations.iter().enumerate() {
            let at = at.field("locations").index(j);
            match tx.location(&product.name, &l.os)? {
                Some(old) if old.path == l.path => {}
                Some(_) => {
                    at.check(tx.location_set_path(&product.name, &l.os, &l.path))?;
                }
                None => {
                    at.check(tx.location_add(&product.name, &l.os, &l.path))?;
                }
            }
        }
    }

    // Aliases that exist are pointed at their products; products the
    // document lacks are removed (no alias points at them any more); then
    // new aliases, which may take a removed product's name.
    let aliases_at = top.field("aliases");
    let existing: HashMap<String, ProductId> = tx
        .alias_list()?
        .into_iter()
        .map(|a| (a.name.to_lowercase(), a.product))
        .collect();
    let product_ids: HashMap<String, ProductId> = tx
        .products()?
        .into_iter()
        .map(|p| (p.name.to_lowercase(), p.id))
        .collect();
    for (i, a) in config.aliases.iter().enumerate() {
        if let Some(now) = existing.get(&a.name.to_lowercase())
            && product_ids.get(&a.product.to_lowercase()) != Some(now)
        {
            aliases_at
                .index(i)
                .check(tx.alias_set(&a.name, &a.product))?;
        }
    }
    let product_keys: HashSet<String> = config
        .products
        .iter()
        .map(|p| p.name.to_lowercase())
        .collect();
    for p in tx.products()? {
        if !product_keys.contains(&p.name.to_lowercase()) {
            tx.product_remove(&p.name)?;
        }
    }
    for (i, a) in config.aliases.iter().enumerate() {
        if !existing.contains_key(&a.name.to_lowercase()) {
            aliases_at
                .index(i)
                .check(tx.alias_set(&a.name, &a.product))?;
        }
    }

    // Files: exactly the document's.
    let product_keys_by_id: HashMap<ProductId, String> = tx
        .products()?
        .into_iter()
        .map(|p| (p.id, p.name.to_lowercase()))
        .collect();
    let mut location_ids: HashMap<(String, String), LocationId> = HashMap::new();
    for l in tx.locations()? {
        if let Some(p) = product_keys_by_id.get(&l.product) {
            location_ids.insert((p.clone(), l.os.clone()), l.id);
        }
    }
    let mut wanted_files: Vec<(At, FileInfo)> = Vec::new();
    let as_info = |f: &FileEntry, location: Option<LocationId>| FileInfo {
        path: f.path.clone(),
        location,
        lang: f.lang.clone(),
        size: f.size,
        md5: f.md5.clone(),
        sha1: f.sha1.clone(),
        sha256: f.sha256.clone(),
        sha512: f.sha512.clone(),
    };
    for (i, p) in config.products.iter().enumerate() {
        for (j, l) in p.locations.iter().enumerate() {
            let id = location_ids
                .get(&(p.name.to_lowercase(), l.os.clone()))
                .copied();
            for (k, f) in l.files.iter().enumerate() {
                let at = products_at
                    .index(i)
                    .field("locations")
                    .index(j)
                    .field("files")
                    .index(k);
                wanted_files.push((at, as_info(f, id)));
            }
        }
    }
    for (i, f) in config.files.iter().enumerate() {
        wanted_files.push((top.field("files").index(i), as_info(f, None)));
    }
    let wanted_paths: HashSet<&str> = wanted_files.iter().map(|(_, f)| f.path.as_str()).collect();
    let current_files = tx.files()?;
    for f in &current_files {
        if !wanted_paths.contains(f.path.as_str()) {
            tx.file_remove(&f.path)?;
        }
    }
    let current_files: HashMap<&str, &FileInfo> =
        current_files.iter().map(|f| (f.path.as_str(), f)).collect();
    for (at, f) in &wanted_files {
        if current_files.get(f.path.as_str()) != Some(&f) {
            at.check(tx.file_put(f))?;
        }
    }

    // Mirrors the document lacks go first (a mirror of the document may
    // have the address of one of them), then the document's (their regions
    // exist now), then regions the document lacks (no mirror serves them
    // any more).
    let mirror_keys: HashSet<String> = config
        .mirrors
        .iter()
        .map(|m| m.name.to_lowercase())
        .collect();
    for m in tx.mirrors()? {
        if !mirror_keys.contains(&m.name.to_lowercase()) {
            tx.mirror_remove(&m.name)?;
        }
    }
    let mirrors_at = top.field("mirrors");
    // A mirror moving to an address another mirror of the document leaves
    // waits for it to leave; a mirror whose address another still has
    // after that (two swapping addresses) is refused by the store.
    let mut pending: Vec<usize> = (0..config.mirrors.len()).collect();
    loop {
        let current = tx.mirrors()?;
        let (ready, waiting): (Vec<usize>, Vec<usize>) = pending.iter().partition(|&&i| {
            let w = &config.mirrors[i];
            let me = current
                .iter()
                .find(|m| m.name.eq_ignore_ascii_case(&w.name))
                .map(|m| m.id);
            crate::model::mirror_at(&current, &w.base_url, me).is_none()
        });
        let stuck = ready.is_empty();
        let now: Vec<usize> = if stuck {
            waiting.iter().take(1).copied().collect()
        } else {
            ready
        };
        for &i in &now {
            let (w, at) = (&config.mirrors[i], mirrors_at.index(i));
            let at = |e: Error| match e {
                Error::BaseUrlTaken { .. } => at.field("base_url").err(e),
                e => at.err(e),
            };
            if tx.mirror(&w.name)?.is_some() {
                tx.mirror_update(&w.name, |m| {
                    m.base_url = w.base_url.clone();
                    m.rating = w.rating;
                    m.active = w.active;
                    m.regions = w.regions.clone();
                    m.contact = w.contact.clone();
                })
                .map_err(at)?;
            } else {
                tx.mirror_add(NewMirror {
                    name: w.name.clone(),
                    base_url: w.base_url.clone(),
                    rating: w.rating,
                    regions: w.regions.clone(),
                    contact: w.contact.clone(),
                    inactive: !w.active,
                })
                .map_err(at)?;
            }
        }
        pending = if stuck {
            waiting.into_iter().skip(1).collect()
        } else {
            waiting
        };
        if pending.is_empty() {
            break;
        }
    }
    for r in tx.regions()? {
        if !wanted.contains_key(&region_key(&r.name)) {
            tx.region_remove(&r.name)?;
        }
    }

    // Users.
    let users_at = top.field("users");
    for (i, w) in config.users.iter().enumerate() {
        let role = Role::parse(&w.role)
            .ok_or_else(|| users_at.index(i).field("role").err("unknown role"))?;
        let current = tx.user(&w.name)?;
        if current
            .as_ref()
            .is_some_and(|u| u.password_hash == w.password_hash && u.role == role)
        {
            continue;
        }
        let user = User {
            name: w.name.clone(),
            password_hash: w.password_hash.clone(),
            role,
            created_at: current.as_ref().map_or(tx.now(), |u| u.created_at),
        };
        let action = if current.is_some() {
            "user.update"
        } else {
            "user.add"
        };
        users_at.index(i).check(tx.user_put(&user, action))?;
    }
    for u in tx.users()? {
        if !config.users.iter().any(|w| w.name == u.name) {
            tx.user_remove(&u.name)?;
        }
    }

    // Settings.
    let settings = tx.settings()?;
    for (k, v) in &config.settings {
        if settings.get(k) != Some(v) {
            tx.setting_put(k, Some(v))?;
        }
    }
    for k in settings.keys() {
        if !config.settings.contains_key(k) {
            tx.setting_put(k, None)?;
        }
    }

    // Operating systems the document lacks (no location uses them now).
    for os in tx.oses()? {
        if !config.oses.contains(&os) {
            top.field("oses").check(tx.os_remove(&os))?;
        }
    }

    let count_days = match &config.counts {
        Some(c) => Some(import_counts(tx, c, &top.field("counts"))?),
        None => None,
    };

    let done = Imported {
        products: config.products.len(),
        locations: config.products.iter().map(|p| p.locations.len()).sum(),
        files: wanted_files.len(),
        aliases: config.aliases.len(),
        mirrors: config.mirrors.len(),
        regions: config.regions.len(),
        users: config.users.len(),
        settings: config.settings.len(),
        oses: config.oses.len(),
        count_days,
    };
    tx.record("config.import", done.describe())?;
    Ok(done)
}

/// Replaces every download count with the document's; returns the number
/// of days.
fn import_counts(tx: &mut Tx<'_>, c: &CountsEntry, at: &At) -> Result<usize> {
    let products: HashMap<String, ProductId> = tx
        .products()?
        .into_iter()
        .map(|p| (p.name.to_lowercase(), p.id))
        .collect();
    let mirrors: HashMap<String, MirrorId> = tx
        .mirrors()?
        .into_iter()
        .map(|m| (m.name.to_lowercase(), m.id))
        .collect();
    let mut locations: HashMap<(ProductId, String), LocationId> = HashMap::new();
    for l in tx.locations()? {
        locations.insert((l.product, l.os.clone()), l.id);
    }
    let mut days: BTreeMap<u32, CountBatch> = BTreeMap::new();
    fn batch<'a>(days: &'a mut BTreeMap<u32, CountBatch>, day: &str) -> &'a mut CountBatch {
        // Checked when the document was read.
        let d = parse_date(day).unwrap_or_default();
        days.entry(d).or_insert_with(|| CountBatch {
            day: d,
            ..Default::default()
        })
    }
    for (name, by_day) in &c.products {
        let id = *products.get(&name.to_lowercase()).ok_or_else(|| {
            at.field("products")
                .key(name)
                .err(format!("no product named {name:?} in the file"))
        })?;
        for (day, n) in by_day {
            batch(&mut days, day).products.push((id, *n));
        }
    }
    for (name, by_os) in &c.locations {
        let at = at.field("locations").key(name);
        let product = *products
            .get(&name.to_lowercase())
            .ok_or_else(|| at.err(format!("no product named {name:?} in the file")))?;
        for (os, by_lang) in by_os {
            let id = *locations.get(&(product, os.clone())).ok_or_else(|| {
                at.key(os)
                    .err(format!("product {name:?} has no location for {os:?}"))
            })?;
            for (lang, by_day) in by_lang {
                for (day, n) in by_day {
                    batch(&mut days, day).locations.push((id, lang.clone(), *n));
                }
            }
        }
    }
    for (name, by_day) in &c.mirrors {
        let id = *mirrors.get(&name.to_lowercase()).ok_or_else(|| {
            at.field("mirrors")
                .key(name)
                .err(format!("no mirror named {name:?} in the file"))
        })?;
        for (day, n) in by_day {
            batch(&mut days, day).mirrors.push((id, *n));
        }
    }
    for (country, by_day) in &c.countries {
        for (day, n) in by_day {
            batch(&mut days, day).countries.push((country.clone(), *n));
        }
    }
    tx.counts_clear()?;
    for b in days.values() {
        tx.counts_add(b)?;
    }
    Ok(days.len())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Availability;

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
        store.write("cli", |tx| apply(tx, &config, replace))
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
            .write("cli", |tx| {
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
