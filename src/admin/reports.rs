//! Admin section: sentry's reports — the list of runs, and each run's
//! report file as sentry wrote it into the reports directory.
//!
//! Routes: `GET /admin/reports` (the newest 200 runs),
//! `GET /admin/reports/run-NNNNNN.html` (one run: its report, framed; its
//! numbers when the report file is gone), `GET /admin/reports/raw/run-NNNNNN.html` (the report
//! file itself, for the frame).
//!
//! Report files are whole HTML documents with an inline `<style>`, which
//! the admin's Content-Security-Policy forbids; the raw route serves them
//! under a policy of their own (styles only, no scripts, no requests,
//! framed by admin pages only).
//!
//! Only regular files are served: a symbolic link in the reports directory
//! (to `/etc/passwd`, say) is never followed, and a file swapped for one
//! between the check and the open is caught (`open_report`).

use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

use hyper::StatusCode;
use hyper::body::Bytes;
use hyper::header::HeaderValue;
use maud::{Markup, html};

use super::page::{self, Badge, badge};
use super::{Ctx, Page, PageResult};
use crate::error::Result;
use crate::http::Reply;
use crate::model::SentryRun;
use crate::sentry::report::file_name;
use crate::store::Store;

/// Runs listed at most.
pub const LISTED: usize = 200;

/// The policy of a raw report: its own inline style, nothing else, and
/// only admin pages may frame it.
pub const RAW_POLICY: &str =
    "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'self'";

/// Answers requests below `/admin/reports`.
pub fn route(ctx: &Ctx<'_>, page: &Page<'_>) -> PageResult {
    match (page.post, page.rest().as_slice()) {
        (false, []) => list(ctx),
        (false, ["raw", "index.html"]) => Ok(raw_index()),
        (false, ["raw", name]) => match run_id(name) {
            Some(id) => raw(ctx, id),
            None => Ok(raw_reply(StatusCode::NOT_FOUND, not_a_report().into_string().into())),
        },
        (false, [name]) => match run_id(name) {
            Some(id) => view(ctx, id),
            None => Ok(ctx.not_found(
                "There is no such report. Report pages are named like run-000123.html; see the list under Reports.",
            )),
        },
        _ => Ok(ctx.not_found("There is no such reports page.")),
    }
}

/// The run id a report file name stands for: exactly `run-`, six or more
/// digits and `.html`, spelled as [`file_name`] spells it (no other
/// name, separator, dot segment or padding reaches the file system).
pub fn run_id(name: &str) -> Option<u64> {
    let digits = name.strip_prefix("run-")?.strip_suffix(".html")?;
    if !(6..=20).contains(&digits.len()) || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let id: u64 = digits.parse().ok()?;
    let run = SentryRun {
        id,
        ..SentryRun::default()
    };
    (id > 0 && file_name(&run) == name).then_some(id)
}

/// Where run `id`'s report file is.
fn report_path(ctx: &Ctx<'_>, id: u64) -> PathBuf {
    let run = SentryRun {
        id,
        ..SentryRun::default()
    };
    ctx.admin.reports_dir.join(file_name(&run))
}

/// What is at a report file's name.
enum ReportFile {
    /// Nothing.
    Missing,
    /// Something other than a regular file (a link, a directory, …): never
    /// served.
    NotRegular,
    /// A regular file, open.
    Found(File),
}

/// Whether `path` is a regular file, links not followed (what the list
/// and the frame page offer; [`open_report`] decides what is served).
fn is_report(path: &Path) -> bool {
    std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_file())
}

/// Opens the report file at `path` if it is a regular file, without
/// following a link. std has no `O_NOFOLLOW`, so the name is looked at
/// without following (`lstat`), then opened, and the open file must be the
/// one looked at (same device and inode): a link put in its place between
/// the two is refused, not followed.
fn open_report(path: &Path) -> std::io::Result<ReportFile> {
    use std::io::ErrorKind::NotFound;
    use std::os::unix::fs::MetadataExt;
    let looked = match std::fs::symlink_metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == NotFound => return Ok(ReportFile::Missing),
        Err(e) => return Err(e),
    };
    if !looked.file_type().is_file() {
        return Ok(ReportFile::NotRegular);
    }
    let file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == NotFound => return Ok(ReportFile::Missing),
        Err(e) => return Err(e),
    };
    let opened = file.metadata()?;
    if !opened.is_file() || opened.dev() != looked.dev() || opened.ino() != looked.ino() {
        return Ok(ReportFile::NotRegular);
    }
    Ok(ReportFile::Found(file))
}

/// Run `id` from the store. Run ids are a sequence, newest first in the
/// store's list, so only the runs since `id` are read.
fn find_run(store: &Store, id: u64) -> Result<Option<SentryRun>> {
    let Some(latest) = store.sentry_runs(1)?.into_iter().next() else {
        return Ok(None);
    };
    if id > latest.id {
        return Ok(None);
    }
    let since = usize::try_from(latest.id - id + 1).unwrap_or(usize::MAX);
    Ok(store
        .sentry_runs(since)?
        .into_iter()
        .find(|run| run.id == id))
}

fn duration(run: &SentryRun) -> Markup {
    if run.ended_at == 0 {
        return badge(Badge::Warn, "running");
    }
    let secs = run.ended_at.saturating_sub(run.started_at);
    html! {
        @if secs < 120 { (secs) " s" } @else { (secs / 60) " min " (secs % 60) " s" }
    }
}

fn failures(run: &SentryRun) -> Markup {
    html! {
        @if run.failures > 0 {
            (badge(Badge::Bad, &crate::chart::thousands(run.failures)))
        } @else { "0" }
    }
}

fn list(ctx: &Ctx<'_>) -> PageResult {
    let runs = ctx.network().store().sentry_runs(LISTED)?;
    // On PostgreSQL every ended run's report is in the database.
    let shared = ctx.network().store().postgres().is_some();
    let body = html! {
        div.toolbar {
            h1 { "Sentry reports" }
            span.muted {
                @if runs.len() == LISTED { "the newest " } (page::plural(runs.len(), "run", "runs"))
            }
        }
        @if runs.is_empty() {
            p.muted {
                "No sentry runs yet. Runs happen on the server's schedule, from "
                code { "bouncer sentry" } ", or with Check now on a mirror's page."
            }
        } @else {
            table {
                thead { tr {
                    th.num { "Run" } th { "Kind" } th { "Started" } th.num { "Duration" }
                    th.num { "Checks" } th.num { "Failures" } th.num { "Changes" } th { "Report" }
                } }
                tbody {
                    @for run in &runs {
                        @let name = file_name(run);
                        tr {
                            td.num { "#" (run.id) }
                            td { (run.kind) }
                            td { (crate::model::utc(run.started_at)) " · " (page::ago(run.started_at)) }
                            td.num { (duration(run)) }
                            td.num { (crate::chart::thousands(run.checks)) }
                            td.num { (failures(run)) }
                            td.num { (crate::chart::thousands(run.changes)) }
                            td {
                                @if is_report(&ctx.admin.reports_dir.join(&name)) || (shared && run.ended_at != 0) {
                                    a href={ "/admin/reports/" (name) } { "Report" }
                                } @else if run.ended_at == 0 {
                                    span.muted { "when it ends" }
                                } @else {
                                    span.muted { "file gone" }
                                }
                            }
                        }
                    }
                }
            }
        }
    };
    Ok(ctx.page("reports", "Sentry reports", body))
}

fn numbers(run: &SentryRun) -> Markup {
    html! {
        div.cards {
            div.stat { span.value { (run.kind) } span.label { "kind" } }
            div.stat { span.value { (page::ago(run.started_at)) } span.label { "started " (crate::model::utc(run.started_at)) } }
            div.stat { span.value { (duration(run)) } span.label { "duration" } }
            div.stat { span.value { (crate::chart::thousands(run.checks)) } span.label { "checks" } }
            div.stat.bad[run.failures > 0] { span.value { (crate::chart::thousands(run.failures)) } span.label { "failures" } }
            div.stat { span.value { (crate::chart::thousands(run.changes)) } span.label { "status changes" } }
        }
    }
}

fn view(ctx: &Ctx<'_>, id: u64) -> PageResult {
    let run = find_run(ctx.network().store(), id)?;
    let path = report_path(ctx, id);
    let name = file_name(&SentryRun {
        id,
        ..SentryRun::default()
    });
    let title = match &run {
        Some(run) => format!("Sentry run #{id} ({})", run.kind),
        None => format!("Sentry run #{id}"),
    };
    // On PostgreSQL the report is in the database too: the node that ran
    // sentry may be another.
    let stored = !is_report(&path) && ctx.network().store().report(id)?.is_some();
    if !is_report(&path) && !stored {
        let Some(run) = run else {
            return Ok(ctx.not_found(&format!(
                "There is no sentry run #{id}, and no report file {name}."
            )));
        };
        return Ok(ctx.page_status(
            StatusCode::NOT_FOUND,
            "reports",
            &title,
            html! {
                h1 { (title) }
                p.flash.error {
                    @if std::fs::symlink_metadata(&path).is_ok() {
                        "The report file of this run (" code { (name) } ") is not a regular file (a symbolic link, say): "
                        "only files sentry wrote are shown. The run's numbers are still known:"
                    } @else if run.ended_at == 0 {
                        "This run has not ended yet; its report is written when it does. Reload this page in a while."
                    } @else {
                        "The report file of this run (" code { (name) } ") is gone from the reports directory ("
                        code { (ctx.admin.reports_dir.display().to_string()) }
                        "): it was deleted, or the server now writes reports elsewhere (--reports-dir). The run's numbers are still known:"
                    }
                }
                (numbers(&run))
                p { a href="/admin/reports" { "All reports" } }
            },
        ));
    }
    // The report says everything about the run itself: only a title and
    // the ways out around it.
    let raw = format!("/admin/reports/raw/{name}");
    let body = html! {
        div.toolbar {
            h1 { (title) }
            a href="/admin/reports" { "All reports" }
            a href=(raw) target="_blank" rel="noopener" { "Open in a new tab" }
        }
        iframe.report src=(raw) title=(title) sandbox="allow-top-navigation-by-user-activation" {}
    };
    Ok(ctx.page("reports", &title, body))
}

/// A raw report reply: HTML under [`RAW_POLICY`], framable by admin pages.
fn raw_reply(status: StatusCode, body: Bytes) -> Reply {
    let mut reply = crate::http::with_type(status, "text/html; charset=utf-8", body);
    let h = reply.headers_mut();
    h.insert(
        "content-security-policy",
        HeaderValue::from_static(RAW_POLICY),
    );
    h.insert("x-frame-options", HeaderValue::from_static("SAMEORIGIN"));
    reply
}

fn not_a_report() -> Markup {
    html! {
        (maud::DOCTYPE)
        html lang="en" {
            head { meta charset="utf-8"; title { "No such report" } }
            body {
                p { "There is no such report file." }
                p { a href="/admin/reports" target="_top" { "All reports" } }
            }
        }
    }
}

fn raw(ctx: &Ctx<'_>, id: u64) -> PageResult {
    let read = open_report(&report_path(ctx, id)).and_then(|found| match found {
        ReportFile::Found(mut file) => {
            let mut bytes = Vec::new();
            file.read_to_end(&mut bytes).map(|_| Some(bytes))
        }
        ReportFile::Missing | ReportFile::NotRegular => Ok(None),
    });
    let bytes = match read {
        Ok(Some(bytes)) => Some(bytes),
        // On PostgreSQL the report is in the database too.
        Ok(None) => ctx.network().store().report(id)?.map(String::into_bytes),
        Err(e) => {
            return Err(
                crate::error::Error::io(format!("cannot read the report of run #{id}"), e).into(),
            );
        }
    };
    Ok(match bytes {
        Some(bytes) => raw_reply(StatusCode::OK, bytes.into()),
        None => raw_reply(StatusCode::NOT_FOUND, not_a_report().into_string().into()),
    })
}

/// Every report links to `index.html` beside it; in the frame, that is
/// this: a way back to the admin's list.
fn raw_index() -> Reply {
    let markup = html! {
        (maud::DOCTYPE)
        html lang="en" {
            head { meta charset="utf-8"; title { "Sentry runs" } }
            body { p { a href="/admin/reports" target="_top" { "All sentry runs" } } }
        }
    };
    raw_reply(StatusCode::OK, markup.into_string().into())
}

#[cfg(test)]
mod tests {
    use hyper::StatusCode;

    use super::{RAW_POLICY, run_id};
    use crate::admin::Admin;
    use crate::admin::testing::*;
    use crate::model::{Role, SentryRun};

    /// Runs 1 (spot, clean; report file present) and 2 (all, 3 failures;
    /// report file gone).
    fn runs(admin: &Admin) {
        admin
            .network
            .write(&crate::model::Actor::Program("test"), |tx| {
                for (kind, failures) in [("spot", 0), ("all", 3)] {
                    tx.sentry_run_put(&mut SentryRun {
                        kind: kind.into(),
                        started_at: 1_700_000_000,
                        ended_at: 1_700_000_042,
                        checks: 1234,
                        failures,
                        changes: 2,
                        ..SentryRun::default()
                    })?;
                }
                Ok(())
            })
            .unwrap();
        std::fs::create_dir_all(&admin.reports_dir).unwrap();
        std::fs::write(
            admin.reports_dir.join("run-000001.html"),
            "<!DOCTYPE html><html><head><style>body{color:red}</style></head><body>REPORT ONE</body></html>",
        )
        .unwrap();
        // Things beside and above the reports directory that must stay unreachable.
        std::fs::write(admin.reports_dir.join("secret.html"), "SECRET").unwrap();
        std::fs::write(admin.reports_dir.join("../secret.html"), "SECRET").unwrap();
    }

    /// A page that fails answers with the admin's 500 page, which says
    /// why (here: the reports directory is a file, so no report in it can
    /// be read).
    #[test]
    fn unreadable_reports_answer_the_error_page() {
        let (_dir, admin) = admin();
        let ann = login(&admin, "ann", Role::Admin);
        std::fs::write(&admin.reports_dir, "not a directory").unwrap();
        let reply = get(&admin, &ann, "/admin/reports/raw/run-000001.html");
        assert_eq!(reply.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(reply.headers()["cache-control"], "no-store");
        let page = body(reply);
        assert!(page.contains("Something went wrong"), "{page}");
        assert!(page.contains("cannot read the report of run #1"), "{page}");
    }

    #[test]
    fn names_are_strict() {
        assert_eq!(run_id("run-000123.html"), Some(123));
        assert_eq!(run_id("run-1234567.html"), Some(1_234_567));
        for bad in [
            "run-123.html",
            "run-0000123.html",
            "run-000000.html",
            "run-00012a.html",
            "run-000123.htm",
            "run-000123.html/",
            "RUN-000123.html",
            "run-+00123.html",
            "../run-000123.html",
            "run-000123.html\0",
            "index.html",
            "/etc/passwd",
            "run-99999999999999999999999.html",
        ] {
            assert_eq!(run_id(bad), None, "{bad}");
        }
    }

    #[test]
    fn the_list_of_runs() {
        let (_dir, admin) = admin();
        runs(&admin);
        let vic = login(&admin, "vic", Role::Viewer);
        let r = get(&admin, &vic, "/admin/reports");
        assert_eq!(r.status(), StatusCode::OK);
        let page = body(r);
        assert!(
            page.find("#2").unwrap() < page.find("#1").unwrap(),
            "newest first"
        );
        assert!(page.contains("spot") && page.contains("all"));
        assert!(page.contains("1,234"), "{page}");
        assert!(
            page.contains(r#"<span class="badge bad">3</span>"#),
            "{page}"
        );
        assert!(page.contains("42 s"));
        assert!(page.contains(r#"href="/admin/reports/run-000001.html""#));
        assert!(!page.contains(r#"href="/admin/reports/run-000002.html""#));
        assert!(page.contains("file gone"));
        assert!(page.contains(">2 runs<"), "{page}");
    }

    #[test]
    fn a_report_is_framed_and_served_raw_under_its_own_policy() {
        let (_dir, admin) = admin();
        runs(&admin);
        let vic = login(&admin, "vic", Role::Viewer);
        let r = get(&admin, &vic, "/admin/reports/run-000001.html");
        assert_eq!(r.status(), StatusCode::OK);
        let csp = r.headers()["content-security-policy"].to_str().unwrap();
        assert!(csp.contains("frame-src 'self'"), "{csp}");
        let page = body(r);
        assert!(
            page.contains(r#"<iframe class="report" src="/admin/reports/raw/run-000001.html""#),
            "{page}"
        );
        assert!(page.contains("<h1>Sentry run #1 (spot)</h1>"), "{page}");
        // A slim header: the report itself has the numbers and the details.
        assert!(!page.contains(r#"class="cards""#), "{page}");
        assert!(!page.contains("1,234"));
        assert_eq!(page.matches(">All reports</a>").count(), 1, "{page}");
        assert!(page.contains(
            r#"<a href="/admin/reports/raw/run-000001.html" target="_blank" rel="noopener">Open in a new tab</a>"#
        ));

        let r = get(&admin, &vic, "/admin/reports/raw/run-000001.html");
        assert_eq!(r.status(), StatusCode::OK);
        // The admin's own headers must not replace the report's.
        assert_eq!(r.headers()["content-security-policy"], RAW_POLICY);
        assert_eq!(r.headers()["x-frame-options"], "SAMEORIGIN");
        assert_eq!(r.headers()["x-content-type-options"], "nosniff");
        assert!(
            r.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/html")
        );
        assert!(body(r).contains("REPORT ONE"));

        let r = get(&admin, &vic, "/admin/reports/raw/index.html");
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(r.headers()["content-security-policy"], RAW_POLICY);
        assert!(body(r).contains(r#"target="_top""#));
    }

    #[test]
    fn a_missing_report_file_is_explained() {
        let (_dir, admin) = admin();
        runs(&admin);
        let ann = login(&admin, "ann", Role::Admin);
        let r = get(&admin, &ann, "/admin/reports/run-000002.html");
        assert_eq!(r.status(), StatusCode::NOT_FOUND);
        let page = body(r);
        assert!(page.contains("is gone"), "{page}");
        assert!(page.contains("run-000002.html"));
        assert!(
            page.contains("1,234") && page.contains("status changes"),
            "{page}"
        );
        let r = get(&admin, &ann, "/admin/reports/raw/run-000002.html");
        assert_eq!(r.status(), StatusCode::NOT_FOUND);
        assert_eq!(r.headers()["content-security-policy"], RAW_POLICY);
        let r = get(&admin, &ann, "/admin/reports/run-000099.html");
        assert_eq!(r.status(), StatusCode::NOT_FOUND);
        assert!(body(r).contains("no sentry run #99"));
    }

    #[test]
    fn a_link_in_the_reports_directory_is_not_followed() {
        let (dir, admin) = admin();
        runs(&admin);
        // Run 2's report name, linked to a file outside the directory.
        let outside = dir.path().join("outside.html");
        std::fs::write(&outside, "OUTSIDE").unwrap();
        std::os::unix::fs::symlink(&outside, admin.reports_dir.join("run-000002.html")).unwrap();
        let ann = login(&admin, "ann", Role::Admin);
        let r = get(&admin, &ann, "/admin/reports/raw/run-000002.html");
        assert_eq!(r.status(), StatusCode::NOT_FOUND);
        assert_eq!(r.headers()["content-security-policy"], RAW_POLICY);
        assert!(!body(r).contains("OUTSIDE"));
        let r = get(&admin, &ann, "/admin/reports/run-000002.html");
        assert_eq!(r.status(), StatusCode::NOT_FOUND);
        let page = body(r);
        assert!(page.contains("not a regular file"), "{page}");
        assert!(
            !page.contains("/admin/reports/raw/run-000002.html"),
            "{page}"
        );
        let page = body(get(&admin, &ann, "/admin/reports"));
        assert!(!page.contains(r#"href="/admin/reports/run-000002.html""#));
        // A directory by that name is no report either.
        std::fs::remove_file(admin.reports_dir.join("run-000002.html")).unwrap();
        std::fs::create_dir(admin.reports_dir.join("run-000002.html")).unwrap();
        let r = get(&admin, &ann, "/admin/reports/raw/run-000002.html");
        assert_eq!(r.status(), StatusCode::NOT_FOUND);
        // The regular report beside them is served.
        let r = get(&admin, &ann, "/admin/reports/raw/run-000001.html");
        assert_eq!(r.status(), StatusCode::OK);
        assert!(body(r).contains("REPORT ONE"));
    }

    #[test]
    fn only_regular_files_open_as_reports() {
        use super::{ReportFile, open_report};
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("run-000001.html");
        std::fs::write(&path, "REPORT").unwrap();
        assert!(matches!(open_report(&path).unwrap(), ReportFile::Found(_)));
        assert!(matches!(
            open_report(&dir.path().join("run-000002.html")).unwrap(),
            ReportFile::Missing
        ));
        let link = dir.path().join("run-000003.html");
        std::os::unix::fs::symlink(&path, &link).unwrap();
        assert!(matches!(
            open_report(&link).unwrap(),
            ReportFile::NotRegular
        ));
    }

    #[test]
    fn nothing_else_is_served() {
        let (_dir, admin) = admin();
        runs(&admin);
        let ann = login(&admin, "ann", Role::Admin);
        for path in [
            "/admin/reports/..%2Fsecret.html",
            "/admin/reports/raw/..%2Fsecret.html",
            "/admin/reports/raw/..%2F..%2Fsecret.html",
            "/admin/reports/raw/..%2Ft.redb",
            "/admin/reports/raw/%2Fetc%2Fpasswd",
            "/admin/reports/%2Fetc%2Fpasswd",
            "/admin/reports/raw/secret.html",
            "/admin/reports/secret.html",
            "/admin/reports/../secret.html",
            "/admin/reports/raw/../secret.html",
            "/admin/reports/raw/run-1.html",
            "/admin/reports/raw/run-000001.html%00",
            "/admin/reports/raw/run-000001.html%2F",
            "/admin/reports/raw/run-000001.html/x",
            "/admin/reports/raw/..%5Crun-000001.html",
            "/admin/reports/index.html",
        ] {
            let r = get(&admin, &ann, path);
            assert_eq!(r.status(), StatusCode::NOT_FOUND, "{path}");
            let page = body(r);
            assert!(
                !page.contains("SECRET") && !page.contains("REPORT ONE"),
                "{path}"
            );
        }
    }
}
