//! SPEC §2, file-path bouncing: `/files/<path>`.

use crate::common::{Env, NOT_FOUND};

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
    let r = server.get("/files/pub/thunderbird/115.0/setup.exe");
    assert_eq!(r.status, 302, "{r:?}");
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
    let r = server.get(&format!("/files{FIREFOX_DE}"));
    assert_eq!(r.status, 302, "{r:?}");
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
        let r = server.get(target);
        assert_eq!(r.status, 404, "{target}: {r:?}");
        assert_eq!(r.body, NOT_FOUND, "{target}");
        assert_eq!(r.header("location"), None, "{target}");
    }
}
