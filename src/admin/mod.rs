//! The admin pages under `/admin/`: login, sessions and CSRF checks
//! ([`session`]), the shared layout ([`page`]), and one module per section.
//!
//! Requests arrive here whole (body read and capped by the server) and are
//! answered on a blocking thread: pages read the store and writes commit,
//! which must not stall the redirect path's workers.
//!
//! Every POST is checked centrally before any section sees it: a live
//! session, the session's CSRF token, and a role allowed to write to the
//! section. Sections cannot forget a check.

pub mod list;
pub mod page;
pub mod session;
#[cfg(test)]
pub mod testing;

pub mod audit;
pub mod availability;
pub mod geoip;
pub mod loader;
pub mod maintenance;
pub mod mirrors;
pub mod oses;
pub mod overview;
pub mod products;
pub mod regions;
pub mod reports;
pub mod stats;
pub mod users;
pub mod wording;

use std::path::PathBuf;
use std::sync::Arc;

use hyper::header::{CACHE_CONTROL, HeaderValue, SET_COOKIE};
use hyper::{HeaderMap, Method, StatusCode};
use maud::{Markup, html};

use crate::auth::{self, Area, Throttle};
use crate::error::Result;
use crate::error::Thing;
use crate::http::Reply;
pub use crate::http::form::Form;
use crate::model::User;
use crate::network::Network;
use crate::sentry::Sentry;
use session::{Flash, Sessions};

/// Request bodies larger than this are refused (checksum and GeoIP file
/// uploads are the largest things the admin receives).
pub const MAX_BODY: usize = 64 << 20;

/// How much of a request body the admin reads, and for how long, decided
/// before reading from whether the request comes with a `live` session
/// ([`session_user`]): checksum and GeoIP uploads from a live session get
/// [`MAX_BODY`], other forms of a live session 1 MiB, anyone else (the
/// login form) 16 KiB.
pub fn body_limit(live: bool, path: &str) -> (usize, std::time::Duration) {
    let secs = std::time::Duration::from_secs;
    match (live, path.trim_end_matches('/')) {
        (true, "/admin/loader/preview" | "/admin/geoip/import") => (MAX_BODY, secs(600)),
        (true, _) => (1 << 20, secs(60)),
        (false, _) => (16 << 10, secs(30)),
    }
}

/// Whether [`session_user`] reads the database for these headers (the
/// sessions are in PostgreSQL and a session cookie came): then call it
/// off the async workers. Otherwise it is a quick look in memory.
pub fn session_user_blocks(admin: &Admin, headers: &HeaderMap) -> bool {
    admin.sessions.in_database()
        && session::cookie(headers, session::session_cookie(over_https(admin, headers))).is_some()
}

/// The user of the live session the request's cookie names, if any.
/// Blocking when [`session_user_blocks`] says so.
pub fn session_user(admin: &Admin, headers: &HeaderMap) -> Option<String> {
    session::cookie(headers, session::session_cookie(over_https(admin, headers))).and_then(|id| {
        // A database that cannot be read: treated as no session here
        // (the smallest body); the request itself then says why.
        admin
            .sessions
            .user_of(id, crate::model::now())
            .unwrap_or_else(|e| {
                tracing::warn!(error = %e, "cannot read the session");
                None
            })
    })
}

/// Whether the request arrived over HTTPS at the proxy (its
/// `https_header` says `https`): cookies are then `Secure` `__Host-` ones.
fn over_https(admin: &Admin, headers: &HeaderMap) -> bool {
    crate::http::arrived_over_https(headers, &admin.https_header)
}

/// The admin application: the network it manages and its sessions.
pub struct Admin {
    /// The live network.
    pub network: Arc<Network>,
    /// The server's checker, for "check now" (absent with `--no-sentry`).
    pub sentry: Option<Arc<Sentry>>,
    /// Where sentry's HTML reports are.
    pub reports_dir: PathBuf,
    /// The header that marks requests that arrived over HTTPS at a proxy
    /// (cookies are then `Secure`).
    pub https_header: String,
    /// Live sessions (in the database on PostgreSQL: any node serves any
    /// admin request).
    pub sessions: Sessions,
    /// Failed-login counts, shared with the API's Basic auth (one
    /// guesser, one count, whichever door it knocks on; on PostgreSQL
    /// whichever node).
    pub throttle: Arc<Throttle>,
    /// Uploaded checksum files waiting for "apply".
    pub uploads: loader::Pending,
    /// The HTTPS listeners' certificates, when this process serves TLS
    /// (shown on the overview).
    pub tls: Option<Arc<crate::tls::Certificates>>,
    /// Password checks running now.
    verifying: auth::Verifying,
    /// Checks started from the admin and not finished: one per target.
    checking: Arc<std::sync::Mutex<std::collections::HashSet<String>>>,
}

impl Admin {
    /// An admin over `network`.
    pub fn new(network: Arc<Network>, sentry: Option<Arc<Sentry>>, reports_dir: PathBuf) -> Admin {
        Admin {
            sessions: Sessions::for_network(&network),
            throttle: Arc::new(Throttle::for_network(&network)),
            network,
            sentry,
            reports_dir,
            https_header: "x-forwarded-proto".into(),
            uploads: loader::Pending::default(),
            tls: None,
            verifying: Default::default(),
            checking: Default::default(),
        }
    }
}

pub use crate::http::Request;

/// What a section sees of a request: the path segments below its name
/// (decoded), whether it is a POST, and the form or query fields.
pub struct Page<'a> {
    /// Path segments after the section's own, percent-decoded.
    pub rest: Vec<String>,
    /// A (CSRF-checked, role-checked) POST.
    pub post: bool,
    /// POST: the form; GET: the query string's fields.
    pub form: Form,
    /// The raw query string.
    pub query: &'a str,
}

impl Page<'_> {
    /// The path segments after the section's name, as `&str`s.
    pub fn rest(&self) -> Vec<&str> {
        self.rest.iter().map(String::as_str).collect()
    }
}

/// A logged-in request's context: who, their session, the page's flash.
pub struct Ctx<'a> {
    /// The application.
    pub admin: &'a Admin,
    /// The logged-in user.
    pub user: User,
    /// This session's CSRF token.
    pub csrf: String,
    /// A message from the previous request.
    pub flash: Option<Flash>,
    session: String,
}

impl Ctx<'_> {
    /// Who this user is in the audit log (`admin:NAME`).
    pub fn actor(&self) -> crate::model::Actor {
        crate::model::Actor::Admin(self.user.name.clone())
    }

    /// The live network.
    pub fn network(&self) -> &Network {
        &self.admin.network
    }

    /// Whether this user may change things in `area`.
    pub fn may(&self, area: Area) -> bool {
        auth::may_write(self.user.role, area)
    }

    /// Runs a write as this user: committed, audited, published to the
    /// live index.
    pub fn write<T>(&self, f: impl FnOnce(&mut crate::store::Tx) -> Result<T>) -> Result<T> {
        self.admin.network.write(&self.actor(), f)
    }

    /// A 200 page in the layout; `section` highlights the navigation.
    pub fn page(&self, section: &str, title: &str, body: Markup) -> Reply {
        self.page_status(StatusCode::OK, section, title, body)
    }

    /// A page with another status (422 for a form with errors).
    pub fn page_status(
        &self,
        status: StatusCode,
        section: &str,
        title: &str,
        body: Markup,
    ) -> Reply {
        crate::http::html(status, page::layout(Some(self), section, title, body))
    }

    /// After a successful POST: show `message` on the next page and go
    /// there (303, so a reload does not repeat the POST).
    pub fn done(&self, to: &str, message: impl Into<String>) -> Reply {
        self.flash(false, message.into());
        crate::http::see_other(to)
    }

    /// After a failed POST whose page cannot show the form again: show
    /// `message` as an error on the next page.
    pub fn failed(&self, to: &str, message: impl Into<String>) -> Reply {
        self.flash(true, message.into());
        crate::http::see_other(to)
    }

    /// Leaves a message for the next page. The change it reports is done
    /// whether or not the message can be kept, so a failure to keep it
    /// is only logged.
    fn flash(&self, error: bool, text: String) {
        let kept = self
            .admin
            .sessions
            .flash(&self.session, Flash { error, text });
        if let Err(e) = kept {
            tracing::warn!(error = %e, "cannot keep the message for the next page");
        }
    }

    /// Starts a sentry run in the background (the server's checker, or one
    /// made for this run when the server has none); its report appears
    /// under Reports when it ends.
    /// A second request for the same check while one waits or runs adds
    /// nothing.
    pub fn check_now(&self, mode: crate::sentry::Mode, mirror: Option<&str>) -> Result<()> {
        if let Some(name) = mirror
            && self.admin.network.snapshot()?.mirror(name).is_none()
        {
            return Err(crate::error::Error::not_found(Thing::Mirror, name));
        }
        let key = format!("{}:{}", mode.as_str(), mirror.unwrap_or("").to_lowercase());
        let checking = self.admin.checking.clone();
        if !lock(&checking).insert(key.clone()) {
            return Ok(());
        }
        let sentry = match &self.admin.sentry {
            Some(s) => s.clone(),
            None => Arc::new(Sentry::new(
                self.admin.network.clone(),
                crate::sentry::SentryConfig::new(self.admin.reports_dir.clone()),
            )),
        };
        let mirror = mirror.map(str::to_string);
        std::thread::Builder::new()
            .name("admin-check".into())
            .spawn(move || {
                if let Err(e) = sentry.run(mode, mirror.as_deref()) {
                    tracing::error!(error = %e, "a check started from the admin failed");
                }
                lock(&checking).remove(&key);
            })
            .map(drop)
            .map_err(|e| crate::error::Error::io("cannot start a check", e))
    }

    /// 404 in the layout.
    pub fn not_found(&self, what: &str) -> Reply {
        self.page_status(
            StatusCode::NOT_FOUND,
            "-",
            "Not found",
            html! { h1 { "Not found" } p { (what) } p { a href="/admin/" { "Back to the overview" } } },
        )
    }

    /// The answer to a page that could not be shown: 500 with the
    /// reason. Only [`answer`] calls it, for a [`PageError`].
    fn broken(&self, e: &crate::error::Error) -> Reply {
        self.page_status(
            StatusCode::INTERNAL_SERVER_ERROR,
            "-",
            "Error",
            html! { h1 { "Something went wrong" } p.flash.error { (e.to_string()) } },
        )
    }
}

/// Why a page could not be shown. Sections return it with `?` and
/// [`answer`] turns it into a reply in one place.
#[derive(Debug)]
pub enum PageError {
    /// The store, or a file the page shows, could not be read: a 500 page
    /// that says why (only logged-in staff see it).
    Broken(crate::error::Error),
}

impl From<crate::error::Error> for PageError {
    fn from(e: crate::error::Error) -> PageError {
        PageError::Broken(e)
    }
}

/// What a section's page returns: the reply, or why there is none.
pub type PageResult = std::result::Result<Reply, PageError>;

fn lock<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Answers an admin request. Blocking: call it off the async workers.
pub fn handle(admin: &Admin, req: &Request<'_>) -> Reply {
    let mut reply = answer(admin, req);
    let headers = reply.headers_mut();
    // A page may set its own policy (sentry's report files carry their
    // own inline style and are framed by the reports page).
    headers
        .entry("content-security-policy")
        .or_insert(HeaderValue::from_static(
            "default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self' data:; form-action 'self'; frame-src 'none'; frame-ancestors 'none'; base-uri 'none'",
        ));
    headers
        .entry("x-frame-options")
        .or_insert(HeaderValue::from_static("DENY"));
    headers.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    headers.insert("referrer-policy", HeaderValue::from_static("same-origin"));
    headers
        .entry(CACHE_CONTROL)
        .or_insert(HeaderValue::from_static("no-store"));
    reply
}

fn answer(admin: &Admin, req: &Request<'_>) -> Reply {
    let secure = over_https(admin, req.headers);
    let post = req.method == Method::POST;
    if !post && req.method != Method::GET && req.method != Method::HEAD {
        return crate::http::text(
            StatusCode::METHOD_NOT_ALLOWED,
            "405 the admin pages take GET and POST\n".into(),
        );
    }
    match req.path {
        "" => return crate::http::see_other("/admin/"),
        "/login" => return login(admin, req, secure),
        path => {
            // A mirror contact's link: the token is the credential.
            if let Some(rest) = path.strip_prefix("/maintenance/") {
                return maintenance::link(admin, req, rest);
            }
        }
    }
    let now = crate::model::now();
    let session_cookie = session::session_cookie(secure);
    let session_id = session::cookie(req.headers, session_cookie).unwrap_or("");
    let session = match admin.sessions.touch(session_id, now) {
        Ok(session) => session,
        Err(e) => return unavailable(&e),
    };
    let user = session.as_ref().and_then(|s| {
        // The account may have been removed or changed since login.
        admin
            .network
            .store()
            .user(&s.user)
            .ok()
            .flatten()
            .filter(|u| u.password_hash == s.password_hash)
    });
    let (Some(session), Some(user)) = (session, user) else {
        if post {
            return forbidden("Your session has ended. Log in again, then repeat the change.");
        }
        let next = if req.query.is_empty() {
            format!("/admin{}", req.path)
        } else {
            format!("/admin{}?{}", req.path, req.query)
        };
        return crate::http::see_other(&format!("/admin/login?next={}", page::seg(&next)));
    };
    let mut segments = req
        .path
        .trim_start_matches('/')
        .split('/')
        .map(|s| crate::query::percent_decode(s).into_owned());
    let section = segments.next().unwrap_or_default();
    let mut rest: Vec<String> = segments.collect();
    if rest.last().is_some_and(String::is_empty) {
        rest.pop();
    }
    let ctx = Ctx {
        admin,
        user,
        csrf: session.csrf.clone(),
        flash: session.flash.clone(),
        session: session_id.to_string(),
    };
    let form = if post {
        let form = match Form::parse(req.content_type(), req.body) {
            Ok(f) => f,
            Err(e) => {
                return crate::http::text(
                    StatusCode::BAD_REQUEST,
                    format!("400 unreadable form: {e}\n"),
                );
            }
        };
        if !auth::same_secret(form.get("csrf"), &session.csrf) {
            return forbidden(
                "This form is out of date or came from another site (its security token does not match your session). Reload the page and try again.",
            );
        }
        if section == "logout" {
            if let Err(e) = admin.sessions.end(session_id) {
                return unavailable(&e);
            }
            let mut reply = crate::http::see_other("/admin/login");
            set_cookie(
                &mut reply,
                &session::set_cookie(session_cookie, None, secure),
            );
            return reply;
        }
        if !ctx.may(area(&section, &rest)) {
            return ctx.page_status(
                StatusCode::FORBIDDEN,
                &section,
                "Not allowed",
                html! {
                    h1 { "Not allowed" }
                    p { "Your role (" (ctx.user.role.as_str()) ") may look but not change this. Ask an admin." }
                },
            );
        }
        if form.opt("ask").is_some() && !form.checked("confirmed") {
            // A button that asks first, sent without the script's
            // question (no JavaScript): ask it on a page of its own.
            let action = format!("/admin{}", req.path);
            let back = match form.opt("back") {
                Some(back) => safe_next(back).to_string(),
                None => action
                    .rsplit_once('/')
                    .map_or("/admin/", |(p, _)| p)
                    .to_string(),
            };
            let body = page::confirmation(&ctx, &action, form.get("ask"), &form, &back);
            return ctx.page(&section, "Please confirm", body);
        }
        form
    } else {
        Form::from_query(req.query)
    };
    let page = Page {
        rest,
        post,
        form,
        query: req.query,
    };
    let routed = match section.as_str() {
        "" => overview::route(&ctx, &page),
        "products" => products::route(&ctx, &page),
        "mirrors" => mirrors::route(&ctx, &page),
        "availability" => availability::route(&ctx, &page),
        "regions" => regions::route(&ctx, &page),
        "geoip" => geoip::route(&ctx, &page),
        "oses" => oses::route(&ctx, &page),
        "loader" => loader::route(&ctx, &page),
        "reports" => reports::route(&ctx, &page),
        "stats" => stats::route(&ctx, &page),
        "audit" => audit::route(&ctx, &page),
        "users" => users::route(&ctx, &page),
        _ => Ok(ctx.not_found("There is no such admin page.")),
    };
    routed.unwrap_or_else(|e| match e {
        PageError::Broken(e) => ctx.broken(&e),
    })
}

/// Which role check a section's writes need.
fn area(section: &str, rest: &[String]) -> Area {
    match (section, rest.first().map(String::as_str)) {
        ("products" | "loader", _) | ("availability", Some("product")) => Area::Releases,
        _ => Area::Network,
    }
}

/// The login page and form.
fn login(admin: &Admin, req: &Request<'_>, secure: bool) -> Reply {
    let form = if req.method == Method::POST {
        Form::parse(req.content_type(), req.body).unwrap_or_default()
    } else {
        Form::from_query(req.query)
    };
    let next = safe_next(form.get("next"));
    let login_cookie = session::login_cookie(secure);
    let session_cookie = session::session_cookie(secure);
    let token = session::cookie(req.headers, login_cookie)
        .filter(|t| t.len() == 64 && t.bytes().all(|b| b.is_ascii_hexdigit()))
        .map(str::to_string);
    if req.method != Method::POST {
        let token = token.unwrap_or_else(auth::random_token);
        let mut reply = login_page(StatusCode::OK, &token, next, "", None);
        set_cookie(
            &mut reply,
            &session::set_cookie(login_cookie, Some(&token), secure),
        );
        return reply;
    }
    let Some(token) = token.filter(|t| auth::same_secret(form.get("csrf"), t)) else {
        let token = auth::random_token();
        let mut reply = login_page(
            StatusCode::FORBIDDEN,
            &token,
            next,
            form.get("user"),
            Some("The login form expired or came from another site. Please try again."),
        );
        set_cookie(
            &mut reply,
            &session::set_cookie(login_cookie, Some(&token), secure),
        );
        return reply;
    };
    let name = form.get("user");
    let password = form.raw("password");
    let wrong = |status| {
        login_page(
            status,
            &token,
            next,
            name,
            Some("Wrong user name or password."),
        )
    };
    // Names and passwords no account can have are refused before they
    // cost a throttle entry or a hash.
    if name.len() > 200 || password.len() > 1024 {
        return wrong(StatusCode::UNAUTHORIZED);
    }
    let client = req.peer.to_string();
    // Each check takes ~19 MiB and a core for a while: a few at a time.
    // The slot is taken before the attempt counts: a login refused as
    // busy has had no password checked, and must cost nobody an attempt.
    let Some(_slot) = admin.verifying.start() else {
        return login_page(
            StatusCode::SERVICE_UNAVAILABLE,
            &token,
            next,
            name,
            Some("Too many logins at once; try again in a moment."),
        );
    };
    let now = crate::model::now();
    let attempt = match admin.throttle.attempt(name, &client, now) {
        Ok(attempt) => attempt,
        Err(e) => return unavailable(&e),
    };
    if let Err(wait) = attempt {
        return login_page(
            StatusCode::TOO_MANY_REQUESTS,
            &token,
            next,
            name,
            Some(&format!(
                "Too many failed logins for this account from your address: try again in {}.",
                wait_text(wait)
            )),
        );
    }
    let user = admin.network.store().user(name).ok().flatten();
    // Verify against a fixed hash for unknown names, so the time taken
    // does not tell which accounts exist.
    let hash = user
        .as_ref()
        .map_or(auth::dummy_hash(), |u| u.password_hash.as_str());
    let verified = auth::verify_password(password, hash);
    let Some(user) = user.filter(|_| verified) else {
        tracing::warn!(user = name, client = %client, "admin login failed");
        return wrong(StatusCode::UNAUTHORIZED);
    };
    if let Err(e) = admin.throttle.succeeded(name, &client, now) {
        // The login stands; the pair's failures stay counted a while.
        tracing::warn!(user = name, error = %e, "cannot record a login in the throttle");
    }
    tracing::info!(user = name, client = %client, "admin login");
    // A new session id on every login: an id planted before login is
    // worthless afterwards.
    if let Some(old) = session::cookie(req.headers, session_cookie)
        && let Err(e) = admin.sessions.end(old)
    {
        return unavailable(&e);
    }
    let id = match admin.sessions.start(&user, now) {
        Ok(id) => id,
        Err(e) => return unavailable(&e),
    };
    let mut reply = crate::http::see_other(next);
    set_cookie(
        &mut reply,
        &session::set_cookie(session_cookie, Some(&id), secure),
    );
    set_cookie(&mut reply, &session::set_cookie(login_cookie, None, secure));
    reply
}

/// The answer when sessions or the throttle cannot be read or kept (the
/// database is down): 503, saying why, with no page that needs a session.
fn unavailable(e: &crate::error::Error) -> Reply {
    tracing::warn!(error = %e, "an admin request found no database");
    let mut reply = crate::http::text(
        StatusCode::SERVICE_UNAVAILABLE,
        format!("503 cannot check your session: {e}\n"),
    );
    reply
        .headers_mut()
        .insert(hyper::header::RETRY_AFTER, HeaderValue::from_static("5"));
    reply
}

/// A wait in words: "12 seconds", "3 minutes".
fn wait_text(secs: u64) -> String {
    match secs {
        0..=1 => "1 second".into(),
        2..=119 => format!("{secs} seconds"),
        _ => format!("{} minutes", secs.div_ceil(60)),
    }
}

/// Where to go after login: only paths inside the admin.
fn safe_next(next: &str) -> &str {
    if next.starts_with("/admin")
        && !next.contains("//")
        && !next.contains('\\')
        && !next.chars().any(char::is_control)
    {
        next
    } else {
        "/admin/"
    }
}

fn login_page(
    status: StatusCode,
    token: &str,
    next: &str,
    user: &str,
    error: Option<&str>,
) -> Reply {
    crate::http::html(
        status,
        page::layout(
            None,
            "",
            "Log in",
            html! {
                form.login method="post" action="/admin/login" {
                    h1 { "Log in" }
                    (page::error(error))
                    input type="hidden" name="csrf" value=(token);
                    input type="hidden" name="next" value=(next);
                    label.field { span { "User" } input type="text" name="user" value=(user) autocomplete="username" autofocus required; }
                    label.field { span { "Password" } input type="password" name="password" autocomplete="current-password" required; }
                    button.primary type="submit" { "Log in" }
                    p.muted { "No account? Ask an admin to add you on the Users page. The very first account is made on the server itself, with " code { "bouncer user add NAME --role admin" } "." }
                }
            },
        ),
    )
}

fn forbidden(why: &str) -> Reply {
    crate::http::html(
        StatusCode::FORBIDDEN,
        page::layout(
            None,
            "",
            "Refused",
            html! { h1 { "Refused" } p.flash.error { (why) } p { a href="/admin/" { "Back to the admin" } } },
        ),
    )
}

fn set_cookie(reply: &mut Reply, value: &str) {
    if let Ok(v) = HeaderValue::from_str(value) {
        reply.headers_mut().append(SET_COOKIE, v);
    }
}

#[cfg(test)]
mod tests {
    use hyper::Method;

    use super::testing::*;
    use crate::model::Role;

    /// POSTs the login form with a valid login token.
    fn log_in(admin: &super::Admin, user: &str, password: &str) -> crate::http::Reply {
        let token = crate::auth::random_token();
        let body = format!(
            "csrf={token}&user={}&password={}",
            super::page::seg(user),
            super::page::seg(password)
        );
        let mut headers = hyper::HeaderMap::new();
        headers.insert(
            hyper::header::COOKIE,
            format!("{}={token}", super::session::LOGIN_COOKIE)
                .parse()
                .unwrap(),
        );
        headers.insert(
            hyper::header::CONTENT_TYPE,
            "application/x-www-form-urlencoded".parse().unwrap(),
        );
        super::handle(
            admin,
            &super::Request {
                method: &Method::POST,
                path: "/login",
                query: "",
                headers: &headers,
                body: body.as_bytes(),
                peer: std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST),
            },
        )
    }

    /// Issue 17: two nodes on one PostgreSQL database. A session made by
    /// logging in on one works on the other (its CSRF token included),
    /// logging out on one ends it on both, and failed logins on either
    /// count towards one limit, which either node's users page lists.
    #[test]
    fn a_session_made_on_one_node_works_on_another() {
        let Some((mut a, mut b)) = admins_on_postgres() else {
            return;
        };
        // Password checks are slow in a debug build: a wait that outlasts
        // the test.
        for node in [&mut a, &mut b] {
            std::sync::Arc::get_mut(&mut node.throttle)
                .expect("not shared yet")
                .first_wait = 3600;
        }
        add_user(&a, "ann", "right", Role::Admin);
        let reply = log_in(&a, "ann", "right");
        let cookie = reply
            .headers()
            .get_all(hyper::header::SET_COOKIE)
            .iter()
            .map(|v| v.to_str().unwrap())
            .find(|v| v.starts_with("bouncer_session=") && !v.starts_with("bouncer_session=;"))
            .expect("a session cookie")
            .split(';')
            .next()
            .unwrap()
            .to_string();
        assert_eq!(redirected(reply), "/admin/");
        let id = cookie.trim_start_matches("bouncer_session=");
        let csrf = a
            .sessions
            .touch(id, crate::model::now())
            .unwrap()
            .unwrap()
            .csrf;
        let ann = Login { cookie, csrf };
        let page = body(get(&b, &ann, "/admin/users"));
        assert!(page.contains("Add a user"), "{page}");
        // A form of the session posted to the other node, its message
        // shown by the first.
        let r = post(
            &b,
            &ann,
            "/admin/users",
            &[
                ("name", "bob"),
                ("role", "viewer"),
                ("password", "long enough password"),
                ("repeat", "long enough password"),
            ],
        );
        let shown = follow(&a, &ann, r);
        assert!(shown.contains("bob"), "{shown}");
        assert!(a.network.store().user("bob").unwrap().is_some());
        let r = post(&a, &ann, "/admin/logout", &[]);
        assert_eq!(redirected(r), "/admin/login");
        let to = redirected(get(&b, &ann, "/admin/users"));
        assert!(to.starts_with("/admin/login"), "{to}");
        // Five failures, spread over both nodes: the sixth waits on either.
        for i in 0..5 {
            let node = if i % 2 == 0 { &a } else { &b };
            assert_eq!(log_in(node, "ann", "wrong").status(), 401);
        }
        assert_eq!(log_in(&a, "ann", "right").status(), 429);
        assert_eq!(log_in(&b, "ann", "right").status(), 429);
        let listed = b.throttle.throttled(crate::model::now()).unwrap();
        assert_eq!(
            (listed.len(), listed[0].failures, listed[0].client.as_str()),
            (1, 5, "127.0.0.1")
        );
    }

    #[test]
    fn passwords_are_taken_exactly_as_typed() {
        let (_dir, admin) = admin();
        add_user(&admin, "ann", " spaced out ", Role::Admin);
        assert_eq!(log_in(&admin, "ann", "spaced out").status(), 401);
        assert_eq!(redirected(log_in(&admin, "ann", " spaced out ")), "/admin/");
        // Absurd input is refused before it costs a hash or a throttle entry.
        let huge = "x".repeat(2000);
        assert_eq!(log_in(&admin, &huge, "pw").status(), 401);
        assert_eq!(log_in(&admin, "ann", &huge).status(), 401);
        assert!(
            admin
                .throttle
                .locked(&huge, "127.0.0.1", crate::model::now())
                .unwrap()
                .is_none()
        );
    }

    /// Issue 15 item 4: during a login flood, logins refused as busy
    /// (503) counted as failures, and locked out an admin who had the
    /// right password.
    #[test]
    fn logins_refused_as_busy_cost_no_attempt() {
        let (_dir, admin) = admin();
        add_user(&admin, "ann", "right", Role::Admin);
        // Every check slot is taken.
        admin.verifying.set_running(crate::auth::MAX_VERIFYING);
        for _ in 0..10 {
            assert_eq!(log_in(&admin, "ann", "right").status(), 503);
        }
        assert!(
            admin
                .throttle
                .throttled(crate::model::now())
                .unwrap()
                .is_empty()
        );
        assert_eq!(
            admin
                .throttle
                .locked("ann", "127.0.0.1", crate::model::now())
                .unwrap(),
            None
        );
        admin.verifying.set_running(0);
        assert_eq!(redirected(log_in(&admin, "ann", "right")), "/admin/");
    }

    #[test]
    fn release_users_may_switch_products_on_the_availability_page() {
        let (_dir, admin) = admin();
        let rita = login(&admin, "rita", Role::Release);
        admin
            .network
            .write(&crate::model::Actor::Program("test"), |tx| {
                tx.product_add(crate::store::NewProduct {
                    name: "fx".into(),
                    ..Default::default()
                })
            })
            .unwrap();
        let r = post(&admin, &rita, "/admin/availability/product/fx/disable", &[]);
        assert_eq!(r.status(), hyper::StatusCode::SEE_OTHER);
        assert!(admin.network.index().product_named("fx").is_none());
        let r = post(&admin, &rita, "/admin/availability/mirror/m/disable", &[]);
        assert_eq!(r.status(), hyper::StatusCode::FORBIDDEN);
    }

    #[test]
    fn checks_of_unknown_mirrors_are_refused() {
        let (_dir, admin) = admin();
        let ann = login(&admin, "ann", Role::Admin);
        let page = follow(
            &admin,
            &ann,
            post(&admin, &ann, "/admin/mirrors/nope/check", &[]),
        );
        assert!(page.contains("No mirror named"), "{page}");
    }
}
