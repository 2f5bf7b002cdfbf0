//! SPEC §6 in a real browser: headless Chromium (see `common::webdriver`)
//! uses the download form of the real `bouncer serve`, on a network of two
//! public products with different operating systems and languages, an
//! alias, a private product and a real test mirror (see `common::mirror`)
//! that serves every file and is marked present.
//!
//! - With JavaScript: choosing a product narrows the OS and language lists
//!   to exactly that product's; submitting ends at the mirror.
//! - Without JavaScript (a second browser): the lists hold everything, and
//!   an invalid combination is explained by the server.
//! - Screenshots of the form and of the explanation under
//!   `screenshot_dir()/public/` for a human to look at.
//!
//! Every wait is bounded (`Browser::find`/`wait_for`).

use crate::common::Env;
use crate::common::mirror::{Behaviour, Files, Mirror};
use crate::common::net::{self, expand};
use crate::common::webdriver::Browser;

const FIREFOX: &str = "firefox-120.0";
const ALIAS: &str = "firefox-latest";
const THUNDERBIRD: &str = "thunderbird-115.0";
const PRIVATE: &str = "secretbuild-2.0";
/// Chromium without JavaScript.
const NO_SCRIPT: &str = "--blink-settings=scriptEnabled=false";

/// (product, os, languages, path template) of every location.
const LOCATIONS: &[(&str, &str, &[&str], &str)] = &[
    (
        FIREFOX,
        "win64",
        &["en-US", "de", "fr"],
        "/pub/firefox/120.0/win64/:lang/Firefox-Setup-120.0.exe",
    ),
    (
        FIREFOX,
        "osx",
        &["en-US", "de", "fr"],
        "/pub/firefox/120.0/mac/:lang/Firefox-120.0.dmg",
    ),
    (
        THUNDERBIRD,
        "win",
        &["en-US", "it", "ja"],
        "/pub/thunderbird/115.0/win32/:lang/Thunderbird-Setup-115.0.exe",
    ),
    (
        THUNDERBIRD,
        "linux64",
        &["en-US", "it", "ja"],
        "/pub/thunderbird/115.0/linux-x86_64/:lang/thunderbird-115.0.tar.bz2",
    ),
    (
        PRIVATE,
        "android",
        &["de"],
        "/pub/secret/2.0/android/:lang/secret.apk",
    ),
];

/// Every file of every location, as the mirror serves it.
fn files() -> Files {
    net::files(
        LOCATIONS
            .iter()
            .flat_map(|(_, _, langs, template)| expand(template, langs)),
    )
}

/// The network, with `mirror` serving it and marked present everywhere.
fn network(mirror: &Mirror) -> Env {
    let env = Env::new();
    env.setup(&[
        &format!("product add {FIREFOX} --lang en-US --lang de --lang fr"),
        &format!("product add {THUNDERBIRD} --lang en-US --lang it --lang ja"),
        &format!("product add {PRIVATE} --lang de --private"),
    ]);
    for (product, os, _, template) in LOCATIONS {
        env.ok(&["location", "add", product, os, template]);
    }
    env.setup(&[
        &format!("alias set {ALIAS} {FIREFOX}"),
        &format!("mirror add m1 {}", mirror.url),
        "status set m1 present",
    ]);
    env
}

/// A browser started with `extra` Chromium arguments that saves downloads
/// in its own directory; `None` (with a line on stderr) where Chromium is
/// not installed, a failure instead under CI (see `Browser::start_or_skip`).
fn start(extra: &[&str]) -> Option<Browser> {
    if Browser::available() {
        Some(Browser::start_with_args(extra))
    } else {
        Browser::start_or_skip()
    }
}

/// Waits until the browser has fetched `path` from `mirror` and saved it
/// as `name` in its download directory with the mirror's content. (The
/// mirror's answer is a download, so the browser stays on the form: its
/// URL never becomes the mirror's.)
fn wait_for_download(browser: &Browser, mirror: &Mirror, path: &str, name: &str) {
    browser.wait_for(
        |_| mirror.seen().iter().any(|s| s.path == path),
        &format!("the browser to fetch {path} from the mirror"),
    );
    let fetched = mirror
        .seen()
        .into_iter()
        .find(|s| s.path == path)
        .expect("the request for the file");
    assert_eq!(fetched.method, "GET");
    assert!(
        fetched
            .user_agent
            .as_deref()
            .is_some_and(|ua| ua.contains("Chrome")),
        "not the browser: {fetched:?}"
    );
    let want = files()[path].clone();
    let saved = browser.download_dir().join(name);
    browser.wait_for(
        |_| std::fs::read(&saved).is_ok_and(|got| got == want),
        &format!("{} to be saved with the mirror's content", saved.display()),
    );
}

/// The values of the options of the select named `name`.
fn options(browser: &Browser, name: &str) -> Vec<String> {
    browser
        .find(&format!("form.download select[name={name}]"))
        .find_all("option")
        .iter()
        .map(|o| o.attr("value").unwrap_or_default())
        .collect()
}

/// The current value of the select named `name`.
fn value(browser: &Browser, name: &str) -> String {
    browser
        .find(&format!("form.download select[name={name}]"))
        .value()
}

/// Chooses the option labelled `label` in the select named `name`.
fn choose(browser: &Browser, name: &str, label: &str) {
    browser
        .find(&format!("form.download select[name={name}]"))
        .select_option(label);
}

/// Waits until the select named `name` offers exactly `want`.
fn wait_for_options(browser: &Browser, name: &str, want: &[&str]) {
    browser.wait_for(
        |b| options(b, name) == want,
        &format!("the {name} list to offer exactly {want:?}"),
    );
}

#[test]
fn the_download_form_narrows_the_choices_and_leads_to_a_mirror() {
    let Some(browser) = start(&[]) else {
        return;
    };
    let mirror = Mirror::start(&files(), Behaviour::Healthy);
    let env = network(&mirror);
    let server = env.serve(&[]);
    let base = format!("http://127.0.0.1:{}", server.port);

    // The script below runs under the public pages' policy.
    let r = server.get("/download");
    assert_eq!(r.status, 200, "{r:?}");
    let csp = r.header("content-security-policy").unwrap_or_default();
    assert!(csp.contains("script-src 'self';"), "{csp}");

    browser.goto(&format!("{base}/download"));
    assert_eq!(browser.title(), "Download");
    // The alias first; then the newest product; never the private one.
    assert_eq!(options(&browser, "product"), [ALIAS, THUNDERBIRD, FIREFOX]);
    assert_eq!(value(&browser, "product"), ALIAS);
    assert!(
        !browser.source().contains("secretbuild"),
        "the private product is in the page"
    );
    // The script narrowed the lists to Firefox's (without it they would
    // hold Thunderbird's too). Headless Chromium on Linux x86_64 prefers
    // linux64, which Firefox lacks, and the default (win) too: the first
    // offered is preselected.
    wait_for_options(&browser, "os", &["win64", "osx"]);
    wait_for_options(&browser, "lang", &["en-US", "fr", "de"]);
    assert_eq!(value(&browser, "os"), "win64");
    assert_eq!(value(&browser, "lang"), "en-US");
    browser.screenshot("public/download.png");

    // (1) Thunderbird: its OSes and languages only; the browser's OS
    // (linux64) now exists and is chosen, the language is kept.
    choose(&browser, "product", THUNDERBIRD);
    wait_for_options(&browser, "os", &["win", "linux64"]);
    wait_for_options(&browser, "lang", &["en-US", "it", "ja"]);
    assert_eq!(value(&browser, "os"), "linux64");
    assert_eq!(value(&browser, "lang"), "en-US");
    choose(&browser, "lang", "Japanese");
    browser.screenshot("public/download-thunderbird.png");

    // Back to Firefox: Japanese is not offered, so the browser's language.
    choose(&browser, "product", FIREFOX);
    wait_for_options(&browser, "os", &["win64", "osx"]);
    wait_for_options(&browser, "lang", &["en-US", "fr", "de"]);
    assert_eq!(value(&browser, "lang"), "en-US");

    // (2) Firefox for macOS in German: the bounce sends the browser to
    // the mirror.
    choose(&browser, "product", "firefox-latest (firefox-120.0)");
    choose(&browser, "os", "macOS");
    choose(&browser, "lang", "German");
    browser.find("form.download button[type=submit]").click();
    let file = "/pub/firefox/120.0/mac/de/Firefox-120.0.dmg";
    wait_for_download(&browser, &mirror, file, "Firefox-120.0.dmg");
    // The bounce the form led to, asked directly, names the same place.
    let r = server.get_redirect(&format!("/download?product={ALIAS}&os=osx&lang=de"));
    assert_eq!(r.location(), "/?product=firefox-latest&os=osx&lang=de");
    let r = server.get_redirect(r.location());
    assert_eq!(r.location(), format!("{}{file}", mirror.url));

    // The other public pages render for a human to look at; the private
    // product is on none of them.
    for (path, shot) in [
        ("/mirrors", "public/mirrors.png"),
        ("/stats", "public/stats.png"),
        (
            &format!("/stats?product={FIREFOX}&days=90"),
            "public/stats-product.png",
        ),
    ] {
        browser.goto(&format!("{base}{path}"));
        browser.find("main h1");
        assert!(!browser.source().contains("secretbuild"), "{path}");
        browser.screenshot(shot);
    }
}

#[test]
fn without_javascript_the_server_explains_what_is_not_available() {
    let Some(browser) = start(&[NO_SCRIPT]) else {
        return;
    };
    let mirror = Mirror::start(&files(), Behaviour::Healthy);
    let env = network(&mirror);
    let server = env.serve(&[]);
    let base = format!("http://127.0.0.1:{}", server.port);

    browser.goto(&format!("{base}/download"));
    assert_eq!(options(&browser, "product"), [ALIAS, THUNDERBIRD, FIREFOX]);
    // Nothing narrowed the lists: every OS and language of every product.
    assert_eq!(options(&browser, "os"), ["win64", "win", "osx", "linux64"]);
    assert_eq!(options(&browser, "lang"), ["en-US", "fr", "de", "it", "ja"]);
    assert!(
        browser
            .find("form.download noscript, form.download small")
            .text()
            .contains("We check your choice"),
        "no hint that the server checks the choice"
    );
    browser.screenshot("public/download-nojs.png");

    // (3) Thunderbird for macOS in German: neither exists.
    choose(&browser, "product", THUNDERBIRD);
    choose(&browser, "os", "macOS");
    choose(&browser, "lang", "German");
    browser.find("form.download button[type=submit]").click();
    browser.wait_for(
        |b| b.url().contains("product=thunderbird-115.0"),
        "the form to be submitted",
    );
    assert_eq!(browser.title(), "Not available — Download");
    let problems: Vec<String> = browser
        .find_all("p.problem")
        .iter()
        .map(|p| p.text())
        .collect();
    assert_eq!(
        problems,
        [
            "thunderbird-115.0 is not available for macOS; it is available for: Windows 32-bit, Linux 64-bit.",
            "thunderbird-115.0 is not available in German; it is available in: English (US), Italian, Japanese.",
        ]
    );
    // The form again, the product kept; OS and language replaced by ones
    // that exist (the browser's where offered).
    assert_eq!(value(&browser, "product"), THUNDERBIRD);
    assert_eq!(value(&browser, "os"), "linux64");
    assert_eq!(value(&browser, "lang"), "en-US");
    browser.screenshot("public/not-available.png");
    // Answered 422 (asked again without the browser: no script to ask it).
    let url = browser.url();
    let r = server.get(url.strip_prefix(&base).expect("still on this server"));
    assert_eq!(r.status, 422, "{r:?}");

    // Submitting what is now selected works without JavaScript too.
    browser.find("form.download button[type=submit]").click();
    wait_for_download(
        &browser,
        &mirror,
        "/pub/thunderbird/115.0/linux-x86_64/en-US/thunderbird-115.0.tar.bz2",
        "thunderbird-115.0.tar.bz2",
    );
}
