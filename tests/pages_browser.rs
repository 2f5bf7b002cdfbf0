//! Issue 19 in a real browser: every admin and public page of a network at
//! scale — 200 mirrors, 1,000 products, a region of more than 100
//! countries — on a laptop (1366×900) and a phone (390×844), in light and
//! dark colours, as an admin and as a viewer.
//!
//! On every page: no horizontal scrolling of the page itself
//! (`document.documentElement.scrollWidth <= innerWidth`; wide tables
//! scroll inside their own box), every form control has a label, and the
//! text of badges, links, muted text and table headings has a contrast of
//! at least 4.5:1 against the background it is drawn on (computed here
//! from the rendered colours, WCAG 2 relative luminance). A viewer's pages
//! have no form that changes anything (only the log-out form POSTs). Dark
//! mode renders dark. The mirrors list is searched, filtered, sorted and
//! paged on the server; the availability matrix with 200 mirrors shows the
//! live mirrors first and hides the switched-off ones.
//!
//! Screenshots of every page at both sizes go to
//! `screenshot_dir()/pages/{desktop,phone,dark}/`.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};

use crate::common::mirror::{Behaviour, Mirror, UNRESOLVABLE};
use crate::common::webdriver::Browser;
use crate::common::{Env, Server, poll, sha256_hex};

const ADMIN: (&str, &str) = ("admin", "correct horse battery staple");
const VIEWER: (&str, &str) = ("vera", "a viewer's long password");
const PRODUCT: &str = "firefox-120.0";
const PREFIX: &str = "/pub/firefox/releases/120.0";
/// Mirrors in the network (the named five below and numbered ones).
const MIRRORS: usize = 200;
/// Products besides [`PRODUCT`].
const PRODUCTS: usize = 999;
/// The sizes every page is looked at: (name, width, height).
const SCREENS: [(&str, u32, u32); 2] = [("desktop", 1366, 900), ("phone", 390, 844)];
/// How long the start-up sentry run may take.
const PROMPT: Duration = Duration::from_secs(60);

/// What every page must satisfy, checked in the page; returns the
/// problems found (empty: fine), and the page's HTTP status.
const CHECK: &str = r#"
const problems = [];
const doc = document.documentElement;
if (doc.scrollWidth > window.innerWidth)
{
  // The innermost elements sticking out that no box of theirs clips.
  const clipped = (e) => { for (let n = e.parentElement; n && n !== document.body; n = n.parentElement) if (getComputedStyle(n).overflowX !== "visible") return true; return false; };
  const out = [...document.querySelectorAll("body *")].filter((e) => {
    const r = e.getBoundingClientRect();
    return r.width > 0 && r.right > window.innerWidth + 1 && !e.closest("header") && !clipped(e);
  });
  // Text sticks out of a box that keeps its width (a long word).
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let t = walker.nextNode(); t; t = walker.nextNode()) {
    const range = document.createRange();
    range.selectNodeContents(t);
    const e = t.parentElement;
    if (range.getBoundingClientRect().right > window.innerWidth + 1 && !e.closest("header") && !clipped(t) && !out.includes(e)) out.push(e);
  }
  const innermost = out.filter((e) => !out.some((d) => d !== e && e.contains(d)));
  problems.push(`page wider than the viewport: scrollWidth ${doc.scrollWidth} > innerWidth ${window.innerWidth}; sticking out: ` +
    innermost.slice(0, 3).map((e) => e.outerHTML.replace(/\s+/g, " ").slice(0, 200)).join(" | "));
}
const visible = (e) => { const r = e.getBoundingClientRect(); return r.width > 0 && r.height > 0; };
for (const e of document.querySelectorAll("input, select, textarea")) {
  if (["hidden", "submit", "button"].includes(e.type) || !visible(e)) continue;
  const named = e.labels.length > 0 || e.getAttribute("aria-label") || e.getAttribute("aria-labelledby") || e.title;
  if (!named) problems.push("a form control without a label: " + e.outerHTML.slice(0, 160));
}
const rgb = (c) => { const m = c.match(/[\d.]+/g).map(Number); return { r: m[0], g: m[1], b: m[2], a: m.length > 3 ? m[3] : 1 }; };
const lum = (c) => { const f = (v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); }; return 0.2126 * f(c.r) + 0.7152 * f(c.g) + 0.0722 * f(c.b); };
const background = (e) => {
  for (let n = e; n; n = n.parentElement) { const c = rgb(getComputedStyle(n).backgroundColor); if (c.a > 0.5) return c; }
  return rgb(getComputedStyle(document.documentElement).backgroundColor || "rgb(255,255,255)");
};
const seen = new Set();
for (const e of document.querySelectorAll(".badge, .muted, a, th, .flash, .notice, small, label, button, td, p")) {
  if (!visible(e) || !e.textContent.trim()) continue;
  const fg = getComputedStyle(e).color, bg = background(e);
  const key = fg + "/" + JSON.stringify(bg) + "/" + e.className;
  if (seen.has(key)) continue;
  seen.add(key);
  const a = lum(rgb(fg)), b = lum(bg);
  const ratio = (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
  if (ratio < 4.5)
    problems.push(`contrast ${ratio.toFixed(2)}:1 < 4.5 for ${e.tagName.toLowerCase()}.${e.className} "${e.textContent.trim().slice(0, 30)}" (${fg} on rgb(${bg.r},${bg.g},${bg.b}))`);
}
const nav = performance.getEntriesByType("navigation")[0];
return { problems, status: nav && nav.responseStatus ? nav.responseStatus : 0,
  background: getComputedStyle(document.body).backgroundColor };
"#;

/// The forms of a viewer's page that would change something: every POST
/// form but the log-out one, and any enabled submit control in them.
const CHANGES: &str = r#"
return [...document.forms]
  .filter((f) => (f.getAttribute("method") || "get").toLowerCase() === "post")
  .filter((f) => !f.classList.contains("who"))
  .map((f) => f.outerHTML.replace(/\s+/g, " ").slice(0, 200));
"#;

/// The release the healthy test mirrors serve: (files by URL path, SHA256SUMS).
fn release() -> (crate::common::mirror::Files, String) {
    let mut files = BTreeMap::new();
    let mut sums = String::new();
    for (platform, file) in [
        ("win32", "Firefox Setup 120.0.exe"),
        ("linux-x86_64", "firefox-120.0.tar.bz2"),
    ] {
        for lang in ["de", "fr"] {
            let content = format!("{platform} {lang}\n").repeat(50).into_bytes();
            writeln!(sums, "{}  {platform}/{lang}/{file}", sha256_hex(&content)).unwrap();
            files.insert(
                format!("{PREFIX}/{platform}/{lang}/{}", file.replace(' ', "%20")),
                content,
            );
        }
    }
    (Arc::new(files), sums)
}

/// `exported` (a `bouncer export` document) with [`PRODUCTS`] more
/// products of three locations each and the numbered mirrors (every tenth
/// switched off, every 25th rated 0; every fourth under `broken`'s URL,
/// the others under `empty`'s, where none of their files is).
fn grown(mut exported: Value, empty: &str, broken: &str) -> Value {
    let products = exported["products"].as_array_mut().expect("products");
    products.extend((1..=PRODUCTS).map(|i| {
        let locations: Vec<Value> = ["win", "linux64", "osx"]
            .iter()
            .map(|os| json!({ "os": os, "files": [], "path": format!("/pub/product-{i:04}/{os}/:lang/setup-{i}.bin") }))
            .collect();
        json!({
            "name": format!("product-{i:04}"), "active": i % 7 != 0, "languages": [],
            "locations": locations, "priority": 0, "public": true, "ssl_only": false,
        })
    }));
    let mirrors = exported["mirrors"].as_array_mut().expect("mirrors");
    mirrors.extend((5..MIRRORS).map(|i| {
        json!({
            "name": numbered(i), "active": i % 10 != 0,
            "base_url": format!("{}/m{i:03}", if i % 4 == 0 { broken } else { empty }),
            "contact": format!("ops{i}@university-of-somewhere.example"),
            "rating": if i % 25 == 0 { 0 } else { 100 + i }, "regions": [],
        })
    }));
    exported
}

/// The name of numbered mirror `i`.
fn numbered(i: usize) -> String {
    format!("mirror-{i:03}.university-of-somewhere.example")
}

/// The pages of one server in one browser, logged in as one user.
struct Pages<'b> {
    browser: &'b Browser,
    base: String,
}

impl Pages<'_> {
    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Logs in as `(user, password)` through the login form.
    fn log_in(&self, (user, password): (&str, &str)) {
        let b = self.browser;
        b.goto(&self.url("/admin/login"));
        b.find("form.login input[name=user]").send_keys(user);
        b.find("form.login input[name=password]")
            .send_keys(password);
        b.find("form.login button[type=submit]").click();
        b.wait_for(
            |b| b.url() == self.url("/admin/"),
            "the overview after logging in",
        );
    }

    /// Opens `path` and checks it ([`CHECK`]); the problems, prefixed
    /// with where they were seen, and the body's background colour.
    fn check(&self, path: &str, screen: &str) -> (Vec<String>, String) {
        self.browser.goto(&self.url(path));
        let v = self.browser.execute(CHECK, &[]);
        let mut problems: Vec<String> = v["problems"]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|p| format!("{screen} {path}: {}", p.as_str().unwrap_or("")))
                    .collect()
            })
            .unwrap_or_default();
        let status = v["status"].as_u64().unwrap_or(0);
        if status != 200 {
            problems.push(format!("{screen} {path}: answered {status}"));
        }
        (problems, v["background"].as_str().unwrap_or("").to_string())
    }

    /// The text of the main part of the page now.
    fn main_text(&self) -> String {
        self.browser.find("main").text()
    }

    /// The names of the mirrors the list now shows, in order.
    fn listed_mirrors(&self) -> Vec<String> {
        let v = self.browser.execute(
            r#"return [...document.querySelectorAll("main table tbody tr")]
                 .map((r) => r.querySelector("a[href^='/admin/mirrors/']"))
                 .filter((a) => a).map((a) => a.textContent.trim());"#,
            &[],
        );
        v.as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|s| s.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// A screenshot of the current page as `pages/SCREEN/NAME.png`.
fn shoot(browser: &Browser, screen: &str, path: &str) {
    let name: String = path
        .trim_start_matches('/')
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let name = if name.is_empty() {
        "root".to_string()
    } else {
        name
    };
    browser.screenshot(format!("pages/{screen}/{name}.png"));
}

/// Waits until the bounce goes to a mirror (sentry has found the files).
fn wait_for_bounce(server: &Server) {
    let target = format!("/?product={PRODUCT}&os=win&lang=de&print=yes");
    let got = poll(PROMPT, Duration::from_millis(200), || {
        let r = server.get(&target);
        (r.status == 200 && r.body.starts_with("http://")).then_some(())
    });
    assert!(
        got.is_some(),
        "{target} never went to a mirror: {:?}\n{}",
        server.get(&target),
        server.log()
    );
}

#[test]
fn every_page_fits_every_screen_at_scale() {
    let Some(browser) = Browser::start_or_skip() else {
        return;
    };
    let (files, sums) = release();
    let alpha = Mirror::start(&files, Behaviour::Healthy);
    let charlie = Mirror::start(&files, Behaviour::Broken);
    let empty = Mirror::start(&Arc::new(BTreeMap::new()), Behaviour::Healthy);
    // A small network first, checked by the start-up run; then the big
    // one around it, unchecked (a start-up run over all of it would take
    // minutes).
    let env = Env::new();
    let sums_file = env.temp_dir().join("SHA256SUMS");
    std::fs::write(&sums_file, &sums).unwrap();
    env.ok(&[
        "load",
        sums_file.to_str().unwrap(),
        "--product",
        PRODUCT,
        "--prefix",
        PREFIX,
    ]);
    env.ok(&[
        "region",
        "add",
        "africa-and-europe",
        "--continent",
        "AF",
        "--continent",
        "EU",
    ]);
    let bravo = alpha.url.replace("127.0.0.1", "localhost");
    for (name, url, extra) in [
        (
            "alpha",
            alpha.url.as_str(),
            &["--region", "africa-and-europe"][..],
        ),
        ("bravo", bravo.as_str(), &[][..]),
        ("charlie", charlie.url.as_str(), &[][..]),
        ("delta", "http://127.0.0.1:1", &[][..]),
        ("echo", UNRESOLVABLE, &["--inactive"][..]),
    ] {
        let mut args = vec!["mirror", "add", name, url];
        args.extend_from_slice(extra);
        env.ok(&args);
    }
    env.add_user_with(ADMIN.0, "admin", ADMIN.1);
    env.add_user_with(VIEWER.0, "viewer", VIEWER.1);
    let server = env.serve_with_sentry_on_demand(&["--check-timeout", "2"]);
    wait_for_bounce(&server);
    let exported: Value = serde_json::from_str(&env.ok(&["export"])).expect("an export");
    let doc = env.temp_dir().join("network.json");
    std::fs::write(&doc, grown(exported, &empty.url, &charlie.url).to_string()).unwrap();
    env.ok(&["import", "--replace", doc.to_str().unwrap()]);

    let pages = Pages {
        browser: &browser,
        base: server.url(""),
    };
    pages.log_in(ADMIN);
    // The newest run's report, linked from the list of runs.
    browser.goto(&pages.url("/admin/reports"));
    let newest_report = browser
        .find("main table tbody a[href^='/admin/reports/']")
        .attr("href")
        .expect("a link to the newest report");
    let mut admin_paths: Vec<String> = [
        "/admin/",
        "/admin/products",
        "/admin/products?page=2",
        "/admin/products/firefox-120.0",
        "/admin/products/product-0001",
        "/admin/mirrors",
        "/admin/mirrors?state=down",
        "/admin/mirrors?per=500",
        "/admin/mirrors/alpha",
        "/admin/mirrors/charlie",
        "/admin/mirrors/delta",
        "/admin/mirrors/mirror-005.university-of-somewhere.example",
        "/admin/availability",
        "/admin/availability?product=firefox-120.0",
        "/admin/availability?mirror=alpha",
        "/admin/regions",
        "/admin/regions/africa-and-europe",
        "/admin/geoip",
        "/admin/oses",
        "/admin/loader",
        "/admin/reports",
        "/admin/stats",
        "/admin/audit",
        "/admin/users",
        "/admin/users/vera",
    ]
    .iter()
    .map(|p| p.to_string())
    .collect();
    admin_paths.push(newest_report);
    let public_paths = [
        "/download",
        "/mirrors",
        "/stats",
        "/download?product=firefox-120.0",
    ];

    // Every page at both sizes, as an admin, in light colours.
    let mut problems = Vec::new();
    for (screen, width, height) in SCREENS {
        browser.set_window_size(width, height);
        for path in admin_paths.iter().map(String::as_str).chain(public_paths) {
            problems.extend(pages.check(path, screen).0);
            shoot(&browser, screen, path);
        }
    }

    // Dark mode renders dark, and keeps the contrast.
    browser.prefer_color_scheme("dark");
    browser.set_window_size(SCREENS[0].1, SCREENS[0].2);
    for path in [
        "/admin/",
        "/admin/mirrors",
        "/admin/mirrors/alpha",
        "/download",
        "/mirrors",
    ] {
        let (found, background) = pages.check(path, "dark");
        problems.extend(found);
        let c: Vec<f64> = background
            .trim_start_matches(|c: char| !c.is_ascii_digit())
            .split(|c: char| !c.is_ascii_digit() && c != '.')
            .filter_map(|n| n.parse().ok())
            .collect();
        if c.len() < 3 || c[..3].iter().any(|v| *v >= 80.0) {
            problems.push(format!("dark {path}: a light background, {background}"));
        }
        shoot(&browser, "dark", path);
    }
    browser.prefer_color_scheme("light");
    assert!(
        problems.is_empty(),
        "{} problems:\n{}",
        problems.len(),
        problems.join("\n")
    );

    // The mirrors list: paged, searched, filtered and sorted on the server.
    browser.set_window_size(SCREENS[0].1, SCREENS[0].2);
    browser.goto(&pages.url("/admin/mirrors"));
    let first = pages.listed_mirrors();
    assert_eq!(
        first.len(),
        50,
        "one page of 50 of {MIRRORS} mirrors: {first:?}"
    );
    assert!(
        pages
            .main_text()
            .contains(&format!("1–50 of {MIRRORS} mirrors")),
        "{}",
        pages.main_text()
    );
    browser.goto(&pages.url("/admin/mirrors?page=4"));
    let last = pages.listed_mirrors();
    assert_eq!(last.len(), 50, "the fourth page: {last:?}");
    assert!(
        last.iter().all(|m| !first.contains(m)),
        "pages overlap: {first:?} / {last:?}"
    );
    browser.goto(&pages.url("/admin/mirrors?q=MIRROR-01"));
    let found = pages.listed_mirrors();
    assert_eq!(found.len(), 10, "mirror-010 … mirror-019: {found:?}");
    assert!(
        found.iter().all(|m| m.starts_with("mirror-01")),
        "{found:?}"
    );
    browser.goto(&pages.url("/admin/mirrors?state=disabled&per=500"));
    let disabled = pages.listed_mirrors();
    // Switched off and rated 0 alike: out of rotation.
    let expected = 1 + (5..MIRRORS).filter(|i| i % 10 == 0 || i % 25 == 0).count();
    assert_eq!(
        disabled.len(),
        expected,
        "echo and every tenth or 25th numbered mirror: {disabled:?}"
    );
    assert!(disabled.contains(&"echo".to_string()), "{disabled:?}");
    browser.goto(&pages.url("/admin/mirrors?state=up&per=500"));
    let up = pages.listed_mirrors();
    assert!(
        up.contains(&"alpha".to_string()) && up.contains(&"bravo".to_string()),
        "{up:?}"
    );
    assert!(
        !up.iter()
            .any(|m| m == "charlie" || m == "delta" || m == "echo"),
        "{up:?}"
    );
    browser.goto(&pages.url("/admin/mirrors?sort=-name"));
    let sorted = pages.listed_mirrors();
    let mut expected = sorted.clone();
    expected.sort_by_key(|m| std::cmp::Reverse(m.to_lowercase()));
    assert_eq!(sorted, expected, "sorted by name, descending");
    assert_eq!(
        sorted.first().map(String::as_str),
        Some("mirror-199.university-of-somewhere.example")
    );

    // The matrix of one product with 200 mirrors: the live ones first, the
    // switched-off ones hidden.
    browser.goto(&pages.url("/admin/availability?product=firefox-120.0"));
    let text = pages.main_text();
    let alpha_at = text.find("alpha").expect("alpha in the matrix");
    let numbered_at = text.find("mirror-").unwrap_or(usize::MAX);
    assert!(
        alpha_at < numbered_at,
        "a live mirror comes before the numbered ones:\n{text}"
    );
    assert!(
        !text.contains("echo"),
        "a switched-off mirror is hidden by default:\n{text}"
    );

    // A viewer reads every admin page and finds nothing to submit.
    let viewer = Browser::start();
    let as_viewer = Pages {
        browser: &viewer,
        base: server.url(""),
    };
    as_viewer.log_in(VIEWER);
    let mut changes = Vec::new();
    for path in &admin_paths {
        viewer.goto(&as_viewer.url(path));
        let forms = viewer.execute(CHANGES, &[]);
        for f in forms.as_array().into_iter().flatten() {
            changes.push(format!("{path}: {}", f.as_str().unwrap_or("")));
        }
        if path == "/admin/mirrors/alpha" {
            assert!(
                as_viewer.main_text().contains("Read-only"),
                "a viewer is told the page is read-only:\n{}",
                as_viewer.main_text()
            );
        }
    }
    assert!(
        changes.is_empty(),
        "a viewer's pages have forms that change things:\n{}",
        changes.join("\n")
    );
}
