//! The only code that touches a database: redb (a file, the default) or
//! PostgreSQL (`postgres://…`, shared by several nodes). Everything else
//! sees typed operations:
//! [`Store::snapshot`] reads the whole network configuration in one read
//! transaction, [`Store::write`] runs typed mutations in one write
//! transaction that is recorded in the audit log and commits durably.
//!
//! This file holds the core: opening the database, [`Store::write`] and
//! the one transaction type [`Tx`]. Each table family has its own file with
//! the [`Store`] reads and [`Tx`] operations on it: `products` (with
//! aliases and operating systems), `locations`, `files`, `mirrors`,
//! `regions`, `availability`, `sentry` (mirror health and runs), `counts`,
//! `users`, `events` (the audit log), `settings` (with the GeoIP table),
//! `snapshot` (whole-configuration reads) and `sessions` (admin sessions
//! and the login throttle, kept here only on PostgreSQL). The rules a change must obey are
//! pure functions in [`crate::model`]: a [`Tx`] loads what a rule needs,
//! asks it, and stores. `audit` words the log entries; `backend` is the
//! seam between them and the engines (the primitives, once per engine);
//! `tables` and `rows` are the schema and its encoding, `migrate` and
//! `backup` redb's upgrades and copies, `copy` a whole network from one
//! database into another (either engine), `postgres` PostgreSQL's
//! connections, transactions and migrations.

mod audit;
mod availability;
mod backend;
mod backup;
mod checks;
mod copy;
mod counts;
mod events;
mod files;
mod lease;
mod locations;
mod migrate;
mod mirrors;
pub mod postgres;
mod products;
mod regions;
mod rows;
mod sentry;
mod sessions;
mod settings;
mod snapshot;
mod tables;
mod users;

use std::path::{Path, PathBuf};

use redb::{Database, ReadableDatabase, WriteTransaction};

pub use crate::model::RegionDefaults;
use backend::Txn;
pub use backup::Backup;
pub use checks::KEEP_SECS as CHECKS_KEPT_SECS;
pub use copy::CopyReport;
pub use counts::Counts;
pub use events::EventFilter;
pub use lease::{Claim, Lease};
pub use migrate::SCHEMA_VERSION;
pub use mirrors::NewMirror;
pub use products::{NewProduct, RemovedProduct};
pub use sentry::{RUN_MODES, RunFilter, RunKind};
pub use sessions::{LoginFailureRows, LoginFailures, LoginRecord, StoredSession};
pub use snapshot::{Changes, Dump, Snapshot};
use tables::*;

use crate::error::{Error, Result};
use crate::model::*;

macro_rules! storage_errors {
    ($($t:ty),*) => {$(
        impl From<$t> for Error {
            fn from(e: $t) -> Error {
                Error::storage(e)
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

/// Where a network's database is: a redb file, or a PostgreSQL database
/// that several nodes share.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Place {
    /// A redb file.
    File(PathBuf),
    /// A `postgres://` (or `postgresql://`) URL.
    Postgres(String),
}

impl Place {
    /// What `--db` or `$BOUNCER_DB` names: a URL or a file path.
    pub fn parse(db: &str) -> Place {
        if postgres::is_url(db) {
            Place::Postgres(db.to_string())
        } else {
            Place::File(PathBuf::from(db))
        }
    }

    /// The file, for a redb database.
    pub fn file(&self) -> Option<&Path> {
        match self {
            Place::File(path) => Some(path),
            Place::Postgres(_) => None,
        }
    }

    /// As messages name it: the path, or the URL without its password.
    pub fn name(&self) -> String {
        match self {
            Place::File(path) => path.display().to_string(),
            Place::Postgres(url) => postgres::redact(url),
        }
    }
}

impl From<&Path> for Place {
    fn from(path: &Path) -> Place {
        Place::File(path.to_path_buf())
    }
}

impl From<&PathBuf> for Place {
    fn from(path: &PathBuf) -> Place {
        Place::File(path.clone())
    }
}

impl From<PathBuf> for Place {
    fn from(path: PathBuf) -> Place {
        Place::File(path)
    }
}

/// An open Bouncer database.
pub struct Store {
    backend: Backend,
}

/// The engine behind a [`Store`].
enum Backend {
    /// A redb file.
    Redb { db: Database, path: PathBuf },
    /// A PostgreSQL database.
    Postgres(postgres::Db),
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
            .map_err(|e| Error::storage_while(format!("cannot open {}", path.display()), e))?;
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
                e => Error::storage_while(format!("cannot open {}", path.display()), e),
            })?;
        let txn = db.begin_write()?;
        migrate::upgrade(&txn)?;
        create_tables(&txn)?;
        txn.commit()?;
        Ok(Store {
            backend: Backend::Redb {
                db,
                path: path.to_path_buf(),
            },
        })
    }

    /// Opens the database at `place`: a redb file, or a PostgreSQL
    /// database (creating or migrating its schema).
    pub fn open_at(place: &Place) -> Result<Store> {
        match place {
            Place::Postgres(url) => Ok(Store {
                backend: Backend::Postgres(postgres::Db::open(url)?),
            }),
            Place::File(path) => Store::open(path),
        }
    }

    /// Where the database file is (`None`: PostgreSQL).
    pub fn path(&self) -> Option<&Path> {
        match &self.backend {
            Backend::Redb { path, .. } => Some(path),
            Backend::Postgres(_) => None,
        }
    }

    /// The database as messages name it: the file's path, or the URL
    /// without its password.
    pub fn name(&self) -> String {
        match &self.backend {
            Backend::Redb { path, .. } => path.display().to_string(),
            Backend::Postgres(db) => db.name().to_string(),
        }
    }

    /// The PostgreSQL database, when that is where the network lives.
    pub fn postgres(&self) -> Option<&postgres::Db> {
        match &self.backend {
            Backend::Postgres(db) => Some(db),
            Backend::Redb { .. } => None,
        }
    }

    /// The redb database, when that is where the network lives.
    fn redb(&self) -> Option<&Database> {
        match &self.backend {
            Backend::Redb { db, .. } => Some(db),
            Backend::Postgres(_) => None,
        }
    }

    /// A read transaction: one consistent view of the database.
    fn read(&self) -> Result<Txn> {
        Ok(match &self.backend {
            Backend::Redb { db, .. } => Txn::RedbRead(db.begin_read()?),
            Backend::Postgres(db) => Txn::Pg(db.read()?),
        })
    }

    /// The schema version stored in the database.
    pub fn schema_version(&self) -> Result<u64> {
        Ok(self
            .read()?
            .get(&META, &"schema_version".to_string())?
            .unwrap_or(0))
    }

    /// Runs `f` in one write transaction on behalf of `actor` (recorded in
    /// the audit log) and commits durably. Nothing is written if `f` fails.
    /// On PostgreSQL the transaction first takes the generation lock:
    /// one writer at a time across every node.
    pub fn write<T>(&self, actor: &Actor, f: impl FnOnce(&mut Tx) -> Result<T>) -> Result<T> {
        let mut tx = Tx {
            txn: match &self.backend {
                Backend::Redb { db, .. } => Txn::RedbWrite(db.begin_write()?),
                Backend::Postgres(db) => Txn::Pg(db.write()?),
            },
            actor: actor.to_string(),
            now: now(),
        };
        let out = f(&mut tx)?;
        tx.txn.commit()?;
        Ok(out)
    }

    /// The database file's size in bytes (`None`: PostgreSQL, whose size
    /// its own tools report).
    pub fn file_size(&self) -> Result<Option<u64>> {
        let Some(path) = self.path() else {
            return Ok(None);
        };
        std::fs::metadata(path)
            .map(|m| Some(m.len()))
            .map_err(|e| Error::io(format!("cannot stat {}", path.display()), e))
    }
}

/// Creates every table so that read transactions never meet a missing one.
fn create_tables(txn: &WriteTransaction) -> Result<()> {
    struct Create<'a>(&'a WriteTransaction);
    impl TableVisitor for Create<'_> {
        fn table<K: backend::Key + Clone, V: backend::Val>(
            &mut self,
            table: &backend::Table<K, V>,
        ) -> Result<()> {
            self.0.open_table(table.redb)?;
            Ok(())
        }
    }
    each_table(&mut Create(txn))
}

/// One write transaction in progress. Every mutation validates its input,
/// and every operator-visible change is recorded in the audit log.
pub struct Tx {
    txn: Txn,
    /// Who acts, as the audit log names them.
    actor: String,
    now: u64,
}

impl Tx {
    /// Unix time of this transaction.
    pub fn now(&self) -> u64 {
        self.now
    }

    fn next_id(&self, sequence: &str) -> Result<u64> {
        let key = sequence.to_string();
        let id = self.txn.get(&META, &key)?.unwrap_or(1);
        self.txn.put(&META, &key, &(id + 1))?;
        Ok(id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(super) fn store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("t.redb")).unwrap();
        (dir, store)
    }

    /// What keeps a test's database alive: a temporary directory, or
    /// nothing (a PostgreSQL database lives as long as its server).
    pub(super) type Held = Option<tempfile::TempDir>;

    /// A new database on each engine: a redb file and, where PostgreSQL
    /// is installed (always in CI), a fresh PostgreSQL database. The store
    /// tests run against both.
    pub(super) fn stores() -> Vec<(Held, Store)> {
        let (dir, store) = store();
        let mut out = vec![(Some(dir), store)];
        if let Some(server) = crate::testing::postgres::TestPostgres::shared_or_skip() {
            let place = Place::Postgres(server.database());
            out.push((None, Store::open_at(&place).unwrap()));
        }
        out
    }

    #[test]
    fn second_open_is_busy() {
        let (dir, _store) = store();
        let err = Store::open(&dir.path().join("t.redb")).err().unwrap();
        assert!(matches!(err, Error::Busy { .. }), "{err}");
    }

    #[test]
    fn failed_write_leaves_nothing() {
        for (_db, store) in stores() {
            let err = store.write(&crate::model::Actor::Program("test"), |tx| {
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
    }

    #[test]
    fn crud_and_audit() {
        for (_db, store) in stores() {
            store
                .write(&crate::model::Actor::Cli, |tx| {
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
            let err = store
                .write(&crate::model::Actor::Cli, |tx| tx.os_remove("win"))
                .unwrap_err();
            assert!(err.to_string().contains("1 location"), "{err}");
            let err = store
                .write(&crate::model::Actor::Cli, |tx| {
                    tx.alias_set("firefox-1.0", "firefox-1.0")
                })
                .unwrap_err();
            assert!(err.to_string().contains("product name"), "{err}");

            store
                .write(&crate::model::Actor::Cli, |tx| {
                    tx.alias_remove("firefox-latest")?;
                    tx.product_remove("firefox-1.0")
                })
                .unwrap();
            let s = store.snapshot().unwrap();
            assert!(s.products.is_empty() && s.locations.is_empty());
        }
    }

    pub(super) fn region(name: &str, fallback: Option<&str>, countries: &[&str]) -> Region {
        Region {
            name: name.into(),
            throttle: 100,
            fallback: fallback.map(String::from),
            global_fallback: true,
            countries: countries.iter().map(|c| c.to_string()).collect(),
        }
    }

    /// The error of a write that must fail, checking it wrote nothing.
    pub(super) fn refused<T: std::fmt::Debug>(
        store: &Store,
        f: impl FnOnce(&mut Tx) -> Result<T>,
    ) -> String {
        let before = store.events(1).unwrap();
        let err = store
            .write(&crate::model::Actor::Cli, f)
            .unwrap_err()
            .to_string();
        assert_eq!(store.events(1).unwrap(), before, "{err}");
        err
    }

    /// Issue 15: a contact or region name stored before the rules came
    /// (as an old database has them) stays as it is while the rest of the
    /// mirror or region is edited; only a new value is checked.
    #[test]
    fn values_stored_before_the_rules_stay_editable() {
        for (_db, store) in stores() {
            let old_region = "eu\u{202E}";
            store
                .write(&crate::model::Actor::Program("test"), |tx| {
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
                .write(&crate::model::Actor::Program("test"), |tx| {
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
                .write(&crate::model::Actor::Program("test"), |tx| {
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
                .write(&crate::model::Actor::Program("test"), |tx| {
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
                .write(&crate::model::Actor::Program("test"), |tx| {
                    tx.txn
                        .put(&USERS, &"ann\u{202E}".to_string(), &user("ann\u{202E}"))
                })
                .unwrap();
            store
                .write(&crate::model::Actor::Program("test"), |tx| {
                    tx.user_put(&user("ann\u{202E}"), "user.passwd")
                })
                .unwrap();
            let err = refused(&store, |tx| tx.user_put(&user("bob\u{2067}"), "user.add"));
            assert!(err.contains("bidirectional"), "{err}");
        }
    }
}
