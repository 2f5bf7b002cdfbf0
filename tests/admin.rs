//! SPEC §4: the admin framework seen from outside — login, sessions and
//! their cookies, login throttling, CSRF on every POST, roles, escaping,
//! security headers, the body cap, `--admin-listen`, and admin changes
//! reaching the live index at once. The real binary over real HTTP; only
//! the framework, the login page and the mirrors section are relied on.

use std::io::Write;
use std::time::Duration;

use crate::common::{
    Env, NOT_FOUND, Response, form_urlencode, http, http_body, password, poll, send_streaming,
};

/// The admin's body cap (`admin::MAX_BODY`).
const MAX_BODY: usize = 64 << 20;

/// Percent-decoding (with `+` as space) of a query value.
fn decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).expect("ASCII");
                out.push(u8::from_str_radix(hex, 16).expect("hex escape"));
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).expect("UTF-8")
}

/// The value of the hidden (or any) input named `name` in `html`.
fn input_value(html: &str, name: &str) -> Option<String> {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html.find(&marker)? + marker.len();
    let len = html[start..].find('"')?;
    Some(html[start..start + len].to_string())
}

fn is_token(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// The `Set-Cookie` value for cookie `name` in `r`.
fn set_cookie<'a>(r: &'a Response, name: &str) -> Option<&'a str> {
    r.set_cookies()
        .into_iter()
        .find(|c| c.split_once('=').is_some_and(|(n, _)| n.trim() == name))
}

/// The attributes of a `Set-Cookie` value, lower-cased and trimmed.
fn attributes(cookie: &str) -> Vec<String> {
    cookie
        .split(';')
        .skip(1)
        .map(|a| a.trim().to_ascii_lowercase())
        .collect()
}

fn cookie_value(cookie: &str) -> &str {
    cookie
        .split(';')
        .next()
        .and_then(|c| c.split_once('='))
        .map_or("", |(_, v)| v.trim())
}

/// A browser with a cookie jar, talking to one port.
struct Browser {
    port: u16,
    jar: Vec<(String, String)>,
    headers: Vec<(String, String)>,
}

impl Browser {
    fn new(port: u16) -> Browser {
        Browser {
            port,
            jar: Vec::new(),
            headers: Vec::new(),
        }
    }

    /// A browser whose requests all carry this header (as if it came
    /// through a proxy).
    fn with_header(port: u16, name: &str, value: &str) -> Browser {
        let mut b = Browser::new(port);
        b.headers.push((name.into(), value.into()));
        b
    }

    fn cookie(&self, name: &str) -> Option<&str> {
        self.jar
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// Puts a cookie in the jar (planted, or kept from before).
    fn plant(&mut self, name: &str, value: &str) {
        self.jar.retain(|(n, _)| n != name);
        self.jar.push((name.into(), value.into()));
    }

    fn forget(&mut self, name: &str) {
        self.jar.retain(|(n, _)| n != name);
    }

    fn request_headers(&self) -> Vec<(String, String)> {
        let mut h = self.headers.clone();
        if !self.jar.is_empty() {
            let cookies: Vec<String> = self.jar.iter().map(|(n, v)| format!("{n}={v}")).collect();
            h.push(("Cookie".into(), cookies.join("; ")));
        }
        h
    }

    fn keep(&mut self, r: &Response) {
        for c in r.set_cookies() {
            let Some((name, _)) = c.split_once('=') else {
                continue;
            };
            let name = name.trim().to_string();
            let value = cookie_value(c).to_string();
            if attributes(c).iter().any(|a| a == "max-age=0") || value.is_empty() {
                self.forget(&name);
            } else {
                self.plant(&name, &value);
            }
        }
    }

    fn get(&mut self, target: &str) -> Response {
        let headers = self.request_headers();
        let refs: Vec<(&str, &str)> = headers
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_str()))
            .collect();
        let r = http(self.port, "GET", target, &refs);
        self.keep(&r);
        r
    }

    fn post(&mut self, target: &str, fields: &[(&str, &str)]) -> Response {
        let mut headers = self.request_headers();
        headers.push((
            "Content-Type".into(),
            "application/x-www-form-urlencoded".into(),
        ));
        let refs: Vec<(&str, &str)> = headers
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_str()))
            .collect();
        let body = form_urlencode(fields);
        let r = http_body(self.port, "POST", target, &refs, body.as_bytes());
        self.keep(&r);
        r
    }

    /// Opens the login page and submits it, going to the mirrors; the
    /// POST's answer.
    fn login_as(&mut self, user: &str, password: &str) -> Response {
        self.login_to("/admin/mirrors", user, password)
    }

    /// Opens the login page and submits it with `next`; the POST's answer.
    fn login_to(&mut self, next: &str, user: &str, password: &str) -> Response {
        let page = self.get("/admin/login");
        assert_eq!(page.status, 200, "{page:?}");
        let token = input_value(&page.body, "csrf").expect("the login form's token");
        self.post(
            "/admin/login",
            &[
                ("csrf", &token),
                ("next", next),
                ("user", user),
                ("password", password),
            ],
        )
    }

    /// A new browser logged in as `user` ([`Browser::login`]).
    fn logged_in(port: u16, user: &str) -> Browser {
        let mut b = Browser::new(port);
        b.login(user);
        b
    }

    /// Logs in as `user` with the right password, which must work.
    fn login(&mut self, user: &str) {
        let r = self.login_as(user, &password(user));
        assert_eq!(r.status, 303, "login as {user}: {r:?}");
        assert!(self.cookie("bouncer_session").is_some(), "{r:?}");
    }

    /// The session's CSRF token, from the logout form on a page.
    fn csrf(&mut self) -> String {
        let page = self.get("/admin/mirrors");
        assert_eq!(page.status, 200, "{page:?}");
        input_value(&page.body, "csrf").expect("a form with the session's token")
    }
}

/// `form` and a `csrf` field.
fn with_csrf<'a>(form: &[(&'a str, &'a str)], csrf: &'a str) -> Vec<(&'a str, &'a str)> {
    let mut f = form.to_vec();
    f.push(("csrf", csrf));
    f
}

/// `mirror list` through the running server: (NAME, RATING, ACTIVE) rows.
fn mirrors(env: &Env) -> Vec<(String, String, String)> {
    env.mirror_rows()
        .into_iter()
        .map(|c| (c[0].clone(), c[2].clone(), c[3].clone()))
        .collect()
}

fn mirror_names(env: &Env) -> Vec<String> {
    mirrors(env).into_iter().map(|(n, _, _)| n).collect()
}

#[test]
fn login_redirects_back_with_fresh_strict_cookies_and_logout_ends_the_session() {
    let env = Env::new();
    env.add_user("ann", "admin");
    let server = env.serve(&[]);
    let mut b = Browser::new(server.port);

    // Without a session every page leads to the login page, remembering
    // where it was going.
    for (target, next) in [
        ("/admin/", "/admin/"),
        (
            "/admin/mirrors?sort=name&x=%C3%BC",
            "/admin/mirrors?sort=name&x=%C3%BC",
        ),
        ("/admin/no-such-page", "/admin/no-such-page"),
    ] {
        let r = b.get(target);
        assert_eq!(r.status, 303, "{target}: {r:?}");
        let query = r
            .location()
            .strip_prefix("/admin/login?next=")
            .unwrap_or_else(|| panic!("{target}: {r:?}"));
        assert_eq!(decode(query), next, "{target}");
    }
    assert_eq!(b.get("/admin").location(), "/admin/");

    // The login page plants the login form's token in a strict cookie.
    let page = b.get("/admin/login?next=%2Fadmin%2Fmirrors%3Fsort%3Dname");
    assert_eq!(page.status, 200, "{page:?}");
    let login_cookie = set_cookie(&page, "bouncer_login").expect("a bouncer_login cookie");
    let attrs = attributes(login_cookie);
    for a in ["httponly", "samesite=strict", "path=/admin"] {
        assert!(attrs.iter().any(|x| x == a), "{a} in {login_cookie}");
    }
    assert!(!attrs.iter().any(|x| x == "secure"), "{login_cookie}");
    let token = cookie_value(login_cookie).to_string();
    assert!(is_token(&token), "{login_cookie}");
    assert_eq!(input_value(&page.body, "csrf").as_deref(), Some(&*token));
    assert_eq!(
        input_value(&page.body, "next").as_deref(),
        Some("/admin/mirrors?sort=name")
    );

    // A session id planted before login (session fixation) is not taken
    // over: login makes a new one, and the planted one stays worthless.
    let planted = "ab".repeat(32);
    b.plant("bouncer_session", &planted);
    let r = b.post(
        "/admin/login",
        &[
            ("csrf", &token),
            ("next", "/admin/mirrors?sort=name"),
            ("user", "ann"),
            ("password", &password("ann")),
        ],
    );
    assert_eq!(r.status, 303, "{r:?}");
    assert_eq!(r.location(), "/admin/mirrors?sort=name");
    let session_cookie = set_cookie(&r, "bouncer_session").expect("a session cookie");
    let attrs = attributes(session_cookie);
    for a in ["httponly", "samesite=strict", "path=/admin"] {
        assert!(attrs.iter().any(|x| x == a), "{a} in {session_cookie}");
    }
    assert!(
        !attrs.iter().any(|x| x == "secure"),
        "no Secure over plain HTTP: {session_cookie}"
    );
    let first = cookie_value(session_cookie).to_string();
    assert!(is_token(&first), "{session_cookie}");
    assert_ne!(first, planted);
    assert_ne!(first, token, "the session id is not the login token");
    // The login token is used up.
    let cleared = set_cookie(&r, "bouncer_login").expect("the login cookie cleared");
    assert!(
        attributes(cleared).iter().any(|a| a == "max-age=0"),
        "{cleared}"
    );

    let page = b.get("/admin/mirrors?sort=name");
    assert_eq!(page.status, 200, "{page:?}");
    assert!(page.body.contains("ann"), "{}", page.body);
    let mut intruder = Browser::new(server.port);
    intruder.plant("bouncer_session", &planted);
    let r = intruder.get("/admin/mirrors");
    assert_eq!(r.status, 303, "the planted id is no session: {r:?}");
    assert!(r.location().starts_with("/admin/login?"), "{r:?}");

    // Logging in again (with the first session's cookie) replaces the
    // session; the first id ends.
    let r = b.login_as("ann", &password("ann"));
    assert_eq!(r.status, 303, "{r:?}");
    let second = b.cookie("bouncer_session").unwrap().to_string();
    assert_ne!(second, first);
    let mut old = Browser::new(server.port);
    old.plant("bouncer_session", &first);
    assert_eq!(old.get("/admin/mirrors").status, 303);
    assert_eq!(b.get("/admin/mirrors").status, 200);

    // Logging out needs the form's token…
    let r = b.post("/admin/logout", &[]);
    assert_eq!(r.status, 403, "{r:?}");
    assert_eq!(b.get("/admin/mirrors").status, 200, "still logged in");
    // …and ends the session.
    let csrf = b.csrf();
    let r = b.post("/admin/logout", &[("csrf", &csrf)]);
    assert_eq!(r.status, 303, "{r:?}");
    assert_eq!(r.location(), "/admin/login");
    let cleared = set_cookie(&r, "bouncer_session").expect("the session cookie cleared");
    assert!(
        attributes(cleared).iter().any(|a| a == "max-age=0"),
        "{cleared}"
    );
    assert_eq!(b.cookie("bouncer_session"), None);
    // A copy of the old cookie is worth nothing now.
    b.plant("bouncer_session", &second);
    let r = b.get("/admin/mirrors");
    assert_eq!(r.status, 303, "{r:?}");
    assert!(r.location().starts_with("/admin/login?next="), "{r:?}");
    let r = b.post("/admin/logout", &[("csrf", &csrf)]);
    assert_eq!(r.status, 403, "{r:?}");
}

#[test]
fn cookies_are_secure_host_cookies_when_the_proxy_says_https() {
    let env = Env::new();
    env.add_user("ann", "admin");
    let server = env.serve(&[]);
    let mut b = Browser::with_header(server.port, "X-Forwarded-Proto", "https");
    let page = b.get("/admin/login");
    let login_cookie = set_cookie(&page, "__Host-bouncer_login").expect("a login cookie");
    assert!(
        attributes(login_cookie).iter().any(|a| a == "secure"),
        "{login_cookie}"
    );
    let r = b.login_as("ann", &password("ann"));
    assert_eq!(r.status, 303, "{r:?}");
    // `__Host-`: Secure, for the whole site, no Domain (issue 15).
    let session = set_cookie(&r, "__Host-bouncer_session").expect("a session cookie");
    let attrs = attributes(session);
    for a in ["secure", "httponly", "samesite=strict", "path=/"] {
        assert!(attrs.iter().any(|x| x == a), "{a} in {session}");
    }
    assert!(!attrs.iter().any(|a| a.starts_with("domain")), "{session}");
    // Logging out over HTTPS clears it with the same attributes.
    let csrf = b.csrf();
    let r = b.post("/admin/logout", &[("csrf", &csrf)]);
    let cleared = set_cookie(&r, "__Host-bouncer_session").expect("the cookie cleared");
    assert!(
        attributes(cleared).iter().any(|a| a == "secure"),
        "{cleared}"
    );

    // Anything else than https is plain HTTP.
    let mut plain = Browser::with_header(server.port, "X-Forwarded-Proto", "http");
    let r = plain.login_as("ann", &password("ann"));
    let session = set_cookie(&r, "bouncer_session").expect("a session cookie");
    assert!(
        !attributes(session).iter().any(|a| a == "secure"),
        "{session}"
    );
}

#[test]
fn only_paths_inside_the_admin_are_followed_after_login() {
    let env = Env::new();
    env.add_user("ann", "admin");
    let server = env.serve(&[]);
    for (next, to) in [
        ("https://evil.example/", "/admin/"),
        ("//evil.example/admin", "/admin/"),
        ("/admin//evil.example", "/admin/"),
        ("/admin/\\evil.example", "/admin/"),
        ("", "/admin/"),
        ("/admin/mirrors/m1", "/admin/mirrors/m1"),
    ] {
        let r = Browser::new(server.port).login_to(next, "ann", &password("ann"));
        assert_eq!(r.status, 303, "{next}: {r:?}");
        assert_eq!(r.location(), to, "next={next:?}");
    }
}

#[test]
fn wrong_passwords_are_refused_alike_and_throttle_only_their_address() {
    let env = Env::new();
    for (name, role) in [("ann", "admin"), ("bob", "admin"), ("cid", "viewer")] {
        env.add_user(name, role);
    }
    let server = env.serve(&["--trusted-proxy", "127.0.0.1"]);

    let mut b = Browser::new(server.port);
    let wrong = b.login_as("ann", "not-the-password");
    assert_eq!(wrong.status, 401, "{wrong:?}");
    assert!(
        wrong.body.contains("Wrong user name or password"),
        "{}",
        wrong.body
    );
    assert_eq!(set_cookie(&wrong, "bouncer_session"), None, "{wrong:?}");
    assert_eq!(b.get("/admin/mirrors").status, 303, "not logged in");
    // An unknown account looks the same.
    let unknown = b.login_as("nobody", "not-the-password");
    assert_eq!(unknown.status, 401, "{unknown:?}");
    assert_eq!(
        unknown.body.replace("nobody", "ann"),
        wrong.body,
        "unknown users are told exactly what wrong passwords are"
    );
    // The right password with the wrong case of it is wrong.
    let r = b.login_as("ann", &password("ann").to_uppercase());
    assert_eq!(r.status, 401, "{r:?}");

    // A success forgets an account's failures: cid fails 4 times, logs
    // in, fails 4 times more, and still logs in.
    for _ in 0..2 {
        for _ in 0..4 {
            assert_eq!(b.login_as("cid", "nope-nope-nope").status, 401);
        }
        Browser::logged_in(server.port, "cid");
    }

    // ann: 2 failures so far; 3 more make 5, and from then on this
    // address waits before each try (how long is the unit tests' and
    // tests/lockout.rs's business)…
    for _ in 0..3 {
        let r = b.login_as("ann", "still-wrong");
        assert_eq!(r.status, 401, "{r:?}");
    }
    // …but the account is not locked: from another address the right
    // password gets in (issue 15).
    let mut elsewhere = Browser::with_header(server.port, "X-Forwarded-For", "192.0.2.1");
    elsewhere.login("ann");
    assert_eq!(elsewhere.get("/admin/mirrors").status, 200);

    // Another account logs in from the same address (14 failures from it
    // so far, under the limit of 20).
    let mut other = Browser::logged_in(server.port, "bob");
    assert_eq!(other.get("/admin/mirrors").status, 200);
}

#[test]
fn twenty_failures_from_one_address_throttle_it_except_for_its_own_accounts() {
    let env = Env::new();
    env.add_user("bob", "admin");
    env.add_user("cid", "admin");
    let server = env.serve(&["--trusted-proxy", "127.0.0.1"]);
    // bob has logged in from this address before.
    Browser::logged_in(server.port, "bob");
    // Four failures each for five names: no account reaches its limit,
    // the address does.
    let mut guesser = Browser::new(server.port);
    for i in 0..20 {
        let r = guesser.login_as(&format!("guess{}", i % 5), "password");
        assert_eq!(r.status, 401, "attempt {i}: {r:?}");
    }
    // bob still gets in from it (issue 15); the admin lists the address
    // as throttled for the other accounts.
    let mut again = Browser::logged_in(server.port, "bob");
    let page = again.get("/admin/users");
    assert!(
        page.body.contains("<code>127.0.0.1</code>")
            && page.body.contains("any it has not logged in to"),
        "{}",
        page.body
    );
    // Other addresses are not held up.
    let mut other = Browser::with_header(server.port, "X-Forwarded-For", "192.0.2.1");
    other.login("cid");
}

#[test]
fn every_post_needs_the_sessions_csrf_token() {
    let env = Env::new();
    env.add_user("ann", "admin");
    env.add_user("bob", "admin");
    let server = env.serve(&[]);
    let mut ann = Browser::logged_in(server.port, "ann");
    let mut bob = Browser::logged_in(server.port, "bob");
    let token = ann.csrf();
    let bobs = bob.csrf();
    assert_ne!(token, bobs);
    let mirror = [
        ("name", "m1"),
        ("base_url", "http://127.0.0.1:9/m1"),
        ("rating", "5"),
    ];
    let with = |csrf| with_csrf(&mirror, csrf);

    let wrong = "0".repeat(64);
    for (what, form) in [
        ("no token", mirror.to_vec()),
        ("an empty token", with("")),
        ("a wrong token", with(&wrong)),
        ("a token cut short", with(&token[..63])),
        ("another session's token", with(&bobs)),
    ] {
        let r = ann.post("/admin/mirrors", &form);
        assert_eq!(r.status, 403, "{what}: {r:?}");
        assert!(r.body.contains("security token"), "{what}: {}", r.body);
        assert!(mirror_names(&env).is_empty(), "{what}: stored anyway");
    }
    // The token belongs in the body, not in the URL.
    let r = ann.post(&format!("/admin/mirrors?csrf={token}"), &mirror);
    assert_eq!(r.status, 403, "{r:?}");
    // Without a session, no POST gets through, token or not.
    let mut stranger = Browser::new(server.port);
    let r = stranger.post("/admin/mirrors", &with(&token));
    assert_eq!(r.status, 403, "{r:?}");
    assert!(mirror_names(&env).is_empty());

    let r = ann.post("/admin/mirrors", &with(&token));
    assert_eq!(r.status, 303, "{r:?}");
    assert_eq!(r.location(), "/admin/mirrors/m1");
    assert_eq!(mirror_names(&env), ["m1"]);
    // The token stays valid for the session's later forms.
    let r = ann.post(
        "/admin/mirrors/m1",
        &[
            ("csrf", &token),
            ("base_url", "http://127.0.0.1:9/m1"),
            ("rating", "9"),
            ("active", "on"),
        ],
    );
    assert_eq!(r.status, 303, "{r:?}");
    assert_eq!(
        mirrors(&env),
        [("m1".to_string(), "9".to_string(), "yes".to_string())]
    );
}

#[test]
fn the_login_form_needs_its_cookie_and_matching_token() {
    let env = Env::new();
    env.add_user("ann", "admin");
    let server = env.serve(&[]);
    let right = |csrf: &str| {
        vec![
            ("csrf".to_string(), csrf.to_string()),
            ("user".to_string(), "ann".to_string()),
            ("password".to_string(), password("ann")),
        ]
    };
    let post = |b: &mut Browser, form: Vec<(String, String)>| {
        let refs: Vec<(&str, &str)> = form.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        b.post("/admin/login", &refs)
    };

    // The token from the page, but no cookie (a cross-site form post
    // carries none: SameSite=Strict).
    let mut b = Browser::new(server.port);
    let page = b.get("/admin/login");
    let token = input_value(&page.body, "csrf").unwrap();
    b.forget("bouncer_login");
    let r = post(&mut b, right(&token));
    assert_eq!(r.status, 403, "no cookie: {r:?}");
    assert!(r.body.contains("expired"), "{}", r.body);
    assert_eq!(set_cookie(&r, "bouncer_session"), None);

    // A cookie, and a token that does not match it.
    let mut b = Browser::new(server.port);
    b.get("/admin/login");
    let r = post(&mut b, right(&"1".repeat(64)));
    assert_eq!(r.status, 403, "mismatch: {r:?}");
    assert_eq!(set_cookie(&r, "bouncer_session"), None);
    // A cookie and no token at all.
    let mut b = Browser::new(server.port);
    b.get("/admin/login");
    let mut form = right("");
    form.remove(0);
    let r = post(&mut b, form);
    assert_eq!(r.status, 403, "no token: {r:?}");
    assert_eq!(set_cookie(&r, "bouncer_session"), None);
    // An attacker's own pair does not work either if it is not a token.
    let mut b = Browser::new(server.port);
    b.plant("bouncer_login", "x");
    let r = post(&mut b, right("x"));
    assert_eq!(r.status, 403, "a made-up token: {r:?}");

    // The refusal offers a fresh form that works.
    let token = input_value(&r.body, "csrf").expect("a fresh form");
    assert_eq!(b.cookie("bouncer_login"), Some(token.as_str()));
    let r = post(&mut b, right(&token));
    assert_eq!(r.status, 303, "{r:?}");
}

#[test]
fn roles_limit_who_may_change_what() {
    let env = Env::new();
    env.add_user("ann", "admin");
    env.add_user("rita", "release");
    env.add_user("vic", "viewer");
    let server = env.serve(&[]);
    let mirror = |csrf: &str| {
        vec![
            ("name".to_string(), "m1".to_string()),
            ("base_url".to_string(), "http://127.0.0.1:9/m1".to_string()),
            ("csrf".to_string(), csrf.to_string()),
        ]
    };
    let post = |b: &mut Browser, target: &str, form: &[(String, String)]| {
        let refs: Vec<(&str, &str)> = form.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        b.post(target, &refs)
    };

    for (name, role) in [("vic", "viewer"), ("rita", "release")] {
        let mut b = Browser::new(server.port);
        b.login(name);
        // Everyone may look…
        let page = b.get("/admin/mirrors");
        assert_eq!(page.status, 200, "{name}: {page:?}");
        assert!(
            !page.body.contains("Add mirror"),
            "{name} is offered a form they may not use"
        );
        // …but not change the network.
        let csrf = b.csrf();
        let r = post(&mut b, "/admin/mirrors", &mirror(&csrf));
        assert_eq!(r.status, 403, "{name}: {r:?}");
        assert!(r.body.contains(role), "{name}: {}", r.body);
        assert!(mirror_names(&env).is_empty(), "{name} added a mirror");
    }

    let mut ann = Browser::logged_in(server.port, "ann");
    let csrf = ann.csrf();
    assert!(ann.get("/admin/mirrors").body.contains("Add mirror"));
    let r = post(&mut ann, "/admin/mirrors", &mirror(&csrf));
    assert_eq!(r.status, 303, "{r:?}");
    assert_eq!(mirror_names(&env), ["m1"]);

    // Nor remove it or change it.
    for name in ["vic", "rita"] {
        let mut b = Browser::new(server.port);
        b.login(name);
        let csrf = b.csrf();
        let r = b.post("/admin/mirrors/m1/remove", &[("csrf", &csrf)]);
        assert_eq!(r.status, 403, "{name}: {r:?}");
        let r = b.post(
            "/admin/mirrors/m1",
            &[
                ("csrf", &csrf),
                ("base_url", "http://127.0.0.1:9/evil"),
                ("rating", "1000"),
                ("active", "on"),
            ],
        );
        assert_eq!(r.status, 403, "{name}: {r:?}");
        // Products are release work: release users pass the role check
        // (whatever the section then answers), viewers do not.
        let r = b.post("/admin/products", &[("csrf", &csrf)]);
        if name == "vic" {
            assert_eq!(r.status, 403, "{name}: {r:?}");
        } else {
            assert_ne!(r.status, 403, "{name} may change products: {r:?}");
        }
        // Anyone may log out.
        assert_eq!(b.post("/admin/logout", &[("csrf", &csrf)]).status, 303);
    }
    assert_eq!(
        mirrors(&env),
        [("m1".to_string(), "100".to_string(), "yes".to_string())]
    );
    let r = ann.post("/admin/mirrors/m1/remove", &[("csrf", &csrf)]);
    assert_eq!(r.status, 303, "{r:?}");
    assert!(mirror_names(&env).is_empty());
}

const HOSTILE: &str = "<script>alert(1)</script>\"><img src=x onerror=alert(1)>'";
const HOSTILE_ESCAPED: &str =
    "&lt;script&gt;alert(1)&lt;/script&gt;&quot;&gt;&lt;img src=x onerror=alert(1)&gt;'";

fn assert_no_markup_injected(what: &str, html: &str) {
    assert!(
        !html.contains("<script>alert"),
        "{what}: raw <script>:\n{html}"
    );
    assert!(!html.contains("<img src=x"), "{what}: raw <img:\n{html}");
}

#[test]
fn hostile_strings_are_escaped_and_unicode_round_trips() {
    let env = Env::new();
    env.add_user("ann", "admin");
    let server = env.serve(&[]);
    let mut b = Browser::logged_in(server.port, "ann");
    let csrf = b.csrf();
    // A hostile contact is refused (one bare address only, issue 15) and
    // shown again escaped, with its unicode intact.
    let contact = format!("{HOSTILE} Zürich ☃ 東京");
    let r = b.post(
        "/admin/mirrors",
        &[
            ("csrf", &csrf),
            ("name", "hostile"),
            ("base_url", "http://127.0.0.1:9/h"),
            ("contact", &contact),
        ],
    );
    assert_eq!(r.status, 422, "{r:?}");
    assert_no_markup_injected("refused contact", &r.body);
    assert!(
        r.body.contains(&format!("{HOSTILE_ESCAPED} Zürich ☃ 東京")),
        "the contact, escaped, with its unicode intact:\n{}",
        r.body
    );
    let shown = input_value(&r.body, "contact").expect("the contact field");
    assert_eq!(
        shown
            .replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&quot;", "\"")
            .replace("&amp;", "&"),
        contact
    );
    let contact = "ops@hostile.example.org";
    let r = b.post(
        "/admin/mirrors",
        &[
            ("csrf", &csrf),
            ("name", "hostile"),
            ("base_url", "http://127.0.0.1:9/h"),
            ("contact", contact),
        ],
    );
    assert_eq!(r.status, 303, "{r:?}");
    assert_eq!(r.location(), "/admin/mirrors/hostile");
    let page = b.get("/admin/mirrors/hostile");
    assert_eq!(page.status, 200, "{page:?}");
    assert!(page.body.contains("Added mirror hostile"), "{}", page.body);
    // Saved back unchanged through the form, it stays the same.
    let shown = input_value(&page.body, "contact").expect("the contact field");
    assert_eq!(shown, contact);
    let r = b.post(
        "/admin/mirrors/hostile",
        &[
            ("csrf", &csrf),
            ("base_url", "http://127.0.0.1:9/h"),
            ("rating", "100"),
            ("contact", contact),
            ("active", "on"),
        ],
    );
    assert_eq!(r.status, 303, "{r:?}");
    let page = b.get("/admin/mirrors/hostile");
    assert!(page.body.contains("Saved mirror hostile"), "{}", page.body);
    assert_eq!(input_value(&page.body, "contact"), Some(shown));
    assert_no_markup_injected("mirror page after saving", &page.body);

    // Refused input is shown again, escaped: a hostile name, a hostile
    // base URL, a hostile rating.
    for (field, form) in [
        (
            "name",
            [
                ("name", HOSTILE),
                ("base_url", "http://127.0.0.1:9/x"),
                ("rating", "1"),
            ],
        ),
        (
            "base_url",
            [("name", "x"), ("base_url", HOSTILE), ("rating", "1")],
        ),
        (
            "rating",
            [
                ("name", "x"),
                ("base_url", "http://127.0.0.1:9/x"),
                ("rating", HOSTILE),
            ],
        ),
    ] {
        let mut f = form.to_vec();
        f.push(("csrf", &csrf));
        let r = b.post("/admin/mirrors", &f);
        assert_eq!(r.status, 422, "{field}: {r:?}");
        assert_no_markup_injected(field, &r.body);
        assert!(r.body.contains("&lt;script&gt;"), "{field}: {}", r.body);
    }
    assert_eq!(mirror_names(&env), ["hostile"]);

    // The path of a page that does not exist, and the login page's echoes.
    let r = b.get("/admin/mirrors/%3Cscript%3Ealert(1)%3C%2Fscript%3E");
    assert_eq!(r.status, 404, "{r:?}");
    assert_no_markup_injected("404", &r.body);
    let mut stranger = Browser::new(server.port);
    let page =
        stranger.get("/admin/login?next=%2Fadmin%2F%22%3E%3Cscript%3Ealert(1)%3C%2Fscript%3E");
    assert_eq!(page.status, 200, "{page:?}");
    assert_no_markup_injected("login page next", &page.body);
    let r = stranger.login_as(HOSTILE, "x");
    assert_eq!(r.status, 401, "{r:?}");
    assert_no_markup_injected("login page user", &r.body);
    assert!(r.body.contains(HOSTILE_ESCAPED), "{}", r.body);
}

/// Checks the security headers every admin answer carries.
fn assert_admin_headers(what: &str, r: &Response) {
    let csp = r
        .header("content-security-policy")
        .unwrap_or_else(|| panic!("{what}: no Content-Security-Policy: {r:?}"));
    let directive = |name: &str| {
        csp.split(';')
            .map(str::trim)
            .find(|d| d.split_whitespace().next() == Some(name))
            .map(str::to_string)
    };
    let scripts = directive("script-src")
        .or_else(|| directive("default-src"))
        .unwrap_or_else(|| panic!("{what}: the policy does not limit scripts: {csp}"));
    for bad in [
        "'unsafe-inline'",
        "'unsafe-eval'",
        "*",
        "data:",
        "http:",
        "https:",
    ] {
        assert!(
            !scripts.split_whitespace().any(|s| s == bad),
            "{what}: scripts from {bad} allowed: {csp}"
        );
    }
    assert!(
        directive("frame-ancestors").is_some_and(|d| d.contains("'none'")),
        "{what}: {csp}"
    );
    assert_eq!(r.header("x-frame-options"), Some("DENY"), "{what}: {r:?}");
    assert_eq!(
        r.header("x-content-type-options"),
        Some("nosniff"),
        "{what}: {r:?}"
    );
    assert_eq!(r.header("cache-control"), Some("no-store"), "{what}: {r:?}");
}

/// Pages must work under their own policy: no inline script or style.
fn assert_no_inline_code(what: &str, html: &str) {
    let lower = html.to_ascii_lowercase();
    for (i, _) in lower.match_indices("<script") {
        let tag_end = lower[i..].find('>').map_or(lower.len(), |e| i + e);
        assert!(
            lower[i..tag_end].contains(" src="),
            "{what}: an inline script would be blocked: {}",
            &html[i..tag_end]
        );
    }
    assert!(
        !lower.contains("<style"),
        "{what}: inline <style> is blocked"
    );
    assert!(
        !lower.contains(" style=\""),
        "{what}: style attributes are blocked"
    );
    for handler in [
        " onclick=",
        " onsubmit=",
        " onload=",
        " onchange=",
        "javascript:",
    ] {
        assert!(!lower.contains(handler), "{what}: {handler} is blocked");
    }
}

#[test]
fn every_admin_answer_carries_the_security_headers() {
    let env = Env::new();
    env.add_user("ann", "admin");
    env.add_user("vic", "viewer");
    let server = env.serve(&[]);
    let mut b = Browser::new(server.port);

    let mut answers = vec![
        ("redirect to login", b.get("/admin/")),
        ("redirect to /admin/", b.get("/admin")),
        ("login page", b.get("/admin/login")),
        ("wrong password", b.login_as("ann", "wrong-wrong")),
        (
            "post without session",
            b.post("/admin/mirrors", &[("csrf", "x")]),
        ),
        (
            "method not allowed",
            http(server.port, "DELETE", "/admin/mirrors", &[]),
        ),
    ];
    let login = b.login_as("ann", &password("ann"));
    answers.push(("login", login));
    let csrf = b.csrf();
    answers.push((
        "add mirror",
        b.post(
            "/admin/mirrors",
            &[
                ("csrf", &csrf),
                ("name", "m1"),
                ("base_url", "http://127.0.0.1:9/m1"),
            ],
        ),
    ));
    answers.push(("mirror list", b.get("/admin/mirrors")));
    answers.push(("mirror page", b.get("/admin/mirrors/m1")));
    answers.push(("no such mirror", b.get("/admin/mirrors/nope")));
    answers.push(("no such section", b.get("/admin/nope")));
    answers.push((
        "invalid form",
        b.post("/admin/mirrors", &[("csrf", &csrf), ("rating", "x")]),
    ));
    answers.push(("bad token", b.post("/admin/mirrors", &[("csrf", "x")])));
    let mut vic = Browser::logged_in(server.port, "vic");
    let vcsrf = vic.csrf();
    answers.push((
        "role refused",
        vic.post("/admin/mirrors/m1/remove", &[("csrf", &vcsrf)]),
    ));
    answers.push(("logout", b.post("/admin/logout", &[("csrf", &csrf)])));

    for (what, r) in &answers {
        assert_admin_headers(what, r);
        if r.header("content-type")
            .is_some_and(|t| t.starts_with("text/html"))
        {
            assert_no_inline_code(what, &r.body);
        }
    }
    // The statuses are the ones each case is meant to show.
    let statuses: Vec<(&str, u16)> = answers.iter().map(|(w, r)| (*w, r.status)).collect();
    assert_eq!(
        statuses,
        [
            ("redirect to login", 303),
            ("redirect to /admin/", 303),
            ("login page", 200),
            ("wrong password", 401),
            ("post without session", 403),
            ("method not allowed", 405),
            ("login", 303),
            ("add mirror", 303),
            ("mirror list", 200),
            ("mirror page", 200),
            ("no such mirror", 404),
            ("no such section", 404),
            ("invalid form", 422),
            ("bad token", 403),
            ("role refused", 403),
            ("logout", 303),
        ]
    );
    // The pages' own script and style are served (and are not inline).
    for asset in ["/assets/admin.js", "/assets/admin.css"] {
        assert!(answers[2].1.body.contains(asset), "{asset}");
        assert_eq!(http(server.port, "GET", asset, &[]).status, 200, "{asset}");
    }
}

/// Sends `size` bytes of chunked body to `target` with `cookie`; returns
/// the answer (given as soon as the cap is passed).
fn send_chunked(port: u16, target: &str, cookie: &str, size: usize) -> Response {
    let head = format!(
        "POST {target} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nCookie: {cookie}\r\nContent-Type: application/octet-stream\r\nTransfer-Encoding: chunked\r\n\r\n"
    );
    send_streaming(port, head, move |w| {
        let chunk = vec![b'x'; 1 << 20];
        for _ in 0..size.div_ceil(chunk.len()) {
            let sent = w
                .write_all(format!("{:x}\r\n", chunk.len()).as_bytes())
                .and_then(|()| w.write_all(&chunk))
                .and_then(|()| w.write_all(b"\r\n"));
            if sent.is_err() {
                return; // the server has answered and closed
            }
        }
        let _ = w.write_all(b"0\r\n\r\n");
    })
}

/// Sends only the headers of a POST declaring `length` bytes.
fn send_declared(port: u16, target: &str, cookie: &str, length: u64) -> Response {
    let head = format!(
        "POST {target} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nCookie: {cookie}\r\nContent-Type: application/octet-stream\r\nContent-Length: {length}\r\n\r\n"
    );
    send_streaming(port, head, |_| {})
}

#[test]
fn bodies_are_capped_before_they_are_read() {
    let env = Env::new();
    env.add_user("ann", "admin");
    let server = env.serve(&[]);
    const ANONYMOUS: usize = 16 << 10;
    const FORM: usize = 1 << 20;

    // Without a session (the login form): 16 KiB, refused from the
    // headers alone, the body never sent, or once a chunked body passes it.
    for target in ["/admin/login", "/admin/loader/preview", "/admin/mirrors"] {
        let r = send_declared(server.port, target, "", ANONYMOUS as u64 + 1);
        assert_eq!(r.status, 413, "{target}: {r:?}");
        assert!(r.body.contains("16 KiB"), "{r:?}");
    }
    let r = send_declared(server.port, "/admin/login", "", 99_999_999_999_999);
    assert_eq!(r.status, 413, "{r:?}");
    let r = send_chunked(server.port, "/admin/login", "", 2 << 20);
    assert_eq!(r.status, 413, "{r:?}");
    // Exactly the cap is read (and then refused for want of a session).
    let body = vec![b'a'; ANONYMOUS];
    let r = http_body(
        server.port,
        "POST",
        "/admin/mirrors",
        &[("Content-Type", "application/x-www-form-urlencoded")],
        &body,
    );
    assert_eq!(r.status, 403, "{r:?}");

    // A live session: forms 1 MiB, the checksum upload 64 MiB.
    let b = Browser::logged_in(server.port, "ann");
    let cookie = format!("bouncer_session={}", b.cookie("bouncer_session").unwrap());
    let r = send_declared(server.port, "/admin/mirrors", &cookie, FORM as u64 + 1);
    assert_eq!(r.status, 413, "{r:?}");
    // An upload may be larger than a form: read whole, then refused (it
    // is no form: sent as application/octet-stream).
    let r = send_chunked(server.port, "/admin/loader/preview", &cookie, 2 << 20);
    assert_eq!(r.status, 400, "{r:?}");
    assert!(r.body.contains("multipart/form-data"), "{r:?}");
    let r = send_declared(
        server.port,
        "/admin/loader/preview",
        &cookie,
        MAX_BODY as u64 + 1,
    );
    assert_eq!(r.status, 413, "{r:?}");
    assert!(r.body.contains("65536 KiB"), "{r:?}");
    let r = send_chunked(
        server.port,
        "/admin/loader/preview",
        &cookie,
        MAX_BODY + (2 << 20),
    );
    assert_eq!(r.status, 413, "{r:?}");

    // The server is fine afterwards.
    assert_eq!(http(server.port, "GET", "/admin/login", &[]).status, 200);
}

/// The admin port a server announced on stderr.
fn admin_port(server: &crate::common::Server) -> u16 {
    poll(Duration::from_secs(20), Duration::from_millis(20), || {
        let log = server.log();
        let line = log
            .lines()
            .find_map(|l| l.strip_prefix("bouncer: admin pages on http://127.0.0.1:"))?
            .to_string();
        line.chars()
            .take_while(char::is_ascii_digit)
            .collect::<String>()
            .parse()
            .ok()
    })
    .unwrap_or_else(|| panic!("no admin address announced:\n{}", server.log()))
}

#[test]
fn admin_listen_serves_the_admin_only_on_its_own_address() {
    let env = Env::new();
    env.add_user("ann", "admin");
    env.setup(&[
        "product add p --lang de",
        "location add p win /p/:lang/setup.exe",
        "mirror add m1 http://127.0.0.1:9/m1",
        "status set m1 present",
    ]);
    let server = env.serve(&["--admin-listen", "127.0.0.1:0"]);
    let admin = admin_port(&server);
    assert_ne!(admin, server.port);
    assert!(
        server
            .log()
            .contains(&format!("(not on 127.0.0.1:{})", server.port)),
        "{}",
        server.log()
    );

    // The public address knows no admin.
    for target in ["/admin/", "/admin", "/admin/login", "/admin/mirrors"] {
        let r = server.get_not_found(target);
        assert_eq!(set_cookie(&r, "bouncer_login"), None, "{target}");
    }
    let mut public = Browser::new(server.port);
    // (A POST there is what any POST to the redirect path is.)
    let r = public.post("/admin/login", &[("user", "ann")]);
    assert_eq!(r.status, 405, "{r:?}");
    // It still redirects downloads.
    let r = server.get_redirect("/?product=p&os=win&lang=de");
    assert_eq!(r.location(), "http://127.0.0.1:9/m1/p/de/setup.exe");

    // The admin address has the admin.
    let mut b = Browser::new(admin);
    let r = b.get("/admin/");
    assert_eq!(r.status, 303, "{r:?}");
    assert!(r.location().starts_with("/admin/login?next="), "{r:?}");
    b.login("ann");
    assert_eq!(b.get("/admin/mirrors").status, 200);
    // A session from the admin address means nothing on the public one.
    let session = b.cookie("bouncer_session").unwrap().to_string();
    let cookie = format!("bouncer_session={session}");
    let r = server.get_with("/admin/mirrors", &[("Cookie", &cookie)]);
    assert_eq!(r.status, 404, "{r:?}");
}

#[test]
fn admin_changes_reach_the_live_index_at_once() {
    let env = Env::new();
    env.add_user("ann", "admin");
    env.setup(&[
        "product add p --lang de",
        "location add p win /p/:lang/setup.exe",
    ]);
    let server = env.serve(&[]);
    let target = "/?product=p&os=win&lang=de";
    assert_eq!(server.get(target).status, 503, "nobody serves it yet");

    let mut b = Browser::logged_in(server.port, "ann");
    let csrf = b.csrf();
    let r = b.post(
        "/admin/mirrors",
        &[
            ("csrf", &csrf),
            ("name", "live"),
            ("base_url", "http://127.0.0.1:9/live"),
            ("rating", "7"),
        ],
    );
    assert_eq!(r.status, 303, "{r:?}");
    // Through the control socket, the running server's view: no restart.
    assert_eq!(
        mirrors(&env),
        [("live".to_string(), "7".to_string(), "yes".to_string())]
    );
    env.ok(&["status", "set", "live", "present"]);
    let r = server.get_redirect(target);
    assert_eq!(r.location(), "http://127.0.0.1:9/live/p/de/setup.exe");

    // Switched off in the admin (confirmed: unticking Active asks
    // first): off the next request.
    let r = b.post(
        "/admin/mirrors/live",
        &[
            ("csrf", &csrf),
            ("base_url", "http://127.0.0.1:9/live"),
            ("rating", "7"),
            ("confirmed", "yes"),
        ],
    );
    assert_eq!(r.status, 303, "{r:?}");
    assert_eq!(
        mirrors(&env),
        [("live".to_string(), "7".to_string(), "no".to_string())]
    );
    assert_eq!(server.get(target).status, 503);

    // Back on, at another address.
    let r = b.post(
        "/admin/mirrors/live",
        &[
            ("csrf", &csrf),
            ("base_url", "https://127.0.0.1:9/moved"),
            ("rating", "3"),
            ("active", "on"),
        ],
    );
    assert_eq!(r.status, 303, "{r:?}");
    // A new address forgets what the old one was known to serve, at
    // once: nothing until it is found there.
    assert_eq!(
        server
            .get_with(target, &[("X-Forwarded-Proto", "https")])
            .status,
        503
    );
    env.ok(&["status", "set", "live", "present"]);
    let r = server.get_with(target, &[("X-Forwarded-Proto", "https")]);
    assert_eq!(r.status, 302, "{r:?}");
    assert_eq!(r.location(), "https://127.0.0.1:9/moved/p/de/setup.exe");

    // Removed in the admin: gone from the live index too.
    let r = b.post("/admin/mirrors/live/remove", &[("csrf", &csrf)]);
    assert_eq!(r.status, 303, "{r:?}");
    assert!(mirror_names(&env).is_empty());
    assert_eq!(server.get(target).status, 503);
}

#[test]
fn removing_an_account_on_the_command_line_ends_its_sessions() {
    let env = Env::new();
    env.add_user("ann", "admin");
    env.add_user("bob", "admin");
    let server = env.serve(&[]);
    let mut ann = Browser::logged_in(server.port, "ann");
    let csrf = ann.csrf();
    let mut bob = Browser::logged_in(server.port, "bob");
    env.ok(&["user", "remove", "ann"]);
    let r = ann.get("/admin/mirrors");
    assert_eq!(r.status, 303, "{r:?}");
    let r = ann.post(
        "/admin/mirrors",
        &[
            ("csrf", &csrf),
            ("name", "m1"),
            ("base_url", "http://127.0.0.1:9/m1"),
        ],
    );
    assert_eq!(r.status, 403, "{r:?}");
    assert!(mirror_names(&env).is_empty());
    assert_eq!(ann.login_as("ann", &password("ann")).status, 401);
    // Other accounts are untouched.
    assert_eq!(bob.get("/admin/mirrors").status, 200);
}

#[test]
fn a_password_changed_on_the_command_line_ends_the_accounts_sessions() {
    let env = Env::new();
    env.add_user("ann", "admin");
    let server = env.serve(&[]);
    let mut ann = Browser::logged_in(server.port, "ann");
    assert_eq!(ann.get("/admin/mirrors").status, 200);
    // An operator resets the password (say, it leaked) through the
    // running server's control socket.
    let out = env.run_input(&["user", "passwd", "ann"], "a-brand-new-password\n");
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(
        ann.login_as("ann", &password("ann")).status,
        401,
        "the old password no longer works"
    );
    // Whoever held a session from the old password is out, as when the
    // password is changed on the admin's users page.
    let mut stolen = Browser::new(server.port);
    stolen.plant("bouncer_session", ann.cookie("bouncer_session").unwrap());
    let r = stolen.get("/admin/mirrors");
    assert_eq!(
        r.status, 303,
        "a session from before the password change still works: {r:?}"
    );
}

#[test]
fn the_answer_to_a_login_always_says_where_to_go() {
    let env = Env::new();
    env.add_user("ann", "admin");
    let server = env.serve(&[]);
    // A crafted link may carry any `next`; a successful login must still
    // lead somewhere inside the admin, never to a 303 without Location.
    let mut broken = Vec::new();
    for next in [
        "/admin/mirrors?q=Zürich",
        "/admin/\u{2603}",
        "/admin/x\ty",
        "/admin/x\r\nSet-Cookie: planted=1",
        "/admin/x\u{7f}",
    ] {
        let r = Browser::new(server.port).login_to(next, "ann", &password("ann"));
        assert_eq!(r.status, 303, "{next:?}: {r:?}");
        // Never a header smuggled in.
        assert_eq!(set_cookie(&r, "planted"), None, "{r:?}");
        if !r
            .header("location")
            .is_some_and(|l| l.starts_with("/admin"))
        {
            broken.push(format!("next={next:?}: {r:?}"));
        }
    }
    assert!(
        broken.is_empty(),
        "logged in, but sent nowhere (303 without Location):\n{}",
        broken.join("\n")
    );
}

// ----- issue 14 -----

#[test]
fn removing_an_aliased_product_confirms_its_aliases_and_takes_them() {
    let env = Env::new();
    env.add_user("ann", "admin");
    env.setup(&[
        "product add fx-1.0 --lang de",
        "location add fx-1.0 win /fx/:lang/setup.exe",
        "mirror add m1 http://127.0.0.1:9/m1",
        "status set m1 present",
        "alias set fx-latest fx-1.0",
    ]);
    let server = env.serve(&[]);
    let bounce = "/?product=fx-latest&os=win&lang=de";
    assert_eq!(server.get(bounce).status, 302);
    let mut b = Browser::logged_in(server.port, "ann");
    let csrf = b.csrf();

    // The remove button's confirmation names the alias that goes with it,
    // and the form carries it.
    let page = b.get("/admin/products/fx-1.0");
    assert_eq!(page.status, 200, "{page:?}");
    assert!(
        page.body.contains(
            r#"data-confirm="Remove product fx-1.0, its locations and its alias fx-latest?""#
        ),
        "{}",
        page.body
    );
    assert!(
        page.body
            .contains("Its alias <strong>fx-latest</strong> goes with it"),
        "{}",
        page.body
    );
    assert!(
        page.body
            .contains(r#"<input type="hidden" name="alias" value="fx-latest">"#),
        "{}",
        page.body
    );

    // Another alias comes to point at it after the page was shown: the
    // confirmation did not name it, so nothing is removed.
    env.ok(&["alias", "set", "fx-stable", "fx-1.0"]);
    let r = b.post(
        "/admin/products/fx-1.0/remove",
        &[("csrf", &csrf), ("alias", "fx-latest")],
    );
    assert_eq!(r.status, 303, "{r:?}");
    assert_eq!(r.location(), "/admin/products/fx-1.0");
    let page = b.get("/admin/products/fx-1.0");
    assert!(
        page.body
            .contains("Nothing was removed: alias fx-stable points at product fx-1.0 too"),
        "{}",
        page.body
    );
    assert!(
        page.body.contains(
            r#"data-confirm="Remove product fx-1.0, its locations and its aliases fx-latest, fx-stable?""#
        ),
        "{}",
        page.body
    );
    assert_eq!(server.get(bounce).status, 302);

    // Confirmed with both: the product and its aliases go at once, the
    // message names them, the aliases answer 404 and the audit log has it.
    let r = b.post(
        "/admin/products/fx-1.0/remove",
        &[
            ("csrf", &csrf),
            ("alias", "fx-latest"),
            ("alias", "fx-stable"),
        ],
    );
    assert_eq!(r.status, 303, "{r:?}");
    assert_eq!(r.location(), "/admin/products");
    let page = b.get("/admin/products");
    assert!(
        page.body.contains(
            "Removed product fx-1.0, its locations and its aliases fx-latest, fx-stable."
        ),
        "{}",
        page.body
    );
    for alias in ["fx-latest", "fx-stable"] {
        let r = server.get(&format!("/?product={alias}&os=win&lang=de"));
        assert_eq!((r.status, r.body.as_str()), (404, NOT_FOUND), "{alias}");
    }
    assert_eq!(
        env.ok(&["alias", "list"]).lines().count(),
        1,
        "only the header"
    );
    let audit = b.get("/admin/audit?q=fx-1.0");
    assert!(
        audit
            .body
            .contains("fx-1.0 with alias(es) fx-latest, fx-stable"),
        "{}",
        audit.body
    );
    assert!(audit.body.contains("admin:ann"), "{}", audit.body);
}

#[test]
fn a_mirror_at_another_mirrors_address_is_refused_with_a_link_to_it() {
    let env = Env::new();
    env.add_user("ann", "admin");
    env.setup(&["mirror add m1 https://m1.example/pub --rating 10"]);
    let server = env.serve(&[]);
    let mut b = Browser::logged_in(server.port, "ann");
    let csrf = b.csrf();
    let link = r#"<a href="/admin/mirrors/m1">m1</a>"#;

    let r = b.post(
        "/admin/mirrors",
        &[
            ("csrf", &csrf),
            ("name", "m2"),
            ("base_url", "https://M1.example:443/pub/"),
        ],
    );
    assert_eq!(r.status, 422, "{r:?}");
    assert!(
        r.body.contains(&format!(
            "Mirror {link} has the base URL <code>https://m1.example/pub</code> already"
        )),
        "{}",
        r.body
    );
    assert_eq!(mirror_names(&env), ["m1"]);

    let r = b.post(
        "/admin/mirrors",
        &[
            ("csrf", &csrf),
            ("name", "m2"),
            ("base_url", "https://m2.example/pub"),
        ],
    );
    assert_eq!(r.status, 303, "{r:?}");
    let r = b.post(
        "/admin/mirrors/m2",
        &[
            ("csrf", &csrf),
            ("base_url", "https://m1.example/pub/"),
            ("rating", "5"),
            ("active", "on"),
        ],
    );
    assert_eq!(r.status, 422, "{r:?}");
    assert!(
        r.body.contains(&format!("Change or remove {link} instead")),
        "{}",
        r.body
    );
    assert_eq!(
        mirrors(&env),
        [
            ("m1".to_string(), "10".to_string(), "yes".to_string()),
            ("m2".to_string(), "100".to_string(), "yes".to_string()),
        ]
    );
}

#[test]
fn a_language_that_is_no_locale_code_is_refused_in_the_admin_with_an_example() {
    let env = Env::new();
    env.add_user("ann", "admin");
    let server = env.serve(&[]);
    let mut b = Browser::logged_in(server.port, "ann");
    let csrf = b.csrf();
    let r = b.post(
        "/admin/products",
        &[("csrf", &csrf), ("name", "p"), ("languages", "de english")],
    );
    assert_eq!(r.status, 422, "{r:?}");
    assert!(
        r.body.contains("&quot;english&quot; is not a locale code")
            && r.body.contains("e.g. de, en-US"),
        "{}",
        r.body
    );
    assert_eq!(
        env.ok(&["product", "list"]).lines().count(),
        1,
        "only the header"
    );
    let r = b.post(
        "/admin/products",
        &[
            ("csrf", &csrf),
            ("name", "p"),
            ("languages", "de ja-JP-mac"),
        ],
    );
    assert_eq!(r.status, 303, "{r:?}");
    let r = b.post(
        "/admin/products/p/languages",
        &[("csrf", &csrf), ("languages", "de ja-JP-mac multi english")],
    );
    assert_eq!(r.status, 422, "{r:?}");
    assert!(
        r.body.contains("&quot;english&quot; is not a locale code"),
        "{}",
        r.body
    );
    assert!(env.ok(&["product", "list"]).contains("de,ja-JP-mac "));
    let r = b.post(
        "/admin/products/p/languages",
        &[("csrf", &csrf), ("languages", "de ja-JP-mac multi sr-Latn")],
    );
    assert_eq!(r.status, 303, "{r:?}");
    assert!(
        env.ok(&["product", "list"])
            .contains("de,ja-JP-mac,multi,sr-Latn")
    );
}

/// A logged-in operator is limited per user (off by default), not per
/// address: at the default settings, pages keep coming after the
/// per-address burst that stops anonymous clients from the same address.
#[test]
fn logged_in_operators_are_not_limited_per_address_at_defaults() {
    let env = Env::new();
    env.add_user("ann", "admin");
    let server = env.serve(&[]);
    let mut b = Browser::logged_in(server.port, "ann");
    for i in 0..400 {
        let r = b.get("/admin/mirrors");
        assert_eq!(r.status, 200, "page {i}: {r:?}");
    }
    // Someone without a session at the same address is limited…
    let refused = (0..1000)
        .map(|_| http(server.port, "GET", "/admin/login", &[]))
        .find(|r| r.status == 429)
        .expect("anonymous pages are limited per address");
    assert!(refused.header("retry-after").is_some(), "{refused:?}");
    // …and the operator carries on.
    assert_eq!(b.get("/admin/mirrors").status, 200);
}
