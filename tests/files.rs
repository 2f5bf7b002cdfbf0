//! SPEC §2, file-path bouncing: `/files/<path>`.

use crate::common::Env;

const FIREFOX_DE: &str = "/pub/firefox/releases/120.0/win32/de/Firefox%20Setup%20120.0.exe";

fn network() -> Env {
    let env = Env::new();
    env.setup(&[
        "product add firefox-120.0 --lang en-US --lang de",
        "location add firefox-120.0 win /pub/firefox/releases/120.0/win32/:lang/Firefox%20Setup%20120.0.exe",
        "product add tb-115.0",
        "location add tb-115.0 win /pub/thunderbird/115.0/setup.exe",
        "mirror add m1 http://127.0.0.1:9/mirror",
        "status set m1 present",
    ]);
    env
}

#[test]
fn a_path_without_lang_redirects_to_a_mirror() {
    let env = network();
    let server = env.serve(&[]);
    let r = server.get_redirect("/files/pub/thunderbird/115.0/setup.exe");
    assert_eq!(
        r.location(),
        "http://127.0.0.1:9/mirror/pub/thunderbird/115.0/setup.exe"
    );
    assert_eq!(r.header("cache-control"), Some("max-age=60"));
}

#[test]
fn a_path_with_a_language_fills_the_template() {
    let env = network();
    let server = env.serve(&[]);
    let r = server.get_redirect(&format!("/files{FIREFOX_DE}"));
    assert_eq!(
        r.location(),
        format!("http://127.0.0.1:9/mirror{FIREFOX_DE}")
    );
    let r = server.get(&format!("/files{FIREFOX_DE}?print=yes"));
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(
        r.body.trim_end(),
        format!("http://127.0.0.1:9/mirror{FIREFOX_DE}")
    );
}

#[test]
fn file_bouncing_uses_the_same_selection_rules() {
    let env = network();
    env.setup(&["mirror add tls https://127.0.0.1:9/tls --rating 1"]);
    env.setup(&["status set tls present"]);
    let server = env.serve(&[]);
    for location in server.locations(
        "/files/pub/thunderbird/115.0/setup.exe",
        &[("X-Forwarded-Proto", "https")],
        100,
    ) {
        assert_eq!(
            location,
            "https://127.0.0.1:9/tls/pub/thunderbird/115.0/setup.exe"
        );
    }
}

#[test]
fn unknown_paths_and_dot_dot_tricks_404() {
    let env = network();
    let server = env.serve(&[]);
    for target in [
        "/files",
        "/files/",
        "/files/pub/thunderbird/115.0/nope.exe",
        "/files/pub/thunderbird/115.0/setup.exe/",
        "/files/pub/thunderbird/115.0/../115.0/setup.exe",
        "/files/pub/thunderbird/115.0/%2e%2e/115.0/setup.exe",
        "/files/pub/thunderbird/./115.0/setup.exe",
        "/files/../pub/thunderbird/115.0/setup.exe",
        "/files/%2e%2e/pub/thunderbird/115.0/setup.exe",
        "/files//pub/thunderbird/115.0/setup.exe",
        // A language the product does not offer, a hostile one, the template itself.
        "/files/pub/firefox/releases/120.0/win32/fr/Firefox%20Setup%20120.0.exe",
        "/files/pub/firefox/releases/120.0/win32/..%2f..%2fx/Firefox%20Setup%20120.0.exe",
        "/files/pub/firefox/releases/120.0/win32/../win32/de/Firefox%20Setup%20120.0.exe",
        "/files/pub/firefox/releases/120.0/win32/:lang/Firefox%20Setup%20120.0.exe",
        "/files/pub/firefox/releases/120.0/win32/de/de/Firefox%20Setup%20120.0.exe",
    ] {
        let r = server.get_not_found(target);
        assert_eq!(r.header("location"), None, "{target}");
    }
}

/// SPEC §2, "File-path bouncing": Mozilla keeps `Firefox-X` and its
/// ssl-only twin `Firefox-X-SSL` on the same paths. `/files/` serves such
/// a path from the union of both products' candidates, each product with
/// its own https rule, whichever product the files were loaded into.
#[test]
fn a_path_an_ssl_only_twin_shares_is_served_by_either_product() {
    let env = Env::new();
    let dir = env.db.parent().unwrap().to_path_buf();
    let sums = dir.join("SHA256SUMS");
    let hash = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
    std::fs::write(&sums, format!("{hash}  mac/en-GB/Firefox 39.0.dmg\n")).unwrap();
    let sums = sums.to_str().unwrap();
    let prefix = "/firefox/releases/39.0";
    // The ssl-only twin first: the files are stored under it.
    for product in ["Firefox-39.0-SSL", "Firefox-39.0"] {
        let out = env.run(&[
            "load",
            sums,
            "--product",
            product,
            "--prefix",
            prefix,
            "--os-map",
            "mac=osx",
        ]);
        assert_eq!(out.code, 0, "load into {product}: {out:?}");
    }
    env.setup(&[
        "product set Firefox-39.0-SSL --ssl-only true",
        "mirror add plain http://127.0.0.1:9/plain --rating 100",
        "status set plain present",
    ]);
    let path = "/files/firefox/releases/39.0/mac/en-GB/Firefox%2039.0.dmg";
    let server = env.serve(&[]);
    // Over http the plain product's http mirror serves it…
    let r = server.get_redirect(path);
    assert_eq!(
        r.location(),
        "http://127.0.0.1:9/plain/firefox/releases/39.0/mac/en-GB/Firefox%2039.0.dmg"
    );
    // …as bouncing the product by name does; the ssl-only twin has no
    // https mirror.
    let by_name = server.get("/?product=Firefox-39.0&os=osx&lang=en-GB&print=yes");
    assert_eq!(by_name.body.trim_end(), r.location());
    let ssl = server.get("/?product=Firefox-39.0-SSL&os=osx&lang=en-GB");
    assert_eq!(ssl.status, 503, "{ssl:?}");
    // Over https nobody can (never a downgrade), and a browser is told so
    // on a page.
    let https = [("X-Forwarded-Proto", "https")];
    assert_eq!(server.get_with(path, &https).status, 503);
    let page = server.get_with(
        path,
        &[("X-Forwarded-Proto", "https"), ("Accept", "text/html")],
    );
    assert_eq!(page.status, 503, "{page:?}");
    assert!(
        page.header("content-type")
            .unwrap()
            .starts_with("text/html"),
        "{page:?}"
    );
    assert!(page.body.contains("href=\"/download\""), "{page:?}");
    assert!(page.header("retry-after").is_some(), "{page:?}");
    // An https mirror serves both products over https.
    env.setup(&[
        "mirror add tls https://127.0.0.1:9/tls --rating 1",
        "status set tls present",
    ]);
    for location in server.locations(path, &https, 20) {
        assert!(
            location.starts_with("https://127.0.0.1:9/tls/"),
            "{location}"
        );
    }
    let ssl = server.get("/?product=Firefox-39.0-SSL&os=osx&lang=en-GB&print=yes");
    assert!(ssl.body.starts_with("https://127.0.0.1:9/tls/"), "{ssl:?}");
    // The mirror list knows the file (its hash) and both mirrors.
    let list = server.get(&format!("{path}?mirrorlist"));
    assert_eq!(list.status, 200, "{list:?}");
    assert!(list.body.contains(hash), "{}", list.body);
    assert!(
        list.body.contains(">plain<") && list.body.contains(">tls<"),
        "{}",
        list.body
    );
}
