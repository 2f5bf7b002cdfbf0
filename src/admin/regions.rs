//! Admin section: regions — groups of countries with a throttle, a
//! fallback region and the mirrors that serve them; the country map.
//!
//! Routes: `GET /admin/regions`, `POST /admin/regions` (add),
//! `GET /admin/regions/NAME`, `POST /admin/regions/NAME` (save),
//! `POST /admin/regions/NAME/remove`. "One region per continent" posts to
//! `/admin/geoip/defaults` ([`super::geoip`]), where GeoIP data is shown,
//! imported and looked up.

use hyper::StatusCode;
use maud::{Markup, html};

use super::geoip::Coverage;
use super::page::{self, Badge, Input, badge, checkbox, csrf, plural, seg};
use super::{Ctx, Form, Page, PageResult, wording};
use crate::auth::Area;
use crate::error::Error;
use crate::error::Thing;
use crate::model::{Mirror, Region};
use crate::store::Snapshot;

/// How many country codes the list shows per region before "…".
const FEW_COUNTRIES: usize = 8;
/// How many mirror names the list shows per region before "and N more".
const FEW_MIRRORS: usize = 8;
/// The throttle the form offers at most: 100 and above (or a negative
/// number, which the command line takes) keeps every download in the
/// region.
const THROTTLE_MAX: u64 = 100;

/// What the throttle means, in one line: the throttle field's hint (with
/// the stored value when editing), or a note on the list for those who do
/// not see the form.
fn throttle_note(stored: Option<i32>) -> String {
    const REST: &str = "the rest go to the fallback region, else to the world (unless forbidden)";
    match stored {
        Some(t) if (0..100).contains(&t) => format!(
            "Keeps {t}% of its clients' downloads on its own mirrors; {REST}. 100 keeps all."
        ),
        Some(_) => format!(
            "Keeps all of its clients' downloads on its own mirrors (100); below 100, {REST}."
        ),
        None => {
            format!("Keeps N% of its clients' downloads on its own mirrors; {REST}. 100 keeps all.")
        }
    }
}

/// The GeoIP data in use, and which countries it has ranges for (none
/// without data).
fn coverage(ctx: &Ctx<'_>) -> (std::sync::Arc<crate::geoip::GeoDb>, Option<Coverage>) {
    let geo = ctx.network().index().geo().clone();
    let coverage = (!geo.is_empty()).then(|| Coverage::of(&geo));
    (geo, coverage)
}

/// Answers requests below `/admin/regions`.
pub fn route(ctx: &Ctx<'_>, page: &Page<'_>) -> PageResult {
    match (page.post, page.rest().as_slice()) {
        (false, []) => list(ctx, None, None),
        (true, []) => add(ctx, &page.form),
        (false, [name]) => edit(ctx, name, None, None),
        (true, [name]) => save(ctx, name, &page.form),
        (true, [name, "remove"]) => remove(ctx, name),
        _ => Ok(ctx.not_found("There is no such region page.")),
    }
}

/// Region names compare like the store compares them.
fn same(a: &str, b: &str) -> bool {
    a.trim().to_lowercase() == b.trim().to_lowercase()
}

fn find<'s>(s: &'s Snapshot, name: &str) -> Option<&'s Region> {
    s.regions.iter().find(|r| same(&r.name, name))
}

/// The mirrors that serve `region`.
fn mirrors_in<'s>(s: &'s Snapshot, region: &str) -> Vec<&'s Mirror> {
    s.mirrors
        .iter()
        .filter(|m| m.regions.iter().any(|r| same(r, region)))
        .collect()
}

fn status(error: Option<&str>) -> StatusCode {
    if error.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    }
}

fn list(ctx: &Ctx<'_>, form: Option<&Form>, error: Option<&str>) -> PageResult {
    let s = ctx.network().snapshot()?;
    let mut map: Vec<(&str, &Region)> = s
        .regions
        .iter()
        .flat_map(|r| r.countries.iter().map(move |c| (c.as_str(), r)))
        .collect();
    map.sort_by(|a, b| a.0.cmp(b.0));
    let (geo, coverage) = coverage(ctx);
    let body = html! {
        div.toolbar { h1 { "Regions" } span.muted { (plural(s.regions.len(), "region", "regions")) } }
        @if geo.is_empty() {
            // A warning once there are regions it leaves idle.
            p class=(if s.regions.is_empty() { "muted" } else { "flash error" }) {
                "No GeoIP data: every client counts as unknown and is served from the world's mirrors, so regions have no effect yet. "
                a href="/admin/geoip" { "Import GeoIP data" } "."
            }
        } @else {
            @let (v4, v6) = geo.len();
            p.muted {
                "GeoIP: " (v4) " IPv4 and " (v6) " IPv6 ranges from " code { (geo.source) } ". "
                a href="/admin/geoip" { "Look up an address" } " to see its country, region and mirrors."
            }
        }
        @if !ctx.may(Area::Network) {
            p.muted { "Throttle: " (throttle_note(None)) }
        }
        @if s.regions.is_empty() {
            p.muted { "No regions yet: every mirror serves the whole world." }
        } @else {
            div.scroll { table {
                thead { tr {
                    th { "Name" } th.num { "Throttle" } th { "Fallback" } th { "Global fallback" }
                    th { "Countries" } th { "Mirrors" }
                } }
                tbody {
                    @for r in &s.regions {
                        tr {
                            td.wrap { a href={ "/admin/regions/" (seg(&r.name)) } { (r.name) } }
                            td.num { (throttle_text(r.throttle)) }
                            td.wrap { (fallback_link(r)) }
                            td { (yes_no(r.global_fallback)) }
                            td.wrap {
                                (countries_summary(&r.countries))
                                @if let Some(c) = &coverage { (uncovered(c, &r.countries, true)) }
                            }
                            td.wrap { (mirror_links(&mirrors_in(&s, &r.name), FEW_MIRRORS, &r.name)) }
                        }
                    }
                }
            } }
        }
        @if ctx.may(Area::Network) {
            section.card {
                h2 { "Add a region" }
                (page::error(error))
                form.stack method="post" action="/admin/regions" {
                    (csrf(ctx))
                    (page::input(Input::Text, true, "Name", "name", form.map_or("", |f| f.get("name")), Some("e.g. europe; no spaces")))
                    (region_fields(&s, None, form, None))
                    div { button.primary type="submit" { "Add region" } }
                }
                p.muted { "Mirrors join a region on " a href="/admin/mirrors" { "their own pages" } "." }
            }
            section.card {
                h2 { "One region per continent" }
                p.muted {
                    "Adds a region for each continent ("
                    (crate::geoip::continents::CONTINENTS.map(|c| c.name).join(", "))
                    ") that has no region of that name yet, with those of its countries that are in no region: "
                    "throttle 100 %, no fallback, global fallback on. Existing regions are left as they are."
                }
                (page::button(ctx, "/admin/geoip/defaults", "Add one region per continent", "",
                    Some("Add a region for every continent that has none yet?")))
            }
        }
        section.card {
            h2 { "Country map" }
            p.muted {
                "Where each country's clients are sent. A client's country comes from "
                a href="/admin/geoip" { "GeoIP" } "; clients whose country is unknown are served from every mirror. "
                "Countries not listed belong to no region: their clients are served from the whole world."
            }
            @if map.is_empty() {
                p.muted { "No country is assigned to a region yet." }
            } @else {
                div.scroll { table {
                    thead { tr {
                        th { "Country" } th { "Region" } th.num { "Throttle" } th { "Fallback" } th { "Global fallback" }
                    } }
                    tbody {
                        @for (country, r) in &map {
                            tr {
                                td { code { (country) } }
                                td.wrap { a href={ "/admin/regions/" (seg(&r.name)) } { (r.name) } }
                                td.num { (throttle_text(r.throttle)) }
                                td.wrap { (fallback_link(r)) }
                                td { (yes_no(r.global_fallback)) }
                            }
                        }
                    }
                } }
            }
        }
    };
    Ok(ctx.page_status(status(error), "regions", "Regions", body))
}

fn throttle_text(throttle: i32) -> String {
    if !(0..100).contains(&throttle) {
        format!("{throttle} % (all)")
    } else {
        format!("{throttle} %")
    }
}

fn yes_no(yes: bool) -> Markup {
    if yes {
        badge(Badge::Good, "yes")
    } else {
        badge(Badge::Off, "no")
    }
}

fn fallback_link(r: &Region) -> Markup {
    html! {
        @match &r.fallback {
            Some(f) => a href={ "/admin/regions/" (seg(f)) } { (f) },
            None => span.muted { "none" },
        }
    }
}

fn countries_summary(countries: &[String]) -> Markup {
    html! {
        (countries.len())
        @if !countries.is_empty() {
            ": " code.wrap { (countries.iter().take(FEW_COUNTRIES).cloned().collect::<Vec<_>>().join(" ")) }
            @if countries.len() > FEW_COUNTRIES { " …" }
        }
    }
}

/// A warning about `countries` without GeoIP ranges (nothing when all
/// have some); `short`: a badge for a table cell.
fn uncovered(coverage: &Coverage, countries: &[String], short: bool) -> Markup {
    let missing = coverage.missing(countries);
    html! {
        @if missing.is_empty() {
            @if !short && !countries.is_empty() {
                p.muted { "GeoIP: every one of its countries has address ranges." }
            }
        } @else if short {
            " "
            span title={ "no address range in the GeoIP data: " (missing.join(" ")) } {
                (badge(Badge::Warn, &format!("{} not in GeoIP", missing.len())))
            }
        } @else {
            p.wrap {
                (badge(Badge::Warn, "not in GeoIP")) " The GeoIP data has no address range for "
                code { (missing.join(" ")) } ": no client is ever placed there, so "
                (if missing.len() == 1 { "that entry has" } else { "those entries have" }) " no effect."
            }
        }
    }
}

/// Links to the first `few` of `mirrors`, then how many more (with a
/// link to the mirrors list filtered by region when there are more).
fn mirror_links(mirrors: &[&Mirror], few: usize, region: &str) -> Markup {
    html! {
        @if mirrors.is_empty() {
            span.muted { "none" }
        }
        @for (i, m) in mirrors.iter().take(few).enumerate() {
            @if i > 0 { ", " }
            a href={ "/admin/mirrors/" (seg(&m.name)) } { (m.name) }
        }
        @if mirrors.len() > few {
            " and " a href={ "/admin/mirrors" (page::query(&[("region", region)])) } { (mirrors.len() - few) " more" }
        }
    }
}

/// The throttle, fallback, global-fallback and countries fields, filled
/// from the form being re-shown, else from `stored`, else the defaults.
fn region_fields(
    s: &Snapshot,
    this: Option<&str>,
    form: Option<&Form>,
    stored: Option<&Region>,
) -> Markup {
    let throttle = match (form, stored) {
        (Some(f), _) => f.get("throttle").to_string(),
        // Out of 0..=100 means "all", which 100 says too.
        (None, Some(r)) => match u64::try_from(r.throttle) {
            Ok(t) if t <= THROTTLE_MAX => t.to_string(),
            _ => THROTTLE_MAX.to_string(),
        },
        (None, None) => "100".into(),
    };
    let fallback = match (form, stored) {
        (Some(f), _) => f.get("fallback").to_string(),
        (None, Some(r)) => r.fallback.clone().unwrap_or_default(),
        (None, None) => String::new(),
    };
    let global = match (form, stored) {
        (Some(f), _) => f.checked("global_fallback"),
        (None, Some(r)) => r.global_fallback,
        (None, None) => true,
    };
    let countries = match (form, stored) {
        (Some(f), _) => f.get("countries").to_string(),
        (None, Some(r)) => r.countries.join(" "),
        (None, None) => String::new(),
    };
    let choices: Vec<&Region> = s
        .regions
        .iter()
        .filter(|r| this.is_none_or(|t| !same(&r.name, t)))
        .collect();
    // A typed-in fallback that is no region stays visible after an error.
    let unknown = !fallback.is_empty() && !choices.iter().any(|r| same(&r.name, &fallback));
    html! {
        (page::input(
            Input::Number { min: 0, max: THROTTLE_MAX },
            true,
            "Throttle (%)",
            "throttle",
            &throttle,
            Some(&throttle_note(stored.map(|r| r.throttle))),
        ))
        label.field {
            span { "Fallback region" }
            select name="fallback" {
                option value="" selected[fallback.is_empty()] { "none" }
                @for r in &choices {
                    option value=(r.name) selected[same(&r.name, &fallback)] { (r.name) }
                }
                @if unknown {
                    option value=(fallback) selected { (fallback) " (no such region)" }
                }
            }
            small { "where traffic goes that this region does not keep" }
        }
        label.field {
            span { "Countries" }
            textarea name="countries" rows="2" { (countries) }
            small { "ISO 3166-1 codes separated by spaces or commas, e.g. DE AT CH; each country belongs to one region" }
        }
        div { (checkbox("Global fallback: may finally send traffic to mirrors anywhere", "global_fallback", global)) }
    }
}

/// The throttle and countries of a submitted form, or what is wrong
/// with them (every bad country at once).
fn parse(form: &Form) -> Result<(i32, Vec<String>), String> {
    let t = form.get("throttle");
    let throttle = if t.is_empty() {
        100
    } else {
        t.parse().map_err(|_| {
            format!(
                "Throttle {t:?} is not a whole number: give a percent such as 80 (100 or more, or a negative number, keeps all traffic in the region)."
            )
        })?
    };
    let mut countries = Vec::new();
    let mut bad = Vec::new();
    for c in form.list("countries") {
        match crate::validate::country(&c) {
            Ok(c) => countries.push(c),
            Err(_) => bad.push(format!("{c:?}")),
        }
    }
    if !bad.is_empty() {
        return Err(format!(
            "{} {} not {}: use the two letters of ISO 3166-1 (e.g. DE), separated by spaces or commas.",
            bad.join(", "),
            if bad.len() == 1 { "is" } else { "are" },
            if bad.len() == 1 {
                "a country code"
            } else {
                "country codes"
            },
        ));
    }
    Ok((throttle, countries))
}

fn fallback(form: &Form) -> Option<String> {
    form.opt("fallback").map(str::to_string)
}

fn add(ctx: &Ctx<'_>, form: &Form) -> PageResult {
    let (throttle, countries) = match parse(form) {
        Ok(x) => x,
        Err(e) => return list(ctx, Some(form), Some(&e)),
    };
    let added = ctx.write(|tx| {
        tx.region_add(Region {
            name: form.get("name").to_string(),
            throttle,
            fallback: fallback(form),
            global_fallback: form.checked("global_fallback"),
            countries,
        })
    });
    match added {
        Ok(r) => Ok(ctx.done(
            &format!("/admin/regions/{}", seg(&r.name)),
            format!(
                "Added region {} with {}. Add mirrors to it on their pages.",
                r.name,
                plural(r.countries.len(), "country", "countries")
            ),
        )),
        Err(e) => list(ctx, Some(form), Some(&wording::text(&e))),
    }
}

fn edit(ctx: &Ctx<'_>, name: &str, form: Option<&Form>, error: Option<&str>) -> PageResult {
    let s = ctx.network().snapshot()?;
    let Some(r) = find(&s, name) else {
        return Ok(ctx.not_found(&format!("There is no region named {name:?}.")));
    };
    let url = format!("/admin/regions/{}", seg(&r.name));
    let mirrors = mirrors_in(&s, &r.name);
    let fallers: Vec<&Region> = s
        .regions
        .iter()
        .filter(|o| o.fallback.as_deref().is_some_and(|f| same(f, &r.name)))
        .collect();
    let can = ctx.may(Area::Network);
    let (_, coverage) = coverage(ctx);
    let body = html! {
        div.toolbar { h1 { "Region " (r.name) } }
        div.cards {
            div.stat { span.value { (throttle_text(r.throttle)) } span.label { "kept on its own mirrors" } }
            div.stat {
                span.value { (r.countries.len()) }
                span.label { @if r.countries.len() == 1 { "country" } @else { "countries" } }
            }
            div.stat {
                span.value { (mirrors.len()) }
                span.label { @if mirrors.len() == 1 { "mirror serves it" } @else { "mirrors serve it" } }
            }
            div.stat {
                span.value { @if r.global_fallback { "yes" } @else { "no" } }
                span.label { "global fallback" }
            }
        }
        @match &coverage {
            Some(c) => (uncovered(c, &r.countries, false)),
            None => p.muted {
                "No GeoIP data: clients' countries are unknown, so none is counted in this region yet. "
                a href="/admin/geoip" { "Import GeoIP data" } "."
            },
        }
        @if mirrors.is_empty() {
            p.muted { "No mirror serves it yet: add this region on a " a href="/admin/mirrors" { "mirror's page" } "." }
        } @else {
            h2 { "Mirrors serving it" }
            div.scroll { table {
                thead { tr { th { "Mirror" } th { "Base URL" } th { "Status" } } }
                tbody {
                    @for m in &mirrors {
                        tr {
                            td.wrap { a href={ "/admin/mirrors/" (seg(&m.name)) } { (m.name) } }
                            td.wrap { code { (m.base_url) } }
                            td { @if m.active { (badge(Badge::Good, "active")) } @else { (badge(Badge::Off, "disabled")) } }
                        }
                    }
                }
            } }
            p { a href={ "/admin/mirrors" (page::query(&[("region", &r.name)])) } { "These mirrors in the mirrors list" } }
        }
        @if !fallers.is_empty() {
            p.wrap {
                "Falls back here: "
                @for (i, o) in fallers.iter().enumerate() {
                    @if i > 0 { ", " }
                    a href={ "/admin/regions/" (seg(&o.name)) } { (o.name) }
                }
            }
        }
        section.card {
            h2 { "Settings" }
            @if can {
                (page::error(error))
                form.stack method="post" action=(url) {
                    (csrf(ctx))
                    (region_fields(&s, Some(&r.name), form, Some(r)))
                    div { button.primary type="submit" { "Save" } }
                }
            } @else {
                table.facts {
                    tbody {
                        tr { th { "Throttle" } td { (throttle_text(r.throttle)) br; small.muted { (throttle_note(Some(r.throttle))) } } }
                        tr { th { "Fallback region" } td.wrap { (fallback_link(r)) } }
                        tr { th { "Global fallback" } td { (yes_no(r.global_fallback)) " " span.muted { "may finally send traffic to mirrors anywhere" } } }
                        tr {
                            th { "Countries" }
                            td.wrap {
                                @if r.countries.is_empty() { span.muted { "none" } }
                                @else { code { (r.countries.join(" ")) } }
                            }
                        }
                    }
                }
            }
        }
        @if can {
            section.card.danger-zone {
                h2 { "Remove" }
                @if mirrors.is_empty() && fallers.is_empty() {
                    p { "Removing the region frees its countries; their clients are then served from the whole world." }
                    (page::button(ctx, &format!("{url}/remove"), "Remove this region", "danger", Some(&format!("Remove region {}?", r.name))))
                } @else {
                    p.muted { "A region cannot be removed while mirrors serve it or other regions fall back to it: take it out of those mirrors' regions on their pages, and give those regions another fallback (both linked above), first." }
                }
            }
        }
    };
    Ok(ctx.page_status(
        status(error),
        "regions",
        &format!("Region {}", r.name),
        body,
    ))
}

fn save(ctx: &Ctx<'_>, name: &str, form: &Form) -> PageResult {
    let (throttle, countries) = match parse(form) {
        Ok(x) => x,
        Err(e) => return edit(ctx, name, Some(form), Some(&e)),
    };
    let saved = ctx.write(|tx| {
        tx.region_update(name, |r| {
            r.throttle = throttle;
            r.fallback = fallback(form);
            r.global_fallback = form.checked("global_fallback");
            r.countries = countries;
        })
    });
    match saved {
        Ok(r) => Ok(ctx.done(
            &format!("/admin/regions/{}", seg(&r.name)),
            format!("Saved region {}.", r.name),
        )),
        // The region itself is gone (a missing fallback is a form error).
        Err(Error::NotFound {
            what: Thing::Region,
            name: missing,
        }) if same(&missing, name) => {
            Ok(ctx.not_found(&format!("There is no region named {name:?}.")))
        }
        Err(e) => edit(ctx, name, Some(form), Some(&wording::text(&e))),
    }
}

fn remove(ctx: &Ctx<'_>, name: &str) -> PageResult {
    Ok(match ctx.write(|tx| tx.region_remove(name)) {
        Ok(r) => ctx.done(
            "/admin/regions",
            match r.countries.as_slice() {
                [] => format!("Removed region {}.", r.name),
                [one] => format!("Removed region {}; {one} now belongs to no region.", r.name),
                many => format!(
                    "Removed region {}; its {} countries now belong to no region.",
                    r.name,
                    many.len()
                ),
            },
        ),
        Err(e @ Error::NotFound { .. }) => ctx.failed("/admin/regions", wording::text(&e)),
        Err(Error::InUse { .. }) => {
            ctx.failed(&format!("/admin/regions/{}", seg(name)), in_use(ctx, name))
        }
        Err(e) => ctx.failed(&format!("/admin/regions/{}", seg(name)), wording::text(&e)),
    })
}

/// Why region `name` cannot be removed, worded for its page (which links
/// the mirrors and regions named).
fn in_use(ctx: &Ctx<'_>, name: &str) -> String {
    let Ok(s) = ctx.network().snapshot() else {
        return format!("Region {name} is in use: nothing was removed.");
    };
    let mirrors: Vec<&str> = mirrors_in(&s, name)
        .iter()
        .map(|m| m.name.as_str())
        .collect();
    let fallers: Vec<&str> = s
        .regions
        .iter()
        .filter(|o| o.fallback.as_deref().is_some_and(|f| same(f, name)))
        .map(|o| o.name.as_str())
        .collect();
    let mut why = Vec::new();
    if !mirrors.is_empty() {
        why.push(format!(
            "{} {} it (take it out of their regions on their pages, linked below)",
            if mirrors.len() == 1 {
                "mirror"
            } else {
                "mirrors"
            },
            and_serve(&mirrors),
        ));
    }
    if !fallers.is_empty() {
        why.push(format!(
            "{} {} back to it (give {} another fallback, or none, on {} page)",
            if fallers.len() == 1 {
                "region"
            } else {
                "regions"
            },
            if fallers.len() == 1 {
                format!("{} falls", fallers[0])
            } else {
                format!("{} fall", fallers.join(", "))
            },
            if fallers.len() == 1 { "it" } else { "them" },
            if fallers.len() == 1 { "its" } else { "their" },
        ));
    }
    format!(
        "Region {name} cannot be removed: {}. Nothing was removed.",
        why.join("; ")
    )
}

/// "a serves", "a, b serve".
fn and_serve(names: &[&str]) -> String {
    match names {
        [one] => format!("{one} serves"),
        many => format!("{} serve", many.join(", ")),
    }
}

#[cfg(test)]
mod tests {
    use hyper::StatusCode;

    use crate::admin::testing::*;
    use crate::model::Role;

    const SCRIPT: &str = "<script>alert(1)</script>";
    const IMG: &str = "\"><img src=x onerror=alert(1)>";

    fn regions(admin: &crate::admin::Admin) -> Vec<crate::model::Region> {
        admin.network.snapshot().unwrap().regions.clone()
    }

    fn add_region(admin: &crate::admin::Admin, name: &str, countries: &[&str]) {
        admin
            .network
            .write(&crate::model::Actor::Program("test"), |tx| {
                tx.region_add(crate::model::Region {
                    name: name.into(),
                    throttle: 100,
                    fallback: None,
                    global_fallback: true,
                    countries: countries.iter().map(|c| c.to_string()).collect(),
                })
            })
            .unwrap();
    }

    fn assert_escaped(page: &str) {
        assert!(!page.contains("<script>alert"), "{page}");
        assert!(!page.contains("<img src=x"), "{page}");
    }

    #[test]
    fn add_edit_remove_a_region() {
        let (_dir, admin) = admin();
        let ann = login(&admin, "ann", Role::Admin);
        let page = body(get(&admin, &ann, "/admin/regions"));
        assert!(page.contains("No regions yet"), "{page}");
        assert!(page.contains("0 regions<"), "{page}");
        // The throttle is explained once: in the field's hint.
        assert_eq!(page.matches("100 keeps all").count(), 1, "{page}");
        assert!(page.contains("GeoIP"), "{page}");
        // The add form's defaults: throttle 100, global fallback on.
        assert!(page.contains(r#"name="throttle" value="100""#), "{page}");
        assert!(page.contains(r#"name="global_fallback" checked"#), "{page}");

        let r = post(
            &admin,
            &ann,
            "/admin/regions",
            &[
                ("name", "europe"),
                ("throttle", "80"),
                ("countries", "de, at ch"),
                ("global_fallback", "on"),
            ],
        );
        assert_eq!(redirected(r), "/admin/regions/europe");
        let r = post(
            &admin,
            &ann,
            "/admin/regions",
            &[
                ("name", "asia"),
                ("countries", "JP"),
                ("fallback", "europe"),
            ],
        );
        let page = follow(&admin, &ann, r);
        assert!(page.contains("Added region asia with 1 country"), "{page}");
        let all = regions(&admin);
        let eu = all.iter().find(|r| r.name == "europe").unwrap();
        assert_eq!(eu.countries, ["AT", "CH", "DE"]);
        assert_eq!((eu.throttle, eu.global_fallback), (80, true));
        let asia = all.iter().find(|r| r.name == "asia").unwrap();
        assert_eq!(asia.throttle, 100);
        assert_eq!(asia.fallback.as_deref(), Some("europe"));
        assert!(!asia.global_fallback);

        add_mirror(&admin, "m1", &["europe"]);
        let page = body(get(&admin, &ann, "/admin/regions"));
        assert!(
            page.contains(r#"<a href="/admin/mirrors/m1">m1</a>"#),
            "{page}"
        );
        // The country map says where DE goes.
        assert!(
            page.contains(
                r#"<td><code>DE</code></td><td class="wrap"><a href="/admin/regions/europe">europe</a></td>"#
            ),
            "{page}"
        );
        let page = body(get(&admin, &ann, "/admin/regions/europe"));
        assert!(
            page.contains(r#"<a href="/admin/mirrors/m1">m1</a>"#),
            "{page}"
        );
        assert!(page.contains("Falls back here"), "{page}");
        assert!(page.contains(">AT CH DE</textarea>"), "{page}");
        assert_eq!(page.matches("100 keeps all").count(), 1, "{page}");
        for (value, label) in [
            ("3", "countries"),
            ("1", "mirror serves it"),
            ("yes", "global fallback"),
        ] {
            assert!(
                page.contains(&format!(
                    r#"<span class="value">{value}</span><span class="label">{label}</span>"#
                )),
                "{label}: {page}"
            );
        }
        assert!(
            page.contains(r#"<h2>Mirrors serving it</h2><div class="scroll"><table>"#),
            "{page}"
        );
        // In use: no Remove button, the reason instead.
        assert!(!page.contains("/admin/regions/europe/remove"), "{page}");
        assert!(page.contains("cannot be removed while mirrors serve it"));
        let page = body(get(&admin, &ann, "/admin/regions/asia"));
        for (value, label) in [
            ("1", "country"),
            ("0", "mirrors serve it"),
            ("no", "global fallback"),
        ] {
            assert!(
                page.contains(&format!(
                    r#"<span class="value">{value}</span><span class="label">{label}</span>"#
                )),
                "{label}: {page}"
            );
        }
        assert!(page.contains("No mirror serves it yet"), "{page}");
        assert!(!page.contains("Mirrors serving it"), "{page}");
        assert!(
            page.contains(r#"action="/admin/regions/asia/remove""#),
            "{page}"
        );
        let page = body(get(&admin, &ann, "/admin/regions"));
        assert!(page.contains("2 regions<"), "{page}");

        let r = post(
            &admin,
            &ann,
            "/admin/regions/europe",
            &[("throttle", "-1"), ("countries", "DE FR")],
        );
        assert!(follow(&admin, &ann, r).contains("Saved region europe"));
        let eu = regions(&admin)
            .into_iter()
            .find(|r| r.name == "europe")
            .unwrap();
        assert_eq!(eu.countries, ["DE", "FR"]);
        assert_eq!((eu.throttle, eu.global_fallback), (-1, false));

        let events = admin.network.store().events(10).unwrap();
        for action in ["region.add", "region.update"] {
            let e = events.iter().find(|e| e.action == action).unwrap();
            assert_eq!(e.actor, "admin:ann", "{action}");
        }

        // In use: by a mirror and by asia's fallback. The store's reason is shown.
        let r = post(&admin, &ann, "/admin/regions/europe/remove", &[]);
        let page = follow(&admin, &ann, r);
        assert!(
            page.contains("Region europe cannot be removed: mirror m1 serves it (take it out of their regions on their pages, linked below); region asia falls back to it (give it another fallback, or none, on its page). Nothing was removed."),
            "{page}"
        );
        assert!(!page.contains("bouncer "), "{page}");
        assert_eq!(regions(&admin).len(), 2);

        // asia is not in use: it goes.
        let r = post(&admin, &ann, "/admin/regions/asia/remove", &[]);
        let page = follow(&admin, &ann, r);
        assert!(
            page.contains("Removed region asia; JP now belongs to no region."),
            "{page}"
        );
        assert!(page.contains("1 region<"), "{page}");
        assert_eq!(regions(&admin).len(), 1);
        let events = admin.network.store().events(1).unwrap();
        assert_eq!(
            (events[0].action.as_str(), events[0].actor.as_str()),
            ("region.remove", "admin:ann")
        );
        let r = post(&admin, &ann, "/admin/regions/asia/remove", &[]);
        assert_eq!(redirected(r), "/admin/regions");
        assert_eq!(
            get(&admin, &ann, "/admin/regions/asia").status(),
            StatusCode::NOT_FOUND
        );
        let r = post(&admin, &ann, "/admin/regions/asia", &[("throttle", "5")]);
        assert_eq!(r.status(), StatusCode::NOT_FOUND);
    }

    #[test]
    fn validation_errors_are_422_and_store_nothing() {
        let (_dir, admin) = admin();
        let ann = login(&admin, "ann", Role::Admin);
        add_region(&admin, "europe", &["DE"]);
        let before = admin.network.store().events(100).unwrap().len();
        let cases: &[(&[(&str, &str)], &str)] = &[
            (
                &[("name", "x"), ("throttle", "lots")],
                "Throttle \"lots\" is not a whole number",
            ),
            (
                &[("name", "x"), ("countries", "DE, XYZ 1 d")],
                "\"XYZ\", \"1\", \"d\" are not country codes",
            ),
            (
                &[("name", "x"), ("countries", "FR,DE")],
                "DE belongs to region \"europe\"",
            ),
            (
                &[("name", "x"), ("fallback", "nowhere")],
                "No region named \"nowhere\"",
            ),
            (&[("name", "x"), ("fallback", "x")], "itself"),
            (&[("name", ""), ("countries", "FR")], "the name is empty"),
            (&[("name", "a b")], "may not contain spaces"),
            (&[("name", "EUROPE")], "exists already"),
        ];
        for (fields, message) in cases {
            let r = post(&admin, &ann, "/admin/regions", fields);
            assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY, "{fields:?}");
            let page = body(r);
            let shown = page.replace("&quot;", "\"");
            assert!(shown.contains(message), "{fields:?}: {page}");
            // What was typed stays in the form.
            let typed = fields.iter().find(|(k, _)| *k == "name").unwrap().1;
            assert!(
                page.contains(&format!(r#"name="name" value="{typed}""#)),
                "{page}"
            );
        }
        assert_eq!(regions(&admin).len(), 1);

        // The same checks on the edit form.
        add_region(&admin, "asia", &["JP"]);
        let cases: &[(&[(&str, &str)], &str)] = &[
            (&[("throttle", "1.5")], "is not a whole number"),
            (&[("countries", "JP DEU")], "\"DEU\" is not a country code"),
            (&[("countries", "JP de")], "DE belongs to region \"europe\""),
            (&[("fallback", "nowhere")], "No region named \"nowhere\""),
            (&[("fallback", "asia")], "cannot fall back to itself"),
        ];
        for (fields, message) in cases {
            let r = post(&admin, &ann, "/admin/regions/asia", fields);
            assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY, "{fields:?}");
            let page = body(r).replace("&quot;", "\"");
            assert!(page.contains(message), "{fields:?}: {page}");
        }
        // A fallback cycle: europe → asia, then asia → europe.
        let r = post(
            &admin,
            &ann,
            "/admin/regions/europe",
            &[("countries", "DE"), ("fallback", "asia")],
        );
        assert_eq!(redirected(r), "/admin/regions/europe");
        let r = post(
            &admin,
            &ann,
            "/admin/regions/asia",
            &[("countries", "JP"), ("fallback", "europe")],
        );
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
        assert!(body(r).contains("cycle"));
        let asia = regions(&admin)
            .into_iter()
            .find(|r| r.name == "asia")
            .unwrap();
        assert_eq!(
            (asia.countries.as_slice(), asia.fallback.as_deref()),
            (&["JP".to_string()][..], None)
        );
        // Only the two test regions and europe's one good save were recorded.
        assert_eq!(admin.network.store().events(100).unwrap().len(), before + 2);
    }

    #[test]
    fn hostile_names_are_escaped() {
        let (_dir, admin) = admin();
        let ann = login(&admin, "ann", Role::Admin);
        // Region names may not hold spaces, but may hold markup.
        add_region(&admin, SCRIPT, &["DE"]);
        add_mirror(&admin, "<b>m\"ü", &[SCRIPT]);
        for path in [
            "/admin/regions".to_string(),
            format!("/admin/regions/{}", crate::admin::page::seg(SCRIPT)),
        ] {
            let r = get(&admin, &ann, &path);
            assert_eq!(r.status(), StatusCode::OK, "{path}");
            let page = body(r);
            assert_escaped(&page);
            assert!(page.contains("&lt;script&gt;"), "{page}");
            assert!(page.contains("&lt;b&gt;m&quot;ü"), "{page}");
            assert!(
                page.contains("/admin/regions/%3Cscript%3Ealert%281%29%3C%2Fscript%3E"),
                "{page}"
            );
        }
        let r = post(
            &admin,
            &ann,
            "/admin/regions",
            &[("name", IMG), ("countries", SCRIPT), ("fallback", IMG)],
        );
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
        let page = body(r);
        assert_escaped(&page);
        assert!(page.contains("is not a country code"), "{page}");
        assert_eq!(regions(&admin).len(), 1);
    }

    #[test]
    fn geoip_coverage_and_throttle_are_explained() {
        let (_dir, admin) = admin();
        let ann = login(&admin, "ann", Role::Admin);
        add_region(&admin, "europe", &["DE", "FR", "AT"]);
        add_region(&admin, "asia", &["JP"]);
        admin
            .network
            .write(&crate::model::Actor::Program("test"), |tx| {
                tx.region_update("europe", |r| r.throttle = 80)
            })
            .unwrap();
        // Without GeoIP data regions do nothing yet: both pages say so.
        let page = body(get(&admin, &ann, "/admin/regions"));
        assert!(
            page.contains("No GeoIP data: every client counts as unknown"),
            "{page}"
        );
        assert!(
            page.contains(r#"<a href="/admin/geoip">Import GeoIP data</a>"#),
            "{page}"
        );
        assert!(!page.contains("not in GeoIP"), "{page}");
        // The continent defaults button, for admins.
        assert!(page.contains(r#"action="/admin/geoip/defaults""#), "{page}");
        assert!(page.contains("north-america"), "{page}");
        let page = body(get(&admin, &ann, "/admin/regions/europe"));
        assert!(
            page.contains("No GeoIP data: clients' countries are unknown"),
            "{page}"
        );
        // The throttle in one line, with the stored value.
        assert!(
            page.contains(
                "Keeps 80% of its clients' downloads on its own mirrors; the rest go to the fallback region, else to the world (unless forbidden)."
            ),
            "{page}"
        );
        let page = body(get(&admin, &ann, "/admin/regions/asia"));
        assert!(
            page.contains("Keeps all of its clients' downloads"),
            "{page}"
        );

        let imported = crate::geoip::import::import(&[crate::geoip::import::Source {
            name: "t.csv".into(),
            bytes: b"5.1.0.0,5.1.255.255,DE\n6.0.0.0,6.0.0.255,JP\n".to_vec(),
        }])
        .unwrap();
        admin
            .network
            .replace_geoip(&crate::model::Actor::Program("test"), Some(imported.db))
            .unwrap();
        let page = body(get(&admin, &ann, "/admin/regions"));
        assert!(!page.contains("No GeoIP data"), "{page}");
        assert!(page.contains("GeoIP: 2 IPv4 and 0 IPv6 ranges"), "{page}");
        assert!(
            page.contains(r#"title="no address range in the GeoIP data: AT FR""#),
            "{page}"
        );
        assert_eq!(page.matches("not in GeoIP<").count(), 1, "{page}");
        let page = body(get(&admin, &ann, "/admin/regions/europe"));
        assert!(
            page.contains("no address range for <code>AT FR</code>"),
            "{page}"
        );
        let page = body(get(&admin, &ann, "/admin/regions/asia"));
        assert!(
            page.contains("every one of its countries has address ranges"),
            "{page}"
        );

        // Viewers see no defaults button.
        let vic = login(&admin, "vic", Role::Viewer);
        let page = body(get(&admin, &vic, "/admin/regions"));
        assert!(!page.contains("/admin/geoip/defaults"), "{page}");
        assert!(
            page.contains("Keeps N% of its clients' downloads"),
            "{page}"
        );
    }

    /// The part of a page below the navigation (whose log-out form is
    /// the one POST form every page has).
    fn main(page: &str) -> &str {
        &page[page.find("<main").expect("a main element")..]
    }

    /// A hundred two-letter codes: AA, AB, … DV.
    fn hundred_countries() -> Vec<String> {
        (0..100u8)
            .map(|i| format!("{}{}", char::from(b'A' + i / 26), char::from(b'A' + i % 26)))
            .collect()
    }

    #[test]
    fn a_region_of_a_hundred_countries_wraps_and_viewers_read_it_as_text() {
        let (_dir, admin) = admin();
        let codes = hundred_countries();
        let refs: Vec<&str> = codes.iter().map(String::as_str).collect();
        add_region(&admin, "big", &refs);
        for i in 0..12 {
            add_mirror(&admin, &format!("m{i:02}"), &["big"]);
        }
        let ann = login(&admin, "ann", Role::Admin);
        let page = body(get(&admin, &ann, "/admin/regions"));
        // The list names a few countries and mirrors, in cells that wrap.
        assert!(
            page.contains(
                r#"<td class="wrap">100: <code class="wrap">AA AB AC AD AE AF AG AH</code> …"#
            ),
            "{page}"
        );
        assert!(
            page.contains(r#" and <a href="/admin/mirrors?region=big">4 more</a>"#),
            "{page}"
        );
        assert!(
            main(&page).contains(r#"<div class="scroll"><table>"#),
            "{page}"
        );
        // The throttle is a number from 0 to 100, required.
        assert!(
            page.contains(
                r#"<input type="number" name="throttle" value="100" min="0" max="100" required>"#
            ),
            "{page}"
        );
        let vic = login(&admin, "vic", Role::Viewer);
        let page = body(get(&admin, &vic, "/admin/regions/big"));
        let main = main(&page);
        assert!(!main.contains(r#"method="post""#), "{main}");
        assert!(
            !main.contains("<textarea") && !main.contains("<input"),
            "{main}"
        );
        assert!(
            main.contains(&format!(
                r#"<td class="wrap"><code>{}</code></td>"#,
                codes.join(" ")
            )),
            "{main}"
        );
        let page = body(get(&admin, &vic, "/admin/regions"));
        assert!(!super::tests::main(&page).contains(r#"method="post""#));
    }

    #[test]
    fn viewers_read_but_cannot_write() {
        let (_dir, admin) = admin();
        add_region(&admin, "europe", &["DE"]);
        for role in [Role::Viewer, Role::Release] {
            let who = login(&admin, role.as_str(), role);
            let page = body(get(&admin, &who, "/admin/regions"));
            assert!(page.contains("europe") && page.contains("Country map"));
            assert!(!page.contains("Add region"), "{page}");
            // No form, so the throttle is explained above the list.
            assert_eq!(page.matches("100 keeps all").count(), 1, "{page}");
            let page = body(get(&admin, &who, "/admin/regions/europe"));
            assert!(!page.contains("Save") && !page.contains("Remove this region"));
            let r = post(&admin, &who, "/admin/regions", &[("name", "asia")]);
            assert_eq!(r.status(), StatusCode::FORBIDDEN);
            let r = post(&admin, &who, "/admin/regions/europe/remove", &[]);
            assert_eq!(r.status(), StatusCode::FORBIDDEN);
        }
        assert_eq!(regions(&admin).len(), 1);
    }
}
