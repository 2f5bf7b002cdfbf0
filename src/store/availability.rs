//! What sentry found per (location, mirror), kept in [`AVAILABILITY`] and
//! mirrored by key in [`AVAILABILITY_BY_MIRROR`]: both change in the same
//! transactions.

use redb::{ReadableDatabase, ReadableTable};

use super::rows::{decode, encode};
use super::tables::*;
use super::{Store, Tx};
use crate::error::Result;
use crate::model::*;

impl Store {
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
}

impl Tx {
    /// Drops sentry's findings for `location` on every mirror, with their
    /// entries in [`AVAILABILITY_BY_MIRROR`].
    pub(super) fn clear_availability(&mut self, location: LocationId) -> Result<()> {
        let mut t = self.txn.open_table(AVAILABILITY)?;
        let mut by_mirror = self.txn.open_table(AVAILABILITY_BY_MIRROR)?;
        for row in t.extract_from_if((location.0, 0)..=(location.0, u64::MAX), |_, _| true)? {
            let (_, mirror) = row?.0.value();
            by_mirror.remove((mirror, location.0))?;
        }
        Ok(())
    }

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
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use crate::store::tests::store;
    use crate::store::{NewMirror, NewProduct};

    #[test]
    fn availability_is_updated_in_place() {
        let (_dir, store) = store();
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
        assert_eq!(sizes[10], sizes[39], "{sizes:?}");
    }

    /// (location id, mirror id) pairs.
    pub(in crate::store) type Pairs = std::collections::BTreeSet<(u64, u64)>;

    /// The keys of [`AVAILABILITY`] and of [`AVAILABILITY_BY_MIRROR`]
    /// turned back, both as (location, mirror): equal when in step.
    pub(in crate::store) fn availability_index(store: &Store) -> (Pairs, Pairs) {
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
