//! The schema version stored in the database, checked on open and migrated
//! step by step. A database from a newer Bouncer is refused, never
//! downgraded. Every step runs in the write transaction that opens the
//! database: a crash mid-migration leaves the old version, whole.
//!
//! Versions: 1, the first; 2, [`AVAILABILITY_BY_MIRROR`] (one mirror's
//! availability as a range scan); 3, mirrors and their health carry
//! address families (rows from before read as serving both, unknown), so
//! a build before refuses the database instead of calling its rows
//! damaged; 4, mirrors carry whom they serve (countries, networks
//! first, share cap; rows from before serve everyone alike), a root over
//! the other scheme and a trace file, and products how stale they may
//! be, likewise.

use redb::{ReadableTable, ReadableTableMetadata, WriteTransaction};

use super::tables::{AVAILABILITY, AVAILABILITY_BY_MIRROR, META, OSES};
use crate::error::{Error, Result};
use crate::model::{DEFAULT_OSES, now};

/// The schema this build writes.
pub const SCHEMA_VERSION: u64 = 4;

const KEY: &str = "schema_version";

/// Brings the database in `txn` to [`SCHEMA_VERSION`]: initialises a new
/// one, migrates an older one, refuses a newer one. Returns the version
/// found (0 for a new database).
pub(super) fn upgrade(txn: &WriteTransaction) -> Result<u64> {
    let mut meta = txn.open_table(META.redb)?;
    let found = meta.get(KEY)?.map(|v| v.value()).unwrap_or(0);
    if found > SCHEMA_VERSION {
        return Err(Error::NewerSchema {
            found,
            supported: SCHEMA_VERSION,
        });
    }
    let mut version = found;
    while version < SCHEMA_VERSION {
        match version {
            0 => init(txn)?,
            1 => to_v2(txn)?,
            // Rows without the families (2) or the audience (3) read as
            // before: nothing to rewrite.
            2 | 3 => {}
            // Later migrations go here, one step per version: `3 => to_v4(txn)?`.
            v => unreachable!("no migration from schema {v}"),
        }
        version += 1;
    }
    meta.insert(KEY, SCHEMA_VERSION)?;
    Ok(found)
}

/// Schema 1 from nothing: the default operating systems.
fn init(txn: &WriteTransaction) -> Result<()> {
    let mut oses = txn.open_table(OSES.redb)?;
    if oses.is_empty()? {
        let t = now();
        for os in DEFAULT_OSES {
            oses.insert(*os, t)?;
        }
    }
    Ok(())
}

/// Schema 2: [`AVAILABILITY_BY_MIRROR`], filled from the availability rows
/// there are.
fn to_v2(txn: &WriteTransaction) -> Result<()> {
    let availability = txn.open_table(AVAILABILITY.redb)?;
    let mut by_mirror = txn.open_table(AVAILABILITY_BY_MIRROR.redb)?;
    for row in availability.iter()? {
        let (location, mirror) = row?.0.value();
        by_mirror.insert((mirror, location), ())?;
    }
    Ok(())
}

/// A small database written by schema-1 code (see
/// `examples/schema_v1_fixture.rs`).
#[cfg(test)]
pub(super) const FIXTURE_V1: &str =
    concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/schema-v1.redb");

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{LocationId, MirrorId};
    use crate::store::Store;
    use crate::store::availability::tests::availability_index;

    #[test]
    fn newer_schema_is_refused_with_advice() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("b.redb");
        {
            let db = redb::Database::create(&path).unwrap();
            let txn = db.begin_write().unwrap();
            txn.open_table(META.redb)
                .unwrap()
                .insert(KEY, SCHEMA_VERSION + 1)
                .unwrap();
            txn.commit().unwrap();
        }
        let err = Store::open(&path).err().expect("refused").to_string();
        assert!(err.contains("newer Bouncer"), "{err}");
        assert!(err.contains("upgrade bouncer"), "{err}");
        assert!(
            err.contains(&format!("schema {}", SCHEMA_VERSION + 1)),
            "{err}"
        );
        // Refused, not touched.
        let db = redb::Database::open(&path).unwrap();
        let txn = redb::ReadableDatabase::begin_read(&db).unwrap();
        let version = txn
            .open_table(META.redb)
            .unwrap()
            .get(KEY)
            .unwrap()
            .unwrap();
        assert_eq!(version.value(), SCHEMA_VERSION + 1);
    }

    /// A copy of the schema-1 fixture in a temporary directory.
    fn fixture_copy() -> (tempfile::TempDir, std::path::PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("v1.redb");
        std::fs::copy(FIXTURE_V1, &path).unwrap();
        (dir, path)
    }

    #[test]
    fn the_fixture_is_schema_1() {
        let (_dir, path) = fixture_copy();
        let db = redb::Database::open(&path).unwrap();
        let txn = redb::ReadableDatabase::begin_read(&db).unwrap();
        let version = txn
            .open_table(META.redb)
            .unwrap()
            .get(KEY)
            .unwrap()
            .unwrap();
        assert_eq!(version.value(), 1);
        let names: Vec<String> = txn
            .list_tables()
            .unwrap()
            .map(|t| redb::TableHandle::name(&t).to_string())
            .collect();
        assert!(names.contains(&"availability_v1".to_string()), "{names:?}");
        assert!(
            !names.contains(&"availability_by_mirror_v1".to_string()),
            "{names:?}"
        );
    }

    #[test]
    fn schema_1_is_migrated_to_the_current_with_everything_kept() {
        let (_dir, path) = fixture_copy();
        let store = Store::open(&path).unwrap();
        assert_eq!(store.schema_version().unwrap(), SCHEMA_VERSION);

        let s = store.snapshot().unwrap();
        let names = |v: Vec<&str>| v.join(",");
        assert_eq!(
            names(s.products.iter().map(|p| p.name.as_str()).collect()),
            "firefox-120.0,thunderbird-115.0"
        );
        assert_eq!(s.products[0].languages, ["en-US", "de"]);
        assert_eq!(s.products[0].priority, 5);
        assert!(s.products[1].ssl_only && !s.products[1].public);
        assert_eq!(s.locations.len(), 3);
        assert_eq!(store.files().unwrap().len(), 2);
        assert_eq!(s.aliases.len(), 1);
        assert!(s.oses.contains(&"beos".to_string()));
        assert_eq!(
            names(s.mirrors.iter().map(|m| m.name.as_str()).collect()),
            "m1,m2,m3"
        );
        assert_eq!(s.mirrors[1].regions, ["europe"]);
        assert!(!s.mirrors[2].active);
        assert_eq!(s.regions.len(), 1);
        assert_eq!(s.regions[0].countries, ["DE", "FR"]);
        assert_eq!(s.settings.len(), 2);
        assert!(!s.health[&s.mirrors[1].id].healthy);
        // Written before address families: both, and nothing known apart.
        assert!(
            s.mirrors
                .iter()
                .all(|m| m.families == crate::model::Families::Both && m.audience.is_default())
        );
        let reaches = s.health[&s.mirrors[1].id].reaches;
        assert_eq!(reaches, crate::model::Reaches::default());
        let users = store.users().unwrap();
        assert_eq!(users.len(), 1);
        assert!(crate::auth::verify_password(
            "correct horse",
            &users[0].password_hash
        ));
        assert_eq!(store.sentry_runs(10).unwrap().len(), 1);
        assert!(store.events(100).unwrap().len() >= 10);
        assert_eq!(store.geoip().unwrap().unwrap().source, "fixture");
        let counts = store.counts(0, u32::MAX).unwrap();
        assert_eq!(counts.total, 8);
        assert_eq!(counts.by_country["--"], 2);

        // The new table holds exactly the availability rows.
        let (rows, index) = availability_index(&store);
        assert_eq!(rows.len(), 5);
        assert_eq!(index, rows);
        let m2 = s.mirror("m2").unwrap().id;
        let mut of_m2: Vec<LocationId> = store
            .availability_of_mirror(m2)
            .unwrap()
            .into_iter()
            .map(|(l, _)| l)
            .collect();
        of_m2.sort();
        assert_eq!(of_m2.len(), 2);
        for l in &of_m2 {
            assert!(
                store
                    .availability_of(*l)
                    .unwrap()
                    .iter()
                    .any(|(m, _)| *m == m2)
            );
        }
        let pairs = store.checked_pairs().unwrap();
        assert_eq!(pairs.len(), 5);
        assert!(pairs.contains(&(of_m2[0], MirrorId(m2.0))));

        // Opening again changes nothing.
        let events = store.events(1000).unwrap();
        drop(store);
        let store = Store::open(&path).unwrap();
        assert_eq!(store.schema_version().unwrap(), SCHEMA_VERSION);
        assert_eq!(store.events(1000).unwrap(), events);
        assert_eq!(availability_index(&store).0.len(), 5);
    }

    #[test]
    fn new_database_gets_version_and_default_oses() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("b.redb")).unwrap();
        assert_eq!(store.schema_version().unwrap(), SCHEMA_VERSION);
        let oses = store.snapshot().unwrap().oses;
        assert_eq!(oses.len(), DEFAULT_OSES.len());
        assert!(oses.iter().any(|o| o == "linux64-aarch64"));
    }
}
