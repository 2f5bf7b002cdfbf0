//! Public page `/stats`: download trends of the public products, as
//! server-rendered SVG charts with totals and the change versus the
//! previous period of the same length.
//!
//! - `GET /stats?days=30|90|365` (default 30): one chart with the five most
//!   downloaded public products and "other public products" per day, then a
//!   table of every public product downloaded in the period or the one
//!   before, with both totals and the change.
//! - `GET /stats?product=NAME&days=…`: one product's chart, total, average
//!   per day, change, and downloads per operating system and language.
//!
//! Periods end today (UTC days, as counters record them) and include it;
//! the previous period is the same number of days right before. Only
//! products that are public and active count anywhere on this page: their
//! downloads alone make the totals and "other", so nothing about private or
//! inactive products can be read off it. A product that is not public and
//! active answers the same 404 as one that does not exist. Any other
//! `days` answers 422 with the valid choices.

use std::collections::{HashMap, HashSet};

use hyper::StatusCode;
use maud::{Markup, html};

use super::{PageResult, Public, Request, html as html_reply, page};
use crate::chart::{self, Series, thousands};
use crate::http::Reply;
use crate::model::{Product, ProductId};
use crate::store::{Counts, Snapshot};

/// The periods offered, in days up to and including today.
pub const PERIODS: [u32; 3] = [30, 90, 365];
/// The period without `?days=`.
pub const DEFAULT_DAYS: u32 = 30;
/// Products with their own line in the overview chart.
const TOP_SERIES: usize = 5;
/// Label of the line that sums the other public products.
const OTHER: &str = "other public products";

/// Answers `GET /stats`, reusing the rendered page for a minute per
/// address.
pub fn page(public: &Public, req: &Request<'_>) -> PageResult {
    // Keyed by what the page shows, not by the raw query: made-up
    // parameters must not make every request a new render.
    let (days, product) = parse(req.query);
    let key = format!(
        "/stats {days:?} {}",
        product.as_deref().unwrap_or("").to_lowercase()
    );
    public.rendered(&key, || render(public, req.query))
}

/// The request's parameters; `Err` carries a `days` value that is not one
/// of [`PERIODS`]. The first of repeated parameters counts; an empty
/// `product` means the overview; unknown parameters are ignored.
fn parse(query: &str) -> (Result<u32, String>, Option<String>) {
    let mut days = None;
    let mut product = None;
    for (k, v) in crate::query::pairs(query) {
        match k.as_ref() {
            "days" if days.is_none() => days = Some(v.into_owned()),
            "product" if product.is_none() => product = Some(v.into_owned()),
            _ => {}
        }
    }
    let days = match days {
        None => Ok(DEFAULT_DAYS),
        Some(d) => match d.parse::<u32>() {
            Ok(n) if PERIODS.contains(&n) && d == n.to_string() => Ok(n),
            _ => Err(d),
        },
    };
    (days, product.filter(|p| !p.is_empty()))
}

/// A period and the one before it, as days since the Unix epoch (both
/// ends included).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Period {
    days: u32,
    from: u32,
    to: u32,
}

impl Period {
    /// The `days` days up to and including `today`.
    fn ending(today: u32, days: u32) -> Period {
        Period {
            days,
            from: today.saturating_sub(days - 1),
            to: today,
        }
    }

    /// The same number of days right before (`None` before the epoch).
    fn previous(self) -> Option<Period> {
        let to = self.from.checked_sub(1)?;
        Some(Period {
            days: self.days,
            from: to.saturating_sub(self.days - 1),
            to,
        })
    }

    /// Every day of the period, oldest first.
    fn all_days(self) -> Vec<u32> {
        (self.from..=self.to).collect()
    }
}

/// The products whose downloads this page may show.
fn shown(s: &Snapshot) -> impl Iterator<Item = &Product> {
    s.products.iter().filter(|p| p.public && p.active)
}

/// One product's downloads in the period and the one before.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Line<'a> {
    product: &'a Product,
    now: u64,
    before: u64,
}

/// The overview's numbers: public products only.
#[derive(Debug, PartialEq, Eq)]
struct Overview<'a> {
    /// Products downloaded in the period or the one before, the most
    /// downloaded first.
    lines: Vec<Line<'a>>,
    /// Downloads of public products in the period.
    total: u64,
    /// Downloads of public products in the previous period.
    before: u64,
}

fn overview<'a>(s: &'a Snapshot, now: &Counts, before: &Counts) -> Overview<'a> {
    let mut lines: Vec<Line<'a>> = shown(s)
        .map(|p| Line {
            product: p,
            now: now.by_product.get(&p.id).copied().unwrap_or(0),
            before: before.by_product.get(&p.id).copied().unwrap_or(0),
        })
        .filter(|l| l.now > 0 || l.before > 0)
        .collect();
    lines.sort_by(|a, b| {
        b.now
            .cmp(&a.now)
            .then(b.before.cmp(&a.before))
            .then_with(|| {
                a.product
                    .name
                    .to_lowercase()
                    .cmp(&b.product.name.to_lowercase())
            })
            .then_with(|| a.product.name.cmp(&b.product.name))
    });
    Overview {
        total: lines.iter().map(|l| l.now).sum(),
        before: lines.iter().map(|l| l.before).sum(),
        lines,
    }
}

/// Downloads per day of the products in `ids`, one value for every day of
/// `period` (0 on days without downloads).
fn per_day(counts: &Counts, ids: &HashSet<ProductId>, period: Period) -> Vec<u64> {
    let mut out = vec![0u64; period.days as usize];
    for (&(id, day), &n) in &counts.by_product_day {
        if ids.contains(&id) && (period.from..=period.to).contains(&day) {
            out[(day - period.from) as usize] += n;
        }
    }
    out
}

/// The overview chart's lines: the top products, then the other public
/// products together (when there are more).
fn chart_lines(o: &Overview<'_>, counts: &Counts, period: Period) -> Vec<(String, Vec<u64>)> {
    let downloaded: Vec<&Line<'_>> = o.lines.iter().filter(|l| l.now > 0).collect();
    let mut lines: Vec<(String, Vec<u64>)> = downloaded
        .iter()
        .take(TOP_SERIES)
        .map(|l| {
            (
                l.product.name.clone(),
                per_day(counts, &HashSet::from([l.product.id]), period),
            )
        })
        .collect();
    if downloaded.len() > TOP_SERIES {
        let rest: HashSet<ProductId> = downloaded[TOP_SERIES..]
            .iter()
            .map(|l| l.product.id)
            .collect();
        lines.push((OTHER.to_string(), per_day(counts, &rest, period)));
    }
    if lines.is_empty() {
        lines.push(("Public products".to_string(), vec![0; period.days as usize]));
    }
    lines
}

/// The change from `before` to `now`: text and a class (`up`, `down`).
/// `new` when nothing was downloaded before; percentages with one decimal,
/// rounded half away from zero.
fn change(now: u64, before: u64) -> (String, Option<&'static str>) {
    if before == 0 {
        return if now == 0 {
            ("–".to_string(), None)
        } else {
            ("new".to_string(), Some("up"))
        };
    }
    let diff = i128::from(now) - i128::from(before);
    let before = i128::from(before);
    let tenths = (diff.abs() * 1000 + before / 2) / before;
    let amount = if tenths == 0 {
        "<\u{a0}0.1\u{a0}%".to_string()
    } else {
        format!(
            "{}.{}\u{a0}%",
            chart::group(&(tenths / 10).to_string()),
            tenths % 10
        )
    };
    match diff.signum() {
        1 => (format!("↑\u{a0}{amount}"), Some("up")),
        -1 => (format!("↓\u{a0}{amount}"), Some("down")),
        _ => ("±0\u{a0}%".to_string(), None),
    }
}

fn change_markup(now: u64, before: u64) -> Markup {
    let (text, class) = change(now, before);
    html! { span class=[class] { (text) } }
}

/// `YYYY-MM-DD` of a day since the Unix epoch.
fn date(day: u32) -> String {
    let s = crate::model::utc(u64::from(day) * 86_400);
    s.split_once(' ').map_or(s.clone(), |(d, _)| d.to_string())
}

/// Percent-encodes a query-string value (everything but unreserved
/// characters).
fn encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The address of the overview or a product's page for `days`.
fn link(product: Option<&str>, days: u32) -> String {
    match product {
        Some(p) => format!("/stats?product={}&days={days}", encode(p)),
        None => format!("/stats?days={days}"),
    }
}

fn periods(product: Option<&str>, days: u32) -> Markup {
    html! {
        nav.periods aria-label="Period" {
            "Last "
            @for d in PERIODS {
                a class=[(d == days).then_some("current")] href=(link(product, d))
                    aria-current=[(d == days).then_some("page")] { (d) " days" }
            }
        }
    }
}

fn stat(value: &str, label: Markup) -> Markup {
    html! { div.stat { span.value { (value) } " " span.label { (label) } } }
}

fn render(public: &Public, query: &str) -> PageResult {
    let snapshot = public.network.snapshot()?;
    let (days, asked) = parse(query);
    let product = match asked.as_deref() {
        None => None,
        Some(name) => match shown(&snapshot).find(|p| p.name.eq_ignore_ascii_case(name)) {
            Some(p) => Some(p),
            None => {
                return Ok(unknown_product(
                    name,
                    days.as_ref().copied().unwrap_or(DEFAULT_DAYS),
                ));
            }
        },
    };
    let days = match days {
        Ok(d) => d,
        Err(bad) => return Ok(bad_period(&bad, product.map(|p| p.name.as_str()))),
    };
    let period = Period::ending(crate::model::day_of(crate::model::now()), days);
    let now = public.counts(period.from, period.to)?;
    let before = match period.previous() {
        None => std::sync::Arc::new(Counts::default()),
        Some(p) => public.counts(p.from, p.to)?,
    };
    let body = match product {
        None => overview_page(&snapshot, &now, &before, period),
        Some(p) => product_page(&snapshot, p, &now, &before, period),
    };
    Ok(html_reply(StatusCode::OK, body))
}

fn overview_page(s: &Snapshot, now: &Counts, before: &Counts, period: Period) -> Markup {
    let o = overview(s, now, before);
    let lines = chart_lines(&o, now, period);
    let series: Vec<Series<'_>> = lines
        .iter()
        .map(|(label, points)| Series { label, points })
        .collect();
    let (from, to) = (date(period.from), date(period.to));
    let downloaded = o.lines.iter().filter(|l| l.now > 0).count();
    let content = html! {
        h1 { "Download statistics" }
        (periods(None, period.days))
        p.hint { "From " (from) " to " (to) " (UTC), compared with the " (period.days) " days before." }
        div.cards {
            (stat(&thousands(o.total), html! { "downloads" }))
            (stat(&chart::per_day(o.total, period.days), html! { "per day on average" }))
            (stat(&thousands(o.before), html! { "in the previous " (period.days) " days" }))
            (stat(&change(o.total, o.before).0, html! { "change" }))
            (stat(&downloaded.to_string(), html! { @if downloaded == 1 { "product downloaded" } @else { "products downloaded" } }))
        }
        h2 { "Downloads per day" }
        div.chart {
            (chart::daily(&period.all_days(), &series, &format!("Downloads per day, {from} to {to}")))
        }
        p.hint {
            "One line for each of the " (TOP_SERIES) " most downloaded products"
            @if lines.iter().any(|(l, _)| l == OTHER) { "; all others together as “" (OTHER) "”" }
            "."
        }
        h2 { "By product" }
        @if o.lines.is_empty() {
            p { "Nothing was downloaded in these " (period.days) " days or the " (period.days) " days before." }
        } @else {
            table.trends {
                thead {
                    tr {
                        th scope="col" { "Product" }
                        th.num scope="col" { "Last " (period.days) " days" }
                        th.num scope="col" { "Previous " (period.days) " days" }
                        th.num scope="col" { "Change" }
                    }
                }
                tbody {
                    @for l in &o.lines {
                        tr {
                            th scope="row" { a href=(link(Some(&l.product.name), period.days)) { (l.product.name) } }
                            td.num { (thousands(l.now)) }
                            td.num { (thousands(l.before)) }
                            td.num { (change_markup(l.now, l.before)) }
                        }
                    }
                }
                tfoot {
                    tr {
                        th scope="row" { "All products" }
                        td.num { (thousands(o.total)) }
                        td.num { (thousands(o.before)) }
                        td.num { (change_markup(o.total, o.before)) }
                    }
                }
            }
        }
    };
    page::layout("/stats", "Download statistics", content)
}

/// (name, downloads) rows, the most downloaded first.
type Ranked = Vec<(String, u64)>;

/// Downloads of `rows` keys, sorted by count then name, with `rest` (the
/// downloads no row accounts for) added under `rest_label`.
fn ranked(rows: HashMap<String, u64>, rest: u64, rest_label: &str) -> Ranked {
    let mut v: Vec<(String, u64)> = rows.into_iter().filter(|(_, n)| *n > 0).collect();
    v.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    if rest > 0 {
        v.push((rest_label.to_string(), rest));
    }
    v
}

/// One product's downloads per operating system and per language in the
/// period, from the per-location counts. Downloads of locations removed
/// since cannot be attributed and are listed as such.
fn breakdown(s: &Snapshot, p: &Product, now: &Counts, total: u64) -> (Ranked, Ranked) {
    let os_of: HashMap<_, &str> = s
        .locations
        .iter()
        .filter(|l| l.product == p.id)
        .map(|l| (l.id, l.os.as_str()))
        .collect();
    let mut by_os: HashMap<String, u64> = HashMap::new();
    let mut by_lang: HashMap<String, u64> = HashMap::new();
    let mut attributed = 0u64;
    for ((loc, lang), &n) in &now.by_location {
        let Some(os) = os_of.get(loc) else { continue };
        *by_os.entry((*os).to_string()).or_default() += n;
        let lang = if lang.is_empty() {
            "any language".to_string()
        } else {
            lang.clone()
        };
        *by_lang.entry(lang).or_default() += n;
        attributed += n;
    }
    let rest = total.saturating_sub(attributed);
    (
        ranked(by_os, rest, "platforms no longer offered"),
        ranked(by_lang, rest, "unknown"),
    )
}

fn share_table(heading: &str, rows: &[(String, u64)], total: u64) -> Markup {
    html! {
        table.breakdown {
            thead {
                tr {
                    th scope="col" { (heading) }
                    th.num scope="col" { "Downloads" }
                    th.num scope="col" { "Share" }
                }
            }
            tbody {
                @for (name, n) in rows {
                    tr {
                        th scope="row" { (name) }
                        td.num { (thousands(*n)) }
                        td.num {
                            @if total > 0 { (format!("{:.1}\u{a0}%", *n as f64 * 100.0 / total as f64)) }
                        }
                    }
                }
            }
        }
    }
}

fn product_page(
    s: &Snapshot,
    p: &Product,
    now: &Counts,
    before: &Counts,
    period: Period,
) -> Markup {
    let total = now.by_product.get(&p.id).copied().unwrap_or(0);
    let prev = before.by_product.get(&p.id).copied().unwrap_or(0);
    let points = per_day(now, &HashSet::from([p.id]), period);
    let series = [Series {
        label: &p.name,
        points: &points,
    }];
    let (from, to) = (date(period.from), date(period.to));
    let (by_os, by_lang) = breakdown(s, p, now, total);
    let bars = |rows: &[(String, u64)], title: &str| {
        let items: Vec<(&str, u64)> = rows.iter().map(|(k, n)| (k.as_str(), *n)).collect();
        chart::bars(&items, title)
    };
    let content = html! {
        p { a href=(link(None, period.days)) { "← All products" } }
        h1 { "Downloads of " (p.name) }
        (periods(Some(&p.name), period.days))
        p.hint { "From " (from) " to " (to) " (UTC), compared with the " (period.days) " days before." }
        div.cards {
            (stat(&thousands(total), html! { @if total == 1 { "download" } @else { "downloads" } }))
            (stat(&chart::per_day(total, period.days), html! { "per day on average" }))
            (stat(&thousands(prev), html! { "in the previous " (period.days) " days" }))
            (stat(&change(total, prev).0, html! { "change" }))
        }
        h2 { "Downloads per day" }
        div.chart {
            (chart::daily(&period.all_days(), &series, &format!("Downloads of {} per day, {from} to {to}", p.name)))
        }
        @if total == 0 {
            p { "Nothing was downloaded in these " (period.days) " days." }
        } @else {
            h2 { "By operating system" }
            div.chart { (bars(&by_os, &format!("Downloads of {} by operating system", p.name))) }
            (share_table("Operating system", &by_os, total))
            h2 { "By language" }
            div.chart { (bars(&by_lang, &format!("Downloads of {} by language", p.name))) }
            (share_table("Language", &by_lang, total))
        }
    };
    page::layout("/stats", &format!("Downloads of {}", p.name), content)
}

/// At most 80 characters of what a visitor typed, for error messages.
fn typed(s: &str) -> String {
    if s.chars().count() <= 80 {
        s.to_string()
    } else {
        let mut t: String = s.chars().take(79).collect();
        t.push('…');
        t
    }
}

/// 422: `days` is not one of the periods offered.
fn bad_period(bad: &str, product: Option<&str>) -> Reply {
    let content = html! {
        h1 { "Download statistics" }
        p.problem {
            "“" (typed(bad)) "” is not a period we show. Choose one of these numbers of days: "
            @for (i, d) in PERIODS.iter().enumerate() {
                @if i > 0 { ", " }
                a href=(link(product, *d)) { (d) }
            }
            "."
        }
    };
    html_reply(
        StatusCode::UNPROCESSABLE_ENTITY,
        page::layout("/stats", "Unknown period", content),
    )
}

/// 404: no public product by that name (unknown, private and inactive
/// products answer alike).
fn unknown_product(name: &str, days: u32) -> Reply {
    let content = html! {
        h1 { "Download statistics" }
        p.problem {
            "We publish no statistics for a product named “" (typed(name)) "”. "
            "Check the spelling, or pick a product from "
            a href=(link(None, days)) { "the list of all products" } "."
        }
    };
    html_reply(
        StatusCode::NOT_FOUND,
        page::layout("/stats", "No such product", content),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{CountBatch, LocationId};
    use crate::public::testing::{body, get, public};
    use crate::store::NewProduct;

    /// Non-breaking spaces as plain ones, for readable expectations.
    fn sp(s: impl Into<String>) -> String {
        s.into().replace('\u{a0}', " ")
    }

    const HOSTILE: &str = "\"><script>alert(1)</script>";

    struct Net {
        _dir: tempfile::TempDir,
        public: Public,
        today: u32,
        ids: HashMap<&'static str, ProductId>,
        locs: HashMap<&'static str, LocationId>,
    }

    /// Public products fx, tb, nw, p4, p5, p6 and a hostile one; private
    /// `secret`; public but inactive `off`. Locations for fx (win, linux)
    /// and secret (win).
    fn net() -> Net {
        let (dir, public) = public();
        let (ids, locs) = public
            .network
            .write(&crate::model::Actor::Program("test"), |tx| {
                let mut ids = HashMap::new();
                for (name, private) in [
                    ("fx", false),
                    ("tb", false),
                    ("nw", false),
                    ("p4", false),
                    ("p5", false),
                    ("p6", false),
                    (HOSTILE, false),
                    ("secret", true),
                    ("off", false),
                ] {
                    let p = tx.product_add(NewProduct {
                        name: name.into(),
                        private,
                        ..Default::default()
                    })?;
                    let key: &'static str = if name == HOSTILE { "hostile" } else { name };
                    ids.insert(key, p.id);
                }
                tx.product_update("off", |p| p.active = false)?;
                let mut locs = HashMap::new();
                locs.insert(
                    "fx-win",
                    tx.location_add("fx", "win", "/fx/:lang/setup.exe")?.id,
                );
                locs.insert(
                    "fx-linux",
                    tx.location_add("fx", "linux", "/fx/:lang/fx.tar.gz")?.id,
                );
                locs.insert(
                    "secret-win",
                    tx.location_add("secret", "win", "/s/setup.exe")?.id,
                );
                Ok((ids, locs))
            })
            .unwrap();
        Net {
            _dir: dir,
            public,
            today: crate::model::day_of(crate::model::now()),
            ids,
            locs,
        }
    }

    impl Net {
        fn add(&self, days_ago: u32, products: &[(&str, u64)], locations: &[(&str, &str, u64)]) {
            self.public
                .network
                .store()
                .add_counts(&CountBatch {
                    day: self.today - days_ago,
                    products: products.iter().map(|(p, n)| (self.ids[p], *n)).collect(),
                    locations: locations
                        .iter()
                        .map(|(l, lang, n)| (self.locs[l], lang.to_string(), *n))
                        .collect(),
                    ..Default::default()
                })
                .unwrap();
        }

        /// Known downloads on known days.
        fn with_counts(self) -> Net {
            // This period (the last 30 days, today included).
            self.add(
                0,
                &[
                    ("fx", 10),
                    ("tb", 3),
                    ("nw", 1),
                    ("secret", 1000),
                    ("off", 500),
                ],
                &[
                    ("fx-win", "de", 4),
                    ("fx-linux", "en-US", 6),
                    ("secret-win", "", 1000),
                ],
            );
            self.add(
                29,
                &[("fx", 5), ("p4", 4), ("p5", 3), ("p6", 2), ("hostile", 1)],
                &[("fx-win", "de", 5)],
            );
            // The previous period.
            self.add(30, &[("fx", 5), ("secret", 77)], &[]);
            self.add(59, &[("tb", 12), ("off", 9)], &[]);
            // Before both.
            self.add(60, &[("fx", 999)], &[]);
            self
        }
    }

    #[test]
    fn parameters() {
        assert_eq!(parse(""), (Ok(30), None));
        assert_eq!(parse("days=90&product=fx"), (Ok(90), Some("fx".into())));
        assert_eq!(parse("days=365&days=7"), (Ok(365), None));
        assert_eq!(parse("product=&days=30"), (Ok(30), None));
        assert_eq!(parse("product=a%26b"), (Ok(30), Some("a&b".into())));
        for bad in ["7", "030", "abc", "", "30.0", "-30", "99999999999"] {
            assert_eq!(parse(&format!("days={bad}")).0, Err(bad.to_string()));
        }
        assert_eq!(parse("days=%2B30").0, Err("+30".to_string()));
        assert_eq!(parse("days=+30").0, Err(" 30".to_string()));
    }

    #[test]
    fn changes() {
        assert_eq!(sp(change(0, 0).0), "–");
        assert_eq!(
            (sp(change(5, 0).0), change(5, 0).1),
            ("new".into(), Some("up"))
        );
        assert_eq!(
            (sp(change(15, 5).0), change(15, 5).1),
            ("↑ 200.0 %".into(), Some("up"))
        );
        assert_eq!(
            (sp(change(3, 12).0), change(3, 12).1),
            ("↓ 75.0 %".into(), Some("down"))
        );
        assert_eq!(
            (sp(change(0, 12).0), change(0, 12).1),
            ("↓ 100.0 %".into(), Some("down"))
        );
        assert_eq!((sp(change(7, 7).0), change(7, 7).1), ("±0 %".into(), None));
        assert_eq!(sp(change(18, 17).0), "↑ 5.9 %");
        assert_eq!(sp(change(10_001, 10_000).0), "↑ < 0.1 %");
        let huge = (u128::from(u64::MAX) - 1) * 100;
        assert_eq!(
            sp(change(u64::MAX, 1).0),
            format!("↑ {}.0 %", chart::group(&huge.to_string()))
        );
        assert_eq!(chart::group("1234567"), "1,234,567");
    }

    #[test]
    fn exact_totals_and_change_versus_previous_period() {
        let n = net().with_counts();
        let s = n.public.network.snapshot().unwrap();
        let period = Period::ending(n.today, 30);
        let prev = period.previous().unwrap();
        assert_eq!((prev.from, prev.to), (n.today - 59, n.today - 30));
        let store = n.public.network.store();
        let now = store.counts(period.from, period.to).unwrap();
        let before = store.counts(prev.from, prev.to).unwrap();
        let o = overview(&s, &now, &before);
        // Public products only: fx 15, tb 3, nw 1, p4 4, p5 3, p6 2,
        // hostile 1 = 29; before: fx 5, tb 12 = 17.
        assert_eq!(o.total, 29);
        assert_eq!(o.before, 17);
        assert_ne!(
            o.total, now.total,
            "the raw total includes private downloads"
        );
        let got: Vec<(&str, u64, u64)> = o
            .lines
            .iter()
            .map(|l| (l.product.name.as_str(), l.now, l.before))
            .collect();
        assert_eq!(
            got,
            vec![
                ("fx", 15, 5),
                ("p4", 4, 0),
                ("tb", 3, 12),
                ("p5", 3, 0),
                ("p6", 2, 0),
                (HOSTILE, 1, 0),
                ("nw", 1, 0),
            ]
        );

        let html = sp(body(get(&n.public, "/stats", &[])));
        assert!(
            html.contains(r#"<span class="value">29</span> <span class="label">downloads</span>"#),
            "{html}"
        );
        assert!(html.contains(r#"<span class="value">17</span>"#));
        assert!(
            html.contains(r#"<span class="value">↑ 70.6 %</span>"#),
            "{html}"
        );
        assert!(html.contains("↑ 200.0 %") && html.contains("↓ 75.0 %") && html.contains(">new<"));
        assert!(html.contains(r#"<a href="/stats?product=fx&amp;days=30">fx</a>"#));

        // 90 days: the previous period holds nothing; fx's day 60 counts.
        let html = body(get(&n.public, "/stats?days=90", &[]));
        assert!(
            html.contains(r#"<span class="value">1,045</span>"#),
            "{html}"
        );
        assert!(
            html.contains(
                r#"<a class="current" href="/stats?days=90" aria-current="page">90 days</a>"#
            ),
            "{html}"
        );
        assert!(
            html.contains(r#"<a href="/stats?days=30">30 days</a>"#),
            "{html}"
        );
    }

    #[test]
    fn chart_days_are_zero_filled() {
        let n = net().with_counts();
        let s = n.public.network.snapshot().unwrap();
        let period = Period::ending(n.today, 30);
        let now = n
            .public
            .network
            .store()
            .counts(period.from, period.to)
            .unwrap();
        // Without a previous period, ties go by name.
        let o = overview(&s, &now, &Counts::default());
        let lines = chart_lines(&o, &now, period);
        let labels: Vec<&str> = lines.iter().map(|(l, _)| l.as_str()).collect();
        assert_eq!(labels, vec!["fx", "p4", "p5", "tb", "p6", OTHER]);
        let mut fx = vec![0; 30];
        fx[0] = 5;
        fx[29] = 10;
        assert_eq!(lines[0].1, fx);
        // Other: hostile (day 29 ago) and nw (today), never secret or off.
        let mut other = vec![0; 30];
        other[0] = 1;
        other[29] = 1;
        assert_eq!(lines[5].1, other);
        assert!(lines.iter().all(|(_, p)| p.len() == 30));
        let sum: u64 = lines.iter().flat_map(|(_, p)| p).sum();
        assert_eq!(sum, o.total);

        // The product page draws a point for every day, zeros included.
        let html = body(get(&n.public, "/stats?product=FX&days=30", &[]));
        assert_eq!(html.matches("<circle").count(), 30);
        assert!(
            html.contains(&format!("{}: 0</title>", date(n.today - 1))),
            "{html}"
        );
        assert!(html.contains(&format!("{}: 10</title>", date(n.today))));
        let html = body(get(&n.public, "/stats?product=fx&days=365", &[]));
        assert_eq!(html.matches("<circle").count(), 365);
    }

    #[test]
    fn product_page_numbers_and_breakdown() {
        let n = net().with_counts();
        let html = sp(body(get(&n.public, "/stats?product=fx", &[])));
        assert!(html.contains("<h1>Downloads of fx</h1>"), "{html}");
        assert!(
            html.contains(r#"<span class="value">15</span> <span class="label">downloads</span>"#)
        );
        assert!(html.contains(r#"<span class="value">0.5</span>"#), "{html}");
        assert!(html.contains(r#"<span class="value">↑ 200.0 %</span>"#));
        // Per OS: win 9, linux 6; per language: de 9, en-US 6.
        assert!(
            html.contains(
                r#"<th scope="row">win</th><td class="num">9</td><td class="num">60.0 %</td>"#
            ),
            "{html}"
        );
        assert!(html.contains(
            r#"<th scope="row">linux</th><td class="num">6</td><td class="num">40.0 %</td>"#
        ));
        assert!(html.contains(r#"<th scope="row">de</th><td class="num">9</td>"#));
        assert!(html.contains(r#"<th scope="row">en-US</th><td class="num">6</td>"#));
        assert!(!html.contains("secret") && !html.contains("1,000"));
        assert!(html.contains(r#"href="/stats?product=fx&amp;days=90""#));
    }

    #[test]
    fn private_and_inactive_products_never_count() {
        let n = net().with_counts();
        for path in ["/stats", "/stats?days=90", "/stats?days=365"] {
            let html = body(get(&n.public, path, &[]));
            assert!(
                !html.contains("secret") && !html.contains(">off<"),
                "{path}"
            );
            // The total is the public sum: 29 for 30 days, and with fx's
            // 999 and the previous period's 17 for 90 and 365.
            let total = if path == "/stats" { "29" } else { "1,045" };
            let card = format!(
                r#"<span class="value">{total}</span> <span class="label">downloads</span>"#
            );
            assert!(html.contains(&card), "{path}: {html}");
        }
        for name in ["secret", "SECRET", "off", "nope"] {
            let reply = get(&n.public, &format!("/stats?product={name}"), &[]);
            assert_eq!(reply.status(), StatusCode::NOT_FOUND, "{name}");
            let html = body(reply);
            assert!(html.contains("We publish no statistics for a product named"));
            assert!(!html.contains("private") && !html.contains("inactive"));
        }
    }

    #[test]
    fn bad_periods_answer_422_with_the_choices() {
        let n = net();
        for q in [
            "days=7",
            "days=abc",
            "days=",
            "days=%3Cb%3E",
            "product=fx&days=31",
        ] {
            let reply = get(&n.public, &format!("/stats?{q}"), &[]);
            assert_eq!(reply.status(), StatusCode::UNPROCESSABLE_ENTITY, "{q}");
            let html = body(reply);
            assert!(html.contains("is not a period we show"), "{html}");
            assert!(!html.contains("<b>"));
            for d in PERIODS {
                assert!(html.contains(&format!("days={d}\">{d}</a>")), "{html}");
            }
        }
        let html = body(get(&n.public, "/stats?product=fx&days=1", &[]));
        assert!(html.contains(r#"href="/stats?product=fx&amp;days=365""#));
        // An unknown product with a bad period: the product is the problem.
        let reply = get(&n.public, "/stats?product=nope&days=1", &[]);
        assert_eq!(reply.status(), StatusCode::NOT_FOUND);
    }

    #[test]
    fn hostile_names_are_escaped() {
        let n = net().with_counts();
        let html = body(get(&n.public, "/stats", &[]));
        assert!(!html.contains("<script>alert"), "{html}");
        assert!(html.contains("&quot;&gt;&lt;script&gt;alert(1)&lt;/script&gt;"));
        assert!(
            html.contains(
                r#"href="/stats?product=%22%3E%3Cscript%3Ealert%281%29%3C%2Fscript%3E&amp;days=30""#
            ),
            "{html}"
        );

        let reply = get(
            &n.public,
            &format!("/stats?product={}", encode(HOSTILE)),
            &[],
        );
        assert_eq!(reply.status(), StatusCode::OK);
        let html = body(reply);
        assert!(!html.contains("<script>alert"));
        assert!(
            html.contains("<h1>Downloads of &quot;&gt;&lt;script&gt;alert(1)&lt;/script&gt;</h1>")
        );

        let html = body(get(&n.public, "/stats?product=%3Cimg%20src=x%3E", &[]));
        assert!(!html.contains("<img src=x>") && html.contains("&lt;img src=x&gt;"));
    }

    #[test]
    fn empty_network() {
        let (_dir, public) = public();
        let reply = get(&public, "/stats", &[]);
        assert_eq!(reply.status(), StatusCode::OK);
        let html = body(reply);
        assert!(html.contains("Nothing was downloaded"));
        assert!(html.contains(r#"<span class="value">0</span>"#));
    }
}
