//! SPEC §13, address families: a mirror serves IPv4 and IPv6 or one of
//! them, and a client is sent only to mirrors that serve its own family,
//! whether it reaches bouncer over IPv4 or IPv6 or a trusted proxy
//! forwards its address.

use std::collections::{BTreeMap, BTreeSet};

use crate::common::mirror::{Behaviour, Mirror};
use crate::common::net;
use crate::common::{Env, Server, http_v6};

const TB: &str = "/?product=tb&os=win&lang=de";

/// `tb` on three mirrors carrying it: one IPv4 only, one IPv6 only, one
/// serving both.
fn network() -> Env {
    let env = Env::new();
    env.setup(&[
        "product add tb",
        "location add tb win /tb/:lang/setup.exe",
        "mirror add v4 http://v4.example/pub --families ipv4",
        "mirror add v6 http://v6.example/pub --families ipv6",
        "mirror add dual http://dual.example/pub",
        "status set v4 present",
        "status set v6 present",
        "status set dual present",
    ]);
    env
}

/// The mirrors (by host: `v4`, `v6`, `dual`, `origin`) redirects reached.
fn mirrors(locations: Vec<String>) -> BTreeSet<String> {
    locations
        .iter()
        .map(|l| {
            let host = (l
                .strip_prefix("http://")
                .or_else(|| l.strip_prefix("https://")))
            .and_then(|r| r.split('.').next());
            host.unwrap_or_else(|| panic!("not a test mirror: {l}"))
                .to_string()
        })
        .collect()
}

/// Which mirrors 60 redirects reached for a client whose address a trusted
/// proxy forwards as `client`.
fn forwarded(server: &Server, client: &str) -> BTreeSet<String> {
    mirrors(server.locations(TB, &[("X-Forwarded-For", client)], 60))
}

fn set(names: &[&str]) -> BTreeSet<String> {
    names.iter().map(|n| n.to_string()).collect()
}

#[test]
fn clients_are_sent_only_to_mirrors_of_their_own_family() {
    let env = network();
    // Dual stack: IPv4 clients arrive as IPv4-mapped addresses.
    let server = env.serve_at("[::]:0", &["--trusted-proxy", "127.0.0.1"]);
    assert_eq!(mirrors(server.locations(TB, &[], 60)), set(&["dual", "v4"]));
    let over_v6: Vec<String> = (0..60)
        .map(|_| {
            let r = http_v6(server.port, "GET", TB, &[]);
            assert_eq!(r.status, 302, "{r:?}");
            r.location().to_string()
        })
        .collect();
    assert_eq!(mirrors(over_v6), set(&["dual", "v6"]));
    // Behind a trusted proxy, the forwarded address's family counts.
    assert_eq!(forwarded(&server, "2001:db8::1"), set(&["dual", "v6"]));
    assert_eq!(
        forwarded(&server, "[2001:db8::1]:4711"),
        set(&["dual", "v6"])
    );
    assert_eq!(forwarded(&server, "192.0.2.1"), set(&["dual", "v4"]));
    assert_eq!(forwarded(&server, "::ffff:192.0.2.1"), set(&["dual", "v4"]));
    server.stop();

    // Nobody left for IPv6 clients: the origin, never an IPv4-only mirror.
    env.setup(&[
        "mirror set dual --families ipv4",
        "mirror set v6 --active false",
    ]);
    let server = env.serve(&[
        "--trusted-proxy",
        "127.0.0.1",
        "--fallback-url",
        "https://origin.example/pub",
    ]);
    assert_eq!(forwarded(&server, "2001:db8::1"), set(&["origin"]));
    assert_eq!(forwarded(&server, "192.0.2.1"), set(&["dual", "v4"]));
    server.stop();
}

#[test]
fn the_setting_is_listed_and_a_wrong_one_refused() {
    let env = network();
    let families = |env: &Env| -> BTreeSet<(String, String)> {
        let rows = env.mirror_rows();
        rows.iter()
            .map(|r| (r[0].clone(), r[FAMILIES].clone()))
            .collect()
    };
    let pairs = |list: &[(&str, &str)]| -> BTreeSet<(String, String)> {
        list.iter()
            .map(|(m, f)| (m.to_string(), f.to_string()))
            .collect()
    };
    let listed = pairs(&[("dual", "both"), ("v4", "ipv4"), ("v6", "ipv6")]);
    assert_eq!(families(&env), listed);
    // A wrong value says what to give instead, and changes nothing.
    let out = env.run(&["mirror", "set", "v4", "--families", "ipv5"]);
    assert_ne!(out.code, 0, "{out:?}");
    assert!(out.stderr.contains("say both, ipv4 or ipv6"), "{out:?}");
    assert_eq!(families(&env), listed);
    env.ok(&["mirror", "set", "v4", "--families", "v6-only"]);
    assert_eq!(
        families(&env),
        pairs(&[("dual", "both"), ("v4", "ipv6"), ("v6", "ipv6")])
    );
}

/// Columns of `mirror list`: the families setting, and what sentry found.
const FAMILIES: usize = 7;
const REACH: usize = 8;

#[test]
fn sentry_checks_each_family_apart_and_clients_follow_what_it_found() {
    let file = "/tb/win/de/setup.exe";
    let files = net::files([file]);
    let env = Env::new();
    env.setup(&[
        "product add tb --lang de",
        "location add tb win /tb/win/:lang/setup.exe",
    ]);
    let four = Mirror::start(&files, Behaviour::Healthy);
    // A name with addresses in both families, listening on IPv4 only: its
    // IPv6 refuses (unless ::1 has that port by chance: then try again).
    let dual = Mirror::start(&files, Behaviour::Healthy);
    let dual_port = dual.url.rsplit(':').next().unwrap().to_string();
    let six = loop {
        let six = Mirror::start_on("[::1]:0", &files, Behaviour::Healthy);
        if !six.url.ends_with(&format!(":{dual_port}")) {
            break six;
        }
    };
    let dual_url = format!("http://dual.test:{dual_port}");
    env.ok(&["mirror", "add", "four", &four.url]);
    env.ok(&["mirror", "add", "six", &six.url]);
    env.ok(&["mirror", "add", "dual", &dual_url]);
    let out = env.ok(&[
        "sentry",
        "--all",
        "--timeout",
        "3",
        "--resolve",
        "dual.test=127.0.0.1,::1",
    ]);
    assert!(!out.contains("ALARM"), "{out}");
    let found: BTreeMap<String, (String, String)> = env
        .mirror_rows()
        .into_iter()
        .map(|r| (r[0].clone(), (r[4].clone(), r[REACH].clone())))
        .collect();
    let up = "up".to_string();
    assert_eq!(
        found["four"],
        (up.clone(), "IPv4 up, IPv6 no address".into())
    );
    assert_eq!(
        found["six"],
        (up.clone(), "IPv4 no address, IPv6 up".into())
    );
    assert_eq!(found["dual"], (up, "IPv4 up, IPv6 down".into()));
    // The dual mirror's IPv6 really was tried, and failed; its files were
    // checked over IPv4.
    assert!(dual.requests() >= 2, "base URL and file over IPv4");
    assert!(six.requests() >= 2, "base URL and file over IPv6");

    let server = env.serve(&["--trusted-proxy", "127.0.0.1"]);
    let names = |client: &str| -> BTreeSet<String> {
        server
            .locations(TB, &[("X-Forwarded-For", client)], 60)
            .iter()
            .map(|l| {
                let base = l.strip_suffix(file).unwrap_or_else(|| panic!("{l}"));
                [("four", &four.url), ("six", &six.url), ("dual", &dual_url)]
                    .iter()
                    .find(|(_, url)| *url == base)
                    .unwrap_or_else(|| panic!("no mirror at {base}"))
                    .0
                    .to_string()
            })
            .collect()
    };
    assert_eq!(names("192.0.2.1"), set(&["dual", "four"]));
    assert_eq!(names("2001:db8::1"), set(&["six"]));
    // And the IPv6 client's redirect works over IPv6.
    let location = server
        .get_with(TB, &[("X-Forwarded-For", "2001:db8::1")])
        .location()
        .to_string();
    assert_eq!(location, format!("{}{file}", six.url));
    let six_port = six.url.rsplit(':').next().unwrap().parse().unwrap();
    let r = http_v6(six_port, "GET", file, &[]);
    assert_eq!(r.status, 200, "{location}: {r:?}");
    server.stop();
}
