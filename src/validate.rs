//! What counts as a valid name, language, path or mirror URL. Every input
//! from the CLI, the admin pages, the API and the query string passes here
//! before it reaches the store or a redirect.

use crate::error::Error;

/// Longest language code accepted (SPEC §2).
pub const MAX_LANG_LEN: usize = 32;

/// Whether `lang` looks like a locale: letters, digits and `-`, 1–32 bytes.
/// Anything else could change a redirect's host or directory.
pub fn is_lang(lang: &str) -> bool {
    !lang.is_empty()
        && lang.len() <= MAX_LANG_LEN
        && lang.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

/// Checks a language code for storage.
pub fn lang(lang: &str) -> Result<String, Error> {
    let lang = lang.trim();
    if is_lang(lang) {
        Ok(lang.to_string())
    } else {
        Err(Error::invalid(
            "language",
            format!(
                "{lang:?} is not a locale: use letters, digits and '-', at most {MAX_LANG_LEN} characters (e.g. en-US)"
            ),
        ))
    }
}

/// What Mozilla calls its multi-locale builds (Android): a language of
/// its own that is no locale code.
pub const MULTI_LOCALE: &str = "multi";

/// Whether `lang` is a locale code a product may be offered in: a 2–3
/// letter language, then any `-`-separated region, script or variant
/// parts of 1–8 letters or digits (`de`, `en-US`, `sr-Latn`, `es-419`,
/// `ja-JP-mac`, `ca-valencia`, `hsb`), in any case, at most
/// [`MAX_LANG_LEN`] bytes; or Mozilla's [`MULTI_LOCALE`]. A lone word such
/// as `english` is not one. Every locale code passes [`is_lang`].
pub fn is_locale_code(lang: &str) -> bool {
    if lang.len() > MAX_LANG_LEN {
        return false;
    }
    if lang.eq_ignore_ascii_case(MULTI_LOCALE) {
        return true;
    }
    let mut parts = lang.split('-');
    let language = parts.next().unwrap_or("");
    (2..=3).contains(&language.len())
        && language.bytes().all(|b| b.is_ascii_alphabetic())
        && parts.all(|p| (1..=8).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_alphanumeric()))
}

/// Checks a language a product is to be offered in (see
/// [`is_locale_code`]); returns it trimmed, spelled as given.
pub fn locale(lang: &str) -> Result<String, Error> {
    let lang = lang.trim();
    if is_locale_code(lang) {
        Ok(lang.to_string())
    } else {
        Err(Error::invalid(
            "language",
            format!(
                "{lang:?} is not a locale code: use a 2- or 3-letter language, optionally followed by region, script or variant parts after '-' (e.g. de, en-US, es-ES, zh-TW, ja-JP-mac)"
            ),
        ))
    }
}

/// Checks a product, alias, mirror, OS, region or user name: printable,
/// no spaces, at most 200 bytes. Returns it trimmed.
pub fn name(what: &'static str, name: &str) -> Result<String, Error> {
    let name = name.trim();
    if name.is_empty() {
        return Err(Error::invalid(what, "the name is empty".into()));
    }
    if name.len() > 200 {
        return Err(Error::invalid(
            what,
            format!("{name:?} is longer than 200 bytes"),
        ));
    }
    if name == "." || name == ".." {
        return Err(Error::invalid(
            what,
            format!("{name:?} cannot be a name: it means a directory in URLs"),
        ));
    }
    if let Some(c) = name.chars().find(|c| c.is_whitespace() || c.is_control()) {
        return Err(Error::invalid(
            what,
            format!("{name:?} contains {c:?}: names may not contain spaces or control characters"),
        ));
    }
    Ok(name.to_string())
}

/// Checks an operating system name and folds it to lower case.
pub fn os(os: &str) -> Result<String, Error> {
    let os = name("operating system", os)?.to_ascii_lowercase();
    if !os
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
    {
        return Err(Error::invalid(
            "operating system",
            format!("{os:?} may only contain letters, digits, '-', '_' and '.'"),
        ));
    }
    Ok(os)
}

/// Checks an ISO 3166-1 alpha-2 country code (two ASCII letters) and
/// returns it upper-case, the way regions store it.
pub fn country(code: &str) -> Result<String, Error> {
    let code = code.trim();
    if code.len() == 2 && code.bytes().all(|b| b.is_ascii_alphabetic()) {
        Ok(code.to_ascii_uppercase())
    } else {
        Err(Error::invalid(
            "country",
            format!("{code:?} is not a country code: use the two letters of ISO 3166-1 (e.g. DE)"),
        ))
    }
}

/// Checks a location path: starts with `/`, percent-encoded (no spaces,
/// quotes, `?`, `#` or control characters), no `.` or `..` segments, valid
/// `%XX` escapes.
pub fn path(path: &str) -> Result<String, Error> {
    let path = path.trim();
    let bad = |why: String| Err(Error::invalid("path", format!("{path:?}: {why}")));
    if !path.starts_with('/') {
        return bad("must start with '/' (it is relative to a mirror's root)".into());
    }
    if path.starts_with("//") {
        return bad("must not start with '//' (that would name another host)".into());
    }
    if let Some(c) = path.chars().find(|c| {
        !c.is_ascii()
            || c.is_ascii_whitespace()
            || c.is_ascii_control()
            || matches!(c, '?' | '#' | '"' | '<' | '>' | '\\')
    }) {
        return bad(format!(
            "contains {c:?}; percent-encode it (a space is %20)"
        ));
    }
    let bytes = path.as_bytes();
    for (i, b) in bytes.iter().enumerate() {
        if *b == b'%'
            && !(bytes.get(i + 1).is_some_and(u8::is_ascii_hexdigit)
                && bytes.get(i + 2).is_some_and(u8::is_ascii_hexdigit))
        {
            return bad("has a '%' that does not start a %XX escape".into());
        }
    }
    let decoded = crate::query::percent_decode(path);
    if decoded
        .split('/')
        .any(|segment| segment == "." || segment == "..")
    {
        return bad("must not contain '.' or '..' segments".into());
    }
    Ok(path.to_string())
}

/// Checks a mirror base URL: `http://` or `https://`, a host, no query or
/// fragment. Returns it without trailing slashes.
pub fn base_url(url: &str) -> Result<String, Error> {
    let url = url.trim();
    let bad = |why: &str| {
        Err(Error::invalid(
            "base URL",
            format!("{url:?}: {why} (expected e.g. https://mirror.example.org/pub/mozilla)"),
        ))
    };
    let rest = if let Some(rest) = url.strip_prefix("https://") {
        rest
    } else if let Some(rest) = url.strip_prefix("http://") {
        rest
    } else {
        return bad("must start with http:// or https://");
    };
    let host = rest.split('/').next().unwrap_or("");
    if host.is_empty() || host.contains('@') {
        return bad("has no host, or has user info");
    }
    if let Some(c) = url.chars().find(|c| {
        !c.is_ascii()
            || c.is_ascii_whitespace()
            || c.is_ascii_control()
            || matches!(c, '?' | '#' | '"' | '<' | '>' | '\\')
    }) {
        return bad(&format!(
            "contains {c:?} (percent-encode paths; write international host names in punycode)"
        ));
    }
    Ok(url.trim_end_matches('/').to_string())
}

/// What a mirror base URL (as [`base_url`] returns it) points at, for
/// telling two spellings of one address apart from two addresses: scheme
/// and host in lower case, the scheme's default port dropped, trailing
/// slashes dropped. The path keeps its case (servers tell paths apart).
pub fn base_url_key(url: &str) -> String {
    let url = url.trim().trim_end_matches('/');
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let scheme = scheme.to_ascii_lowercase();
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let mut host = authority.to_ascii_lowercase();
    let default_port = match scheme.as_str() {
        "http" => ":80",
        "https" => ":443",
        _ => "",
    };
    if !default_port.is_empty() && host.ends_with(default_port) {
        host.truncate(host.len() - default_port.len());
    } else if host.ends_with(':') {
        host.pop();
    }
    format!("{scheme}://{host}{path}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locale_codes() {
        for ok in [
            "de",
            "en-US",
            "ja-JP-mac",
            "es-ES",
            "zh-TW",
            "sr-Latn",
            "ca-valencia",
            "en-GB",
            "ast",
            "hsb",
            "es-419",
            "EN-us",
            "multi",
            "Multi",
        ] {
            assert!(is_locale_code(ok), "{ok}");
            assert!(is_lang(ok), "{ok} must also be safe in a URL");
        }
        for bad in [
            "english",
            "e",
            "x",
            "deutsch-DE",
            "1a",
            "en-",
            "-US",
            "en--US",
            "en_US",
            "en US",
            "en-verylongvariant",
            "a1-B2",
            "é",
            "../x",
            "",
            "xpi1",
        ] {
            assert!(!is_locale_code(bad), "{bad}");
        }
        let long = format!("en{}", "-abcdefgh".repeat(4));
        assert!(long.len() > MAX_LANG_LEN && !is_locale_code(&long));
        // Every locale Mozilla ships (what the loader recognises) is one.
        for known in crate::loader::locales::KNOWN {
            assert!(is_locale_code(known), "{known}");
        }
    }

    #[test]
    fn locale_errors_give_an_example() {
        assert_eq!(locale(" en-US ").unwrap(), "en-US");
        let err = locale("english").unwrap_err();
        assert!(
            matches!(
                err,
                Error::Invalid {
                    what: "language",
                    ..
                }
            ),
            "{err}"
        );
        let err = err.to_string();
        assert!(
            err.contains("\"english\" is not a locale code") && err.contains("en-US"),
            "{err}"
        );
    }

    #[test]
    fn base_url_keys() {
        let same = [
            "https://mirror.example/pub",
            "HTTPS://Mirror.Example/pub/",
            "https://mirror.example:443/pub//",
            "https://MIRROR.example:/pub",
        ];
        for url in same {
            assert_eq!(base_url_key(url), "https://mirror.example/pub", "{url}");
        }
        assert_eq!(base_url_key("http://m.example:80"), "http://m.example");
        assert_eq!(base_url_key("http://[::1]:80/x"), "http://[::1]/x");
        for other in [
            "http://mirror.example/pub",
            "https://mirror.example:8443/pub",
            "https://mirror.example/Pub",
            "https://mirror.example/pub/sub",
            "https://other.example/pub",
            "http://mirror.example:443/pub",
        ] {
            assert_ne!(base_url_key(other), "https://mirror.example/pub", "{other}");
        }
        assert_eq!(
            base_url_key("http://m.example:8080/"),
            "http://m.example:8080"
        );
    }

    #[test]
    fn langs() {
        for ok in ["en-US", "de", "ja-JP-mac", "x", "a1-B2"] {
            assert!(is_lang(ok), "{ok}");
        }
        let long = "a".repeat(33);
        for bad in [
            "",
            "../../x",
            "%2e%2e%2f",
            "@evil.example",
            "//evil.example",
            "en US",
            "é",
            "en_US",
            "en/US",
            long.as_str(),
            "a.b",
        ] {
            assert!(!is_lang(bad), "{bad}");
        }
    }

    #[test]
    fn paths() {
        assert!(path("/firefox/releases/1.0/win32/:lang/Firefox%20Setup%201.0.exe").is_ok());
        for bad in [
            "firefox/x",
            "//evil.example/x",
            "/a/../b",
            "/a/%2e%2e/b",
            "/a b",
            "/a?b",
            "/a#b",
            "/a%zz",
            "/a%2",
            "/./x",
            "/ü",
        ] {
            assert!(path(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn base_urls() {
        assert_eq!(
            base_url("https://m.example/pub/").unwrap(),
            "https://m.example/pub"
        );
        assert_eq!(
            base_url("http://127.0.0.1:8000").unwrap(),
            "http://127.0.0.1:8000"
        );
        for bad in [
            "ftp://m.example",
            "https://",
            "https://u@m.example/",
            "http://m.example/?x",
            "m.example",
        ] {
            assert!(base_url(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn names() {
        assert_eq!(name("product", " firefox-1.0 ").unwrap(), "firefox-1.0");
        assert!(name("product", "fire fox").is_err());
        assert!(name("product", "").is_err());
        assert!(name("product", "..").is_err() && name("mirror", ".").is_err());
        assert!(name("product", "...").is_ok());
        assert_eq!(os("Win64").unwrap(), "win64");
        assert!(os("win/64").is_err());
    }

    #[test]
    fn countries() {
        assert_eq!(country("de").unwrap(), "DE");
        assert_eq!(country(" Us ").unwrap(), "US");
        for bad in ["", "D", "DEU", "--", "d1", "é", "D E", "ÄB"] {
            assert!(country(bad).is_err(), "{bad}");
        }
        let err = country("xyz").unwrap_err().to_string();
        assert!(err.contains("\"xyz\"") && err.contains("ISO 3166"), "{err}");
    }
}
