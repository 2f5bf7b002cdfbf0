//! The release-automation API under `/api/`, compatible with the XML API
//! of Mozilla's Tuxedo / bouncer-admin that release tooling (bouncerscript)
//! drives: same endpoints, parameters, XML documents and numbered errors;
//! JSON on `Accept: application/json`. HTTP Basic auth with Bouncer users:
//! any user may read, `release` and `admin` may write.
//!
//! Answered on a blocking thread (argon2 checks, store reads and writes).
//! Every write goes through `Network::write`: committed, audited as
//! `api:NAME`, published to the live index at once.
//!
//! # Endpoints
//!
//! Each answers at `/api/NAME` and `/api/NAME/` alike (no redirects: a
//! redirected POST would lose its body). Reads take the query string;
//! writes take a form body (`application/x-www-form-urlencoded`, or
//! `multipart/form-data`). `languages` may repeat (and may hold
//! comma-separated locales). Flags (`fuzzy`, `ssl_only`) are on for
//! `true` in any case, `1`, `yes`, `on`. Names match case-insensitively;
//! `fuzzy` matches a case-insensitive substring.
//!
//! | endpoint | method | parameters | answer | errors (HTTP 400) |
//! |---|---|---|---|---|
//! | `product_show` | GET | `product`, `fuzzy` (none: every product) | `<products>` | — |
//! | `product_add` | POST | `product`, `languages`*, `ssl_only` | `<products>` with the new product | 103 empty name, a language that is no locale code, invalid name; 104 exists (or is an alias) |
//! | `product_delete` | POST | `product_id` or `product` | `<success>Deleted product: NAME</success>` (`… and its alias(es) A, B` when aliases pointed at it: they are deleted with it) | 101 neither; 102 not found |
//! | `product_language_add` | POST | `product`, `languages`* | `<products>` with the product | 101 no product; 102 not found; 103 a language that is no locale code; 104 a language exists |
//! | `product_language_delete` | POST | `product`, `languages`* (`*`: all) | `<success>Deleted languages a, b from product NAME</success>` | 101 no product, no languages; 102 not found; 103 invalid language |
//! | `location_show` | GET | `product`, `fuzzy` | `<locations>` (`<locations/>` when nothing matches) | 103 no product |
//! | `location_add` | POST | `product`, `os`, `path` | `<locations>` with the new location | 101 missing field; 106 unknown os; 105 unknown product; 103 invalid path; 104 the product has a location for the os |
//! | `location_modify` | POST | `product`, `os`, `path` | `<locations>` with the changed location | 101, 106, 105, 103 as above; 104 no location for the os |
//! | `location_delete` | POST | `location_id` | `<success>Deleted location: PATH</success>` | 101 missing; 102 not found |
//! | `create_update_alias` | POST | `alias`, `related_product` | `<success>Created/updated alias ALIAS</success>` | 102 no alias; 101 invalid alias; 104 alias is a product's name; 105 no related product; 103 related product unknown |
//! | `uptake` | GET | `product`, `os`, `fuzzy` (at least one of product, os) | `<mirror_uptake>` | 101 neither; 102 `No products found` / `No OSes found` |
//! | `mirror_list` | GET | — | `<mirrors>` (active mirrors) | — |
//! | `mirror_maintenance` | POST | `mirror`, `window` (`now/2h`, `none`) | `<success>` | 101, 102, 103 |
//!
//! `uptake` answers, for each (product, os), `available` = the summed
//! rating of the active, healthy mirrors that have the file now (from the
//! live index, so sentry's latest findings) and `total` = the summed
//! rating of all active mirrors. Only the matching (product, os) pairs
//! that have a location answer (with or without `fuzzy`; 0 available for
//! an inactive product); none may match (`<mirror_uptake/>`).
//!
//! A language to add (`product_add`, `product_language_add`) must be a
//! locale code: a 2–3 letter language, optionally with region, script or
//! variant parts (`de`, `en-US`, `ja-JP-mac`, `sr-Latn`), or `multi`.
//!
//! Other answers: 401 (with `WWW-Authenticate: Basic realm="Bouncer API"`)
//! without valid credentials; 403 for a write by a `viewer`, or a write
//! sent by a browser from another site; 405 for the wrong method (with
//! `Allow`); 413 with `<error number="101">` for a body over 500 KB; 429
//! with `<error number="107">` and `Retry-After` after too many failed
//! logins from the address (for the account, or for accounts it has not
//! logged in to), or over a rate limit
//! (requests without credentials or with wrong ones: `serve --admin-rate`
//! per address; authenticated ones: `--user-rate` per user, off by
//! default); 503 when too many passwords are being checked at once.
//! These carry an `<error>` without a number, except 413 and 429.
//!
//! # JSON
//!
//! With `Accept: application/json` (preferred at least as much as XML)
//! every answer, errors included, is JSON mapping the XML tree: the root
//! element's name is the key, attributes and child elements become fields,
//! repeated elements become arrays, numbers are numbers.
//!
//! ```text
//! {"products":[{"id":1,"name":"Firefox","languages":["de","en-US"]}]}
//! {"locations":[{"id":1,"name":"Firefox","locations":[{"id":3,"os":"win","path":"/f/:lang/f.exe"}]}]}
//! {"mirror_uptake":[{"product":"Firefox","os":"win","available":150,"total":200}]}
//! {"mirrors":[{"baseurl":"https://mirror.example/pub"}]}
//! {"success":"Deleted product: Firefox"}
//! {"error":{"number":104,"message":"product already exists."}}   (no "number" when unnumbered)
//! ```

mod auth;
pub mod doc;
mod endpoints;
#[cfg(test)]
mod tests;

use std::net::IpAddr;
use std::sync::Arc;

use hyper::header::{
    ACCEPT, ALLOW, CACHE_CONTROL, CONTENT_TYPE, HOST, HeaderName, HeaderValue, ORIGIN, RETRY_AFTER,
    VARY, WWW_AUTHENTICATE,
};
use hyper::{HeaderMap, Method, StatusCode};

use crate::auth::{Area, Throttle, may_write};
use crate::error::Error;
use crate::http::Reply;
use crate::http::form::Form;
use crate::model::User;
use crate::network::Network;
use crate::ratelimit::{Limits, retry_after_secs};
use auth::{Denied, Gate};
use doc::Doc;
use endpoints::{ENDPOINTS, Endpoint};

/// Request bodies larger than this are refused with 413 (as bouncer-admin).
pub const MAX_BODY: usize = 500 * 1024;

/// The largest body of a request whose credentials did not check out
/// (or that sent none): it can only be refused, so it may not hold much
/// memory while it arrives.
pub const MAX_UNAUTHENTICATED_BODY: usize = 16 * 1024;

/// The realm of the `WWW-Authenticate` challenge (Tuxedo's).
pub const REALM: &str = "Bouncer API";

/// The API application.
pub struct Api {
    /// The live network.
    pub network: Arc<Network>,
    /// Basic-auth checks: throttling and remembered passwords.
    gate: Gate,
}

impl Api {
    /// An API over `network`.
    pub fn new(network: Arc<Network>) -> Api {
        let mut gate = Gate::default();
        // On PostgreSQL failures count in the database, for every node.
        gate.throttle = Arc::new(crate::auth::Throttle::for_network(&network));
        Api { network, gate }
    }

    /// An API over `network` whose failed checks count in `throttle` (the
    /// admin's): a guesser is slowed down whichever door it knocks on, and
    /// the admin lists who is waiting.
    pub fn with_throttle(network: Arc<Network>, throttle: Arc<Throttle>) -> Api {
        let mut api = Api::new(network);
        api.gate.throttle = throttle;
        api
    }

    /// Failed-login counts (tests and operators may tune the limits).
    pub fn throttle(&self) -> &Throttle {
        &self.gate.throttle
    }
}

pub use crate::http::Request;

/// Whether `path` belongs to the API.
pub fn serves(path: &str) -> bool {
    path == "/api" || path.starts_with("/api/")
}

/// Who is calling: an authenticated user.
#[derive(Clone, Debug)]
pub struct Caller {
    /// The user, as stored now (a changed role applies at once).
    pub user: User,
}

impl Caller {
    /// Who this caller is in the audit log (`api:NAME`).
    pub fn actor(&self) -> crate::model::Actor {
        crate::model::Actor::Api(self.user.name.clone())
    }

    /// Runs a write as this caller: committed, audited, published to the
    /// live index.
    pub fn write<T>(
        &self,
        api: &Api,
        f: impl FnOnce(&mut crate::store::Tx) -> crate::error::Result<T>,
    ) -> crate::error::Result<T> {
        api.network.write(&self.actor(), f)
    }
}

/// An answer other than success: a status, Tuxedo's error number when
/// it has one, a message, and extra headers.
#[derive(Clone, Debug)]
pub struct Failure {
    status: StatusCode,
    number: Option<u32>,
    message: String,
    headers: Vec<(HeaderName, HeaderValue)>,
}

impl Failure {
    /// A numbered error: HTTP 400 `<error number="N">message</error>`.
    pub fn numbered(number: u32, message: impl Into<String>) -> Failure {
        Failure {
            number: Some(number),
            ..Failure::new(StatusCode::BAD_REQUEST, message)
        }
    }

    /// An unnumbered error with `status`.
    pub fn new(status: StatusCode, message: impl Into<String>) -> Failure {
        Failure {
            status,
            number: None,
            message: message.into(),
            headers: Vec::new(),
        }
    }

    fn with(mut self, name: HeaderName, value: HeaderValue) -> Failure {
        self.headers.push((name, value));
        self
    }

    /// A store error no endpoint expected: rule breaks and conflicts keep
    /// Tuxedo's meaning of the numbers (103 invalid, 102 not found, 104
    /// conflict); anything else is the server's fault (500, logged).
    pub fn from_store(e: Error) -> Failure {
        match e {
            Error::Invalid { .. } => Failure::numbered(103, e.to_string()),
            Error::NotFound { .. } => Failure::numbered(102, e.to_string()),
            Error::Exists { .. } | Error::InUse { .. } | Error::BaseUrlTaken { .. } => {
                Failure::numbered(104, e.to_string())
            }
            e => {
                tracing::error!(error = %e, "an API request failed");
                Failure::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "the server could not read or write its database; the server log says why",
                )
            }
        }
    }

    fn reply(self, format: Format) -> Reply {
        let doc = Doc::Error {
            number: self.number,
            message: self.message,
        };
        let mut reply = respond(self.status, format, &doc);
        for (name, value) in self.headers {
            reply.headers_mut().insert(name, value);
        }
        reply
    }
}

/// How the client wants its answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// Tuxedo's XML (the default).
    Xml,
    /// JSON.
    Json,
}

impl Format {
    /// JSON when `Accept` names `application/json` with a quality at least
    /// that of any XML type named; XML otherwise.
    pub fn of(headers: &HeaderMap) -> Format {
        let (mut json, mut xml) = (0.0f32, 0.0f32);
        for value in headers.get_all(ACCEPT).iter() {
            let Ok(value) = value.to_str() else { continue };
            for range in value.split(',') {
                let mut params = range.split(';');
                let kind = params.next().unwrap_or("").trim().to_ascii_lowercase();
                let q = params
                    .filter_map(|p| p.split_once('='))
                    .find(|(k, _)| k.trim().eq_ignore_ascii_case("q"))
                    .map_or(1.0, |(_, v)| v.trim().parse().unwrap_or(0.0));
                match kind.as_str() {
                    "application/json" => json = json.max(q),
                    "text/xml" | "application/xml" => xml = xml.max(q),
                    _ => {}
                }
            }
        }
        if json > 0.0 && json >= xml {
            Format::Json
        } else {
            Format::Xml
        }
    }
}

/// A document with `status`, in the client's format.
fn respond(status: StatusCode, format: Format, doc: &Doc) -> Reply {
    let (body, content_type) = match format {
        Format::Xml => (doc.to_xml(), "text/xml; charset=utf-8"),
        Format::Json => (doc.to_json(), "application/json"),
    };
    let mut reply = crate::http::with_type(status, content_type, body);
    let headers = reply.headers_mut();
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(VARY, HeaderValue::from_static("Accept"));
    headers.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    reply
}

/// 413 with the numbered error release tooling knows, in XML or JSON as
/// the client asked; `authenticated`: the caller's credentials checked out
/// (else the cap was [`MAX_UNAUTHENTICATED_BODY`]).
pub fn too_large(headers: &HeaderMap, authenticated: bool) -> Reply {
    let message = if authenticated {
        "POST request length exceeded 500KB"
    } else {
        "POST request length exceeded 16KB, the most a request without valid credentials may send; send the credentials of a Bouncer user"
    };
    Failure {
        number: Some(101),
        ..Failure::new(StatusCode::PAYLOAD_TOO_LARGE, message)
    }
    .reply(Format::of(headers))
}

/// The error number of a `429 Too Many Requests` (Tuxedo's numbers end
/// at 106).
pub const TOO_MANY_REQUESTS: u32 = 107;

/// A numbered `429` with `Retry-After`: `wait` is how long until the
/// client may come back; `why` says whose limit was reached.
fn too_many_failure(wait: std::time::Duration, why: &str) -> Failure {
    let secs = retry_after_secs(wait);
    Failure {
        number: Some(TOO_MANY_REQUESTS),
        ..Failure::new(
            StatusCode::TOO_MANY_REQUESTS,
            format!("too many requests {why}; try again in {secs} s"),
        )
    }
    .with(RETRY_AFTER, HeaderValue::from(secs))
}

/// The 429 for unauthenticated requests over the per-address limit, in
/// XML or JSON as the client asked.
pub fn too_many(headers: &HeaderMap, wait: std::time::Duration) -> Reply {
    too_many_failure(wait, "from your address without credentials").reply(Format::of(headers))
}

/// Whether the request carries credentials (an `Authorization` header):
/// such requests are limited per user once checked, not per address.
pub fn has_credentials(headers: &HeaderMap) -> bool {
    headers.contains_key(hyper::header::AUTHORIZATION)
}

/// Answers an API request. Blocking: call it off the async workers.
/// `limits` are the rate limits (per user once authenticated, per address
/// when authentication fails); `checked`, the credentials when they were
/// checked before the body was read ([`check_credentials`]), else they
/// are checked when needed.
pub fn handle(
    api: &Api,
    req: &Request<'_>,
    limits: &Limits,
    checked: Option<Result<Caller, Failure>>,
) -> Reply {
    let format = Format::of(req.headers);
    match answer(api, req, limits, checked) {
        Ok(doc) => respond(StatusCode::OK, format, &doc),
        Err(failure) => failure.reply(format),
    }
}

fn answer(
    api: &Api,
    req: &Request<'_>,
    limits: &Limits,
    checked: Option<Result<Caller, Failure>>,
) -> Result<Doc, Failure> {
    let name = req.path.strip_prefix('/').unwrap_or(req.path);
    let name = name.strip_suffix('/').unwrap_or(name);
    if name.is_empty() {
        return Ok(Doc::Success(format!(
            "Bouncer release-automation API. Endpoints: {}",
            ENDPOINTS
                .iter()
                .map(|e| e.name)
                .collect::<Vec<_>>()
                .join(", ")
        )));
    }
    let Some(endpoint) = ENDPOINTS.iter().find(|e| e.name == name) else {
        return Err(Failure::new(
            StatusCode::NOT_FOUND,
            format!(
                "no API endpoint at {:?}; see /api/ for the list",
                crate::query::percent_decode(req.path)
            ),
        ));
    };
    check_method(endpoint, req.method)?;
    if endpoint.writes && cross_site(req.headers) {
        return Err(Failure::new(
            StatusCode::FORBIDDEN,
            "a browser sent this write from another site; the API accepts writes only from tools or its own site",
        ));
    }
    let caller = match checked {
        Some(checked) => checked?,
        None => check_credentials(api, req.headers, req.peer, limits)?,
    };
    if endpoint.writes && !may_write(caller.user.role, Area::Releases) {
        return Err(Failure::new(
            StatusCode::FORBIDDEN,
            format!(
                "user {} has the {} role; changing products, locations and aliases needs the release or admin role",
                caller.user.name,
                caller.user.role.as_str()
            ),
        ));
    }
    let form = if endpoint.writes {
        let content_type = req.headers.get(CONTENT_TYPE).and_then(|v| v.to_str().ok());
        Form::parse(content_type, req.body).map_err(|why| {
            Failure::new(
                StatusCode::BAD_REQUEST,
                format!("the form could not be read: {why}"),
            )
        })?
    } else {
        Form::from_query(req.query)
    };
    (endpoint.run)(api, &caller, &form)
}

/// Reads are GET (and HEAD), writes POST.
fn check_method(endpoint: &Endpoint, method: &Method) -> Result<(), Failure> {
    let (allowed, allow) = if endpoint.writes {
        (method == Method::POST, "POST")
    } else {
        (method == Method::GET || method == Method::HEAD, "GET, HEAD")
    };
    if allowed {
        return Ok(());
    }
    Err(Failure::new(
        StatusCode::METHOD_NOT_ALLOWED,
        format!("{} answers {allow} only", endpoint.name),
    )
    .with(ALLOW, HeaderValue::from_static(allow)))
}

/// Whether a browser sent this from another site. Basic credentials a
/// browser remembers would otherwise ride along on a form another site
/// posts here. Tools (release tooling, curl) send neither header.
fn cross_site(headers: &HeaderMap) -> bool {
    if let Some(site) = headers.get("sec-fetch-site") {
        return !matches!(site.as_bytes(), b"same-origin" | b"none");
    }
    let Some(origin) = headers.get(ORIGIN) else {
        return false;
    };
    let origin = origin.to_str().unwrap_or("");
    let authority = origin
        .split_once("://")
        .map_or("", |(_, rest)| rest.trim_end_matches('/'));
    let host = headers
        .get(HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("");
    authority.is_empty() || !authority.eq_ignore_ascii_case(host)
}

/// The caller named by the request's Basic credentials. The server calls
/// it before reading a body, so that only a caller whose credentials
/// check out may send a large one; the result goes into
/// [`Request::checked`] and is not checked twice. Blocking (a password
/// check): call it off the async workers.
pub fn check_credentials(
    api: &Api,
    headers: &HeaderMap,
    peer: IpAddr,
    limits: &Limits,
) -> Result<Caller, Failure> {
    let challenge = |message: &str| {
        Failure::new(StatusCode::UNAUTHORIZED, message).with(
            WWW_AUTHENTICATE,
            HeaderValue::from_static(r#"Basic realm="Bouncer API""#),
        )
    };
    let Some((name, password)) = auth::basic(headers) else {
        return Err(challenge(
            "authentication required: send HTTP Basic credentials of a Bouncer user",
        ));
    };
    let client = peer.to_string();
    match api
        .gate
        .check(api.network.store(), &name, &password, &client)
    {
        Ok(user) => match limits.user(&user.name) {
            Ok(()) => Ok(Caller { user }),
            Err(wait) => Err(too_many_failure(wait, "for this user")),
        },
        Err(Denied::Wrong) => {
            tracing::warn!(user = %name, client = %client, "API authentication failed");
            // A failed check is unauthenticated traffic: it spends the
            // address's tokens too.
            if let Err(wait) = limits.anonymous(peer) {
                return Err(too_many_failure(wait, "from your address"));
            }
            Err(challenge("wrong user name or password"))
        }
        Err(Denied::Locked(wait)) => Err(Failure {
            number: Some(TOO_MANY_REQUESTS),
            ..Failure::new(
                StatusCode::TOO_MANY_REQUESTS,
                format!(
                    "too many failed logins for this account from your address; try again in {wait} s"
                ),
            )
        }
        .with(RETRY_AFTER, HeaderValue::from(wait))),
        Err(Denied::Busy) => Err(Failure::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "too many password checks at once; try again in a moment",
        )
        .with(RETRY_AFTER, HeaderValue::from_static("1"))),
        Err(Denied::Storage(e)) => Err(Failure::from_store(e)),
    }
}
