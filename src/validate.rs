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

/// Whether `c` is a bidirectional embedding, override or isolate control
/// (U+202A–U+202E, U+2066–U+2069): invisible, it makes a name display as
/// something else (`invoice` U+202E `fdp.exe` displays as `invoiceexe.pdf`).
pub fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// Checks a product, alias, mirror, OS, region or user name: printable,
/// no spaces, no bidirectional controls ([`is_bidi_control`]), at most
/// 200 bytes. Returns it trimmed.
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
    if let Some(c) = name.chars().find(|c| is_bidi_control(*c)) {
        return Err(Error::invalid(
            what,
            format!(
                "{name:?} contains the bidirectional control {c:?}, which makes text display in another order than it is: remove it"
            ),
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

/// Longest location path template or file path, in bytes as stored
/// (percent-encoded): the longest path `/files/…` considers, and a sane
/// size for the `Location` header of a redirect.
pub const MAX_PATH_LEN: usize = 1024;

/// What is wrong with a location or file path ([`check_path`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PathProblem {
    /// It does not start with `/`.
    NotAbsolute,
    /// It starts with `//`, which names another host.
    OtherHost,
    /// It is longer than [`MAX_PATH_LEN`] bytes (its length).
    TooLong(usize),
    /// A character that must be percent-encoded.
    Unencoded(char),
    /// A `%` that does not start a `%XX` escape.
    BadEscape,
    /// `%2F`: a slash inside a segment, which servers disagree about.
    EncodedSlash,
    /// `%00`: a NUL, which can name no file.
    EncodedNul,
    /// A `.` or `..` segment, also spelled `%2e`, or with `;` parameters
    /// (`..;`, which Tomcat and others treat as `..`).
    DotSegment(String),
    /// The decoded bytes are not UTF-8 (`%C0%AE`, an overlong `.`, or
    /// `%FF`).
    NotUtf8,
}

impl std::fmt::Display for PathProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PathProblem::NotAbsolute => {
                f.write_str("must start with '/' (it is relative to a mirror's root)")
            }
            PathProblem::OtherHost => {
                f.write_str("must not start with '//' (that would name another host)")
            }
            PathProblem::TooLong(len) => write!(
                f,
                "is {len} bytes long; at most {MAX_PATH_LEN} are allowed (check that it is the path you meant)"
            ),
            PathProblem::Unencoded(c) => {
                write!(f, "contains {c:?}; percent-encode it (a space is %20)")
            }
            PathProblem::BadEscape => f.write_str("has a '%' that does not start a %XX escape"),
            PathProblem::EncodedSlash => f.write_str(
                "contains an encoded slash (%2F): write '/' between directories, and no '/' inside a name",
            ),
            PathProblem::EncodedNul => {
                f.write_str("contains an encoded NUL (%00), which can name no file: remove it")
            }
            PathProblem::DotSegment(s) => write!(
                f,
                "must not contain '.' or '..' segments ({s:?} is one to a server): name the directory itself"
            ),
            PathProblem::NotUtf8 => f.write_str(
                "its %XX escapes do not decode to UTF-8 (an overlong or invalid sequence): encode the file name's UTF-8 bytes",
            ),
        }
    }
}

/// What is wrong with a location path template or file path, if anything:
/// it must start with `/` (not `//`), be at most [`MAX_PATH_LEN`] bytes,
/// be percent-encoded (no spaces, quotes, `?`, `#`, non-ASCII or control
/// characters), have valid `%XX` escapes that decode to UTF-8 with no
/// slash or NUL among them, and no segment that a server could take for
/// `.` or `..` (`%2e%2e`, `..;`). Every entry point (CLI, admin, API,
/// import, loader) stores paths through [`path`], so they all refuse the
/// same things.
pub fn check_path(path: &str) -> Result<(), PathProblem> {
    if !path.starts_with('/') {
        return Err(PathProblem::NotAbsolute);
    }
    if path.starts_with("//") {
        return Err(PathProblem::OtherHost);
    }
    if path.len() > MAX_PATH_LEN {
        return Err(PathProblem::TooLong(path.len()));
    }
    if let Some(c) = path.chars().find(|c| {
        !c.is_ascii()
            || c.is_ascii_whitespace()
            || c.is_ascii_control()
            || matches!(c, '?' | '#' | '"' | '<' | '>' | '\\')
    }) {
        return Err(PathProblem::Unencoded(c));
    }
    let bytes = path.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] != b'%' {
            decoded.push(bytes[i]);
            i += 1;
            continue;
        }
        let byte = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .filter(|h| h.bytes().all(|b| b.is_ascii_hexdigit()))
            .and_then(|h| u8::from_str_radix(h, 16).ok())
            .ok_or(PathProblem::BadEscape)?;
        match byte {
            b'/' => return Err(PathProblem::EncodedSlash),
            0 => return Err(PathProblem::EncodedNul),
            b => decoded.push(b),
        }
        i += 3;
    }
    let decoded = String::from_utf8(decoded).map_err(|_| PathProblem::NotUtf8)?;
    if let Some(segment) = decoded.split('/').find(|segment| {
        let bare = segment.split(';').next().unwrap_or("");
        bare == "." || bare == ".."
    }) {
        return Err(PathProblem::DotSegment(segment.to_string()));
    }
    Ok(())
}

/// Checks a location path template or file path for storage
/// ([`check_path`]); returns it trimmed.
pub fn path(path: &str) -> Result<String, Error> {
    let path = path.trim();
    match check_path(path) {
        Ok(()) => Ok(path.to_string()),
        Err(problem) => Err(Error::invalid(
            "path",
            format!("{}: {problem}", crate::error::excerpt(path)),
        )),
    }
}

/// A mirror's trace file path, relative to its root: starts with `/`,
/// no query, fragment or spaces; empty or `none` means none.
pub fn trace_path(path: Option<&str>) -> Result<Option<String>, Error> {
    let Some(path) = path
        .map(str::trim)
        .filter(|p| !p.is_empty() && !p.eq_ignore_ascii_case("none"))
    else {
        return Ok(None);
    };
    let fine = path.starts_with('/')
        && path.len() <= MAX_PATH_LEN
        && !path.chars().any(|c| {
            !c.is_ascii()
                || c.is_ascii_whitespace()
                || c.is_ascii_control()
                || matches!(c, '?' | '#' | '\\')
        });
    if !fine {
        return Err(Error::invalid(
            "trace file",
            format!(
                "{}: give its path under the mirror's root, starting with /, percent-encoded (e.g. /project/trace/master or /lastsync)",
                crate::error::excerpt(path)
            ),
        ));
    }
    Ok(Some(path.to_string()))
}

/// A mirror's other-scheme URL beside `base_url` (already checked): a
/// base URL of the other scheme; empty or `none` means none.
pub fn alt_url(base_url: &str, alt: Option<&str>) -> Result<Option<String>, Error> {
    let Some(alt) = alt
        .map(str::trim)
        .filter(|a| !a.is_empty() && !a.eq_ignore_ascii_case("none"))
    else {
        return Ok(None);
    };
    let alt = self::base_url(alt)?;
    let https = |u: &str| u.starts_with("https://");
    if https(&alt) == https(base_url) {
        return Err(Error::invalid(
            "other-scheme URL",
            format!(
                "{} has the same scheme as the base URL {base_url}: give the mirror's root over {} (or none)",
                crate::error::excerpt(&alt),
                if https(base_url) {
                    "http://"
                } else {
                    "https://"
                }
            ),
        ));
    }
    Ok(Some(alt))
}

/// Checks a mirror base URL: `http://` or `https://`, a host, no query or
/// fragment. Returns it without trailing slashes.
pub fn base_url(url: &str) -> Result<String, Error> {
    let url = url.trim();
    let bad = |why: &str| {
        Err(Error::invalid(
            "base URL",
            format!(
                "{}: {why} (expected e.g. https://mirror.example.org/pub/mozilla)",
                crate::error::excerpt(url)
            ),
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

/// Longest mirror contact address accepted, in bytes (RFC 5321's limit
/// for a forward path).
pub const MAX_CONTACT_LEN: usize = 254;

/// What is wrong with a mirror contact address ([`check_contact`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ContactProblem {
    /// Longer than [`MAX_CONTACT_LEN`] bytes (its length).
    TooLong(usize),
    /// A control character: CR or LF would inject mail headers.
    Control(char),
    /// A `,` or `;`: a list of addresses.
    List,
    /// A URL (`mailto:`, `javascript:`, `http:` …), with its scheme.
    Scheme(String),
    /// A display name, `<…>`, quotes or spaces around the address.
    NotBare,
    /// A character outside ASCII (international addresses need SMTPUTF8,
    /// which Bouncer's mail does not speak).
    NotAscii(char),
    /// No `@`.
    NoAt,
    /// More than one `@`.
    SeveralAt,
    /// The part before `@` is empty, longer than 64 bytes, has a
    /// character outside RFC 5322's atom or dots out of place.
    Local,
    /// The part after `@` is not a host name with a dot (`example.org`).
    Domain,
}

impl std::fmt::Display for ContactProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ContactProblem::TooLong(len) => write!(
                f,
                "is {len} bytes long; an address has at most {MAX_CONTACT_LEN}"
            ),
            ContactProblem::Control(c) => write!(
                f,
                "contains the control character {c:?} (a line break?): give one address on one line"
            ),
            ContactProblem::List => f.write_str(
                "is a list: give exactly one address (use a mailing list or alias for several people)",
            ),
            ContactProblem::Scheme(scheme) => write!(
                f,
                "is a {scheme}: URL, not an address: give the bare address, e.g. ops@mirror.example.org"
            ),
            ContactProblem::NotBare => f.write_str(
                "has a name, <>, quotes or spaces: give the bare address only, e.g. ops@mirror.example.org",
            ),
            ContactProblem::NotAscii(c) => write!(
                f,
                "contains {c:?}: use an ASCII address (international domain names in punycode)"
            ),
            ContactProblem::NoAt => f.write_str("has no '@': give an address like ops@mirror.example.org"),
            ContactProblem::SeveralAt => {
                f.write_str("has more than one '@': give exactly one address")
            }
            ContactProblem::Local => f.write_str(
                "the part before '@' must be 1-64 letters, digits, dots (not first, last or doubled) or !#$%&'*+-/=?^_`{|}~",
            ),
            ContactProblem::Domain => f.write_str(
                "the part after '@' must be a host name with a dot, like mirror.example.org",
            ),
        }
    }
}

/// What is wrong with a mirror contact address, if anything. A contact is
/// exactly one bare mailbox, `local@domain` — no display name (`Ops
/// <ops@example.org>`), no list, no URL — in ASCII, at most
/// [`MAX_CONTACT_LEN`] bytes, with a dot-atom local part and a host name
/// of at least two labels: what the mail transport accepts as one
/// recipient, and nothing that could inject a header. Empty means "no
/// contact" and passes.
pub fn check_contact(contact: &str) -> Result<(), ContactProblem> {
    if contact.is_empty() {
        return Ok(());
    }
    if let Some(c) = contact.chars().find(|c| c.is_control()) {
        return Err(ContactProblem::Control(c));
    }
    if contact.len() > MAX_CONTACT_LEN {
        return Err(ContactProblem::TooLong(contact.len()));
    }
    if contact.contains([',', ';']) {
        return Err(ContactProblem::List);
    }
    if let Some((scheme, _)) = contact.split_once(':')
        && scheme.starts_with(|c: char| c.is_ascii_alphabetic())
        && scheme
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'))
    {
        return Err(ContactProblem::Scheme(scheme.to_ascii_lowercase()));
    }
    if contact.contains(|c: char| c.is_whitespace() || matches!(c, '<' | '>' | '"')) {
        return Err(ContactProblem::NotBare);
    }
    if let Some(c) = contact.chars().find(|c| !c.is_ascii()) {
        return Err(ContactProblem::NotAscii(c));
    }
    let (local, domain) = contact.split_once('@').ok_or(ContactProblem::NoAt)?;
    if domain.contains('@') {
        return Err(ContactProblem::SeveralAt);
    }
    let atext = |b: u8| b.is_ascii_alphanumeric() || b"!#$%&'*+-/=?^_`{|}~".contains(&b);
    if local.is_empty()
        || local.len() > 64
        || local.split('.').any(|atom| atom.is_empty())
        || !local.bytes().all(|b| b == b'.' || atext(b))
    {
        return Err(ContactProblem::Local);
    }
    let labels: Vec<&str> = domain.split('.').collect();
    if domain.len() > 253
        || labels.len() < 2
        || !labels.iter().all(|l| {
            (1..=63).contains(&l.len())
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
    {
        return Err(ContactProblem::Domain);
    }
    Ok(())
}

/// Checks a mirror contact address for storage ([`check_contact`]);
/// returns it trimmed, empty for none.
pub fn contact(contact: &str) -> Result<String, Error> {
    let contact = contact.trim();
    match check_contact(contact) {
        Ok(()) => Ok(contact.to_string()),
        Err(problem) => Err(Error::invalid(
            "contact",
            format!("{}: {problem}", crate::error::excerpt(contact)),
        )),
    }
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
    fn the_other_scheme_url_has_the_other_scheme() {
        assert_eq!(alt_url("http://m.example/pub", None).unwrap(), None);
        assert_eq!(
            alt_url("http://m.example/pub", Some(" none ")).unwrap(),
            None
        );
        assert_eq!(
            alt_url("http://m.example/pub", Some("https://m.example/pub/")).unwrap(),
            Some("https://m.example/pub".into())
        );
        let e = alt_url("https://m.example/pub", Some("https://other.example")).unwrap_err();
        assert!(
            e.to_string()
                .contains("give the mirror's root over http://"),
            "{e}"
        );
        assert!(alt_url("http://m.example", Some("ftp://m.example")).is_err());
    }

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

    #[test]
    fn paths_over_the_cap_are_refused() {
        assert_eq!(MAX_PATH_LEN, crate::index::MAX_FILE_PATH);
        let at_cap = format!("/{}", "a".repeat(MAX_PATH_LEN - 1));
        assert_eq!(path(&at_cap).unwrap(), at_cap);
        let over = format!("/{}", "a".repeat(100 * 1024));
        assert_eq!(check_path(&over), Err(PathProblem::TooLong(over.len())));
        let err = path(&over).unwrap_err().to_string();
        assert!(err.contains("at most 1024") && err.len() < 500, "{err}");
    }

    #[test]
    fn paths_with_encoded_tricks_are_refused() {
        for (bad, problem) in [
            ("/a/%2f%2fevil.example/x", PathProblem::EncodedSlash),
            ("/a%2Fb", PathProblem::EncodedSlash),
            ("/a/b%00.exe", PathProblem::EncodedNul),
            ("/a/..;/b", PathProblem::DotSegment("..;".into())),
            (
                "/a/..;jsessionid=1/b",
                PathProblem::DotSegment("..;jsessionid=1".into()),
            ),
            ("/a/.;/b", PathProblem::DotSegment(".;".into())),
            ("/a/%2e%2e%3b/b", PathProblem::DotSegment("..;".into())),
            ("/a/%c0%ae%c0%ae/b", PathProblem::NotUtf8),
            ("/a/%e0%80%ae", PathProblem::NotUtf8),
            ("/a/%ff", PathProblem::NotUtf8),
            ("/a%zz", PathProblem::BadEscape),
            ("/a%", PathProblem::BadEscape),
            ("/a%%41", PathProblem::BadEscape),
            ("a/b", PathProblem::NotAbsolute),
            ("//evil.example/a", PathProblem::OtherHost),
            ("/a b", PathProblem::Unencoded(' ')),
        ] {
            assert_eq!(check_path(bad), Err(problem), "{bad}");
        }
        for ok in [
            "/pub/firefox/1.0/:lang/Firefox%20Setup.exe",
            "/a/b;c/..d/...%2e/d..",
            "/a/%C3%BC%E2%98%83",
            "/a/%0A",
            "/a//b",
        ] {
            assert_eq!(check_path(ok), Ok(()), "{ok}");
        }
        let err = path("/a/%2f%2fb").unwrap_err().to_string();
        assert!(err.contains("encoded slash"), "{err}");
        let err = path("/a/..;/b").unwrap_err().to_string();
        assert!(err.contains("\"..;\""), "{err}");
    }

    #[test]
    fn contacts() {
        assert_eq!(contact("").unwrap(), "");
        assert_eq!(
            contact(" ops@mirror.example.org ").unwrap(),
            "ops@mirror.example.org"
        );
        for ok in [
            "a@b.c",
            "first.last+tag@sub.mirror-1.example",
            "o'brien@example.ie",
            "x_y-z@123.example",
        ] {
            assert_eq!(check_contact(ok), Ok(()), "{ok}");
            // The mail transport takes what is accepted as one recipient.
            assert!(ok.parse::<lettre::message::Mailbox>().is_ok(), "{ok}");
        }
        let long = format!("{}@example.org", "a".repeat(250));
        for (bad, problem) in [
            (
                "ops@example.org\r\nBcc: all@example.org",
                ContactProblem::Control('\r'),
            ),
            ("ops@example.org\nx", ContactProblem::Control('\n')),
            ("a@example.org, b@example.org", ContactProblem::List),
            ("a@example.org;b@example.org", ContactProblem::List),
            (
                "javascript:alert(1)//@example.org",
                ContactProblem::Scheme("javascript".into()),
            ),
            (
                "mailto:ops@example.org",
                ContactProblem::Scheme("mailto".into()),
            ),
            ("Ops <ops@example.org>", ContactProblem::NotBare),
            ("<ops@example.org>", ContactProblem::NotBare),
            ("\"o p\"@example.org", ContactProblem::NotBare),
            ("opé@example.org", ContactProblem::NotAscii('é')),
            (
                "ops@\u{202E}example.org",
                ContactProblem::NotAscii('\u{202E}'),
            ),
            ("ops.example.org", ContactProblem::NoAt),
            ("a@b@example.org", ContactProblem::SeveralAt),
            ("@example.org", ContactProblem::Local),
            (".ops@example.org", ContactProblem::Local),
            ("o..ps@example.org", ContactProblem::Local),
            ("ops@localhost", ContactProblem::Domain),
            ("ops@example..org", ContactProblem::Domain),
            ("ops@-example.org", ContactProblem::Domain),
            ("ops@[127.0.0.1]", ContactProblem::Domain),
            ("ops@", ContactProblem::Domain),
            (long.as_str(), ContactProblem::TooLong(long.len())),
        ] {
            assert_eq!(check_contact(bad), Err(problem), "{bad}");
        }
        let err = contact("Ops <ops@example.org>").unwrap_err();
        assert!(
            matches!(
                err,
                Error::Invalid {
                    what: "contact",
                    ..
                }
            ),
            "{err}"
        );
        assert!(err.to_string().contains("bare address"), "{err}");
    }

    #[test]
    fn names_with_bidi_controls_are_refused() {
        for c in ('\u{202A}'..='\u{202E}').chain('\u{2066}'..='\u{2069}') {
            assert!(is_bidi_control(c));
            let err = name("product", &format!("firefox{c}exe")).unwrap_err();
            assert!(err.to_string().contains("bidirectional"), "{err}");
        }
        for c in ['\u{2029}', '\u{202F}', '\u{2065}', '\u{206A}', 'ש'] {
            assert!(!is_bidi_control(c), "{c:?}");
        }
        assert!(name("mirror", "שלום").is_ok());
        assert!(os("win\u{2066}").is_err());
    }
}
