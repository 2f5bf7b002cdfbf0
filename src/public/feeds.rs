//! RSS 2.0 feeds (SPEC §6): `/feeds/downloads.rss` (downloads per product),
//! `/feeds/products.rss` (available products, newest first),
//! `/feeds/mirrors.rss` (the mirror list) and `/feeds/mirror-downloads.rss`
//! (downloads per mirror).
//!
//! Only `public` and `active` products and active mirrors appear; mirror
//! statuses and shares are those of the `/mirrors` page. Every
//! text is XML-escaped (and stripped of characters XML 1.0 cannot carry);
//! descriptions are HTML to most readers, so their text is escaped once more
//! and shows literally.
//!
//! An item's guid and `pubDate` change when what it says changes, so
//! readers show the change as news: a mirror's item carries its id, the
//! time its state last changed and a digest of its text (down, up, without
//! our files, another region: a new guid), dated when its item first read
//! so ([`News`]; its state's `since` when that is later); a product's the time it or its
//! newest system was added and a digest of its text; the download
//! figures are one item per product (or mirror) per UTC day, dated that
//! day. An item that says the same keeps its guid across builds.
//!
//! A feed is rendered at most once a minute per address
//! ([`Public::rendered`]) and tells readers to wait five minutes
//! (`Cache-Control: public, max-age=300`, `<ttl>5</ttl>`).

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::Mutex;

use hyper::StatusCode;
use hyper::header::{CACHE_CONTROL, HeaderValue};

use super::{PageError, PageResult, Public, Request, mirrors};
use crate::chart::thousands;
use crate::http::Reply;
use crate::model::{self, MirrorId};
use crate::store::{Counts, Snapshot};

/// How many days the download feeds count, today included.
pub const WINDOW_DAYS: u32 = 30;

/// What readers are asked to wait between fetches, in minutes (`<ttl>` and
/// `Cache-Control`).
pub const TTL_MINUTES: u32 = 5;

/// A feed: its name under `/feeds/`, title, description, the page its
/// channel links to, and the text the public pages link to it with.
pub struct Kind {
    /// The file name under `/feeds/`.
    pub name: &'static str,
    /// The channel's title (and the `<link rel="alternate">` title).
    pub title: &'static str,
    /// The channel's description.
    pub description: &'static str,
    /// The page the channel links to.
    pub page: &'static str,
    /// The footer's link text on every public page.
    pub link_text: &'static str,
}

impl Kind {
    /// Its path, `/feeds/NAME`.
    pub fn path(&self) -> String {
        format!("/feeds/{}", self.name)
    }
}

/// The feeds: the one list of them, served under `/feeds/` and advertised
/// by every public page ([`super::page::layout`]) in this order.
pub const FEEDS: &[Kind] = &[
    Kind {
        name: "products.rss",
        title: "Available products",
        description: "Products available for download, newest first.",
        page: "/download",
        link_text: "products",
    },
    Kind {
        name: "downloads.rss",
        title: "Downloads per product",
        description: "Downloads of each public product over the last 30 days, most downloaded first.",
        page: "/stats",
        link_text: "downloads",
    },
    Kind {
        name: "mirrors.rss",
        title: "Mirrors",
        description: "The mirrors that serve our downloads, with their status.",
        page: "/mirrors",
        link_text: "mirrors",
    },
    Kind {
        name: "mirror-downloads.rss",
        title: "Downloads per mirror",
        description: "Downloads each mirror served over the last 30 days, and its share.",
        page: "/mirrors",
        link_text: "downloads per mirror",
    },
];

/// When each mirror item of `mirrors.rss` was first rendered as it reads
/// now: its `pubDate` when nothing stored says when its text changed (a
/// mirror starting or stopping to serve our files keeps its health's
/// `since`). Kept in memory per process, for the mirrors listed in the
/// last render; after a restart an item is dated by its state's `since`
/// until its text changes again.
#[derive(Default)]
pub struct News(Mutex<HashMap<MirrorId, (String, u64)>>);

impl News {
    /// The `pubDate` of each (mirror, guid, `changed`) at `now`: the
    /// date it had when its guid is the one last rendered; `changed` for
    /// a mirror not rendered before, or whose state changed after its
    /// last date (`changed` is then news); otherwise (same state, other
    /// text) `now`. Forgets mirrors not in `items`.
    fn dates(&self, items: &[(MirrorId, &str, u64)], now: u64) -> Vec<u64> {
        let mut seen = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let mut next = HashMap::with_capacity(items.len());
        let dates = items
            .iter()
            .map(|&(id, guid, changed)| {
                let at = match seen.remove(&id) {
                    Some((last, at)) if last == guid => at,
                    Some((_, at)) if changed <= at => now.max(at),
                    _ => changed,
                };
                next.insert(id, (guid.to_string(), at));
                at
            })
            .collect();
        *seen = next;
        dates
    }
}

/// Answers `/feeds/NAME`: one of the four feeds, or 404 for any other name.
pub fn feed(public: &Public, req: &Request<'_>, name: &str) -> PageResult {
    let Some(kind) = FEEDS.iter().find(|k| k.name == name) else {
        return Ok(crate::http::not_found(
            req.headers,
            crate::http::UNKNOWN_FILE,
        ));
    };
    let name = kind.name;
    let site = req.site(public);
    // Links are absolute, so the site is part of the key.
    let key = format!("feed {name} {site}");
    public.rendered(&key, || {
        let snapshot = public
            .network
            .snapshot()
            .map_err(PageError::FeedUnavailable)?;
        let now = model::now();
        let today = model::day_of(now);
        let counts = if matches!(name, "downloads.rss" | "mirror-downloads.rss") {
            public
                .counts(today.saturating_sub(WINDOW_DAYS - 1), today)
                .map_err(PageError::FeedUnavailable)?
        } else {
            std::sync::Arc::new(Counts::default())
        };
        let channel = Channel {
            kind,
            link: format!("{site}{}", kind.page),
            self_link: format!("{site}/feeds/{name}"),
            now,
        };
        let items = match name {
            "downloads.rss" => product_downloads(&snapshot, &counts, today, &site),
            "products.rss" => products(&snapshot, &site),
            "mirrors.rss" => {
                let (serving, locations) = public.network.serving();
                mirror_list(&snapshot, &serving, locations, now, &public.news)
            }
            _ => mirror_downloads(&snapshot, &counts, today),
        };
        Ok(rss(&channel.render(&items)))
    })
}

/// A feed's channel: what it is and when it was built.
struct Channel {
    kind: &'static Kind,
    link: String,
    self_link: String,
    now: u64,
}

/// One `<item>`. Texts are plain (escaped when written).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Item {
    title: String,
    link: String,
    description: String,
    /// Stable and not a URL (`isPermaLink="false"`).
    guid: String,
    pub_date: Option<u64>,
}

impl Channel {
    fn render(&self, items: &[Item]) -> String {
        let mut out = String::with_capacity(1024 + items.len() * 512);
        out.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
        out.push_str(
            "<rss version=\"2.0\" xmlns:atom=\"http://www.w3.org/2005/Atom\">\n<channel>\n",
        );
        let _ = writeln!(out, "<title>{}</title>", xml_escape(self.kind.title));
        let _ = writeln!(out, "<link>{}</link>", xml_escape(&self.link));
        let _ = writeln!(
            out,
            "<atom:link href=\"{}\" rel=\"self\" type=\"application/rss+xml\"/>",
            xml_escape(&self.self_link)
        );
        let _ = writeln!(
            out,
            "<description>{}</description>",
            xml_escape(self.kind.description)
        );
        out.push_str("<language>en</language>\n");
        let _ = writeln!(out, "<lastBuildDate>{}</lastBuildDate>", rfc822(self.now));
        let _ = writeln!(out, "<ttl>{TTL_MINUTES}</ttl>");
        for item in items {
            out.push_str("<item>\n");
            let _ = writeln!(out, "<title>{}</title>", xml_escape(&item.title));
            let _ = writeln!(out, "<link>{}</link>", xml_escape(&item.link));
            // Readers treat descriptions as HTML: escape the text for HTML,
            // then the result for XML, so it shows exactly as written.
            let _ = writeln!(
                out,
                "<description>{}</description>",
                xml_escape(&html_text(&item.description))
            );
            let _ = writeln!(
                out,
                "<guid isPermaLink=\"false\">{}</guid>",
                xml_escape(&item.guid)
            );
            if let Some(at) = item.pub_date {
                let _ = writeln!(out, "<pubDate>{}</pubDate>", rfc822(at));
            }
            out.push_str("</item>\n");
        }
        out.push_str("</channel>\n</rss>\n");
        out
    }
}

/// Whether the public may see this product.
fn shown(p: &model::Product) -> bool {
    p.public && p.active
}

/// One item per public product downloaded in the window, most downloaded
/// first.
fn product_downloads(snapshot: &Snapshot, counts: &Counts, today: u32, site: &str) -> Vec<Item> {
    let mut rows: Vec<(&model::Product, u64, u64)> = snapshot
        .products
        .iter()
        .filter(|p| shown(p))
        .filter_map(|p| {
            let n = counts.by_product.get(&p.id).copied().unwrap_or(0);
            let today = counts
                .by_product_day
                .get(&(p.id, today))
                .copied()
                .unwrap_or(0);
            (n > 0).then_some((p, n, today))
        })
        .collect();
    rows.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.name.cmp(&b.0.name)));
    rows.into_iter()
        .map(|(p, n, on_day)| Item {
            title: format!("{}: {}", p.name, downloads(n)),
            link: download_link(site, &p.name),
            description: format!(
                "{} in the last {WINDOW_DAYS} days, {} today.",
                downloads(n),
                thousands(on_day)
            ),
            guid: format!("bouncer-downloads-product-{}-{}", p.id, day_name(today)),
            pub_date: Some(u64::from(today) * 86_400),
        })
        .collect()
}

/// Available products (public, active, with at least one location), newest
/// first.
fn products(snapshot: &Snapshot, site: &str) -> Vec<Item> {
    let mut by_product: HashMap<model::ProductId, Vec<&str>> = HashMap::new();
    let mut newest_location: HashMap<model::ProductId, u64> = HashMap::new();
    for l in &snapshot.locations {
        by_product.entry(l.product).or_default().push(l.os.as_str());
        let newest = newest_location.entry(l.product).or_default();
        *newest = (*newest).max(l.created_at);
    }
    let mut rows: Vec<(&model::Product, Vec<&str>)> = snapshot
        .products
        .iter()
        .filter(|p| shown(p))
        .filter_map(|p| {
            let mut oses = by_product.remove(&p.id).unwrap_or_default();
            oses.sort_unstable();
            oses.dedup();
            (!oses.is_empty()).then_some((p, oses))
        })
        .collect();
    rows.sort_by(|a, b| {
        b.0.created_at
            .cmp(&a.0.created_at)
            .then_with(|| b.0.id.cmp(&a.0.id))
    });
    rows.into_iter()
        .map(|(p, oses)| {
            let changed = newest_location
                .get(&p.id)
                .copied()
                .unwrap_or(0)
                .max(p.created_at);
            let languages = match p.languages.len() {
                0 => "every language".to_string(),
                1 => "1 language".to_string(),
                n => format!("{n} languages"),
            };
            let description = format!("For {}; in {languages}.", oses.join(", "));
            Item {
                guid: format!(
                    "bouncer-product-{}-{changed}-{}",
                    p.id,
                    digest(&[&p.name, &description])
                ),
                title: p.name.clone(),
                link: download_link(site, &p.name),
                description,
                pub_date: Some(changed),
            }
        })
        .collect()
}

/// A mirror's status as the `/mirrors` page tells it, in words: its
/// [`model::MirrorState`] worded for the public, with since when and why
/// when it is down.
fn status(status: mirrors::Status) -> String {
    if status.state == model::MirrorState::Down {
        format!("down since {} ({})", rfc822(status.since), status.reason)
    } else {
        status.word().to_string()
    }
}

/// Active mirrors, by name, with the status the `/mirrors` page shows at
/// `now` (`serving`: locations each mirror gets downloads for now, of
/// `locations`), dated by `news`.
fn mirror_list(
    snapshot: &Snapshot,
    serving: &HashMap<MirrorId, usize>,
    locations: usize,
    now: u64,
    news: &News,
) -> Vec<Item> {
    let mut rows: Vec<&model::Mirror> = snapshot.mirrors.iter().filter(|m| m.active).collect();
    rows.sort_by_key(|m| m.name.to_lowercase());
    let mut items: Vec<Item> = rows
        .iter()
        .map(|m| {
            let regions = if m.regions.is_empty() {
                "serves the whole world".to_string()
            } else {
                format!("serves {}", m.regions.join(", "))
            };
            let health = snapshot.health.get(&m.id);
            let description = format!(
                "Status: {}; {regions}.",
                status(mirrors::status(
                    m,
                    health,
                    serving.get(&m.id).copied().unwrap_or(0),
                    locations,
                    now,
                ))
            );
            // When its state (up or down) last changed; never before it
            // was added.
            let changed = health.map_or(0, |h| h.since).max(m.created_at);
            Item {
                guid: format!(
                    "bouncer-mirror-{}-{changed}-{}",
                    m.id,
                    digest(&[&m.name, &m.base_url, &description])
                ),
                title: m.name.clone(),
                link: m.base_url.clone(),
                description,
                pub_date: Some(changed),
            }
        })
        .collect();
    let keys: Vec<(MirrorId, &str, u64)> = rows
        .iter()
        .zip(&items)
        .map(|(m, i)| (m.id, i.guid.as_str(), i.pub_date.unwrap_or(0)))
        .collect();
    let dates = news.dates(&keys, now);
    for (item, at) in items.iter_mut().zip(dates) {
        item.pub_date = Some(at);
    }
    items
}

/// Active mirrors with their downloads in the window and their share of
/// the listed mirrors' downloads (as on the `/mirrors` page: the shares sum
/// to 100%), most downloads first.
fn mirror_downloads(snapshot: &Snapshot, counts: &Counts, today: u32) -> Vec<Item> {
    let mut rows: Vec<(&model::Mirror, u64)> = snapshot
        .mirrors
        .iter()
        .filter(|m| m.active)
        .map(|m| (m, counts.by_mirror.get(&m.id).copied().unwrap_or(0)))
        .collect();
    let total: u64 = rows.iter().map(|r| r.1).sum();
    rows.sort_by(|a, b| {
        b.1.cmp(&a.1)
            .then_with(|| a.0.name.to_lowercase().cmp(&b.0.name.to_lowercase()))
    });
    rows.into_iter()
        .map(|(m, n)| Item {
            title: format!("{}: {}", m.name, downloads(n)),
            link: m.base_url.clone(),
            description: format!(
                "{} in the last {WINDOW_DAYS} days: {} of the listed mirrors' downloads.",
                downloads(n),
                share(n, total)
            ),
            guid: format!("bouncer-mirror-downloads-{}-{}", m.id, day_name(today)),
            pub_date: Some(u64::from(today) * 86_400),
        })
        .collect()
}

/// `YYYY-MM-DD` of a day since the Unix epoch (in guids of daily items).
fn day_name(day: u32) -> String {
    let mut s = model::utc(u64::from(day) * 86_400);
    s.truncate(10);
    s
}

/// A short digest of `texts` (FNV-1a, 64 bits, in hex): part of a guid, so
/// an item gets a new guid when what it says changes. Not secret, only
/// stable across builds and versions.
fn digest(texts: &[&str]) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for t in texts {
        for b in t.bytes().chain([0]) {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    format!("{h:016x}")
}

/// `1 download`, `1,234 downloads`.
fn downloads(n: u64) -> String {
    if n == 1 {
        "1 download".into()
    } else {
        format!("{} downloads", thousands(n))
    }
}

/// `n` of `total` as a percentage with one decimal (`0.0%` of nothing).
fn share(n: u64, total: u64) -> String {
    if total == 0 {
        return "0.0%".into();
    }
    // Rounded half up in tenths of a percent, in integers.
    let tenths = (u128::from(n) * 2000 + u128::from(total)) / (2 * u128::from(total));
    format!("{}.{}%", tenths / 10, tenths % 10)
}

/// The download form with `product` chosen.
fn download_link(site: &str, product: &str) -> String {
    format!(
        "{site}/download?product={}",
        crate::query::encode_component(product)
    )
}

/// `text` for XML text or a quoted attribute: `& < > " '` escaped, `\r` as
/// a character reference (parsers would turn a raw one into `\n`), and
/// characters XML 1.0 cannot carry (other control characters, U+FFFE,
/// U+FFFF) dropped.
pub fn xml_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\r' => out.push_str("&#13;"),
            '\t' | '\n' => out.push(c),
            c if (c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => {}
            c => out.push(c),
        }
    }
    out
}

/// `text` as HTML text: `& < >` escaped (quotes need no escaping outside
/// attributes).
fn html_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            c => out.push(c),
        }
    }
    out
}

/// An RFC 822 date as RSS wants it: `Wed, 25 Nov 2026 10:00:00 +0000`.
pub fn rfc822(unix_secs: u64) -> String {
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let days = unix_secs / 86_400;
    let (year, month, day) = crate::model::civil(unix_secs);
    let s = unix_secs % 86_400;
    format!(
        "{}, {day:02} {} {year:04} {:02}:{:02}:{:02} +0000",
        DAYS[(days % 7) as usize],
        MONTHS[(month - 1) as usize],
        s / 3600,
        s / 60 % 60,
        s % 60
    )
}

/// A feed reply, cacheable by readers and proxies for [`TTL_MINUTES`].
fn rss(body: &str) -> Reply {
    let mut reply = crate::http::with_type(
        StatusCode::OK,
        "application/rss+xml; charset=utf-8",
        body.to_string(),
    );
    reply.headers_mut().insert(
        CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=300"),
    );
    reply
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Availability, CountBatch, MirrorHealth, ProductId, Region};
    use crate::public::testing::{body, get, public};
    use crate::store::{NewMirror, NewProduct};
    use hyper::header::CONTENT_TYPE;

    const HOSTILE: &str = "<script>&\"'";
    const UNICODE: &str = "ünïcødé-☃-火狐";

    /// An `<item>` as a reader sees it.
    #[derive(Debug, Clone, PartialEq, Eq)]
    struct Parsed {
        title: String,
        link: String,
        description: String,
        guid: String,
        permalink: Option<String>,
        pub_date: Option<String>,
    }

    /// A feed, parsed: the channel's children by name, and the items.
    struct Feed {
        channel: std::collections::HashMap<String, String>,
        /// The `atom:link rel="self"`.
        self_link: Option<String>,
        items: Vec<Parsed>,
    }

    fn parse(xml: &str) -> Feed {
        let doc = roxmltree::Document::parse(xml).unwrap_or_else(|e| panic!("{e}:\n{xml}"));
        let rss = doc.root_element();
        assert_eq!(rss.tag_name().name(), "rss");
        assert_eq!(rss.attribute("version"), Some("2.0"));
        let channel = rss
            .children()
            .find(|n| n.has_tag_name("channel"))
            .expect("a channel");
        let text = |n: roxmltree::Node<'_, '_>, name: &str| {
            n.children()
                .find(|c| c.has_tag_name(name))
                .map(|c| c.text().unwrap_or("").to_string())
        };
        let self_link = channel
            .children()
            .find(|n| {
                n.tag_name().namespace() == Some("http://www.w3.org/2005/Atom")
                    && n.has_tag_name("link")
                    && n.attribute("rel") == Some("self")
            })
            .and_then(|n| n.attribute("href"))
            .map(str::to_string);
        let items = channel
            .children()
            .filter(|n| n.has_tag_name("item"))
            .map(|item| Parsed {
                title: text(item, "title").expect("a title"),
                link: text(item, "link").expect("a link"),
                description: text(item, "description").expect("a description"),
                guid: text(item, "guid").expect("a guid"),
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
            .filter(|n| {
                n.is_element() && n.tag_name().namespace().is_none() && !n.has_tag_name("item")
            })
            .map(|n| {
                (
                    n.tag_name().name().to_string(),
                    n.text().unwrap_or("").to_string(),
                )
            })
            .collect();
        Feed {
            channel,
            self_link,
            items,
        }
    }

    fn fetch(public: &Public, path: &str) -> Feed {
        let reply = get(public, path, &[("host", "bouncer.example.org")]);
        assert_eq!(reply.status(), StatusCode::OK, "{path}");
        assert_eq!(
            reply.headers()[CONTENT_TYPE],
            "application/rss+xml; charset=utf-8"
        );
        assert_eq!(reply.headers()[CACHE_CONTROL], "public, max-age=300");
        let xml = body(reply);
        assert!(
            xml.starts_with("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<rss version=\"2.0\""),
            "{xml}"
        );
        parse(&xml)
    }

    fn titles(feed: &Feed) -> Vec<&str> {
        feed.items.iter().map(|i| i.title.as_str()).collect()
    }

    fn item<'a>(feed: &'a Feed, title_start: &str) -> &'a Parsed {
        feed.items
            .iter()
            .find(|i| i.title.starts_with(title_start))
            .unwrap_or_else(|| panic!("no item {title_start:?} in {:?}", titles(feed)))
    }

    /// Public products (firefox, a hostile name, a unicode name, one
    /// without locations), a private and an inactive one; mirrors m1, a
    /// hostile one in a hostile region (down), an inactive one.
    fn network() -> (tempfile::TempDir, Public) {
        let (dir, public) = public();
        public
            .network
            .write(&crate::model::Actor::Program("test"), |tx| {
                let add = |tx: &mut crate::store::Tx, name: &str, langs: &[&str], private| {
                    tx.product_add(NewProduct {
                        name: name.into(),
                        languages: langs.iter().map(|l| l.to_string()).collect(),
                        ssl_only: false,
                        private,
                    })
                };
                add(tx, "firefox-120.0", &["en-US", "de"], false)?;
                tx.location_add("firefox-120.0", "win", "/ff/win/:lang/setup.exe")?;
                tx.location_add("firefox-120.0", "linux", "/ff/linux/:lang/ff.tar.bz2")?;
                add(tx, HOSTILE, &["de"], false)?;
                tx.location_add(HOSTILE, "osx", "/hostile/x.dmg")?;
                add(tx, UNICODE, &[], false)?;
                tx.location_add(UNICODE, "win", "/unicode/setup.exe")?;
                add(tx, "nolocation-1.0", &[], false)?;
                add(tx, "secret-9.9", &[], true)?;
                tx.location_add("secret-9.9", "win", "/secret/setup.exe")?;
                add(tx, "retired-1.0", &[], false)?;
                tx.location_add("retired-1.0", "win", "/retired/setup.exe")?;
                tx.product_update("retired-1.0", |p| p.active = false)?;
                // Distinct creation times, oldest first: firefox, hostile, unicode.
                for (i, name) in [
                    "firefox-120.0",
                    HOSTILE,
                    UNICODE,
                    "nolocation-1.0",
                    "secret-9.9",
                    "retired-1.0",
                ]
                .iter()
                .enumerate()
                {
                    tx.product_update(name, |p| p.created_at = 1_700_000_000 + i as u64 * 86_400)?;
                }
                tx.region_add(Region {
                    name: format!("{HOSTILE}-region"),
                    throttle: 100,
                    fallback: None,
                    global_fallback: true,
                    countries: vec!["DE".into()],
                })?;
                let mirror = |name: &str, url: &str, regions: Vec<String>, inactive| NewMirror {
                    name: name.into(),
                    base_url: url.into(),
                    rating: 100,
                    regions,
                    contact: "ops@example.org".into(),
                    inactive,
                    families: Default::default(),
                    audience: Default::default(),
                    alt_url: None,
                    trace: None,
                    kind: Default::default(),
                };
                let m1 =
                    tx.mirror_add(mirror("m1", "https://m1.example.org/pub", vec![], false))?;
                let hostile = tx.mirror_add(mirror(
                    &format!("{HOSTILE}-mirror"),
                    "http://hostile.example.org/a&b",
                    vec![format!("{HOSTILE}-region")],
                    false,
                ))?;
                tx.mirror_add(mirror(
                    "hidden-mirror",
                    "http://hidden.example.org",
                    vec![],
                    true,
                ))?;
                let checked = MirrorHealth {
                    checked_at: 1_700_000_000,
                    since: 1_700_000_000,
                    ..MirrorHealth::default()
                };
                tx.set_health(m1.id, &checked)?;
                let win = tx.location("firefox-120.0", "win")?.unwrap();
                tx.set_availability(
                    win.id,
                    m1.id,
                    &Availability {
                        present: true,
                        healthy: true,
                        checked_at: 1_700_000_000,
                        error: String::new(),
                    },
                )?;
                tx.set_health(
                    hostile.id,
                    &MirrorHealth {
                        healthy: false,
                        error: "refused \u{0}\u{1b}[31m <b>".into(),
                        ..checked
                    },
                )?;
                Ok(())
            })
            .unwrap();
        (dir, public)
    }

    fn product_id(public: &Public, name: &str) -> ProductId {
        public.network.snapshot().unwrap().product(name).unwrap().id
    }

    fn mirror_id(public: &Public, name: &str) -> MirrorId {
        public.network.snapshot().unwrap().mirror(name).unwrap().id
    }

    /// Downloads today, ten days ago, and 40 days ago (outside the window).
    fn add_counts(public: &Public) {
        let today = model::day_of(model::now());
        let p = |name: &str| product_id(public, name);
        let m = |name: &str| mirror_id(public, name);
        let store = public.network.store();
        store
            .add_counts(&CountBatch {
                day: today,
                products: vec![
                    (p("firefox-120.0"), 5),
                    (p(HOSTILE), 7),
                    (p(UNICODE), 1),
                    (p("secret-9.9"), 100),
                    (p("retired-1.0"), 50),
                ],
                mirrors: vec![
                    (m("m1"), 10),
                    (m(&format!("{HOSTILE}-mirror")), 5),
                    (m("hidden-mirror"), 100),
                ],
                ..CountBatch::default()
            })
            .unwrap();
        store
            .add_counts(&CountBatch {
                day: today - 10,
                products: vec![(p("firefox-120.0"), 1_230)],
                mirrors: vec![(m("m1"), 1_000)],
                ..CountBatch::default()
            })
            .unwrap();
        store
            .add_counts(&CountBatch {
                day: today - WINDOW_DAYS,
                products: vec![(p("firefox-120.0"), 99_999), (p(UNICODE), 99_999)],
                mirrors: vec![(m("m1"), 99_999)],
                ..CountBatch::default()
            })
            .unwrap();
    }

    #[test]
    fn rfc822_dates() {
        assert_eq!(rfc822(0), "Thu, 01 Jan 1970 00:00:00 +0000");
        assert_eq!(rfc822(951_782_400), "Tue, 29 Feb 2000 00:00:00 +0000");
        assert_eq!(rfc822(1_795_634_112), "Wed, 25 Nov 2026 19:15:12 +0000");
        assert_eq!(rfc822(1_795_600_800), "Wed, 25 Nov 2026 10:00:00 +0000");
        assert_eq!(rfc822(4_102_444_799), "Thu, 31 Dec 2099 23:59:59 +0000");
    }

    #[test]
    fn xml_escape_escapes_and_strips() {
        assert_eq!(
            xml_escape("<a href=\"x\">&'</a>"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&apos;&lt;/a&gt;"
        );
        assert_eq!(xml_escape("a\u{0}b\u{1b}c\u{7}d\u{FFFE}\u{FFFF}e"), "abcde");
        assert_eq!(xml_escape("tab\tnl\ncr\r"), "tab\tnl\ncr&#13;");
        assert_eq!(xml_escape(UNICODE), UNICODE);
        // Whatever goes in, a parser reads back the same text minus what
        // XML cannot carry.
        let nasty = "]]><![CDATA[ <!-- &amp; \r\n\t\u{1}\u{10FFFF}\u{D7FF}\u{E000} &#0;";
        let xml = format!("<t a=\"{0}\">{0}</t>", xml_escape(nasty));
        let doc = roxmltree::Document::parse(&xml).unwrap();
        let expected: String = nasty.chars().filter(|c| *c != '\u{1}').collect();
        assert_eq!(doc.root_element().text(), Some(expected.as_str()));
    }

    #[test]
    fn unknown_feeds_are_404() {
        let (_dir, public) = network();
        for path in [
            "/feeds/",
            "/feeds/nope.rss",
            "/feeds/downloads",
            "/feeds/downloads.rss/",
            "/feeds/DOWNLOADS.RSS",
            "/feeds/../download",
        ] {
            let reply = get(&public, path, &[]);
            assert_eq!(reply.status(), StatusCode::NOT_FOUND, "{path}");
            assert_eq!(body(reply), crate::http::NOT_FOUND_BODY, "{path}");
        }
    }

    #[test]
    fn every_feed_has_a_complete_channel() {
        let (_dir, public) = network();
        for kind in FEEDS {
            let name = kind.name;
            let feed = fetch(&public, &format!("/feeds/{name}"));
            let c = &feed.channel;
            assert_eq!(c["title"], kind.title, "{name}");
            assert_eq!(
                c["link"],
                format!("http://bouncer.example.org{}", kind.page)
            );
            assert_eq!(c["description"], kind.description);
            assert_eq!(c["language"], "en");
            assert_eq!(c["ttl"], "5");
            let atom = feed.self_link.as_deref();
            assert_eq!(
                atom,
                Some(format!("http://bouncer.example.org/feeds/{name}").as_str())
            );
            let date = &c["lastBuildDate"];
            let now = model::now();
            assert!(
                [rfc822(now), rfc822(now.saturating_sub(1))].contains(date),
                "{date}"
            );
            for item in &feed.items {
                assert_eq!(item.permalink.as_deref(), Some("false"), "{item:?}");
                assert!(item.link.starts_with("http"), "{item:?}");
            }
        }
    }

    #[test]
    fn downloads_feed_counts_public_products_over_30_days() {
        let (_dir, public) = network();
        add_counts(&public);
        let feed = fetch(&public, "/feeds/downloads.rss");
        // Most downloaded first; private, inactive and undownloaded absent.
        assert_eq!(
            titles(&feed),
            [
                "firefox-120.0: 1,235 downloads",
                &format!("{HOSTILE}: 7 downloads"),
                &format!("{UNICODE}: 1 download"),
            ]
        );
        let ff = &feed.items[0];
        assert_eq!(
            ff.description,
            "1,235 downloads in the last 30 days, 5 today."
        );
        assert_eq!(
            ff.link,
            "http://bouncer.example.org/download?product=firefox-120.0"
        );
        // One item per product per day, dated that day.
        let today = model::day_of(model::now());
        assert_eq!(
            ff.guid,
            format!(
                "bouncer-downloads-product-{}-{}",
                product_id(&public, "firefox-120.0"),
                day_name(today)
            )
        );
        assert_eq!(
            ff.pub_date.as_deref(),
            Some(rfc822(u64::from(today) * 86_400).as_str())
        );
        let hostile = &feed.items[1];
        assert_eq!(
            hostile.link,
            "http://bouncer.example.org/download?product=%3Cscript%3E%26%22%27"
        );
        assert_eq!(
            feed.items[2].description,
            "1 download in the last 30 days, 1 today."
        );
    }

    #[test]
    fn products_feed_lists_available_products_newest_first() {
        let (_dir, public) = network();
        let feed = fetch(&public, "/feeds/products.rss");
        assert_eq!(titles(&feed), [UNICODE, HOSTILE, "firefox-120.0"]);
        let ff = item(&feed, "firefox-120.0");
        assert_eq!(ff.description, "For linux, win; in 2 languages.");
        // Dated when its newest system was added (after the product).
        let snapshot = public.network.snapshot().unwrap();
        let id = product_id(&public, "firefox-120.0");
        let added = snapshot
            .locations
            .iter()
            .filter(|l| l.product == id)
            .map(|l| l.created_at)
            .max()
            .unwrap()
            .max(1_700_000_000);
        assert_eq!(ff.pub_date.as_deref(), Some(rfc822(added).as_str()));
        assert!(
            ff.guid
                .starts_with(&format!("bouncer-product-{id}-{added}-")),
            "{}",
            ff.guid
        );
        assert_eq!(
            ff.link,
            "http://bouncer.example.org/download?product=firefox-120.0"
        );
        assert_eq!(item(&feed, HOSTILE).description, "For osx; in 1 language.");
        let unicode = item(&feed, UNICODE);
        assert_eq!(unicode.description, "For win; in every language.");
        assert_eq!(
            unicode.link,
            format!(
                "http://bouncer.example.org/download?product={}",
                crate::query::encode_component(UNICODE)
            )
        );
        assert!(unicode.link.is_ascii());
    }

    #[test]
    fn mirrors_feed_lists_active_mirrors_with_status_and_regions() {
        let (_dir, public) = network();
        let feed = fetch(&public, "/feeds/mirrors.rss");
        let hostile = format!("{HOSTILE}-mirror");
        assert_eq!(titles(&feed), [hostile.as_str(), "m1"]);
        let m1 = item(&feed, "m1");
        assert_eq!(m1.link, "https://m1.example.org/pub");
        assert_eq!(m1.description, "Status: up; serves the whole world.");
        assert!(
            m1.guid
                .starts_with(&format!("bouncer-mirror-{}-", mirror_id(&public, "m1"))),
            "{}",
            m1.guid
        );
        let h = item(&feed, &hostile);
        assert_eq!(h.link, "http://hostile.example.org/a&b");
        // Escaped once more for readers that take descriptions as HTML;
        // sentry's error text stays private, as on the /mirrors page.
        assert_eq!(
            h.description,
            format!(
                "Status: down since {} (failing checks); serves &lt;script&gt;&amp;\"'-region.",
                rfc822(1_700_000_000)
            )
        );
    }

    #[test]
    fn mirrors_that_were_never_checked_say_so() {
        let (_dir, public) = public();
        public
            .network
            .write(&crate::model::Actor::Program("test"), |tx| {
                tx.mirror_add(NewMirror {
                    name: "fresh".into(),
                    base_url: "http://fresh.example.org".into(),
                    rating: 1,
                    ..NewMirror::default()
                })
            })
            .unwrap();
        let feed = fetch(&public, "/feeds/mirrors.rss");
        assert_eq!(
            feed.items[0].description,
            "Status: not yet checked; serves the whole world."
        );
    }

    /// The feed says what the `/mirrors` page says, from the same
    /// state: a mirror that answers but serves none of the files is not
    /// "up", and when it starts serving its item changes.
    /// Adds "quiet": healthy since 1_700_000_000, and serving none of our
    /// files.
    fn quiet_mirror(public: &Public) -> MirrorId {
        public
            .network
            .write(&crate::model::Actor::Program("test"), |tx| {
                let m = tx.mirror_add(NewMirror {
                    name: "quiet".into(),
                    base_url: "http://quiet.example.org".into(),
                    rating: 10,
                    ..NewMirror::default()
                })?;
                tx.set_health(
                    m.id,
                    &MirrorHealth {
                        checked_at: 1_700_000_000,
                        since: 1_700_000_000,
                        ..MirrorHealth::default()
                    },
                )?;
                Ok(m.id)
            })
            .unwrap()
    }

    /// A mirror whose health stays the same but that starts (or stops)
    /// serving our files is news: a new guid and a new `pubDate`, the
    /// time its item first read so; the date stays while the text does.
    #[test]
    fn a_mirror_that_starts_serving_gets_a_new_date() {
        let (_dir, public) = network();
        let quiet = quiet_mirror(&public);
        let s = public.network.snapshot().unwrap();
        let (nothing, locations) = public.network.serving();
        assert!(locations > 0 && !nothing.contains_key(&quiet));
        let mut serving = nothing.clone();
        serving.insert(quiet, 1);
        let added = s.mirrors.iter().find(|m| m.id == quiet).unwrap().created_at;
        let news = News::default();
        let at = |serving: &HashMap<MirrorId, usize>, now: u64| {
            let items = mirror_list(&s, serving, locations, now, &news);
            let item = items.into_iter().find(|i| i.title == "quiet").unwrap();
            (item.description, item.guid, item.pub_date.unwrap())
        };
        let (t1, t2, t3, t4) = (added + 60, added + 600, added + 900, added + 1200);
        let before = at(&nothing, t1);
        assert_eq!(
            before.0,
            "Status: up, without our files; serves the whole world."
        );
        // Not rendered before: dated when it was added (after its since).
        assert_eq!(before.2, added);
        assert_eq!(at(&nothing, t2), before, "same text, same item");
        let up = at(&serving, t2);
        assert_eq!(up.0, "Status: up; serves the whole world.");
        assert_ne!(up.1, before.1);
        assert_eq!(up.2, t2, "dated when it started serving");
        assert_eq!(at(&serving, t3), up, "same text, same date");
        let again = at(&nothing, t4);
        assert_eq!(again.1, before.1, "the text of before, its guid");
        assert_eq!(again.2, t4, "but news again");
        // A state change after the last date is dated by the state.
        let news = News::default();
        assert_eq!(news.dates(&[(quiet, "a", 100)], 200), [100]);
        assert_eq!(news.dates(&[(quiet, "b", 150)], 300), [150]);
        assert_eq!(news.dates(&[(quiet, "c", 150)], 400), [400]);
        assert_eq!(news.dates(&[(quiet, "c", 150)], 500), [400]);
    }

    #[test]
    fn mirror_items_follow_the_mirror_state() {
        let (_dir, public) = network();
        let quiet = quiet_mirror(&public);
        let feed = fetch(&public, "/feeds/mirrors.rss");
        let before = item(&feed, "quiet").clone();
        assert_eq!(
            before.description,
            "Status: up, without our files; serves the whole world."
        );
        // The page words the same state the same way.
        let page =
            crate::public::testing::body(crate::public::testing::get(&public, "/mirrors", &[]));
        let row = &page[page.find(">quiet<").unwrap()..];
        assert!(row[..row.find("</tr>").unwrap()].contains(">up, without our files</span>"));
        // Once it serves a file, it is up, under a new guid.
        public
            .network
            .write(&crate::model::Actor::Sentry, |tx| {
                let win = tx.location("firefox-120.0", "win")?.unwrap();
                tx.set_availability(
                    win.id,
                    quiet,
                    &Availability {
                        present: true,
                        healthy: true,
                        checked_at: 1_700_000_000,
                        error: String::new(),
                    },
                )
            })
            .unwrap();
        let feed = fetch(&public, "/feeds/mirrors.rss");
        let after = item(&feed, "quiet");
        assert_eq!(after.description, "Status: up; serves the whole world.");
        assert_ne!(after.guid, before.guid);
    }

    #[test]
    fn mirror_downloads_feed_counts_active_mirrors_with_their_share() {
        let (_dir, public) = network();
        add_counts(&public);
        let feed = fetch(&public, "/feeds/mirror-downloads.rss");
        let hostile = format!("{HOSTILE}-mirror");
        assert_eq!(
            titles(&feed),
            ["m1: 1,010 downloads", &format!("{hostile}: 5 downloads")]
        );
        // Shares of what the listed mirrors served in the window (1,015),
        // as on the /mirrors page: the inactive mirror's 100 do not count.
        assert_eq!(
            feed.items[0].description,
            "1,010 downloads in the last 30 days: 99.5% of the listed mirrors' downloads."
        );
        assert_eq!(
            feed.items[1].description,
            "5 downloads in the last 30 days: 0.5% of the listed mirrors' downloads."
        );
        assert_eq!(feed.items[0].link, "https://m1.example.org/pub");
        assert_eq!(
            feed.items[1].guid,
            format!(
                "bouncer-mirror-downloads-{}-{}",
                mirror_id(&public, &hostile),
                day_name(model::day_of(model::now()))
            )
        );
    }

    #[test]
    fn mirror_downloads_feed_lists_mirrors_without_downloads() {
        let (_dir, public) = network();
        let feed = fetch(&public, "/feeds/mirror-downloads.rss");
        assert_eq!(feed.items.len(), 2);
        for item in &feed.items {
            assert!(item.description.starts_with("0 downloads"), "{item:?}");
            assert!(item.description.contains(": 0.0% of the"), "{item:?}");
        }
    }

    #[test]
    fn hostile_and_unicode_names_round_trip_exactly() {
        let (_dir, public) = network();
        add_counts(&public);
        let products = fetch(&public, "/feeds/products.rss");
        assert!(products.items.iter().any(|i| i.title == HOSTILE));
        assert!(products.items.iter().any(|i| i.title == UNICODE));
        let downloads = fetch(&public, "/feeds/downloads.rss");
        assert!(
            downloads
                .items
                .iter()
                .any(|i| i.title == format!("{HOSTILE}: 7 downloads"))
        );
        let mirrors = fetch(&public, "/feeds/mirrors.rss");
        assert!(
            mirrors
                .items
                .iter()
                .any(|i| i.title == format!("{HOSTILE}-mirror"))
        );
        let xml = body(get(&public, "/feeds/products.rss", &[]));
        assert!(!xml.contains("<script>"), "{xml}");
    }

    #[test]
    fn private_inactive_and_hidden_never_appear() {
        let (_dir, public) = network();
        add_counts(&public);
        for Kind { name, .. } in FEEDS {
            let xml = body(get(&public, &format!("/feeds/{name}"), &[]));
            parse(&xml);
            for hidden in [
                "secret",
                "retired",
                "hidden",
                "nolocation",
                "ops",
                "refused",
                "/secret/",
            ] {
                assert!(!xml.contains(hidden), "{name} shows {hidden:?}:\n{xml}");
            }
        }
    }

    #[test]
    fn guids_are_stable_across_builds() {
        let (_dir, public) = network();
        add_counts(&public);
        let guids = |public: &Public| {
            FEEDS
                .iter()
                .map(|kind| {
                    let name = kind.name;
                    fetch(public, &format!("/feeds/{name}"))
                        .items
                        .into_iter()
                        .map(|i| (i.title, i.guid))
                        .collect::<std::collections::BTreeMap<_, _>>()
                })
                .collect::<Vec<_>>()
        };
        let before = guids(&public);
        // A change rebuilds every feed; the new product gets its own guid.
        public
            .network
            .write(&crate::model::Actor::Program("test"), |tx| {
                tx.product_add(NewProduct {
                    name: "firefox-121.0".into(),
                    ..NewProduct::default()
                })?;
                tx.location_add("firefox-121.0", "win", "/ff121/setup.exe")
            })
            .unwrap();
        let after = guids(&public);
        for (b, a) in before.iter().zip(&after) {
            for (title, guid) in b {
                assert_eq!(a.get(title), Some(guid), "{title}");
            }
        }
        let products = FEEDS.iter().position(|k| k.name == "products.rss").unwrap();
        assert_eq!(after[products].len(), before[products].len() + 1);
        let mut all: Vec<&String> = after.iter().flat_map(|f| f.values()).collect();
        let n = all.len();
        all.sort();
        all.dedup();
        assert_eq!(all.len(), n, "guids are unique across feeds");
    }

    /// The guid and date of `title`'s item in feed `name`.
    fn guid_and_date(public: &Public, name: &str, title: &str) -> (String, Option<String>) {
        let feed = fetch(public, &format!("/feeds/{name}"));
        let i = item(&feed, title);
        (i.guid.clone(), i.pub_date.clone())
    }

    /// A mirror going down, and up again, is news each time: a new guid
    /// and the time of the change as its date.
    #[test]
    fn a_mirror_changing_state_gets_a_new_guid_and_date() {
        let (_dir, public) = network();
        let id = mirror_id(&public, "m1");
        let set = |healthy: bool, since: u64| {
            public
                .network
                .write(&crate::model::Actor::Sentry, |tx| {
                    tx.set_health(
                        id,
                        &MirrorHealth {
                            healthy,
                            checked_at: since,
                            since,
                            error: if healthy { "" } else { "refused" }.into(),
                            ..MirrorHealth::default()
                        },
                    )
                })
                .unwrap();
        };
        let created = public
            .network
            .snapshot()
            .unwrap()
            .mirror("m1")
            .unwrap()
            .created_at;
        let t1 = created + 1000;
        set(true, t1);
        let up = guid_and_date(&public, "mirrors.rss", "m1");
        assert_eq!(up.1.as_deref(), Some(rfc822(t1).as_str()));
        // The same state seen again: the same item.
        set(true, t1);
        assert_eq!(guid_and_date(&public, "mirrors.rss", "m1"), up);
        set(false, t1 + 600);
        let down = guid_and_date(&public, "mirrors.rss", "m1");
        assert_ne!(down.0, up.0, "down is news");
        assert_eq!(down.1.as_deref(), Some(rfc822(t1 + 600).as_str()));
        set(true, t1 + 1200);
        let again = guid_and_date(&public, "mirrors.rss", "m1");
        assert_ne!(again.0, down.0, "up again is news");
        assert_ne!(again.0, up.0, "and not the old item");
        assert_eq!(again.1.as_deref(), Some(rfc822(t1 + 1200).as_str()));
        // Serving another region is a change of what the item says.
        public
            .network
            .write(&crate::model::Actor::Program("test"), |tx| {
                tx.mirror_update("m1", |m| m.regions = vec![format!("{HOSTILE}-region")])
                    .map(drop)
            })
            .unwrap();
        let moved = guid_and_date(&public, "mirrors.rss", "m1");
        assert_ne!(moved.0, again.0);
    }

    /// A product offered for another system is news; one that stays the
    /// same keeps its item.
    #[test]
    fn a_product_with_a_new_system_gets_a_new_guid_and_date() {
        let (_dir, public) = network();
        let before = guid_and_date(&public, "products.rss", "firefox-120.0");
        let hostile = guid_and_date(&public, "products.rss", HOSTILE);
        let added = public
            .network
            .write(&crate::model::Actor::Program("test"), |tx| {
                tx.location_add("firefox-120.0", "osx", "/ff/mac/:lang/ff.dmg")
            })
            .unwrap()
            .created_at;
        let after = guid_and_date(&public, "products.rss", "firefox-120.0");
        assert_ne!(after.0, before.0);
        assert_eq!(after.1.as_deref(), Some(rfc822(added).as_str()));
        assert_eq!(guid_and_date(&public, "products.rss", HOSTILE), hostile);
    }

    #[test]
    fn feeds_are_reused_until_the_network_changes() {
        let (_dir, public) = network();
        let first = body(get(&public, "/feeds/downloads.rss", &[]));
        assert!(parse(&first).items.is_empty());
        add_counts(&public);
        // Counts alone do not rebuild within the minute.
        assert_eq!(body(get(&public, "/feeds/downloads.rss", &[])), first);
        // Another host gets its own links, from the same (minute-old)
        // counts: a made-up Host costs no database read.
        let other = body(get(
            &public,
            "/feeds/downloads.rss",
            &[("host", "bouncer.example.org")],
        ));
        assert!(other.contains("http://bouncer.example.org/feeds/downloads.rss"));
        assert!(parse(&other).items.is_empty());
    }

    #[test]
    fn head_is_answered_with_the_headers() {
        let (_dir, public) = network();
        let headers = hyper::HeaderMap::new();
        let reply = super::super::handle(
            &public,
            &Request {
                method: &hyper::Method::HEAD,
                path: "/feeds/mirrors.rss",
                query: "",
                headers: &headers,
                via_proxy: false,
            },
        );
        assert_eq!(reply.status(), StatusCode::OK);
        assert_eq!(reply.headers()[CACHE_CONTROL], "public, max-age=300");
    }

    #[test]
    fn shares_round_half_up() {
        assert_eq!(share(0, 0), "0.0%");
        assert_eq!(share(1, 3), "33.3%");
        assert_eq!(share(2, 3), "66.7%");
        assert_eq!(share(1, 2000), "0.1%");
        assert_eq!(share(1, 2001), "0.0%");
        assert_eq!(share(5, 5), "100.0%");
    }
}
