//! What sentry found per (location, mirror), kept in [`AVAILABILITY`]. In
//! redb its keys are mirrored in [`AVAILABILITY_BY_MIRROR`] (both change in
//! the same transactions); PostgreSQL has an index instead, and a `gen`
//! column: the generation that last changed whether the pair serves, so a
//! node refreshing its index reads only what changed.

use super::backend::{Span, Txn};
use super::postgres::{PgTxn, SqlValue, sql_int};
use super::tables::*;
use super::{Store, Tx};
use crate::error::Result;
use crate::model::*;

/// The `meta` row holding the generation of the last change that removed
/// availability rows (a mirror or location gone or moved): a node whose
/// index is older reads the whole table again, since deleted rows leave no
/// `gen` behind.
pub(super) const RESET: &str = "availability_reset";

impl Store {
    /// Everything sentry knows about one location, by mirror.
    pub fn availability_of(&self, location: LocationId) -> Result<Vec<(MirrorId, Availability)>> {
        let rows = self.read()?.range(
            &AVAILABILITY,
            Span::of((location.0, 0)..=(location.0, u64::MAX)),
        )?;
        Ok(rows
            .into_iter()
            .map(|((_, m), a)| (MirrorId(m), a))
            .collect())
    }

    /// Everything sentry knows about one mirror, by location: a range of
    /// [`AVAILABILITY_BY_MIRROR`] (or PostgreSQL's index) and a lookup per
    /// row, whatever the size of the network.
    pub fn availability_of_mirror(
        &self,
        mirror: MirrorId,
    ) -> Result<Vec<(LocationId, Availability)>> {
        let txn = self.read()?;
        let mut out = Vec::new();
        if let Some(pg) = txn.pg() {
            pg.stream(
                "SELECT location, present, healthy, checked_at, error FROM availability
                 WHERE mirror = $1 ORDER BY location",
                &[SqlValue::Int(sql_int(mirror.0))],
                |row| {
                    let mut at = 0;
                    let location = <u64 as super::backend::Key>::key_from_sql(row, &mut at)?;
                    let a = <Availability as super::backend::Val>::from_sql(row, &mut at)?;
                    out.push((LocationId(location), a));
                    Ok(true)
                },
            )?;
            return Ok(out);
        }
        let keys = txn.range(
            &AVAILABILITY_BY_MIRROR,
            Span::of((mirror.0, 0)..=(mirror.0, u64::MAX)),
        )?;
        for ((_, location), ()) in keys {
            // Written in the same transactions, so the row is there; a
            // damaged file that lost it shows as "never checked".
            if let Some(a) = txn.get(&AVAILABILITY, &(location, mirror.0))? {
                out.push((LocationId(location), a));
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
        self.read()?.each(&AVAILABILITY, Span::all(), |(l, m), a| {
            f(LocationId(l), MirrorId(m), a);
        })
    }

    /// The (location, mirror) pairs sentry has checked (in redb read from
    /// [`AVAILABILITY_BY_MIRROR`]: keys only, fewer pages than the rows).
    pub fn checked_pairs(&self) -> Result<std::collections::HashSet<(LocationId, MirrorId)>> {
        let txn = self.read()?;
        let mut out = std::collections::HashSet::new();
        if let Some(pg) = txn.pg() {
            pg.stream("SELECT location, mirror FROM availability", &[], |row| {
                let mut at = 0;
                let (l, m) = <(u64, u64) as super::backend::Key>::key_from_sql(row, &mut at)?;
                out.insert((LocationId(l), MirrorId(m)));
                Ok(true)
            })?;
            return Ok(out);
        }
        txn.each(&AVAILABILITY_BY_MIRROR, Span::all(), |(m, l), ()| {
            out.insert((LocationId(l), MirrorId(m)));
        })?;
        Ok(out)
    }
}

impl Store {
    /// Records the findings of `rows` that leave whether their pair serves
    /// as it is (new check times, new errors), outside the generation lock
    /// (PostgreSQL: such rows change no node's index, so other writers
    /// need not wait for them), in short transactions, each only while
    /// `lease` still holds sentry's lease. Returns the rows it left for a
    /// generation-locked write: the new pairs and those that flip (on
    /// redb, every row: there one write does all).
    pub fn availability_refresh(
        &self,
        rows: &[(LocationId, MirrorId, Availability)],
        lease: Option<&super::Lease>,
    ) -> Result<Vec<(LocationId, MirrorId, Availability)>> {
        let Some(db) = self.postgres() else {
            return Ok(rows.to_vec());
        };
        let mut done = std::collections::HashSet::new();
        for batch in rows.chunks(AVAILABILITY_BATCH) {
            let txn = db.read_write()?;
            if let Some(lease) = lease {
                // Shared: the lease cannot change hands before this
                // commits, and batches do not wait on each other.
                super::lease::require(&txn, lease, "FOR SHARE")?;
            }
            let ints = |f: &dyn Fn(&(LocationId, MirrorId, Availability)) -> u64| {
                SqlValue::Ints(batch.iter().map(|r| sql_int(f(r))).collect())
            };
            let updated = txn.query(
                "UPDATE availability AS a
                 SET present = t.p, healthy = t.h, checked_at = t.c, error = t.e
                 FROM UNNEST($1::bigint[], $2::bigint[], $3::boolean[], $4::boolean[],
                     $5::bigint[], $6::text[]) AS t (l, m, p, h, c, e)
                 WHERE a.location = t.l AND a.mirror = t.m
                     AND (a.present AND a.healthy) = (t.p AND t.h)
                 RETURNING a.location, a.mirror",
                &[
                    ints(&|r| r.0.0),
                    ints(&|r| r.1.0),
                    SqlValue::Bools(batch.iter().map(|r| r.2.present).collect()),
                    SqlValue::Bools(batch.iter().map(|r| r.2.healthy).collect()),
                    ints(&|r| r.2.checked_at),
                    SqlValue::Texts(batch.iter().map(|r| r.2.error.clone()).collect()),
                ],
            )?;
            txn.commit()?;
            for row in updated {
                let (l, m) = <(u64, u64) as super::backend::Key>::key_from_sql(&row, &mut 0)?;
                done.insert((LocationId(l), MirrorId(m)));
            }
        }
        Ok(rows
            .iter()
            .filter(|(l, m, _)| !done.contains(&(*l, *m)))
            .cloned()
            .collect())
    }
}

impl Tx {
    /// Drops sentry's findings for `location` on every mirror, with their
    /// entries in [`AVAILABILITY_BY_MIRROR`].
    pub(super) fn clear_availability(&mut self, location: LocationId) -> Result<()> {
        let removed = self.txn.delete_range(
            &AVAILABILITY,
            Span::of((location.0, 0)..=(location.0, u64::MAX)),
        )?;
        for (_, mirror) in removed {
            self.txn
                .delete(&AVAILABILITY_BY_MIRROR, &(mirror, location.0))?;
        }
        self.availability_reset()
    }

    /// Drops sentry's findings for `mirror` on every location (a range of
    /// [`AVAILABILITY_BY_MIRROR`], not a pass over every row).
    pub(super) fn clear_mirror_availability(&mut self, mirror: MirrorId) -> Result<()> {
        if let Some(pg) = self.txn.pg() {
            pg.execute(
                "DELETE FROM availability WHERE mirror = $1",
                &[SqlValue::Int(sql_int(mirror.0))],
            )?;
            return self.availability_reset();
        }
        let removed = self.txn.delete_range(
            &AVAILABILITY_BY_MIRROR,
            Span::of((mirror.0, 0)..=(mirror.0, u64::MAX)),
        )?;
        for (_, location) in removed {
            self.txn.delete(&AVAILABILITY, &(location, mirror.0))?;
        }
        Ok(())
    }

    /// Notes (in PostgreSQL) that this change removed availability rows.
    fn availability_reset(&self) -> Result<()> {
        if let Some(pg) = self.txn.pg() {
            pg.set_meta(RESET, pg.generation().unwrap_or(0))?;
        }
        Ok(())
    }

    /// Records what a check found for (location, mirror), in place.
    pub fn set_availability(
        &mut self,
        location: LocationId,
        mirror: MirrorId,
        availability: &Availability,
    ) -> Result<()> {
        self.set_availability_many(&[(location, mirror, availability.clone())])
    }

    /// Records what checks found, in place: in PostgreSQL a batched upsert
    /// that moves a row's `gen` only when whether it serves flips (a full
    /// run rewrites the check times of millions of rows, not their
    /// generations).
    pub fn set_availability_many(
        &mut self,
        rows: &[(LocationId, MirrorId, Availability)],
    ) -> Result<()> {
        match &self.txn {
            Txn::Pg(pg) => set_availability_pg(pg, rows),
            _ => {
                let keys: Vec<((u64, u64), ())> =
                    rows.iter().map(|(l, m, _)| ((m.0, l.0), ())).collect();
                self.txn
                    .put_many(&AVAILABILITY_BY_MIRROR, keys.iter().map(|(k, v)| (k, v)))?;
                let values: Vec<((u64, u64), &Availability)> =
                    rows.iter().map(|(l, m, a)| ((l.0, m.0), a)).collect();
                self.txn
                    .put_many(&AVAILABILITY, values.iter().map(|(k, v)| (k, *v)))
            }
        }
    }
}

/// Rows a statement of [`set_availability_pg`] carries: arrays, one per
/// column, so a statement costs seven parameters whatever its size.
const AVAILABILITY_BATCH: usize = 20_000;

/// [`Tx::set_availability_many`] in PostgreSQL: each batch one upsert from
/// `UNNEST` over column arrays (SQL:2008), which PostgreSQL plans once and
/// runs far faster than as many rows of `VALUES`.
fn set_availability_pg(pg: &PgTxn, rows: &[(LocationId, MirrorId, Availability)]) -> Result<()> {
    let generation = sql_int(pg.generation().unwrap_or(0));
    let mut sorted: Vec<&(LocationId, MirrorId, Availability)> = rows.iter().collect();
    // Sorted (rows locked in one order by every writer) and one row per
    // key: a statement may not upsert a row twice (the last finding wins,
    // as it would row by row).
    sorted.sort_by_key(|(l, m, _)| (*l, *m));
    sorted.reverse();
    sorted.dedup_by_key(|(l, m, _)| (*l, *m));
    sorted.reverse();
    for batch in sorted.chunks(AVAILABILITY_BATCH) {
        let ints = |f: &dyn Fn(&(LocationId, MirrorId, Availability)) -> u64| {
            SqlValue::Ints(batch.iter().map(|r| sql_int(f(r))).collect())
        };
        let bools = |f: &dyn Fn(&Availability) -> bool| {
            SqlValue::Bools(batch.iter().map(|r| f(&r.2)).collect())
        };
        pg.execute(
            "INSERT INTO availability (location, mirror, present, healthy, checked_at, error, gen)
             SELECT l, m, p, h, c, e, $7 FROM UNNEST($1::bigint[], $2::bigint[], $3::boolean[],
                 $4::boolean[], $5::bigint[], $6::text[]) AS t (l, m, p, h, c, e)
             ON CONFLICT (location, mirror) DO UPDATE SET
                 present = EXCLUDED.present, healthy = EXCLUDED.healthy,
                 checked_at = EXCLUDED.checked_at, error = EXCLUDED.error,
                 gen = CASE WHEN (availability.present AND availability.healthy)
                            = (EXCLUDED.present AND EXCLUDED.healthy)
                       THEN availability.gen ELSE EXCLUDED.gen END",
            &[
                ints(&|r| r.0.0),
                ints(&|r| r.1.0),
                bools(&|a| a.present),
                bools(&|a| a.healthy),
                ints(&|r| r.2.checked_at),
                SqlValue::Texts(batch.iter().map(|r| r.2.error.clone()).collect()),
                SqlValue::Int(generation),
            ],
        )?;
    }
    Ok(())
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use crate::store::tests::stores;
    use crate::store::{NewMirror, NewProduct};
    use redb::ReadableTable;

    #[test]
    fn availability_is_updated_in_place() {
        for (_db, store) in stores() {
            let (loc, mirror) = store
                .write(&crate::model::Actor::Cli, |tx| {
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
                    .write(&crate::model::Actor::Sentry, |tx| {
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
            // (redb: a file's size; PostgreSQL has no file, and its in-place
            // update is asserted by the row count above.)
            if store.path().is_some() {
                assert!(sizes[10].is_some_and(|size| size > 0), "{sizes:?}");
                assert_eq!(sizes[10], sizes[39], "{sizes:?}");
            }
        }
    }

    /// (location id, mirror id) pairs.
    pub(in crate::store) type Pairs = std::collections::BTreeSet<(u64, u64)>;

    /// The keys of [`AVAILABILITY`] and of [`AVAILABILITY_BY_MIRROR`]
    /// turned back, both as (location, mirror): equal when in step.
    pub(in crate::store) fn availability_index(store: &Store) -> (Pairs, Pairs) {
        if store.redb().is_none() {
            // PostgreSQL keeps no second table: its index is in step.
            let pairs: Pairs = store
                .checked_pairs()
                .unwrap()
                .into_iter()
                .map(|(l, m)| (l.0, m.0))
                .collect();
            return (pairs.clone(), pairs);
        }
        let txn = redb::ReadableDatabase::begin_read(store.redb().unwrap()).unwrap();
        let rows = txn
            .open_table(AVAILABILITY.redb)
            .unwrap()
            .iter()
            .unwrap()
            .map(|r| r.unwrap().0.value())
            .collect();
        let index = txn
            .open_table(AVAILABILITY_BY_MIRROR.redb)
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
        for (_db, store) in stores() {
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
                .write(&crate::model::Actor::Cli, |tx| {
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
                .write(&crate::model::Actor::Sentry, |tx| {
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
                .write(&crate::model::Actor::Cli, |tx| {
                    tx.location_set_path("a", "win", "/a/win2")
                })
                .unwrap();
            check(&store, 15);
            // So does removing a location, a product, a mirror, or giving a
            // mirror a new base URL.
            store
                .write(&crate::model::Actor::Cli, |tx| {
                    tx.location_remove("a", "linux")
                })
                .unwrap();
            check(&store, 12);
            store
                .write(&crate::model::Actor::Cli, |tx| tx.product_remove("b"))
                .unwrap();
            check(&store, 3);
            store
                .write(&crate::model::Actor::Cli, |tx| {
                    tx.mirror_update("m2", |m| m.base_url = "http://new.example".into())
                })
                .unwrap();
            check(&store, 2);
            store
                .write(&crate::model::Actor::Cli, |tx| tx.mirror_remove("m3"))
                .unwrap();
            check(&store, 1);
            assert_eq!(store.availability_of_mirror(m1).unwrap().len(), 1);
            assert_eq!(store.checked_pairs().unwrap().len(), 1);
            // A mirror's removal leaves the others alone.
            let m2 = store.snapshot().unwrap().mirror("m2").unwrap().id;
            assert!(store.availability_of_mirror(m2).unwrap().is_empty());
        }
    }
}
