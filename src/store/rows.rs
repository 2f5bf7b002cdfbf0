//! Domain structs ⇄ bytes. Each row starts with a format byte so a
//! migration can tell old rows from new ones; fields follow in a fixed order
//! (integers little-endian, strings length-prefixed).

use super::postgres::{SqlValue, from_sql_int, sql_int};
use crate::error::{Error, Result};
use crate::model::{
    Alias, Audience, Availability, Event, Families, FileInfo, Location, LocationId, Mirror,
    MirrorCheck, MirrorHealth, MirrorId, MirrorKind, Problem, Product, ProductId, Reach, Reaches,
    Region, Role, SentryRun, User,
};

/// Format byte of every row written by this version.
const FORMAT: u8 = 1;

/// Appends fields to a row: as bytes (a redb row) or as typed column
/// values (a PostgreSQL row, one column per field in the same order).
pub(crate) enum Writer {
    /// redb: the fields encoded one after the other.
    Bytes(Vec<u8>),
    /// PostgreSQL: one parameter per field.
    Sql(Vec<SqlValue>),
}

impl Writer {
    fn u8(&mut self, v: u8) {
        match self {
            Writer::Bytes(b) => b.push(v),
            Writer::Sql(c) => c.push(SqlValue::Int(v.into())),
        }
    }
    fn bool(&mut self, v: bool) {
        match self {
            Writer::Bytes(b) => b.push(v as u8),
            Writer::Sql(c) => c.push(SqlValue::Bool(v)),
        }
    }
    fn u32(&mut self, v: u32) {
        match self {
            Writer::Bytes(b) => b.extend_from_slice(&v.to_le_bytes()),
            Writer::Sql(c) => c.push(SqlValue::Int(v.into())),
        }
    }
    fn u64(&mut self, v: u64) {
        match self {
            Writer::Bytes(b) => b.extend_from_slice(&v.to_le_bytes()),
            Writer::Sql(c) => c.push(SqlValue::Int(sql_int(v))),
        }
    }
    fn str(&mut self, s: &str) {
        match self {
            Writer::Bytes(b) => {
                b.extend_from_slice(&(s.len() as u32).to_le_bytes());
                b.extend_from_slice(s.as_bytes());
            }
            Writer::Sql(c) => c.push(SqlValue::Text(s.to_string())),
        }
    }
    fn opt_str(&mut self, s: &Option<String>) {
        match self {
            Writer::Bytes(_) => {
                self.bool(s.is_some());
                if let Some(s) = s {
                    self.str(s);
                }
            }
            Writer::Sql(c) => c.push(SqlValue::OptText(s.clone())),
        }
    }
    fn opt_u64(&mut self, v: Option<u64>) {
        match self {
            Writer::Bytes(_) => {
                self.bool(v.is_some());
                if let Some(v) = v {
                    self.u64(v);
                }
            }
            Writer::Sql(c) => c.push(SqlValue::OptInt(v.map(sql_int))),
        }
    }
    fn u64s(&mut self, list: &[u64]) {
        match self {
            Writer::Bytes(_) => {
                self.u32(list.len() as u32);
                for v in list {
                    self.u64(*v);
                }
            }
            Writer::Sql(c) => c.push(SqlValue::Ints(list.iter().map(|v| sql_int(*v)).collect())),
        }
    }
    fn strs(&mut self, list: &[String]) {
        match self {
            Writer::Bytes(_) => {
                self.u32(list.len() as u32);
                for s in list {
                    self.str(s);
                }
            }
            Writer::Sql(c) => c.push(SqlValue::Texts(list.to_vec())),
        }
    }
}

/// Where a [`Reader`] reads fields from.
enum Source<'a> {
    /// An encoded redb row.
    Bytes(&'a [u8]),
    /// A PostgreSQL row, from column `at` on.
    Sql { row: &'a postgres::Row, at: usize },
}

/// Reads fields back, failing with the row kind on truncated or bad data.
pub(crate) struct Reader<'a> {
    kind: &'static str,
    source: Source<'a>,
}

impl<'a> Reader<'a> {
    fn corrupt(&self, why: &str) -> Error {
        Error::storage(format!(
            "a {} row is damaged ({why}); restore the database from a backup",
            self.kind
        ))
    }
    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        let Source::Bytes(bytes) = &mut self.source else {
            return Err(self.corrupt("bytes read from a column"));
        };
        if bytes.len() < n {
            return Err(self.corrupt("truncated"));
        }
        let (head, tail) = bytes.split_at(n);
        *bytes = tail;
        Ok(head)
    }
    /// The next column of a PostgreSQL row, as `T`.
    fn column<T: postgres::types::FromSqlOwned>(&mut self) -> Result<T> {
        let Source::Sql { row, at } = &mut self.source else {
            unreachable!("column() is only called on PostgreSQL rows");
        };
        let value = row
            .try_get::<_, T>(*at)
            .map_err(|e| Error::storage(format!("a {} row is damaged: {e}", self.kind)))?;
        *at += 1;
        Ok(value)
    }
    fn is_sql(&self) -> bool {
        matches!(self.source, Source::Sql { .. })
    }
    fn u8(&mut self) -> Result<u8> {
        if self.is_sql() {
            let v: i64 = self.column()?;
            return u8::try_from(v).map_err(|_| self.corrupt("number out of range"));
        }
        Ok(self.take(1)?[0])
    }
    fn bool(&mut self) -> Result<bool> {
        if self.is_sql() {
            return self.column();
        }
        match self.u8()? {
            0 => Ok(false),
            1 => Ok(true),
            _ => Err(self.corrupt("bad flag")),
        }
    }
    fn u32(&mut self) -> Result<u32> {
        if self.is_sql() {
            let v: i64 = self.column()?;
            return u32::try_from(v).map_err(|_| self.corrupt("number out of range"));
        }
        let b = self.take(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }
    fn u64(&mut self) -> Result<u64> {
        if self.is_sql() {
            return Ok(from_sql_int(self.column()?));
        }
        let mut a = [0u8; 8];
        a.copy_from_slice(self.take(8)?);
        Ok(u64::from_le_bytes(a))
    }
    fn str(&mut self) -> Result<String> {
        if self.is_sql() {
            return self.column();
        }
        let n = self.u32()? as usize;
        let b = self.take(n)?;
        String::from_utf8(b.to_vec()).map_err(|_| self.corrupt("text is not UTF-8"))
    }
    fn opt_str(&mut self) -> Result<Option<String>> {
        if self.is_sql() {
            return self.column();
        }
        Ok(if self.bool()? {
            Some(self.str()?)
        } else {
            None
        })
    }
    fn opt_u64(&mut self) -> Result<Option<u64>> {
        if self.is_sql() {
            return Ok(self.column::<Option<i64>>()?.map(from_sql_int));
        }
        Ok(if self.bool()? {
            Some(self.u64()?)
        } else {
            None
        })
    }
    fn u64s(&mut self) -> Result<Vec<u64>> {
        if self.is_sql() {
            let v: Vec<i64> = self.column()?;
            return Ok(v.into_iter().map(from_sql_int).collect());
        }
        let n = self.u32()? as usize;
        if n.saturating_mul(8) > self.remaining() {
            return Err(self.corrupt("bad list length"));
        }
        (0..n).map(|_| self.u64()).collect()
    }
    fn strs(&mut self) -> Result<Vec<String>> {
        if self.is_sql() {
            return self.column();
        }
        let n = self.u32()? as usize;
        if n > self.remaining() {
            return Err(self.corrupt("bad list length"));
        }
        (0..n).map(|_| self.str()).collect()
    }
    /// A byte added at the end of a row after rows were written without
    /// it: 0 when the row ends before it.
    fn added_u8(&mut self) -> Result<u8> {
        if !self.is_sql() && self.remaining() == 0 {
            return Ok(0);
        }
        self.u8()
    }
    /// A number added at the end of a row after rows were written without
    /// it: 0 when the row ends before it.
    fn added_u32(&mut self) -> Result<u32> {
        if !self.is_sql() && self.remaining() == 0 {
            return Ok(0);
        }
        self.u32()
    }
    /// A number added at the end of a row after rows were written without
    /// it: 0 when the row ends before it.
    fn added_u64(&mut self) -> Result<u64> {
        if !self.is_sql() && self.remaining() == 0 {
            return Ok(0);
        }
        self.u64()
    }
    /// A text added at the end of a row after rows were written without
    /// it: empty when the row ends before it.
    fn added_str(&mut self) -> Result<String> {
        if !self.is_sql() && self.remaining() == 0 {
            return Ok(String::new());
        }
        self.str()
    }
    /// A list added at the end of a row after rows were written without
    /// it: empty when the row ends before it.
    fn added_strs(&mut self) -> Result<Vec<String>> {
        if !self.is_sql() && self.remaining() == 0 {
            return Ok(Vec::new());
        }
        self.strs()
    }
    /// A [`Reach`] added at the end of a row (unknown when absent).
    fn reach(&mut self) -> Result<Reach> {
        let code = self.added_u8()?;
        Reach::from_code(code).ok_or_else(|| self.corrupt("unknown reach"))
    }
    fn remaining(&self) -> usize {
        match &self.source {
            Source::Bytes(b) => b.len(),
            Source::Sql { .. } => 0,
        }
    }
}

/// A struct stored as one row.
pub(crate) trait Row: Sized {
    /// Name used in error messages.
    const KIND: &'static str;
    fn write(&self, w: &mut Writer);
    fn read(r: &mut Reader<'_>) -> Result<Self>;
}

/// Encodes a row with its format byte.
pub(crate) fn encode<T: Row>(row: &T) -> Vec<u8> {
    let mut w = Writer::Bytes(Vec::new());
    w.u8(FORMAT);
    row.write(&mut w);
    match w {
        Writer::Bytes(b) => b,
        Writer::Sql(_) => unreachable!("made as bytes above"),
    }
}

/// A row's fields as PostgreSQL parameters, in column order.
pub(crate) fn to_columns<T: Row>(row: &T, out: &mut Vec<SqlValue>) {
    let mut w = Writer::Sql(std::mem::take(out));
    row.write(&mut w);
    if let Writer::Sql(columns) = w {
        *out = columns;
    }
}

/// Reads a row from the columns of `row` starting at `*at`, moving `*at`
/// past them.
pub(crate) fn from_columns<T: Row>(row: &postgres::Row, at: &mut usize) -> Result<T> {
    let mut r = Reader {
        kind: T::KIND,
        source: Source::Sql { row, at: *at },
    };
    let out = T::read(&mut r)?;
    if let Source::Sql { at: next, .. } = r.source {
        *at = next;
    }
    Ok(out)
}

/// Decodes a row written by [`encode`].
pub(crate) fn decode<T: Row>(bytes: &[u8]) -> Result<T> {
    let mut r = Reader {
        kind: T::KIND,
        source: Source::Bytes(bytes),
    };
    match r.u8()? {
        FORMAT => {}
        other => return Err(r.corrupt(&format!("unknown format {other}"))),
    }
    let row = T::read(&mut r)?;
    if r.remaining() != 0 {
        return Err(r.corrupt("trailing bytes"));
    }
    Ok(row)
}

impl Row for Product {
    const KIND: &'static str = "product";
    fn write(&self, w: &mut Writer) {
        w.u64(self.id.0);
        w.str(&self.name);
        w.bool(self.ssl_only);
        w.bool(self.public);
        w.bool(self.active);
        w.bool(self.checknow);
        w.u32(self.priority);
        w.strs(&self.languages);
        w.u64(self.created_at);
        w.u32(self.max_lag_minutes.unwrap_or(0));
    }
    fn read(r: &mut Reader<'_>) -> Result<Self> {
        Ok(Product {
            id: ProductId(r.u64()?),
            name: r.str()?,
            ssl_only: r.bool()?,
            public: r.bool()?,
            active: r.bool()?,
            checknow: r.bool()?,
            priority: r.u32()?,
            languages: r.strs()?,
            created_at: r.u64()?,
            max_lag_minutes: Some(r.added_u32()?).filter(|&m| m > 0),
        })
    }
}

impl Row for Alias {
    const KIND: &'static str = "alias";
    fn write(&self, w: &mut Writer) {
        w.str(&self.name);
        w.u64(self.product.0);
    }
    fn read(r: &mut Reader<'_>) -> Result<Self> {
        Ok(Alias {
            name: r.str()?,
            product: ProductId(r.u64()?),
        })
    }
}

impl Row for Location {
    const KIND: &'static str = "location";
    fn write(&self, w: &mut Writer) {
        w.u64(self.id.0);
        w.u64(self.product.0);
        w.str(&self.os);
        w.str(&self.path);
        w.u64(self.created_at);
    }
    fn read(r: &mut Reader<'_>) -> Result<Self> {
        Ok(Location {
            id: LocationId(r.u64()?),
            product: ProductId(r.u64()?),
            os: r.str()?,
            path: r.str()?,
            created_at: r.u64()?,
        })
    }
}

impl Row for Mirror {
    const KIND: &'static str = "mirror";
    fn write(&self, w: &mut Writer) {
        w.u64(self.id.0);
        w.str(&self.name);
        w.str(&self.base_url);
        w.u32(self.rating);
        w.bool(self.active);
        w.strs(&self.regions);
        w.str(&self.contact);
        w.u64(self.created_at);
        w.u8(self.families.code());
        let texts =
            |items: &[_]| -> Vec<String> { items.iter().map(ToString::to_string).collect() };
        w.strs(&texts(&self.audience.only));
        w.strs(&texts(&self.audience.never));
        w.strs(
            &self
                .audience
                .networks
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>(),
        );
        w.u8(self.audience.max_share.unwrap_or(0));
        w.str(self.alt_url.as_deref().unwrap_or(""));
        w.str(self.trace.as_deref().unwrap_or(""));
        w.u8(self.kind.code());
        let window = self.maintenance.map_or((0, 0), |w| (w.start, w.end));
        w.u64(window.0);
        w.u64(window.1);
    }
    fn read(r: &mut Reader<'_>) -> Result<Self> {
        Ok(Mirror {
            id: MirrorId(r.u64()?),
            name: r.str()?,
            base_url: r.str()?,
            rating: r.u32()?,
            active: r.bool()?,
            regions: r.strs()?,
            contact: r.str()?,
            created_at: r.u64()?,
            families: {
                let code = r.added_u8()?;
                Families::from_code(code).ok_or_else(|| r.corrupt("unknown address families"))?
            },
            audience: {
                let countries = |r: &mut Reader<'_>| {
                    let list = r.added_strs()?.join(",");
                    crate::model::audience::parse_countries(&list)
                        .map_err(|_| r.corrupt("a bad country"))
                };
                let only = countries(r)?;
                let never = countries(r)?;
                let list = r.added_strs()?.join(",");
                let networks = crate::model::audience::parse_networks(&list)
                    .map_err(|_| r.corrupt("a bad client network"))?;
                let max_share = match r.added_u8()? {
                    0 => None,
                    n @ 1..=99 => Some(n),
                    _ => return Err(r.corrupt("a share above 99 %")),
                };
                Audience {
                    only,
                    never,
                    networks,
                    max_share,
                }
            },
            alt_url: Some(r.added_str()?).filter(|u| !u.is_empty()),
            trace: Some(r.added_str()?).filter(|u| !u.is_empty()),
            kind: {
                let code = r.added_u8()?;
                MirrorKind::from_code(code).ok_or_else(|| r.corrupt("unknown mirror kind"))?
            },
            maintenance: {
                let (start, end) = (r.added_u64()?, r.added_u64()?);
                (end > 0).then_some(crate::model::maintenance::Window { start, end })
            },
        })
    }
}

impl Row for MirrorHealth {
    const KIND: &'static str = "mirror health";
    fn write(&self, w: &mut Writer) {
        w.bool(self.healthy);
        w.u64(self.checked_at);
        w.u64(self.since);
        w.str(&self.error);
        w.u32(self.flaps);
        w.u32(self.latency_ms);
        w.u64(self.throughput);
        w.u8(Problem::code(self.problem));
        w.u8(self.reaches.v4.code());
        w.u8(self.reaches.v6.code());
        w.u8(self.alt.code());
        w.u64(self.synced_at);
    }
    fn read(r: &mut Reader<'_>) -> Result<Self> {
        Ok(MirrorHealth {
            healthy: r.bool()?,
            checked_at: r.u64()?,
            since: r.u64()?,
            error: r.str()?,
            flaps: r.u32()?,
            latency_ms: r.u32()?,
            throughput: r.u64()?,
            problem: Problem::from_code(r.added_u8()?),
            reaches: Reaches {
                v4: r.reach()?,
                v6: r.reach()?,
            },
            alt: r.reach()?,
            synced_at: r.added_u64()?,
        })
    }
}

impl Row for MirrorCheck {
    const KIND: &'static str = "mirror check";
    fn write(&self, w: &mut Writer) {
        w.u64(self.mirror.0);
        w.u64(self.at);
        w.bool(self.ok);
        w.u32(self.latency_ms);
        w.u64(self.throughput);
        w.u32(self.files);
        w.u32(self.missing);
        w.u32(self.streak);
        w.str(&self.error);
        w.u8(Problem::code(self.problem));
    }
    fn read(r: &mut Reader<'_>) -> Result<Self> {
        Ok(MirrorCheck {
            mirror: MirrorId(r.u64()?),
            at: r.u64()?,
            ok: r.bool()?,
            latency_ms: r.u32()?,
            throughput: r.u64()?,
            files: r.u32()?,
            missing: r.u32()?,
            streak: r.u32()?,
            error: r.str()?,
            problem: Problem::from_code(r.added_u8()?),
        })
    }
}

impl Row for Availability {
    const KIND: &'static str = "availability";
    fn write(&self, w: &mut Writer) {
        w.bool(self.present);
        w.bool(self.healthy);
        w.u64(self.checked_at);
        w.str(&self.error);
    }
    fn read(r: &mut Reader<'_>) -> Result<Self> {
        Ok(Availability {
            present: r.bool()?,
            healthy: r.bool()?,
            checked_at: r.u64()?,
            error: r.str()?,
        })
    }
}

/// Whether an encoded availability row says the file is served, read from
/// its two flag bytes without decoding the rest (the index reads millions).
pub(crate) fn availability_serves(bytes: &[u8]) -> Result<bool> {
    match bytes {
        [FORMAT, present @ 0..=1, healthy @ 0..=1, ..] => Ok(*present == 1 && *healthy == 1),
        _ => Err(Error::storage(
            "an availability row is damaged; restore the database from a backup",
        )),
    }
}

impl Row for FileInfo {
    const KIND: &'static str = "file";
    fn write(&self, w: &mut Writer) {
        w.str(&self.path);
        w.opt_u64(self.location.map(|l| l.0));
        w.opt_str(&self.lang);
        w.opt_u64(self.size);
        w.opt_str(&self.md5);
        w.opt_str(&self.sha1);
        w.opt_str(&self.sha256);
        w.opt_str(&self.sha512);
    }
    fn read(r: &mut Reader<'_>) -> Result<Self> {
        Ok(FileInfo {
            path: r.str()?,
            location: r.opt_u64()?.map(LocationId),
            lang: r.opt_str()?,
            size: r.opt_u64()?,
            md5: r.opt_str()?,
            sha1: r.opt_str()?,
            sha256: r.opt_str()?,
            sha512: r.opt_str()?,
        })
    }
}

impl Row for Region {
    const KIND: &'static str = "region";
    fn write(&self, w: &mut Writer) {
        w.str(&self.name);
        w.u32(self.throttle as u32);
        w.opt_str(&self.fallback);
        w.bool(self.global_fallback);
        w.strs(&self.countries);
    }
    fn read(r: &mut Reader<'_>) -> Result<Self> {
        Ok(Region {
            name: r.str()?,
            throttle: r.u32()? as i32,
            fallback: r.opt_str()?,
            global_fallback: r.bool()?,
            countries: r.strs()?,
        })
    }
}

impl Row for User {
    const KIND: &'static str = "user";
    fn write(&self, w: &mut Writer) {
        w.str(&self.name);
        w.str(&self.password_hash);
        w.str(self.role.as_str());
        w.u64(self.created_at);
    }
    fn read(r: &mut Reader<'_>) -> Result<Self> {
        let name = r.str()?;
        let password_hash = r.str()?;
        let role = r.str()?;
        let role = Role::parse(&role).ok_or_else(|| r.corrupt("unknown role"))?;
        Ok(User {
            name,
            password_hash,
            role,
            created_at: r.u64()?,
        })
    }
}

impl Row for SentryRun {
    const KIND: &'static str = "sentry run";
    fn write(&self, w: &mut Writer) {
        w.u64(self.id);
        w.str(&self.kind);
        w.u64(self.started_at);
        w.u64(self.ended_at);
        w.u64(self.checks);
        w.u64(self.failures);
        w.u64(self.changes);
        w.str(&self.report);
        let failed: Vec<u64> = self.failed.iter().map(|m| m.0).collect();
        w.u64s(&failed);
    }
    fn read(r: &mut Reader<'_>) -> Result<Self> {
        Ok(SentryRun {
            id: r.u64()?,
            kind: r.str()?,
            started_at: r.u64()?,
            ended_at: r.u64()?,
            checks: r.u64()?,
            failures: r.u64()?,
            changes: r.u64()?,
            report: r.str()?,
            // Rows written before runs recorded their failed mirrors end
            // here (redb); PostgreSQL has the column (schema 3).
            failed: if r.is_sql() || r.remaining() > 0 {
                r.u64s()?.into_iter().map(MirrorId).collect()
            } else {
                Vec::new()
            },
        })
    }
}

impl Row for Event {
    const KIND: &'static str = "event";
    fn write(&self, w: &mut Writer) {
        w.u64(self.id);
        w.u64(self.at);
        w.str(&self.actor);
        w.str(&self.action);
        w.str(&self.detail);
    }
    fn read(r: &mut Reader<'_>) -> Result<Self> {
        Ok(Event {
            id: r.u64()?,
            at: r.u64()?,
            actor: r.str()?,
            action: r.str()?,
            detail: r.str()?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn round_trip<T: Row + PartialEq + std::fmt::Debug>(row: T) {
        round_trip_added(row, 0);
    }

    /// [`round_trip`] for a row whose last `added` bytes were added after
    /// rows were written without them: those rows still read.
    fn round_trip_added<T: Row + PartialEq + std::fmt::Debug>(row: T, added: usize) {
        let bytes = encode(&row);
        assert_eq!(decode::<T>(&bytes).unwrap(), row);
        // Every truncation is reported, never a panic or a wrong row.
        for n in 0..bytes.len() - added {
            assert!(
                decode::<T>(&bytes[..n]).is_err(),
                "{} truncated at {n}",
                T::KIND
            );
        }
    }

    proptest! {
        #[test]
        fn products(id: u64, name in ".*", flags: [bool; 4], priority: u32,
                    languages in proptest::collection::vec("[a-zA-Z-]{1,8}", 0..5), created_at: u64,
                    max_lag in 0..10_080u32) {
            // Rows written before the lag limit read as having none.
            round_trip_added(Product { id: ProductId(id), name, ssl_only: flags[0], public: flags[1],
                active: flags[2], checknow: flags[3], priority, languages, created_at,
                max_lag_minutes: (max_lag > 0).then_some(max_lag) }, 4);
        }

        #[test]
        fn mirrors(id: u64, name in ".*", base_url in ".*", rating: u32, active: bool,
                   regions in proptest::collection::vec(".*", 0..3), contact in ".*", created_at: u64,
                   families in 0..3usize, only in proptest::collection::vec("DE|AT|FR", 0..4),
                   never in proptest::collection::vec("CN|RU", 0..3),
                   networks in proptest::collection::vec(0..4usize, 0..3), max_share in 0..100u8,
                   alt: bool) {
            let families = Families::ALL[families];
            let examples = ["192.0.2.0/24", "2001:db8::/32", "AS64500", "10.0.0.1/32"];
            let audience = Audience {
                only: crate::model::audience::parse_countries(&only.join(",")).unwrap(),
                never: crate::model::audience::parse_countries(&never.join(",")).unwrap(),
                networks: crate::model::audience::parse_networks(
                    &networks.iter().map(|&i| examples[i]).collect::<Vec<_>>().join(","),
                ).unwrap(),
                max_share: (max_share > 0).then_some(max_share),
            };
            let alt_url = alt.then(|| "https://alt.example/pub".to_string());
            let trace = alt.then(|| "/project/trace/master".to_string());
            let row = Mirror { id: MirrorId(id), name, base_url, rating, active, regions, contact, created_at, families, audience, alt_url, trace,
                kind: if alt { MirrorKind::Cdn } else { MirrorKind::Mirror },
                maintenance: alt.then_some(crate::model::maintenance::Window { start: 5, end: 6 }) };
            // Rows written before the families byte, the audience and the
            // other-scheme URL read as serving both, everyone alike, one
            // scheme.
            let plain = Mirror { families: Families::Both, audience: Audience::default(), alt_url: None, trace: None,
                kind: MirrorKind::Mirror, maintenance: None, ..row.clone() };
            let before = encode(&plain).len() - 39;
            round_trip_added(row.clone(), encode(&row).len() - before);
            assert_eq!(decode::<Mirror>(&encode(&plain)[..before]).unwrap(), plain);
        }

        #[test]
        fn files(path in ".*", location: Option<u64>, lang in proptest::option::of(".*"),
                 size: Option<u64>, md5 in proptest::option::of("[0-9a-f]{32}"),
                 sha1 in proptest::option::of("[0-9a-f]{40}"), sha256 in proptest::option::of("[0-9a-f]{64}"),
                 sha512 in proptest::option::of("[0-9a-f]{128}")) {
            round_trip(FileInfo { path, location: location.map(LocationId), lang, size, md5, sha1, sha256, sha512 });
        }

        #[test]
        fn availability(present: bool, healthy: bool, checked_at: u64, error in ".*") {
            let row = Availability { present, healthy, checked_at, error };
            prop_assert_eq!(availability_serves(&encode(&row)).unwrap(), present && healthy);
            round_trip(row);
        }

        #[test]
        fn regions(name in ".*", throttle: i32, fallback in proptest::option::of(".*"), global_fallback: bool,
                   countries in proptest::collection::vec("[A-Z]{2}", 0..4)) {
            round_trip(Region { name, throttle, fallback, global_fallback, countries });
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            let _ = decode::<Product>(&bytes);
            let _ = decode::<Mirror>(&bytes);
            let _ = decode::<User>(&bytes);
        }
    }

    #[test]
    fn health_and_checks_written_without_a_problem_still_read() {
        let check = MirrorCheck {
            mirror: MirrorId(2),
            at: 9,
            error: "timed out".into(),
            problem: Some(Problem::Timeout),
            ..MirrorCheck::default()
        };
        let health = MirrorHealth {
            error: "timed out".into(),
            problem: Some(Problem::Timeout),
            ..MirrorHealth::default()
        };
        // Rows as written before the problem was stored: no last byte.
        let old_check = encode(&check);
        let old_check = decode::<MirrorCheck>(&old_check[..old_check.len() - 1]).unwrap();
        assert_eq!(old_check.problem, None);
        assert_eq!(old_check.problem(), Some(Problem::Timeout));
        let old_health = encode(&health);
        // Without the problem byte, the three reach bytes and the sync time.
        let old_health = decode::<MirrorHealth>(&old_health[..old_health.len() - 12]).unwrap();
        assert_eq!((old_health.problem, old_health.error), (None, health.error));
        assert_eq!(old_health.reaches, Reaches::default(), "unknown, as before");
        assert_eq!(old_health.alt, Reach::Unknown);
    }

    #[test]
    fn the_rest() {
        round_trip(Location {
            id: LocationId(3),
            product: ProductId(4),
            os: "win".into(),
            path: "/a/:lang/b".into(),
            created_at: 5,
        });
        round_trip(Alias {
            name: "firefox-latest".into(),
            product: ProductId(9),
        });
        round_trip_added(
            MirrorHealth {
                healthy: false,
                checked_at: 1,
                since: 2,
                error: "timed out".into(),
                flaps: 3,
                latency_ms: 12,
                throughput: 1 << 40,
                problem: Some(Problem::Timeout),
                reaches: Reaches {
                    v4: Reach::Up,
                    v6: Reach::Down,
                },
                alt: Reach::Down,
                synced_at: 7,
            },
            12,
        );
        round_trip_added(
            MirrorCheck {
                mirror: MirrorId(2),
                at: 9,
                error: "/pub/dnsutils/x.tgz: 404 Not Found".into(),
                problem: Some(Problem::NotFound),
                ..MirrorCheck::default()
            },
            1,
        );
        for role in [Role::Admin, Role::Release, Role::Viewer] {
            round_trip(User {
                name: "ops".into(),
                password_hash: "$argon2id$…".into(),
                role,
                created_at: 7,
            });
        }
        let run = SentryRun {
            id: 1,
            kind: "all".into(),
            started_at: 2,
            ended_at: 3,
            checks: 4,
            failures: 5,
            changes: 6,
            report: "r.html".into(),
            failed: vec![MirrorId(3), MirrorId(u64::MAX >> 1)],
        };
        let bytes = encode(&run);
        assert_eq!(decode::<SentryRun>(&bytes).unwrap(), run);
        // A run recorded before runs listed their failed mirrors ends
        // before the list; every other truncation is reported.
        let old = bytes.len() - 4 - 2 * 8;
        for n in 0..bytes.len() {
            let decoded = decode::<SentryRun>(&bytes[..n]);
            if n == old {
                assert_eq!(
                    decoded.unwrap(),
                    SentryRun {
                        failed: Vec::new(),
                        ..run.clone()
                    }
                );
            } else {
                assert!(decoded.is_err(), "sentry run truncated at {n}");
            }
        }
        round_trip(Event {
            id: 1,
            at: 2,
            actor: "cli".into(),
            action: "mirror.add".into(),
            detail: "<b>".into(),
        });
    }

    #[test]
    fn unknown_format_is_refused() {
        let mut bytes = encode(&Alias {
            name: "a".into(),
            product: ProductId(1),
        });
        bytes[0] = 99;
        let err = decode::<Alias>(&bytes).unwrap_err().to_string();
        assert!(err.contains("unknown format 99"), "{err}");
    }
}
