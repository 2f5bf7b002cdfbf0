//! The properties of Bouncer's parsers, checked on any input. The
//! cargo-fuzz targets in `fuzz_targets/` call these functions, and
//! `tests/fuzz.rs` (which includes this file as a module) runs them under
//! proptest in `cargo test`, so both check the same things.
//!
//! Each check takes raw bytes, never panics on its own, and fails through
//! an `assert!` that names the broken property. The parsers checked:
//! - [`bounce_query`]: the redirect query (`BounceQuery::parse`,
//!   `query::pairs` and friends) and the index's `resolve`/`resolve_path`;
//! - [`checksums`]: checksum files (`loader::parse`) and the loader's plan;
//! - [`api_form`]: API and admin form bodies (`admin::Form::parse`,
//!   urlencoded or multipart);
//! - [`geoip_csv`]: GeoIP CSV imports (`geoip::import::import`) and the
//!   stored table (`GeoDb::decode`);
//! - [`input_rules`]: the rules every entry point shares (`validate`):
//!   mirror contacts, location paths and names.

use std::borrow::Cow;
use std::collections::{BTreeSet, HashMap};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::OnceLock;

use bouncer::bounce::BounceQuery;
use bouncer::geoip::import::{Source, import};
use bouncer::geoip::{Country, GeoDb};
use bouncer::http::{form::Form, multipart};
use bouncer::index::Index;
use bouncer::loader::{self, HashKind, Options, Parsed};
use bouncer::model::{
    Alias, FileInfo, LANG_PLACEHOLDER, Location, LocationId, Mirror, MirrorId, Product, ProductId,
};
use bouncer::store::Snapshot;
use bouncer::{query, validate};

// ---------------------------------------------------------------------------
// Fixtures

/// The files [`snapshot`]'s network knows.
pub fn known_files() -> Vec<FileInfo> {
    let file = |path: &str, location, lang: Option<&str>| FileInfo {
        path: path.into(),
        location: Some(LocationId(location)),
        lang: lang.map(String::from),
        size: Some(3),
        sha256: Some("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad".into()),
        ..FileInfo::default()
    };
    vec![
        file(
            "/firefox/releases/1.0/win32/de/Firefox%20Setup%201.0.exe",
            1,
            Some("de"),
        ),
        file(
            "/firefox/releases/1.0/mac/ja-JP-mac/Firefox%201.0.dmg",
            3,
            Some("ja-JP-mac"),
        ),
        file("/thunderbird/setup.exe", 4, None),
    ]
}

/// A small release network: products with and without languages, an
/// alias, an ssl-only product, a non-ASCII product, paths with escapes,
/// and known files that fit their locations.
pub fn snapshot() -> Snapshot {
    let product = |id, name: &str, languages: &[&str], ssl_only| Product {
        id: ProductId(id),
        name: name.into(),
        ssl_only,
        public: true,
        active: true,
        checknow: false,
        priority: 0,
        languages: languages.iter().map(|l| l.to_string()).collect(),
        created_at: 0,
        max_lag_minutes: None,
    };
    let location = |id, product, os: &str, path: &str| Location {
        id: LocationId(id),
        product: ProductId(product),
        os: os.into(),
        path: path.into(),
        created_at: 0,
    };
    let mirror = |id, base_url: &str, rating| Mirror {
        id: MirrorId(id),
        name: format!("m{id}"),
        base_url: base_url.into(),
        rating,
        active: true,
        regions: vec![],
        contact: String::new(),
        created_at: 0,
        families: Default::default(),
        audience: Default::default(),
        alt_url: None,
        trace: None,
        kind: Default::default(),
        maintenance: None,
    };
    Snapshot {
        products: vec![
            product(1, "Firefox", &["en-US", "de", "ja-JP-mac", "pt-BR"], false),
            product(2, "Thunderbird", &[], false),
            product(3, "Secure", &[], true),
            product(4, "Straße", &["fr"], false),
        ],
        aliases: vec![Alias {
            name: "firefox-latest".into(),
            product: ProductId(1),
        }],
        oses: ["android", "linux", "linux64", "osx", "win", "win64"]
            .iter()
            .map(|o| o.to_string())
            .collect(),
        locations: vec![
            location(
                1,
                1,
                "win",
                "/firefox/releases/1.0/win32/:lang/Firefox%20Setup%201.0.exe",
            ),
            location(
                2,
                1,
                "linux",
                "/firefox/releases/1.0/linux-i686/:lang/firefox-1.0.tar.bz2",
            ),
            location(
                3,
                1,
                "osx",
                "/firefox/releases/1.0/mac/:lang/Firefox%201.0.dmg",
            ),
            location(4, 2, "win", "/thunderbird/setup.exe"),
            location(5, 3, "win", "/secure/:lang.exe"),
            location(6, 4, "win", "/stra%C3%9Fe/:lang/x%2By%25.exe"),
        ],
        mirrors: vec![
            mirror(1, "http://a.example", 10),
            mirror(2, "https://b.example/pub", 30),
        ],
        health: HashMap::new(),
        regions: vec![],
        settings: Default::default(),
    }
}

/// The index of [`snapshot`], every mirror serving every location, built
/// once.
pub fn index() -> &'static Index {
    static INDEX: OnceLock<Index> = OnceLock::new();
    INDEX.get_or_init(|| {
        let s = snapshot();
        let serving: Vec<_> = s
            .locations
            .iter()
            .flat_map(|l| s.mirrors.iter().map(move |m| (l.id, m.id)))
            .collect();
        Index::build_with_files(&s, &known_files(), serving)
    })
}

// ---------------------------------------------------------------------------
// The bounce query

/// `BounceQuery::parse` and the query helpers agree with a naive
/// reimplementation; parsed values are trimmed and never empty; resolving
/// whatever was parsed (or the raw input) never panics, and a hit renders
/// a valid path in its own directory.
pub fn bounce_query(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let q: &str = &text;
    query_helpers(q);

    let parsed = BounceQuery::parse(q);
    assert_eq!(parsed, naive_bounce_query(q), "BounceQuery::parse({q:?})");
    for v in [&parsed.product, &parsed.os, &parsed.lang]
        .into_iter()
        .flatten()
    {
        assert!(
            !v.is_empty() && v.trim() == v,
            "{v:?} from {q:?} is empty or not trimmed"
        );
    }

    let index = index();
    let os = parsed.os.as_deref().unwrap_or("win");
    let lang = parsed.lang.as_deref().unwrap_or("en-US");
    match parsed.product.as_deref() {
        Some(product) => resolve(index, product, os, lang),
        None => resolve(index, "firefox", os, lang),
    }
    resolve(index, q, q, q);
    let decoded = query::percent_decode(q);
    resolve_path(index, &decoded);
    resolve_path(index, q);
}

/// The percent-decoding helpers: decoding never grows the text, leaves
/// escape-free text borrowed, and undoes each encoder.
fn query_helpers(q: &str) {
    for plus in [false, true] {
        let decoded = query::decode(q, plus);
        assert_eq!(decoded, naive_decode(q, plus), "decode({q:?}, {plus})");
        assert!(decoded.len() <= q.len(), "decode({q:?}) grew");
        let escapes = q.contains('%') || (plus && q.contains('+'));
        if !escapes {
            assert!(matches!(decoded, Cow::Borrowed(_)), "decode({q:?}) copied");
        }
    }
    let pairs: Vec<(String, String)> = query::pairs(q)
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    assert_eq!(pairs, naive_pairs(q), "pairs({q:?})");

    let component = query::encode_component(q);
    assert!(
        component
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~%".contains(&b)),
        "encode_component({q:?}) = {component:?}"
    );
    assert_eq!(query::percent_decode(&component), q);
    assert_eq!(query::percent_decode(&query::encode_raw_path(q)), q);
    let path = query::encode_path(q);
    assert!(path.is_ascii() && !path.contains([' ', '"', '<', '>', '\\', '?', '#']));
    assert_eq!(
        query::percent_decode(&path),
        query::percent_decode(q),
        "encode_path({q:?}) = {path:?} means something else"
    );
}

/// `%XX` and (with `plus`) `+` decoded the slow, obvious way.
fn naive_decode(s: &str, plus: bool) -> String {
    let mut out = Vec::new();
    let mut i = 0;
    while i < s.len() {
        let b = s.as_bytes()[i];
        let hex = s
            .get(i + 1..i + 3)
            .filter(|h| h.bytes().all(|c| c.is_ascii_hexdigit()));
        match (b, hex) {
            (b'%', Some(h)) => {
                out.push(u8::from_str_radix(h, 16).expect("two hex digits"));
                i += 3;
            }
            (b'+', _) if plus => {
                out.push(b' ');
                i += 1;
            }
            _ => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// `name=value` pairs split and decoded the slow, obvious way.
fn naive_pairs(q: &str) -> Vec<(String, String)> {
    q.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| match p.find('=') {
            Some(i) => (naive_decode(&p[..i], true), naive_decode(&p[i + 1..], true)),
            None => (naive_decode(p, true), String::new()),
        })
        .collect()
}

/// The bounce parameters as SPEC §2 states them: the last of each wins,
/// trimmed, blank meaning absent.
fn naive_bounce_query(q: &str) -> BounceQuery<'static> {
    let mut out = BounceQuery::default();
    for (k, v) in naive_pairs(q) {
        let value = Some(v.trim().to_string())
            .filter(|t| !t.is_empty())
            .map(Cow::Owned);
        match k.as_str() {
            "product" => out.product = value,
            "os" => out.os = value,
            "lang" => out.lang = value,
            "print" => out.print = v.trim().eq_ignore_ascii_case("yes"),
            "metalink" => out.metalink = true,
            "mirrorlist" => out.mirrorlist = true,
            _ => {}
        }
    }
    out
}

/// `Index::resolve`: a hit is for that OS, in a language the product
/// offers, at a valid path (no `..`, no other host); ASCII case in the
/// product and OS changes nothing.
fn resolve(index: &Index, product: &str, os: &str, lang: &str) {
    let hit = index.resolve(product, os, lang);
    if let Ok(t) = &hit {
        assert!(t.location.os.eq_ignore_ascii_case(os));
        assert!(validate::is_lang(t.lang), "{:?} is no language", t.lang);
        assert!(t.product.offers(lang).is_some());
        let path = t.path();
        assert_eq!(
            validate::path(&path).ok().as_deref(),
            Some(path.as_str()),
            "resolve({product:?}, {os:?}, {lang:?}) rendered an invalid path"
        );
    }
    let upper = index.resolve(
        &product.to_ascii_uppercase(),
        &os.to_ascii_uppercase(),
        lang,
    );
    assert_eq!(
        upper.map(|t| t.path()),
        hit.map(|t| t.path()),
        "resolve({product:?}, {os:?}, {lang:?}) depends on ASCII case"
    );
}

/// `Index::resolve_path`: a hit renders the path asked for (up to the
/// case of the language), a valid path.
fn resolve_path(index: &Index, path: &str) {
    if let Ok(t) = index.resolve_path(path) {
        let rendered = t.path();
        assert!(
            query::percent_decode(&rendered).eq_ignore_ascii_case(path),
            "resolve_path({path:?}) redirects to {rendered:?}"
        );
        assert!(validate::path(&rendered).is_ok(), "{rendered:?}");
    }
}

// ---------------------------------------------------------------------------
// Checksum files

/// `loader::parse`: every line that is not blank or a comment is exactly
/// one entry or one problem, with its own line number; entries carry a
/// lower-case digest of their kind's length and a clean relative path.
/// Then the loader's plan for it: every path valid, every file at its
/// location's path, every skipped line a line of the file.
pub fn checksums(data: &[u8]) {
    let parsed = loader::parse(data);
    let lines: Vec<&[u8]> = data.split(|&b| b == b'\n').collect();
    let mut expected = Vec::new();
    for (i, raw) in lines.iter().enumerate() {
        let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
        let raw = if i == 0 {
            raw.strip_prefix("\u{feff}".as_bytes()).unwrap_or(raw)
        } else {
            raw
        };
        let skipped = std::str::from_utf8(raw).is_ok_and(|t| {
            let t = t.trim();
            t.is_empty() || t.starts_with('#')
        });
        if !skipped {
            expected.push(i + 1);
        }
    }
    let mut got: Vec<usize> = parsed
        .entries
        .iter()
        .map(|e| e.line)
        .chain(parsed.problems.iter().map(|p| p.line))
        .collect();
    assert!(parsed.entries.is_sorted_by_key(|e| e.line));
    assert!(parsed.problems.is_sorted_by_key(|p| p.line));
    got.sort_unstable();
    assert_eq!(got, expected, "lines reported for {:?}", truncated(data));

    for e in &parsed.entries {
        let len = match e.kind {
            HashKind::Md5 => 32,
            HashKind::Sha1 => 40,
            HashKind::Sha256 => 64,
            HashKind::Sha512 => 128,
        };
        assert_eq!(e.hash.len(), len, "{e:?}");
        assert!(
            e.hash
                .bytes()
                .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
        );
        let line = String::from_utf8_lossy(lines[e.line - 1]).to_ascii_lowercase();
        assert!(line.contains(&e.hash), "{e:?} is not on its line");
        let p = &e.path;
        assert!(!p.is_empty() && !p.starts_with('/') && !p.starts_with("./"));
        assert!(!p.contains('\0'), "{e:?}");
        assert!(!p.split('/').any(|s| s == "." || s == ".."), "{e:?}");
    }
    for p in &parsed.problems {
        assert!(!p.reason.is_empty());
    }
    // The whole pipeline on both kinds of product: one that exists (with
    // languages and locations) and one to be created.
    if data.len().is_multiple_of(2) {
        plan(&parsed, lines.len(), "Firefox", "/firefox/releases/1.0/");
    } else {
        plan(&parsed, lines.len(), "Nightly", "");
    }
}

fn plan(parsed: &Parsed, line_count: usize, product: &str, prefix: &str) {
    let s = snapshot();
    let options = Options {
        product: product.into(),
        prefix: prefix.into(),
        ..Options::default()
    };
    let plan =
        loader::plan(&s, &known_files(), parsed, &options).expect("a valid product name plans");
    let used: BTreeSet<usize> = parsed
        .entries
        .iter()
        .map(|e| e.line)
        .chain(parsed.problems.iter().map(|p| p.line))
        .collect();
    for skipped in &plan.skipped {
        assert!(
            (1..=line_count).contains(&skipped.line) && used.contains(&skipped.line),
            "skipped line {} of {line_count}",
            skipped.line
        );
        assert!(!skipped.reason.to_string().is_empty() && !skipped.reason.web().is_empty());
    }
    assert!(plan.skipped.is_sorted_by_key(|s| s.line));
    assert!(plan.not_loaded.is_sorted_by_key(|s| s.line));
    let valid = |p: &str| validate::path(p).ok().as_deref() == Some(p);
    let prefix = prefix.trim_end_matches('/');
    let mut products = BTreeSet::new();
    for product in &plan.products {
        assert!(
            products.insert(product.product.to_lowercase()),
            "one plan per product"
        );
        for l in &product.locations {
            assert!(valid(&l.path), "planned location path {:?}", l.path);
            assert!(
                s.oses.contains(&l.os) || plan.new_oses.contains(&l.os),
                "{l:?}"
            );
            assert_eq!(product.locations.iter().filter(|o| o.os == l.os).count(), 1);
        }
        for f in &product.files {
            assert!(valid(&f.path), "planned file path {:?}", f.path);
            assert!(f.path.starts_with(&format!("{prefix}/")), "{f:?}");
            let location = product
                .locations
                .iter()
                .find(|l| l.os == f.os)
                .expect("a planned file has a planned location");
            let at = match &f.lang {
                Some(lang) => {
                    assert!(validate::is_lang(lang), "{f:?}");
                    location.path.replace(LANG_PLACEHOLDER, lang)
                }
                None => location.path.clone(),
            };
            assert_eq!(at, f.path, "the file is not where its location points");
            let h = &f.hashes;
            assert!(
                h.md5.is_some() || h.sha1.is_some() || h.sha256.is_some() || h.sha512.is_some()
            );
        }
        for lang in &product.new_languages {
            assert!(validate::is_lang(lang), "new language {lang:?}");
        }
    }
    assert!(!plan.describe().is_empty());
}

fn truncated(data: &[u8]) -> Cow<'_, str> {
    String::from_utf8_lossy(&data[..data.len().min(200)])
}

// ---------------------------------------------------------------------------
// API forms

/// The fields the API's endpoints read.
pub const API_FIELDS: &[&str] = &[
    "product",
    "languages",
    "ssl_only",
    "product_id",
    "os",
    "path",
    "location_id",
    "alias",
    "related_product",
    "fuzzy",
];

/// At most this many distinct field names are compared per input (each
/// comparison scans every field).
const NAMES: usize = 32;

/// Fuzz input for [`form`]: the first line is the `Content-Type` (none
/// when blank), the rest the body.
pub fn api_form(data: &[u8]) {
    let (head, body) = match data.iter().position(|&b| b == b'\n') {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &[][..]),
    };
    let head = String::from_utf8_lossy(head.strip_suffix(b"\r").unwrap_or(head));
    form(Some(&*head).filter(|h| !h.is_empty()), body);
}

/// `Form::parse`: urlencoded bodies give the fields of a naive split,
/// multipart bodies those of `multipart::parse`; a non-UTF-8 urlencoded
/// body is refused; every accessor agrees with the fields.
/// Whether `content_type` names `application/x-www-form-urlencoded`
/// (any case, with any parameters).
fn is_urlencoded(content_type: Option<&str>) -> bool {
    content_type
        .and_then(|t| t.split(';').next())
        .is_some_and(|t| {
            t.trim()
                .eq_ignore_ascii_case("application/x-www-form-urlencoded")
        })
}

pub fn form(content_type: Option<&str>, body: &[u8]) {
    let result = Form::parse(content_type, body);
    match content_type.and_then(multipart::boundary) {
        Some(boundary) => match multipart::parse(body, boundary) {
            Err(e) => assert!(result.is_err(), "multipart::parse says {e}"),
            Ok(parts) => {
                let form = result.expect("Form::parse refused what multipart::parse read");
                let mut names: Vec<&str> = API_FIELDS.to_vec();
                names.extend(parts.iter().map(|p| p.name.as_str()).take(NAMES));
                for name in names {
                    let values: Vec<String> = parts
                        .iter()
                        .filter(|p| p.filename.is_none() && p.name == name)
                        .map(|p| String::from_utf8_lossy(&p.data).into_owned())
                        .collect();
                    fields(&form, name, &values);
                    let file = parts
                        .iter()
                        .find(|p| p.filename.is_some() && p.name == name);
                    assert_eq!(
                        form.file(name)
                            .map(|u| (u.filename.as_str(), u.data.as_slice())),
                        file.map(|p| (
                            p.filename.as_deref().unwrap_or_default(),
                            p.data.as_slice()
                        ))
                    );
                }
                for p in &parts {
                    assert!(occurs_in(&p.data, body), "part data not in the body");
                }
            }
        },
        None if !is_urlencoded(content_type) => {
            // Only the declared form types are read; nothing sent is an
            // empty form.
            let media_type = content_type
                .unwrap_or("")
                .split(';')
                .next()
                .unwrap_or("")
                .trim();
            if body.is_empty() && media_type.is_empty() {
                let form = result.expect("an empty body without a type is an empty form");
                assert!(API_FIELDS.iter().all(|f| form.opt(f).is_none()));
            } else {
                assert!(
                    result.is_err(),
                    "a body sent as {content_type:?} was read as a form"
                );
            }
        }
        None => match std::str::from_utf8(body) {
            Err(_) => assert!(result.is_err(), "a non-UTF-8 form was accepted"),
            Ok(text) => {
                let form = result.expect("a UTF-8 urlencoded form is always read");
                let pairs = naive_pairs(text);
                let mut names: Vec<&str> = API_FIELDS.to_vec();
                names.extend(pairs.iter().map(|(k, _)| k.as_str()).take(NAMES));
                let from_query = Form::from_query(text);
                for name in names {
                    let values: Vec<String> = pairs
                        .iter()
                        .filter(|(k, _)| k == name)
                        .map(|(_, v)| v.clone())
                        .collect();
                    fields(&form, name, &values);
                    fields(&from_query, name, &values);
                    assert!(form.file(name).is_none());
                }
            }
        },
    }
}

/// Every accessor of `form` for `name`, against its values in order.
fn fields(form: &Form, name: &str, values: &[String]) {
    assert_eq!(form.all(name), values, "all({name:?})");
    let first = values.first().map_or("", String::as_str);
    assert_eq!(form.raw(name), first);
    assert_eq!(form.get(name), first.trim());
    assert_eq!(form.opt(name), Some(first.trim()).filter(|v| !v.is_empty()));
    let list: Vec<String> = values
        .iter()
        .flat_map(|v| v.split(|c: char| c == ',' || c.is_whitespace()))
        .filter(|v| !v.is_empty())
        .map(String::from)
        .collect();
    assert_eq!(form.list(name), list, "list({name:?})");
    assert_eq!(
        form.checked(name),
        values
            .iter()
            .any(|v| matches!(v.as_str(), "on" | "true" | "1" | "yes"))
    );
}

/// Whether `inner` occurs somewhere in `outer`.
fn occurs_in(inner: &[u8], outer: &[u8]) -> bool {
    inner.is_empty() || outer.windows(inner.len()).any(|w| w == inner)
}

// ---------------------------------------------------------------------------
// GeoIP

/// At most this many files in one fuzzed import.
const MAX_SOURCES: usize = 8;

/// Splits fuzz input into files to import: a line `==> NAME <==` (as
/// `tail` prints several files) starts a file called NAME; text before
/// the first such line, or input without one, is a file `input.csv`.
pub fn sources(data: &[u8]) -> Vec<Source> {
    let mut out: Vec<Source> = Vec::new();
    for line in data.split_inclusive(|&b| b == b'\n') {
        let bare = line.strip_suffix(b"\n").unwrap_or(line);
        let bare = bare.strip_suffix(b"\r").unwrap_or(bare);
        if out.len() < MAX_SOURCES
            && let Some(name) = bare
                .strip_prefix(b"==> ")
                .and_then(|n| n.strip_suffix(b" <=="))
        {
            out.push(Source {
                name: String::from_utf8_lossy(name).into_owned(),
                bytes: Vec::new(),
            });
            continue;
        }
        if out.is_empty() {
            out.push(Source {
                name: "input.csv".into(),
                bytes: Vec::new(),
            });
        }
        if let Some(last) = out.last_mut() {
            last.bytes.extend_from_slice(line);
        }
    }
    out
}

/// The input as CSV files to import ([`geoip_import`]) and as a stored
/// table to decode ([`geoip_decode`]).
pub fn geoip_csv(data: &[u8]) {
    geoip_import(&sources(data));
    geoip_decode(data);
}

/// `import`: an error says something; a database holds ranges in order,
/// apart, touching ones of one country merged, each found by a lookup of
/// its first and last address; problems name an imported file and one of
/// its lines; it survives `encode` and `decode` unchanged.
pub fn geoip_import(sources: &[Source]) -> Option<GeoDb> {
    let imported = match import(sources) {
        Ok(imported) => imported,
        Err(e) => {
            assert!(!e.to_string().is_empty());
            return None;
        }
    };
    let db = imported.db;
    assert!(!db.is_empty(), "an import without ranges succeeded");
    let names: Vec<&str> = sources.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(db.source, names.join(", "));
    for p in &imported.problems {
        let lines = sources
            .iter()
            .filter(|s| s.name == p.file)
            .map(|s| s.bytes.split(|&b| b == b'\n').count())
            .max()
            .unwrap_or_else(|| panic!("{p:?} names no imported file"));
        assert!((1..=lines).contains(&p.line), "{p:?} of {lines} lines");
        assert!(!p.reason.is_empty());
    }
    assert!(
        imported.problems.len() + imported.unknown <= imported.lines,
        "{} problems and {} unknown of {} lines",
        imported.problems.len(),
        imported.unknown,
        imported.lines
    );
    ranges(&db, true, true);
    let again = GeoDb::decode(&db.encode()).expect("an imported table decodes");
    assert!(again == db, "decode(encode(db)) differs from db");
    Some(db)
}

/// `GeoDb::decode` on any bytes: an error, or a database whose ranges are
/// in order, apart and found by lookups, and that encodes back to exactly
/// these bytes.
pub fn geoip_decode(data: &[u8]) {
    let Ok(db) = GeoDb::decode(data) else {
        return;
    };
    assert!(db.encode() == data, "encode(decode(bytes)) differs");
    // A stored table may hold IPv6 ranges of IPv4-mapped addresses (which
    // look up as IPv4) and unmerged touching ranges; imports make neither.
    ranges(&db, false, false);
    let again = GeoDb::decode(&db.encode()).expect("re-decodes");
    assert!(again == db);
}

/// The ranges of `db`, sorted and apart, each found by lookups of its
/// ends and nothing just outside them (but its neighbours). `merged`:
/// touching ranges have different countries. `mapped_v6`: IPv6 ranges in
/// `::ffff:0:0/96` must be found too (imports turn those into IPv4).
fn ranges(db: &GeoDb, merged: bool, mapped_v6: bool) {
    let v4: Vec<(u32, u32, Country)> = db.v4_ranges().collect();
    let v6: Vec<(u128, u128, Country)> = db.v6_ranges().collect();
    assert_eq!(db.len(), (v4.len(), v6.len()));
    check_table(&v4, merged, |a, _| {
        Some(db.lookup(IpAddr::V4(Ipv4Addr::from(a))))
    });
    // IPv4-mapped addresses look up as IPv4: what is found just outside an
    // IPv6 range there says nothing about the IPv6 table.
    check_table(&v6, merged, |a, end| {
        let ip = Ipv6Addr::from(a);
        (ip.to_ipv4_mapped().is_none() || (end && mapped_v6)).then(|| db.lookup(IpAddr::V6(ip)))
    });
}

/// Checks sorted `ranges` with `lookup(address, is_an_end)`, which
/// answers `None` for an address it cannot look up in this table.
fn check_table<T>(
    ranges: &[(T, T, Country)],
    merged: bool,
    lookup: impl Fn(T, bool) -> Option<Option<Country>>,
) where
    T: Ord + Step,
{
    for (i, &(start, end, country)) in ranges.iter().enumerate() {
        assert!(start <= end, "range {i} is inverted");
        assert!(country.0.iter().all(u8::is_ascii_graphic));
        let prev = i.checked_sub(1).map(|p| ranges[p]);
        let next = ranges.get(i + 1).copied();
        if let Some((_, prev_end, prev_country)) = prev {
            assert!(prev_end < start, "range {i} overlaps range {}", i - 1);
            if merged && prev_end.next() == Some(start) {
                assert_ne!(
                    prev_country,
                    country,
                    "ranges {} and {i} are not merged",
                    i - 1
                );
            }
        }
        for at in [start, end] {
            if let Some(found) = lookup(at, true) {
                assert_eq!(found, Some(country), "lookup of {} in range {i}", at.ip());
            }
        }
        if let Some(before) = start.prev()
            && let Some(found) = lookup(before, false)
        {
            let want = prev.filter(|p| p.1 == before).map(|p| p.2);
            assert_eq!(found, want, "lookup of {}, before range {i}", before.ip());
        }
        if let Some(after) = end.next()
            && let Some(found) = lookup(after, false)
        {
            let want = next.filter(|n| n.0 == after).map(|n| n.2);
            assert_eq!(found, want, "lookup of {}, after range {i}", after.ip());
        }
    }
}

/// An address of one family as an integer.
trait Step: Copy {
    /// The address before, if any.
    fn prev(self) -> Option<Self>;
    /// The address after, if any.
    fn next(self) -> Option<Self>;
    /// The address, for messages.
    fn ip(self) -> IpAddr;
}

impl Step for u32 {
    fn prev(self) -> Option<u32> {
        self.checked_sub(1)
    }
    fn next(self) -> Option<u32> {
        self.checked_add(1)
    }
    fn ip(self) -> IpAddr {
        IpAddr::V4(self.into())
    }
}

impl Step for u128 {
    fn prev(self) -> Option<u128> {
        self.checked_sub(1)
    }
    fn next(self) -> Option<u128> {
        self.checked_add(1)
    }
    fn ip(self) -> IpAddr {
        IpAddr::V6(self.into())
    }
}

// ---------------------------------------------------------------------------
// Input rules

/// The input rules every entry point shares, on one string: as a mirror
/// contact ([`contact`]), a location path ([`location_path`]) and a name
/// ([`name`]).
pub fn input_rules(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    contact(&text);
    location_path(&text);
    name(&text);
}

/// `validate::contact`: what it accepts is one bare address on one line —
/// trimmed, no control character (CR, LF), exactly one `@` with text on
/// both sides, no list separator, display name, space or URL scheme,
/// ASCII, at most `MAX_CONTACT_LEN` bytes — or empty; and it accepts its
/// own output unchanged. What it refuses is an invalid contact.
pub fn contact(text: &str) {
    match validate::contact(text) {
        Ok(c) => {
            assert_eq!(c, text.trim(), "a contact is stored as given, trimmed");
            assert_eq!(validate::contact(&c).as_deref().ok(), Some(c.as_str()));
            if c.is_empty() {
                return;
            }
            assert!(c.len() <= validate::MAX_CONTACT_LEN, "{c:?}");
            assert!(!c.chars().any(char::is_control), "{c:?}");
            assert!(!c.contains(['\r', '\n']), "{c:?}");
            assert!(c.is_ascii(), "{c:?}");
            assert_eq!(c.matches('@').count(), 1, "{c:?}");
            let (local, domain) = c.split_once('@').expect("one @");
            assert!(!local.is_empty() && domain.contains('.'), "{c:?}");
            assert!(
                !c.contains([',', ';', '<', '>', '"', ':', ' ', '\t']),
                "{c:?} is a list, has a name or a scheme"
            );
            assert_eq!(validate::check_contact(&c), Ok(()));
        }
        Err(e) => {
            assert!(
                matches!(
                    e,
                    bouncer::error::Error::Invalid {
                        what: "contact",
                        ..
                    }
                ),
                "{e}"
            );
            assert!(validate::check_contact(text.trim()).is_err());
        }
    }
}

/// `validate::path`: what it accepts is stored as given (trimmed), at
/// most `MAX_PATH_LEN` bytes, starts with one `/`, has no encoded slash or
/// NUL, decodes to UTF-8 with no segment a server takes for `.` or `..`
/// (also with `;` parameters), and round-trips: accepted again unchanged,
/// and its decoded text, encoded the loader's way, is accepted (when short
/// enough) and decodes to the same text.
pub fn location_path(text: &str) {
    let Ok(p) = validate::path(text) else {
        assert!(validate::check_path(text.trim()).is_err());
        return;
    };
    assert_eq!(p, text.trim());
    assert_eq!(validate::path(&p).ok().as_deref(), Some(p.as_str()));
    assert!(p.len() <= validate::MAX_PATH_LEN, "{} bytes", p.len());
    assert!(p.starts_with('/') && !p.starts_with("//"), "{p:?}");
    let lower = p.to_ascii_lowercase();
    assert!(
        !lower.contains("%2f") && !lower.contains("%00"),
        "{p:?} has an encoded slash or NUL"
    );
    let decoded = query::percent_decode(&p);
    let bytes = percent_bytes(&p);
    assert_eq!(
        std::str::from_utf8(&bytes).ok(),
        Some(&*decoded),
        "{p:?} does not decode to UTF-8"
    );
    assert!(!decoded.contains('\0'), "{p:?}");
    assert!(
        !decoded.split('/').any(|s| {
            let bare = s.split(';').next().unwrap_or("");
            bare == "." || bare == ".."
        }),
        "{p:?} has a dot segment"
    );
    let again = query::encode_raw_path(&decoded);
    if again.len() <= validate::MAX_PATH_LEN {
        assert_eq!(
            validate::path(&again).ok().as_deref(),
            Some(again.as_str()),
            "{p:?} re-encoded"
        );
        assert_eq!(query::percent_decode(&again), decoded);
    }
}

/// `validate::name`: what it accepts is the input trimmed, 1–200 bytes,
/// not `.` or `..`, with no space, control character or bidirectional
/// control, and accepted again unchanged.
pub fn name(text: &str) {
    let Ok(n) = validate::name("product", text) else {
        return;
    };
    assert_eq!(n, text.trim());
    assert_eq!(
        validate::name("product", &n).ok().as_deref(),
        Some(n.as_str())
    );
    assert!(!n.is_empty() && n.len() <= 200 && n != "." && n != "..");
    assert!(
        !n.chars()
            .any(|c| validate::is_bidi_control(c) || c.is_whitespace() || c.is_control()),
        "{n:?}"
    );
    assert!(!n.contains(['\u{202A}', '\u{202B}', '\u{202C}', '\u{202D}', '\u{202E}']));
    assert!(!n.contains(['\u{2066}', '\u{2067}', '\u{2068}', '\u{2069}']));
}

/// The bytes `%XX` escapes stand for (a `%` without two hex digits stays).
fn percent_bytes(s: &str) -> Vec<u8> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = b
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok());
        match hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
            Some(byte) if b[i] == b'%' => {
                out.push(byte);
                i += 3;
            }
            _ => {
                out.push(b[i]);
                i += 1;
            }
        }
    }
    out
}
