//! `bouncer backup`: a copy of the whole database as of one moment, made
//! while the server keeps serving.
//!
//! One read transaction is a consistent snapshot in redb, and it blocks no
//! writer; every table ([`each_table`]) is copied from it, row by row, into
//! a new database written beside the target as `FILE.partial` (created
//! owner-only, 0600), committed durably, then renamed into place, and the
//! directory is synced. A crash
//! leaves either the old FILE or the new one, never half a copy under its
//! name.

use std::path::{Path, PathBuf};

use redb::{
    Key, ReadTransaction, ReadableDatabase, ReadableTable, TableDefinition, Value, WriteTransaction,
};

use super::Store;
use super::tables::{TableVisitor, each_table};
use crate::error::{Error, Result};

/// What a backup copied.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Backup {
    /// Where the copy is.
    pub path: PathBuf,
    /// Tables copied (every table, empty ones too).
    pub tables: usize,
    /// Rows copied.
    pub rows: u64,
    /// Bytes of keys and values copied.
    pub bytes: u64,
    /// Size of the new file.
    pub file_size: u64,
}

/// redb's page cache for the copy: it is written once, front to back.
const COPY_CACHE_BYTES: usize = 16 << 20;

impl Store {
    /// Copies the whole database, as of one moment, to a new database at
    /// `to`. Refuses an existing `to` unless `force`, and never overwrites
    /// the database itself.
    pub fn backup(&self, to: &Path, force: bool) -> Result<Backup> {
        let Some(path) = self.path() else {
            return Err(Error::invalid(
                "backup",
                format!(
                    "the network lives in PostgreSQL ({}), whose own tool makes consistent copies: `pg_dump --format=custom --file=bouncer.dump DATABASE` (restore with pg_restore), or copy it into a file with `bouncer copy --from URL --to FILE.redb`",
                    self.name()
                ),
            ));
        };
        if same_file(to, path) {
            return Err(Error::invalid(
                "backup file",
                format!(
                    "{} is the database itself: choose another file",
                    to.display()
                ),
            ));
        }
        if to.exists() && !force {
            return Err(Error::invalid(
                "backup file",
                format!(
                    "{} exists already: choose another name, or add --force to replace it",
                    to.display()
                ),
            ));
        }
        let partial = partial_path(to);
        // Left by a backup that crashed: never anyone's data.
        let _ = std::fs::remove_file(&partial);
        let copied = self.copy_to(&partial).and_then(|mut report| {
            std::fs::rename(&partial, to).map_err(|e| {
                Error::io(
                    format!("cannot move {} to {}", partial.display(), to.display()),
                    e,
                )
            })?;
            sync_dir(to)?;
            report.path = to.to_path_buf();
            report.file_size = std::fs::metadata(to)
                .map_err(|e| Error::io(format!("cannot stat {}", to.display()), e))?
                .len();
            Ok(report)
        });
        if copied.is_err() {
            let _ = std::fs::remove_file(&partial);
        }
        copied
    }

    /// Copies every table from one read transaction into a new database
    /// at `path` (created owner-only, as the database: it holds the
    /// password hashes), committed durably.
    fn copy_to(&self, path: &Path) -> Result<Backup> {
        let cannot = |e: &dyn std::fmt::Display| {
            Error::storage_while(format!("cannot create {}", path.display()), e.to_string())
        };
        let file = super::open_private(path, true).map_err(|e| cannot(&e))?;
        let target = redb::backends::FileBackend::new(file)
            .and_then(|backend| {
                redb::Builder::new()
                    .set_cache_size(COPY_CACHE_BYTES)
                    .create_with_backend(backend)
            })
            .map_err(|e| cannot(&e))?;
        let Some(from) = self.redb() else {
            return Err(Error::Internal(
                "a redb copy of a PostgreSQL database".into(),
            ));
        };
        let from = from.begin_read()?;
        let to = target.begin_write()?;
        let mut copy = Copy {
            from: &from,
            to: &to,
            report: Backup::default(),
        };
        each_table(&mut copy)?;
        let report = copy.report;
        // Durable (the default): the data is on disk when this returns.
        to.commit()?;
        drop(target);
        Ok(report)
    }
}

/// Copies tables from a read transaction to a write transaction.
struct Copy<'a> {
    from: &'a ReadTransaction,
    to: &'a WriteTransaction,
    report: Backup,
}

impl TableVisitor for Copy<'_> {
    fn table<K: super::backend::Key + Clone, V: super::backend::Val>(
        &mut self,
        table: &super::backend::Table<K, V>,
    ) -> Result<()> {
        copy_table(self.from, self.to, table.redb, &mut self.report)
    }
}

/// Copies one redb table row for row, counting what it copied.
fn copy_table<K: Key + 'static, V: Value + 'static>(
    from: &ReadTransaction,
    to: &WriteTransaction,
    table: TableDefinition<'static, K, V>,
    report: &mut Backup,
) -> Result<()> {
    let source = from.open_table(table)?;
    let mut target = to.open_table(table)?;
    for row in source.iter()? {
        let (k, v) = row?;
        let (k, v) = (k.value(), v.value());
        report.bytes += (K::as_bytes(&k).as_ref().len() + V::as_bytes(&v).as_ref().len()) as u64;
        target.insert(k, v)?;
        report.rows += 1;
    }
    report.tables += 1;
    Ok(())
}

/// `FILE.partial`, where a backup to FILE is written first.
fn partial_path(to: &Path) -> PathBuf {
    let mut s = to.as_os_str().to_owned();
    s.push(".partial");
    PathBuf::from(s)
}

/// Whether `a` and `b` name the same existing file (links included).
fn same_file(a: &Path, b: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (std::fs::metadata(a), std::fs::metadata(b)) {
        (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
        _ => false,
    }
}

/// Syncs the directory holding `file`, so its new name survives a crash.
fn sync_dir(file: &Path) -> Result<()> {
    let dir = match file.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| Error::io(format!("cannot sync directory {}", dir.display()), e))
}

#[cfg(test)]
mod tests {
    use super::super::tables::table_names;
    use super::*;
    use redb::Database;

    /// Each table's name and rows (key and value bytes).
    /// A row's key and value bytes.
    type RawRow = (Vec<u8>, Vec<u8>);
    type Rows = Vec<(String, Vec<RawRow>)>;

    /// Every row of every table, as bytes, by table name.
    fn raw_rows(store: &Store) -> Rows {
        struct Dump<'a> {
            txn: &'a ReadTransaction,
            out: Rows,
        }
        fn rows<K: Key + 'static, V: Value + 'static>(
            txn: &ReadTransaction,
            table: TableDefinition<'static, K, V>,
        ) -> Result<(String, Vec<RawRow>)> {
            use redb::TableHandle;
            let mut rows = Vec::new();
            for row in txn.open_table(table)?.iter()? {
                let (k, v) = row?;
                rows.push((
                    K::as_bytes(&k.value()).as_ref().to_vec(),
                    V::as_bytes(&v.value()).as_ref().to_vec(),
                ));
            }
            Ok((table.name().to_string(), rows))
        }
        impl TableVisitor for Dump<'_> {
            fn table<K: crate::store::backend::Key + Clone, V: crate::store::backend::Val>(
                &mut self,
                table: &crate::store::backend::Table<K, V>,
            ) -> Result<()> {
                self.out.push(rows(self.txn, table.redb)?);
                Ok(())
            }
        }
        let txn = store.redb().unwrap().begin_read().unwrap();
        let mut dump = Dump {
            txn: &txn,
            out: Vec::new(),
        };
        each_table(&mut dump).unwrap();
        dump.out
    }

    /// A copy of the schema-1 fixture, opened and so migrated, with a row
    /// in each table schema 1 did not have (every table has rows).
    fn populated() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("live.redb");
        std::fs::copy(super::super::migrate::FIXTURE_V1, &path).unwrap();
        let store = Store::open(&path).unwrap();
        let mirror = store.snapshot().unwrap().mirrors[0].id;
        store
            .write(&crate::model::Actor::Sentry, |tx| {
                tx.check_record(crate::model::MirrorCheck {
                    mirror,
                    at: 1_000_000,
                    ok: false,
                    files: 2,
                    missing: 1,
                    error: "/pub/dnsutils/x.tgz: 404 Not Found".into(),
                    ..Default::default()
                })
                .map(drop)
            })
            .unwrap();
        (dir, store)
    }

    #[test]
    fn a_backup_holds_every_row_of_every_table() {
        let (dir, store) = populated();
        let to = dir.path().join("copy.redb");
        let report = store.backup(&to, false).unwrap();
        assert_eq!(report.path, to);
        assert_eq!(report.tables, table_names().len());
        assert!(!partial_path(&to).exists());
        assert_eq!(
            report.file_size,
            std::fs::metadata(&to).unwrap().len(),
            "{report:?}"
        );

        let live = raw_rows(&store);
        // Every table of the fixture has rows, so a table left out of the
        // copy would show.
        let empty: Vec<&str> = live
            .iter()
            .filter(|(_, rows)| rows.is_empty())
            .map(|(name, _)| name.as_str())
            .collect();
        assert!(empty.is_empty(), "fixture tables without rows: {empty:?}");
        assert_eq!(
            report.rows,
            live.iter().map(|(_, rows)| rows.len() as u64).sum::<u64>()
        );
        assert_eq!(
            report.bytes,
            live.iter()
                .flat_map(|(_, rows)| rows.iter().map(|(k, v)| (k.len() + v.len()) as u64))
                .sum::<u64>()
        );

        let copy = Store::open(&to).unwrap();
        assert_eq!(raw_rows(&copy), live);
        // And through the typed reads: the same network.
        let (a, b) = (store.snapshot().unwrap(), copy.snapshot().unwrap());
        assert_eq!(format!("{a:?}").len(), format!("{b:?}").len());
        assert_eq!(a.products, b.products);
        assert_eq!(a.mirrors, b.mirrors);
        assert_eq!(a.locations, b.locations);
        assert_eq!(store.files().unwrap(), copy.files().unwrap());
        assert_eq!(a.regions, b.regions);
        assert_eq!(a.settings, b.settings);
        assert_eq!(a.health, b.health);
        assert_eq!(store.users().unwrap(), copy.users().unwrap());
        assert_eq!(store.events(1000).unwrap(), copy.events(1000).unwrap());
        assert_eq!(
            store.sentry_runs(10).unwrap(),
            copy.sentry_runs(10).unwrap()
        );
        assert_eq!(
            store.counts(0, u32::MAX).unwrap(),
            copy.counts(0, u32::MAX).unwrap()
        );
        assert_eq!(store.geoip().unwrap(), copy.geoip().unwrap());
        assert_eq!(
            store.checked_pairs().unwrap(),
            copy.checked_pairs().unwrap()
        );
        for l in &a.locations {
            assert_eq!(
                store.availability_of(l.id).unwrap(),
                copy.availability_of(l.id).unwrap()
            );
        }
        assert_eq!(copy.schema_version().unwrap(), super::super::SCHEMA_VERSION);
    }

    #[test]
    fn every_table_of_a_database_is_copied() {
        // What redb itself lists, not only what each_table says.
        let (dir, store) = populated();
        let to = dir.path().join("copy.redb");
        store.backup(&to, false).unwrap();
        let names = |db: &Database| -> Vec<String> {
            use redb::TableHandle;
            let txn = db.begin_read().unwrap();
            let mut v: Vec<String> = txn
                .list_tables()
                .unwrap()
                .map(|t| t.name().to_string())
                .collect();
            v.sort();
            v
        };
        let live = names(store.redb().unwrap());
        let mut listed = table_names();
        listed.sort();
        assert_eq!(live, listed);
        drop(store);
        assert_eq!(names(&Database::open(&to).unwrap()), live);
    }

    #[test]
    fn existing_files_and_the_database_itself_are_refused() {
        let (dir, store) = populated();
        let to = dir.path().join("copy.redb");
        std::fs::write(&to, "precious").unwrap();
        let err = store.backup(&to, false).unwrap_err().to_string();
        assert!(
            err.contains("exists already") && err.contains("--force"),
            "{err}"
        );
        assert_eq!(std::fs::read_to_string(&to).unwrap(), "precious");

        // --force replaces it.
        store.backup(&to, true).unwrap();
        Store::open(&to).unwrap();

        // Never the database itself, --force or not, by any name.
        for path in [
            store.path().unwrap().to_path_buf(),
            dir.path().join(".").join("live.redb"),
        ] {
            let err = store.backup(&path, true).unwrap_err().to_string();
            assert!(err.contains("the database itself"), "{err}");
        }
        store.snapshot().unwrap();
    }

    /// The permission bits of `path`.
    fn mode(path: &Path) -> u32 {
        use std::os::unix::fs::PermissionsExt;
        std::fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn new_databases_and_backups_are_owner_only_and_existing_modes_stay() {
        use std::os::unix::fs::PermissionsExt;
        let (dir, store) = populated();
        // The copied fixture: a database the operator made readable.
        std::fs::set_permissions(
            store.path().unwrap(),
            std::fs::Permissions::from_mode(0o640),
        )
        .unwrap();
        let to = dir.path().join("copy.redb");
        // A stale partial file of another mode is replaced, not reused.
        std::fs::write(partial_path(&to), "junk").unwrap();
        std::fs::set_permissions(partial_path(&to), std::fs::Permissions::from_mode(0o644))
            .unwrap();
        store.backup(&to, false).unwrap();
        assert_eq!(mode(&to), 0o600);
        let path = store.path().unwrap().to_path_buf();
        drop(store);
        drop(Store::open(&path).unwrap());
        assert_eq!(mode(&path), 0o640, "an existing database keeps its mode");
        let new = dir.path().join("new.redb");
        drop(Store::open(&new).unwrap());
        assert_eq!(mode(&new), 0o600);
    }

    #[test]
    fn a_failed_backup_leaves_nothing() {
        let (dir, store) = populated();
        let to = dir.path().join("no-such-dir").join("copy.redb");
        let err = store.backup(&to, false).unwrap_err().to_string();
        assert!(err.contains("cannot create"), "{err}");
        assert!(!partial_path(&to).exists());
        // A stale partial file from a crash is replaced.
        let to = dir.path().join("copy.redb");
        std::fs::write(partial_path(&to), "junk").unwrap();
        store.backup(&to, false).unwrap();
        assert!(!partial_path(&to).exists());
        Store::open(&to).unwrap();
    }
}
