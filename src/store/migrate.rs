//! The schema version stored in the database, checked on open and migrated
//! step by step. A database from a newer Bouncer is refused, never
//! downgraded.

use redb::{ReadableTable, ReadableTableMetadata, WriteTransaction};

use super::tables::{META, OSES};
use crate::error::{Error, Result};
use crate::model::{DEFAULT_OSES, now};

/// The schema this build writes.
pub const SCHEMA_VERSION: u64 = 1;

const KEY: &str = "schema_version";

/// Brings the database in `txn` to [`SCHEMA_VERSION`]: initialises a new
/// one, migrates an older one, refuses a newer one. Returns the version
/// found (0 for a new database).
pub(super) fn upgrade(txn: &WriteTransaction) -> Result<u64> {
    let mut meta = txn.open_table(META)?;
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
            // Later migrations go here, one step per version: `1 => to_v2(txn)?`.
            v => unreachable!("no migration from schema {v}"),
        }
        version += 1;
    }
    meta.insert(KEY, SCHEMA_VERSION)?;
    Ok(found)
}

/// Schema 1 from nothing: the default operating systems.
fn init(txn: &WriteTransaction) -> Result<()> {
    let mut oses = txn.open_table(OSES)?;
    if oses.is_empty()? {
        let t = now();
        for os in DEFAULT_OSES {
            oses.insert(*os, t)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Store;

    #[test]
    fn newer_schema_is_refused_with_advice() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("b.redb");
        {
            let db = redb::Database::create(&path).unwrap();
            let txn = db.begin_write().unwrap();
            txn.open_table(META)
                .unwrap()
                .insert(KEY, SCHEMA_VERSION + 1)
                .unwrap();
            txn.commit().unwrap();
        }
        let err = Store::open(&path).err().expect("refused").to_string();
        assert!(err.contains("newer Bouncer"), "{err}");
        assert!(err.contains("upgrade"), "{err}");
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
