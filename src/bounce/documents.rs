//! Documents about a file for download clients and people: the Metalink v4
//! document (RFC 5854) that `?metalink` answers, and the HTML mirror list
//! of `?mirrorlist`. Built from the index only: no disk, no lock.

use std::fmt::Write;

use crate::index::{FileMeta, Index, Target};

/// The media type of Metalink v4 documents (RFC 5854 §4.1).
pub const METALINK_TYPE: &str = "application/metalink4+xml";

/// One place to download from, best first.
#[derive(Debug)]
pub struct Url<'a> {
    /// The full URL (percent-encoded, as redirects use it).
    pub url: String,
    /// ISO 3166-1 alpha-2 country code, lower case, if known.
    pub location: Option<&'a str>,
}

/// The name a client should save `path` (a percent-encoded URL path) as:
/// its last segment, decoded, without anything that could leave the
/// download directory or break a document (`/`, `\`, control characters);
/// `download` when nothing usable is left.
pub fn file_name(path: &str) -> String {
    let last = path.rsplit('/').next().unwrap_or("");
    let decoded = crate::query::percent_decode(last);
    let name: String = decoded
        .chars()
        .map(|c| match c {
            '/' | '\\' => '_',
            c if c.is_control() || c == '\u{fffe}' || c == '\u{ffff}' => '_',
            c => c,
        })
        .collect();
    let trimmed = name.trim();
    if trimmed.is_empty() || trimmed.chars().all(|c| c == '.') {
        "download".into()
    } else {
        trimmed.into()
    }
}

/// `s` escaped for XML text and attribute values.
fn xml(s: &str, out: &mut String) {
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            // Not allowed in XML 1.0 at all, escaped or not.
            c if (c.is_control() && !matches!(c, '\t' | '\n' | '\r'))
                || c == '\u{fffe}'
                || c == '\u{ffff}' =>
            {
                out.push('\u{fffd}')
            }
            c => out.push(c),
        }
    }
}

/// A Metalink v4 document for one file called `name`: its size and
/// digests when known, and `urls` best first (priority 1 = best).
pub fn metalink(name: &str, file: Option<&FileMeta>, urls: &[Url<'_>], published: u64) -> String {
    let mut out = String::with_capacity(512 + urls.len() * 160);
    out.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    out.push_str("<metalink xmlns=\"urn:ietf:params:xml:ns:metalink\">\n");
    let _ = writeln!(
        out,
        "  <generator>Bouncer/{}</generator>",
        env!("CARGO_PKG_VERSION")
    );
    let _ = writeln!(
        out,
        "  <published>{}</published>",
        crate::log::timestamp(published)
    );
    out.push_str("  <file name=\"");
    xml(name, &mut out);
    out.push_str("\">\n");
    if let Some(file) = file {
        if let Some(size) = file.size {
            let _ = writeln!(out, "    <size>{size}</size>");
        }
        for (kind, digest) in file.hashes() {
            let _ = writeln!(out, "    <hash type=\"{kind}\">{digest}</hash>");
        }
    }
    for (i, u) in urls.iter().enumerate() {
        // RFC 5854 §4.2.16.2: 1 to 999999.
        let _ = write!(out, "    <url priority=\"{}\"", (i + 1).min(999_999));
        if let Some(cc) = u.location {
            out.push_str(" location=\"");
            xml(cc, &mut out);
            out.push('"');
        }
        out.push('>');
        xml(&u.url, &mut out);
        out.push_str("</url>\n");
    }
    out.push_str("  </file>\n</metalink>\n");
    out
}

/// One row of the mirror list.
struct Row<'a> {
    name: &'a str,
    url: String,
    country: Option<&'a str>,
    /// Share of this file's downloads, in percent (serving mirrors only).
    share: Option<f64>,
    /// `up`, `down` or `idle`.
    class: &'static str,
    status: String,
    checked: Option<u64>,
}

/// The HTML page listing the mirrors that have `target`'s file: those that
/// serve it (with their share of its downloads), then those that have it
/// but get none (down, rated 0, or http for an https-only download), and
/// the file's size and digests. `metalink` is the link to its Metalink.
pub fn mirrorlist(index: &Index, target: &Target<'_>, https_only: bool, metalink: &str) -> String {
    let path = target.path();
    let name = file_name(&path);
    let now = crate::model::now();
    let serving = target.location.candidates(https_only);
    let total = serving.total().max(1) as f64;
    let mut rows: Vec<Row<'_>> = Vec::new();
    for (m, weight) in serving.by_weight() {
        let mirror = index.mirror(m);
        let flapping = mirror.health.as_ref().is_some_and(|h| h.is_flapping(now));
        rows.push(Row {
            name: &mirror.name,
            url: format!("{}{path}", mirror.url(https_only)),
            country: mirror.country(),
            share: Some(weight as f64 * 100.0 / total),
            class: "up",
            status: if flapping {
                "up (flapping: less traffic until it settles)".into()
            } else {
                "up".into()
            },
            checked: mirror.health.as_ref().map(|h| h.checked_at),
        });
    }
    // Eligible http mirrors left out of an https-only request.
    let mut idle: Vec<u32> = Vec::new();
    if https_only {
        idle.extend(
            target
                .location
                .candidates(false)
                .iter()
                .map(|(m, _)| m)
                .filter(|&m| !index.mirror(m).is_https()),
        );
    }
    idle.extend_from_slice(target.location.idle_mirrors());
    idle.sort_unstable_by(|&a, &b| index.mirror(a).name.cmp(&index.mirror(b).name));
    idle.dedup();
    for m in idle {
        let mirror = index.mirror(m);
        let health = mirror.health.as_ref();
        let (class, status) = match health {
            Some(h) if !h.healthy => (
                "down",
                if h.error.is_empty() {
                    "down".to_string()
                } else {
                    format!("down: {}", h.error)
                },
            ),
            _ if mirror.rating == 0 => ("idle", "out of rotation (rating 0)".to_string()),
            _ if !mirror.is_https() => ("idle", "not used: this download is https only".into()),
            _ => ("idle", "not used".into()),
        };
        rows.push(Row {
            name: &mirror.name,
            url: format!("{}{path}", mirror.url(https_only)),
            country: mirror.country(),
            share: None,
            class,
            status,
            checked: health.map(|h| h.checked_at),
        });
    }
    let hashes: Vec<(&str, String)> = target.file.map(FileMeta::hashes).unwrap_or_default();
    let size = target.file.and_then(|f| f.size);
    let title = format!("Mirrors of {name}");
    let body = maud::html! {
                main {
                    h1 { (title) }
                    p { "Path: " code { (crate::query::percent_decode(&path)) } }
                    table.file {
                        tbody {
                            tr {
                                th scope="row" { "Size" }
                                td {
                                    @match size {
                                        Some(bytes) => { (bytes) " bytes" }
                                        None => { "unknown" }
                                    }
                                }
                            }
                            @for (kind, digest) in &hashes {
                                tr {
                                    th scope="row" { (kind.to_uppercase()) }
                                    td { code { (digest) } }
                                }
                            }
                        }
                    }
                    @if hashes.is_empty() {
                        p { "No checksums are known for this file." }
                    }
                    @if rows.is_empty() {
                        p { "No mirror has this file right now." }
                    } @else {
                        table.mirrors {
                            thead {
                                tr {
                                    th scope="col" { "Mirror" }
                                    th scope="col" { "Status" }
                                    th scope="col" { "Share" }
                                    th scope="col" { "Country" }
                                    th scope="col" { "Last checked" }
                                    th scope="col" { "URL" }
                                }
                            }
                            tbody {
                                @for row in &rows {
                                    tr class=(row.class) {
                                        th scope="row" { (row.name) }
                                        td { (row.status) }
                                        td.number {
                                            @if let Some(share) = row.share {
                                                (format!("{share:.1} %"))
                                            }
                                        }
                                        td { (row.country.unwrap_or("")) }
                                        td {
                                            @match row.checked {
                                                Some(at) if at > 0 => { (crate::model::utc(at)) }
                                                _ => { "not yet" }
                                            }
                                        }
                                        td { a href=(row.url) rel="nofollow" { (row.url) } }
                                    }
                                }
                            }
                        }
                    }
                    p {
                        a href=(metalink) { "Metalink" }
                        " (for download managers such as aria2)"
                    }
                }
    };
    crate::http::reply::document(&title, crate::http::reply::public_css(), None, body).into_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::FileInfo;

    fn meta() -> FileMeta {
        FileMeta::new(&FileInfo {
            path: "/a/Setup%201.0.exe".into(),
            size: Some(1234),
            md5: Some("900150983cd24fb0d6963f7d28e17f72".into()),
            sha1: Some("a9993e364706816aba3e25717850c26c9cd0d89d".into()),
            sha256: Some("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad".into()),
            ..Default::default()
        })
    }

    #[test]
    fn file_names_stay_in_the_download_directory() {
        assert_eq!(
            file_name("/a/b/Firefox%20Setup%201.0.exe"),
            "Firefox Setup 1.0.exe"
        );
        assert_eq!(file_name("/a/..%2F..%2Fetc%2Fpasswd"), ".._.._etc_passwd");
        assert_eq!(file_name("/a/%2e%2e"), "download");
        assert_eq!(file_name("/a/"), "download");
        assert_eq!(file_name("/a/x%00y%0A"), "x_y_");
        assert_eq!(file_name("/a/%5C..%5Cwin.ini"), "_.._win.ini");
    }

    #[test]
    fn metalink_documents_parse_and_escape() {
        let urls = [
            Url {
                url: "http://a.example/pub/a/Setup%201.0.exe?x=1&y=<2>".into(),
                location: Some("de"),
            },
            Url {
                url: "https://b.example/a/Setup%201.0.exe".into(),
                location: None,
            },
        ];
        let name = "Setup \"1.0\" <&'>\u{1}.exe";
        let doc = metalink(name, Some(&meta()), &urls, 1_700_000_000);
        let xml = roxmltree::Document::parse(&doc).expect("well-formed XML");
        let root = xml.root_element();
        assert_eq!(root.tag_name().name(), "metalink");
        assert_eq!(
            root.tag_name().namespace(),
            Some("urn:ietf:params:xml:ns:metalink")
        );
        fn child<'a, 'i>(n: roxmltree::Node<'a, 'i>, tag: &str) -> Vec<roxmltree::Node<'a, 'i>> {
            n.children()
                .filter(|c| c.is_element() && c.tag_name().name() == tag)
                .collect()
        }
        assert_eq!(
            child(root, "published")[0].text(),
            Some("2023-11-14T22:13:20Z")
        );
        let file = child(root, "file")[0];
        assert_eq!(
            file.attribute("name"),
            Some("Setup \"1.0\" <&'>\u{fffd}.exe")
        );
        assert_eq!(child(file, "size")[0].text(), Some("1234"));
        let hashes: Vec<(&str, &str)> = child(file, "hash")
            .iter()
            .map(|h| (h.attribute("type").unwrap(), h.text().unwrap()))
            .collect();
        assert_eq!(
            hashes,
            vec![
                (
                    "sha-256",
                    "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
                ),
                ("sha-1", "a9993e364706816aba3e25717850c26c9cd0d89d"),
                ("md5", "900150983cd24fb0d6963f7d28e17f72"),
            ]
        );
        let got: Vec<(Option<&str>, Option<&str>, Option<&str>)> = child(file, "url")
            .iter()
            .map(|u| (u.attribute("priority"), u.attribute("location"), u.text()))
            .collect();
        assert_eq!(
            got,
            vec![
                (
                    Some("1"),
                    Some("de"),
                    Some("http://a.example/pub/a/Setup%201.0.exe?x=1&y=<2>")
                ),
                (Some("2"), None, Some("https://b.example/a/Setup%201.0.exe")),
            ]
        );
        // Percent-encoding stays as it is; nothing raw leaks.
        assert!(doc.contains("Setup%201.0.exe?x=1&amp;y=&lt;2&gt;"));
        assert!(!doc.contains('\u{1}'));
    }

    #[test]
    fn unknown_files_have_no_size_or_hash() {
        let doc = metalink("a.exe", None, &[], 0);
        let xml = roxmltree::Document::parse(&doc).expect("well-formed XML");
        assert!(
            !xml.descendants()
                .any(|n| matches!(n.tag_name().name(), "size" | "hash" | "url"))
        );
        assert!(doc.contains("<published>1970-01-01T00:00:00Z</published>"));
    }
}
