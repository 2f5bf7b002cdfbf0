//! Admin section: mirrors — the list with health and traffic (searched,
//! filtered, sorted and paged on the server, with bulk changes), adding,
//! each mirror's page with its health timeline, editing, removing, and
//! "check now".
//!
//! Routes: `GET /admin/mirrors` (the list; query fields of
//! [`super::list`] with the states of [`STATES`] and `region=NAME`),
//! `POST /admin/mirrors` (add), `POST /admin/mirrors/bulk/OP` (OP:
//! `enable`, `disable`, `rating`, `region-add`, `region-remove`; the
//! mirrors ticked as `mirror` fields), `GET /admin/mirrors/NAME`,
//! `POST /admin/mirrors/NAME` (save), `POST /admin/mirrors/NAME/remove`,
//! `POST /admin/mirrors/NAME/check`.
//!
//! "Serves" is one figure everywhere: the locations a mirror receives
//! downloads for now, from the live index
//! ([`crate::network::Network::serving`]).

use std::cmp::Ordering;

use hyper::StatusCode;
use maud::{Markup, html};

use super::list::{Listing, Select};
use super::page::{self, Badge, Input, badge, checkbox, csrf, seg};
use super::{Ctx, Form, Page, PageResult, wording};
use crate::auth::Area;
use crate::chart;
use crate::error::Error;
use crate::model::health::{MAX_RATING, uptime};
use crate::model::{
    Audience, Families, Family, Mirror, MirrorCheck, MirrorHealth, MirrorId, MirrorKind,
    MirrorState, Problem, Reach, Reaches,
};
use crate::store::{NewMirror, Snapshot};

/// The state filters of the list (`state=KEY`), shared with the links
/// other pages make to it.
pub const STATES: &[(&str, &str)] = &[
    ("up", "up"),
    ("down", "down"),
    ("disabled", "disabled"),
    ("unchecked", "unchecked"),
    ("missing", "missing files"),
    ("nothing", "up — serves nothing"),
];

/// The title of the "Serves" figure wherever it is shown.
pub const SERVES_TITLE: &str = "locations it receives downloads for now";

/// Checks listed on a mirror's page.
const RECENT: usize = 30;

/// Answers requests below `/admin/mirrors`.
pub fn route(ctx: &Ctx<'_>, page: &Page<'_>) -> PageResult {
    match (page.post, page.rest().as_slice()) {
        (false, []) => list(ctx, &page.form, &page.form, None),
        (true, []) => add(ctx, &page.form),
        (true, ["bulk", op]) => bulk(ctx, op, &page.form),
        (false, [name]) => edit(ctx, name, None, None),
        (true, [name]) => save(ctx, name, &page.form),
        (true, [name, "remove"]) => remove(ctx, name),
        (true, [name, "check"]) => check(ctx, name),
        _ => Ok(ctx.not_found("There is no such mirror page.")),
    }
}

/// A mirror's state as a badge, the same on every page.
pub fn state_badge(state: MirrorState) -> Markup {
    let kind = match state {
        MirrorState::Up => Badge::Good,
        MirrorState::Down => Badge::Bad,
        MirrorState::Flapping | MirrorState::ServesNothing | MirrorState::Unchecked => Badge::Warn,
        MirrorState::Disabled | MirrorState::Standby => Badge::Off,
    };
    badge(kind, state.word())
}

/// Sentry's `error` of kind `kind` (as sentry decided it: see
/// `MirrorHealth::problem`, `MirrorCheck::problem`) for the mirror at
/// `base_url`, as the pages show it: what it means and what to do, with the
/// raw text for the curious.
pub fn problem(kind: Option<Problem>, error: &str, base_url: &str) -> Markup {
    html! {
        @match kind.map(|p| p.advice(base_url)) {
            Some(advice) => {
                span.wrap { (advice) }
                " " small.muted.wrap { "(sentry saw: " (error) ")" }
            }
            None => span.wrap { (error) },
        }
    }
}

/// A latency in milliseconds, or "—" for none (no answer).
fn latency(ms: u32) -> String {
    crate::chart::latency(ms.into())
}

/// One mirror of the list, with what the list shows and sorts by.
struct Row<'a> {
    m: &'a Mirror,
    h: Option<&'a MirrorHealth>,
    last: Option<&'a MirrorCheck>,
    state: MirrorState,
    serves: usize,
    downloads: u64,
}

/// Whether a mirror in `state` belongs to the list's state filter `key`
/// (one of [`STATES`]; any other key selects every mirror); `missing` is
/// whether its last check found files missing. Other pages count mirrors
/// with this, so their figures match what the list shows for the same key.
pub fn in_state(key: &str, state: MirrorState, missing: bool) -> bool {
    match key {
        "up" => matches!(state, MirrorState::Up | MirrorState::Flapping),
        "down" => state == MirrorState::Down,
        "disabled" => matches!(state, MirrorState::Disabled | MirrorState::Standby),
        "unchecked" => state == MirrorState::Unchecked,
        "missing" => missing,
        "nothing" => state == MirrorState::ServesNothing,
        _ => true,
    }
}

impl Row<'_> {
    /// Whether the row is in the list's state filter `key`.
    fn is(&self, key: &str) -> bool {
        in_state(key, self.state, self.last.is_some_and(|c| c.missing > 0))
    }

    /// Latency of the last check, `None` when it did not answer.
    fn latency(&self) -> Option<u32> {
        self.h
            .filter(|h| h.checked_at > 0 && h.latency_ms > 0)
            .map(|h| h.latency_ms)
    }
}

/// Sorts by the states' order: trouble first.
fn state_rank(s: MirrorState) -> u8 {
    match s {
        MirrorState::Down => 0,
        MirrorState::ServesNothing => 1,
        MirrorState::Flapping => 2,
        MirrorState::Unchecked => 3,
        MirrorState::Up => 4,
        MirrorState::Standby => 5,
        MirrorState::Disabled => 6,
    }
}

fn compare(key: &str, a: &Row<'_>, b: &Row<'_>) -> Ordering {
    let by_name = || a.m.name.to_lowercase().cmp(&b.m.name.to_lowercase());
    let first = match key {
        "rating" => a.m.rating.cmp(&b.m.rating),
        "status" => state_rank(a.state).cmp(&state_rank(b.state)),
        "checked" => {
            a.h.map_or(0, |h| h.checked_at)
                .cmp(&b.h.map_or(0, |h| h.checked_at))
        }
        // No answer sorts after every answer.
        "latency" => a
            .latency()
            .unwrap_or(u32::MAX)
            .cmp(&b.latency().unwrap_or(u32::MAX)),
        "serves" => a.serves.cmp(&b.serves),
        "downloads" => a.downloads.cmp(&b.downloads),
        _ => Ordering::Equal,
    };
    first.then_with(by_name)
}

/// The list, filtered, sorted and paged as `form` asks, with the "Add a
/// mirror" form filled from `entered` (after a failed add: what was
/// entered, which must not filter the list).
fn list(ctx: &Ctx<'_>, form: &Form, entered: &Form, error: Option<Markup>) -> PageResult {
    let network = ctx.network();
    let s = network.snapshot()?;
    let (serving, locations) = network.serving();
    let today = crate::model::day_of(crate::model::now());
    let downloads = network
        .store()
        .downloads_by_mirror(today.saturating_sub(29), today)
        .unwrap_or_default();
    let total: u64 = downloads.values().sum();
    let ids: Vec<MirrorId> = s.mirrors.iter().map(|m| m.id).collect();
    let latest = network.store().latest_checks(&ids).unwrap_or_default();
    let now = crate::model::now();
    let region = s
        .regions
        .iter()
        .find(|r| r.name.eq_ignore_ascii_case(form.get("region").trim()))
        .map(|r| r.name.clone())
        .unwrap_or_default();
    let view = Listing::from_form(form, "name", STATES).keep("region", &region);
    let mut rows: Vec<Row<'_>> = s
        .mirrors
        .iter()
        .map(|m| {
            let h = s.health.get(&m.id);
            let serves = serving.get(&m.id).copied().unwrap_or(0);
            Row {
                m,
                h,
                last: latest.get(&m.id),
                state: MirrorState::of(m, h, serves, locations, now),
                serves,
                downloads: downloads.get(&m.id).copied().unwrap_or(0),
            }
        })
        .filter(|r| view.state.is_empty() || r.is(&view.state))
        .filter(|r| {
            region.is_empty() || r.m.regions.iter().any(|g| g.eq_ignore_ascii_case(&region))
        })
        .filter(|r| {
            let regions = r.m.regions.join(" ");
            view.matches([
                r.m.name.as_str(),
                r.m.base_url.as_str(),
                r.m.contact.as_str(),
                regions.as_str(),
            ])
        })
        .collect();
    rows.sort_by(|a, b| view.order(compare(&view.sort, a, b)));
    let (rows, window) = view.window(rows);
    let can = ctx.may(Area::Network);
    let base = "/admin/mirrors";
    let back = view.href(base, &[]);
    // The region filter, offered when there are regions.
    let filters: Vec<Select<'_>> = if s.regions.is_empty() {
        Vec::new()
    } else {
        vec![Select {
            name: "region",
            label: "Region",
            options: s
                .regions
                .iter()
                .map(|r| (r.name.as_str(), r.name.as_str()))
                .collect(),
        }]
    };
    let body = html! {
        div.toolbar {
            h1 { "Mirrors" }
            span.muted { (page::plural(s.mirrors.len(), "mirror", "mirrors")) }
        }
        @if can {
            details.card open[error.is_some()] {
                summary { strong { "Add a mirror" } }
                @if let Some(e) = &error { (e) }
                (add_form(ctx, &s, entered))
            }
        }
        (view.search_with(base, "mirrors (name, URL, contact, region)", STATES, &filters))
        @if can && !rows.is_empty() {
            form id="bulk" method="post" action="/admin/mirrors/bulk/enable" {
                (csrf(ctx))
                input type="hidden" name="back" value=(back);
            }
        }
        div.scroll {
            table {
                thead { tr {
                    @if can { th { "Select" } }
                    (view.heading(base, "name", "Name", false))
                    th { "Base URL" }
                    (view.heading(base, "rating", "Rating", true))
                    (view.heading(base, "status", "Status", false))
                    (view.heading(base, "checked", "Last check", false))
                    (view.heading(base, "latency", "Latency", true))
                    (view.heading_titled(base, "serves", "Serves", true, Some(SERVES_TITLE)))
                    th { "Regions" }
                    (view.heading(base, "downloads", "Downloads (30 days)", true))
                    th.num { "Share" }
                } }
                tbody {
                    @for r in &rows {
                        tr {
                            @if can {
                                td { input type="checkbox" form="bulk" name="mirror" value=(r.m.name) aria-label={ "Select " (r.m.name) }; }
                            }
                            td { a href={ "/admin/mirrors/" (seg(&r.m.name)) } { (r.m.name) } }
                            td.wrap { code { (r.m.base_url) } }
                            td.num { (r.m.rating) }
                            td {
                                (state_badge(r.state))
                                @if let Some(h) = r.h.filter(|h| !h.healthy && !h.error.is_empty()) {
                                    br; small { (problem(h.problem(), &h.error, &r.m.base_url)) }
                                } @else if let Some(c) = r.last.filter(|c| c.missing > 0) {
                                    br; small.muted { (c.missing) " of " (c.files) " files checked missing" }
                                }
                            }
                            td { (page::ago(r.h.map_or(0, |h| h.checked_at))) }
                            td.num { @match r.latency() { Some(ms) => (latency(ms)), None => span title="no answer" { "—" } } }
                            td.num { (r.serves) }
                            td.wrap { (r.m.regions.join(", ")) }
                            td.num { (crate::chart::thousands(r.downloads)) }
                            td.num { @if total > 0 { (format!("{:.1} %", r.downloads as f64 * 100.0 / total as f64)) } }
                        }
                    }
                }
            }
        }
        (view.pager(base, &window, "mirrors"))
        @if can && !rows.is_empty() {
            (bulk_controls(&s))
        }
    };
    let status = if error.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    Ok(ctx.page_status(status, "mirrors", "Mirrors", body))
}

/// The bulk actions for the mirrors ticked in the list (one form, the
/// buttons sending it to each action).
fn bulk_controls(s: &Snapshot) -> Markup {
    html! {
        section.card {
            h2 { "Change the selected mirrors" }
            p.muted { "Tick mirrors in the list above, then:" }
            div.toolbar {
                button form="bulk" type="submit" formaction="/admin/mirrors/bulk/enable" { "Enable" }
                button.danger form="bulk" type="submit" formaction="/admin/mirrors/bulk/disable"
                    name="ask" value="Switch off the selected mirrors? They get no downloads until enabled again."
                    data-confirm="Switch off the selected mirrors? They get no downloads until enabled again." { "Disable" }
            }
            div.toolbar {
                label.field {
                    span { "Rating" }
                    input form="bulk" type="number" name="rating" min="0" max=(MAX_RATING) placeholder="100";
                }
                button form="bulk" type="submit" formaction="/admin/mirrors/bulk/rating" { "Set rating" }
            }
            @if !s.regions.is_empty() {
                div.toolbar {
                    label.field {
                        span { "Region" }
                        select form="bulk" name="region" {
                            @for r in &s.regions { option value=(r.name) { (r.name) } }
                        }
                    }
                    button form="bulk" type="submit" formaction="/admin/mirrors/bulk/region-add" { "Add to region" }
                    button form="bulk" type="submit" formaction="/admin/mirrors/bulk/region-remove" { "Remove from region" }
                }
            }
        }
    }
}

fn add_form(ctx: &Ctx<'_>, s: &Snapshot, form: &Form) -> Markup {
    let rating = Some(form.get("rating"))
        .filter(|r| !r.is_empty())
        .unwrap_or("100");
    html! {
        form.stack method="post" action="/admin/mirrors" {
            (csrf(ctx))
            (page::input(Input::Text, true, "Name", "name", form.get("name"), None))
            (page::input(Input::Url, true, "Base URL", "base_url", form.get("base_url"), Some("http:// or https://, the root that holds the product directories")))
            (page::input(Input::Number { min: 0, max: MAX_RATING.into() }, false, "Rating", "rating", rating, Some(RATING_HINT)))
            (page::input(Input::Email, false, "Contact e-mail", "contact", form.get("contact"), Some("one address, e.g. ops@mirror.example.org (optional)")))
            (regions_field(s, &form.all("region")))
            (families_field(Families::parse(form.get("families")).unwrap_or_default()))
            (checkbox("Add it switched off", "inactive", form.checked("inactive")))
            div { button.primary type="submit" { "Add mirror" } }
        }
    }
}

/// How the pages name each address-family setting.
fn families_label(f: Families) -> &'static str {
    match f {
        Families::Both => "IPv4 and IPv6",
        Families::V4Only => "IPv4 only",
        Families::V6Only => "IPv6 only",
    }
}

/// Each family the mirror is set to serve whose clients sentry keeps away:
/// it did not answer over it, or its host has no address in it.
fn family_trouble(families: Families, reaches: Reaches) -> Vec<(Family, Reach)> {
    Family::ALL
        .into_iter()
        .filter(|&f| families.serves(f))
        .map(|f| (f, reaches.of(f)))
        .filter(|(_, r)| !r.serves())
        .collect()
}

/// What [`family_trouble`] means for the mirror's clients.
fn family_note(family: Family, reach: Reach) -> String {
    let name = family.label();
    match reach {
        Reach::Down => format!(
            "It did not answer over {name} on its last check: {name} clients are not sent here until it does (its other family still serves)."
        ),
        _ => format!(
            "Its host has no {name} address: {name} clients are sent to other mirrors. If it should have one, its DNS lacks the record."
        ),
    }
}

/// `up · down`: what the last check found over IPv4 and IPv6.
fn reach_summary(reaches: Reaches) -> String {
    let word = |r: Reach| match r {
        Reach::Unknown => "—",
        Reach::NoAddress => "none",
        Reach::Up => "up",
        Reach::Down => "down",
    };
    format!("{} · {}", word(reaches.v4), word(reaches.v6))
}

/// The address families a mirror serves, one of three.
/// The kind choice of the settings form.
fn kind_field(chosen: MirrorKind) -> Markup {
    html! {
        fieldset.field {
            legend { "Kind" }
            @for (k, label) in [(MirrorKind::Mirror, "Mirror: sentry checks its files one by one"), (MirrorKind::Cdn, "CDN: always complete, only probed; preferred for new files and the fallback before the origin")] {
                label.check {
                    input type="radio" name="kind" value=(k.as_str()) checked[k == chosen];
                    " " (label)
                }
            }
        }
    }
}

fn families_field(chosen: Families) -> Markup {
    html! {
        fieldset.field {
            legend { "Address families" }
            @for f in Families::ALL {
                label.check {
                    input type="radio" name="families" value=(f.as_str()) checked[f == chosen];
                    " " (families_label(f))
                }
            }
            small.muted { "Clients are sent only to mirrors that serve their own family: an IPv4-only mirror never gets IPv6 clients." }
        }
    }
}

/// The address families a form asks for (`stored` when it does not say).
fn families(form: &Form, stored: Families) -> Result<Families, String> {
    match form.opt("families") {
        None => Ok(stored),
        Some(v) => Families::parse(v).ok_or_else(|| {
            format!("Address families {v:?} is not one of the choices: pick IPv4 and IPv6, IPv4 only or IPv6 only.")
        }),
    }
}

/// A lag as minutes, hours or days.
fn lag_text(secs: u64) -> String {
    match secs {
        0..120 => format!("{secs} s"),
        120..7200 => format!("{} min", secs / 60),
        7200..172_800 => format!("{} h", secs / 3600),
        _ => format!("{} days", secs / 86_400),
    }
}

/// The audience a form asks for: each of its fields the form has replaces
/// the stored one; a wrong one says which and how to write it.
fn audience(form: &Form, stored: &Audience) -> Result<Audience, String> {
    use crate::model::audience::{parse_countries, parse_networks, parse_share};
    let mut out = stored.clone();
    let say = |label: &str, e: crate::model::audience::AudienceError| format!("{label}: {e}.");
    if let Some(v) = form.opt("only_countries") {
        out.only = parse_countries(v).map_err(|e| say("Only these countries", e))?;
    }
    if let Some(v) = form.opt("never_countries") {
        out.never = parse_countries(v).map_err(|e| say("Never these countries", e))?;
    }
    if let Some(v) = form.opt("networks") {
        out.networks = parse_networks(v).map_err(|e| say("Networks served first", e))?;
    }
    if let Some(v) = form.opt("max_share") {
        out.max_share = parse_share(v).map_err(|e| say("Largest share", e))?;
    }
    Ok(out)
}

/// The audience fields of the settings form, showing `a`.
fn audience_fields(a: &Audience) -> Markup {
    use crate::model::audience::join;
    html! {
        (page::input(Input::Text, false, "Only these countries", "only_countries", &join(&a.only), Some("ISO codes, e.g. DE,AT: it serves no one else, not even clients whose country is unknown; empty: any country")))
        (page::input(Input::Text, false, "Never these countries", "never_countries", &join(&a.never), Some("ISO codes, e.g. CN,RU: clients from these never go there")))
        (page::input(Input::Text, false, "Networks served first", "networks", &join(&a.networks), Some("CIDR prefixes and AS numbers, e.g. 192.0.2.0/24,AS64500: clients there go to it before their region's mirrors (AS numbers need an ASN table: bouncer asn import)")))
        (page::input(Input::Text, false, "Largest share", "max_share", &a.max_share.map(|s| s.to_string()).unwrap_or_default(), Some("percent of a pool's downloads it may take at most, e.g. 40; empty: no cap")))
    }
}

const RATING_HINT: &str = "selection weight from 0 to 1000: 100 is the usual, 200 gets twice the share, 0 takes it out of rotation";

fn regions_field(s: &Snapshot, chosen: &[String]) -> Markup {
    html! {
        fieldset.field {
            legend { "Regions" }
            @if s.regions.is_empty() {
                small.muted { "No regions yet: the mirror serves the whole world. " a href="/admin/regions" { "Add regions" } }
            }
            @for r in &s.regions {
                (page::choice(&r.name, "region", &r.name, chosen.iter().any(|c| c.eq_ignore_ascii_case(&r.name))))
            }
        }
    }
}

/// The rating a form asks for: a whole number from 0 to [`MAX_RATING`]
/// (100 when left empty). `stored`, the mirror's rating now, is taken as
/// it is even above the bound, so a mirror rated higher before stays
/// editable.
fn rating(form: &Form, stored: Option<u32>) -> Result<u32, String> {
    let r = form.get("rating").trim();
    if r.is_empty() {
        return Ok(stored.unwrap_or(100));
    }
    let n: u32 = r.parse().map_err(|_| {
        format!("Rating {r:?} is not a whole number: give one from 0 (out of rotation) to {MAX_RATING}; 100 is the usual weight.")
    })?;
    if n > MAX_RATING && Some(n) != stored {
        return Err(format!(
            "Rating {n} is more than {MAX_RATING}, the most a rating can be: ratings are weights, so give the others less instead (100 is the usual weight)."
        ));
    }
    Ok(n)
}

fn add(ctx: &Ctx<'_>, form: &Form) -> PageResult {
    let (rating, families) =
        match rating(form, None).and_then(|r| Ok((r, families(form, Families::Both)?))) {
            Ok(r) => r,
            Err(e) => return list(ctx, &Form::default(), form, Some(page::error(Some(&e)))),
        };
    let added = ctx.write(|tx| {
        tx.mirror_add(NewMirror {
            name: form.get("name").to_string(),
            base_url: form.get("base_url").to_string(),
            rating,
            regions: form.all("region"),
            contact: form.get("contact").to_string(),
            inactive: form.checked("inactive"),
            families,
            audience: Default::default(),
            alt_url: None,
            trace: None,
            kind: MirrorKind::Mirror,
        })
    });
    match added {
        Ok(m) => Ok(ctx.done(
            &format!("/admin/mirrors/{}", seg(&m.name)),
            format!(
                "Added mirror {}. Sentry checks it within seconds; it gets traffic once its files are found.",
                m.name
            ),
        )),
        Err(e) => list(ctx, &Form::default(), form, Some(wording::alert(Some(&wording::markup(&e))))),
    }
}

/// What a bulk action does to each mirror.
type Change = Box<dyn Fn(&mut Mirror)>;

/// A bulk action on the mirrors ticked in the list: one write, one audit
/// event, a message saying how many changed.
fn bulk(ctx: &Ctx<'_>, op: &str, form: &Form) -> PageResult {
    let back = match form.opt("back") {
        Some(b) if b.starts_with("/admin/mirrors") && !b.contains("//") => b.to_string(),
        _ => "/admin/mirrors".to_string(),
    };
    let names = form.all("mirror");
    if names.is_empty() {
        return Ok(ctx.failed(
            &back,
            "No mirror was selected: tick the mirrors to change in the list, then choose the change.",
        ));
    }
    let region = form.get("region").trim().to_string();
    let (what, change): (String, Change) = match op {
        "enable" => ("enabled".into(), Box::new(|m| m.active = true)),
        "disable" => ("disabled".into(), Box::new(|m| m.active = false)),
        "rating" => {
            if form.get("rating").trim().is_empty() {
                return Ok(ctx.failed(
                    &back,
                    "Give the rating to set (0 to 1000) next to Set rating.",
                ));
            }
            let r = match rating(form, None) {
                Ok(r) => r,
                Err(e) => return Ok(ctx.failed(&back, e)),
            };
            (
                format!("rating set to {r}"),
                Box::new(move |m| m.rating = r),
            )
        }
        "region-add" | "region-remove" if region.is_empty() => {
            return Ok(ctx.failed(&back, "Choose a region first."));
        }
        "region-add" => {
            let r = region.clone();
            (
                format!("added to region {region}"),
                Box::new(move |m| {
                    if !m.regions.iter().any(|g| g.eq_ignore_ascii_case(&r)) {
                        m.regions.push(r.clone());
                    }
                }),
            )
        }
        "region-remove" => {
            let r = region.clone();
            (
                format!("removed from region {region}"),
                Box::new(move |m| m.regions.retain(|g| !g.eq_ignore_ascii_case(&r))),
            )
        }
        _ => return Ok(ctx.not_found("There is no such change for mirrors.")),
    };
    let done = ctx.write(|tx| tx.mirrors_bulk(&names, &what, &*change));
    Ok(match done {
        Ok(changed) => {
            let n = changed.len();
            let message = match n {
                0 => format!(
                    "Nothing changed: the {} selected were {what} already.",
                    page::plural(names.len(), "mirror", "mirrors")
                ),
                _ => format!(
                    "{} {what}.",
                    page::sentence(&page::plural(n, "mirror", "mirrors"))
                ),
            };
            ctx.done(&back, message)
        }
        Err(e) => ctx.failed(&back, format!("Nothing was changed: {e}")),
    })
}

/// What a mirror's check history says, for its page.
struct Timeline {
    /// Checks of the last 30 days, oldest first.
    checks: Vec<MirrorCheck>,
    /// Unix time now.
    now: u64,
}

impl Timeline {
    fn last_success(&self) -> Option<u64> {
        self.checks.iter().rev().find(|c| c.ok).map(|c| c.at)
    }

    fn failures_in_a_row(&self) -> u32 {
        self.checks.last().map_or(0, MirrorCheck::failures_in_a_row)
    }

    /// Uptime over the last `days` as a percentage, with a note when the
    /// history covers less of the window.
    fn uptime(&self, days: u64) -> Markup {
        let window = days * 86_400;
        match uptime(&self.checks, self.now.saturating_sub(window), self.now) {
            None => html! { span.muted { "—" } },
            Some((share, covered)) => html! {
                (format!("{:.1} %", share * 100.0))
                @if covered + 3600 < window {
                    " " small.muted { "(of " (span_words(covered)) " checked)" }
                }
            },
        }
    }
}

/// A span of seconds in words: "5 h", "3 days".
fn span_words(secs: u64) -> String {
    match secs {
        0..3600 => format!("{} min", secs / 60),
        3600..172_800 => format!("{} h", secs / 3600),
        _ => format!("{} days", secs / 86_400),
    }
}

/// A small line chart of `points` (time, value) from `from` to `to`, as
/// inline SVG; `label` names it for screen readers.
fn sparkline(
    points: &[(u64, u64)],
    from: u64,
    to: u64,
    label: &str,
    unit: &dyn Fn(u64) -> String,
) -> Markup {
    let (w, h) = (600.0, 80.0);
    let max = points.iter().map(|p| p.1).max().unwrap_or(0).max(1) as f64;
    let span = to.saturating_sub(from).max(1) as f64;
    let mut path = String::new();
    for (t, v) in points {
        let x = (t.saturating_sub(from)) as f64 / span * w;
        let y = h - (*v as f64 / max * (h - 8.0)) - 4.0;
        path.push_str(&format!(
            "{}{x:.1},{y:.1} ",
            if path.is_empty() { "M" } else { "L" }
        ));
    }
    let peak = unit(max as u64);
    html! {
        figure.spark {
            svg viewBox={ "0 0 " (w) " " (h) } width="100%" height="80" role="img" aria-label={ (label) ", highest " (peak) } preserveAspectRatio="none" {
                title { (label) ", highest " (peak) }
                line x1="0" y1=(h - 4.0) x2=(w) y2=(h - 4.0) stroke="#dde1e8" {}
                path d=(path.trim_end()) fill="none" stroke="#0072b2" stroke-width="2" vector-effect="non-scaling-stroke" {}
            }
            figcaption.muted { (label) " — highest " (peak) }
        }
    }
}

fn edit(ctx: &Ctx<'_>, name: &str, form: Option<&Form>, error: Option<Markup>) -> PageResult {
    let network = ctx.network();
    let s = network.snapshot()?;
    let Some(m) = s.mirror(name) else {
        return Ok(ctx.not_found(&format!("There is no mirror named {name:?}.")));
    };
    let h = s.health.get(&m.id);
    let now = crate::model::now();
    let (serving, locations) = network.serving();
    let serves = serving.get(&m.id).copied().unwrap_or(0);
    let lag = network.index().mirror_by_id(m.id).and_then(|e| e.lag);
    let state = MirrorState::of(m, h, serves, locations, now);
    let timeline = Timeline {
        checks: network
            .store()
            .checks_of(m.id, now.saturating_sub(crate::store::CHECKS_KEPT_SECS))?,
        now,
    };
    let url = format!("/admin/mirrors/{}", seg(&m.name));
    let value = |field: &str, stored: String| form.map_or(stored, |f| f.get(field).to_string());
    let regions = form.map_or_else(|| m.regions.clone(), |f| f.all("region"));
    let can = ctx.may(Area::Network);
    let last = timeline.checks.last();
    // The newest problem to explain: why it is down, else why its files
    // are missing.
    let trouble = h
        .filter(|h| !h.healthy && !h.error.is_empty())
        .map(|h| (h.problem(), h.error.clone()))
        .or_else(|| {
            last.filter(|c| !c.error.is_empty())
                .map(|c| (c.problem(), c.error.clone()))
        });
    let week = now.saturating_sub(7 * 86_400);
    let latencies: Vec<(u64, u64)> = timeline
        .checks
        .iter()
        .filter(|c| c.at >= week && c.latency_ms > 0)
        .map(|c| (c.at, c.latency_ms.into()))
        .collect();
    let speeds: Vec<(u64, u64)> = timeline
        .checks
        .iter()
        .filter(|c| c.at >= week && c.throughput > 0)
        .map(|c| (c.at, c.throughput))
        .collect();
    let body = html! {
        div.toolbar {
            h1 { "Mirror " (m.name) " " (state_badge(state)) }
            @if can {
                (page::button(ctx, &format!("{url}/check"), "Check now", "", None))
            }
        }
        @if let Some((kind, error)) = &trouble {
            p.flash.error[state == MirrorState::Down] role="note" {
                @if let Some(p) = kind { strong { (page::sentence(p.name())) ": " } }
                (problem(*kind, error, &m.base_url))
            }
        } @else if state == MirrorState::ServesNothing {
            p.flash role="note" { "It answers, but receives downloads for none of its files: sentry has not found them there yet. "
                a href={ "/admin/availability?mirror=" (seg(&m.name)) } { "See what it lacks" } "." }
        }
        @if let Some(w) = m.maintenance.filter(|w| w.keeps_out(h.map_or(0, |h| h.checked_at), now)) {
            p.flash role="note" {
                @if w.covers(now) { "Away for maintenance from " (w.describe()) ": no downloads, no checks, no mail." }
                @else { "Back from maintenance (" (w.describe()) "): it gets downloads again once a check passes." }
            }
        }
        @if let Some(h) = h.filter(|h| h.is_flapping(now)) {
            p.flash.error { "Flapping: changed state " (h.flaps) " times recently; its weight is damped." }
        }
        @for (family, reach) in h.map(|h| family_trouble(m.families, h.reaches)).unwrap_or_default() {
            p.flash.error[reach == Reach::Down] role="note" { (family_note(family, reach)) }
        }
        div.cards {
            div.stat { span.value { (latency(h.filter(|h| h.checked_at > 0).map_or(0, |h| h.latency_ms))) } span.label { "latency (last check)" } }
            div.stat { span.value { @match h.filter(|h| h.throughput > 0) { Some(h) => (chart::speed(h.throughput)), None => "—" } } span.label { "measured speed" } }
            div.stat title=(SERVES_TITLE) { span.value { (serves) } span.label { "serves (locations)" } }
            div.stat { span.value { (page::ago(h.map_or(0, |h| h.checked_at))) } span.label { "last check" } }
            div.stat { span.value { (page::ago(timeline.last_success().unwrap_or(0))) } span.label { "last success" } }
            div.stat { span.value { (timeline.failures_in_a_row()) } span.label { "failures in a row" } }
            div.stat { span.value { (page::ago(h.map_or(0, |h| h.since))) } span.label { "status since" } }
            div.stat { span.value { (reach_summary(h.map(|h| h.reaches).unwrap_or_default())) } span.label { "IPv4 · IPv6" } }
            @if m.trace.is_some() {
                div.stat title="how far it lags behind the origin (or the freshest mirror) by its trace file" {
                    span.value { @match lag { Some(s) => (lag_text(s)), None => "unknown" } }
                    span.label { "lag (trace file)" }
                }
            }
        }
        @if m.trace.is_some() && lag.is_none() && h.is_some_and(|h| h.checked_at > 0) {
            p.flash.error role="note" { "Its trace file " code { (m.trace.as_deref().unwrap_or("")) } " could not be read on the last check: products with a lag limit leave it out. Check the path, or clear it below." }
        }
        section.card {
            h2 { "Health" }
            div.cards {
                div.stat { span.value { (timeline.uptime(1)) } span.label { "uptime, 1 day" } }
                div.stat { span.value { (timeline.uptime(7)) } span.label { "uptime, 7 days" } }
                div.stat { span.value { (timeline.uptime(30)) } span.label { "uptime, 30 days" } }
            }
            @if latencies.len() >= 2 {
                (sparkline(&latencies, week, now, "Latency over 7 days", &|v| latency(v.min(u32::MAX.into()) as u32)))
            }
            @if speeds.len() >= 2 {
                (sparkline(&speeds, week, now, "Measured speed over 7 days", &chart::speed))
            }
            h3 { "Recent checks" }
            @if timeline.checks.is_empty() {
                p.muted { "No checks recorded yet." }
            } @else {
                div.scroll {
                    table {
                        thead { tr { th { "When" } th { "Result" } th.num { "Latency" } th.num { "Speed" } th.num { "Files missing" } th { "What it saw" } } }
                        tbody {
                            @for c in timeline.checks.iter().rev().take(RECENT) {
                                tr {
                                    td { (page::ago(c.at)) }
                                    td { @if c.ok { (badge(Badge::Good, "ok")) } @else { (badge(Badge::Bad, "failed")) } }
                                    td.num { (latency(c.latency_ms)) }
                                    td.num { @if c.throughput > 0 { (chart::speed(c.throughput)) } @else { "—" } }
                                    td.num { (c.missing) " of " (c.files) }
                                    td.wrap { @if !c.error.is_empty() { (problem(c.problem(), &c.error, &m.base_url)) } }
                                }
                            }
                        }
                    }
                }
                p.muted { "Kept 30 days; calm stretches keep one check per quarter hour, every change of state is kept." }
            }
        }
        p { a href={ "/admin/availability?mirror=" (seg(&m.name)) } { "Which files it has" } " · " a href={ "/admin/reports?mirror=" (seg(&m.name)) } { "Sentry reports" } " · " a href={ "/admin/audit?q=" (seg(&m.name)) } { "Changes" } }
        section.card {
            h2 { "Settings" }
            @if can {
                @if let Some(e) = &error { (e) }
                form.stack method="post" action=(url) {
                    (csrf(ctx))
                    (page::input(Input::Url, true, "Base URL", "base_url", &value("base_url", m.base_url.clone()), None))
                    (page::input(Input::Text, false, "Maintenance window", "maintenance", &form.map(|f| f.get("maintenance").to_string()).unwrap_or_default(), Some("FROM/DURATION in UTC, e.g. now/2h or 2026-12-08T02:00:00Z/90m: it leaves rotation for that time, unchecked and unmailed, and comes back after a passing check; none cancels; empty leaves it as it is")))
                    (page::input(Input::Text, false, "Trace file", "trace", &value("trace", m.trace.clone().unwrap_or_default()), Some("its path under the root, e.g. /project/trace/master (Debian) or /lastsync (Arch): sentry reads when it last synced; a product may limit how stale its files are (its Max lag)")))
                    (page::input(Input::Url, false, "Other-scheme URL", "alt_url", &value("alt_url", m.alt_url.clone().unwrap_or_default()), Some("the same root over the other scheme, e.g. https://… beside an http:// base URL: https-only downloads use the https one; empty: none")))
                    (page::input(Input::Number { min: 0, max: MAX_RATING.max(m.rating).into() }, false, "Rating", "rating", &value("rating", m.rating.to_string()), Some(RATING_HINT)))
                    (page::input(Input::Email, false, "Contact e-mail", "contact", &value("contact", m.contact.clone()), Some("one address, e.g. ops@mirror.example.org; gets mail when this mirror goes down or serves bad files, if enabled")))
                    (regions_field(&s, &regions))
                    (families_field(form.and_then(|f| Families::parse(f.get("families"))).unwrap_or(m.families)))
                    (kind_field(form.and_then(|f| MirrorKind::parse(f.get("kind"))).unwrap_or(m.kind)))
                    (audience_fields(&form.and_then(|f| audience(f, &m.audience).ok()).unwrap_or_else(|| m.audience.clone())))
                    (checkbox("Active (gets traffic)", "active", form.map_or(m.active, |f| f.checked("active"))))
                    div { button.primary type="submit" { "Save" } }
                }
            } @else {
                dl {
                    dt { "Base URL" } dd.wrap { code { (m.base_url) } }
                    @if let Some(alt) = &m.alt_url { dt { "Other-scheme URL" } dd.wrap { code { (alt) } } }
                    dt { "Rating" } dd { (m.rating) }
                    dt { "Contact e-mail" } dd.wrap { @if m.contact.is_empty() { span.muted { "none" } } @else { (m.contact) } }
                    dt { "Regions" } dd.wrap { @if m.regions.is_empty() { span.muted { "none: the whole world" } } @else { (m.regions.join(", ")) } }
                    dt { "Address families" } dd { (families_label(m.families)) }
                    dt { "Kind" } dd { (m.kind.as_str()) }
                    dt { "Whom it serves" } dd.wrap { @if m.audience.is_default() { "everyone alike" } @else { (m.audience.describe()) } }
                    dt { "Active" } dd { @if m.active { "yes (gets traffic)" } @else { "no (switched off)" } }
                }
            }
        }
        @if can {
            section.card.danger-zone {
                h2 { "Remove" }
                p { "Removing a mirror forgets its settings, health, check history and availability. Its download counts stay." }
                (page::button(ctx, &format!("{url}/remove"), "Remove this mirror", "danger", Some("Remove this mirror?")))
            }
        }
    };
    let status = if error.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    Ok(ctx.page_status(status, "mirrors", &format!("Mirror {}", m.name), body))
}

/// The question to ask before saving `form` for mirror `m`, when it would
/// take a mirror in rotation (active, rating above 0) out of it: unticking
/// "Active" or a rating of 0. `None` when it stays in, or was out already.
fn out_of_rotation(m: &Mirror, form: &Form, rating: u32) -> Option<String> {
    if !m.active || m.rating == 0 {
        return None;
    }
    if !form.checked("active") {
        Some(format!(
            "Switch off mirror {}? It gets no downloads until it is made active again.",
            m.name
        ))
    } else if rating == 0 {
        Some(format!(
            "Set the rating of mirror {} to 0? That takes it out of rotation: it gets no downloads until its rating is above 0 again.",
            m.name
        ))
    } else {
        None
    }
}

/// The page that asks `question` before a mirror is taken out of
/// rotation (without JavaScript the settings form cannot ask first): the
/// form's fields are kept for the confirmed POST, as products do
/// (`products::confirm_deactivation`).
fn confirm_out_of_rotation(ctx: &Ctx<'_>, name: &str, question: &str, form: &Form) -> PageResult {
    let url = format!("/admin/mirrors/{}", seg(name));
    let body = page::confirmation(ctx, &url, question, form, &url);
    Ok(ctx.page("mirrors", "Please confirm", body))
}

fn save(ctx: &Ctx<'_>, name: &str, form: &Form) -> PageResult {
    let Some(stored) = ctx.network().snapshot()?.mirror(name).cloned() else {
        return Ok(ctx.not_found(&format!("There is no mirror named {name:?}.")));
    };
    let window = match form.opt("maintenance").filter(|w| !w.trim().is_empty()) {
        None => Ok(stored.maintenance),
        Some(w) => crate::model::maintenance::parse(w, crate::model::now())
            .map_err(|e| format!("Maintenance window: {e}.")),
    };
    let (rating, families, audience, window) =
        match rating(form, Some(stored.rating)).and_then(|r| {
            Ok((
                r,
                families(form, stored.families)?,
                audience(form, &stored.audience)?,
                window?,
            ))
        }) {
            Ok(r) => r,
            Err(e) => return edit(ctx, name, Some(form), Some(page::error(Some(&e)))),
        };
    if !form.checked("confirmed")
        && let Some(question) = out_of_rotation(&stored, form, rating)
    {
        return confirm_out_of_rotation(ctx, &stored.name, &question, form);
    }
    let regions = form.all("region");
    let saved = ctx.write(|tx| {
        tx.mirror_update(name, |m| {
            m.base_url = form.get("base_url").to_string();
            if let Some(alt) = form.opt("alt_url") {
                m.alt_url = Some(alt.to_string());
            }
            if let Some(trace) = form.opt("trace") {
                m.trace = Some(trace.to_string());
            }
            if let Some(kind) = form.opt("kind").and_then(MirrorKind::parse) {
                m.kind = kind;
            }
            m.rating = rating;
            m.contact = form.get("contact").to_string();
            m.active = form.checked("active");
            m.regions = regions;
            m.families = families;
            m.audience = audience;
            m.maintenance = window;
        })
    });
    match saved {
        Ok(m) => Ok(ctx.done(
            &format!("/admin/mirrors/{}", seg(&m.name)),
            format!("Saved mirror {}.", m.name),
        )),
        Err(Error::NotFound { .. }) => {
            Ok(ctx.not_found(&format!("There is no mirror named {name:?}.")))
        }
        Err(e) => edit(
            ctx,
            name,
            Some(form),
            Some(wording::alert(Some(&wording::markup(&e)))),
        ),
    }
}

fn remove(ctx: &Ctx<'_>, name: &str) -> PageResult {
    Ok(match ctx.write(|tx| tx.mirror_remove(name)) {
        Ok(m) => ctx.done("/admin/mirrors", format!("Removed mirror {}.", m.name)),
        Err(e) => ctx.failed(&format!("/admin/mirrors/{}", seg(name)), wording::text(&e)),
    })
}

fn check(ctx: &Ctx<'_>, name: &str) -> PageResult {
    let url = format!("/admin/mirrors/{}", seg(name));
    Ok(match ctx.check_now(crate::sentry::Mode::All, Some(name)) {
        Ok(()) => ctx.done(
            &url,
            format!("Checking {name} now; the result shows here and in Reports when the run ends."),
        ),
        Err(e) => ctx.failed(&url, wording::text(&e)),
    })
}
#[cfg(test)]
mod tests {
    use hyper::StatusCode;

    use crate::admin::testing::*;
    use crate::model::Role;
    use crate::model::{Families, Reach, Reaches};

    #[test]
    fn add_edit_remove_a_mirror() {
        let (_dir, admin) = admin();
        let ann = login(&admin, "ann", Role::Admin);
        let page = follow(
            &admin,
            &ann,
            post(
                &admin,
                &ann,
                "/admin/mirrors",
                &[
                    ("name", "m1"),
                    ("base_url", "https://m1.example/pub"),
                    ("rating", "50"),
                ],
            ),
        );
        assert!(page.contains("Added mirror m1"), "{page}");
        let m = admin.network.snapshot().unwrap().mirrors[0].clone();
        assert_eq!((m.rating, m.active), (50, true));
        let events = admin.network.store().events(5).unwrap();
        assert_eq!(events[0].actor, "admin:ann");

        let saved = post(
            &admin,
            &ann,
            "/admin/mirrors/m1",
            &[
                ("base_url", "https://m1.example/x"),
                ("rating", "7"),
                ("confirmed", "yes"),
            ],
        );
        assert!(follow(&admin, &ann, saved).contains("Saved mirror m1"));
        let m = admin.network.snapshot().unwrap().mirrors[0].clone();
        assert_eq!(
            (m.rating, m.active, m.base_url.as_str()),
            (7, false, "https://m1.example/x")
        );

        assert_eq!(
            redirected(post(&admin, &ann, "/admin/mirrors/m1/remove", &[])),
            "/admin/mirrors"
        );
        assert!(admin.network.snapshot().unwrap().mirrors.is_empty());
    }

    #[test]
    fn whom_a_mirror_serves_is_edited_kept_and_checked() {
        let (_dir, admin) = admin();
        let ann = login(&admin, "ann", Role::Admin);
        add_mirror(&admin, "m1", &[]);
        let audience = || {
            admin.network.snapshot().unwrap().mirrors[0]
                .audience
                .clone()
        };
        let base = [
            ("base_url", "https://mirror.example/pub/m1"),
            ("active", "on"),
        ];
        let saved = post(
            &admin,
            &ann,
            "/admin/mirrors/m1",
            &[
                base[0],
                base[1],
                ("only_countries", "de, at"),
                ("never_countries", ""),
                ("networks", "192.0.2.0/24 AS64500"),
                ("max_share", "40%"),
            ],
        );
        assert!(follow(&admin, &ann, saved).contains("Saved mirror m1"));
        assert_eq!(
            audience().describe(),
            "only AT,DE; first 192.0.2.0/24,AS64500; max 40%"
        );
        let page = body(get(&admin, &ann, "/admin/mirrors/m1"));
        assert!(
            page.contains(r#"name="networks" value="192.0.2.0/24,AS64500""#),
            "{page}"
        );
        assert!(page.contains(r#"name="max_share" value="40""#), "{page}");
        // A form without the fields keeps them; a wrong one says which.
        let saved = post(&admin, &ann, "/admin/mirrors/m1", &base);
        assert!(follow(&admin, &ann, saved).contains("Saved mirror m1"));
        assert_eq!(audience().max_share, Some(40));
        let bad = post(
            &admin,
            &ann,
            "/admin/mirrors/m1",
            &[base[0], base[1], ("networks", "10.0.0.1/8")],
        );
        assert_eq!(bad.status(), StatusCode::UNPROCESSABLE_ENTITY);
        let page = body(bad);
        assert!(page.contains("Networks served first"), "{page}");
        assert!(
            page.contains("bits are set after the prefix length"),
            "{page}"
        );
        assert_eq!(audience().networks.len(), 2);
        let events = admin.network.store().events(1).unwrap();
        assert!(
            events[0].detail.contains("max_share (none) -> 40%"),
            "{:?}",
            events[0]
        );
        // The root over the other scheme: kept, shown, and checked.
        let with_alt = [
            base[0],
            base[1],
            ("alt_url", "http://mirror.example/pub/m1"),
        ];
        let saved = post(&admin, &ann, "/admin/mirrors/m1", &with_alt);
        assert!(follow(&admin, &ann, saved).contains("Saved mirror m1"));
        let alt = || admin.network.snapshot().unwrap().mirrors[0].alt_url.clone();
        assert_eq!(alt().as_deref(), Some("http://mirror.example/pub/m1"));
        let same = [base[0], base[1], ("alt_url", "https://other.example/pub")];
        let bad = post(&admin, &ann, "/admin/mirrors/m1", &same);
        assert_eq!(bad.status(), StatusCode::UNPROCESSABLE_ENTITY);
        assert!(body(bad).contains("same scheme as the base URL"));
        assert_eq!(alt().as_deref(), Some("http://mirror.example/pub/m1"));
    }

    #[test]
    fn the_address_families_are_chosen_kept_and_checked() {
        let (_dir, admin) = admin();
        let ann = login(&admin, "ann", Role::Admin);
        let added = post(
            &admin,
            &ann,
            "/admin/mirrors",
            &[
                ("name", "m6"),
                ("base_url", "https://m6.example/pub"),
                ("families", "ipv6"),
            ],
        );
        assert!(follow(&admin, &ann, added).contains("Added mirror m6"));
        let families = || admin.network.snapshot().unwrap().mirrors[0].families;
        assert_eq!(families(), Families::V6Only);
        let page = body(get(&admin, &ann, "/admin/mirrors/m6"));
        assert!(
            page.contains(r#"type="radio" name="families" value="ipv6" checked"#),
            "{page}"
        );
        // A form without the field keeps the setting; a bad value is refused.
        let base = [("base_url", "https://m6.example/pub"), ("active", "on")];
        let saved = post(&admin, &ann, "/admin/mirrors/m6", &base);
        assert!(follow(&admin, &ann, saved).contains("Saved mirror m6"));
        assert_eq!(families(), Families::V6Only);
        let bad = post(
            &admin,
            &ann,
            "/admin/mirrors/m6",
            &[base[0], base[1], ("families", "ipv5")],
        );
        assert_eq!(bad.status(), StatusCode::UNPROCESSABLE_ENTITY);
        assert!(body(bad).contains("not one of the choices"));
        assert_eq!(families(), Families::V6Only);
        let saved = post(
            &admin,
            &ann,
            "/admin/mirrors/m6",
            &[base[0], base[1], ("families", "both")],
        );
        assert!(follow(&admin, &ann, saved).contains("Saved mirror m6"));
        assert_eq!(families(), Families::Both);
        let events = admin.network.store().events(1).unwrap();
        assert!(
            events[0].detail.contains("families ipv6 -> both"),
            "{:?}",
            events[0]
        );
        // What sentry found over each family is shown, and explained.
        let id = admin.network.snapshot().unwrap().mirrors[0].id;
        write(&admin, |tx| {
            tx.set_health(
                id,
                &MirrorHealth {
                    reaches: Reaches {
                        v4: Reach::NoAddress,
                        v6: Reach::Down,
                    },
                    ..MirrorHealth::default()
                },
            )
        });
        let page = body(get(&admin, &ann, "/admin/mirrors/m6"));
        assert!(page.contains("none · down"), "{page}");
        assert!(page.contains("did not answer over IPv6"), "{page}");
        assert!(page.contains("no IPv4 address"), "{page}");
    }

    #[test]
    fn validation_errors_keep_what_was_typed() {
        let (_dir, admin) = admin();
        let ann = login(&admin, "ann", Role::Admin);
        let hostile = "<script>alert(1)</script>\"><img src=x onerror=alert(1)>";
        let r = post(
            &admin,
            &ann,
            "/admin/mirrors",
            &[("name", "ok"), ("base_url", hostile), ("rating", "x")],
        );
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
        let page = body(r);
        assert!(page.contains("is not a whole number"), "{page}");
        assert!(!page.contains("<script>alert"));
        assert!(!page.contains("<img src=x"));
        assert!(page.contains("&lt;script&gt;"));
        let r = post(
            &admin,
            &ann,
            "/admin/mirrors",
            &[("name", "ok"), ("base_url", hostile)],
        );
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
        assert!(admin.network.snapshot().unwrap().mirrors.is_empty());
    }

    /// The refusal of a base URL another mirror has, in the admin's
    /// wording (`wording::markup`): it names that mirror and links the page
    /// to change it on; a failed add keeps what was entered and does not
    /// filter the list with it (review of issue 19, items 5 and 6).
    #[test]
    fn a_second_mirror_at_an_address_links_to_the_first() {
        let (_dir, admin) = admin();
        let ann = login(&admin, "ann", Role::Admin);
        let hostile = "m<1>&\"";
        for (name, url) in [
            (hostile, "https://m1.example/pub"),
            ("m2", "https://m2.example"),
        ] {
            redirected(post(
                &admin,
                &ann,
                "/admin/mirrors",
                &[("name", name), ("base_url", url)],
            ));
        }
        write(&admin, |tx| {
            tx.region_add(crate::model::fixtures::region("europe", &["DE"]))
        });
        let taken = "has the base URL <code>https://m1.example/pub</code> already";
        let link = r#"<a href="/admin/mirrors/m%3C1%3E%26%22">m&lt;1&gt;&amp;&quot;</a>"#;
        // Added: refused with the form kept and a link to the mirror
        // that has the address.
        let r = post(
            &admin,
            &ann,
            "/admin/mirrors",
            &[
                ("name", "m3"),
                ("base_url", "https://M1.example:443/pub/"),
                ("region", "europe"),
            ],
        );
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
        let page = body(r);
        assert!(page.contains(taken) && page.contains(link), "{page}");
        assert!(page.contains("m&lt;1&gt;&amp;"), "{page}");
        assert!(!page.contains("bouncer "), "{page}");
        // The region ticked for the new mirror filters nothing: both
        // mirrors (in no region) are listed.
        assert_eq!(listed_mirrors(&page).len(), 2, "{page}");
        assert!(
            page.contains(r#"value="https://M1.example:443/pub/""#),
            "{page}"
        );
        assert_eq!(admin.network.snapshot().unwrap().mirrors.len(), 2);
        // Moved there: the same, on the mirror's own page.
        let r = post(
            &admin,
            &ann,
            "/admin/mirrors/m2",
            &[
                ("base_url", "https://m1.example/pub"),
                ("rating", "3"),
                ("active", "on"),
            ],
        );
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
        let page = body(r);
        assert!(page.contains(taken) && page.contains(link), "{page}");
        let s = admin.network.snapshot().unwrap();
        assert_eq!(s.mirror("m2").unwrap().base_url, "https://m2.example");
        assert_eq!(s.mirror("m2").unwrap().rating, 100);
    }

    #[test]
    fn viewers_read_but_cannot_write() {
        let (_dir, admin) = admin();
        let vic = login(&admin, "vic", Role::Viewer);
        let page = body(get(&admin, &vic, "/admin/mirrors"));
        assert!(!page.contains("Add mirror"));
        let r = post(
            &admin,
            &vic,
            "/admin/mirrors",
            &[("name", "m"), ("base_url", "http://m.example")],
        );
        assert_eq!(r.status(), StatusCode::FORBIDDEN);
        assert!(admin.network.snapshot().unwrap().mirrors.is_empty());
    }

    use crate::model::{Actor, MirrorCheck, MirrorHealth};

    fn write<T>(
        admin: &crate::admin::Admin,
        f: impl FnOnce(&mut crate::store::Tx) -> crate::error::Result<T>,
    ) -> T {
        admin.network.write(&Actor::Program("test"), f).unwrap()
    }

    #[test]
    fn the_list_searches_filters_sorts_and_pages_on_the_server() {
        let (_dir, admin) = admin();
        let ann = login(&admin, "ann", Role::Admin);
        write(&admin, |tx| {
            tx.region_add(crate::model::fixtures::region("europe", &["DE"]))
        });
        for i in 0..120u32 {
            let id = add_rated_mirror(&admin, &format!("m{i:03}"), i, i % 10 == 0);
            if i % 3 == 0 {
                write(&admin, |tx| {
                    tx.mirror_update(&format!("m{i:03}"), |m| m.regions = vec!["europe".into()])
                });
            }
            let _ = id;
        }
        let page = body(get(&admin, &ann, "/admin/mirrors"));
        let rows = listed_mirrors(&page);
        assert_eq!(rows.len(), 50, "one page only");
        assert_eq!(rows[0], "m000");
        assert!(page.contains("1–50 of 120 mirrors"), "{page}");
        // "Add a mirror" comes before the list.
        assert!(page.find("Add a mirror").unwrap() < page.find("m000").unwrap());
        let rows = listed_mirrors(&body(get(&admin, &ann, "/admin/mirrors?page=3")));
        assert_eq!(rows.len(), 20);
        let rows = listed_mirrors(&body(get(&admin, &ann, "/admin/mirrors?q=M11")));
        assert_eq!(rows.len(), 10, "{rows:?}");
        let rows = listed_mirrors(&body(get(
            &admin,
            &ann,
            "/admin/mirrors?state=disabled&per=500",
        )));
        assert_eq!(rows.len(), 12, "switched off (m000 also rated 0): {rows:?}");
        let rows = listed_mirrors(&body(get(
            &admin,
            &ann,
            "/admin/mirrors?region=Europe&per=500",
        )));
        assert_eq!(rows.len(), 40);
        let page = body(get(
            &admin,
            &ann,
            "/admin/mirrors?sort=-rating&region=europe",
        ));
        assert_eq!(listed_mirrors(&page)[0], "m117");
        assert!(
            page.contains("region=europe"),
            "links keep the region: {page}"
        );
        // The shared search form (Listing::search_with): Clear drops the
        // search, state and region but keeps the sort.
        assert!(
            page.contains(r#"<a href="/admin/mirrors?sort=-rating">Clear</a>"#),
            "{page}"
        );
        assert!(
            page.contains(r#"<option value="europe" selected>europe</option>"#),
            "{page}"
        );
        // Serves: the shared sortable heading, with what the figure is.
        assert!(
            page.contains(&format!(
                r#"<th class="num" title="{}"><a class="sort" href="/admin/mirrors?sort=serves&amp;region=europe">Serves</a></th>"#,
                super::SERVES_TITLE
            )),
            "{page}"
        );
        let rows = listed_mirrors(&body(get(
            &admin,
            &ann,
            "/admin/mirrors?state=unchecked&q=m00",
        )));
        assert_eq!(
            rows,
            [
                "m001", "m002", "m003", "m004", "m005", "m006", "m007", "m008", "m009"
            ]
        );
    }

    #[test]
    fn bulk_changes_are_one_write_and_one_event() {
        let (_dir, admin) = admin();
        let ann = login(&admin, "ann", Role::Admin);
        write(&admin, |tx| {
            tx.region_add(crate::model::fixtures::region("asia", &["JP"]))
        });
        for name in ["a", "b", "c", "d"] {
            add_mirror(&admin, name, &[]);
        }
        let events = || admin.network.store().events(100).unwrap().len();
        let before = events();
        let picked = [("mirror", "a"), ("mirror", "b"), ("mirror", "c")];
        // Disabling asks first (no JavaScript): a confirmation page.
        let mut fields = picked.to_vec();
        fields.push(("ask", "Switch off the selected mirrors?"));
        fields.push(("back", "/admin/mirrors?q=x"));
        let r = post(&admin, &ann, "/admin/mirrors/bulk/disable", &fields);
        assert!(body(r).contains("Please confirm"));
        assert!(
            admin
                .network
                .snapshot()
                .unwrap()
                .mirrors
                .iter()
                .all(|m| m.active)
        );
        fields.push(("confirmed", "yes"));
        let r = post(&admin, &ann, "/admin/mirrors/bulk/disable", &fields);
        assert_eq!(r.headers()["location"], "/admin/mirrors?q=x");
        let page = follow(&admin, &ann, r);
        assert!(page.contains("3 mirrors disabled."), "{page}");
        let s = admin.network.snapshot().unwrap();
        let active: Vec<bool> = s.mirrors.iter().map(|m| m.active).collect();
        assert_eq!(active, [false, false, false, true]);
        assert_eq!(events(), before + 1, "one event for the bulk change");
        let e = &admin.network.store().events(1).unwrap()[0];
        assert_eq!(
            (e.action.as_str(), e.detail.as_str()),
            ("mirror.bulk", "disabled: a, b, c")
        );

        let mut fields = picked.to_vec();
        fields.push(("rating", "250"));
        let page = follow(
            &admin,
            &ann,
            post(&admin, &ann, "/admin/mirrors/bulk/rating", &fields),
        );
        assert!(page.contains("3 mirrors rating set to 250."), "{page}");
        fields.pop();
        fields.push(("rating", "5000"));
        let page = follow(
            &admin,
            &ann,
            post(&admin, &ann, "/admin/mirrors/bulk/rating", &fields),
        );
        assert!(page.contains("more than 1000"), "{page}");
        let mut fields = vec![("mirror", "a"), ("mirror", "d")];
        fields.push(("region", "asia"));
        let page = follow(
            &admin,
            &ann,
            post(&admin, &ann, "/admin/mirrors/bulk/region-add", &fields),
        );
        assert!(page.contains("2 mirrors added to region asia."), "{page}");
        let s = admin.network.snapshot().unwrap();
        assert_eq!(s.mirror("d").unwrap().regions, ["asia"]);
        assert_eq!(s.mirror("a").unwrap().rating, 250);
        let page = follow(
            &admin,
            &ann,
            post(&admin, &ann, "/admin/mirrors/bulk/enable", &[]),
        );
        assert!(page.contains("No mirror was selected"), "{page}");
    }

    #[test]
    fn ratings_are_bounded_and_old_ratings_stay_editable() {
        let (_dir, admin) = admin();
        let ann = login(&admin, "ann", Role::Admin);
        let r = post(
            &admin,
            &ann,
            "/admin/mirrors",
            &[
                ("name", "m"),
                ("base_url", "https://m.example"),
                ("rating", "5000"),
            ],
        );
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
        let page = body(r);
        assert!(page.contains("more than 1000"), "{page}");
        assert!(!page.contains("4294967295"));
        assert!(page.contains(r#"type="number" name="rating""#), "{page}");
        assert!(page.contains(r#"type="url" name="base_url""#), "{page}");
        assert!(page.contains(r#"type="email" name="contact""#), "{page}");
        add_rated_mirror(&admin, "old", 5000, false);
        let page = body(get(&admin, &ann, "/admin/mirrors/old"));
        assert!(page.contains(r#"max="5000""#), "{page}");
        let r = post(
            &admin,
            &ann,
            "/admin/mirrors/old",
            &[
                ("base_url", "https://m.example/old"),
                ("rating", "5000"),
                ("active", "on"),
            ],
        );
        assert!(follow(&admin, &ann, r).contains("Saved mirror old"));
    }

    #[test]
    fn viewers_see_text_and_no_forms_that_change_anything() {
        let (_dir, admin) = admin();
        add_mirror(&admin, "m1", &[]);
        let vic = login(&admin, "vic", Role::Viewer);
        for path in ["/admin/mirrors", "/admin/mirrors/m1"] {
            let page = body(get(&admin, &vic, path));
            // The only POST forms are the layout's "Log out" (in the bar
            // and in the narrow screens' menu).
            assert_eq!(
                page.matches(r#"method="post""#).count(),
                page.matches(r#"method="post" action="/admin/logout""#)
                    .count(),
                "{path}: {page}"
            );
            assert!(!page.contains(r#"type="checkbox""#), "{path}: {page}");
            assert!(!page.contains(r#"type="url""#), "{path}: {page}");
        }
        let page = body(get(&admin, &vic, "/admin/mirrors/m1"));
        assert!(page.contains("<dt>Base URL</dt>"), "{page}");
        assert!(page.contains("https://mirror.example/pub/m1"), "{page}");
    }

    /// Issue 19 items 4 and 7: a mirror that refuses connections says
    /// what to do and shows no latency; one that answers but serves none
    /// of its files is "up — serves nothing", not green; the timeline
    /// shows the checks, failures in a row and uptime.
    #[test]
    fn the_mirror_page_explains_trouble_and_shows_the_timeline() {
        let (_dir, admin) = admin();
        let ann = login(&admin, "ann", Role::Admin);
        add_mirror(&admin, "dead", &[]);
        add_mirror(&admin, "empty", &[]);
        let now = crate::model::now();
        let refused = "connection failed: io: Connection refused (os error 111)";
        write(&admin, |tx| {
            tx.product_add(crate::store::NewProduct {
                name: "p".into(),
                ..Default::default()
            })?;
            tx.location_add("p", "win", "/p.exe")?;
            let s = tx.mirrors()?;
            let (dead, empty) = (s[0].id, s[1].id);
            tx.set_health(
                dead,
                &MirrorHealth {
                    healthy: false,
                    checked_at: now,
                    since: now - 120,
                    error: refused.into(),
                    ..MirrorHealth::default()
                },
            )?;
            tx.set_health(
                empty,
                &MirrorHealth {
                    checked_at: now,
                    latency_ms: 12,
                    throughput: 64_000 * 1024,
                    ..MirrorHealth::default()
                },
            )?;
            for (i, ok) in [true, false, false].into_iter().enumerate() {
                tx.check_record(MirrorCheck {
                    mirror: dead,
                    at: now - 7200 + i as u64 * 3000,
                    ok,
                    latency_ms: if ok { 30 } else { 0 },
                    error: if ok { String::new() } else { refused.into() },
                    ..MirrorCheck::default()
                })?;
            }
            tx.check_record(MirrorCheck {
                mirror: empty,
                at: now,
                ok: true,
                latency_ms: 12,
                files: 1,
                missing: 1,
                throughput: 2_500_000,
                error: "/p.exe: 404 Not Found".into(),
                ..MirrorCheck::default()
            })?;
            Ok(())
        });
        let page = body(get(&admin, &ann, "/admin/mirrors/dead"));
        assert!(
            page.contains("Nothing listens on port 443 of mirror.example: is the server up, is the base URL right?"),
            "{page}"
        );
        assert!(page.contains("Recent checks"), "{page}");
        assert!(
            page.contains(r#"<span class="value">2</span><span class="label">failures in a row"#),
            "{page}"
        );
        assert!(page.contains("uptime, 1 day"), "{page}");
        assert!(
            page.contains("—</span><span class=\"label\">latency"),
            "no latency: {page}"
        );
        let list = body(get(&admin, &ann, "/admin/mirrors?state=down"));
        assert_eq!(listed_mirrors(&list), ["dead"]);
        assert!(list.contains("Nothing listens on port 443"), "{list}");
        let list = body(get(&admin, &ann, "/admin/mirrors?state=nothing"));
        assert_eq!(listed_mirrors(&list), ["empty"]);
        assert!(
            list.contains(r#"<span class="badge warn">up — serves nothing</span>"#),
            "{list}"
        );
        let list = body(get(&admin, &ann, "/admin/mirrors?state=missing"));
        assert_eq!(listed_mirrors(&list), ["empty"]);
        assert!(body(get(&admin, &ann, "/admin/mirrors?state=up")).contains("no mirrors"));
        let page = body(get(&admin, &ann, "/admin/mirrors/empty"));
        assert!(page.contains("up — serves nothing"), "{page}");
        // Speeds in the units of every other page (crate::chart::speed).
        assert!(
            page.contains(&format!(
                r#"<span class="value">{}</span><span class="label">measured speed"#,
                crate::chart::speed(64_000 * 1024)
            )),
            "{page}"
        );
        assert!(page.contains(r#"<td class="num">2.5 MB/s</td>"#), "{page}");
        assert!(
            page.contains("The files are not under https://mirror.example/pub/empty"),
            "{page}"
        );
    }

    /// Review of issue 19, item 4: unticking "Active" or a rating of 0
    /// takes a mirror out of rotation, so Save asks first (a page of its
    /// own without JavaScript) and changes nothing until confirmed.
    #[test]
    fn taking_a_mirror_out_of_rotation_asks_first() {
        let (_dir, admin) = admin();
        let ann = login(&admin, "ann", Role::Admin);
        add_mirror(&admin, "m1", &[]);
        let mirror = || {
            admin
                .network
                .snapshot()
                .unwrap()
                .mirror("m1")
                .unwrap()
                .clone()
        };
        let url = mirror().base_url;
        for (fields, question) in [
            (
                vec![("base_url", url.as_str()), ("rating", "7")],
                "Switch off mirror m1?",
            ),
            (
                vec![
                    ("base_url", url.as_str()),
                    ("rating", "0"),
                    ("active", "on"),
                ],
                "Set the rating of mirror m1 to 0?",
            ),
        ] {
            let r = post(&admin, &ann, "/admin/mirrors/m1", &fields);
            assert_eq!(r.status(), StatusCode::OK);
            let page = body(r);
            assert!(page.contains("Please confirm"), "{page}");
            assert!(page.contains(question), "{page}");
            assert!(page.contains(r#"action="/admin/mirrors/m1""#), "{page}");
            assert!(
                page.contains(r#"<input type="hidden" name="confirmed" value="yes">"#),
                "{page}"
            );
            let kept = format!(
                r#"<input type="hidden" name="rating" value="{}">"#,
                fields[1].1
            );
            assert!(page.contains(&kept), "the fields are kept: {page}");
            let m = mirror();
            assert_eq!((m.active, m.rating), (true, 100), "nothing changed");
        }
        // Confirmed: saved.
        let r = post(
            &admin,
            &ann,
            "/admin/mirrors/m1",
            &[
                ("base_url", url.as_str()),
                ("rating", "0"),
                ("active", "on"),
                ("confirmed", "yes"),
            ],
        );
        assert!(follow(&admin, &ann, r).contains("Saved mirror m1"));
        assert_eq!((mirror().active, mirror().rating), (true, 0));
        // Out of rotation already: nothing more to ask.
        let r = post(
            &admin,
            &ann,
            "/admin/mirrors/m1",
            &[("base_url", url.as_str()), ("rating", "0")],
        );
        assert!(follow(&admin, &ann, r).contains("Saved mirror m1"));
        assert_eq!((mirror().active, mirror().rating), (false, 0));
        // Other changes of a mirror in rotation save at once.
        let r = post(
            &admin,
            &ann,
            "/admin/mirrors/m1",
            &[
                ("base_url", url.as_str()),
                ("rating", "50"),
                ("active", "on"),
            ],
        );
        assert!(follow(&admin, &ann, r).contains("Saved mirror m1"));
        let r = post(
            &admin,
            &ann,
            "/admin/mirrors/m1",
            &[
                ("base_url", url.as_str()),
                ("rating", "60"),
                ("active", "on"),
            ],
        );
        assert!(follow(&admin, &ann, r).contains("Saved mirror m1"));
        assert_eq!((mirror().active, mirror().rating), (true, 60));
    }
}
