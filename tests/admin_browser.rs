//! SPEC §4 in a real browser: headless Chromium (see `common::webdriver`)
//! drives the admin pages of the real `bouncer serve`, with sentry on and
//! a real test mirror on 127.0.0.1 (see `common::mirror`) serving a real
//! release.
//!
//! - The operator's main flow, in one test: log in, add a mirror through
//!   the form, load a SHA256SUMS file through the loader (preview, apply),
//!   watch sentry find the files, read the newest report, see the bounce
//!   go to the mirror, log out.
//! - A tour of every section on a populated network, screenshotting each
//!   page under `screenshot_dir()/admin/` for a human to look at.
//! - On every admin page visited: no inline scripts, styles or event
//!   handlers (the Content-Security-Policy forbids them), every POST form
//!   carries the session's CSRF token, and no section answers "not built
//!   yet".
//!
//! Every wait is bounded (`Browser::find`/`wait_for`, `common::poll`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::common::mirror::{Behaviour, Files, Mirror, UNRESOLVABLE};
use crate::common::webdriver::{Browser, Element, screenshot_dir};
use crate::common::{Env, Server, poll, sha256_hex};

const USER: &str = "admin";
const PASSWORD: &str = "correct horse battery staple";
const PRODUCT: &str = "firefox-120.0";
const PREFIX: &str = "/pub/firefox/releases/120.0";
const LANGS: [&str; 2] = ["de", "fr"];
/// (platform directory in the release, the OS the loader maps it to, file).
const BUILDS: [(&str, &str, &str); 2] = [
    ("win32", "win", "Firefox Setup 120.0.exe"),
    ("linux-x86_64", "linux64", "firefox-120.0.tar.bz2"),
];
/// Sentry's flags besides its schedule, which is
/// [`Env::serve_with_sentry_on_demand`]'s: nothing periodic.
const SENTRY: [&str; 2] = ["--check-timeout", "2"];
/// How long sentry and the download counters may take.
const PROMPT: Duration = Duration::from_secs(30);
/// Most screenshots taken of one long page (scrolled a viewport at a time).
const MAX_PARTS: usize = 4;
/// What a section still being written answers.
const STUB: &str = "This page is not built yet.";

// ----- the release the test mirror serves -----

/// A file's path on the mirrors, as in URLs (spaces encoded).
fn url_path(platform: &str, lang: &str, file: &str) -> String {
    format!("{PREFIX}/{platform}/{lang}/{}", file.replace(' ', "%20"))
}

/// The release's files by URL path, and its SHA256SUMS (paths relative to
/// [`PREFIX`], hashes of those very files).
fn release() -> (Files, String) {
    let mut files = BTreeMap::new();
    let mut sums = String::new();
    for (i, (platform, _, file)) in BUILDS.iter().enumerate() {
        for (j, lang) in LANGS.iter().enumerate() {
            let content = format!("{platform} build of {PRODUCT}, {lang}\n")
                .repeat(40 + 5 * i + j)
                .into_bytes();
            sums.push_str(&format!(
                "{}  {platform}/{lang}/{file}\n",
                sha256_hex(&content)
            ));
            files.insert(url_path(platform, lang, file), content);
        }
    }
    (Arc::new(files), sums)
}

/// The bounce for Windows in `lang`, answered with the URL as text.
fn bounce(lang: &str) -> String {
    format!("/?product={PRODUCT}&os=win&lang={lang}&print=yes")
}

/// Writes the SHA256SUMS into `dir`; its path.
fn write_sums(dir: &Path, sums: &str) -> PathBuf {
    let path = dir.join("SHA256SUMS");
    std::fs::write(&path, sums).expect("write SHA256SUMS");
    path
}

/// `bouncer user add admin --role admin`, password on stdin.
fn add_admin(env: &Env) {
    env.add_user_with(USER, "admin", PASSWORD);
}

/// Logs the time a step took since the test began (`cargo test -- --nocapture`).
fn step(started: Instant, what: &str) {
    eprintln!("[{:6.2}s] {what}", started.elapsed().as_secs_f64());
}

// ----- looking at pages -----

/// The admin pages of one server, in one browser.
struct Admin<'b> {
    browser: &'b Browser,
    base: String,
    /// GET forms seen (filters): `<page>: <form>`. Reported, not failed: a
    /// CSRF token in a GET form would put it in URLs.
    get_forms: std::cell::RefCell<std::collections::BTreeSet<String>>,
}

/// What is wrong with the page's markup for the CSP and CSRF rules, and
/// its GET forms; `status` is the HTTP status of the page's load.
const INSPECT: &str = r#"
const cut = (e) => e.outerHTML.replace(/\s+/g, " ").slice(0, 300);
const problems = [];
for (const s of document.querySelectorAll("script"))
  if (!s.getAttribute("src")) problems.push("inline script: " + cut(s));
for (const s of document.querySelectorAll("style"))
  problems.push("inline style element: " + cut(s));
for (const e of document.querySelectorAll("[style]"))
  problems.push("inline style attribute: " + cut(e));
for (const e of document.querySelectorAll("*"))
  for (const a of e.attributes)
    if (a.name.toLowerCase().startsWith("on")) problems.push("inline event handler: " + cut(e));
for (const a of document.querySelectorAll("a[href]"))
  if (a.getAttribute("href").trim().toLowerCase().startsWith("javascript:"))
    problems.push("javascript: link: " + cut(a));
const gets = [];
for (const f of document.forms) {
  const method = (f.getAttribute("method") || "get").toLowerCase();
  const token = f.querySelector("input[type=hidden][name=csrf]");
  if (method === "post") {
    if (!token || token.value.length < 16) problems.push("POST form without a CSRF token: " + cut(f));
    const action = new URL(f.action, location.href);
    if (action.origin !== location.origin || !action.pathname.startsWith("/admin/"))
      problems.push("form posting outside the admin: " + cut(f));
  } else {
    gets.push((token ? "[with csrf] " : "") + cut(f));
  }
}
const nav = performance.getEntriesByType("navigation")[0];
return {
  problems,
  gets,
  status: nav && nav.responseStatus ? nav.responseStatus : 0,
  text: document.body ? document.body.innerText : "",
};
"#;

impl<'b> Admin<'b> {
    fn new(browser: &'b Browser, server: &Server) -> Admin<'b> {
        Admin {
            browser,
            base: format!("http://127.0.0.1:{}", server.port),
            get_forms: Default::default(),
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Opens an admin page (path from `/admin`), which must load with
    /// `status` and pass [`Admin::inspect`].
    fn open_status(&self, path: &str, status: u16) {
        self.browser.goto(&self.url(path));
        self.inspect(status);
    }

    /// [`Admin::open_status`] for a 200 page.
    fn open(&self, path: &str) {
        self.open_status(path, 200);
    }

    /// Checks the page now shown: its status, not a stub, no inline
    /// scripts/styles/handlers, CSRF tokens in every POST form.
    fn inspect(&self, status: u16) {
        let b = self.browser;
        let found = b.execute(INSPECT, &[]);
        let url = b.url();
        let text = found["text"].as_str().unwrap_or("");
        assert!(
            !text.contains(STUB),
            "{url}: this admin section is not built yet"
        );
        let got = found["status"].as_u64().unwrap_or(0);
        assert_eq!(
            got,
            u64::from(status),
            "{url} answered {got}, expected {status}:\n{}",
            excerpt(text)
        );
        let problems = strings(&found["problems"]);
        assert!(
            problems.is_empty(),
            "{url} breaks the admin's markup rules:\n{}",
            problems.join("\n")
        );
        let path = url.strip_prefix(&self.base).unwrap_or(&url).to_string();
        for form in strings(&found["gets"]) {
            self.get_forms
                .borrow_mut()
                .insert(format!("{path}: {form}"));
        }
    }

    /// The text of `main` (the page without the header).
    fn main_text(&self) -> String {
        self.browser.find("main").text()
    }

    /// Waits until the browser is at `path` (from the server's root).
    fn wait_at(&self, path: &str) {
        let want = self.url(path);
        self.browser
            .wait_for(|b| b.url() == want, &format!("the browser to be at {want}"));
    }

    /// The flash message shown after a change.
    fn flash(&self) -> String {
        self.browser.find("main p.flash").text()
    }

    /// Follows the navigation bar's link to a section (`""` = overview)
    /// and waits for it to load.
    fn nav(&self, section: &str) {
        let href = format!("/admin/{section}");
        self.browser
            .find(&format!("header nav a[href=\"{href}\"]"))
            .click();
        self.wait_at(&href);
        self.inspect(200);
        let current = self.browser.find("header nav a.current");
        assert_eq!(
            current.attr("href").as_deref(),
            Some(href.as_str()),
            "the navigation does not mark {href} as the current section"
        );
    }

    /// Re-opens `path` until `done` holds, for at most [`PROMPT`].
    fn poll_page(&self, path: &str, what: &str, mut done: impl FnMut(&Admin<'_>) -> bool) {
        let ok = poll(PROMPT, Duration::from_millis(250), || {
            self.open(path);
            done(self).then_some(())
        });
        assert!(
            ok.is_some(),
            "{what}: not within {PROMPT:?}; {path} shows:\n{}",
            excerpt(&self.main_text())
        );
    }

    /// Logs in through the login form, starting from `/admin/`.
    fn log_in(&self) {
        let b = self.browser;
        self.browser.goto(&self.url("/admin/"));
        b.wait_for(
            |b| b.url().starts_with(&self.url("/admin/login?next=")),
            "the admin to ask for a login",
        );
        self.inspect(200);
        assert!(b.title().starts_with("Log in"), "{}", b.title());
        b.find("form.login input[name=user]").send_keys(USER);
        b.find("form.login input[name=password]")
            .send_keys(PASSWORD);
        b.find("form.login button[type=submit]").click();
        self.wait_at("/admin/");
        self.inspect(200);
        let session = b
            .cookies()
            .into_iter()
            .find(|(name, _, _)| name == "bouncer_session")
            .expect("a session cookie after login");
        assert!(session.2, "the session cookie is not HttpOnly");
    }

    /// Fills `name` in the form matching `form` with `value` (replacing
    /// what is there).
    fn fill(&self, form: &str, name: &str, value: &str) {
        let field = self.browser.find(&format!("{form} [name=\"{name}\"]"));
        field.clear();
        field.send_keys(value);
    }

    /// The submit button inside `scope` whose text is `text`.
    fn button(&self, scope: &str, text: &str) -> Element<'b> {
        let css = format!("{scope} button, {scope} input[type=submit]");
        let found = poll(
            crate::common::webdriver::WAIT,
            Duration::from_millis(50),
            || {
                self.browser.find_all(&css).into_iter().find(|e| {
                    let shown = e.text();
                    let shown = if shown.is_empty() {
                        e.attr("value").unwrap_or_default()
                    } else {
                        shown
                    };
                    shown.trim() == text
                })
            },
        );
        found.unwrap_or_else(|| {
            let all: Vec<String> = self
                .browser
                .find_all(&css)
                .iter()
                .map(Element::text)
                .collect();
            panic!(
                "no button {text:?} in `{scope}` at {}; buttons: {all:?}",
                self.browser.url()
            )
        })
    }

    /// Screenshots the page as `admin/NAME.png`, and when it is taller
    /// than the window, further parts `admin/NAME-2.png`… a window apart
    /// (less the sticky header).
    fn shoot(&self, name: &str) -> Vec<PathBuf> {
        let b = self.browser;
        let dir = screenshot_dir().join("admin");
        // Parts left from an earlier, longer page would mislead.
        for part in 2..=MAX_PARTS {
            let _ = std::fs::remove_file(dir.join(format!("{name}-{part}.png")));
        }
        let size = b.execute(
            "return [document.documentElement.scrollHeight, window.innerHeight];",
            &[],
        );
        let height = size[0].as_f64().unwrap_or(0.0);
        let window = size[1].as_f64().unwrap_or(1.0).max(200.0);
        let step = window - 60.0;
        // A few pixels more than the window are not worth another picture.
        let hidden = height - window;
        let parts = if hidden < 150.0 {
            1
        } else {
            ((hidden / step).ceil() as usize + 1).min(MAX_PARTS)
        };
        let mut shots = Vec::new();
        for part in 0..parts {
            b.execute(&format!("window.scrollTo(0, {});", part as f64 * step), &[]);
            let file = if part == 0 {
                format!("admin/{name}.png")
            } else {
                format!("admin/{name}-{}.png", part + 1)
            };
            shots.push(b.screenshot(file));
        }
        b.execute("window.scrollTo(0, 0);", &[]);
        shots
    }
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|s| s.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

fn excerpt(text: &str) -> String {
    text.chars().take(3000).collect()
}

/// The bounce's answer once it is a mirror's URL (bounded).
fn wait_for_bounce(server: &Server, target: &str, want: &str) {
    let got = poll(PROMPT, Duration::from_millis(100), || {
        let r = server.get(target);
        (r.status == 200 && r.body.trim_end() == want).then_some(())
    });
    if got.is_none() {
        let r = server.get(target);
        panic!(
            "{target} never answered {want} within {PROMPT:?}; now: {r:?}\nserver log:\n{}",
            server.log()
        );
    }
}

/// `status list --product PRODUCT`: rows (os, mirror, present?).
fn statuses(env: &Env) -> Vec<(String, String, bool)> {
    env.ok(&["status", "list", "--product", PRODUCT])
        .lines()
        .skip(1)
        .map(|line| {
            let cells: Vec<&str> = line.split_whitespace().collect();
            (
                cells[1].to_string(),
                cells[2].to_string(),
                cells[3] == "present",
            )
        })
        .collect()
}

// ----- the tests -----

#[test]
fn an_operator_adds_a_mirror_loads_a_release_and_it_is_served() {
    let Some(browser) = Browser::start_or_skip() else {
        return;
    };
    let started = Instant::now();
    let (files, sums) = release();
    let mirror = Mirror::start(&files, Behaviour::Healthy);
    let env = Env::new();
    add_admin(&env);
    let server = env.serve_with_sentry_on_demand(&SENTRY);
    let admin = Admin::new(&browser, &server);
    let b = &browser;
    step(started, "server, mirror and browser up");

    // Log in; the overview shows.
    admin.log_in();
    assert_eq!(b.find("header nav a.current").text(), "Overview");
    assert_eq!(figure(&admin, "mirrors up"), "0");
    assert_eq!(figure(&admin, "mirrors unchecked"), "0");
    step(started, "logged in; overview shown");

    // Add the mirror through the form.
    admin.nav("mirrors");
    assert!(
        !b.exists("main table a[href=\"/admin/mirrors/alpha\"]"),
        "{}",
        admin.main_text()
    );
    let form = "main form[action=\"/admin/mirrors\"]";
    // The form is folded above the list until asked for.
    b.find("main details.card > summary").click();
    admin.fill(form, "name", "alpha");
    admin.fill(form, "base_url", &mirror.url);
    admin.fill(form, "rating", "80");
    admin.button(form, "Add mirror").click();
    admin.wait_at("/admin/mirrors/alpha");
    admin.inspect(200);
    assert!(
        admin.flash().starts_with("Added mirror alpha."),
        "{}",
        admin.flash()
    );
    let heading = b.find("main h1").text();
    assert!(heading.starts_with("Mirror alpha"), "{heading}");
    admin.shoot("flow-mirror-added");
    step(started, "mirror added through the form");

    // It is in the list, with its URL and rating.
    admin.nav("mirrors");
    let link = b.find("main table a[href=\"/admin/mirrors/alpha\"]");
    assert_eq!(link.text(), "alpha");
    let row = b
        .find("main table tbody tr:has(a[href=\"/admin/mirrors/alpha\"])")
        .text();
    assert!(row.contains(&mirror.url), "{row}");
    assert!(row.split_whitespace().any(|c| c == "80"), "{row}");
    // Sentry checks the new mirror within seconds.
    admin.poll_page("/admin/mirrors", "sentry finds alpha up", |a| {
        a.browser.exists("main table td .badge.good")
    });
    step(started, "mirror listed and checked up");

    // The overview counts it.
    admin.nav("");
    assert_eq!(figure(&admin, "mirrors up"), "1");
    assert_eq!(figure(&admin, "mirrors down"), "0");
    step(started, "overview counts the mirror");

    // Nothing is served yet.
    assert_eq!(server.get(&bounce("de")).status, 404);

    // Upload the release's SHA256SUMS; the preview shows the plan.
    let dir = tempfile::tempdir().expect("create a temporary directory");
    let sums_file = write_sums(dir.path(), &sums);
    admin.nav("loader");
    upload_checksums(&admin, &sums_file, PRODUCT, PREFIX);
    admin.inspect(200);
    assert!(
        !b.exists("main p.flash.error"),
        "the loader refused the file:\n{}",
        admin.main_text()
    );
    assert_eq!(b.find("main h1").text(), "Preview: SHA256SUMS");
    let preview = admin.main_text();
    for want in [
        format!("Product {PRODUCT} will be created"),
        "new languages: de, fr".to_string(),
        format!("{PREFIX}/win32/:lang/Firefox%20Setup%20120.0.exe"),
        format!("{PREFIX}/linux-x86_64/:lang/firefox-120.0.tar.bz2"),
    ] {
        assert!(
            preview.contains(&want),
            "no {want:?} in the preview:\n{preview}"
        );
    }
    assert_eq!(figure(&admin, "new locations"), "2");
    assert_eq!(figure(&admin, "new files"), "4");
    assert_eq!(figure(&admin, "lines skipped"), "0");
    admin.shoot("flow-loader-preview");
    // A preview writes nothing.
    assert_eq!(server.get(&bounce("de")).status, 404);
    step(started, "loader preview shown");

    // Apply it; the result says what was added.
    admin
        .button("main form[action=\"/admin/loader/apply\"]", "Apply")
        .click();
    admin.wait_at("/admin/loader/apply");
    admin.inspect(200);
    assert_eq!(b.find("main h1").text(), "Loaded: SHA256SUMS");
    let result = admin.flash();
    assert!(
        result.starts_with(
            "Applied: 1 product created, 2 languages, 2 locations, 4 files added or updated."
        ),
        "{result}"
    );
    admin.shoot("flow-loader-applied");
    let code = server.get(&bounce("de")).status;
    assert!(
        code == 503 || code == 200,
        "after applying, the bounce answers {code}"
    );
    step(started, "loader plan applied");

    // Sentry checks the new locations within seconds.
    let found = poll(PROMPT, Duration::from_millis(200), || {
        let rows = statuses(&env);
        (rows.len() == 2 && rows.iter().all(|(_, m, present)| m == "alpha" && *present))
            .then_some(rows)
    });
    assert!(
        found.is_some(),
        "sentry did not find alpha's files within {PROMPT:?}: {:?}\n{}",
        statuses(&env),
        server.log()
    );
    admin.open(&format!("/admin/availability?product={PRODUCT}"));
    assert_eq!(
        b.find_all("main table.matrix tbody .cell.good").len(),
        2,
        "{}",
        admin.main_text()
    );
    assert!(!b.exists("main table.matrix .cell.bad"));
    step(started, "sentry found the files; availability shows them");

    // The newest sentry report.
    admin.nav("reports");
    let newest = newest_report_link(&admin);
    newest.click();
    b.wait_for(|b| b.exists("main div.report"), "the report, inline");
    admin.inspect(200);
    assert!(!b.exists("iframe"), "no frame");
    let h1 = b.find("main h1").text();
    assert!(h1.starts_with("Sentry run "), "{h1}");
    let report = b.find("main div.report").text();
    // alpha is up and has all four files.
    let row: Vec<&str> = report
        .lines()
        .find(|l| l.starts_with("alpha"))
        .unwrap_or_else(|| panic!("no row for alpha in the report:\n{report}"))
        .split_whitespace()
        .collect();
    assert!(row.contains(&"up"), "{row:?}");
    assert!(row.ends_with(&["4", "0", "0"]), "{row:?}");
    step(started, "newest report shown");

    // The bounce goes to the test mirror.
    for lang in LANGS {
        let (platform, _, file) = BUILDS[0];
        wait_for_bounce(
            &server,
            &bounce(lang),
            &format!("{}{}", mirror.url, url_path(platform, lang, file)),
        );
    }
    step(started, "bounces answer the mirror's URLs");

    // Log out with the header's button; the admin asks for a login again.
    admin.open("/admin/");
    admin.button("header form.who", "Log out").click();
    b.wait_for(
        |b| b.url().starts_with(&admin.url("/admin/login")),
        "logging out to lead to the login page",
    );
    assert!(
        !b.cookies().iter().any(|(n, _, _)| n == "bouncer_session"),
        "{:?}",
        b.cookies()
    );
    b.goto(&admin.url("/admin/"));
    b.wait_for(
        |b| b.url().starts_with(&admin.url("/admin/login?next=")),
        "/admin/ to go to the login page after logging out",
    );
    assert!(b.exists("form.login"));
    step(started, "logged out");
    report_get_forms(&admin);
    drop(mirror);
}

/// The figure (`.stat` card) labelled `label` (the start of its label).
fn figure(admin: &Admin<'_>, label: &str) -> String {
    let b = admin.browser;
    let stats: Vec<(String, String)> = b
        .find_all("main .stat")
        .iter()
        .map(|s| {
            let value = s.find_all(".value");
            let label = s.find_all(".label");
            (
                value.first().map(Element::text).unwrap_or_default(),
                label.first().map(Element::text).unwrap_or_default(),
            )
        })
        .collect();
    stats
        .iter()
        .find(|(_, l)| l.starts_with(label))
        .map(|(v, _)| v.trim().to_string())
        .unwrap_or_else(|| panic!("no figure {label:?} on {}: {stats:?}", b.url()))
}

/// Uploads `file` in the loader's form (which must be shown) for
/// `product` under `prefix`, and waits for the preview.
fn upload_checksums(admin: &Admin<'_>, file: &Path, product: &str, prefix: &str) {
    let b = admin.browser;
    let form = "main form[action=\"/admin/loader/preview\"]";
    b.find(&format!("{form} input[type=file][name=file]"))
        .upload(file);
    admin.fill(form, "product", product);
    admin.fill(form, "prefix", prefix);
    admin.button(form, "Preview").click();
    admin.wait_at("/admin/loader/preview");
    b.wait_for(
        |b| b.find("main h1").text().starts_with("Preview: "),
        "the loader's preview",
    );
}

/// The link to the newest run on the reports list.
fn newest_report_link<'b>(admin: &Admin<'b>) -> Element<'b> {
    let b = admin.browser;
    b.find("main a[href^=\"/admin/reports/\"]");
    let links = b.find_all("main a[href^=\"/admin/reports/\"]");
    let number = |e: &Element<'_>| -> u64 {
        let href = e.attr("href").unwrap_or_default();
        href.rsplit('/')
            .find(|s| !s.is_empty())
            .map(|s| s.chars().filter(char::is_ascii_digit).collect::<String>())
            .and_then(|s| s.parse().ok())
            .unwrap_or(0)
    };
    links.into_iter().max_by_key(number).expect("a report link")
}

fn report_get_forms(admin: &Admin<'_>) {
    let forms = admin.get_forms.borrow();
    if !forms.is_empty() {
        let forms: Vec<&str> = forms.iter().map(String::as_str).collect();
        eprintln!(
            "GET forms seen (no CSRF token needed, none wanted in URLs):\n  {}",
            forms.join("\n  ")
        );
    }
}

/// A network with a loaded release, three mirrors in three states,
/// regions, downloads and sentry reports; every section screenshotted.
#[test]
fn every_admin_page_renders_and_is_screenshotted() {
    let Some(browser) = Browser::start_or_skip() else {
        return;
    };
    let started = Instant::now();
    let (files, sums) = release();
    let alpha = Mirror::start(&files, Behaviour::Healthy);
    let bravo = Mirror::start(&files, Behaviour::Broken);
    let env = Env::new();
    add_admin(&env);
    let dir = tempfile::tempdir().expect("create a temporary directory");
    let sums_file = write_sums(dir.path(), &sums);
    let sums_path = sums_file.to_str().expect("a UTF-8 path");
    env.ok(&["load", sums_path, "--product", PRODUCT, "--prefix", PREFIX]);
    env.ok(&[
        "mirror",
        "add",
        "alpha",
        &alpha.url,
        "--contact",
        "ops@alpha.example",
    ]);
    env.ok(&["mirror", "add", "bravo", &bravo.url, "--rating", "50"]);
    env.ok(&["mirror", "add", "charlie", UNRESOLVABLE, "--inactive"]);
    env.ok(&["alias", "set", "firefox-latest", PRODUCT]);
    let server = env.serve_with_sentry_on_demand(&SENTRY);
    let admin = Admin::new(&browser, &server);
    let b = &browser;
    step(started, "network loaded, server up");

    // The start-up run checks every never-checked mirror.
    let (platform, _, file) = BUILDS[0];
    wait_for_bounce(
        &server,
        &bounce("de"),
        &format!("{}{}", alpha.url, url_path(platform, "de", file)),
    );
    // Some downloads for the statistics.
    for lang in LANGS {
        for (_, os, _) in BUILDS {
            for _ in 0..3 {
                server.get_redirect(&format!("/?product={PRODUCT}&os={os}&lang={lang}"));
            }
        }
    }
    env.poll_stats(PROMPT, |s| s.total >= 12);
    step(started, "mirrors checked, downloads counted");

    // The login page, then a wrong password.
    b.goto(&admin.url("/admin/login"));
    admin.inspect(200);
    admin.shoot("login");
    b.find("form.login input[name=user]").send_keys(USER);
    b.find("form.login input[name=password]")
        .send_keys("wrong password");
    b.find("form.login button[type=submit]").click();
    b.wait_for(|b| b.exists("form.login p.flash.error"), "the login error");
    admin.inspect(401);
    admin.shoot("login-wrong-password");
    admin.log_in();

    // Regions, made through the forms.
    admin.nav("regions");
    let form = "main form[action=\"/admin/regions\"]";
    admin.fill(form, "name", "Europe");
    admin.fill(form, "countries", "DE AT CH FR");
    admin.button(form, "Add region").click();
    admin.wait_at("/admin/regions/Europe");
    admin.inspect(200);
    admin.nav("regions");
    admin.fill(form, "name", "Americas");
    admin.fill(form, "countries", "US CA");
    b.find(&format!("{form} select[name=fallback]"))
        .select_option("Europe");
    admin.button(form, "Add region").click();
    admin.wait_at("/admin/regions/Americas");
    admin.inspect(200);
    admin.shoot("region");
    // alpha serves Europe.
    admin.open("/admin/mirrors/alpha");
    b.find("main form.stack input[name=region][value=Europe]")
        .click();
    admin.button("main form.stack", "Save").click();
    b.wait_for(|b| b.exists("main p.flash"), "the mirror to be saved");
    admin.inspect(200);
    step(started, "regions added through the forms");

    // Another user, through the form.
    admin.nav("users");
    let form = "main form[action=\"/admin/users\"]";
    admin.fill(form, "name", "rita");
    b.find(&format!("{form} select[name=role] option[value=release]"))
        .click();
    admin.fill(form, "password", "a long enough password");
    admin.fill(form, "repeat", "a long enough password");
    admin.button(form, "Add user").click();
    b.wait_for(|b| b.exists("main p.flash"), "the user to be added");
    admin.inspect(200);
    assert!(!b.exists("main p.flash.error"), "{}", admin.main_text());
    step(started, "user added through the form");

    // Every section.
    admin.open("/admin/");
    admin.shoot("overview");
    admin.open("/admin/mirrors");
    assert!(b.exists("main .badge.good"), "{}", admin.main_text());
    assert!(b.exists("main .badge.bad"), "{}", admin.main_text());
    assert!(b.exists("main .badge.off"), "{}", admin.main_text());
    admin.shoot("mirrors");
    admin.open("/admin/mirrors/alpha");
    admin.shoot("mirror-alpha-up");
    admin.open("/admin/mirrors/bravo");
    admin.shoot("mirror-bravo-down");
    admin.open("/admin/products");
    admin.shoot("products");
    admin.open(&format!("/admin/products/{PRODUCT}"));
    admin.shoot("product");
    admin.open("/admin/availability");
    admin.shoot("availability");
    admin.open(&format!("/admin/availability?product={PRODUCT}"));
    admin.shoot("availability-product-matrix");
    admin.open("/admin/availability?mirror=bravo");
    admin.shoot("availability-mirror-bravo");
    admin.open("/admin/regions");
    admin.shoot("regions");
    admin.open("/admin/geoip");
    admin.shoot("geoip");
    admin.open("/admin/geoip?ip=192.0.2.1");
    admin.shoot("geoip-lookup");
    admin.open("/admin/oses");
    admin.shoot("systems");
    admin.open("/admin/oses/win");
    admin.shoot("system-win");
    admin.open("/admin/users");
    admin.shoot("users");
    admin.open("/admin/users/rita");
    admin.shoot("user-rita");
    admin.open("/admin/stats");
    admin.shoot("stats");
    admin.open(&format!("/admin/stats?days=7&product={PRODUCT}"));
    admin.shoot("stats-product-7-days");
    // The CSV export, fetched with the browser's session (the page's
    // CSP forbids fetch()).
    let (_, session, _) = b
        .cookies()
        .into_iter()
        .find(|(name, _, _)| name == "bouncer_session")
        .expect("the session cookie");
    let csv = server.get_with(
        "/admin/stats/csv?by=product&days=7",
        &[("Cookie", &format!("bouncer_session={session}"))],
    );
    assert_eq!(csv.status, 200, "{csv:?}");
    assert!(
        csv.header("content-type")
            .unwrap_or("")
            .starts_with("text/csv"),
        "{csv:?}"
    );
    assert!(csv.body.contains(PRODUCT), "{csv:?}");
    admin.open("/admin/audit");
    admin.shoot("audit");
    admin.open("/admin/audit?actor=admin%3A");
    assert!(admin.main_text().contains("admin:admin"));
    admin.shoot("audit-filtered");
    step(started, "sections screenshotted");

    // Reports: the list, one inline, and its raw file.
    admin.open("/admin/reports");
    admin.shoot("reports");
    newest_report_link(&admin).click();
    b.wait_for(|b| b.exists("main div.report"), "the report, inline");
    admin.inspect(200);
    admin.shoot("report-inline");
    let src = b
        .find("main a[href^=\"/admin/reports/raw/\"]")
        .attr("href")
        .expect("the report file's link");
    b.goto(&admin.url(&src));
    assert!(b.find("h1").text().starts_with("Sentry run "));
    admin.shoot("report");
    // The start-up run: alpha's files found, bravo down.
    admin.open("/admin/reports/run-000001.html");
    admin.shoot("report-first-run-inline");
    b.goto(&admin.url("/admin/reports/raw/run-000001.html"));
    let report = b.find("body").text();
    assert!(
        report.contains("alpha") && report.contains("bravo"),
        "{report}"
    );
    admin.shoot("report-first-run");

    // The loader: the form; a preview of the release already loaded
    // (nothing to add); of the next release; of a file it cannot use.
    admin.open("/admin/loader");
    admin.shoot("loader");
    upload_checksums(&admin, &sums_file, PRODUCT, PREFIX);
    admin.inspect(200);
    assert!(
        admin.flash().starts_with("Nothing to add"),
        "{}",
        admin.main_text()
    );
    assert!(!b.exists("main form[action=\"/admin/loader/apply\"]"));
    admin.shoot("loader-preview-nothing-to-add");
    let next_dir = dir.path().join("next");
    std::fs::create_dir_all(&next_dir).expect("create a directory");
    let next_file = write_sums(&next_dir, &sums.replace("120.0", "121.0"));
    admin.open("/admin/loader");
    upload_checksums(
        &admin,
        &next_file,
        "firefox-121.0",
        "/pub/firefox/releases/121.0",
    );
    admin.inspect(200);
    assert!(b.exists("main form[action=\"/admin/loader/apply\"]"));
    admin.shoot("loader-preview");
    let junk = dir.path().join("junk").join("SHA256SUMS");
    std::fs::create_dir_all(junk.parent().unwrap()).expect("create a directory");
    std::fs::write(
        &junk,
        "not a checksum line\n0123  too/short.exe\n<script>alert(1)</script>\n",
    )
    .expect("write a junk file");
    admin.open("/admin/loader");
    upload_checksums(&admin, &junk, "firefox-junk", "");
    admin.inspect(422);
    assert!(b.exists("main p.flash.error"), "{}", admin.main_text());
    admin.shoot("loader-preview-unusable-file");
    step(started, "reports and loader screenshotted");

    // A form with a validation error keeps what was typed.
    admin.open("/admin/mirrors");
    let form = "main form[action=\"/admin/mirrors\"]";
    b.find("main details.card > summary").click();
    admin.fill(form, "name", "delta");
    admin.fill(form, "base_url", "ftp://delta.example/pub");
    admin.fill(form, "rating", "70");
    admin.button(form, "Add mirror").click();
    b.wait_for(|b| b.exists("main p.flash.error"), "the validation error");
    admin.inspect(422);
    assert_eq!(
        b.find(&format!("{form} input[name=base_url]")).value(),
        "ftp://delta.example/pub"
    );
    admin.shoot("validation-error-mirror");
    admin.open("/admin/products");
    let form = "main form[action=\"/admin/products\"]:has(input[name=do][value=add])";
    admin.fill(form, "name", "bad name with spaces");
    admin.button(form, "Add product").click();
    b.wait_for(|b| b.exists("main p.flash.error"), "the validation error");
    admin.inspect(422);
    admin.shoot("validation-error-product");

    // Not found.
    admin.open_status("/admin/mirrors/nobody", 404);
    admin.shoot("not-found");
    step(started, "errors screenshotted");
    report_get_forms(&admin);
    drop((alpha, bravo));
}
