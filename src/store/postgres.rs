//! PostgreSQL: connections (rustls, never OpenSSL), a small pool, read and
//! write transactions, and the schema with its migrations.
//!
//! Every write transaction first locks and bumps the `generation` row of
//! `meta`: one writer at a time across every node sharing the database, and
//! each committed change has its own number, which nodes compare with the
//! generation of the index they serve. The change is announced with
//! `pg_notify` before commit (delivered on commit). Portable SQL only: no
//! COPY, no advisory locks; NOTIFY is an optimisation, polling the
//! generation row is the backstop.

use std::collections::HashMap;
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use postgres::types::{IsNull, ToSql, Type, to_sql_checked};
use postgres::{Client, Row, Statement};

use crate::error::{Error, Result};

/// The channel writers notify on; the payload is the new generation.
pub const CHANNEL: &str = "bouncer_changes";

/// The `meta` row holding the generation of the last configuration change.
pub const CONFIG_GENERATION: &str = "config_generation";

/// Tables whose writes are not configuration: sentry's findings and runs,
/// the audit log, sequences and counts. A write touching only these leaves
/// nodes' configuration as it is (they read the changed availability).
const STATE_TABLES: &[&str] = &[
    "availability",
    "mirror_health",
    "mirror_checks",
    "sentry_runs",
    "events",
    "meta",
    "count_product",
    "count_location",
    "count_mirror",
    "count_country",
];

/// The newest schema this build knows.
pub const SCHEMA_VERSION: u64 = MIGRATIONS.len() as u64;

/// The schema, as ordered steps; step `n` takes a database from schema
/// `n` to `n + 1`. Steps only add (tables, columns, indexes), so nodes of
/// the previous version keep working beside a migrated database during a
/// rolling upgrade. Never edit a released step: add one.
const MIGRATIONS: &[&str] = &[
    include_str!("sql/1.sql"),
    include_str!("sql/2.sql"),
    include_str!("sql/3.sql"),
    include_str!("sql/4.sql"),
    include_str!("sql/5.sql"),
];

/// Connections kept open per node, at most.
const POOL_SIZE: usize = 8;

/// How long a transaction waits for a free connection.
const POOL_WAIT: Duration = Duration::from_secs(10);

/// An unsigned number as a PostgreSQL `bigint`: numbers past `i64::MAX`
/// (never stored in practice; range ends in scans) become `i64::MAX`, so
/// order is kept.
pub fn sql_int(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

/// A `bigint` as the unsigned number it stores (negative: 0).
pub fn from_sql_int(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

/// One column value of a row or key, owned, as a statement parameter.
#[derive(Debug, Clone)]
pub enum SqlValue {
    /// `bigint` (also the small numbers: flags stay `boolean`).
    Int(i64),
    /// `boolean`.
    Bool(bool),
    /// `text`.
    Text(String),
    /// `text`, nullable.
    OptText(Option<String>),
    /// `bigint`, nullable.
    OptInt(Option<i64>),
    /// `text[]`.
    Texts(Vec<String>),
    /// `bigint[]`.
    Ints(Vec<i64>),
    /// `boolean[]`.
    Bools(Vec<bool>),
    /// `bytea`.
    Bytes(Vec<u8>),
}

impl ToSql for SqlValue {
    fn to_sql(
        &self,
        ty: &Type,
        out: &mut bytes::BytesMut,
    ) -> std::result::Result<IsNull, Box<dyn std::error::Error + Sync + Send>> {
        match self {
            SqlValue::Int(v) => v.to_sql_checked(ty, out),
            SqlValue::Bool(v) => v.to_sql_checked(ty, out),
            SqlValue::Text(v) => v.to_sql_checked(ty, out),
            SqlValue::OptText(v) => v.to_sql_checked(ty, out),
            SqlValue::OptInt(v) => v.to_sql_checked(ty, out),
            SqlValue::Texts(v) => v.to_sql_checked(ty, out),
            SqlValue::Ints(v) => v.to_sql_checked(ty, out),
            SqlValue::Bools(v) => v.to_sql_checked(ty, out),
            SqlValue::Bytes(v) => v.to_sql_checked(ty, out),
        }
    }

    fn accepts(_: &Type) -> bool {
        // Each variant checks its own type in to_sql.
        true
    }

    to_sql_checked!();
}

/// The parameters of a statement as the driver takes them.
fn params(values: &[SqlValue]) -> Vec<&(dyn ToSql + Sync)> {
    values.iter().map(|v| v as &(dyn ToSql + Sync)).collect()
}

/// A PostgreSQL database: where it is and a pool of connections to it.
#[derive(Clone)]
pub struct Db(Arc<Shared>);

struct Shared {
    config: postgres::Config,
    tls: tokio_postgres_rustls::MakeRustlsConnect,
    /// The URL without its password, for messages.
    name: String,
    idle: Mutex<Pool>,
    freed: Condvar,
    /// Whether the engine has NOTIFY (PostgreSQL does; some PG-wire
    /// engines do not, and their nodes poll the generation only).
    notifies: std::sync::atomic::AtomicBool,
}

#[derive(Default)]
struct Pool {
    idle: Vec<Conn>,
    /// Connections open (idle or in use).
    open: usize,
}

/// One connection with its prepared statements.
pub struct Conn {
    client: Client,
    statements: HashMap<String, Statement>,
}

impl Conn {
    fn prepare(&mut self, sql: &str) -> std::result::Result<Statement, postgres::Error> {
        if let Some(s) = self.statements.get(sql) {
            return Ok(s.clone());
        }
        let s = self.client.prepare(sql)?;
        self.statements.insert(sql.to_string(), s.clone());
        Ok(s)
    }
}

/// The URL `url` without its password.
pub fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let (authority, tail) = match rest.find(['/', '?']) {
        Some(i) => rest.split_at(i),
        None => (rest, ""),
    };
    let authority = match authority.rsplit_once('@') {
        Some((user, host)) => format!("{}@{host}", user.split(':').next().unwrap_or("")),
        None => authority.to_string(),
    };
    // A password may also come as a query parameter.
    let tail = match tail.split_once('?') {
        Some((path, query)) => {
            let kept: Vec<&str> = query
                .split('&')
                .filter(|p| !p.to_ascii_lowercase().starts_with("password="))
                .collect();
            if kept.is_empty() {
                path.to_string()
            } else {
                format!("{path}?{}", kept.join("&"))
            }
        }
        None => tail.to_string(),
    };
    format!("{scheme}://{authority}{tail}")
}

/// Whether `db` names a PostgreSQL database rather than a file.
pub fn is_url(db: &str) -> bool {
    db.starts_with("postgres://") || db.starts_with("postgresql://")
}

/// TLS for connections over TCP: rustls with ring and the platform's
/// trusted certificates (`sslmode` in the URL decides whether it is
/// required).
fn tls() -> Result<tokio_postgres_rustls::MakeRustlsConnect> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls_native_certs::load_native_certs().certs {
        // A certificate the platform lists but rustls can't parse is
        // skipped, as browsers do.
        let _ = roots.add(cert);
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| Error::storage_while("cannot set up TLS for PostgreSQL", e))?
    .with_root_certificates(roots)
    .with_no_client_auth();
    Ok(tokio_postgres_rustls::MakeRustlsConnect::new(config))
}

impl Db {
    /// Connects to the database at `url`, creating or migrating the schema
    /// (refusing a newer one).
    pub fn open(url: &str) -> Result<Db> {
        let name = redact(url);
        let mut config: postgres::Config = url.parse().map_err(|e| {
            Error::storage_while(format!("{name} is not a valid PostgreSQL URL"), e)
        })?;
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(Duration::from_secs(5));
        }
        if config.get_application_name().is_none() {
            config.application_name("bouncer");
        }
        let db = Db(Arc::new(Shared {
            config,
            tls: tls()?,
            name,
            idle: Mutex::new(Pool::default()),
            freed: Condvar::new(),
            notifies: std::sync::atomic::AtomicBool::new(false),
        }));
        db.migrate()?;
        Ok(db)
    }

    /// The database's URL without its password.
    pub fn name(&self) -> &str {
        &self.0.name
    }

    /// Whether writers notify (and nodes may LISTEN) on [`CHANNEL`].
    pub fn notifies(&self) -> bool {
        self.0.notifies.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// A new connection, outside the pool (for LISTEN).
    pub fn connect(&self) -> Result<Client> {
        let config = &self.0.config;
        // A Unix socket is local: no TLS (and no host name to verify).
        let local = config
            .get_hosts()
            .iter()
            .all(|h| matches!(h, postgres::config::Host::Unix(_)));
        let client = if local {
            config.connect(postgres::NoTls)
        } else {
            config.connect(self.0.tls.clone())
        };
        client.map_err(|e| self.error(e))
    }

    /// Turns a driver error into ours: unreachable, or a failed statement.
    pub fn error(&self, e: postgres::Error) -> Error {
        classify(&self.0.name, e)
    }

    fn checkout(&self) -> Result<Conn> {
        let shared = &*self.0;
        let mut pool = shared.idle.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            while let Some(conn) = pool.idle.pop() {
                if !conn.client.is_closed() {
                    return Ok(conn);
                }
                pool.open -= 1;
            }
            if pool.open < POOL_SIZE {
                pool.open += 1;
                drop(pool);
                return match self.connect() {
                    Ok(client) => Ok(Conn {
                        client,
                        statements: HashMap::new(),
                    }),
                    Err(e) => {
                        self.release(None);
                        Err(e)
                    }
                };
            }
            let (guard, timeout) = shared
                .freed
                .wait_timeout(pool, POOL_WAIT)
                .unwrap_or_else(|e| e.into_inner());
            pool = guard;
            if timeout.timed_out() && pool.idle.is_empty() && pool.open >= POOL_SIZE {
                return Err(Error::DatabaseDown {
                    database: shared.name.clone(),
                    reason: format!(
                        "all {POOL_SIZE} connections stayed busy for {}s",
                        POOL_WAIT.as_secs()
                    ),
                });
            }
        }
    }

    /// Gives a connection back (`None`: it was closed or broken).
    fn release(&self, conn: Option<Conn>) {
        let mut pool = self.0.idle.lock().unwrap_or_else(|e| e.into_inner());
        match conn {
            Some(conn) if !conn.client.is_closed() => pool.idle.push(conn),
            _ => pool.open -= 1,
        }
        self.0.freed.notify_one();
    }

    /// Starts a transaction with `begin`; a pooled connection that turns
    /// out to be dead (the server restarted) is replaced once.
    fn begin(&self, begin: &str) -> Result<PgTxn> {
        let mut last = None;
        for _ in 0..2 {
            let mut conn = self.checkout()?;
            match conn.client.batch_execute(begin) {
                Ok(()) => {
                    return Ok(PgTxn {
                        db: self.clone(),
                        config_changed: std::cell::Cell::new(false),
                        conn: std::cell::RefCell::new(Some(conn)),
                        generation: None,
                    });
                }
                Err(e) => {
                    self.release(None);
                    last = Some(self.error(e));
                }
            }
        }
        Err(last.unwrap_or_else(|| Error::Internal("no attempt to begin".into())))
    }

    /// A read-only transaction that sees one consistent state.
    pub fn read(&self) -> Result<PgTxn> {
        self.begin("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
    }

    /// A write transaction without the generation lock: for writes that
    /// change nothing a node serves (download counts, sessions).
    pub fn read_write(&self) -> Result<PgTxn> {
        self.begin("BEGIN")
    }

    /// A write transaction holding the generation lock, which it bumps.
    pub fn write(&self) -> Result<PgTxn> {
        let mut txn = self.begin("BEGIN")?;
        let rows = txn.query(
            "UPDATE meta SET value = value + 1 WHERE name = 'generation' RETURNING value",
            &[],
        )?;
        let generation = rows
            .first()
            .map(|r| from_sql_int(r.get(0)))
            .ok_or_else(|| Error::storage("the generation row is missing from meta"))?;
        txn.generation = Some(generation);
        Ok(txn)
    }

    /// The committed generation (what the newest change made).
    pub fn generation(&self) -> Result<u64> {
        let txn = self.begin("BEGIN")?;
        let rows = txn.query("SELECT value FROM meta WHERE name = 'generation'", &[])?;
        Ok(rows.first().map(|r| from_sql_int(r.get(0))).unwrap_or(0))
    }

    /// Creates the schema or brings it up to date, in one transaction under
    /// the generation lock (two nodes starting at once migrate once).
    fn migrate(&self) -> Result<()> {
        let mut conn = self.checkout()?;
        // Idempotent, so it needs no lock: the row every writer locks.
        let bootstrap = "CREATE TABLE IF NOT EXISTS meta (name text COLLATE \"C\" PRIMARY KEY, value bigint NOT NULL);
             INSERT INTO meta (name, value) VALUES ('generation', 0) ON CONFLICT (name) DO NOTHING;";
        // IF NOT EXISTS is not safe against a node doing the same at the
        // same moment (one of them meets "already exists"): then the
        // table is there, and a second try passes.
        let mut tries = 0;
        while let Err(e) = conn.client.batch_execute(bootstrap) {
            tries += 1;
            let raced = e.code().is_some_and(|c| {
                [
                    postgres::error::SqlState::DUPLICATE_OBJECT,
                    postgres::error::SqlState::DUPLICATE_TABLE,
                    postgres::error::SqlState::UNIQUE_VIOLATION,
                ]
                .contains(c)
            });
            if !raced || tries == 3 {
                self.release(None);
                return Err(self.error(e));
            }
        }
        // NOTIFY is optional (SPEC §11): where the engine lacks it, writes
        // skip it and nodes poll.
        let notifies = conn
            .client
            .batch_execute(&format!("NOTIFY {CHANNEL}"))
            .is_ok();
        self.0
            .notifies
            .store(notifies, std::sync::atomic::Ordering::Relaxed);
        self.release(Some(conn));
        let txn = self.write()?;
        let rows = txn.query("SELECT value FROM meta WHERE name = 'schema_version'", &[])?;
        let found = rows.first().map(|r| from_sql_int(r.get(0))).unwrap_or(0);
        if found > SCHEMA_VERSION {
            return Err(Error::NewerSchema {
                found,
                supported: SCHEMA_VERSION,
            });
        }
        for step in &MIGRATIONS[found as usize..] {
            txn.batch(step)?;
        }
        if found == 0 {
            // A new network starts with the usual operating systems, as a
            // new redb file does.
            let now = sql_int(crate::model::now());
            txn.insert_batches(
                "oses",
                &["name", "created_at"],
                "ON CONFLICT (name) DO NOTHING",
                crate::model::DEFAULT_OSES
                    .iter()
                    .map(|os| vec![SqlValue::Text(os.to_string()), SqlValue::Int(now)]),
            )?;
        }
        if found < SCHEMA_VERSION {
            txn.set_meta("schema_version", SCHEMA_VERSION)?;
        }
        txn.commit()
    }
}

/// A driver error as ours: the database unreachable (no answer, a closed
/// connection, the server shutting down), or a statement that failed.
fn classify(database: &str, e: postgres::Error) -> Error {
    let down = match e.code() {
        None => true,
        Some(code) => {
            let code = code.code();
            code.starts_with("08") || code.starts_with("57P")
        }
    };
    if down {
        // The driver's own words ("db error", "error connecting to
        // server") say little; the cause says what happened.
        let reason = match (e.as_db_error(), std::error::Error::source(&e)) {
            (Some(db), _) => db.message().to_string(),
            (None, Some(cause)) => format!("{e}: {cause}"),
            (None, None) => e.to_string(),
        };
        Error::DatabaseDown {
            database: database.to_string(),
            reason,
        }
    } else {
        Error::storage_while(format!("PostgreSQL ({database})"), e)
    }
}

/// A transaction on a pooled connection: rolled back unless committed.
pub struct PgTxn {
    db: Db,
    /// Whether this write changed the configuration (anything but
    /// sentry's findings, the audit log, counts and sequences): nodes then
    /// read the configuration again, not only availability.
    config_changed: std::cell::Cell<bool>,
    /// Borrowed by one statement at a time (a streamed query holds it
    /// until its last row).
    conn: std::cell::RefCell<Option<Conn>>,
    /// The generation this write transaction makes (`None`: a read).
    generation: Option<u64>,
}

impl PgTxn {
    fn conn(&self) -> std::cell::RefMut<'_, Conn> {
        // Present until commit or drop, which consume it; a statement
        // run while a streamed query is still being read is a bug.
        std::cell::RefMut::map(self.conn.borrow_mut(), |c| {
            c.as_mut().expect("a transaction keeps its connection")
        })
    }

    /// The generation this write makes.
    pub fn generation(&self) -> Option<u64> {
        self.generation
    }

    /// Sets the `meta` row `name` to `value`.
    pub fn set_meta(&self, name: &str, value: u64) -> Result<()> {
        self.execute(
            "INSERT INTO meta (name, value) VALUES ($1, $2)
             ON CONFLICT (name) DO UPDATE SET value = EXCLUDED.value",
            &[SqlValue::Text(name.into()), SqlValue::Int(sql_int(value))],
        )
        .map(drop)
    }

    /// Notes a write to `table`: one holding configuration marks the
    /// transaction as a configuration change.
    pub fn wrote(&self, table: &str) {
        if !STATE_TABLES.contains(&table) {
            self.config_changed.set(true);
        }
    }

    /// Runs a query and returns its rows.
    pub fn query(&self, sql: &str, values: &[SqlValue]) -> Result<Vec<Row>> {
        let mut conn = self.conn();
        let result = conn
            .prepare(sql)
            .and_then(|s| conn.client.query(&s, &params(values)));
        result.map_err(|e| self.db.error(e))
    }

    /// Runs a statement; how many rows it touched.
    pub fn execute(&self, sql: &str, values: &[SqlValue]) -> Result<u64> {
        let mut conn = self.conn();
        let result = conn
            .prepare(sql)
            .and_then(|s| conn.client.execute(&s, &params(values)));
        result.map_err(|e| self.db.error(e))
    }

    /// Runs statements without parameters (a migration step).
    pub fn batch(&self, sql: &str) -> Result<()> {
        let result = self.conn().client.batch_execute(sql);
        result.map_err(|e| self.db.error(e))
    }

    /// Runs a query and calls `f` with each row as it arrives, until `f`
    /// returns `false`.
    pub fn stream(
        &self,
        sql: &str,
        values: &[SqlValue],
        mut f: impl FnMut(&Row) -> Result<bool>,
    ) -> Result<()> {
        use postgres::fallible_iterator::FallibleIterator;
        let db = self.db.clone();
        let mut conn = self.conn();
        let statement = conn.prepare(sql).map_err(|e| db.error(e))?;
        let mut rows = conn
            .client
            .query_raw(&statement, params(values))
            .map_err(|e| db.error(e))?;
        while let Some(row) = rows.next().map_err(|e| db.error(e))? {
            if !f(&row)? {
                break;
            }
        }
        Ok(())
    }

    /// Inserts `rows` (each the values of `columns`) with `conflict` (an
    /// `ON CONFLICT …` clause), several hundred rows a statement.
    pub fn insert_batches(
        &self,
        table: &str,
        columns: &[&str],
        conflict: &str,
        rows: impl Iterator<Item = Vec<SqlValue>>,
    ) -> Result<()> {
        // PostgreSQL takes at most 65535 parameters a statement.
        let per_statement = (65535 / columns.len().max(1)).min(500);
        let mut batch: Vec<SqlValue> = Vec::new();
        let mut count = 0;
        let flush = |txn: &PgTxn, batch: &mut Vec<SqlValue>, count: &mut usize| {
            if *count == 0 {
                return Ok(());
            }
            let sql = insert_sql(table, columns, *count, conflict);
            txn.execute(&sql, batch)?;
            batch.clear();
            *count = 0;
            Ok::<(), Error>(())
        };
        for row in rows {
            batch.extend(row);
            count += 1;
            if count == per_statement {
                flush(self, &mut batch, &mut count)?;
            }
        }
        flush(self, &mut batch, &mut count)
    }

    /// Announces the change and commits.
    pub fn commit(self) -> Result<()> {
        if let Some(generation) = self.generation {
            if self.config_changed.get() {
                self.set_meta(CONFIG_GENERATION, generation)?;
            }
            // Delivered on commit, to every node LISTENing.
            if self.db.notifies() {
                self.execute(
                    "SELECT pg_notify($1, $2)",
                    &[
                        SqlValue::Text(CHANNEL.into()),
                        SqlValue::Text(generation.to_string()),
                    ],
                )?;
            }
        }
        let result = self.conn().client.batch_execute("COMMIT");
        let conn = self.conn.borrow_mut().take();
        match result {
            Ok(()) => {
                self.db.release(conn);
                Ok(())
            }
            Err(e) => {
                self.db.release(None);
                Err(self.db.error(e))
            }
        }
    }
}

impl Drop for PgTxn {
    fn drop(&mut self) {
        if let Some(mut conn) = self.conn.get_mut().take() {
            // Not committed: roll back, or drop a connection that can't.
            let ok = conn.client.batch_execute("ROLLBACK").is_ok();
            self.db.release(ok.then_some(conn));
        }
    }
}

/// `INSERT INTO table (columns) VALUES ($1, …), … conflict` for `rows` rows.
fn insert_sql(table: &str, columns: &[&str], rows: usize, conflict: &str) -> String {
    let mut sql = format!("INSERT INTO {table} ({}) VALUES ", columns.join(", "));
    let mut n = 0;
    for r in 0..rows {
        if r > 0 {
            sql.push_str(", ");
        }
        sql.push('(');
        for c in 0..columns.len() {
            if c > 0 {
                sql.push_str(", ");
            }
            n += 1;
            sql.push_str(&format!("${n}"));
        }
        sql.push(')');
    }
    sql.push(' ');
    sql.push_str(conflict);
    sql
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_told_apart_and_passwords_kept_out_of_messages() {
        assert!(is_url("postgres://h/db") && is_url("postgresql://u@h/db"));
        assert!(!is_url("bouncer.redb") && !is_url("/var/lib/postgres.redb"));
        assert_eq!(
            redact("postgres://ops:s3cret@db.example:5432/bouncer?sslmode=require"),
            "postgres://ops@db.example:5432/bouncer?sslmode=require"
        );
        assert_eq!(redact("postgres://db.example/b"), "postgres://db.example/b");
        assert_eq!(
            redact("postgres://u@h/b?password=s3cret&sslmode=require"),
            "postgres://u@h/b?sslmode=require"
        );
        assert_eq!(
            redact("postgres://u@h/b?PASSWORD=s3cret"),
            "postgres://u@h/b"
        );
        assert_eq!(
            redact("postgresql://u@/b?host=/run/pg"),
            "postgresql://u@/b?host=/run/pg"
        );
    }

    #[test]
    fn numbers_keep_their_order() {
        assert_eq!(sql_int(5), 5);
        assert_eq!(sql_int(u64::MAX), i64::MAX);
        assert_eq!(from_sql_int(-1), 0);
        assert_eq!(from_sql_int(7), 7);
    }

    #[test]
    fn nodes_starting_at_once_migrate_once_and_a_newer_schema_is_refused() {
        let Some(server) = crate::testing::postgres::TestPostgres::shared_or_skip() else {
            return;
        };
        let url = server.database();
        let opened: Vec<Result<Db>> = std::thread::scope(|s| {
            let starts: Vec<_> = (0..4).map(|_| s.spawn(|| Db::open(&url))).collect();
            starts.into_iter().map(|t| t.join().unwrap()).collect()
        });
        for db in &opened {
            assert!(db.is_ok(), "{:?}", db.as_ref().err());
        }
        let db = opened.into_iter().next().unwrap().unwrap();
        assert!(db.notifies());
        let txn = db.write().unwrap();
        let version = txn
            .query("SELECT value FROM meta WHERE name = 'schema_version'", &[])
            .unwrap();
        assert_eq!(from_sql_int(version[0].get(0)), SCHEMA_VERSION);
        txn.set_meta("schema_version", SCHEMA_VERSION + 1).unwrap();
        txn.commit().unwrap();
        let err = Db::open(&url).err().unwrap();
        assert!(
            matches!(err, Error::NewerSchema { found, .. } if found == SCHEMA_VERSION + 1),
            "{err}"
        );
    }

    #[test]
    fn an_unreachable_database_says_so() {
        let err = Db::open("postgresql://bouncer@/nothing?host=/nonexistent&port=1")
            .err()
            .unwrap();
        assert!(matches!(err, Error::DatabaseDown { .. }), "{err:?}");
        assert!(err.to_string().contains("cannot be reached"), "{err}");
    }

    #[test]
    fn batched_inserts_number_their_parameters() {
        assert_eq!(
            insert_sql("t", &["a", "b"], 2, "ON CONFLICT (a) DO NOTHING"),
            "INSERT INTO t (a, b) VALUES ($1, $2), ($3, $4) ON CONFLICT (a) DO NOTHING"
        );
    }
}
