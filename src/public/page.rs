//! The public pages' shared layout.

use maud::{Markup, html};

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
        link rel="alternate" type="application/rss+xml" title="Products" href="/feeds/products.rss";
        link rel="alternate" type="application/rss+xml" title="Downloads" href="/feeds/downloads.rss";
        link rel="alternate" type="application/rss+xml" title="Mirrors" href="/feeds/mirrors.rss";
    };
    let body = html! {
                header.site {
                    a.brand href="/download" { "Downloads" }
                    nav {
                        @for (path, label) in NAV {
                            a.current[*path == section] href=(path) { (label) }
                        }
                    }
                }
                main.public { (body) }
                footer.site {
                    "Feeds: "
                    a href="/feeds/products.rss" { "products" } " · "
                    a href="/feeds/downloads.rss" { "downloads" } " · "
                    a href="/feeds/mirrors.rss" { "mirrors" } " · "
                    a href="/feeds/mirror-downloads.rss" { "downloads per mirror" }
                }
    };
    crate::http::reply::document(title, head, Some("public"), body)
}
