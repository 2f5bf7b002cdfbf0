//! Errors worded for the web: the admin pages show what went wrong with a
//! link to the page that fixes it, where the command line's wording of the
//! same error ([`crate::error::Error`]'s `Display`) names a `bouncer`
//! command. The CLI keeps its wording; pages call [`markup`] (a form's
//! error, links included) or [`text`] (a flash message, which carries no
//! links, so it names the page instead).

use maud::{Markup, html};

use crate::error::{Error, Thing};

/// One part of a message: text, or a link to an admin page.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Piece {
    Text(String),
    /// A link: (href, text).
    Link(String, String),
    /// A value as typed (a URL, a path).
    Code(String),
}

/// The admin page that lists `what`, and its name in a sentence.
fn list_page(what: Thing) -> (&'static str, &'static str) {
    match what {
        Thing::Product | Thing::Alias => ("/admin/products", "the Products page"),
        Thing::Os => ("/admin/oses", "the Systems page"),
        Thing::Language | Thing::Location => ("/admin/products", "the product's page"),
        Thing::Mirror => ("/admin/mirrors", "the Mirrors page"),
        Thing::Region => ("/admin/regions", "the Regions page"),
        Thing::User => ("/admin/users", "the Users page"),
    }
}

/// `e` in words for the web, as pieces.
fn pieces(e: &Error) -> Vec<Piece> {
    use Piece::{Code, Link, Text};
    match e {
        Error::NotFound { what, name } => {
            let (href, page) = list_page(*what);
            let then = match what {
                Thing::Os => " adds operating systems.",
                Thing::Location | Thing::Language => " lists the ones there are.",
                _ => " lists those there are.",
            };
            vec![
                Text(format!("No {what} named {name:?}: ")),
                Link(href.into(), page.into()),
                Text(then.into()),
            ]
        }
        Error::BaseUrlTaken { base_url, mirror } => {
            let there = Link(
                format!("/admin/mirrors/{}", super::page::seg(mirror)),
                mirror.clone(),
            );
            vec![
                Text("Mirror ".into()),
                there.clone(),
                Text(" has the base URL ".into()),
                Code(base_url.clone()),
                Text(
                    " already; a second mirror there would get that host's downloads twice. Change or remove "
                        .into(),
                ),
                there,
                Text(" instead, or give this one the address of another host.".into()),
            ]
        }
        other => vec![Text(super::page::sentence(&without_cli(
            &other.to_string(),
        )))],
    }
}

/// `message` without the command-line advice some rules append: a
/// parenthesised `` (`bouncer …`) `` is dropped, and "run `bouncer geoip
/// import` again" becomes the GeoIP page's import.
pub fn without_cli(message: &str) -> String {
    let mut out = message.replace(
        "run `bouncer geoip import` again",
        "import GeoIP data again on the GeoIP page",
    );
    while let Some(start) = out.find(" (`bouncer ") {
        match out[start..].find("`)") {
            Some(end) => out.replace_range(start..start + end + 2, ""),
            None => break,
        }
    }
    out
}

/// `e` as a web page says it: with links to the pages that fix it.
pub fn markup(e: &Error) -> Markup {
    html! {
        @for piece in pieces(e) {
            @match piece {
                Piece::Text(t) => (t),
                Piece::Link(href, label) => a href=(href) { (label) },
                Piece::Code(value) => code { (value) },
            }
        }
    }
}

/// `e` as a flash message says it (no links: the pages are named).
pub fn text(e: &Error) -> String {
    pieces(e)
        .into_iter()
        .map(|p| match p {
            Piece::Text(t) => t,
            Piece::Link(_, label) | Piece::Code(label) => label,
        })
        .collect()
}

/// An error above a form, worded for the web (nothing without one).
pub fn alert(message: Option<&Markup>) -> Markup {
    html! {
        @if let Some(m) = message { p.flash.error role="alert" { (m) } }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn not_found_links_the_list_instead_of_a_command() {
        let e = Error::not_found(Thing::Product, "fx");
        assert!(e.to_string().contains("`bouncer product list`"));
        let m = markup(&e).into_string();
        assert_eq!(
            m,
            r#"No product named &quot;fx&quot;: <a href="/admin/products">the Products page</a> lists those there are."#
        );
        assert_eq!(
            text(&e),
            "No product named \"fx\": the Products page lists those there are."
        );
        let m = markup(&Error::not_found(Thing::Os, "plan9")).into_string();
        assert!(m.contains(r#"<a href="/admin/oses">"#), "{m}");
        assert!(!m.contains("bouncer"), "{m}");
    }

    #[test]
    fn command_advice_is_dropped_from_other_messages() {
        assert_eq!(
            without_cli(
                "2 location(s) use operating system \"x\": remove them first (`bouncer location list`)"
            ),
            "2 location(s) use operating system \"x\": remove them first"
        );
        assert_eq!(
            without_cli("damaged; run `bouncer geoip import` again"),
            "damaged; import GeoIP data again on the GeoIP page"
        );
        assert_eq!(without_cli("no advice (here)"), "no advice (here)");
        let e = Error::BaseUrlTaken {
            base_url: "https://a.example/".into(),
            mirror: "a".into(),
        };
        assert!(!text(&e).contains("bouncer"), "{}", text(&e));
        assert!(
            markup(&e)
                .into_string()
                .contains(r#"Mirror <a href="/admin/mirrors/a">a</a> has the base URL <code>https://a.example/</code> already"#)
        );
    }
}
