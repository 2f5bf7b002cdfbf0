//! SPEC §13, address families: a mirror serves IPv4 and IPv6 or one of
//! them, and a client is sent only to mirrors that serve its own family,
//! whether it reaches bouncer over IPv4 or IPv6 or a trusted proxy
//! forwards its address.

use std::collections::BTreeSet;

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
            .map(|r| (r[0].clone(), r.last().cloned().unwrap_or_default()))
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
