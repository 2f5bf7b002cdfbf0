//! Sentry's own records: each mirror's health and the runs it made.

use redb::{ReadableDatabase, ReadableTable};

use super::rows::{decode_all, encode};
use super::tables::*;
use super::{Store, Tx};
use crate::error::Result;
use crate::model::*;

impl Store {
    /// The newest `limit` sentry runs, newest first.
    pub fn sentry_runs(&self, limit: usize) -> Result<Vec<SentryRun>> {
        let txn = self.db.begin_read()?;
        decode_all(txn.open_table(SENTRY_RUNS)?.iter()?.rev().take(limit))
    }
}

impl Tx {
    /// Records what a check found for a mirror as a whole.
    pub fn set_health(&mut self, mirror: MirrorId, health: &MirrorHealth) -> Result<()> {
        self.txn
            .open_table(MIRROR_HEALTH)?
            .insert(mirror.0, encode(health).as_slice())?;
        Ok(())
    }

    /// Stores a sentry run (new or finished), giving a new one its id.
    pub fn sentry_run_put(&mut self, run: &mut SentryRun) -> Result<()> {
        if run.id == 0 {
            run.id = self.next_id("next_sentry_run")?;
        }
        self.txn
            .open_table(SENTRY_RUNS)?
            .insert(run.id, encode(run).as_slice())?;
        Ok(())
    }
}
