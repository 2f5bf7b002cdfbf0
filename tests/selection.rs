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
    let r = server.get_redirect("/?product=tb");
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
    let r = server.get_redirect("/?product=tb&lang=de");
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
    // Many clients, each asking once.
    let locations = server.locations_from_clients("/?product=tb", &[], n);
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

/// Three mirrors rated 50, 30 and 20 carrying `tb`, and an alias.
fn three_mirrors() -> Env {
    let env = Env::new();
    env.setup(&[
        "product add tb --lang de --lang fr",
        "location add tb win /tb/:lang/setup.exe",
        "alias set tb-latest tb",
        "mirror add a http://127.0.0.1:9/a --rating 50",
        "mirror add b http://127.0.0.1:9/b --rating 30",
        "mirror add c http://127.0.0.1:9/c --rating 20",
        "status set a present",
        "status set b present",
        "status set c present",
    ]);
    env
}

/// The mirror (`a`, `b`, `c`) of a redirect or printed URL.
fn mirror_of(url: &str) -> &str {
    url.trim_start_matches("http://127.0.0.1:9/")
        .split('/')
        .next()
        .unwrap()
}

/// SPEC §2.6: over many clients each mirror's share follows its rating.
#[test]
fn over_20000_clients_the_shares_follow_the_ratings() {
    let env = three_mirrors();
    let server = env.serve(&["--no-count"]);
    let n = 20_000;
    let mut hits = std::collections::BTreeMap::new();
    for location in server.locations_from_clients("/?product=tb&lang=de", &[], n) {
        *hits.entry(mirror_of(&location).to_string()).or_insert(0u64) += 1;
    }
    let expected = [("a", 0.5), ("b", 0.3), ("c", 0.2)];
    let chi: f64 = expected
        .iter()
        .map(|(m, p)| {
            let e = n as f64 * p;
            (hits.get(*m).copied().unwrap_or(0) as f64 - e).powi(2) / e
        })
        .sum();
    // Two degrees of freedom: 13.8 is the 0.999 quantile (the picks are
    // a fixed function of the addresses: the same every run).
    assert!(chi < 13.8, "chi-square {chi:.1}: {hits:?}");
    assert_eq!(hits.values().sum::<u64>(), n as u64, "{hits:?}");
}

/// One client, one file: one mirror for printing, and a walk round its
/// own ranking for repeated redirects (it is retrying).
#[test]
fn one_client_gets_one_mirror_and_its_retries_walk_its_ranking() {
    let env = three_mirrors();
    let server = env.serve(&["--no-count"]);
    let printed = server.get("/?product=tb&lang=de&print=yes").body;
    for target in [
        "/?product=tb&lang=de&print=yes",
        "/?product=TB-LATEST&lang=de&print=yes",
        "/files/tb/de/setup.exe?print=yes",
    ] {
        for _ in 0..100 {
            assert_eq!(server.get(target).body, printed, "{target}");
        }
    }
    // Redirects: the first is the printed mirror, then the rest of the
    // client's ranking, then round again.
    let walk: Vec<String> = server
        .locations("/?product=tb&lang=de", &[], 7)
        .iter()
        .map(|l| mirror_of(l).to_string())
        .collect();
    assert_eq!(walk[0], mirror_of(&printed), "{walk:?}");
    let mut seen = walk[..3].to_vec();
    seen.sort();
    assert_eq!(seen, ["a", "b", "c"], "{walk:?}");
    assert_eq!(walk[3..6], walk[..3], "round again: {walk:?}");
    // Printing in between is no retry and moves nothing.
    assert_eq!(server.get("/?product=tb&lang=de&print=yes").body, printed);
    // Another file of the same client is ranked on its own: French goes
    // first to wherever its own ranking says, not where German went last.
    let fr = server.get("/?product=tb&lang=fr&print=yes").body;
    assert!(
        fr.ends_with("/tb/fr/setup.exe\n") || fr.ends_with("/tb/fr/setup.exe"),
        "{fr}"
    );
}

/// A mirror going down moves its own clients and nobody else's; back up,
/// they come back.
#[test]
fn a_mirror_going_down_moves_only_its_own_clients() {
    let env = three_mirrors();
    let server = env.serve(&["--no-count"]);
    let print = |i: usize| {
        let r = crate::common::http_from(
            crate::common::client_address(i),
            server.port,
            "GET",
            "/?product=tb&lang=de&print=yes",
            &[],
        );
        assert_eq!(r.status, 200, "{r:?}");
        mirror_of(&r.body).to_string()
    };
    let n = 600;
    let before: Vec<String> = (0..n).map(print).collect();
    env.ok(&["status", "set", "b", "missing"]);
    let after: Vec<String> = (0..n).map(print).collect();
    let mut moved = 0;
    for (i, (was, is)) in before.iter().zip(&after).enumerate() {
        assert_ne!(is, "b", "client {i} still sent to the missing mirror");
        if was == "b" {
            moved += 1;
        } else {
            assert_eq!(was, is, "client {i} of {was} moved to {is}");
        }
    }
    assert!(moved > n / 10, "b had {moved} of {n} clients");
    env.ok(&["status", "set", "b", "present"]);
    let back: Vec<String> = (0..n).map(print).collect();
    assert_eq!(back, before);
}

/// `bounce.sticky false`: each request draws at random again.
#[test]
fn stickiness_can_be_switched_off() {
    let env = three_mirrors();
    env.ok(&["settings", "set", "bounce.sticky", "false"]);
    let server = env.serve(&["--no-count"]);
    let mut seen = std::collections::BTreeSet::new();
    for _ in 0..300 {
        seen.insert(mirror_of(&server.get("/?product=tb&lang=de&print=yes").body).to_string());
    }
    assert_eq!(seen.len(), 3, "{seen:?}");
}
