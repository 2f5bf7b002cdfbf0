//! SPEC §7: the release-automation API under `/api/`, Tuxedo /
//! bouncer-admin compatible, seen from outside — the real binary over real
//! HTTP with HTTP Basic auth, driven the way bouncerscript drives it (a
//! release: products, locations, an alias, and `uptake` rising as sentry
//! finds the files on a real test mirror), its numbered errors, auth,
//! the body cap, both slash forms, fuzzy matching, the JSON variants, and
//! every write reaching the CLI and the audit log at once.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use serde_json::Value;

use crate::common::mirror::{Behaviour, Files, Mirror};
use crate::common::{
    Env, NOT_FOUND, Response, Server, admin_session, audit, form_urlencode, http, http_body,
    password, poll, send_streaming,
};

/// What every XML answer starts with (minidom's `toxml(encoding='utf-8')`).
const XML_DECL: &str = r#"<?xml version="1.0" encoding="utf-8"?>"#;
/// The API's body cap (`api::MAX_BODY`, bouncer-admin's 500 KB).
const MAX_BODY: usize = 500 * 1024;
/// How long a test waits for something another process does.
const PROMPT: Duration = Duration::from_secs(20);

/// The release's products: a plain one and an SSL-only one.
const FX: &str = "Firefox-130.0";
const FX_SSL: &str = "Firefox-130.0-SSL";
const LANGS: [&str; 3] = ["de", "en-US", "fr"];
/// The release's locations, as bouncerscript lays them out.
const PLATFORMS: [(&str, &str); 4] = [
    (
        "win",
        "/firefox/releases/130.0/win32/:lang/Firefox%20Setup%20130.0.exe",
    ),
    (
        "win64",
        "/firefox/releases/130.0/win64/:lang/Firefox%20Setup%20130.0.exe",
    ),
    (
        "osx",
        "/firefox/releases/130.0/mac/:lang/Firefox%20130.0.dmg",
    ),
    (
        "linux64",
        "/firefox/releases/130.0/linux-x86_64/:lang/firefox-130.0.tar.bz2",
    ),
];
/// The path `location_modify` gives win later.
const WIN_MODIFIED: &str = "/firefox/releases/130.0/win32/:lang/Firefox%20Installer%20130.0.exe";
/// Where bounces go when no mirror can serve (nothing listens there).
const ORIGIN: &str = "http://origin.invalid/pub";
/// The healthy test mirror's and the broken one's ratings.
const GOOD_RATING: u64 = 70;
const BAD_RATING: u64 = 30;

// ----- users and requests -----

/// Form fields, in order (names may repeat).
type Fields<'a> = &'a [(&'a str, &'a str)];

/// An `Authorization: Basic` value.
fn basic(user: &str, password: &str) -> String {
    let token = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    format!("Basic {token}")
}

/// An API client on one server: who it is and what it accepts.
#[derive(Clone)]
struct Client {
    port: u16,
    auth: Option<String>,
    accept: Option<&'static str>,
}

impl Client {
    /// A client logged in as `user` (with the right password).
    fn user(server: &Server, user: &str) -> Client {
        Client::with_auth(server, Some(basic(user, &password(user))))
    }

    /// A client sending this `Authorization` value, or none.
    fn with_auth(server: &Server, auth: Option<String>) -> Client {
        Client {
            port: server.port,
            auth,
            accept: None,
        }
    }

    /// The same client asking for JSON.
    fn json(&self) -> Client {
        Client {
            accept: Some("application/json"),
            ..self.clone()
        }
    }

    fn headers(&self) -> Vec<(&str, &str)> {
        let mut h = Vec::new();
        if let Some(auth) = &self.auth {
            h.push(("Authorization", auth.as_str()));
        }
        if let Some(accept) = self.accept {
            h.push(("Accept", accept));
        }
        h
    }

    /// `GET /api/{target}` (`target` may carry a query).
    fn get(&self, target: &str) -> Response {
        http(self.port, "GET", &format!("/api/{target}"), &self.headers())
    }

    /// `POST /api/{route}` with `fields` form-encoded (repeated names
    /// allowed).
    fn post(&self, route: &str, fields: &[(&str, &str)]) -> Response {
        self.post_raw(route, form_urlencode(fields).as_bytes())
    }

    /// `POST /api/{route}` with this form-encoded body.
    fn post_raw(&self, route: &str, body: &[u8]) -> Response {
        let mut headers = self.headers();
        headers.push(("Content-Type", "application/x-www-form-urlencoded"));
        http_body(self.port, "POST", &format!("/api/{route}"), &headers, body)
    }
}

/// `value` percent-encoded for a query, as Python's `urllib.parse.quote`.
fn quote(value: &str) -> String {
    form_urlencode(&[("x", value)])[2..].replace('+', "%20")
}

// ----- the XML documents -----

/// An XML element, owned: name, attributes, its own text, children.
#[derive(Debug, Clone, PartialEq)]
struct El {
    name: String,
    attrs: BTreeMap<String, String>,
    text: String,
    children: Vec<El>,
}

impl El {
    fn attr(&self, name: &str) -> &str {
        self.attrs
            .get(name)
            .unwrap_or_else(|| panic!("no {name} attribute on {self:?}"))
    }

    fn child_text(&self, name: &str) -> &str {
        &self
            .children
            .iter()
            .find(|c| c.name == name)
            .unwrap_or_else(|| panic!("no <{name}> in {self:?}"))
            .text
    }
}

fn element(node: roxmltree::Node<'_, '_>) -> El {
    El {
        name: node.tag_name().name().to_string(),
        attrs: node
            .attributes()
            .map(|a| (a.name().to_string(), a.value().to_string()))
            .collect(),
        text: node
            .children()
            .filter(|c| c.is_text())
            .filter_map(|c| c.text())
            .collect(),
        children: node
            .children()
            .filter(|c| c.is_element())
            .map(element)
            .collect(),
    }
}

/// The root of an XML answer, which must be declared as minidom does,
/// served as `text/xml`, and free of whitespace between elements.
fn xml(r: &Response) -> El {
    assert!(
        r.header("content-type")
            .is_some_and(|t| t.starts_with("text/xml")),
        "not text/xml: {r:?}"
    );
    assert!(r.body.starts_with(XML_DECL), "no XML declaration: {r:?}");
    assert!(
        !r.body.contains(">\n") && !r.body.contains(">  "),
        "indented XML: {r:?}"
    );
    let doc =
        roxmltree::Document::parse(&r.body).unwrap_or_else(|e| panic!("not XML ({e}): {r:?}"));
    element(doc.root_element())
}

/// A 200 XML answer's root, named `root`.
fn ok_xml(r: &Response, root: &str) -> El {
    assert_eq!(r.status, 200, "{r:?}");
    let el = xml(r);
    assert_eq!(el.name, root, "{r:?}");
    el
}

/// A product as `product_show` lists it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Prod {
    id: u64,
    name: String,
    langs: Vec<String>,
}

/// The `<products>` of a 200 answer.
fn products(r: &Response) -> Vec<Prod> {
    ok_xml(r, "products")
        .children
        .iter()
        .map(|p| {
            assert_eq!(p.name, "product", "{r:?}");
            Prod {
                id: p.attr("id").parse().expect("a numeric product id"),
                name: p.attr("name").to_string(),
                langs: p
                    .children
                    .iter()
                    .map(|l| {
                        assert_eq!(l.name, "language", "{r:?}");
                        l.attr("locale").to_string()
                    })
                    .collect(),
            }
        })
        .collect()
}

/// (name, languages) of each product in a `<products>` answer.
fn names_langs(r: &Response) -> Vec<(String, Vec<String>)> {
    products(r).into_iter().map(|p| (p.name, p.langs)).collect()
}

/// A location as `location_show` lists it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Loc {
    product: String,
    id: u64,
    os: String,
    path: String,
}

/// The `<locations>` of a 200 answer, product by product; an empty list for
/// `<locations/>`.
fn locations(r: &Response) -> Vec<(String, Vec<Loc>)> {
    ok_xml(r, "locations")
        .children
        .iter()
        .map(|p| {
            assert_eq!(p.name, "product", "{r:?}");
            assert!(p.attr("id").parse::<u64>().is_ok(), "{r:?}");
            let name = p.attr("name").to_string();
            let locs = p
                .children
                .iter()
                .map(|l| {
                    assert_eq!(l.name, "location", "{r:?}");
                    Loc {
                        product: name.clone(),
                        id: l.attr("id").parse().expect("a numeric location id"),
                        os: l.attr("os").to_string(),
                        path: l.text.clone(),
                    }
                })
                .collect();
            (name, locs)
        })
        .collect()
}

/// Every location in a `<locations>` answer.
fn all_locations(r: &Response) -> Vec<Loc> {
    locations(r).into_iter().flat_map(|(_, l)| l).collect()
}

/// One `uptake` item.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Uptake {
    product: String,
    os: String,
    available: u64,
    total: u64,
}

/// The items of a 200 `<mirror_uptake>` answer (children in Tuxedo's
/// order: product, os, available, total).
fn uptake(r: &Response) -> Vec<Uptake> {
    ok_xml(r, "mirror_uptake")
        .children
        .iter()
        .map(|item| {
            assert_eq!(item.name, "item", "{r:?}");
            let names: Vec<&str> = item.children.iter().map(|c| c.name.as_str()).collect();
            assert_eq!(names, ["product", "os", "available", "total"], "{r:?}");
            let number = |n: &str| -> u64 {
                item.child_text(n)
                    .parse()
                    .unwrap_or_else(|_| panic!("{n} is not a number: {r:?}"))
            };
            Uptake {
                product: item.child_text("product").to_string(),
                os: item.child_text("os").to_string(),
                available: number("available"),
                total: number("total"),
            }
        })
        .collect()
}

/// The text of a 200 `<success>` answer.
fn success(r: &Response) -> String {
    ok_xml(r, "success").text
}

/// The number and text of a 400 `<error number="N">` answer.
fn error(r: &Response) -> (u32, String) {
    assert_eq!(r.status, 400, "{r:?}");
    numbered(r)
}

/// The number and text of an `<error number="N">` answer, any status.
fn numbered(r: &Response) -> (u32, String) {
    let el = xml(r);
    assert_eq!(el.name, "error", "{r:?}");
    let number = el
        .attr("number")
        .parse()
        .unwrap_or_else(|_| panic!("a non-numeric error number: {r:?}"));
    (number, el.text)
}

/// The body of a JSON answer with status `status`, parsed.
fn json(r: &Response, status: u16) -> Value {
    assert_eq!(r.status, status, "{r:?}");
    assert!(
        r.header("content-type")
            .is_some_and(|t| t.starts_with("application/json")),
        "not application/json: {r:?}"
    );
    serde_json::from_str(&r.body).unwrap_or_else(|e| panic!("not JSON ({e}): {r:?}"))
}

fn sorted(v: &[&str]) -> Vec<String> {
    let mut v: Vec<String> = v.iter().map(|s| s.to_string()).collect();
    v.sort();
    v
}

// ----- the network -----

/// `template` for `lang`.
fn for_lang(template: &str, lang: &str) -> String {
    template.replace(":lang", lang)
}

/// Every file of the release (the modified win path too), each with its
/// own content.
fn release_files() -> Files {
    let mut files = BTreeMap::new();
    let templates = PLATFORMS.iter().map(|(_, t)| *t).chain([WIN_MODIFIED]);
    for (i, template) in templates.enumerate() {
        for (j, lang) in LANGS.iter().enumerate() {
            let content = format!("build {i}, {lang}\n").repeat(50 + 3 * i + j);
            files.insert(for_lang(template, lang), content.into_bytes());
        }
    }
    Arc::new(files)
}

/// `GET /?product=…&os=…&lang=…&print=yes`: (status, body).
fn bounce(server: &Server, product: &str, os: &str, lang: &str) -> (u16, String) {
    let r = server.get(&format!(
        "/?product={}&os={os}&lang={lang}&print=yes",
        quote(product)
    ));
    (r.status, r.body)
}

/// Where a `print=yes` bounce goes; it must find somewhere.
fn bounce_url(server: &Server, product: &str, os: &str, lang: &str) -> String {
    let (status, body) = bounce(server, product, os, lang);
    assert_eq!(status, 200, "{product} {os} {lang}: {body:?}");
    body.trim_end().to_string()
}

fn assert_not_found(server: &Server, product: &str, os: &str, lang: &str) {
    let (status, body) = bounce(server, product, os, lang);
    assert_eq!(
        (status, body.as_str()),
        (404, NOT_FOUND),
        "{product} {os} {lang}"
    );
}

/// The uptake of `product` on `os` through the API.
fn uptake_of(api: &Client, product: &str, os: &str) -> Uptake {
    let r = api.get(&format!("uptake?product={}&os={os}", quote(product)));
    let items = uptake(&r);
    assert_eq!(items.len(), 1, "{r:?}");
    items[0].clone()
}

/// `product list`: NAME → (LANGUAGES, SSL ONLY).
fn product_list(env: &Env) -> BTreeMap<String, (String, String)> {
    env.ok(&["product", "list"])
        .lines()
        .skip(1)
        .map(|line| {
            let cells: Vec<&str> = line
                .split("  ")
                .map(str::trim)
                .filter(|c| !c.is_empty())
                .collect();
            (
                cells[0].to_string(),
                (cells[1].to_string(), cells[2].to_string()),
            )
        })
        .collect()
}

/// `location list`: (PRODUCT, OS, PATH) rows.
fn location_list(env: &Env) -> BTreeSet<(String, String, String)> {
    env.location_rows().into_iter().collect()
}

/// `alias list`: ALIAS → PRODUCT.
fn alias_list(env: &Env) -> BTreeMap<String, String> {
    env.ok(&["alias", "list"])
        .lines()
        .skip(1)
        .map(|line| {
            let cells: Vec<&str> = line.split_whitespace().collect();
            (cells[0].to_string(), cells[1].to_string())
        })
        .collect()
}

/// A database with users `rel` (release), `ann` (admin) and `vic`
/// (viewer).
fn env_with_users() -> Env {
    let env = Env::new();
    env.add_user("rel", "release");
    env.add_user("ann", "admin");
    env.add_user("vic", "viewer");
    env
}

// ----- 1. a release as bouncerscript makes it -----

#[test]
fn a_release_flow_as_bouncerscript_runs_it() {
    let env = env_with_users();
    let server = env.serve(&["--fallback-url", ORIGIN]);
    let api = Client::user(&server, "rel");

    // bouncer_submission: product_show (no slash); absent → product_add/
    // (with a slash), then product_show again.
    for (product, ssl) in [(FX, false), (FX_SSL, true)] {
        let show = format!("product_show?product={}", quote(product));
        assert_eq!(products(&api.get(&show)), []);
        let mut form = vec![("product", product)];
        form.extend(LANGS.iter().map(|l| ("languages", *l)));
        if ssl {
            form.push(("ssl_only", "true"));
        }
        let added = names_langs(&api.post("product_add/", &form));
        assert_eq!(added, [(product.to_string(), sorted(&LANGS))]);
        assert_eq!(names_langs(&api.get(&show)), added, "{product}");
    }
    let listed = product_list(&env);
    assert_eq!(listed[FX], ("de,en-US,fr".to_string(), "no".to_string()));
    assert_eq!(
        listed[FX_SSL],
        ("de,en-US,fr".to_string(), "yes".to_string())
    );

    // location_show (no slash), then location_add/ for each platform not
    // yet there; location_show again must list exactly the paths.
    let show = format!("location_show?product={}", quote(FX));
    for (os, path) in PLATFORMS {
        let before = all_locations(&api.get(&show));
        assert!(!before.iter().any(|l| l.os == os), "{before:?}");
        let added = all_locations(&api.post(
            "location_add/",
            &[("product", FX), ("os", os), ("path", path)],
        ));
        assert!(
            added
                .iter()
                .any(|l| l.product == FX && l.os == os && l.path == path),
            "{os}: {added:?}"
        );
    }
    let shown = all_locations(&api.get(&show));
    let mut paths: Vec<&str> = shown.iter().map(|l| l.path.as_str()).collect();
    paths.sort();
    let mut expected: Vec<&str> = PLATFORMS.iter().map(|(_, p)| *p).collect();
    expected.sort();
    assert_eq!(paths, expected);
    assert!(shown.iter().all(|l| l.product == FX), "{shown:?}");
    let rows = location_list(&env);
    for (os, path) in PLATFORMS {
        assert!(
            rows.contains(&(FX.to_string(), os.to_string(), path.to_string())),
            "{os} missing from location list: {rows:?}"
        );
    }

    // No mirror yet: nothing available of nothing.
    for (os, _) in PLATFORMS {
        let u = uptake_of(&api, FX, os);
        assert_eq!((u.available, u.total), (0, 0), "{os}: {u:?}");
    }

    // A healthy test mirror and a broken one, added with the CLI (through
    // the control socket): both count towards the total at once, neither
    // is available before sentry has looked.
    let files = release_files();
    let good = Mirror::start(&files, Behaviour::Healthy);
    let bad = Mirror::start(&files, Behaviour::Broken);
    env.ok(&[
        "mirror",
        "add",
        "good",
        &good.url,
        "--rating",
        &GOOD_RATING.to_string(),
    ]);
    env.ok(&[
        "mirror",
        "add",
        "bad",
        &bad.url,
        "--rating",
        &BAD_RATING.to_string(),
    ]);
    let total = GOOD_RATING + BAD_RATING;
    for (os, _) in PLATFORMS {
        let u = uptake_of(&api, FX, os);
        assert_eq!(
            (u.product.as_str(), u.os.as_str(), u.available, u.total),
            (FX, os, 0, total),
            "{u:?}"
        );
    }
    assert_eq!(
        bounce_url(&server, FX, "win", "de"),
        format!("{ORIGIN}{}", for_lang(PLATFORMS[0].1, "de")),
        "before sentry only the origin serves"
    );

    // Sentry checks what is new (through the running server); uptake rises
    // to the healthy mirror's rating.
    env.ok(&["sentry", "--new", "--timeout", "3"]);
    let risen = poll(PROMPT, Duration::from_millis(50), || {
        PLATFORMS
            .iter()
            .all(|(os, _)| uptake_of(&api, FX, os).available == GOOD_RATING)
            .then_some(())
    });
    assert!(
        risen.is_some(),
        "uptake did not reach {GOOD_RATING}: {:?}\n{}",
        PLATFORMS
            .iter()
            .map(|(os, _)| uptake_of(&api, FX, os))
            .collect::<Vec<_>>(),
        server.log()
    );
    for (os, _) in PLATFORMS {
        assert_eq!(uptake_of(&api, FX, os).total, total, "{os}");
    }
    for (os, template) in PLATFORMS {
        for lang in LANGS {
            assert_eq!(
                bounce_url(&server, FX, os, lang),
                format!("{}{}", good.url, for_lang(template, lang)),
            );
        }
    }

    // bouncer_aliases: create_update_alias without a slash; the alias
    // bounces where the product does.
    let r = api.post(
        "create_update_alias",
        &[("alias", "firefox-latest"), ("related_product", FX)],
    );
    assert_eq!(success(&r), "Created/updated alias firefox-latest");
    assert_eq!(alias_list(&env)["firefox-latest"], FX);
    for (os, _) in PLATFORMS {
        for lang in LANGS {
            assert_eq!(
                bounce_url(&server, "firefox-latest", os, lang),
                bounce_url(&server, FX, os, lang),
                "{os} {lang}"
            );
        }
    }

    // The nightly bump: location_modify/ with the same os and a new path.
    // Bounces follow at once (to the origin until sentry has seen the new
    // file on a mirror, then to the mirror).
    let r = api.post(
        "location_modify/",
        &[("product", FX), ("os", "win"), ("path", WIN_MODIFIED)],
    );
    let modified = all_locations(&r);
    assert!(
        modified
            .iter()
            .any(|l| l.os == "win" && l.path == WIN_MODIFIED),
        "{r:?}"
    );
    let shown = all_locations(&api.get(&show));
    let win: Vec<&Loc> = shown.iter().filter(|l| l.os == "win").collect();
    assert_eq!(win.len(), 1, "{shown:?}");
    assert_eq!(win[0].path, WIN_MODIFIED);
    assert!(
        location_list(&env).contains(&(
            FX.to_string(),
            "win".to_string(),
            WIN_MODIFIED.to_string()
        )),
        "location list still shows the old path"
    );
    let new_de = for_lang(WIN_MODIFIED, "de");
    assert_eq!(
        bounce_url(&server, FX, "win", "de"),
        format!("{ORIGIN}{new_de}")
    );
    assert_eq!(
        bounce_url(&server, "firefox-latest", "win", "de"),
        format!("{ORIGIN}{new_de}")
    );
    env.ok(&["sentry", "--new", "--timeout", "3"]);
    let mirrored = format!("{}{new_de}", good.url);
    let moved = poll(PROMPT, Duration::from_millis(50), || {
        (bounce_url(&server, FX, "win", "de") == mirrored).then_some(())
    });
    assert!(
        moved.is_some(),
        "the modified location never reached the mirror"
    );
    assert_eq!(uptake_of(&api, FX, "win").available, GOOD_RATING);

    // location_delete/ by id: gone from location_show, the CLI and the
    // bounce at once.
    let osx = shown.iter().find(|l| l.os == "osx").expect("osx").clone();
    let r = api.post("location_delete/", &[("location_id", &osx.id.to_string())]);
    assert_eq!(success(&r), format!("Deleted location: {}", osx.path));
    let shown = all_locations(&api.get(&show));
    assert!(!shown.iter().any(|l| l.os == "osx"), "{shown:?}");
    assert_eq!(shown.len(), PLATFORMS.len() - 1, "{shown:?}");
    assert!(!location_list(&env).iter().any(|(_, os, _)| os == "osx"));
    assert_not_found(&server, FX, "osx", "de");
    assert_not_found(&server, "firefox-latest", "osx", "de");

    // product_language_delete/: fr is gone at once.
    let r = api.post(
        "product_language_delete/",
        &[("product", FX), ("languages", "fr")],
    );
    assert_eq!(
        success(&r),
        format!("Deleted languages fr from product {FX}")
    );
    let show_fx = format!("product_show?product={}", quote(FX));
    assert_eq!(
        names_langs(&api.get(&show_fx)),
        [(FX.to_string(), sorted(&["de", "en-US"]))]
    );
    assert_eq!(product_list(&env)[FX].0, "de,en-US");
    assert_not_found(&server, FX, "win", "fr");
    assert_eq!(
        bounce_url(&server, FX, "win", "de"),
        mirrored,
        "the other languages still bounce"
    );

    // product_delete/ by id (Tuxedo's form): the SSL product is gone at
    // once; its name is free again.
    let show_ssl = format!("product_show?product={}", quote(FX_SSL));
    let id = products(&api.get(&show_ssl))[0].id;
    let r = api.post("product_delete/", &[("product_id", &id.to_string())]);
    assert_eq!(success(&r), format!("Deleted product: {FX_SSL}"));
    assert_eq!(products(&api.get(&show_ssl)), []);
    assert!(!product_list(&env).contains_key(FX_SSL));
    assert_not_found(&server, FX_SSL, "win", "de");

    // product_delete/ by name of the alias's target deletes the alias with
    // it, as bouncer-admin does; the alias stops bouncing at once.
    let r = api.post("product_delete/", &[("product", FX)]);
    assert_eq!(
        success(&r),
        format!("Deleted product: {FX} and its alias(es) firefox-latest")
    );
    assert_eq!(products(&api.get(&show_fx)), []);
    assert_eq!(locations(&api.get(&show)), []);
    assert!(!product_list(&env).contains_key(FX));
    assert!(!location_list(&env).iter().any(|(p, _, _)| p == FX));
    assert!(alias_list(&env).is_empty());
    assert_not_found(&server, FX, "win", "de");
    assert_not_found(&server, "firefox-latest", "win", "de");
}

// ----- 2. errors, auth, the body cap, slashes, fuzzy, JSON -----

/// A small network made with the CLI: Firefox (de, en-US; win and
/// linux64), its SSL twin (win), Thunderbird (every language; win),
/// alias `fx-latest`; mirror `m1` (http, rating 100) has every file, `m2`
/// (50) nothing, `s1` (https, 25) the SSL twin's, `off` is inactive. An
/// SSL-only product is served by https mirrors only, so its uptake is
/// `s1`'s rating.
fn small_network() -> Env {
    let env = env_with_users();
    env.setup(&[
        "product add Firefox-130.0 --lang de --lang en-US",
        "location add Firefox-130.0 win /fx/130.0/win32/:lang/setup.exe",
        "location add Firefox-130.0 linux64 /fx/130.0/linux64/:lang/fx.tar.bz2",
        "product add Firefox-130.0-SSL --lang de --ssl-only",
        "location add Firefox-130.0-SSL win /fx/130.0/win32/:lang/setup-ssl.exe",
        "product add Thunderbird-128.0",
        "location add Thunderbird-128.0 win /tb/128.0/win32/:lang/setup.exe",
        "alias set fx-latest Firefox-130.0",
        "mirror add m1 http://127.0.0.1:9/m1",
        "mirror add m2 http://127.0.0.1:9/m2 --rating 50",
        "mirror add s1 https://127.0.0.1:9/s1 --rating 25",
        "mirror add off http://127.0.0.1:9/off --inactive",
        "status set m1 present",
        "status set s1 present --product Firefox-130.0-SSL",
    ]);
    env
}

/// What the CLI says about products, locations and aliases: a write that
/// was refused must leave all of it as it was.
fn cli_state(env: &Env) -> String {
    ["product", "location", "alias"]
        .iter()
        .map(|what| env.ok(&[what, "list"]))
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn every_documented_error_is_a_numbered_400_in_xml_and_json() {
    let env = small_network();
    let server = env.serve(&[]);
    let api = Client::user(&server, "rel");
    let before = cli_state(&env);

    // (route, form, number): writes.
    let writes: &[(&str, Fields<'_>, u32)] = &[
        ("product_add", &[], 103),
        ("product_add", &[("product", "  ")], 103),
        ("product_add", &[("product", "bad name")], 103),
        (
            "product_add",
            &[("product", "New-1.0"), ("languages", "x!y")],
            103,
        ),
        (
            "product_add",
            &[
                ("product", "New-1.0"),
                ("languages", "de"),
                ("languages", "<fr>"),
            ],
            103,
        ),
        (
            "product_add",
            &[("product", "New-1.0"), ("languages", "english")],
            103,
        ),
        ("product_add", &[("product", FX)], 104),
        ("product_add", &[("product", "FIREFOX-130.0")], 104),
        ("product_add", &[("product", "fx-latest")], 104),
        ("product_delete", &[], 101),
        ("product_delete", &[("product", "Nope-1.0")], 102),
        ("product_delete", &[("product_id", "999999")], 102),
        ("product_delete", &[("product_id", "abc")], 102),
        ("product_language_add", &[("languages", "fr")], 101),
        (
            "product_language_add",
            &[("product", "Nope-1.0"), ("languages", "fr")],
            102,
        ),
        (
            "product_language_add",
            &[("product", FX), ("languages", "x!y")],
            103,
        ),
        (
            "product_language_add",
            &[("product", FX), ("languages", "english")],
            103,
        ),
        (
            "product_language_add",
            &[("product", FX), ("languages", "de")],
            104,
        ),
        (
            "product_language_add",
            &[("product", FX), ("languages", "fr"), ("languages", "DE")],
            104,
        ),
        ("product_language_delete", &[("languages", "de")], 101),
        (
            "product_language_delete",
            &[("product", "Nope-1.0"), ("languages", "de")],
            102,
        ),
        ("product_language_delete", &[("product", FX)], 101),
        (
            "product_language_delete",
            &[("product", FX), ("languages", "x!y")],
            103,
        ),
        ("location_add", &[("product", FX), ("os", "osx")], 101),
        (
            "location_add",
            &[("product", FX), ("os", "osx"), ("path", " ")],
            101,
        ),
        (
            "location_add",
            &[("product", FX), ("os", "beos"), ("path", "/x")],
            106,
        ),
        (
            "location_add",
            &[("product", "Nope-1.0"), ("os", "osx"), ("path", "/x")],
            105,
        ),
        (
            "location_add",
            &[("product", "Nope-1.0"), ("os", "beos"), ("path", "/x")],
            106,
        ),
        (
            "location_add",
            &[("product", FX), ("os", "osx"), ("path", "no/slash")],
            103,
        ),
        (
            "location_add",
            &[("product", FX), ("os", "win"), ("path", "/other")],
            104,
        ),
        ("location_modify", &[("product", FX), ("os", "win")], 101),
        (
            "location_modify",
            &[("product", FX), ("os", "beos"), ("path", "/x")],
            106,
        ),
        (
            "location_modify",
            &[("product", "Nope-1.0"), ("os", "win"), ("path", "/x")],
            105,
        ),
        (
            "location_modify",
            &[("product", FX), ("os", "win"), ("path", "//evil.example/x")],
            103,
        ),
        (
            "location_modify",
            &[("product", FX), ("os", "osx"), ("path", "/x")],
            104,
        ),
        ("location_delete", &[], 101),
        ("location_delete", &[("location_id", "999999")], 102),
        ("location_delete", &[("location_id", "abc")], 102),
        ("create_update_alias", &[("related_product", FX)], 102),
        (
            "create_update_alias",
            &[("alias", "bad alias"), ("related_product", FX)],
            101,
        ),
        (
            "create_update_alias",
            &[("alias", FX_SSL), ("related_product", FX)],
            104,
        ),
        (
            "create_update_alias",
            &[("alias", "firefox-130.0-ssl"), ("related_product", FX)],
            104,
        ),
        // Alias errors come before related_product's.
        ("create_update_alias", &[("alias", FX_SSL)], 104),
        ("create_update_alias", &[("alias", "new-latest")], 105),
        (
            "create_update_alias",
            &[("alias", "new-latest"), ("related_product", "Nope-1.0")],
            103,
        ),
        (
            "create_update_alias",
            &[("alias", "fx-latest"), ("related_product", "fx-latest")],
            103,
        ),
    ];
    for (route, form, number) in writes {
        let r = api.post(route, form);
        assert_eq!(error(&r).0, *number, "{route} {form:?}: {r:?}");
        let j = json(&api.json().post(route, form), 400);
        assert_eq!(
            j["error"]["number"],
            Value::from(*number),
            "{route} {form:?}: {j}"
        );
        assert_eq!(
            j["error"]["message"].as_str(),
            Some(error(&r).1.as_str()),
            "{route} {form:?}: the same message in both"
        );
    }

    // Reads.
    let reads: &[(&str, u32, Option<&str>)] = &[
        (
            "location_show",
            103,
            Some("The GET parameter product is required"),
        ),
        (
            "location_show?product=",
            103,
            Some("The GET parameter product is required"),
        ),
        (
            "uptake",
            101,
            Some("product and/or os are required GET parameters."),
        ),
        (
            "uptake?product=&os=",
            101,
            Some("product and/or os are required GET parameters."),
        ),
        ("uptake?product=Nope-1.0", 102, Some("No products found")),
        (
            "uptake?product=Nope-1.0&os=win",
            102,
            Some("No products found"),
        ),
        ("uptake?os=beos", 102, Some("No OSes found")),
        (
            "uptake?product=Firefox-130.0&os=beos",
            102,
            Some("No OSes found"),
        ),
        (
            "uptake?product=Firefox&os=win",
            102,
            Some("No products found"),
        ),
    ];
    for (target, number, text) in reads {
        let r = api.get(target);
        let (n, t) = error(&r);
        assert_eq!(n, *number, "{target}: {r:?}");
        if let Some(text) = text {
            assert_eq!(t, *text, "{target}");
        }
        let j = json(&api.json().get(target), 400);
        assert_eq!(j["error"]["number"], Value::from(*number), "{target}: {j}");
    }

    // Tuxedo's exact words where release tooling's logs show them.
    let exact: &[(&str, Fields<'_>, &str)] = &[
        ("product_add", &[("product", FX)], "product already exists."),
        (
            "product_delete",
            &[],
            "Either product_id or product is required.",
        ),
        (
            "product_delete",
            &[("product", "Nope-1.0")],
            "No product found.",
        ),
        (
            "location_add",
            &[("product", FX), ("os", "win"), ("path", "/other")],
            "The specified location already exists.",
        ),
        (
            "location_add",
            &[("product", FX)],
            "product, os, and path are required POST parameters.",
        ),
        ("location_delete", &[], "location_id is required."),
        (
            "location_delete",
            &[("location_id", "999999")],
            "No location found.",
        ),
        (
            "create_update_alias",
            &[("alias", FX_SSL), ("related_product", FX)],
            "You cannot create an alias with the same name as a product",
        ),
        (
            "create_update_alias",
            &[("alias", "new-latest"), ("related_product", "Nope-1.0")],
            "You must specify a valid product to match with an alias",
        ),
    ];
    for (route, form, text) in exact {
        let r = api.post(route, form);
        assert_eq!(error(&r).1, *text, "{route} {form:?}");
    }

    assert_eq!(cli_state(&env), before, "a refused write changed something");
    // The server is fine.
    assert_eq!(
        names_langs(&api.get("product_show?product=Firefox-130.0")),
        [(FX.to_string(), sorted(&["de", "en-US"]))]
    );
}

/// A form body of exactly `size` bytes that adds product `name`.
fn padded_product_add(name: &str, size: usize) -> Vec<u8> {
    let mut body = form_urlencode(&[("product", name), ("languages", "de"), ("pad", "")]);
    assert!(body.len() <= size);
    body.push_str(&"x".repeat(size - body.len()));
    body.into_bytes()
}

#[test]
fn a_body_over_500_kb_is_413_with_error_101() {
    let env = env_with_users();
    let server = env.serve(&[]);
    let api = Client::user(&server, "rel");
    let auth = basic("rel", &password("rel"));

    // Exactly the cap is read and works.
    let r = api.post_raw("product_add/", &padded_product_add("Exact-1.0", MAX_BODY));
    assert_eq!(
        names_langs(&r),
        [("Exact-1.0".to_string(), vec!["de".to_string()])]
    );

    // One byte more: 413 with bouncer-admin's numbered error, in XML or
    // JSON, whether the length is declared or the body is chunked.
    for (accept, json_wanted) in [("text/xml", false), ("application/json", true)] {
        let body = padded_product_add("Over-1.0", MAX_BODY + 1);
        let head = format!(
            "POST /api/product_add/ HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nAuthorization: {auth}\r\nAccept: {accept}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n",
            body.len()
        );
        let r = send_streaming(server.port, head, move |w| {
            let _ = w.write_all(&body);
        });
        assert_eq!(r.status, 413, "{r:?}");
        if json_wanted {
            let j = json(&r, 413);
            assert_eq!(j["error"]["number"], 101, "{j}");
            assert_eq!(j["error"]["message"], "POST request length exceeded 500KB");
        } else {
            assert_eq!(
                numbered(&r),
                (101, "POST request length exceeded 500KB".to_string())
            );
        }

        let head = format!(
            "POST /api/product_add HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nAuthorization: {auth}\r\nAccept: {accept}\r\nContent-Type: application/x-www-form-urlencoded\r\nTransfer-Encoding: chunked\r\n\r\n"
        );
        let body = padded_product_add("Chunked-1.0", MAX_BODY + 64 * 1024);
        let r = send_streaming(server.port, head, move |w| {
            for chunk in body.chunks(64 * 1024) {
                let sent = w
                    .write_all(format!("{:x}\r\n", chunk.len()).as_bytes())
                    .and_then(|()| w.write_all(chunk))
                    .and_then(|()| w.write_all(b"\r\n"));
                if sent.is_err() {
                    return; // answered and closed
                }
            }
            let _ = w.write_all(b"0\r\n\r\n");
        });
        assert_eq!(r.status, 413, "chunked: {r:?}");
        if json_wanted {
            assert_eq!(json(&r, 413)["error"]["number"], 101, "{r:?}");
        } else {
            assert_eq!(numbered(&r).0, 101, "{r:?}");
        }
    }
    let all = names_langs(&api.get("product_show"));
    assert_eq!(all, [("Exact-1.0".to_string(), vec!["de".to_string()])]);
    assert!(!product_list(&env).contains_key("Over-1.0"));
}

#[test]
fn credentials_are_required_and_viewers_may_only_read() {
    let env = small_network();
    let server = env.serve(&[]);
    let before = cli_state(&env);
    let add = [("product", "Sneaky-1.0")];

    // No credentials, a wrong password, an unknown user, a malformed
    // header: 401 with a Basic challenge, for reads and writes alike.
    let anonymous = Client::with_auth(&server, None);
    let wrong = Client::with_auth(&server, Some(basic("rel", "not-the-password")));
    let unknown = Client::with_auth(&server, Some(basic("nobody", "whatever")));
    let malformed = Client::with_auth(&server, Some("Basic !!!not-base64!!!".to_string()));
    let bearer = Client::with_auth(&server, Some("Bearer abc".to_string()));
    let no_colon = Client::with_auth(
        &server,
        Some(format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode("rel")
        )),
    );
    for (who, client) in [
        ("anonymous", &anonymous),
        ("wrong password", &wrong),
        ("unknown user", &unknown),
        ("malformed", &malformed),
        ("bearer", &bearer),
        ("no colon", &no_colon),
    ] {
        for r in [
            client.get("product_show?product=Firefox-130.0"),
            client.post("product_add/", &add),
        ] {
            assert_eq!(r.status, 401, "{who}: {r:?}");
            let challenge = r.header("www-authenticate").unwrap_or("");
            assert!(
                challenge.starts_with("Basic "),
                "{who}: challenge {challenge:?}"
            );
            assert!(challenge.contains(r#"realm="Bouncer API""#), "{challenge}");
            // An unnumbered <error>: bouncerscript treats it as "nothing".
            let el = xml(&r);
            assert_eq!(el.name, "error", "{who}: {r:?}");
            assert!(!el.attrs.contains_key("number"), "{who}: {r:?}");
        }
    }
    let j = json(&anonymous.json().get("mirror_list"), 401);
    assert!(j["error"]["message"].is_string(), "{j}");
    assert!(j["error"].get("number").is_none(), "{j}");

    // A viewer reads everything and writes nothing.
    let viewer = Client::user(&server, "vic");
    assert_eq!(products(&viewer.get("product_show")).len(), 3);
    assert_eq!(
        all_locations(&viewer.get("location_show?product=Firefox-130.0")).len(),
        2
    );
    assert_eq!(uptake_of(&viewer, FX, "win").available, 100);
    assert_eq!(mirror_urls(&viewer.get("mirror_list")).len(), 3);
    let id = location_id(&viewer, FX, "win").to_string();
    let writes: &[(&str, &[(&str, &str)])] = &[
        ("product_add/", &add),
        ("product_delete/", &[("product", "Thunderbird-128.0")]),
        (
            "product_language_add/",
            &[("product", FX), ("languages", "fr")],
        ),
        (
            "product_language_delete/",
            &[("product", FX), ("languages", "de")],
        ),
        (
            "location_add/",
            &[("product", FX), ("os", "osx"), ("path", "/x")],
        ),
        (
            "location_modify/",
            &[("product", FX), ("os", "win"), ("path", "/x")],
        ),
        ("location_delete/", &[("location_id", &id)]),
        (
            "create_update_alias",
            &[("alias", "fx-latest"), ("related_product", FX_SSL)],
        ),
    ];
    for (route, form) in writes {
        let r = viewer.post(route, form);
        assert_eq!(r.status, 403, "{route}: {r:?}");
        assert_eq!(xml(&r).name, "error", "{r:?}");
        // Even a write that would be refused anyway is a 403 first.
        let r = viewer.post(route, &[]);
        assert_eq!(r.status, 403, "{route} (empty): {r:?}");
    }
    assert_eq!(cli_state(&env), before, "a refused write changed something");

    // A release user and an admin both write.
    let r = Client::user(&server, "rel").post("product_add/", &[("product", "Rel-1.0")]);
    assert_eq!(names_langs(&r), [("Rel-1.0".to_string(), vec![])]);
    let r = Client::user(&server, "ann").post("product_add", &[("product", "Ann-1.0")]);
    assert_eq!(names_langs(&r), [("Ann-1.0".to_string(), vec![])]);
    let listed = product_list(&env);
    assert!(listed.contains_key("Rel-1.0") && listed.contains_key("Ann-1.0"));
    assert!(!listed.contains_key("Sneaky-1.0"));

    // A role changed (user re-added as viewer) applies at once.
    env.ok(&["user", "remove", "rel"]);
    env.add_user("rel", "viewer");
    let r = Client::user(&server, "rel").post("product_add/", &[("product", "Late-1.0")]);
    assert_eq!(r.status, 403, "{r:?}");
}

/// The base URLs of a 200 `<mirrors>` answer.
fn mirror_urls(r: &Response) -> Vec<String> {
    ok_xml(r, "mirrors")
        .children
        .iter()
        .map(|m| {
            assert_eq!(m.name, "mirror", "{r:?}");
            assert_eq!(m.attrs.len(), 1, "only baseurl: {r:?}");
            m.attr("baseurl").to_string()
        })
        .collect()
}

/// The id `location_show` gives `product`'s location for `os`.
fn location_id(api: &Client, product: &str, os: &str) -> u64 {
    all_locations(&api.get(&format!("location_show?product={}", quote(product))))
        .into_iter()
        .find(|l| l.os == os)
        .unwrap_or_else(|| panic!("no {os} location for {product}"))
        .id
}

#[test]
fn repeated_wrong_passwords_make_their_address_wait() {
    let env = env_with_users();
    let server = env.serve(&[]);
    let wrong = Client::with_auth(&server, Some(basic("rel", "wrong")));
    let mut locked = None;
    // Past 5 failures the address waits 1 s, 2 s, 4 s, … after each:
    // one of the later calls comes before its wait has passed.
    for attempt in 1..=12 {
        let r = wrong.get("product_show");
        if r.status == 429 {
            locked = Some((attempt, r));
            break;
        }
        assert_eq!(r.status, 401, "attempt {attempt}: {r:?}");
    }
    let (attempt, r) = locked.expect("twelve wrong passwords in a row were never throttled");
    assert!(attempt > 5, "throttled after {attempt} attempts");
    assert!(
        r.header("retry-after")
            .is_some_and(|s| s.parse::<u64>().is_ok_and(|s| s > 0)),
        "{r:?}"
    );
    // Other accounts are not held up (and the account itself is not
    // locked for other addresses: tests/lockout.rs).
    assert_eq!(Client::user(&server, "ann").get("product_show").status, 200);
}

#[test]
fn both_slash_forms_answer_get_and_post_without_redirects() {
    let env = small_network();
    let server = env.serve(&[]);
    let api = Client::user(&server, "rel");
    let no_redirect = |what: &str, r: &Response| {
        assert!(
            !(300..400).contains(&r.status) && r.header("location").is_none(),
            "{what} redirected: {r:?}"
        );
    };

    for slash in ["", "/"] {
        for (target, root) in [
            (
                format!("product_show{slash}?product=Firefox-130.0"),
                "products",
            ),
            (
                format!("location_show{slash}?product=Firefox-130.0"),
                "locations",
            ),
            (
                format!("uptake{slash}?product=Firefox-130.0&os=win"),
                "mirror_uptake",
            ),
            (format!("mirror_list{slash}"), "mirrors"),
            (format!("product_show{slash}"), "products"),
        ] {
            let r = api.get(&target);
            no_redirect(&target, &r);
            let el = ok_xml(&r, root);
            assert!(!el.children.is_empty(), "{target}: {r:?}");
        }
        assert_eq!(
            products(&api.get(&format!("product_show{slash}?product=Firefox-130.0"))),
            products(&api.get("product_show?product=Firefox-130.0")),
        );

        // Every write, in its usual order, with this slash form.
        let p = format!("Slash{}-1.0", slash.len());
        let alias = format!("slash{}-latest", slash.len());
        let post = |route: &str, form: &[(&str, &str)]| {
            let target = format!("{route}{slash}");
            let r = api.post(&target, form);
            no_redirect(&target, &r);
            assert_eq!(r.status, 200, "{target} {form:?}: {r:?}");
            r
        };
        let r = post("product_add", &[("product", &p), ("languages", "de")]);
        assert_eq!(names_langs(&r), [(p.clone(), vec!["de".to_string()])]);
        let r = post(
            "product_language_add",
            &[("product", &p), ("languages", "fr"), ("languages", "en-US")],
        );
        assert_eq!(
            names_langs(&r),
            [(p.clone(), sorted(&["de", "en-US", "fr"]))]
        );
        let r = post(
            "product_language_delete",
            &[("product", &p), ("languages", "en-US")],
        );
        assert_eq!(
            success(&r),
            format!("Deleted languages en-US from product {p}")
        );
        let r = post(
            "location_add",
            &[("product", &p), ("os", "win"), ("path", "/s/:lang/a.exe")],
        );
        let added = all_locations(&r);
        assert_eq!(added.len(), 1, "{r:?}");
        assert_eq!(
            (added[0].os.as_str(), added[0].path.as_str()),
            ("win", "/s/:lang/a.exe")
        );
        let r = post(
            "location_modify",
            &[("product", &p), ("os", "win"), ("path", "/s/:lang/b.exe")],
        );
        let modified = all_locations(&r);
        assert_eq!(modified.len(), 1, "{r:?}");
        assert_eq!(modified[0].id, added[0].id, "the same location");
        assert_eq!(modified[0].path, "/s/:lang/b.exe");
        let r = post(
            "create_update_alias",
            &[("alias", &alias), ("related_product", &p)],
        );
        assert_eq!(success(&r), format!("Created/updated alias {alias}"));
        assert_eq!(alias_list(&env)[&alias], p);
        // Pointing the alias elsewhere (an update) frees the product.
        let r = post(
            "create_update_alias",
            &[("alias", &alias), ("related_product", FX)],
        );
        assert_eq!(success(&r), format!("Created/updated alias {alias}"));
        assert_eq!(alias_list(&env)[&alias], FX);
        let r = post(
            "location_delete",
            &[("location_id", &modified[0].id.to_string())],
        );
        assert_eq!(success(&r), "Deleted location: /s/:lang/b.exe");
        let r = post(
            "product_language_delete",
            &[("product", &p), ("languages", "*")],
        );
        assert_eq!(
            success(&r),
            format!("Deleted all languages from product {p}")
        );
        assert_eq!(
            names_langs(&api.get(&format!("product_show?product={p}"))),
            [(p.clone(), vec![])]
        );
        let r = post("product_delete", &[("product", &p)]);
        assert_eq!(success(&r), format!("Deleted product: {p}"));
        assert!(!product_list(&env).contains_key(&p));
    }

    // The wrong method: 405 naming the right one, never a redirect.
    for (method, target, allow) in [
        ("GET", "product_add/", "POST"),
        ("GET", "create_update_alias", "POST"),
        ("POST", "product_show", "GET"),
        ("DELETE", "location_show/", "GET"),
    ] {
        let r = http(
            server.port,
            method,
            &format!("/api/{target}"),
            &[("Authorization", api.auth.as_deref().unwrap())],
        );
        assert_eq!(r.status, 405, "{method} {target}: {r:?}");
        assert!(
            r.header("allow").is_some_and(|a| a.contains(allow)),
            "{method} {target}: {r:?}"
        );
    }
    // No such endpoint.
    let r = api.get("product_shows");
    assert_eq!(r.status, 404, "{r:?}");
}

#[test]
fn fuzzy_matching_on_product_show_location_show_and_uptake() {
    let env = small_network();
    let server = env.serve(&[]);
    let api = Client::user(&server, "vic");
    let names = |target: &str| -> Vec<String> {
        products(&api.get(target))
            .into_iter()
            .map(|p| p.name)
            .collect()
    };
    let both_fx = vec![FX.to_string(), FX_SSL.to_string()];

    // Exact (any case) without fuzzy; a case-insensitive substring with it.
    assert_eq!(names("product_show?product=firefox-130.0"), [FX]);
    assert_eq!(names("product_show?product=Firefox"), Vec::<String>::new());
    for on in ["true", "True", "TRUE", "1"] {
        assert_eq!(
            names(&format!("product_show?product=fIrEfOx&fuzzy={on}")),
            both_fx,
            "fuzzy={on}"
        );
    }
    for off in ["false", "0", ""] {
        assert_eq!(
            names(&format!("product_show?product=fIrEfOx&fuzzy={off}")),
            Vec::<String>::new(),
            "fuzzy={off}"
        );
    }
    assert_eq!(
        names("product_show?product=-1&fuzzy=true"),
        [FX, FX_SSL, "Thunderbird-128.0"]
    );
    assert_eq!(names("product_show?product=ssl&fuzzy=true"), [FX_SSL]);
    // SQL wildcards are plain characters.
    assert_eq!(
        names("product_show?product=Fire%25&fuzzy=true"),
        Vec::<String>::new()
    );
    assert_eq!(
        names("product_show?product=F_refox&fuzzy=true"),
        Vec::<String>::new()
    );
    // No product: every product.
    assert_eq!(names("product_show"), [FX, FX_SSL, "Thunderbird-128.0"]);

    // location_show: one <product> per match, each with its locations.
    let found = locations(&api.get("location_show?product=FIREFOX&fuzzy=true"));
    let shape: Vec<(String, Vec<String>)> = found
        .iter()
        .map(|(p, l)| (p.clone(), l.iter().map(|l| l.os.clone()).collect()))
        .collect();
    assert_eq!(
        shape,
        [
            (
                FX.to_string(),
                vec!["win".to_string(), "linux64".to_string()]
            ),
            (FX_SSL.to_string(), vec!["win".to_string()]),
        ]
    );
    assert_eq!(
        locations(&api.get("location_show?product=firefox-130.0")).len(),
        1
    );
    assert_eq!(locations(&api.get("location_show?product=Firefox")), []);
    assert_eq!(
        locations(&api.get("location_show?product=nothing-like-it&fuzzy=true")),
        []
    );
    // A product without locations is listed, empty.
    env.ok(&["product", "add", "Empty-1.0"]);
    assert_eq!(
        locations(&api.get("location_show?product=empty-1.0")),
        [("Empty-1.0".to_string(), vec![])]
    );

    // uptake: only the matching pairs that have a location, whether both
    // are named or one.
    let oses: Vec<String> = env
        .ok(&["os", "list"])
        .lines()
        .map(str::trim)
        .filter(|o| !o.is_empty())
        .map(str::to_string)
        .collect();
    let win_like: Vec<&String> = oses.iter().filter(|o| o.contains("win")).collect();
    assert!(win_like.len() >= 2, "{oses:?}");
    let items = uptake(&api.get("uptake?product=fire&os=WIN&fuzzy=true"));
    let pairs: BTreeSet<(String, String)> = items
        .iter()
        .map(|u| (u.product.clone(), u.os.clone()))
        .collect();
    let expected: BTreeSet<(String, String)> = [FX, FX_SSL]
        .iter()
        .map(|p| (p.to_string(), "win".to_string()))
        .collect();
    assert_eq!(pairs, expected);
    for u in &items {
        assert_eq!(u.total, 175, "{u:?}");
        let available = match (u.product.as_str(), u.os.as_str()) {
            (FX, "win") => 100,
            (FX_SSL, "win") => 25,
            _ => 0,
        };
        assert_eq!(u.available, available, "{u:?}");
    }
    let items = uptake(&api.get("uptake?product=firefox&fuzzy=true"));
    let pairs: Vec<(String, String, u64)> = items
        .iter()
        .map(|u| (u.product.clone(), u.os.clone(), u.available))
        .collect();
    let mut expected = vec![
        (FX.to_string(), "linux64".to_string(), 100),
        (FX.to_string(), "win".to_string(), 100),
        (FX_SSL.to_string(), "win".to_string(), 25),
    ];
    let mut got = pairs.clone();
    got.sort();
    expected.sort();
    assert_eq!(got, expected, "{items:?}");
    let items = uptake(&api.get("uptake?os=win"));
    let products: BTreeSet<String> = items.iter().map(|u| u.product.clone()).collect();
    assert_eq!(
        products,
        [FX, FX_SSL, "Thunderbird-128.0"]
            .iter()
            .map(|s| s.to_string())
            .collect()
    );
    assert!(items.iter().all(|u| u.os == "win"), "{items:?}");
    let items = uptake(&api.get("uptake?os=linux&fuzzy=true"));
    assert_eq!(
        items
            .iter()
            .map(|u| (u.product.as_str(), u.os.as_str(), u.available, u.total))
            .collect::<Vec<_>>(),
        [(FX, "linux64", 100, 175)]
    );
    // Exact without fuzzy: "firefox" is no product.
    assert_eq!(error(&api.get("uptake?product=firefox")).0, 102);
}

/// JSON converters: the same data as the XML, from the documented shapes.
fn products_json(v: &Value) -> Vec<Prod> {
    v["products"]
        .as_array()
        .unwrap_or_else(|| panic!("no products array: {v}"))
        .iter()
        .map(|p| Prod {
            id: p["id"].as_u64().expect("a numeric id"),
            name: p["name"].as_str().expect("a name").to_string(),
            langs: p["languages"]
                .as_array()
                .expect("a languages array")
                .iter()
                .map(|l| l.as_str().expect("a locale").to_string())
                .collect(),
        })
        .collect()
}

fn locations_json(v: &Value) -> Vec<(String, Vec<Loc>)> {
    v["locations"]
        .as_array()
        .unwrap_or_else(|| panic!("no locations array: {v}"))
        .iter()
        .map(|p| {
            let name = p["name"].as_str().expect("a name").to_string();
            assert!(p["id"].is_u64(), "{p}");
            let locs = p["locations"]
                .as_array()
                .expect("a locations array")
                .iter()
                .map(|l| Loc {
                    product: name.clone(),
                    id: l["id"].as_u64().expect("a numeric id"),
                    os: l["os"].as_str().expect("an os").to_string(),
                    path: l["path"].as_str().expect("a path").to_string(),
                })
                .collect();
            (name, locs)
        })
        .collect()
}

fn uptake_json(v: &Value) -> Vec<Uptake> {
    v["mirror_uptake"]
        .as_array()
        .unwrap_or_else(|| panic!("no mirror_uptake array: {v}"))
        .iter()
        .map(|u| Uptake {
            product: u["product"].as_str().expect("a product").to_string(),
            os: u["os"].as_str().expect("an os").to_string(),
            available: u["available"].as_u64().expect("a number"),
            total: u["total"].as_u64().expect("a number"),
        })
        .collect()
}

fn mirrors_json(v: &Value) -> Vec<String> {
    v["mirrors"]
        .as_array()
        .unwrap_or_else(|| panic!("no mirrors array: {v}"))
        .iter()
        .map(|m| m["baseurl"].as_str().expect("a baseurl").to_string())
        .collect()
}

#[test]
fn json_answers_carry_the_same_data_as_xml() {
    let env = small_network();
    let server = env.serve(&[]);
    let xml_api = Client::user(&server, "rel");
    let json_api = xml_api.json();

    // Reads.
    for target in [
        "product_show",
        "product_show?product=firefox&fuzzy=true",
        "product_show?product=Nope",
    ] {
        assert_eq!(
            products_json(&json(&json_api.get(target), 200)),
            products(&xml_api.get(target)),
            "{target}"
        );
    }
    for target in [
        "location_show?product=firefox&fuzzy=true",
        "location_show?product=Thunderbird-128.0",
        "location_show?product=Nope",
    ] {
        assert_eq!(
            locations_json(&json(&json_api.get(target), 200)),
            locations(&xml_api.get(target)),
            "{target}"
        );
    }
    for target in [
        "uptake?product=firefox&os=win&fuzzy=true",
        "uptake?os=win",
        "uptake?product=Firefox-130.0",
    ] {
        let from_json = uptake_json(&json(&json_api.get(target), 200));
        assert!(!from_json.is_empty(), "{target}");
        assert_eq!(from_json, uptake(&xml_api.get(target)), "{target}");
    }
    let urls = mirrors_json(&json(&json_api.get("mirror_list"), 200));
    assert_eq!(urls, mirror_urls(&xml_api.get("mirror_list")));
    // Active mirrors only.
    let urls: BTreeSet<String> = urls.into_iter().collect();
    assert_eq!(
        urls,
        [
            "http://127.0.0.1:9/m1",
            "http://127.0.0.1:9/m2",
            "https://127.0.0.1:9/s1",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect()
    );

    // Writes answer JSON too, and what they wrote reads back the same.
    let v = json(
        &json_api.post(
            "product_add/",
            &[
                ("product", "Json-1.0"),
                ("languages", "fr"),
                ("languages", "de"),
            ],
        ),
        200,
    );
    let added = products_json(&v);
    assert_eq!(
        added
            .iter()
            .map(|p| (p.name.clone(), p.langs.clone()))
            .collect::<Vec<_>>(),
        [("Json-1.0".to_string(), sorted(&["de", "fr"]))]
    );
    assert_eq!(
        added,
        products(&xml_api.get("product_show?product=Json-1.0"))
    );
    let v = json(
        &json_api.post(
            "location_add/",
            &[
                ("product", "Json-1.0"),
                ("os", "osx"),
                ("path", "/j/:lang/j.dmg"),
            ],
        ),
        200,
    );
    assert_eq!(
        locations_json(&v),
        locations(&xml_api.get("location_show?product=Json-1.0"))
    );
    let v = json(
        &json_api.post(
            "create_update_alias",
            &[("alias", "json-latest"), ("related_product", "Json-1.0")],
        ),
        200,
    );
    assert_eq!(
        v,
        serde_json::json!({"success": "Created/updated alias json-latest"})
    );
    let v = json(
        &json_api.post("product_add/", &[("product", "Json-1.0")]),
        400,
    );
    assert_eq!(
        v,
        serde_json::json!({"error": {"number": 104, "message": "product already exists."}})
    );
    // JSON preferred at least as much as XML wins; less, and XML stays.
    for (accept, is_json) in [
        ("application/json, text/xml", true),
        ("text/xml;q=0.5, application/json", true),
        ("application/json;q=0.5, text/xml", false),
        ("*/*", false),
        ("text/html", false),
    ] {
        let r = http(
            server.port,
            "GET",
            "/api/mirror_list",
            &[
                ("Authorization", xml_api.auth.as_deref().unwrap()),
                ("Accept", accept),
            ],
        );
        assert_eq!(r.status, 200, "{accept}: {r:?}");
        if is_json {
            json(&r, 200);
        } else {
            xml(&r);
        }
    }
}

// ----- 3. every write is audited and live at once -----

#[test]
fn every_api_write_is_audited_as_its_user_and_live_at_once() {
    let env = small_network();
    let server = env.serve(&[]);
    let session = admin_session(server.port, "ann", &password("ann"));
    let api = Client::user(&server, "rel");
    assert_eq!(audit(server.port, &session, "api:"), []);

    let steps: &[(&str, Fields<'_>, &str, &str)] = &[
        (
            "product_add/",
            &[
                ("product", "Audit-1.0"),
                ("languages", "de"),
                ("languages", "fr"),
                ("ssl_only", "true"),
            ],
            "product.add",
            "Audit-1.0",
        ),
        (
            "product_language_add/",
            &[("product", "Audit-1.0"), ("languages", "es-ES")],
            "product.update",
            "es-ES",
        ),
        (
            "product_language_delete/",
            &[("product", "Audit-1.0"), ("languages", "fr")],
            "product.update",
            "fr",
        ),
        (
            "location_add/",
            &[
                ("product", "Audit-1.0"),
                ("os", "win"),
                ("path", "/audit/:lang/a.exe"),
            ],
            "location.add",
            "/audit/:lang/a.exe",
        ),
        (
            "location_modify/",
            &[
                ("product", "Audit-1.0"),
                ("os", "win"),
                ("path", "/audit/:lang/b.exe"),
            ],
            "location.modify",
            "/audit/:lang/b.exe",
        ),
        (
            "create_update_alias",
            &[("alias", "audit-latest"), ("related_product", "Audit-1.0")],
            "alias.set",
            "audit-latest",
        ),
        (
            "create_update_alias",
            &[("alias", "audit-latest"), ("related_product", FX)],
            "alias.set",
            "audit-latest",
        ),
    ];
    let mut expected = Vec::new();
    for (route, form, action, detail) in steps {
        let r = api.post(route, form);
        assert_eq!(r.status, 200, "{route} {form:?}: {r:?}");
        expected.push((action.to_string(), detail.to_string()));
        let rows = audit(server.port, &session, "api:");
        assert_eq!(rows.len(), expected.len(), "{route}: {rows:?}");
        let (actor, got_action, got_detail) = &rows[0];
        assert_eq!(actor, "api:rel", "{route}");
        assert_eq!(got_action, action, "{route}: {rows:?}");
        assert!(
            got_detail.contains(detail),
            "{route}: {got_detail:?} lacks {detail:?}"
        );
    }
    // Live at once in the CLI.
    assert_eq!(
        product_list(&env)["Audit-1.0"],
        ("de,es-ES".to_string(), "yes".to_string())
    );
    assert!(location_list(&env).contains(&(
        "Audit-1.0".to_string(),
        "win".to_string(),
        "/audit/:lang/b.exe".to_string()
    )));
    assert_eq!(alias_list(&env)["audit-latest"], FX);

    // Refused writes and writes that change nothing leave no entry.
    let quiet: &[(&str, &[(&str, &str)])] = &[
        ("product_add/", &[("product", "Audit-1.0")]),
        (
            "create_update_alias",
            &[("alias", "audit-latest"), ("related_product", FX)],
        ),
        (
            "location_modify/",
            &[
                ("product", "Audit-1.0"),
                ("os", "win"),
                ("path", "/audit/:lang/b.exe"),
            ],
        ),
        (
            "product_language_delete/",
            &[("product", "Audit-1.0"), ("languages", "ja")],
        ),
    ];
    for (route, form) in quiet {
        api.post(route, form);
        assert_eq!(
            audit(server.port, &session, "api:").len(),
            expected.len(),
            "{route} {form:?} was audited"
        );
    }
    let r = Client::user(&server, "vic").post("product_add/", &[("product", "Viewer-1.0")]);
    assert_eq!(r.status, 403);
    assert_eq!(audit(server.port, &session, "api:").len(), expected.len());

    // Deletes, by another writer (an admin).
    let admin_api = Client::user(&server, "ann");
    let id = location_id(&admin_api, "Audit-1.0", "win");
    for (route, form, action, detail) in [
        (
            "location_delete/",
            vec![("location_id", id.to_string())],
            "location.remove",
            "/audit/:lang/b.exe",
        ),
        (
            "product_delete/",
            vec![("product", "Audit-1.0".to_string())],
            "product.remove",
            "Audit-1.0",
        ),
    ] {
        let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let r = admin_api.post(route, &form);
        assert_eq!(r.status, 200, "{route}: {r:?}");
        let rows = audit(server.port, &session, "api:ann");
        assert_eq!(rows[0].0, "api:ann");
        assert_eq!(rows[0].1, action, "{rows:?}");
        assert!(rows[0].2.contains(detail), "{rows:?}");
    }
    assert!(!product_list(&env).contains_key("Audit-1.0"));
    assert!(!location_list(&env).iter().any(|(p, _, _)| p == "Audit-1.0"));
    assert_eq!(
        audit(server.port, &session, "api:rel").len(),
        expected.len()
    );
}

// ----- odds and ends release tooling may send -----

#[test]
fn markup_and_non_ascii_in_names_and_paths_round_trip_in_xml_and_json() {
    let env = env_with_users();
    let server = env.serve(&[]);
    let api = Client::user(&server, "rel");
    let name = r#"Fïrefox&<"Nightly">'1.0"#;
    let path = "/a&b/:lang/x'y;z=1.exe";
    let r = api.post("product_add/", &[("product", name), ("languages", "de")]);
    assert_eq!(
        names_langs(&r),
        [(name.to_string(), vec!["de".to_string()])]
    );
    let r = api.post(
        "location_add/",
        &[("product", name), ("os", "win"), ("path", path)],
    );
    assert_eq!(all_locations(&r)[0].path, path);
    let show = format!("product_show?product={}", quote(name));
    assert_eq!(
        names_langs(&api.get(&show)),
        [(name.to_string(), vec!["de".to_string()])]
    );
    let v = json(&api.json().get(&show), 200);
    assert_eq!(v["products"][0]["name"], name);
    let target = format!("location_show?product={}", quote(name));
    let locs = all_locations(&api.get(&target));
    assert_eq!(
        (locs[0].product.as_str(), locs[0].path.as_str()),
        (name, path)
    );
    assert_eq!(
        locations_json(&json(&api.json().get(&target), 200)),
        locations(&api.get(&target))
    );
    // Messages that echo input stay inside the document.
    let r = api.post(
        "location_add/",
        &[("product", "</error><x>"), ("os", "win"), ("path", "/p")],
    );
    let (number, text) = error(&r);
    assert_eq!(number, 105);
    assert!(text.contains("</error><x>"), "{text}");
    let r = api.post("product_add/", &[("product", name)]);
    assert_eq!(error(&r).0, 104);
}

#[test]
fn languages_may_be_comma_separated_and_flags_take_common_spellings() {
    let env = env_with_users();
    let server = env.serve(&[]);
    let api = Client::user(&server, "rel");
    let r = api.post(
        "product_add",
        &[
            ("product", "Commas-1.0"),
            ("languages", "de,fr"),
            ("languages", "en-US"),
        ],
    );
    assert_eq!(
        names_langs(&r),
        [("Commas-1.0".to_string(), sorted(&["de", "en-US", "fr"]))]
    );
    for (i, (value, ssl)) in [
        ("true", "yes"),
        ("True", "yes"),
        ("TRUE", "yes"),
        ("1", "yes"),
        ("false", "no"),
        ("0", "no"),
        ("", "no"),
    ]
    .into_iter()
    .enumerate()
    {
        let product = format!("Flag{i}-1.0");
        let r = api.post(
            "product_add/",
            &[("product", &product), ("ssl_only", value)],
        );
        assert_eq!(r.status, 200, "{r:?}");
        assert_eq!(product_list(&env)[&product].1, ssl, "ssl_only={value:?}");
    }
    // Without ssl_only (bouncerscript omits it when false): not SSL-only.
    api.post("product_add/", &[("product", "NoFlag-1.0")]);
    assert_eq!(product_list(&env)["NoFlag-1.0"].1, "no");
}

#[test]
fn a_multipart_form_is_read_like_a_urlencoded_one() {
    let env = env_with_users();
    let server = env.serve(&[]);
    let boundary = "----bouncertest7d93";
    let mut body = String::new();
    for (k, v) in [
        ("product", "Multi-1.0"),
        ("languages", "de"),
        ("languages", "fr"),
        ("ssl_only", "true"),
    ] {
        body.push_str(&format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"{k}\"\r\n\r\n{v}\r\n"
        ));
    }
    body.push_str(&format!("--{boundary}--\r\n"));
    let auth = basic("rel", &password("rel"));
    let content_type = format!("multipart/form-data; boundary={boundary}");
    let r = http_body(
        server.port,
        "POST",
        "/api/product_add/",
        &[("Authorization", &auth), ("Content-Type", &content_type)],
        body.as_bytes(),
    );
    assert_eq!(
        names_langs(&r),
        [("Multi-1.0".to_string(), sorted(&["de", "fr"]))]
    );
    assert_eq!(product_list(&env)["Multi-1.0"].1, "yes");
}

#[test]
fn browsers_cannot_write_from_another_site() {
    let env = env_with_users();
    let server = env.serve(&[]);
    let api = Client::user(&server, "rel");
    let auth = api.auth.clone().unwrap();
    let host = format!("127.0.0.1:{}", server.port);
    let post = |extra: &[(&str, &str)], product: &str| {
        let mut headers = vec![
            ("Authorization", auth.as_str()),
            ("Content-Type", "application/x-www-form-urlencoded"),
        ];
        headers.extend_from_slice(extra);
        let body = form_urlencode(&[("product", product)]);
        http_body(
            server.port,
            "POST",
            "/api/product_add/",
            &headers,
            body.as_bytes(),
        )
    };
    for (extra, what) in [
        (vec![("Origin", "http://evil.example")], "another origin"),
        (vec![("Sec-Fetch-Site", "cross-site")], "cross-site fetch"),
        (vec![("Sec-Fetch-Site", "same-site")], "same-site fetch"),
        (vec![("Origin", "null")], "an opaque origin"),
    ] {
        let r = post(&extra, "Evil-1.0");
        assert_eq!(r.status, 403, "{what}: {r:?}");
    }
    assert!(!product_list(&env).contains_key("Evil-1.0"));
    // Its own site, and tools (no such headers), may.
    let own = format!("http://{host}");
    let r = post(&[("Origin", &own)], "Own-1.0");
    assert_eq!(r.status, 200, "{r:?}");
    let r = post(&[("Sec-Fetch-Site", "same-origin")], "Same-1.0");
    assert_eq!(r.status, 200, "{r:?}");
    // Reads are not writes.
    let r = http(
        server.port,
        "GET",
        "/api/product_show",
        &[("Authorization", &auth), ("Origin", "http://evil.example")],
    );
    assert_eq!(r.status, 200, "{r:?}");
}

#[test]
fn many_calls_at_once_after_a_login_all_succeed() {
    let env = small_network();
    let server = env.serve(&[]);
    let api = Client::user(&server, "rel");
    // The first call verifies the password; later ones reuse the check, so
    // a burst (release tooling runs tasks in parallel) is not turned away.
    assert_eq!(api.get("product_show").status, 200);
    let handles: Vec<_> = (0..24)
        .map(|i| {
            let api = api.clone();
            std::thread::spawn(move || match i % 3 {
                0 => api.get("product_show?product=Firefox-130.0").status,
                1 => api.get("uptake?product=Firefox-130.0&os=win").status,
                _ => api.get("location_show/?product=Firefox-130.0").status,
            })
        })
        .collect();
    let statuses: Vec<u16> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    assert!(statuses.iter().all(|s| *s == 200), "{statuses:?}");
}

#[test]
fn uptake_of_an_inactive_product_is_zero_and_the_index_root_lists_endpoints() {
    let env = small_network();
    let server = env.serve(&[]);
    let api = Client::user(&server, "vic");
    assert_eq!(uptake_of(&api, FX, "win").available, 100);
    env.ok(&["product", "set", FX, "--active", "false"]);
    let u = uptake_of(&api, FX, "win");
    assert_eq!((u.available, u.total), (0, 175), "{u:?}");
    env.ok(&["product", "set", FX, "--active", "true"]);
    assert_eq!(uptake_of(&api, FX, "win").available, 100);
    // A mirror taken out counts in neither number.
    env.ok(&["mirror", "set", "m1", "--active", "false"]);
    let u = uptake_of(&api, FX, "win");
    assert_eq!((u.available, u.total), (0, 75), "{u:?}");
    assert!(!mirror_urls(&api.get("mirror_list")).contains(&"http://127.0.0.1:9/m1".to_string()));

    for target in ["", "/"] {
        let r = http(
            server.port,
            "GET",
            &format!("/api{target}"),
            &[("Authorization", api.auth.as_deref().unwrap())],
        );
        let text = success(&r);
        for endpoint in [
            "product_show",
            "create_update_alias",
            "uptake",
            "mirror_list",
        ] {
            assert!(text.contains(endpoint), "{text}");
        }
    }
}

#[test]
fn malformed_input_is_answered_never_a_server_error() {
    let env = small_network();
    let server = env.serve(&[]);
    let api = Client::user(&server, "rel");
    for target in [
        "product_show?product=%FF%FE",
        "product_show?product=%",
        "product_show?product=%zz&fuzzy=%",
        "product_show?product=%00",
        "location_show?product=%E2%80%A8&fuzzy=true",
        "uptake?product=%FF&os=%00",
        "product_show?product=Firefox-130.0&product=Thunderbird-128.0",
        "product_show?=&&&=x",
    ] {
        let r = api.get(target);
        assert!(r.status < 500, "{target}: {r:?}");
        xml(&r);
    }
    let garbage: &[&[u8]] = &[
        b"\xff\xfe\x00product=x",
        b"product=%FF%FE&languages=%ZZ",
        b"product",
        b"&&&===",
        b"product=Nul%00l-1.0",
        b"product=Ctl%01-1.0&languages=de",
    ];
    for body in garbage {
        for route in ["product_add/", "location_add/", "create_update_alias"] {
            let r = api.post_raw(route, body);
            assert!(r.status < 500, "{route} {body:?}: {r:?}");
            xml(&r);
        }
    }
    // A multipart body that breaks off.
    let auth = api.auth.clone().unwrap();
    let r = http_body(
        server.port,
        "POST",
        "/api/product_add/",
        &[
            ("Authorization", &auth),
            ("Content-Type", "multipart/form-data; boundary=xyz"),
        ],
        b"--xyz\r\nContent-Disposition: form-data; name=\"product\"\r\n\r\nHalf",
    );
    assert!(r.status < 500, "{r:?}");
    // Oversized credentials are simply wrong.
    let long = Client::with_auth(&server, Some(basic(&"u".repeat(5000), "p")));
    assert_eq!(long.get("product_show").status, 401);
    let long = Client::with_auth(&server, Some(basic("rel", &"p".repeat(5000))));
    assert_eq!(long.get("product_show").status, 401);
    // Nothing of it was stored.
    assert_eq!(
        products(&api.get("product_show"))
            .into_iter()
            .map(|p| p.name)
            .collect::<Vec<_>>(),
        [FX, FX_SSL, "Thunderbird-128.0"]
    );
}

#[test]
fn product_delete_by_id_wins_over_the_name() {
    let env = small_network();
    let server = env.serve(&[]);
    let api = Client::user(&server, "rel");
    let id = products(&api.get("product_show?product=Thunderbird-128.0"))[0].id;
    let r = api.post(
        "product_delete",
        &[("product", FX_SSL), ("product_id", &id.to_string())],
    );
    assert_eq!(success(&r), "Deleted product: Thunderbird-128.0");
    let left: Vec<String> = products(&api.get("product_show"))
        .into_iter()
        .map(|p| p.name)
        .collect();
    assert_eq!(left, [FX, FX_SSL]);
    // The id of a deleted product is not found again.
    let r = api.post("product_delete", &[("product_id", &id.to_string())]);
    assert_eq!(error(&r).0, 102);
}

// ----- issue 14: where Mozilla's release client and the peers disagreed -----

#[test]
fn uptake_with_fuzzy_answers_only_for_products_located_on_the_os() {
    let env = env_with_users();
    env.setup(&[
        "product add Firefox-122.0",
        "location add Firefox-122.0 win /fx/122.0/win32/:lang/setup.exe",
        "product add Firefox-123.0",
        "location add Firefox-123.0 win /fx/123.0/win32/:lang/setup.exe",
        "location add Firefox-123.0 osx /fx/123.0/mac/:lang/fx.dmg",
        "mirror add m1 http://127.0.0.1:9/m1 --rating 40",
        "status set m1 present",
    ]);
    let server = env.serve(&[]);
    let api = Client::user(&server, "vic");
    let osx_only = [Uptake {
        product: "Firefox-123.0".into(),
        os: "osx".into(),
        available: 40,
        total: 40,
    }];

    // Firefox-122.0 has only a win location: no osx item for it, in XML…
    assert_eq!(
        uptake(&api.get("uptake?product=Firefox&os=osx&fuzzy=True")),
        osx_only
    );
    // … and in JSON.
    assert_eq!(
        json(
            &api.json().get("uptake?product=Firefox&os=osx&fuzzy=True"),
            200
        ),
        serde_json::json!({"mirror_uptake": [
            {"product": "Firefox-123.0", "os": "osx", "available": 40, "total": 40}
        ]})
    );
    // Without fuzzy, the pair without a location answers nothing (an empty
    // list, not an item with 0 available), the pair with one its numbers.
    let r = api.get("uptake?product=Firefox-122.0&os=osx");
    assert_eq!(uptake(&r), []);
    assert_eq!(r.body, format!("{XML_DECL}<mirror_uptake/>"));
    assert_eq!(
        json(&api.json().get("uptake?product=firefox-122.0&os=OSX"), 200),
        serde_json::json!({"mirror_uptake": []})
    );
    assert_eq!(
        uptake(&api.get("uptake?product=Firefox-123.0&os=osx")),
        osx_only
    );
    // Fuzzy OS names too: each product with the OSes it is located on.
    let pairs: Vec<(String, String)> = uptake(&api.get("uptake?product=fire&os=s&fuzzy=true"))
        .into_iter()
        .map(|u| (u.product, u.os))
        .collect();
    assert_eq!(pairs, [("Firefox-123.0".to_string(), "osx".to_string())]);
}

#[test]
fn product_delete_of_an_aliased_product_deletes_its_aliases_with_it() {
    let env = small_network();
    env.setup(&["alias set fx-stable Firefox-130.0"]);
    let server = env.serve(&[]);
    let session = admin_session(server.port, "ann", &password("ann"));
    let api = Client::user(&server, "rel");
    assert_eq!(bounce(&server, "fx-latest", "win", "de").0, 200);

    // In XML, by name: the message names the aliases that went with it.
    let r = api.post("product_delete/", &[("product", FX)]);
    assert_eq!(
        success(&r),
        format!("Deleted product: {FX} and its alias(es) fx-latest, fx-stable")
    );
    // The aliases bounce nowhere at once, with the text release tooling
    // matches; nothing else changed.
    for alias in ["fx-latest", "fx-stable"] {
        assert_not_found(&server, alias, "win", "de");
        assert_not_found(&server, alias, "linux64", "en-US");
    }
    assert!(alias_list(&env).is_empty());
    assert!(!product_list(&env).contains_key(FX));
    assert_eq!(bounce(&server, "Thunderbird-128.0", "win", "de").0, 200);
    // One audited change: the aliases' removals and the product's, whose
    // entry names them.
    let rows = audit(server.port, &session, "api:rel");
    let got: Vec<(&str, &str)> = rows
        .iter()
        .take(3)
        .map(|(_, action, detail)| (action.as_str(), detail.as_str()))
        .collect();
    assert_eq!(
        got,
        [
            (
                "product.remove",
                "Firefox-130.0 with alias(es) fx-latest, fx-stable"
            ),
            (
                "alias.remove",
                "fx-stable (its product Firefox-130.0 was removed)"
            ),
            (
                "alias.remove",
                "fx-latest (its product Firefox-130.0 was removed)"
            ),
        ]
    );
    assert_eq!(rows.len(), 3, "{rows:?}");

    // In JSON, by id; the freed alias name can point elsewhere again.
    env.ok(&["alias", "set", "ssl-latest", FX_SSL]);
    let id = products(&api.get(&format!("product_show?product={}", quote(FX_SSL))))[0].id;
    let v = json(
        &api.json()
            .post("product_delete", &[("product_id", &id.to_string())]),
        200,
    );
    assert_eq!(
        v,
        serde_json::json!({"success": format!("Deleted product: {FX_SSL} and its alias(es) ssl-latest")})
    );
    assert_not_found(&server, "ssl-latest", "win", "de");
    let r = api.post(
        "create_update_alias",
        &[
            ("alias", "fx-latest"),
            ("related_product", "Thunderbird-128.0"),
        ],
    );
    assert_eq!(success(&r), "Created/updated alias fx-latest");
    assert_eq!(bounce(&server, "fx-latest", "win", "de").0, 200);
}

#[test]
fn a_language_that_is_no_locale_code_is_refused_with_an_example() {
    let env = small_network();
    let server = env.serve(&[]);
    let api = Client::user(&server, "rel");
    let before = cli_state(&env);
    for (route, form) in [
        (
            "product_add/",
            &[("product", "New-1.0"), ("languages", "english")][..],
        ),
        (
            "product_add/",
            &[("product", "New-1.0"), ("languages", "de,deutsch")][..],
        ),
        (
            "product_language_add/",
            &[("product", FX), ("languages", "english")][..],
        ),
        (
            "product_language_add/",
            &[
                ("product", FX),
                ("languages", "fr"),
                ("languages", "français"),
            ][..],
        ),
    ] {
        let r = api.post(route, form);
        let (number, text) = error(&r);
        assert_eq!(number, 103, "{route} {form:?}: {r:?}");
        assert!(
            text.contains("is not a locale code") && text.contains("e.g. de, en-US"),
            "{route} {form:?}: {text}"
        );
        let j = json(&api.json().post(route, form), 400);
        assert_eq!(j["error"]["number"], 103, "{j}");
        assert_eq!(j["error"]["message"].as_str(), Some(text.as_str()));
    }
    assert_eq!(cli_state(&env), before, "refusals change nothing");
    // Locale codes of every shape Mozilla ships are taken, in any case,
    // and Android's multi-locale builds keep their `multi`.
    let r = api.post(
        "product_language_add/",
        &[
            ("product", FX),
            ("languages", "ja-JP-mac,sr-Latn,ca-valencia"),
            ("languages", "ast"),
            ("languages", "ES-es"),
            ("languages", "multi"),
        ],
    );
    let langs = &names_langs(&r)[0].1;
    for l in [
        "ja-JP-mac",
        "sr-Latn",
        "ca-valencia",
        "ast",
        "ES-es",
        "multi",
    ] {
        assert!(langs.contains(&l.to_string()), "{l}: {langs:?}");
    }
}

/// Issue 15: a body is read as a form only when it says it is one; a
/// `text/plain` (what a cross-site HTML form can send without a
/// preflight), JSON or unlabelled body writes nothing.
#[test]
fn bodies_are_parsed_only_as_their_declared_form_types() {
    let env = env_with_users();
    let server = env.serve(&[]);
    let auth = basic("rel", &password("rel"));
    for content_type in [Some("text/plain"), Some("application/json"), None] {
        let mut headers = vec![("Authorization", auth.as_str())];
        if let Some(t) = content_type {
            headers.push(("Content-Type", t));
        }
        let r = http_body(
            server.port,
            "POST",
            "/api/product_add",
            &headers,
            b"product=Sneaky-1.0&languages=de",
        );
        assert_eq!(r.status, 400, "{content_type:?}: {r:?}");
        assert!(
            r.body.contains("application/x-www-form-urlencoded"),
            "{content_type:?}: {r:?}"
        );
    }
    let listed = Client::user(&server, "rel").get("product_show?product=Sneaky-1.0");
    assert!(!listed.body.contains("Sneaky"), "{listed:?}");
    // Declared properly (with a charset), it works.
    let r = http_body(
        server.port,
        "POST",
        "/api/product_add",
        &[
            ("Authorization", auth.as_str()),
            (
                "Content-Type",
                "application/x-www-form-urlencoded; charset=utf-8",
            ),
        ],
        b"product=Plain-1.0&languages=de",
    );
    assert_eq!(r.status, 200, "{r:?}");
}
