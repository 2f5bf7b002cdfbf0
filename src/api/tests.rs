//! The API answered through [`handle`] as the server would call it: every
//! endpoint's document, every numbered error, authentication, methods,
//! slashes, JSON, escaping, and writes reaching the index and the audit
//! log at once.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;

use base64::Engine;
use hyper::header::{
    ACCEPT, ALLOW, AUTHORIZATION, CONTENT_TYPE, HOST, HeaderName, HeaderValue, ORIGIN, RETRY_AFTER,
    WWW_AUTHENTICATE,
};
use hyper::{HeaderMap, Method, StatusCode};

use super::doc::XML_DECLARATION as DECL;
use super::{Api, Format, Request, handle};
use crate::model::{Availability, Role, User};
use crate::network::Network;
use crate::store::{NewMirror, NewProduct};

/// An argon2id hash with tiny parameters: verification reads them from
/// the hash, so tests do not pay for production-strength hashing.
fn cheap_hash(password: &str) -> String {
    use argon2::password_hash::{PasswordHasher, SaltString, rand_core::OsRng};
    let params = argon2::Params::new(8, 1, 1, None).unwrap();
    argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params)
        .hash_password(password.as_bytes(), &SaltString::generate(&mut OsRng))
        .unwrap()
        .to_string()
}

fn put_user(api: &Api, name: &str, password: &str, role: Role) {
    let user = User {
        name: name.into(),
        password_hash: cheap_hash(password),
        role,
        created_at: 0,
    };
    api.network
        .write(&crate::model::Actor::Program("test"), |tx| {
            tx.user_put(&user, "user.add")
        })
        .unwrap();
}

/// An API over a network with users `rel` (release), `ann` (admin) and
/// `vic` (viewer), each with password `pw-NAME`; products `Firefox` (de,
/// en-US; win and osx locations) and `Firefox-SSL` (ssl-only, every
/// language, a win location); mirrors `m1` (http, 60), `m2` (https, 40)
/// and the inactive `m3` (100). m1 and m2 serve Firefox on win, m2 on
/// osx; both serve Firefox-SSL on win.
fn api() -> (tempfile::TempDir, Api) {
    let dir = tempfile::tempdir().unwrap();
    let network = Arc::new(Network::open(dir.path().join("t.redb"), true).unwrap());
    let api = Api::new(network);
    put_user(&api, "rel", "pw-rel", Role::Release);
    put_user(&api, "ann", "pw-ann", Role::Admin);
    put_user(&api, "vic", "pw-vic", Role::Viewer);
    api.network
        .write(&crate::model::Actor::Program("test"), |tx| {
            tx.product_add(NewProduct {
                name: "Firefox".into(),
                languages: vec!["en-US".into(), "de".into()],
                ..Default::default()
            })?;
            tx.product_add(NewProduct {
                name: "Firefox-SSL".into(),
                ssl_only: true,
                ..Default::default()
            })?;
            let win = tx.location_add("Firefox", "win", "/fx/win/:lang/Setup.exe")?;
            let osx = tx.location_add("Firefox", "osx", "/fx/mac/:lang/Firefox.dmg")?;
            let ssl = tx.location_add("Firefox-SSL", "win", "/fx/win/:lang/Setup.exe")?;
            let mirror = |name: &str, url: &str, rating, inactive| NewMirror {
                name: name.into(),
                base_url: url.into(),
                rating,
                inactive,
                ..Default::default()
            };
            let m1 = tx.mirror_add(mirror("m1", "http://m1.example/pub", 60, false))?;
            let m2 = tx.mirror_add(mirror("m2", "https://m2.example/pub", 40, false))?;
            let m3 = tx.mirror_add(mirror("m3", "https://m3.example/pub", 100, true))?;
            let serves = Availability {
                present: true,
                healthy: true,
                ..Default::default()
            };
            for (l, m) in [
                (win.id, m1.id),
                (win.id, m2.id),
                (osx.id, m2.id),
                (ssl.id, m1.id),
                (ssl.id, m2.id),
                (osx.id, m3.id),
            ] {
                tx.set_availability(l, m, &serves)?;
            }
            Ok(())
        })
        .unwrap();
    (dir, api)
}

/// A refused request: its form fields, the error number and (the start
/// of) the message.
type Case<'a> = (&'a [(&'a str, &'a str)], u32, &'a str);

/// What came back: status, headers, body.
#[derive(Debug)]
struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    body: String,
}

impl Answer {
    /// The parsed XML root, checking the declaration and content type.
    fn xml(&self) -> roxmltree::Document<'_> {
        assert!(self.body.starts_with(DECL), "{self:?}");
        assert_eq!(
            self.headers[CONTENT_TYPE], "text/xml; charset=utf-8",
            "{self:?}"
        );
        roxmltree::Document::parse(&self.body).unwrap_or_else(|e| panic!("{e}: {self:?}"))
    }

    /// 200 and the body after the XML declaration.
    fn ok(&self) -> &str {
        assert_eq!(self.status, StatusCode::OK, "{self:?}");
        self.xml();
        &self.body[DECL.len()..]
    }

    /// The number and message of a 400 numbered error.
    fn error(&self) -> (u32, String) {
        assert_eq!(self.status, StatusCode::BAD_REQUEST, "{self:?}");
        self.numbered()
    }

    /// The number and message of a numbered error, any status.
    fn numbered(&self) -> (u32, String) {
        let doc = self.xml();
        let root = doc.root_element();
        assert_eq!(root.tag_name().name(), "error", "{self:?}");
        let number = root.attribute("number").expect("a number").parse().unwrap();
        (number, root.text().unwrap_or("").to_string())
    }

    /// The message of an unnumbered `<error>` with `status`.
    fn unnumbered(&self, status: StatusCode) -> String {
        assert_eq!(self.status, status, "{self:?}");
        let doc = self.xml();
        let root = doc.root_element();
        assert_eq!(root.tag_name().name(), "error", "{self:?}");
        assert_eq!(root.attribute("number"), None, "{self:?}");
        root.text().unwrap_or("").to_string()
    }

    fn json(&self, status: StatusCode) -> serde_json::Value {
        assert_eq!(self.status, status, "{self:?}");
        assert_eq!(self.headers[CONTENT_TYPE], "application/json", "{self:?}");
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("{e}: {self:?}"))
    }
}

/// A request being built.
struct Call {
    method: Method,
    target: String,
    headers: HeaderMap,
    body: Vec<u8>,
}

impl Call {
    fn new(method: Method, target: &str, user: Option<&str>) -> Call {
        let mut call = Call {
            method,
            target: target.into(),
            headers: HeaderMap::new(),
            body: Vec::new(),
        };
        if let Some(user) = user {
            call = call.auth(user, &format!("pw-{user}"));
        }
        call
    }

    fn header(mut self, name: HeaderName, value: &str) -> Call {
        self.headers
            .insert(name, HeaderValue::from_str(value).unwrap());
        self
    }

    fn auth(self, user: &str, password: &str) -> Call {
        let token = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
        self.header(AUTHORIZATION, &format!("Basic {token}"))
    }

    fn json(self) -> Call {
        self.header(ACCEPT, "application/json")
    }

    fn form(mut self, fields: &[(&str, &str)]) -> Call {
        let body: Vec<String> = fields
            .iter()
            .map(|(k, v)| {
                format!(
                    "{}={}",
                    crate::query::encode_component(k),
                    crate::query::encode_component(v)
                )
            })
            .collect();
        self.body = body.join("&").into_bytes();
        self.header(CONTENT_TYPE, "application/x-www-form-urlencoded")
    }

    fn send(&self, api: &Api) -> Answer {
        let (path, query) = self.target.split_once('?').unwrap_or((&self.target, ""));
        let reply = handle(
            api,
            &Request {
                method: &self.method,
                path: path.strip_prefix("/api").unwrap_or(path),
                query,
                headers: &self.headers,
                body: &self.body,
                peer: IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)),
            },
            &crate::ratelimit::Limits::new(0, 0),
            None,
        );
        let status = reply.status();
        let headers = reply.headers().clone();
        Answer {
            status,
            headers,
            body: crate::admin::testing::body(reply),
        }
    }
}

/// GET `/api/{target}` as `rel`.
fn get(api: &Api, target: &str) -> Answer {
    Call::new(Method::GET, &format!("/api/{target}"), Some("rel")).send(api)
}

/// POST `fields` to `/api/{target}` as `rel`.
fn post(api: &Api, target: &str, fields: &[(&str, &str)]) -> Answer {
    post_as(api, "rel", target, fields)
}

fn post_as(api: &Api, user: &str, target: &str, fields: &[(&str, &str)]) -> Answer {
    Call::new(Method::POST, &format!("/api/{target}"), Some(user))
        .form(fields)
        .send(api)
}

/// The newest audit event.
fn last_event(api: &Api) -> crate::model::Event {
    api.network
        .store()
        .events(1)
        .unwrap()
        .into_iter()
        .next()
        .unwrap()
}

fn event_count(api: &Api) -> usize {
    api.network.store().events(10_000).unwrap().len()
}

fn id_of(api: &Api, product: &str) -> u64 {
    let s = api.network.snapshot().unwrap();
    s.product(product).unwrap().id.0
}

fn location_id(api: &Api, product: &str, os: &str) -> u64 {
    let s = api.network.snapshot().unwrap();
    let p = s.product(product).unwrap().id;
    s.locations
        .iter()
        .find(|l| l.product == p && l.os == os)
        .unwrap()
        .id
        .0
}

// ----- products -----

#[test]
fn product_show_lists_products_with_and_without_languages() {
    let (_dir, api) = api();
    let (fx, ssl) = (id_of(&api, "Firefox"), id_of(&api, "Firefox-SSL"));
    let all = format!(
        r#"<products><product id="{fx}" name="Firefox"><language locale="de"/><language locale="en-US"/></product><product id="{ssl}" name="Firefox-SSL"/></products>"#
    );
    assert_eq!(get(&api, "product_show").ok(), all);
    assert_eq!(get(&api, "product_show/").ok(), all);
    // Exact names match case-insensitively; nothing found is an empty list.
    let one = format!(
        r#"<products><product id="{fx}" name="Firefox"><language locale="de"/><language locale="en-US"/></product></products>"#
    );
    assert_eq!(get(&api, "product_show?product=FIREFOX").ok(), one);
    assert_eq!(get(&api, "product_show?product=fire").ok(), "<products/>");
    // Fuzzy: a case-insensitive substring; `%` and `_` are plain.
    assert_eq!(get(&api, "product_show?product=IRE&fuzzy=true").ok(), all);
    assert_eq!(
        get(&api, "product_show?product=-s&fuzzy=True").ok(),
        format!(r#"<products><product id="{ssl}" name="Firefox-SSL"/></products>"#)
    );
    assert_eq!(
        get(&api, "product_show?product=F%25&fuzzy=true").ok(),
        "<products/>"
    );
    assert_eq!(
        get(&api, "product_show?product=ire&fuzzy=false").ok(),
        "<products/>"
    );
}

#[test]
fn product_add_creates_audits_and_publishes_at_once() {
    let (_dir, api) = api();
    let r = post(
        &api,
        "product_add/",
        &[
            ("product", "Thunderbird-1.0"),
            ("languages", "fr"),
            ("languages", "de"),
            ("ssl_only", "true"),
        ],
    );
    let id = id_of(&api, "Thunderbird-1.0");
    assert_eq!(
        r.ok(),
        format!(
            r#"<products><product id="{id}" name="Thunderbird-1.0"><language locale="de"/><language locale="fr"/></product></products>"#
        )
    );
    let index = api.network.index();
    let p = index
        .product_named("thunderbird-1.0")
        .expect("in the index");
    assert!(p.ssl_only);
    let e = last_event(&api);
    assert_eq!(
        (e.actor.as_str(), e.action.as_str()),
        ("api:rel", "product.add")
    );
    // Without languages (and without a slash): listed, every language.
    let r = post(&api, "product_add", &[("product", "Bare")]);
    let bare = id_of(&api, "Bare");
    assert_eq!(
        r.ok(),
        format!(r#"<products><product id="{bare}" name="Bare"/></products>"#)
    );
    assert!(!api.network.index().product_named("bare").unwrap().ssl_only);
    // Comma-separated languages work too.
    post(
        &api,
        "product_add",
        &[("product", "C"), ("languages", "de,fr")],
    )
    .ok();
    let s = api.network.snapshot().unwrap();
    assert_eq!(s.product("C").unwrap().languages, ["de", "fr"]);
}

#[test]
fn product_add_errors() {
    let (_dir, api) = api();
    api.network
        .write(&crate::model::Actor::Program("test"), |tx| {
            tx.alias_set("fx-latest", "Firefox").map(drop)
        })
        .unwrap();
    let before = event_count(&api);
    let cases: &[Case] = &[
        (&[], 103, "Cannot add an empty product name"),
        (
            &[("product", "  ")],
            103,
            "Cannot add an empty product name",
        ),
        (
            &[("product", "X"), ("languages", "de"), ("languages", "../x")],
            103,
            "invalid language code(s)",
        ),
        (
            &[("product", "X"), ("languages", "english")],
            103,
            "invalid language code(s): \"english\" is not a locale code",
        ),
        (
            &[("product", "X"), ("languages", "de,deutsch")],
            103,
            "e.g. de, en-US",
        ),
        (&[("product", "firefox")], 104, "product already exists."),
        (&[("product", "FX-LATEST")], 104, "alias"),
        (&[("product", "a\u{7}b")], 103, "invalid product"),
    ];
    for (fields, number, text) in cases {
        let (n, message) = post(&api, "product_add/", fields).error();
        assert_eq!(n, *number, "{fields:?}: {message}");
        assert!(message.contains(text), "{fields:?}: {message}");
    }
    assert_eq!(event_count(&api), before, "refusals write nothing");
}

#[test]
fn product_delete_by_id_or_name() {
    let (_dir, api) = api();
    let ssl = id_of(&api, "Firefox-SSL");
    // The id wins over the name (Tuxedo).
    let r = post(
        &api,
        "product_delete",
        &[("product_id", &ssl.to_string()), ("product", "Firefox")],
    );
    assert_eq!(r.ok(), "<success>Deleted product: Firefox-SSL</success>");
    assert!(api.network.index().product_named("Firefox-SSL").is_none());
    assert!(api.network.index().product_named("Firefox").is_some());
    let e = last_event(&api);
    assert_eq!(
        (e.actor.as_str(), e.action.as_str()),
        ("api:rel", "product.remove")
    );
    // By name, case-insensitively; its locations go with it.
    let r = post(&api, "product_delete/", &[("product", "firefox")]);
    assert_eq!(r.ok(), "<success>Deleted product: Firefox</success>");
    assert!(api.network.index().uptake().is_empty());
    assert!(api.network.snapshot().unwrap().locations.is_empty());
}

#[test]
fn product_delete_errors() {
    let (_dir, api) = api();
    api.network
        .write(&crate::model::Actor::Program("test"), |tx| {
            tx.alias_set("fx-latest", "Firefox").map(drop)
        })
        .unwrap();
    let cases: &[Case] = &[
        (&[], 101, "Either product_id or product is required."),
        (&[("product", "nope")], 102, "No product found."),
        (&[("product_id", "999")], 102, "No product found."),
        (&[("product_id", "x1")], 102, "No product found."),
    ];
    for (fields, number, text) in cases {
        let (n, message) = post(&api, "product_delete/", fields).error();
        assert_eq!(n, *number, "{fields:?}: {message}");
        assert!(message.contains(text), "{fields:?}: {message}");
    }
    assert!(api.network.index().product_named("Firefox").is_some());
}

#[test]
fn product_delete_of_an_aliased_product_deletes_its_aliases_too() {
    let (_dir, api) = api();
    api.network
        .write(&crate::model::Actor::Program("test"), |tx| {
            tx.alias_set("fx-latest", "Firefox")?;
            tx.alias_set("FX-stable", "Firefox")?;
            tx.alias_set("ssl-latest", "Firefox-SSL").map(drop)
        })
        .unwrap();
    let before = event_count(&api);
    let r = post(&api, "product_delete/", &[("product", "firefox")]);
    assert_eq!(
        r.ok(),
        "<success>Deleted product: Firefox and its alias(es) fx-latest, FX-stable</success>"
    );
    let index = api.network.index();
    assert!(index.product_named("Firefox").is_none());
    assert!(index.product_named("fx-latest").is_none());
    assert!(index.product_named("fx-stable").is_none());
    assert!(index.resolve("fx-latest", "win", "de").is_err());
    assert!(index.product_named("ssl-latest").is_some());
    drop(index);
    // One transaction: both aliases and the product, audited as the caller.
    let events = api.network.store().events(3).unwrap();
    assert_eq!(event_count(&api), before + 3);
    assert!(events.iter().all(|e| e.actor == "api:rel"), "{events:?}");
    assert_eq!(events[0].action, "product.remove");
    assert_eq!(
        events[0].detail,
        "Firefox with alias(es) fx-latest, FX-stable"
    );
    assert!(events[1..].iter().all(|e| e.action == "alias.remove"));
    let s = api.network.snapshot().unwrap();
    let aliases: Vec<&str> = s.aliases.iter().map(|a| a.name.as_str()).collect();
    assert_eq!(aliases, ["ssl-latest"]);
    // JSON says the same.
    let v = Call::new(Method::POST, "/api/product_delete", Some("rel"))
        .json()
        .form(&[("product_id", &id_of(&api, "Firefox-SSL").to_string())])
        .send(&api)
        .json(StatusCode::OK);
    assert_eq!(
        v,
        serde_json::json!({"success": "Deleted product: Firefox-SSL and its alias(es) ssl-latest"})
    );
}

#[test]
fn product_language_add_and_its_errors() {
    let (_dir, api) = api();
    let fx = id_of(&api, "Firefox");
    let r = post(
        &api,
        "product_language_add/",
        &[
            ("product", "firefox"),
            ("languages", "fr"),
            ("languages", "ja-JP-mac"),
        ],
    );
    assert_eq!(
        r.ok(),
        format!(
            r#"<products><product id="{fx}" name="Firefox"><language locale="de"/><language locale="en-US"/><language locale="fr"/><language locale="ja-JP-mac"/></product></products>"#
        )
    );
    assert!(
        api.network
            .index()
            .product_named("Firefox")
            .unwrap()
            .offers("ja-JP-mac")
            .is_some()
    );
    let e = last_event(&api);
    assert_eq!(
        (e.actor.as_str(), e.action.as_str()),
        ("api:rel", "product.update")
    );
    // No languages: nothing to do, the product as it is.
    let before = event_count(&api);
    let r = post(&api, "product_language_add", &[("product", "Firefox")]);
    assert!(r.ok().contains(r#"<language locale="fr"/>"#), "{r:?}");
    let cases: &[Case] = &[
        (&[("languages", "de")], 101, "Product name is required."),
        (
            &[("product", "nope"), ("languages", "it")],
            102,
            "Product not found.",
        ),
        (
            &[
                ("product", "Firefox"),
                ("languages", "it"),
                ("languages", "a b"),
            ],
            103,
            "Invalid language code(s): \"a b\" is not a locale code",
        ),
        (
            &[("product", "Firefox"), ("languages", "english")],
            103,
            "Invalid language code(s): \"english\" is not a locale code: use a 2- or 3-letter language",
        ),
        (
            &[
                ("product", "Firefox"),
                ("languages", "it"),
                ("languages", "DE"),
            ],
            104,
            "Language(s) already exist(s)",
        ),
    ];
    for (fields, number, text) in cases {
        let (n, message) = post(&api, "product_language_add", fields).error();
        assert_eq!(n, *number, "{fields:?}: {message}");
        assert!(message.starts_with(text), "{fields:?}: {message}");
    }
    assert_eq!(event_count(&api), before, "refusals write nothing");
    let s = api.network.snapshot().unwrap();
    assert!(
        !s.product("Firefox")
            .unwrap()
            .languages
            .contains(&"it".to_string())
    );
}

#[test]
fn product_language_delete_and_its_errors() {
    let (_dir, api) = api();
    post(
        &api,
        "product_language_add",
        &[
            ("product", "Firefox"),
            ("languages", "fr"),
            ("languages", "it"),
        ],
    )
    .ok();
    // Languages the product lacks are ignored.
    let r = post(
        &api,
        "product_language_delete/",
        &[
            ("product", "Firefox"),
            ("languages", "fr"),
            ("languages", "xx"),
        ],
    );
    assert_eq!(
        r.ok(),
        "<success>Deleted languages fr, xx from product Firefox</success>"
    );
    let index = api.network.index();
    let fx = index.product_named("Firefox").unwrap();
    assert!(fx.offers("fr").is_none() && fx.offers("it").is_some());
    drop(index);
    let e = last_event(&api);
    assert_eq!(
        (e.actor.as_str(), e.action.as_str()),
        ("api:rel", "product.update")
    );
    // Nothing to delete: no write.
    let before = event_count(&api);
    post(
        &api,
        "product_language_delete",
        &[("product", "Firefox"), ("languages", "fr")],
    )
    .ok();
    assert_eq!(event_count(&api), before);
    let r = post(
        &api,
        "product_language_delete",
        &[("product", "firefox"), ("languages", "*")],
    );
    assert_eq!(
        r.ok(),
        "<success>Deleted all languages from product Firefox</success>"
    );
    let s = api.network.snapshot().unwrap();
    assert!(s.product("Firefox").unwrap().languages.is_empty());
    let cases: &[Case] = &[
        (&[("languages", "de")], 101, "Product name is required."),
        (
            &[("product", "nope"), ("languages", "de")],
            102,
            "Product not found.",
        ),
        (
            &[("product", "Firefox")],
            101,
            "At least one language is required.",
        ),
        (
            &[("product", "Firefox"), ("languages", "<x>")],
            103,
            "Invalid language code(s)",
        ),
    ];
    for (fields, number, text) in cases {
        let (n, message) = post(&api, "product_language_delete", fields).error();
        assert_eq!((n, message.as_str()), (*number, *text), "{fields:?}");
    }
}

// ----- locations -----

#[test]
fn location_show_documents() {
    let (_dir, api) = api();
    let (fx, ssl) = (id_of(&api, "Firefox"), id_of(&api, "Firefox-SSL"));
    let (win, osx) = (
        location_id(&api, "Firefox", "win"),
        location_id(&api, "Firefox", "osx"),
    );
    let ssl_win = location_id(&api, "Firefox-SSL", "win");
    let firefox = format!(
        r#"<product id="{fx}" name="Firefox"><location id="{win}" os="win">/fx/win/:lang/Setup.exe</location><location id="{osx}" os="osx">/fx/mac/:lang/Firefox.dmg</location></product>"#
    );
    assert_eq!(
        get(&api, "location_show?product=firefox").ok(),
        format!("<locations>{firefox}</locations>")
    );
    assert_eq!(
        get(&api, "location_show/?product=fox&fuzzy=TRUE").ok(),
        format!(
            r#"<locations>{firefox}<product id="{ssl}" name="Firefox-SSL"><location id="{ssl_win}" os="win">/fx/win/:lang/Setup.exe</location></product></locations>"#
        )
    );
    // Nothing found: an empty list (release tooling cannot parse
    // Tuxedo's rootless document).
    assert_eq!(get(&api, "location_show?product=nope").ok(), "<locations/>");
    // A product without locations is listed empty.
    post(&api, "product_add", &[("product", "Empty")]).ok();
    let empty = id_of(&api, "Empty");
    assert_eq!(
        get(&api, "location_show?product=Empty").ok(),
        format!(r#"<locations><product id="{empty}" name="Empty"/></locations>"#)
    );
    for target in [
        "location_show",
        "location_show/?product=",
        "location_show?fuzzy=true",
    ] {
        assert_eq!(
            get(&api, target).error(),
            (103, "The GET parameter product is required".into()),
            "{target}"
        );
    }
}

#[test]
fn location_add_publishes_and_audits() {
    let (_dir, api) = api();
    let r = post(
        &api,
        "location_add/",
        &[
            ("product", "firefox-ssl"),
            ("os", "OSX"),
            ("path", "/ssl/mac/:lang/F.dmg"),
        ],
    );
    let (ssl, id) = (
        id_of(&api, "Firefox-SSL"),
        location_id(&api, "Firefox-SSL", "osx"),
    );
    assert_eq!(
        r.ok(),
        format!(
            r#"<locations><product id="{ssl}" name="Firefox-SSL"><location id="{id}" os="osx">/ssl/mac/:lang/F.dmg</location></product></locations>"#
        )
    );
    let e = last_event(&api);
    assert_eq!(
        (e.actor.as_str(), e.action.as_str()),
        ("api:rel", "location.add")
    );
    let index = api.network.index();
    let target = index.resolve("firefox-ssl", "osx", "de");
    assert!(target.is_ok(), "not in the index at once");
    // Not checked by sentry yet: nothing serves it.
    assert!(
        index
            .uptake()
            .iter()
            .any(|u| u.product == "Firefox-SSL" && u.os == "osx" && u.available == 0)
    );
}

#[test]
fn location_add_and_modify_errors() {
    let (_dir, api) = api();
    let before = event_count(&api);
    for endpoint in ["location_add", "location_modify/"] {
        let cases: &[Case] = &[
            (
                &[("product", "Firefox"), ("os", "win")],
                101,
                "product, os, and path are required POST parameters.",
            ),
            (
                &[("product", "Firefox"), ("os", " "), ("path", "/x")],
                101,
                "product, os, and path are required POST parameters.",
            ),
            (
                &[("product", "nope"), ("os", "beos"), ("path", "/x")],
                106,
                "FAILED: 'beos' does not exist",
            ),
            (
                &[("product", "nope"), ("os", "linux"), ("path", "/x")],
                105,
                "FAILED: 'nope' does not exist",
            ),
            (
                &[("product", "Firefox"), ("os", "linux"), ("path", "/a/../b")],
                103,
                "invalid path",
            ),
        ];
        for (fields, number, text) in cases {
            let (n, message) = post(&api, endpoint, fields).error();
            assert_eq!(n, *number, "{endpoint} {fields:?}: {message}");
            assert!(message.contains(text), "{endpoint} {fields:?}: {message}");
        }
    }
    let (n, message) = post(
        &api,
        "location_add",
        &[("product", "Firefox"), ("os", "win"), ("path", "/other")],
    )
    .error();
    assert_eq!(
        (n, message.as_str()),
        (104, "The specified location already exists.")
    );
    let (n, message) = post(
        &api,
        "location_modify",
        &[("product", "firefox"), ("os", "linux"), ("path", "/other")],
    )
    .error();
    assert_eq!(
        (n, message.as_str()),
        (
            104,
            "FAILED: location 'Firefox' on OS 'linux' does not exist"
        )
    );
    assert_eq!(event_count(&api), before, "refusals write nothing");
}

#[test]
fn location_modify_changes_the_path_at_once() {
    let (_dir, api) = api();
    let (fx, win) = (id_of(&api, "Firefox"), location_id(&api, "Firefox", "win"));
    let served = |api: &Api| {
        api.network
            .index()
            .uptake()
            .iter()
            .find(|u| u.product == "Firefox" && u.os == "win")
            .unwrap()
            .available
    };
    assert_eq!(served(&api), 100);
    // The same path again changes nothing: sentry's findings stay.
    let before = event_count(&api);
    let r = post(
        &api,
        "location_modify",
        &[
            ("product", "Firefox"),
            ("os", "win"),
            ("path", "/fx/win/:lang/Setup.exe"),
        ],
    );
    let same = format!(
        r#"<locations><product id="{fx}" name="Firefox"><location id="{win}" os="win">/fx/win/:lang/Setup.exe</location></product></locations>"#
    );
    assert_eq!(r.ok(), same);
    assert_eq!(event_count(&api), before);
    assert_eq!(served(&api), 100);
    let r = post(
        &api,
        "location_modify/",
        &[
            ("product", "Firefox"),
            ("os", "win"),
            ("path", "/fx2/win/:lang/Setup.exe"),
        ],
    );
    assert_eq!(r.ok(), same.replace("/fx/", "/fx2/"));
    let e = last_event(&api);
    assert_eq!(
        (e.actor.as_str(), e.action.as_str()),
        ("api:rel", "location.modify")
    );
    let index = api.network.index();
    let target = index.resolve("Firefox", "win", "de").ok().unwrap();
    assert_eq!(target.path(), "/fx2/win/de/Setup.exe");
    drop(index);
    // A new path has not been checked: nothing serves it yet.
    assert_eq!(served(&api), 0);
}

#[test]
fn location_delete_and_its_errors() {
    let (_dir, api) = api();
    let osx = location_id(&api, "Firefox", "osx");
    let r = post(
        &api,
        "location_delete",
        &[("location_id", &osx.to_string())],
    );
    assert_eq!(
        r.ok(),
        "<success>Deleted location: /fx/mac/:lang/Firefox.dmg</success>"
    );
    assert!(api.network.index().resolve("Firefox", "osx", "de").is_err());
    let e = last_event(&api);
    assert_eq!(
        (e.actor.as_str(), e.action.as_str()),
        ("api:rel", "location.remove")
    );
    let cases: &[Case] = &[
        (&[], 101, "location_id is required."),
        (&[("location_id", "")], 101, "location_id is required."),
        (
            &[("location_id", &osx.to_string())],
            102,
            "No location found.",
        ),
        (&[("location_id", "abc")], 102, "No location found."),
        (&[("location_id", "-1")], 102, "No location found."),
    ];
    for (fields, number, text) in cases {
        let (n, message) = post(&api, "location_delete/", fields).error();
        assert_eq!((n, message.as_str()), (*number, *text), "{fields:?}");
    }
}

// ----- aliases -----

#[test]
fn create_update_alias_creates_updates_and_publishes() {
    let (_dir, api) = api();
    let r = post(
        &api,
        "create_update_alias",
        &[("alias", "firefox-latest"), ("related_product", "firefox")],
    );
    assert_eq!(
        r.ok(),
        "<success>Created/updated alias firefox-latest</success>"
    );
    let index = api.network.index();
    assert_eq!(
        &*index.product_named("firefox-latest").unwrap().name,
        "Firefox"
    );
    drop(index);
    let e = last_event(&api);
    assert_eq!(
        (e.actor.as_str(), e.action.as_str()),
        ("api:rel", "alias.set")
    );
    // The same again: nothing to write.
    let before = event_count(&api);
    let r = post(
        &api,
        "create_update_alias/",
        &[("alias", "Firefox-Latest"), ("related_product", "Firefox")],
    );
    assert_eq!(
        r.ok(),
        "<success>Created/updated alias Firefox-Latest</success>"
    );
    assert_eq!(event_count(&api), before);
    // Updated to another product.
    post(
        &api,
        "create_update_alias",
        &[
            ("alias", "firefox-latest"),
            ("related_product", "Firefox-SSL"),
        ],
    )
    .ok();
    let index = api.network.index();
    assert_eq!(
        &*index.product_named("firefox-latest").unwrap().name,
        "Firefox-SSL"
    );
}

#[test]
fn create_update_alias_errors_in_tuxedos_order() {
    let (_dir, api) = api();
    let cases: &[Case] = &[
        (&[], 102, "alias name is required."),
        (
            &[("related_product", "Firefox")],
            102,
            "alias name is required.",
        ),
        (
            &[("alias", "a\u{1}b"), ("related_product", "nope")],
            101,
            "There was a problem validating the data provided",
        ),
        (
            &[("alias", "FIREFOX")],
            104,
            "You cannot create an alias with the same name as a product",
        ),
        (&[("alias", "fx")], 105, "related_product name is required."),
        (
            &[("alias", "fx"), ("related_product", "nope")],
            103,
            "You must specify a valid product to match with an alias",
        ),
    ];
    for (fields, number, text) in cases {
        let (n, message) = post(&api, "create_update_alias", fields).error();
        assert_eq!(n, *number, "{fields:?}: {message}");
        assert!(message.starts_with(text), "{fields:?}: {message}");
    }
}

// ----- uptake and mirrors -----

/// (product, os, available, total) of an `uptake` answer.
fn uptake_items(r: &Answer) -> Vec<(String, String, u64, u64)> {
    assert_eq!(r.status, StatusCode::OK, "{r:?}");
    let doc = r.xml();
    let root = doc.root_element();
    assert_eq!(root.tag_name().name(), "mirror_uptake");
    root.children()
        .map(|item| {
            let fields: Vec<(&str, &str)> = item
                .children()
                .map(|c| (c.tag_name().name(), c.text().unwrap_or("")))
                .collect();
            let names: Vec<&str> = fields.iter().map(|f| f.0).collect();
            assert_eq!(names, ["product", "os", "available", "total"]);
            (
                fields[0].1.to_string(),
                fields[1].1.to_string(),
                fields[2].1.parse().unwrap(),
                fields[3].1.parse().unwrap(),
            )
        })
        .collect()
}

fn row(p: &str, os: &str, available: u64, total: u64) -> (String, String, u64, u64) {
    (p.into(), os.into(), available, total)
}

#[test]
fn uptake_reports_real_numbers() {
    let (_dir, api) = api();
    // total: the active mirrors m1 (60) and m2 (40); m3 is inactive.
    assert_eq!(
        get(&api, "uptake?product=firefox&os=win").ok(),
        "<mirror_uptake><item><product>Firefox</product><os>win</os><available>100</available><total>100</total></item></mirror_uptake>"
    );
    // An ssl-only product is served by https mirrors only.
    assert_eq!(
        uptake_items(&get(&api, "uptake/?product=Firefox-SSL&os=win")),
        [row("Firefox-SSL", "win", 40, 100)]
    );
    // Only a product: its locations.
    assert_eq!(
        uptake_items(&get(&api, "uptake?product=Firefox")),
        [
            row("Firefox", "osx", 40, 100),
            row("Firefox", "win", 100, 100)
        ]
    );
    // Only an os: the products located there.
    assert_eq!(
        uptake_items(&get(&api, "uptake?os=WIN")),
        [
            row("Firefox", "win", 100, 100),
            row("Firefox-SSL", "win", 40, 100)
        ]
    );
    // Fuzzy on both: only the pairs with a location.
    assert_eq!(
        uptake_items(&get(&api, "uptake?product=fox&os=o&fuzzy=true")),
        [row("Firefox", "osx", 40, 100)]
    );
    assert_eq!(
        uptake_items(&get(&api, "uptake?product=Firefox&os=osx&fuzzy=True")),
        [row("Firefox", "osx", 40, 100)]
    );
    // Both named, no location for the pair: nothing (as Tuxedo).
    assert_eq!(
        get(&api, "uptake?product=Firefox&os=linux").ok(),
        "<mirror_uptake/>"
    );
    assert_eq!(
        get(&api, "uptake?product=Firefox-SSL&os=osx").ok(),
        "<mirror_uptake/>"
    );
    // Sentry's findings reach the numbers at once.
    let s = api.network.snapshot().unwrap();
    let m2 = s.mirror("m2").unwrap().id;
    let win = crate::model::LocationId(location_id(&api, "Firefox", "win"));
    api.network
        .write(&crate::model::Actor::Sentry, |tx| {
            tx.set_availability(win, m2, &Availability::default())
        })
        .unwrap();
    assert_eq!(
        uptake_items(&get(&api, "uptake?product=Firefox&os=win")),
        [row("Firefox", "win", 60, 100)]
    );
    let cases = [
        (
            "uptake",
            101,
            "product and/or os are required GET parameters.",
        ),
        (
            "uptake?product=&os=",
            101,
            "product and/or os are required GET parameters.",
        ),
        (
            "uptake?fuzzy=true",
            101,
            "product and/or os are required GET parameters.",
        ),
        ("uptake?product=nope&os=win", 102, "No products found"),
        ("uptake?product=nope", 102, "No products found"),
        ("uptake?product=Firefox&os=beos", 102, "No OSes found"),
        ("uptake?os=wi", 102, "No OSes found"),
    ];
    for (target, number, text) in cases {
        assert_eq!(get(&api, target).error(), (number, text.into()), "{target}");
    }
}

#[test]
fn mirror_list_lists_active_mirrors() {
    let (_dir, api) = api();
    assert_eq!(
        get(&api, "mirror_list").ok(),
        r#"<mirrors><mirror baseurl="http://m1.example/pub"/><mirror baseurl="https://m2.example/pub"/></mirrors>"#
    );
    assert_eq!(
        get_json(&api, "mirror_list/"),
        serde_json::json!({"mirrors": [
            {"baseurl": "http://m1.example/pub"},
            {"baseurl": "https://m2.example/pub"},
        ]})
    );
}

fn get_json(api: &Api, target: &str) -> serde_json::Value {
    Call::new(Method::GET, &format!("/api/{target}"), Some("rel"))
        .json()
        .send(api)
        .json(StatusCode::OK)
}

// ----- routing, methods, authentication -----

const ENDPOINTS: [(&str, bool); 12] = [
    ("product_show", false),
    ("product_add", true),
    ("product_delete", true),
    ("product_language_add", true),
    ("product_language_delete", true),
    ("location_show", false),
    ("location_add", true),
    ("location_modify", true),
    ("location_delete", true),
    ("create_update_alias", true),
    ("uptake", false),
    ("mirror_list", false),
];

#[test]
fn every_endpoint_answers_with_and_without_a_slash() {
    let (_dir, api) = api();
    for (name, writes) in ENDPOINTS {
        for target in [format!("/api/{name}"), format!("/api/{name}/")] {
            let method = if writes { Method::POST } else { Method::GET };
            let r = Call::new(method, &target, Some("ann")).form(&[]).send(&api);
            // Each answers (a document or a numbered error), never 404/405.
            assert!(
                r.status == StatusCode::OK || r.status == StatusCode::BAD_REQUEST,
                "{target}: {r:?}"
            );
            r.xml();
            // The wrong method is refused before authentication.
            let wrong = if writes { Method::GET } else { Method::POST };
            let r = Call::new(wrong, &target, None).send(&api);
            r.unnumbered(StatusCode::METHOD_NOT_ALLOWED);
            let allow = if writes { "POST" } else { "GET, HEAD" };
            assert_eq!(r.headers[ALLOW], allow, "{target}");
        }
    }
    let r = Call::new(Method::HEAD, "/api/product_show", Some("vic")).send(&api);
    assert_eq!(r.status, StatusCode::OK);
    for target in [
        "/api/nope",
        "/api/product_show//",
        "/api/Product_Show",
        "/api/product_show/x",
    ] {
        let r = Call::new(Method::GET, target, Some("rel")).send(&api);
        r.unnumbered(StatusCode::NOT_FOUND);
    }
    for target in ["/api", "/api/"] {
        let r = Call::new(Method::GET, target, None).send(&api);
        assert!(r.ok().contains("uptake"), "{r:?}");
    }
}

#[test]
fn authentication_is_required_everywhere() {
    let (_dir, mut api) = api();
    let throttle = Arc::get_mut(&mut api.gate.throttle).expect("not shared yet");
    throttle.per_pair = 1000;
    throttle.per_client = 1000;
    for (name, writes) in ENDPOINTS {
        let method = if writes { Method::POST } else { Method::GET };
        let target = format!("/api/{name}");
        let mut calls = vec![
            Call::new(method.clone(), &target, None),
            Call::new(method.clone(), &target, None).auth("rel", "wrong"),
            Call::new(method.clone(), &target, None).header(AUTHORIZATION, "Bearer x"),
        ];
        // Unknown users cost a full-strength hash: once is enough.
        if name == "uptake" {
            calls.push(Call::new(method.clone(), &target, None).auth("nobody", "pw-nobody"));
        }
        for call in calls {
            let r = call.send(&api);
            r.unnumbered(StatusCode::UNAUTHORIZED);
            assert_eq!(r.headers[WWW_AUTHENTICATE], r#"Basic realm="Bouncer API""#);
        }
    }
}

#[test]
fn viewers_read_and_release_or_admin_users_write() {
    let (_dir, api) = api();
    let before = event_count(&api);
    for (name, writes) in ENDPOINTS {
        let target = format!("/api/{name}");
        if writes {
            let r = Call::new(Method::POST, &target, Some("vic"))
                .form(&[("product", "X")])
                .send(&api);
            let message = r.unnumbered(StatusCode::FORBIDDEN);
            assert!(message.contains("viewer"), "{message}");
        } else {
            let r = Call::new(
                Method::GET,
                &format!("{target}?product=Firefox"),
                Some("vic"),
            )
            .send(&api);
            assert_eq!(r.status, StatusCode::OK, "{r:?}");
        }
    }
    assert_eq!(event_count(&api), before);
    post_as(&api, "ann", "product_add", &[("product", "ByAdmin")]).ok();
    assert_eq!(last_event(&api).actor, "api:ann");
    post_as(&api, "rel", "product_add", &[("product", "ByRelease")]).ok();
    assert_eq!(last_event(&api).actor, "api:rel");
}

#[test]
fn failed_logins_are_throttled_but_remembered_callers_carry_on() {
    let (_dir, mut api) = api();
    let throttle = Arc::get_mut(&mut api.gate.throttle).expect("not shared yet");
    throttle.per_pair = 3;
    // Long enough for the next attempt to come before it ends.
    throttle.first_wait = 3600;
    // rel's password is checked once and remembered.
    assert_eq!(get(&api, "mirror_list").status, StatusCode::OK);
    for _ in 0..3 {
        let r = Call::new(Method::GET, "/api/mirror_list", None)
            .auth("rel", "guess")
            .send(&api);
        r.unnumbered(StatusCode::UNAUTHORIZED);
    }
    let r = Call::new(Method::GET, "/api/mirror_list", None)
        .auth("rel", "guess")
        .send(&api);
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS, "{r:?}");
    let (number, message) = r.numbered();
    assert_eq!(number, crate::api::TOO_MANY_REQUESTS);
    assert!(message.contains("too many"), "{message}");
    assert!(
        r.headers[RETRY_AFTER]
            .to_str()
            .unwrap()
            .parse::<u64>()
            .unwrap()
            > 0
    );
    // The tool that knows the password is not locked out by the guesser.
    assert_eq!(get(&api, "mirror_list").status, StatusCode::OK);
    // Another account is not locked.
    let r = Call::new(Method::GET, "/api/mirror_list", Some("ann")).send(&api);
    assert_eq!(r.status, StatusCode::OK);
}

#[test]
fn a_changed_password_or_role_applies_at_once() {
    let (_dir, api) = api();
    assert_eq!(get(&api, "mirror_list").status, StatusCode::OK);
    // The remembered check is tied to the stored hash.
    put_user(&api, "rel", "new-password", Role::Release);
    get(&api, "mirror_list").unnumbered(StatusCode::UNAUTHORIZED);
    let r = Call::new(Method::GET, "/api/mirror_list", None)
        .auth("rel", "new-password")
        .send(&api);
    assert_eq!(r.status, StatusCode::OK);
    // Roles are read on every request.
    let mut ann = api.network.store().users().unwrap();
    ann.retain(|u| u.name == "ann");
    assert_eq!(
        post_as(&api, "ann", "product_add", &[("product", "A")]).status,
        StatusCode::OK
    );
    let demoted = User {
        role: Role::Viewer,
        ..ann.remove(0)
    };
    api.network
        .write(&crate::model::Actor::Program("test"), |tx| {
            tx.user_put(&demoted, "user.role")
        })
        .unwrap();
    post_as(&api, "ann", "product_add", &[("product", "B")]).unnumbered(StatusCode::FORBIDDEN);
    // A removed user is out.
    api.network
        .write(&crate::model::Actor::Program("test"), |tx| {
            tx.user_remove("ann")
        })
        .unwrap();
    post_as(&api, "ann", "product_add", &[("product", "B")]).unnumbered(StatusCode::UNAUTHORIZED);
}

#[test]
fn writes_from_other_sites_are_refused() {
    let (_dir, api) = api();
    let post = |headers: &[(HeaderName, &str)]| {
        let mut call = Call::new(Method::POST, "/api/product_add", Some("rel"))
            .form(&[("product", "Evil")])
            .header(HOST, "bouncer.example");
        for (k, v) in headers {
            call = call.header(k.clone(), v);
        }
        call.send(&api)
    };
    let sec_fetch_site = HeaderName::from_static("sec-fetch-site");
    for headers in [
        vec![(sec_fetch_site.clone(), "cross-site")],
        vec![(sec_fetch_site.clone(), "same-site")],
        vec![(ORIGIN, "https://evil.example")],
        vec![(ORIGIN, "null")],
    ] {
        post(&headers).unnumbered(StatusCode::FORBIDDEN);
    }
    assert!(api.network.snapshot().unwrap().product("Evil").is_none());
    for headers in [
        vec![],
        vec![(sec_fetch_site.clone(), "same-origin")],
        vec![(ORIGIN, "https://bouncer.example")],
    ] {
        post(&headers).ok();
        post_as(&api, "rel", "product_delete", &[("product", "Evil")]).ok();
    }
}

#[test]
fn multipart_forms_are_read_too() {
    let (_dir, api) = api();
    let body = "--XY\r\nContent-Disposition: form-data; name=\"product\"\r\n\r\nMulti\r\n--XY\r\nContent-Disposition: form-data; name=\"languages\"\r\n\r\nde\r\n--XY\r\nContent-Disposition: form-data; name=\"languages\"\r\n\r\nfr\r\n--XY--\r\n";
    let mut call = Call::new(Method::POST, "/api/product_add/", Some("rel"))
        .header(CONTENT_TYPE, "multipart/form-data; boundary=XY");
    call.body = body.as_bytes().to_vec();
    assert!(call.send(&api).ok().contains(r#"<language locale="fr"/>"#));
    // A body that is not UTF-8 is refused, not guessed at.
    let mut call = Call::new(Method::POST, "/api/product_add/", Some("rel"))
        .header(CONTENT_TYPE, "application/x-www-form-urlencoded");
    call.body = b"product=\xff".to_vec();
    call.send(&api).unnumbered(StatusCode::BAD_REQUEST);
}

// ----- 413, JSON, escaping -----

#[test]
fn too_large_is_the_numbered_error() {
    let r = super::too_large(&HeaderMap::new(), true);
    assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(
        crate::admin::testing::body(r),
        format!(r#"{DECL}<error number="101">POST request length exceeded 500KB</error>"#)
    );
    let mut headers = HeaderMap::new();
    headers.insert(ACCEPT, HeaderValue::from_static("application/json"));
    let r = super::too_large(&headers, true);
    assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(r.headers()[CONTENT_TYPE], "application/json");
    assert_eq!(
        crate::admin::testing::body(r),
        r#"{"error":{"number":101,"message":"POST request length exceeded 500KB"}}"#
    );
}

#[test]
fn accept_picks_json_or_xml() {
    let of = |accept: &str| {
        let mut h = HeaderMap::new();
        h.insert(ACCEPT, HeaderValue::from_str(accept).unwrap());
        Format::of(&h)
    };
    assert_eq!(Format::of(&HeaderMap::new()), Format::Xml);
    assert_eq!(of("application/json"), Format::Json);
    assert_eq!(of("Application/JSON; charset=utf-8"), Format::Json);
    assert_eq!(of("text/xml, application/json"), Format::Json);
    assert_eq!(of("text/xml, application/json;q=0.5"), Format::Xml);
    assert_eq!(of("application/json;q=0"), Format::Xml);
    assert_eq!(of("*/*"), Format::Xml);
    assert_eq!(
        of("text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"),
        Format::Xml
    );
}

#[test]
fn every_document_has_a_json_twin() {
    let (_dir, api) = api();
    let (fx, win) = (id_of(&api, "Firefox"), location_id(&api, "Firefox", "win"));
    let v = get_json(&api, "product_show?product=Firefox");
    assert_eq!(
        v,
        serde_json::json!({"products": [{"id": fx, "name": "Firefox", "languages": ["de", "en-US"]}]})
    );
    let v = get_json(&api, "location_show?product=Firefox");
    assert_eq!(v["locations"][0]["id"], fx);
    assert_eq!(v["locations"][0]["name"], "Firefox");
    assert_eq!(
        v["locations"][0]["locations"][0],
        serde_json::json!({"id": win, "os": "win", "path": "/fx/win/:lang/Setup.exe"})
    );
    assert_eq!(
        get_json(&api, "uptake?product=Firefox&os=win"),
        serde_json::json!({"mirror_uptake": [{"product": "Firefox", "os": "win", "available": 100, "total": 100}]})
    );
    let json_post = |target: &str, fields: &[(&str, &str)], status| {
        Call::new(Method::POST, target, Some("rel"))
            .form(fields)
            .json()
            .send(&api)
            .json(status)
    };
    let v = json_post("/api/product_add", &[("product", "J")], StatusCode::OK);
    assert_eq!(v["products"][0]["name"], "J");
    assert_eq!(v["products"][0]["languages"], serde_json::json!([]));
    let v = json_post("/api/product_delete/", &[("product", "J")], StatusCode::OK);
    assert_eq!(v, serde_json::json!({"success": "Deleted product: J"}));
    let v = json_post(
        "/api/product_add",
        &[("product", "Firefox")],
        StatusCode::BAD_REQUEST,
    );
    assert_eq!(
        v,
        serde_json::json!({"error": {"number": 104, "message": "product already exists."}})
    );
    let v = Call::new(Method::GET, "/api/uptake", None)
        .json()
        .send(&api)
        .json(StatusCode::UNAUTHORIZED);
    assert!(v["error"]["message"].is_string() && v["error"].get("number").is_none());
    let v = Call::new(Method::GET, "/api/product_add", None)
        .json()
        .send(&api)
        .json(StatusCode::METHOD_NOT_ALLOWED);
    assert!(v["error"]["message"].is_string());
}

#[test]
fn hostile_strings_are_escaped() {
    let (_dir, api) = api();
    // Product and alias names may hold markup characters (not spaces).
    let hostile = r#"<b>&"x'</b>"#;
    let r = post(
        &api,
        "product_add",
        &[("product", hostile), ("languages", "de")],
    );
    let doc = r.xml();
    let product = doc.root_element().first_element_child().unwrap();
    assert_eq!(product.attribute("name"), Some(hostile));
    assert!(!r.body.contains("<b>"), "{r:?}");
    let v = Call::new(
        Method::GET,
        &format!(
            "/api/product_show?product={}",
            crate::query::encode_component(hostile)
        ),
        Some("rel"),
    )
    .json()
    .send(&api)
    .json(StatusCode::OK);
    assert_eq!(v["products"][0]["name"], hostile);
    let r = post(
        &api,
        "location_add",
        &[
            ("product", hostile),
            ("os", "win"),
            ("path", "/a/'&;/:lang/x"),
        ],
    );
    let doc = r.xml();
    let location = doc
        .root_element()
        .first_element_child()
        .unwrap()
        .first_element_child()
        .unwrap();
    assert_eq!(location.text(), Some("/a/'&;/:lang/x"));
    // Messages that echo input, control characters included.
    let os = "<os>&\"\u{1}\u{fffe}";
    let (n, message) = post(
        &api,
        "location_add",
        &[("product", "x"), ("os", os), ("path", "/x")],
    )
    .error();
    assert_eq!(n, 106);
    assert_eq!(message, "FAILED: '<os>&\"\u{fffd}\u{fffd}' does not exist");
    let r = Call::new(Method::POST, "/api/location_add", Some("rel"))
        .form(&[("product", "x"), ("os", os), ("path", "/x")])
        .json()
        .send(&api);
    let v = r.json(StatusCode::BAD_REQUEST);
    assert_eq!(
        v["error"]["message"],
        format!("FAILED: '{os}' does not exist")
    );
    assert!(!r.body.contains('<'), "{r:?}");
    let r = Call::new(Method::GET, "/api/<script>", Some("rel")).send(&api);
    assert!(r.unnumbered(StatusCode::NOT_FOUND).contains("<script>"));
    assert!(!r.body.contains("<script>"));
}
