//! SPEC §2.9 and §10 durability: committed admin changes survive `kill -9`;
//! download counts reach the database within about a second and on
//! SIGTERM; only GET redirects count.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::common::{Env, ONE_MIRROR, Server, try_http};

const K: u64 = 37;
const FIREFOX_WIN_DE: &str = "/?product=firefox-120.0&os=win&lang=de";

fn network() -> Env {
    let env = Env::new();
    env.setup(&[
        "product add firefox-120.0 --lang en-US --lang de",
        "location add firefox-120.0 win /firefox/:lang/setup.exe",
        "alias set firefox-latest firefox-120.0",
        "product add thunderbird-115.0",
        "location add thunderbird-115.0 win /tb/setup.exe",
        "mirror add m1 http://127.0.0.1:9/m1",
        "status set m1 present",
    ]);
    env
}

/// Requests that must not be counted: print=yes, HEAD, misses.
fn uncounted(server: &Server) {
    for _ in 0..5 {
        assert_eq!(
            server.get(&format!("{FIREFOX_WIN_DE}&print=yes")).status,
            200
        );
        assert_eq!(server.request("HEAD", FIREFOX_WIN_DE, &[]).status, 302);
        assert_eq!(server.get("/?product=firefox-120.0&lang=fr").status, 404);
        assert_eq!(server.get("/?product=nope").status, 404);
        assert_eq!(server.get("/").status, 302);
    }
}

#[test]
fn a_change_through_the_socket_survives_kill_9() {
    let env = Env::new();
    let server = env.serve(&[]);
    env.setup(&ONE_MIRROR);
    assert_eq!(server.get("/?product=tb").status, 302);
    server.crash();

    // The socket file is left behind; commands notice nobody answers and
    // open the database themselves.
    assert!(
        env.socket().exists(),
        "expected a stale socket after kill -9"
    );
    let mirrors = env.ok(&["mirror", "list"]);
    assert!(mirrors.contains("http://127.0.0.1:9/m1"), "{mirrors}");

    let server = env.serve(&[]);
    let r = server.get_redirect("/?product=tb");
    assert_eq!(r.location(), "http://127.0.0.1:9/m1/tb/setup.exe");
    // And the restarted server takes commands again.
    env.ok(&["mirror", "set", "m1", "--active", "false"]);
    assert_eq!(server.get("/?product=tb").status, 503);
}

#[test]
fn counts_are_flushed_on_sigterm() {
    let env = network();
    let server = env.serve(&[]);
    for i in 0..K {
        let product = if i % 4 == 0 {
            "firefox-latest"
        } else {
            "firefox-120.0"
        };
        server.get_redirect(&format!("/?product={product}&os=win&lang=de"));
    }
    for _ in 0..4 {
        assert_eq!(server.get("/?product=thunderbird-115.0").status, 302);
    }
    uncounted(&server);
    let (status, log) = server.stop();
    assert!(status.success(), "{status:?}\n{log}");

    let stats = env.stats();
    assert_eq!(stats.row("firefox-120.0"), Some(K), "{}", stats.text);
    assert_eq!(stats.row("thunderbird-115.0"), Some(4), "{}", stats.text);
    assert_eq!(stats.row("m1"), Some(K + 4), "{}", stats.text);
    assert_eq!(stats.total, K + 4, "{}", stats.text);
    // Aliases count under their product, never on their own.
    assert_eq!(stats.row("firefox-latest"), None, "{}", stats.text);
}

#[test]
fn counts_reach_the_database_while_serving() {
    let env = network();
    let mut server = env.serve(&[]);
    uncounted(&server);
    for _ in 0..K {
        assert_eq!(server.get(FIREFOX_WIN_DE).status, 302);
    }
    // Through the socket, without stopping the server.
    let stats = env.poll_stats(Duration::from_secs(10), |s| s.total >= K);
    assert_eq!(stats.total, K, "{}", stats.text);
    assert_eq!(stats.row("firefox-120.0"), Some(K), "{}", stats.text);
    assert!(server.is_running());

    // Flushed counts survive a crash, and are not counted twice.
    server.crash();
    let stats = env.stats();
    assert_eq!(stats.total, K, "{}", stats.text);
    assert_eq!(stats.row("m1"), Some(K), "{}", stats.text);
}

#[test]
fn file_bounces_count_under_their_product() {
    let env = network();
    let server = env.serve(&[]);
    for _ in 0..K {
        server.get_redirect("/files/tb/setup.exe");
    }
    assert_eq!(
        server.request("HEAD", "/files/tb/setup.exe", &[]).status,
        302
    );
    assert_eq!(server.get("/files/tb/setup.exe?print=yes").status, 200);
    let (status, _) = server.stop();
    assert!(status.success());
    let stats = env.stats();
    assert_eq!(stats.row("thunderbird-115.0"), Some(K), "{}", stats.text);
    assert_eq!(stats.total, K, "{}", stats.text);
}

/// SIGTERM under load: every redirect a client received is counted, and
/// nothing else.
#[test]
fn sigterm_under_load_counts_exactly_the_redirects_served() {
    let env = network();
    let server = env.serve(&[]);
    let served = Arc::new(AtomicU64::new(0));
    let clients: Vec<_> = (0..2)
        .map(|_| {
            let served = served.clone();
            let port = server.port;
            std::thread::spawn(move || {
                // Until the server goes away: connection refused or cut.
                while let Ok(r) = try_http(port, "GET", FIREFOX_WIN_DE, &[]) {
                    assert_eq!(r.status, 302, "{r:?}");
                    served.fetch_add(1, Ordering::SeqCst);
                }
            })
        })
        .collect();
    let progressed = crate::common::poll(Duration::from_secs(20), Duration::from_millis(5), || {
        (served.load(Ordering::SeqCst) >= 100).then_some(())
    });
    assert!(progressed.is_some(), "clients made no progress");
    let (status, log) = server.stop();
    assert!(status.success(), "{status:?}\n{log}");
    for client in clients {
        client.join().expect("client thread");
    }
    let served = served.load(Ordering::SeqCst);
    let stats = env.stats();
    assert_eq!(stats.total, served, "{}", stats.text);
    assert_eq!(stats.row("firefox-120.0"), Some(served), "{}", stats.text);
}

#[test]
fn counts_add_up_across_restarts() {
    let env = network();
    for round in 1..=2u64 {
        let server = env.serve(&[]);
        for _ in 0..K {
            assert_eq!(server.get(FIREFOX_WIN_DE).status, 302);
        }
        let (status, _) = server.stop();
        assert!(status.success());
        assert_eq!(env.stats().row("firefox-120.0"), Some(round * K));
    }
}

#[test]
fn no_count_counts_nothing() {
    let env = network();
    let server = env.serve(&["--no-count"]);
    for _ in 0..K {
        assert_eq!(server.get(FIREFOX_WIN_DE).status, 302);
    }
    let (status, _) = server.stop();
    assert!(status.success());
    let stats = env.stats();
    assert_eq!(stats.total, 0, "{}", stats.text);
}
