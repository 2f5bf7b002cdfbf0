//! Issue 17: two `bouncer serve` nodes on one PostgreSQL database share
//! admin sessions. A session made by logging in on node A works on node
//! B, its CSRF token included; logging out on B ends it on A.

use std::path::PathBuf;

use bouncer::testing::postgres::TestPostgres;

use crate::common::{Env, Response, form_urlencode, http, http_body, password};

/// The value of `name="NAME" value="…"` in a page.
fn input_value(html: &str, name: &str) -> Option<String> {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html.find(&marker)? + marker.len();
    let len = html[start..].find('"')?;
    Some(html[start..start + len].to_string())
}

/// The value a `Set-Cookie: NAME=…` header of `r` sets.
fn set_cookie(r: &Response, name: &str) -> Option<String> {
    let prefix = format!("{name}=");
    r.headers
        .iter()
        .filter(|(n, _)| n == "set-cookie")
        .filter_map(|(_, v)| v.strip_prefix(&prefix))
        .map(|v| v.split(';').next().unwrap_or("").to_string())
        .find(|v| !v.is_empty())
}

fn post(port: u16, target: &str, cookie: &str, fields: &[(&str, &str)]) -> Response {
    http_body(
        port,
        "POST",
        target,
        &[
            ("Cookie", cookie),
            ("Content-Type", "application/x-www-form-urlencoded"),
        ],
        form_urlencode(fields).as_bytes(),
    )
}

#[test]
fn a_session_made_on_a_works_on_b() {
    let Some(server) = TestPostgres::shared_or_skip() else {
        return;
    };
    let mut env = Env::new();
    env.db = PathBuf::from(server.database());
    env.add_user("ann", "admin");
    let a = env.serve(&[]);
    let b = env.serve(&[]);

    // Log in on A.
    let page = http(a.port, "GET", "/admin/login", &[]);
    assert_eq!(page.status, 200, "{page:?}");
    let token = input_value(&page.body, "csrf").expect("the login form's token");
    let login_cookie = format!(
        "bouncer_login={}",
        set_cookie(&page, "bouncer_login").expect("a login cookie")
    );
    let r = post(
        a.port,
        "/admin/login",
        &login_cookie,
        &[
            ("csrf", &token),
            ("next", "/admin/users"),
            ("user", "ann"),
            ("password", &password("ann")),
        ],
    );
    assert_eq!(r.status, 303, "{r:?}");
    let session = format!(
        "bouncer_session={}",
        set_cookie(&r, "bouncer_session").expect("a session cookie")
    );

    // The cookie works on B: the page, and a form posted with the token
    // B's page carries.
    let page = crate::common::try_http(b.port, "GET", "/admin/users", &[("Cookie", &session)])
        .unwrap_or_else(|e| panic!("{e}\n{}", b.log()));
    assert_eq!(page.status, 200, "{page:?}");
    assert!(page.body.contains("ann"), "{}", page.body);
    let csrf = input_value(&page.body, "csrf").expect("a form with the session's token");
    let r = post(b.port, "/admin/logout", &session, &[("csrf", &csrf)]);
    assert_eq!(r.status, 303, "{r:?}");
    assert_eq!(r.header("location"), Some("/admin/login"));

    // Logged out on B: gone on A too.
    let r = http(a.port, "GET", "/admin/users", &[("Cookie", &session)]);
    assert_eq!(r.status, 303, "{r:?}");
    assert!(
        r.header("location")
            .is_some_and(|l| l.starts_with("/admin/login")),
        "{r:?}"
    );
}
