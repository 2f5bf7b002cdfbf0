//! Checking a document's values: every name, path, URL, hash and date the
//! store would check, and the uniqueness of names, each error at its place
//! (`products[1].name: product "X" appears twice (first at products[0].name)`).
//! Values come back as the store keeps them (trimmed, hashes in lower
//! case, countries sorted). References between entries (an alias's
//! product, a mirror's regions) are left to the import, which finds them
//! in its transaction.

use std::collections::{BTreeMap, HashMap};

use super::{
    AliasEntry, At, Config, CountsEntry, Days, FileEntry, LocationEntry, MirrorEntry, ProductEntry,
    RegionEntry, UserEntry, parse_date,
};
use crate::error::Result;
use crate::model::Role;
use crate::validate;

/// Refuses a second entry whose key an earlier one had.
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
                "{} {shown:?} appears twice (first at {first})",
                self.what
            )));
        }
        self.seen.insert(key, at.clone());
        Ok(())
    }
}

/// `config` with every value checked and normalised.
pub fn config(config: Config) -> Result<Config> {
    let top = At::top();
    let oses = oses(config.oses, &top.field("oses"))?;
    let mut paths = Unique::new("file");
    let mut names = Unique::new("product");
    let products_at = top.field("products");
    let mut products = Vec::new();
    for (i, p) in config.products.into_iter().enumerate() {
        let at = products_at.index(i);
        let p = product(p, &at, &mut paths)?;
        names.check(p.name.to_lowercase(), &p.name, &at.field("name"))?;
        products.push(p);
    }
    let aliases = aliases(config.aliases, &top.field("aliases"), &names)?;
    let files_at = top.field("files");
    let mut files = Vec::new();
    for (i, f) in config.files.into_iter().enumerate() {
        let at = files_at.index(i);
        let f = file(f, &at)?;
        paths.check(f.path.clone(), &f.path, &at.field("path"))?;
        files.push(f);
    }
    Ok(Config {
        format: config.format,
        version: config.version,
        aliases,
        files,
        mirrors: mirrors(config.mirrors, &top.field("mirrors"))?,
        oses,
        products,
        regions: regions(config.regions, &top.field("regions"))?,
        users: users(config.users, &top.field("users"))?,
        settings: settings(config.settings, &top.field("settings"))?,
        counts: config
            .counts
            .map(|c| counts(c, &top.field("counts")))
            .transpose()?,
    })
}

fn oses(oses: Vec<String>, at: &At) -> Result<Vec<String>> {
    let mut unique = Unique::new("operating system");
    let mut out = Vec::new();
    for (i, os) in oses.iter().enumerate() {
        let at = at.index(i);
        let os = at.check(validate::os(os))?;
        unique.check(os.clone(), &os, &at)?;
        out.push(os);
    }
    Ok(out)
}

/// A product; its files' paths go into `paths`, which are the whole
/// document's.
fn product(p: ProductEntry, at: &At, paths: &mut Unique) -> Result<ProductEntry> {
    let name = at.field("name").check(validate::name("product", &p.name))?;
    let mut languages = Vec::new();
    let mut unique = Unique::new("language");
    for (i, l) in p.languages.iter().enumerate() {
        let at = at.field("languages").index(i);
        let l = at.check(validate::lang(l))?;
        unique.check(l.to_lowercase(), &l, &at)?;
        languages.push(l);
    }
    let mut locations = Vec::new();
    let mut oses = Unique::new("operating system");
    for (i, l) in p.locations.into_iter().enumerate() {
        let at = at.field("locations").index(i);
        let os = at.field("os").check(validate::os(&l.os))?;
        oses.check(os.clone(), &os, &at.field("os"))?;
        let path = at.field("path").check(validate::path(&l.path))?;
        let mut files = Vec::new();
        for (k, f) in l.files.into_iter().enumerate() {
            let at = at.field("files").index(k);
            let f = file(f, &at)?;
            paths.check(f.path.clone(), &f.path, &at.field("path"))?;
            files.push(f);
        }
        locations.push(LocationEntry { os, files, path });
    }
    if let Some(m) = p.max_lag_minutes {
        crate::model::freshness::parse_max_lag(&m.to_string())
            .map_err(|e| at.field("max_lag_minutes").err(e))?;
    }
    Ok(ProductEntry {
        name,
        languages,
        locations,
        ..p
    })
}

fn file(f: FileEntry, at: &At) -> Result<FileEntry> {
    let hash = |h: Option<String>, key: &str, len: usize| -> Result<Option<String>> {
        let Some(h) = h else {
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
        path: at.field("path").check(validate::path(&f.path))?,
        lang: f
            .lang
            .map(|l| at.field("lang").check(validate::lang(&l)))
            .transpose()?,
        md5: hash(f.md5, "md5", 32)?,
        sha1: hash(f.sha1, "sha1", 40)?,
        sha256: hash(f.sha256, "sha256", 64)?,
        sha512: hash(f.sha512, "sha512", 128)?,
        size: f.size,
    })
}

/// Aliases; `products` has the products' names, which no alias may take.
fn aliases(aliases: Vec<AliasEntry>, at: &At, products: &Unique) -> Result<Vec<AliasEntry>> {
    let mut unique = Unique::new("alias");
    let mut out = Vec::new();
    for (i, a) in aliases.into_iter().enumerate() {
        let at = at.index(i).field("name");
        let name = at.check(validate::name("alias", &a.name))?;
        unique.check(name.to_lowercase(), &name, &at)?;
        if products.seen.contains_key(&name.to_lowercase()) {
            return Err(at.err(format!("{name:?} is a product's name too")));
        }
        out.push(AliasEntry { name, ..a });
    }
    Ok(out)
}

fn mirrors(mirrors: Vec<MirrorEntry>, at: &At) -> Result<Vec<MirrorEntry>> {
    let mut unique = Unique::new("mirror");
    // Base URL key → the first mirror with it and its place.
    let mut addresses: HashMap<String, (String, At)> = HashMap::new();
    let mut out = Vec::new();
    for (i, m) in mirrors.into_iter().enumerate() {
        let at = at.index(i);
        let name = at.field("name").check(validate::name("mirror", &m.name))?;
        unique.check(name.to_lowercase(), &name, &at.field("name"))?;
        let base_url = at
            .field("base_url")
            .check(validate::base_url(&m.base_url))?;
        let key = validate::base_url_key(&base_url);
        if let Some((first, first_at)) = addresses.get(&key) {
            return Err(at.field("base_url").err(format!(
                "{base_url} is the base URL of mirror {first:?} ({first_at}) too: two mirrors at one address would get its downloads twice; keep one"
            )));
        }
        addresses.insert(key, (name.clone(), at.clone()));
        let mut regions = Vec::new();
        for (j, r) in m.regions.iter().enumerate() {
            regions.push(
                at.field("regions")
                    .index(j)
                    .check(validate::name("region", r))?,
            );
        }
        out.push(MirrorEntry {
            name,
            base_url,
            contact: at.field("contact").check(validate::contact(&m.contact))?,
            regions,
            families: crate::model::Families::parse(&m.families)
                .ok_or_else(|| at.field("families").err("say both, ipv4 or ipv6"))?
                .as_str()
                .to_string(),
            ..m.clone()
        });
        let audience = m
            .audience()
            .map_err(|(field, e)| at.field(field).err(e.to_string()))?;
        let entry = out.last_mut().expect("pushed above");
        entry.only_countries = audience.only.iter().map(ToString::to_string).collect();
        entry.never_countries = audience.never.iter().map(ToString::to_string).collect();
        entry.networks = audience.networks.iter().map(ToString::to_string).collect();
        entry.max_share = audience.max_share;
        entry.alt_url = at
            .field("alt_url")
            .check(validate::alt_url(&entry.base_url, m.alt_url.as_deref()))?;
        entry.trace = at
            .field("trace")
            .check(validate::trace_path(m.trace.as_deref()))?;
        if crate::model::MirrorKind::parse(&m.kind).is_none() {
            return Err(at.field("kind").err("say mirror or cdn"));
        }
    }
    Ok(out)
}

fn regions(regions: Vec<RegionEntry>, at: &At) -> Result<Vec<RegionEntry>> {
    let mut unique = Unique::new("region");
    let mut out = Vec::new();
    for (i, r) in regions.into_iter().enumerate() {
        let at = at.index(i);
        let name = at.field("name").check(validate::name("region", &r.name))?;
        unique.check(name.to_lowercase(), &name, &at.field("name"))?;
        let mut countries = Vec::new();
        for (j, c) in r.countries.iter().enumerate() {
            countries.push(at.field("countries").index(j).check(validate::country(c))?);
        }
        countries.sort();
        countries.dedup();
        let fallback = r
            .fallback
            .map(|f| {
                at.field("fallback")
                    .check(validate::name("fallback region", &f))
            })
            .transpose()?;
        out.push(RegionEntry {
            name,
            countries,
            fallback,
            ..r
        });
    }
    Ok(out)
}

fn users(users: Vec<UserEntry>, at: &At) -> Result<Vec<UserEntry>> {
    let mut unique = Unique::new("user");
    let mut out = Vec::new();
    for (i, u) in users.into_iter().enumerate() {
        let at = at.index(i);
        let name = at.field("name").check(validate::name("user", &u.name))?;
        unique.check(name.clone(), &name, &at.field("name"))?;
        if Role::parse(&u.role).is_none() {
            return Err(at
                .field("role")
                .err(format!("{:?}: use admin, release or viewer", u.role)));
        }
        if argon2::password_hash::PasswordHash::new(&u.password_hash).is_err() {
            return Err(at
                .field("password_hash")
                .err("not a password hash (a PHC string such as $argon2id$…)"));
        }
        out.push(UserEntry { name, ..u });
    }
    Ok(out)
}

fn settings(settings: BTreeMap<String, String>, at: &At) -> Result<BTreeMap<String, String>> {
    if let Some(key) = settings
        .keys()
        .find(|k| k.trim().is_empty() || k.chars().any(char::is_control))
    {
        return Err(at.key(key).err("a setting needs a printable name"));
    }
    Ok(settings)
}

/// Every day of `days` is a date.
fn days(days: &Days, at: &At) -> Result<()> {
    match days.keys().find(|day| parse_date(day).is_none()) {
        Some(day) => Err(at.key(day).err("not a date: use YYYY-MM-DD")),
        None => Ok(()),
    }
}

fn counts(c: CountsEntry, at: &At) -> Result<CountsEntry> {
    let countries = at.field("countries");
    for (country, by_day) in &c.countries {
        let at = countries.key(country);
        if country != "--" {
            at.check(validate::country(country))?;
        }
        days(by_day, &at)?;
    }
    let locations = at.field("locations");
    for (product, by_os) in &c.locations {
        let at = locations.key(product);
        for (os, by_lang) in by_os {
            let at = at.key(os);
            for (lang, by_day) in by_lang {
                let at = at.key(lang);
                if !lang.is_empty() {
                    at.check(validate::lang(lang))?;
                }
                days(by_day, &at)?;
            }
        }
    }
    for (field, map) in [("mirrors", &c.mirrors), ("products", &c.products)] {
        let at = at.field(field);
        for (name, by_day) in map {
            days(by_day, &at.key(name))?;
        }
    }
    Ok(c)
}
