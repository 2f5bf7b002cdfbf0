//! Sentry's own records: each mirror's health and the runs it made.

use super::backend::{Order, Span};
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
