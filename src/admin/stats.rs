//! Admin section: download statistics — totals and a daily chart (the top
//! five products and the rest), and downloads by product, mirror,
//! language, country and location, each as a bar chart and a table, and
//! as CSV.
//!
//! Routes:
//! - `GET /admin/stats?days=7|30|90|365` (default 30) or
//!   `?from=YYYY-MM-DD&to=YYYY-MM-DD` (at most 3 years; `from`/`to` win
//!   over `days`), with an optional `&product=NAME` that narrows every
//!   figure on the page to one product: the cards, the daily chart, and the
//!   breakdowns by language and location. Downloads by mirror and by
//!   country are counted for all products together, so with a product the
//!   page says so instead of showing them.
//! - `GET /admin/stats/csv?by=day|product|mirror|language|country|location`
//!   with the same range (and product) parameters: a CSV attachment.
//!
//! Days are UTC days, as the counters record them.

use std::borrow::Cow;
use std::collections::HashMap;

use hyper::StatusCode;
use hyper::header::{CONTENT_DISPOSITION, HeaderValue};
use maud::{Markup, html};

use super::page::{self, field, seg};
use super::{Ctx, Form, Page, PageResult};
use crate::chart::{self, Series, thousands};
use crate::http::Reply;
use crate::model::{LocationId, Product};
use crate::store::{Counts, Snapshot};

/// The ranges offered as links, in days up to today.
const PRESETS: [u32; 4] = [7, 30, 90, 365];
/// The range without parameters.
const DEFAULT_DAYS: u32 = 30;
/// The longest range shown at once (3 years).
const MAX_DAYS: u32 = 3 * 365 + 1;
/// Products with their own line in the daily chart.
const TOP_SERIES: usize = 5;
/// Rows per table on the page (the CSV has them all).
const TABLE_ROWS: usize = 50;
/// Bars per bar chart.
const BAR_ROWS: usize = 15;

/// Answers requests below `/admin/stats`.
pub fn route(ctx: &Ctx<'_>, page: &Page<'_>) -> PageResult {
    match (page.post, page.rest().as_slice()) {
        (false, []) => stats(ctx, &page.form),
        (false, ["csv"]) => csv(ctx, &page.form),
        _ => Ok(ctx.not_found("There is no such stats page.")),
    }
}

/// A range of days (since the Unix epoch), both ends included.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Range {
    from: u32,
    to: u32,
}

impl Range {
    fn days(self) -> u32 {
        self.to - self.from + 1
    }
}

/// The range a request asks for, or what is wrong with its parameters.
fn range(form: &Form, today: u32) -> Result<Range, String> {
    let (from, to) = (form.opt("from"), form.opt("to"));
    if from.is_some() || to.is_some() {
        let (Some(from), Some(to)) = (from, to) else {
            return Err(
                "Give both from and to (YYYY-MM-DD), or choose a number of days.".to_string(),
            );
        };
        let (first, last) = (parse_date("from", from)?, parse_date("to", to)?);
        if first > last {
            return Err(format!(
                "The range starts ({from}) after it ends ({to}): swap from and to."
            ));
        }
        let days = last - first + 1;
        if days > MAX_DAYS {
            return Err(format!(
                "From {from} to {to} is {days} days; at most {MAX_DAYS} days (3 years) are shown at once. Choose a shorter range."
            ));
        }
        return Ok(Range {
            from: first,
            to: last,
        });
    }
    let days = match form.opt("days") {
        None => DEFAULT_DAYS,
        Some(d) => d
            .parse()
            .ok()
            .filter(|d| PRESETS.contains(d))
            .ok_or_else(|| {
                format!(
                    "The number of days must be 7, 30, 90 or 365, not {d:?}; for any other range give from and to (YYYY-MM-DD)."
                )
            })?,
    };
    Ok(Range {
        from: today.saturating_sub(days - 1),
        to: today,
    })
}

/// The day (since the Unix epoch) of a `YYYY-MM-DD` date from 1970 on.
fn parse_date(what: &str, s: &str) -> Result<u32, String> {
    let bad = || format!("{what} {s:?} is not a date: use YYYY-MM-DD, e.g. 2026-01-31.");
    let b = s.as_bytes();
    if b.len() != 10
        || b[4] != b'-'
        || b[7] != b'-'
        || !b
            .iter()
            .enumerate()
            .all(|(i, c)| i == 4 || i == 7 || c.is_ascii_digit())
    {
        return Err(bad());
    }
    let num = |r: std::ops::Range<usize>| -> u32 { s[r].parse().unwrap_or(0) };
    let (y, m, d) = (num(0..4), num(5..7), num(8..10));
    if y < 1970 {
        return Err(format!(
            "{what} {s:?} is before 1970: there are no downloads before then."
        ));
    }
    let leap = y % 4 == 0 && (y % 100 != 0 || y % 400 == 0);
    let month_days = match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return Err(bad()),
    };
    if d == 0 || d > month_days {
        return Err(bad());
    }
    Ok(crate::model::days_from_civil(y, m, d))
}

/// `YYYY-MM-DD` of a day since the Unix epoch.
fn date(day: u32) -> String {
    let mut s = crate::model::utc(u64::from(day) * 86_400);
    s.truncate(10);
    s
}

/// A breakdown of the downloads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum By {
    Day,
    Product,
    Mirror,
    Language,
    Country,
    Location,
}

impl By {
    const ALL: [By; 6] = [
        By::Day,
        By::Product,
        By::Mirror,
        By::Language,
        By::Country,
        By::Location,
    ];

    fn parse(s: &str) -> Option<By> {
        By::ALL.into_iter().find(|b| b.as_str() == s)
    }

    fn as_str(self) -> &'static str {
        match self {
            By::Day => "day",
            By::Product => "product",
            By::Mirror => "mirror",
            By::Language => "language",
            By::Country => "country",
            By::Location => "location",
        }
    }

    /// The columns that name a row (CSV header names).
    fn columns(self) -> &'static [&'static str] {
        match self {
            By::Day => &["date"],
            By::Product => &["product"],
            By::Mirror => &["mirror"],
            By::Language => &["language"],
            By::Country => &["country"],
            By::Location => &["product", "os", "language"],
        }
    }

    /// Whether a product filter narrows this breakdown (the counters keep
    /// mirrors and countries for all products together).
    fn filtered(self) -> bool {
        matches!(self, By::Day | By::Product | By::Language | By::Location)
    }

    /// Whether the page shows this breakdown with `product` chosen (the
    /// by-product table of one product says nothing).
    fn shown(self, product: Option<&Product>) -> bool {
        product.is_none() || (self.filtered() && self != By::Product)
    }
}

/// One row of a breakdown.
struct Row {
    /// The naming columns.
    cells: Vec<String>,
    /// Where the first cell links to.
    link: Option<String>,
    /// Downloads.
    n: u64,
}

/// The downloads of `product` alone: its days, locations and languages
/// (mirrors and countries are not counted per product, so they are left
/// empty).
fn narrowed(c: &Counts, s: &Snapshot, product: &Product) -> Counts {
    let own: std::collections::HashSet<LocationId> = s
        .locations
        .iter()
        .filter(|l| l.product == product.id)
        .map(|l| l.id)
        .collect();
    let mut out = Counts::default();
    for (&(id, day), &n) in &c.by_product_day {
        if id == product.id && n > 0 {
            out.by_product_day.insert((id, day), n);
            *out.by_day.entry(day).or_default() += n;
            out.total += n;
        }
    }
    if let Some(&n) = c.by_product.get(&product.id) {
        out.by_product.insert(product.id, n);
    }
    for ((id, lang), &n) in &c.by_location {
        if own.contains(id) {
            out.by_location.insert((*id, lang.clone()), n);
            *out.by_language.entry(lang.clone()).or_default() += n;
        }
    }
    out
}

/// How many systems (OS) of `product` were downloaded in `c`: one map
/// from the product's locations to their OS, then one look-up per counted
/// location.
fn systems_downloaded(c: &Counts, s: &Snapshot, product: &Product) -> usize {
    let os: HashMap<LocationId, &str> = s
        .locations
        .iter()
        .filter(|l| l.product == product.id)
        .map(|l| (l.id, l.os.as_str()))
        .collect();
    let downloaded: std::collections::HashSet<&str> = c
        .by_location
        .iter()
        .filter(|(_, n)| **n > 0)
        .filter_map(|((id, _), _)| os.get(id).copied())
        .collect();
    downloaded.len()
}

/// The rows of a breakdown: days in date order (every day, zero-filled),
/// everything else by downloads, most first.
fn rows(by: By, s: &Snapshot, c: &Counts, range: Range, product: Option<&Product>) -> Vec<Row> {
    let product_name = |id| {
        s.product_by_id(id)
            .map_or_else(|| format!("(removed product #{id})"), |p| p.name.clone())
    };
    let mut rows: Vec<Row> = match by {
        By::Day => {
            return (range.from..=range.to)
                .map(|d| Row {
                    cells: vec![date(d)],
                    link: None,
                    n: match product {
                        Some(p) => c.by_product_day.get(&(p.id, d)),
                        None => c.by_day.get(&d),
                    }
                    .copied()
                    .unwrap_or(0),
                })
                .collect();
        }
        By::Product => c
            .by_product
            .iter()
            .map(|(id, n)| Row {
                cells: vec![product_name(*id)],
                link: s
                    .product_by_id(*id)
                    .map(|p| format!("/admin/products/{}", seg(&p.name))),
                n: *n,
            })
            .collect(),
        By::Mirror => {
            let mirrors: HashMap<_, _> = s.mirrors.iter().map(|m| (m.id, m)).collect();
            c.by_mirror
                .iter()
                .map(|(id, n)| {
                    let m = mirrors.get(id);
                    Row {
                        cells: vec![
                            m.map_or_else(|| format!("(removed mirror #{id})"), |m| m.name.clone()),
                        ],
                        link: m.map(|m| format!("/admin/mirrors/{}", seg(&m.name))),
                        n: *n,
                    }
                })
                .collect()
        }
        By::Language => c
            .by_language
            .iter()
            .map(|(lang, n)| Row {
                cells: vec![language(lang)],
                link: None,
                n: *n,
            })
            .collect(),
        By::Country => c
            .by_country
            .iter()
            .map(|(country, n)| Row {
                cells: vec![if country == "--" {
                    "unknown".to_string()
                } else {
                    country.clone()
                }],
                link: None,
                n: *n,
            })
            .collect(),
        By::Location => {
            let locations: HashMap<LocationId, _> = s.locations.iter().map(|l| (l.id, l)).collect();
            c.by_location
                .iter()
                .filter_map(|((id, lang), n)| {
                    let l = locations.get(id);
                    if let Some(p) = product
                        && l.is_none_or(|l| l.product != p.id)
                    {
                        return None;
                    }
                    let (name, os) = match l {
                        Some(l) => (product_name(l.product), l.os.clone()),
                        None => (format!("(removed location #{id})"), String::new()),
                    };
                    Some(Row {
                        link: l
                            .and_then(|l| s.product_by_id(l.product))
                            .map(|p| format!("/admin/availability?product={}", seg(&p.name))),
                        cells: vec![name, os, language(lang)],
                        n: *n,
                    })
                })
                .collect()
        }
    };
    rows.retain(|r| r.n > 0);
    rows.sort_by(|a, b| b.n.cmp(&a.n).then_with(|| a.cells.cmp(&b.cells)));
    rows
}

fn language(lang: &str) -> String {
    if lang.is_empty() {
        "(none)".to_string()
    } else {
        lang.to_string()
    }
}

/// `n` as a percentage of `total`, one decimal.
fn share(n: u64, total: u64, decimals: usize) -> String {
    if total == 0 {
        String::new()
    } else {
        format!("{:.*}", decimals, n as f64 * 100.0 / total as f64)
    }
}

/// The stats page, or the form with what is wrong with its parameters.
fn stats(ctx: &Ctx<'_>, form: &Form) -> PageResult {
    let s = ctx.network().snapshot()?;
    let today = crate::model::day_of(crate::model::now());
    let asked = range(form, today).and_then(|r| Ok((r, product(&s, form)?)));
    let (range, product) = match asked {
        Ok(x) => x,
        Err(e) => return Ok(refused(ctx, form, &e)),
    };
    let counts = ctx.network().store().counts(range.from, range.to)?;
    // With a product, every figure below is that product's alone.
    let counts = match product {
        Some(p) => narrowed(&counts, &s, p),
        None => counts,
    };
    let from = date(range.from);
    let to = date(range.to);
    let product_name = product.map_or("", |p| p.name.as_str());

    // The daily chart: the top products and the rest, or one product.
    let days: Vec<u32> = (range.from..=range.to).collect();
    let per_day = |f: &dyn Fn(u32) -> u64| -> Vec<u64> { days.iter().map(|&d| f(d)).collect() };
    let mut lines: Vec<(String, Vec<u64>)> = Vec::new();
    match product {
        Some(p) => lines.push((
            p.name.clone(),
            per_day(&|d| counts.by_product_day.get(&(p.id, d)).copied().unwrap_or(0)),
        )),
        None => {
            let mut ranked: Vec<_> = counts.by_product.iter().filter(|(_, n)| **n > 0).collect();
            ranked.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
            let top: Vec<_> = ranked.iter().take(TOP_SERIES).map(|(id, _)| **id).collect();
            for id in &top {
                let name = s
                    .product_by_id(*id)
                    .map_or_else(|| format!("(removed product #{id})"), |p| p.name.clone());
                lines.push((
                    name,
                    per_day(&|d| counts.by_product_day.get(&(*id, d)).copied().unwrap_or(0)),
                ));
            }
            if ranked.len() > TOP_SERIES {
                lines.push((
                    "other products".to_string(),
                    per_day(&|d| {
                        let all = counts.by_day.get(&d).copied().unwrap_or(0);
                        let shown: u64 = top
                            .iter()
                            .map(|id| counts.by_product_day.get(&(*id, d)).copied().unwrap_or(0))
                            .sum();
                        all.saturating_sub(shown)
                    }),
                ));
            }
            if lines.is_empty() {
                lines.push(("Downloads".to_string(), per_day(&|_| 0)));
            }
        }
    }
    let series: Vec<Series<'_>> = lines
        .iter()
        .map(|(label, points)| Series { label, points })
        .collect();
    let busiest = counts
        .by_day
        .iter()
        .max_by(|a, b| a.1.cmp(b.1).then(b.0.cmp(a.0)));

    let csv_link = |by: By| {
        let p = if by.filtered() { product_name } else { "" };
        format!(
            "/admin/stats/csv{}",
            page::query(&[
                ("by", by.as_str()),
                ("from", &from),
                ("to", &to),
                ("product", p)
            ])
        )
    };
    let products = counts.by_product.values().filter(|n| **n > 0).count();
    let mirrors = counts.by_mirror.values().filter(|n| **n > 0).count();
    // Only a product's page shows its systems.
    let systems = product.map(|p| systems_downloaded(&counts, &s, p));
    let languages = counts.by_language.values().filter(|n| **n > 0).count();
    let body = html! {
        (header(form, product_name, &from, &to, None))
        div.cards {
            div.stat {
                span.value { (thousands(counts.total)) }
                span.label { @if counts.total == 1 { "download" } @else { "downloads" } }
            }
            div.stat { span.value { (chart::per_day(counts.total, range.days())) } span.label { "per day on average" } }
            div.stat {
                span.value { (busiest.map_or_else(|| "–".to_string(), |(_, n)| thousands(*n))) }
                span.label {
                    "busiest day"
                    @if let Some((d, _)) = busiest { ", " time datetime=(date(*d)) { (date(*d)) } }
                }
            }
            @if let Some(systems) = systems {
                div.stat {
                    span.value { (systems) }
                    span.label { @if systems == 1 { "system downloaded" } @else { "systems downloaded" } }
                }
                div.stat {
                    span.value { (languages) }
                    span.label { @if languages == 1 { "language downloaded" } @else { "languages downloaded" } }
                }
            } @else {
                div.stat {
                    span.value { (products) }
                    span.label { @if products == 1 { "product downloaded" } @else { "products downloaded" } }
                }
                div.stat {
                    span.value { (mirrors) }
                    span.label { @if mirrors == 1 { "mirror used" } @else { "mirrors used" } }
                }
            }
        }
        @if let Some(p) = product {
            p.notice role="note" {
                "Every figure on this page is for " strong { (p.name) } " alone. "
                "Downloads by mirror and by country are counted for all products together: "
                a href={ "/admin/stats" (page::query(&[("from", &from), ("to", &to)])) } { "see them for all products" } "."
            }
        }
        section.card {
            h2 {
                "Downloads per day"
                @if let Some(p) = product { " of " (p.name) }
            }
            div.chart { (chart::daily(&days, &series, &format!("Downloads per day, {from} to {to}"))) }
            p.muted {
                @if product.is_some() {
                    "One product. " a href={ "/admin/stats" (page::query(&[("from", &from), ("to", &to)])) } { "All products" }
                } @else {
                    "One line for each of the five most downloaded products; any others together as “other products”."
                }
            }
        }
        p {
            "Download as CSV: "
            @for (i, by) in By::ALL.iter().filter(|b| b.shown(product)).enumerate() {
                @if i > 0 { " · " }
                a href=(csv_link(*by)) { "by " (by.as_str()) }
            }
        }
        @for by in By::ALL[1..].iter().filter(|b| b.shown(product)) {
            (breakdown(*by, &rows(*by, &s, &counts, range, product), &csv_link(*by), product))
        }
    };
    Ok(ctx.page("stats", "Stats", body))
}

/// The product a request narrows to, if any.
fn product<'a>(s: &'a Snapshot, form: &Form) -> Result<Option<&'a Product>, String> {
    match form.opt("product") {
        None => Ok(None),
        Some(name) => s.product(name).map(Some).ok_or_else(|| {
            format!("There is no product named {name:?}. Leave the product empty to see them all.")
        }),
    }
}

/// The title, the range links and the range form.
fn header(form: &Form, product: &str, from: &str, to: &str, error: Option<&str>) -> Markup {
    let explicit = form.opt("from").is_some() || form.opt("to").is_some();
    let current = if explicit || error.is_some() {
        None
    } else {
        Some(
            form.opt("days")
                .map_or(DEFAULT_DAYS, |d| d.parse().unwrap_or(0)),
        )
    };
    html! {
        div.toolbar {
            h1 { "Downloads" }
            @if error.is_none() { span.muted { (from) " to " (to) " (UTC)" } }
        }
        (page::error(error))
        p {
            "Last "
            @for (i, days) in PRESETS.iter().enumerate() {
                @if i > 0 { " · " }
                @if current == Some(*days) {
                    strong { (days) " days" }
                } @else {
                    a href={ "/admin/stats" (page::query(&[("days", &days.to_string()), ("product", product)])) } { (days) " days" }
                }
            }
        }
        section.card {
            form.stack method="get" action="/admin/stats" {
                (field("From", "from", from, Some("YYYY-MM-DD (UTC)")))
                (field("To", "to", to, Some("YYYY-MM-DD, at most 3 years after from")))
                (field("Product", "product", product, Some("optional: every figure is then for this product alone")))
                div { button.primary type="submit" { "Show" } }
            }
        }
    }
}

/// The page with the form as entered and what is wrong (422).
fn refused(ctx: &Ctx<'_>, form: &Form, error: &str) -> Reply {
    let body = header(
        form,
        form.get("product"),
        form.get("from"),
        form.get("to"),
        Some(error),
    );
    ctx.page_status(StatusCode::UNPROCESSABLE_ENTITY, "stats", "Stats", body)
}

/// A breakdown as a bar chart and a table.
fn breakdown(by: By, rows: &[Row], csv: &str, product: Option<&Product>) -> Markup {
    let total: u64 = rows.iter().map(|r| r.n).sum();
    let labels: Vec<String> = rows
        .iter()
        .take(BAR_ROWS)
        .map(|r| r.cells.join(" "))
        .collect();
    let items: Vec<(&str, u64)> = labels
        .iter()
        .zip(rows)
        .map(|(l, r)| (l.as_str(), r.n))
        .collect();
    let title = format!("Downloads by {}", by.as_str());
    html! {
        section {
            h2 {
                "By " (by.as_str())
                @if let Some(p) = product.filter(|_| by.filtered()) { " (" (p.name) " only)" }
            }
            @if rows.is_empty() {
                p.muted { "No downloads in this range." }
            } @else {
                div.columns {
                    div.chart { (chart::bars(&items, &title)) }
                    div.scroll { table {
                        thead { tr {
                            @for c in by.columns() { th { (heading(c)) } }
                            th.num { "Downloads" } th.num { "Share" }
                        } }
                        tbody {
                            @for r in rows.iter().take(TABLE_ROWS) {
                                tr {
                                    @for (i, c) in r.cells.iter().enumerate() {
                                        td {
                                            @match r.link.as_deref().filter(|_| i == 0) {
                                                Some(href) => a href=(href) { (c) },
                                                None => (c),
                                            }
                                        }
                                    }
                                    td.num { (thousands(r.n)) }
                                    td.num { (share(r.n, total, 1)) " %" }
                                }
                            }
                        }
                    } }
                }
                @if rows.len() > TABLE_ROWS {
                    p.muted { (page::plural(rows.len() - TABLE_ROWS, "more row", "more rows")) " in the " a href=(csv) { "CSV" } "." }
                }
            }
        }
    }
}

/// A column's heading on the page.
fn heading(column: &str) -> &'static str {
    match column {
        "date" => "Day",
        "product" => "Product",
        "mirror" => "Mirror",
        "language" => "Language",
        "country" => "Country",
        "os" => "OS",
        _ => "",
    }
}

/// `GET /admin/stats/csv`.
fn csv(ctx: &Ctx<'_>, form: &Form) -> PageResult {
    let Some(by) = By::parse(form.get("by")) else {
        return Ok(refused(
            ctx,
            form,
            &format!(
                "The breakdown (by) must be one of day, product, mirror, language, country or location, not {:?}.",
                form.get("by")
            ),
        ));
    };
    let s = ctx.network().snapshot()?;
    let today = crate::model::day_of(crate::model::now());
    let (range, product) = match range(form, today).and_then(|r| Ok((r, product(&s, form)?))) {
        Ok(x) => x,
        Err(e) => return Ok(refused(ctx, form, &e)),
    };
    let counts = ctx.network().store().counts(range.from, range.to)?;
    let product = product.filter(|_| by.filtered());
    let counts = match product {
        Some(p) => narrowed(&counts, &s, p),
        None => counts,
    };
    let rows = rows(by, &s, &counts, range, product);
    let text = csv_text(by, &rows);
    let mut reply = crate::http::with_type(StatusCode::OK, "text/csv; charset=utf-8", text);
    let headers = reply.headers_mut();
    // Only fixed words and dates: always a valid header value.
    if let Ok(v) = HeaderValue::from_str(&format!(
        "attachment; filename=\"bouncer-downloads-{}-{}-{}.csv\"",
        by.as_str(),
        date(range.from),
        date(range.to)
    )) {
        headers.insert(CONTENT_DISPOSITION, v);
    }
    Ok(reply)
}

/// The CSV of a breakdown: a header row, then one line per row.
fn csv_text(by: By, rows: &[Row]) -> String {
    let total: u64 = rows.iter().map(|r| r.n).sum();
    let mut header: Vec<&str> = by.columns().to_vec();
    header.push("downloads");
    if by != By::Day {
        header.push("share_percent");
    }
    let mut out = csv_line(header.iter().copied());
    for r in rows {
        let n = r.n.to_string();
        let pct = share(r.n, total, 2);
        let extra: &[&str] = if by == By::Day { &[&n] } else { &[&n, &pct] };
        out.push_str(&csv_line(
            r.cells
                .iter()
                .map(String::as_str)
                .chain(extra.iter().copied()),
        ));
    }
    out
}

/// One CSV record ending in CRLF (RFC 4180).
fn csv_line<'a>(fields: impl Iterator<Item = &'a str>) -> String {
    let mut line = String::new();
    for (i, f) in fields.enumerate() {
        if i > 0 {
            line.push(',');
        }
        line.push_str(&csv_field(f));
    }
    line.push_str("\r\n");
    line
}

/// A CSV field: a value that a spreadsheet would run as a formula (it
/// starts with `=`, `+`, `-`, `@`, a tab or a carriage return) gets a
/// leading apostrophe; a field with a comma, quote or line break is quoted,
/// its quotes doubled.
fn csv_field(value: &str) -> Cow<'_, str> {
    let value: Cow<'_, str> = if value.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        Cow::Owned(format!("'{value}"))
    } else {
        Cow::Borrowed(value)
    };
    if value.contains([',', '"', '\n', '\r']) {
        Cow::Owned(format!("\"{}\"", value.replace('"', "\"\"")))
    } else {
        value
    }
}

#[cfg(test)]
mod tests {
    use hyper::StatusCode;
    use hyper::header::{CONTENT_DISPOSITION, CONTENT_TYPE};

    use super::*;
    use crate::admin::Admin;
    use crate::admin::testing::*;
    use crate::model::{CountBatch, MirrorId, ProductId, Role};
    use crate::store::NewProduct;

    fn today() -> u32 {
        crate::model::day_of(crate::model::now())
    }

    #[test]
    fn averages_keep_a_decimal_below_ten() {
        assert_eq!(chart::per_day(12, 30), "0.4");
        assert_eq!(chart::per_day(99, 10), "9.9");
        assert_eq!(chart::per_day(996, 100), "10");
        assert_eq!(chart::per_day(100, 7), "14");
        assert_eq!(chart::per_day(12_345_678, 1), "12,345,678");
        assert_eq!(chart::per_day(0, 30), "0");
        assert_eq!(chart::per_day(1, 365), "< 0.1");
    }

    fn product(admin: &Admin, name: &str) -> ProductId {
        admin
            .network
            .write(&crate::model::Actor::Program("test"), |tx| {
                tx.product_add(NewProduct {
                    name: name.into(),
                    ..NewProduct::default()
                })
            })
            .unwrap()
            .id
    }

    /// The stats page for the days `from..=to`.
    fn between(admin: &Admin, who: &Login, from: u32, to: u32) -> String {
        let path = format!("/admin/stats?from={}&to={}", date(from), date(to));
        body(get(admin, who, &path))
    }

    fn mirror(admin: &Admin, name: &str) -> MirrorId {
        crate::admin::testing::add_rated_mirror(admin, name, 10, false)
    }

    /// firefox (win/de, linux/none) and thunderbird over three days, two
    /// mirrors, three countries; plus old downloads outside every range.
    fn network() -> (tempfile::TempDir, Admin, Login) {
        let (dir, admin) = admin();
        let ann = login(&admin, "ann", Role::Viewer);
        let ff = product(&admin, "firefox");
        let tb = product(&admin, "thunderbird");
        let (m1, m2) = (mirror(&admin, "m1"), mirror(&admin, "m2"));
        let (win, linux) = admin
            .network
            .write(&crate::model::Actor::Program("test"), |tx| {
                Ok((
                    tx.location_add("firefox", "win", "/ff/:lang/setup.exe")?.id,
                    tx.location_add("firefox", "linux", "/ff/ff.tar.xz")?.id,
                ))
            })
            .unwrap();
        let tbwin = admin
            .network
            .write(&crate::model::Actor::Program("test"), |tx| {
                tx.location_add("thunderbird", "win", "/tb.exe")
            })
            .unwrap()
            .id;
        let t = today();
        let store = admin.network.store();
        // day: (ff, tb)
        for (day, f, b) in [
            (t - 2, 10, 0),
            (t - 1, 20, 5),
            (t, 30, 35),
            (t - 400, 999, 999),
        ] {
            store
                .add_counts(&CountBatch {
                    day,
                    products: vec![(ff, f), (tb, b)],
                    locations: vec![
                        (win, "de".into(), f / 2),
                        (linux, String::new(), f - f / 2),
                        (tbwin, String::new(), b),
                    ],
                    mirrors: vec![(m1, f), (m2, b)],
                    countries: vec![
                        ("DE".into(), f),
                        ("FR".into(), b / 2),
                        ("--".into(), b - b / 2),
                    ],
                })
                .unwrap();
        }
        (dir, admin, ann)
    }

    #[test]
    fn numbers_for_known_counts() {
        let (_dir, admin, ann) = network();
        let r = get(&admin, &ann, "/admin/stats?days=7");
        assert_eq!(r.status(), StatusCode::OK);
        let page = body(r);
        // 60 + 40 downloads; busiest day is today with 65.
        assert!(
            page.contains(r#"<span class="value">100</span><span class="label">downloads</span>"#),
            "{page}"
        );
        assert!(
            page.contains(r#"<span class="value">14</span><span class="label">per day on average"#)
        );
        let day = date(today());
        assert!(
            page.contains(&format!(
                r#"<span class="value">65</span><span class="label">busiest day, <time datetime="{day}">{day}</time></span>"#
            )),
            "{page}"
        );
        assert!(page.contains("<th>OS</th>"), "{page}");
        // Products, most first, with share; linked.
        let ff = page.find(r#"<a href="/admin/products/firefox">firefox</a></td><td class="num">60</td><td class="num">60.0 %</td>"#);
        let tb = page.find(r#"<a href="/admin/products/thunderbird">thunderbird</a></td><td class="num">40</td><td class="num">40.0 %</td>"#);
        assert!(ff.unwrap() < tb.unwrap());
        // Mirrors, languages, countries, locations.
        assert!(page.contains(r#"<a href="/admin/mirrors/m1">m1</a></td><td class="num">60</td>"#));
        assert!(
            page.contains(r#"<td>(none)</td><td class="num">70</td><td class="num">70.0 %</td>"#)
        );
        assert!(page.contains(r#"<td>de</td><td class="num">30</td>"#));
        assert!(page.contains(r#"<td>DE</td><td class="num">60</td>"#));
        assert!(page.contains(r#"<td>unknown</td><td class="num">21</td>"#));
        assert!(page.contains(r#"<td>FR</td><td class="num">19</td>"#));
        assert!(
            page.contains(
                r#"firefox</a></td><td>linux</td><td>(none)</td><td class="num">30</td>"#
            )
        );
        // The daily chart: one line per product, seven days each.
        assert_eq!(page.matches("<circle").count(), 14);
        assert!(page.contains(&format!(
            "<title>{}: 35 (thunderbird)</title>",
            date(today())
        )));
        // CSV links with the resolved range.
        assert!(page.contains(&format!(
            "/admin/stats/csv?by=country&amp;from={}&amp;to={}",
            date(today() - 6),
            date(today())
        )));

        // An explicit range of two days.
        let page = between(&admin, &ann, today() - 2, today() - 1);
        assert!(
            page.contains(r#"<span class="value">35</span><span class="label">downloads</span>"#)
        );
        assert_eq!(page.matches("<circle").count(), 4);
        // The default range includes the old downloads only when asked.
        let page = body(get(&admin, &ann, "/admin/stats?days=365"));
        assert!(
            page.contains(r#"<span class="value">100</span><span class="label">downloads</span>"#)
        );
        let page = between(&admin, &ann, today() - 400, today());
        assert!(
            page.contains(
                r#"<span class="value">2,098</span><span class="label">downloads</span>"#
            )
        );
    }

    #[test]
    fn a_product_narrows_the_chart_and_locations() {
        let (_dir, admin, ann) = network();
        let page = body(get(&admin, &ann, "/admin/stats?days=7&product=Thunderbird"));
        assert_eq!(page.matches("<circle").count(), 7, "one line");
        assert!(page.contains(&format!("<title>{}: 35</title>", date(today()))));
        assert!(page.contains("By location (thunderbird only)"));
        assert!(!page.contains(r#"<td>linux</td>"#));
        assert!(page.contains("by=day&amp;from="));
        assert!(page.contains("&amp;product=thunderbird"));
        let r = get(&admin, &ann, "/admin/stats?product=nope");
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
        assert!(body(r).contains("There is no product named &quot;nope&quot;"));
    }

    /// Systems are counted per product, once per OS, and only where the
    /// product was downloaded (counts of every product mixed in).
    #[test]
    fn systems_count_the_products_own_downloaded_oses() {
        let (_dir, admin, _ann) = network();
        let s = admin.network.snapshot().unwrap();
        let named = |name: &str| s.products.iter().find(|p| p.name == name).unwrap();
        let store = admin.network.store();
        let t = today();
        let all = store.counts(t - 2, t).unwrap();
        assert_eq!(systems_downloaded(&all, &s, named("firefox")), 2);
        // thunderbird's win only: firefox's win and linux are not its own.
        assert_eq!(systems_downloaded(&all, &s, named("thunderbird")), 1);
        // Two days ago thunderbird had no downloads (a 0 row).
        let quiet = store.counts(t - 2, t - 2).unwrap();
        assert_eq!(systems_downloaded(&quiet, &s, named("thunderbird")), 0);
        assert_eq!(systems_downloaded(&quiet, &s, named("firefox")), 2);
    }

    /// With a product every figure is that product's: the cards, the
    /// languages and locations; mirrors and countries (not counted per
    /// product) are not shown as if they were.
    #[test]
    fn a_product_narrows_every_figure() {
        let (_dir, admin, ann) = network();
        let card = |page: &str, value: &str, label: &str| {
            assert!(
                page.contains(&format!(
                    r#"<span class="value">{value}</span><span class="label">{label}"#
                )),
                "{value} {label}: {page}"
            );
        };
        let page = body(get(&admin, &ann, "/admin/stats?days=7&product=firefox"));
        // firefox alone: 10 + 20 + 30, busiest today with 30.
        card(&page, "60", "downloads</span>");
        card(&page, "8.6", "per day on average");
        card(&page, "30", "busiest day");
        card(&page, "2", "systems downloaded");
        card(&page, "2", "languages downloaded");
        assert!(!page.contains("products downloaded"));
        assert!(!page.contains("mirrors used"));
        // Languages of firefox only: de 30, none 30 (thunderbird's 40
        // downloads without a language are not counted).
        assert!(page.contains("By language (firefox only)"), "{page}");
        assert!(
            page.contains(r#"<td>(none)</td><td class="num">30</td><td class="num">50.0 %</td>"#),
            "{page}"
        );
        assert!(page.contains(r#"<td>de</td><td class="num">30</td><td class="num">50.0 %</td>"#));
        assert!(!page.contains("By mirror"));
        assert!(!page.contains("By country"));
        assert!(!page.contains("By product"));
        assert!(page.contains("Every figure on this page is for <strong>firefox</strong> alone."));
        assert!(!page.contains("by=mirror"));
        // The CSV by language follows the product too.
        let csv = body(get(
            &admin,
            &ann,
            "/admin/stats/csv?by=language&days=7&product=firefox",
        ));
        assert!(csv.contains("de,30,50.00\r\n"), "{csv}");
        // Without a product, all of it.
        let page = body(get(&admin, &ann, "/admin/stats?days=7"));
        card(&page, "100", "downloads</span>");
        card(&page, "2", "products downloaded");
        card(&page, "2", "mirrors used");
        assert!(page.contains("By mirror"));
    }

    #[test]
    fn bad_dates_are_refused_with_a_reason() {
        let (_dir, admin, ann) = network();
        for (q, says) in [
            ("days=8", "The number of days must be 7, 30, 90 or 365"),
            ("days=x", "The number of days must be 7, 30, 90 or 365"),
            (
                "from=2026-02-30&to=2026-03-01",
                "is not a date: use YYYY-MM-DD",
            ),
            ("from=2026-13-01&to=2026-12-01", "is not a date"),
            ("from=26-01-01&to=2026-01-02", "is not a date"),
            ("from=2026-1-01&to=2026-01-02", "is not a date"),
            ("from=1969-12-31&to=1970-01-02", "before 1970"),
            ("from=2026-01-05&to=2026-01-01", "swap from and to"),
            ("from=2026-01-05", "Give both from and to"),
            ("to=2026-01-05", "Give both from and to"),
            (
                "from=2020-01-01&to=2023-01-02",
                "at most 1096 days (3 years)",
            ),
            (
                "from=%3Cscript%3E&to=2026-01-01",
                "&quot;&lt;script&gt;&quot; is not a date",
            ),
        ] {
            let r = get(&admin, &ann, &format!("/admin/stats?{q}"));
            assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY, "{q}");
            let page = body(r);
            assert!(page.contains(says), "{q}: {page}");
            assert!(!page.contains("<script>"), "{q}");
            let r = get(&admin, &ann, &format!("/admin/stats/csv?by=day&{q}"));
            assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY, "csv {q}");
        }
        // Exactly three years (with a leap day) is fine.
        let r = get(&admin, &ann, "/admin/stats?from=2020-01-01&to=2022-12-31");
        assert_eq!(r.status(), StatusCode::OK);
        // What was typed is kept.
        let page = body(get(
            &admin,
            &ann,
            "/admin/stats?from=2026-01-05&to=2026-01-01",
        ));
        assert!(page.contains(r#"name="from" value="2026-01-05""#));
    }

    #[test]
    fn dates_convert_both_ways() {
        for (s, day) in [
            ("1970-01-01", 0),
            ("2000-02-29", 11_016),
            ("2026-11-20", 20_777),
            ("9999-12-31", 2_932_896),
        ] {
            assert_eq!(parse_date("d", s), Ok(day), "{s}");
            assert_eq!(date(day), s);
        }
        assert!(parse_date("d", "2100-02-29").is_err());
        assert!(parse_date("d", "2000-00-10").is_err());
        assert!(parse_date("d", "2000-01-00").is_err());
        assert!(parse_date("d", "２０００-01-01").is_err());
        assert!(parse_date("d", "+200-01-01").is_err());
    }

    #[test]
    fn csv_exports() {
        let (_dir, admin, ann) = network();
        let (from, to) = (date(today() - 6), date(today()));
        let r = get(
            &admin,
            &ann,
            &format!("/admin/stats/csv?by=product&from={from}&to={to}"),
        );
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(r.headers()[CONTENT_TYPE], "text/csv; charset=utf-8");
        assert_eq!(
            r.headers()[CONTENT_DISPOSITION].to_str().unwrap(),
            format!("attachment; filename=\"bouncer-downloads-product-{from}-{to}.csv\"")
        );
        assert_eq!(
            body(r),
            "product,downloads,share_percent\r\nfirefox,60,60.00\r\nthunderbird,40,40.00\r\n"
        );
        // Days are every day, in order, zero-filled.
        let r = get(&admin, &ann, "/admin/stats/csv?by=day&days=7");
        assert!(
            r.headers()[CONTENT_DISPOSITION]
                .to_str()
                .unwrap()
                .contains(&format!("bouncer-downloads-day-{from}-{to}.csv"))
        );
        let text = body(r);
        let lines: Vec<&str> = text.split("\r\n").collect();
        assert_eq!(lines.len(), 9, "{text}");
        assert_eq!(lines[0], "date,downloads");
        assert_eq!(lines[1], format!("{from},0"));
        assert_eq!(lines[7], format!("{to},65"));
        let text = body(get(
            &admin,
            &ann,
            "/admin/stats/csv?by=day&days=7&product=firefox",
        ));
        assert!(text.ends_with(&format!("{to},30\r\n")));
        let text = body(get(&admin, &ann, "/admin/stats/csv?by=location&days=7"));
        assert!(text.starts_with("product,os,language,downloads,share_percent\r\n"));
        assert!(text.contains("firefox,linux,(none),30,30.00\r\n"));
        let text = body(get(&admin, &ann, "/admin/stats/csv?by=country&days=7"));
        assert!(text.contains("unknown,21,21.00\r\n"));
        for by in ["mirror", "language"] {
            let r = get(&admin, &ann, &format!("/admin/stats/csv?by={by}"));
            assert_eq!(r.status(), StatusCode::OK, "{by}");
            assert!(body(r).starts_with(&format!("{by},downloads,share_percent\r\n")));
        }
        let r = get(&admin, &ann, "/admin/stats/csv?by=nonsense");
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
        assert!(body(r).contains("The breakdown (by) must be one of day, product"));
        assert_eq!(
            get(&admin, &ann, "/admin/stats/other").status(),
            StatusCode::NOT_FOUND
        );
    }

    #[test]
    fn csv_quoting_and_formula_protection() {
        for (field, written) in [
            ("plain", "plain"),
            ("", ""),
            ("a,b", "\"a,b\""),
            ("say \"hi\"", "\"say \"\"hi\"\"\""),
            ("two\nlines", "\"two\nlines\""),
            ("cr\rhere", "\"cr\rhere\""),
            ("=1+2", "'=1+2"),
            ("+1", "'+1"),
            ("-1", "'-1"),
            ("@SUM(A1)", "'@SUM(A1)"),
            ("\tx", "'\tx"),
            ("\rx", "\"'\rx\""),
        ] {
            assert_eq!(csv_field(field), written, "{field:?}");
        }
        assert_eq!(
            csv_field("=HYPERLINK(\"http://x\",\"y\")"),
            "\"'=HYPERLINK(\"\"http://x\"\",\"\"y\"\")\""
        );
        assert_eq!(csv_field("a=b"), "a=b");
        assert_eq!(
            csv_line(["a", "=b", "c,d"].into_iter()),
            "a,'=b,\"c,d\"\r\n"
        );

        // Through the page: hostile product and mirror names.
        let (_dir, admin) = admin();
        let ann = login(&admin, "ann", Role::Admin);
        let formula = "=HYPERLINK(\"http://evil\",\"x\")";
        let p = product(&admin, formula);
        let q = product(&admin, "@cmd|calc");
        let m = mirror(&admin, "-m,\"x\"");
        admin
            .network
            .store()
            .add_counts(&CountBatch {
                day: today(),
                products: vec![(p, 2), (q, 1)],
                mirrors: vec![(m, 3)],
                ..CountBatch::default()
            })
            .unwrap();
        let text = body(get(&admin, &ann, "/admin/stats/csv?by=product"));
        assert_eq!(
            text,
            "product,downloads,share_percent\r\n\"'=HYPERLINK(\"\"http://evil\"\",\"\"x\"\")\",2,66.67\r\n'@cmd|calc,1,33.33\r\n"
        );
        let text = body(get(&admin, &ann, "/admin/stats/csv?by=mirror"));
        assert_eq!(
            text,
            "mirror,downloads,share_percent\r\n\"'-m,\"\"x\"\"\",3,100.00\r\n"
        );
    }

    #[test]
    fn hostile_names_are_escaped_in_charts_and_tables() {
        let (_dir, admin) = admin();
        let ann = login(&admin, "ann", Role::Admin);
        let evil_product = "<script>alert(1)</script>";
        let evil_mirror = r#""><img/src=x/onerror=alert(1)>"#;
        let p = product(&admin, evil_product);
        let m = mirror(&admin, evil_mirror);
        let loc = admin
            .network
            .write(&crate::model::Actor::Program("test"), |tx| {
                tx.location_add(evil_product, "win", "/x.exe")
            })
            .unwrap()
            .id;
        admin
            .network
            .store()
            .add_counts(&CountBatch {
                day: today(),
                products: vec![(p, 4)],
                locations: vec![(loc, "de".into(), 4)],
                mirrors: vec![(m, 4)],
                countries: vec![("DE".into(), 4)],
            })
            .unwrap();
        for path in [
            "/admin/stats".to_string(),
            format!("/admin/stats?product={}", seg(evil_product)),
        ] {
            let r = get(&admin, &ann, &path);
            assert_eq!(r.status(), StatusCode::OK);
            let page = body(r);
            assert!(!page.contains("<script>alert"), "{page}");
            assert!(!page.contains("<img/src"));
            assert!(page.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
            // Products and mirrors are shown (in tables and the bar
            // charts' hover titles) only without a product.
            if !path.contains("product=") {
                assert!(page.contains("<title>&lt;script&gt;alert(1)&lt;/script&gt;: 4</title>"));
                assert!(page.contains("&quot;&gt;&lt;img/src=x/onerror=alert(1)&gt;"));
                assert!(page.contains(&format!(r#"href="/admin/mirrors/{}""#, seg(evil_mirror))));
            }
        }
        // A hostile filter that matches nothing is shown escaped.
        let page = body(get(
            &admin,
            &ann,
            &format!("/admin/stats?product={}", seg(evil_mirror)),
        ));
        assert!(!page.contains("<img/src"));
    }

    #[test]
    fn removed_things_keep_their_counts() {
        let (_dir, admin) = admin();
        let ann = login(&admin, "ann", Role::Admin);
        let p = product(&admin, "gone");
        admin
            .network
            .store()
            .add_counts(&CountBatch {
                day: today(),
                products: vec![(p, 4)],
                mirrors: vec![(MirrorId(77), 4)],
                ..CountBatch::default()
            })
            .unwrap();
        admin
            .network
            .write(&crate::model::Actor::Program("test"), |tx| {
                tx.product_remove("gone")
            })
            .unwrap();
        let page = body(get(&admin, &ann, "/admin/stats"));
        assert!(page.contains(&format!("(removed product #{p})")));
        assert!(page.contains("(removed mirror #77)"));
    }
}
