//! Sentry's own records: each mirror's health and the runs it made, the
//! runs listed a page at a time by kind, failures and mirror, and pruned
//! by age.

use super::backend::{Order, Span, Txn};
use super::postgres::{SqlValue, sql_int};
use super::tables::*;
use super::{Backend, Store, Tx};
use crate::error::Result;
use crate::model::*;

/// The modes a run may have (`SentryRun::kind` is one of them, or one of
/// them and ` (MIRROR)` for a run over one mirror).
pub const RUN_MODES: &[&str] = &["all", "new", "spot", "hashes"];

/// Which runs a list shows.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RunFilter {
    /// Of which kind.
    pub kind: RunKind,
    /// Only runs with a failed check.
    pub failures: bool,
    /// Only runs over this mirror or in which it failed: its name and, if
    /// it still exists, its id.
    pub mirror: Option<(String, Option<MirrorId>)>,
}

/// The kinds of run a [`RunFilter`] tells apart.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum RunKind {
    /// Every run.
    #[default]
    Any,
    /// Runs over the whole network in one mode (`all`, `new`, …).
    Mode(String),
    /// Runs over one mirror, whichever.
    AnyMirror,
    /// Runs over the mirror of this name.
    Mirror(String),
}

/// The kinds a run over mirror `name` is recorded with, in lower case.
fn kinds_of_mirror(name: &str) -> Vec<String> {
    RUN_MODES
        .iter()
        .map(|m| format!("{m} ({name})").to_lowercase())
        .collect()
}

/// Whether `kind` is that of a run over one mirror.
fn is_mirror_run(kind: &str) -> bool {
    kind.ends_with(')') && kind.contains(" (")
}

impl RunFilter {
    /// Whether `run` is one of the runs this filter shows.
    pub fn matches(&self, run: &SentryRun) -> bool {
        let kind = run.kind.to_lowercase();
        let kind_ok = match &self.kind {
            RunKind::Any => true,
            RunKind::Mode(m) => kind == m.to_lowercase(),
            RunKind::AnyMirror => is_mirror_run(&kind),
            RunKind::Mirror(name) => kinds_of_mirror(name).contains(&kind),
        };
        let mirror_ok = match &self.mirror {
            None => true,
            Some((name, id)) => {
                kinds_of_mirror(name).contains(&kind)
                    || id.is_some_and(|id| run.failed.contains(&id))
            }
        };
        kind_ok && mirror_ok && (!self.failures || run.failures > 0)
    }

    /// The filter as a PostgreSQL `WHERE` clause (empty: every run),
    /// pushing its parameters.
    fn sql(&self, params: &mut Vec<SqlValue>) -> String {
        let mut clauses: Vec<String> = Vec::new();
        let param = |params: &mut Vec<SqlValue>, v: SqlValue| {
            params.push(v);
            format!("${}", params.len())
        };
        match &self.kind {
            RunKind::Any => {}
            RunKind::Mode(m) => {
                let p = param(params, SqlValue::Text(m.to_lowercase()));
                clauses.push(format!("lower(kind) = {p}"));
            }
            RunKind::AnyMirror => clauses.push("kind LIKE '% (%)'".into()),
            RunKind::Mirror(name) => {
                let p = param(params, SqlValue::Texts(kinds_of_mirror(name)));
                clauses.push(format!("lower(kind) = ANY({p})"));
            }
        }
        if let Some((name, id)) = &self.mirror {
            let kinds = param(params, SqlValue::Texts(kinds_of_mirror(name)));
            match id {
                Some(id) => {
                    let id = param(params, SqlValue::Int(sql_int(id.0)));
                    clauses.push(format!(
                        "(lower(kind) = ANY({kinds}) OR {id} = ANY(failed))"
                    ));
                }
                None => clauses.push(format!("lower(kind) = ANY({kinds})")),
            }
        }
        if self.failures {
            clauses.push("failures > 0".into());
        }
        if clauses.is_empty() {
            String::new()
        } else {
            format!("WHERE {}", clauses.join(" AND "))
        }
    }
}

impl Store {
    /// The newest `limit` sentry runs, newest first.
    pub fn sentry_runs(&self, limit: usize) -> Result<Vec<SentryRun>> {
        let mut out = Vec::new();
        self.read()?.scan(
            &SENTRY_RUNS,
            Span::all(),
            Order::Down,
            Some(limit),
            |_, run| {
                out.push(run);
                Ok(true)
            },
        )?;
        Ok(out)
    }

    /// Run `id`.
    pub fn sentry_run(&self, id: u64) -> Result<Option<SentryRun>> {
        self.read()?.get(&SENTRY_RUNS, &id)
    }

    /// The runs `filter` shows, newest first, and how many there are in
    /// all. The store counts them first and asks `place` which of them to
    /// read (`place(total)` gives `(skip, limit)`; a `skip` past the end
    /// reads nothing), so a page number, however large, never reaches an
    /// offset. Without a filter, redb counts the table and reads only the
    /// page's runs; a filter decodes every run once to match it, keeping
    /// only the ids.
    pub fn sentry_runs_page(
        &self,
        filter: &RunFilter,
        place: impl FnOnce(usize) -> (usize, usize),
    ) -> Result<(Vec<SentryRun>, usize)> {
        let txn = self.read()?;
        let mut out = Vec::new();
        if let Some(pg) = txn.pg() {
            let mut params = Vec::new();
            let filter = filter.sql(&mut params);
            let total = pg
                .query(
                    &format!("SELECT count(*) FROM sentry_runs {filter}"),
                    &params,
                )?
                .first()
                .map_or(0, |row| row.get::<_, i64>(0));
            let total = usize::try_from(total).unwrap_or(0);
            let (skip, limit) = place(total);
            let (skip, limit) = (skip.min(total), limit.min(total - skip.min(total)));
            if limit == 0 {
                return Ok((out, total));
            }
            let sql = format!(
                "SELECT {} FROM sentry_runs {filter} ORDER BY id DESC LIMIT {limit} OFFSET {skip}",
                SENTRY_RUNS.columns.join(", ")
            );
            pg.stream(&sql, &params, |row| {
                out.push(super::rows::from_columns::<SentryRun>(row, &mut 0)?);
                Ok(true)
            })?;
            return Ok((out, total));
        }
        if *filter == RunFilter::default()
            && let Txn::RedbRead(read) = &txn
        {
            use redb::{ReadableTable, ReadableTableMetadata};
            let table = read.open_table(SENTRY_RUNS.redb)?;
            let total = usize::try_from(table.len()?).unwrap_or(usize::MAX);
            let (skip, limit) = place(total);
            // Skipping walks the keys; only the page's runs are decoded.
            for row in table.iter()?.rev().skip(skip).take(limit) {
                let (_, run) = row?;
                out.push(<SentryRun as super::backend::Val>::from_redb(run.value())?);
            }
            return Ok((out, total));
        }
        let mut ids = Vec::new();
        txn.scan(&SENTRY_RUNS, Span::all(), Order::Down, None, |id, run| {
            if filter.matches(&run) {
                ids.push(id);
            }
            Ok(true)
        })?;
        let (skip, limit) = place(ids.len());
        for id in ids.iter().skip(skip).take(limit) {
            if let Some(run) = txn.get(&SENTRY_RUNS, id)? {
                out.push(run);
            }
        }
        Ok((out, ids.len()))
    }

    /// Removes the runs that started before `before` (Unix seconds) and
    /// their stored reports, but never the newest full run (kind `all`)
    /// nor the newest run of all. Returns the ids removed, ascending (the
    /// report files by those names are the caller's to remove).
    pub fn sentry_runs_prune(&self, before: u64) -> Result<Vec<u64>> {
        let txn = match &self.backend {
            Backend::Redb { db, .. } => Txn::RedbWrite(db.begin_write()?),
            // Runs and reports change nothing a node serves: no
            // generation lock.
            Backend::Postgres(db) => Txn::Pg(db.read_write()?),
        };
        // The runs kept whatever their age.
        let mut keep = Vec::new();
        txn.scan(&SENTRY_RUNS, Span::all(), Order::Down, Some(1), |id, _| {
            keep.push(id);
            Ok(true)
        })?;
        if let Some(pg) = txn.pg() {
            if let Some(row) = pg
                .query("SELECT max(id) FROM sentry_runs WHERE kind = 'all'", &[])?
                .first()
                && let Some(id) = row.get::<_, Option<i64>>(0)
            {
                keep.push(super::postgres::from_sql_int(id));
            }
            let keep: Vec<i64> = keep.into_iter().map(sql_int).collect();
            let rows = pg.query(
                "DELETE FROM sentry_runs WHERE started_at < $1 AND NOT (id = ANY($2))
                 RETURNING id",
                &[SqlValue::Int(sql_int(before)), SqlValue::Ints(keep)],
            )?;
            let mut removed: Vec<u64> = rows
                .iter()
                .map(|r| super::postgres::from_sql_int(r.get(0)))
                .collect();
            removed.sort_unstable();
            let ids = SqlValue::Ints(removed.iter().map(|id| sql_int(*id)).collect());
            pg.execute("DELETE FROM sentry_reports WHERE run = ANY($1)", &[ids])?;
            txn.commit()?;
            return Ok(removed);
        }
        txn.scan(&SENTRY_RUNS, Span::all(), Order::Down, None, |id, run| {
            if run.kind == "all" {
                keep.push(id);
                return Ok(false);
            }
            Ok(true)
        })?;
        let mut removed = Vec::new();
        txn.retain(&SENTRY_RUNS, |id, run| {
            let gone = run.started_at < before && !keep.contains(id);
            if gone {
                removed.push(*id);
            }
            !gone
        })?;
        txn.commit()?;
        removed.sort_unstable();
        Ok(removed)
    }
}

impl Store {
    /// Keeps run `run`'s HTML report where every node's admin finds it
    /// (PostgreSQL; a redb network's one node has the report file).
    pub fn report_put(&self, run: u64, html: &str) -> Result<()> {
        let Some(db) = self.postgres() else {
            return Ok(());
        };
        let txn = db.read_write()?;
        txn.execute(
            "INSERT INTO sentry_reports (run, html) VALUES ($1, $2)
             ON CONFLICT (run) DO UPDATE SET html = EXCLUDED.html",
            &[
                SqlValue::Int(sql_int(run)),
                SqlValue::Text(html.to_string()),
            ],
        )?;
        txn.commit()
    }

    /// Run `run`'s HTML report as stored (PostgreSQL only).
    pub fn report(&self, run: u64) -> Result<Option<String>> {
        let Some(db) = self.postgres() else {
            return Ok(None);
        };
        let rows = db.read()?.query(
            "SELECT html FROM sentry_reports WHERE run = $1",
            &[SqlValue::Int(sql_int(run))],
        )?;
        Ok(rows.first().map(|r| r.get(0)))
    }
}

impl Tx {
    /// Records what a check found for a mirror as a whole.
    pub fn set_health(&mut self, mirror: MirrorId, health: &MirrorHealth) -> Result<()> {
        self.txn.put(&MIRROR_HEALTH, &mirror.0, health)
    }

    /// Stores a sentry run (new or finished), giving a new one its id.
    pub fn sentry_run_put(&mut self, run: &mut SentryRun) -> Result<()> {
        if run.id == 0 {
            run.id = self.next_id("next_sentry_run")?;
        }
        self.txn.put(&SENTRY_RUNS, &run.id, run)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::tests::stores;

    /// Runs 1 to 5: (kind, started_at, failures, failed mirrors).
    const RUNS: &[(&str, u64, u64, &[u64])] = &[
        ("all", 100, 0, &[]),
        ("spot", 200, 2, &[1]),
        ("all (M2)", 300, 0, &[]),
        ("new", 400, 1, &[2]),
        ("spot", 500, 0, &[]),
    ];

    fn put_runs(store: &Store) {
        store
            .write(&Actor::Program("test"), |tx| {
                for (kind, started_at, failures, failed) in RUNS {
                    tx.sentry_run_put(&mut SentryRun {
                        kind: kind.to_string(),
                        started_at: *started_at,
                        ended_at: started_at + 10,
                        failures: *failures,
                        failed: failed.iter().map(|m| MirrorId(*m)).collect(),
                        ..SentryRun::default()
                    })?;
                }
                Ok(())
            })
            .unwrap();
    }

    fn ids(store: &Store, filter: &RunFilter, skip: usize, limit: usize) -> (Vec<u64>, usize) {
        let (runs, total) = store.sentry_runs_page(filter, |_| (skip, limit)).unwrap();
        for run in &runs {
            assert!(filter.matches(run), "{run:?}");
        }
        (runs.iter().map(|r| r.id).collect(), total)
    }

    #[test]
    fn runs_are_listed_a_page_at_a_time_by_kind_failures_and_mirror() {
        for (_db, store) in stores() {
            put_runs(&store);
            let every = RunFilter::default();
            assert_eq!(ids(&store, &every, 0, 10), (vec![5, 4, 3, 2, 1], 5));
            assert_eq!(ids(&store, &every, 1, 2), (vec![4, 3], 5));
            assert_eq!(ids(&store, &every, 9, 2), (vec![], 5));
            assert_eq!(ids(&store, &every, usize::MAX, 2), (vec![], 5));
            let kind = RunFilter {
                kind: RunKind::Mode("spot".into()),
                ..RunFilter::default()
            };
            assert_eq!(ids(&store, &kind, usize::MAX, usize::MAX), (vec![], 2));
            assert_eq!(ids(&store, &kind, 1, usize::MAX), (vec![2], 2));
            let kind = |kind: RunKind| RunFilter {
                kind,
                ..RunFilter::default()
            };
            assert_eq!(
                ids(&store, &kind(RunKind::Mode("spot".into())), 0, 10),
                (vec![5, 2], 2)
            );
            assert_eq!(
                ids(&store, &kind(RunKind::Mode("all".into())), 0, 10),
                (vec![1], 1)
            );
            assert_eq!(ids(&store, &kind(RunKind::AnyMirror), 0, 10), (vec![3], 1));
            assert_eq!(
                ids(&store, &kind(RunKind::Mirror("m2".into())), 0, 10),
                (vec![3], 1)
            );
            assert_eq!(
                ids(&store, &kind(RunKind::Mirror("m1".into())), 0, 10),
                (vec![], 0)
            );
            let failures = RunFilter {
                failures: true,
                ..RunFilter::default()
            };
            assert_eq!(ids(&store, &failures, 0, 10), (vec![4, 2], 2));
            let mirror = |name: &str, id: Option<u64>| RunFilter {
                mirror: Some((name.into(), id.map(MirrorId))),
                ..RunFilter::default()
            };
            // Its own run, and the run in which it failed.
            assert_eq!(ids(&store, &mirror("m2", Some(2)), 0, 10), (vec![4, 3], 2));
            assert_eq!(ids(&store, &mirror("m2", None), 0, 10), (vec![3], 1));
            assert_eq!(ids(&store, &mirror("m1", Some(1)), 0, 10), (vec![2], 1));
            let both = RunFilter {
                failures: true,
                ..mirror("m2", Some(2))
            };
            assert_eq!(ids(&store, &both, 0, 10), (vec![4], 1));
            assert_eq!(store.sentry_run(4).unwrap().unwrap().failed, [MirrorId(2)]);
            assert_eq!(store.sentry_run(9).unwrap(), None);
        }
    }

    #[test]
    fn pruning_keeps_the_newest_full_run_and_the_newest_run() {
        for (_db, store) in stores() {
            put_runs(&store);
            for run in 1..=5 {
                store.report_put(run, "<p>report</p>").unwrap();
            }
            assert_eq!(store.sentry_runs_prune(50).unwrap(), Vec::<u64>::new());
            // Runs 1, 2 and 4 started before 450; run 3 is no full run
            // (one mirror's), so run 1 is the newest full run and stays.
            assert_eq!(store.sentry_runs_prune(450).unwrap(), vec![2, 3, 4]);
            let left: Vec<u64> = store
                .sentry_runs(10)
                .unwrap()
                .iter()
                .map(|r| r.id)
                .collect();
            assert_eq!(left, vec![5, 1]);
            if store.postgres().is_some() {
                assert_eq!(store.report(2).unwrap(), None);
                assert!(store.report(1).unwrap().is_some());
                assert!(store.report(5).unwrap().is_some());
            }
            // However old, the newest run and the newest full run stay.
            assert_eq!(
                store.sentry_runs_prune(u64::MAX).unwrap(),
                Vec::<u64>::new()
            );
            assert_eq!(store.sentry_runs(10).unwrap().len(), 2);
        }
    }
}
