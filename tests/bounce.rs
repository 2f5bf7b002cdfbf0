//! SPEC §2 rules 1–3 and 8: resolving `/?product=…&os=…&lang=…`, the
//! redirect itself, `print=yes`, the 404s and the home redirect.

use crate::common::{Env, NOT_FOUND};

const MIRROR: &str = "http://127.0.0.1:9/pub";
const WIN_DE: &str =
    "http://127.0.0.1:9/pub/firefox/releases/120.0/win32/de/Firefox%20Setup%20120.0.exe";

/// Firefox in three languages on win, linux and osx (two `:lang`s), an
/// alias, Thunderbird in every language (two `:lang`s), an inactive
/// product with an alias, and one mirror carrying everything.
fn network() -> Env {
    let env = Env::new();
    env.setup(&[
        "product add FireFox-120.0 --lang en-US --lang de --lang ja-JP-mac",
        "location add firefox-120.0 win /firefox/releases/120.0/win32/:lang/Firefox%20Setup%20120.0.exe",
        "location add firefox-120.0 linux /firefox/releases/120.0/linux-i686/:lang/firefox-120.0.tar.bz2",
        "location add firefox-120.0 osx /firefox/releases/120.0/mac/:lang/Firefox%20120.0.:lang.dmg",
        "alias set firefox-latest firefox-120.0",
        "product add thunderbird-115.0",
        "location add thunderbird-115.0 win /thunderbird/:lang/115.0/:lang/setup.exe",
        "product add retired-1.0",
        "location add retired-1.0 win /retired/setup.exe",
        "alias set retired-latest retired-1.0",
        "product set retired-1.0 --active false",
        "mirror add m1 http://127.0.0.1:9/pub",
        "status set m1 present",
    ]);
    env
}

#[test]
fn redirect_is_302_to_base_url_plus_path_with_cache_control() {
    let env = network();
    let server = env.serve(&[]);
    let r = server.get_redirect("/?product=firefox-120.0&os=win&lang=de");
    assert_eq!(r.location(), WIN_DE);
    assert_eq!(r.header("cache-control"), Some("max-age=60"));
}

#[test]
fn cache_max_age_is_configurable() {
    let env = network();
    let server = env.serve(&["--cache-max-age", "300"]);
    let r = server.get_redirect("/?product=firefox-120.0&os=win&lang=de");
    assert_eq!(r.header("cache-control"), Some("max-age=300"));
}

#[test]
fn product_and_os_are_trimmed_and_case_folded() {
    let env = network();
    let server = env.serve(&[]);
    for target in [
        "/?product=%20FireFox-120.0%20&os=win&lang=de",
        "/?product=FIREFOX-120.0&os=WIN&lang=de",
        "/?product=+firefox-120.0+&os=%20Win%20&lang=de",
        "/?product=%09fIrEfOx-120.0&os=wIn%20&lang=%20de%20",
    ] {
        let r = server.get_redirect(target);
        assert_eq!(r.location(), WIN_DE, "{target}");
    }
    let r = server.get("/?product=FireFox-120.0&os=LINUX&lang=de");
    assert_eq!(
        r.location(),
        "http://127.0.0.1:9/pub/firefox/releases/120.0/linux-i686/de/firefox-120.0.tar.bz2"
    );
}

#[test]
fn os_defaults_to_win_and_lang_to_en_us() {
    let env = network();
    let server = env.serve(&[]);
    let expected =
        "http://127.0.0.1:9/pub/firefox/releases/120.0/win32/en-US/Firefox%20Setup%20120.0.exe";
    for target in [
        "/?product=firefox-120.0",
        "/?product=firefox-120.0&os=&lang=",
        "/?product=firefox-120.0&os=%20&lang=%20",
    ] {
        let r = server.get_redirect(target);
        assert_eq!(r.location(), expected, "{target}");
    }
}

#[test]
fn default_os_and_lang_are_configurable() {
    let env = network();
    let server = env.serve(&["--default-os", "linux", "--default-lang", "de"]);
    let r = server.get_redirect("/?product=firefox-120.0");
    assert_eq!(
        r.location(),
        "http://127.0.0.1:9/pub/firefox/releases/120.0/linux-i686/de/firefox-120.0.tar.bz2"
    );
}

#[test]
fn aliases_resolve_to_their_product() {
    let env = network();
    let server = env.serve(&[]);
    for target in [
        "/?product=firefox-latest&os=win&lang=de",
        "/?product=%20FIREFOX-Latest%20&os=win&lang=de",
    ] {
        let r = server.get_redirect(target);
        assert_eq!(r.location(), WIN_DE, "{target}");
    }
}

#[test]
fn languages_match_in_any_case_and_are_spelled_as_stored() {
    let env = network();
    let server = env.serve(&[]);
    let r = server.get_redirect("/?product=firefox-120.0&os=win&lang=JA-jp-MAC");
    assert_eq!(
        r.location(),
        "http://127.0.0.1:9/pub/firefox/releases/120.0/win32/ja-JP-mac/Firefox%20Setup%20120.0.exe"
    );
}

#[test]
fn a_product_with_languages_rejects_every_other_language() {
    let env = network();
    let server = env.serve(&[]);
    for lang in ["fr", "en", "en-GB", "ja-JP", "de-DE"] {
        let target = format!("/?product=firefox-120.0&os=win&lang={lang}");
        let r = server.get_not_found(&target);
        assert_eq!(r.header("location"), None, "{target}");
    }
}

#[test]
fn a_product_without_languages_accepts_any_valid_language() {
    let env = network();
    let server = env.serve(&[]);
    let longest = "a".repeat(32);
    for lang in ["xx-YY", "fr", "ZH-tw", "a1-B2-c3", longest.as_str()] {
        let r = server.get_redirect(&format!("/?product=thunderbird-115.0&os=win&lang={lang}"));
        assert_eq!(
            r.location(),
            format!("{MIRROR}/thunderbird/{lang}/115.0/{lang}/setup.exe"),
            "{lang}"
        );
    }
}

#[test]
fn every_lang_placeholder_in_a_path_is_replaced() {
    let env = network();
    let server = env.serve(&[]);
    let r = server.get_redirect("/?product=firefox-120.0&os=osx&lang=de");
    assert_eq!(
        r.location(),
        "http://127.0.0.1:9/pub/firefox/releases/120.0/mac/de/Firefox%20120.0.de.dmg"
    );
    let r = server.get("/?product=thunderbird-115.0");
    assert_eq!(
        r.location(),
        format!("{MIRROR}/thunderbird/en-US/115.0/en-US/setup.exe")
    );
}

#[test]
fn print_yes_answers_the_url_as_plain_text() {
    let env = network();
    let server = env.serve(&[]);
    for target in [
        "/?product=firefox-120.0&os=win&lang=de&print=yes",
        "/?print=YES&product=firefox-120.0&os=win&lang=de",
    ] {
        let r = server.get(target);
        assert_eq!(r.status, 200, "{target}: {r:?}");
        assert!(
            r.header("content-type")
                .is_some_and(|t| t.starts_with("text/plain")),
            "{r:?}"
        );
        assert_eq!(r.body.trim_end(), WIN_DE, "{target}");
        assert_eq!(r.header("location"), None, "{target}");
    }
    // Anything but yes still redirects.
    server.get_redirect("/?product=firefox-120.0&os=win&lang=de&print=no");
}

#[test]
fn head_requests_get_the_same_redirect() {
    let env = network();
    let server = env.serve(&[]);
    let r = server.request("HEAD", "/?product=firefox-120.0&os=win&lang=de", &[]);
    assert_eq!(r.status, 302, "{r:?}");
    assert_eq!(r.location(), WIN_DE);
}

#[test]
fn unknown_product_os_or_language_answer_the_exact_404_body() {
    let env = network();
    let server = env.serve(&[]);
    for target in [
        "/?product=nope",
        "/?product=firefox-120.0-typo&os=win&lang=de",
        // An os nobody knows, and a known os without a location.
        "/?product=firefox-120.0&os=beos&lang=de",
        "/?product=firefox-120.0&os=android&lang=de",
        "/?product=firefox-120.0&os=win&lang=fr",
        // Inactive products are not offered.
        "/?product=retired-1.0",
        "/?product=retired-latest",
    ] {
        for method in ["GET", "HEAD"] {
            let r = server.request(method, target, &[]);
            assert_eq!(r.status, 404, "{method} {target}: {r:?}");
            assert_eq!(r.header("location"), None, "{method} {target}");
            if method == "GET" {
                assert_eq!(r.body, NOT_FOUND, "{target}");
                assert!(
                    r.header("content-type")
                        .is_some_and(|t| t.starts_with("text/plain")),
                    "{r:?}"
                );
            }
        }
    }
}

#[test]
fn browsers_get_an_html_404_linking_to_the_download_form() {
    let env = network();
    let server = env.serve(&[]);
    let accept = (
        "Accept",
        "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
    );
    for target in [
        "/?product=nope",
        "/?product=firefox-120.0&os=beos",
        "/?product=firefox-120.0&lang=fr",
        "/no/such/page",
    ] {
        let r = server.get_with(target, &[accept]);
        assert_eq!(r.status, 404, "{target}: {r:?}");
        assert!(
            r.header("content-type")
                .is_some_and(|t| t.starts_with("text/html")),
            "{r:?}"
        );
        assert!(r.body.contains("<html"), "{}", r.body);
        assert!(r.body.contains(r#"href="/download""#), "{}", r.body);
    }
}

#[test]
fn unknown_routes_answer_the_exact_404_body() {
    let env = network();
    let server = env.serve(&[]);
    for target in ["/nope", "/download/x", "/filesx/a", "/__heartbeat__x"] {
        server.get_not_found(target);
    }
}

#[test]
fn no_product_redirects_to_the_download_form() {
    let env = network();
    let server = env.serve(&[]);
    for target in [
        "/",
        "/?product=",
        "/?product=%20%20",
        "/?os=win&lang=de",
        "/?print=yes",
    ] {
        let r = server.get_redirect(target);
        assert_eq!(r.location(), "/download", "{target}");
    }
}

#[test]
fn no_product_redirects_to_the_home_url_when_one_is_set() {
    let env = network();
    let server = env.serve(&["--home-url", "https://www.example.org/firefox/new/"]);
    for target in ["/", "/?product=", "/?lang=de"] {
        let r = server.get_redirect(target);
        assert_eq!(
            r.location(),
            "https://www.example.org/firefox/new/",
            "{target}"
        );
    }
}

/// SPEC §2.1: user input must never change a redirect's host or climb out
/// of the template's directory.
#[test]
fn hostile_languages_get_404_and_never_a_location() {
    let env = network();
    let server = env.serve(&[]);
    let too_long = "a".repeat(33);
    let hostile = [
        "../../x",
        "..%2F..%2Fx",
        "%2e%2e%2f",
        "%252e%252e%252f",
        "@evil.example",
        "%40evil.example",
        "//evil.example",
        "%2F%2Fevil.example",
        "x/../../../etc/passwd",
        "en-US%2F..%2F..",
        ".",
        "..",
        "en_US",
        "en%20US",
        "a.b",
        "en-US%3Fx%3D1",
        "en-US%23x",
        "%5C%5Cevil.example",
        too_long.as_str(),
        "%C3%A9",
        "%E2%80%AE",
        "en-US%0d%0aX-Injected:1",
        "en-US%0aLocation:%20http://evil.example",
        "en-US%00",
    ];
    // Thunderbird accepts any valid language, so only validation stands in
    // the way; Firefox checks its language list too.
    for product in ["thunderbird-115.0", "firefox-120.0"] {
        for lang in hostile {
            let target = format!("/?product={product}&os=win&lang={lang}");
            for print in ["", "&print=yes"] {
                let target = format!("{target}{print}");
                let r = server.get_not_found(&target);
                assert_eq!(r.header("location"), None, "{target}");
                assert_eq!(r.header("x-injected"), None, "{target}");
            }
        }
    }
}

#[test]
fn raw_non_ascii_in_the_query_never_redirects() {
    let env = network();
    let server = env.serve(&[]);
    // Sent unencoded: the server may refuse the request line (400) or not
    // find the language (404), but must not redirect.
    let r = server.get("/?product=thunderbird-115.0&lang=\u{e9}");
    assert!(matches!(r.status, 400 | 404), "{r:?}");
    assert_eq!(r.header("location"), None, "{r:?}");
}
