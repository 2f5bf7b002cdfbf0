//! Sentry's own records: each mirror's health and the runs it made.

use super::backend::{Order, Span};
use super::postgres::{SqlValue, sql_int};
use super::tables::*;
use super::{Store, Tx};
use crate::error::Result;
use crate::model::*;

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
