//! `bouncer sentry`: one run of the checker, the server's own when one is
//! running and the run is not tuned.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::sync::Arc;

use super::{Context, default_reports_dir};
use crate::cli::SentryArgs;
use crate::error::{Error, Result};
use crate::sentry::{Mode, Sentry, SentryConfig};

/// `bouncer sentry [--all|--new|--spot|--hashes] [--mirror M] …`.
pub(super) fn sentry(ctx: &Context, args: &SentryArgs) -> Result<String> {
    let modes = [
        (args.all, Mode::All),
        (args.new, Mode::New),
        (args.spot, Mode::Spot),
        (args.hashes, Mode::Hashes),
    ];
    let chosen: Vec<Mode> = modes
        .iter()
        .filter(|(on, _)| *on)
        .map(|(_, m)| *m)
        .collect();
    let mode = match chosen.as_slice() {
        [] => Mode::All,
        [m] => *m,
        _ => {
            return Err(Error::invalid(
                "mode",
                "choose one of --all, --new, --spot and --hashes".into(),
            ));
        }
    };
    let tuned = args.threads.is_some()
        || args.per_mirror.is_some()
        || args.timeout.is_some()
        || args.reports_dir.is_some()
        || args.keep_reports.is_some()
        || !args.resolve.is_empty();
    let sentry = match &ctx.sentry {
        Some(s) if !tuned => s.clone(),
        server => {
            // Tuned runs start from the server's settings (its reports
            // directory above all), or the defaults for this database.
            let mut config = server.as_ref().map_or_else(
                || SentryConfig::new(default_reports_dir(&ctx.db)),
                |s| s.config().clone(),
            );
            if let Some(dir) = &args.reports_dir {
                config.reports_dir = PathBuf::from(dir);
            }
            if let Some(days) = args.keep_reports {
                config.keep_reports = crate::sentry::keep_reports(days);
            }
            if let Some(t) = args.threads {
                config.threads = t.max(1);
            }
            if let Some(p) = args.per_mirror {
                config.per_mirror = p.max(1);
            }
            if let Some(t) = args.timeout {
                config.probe.set_timeout(t);
            }
            config.probe.add_resolve(&args.resolve);
            Arc::new(Sentry::new(ctx.network.clone(), config))
        }
    };
    // On PostgreSQL the run takes sentry's lease as a node does: refused
    // while a node leads.
    let s = sentry.run(mode, args.mirror.as_deref())?;
    if s.run.id == 0 {
        return Ok(format!("sentry {}: nothing to check\n", mode.as_str()));
    }
    let mut out = format!(
        "sentry run {} ({}): {} checks, {} failures, {} status changes\n",
        s.run.id, s.run.kind, s.run.checks, s.run.failures, s.run.changes
    );
    if let Some(alarm) = &s.alarm {
        let _ = writeln!(out, "ALARM: {alarm}");
    }
    for c in &s.changes {
        let _ = writeln!(out, "  {c}");
    }
    if let Some(report) = &s.report {
        let _ = writeln!(out, "report: {}", report.display());
    }
    for w in &s.warnings {
        let _ = writeln!(out, "warning: {w}");
    }
    Ok(out)
}
