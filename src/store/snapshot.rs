//! The whole configuration read in one transaction: [`Snapshot`],
//! [`Store::read_network`] (the index's source) and [`Store::dump`] (an
//! export's).

use std::collections::{BTreeMap, HashMap};

use redb::{ReadableDatabase, ReadableTable};

use super::Store;
use super::rows::{self, decode, decode_all};
use super::tables::*;
use crate::error::Result;
use crate::model::*;

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
    /// Reads the whole configuration and mirror health (not availability,
    /// which can be millions of rows: see [`Store::read_network`]).
    pub fn snapshot(&self) -> Result<Snapshot> {
        let txn = self.db.begin_read()?;
        read_snapshot(&txn)
    }

    /// Reads the configuration and every known file, hands them to
    /// `config` for a visitor, and, in the same transaction, calls
    /// `serving` with the visitor for every (location, mirror) whose
    /// availability says it serves the file. Streams: nothing per row is
    /// kept, so a network of millions of availability rows builds an index
    /// in little memory.
    pub fn read_network<V>(
        &self,
        config: impl FnOnce(Snapshot, Vec<FileInfo>) -> V,
        mut serving: impl FnMut(&mut V, LocationId, MirrorId),
    ) -> Result<V> {
        let txn = self.db.begin_read()?;
        let mut visitor = config(read_snapshot(&txn)?, read_files(&txn)?);
        for row in txn.open_table(AVAILABILITY)?.iter()? {
            let (k, v) = row?;
            if rows::availability_serves(v.value())? {
                let (loc, mirror) = k.value();
                serving(&mut visitor, LocationId(loc), MirrorId(mirror));
            }
        }
        Ok(visitor)
    }

    /// The configuration, the users and (with `counts`) every day's
    /// download counts, read in one transaction: what an export holds.
    pub fn dump(&self, counts: bool) -> Result<Dump> {
        let txn = self.db.begin_read()?;
        let snapshot = read_snapshot(&txn)?;
        let users = decode_all(txn.open_table(USERS)?.iter()?)?;
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
            files: read_files(&txn)?,
            users,
            counts: days.into_values().collect(),
        })
    }
}

/// Every known file, by path.
pub(super) fn read_files(txn: &redb::ReadTransaction) -> Result<Vec<FileInfo>> {
    decode_all(txn.open_table(FILES)?.iter()?)
}

/// Reads the configuration tables in `txn`.
pub(super) fn read_snapshot(txn: &redb::ReadTransaction) -> Result<Snapshot> {
    let mut s = Snapshot {
        products: decode_all(txn.open_table(PRODUCTS)?.iter()?)?,
        aliases: decode_all(txn.open_table(ALIASES)?.iter()?)?,
        locations: decode_all(txn.open_table(LOCATIONS)?.iter()?)?,
        mirrors: decode_all(txn.open_table(MIRRORS)?.iter()?)?,
        regions: decode_all(txn.open_table(REGIONS)?.iter()?)?,
        ..Snapshot::default()
    };
    for row in txn.open_table(OSES)?.iter()? {
        s.oses.push(row?.0.value().to_string());
    }
    for row in txn.open_table(MIRROR_HEALTH)?.iter()? {
        let (k, v) = row?;
        s.health.insert(MirrorId(k.value()), decode(v.value())?);
    }
    for row in txn.open_table(SETTINGS)?.iter()? {
        let (k, v) = row?;
        s.settings
            .insert(k.value().to_string(), v.value().to_string());
    }
    Ok(s)
}

/// What [`Store::dump`] read.
#[derive(Debug, Default, Clone)]
pub struct Dump {
    /// The configuration (and mirror health, which exports leave out).
    pub snapshot: Snapshot,
    /// Every known file, by path.
    pub files: Vec<FileInfo>,
    /// Every user, by name.
    pub users: Vec<User>,
    /// Download counts, one batch per day in day order, each list in key
    /// order (empty unless asked for).
    pub counts: Vec<CountBatch>,
}
