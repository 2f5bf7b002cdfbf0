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

#[cfg(test)]
mod tests {
    use super::*;

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
