//! The public pages' shared layout.

use maud::{Markup, html};

use super::feeds::FEEDS;

/// The sections in the header: (path, label).
const NAV: &[(&str, &str)] = &[
    ("/download", "Download"),
    ("/mirrors", "Mirrors"),
    ("/stats", "Statistics"),
];

/// A whole public page; `section` is the current page's path.
pub fn layout(section: &str, title: &str, body: Markup) -> Markup {
    let head = html! {
        (crate::http::reply::public_css())
        // Every feed, in its head (so readers find them) and its footer
        // (so people do).
        @for feed in FEEDS {
            link rel="alternate" type="application/rss+xml" title=(feed.title) href=(feed.path());
        }
    };
    let body = html! {
                header.site {
                    a.brand href="/download" { "Downloads" }
                    nav aria-label="Pages" {
                        @for (path, label) in NAV {
                            a.current[*path == section] href=(path)
                                aria-current=[(*path == section).then_some("page")] { (label) }
                        }
                    }
                }
                main.public { (body) }
                footer.site {
                    "RSS feeds: "
                    nav aria-label="RSS feeds" {
                        @for (i, feed) in FEEDS.iter().enumerate() {
                            @if i > 0 { " · " }
                            a href=(feed.path()) type="application/rss+xml" title=(feed.title) { (feed.link_text) }
                        }
                    }
                }
    };
    crate::http::reply::document(title, head, Some("public"), body)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every feed the site serves is advertised in the head and linked in
    /// the footer of every public page.
    #[test]
    fn all_four_feeds_are_advertised() {
        let page = layout("/download", "Download", html! { h1 { "x" } }).into_string();
        let head = &page[..page.find("</head>").unwrap()];
        let footer = &page[page.find("<footer").unwrap()..];
        assert_eq!(FEEDS.len(), 4);
        for feed in FEEDS {
            let (path, title) = (feed.path(), feed.title);
            assert!(
                head.contains(&format!(
                    r#"<link rel="alternate" type="application/rss+xml" title="{title}" href="{path}">"#
                )),
                "{path} not in the head: {head}"
            );
            assert!(
                footer.contains(&format!(r#"<a href="{path}""#)),
                "{path} not in the footer: {footer}"
            );
        }
        assert_eq!(
            head.matches(r#"rel="alternate" type="application/rss+xml""#)
                .count(),
            FEEDS.len()
        );
    }
}
