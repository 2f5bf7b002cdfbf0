//! The whole configuration read in one transaction: [`Snapshot`],
//! [`Store::read_network`] (the index's source) and [`Store::dump`] (an
//! export's).

use std::collections::{BTreeMap, HashMap};

use redb::ReadableTable;

use super::Store;
use super::backend::{Key, Span, Txn};
use super::rows;
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
        read_snapshot(&self.read()?)
    }

    /// Reads the configuration and every known file, hands them to
    /// `config` for a visitor, and, in the same transaction, calls
    /// `serving` with the visitor for every (location, mirror) whose
    /// availability says it serves the file. Streams: nothing per row is
    /// kept, so a network of millions of availability rows builds an index
    /// in little memory. Also returns the generation read (PostgreSQL; 0
    /// for redb, whose writes all go through this process).
    pub fn read_network<V>(
        &self,
        config: impl FnOnce(Snapshot, Vec<FileInfo>) -> V,
        mut serving: impl FnMut(&mut V, LocationId, MirrorId),
    ) -> Result<V> {
        let txn = self.read()?;
        let mut visitor = config(read_snapshot(&txn)?, txn.values(&FILES)?);
        match &txn {
            Txn::Pg(pg) => serving_pairs(pg, |l, m| serving(&mut visitor, l, m))?,
            Txn::RedbRead(redb) => {
                for row in redb.open_table(AVAILABILITY.redb)?.iter()? {
                    let (k, v) = row?;
                    if rows::availability_serves(v.value())? {
                        let (loc, mirror) = k.value();
                        serving(&mut visitor, LocationId(loc), MirrorId(mirror));
                    }
                }
            }
            Txn::RedbWrite(_) => unreachable!("read() begins a read"),
        }
        Ok(visitor)
    }

    /// The configuration, the users and (with `counts`) every day's
    /// download counts, read in one transaction: what an export holds.
    pub fn dump(&self, counts: bool) -> Result<Dump> {
        let txn = self.read()?;
        let snapshot = read_snapshot(&txn)?;
        let users = txn.values(&USERS)?;
        let mut days: BTreeMap<u32, CountBatch> = BTreeMap::new();
        fn day(days: &mut BTreeMap<u32, CountBatch>, d: u32) -> &mut CountBatch {
            days.entry(d).or_insert_with(|| CountBatch {
                day: d,
                ..Default::default()
            })
        }
        if counts {
            for ((d, product), n) in txn.range(&COUNT_PRODUCT, Span::all())? {
                day(&mut days, d).products.push((ProductId(product), n));
            }
            for ((d, location, lang), n) in txn.range(&COUNT_LOCATION, Span::all())? {
                day(&mut days, d)
                    .locations
                    .push((LocationId(location), lang, n));
            }
            for ((d, mirror), n) in txn.range(&COUNT_MIRROR, Span::all())? {
                day(&mut days, d).mirrors.push((MirrorId(mirror), n));
            }
            for ((d, country), n) in txn.range(&COUNT_COUNTRY, Span::all())? {
                day(&mut days, d).countries.push((country, n));
            }
        }
        Ok(Dump {
            snapshot,
            files: txn.values(&FILES)?,
            users,
            counts: days.into_values().collect(),
        })
    }
}

/// What a node read of a shared (PostgreSQL) database since the
/// generation its index reflects: see [`Store::changes_since`].
#[derive(Debug)]
pub struct Changes {
    /// The generation read: every change up to it is in here.
    pub generation: u64,
    /// The configuration and files, when they changed since (or on a
    /// first read).
    pub config: Option<(Snapshot, Vec<FileInfo>)>,
    /// Every mirror's health (a row per mirror: always read).
    pub health: HashMap<MirrorId, MirrorHealth>,
    /// Whether availability came whole (a first read, or rows were
    /// removed since) rather than as the rows changed since.
    pub whole: bool,
}

impl Store {
    /// Reads, in one REPEATABLE READ transaction, what changed since
    /// generation `since` (`None`: everything): the configuration if it
    /// changed, mirror health, and availability — `pair(whole, location,
    /// mirror, serves)` for each pair whose serving state may have changed,
    /// or (with `whole` true) for every serving pair. PostgreSQL only: a redb
    /// network's writes all go through its one process.
    pub fn changes_since(
        &self,
        since: Option<u64>,
        mut pair: impl FnMut(bool, LocationId, MirrorId, bool),
    ) -> Result<Changes> {
        let txn = self.read()?;
        let Txn::Pg(pg) = &txn else {
            return Err(crate::error::Error::Internal(
                "changes_since on a redb database".into(),
            ));
        };
        let mut generation = 0;
        // Absent rows: nothing of the kind happened since the schema was made.
        let mut config_generation = 0;
        let mut reset = 0;
        for row in pg.query("SELECT name, value FROM meta", &[])? {
            let name: String = row.get(0);
            let value = super::postgres::from_sql_int(row.get(1));
            match name.as_str() {
                "generation" => generation = value,
                super::postgres::CONFIG_GENERATION => config_generation = value,
                super::availability::RESET => reset = value,
                _ => {}
            }
        }
        let changed = |at: u64| since.is_none_or(|seen| at > seen);
        let config = if changed(config_generation) {
            Some((read_snapshot(&txn)?, txn.values(&FILES)?))
        } else {
            None
        };
        let whole = changed(reset);
        match since {
            Some(seen) if !whole => pg.stream(
                "SELECT location, mirror, present AND healthy FROM availability WHERE gen > $1",
                &[super::postgres::SqlValue::Int(super::postgres::sql_int(
                    seen,
                ))],
                |row| {
                    let (l, m) = <(u64, u64) as Key>::key_from_sql(row, &mut 0)?;
                    pair(false, LocationId(l), MirrorId(m), row.get(2));
                    Ok(true)
                },
            )?,
            _ => serving_pairs(pg, |l, m| pair(true, l, m, true))?,
        }
        let health = txn
            .range(&MIRROR_HEALTH, Span::all())?
            .into_iter()
            .map(|(m, h)| (MirrorId(m), h))
            .collect();
        Ok(Changes {
            generation,
            config,
            health,
            whole,
        })
    }
}

/// Calls `f` with every (location, mirror) whose availability says it
/// serves the file, read a location to a row (the mirrors aggregated into
/// an array by the database): millions of pairs arrive as thousands of
/// rows, which a client decodes far faster.
fn serving_pairs(
    pg: &super::postgres::PgTxn,
    mut f: impl FnMut(LocationId, MirrorId),
) -> Result<()> {
    pg.stream(
        "SELECT location, ARRAY_AGG(mirror) FROM availability WHERE present AND healthy
         GROUP BY location",
        &[],
        |row| {
            let location = <u64 as Key>::key_from_sql(row, &mut 0)?;
            let mirrors: Vec<i64> = row
                .try_get(1)
                .map_err(|e| crate::error::Error::storage(format!("availability: {e}")))?;
            for m in mirrors {
                f(
                    LocationId(location),
                    MirrorId(super::postgres::from_sql_int(m)),
                );
            }
            Ok(true)
        },
    )
}

/// Reads the configuration tables in `txn`.
pub(super) fn read_snapshot(txn: &Txn) -> Result<Snapshot> {
    Ok(Snapshot {
        products: txn.values(&PRODUCTS)?,
        aliases: txn.values(&ALIASES)?,
        locations: txn.values(&LOCATIONS)?,
        mirrors: txn.values(&MIRRORS)?,
        regions: txn.values(&REGIONS)?,
        oses: txn
            .range(&OSES, Span::all())?
            .into_iter()
            .map(|(os, _)| os)
            .collect(),
        health: txn
            .range(&MIRROR_HEALTH, Span::all())?
            .into_iter()
            .map(|(m, h)| (MirrorId(m), h))
            .collect(),
        settings: txn.range(&SETTINGS, Span::all())?.into_iter().collect(),
    })
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Actor;
    use crate::store::{NewMirror, NewProduct, Place};

    /// (whole, location, mirror, serves) as `changes_since` reported them.
    type Seen = Vec<(bool, u64, u64, bool)>;

    fn changes(store: &Store, since: Option<u64>) -> (Changes, Seen) {
        let mut seen = Vec::new();
        let changes = store
            .changes_since(since, |whole, l, m, serves| {
                seen.push((whole, l.0, m.0, serves))
            })
            .unwrap();
        seen.sort();
        (changes, seen)
    }

    fn found(present: bool, checked_at: u64) -> Availability {
        Availability {
            present,
            healthy: true,
            checked_at,
            error: String::new(),
        }
    }

    #[test]
    fn a_node_reads_only_what_changed_since_its_index() {
        let Some(server) = crate::testing::postgres::TestPostgres::shared_or_skip() else {
            return;
        };
        let store = Store::open_at(&Place::Postgres(server.database())).unwrap();
        let (loc, m1, m2) = store
            .write(&Actor::Cli, |tx| {
                tx.product_add(NewProduct {
                    name: "p".into(),
                    ..Default::default()
                })?;
                let loc = tx.location_add("p", "linux", "/p.tar")?.id;
                let mut add = |name: &str| {
                    tx.mirror_add(NewMirror {
                        name: name.into(),
                        base_url: format!("http://{name}.example"),
                        rating: 1,
                        ..Default::default()
                    })
                    .map(|m| m.id)
                };
                let (m1, m2) = (add("m1")?, add("m2")?);
                tx.set_availability(loc, m1, &found(true, 1))?;
                tx.set_availability(loc, m2, &found(false, 1))?;
                Ok((loc, m1, m2))
            })
            .unwrap();
        // A first read: everything, whole.
        let (first, seen) = changes(&store, None);
        assert!(first.whole && first.config.is_some());
        assert_eq!(seen, [(true, loc.0, m1.0, true)]);

        // Sentry rechecks both and nothing flips: nothing to read, not
        // even the configuration.
        store
            .write(&Actor::Sentry, |tx| {
                tx.set_availability_many(&[(loc, m1, found(true, 2)), (loc, m2, found(false, 2))])
            })
            .unwrap();
        let (quiet, seen) = changes(&store, Some(first.generation));
        assert!(quiet.generation > first.generation);
        assert!(!quiet.whole && quiet.config.is_none(), "{quiet:?}");
        assert!(seen.is_empty(), "{seen:?}");

        // m2 turns up: only its row.
        store
            .write(&Actor::Sentry, |tx| {
                tx.set_availability(loc, m2, &found(true, 3))
            })
            .unwrap();
        let (flip, seen) = changes(&store, Some(quiet.generation));
        assert!(!flip.whole && flip.config.is_none());
        assert_eq!(seen, [(false, loc.0, m2.0, true)]);

        // A configuration change is read whole; removing a mirror drops
        // rows, so availability comes whole too.
        store
            .write(&Actor::Cli, |tx| tx.mirror_remove("m1").map(drop))
            .unwrap();
        let (removed, seen) = changes(&store, Some(flip.generation));
        assert!(removed.whole && removed.config.is_some());
        assert_eq!(seen, [(true, loc.0, m2.0, true)]);
    }
}
