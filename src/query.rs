//! Query-string and percent-encoding helpers for the redirect path: borrow
//! where possible, allocate only when an escape must be decoded.

use std::borrow::Cow;

/// Decodes `%XX` escapes (and, with `plus_is_space`, `+`). Invalid escapes
/// are kept as they are; invalid UTF-8 becomes U+FFFD.
pub fn decode(s: &str, plus_is_space: bool) -> Cow<'_, str> {
    if !s.bytes().any(|b| b == b'%' || (plus_is_space && b == b'+')) {
        return Cow::Borrowed(s);
    }
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => match (hex(bytes.get(i + 1)), hex(bytes.get(i + 2))) {
                (Some(h), Some(l)) => {
                    out.push(h << 4 | l);
                    i += 3;
                    continue;
                }
                _ => out.push(b'%'),
            },
            b'+' if plus_is_space => out.push(b' '),
            b => out.push(b),
        }
        i += 1;
    }
    match String::from_utf8(out) {
        Ok(s) => Cow::Owned(s),
        Err(e) => Cow::Owned(String::from_utf8_lossy(e.as_bytes()).into_owned()),
    }
}

fn hex(b: Option<&u8>) -> Option<u8> {
    let b = *b?;
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Decodes a URL path (`+` stays `+`).
pub fn percent_decode(path: &str) -> Cow<'_, str> {
    decode(path, false)
}

/// Iterates `name=value` pairs of a query string, decoded. A name without
/// `=` has an empty value.
pub fn pairs(query: &str) -> impl Iterator<Item = (Cow<'_, str>, Cow<'_, str>)> {
    query.split('&').filter(|p| !p.is_empty()).map(|pair| {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        (decode(k, true), decode(v, true))
    })
}

/// Percent-encodes everything but unreserved characters (RFC 3986): a
/// query value or a single path segment.
pub fn encode_component(s: &str) -> String {
    use std::fmt::Write;
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

/// Percent-encodes what may not appear raw in a URL path segment sequence
/// (keeps `/`, unreserved characters and already valid `%XX` escapes).
pub fn encode_path(path: &str) -> Cow<'_, str> {
    let keep = |b: u8| b.is_ascii_alphanumeric() || b"/-._~!$&'()*+,;=:@%".contains(&b);
    if path.bytes().all(keep) {
        return Cow::Borrowed(path);
    }
    let mut out = String::with_capacity(path.len() + 16);
    for b in path.bytes() {
        if keep(b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    Cow::Owned(out)
}

/// Percent-encodes a raw (unencoded) path such as a checksum file's:
/// everything but `/` and unreserved characters, `%` included.
pub fn encode_raw_path(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len() + 16);
    for b in raw.bytes() {
        if b.is_ascii_alphanumeric() || b"/-._~+".contains(&b) {
            out.push(b as char);
        } else {
            let _ = std::fmt::Write::write_fmt(&mut out, format_args!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn decoding() {
        assert_eq!(decode("a%20b+c", true), "a b c");
        assert_eq!(decode("a%20b+c", false), "a b+c");
        assert_eq!(decode("%2e%2E%2f", true), "../");
        assert_eq!(decode("100%", true), "100%");
        assert_eq!(decode("%zz%4", true), "%zz%4");
        assert!(matches!(decode("plain", true), Cow::Borrowed(_)));
    }

    #[test]
    fn query_pairs() {
        let v: Vec<_> = pairs("product=Firefox&os=win&&print&lang=en%2DUS").collect();
        assert_eq!(
            v,
            vec![
                ("product".into(), "Firefox".into()),
                ("os".into(), "win".into()),
                ("print".into(), "".into()),
                ("lang".into(), "en-US".into()),
            ]
        );
    }

    #[test]
    fn encoding_paths() {
        assert_eq!(encode_path("/a b/ü"), "/a%20b/%C3%BC");
        assert_eq!(encode_path("/a%20b"), "/a%20b");
    }

    #[test]
    fn raw_paths_are_encoded_whole() {
        assert_eq!(encode_raw_path("a b/100%/ü:x"), "a%20b/100%25/%C3%BC%3Ax");
    }

    proptest! {
        #[test]
        fn raw_encoding_round_trips(s in ".*") {
            let encoded = encode_raw_path(&s);
            prop_assert_eq!(percent_decode(&encoded), s.as_str());
        }

        #[test]
        fn decode_never_panics(s in ".*") {
            let _ = decode(&s, true);
            let _ = pairs(&s).count();
        }

        #[test]
        fn encode_then_decode_round_trips(s in "[^%]*") {
            let encoded = encode_path(&s);
            prop_assert_eq!(percent_decode(&encoded), s.as_str());
        }
    }
}
