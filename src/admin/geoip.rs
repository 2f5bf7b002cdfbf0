//! Admin section: GeoIP — where clients' countries come from, what one
//! address gets (country, region, mirrors), importing and removing the
//! GeoIP table, and one region per continent (the command line's
//! `geoip` and `region defaults` do the same).
//!
//! Routes: `GET /admin/geoip` (status, lookup form, import form),
//! `GET /admin/geoip?ip=ADDR` (lookup), `POST /admin/geoip/import`
//! (multipart upload of CSV files, stored at once: the table replaces the
//! previous one and touches no configuration), `POST /admin/geoip/clear`,
//! `POST /admin/geoip/defaults` (one region per continent, then back to
//! the regions page).

use std::net::IpAddr;

use hyper::StatusCode;
use maud::{Markup, html};

use super::page::{self, Badge, badge, csrf, plural, seg};
use super::{Ctx, Form, Page, PageResult, wording};
use crate::auth::Area;
use crate::geoip::continents;
use crate::geoip::import::{Imported, Source};
use crate::geoip::{Country, GeoDb};
use crate::model::{Mirror, Region};
use crate::store::Snapshot;

/// The upload form's file fields. A form field carries one file here, so
/// MaxMind's three files (IPv4 blocks, IPv6 blocks, locations) take three.
const FILE_FIELDS: [&str; 4] = ["file1", "file2", "file3", "file4"];
/// Unusable lines an import result lists (the rest are counted).
const SHOWN_PROBLEMS: usize = 20;
/// Mirror names a lookup lists per step before "and N more".
const SHOWN_MIRRORS: usize = 12;

/// Answers requests below `/admin/geoip`.
pub fn route(ctx: &Ctx<'_>, page: &Page<'_>) -> PageResult {
    match (page.post, page.rest().as_slice()) {
        (false, []) => show(ctx, page.form.get("ip")),
        (true, ["import"]) => import(ctx, &page.form),
        (true, ["clear"]) => clear(ctx),
        (true, ["defaults"]) => defaults(ctx),
        // A reload of a result page after the fact.
        (false, ["import" | "clear" | "defaults"]) => Ok(crate::http::see_other("/admin/geoip")),
        _ => Ok(ctx.not_found("There is no such GeoIP page.")),
    }
}

/// Which countries have at least one address range in GeoIP data.
pub struct Coverage {
    /// By country slot (`AA`..`ZZ` as 26 × 26).
    has: Vec<bool>,
    /// How many countries have ranges.
    count: usize,
}

/// The slot of a two-letter country code, if it is two letters.
fn slot(code: &str) -> Option<usize> {
    let [a, b] = Country::parse(code)?.0;
    Some(usize::from(a - b'A') * 26 + usize::from(b - b'A'))
}

impl Coverage {
    /// The countries of `geo`'s ranges (one pass over them).
    pub fn of(geo: &GeoDb) -> Coverage {
        let mut has = vec![false; 26 * 26];
        let countries = geo
            .v4_ranges()
            .map(|r| r.2)
            .chain(geo.v6_ranges().map(|r| r.2));
        for c in countries {
            if let Some(s) = slot(c.as_str()) {
                has[s] = true;
            }
        }
        let count = has.iter().filter(|&&h| h).count();
        Coverage { has, count }
    }

    /// How many countries have ranges.
    pub fn len(&self) -> usize {
        self.count
    }

    /// Whether no country has a range.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// The `countries` that have no range.
    pub fn missing<'a>(&self, countries: &'a [String]) -> Vec<&'a str> {
        countries
            .iter()
            .map(String::as_str)
            .filter(|c| !slot(c).is_some_and(|s| self.has[s]))
            .collect()
    }
}

/// What the GeoIP page shows besides status and forms.
#[derive(Default)]
struct View<'a> {
    /// The lookup field as typed.
    typed: &'a str,
    /// The address to look up.
    found: Option<IpAddr>,
    /// Why the typed address cannot be looked up.
    lookup_error: Option<String>,
    /// The result of an import just made.
    imported: Option<Markup>,
    /// Why an import failed.
    import_error: Option<String>,
}

fn show(ctx: &Ctx<'_>, typed: &str) -> PageResult {
    let mut view = View {
        typed,
        ..View::default()
    };
    if !typed.is_empty() {
        match typed.parse::<IpAddr>() {
            Ok(ip) => view.found = Some(ip),
            Err(_) => {
                view.lookup_error = Some(format!(
                    "{typed:?} is not an IP address: type an IPv4 or IPv6 address such as 203.0.113.7 or 2001:db8::1."
                ));
            }
        }
    }
    render(ctx, view)
}

fn render(ctx: &Ctx<'_>, view: View<'_>) -> PageResult {
    let s = ctx.network().snapshot()?;
    let geo = ctx.network().index().geo().clone();
    let file = ctx.network().geoip_file();
    let admin = ctx.may(Area::Network);
    let body = html! {
        div.toolbar { h1 { "GeoIP" } a href="/admin/regions" { "Regions" } }
        p.muted {
            "GeoIP tells a client's country from its address; the country's "
            a href="/admin/regions" { "region" } " decides which mirrors serve it. "
            "Clients whose country is unknown, or in no region, are served from the world's mirrors."
        }
        @if let Some(result) = &view.imported { (result) }
        (status_card(&geo, file.as_deref(), admin))
        section.card {
            h2 { "Look up an address" }
            (page::error(view.lookup_error.as_deref()))
            form.stack method="get" action="/admin/geoip" {
                label.field {
                    span { "IP address" }
                    input type="text" name="ip" value=(view.typed) required autocomplete="off";
                    small { "IPv4 or IPv6, e.g. 203.0.113.7 or 2001:db8::1" }
                }
                div { button.primary type="submit" { "Look up" } }
            }
            @if let Some(ip) = view.found { (lookup(&s, &geo, ip)) }
        }
        @if admin {
            (import_card(ctx, view.import_error.as_deref()))
            section.card.danger-zone {
                h2 { "Remove the GeoIP table" }
                p {
                    "Removes the imported table from the database; regions and mirrors stay as they are. "
                    @if let Some(f) = &file {
                        "This server reads " code { (f.display()) } " (" code { "--geoip" } ") and goes on using it."
                    } @else {
                        "Every client then counts as unknown and is served from the world's mirrors."
                    }
                }
                (page::button(ctx, "/admin/geoip/clear", "Remove GeoIP table", "danger",
                    Some("Remove the GeoIP table? Every client will count as unknown and be served from the world's mirrors.")))
            }
        } @else {
            p.muted { "Your role (" (ctx.user.role.as_str()) ") may look up addresses but not import or remove GeoIP data. Ask an admin." }
        }
    };
    let status = if view.lookup_error.is_some() || view.import_error.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    Ok(ctx.page_status(status, "geoip", "GeoIP", body))
}

/// Where the data in use comes from, and how much of it there is.
fn status_card(geo: &GeoDb, file: Option<&std::path::Path>, admin: bool) -> Markup {
    html! {
        section.card {
            h2 { "Status" }
            @if geo.is_empty() {
                p { (badge(Badge::Off, "no GeoIP data")) " Every client counts as unknown and is served from the world's mirrors: regions have no effect." }
                p.muted {
                    @if admin { "Import CSV files below" } @else { "An admin can import CSV files on this page" }
                    ", or the server can be started with " code { "--geoip FILE.mmdb" } " (a MaxMind database)."
                }
            } @else {
                @let (v4, v6) = geo.len();
                @let coverage = Coverage::of(geo);
                div.cards {
                    div.stat { span.value { (v4) } span.label { "IPv4 ranges" } }
                    div.stat { span.value { (v6) } span.label { "IPv6 ranges" } }
                    div.stat { span.value { (coverage.len()) } span.label { "countries" } }
                }
                p {
                    "From " code { (geo.source) } ", "
                    @match file {
                        Some(f) => { "read from " code { (f.display()) } " at start-up (" code { "--geoip" } ")." }
                        None => { "imported " (page::ago(geo.loaded)) "." }
                    }
                }
                @if file.is_some() {
                    p.muted { "Imports are stored in the database, and used once the server is started without " code { "--geoip" } "." }
                }
            }
        }
    }
}

// ----- lookup -----

/// Active mirrors with a rating: those that get downloads.
fn in_rotation(m: &Mirror) -> bool {
    m.active && m.rating > 0
}

fn same(a: &str, b: &str) -> bool {
    a.trim().eq_ignore_ascii_case(b.trim())
}

/// The mirrors in rotation that serve `region`.
fn members<'s>(s: &'s Snapshot, region: &str) -> Vec<&'s Mirror> {
    s.mirrors
        .iter()
        .filter(|m| in_rotation(m) && m.regions.iter().any(|r| same(r, region)))
        .collect()
}

/// What a client at `ip` gets: country, region and the mirrors tried.
fn lookup(s: &Snapshot, geo: &GeoDb, ip: IpAddr) -> Markup {
    let ip = crate::client::unmap(ip);
    let country = if geo.is_empty() { None } else { geo.lookup(ip) };
    let region = country.and_then(|c| {
        s.regions
            .iter()
            .find(|r| r.countries.iter().any(|x| x == c.as_str()))
    });
    html! {
        table.facts {
            tbody {
                tr { th { "Address" } td { code { (ip) } } }
                tr {
                    th { "Country" }
                    td {
                        @match country {
                            Some(c) => {
                                code { (c) }
                                @if let Some(continent) = continents::of(c) { " (" (continent.name) ")" }
                            }
                            None => {
                                span.muted {
                                    @if geo.is_empty() { "unknown: there is no GeoIP data" }
                                    @else { "unknown: the address is in no range of the GeoIP data" }
                                }
                            }
                        }
                    }
                }
                tr {
                    th { "Region" }
                    td {
                        @match (region, country) {
                            (Some(r), _) => a href={ "/admin/regions/" (seg(&r.name)) } { (r.name) },
                            (None, Some(_)) => span.muted { "none: the country is in no region" },
                            (None, None) => span.muted { "none" },
                        }
                    }
                }
                @if let Some(r) = region {
                    tr { th { "Throttle" } td { (throttle_sentence(r.throttle)) } }
                    tr {
                        th { "Fallback region" }
                        td {
                            @match &r.fallback {
                                Some(f) => a href={ "/admin/regions/" (seg(f)) } { (f) },
                                None => span.muted { "none" },
                            }
                        }
                    }
                    tr {
                        th { "Global fallback" }
                        td {
                            @if r.global_fallback { (badge(Badge::Good, "yes")) " may finally go to mirrors anywhere" }
                            @else { (badge(Badge::Off, "no")) " never sent to the world's mirrors" }
                        }
                    }
                }
                tr { th { "Served from" } td.wrap { (served_from(s, region)) } }
            }
        }
    }
}

/// The throttle in words.
pub fn throttle_sentence(throttle: i32) -> String {
    if (0..100).contains(&throttle) {
        format!(
            "{throttle} %: keeps {throttle}% of its clients' downloads on its own mirrors; the rest go to the fallback region, else to the world (unless forbidden)"
        )
    } else {
        format!("{throttle} %: keeps all of its clients' downloads on its own mirrors")
    }
}

/// The mirrors a client of `region` (none: in no region, or unknown) is
/// sent to, step by step, as the index builds its pools.
fn served_from<'s>(s: &'s Snapshot, region: Option<&Region>) -> Markup {
    let world: Vec<&'s Mirror> = s.mirrors.iter().filter(|m| in_rotation(m)).collect();
    let Some(r) = region else {
        return html! { "the world's mirrors: " (mirror_list(&world, true)) };
    };
    let inside = members(s, &r.name);
    let outside = |ms: &[&'s Mirror]| -> Vec<&'s Mirror> {
        ms.iter()
            .filter(|m| !inside.iter().any(|i| i.id == m.id))
            .copied()
            .collect()
    };
    let fallback: Option<(&str, Vec<&Mirror>)> = r.fallback.as_deref().map(|f| (f, members(s, f)));
    let leaks = (0..100).contains(&r.throttle);
    let region_link = html! { a href={ "/admin/regions/" (seg(&r.name)) } { (r.name) } };
    html! {
        p {
            strong { @if leaks { "Kept (" (r.throttle) " %)" } @else { "All downloads" } }
            ", tried in order:"
        }
        ol.steps {
            li { "region " (region_link) "'s mirrors: " (mirror_list(&inside, false)) }
            @if let Some((f, theirs)) = &fallback {
                li { "else fallback region " a href={ "/admin/regions/" (seg(f)) } { (f) } ": " (mirror_list(theirs, false)) }
            }
            @if r.global_fallback {
                li { "else the world's mirrors: " (mirror_list(&world, true)) }
            }
        }
        @if leaks {
            p { strong { "Sent away (" (100 - r.throttle) " %)" } ", tried in order:" }
            ol.steps {
                @if let Some((f, theirs)) = &fallback {
                    li {
                        "fallback region " a href={ "/admin/regions/" (seg(f)) } { (f) }
                        "'s mirrors outside " (r.name) ": " (mirror_list(&outside(theirs), false))
                    }
                }
                @if r.global_fallback {
                    li {
                        @if fallback.is_some() { "else " }
                        "the world's mirrors outside " (r.name) ": " (mirror_list(&outside(&world), true))
                    }
                }
                li {
                    @if fallback.is_some() || r.global_fallback { "else " }
                    "its own mirrors (nowhere else to go)"
                }
            }
        }
        @if !r.global_fallback {
            p.muted { "Never the world's mirrors: the region forbids global fallback." }
        }
        p.muted { "For each file, only mirrors that are up and have it count: a step without one passes to the next." }
    }
}

/// Links to `mirrors` (at most [`SHOWN_MIRRORS`]); with `count`, their
/// number first.
fn mirror_list(mirrors: &[&Mirror], count: bool) -> Markup {
    html! {
        @if mirrors.is_empty() {
            span.muted { "none" }
        } @else {
            @if count { (plural(mirrors.len(), "active mirror", "active mirrors")) ": " }
            @for (i, m) in mirrors.iter().take(SHOWN_MIRRORS).enumerate() {
                @if i > 0 { ", " }
                a href={ "/admin/mirrors/" (seg(&m.name)) } { (m.name) }
            }
            @if mirrors.len() > SHOWN_MIRRORS { " and " (mirrors.len() - SHOWN_MIRRORS) " more" }
        }
    }
}

// ----- import -----

fn import_card(ctx: &Ctx<'_>, error: Option<&str>) -> Markup {
    html! {
        section.card {
            h2 { "Import" }
            p {
                "Upload the CSV files together: MaxMind GeoLite2-Country (the "
                code { "Blocks-IPv4" } ", " code { "Blocks-IPv6" } " and " code { "Locations-en" } " files), "
                "DB-IP lite (" code { "dbip-country-lite-YYYY-MM.csv" } "), or plain "
                code { "start,end,country" } " lines. "
                "The import replaces the whole GeoIP table at once and changes nothing else."
            }
            (page::error(error))
            form.stack method="post" action="/admin/geoip/import" enctype="multipart/form-data" {
                (csrf(ctx))
                @for (i, name) in FILE_FIELDS.iter().enumerate() {
                    label.field {
                        span { "CSV file " (i + 1) @if i > 0 { " (optional)" } }
                        input type="file" name=(name) accept=".csv,text/csv" required[i == 0];
                    }
                }
                p.muted { "Up to 64 MiB in all." }
                div { button.primary type="submit" { "Import" } }
            }
        }
    }
}

/// A browser's file name without any directories it may carry.
fn base_name(name: &str) -> &str {
    name.rsplit(['/', '\\']).next().unwrap_or(name)
}

fn import(ctx: &Ctx<'_>, form: &Form) -> PageResult {
    let sources: Vec<Source> = FILE_FIELDS
        .iter()
        .enumerate()
        .filter_map(|(i, field)| Some((i, form.file(field)?)))
        .filter(|(_, f)| !f.filename.is_empty() || !f.data.is_empty())
        .map(|(i, f)| Source {
            name: match base_name(&f.filename) {
                "" => format!("file {}", i + 1),
                name => name.to_string(),
            },
            bytes: f.data.clone(),
        })
        .collect();
    let failed = |message: String| {
        render(
            ctx,
            View {
                import_error: Some(message),
                ..View::default()
            },
        )
    };
    if sources.is_empty() {
        return failed(
            "Choose the CSV files to import: MaxMind's blocks and locations files together, a DB-IP lite file, or start,end,country lines."
                .into(),
        );
    }
    let imported = match crate::geoip::import::import(&sources) {
        Ok(i) => i,
        Err(e) => return failed(wording::text(&e)),
    };
    drop(sources);
    let Imported {
        db,
        lines,
        problems,
        unknown,
    } = imported;
    let (v4, v6) = db.len();
    let source = db.source.clone();
    let file = match ctx.network().replace_geoip(&ctx.actor(), Some(db)) {
        Ok(file) => file,
        Err(e) => return failed(wording::text(&e)),
    };
    let result = html! {
        section.card {
            h2 { "Imported" }
            p.flash role="status" {
                @match &file {
                    None => { "Stored and in use: " (v4) " IPv4 and " (v6) " IPv6 ranges from " (source) "." }
                    Some(f) => {
                        "Stored: " (v4) " IPv4 and " (v6) " IPv6 ranges from " (source) ". "
                        "This server reads " (f.display()) " (--geoip) and uses the import once started without it."
                    }
                }
            }
            div.cards {
                div.stat { span.value { (lines) } span.label { "lines read" } }
                div.stat { span.value { (v4) } span.label { "IPv4 ranges" } }
                div.stat { span.value { (v6) } span.label { "IPv6 ranges" } }
                div.stat { span.value { (unknown) } span.label { "lines with no country (skipped)" } }
                div.stat.bad[!problems.is_empty()] { span.value { (problems.len()) } span.label { "unusable lines" } }
            }
            @if !problems.is_empty() {
                h3 {
                    @if problems.len() > SHOWN_PROBLEMS { "The first " (SHOWN_PROBLEMS) " unusable lines" }
                    @else { "Unusable lines" }
                }
                div.scroll { table {
                    thead { tr { th { "Where" } th { "Why" } } }
                    tbody {
                        @for p in problems.iter().take(SHOWN_PROBLEMS) {
                            tr { td.wrap { code { (p.file) ":" (p.line) } } td.wrap { (p.reason) } }
                        }
                    }
                } }
                @if problems.len() > SHOWN_PROBLEMS {
                    p.muted { "… and " (problems.len() - SHOWN_PROBLEMS) " more." }
                }
            }
        }
    };
    render(
        ctx,
        View {
            imported: Some(result),
            ..View::default()
        },
    )
}

// ----- removal -----

fn clear(ctx: &Ctx<'_>) -> PageResult {
    Ok(match ctx.network().replace_geoip(&ctx.actor(), None) {
        Ok(None) => ctx.done(
            "/admin/geoip",
            "Removed the GeoIP table: every client now counts as unknown and is served from the world's mirrors.",
        ),
        Ok(Some(f)) => ctx.done(
            "/admin/geoip",
            format!(
                "Removed the imported GeoIP table; this server still reads {} (--geoip).",
                f.display()
            ),
        ),
        Err(e) => ctx.failed("/admin/geoip", wording::text(&e)),
    })
}

// ----- one region per continent -----

use crate::store::RegionDefaults as Defaults;

/// The outcome as one message.
fn message(d: &Defaults) -> String {
    let mut parts = Vec::new();
    if d.added.is_empty() {
        parts.push("No region added.".to_string());
    } else {
        let added: Vec<String> = d
            .added
            .iter()
            .map(|(name, n)| format!("{name} ({})", plural(*n, "country", "countries")))
            .collect();
        parts.push(format!(
            "Added {}: {}.",
            plural(d.added.len(), "region", "regions"),
            added.join(", ")
        ));
    }
    if !d.existing.is_empty() {
        parts.push(format!(
            "Left as they are: {} (exist already).",
            d.existing.join(", ")
        ));
    }
    if !d.full.is_empty() {
        parts.push(format!(
            "Not added: {} (every country is in another region).",
            d.full.join(", ")
        ));
    }
    if !d.taken.is_empty() {
        parts.push(format!(
            "Left out, as other regions have them: {}.",
            d.taken.join(" ")
        ));
    }
    if !d.added.is_empty() {
        parts.push("Mirrors serve a region once it is added on their pages.".into());
    }
    parts.join(" ")
}

fn defaults(ctx: &Ctx<'_>) -> PageResult {
    Ok(
        match ctx.write(|tx| tx.region_defaults(&crate::geoip::continents::regions())) {
            Ok(d) => ctx.done("/admin/regions", message(&d)),
            Err(e) => ctx.failed("/admin/regions", wording::text(&e)),
        },
    )
}

#[cfg(test)]
mod tests {
    use hyper::{Method, StatusCode};

    use crate::admin::Admin;
    use crate::admin::testing::*;
    use crate::geoip::import::Source;
    use crate::http::Reply;
    use crate::model::Role;

    const SCRIPT: &str = "<script>alert(1)</script>";
    const BOUNDARY: &str = "----bouncer-test-geo-7MA4YWxkTrZu0gW";

    /// A `multipart/form-data` body: `who`'s CSRF token and `files`
    /// (field, file name, contents).
    fn multipart(csrf: &str, files: &[(&str, &str, &[u8])]) -> Vec<u8> {
        let mut parts = vec![("csrf", None, csrf.as_bytes())];
        parts.extend(
            files
                .iter()
                .map(|(field, name, data)| (*field, Some(*name), *data)),
        );
        crate::http::multipart::encode(&parts, BOUNDARY)
    }

    fn upload(admin: &Admin, who: &Login, files: &[(&str, &str, &[u8])]) -> Reply {
        upload_with(admin, who, &who.csrf, files)
    }

    fn upload_with(admin: &Admin, who: &Login, csrf: &str, files: &[(&str, &str, &[u8])]) -> Reply {
        request(
            admin,
            Some(who),
            Method::POST,
            "/admin/geoip/import",
            Some(&format!("multipart/form-data; boundary={BOUNDARY}")),
            &multipart(csrf, files),
        )
    }

    /// Stores GeoIP ranges from plain CSV text.
    fn geo(admin: &Admin, csv: &str) {
        let imported = crate::geoip::import::import(&[Source {
            name: "test.csv".into(),
            bytes: csv.as_bytes().to_vec(),
        }])
        .unwrap();
        admin
            .network
            .replace_geoip(&crate::model::Actor::Program("test"), Some(imported.db))
            .unwrap();
    }

    fn add_region(
        admin: &Admin,
        name: &str,
        throttle: i32,
        fallback: Option<&str>,
        countries: &[&str],
    ) {
        admin
            .network
            .write(&crate::model::Actor::Program("test"), |tx| {
                tx.region_add(crate::model::Region {
                    name: name.into(),
                    throttle,
                    fallback: fallback.map(Into::into),
                    global_fallback: true,
                    countries: countries.iter().map(|c| c.to_string()).collect(),
                })
            })
            .unwrap();
    }

    #[test]
    fn geoip_uploads_may_be_large() {
        let (_dir, admin) = admin();
        let ann = login(&admin, "ann", Role::Admin);
        let mut headers = hyper::HeaderMap::new();
        headers.insert(hyper::header::COOKIE, ann.cookie.parse().unwrap());
        let limit = |path| {
            crate::admin::body_limit(crate::admin::session_user(&admin, &headers).is_some(), path).0
        };
        assert_eq!(limit("/admin/geoip/import"), crate::admin::MAX_BODY);
        assert_eq!(limit("/admin/geoip/clear"), 1 << 20);
        assert_eq!(
            crate::admin::body_limit(false, "/admin/geoip/import").0,
            16 << 10
        );
    }

    const RANGES: &str = "start,end,country\n\
        1.0.0.0,1.0.0.255,AU\n\
        5.1.0.0,5.1.255.255,DE\n\
        6.0.0.0,6.0.0.255,JP\n\
        2001:db8::,2001:db8::ffff,DE\n";

    #[test]
    fn status_without_and_with_data() {
        let (_dir, admin) = admin();
        let viewer = login(&admin, "vic", Role::Viewer);
        let page = body(get(&admin, &viewer, "/admin/geoip"));
        assert!(page.contains("no GeoIP data"), "{page}");
        assert!(page.contains("Every client counts as unknown"), "{page}");
        assert!(page.contains("--geoip FILE.mmdb"), "{page}");
        // The navigation leads here; viewers get no import or remove forms.
        assert!(
            page.contains(r#"<a class="current" href="/admin/geoip">"#),
            "{page}"
        );
        assert!(!page.contains("/admin/geoip/import"), "{page}");
        assert!(!page.contains("/admin/geoip/clear"), "{page}");

        geo(&admin, RANGES);
        let page = body(get(&admin, &viewer, "/admin/geoip"));
        assert!(!page.contains("no GeoIP data"), "{page}");
        for (value, label) in [(3, "IPv4 ranges"), (1, "IPv6 ranges"), (3, "countries")] {
            assert!(
                page.contains(&format!(
                    r#"<span class="value">{value}</span><span class="label">{label}</span>"#
                )),
                "{label}: {page}"
            );
        }
        assert!(page.contains("<code>test.csv</code>"), "{page}");
        assert!(page.contains("imported <time"), "{page}");

        let ann = login(&admin, "ann", Role::Admin);
        let page = body(get(&admin, &ann, "/admin/geoip"));
        assert!(
            page.contains(r#"action="/admin/geoip/import" enctype="multipart/form-data""#),
            "{page}"
        );
        assert!(page.contains(r#"action="/admin/geoip/clear""#), "{page}");
    }

    #[test]
    fn lookups_tell_country_region_and_mirrors() {
        let (_dir, admin) = admin();
        let vic = login(&admin, "vic", Role::Viewer);
        // No data at all: unknown, the world.
        let page = body(get(&admin, &vic, "/admin/geoip?ip=5.1.2.3"));
        assert!(page.contains("unknown: there is no GeoIP data"), "{page}");

        geo(&admin, RANGES);
        add_region(&admin, "asia", 100, None, &["JP"]);
        add_region(&admin, "europe", 80, Some("asia"), &["DE"]);
        add_mirror(&admin, "eu1", &["europe"]);
        add_mirror(&admin, "jp1", &["asia"]);
        add_mirror(&admin, "anywhere", &[]);

        // In a region with a throttle and a fallback.
        let r = get(&admin, &vic, "/admin/geoip?ip=5.1.2.3");
        assert_eq!(r.status(), StatusCode::OK);
        let page = body(r);
        assert!(page.contains("<code>DE</code> (europe)"), "{page}");
        assert!(
            page.contains(r#"<td><a href="/admin/regions/europe">europe</a></td>"#),
            "{page}"
        );
        assert!(
            page.contains("keeps 80% of its clients' downloads on its own mirrors"),
            "{page}"
        );
        assert!(page.contains("Kept (80 %)"), "{page}");
        assert!(page.contains("Sent away (20 %)"), "{page}");
        assert!(
            page.contains(r#"'s mirrors: <a href="/admin/mirrors/eu1">eu1</a>"#),
            "{page}"
        );
        assert!(
            page.contains(r#"'s mirrors outside europe: <a href="/admin/mirrors/jp1">jp1</a>"#),
            "{page}"
        );
        assert!(page.contains("3 active mirrors"), "{page}");
        // The same through an IPv6 address, and an IPv4-mapped one.
        let page = body(get(&admin, &vic, "/admin/geoip?ip=2001:db8::1"));
        assert!(page.contains("<code>DE</code> (europe)"), "{page}");
        let page = body(get(&admin, &vic, "/admin/geoip?ip=::ffff:6.0.0.1"));
        assert!(page.contains("<code>6.0.0.1</code>"), "{page}");
        assert!(page.contains("<code>JP</code> (asia)"), "{page}");
        assert!(page.contains("All downloads"), "{page}");
        assert!(!page.contains("Sent away"), "{page}");

        // A country in no region.
        let page = body(get(&admin, &vic, "/admin/geoip?ip=1.0.0.7"));
        assert!(page.contains("<code>AU</code> (oceania)"), "{page}");
        assert!(page.contains("none: the country is in no region"), "{page}");
        assert!(
            page.contains("the world's mirrors: 3 active mirrors"),
            "{page}"
        );

        // In no range.
        let page = body(get(&admin, &vic, "/admin/geoip?ip=9.9.9.9"));
        assert!(
            page.contains("unknown: the address is in no range of the GeoIP data"),
            "{page}"
        );
        assert!(page.contains("the world's mirrors"), "{page}");

        // Not an address: 422, the message, the typed value kept and escaped.
        let r = get(
            &admin,
            &vic,
            &format!("/admin/geoip?ip={}", crate::admin::page::seg(SCRIPT)),
        );
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
        let page = body(r);
        assert!(page.contains("is not an IP address"), "{page}");
        assert!(!page.contains("<script>alert"), "{page}");
        assert!(
            page.contains(r#"name="ip" value="&lt;script&gt;alert(1)&lt;/script&gt;""#),
            "{page}"
        );
        let r = get(&admin, &vic, "/admin/geoip?ip=5.1.2");
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
        assert!(body(r).contains(r#"name="ip" value="5.1.2""#));
    }

    #[test]
    fn imports_plain_and_dbip_files_and_reports_bad_lines() {
        let (_dir, admin) = admin();
        let ann = login(&admin, "ann", Role::Admin);
        // Plain, with a header and a malformed line 3.
        let plain =
            b"start,end,country\n1.0.0.0,1.0.0.255,AU\nnot,an,address\n5.1.0.0,5.1.255.255,DE\n";
        let r = upload(&admin, &ann, &[("file1", "plain.csv", plain)]);
        assert_eq!(r.status(), StatusCode::OK);
        let page = body(r);
        assert!(
            page.contains("Stored and in use: 2 IPv4 and 0 IPv6 ranges from plain.csv"),
            "{page}"
        );
        assert!(page.contains("<code>plain.csv:3</code>"), "{page}");
        assert!(
            page.contains(r#"<span class="value">3</span><span class="label">lines read</span>"#),
            "{page}"
        );
        assert_eq!(
            admin.network.index().country_of("5.1.2.3".parse().unwrap()),
            crate::geoip::Country::parse("DE")
        );
        let events = admin.network.store().events(1).unwrap();
        assert_eq!(
            (events[0].action.as_str(), events[0].actor.as_str()),
            ("geoip.import", "admin:ann")
        );

        // DB-IP lite (no header, IPv4 and IPv6, ZZ for unknown) in the
        // second field, with a hostile name and a bad line 2; it replaces
        // the table.
        let dbip = b"1.0.0.0,1.0.0.255,AU\n1.0.1.0,1.0.1.255,<b>\n1.0.4.0,1.0.7.255,ZZ\n2001:200::,2001:200:ffff:ffff:ffff:ffff:ffff:ffff,JP\n";
        let hostile = "<img src=x onerror=alert(1)>dbip.csv";
        let r = upload(&admin, &ann, &[("file2", hostile, dbip)]);
        assert_eq!(r.status(), StatusCode::OK);
        let page = body(r);
        assert!(!page.contains("<img"), "{page}");
        assert!(!page.contains("<b>"), "{page}");
        assert!(
            page.contains("<code>&lt;img src=x onerror=alert(1)&gt;dbip.csv:2</code>"),
            "{page}"
        );
        assert!(page.contains("1 IPv4 and 1 IPv6 ranges"), "{page}");
        assert!(
            page.contains(
                r#"<span class="value">1</span><span class="label">lines with no country (skipped)</span>"#
            ),
            "{page}"
        );
        assert_eq!(
            admin.network.index().country_of("5.1.2.3".parse().unwrap()),
            None
        );
        assert_eq!(admin.network.index().geo().len(), (1, 1));

        // Many bad lines: the first 20 are listed, the rest counted.
        let mut many = String::from("1.0.0.0,1.0.0.255,AU\n");
        for _ in 0..25 {
            many.push_str("1.2.3,1.2.3.4,AU\n");
        }
        let page = body(upload(
            &admin,
            &ann,
            &[("file1", "many.csv", many.as_bytes())],
        ));
        assert!(page.contains("The first 20 unusable lines"), "{page}");
        assert!(page.contains("<code>many.csv:21</code>"), "{page}");
        assert!(!page.contains("<code>many.csv:22</code>"), "{page}");
        assert!(page.contains("… and 5 more."), "{page}");
        // Back to the DB-IP table.
        geo(&admin, std::str::from_utf8(dbip).unwrap());

        // Nothing chosen, or nothing usable: 422 and the table stays.
        let r = upload(&admin, &ann, &[]);
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
        assert!(body(r).contains("Choose the CSV files"));
        let r = upload(&admin, &ann, &[("file1", "x.csv", b"garbage\n")]);
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
        assert!(body(r).contains("x.csv"));
        assert_eq!(admin.network.index().geo().len(), (1, 1));

        // Remove it.
        let page = follow(&admin, &ann, post(&admin, &ann, "/admin/geoip/clear", &[]));
        assert!(page.contains("Removed the GeoIP table"), "{page}");
        assert!(page.contains("no GeoIP data"), "{page}");
        assert!(admin.network.index().geo().is_empty());
        assert!(admin.network.store().geoip().unwrap().is_none());
    }

    #[test]
    fn an_mmdb_file_in_use_is_explained() {
        let (_dir, admin) = admin();
        let file = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/geoip/test-country.mmdb");
        admin.network.use_geoip_file(&file).unwrap();
        let ann = login(&admin, "ann", Role::Admin);
        let page = body(get(&admin, &ann, "/admin/geoip"));
        assert!(
            page.contains("test-country.mmdb</code> at start-up"),
            "{page}"
        );
        assert!(
            page.contains("Imports are stored in the database"),
            "{page}"
        );
        let page = body(get(&admin, &ann, "/admin/geoip?ip=81.2.69.1"));
        assert!(page.contains("<code>GB</code> (europe)"), "{page}");
        // An import is stored but the file stays in use.
        let r = upload(
            &admin,
            &ann,
            &[("file1", "a.csv", b"81.2.69.0,81.2.69.255,FR\n")],
        );
        let page = body(r);
        assert!(
            page.contains("Stored: 1 IPv4 and 0 IPv6 ranges from a.csv"),
            "{page}"
        );
        assert!(
            page.contains("uses the import once started without it"),
            "{page}"
        );
        assert!(admin.network.store().geoip().unwrap().is_some());
        assert_eq!(
            admin
                .network
                .index()
                .country_of("81.2.69.1".parse().unwrap()),
            crate::geoip::Country::parse("GB")
        );
        let page = follow(&admin, &ann, post(&admin, &ann, "/admin/geoip/clear", &[]));
        assert!(page.contains("this server still reads"), "{page}");
        assert!(admin.network.store().geoip().unwrap().is_none());
    }

    #[test]
    fn hostile_names_in_lookups_are_escaped() {
        let (_dir, admin) = admin();
        geo(&admin, RANGES);
        add_region(&admin, SCRIPT, 50, None, &["JP"]);
        add_region(&admin, "europe", 50, Some(SCRIPT), &["DE"]);
        add_mirror(&admin, "<b>m\"ü", &[SCRIPT]);
        let vic = login(&admin, "vic", Role::Viewer);
        for ip in ["6.0.0.1", "5.1.0.1"] {
            let page = body(get(&admin, &vic, &format!("/admin/geoip?ip={ip}")));
            assert!(!page.contains("<script>alert"), "{page}");
            assert!(!page.contains("<b>m"), "{page}");
            assert!(
                page.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
                "{page}"
            );
            assert!(page.contains("&lt;b&gt;m&quot;ü"), "{page}");
            assert!(
                page.contains("/admin/regions/%3Cscript%3Ealert%281%29%3C%2Fscript%3E"),
                "{page}"
            );
        }
    }

    #[test]
    fn only_admins_change_geography() {
        let (_dir, admin) = admin();
        geo(&admin, RANGES);
        let csv: &[u8] = b"1.0.0.0,1.0.0.255,AU\n";
        for role in [Role::Viewer, Role::Release] {
            let who = login(&admin, role.as_str(), role);
            let r = upload(&admin, &who, &[("file1", "a.csv", csv)]);
            assert_eq!(r.status(), StatusCode::FORBIDDEN, "{role:?}");
            for path in ["/admin/geoip/clear", "/admin/geoip/defaults"] {
                let r = post(&admin, &who, path, &[]);
                assert_eq!(r.status(), StatusCode::FORBIDDEN, "{role:?} {path}");
            }
            // Lookups are for everyone.
            let page = body(get(&admin, &who, "/admin/geoip?ip=1.0.0.1"));
            assert!(page.contains("<code>AU</code>"), "{page}");
        }
        // The CSRF token is checked before anything is read.
        let ann = login(&admin, "ann", Role::Admin);
        let r = upload_with(&admin, &ann, "forged", &[("file1", "a.csv", csv)]);
        assert_eq!(r.status(), StatusCode::FORBIDDEN);
        assert_eq!(admin.network.index().geo().len(), (3, 1));
        assert!(admin.network.snapshot().unwrap().regions.is_empty());
    }

    /// The part of a page below the navigation (whose log-out form is
    /// the one POST form every page has).
    fn main(page: &str) -> &str {
        &page[page.find("<main").expect("a main element")..]
    }

    #[test]
    fn others_read_with_no_form_that_posts_and_no_command_advice() {
        let (_dir, admin) = admin();
        for role in [Role::Viewer, Role::Release, Role::Admin] {
            let who = login(&admin, role.as_str(), role);
            for path in ["/admin/geoip", "/admin/geoip?ip=1.0.0.1"] {
                let page = body(get(&admin, &who, path));
                let main = main(&page);
                assert!(!main.contains("bouncer "), "{role:?} {path}: {main}");
                assert_eq!(
                    main.contains(r#"method="post""#),
                    role == Role::Admin,
                    "{role:?} {path}: {main}"
                );
            }
            geo(&admin, RANGES);
        }
    }

    #[test]
    fn removing_the_table_asks_first_without_javascript() {
        let (_dir, admin) = admin();
        geo(&admin, RANGES);
        let ann = login(&admin, "ann", Role::Admin);
        let question = "Remove the GeoIP table? Every client will count as unknown and be served from the world's mirrors.";
        let page = body(get(&admin, &ann, "/admin/geoip"));
        assert!(
            page.contains(r#"name="ask" value="Remove the GeoIP table?"#),
            "{page}"
        );
        let r = post(&admin, &ann, "/admin/geoip/clear", &[("ask", question)]);
        assert_eq!(r.status(), StatusCode::OK);
        let page = body(r);
        assert!(
            page.contains("Please confirm")
                && page.contains(r#"<a href="/admin/geoip">No, go back</a>"#),
            "{page}"
        );
        assert_eq!(
            admin.network.index().geo().len(),
            (3, 1),
            "nothing removed yet"
        );
        let r = post(
            &admin,
            &ann,
            "/admin/geoip/clear",
            &[("ask", question), ("confirmed", "yes")],
        );
        assert!(follow(&admin, &ann, r).contains("Removed the GeoIP table"));
        assert!(admin.network.index().geo().is_empty());
    }

    #[test]
    fn continent_defaults_skip_taken_countries() {
        let (_dir, admin) = admin();
        let ann = login(&admin, "ann", Role::Admin);
        add_region(&admin, "dach", 100, None, &["DE", "AT", "CH"]);
        add_region(&admin, "Oceania", 100, None, &["NZ"]);
        let r = post(&admin, &ann, "/admin/geoip/defaults", &[]);
        let page = follow(&admin, &ann, r);
        assert!(page.contains("Added 6 regions"), "{page}");
        assert!(page.contains("Left as they are: oceania"), "{page}");
        assert!(
            page.contains("Left out, as other regions have them: AT CH DE."),
            "{page}"
        );
        let regions = admin.network.snapshot().unwrap().regions.clone();
        assert_eq!(regions.len(), 8);
        let europe = regions.iter().find(|r| r.name == "europe").unwrap();
        assert!(europe.countries.contains(&"FR".to_string()));
        assert!(!europe.countries.contains(&"DE".to_string()));
        assert_eq!(
            (
                europe.throttle,
                europe.fallback.as_deref(),
                europe.global_fallback
            ),
            (100, None, true)
        );
        let events = admin.network.store().events(1).unwrap();
        assert_eq!(
            (events[0].action.as_str(), events[0].actor.as_str()),
            ("region.add", "admin:ann")
        );
        // Again: nothing left to add.
        let page = follow(
            &admin,
            &ann,
            post(&admin, &ann, "/admin/geoip/defaults", &[]),
        );
        assert!(page.contains("No region added."), "{page}");
        assert_eq!(admin.network.snapshot().unwrap().regions.len(), 8);
    }
}
