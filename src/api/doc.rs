//! The documents the API answers with, and their two spellings: Tuxedo's
//! XML (no whitespace, self-closing empty elements, attributes in the
//! order Tuxedo wrote them) and a JSON mapping of the same tree.
//!
//! Both writers escape everything they are given: names, paths and
//! messages that echo user input cannot break out of the document.

use std::fmt::Write;

/// The XML declaration every document starts with (as Python's minidom
/// writes it; release tooling parses it).
pub const XML_DECLARATION: &str = r#"<?xml version="1.0" encoding="utf-8"?>"#;

/// A product with its languages (`product_show`, `product_add`,
/// `product_language_add`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProductDoc {
    /// The product's id.
    pub id: u64,
    /// Its name as spelled by the operator.
    pub name: String,
    /// Its languages, sorted.
    pub languages: Vec<String>,
}

/// A product with (some of) its locations (`location_show`,
/// `location_add`, `location_modify`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProductLocations {
    /// The product's id.
    pub id: u64,
    /// Its name.
    pub name: String,
    /// Its locations, by id.
    pub locations: Vec<LocationDoc>,
}

/// One location.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LocationDoc {
    /// The location's id.
    pub id: u64,
    /// Its operating system.
    pub os: String,
    /// Its path template.
    pub path: String,
}

/// One `uptake` item.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UptakeItem {
    /// The product's name.
    pub product: String,
    /// The operating system.
    pub os: String,
    /// Sum of ratings of active, healthy mirrors that have the file.
    pub available: u64,
    /// Sum of ratings of active mirrors.
    pub total: u64,
}

/// Every answer the API gives.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Doc {
    /// `<products>`.
    Products(Vec<ProductDoc>),
    /// `<locations>`.
    Locations(Vec<ProductLocations>),
    /// `<mirror_uptake>`.
    Uptake(Vec<UptakeItem>),
    /// `<mirrors>`: the base URLs of active mirrors.
    Mirrors(Vec<String>),
    /// `<success>TEXT</success>`.
    Success(String),
    /// `<error number="N">TEXT</error>`; without a number for failures
    /// Tuxedo never numbered (authentication, methods, the server's own).
    Error {
        /// Tuxedo's error number.
        number: Option<u32>,
        /// What went wrong.
        message: String,
    },
}

impl Doc {
    /// The document as XML, declaration included.
    pub fn to_xml(&self) -> String {
        let mut x = String::with_capacity(256);
        x.push_str(XML_DECLARATION);
        match self {
            Doc::Products(products) => list(&mut x, "products", products, |x, p| {
                x.push_str("<product");
                attr(x, "id", &p.id.to_string());
                attr(x, "name", &p.name);
                if p.languages.is_empty() {
                    x.push_str("/>");
                    return;
                }
                x.push('>');
                for l in &p.languages {
                    x.push_str("<language");
                    attr(x, "locale", l);
                    x.push_str("/>");
                }
                x.push_str("</product>");
            }),
            Doc::Locations(products) => list(&mut x, "locations", products, |x, p| {
                x.push_str("<product");
                attr(x, "id", &p.id.to_string());
                attr(x, "name", &p.name);
                if p.locations.is_empty() {
                    x.push_str("/>");
                    return;
                }
                x.push('>');
                for l in &p.locations {
                    x.push_str("<location");
                    attr(x, "id", &l.id.to_string());
                    attr(x, "os", &l.os);
                    x.push('>');
                    text(x, &l.path);
                    x.push_str("</location>");
                }
                x.push_str("</product>");
            }),
            Doc::Uptake(items) => list(&mut x, "mirror_uptake", items, |x, i| {
                x.push_str("<item><product>");
                text(x, &i.product);
                x.push_str("</product><os>");
                text(x, &i.os);
                let _ = write!(
                    x,
                    "</os><available>{}</available><total>{}</total></item>",
                    i.available, i.total
                );
            }),
            Doc::Mirrors(urls) => list(&mut x, "mirrors", urls, |x, url| {
                x.push_str("<mirror");
                attr(x, "baseurl", url);
                x.push_str("/>");
            }),
            Doc::Success(message) => {
                x.push_str("<success>");
                text(&mut x, message);
                x.push_str("</success>");
            }
            Doc::Error { number, message } => {
                x.push_str("<error");
                if let Some(n) = number {
                    attr(&mut x, "number", &n.to_string());
                }
                x.push('>');
                text(&mut x, message);
                x.push_str("</error>");
            }
        }
        x
    }

    /// The document as JSON (see the module documentation of
    /// [`crate::api`] for the shapes).
    pub fn to_json(&self) -> String {
        let mut j = String::with_capacity(256);
        match self {
            Doc::Products(products) => {
                j.push_str(r#"{"products":["#);
                for (i, p) in products.iter().enumerate() {
                    comma(&mut j, i);
                    let _ = write!(j, r#"{{"id":{},"name":"#, p.id);
                    string(&mut j, &p.name);
                    j.push_str(r#","languages":["#);
                    for (k, l) in p.languages.iter().enumerate() {
                        comma(&mut j, k);
                        string(&mut j, l);
                    }
                    j.push_str("]}");
                }
                j.push_str("]}");
            }
            Doc::Locations(products) => {
                j.push_str(r#"{"locations":["#);
                for (i, p) in products.iter().enumerate() {
                    comma(&mut j, i);
                    let _ = write!(j, r#"{{"id":{},"name":"#, p.id);
                    string(&mut j, &p.name);
                    j.push_str(r#","locations":["#);
                    for (k, l) in p.locations.iter().enumerate() {
                        comma(&mut j, k);
                        let _ = write!(j, r#"{{"id":{},"os":"#, l.id);
                        string(&mut j, &l.os);
                        j.push_str(r#","path":"#);
                        string(&mut j, &l.path);
                        j.push('}');
                    }
                    j.push_str("]}");
                }
                j.push_str("]}");
            }
            Doc::Uptake(items) => {
                j.push_str(r#"{"mirror_uptake":["#);
                for (i, item) in items.iter().enumerate() {
                    comma(&mut j, i);
                    j.push_str(r#"{"product":"#);
                    string(&mut j, &item.product);
                    j.push_str(r#","os":"#);
                    string(&mut j, &item.os);
                    let _ = write!(
                        j,
                        r#","available":{},"total":{}}}"#,
                        item.available, item.total
                    );
                }
                j.push_str("]}");
            }
            Doc::Mirrors(urls) => {
                j.push_str(r#"{"mirrors":["#);
                for (i, url) in urls.iter().enumerate() {
                    comma(&mut j, i);
                    j.push_str(r#"{"baseurl":"#);
                    string(&mut j, url);
                    j.push('}');
                }
                j.push_str("]}");
            }
            Doc::Success(message) => {
                j.push_str(r#"{"success":"#);
                string(&mut j, message);
                j.push('}');
            }
            Doc::Error { number, message } => {
                j.push_str(r#"{"error":{"#);
                if let Some(n) = number {
                    let _ = write!(j, r#""number":{n},"#);
                }
                j.push_str(r#""message":"#);
                string(&mut j, message);
                j.push_str("}}");
            }
        }
        j
    }
}

/// `<root>items…</root>`, or `<root/>` when there are none.
fn list<T>(x: &mut String, root: &str, items: &[T], mut item: impl FnMut(&mut String, &T)) {
    if items.is_empty() {
        let _ = write!(x, "<{root}/>");
        return;
    }
    let _ = write!(x, "<{root}>");
    for i in items {
        item(x, i);
    }
    let _ = write!(x, "</{root}>");
}

/// ` name="value"`, escaped.
fn attr(x: &mut String, name: &str, value: &str) {
    let _ = write!(x, " {name}=\"");
    escape_xml(x, value, true);
    x.push('"');
}

/// Character data, escaped.
fn text(x: &mut String, value: &str) {
    escape_xml(x, value, false);
}

/// Escapes markup characters, and in attributes the whitespace that
/// parsers would otherwise normalise away. Characters XML 1.0 cannot carry
/// at all (most C0 controls, U+FFFE, U+FFFF) become U+FFFD, so a hostile
/// string never makes the document unparsable.
fn escape_xml(x: &mut String, value: &str, in_attribute: bool) {
    for c in value.chars() {
        match c {
            '&' => x.push_str("&amp;"),
            '<' => x.push_str("&lt;"),
            '>' => x.push_str("&gt;"),
            '"' if in_attribute => x.push_str("&quot;"),
            '\r' => x.push_str("&#13;"),
            '\n' if in_attribute => x.push_str("&#10;"),
            '\t' if in_attribute => x.push_str("&#9;"),
            '\t' | '\n' => x.push(c),
            c if c < ' ' || c == '\u{FFFE}' || c == '\u{FFFF}' => x.push('\u{FFFD}'),
            c => x.push(c),
        }
    }
}

fn comma(j: &mut String, index: usize) {
    if index > 0 {
        j.push(',');
    }
}

/// A JSON string literal. Besides what JSON requires, `<`, `>`, `&` and
/// the JavaScript line separators are escaped, so the text stays inert if
/// someone embeds it in HTML or a script.
fn string(j: &mut String, value: &str) {
    j.push('"');
    for c in value.chars() {
        match c {
            '"' => j.push_str("\\\""),
            '\\' => j.push_str("\\\\"),
            '\n' => j.push_str("\\n"),
            '\r' => j.push_str("\\r"),
            '\t' => j.push_str("\\t"),
            c if c < ' ' || matches!(c, '<' | '>' | '&' | '\u{2028}' | '\u{2029}') => {
                let _ = write!(j, "\\u{:04x}", c as u32);
            }
            c => j.push(c),
        }
    }
    j.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    fn product(id: u64, name: &str, languages: &[&str]) -> ProductDoc {
        ProductDoc {
            id,
            name: name.into(),
            languages: languages.iter().map(|l| l.to_string()).collect(),
        }
    }

    #[test]
    fn products_as_bouncer_admin_writes_them() {
        let doc = Doc::Products(vec![product(1, "Firefox", &["en-GB", "en-US"])]);
        assert_eq!(
            doc.to_xml(),
            r#"<?xml version="1.0" encoding="utf-8"?><products><product id="1" name="Firefox"><language locale="en-GB"/><language locale="en-US"/></product></products>"#
        );
        assert_eq!(
            Doc::Products(vec![]).to_xml(),
            r#"<?xml version="1.0" encoding="utf-8"?><products/>"#
        );
        assert_eq!(
            Doc::Products(vec![product(650, "Firefox-3.7.1", &[])]).to_xml(),
            r#"<?xml version="1.0" encoding="utf-8"?><products><product id="650" name="Firefox-3.7.1"/></products>"#
        );
    }

    #[test]
    fn locations_uptake_mirrors_and_messages() {
        let doc = Doc::Locations(vec![ProductLocations {
            id: 1,
            name: "Firefox".into(),
            locations: vec![LocationDoc {
                id: 2,
                os: "osx".into(),
                path: "/firefox/releases/39.0/mac/:lang/Firefox%2039.0.dmg".into(),
            }],
        }]);
        assert_eq!(
            doc.to_xml(),
            r#"<?xml version="1.0" encoding="utf-8"?><locations><product id="1" name="Firefox"><location id="2" os="osx">/firefox/releases/39.0/mac/:lang/Firefox%2039.0.dmg</location></product></locations>"#
        );
        let doc = Doc::Uptake(vec![UptakeItem {
            product: "Firefox".into(),
            os: "osx".into(),
            available: 3,
            total: 4,
        }]);
        assert_eq!(
            doc.to_xml(),
            r#"<?xml version="1.0" encoding="utf-8"?><mirror_uptake><item><product>Firefox</product><os>osx</os><available>3</available><total>4</total></item></mirror_uptake>"#
        );
        assert_eq!(
            doc.to_json(),
            r#"{"mirror_uptake":[{"product":"Firefox","os":"osx","available":3,"total":4}]}"#
        );
        let doc = Doc::Mirrors(vec!["http://a.example/pub".into()]);
        assert_eq!(
            doc.to_xml(),
            r#"<?xml version="1.0" encoding="utf-8"?><mirrors><mirror baseurl="http://a.example/pub"/></mirrors>"#
        );
        let error = Doc::Error {
            number: Some(104),
            message: "product already exists.".into(),
        };
        assert_eq!(
            error.to_xml(),
            r#"<?xml version="1.0" encoding="utf-8"?><error number="104">product already exists.</error>"#
        );
        assert_eq!(
            error.to_json(),
            r#"{"error":{"number":104,"message":"product already exists."}}"#
        );
        let plain = Doc::Error {
            number: None,
            message: "x".into(),
        };
        assert_eq!(plain.to_xml(), format!("{XML_DECLARATION}<error>x</error>"));
        assert_eq!(plain.to_json(), r#"{"error":{"message":"x"}}"#);
    }

    const HOSTILE: &str = "a<b>&\"c'\u{1}\r\n\t\\/\u{2028}😀</x>";

    #[test]
    fn hostile_strings_stay_inside_xml() {
        let doc = Doc::Locations(vec![ProductLocations {
            id: 1,
            name: HOSTILE.into(),
            locations: vec![LocationDoc {
                id: 2,
                os: HOSTILE.into(),
                path: HOSTILE.into(),
            }],
        }]);
        let xml = doc.to_xml();
        let parsed = roxmltree::Document::parse(&xml).unwrap();
        let product = parsed.root_element().first_element_child().unwrap();
        let cleaned = HOSTILE.replace('\u{1}', "\u{FFFD}");
        assert_eq!(product.attribute("name"), Some(cleaned.as_str()));
        let location = product.first_element_child().unwrap();
        assert_eq!(location.attribute("os"), Some(cleaned.as_str()));
        assert_eq!(location.text(), Some(cleaned.as_str()));
        let error = Doc::Error {
            number: Some(1),
            message: HOSTILE.into(),
        };
        let xml = error.to_xml();
        let parsed = roxmltree::Document::parse(&xml).unwrap();
        assert_eq!(parsed.root_element().text(), Some(cleaned.as_str()));
    }

    #[test]
    fn hostile_strings_stay_inside_json() {
        let doc = Doc::Products(vec![product(7, HOSTILE, &[HOSTILE])]);
        let json = doc.to_json();
        assert!(!json.contains('<') && !json.contains('\u{2028}'), "{json}");
        let v: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(v["products"][0]["name"], HOSTILE);
        assert_eq!(v["products"][0]["languages"][0], HOSTILE);
        assert_eq!(v["products"][0]["id"], 7);
        for doc in [
            Doc::Success(HOSTILE.into()),
            Doc::Mirrors(vec![HOSTILE.into()]),
            Doc::Uptake(vec![UptakeItem {
                product: HOSTILE.into(),
                os: HOSTILE.into(),
                available: 0,
                total: 0,
            }]),
            Doc::Locations(vec![ProductLocations {
                id: 1,
                name: HOSTILE.into(),
                locations: vec![LocationDoc {
                    id: 2,
                    os: HOSTILE.into(),
                    path: HOSTILE.into(),
                }],
            }]),
        ] {
            let json = doc.to_json();
            let v: serde_json::Value = serde_json::from_str(&json).unwrap();
            assert!(json.contains("\\u003c"), "{json}");
            assert!(v.to_string().contains("😀"), "{json}");
            let xml = doc.to_xml();
            roxmltree::Document::parse(&xml).unwrap();
        }
    }
}
