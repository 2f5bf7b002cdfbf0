//! Several nodes on one PostgreSQL database (SPEC §11): two real
//! `bouncer serve` processes sharing a throwaway PostgreSQL server the test
//! harness starts. A change made anywhere is served by both; sentry runs
//! on one node and moves when it dies; counts from both add up; both keep
//! redirecting while the database is down.

use std::time::{Duration, Instant};

use bouncer::testing::postgres::TestPostgres;

use crate::common::mirror::Behaviour;
use crate::common::net::{self, Net};
use crate::common::{Env, Server, http_body, password, poll};

/// How long a change may take to reach the other node in these tests
/// (the target, under a second, is measured by `examples/nodes.rs`).
const PROMPT: Duration = Duration::from_secs(10);

/// SPEC §11: a leader's death moves sentry within 30 s (lease 15 s,
/// renewed every 5 s), with room for a loaded CI machine.
const TAKEOVER: Duration = Duration::from_secs(45);

/// Where a redirect for `tb` on win goes, on `server`.
fn target(server: &Server) -> Option<String> {
    let r = server.get("/?product=tb&os=win&lang=en-US");
    (r.status == 302).then(|| r.location().to_string())
}

/// `/__heartbeat__` of `server`, parsed.
fn heartbeat(server: &Server) -> serde_json::Value {
    serde_json::from_str(&server.get("/__heartbeat__").body).expect("heartbeat is JSON")
}

/// Waits (bounded by `limit`) until `server` redirects to a URL starting
/// with `prefix`; panics with what it did instead.
fn wait_for_target(server: &Server, prefix: &str, limit: Duration) {
    let seen = poll(limit, Duration::from_millis(20), || {
        target(server).filter(|t| t.starts_with(prefix))
    });
    assert!(
        seen.is_some(),
        "no redirect to {prefix} within {limit:?}; last: {:?}\n{}",
        target(server),
        server.log()
    );
}

#[test]
fn a_change_made_anywhere_is_served_by_every_node() {
    let Some(pg) = TestPostgres::shared_or_skip() else {
        return;
    };
    let env = Env::postgres(pg);
    env.setup(&crate::common::ONE_MIRROR);
    let a = env.serve(&[]);
    let b = env.serve(&[]);
    wait_for_target(&a, "http://127.0.0.1:9/m1/", PROMPT);
    wait_for_target(&b, "http://127.0.0.1:9/m1/", PROMPT);

    // From the CLI (straight into the database): m1 off, m2 on.
    env.setup(&[
        "mirror add m2 http://127.0.0.1:9/m2",
        "status set m2 present",
        "mirror set m1 --active false",
    ]);
    for node in [&a, &b] {
        wait_for_target(node, "http://127.0.0.1:9/m2/", PROMPT);
        // Caught up (m2 may be picked while m1 is still in): every pick
        // is m2.
        let only_m2 = poll(PROMPT, Duration::from_millis(20), || {
            (0..20)
                .all(|_| target(node).is_some_and(|t| t.starts_with("http://127.0.0.1:9/m2/")))
                .then_some(())
        });
        assert!(only_m2.is_some(), "m1 is still picked:\n{}", node.log());
        let beat = heartbeat(node);
        assert_eq!(beat["backend"], "postgresql", "{beat}");
        assert_eq!(beat["database"], "ok", "{beat}");
        let (index, database) = (
            &beat["generation"]["index"],
            &beat["generation"]["database"],
        );
        assert!(
            index.as_u64().unwrap() <= database.as_u64().unwrap() && index.as_u64().unwrap() > 0,
            "{beat}"
        );
        assert!(beat["counter_lag"]["unflushed"].is_u64(), "{beat}");
        assert_eq!(beat["sentry_leader"], false, "{beat}");
    }
    // Through node A's API: node B serves it.
    env.add_user("rel", "release");
    let auth = basic("rel", &password("rel"));
    let r = http_body(
        a.port,
        "POST",
        "/api/location_add/",
        &[
            ("Authorization", &auth),
            ("Content-Type", "application/x-www-form-urlencoded"),
        ],
        b"product=tb&os=linux&path=/tb/linux.tar",
    );
    assert_eq!(r.status, 200, "{r:?}");
    env.ok(&["status", "set", "m2", "present"]);
    let linux = poll(PROMPT, Duration::from_millis(20), || {
        let r = b.get("/?product=tb&os=linux&lang=en-US");
        (r.status == 302).then(|| r.location().to_string())
    });
    assert_eq!(
        linux.as_deref(),
        Some("http://127.0.0.1:9/m2/tb/linux.tar"),
        "{}",
        b.log()
    );
}

/// An `Authorization: Basic` value.
fn basic(user: &str, password: &str) -> String {
    use base64::Engine;
    let token = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    format!("Basic {token}")
}

#[test]
fn sentry_runs_on_one_node_and_moves_when_its_node_dies() {
    let Some(pg) = TestPostgres::shared_or_skip() else {
        return;
    };
    let env = Env::postgres(pg);
    env.setup(&["product add tb", "location add tb win /tb/setup.exe"]);
    let mut net = Net::new(env, net::files(["/tb/setup.exe"]));
    net.add("m1", Behaviour::Healthy, &[]);
    let a = net.env.serve_with_sentry_on_demand(&[]);
    let b = net.env.serve_with_sentry_on_demand(&[]);
    let m1 = net.mirror("m1").url.clone();
    // Whichever leads checks m1; both serve it.
    wait_for_target(&a, &m1, PROMPT);
    wait_for_target(&b, &m1, PROMPT);
    let leaders = |nodes: &[&Server]| -> Vec<bool> {
        nodes
            .iter()
            .map(|n| heartbeat(n)["sentry_leader"] == true)
            .collect()
    };
    let now = leaders(&[&a, &b]);
    assert_eq!(
        now.iter().filter(|l| **l).count(),
        1,
        "exactly one node leads: {now:?}"
    );
    let (leader, survivor) = if now[0] { (a, b) } else { (b, a) };

    // The leader dies without a word; the other takes over, checks what
    // is new, and serves it.
    leader.crash();
    let started = Instant::now();
    let took = poll(TAKEOVER, Duration::from_millis(200), || {
        (heartbeat(&survivor)["sentry_leader"] == true).then_some(())
    });
    assert!(
        took.is_some(),
        "no takeover within {TAKEOVER:?}:\n{}",
        survivor.log()
    );
    eprintln!("sentry moved after {:?}", started.elapsed());
    net.add("m2", Behaviour::Healthy, &[]);
    net.env.ok(&["mirror", "set", "m1", "--active", "false"]);
    let m2 = net.mirror("m2").url.clone();
    wait_for_target(&survivor, &m2, PROMPT);
    // A run from the command line is refused while a node leads.
    let out = net.env.run(&["sentry", "--spot"]);
    assert_eq!(out.code, 1, "{out:?}");
    assert!(out.stderr.contains("sentry runs on serve@"), "{out:?}");
}

#[test]
fn counts_from_every_node_add_up() {
    let Some(pg) = TestPostgres::shared_or_skip() else {
        return;
    };
    let env = Env::postgres(pg);
    env.setup(&crate::common::ONE_MIRROR);
    let a = env.serve(&["--flush-interval-ms", "100"]);
    let b = env.serve(&["--flush-interval-ms", "100"]);
    wait_for_target(&a, "http://127.0.0.1:9/m1/", PROMPT);
    wait_for_target(&b, "http://127.0.0.1:9/m1/", PROMPT);
    for _ in 0..37 {
        a.get_redirect("/?product=tb&os=win&lang=en-US");
    }
    for _ in 0..25 {
        b.get_redirect("/?product=tb&os=win&lang=en-US");
    }
    // Stopping flushes what is left.
    a.stop();
    b.stop();
    // One more each: the redirect that showed the node served m1.
    let stats = env.stats();
    assert_eq!(stats.row("tb"), Some(37 + 25 + 2), "{stats:?}");
}

#[test]
fn nodes_keep_redirecting_while_the_database_is_down() {
    let Some(pg) = TestPostgres::start_or_skip() else {
        return;
    };
    let env = Env::postgres(&pg);
    env.setup(&crate::common::ONE_MIRROR);
    let a = env.serve(&["--flush-interval-ms", "100"]);
    let b = env.serve(&["--flush-interval-ms", "100"]);
    wait_for_target(&a, "http://127.0.0.1:9/m1/", PROMPT);
    wait_for_target(&b, "http://127.0.0.1:9/m1/", PROMPT);

    pg.stop();
    for node in [&a, &b] {
        let down = poll(PROMPT, Duration::from_millis(50), || {
            let r = node.get("/__heartbeat__");
            (r.status == 503).then_some(r.body)
        });
        let body = down.unwrap_or_else(|| panic!("no 503 heartbeat:\n{}", node.log()));
        assert!(body.contains(r#""database":"unreachable""#), "{body}");
        assert_eq!(node.get("/__lbheartbeat__").status, 200);
    }
    // Redirects go on from the last index, and are counted.
    for _ in 0..10 {
        a.get_redirect("/?product=tb&os=win&lang=en-US");
        b.get_redirect("/?product=tb&os=win&lang=en-US");
    }
    // A change is refused, saying why and what to do.
    let out = env.run(&["mirror", "add", "m2", "http://127.0.0.1:9/m2"]);
    assert_eq!(out.code, 1, "{out:?}");
    assert!(
        out.stderr.contains("cannot be reached") && out.stderr.contains("nothing was changed"),
        "{out:?}"
    );

    pg.resume();
    for node in [&a, &b] {
        let back = poll(PROMPT, Duration::from_millis(50), || {
            (node.get("/__heartbeat__").status == 200).then_some(())
        });
        assert!(back.is_some(), "no recovery:\n{}", node.log());
    }
    // The counts made while the database was down come through (and one
    // each from before: the redirect that showed the node served m1).
    let stats = env.poll_stats(PROMPT, |s| s.row("tb") == Some(20 + 2));
    assert_eq!(stats.row("tb"), Some(20 + 2), "{stats:?}");
    // And changes are served again.
    env.setup(&[
        "mirror add m2 http://127.0.0.1:9/m2",
        "status set m2 present",
        "mirror set m1 --active false",
    ]);
    wait_for_target(&a, "http://127.0.0.1:9/m2/", PROMPT);
    wait_for_target(&b, "http://127.0.0.1:9/m2/", PROMPT);
}

#[test]
fn over_tcp_the_database_is_reached_with_tls_and_its_certificate_checked() {
    let ca = crate::common::tls::Ca::new("Bouncer test PostgreSQL CA");
    let (cert, key) = ca.server_pem();
    let Some(pg) = TestPostgres::start_tls_or_skip(&cert, &key) else {
        return;
    };
    // The server admits TLS connections only (sslmode=require asks for it).
    let env = Env::at_url(&pg.tcp_database());
    let dir = tempfile::tempdir().unwrap();
    let ca_file = dir.path().join("ca.pem");
    std::fs::write(&ca_file, &ca.pem).unwrap();
    // Trusted (SSL_CERT_FILE, as for sentry's and mail's TLS): it works.
    let trusted = [("SSL_CERT_FILE", Some(ca_file.as_os_str()))];
    let out = env.run_env(&["product", "add", "tb"], &trusted);
    assert_eq!(out.code, 0, "{out:?}");
    let out = env.run_env(&["product", "list"], &trusted);
    assert!(out.stdout.contains("tb"), "{out:?}");
    // An unknown CA: refused, saying where and why.
    let dir = tempfile::tempdir().unwrap();
    let other = dir.path().join("other.pem");
    std::fs::write(&other, crate::common::tls::Ca::new("Another CA").pem).unwrap();
    let out = env.run_env(
        &["product", "list"],
        &[("SSL_CERT_FILE", Some(other.as_os_str()))],
    );
    assert_eq!(out.code, 1, "{out:?}");
    assert!(
        out.stderr.contains("cannot be reached") && out.stderr.contains("127.0.0.1"),
        "{out:?}"
    );
}

#[test]
fn a_whole_release_loaded_into_postgresql_is_served_by_a_running_node() {
    let Some(pg) = TestPostgres::shared_or_skip() else {
        return;
    };
    let env = Env::postgres(pg);
    env.setup(&["mirror add m1 http://127.0.0.1:9/m1"]);
    let node = env.serve(&[]);
    // Installers, complete and partial updates on two platforms, a
    // platform whose OS the load creates, and a signature left out.
    let mut sums = String::new();
    for platform in ["win64", "linux-x86_64", "android-aarch64"] {
        for lang in ["de", "en-US", "fr"] {
            let installer = match platform {
                "win64" => "Firefox Setup 120.0.exe",
                "linux-x86_64" => "firefox-120.0.tar.bz2",
                _ => "fenix-120.0.apk",
            };
            for path in [
                format!("{platform}/{lang}/{installer}"),
                format!("update/{platform}/{lang}/firefox-120.0.complete.mar"),
                format!("update/{platform}/{lang}/firefox-119.0-120.0.partial.mar"),
            ] {
                sums.push_str(&format!("{}  {path}\n", "ab".repeat(32)));
            }
        }
    }
    sums.push_str(&format!("{}  KEY.asc\n", "cd".repeat(32)));
    let file = env.temp_dir().join("SHA256SUMS");
    std::fs::write(&file, sums).expect("write SHA256SUMS");
    let file = file.to_str().expect("a UTF-8 path");
    let args = [
        "load",
        file,
        "--product",
        "firefox-120.0",
        "--os-map",
        "android-aarch64=android64",
    ];
    let out = env.ok(&args);
    assert!(
        out.contains("applied: 1 operating system(s), 3 new product(s), 3 language(s), 9 location(s), 27 file(s)"),
        "{out}"
    );
    // What sentry would find: m1 has every file.
    env.ok(&["status", "set", "m1", "present"]);
    for (product, os, path) in [
        (
            "firefox-120.0",
            "win64",
            "/win64/fr/Firefox%20Setup%20120.0.exe",
        ),
        (
            "firefox-120.0",
            "android64",
            "/android-aarch64/fr/fenix-120.0.apk",
        ),
        (
            "firefox-120.0-partial-119.0",
            "linux64",
            "/update/linux-x86_64/fr/firefox-119.0-120.0.partial.mar",
        ),
    ] {
        let url = format!("http://127.0.0.1:9/m1{path}");
        let seen = poll(PROMPT, Duration::from_millis(20), || {
            let r = node.get(&format!("/?product={product}&os={os}&lang=fr&print=yes"));
            (r.status == 200 && r.body.trim_end() == url).then_some(())
        });
        assert!(
            seen.is_some(),
            "{product} on {os}: not {url}\n{}",
            node.log()
        );
    }
    assert!(env.ok(&args).ends_with("nothing to add\n"));
}
