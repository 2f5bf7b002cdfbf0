//! Admin section: mirrors — the list with health and traffic, adding,
//! editing, removing, and "check now".
//!
//! Routes: `GET /admin/mirrors`, `POST /admin/mirrors` (add),
//! `GET /admin/mirrors/NAME`, `POST /admin/mirrors/NAME` (save),
//! `POST /admin/mirrors/NAME/remove`, `POST /admin/mirrors/NAME/check`.

use hyper::StatusCode;
use maud::{Markup, html};

use super::page::{self, Badge, badge, checkbox, csrf, field, seg};
use super::{Ctx, Form, Page, PageResult};
use crate::error::Error;
use crate::model::{Mirror, MirrorHealth};
use crate::store::{NewMirror, Snapshot};

/// Answers requests below `/admin/mirrors`.
pub fn route(ctx: &Ctx<'_>, page: &Page<'_>) -> PageResult {
    match (page.post, page.rest().as_slice()) {
        (false, []) => list(ctx, &Form::default(), None),
        (true, []) => add(ctx, &page.form),
        (false, [name]) => edit(ctx, name, None, None),
        (true, [name]) => save(ctx, name, &page.form),
        (true, [name, "remove"]) => remove(ctx, name),
        (true, [name, "check"]) => check(ctx, name),
        _ => Ok(ctx.not_found("There is no such mirror page.")),
    }
}

/// A mirror's health in a word, as a badge.
pub fn health_badge(m: &Mirror, h: Option<&MirrorHealth>, now: u64) -> Markup {
    match h {
        _ if !m.active => badge(Badge::Off, "disabled"),
        _ if m.rating == 0 => badge(Badge::Off, "rating 0"),
        None => badge(Badge::Warn, "unchecked"),
        Some(h) if !h.healthy => badge(Badge::Bad, "down"),
        Some(h) if h.is_flapping(now) => badge(Badge::Warn, "flapping"),
        Some(_) => badge(Badge::Good, "up"),
    }
}

fn list(ctx: &Ctx<'_>, form: &Form, error: Option<Markup>) -> PageResult {
    let network = ctx.network();
    let s = network.snapshot()?;
    // What each mirror gets traffic for now, from the live index (reading
    // every availability row would take seconds on a big network).
    let serving = network.index().serving_by_mirror();
    let today = crate::model::day_of(crate::model::now());
    let downloads = network
        .store()
        .downloads_by_mirror(today.saturating_sub(29), today)
        .unwrap_or_default();
    let total: u64 = downloads.values().sum();
    let now = crate::model::now();
    let body = html! {
        div.toolbar { h1 { "Mirrors" } span.muted { (page::plural(s.mirrors.len(), "mirror", "mirrors")) } }
        table {
            thead { tr {
                th { "Name" } th { "Base URL" } th.num { "Rating" } th { "Status" } th { "Last check" }
                th.num { "Latency" } th.num title="locations it receives downloads for now" { "Serves" } th { "Regions" } th.num { "Downloads (30 days)" } th.num { "Share" }
            } }
            tbody {
                @for m in &s.mirrors {
                    @let h = s.health.get(&m.id);
                    @let d = downloads.get(&m.id).copied().unwrap_or(0);
                    tr {
                        td { a href={ "/admin/mirrors/" (seg(&m.name)) } { (m.name) } }
                        td { code { (m.base_url) } }
                        td.num { (m.rating) }
                        td {
                            (health_badge(m, h, now))
                            @if let Some(h) = h.filter(|h| !h.healthy) { " " small.muted { (h.error) } }
                        }
                        td { (page::ago(h.map_or(0, |h| h.checked_at))) }
                        td.num { @if let Some(h) = h.filter(|h| h.checked_at > 0) { (h.latency_ms) " ms" } }
                        td.num { (serving.get(&m.id).copied().unwrap_or(0)) }
                        td { (m.regions.join(", ")) }
                        td.num { (crate::chart::thousands(d)) }
                        td.num { @if total > 0 { (format!("{:.1} %", d as f64 * 100.0 / total as f64)) } }
                    }
                }
            }
        }
        @if ctx.may(crate::auth::Area::Network) {
            section.card {
                h2 { "Add a mirror" }
                @if let Some(e) = &error { (e) }
                form.stack method="post" action="/admin/mirrors" {
                    (csrf(ctx))
                    (field("Name", "name", form.get("name"), None))
                    (field("Base URL", "base_url", form.get("base_url"), Some("http:// or https://, the root that holds the product directories")))
                    (field("Rating", "rating", Some(form.get("rating")).filter(|r| !r.is_empty()).unwrap_or("100"), Some("selection weight; 0 takes it out of rotation")))
                    (field("Contact e-mail", "contact", form.get("contact"), Some("one address, e.g. ops@mirror.example.org (optional)")))
                    (regions_field(&s, &form.all("region")))
                    (checkbox("Add it switched off", "inactive", form.checked("inactive")))
                    div { button.primary type="submit" { "Add mirror" } }
                }
            }
        }
    };
    let status = if error.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    Ok(ctx.page_status(status, "mirrors", "Mirrors", body))
}

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

/// Why a mirror form was refused, in the page's words: a base URL that
/// another mirror has links to that mirror (change it there, or remove it).
fn refusal(e: &Error) -> Markup {
    match e {
        Error::BaseUrlTaken { base_url, mirror } => html! {
            p.flash.error role="alert" {
                "Mirror " a href={ "/admin/mirrors/" (seg(mirror)) } { (mirror) } " has the base URL "
                code { (base_url) } " already; a second mirror there would get that host's downloads twice. "
                "Change or remove " a href={ "/admin/mirrors/" (seg(mirror)) } { (mirror) } " instead, or give this one the address of another host."
            }
        },
        e => page::error(Some(&e.to_string())),
    }
}

fn rating(form: &Form) -> Result<u32, String> {
    let r = form.get("rating");
    if r.is_empty() {
        return Ok(100);
    }
    r.parse()
        .map_err(|_| format!("Rating {r:?} is not a whole number from 0 to 4294967295."))
}

fn add(ctx: &Ctx<'_>, form: &Form) -> PageResult {
    let rating = match rating(form) {
        Ok(r) => r,
        Err(e) => return list(ctx, form, Some(page::error(Some(&e)))),
    };
    let added = ctx.write(|tx| {
        tx.mirror_add(NewMirror {
            name: form.get("name").to_string(),
            base_url: form.get("base_url").to_string(),
            rating,
            regions: form.all("region"),
            contact: form.get("contact").to_string(),
            inactive: form.checked("inactive"),
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
        Err(e) => list(ctx, form, Some(refusal(&e))),
    }
}

fn edit(ctx: &Ctx<'_>, name: &str, form: Option<&Form>, error: Option<Markup>) -> PageResult {
    let s = ctx.network().snapshot()?;
    let Some(m) = s.mirror(name) else {
        return Ok(ctx.not_found(&format!("There is no mirror named {name:?}.")));
    };
    let h = s.health.get(&m.id);
    let now = crate::model::now();
    let url = format!("/admin/mirrors/{}", seg(&m.name));
    let value = |field: &str, stored: String| form.map_or(stored, |f| f.get(field).to_string());
    let regions = form.map_or_else(|| m.regions.clone(), |f| f.all("region"));
    let can = ctx.may(crate::auth::Area::Network);
    let body = html! {
        div.toolbar {
            h1 { "Mirror " (m.name) " " (health_badge(m, h, now)) }
            @if can {
                (page::button(ctx, &format!("{url}/check"), "Check now", "", None))
            }
        }
        div.cards {
            div.stat { span.value { @if let Some(h) = h { (h.latency_ms) " ms" } @else { "–" } } span.label { "latency" } }
            div.stat { span.value { @match h.filter(|h| h.throughput > 0) { Some(h) => { (h.throughput / 1_000_000) " MB/s" }, None => "–" } } span.label { "measured speed" } }
            div.stat { span.value { (page::ago(h.map_or(0, |h| h.checked_at))) } span.label { "last check" } }
            div.stat { span.value { (page::ago(h.map_or(0, |h| h.since))) } span.label { "status since" } }
        }
        @if let Some(h) = h.filter(|h| !h.healthy) {
            p.flash.error { "Down: " (h.error) }
        }
        @if let Some(h) = h.filter(|h| h.is_flapping(now)) {
            p.flash.error { "Flapping: changed state " (h.flaps) " times recently; its weight is damped." }
        }
        p { a href={ "/admin/availability?mirror=" (seg(&m.name)) } { "What this mirror serves" } " · " a href={ "/admin/audit?q=" (seg(&m.name)) } { "History" } }
        section.card {
            h2 { "Settings" }
            @if let Some(e) = &error { (e) }
            form.stack method="post" action=(url) {
                (csrf(ctx))
                (field("Base URL", "base_url", &value("base_url", m.base_url.clone()), None))
                (field("Rating", "rating", &value("rating", m.rating.to_string()), Some("selection weight; 0 takes it out of rotation")))
                (field("Contact e-mail", "contact", &value("contact", m.contact.clone()), Some("one address, e.g. ops@mirror.example.org; gets mail when this mirror goes down or serves bad files, if enabled")))
                (regions_field(&s, &regions))
                (checkbox("Active (gets traffic)", "active", form.map_or(m.active, |f| f.checked("active"))))
                @if can { div { button.primary type="submit" { "Save" } } }
            }
        }
        @if can {
            section.card.danger-zone {
                h2 { "Remove" }
                p { "Removing a mirror forgets its settings, health and availability. Its download counts stay." }
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

fn save(ctx: &Ctx<'_>, name: &str, form: &Form) -> PageResult {
    let rating = match rating(form) {
        Ok(r) => r,
        Err(e) => return edit(ctx, name, Some(form), Some(page::error(Some(&e)))),
    };
    let regions = form.all("region");
    let saved = ctx.write(|tx| {
        tx.mirror_update(name, |m| {
            m.base_url = form.get("base_url").to_string();
            m.rating = rating;
            m.contact = form.get("contact").to_string();
            m.active = form.checked("active");
            m.regions = regions;
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
        Err(e) => edit(ctx, name, Some(form), Some(refusal(&e))),
    }
}

fn remove(ctx: &Ctx<'_>, name: &str) -> PageResult {
    Ok(match ctx.write(|tx| tx.mirror_remove(name)) {
        Ok(m) => ctx.done("/admin/mirrors", format!("Removed mirror {}.", m.name)),
        Err(e) => ctx.failed(&format!("/admin/mirrors/{}", seg(name)), e.to_string()),
    })
}

fn check(ctx: &Ctx<'_>, name: &str) -> PageResult {
    let url = format!("/admin/mirrors/{}", seg(name));
    Ok(match ctx.check_now(crate::sentry::Mode::All, Some(name)) {
        Ok(()) => ctx.done(
            &url,
            format!("Checking {name} now; the result shows here and in Reports when the run ends."),
        ),
        Err(e) => ctx.failed(&url, e.to_string()),
    })
}

#[cfg(test)]
mod tests {
    use hyper::StatusCode;

    use crate::admin::testing::*;
    use crate::model::Role;

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
            &[("base_url", "https://m1.example/x"), ("rating", "7")],
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
        let link = format!(
            r#"<a href="/admin/mirrors/{}">m&lt;1&gt;&amp;&quot;</a>"#,
            crate::admin::page::seg(hostile)
        );
        // Added: refused with the form kept and a link to the mirror
        // that has the address.
        let r = post(
            &admin,
            &ann,
            "/admin/mirrors",
            &[("name", "m3"), ("base_url", "https://M1.example:443/pub/")],
        );
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
        let page = body(r);
        assert!(
            page.contains(&format!(
                "Mirror {link} has the base URL <code>https://m1.example/pub</code> already"
            )),
            "{page}"
        );
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
        assert!(
            page.contains(&format!("Change or remove {link} instead")),
            "{page}"
        );
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
}
