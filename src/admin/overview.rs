//! Admin section: the overview — one screen that tells an operator whether
//! the network is healthy: a verdict, mirror and product counts, downloads
//! today and over 30 days with their trend, per-product uptake, the mirrors
//! that are down (with what their error means), the last sentry runs, the
//! active products with a system no mirror serves (the products list has
//! no such filter) and the last changes. Every "Needs attention" count is
//! the number of rows its link shows.
//!
//! Route: `GET /admin/`.

use std::collections::{HashMap, HashSet};

use maud::{Markup, html};

use super::mirrors;
use super::page::{self, Badge, badge, plural, seg};
use super::{Ctx, Page, PageResult};
use crate::chart::{self, Series, thousands};
use crate::model::{Event, Mirror, MirrorHealth, MirrorState, Product, ProductId, SentryRun};

/// Names listed in a "Needs attention" item (the rest are counted).
const NAMED: usize = 5;
/// Products shown in the uptake table.
const UPTAKE_ROWS: usize = 20;
/// Sentry runs and audit events shown.
const RECENT: usize = 10;
/// Days in the downloads trend.
const TREND_DAYS: u32 = 30;
/// The id of the overview's list of products with a system no mirror
/// serves (the products list has no such filter).
const PARTLY: &str = "partly-served";

/// Answers requests below `/admin/` (only the overview itself).
pub fn route(ctx: &Ctx<'_>, page: &Page<'_>) -> PageResult {
    match (page.post, page.rest().as_slice()) {
        (false, []) => overview(ctx),
        _ => Ok(ctx.not_found("There is no such admin page.")),
    }
}

/// Mirrors per state filter of the mirrors list: each figure is the
/// number of rows `/admin/mirrors?state=KEY` shows (counted with
/// [`mirrors::in_state`] over [`MirrorState::of`]).
#[derive(Debug, Default, PartialEq, Eq)]
struct Tally {
    /// `state=up`: up, flapping included.
    up: usize,
    /// Of those, flapping.
    flapping: usize,
    /// `state=nothing`: up, but serving none of its files.
    nothing: usize,
    /// `state=down`.
    down: usize,
    /// `state=disabled`: switched off or rating 0.
    disabled: usize,
    /// `state=unchecked`.
    unchecked: usize,
    /// Every mirror.
    all: usize,
}

impl Tally {
    fn add(&mut self, s: MirrorState) {
        let is = |key| usize::from(mirrors::in_state(key, s, false));
        self.up += is("up");
        self.flapping += usize::from(s == MirrorState::Flapping);
        self.nothing += is("nothing");
        self.down += is("down");
        self.disabled += is("disabled");
        self.unchecked += is("unchecked");
        self.all += 1;
    }

    /// Mirrors in rotation: every one not switched off or at rating 0.
    fn in_rotation(&self) -> usize {
        self.all - self.disabled
    }
}

/// One row of the uptake table.
struct UptakeRow<'a> {
    product: &'a Product,
    /// (os, percent), by os.
    systems: Vec<(&'a str, f64)>,
    downloads: u64,
}

impl UptakeRow<'_> {
    /// The worst uptake over the product's systems (`None`: no locations).
    fn lowest(&self) -> Option<f64> {
        self.systems.iter().map(|(_, p)| *p).reduce(f64::min)
    }
}

fn uptake_badge(percent: f64) -> Markup {
    let text = format!("{percent:.0} %");
    let kind = if percent >= 75.0 {
        Badge::Good
    } else if percent > 0.0 {
        Badge::Warn
    } else {
        Badge::Bad
    };
    badge(kind, &text)
}

/// "42 s", "3 min", "2 h 5 min".
fn duration(secs: u64) -> String {
    match secs {
        0..60 => format!("{secs} s"),
        60..3600 => format!("{} min", secs / 60),
        _ => format!("{} h {} min", secs / 3600, secs / 60 % 60),
    }
}

fn overview(ctx: &Ctx<'_>) -> PageResult {
    let network = ctx.network();
    let store = network.store();
    let s = network.snapshot()?;
    let now = crate::model::now();
    let today = crate::model::day_of(now);
    let first = today.saturating_sub(TREND_DAYS - 1);
    let counts = store.product_counts(first, today)?;
    let runs = store.sentry_runs(RECENT)?;
    let events = store.events(RECENT)?;

    // Mirrors, in the states of the mirrors list.
    let (serving, locations) = network.serving();
    let index = network.index();
    let mut tally = Tally::default();
    let mut down: Vec<(&Mirror, &MirrorHealth)> = Vec::new();
    let mut unchecked: Vec<&str> = Vec::new();
    let mut serve_nothing: Vec<&str> = Vec::new();
    for m in &s.mirrors {
        let h = s.health.get(&m.id);
        let serves = serving.get(&m.id).copied().unwrap_or(0);
        let st = MirrorState::of(m, h, serves, locations, now);
        tally.add(st);
        match (st, h) {
            (MirrorState::Down, Some(h)) => down.push((m, h)),
            (MirrorState::Unchecked, _) => unchecked.push(&m.name),
            (MirrorState::ServesNothing, _) => serve_nothing.push(&m.name),
            _ => {}
        }
    }
    down.sort_by(|a, b| a.1.since.cmp(&b.1.since).then(a.0.name.cmp(&b.0.name)));
    unchecked.sort_unstable();
    serve_nothing.sort_unstable();

    // Products.
    let active = s.products.iter().filter(|p| p.active).count();
    let public = s.products.iter().filter(|p| p.active && p.public).count();

    // Uptake of the top products, from the live index (active products).
    let mut per_product: HashMap<&str, Vec<(&str, f64)>> = HashMap::new();
    for u in index.uptake() {
        per_product
            .entry(&u.product)
            .or_default()
            .push((&u.os, u.percent()));
    }
    // Products without locations, active or not (the products list's
    // `state=empty`); active products with locations that no mirror
    // serves at all (`state=unserved`), and those with a system no mirror
    // serves (listed on this page, under [`PARTLY`]).
    let located: HashSet<ProductId> = s.locations.iter().map(|l| l.product).collect();
    let mut unserved: Vec<&str> = Vec::new();
    let mut partly: Vec<(&str, Vec<&str>)> = Vec::new();
    let mut empty: Vec<&str> = Vec::new();
    for p in &s.products {
        if !located.contains(&p.id) {
            empty.push(&p.name);
            continue;
        }
        if !p.active {
            continue;
        }
        let systems = per_product.get(p.name.as_str());
        let bare: Vec<&str> = systems
            .into_iter()
            .flatten()
            .filter(|(_, percent)| *percent <= 0.0)
            .map(|(os, _)| *os)
            .collect();
        if systems.is_none_or(|all| all.len() == bare.len()) {
            unserved.push(&p.name);
        } else if !bare.is_empty() {
            partly.push((&p.name, bare));
        }
    }
    for names in [&mut unserved, &mut empty] {
        names.sort_unstable();
    }
    partly.sort_unstable();
    for (_, oses) in &mut partly {
        oses.sort_unstable();
    }
    let partly_names: Vec<&str> = partly.iter().map(|(name, _)| *name).collect();
    let mut top: Vec<&Product> = s.products.iter().filter(|p| p.active).collect();
    top.sort_by(|a, b| {
        b.priority
            .cmp(&a.priority)
            .then(b.created_at.cmp(&a.created_at))
            .then(b.id.cmp(&a.id))
    });
    let more_products = top.len().saturating_sub(UPTAKE_ROWS);
    let uptake: Vec<UptakeRow<'_>> = top
        .into_iter()
        .take(UPTAKE_ROWS)
        .map(|p| {
            let mut systems = per_product.remove(p.name.as_str()).unwrap_or_default();
            systems.sort_by(|a, b| a.0.cmp(b.0));
            UptakeRow {
                product: p,
                systems,
                downloads: counts.by_product.get(&p.id).copied().unwrap_or(0),
            }
        })
        .collect();

    // Downloads.
    let days: Vec<u32> = (first..=today).collect();
    let points: Vec<u64> = days
        .iter()
        .map(|d| counts.by_day.get(d).copied().unwrap_or(0))
        .collect();
    let downloads_today = counts.by_day.get(&today).copied().unwrap_or(0);

    // The verdict: each problem names what it is about and links to the
    // list that shows it.
    let mirror_link = |name: &str| format!("/admin/mirrors/{}", seg(name));
    let product_link = |name: &str| format!("/admin/availability?product={}", seg(name));
    let down_names: Vec<&str> = down.iter().map(|(m, _)| m.name.as_str()).collect();
    let mut problems: Vec<Markup> = Vec::new();
    if tally.in_rotation() == 0 {
        problems.push(html! {
            "No mirror is in rotation, so downloads cannot be served: "
            a href="/admin/mirrors" { "add a mirror" }
            @if tally.disabled > 0 {
                " or " a href="/admin/mirrors?state=disabled" { "switch one on" }
            }
            "."
        });
    }
    if !down.is_empty() {
        problems.push(attention(
            &plural(down.len(), "mirror is down", "mirrors are down"),
            "/admin/mirrors?state=down",
            &down_names,
            mirror_link,
        ));
    }
    if !serve_nothing.is_empty() {
        problems.push(attention(
            &plural(
                serve_nothing.len(),
                "mirror answers but serves none of the files",
                "mirrors answer but serve none of the files",
            ),
            "/admin/mirrors?state=nothing",
            &serve_nothing,
            mirror_link,
        ));
    }
    if !unserved.is_empty() {
        problems.push(attention(
            &plural(
                unserved.len(),
                "active product has no mirror serving it",
                "active products have no mirror serving them",
            ),
            "/admin/products?state=unserved",
            &unserved,
            product_link,
        ));
    }
    if !partly.is_empty() {
        problems.push(attention(
            &plural(
                partly.len(),
                "active product has a system no mirror serves",
                "active products have a system no mirror serves",
            ),
            &format!("#{PARTLY}"),
            &partly_names,
            product_link,
        ));
    }
    if !empty.is_empty() {
        problems.push(attention(
            &plural(
                empty.len(),
                "product has no locations (nothing to download)",
                "products have no locations (nothing to download)",
            ),
            "/admin/products?state=empty",
            &empty,
            |name| format!("/admin/products/{}", seg(name)),
        ));
    }
    match runs.first() {
        None if !s.mirrors.is_empty() => problems.push(html! {
            "Sentry has not checked the mirrors yet: see "
            a href="/admin/reports" { "Reports" } "."
        }),
        Some(r) if r.ended_at > 0 && r.failures > 0 => problems.push(html! {
            a href={ "/admin/reports/" (crate::sentry::report::file_name(r)) } {
                "The last sentry run (#" (r.id) ") had " (thousands(r.failures)) " failed "
                @if r.failures == 1 { "check" } @else { "checks" }
            }
            "."
        }),
        _ => {}
    }
    if !unchecked.is_empty() {
        problems.push(attention(
            &plural(
                unchecked.len(),
                "mirror has not been checked yet",
                "mirrors have not been checked yet",
            ),
            "/admin/mirrors?state=unchecked",
            &unchecked,
            mirror_link,
        ));
    }
    let tls = ctx.admin.tls.as_ref().map(|t| t.status());
    if let Some(problem) = tls.as_ref().and_then(|t| tls_problem(t, now as i64)) {
        problems.push(problem);
    }

    let body = html! {
        div.toolbar { h1 { "Overview" } span.muted { (crate::model::utc(now)) } }
        @if problems.is_empty() {
            p.flash role="status" {
                "Healthy: " (plural(tally.up, "mirror", "mirrors")) " up, every active product is served."
            }
        } @else {
            div.flash.error role="status" {
                strong { "Needs attention:" }
                ul { @for p in &problems { li.detail { (p) } } }
            }
        }
        // Mirrors in one row, products and downloads in the next; a colour
        // only where a figure is not 0.
        div.cards {
            div.stat.good[tally.up > 0] { span.value { (tally.up) } span.label { "mirrors up" @if tally.flapping > 0 { " (" (tally.flapping) " flapping)" } } }
            div.stat.warn[tally.nothing > 0] title="They answer, but receive downloads for none of their files" { span.value { (tally.nothing) } span.label { "mirrors serving nothing" } }
            div.stat.bad[tally.down > 0] { span.value { (tally.down) } span.label { "mirrors down" } }
            div.stat.off[tally.disabled > 0] { span.value { (tally.disabled) } span.label { "mirrors disabled (off or rating 0)" } }
            div.stat { span.value { (tally.unchecked) } span.label { "mirrors unchecked" } }
        }
        div.cards {
            div.stat { span.value { (active) } span.label { "active products (of " (s.products.len()) ")" } }
            div.stat { span.value { (public) } span.label { "public products" } }
            div.stat { span.value { (thousands(downloads_today)) } span.label { "downloads today (UTC)" } }
            div.stat { span.value { (thousands(counts.total)) } span.label { "downloads, last 30 days" } }
        }
        @if let Some(tls) = &tls { (tls_line(tls, now as i64)) }
        div.columns {
            section.card {
                h2 { "Downloads per day" }
                div.chart { (chart::daily(&days, &[Series { label: "Downloads", points: &points }], "Downloads per day, last 30 days")) }
                p { a href="/admin/stats" { "More statistics" } }
            }
            section {
                h2 { "Mirrors down" }
                @if down.is_empty() {
                    p.muted { "No mirror is down." }
                } @else {
                    div.scroll { table {
                        thead { tr { th { "Mirror" } th { "Error" } th { "Down since" } th { "Last check" } } }
                        tbody {
                            @for (m, h) in down.iter().take(RECENT) {
                                tr {
                                    td { a href={ "/admin/mirrors/" (seg(&m.name)) } { (m.name) } }
                                    td.detail { (mirrors::problem(h.problem(), &h.error, &m.base_url)) }
                                    td { (page::ago(h.since)) }
                                    td { (page::ago(h.checked_at)) }
                                }
                            }
                        }
                    } }
                    @if down.len() > RECENT {
                        p { a href="/admin/mirrors?state=down" { "All " (down.len()) " mirrors that are down" } }
                    }
                }
                h2 { "Sentry runs" }
                (runs_table(&runs, now))
                p { a href="/admin/reports" { "All reports" } }
            }
        }
        h2 { "Uptake" }
        p.muted { "Share of the total rating of active mirrors that can serve each product now, per system; the lowest is what a user may meet." }
        @if uptake.is_empty() {
            p.muted { "No active products. " a href="/admin/products" { "Add a product" } }
        } @else {
            div.scroll { table {
                thead { tr { th { "Product" } th.num { "Uptake (lowest)" } th { "Per system" } th.num { "Downloads (30 days)" } } }
                tbody {
                    @for row in &uptake {
                        tr {
                            td { a href={ "/admin/availability?product=" (seg(&row.product.name)) } { (row.product.name) } }
                            td.num {
                                @match row.lowest() {
                                    Some(p) => (uptake_badge(p)),
                                    None => span.muted { "no locations" },
                                }
                            }
                            td.detail {
                                @for (i, (os, p)) in row.systems.iter().enumerate() {
                                    @if i > 0 { " · " }
                                    (os) " " (format!("{p:.0} %"))
                                }
                            }
                            td.num { (thousands(row.downloads)) }
                        }
                    }
                }
            } }
            @if more_products > 0 {
                p.muted { (plural(more_products, "more active product", "more active products")) " — see " a href="/admin/availability" { "Availability" } "." }
            }
        }
        @if !partly.is_empty() {
            h2 id=(PARTLY) { "Products with a system no mirror serves" }
            p.muted { "Downloads for these systems cannot be served; each system links to its locations in the availability matrix." }
            div.scroll { table {
                thead { tr { th { "Product" } th { "Systems no mirror serves" } } }
                tbody {
                    @for (name, oses) in &partly {
                        tr {
                            td { a href=(product_link(name)) { (name) } }
                            td.wrap {
                                @for (i, os) in oses.iter().enumerate() {
                                    @if i > 0 { ", " }
                                    a href={ (product_link(name)) "&q=" (seg(os)) } { (os) }
                                }
                            }
                        }
                    }
                }
            } }
        }
        h2 { "Latest changes" }
        (events_table(&events))
        p { a href="/admin/audit" { "The whole audit log" } }
    };
    Ok(ctx.page("", "Overview", body))
}

/// The "Needs attention" item of the HTTPS certificate, if it needs one:
/// none yet, a failure, or fewer than 14 days left.
fn tls_problem(tls: &crate::tls::Status, now: i64) -> Option<Markup> {
    if !tls.needs_attention(now) {
        return None;
    }
    let retry = tls.next_renewal.filter(|_| tls.error.is_some());
    Some(html! {
        @match &tls.certificate {
            None => { "HTTPS has no certificate yet, so the HTTPS listener refuses connections" }
            Some(c) if c.days_left(now) < 0.0 => { "The HTTPS certificate expired on " (crate::tls::utc(c.not_after)) }
            Some(c) if tls.error.is_some() => { "The HTTPS certificate could not be reloaded or renewed; the one valid until " (crate::tls::utc(c.not_after)) " stays" }
            Some(c) => { "The HTTPS certificate expires in " (format!("{:.0}", c.days_left(now).floor())) " days (" (crate::tls::utc(c.not_after)) ")" }
        }
        @if let Some(error) = &tls.error {
            ": " span.detail { (error) }
        }
        @if let Some(at) = retry {
            " The next attempt is at " (crate::tls::utc(at)) "; the server log has each attempt."
        } @else {
            "."
        }
    })
}

/// One line on the certificate the HTTPS listeners present.
fn tls_line(tls: &crate::tls::Status, now: i64) -> Markup {
    html! {
        p.muted {
            "HTTPS (" (tls.source.label()) "): "
            @match &tls.certificate {
                Some(c) => {
                    "certificate for " (c.names.join(", ")) ", valid until " (crate::tls::utc(c.not_after))
                    " (" (format!("{:.0}", c.days_left(now).floor())) " days), issued by " (c.issuer)
                    @if let Some(at) = tls.next_renewal { "; renewal due " (crate::tls::utc(at)) }
                    "."
                }
                None => "no certificate yet.",
            }
        }
    }
}

/// A "Needs attention" item: `what` ("3 mirrors are down") linking to the
/// list that shows them (`list`), then the first [`NAMED`] of `names`,
/// each linking to its own page (`link`), and how many more there are.
fn attention(what: &str, list: &str, names: &[&str], link: impl Fn(&str) -> String) -> Markup {
    html! {
        a href=(list) { (what) } ": "
        span.names {
            @for (i, name) in names.iter().take(NAMED).enumerate() {
                @if i > 0 { ", " }
                a href=(link(name)) { (name) }
            }
            @if names.len() > NAMED {
                " and " a href=(list) { (names.len() - NAMED) " more" }
            }
        }
        "."
    }
}

fn runs_table(runs: &[SentryRun], now: u64) -> Markup {
    html! {
        @if runs.is_empty() {
            p.muted { "Sentry has not run yet." }
        } @else {
            div.scroll { table {
                thead { tr { th { "Run" } th { "Kind" } th { "Started" } th.num { "Took" } th.num { "Checks" } th.num { "Failures" } th.num { "Changes" } } }
                tbody {
                    @for run in runs {
                        tr {
                            td {
                                @if run.ended_at > 0 {
                                    a href={ "/admin/reports/" (crate::sentry::report::file_name(run)) } { "#" (run.id) }
                                } @else {
                                    "#" (run.id)
                                }
                            }
                            td { (run.kind) }
                            td { (page::ago(run.started_at)) }
                            td.num {
                                @if run.ended_at > 0 {
                                    (duration(run.ended_at.saturating_sub(run.started_at)))
                                } @else {
                                    (badge(Badge::Warn, "running")) " " (duration(now.saturating_sub(run.started_at)))
                                }
                            }
                            td.num { (thousands(run.checks)) }
                            td.num {
                                @if run.failures > 0 { (badge(Badge::Bad, &thousands(run.failures))) } @else { "0" }
                            }
                            td.num { (thousands(run.changes)) }
                        }
                    }
                }
            } }
        }
    }
}

fn events_table(events: &[Event]) -> Markup {
    html! {
        @if events.is_empty() {
            p.muted { "Nothing has changed yet." }
        } @else {
            div.scroll { table {
                thead { tr { th { "Time" } th { "Who" } th { "What" } th { "Detail" } } }
                tbody {
                    @for e in events {
                        tr {
                            td { (page::ago(e.at)) }
                            td { (e.actor) }
                            td { code { (e.action) } }
                            td.detail { (e.detail) }
                        }
                    }
                }
            } }
        }
    }
}

#[cfg(test)]
mod tests {
    use hyper::StatusCode;

    use super::*;
    use crate::admin::testing::*;
    use crate::model::{Availability, CountBatch, MirrorId, ProductId, Role};
    use crate::store::NewProduct;

    /// The value of the stat card labelled `label` (text up to the label's
    /// first `<` or `(`).
    fn stat(page: &str, label: &str) -> String {
        let at = page
            .find(&format!(r#"<span class="label">{label}"#))
            .unwrap_or_else(|| panic!("no card {label:?} in {page}"));
        let open = r#"<span class="value">"#;
        let start = page[..at].rfind(open).unwrap() + open.len();
        page[start..at].trim_end_matches("</span>").to_string()
    }

    fn health(healthy: bool, error: &str, since: u64, flaps: u32) -> MirrorHealth {
        MirrorHealth {
            healthy,
            checked_at: crate::model::now(),
            since,
            error: error.into(),
            flaps,
            latency_ms: 12,
            throughput: 0,
            problem: None,
            reaches: Default::default(),
            alt: crate::model::Reach::Unknown,
            synced_at: 0,
        }
    }

    fn mirror(admin: &crate::admin::Admin, name: &str, rating: u32, inactive: bool) -> MirrorId {
        crate::admin::testing::add_rated_mirror(admin, name, rating, inactive)
    }

    fn product(admin: &crate::admin::Admin, name: &str, private: bool) -> ProductId {
        admin
            .network
            .write(&crate::model::Actor::Program("test"), |tx| {
                tx.product_add(NewProduct {
                    name: name.into(),
                    private,
                    ..NewProduct::default()
                })
            })
            .unwrap()
            .id
    }

    #[test]
    fn counts_mirrors_products_and_downloads() {
        let (_dir, admin) = admin();
        let ann = login(&admin, "ann", Role::Viewer);
        let now = crate::model::now();
        let up = mirror(&admin, "up1", 100, false);
        let flapping = mirror(&admin, "flap", 30, false);
        let down = mirror(&admin, "down1", 50, false);
        let _unchecked = mirror(&admin, "fresh", 20, false);
        let off = mirror(&admin, "off", 40, true);
        let zero = mirror(&admin, "zero", 0, false);
        admin
            .network
            .write(&crate::model::Actor::Sentry, |tx| {
                tx.set_health(up, &health(true, "", 0, 0))?;
                tx.set_health(flapping, &health(true, "", now - 60, 5))?;
                tx.set_health(
                    down,
                    &health(false, "503 Service Unavailable", now - 7200, 1),
                )?;
                tx.set_health(off, &health(true, "", 0, 0))?;
                tx.set_health(zero, &health(false, "refused", 0, 0))
            })
            .unwrap();
        let ff = product(&admin, "firefox", false);
        let tb = product(&admin, "thunderbird", true);
        product(&admin, "old", false);
        admin
            .network
            .write(&crate::model::Actor::Program("test"), |tx| {
                tx.product_update("old", |p| p.active = false)?;
                let loc = tx.location_add("firefox", "win", "/ff/:lang/setup.exe")?;
                tx.location_add("firefox", "linux", "/ff/:lang/ff.tar.xz")?;
                let present = Availability {
                    present: true,
                    healthy: true,
                    checked_at: now,
                    error: String::new(),
                };
                tx.set_availability(loc.id, up, &present)?;
                tx.set_availability(loc.id, down, &present)?;
                Ok(())
            })
            .unwrap();
        let today = crate::model::day_of(now);
        let store = admin.network.store();
        for (day, n) in [
            (today, 5),
            (today - 3, 10),
            (today - 29, 1),
            (today - 30, 1000),
        ] {
            store
                .add_counts(&CountBatch {
                    day,
                    products: vec![(ff, n), (tb, 7)],
                    ..CountBatch::default()
                })
                .unwrap();
        }
        store
            .write(&crate::model::Actor::Sentry, |tx| {
                tx.sentry_run_put(&mut SentryRun {
                    kind: "all".into(),
                    started_at: now - 100,
                    ended_at: now - 40,
                    checks: 12,
                    failures: 3,
                    changes: 1,
                    ..SentryRun::default()
                })
            })
            .unwrap();

        let r = get(&admin, &ann, "/admin/");
        assert_eq!(r.status(), StatusCode::OK);
        let page = body(r);
        // flap answers but has none of the files: not up, serving nothing.
        assert_eq!(stat(&page, "mirrors up"), "1");
        assert!(!page.contains("flapping)"));
        assert_eq!(stat(&page, "mirrors serving nothing"), "1");
        assert_eq!(stat(&page, "mirrors down"), "1");
        assert_eq!(stat(&page, "mirrors disabled"), "2", "off and rating 0");
        assert_eq!(stat(&page, "mirrors unchecked"), "1");
        assert_eq!(stat(&page, "active products"), "2");
        assert!(page.contains("active products (of 3)"));
        assert_eq!(stat(&page, "public products"), "1");
        assert_eq!(stat(&page, "downloads today"), "12");
        assert_eq!(stat(&page, "downloads, last 30 days"), "37");
        // Two rows: the five mirror states, then products and downloads.
        let rows: Vec<&str> = page
            .split(r#"<div class="cards">"#)
            .skip(1)
            .map(|r| r.split(r#"<div class="columns">"#).next().unwrap())
            .collect();
        assert_eq!(rows.len(), 2, "{page}");
        assert_eq!(rows[0].matches(r#"<div class="stat"#).count(), 5);
        assert_eq!(rows[1].matches(r#"<div class="stat"#).count(), 4);
        assert!(rows[0].contains("mirrors up") && rows[0].contains("mirrors unchecked"));
        assert!(rows[1].contains("active products") && rows[1].contains("downloads, last 30 days"));
        assert!(!rows[1].contains("mirrors"));
        assert!(page.contains(r#"<div class="stat off"><span class="value">2</span>"#));
        // The trend: 30 zero-filled days, today's total on hover.
        assert_eq!(page.matches("<circle").count(), 30);
        assert!(page.contains(&format!(
            "<title>{}: 12</title>",
            &crate::model::utc(now)[..10]
        )));
        // Uptake: firefox/win is served by up1 (100) of 100+30+50+20 active
        // rating; down1 has the file but is down; linux has no mirror.
        assert!(page.contains(r#"href="/admin/availability?product=firefox""#));
        assert!(page.contains("linux 0 % · win 50 %"), "{page}");
        assert!(page.contains(r#"<span class="badge bad">0 %</span>"#));
        // Down mirrors, with what the error means, the error and link.
        assert!(page.contains(r#"href="/admin/mirrors/down1""#));
        assert!(
            page.contains(r#"<span class="wrap">m.example answers with server errors (5xx)"#),
            "{page}"
        );
        assert!(page.contains("(sentry saw: 503 Service Unavailable)"));
        assert!(page.contains("2 h ago"));
        assert!(!page.contains(r#"href="/admin/mirrors/zero""#));
        // Sentry runs with failures, and the report link.
        assert!(page.contains(r#"href="/admin/reports/run-000001.html""#));
        assert!(page.contains(r#"<span class="badge bad">3</span>"#));
        // The verdict.
        assert!(page.contains("Needs attention"));
        assert!(page.contains(
            r#"<a href="/admin/mirrors?state=down">1 mirror is down</a>: <span class="names"><a href="/admin/mirrors/down1">down1</a></span>."#
        ), "{page}");
        // firefox: win is served, linux is not; the item links to the
        // list of such products on this page, which names the system.
        assert!(page.contains(
            r##"<a href="#partly-served">1 active product has a system no mirror serves</a>: <span class="names"><a href="/admin/availability?product=firefox">firefox</a></span>."##
        ), "{page}");
        let partly = &page[page.find(r#"<h2 id="partly-served">"#).expect("the list")..];
        let partly = &partly[..partly.find("</table>").unwrap()];
        assert_eq!(
            partly.matches("<tr>").count(),
            2,
            "heading and firefox: {partly}"
        );
        assert!(partly.contains(
            r#"<td class="wrap"><a href="/admin/availability?product=firefox&amp;q=linux">linux</a></td>"#
        ), "{partly}");
        // thunderbird (active) and old (inactive) have no locations: the
        // rows of the products list's state=empty.
        assert!(
            page.contains(r#"<a href="/admin/products?state=empty">2 products have no locations"#),
            "{page}"
        );
        assert!(page.contains(r#"<a href="/admin/products/thunderbird">thunderbird</a>"#));
        assert!(page.contains(r#"<a href="/admin/products/old">old</a>"#));
        assert!(page.contains(
            r#"<a href="/admin/reports/run-000001.html">The last sentry run (#1) had 3 failed checks</a>."#
        ), "{page}");
        assert!(page.contains(
            r#"<a href="/admin/mirrors?state=unchecked">1 mirror has not been checked yet</a>: <span class="names"><a href="/admin/mirrors/fresh">fresh</a></span>."#
        ), "{page}");
        // flap is up but receives downloads for nothing.
        assert!(page.contains(r#"<a href="/admin/mirrors?state=nothing">1 mirror answers but serves none of the files</a>"#), "{page}");
        // The latest audit events.
        assert!(page.contains("product.add"));
        assert!(page.contains("mirror.add"));
    }

    #[test]
    fn a_healthy_network_says_so() {
        let (_dir, admin) = admin();
        let ann = login(&admin, "ann", Role::Admin);
        let m = mirror(&admin, "m1", 10, false);
        admin
            .network
            .write(&crate::model::Actor::Sentry, |tx| {
                tx.set_health(m, &health(true, "", 0, 0))?;
                tx.sentry_run_put(&mut SentryRun {
                    kind: "all".into(),
                    started_at: 1,
                    ended_at: 2,
                    checks: 1,
                    ..SentryRun::default()
                })
            })
            .unwrap();
        let page = body(get(&admin, &ann, "/admin/"));
        assert!(page.contains("Healthy: 1 mirror up"), "{page}");
        assert!(!page.contains("Needs attention"));
        assert!(page.contains("No mirror is down."));
        assert!(page.contains("No active products."));
        assert_eq!(stat(&page, "downloads today"), "0");
        // Nothing down, disabled or unchecked: those figures are not coloured.
        for label in ["mirrors down", "mirrors disabled", "mirrors unchecked"] {
            assert!(
                page.contains(&format!(
                    r#"<div class="stat"><span class="value">0</span><span class="label">{label}"#
                )),
                "{label}: {page}"
            );
        }
        assert!(page.contains(
            r#"<div class="stat good"><span class="value">1</span><span class="label">mirrors up"#
        ));
    }

    /// Many problems of one kind: the first few named, the rest counted,
    /// all behind the link to the filtered list; the page says nothing a
    /// web page should not (no command lines).
    #[test]
    fn needs_attention_names_and_links_what_it_is_about() {
        let (_dir, admin) = admin();
        let ann = login(&admin, "ann", Role::Admin);
        let mut ids = Vec::new();
        for i in 0..8 {
            ids.push(mirror(&admin, &format!("m{i}"), 10, false));
        }
        admin
            .network
            .write(&crate::model::Actor::Sentry, |tx| {
                for id in &ids {
                    tx.set_health(*id, &health(false, "refused", 1, 0))?;
                }
                Ok(())
            })
            .unwrap();
        for i in 0..3 {
            let name = format!("p{i}");
            product(&admin, &name, false);
            admin
                .network
                .write(&crate::model::Actor::Program("test"), |tx| {
                    tx.location_add(&name, "win", &format!("/{name}/setup.exe"))
                        .map(drop)
                })
                .unwrap();
        }
        let page = body(get(&admin, &ann, "/admin/"));
        assert!(page.contains(
            r#"<a href="/admin/mirrors?state=down">8 mirrors are down</a>: <span class="names"><a href="/admin/mirrors/m0">m0</a>, <a href="/admin/mirrors/m1">m1</a>, <a href="/admin/mirrors/m2">m2</a>, <a href="/admin/mirrors/m3">m3</a>, <a href="/admin/mirrors/m4">m4</a> and <a href="/admin/mirrors?state=down">3 more</a></span>."#
        ), "{page}");
        assert!(page.contains(
            r#"<a href="/admin/products?state=unserved">3 active products have no mirror serving them</a>: <span class="names"><a href="/admin/availability?product=p0">p0</a>, <a href="/admin/availability?product=p1">p1</a>, <a href="/admin/availability?product=p2">p2</a></span>."#
        ), "{page}");
        assert!(page.contains("Sentry has not checked the mirrors yet"));
        for cli in [
            "`bouncer ",
            "bouncer mirror",
            "bouncer product",
            "bouncer sentry",
        ] {
            assert!(!page.contains(cli), "{cli}");
        }
        // Long details wrap inside their table, which scrolls on its own.
        assert!(page.contains(r#"<div class="scroll"><table><thead><tr><th>Time</th>"#));
        assert!(page.contains(r#"<td class="detail">"#));
    }

    /// The product items of "Needs attention" count the rows their link
    /// shows: `state=empty` (active or not) and `state=unserved` on the
    /// products list, and the overview's own list of products with a
    /// system no mirror serves.
    #[test]
    fn product_counts_are_the_rows_behind_their_links() {
        let (_dir, admin) = admin();
        let ann = login(&admin, "ann", Role::Viewer);
        let up = mirror(&admin, "up", 10, false);
        for name in [
            "a-empty",
            "b-off-empty",
            "c-off",
            "d-unserved",
            "e-partly",
            "f-served",
        ] {
            product(&admin, name, false);
        }
        let now = crate::model::now();
        admin
            .network
            .write(&crate::model::Actor::Sentry, |tx| {
                tx.set_health(up, &health(true, "", 0, 0))?;
                tx.product_update("b-off-empty", |p| p.active = false)?;
                tx.product_update("c-off", |p| p.active = false)?;
                tx.location_add("c-off", "win", "/c.exe")?;
                tx.location_add("d-unserved", "win", "/d.exe")?;
                let served = |tx: &mut crate::store::Tx, product: &str, os: &str| {
                    let l = tx.location_add(product, os, &format!("/{product}/{os}"))?;
                    let present = Availability {
                        present: true,
                        healthy: true,
                        checked_at: now,
                        error: String::new(),
                    };
                    tx.set_availability(l.id, up, &present)
                };
                served(tx, "e-partly", "win")?;
                tx.location_add("e-partly", "osx", "/e.dmg")?;
                tx.location_add("e-partly", "linux", "/e.tar")?;
                served(tx, "f-served", "win")
            })
            .unwrap();
        let products = |query: &str| -> Vec<String> {
            let page = body(get(
                &admin,
                &ann,
                &format!("/admin/products?{query}&per=500"),
            ));
            let mut out: Vec<String> = page
                .split(r#"<td class="wrap"><a href="/admin/products/"#)
                .skip(1)
                .map(|rest| rest[..rest.find('"').unwrap()].to_string())
                .collect();
            out.sort();
            out
        };
        assert_eq!(products("state=empty"), ["a-empty", "b-off-empty"]);
        assert_eq!(products("state=unserved"), ["d-unserved"]);
        let page = body(get(&admin, &ann, "/admin/"));
        assert!(page.contains(
            r#"<a href="/admin/products?state=empty">2 products have no locations (nothing to download)</a>: <span class="names"><a href="/admin/products/a-empty">a-empty</a>, <a href="/admin/products/b-off-empty">b-off-empty</a></span>."#
        ), "{page}");
        assert!(page.contains(
            r#"<a href="/admin/products?state=unserved">1 active product has no mirror serving it</a>: <span class="names"><a href="/admin/availability?product=d-unserved">d-unserved</a></span>."#
        ), "{page}");
        assert!(
            page.contains(
                r##"<a href="#partly-served">1 active product has a system no mirror serves</a>"##
            ),
            "{page}"
        );
        let partly = &page[page.find(r#"<h2 id="partly-served">"#).expect("the list")..];
        let partly = &partly[..partly.find("</table>").unwrap()];
        assert_eq!(
            partly.matches("<tr>").count(),
            2,
            "heading and e-partly: {partly}"
        );
        assert!(partly.contains(
            r#"<a href="/admin/availability?product=e-partly&amp;q=linux">linux</a>, <a href="/admin/availability?product=e-partly&amp;q=osx">osx</a></td>"#
        ), "{partly}");
    }

    #[test]
    fn empty_network_and_other_paths() {
        let (_dir, admin) = admin();
        let ann = login(&admin, "ann", Role::Admin);
        let page = body(get(&admin, &ann, "/admin/"));
        assert!(page.contains("No mirror is in rotation"));
        assert!(page.contains("No data") || page.contains("<svg"));
        assert_eq!(
            get(&admin, &ann, "/admin/nothing").status(),
            StatusCode::NOT_FOUND
        );
        assert_eq!(
            post(&admin, &ann, "/admin/", &[]).status(),
            StatusCode::NOT_FOUND
        );
    }

    #[test]
    fn hostile_names_are_escaped() {
        let (_dir, admin) = admin();
        let ann = login(&admin, "ann", Role::Admin);
        let evil_product = "<script>alert(1)</script>";
        let evil_mirror = r#""><img/src=x/onerror=alert(1)>"#;
        let m = mirror(&admin, evil_mirror, 10, false);
        let p = product(&admin, evil_product, false);
        admin
            .network
            .write(&crate::model::Actor::Sentry, |tx| {
                tx.set_health(m, &health(false, "<b>bad</b> \"quoted\" ünïcode", 1, 0))?;
                tx.location_add(evil_product, "win", "/x.exe").map(drop)
            })
            .unwrap();
        admin
            .network
            .store()
            .add_counts(&CountBatch {
                day: crate::model::day_of(crate::model::now()),
                products: vec![(p, 3)],
                ..CountBatch::default()
            })
            .unwrap();
        let page = body(get(&admin, &ann, "/admin/"));
        assert!(!page.contains("<script>alert"), "{page}");
        assert!(!page.contains("<img/src"));
        assert!(!page.contains("<b>bad"));
        assert!(page.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
        assert!(page.contains("&quot;&gt;&lt;img/src=x/onerror=alert(1)&gt;"));
        assert!(page.contains("&lt;b&gt;bad&lt;/b&gt; &quot;quoted&quot; ünïcode"));
        // Links carry the names percent-encoded.
        assert!(page.contains(&format!(
            r#"href="/admin/availability?product={}""#,
            seg(evil_product)
        )));
        assert!(page.contains(&format!(r#"href="/admin/mirrors/{}""#, seg(evil_mirror))));
    }

    /// The tally counts each state the way the mirrors list filters it,
    /// and its badge is the list's.
    #[test]
    fn the_tally_follows_the_list_filters() {
        let now = 1_000_000;
        let mut m = crate::model::fixtures::mirror(1, "https://m.example", 10);
        // (active, rating, health, serves, state, badge word, tally key)
        let cases = [
            (
                true,
                10,
                None,
                0,
                MirrorState::Unchecked,
                "unchecked",
                "unchecked",
            ),
            (
                true,
                10,
                Some(health(false, "x", 0, 0)),
                0,
                MirrorState::Down,
                "down",
                "down",
            ),
            (
                true,
                10,
                Some(health(true, "", now, 5)),
                3,
                MirrorState::Flapping,
                "flapping",
                "up",
            ),
            (
                true,
                10,
                Some(health(true, "", 0, 0)),
                3,
                MirrorState::Up,
                "up",
                "up",
            ),
            (
                true,
                10,
                Some(health(true, "", 0, 0)),
                0,
                MirrorState::ServesNothing,
                "up — serves nothing",
                "nothing",
            ),
            (
                false,
                10,
                Some(health(false, "x", 0, 0)),
                0,
                MirrorState::Disabled,
                "disabled",
                "disabled",
            ),
            (
                true,
                0,
                None,
                0,
                MirrorState::Standby,
                "rating 0",
                "disabled",
            ),
        ];
        for (active, rating, h, serves, want, text, key) in cases {
            m.active = active;
            m.rating = rating;
            let st = MirrorState::of(&m, h.as_ref(), serves, 5, now);
            assert_eq!(st, want);
            let badge = mirrors::state_badge(st).into_string();
            assert!(badge.contains(&format!(">{text}<")), "{badge} for {want:?}");
            // Serving nothing is a warning, never green.
            if st == MirrorState::ServesNothing {
                assert!(badge.contains("badge warn"), "{badge}");
            }
            let mut tally = Tally::default();
            tally.add(st);
            let counted = [
                ("up", tally.up),
                ("nothing", tally.nothing),
                ("down", tally.down),
                ("disabled", tally.disabled),
                ("unchecked", tally.unchecked),
            ];
            for (k, n) in counted {
                assert_eq!(n, usize::from(k == key), "{want:?} counted under {k}");
            }
            assert_eq!(tally.flapping, usize::from(st == MirrorState::Flapping));
        }
    }

    /// Each figure of the overview, and each "Needs attention" count,
    /// is the number of rows the mirrors list shows behind its link, on
    /// the same network.
    #[test]
    fn overview_counts_are_the_mirrors_list_rows() {
        let (_dir, admin) = admin();
        let ann = login(&admin, "ann", Role::Admin);
        let now = crate::model::now();
        // Of 14 mirrors: 3 up and serving (one flapping), 4 up serving
        // nothing, 2 down, 2 unchecked, 1 off, 2 at rating 0.
        let mut ids = Vec::new();
        for i in 0..14 {
            ids.push(mirror(
                &admin,
                &format!("m{i:02}"),
                if i >= 12 { 0 } else { 10 },
                i == 11,
            ));
        }
        product(&admin, "fx", false);
        admin
            .network
            .write(&crate::model::Actor::Program("test"), |tx| {
                let loc = tx.location_add("fx", "win", "/fx/setup.exe")?;
                let present = Availability {
                    present: true,
                    healthy: true,
                    checked_at: now,
                    error: String::new(),
                };
                for (i, id) in ids.iter().enumerate() {
                    match i {
                        0 | 1 => tx.set_health(*id, &health(true, "", 0, 0))?,
                        2 => tx.set_health(*id, &health(true, "", now - 60, 5))?,
                        3..=6 => tx.set_health(*id, &health(true, "", 0, 0))?,
                        7 | 8 => tx.set_health(*id, &health(false, "refused", now - 600, 0))?,
                        9 | 10 => {}
                        _ => tx.set_health(*id, &health(true, "", 0, 0))?,
                    }
                    // The serving ones, and the off and standby ones, have
                    // the file; the down ones too.
                    if matches!(i, 0..=2 | 7 | 8 | 11..) {
                        tx.set_availability(loc.id, *id, &present)?;
                    }
                }
                Ok(())
            })
            .unwrap();
        let page = body(get(&admin, &ann, "/admin/"));
        let rows = |key: &str| {
            listed_mirrors(&body(get(
                &admin,
                &ann,
                &format!("/admin/mirrors?state={key}&per=500"),
            )))
            .len()
        };
        for (key, label, want) in [
            ("up", "mirrors up", 3),
            ("nothing", "mirrors serving nothing", 4),
            ("down", "mirrors down", 2),
            ("disabled", "mirrors disabled", 3),
            ("unchecked", "mirrors unchecked", 2),
        ] {
            assert_eq!(rows(key), want, "the list, state={key}");
            assert_eq!(stat(&page, label), want.to_string(), "{label}");
        }
        assert!(page.contains("mirrors up (1 flapping)"));
        assert!(page.contains(
            r#"<div class="stat warn" title="They answer, but receive downloads for none of their files"><span class="value">4</span>"#
        ), "{page}");
        for (key, what) in [
            ("nothing", "4 mirrors answer but serve none of the files"),
            ("down", "2 mirrors are down"),
            ("unchecked", "2 mirrors have not been checked yet"),
        ] {
            assert!(
                page.contains(&format!(
                    r#"<a href="/admin/mirrors?state={key}">{what}</a>"#
                )),
                "{key}: {page}"
            );
        }
        // The mirrors named under "serve nothing" are the list's rows.
        let nothing = listed_mirrors(&body(get(&admin, &ann, "/admin/mirrors?state=nothing")));
        assert_eq!(nothing, ["m03", "m04", "m05", "m06"]);
        let item = &page[page.find("?state=nothing\">4 mirrors").unwrap()..];
        let item = &item[..item.find("</li>").unwrap()];
        for name in &nothing {
            assert!(item.contains(&format!(">{name}<")), "{name}: {item}");
        }
    }

    #[test]
    fn the_https_certificate_is_shown_and_its_troubles_need_attention() {
        let (_dir, mut admin) = admin();
        let ann = login(&admin, "ann", Role::Admin);
        assert!(
            !body(get(&admin, &ann, "/admin/")).contains("HTTPS"),
            "no TLS, no line"
        );

        // ACME before its first certificate, after a failed order.
        let certificates = crate::tls::Certificates::new(crate::tls::Source::Acme);
        admin.tls = Some(certificates.clone());
        let next = crate::model::now() as i64 + 60;
        certificates.failed(
            "the ACME directory https://acme.example/dir did not answer".into(),
            Some(next),
        );
        let page = body(get(&admin, &ann, "/admin/"));
        assert!(page.contains("HTTPS (acme): no certificate yet."), "{page}");
        assert!(page.contains("HTTPS has no certificate yet, so the HTTPS listener refuses connections: <span class=\"detail\">the ACME directory https://acme.example/dir did not answer</span>"), "{page}");
        assert!(
            page.contains(&format!("The next attempt is at {}", crate::tls::utc(next))),
            "{page}"
        );

        // A good certificate: its names and expiry, nothing to attend to.
        let (cert, key) = crate::tls::self_signed(&["download.example.org"]).unwrap();
        let none = std::path::Path::new("-");
        let loaded = crate::tls::load_pem(
            cert.as_bytes(),
            key.as_bytes(),
            none,
            none,
            crate::model::now() as i64,
        )
        .unwrap();
        let until = crate::tls::utc(loaded.info.not_after);
        certificates.install(loaded);
        let page = body(get(&admin, &ann, "/admin/"));
        assert!(
            page.contains(&format!(
                "certificate for download.example.org, valid until {until}"
            )),
            "{page}"
        );
        assert!(page.contains("days), issued by CN=bouncer demo"), "{page}");
        assert!(
            !page.contains("HTTPS has no certificate")
                && !page.contains("HTTPS certificate expires"),
            "{page}"
        );
        // A reload that fails later: said so, the certificate in use stays.
        certificates.failed(
            "the key in k.pem does not belong to the certificate in c.pem".into(),
            None,
        );
        let page = body(get(&admin, &ann, "/admin/"));
        assert!(
            page.contains(&format!(
                "The HTTPS certificate could not be reloaded or renewed; the one valid until {until} stays: <span class=\"detail\">the key in k.pem"
            )),
            "{page}"
        );
    }
}
