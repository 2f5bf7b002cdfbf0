//! Importing a checked document: one function per section, called in an
//! order that never leaves the transaction in a state the store refuses
//! (a country in two regions, a fallback cycle, an alias with a product's
//! name, two mirrors at one address). Things that exist under the same
//! name are updated in place, so they keep their ids.

use std::collections::{BTreeMap, HashMap, HashSet};

use super::{
    AliasEntry, At, Config, CountsEntry, FileEntry, Imported, MirrorEntry, ProductEntry,
    RegionEntry, UserEntry, parse_date,
};
use crate::error::Thing;
use crate::error::{Error, Result};
use crate::model::{CountBatch, FileInfo, LocationId, MirrorId, ProductId, Region, User};
use crate::store::{NewMirror, NewProduct, Tx};

/// Makes the configuration in `tx` that of `config`, which
/// [`super::parse`] read (see the module documentation of
/// [`crate::export`]). Refuses a database with a configuration unless
/// `replace`. Errors name the document's place; the caller's transaction
/// is then dropped, so nothing is written.
pub fn apply(tx: &mut Tx, config: &Config, replace: bool) -> Result<Imported> {
    if !replace {
        refuse_a_configuration(tx)?;
    }
    let top = At::top();
    add_oses(tx, &config.oses, &top.field("oses"))?;
    regions(tx, &config.regions, &top.field("regions"))?;
    // Aliases the document lacks go first: one may have a new product's name.
    remove_aliases(tx, &config.aliases)?;
    products(tx, &config.products, &top.field("products"))?;
    aliases_and_removed_products(tx, config, &top.field("aliases"))?;
    let files = files(tx, config, &top)?;
    mirrors(tx, &config.mirrors, &top.field("mirrors"))?;
    // No mirror serves a region the document lacks any more.
    remove_regions(tx, &config.regions)?;
    users(tx, &config.users, &top.field("users"))?;
    settings(tx, &config.settings)?;
    // No location uses an operating system the document lacks any more.
    remove_oses(tx, &config.oses, &top.field("oses"))?;
    let count_days = config
        .counts
        .as_ref()
        .map(|c| counts(tx, c, &top.field("counts")))
        .transpose()?;

    let done = Imported {
        products: config.products.len(),
        locations: config.products.iter().map(|p| p.locations.len()).sum(),
        files,
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

/// Refuses a database that has any configuration.
fn refuse_a_configuration(tx: &mut Tx) -> Result<()> {
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
    if have.is_empty() {
        return Ok(());
    }
    Err(Error::InUse {
        detail: format!(
            "the database has a configuration already ({}): import into an empty database, or add --replace to make its configuration the file's",
            have.join(", ")
        ),
    })
}

/// Operating systems the locations need; extras go at the end.
fn add_oses(tx: &mut Tx, oses: &[String], at: &At) -> Result<()> {
    let before = tx.oses()?;
    for (i, os) in oses.iter().enumerate() {
        if !before.contains(os) {
            at.index(i).check(tx.os_add(os))?;
        }
    }
    Ok(())
}

fn remove_oses(tx: &mut Tx, oses: &[String], at: &At) -> Result<()> {
    for os in tx.oses()? {
        if !oses.contains(&os) {
            at.check(tx.os_remove(&os))?;
        }
    }
    Ok(())
}

fn region_key(name: &str) -> String {
    name.trim().to_lowercase()
}

fn same_region(a: Option<&str>, b: Option<&str>) -> bool {
    a.map(region_key) == b.map(region_key)
}

/// Regions, in three passes so that no intermediate state shares a
/// country or makes a fallback cycle: first every region keeps only the
/// countries (and the fallback) it will have, then every region gets its
/// countries, then its fallback. Regions the document lacks stay until
/// [`remove_regions`]: mirrors may still serve them.
fn regions(tx: &mut Tx, regions: &[RegionEntry], at: &At) -> Result<()> {
    let wanted: HashMap<String, &RegionEntry> =
        regions.iter().map(|r| (region_key(&r.name), r)).collect();
    for r in tx.regions()? {
        let want = wanted.get(&region_key(&r.name));
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
    for (i, w) in regions.iter().enumerate() {
        let at = at.index(i);
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
    for (i, w) in regions.iter().enumerate() {
        let current = tx.region(&w.name)?.and_then(|r| r.fallback);
        if !same_region(current.as_deref(), w.fallback.as_deref()) {
            at.index(i)
                .field("fallback")
                .check(tx.region_update(&w.name, |x| x.fallback = w.fallback.clone()))?;
        }
    }
    Ok(())
}

fn remove_regions(tx: &mut Tx, regions: &[RegionEntry]) -> Result<()> {
    let wanted: HashSet<String> = regions.iter().map(|r| region_key(&r.name)).collect();
    for r in tx.regions()? {
        if !wanted.contains(&region_key(&r.name)) {
            tx.region_remove(&r.name)?;
        }
    }
    Ok(())
}

fn remove_aliases(tx: &mut Tx, aliases: &[AliasEntry]) -> Result<()> {
    let keys: HashSet<String> = aliases.iter().map(|a| a.name.to_lowercase()).collect();
    for a in tx.alias_list()? {
        if !keys.contains(&a.name.to_lowercase()) {
            tx.alias_remove(&a.name)?;
        }
    }
    Ok(())
}

/// Products and their locations (products the document lacks go in
/// [`aliases_and_removed_products`]).
fn products(tx: &mut Tx, products: &[ProductEntry], at: &At) -> Result<()> {
    for (i, w) in products.iter().enumerate() {
        let at = at.index(i);
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
            p.max_lag_minutes = w.max_lag_minutes;
            p.languages = w.languages.clone();
        }))?;
        let product = tx
            .product(&w.name)?
            .ok_or_else(|| Error::not_found(Thing::Product, &w.name))?;
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
    Ok(())
}

/// Aliases that exist are pointed at their products; products the
/// document lacks are removed (no alias points at them any more); then
/// new aliases, which may take a removed product's name.
fn aliases_and_removed_products(tx: &mut Tx, config: &Config, at: &At) -> Result<()> {
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
            at.index(i).check(tx.alias_set(&a.name, &a.product))?;
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
            at.index(i).check(tx.alias_set(&a.name, &a.product))?;
        }
    }
    Ok(())
}

/// Files: exactly the document's (its locations' and its loose ones).
/// Returns how many.
fn files(tx: &mut Tx, config: &Config, top: &At) -> Result<usize> {
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
    let mut wanted: Vec<(At, FileInfo)> = Vec::new();
    let products_at = top.field("products");
    for (i, p) in config.products.iter().enumerate() {
        for (j, l) in p.locations.iter().enumerate() {
            let id = location_ids
                .get(&(p.name.to_lowercase(), l.os.clone()))
                .copied();
            let at = products_at.index(i).field("locations").index(j);
            for (k, f) in l.files.iter().enumerate() {
                wanted.push((at.field("files").index(k), as_info(f, id)));
            }
        }
    }
    for (i, f) in config.files.iter().enumerate() {
        wanted.push((top.field("files").index(i), as_info(f, None)));
    }
    let wanted_paths: HashSet<&str> = wanted.iter().map(|(_, f)| f.path.as_str()).collect();
    let current = tx.files()?;
    for f in &current {
        if !wanted_paths.contains(f.path.as_str()) {
            tx.file_remove(&f.path)?;
        }
    }
    let current: HashMap<&str, &FileInfo> = current.iter().map(|f| (f.path.as_str(), f)).collect();
    for (at, f) in &wanted {
        if current.get(f.path.as_str()) != Some(&f) {
            at.check(tx.file_put(f))?;
        }
    }
    Ok(wanted.len())
}

/// Mirrors the document lacks go first (a mirror of the document may have
/// the address of one of them), then the document's (their regions exist
/// now).
fn mirrors(tx: &mut Tx, mirrors: &[MirrorEntry], at: &At) -> Result<()> {
    let keys: HashSet<String> = mirrors.iter().map(|m| m.name.to_lowercase()).collect();
    for m in tx.mirrors()? {
        if !keys.contains(&m.name.to_lowercase()) {
            tx.mirror_remove(&m.name)?;
        }
    }
    // A mirror moving to an address another mirror of the document leaves
    // waits for it to leave; a mirror whose address another still has
    // after that (two swapping addresses) is refused by the store.
    let mut pending: Vec<usize> = (0..mirrors.len()).collect();
    while !pending.is_empty() {
        let current = tx.mirrors()?;
        let (ready, waiting): (Vec<usize>, Vec<usize>) = pending.iter().partition(|&&i| {
            let w = &mirrors[i];
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
            mirror(tx, &mirrors[i], &at.index(i))?;
        }
        pending = if stuck {
            waiting.into_iter().skip(1).collect()
        } else {
            waiting
        };
    }
    Ok(())
}

/// Adds or updates one mirror.
fn mirror(tx: &mut Tx, w: &MirrorEntry, at: &At) -> Result<()> {
    let placed = |e: Error| match e {
        Error::BaseUrlTaken { .. } => at.field("base_url").err(e),
        e => at.err(e),
    };
    // Checked before (`check`): anything else reads as both.
    let families = crate::model::Families::parse(&w.families).unwrap_or_default();
    let audience = w.audience().unwrap_or_default();
    let kind = crate::model::MirrorKind::parse(&w.kind).unwrap_or_default();
    if tx.mirror(&w.name)?.is_some() {
        tx.mirror_update(&w.name, |m| {
            m.base_url = w.base_url.clone();
            m.rating = w.rating;
            m.active = w.active;
            m.regions = w.regions.clone();
            m.contact = w.contact.clone();
            m.families = families;
            m.audience = audience;
            m.alt_url = w.alt_url.clone();
            m.trace = w.trace.clone();
            m.kind = kind;
        })
        .map_err(placed)?;
    } else {
        tx.mirror_add(NewMirror {
            name: w.name.clone(),
            base_url: w.base_url.clone(),
            rating: w.rating,
            regions: w.regions.clone(),
            contact: w.contact.clone(),
            inactive: !w.active,
            families,
            audience,
            alt_url: w.alt_url.clone(),
            trace: w.trace.clone(),
            kind,
        })
        .map_err(placed)?;
    }
    Ok(())
}

fn users(tx: &mut Tx, users: &[UserEntry], at: &At) -> Result<()> {
    for (i, w) in users.iter().enumerate() {
        let at = at.index(i);
        let role = crate::model::Role::parse(&w.role)
            .ok_or_else(|| at.field("role").err("unknown role"))?;
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
        at.check(tx.user_put(&user, action))?;
    }
    for u in tx.users()? {
        if !users.iter().any(|w| w.name == u.name) {
            tx.user_remove(&u.name)?;
        }
    }
    Ok(())
}

fn settings(tx: &mut Tx, settings: &BTreeMap<String, String>) -> Result<()> {
    let current = tx.settings()?;
    for (k, v) in settings {
        if current.get(k) != Some(v) {
            tx.setting_put(k, Some(v))?;
        }
    }
    for k in current.keys() {
        if !settings.contains_key(k) {
            tx.setting_put(k, None)?;
        }
    }
    Ok(())
}

/// Replaces every download count with the document's; returns the number
/// of days.
fn counts(tx: &mut Tx, c: &CountsEntry, at: &At) -> Result<usize> {
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
