//! `bouncer copy`: a whole network from one database into another, of
//! either engine (a redb file to PostgreSQL and back), with its ids,
//! sentry's findings, download counts, audit log and GeoIP table.
//!
//! Every table ([`each_table`]) is read from one read transaction of the
//! source (a consistent snapshot) and written into one write transaction
//! of the target, a few thousand rows at a time, so a table of millions of
//! rows streams through in little memory and the target gets the whole
//! network or nothing. On PostgreSQL that transaction holds the generation
//! lock, as every configuration change does, so nodes on the target see
//! the copy when it commits.

use redb::TableHandle;

use super::backend::{Key, Order, Span, Table, Txn, Val};
use super::tables::*;
use super::{Store, Tx};
use crate::error::{Error, Result};
use crate::model::*;

/// Rows handed to the target in one call (PostgreSQL splits them into
/// statements of a few hundred).
const BATCH: usize = 4096;

/// The prefix of the `meta` keys that are id sequences (`next_product`,
/// …): the only ones copied. The others (`schema_version`, `generation`,
/// `availability_reset`) belong to the engine that wrote them.
const SEQUENCE: &str = "next_";

/// What [`Store::copy_into`] copied.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CopyReport {
    /// Rows copied per table, by its PostgreSQL name, in the order copied
    /// (`meta`: the id sequences).
    pub tables: Vec<(&'static str, u64)>,
}

impl CopyReport {
    /// Rows copied into `table` (by its PostgreSQL name).
    pub fn rows(&self, table: &str) -> u64 {
        self.tables
            .iter()
            .filter(|(t, _)| *t == table)
            .map(|(_, n)| n)
            .sum()
    }

    /// Rows copied in all.
    pub fn total(&self) -> u64 {
        self.tables.iter().map(|(_, n)| n).sum()
    }
}

impl Store {
    /// Copies the whole network, as of one moment, into `to`, which must
    /// hold none (see [`CopyReport`] for what was copied). Ids stay as they
    /// were; `to` keeps its own engine bookkeeping (schema version,
    /// generation). Nothing is written if anything fails.
    pub fn copy_into(&self, to: &Store) -> Result<CopyReport> {
        let from = self.read()?;
        to.write(&Actor::Program("copy"), |tx| {
            refuse_occupied(&tx.txn, &to.name())?;
            let mut copy = Copy {
                from: &from,
                tx,
                report: CopyReport::default(),
            };
            each_table(&mut copy)?;
            Ok(copy.report)
        })
    }
}

/// Refuses a target that holds any part of a network. A new database is
/// not empty to the letter: it has its engine's `meta` keys and the usual
/// operating systems, which a copy replaces.
fn refuse_occupied(txn: &Txn, name: &str) -> Result<()> {
    struct Occupied<'a> {
        txn: &'a Txn,
        found: Vec<&'static str>,
    }
    impl TableVisitor for Occupied<'_> {
        fn table<K: Key + Clone, V: Val>(&mut self, table: &Table<K, V>) -> Result<()> {
            let name = table.redb.name();
            if name == META.redb.name() || name == AVAILABILITY_BY_MIRROR.redb.name() {
                return Ok(());
            }
            let any = if name == OSES.redb.name() {
                // Only an operating system someone added is a network's.
                self.txn
                    .range(&OSES, Span::all())?
                    .iter()
                    .any(|(os, _)| !DEFAULT_OSES.contains(&os.as_str()))
            } else {
                let mut any = false;
                self.txn
                    .scan(table, Span::all(), Order::Up, Some(1), |_, _| {
                        any = true;
                        Ok(false)
                    })?;
                any
            };
            let noun = family(table.sql);
            if any && !self.found.contains(&noun) {
                self.found.push(noun);
            }
            Ok(())
        }
    }
    let mut occupied = Occupied {
        txn,
        found: Vec::new(),
    };
    each_table(&mut occupied)?;
    if occupied.found.is_empty() {
        return Ok(());
    }
    Err(Error::invalid(
        "copy target",
        format!(
            "{name} is not empty (it holds {}): copy into a new database (a file that does not exist yet, or a PostgreSQL database just made with `createdb`); nothing was changed",
            occupied.found.join(", ")
        ),
    ))
}

/// What a table holds, as a message names it.
fn family(sql: &str) -> &'static str {
    match sql {
        "products" | "product_names" => "products",
        "aliases" => "aliases",
        "oses" => "operating systems",
        "locations" | "location_keys" => "locations",
        "files" => "files",
        "mirrors" | "mirror_names" => "mirrors",
        "mirror_health" | "mirror_checks" | "sentry_runs" => "sentry's records",
        "availability" => "availability",
        "regions" => "regions",
        "geoip" => "a GeoIP table",
        "users" => "users",
        "settings" => "settings",
        "events" => "an audit log",
        s if s.starts_with("count_") => "download counts",
        _ => "other data",
    }
}

/// Copies each table from a read transaction into a write transaction.
struct Copy<'a> {
    from: &'a Txn,
    tx: &'a mut Tx,
    report: CopyReport,
}

impl TableVisitor for Copy<'_> {
    fn table<K: Key + Clone, V: Val>(&mut self, table: &Table<K, V>) -> Result<()> {
        let name = table.redb.name();
        let rows = if name == META.redb.name() {
            self.sequences()?
        } else if name == AVAILABILITY.redb.name() {
            self.availability()?
        } else if name == AVAILABILITY_BY_MIRROR.redb.name() {
            // Written with the availability rows (PostgreSQL has an index).
            return Ok(());
        } else {
            if name == OSES.redb.name() {
                // The usual ones a new database starts with give way to
                // the source's (which may have removed some).
                self.tx.txn.delete_range(&OSES, Span::all())?;
            }
            let to = &self.tx.txn;
            copy_rows(self.from, table, |batch| {
                to.put_many(table, batch.iter().map(|(k, v)| (k, v)))
            })?
        };
        self.report.tables.push((table.sql, rows));
        Ok(())
    }
}

impl Copy<'_> {
    /// The id sequences of `meta`, so that new ids follow the copied ones.
    fn sequences(&mut self) -> Result<u64> {
        let to = &self.tx.txn;
        // Left by a network since emptied: the source's replace them.
        for (key, _) in to.range(&META, Span::all())? {
            if key.starts_with(SEQUENCE) {
                to.delete(&META, &key)?;
            }
        }
        let sequences: Vec<(String, u64)> = self
            .from
            .range(&META, Span::all())?
            .into_iter()
            .filter(|(key, _)| key.starts_with(SEQUENCE))
            .collect();
        to.put_many(&META, sequences.iter().map(|(k, v)| (k, v)))?;
        Ok(sequences.len() as u64)
    }

    /// Sentry's findings, written as sentry writes them: redb keeps its
    /// by-mirror table in step, PostgreSQL stamps each row's generation.
    fn availability(&mut self) -> Result<u64> {
        let tx = &mut *self.tx;
        copy_rows(self.from, &AVAILABILITY, |batch| {
            let rows: Vec<(LocationId, MirrorId, Availability)> = batch
                .into_iter()
                .map(|((l, m), a)| (LocationId(l), MirrorId(m), a))
                .collect();
            tx.set_availability_many(&rows)
        })
    }
}

/// Reads every row of `table` in `from`, in key order, and hands them to
/// `write` [`BATCH`] at a time; how many there were.
fn copy_rows<K: Key + Clone, V: Val>(
    from: &Txn,
    table: &Table<K, V>,
    mut write: impl FnMut(Vec<(K, V)>) -> Result<()>,
) -> Result<u64> {
    let mut batch = Vec::with_capacity(BATCH);
    let mut rows = 0;
    from.scan(table, Span::all(), Order::Up, None, |k, v| {
        batch.push((k, v));
        rows += 1;
        if batch.len() == BATCH {
            write(std::mem::replace(&mut batch, Vec::with_capacity(BATCH)))?;
        }
        Ok(true)
    })?;
    if !batch.is_empty() {
        write(batch)?;
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::tests::{region, store};
    use crate::store::{NewMirror, NewProduct, Place};

    /// A network with something in every table: two products (one with an
    /// alias, languages and a file), locations, an operating system added
    /// and a usual one removed, mirrors with health and availability, a
    /// region, settings, a user, sentry runs, download counts, a GeoIP
    /// table, and gaps in the ids (things removed).
    fn network(store: &Store) {
        let actor = Actor::Program("test");
        store
            .write(&actor, |tx| {
                tx.os_add("beos")?;
                tx.os_remove("osx")?;
                tx.product_add(NewProduct {
                    name: "gone".into(),
                    ..Default::default()
                })?;
                tx.product_remove("gone")?;
                tx.product_add(NewProduct {
                    name: "Firefox-120.0".into(),
                    languages: vec!["en-US".into(), "de".into()],
                    ..Default::default()
                })?;
                tx.product_add(NewProduct {
                    name: "tb".into(),
                    ..Default::default()
                })?;
                tx.alias_set("firefox-latest", "firefox-120.0")?;
                let win = tx.location_add("firefox-120.0", "win", "/f/:lang/setup.exe")?;
                tx.location_add("firefox-120.0", "beos", "/f/:lang/ff.pkg")?;
                tx.location_add("tb", "linux", "/tb.tar")?;
                tx.file_put(&FileInfo {
                    path: "/f/de/setup.exe".into(),
                    location: Some(win.id),
                    lang: Some("de".into()),
                    size: Some(42),
                    sha256: Some("ab".repeat(32)),
                    ..Default::default()
                })?;
                tx.region_add(region("europe", None, &["DE", "FR"]))?;
                for (name, rating) in [("m0", 1), ("m1", 10), ("m2", 5)] {
                    tx.mirror_add(NewMirror {
                        name: name.into(),
                        base_url: format!("http://{name}.example/pub"),
                        rating,
                        regions: vec!["europe".into()],
                        ..Default::default()
                    })?;
                }
                tx.mirror_remove("m0")?;
                tx.setting_put("mail.host", Some("smtp.example.org"))?;
                tx.user_put(
                    &User {
                        name: "alice".into(),
                        password_hash: "$argon2id$x".into(),
                        role: Role::Admin,
                        created_at: 7,
                    },
                    "user.add",
                )?;
                let (mut geo, _) = crate::geoip::GeoDb::from_ranges(
                    vec![(
                        0x0100_0000,
                        0x01ff_ffff,
                        crate::geoip::Country::parse("DE").unwrap(),
                    )],
                    vec![],
                );
                geo.source = "test.csv".into();
                geo.loaded = 9;
                tx.geoip_put(Some(&geo))
            })
            .unwrap();
        store
            .write(&Actor::Sentry, |tx| {
                let mirrors = tx.mirrors()?;
                let mut rows = Vec::new();
                for (i, l) in tx.locations()?.iter().enumerate() {
                    for (j, m) in mirrors.iter().enumerate() {
                        let a = Availability {
                            present: (i + j) % 2 == 0,
                            healthy: j != 1,
                            checked_at: 100 + i as u64,
                            error: if j == 1 {
                                "timeout".into()
                            } else {
                                String::new()
                            },
                        };
                        rows.push((l.id, m.id, a));
                    }
                }
                tx.set_availability_many(&rows)?;
                tx.set_health(
                    mirrors[0].id,
                    &MirrorHealth {
                        healthy: false,
                        checked_at: 5,
                        since: 4,
                        error: "refused".into(),
                        flaps: 2,
                        latency_ms: 30,
                        throughput: 1000,
                        problem: Some(crate::model::Problem::Refused),
                        reaches: crate::model::Reaches {
                            v4: crate::model::Reach::Down,
                            v6: crate::model::Reach::NoAddress,
                        },
                        alt: crate::model::Reach::Unknown,
                        synced_at: 0,
                    },
                )?;
                for kind in ["all", "spot"] {
                    tx.sentry_run_put(&mut SentryRun {
                        kind: kind.into(),
                        started_at: 1,
                        ended_at: 2,
                        checks: 6,
                        report: format!("{kind}.html"),
                        ..Default::default()
                    })?;
                }
                Ok(())
            })
            .unwrap();
        let s = store.snapshot().unwrap();
        for day in [19000, 19001] {
            store
                .add_counts(&CountBatch {
                    day,
                    products: vec![(s.products[0].id, 3)],
                    locations: vec![(s.locations[0].id, "de".into(), 2)],
                    mirrors: vec![(s.mirrors[1].id, 3)],
                    countries: vec![("DE".into(), 2), ("--".into(), 1)],
                })
                .unwrap();
        }
    }

    /// Everything a copy must carry, in a form that compares.
    fn contents(store: &Store) -> String {
        let dump = store.dump(true).unwrap();
        let mut health: Vec<_> = dump.snapshot.health.iter().collect();
        health.sort_by_key(|(m, _)| **m);
        let mut availability = Vec::new();
        store
            .each_availability(|l, m, a| availability.push((l, m, a)))
            .unwrap();
        let sequences: Vec<(String, u64)> = store
            .read()
            .unwrap()
            .range(&META, Span::all())
            .unwrap()
            .into_iter()
            .filter(|(k, _)| k.starts_with(SEQUENCE))
            .collect();
        let s = &dump.snapshot;
        format!(
            "{:#?}",
            (
                (&s.products, &s.aliases, &s.oses, &s.locations, &s.mirrors),
                (health, &s.regions, &s.settings, &dump.files, &dump.users),
                (&dump.counts, availability, store.events(1_000_000).unwrap()),
                (
                    store
                        .geoip()
                        .unwrap()
                        .map(|g| (g.source.clone(), g.loaded, g.encode())),
                    store.sentry_runs(1_000_000).unwrap(),
                    sequences,
                ),
            )
        )
    }

    #[test]
    fn a_network_copied_to_postgresql_and_back_is_the_same() {
        let Some(server) = crate::testing::postgres::TestPostgres::shared_or_skip() else {
            return;
        };
        let (_dir, source) = store();
        network(&source);
        let before = contents(&source);
        assert!(
            before.contains("timeout") && before.contains("alice"),
            "{before}"
        );

        let pg = Store::open_at(&Place::Postgres(server.database())).unwrap();
        let report = source.copy_into(&pg).unwrap();
        assert_eq!(contents(&pg), before);
        assert_eq!(report.rows("products"), 2);
        assert_eq!(report.rows("availability"), 6);
        assert_eq!(report.rows("meta"), 5, "{report:?}");
        assert_eq!(report.rows("geoip"), 1);
        // Nodes on the target see the copy: its rows carry the generation
        // of the write that made them.
        let pg_db = pg.postgres().unwrap();
        let txn = pg_db.read().unwrap();
        let stale = txn
            .query("SELECT count(*) FROM availability WHERE gen = 0", &[])
            .unwrap();
        assert_eq!(stale[0].get::<_, i64>(0), 0);
        drop(txn);

        let (_dir2, back) = store();
        pg.copy_into(&back).unwrap();
        assert_eq!(contents(&back), before);
        // redb's by-mirror table is in step with the rows.
        let (rows, index) = crate::store::availability::tests::availability_index(&back);
        assert_eq!(rows.len(), 6);
        assert_eq!(rows, index);

        // New ids follow the copied ones, as in the source.
        let next = |store: &Store| {
            store
                .write(&Actor::Cli, |tx| {
                    let p = tx.product_add(NewProduct {
                        name: "new".into(),
                        ..Default::default()
                    })?;
                    let m = tx.mirror_add(NewMirror {
                        name: "new".into(),
                        base_url: "http://new.example".into(),
                        ..Default::default()
                    })?;
                    Ok((p.id, m.id))
                })
                .unwrap()
        };
        assert_eq!(next(&back), next(&source));
    }

    #[test]
    fn a_target_with_a_network_is_refused_and_left_alone() {
        for (_db, target) in crate::store::tests::stores() {
            let (_dir, source) = store();
            network(&source);
            target
                .write(&Actor::Cli, |tx| {
                    tx.os_add("plan9")?;
                    tx.mirror_add(NewMirror {
                        name: "mine".into(),
                        base_url: "http://mine.example".into(),
                        ..Default::default()
                    })
                })
                .unwrap();
            let before = contents(&target);
            let err = source.copy_into(&target).unwrap_err();
            assert!(
                matches!(
                    err,
                    Error::Invalid {
                        what: "copy target",
                        ..
                    }
                ),
                "{err}"
            );
            let message = err.to_string();
            assert!(
                message.contains("it holds operating systems, mirrors, an audit log)"),
                "{message}"
            );
            assert_eq!(contents(&target), before);
        }
    }

    #[test]
    fn a_new_database_of_either_engine_takes_a_copy() {
        for (_db, target) in crate::store::tests::stores() {
            let (_dir, source) = store();
            network(&source);
            source.copy_into(&target).unwrap();
            assert_eq!(contents(&target), contents(&source));
            // Copying again finds the network there.
            assert!(source.copy_into(&target).is_err());
        }
    }
}
