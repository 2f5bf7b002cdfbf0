//! SPEC §6 and issue 6: the public pages and feeds over real HTTP. Known
//! downloads are made through real bounces and counted by the server; then
//! every feed must parse with an XML parser and carry the right counts, and
//! a private product, its alias and an inactive mirror must never show in
//! any public output (form with its embedded JSON, mirror list, statistics
//! for every period, feeds).

use std::collections::BTreeMap;
use std::time::Duration;

use crate::common::{Env, Response, Server};

/// How long counts may take to reach the database (flushed about every
/// second).
const COUNTED: Duration = Duration::from_secs(15);

const PRIVATE: &str = "secretbuild-9.9";
const PRIVATE_ALIAS: &str = "secretalias-latest";
const INACTIVE_MIRROR: &str = "hiddenmirror";
/// Words that may appear in no public output: the private product, its
/// alias and path, the inactive mirror's name and URL.
const NEVER_SHOWN: &[&str] = &[
    "secretbuild",
    "secretalias",
    "secretpath",
    "hiddenmirror",
    "hiddenpub",
];

const M1: &str = "http://127.0.0.1:9/pub";
const M2: &str = "http://127.0.0.1:9/pub2";
const HIDDEN: &str = "http://127.0.0.1:9/hiddenpub";

/// The four feeds.
const FEEDS: &[&str] = &[
    "/feeds/downloads.rss",
    "/feeds/products.rss",
    "/feeds/mirrors.rss",
    "/feeds/mirror-downloads.rss",
];

/// Two public products (firefox with an alias, thunderbird), a private
/// product with an alias, all on the win platform at least; mirror
/// `hiddenmirror` active, `m1` added inactive, `m2` active: every one
/// carries every file.
fn network() -> Env {
    let env = Env::new();
    env.setup(&[
        "product add firefox-120.0 --lang en-US --lang de",
        "location add firefox-120.0 win /firefox/120.0/win/:lang/setup.exe",
        "location add firefox-120.0 linux /firefox/120.0/linux/:lang/firefox.tar.bz2",
        "alias set firefox-latest firefox-120.0",
        "product add thunderbird-115.0",
        "location add thunderbird-115.0 win /thunderbird/115.0/setup.exe",
        "product add secretbuild-9.9 --lang en-US --private",
        "location add secretbuild-9.9 win /secretpath/9.9/setup.exe",
        "alias set secretalias-latest secretbuild-9.9",
        "mirror add hiddenmirror http://127.0.0.1:9/hiddenpub",
        "mirror add m1 http://127.0.0.1:9/pub --inactive",
        "mirror add m2 http://127.0.0.1:9/pub2",
        "status set hiddenmirror present",
        "status set m1 present",
        "status set m2 present",
    ]);
    env
}

/// Downloads the public pages must show.
#[derive(Debug, Default)]
struct Made {
    /// Per product (public ones only count publicly).
    products: BTreeMap<&'static str, u64>,
    /// Per active mirror, from where the bounces went.
    mirrors: BTreeMap<&'static str, u64>,
    /// Every counted download.
    total: u64,
}

/// Bounces (counted): the private product and firefox while `hiddenmirror`
/// is active, then `hiddenmirror` switched off and `m1` on, then firefox
/// (by its alias too) and thunderbird. Waits until the server has counted
/// them all.
fn make_downloads(env: &Env, server: &Server) -> Made {
    let mut made = Made::default();
    let bounce = |made: &mut Made, target: &str, product: &'static str| {
        let r = server.get_redirect(target);
        let to = r.location();
        let mirror = if to.starts_with(&format!("{HIDDEN}/")) {
            INACTIVE_MIRROR
        } else if to.starts_with(&format!("{M1}/")) {
            "m1"
        } else if to.starts_with(&format!("{M2}/")) {
            "m2"
        } else {
            panic!("{target} went to {to}");
        };
        *made.products.entry(product).or_default() += 1;
        *made.mirrors.entry(mirror).or_default() += 1;
        made.total += 1;
    };
    for _ in 0..3 {
        bounce(
            &mut made,
            "/?product=secretbuild-9.9&os=win&lang=en-US",
            PRIVATE,
        );
    }
    bounce(
        &mut made,
        "/?product=secretalias-latest&os=win&lang=en-US",
        PRIVATE,
    );
    for _ in 0..2 {
        bounce(
            &mut made,
            "/?product=firefox-120.0&os=win&lang=de",
            "firefox-120.0",
        );
    }
    env.ok(&["mirror", "set", INACTIVE_MIRROR, "--active", "false"]);
    env.ok(&["mirror", "set", "m1", "--active", "true"]);
    for _ in 0..4 {
        bounce(
            &mut made,
            "/?product=firefox-latest&os=linux&lang=en-US",
            "firefox-120.0",
        );
    }
    for _ in 0..3 {
        bounce(
            &mut made,
            "/?product=firefox-120.0&os=win&lang=de",
            "firefox-120.0",
        );
    }
    for _ in 0..2 {
        bounce(
            &mut made,
            "/?product=thunderbird-115.0&os=win",
            "thunderbird-115.0",
        );
    }
    // Not counted: previews and HEADs.
    assert_eq!(
        server
            .get("/?product=firefox-120.0&os=win&lang=de&print=yes")
            .status,
        200
    );
    assert_eq!(
        server
            .request("HEAD", "/?product=thunderbird-115.0", &[])
            .status,
        302
    );
    let stats = env.poll_stats(COUNTED, |s| s.total >= made.total);
    assert_eq!(stats.total, made.total, "{}", stats.text);
    assert_eq!(stats.row(PRIVATE), Some(4), "{}", stats.text);
    made
}

// ----- reading feeds -----

/// An `<item>` as a feed reader sees it.
#[derive(Debug, Clone)]
struct Item {
    title: String,
    link: String,
    description: String,
    guid: String,
    permalink: Option<String>,
    pub_date: Option<String>,
}

/// A parsed feed: the channel's plain children by name, and its items.
#[derive(Debug)]
struct Feed {
    channel: BTreeMap<String, String>,
    items: Vec<Item>,
}

impl Feed {
    fn titles(&self) -> Vec<&str> {
        self.items.iter().map(|i| i.title.as_str()).collect()
    }

    /// `NAME: N downloads` titles as (name, N).
    fn counts(&self) -> Vec<(String, u64)> {
        self.items
            .iter()
            .map(|i| {
                let (name, n) = i
                    .title
                    .rsplit_once(": ")
                    .unwrap_or_else(|| panic!("title without a count: {i:?}"));
                let n = n
                    .trim_end_matches(" downloads")
                    .trim_end_matches(" download")
                    .replace(',', "");
                (
                    name.to_string(),
                    n.parse().unwrap_or_else(|_| panic!("no count in {i:?}")),
                )
            })
            .collect()
    }

    fn item(&self, title_start: &str) -> &Item {
        self.items
            .iter()
            .find(|i| i.title.starts_with(title_start))
            .unwrap_or_else(|| panic!("no item {title_start:?} in {:?}", self.titles()))
    }
}

/// Parses an RSS 2.0 document; panics with the document when it is not
/// well-formed or not RSS 2.0.
fn parse(xml: &str) -> Feed {
    assert!(
        xml.starts_with("<?xml version=\"1.0\" encoding=\"UTF-8\"?>"),
        "no XML declaration:\n{xml}"
    );
    let doc = roxmltree::Document::parse(xml).unwrap_or_else(|e| panic!("{e}:\n{xml}"));
    let rss = doc.root_element();
    assert!(rss.has_tag_name("rss"), "{xml}");
    assert_eq!(rss.attribute("version"), Some("2.0"));
    let channel = rss
        .children()
        .find(|n| n.has_tag_name("channel"))
        .unwrap_or_else(|| panic!("no channel:\n{xml}"));
    let text = |n: roxmltree::Node<'_, '_>, name: &str| {
        n.children()
            .find(|c| c.is_element() && c.tag_name().namespace().is_none() && c.has_tag_name(name))
            .map(|c| c.text().unwrap_or("").to_string())
    };
    let items = channel
        .children()
        .filter(|n| n.has_tag_name("item"))
        .map(|item| Item {
            title: text(item, "title").expect("an item title"),
            link: text(item, "link").expect("an item link"),
            description: text(item, "description").expect("an item description"),
            guid: text(item, "guid").expect("an item guid"),
            permalink: item
                .children()
                .find(|c| c.has_tag_name("guid"))
                .and_then(|g| g.attribute("isPermaLink"))
                .map(str::to_string),
            pub_date: text(item, "pubDate"),
        })
        .collect();
    let channel = channel
        .children()
        .filter(|n| n.is_element() && n.tag_name().namespace().is_none() && !n.has_tag_name("item"))
        .map(|n| {
            (
                n.tag_name().name().to_string(),
                n.text().unwrap_or("").to_string(),
            )
        })
        .collect();
    Feed { channel, items }
}

/// Whether `s` reads like `Wed, 25 Nov 2026 10:00:00 +0000`.
fn is_rfc822(s: &str) -> bool {
    let parts: Vec<&str> = s.split(' ').collect();
    let digits = |p: &str, n: usize| p.len() == n && p.bytes().all(|b| b.is_ascii_digit());
    let time: Vec<&str> = parts
        .get(4)
        .map(|t| t.split(':').collect())
        .unwrap_or_default();
    parts.len() == 6
        && ["Mon,", "Tue,", "Wed,", "Thu,", "Fri,", "Sat,", "Sun,"].contains(&parts[0])
        && digits(parts[1], 2)
        && [
            "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
        ]
        .contains(&parts[2])
        && digits(parts[3], 4)
        && time.len() == 3
        && time.iter().all(|t| digits(t, 2))
        && parts[5] == "+0000"
}

/// GETs a feed, checks the headers and the channel every feed has, and
/// parses it.
fn feed(server: &Server, path: &str) -> Feed {
    let r = server.get(path);
    assert_eq!(r.status, 200, "{path}: {r:?}");
    assert_eq!(
        r.header("content-type"),
        Some("application/rss+xml; charset=utf-8"),
        "{path}"
    );
    assert_eq!(
        r.header("cache-control"),
        Some("public, max-age=300"),
        "{path}"
    );
    let feed = parse(&r.body);
    let c = &feed.channel;
    for name in [
        "title",
        "link",
        "description",
        "language",
        "lastBuildDate",
        "ttl",
    ] {
        assert!(
            c.get(name).is_some_and(|v| !v.is_empty()),
            "{path}: no channel {name}: {c:?}"
        );
    }
    assert_eq!(c["ttl"], "5", "{path}");
    assert!(is_rfc822(&c["lastBuildDate"]), "{path}: {c:?}");
    let site = format!("http://127.0.0.1:{}/", server.port);
    assert!(c["link"].starts_with(&site), "{path}: {c:?}");
    for item in &feed.items {
        assert!(!item.guid.is_empty(), "{path}: {item:?}");
        assert_eq!(item.permalink.as_deref(), Some("false"), "{path}: {item:?}");
        assert!(item.link.starts_with("http://"), "{path}: {item:?}");
        if let Some(date) = &item.pub_date {
            assert!(is_rfc822(date), "{path}: {item:?}");
        }
    }
    feed
}

// ----- the tests -----

#[test]
fn feeds_parse_and_carry_the_counts_of_known_downloads() {
    let env = network();
    let server = env.serve(&[]);
    let made = make_downloads(&env, &server);
    let site = format!("http://127.0.0.1:{}", server.port);

    // Downloads per public product, most downloaded first.
    let downloads = feed(&server, "/feeds/downloads.rss");
    assert_eq!(
        downloads.counts(),
        [
            ("firefox-120.0".to_string(), made.products["firefox-120.0"]),
            ("thunderbird-115.0".to_string(), 2),
        ]
    );
    assert_eq!(made.products["firefox-120.0"], 9);
    let ff = downloads.item("firefox-120.0");
    assert!(
        ff.description
            .starts_with("9 downloads in the last 30 days"),
        "{ff:?}"
    );
    assert_eq!(ff.link, format!("{site}/download?product=firefox-120.0"));
    assert!(ff.guid.starts_with("bouncer-downloads-product-"), "{ff:?}");

    // Available products, newest first (thunderbird was added after firefox).
    let products = feed(&server, "/feeds/products.rss");
    assert_eq!(products.titles(), ["thunderbird-115.0", "firefox-120.0"]);
    let ff = products.item("firefox-120.0");
    assert_eq!(ff.link, format!("{site}/download?product=firefox-120.0"));
    assert!(ff.pub_date.is_some(), "{ff:?}");
    assert!(ff.description.contains("linux, win"), "{ff:?}");
    assert!(ff.description.contains("2 languages"), "{ff:?}");
    // The link leads to the form with the product chosen.
    let path = ff.link.strip_prefix(&site).expect("a link to this site");
    let r = server.get(path);
    assert_eq!(r.status, 200, "{path}: {r:?}");
    assert!(r.body.contains("firefox-120.0"), "{path}: {}", r.body);

    // Active mirrors with their base URLs.
    let mirrors = feed(&server, "/feeds/mirrors.rss");
    assert_eq!(mirrors.titles(), ["m1", "m2"]);
    assert_eq!(mirrors.item("m1").link, M1);
    assert_eq!(mirrors.item("m2").link, M2);
    // Sentry is off in these tests: nobody has checked the mirrors.
    assert!(
        mirrors.item("m1").description.contains("not yet checked"),
        "{:?}",
        mirrors.items
    );

    // Downloads per active mirror and their share of the listed mirrors'.
    let per_mirror = feed(&server, "/feeds/mirror-downloads.rss");
    let m1 = made.mirrors.get("m1").copied().unwrap_or(0);
    let m2 = made.mirrors.get("m2").copied().unwrap_or(0);
    let mut expected = vec![("m1".to_string(), m1), ("m2".to_string(), m2)];
    expected.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    assert_eq!(per_mirror.counts(), expected);
    for (name, n) in [("m1", m1), ("m2", m2)] {
        let tenths = (n * 2000 + (m1 + m2)) / (2 * (m1 + m2));
        let share = format!("{}.{}%", tenths / 10, tenths % 10);
        let item = per_mirror.item(&format!("{name}:"));
        assert!(item.description.contains(&share), "{share}: {item:?}");
    }
}

#[test]
fn guids_are_stable_and_links_follow_the_request() {
    let env = network();
    let server = env.serve(&[]);
    make_downloads(&env, &server);
    let guids = |server: &Server, headers: &[(&str, &str)]| {
        FEEDS
            .iter()
            .flat_map(|path| {
                let r = server.get_with(path, headers);
                assert_eq!(r.status, 200, "{path}: {r:?}");
                parse(&r.body).items.into_iter().map(move |i| {
                    (
                        (*path, i.title.split(": ").next().unwrap().to_string()),
                        i.guid,
                    )
                })
            })
            .collect::<BTreeMap<_, _>>()
    };
    let before = guids(&server, &[]);
    assert_eq!(before.len(), 2 + 2 + 2 + 2, "{before:?}");
    let mut unique: Vec<&String> = before.values().collect();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), before.len(), "guids are unique: {before:?}");

    // A change rebuilds the feeds; nothing's guid changes.
    env.setup(&[
        "product add seamonkey-2.53",
        "location add seamonkey-2.53 win /seamonkey/setup.exe",
    ]);
    let after = guids(&server, &[]);
    for (key, guid) in &before {
        assert_eq!(after.get(key), Some(guid), "{key:?}");
    }
    assert!(after.contains_key(&("/feeds/products.rss", "seamonkey-2.53".to_string())));

    // Anyone may claim to have come over HTTPS, but only a trusted
    // proxy's word shapes the links.
    let r = server.get_with("/feeds/products.rss", &[("X-Forwarded-Proto", "https")]);
    let feed = parse(&r.body);
    let plain = format!("http://127.0.0.1:{}/", server.port);
    assert!(
        feed.channel["link"].starts_with(&plain),
        "{:?}",
        feed.channel
    );
    assert!(
        feed.items.iter().all(|i| i.link.starts_with(&plain)),
        "{feed:?}"
    );
    server.stop();

    // Behind a TLS-terminating proxy the links say https.
    let server = env.serve(&["--trusted-proxy", "127.0.0.1"]);
    let r = server.get_with("/feeds/products.rss", &[("X-Forwarded-Proto", "https")]);
    let feed = parse(&r.body);
    let site = format!("https://127.0.0.1:{}/", server.port);
    assert!(
        feed.channel["link"].starts_with(&site),
        "{:?}",
        feed.channel
    );
    assert!(
        feed.items.iter().all(|i| i.link.starts_with(&site)),
        "{feed:?}"
    );
}

#[test]
fn feeds_answer_head_and_unknown_feeds_are_404() {
    let env = network();
    let server = env.serve(&[]);
    for path in FEEDS {
        let r = server.request("HEAD", path, &[]);
        assert_eq!(r.status, 200, "HEAD {path}: {r:?}");
        assert_eq!(
            r.header("content-type"),
            Some("application/rss+xml; charset=utf-8"),
            "HEAD {path}"
        );
        assert_eq!(r.header("cache-control"), Some("public, max-age=300"));
        assert!(r.body.is_empty());
    }
    for path in [
        "/feeds/nope.rss",
        "/feeds/",
        "/feeds/downloads",
        "/feeds/downloads.rss/x",
        "/feeds/Products.RSS",
    ] {
        server.get_not_found(path);
        let r = server.get_with(path, &[("Accept", "text/html")]);
        assert_eq!(r.status, 404, "{path}: {r:?}");
    }
    let r = server.request("POST", "/feeds/products.rss", &[("Content-Length", "0")]);
    assert_eq!(r.status, 405, "{r:?}");
}

/// Every public page, for every period and product, and every feed.
fn public_pages() -> Vec<String> {
    let mut pages: Vec<String> = [
        "/download",
        "/download?product=firefox-120.0",
        "/download?product=firefox-latest",
        "/download?product=thunderbird-115.0",
        "/mirrors",
        "/stats",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    for days in [30, 90, 365] {
        pages.push(format!("/stats?days={days}"));
        for product in ["firefox-120.0", "thunderbird-115.0"] {
            pages.push(format!("/stats?product={product}&days={days}"));
        }
    }
    pages.extend(FEEDS.iter().map(|s| s.to_string()));
    pages
}

/// Fails when `r`'s body names anything in [`NEVER_SHOWN`].
fn assert_nothing_hidden(what: &str, r: &Response) {
    let body = r.body.to_lowercase();
    for word in NEVER_SHOWN {
        assert!(!body.contains(word), "{what} shows {word:?}:\n{}", r.body);
    }
    for (name, value) in &r.headers {
        let value = value.to_lowercase();
        for word in NEVER_SHOWN {
            assert!(
                !value.contains(word),
                "{what}: header {name} shows {word:?}"
            );
        }
    }
}

#[test]
fn private_products_and_inactive_mirrors_appear_in_no_public_output() {
    let env = network();
    let server = env.serve(&[]);
    make_downloads(&env, &server);
    let browser: &[(&str, &str)] = &[
        ("Accept", "text/html,application/xhtml+xml"),
        ("Accept-Language", "en-US,de;q=0.8"),
        (
            "User-Agent",
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:120.0) Gecko/20100101 Firefox/120.0",
        ),
    ];
    for page in public_pages() {
        for headers in [browser, &[]] {
            let r = server.get_with(&page, headers);
            assert_eq!(r.status, 200, "{page}: {r:?}");
            assert_nothing_hidden(&page, &r);
        }
        let r = server.request("HEAD", &page, &[]);
        assert_eq!(r.status, 200, "HEAD {page}: {r:?}");
        assert_nothing_hidden(&format!("HEAD {page}"), &r);
    }

    // The data the form's script reads: valid JSON with the public
    // products only.
    let r = server.get_with("/download", browser);
    let json = embedded_json(&r.body);
    let data: serde_json::Value =
        serde_json::from_str(&json).unwrap_or_else(|e| panic!("{e}:\n{json}"));
    let text = data.to_string();
    assert!(text.contains("firefox-120.0"), "{text}");
    assert!(text.contains("thunderbird-115.0"), "{text}");
    for word in NEVER_SHOWN {
        assert!(!text.to_lowercase().contains(word), "{word}: {text}");
    }

    // Asking for the private product by name gets nowhere.
    for product in [PRIVATE, PRIVATE_ALIAS] {
        let r = server.get(&format!("/download?product={product}&os=win&lang=en-US"));
        assert!(
            (400..500).contains(&r.status),
            "the form accepted {product}: {r:?}"
        );
        let r = server.get(&format!("/stats?product={product}"));
        assert_eq!(r.status, 404, "{product}: {r:?}");
    }
    // The private product still bounces: public only means listed.
    assert_eq!(
        server
            .get("/?product=secretbuild-9.9&os=win&lang=en-US&print=yes")
            .status,
        200
    );
}

/// The text of the page's `<script type="application/json" …>` element.
fn embedded_json(html: &str) -> String {
    let start = html
        .find("<script type=\"application/json\"")
        .unwrap_or_else(|| panic!("no embedded JSON:\n{html}"));
    let open_end = start + html[start..].find('>').expect("end of the script tag") + 1;
    let close = open_end + html[open_end..].find("</script>").expect("</script>");
    html[open_end..close].to_string()
}

#[test]
fn hostile_names_are_escaped_everywhere() {
    const NAME: &str = "<script>alert(1)</script>&\"'-火狐";
    const MIRROR: &str = "<img>&\"'-mirror";
    let env = network();
    env.ok(&["product", "add", NAME, "--lang", "de"]);
    env.ok(&["location", "add", NAME, "win", "/hostile/:lang/setup.exe"]);
    env.ok(&["mirror", "add", MIRROR, "http://127.0.0.1:9/pub3"]);
    // The new location is on m2 (hiddenmirror is active too).
    env.ok(&["status", "set", "m2", "present"]);
    env.ok(&["status", "set", INACTIVE_MIRROR, "present"]);
    let server = env.serve(&[]);
    let encoded: String = NAME
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect();
    server.get_redirect(&format!("/?product={encoded}&os=win&lang=de"));
    env.poll_stats(COUNTED, |s| s.total >= 1);

    let products = feed(&server, "/feeds/products.rss");
    assert!(products.titles().contains(&NAME), "{:?}", products.titles());
    assert_eq!(
        products.item(NAME).link,
        format!(
            "http://127.0.0.1:{}/download?product={encoded}",
            server.port
        )
    );
    let downloads = feed(&server, "/feeds/downloads.rss");
    assert_eq!(downloads.counts(), [(NAME.to_string(), 1)]);
    let mirrors = feed(&server, "/feeds/mirrors.rss");
    assert!(mirrors.titles().contains(&MIRROR), "{:?}", mirrors.titles());

    let mut pages = public_pages();
    pages.push(format!("/download?product={encoded}"));
    pages.push(format!("/stats?product={encoded}"));
    for page in pages {
        let r = server.get_with(&page, &[("Accept", "text/html")]);
        assert_eq!(r.status, 200, "{page}: {r:?}");
        for raw in ["<script>alert", "<img>&", "</script>&"] {
            assert!(
                !r.body.contains(raw),
                "{page} carries {raw:?} raw:\n{}",
                r.body
            );
        }
    }
}
