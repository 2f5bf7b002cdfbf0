//! Sentry's HTML reports: one static page per run in the reports
//! directory, and an `index.html` listing the runs. The admin pages show
//! the same markup.

use std::collections::HashMap;
use std::path::Path;

use maud::{Markup, html};

use super::verdict::{Change, FileVerdict, MirrorResult};
use crate::error::{Error, Result};
use crate::model::{LocationId, MirrorHealth, MirrorId, SentryRun};
use crate::store::Snapshot;

/// What a report shows.
pub struct RunReport<'a> {
    /// The run.
    pub run: &'a SentryRun,
    /// What was checked.
    pub results: &'a [MirrorResult],
    /// What changed.
    pub changes: &'a [Change],
    /// The self-guard's alarm, if raised.
    pub alarm: Option<&'a str>,
    /// Health after the run.
    pub health: &'a HashMap<MirrorId, MirrorHealth>,
    /// Names of mirrors, products and locations.
    pub network: &'a Snapshot,
}

fn mirror_name(s: &Snapshot, id: MirrorId) -> String {
    s.mirrors
        .iter()
        .find(|m| m.id == id)
        .map_or_else(|| format!("mirror #{id}"), |m| m.name.clone())
}

fn location_name(s: &Snapshot, id: LocationId) -> String {
    s.locations.iter().find(|l| l.id == id).map_or_else(
        || format!("location #{id}"),
        |l| {
            let product = s.product_by_id(l.product).map_or("?", |p| p.name.as_str());
            format!("{product} {}", l.os)
        },
    )
}

/// A change in words.
pub fn describe(change: &Change, s: &Snapshot) -> String {
    match change {
        Change::MirrorDown { mirror, reason } => {
            format!("{} is down: {reason}", mirror_name(s, *mirror))
        }
        Change::MirrorBack { mirror } => format!("{} is back", mirror_name(s, *mirror)),
        Change::FileMissing {
            mirror,
            location,
            reason,
        } => format!(
            "{} lost {}: {reason}",
            mirror_name(s, *mirror),
            location_name(s, *location)
        ),
        Change::FileBack { mirror, location } => format!(
            "{} now serves {}",
            mirror_name(s, *mirror),
            location_name(s, *location)
        ),
        Change::FamilyDown {
            mirror,
            family,
            reason,
        } => format!(
            "{} does not answer over {}: {reason} ({} clients go to other mirrors)",
            mirror_name(s, *mirror),
            family.label(),
            family.label()
        ),
        Change::FamilyBack { mirror, family } => format!(
            "{} answers over {} again",
            mirror_name(s, *mirror),
            family.label()
        ),
        Change::HashMismatch {
            mirror,
            path,
            detail,
        } => format!(
            "{} serves a wrong {path}: {detail}",
            mirror_name(s, *mirror)
        ),
    }
}

fn layout(title: &str, body: Markup) -> Markup {
    crate::http::reply::document(
        title,
        html! { style { (maud::PreEscaped(REPORT_CSS)) } },
        None,
        body,
    )
}

const REPORT_CSS: &str = "body{font:15px/1.45 system-ui,sans-serif;margin:2rem auto;max-width:72rem;padding:0 1rem;color:#1d2330}\
table{border-collapse:collapse;width:100%;margin:1rem 0}th,td{text-align:left;padding:.3rem .6rem;border-bottom:1px solid #dde1e8;vertical-align:top}\
th{background:#f1f3f6}td:first-child{white-space:nowrap}.bad{color:#b3261e}.ok{color:#1b7f3b}.alarm{background:#fdecea;border:1px solid #b3261e;padding:.8rem;border-radius:6px}\
code{font-size:.9em}";

/// "1 check", "2 checks".
fn count(n: u64, what: &str) -> String {
    format!("{n} {what}{}", if n == 1 { "" } else { "s" })
}

fn duration(run: &SentryRun) -> String {
    format!("{} s", run.ended_at.saturating_sub(run.started_at))
}

/// The report of one run.
pub fn render(r: &RunReport<'_>) -> Markup {
    let title = format!("Sentry run {} ({})", r.run.id, r.run.kind);
    layout(
        &title,
        html! {
            p { a href="index.html" { "All runs" } }
            h1 { (title) }
            p {
                "Started " (crate::model::utc(r.run.started_at)) ", took " (duration(r.run)) "; "
                (count(r.run.checks, "check")) ", " (count(r.run.failures, "failure")) ", "
                (count(r.run.changes, "status change")) "."
            }
            @if let Some(alarm) = r.alarm {
                p.alarm { strong { "Checker alarm: " } (alarm) }
            }
            h2 { "Status changes" }
            @if r.changes.is_empty() {
                p { "None." }
            } @else {
                ul { @for c in r.changes { li { (describe(c, r.network)) } } }
            }
            h2 { "Mirrors" }
            table {
                tr { th { "Mirror" } th { "Base URL" } th { "Health" } th { "Latency" } th { "Throughput" } th { "Files present" } th { "Missing" } th { "Faults" } }
                @for m in r.results {
                    @let h = r.health.get(&m.mirror);
                    @let present = m.files.iter().filter(|f| f.verdict == FileVerdict::Present).count();
                    @let missing = m.files.iter().filter(|f| matches!(f.verdict, FileVerdict::Missing(_))).count();
                    @let faults = m.files.iter().filter(|f| matches!(f.verdict, FileVerdict::Fault(_))).count();
                    tr {
                        td { (mirror_name(r.network, m.mirror)) }
                        td { code { (r.network.mirrors.iter().find(|x| x.id == m.mirror).map_or("", |x| x.base_url.as_str())) } }
                        td {
                            @match &m.base {
                                None => "not checked (time budget)",
                                Some(Ok(())) if faults == 0 => span.ok { "up" },
                                Some(Ok(())) => span.bad { "faults" },
                                Some(Err(e)) => span.bad { "down: " (e) },
                            }
                            @if h.is_some_and(|h| h.is_flapping(r.run.ended_at)) { " (flapping: damped)" }
                        }
                        td { (crate::chart::latency(m.latency_ms)) }
                        td { @if let Some(h) = h.filter(|h| h.throughput > 0) { (crate::chart::speed(h.throughput)) } }
                        td { (present) }
                        td { (missing) }
                        td { (faults) }
                    }
                }
            }
            h2 { "Failed checks" }
            table {
                tr { th { "Mirror" } th { "File" } th { "Cause" } th { "Time" } }
                @for m in r.results {
                    @if let Some(Err(e)) = &m.base {
                        tr {
                            td { (mirror_name(r.network, m.mirror)) }
                            td { code { "/" } " (base URL)" }
                            td.bad { "down: " (e) }
                            td { (crate::chart::latency(m.latency_ms)) }
                        }
                    }
                    @for f in m.files.iter().filter(|f| f.verdict != FileVerdict::Present) {
                        tr {
                            td { (mirror_name(r.network, m.mirror)) }
                            td { code { (f.path) } }
                            td.bad { @match &f.verdict { FileVerdict::Missing(w) => { "missing: " (w) }, FileVerdict::Fault(w) => { "fault: " (w) }, FileVerdict::Inconclusive(w) => { "no answer: " (w) }, FileVerdict::Present => "" } }
                            td { (f.elapsed_ms) " ms" }
                        }
                    }
                }
            }
        },
    )
}

/// The list of runs.
pub fn render_index(runs: &[SentryRun]) -> Markup {
    layout(
        "Sentry runs",
        html! {
            h1 { "Sentry runs" }
            table {
                tr { th { "Run" } th { "Kind" } th { "Started" } th { "Duration" } th { "Checks" } th { "Failures" } th { "Changes" } }
                @for run in runs {
                    tr {
                        td { a href=(run.report) { "#" (run.id) } }
                        td { (run.kind) }
                        td { (crate::model::utc(run.started_at)) }
                        td { (duration(run)) }
                        td { (run.checks) }
                        td.bad[run.failures > 0] { (run.failures) }
                        td { (run.changes) }
                    }
                }
            }
        },
    )
}

/// The file name of a run's report.
pub fn file_name(run: &SentryRun) -> String {
    format!("run-{:06}.html", run.id)
}

/// Removes the report files of runs `ids` from `dir` (a file already
/// gone is no problem; other failures become `warnings`).
pub fn remove(dir: &Path, ids: &[u64], warnings: &mut Vec<String>) {
    for id in ids {
        let run = SentryRun {
            id: *id,
            ..SentryRun::default()
        };
        let path = dir.join(file_name(&run));
        match std::fs::remove_file(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => warnings.push(format!("cannot remove old report {}: {e}", path.display())),
        }
    }
}

/// Writes a run's report and the index into `dir` (atomically: write to a
/// fresh temporary file, then rename; a link planted under the temporary
/// name is removed, never written through).
pub fn write(dir: &Path, run: &SentryRun, html: &str, runs: &[SentryRun]) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|e| {
        Error::io(
            format!("cannot create reports directory {}", dir.display()),
            e,
        )
    })?;
    let put = |name: &str, html: &str| -> Result<()> {
        let tmp = dir.join(format!(".{name}.tmp"));
        let path = dir.join(name);
        // `remove_file` removes a link itself; `create_new` refuses to
        // follow one that appears in between.
        let _ = std::fs::remove_file(&tmp);
        std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp)
            .and_then(|mut f| std::io::Write::write_all(&mut f, html.as_bytes()))
            .and_then(|_| std::fs::rename(&tmp, &path))
            .map_err(|e| Error::io(format!("cannot write report {}", path.display()), e))
    };
    put(&file_name(run), html)?;
    put("index.html", &render_index(runs).into_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn old_reports_are_removed_by_run() {
        let dir = tempfile::tempdir().unwrap();
        for name in ["run-000001.html", "run-000002.html", "index.html"] {
            std::fs::write(dir.path().join(name), "x").unwrap();
        }
        let mut warnings = Vec::new();
        // Run 3 has no file: nothing to say about it.
        remove(dir.path(), &[1, 3], &mut warnings);
        assert!(warnings.is_empty(), "{warnings:?}");
        assert!(!dir.path().join("run-000001.html").exists());
        assert!(dir.path().join("run-000002.html").exists());
        assert!(dir.path().join("index.html").exists());
    }

    /// Review of issue 19, item 3: a mirror that did not answer has no
    /// latency ("—"), never "0 ms".
    #[test]
    fn a_mirror_that_did_not_answer_has_no_latency() {
        let network = Snapshot::default();
        let run = SentryRun::default();
        let results = [
            MirrorResult {
                mirror: MirrorId(1),
                base: Some(Err("connection failed: refused".into())),
                latency_ms: 0,
                ..MirrorResult::default()
            },
            MirrorResult {
                mirror: MirrorId(2),
                base: Some(Ok(())),
                latency_ms: 1250,
                ..MirrorResult::default()
            },
        ];
        let html = render(&RunReport {
            run: &run,
            results: &results,
            changes: &[],
            alarm: None,
            health: &HashMap::new(),
            network: &network,
        })
        .into_string();
        assert!(!html.contains(">0 ms"), "{html}");
        assert!(html.contains("<td>—</td>"), "{html}");
        assert!(html.contains("1,250 ms"), "{html}");
    }
}
