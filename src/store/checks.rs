//! Each mirror's check history, kept in [`MIRROR_CHECKS`]: one row per
//! sentry check of the mirror, for the health timeline of the mirror's
//! admin page (recent checks, failures in a row, uptime, latency and
//! speed over time).
//!
//! Bounded as it is written, so it stays small whatever the schedule: rows
//! older than [`KEEP_SECS`] go; a check that says the same as the two
//! before it (same health, same kind of problem) replaces the middle one
//! when that one is less than [`SPACING_SECS`] after the one before (so
//! every change of state is kept, and calm stretches keep a row per
//! quarter hour); and a mirror never keeps more than [`MAX_PER_MIRROR`]
//! rows. The newest row always carries the failures in a row
//! ([`MirrorCheck::streak`]).

use std::collections::HashMap;

use super::backend::{Order, Span, Val};
use super::postgres::{self, SqlValue};
use super::tables::*;
use super::{Store, Tx};
use crate::error::Result;
use crate::model::*;

/// How long checks are kept.
pub const KEEP_SECS: u64 = 30 * 86_400;
/// In a calm stretch, at most one row per this many seconds is kept.
pub const SPACING_SECS: u64 = 15 * 60;
/// The most rows kept per mirror (30 days of quarter hours, and room for
/// changes of state).
pub const MAX_PER_MIRROR: usize = 4000;

/// The keys of `mirror`'s rows.
fn of_mirror(mirror: MirrorId) -> Span<(u64, u64)> {
    Span::of((mirror.0, 0)..=(mirror.0, u64::MAX))
}

impl Store {
    /// `mirror`'s checks since Unix time `since`, oldest first.
    pub fn checks_of(&self, mirror: MirrorId, since: u64) -> Result<Vec<MirrorCheck>> {
        let mut out = Vec::new();
        self.read()?.scan(
            &MIRROR_CHECKS,
            Span::of((mirror.0, since)..=(mirror.0, u64::MAX)),
            Order::Up,
            None,
            |_, c| {
                out.push(c);
                Ok(true)
            },
        )?;
        Ok(out)
    }

    /// The newest check of each of `mirrors` that has one: one row read
    /// per mirror asked for, whatever the length of the history.
    pub fn latest_checks(&self, mirrors: &[MirrorId]) -> Result<HashMap<MirrorId, MirrorCheck>> {
        let txn = self.read()?;
        let mut out = HashMap::new();
        if mirrors.is_empty() {
            return Ok(out);
        }
        if let Some(pg) = txn.pg() {
            // One statement for all mirrors, each found by the primary key
            // (mirror, at) from its newest row.
            let columns: Vec<String> = MIRROR_CHECKS
                .columns
                .iter()
                .map(|c| format!("c.{c}"))
                .collect();
            pg.stream(
                &format!(
                    "SELECT {} FROM unnest($1::bigint[]) AS m(id) CROSS JOIN LATERAL \
                     (SELECT * FROM mirror_checks WHERE mirror = m.id ORDER BY at DESC LIMIT 1) c",
                    columns.join(", ")
                ),
                &[SqlValue::Ints(
                    mirrors.iter().map(|m| postgres::sql_int(m.0)).collect(),
                )],
                |row| {
                    let c = MirrorCheck::from_sql(row, &mut 0)?;
                    out.insert(c.mirror, c);
                    Ok(true)
                },
            )?;
            return Ok(out);
        }
        for m in mirrors {
            txn.scan(
                &MIRROR_CHECKS,
                of_mirror(*m),
                Order::Down,
                Some(1),
                |_, c| {
                    out.insert(*m, c);
                    Ok(false)
                },
            )?;
        }
        Ok(out)
    }
}

impl Tx {
    /// Records one check of a mirror (its `streak` worked out here from
    /// the one before), thinning and pruning the mirror's history as the
    /// module says. Returns the row as stored.
    pub fn check_record(&mut self, check: MirrorCheck) -> Result<MirrorCheck> {
        self.check_record_within(check, MAX_PER_MIRROR)
    }

    /// [`Tx::check_record`], keeping at most `max` rows of the mirror.
    fn check_record_within(&mut self, mut check: MirrorCheck, max: usize) -> Result<MirrorCheck> {
        let m = check.mirror;
        let mut last: Vec<MirrorCheck> = Vec::with_capacity(2);
        self.txn.scan(
            &MIRROR_CHECKS,
            of_mirror(m),
            Order::Down,
            Some(2),
            |_, c| {
                last.push(c);
                Ok(true)
            },
        )?;
        check.streak = match last.first() {
            Some(p) if p.ok == check.ok && p.at <= check.at => p.streak.saturating_add(1),
            _ => 1,
        };
        let same = |a: &MirrorCheck, b: &MirrorCheck| a.ok == b.ok && a.problem() == b.problem();
        if let [newest, before] = last.as_slice()
            && same(before, newest)
            && same(newest, &check)
            && newest.at < check.at
            && newest.at.saturating_sub(before.at) < SPACING_SECS
        {
            self.txn.delete(&MIRROR_CHECKS, &(m.0, newest.at))?;
        }
        self.txn.put(&MIRROR_CHECKS, &(m.0, check.at), &check)?;
        let cutoff = check.at.saturating_sub(KEEP_SECS);
        if cutoff > 0 {
            self.txn
                .delete_range(&MIRROR_CHECKS, Span::of((m.0, 0)..(m.0, cutoff)))?;
        }
        // Only a change of state adds a row beyond one per quarter hour:
        // then (rarely) count.
        if last.first().is_none_or(|p| p.ok != check.ok) {
            let mut oldest_kept = None;
            let mut n = 0;
            self.txn.scan(
                &MIRROR_CHECKS,
                of_mirror(m),
                Order::Down,
                Some(max),
                |(_, at), _| {
                    n += 1;
                    oldest_kept = Some(at);
                    Ok(true)
                },
            )?;
            if let Some(at) = oldest_kept.filter(|_| n == max) {
                self.txn
                    .delete_range(&MIRROR_CHECKS, Span::of((m.0, 0)..(m.0, at)))?;
            }
        }
        Ok(check)
    }

    /// Forgets `mirror`'s check history (removed, or moved to a new host).
    pub(super) fn checks_clear(&mut self, mirror: MirrorId) -> Result<()> {
        self.txn.delete_range(&MIRROR_CHECKS, of_mirror(mirror))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::NewMirror;
    use crate::store::tests::stores;

    fn check(mirror: MirrorId, at: u64, ok: bool) -> MirrorCheck {
        MirrorCheck {
            mirror,
            at,
            ok,
            latency_ms: if ok { 12 } else { 0 },
            error: if ok {
                String::new()
            } else {
                "connection failed: io: Connection refused (os error 111)".into()
            },
            ..MirrorCheck::default()
        }
    }

    fn mirror(store: &Store, name: &str) -> MirrorId {
        store
            .write(&Actor::Cli, |tx| {
                tx.mirror_add(NewMirror {
                    name: name.into(),
                    base_url: format!("http://{name}.example"),
                    rating: 100,
                    ..Default::default()
                })
            })
            .unwrap()
            .id
    }

    fn record(store: &Store, checks: &[MirrorCheck]) {
        store
            .write(&Actor::Sentry, |tx| {
                for c in checks {
                    tx.check_record(c.clone())?;
                }
                Ok(())
            })
            .unwrap();
    }

    #[test]
    fn checks_are_kept_thinned_and_counted_in_a_row() {
        for (_db, store) in stores() {
            let (a, b) = (mirror(&store, "a"), mirror(&store, "b"));
            let t = 1_000_000;
            // A check a minute for an hour, all up: thinned to about one
            // per quarter hour, the newest kept.
            let ups: Vec<_> = (0..60).map(|i| check(a, t + i * 60, true)).collect();
            record(&store, &ups);
            let kept = store.checks_of(a, 0).unwrap();
            assert!((4..=6).contains(&kept.len()), "{kept:?}");
            assert_eq!(kept.last().unwrap().at, t + 59 * 60);
            assert_eq!(kept.last().unwrap().streak, 60);
            assert_eq!(kept.last().unwrap().failures_in_a_row(), 0);
            // Three failures: each change of state kept, counted in a row.
            let downs: Vec<_> = (60..63).map(|i| check(a, t + i * 60, false)).collect();
            record(&store, &downs);
            let kept = store.checks_of(a, 0).unwrap();
            let newest = kept.last().unwrap();
            assert_eq!((newest.ok, newest.failures_in_a_row()), (false, 3));
            assert!(
                kept.iter().any(|c| c.at == t + 60 * 60 && !c.ok),
                "{kept:?}"
            );
            // Another mirror's history is its own.
            record(&store, &[check(b, t, true)]);
            let latest = store.latest_checks(&[a, b]).unwrap();
            assert_eq!(latest[&a].at, t + 62 * 60);
            assert_eq!(latest[&b].streak, 1);
            // Only the mirrors asked for.
            let only_b = store.latest_checks(&[b, MirrorId(999)]).unwrap();
            assert_eq!(only_b.keys().collect::<Vec<_>>(), [&b]);
            assert!(store.latest_checks(&[]).unwrap().is_empty());
            assert_eq!(store.checks_of(b, 0).unwrap().len(), 1);
            // Only the newest since a time.
            assert!(
                store
                    .checks_of(a, t + 61 * 60)
                    .unwrap()
                    .iter()
                    .all(|c| c.at >= t + 61 * 60)
            );
            // Older than 30 days: gone with the next check.
            record(&store, &[check(a, t + KEEP_SECS + 61 * 60, true)]);
            let kept = store.checks_of(a, 0).unwrap();
            assert!(kept.iter().all(|c| c.at >= t + 61 * 60), "{kept:?}");
            // Removing the mirror forgets its history.
            store
                .write(&Actor::Cli, |tx| tx.mirror_remove("a").map(drop))
                .unwrap();
            assert!(store.checks_of(a, 0).unwrap().is_empty());
            assert_eq!(store.checks_of(b, 0).unwrap().len(), 1);
        }
    }

    #[test]
    fn a_mirror_keeps_at_most_its_share_of_rows() {
        for (_db, store) in stores() {
            let a = mirror(&store, "a");
            // Flapping every check: every row is a change of state.
            let t = 2_000_000;
            store
                .write(&Actor::Sentry, |tx| {
                    for i in 0..60 {
                        tx.check_record_within(check(a, t + i, i % 2 == 0), 50)?;
                    }
                    Ok(())
                })
                .unwrap();
            let kept = store.checks_of(a, 0).unwrap();
            assert_eq!(kept.len(), 50);
            assert_eq!(kept.last().unwrap().at, t + 59);
            assert_eq!(kept.first().unwrap().at, t + 10);
        }
    }
}
