//! The only code that touches redb. Everything else sees typed operations:
//! [`Store::snapshot`] reads the whole network configuration in one read
//! transaction, [`Store::write`] runs typed mutations in one write
//! transaction that is recorded in the audit log and commits durably.

mod backup;
mod migrate;
mod rows;
mod tables;

use std::collections::{BTreeMap, HashMap};
use std::ops::Bound;
use std::path::{Path, PathBuf};

use redb::{Database, ReadableDatabase, ReadableTable, WriteTransaction};

pub use backup::Backup;
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

/// Download counts over a range of days, read in one transaction: what
/// the stats pages show. Days are days since the Unix epoch (UTC).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Counts {
    /// Total downloads per day (from the per-product counts); days without
    /// downloads are absent.
    pub by_day: BTreeMap<u32, u64>,
    /// Downloads per (product, day); pairs without downloads are absent.
    pub by_product_day: BTreeMap<(ProductId, u32), u64>,
    /// Downloads per product, summed over the days.
    pub by_product: HashMap<ProductId, u64>,
    /// Downloads per mirror, summed over the days.
    pub by_mirror: HashMap<MirrorId, u64>,
    /// Downloads per (location, language), summed over the days; an empty
    /// language means none (products offered in every language are
    /// counted without one).
    pub by_location: HashMap<(LocationId, String), u64>,
    /// Downloads per language, summed over locations and days; the empty
    /// string collects downloads without a language.
    pub by_language: HashMap<String, u64>,
    /// Downloads per ISO country code (`--`: unknown), summed over the days.
    pub by_country: HashMap<String, u64>,
    /// All downloads in the range (the sum of `by_day`).
    pub total: u64,
}

/// Which audit events [`Store::events_matching`] returns: every field that
/// is set must match. The default matches every event.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct EventFilter {
    /// Case-insensitive prefix of the actor: `admin:` matches every admin
    /// user, `admin:alice` one of them.
    pub actor: Option<String>,
    /// Case-insensitive prefix of the action: `mirror.` matches every
    /// mirror change.
    pub action: Option<String>,
    /// Case-insensitive substring of the detail.
    pub text: Option<String>,
    /// Only events with an id below this one (the next page after an event
    /// with this id).
    pub before: Option<u64>,
}

impl EventFilter {
    /// Whether `event` passes the filter.
    pub fn matches(&self, event: &Event) -> bool {
        self.matcher().matches(event)
    }

    fn matcher(&self) -> EventMatcher {
        let lower = |s: &Option<String>| s.as_deref().map(str::to_lowercase);
        EventMatcher {
            actor: lower(&self.actor),
            action: lower(&self.action),
            text: lower(&self.text),
            before: self.before,
        }
    }
}

/// An [`EventFilter`] with its strings lower-cased once.
struct EventMatcher {
    actor: Option<String>,
    action: Option<String>,
    text: Option<String>,
    before: Option<u64>,
}

impl EventMatcher {
    fn matches(&self, e: &Event) -> bool {
        self.before.is_none_or(|b| e.id < b)
            && self
                .actor
                .as_deref()
                .is_none_or(|p| e.actor.to_lowercase().starts_with(p))
            && self
                .action
                .as_deref()
                .is_none_or(|p| e.action.to_lowercase().starts_with(p))
            && self
                .text
                .as_deref()
                .is_none_or(|t| e.detail.to_lowercase().contains(t))
    }
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

/// Opens `path` for reading and writing as redb does, creating a missing
/// file owner-only (0600, whatever the umask) so that no other user can
/// read a database or backup before its first byte is written. With `new`,
/// the file must not exist (nor a link by its name).
fn open_private(path: &Path, new: bool) -> std::io::Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut options = std::fs::OpenOptions::new();
    options.read(true).write(true).mode(0o600);
    if new {
        options.create_new(true);
    } else {
        options.create(true).truncate(false);
    }
    options.open(path)
}

impl Store {
    /// Opens (or creates) the database at `path`, migrating an older schema
    /// and refusing a newer one. A new file is created owner-only (0600):
    /// it holds password hashes. An existing file keeps its mode, which is
    /// the operator's to choose.
    pub fn open(path: &Path) -> Result<Store> {
        let file = open_private(path, false)
            .map_err(|e| Error::Storage(format!("cannot open {}: {e}", path.display())))?;
        // redb's default 1 GiB page cache would keep most of a large
        // availability table in memory after every index build; the index
        // holds what the redirect path needs, so a modest cache suffices.
        let db = redb::backends::FileBackend::new(file)
            .and_then(|backend| {
                redb::Builder::new()
                    .set_cache_size(CACHE_BYTES)
                    .create_with_backend(backend)
            })
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

    /// Everything sentry knows about one mirror, by location: a range of
    /// [`AVAILABILITY_BY_MIRROR`] and a lookup per row, whatever the size of
    /// the network.
    pub fn availability_of_mirror(
        &self,
        mirror: MirrorId,
    ) -> Result<Vec<(LocationId, Availability)>> {
        let txn = self.db.begin_read()?;
        let rows = txn.open_table(AVAILABILITY)?;
        let mut out = Vec::new();
        for row in txn
            .open_table(AVAILABILITY_BY_MIRROR)?
            .range((mirror.0, 0)..=(mirror.0, u64::MAX))?
        {
            let location = row?.0.value().1;
            // Written in the same transactions, so the row is there; a
            // damaged file that lost it shows as "never checked".
            if let Some(v) = rows.get((location, mirror.0))? {
                out.push((LocationId(location), decode(v.value())?));
            }
        }
        Ok(out)
    }

    /// Calls `f` with every availability row, in one read transaction
    /// (one pass over the table, for per-mirror summaries).
    pub fn each_availability(
        &self,
        mut f: impl FnMut(LocationId, MirrorId, Availability),
    ) -> Result<()> {
        let txn = self.db.begin_read()?;
        for row in txn.open_table(AVAILABILITY)?.iter()? {
            let (k, v) = row?;
            let (l, m) = k.value();
            f(LocationId(l), MirrorId(m), decode(v.value())?);
        }
        Ok(())
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
        add_counts_in(&txn, batch)?;
        txn.commit()?;
        Ok(())
    }

    /// The configuration, the users and (with `counts`) every day's
    /// download counts, read in one transaction: what an export holds.
    pub fn dump(&self, counts: bool) -> Result<Dump> {
        let txn = self.db.begin_read()?;
        let snapshot = read_snapshot(&txn)?;
        let mut users = Vec::new();
        for row in txn.open_table(USERS)?.iter()? {
            users.push(decode(row?.1.value())?);
        }
        let mut days: BTreeMap<u32, CountBatch> = BTreeMap::new();
        fn day(days: &mut BTreeMap<u32, CountBatch>, d: u32) -> &mut CountBatch {
            days.entry(d).or_insert_with(|| CountBatch {
                day: d,
                ..Default::default()
            })
        }
        if counts {
            for row in txn.open_table(COUNT_PRODUCT)?.iter()? {
                let (k, v) = row?;
                let (d, product) = k.value();
                day(&mut days, d)
                    .products
                    .push((ProductId(product), v.value()));
            }
            for row in txn.open_table(COUNT_LOCATION)?.iter()? {
                let (k, v) = row?;
                let (d, location, lang) = k.value();
                day(&mut days, d).locations.push((
                    LocationId(location),
                    lang.to_string(),
                    v.value(),
                ));
            }
            for row in txn.open_table(COUNT_MIRROR)?.iter()? {
                let (k, v) = row?;
                let (d, mirror) = k.value();
                day(&mut days, d)
                    .mirrors
                    .push((MirrorId(mirror), v.value()));
            }
            for row in txn.open_table(COUNT_COUNTRY)?.iter()? {
                let (k, v) = row?;
                let (d, country) = k.value();
                day(&mut days, d)
                    .countries
                    .push((country.to_string(), v.value()));
            }
        }
        Ok(Dump {
            snapshot,
            users,
            counts: days.into_values().collect(),
        })
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
        if from > to {
            return Ok(out);
        }
        for row in txn
            .open_table(COUNT_LOCATION)?
            .range(location_days(from, to))?
        {
            let (k, v) = row?;
            let (_, loc, lang) = k.value();
            *out.entry((LocationId(loc), lang.to_string())).or_default() += v.value();
        }
        Ok(out)
    }

    /// Every download count of the days `from..=to`, read in one
    /// transaction so the breakdowns agree with each other.
    pub fn counts(&self, from: u32, to: u32) -> Result<Counts> {
        let mut c = Counts::default();
        if from > to {
            return Ok(c);
        }
        let txn = self.db.begin_read()?;
        for row in txn
            .open_table(COUNT_PRODUCT)?
            .range((from, 0)..=(to, u64::MAX))?
        {
            let (k, v) = row?;
            let ((day, product), n) = (k.value(), v.value());
            *c.by_day.entry(day).or_default() += n;
            *c.by_product_day
                .entry((ProductId(product), day))
                .or_default() += n;
            *c.by_product.entry(ProductId(product)).or_default() += n;
            c.total += n;
        }
        for row in txn
            .open_table(COUNT_MIRROR)?
            .range((from, 0)..=(to, u64::MAX))?
        {
            let (k, v) = row?;
            *c.by_mirror.entry(MirrorId(k.value().1)).or_default() += v.value();
        }
        for row in txn
            .open_table(COUNT_LOCATION)?
            .range(location_days(from, to))?
        {
            let (k, v) = row?;
            let ((_, location, lang), n) = (k.value(), v.value());
            *c.by_location
                .entry((LocationId(location), lang.to_string()))
                .or_default() += n;
            *c.by_language.entry(lang.to_string()).or_default() += n;
        }
        let end = match to.checked_add(1) {
            Some(next) => Bound::Excluded((next, "")),
            None => Bound::Unbounded,
        };
        for row in txn
            .open_table(COUNT_COUNTRY)?
            .range((Bound::Included((from, "")), end))?
        {
            let (k, v) = row?;
            *c.by_country.entry(k.value().1.to_string()).or_default() += v.value();
        }
        Ok(c)
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

    /// The imported GeoIP table, if any.
    pub fn geoip(&self) -> Result<Option<crate::geoip::GeoDb>> {
        let txn = self.db.begin_read()?;
        let t = txn.open_table(GEOIP)?;
        let row = t.get(GEOIP_KEY)?;
        row.map(|v| crate::geoip::GeoDb::decode(v.value()))
            .transpose()
    }

    /// The (location, mirror) pairs sentry has checked (read from
    /// [`AVAILABILITY_BY_MIRROR`]: keys only, fewer pages than the rows).
    pub fn checked_pairs(&self) -> Result<std::collections::HashSet<(LocationId, MirrorId)>> {
        let txn = self.db.begin_read()?;
        let mut out = std::collections::HashSet::new();
        for row in txn.open_table(AVAILABILITY_BY_MIRROR)?.iter()? {
            let (m, l) = row?.0.value();
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

    /// The newest `limit` audit events that pass `filter`, newest first.
    pub fn events_matching(&self, filter: &EventFilter, limit: usize) -> Result<Vec<Event>> {
        let txn = self.db.begin_read()?;
        let events = txn.open_table(EVENTS)?;
        let matcher = filter.matcher();
        let mut out = Vec::new();
        if limit == 0 {
            return Ok(out);
        }
        let end = filter.before.map_or(Bound::Unbounded, Bound::Excluded);
        for row in events.range((Bound::Unbounded, end))?.rev() {
            let event: Event = decode(row?.1.value())?;
            if matcher.matches(&event) {
                out.push(event);
                if out.len() == limit {
                    break;
                }
            }
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

/// Adds `batch` to the counts in `txn`.
fn add_counts_in(txn: &WriteTransaction, batch: &CountBatch) -> Result<()> {
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
    Ok(())
}

/// What [`Store::dump`] read.
#[derive(Debug, Default, Clone)]
pub struct Dump {
    /// The configuration (and mirror health, which exports leave out).
    pub snapshot: Snapshot,
    /// Every user, by name.
    pub users: Vec<User>,
    /// Download counts, one batch per day in day order, each list in key
    /// order (empty unless asked for).
    pub counts: Vec<CountBatch>,
}

/// What [`Tx::region_defaults`] did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct RegionDefaults {
    /// Regions added, with their number of countries.
    pub added: Vec<(String, usize)>,
    /// Continents with a region of their name already.
    pub existing: Vec<&'static str>,
    /// Continents all of whose countries are in other regions.
    pub full: Vec<&'static str>,
    /// Countries left out because other regions have them.
    pub taken: Vec<String>,
}

/// What [`Tx::product_remove`] removed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RemovedProduct {
    /// The product, as it was.
    pub product: Product,
    /// The aliases that pointed at it, removed with it, as they were
    /// spelled.
    pub aliases: Vec<String>,
}

/// The one key of [`GEOIP`].
const GEOIP_KEY: &str = "ranges";

/// Creates every table so that read transactions never meet a missing one.
fn create_tables(txn: &WriteTransaction) -> Result<()> {
    struct Create<'a>(&'a WriteTransaction);
    impl TableVisitor for Create<'_> {
        fn table<K: redb::Key + 'static, V: redb::Value + 'static>(
            &mut self,
            table: redb::TableDefinition<'static, K, V>,
        ) -> Result<()> {
            self.0.open_table(table)?;
            Ok(())
        }
    }
    each_table(&mut Create(txn))
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
        let languages = crate::model::product_languages(&[], &new.languages)?;
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
        let languages = crate::model::product_languages(&old.languages, &new.languages)?;
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
        if old != new {
            self.record("product.update", describe_change(&old.name, &old, &new))?;
        }
        Ok(new)
    }

    /// Removes a product with its locations, files and availability, and
    /// the aliases pointing at it (each recorded as `alias.remove`, and
    /// named in the `product.remove` entry): an alias of a product that is
    /// gone would answer 404 anyway, and release tooling (bouncer-admin,
    /// Tuxedo) deletes such products.
    pub fn product_remove(&mut self, name: &str) -> Result<RemovedProduct> {
        let product = self.require_product(name)?;
        let all = self.aliases()?;
        let aliases: Vec<String> = crate::model::aliases_of(&all, product.id)
            .into_iter()
            .map(|a| a.name.clone())
            .collect();
        for alias in &aliases {
            self.txn
                .open_table(ALIASES)?
                .remove(alias.to_lowercase().as_str())?;
            self.record(
                "alias.remove",
                format!("{alias} (its product {} was removed)", product.name),
            )?;
        }
        for loc in self.locations_of(product.id)? {
            self.delete_location(&loc)?;
        }
        self.txn.open_table(PRODUCTS)?.remove(product.id.0)?;
        self.txn
            .open_table(PRODUCT_NAMES)?
            .remove(product.name.to_lowercase().as_str())?;
        let detail = if aliases.is_empty() {
            product.name.clone()
        } else {
            format!("{} with alias(es) {}", product.name, aliases.join(", "))
        };
        self.record("product.remove", detail)?;
        Ok(RemovedProduct { product, aliases })
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

    /// Drops sentry's findings for `location` on every mirror, with their
    /// entries in [`AVAILABILITY_BY_MIRROR`].
    fn clear_availability(&mut self, location: LocationId) -> Result<()> {
        let mut t = self.txn.open_table(AVAILABILITY)?;
        let mut by_mirror = self.txn.open_table(AVAILABILITY_BY_MIRROR)?;
        for row in t.extract_from_if((location.0, 0)..=(location.0, u64::MAX), |_, _| true)? {
            let (_, mirror) = row?.0.value();
            by_mirror.remove((mirror, location.0))?;
        }
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

    /// Checks that a mirror's regions exist (case-insensitive); returns
    /// them spelled as the regions spell their names, without duplicates.
    fn check_regions(&self, regions: &[String]) -> Result<Vec<String>> {
        let mut out: Vec<String> = Vec::new();
        for r in regions {
            // A region stored before a naming rule (a bidirectional
            // control) is found as it is: its mirrors stay editable.
            let region = match self.region(r.trim())? {
                Some(region) => region,
                None => {
                    let r = crate::validate::name("region", r)?;
                    self.region(&r)?
                        .ok_or_else(|| Error::not_found("region", &r))?
                }
            };
            if !out.contains(&region.name) {
                out.push(region.name);
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
        self.check_base_url_free(&base_url, None)?;
        let mirror = Mirror {
            id: MirrorId(self.next_id("next_mirror")?),
            name,
            base_url,
            rating: new.rating,
            active: !new.inactive,
            regions: self.check_regions(&new.regions)?,
            contact: crate::validate::contact(&new.contact)?,
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

    /// Refuses `base_url` when a mirror other than `except` has it
    /// ([`crate::model::mirror_at`]).
    fn check_base_url_free(&self, base_url: &str, except: Option<MirrorId>) -> Result<()> {
        match crate::model::mirror_at(&self.mirrors()?, base_url, except) {
            Some(other) => Err(Error::BaseUrlTaken {
                base_url: other.base_url.clone(),
                mirror: other.name.clone(),
            }),
            None => Ok(()),
        }
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
        // Only a new contact is checked: one stored before the rule stays
        // as it is while the rest of the mirror is edited.
        new.contact = if new.contact.trim() == old.contact.trim() {
            old.contact.clone()
        } else {
            crate::validate::contact(&new.contact)?
        };
        if new.base_url != old.base_url {
            // Only a new address is checked: two mirrors that shared one
            // before the rule stay editable.
            if crate::validate::base_url_key(&new.base_url)
                != crate::validate::base_url_key(&old.base_url)
            {
                self.check_base_url_free(&new.base_url, Some(new.id))?;
            }
            self.clear_mirror_state(new.id)?;
        }
        self.put_mirror(&new)?;
        if old != new {
            self.record("mirror.update", describe_change(&old.name, &old, &new))?;
        }
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

    /// Drops sentry's findings for `mirror`: its health and its
    /// availability everywhere (a range of [`AVAILABILITY_BY_MIRROR`], not a
    /// pass over every row).
    fn clear_mirror_state(&mut self, mirror: MirrorId) -> Result<()> {
        self.txn.open_table(MIRROR_HEALTH)?.remove(mirror.0)?;
        let mut t = self.txn.open_table(AVAILABILITY)?;
        let mut by_mirror = self.txn.open_table(AVAILABILITY_BY_MIRROR)?;
        for row in by_mirror.extract_from_if((mirror.0, 0)..=(mirror.0, u64::MAX), |_, _| true)? {
            let (_, location) = row?.0.value();
            t.remove((location, mirror.0))?;
        }
        Ok(())
    }

    // ----- regions -----

    /// The region with this name (case-insensitive).
    pub fn region(&self, name: &str) -> Result<Option<Region>> {
        let t = self.txn.open_table(REGIONS)?;
        let row = t.get(region_key(name).as_str())?;
        row.map(|v| decode(v.value())).transpose()
    }

    fn require_region(&self, name: &str) -> Result<Region> {
        self.region(name)?
            .ok_or_else(|| Error::not_found("region", name.trim()))
    }

    fn all_regions(&self) -> Result<Vec<Region>> {
        let mut out = Vec::new();
        for row in self.txn.open_table(REGIONS)?.iter()? {
            out.push(decode(row?.1.value())?);
        }
        Ok(out)
    }

    fn put_region(&mut self, region: &Region) -> Result<()> {
        self.txn
            .open_table(REGIONS)?
            .insert(region_key(&region.name).as_str(), encode(region).as_slice())?;
        Ok(())
    }

    /// Adds a region. Its countries must belong to no other region; its
    /// fallback must be another existing region.
    pub fn region_add(&mut self, mut region: Region) -> Result<Region> {
        region.name = crate::validate::name("region", &region.name)?;
        if let Some(old) = self.region(&region.name)? {
            return Err(Error::exists("region", &old.name));
        }
        let region = self.check_region(region)?;
        self.put_region(&region)?;
        self.record("region.add", describe_region(&region))?;
        Ok(region)
    }

    /// Changes a region's throttle, fallback or countries (not its name),
    /// with the checks of [`Tx::region_add`] and no fallback cycles.
    pub fn region_update(
        &mut self,
        name: &str,
        change: impl FnOnce(&mut Region),
    ) -> Result<Region> {
        let old = self.require_region(name)?;
        let mut new = old.clone();
        change(&mut new);
        new.name = old.name.clone();
        let new = self.check_region(new)?;
        self.put_region(&new)?;
        if old != new {
            self.record("region.update", describe_change(&old.name, &old, &new))?;
        }
        Ok(new)
    }

    /// Adds one region per continent (named as
    /// [`crate::geoip::continents::CONTINENTS`] names them), each with its
    /// countries no region has yet: throttle 100, no fallback, global
    /// fallback on. Continents with a region of that name are left alone.
    pub fn region_defaults(&mut self) -> Result<RegionDefaults> {
        use crate::geoip::continents::{CONTINENTS, split_taken};
        let existing = self.all_regions()?;
        let taken: Vec<&str> = existing
            .iter()
            .flat_map(|r| r.countries.iter().map(String::as_str))
            .collect();
        let mut out = RegionDefaults::default();
        for continent in CONTINENTS {
            if existing
                .iter()
                .any(|r| r.name.eq_ignore_ascii_case(continent.name))
            {
                out.existing.push(continent.name);
                continue;
            }
            let (free, have) = split_taken(continent, &taken);
            out.taken.extend(have);
            if free.is_empty() {
                out.full.push(continent.name);
                continue;
            }
            let r = self.region_add(Region {
                name: continent.name.into(),
                throttle: 100,
                fallback: None,
                global_fallback: true,
                countries: free,
            })?;
            out.added.push((r.name, r.countries.len()));
        }
        out.taken.sort();
        Ok(out)
    }

    /// Removes a region; refused while mirrors serve it or other regions
    /// fall back to it.
    pub fn region_remove(&mut self, name: &str) -> Result<Region> {
        let region = self.require_region(name)?;
        let key = region_key(&region.name);
        let mirrors: Vec<String> = self
            .mirrors()?
            .into_iter()
            .filter(|m| m.regions.iter().any(|r| region_key(r) == key))
            .map(|m| m.name)
            .collect();
        let fallers: Vec<String> = self
            .all_regions()?
            .into_iter()
            .filter(|r| r.fallback.as_deref().is_some_and(|f| region_key(f) == key))
            .map(|r| r.name)
            .collect();
        let mut why = Vec::new();
        if !mirrors.is_empty() {
            why.push(format!(
                "mirror(s) {} serve it: take it out of their regions first (`bouncer mirror set NAME --region …` or `--no-regions`)",
                mirrors.join(", ")
            ));
        }
        if !fallers.is_empty() {
            why.push(format!(
                "region(s) {} fall back to it: give them another fallback, or none, first",
                fallers.join(", ")
            ));
        }
        if !why.is_empty() {
            return Err(Error::InUse {
                detail: format!(
                    "region {:?} cannot be removed: {}",
                    region.name,
                    why.join("; ")
                ),
            });
        }
        self.txn.open_table(REGIONS)?.remove(key.as_str())?;
        self.record("region.remove", region.name.clone())?;
        Ok(region)
    }

    /// Normalises `region` (countries upper-case, sorted, unique; fallback
    /// spelled as its region, blank meaning none) and checks it against
    /// the other regions: no shared country, an existing fallback that is
    /// not itself, no fallback cycle.
    fn check_region(&self, mut region: Region) -> Result<Region> {
        let key = region_key(&region.name);
        let mut countries = Vec::with_capacity(region.countries.len());
        for c in &region.countries {
            countries.push(crate::validate::country(c)?);
        }
        countries.sort();
        countries.dedup();
        region.countries = countries;

        let others: Vec<Region> = self
            .all_regions()?
            .into_iter()
            .filter(|r| region_key(&r.name) != key)
            .collect();
        let taken: Vec<String> = others
            .iter()
            .flat_map(|other| {
                region
                    .countries
                    .iter()
                    .filter(|c| other.countries.contains(c))
                    .map(move |c| format!("{c} belongs to region {:?}", other.name))
            })
            .collect();
        if !taken.is_empty() {
            return Err(Error::InUse {
                detail: format!(
                    "a country may belong to one region only, and {}: remove it there first",
                    taken.join(", ")
                ),
            });
        }

        let fallback = match region.fallback.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(fallback) => {
                // An existing region is named as it is (one stored before a
                // naming rule stays usable); only another name is checked.
                let fallback = if others
                    .iter()
                    .any(|r| region_key(&r.name) == region_key(fallback))
                {
                    fallback.to_string()
                } else {
                    crate::validate::name("fallback region", fallback)?
                };
                if region_key(&fallback) == key {
                    return Err(Error::invalid(
                        "fallback region",
                        format!(
                            "region {:?} cannot fall back to itself: choose another region, or none",
                            region.name
                        ),
                    ));
                }
                let find = |name: &str| {
                    others
                        .iter()
                        .find(|r| region_key(&r.name) == region_key(name))
                };
                let target =
                    find(&fallback).ok_or_else(|| Error::not_found("region", &fallback))?;
                // Follow the chain from the fallback: meeting this region
                // again would send traffic round in a circle.
                let mut chain = vec![region.name.clone(), target.name.clone()];
                let mut next = target.fallback.as_deref();
                while let Some(name) = next {
                    if region_key(name) == key {
                        chain.push(region.name.clone());
                        return Err(Error::invalid(
                            "fallback region",
                            format!(
                                "falling back from {:?} to {:?} would make a cycle ({}): break it by changing one of these fallbacks first",
                                region.name,
                                target.name,
                                chain.join(" → ")
                            ),
                        ));
                    }
                    if chain.iter().any(|c| region_key(c) == region_key(name)) {
                        break; // a cycle elsewhere: not this region's doing
                    }
                    chain.push(name.to_string());
                    next = find(name).and_then(|r| r.fallback.as_deref());
                }
                Some(target.name.clone())
            }
        };
        region.fallback = fallback;
        Ok(region)
    }

    // ----- sentry state -----

    /// Records what a check found for (location, mirror), in place.
    pub fn set_availability(
        &mut self,
        location: LocationId,
        mirror: MirrorId,
        availability: &Availability,
    ) -> Result<Option<Availability>> {
        self.txn
            .open_table(AVAILABILITY_BY_MIRROR)?
            .insert((mirror.0, location.0), ())?;
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

    /// Replaces the GeoIP table (`None`: removes it).
    pub fn geoip_put(&mut self, geo: Option<&crate::geoip::GeoDb>) -> Result<()> {
        {
            let mut t = self.txn.open_table(GEOIP)?;
            match geo {
                Some(geo) => t.insert(GEOIP_KEY, geo.encode().as_slice())?,
                None => t.remove(GEOIP_KEY)?,
            };
        }
        match geo {
            Some(geo) => {
                let (v4, v6) = geo.len();
                let detail = format!("{v4} IPv4 and {v6} IPv6 ranges from {}", geo.source);
                self.record("geoip.import", detail)
            }
            None => self.record("geoip.clear", "GeoIP table removed".into()),
        }
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
        // Only a new name is checked: a user stored before a naming rule
        // (a bidirectional control) can still change their password.
        if self.user(&user.name)?.is_none() {
            crate::validate::name("user", &user.name)?;
        }
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

    /// All users, by name.
    pub fn users(&self) -> Result<Vec<User>> {
        let mut out = Vec::new();
        for row in self.txn.open_table(USERS)?.iter()? {
            out.push(decode(row?.1.value())?);
        }
        Ok(out)
    }

    // ----- whole-configuration reads and writes (imports) -----

    /// All products, by id.
    pub fn products(&self) -> Result<Vec<Product>> {
        let mut out = Vec::new();
        for row in self.txn.open_table(PRODUCTS)?.iter()? {
            out.push(decode(row?.1.value())?);
        }
        Ok(out)
    }

    /// All aliases.
    pub fn alias_list(&self) -> Result<Vec<Alias>> {
        self.aliases()
    }

    /// Operating system names, sorted.
    pub fn oses(&self) -> Result<Vec<String>> {
        let mut out = Vec::new();
        for row in self.txn.open_table(OSES)?.iter()? {
            out.push(row?.0.value().to_string());
        }
        Ok(out)
    }

    /// All regions, by name.
    pub fn regions(&self) -> Result<Vec<Region>> {
        self.all_regions()
    }

    /// Every known file, by path.
    pub fn files(&self) -> Result<Vec<FileInfo>> {
        let mut out = Vec::new();
        for row in self.txn.open_table(FILES)?.iter()? {
            out.push(decode(row?.1.value())?);
        }
        Ok(out)
    }

    /// Forgets what is known about the file at `path`; whether it was known.
    pub fn file_remove(&mut self, path: &str) -> Result<bool> {
        Ok(self.txn.open_table(FILES)?.remove(path)?.is_some())
    }

    /// Every operator setting.
    pub fn settings(&self) -> Result<BTreeMap<String, String>> {
        let mut out = BTreeMap::new();
        for row in self.txn.open_table(SETTINGS)?.iter()? {
            let (k, v) = row?;
            out.insert(k.value().to_string(), v.value().to_string());
        }
        Ok(out)
    }

    /// Adds a batch of download counts.
    pub fn counts_add(&mut self, batch: &CountBatch) -> Result<()> {
        add_counts_in(&self.txn, batch)
    }

    /// Removes every download count.
    pub fn counts_clear(&mut self) -> Result<()> {
        self.txn.open_table(COUNT_PRODUCT)?.retain(|_, _| false)?;
        self.txn.open_table(COUNT_LOCATION)?.retain(|_, _| false)?;
        self.txn.open_table(COUNT_MIRROR)?.retain(|_, _| false)?;
        self.txn.open_table(COUNT_COUNTRY)?.retain(|_, _| false)?;
        Ok(())
    }
}

/// A key of [`COUNT_LOCATION`]: (day, location id, language).
type LocationDay = (u32, u64, &'static str);

/// The keys of [`COUNT_LOCATION`] for the days `from..=to`.
fn location_days(from: u32, to: u32) -> (Bound<LocationDay>, Bound<LocationDay>) {
    let end = match to.checked_add(1) {
        Some(next) => Bound::Excluded((next, 0, "")),
        None => Bound::Unbounded,
    };
    (Bound::Included((from, 0, "")), end)
}

/// The key of a region in [`REGIONS`]: its name, trimmed and lower-case.
fn region_key(name: &str) -> String {
    name.trim().to_lowercase()
}

/// A region's settings for the audit log.
fn describe_region(r: &Region) -> String {
    format!(
        "{} throttle={} fallback={} global_fallback={} countries=[{}]",
        r.name,
        r.throttle,
        r.fallback.as_deref().unwrap_or("-"),
        r.global_fallback,
        r.countries.join(",")
    )
}

/// The fields of a row an operator changes, for the audit log.
trait AuditFields {
    fn audit_fields(&self) -> Vec<(&'static str, String)>;
}

impl AuditFields for Product {
    fn audit_fields(&self) -> Vec<(&'static str, String)> {
        vec![
            ("active", self.active.to_string()),
            ("public", self.public.to_string()),
            ("ssl_only", self.ssl_only.to_string()),
            ("checknow", self.checknow.to_string()),
            ("priority", self.priority.to_string()),
            ("languages", self.languages.join(",")),
        ]
    }
}

impl AuditFields for Mirror {
    fn audit_fields(&self) -> Vec<(&'static str, String)> {
        vec![
            ("base_url", self.base_url.clone()),
            ("rating", self.rating.to_string()),
            ("active", self.active.to_string()),
            ("regions", self.regions.join(",")),
            ("contact", self.contact.clone()),
        ]
    }
}

impl AuditFields for Region {
    fn audit_fields(&self) -> Vec<(&'static str, String)> {
        vec![
            ("throttle", self.throttle.to_string()),
            ("fallback", self.fallback.clone().unwrap_or_default()),
            ("global_fallback", self.global_fallback.to_string()),
            ("countries", self.countries.join(",")),
        ]
    }
}

/// "name: field old -> new, …" for the audit log: only what changed.
fn describe_change<T: AuditFields>(name: &str, old: &T, new: &T) -> String {
    let changed: Vec<String> = old
        .audit_fields()
        .into_iter()
        .zip(new.audit_fields())
        .filter(|((_, a), (_, b))| a != b)
        .map(|((field, a), (_, b))| {
            let show = |v: String| {
                if v.is_empty() {
                    "(none)".to_string()
                } else {
                    v
                }
            };
            format!("{field} {} -> {}", show(a), show(b))
        })
        .collect();
    if changed.is_empty() {
        format!("{name}: no change")
    } else {
        format!("{name}: {}", changed.join(", "))
    }
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
    fn removing_an_aliased_product_removes_its_aliases_in_the_same_write() {
        let (_dir, store) = store();
        store
            .write("cli", |tx| {
                for p in ["fx-1", "fx-2"] {
                    tx.product_add(NewProduct {
                        name: p.into(),
                        ..Default::default()
                    })?;
                    tx.location_add(p, "win", &format!("/{p}.exe"))?;
                }
                tx.alias_set("Fx-Latest", "fx-1")?;
                tx.alias_set("fx-stable", "fx-1")?;
                tx.alias_set("fx-beta", "fx-2")?;
                Ok(())
            })
            .unwrap();
        let removed = store.write("cli", |tx| tx.product_remove("FX-1")).unwrap();
        assert_eq!(removed.product.name, "fx-1");
        assert_eq!(removed.aliases, ["Fx-Latest", "fx-stable"]);
        let s = store.snapshot().unwrap();
        let aliases: Vec<&str> = s.aliases.iter().map(|a| a.name.as_str()).collect();
        assert_eq!(aliases, ["fx-beta"]);
        assert_eq!(s.products.len(), 1);
        assert_eq!(s.locations.len(), 1);
        let events: Vec<(String, String)> = store
            .events(3)
            .unwrap()
            .into_iter()
            .rev()
            .map(|e| (e.action, e.detail))
            .collect();
        assert_eq!(
            events,
            [
                (
                    "alias.remove".to_string(),
                    "Fx-Latest (its product fx-1 was removed)".to_string()
                ),
                (
                    "alias.remove".to_string(),
                    "fx-stable (its product fx-1 was removed)".to_string()
                ),
                (
                    "product.remove".to_string(),
                    "fx-1 with alias(es) Fx-Latest, fx-stable".to_string()
                ),
            ]
        );
        // The alias names are free: one may even become a product.
        store
            .write("cli", |tx| {
                tx.product_add(NewProduct {
                    name: "fx-latest".into(),
                    ..Default::default()
                })
            })
            .unwrap();
        // Without aliases the entry is the name alone.
        let removed = store
            .write("cli", |tx| tx.product_remove("fx-latest"))
            .unwrap();
        assert!(removed.aliases.is_empty());
        assert_eq!(store.events(1).unwrap()[0].detail, "fx-latest");
    }

    #[test]
    fn a_second_mirror_at_the_same_base_url_is_refused() {
        let (_dir, store) = store();
        let add = |name: &str, url: &str| {
            store.write("cli", |tx| {
                tx.mirror_add(NewMirror {
                    name: name.into(),
                    base_url: url.into(),
                    rating: 1,
                    ..Default::default()
                })
            })
        };
        add("m1", "https://m1.example/pub").unwrap();
        add("m2", "https://m2.example/pub").unwrap();
        for url in [
            "https://m1.example/pub",
            "https://M1.Example:443/pub/",
            "https://m1.example/pub//",
        ] {
            let before = store.events(1).unwrap();
            let err = add("m3", url).unwrap_err();
            assert!(
                matches!(&err, Error::BaseUrlTaken { mirror, .. } if mirror == "m1"),
                "{url}: {err}"
            );
            let text = err.to_string();
            assert!(
                text.contains("\"m1\"") && text.contains("https://m1.example/pub"),
                "{text}"
            );
            assert_eq!(store.events(1).unwrap(), before);
        }
        // Another scheme, port or path is another address.
        add("m1-http", "http://m1.example/pub").unwrap();
        add("m1-8443", "https://m1.example:8443/pub").unwrap();
        add("m1-sub", "https://m1.example/pub/sub").unwrap();

        // Moving a mirror onto another's address is refused; its own
        // address, spelled differently, is not another's.
        let err = store
            .write("cli", |tx| {
                tx.mirror_update("m2", |m| m.base_url = "https://M1.example/pub/".into())
            })
            .unwrap_err();
        assert!(
            matches!(&err, Error::BaseUrlTaken { mirror, .. } if mirror == "m1"),
            "{err}"
        );
        assert_eq!(
            store.snapshot().unwrap().mirror("m2").unwrap().base_url,
            "https://m2.example/pub"
        );
        let m1 = store
            .write("cli", |tx| {
                tx.mirror_update("m1", |m| {
                    m.base_url = "https://M1.EXAMPLE/pub".into();
                    m.rating = 5;
                })
            })
            .unwrap();
        assert_eq!(m1.rating, 5);
        // Once m1 moves away, its old address is free.
        store
            .write("cli", |tx| {
                tx.mirror_update("m1", |m| m.base_url = "https://m1.example/new".into())?;
                tx.mirror_update("m2", |m| m.base_url = "https://m1.example/pub".into())
            })
            .unwrap();
    }

    #[test]
    fn product_languages_must_be_locale_codes() {
        let (_dir, store) = store();
        let err = store
            .write("cli", |tx| {
                tx.product_add(NewProduct {
                    name: "p".into(),
                    languages: vec!["de".into(), "english".into()],
                    ..Default::default()
                })
            })
            .unwrap_err();
        assert!(
            err.to_string().contains("\"english\" is not a locale code"),
            "{err}"
        );
        assert!(store.snapshot().unwrap().products.is_empty());
        store
            .write("cli", |tx| {
                tx.product_add(NewProduct {
                    name: "p".into(),
                    languages: vec!["de".into(), "ja-JP-mac".into(), "multi".into()],
                    ..Default::default()
                })
            })
            .unwrap();
        let err = store
            .write("cli", |tx| {
                tx.product_update("p", |p| p.languages.push("multi-locale".into()))
            })
            .unwrap_err();
        assert!(err.to_string().contains("e.g. de, en-US"), "{err}");
        assert_eq!(
            store.snapshot().unwrap().products[0].languages,
            ["de", "ja-JP-mac", "multi"]
        );
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

    /// (location id, mirror id) pairs.
    pub(super) type Pairs = std::collections::BTreeSet<(u64, u64)>;

    /// The keys of [`AVAILABILITY`] and of [`AVAILABILITY_BY_MIRROR`]
    /// turned back, both as (location, mirror): equal when in step.
    pub(super) fn availability_index(store: &Store) -> (Pairs, Pairs) {
        let txn = store.db.begin_read().unwrap();
        let rows = txn
            .open_table(AVAILABILITY)
            .unwrap()
            .iter()
            .unwrap()
            .map(|r| r.unwrap().0.value())
            .collect();
        let index = txn
            .open_table(AVAILABILITY_BY_MIRROR)
            .unwrap()
            .iter()
            .unwrap()
            .map(|r| {
                let (m, l) = r.unwrap().0.value();
                (l, m)
            })
            .collect();
        (rows, index)
    }

    #[test]
    fn the_availability_index_follows_every_write() {
        let (_dir, store) = store();
        let seen = |present| Availability {
            present,
            healthy: true,
            checked_at: 1,
            error: String::new(),
        };
        let check = |store: &Store, rows: usize| {
            let (a, b) = availability_index(store);
            assert_eq!(a, b);
            assert_eq!(a.len(), rows);
        };
        store
            .write("cli", |tx| {
                for p in ["a", "b"] {
                    tx.product_add(NewProduct {
                        name: p.into(),
                        ..Default::default()
                    })?;
                    for os in ["win", "linux", "osx"] {
                        tx.location_add(p, os, &format!("/{p}/{os}"))?;
                    }
                }
                for m in ["m1", "m2", "m3"] {
                    tx.mirror_add(NewMirror {
                        name: m.into(),
                        base_url: format!("http://{m}.example"),
                        rating: 1,
                        ..Default::default()
                    })?;
                }
                let mirrors = tx.mirrors()?;
                for l in tx.locations()? {
                    for m in &mirrors {
                        tx.set_availability(l.id, m.id, &seen(true))?;
                    }
                }
                Ok(())
            })
            .unwrap();
        check(&store, 18);
        // Updating in place adds nothing.
        store
            .write("sentry", |tx| {
                let m = tx.mirror("m1")?.unwrap();
                for l in tx.locations()? {
                    tx.set_availability(l.id, m.id, &seen(false))?;
                }
                Ok(())
            })
            .unwrap();
        check(&store, 18);
        let m1 = store.snapshot().unwrap().mirror("m1").unwrap().id;
        let of_m1 = store.availability_of_mirror(m1).unwrap();
        assert_eq!(of_m1.len(), 6);
        assert!(of_m1.iter().all(|(_, a)| !a.present));

        // A new path drops the location's rows.
        store
            .write("cli", |tx| tx.location_set_path("a", "win", "/a/win2"))
            .unwrap();
        check(&store, 15);
        // So does removing a location, a product, a mirror, or giving a
        // mirror a new base URL.
        store
            .write("cli", |tx| tx.location_remove("a", "linux"))
            .unwrap();
        check(&store, 12);
        store.write("cli", |tx| tx.product_remove("b")).unwrap();
        check(&store, 3);
        store
            .write("cli", |tx| {
                tx.mirror_update("m2", |m| m.base_url = "http://new.example".into())
            })
            .unwrap();
        check(&store, 2);
        store.write("cli", |tx| tx.mirror_remove("m3")).unwrap();
        check(&store, 1);
        assert_eq!(store.availability_of_mirror(m1).unwrap().len(), 1);
        assert_eq!(store.checked_pairs().unwrap().len(), 1);
        // A mirror's removal leaves the others alone.
        let m2 = store.snapshot().unwrap().mirror("m2").unwrap().id;
        assert!(store.availability_of_mirror(m2).unwrap().is_empty());
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

    fn region(name: &str, fallback: Option<&str>, countries: &[&str]) -> Region {
        Region {
            name: name.into(),
            throttle: 100,
            fallback: fallback.map(String::from),
            global_fallback: true,
            countries: countries.iter().map(|c| c.to_string()).collect(),
        }
    }

    /// The error of a write that must fail, checking it wrote nothing.
    fn refused<T: std::fmt::Debug>(
        store: &Store,
        f: impl FnOnce(&mut Tx<'_>) -> Result<T>,
    ) -> String {
        let before = store.events(1).unwrap();
        let err = store.write("cli", f).unwrap_err().to_string();
        assert_eq!(store.events(1).unwrap(), before, "{err}");
        err
    }

    #[test]
    fn regions_add_update_remove() {
        let (_dir, store) = store();
        let europe = store
            .write("cli", |tx| {
                tx.region_add(region("Europe", None, &["de", " fr", "DE", "at"]))
            })
            .unwrap();
        assert_eq!(europe.name, "Europe");
        assert_eq!(europe.countries, vec!["AT", "DE", "FR"]);
        let events = store.events(1).unwrap();
        assert_eq!(events[0].action, "region.add");
        assert_eq!(
            events[0].detail,
            "Europe throttle=100 fallback=- global_fallback=true countries=[AT,DE,FR]"
        );

        // Refusals on add.
        let err = refused(&store, |tx| tx.region_add(region("europe", None, &[])));
        assert!(
            err.contains("exists already") && err.contains("Europe"),
            "{err}"
        );
        let err = refused(&store, |tx| tx.region_add(region("asia", None, &["JPN"])));
        assert!(
            err.contains("invalid country") && err.contains("JPN"),
            "{err}"
        );
        let err = refused(&store, |tx| {
            tx.region_add(region("dach", None, &["ch", "de"]))
        });
        assert!(err.contains("DE belongs to region \"Europe\""), "{err}");
        let err = refused(&store, |tx| {
            tx.region_add(region("asia", Some("nowhere"), &[]))
        });
        assert!(err.contains("no region named \"nowhere\""), "{err}");
        let err = refused(&store, |tx| {
            tx.region_add(region("asia", Some("ASIA"), &[]))
        });
        assert!(err.contains("itself"), "{err}");
        let err = refused(&store, |tx| tx.region_add(region("two words", None, &[])));
        assert!(err.contains("invalid region"), "{err}");

        // The fallback is stored as its region spells it; lookups ignore case.
        store
            .write("cli", |tx| {
                let asia = tx.region_add(region("asia", Some("EUROPE"), &["jp"]))?;
                assert_eq!(asia.fallback.as_deref(), Some("Europe"));
                assert_eq!(tx.region("ASIA")?.unwrap(), asia);
                tx.region_add(region("americas", Some("asia"), &["us"]))
            })
            .unwrap();

        // Refusals on update: cycles, self-fallback, shared countries.
        let err = refused(&store, |tx| {
            tx.region_update("europe", |r| r.fallback = Some("asia".into()))
        });
        assert!(err.contains("Europe → asia → Europe"), "{err}");
        let err = refused(&store, |tx| {
            tx.region_update("europe", |r| r.fallback = Some("americas".into()))
        });
        assert!(err.contains("Europe → americas → asia → Europe"), "{err}");
        let err = refused(&store, |tx| {
            tx.region_update("asia", |r| r.fallback = Some("Asia".into()))
        });
        assert!(err.contains("itself"), "{err}");
        let err = refused(&store, |tx| {
            tx.region_update("asia", |r| r.countries.push("fr".into()))
        });
        assert!(err.contains("FR belongs to region \"Europe\""), "{err}");
        let err = refused(&store, |tx| {
            tx.region_update("asia", |r| r.countries.push("1".into()))
        });
        assert!(err.contains("invalid country"), "{err}");
        let err = refused(&store, |tx| tx.region_update("oceania", |_| {}));
        assert!(err.contains("no region named \"oceania\""), "{err}");

        // An update keeps the name, may re-list its own countries, and a
        // blank fallback means none.
        let updated = store
            .write("cli", |tx| {
                tx.region_update("EUROPE", |r| {
                    r.name = "renamed".into();
                    r.throttle = 50;
                    r.countries = vec!["fr".into(), "de".into(), "it".into()];
                    r.fallback = Some("  ".into());
                })
            })
            .unwrap();
        assert_eq!(updated.name, "Europe");
        assert_eq!(updated.throttle, 50);
        assert_eq!(updated.countries, vec!["DE", "FR", "IT"]);
        assert_eq!(updated.fallback, None);
        let events = store.events(1).unwrap();
        assert_eq!(events[0].action, "region.update");
        assert!(
            events[0].detail.starts_with("Europe: "),
            "{}",
            events[0].detail
        );
        let s = store.snapshot().unwrap();
        assert_eq!(s.regions.len(), 3);
        assert!(s.regions.contains(&updated));

        // Mirrors name regions as the regions spell them.
        let m = store
            .write("cli", |tx| {
                tx.mirror_add(NewMirror {
                    name: "m1".into(),
                    base_url: "http://m1.example".into(),
                    rating: 1,
                    regions: vec!["EUROPE".into(), "europe".into(), "Asia".into()],
                    ..Default::default()
                })
            })
            .unwrap();
        assert_eq!(m.regions, vec!["Europe", "asia"]);

        // Removal is refused while a mirror serves the region or another
        // region falls back to it, naming them.
        let err = refused(&store, |tx| tx.region_remove("europe"));
        assert!(
            err.contains("mirror(s) m1 serve it") && err.contains("region(s) asia fall back"),
            "{err}"
        );
        store
            .write("cli", |tx| {
                tx.mirror_update("m1", |m| m.regions = vec!["asia".into()])
            })
            .unwrap();
        let err = refused(&store, |tx| tx.region_remove("Europe"));
        assert!(
            !err.contains("m1") && err.contains("region(s) asia fall back"),
            "{err}"
        );
        let err = refused(&store, |tx| tx.region_remove("asia"));
        assert!(
            err.contains("mirror(s) m1") && err.contains("region(s) americas"),
            "{err}"
        );
        let removed = store
            .write("cli", |tx| {
                tx.region_update("asia", |r| r.fallback = None)?;
                tx.region_remove("europe")
            })
            .unwrap();
        assert_eq!(removed, updated);
        let err = refused(&store, |tx| tx.region_remove("europe"));
        assert!(err.contains("no region named"), "{err}");
        // Its countries are free again.
        store
            .write("cli", |tx| {
                tx.region_add(region("dach", None, &["de", "at", "ch"]))
            })
            .unwrap();

        let actions: Vec<String> = store
            .events(100)
            .unwrap()
            .into_iter()
            .rev()
            .map(|e| e.action)
            .collect();
        assert_eq!(
            actions,
            [
                "region.add",
                "region.add",
                "region.add",
                "region.update",
                "mirror.add",
                "mirror.update",
                "region.update",
                "region.remove",
                "region.add",
            ]
        );
    }

    #[test]
    fn counts_over_days_and_products() {
        let (_dir, store) = store();
        let day = |day: u32, p1: u64, p2: u64| CountBatch {
            day,
            products: vec![(ProductId(1), p1), (ProductId(2), p2)],
            locations: vec![
                (LocationId(10), "de".into(), p1),
                (LocationId(20), String::new(), p2),
            ],
            mirrors: vec![(MirrorId(5), p1 + p2 - 1), (MirrorId(6), 1)],
            countries: vec![("DE".into(), p1), ("--".into(), p2)],
        };
        store.add_counts(&day(10, 3, 1)).unwrap();
        store.add_counts(&day(11, 2, 5)).unwrap();
        store.add_counts(&day(11, 1, 0)).unwrap();
        store.add_counts(&day(12, 7, 7)).unwrap();

        let c = store.counts(10, 11).unwrap();
        assert_eq!(c.by_day, BTreeMap::from([(10, 4), (11, 8)]));
        assert_eq!(
            c.by_product_day,
            BTreeMap::from([
                ((ProductId(1), 10), 3),
                ((ProductId(1), 11), 3),
                ((ProductId(2), 10), 1),
                ((ProductId(2), 11), 5),
            ])
        );
        assert_eq!(
            c.by_product,
            HashMap::from([(ProductId(1), 6), (ProductId(2), 6)])
        );
        assert_eq!(
            c.by_mirror,
            HashMap::from([(MirrorId(5), 9), (MirrorId(6), 3)])
        );
        assert_eq!(
            c.by_location,
            HashMap::from([
                ((LocationId(10), "de".to_string()), 6),
                ((LocationId(20), String::new()), 6),
            ])
        );
        assert_eq!(
            c.by_language,
            HashMap::from([("de".to_string(), 6), (String::new(), 6)])
        );
        assert_eq!(
            c.by_country,
            HashMap::from([("DE".to_string(), 6), ("--".to_string(), 6)])
        );
        assert_eq!(c.total, 12);
        // The same numbers as the single-table functions.
        assert_eq!(c.by_product, store.downloads_by_product(10, 11).unwrap());
        assert_eq!(c.by_mirror, store.downloads_by_mirror(10, 11).unwrap());
        assert_eq!(c.by_location, store.downloads_by_location(10, 11).unwrap());

        let one = store.counts(12, 12).unwrap();
        assert_eq!(one.by_day, BTreeMap::from([(12, 14)]));
        assert_eq!(one.by_country["--"], 7);
        assert_eq!(one.total, 14);

        let all = store.counts(0, u32::MAX).unwrap();
        assert_eq!(all.total, 26);
        assert_eq!(all.by_day.len(), 3);
        assert_eq!(all.by_language[""], 13);
        assert_eq!(all.by_country.values().sum::<u64>(), 26);
        assert_eq!(store.downloads_by_location(0, u32::MAX).unwrap().len(), 2);

        assert_eq!(store.counts(13, 20).unwrap(), Counts::default());
        assert_eq!(store.counts(11, 10).unwrap(), Counts::default());
        assert!(store.downloads_by_location(11, 10).unwrap().is_empty());
    }

    #[test]
    fn events_filtered_and_paged() {
        let (_dir, store) = store();
        for (actor, action, detail) in [
            ("cli", "product.add", "firefox-1.0 languages=[de]"),
            ("admin:alice", "mirror.add", "m1 http://M1.example"),
            ("admin:bob", "mirror.update", "m1: rating 1 -> 2"),
            ("Admin:Alice", "region.add", "europe countries=[DE]"),
            ("sentry", "mirror.down", "m1 timed out"),
            ("administrator", "user.add", "carol role=viewer"),
            ("admin:alice", "mirror.remove", "m2 https://m2.example"),
        ] {
            store
                .write(actor, |tx| tx.record(action, detail.to_string()))
                .unwrap();
        }
        let ids = |filter: &EventFilter, limit: usize| -> Vec<u64> {
            store
                .events_matching(filter, limit)
                .unwrap()
                .into_iter()
                .map(|e| e.id)
                .collect()
        };
        let filter = |actor: Option<&str>, action: Option<&str>, text: Option<&str>| EventFilter {
            actor: actor.map(String::from),
            action: action.map(String::from),
            text: text.map(String::from),
            before: None,
        };

        assert_eq!(ids(&EventFilter::default(), 100), [7, 6, 5, 4, 3, 2, 1]);
        assert_eq!(
            store.events_matching(&EventFilter::default(), 3).unwrap(),
            store.events(3).unwrap()
        );
        assert!(ids(&EventFilter::default(), 0).is_empty());
        assert_eq!(ids(&filter(Some("ADMIN:"), None, None), 100), [7, 4, 3, 2]);
        assert_eq!(
            ids(&filter(Some("admin:alice"), None, None), 100),
            [7, 4, 2]
        );
        assert_eq!(ids(&filter(None, Some("Mirror."), None), 100), [7, 5, 3, 2]);
        assert_eq!(ids(&filter(None, Some("mirror.add"), None), 100), [2]);
        assert_eq!(ids(&filter(None, None, Some("EXAMPLE")), 100), [7, 2]);
        assert_eq!(ids(&filter(None, None, Some("m1")), 100), [5, 3, 2]);
        assert_eq!(
            ids(&filter(Some("admin:"), Some("mirror."), Some("m1")), 100),
            [3, 2]
        );
        assert!(ids(&filter(Some("nobody"), None, None), 100).is_empty());
        // A prefix, not a substring.
        assert!(ids(&filter(Some("alice"), None, None), 100).is_empty());
        assert!(ids(&filter(None, Some("add"), None), 100).is_empty());

        // Paging: each page starts below the last id of the one before.
        let mut f = filter(None, Some("mirror."), None);
        let mut pages = Vec::new();
        loop {
            let page = ids(&f, 3);
            if page.is_empty() {
                break;
            }
            f.before = page.last().copied();
            pages.push(page);
        }
        assert_eq!(pages, [vec![7, 5, 3], vec![2]]);
        let page = EventFilter {
            before: Some(4),
            ..Default::default()
        };
        assert_eq!(ids(&page, 2), [3, 2]);
        assert!(page.matches(&store.events(100).unwrap()[6]));
        assert!(!page.matches(&store.events(100).unwrap()[0]));
        assert!(
            ids(
                &EventFilter {
                    before: Some(1),
                    ..Default::default()
                },
                10
            )
            .is_empty()
        );
    }

    /// Issue 15: a contact or region name stored before the rules came
    /// (as an old database has them) stays as it is while the rest of the
    /// mirror or region is edited; only a new value is checked.
    #[test]
    fn values_stored_before_the_rules_stay_editable() {
        let (_dir, store) = store();
        let old_region = "eu\u{202E}";
        store
            .write("test", |tx| {
                let mut m = tx.mirror_add(NewMirror {
                    name: "m1".into(),
                    base_url: "http://m1.example".into(),
                    ..NewMirror::default()
                })?;
                m.contact = "a@example.org,\r\nb@example.org".into();
                tx.put_mirror(&m)?;
                tx.put_region(&region(old_region, None, &["DE"]))?;
                tx.region_add(region("us", None, &["US"]))
            })
            .unwrap();
        let m = store
            .write("test", |tx| {
                tx.mirror_update("m1", |m| {
                    m.rating = 7;
                    m.regions = vec![old_region.into()];
                })
            })
            .unwrap();
        assert_eq!(m.contact, "a@example.org,\r\nb@example.org");
        assert_eq!(m.rating, 7);
        assert_eq!(m.regions, [old_region]);
        let us = store
            .write("test", |tx| {
                tx.region_update("us", |r| r.fallback = Some(old_region.into()))
            })
            .unwrap();
        assert_eq!(us.fallback.as_deref(), Some(old_region));
        // A new contact, a new name or a new reference is checked.
        let err = refused(&store, |tx| {
            tx.mirror_update("m1", |m| m.contact = "Ops <ops@example.org>".into())
        });
        assert!(err.contains("invalid contact"), "{err}");
        let err = refused(&store, |tx| {
            tx.mirror_update("m1", |m| m.regions = vec!["us\u{2066}".into()])
        });
        assert!(err.contains("bidirectional"), "{err}");
        let err = refused(&store, |tx| {
            tx.region_add(region("asia\u{202D}", None, &["JP"]))
        });
        assert!(err.contains("bidirectional"), "{err}");
        let m = store
            .write("test", |tx| {
                tx.mirror_update("m1", |m| m.contact = " ops@m1.example ".into())
            })
            .unwrap();
        assert_eq!(m.contact, "ops@m1.example");
        // A user's password changes whatever their name; a new user's name
        // is checked.
        let user = |name: &str| User {
            name: name.into(),
            password_hash: "x".into(),
            role: Role::Viewer,
            created_at: 0,
        };
        store
            .write("test", |tx| {
                tx.txn
                    .open_table(USERS)?
                    .insert("ann\u{202E}", encode(&user("ann\u{202E}")).as_slice())?;
                Ok(())
            })
            .unwrap();
        store
            .write("test", |tx| {
                tx.user_put(&user("ann\u{202E}"), "user.passwd")
            })
            .unwrap();
        let err = refused(&store, |tx| tx.user_put(&user("bob\u{2067}"), "user.add"));
        assert!(err.contains("bidirectional"), "{err}");
    }
}
