//! SPEC §13, both schemes per mirror: a mirror may have an http and an
//! https root; a request that must stay on https (it came over TLS, its
//! product is ssl-only, or it asks with `?protocol=https`) goes to an
//! https root, never an http one; sentry checks both roots.

use std::collections::BTreeSet;

use crate::common::Env;
use crate::common::mirror::{Behaviour, Mirror};
use crate::common::net;

const FILE: &str = "/tb/setup.exe";
const TB: &str = "/?product=tb&os=win";

/// The roots (scheme and host) 60 redirects of `target` reached.
fn roots(locations: Vec<String>) -> BTreeSet<String> {
    locations
        .iter()
        .map(|l| {
            l.strip_suffix(FILE)
                .unwrap_or_else(|| panic!("{l} is not the file"))
                .to_string()
        })
        .collect()
}

#[test]
fn https_requests_go_to_https_roots_and_sentry_checks_both() {
    let files = net::files([FILE]);
    // A real mirror over http; its "https root" is the same plain-HTTP
    // port, so a TLS handshake there fails: sentry must find it down.
    let both = Mirror::start(&files, Behaviour::Healthy);
    let https_root = both.url.replacen("http://", "https://", 1);
    let env = Env::new();
    env.setup(&["product add tb", &format!("location add tb win {FILE}")]);
    env.ok(&["mirror", "add", "both", &both.url, "--alt-url", &https_root]);
    env.ok(&["mirror", "add", "plain", "http://plain.example/pub"]);
    env.ok(&["mirror", "add", "secure", "https://secure.example/pub"]);
    env.setup(&[
        "status set both present",
        "status set plain present",
        "status set secure present",
    ]);
    let server = env.serve(&["--fallback-url", "https://origin.example/pub"]);
    let plain_roots = roots(server.locations(TB, &[], 200));
    let expected: BTreeSet<String> = [
        both.url.clone(),
        "http://plain.example/pub".into(),
        "https://secure.example/pub".into(),
    ]
    .into();
    assert_eq!(plain_roots, expected);
    let https: BTreeSet<String> = [https_root.clone(), "https://secure.example/pub".into()].into();
    assert_eq!(
        roots(server.locations(&format!("{TB}&protocol=https"), &[], 200)),
        https
    );
    assert_eq!(
        roots(server.locations(&format!("{TB}&protocol=HTTPS"), &[], 200)),
        https
    );

    // Sentry checks the mirror's base URL and its https root apart.
    let out = env.ok(&["sentry", "--all", "--mirror", "both", "--timeout", "3"]);
    assert!(!out.contains("ALARM"), "{out}");
    let row = env
        .mirror_rows()
        .into_iter()
        .find(|r| r[0] == "both")
        .unwrap();
    assert_eq!(row[4], "up", "{row:?}");
    assert!(row[8].contains("https root down"), "{row:?}");
    // So https requests no longer go there; http ones still do.
    assert_eq!(
        roots(server.locations(&format!("{TB}&protocol=https"), &[], 100)),
        ["https://secure.example/pub".to_string()].into()
    );
    assert!(roots(server.locations(TB, &[], 200)).contains(&both.url));

    // Nobody left over https: the https origin, never an http mirror.
    env.ok(&["mirror", "set", "secure", "--active", "false"]);
    assert_eq!(
        roots(server.locations(&format!("{TB}&protocol=https"), &[], 20)),
        ["https://origin.example/pub".to_string()].into()
    );
    server.stop();
}

#[test]
fn the_other_root_must_have_the_other_scheme() {
    let env = Env::new();
    env.ok(&["mirror", "add", "m", "http://m.example/pub"]);
    let out = env.run(&["mirror", "set", "m", "--alt-url", "http://m2.example/pub"]);
    assert_ne!(out.code, 0, "{out:?}");
    assert!(
        out.stderr.contains("has the same scheme as the base URL"),
        "{out:?}"
    );
    assert!(out.stderr.contains("https://"), "{out:?}");
    env.ok(&["mirror", "set", "m", "--alt-url", "https://m.example/pub/"]);
    let exported = env.ok(&["export"]);
    assert!(
        exported.contains(r#""alt_url": "https://m.example/pub""#),
        "{exported}"
    );
    env.ok(&["mirror", "set", "m", "--alt-url", "none"]);
    assert!(!env.ok(&["export"]).contains("alt_url"));
}
