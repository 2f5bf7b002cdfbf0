//! A small, strict parser for `multipart/form-data` request bodies
//! (RFC 7578, with the framing of RFC 2046), as browsers and curl send
//! them for file uploads such as the admin's checksum-file upload.
//!
//! The body is a sequence of parts, each introduced by a delimiter line
//! `--BOUNDARY` and ended by the next `CRLF--BOUNDARY`; the last delimiter
//! is `--BOUNDARY--`. Each part has header lines, a blank line, then its
//! data, which may be any bytes (CR, LF and `--` included) because the
//! sender picks a boundary that does not occur in the data. A preamble
//! before the first delimiter and an epilogue after the last are ignored,
//! as RFC 2046 says.
//!
//! Strict means: anything malformed is an error that says what is wrong,
//! rather than a best guess. Only `Content-Disposition` (`form-data`, with
//! `name` and optional `filename`) and `Content-Type` are read; other
//! headers are ignored, and so is `filename*`. Quoted strings may use
//! backslash escapes; percent-encoded names (what current browsers send for
//! `"` and line breaks) are returned as sent, undecoded.

use std::borrow::Cow;

/// At most this many parts in one body.
const MAX_PARTS: usize = 64;

/// One part of a `multipart/form-data` body: a form field or a file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Part<'a> {
    /// The form field's name (`name=` of `Content-Disposition`).
    pub name: String,
    /// The file name for file uploads (`filename=`); `Some("")` when a
    /// browser sends a file field with no file chosen.
    pub filename: Option<String>,
    /// The part's `Content-Type`, as sent, when present.
    pub content_type: Option<String>,
    /// The part's bytes, exactly as sent.
    pub data: &'a [u8],
}

/// The boundary of a `multipart/form-data` content type, such as
/// `multipart/form-data; boundary=----WebKitFormBoundaryX` (the media type
/// in any case, parameters in any order, the boundary quoted or not).
/// `None` for other media types and for a missing or invalid boundary
/// (RFC 2046: 1 to 70 of the allowed characters, not ending in a space).
pub fn boundary(content_type: &str) -> Option<&str> {
    let (media_type, params) = split_params(content_type).ok()?;
    if !media_type.eq_ignore_ascii_case("multipart/form-data") {
        return None;
    }
    let mut found = None;
    for (key, value) in params {
        if key.eq_ignore_ascii_case("boundary") {
            if found.is_some() {
                return None;
            }
            // A boundary never needs escapes: its characters exclude `\`
            // and `"`, so an escaped value is not a valid boundary.
            match value {
                Cow::Borrowed(v) => found = Some(v),
                Cow::Owned(_) => return None,
            }
        }
    }
    found.filter(|b| valid_boundary(b))
}

/// RFC 2046 `boundary := 0*69<bchars> bcharsnospace`.
fn valid_boundary(b: &str) -> bool {
    (1..=70).contains(&b.len())
        && !b.ends_with(' ')
        && b.bytes()
            .all(|c| c.is_ascii_alphanumeric() || b"'()+_,-./:=? ".contains(&c))
}

/// Parameters of a header value: names as sent, values unquoted.
type Params<'a> = Vec<(&'a str, Cow<'a, str>)>;

/// Splits a header value like `form-data; name="a"; filename=b` into its
/// first item and its parameters, unquoting quoted strings. Parameter
/// names are returned as sent (compare them case-insensitively).
fn split_params(value: &str) -> Result<(&str, Params<'_>), String> {
    let (first, mut rest) = match value.find(';') {
        Some(i) => (value[..i].trim(), &value[i..]),
        None => (value.trim(), ""),
    };
    let mut params = Vec::new();
    loop {
        rest = rest.trim_start();
        if rest.is_empty() {
            break;
        }
        rest = rest
            .strip_prefix(';')
            .ok_or_else(|| format!("expected ';' before {rest:?}"))?
            .trim_start();
        if rest.is_empty() {
            break;
        }
        let key_end = rest
            .find(|c: char| c == '=' || c == ';' || c.is_whitespace())
            .unwrap_or(rest.len());
        let key = &rest[..key_end];
        if key.is_empty() {
            return Err(format!("a parameter has no name before {rest:?}"));
        }
        rest = rest[key_end..].trim_start();
        rest = rest
            .strip_prefix('=')
            .ok_or_else(|| format!("parameter {key} has no value"))?
            .trim_start();
        let value;
        if let Some(quoted) = rest.strip_prefix('"') {
            let (v, after) = unquote(quoted)
                .ok_or_else(|| format!("the quoted value of {key} is not closed"))?;
            value = v;
            rest = after;
        } else {
            let end = rest
                .find(|c: char| c == ';' || c.is_whitespace())
                .unwrap_or(rest.len());
            value = Cow::Borrowed(&rest[..end]);
            rest = &rest[end..];
        }
        params.push((key, value));
    }
    Ok((first, params))
}

/// The contents of a quoted string whose opening `"` is already consumed,
/// with backslash escapes resolved, and the text after the closing `"`.
/// `None` when there is no closing quote.
fn unquote(s: &str) -> Option<(Cow<'_, str>, &str)> {
    let mut owned: Option<String> = None;
    let mut chars = s.char_indices();
    while let Some((i, ch)) = chars.next() {
        match ch {
            '"' => {
                let value = match owned {
                    Some(o) => Cow::Owned(o),
                    None => Cow::Borrowed(&s[..i]),
                };
                return Some((value, &s[i + 1..]));
            }
            '\\' => {
                let (_, escaped) = chars.next()?;
                owned.get_or_insert_with(|| s[..i].to_owned()).push(escaped);
            }
            _ => {
                if let Some(o) = owned.as_mut() {
                    o.push(ch);
                }
            }
        }
    }
    None
}

/// The first position at or after `from` where `needle` starts.
fn find(haystack: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    let first = *needle.first()?;
    let mut at = from;
    while at + needle.len() <= haystack.len() {
        let i = at + haystack[at..].iter().position(|&b| b == first)?;
        if haystack[i..].starts_with(needle) {
            return Some(i);
        }
        at = i + 1;
    }
    None
}

/// What follows a delimiter `--BOUNDARY` at `at`: `Ok(None)` for the
/// closing delimiter, or `Ok(Some(start))` where `start` is the first byte
/// of the next part, after optional spaces or tabs and CRLF.
fn after_delimiter(body: &[u8], at: usize) -> Result<Option<usize>, String> {
    let rest = &body[at..];
    if rest.starts_with(b"--") {
        return Ok(None);
    }
    let padding = rest
        .iter()
        .take_while(|&&b| b == b' ' || b == b'\t')
        .count();
    if rest[padding..].starts_with(b"\r\n") {
        Ok(Some(at + padding + 2))
    } else if rest[padding..].is_empty() {
        Err("the body ends without the closing boundary".to_string())
    } else {
        Err("a boundary line is followed by other text instead of a line break".to_string())
    }
}

/// Splits a `multipart/form-data` body into its parts, given the boundary
/// from [`boundary`]. The data of each part borrows from `body`.
///
/// Errors, in words, when the first or closing boundary is missing, a part
/// has no blank line after its headers, no `Content-Disposition: form-data`
/// with a `name`, or unreadable headers, or when there are more than 64
/// parts.
pub fn parse<'a>(body: &'a [u8], boundary: &str) -> Result<Vec<Part<'a>>, String> {
    if boundary.is_empty() {
        return Err("the multipart boundary is empty".to_string());
    }
    let dash_boundary = format!("--{boundary}").into_bytes();
    let delimiter = format!("\r\n--{boundary}").into_bytes();

    // The first delimiter starts the body or a line after a preamble.
    let first = if body.starts_with(&dash_boundary) {
        0
    } else {
        find(body, &delimiter, 0)
            .map(|i| i + 2)
            .ok_or("the body does not start with the multipart boundary")?
    };
    let mut next = after_delimiter(body, first + dash_boundary.len())?;

    let mut parts = Vec::new();
    while let Some(start) = next {
        let number = parts.len() + 1;
        if number > MAX_PARTS {
            return Err(format!("the form has more than {MAX_PARTS} parts"));
        }
        let end = find(body, &delimiter, start).ok_or_else(|| {
            format!("part {number} is not followed by a boundary: the closing boundary is missing")
        })?;
        let (headers, data_start) = if body[start..end].starts_with(b"\r\n") {
            (&body[start..start], start + 2)
        } else {
            let blank = find(&body[..end], b"\r\n\r\n", start).ok_or_else(|| {
                format!("the headers of part {number} are not followed by a blank line")
            })?;
            (&body[start..blank], blank + 4)
        };
        parts.push(part(number, headers, &body[data_start..end])?);
        next = after_delimiter(body, end + delimiter.len())?;
    }
    Ok(parts)
}

/// One part from its header block (lines without the final blank line).
fn part<'a>(number: usize, headers: &[u8], data: &'a [u8]) -> Result<Part<'a>, String> {
    let headers = std::str::from_utf8(headers)
        .map_err(|_| format!("the headers of part {number} are not UTF-8 text"))?;
    let mut disposition: Option<(String, Option<String>)> = None;
    let mut content_type = None;
    if headers.split("\r\n").any(|l| l.starts_with([' ', '\t'])) {
        return Err(format!(
            "part {number} has a folded header line, which multipart/form-data does not allow"
        ));
    }
    for line in headers.split("\r\n").filter(|l| !l.is_empty()) {
        let (name, value) = line
            .split_once(':')
            .ok_or_else(|| format!("part {number} has a header line without ':': {line:?}"))?;
        let name = name.trim();
        let value = value.trim();
        if name.eq_ignore_ascii_case("content-disposition") {
            if disposition.is_some() {
                return Err(format!("part {number} has two Content-Disposition headers"));
            }
            disposition = Some(content_disposition(number, value)?);
        } else if name.eq_ignore_ascii_case("content-type") {
            if content_type.is_some() {
                return Err(format!("part {number} has two Content-Type headers"));
            }
            content_type = Some(value.to_owned());
        }
    }
    let (name, filename) =
        disposition.ok_or_else(|| format!("part {number} has no Content-Disposition header"))?;
    Ok(Part {
        name,
        filename,
        content_type,
        data,
    })
}

/// The `name` and `filename` of a `Content-Disposition: form-data` value.
fn content_disposition(number: usize, value: &str) -> Result<(String, Option<String>), String> {
    let (kind, params) = split_params(value)
        .map_err(|e| format!("part {number} has a malformed Content-Disposition: {e}"))?;
    if !kind.eq_ignore_ascii_case("form-data") {
        return Err(format!(
            "part {number} has Content-Disposition {kind:?} instead of \"form-data\""
        ));
    }
    let mut name = None;
    let mut filename = None;
    for (key, v) in params {
        let slot = if key.eq_ignore_ascii_case("name") {
            &mut name
        } else if key.eq_ignore_ascii_case("filename") {
            &mut filename
        } else {
            continue;
        };
        if slot.is_some() {
            return Err(format!(
                "part {number} has {key} twice in its Content-Disposition"
            ));
        }
        *slot = Some(v.into_owned());
    }
    let name =
        name.ok_or_else(|| format!("part {number} has no name in its Content-Disposition"))?;
    Ok((name, filename))
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn one<'a>(body: &'a [u8], b: &str) -> Part<'a> {
        let mut parts = parse(body, b).unwrap();
        assert_eq!(parts.len(), 1);
        parts.remove(0)
    }

    #[test]
    fn boundaries_from_content_types() {
        let b = boundary;
        assert_eq!(
            b("multipart/form-data; boundary=----WebKitFormBoundaryAbC123"),
            Some("----WebKitFormBoundaryAbC123")
        );
        assert_eq!(b("Multipart/Form-Data;boundary=abc"), Some("abc"));
        assert_eq!(
            b(r#"multipart/form-data; charset=utf-8; BOUNDARY="a b:c""#),
            Some("a b:c")
        );
        assert_eq!(
            b(r#"multipart/form-data; foo="x;boundary=wrong"; boundary=right"#),
            Some("right")
        );
        assert_eq!(
            b("multipart/form-data ; boundary = xyz ; charset=utf-8"),
            Some("xyz")
        );
        assert_eq!(b("multipart/form-data"), None);
        assert_eq!(b("multipart/form-data; boundary="), None);
        assert_eq!(b(r#"multipart/form-data; boundary="""#), None);
        assert_eq!(b(r#"multipart/form-data; boundary="abc"#), None);
        assert_eq!(b(r#"multipart/form-data; boundary="a\"b""#), None);
        assert_eq!(b("multipart/form-data; boundary=a; boundary=b"), None);
        assert_eq!(
            b(&format!("multipart/form-data; boundary={}", "x".repeat(71))),
            None
        );
        assert_eq!(b(r#"multipart/form-data; boundary="ends in space ""#), None);
        assert_eq!(b("multipart/mixed; boundary=abc"), None);
        assert_eq!(b("application/x-www-form-urlencoded"), None);
        assert_eq!(b(""), None);
    }

    #[test]
    fn chromium_style_body() {
        let body = b"------WebKitFormBoundaryq6Z7\r\n\
            Content-Disposition: form-data; name=\"csrf\"\r\n\
            \r\n\
            tok123\r\n\
            ------WebKitFormBoundaryq6Z7\r\n\
            Content-Disposition: form-data; name=\"product\"\r\n\
            \r\n\
            Firefox 120\r\n\
            ------WebKitFormBoundaryq6Z7\r\n\
            Content-Disposition: form-data; name=\"file\"; filename=\"SHA256SUMS\"\r\n\
            Content-Type: application/octet-stream\r\n\
            \r\n\
            abc  win32/de/Firefox Setup.exe\n\
            def  linux/fr/firefox.tar.bz2\n\r\n\
            ------WebKitFormBoundaryq6Z7--\r\n";
        let parts = parse(body, "----WebKitFormBoundaryq6Z7").unwrap();
        assert_eq!(parts.len(), 3);
        assert_eq!(parts[0].name, "csrf");
        assert_eq!(parts[0].filename, None);
        assert_eq!(parts[0].content_type, None);
        assert_eq!(parts[0].data, b"tok123");
        assert_eq!(parts[1].data, b"Firefox 120");
        assert_eq!(parts[2].name, "file");
        assert_eq!(parts[2].filename.as_deref(), Some("SHA256SUMS"));
        assert_eq!(
            parts[2].content_type.as_deref(),
            Some("application/octet-stream")
        );
        assert_eq!(
            parts[2].data,
            b"abc  win32/de/Firefox Setup.exe\ndef  linux/fr/firefox.tar.bz2\n"
        );
    }

    #[test]
    fn curl_style_body() {
        // curl -F name=value -F file=@SHA1SUMS
        let body = b"--------------------------d74496d66958873e\r\n\
            Content-Disposition: form-data; name=\"product\"\r\n\
            \r\n\
            firefox\r\n\
            --------------------------d74496d66958873e\r\n\
            Content-Disposition: form-data; name=\"file\"; filename=\"SHA1SUMS\"\r\n\
            Content-Type: application/octet-stream\r\n\
            \r\n\
            SHA1 (a/b) = 0123\r\n\
            --------------------------d74496d66958873e--\r\n";
        let ct = "multipart/form-data; boundary=------------------------d74496d66958873e";
        let parts = parse(body, boundary(ct).unwrap()).unwrap();
        assert_eq!(parts.len(), 2);
        assert_eq!(parts[0].data, b"firefox");
        assert_eq!(parts[1].filename.as_deref(), Some("SHA1SUMS"));
        assert_eq!(parts[1].data, b"SHA1 (a/b) = 0123");
    }

    #[test]
    fn quoted_names_and_escapes() {
        let body = b"--b\r\n\
            content-disposition: FORM-DATA; filename=\"my file \\\"1\\\".txt\"; name=\"field with spaces\"; filename*=UTF-8''x\r\n\
            CONTENT-TYPE:text/plain; charset=utf-8\r\n\
            X-Other: ignored\r\n\
            \r\n\
            hello\r\n\
            --b--";
        let p = one(body, "b");
        assert_eq!(p.name, "field with spaces");
        assert_eq!(p.filename.as_deref(), Some("my file \"1\".txt"));
        assert_eq!(p.content_type.as_deref(), Some("text/plain; charset=utf-8"));
        assert_eq!(p.data, b"hello");

        let p = one(
            "--b\r\nContent-Disposition: form-data; name=\"a\\\\b\"; filename=\"%22ü%22.txt\"\r\n\r\n\r\n--b--".as_bytes(),
            "b",
        );
        assert_eq!(p.name, "a\\b");
        assert_eq!(p.filename.as_deref(), Some("%22ü%22.txt"), "left as sent");

        let p = one(
            b"--b\r\nContent-Disposition: form-data; name=plain\r\n\r\nx\r\n--b--",
            "b",
        );
        assert_eq!(p.name, "plain");
    }

    #[test]
    fn empty_values_and_files() {
        let body = b"--b\r\n\
            Content-Disposition: form-data; name=\"file\"; filename=\"\"\r\n\
            Content-Type: application/octet-stream\r\n\
            \r\n\
            \r\n\
            --b\r\n\
            Content-Disposition: form-data; name=\"\"\r\n\
            \r\n\
            \r\n\
            --b--\r\n";
        let parts = parse(body, "b").unwrap();
        assert_eq!(parts.len(), 2);
        assert_eq!(parts[0].filename.as_deref(), Some(""));
        assert_eq!(parts[0].data, b"");
        assert_eq!(parts[1].name, "");
        assert_eq!(parts[1].data, b"");
        // No parts at all.
        assert_eq!(parse(b"--b--\r\n", "b").unwrap(), []);
    }

    #[test]
    fn binary_data_with_crlf_and_dashes() {
        let data: &[u8] = b"\r\n--\r\n--b-\r\n-b\r\r\n\n\0\xff--b"; // "--b" is only a prefix of "--bb"
        let mut body = b"--bb\r\nContent-Disposition: form-data; name=\"f\"\r\n\r\n".to_vec();
        body.extend_from_slice(data);
        body.extend_from_slice(b"\r\n--bb--");
        assert_eq!(one(&body, "bb").data, data);
    }

    #[test]
    fn preamble_epilogue_and_padding() {
        let body = b"This is a preamble.\r\n--b \t\r\n\
            Content-Disposition: form-data; name=a\r\n\r\n1\r\n--b--\r\nepilogue --b\r\n";
        assert_eq!(one(body, "b").data, b"1");
    }

    fn err(body: &[u8]) -> String {
        parse(body, "b").unwrap_err()
    }

    #[test]
    fn errors_say_what_is_wrong() {
        assert!(err(b"").contains("does not start with the multipart boundary"));
        assert!(err(b"no boundary here").contains("does not start"));
        assert!(err(b"--c\r\n").contains("does not start"));
        assert!(
            err(b"--b\r\nContent-Disposition: form-data; name=a\r\n\r\ndata")
                .contains("closing boundary is missing")
        );
        assert!(
            err(b"--b\r\nContent-Disposition: form-data; name=a\r\n\r\ndata\r\n--b")
                .contains("ends without the closing boundary")
        );
        assert!(
            err(b"--b\r\nContent-Disposition: form-data; name=a\r\n\r\ndata\r\n--bx--")
                .contains("followed by other text")
        );
        assert!(err(b"--bxyz").contains("followed by other text"));
        assert!(err(b"--b").contains("ends without the closing boundary"));
        assert!(
            err(b"--b\r\nContent-Disposition: form-data; name=a\r\ndata\r\n--b--")
                .contains("part 1 are not followed by a blank line")
        );
        assert!(
            err(b"--b\r\nContent-Type: text/plain\r\n\r\nx\r\n--b--")
                .contains("part 1 has no Content-Disposition")
        );
        assert!(
            err(b"--b\r\nContent-Disposition: form-data; filename=\"x\"\r\n\r\nx\r\n--b--")
                .contains("part 1 has no name")
        );
        assert!(
            err(b"--b\r\nContent-Disposition: form-data; name=a\r\n\r\n\r\n--b\r\nContent-Disposition: attachment; name=a\r\n\r\n\r\n--b--")
                .contains("part 2 has Content-Disposition \"attachment\"")
        );
        assert!(
            err(b"--b\r\nContent-Disposition: form-data; name=\"a\r\n\r\n\r\n--b--")
                .contains("not closed")
        );
        assert!(
            err(b"--b\r\nContent-Disposition: form-data; name=a; name=b\r\n\r\n\r\n--b--")
                .contains("name twice")
        );
        assert!(
            err(b"--b\r\nContent-Disposition: form-data;\r\n name=a\r\n\r\n\r\n--b--")
                .contains("folded header")
        );
        assert!(
            err(b"--b\r\nContent-Disposition: form-data; name=\"\xff\"\r\n\r\n\r\n--b--")
                .contains("not UTF-8")
        );
        assert!(err(b"--b\r\nnonsense\r\n\r\n\r\n--b--").contains("header line without ':'"));
        assert!(
            parse(b"----", "")
                .unwrap_err()
                .contains("boundary is empty")
        );
    }

    fn encode(parts: &[(String, Option<String>, Vec<u8>)], boundary: &str) -> Vec<u8> {
        let quote = |s: &str| s.replace('\\', "\\\\").replace('"', "\\\"");
        let mut body = Vec::new();
        for (name, filename, data) in parts {
            body.extend_from_slice(format!("--{boundary}\r\n").as_bytes());
            body.extend_from_slice(
                format!("Content-Disposition: form-data; name=\"{}\"", quote(name)).as_bytes(),
            );
            if let Some(f) = filename {
                body.extend_from_slice(format!("; filename=\"{}\"", quote(f)).as_bytes());
                body.extend_from_slice(b"\r\nContent-Type: application/octet-stream");
            }
            body.extend_from_slice(b"\r\n\r\n");
            body.extend_from_slice(data);
            body.extend_from_slice(b"\r\n");
        }
        body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
        body
    }

    #[test]
    fn at_most_64_parts() {
        let part = |i: usize| (format!("f{i}"), None, b"x".to_vec());
        let ok: Vec<_> = (0..64).map(part).collect();
        assert_eq!(parse(&encode(&ok, "b"), "b").unwrap().len(), 64);
        let too_many: Vec<_> = (0..65).map(part).collect();
        assert!(
            parse(&encode(&too_many, "b"), "b")
                .unwrap_err()
                .contains("more than 64 parts")
        );
    }

    /// Bytes with many CRs, LFs and dashes among arbitrary ones.
    fn data() -> impl Strategy<Value = Vec<u8>> {
        proptest::collection::vec(
            prop_oneof![any::<u8>(), Just(b'\r'), Just(b'\n'), Just(b'-'),],
            0..300,
        )
    }

    proptest! {
        #[test]
        fn round_trips(
            boundary in "[0-9A-Za-z'()+_,./:=?-]{1,40}",
            parts in proptest::collection::vec(
                ("[^\r\n]{0,12}", proptest::option::of("[^\r\n]{0,12}"), data()),
                1..5,
            ),
        ) {
            let needle = format!("--{boundary}");
            prop_assume!(parts.iter().all(|(_, _, d)| find(d, needle.as_bytes(), 0).is_none()));
            let body = encode(&parts, &boundary);
            let ct = format!("multipart/form-data; boundary=\"{boundary}\"");
            prop_assert_eq!(super::boundary(&ct), Some(boundary.as_str()));
            let parsed = parse(&body, &boundary).unwrap();
            prop_assert_eq!(parsed.len(), parts.len());
            for (p, (name, filename, data)) in parsed.iter().zip(&parts) {
                prop_assert_eq!(&p.name, name);
                prop_assert_eq!(&p.filename, filename);
                prop_assert_eq!(p.data, data.as_slice());
            }
        }

        #[test]
        fn never_panics(body in data(), boundary in "[a-z-]{1,4}") {
            let _ = parse(&body, &boundary);
        }
    }
}
