//! Download counts per day: by product, location and language, mirror
//! and country.

use std::collections::{BTreeMap, HashMap};
use std::ops::Bound;

use super::backend::{Span, Table, Txn};
use super::postgres::{PgTxn, SqlValue, sql_int};
use super::tables::*;
use super::{Backend, Store, Tx};
use crate::error::Result;
use crate::model::*;

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

impl Store {
    /// Adds a batch of download counts in one write transaction.
    pub fn add_counts(&self, batch: &CountBatch) -> Result<()> {
        match &self.backend {
            Backend::Redb { db, .. } => {
                let txn = Txn::RedbWrite(db.begin_write()?);
                add_counts_in(&txn, batch)?;
                txn.commit()
            }
            // No generation lock: additive upserts commute, and counts
            // change no index.
            Backend::Postgres(db) => {
                let txn = Txn::Pg(db.read_write()?);
                add_counts_in(&txn, batch)?;
                txn.commit()
            }
        }
    }

    /// Adds node `node`'s flush number `seq` of download counts, at most
    /// once: a flush whose reply was lost (the connection dropped after
    /// the commit) is retried unchanged, and the retry finds it applied.
    /// A node numbers its flushes upwards and sends them in order, so any
    /// `seq` not above the last one applied is a retry. Returns whether
    /// `batch` was added now.
    pub fn add_counts_once(&self, node: &str, seq: u64, batch: &CountBatch) -> Result<bool> {
        match &self.backend {
            // No check: a redb file belongs to one process, whose commit
            // happens here and reports what it did; no reply can be lost.
            Backend::Redb { .. } => self.add_counts(batch).map(|()| true),
            Backend::Postgres(db) => {
                let txn = db.read_write()?;
                if !claim_flush(&txn, node, seq, now())? {
                    return Ok(false);
                }
                let txn = Txn::Pg(txn);
                add_counts_in(&txn, batch)?;
                txn.commit()?;
                Ok(true)
            }
        }
    }

    /// Downloads per product over the days `from..=to`, summed.
    pub fn downloads_by_product(&self, from: u32, to: u32) -> Result<HashMap<ProductId, u64>> {
        sum_by_id(&self.read()?, &COUNT_PRODUCT, from, to, ProductId)
    }

    /// Downloads per mirror over the days `from..=to`, summed.
    pub fn downloads_by_mirror(&self, from: u32, to: u32) -> Result<HashMap<MirrorId, u64>> {
        sum_by_id(&self.read()?, &COUNT_MIRROR, from, to, MirrorId)
    }

    /// Downloads per (location, language) over the days `from..=to`.
    pub fn downloads_by_location(
        &self,
        from: u32,
        to: u32,
    ) -> Result<HashMap<(LocationId, String), u64>> {
        let mut out = HashMap::new();
        if from > to {
            return Ok(out);
        }
        self.read()?.each(
            &COUNT_LOCATION,
            location_days(from, to),
            |(_, loc, lang), n| {
                *out.entry((LocationId(loc), lang)).or_default() += n;
            },
        )?;
        Ok(out)
    }

    /// The downloads per product and day of the days `from..=to` (the
    /// other breakdowns of [`Counts`] left empty): what the overview shows,
    /// without reading the far larger per-location counts.
    pub fn product_counts(&self, from: u32, to: u32) -> Result<Counts> {
        let mut c = Counts::default();
        if from <= to {
            read_product_counts(&self.read()?, from, to, &mut c)?;
        }
        Ok(c)
    }

    /// Every download count of the days `from..=to`, read in one
    /// transaction so the breakdowns agree with each other.
    pub fn counts(&self, from: u32, to: u32) -> Result<Counts> {
        let mut c = Counts::default();
        if from > to {
            return Ok(c);
        }
        let txn = self.read()?;
        read_product_counts(&txn, from, to, &mut c)?;
        c.by_mirror = sum_by_id(&txn, &COUNT_MIRROR, from, to, MirrorId)?;
        txn.each(
            &COUNT_LOCATION,
            location_days(from, to),
            |(_, location, lang), n| {
                *c.by_language.entry(lang.clone()).or_default() += n;
                *c.by_location
                    .entry((LocationId(location), lang))
                    .or_default() += n;
            },
        )?;
        let end = match to.checked_add(1) {
            Some(next) => Bound::Excluded((next, String::new())),
            None => Bound::Unbounded,
        };
        txn.each(
            &COUNT_COUNTRY,
            Span::of((Bound::Included((from, String::new())), end)),
            |(_, country), n| *c.by_country.entry(country).or_default() += n,
        )?;
        Ok(c)
    }
}

/// The counts of `table` (keyed by day and an id) over the days
/// `from..=to` in `txn`, summed per id.
fn sum_by_id<I: std::hash::Hash + Eq>(
    txn: &Txn,
    table: &Table<(u32, u64), u64>,
    from: u32,
    to: u32,
    id: impl Fn(u64) -> I,
) -> Result<HashMap<I, u64>> {
    let mut out = HashMap::new();
    txn.each(
        table,
        Span::of((from, 0)..=(to, u64::MAX)),
        |(_, key), n| {
            *out.entry(id(key)).or_default() += n;
        },
    )?;
    Ok(out)
}

/// Adds the per-product counts of the days `from..=to` to `c`: by day,
/// by product and day, by product, and the total.
fn read_product_counts(txn: &Txn, from: u32, to: u32, c: &mut Counts) -> Result<()> {
    txn.each(
        &COUNT_PRODUCT,
        Span::of((from, 0)..=(to, u64::MAX)),
        |(day, product), n| {
            *c.by_day.entry(day).or_default() += n;
            *c.by_product_day
                .entry((ProductId(product), day))
                .or_default() += n;
            *c.by_product.entry(ProductId(product)).or_default() += n;
            c.total += n;
        },
    )
}

/// Adds `batch` to the counts in `txn`.
pub(super) fn add_counts_in(txn: &Txn, batch: &CountBatch) -> Result<()> {
    let day = batch.day;
    txn.add_to(
        &COUNT_PRODUCT,
        batch
            .products
            .iter()
            .map(|(id, n)| ((day, id.0), *n))
            .collect(),
    )?;
    txn.add_to(
        &COUNT_LOCATION,
        batch
            .locations
            .iter()
            .map(|(id, lang, n)| ((day, id.0, lang.clone()), *n))
            .collect(),
    )?;
    txn.add_to(
        &COUNT_MIRROR,
        batch
            .mirrors
            .iter()
            .map(|(id, n)| ((day, id.0), *n))
            .collect(),
    )?;
    txn.add_to(
        &COUNT_COUNTRY,
        batch
            .countries
            .iter()
            .map(|(c, n)| ((day, c.clone()), *n))
            .collect(),
    )
}

/// How long a node's last flush number is kept after its last flush: far
/// longer than any retry (a node retries every second or so), so only the
/// rows of nodes long gone (each start is a new node) are removed.
const FLUSH_ROWS_KEPT: u64 = 30 * 86_400;

/// Records `node`'s flush `seq` in the transaction that adds its counts;
/// false when it (or a later one) was recorded before. One statement, so
/// the row lock it takes makes a concurrent retry wait for this one.
fn claim_flush(pg: &PgTxn, node: &str, seq: u64, now: u64) -> Result<bool> {
    if seq == 1 {
        // A node's first flush: the time to forget nodes long gone.
        pg.execute(
            "DELETE FROM count_flushes WHERE flushed_at < $1",
            &[SqlValue::Int(sql_int(now.saturating_sub(FLUSH_ROWS_KEPT)))],
        )?;
    }
    let claimed = pg.execute(
        "INSERT INTO count_flushes (node, seq, flushed_at) VALUES ($1, $2, $3) \
         ON CONFLICT (node) DO UPDATE SET seq = EXCLUDED.seq, flushed_at = EXCLUDED.flushed_at \
         WHERE count_flushes.seq < EXCLUDED.seq",
        &[
            SqlValue::Text(node.to_string()),
            SqlValue::Int(sql_int(seq)),
            SqlValue::Int(sql_int(now)),
        ],
    )?;
    Ok(claimed == 1)
}

impl Tx {
    /// Adds a batch of download counts.
    pub fn counts_add(&mut self, batch: &CountBatch) -> Result<()> {
        add_counts_in(&self.txn, batch)
    }

    /// Removes every download count.
    pub fn counts_clear(&mut self) -> Result<()> {
        self.txn.delete_range(&COUNT_PRODUCT, Span::all())?;
        self.txn.delete_range(&COUNT_LOCATION, Span::all())?;
        self.txn.delete_range(&COUNT_MIRROR, Span::all())?;
        self.txn.delete_range(&COUNT_COUNTRY, Span::all())?;
        Ok(())
    }
}

/// The keys of [`COUNT_LOCATION`] for the days `from..=to`.
fn location_days(from: u32, to: u32) -> Span<(u32, u64, String)> {
    let end = match to.checked_add(1) {
        Some(next) => Bound::Excluded((next, 0, String::new())),
        None => Bound::Unbounded,
    };
    Span::of((Bound::Included((from, 0, String::new())), end))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::tests::stores;

    #[test]
    fn counts_add_up() {
        for (_db, store) in stores() {
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

    fn one_product(day: u32, n: u64) -> CountBatch {
        CountBatch {
            day,
            products: vec![(ProductId(1), n)],
            locations: vec![(LocationId(2), "de".into(), n)],
            mirrors: vec![(MirrorId(5), n)],
            countries: vec![("DE".into(), n)],
        }
    }

    #[test]
    fn a_retried_flush_counts_once() {
        for (_db, store) in stores() {
            let pg = store.postgres().is_some();
            assert!(store.add_counts_once("a", 1, &one_product(100, 3)).unwrap());
            // The same flush again (its reply was lost): nothing added.
            assert_eq!(
                store.add_counts_once("a", 1, &one_product(100, 3)).unwrap(),
                !pg
            );
            assert!(store.add_counts_once("a", 2, &one_product(100, 4)).unwrap());
            // An older flush of the same node is a retry too.
            assert_eq!(
                store.add_counts_once("a", 1, &one_product(100, 3)).unwrap(),
                !pg
            );
            let expected = if pg { 7 } else { 13 };
            let c = store.counts(100, 100).unwrap();
            assert_eq!(c.by_product[&ProductId(1)], expected);
            assert_eq!(c.by_mirror[&MirrorId(5)], expected);
            assert_eq!(c.by_country["DE"], expected);
            assert_eq!(c.by_location[&(LocationId(2), "de".to_string())], expected);
        }
    }

    #[test]
    fn two_nodes_flushes_add_up() {
        for (_db, store) in stores() {
            // Each node numbers its own flushes: the same seq from another
            // node is another flush.
            assert!(store.add_counts_once("a", 1, &one_product(100, 3)).unwrap());
            assert!(store.add_counts_once("b", 1, &one_product(100, 5)).unwrap());
            assert!(store.add_counts_once("b", 2, &one_product(101, 1)).unwrap());
            assert!(store.add_counts_once("a", 2, &one_product(101, 2)).unwrap());
            let c = store.counts(100, 101).unwrap();
            assert_eq!(c.by_day, BTreeMap::from([(100, 8), (101, 3)]));
            assert_eq!(c.by_mirror[&MirrorId(5)], 11);
        }
    }

    #[test]
    fn nodes_long_gone_are_forgotten() {
        for (_db, store) in stores() {
            let Some(pg) = store.postgres() else { continue };
            let txn = pg.read_write().unwrap();
            txn.execute(
                "INSERT INTO count_flushes (node, seq, flushed_at) VALUES ('gone', 5, 0), ('recent', 5, $1)",
                &[SqlValue::Int(sql_int(now()))],
            )
            .unwrap();
            txn.commit().unwrap();
            // A new node's first flush removes rows unused for long.
            assert!(
                store
                    .add_counts_once("new", 1, &one_product(100, 1))
                    .unwrap()
            );
            assert!(
                store
                    .add_counts_once("gone", 5, &one_product(100, 1))
                    .unwrap()
            );
            assert!(
                !store
                    .add_counts_once("recent", 5, &one_product(100, 1))
                    .unwrap()
            );
            assert_eq!(store.counts(100, 100).unwrap().total, 2);
        }
    }

    #[test]
    fn nodes_flushing_at_once_add_up() {
        for (_db, store) in stores() {
            let store = std::sync::Arc::new(store);
            let threads: Vec<_> = ["a", "b", "c"]
                .into_iter()
                .map(|node| {
                    let store = store.clone();
                    std::thread::spawn(move || {
                        for seq in 1..=20 {
                            let mut batch = one_product(100, 1);
                            // Overlapping keys in both orders: sorted
                            // upserts must not deadlock.
                            batch.mirrors = vec![(MirrorId(5), 1), (MirrorId(6), 1)];
                            if seq % 2 == 0 {
                                batch.mirrors.reverse();
                            }
                            assert!(store.add_counts_once(node, seq, &batch).unwrap());
                            if store.postgres().is_some() {
                                assert!(!store.add_counts_once(node, seq, &batch).unwrap());
                            }
                        }
                    })
                })
                .collect();
            for t in threads {
                t.join().unwrap();
            }
            let c = store.counts(100, 100).unwrap();
            assert_eq!(c.total, 60);
            assert_eq!(c.by_mirror[&MirrorId(6)], 60);
        }
    }

    #[test]
    fn counts_over_days_and_products() {
        for (_db, store) in stores() {
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
            // The overview's lighter read agrees on what it reads.
            let products = store.product_counts(10, 11).unwrap();
            assert_eq!(
                (
                    &products.by_day,
                    &products.by_product_day,
                    &products.by_product,
                    products.total
                ),
                (&c.by_day, &c.by_product_day, &c.by_product, c.total)
            );
            assert!(products.by_location.is_empty() && products.by_mirror.is_empty());
            assert_eq!(store.product_counts(12, 11).unwrap().total, 0);
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
    }
}
