//! Admin section: availability — which mirror serves which location, as
//! sentry last saw it, with the switches that act on it.
//!
//! A large network has 200 mirrors × 50,000 locations, so no page shows
//! everything: the front page summarises per mirror and offers choosers,
//! a product's page shows the matrix of its locations × the mirrors, paged
//! on both axes, and a mirror's page lists the locations it serves or
//! misses, paged.
//!
//! Routes: `GET /admin/availability` (summary and choosers),
//! `GET /admin/availability?product=NAME` (matrix),
//! `GET /admin/availability?mirror=NAME[&missing=1][&page=N][&per=N]` (list),
//! `POST /admin/availability/mirror/NAME/{enable,disable,check}`,
//! `POST /admin/availability/product/NAME/{enable,disable,check}`.
//! Every POST goes back to the page its button was on (form field `back`).
//!
//! The front page's list of mirrors takes `q`, `page`, `per`, `state` (the
//! states of `/admin/mirrors`, meaning the same) and `off=1` (switched-off
//! mirrors too; hidden unless asked for or `state=disabled`).
//!
//! The matrix's query fields (all optional besides `product`; every view
//! is a link):
//! - `mirror=TEXT`: mirrors whose name contains TEXT (any case).
//! - `q=TEXT`: locations whose OS or path contains TEXT.
//! - `region=NAME`: mirrors serving region NAME.
//! - `state=`: `present` (mirrors with a file they serve, and the
//!   locations so served), `missing` (mirrors missing a file, and the
//!   locations missing), `unchecked` (a file never checked), `down`
//!   (mirrors down), `disabled` (switched-off mirrors only).
//! - `off=1`: show switched-off mirrors (disabled, or rating 0) too; they
//!   are hidden by default. Mirrors are ordered live first (in rotation
//!   and healthy), then unchecked, down, switched off; by name within.
//! - `rows=locations`: locations as rows and mirrors as columns (the
//!   default is mirrors as rows).
//! - `page`, `per`: the page of rows (50 a page, at most 500);
//!   `cpage`, `cper`: the page of columns (20 a page, at most 100).
//!
//! The page reads what sentry found for the locations on the page only
//! (for every searched location when `state` is `present`, `missing` or
//! `unchecked`, which look at each cell) and renders only the page's rows
//! and columns, in a box that
//! scrolls on its own (the first column stays in view).

use std::collections::HashMap;

use maud::{Markup, html};

use super::list::{self, Listing};
use super::mirrors::{self, SERVES_TITLE, state_badge};
use super::page::{self, Badge, badge, seg};
use super::wording;
use super::{Ctx, Form, Page, PageResult};
use crate::auth::Area;
use crate::model::MirrorState;
use crate::model::{Availability, Location, LocationId, Mirror, MirrorHealth, MirrorId};
use crate::sentry::Mode;

const BASE: &str = "/admin/availability";

/// Answers requests below `/admin/availability`.
pub fn route(ctx: &Ctx<'_>, page: &Page<'_>) -> PageResult {
    match (page.post, page.rest().as_slice()) {
        (false, []) => {
            if let Some(product) = page.form.opt("product") {
                matrix(ctx, product, &page.form)
            } else if let Some(mirror) = page.form.opt("mirror") {
                mirror_list(ctx, mirror, &page.form)
            } else {
                summary(ctx, &page.form)
            }
        }
        (true, ["mirror", name, action]) => mirror_action(ctx, name, action, &page.form),
        (true, ["product", name, action]) => product_action(ctx, name, action, &page.form),
        _ => Ok(ctx.not_found("There is no such availability page.")),
    }
}

// ----- what a cell shows -----

/// Why a mirror cannot serve at all, in the words of every page's
/// [`MirrorState`]: disabled, rating 0 or down. `None`: it may serve (up,
/// flapping, unchecked).
fn out_of_service(m: &Mirror, health: Option<&MirrorHealth>) -> Option<MirrorState> {
    // What it serves plays no part in these three.
    match MirrorState::of(m, health, 0, 0, 0) {
        s @ (MirrorState::Disabled | MirrorState::Standby | MirrorState::Down) => Some(s),
        _ => None,
    }
}

/// Whether a mirror is in rotation (active, rating above 0), down or not.
fn could_serve(m: &Mirror) -> bool {
    m.active && m.rating > 0
}

/// How one (location, mirror) looks: a colour class and a word. Only a
/// file present on a mirror that is in rotation and healthy is "good";
/// grey is only for what sentry never checked.
fn state(
    m: &Mirror,
    a: Option<&Availability>,
    health: Option<&MirrorHealth>,
) -> (&'static str, &'static str) {
    match a {
        None => ("off", "never checked"),
        Some(a) if !a.present => ("bad", "missing"),
        Some(_) if !could_serve(m) => ("warn", "present, but the mirror is disabled"),
        Some(a) if !a.healthy || health.is_some_and(|h| !h.healthy) => {
            ("warn", "present, but the mirror is not healthy")
        }
        Some(_) => ("good", "present"),
    }
}

fn badge_of(class: &str) -> Badge {
    match class {
        "good" => Badge::Good,
        "bad" => Badge::Bad,
        "warn" => Badge::Warn,
        _ => Badge::Off,
    }
}

/// The hover text of a cell: what, when last checked, the last error.
fn describe(
    mirror: &Mirror,
    health: Option<&MirrorHealth>,
    location: &Location,
    a: Option<&Availability>,
    word: &str,
) -> String {
    let mut s = format!("{} · {}: {word}", mirror.name, location.os);
    // A present file's word says it already.
    if a.is_none_or(|a| !a.present)
        && let Some(why) = out_of_service(mirror, health)
    {
        s.push_str(&format!(" (mirror {})", why.word()));
    }
    match a {
        Some(a) if a.checked_at > 0 => {
            s.push_str(&format!("\nlast check {}", crate::model::utc(a.checked_at)))
        }
        _ => s.push_str("\nnever checked"),
    }
    if let Some(a) = a.filter(|a| !a.error.is_empty()) {
        s.push_str(&format!("\nlast error: {}", a.error));
    }
    s
}

fn legend() -> Markup {
    html! {
        div.legend {
            span { span.cell.good {} " present" }
            span { span.cell.warn {} " present, mirror down or disabled" }
            span { span.cell.bad {} " missing" }
            span { span.cell.off {} " never checked" }
        }
    }
}

/// A page's own address, where its POST buttons come back to.
fn back_to(form: &Form, fallback: &str) -> String {
    let b = form.get("back");
    let ok = (b == BASE || b.starts_with("/admin/availability?"))
        && !b.contains("//")
        && !b.contains('\\')
        && !b.chars().any(char::is_control);
    if ok {
        b.to_string()
    } else {
        fallback.to_string()
    }
}

fn mirror_buttons(ctx: &Ctx<'_>, m: &Mirror, back: &str) -> Markup {
    let url = format!("{BASE}/mirror/{}", seg(&m.name));
    html! {
        @if m.active {
            (page::button_back(ctx, &format!("{url}/disable"), Some(back), "Disable", "small danger",
                Some("Take this mirror out of rotation?")))
        } @else {
            (page::button_back(ctx, &format!("{url}/enable"), Some(back), "Enable", "small", None))
        }
        " "
        (page::button_back(ctx, &format!("{url}/check"), Some(back), "Check now", "small", None))
    }
}

// ----- the front page -----

fn summary(ctx: &Ctx<'_>, form: &Form) -> PageResult {
    let s = ctx.network().snapshot()?;
    // What each mirror gets traffic for now, from the live index (reading
    // every availability row would take seconds on a big network).
    let (serving, live_locations) = ctx.network().serving();
    let now = crate::model::now();
    // The states of /admin/mirrors, meaning what they mean there;
    // switched-off mirrors only when asked for (`off=1`, or that state).
    let shows_off = form.get("off") == "1";
    let list =
        Listing::from_form(form, "", mirrors::STATES).keep("off", if shows_off { "1" } else { "" });
    let off = shows_off || list.state == "disabled";
    let hidden_off = if off {
        0
    } else {
        s.mirrors.iter().filter(|m| !could_serve(m)).count()
    };
    let state_of = |m: &Mirror| {
        let serves = serving.get(&m.id).copied().unwrap_or(0);
        MirrorState::of(m, s.health.get(&m.id), serves, live_locations, now)
    };
    // Files missing at the last check: read only when that is the filter.
    let latest = if list.state == "missing" {
        let ids: Vec<_> = s.mirrors.iter().map(|m| m.id).collect();
        ctx.network().store().latest_checks(&ids)?
    } else {
        HashMap::new()
    };
    let mut mirrors: Vec<&Mirror> = s
        .mirrors
        .iter()
        .filter(|m| list.matches([m.name.as_str(), m.base_url.as_str()]))
        .filter(|m| {
            if list.state.is_empty() {
                off || could_serve(m)
            } else {
                let missing = latest.get(&m.id).is_some_and(|c| c.missing > 0);
                mirrors::in_state(&list.state, state_of(m), missing)
            }
        })
        .collect();
    mirrors.sort_by_cached_key(|m| (rank(m, s.health.get(&m.id)), m.name.to_lowercase()));
    let (mirrors, window) = list.window(mirrors);
    let locations = s.locations.len();
    let can = ctx.may(Area::Network);
    let back = list.href(BASE, &[]);
    let body = html! {
        div.toolbar {
            h1 { "Availability" }
            span.muted { (page::plural(locations, "location", "locations")) " · " (page::plural(s.mirrors.len(), "mirror", "mirrors")) }
        }
        div.columns {
            section.card {
                h2 { "A product's matrix" }
                p.muted { "Its locations against the mirrors." }
                form.toolbar method="get" action=(BASE) {
                    label.field {
                        span { "Product" }
                        input type="search" name="product" list="availability-products" required;
                    }
                    datalist id="availability-products" {
                        @for p in &s.products { option value=(p.name) {} }
                    }
                    button type="submit" { "Show" }
                }
            }
            section.card {
                h2 { "A mirror's files" }
                p.muted { "What one mirror serves and misses." }
                form.toolbar method="get" action=(BASE) {
                    label.field {
                        span { "Mirror" }
                        input type="search" name="mirror" list="availability-mirrors" required;
                    }
                    datalist id="availability-mirrors" {
                        @for m in &s.mirrors { option value=(m.name) {} }
                    }
                    button type="submit" { "Show" }
                }
            }
        }
        h2 { "By mirror" }
        @if s.mirrors.is_empty() {
            p.muted { "No mirrors yet. " a href="/admin/mirrors" { "Add one" } "." }
        } @else {
            (list.search(BASE, "mirrors", mirrors::STATES))
            p {
                @if shows_off && list.state.is_empty() {
                    a href=(list.href(BASE, &[("off", ""), ("page", "")])) { "Hide switched-off mirrors" }
                } @else if hidden_off > 0 && list.state.is_empty() {
                    a href=(list.href(BASE, &[("off", "1"), ("page", "")])) {
                        "Show " (page::plural(hidden_off, "switched-off mirror", "switched-off mirrors")) " (disabled or rating 0)"
                    }
                }
            }
            @if mirrors.is_empty() {
                p.muted { "No mirror matches this filter." }
            } @else {
                (list.pager(BASE, &window, "mirrors"))
                div.scroll {
                    table {
                        thead { tr {
                            th { "Mirror" } th { "Status" } th { "Last check" }
                            th.num title=(SERVES_TITLE) { "Serves" }
                            th { "Files" }
                            @if can { th {} }
                        } }
                        tbody {
                            @for m in &mirrors {
                                @let h = s.health.get(&m.id);
                                tr {
                                    td.wrap { a href={ "/admin/mirrors/" (seg(&m.name)) } { (m.name) } }
                                    td { (state_badge(state_of(m))) }
                                    td { (page::ago(h.map_or(0, |h| h.checked_at))) }
                                    td.num { (crate::chart::thousands(serving.get(&m.id).copied().unwrap_or(0) as u64)) }
                                    td {
                                        a href={ (BASE) "?mirror=" (seg(&m.name)) } { "all" } " · "
                                        a href={ (BASE) "?mirror=" (seg(&m.name)) "&missing=1" } { "not served" }
                                    }
                                    @if can { td.actions { (mirror_buttons(ctx, m, &back)) } }
                                }
                            }
                        }
                    }
                }
            }
        }
    };
    Ok(ctx.page("availability", "Availability", body))
}

// ----- a product's matrix -----

/// Mirror states the matrix filters by (`state=`).
const MATRIX_STATES: &[(&str, &str)] = &[
    ("present", "has a file (served)"),
    ("missing", "misses a file"),
    ("unchecked", "never checked for a file"),
    ("down", "down"),
    ("disabled", "switched off"),
];

/// Columns per page unless `cper` says otherwise.
pub const COLUMNS: usize = 20;
/// The most columns a page shows, whatever `cper` asks.
pub const MAX_COLUMNS: usize = 100;

/// The cell class a cell state filter keeps (`None`: the state is one of
/// the whole mirror, or there is no state filter).
fn cell_filter(state: &str) -> Option<&'static str> {
    match state {
        "present" => Some("good"),
        "missing" => Some("bad"),
        "unchecked" => Some("off"),
        _ => None,
    }
}

/// What the matrix query asks for (see the module doc).
struct View {
    /// `q` (locations), `state`, `page`/`per` (rows).
    list: Listing,
    product: String,
    /// Mirror name search.
    mirror: String,
    region: String,
    /// Switched-off mirrors shown too.
    off: bool,
    /// Locations as rows, mirrors as columns.
    by_location: bool,
    cpage: usize,
    cper: usize,
}

impl View {
    fn from_form(form: &Form, product: &str) -> View {
        let number = |name: &str, default: usize| {
            form.get(name)
                .parse::<usize>()
                .ok()
                .filter(|n| *n > 0)
                .unwrap_or(default)
        };
        let list = Listing::from_form(form, "", MATRIX_STATES);
        View {
            off: form.get("off") == "1" || list.state == "disabled",
            list,
            product: product.to_string(),
            mirror: form.get("mirror").chars().take(200).collect(),
            region: form.get("region").chars().take(200).collect(),
            by_location: form.get("rows") == "locations",
            cpage: number("cpage", 1),
            cper: number("cper", COLUMNS).min(MAX_COLUMNS),
        }
    }

    /// This view's link, changed by `change` (an empty value drops a
    /// field; defaults are left out).
    fn href(&self, change: &[(&str, &str)]) -> String {
        let (page, per) = (self.list.page.to_string(), self.list.per.to_string());
        let (cpage, cper) = (self.cpage.to_string(), self.cper.to_string());
        let mut pairs: Vec<(&str, &str)> = vec![
            ("product", &self.product),
            ("q", &self.list.q),
            ("mirror", &self.mirror),
            ("region", &self.region),
            ("state", &self.list.state),
            ("off", if self.off { "1" } else { "" }),
            ("rows", if self.by_location { "locations" } else { "" }),
            ("page", if self.list.page > 1 { &page } else { "" }),
            ("per", if self.list.per != list::PER { &per } else { "" }),
            ("cpage", if self.cpage > 1 { &cpage } else { "" }),
            ("cper", if self.cper != COLUMNS { &cper } else { "" }),
        ];
        for (k, v) in change {
            if let Some(pair) = pairs.iter_mut().find(|(key, _)| key == k) {
                pair.1 = v;
            }
        }
        format!("{BASE}{}", page::query(&pairs))
    }
}

/// Where a mirror stands in the matrix's order: live (in rotation and
/// healthy) first, then unchecked, down, and switched off last.
fn rank(m: &Mirror, h: Option<&MirrorHealth>) -> u8 {
    match h {
        _ if !could_serve(m) => 3,
        None => 1,
        Some(h) if !h.healthy => 2,
        Some(_) => 0,
    }
}

/// One line of the matrix, a row or a column.
#[derive(Clone, Copy)]
enum Line<'a> {
    Mirror(&'a Mirror),
    Location(&'a Location),
}

fn matrix(ctx: &Ctx<'_>, name: &str, form: &Form) -> PageResult {
    let store = ctx.network().store();
    let s = ctx.network().snapshot()?;
    let Some(product) = s.product(name) else {
        return Ok(ctx.not_found(&format!("There is no product named {name:?}.")));
    };
    let view = View::from_form(form, &product.name);
    let health = |m: &Mirror| s.health.get(&m.id);

    // The location axis: the product's locations, searched.
    let mut locations: Vec<&Location> = s
        .locations
        .iter()
        .filter(|l| l.product == product.id)
        .collect();
    let all_locations = locations.len();
    locations.retain(|l| view.list.matches([l.os.as_str(), l.path.as_str()]));
    locations.sort_by(|a, b| (&a.os, &a.path).cmp(&(&b.os, &b.path)));

    // The mirror axis: live first, switched-off ones only when asked.
    let hidden_off = s.mirrors.iter().filter(|m| !could_serve(m)).count();
    let needle = view.mirror.to_lowercase();
    let mut mirrors: Vec<&Mirror> = s
        .mirrors
        .iter()
        .filter(|m| view.off || could_serve(m))
        .filter(|m| needle.is_empty() || m.name.to_lowercase().contains(&needle))
        .filter(|m| {
            view.region.is_empty()
                || m.regions
                    .iter()
                    .any(|r| r.eq_ignore_ascii_case(&view.region))
        })
        .filter(|m| match view.list.state.as_str() {
            "down" => health(m).is_some_and(|h| !h.healthy),
            "disabled" => !could_serve(m),
            _ => true,
        })
        .collect();
    mirrors.sort_by_cached_key(|m| (rank(m, health(m)), m.name.to_lowercase()));

    // What sentry found, every mirror: for every searched location when
    // a cell filter must look at them all, else only for the page's.
    let wanted = cell_filter(&view.list.state);
    let to_read: &[&Location] = match wanted {
        Some(_) => &locations,
        None if view.by_location => {
            let w = view.list.window_of(locations.len());
            &locations[w.first..w.first + w.shown]
        }
        None => {
            let (first, shown, _, _) = column_window(view.cpage, view.cper, locations.len());
            &locations[first..first + shown]
        }
    };
    let mut cells: HashMap<LocationId, HashMap<MirrorId, Availability>> = HashMap::new();
    for l in to_read {
        cells.insert(l.id, store.availability_of(l.id)?.into_iter().collect());
    }
    let found = |l: &Location, m: &Mirror| cells.get(&l.id).and_then(|c| c.get(&m.id));
    let class = |l: &Location, m: &Mirror| state(m, found(l, m), health(m)).0;
    if let Some(wanted) = wanted {
        mirrors.retain(|m| locations.iter().any(|l| class(l, m) == wanted));
        locations.retain(|l| mirrors.iter().any(|m| class(l, m) == wanted));
    }
    let in_rotation = s.mirrors.iter().filter(|m| could_serve(m)).count();
    let serving = |l: &Location| s.mirrors.iter().filter(|m| class(l, m) == "good").count();

    // Rows paged by `page`/`per`, columns by `cpage`/`cper`.
    let (rows, cols): (Vec<Line<'_>>, Vec<Line<'_>>) = if view.by_location {
        (
            locations.iter().map(|l| Line::Location(l)).collect(),
            mirrors.iter().map(|m| Line::Mirror(m)).collect(),
        )
    } else {
        (
            mirrors.iter().map(|m| Line::Mirror(m)).collect(),
            locations.iter().map(|l| Line::Location(l)).collect(),
        )
    };
    let (rows, window) = view.list.window(rows);
    let col_total = cols.len();
    let (col_first, col_shown, cpage, col_pages) = column_window(view.cpage, view.cper, col_total);
    let cols: Vec<Line<'_>> = cols.into_iter().skip(col_first).take(col_shown).collect();
    let view = View { cpage, ..view };
    // A mirror's figure counts the locations on the page.
    let shown_locations: Vec<&Location> = rows
        .iter()
        .chain(&cols)
        .filter_map(|line| match line {
            Line::Location(l) => Some(*l),
            Line::Mirror(_) => None,
        })
        .collect();
    let present = |m: &Mirror| {
        shown_locations
            .iter()
            .filter(|l| found(l, m).is_some_and(|a| a.present))
            .count()
    };

    let back = view.href(&[]);
    let url = format!("{BASE}/product/{}", seg(&product.name));
    // A product's switches are the releases' (release users use them).
    let can = ctx.may(Area::Releases);
    let now = crate::model::now();
    let (row_what, col_what) = if view.by_location {
        ("locations", "mirrors")
    } else {
        ("mirrors", "locations")
    };
    let cell = |l: &Location, m: &Mirror| {
        let h = health(m);
        let a = found(l, m);
        let (class, word) = state(m, a, h);
        let text = describe(m, h, l, a, word);
        html! { td { span class={ "cell " (class) } title=(text) role="img" aria-label=(text) {} } }
    };
    // A row's or a column's heading, with its figure.
    let heading = |line: &Line<'_>, row: bool| match line {
        Line::Mirror(m) => {
            let h = health(m);
            html! {
                th scope=(if row { "row" } else { "col" }) {
                    a href={ (BASE) "?mirror=" (seg(&m.name)) } title=(mirror_status(m, h, now)) { (m.name) }
                    @if let Some(why) = out_of_service(m, h) { " " (state_badge(why)) }
                    br; small.muted title="locations on this page found on it" { (present(m)) " of " (shown_locations.len()) " present" }
                }
            }
        }
        Line::Location(l) => html! {
            th scope=(if row { "row" } else { "col" }) {
                strong { (l.os) } br;
                code.wrap { (l.path) }
                br; small.muted title="mirrors serving it / mirrors in rotation (active, rating above 0)" { (serving(l)) " / " (in_rotation) " serving" }
            }
        },
    };
    let regions: Vec<&str> = s.regions.iter().map(|r| r.name.as_str()).collect();
    let body = html! {
        div.toolbar {
            h1 { "Availability of " (product.name) }
            @if !product.active { (badge(Badge::Off, "inactive")) }
            @if product.checknow { (badge(Badge::Warn, "check pending")) }
            @if can {
                @if product.active {
                    (page::button_back(ctx, &format!("{url}/disable"), Some(&back), "Deactivate", "danger",
                        Some("Deactivate this product? Its downloads answer 404 until it is active again.")))
                } @else {
                    (page::button_back(ctx, &format!("{url}/enable"), Some(&back), "Activate", "", None))
                }
                (page::button_back(ctx, &format!("{url}/check"), Some(&back), "Check now", "", None))
            }
        }
        p {
            a href=(BASE) { "All of availability" } " · "
            a href={ "/admin/products/" (seg(&product.name)) } { "Product settings" }
        }
        form.search method="get" action=(BASE) role="search" {
            input type="hidden" name="product" value=(product.name);
            label.field { span { "Mirror" } input type="search" name="mirror" value=(view.mirror) maxlength="200"; }
            label.field { span { "Location (OS or path)" } input type="search" name="q" value=(view.list.q) maxlength="200"; }
            @if !regions.is_empty() {
                label.field {
                    span { "Region" }
                    select name="region" data-autosubmit {
                        option value="" selected[view.region.is_empty()] { "any" }
                        @for r in &regions { option value=(r) selected[view.region.eq_ignore_ascii_case(r)] { (r) } }
                    }
                }
            }
            label.field {
                span { "Mirrors that" }
                select name="state" data-autosubmit {
                    option value="" selected[view.list.state.is_empty()] { "any" }
                    @for (key, label) in MATRIX_STATES { option value=(key) selected[view.list.state == *key] { (label) } }
                }
            }
            @if view.off { input type="hidden" name="off" value="1"; }
            @if view.by_location { input type="hidden" name="rows" value="locations"; }
            button type="submit" { "Show" }
            @if view.list.narrowed() || !view.mirror.is_empty() || !view.region.is_empty() {
                a href=(view.href(&[("q", ""), ("mirror", ""), ("region", ""), ("state", ""), ("page", ""), ("cpage", "")])) { "Clear" }
            }
        }
        p.toolbar {
            @if view.by_location {
                a href=(view.href(&[("rows", ""), ("page", ""), ("cpage", "")])) { "Mirrors as rows" }
            } @else {
                a href=(view.href(&[("rows", "locations"), ("page", ""), ("cpage", "")])) { "Mirrors as columns" }
            }
            @if view.off {
                @if view.list.state != "disabled" {
                    a href=(view.href(&[("off", ""), ("page", ""), ("cpage", "")])) { "Hide switched-off mirrors" }
                }
            } @else if hidden_off > 0 {
                a href=(view.href(&[("off", "1"), ("page", ""), ("cpage", "")])) {
                    "Show " (page::plural(hidden_off, "switched-off mirror", "switched-off mirrors")) " (disabled or rating 0)"
                }
            }
        }
        @if all_locations == 0 {
            p.muted { "This product has no locations yet. " a href="/admin/loader" { "Load a checksum file" } " or add them on the " a href={ "/admin/products/" (seg(&product.name)) } { "product's page" } "." }
        } @else if s.mirrors.is_empty() {
            p.muted { "There are no mirrors yet. " a href="/admin/mirrors" { "Add one" } "." }
        } @else if rows.is_empty() || cols.is_empty() {
            p.muted { "Nothing matches this filter. " a href=(view.href(&[("q", ""), ("mirror", ""), ("region", ""), ("state", ""), ("page", ""), ("cpage", "")])) { "Show everything" } "." }
        } @else {
            (legend())
            (view.list.pager(&view.href(&[("page", "")]), &window, row_what))
            (column_pager(&view, col_first, cols.len(), col_total, col_pages, col_what))
            div.scroll {
                table.matrix {
                    thead { tr {
                        th scope="col" { @if view.by_location { "Location" } @else { "Mirror" } }
                        @for c in &cols { (heading(c, false)) }
                    } }
                    tbody {
                        @for r in &rows {
                            tr {
                                (heading(r, true))
                                @for c in &cols {
                                    @match (r, c) {
                                        (Line::Location(l), Line::Mirror(m)) | (Line::Mirror(m), Line::Location(l)) => (cell(l, m)),
                                        _ => td {},
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    };
    Ok(ctx.page(
        "availability",
        &format!("Availability of {}", product.name),
        body,
    ))
}

/// Which columns column page `cpage` of `cper` shows out of `total`:
/// (first, shown, page, pages), past the end the last page (a page
/// number, however large, never reaches an offset).
fn column_window(cpage: usize, cper: usize, total: usize) -> (usize, usize, usize, usize) {
    let pages = total.div_ceil(cper).max(1);
    let page = cpage.clamp(1, pages);
    let first = ((page - 1) * cper).min(total);
    (first, (total - first).min(cper), page, pages)
}

/// "Columns 21–40 of 120 locations" with links to the other column pages.
fn column_pager(
    view: &View,
    first: usize,
    shown: usize,
    total: usize,
    pages: usize,
    what: &str,
) -> Markup {
    let link = |n: usize| view.href(&[("cpage", &n.to_string())]);
    html! {
        @if pages > 1 {
            nav.pager aria-label={ "Columns of " (what) } {
                span { "Columns " (first + 1) "–" (first + shown) " of " (total) " " (what) }
                @if view.cpage > 1 {
                    a href=(link(1)) { "First" }
                    a href=(link(view.cpage - 1)) { "Previous columns" }
                }
                span.muted { "column page " (view.cpage) " of " (pages) }
                @if view.cpage < pages {
                    a href=(link(view.cpage + 1)) { "Next columns" }
                    a href=(link(pages)) { "Last" }
                }
            }
        }
    }
}

/// A mirror's state in [`MirrorState`]'s words, with its last error and
/// check (what it serves is the page's to say).
fn mirror_status(m: &Mirror, h: Option<&MirrorHealth>, now: u64) -> String {
    let mut s = match (MirrorState::of(m, h, 0, 0, now), h) {
        (MirrorState::Down, Some(h)) => format!("down: {}", h.error),
        (state, _) => state.word().to_string(),
    };
    if let Some(h) = h.filter(|h| h.checked_at > 0) {
        s.push_str(&format!("; last check {}", crate::model::utc(h.checked_at)));
    }
    s
}

// ----- a mirror's list -----

fn mirror_list(ctx: &Ctx<'_>, name: &str, form: &Form) -> PageResult {
    let missing_only = form.checked("missing");
    let store = ctx.network().store();
    let s = ctx.network().snapshot()?;
    let Some(m) = s.mirror(name) else {
        return Ok(ctx.not_found(&format!("There is no mirror named {name:?}.")));
    };
    // This mirror's row of every location, newest locations first.
    let mut found: HashMap<_, _> = store.availability_of_mirror(m.id)?.into_iter().collect();
    let mut rows: Vec<(&Location, Option<Availability>)> = s
        .locations
        .iter()
        .rev()
        .map(|l| (l, found.remove(&l.id)))
        .collect();
    let h = s.health.get(&m.id);
    let class = |a: &Option<Availability>| state(m, a.as_ref(), h).0;
    let serves = |a: &Option<Availability>| class(a) == "good";
    let count = |c: &str| rows.iter().filter(|(_, a)| class(a) == c).count();
    let (serving, missing, unserved, unchecked) =
        (count("good"), count("bad"), count("warn"), count("off"));
    if missing_only {
        rows.retain(|(_, a)| !serves(a));
    }
    let list = Listing::from_form(form, "", &[])
        .keep("mirror", &m.name)
        .keep("missing", if missing_only { "1" } else { "" });
    let (shown, window) = list.window(rows);
    let now = crate::model::now();
    let (serving_now, locations) = ctx.network().serving();
    let serves_now = serving_now.get(&m.id).copied().unwrap_or(0);
    let back = list.href(BASE, &[("page", &window.page.to_string())]);
    let product_name = |l: &Location| {
        s.product_by_id(l.product)
            .map_or("?".to_string(), |p| p.name.clone())
    };
    let body = html! {
        div.toolbar {
            h1 { "Availability on " (m.name) }
            (state_badge(MirrorState::of(m, h, serves_now, locations, now)))
            @if ctx.may(Area::Network) { (mirror_buttons(ctx, m, &back)) }
        }
        p {
            a href=(BASE) { "All of availability" } " · "
            a href={ "/admin/mirrors/" (seg(&m.name)) } { "Mirror settings" } " · "
            code { (m.base_url) }
        }
        @if let Some(h) = h.filter(|h| !h.healthy) {
            p.flash.error { "Down: " (mirrors::problem(h.problem(), &h.error, &m.base_url)) }
        }
        div.cards {
            (stat(serving, "files present and served", "good"))
            (stat(missing, "missing", "bad"))
            @if unserved > 0 {
                (stat(unserved, "present but not served", ""))
            }
            (stat(unchecked, "never checked", ""))
        }
        form.toolbar method="get" action=(BASE) {
            input type="hidden" name="mirror" value=(m.name);
            // In one line box, the checkbox's text and the button's share a
            // baseline (as flex items, they would align at the bottom).
            span {
                label.check {
                    input type="checkbox" name="missing" value="1" checked[missing_only] data-autosubmit;
                    " Only what it does not serve (missing, failing or unchecked)"
                }
                button type="submit" { "Show" }
            }
        }
        @if shown.is_empty() {
            p.muted { @if missing_only { "It serves every location." } @else { "There are no locations yet." } }
        } @else {
            div.scroll { table {
                thead { tr { th { "Product" } th { "OS" } th { "Path" } th { "Status" } th { "Last check" } th { "Last error" } } }
                tbody {
                    @for (l, a) in &shown {
                        @let (class, word) = state(m, a.as_ref(), h);
                        @let product = product_name(l);
                        tr {
                            td { a href={ (BASE) "?product=" (seg(&product)) } { (product) } }
                            td { (l.os) }
                            td.wrap { code { (l.path) } }
                            td { (badge(badge_of(class), word)) }
                            td { (page::ago(a.as_ref().map_or(0, |a| a.checked_at))) }
                            td.wrap { @if let Some(a) = a { small { (a.error) } } }
                        }
                    }
                }
            } }
            @if window.pages > 1 {
                (list.pager(BASE, &window, "locations"))
            }
        }
    };
    Ok(ctx.page("availability", &format!("Availability on {}", m.name), body))
}

/// A figure, coloured (`good`, `bad`) only when it is not 0.
fn stat(value: usize, label: &str, class: &str) -> Markup {
    html! {
        div.stat.good[value > 0 && class == "good"].bad[value > 0 && class == "bad"] {
            span.value { (crate::chart::thousands(value as u64)) }
            span.label { (label) }
        }
    }
}

// ----- switches -----

fn mirror_action(ctx: &Ctx<'_>, name: &str, action: &str, form: &Form) -> PageResult {
    let back = back_to(form, &format!("{BASE}?mirror={}", seg(name)));
    let active = match action {
        "enable" => true,
        "disable" => false,
        "check" => {
            return match ctx.check_now(Mode::All, Some(name)) {
                Ok(()) => Ok(ctx.done(
                    &back,
                    format!("Checking {name} now; the results show here and in Reports when the run ends."),
                )),
                Err(e) => Ok(ctx.failed(&back, wording::text(&e))),
            };
        }
        _ => return Ok(ctx.not_found("There is no such availability page.")),
    };
    Ok(
        match ctx.write(|tx| tx.mirror_update(name, |m| m.active = active)) {
            Ok(m) if active => ctx.done(
                &back,
                format!(
                    "Enabled mirror {}: it gets traffic for the files it serves.",
                    m.name
                ),
            ),
            Ok(m) => ctx.done(
                &back,
                format!(
                    "Disabled mirror {}: it gets no traffic until enabled again.",
                    m.name
                ),
            ),
            Err(e) => ctx.failed(&back, wording::text(&e)),
        },
    )
}

fn product_action(ctx: &Ctx<'_>, name: &str, action: &str, form: &Form) -> PageResult {
    let back = back_to(form, &format!("{BASE}?product={}", seg(name)));
    let change: fn(&mut crate::model::Product) = match action {
        "enable" => |p| p.active = true,
        "disable" => |p| p.active = false,
        "check" => |p| p.checknow = true,
        _ => return Ok(ctx.not_found("There is no such availability page.")),
    };
    let p = match ctx.write(|tx| tx.product_update(name, change)) {
        Ok(p) => p,
        Err(e) => return Ok(ctx.failed(&back, wording::text(&e))),
    };
    match action {
        "check" => match ctx.check_now(Mode::New, None) {
            Ok(()) => Ok(ctx.done(
                &back,
                format!(
                    "Checking {} now; the results show here and in Reports when the run ends.",
                    p.name
                ),
            )),
            Err(e) => Ok(ctx.failed(&back, wording::text(&e))),
        },
        "enable" => Ok(ctx.done(
            &back,
            format!("Activated product {}: it is bounced again.", p.name),
        )),
        _ => Ok(ctx.done(
            &back,
            format!(
                "Deactivated product {}: its downloads answer 404 until it is active again.",
                p.name
            ),
        )),
    }
}

#[cfg(test)]
mod tests {
    use hyper::StatusCode;

    use crate::admin::Admin;
    use crate::admin::list::PER;
    use crate::admin::testing::*;
    use crate::model::{Availability, MirrorHealth, Role};
    use crate::store::{NewMirror, NewProduct};

    /// Product `fx` with a `win` location, and mirrors `good` (serves it),
    /// `gone` (checked: missing), `sick` (has it, but is down) and `fresh`
    /// (never checked).
    fn network(admin: &Admin) {
        admin
            .network
            .write(&crate::model::Actor::Program("test"), |tx| {
                let p = tx.product_add(NewProduct {
                    name: "fx".into(),
                    ..NewProduct::default()
                })?;
                tx.product_checked(&p)?;
                let l = tx.location_add("fx", "win", "/fx/win/:lang/setup.exe")?;
                for name in ["good", "gone", "sick", "fresh"] {
                    let m = tx.mirror_add(NewMirror {
                        name: name.into(),
                        base_url: format!("http://127.0.0.1:9/{name}"),
                        rating: 10,
                        ..NewMirror::default()
                    })?;
                    let seen = |present: bool, error: &str| Availability {
                        present,
                        healthy: true,
                        checked_at: 1_700_000_000,
                        error: error.into(),
                    };
                    match name {
                        "good" => {
                            tx.set_availability(l.id, m.id, &seen(true, ""))?;
                        }
                        "gone" => {
                            tx.set_availability(l.id, m.id, &seen(false, "HTTP 404"))?;
                        }
                        "sick" => {
                            tx.set_availability(l.id, m.id, &seen(true, ""))?;
                            tx.set_health(
                                m.id,
                                &MirrorHealth {
                                    healthy: false,
                                    checked_at: 1_700_000_000,
                                    error: "connection refused".into(),
                                    ..MirrorHealth::default()
                                },
                            )?;
                        }
                        _ => {}
                    }
                }
                Ok(())
            })
            .unwrap();
    }

    fn cell(page: &str, mirror: &str) -> String {
        let at = page
            .find(&format!("title=\"{mirror} · win: "))
            .unwrap_or_else(|| panic!("no cell for {mirror}: {page}"));
        let start = page[..at].rfind("class=\"cell ").unwrap();
        page[start + 12..at]
            .trim_end()
            .trim_end_matches('"')
            .to_string()
    }

    fn candidates(admin: &Admin) -> Option<usize> {
        let index = admin.network.index();
        let target = index.resolve("fx", "win", "en-US").ok()?;
        Some(target.location.candidates(false).len())
    }

    #[test]
    fn matrix_colours_every_state() {
        let (_dir, admin) = admin();
        network(&admin);
        let ann = login(&admin, "ann", Role::Admin);
        let r = get(&admin, &ann, "/admin/availability?product=FX");
        assert_eq!(r.status(), StatusCode::OK);
        let page = body(r);
        assert_eq!(cell(&page, "good"), "good");
        assert_eq!(cell(&page, "gone"), "bad");
        assert_eq!(cell(&page, "sick"), "warn");
        assert_eq!(cell(&page, "fresh"), "off");
        assert!(
            page.contains("last check 2023-11-14 22:13:20 UTC"),
            "{page}"
        );
        assert!(page.contains("last error: HTTP 404"));
        assert!(page.contains("fresh · win: never checked"));
        assert!(page.contains("1 / 4"), "one of four mirrors serves it");
        assert!(page.contains("data-confirm"), "admins get the switches");

        let r = get(&admin, &ann, "/admin/availability?product=nope");
        assert_eq!(r.status(), StatusCode::NOT_FOUND);
    }

    #[test]
    fn down_and_disabled_mirrors_show_in_the_matrix() {
        let (_dir, admin) = admin();
        network(&admin);
        // `off` has the file but is switched off; `dead` is down and was
        // never checked for files.
        let l = admin.network.snapshot().unwrap().locations[0].id;
        admin
            .network
            .write(&crate::model::Actor::Program("test"), |tx| {
                let off = tx.mirror_add(NewMirror {
                    name: "off".into(),
                    base_url: "http://127.0.0.1:9/off".into(),
                    rating: 10,
                    inactive: true,
                    ..NewMirror::default()
                })?;
                tx.set_availability(
                    l,
                    off.id,
                    &Availability {
                        present: true,
                        healthy: true,
                        checked_at: 1_700_000_000,
                        error: String::new(),
                    },
                )?;
                let dead = tx.mirror_add(NewMirror {
                    name: "dead".into(),
                    base_url: "http://127.0.0.1:9/dead".into(),
                    rating: 10,
                    ..NewMirror::default()
                })?;
                tx.set_health(
                    dead.id,
                    &MirrorHealth {
                        healthy: false,
                        checked_at: 1_700_000_000,
                        error: "HTTP 500".into(),
                        ..MirrorHealth::default()
                    },
                )
            })
            .unwrap();
        let ann = login(&admin, "ann", Role::Admin);
        let page = body(get(&admin, &ann, "/admin/availability?product=fx"));
        assert!(
            !page.contains("off · win:"),
            "switched-off mirrors are hidden by default: {page}"
        );
        assert!(page.contains("Show 1 switched-off mirror"), "{page}");
        let page = body(get(&admin, &ann, "/admin/availability?product=fx&off=1"));
        assert!(page.contains("Hide switched-off mirrors"), "{page}");
        assert_eq!(cell(&page, "good"), "good");
        assert_eq!(cell(&page, "sick"), "warn", "present on a down mirror");
        assert_eq!(cell(&page, "off"), "warn", "present on a disabled mirror");
        assert!(page.contains("off · win: present, but the mirror is disabled"));
        assert_eq!(cell(&page, "dead"), "off", "truly never checked");
        assert!(
            page.contains("dead · win: never checked (mirror down)"),
            "{page}"
        );
        // The mirrors' headings say which mirrors cannot serve.
        assert_eq!(
            page.matches(r#"</a> <span class="badge bad">down</span><br>"#)
                .count(),
            2,
            "sick and dead: {page}"
        );
        assert_eq!(
            page.matches(r#"<span class="badge off">disabled</span>"#)
                .count(),
            1
        );
        // Of the five mirrors in rotation (not `off`), one serves it.
        assert!(page.contains(">1 / 5 serving</small>"), "{page}");

        // A mirror's page: zero is neutral, and present-but-unserved files
        // are counted apart from missing ones.
        let page = body(get(&admin, &ann, "/admin/availability?mirror=sick"));
        assert!(page.contains(
            r#"<div class="stat"><span class="value">0</span><span class="label">missing</span>"#
        ), "{page}");
        assert!(page.contains(
            r#"<div class="stat"><span class="value">0</span><span class="label">files present and served</span>"#
        ));
        assert!(page.contains(
            r#"<span class="value">1</span><span class="label">present but not served</span>"#
        ));
        // The checkbox and its button share one row.
        assert!(page.contains(
            r#"<span><label class="check"><input type="checkbox" name="missing" value="1" data-autosubmit>"#
        ), "{page}");
        assert!(page.contains(r#"</label><button type="submit">Show</button></span></form>"#));
        let page = body(get(&admin, &ann, "/admin/availability?mirror=gone"));
        assert!(page.contains(
            r#"<div class="stat bad"><span class="value">1</span><span class="label">missing</span>"#
        ), "{page}");
        let page = body(get(&admin, &ann, "/admin/availability?mirror=good"));
        assert!(page.contains(
            r#"<div class="stat good"><span class="value">1</span><span class="label">files present and served</span>"#
        ), "{page}");
    }

    #[test]
    fn summary_and_mirror_pages_count() {
        let (_dir, admin) = admin();
        network(&admin);
        let ann = login(&admin, "ann", Role::Admin);
        let page = body(get(&admin, &ann, "/admin/availability"));
        assert!(page.contains("data-autosubmit"), "{page}");
        assert!(page.contains(r#"<option value="fx"></option>"#), "{page}");
        assert!(page.contains(r#"href="/admin/availability?mirror=gone""#));
        assert!(page.contains("Show"));

        let page = body(get(&admin, &ann, "/admin/availability?mirror=gone"));
        assert!(page.contains("HTTP 404"), "{page}");
        assert!(page.contains("/fx/win/:lang/setup.exe"));
        assert!(page.contains("badge bad"));
        let page = body(get(
            &admin,
            &ann,
            "/admin/availability?mirror=good&missing=1",
        ));
        assert!(page.contains("It serves every location."), "{page}");
        let page = body(get(
            &admin,
            &ann,
            "/admin/availability?mirror=fresh&missing=1",
        ));
        assert!(page.contains("/fx/win/:lang/setup.exe"), "{page}");
        assert!(page.contains("never checked"));
        let r = get(&admin, &ann, "/admin/availability?mirror=nope");
        assert_eq!(r.status(), StatusCode::NOT_FOUND);
    }

    #[test]
    fn a_mirror_list_is_paged() {
        let (_dir, admin) = admin();
        admin
            .network
            .write(&crate::model::Actor::Program("test"), |tx| {
                tx.mirror_add(NewMirror {
                    name: "m".into(),
                    base_url: "http://127.0.0.1:9".into(),
                    rating: 1,
                    ..NewMirror::default()
                })?;
                for p in 0..26 {
                    let name = format!("p{p:02}");
                    tx.product_add(NewProduct {
                        name: name.clone(),
                        ..NewProduct::default()
                    })?;
                    for os in crate::model::DEFAULT_OSES {
                        tx.location_add(&name, os, &format!("/{name}/{os}/f.zip"))?;
                    }
                }
                Ok(())
            })
            .unwrap();
        let ann = login(&admin, "ann", Role::Admin);
        let first = body(get(&admin, &ann, "/admin/availability?mirror=m"));
        assert_eq!(first.matches("<code>/p").count(), PER);
        assert!(first.contains("1–50 of 208 locations"), "{first}");
        assert!(first.contains(r#"href="/admin/availability?page=2&amp;mirror=m""#));
        // Newest first: the last product's locations lead.
        assert!(first.find("/p25/").unwrap() < first.find("/p24/").unwrap());
        let second = body(get(
            &admin,
            &ann,
            "/admin/availability?mirror=m&missing=1&page=5",
        ));
        assert_eq!(second.matches("<code>/p").count(), 8);
        assert!(second.contains("/p00/"));
        assert!(second.contains(r#"href="/admin/availability?page=4&amp;mirror=m&amp;missing=1""#));
        // Past the end, however far: the last page.
        let far = body(get(
            &admin,
            &ann,
            &format!("/admin/availability?mirror=m&page={}", u64::MAX),
        ));
        assert!(far.contains("page 5 of 5"), "{far}");
    }

    #[test]
    fn switches_reach_the_index_at_once() {
        let (_dir, admin) = admin();
        network(&admin);
        let ann = login(&admin, "ann", Role::Admin);
        assert_eq!(candidates(&admin), Some(1));

        let back = "/admin/availability?product=fx";
        let r = post(
            &admin,
            &ann,
            "/admin/availability/mirror/good/disable",
            &[("back", back)],
        );
        assert_eq!(redirected(r), back);
        assert_eq!(candidates(&admin), Some(0));
        let page = body(get(&admin, &ann, "/admin/availability"));
        assert!(page.contains("Disabled mirror good"), "{page}");
        assert_eq!(
            admin.network.store().events(1).unwrap()[0].actor,
            "admin:ann"
        );
        let r = post(&admin, &ann, "/admin/availability/mirror/good/enable", &[]);
        assert_eq!(redirected(r), "/admin/availability?mirror=good");
        assert_eq!(candidates(&admin), Some(1));

        let r = post(
            &admin,
            &ann,
            "/admin/availability/product/fx/disable",
            &[("back", back)],
        );
        assert_eq!(redirected(r), back);
        assert_eq!(
            candidates(&admin),
            None,
            "an inactive product is not bounced"
        );
        assert!(!admin.network.snapshot().unwrap().products[0].active);
        let page = body(get(&admin, &ann, back));
        assert!(page.contains("Deactivated product fx"), "{page}");
        assert!(page.contains("inactive"));
        post(&admin, &ann, "/admin/availability/product/fx/enable", &[]);
        assert_eq!(candidates(&admin), Some(1));

        // Only pages of this section are places to come back to.
        for evil in ["https://evil.example/", "//evil.example", "/admin/users"] {
            let r = post(
                &admin,
                &ann,
                "/admin/availability/mirror/good/enable",
                &[("back", evil)],
            );
            assert_eq!(redirected(r), "/admin/availability?mirror=good");
        }
        let r = post(&admin, &ann, "/admin/availability/mirror/nope/disable", &[]);
        assert_eq!(redirected(r), "/admin/availability?mirror=nope");
        let r = post(&admin, &ann, "/admin/availability/mirror/good/explode", &[]);
        assert_eq!(r.status(), StatusCode::NOT_FOUND);
    }

    #[test]
    fn check_now() {
        let (_dir, admin) = admin();
        network(&admin);
        let ann = login(&admin, "ann", Role::Admin);
        let r = post(
            &admin,
            &ann,
            "/admin/availability/mirror/gone/check",
            &[("back", "/admin/availability")],
        );
        assert_eq!(redirected(r), "/admin/availability");
        let r = post(&admin, &ann, "/admin/availability/product/fx/check", &[]);
        assert_eq!(redirected(r), "/admin/availability?product=fx");
        let events = admin.network.store().events(10).unwrap();
        assert!(
            events.iter().any(
                |e| e.action == "product.update" && e.detail.contains("checknow false -> true")
            ),
            "{events:?}"
        );
    }

    /// Product `big` with `oses` locations (OS `o00`, `o01`, …) and
    /// `mirrors` mirrors `m000`, `m001`, … in rotation; every mirror has
    /// every file, except that the mirrors whose number `missing` accepts
    /// miss `o00`.
    fn big(admin: &Admin, mirrors: usize, oses: usize, missing: impl Fn(usize) -> bool) {
        admin
            .network
            .write(&crate::model::Actor::Program("test"), |tx| {
                tx.product_add(NewProduct {
                    name: "big".into(),
                    ..NewProduct::default()
                })?;
                let mut locations = Vec::new();
                for o in 0..oses {
                    let os = tx.os_add(&format!("o{o:02}"))?;
                    locations.push(tx.location_add("big", &os, &format!("/big/{os}/f.zip"))?);
                }
                for n in 0..mirrors {
                    let m = tx.mirror_add(NewMirror {
                        name: format!("m{n:03}"),
                        base_url: format!("http://127.0.0.1:9/m{n}"),
                        rating: 10,
                        ..NewMirror::default()
                    })?;
                    tx.set_health(
                        m.id,
                        &MirrorHealth {
                            healthy: true,
                            checked_at: 1_700_000_000,
                            ..MirrorHealth::default()
                        },
                    )?;
                    for (i, l) in locations.iter().enumerate() {
                        let present = !(i == 0 && missing(n));
                        tx.set_availability(
                            l.id,
                            m.id,
                            &Availability {
                                present,
                                healthy: true,
                                checked_at: 1_700_000_000,
                                error: if present {
                                    String::new()
                                } else {
                                    "HTTP 404".into()
                                },
                            },
                        )?;
                    }
                }
                Ok(())
            })
            .unwrap();
    }

    /// The mirrors' row headings of a matrix page, in order.
    fn mirror_rows(page: &str) -> Vec<String> {
        page.split(r#"<th scope="row"><a href="/admin/availability?mirror="#)
            .skip(1)
            .map(|s| s[..s.find('"').unwrap()].to_string())
            .collect()
    }

    #[test]
    fn the_matrix_renders_one_page_of_rows_and_columns() {
        let (_dir, admin) = admin();
        big(&admin, 60, 30, |_| false);
        let ann = login(&admin, "ann", Role::Admin);
        let page = body(get(&admin, &ann, "/admin/availability?product=big"));
        assert_eq!(mirror_rows(&page).len(), 50, "50 mirrors a page");
        assert_eq!(page.matches(r#"<th scope="col"><strong>"#).count(), 20);
        assert!(page.contains("1–50 of 60 mirrors"), "{page}");
        assert!(page.contains("Columns 1–20 of 30 locations"), "{page}");
        assert!(page.contains(r#"<div class="scroll"><table class="matrix">"#));
        let page = body(get(
            &admin,
            &ann,
            "/admin/availability?product=big&per=10&page=6&cper=8&cpage=4",
        ));
        assert_eq!(
            mirror_rows(&page),
            [
                "m050", "m051", "m052", "m053", "m054", "m055", "m056", "m057", "m058", "m059"
            ]
        );
        assert_eq!(page.matches(r#"<th scope="col"><strong>"#).count(), 6);
        assert!(page.contains("<strong>o29</strong>") && !page.contains("<strong>o23</strong>"));
        assert_eq!(
            page.matches(r#"<td><span class="cell "#).count(),
            60,
            "10 × 6 cells"
        );
        // Links keep the view.
        assert!(
            page.contains(
                "/admin/availability?product=big&amp;page=6&amp;per=10&amp;cpage=3&amp;cper=8"
            ),
            "{page}"
        );
    }

    #[test]
    fn live_mirrors_come_first_and_switched_off_ones_are_hidden() {
        let (_dir, admin) = admin();
        big(&admin, 4, 2, |_| false);
        admin
            .network
            .write(&crate::model::Actor::Program("test"), |tx| {
                // m000 down, m001 never checked, m002 rated 0, m003 live.
                let s = tx.mirrors()?;
                tx.set_health(
                    s[0].id,
                    &MirrorHealth {
                        healthy: false,
                        checked_at: 1_700_000_000,
                        error: "HTTP 500".into(),
                        ..MirrorHealth::default()
                    },
                )?;
                tx.mirror_add(NewMirror {
                    name: "a-new".into(),
                    base_url: "http://127.0.0.1:9/new".into(),
                    rating: 10,
                    ..NewMirror::default()
                })?;
                tx.mirror_update("m002", |m| m.rating = 0)?;
                tx.mirror_update("m001", |m| m.active = false)?;
                Ok(())
            })
            .unwrap();
        let ann = login(&admin, "ann", Role::Admin);
        let page = body(get(&admin, &ann, "/admin/availability?product=big"));
        assert_eq!(mirror_rows(&page), ["m003", "a-new", "m000"]);
        assert!(page.contains("Show 2 switched-off mirrors"), "{page}");
        assert!(page.contains(r#"href="/admin/availability?product=big&amp;off=1""#));
        let page = body(get(&admin, &ann, "/admin/availability?product=big&off=1"));
        assert_eq!(
            mirror_rows(&page),
            ["m003", "a-new", "m000", "m001", "m002"]
        );
        let page = body(get(
            &admin,
            &ann,
            "/admin/availability?product=big&state=disabled",
        ));
        assert_eq!(mirror_rows(&page), ["m001", "m002"]);
        let page = body(get(
            &admin,
            &ann,
            "/admin/availability?product=big&state=down",
        ));
        assert_eq!(mirror_rows(&page), ["m000"]);
    }

    #[test]
    fn the_matrix_turns_round() {
        let (_dir, admin) = admin();
        big(&admin, 3, 2, |_| false);
        let ann = login(&admin, "ann", Role::Admin);
        let page = body(get(&admin, &ann, "/admin/availability?product=big"));
        assert!(page.contains(r#"<th scope="col">Mirror</th>"#), "{page}");
        assert!(page.contains(r#"href="/admin/availability?product=big&amp;rows=locations">Mirrors as columns</a>"#), "{page}");
        let page = body(get(
            &admin,
            &ann,
            "/admin/availability?product=big&rows=locations",
        ));
        assert!(page.contains(r#"<th scope="col">Location</th>"#), "{page}");
        assert!(mirror_rows(&page).is_empty(), "mirrors are columns now");
        assert_eq!(page.matches(r#"<th scope="row"><strong>"#).count(), 2);
        assert_eq!(
            page.matches(r#"<th scope="col"><a href="/admin/availability?mirror="#)
                .count(),
            3
        );
        assert!(page.contains(">3 / 3 serving</small>"), "{page}");
        assert!(page.contains(r#"href="/admin/availability?product=big">Mirrors as rows</a>"#));
    }

    #[test]
    fn the_matrix_filters_by_mirror_region_state_and_location() {
        let (_dir, admin) = admin();
        big(&admin, 12, 3, |n| n % 4 == 0);
        admin
            .network
            .write(&crate::model::Actor::Program("test"), |tx| {
                tx.region_add(crate::model::Region {
                    name: "eu".into(),
                    throttle: 100,
                    fallback: None,
                    global_fallback: true,
                    countries: vec!["DE".into()],
                })?;
                for name in ["m001", "m004"] {
                    tx.mirror_update(name, |m| m.regions = vec!["eu".into()])?;
                }
                Ok(())
            })
            .unwrap();
        let ann = login(&admin, "ann", Role::Admin);
        let rows = |q: &str| {
            mirror_rows(&body(get(
                &admin,
                &ann,
                &format!("/admin/availability?product=big&{q}"),
            )))
        };
        assert_eq!(rows("mirror=M01"), ["m010", "m011"]);
        assert_eq!(rows("region=eu"), ["m001", "m004"]);
        assert_eq!(rows("state=missing"), ["m000", "m004", "m008"]);
        assert_eq!(rows("state=missing&region=eu"), ["m004"]);
        let page = body(get(
            &admin,
            &ann,
            "/admin/availability?product=big&state=missing",
        ));
        assert_eq!(
            page.matches(r#"<th scope="col"><strong>"#).count(),
            1,
            "only the location missing somewhere: {page}"
        );
        let page = body(get(&admin, &ann, "/admin/availability?product=big&q=o02"));
        assert_eq!(page.matches(r#"<th scope="col"><strong>"#).count(), 1);
        assert!(page.contains("<strong>o02</strong>"));
        let page = body(get(
            &admin,
            &ann,
            "/admin/availability?product=big&mirror=nothing-like-it",
        ));
        assert!(page.contains("Nothing matches this filter."), "{page}");
    }

    #[test]
    fn the_front_page_lists_live_mirrors_first_a_page_at_a_time() {
        let (_dir, admin) = admin();
        big(&admin, 70, 1, |_| false);
        admin
            .network
            .write(&crate::model::Actor::Program("test"), |tx| {
                tx.mirror_update("m000", |m| m.active = false)?;
                let m = tx.mirror_add(NewMirror {
                    name: "a-down".into(),
                    base_url: "http://127.0.0.1:9/down".into(),
                    rating: 10,
                    ..NewMirror::default()
                })?;
                tx.set_health(
                    m.id,
                    &MirrorHealth {
                        healthy: false,
                        checked_at: 1_700_000_000,
                        error: "HTTP 500".into(),
                        ..MirrorHealth::default()
                    },
                )
            })
            .unwrap();
        let ann = login(&admin, "ann", Role::Admin);
        let names = |page: &str| -> Vec<String> {
            page.split(r#"<td class="wrap"><a href="/admin/mirrors/"#)
                .skip(1)
                .map(|s| s[..s.find('"').unwrap()].to_string())
                .collect()
        };
        let page = body(get(&admin, &ann, "/admin/availability"));
        let shown = names(&page);
        assert_eq!(shown.len(), 50, "one page: {page}");
        assert_eq!(shown[0], "m001", "live first");
        assert!(!shown.contains(&"m000".to_string()), "switched off: hidden");
        assert!(page.contains("1–50 of 70 mirrors"), "{page}");
        assert!(page.contains("Show 1 switched-off mirror"), "{page}");
        let page = body(get(&admin, &ann, "/admin/availability?page=2"));
        assert_eq!(
            names(&page).last().unwrap(),
            "a-down",
            "down after the live ones"
        );
        let page = body(get(&admin, &ann, "/admin/availability?off=1&page=2"));
        assert_eq!(names(&page).last().unwrap(), "m000", "switched off last");
        let page = body(get(&admin, &ann, "/admin/availability?state=down"));
        assert_eq!(names(&page), ["a-down"]);
        let page = body(get(&admin, &ann, "/admin/availability?q=m06"));
        assert_eq!(names(&page).len(), 10);
        // "Serves": what the live index sends it downloads for.
        assert!(page.contains(r#"title="locations it receives downloads for now">Serves</th>"#));
        assert!(page.contains(r#"<td class="num">1</td>"#), "{page}");
    }

    #[test]
    fn viewers_see_no_switches() {
        let (_dir, admin) = admin();
        network(&admin);
        let vic = login(&admin, "vic", Role::Viewer);
        for path in [
            "/admin/availability",
            "/admin/availability?product=fx",
            "/admin/availability?product=fx&rows=locations",
            "/admin/availability?mirror=good",
        ] {
            let page = body(get(&admin, &vic, path));
            assert!(!page.contains("/disable"), "{path}: {page}");
            let main = &page[page.find("<main").unwrap()..];
            assert!(!main.contains(r#"method="post""#), "{path}: {main}");
            assert!(!page.contains("/check"), "{path}");
        }
        let r = post(&admin, &vic, "/admin/availability/mirror/good/disable", &[]);
        assert_eq!(r.status(), StatusCode::FORBIDDEN);
        assert_eq!(candidates(&admin), Some(1));
    }

    /// A product's switches are the releases': release users see and use
    /// them on its matrix, not a mirror's.
    #[test]
    fn release_users_switch_products_not_mirrors() {
        let (_dir, admin) = admin();
        network(&admin);
        let rel = login(&admin, "rel", Role::Release);
        let page = body(get(&admin, &rel, "/admin/availability?product=fx"));
        assert!(
            page.contains(r#"action="/admin/availability/product/fx/disable""#),
            "{page}"
        );
        assert!(page.contains(r#"action="/admin/availability/product/fx/check""#));
        let page = body(get(&admin, &rel, "/admin/availability?mirror=good"));
        assert!(!page.contains("/admin/availability/mirror/good/"), "{page}");
        let r = post(&admin, &rel, "/admin/availability/product/fx/disable", &[]);
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
    }

    /// Errors read as the web words them: a link to the page, no command.
    #[test]
    fn errors_name_the_page_not_the_command() {
        let (_dir, admin) = admin();
        network(&admin);
        let ann = login(&admin, "ann", Role::Admin);
        let r = post(
            &admin,
            &ann,
            "/admin/availability/mirror/nosuch/enable",
            &[],
        );
        let page = follow(&admin, &ann, r);
        assert!(page.contains("nosuch"), "{page}");
        assert!(!page.contains("bouncer mirror"), "{page}");
        assert!(page.contains("Mirrors page"), "{page}");
    }

    /// A column page number past any offset answers the last page.
    #[test]
    fn a_huge_column_page_answers_the_last_one() {
        let (_dir, admin) = admin();
        network(&admin);
        let ann = login(&admin, "ann", Role::Admin);
        let huge = u64::MAX;
        let r = get(
            &admin,
            &ann,
            &format!("/admin/availability?product=fx&cpage={huge}&page={huge}"),
        );
        assert_eq!(r.status(), StatusCode::OK);
        assert!(body(r).contains("/fx/win/"));
    }

    #[test]
    fn hostile_names_are_escaped() {
        let (_dir, admin) = admin();
        let product = "<script>alert(1)</script>";
        let mirror = "\"><img/src=x/onerror=alert(1)>";
        admin
            .network
            .write(&crate::model::Actor::Program("test"), |tx| {
                tx.product_add(NewProduct {
                    name: product.into(),
                    ..NewProduct::default()
                })?;
                tx.location_add(product, "win", "/x/%3Cb%3E.exe")?;
                tx.mirror_add(NewMirror {
                    name: mirror.into(),
                    base_url: "http://127.0.0.1:9".into(),
                    rating: 1,
                    ..NewMirror::default()
                })?;
                Ok(())
            })
            .unwrap();
        let ann = login(&admin, "ann", Role::Admin);
        for path in [
            "/admin/availability".to_string(),
            format!(
                "/admin/availability?product={}",
                crate::admin::page::seg(product)
            ),
            format!(
                "/admin/availability?mirror={}",
                crate::admin::page::seg(mirror)
            ),
        ] {
            let r = get(&admin, &ann, &path);
            assert_eq!(r.status(), StatusCode::OK, "{path}");
            let page = body(r);
            assert!(!page.contains("<script>alert"), "{path}: {page}");
            assert!(!page.contains("<img/src"), "{path}: {page}");
        }
    }
}
