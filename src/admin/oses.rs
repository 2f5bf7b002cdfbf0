//! Admin section: operating systems — the names locations may use, how
//! many locations use each, adding and removing them.
//!
//! Routes: `GET /admin/oses`, `POST /admin/oses` (add),
//! `GET /admin/oses/NAME[?q=&sort=&page=&per=]` (one page of the
//! locations that use it: `q` is text in the product or path, `sort`
//! `product` or `path`),
//! `POST /admin/oses/NAME/remove` (refused while locations use it).

use std::collections::HashMap;

use hyper::StatusCode;
use maud::html;

use super::list::{self, Listing};
use super::page::{self, Input, csrf, plural, seg};
use super::{Ctx, Form, Page, PageResult, wording};
use crate::auth::Area;

/// Answers requests below `/admin/oses`.
pub fn route(ctx: &Ctx<'_>, page: &Page<'_>) -> PageResult {
    match (page.post, page.rest().as_slice()) {
        (false, []) => list(ctx, &Form::default(), None),
        (true, []) => add(ctx, &page.form),
        (false, [name]) => show(ctx, name, &page.form),
        (true, [name, "remove"]) => remove(ctx, name),
        _ => Ok(ctx.not_found("There is no such operating system page.")),
    }
}

fn os_url(name: &str) -> String {
    format!("/admin/oses/{}", seg(name))
}

fn list(ctx: &Ctx<'_>, form: &Form, error: Option<&str>) -> PageResult {
    let s = ctx.network().snapshot()?;
    let mut used: HashMap<&str, usize> = HashMap::new();
    for l in &s.locations {
        *used.entry(l.os.as_str()).or_default() += 1;
    }
    let can = ctx.may(Area::Network);
    let body = html! {
        div.toolbar { h1 { "Operating systems" } span.muted { (plural(s.oses.len(), "system", "systems")) } }
        p.muted { "Every location names one of these; the bounce URL's " code { "os=" } " parameter picks it." }
        div.scroll { table {
            thead { tr { th { "Name" } th.num { "Locations" } @if can { th.actions {} } } }
            tbody {
                @for os in &s.oses {
                    @let n = used.get(os.as_str()).copied().unwrap_or(0);
                    tr {
                        td.wrap { a href=(os_url(os)) { (os) } }
                        td.num { (n) }
                        @if can {
                            td.actions {
                                @if n == 0 {
                                    (page::button(ctx, &format!("{}/remove", os_url(os)), "Remove", "small danger", Some(&format!("Remove operating system {os}?"))))
                                } @else {
                                    a.muted href=(os_url(os)) { "in use by " (plural(n, "location", "locations")) }
                                }
                            }
                        }
                    }
                }
                @if s.oses.is_empty() {
                    tr { td.muted colspan="3" { "No operating systems: locations cannot be added until there is one." } }
                }
            }
        } }
        @if can {
            section.card {
                h2 { "Add an operating system" }
                (page::error(error))
                form.stack method="post" action="/admin/oses" {
                    (csrf(ctx))
                    (page::input(Input::Text, true, "Name", "name", form.get("name"), Some("letters, digits, '-', '_' and '.'; stored in lower case (e.g. linux64-aarch64)")))
                    div { button.primary type="submit" { "Add" } }
                }
            }
        }
    };
    let status = if error.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    Ok(ctx.page_status(status, "oses", "Operating systems", body))
}

fn show(ctx: &Ctx<'_>, name: &str, view: &Form) -> PageResult {
    let s = ctx.network().snapshot()?;
    let os = name.trim().to_ascii_lowercase();
    if !s.oses.contains(&os) {
        return Ok(ctx.not_found(&format!("There is no operating system named {name:?}.")));
    }
    let url = os_url(&os);
    let v = Listing::from_form(view, "product", &[]);
    let mut rows: Vec<(&str, &str)> = s
        .locations
        .iter()
        .filter(|l| l.os == os)
        .map(|l| {
            (
                s.product_by_id(l.product).map_or("", |p| p.name.as_str()),
                l.path.as_str(),
            )
        })
        .collect();
    let total = rows.len();
    rows.retain(|(p, path)| v.matches([*p, *path]));
    rows.sort_by(|a, b| {
        let by_product = a.0.to_lowercase().cmp(&b.0.to_lowercase());
        let primary = match v.sort.as_str() {
            "path" => a.1.cmp(b.1),
            _ => by_product,
        };
        v.order(primary).then(by_product)
    });
    let (rows, window) = v.window(rows);
    let body = html! {
        div.toolbar {
            h1.wrap { "Operating system " (os) }
            span.muted { (plural(total, "location", "locations")) }
            @if ctx.may(Area::Network) && total == 0 {
                (page::button(ctx, &format!("{url}/remove"), "Remove", "danger", Some(&format!("Remove operating system {os}?"))))
            }
        }
        p { a href="/admin/oses" { "All operating systems" } }
        @if total == 0 {
            p.muted { "No location uses it." }
        } @else {
            p.muted { "It can be removed once these locations are gone: remove them on their products' pages." }
            @if total > list::PER || v.narrowed() { (v.search(&url, "locations (product or path)", &[])) }
            div.scroll { table {
                thead { tr {
                    (v.heading(&url, "product", "Product", false))
                    (v.heading(&url, "path", "Path template", false))
                } }
                tbody {
                    @for (product, path) in &rows {
                        tr {
                            td.wrap { a href={ "/admin/products/" (seg(product)) } { (product) } }
                            td.wrap { code { (path) } }
                        }
                    }
                    @if rows.is_empty() {
                        tr { td.muted colspan="2" { "No location matches." } }
                    }
                }
            } }
            @if window.pages > 1 || v.narrowed() { (v.pager(&url, &window, "locations")) }
        }
    };
    Ok(ctx.page("oses", &format!("Operating system {os}"), body))
}

fn add(ctx: &Ctx<'_>, form: &Form) -> PageResult {
    match ctx.write(|tx| tx.os_add(form.get("name"))) {
        Ok(os) => Ok(ctx.done(
            "/admin/oses",
            format!("Added operating system {os}. Products can now have locations for it."),
        )),
        Err(e) => list(ctx, form, Some(&wording::text(&e))),
    }
}

fn remove(ctx: &Ctx<'_>, name: &str) -> PageResult {
    Ok(match ctx.write(|tx| tx.os_remove(name)) {
        Ok(()) => ctx.done(
            "/admin/oses",
            format!(
                "Removed operating system {}.",
                name.trim().to_ascii_lowercase()
            ),
        ),
        // Locations use it (one was added since the page was shown): its
        // page lists them, with links to their products.
        Err(crate::error::Error::InUse { .. }) => ctx.failed(
            &os_url(name),
            format!(
                "Operating system {} is still in use: remove the locations listed below on their products' pages first.",
                name.trim().to_ascii_lowercase()
            ),
        ),
        Err(e) => ctx.failed("/admin/oses", wording::text(&e)),
    })
}

#[cfg(test)]
mod tests {
    use hyper::StatusCode;

    use crate::admin::testing::*;
    use crate::model::Role;

    fn oses(admin: &crate::admin::Admin) -> Vec<String> {
        admin.network.snapshot().unwrap().oses.clone()
    }

    #[test]
    fn add_and_remove_an_os() {
        let (_dir, admin) = admin();
        let ann = login(&admin, "ann", Role::Admin);
        let page = body(get(&admin, &ann, "/admin/oses"));
        assert!(
            page.contains(r#"href="/admin/oses/linux64-aarch64""#),
            "{page}"
        );
        let page = follow(
            &admin,
            &ann,
            post(&admin, &ann, "/admin/oses", &[("name", " Plan9 ")]),
        );
        assert!(page.contains("Added operating system plan9."), "{page}");
        assert!(oses(&admin).contains(&"plan9".to_string()));
        let e = &admin.network.store().events(1).unwrap()[0];
        assert_eq!(
            (e.actor.as_str(), e.action.as_str()),
            ("admin:ann", "os.add")
        );

        // Bad and duplicate names: 422 with the reason and what was typed.
        for (name, why) in [
            ("win/64", "may only contain letters"),
            ("PLAN9", "exists already"),
            ("", "the name is empty"),
        ] {
            let r = post(&admin, &ann, "/admin/oses", &[("name", name)]);
            assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY, "{name}");
            let page = body(r);
            assert!(page.contains(why), "{page}");
            assert!(
                page.contains(&format!(r#"name="name" value="{name}""#)),
                "{page}"
            );
        }

        let page = body(get(&admin, &ann, "/admin/oses/plan9"));
        assert!(page.contains("0 locations<"), "{page}");
        assert!(page.contains("No location uses it."), "{page}");
        assert!(
            page.contains(r#"action="/admin/oses/plan9/remove""#),
            "{page}"
        );
        let r = post(&admin, &ann, "/admin/oses/plan9/remove", &[]);
        assert_eq!(redirected(r), "/admin/oses");
        assert!(!oses(&admin).contains(&"plan9".to_string()));
        assert_eq!(
            admin.network.store().events(1).unwrap()[0].action,
            "os.remove"
        );
        let r = post(&admin, &ann, "/admin/oses/plan9/remove", &[]);
        assert!(follow(&admin, &ann, r).contains("No operating system named"));
        assert_eq!(
            get(&admin, &ann, "/admin/oses/plan9").status(),
            StatusCode::NOT_FOUND
        );
    }

    #[test]
    fn an_os_in_use_is_not_removed() {
        let (_dir, admin) = admin();
        let ann = login(&admin, "ann", Role::Admin);
        let hostile = "<script>alert(1)</script>";
        admin
            .network
            .write(&crate::model::Actor::Program("test"), |tx| {
                tx.product_add(crate::store::NewProduct {
                    name: hostile.into(),
                    ..Default::default()
                })?;
                tx.location_add(hostile, "linux", "/x/'y'/:lang")
            })
            .unwrap();
        let page = body(get(&admin, &ann, "/admin/oses"));
        assert!(
            page.contains(r#"<a href="/admin/oses/linux">linux</a></td><td class="num">1</td>"#),
            "{page}"
        );
        // No Remove button for a system in use: a note instead.
        assert!(
            page.contains(r#"<a class="muted" href="/admin/oses/linux">in use by 1 location</a>"#),
            "{page}"
        );
        assert!(
            !page.contains(r#"action="/admin/oses/linux/remove""#),
            "{page}"
        );
        assert!(
            page.contains(r#"action="/admin/oses/win/remove""#),
            "{page}"
        );
        // Removed all the same (a location added since the page was
        // shown): refused, on the page that lists the locations.
        let r = post(&admin, &ann, "/admin/oses/linux/remove", &[]);
        assert_eq!(redirected(r), "/admin/oses/linux");
        let r = post(&admin, &ann, "/admin/oses/linux/remove", &[]);
        let page = follow(&admin, &ann, r);
        assert!(
            page.contains("Operating system linux is still in use: remove the locations listed below on their products' pages first."),
            "{page}"
        );
        assert!(!page.contains("bouncer location"), "{page}");
        assert!(page.contains("flash error"), "{page}");
        assert!(oses(&admin).contains(&"linux".to_string()));
        let page = body(get(&admin, &ann, "/admin/oses/linux"));
        assert!(page.contains("1 location<"), "{page}");
        assert!(!page.contains("/remove"), "{page}");
        assert!(page.contains("once these locations are gone"), "{page}");
        assert!(!page.contains("<script>alert"), "{page}");
        assert!(page.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
        assert!(page.contains("/x/'y'/:lang"));
        assert!(page.contains("/admin/products/%3Cscript%3Ealert%281%29%3C%2Fscript%3E"));
    }

    #[test]
    fn only_admins_change_oses() {
        let (_dir, admin) = admin();
        for (name, role) in [("rita", Role::Release), ("vic", Role::Viewer)] {
            let who = login(&admin, name, role);
            let page = body(get(&admin, &who, "/admin/oses"));
            assert!(page.contains("linux64") && !page.contains("Add an operating system"));
            assert!(!page.contains("/remove"), "{page}");
            assert_eq!(
                post(&admin, &who, "/admin/oses", &[("name", "plan9")]).status(),
                StatusCode::FORBIDDEN
            );
            assert_eq!(
                post(&admin, &who, "/admin/oses/win/remove", &[]).status(),
                StatusCode::FORBIDDEN
            );
        }
        let names = oses(&admin);
        assert!(names.contains(&"win".to_string()) && !names.contains(&"plan9".to_string()));
    }

    /// The part of a page below the navigation (whose log-out form is
    /// the one POST form every page has).
    fn main(page: &str) -> &str {
        &page[page.find("<main").expect("a main element")..]
    }

    #[test]
    fn an_os_page_shows_one_page_of_its_locations() {
        let (_dir, admin) = admin();
        admin
            .network
            .write(&crate::model::Actor::Program("test"), |tx| {
                for i in 0..130 {
                    let name = format!("p-{i:03}");
                    tx.product_add(crate::store::NewProduct {
                        name: name.clone(),
                        ..Default::default()
                    })?;
                    tx.location_add(&name, "win", &format!("/{name}/setup.exe"))?;
                }
                Ok(())
            })
            .unwrap();
        let vic = login(&admin, "vic", Role::Viewer);
        let rows = |page: &str| page.matches("<td class=\"wrap\"><code>").count();
        let page = body(get(&admin, &vic, "/admin/oses/win"));
        assert_eq!(rows(&page), 50);
        assert!(
            page.contains("130 locations<") && page.contains("1–50 of 130 locations"),
            "{page}"
        );
        assert!(page.contains(">p-049<") && !page.contains(">p-050<"));
        assert!(!main(&page).contains(r#"method="post""#), "{page}");
        let page = body(get(&admin, &vic, "/admin/oses/win?page=3"));
        assert_eq!(rows(&page), 30);
        let page = body(get(&admin, &vic, "/admin/oses/win?q=p-12"));
        assert_eq!(rows(&page), 10);
        let page = body(get(&admin, &vic, "/admin/oses/win?sort=-path&per=1"));
        assert!(page.contains(">p-129<"), "{page}");
        let page = body(get(&admin, &vic, "/admin/oses"));
        assert!(!main(&page).contains(r#"method="post""#), "{page}");
    }
}
