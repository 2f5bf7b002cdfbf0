//! Sentry: checks the mirror network and keeps the index honest.
//!
//! A run plans its checks ([`plan`]), makes them on a rayon pool with
//! per-mirror limits ([`pool`], [`probe`]), judges the results with pure
//! functions ([`verdict`]), commits what changed (the index is republished
//! at once), writes an HTML report ([`report`]) and mails operators.
//! Inside `bouncer serve` runs follow a schedule; `bouncer sentry` runs once.

pub mod lease;
pub mod plan;
pub mod pool;
pub mod probe;
pub mod report;
pub mod verdict;

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

pub use plan::Mode;

use crate::error::Thing;
use crate::error::{Error, Result};
use crate::mail::MailConfig;
use crate::model::{SentryRun, now};
use crate::network::Network;
pub use lease::Leadership;
use pool::Limits;
use probe::{ProbeConfig, Prober};
use verdict::{Change, FileVerdict, Previous, decide};

/// How sentry works.
#[derive(Clone, Debug)]
pub struct SentryConfig {
    /// Checks in flight at once (the rayon pool's size).
    pub threads: usize,
    /// Checks in flight on one mirror at most.
    pub per_mirror: usize,
    /// A run starts no new check after this long.
    pub budget: Duration,
    /// HTTP timeouts and identity.
    pub probe: ProbeConfig,
    /// Where HTML reports go.
    pub reports_dir: PathBuf,
    /// How long runs and their reports are kept (`None`: for ever). After
    /// each run older ones are removed, from the database and the reports
    /// directory, but never the newest full run (`all`) nor the newest
    /// run. Set by `--keep-reports DAYS`.
    pub keep_reports: Option<Duration>,
}

/// How long runs and reports are kept unless `--keep-reports` says.
pub const KEEP_REPORTS_DAYS: u64 = 30;

/// [`SentryConfig::keep_reports`] for `--keep-reports DAYS` (0: for ever).
pub fn keep_reports(days: u64) -> Option<Duration> {
    (days > 0).then(|| Duration::from_secs(days.saturating_mul(86400)))
}

impl SentryConfig {
    /// Defaults, with reports in `reports_dir`.
    pub fn new(reports_dir: PathBuf) -> SentryConfig {
        SentryConfig {
            threads: 32,
            per_mirror: 4,
            budget: Duration::from_secs(600),
            probe: ProbeConfig::default(),
            reports_dir,
            keep_reports: Some(Duration::from_secs(KEEP_REPORTS_DAYS * 86400)),
        }
    }
}

/// When runs happen inside `bouncer serve`.
#[derive(Clone, Debug)]
pub struct Schedule {
    /// Spot checks (one file per mirror).
    pub spot: Option<Duration>,
    /// Full checks.
    pub all: Option<Duration>,
    /// Content (hash) checks.
    pub hashes: Option<Duration>,
}

impl Default for Schedule {
    fn default() -> Self {
        Schedule {
            spot: Some(Duration::from_secs(60)),
            all: Some(Duration::from_secs(6 * 3600)),
            hashes: Some(Duration::from_secs(24 * 3600)),
        }
    }
}

/// What a run did.
#[derive(Clone, Debug, Default)]
pub struct Summary {
    /// The run as recorded (id 0: nothing to check, nothing recorded).
    pub run: SentryRun,
    /// Status changes in words.
    pub changes: Vec<String>,
    /// The self-guard's alarm.
    pub alarm: Option<String>,
    /// The report file.
    pub report: Option<PathBuf>,
    /// Problems after the run's own work (report or mail failed).
    pub warnings: Vec<String>,
}

/// Figures for metrics.
#[derive(Default)]
pub struct SentryStats {
    /// Runs finished.
    pub runs: AtomicU64,
    /// Checks made.
    pub checks: AtomicU64,
    /// Checks failed.
    pub failures: AtomicU64,
    /// Mails sent.
    pub mails_sent: AtomicU64,
    /// Mails that could not be sent.
    pub mails_failed: AtomicU64,
}

/// The checker.
pub struct Sentry {
    network: Arc<Network>,
    /// On PostgreSQL: this node's claim on sentry's lease; runs happen
    /// only while it holds the lease, and write under its token.
    leadership: Option<Arc<Leadership>>,
    config: SentryConfig,
    prober: Prober,
    stop: AtomicBool,
    /// Figures for metrics.
    pub stats: SentryStats,
}

impl Sentry {
    /// A checker for `network`.
    pub fn new(network: Arc<Network>, mut config: SentryConfig) -> Sentry {
        config.probe.idle_per_host = config.per_mirror;
        Sentry {
            prober: Prober::new(&config.probe),
            network,
            leadership: None,
            config,
            stop: AtomicBool::new(false),
            stats: SentryStats::default(),
        }
    }

    /// How it works.
    pub fn config(&self) -> &SentryConfig {
        &self.config
    }

    /// Asks a running run (and the schedule) to stop soon.
    pub fn stop(&self) {
        self.stop.store(true, Ordering::Release);
        self.network.notify();
    }

    /// Runs only while `leadership` holds sentry's lease, writing under
    /// its token.
    pub fn with_leadership(mut self, leadership: Arc<Leadership>) -> Sentry {
        self.leadership = Some(leadership);
        self
    }

    /// Whether this node may run sentry now: always on redb, while it
    /// holds the lease on PostgreSQL.
    fn leads(&self) -> bool {
        self.leadership
            .as_ref()
            .is_none_or(|l| l.current().is_some())
    }

    /// The lease a run writes under: this node's (refused while another
    /// node leads), one taken for this run (a sentry without a schedule on
    /// PostgreSQL), or none (redb).
    fn lease(&self) -> Result<(Option<crate::store::Lease>, Option<lease::OneRun>)> {
        match &self.leadership {
            Some(l) => l
                .current()
                .map(|lease| (Some(lease), None))
                .ok_or_else(|| l.elsewhere()),
            None if self.network.store().postgres().is_some() => {
                let (once, lease) = lease::OneRun::claim(self.network.clone())?;
                Ok((Some(lease), Some(once)))
            }
            None => Ok((None, None)),
        }
    }

    /// Runs one check pass in `mode`, on every active mirror or just `mirror`.
    pub fn run(&self, mode: Mode, mirror: Option<&str>) -> Result<Summary> {
        let network = self.network.clone();
        let _one_at_a_time = network.one_sentry_run();
        // Held (and, for a run of its own, renewed) until the run ends.
        let (lease, _once) = self.lease()?;
        let started = Instant::now();
        let started_at = now();
        let store = self.network.store();
        let snapshot = store.snapshot()?;
        let only = match mirror {
            Some(name) => Some(
                snapshot
                    .mirror(name)
                    .ok_or_else(|| Error::not_found(Thing::Mirror, name))?
                    .id,
            ),
            None => None,
        };
        let checked = if mode == Mode::New {
            store.checked_pairs()?
        } else {
            HashSet::new()
        };
        let plans = plan::plan(
            mode,
            only,
            &snapshot,
            &store.files()?,
            &checked,
            &mut fastrand::Rng::new(),
        );
        if plans.is_empty() {
            return Ok(Summary::default());
        }

        let mut previous = Previous {
            health: snapshot.health.clone(),
            availability: HashMap::new(),
        };
        let locations: HashSet<_> = plans
            .iter()
            .flat_map(|p| p.checks.iter().map(|c| c.location))
            .collect();
        for l in locations {
            for (m, av) in store.availability_of(l)? {
                previous.availability.insert((l, m), av);
            }
        }

        let limits = Limits {
            threads: self.config.threads,
            per_mirror: self.config.per_mirror,
            deadline: Instant::now() + self.config.budget,
            faults_per_mirror: 3,
        };
        let mut results = pool::execute(&plans, &self.prober, limits, &self.stop);
        // A window that began during the run (announced before or while
        // it ran): what the mirror showed then counts for nothing, so it
        // is neither marked down nor mailed about.
        if let Ok(now_known) = self.network.snapshot() {
            let until = now();
            results.retain(|r| {
                now_known
                    .mirrors
                    .iter()
                    .find(|m| m.id == r.mirror)
                    .and_then(|m| m.maintenance)
                    .is_none_or(|w| !(w.start <= until && w.end > started_at))
            });
        }
        // What mirrors' lag is measured against: the origin's trace file.
        let origin_synced = snapshot
            .settings
            .get(crate::index::ORIGIN_TRACE)
            .filter(|url| !url.is_empty())
            .and_then(|url| match self.prober.trace(url, None) {
                Ok(t) => Some(t),
                Err(why) => {
                    tracing::warn!(%why, "cannot read the origin's trace file");
                    None
                }
            });
        let ended_at = now();
        let decision = decide(&results, &previous, ended_at);

        let checks: u64 = results
            .iter()
            .map(|r| r.files.len() as u64 + u64::from(r.base.is_some()))
            .sum();
        let failures: u64 = results
            .iter()
            .map(|r| {
                r.files
                    .iter()
                    .filter(|f| f.verdict != FileVerdict::Present)
                    .count() as u64
                    + u64::from(matches!(r.base, Some(Err(_))))
            })
            .sum();
        let mut failed: Vec<crate::model::MirrorId> = results
            .iter()
            .filter(|r| {
                matches!(r.base, Some(Err(_)))
                    || r.files.iter().any(|f| f.verdict != FileVerdict::Present)
            })
            .map(|r| r.mirror)
            .collect();
        failed.sort();
        failed.dedup();
        let mut run = SentryRun {
            id: 0,
            kind: match &mirror {
                Some(m) => format!("{} ({m})", mode.as_str()),
                None => mode.as_str().to_string(),
            },
            started_at,
            ended_at: ended_at.max(started_at + u64::from(started.elapsed().as_secs() > 0)),
            checks,
            failures,
            changes: decision.changes.len() as u64,
            report: String::new(),
            failed,
        };
        let described: Vec<String> = decision
            .changes
            .iter()
            .map(|c| report::describe(c, &snapshot))
            .collect();
        // A flagged product counts as checked only after a whole pass over
        // every mirror: not a `--mirror` run, not one cut short.
        let complete = only.is_none()
            && !self.stop.load(Ordering::Relaxed)
            && Instant::now() < limits.deadline
            && plans.iter().all(|p| {
                // A mirror whose window began meanwhile has no result.
                results
                    .iter()
                    .find(|r| r.mirror == p.mirror)
                    .is_none_or(|r| match &r.base {
                        Some(Ok(())) => r.files.len() == p.checks.len() || r.fault().is_some(),
                        Some(Err(_)) => true,
                        None => false,
                    })
            });
        let checked_products: Vec<&crate::model::Product> =
            if complete && (mode == Mode::New || mode == Mode::All) {
                snapshot.products.iter().filter(|p| p.checknow).collect()
            } else {
                Vec::new()
            };
        let probed = Probed::of(&plans, &snapshot);
        // What changes no node's index goes first, without the generation
        // lock (PostgreSQL): the locked write below carries only new pairs
        // and flips, and other writers wait for that alone.
        let flips = store.availability_refresh(&decision.availability, lease.as_ref())?;
        self.network.write(&crate::model::Actor::Sentry, |tx| {
            if let Some(lease) = &lease {
                tx.require_lease(lease)?;
            }
            let now = Probed::now(tx.mirrors()?, tx.locations()?);
            // One batch: on PostgreSQL a few statements per thousand rows.
            let found: Vec<_> = flips
                .iter()
                .filter(|(l, m, _)| probed.still(&now, Some(*l), *m))
                .cloned()
                .collect();
            tx.set_availability_many(&found)?;
            for (m, h) in &decision.health {
                if probed.still(&now, None, *m) {
                    tx.set_health(*m, h)?;
                }
            }
            for c in &decision.checks {
                if probed.still(&now, None, c.mirror) {
                    tx.check_record(c.clone())?;
                }
            }
            for p in &checked_products {
                tx.product_checked(p)?;
            }
            if let Some(t) = origin_synced {
                tx.setting_put(crate::index::ORIGIN_SYNCED, Some(&t.to_string()))?;
            }
            for d in &described {
                tx.record("sentry.change", d.clone())?;
            }
            if let Some(alarm) = &decision.alarm {
                tx.record("sentry.alarm", alarm.clone())?;
            }
            tx.sentry_run_put(&mut run)?;
            run.report = report::file_name(&run);
            tx.sentry_run_put(&mut run)
        })?;
        self.stats.runs.fetch_add(1, Ordering::Relaxed);
        self.stats.checks.fetch_add(checks, Ordering::Relaxed);
        self.stats.failures.fetch_add(failures, Ordering::Relaxed);

        let mut summary = Summary {
            run: run.clone(),
            changes: described,
            alarm: decision.alarm.clone(),
            report: None,
            warnings: Vec::new(),
        };
        let health: HashMap<_, _> = decision.health.iter().cloned().collect();
        // Old runs go before the index of runs is written anew.
        if let Some(keep) = self.config.keep_reports {
            let before = now().saturating_sub(keep.as_secs());
            match store.sentry_runs_prune(before) {
                Ok(removed) => {
                    report::remove(&self.config.reports_dir, &removed, &mut summary.warnings)
                }
                Err(e) => summary.warnings.push(format!("old runs not removed: {e}")),
            }
        }
        let runs = store.sentry_runs(500)?;
        let r = report::RunReport {
            run: &run,
            results: &results,
            changes: &decision.changes,
            alarm: decision.alarm.as_deref(),
            health: &health,
            network: &snapshot,
        };
        let html = report::render(&r).into_string();
        match report::write(&self.config.reports_dir, &run, &html, &runs) {
            Ok(()) => summary.report = Some(self.config.reports_dir.join(&run.report)),
            Err(e) => summary.warnings.push(e.to_string()),
        }
        // Every node's admin shows it (PostgreSQL).
        if let Err(e) = store.report_put(run.id, &html) {
            summary.warnings.push(e.to_string());
        }
        let warnings = self.mail(&summary, &decision.changes, &snapshot);
        summary.warnings.extend(warnings);
        Ok(summary)
    }

    /// Mails operators (one message per run) and, when enabled, each
    /// affected mirror's contact (one message per mirror). Returns warnings.
    fn mail(
        &self,
        summary: &Summary,
        changes: &[Change],
        snapshot: &crate::store::Snapshot,
    ) -> Vec<String> {
        let mut warnings = Vec::new();
        if changes.is_empty() && summary.alarm.is_none() {
            return warnings;
        }
        let config = match self
            .network
            .store()
            .settings()
            .and_then(|s| MailConfig::from_settings(&s))
        {
            Ok(Some(c)) => c,
            Ok(None) => return warnings,
            Err(e) => return vec![format!("mail not sent: {e}")],
        };
        let mut send =
            |to: &[String], subject: &str, body: &str| match config.send(to, subject, body) {
                Ok(()) => {
                    self.stats.mails_sent.fetch_add(1, Ordering::Relaxed);
                }
                Err(e) => {
                    self.stats.mails_failed.fetch_add(1, Ordering::Relaxed);
                    warnings.push(format!("mail not sent: {e}"));
                }
            };
        let (subject, body) = operator_mail(summary, changes);
        send(&config.to, &subject, &body);
        if config.contacts {
            let mut by_mirror: HashMap<_, Vec<&str>> = HashMap::new();
            for (c, text) in changes.iter().zip(&summary.changes) {
                by_mirror.entry(c.mirror()).or_default().push(text);
            }
            for (mirror, lines) in by_mirror {
                let Some(m) = snapshot.mirrors.iter().find(|m| m.id == mirror) else {
                    continue;
                };
                if m.contact.is_empty() {
                    continue;
                }
                let body = format!(
                    "Hello,\n\nBouncer's mirror checker noticed on your mirror {} ({}):\n\n{}\n\nThank you for mirroring.\n",
                    m.name,
                    m.base_url,
                    lines
                        .iter()
                        .map(|l| format!("  - {l}"))
                        .collect::<Vec<_>>()
                        .join("\n")
                );
                send(
                    std::slice::from_ref(&m.contact),
                    &format!("[bouncer] your mirror {}", m.name),
                    &body,
                );
            }
        }
        warnings
    }

    /// Runs the schedule until [`Sentry::stop`]: a `new` pass within seconds
    /// of any operator change, and spot, full and hash passes at their
    /// intervals, one run at a time.
    pub fn run_schedule(&self, schedule: &Schedule) {
        let start = Instant::now();
        let due_after = |every: Option<Duration>| every.map(|e| start + e);
        let mut next_spot = due_after(schedule.spot);
        let mut next_all = due_after(schedule.all);
        let mut next_hashes = due_after(schedule.hashes);
        // Never-checked mirrors and locations are checked at start.
        let mut seen = u64::MAX;
        while !self.stop.load(Ordering::Relaxed) {
            if !self.leads() {
                // Not the leader: wait until this node takes the lease (its
                // keeper wakes the network) and start with a New run then.
                let changes = self.network.changes();
                self.network
                    .wait_for_changes(changes, lease::RENEW, &self.stop);
                continue;
            }
            let changes = self.network.changes();
            let mut ran = None;
            if changes != seen {
                seen = changes;
                ran = Some(Mode::New);
            } else {
                let now = Instant::now();
                for (next, every, mode) in [
                    (&mut next_all, schedule.all, Mode::All),
                    (&mut next_hashes, schedule.hashes, Mode::Hashes),
                    (&mut next_spot, schedule.spot, Mode::Spot),
                ] {
                    if next.is_some_and(|n| n <= now) && ran.is_none() {
                        *next = every.map(|e| now + e);
                        ran = Some(mode);
                    }
                }
            }
            if let Some(mode) = ran {
                match self.run(mode, None) {
                    Ok(s) if s.run.id > 0 => {
                        let r = &s.run;
                        match &s.alarm {
                            Some(alarm) => tracing::warn!(
                                mode = mode.as_str(),
                                run = %r.id,
                                checks = %r.checks,
                                failures = %r.failures,
                                changes = %r.changes,
                                alarm = %alarm,
                                "sentry run raised an alarm"
                            ),
                            None => tracing::info!(
                                mode = mode.as_str(),
                                run = %r.id,
                                checks = %r.checks,
                                failures = %r.failures,
                                changes = %r.changes,
                                "sentry run"
                            ),
                        }
                    }
                    Ok(_) => {}
                    Err(e) => {
                        tracing::error!(mode = mode.as_str(), error = %e, "sentry run failed")
                    }
                }
                continue;
            }
            let wake = [next_spot, next_all, next_hashes]
                .into_iter()
                .flatten()
                .min();
            let timeout = wake.map_or(Duration::from_secs(3600), |w| {
                w.saturating_duration_since(Instant::now())
            });
            self.network.wait_for_changes(seen, timeout, &self.stop);
        }
    }
}

/// What a run probed: each mirror's base URL and each location's path.
/// Results for a mirror or location the operator changed meanwhile (a new
/// base URL, a new path, removed) say nothing about what is there now and
/// are dropped.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Probed {
    urls: HashMap<crate::model::MirrorId, String>,
    paths: HashMap<crate::model::LocationId, String>,
}

impl Probed {
    /// What `plans` probed, with location paths from `snapshot`.
    pub fn of(plans: &[plan::MirrorPlan], snapshot: &crate::store::Snapshot) -> Probed {
        Probed {
            urls: plans
                .iter()
                .map(|p| (p.mirror, p.base_url.clone()))
                .collect(),
            paths: snapshot
                .locations
                .iter()
                .map(|l| (l.id, l.path.clone()))
                .collect(),
        }
    }

    /// The same view of the network as it is now.
    pub fn now(
        mirrors: Vec<crate::model::Mirror>,
        locations: Vec<crate::model::Location>,
    ) -> Probed {
        Probed {
            urls: mirrors.into_iter().map(|m| (m.id, m.base_url)).collect(),
            paths: locations.into_iter().map(|l| (l.id, l.path)).collect(),
        }
    }

    /// Whether a result for `mirror` (and `location`) still describes `now`.
    pub fn still(
        &self,
        now: &Probed,
        location: Option<crate::model::LocationId>,
        mirror: crate::model::MirrorId,
    ) -> bool {
        let url = self.urls.get(&mirror);
        url.is_some()
            && url == now.urls.get(&mirror)
            && location.is_none_or(|l| {
                let path = self.paths.get(&l);
                path.is_some() && path == now.paths.get(&l)
            })
    }
}

/// The operators' message for a run.
pub fn operator_mail(summary: &Summary, changes: &[Change]) -> (String, String) {
    let count = |f: fn(&Change) -> bool| changes.iter().filter(|c| f(c)).count();
    let down = count(|c| matches!(c, Change::MirrorDown { .. }));
    let back = count(|c| matches!(c, Change::MirrorBack { .. }));
    let hashes = count(|c| matches!(c, Change::HashMismatch { .. }));
    let families = count(|c| matches!(c, Change::FamilyDown { .. } | Change::FamilyBack { .. }));
    let mut parts = Vec::new();
    if summary.alarm.is_some() {
        parts.push("CHECKER ALARM".to_string());
    }
    if down > 0 {
        parts.push(format!("{down} mirror(s) down"));
    }
    if back > 0 {
        parts.push(format!("{back} back"));
    }
    if hashes > 0 {
        parts.push(format!("{hashes} hash mismatch(es)"));
    }
    if families > 0 {
        parts.push(format!("{families} IPv4/IPv6 change(s)"));
    }
    let others = changes.len() - down - back - hashes - families;
    if others > 0 {
        parts.push(format!("{others} file change(s)"));
    }
    let subject = format!(
        "[bouncer] sentry run {}: {}",
        summary.run.id,
        parts.join(", ")
    );
    let mut body = format!(
        "Sentry run {} ({}): {} checks, {} failures.\n\n",
        summary.run.id, summary.run.kind, summary.run.checks, summary.run.failures
    );
    if let Some(alarm) = &summary.alarm {
        body.push_str(&format!("ALARM: {alarm}\n\n"));
    }
    for c in &summary.changes {
        body.push_str(&format!("  - {c}\n"));
    }
    body.push_str(&format!("\nReport: {}\n", summary.run.report));
    (subject, body)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Location, LocationId, Mirror, MirrorId, fixtures};

    #[test]
    fn the_operators_subject_counts_each_kind_of_change() {
        let summary = Summary {
            run: SentryRun {
                id: 7,
                kind: "all".into(),
                ..SentryRun::default()
            },
            changes: vec!["m1 does not answer over IPv6".into()],
            alarm: None,
            report: None,
            warnings: Vec::new(),
        };
        let changes = [
            Change::FamilyDown {
                mirror: MirrorId(1),
                family: crate::model::Family::V6,
                reason: "refused".into(),
            },
            Change::MirrorBack {
                mirror: MirrorId(2),
            },
        ];
        let (subject, body) = operator_mail(&summary, &changes);
        assert_eq!(
            subject,
            "[bouncer] sentry run 7: 1 back, 1 IPv4/IPv6 change(s)"
        );
        assert!(body.contains("  - m1 does not answer over IPv6"), "{body}");
    }

    fn mirror(id: u64, url: &str) -> Mirror {
        fixtures::mirror(id, url, 1)
    }

    fn location(id: u64, path: &str) -> Location {
        fixtures::location(id, 1, "win", path)
    }

    /// Issue 19 item 7: a real mirror on 127.0.0.1 that refuses
    /// connections is down with no latency (not the millisecond the
    /// refusal took), its check is recorded, and its error reads as
    /// "nothing listens on port N".
    #[test]
    fn a_mirror_refusing_connections_has_no_latency_and_says_what_to_do() {
        let dir = tempfile::tempdir().unwrap();
        let network = Arc::new(Network::open(dir.path().join("b.redb"), false).unwrap());
        // A port nothing listens on any more.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let base = format!("http://127.0.0.1:{port}/pub");
        network
            .write(&crate::model::Actor::Program("test"), |tx| {
                tx.product_add(crate::store::NewProduct {
                    name: "p".into(),
                    ..Default::default()
                })?;
                tx.location_add("p", "win", "/p.exe")?;
                tx.mirror_add(crate::store::NewMirror {
                    name: "m".into(),
                    base_url: base.clone(),
                    rating: 100,
                    ..Default::default()
                })
            })
            .unwrap();
        let sentry = Sentry::new(
            network.clone(),
            SentryConfig::new(dir.path().join("reports")),
        );
        sentry.run(Mode::All, None).unwrap();
        let s = network.store().snapshot().unwrap();
        let m = s.mirror("m").unwrap();
        let h = &s.health[&m.id];
        assert!(!h.healthy, "{h:?}");
        assert_eq!(h.latency_ms, 0, "a refused connection has no latency");
        let checks = network.store().checks_of(m.id, 0).unwrap();
        assert_eq!(checks.len(), 1);
        assert!(!checks[0].ok);
        assert_eq!(checks[0].latency_ms, 0);
        assert_eq!(
            h.problem,
            Some(crate::model::Problem::Refused),
            "{}",
            h.error
        );
        assert_eq!(checks[0].problem, Some(crate::model::Problem::Refused));
        assert_eq!(
            crate::model::Problem::Refused.advice(&m.base_url),
            format!(
                "Nothing listens on port {port} of 127.0.0.1: is the server up, is the base URL right?"
            )
        );
    }

    /// Regression: a run wrote what it found at a mirror's old base URL (or
    /// a location's old path) after the operator had changed it, putting an
    /// unchecked host or path into rotation.
    #[test]
    fn results_for_what_changed_during_a_run_are_dropped() {
        let then = Probed::now(
            vec![mirror(1, "http://a.example"), mirror(2, "http://b.example")],
            vec![location(7, "/old/x.exe"), location(8, "/y.exe")],
        );
        let now = Probed::now(
            vec![
                mirror(1, "http://a.example"),
                mirror(2, "http://new.example"),
            ],
            vec![location(7, "/new/x.exe"), location(8, "/y.exe")],
        );
        assert!(then.still(&now, Some(LocationId(8)), MirrorId(1)));
        assert!(then.still(&now, None, MirrorId(1)));
        assert!(!then.still(&now, None, MirrorId(2)), "new base URL");
        assert!(
            !then.still(&now, Some(LocationId(8)), MirrorId(2)),
            "new base URL"
        );
        assert!(
            !then.still(&now, Some(LocationId(7)), MirrorId(1)),
            "new path"
        );
        let removed = Probed::now(vec![mirror(2, "http://b.example")], vec![]);
        assert!(!then.still(&removed, None, MirrorId(1)), "mirror removed");
        assert!(
            !then.still(&removed, Some(LocationId(8)), MirrorId(2)),
            "location removed"
        );
    }
}
