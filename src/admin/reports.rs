//! Admin section: sentry's reports — the list of runs, and each run's
//! report shown inside the admin's layout.
//!
//! Routes: `GET /admin/reports` (the runs, newest first, a page at a
//! time), `GET /admin/reports/run-NNNNNN.html` (one run's report; its
//! numbers when the report is gone), `GET /admin/reports/raw/run-NNNNNN.html`
//! (the report file as sentry wrote it, a page of its own).
//!
//! The list's query fields: `kind` (`all`, `new`, `spot`, `hashes`: runs
//! over the whole network in that mode; `mirror`: runs over one mirror;
//! `mirror:NAME`: runs over mirror NAME), `failures=1` (only runs with a
//! failed check), `mirror=NAME` (runs over that mirror or in which it
//! failed), `page` (from 1) and `per` (runs a page, 50 unless said, at most
//! 500). Every run is listed, however many there are: the store reads one
//! page. How long runs are kept is the server's `--keep-reports DAYS`
//! (30 unless said); the newest full run is always kept.
//!
//! A report file is a whole HTML document with an inline `<style>`, which
//! the admin's Content-Security-Policy forbids; a report page shows the
//! report's body instead, read by a strict reader that keeps only known
//! elements and attributes ([`fragment`]): no script, style or event
//! attribute gets through, links between reports point to the admin's
//! pages, and wide tables scroll in their own box. The raw route serves
//! the file under a policy of its own (styles only, no scripts, no
//! requests, never framed).
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
use maud::{Markup, PreEscaped, html};

use super::list::{Listing, PER, Window};
use super::page::{self, Badge, badge, seg};
use super::{Ctx, Form, Page, PageResult};
use crate::http::Reply;
use crate::model::{MirrorId, SentryRun};
use crate::sentry::report::file_name;
use crate::store::{RUN_MODES, RunFilter, RunKind};

const BASE: &str = "/admin/reports";

/// The policy of a raw report: its own inline style, nothing else, and
/// never in a frame.
pub const RAW_POLICY: &str =
    "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'";

/// Answers requests below `/admin/reports`.
pub fn route(ctx: &Ctx<'_>, page: &Page<'_>) -> PageResult {
    match (page.post, page.rest().as_slice()) {
        (false, []) => list(ctx, &page.form),
        // Every report links to `index.html` beside it.
        (false, ["raw", "index.html"]) => Ok(crate::http::see_other(BASE)),
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

/// The file name of run `id`'s report.
fn name_of(id: u64) -> String {
    file_name(&SentryRun {
        id,
        ..SentryRun::default()
    })
}

/// Where run `id`'s report file is.
fn report_path(ctx: &Ctx<'_>, id: u64) -> PathBuf {
    ctx.admin.reports_dir.join(name_of(id))
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
/// offers; [`open_report`] decides what is served).
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

/// Run `id`'s report as written: the file in this node's reports
/// directory, or on PostgreSQL the copy in the database (the node that ran
/// sentry may be another). `None`: neither.
fn read_report(ctx: &Ctx<'_>, id: u64) -> crate::error::Result<Option<String>> {
    let read = open_report(&report_path(ctx, id)).and_then(|found| match found {
        ReportFile::Found(mut file) => {
            let mut bytes = Vec::new();
            file.read_to_end(&mut bytes).map(|_| Some(bytes))
        }
        ReportFile::Missing | ReportFile::NotRegular => Ok(None),
    });
    match read {
        Ok(Some(bytes)) => Ok(Some(String::from_utf8_lossy(&bytes).into_owned())),
        Ok(None) => ctx.network().store().report(id),
        Err(e) => Err(crate::error::Error::io(
            format!("cannot read the report of run #{id}"),
            e,
        )),
    }
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

/// How long runs are kept, in days (`None`: for ever).
fn kept_days(ctx: &Ctx<'_>) -> Option<u64> {
    let keep = match &ctx.admin.sentry {
        Some(s) => s.config().keep_reports,
        None => crate::sentry::keep_reports(crate::sentry::KEEP_REPORTS_DAYS),
    };
    keep.map(|d| d.as_secs().div_ceil(86400))
}

// ----- the list -----

/// The kinds offered in the list's filter: (value, label).
const KINDS: &[(&str, &str)] = &[
    ("all", "full checks (all)"),
    ("new", "new things (new)"),
    ("spot", "spot checks (spot)"),
    ("hashes", "content checks (hashes)"),
    ("mirror", "checks of one mirror"),
];

/// What the list's query asks for: the run filters, kept in every link of
/// the list's view.
struct ListView {
    kind: String,
    failures: bool,
    mirror: String,
    /// The page and page size, the filters kept.
    list: Listing,
}

impl ListView {
    fn from_form(form: &Form) -> ListView {
        let kind: String = form.get("kind").chars().take(200).collect();
        let failures = form.get("failures") == "1";
        let mirror: String = form.get("mirror").chars().take(200).collect();
        let list = Listing::from_form(form, "", &[])
            .keep("kind", &kind)
            .keep("failures", if failures { "1" } else { "" })
            .keep("mirror", &mirror);
        ListView {
            kind,
            failures,
            mirror,
            list,
        }
    }

    /// The store's filter for this view; mirror names as the snapshot
    /// spells them.
    fn filter(&self, mirror_id: impl Fn(&str) -> Option<MirrorId>) -> RunFilter {
        let kind = match self.kind.as_str() {
            "" => RunKind::Any,
            "mirror" => RunKind::AnyMirror,
            k if RUN_MODES.contains(&k) => RunKind::Mode(k.to_string()),
            k => match k.strip_prefix("mirror:") {
                Some(name) => RunKind::Mirror(name.to_string()),
                None => RunKind::Any,
            },
        };
        RunFilter {
            kind,
            failures: self.failures,
            mirror: (!self.mirror.is_empty())
                .then(|| (self.mirror.clone(), mirror_id(&self.mirror))),
        }
    }

    /// This view's link, changed by `change` (an empty value drops a
    /// field).
    fn href(&self, change: &[(&str, &str)]) -> String {
        self.list.href(BASE, change)
    }
}

fn list(ctx: &Ctx<'_>, form: &Form) -> PageResult {
    let s = ctx.network().snapshot()?;
    let view = ListView::from_form(form);
    let filter = view.filter(|name| s.mirror(name).map(|m| m.id));
    let store = ctx.network().store();
    // Counted first: the page asked for is moved back to the last one
    // before any offset is worked out from it.
    let (runs, total) = store.sentry_runs_page(&filter, |total| {
        let w = view.list.window_of(total);
        (w.first, w.shown)
    })?;
    let window = Window {
        shown: runs.len(),
        ..view.list.window_of(total)
    };
    // On PostgreSQL every ended run's report is in the database.
    let shared = store.postgres().is_some();
    let mirror_name = |id: &MirrorId| {
        s.mirrors
            .iter()
            .find(|m| m.id == *id)
            .map(|m| m.name.as_str())
    };
    let pager = view.list.pager(BASE, &window, "runs");
    let kept = kept_days(ctx);
    let body = html! {
        div.toolbar {
            h1 { "Sentry reports" }
        }
        p.muted {
            @match kept {
                Some(days) => { "Runs and their reports are kept for " (page::plural(days as usize, "day", "days")) "; the newest full check stays whatever its age." }
                None => { "Runs and their reports are kept for ever." }
            }
        }
        form.search method="get" action=(BASE) role="search" {
            label.field {
                span { "Kind" }
                select name="kind" data-autosubmit {
                    option value="" selected[view.kind.is_empty()] { "any" }
                    @for (key, label) in KINDS { option value=(key) selected[view.kind == *key] { (label) } }
                    @if let Some(name) = view.kind.strip_prefix("mirror:") {
                        option value=(view.kind) selected { "checks of " (name) }
                    }
                }
            }
            label.field {
                span { "Mirror" }
                input type="search" name="mirror" value=(view.mirror) maxlength="200" list="report-mirrors";
            }
            datalist id="report-mirrors" {
                @for m in &s.mirrors { option value=(m.name) {} }
            }
            label.check {
                input type="checkbox" name="failures" value="1" checked[view.failures];
                " Only runs with failures"
            }
            @if view.list.per != PER { input type="hidden" name="per" value=(view.list.per); }
            button type="submit" { "Show" }
            @if view.list.narrowed() { a href=(BASE) { "Clear" } }
        }
        @if !view.mirror.is_empty() && s.mirror(&view.mirror).is_none() {
            p.notice { "There is no mirror named " strong { (view.mirror) } " now: only runs over a mirror of that name are shown. See the " a href="/admin/mirrors" { "mirrors" } "." }
        }
        @if total == 0 && !view.list.narrowed() {
            p.muted {
                "No sentry runs yet. Runs happen on the server's schedule; to check a mirror now, use Check now on its page under "
                a href="/admin/mirrors" { "Mirrors" } "."
            }
        } @else if total == 0 {
            p.muted { "No run matches this filter. " a href=(BASE) { "Show every run" } "." }
        } @else {
            (pager)
            div.scroll {
                table {
                    thead { tr {
                        th.num { "Run" } th { "Kind" } th { "Started" } th.num { "Duration" }
                        th.num { "Checks" } th.num { "Failures" } th.num { "Changes" } th { "Failed mirrors" } th { "Report" }
                    } }
                    tbody {
                        @for run in &runs {
                            @let name = file_name(run);
                            tr {
                                td.num { "#" (run.id) }
                                td { (run.kind) }
                                td { (page::ago(run.started_at)) }
                                td.num { (duration(run)) }
                                td.num { (crate::chart::thousands(run.checks)) }
                                td.num { (failures(run)) }
                                td.num { (crate::chart::thousands(run.changes)) }
                                td.wrap {
                                    @for (i, id) in run.failed.iter().take(5).enumerate() {
                                        @if i > 0 { ", " }
                                        @match mirror_name(id) {
                                            Some(n) => a href=(view.href(&[("mirror", n), ("page", "")])) { (n) },
                                            None => span.muted { "mirror #" (id) " (removed)" },
                                        }
                                    }
                                    @if run.failed.len() > 5 { " and " (run.failed.len() - 5) " more" }
                                }
                                td {
                                    @if is_report(&ctx.admin.reports_dir.join(&name)) || (shared && run.ended_at != 0) {
                                        a href={ (BASE) "/" (name) } { "Report" }
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
            (pager)
        }
    };
    Ok(ctx.page("reports", "Sentry reports", body))
}

// ----- one report -----

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
    let run = ctx.network().store().sentry_run(id)?;
    let path = report_path(ctx, id);
    let name = name_of(id);
    let title = match &run {
        Some(run) => format!("Sentry run #{id} ({})", run.kind),
        None => format!("Sentry run #{id}"),
    };
    let nav = html! {
        p {
            a href=(BASE) { "All runs" }
            @if let Some(run) = &run {
                @if RUN_MODES.contains(&run.kind.as_str()) {
                    " · " a href={ (BASE) "?kind=" (seg(&run.kind)) } { "All " (run.kind) " runs" }
                }
            }
        }
    };
    let report = read_report(ctx, id)?;
    let Some(report) = report else {
        let Some(run) = run else {
            return Ok(ctx.not_found(&format!(
                "There is no sentry run #{id}, and no report {name}."
            )));
        };
        let days = kept_days(ctx);
        return Ok(ctx.page_status(
            StatusCode::NOT_FOUND,
            "reports",
            &title,
            html! {
                h1 { (title) }
                (nav)
                p.flash.error {
                    @if std::fs::symlink_metadata(&path).is_ok() {
                        "The report file of this run (" code { (name) } ") is not a regular file (a symbolic link, say): "
                        "only files sentry wrote are shown. The run's numbers are still known:"
                    } @else if run.ended_at == 0 {
                        "This run has not ended yet; its report is written when it does. Reload this page in a while."
                    } @else {
                        "The report file of this run (" code { (name) } ") is gone from the reports directory ("
                        code.wrap { (ctx.admin.reports_dir.display().to_string()) } "): it was deleted"
                        @if let Some(days) = days { " (reports older than " (page::plural(days as usize, "day", "days")) " are)" }
                        ", or the server now writes reports elsewhere. The run's numbers are still known:"
                    }
                }
                (numbers(&run))
            },
        ));
    };
    let raw = format!("{BASE}/raw/{name}");
    let body = html! {
        div.toolbar {
            h1 { (title) }
            a href=(raw) target="_blank" rel="noopener" { "The report file as written" }
        }
        (nav)
        @match fragment(&report) {
            Some(markup) => div.report { (markup) },
            None => {
                p.flash.error {
                    "This report has markup the admin pages do not show. "
                    a href=(raw) { "Open the report file" } " to read it."
                }
                @if let Some(run) = &run { (numbers(run)) }
            }
        }
    };
    Ok(ctx.page("reports", &title, body))
}

/// A raw report reply: HTML under [`RAW_POLICY`].
fn raw_reply(status: StatusCode, body: Bytes) -> Reply {
    let mut reply = crate::http::with_type(status, "text/html; charset=utf-8", body);
    let h = reply.headers_mut();
    h.insert(
        "content-security-policy",
        HeaderValue::from_static(RAW_POLICY),
    );
    h.insert("x-frame-options", HeaderValue::from_static("DENY"));
    reply
}

fn not_a_report() -> Markup {
    html! {
        (maud::DOCTYPE)
        html lang="en" {
            head { meta charset="utf-8"; title { "No such report" } }
            body {
                p { "There is no such report file." }
                p { a href=(BASE) { "All reports" } }
            }
        }
    }
}

fn raw(ctx: &Ctx<'_>, id: u64) -> PageResult {
    Ok(match read_report(ctx, id)? {
        Some(html) => raw_reply(StatusCode::OK, html.into()),
        None => raw_reply(StatusCode::NOT_FOUND, not_a_report().into_string().into()),
    })
}

// ----- a report's body, read strictly -----

/// Elements a report's body may have (what sentry's reports use, and a
/// few alike); anything else and the report is not shown inline.
const ELEMENTS: &[&str] = &[
    "a", "abbr", "b", "br", "code", "div", "em", "h1", "h2", "h3", "i", "li", "ol", "p", "section",
    "small", "span", "strong", "table", "tbody", "td", "th", "thead", "time", "tr", "ul",
];

/// Attributes kept (`href` only as [`link`] rewrites it); others are
/// dropped.
const ATTRIBUTES: &[&str] = &["class", "title", "datetime", "colspan", "rowspan", "scope"];

/// Where a link in a report goes in the admin: the index of runs to the
/// list, a run's report to its page, admin pages and anchors as they are;
/// anything else (another site, `javascript:`) nowhere.
fn link(href: &str) -> Option<String> {
    if href == "index.html" {
        Some(BASE.to_string())
    } else if run_id(href).is_some() {
        Some(format!("{BASE}/{href}"))
    } else if (href.starts_with("/admin/") && !href.starts_with("/admin//"))
        || href.starts_with('#')
    {
        Some(href.to_string())
    } else {
        None
    }
}

/// One piece of markup.
enum Token<'a> {
    Text(&'a str),
    Open(&'a str, Vec<(&'a str, &'a str)>),
    Close(&'a str),
}

/// Reads `s` (markup as maud writes it: `<name a="v">`, `</name>`,
/// escaped text, comments) into tokens; `None` at anything else.
fn tokens(s: &str) -> Option<Vec<Token<'_>>> {
    let mut out = Vec::new();
    let mut rest = s;
    let is_name = |c: char| c.is_ascii_alphanumeric() || c == '-';
    while !rest.is_empty() {
        if let Some(after) = rest.strip_prefix("<!--") {
            rest = &after[after.find("-->")? + 3..];
        } else if let Some(after) = rest.strip_prefix("</") {
            let end = after.find('>')?;
            let name = &after[..end];
            if name.is_empty() || !name.chars().all(is_name) {
                return None;
            }
            out.push(Token::Close(name));
            rest = &after[end + 1..];
        } else if let Some(after) = rest.strip_prefix('<') {
            let end = after.find(|c: char| !is_name(c))?;
            let name = &after[..end];
            if name.is_empty() {
                return None;
            }
            let mut attrs = Vec::new();
            let mut at = after[end..].trim_start();
            loop {
                if let Some(after) = at.strip_prefix('>') {
                    at = after;
                    break;
                }
                if let Some(after) = at.strip_prefix("/>") {
                    at = after;
                    break;
                }
                let n = at.find(|c: char| !is_name(c))?;
                let attr = &at[..n];
                if attr.is_empty() {
                    return None;
                }
                at = &at[n..];
                let value = if let Some(after) = at.strip_prefix("=\"") {
                    let close = after.find('"')?;
                    let value = &after[..close];
                    if value.contains('<') {
                        return None;
                    }
                    at = &after[close + 1..];
                    value
                } else {
                    ""
                };
                attrs.push((attr, value));
                at = at.trim_start();
            }
            out.push(Token::Open(name, attrs));
            rest = at;
        } else {
            let end = rest.find('<').unwrap_or(rest.len());
            out.push(Token::Text(&rest[..end]));
            rest = &rest[end..];
        }
    }
    Some(out)
}

/// The body of a report (a whole HTML document) as markup for an admin
/// page: known elements and attributes only (`None` if it has any other
/// element), its `h1` and its link to the list of runs left out (the page
/// has its own), links through
/// [`link`], every table in a box that scrolls, table cells that wrap,
/// every element closed.
pub fn fragment(document: &str) -> Option<Markup> {
    let start = document.find("<body")?;
    let start = start + document[start..].find('>')? + 1;
    let end = document[start..]
        .rfind("</body>")
        .map_or(document.len(), |e| start + e);
    // The report's own way to the list of runs: the page has one.
    let body = document[start..end].replacen(r#"<p><a href="index.html">All runs</a></p>"#, "", 1);
    let mut out = String::with_capacity(body.len() + 1024);
    let mut open: Vec<&str> = Vec::new();
    let mut skipping = 0usize;
    let close = |out: &mut String, name: &str| {
        out.push_str("</");
        out.push_str(name);
        out.push('>');
        if name == "table" {
            out.push_str("</div>");
        }
    };
    for token in tokens(&body)? {
        match token {
            Token::Open(name, _) | Token::Close(name) if !ELEMENTS.contains(&name) => return None,
            Token::Open("h1", _) => skipping += 1,
            Token::Close("h1") => skipping = skipping.saturating_sub(1),
            _ if skipping > 0 => {}
            Token::Text(text) => out.push_str(text),
            Token::Open(name, attrs) => {
                if name == "table" {
                    out.push_str(r#"<div class="scroll">"#);
                }
                out.push('<');
                out.push_str(name);
                let mut classes: Vec<&str> = Vec::new();
                for (attr, value) in attrs {
                    if attr == "class" {
                        classes.extend(value.split_whitespace());
                    } else if attr == "href" && name == "a" {
                        if let Some(to) = link(value) {
                            out.push_str(&format!(r#" href="{to}""#));
                        }
                    } else if ATTRIBUTES.contains(&attr) {
                        out.push_str(&format!(r#" {attr}="{value}""#));
                    }
                }
                if name == "td" {
                    classes.push("wrap");
                }
                let classes: Vec<&str> = classes
                    .into_iter()
                    .filter(|c| {
                        c.chars()
                            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
                    })
                    .collect();
                if !classes.is_empty() {
                    out.push_str(&format!(r#" class="{}""#, classes.join(" ")));
                }
                out.push('>');
                if name != "br" {
                    open.push(name);
                }
            }
            Token::Close("br") => {}
            Token::Close(name) => {
                // Closes what is open up to `name`; a stray closer is dropped.
                if let Some(at) = open.iter().rposition(|n| *n == name) {
                    for n in open.split_off(at).into_iter().rev() {
                        close(&mut out, n);
                    }
                }
            }
        }
    }
    for n in open.into_iter().rev() {
        close(&mut out, n);
    }
    Some(PreEscaped(out))
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
        assert!(page.contains("1–2 of 2 runs"), "{page}");
    }

    #[test]
    fn a_report_is_shown_inline_and_served_raw_under_its_own_policy() {
        let (_dir, admin) = admin();
        runs(&admin);
        let vic = login(&admin, "vic", Role::Viewer);
        let r = get(&admin, &vic, "/admin/reports/run-000001.html");
        assert_eq!(r.status(), StatusCode::OK);
        let page = body(r);
        assert!(!page.contains("<iframe"), "{page}");
        assert!(
            page.contains(r#"<div class="report">REPORT ONE</div>"#),
            "{page}"
        );
        assert!(
            !page.contains("<style"),
            "the report's style stays out: {page}"
        );
        assert!(page.contains("<h1>Sentry run #1 (spot)</h1>"), "{page}");
        assert!(
            page.contains(r#"<a href="/admin/reports">All runs</a>"#),
            "{page}"
        );
        assert!(page.contains(r#"<a href="/admin/reports?kind=spot">All spot runs</a>"#));
        assert!(page.contains(
            r#"<a href="/admin/reports/raw/run-000001.html" target="_blank" rel="noopener">"#
        ));
        let main = &page[page.find("<main").unwrap()..];
        assert!(!main.contains(r#"method="post""#), "nothing to change here");

        let r = get(&admin, &vic, "/admin/reports/raw/run-000001.html");
        assert_eq!(r.status(), StatusCode::OK);
        // The admin's own headers must not replace the report's.
        assert_eq!(r.headers()["content-security-policy"], RAW_POLICY);
        assert_eq!(r.headers()["x-frame-options"], "DENY");
        assert_eq!(r.headers()["x-content-type-options"], "nosniff");
        assert!(
            r.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/html")
        );
        assert!(body(r).contains("REPORT ONE"));

        // A report's "All runs" (index.html beside it) is the list.
        let r = get(&admin, &vic, "/admin/reports/raw/index.html");
        assert_eq!(redirected(r), "/admin/reports");
    }

    /// A report as sentry writes it is shown inline whole: its tables in
    /// boxes of their own, its links to admin pages.
    #[test]
    fn a_real_report_reads_inline() {
        use crate::sentry::report::{RunReport, render};
        let (_dir, admin) = admin();
        add_mirror(&admin, "m1", &[]);
        let s = admin.network.snapshot().unwrap();
        let run = SentryRun {
            id: 7,
            kind: "all".into(),
            started_at: 1_700_000_000,
            ended_at: 1_700_000_009,
            ..SentryRun::default()
        };
        let results = vec![crate::sentry::verdict::MirrorResult {
            mirror: s.mirrors[0].id,
            base: Some(Err("connection refused".into())),
            base_problem: Some(crate::model::Problem::Refused),
            latency_ms: 3,
            files: Vec::new(),
            downloaded: (0, 0),
            reaches: Default::default(),
            family_faults: Vec::new(),
            alt: crate::model::Reach::Unknown,
            synced_at: 0,
        }];
        let html = render(&RunReport {
            run: &run,
            results: &results,
            changes: &[],
            alarm: Some("most mirrors failed"),
            health: &Default::default(),
            network: &s,
        })
        .into_string();
        let shown = super::fragment(&html)
            .expect("our own report reads")
            .into_string();
        assert!(!shown.contains("All runs"), "the page has its own: {shown}");
        assert!(
            !shown.contains("<h1"),
            "the page has its own title: {shown}"
        );
        assert!(shown.contains(r#"<div class="scroll"><table>"#), "{shown}");
        assert_eq!(
            shown.matches("<table>").count(),
            shown.matches("</table></div>").count()
        );
        assert!(shown.contains("Failed checks") && shown.contains("connection refused"));
        assert!(shown.contains("most mirrors failed"));
        assert!(!shown.contains("style"), "{shown}");
    }

    #[test]
    fn a_report_body_is_read_strictly() {
        use super::fragment;
        let doc = |body: &str| {
            format!(
                "<!DOCTYPE html><html><head><style>x{{}}</style></head><body>{body}</body></html>"
            )
        };
        let shown = |body: &str| fragment(&doc(body)).map(|m| m.into_string());
        // Only known attributes; links only to admin pages.
        assert_eq!(
            shown(
                r#"<p class="bad x" style="color:red" onclick="alert(1)" title="t">a &amp; b</p>"#
            )
            .unwrap(),
            r#"<p title="t" class="bad x">a &amp; b</p>"#
        );
        assert_eq!(
            shown(r#"<a href="javascript:alert(1)">x</a><a href="https://evil.example/">y</a><a href="run-000002.html">z</a>"#).unwrap(),
            r#"<a>x</a><a>y</a><a href="/admin/reports/run-000002.html">z</a>"#
        );
        assert_eq!(
            shown(r#"<td class="a&quot;b">x</td>"#).unwrap(),
            r#"<td class="wrap">x</td>"#,
            "odd class names are dropped"
        );
        // No scripts, styles, frames or forms: then the report is not shown.
        for bad in [
            "<script>alert(1)</script>",
            "<style>body{display:none}</style>",
            "<iframe src=x></iframe>",
            r#"<form method="post"></form>"#,
            "<img src=x onerror=alert(1)>",
            "<p <script>>",
            r#"<p title="<x>">"#,
        ] {
            assert_eq!(shown(bad), None, "{bad}");
        }
        // Whatever is left open is closed; stray closers are dropped.
        assert_eq!(
            shown("<div><table><tr><td>x</div></p><ul><li>y").unwrap(),
            r#"<div><div class="scroll"><table><tr><td class="wrap">x</td></tr></table></div></div><ul><li>y</li></ul>"#
        );
        assert_eq!(
            shown("<!-- a --><h1>Title <b>x</b></h1><br>z").unwrap(),
            "<br>z"
        );
        assert!(fragment("no body at all").is_none());
    }

    #[test]
    fn a_report_the_admin_does_not_show_inline_is_offered_as_a_file() {
        let (_dir, admin) = admin();
        runs(&admin);
        std::fs::write(
            admin.reports_dir.join("run-000001.html"),
            "<html><body><script>alert(1)</script>REPORT ONE</body></html>",
        )
        .unwrap();
        let ann = login(&admin, "ann", Role::Admin);
        let page = body(get(&admin, &ann, "/admin/reports/run-000001.html"));
        assert!(!page.contains("alert(1)"), "{page}");
        assert!(
            page.contains("markup the admin pages do not show"),
            "{page}"
        );
        assert!(page.contains(r#"href="/admin/reports/raw/run-000001.html""#));
        assert!(page.contains("1,234"), "the run's numbers instead: {page}");
    }

    /// `n` runs: every third a full run, every fourth with failures on
    /// mirror `m1`; run 5 checks `m2` alone.
    fn many_runs(admin: &Admin, n: u64) {
        add_mirror(admin, "m1", &[]);
        add_mirror(admin, "m2", &[]);
        let m1 = admin.network.snapshot().unwrap().mirror("m1").unwrap().id;
        admin
            .network
            .write(&crate::model::Actor::Program("test"), |tx| {
                for i in 1..=n {
                    let kind = match i {
                        5 => "spot (m2)".to_string(),
                        _ if i % 3 == 0 => "all".to_string(),
                        _ => "spot".to_string(),
                    };
                    let failing = i % 4 == 0;
                    tx.sentry_run_put(&mut SentryRun {
                        kind,
                        started_at: 1_700_000_000 + i,
                        ended_at: 1_700_000_001 + i,
                        failures: u64::from(failing),
                        failed: if failing { vec![m1] } else { Vec::new() },
                        ..SentryRun::default()
                    })?;
                }
                Ok(())
            })
            .unwrap();
    }

    /// The run numbers a list page shows, in order.
    fn listed(page: &str) -> Vec<u64> {
        page.split(r#"<td class="num">#"#)
            .skip(1)
            .map(|s| s[..s.find('<').unwrap()].parse().unwrap())
            .collect()
    }

    #[test]
    fn every_run_is_listed_a_page_at_a_time() {
        let (_dir, admin) = admin();
        many_runs(&admin, 260);
        let vic = login(&admin, "vic", Role::Viewer);
        let page = body(get(&admin, &vic, "/admin/reports"));
        assert_eq!(listed(&page), (211..=260).rev().collect::<Vec<_>>());
        assert!(page.contains("1–50 of 260 runs"), "{page}");
        assert!(page.contains(r#"href="/admin/reports?page=6""#), "{page}");
        let main = &page[page.find("<main").unwrap()..];
        assert!(!main.contains(r#"method="post""#), "{page}");
        assert!(page.contains("kept for 30 days"), "{page}");
        // The oldest runs, far past the newest 200.
        let page = body(get(&admin, &vic, "/admin/reports?page=6"));
        assert_eq!(listed(&page), (1..=10).rev().collect::<Vec<_>>());
        let page = body(get(&admin, &vic, "/admin/reports?page=99&per=100"));
        assert_eq!(
            listed(&page),
            (1..=60).rev().collect::<Vec<_>>(),
            "past the end: the last page"
        );
    }

    /// A page number past any offset answers the last page, on both
    /// engines, filtered or not, and the filters stay in the pager's links.
    #[test]
    fn a_huge_page_number_answers_the_last_page() {
        let (_dir, redb) = admin();
        let mut admins = vec![redb];
        if let Some((pg, _)) = admins_on_postgres() {
            admins.push(pg);
        }
        for admin in &admins {
            many_runs(admin, 120);
            let vic = login(admin, "vic", Role::Viewer);
            let huge = u64::MAX;
            let r = get(admin, &vic, &format!("/admin/reports?page={huge}"));
            assert_eq!(r.status(), StatusCode::OK);
            let page = body(r);
            assert_eq!(listed(&page), (1..=20).rev().collect::<Vec<_>>());
            assert!(page.contains("101–120 of 120 runs"), "{page}");
            let r = get(
                admin,
                &vic,
                &format!("/admin/reports?kind=all&failures=1&page={huge}&per={huge}"),
            );
            assert_eq!(r.status(), StatusCode::OK);
            let page = body(r);
            assert_eq!(
                listed(&page),
                (1..=10).map(|i| 132 - 12 * i).collect::<Vec<_>>()
            );
            let r = get(
                admin,
                &vic,
                &format!("/admin/reports?kind=spot&per=10&page={huge}"),
            );
            let page = body(r);
            assert!(page.contains("page 8 of 8"), "{page}");
            assert!(
                page.contains(r#"href="/admin/reports?page=7&amp;per=10&amp;kind=spot""#),
                "the filters stay in the pager's links: {page}"
            );
        }
    }

    #[test]
    fn runs_are_filtered_by_kind_failures_and_mirror() {
        let (_dir, admin) = admin();
        many_runs(&admin, 24);
        let ann = login(&admin, "ann", Role::Admin);
        let runs = |q: &str| listed(&body(get(&admin, &ann, &format!("/admin/reports?{q}"))));
        assert_eq!(runs("kind=all"), [24, 21, 18, 15, 12, 9, 6, 3]);
        assert_eq!(runs("failures=1"), [24, 20, 16, 12, 8, 4]);
        assert_eq!(runs("kind=all&failures=1"), [24, 12]);
        assert_eq!(runs("kind=mirror"), [5]);
        assert_eq!(runs("kind=mirror:M2"), [5]);
        assert_eq!(runs("mirror=m2"), [5], "its own run");
        assert_eq!(
            runs("mirror=m1"),
            [24, 20, 16, 12, 8, 4],
            "the runs in which it failed"
        );
        let page = body(get(&admin, &ann, "/admin/reports?kind=all&failures=1"));
        assert!(page.contains(r#"<option value="all" selected>"#), "{page}");
        assert!(
            page.contains(r#"name="failures" value="1" checked"#),
            "{page}"
        );
        // Failed mirrors link to their runs.
        assert!(
            page.contains(
                r#"<a href="/admin/reports?kind=all&amp;failures=1&amp;mirror=m1">m1</a>"#
            ),
            "{page}"
        );
        let page = body(get(&admin, &ann, "/admin/reports?mirror=gone"));
        assert!(page.contains("There is no mirror named"), "{page}");
        assert!(page.contains("No run matches this filter."), "{page}");
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
