//! A real browser (headless Chromium through WebDriver) against the real
//! server: the page a browser gets for a download Bouncer does not have,
//! and a check of the WebDriver client the browser tests rely on.

use serde_json::json;

use crate::common::Env;
use crate::common::webdriver::Browser;

/// PNG's 8-byte signature.
const PNG_SIGNATURE: &[u8] = b"\x89PNG\r\n\x1a\n";

#[test]
fn a_browser_gets_the_html_404_with_a_way_to_a_download() {
    let Some(browser) = Browser::start_or_skip() else {
        return;
    };
    let env = Env::new();
    let server = env.serve(&[]);
    let base = format!("http://127.0.0.1:{}", server.port);

    // Chromium asks for text/html, so it gets the page, not the bare 404.
    browser.goto(&format!("{base}/?product=nope"));
    assert_eq!(browser.title(), "Download not found");
    assert_eq!(browser.find("h1").text(), "Download not found");
    assert_eq!(
        browser.find("main p").text(),
        "We do not offer that product."
    );
    let links = browser.find_all("main a");
    assert_eq!(links.len(), 1, "{}", browser.source());
    assert_eq!(links[0].text(), "Choose a download");
    assert_eq!(links[0].attr("href").as_deref(), Some("/download"));

    let shot = browser.screenshot("browser_smoke/not_found.png");
    let png = std::fs::read(&shot).expect("read the screenshot");
    assert!(
        png.starts_with(PNG_SIGNATURE),
        "{} is not a PNG",
        shot.display()
    );

    check_the_client(&browser);

    links[0].click();
    browser.wait_for(
        |b| b.url() == format!("{base}/download"),
        "the link to lead to /download",
    );
}

/// The parts of the WebDriver client the page above does not use, on a
/// form added to it.
fn check_the_client(browser: &Browser) {
    let added = browser.execute(
        r##"document.querySelector("main").insertAdjacentHTML("beforeend", `
            <form id="t">
              <input id="name" value="old">
              <input id="box" type="checkbox">
              <select id="pick"><option>Linux</option><option> Windows </option></select>
              <input id="file" type="file">
            </form>`);
        document.cookie = "seen=yes; path=/";
        return document.querySelectorAll("#t input").length;"##,
        &[],
    );
    assert_eq!(added, json!(3));
    assert_eq!(browser.find_all("#t input").len(), 3);
    assert!(browser.exists("#t"));
    assert!(!browser.exists("#nothing"));
    assert!(browser.source().contains(r#"<form id="t">"#));

    let name = browser.find("#name");
    assert_eq!(
        browser.execute("return arguments[0].id;", &[name.json()]),
        json!("name")
    );
    name.clear();
    name.send_keys("Firefox");
    assert_eq!(name.value(), "Firefox");
    assert_eq!(name.attr("value").as_deref(), Some("old"));
    assert_eq!(name.attr("nope"), None);

    let check = browser.find("#box");
    assert!(!check.is_selected());
    check.click();
    assert!(check.is_selected());

    let pick = browser.find("#pick");
    pick.select_option("Windows");
    assert_eq!(pick.value(), "Windows");
    assert!(pick.find_all("option")[1].is_selected());

    let dir = tempfile::tempdir().expect("create a temporary directory");
    let file = dir.path().join("hello.txt");
    std::fs::write(&file, "hello").expect("write the file to upload");
    let input = browser.find("#file");
    input.upload(&file);
    assert!(input.value().ends_with("hello.txt"), "{}", input.value());

    assert!(
        browser
            .cookies()
            .contains(&("seen".into(), "yes".into(), false)),
        "{:?}",
        browser.cookies()
    );
}
