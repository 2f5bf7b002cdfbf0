//! Issue 15: nobody can lock an account (failures make only their own
//! address wait, for admin logins and API Basic auth alike), the admin
//! lists who is waiting, and over HTTPS the admin's cookies are
//! `__Host-` cookies. The real binary over real HTTP; distinct clients
//! are told apart by `X-Forwarded-For` from a trusted proxy (127.0.0.1).

use base64::Engine;

use crate::common::{Env, Response, form_urlencode, http, http_body, password};

/// The client addresses: A logs in, B guesses.
const A: &str = "192.0.2.10";
const B: &str = "198.51.100.20";

/// Gives user `name` the password `pw`.
fn passwd(env: &Env, name: &str, pw: &str) {
    let out = env.run_input(&["user", "passwd", name], &format!("{pw}\n"));
    assert_eq!(out.code, 0, "user passwd {name}: {out:?}");
}

/// A server behind a trusted proxy on 127.0.0.1, with `ann` (admin) and
/// `rel` (release).
fn server(env: &Env) -> crate::common::Server {
    env.add_user_with("ann", "admin", &password("ann"));
    env.add_user_with("rel", "release", &password("rel"));
    env.serve(&["--trusted-proxy", "127.0.0.1"])
}

/// The value of cookie `name` among `r`'s `Set-Cookie`s, and the whole
/// `Set-Cookie` line.
fn set_cookie<'a>(r: &'a Response, name: &str) -> Option<(&'a str, &'a str)> {
    r.set_cookies().into_iter().find_map(|c| {
        let (n, rest) = c.split_once('=')?;
        (n.trim() == name).then(|| (rest.split(';').next().unwrap_or("").trim(), c))
    })
}

/// The `csrf` field of the login form.
fn csrf(page: &Response) -> String {
    let marker = "name=\"csrf\" value=\"";
    let start = page.body.find(marker).expect("the login form's token") + marker.len();
    page.body[start..start + page.body[start..].find('"').unwrap()].to_string()
}

/// Logs in from `client` (over HTTPS at the proxy when `https`): the
/// login POST's answer. `headers` go along with both requests.
fn login(port: u16, client: &str, https: bool, user: &str, pw: &str) -> Response {
    let mut headers = vec![("X-Forwarded-For", client)];
    if https {
        headers.push(("X-Forwarded-Proto", "https"));
    }
    let page = http(port, "GET", "/admin/login", &headers);
    assert_eq!(page.status, 200, "{page:?}");
    let name = if https {
        "__Host-bouncer_login"
    } else {
        "bouncer_login"
    };
    let (token, _) = set_cookie(&page, name).unwrap_or_else(|| panic!("no {name}: {page:?}"));
    let cookie = format!("{name}={token}");
    headers.push(("Cookie", &cookie));
    headers.push(("Content-Type", "application/x-www-form-urlencoded"));
    let body = form_urlencode(&[
        ("csrf", &csrf(&page)),
        ("next", "/admin/"),
        ("user", user),
        ("password", pw),
    ]);
    http_body(port, "POST", "/admin/login", &headers, body.as_bytes())
}

/// Six wrong passwords for `user` from `client`: each refused (401, or
/// 429 once the address waits).
fn guess_six_times(port: u16, client: &str, user: &str) {
    for i in 0..6 {
        let r = login(port, client, false, user, "not-the-password");
        assert!(matches!(r.status, 401 | 429), "guess {i}: {r:?}");
        assert!(set_cookie(&r, "bouncer_session").is_none(), "{r:?}");
    }
}

fn basic(user: &str, pw: &str) -> String {
    let token = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pw}"));
    format!("Basic {token}")
}

fn api_get(port: u16, client: &str, user: &str, pw: &str) -> Response {
    http(
        port,
        "GET",
        "/api/mirror_list",
        &[
            ("X-Forwarded-For", client),
            ("Authorization", &basic(user, pw)),
        ],
    )
}

/// Issue 15 item 1: six wrong passwords from B locked ann's account for
/// 15 minutes, for everyone.
#[test]
fn a_guesser_does_not_lock_an_admin_out() {
    let env = Env::new();
    let server = server(&env);
    let r = login(server.port, A, false, "ann", &password("ann"));
    assert_eq!(r.status, 303, "{r:?}");
    guess_six_times(server.port, B, "ann");
    // A, which logged in before, still gets in with the right password…
    let r = login(server.port, A, false, "ann", &password("ann"));
    assert_eq!(r.status, 303, "{r:?}");
    let (session, _) = set_cookie(&r, "bouncer_session").expect("a session");
    // …and so does a third address that never logged in.
    let r = login(server.port, "203.0.113.30", false, "ann", &password("ann"));
    assert_eq!(r.status, 303, "{r:?}");

    // The users page shows who is throttled: account, address, failures
    // (5 or 6: the sixth is refused unless the first wait has passed),
    // until when.
    let section = throttled(server.port, session);
    let row = section
        .split("<tr>")
        .find(|row| row.contains(B))
        .unwrap_or_else(|| panic!("no row for {B}: {section}"));
    assert!(row.contains("<td>ann</td>"), "{row}");
    assert!(
        row.contains(">5</td>") || row.contains(">6</td>"),
        "failures: {row}"
    );
    assert!(row.contains(" UTC"), "until when: {row}");
    assert!(!section.contains(A), "A is not throttled: {section}");
}

/// Issue 15 item 1, over the API: release tooling's check is remembered
/// for 5 minutes, then its right password got 429 for as long as a
/// guesser kept the account locked. A new password forgets remembered
/// checks at once, which stands in for the 5 minutes passing.
#[test]
fn a_guesser_does_not_lock_release_tooling_out_of_the_api() {
    let env = Env::new();
    let server = server(&env);
    assert_eq!(api_get(server.port, A, "rel", &password("rel")).status, 200);
    for i in 0..6 {
        let r = api_get(server.port, B, "rel", "not-the-password");
        assert!(matches!(r.status, 401 | 429), "guess {i}: {r:?}");
    }
    // Nothing remembered any more: the next call is checked again.
    passwd(&env, "rel", "a-new-correct-horse");
    let r = api_get(server.port, A, "rel", "a-new-correct-horse");
    assert_eq!(r.status, 200, "{r:?}");
    // The guesser's failures count for admin logins too (one throttle):
    // the admin lists them.
    let r = login(server.port, A, false, "ann", &password("ann"));
    let (session, _) = set_cookie(&r, "bouncer_session").expect("a session");
    let section = throttled(server.port, session);
    assert!(
        section
            .split("<tr>")
            .any(|row| row.contains(B) && row.contains("<td>rel</td>")),
        "{section}"
    );
}

/// Issue 15 item 11: over HTTPS the session and login cookies are
/// `__Host-` cookies (Secure, Path=/, no Domain), so a sibling subdomain
/// cannot plant them; only the name for the request's scheme is read.
#[test]
fn cookies_over_https_are_host_cookies() {
    let env = Env::new();
    let server = server(&env);
    let https = [("X-Forwarded-Proto", "https")];
    let page = http(server.port, "GET", "/admin/login", &https);
    assert!(set_cookie(&page, "bouncer_login").is_none(), "{page:?}");
    let (token, line) = set_cookie(&page, "__Host-bouncer_login").expect("a __Host- login cookie");
    assert_host_cookie(line);

    // A plain-named login cookie (planted from a sibling) is not read.
    let body = form_urlencode(&[
        ("csrf", token),
        ("next", "/admin/"),
        ("user", "ann"),
        ("password", &password("ann")),
    ]);
    let post = |cookie: &str| {
        http_body(
            server.port,
            "POST",
            "/admin/login",
            &[
                ("X-Forwarded-Proto", "https"),
                ("Cookie", cookie),
                ("Content-Type", "application/x-www-form-urlencoded"),
            ],
            body.as_bytes(),
        )
    };
    let r = post(&format!("bouncer_login={token}"));
    assert_eq!(r.status, 403, "{r:?}");

    let r = post(&format!("__Host-bouncer_login={token}"));
    assert_eq!(r.status, 303, "{r:?}");
    assert!(set_cookie(&r, "bouncer_session").is_none(), "{r:?}");
    let (session, line) = set_cookie(&r, "__Host-bouncer_session").expect("a __Host- session");
    assert_host_cookie(line);
    let (_, cleared) = set_cookie(&r, "__Host-bouncer_login").expect("the login cookie cleared");
    assert_host_cookie(cleared);
    assert!(cleared.contains("Max-Age=0"), "{cleared}");

    let get = |headers: &[(&str, &str)]| http(server.port, "GET", "/admin/mirrors", headers);
    let host = format!("__Host-bouncer_session={session}");
    let plain = format!("bouncer_session={session}");
    assert_eq!(
        get(&[("X-Forwarded-Proto", "https"), ("Cookie", &host)]).status,
        200
    );
    // Only the name for the request's scheme is read.
    assert_eq!(
        get(&[("X-Forwarded-Proto", "https"), ("Cookie", &plain)]).status,
        303
    );
    assert_eq!(get(&[("Cookie", &host)]).status, 303);

    // Over plain HTTP the names and scope stay as they were.
    let r = login(server.port, A, false, "ann", &password("ann"));
    let (_, line) = set_cookie(&r, "bouncer_session").expect("a plain session cookie");
    assert!(
        line.contains("Path=/admin") && !line.contains("Secure"),
        "{line}"
    );
}

/// Secure, `Path=/`, no `Domain`: what a `__Host-` cookie must have.
fn assert_host_cookie(line: &str) {
    let attrs: Vec<String> = line
        .split(';')
        .skip(1)
        .map(|a| a.trim().to_ascii_lowercase())
        .collect();
    for a in ["secure", "path=/", "httponly", "samesite=strict"] {
        assert!(attrs.iter().any(|x| x == a), "{a} in {line}");
    }
    assert!(!attrs.iter().any(|a| a.starts_with("domain")), "{line}");
}

/// The "Throttled logins" part of the users page, seen by the admin
/// whose session this is (from address A).
fn throttled(port: u16, session: &str) -> String {
    let page = http(
        port,
        "GET",
        "/admin/users",
        &[
            ("X-Forwarded-For", A),
            ("Cookie", &format!("bouncer_session={session}")),
        ],
    );
    assert_eq!(page.status, 200, "{page:?}");
    let at = page.body.find("Throttled logins").expect("the list");
    page.body[at..].to_string()
}
