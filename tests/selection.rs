//! SPEC §2 rules 4, 6 and 7: who may receive traffic, https never
//! downgraded, the weighted pick, 503 and the origin fallback.

use crate::common::{Env, Server};

const HTTP_BASE: &str = "http://127.0.0.1:9/plain/";
const HTTPS_BASE: &str = "https://127.0.0.1:9/tls/";
const XFP_HTTPS: (&str, &str) = ("X-Forwarded-Proto", "https");

/// `tb` (plain) and `secure` (ssl only), each on win; no mirrors yet.
fn products() -> Env {
    let env = Env::new();
    env.setup(&[
        "product add tb",
        "location add tb win /tb/:lang/setup.exe",
        "product add secure --ssl-only",
        "location add secure win /secure/:lang/setup.exe",
    ]);
    env
}

/// [`products`] with a heavy http mirror and a light https one, both
/// carrying everything.
fn mixed() -> Env {
    let env = products();
    env.setup(&[
        "mirror add plain http://127.0.0.1:9/plain --rating 100",
        "mirror add tls https://127.0.0.1:9/tls --rating 1",
        "status set plain present",
        "status set tls present",
    ]);
    env
}

fn assert_all_https(server: &Server, target: &str, headers: &[(&str, &str)]) {
    for location in server.locations(target, headers, 200) {
        assert!(location.starts_with(HTTPS_BASE), "{target}: {location}");
    }
}

#[test]
fn ssl_only_products_only_go_to_https_mirrors() {
    let env = mixed();
    let server = env.serve(&[]);
    assert_all_https(&server, "/?product=secure&lang=de", &[]);
    // print=yes obeys the same rule.
    for _ in 0..50 {
        let r = server.get("/?product=secure&print=yes");
        assert_eq!(r.status, 200, "{r:?}");
        assert!(r.body.starts_with(HTTPS_BASE), "{}", r.body);
    }
}

#[test]
fn requests_that_arrived_over_https_only_go_to_https_mirrors() {
    let env = mixed();
    let server = env.serve(&[]);
    assert_all_https(&server, "/?product=tb", &[XFP_HTTPS]);
    assert_all_https(&server, "/?product=tb", &[("x-forwarded-proto", "https")]);
    // Plain requests mostly go to the heavy http mirror (rating 100 vs 1).
    let plain = server.locations("/?product=tb", &[], 200);
    assert!(plain.iter().any(|l| l.starts_with(HTTP_BASE)), "{plain:?}");
    let plain = server.locations("/?product=tb", &[("X-Forwarded-Proto", "http")], 200);
    assert!(plain.iter().any(|l| l.starts_with(HTTP_BASE)), "{plain:?}");
}

#[test]
fn the_https_header_is_configurable() {
    let env = mixed();
    let server = env.serve(&["--https-header", "X-Scheme"]);
    assert_all_https(&server, "/?product=tb", &[("X-Scheme", "https")]);
    // The default header no longer counts.
    let plain = server.locations("/?product=tb", &[XFP_HTTPS], 200);
    assert!(plain.iter().any(|l| l.starts_with(HTTP_BASE)), "{plain:?}");
}

#[test]
fn no_https_mirror_means_503_with_retry_after() {
    let env = products();
    env.setup(&[
        "mirror add plain http://127.0.0.1:9/plain",
        "status set plain present",
    ]);
    let server = env.serve(&[]);
    for (target, headers) in [
        ("/?product=secure", &[][..]),
        ("/?product=secure&print=yes", &[][..]),
        ("/?product=tb", &[XFP_HTTPS][..]),
    ] {
        let r = server.get_with(target, headers);
        assert_eq!(r.status, 503, "{target} {headers:?}: {r:?}");
        assert_eq!(r.header("location"), None, "{r:?}");
        let retry = r.header("retry-after").expect("Retry-After on a 503");
        assert!(retry.parse::<u32>().is_ok_and(|s| s > 0), "{retry}");
    }
    // The http mirror still serves plain requests.
    let r = server.get("/?product=tb");
    assert_eq!(r.status, 302, "{r:?}");
    assert_eq!(r.location(), "http://127.0.0.1:9/plain/tb/en-US/setup.exe");
}

#[test]
fn no_mirror_at_all_means_503() {
    let env = products();
    env.setup(&["mirror add plain http://127.0.0.1:9/plain"]);
    // A mirror without availability rows gets no traffic.
    let server = env.serve(&[]);
    let r = server.get("/?product=tb");
    assert_eq!(r.status, 503, "{r:?}");
    assert!(r.header("retry-after").is_some(), "{r:?}");
}

#[test]
fn an_http_fallback_serves_only_plain_requests() {
    let env = products();
    env.setup(&["mirror add plain http://127.0.0.1:9/plain"]);
    let server = env.serve(&["--fallback-url", "http://origin.example"]);
    let r = server.get("/?product=tb&lang=de");
    assert_eq!(r.status, 302, "{r:?}");
    assert_eq!(r.location(), "http://origin.example/tb/de/setup.exe");
    // Never downgrade an ssl-only product or a request that came over TLS.
    for (target, headers) in [
        ("/?product=secure", &[][..]),
        ("/?product=tb", &[XFP_HTTPS][..]),
    ] {
        let r = server.get_with(target, headers);
        assert_eq!(r.status, 503, "{target} {headers:?}: {r:?}");
        assert_eq!(r.header("location"), None, "{r:?}");
        assert!(r.header("retry-after").is_some(), "{r:?}");
    }
}

#[test]
fn an_https_fallback_serves_tls_requests_too() {
    let env = products();
    let server = env.serve(&["--fallback-url", "https://origin.example/pub/"]);
    for (target, headers) in [
        ("/?product=secure&lang=de", &[][..]),
        ("/?product=tb&lang=de", &[XFP_HTTPS][..]),
    ] {
        let r = server.get_with(target, headers);
        assert_eq!(r.status, 302, "{target}: {r:?}");
        assert!(
            r.location().starts_with("https://origin.example/pub/"),
            "{r:?}"
        );
        assert!(r.location().ends_with("/de/setup.exe"), "{r:?}");
    }
}

#[test]
fn the_fallback_is_not_used_while_a_mirror_serves() {
    let env = mixed();
    let server = env.serve(&["--fallback-url", "http://origin.example"]);
    for location in server.locations("/?product=tb", &[], 100) {
        assert!(!location.contains("origin.example"), "{location}");
    }
}

/// SPEC §2.4: only active mirrors with rating > 0 that have the file.
#[test]
fn inactive_zero_rated_and_missing_mirrors_never_get_traffic() {
    let env = Env::new();
    env.setup(&[
        "product add tb",
        "location add tb win /tb/setup.exe",
        "location add tb linux /tb/tb.tar.bz2",
        "mirror add good http://127.0.0.1:9/good --rating 1",
        "mirror add inactive http://127.0.0.1:9/inactive --rating 1000 --inactive",
        "mirror add zero http://127.0.0.1:9/zero --rating 0",
        "mirror add missing http://127.0.0.1:9/missing --rating 1000",
        "mirror add unknown http://127.0.0.1:9/unknown --rating 1000",
        "mirror add switched-off http://127.0.0.1:9/switched-off --rating 1000",
        "mirror add partial http://127.0.0.1:9/partial --rating 1000",
        "status set good present",
        "status set inactive present",
        "status set zero present",
        "status set missing missing",
        "status set switched-off present",
        "mirror set switched-off --active false",
        "status set partial present",
        "status set partial missing --os linux",
    ]);
    let server = env.serve(&[]);
    for location in server.locations("/?product=tb&os=linux", &[], 200) {
        assert_eq!(location, "http://127.0.0.1:9/good/tb/tb.tar.bz2");
    }
    let win = server.locations("/?product=tb&os=win", &[], 200);
    for location in &win {
        assert!(
            location == "http://127.0.0.1:9/good/tb/setup.exe"
                || location == "http://127.0.0.1:9/partial/tb/setup.exe",
            "{location}"
        );
    }
    assert!(win.iter().any(|l| l.contains("/partial/")), "{win:?}");

    // Rating 0 set on the live server takes the last mirror out.
    env.ok(&["mirror", "set", "good", "--rating", "0"]);
    let r = server.get("/?product=tb&os=linux");
    assert_eq!(r.status, 503, "{r:?}");
}

/// SPEC §2.6: probability proportional to rating.
#[test]
fn traffic_is_shared_in_proportion_to_rating() {
    let env = Env::new();
    env.setup(&[
        "product add tb",
        "location add tb win /tb/setup.exe",
        "mirror add light http://127.0.0.1:9/light --rating 1",
        "mirror add heavy http://127.0.0.1:9/heavy --rating 3",
        "status set light present",
        "status set heavy present",
    ]);
    let server = env.serve(&["--no-count"]);
    let n = 2000;
    let locations = server.locations("/?product=tb", &[], n);
    let heavy = locations
        .iter()
        .filter(|l| *l == "http://127.0.0.1:9/heavy/tb/setup.exe")
        .count();
    let light = locations
        .iter()
        .filter(|l| *l == "http://127.0.0.1:9/light/tb/setup.exe")
        .count();
    assert_eq!(heavy + light, n, "{locations:?}");
    let share = heavy as f64 / n as f64;
    assert!((0.65..=0.85).contains(&share), "heavy share {share}");
}
