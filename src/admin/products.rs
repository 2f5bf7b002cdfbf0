//! Admin section: products — the list with flags, uptake and traffic, the
//! aliases, and each product's flags, languages, locations and aliases.
//!
//! Routes:
//! - `GET /admin/products[?q=&state=&sort=&page=&per=]`: one page of the
//!   list ([`super::list`]): `q` is text in a name or alias, `state` one
//!   of [`STATES`] (`active`, `inactive`, `unserved`: active with
//!   locations that no mirror serves now, `empty`: no locations), `sort`
//!   one of `name`, `state`, `priority` (the default, descending),
//!   `locations`, `served` (uptake) and `downloads`. Then the add form and
//!   the aliases (those matching `q`, at most [`super::list::PER`]).
//! - `POST /admin/products`: by the form's `do` field: `add` (the default)
//!   adds a product; `alias` points `alias` at `product`; `unalias` removes
//!   `alias`.
//! - `GET /admin/products/NAME[?q=&sort=&page=&per=]`: one product, with
//!   one page of its locations (`q`: text in the OS or path; `sort`: `os`,
//!   `path` or `uptake`). Those who may not change products read its
//!   settings as text.
//! - `POST /admin/products/NAME`: saves its flags and priority; switching
//!   an active product off asks first (a confirmation page unless the
//!   form says `confirmed=yes`).
//! - `POST /admin/products/NAME/languages`: sets its languages.
//! - `POST /admin/products/NAME/locations`: adds a location (`os`, `path`).
//! - `POST /admin/products/NAME/locations/OS`: changes a location's path.
//! - `POST /admin/products/NAME/locations/OS/remove`
//! - `POST /admin/products/NAME/aliases`: points `alias` at this product.
//! - `POST /admin/products/NAME/aliases/ALIAS/remove`
//! - `POST /admin/products/NAME/check`: flags it `checknow` and starts a run.
//! - `POST /admin/products/NAME/remove`: removes it with its locations
//!   and the aliases pointing at it; every such alias must be among the
//!   form's `alias` fields (the ones its page named in the confirmation),
//!   else nothing is removed and the page says which it did not name.
//!
//! The section-wide alias forms post to the section's root: every path
//! segment right after `/admin/products/` may be a product's name
//! (`validate::name` accepts `aliases`, `-` or anything printable), so
//! no fixed word there could be told apart from a product.

use std::collections::HashMap;

use hyper::StatusCode;
use maud::{Markup, html};

use super::list::{self, Listing};
use super::page::{self, Badge, Input, badge, checkbox, csrf, field, plural, seg};
use super::{Ctx, Form, Page, PageResult, wording};
use crate::auth::Area;
use crate::error::Error;
use crate::error::Thing;
use crate::index::{Index, Uptake};
use crate::model::{Location, LocationId, Product, ProductId};
use crate::store::NewProduct;

/// Answers requests below `/admin/products`.
pub fn route(ctx: &Ctx<'_>, page: &Page<'_>) -> PageResult {
    match (page.post, page.rest().as_slice()) {
        (false, []) => list(ctx, &page.form, None),
        (true, []) => match page.form.get("do") {
            "" | "add" => add(ctx, &page.form),
            "alias" => alias_set(ctx, None, &page.form),
            "unalias" => alias_remove(ctx, None, page.form.get("alias")),
            _ => Ok(ctx.not_found("There is no such product action.")),
        },
        (false, [name]) => detail(ctx, name, &page.form, None),
        (false, [name, ..]) => Ok(crate::http::see_other(&product_url(name))),
        (true, [name]) => save(ctx, name, &page.form),
        (true, [name, "languages"]) => languages(ctx, name, &page.form),
        (true, [name, "locations"]) => location_add(ctx, name, &page.form),
        (true, [name, "locations", os]) => location_path(ctx, name, os, &page.form),
        (true, [name, "locations", os, "remove"]) => location_remove(ctx, name, os),
        (true, [name, "aliases"]) => alias_set(ctx, Some(name), &page.form),
        (true, [name, "aliases", alias, "remove"]) => alias_remove(ctx, Some(name), alias),
        (true, [name, "check"]) => check(ctx, name),
        (true, [name, "remove"]) => remove(ctx, name, &page.form),
        _ => Ok(ctx.not_found("There is no such product page.")),
    }
}

fn product_url(name: &str) -> String {
    format!("/admin/products/{}", seg(name))
}

/// The form on a page that failed, what was typed into it and why it
/// was refused; the page shows it again with the message.
struct Failed<'a> {
    part: Part,
    form: &'a Form,
    message: Markup,
}

/// The forms of the products pages.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Part {
    Add,
    Alias,
    Flags,
    Languages,
    NewLocation,
    /// The path form of the location for this OS.
    Path(String),
}

/// The failure if it belongs to `part`.
fn at<'f>(failed: Option<&'f Failed<'f>>, part: &Part) -> Option<&'f Failed<'f>> {
    failed.filter(|f| f.part == *part)
}

fn status(failed: Option<&Failed<'_>>) -> StatusCode {
    if failed.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    }
}

/// Uptake of every (product, os) of the live index, by product name.
fn uptake_by_product(index: &Index) -> HashMap<&str, Vec<&Uptake>> {
    let mut out: HashMap<&str, Vec<&Uptake>> = HashMap::new();
    for u in index.uptake() {
        out.entry(&u.product).or_default().push(u);
    }
    out
}

/// A product's uptake over all its locations: the rating that can serve
/// them against the rating that could.
fn product_share(rows: &[&Uptake]) -> Option<f64> {
    let total: u64 = rows.iter().map(|u| u.total).sum();
    (total > 0).then(|| rows.iter().map(|u| u.available).sum::<u64>() as f64 * 100.0 / total as f64)
}

fn percent(p: f64) -> String {
    format!("{p:.0} %")
}

fn flags(p: &Product) -> Markup {
    html! {
        @if p.active { (badge(Badge::Good, "active")) } @else { (badge(Badge::Off, "inactive")) }
        " "
        @if p.public { (badge(Badge::Good, "public")) } @else { (badge(Badge::Off, "private")) }
        @if p.ssl_only { " " (badge(Badge::Off, "ssl only")) }
        @if p.checknow { " " (badge(Badge::Warn, "check pending")) }
    }
}

fn languages_text(langs: &[String]) -> String {
    if langs.is_empty() {
        "all".into()
    } else {
        langs.len().to_string()
    }
}

/// The state filters of the products list (see the module doc).
pub const STATES: &[(&str, &str)] = &[
    ("active", "active"),
    ("inactive", "inactive"),
    ("unserved", "active, served by no mirror"),
    ("empty", "no locations"),
];

/// Where a product stands, for the list's state filter and sort.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum State {
    /// Active with locations, and no mirror serves any of them.
    Unserved,
    /// No locations (active or not).
    Empty,
    /// Active, and some mirror serves it.
    Active,
    /// Switched off.
    Inactive,
}

impl State {
    fn of(p: &Product, locations: usize, served: bool) -> State {
        match (p.active, locations, served) {
            (_, 0, _) => State::Empty,
            (false, _, _) => State::Inactive,
            (true, _, false) => State::Unserved,
            (true, _, true) => State::Active,
        }
    }

    /// Whether the list's state filter `key` selects it.
    fn selected_by(self, key: &str, active: bool) -> bool {
        match key {
            "active" => active,
            "inactive" => !active,
            "unserved" => self == State::Unserved,
            "empty" => self == State::Empty,
            _ => true,
        }
    }
}

/// One product of the list, with what its row shows and sorts by.
struct ListRow<'s> {
    product: &'s Product,
    oses: Vec<&'s str>,
    aliases: Vec<&'s str>,
    uptake: Vec<&'s Uptake>,
    share: Option<f64>,
    downloads: u64,
    state: State,
}

/// OS names a list row shows before "…".
const FEW_OSES: usize = 6;

fn list(ctx: &Ctx<'_>, view: &Form, failed: Option<&Failed<'_>>) -> PageResult {
    let network = ctx.network();
    let s = network.snapshot()?;
    let index = network.index();
    let uptake = uptake_by_product(&index);
    let today = crate::model::day_of(crate::model::now());
    let downloads = network
        .store()
        .downloads_by_product(today.saturating_sub(29), today)
        .unwrap_or_default();
    let mut oses: HashMap<ProductId, Vec<&str>> = HashMap::new();
    for l in &s.locations {
        oses.entry(l.product).or_default().push(&l.os);
    }
    let mut aliases: HashMap<ProductId, Vec<&str>> = HashMap::new();
    for a in &s.aliases {
        aliases.entry(a.product).or_default().push(&a.name);
    }
    let v = Listing::from_form(view, "-priority", STATES);
    let mut rows: Vec<ListRow<'_>> = s
        .products
        .iter()
        .map(|p| {
            let up = uptake.get(p.name.as_str()).cloned().unwrap_or_default();
            let oses = oses.remove(&p.id).unwrap_or_default();
            let served = up.iter().any(|u| u.available > 0);
            ListRow {
                state: State::of(p, oses.len(), served),
                share: product_share(&up),
                uptake: up,
                oses,
                aliases: aliases.remove(&p.id).unwrap_or_default(),
                downloads: downloads.get(&p.id).copied().unwrap_or(0),
                product: p,
            }
        })
        .filter(|r| r.state.selected_by(&v.state, r.product.active))
        .filter(|r| {
            v.matches(std::iter::once(r.product.name.as_str()).chain(r.aliases.iter().copied()))
        })
        .collect();
    let by_name = |a: &ListRow<'_>, b: &ListRow<'_>| {
        a.product
            .name
            .to_lowercase()
            .cmp(&b.product.name.to_lowercase())
    };
    rows.sort_by(|a, b| {
        let primary = match v.sort.as_str() {
            "locations" => a.oses.len().cmp(&b.oses.len()),
            "served" => a.share.unwrap_or(-1.0).total_cmp(&b.share.unwrap_or(-1.0)),
            "state" => a.state.cmp(&b.state),
            "downloads" => a.downloads.cmp(&b.downloads),
            "priority" => a.product.priority.cmp(&b.product.priority),
            _ => by_name(a, b),
        };
        v.order(primary).then_with(|| by_name(a, b))
    });
    let (shown, window) = v.window(rows);
    let target = |id: ProductId| s.product_by_id(id).map_or("", |p| p.name.as_str());
    let mut alias_rows: Vec<(&str, &str)> = s
        .aliases
        .iter()
        .map(|a| (a.name.as_str(), target(a.product)))
        .filter(|(a, p)| v.matches([*a, *p]))
        .collect();
    let aliases_found = alias_rows.len();
    alias_rows.sort_by_key(|(a, _)| a.to_lowercase());
    alias_rows.truncate(list::PER);
    let can = ctx.may(Area::Releases);
    let add = at(failed, &Part::Add);
    let alias = at(failed, &Part::Alias);
    const BASE: &str = "/admin/products";
    let body = html! {
        div.toolbar {
            h1 { "Products" }
            span.muted { (plural(s.products.len(), "product", "products")) }
            @if can { a href="#add" { "Add a product" } }
        }
        (v.search(BASE, "products", STATES))
        div.scroll {
            table {
                thead { tr {
                    (v.heading(BASE, "name", "Name", false))
                    (v.heading(BASE, "state", "State", false))
                    (v.heading(BASE, "priority", "Priority", true))
                    th.num { "Languages" }
                    (v.heading(BASE, "locations", "Locations", false))
                    th { "Aliases" }
                    (v.heading(BASE, "served", "Uptake", true))
                    (v.heading(BASE, "downloads", "Downloads (30 days)", true))
                } }
                tbody {
                    @for r in &shown {
                        @let p = r.product;
                        tr {
                            td.wrap { a href=(product_url(&p.name)) { (p.name) } }
                            td { (flags(p)) @if let Some(b) = state_badge(r.state) { " " (b) } }
                            td.num { (p.priority) }
                            td.num title=[(!p.languages.is_empty()).then(|| p.languages.join(" "))] { (languages_text(&p.languages)) }
                            td.wrap {
                                (r.oses.len())
                                @if !r.oses.is_empty() {
                                    " " small.muted {
                                        (r.oses.iter().take(FEW_OSES).copied().collect::<Vec<_>>().join(", "))
                                        @if r.oses.len() > FEW_OSES { ", …" }
                                    }
                                }
                            }
                            td.wrap { (r.aliases.join(", ")) }
                            td.num title=[(!r.uptake.is_empty()).then(|| uptake_title(&r.uptake))] {
                                @match r.share {
                                    Some(share) => (percent(share)),
                                    None => span.muted { "–" },
                                }
                            }
                            td.num { (crate::chart::thousands(r.downloads)) }
                        }
                    }
                    @if shown.is_empty() {
                        tr { td.muted colspan="8" { @if v.narrowed() { "No product matches." } @else { "No products yet." } } }
                    }
                }
            }
        }
        (v.pager(BASE, &window, "products"))
        @if can {
            section.card id="add" {
                h2 { "Add a product" }
                (wording::alert(add.map(|f| &f.message)))
                @let typed = |name: &str| add.map_or("", |f| f.form.get(name));
                form.stack method="post" action="/admin/products" {
                    (csrf(ctx))
                    input type="hidden" name="do" value="add";
                    (page::input(Input::Text, true, "Name", "name", typed("name"), Some("e.g. firefox-120.0; no spaces")))
                    (field("Languages", "languages", typed("languages"), Some("space- or comma-separated, e.g. en-US de fr; empty = every language")))
                    (checkbox("SSL only (https mirrors only)", "ssl_only", add.is_some_and(|f| f.form.checked("ssl_only"))))
                    (checkbox("Private (hidden from the download form and feeds)", "private", add.is_some_and(|f| f.form.checked("private"))))
                    div { button.primary type="submit" { "Add product" } }
                }
            }
        }
        section.card id="aliases" {
            h2 { "Aliases" }
            p.muted { "An alias is a stable name for a product (firefox-latest → firefox-120.0); it is resolved before products and may not equal a product's name." }
            @if aliases_found > alias_rows.len() {
                p.muted { "Showing " (alias_rows.len()) " of " (aliases_found) " aliases" @if v.q.is_empty() { " (by name)" } " ; search above for the others." }
            } @else if !v.q.is_empty() && !alias_rows.is_empty() {
                p.muted { "Aliases matching " code { (v.q) } " or pointing at a product that does." }
            }
            @if alias_rows.is_empty() {
                p.muted { @if v.q.is_empty() { "No aliases yet." } @else { "No alias matches." } }
            } @else {
                div.scroll {
                    table {
                        thead { tr { th { "Alias" } th { "Product" } @if can { th.actions {} } } }
                        tbody {
                            @for (a, p) in &alias_rows {
                                tr {
                                    td.wrap { (a) }
                                    td.wrap { a href=(product_url(p)) { (p) } }
                                    @if can {
                                        td.actions {
                                            form.inline method="post" action="/admin/products" {
                                                (csrf(ctx))
                                                input type="hidden" name="do" value="unalias";
                                                input type="hidden" name="alias" value=(a);
                                                button.small.danger type="submit" name="ask" value=(format!("Remove alias {a}?")) data-confirm=(format!("Remove alias {a}?")) { "Remove" }
                                            }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
            @if can {
                h3 { "Set an alias" }
                (wording::alert(alias.map(|f| &f.message)))
                form.stack method="post" action="/admin/products" {
                    (csrf(ctx))
                    input type="hidden" name="do" value="alias";
                    (page::input(Input::Text, true, "Alias", "alias", alias.map_or("", |f| f.form.get("alias")), Some("a new alias, or an existing one to point elsewhere")))
                    (page::input(Input::Text, true, "Product", "product", alias.map_or("", |f| f.form.get("product")), Some("the product's name")))
                    div { button.primary type="submit" { "Set alias" } }
                }
            }
        }
    };
    Ok(ctx.page_status(status(failed), "products", "Products", body))
}

/// A badge for the states the flags do not show already.
fn state_badge(state: State) -> Option<Markup> {
    match state {
        State::Unserved => Some(html! {
            span title="active, but no mirror serves any of its locations now" { (badge(Badge::Warn, "served by no mirror")) }
        }),
        State::Empty => Some(badge(Badge::Warn, "no locations")),
        State::Active | State::Inactive => None,
    }
}

fn uptake_title(rows: &[&Uptake]) -> String {
    rows.iter()
        .map(|u| format!("{} {}", u.os, percent(u.percent())))
        .collect::<Vec<_>>()
        .join(", ")
}

fn add(ctx: &Ctx<'_>, form: &Form) -> PageResult {
    let added = ctx.write(|tx| {
        tx.product_add(NewProduct {
            name: form.get("name").to_string(),
            languages: form.list("languages"),
            ssl_only: form.checked("ssl_only"),
            private: form.checked("private"),
        })
    });
    match added {
        Ok(p) => Ok(ctx.done(
            &product_url(&p.name),
            format!(
                "Added product {} ({}). Add its locations below; sentry checks it soon.",
                p.name,
                languages_phrase(&p.languages)
            ),
        )),
        Err(e) => list(
            ctx,
            &Form::default(),
            Some(&Failed {
                part: Part::Add,
                form,
                message: wording::markup(&e),
            }),
        ),
    }
}

fn languages_phrase(langs: &[String]) -> String {
    match langs.len() {
        0 => "every language".into(),
        1 => "1 language".into(),
        n => format!("{n} languages"),
    }
}

/// The highest priority the form offers (the command line takes any
/// 32-bit number; a stored one above this may be kept as it is).
pub const PRIORITY_MAX: u32 = 10_000;

/// How a product's locations are sorted: by OS, path or uptake, as the
/// view asks, then by OS.
fn location_order<'v>(
    v: &'v Listing,
    uptake: &'v [&Uptake],
) -> impl Fn(&&Location, &&Location) -> std::cmp::Ordering + 'v {
    let share = |l: &Location| {
        uptake
            .iter()
            .find(|u| u.os == l.os)
            .filter(|u| u.total > 0)
            .map_or(-1.0, |u| u.percent())
    };
    move |a, b| {
        let primary = match v.sort.as_str() {
            "path" => a.path.cmp(&b.path),
            "uptake" => share(a).total_cmp(&share(b)),
            _ => a.os.cmp(&b.os),
        };
        v.order(primary).then_with(|| a.os.cmp(&b.os))
    }
}

fn detail(ctx: &Ctx<'_>, name: &str, view: &Form, failed: Option<&Failed<'_>>) -> PageResult {
    let network = ctx.network();
    let s = network.snapshot()?;
    let Some(p) = s.product(name) else {
        return Ok(ctx.not_found(&format!("There is no product named {name:?}.")));
    };
    let url = product_url(&p.name);
    let index = network.index();
    let uptake: Vec<&Uptake> = index
        .uptake()
        .iter()
        .filter(|u| u.product == p.name)
        .collect();
    let today = crate::model::day_of(crate::model::now());
    let downloads = network
        .store()
        .downloads_by_product(today.saturating_sub(29), today)
        .ok()
        .and_then(|d| d.get(&p.id).copied())
        .unwrap_or(0);
    let all: Vec<&Location> = s.locations.iter().filter(|l| l.product == p.id).collect();
    let count = all.len();
    let used: std::collections::HashSet<&str> = all.iter().map(|l| l.os.as_str()).collect();
    let v = Listing::from_form(view, "os", &[]);
    let mut locations: Vec<&Location> = all
        .into_iter()
        .filter(|l| v.matches([l.os.as_str(), l.path.as_str()]))
        .collect();
    locations.sort_by(location_order(&v, &uptake));
    let (locations, window) = v.window(locations);
    // Files are counted for the locations shown only.
    let ids: Vec<LocationId> = locations.iter().map(|l| l.id).collect();
    // Files of every location that shares a path with those shown.
    let sharing = crate::model::sharing_paths(&s.locations, &ids);
    let known = network.store().files_of(&sharing)?;
    let files = crate::model::files_known(&s.products, &s.locations, &known, &ids);
    let aliases: Vec<&str> = crate::model::aliases_of(&s.aliases, p.id)
        .iter()
        .map(|a| a.name.as_str())
        .collect();
    let free_oses: Vec<&String> = s
        .oses
        .iter()
        .filter(|o| !used.contains(o.as_str()))
        .collect();
    let can = ctx.may(Area::Releases);
    let flags_failed = at(failed, &Part::Flags);
    let flag = |field: &str, stored: bool| flags_failed.map_or(stored, |f| f.form.checked(field));
    let langs_failed = at(failed, &Part::Languages);
    let new_location = at(failed, &Part::NewLocation);
    let alias_failed = at(failed, &Part::Alias);
    let served = uptake.iter().any(|u| u.available > 0);
    let state = State::of(p, count, served);
    let body = html! {
        div.toolbar {
            h1.wrap { "Product " (p.name) }
            (flags(p))
            @if let Some(b) = state_badge(state) { (b) }
            @if can {
                (page::button(ctx, &format!("{url}/check"), "Check now", "", None))
            }
        }
        div.cards {
            div.stat { span.value { (count) } span.label { @if count == 1 { "location" } @else { "locations" } } }
            div.stat { span.value { (languages_text(&p.languages)) } span.label { @if p.languages.len() == 1 { "language" } @else { "languages" } } }
            div.stat {
                span.value { @match product_share(&uptake) { Some(share) => (percent(share)), None => "–" } }
                span.label { @if p.active { "uptake" } @else { "uptake (inactive: not bounced)" } }
            }
            div.stat { span.value { (crate::chart::thousands(downloads)) } span.label { "downloads (30 days)" } }
        }
        p { a href={ "/admin/audit?q=" (seg(&p.name)) } { "History" } " · " a href={ "/admin/availability?product=" (seg(&p.name)) } { "Availability" } " · " a href="/admin/products" { "All products" } }
        section.card {
            h2 { "Settings" }
            @if can {
                (wording::alert(flags_failed.map(|f| &f.message)))
                form.stack method="post" action=(url) {
                    (csrf(ctx))
                    div {
                        (checkbox("Active (bounced; an inactive product answers 404)", "active", flag("active", p.active)))
                        (checkbox("Public (shown in the download form and feeds)", "public", flag("public", p.public)))
                        (checkbox("SSL only (https mirrors only)", "ssl_only", flag("ssl_only", p.ssl_only)))
                        (checkbox("Check pending (sentry checks it soon)", "checknow", flag("checknow", p.checknow)))
                        // Sentry clears the flag; saving a page rendered before that leaves it cleared.
                        input type="hidden" name="checknow_was" value=(p.checknow);
                    }
                    (page::input(
                        Input::Number { min: 0, max: u64::from(PRIORITY_MAX.max(p.priority)) },
                        false,
                        "Priority",
                        "priority",
                        &flags_failed.map_or_else(|| p.priority.to_string(), |f| f.form.get("priority").to_string()),
                        Some(&format!("0 to {}; higher comes first in lists and for sentry", crate::chart::thousands(u64::from(PRIORITY_MAX)))),
                    ))
                    (page::input(
                        Input::Number { min: 1, max: 10_080 },
                        false,
                        "Max lag (minutes)",
                        "max_lag",
                        &flags_failed.map_or_else(|| p.max_lag_minutes.map(|m| m.to_string()).unwrap_or_default(), |f| f.form.get("max_lag").to_string()),
                        Some("how far behind the origin its files may be on a mirror with a trace file; mirrors lagging more are left out for this product only; empty: any"),
                    ))
                    div { button.primary type="submit" { "Save" } }
                }
            } @else {
                table.facts {
                    tbody {
                        tr { th { "Active" } td { (yes_no(p.active)) " " span.muted { "an inactive product answers 404" } } }
                        tr { th { "Public" } td { (yes_no(p.public)) " " span.muted { "shown in the download form and feeds" } } }
                        tr { th { "SSL only" } td { (yes_no(p.ssl_only)) " " span.muted { "https mirrors only" } } }
                        tr { th { "Check pending" } td { (yes_no(p.checknow)) } }
                        tr { th { "Priority" } td { (p.priority) " " span.muted { "higher comes first in lists and for sentry" } } }
                        tr { th { "Max lag" } td { @match p.max_lag_minutes { Some(m) => { (m) " minutes" }, None => "any" } " " span.muted { "on mirrors with a trace file" } } }
                    }
                }
            }
        }
        section.card {
            h2 { "Languages" }
            @if can {
                (wording::alert(langs_failed.map(|f| &f.message)))
                form.stack method="post" action={ (url) "/languages" } {
                    (csrf(ctx))
                    label.field {
                        span { "Languages (" (languages_phrase(&p.languages)) ")" }
                        textarea name="languages" rows="3" {
                            (langs_failed.map_or_else(|| p.languages.join(" "), |f| f.form.get("languages").to_string()))
                        }
                        small { "space- or comma-separated locales, e.g. en-US de fr; empty = every language" }
                    }
                    div { button.primary type="submit" { "Save languages" } }
                }
            } @else if p.languages.is_empty() {
                p { "Every language." }
            } @else {
                p.wrap { (languages_phrase(&p.languages)) ": " (p.languages.join(" ")) }
            }
        }
        section.card id="locations" {
            h2 { "Locations" }
            p.muted { "Paths are relative to a mirror's root and percent-encoded; every " code { ":lang" } " is replaced by the requested language." }
            @if count == 0 {
                p.muted { "No locations yet: this product cannot be downloaded." }
            } @else {
                @if count > list::PER || v.narrowed() { (v.search(&url, "locations (OS or path)", &[])) }
                div.scroll {
                    table {
                        thead { tr {
                            (v.heading(&url, "os", "OS", false))
                            (v.heading(&url, "path", "Path template", false))
                            th.num { "Files known" }
                            (v.heading(&url, "uptake", "Uptake", true))
                            @if can { th.actions {} }
                        } }
                        tbody {
                            @for l in &locations {
                                @let path_failed = at(failed, &Part::Path(l.os.clone()));
                                @let loc_url = format!("{url}/locations/{}", seg(&l.os));
                                @let form_id = format!("path-{}", seg(&l.os));
                                tr {
                                    td { (l.os) }
                                    td.wrap {
                                        @if can {
                                            input.wide type="text" name="path" size="60" form=(form_id) aria-label={ "Path for " (l.os) } required value=(path_failed.map_or(l.path.as_str(), |f| f.form.get("path")));
                                            @if let Some(f) = path_failed { (wording::alert(Some(&f.message))) }
                                        } @else {
                                            code { (l.path) }
                                        }
                                    }
                                    td.num {
                                        @match files.get(&l.id) { Some(n) => (n), None => span.muted { "none" } }
                                    }
                                    td.num {
                                        @match uptake.iter().find(|u| u.os == l.os) {
                                            Some(u) if u.total > 0 => span title={ (u.available) " of " (u.total) " rating" } { (percent(u.percent())) },
                                            _ => span.muted title="no active mirrors or not bounced" { "–" },
                                        }
                                    }
                                    @if can {
                                        td.actions {
                                            form.inline id=(form_id) method="post" action=(loc_url) {
                                                (csrf(ctx))
                                                button.small type="submit" { "Save path" }
                                            }
                                            (page::button(ctx, &format!("{loc_url}/remove"), "Remove", "small danger", Some(&format!("Remove the {} location of {}?", l.os, p.name))))
                                        }
                                    }
                                }
                            }
                            @if locations.is_empty() {
                                tr { td.muted colspan="5" { "No location matches." } }
                            }
                        }
                    }
                }
                @if window.pages > 1 || v.narrowed() { (v.pager(&url, &window, "locations")) }
            }
            @if can {
                h3 { "Add a location" }
                (wording::alert(new_location.map(|f| &f.message)))
                @if free_oses.is_empty() && new_location.is_none() {
                    p.muted { "Every operating system has a location. " a href="/admin/oses" { "Add an operating system" } " for another." }
                } @else {
                    @let chosen = new_location.map_or("", |f| f.form.get("os"));
                    form.stack method="post" action={ (url) "/locations" } {
                        (csrf(ctx))
                        label.field {
                            span { "Operating system " abbr.req title="required" { "*" } }
                            select name="os" required {
                                option value="" disabled selected[chosen.is_empty() || !free_oses.iter().any(|o| o.as_str() == chosen)] { "choose…" }
                                @for o in &free_oses {
                                    option value=(o) selected[o.as_str() == chosen] { (o) }
                                }
                            }
                            small { a href="/admin/oses" { "Manage operating systems" } }
                        }
                        (page::input(Input::Text, true, "Path template", "path", new_location.map_or("", |f| f.form.get("path")), Some("e.g. /firefox/releases/120.0/win32/:lang/Firefox%20Setup%20120.0.exe")))
                        div { button.primary type="submit" { "Add location" } }
                    }
                }
            }
        }
        section.card {
            h2 { "Aliases" }
            @if aliases.is_empty() {
                p.muted { "No alias points at this product." }
            } @else {
                div.scroll {
                    table {
                        thead { tr { th { "Alias" } @if can { th.actions {} } } }
                        tbody {
                            @for a in &aliases {
                                tr {
                                    td.wrap { (a) }
                                    @if can {
                                        td.actions {
                                            (page::button(ctx, &format!("{url}/aliases/{}/remove", seg(a)), "Remove", "small danger", Some(&format!("Remove alias {a}?"))))
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
            @if can {
                (wording::alert(alias_failed.map(|f| &f.message)))
                form.stack method="post" action={ (url) "/aliases" } {
                    (csrf(ctx))
                    (page::input(Input::Text, true, "Alias", "alias", alias_failed.map_or("", |f| f.form.get("alias")), Some("a new alias, or an existing one to point here")))
                    div { button.primary type="submit" { "Point alias here" } }
                }
            }
        }
        @if can {
            section.card.danger-zone {
                h2 { "Remove" }
                p { "Removing a product removes its locations, their files and availability. Its download counts stay." }
                @if !aliases.is_empty() {
                    p.wrap {
                        @if aliases.len() == 1 { "Its alias " } @else { "Its aliases " }
                        strong { (aliases.join(", ")) }
                        @if aliases.len() == 1 { " goes" } @else { " go" }
                        " with it (it would answer 404): point it at another product above first to keep it."
                    }
                }
                // The aliases named here go with it; one set to point here
                // after this page was shown makes the removal ask again.
                form.inline method="post" action={ (url) "/remove" } {
                    (csrf(ctx))
                    @for a in &aliases { input type="hidden" name="alias" value=(a); }
                    button.danger type="submit" name="ask" value=(removal_question(&p.name, &aliases)) data-confirm=(removal_question(&p.name, &aliases)) { "Remove this product" }
                }
            }
        }
    };
    Ok(ctx.page_status(
        status(failed),
        "products",
        &format!("Product {}", p.name),
        body,
    ))
}

fn yes_no(yes: bool) -> Markup {
    if yes {
        badge(Badge::Good, "yes")
    } else {
        badge(Badge::Off, "no")
    }
}

/// Shows the product's page again with `e` at `part`, or 404. A path
/// that was refused is shown among the locations of its OS (the page of
/// locations it is on may not be the first).
fn refused(ctx: &Ctx<'_>, name: &str, part: Part, form: &Form, e: Error) -> PageResult {
    let view = match &part {
        Part::Path(os) => Form::from_query(&format!("q={}", seg(os))),
        _ => Form::default(),
    };
    detail(
        ctx,
        name,
        &view,
        Some(&Failed {
            part,
            form,
            message: wording::markup(&e),
        }),
    )
}

/// The page that asks before a product is switched off (without
/// JavaScript the settings form cannot ask first): the form's fields are
/// kept for the confirmed POST.
fn confirm_deactivation(ctx: &Ctx<'_>, name: &str, form: &Form) -> PageResult {
    let url = product_url(name);
    let question = format!(
        "Deactivate product {name}? It answers 404 to every download until it is switched on again."
    );
    let body = page::confirmation(ctx, &url, &question, form, &url);
    Ok(ctx.page("products", "Please confirm", body))
}

fn save(ctx: &Ctx<'_>, name: &str, form: &Form) -> PageResult {
    let raw = form.get("priority");
    let priority = if raw.is_empty() {
        0
    } else {
        match raw.parse::<u32>() {
            Ok(p) => p,
            Err(_) => {
                return refused(ctx, name, Part::Flags, form, priority_error(raw));
            }
        }
    };
    let max_lag = match form
        .opt("max_lag")
        .map(crate::model::freshness::parse_max_lag)
        .transpose()
    {
        Ok(m) => m,
        Err(e) => return refused(ctx, name, Part::Flags, form, Error::invalid("max lag", e)),
    };
    let Some(stored) = ctx.network().snapshot()?.product(name).cloned() else {
        return Ok(ctx.not_found(&format!("There is no product named {name:?}.")));
    };
    // A priority above the form's bound may stay as it was stored.
    if priority > PRIORITY_MAX && priority != stored.priority {
        return refused(ctx, name, Part::Flags, form, priority_error(raw));
    }
    if stored.active && !form.checked("active") && !form.checked("confirmed") {
        return confirm_deactivation(ctx, &stored.name, form);
    }
    let saved = ctx.write(|tx| {
        tx.product_update(name, |p| {
            p.active = form.checked("active");
            p.public = form.checked("public");
            p.ssl_only = form.checked("ssl_only");
            if let Some(m) = max_lag {
                p.max_lag_minutes = m;
            }
            let was = form.opt("checknow_was").map(|v| v == "true");
            if was != Some(form.checked("checknow")) {
                p.checknow = form.checked("checknow");
            }
            p.priority = priority;
        })
    });
    match saved {
        Ok(p) => Ok(ctx.done(&product_url(&p.name), format!("Saved product {}.", p.name))),
        Err(e) => refused(ctx, name, Part::Flags, form, e),
    }
}

fn priority_error(raw: &str) -> Error {
    Error::invalid(
        "priority",
        format!(
            "{raw:?} is not a whole number from 0 to {}",
            crate::chart::thousands(u64::from(PRIORITY_MAX))
        ),
    )
}

fn languages(ctx: &Ctx<'_>, name: &str, form: &Form) -> PageResult {
    let langs = form.list("languages");
    match ctx.write(|tx| tx.product_update(name, |p| p.languages = langs)) {
        Ok(p) => Ok(ctx.done(
            &product_url(&p.name),
            format!(
                "Product {} is now offered in {}.",
                p.name,
                languages_phrase(&p.languages)
            ),
        )),
        Err(e) => refused(ctx, name, Part::Languages, form, e),
    }
}

fn location_add(ctx: &Ctx<'_>, name: &str, form: &Form) -> PageResult {
    match ctx.write(|tx| tx.location_add(name, form.get("os"), form.get("path"))) {
        Ok(l) => Ok(ctx.done(
            &product_url(name),
            format!(
                "Added the {} location {}. Sentry checks it on its next run.",
                l.os, l.path
            ),
        )),
        Err(e) => refused(ctx, name, Part::NewLocation, form, e),
    }
}

fn location_path(ctx: &Ctx<'_>, name: &str, os: &str, form: &Form) -> PageResult {
    match ctx.write(|tx| tx.location_set_path(name, os, form.get("path"))) {
        Ok(l) => Ok(ctx.done(
            &product_url(name),
            format!(
                "The {} location is now {}; sentry checks it again on its next run.",
                l.os, l.path
            ),
        )),
        Err(e) => refused(ctx, name, Part::Path(os.to_ascii_lowercase()), form, e),
    }
}

fn location_remove(ctx: &Ctx<'_>, name: &str, os: &str) -> PageResult {
    let url = product_url(name);
    Ok(match ctx.write(|tx| tx.location_remove(name, os)) {
        Ok(l) => ctx.done(&url, format!("Removed the {} location {}.", l.os, l.path)),
        Err(e) => ctx.failed(&url, wording::text(&e)),
    })
}

/// Sets an alias: from a product's page (`product`) or the list (the
/// form's `product` field).
fn alias_set(ctx: &Ctx<'_>, product: Option<&str>, form: &Form) -> PageResult {
    let target = product.unwrap_or_else(|| form.get("product"));
    let alias = form.get("alias");
    let set = ctx.write(|tx| {
        let before = tx.alias_set(alias, target)?;
        Ok((tx.product(target)?, before))
    });
    match set {
        Ok((now, before)) => {
            let id = now.as_ref().map(|p| p.id);
            let name = now.map_or_else(|| target.to_string(), |p| p.name);
            // Product ids are stable and setting an alias removes no
            // product, so the one it pointed at before is still there.
            let was = before
                .filter(|b| Some(*b) != id)
                .and_then(|b| {
                    let s = ctx.network().snapshot().ok()?;
                    s.product_by_id(b).map(|p| format!(" (was {})", p.name))
                })
                .unwrap_or_default();
            let to = match product {
                Some(_) => product_url(&name),
                None => "/admin/products#aliases".into(),
            };
            Ok(ctx.done(
                &to,
                format!("Alias {} now points at {name}{was}.", alias.trim()),
            ))
        }
        Err(e) => {
            let failed = Failed {
                part: Part::Alias,
                form,
                message: wording::markup(&e),
            };
            match product {
                Some(name) => detail(ctx, name, &Form::default(), Some(&failed)),
                None => list(ctx, &Form::default(), Some(&failed)),
            }
        }
    }
}

fn alias_remove(ctx: &Ctx<'_>, product: Option<&str>, alias: &str) -> PageResult {
    let to = product.map_or_else(|| "/admin/products#aliases".into(), product_url);
    Ok(match ctx.write(|tx| tx.alias_remove(alias)) {
        Ok(()) => ctx.done(&to, format!("Removed alias {alias}.")),
        Err(e) => ctx.failed(&to, wording::text(&e)),
    })
}

fn check(ctx: &Ctx<'_>, name: &str) -> PageResult {
    let url = product_url(name);
    if let Err(e) = ctx.write(|tx| tx.product_update(name, |p| p.checknow = true)) {
        return match e {
            Error::NotFound { .. } => {
                Ok(ctx.not_found(&format!("There is no product named {name:?}.")))
            }
            e => Ok(ctx.failed(&url, wording::text(&e))),
        };
    }
    Ok(match ctx.check_now(crate::sentry::Mode::New, None) {
        Ok(()) => ctx.done(
            &url,
            format!("Checking {name} now; the results show here and in Reports when the run ends."),
        ),
        Err(e) => ctx.failed(&url, wording::text(&e)),
    })
}

/// What the remove button asks before removing `product`.
fn removal_question(product: &str, aliases: &[&str]) -> String {
    match aliases {
        [] => format!("Remove product {product} and its locations?"),
        [alias] => format!("Remove product {product}, its locations and its alias {alias}?"),
        _ => format!(
            "Remove product {product}, its locations and its aliases {}?",
            aliases.join(", ")
        ),
    }
}

/// The aliases in `current` that `confirmed` does not name (names compare
/// case-insensitively, as the store keys them).
fn unconfirmed<'a>(current: &'a [String], confirmed: &[String]) -> Vec<&'a str> {
    current
        .iter()
        .filter(|a| !confirmed.iter().any(|c| c.trim().eq_ignore_ascii_case(a)))
        .map(String::as_str)
        .collect()
}

fn remove(ctx: &Ctx<'_>, name: &str, form: &Form) -> PageResult {
    let confirmed = form.all("alias");
    let removed = ctx.write(|tx| {
        let Some(product) = tx.product(name)? else {
            return Err(Error::not_found(Thing::Product, name));
        };
        let aliases = tx.alias_list()?;
        let current: Vec<String> = crate::model::aliases_of(&aliases, product.id)
            .into_iter()
            .map(|a| a.name.clone())
            .collect();
        let missing = unconfirmed(&current, &confirmed);
        if !missing.is_empty() {
            let (noun, verb, them) = if missing.len() == 1 {
                ("alias", "points", "it")
            } else {
                ("aliases", "point", "them")
            };
            return Err(Error::InUse {
                detail: format!(
                    "Nothing was removed: {noun} {} {verb} at product {} too, and the confirmation did not name {them}. Look at its aliases below, then remove the product again if they should go with it.",
                    missing.join(", "),
                    product.name
                ),
            });
        }
        tx.product_remove(name)
    });
    match removed {
        Ok(r) => Ok(ctx.done(
            "/admin/products",
            match r.aliases.as_slice() {
                [] => format!("Removed product {} and its locations.", r.product.name),
                [alias] => format!(
                    "Removed product {}, its locations and its alias {alias}.",
                    r.product.name
                ),
                aliases => format!(
                    "Removed product {}, its locations and its aliases {}.",
                    r.product.name,
                    aliases.join(", ")
                ),
            },
        )),
        Err(Error::NotFound { .. }) => {
            Ok(ctx.not_found(&format!("There is no product named {name:?}.")))
        }
        Err(e) => Ok(ctx.failed(&product_url(name), wording::text(&e))),
    }
}

#[cfg(test)]
mod tests {
    use hyper::StatusCode;

    use crate::admin::Admin;
    use crate::admin::testing::*;
    use crate::model::Role;

    fn product(admin: &Admin, name: &str) -> Option<crate::model::Product> {
        admin.network.snapshot().unwrap().product(name).cloned()
    }

    fn actions(admin: &Admin, n: usize) -> Vec<(String, String)> {
        admin
            .network
            .store()
            .events(n)
            .unwrap()
            .into_iter()
            .map(|e| (e.actor, e.action))
            .collect()
    }

    fn add(admin: &Admin, who: &Login, name: &str) {
        redirected(post(admin, who, "/admin/products", &[("name", name)]));
    }

    #[test]
    fn add_edit_remove_a_product_with_every_field() {
        let (_dir, admin) = admin();
        let ann = login(&admin, "ann", Role::Admin);
        let r = post(
            &admin,
            &ann,
            "/admin/products",
            &[
                ("do", "add"),
                ("name", "fx-1.0"),
                ("languages", "en-US, de fr"),
                ("ssl_only", "on"),
                ("private", "on"),
            ],
        );
        assert_eq!(
            r.headers()["location"].to_str().unwrap(),
            "/admin/products/fx-1.0"
        );
        let page = follow(&admin, &ann, r);
        assert!(
            page.contains("Added product fx-1.0 (3 languages)"),
            "{page}"
        );
        let p = product(&admin, "fx-1.0").unwrap();
        assert_eq!(p.languages, ["en-US", "de", "fr"]);
        assert_eq!(
            (p.ssl_only, p.public, p.active, p.checknow),
            (true, false, true, true)
        );
        {
            let index = admin.network.index();
            let live = index.product_named("FX-1.0").unwrap();
            assert!(live.ssl_only);
            assert_eq!(live.languages.len(), 3);
        }
        assert_eq!(
            actions(&admin, 1),
            [("admin:ann".to_string(), "product.add".to_string())]
        );

        // The same name again is refused, with what was typed kept.
        let r = post(
            &admin,
            &ann,
            "/admin/products",
            &[("name", "FX-1.0"), ("languages", "it")],
        );
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
        let page = body(r);
        assert!(page.contains("exists already"), "{page}");
        assert!(page.contains(r#"value="FX-1.0""#), "{page}");

        // Flags: unticked boxes switch off; inactive leaves the index.
        // Switching a product off asks first: without JavaScript on a
        // page of its own, which changes nothing and keeps the fields.
        let r = post(
            &admin,
            &ann,
            "/admin/products/fx-1.0",
            &[("public", "on"), ("priority", "7")],
        );
        assert_eq!(r.status(), StatusCode::OK);
        let page = body(r);
        assert!(page.contains("Please confirm"), "{page}");
        assert!(page.contains("Deactivate product fx-1.0?"), "{page}");
        assert!(
            page.contains(r#"<input type="hidden" name="priority" value="7">"#),
            "{page}"
        );
        assert!(
            page.contains(r#"<input type="hidden" name="confirmed" value="yes">"#),
            "{page}"
        );
        assert!(
            page.contains(r#"action="/admin/products/fx-1.0""#),
            "{page}"
        );
        let p = product(&admin, "fx-1.0").unwrap();
        assert_eq!((p.active, p.public, p.priority), (true, false, 0));
        assert_eq!(actions(&admin, 1)[0].1, "product.add");
        let r = post(
            &admin,
            &ann,
            "/admin/products/fx-1.0",
            &[("public", "on"), ("priority", "7"), ("confirmed", "yes")],
        );
        assert!(follow(&admin, &ann, r).contains("Saved product fx-1.0."));
        let p = product(&admin, "fx-1.0").unwrap();
        assert_eq!(
            (p.active, p.public, p.ssl_only, p.checknow, p.priority),
            (false, true, false, false, 7)
        );
        assert!(admin.network.index().product_named("fx-1.0").is_none());
        let r = post(
            &admin,
            &ann,
            "/admin/products/fx-1.0",
            &[("active", "on"), ("ssl_only", "on"), ("checknow", "on")],
        );
        redirected(r);
        let p = product(&admin, "fx-1.0").unwrap();
        assert_eq!(
            (p.active, p.public, p.ssl_only, p.checknow, p.priority),
            (true, false, true, true, 0)
        );
        assert!(admin.network.index().product_named("fx-1.0").is_some());
        assert_eq!(actions(&admin, 1)[0].1, "product.update");

        // A bad priority is refused and nothing changes.
        let r = post(
            &admin,
            &ann,
            "/admin/products/fx-1.0",
            &[("active", "on"), ("priority", "-1")],
        );
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
        let page = body(r);
        assert!(page.contains("is not a whole number"), "{page}");
        assert!(page.contains(r#"value="-1""#), "{page}");
        assert!(product(&admin, "fx-1.0").unwrap().ssl_only);

        // Languages: set, refused, emptied (every language).
        let r = post(
            &admin,
            &ann,
            "/admin/products/fx-1.0/languages",
            &[("languages", "it ja-JP-mac")],
        );
        assert!(follow(&admin, &ann, r).contains("now offered in 2 languages"));
        assert_eq!(
            product(&admin, "fx-1.0").unwrap().languages,
            ["it", "ja-JP-mac"]
        );
        let r = post(
            &admin,
            &ann,
            "/admin/products/fx-1.0/languages",
            &[("languages", "de en_US")],
        );
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
        let page = body(r);
        assert!(page.contains("is not a locale"), "{page}");
        assert!(page.contains("de en_US</textarea>"), "{page}");
        assert_eq!(
            product(&admin, "fx-1.0").unwrap().languages,
            ["it", "ja-JP-mac"]
        );
        let r = post(
            &admin,
            &ann,
            "/admin/products/fx-1.0/languages",
            &[("languages", "")],
        );
        assert!(follow(&admin, &ann, r).contains("now offered in every language"));
        assert!(product(&admin, "fx-1.0").unwrap().languages.is_empty());
        assert!(
            admin
                .network
                .index()
                .product_named("fx-1.0")
                .unwrap()
                .offers("xx")
                .is_some()
        );

        // Shown in the list with its flags.
        let page = body(get(&admin, &ann, "/admin/products"));
        assert!(page.contains(r#"href="/admin/products/fx-1.0""#), "{page}");
        assert!(page.contains("ssl only") && page.contains("private"));

        let r = post(&admin, &ann, "/admin/products/fx-1.0/remove", &[]);
        assert_eq!(redirected(r), "/admin/products");
        assert!(product(&admin, "fx-1.0").is_none());
        assert!(admin.network.index().product_named("fx-1.0").is_none());
        assert_eq!(actions(&admin, 1)[0].1, "product.remove");
        assert_eq!(
            get(&admin, &ann, "/admin/products/fx-1.0").status(),
            StatusCode::NOT_FOUND
        );
    }

    #[test]
    fn locations_are_added_edited_and_removed() {
        let (_dir, admin) = admin();
        let ann = login(&admin, "ann", Role::Admin);
        add(&admin, &ann, "fx");
        let page = body(get(&admin, &ann, "/admin/products"));
        assert!(
            page.contains(r#"<span class="muted">1 product</span>"#),
            "{page}"
        );
        // The new location's OS is chosen, not preset to the first one.
        let page = body(get(&admin, &ann, "/admin/products/fx"));
        assert!(
            page.contains(r#"<select name="os" required><option value="" disabled selected>choose…</option><option value="android">android</option>"#),
            "{page}"
        );
        assert!(
            page.contains(r#"<span class="value">0</span><span class="label">locations</span>"#),
            "{page}"
        );
        assert!(
            page.contains("Check pending (sentry checks it soon)"),
            "{page}"
        );
        let r = post(
            &admin,
            &ann,
            "/admin/products/fx/locations",
            &[("os", "linux"), ("path", "/fx/:lang/fx.tar.bz2")],
        );
        assert!(follow(&admin, &ann, r).contains("Added the linux location /fx/:lang/fx.tar.bz2"));
        {
            let index = admin.network.index();
            let t = index.resolve("fx", "LINUX", "de").unwrap();
            assert_eq!(t.path(), "/fx/de/fx.tar.bz2");
        }
        // The path fills its cell; its Save button (in the actions cell)
        // submits it through the form attribute.
        let page = body(get(&admin, &ann, "/admin/products/fx"));
        assert!(
            page.contains(r#"<input class="wide" type="text" name="path" size="60" form="path-linux" aria-label="Path for linux" required value="/fx/:lang/fx.tar.bz2">"#),
            "{page}"
        );
        assert!(
            page.contains(r#"<form class="inline" id="path-linux" method="post" action="/admin/products/fx/locations/linux">"#),
            "{page}"
        );
        assert!(
            page.contains(r#"<span class="value">1</span><span class="label">location</span>"#),
            "{page}"
        );
        assert_eq!(actions(&admin, 1)[0].1, "location.add");

        // An unknown OS and a bad path: 422 with the store's message,
        // nothing stored.
        let r = post(
            &admin,
            &ann,
            "/admin/products/fx/locations",
            &[("os", "plan9"), ("path", "/fx/plan9.tar")],
        );
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
        let page = body(r);
        assert!(
            page.contains("No operating system named &quot;plan9&quot;"),
            "{page}"
        );
        assert!(page.contains(r#"value="/fx/plan9.tar""#), "{page}");
        let r = post(
            &admin,
            &ann,
            "/admin/products/fx/locations",
            &[("os", "win"), ("path", "fx/setup.exe")],
        );
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
        let s = admin.network.snapshot().unwrap();
        assert_eq!(s.locations.len(), 1);
        assert_eq!(actions(&admin, 1)[0].1, "location.add");
        // A second location for the same OS is refused too.
        let r = post(
            &admin,
            &ann,
            "/admin/products/fx/locations",
            &[("os", "linux"), ("path", "/other")],
        );
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
        assert!(body(r).contains("exists already"));

        // The detail page lists it with an edit form; the OS select only
        // offers OSes without a location.
        let page = body(get(&admin, &ann, "/admin/products/fx"));
        assert!(page.contains(r#"action="/admin/products/fx/locations/linux""#));
        assert!(page.contains(r#"value="/fx/:lang/fx.tar.bz2""#));
        assert!(page.contains(r#"<option value="win">"#));
        assert!(!page.contains(r#"<option value="linux">"#));

        // Edit the path: refused when bad (kept in its row's form), then saved.
        let r = post(
            &admin,
            &ann,
            "/admin/products/fx/locations/linux",
            &[("path", "/a/../b")],
        );
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
        let page = body(r);
        assert!(page.contains("must not contain"), "{page}");
        assert!(page.contains(r#"value="/a/../b""#), "{page}");
        let r = post(
            &admin,
            &ann,
            "/admin/products/fx/locations/linux",
            &[("path", "/fx2/:lang/fx.tar.xz")],
        );
        assert!(follow(&admin, &ann, r).contains("The linux location is now /fx2/:lang/fx.tar.xz"));
        assert_eq!(
            admin
                .network
                .index()
                .resolve("fx", "linux", "it")
                .unwrap()
                .path(),
            "/fx2/it/fx.tar.xz"
        );
        assert_eq!(actions(&admin, 1)[0].1, "location.modify");

        let r = post(
            &admin,
            &ann,
            "/admin/products/fx/locations/linux/remove",
            &[],
        );
        assert!(follow(&admin, &ann, r).contains("Removed the linux location"));
        assert!(admin.network.index().resolve("fx", "linux", "it").is_err());
        assert_eq!(actions(&admin, 1)[0].1, "location.remove");
        // Removing it again says why it cannot.
        let r = post(
            &admin,
            &ann,
            "/admin/products/fx/locations/linux/remove",
            &[],
        );
        assert!(follow(&admin, &ann, r).contains("No location named"));
    }

    #[test]
    fn bad_paths_are_refused_with_the_reason() {
        let (_dir, admin) = admin();
        let ann = login(&admin, "ann", Role::Admin);
        add(&admin, &ann, "fx");
        let r = post(
            &admin,
            &ann,
            "/admin/products/fx/locations",
            &[("os", "win"), ("path", "fx/setup.exe")],
        );
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
        let page = body(r);
        assert!(page.contains("Invalid path"), "{page}");
        assert!(page.contains("must start with"), "{page}");
        assert!(admin.network.snapshot().unwrap().locations.is_empty());
    }

    #[test]
    fn aliases_are_set_and_removed() {
        let (_dir, admin) = admin();
        let ann = login(&admin, "ann", Role::Admin);
        add(&admin, &ann, "fx-1");
        add(&admin, &ann, "fx-2");
        let r = post(
            &admin,
            &ann,
            "/admin/products",
            &[("do", "alias"), ("alias", "fx-latest"), ("product", "fx-1")],
        );
        assert_eq!(
            r.headers()["location"].to_str().unwrap(),
            "/admin/products#aliases"
        );
        assert!(follow(&admin, &ann, r).contains("Alias fx-latest now points at fx-1."));
        assert_eq!(
            &*admin
                .network
                .index()
                .product_named("FX-LATEST")
                .unwrap()
                .name,
            "fx-1"
        );
        assert_eq!(actions(&admin, 1)[0].1, "alias.set");

        // Repointed from the other product's page.
        let r = post(
            &admin,
            &ann,
            "/admin/products/fx-2/aliases",
            &[("alias", "fx-latest")],
        );
        assert_eq!(
            r.headers()["location"].to_str().unwrap(),
            "/admin/products/fx-2"
        );
        let page = follow(&admin, &ann, r);
        assert!(
            page.contains("Alias fx-latest now points at fx-2 (was fx-1)."),
            "{page}"
        );
        assert!(page.contains(r#"action="/admin/products/fx-2/aliases/fx-latest/remove""#));
        assert_eq!(
            &*admin
                .network
                .index()
                .product_named("fx-latest")
                .unwrap()
                .name,
            "fx-2"
        );

        // An alias may not equal a product's name; a target must exist.
        let r = post(
            &admin,
            &ann,
            "/admin/products",
            &[("do", "alias"), ("alias", "FX-1"), ("product", "fx-2")],
        );
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
        let page = body(r);
        assert!(page.contains("is a product name"), "{page}");
        assert!(page.contains(r#"value="FX-1""#), "{page}");
        let r = post(
            &admin,
            &ann,
            "/admin/products/fx-2/aliases",
            &[("alias", "fx-1")],
        );
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
        assert!(body(r).contains("is a product name"));
        let r = post(
            &admin,
            &ann,
            "/admin/products",
            &[("do", "alias"), ("alias", "x"), ("product", "nope")],
        );
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
        assert!(body(r).contains("No product named"));
        // And a product may not take an alias's name.
        let r = post(&admin, &ann, "/admin/products", &[("name", "fx-latest")]);
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
        assert!(body(r).contains("is an alias"));

        // The target is not removed unless the confirmation named the
        // alias that would go with it.
        let r = post(&admin, &ann, "/admin/products/fx-2/remove", &[]);
        assert_eq!(redirected(r), "/admin/products/fx-2");
        assert!(product(&admin, "fx-2").is_some());
        assert!(admin.network.index().product_named("fx-latest").is_some());

        // Removed from the list's card, then from a product page.
        let r = post(
            &admin,
            &ann,
            "/admin/products",
            &[("do", "unalias"), ("alias", "fx-latest")],
        );
        assert!(follow(&admin, &ann, r).contains("Removed alias fx-latest."));
        assert!(admin.network.index().product_named("fx-latest").is_none());
        assert_eq!(actions(&admin, 1)[0].1, "alias.remove");
        redirected(post(
            &admin,
            &ann,
            "/admin/products/fx-1/aliases",
            &[("alias", "stable")],
        ));
        let r = post(
            &admin,
            &ann,
            "/admin/products/fx-1/aliases/stable/remove",
            &[],
        );
        assert_eq!(redirected(r), "/admin/products/fx-1");
        assert!(admin.network.index().product_named("stable").is_none());
        let r = post(
            &admin,
            &ann,
            "/admin/products/fx-1/aliases/stable/remove",
            &[],
        );
        assert!(follow(&admin, &ann, r).contains("No alias named"));
    }

    #[test]
    fn removing_a_product_takes_the_aliases_its_confirmation_named() {
        let (_dir, admin) = admin();
        let ann = login(&admin, "ann", Role::Admin);
        add(&admin, &ann, "fx-1");
        add(&admin, &ann, "fx-2");
        for alias in ["fx-latest", "fx-stable"] {
            redirected(post(
                &admin,
                &ann,
                "/admin/products/fx-1/aliases",
                &[("alias", alias)],
            ));
        }
        redirected(post(
            &admin,
            &ann,
            "/admin/products/fx-2/aliases",
            &[("alias", "fx-beta")],
        ));

        // The page says which aliases go with it, and the button asks.
        let page = body(get(&admin, &ann, "/admin/products/fx-1"));
        assert!(
            page.contains("Its aliases <strong>fx-latest, fx-stable</strong> go with it"),
            "{page}"
        );
        assert!(
            page.contains(r#"data-confirm="Remove product fx-1, its locations and its aliases fx-latest, fx-stable?""#),
            "{page}"
        );
        assert!(page.contains(r#"<input type="hidden" name="alias" value="fx-latest">"#));
        let page = body(get(&admin, &ann, "/admin/products/fx-2"));
        assert!(
            page.contains(
                r#"data-confirm="Remove product fx-2, its locations and its alias fx-beta?""#
            ),
            "{page}"
        );

        // A confirmation that missed an alias (one pointed here since the
        // page was shown) removes nothing and names it.
        let r = post(
            &admin,
            &ann,
            "/admin/products/fx-1/remove",
            &[("alias", "fx-latest")],
        );
        let page = follow(&admin, &ann, r);
        assert!(
            page.contains("Nothing was removed: alias fx-stable points at product fx-1 too"),
            "{page}"
        );
        assert!(product(&admin, "fx-1").is_some());
        assert_eq!(admin.network.snapshot().unwrap().aliases.len(), 3);

        // Confirmed (names in any case): product and aliases go in one write.
        let before = admin.network.store().events(1000).unwrap().len();
        let r = post(
            &admin,
            &ann,
            "/admin/products/fx-1/remove",
            &[("alias", "FX-LATEST"), ("alias", "fx-stable")],
        );
        assert_eq!(r.headers()["location"].to_str().unwrap(), "/admin/products");
        let page = follow(&admin, &ann, r);
        assert!(
            page.contains(
                "Removed product fx-1, its locations and its aliases fx-latest, fx-stable."
            ),
            "{page}"
        );
        assert!(product(&admin, "fx-1").is_none());
        let index = admin.network.index();
        assert!(index.product_named("fx-latest").is_none());
        assert!(index.product_named("fx-stable").is_none());
        assert!(index.product_named("fx-beta").is_some());
        drop(index);
        let events = admin.network.store().events(3).unwrap();
        assert_eq!(
            admin.network.store().events(1000).unwrap().len(),
            before + 3
        );
        assert_eq!(
            (
                events[0].actor.as_str(),
                events[0].action.as_str(),
                events[0].detail.as_str()
            ),
            (
                "admin:ann",
                "product.remove",
                "fx-1 with alias(es) fx-latest, fx-stable"
            )
        );
        assert!(
            events[1..]
                .iter()
                .all(|e| e.action == "alias.remove" && e.actor == "admin:ann")
        );

        // One alias, confirmed: singular words.
        let r = post(
            &admin,
            &ann,
            "/admin/products/fx-2/remove",
            &[("alias", "fx-beta")],
        );
        assert!(
            follow(&admin, &ann, r)
                .contains("Removed product fx-2, its locations and its alias fx-beta.")
        );
        assert!(admin.network.snapshot().unwrap().aliases.is_empty());
        assert_eq!(
            post(&admin, &ann, "/admin/products/fx-2/remove", &[]).status(),
            StatusCode::NOT_FOUND
        );
    }

    #[test]
    fn products_named_like_routes_do_not_collide() {
        let (_dir, admin) = admin();
        let ann = login(&admin, "ann", Role::Admin);
        for name in ["aliases", "-", "remove", "a/b"] {
            let r = post(&admin, &ann, "/admin/products", &[("name", name)]);
            let to = redirected(r);
            assert_eq!(
                to,
                format!("/admin/products/{}", crate::admin::page::seg(name))
            );
            let page = body(get(&admin, &ann, &to));
            assert!(page.contains(&format!("Product {name}")), "{page}");
            let r = post(&admin, &ann, &to, &[("active", "on"), ("priority", "3")]);
            assert_eq!(redirected(r), to);
            assert_eq!(product(&admin, name).unwrap().priority, 3);
        }
        let r = post(
            &admin,
            &ann,
            "/admin/products",
            &[("do", "alias"), ("alias", "x"), ("product", "aliases")],
        );
        redirected(r);
        assert_eq!(
            &*admin.network.index().product_named("x").unwrap().name,
            "aliases"
        );
        let r = post(&admin, &ann, "/admin/products/a%2Fb/remove", &[]);
        assert_eq!(redirected(r), "/admin/products");
        assert!(product(&admin, "a/b").is_none());
        assert!(product(&admin, "aliases").is_some());
    }

    #[test]
    fn hostile_names_and_paths_are_escaped_everywhere() {
        let (_dir, admin) = admin();
        let ann = login(&admin, "ann", Role::Admin);
        let script = "<script>alert(1)</script>";
        let img = "\"><img/src=x/onerror=alert(1)>ü'";
        for name in [script, img] {
            let r = post(
                &admin,
                &ann,
                "/admin/products",
                &[("name", name), ("languages", "de")],
            );
            let page = follow(&admin, &ann, r);
            assert!(page.contains("Added product"), "{page}");
            let url = format!("/admin/products/{}", crate::admin::page::seg(name));
            redirected(post(
                &admin,
                &ann,
                &format!("{url}/locations"),
                &[("os", "linux"), ("path", "/x/'onmouseover='alert(1)/:lang")],
            ));
            let alias = format!("{name}-alias");
            redirected(post(
                &admin,
                &ann,
                &format!("{url}/aliases"),
                &[("alias", alias.as_str())],
            ));
            assert!(admin.network.index().product_named(&alias).is_some());
        }
        let pages = [
            body(get(&admin, &ann, "/admin/products")),
            body(get(&admin, &ann, "/admin/products?q=%3Cscript%3E")),
            body(get(
                &admin,
                &ann,
                &format!("/admin/products/{}", crate::admin::page::seg(script)),
            )),
            body(get(
                &admin,
                &ann,
                &format!("/admin/products/{}", crate::admin::page::seg(img)),
            )),
            body(get(&admin, &ann, "/admin/oses/linux")),
            // Flash messages and errors repeat names too.
            follow(
                &admin,
                &ann,
                post(
                    &admin,
                    &ann,
                    &format!("/admin/products/{}/remove", crate::admin::page::seg(img)),
                    &[],
                ),
            ),
            body(post(&admin, &ann, "/admin/products", &[("name", script)])),
            body(post(
                &admin,
                &ann,
                &format!(
                    "/admin/products/{}/locations",
                    crate::admin::page::seg(script)
                ),
                &[("os", "win"), ("path", "/a\"><script>alert(2)</script>")],
            )),
        ];
        for page in &pages {
            assert!(!page.contains("<script>alert"), "{page}");
            assert!(!page.contains("<img/src"), "{page}");
            assert!(
                page.contains("&lt;script&gt;alert(1)")
                    || page.contains("&quot;&gt;&lt;img/src=x/onerror=alert(1)&gt;ü'"),
                "{page}"
            );
        }
        assert!(pages[0].contains("&quot;&gt;&lt;img/src=x/onerror=alert(1)&gt;ü'"));
        assert!(pages[0].contains(&format!(
            r#"href="/admin/products/{}""#,
            crate::admin::page::seg(img)
        )));
        assert!(
            pages[5].contains("Nothing was removed: alias"),
            "{}",
            pages[5]
        );
        assert!(pages[7].contains("Invalid path"), "{}", pages[7]);
        assert!(pages[7].contains("&lt;script&gt;alert(2)"), "{}", pages[7]);
    }

    #[test]
    fn release_users_write_and_viewers_read() {
        let (_dir, admin) = admin();
        let rita = login(&admin, "rita", Role::Release);
        let page = body(get(&admin, &rita, "/admin/products"));
        assert!(page.contains("Add product") && page.contains("Set alias"));
        add(&admin, &rita, "fx");
        redirected(post(
            &admin,
            &rita,
            "/admin/products/fx/locations",
            &[("os", "win"), ("path", "/fx.exe")],
        ));
        redirected(post(
            &admin,
            &rita,
            "/admin/products",
            &[("do", "alias"), ("alias", "fx-latest"), ("product", "fx")],
        ));
        redirected(post(
            &admin,
            &rita,
            "/admin/products/fx/languages",
            &[("languages", "de")],
        ));
        assert!(
            admin
                .network
                .index()
                .resolve("fx-latest", "win", "de")
                .is_ok()
        );
        let events = admin.network.store().events(10).unwrap();
        assert!(events.iter().take(4).all(|e| e.actor == "admin:rita"));

        let vic = login(&admin, "vic", Role::Viewer);
        let page = body(get(&admin, &vic, "/admin/products"));
        assert!(page.contains("fx-latest"));
        assert!(!page.contains("Add product") && !page.contains("Set alias"));
        let page = body(get(&admin, &vic, "/admin/products/fx"));
        assert!(page.contains("/fx.exe"));
        assert!(!page.contains("Remove this product") && !page.contains("Add location"));
        assert!(!page.contains("/check\""), "{page}");
        let tries: [(&str, &[(&str, &str)]); 6] = [
            ("/admin/products", &[("name", "y")]),
            (
                "/admin/products",
                &[("do", "alias"), ("alias", "z"), ("product", "fx")],
            ),
            ("/admin/products/fx", &[("priority", "5")]),
            (
                "/admin/products/fx/locations",
                &[("os", "linux"), ("path", "/y")],
            ),
            ("/admin/products/fx/aliases/fx-latest/remove", &[]),
            ("/admin/products/fx/remove", &[]),
        ];
        for (path, fields) in tries {
            assert_eq!(
                post(&admin, &vic, path, fields).status(),
                StatusCode::FORBIDDEN,
                "{path}"
            );
        }
        let s = admin.network.snapshot().unwrap();
        assert_eq!(
            (s.products.len(), s.locations.len(), s.aliases.len()),
            (1, 1, 1)
        );
        assert_eq!(s.products[0].priority, 0);
    }

    /// The part of a page below the navigation (the header's log-out
    /// form is the one POST form every page has).
    fn main(page: &str) -> &str {
        &page[page.find("<main").expect("a main element")..]
    }

    #[test]
    fn the_list_searches_filters_sorts_and_shows_one_page() {
        let (_dir, admin) = admin();
        let ann = login(&admin, "ann", Role::Admin);
        admin
            .network
            .write(&crate::model::Actor::Program("test"), |tx| {
                for i in 0..505 {
                    tx.product_add(crate::store::NewProduct {
                        name: format!("p-{i:04}"),
                        ..Default::default()
                    })?;
                }
                tx.alias_set("latest", "p-0042")?;
                tx.product_update("p-0007", |p| p.priority = 9)?;
                tx.product_update("p-0003", |p| p.active = false)?;
                tx.location_add("p-0003", "win", "/p3.exe")?;
                tx.location_add("p-0005", "win", "/p5.exe")?;
                tx.location_add("p-0006", "linux", "/p6.tar")?;
                let m = tx.mirror_add(crate::store::NewMirror {
                    name: "m".into(),
                    base_url: "https://m.example".into(),
                    rating: 10,
                    ..Default::default()
                })?;
                let l = tx.location_add("p-0006", "win", "/p6.exe")?;
                tx.set_availability(
                    l.id,
                    m.id,
                    &crate::model::Availability {
                        present: true,
                        healthy: true,
                        checked_at: 1,
                        error: String::new(),
                    },
                )?;
                Ok(())
            })
            .unwrap();
        const ROW: &str = r#"<tr><td class="wrap"><a href="/admin/products/"#;
        let rows = |page: &str| main(page).matches(ROW).count();
        // One page of 50, the highest priority first, then by name.
        let page = body(get(&admin, &ann, "/admin/products"));
        assert_eq!(rows(&page), 50, "{page}");
        assert!(page.contains("1–50 of 505 products"), "{page}");
        assert!(page.find(">p-0007<").unwrap() < page.find(">p-0000<").unwrap());
        assert!(page.contains(">p-0049<") && !page.contains(">p-0050<"));
        let page = body(get(&admin, &ann, "/admin/products?page=11"));
        assert_eq!(rows(&page), 5);
        assert!(page.contains(">p-0504<") && !page.contains(">p-0499<"));
        let page = body(get(&admin, &ann, "/admin/products?per=100000&sort=name"));
        assert_eq!(rows(&page), crate::admin::list::MAX_PER);
        // Search: names and aliases, any case.
        let page = body(get(&admin, &ann, "/admin/products?q=P-0042"));
        assert_eq!(rows(&page), 1);
        assert!(page.contains(">p-0042<"));
        let page = body(get(&admin, &ann, "/admin/products?q=latest"));
        assert_eq!(rows(&page), 1);
        assert!(page.contains(">p-0042<"));
        let page = body(get(&admin, &ann, "/admin/products?q=nothing"));
        assert!(page.contains("No product matches."));
        // States.
        let names = |query: &str| {
            let page = body(get(&admin, &ann, &format!("/admin/products?{query}")));
            let mut out = Vec::new();
            let mut rest = main(&page);
            while let Some(at) = rest.find(ROW) {
                rest = &rest[at + ROW.len()..];
                let start = rest.find("\">").unwrap() + 2;
                let end = start + rest[start..].find('<').unwrap();
                out.push(rest[start..end].to_string());
                rest = &rest[end..];
            }
            out
        };
        assert_eq!(names("state=inactive"), ["p-0003"]);
        assert_eq!(names("state=unserved"), ["p-0005"]);
        assert_eq!(
            names("state=empty&q=p-000&sort=name"),
            [
                "p-0000", "p-0001", "p-0002", "p-0004", "p-0007", "p-0008", "p-0009"
            ]
        );
        assert_eq!(names("state=active&q=p-000&sort=name").len(), 9);
        // Sorts: by locations, by uptake (descending first when asked).
        assert_eq!(names("sort=-locations&per=2"), ["p-0006", "p-0003"]);
        assert_eq!(names("sort=-served&per=1"), ["p-0006"]);
        let page = body(get(&admin, &ann, "/admin/products?state=unserved"));
        assert!(page.contains("served by no mirror"), "{page}");
    }

    #[test]
    fn a_product_with_many_locations_shows_one_page_of_them() {
        let (_dir, admin) = admin();
        let ann = login(&admin, "ann", Role::Admin);
        admin
            .network
            .write(&crate::model::Actor::Program("test"), |tx| {
                tx.product_add(crate::store::NewProduct {
                    name: "fx".into(),
                    ..Default::default()
                })?;
                for i in 0..120 {
                    tx.os_add(&format!("os-{i:03}"))?;
                    tx.location_add("fx", &format!("os-{i:03}"), &format!("/fx/{i:03}/fx.bin"))?;
                }
                Ok(())
            })
            .unwrap();
        let rows = |page: &str| page.matches(r#"aria-label="Path for "#).count();
        let page = body(get(&admin, &ann, "/admin/products/fx"));
        assert_eq!(rows(&page), 50);
        assert!(page.contains("1–50 of 120 locations"), "{page}");
        assert!(page.contains(r#"value="/fx/000/fx.bin""#));
        assert!(!page.contains(r#"value="/fx/050/fx.bin""#));
        let page = body(get(&admin, &ann, "/admin/products/fx?page=3"));
        assert_eq!(rows(&page), 20);
        let page = body(get(&admin, &ann, "/admin/products/fx?q=119"));
        assert_eq!(rows(&page), 1);
        assert!(page.contains(r#"value="/fx/119/fx.bin""#));
        let page = body(get(&admin, &ann, "/admin/products/fx?sort=-path&per=1"));
        assert!(page.contains(r#"value="/fx/119/fx.bin""#), "{page}");
        // A refused path on a later page is shown with its message.
        let r = post(
            &admin,
            &ann,
            "/admin/products/fx/locations/os-100",
            &[("path", "nope")],
        );
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
        let page = body(r);
        assert!(
            page.contains(r#"value="nope""#) && page.contains("Invalid path"),
            "{page}"
        );
    }

    #[test]
    fn viewers_read_products_as_text_with_no_form_that_posts() {
        let (_dir, admin) = admin();
        let ann = login(&admin, "ann", Role::Admin);
        add(&admin, &ann, "fx");
        redirected(post(
            &admin,
            &ann,
            "/admin/products/fx/locations",
            &[("os", "win"), ("path", "/fx.exe")],
        ));
        redirected(post(
            &admin,
            &ann,
            "/admin/products/fx/aliases",
            &[("alias", "fx-latest")],
        ));
        redirected(post(
            &admin,
            &ann,
            "/admin/products/fx/languages",
            &[("languages", "de fr")],
        ));
        let vic = login(&admin, "vic", Role::Viewer);
        for path in [
            "/admin/products",
            "/admin/products/fx",
            "/admin/products?q=fx&state=active",
        ] {
            let page = body(get(&admin, &vic, path));
            let main = main(&page);
            assert!(!main.contains(r#"method="post""#), "{path}: {main}");
            assert!(
                !main.contains("<textarea") && !main.contains(r#"type="checkbox""#),
                "{path}: {main}"
            );
            assert!(main.contains("Read-only"), "{path}: {main}");
        }
        let page = body(get(&admin, &vic, "/admin/products/fx"));
        assert!(page.contains("2 languages: de fr"), "{page}");
        assert!(page.contains("<code>/fx.exe</code>"), "{page}");
    }

    #[test]
    fn the_list_shows_uptake_and_downloads() {
        let (_dir, admin) = admin();
        let ann = login(&admin, "ann", Role::Admin);
        let id = admin
            .network
            .write(&crate::model::Actor::Program("test"), |tx| {
                let p = tx.product_add(crate::store::NewProduct {
                    name: "fx".into(),
                    ..Default::default()
                })?;
                let l = tx.location_add("fx", "win", "/fx.exe")?;
                tx.location_add("fx", "linux", "/fx.tar")?;
                let m1 = tx.mirror_add(crate::store::NewMirror {
                    name: "m1".into(),
                    base_url: "https://m1.example".into(),
                    rating: 30,
                    ..Default::default()
                })?;
                tx.mirror_add(crate::store::NewMirror {
                    name: "m2".into(),
                    base_url: "https://m2.example".into(),
                    rating: 70,
                    ..Default::default()
                })?;
                tx.set_availability(
                    l.id,
                    m1.id,
                    &crate::model::Availability {
                        present: true,
                        healthy: true,
                        checked_at: 1,
                        error: String::new(),
                    },
                )?;
                Ok(p.id)
            })
            .unwrap();
        admin
            .network
            .store()
            .add_counts(&crate::model::CountBatch {
                day: crate::model::day_of(crate::model::now()),
                products: vec![(id, 1234)],
                ..Default::default()
            })
            .unwrap();
        let page = body(get(&admin, &ann, "/admin/products"));
        // win: 30 of 100, linux: 0 of 100 → 15 % over both.
        assert!(page.contains("15 %"), "{page}");
        assert!(page.contains("win 30 %, linux 0 %") || page.contains("linux 0 %, win 30 %"));
        assert!(page.contains("1,234"), "{page}");
        let page = body(get(&admin, &ann, "/admin/products/fx"));
        assert!(page.contains("30 %") && page.contains("15 %"), "{page}");
    }

    #[test]
    fn check_now_flags_the_product() {
        let (_dir, admin) = admin();
        let ann = login(&admin, "ann", Role::Admin);
        add(&admin, &ann, "fx");
        redirected(post(
            &admin,
            &ann,
            "/admin/products/fx",
            &[("active", "on")],
        ));
        assert!(!product(&admin, "fx").unwrap().checknow);
        let r = post(&admin, &ann, "/admin/products/fx/check", &[]);
        assert!(follow(&admin, &ann, r).contains("Checking fx now"));
        // Sentry may already have checked it and cleared the flag; the
        // audit log has the request either way.
        let events = admin.network.store().events(10).unwrap();
        let update = events
            .iter()
            .find(|e| e.action == "product.update")
            .unwrap();
        assert_eq!(update.actor, "admin:ann");
        assert!(
            update.detail.contains("checknow false -> true"),
            "{update:?}"
        );
        assert_eq!(
            post(&admin, &ann, "/admin/products/nope/check", &[]).status(),
            StatusCode::NOT_FOUND
        );
    }
}
