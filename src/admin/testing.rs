//! Test helpers for the admin sections: an [`Admin`] over a network in a
//! temporary directory, users logged in with each role, and requests
//! answered through [`handle`] exactly as the server would.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;

use http_body_util::BodyExt;
use hyper::header::{CONTENT_TYPE, COOKIE, HeaderValue, LOCATION};
use hyper::{HeaderMap, Method, StatusCode};

use super::{Admin, Request, handle};
use crate::http::Reply;
use crate::model::{Role, User};
use crate::network::Network;

/// An admin over an empty network, and the directory that holds it.
pub fn admin() -> (tempfile::TempDir, Admin) {
    let dir = tempfile::tempdir().unwrap();
    let network = Arc::new(Network::open(dir.path().join("t.redb"), true).unwrap());
    let admin = Admin::new(network, None, dir.path().join("reports"));
    (dir, admin)
}

/// Two admins over one fresh PostgreSQL database, as two nodes serve it
/// (`None` where PostgreSQL is not installed).
pub fn admins_on_postgres() -> Option<(Admin, Admin)> {
    let server = crate::testing::postgres::TestPostgres::shared_or_skip()?;
    let url = server.database();
    let node = || {
        let place = crate::store::Place::Postgres(url.clone());
        let network = Arc::new(Network::open(place, true).unwrap());
        Admin::new(
            network,
            None,
            std::env::temp_dir().join("bouncer-no-reports"),
        )
    };
    Some((node(), node()))
}

/// A logged-in user's cookie and CSRF token.
pub struct Login {
    /// `bouncer_session=…`.
    pub cookie: String,
    /// The session's CSRF token.
    pub csrf: String,
}

/// Creates user `name` with `role` and `password`.
pub fn add_user(admin: &Admin, name: &str, password: &str, role: Role) -> User {
    let user = User {
        name: name.into(),
        password_hash: crate::auth::hash_password(password).unwrap(),
        role,
        created_at: 0,
    };
    admin
        .network
        .write(&crate::model::Actor::Program("test"), |tx| {
            tx.user_put(&user, "user.add")
        })
        .unwrap();
    user
}

/// Creates user `name` with `role` (password `pw-NAME`) and logs them in.
pub fn login(admin: &Admin, name: &str, role: Role) -> Login {
    let user = add_user(admin, name, &format!("pw-{name}"), role);
    let now = crate::model::now();
    let id = admin.sessions.start(&user, now).unwrap();
    let csrf = admin.sessions.touch(&id, now).unwrap().unwrap().csrf;
    Login {
        cookie: format!("{}={id}", super::session::SESSION_COOKIE),
        csrf,
    }
}

/// Sends a request as `who` (or nobody) and returns the reply.
pub fn request(
    admin: &Admin,
    who: Option<&Login>,
    method: Method,
    path_and_query: &str,
    content_type: Option<&str>,
    body: &[u8],
) -> Reply {
    let (path, query) = path_and_query
        .split_once('?')
        .unwrap_or((path_and_query, ""));
    let mut headers = HeaderMap::new();
    if let Some(who) = who {
        headers.insert(COOKIE, HeaderValue::from_str(&who.cookie).unwrap());
    }
    if let Some(ct) = content_type {
        headers.insert(CONTENT_TYPE, HeaderValue::from_str(ct).unwrap());
    }
    handle(
        admin,
        &Request {
            method: &method,
            path: path.strip_prefix("/admin").unwrap_or(path),
            query,
            headers: &headers,
            body,
            peer: IpAddr::V4(Ipv4Addr::LOCALHOST),
        },
    )
}

/// GET `path` (below or including `/admin`) as `who`.
pub fn get(admin: &Admin, who: &Login, path: &str) -> Reply {
    request(admin, Some(who), Method::GET, path, None, b"")
}

/// POSTs `fields` (urlencoded, with `who`'s CSRF token added) to `path`.
pub fn post(admin: &Admin, who: &Login, path: &str, fields: &[(&str, &str)]) -> Reply {
    let mut body = format!("csrf={}", who.csrf);
    for (k, v) in fields {
        body.push('&');
        body.push_str(&crate::admin::page::seg(k));
        body.push('=');
        body.push_str(&crate::admin::page::seg(v));
    }
    request(
        admin,
        Some(who),
        Method::POST,
        path,
        Some("application/x-www-form-urlencoded"),
        body.as_bytes(),
    )
}

/// The reply's body as text.
pub fn body(reply: Reply) -> String {
    let bytes = futures_lite_block(reply.into_body().collect()).to_bytes();
    String::from_utf8(bytes.to_vec()).unwrap()
}

/// Where a 303 goes; panics (with the page) on any other status.
pub fn redirected(reply: Reply) -> String {
    let status = reply.status();
    if status != StatusCode::SEE_OTHER {
        panic!("expected 303, got {status}: {}", body(reply));
    }
    reply.headers()[LOCATION].to_str().unwrap().to_string()
}

/// The page shown after following a 303 (its flash message included).
pub fn follow(admin: &Admin, who: &Login, reply: Reply) -> String {
    let to = redirected(reply);
    body(get(admin, who, &to))
}

fn futures_lite_block<F, T, E>(f: F) -> T
where
    F: std::future::Future<Output = Result<T, E>>,
{
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
        .block_on(f)
        .ok()
        .expect("a full body never fails")
}

/// Adds a mirror at `https://m.example/NAME` rated `rating`.
pub fn add_rated_mirror(
    admin: &Admin,
    name: &str,
    rating: u32,
    inactive: bool,
) -> crate::model::MirrorId {
    admin
        .network
        .write(&crate::model::Actor::Program("test"), |tx| {
            tx.mirror_add(crate::store::NewMirror {
                name: name.into(),
                base_url: format!("https://m.example/{}", crate::query::encode_component(name)),
                rating,
                inactive,
                ..crate::store::NewMirror::default()
            })
        })
        .unwrap()
        .id
}

/// Adds an active https mirror rated 100 serving `regions`.
pub fn add_mirror(admin: &Admin, name: &str, regions: &[&str]) {
    admin
        .network
        .write(&crate::model::Actor::Program("test"), |tx| {
            tx.mirror_add(crate::store::NewMirror {
                name: name.into(),
                base_url: format!(
                    "https://mirror.example/pub/{}",
                    crate::query::encode_component(name)
                ),
                rating: 100,
                regions: regions.iter().map(|r| r.to_string()).collect(),
                contact: String::new(),
                inactive: false,
                families: Default::default(),
                audience: Default::default(),
                alt_url: None,
                trace: None,
                kind: Default::default(),
            })
        })
        .unwrap();
}

/// The names of the mirrors a mirrors list page rendered, in order (the
/// links of its table rows).
pub fn listed_mirrors(page: &str) -> Vec<String> {
    page.split("<td><a href=\"/admin/mirrors/")
        .skip(1)
        .map(|rest| rest[..rest.find('"').unwrap_or(rest.len())].to_string())
        .collect()
}
