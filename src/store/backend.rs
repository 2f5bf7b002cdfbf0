//! The seam between the typed operations and the two storage engines: a
//! [`Txn`] (a read or write transaction on redb or PostgreSQL) and the few
//! primitives every table family is written with — get, scan a key range,
//! put, delete. Each primitive is here twice, once per engine; validation,
//! rules and audit live above it, once.
//!
//! A [`Table`] names a table in both engines: its redb definition (keys and
//! encoded rows, as before PostgreSQL) and its SQL shape (key columns, then
//! one typed column per field of the row, in [`super::rows`]' field order).

use std::ops::{Bound, RangeBounds};

use redb::{ReadableTable, TableDefinition};

use super::postgres::{PgTxn, SqlValue, from_sql_int, sql_int};
use super::rows;
use crate::error::{Error, Result};
use crate::model::*;

/// A table in both engines.
pub(crate) struct Table<K: Key, V: Val> {
    /// Its redb definition.
    pub redb: TableDefinition<'static, K::Redb, V::Redb>,
    /// Its PostgreSQL table.
    pub sql: &'static str,
    /// The key's columns.
    pub key: &'static [&'static str],
    /// The value's columns, in field order.
    pub columns: &'static [&'static str],
    /// Whether the key's columns are among the value's (a row that holds
    /// its own key, such as a product's id): then only the value's
    /// columns are written.
    pub key_in_row: bool,
}

impl<K: Key, V: Val> Table<K, V> {
    /// The key and value columns as selected (the key first).
    fn select_list(&self) -> String {
        let mut all: Vec<&str> = self.key.to_vec();
        all.extend_from_slice(self.columns);
        all.join(", ")
    }

    /// The columns an insert writes.
    fn insert_columns(&self) -> Vec<&'static str> {
        if self.key_in_row {
            self.columns.to_vec()
        } else {
            let mut all = self.key.to_vec();
            all.extend_from_slice(self.columns);
            all
        }
    }
}

/// A key: a redb key type and one SQL column per component.
pub(crate) trait Key: Sized {
    /// Its redb type.
    type Redb: redb::Key + 'static;
    /// As redb takes it.
    fn redb(&self) -> <Self::Redb as redb::Value>::SelfType<'_>;
    /// From what redb returns.
    fn from_redb(v: <Self::Redb as redb::Value>::SelfType<'_>) -> Self;
    /// Its components as SQL parameters.
    fn key_sql(&self, out: &mut Vec<SqlValue>);
    /// From the columns of `row` at `*at`.
    fn key_from_sql(row: &postgres::Row, at: &mut usize) -> Result<Self>;
}

/// A stored value: a redb value type and its SQL columns.
pub(crate) trait Val: Sized {
    /// Its redb type.
    type Redb: redb::Value + 'static;
    /// What it is held in while redb writes it.
    type Buf;
    /// Prepares it for redb.
    fn to_buf(&self) -> Self::Buf;
    /// As redb takes it.
    fn view(buf: &Self::Buf) -> <Self::Redb as redb::Value>::SelfType<'_>;
    /// From what redb returns.
    fn from_redb(v: <Self::Redb as redb::Value>::SelfType<'_>) -> Result<Self>;
    /// Its columns as SQL parameters.
    fn sql(&self, out: &mut Vec<SqlValue>);
    /// From the columns of `row` at `*at`.
    fn from_sql(row: &postgres::Row, at: &mut usize) -> Result<Self>;
}

fn column<T: postgres::types::FromSqlOwned>(row: &postgres::Row, at: &mut usize) -> Result<T> {
    let v = row
        .try_get::<_, T>(*at)
        .map_err(|e| Error::storage(format!("a stored value is damaged: {e}")))?;
    *at += 1;
    Ok(v)
}

impl Key for u64 {
    type Redb = u64;
    fn redb(&self) -> u64 {
        *self
    }
    fn from_redb(v: u64) -> Self {
        v
    }
    fn key_sql(&self, out: &mut Vec<SqlValue>) {
        out.push(SqlValue::Int(sql_int(*self)));
    }
    fn key_from_sql(row: &postgres::Row, at: &mut usize) -> Result<Self> {
        Ok(from_sql_int(column(row, at)?))
    }
}

impl Key for String {
    type Redb = &'static str;
    fn redb(&self) -> &str {
        self
    }
    fn from_redb(v: &str) -> Self {
        v.to_string()
    }
    fn key_sql(&self, out: &mut Vec<SqlValue>) {
        out.push(SqlValue::Text(self.clone()));
    }
    fn key_from_sql(row: &postgres::Row, at: &mut usize) -> Result<Self> {
        column(row, at)
    }
}

impl Key for (u64, u64) {
    type Redb = (u64, u64);
    fn redb(&self) -> (u64, u64) {
        *self
    }
    fn from_redb(v: (u64, u64)) -> Self {
        v
    }
    fn key_sql(&self, out: &mut Vec<SqlValue>) {
        self.0.key_sql(out);
        self.1.key_sql(out);
    }
    fn key_from_sql(row: &postgres::Row, at: &mut usize) -> Result<Self> {
        Ok((u64::key_from_sql(row, at)?, u64::key_from_sql(row, at)?))
    }
}

impl Key for (u32, u64) {
    type Redb = (u32, u64);
    fn redb(&self) -> (u32, u64) {
        *self
    }
    fn from_redb(v: (u32, u64)) -> Self {
        v
    }
    fn key_sql(&self, out: &mut Vec<SqlValue>) {
        out.push(SqlValue::Int(self.0.into()));
        self.1.key_sql(out);
    }
    fn key_from_sql(row: &postgres::Row, at: &mut usize) -> Result<Self> {
        Ok((day(row, at)?, u64::key_from_sql(row, at)?))
    }
}

impl Key for (u64, String) {
    type Redb = (u64, &'static str);
    fn redb(&self) -> (u64, &str) {
        (self.0, &self.1)
    }
    fn from_redb(v: (u64, &str)) -> Self {
        (v.0, v.1.to_string())
    }
    fn key_sql(&self, out: &mut Vec<SqlValue>) {
        self.0.key_sql(out);
        self.1.key_sql(out);
    }
    fn key_from_sql(row: &postgres::Row, at: &mut usize) -> Result<Self> {
        Ok((u64::key_from_sql(row, at)?, String::key_from_sql(row, at)?))
    }
}

impl Key for (u32, String) {
    type Redb = (u32, &'static str);
    fn redb(&self) -> (u32, &str) {
        (self.0, &self.1)
    }
    fn from_redb(v: (u32, &str)) -> Self {
        (v.0, v.1.to_string())
    }
    fn key_sql(&self, out: &mut Vec<SqlValue>) {
        out.push(SqlValue::Int(self.0.into()));
        self.1.key_sql(out);
    }
    fn key_from_sql(row: &postgres::Row, at: &mut usize) -> Result<Self> {
        Ok((day(row, at)?, String::key_from_sql(row, at)?))
    }
}

impl Key for (u32, u64, String) {
    type Redb = (u32, u64, &'static str);
    fn redb(&self) -> (u32, u64, &str) {
        (self.0, self.1, &self.2)
    }
    fn from_redb(v: (u32, u64, &str)) -> Self {
        (v.0, v.1, v.2.to_string())
    }
    fn key_sql(&self, out: &mut Vec<SqlValue>) {
        out.push(SqlValue::Int(self.0.into()));
        self.1.key_sql(out);
        self.2.key_sql(out);
    }
    fn key_from_sql(row: &postgres::Row, at: &mut usize) -> Result<Self> {
        Ok((
            day(row, at)?,
            u64::key_from_sql(row, at)?,
            String::key_from_sql(row, at)?,
        ))
    }
}

/// A day number (a `u32` key component) from its column.
fn day(row: &postgres::Row, at: &mut usize) -> Result<u32> {
    let v: i64 = column(row, at)?;
    u32::try_from(v).map_err(|_| Error::storage(format!("a stored day is out of range: {v}")))
}

impl Val for u64 {
    type Redb = u64;
    type Buf = u64;
    fn to_buf(&self) -> u64 {
        *self
    }
    fn view(buf: &u64) -> u64 {
        *buf
    }
    fn from_redb(v: u64) -> Result<Self> {
        Ok(v)
    }
    fn sql(&self, out: &mut Vec<SqlValue>) {
        out.push(SqlValue::Int(sql_int(*self)));
    }
    fn from_sql(row: &postgres::Row, at: &mut usize) -> Result<Self> {
        Ok(from_sql_int(column(row, at)?))
    }
}

impl Val for String {
    type Redb = &'static str;
    type Buf = String;
    fn to_buf(&self) -> String {
        self.clone()
    }
    fn view(buf: &String) -> &str {
        buf
    }
    fn from_redb(v: &str) -> Result<Self> {
        Ok(v.to_string())
    }
    fn sql(&self, out: &mut Vec<SqlValue>) {
        out.push(SqlValue::Text(self.clone()));
    }
    fn from_sql(row: &postgres::Row, at: &mut usize) -> Result<Self> {
        column(row, at)
    }
}

/// Raw bytes (the GeoIP table, encoded by [`crate::geoip::GeoDb::encode`]).
impl Val for Vec<u8> {
    type Redb = &'static [u8];
    type Buf = Vec<u8>;
    fn to_buf(&self) -> Vec<u8> {
        self.clone()
    }
    fn view(buf: &Vec<u8>) -> &[u8] {
        buf
    }
    fn from_redb(v: &[u8]) -> Result<Self> {
        Ok(v.to_vec())
    }
    fn sql(&self, out: &mut Vec<SqlValue>) {
        out.push(SqlValue::Bytes(self.clone()));
    }
    fn from_sql(row: &postgres::Row, at: &mut usize) -> Result<Self> {
        column(row, at)
    }
}

/// Nothing: a redb table used as a set (PostgreSQL has an index instead).
impl Val for () {
    type Redb = ();
    type Buf = ();
    fn to_buf(&self) {}
    fn view(_: &()) {}
    fn from_redb(_: ()) -> Result<Self> {
        Ok(())
    }
    fn sql(&self, _: &mut Vec<SqlValue>) {}
    fn from_sql(_: &postgres::Row, _: &mut usize) -> Result<Self> {
        Ok(())
    }
}

/// Rows: encoded bytes in redb, typed columns in PostgreSQL.
macro_rules! row_values {
    ($($t:ty),*) => {$(
        impl Val for $t {
            type Redb = &'static [u8];
            type Buf = Vec<u8>;
            fn to_buf(&self) -> Vec<u8> {
                rows::encode(self)
            }
            fn view(buf: &Vec<u8>) -> &[u8] {
                buf
            }
            fn from_redb(v: &[u8]) -> Result<Self> {
                rows::decode(v)
            }
            fn sql(&self, out: &mut Vec<SqlValue>) {
                rows::to_columns(self, out)
            }
            fn from_sql(row: &postgres::Row, at: &mut usize) -> Result<Self> {
                rows::from_columns(row, at)
            }
        }
    )*};
}
row_values!(
    Product,
    Alias,
    Location,
    Mirror,
    MirrorHealth,
    MirrorCheck,
    Availability,
    FileInfo,
    Region,
    User,
    SentryRun,
    Event
);

/// A range of keys, as redb and SQL both take it.
pub(crate) struct Span<K> {
    lo: Bound<K>,
    hi: Bound<K>,
}

impl<K: Clone> Span<K> {
    /// Every key.
    pub fn all() -> Span<K> {
        Span {
            lo: Bound::Unbounded,
            hi: Bound::Unbounded,
        }
    }

    /// The keys in `range`.
    pub fn of(range: impl RangeBounds<K>) -> Span<K> {
        Span {
            lo: range.start_bound().cloned(),
            hi: range.end_bound().cloned(),
        }
    }
}

/// Which way a scan goes.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Order {
    /// Smallest key first.
    Up,
    /// Largest key first.
    Down,
}

/// A transaction on either engine.
// One lives per transaction, on the stack: boxing a variant would cost an
// allocation per transaction and save nothing.
#[allow(clippy::large_enum_variant)]
pub(crate) enum Txn {
    /// A redb read transaction.
    RedbRead(redb::ReadTransaction),
    /// A redb write transaction.
    RedbWrite(redb::WriteTransaction),
    /// A PostgreSQL transaction (read or write).
    Pg(PgTxn),
}

/// Runs `$body` with `$t` bound to the table `$def` opened in a redb
/// transaction, read-only or writable alike.
macro_rules! with_redb_table {
    ($txn:expr, $def:expr, |$t:ident| $body:expr) => {
        match $txn {
            Txn::RedbRead(txn) => {
                let $t = txn.open_table($def)?;
                $body
            }
            Txn::RedbWrite(txn) => {
                let $t = txn.open_table($def)?;
                $body
            }
            Txn::Pg(_) => unreachable!("a redb table in a PostgreSQL transaction"),
        }
    };
}

impl Txn {
    /// The PostgreSQL transaction, if this is one.
    pub fn pg(&self) -> Option<&PgTxn> {
        match self {
            Txn::Pg(pg) => Some(pg),
            _ => None,
        }
    }

    /// Commits a write (a read has nothing to commit).
    pub fn commit(self) -> Result<()> {
        match self {
            Txn::RedbWrite(txn) => Ok(txn.commit()?),
            Txn::Pg(txn) => txn.commit(),
            Txn::RedbRead(_) => Ok(()),
        }
    }

    /// Adds each `(key, n)` of `rows` to the number stored under the key
    /// (absent: 0). On PostgreSQL additive upserts, keys sorted so that
    /// writers lock rows in one order (two nodes flushing at once never
    /// deadlock) and summed per key (a statement may not upsert a row
    /// twice).
    pub fn add_to<K: Key + Ord + Clone>(
        &self,
        t: &Table<K, u64>,
        mut rows: Vec<(K, u64)>,
    ) -> Result<()> {
        if let Txn::Pg(pg) = self {
            pg.wrote(t.sql);
            rows.sort_by(|a, b| a.0.cmp(&b.0));
            rows.dedup_by(|next, kept| {
                let same = next.0 == kept.0;
                if same {
                    kept.1 += next.1;
                }
                same
            });
            let column = t.columns[0];
            return pg.insert_batches(
                t.sql,
                &t.insert_columns(),
                &format!(
                    "ON CONFLICT ({}) DO UPDATE SET {column} = {}.{column} + EXCLUDED.{column}",
                    t.key.join(", "),
                    t.sql
                ),
                rows.into_iter().map(|(k, n)| {
                    let mut params = Vec::new();
                    k.key_sql(&mut params);
                    n.sql(&mut params);
                    params
                }),
            );
        }
        for (key, n) in rows {
            let old = self.get(t, &key)?.unwrap_or(0);
            self.put(t, &key, &(old + n))?;
        }
        Ok(())
    }

    /// The redb write transaction (a write on a read transaction is a bug).
    fn redb_write(&self) -> Result<&redb::WriteTransaction> {
        match self {
            Txn::RedbWrite(txn) => Ok(txn),
            _ => Err(Error::Internal("a write in a read transaction".into())),
        }
    }

    /// The value stored under `key`.
    pub fn get<K: Key, V: Val>(&self, t: &Table<K, V>, key: &K) -> Result<Option<V>> {
        if let Txn::Pg(pg) = self {
            let mut params = Vec::new();
            key.key_sql(&mut params);
            let sql = format!(
                "SELECT {} FROM {} WHERE {}",
                t.columns_or_key(),
                t.sql,
                equal(t.key, 1)
            );
            let rows = pg.query(&sql, &params)?;
            return match rows.first() {
                Some(row) => V::from_sql(row, &mut 0).map(Some),
                None => Ok(None),
            };
        }
        with_redb_table!(self, t.redb, |table| match table.get(key.redb())? {
            Some(v) => V::from_redb(v.value()).map(Some),
            None => Ok(None),
        })
    }

    /// Calls `f` with every (key, value) in `span`, in key order or its
    /// reverse, at most `limit` of them, until `f` returns `false`. `f`
    /// must not use this transaction (PostgreSQL streams the rows).
    pub fn scan<K: Key + Clone, V: Val>(
        &self,
        t: &Table<K, V>,
        span: Span<K>,
        order: Order,
        limit: Option<usize>,
        mut f: impl FnMut(K, V) -> Result<bool>,
    ) -> Result<()> {
        if let Txn::Pg(pg) = self {
            let mut params = Vec::new();
            let filter = span_filter(t.key, &span, &mut params);
            let direction = if order == Order::Down { " DESC" } else { "" };
            let order_by = t
                .key
                .iter()
                .map(|k| format!("{k}{direction}"))
                .collect::<Vec<_>>()
                .join(", ");
            let mut sql = format!(
                "SELECT {} FROM {} {filter} ORDER BY {order_by}",
                t.select_list(),
                t.sql
            );
            // PostgreSQL's LIMIT is a bigint: larger means "all".
            if let Some(n) = limit.filter(|n| i64::try_from(*n).is_ok()) {
                sql.push_str(&format!(" LIMIT {n}"));
            }
            return pg.stream(&sql, &params, |row| {
                let mut at = 0;
                let k = K::key_from_sql(row, &mut at)?;
                let v = V::from_sql(row, &mut at)?;
                f(k, v)
            });
        }
        let lo = span.lo.as_ref().map(|k| k.redb());
        let hi = span.hi.as_ref().map(|k| k.redb());
        with_redb_table!(self, t.redb, |table| {
            let range = table.range((lo, hi))?;
            let rows: Box<dyn Iterator<Item = _>> = match order {
                Order::Up => Box::new(range),
                Order::Down => Box::new(range.rev()),
            };
            for row in rows.take(limit.unwrap_or(usize::MAX)) {
                let (k, v) = row?;
                if !f(K::from_redb(k.value()), V::from_redb(v.value())?)? {
                    break;
                }
            }
            Ok(())
        })
    }

    /// Calls `f` with every (key, value) in `span`, in key order (a
    /// [`Txn::scan`] that goes to the end). `f` must not use this
    /// transaction.
    pub fn each<K: Key + Clone, V: Val>(
        &self,
        t: &Table<K, V>,
        span: Span<K>,
        mut f: impl FnMut(K, V),
    ) -> Result<()> {
        self.scan(t, span, Order::Up, None, |k, v| {
            f(k, v);
            Ok(true)
        })
    }

    /// Every (key, value) in `span`, in key order.
    pub fn range<K: Key + Clone, V: Val>(
        &self,
        t: &Table<K, V>,
        span: Span<K>,
    ) -> Result<Vec<(K, V)>> {
        let mut out = Vec::new();
        self.each(t, span, |k, v| out.push((k, v)))?;
        Ok(out)
    }

    /// Every value of `t`, in key order.
    pub fn values<K: Key + Clone, V: Val>(&self, t: &Table<K, V>) -> Result<Vec<V>> {
        let mut out = Vec::new();
        self.each(t, Span::all(), |_, v| out.push(v))?;
        Ok(out)
    }

    /// Stores `value` under `key`, replacing what was there.
    pub fn put<K: Key, V: Val>(&self, t: &Table<K, V>, key: &K, value: &V) -> Result<()> {
        self.put_many(t, [(key, value)])
    }

    /// Stores every (key, value) of `rows`, replacing what was there: one
    /// statement per few hundred rows in PostgreSQL.
    pub fn put_many<'r, K: Key + 'r, V: Val + 'r>(
        &self,
        t: &Table<K, V>,
        rows: impl IntoIterator<Item = (&'r K, &'r V)>,
    ) -> Result<()> {
        if let Txn::Pg(pg) = self {
            if t.sql.is_empty() {
                return Ok(());
            }
            pg.wrote(t.sql);
            let columns = t.insert_columns();
            let update = if t.columns.is_empty() || t.columns.iter().all(|c| t.key.contains(c)) {
                "DO NOTHING".to_string()
            } else {
                let sets: Vec<String> = t
                    .columns
                    .iter()
                    .filter(|c| !t.key.contains(c))
                    .map(|c| format!("{c} = EXCLUDED.{c}"))
                    .collect();
                format!("DO UPDATE SET {}", sets.join(", "))
            };
            return pg.insert_batches(
                t.sql,
                &columns,
                &format!("ON CONFLICT ({}) {update}", t.key.join(", ")),
                rows.into_iter().map(|(k, v)| {
                    let mut params = Vec::with_capacity(columns.len());
                    if !t.key_in_row {
                        k.key_sql(&mut params);
                    }
                    v.sql(&mut params);
                    params
                }),
            );
        }
        let mut table = self.redb_write()?.open_table(t.redb)?;
        for (k, v) in rows {
            let buf = v.to_buf();
            table.insert(k.redb(), V::view(&buf))?;
        }
        Ok(())
    }

    /// Removes `key`; whether it was there.
    pub fn delete<K: Key, V: Val>(&self, t: &Table<K, V>, key: &K) -> Result<bool> {
        if let Txn::Pg(pg) = self {
            if t.sql.is_empty() {
                return Ok(false);
            }
            pg.wrote(t.sql);
            let mut params = Vec::new();
            key.key_sql(&mut params);
            let sql = format!("DELETE FROM {} WHERE {}", t.sql, equal(t.key, 1));
            return Ok(pg.execute(&sql, &params)? > 0);
        }
        let mut table = self.redb_write()?.open_table(t.redb)?;
        Ok(table.remove(key.redb())?.is_some())
    }

    /// Removes every key in `span`; returns the keys removed.
    pub fn delete_range<K: Key + Clone, V: Val>(
        &self,
        t: &Table<K, V>,
        span: Span<K>,
    ) -> Result<Vec<K>> {
        if let Txn::Pg(pg) = self {
            if t.sql.is_empty() {
                return Ok(Vec::new());
            }
            pg.wrote(t.sql);
            let mut params = Vec::new();
            let filter = span_filter(t.key, &span, &mut params);
            let sql = format!(
                "DELETE FROM {} {filter} RETURNING {}",
                t.sql,
                t.key.join(", ")
            );
            return pg
                .query(&sql, &params)?
                .iter()
                .map(|row| K::key_from_sql(row, &mut 0))
                .collect();
        }
        let lo = span.lo.as_ref().map(|k| k.redb());
        let hi = span.hi.as_ref().map(|k| k.redb());
        let mut table = self.redb_write()?.open_table(t.redb)?;
        let mut out = Vec::new();
        for row in table.extract_from_if((lo, hi), |_, _| true)? {
            out.push(K::from_redb(row?.0.value()));
        }
        Ok(out)
    }
}

impl Txn {
    /// Removes every row of `t` that `keep` refuses, in one pass (redb
    /// only: PostgreSQL deletes with a `WHERE` of its own).
    pub fn retain<K: Key, V: Val>(
        &self,
        t: &Table<K, V>,
        mut keep: impl FnMut(&K, &V) -> bool,
    ) -> Result<()> {
        let mut table = self.redb_write()?.open_table(t.redb)?;
        table.retain(|k, v| match V::from_redb(v) {
            Ok(v) => keep(&K::from_redb(k), &v),
            // A damaged row is kept for a backup restore to deal with.
            Err(_) => true,
        })?;
        Ok(())
    }
}

impl<K: Key, V: Val> Table<K, V> {
    /// What a point read selects: the value's columns, or the key's for a
    /// set (so that a found row has a column).
    fn columns_or_key(&self) -> String {
        if self.columns.is_empty() {
            self.key.join(", ")
        } else {
            self.columns.join(", ")
        }
    }
}

/// `a = $n AND b = $n+1 …` for the columns `key`.
fn equal(key: &[&str], first: usize) -> String {
    key.iter()
        .enumerate()
        .map(|(i, k)| format!("{k} = ${}", first + i))
        .collect::<Vec<_>>()
        .join(" AND ")
}

/// The `WHERE` clause of `span` over the columns `key` (row-value
/// comparisons, so a composite key orders as redb's tuples do), pushing
/// its parameters.
fn span_filter<K: Key>(key: &[&str], span: &Span<K>, params: &mut Vec<SqlValue>) -> String {
    let columns = if key.len() == 1 {
        key[0].to_string()
    } else {
        format!("({})", key.join(", "))
    };
    let mut clauses = Vec::new();
    for (bound, inclusive, exclusive) in [(&span.lo, ">=", ">"), (&span.hi, "<=", "<")] {
        let (k, op) = match bound {
            Bound::Included(k) => (k, inclusive),
            Bound::Excluded(k) => (k, exclusive),
            Bound::Unbounded => continue,
        };
        let first = params.len() + 1;
        k.key_sql(params);
        let placeholders: Vec<String> =
            (first..params.len() + 1).map(|i| format!("${i}")).collect();
        let value = if placeholders.len() == 1 {
            placeholders[0].clone()
        } else {
            format!("({})", placeholders.join(", "))
        };
        clauses.push(format!("{columns} {op} {value}"));
    }
    if clauses.is_empty() {
        String::new()
    } else {
        format!("WHERE {}", clauses.join(" AND "))
    }
}
