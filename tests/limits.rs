//! Limits that protect the server (issue 9): connections at most, header
//! size, the header timeout (slowloris), and the admin/API rate limit.
//! Request body caps are covered by `admin::bodies_are_capped_before_they_are_read`
//! and `api::a_body_over_500_kb_is_413_with_error_101`.

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use crate::common::{Env, KeepAlive, ONE_MIRROR, Response, http, read_response, try_http};

const BOUNCE: &str = "/?product=tb&os=win&lang=en-US";

/// A network with one product served by one mirror.
fn network() -> Env {
    let env = Env::new();
    env.setup(&ONE_MIRROR);
    env
}

fn timed_out(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}

#[test]
fn the_connection_over_the_limit_waits_until_one_closes() {
    let env = network();
    // A long header timeout: idle connections must stay open on their own.
    let server = env.serve(&["--max-connections", "4", "--header-timeout", "120"]);
    let mut held: Vec<KeepAlive> = (0..4)
        .map(|i| {
            let mut c = KeepAlive::connect(server.port).expect("connect");
            let r = c
                .get(BOUNCE)
                .unwrap_or_else(|e| panic!("connection {i}: {e}"));
            assert_eq!(r.status, 302, "{r:?}");
            c
        })
        .collect();

    // The fifth connects (the kernel's backlog takes it) but is not
    // served while the four are open.
    let mut fifth = KeepAlive::connect(server.port).expect("connect a fifth");
    fifth.send(BOUNCE, &[]).expect("send on the fifth");
    fifth
        .stream()
        .set_read_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    match fifth.receive() {
        Err(e) if timed_out(&e) => {}
        other => panic!("the fifth connection was answered with four open: {other:?}"),
    }
    // The four are still served meanwhile.
    let r = held[1].get(BOUNCE).expect("a held connection still works");
    assert_eq!(r.status, 302, "{r:?}");

    // One closes: the fifth gets its answer (the timeout only bounds a failure).
    drop(held.remove(0));
    fifth
        .stream()
        .set_read_timeout(Some(Duration::from_secs(15)))
        .unwrap();
    let r = fifth
        .receive()
        .expect("the fifth is answered once a slot is free");
    assert_eq!(r.status, 302, "{r:?}");
    assert_eq!(r.location(), "http://127.0.0.1:9/m1/tb/setup.exe");
}

/// Sends `GET /` with one header `X-Big` of `size` bytes and reads what
/// comes back: the answer, or `None` when the connection closed without one.
fn big_header(port: u16, size: usize) -> Option<Response> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(15)))
        .unwrap();
    let request = format!(
        "GET {BOUNCE} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nX-Big: {}\r\n\r\n",
        "a".repeat(size)
    );
    // A server that refuses the head may close before it is all sent.
    let _ = stream.write_all(request.as_bytes());
    match read_response(&mut stream, false) {
        Ok(r) => Some(r),
        // Closed (or reset) before a whole answer.
        Err(e)
            if matches!(
                e.kind(),
                io::ErrorKind::InvalidData | io::ErrorKind::ConnectionReset
            ) =>
        {
            None
        }
        Err(e) => panic!("reading the answer to a {size}-byte header: {e}"),
    }
}

#[test]
fn a_head_over_64_kib_is_refused_with_431_and_one_under_is_served() {
    let env = network();
    let server = env.serve(&[]);
    match big_header(server.port, 100 * 1024) {
        // hyper answers 431 when the head outgrows its 64 KiB buffer.
        Some(r) => assert_eq!(r.status, 431, "{r:?}"),
        None => panic!("a 100 KB header was dropped without an answer"),
    }
    let r = big_header(server.port, 60 * 1024).expect("an answer to a 60 KB header");
    assert_eq!(r.status, 302, "{r:?}");
    // The server is fine afterwards.
    assert_eq!(server.get(BOUNCE).status, 302);
}

#[test]
fn a_client_that_stops_mid_request_line_is_disconnected_and_others_are_served() {
    let env = network();
    let server = env.serve(&["--header-timeout", "1"]);
    let mut slow = TcpStream::connect(("127.0.0.1", server.port)).expect("connect");
    slow.write_all(b"GET /?product=t")
        .expect("send half a line");
    // Served while the slow client hangs.
    for _ in 0..3 {
        assert_eq!(server.get(BOUNCE).status, 302);
    }
    // A bound on a failure, not a wait for success: the server closes
    // the connection after about a second.
    slow.set_read_timeout(Some(Duration::from_secs(15)))
        .unwrap();
    let mut raw = Vec::new();
    let closed = loop {
        let mut chunk = [0u8; 1024];
        match slow.read(&mut chunk) {
            Ok(0) => break Ok(()),
            Ok(n) => raw.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) if e.kind() == io::ErrorKind::ConnectionReset => break Ok(()),
            Err(e) => break Err(e),
        }
    };
    assert!(
        closed.is_ok(),
        "the slow client was not disconnected: {closed:?}"
    );
    let text = String::from_utf8_lossy(&raw);
    assert!(
        !text.starts_with("HTTP/1.1 2") && !text.starts_with("HTTP/1.1 3"),
        "{text}"
    );
    assert_eq!(server.get(BOUNCE).status, 302);
}

/// Admin requests (the login page) from the client behind `forwarded`
/// until one is refused, at most `limit`: the 429 and how many passed.
fn flood(port: u16, forwarded: &str, limit: usize) -> Option<(Response, usize)> {
    let headers = [("X-Forwarded-For", forwarded)];
    (0..limit).find_map(|i| {
        let r = http(port, "GET", "/admin/login", &headers);
        match r.status {
            429 => Some((r, i)),
            200 => None,
            _ => panic!("GET /admin/login: {r:?}"),
        }
    })
}

#[test]
fn admin_and_api_bursts_get_429_per_client_while_redirects_keep_working() {
    let env = network();
    // One request a second after a burst of 30 (30 seconds' worth), so the
    // test does not depend on how fast this machine sends; behind a
    // trusted proxy, each client has its own bucket.
    let server = env.serve(&["--admin-rate", "1", "--trusted-proxy", "127.0.0.1"]);
    let (r, passed) =
        flood(server.port, "198.51.100.1", 1000).expect("a burst of admin requests is limited");
    assert!(passed >= 30, "refused after {passed} requests: {r:?}");
    let retry: u64 = r
        .header("retry-after")
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("a 429 without Retry-After in seconds: {r:?}"));
    assert!((1..=30).contains(&retry), "{r:?}");
    assert!(r.body.starts_with("429 too many requests"), "{r:?}");
    assert!(
        r.header("content-type").unwrap().starts_with("text/plain"),
        "{r:?}"
    );

    // The API shares the bucket: refused at once, or after the one or two
    // tokens it regained meanwhile (a bucket of its own would pass 30).
    let api = (0..10)
        .map(|_| {
            http(
                server.port,
                "GET",
                "/api/product_show?product=tb",
                &[("X-Forwarded-For", "198.51.100.1")],
            )
        })
        .find(|r| r.status == 429)
        .expect("the API shares the admin's bucket");
    assert_eq!(api.status, 429, "{api:?}");
    assert!(api.header("retry-after").is_some(), "{api:?}");

    // Redirects and health checks from the same client are never limited.
    for _ in 0..100 {
        let r = server.get_with(BOUNCE, &[("X-Forwarded-For", "198.51.100.1")]);
        assert_eq!(r.status, 302, "{r:?}");
    }
    assert_eq!(server.get("/__lbheartbeat__").status, 200);

    // Other clients behind the same proxy, and the proxy itself, are served.
    let other = [("X-Forwarded-For", "198.51.100.2")];
    assert_eq!(http(server.port, "GET", "/admin/login", &other).status, 200);
    assert_ne!(
        http(server.port, "GET", "/api/product_show?product=tb", &other).status,
        429
    );
    assert_eq!(http(server.port, "GET", "/admin/login", &[]).status, 200);
}

#[test]
fn admin_rate_0_switches_the_limit_off() {
    let env = network();
    let server = env.serve(&["--admin-rate", "0"]);
    // More than the default's burst of 300.
    for i in 0..400 {
        let r = try_http(server.port, "GET", "/admin/login", &[])
            .unwrap_or_else(|e| panic!("request {i}: {e}"));
        assert_eq!(r.status, 200, "request {i}: {r:?}");
    }
}

/// An `Authorization: Basic` value.
fn basic(user: &str, pw: &str) -> String {
    use base64::Engine;
    let token = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pw}"));
    format!("Basic {token}")
}

const SHOW: &str = "/api/product_show?product=tb";

/// Release tooling authenticates, and several of its workers may share
/// one address: at the default settings, authenticated API calls are not
/// limited per address; calls without credentials, or with wrong ones,
/// are, with a numbered API error.
#[test]
fn authenticated_api_calls_are_not_limited_per_address_at_defaults() {
    let env = network();
    env.add_user_with("rel", "release", "rel-correct-horse");
    let server = env.serve(&[]);
    let good = basic("rel", "rel-correct-horse");
    // More than the per-address burst (300 at the default 10 a second).
    for i in 0..400 {
        let r = http(server.port, "GET", SHOW, &[("Authorization", &good)]);
        assert_eq!(r.status, 200, "authenticated call {i}: {r:?}");
    }
    // Without credentials the address's bucket runs dry.
    let refused = (0..1000)
        .map(|_| http(server.port, "GET", SHOW, &[]))
        .find(|r| r.status == 429)
        .expect("calls without credentials are limited per address");
    assert!(refused.header("retry-after").is_some(), "{refused:?}");
    assert!(
        refused
            .body
            .contains(r#"<error number="107">too many requests"#),
        "{refused:?}"
    );
    // In JSON too: the bucket regains a token every 100 ms, so a slow
    // machine may pass one or two first (a fresh bucket would pass 300).
    let json = (0..20)
        .map(|_| http(server.port, "GET", SHOW, &[("Accept", "application/json")]))
        .find(|r| r.status == 429)
        .expect("JSON calls without credentials are limited too");
    assert_eq!(json.status, 429, "{json:?}");
    let v: serde_json::Value = serde_json::from_str(&json.body).expect("JSON");
    assert_eq!(v["error"]["number"], 107, "{v}");
    // The release tool carries on.
    let r = http(server.port, "GET", SHOW, &[("Authorization", &good)]);
    assert_eq!(r.status, 200, "{r:?}");
}

/// `--user-rate` limits each authenticated user on its own.
#[test]
fn a_per_user_limit_is_there_for_those_who_want_one() {
    let env = network();
    env.add_user_with("rel", "release", "rel-correct-horse");
    env.add_user_with("other", "release", "other-correct-horse");
    // One a second after a burst of 30.
    let server = env.serve(&["--user-rate", "1", "--admin-rate", "0"]);
    let rel = basic("rel", "rel-correct-horse");
    // The first refusal is the one looked at: a second would need the
    // bucket still empty, which a slow machine's second does not promise.
    let (refused, r) = (0..1000)
        .map(|_| http(server.port, "GET", SHOW, &[("Authorization", &rel)]))
        .enumerate()
        .find(|(_, r)| r.status == 429)
        .expect("the user's limit applies");
    assert!(refused >= 30, "refused after {refused} calls");
    assert_eq!(r.status, 429, "{r:?}");
    assert!(r.body.contains("for this user"), "{r:?}");
    // Another user, from the same address, is not affected.
    let other = basic("other", "other-correct-horse");
    let r = http(server.port, "GET", SHOW, &[("Authorization", &other)]);
    assert_eq!(r.status, 200, "{r:?}");
}

/// Issue 15: a request without valid credentials may not hold 500 KB of
/// memory while its body trickles in: its credentials are checked from the
/// headers first, and its body capped at 16 KiB — refused at once when it
/// declares more.
#[test]
fn api_bodies_without_valid_credentials_are_capped_at_16_kib_before_reading() {
    use std::io::{Read, Write};
    let env = network();
    env.add_user_with("rel", "release", "rel-correct-horse");
    let server = env.serve(&["--admin-rate", "0"]);
    // Headers only: the answer must come without the 100 KB it announces.
    let announce = |auth: Option<String>| -> Response {
        let mut s = TcpStream::connect(("127.0.0.1", server.port)).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let auth = auth
            .map(|a| format!("Authorization: {a}\r\n"))
            .unwrap_or_default();
        write!(
            s,
            "POST /api/product_add HTTP/1.1\r\nHost: 127.0.0.1\r\n{auth}Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 100000\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        let mut raw = Vec::new();
        let _ = s.read_to_end(&mut raw);
        crate::common::parse_response(&raw, false).expect("an answer before the body")
    };
    for auth in [
        None,
        Some(basic("rel", "guess")),
        Some(basic("nobody", "x")),
    ] {
        let r = announce(auth.clone());
        assert_eq!(r.status, 413, "{auth:?}: {r:?}");
        assert!(r.body.contains(r#"<error number="101">"#), "{r:?}");
        assert!(r.body.contains("16KB"), "{r:?}");
    }
    // With valid credentials the same size is read and answered.
    let good = basic("rel", "rel-correct-horse");
    let mut body = String::from("product=Big-1.0&languages=de&pad=");
    body.push_str(&"x".repeat(100_000 - body.len()));
    let r = crate::common::http_body(
        server.port,
        "POST",
        "/api/product_add",
        &[
            ("Authorization", &good),
            ("Content-Type", "application/x-www-form-urlencoded"),
        ],
        body.as_bytes(),
    );
    assert_eq!(r.status, 200, "{r:?}");
    assert!(r.body.contains("Big-1.0"), "{r:?}");
}
