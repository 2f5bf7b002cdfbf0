//! The only code that touches redb. Everything else sees typed operations:
//! [`Store::snapshot`] reads the whole network configuration in one read
//! transaction, [`Store::write`] runs typed mutations in one write
//! transaction that is recorded in the audit log and commits durably.

mod migrate;
mod rows;
mod tables;

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use redb::{Database, ReadableDatabase, ReadableTable, WriteTransaction};

pub use migrate::SCHEMA_VERSION;
use rows::{decode, encode};
use tables::*;

use crate::error::{Error, Result};
use crate::model::*;

macro_rules! storage_errors {
    ($($t:ty),*) => {$(
        impl From<$t> for Error {
            fn from(e: $t) -> Error {
                Error::Storage(e.to_string())
            }
        }
    )*};
}
storage_errors!(
    redb::Error,
    redb::StorageError,
    redb::TableError,
    redb::TransactionError,
    redb::CommitError,
    redb::DatabaseError
);

/// redb's page cache.
const CACHE_BYTES: usize = 64 << 20;

/// An open Bouncer database.
pub struct Store {
    db: Database,
    path: PathBuf,
}

/// The network's configuration and sentry state, read in one transaction:
/// what the index is built from and what `list` commands show.
#[derive(Debug, Default, Clone)]
pub struct Snapshot {
    /// All products, by id.
    pub products: Vec<Product>,
    /// All aliases.
    pub aliases: Vec<Alias>,
    /// Operating system names, sorted.
    pub oses: Vec<String>,
    /// All locations, by id.
    pub locations: Vec<Location>,
    /// All mirrors, by id.
    pub mirrors: Vec<Mirror>,
    /// Sentry's view of each mirror (absent: never checked).
    pub health: HashMap<MirrorId, MirrorHealth>,
    /// Known files, by path.
    pub files: Vec<FileInfo>,
    /// All regions.
    pub regions: Vec<Region>,
    /// Operator settings.
    pub settings: std::collections::BTreeMap<String, String>,
}

impl Snapshot {
    /// The product with this name (case-insensitive).
    pub fn product(&self, name: &str) -> Option<&Product> {
        self.products
            .iter()
            .find(|p| p.name.eq_ignore_ascii_case(name))
    }

    /// The product with this id.
    pub fn product_by_id(&self, id: ProductId) -> Option<&Product> {
        self.products.iter().find(|p| p.id == id)
    }

    /// The mirror with this name (case-insensitive).
    pub fn mirror(&self, name: &str) -> Option<&Mirror> {
        self.mirrors
            .iter()
            .find(|m| m.name.eq_ignore_ascii_case(name))
    }
}

impl Store {
    /// Opens (or creates) the database at `path`, migrating an older schema
    /// and refusing a newer one.
    pub fn open(path: &Path) -> Result<Store> {
        // redb's default 1 GiB page cache would keep most of a large
        // availability table in memory after every index build; the index
        // holds what the redirect path needs, so a modest cache suffices.
        let db = redb::Builder::new()
            .set_cache_size(CACHE_BYTES)
            .create(path)
            .map_err(|e| match e {
                redb::DatabaseError::DatabaseAlreadyOpen => Error::Busy {
                    path: path.display().to_string(),
                },
                e => Error::Storage(format!("cannot open {}: {e}", path.display())),
            })?;
        let txn = db.begin_write()?;
        migrate::upgrade(&txn)?;
        create_tables(&txn)?;
        txn.commit()?;
        Ok(Store {
            db,
            path: path.to_path_buf(),
        })
    }

    /// Where the database file is.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The schema version stored in the file.
    pub fn schema_version(&self) -> Result<u64> {
        let txn = self.db.begin_read()?;
        let meta = txn.open_table(META)?;
        Ok(meta.get("schema_version")?.map(|v| v.value()).unwrap_or(0))
    }

    /// Whether the database answers a read (for health checks).
    pub fn ping(&self) -> Result<()> {
        self.schema_version().map(|_| ())
    }

    /// Reads the whole configuration and mirror health (not availability,
    /// which can be millions of rows: see [`Store::read_network`]).
    pub fn snapshot(&self) -> Result<Snapshot> {
        let txn = self.db.begin_read()?;
        read_snapshot(&txn)
    }

    /// Reads the configuration, hands it to `config` for a visitor, and, in
    /// the same transaction, calls `serving` with the visitor
    /// for every (location, mirror) whose availability says it serves the
    /// file. Streams: nothing per row is kept, so a network of millions of
    /// availability rows builds an index in little memory.
    pub fn read_network<V>(
        &self,
        config: impl FnOnce(&Snapshot) -> V,
        mut serving: impl FnMut(&mut V, LocationId, MirrorId),
    ) -> Result<V> {
        let txn = self.db.begin_read()?;
        let mut visitor = config(&read_snapshot(&txn)?);
        for row in txn.open_table(AVAILABILITY)?.iter()? {
            let (k, v) = row?;
            if rows::availability_serves(v.value())? {
                let (loc, mirror) = k.value();
                serving(&mut visitor, LocationId(loc), MirrorId(mirror));
            }
        }
        Ok(visitor)
    }

    /// Everything sentry knows about one location, by mirror.
    pub fn availability_of(&self, location: LocationId) -> Result<Vec<(MirrorId, Availability)>> {
        let txn = self.db.begin_read()?;
        let mut out = Vec::new();
        for row in txn
            .open_table(AVAILABILITY)?
            .range((location.0, 0)..=(location.0, u64::MAX))?
        {
            let (k, v) = row?;
            out.push((MirrorId(k.value().1), decode(v.value())?));
        }
        Ok(out)
    }

    /// Runs `f` in one write transaction on behalf of `actor` (recorded in
    /// the audit log) and commits durably. Nothing is written if `f` fails.
    pub fn write<T>(&self, actor: &str, f: impl FnOnce(&mut Tx<'_>) -> Result<T>) -> Result<T> {
        let mut tx = Tx {
            txn: self.db.begin_write()?,
            actor,
            now: now(),
        };
        let out = f(&mut tx)?;
        tx.txn.commit()?;
        Ok(out)
    }

    /// Adds a batch of download counts in one write transaction.
    pub fn add_counts(&self, batch: &CountBatch) -> Result<()> {
        let txn = self.db.begin_write()?;
        {
            let day = batch.day;
            let mut t = txn.open_table(COUNT_PRODUCT)?;
            for (id, n) in &batch.products {
                let old = t.get((day, id.0))?.map(|v| v.value()).unwrap_or(0);
                t.insert((day, id.0), old + n)?;
            }
            let mut t = txn.open_table(COUNT_LOCATION)?;
            for (id, lang, n) in &batch.locations {
                let key = (day, id.0, lang.as_str());
                let old = t.get(key)?.map(|v| v.value()).unwrap_or(0);
                t.insert(key, old + n)?;
            }
            let mut t = txn.open_table(COUNT_MIRROR)?;
            for (id, n) in &batch.mirrors {
                let old = t.get((day, id.0))?.map(|v| v.value()).unwrap_or(0);
                t.insert((day, id.0), old + n)?;
            }
            let mut t = txn.open_table(COUNT_COUNTRY)?;
            for (country, n) in &batch.countries {
                let key = (day, country.as_str());
                let old = t.get(key)?.map(|v| v.value()).unwrap_or(0);
                t.insert(key, old + n)?;
            }
        }
        txn.commit()?;
        Ok(())
    }

    /// Downloads per product over the days `from..=to`, summed.
    pub fn downloads_by_product(&self, from: u32, to: u32) -> Result<HashMap<ProductId, u64>> {
        let txn = self.db.begin_read()?;
        let mut out = HashMap::new();
        for row in txn
            .open_table(COUNT_PRODUCT)?
            .range((from, 0)..=(to, u64::MAX))?
        {
            let (k, v) = row?;
            *out.entry(ProductId(k.value().1)).or_default() += v.value();
        }
        Ok(out)
    }

    /// Downloads per mirror over the days `from..=to`, summed.
    pub fn downloads_by_mirror(&self, from: u32, to: u32) -> Result<HashMap<MirrorId, u64>> {
        let txn = self.db.begin_read()?;
        let mut out = HashMap::new();
        for row in txn
            .open_table(COUNT_MIRROR)?
            .range((from, 0)..=(to, u64::MAX))?
        {
            let (k, v) = row?;
            *out.entry(MirrorId(k.value().1)).or_default() += v.value();
        }
        Ok(out)
    }

    /// Downloads per (location, language) over the days `from..=to`.
    pub fn downloads_by_location(
        &self,
        from: u32,
        to: u32,
    ) -> Result<HashMap<(LocationId, String), u64>> {
        let txn = self.db.begin_read()?;
        let mut out = HashMap::new();
        for row in txn
            .open_table(COUNT_LOCATION)?
            .range((from, 0, "")..(to + 1, 0, ""))?
        {
            let (k, v) = row?;
            let (_, loc, lang) = k.value();
            *out.entry((LocationId(loc), lang.to_string())).or_default() += v.value();
        }
        Ok(out)
    }

    /// All users, by name.
    pub fn users(&self) -> Result<Vec<User>> {
        let txn = self.db.begin_read()?;
        let mut out = Vec::new();
        for row in txn.open_table(USERS)?.iter()? {
            out.push(decode(row?.1.value())?);
        }
        Ok(out)
    }

    /// The newest `limit` sentry runs, newest first.
    pub fn sentry_runs(&self, limit: usize) -> Result<Vec<SentryRun>> {
        let txn = self.db.begin_read()?;
        let mut out = Vec::new();
        for row in txn.open_table(SENTRY_RUNS)?.iter()?.rev().take(limit) {
            out.push(decode(row?.1.value())?);
        }
        Ok(out)
    }

    /// Every operator setting.
    pub fn settings(&self) -> Result<std::collections::BTreeMap<String, String>> {
        let txn = self.db.begin_read()?;
        let mut out = std::collections::BTreeMap::new();
        for row in txn.open_table(SETTINGS)?.iter()? {
            let (k, v) = row?;
            out.insert(k.value().to_string(), v.value().to_string());
        }
        Ok(out)
    }

    /// The (location, mirror) pairs sentry has checked.
    pub fn checked_pairs(&self) -> Result<std::collections::HashSet<(LocationId, MirrorId)>> {
        let txn = self.db.begin_read()?;
        let mut out = std::collections::HashSet::new();
        for row in txn.open_table(AVAILABILITY)?.iter()? {
            let (l, m) = row?.0.value();
            out.insert((LocationId(l), MirrorId(m)));
        }
        Ok(out)
    }

    /// The newest `limit` audit events, newest first.
    pub fn events(&self, limit: usize) -> Result<Vec<Event>> {
        let txn = self.db.begin_read()?;
        let mut out = Vec::new();
        for row in txn.open_table(EVENTS)?.iter()?.rev().take(limit) {
            out.push(decode(row?.1.value())?);
        }
        Ok(out)
    }

    /// The database file's size in bytes.
    pub fn file_size(&self) -> Result<u64> {
        std::fs::metadata(&self.path)
            .map(|m| m.len())
            .map_err(|e| Error::io(format!("cannot stat {}", self.path.display()), e))
    }
}

/// Reads the configuration tables in `txn`.
fn read_snapshot(txn: &redb::ReadTransaction) -> Result<Snapshot> {
    let mut s = Snapshot::default();
    for row in txn.open_table(PRODUCTS)?.iter()? {
        s.products.push(decode(row?.1.value())?);
    }
    for row in txn.open_table(ALIASES)?.iter()? {
        s.aliases.push(decode(row?.1.value())?);
    }
    for row in txn.open_table(OSES)?.iter()? {
        s.oses.push(row?.0.value().to_string());
    }
    for row in txn.open_table(LOCATIONS)?.iter()? {
        s.locations.push(decode(row?.1.value())?);
    }
    for row in txn.open_table(MIRRORS)?.iter()? {
        s.mirrors.push(decode(row?.1.value())?);
    }
    for row in txn.open_table(MIRROR_HEALTH)?.iter()? {
        let (k, v) = row?;
        s.health.insert(MirrorId(k.value()), decode(v.value())?);
    }
    for row in txn.open_table(FILES)?.iter()? {
        s.files.push(decode(row?.1.value())?);
    }
    for row in txn.open_table(REGIONS)?.iter()? {
        s.regions.push(decode(row?.1.value())?);
    }
    for row in txn.open_table(SETTINGS)?.iter()? {
        let (k, v) = row?;
        s.settings
            .insert(k.value().to_string(), v.value().to_string());
    }
    Ok(s)
}

/// Creates every table so that read transactions never meet a missing one.
fn create_tables(txn: &WriteTransaction) -> Result<()> {
    txn.open_table(PRODUCTS)?;
    txn.open_table(PRODUCT_NAMES)?;
    txn.open_table(ALIASES)?;
    txn.open_table(OSES)?;
    txn.open_table(LOCATIONS)?;
    txn.open_table(LOCATION_KEYS)?;
    txn.open_table(FILES)?;
    txn.open_table(MIRRORS)?;
    txn.open_table(MIRROR_NAMES)?;
    txn.open_table(MIRROR_HEALTH)?;
    txn.open_table(AVAILABILITY)?;
    txn.open_table(REGIONS)?;
    txn.open_table(USERS)?;
    txn.open_table(SENTRY_RUNS)?;
    txn.open_table(EVENTS)?;
    txn.open_table(SETTINGS)?;
    txn.open_table(COUNT_PRODUCT)?;
    txn.open_table(COUNT_LOCATION)?;
    txn.open_table(COUNT_MIRROR)?;
    txn.open_table(COUNT_COUNTRY)?;
    Ok(())
}

/// What a new product starts with.
#[derive(Clone, Debug, Default)]
pub struct NewProduct {
    /// Its name.
    pub name: String,
    /// Languages (empty: all).
    pub languages: Vec<String>,
    /// https mirrors only.
    pub ssl_only: bool,
    /// Hidden from public pages and feeds.
    pub private: bool,
}

/// What a new mirror starts with.
#[derive(Clone, Debug, Default)]
pub struct NewMirror {
    /// Its name.
    pub name: String,
    /// Its root URL.
    pub base_url: String,
    /// Selection weight.
    pub rating: u32,
    /// Regions it serves.
    pub regions: Vec<String>,
    /// Contact e-mail.
    pub contact: String,
    /// Added switched off.
    pub inactive: bool,
}

/// One write transaction in progress. Every mutation validates its input,
/// and every operator-visible change is recorded in the audit log.
pub struct Tx<'a> {
    txn: WriteTransaction,
    actor: &'a str,
    now: u64,
}

impl Tx<'_> {
    /// Unix time of this transaction.
    pub fn now(&self) -> u64 {
        self.now
    }

    fn next_id(&self, sequence: &str) -> Result<u64> {
        let mut meta = self.txn.open_table(META)?;
        let id = meta.get(sequence)?.map(|v| v.value()).unwrap_or(1);
        meta.insert(sequence, id + 1)?;
        Ok(id)
    }

    /// Appends an entry to the audit log.
    pub fn record(&mut self, action: &str, detail: String) -> Result<()> {
        let id = self.next_id("next_event")?;
        let event = Event {
            id,
            at: self.now,
            actor: self.actor.to_string(),
            action: action.to_string(),
            detail,
        };
        self.txn
            .open_table(EVENTS)?
            .insert(id, encode(&event).as_slice())?;
        Ok(())
    }

    // ----- products -----

    /// The product with this name (case-insensitive).
    pub fn product(&self, name: &str) -> Result<Option<Product>> {
        let names = self.txn.open_table(PRODUCT_NAMES)?;
        let Some(id) = names.get(name.to_lowercase().as_str())?.map(|v| v.value()) else {
            return Ok(None);
        };
        self.product_by_id(ProductId(id))
    }

    fn product_by_id(&self, id: ProductId) -> Result<Option<Product>> {
        let products = self.txn.open_table(PRODUCTS)?;
        let row = products.get(id.0)?;
        row.map(|v| decode(v.value())).transpose()
    }

    fn require_product(&self, name: &str) -> Result<Product> {
        self.product(name)?
            .ok_or_else(|| Error::not_found("product", name))
    }

    /// Adds a product.
    pub fn product_add(&mut self, new: NewProduct) -> Result<Product> {
        let name = crate::validate::name("product", &new.name)?;
        let mut languages = Vec::new();
        for l in &new.languages {
            let l = crate::validate::lang(l)?;
            if !languages
                .iter()
                .any(|x: &String| x.eq_ignore_ascii_case(&l))
            {
                languages.push(l);
            }
        }
        if self.product(&name)?.is_some() {
            return Err(Error::exists("product", &name));
        }
        if self.alias(&name)?.is_some() {
            return Err(Error::InUse {
                detail: format!("{name:?} is an alias; a product may not have an alias's name"),
            });
        }
        let product = Product {
            id: ProductId(self.next_id("next_product")?),
            name,
            ssl_only: new.ssl_only,
            public: !new.private,
            active: true,
            checknow: true,
            priority: 0,
            languages,
            created_at: self.now,
        };
        self.put_product(&product)?;
        self.record(
            "product.add",
            format!(
                "{} languages=[{}] ssl_only={} public={}",
                product.name,
                product.languages.join(","),
                product.ssl_only,
                product.public
            ),
        )?;
        Ok(product)
    }

    fn put_product(&mut self, p: &Product) -> Result<()> {
        self.txn
            .open_table(PRODUCTS)?
            .insert(p.id.0, encode(p).as_slice())?;
        self.txn
            .open_table(PRODUCT_NAMES)?
            .insert(p.name.to_lowercase().as_str(), p.id.0)?;
        Ok(())
    }

    /// Changes a product's flags or languages (not its name).
    pub fn product_update(
        &mut self,
        name: &str,
        change: impl FnOnce(&mut Product),
    ) -> Result<Product> {
        let old = self.require_product(name)?;
        let mut new = old.clone();
        change(&mut new);
        new.id = old.id;
        new.name = old.name.clone();
        let mut languages: Vec<String> = Vec::new();
        for l in &new.languages {
            let l = crate::validate::lang(l)?;
            if !languages.iter().any(|x| x.eq_ignore_ascii_case(&l)) {
                languages.push(l);
            }
        }
        // A new language means new files on every mirror: check them soon.
        if languages
            .iter()
            .any(|l| !old.languages.iter().any(|o| o.eq_ignore_ascii_case(l)))
            && !old.languages.is_empty()
        {
            new.checknow = true;
        }
        new.languages = languages;
        self.put_product(&new)?;
        self.record("product.update", describe_change(&old.name, &old, &new))?;
        Ok(new)
    }

    /// Removes a product with its locations, files and availability.
    /// Refused while an alias points at it.
    pub fn product_remove(&mut self, name: &str) -> Result<Product> {
        let product = self.require_product(name)?;
        let aliases: Vec<String> = self
            .aliases()?
            .into_iter()
            .filter(|a| a.product == product.id)
            .map(|a| a.name)
            .collect();
        if !aliases.is_empty() {
            return Err(Error::InUse {
                detail: format!(
                    "product {:?} is the target of alias(es) {}: point them elsewhere (`bouncer alias set`) first",
                    product.name,
                    aliases.join(", ")
                ),
            });
        }
        for loc in self.locations_of(product.id)? {
            self.delete_location(&loc)?;
        }
        self.txn.open_table(PRODUCTS)?.remove(product.id.0)?;
        self.txn
            .open_table(PRODUCT_NAMES)?
            .remove(product.name.to_lowercase().as_str())?;
        self.record("product.remove", product.name.clone())?;
        Ok(product)
    }

    // ----- aliases -----

    fn alias(&self, name: &str) -> Result<Option<Alias>> {
        let t = self.txn.open_table(ALIASES)?;
        let row = t.get(name.to_lowercase().as_str())?;
        row.map(|v| decode(v.value())).transpose()
    }

    fn aliases(&self) -> Result<Vec<Alias>> {
        let mut out = Vec::new();
        for row in self.txn.open_table(ALIASES)?.iter()? {
            out.push(decode(row?.1.value())?);
        }
        Ok(out)
    }

    /// Points `alias` at `product`, creating the alias if needed. Returns
    /// the product it pointed at before, if any.
    pub fn alias_set(&mut self, alias: &str, product: &str) -> Result<Option<ProductId>> {
        let alias = crate::validate::name("alias", alias)?;
        let target = self.require_product(product)?;
        if self.product(&alias)?.is_some() {
            return Err(Error::InUse {
                detail: format!("{alias:?} is a product name; an alias may not equal a product"),
            });
        }
        let before = self.alias(&alias)?.map(|a| a.product);
        let row = Alias {
            name: alias.clone(),
            product: target.id,
        };
        self.txn
            .open_table(ALIASES)?
            .insert(alias.to_lowercase().as_str(), encode(&row).as_slice())?;
        self.record("alias.set", format!("{alias} -> {}", target.name))?;
        Ok(before)
    }

    /// Removes an alias.
    pub fn alias_remove(&mut self, alias: &str) -> Result<()> {
        if self
            .txn
            .open_table(ALIASES)?
            .remove(alias.to_lowercase().as_str())?
            .is_none()
        {
            return Err(Error::not_found("alias", alias));
        }
        self.record("alias.remove", alias.to_string())
    }

    // ----- operating systems -----

    /// Adds an operating system name.
    pub fn os_add(&mut self, name: &str) -> Result<String> {
        let os = crate::validate::os(name)?;
        let mut t = self.txn.open_table(OSES)?;
        if t.get(os.as_str())?.is_some() {
            return Err(Error::exists("operating system", &os));
        }
        t.insert(os.as_str(), self.now)?;
        drop(t);
        self.record("os.add", os.clone())?;
        Ok(os)
    }

    /// Removes an operating system; refused while locations use it.
    pub fn os_remove(&mut self, name: &str) -> Result<()> {
        let os = name.trim().to_ascii_lowercase();
        let users = self
            .all_locations()?
            .into_iter()
            .filter(|l| l.os == os)
            .count();
        if users > 0 {
            return Err(Error::InUse {
                detail: format!(
                    "{users} location(s) use operating system {os:?}: remove them first (`bouncer location list`)"
                ),
            });
        }
        if self.txn.open_table(OSES)?.remove(os.as_str())?.is_none() {
            return Err(Error::not_found("operating system", name));
        }
        self.record("os.remove", os)
    }

    fn require_os(&self, name: &str) -> Result<String> {
        let os = name.trim().to_ascii_lowercase();
        if self.txn.open_table(OSES)?.get(os.as_str())?.is_none() {
            return Err(Error::not_found("operating system", name));
        }
        Ok(os)
    }

    // ----- locations and files -----

    fn all_locations(&self) -> Result<Vec<Location>> {
        let mut out = Vec::new();
        for row in self.txn.open_table(LOCATIONS)?.iter()? {
            out.push(decode(row?.1.value())?);
        }
        Ok(out)
    }

    fn locations_of(&self, product: ProductId) -> Result<Vec<Location>> {
        let keys = self.txn.open_table(LOCATION_KEYS)?;
        let locations = self.txn.open_table(LOCATIONS)?;
        let mut out = Vec::new();
        for row in keys.range((product.0, "")..(product.0 + 1, ""))? {
            let id = row?.1.value();
            if let Some(v) = locations.get(id)? {
                out.push(decode(v.value())?);
            }
        }
        Ok(out)
    }

    /// The location of `product` for `os`.
    pub fn location(&self, product: &str, os: &str) -> Result<Option<Location>> {
        let product = self.require_product(product)?;
        let os = os.trim().to_ascii_lowercase();
        let keys = self.txn.open_table(LOCATION_KEYS)?;
        let Some(id) = keys.get((product.id.0, os.as_str()))?.map(|v| v.value()) else {
            return Ok(None);
        };
        let locations = self.txn.open_table(LOCATIONS)?;
        let row = locations.get(id)?;
        row.map(|v| decode(v.value())).transpose()
    }

    /// Adds the location of `product` for `os`.
    pub fn location_add(&mut self, product: &str, os: &str, path: &str) -> Result<Location> {
        let product = self.require_product(product)?;
        let os = self.require_os(os)?;
        let path = crate::validate::path(path)?;
        if self.location(&product.name, &os)?.is_some() {
            return Err(Error::exists(
                "location",
                &format!("{} for {os}", product.name),
            ));
        }
        let location = Location {
            id: LocationId(self.next_id("next_location")?),
            product: product.id,
            os: os.clone(),
            path,
            created_at: self.now,
        };
        self.txn
            .open_table(LOCATIONS)?
            .insert(location.id.0, encode(&location).as_slice())?;
        self.txn
            .open_table(LOCATION_KEYS)?
            .insert((product.id.0, os.as_str()), location.id.0)?;
        self.record(
            "location.add",
            format!("{} {} {}", product.name, os, location.path),
        )?;
        Ok(location)
    }

    /// Changes a location's path. Sentry's findings for the old path are
    /// dropped: the new path has not been checked.
    pub fn location_set_path(&mut self, product: &str, os: &str, path: &str) -> Result<Location> {
        let path = crate::validate::path(path)?;
        let mut location = self
            .location(product, os)?
            .ok_or_else(|| Error::not_found("location", &format!("{product} for {os}")))?;
        let old = std::mem::replace(&mut location.path, path);
        location.created_at = self.now;
        self.clear_availability(location.id)?;
        // Files of the old path no longer belong to it.
        self.drop_files_of(location.id)?;
        self.txn
            .open_table(LOCATIONS)?
            .insert(location.id.0, encode(&location).as_slice())?;
        self.record(
            "location.modify",
            format!("{product} {os}: {old} -> {}", location.path),
        )?;
        Ok(location)
    }

    /// Removes the location of `product` for `os`, with its availability.
    pub fn location_remove(&mut self, product: &str, os: &str) -> Result<Location> {
        let location = self
            .location(product, os)?
            .ok_or_else(|| Error::not_found("location", &format!("{product} for {os}")))?;
        self.delete_location(&location)?;
        self.record(
            "location.remove",
            format!("{product} {} {}", location.os, location.path),
        )?;
        Ok(location)
    }

    fn delete_location(&mut self, location: &Location) -> Result<()> {
        self.clear_availability(location.id)?;
        self.txn.open_table(LOCATIONS)?.remove(location.id.0)?;
        self.txn
            .open_table(LOCATION_KEYS)?
            .remove((location.product.0, location.os.as_str()))?;
        self.drop_files_of(location.id)
    }

    fn drop_files_of(&mut self, location: LocationId) -> Result<()> {
        let mut files = self.txn.open_table(FILES)?;
        files
            .retain(|_, v| decode::<FileInfo>(v).map_or(true, |f| f.location != Some(location)))?;
        Ok(())
    }

    fn clear_availability(&mut self, location: LocationId) -> Result<()> {
        let mut t = self.txn.open_table(AVAILABILITY)?;
        t.retain_in((location.0, 0)..=(location.0, u64::MAX), |_, _| false)?;
        Ok(())
    }

    /// The file stored at `path`.
    pub fn file(&self, path: &str) -> Result<Option<FileInfo>> {
        let t = self.txn.open_table(FILES)?;
        let row = t.get(path)?;
        row.map(|v| decode(v.value())).transpose()
    }

    /// Stores a file's size and hashes (replacing what was known).
    pub fn file_put(&mut self, file: &FileInfo) -> Result<()> {
        crate::validate::path(&file.path)?;
        self.txn
            .open_table(FILES)?
            .insert(file.path.as_str(), encode(file).as_slice())?;
        Ok(())
    }

    // ----- mirrors -----

    /// The mirror with this name (case-insensitive).
    pub fn mirror(&self, name: &str) -> Result<Option<Mirror>> {
        let names = self.txn.open_table(MIRROR_NAMES)?;
        let Some(id) = names.get(name.to_lowercase().as_str())?.map(|v| v.value()) else {
            return Ok(None);
        };
        let mirrors = self.txn.open_table(MIRRORS)?;
        let row = mirrors.get(id)?;
        row.map(|v| decode(v.value())).transpose()
    }

    fn require_mirror(&self, name: &str) -> Result<Mirror> {
        self.mirror(name)?
            .ok_or_else(|| Error::not_found("mirror", name))
    }

    fn check_regions(&self, regions: &[String]) -> Result<Vec<String>> {
        let t = self.txn.open_table(REGIONS)?;
        let mut out: Vec<String> = Vec::new();
        for r in regions {
            let r = crate::validate::name("region", r)?;
            if t.get(r.as_str())?.is_none() {
                return Err(Error::not_found("region", &r));
            }
            if !out.contains(&r) {
                out.push(r);
            }
        }
        Ok(out)
    }

    /// Adds a mirror. It gets no traffic until sentry finds its files.
    pub fn mirror_add(&mut self, new: NewMirror) -> Result<Mirror> {
        let name = crate::validate::name("mirror", &new.name)?;
        let base_url = crate::validate::base_url(&new.base_url)?;
        if self.mirror(&name)?.is_some() {
            return Err(Error::exists("mirror", &name));
        }
        let mirror = Mirror {
            id: MirrorId(self.next_id("next_mirror")?),
            name,
            base_url,
            rating: new.rating,
            active: !new.inactive,
            regions: self.check_regions(&new.regions)?,
            contact: new.contact.trim().to_string(),
            created_at: self.now,
        };
        self.put_mirror(&mirror)?;
        self.record(
            "mirror.add",
            format!(
                "{} {} rating={} active={}",
                mirror.name, mirror.base_url, mirror.rating, mirror.active
            ),
        )?;
        Ok(mirror)
    }

    fn put_mirror(&mut self, m: &Mirror) -> Result<()> {
        self.txn
            .open_table(MIRRORS)?
            .insert(m.id.0, encode(m).as_slice())?;
        self.txn
            .open_table(MIRROR_NAMES)?
            .insert(m.name.to_lowercase().as_str(), m.id.0)?;
        Ok(())
    }

    /// Changes a mirror's settings (not its name). A new base URL drops
    /// sentry's findings: the new host has not been checked.
    pub fn mirror_update(
        &mut self,
        name: &str,
        change: impl FnOnce(&mut Mirror),
    ) -> Result<Mirror> {
        let old = self.require_mirror(name)?;
        let mut new = old.clone();
        change(&mut new);
        new.id = old.id;
        new.name = old.name.clone();
        new.base_url = crate::validate::base_url(&new.base_url)?;
        new.regions = self.check_regions(&new.regions)?;
        new.contact = new.contact.trim().to_string();
        if new.base_url != old.base_url {
            self.clear_mirror_state(new.id)?;
        }
        self.put_mirror(&new)?;
        self.record("mirror.update", describe_change(&old.name, &old, &new))?;
        Ok(new)
    }

    /// Removes a mirror with everything sentry knew about it.
    pub fn mirror_remove(&mut self, name: &str) -> Result<Mirror> {
        let mirror = self.require_mirror(name)?;
        self.clear_mirror_state(mirror.id)?;
        self.txn.open_table(MIRRORS)?.remove(mirror.id.0)?;
        self.txn
            .open_table(MIRROR_NAMES)?
            .remove(mirror.name.to_lowercase().as_str())?;
        self.record(
            "mirror.remove",
            format!("{} {}", mirror.name, mirror.base_url),
        )?;
        Ok(mirror)
    }

    fn clear_mirror_state(&mut self, mirror: MirrorId) -> Result<()> {
        self.txn.open_table(MIRROR_HEALTH)?.remove(mirror.0)?;
        self.txn
            .open_table(AVAILABILITY)?
            .retain(|(_, m), _| m != mirror.0)?;
        Ok(())
    }

    // ----- sentry state -----

    /// Records what a check found for (location, mirror), in place.
    pub fn set_availability(
        &mut self,
        location: LocationId,
        mirror: MirrorId,
        availability: &Availability,
    ) -> Result<Option<Availability>> {
        let mut t = self.txn.open_table(AVAILABILITY)?;
        let old = t.insert((location.0, mirror.0), encode(availability).as_slice())?;
        old.map(|v| decode(v.value())).transpose()
    }

    /// Records what a check found for a mirror as a whole.
    pub fn set_health(&mut self, mirror: MirrorId, health: &MirrorHealth) -> Result<()> {
        self.txn
            .open_table(MIRROR_HEALTH)?
            .insert(mirror.0, encode(health).as_slice())?;
        Ok(())
    }

    /// Stores a sentry run (new or finished), giving a new one its id.
    pub fn sentry_run_put(&mut self, run: &mut SentryRun) -> Result<()> {
        if run.id == 0 {
            run.id = self.next_id("next_sentry_run")?;
        }
        self.txn
            .open_table(SENTRY_RUNS)?
            .insert(run.id, encode(run).as_slice())?;
        Ok(())
    }

    /// Clears a product's `checknow` flag after sentry checked it as
    /// `seen`; a product changed since (a language added) stays flagged.
    pub fn product_checked(&mut self, seen: &Product) -> Result<()> {
        if let Some(mut p) = self.product_by_id(seen.id)?
            && p.languages == seen.languages
        {
            p.checknow = false;
            self.put_product(&p)?;
        }
        Ok(())
    }

    /// All mirrors.
    pub fn mirrors(&self) -> Result<Vec<Mirror>> {
        let mut out = Vec::new();
        for row in self.txn.open_table(MIRRORS)?.iter()? {
            out.push(decode(row?.1.value())?);
        }
        Ok(out)
    }

    /// Sets (or, with `None`, removes) an operator setting.
    pub fn setting_put(&mut self, key: &str, value: Option<&str>) -> Result<()> {
        let mut t = self.txn.open_table(SETTINGS)?;
        match value {
            Some(v) => t.insert(key, v)?,
            None => t.remove(key)?,
        };
        Ok(())
    }

    /// All locations with their product, for availability changes by name.
    pub fn locations(&self) -> Result<Vec<Location>> {
        self.all_locations()
    }

    // ----- users -----

    /// The user with this name.
    pub fn user(&self, name: &str) -> Result<Option<User>> {
        let t = self.txn.open_table(USERS)?;
        let row = t.get(name)?;
        row.map(|v| decode(v.value())).transpose()
    }

    /// Adds a user or replaces their hash and role.
    pub fn user_put(&mut self, user: &User, action: &str) -> Result<()> {
        crate::validate::name("user", &user.name)?;
        self.txn
            .open_table(USERS)?
            .insert(user.name.as_str(), encode(user).as_slice())?;
        self.record(action, format!("{} role={}", user.name, user.role.as_str()))
    }

    /// Removes a user.
    pub fn user_remove(&mut self, name: &str) -> Result<()> {
        if self.txn.open_table(USERS)?.remove(name)?.is_none() {
            return Err(Error::not_found("user", name));
        }
        self.record("user.remove", name.to_string())
    }
}

/// "name: field old -> new, …" for the audit log, from Debug output.
fn describe_change<T: std::fmt::Debug>(name: &str, old: &T, new: &T) -> String {
    let old = format!("{old:?}");
    let new = format!("{new:?}");
    if old == new {
        return format!("{name}: no change");
    }
    format!("{name}: {old} -> {new}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("t.redb")).unwrap();
        (dir, store)
    }

    #[test]
    fn second_open_is_busy() {
        let (dir, _store) = store();
        let err = Store::open(&dir.path().join("t.redb")).err().unwrap();
        assert!(matches!(err, Error::Busy { .. }), "{err}");
    }

    #[test]
    fn failed_write_leaves_nothing() {
        let (_dir, store) = store();
        let err = store.write("test", |tx| {
            tx.product_add(NewProduct {
                name: "a".into(),
                ..Default::default()
            })?;
            tx.location_add("a", "no-such-os", "/x")
        });
        assert!(err.is_err());
        assert!(store.snapshot().unwrap().products.is_empty());
        assert!(store.events(10).unwrap().is_empty());
    }

    #[test]
    fn crud_and_audit() {
        let (_dir, store) = store();
        store
            .write("cli", |tx| {
                tx.product_add(NewProduct {
                    name: "Firefox-1.0".into(),
                    languages: vec!["en-US".into(), "de".into(), "DE".into()],
                    ..Default::default()
                })?;
                tx.location_add("firefox-1.0", "WIN", "/f/1.0/:lang/setup.exe")?;
                tx.mirror_add(NewMirror {
                    name: "m1".into(),
                    base_url: "http://m1.example/pub/".into(),
                    rating: 10,
                    ..Default::default()
                })?;
                tx.alias_set("firefox-latest", "FIREFOX-1.0")?;
                Ok(())
            })
            .unwrap();
        let s = store.snapshot().unwrap();
        assert_eq!(s.products[0].languages, vec!["en-US", "de"]);
        assert_eq!(s.locations[0].os, "win");
        assert_eq!(s.mirrors[0].base_url, "http://m1.example/pub");
        assert_eq!(s.aliases[0].product, s.products[0].id);
        let events = store.events(10).unwrap();
        assert_eq!(events.len(), 4);
        assert_eq!(events[0].action, "alias.set");

        // Dependents protect what they depend on.
        let err = store
            .write("cli", |tx| tx.product_remove("firefox-1.0"))
            .unwrap_err();
        assert!(err.to_string().contains("firefox-latest"), "{err}");
        let err = store.write("cli", |tx| tx.os_remove("win")).unwrap_err();
        assert!(err.to_string().contains("1 location"), "{err}");
        let err = store
            .write("cli", |tx| tx.alias_set("firefox-1.0", "firefox-1.0"))
            .unwrap_err();
        assert!(err.to_string().contains("product name"), "{err}");

        store
            .write("cli", |tx| {
                tx.alias_remove("firefox-latest")?;
                tx.product_remove("firefox-1.0")
            })
            .unwrap();
        let s = store.snapshot().unwrap();
        assert!(s.products.is_empty() && s.locations.is_empty());
    }

    #[test]
    fn availability_is_updated_in_place() {
        let (_dir, store) = store();
        let (loc, mirror) = store
            .write("cli", |tx| {
                tx.product_add(NewProduct {
                    name: "p".into(),
                    ..Default::default()
                })?;
                let loc = tx.location_add("p", "linux", "/p.tar")?;
                let m = tx.mirror_add(NewMirror {
                    name: "m".into(),
                    base_url: "http://m.example".into(),
                    rating: 1,
                    ..Default::default()
                })?;
                Ok((loc.id, m.id))
            })
            .unwrap();
        let mut sizes = Vec::new();
        for pass in 0..40u64 {
            store
                .write("sentry", |tx| {
                    tx.set_availability(
                        loc,
                        mirror,
                        &Availability {
                            present: pass % 2 == 0,
                            healthy: true,
                            checked_at: pass,
                            error: String::new(),
                        },
                    )
                })
                .unwrap();
            sizes.push(store.file_size().unwrap());
        }
        assert_eq!(store.availability_of(loc).unwrap().len(), 1);
        // After a warm-up the file stops growing: pages are reused.
        assert_eq!(sizes[10], sizes[39], "{sizes:?}");
    }

    #[test]
    fn counts_add_up() {
        let (_dir, store) = store();
        let batch = CountBatch {
            day: 100,
            products: vec![(ProductId(1), 3)],
            locations: vec![(LocationId(2), "de".into(), 3)],
            mirrors: vec![(MirrorId(5), 2), (MirrorId(6), 1)],
            countries: vec![("--".into(), 3)],
        };
        store.add_counts(&batch).unwrap();
        store.add_counts(&batch).unwrap();
        assert_eq!(
            store.downloads_by_product(100, 100).unwrap()[&ProductId(1)],
            6
        );
        assert_eq!(store.downloads_by_mirror(0, 200).unwrap()[&MirrorId(6)], 2);
        assert!(store.downloads_by_product(101, 200).unwrap().is_empty());
        assert_eq!(
            store.downloads_by_location(100, 100).unwrap()[&(LocationId(2), "de".to_string())],
            6
        );
    }
}
