//! Admin section: the audit log — every change, newest first, filtered by
//! who made it, what kind of change, and text in its details.
//!
//! Route: `GET /admin/audit?actor=&action=&q=&before=ID` — `actor` and
//! `action` are case-insensitive prefixes (`admin:` is every admin user,
//! `mirror.` every mirror change), `q` is text anywhere in the details,
//! `before` pages to events older than that id (the "Older" link).

use hyper::StatusCode;
use maud::{Markup, html};

use super::page::{self, field};
use super::{Ctx, Form, Page, PageResult};
use crate::model::Event;
use crate::store::EventFilter;

/// Events per page.
const PAGE: usize = 100;

/// Answers requests below `/admin/audit`.
pub fn route(ctx: &Ctx<'_>, page: &Page<'_>) -> PageResult {
    match (page.post, page.rest().as_slice()) {
        (false, []) => log(ctx, &page.form),
        _ => Ok(ctx.not_found("There is no such audit log page.")),
    }
}

fn log(ctx: &Ctx<'_>, form: &Form) -> PageResult {
    let (actor, action, text) = (form.get("actor"), form.get("action"), form.get("q"));
    let before = match form.opt("before").map(str::parse::<u64>) {
        None => None,
        Some(Ok(id)) => Some(id),
        Some(Err(_)) => {
            return Ok(ctx.page_status(
                StatusCode::UNPROCESSABLE_ENTITY,
                "audit",
                "Audit log",
                html! {
                    (filters(form))
                    (page::error(Some(&format!(
                        "The before= parameter must be an event number, not {:?}. Start again from the newest events.",
                        form.get("before")
                    ))))
                    p { a href={ "/admin/audit" (page::query(&[("actor", actor), ("action", action), ("q", text)])) } { "Newest events" } }
                },
            ));
        }
    };
    let filter = EventFilter {
        actor: form.opt("actor").map(str::to_string),
        action: form.opt("action").map(str::to_string),
        text: form.opt("q").map(str::to_string),
        before,
    };
    let mut events = ctx.network().store().events_matching(&filter, PAGE + 1)?;
    let more = events.len() > PAGE;
    events.truncate(PAGE);
    let filtered = filter.actor.is_some() || filter.action.is_some() || filter.text.is_some();
    let base = [("actor", actor), ("action", action), ("q", text)];
    let older = events.last().filter(|_| more).map(|last| {
        let id = last.id.to_string();
        let mut pairs = base.to_vec();
        pairs.push(("before", &id));
        format!("/admin/audit{}", page::query(&pairs))
    });
    let body = html! {
        (filters(form))
        @if events.is_empty() {
            p.muted {
                @if filtered { "No events match these filters." } @else if before.is_some() { "No older events." } @else { "Nothing has been recorded yet." }
            }
        } @else {
            div.scroll {
                table.audit {
                    thead { tr { th { "Time" } th { "Who" } th { "What" } th { "Detail" } } }
                    tbody { @for e in &events { (row(e)) } }
                }
            }
        }
        nav.pager aria-label="Pages of events" {
            @if !events.is_empty() {
                span {
                    (page::plural(events.len(), "event", "events"))
                    @if before.is_some() { ", older ones" } @else { ", the newest" }
                    @if filtered { " that match" }
                }
            }
            @if before.is_some() {
                a href={ "/admin/audit" (page::query(&base)) } { "Newest" }
            }
            @if let Some(href) = older {
                a href=(href) rel="next" { "Older" }
            }
        }
    };
    Ok(ctx.page("audit", "Audit log", body))
}

/// The title and the filter form, with the values asked for.
fn filters(form: &Form) -> Markup {
    let any = ["actor", "action", "q"]
        .iter()
        .any(|k| form.opt(k).is_some());
    html! {
        div.toolbar { h1 { "Audit log" } span.muted { "newest first, " (PAGE) " a page" } }
        form.search method="get" action="/admin/audit" role="search" {
            (field("Who", "actor", form.get("actor"), Some("starts with: admin: for every admin user, cli, sentry, api:…")))
            (field("What", "action", form.get("action"), Some("starts with: mirror. for every mirror change, product.add, …")))
            (field("Detail contains", "q", form.get("q"), None))
            div {
                button.primary type="submit" { "Filter" }
                @if any { " " a href="/admin/audit" { "Clear" } }
            }
        }
    }
}

fn row(e: &Event) -> Markup {
    html! {
        tr {
            // One line: the exact UTC time is the title.
            td { (page::ago(e.at)) }
            td.wrap { a href={ "/admin/audit" (page::query(&[("actor", &e.actor)])) } { (e.actor) } }
            td { a href={ "/admin/audit" (page::query(&[("action", &e.action)])) } { code { (e.action) } } }
            // Long details (a hundred countries, a long path) wrap.
            td.wrap { (e.detail) }
        }
    }
}

#[cfg(test)]
mod tests {
    use hyper::StatusCode;

    use crate::admin::Admin;
    use crate::admin::testing::*;
    use crate::model::Role;

    /// Records `n` events as `actor`, with action `action` and detail
    /// `detail N`.
    fn record(admin: &Admin, actor: &'static str, action: &str, detail: &str, n: usize) {
        admin
            .network
            .store()
            .write(&crate::model::Actor::Program(actor), |tx| {
                for i in 0..n {
                    tx.record(action, format!("{detail} {i}"))?;
                }
                Ok(())
            })
            .unwrap();
    }

    /// How many events a page lists (one time cell each).
    fn rows(page: &str) -> usize {
        page.matches("<time ").count()
    }

    #[test]
    fn pages_of_a_hundred_newest_first() {
        let (_dir, admin) = admin();
        let ann = login(&admin, "ann", Role::Viewer); // event 1: user.add
        record(&admin, "cli", "product.add", "firefox", 249); // events 2..=250
        let page = body(get(&admin, &ann, "/admin/audit"));
        assert_eq!(rows(&page), 100);
        assert!(page.find("firefox 248").unwrap() < page.find("firefox 247").unwrap());
        assert!(page.contains("firefox 149"));
        assert!(!page.contains("firefox 148<"));
        assert!(
            page.contains(r#"<a href="/admin/audit?before=151" rel="next">Older</a>"#),
            "{page}"
        );
        assert!(!page.contains(">Newest</a>"));

        let page = body(get(&admin, &ann, "/admin/audit?before=151"));
        assert_eq!(rows(&page), 100);
        assert!(page.contains("firefox 148<"));
        assert!(page.contains("firefox 49<"));
        assert!(page.contains(r#"<a href="/admin/audit?before=51" rel="next">Older</a>"#));
        assert!(page.contains(r#"<a href="/admin/audit">Newest</a>"#));

        let page = body(get(&admin, &ann, "/admin/audit?before=51"));
        assert_eq!(rows(&page), 50);
        assert!(page.contains("user.add"));
        assert!(!page.contains(">Older</a>"));

        let page = body(get(&admin, &ann, "/admin/audit?before=1"));
        assert!(page.contains("No older events."));
    }

    #[test]
    fn filters_narrow_and_are_kept() {
        let (_dir, admin) = admin();
        let ann = login(&admin, "ann", Role::Admin);
        record(&admin, "admin:bob", "mirror.add", "m-bob", 3);
        record(&admin, "admin:carol", "mirror.update", "m-carol", 2);
        record(&admin, "cli", "product.add", "Firefox-120", 150);

        let page = body(get(&admin, &ann, "/admin/audit?actor=admin:bob"));
        assert_eq!(rows(&page), 3);
        assert!(page.contains(r#"name="actor" value="admin:bob""#));
        // Apart from the button (the style sheet adds a margin to `button + a`).
        assert!(
            page.contains(r#"Filter</button> <a href="/admin/audit">Clear</a>"#),
            "{page}"
        );
        // The time stays on one line; the exact time is its title.
        assert!(page.contains(r#"<td><time datetime=""#), "{page}");
        assert!(!page.contains("<br><small"), "{page}");

        let page = body(get(&admin, &ann, "/admin/audit?actor=ADMIN:"));
        assert_eq!(rows(&page), 5);
        let page = body(get(&admin, &ann, "/admin/audit?action=mirror."));
        assert_eq!(rows(&page), 5);
        let page = body(get(&admin, &ann, "/admin/audit?action=mirror.&q=carol"));
        assert_eq!(rows(&page), 2);
        assert!(page.contains(r#"name="q" value="carol""#));
        assert!(page.contains(r#"name="action" value="mirror.""#));

        // Paging keeps the filters.
        let page = body(get(&admin, &ann, "/admin/audit?actor=cli&q=firefox"));
        assert_eq!(rows(&page), 100);
        let older = page
            .split(r#"<a href=""#)
            .find_map(|s| s.strip_suffix(r#"" rel="next">Older</a></nav></main></body></html>"#))
            .map(|s| s.replace("&amp;", "&"))
            .unwrap_or_else(|| panic!("{page}"));
        assert!(
            older.starts_with("/admin/audit?actor=cli&q=firefox&before="),
            "{older}"
        );
        let page = body(get(&admin, &ann, &older));
        assert_eq!(rows(&page), 50);
        assert!(page.contains(r#"href="/admin/audit?actor=cli&amp;q=firefox">Newest</a>"#));

        let page = body(get(&admin, &ann, "/admin/audit?actor=nobody"));
        assert!(page.contains("No events match these filters."));
    }

    #[test]
    fn hostile_details_and_filters_are_escaped() {
        let (_dir, admin) = admin();
        let ann = login(&admin, "ann", Role::Admin);
        record(
            &admin,
            r#"admin:"><img/src=x>"#,
            "mirror.add",
            "<script>alert(1)</script> ünïcode",
            1,
        );
        let page = body(get(&admin, &ann, "/admin/audit"));
        assert!(!page.contains("<script>alert"));
        assert!(!page.contains("<img/src"));
        assert!(page.contains("&lt;script&gt;alert(1)&lt;/script&gt; ünïcode 0"));
        assert!(page.contains("?actor=admin%3A%22%3E%3Cimg%2Fsrc%3Dx%3E"));
        let page = body(get(
            &admin,
            &ann,
            "/admin/audit?q=%22%3E%3Cscript%3Ealert(1)%3C%2Fscript%3E",
        ));
        assert!(!page.contains("<script>alert"));
        assert!(page.contains(r#"value="&quot;&gt;&lt;script&gt;alert(1)&lt;/script&gt;""#));
    }

    #[test]
    fn bad_paging_is_refused() {
        let (_dir, admin) = admin();
        let ann = login(&admin, "ann", Role::Admin);
        let r = get(&admin, &ann, "/admin/audit?before=x%3Cb%3E&actor=cli");
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
        let page = body(r);
        assert!(
            page.contains(
                "The before= parameter must be an event number, not &quot;x&lt;b&gt;&quot;"
            ),
            "{page}"
        );
        assert!(page.contains(r#"href="/admin/audit?actor=cli">Newest events</a>"#));
        assert_eq!(
            get(&admin, &ann, "/admin/audit/x").status(),
            StatusCode::NOT_FOUND
        );
        assert_eq!(
            post(&admin, &ann, "/admin/audit", &[]).status(),
            StatusCode::NOT_FOUND
        );
    }

    #[test]
    fn long_details_wrap_in_a_table_that_scrolls_and_nothing_posts() {
        let (_dir, admin) = admin();
        let vic = login(&admin, "vic", Role::Viewer);
        let countries: Vec<String> = (0..100u8)
            .map(|i| format!("{}{}", char::from(b'A' + i / 26), char::from(b'A' + i % 26)))
            .collect();
        record(
            &admin,
            "cli",
            "region.update",
            &format!("big: countries [] -> [{}]", countries.join(",")),
            1,
        );
        let page = body(get(&admin, &vic, "/admin/audit"));
        let main = &page[page.find("<main").unwrap()..];
        assert!(
            main.contains(r#"<div class="scroll"><table class="audit">"#),
            "{main}"
        );
        assert!(
            main.contains(r#"<td class="wrap">big: countries [] -&gt; [AA,AB,"#),
            "{main}"
        );
        assert!(!main.contains(r#"method="post""#), "{main}");
        assert!(
            main.contains(r#"<form class="search" method="get" action="/admin/audit""#),
            "{main}"
        );
    }
}
