//! `multipart/form-data` request bodies (RFC 7578, with the framing of
//! RFC 2046), as browsers and curl send them for file uploads such as the
//! admin's checksum-file upload.
//!
//! The framing (delimiter lines, transport padding, preamble and epilogue,
//! header blocks, part data that may hold any bytes) is read by `multer`, a
//! streaming parser that is widely used and fuzzed; its header lines by
//! `httparse`. Bodies reach us already read whole and capped, so the stream
//! multer reads is the body in one piece, and every future it returns is
//! ready at its first poll unless it waits for bytes past the end: then the
//! body is cut short.
//!
//! Strict means: anything malformed is an error that says what is wrong,
//! rather than a best guess. This module reads the boundary from the
//! request's `Content-Type`, and each part's `Content-Disposition` itself
//! (`form-data`, with `name` and optional `filename`, each at most once),
//! as multer's own reading of it is lenient. A part's `Content-Type` is
//! kept as sent; other headers are ignored, and so is `filename*`. Quoted
//! strings may use backslash escapes; percent-encoded names (what current
//! browsers send for `"` and line breaks) are returned as sent, undecoded.
//! Header text follows HTTP's rules: control characters other than tab are
//! refused, and of a header sent twice in one part the last counts.

use std::borrow::Cow;
use std::convert::Infallible;
use std::fmt;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use futures_util::StreamExt;
use futures_util::stream;
use hyper::HeaderMap;
use hyper::header::{CONTENT_DISPOSITION, CONTENT_TYPE, HeaderValue};

/// At most this many parts in one body.
const MAX_PARTS: usize = 64;

/// One part of a `multipart/form-data` body: a form field or a file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Part {
    /// The form field's name (`name=` of `Content-Disposition`).
    pub name: String,
    /// The file name for file uploads (`filename=`); `Some("")` when a
    /// browser sends a file field with no file chosen.
    pub filename: Option<String>,
    /// The part's `Content-Type`, as sent, when present.
    pub content_type: Option<String>,
    /// The part's bytes, exactly as sent.
    pub data: Vec<u8>,
}

/// Why a `multipart/form-data` body was refused. Parts are numbered from 1.
#[derive(Debug)]
pub enum Error {
    /// The boundary to split on is empty.
    EmptyBoundary,
    /// No delimiter line `--BOUNDARY` anywhere in the body.
    NoFirstBoundary,
    /// The body breaks off in or right after a delimiter line.
    NoClosingBoundary,
    /// A delimiter line goes on with other text instead of a line break.
    TextAfterBoundary,
    /// The body breaks off in the headers of this part.
    NoBlankLine(usize),
    /// The body breaks off in the data of this part.
    NoBoundaryAfter(usize),
    /// A header line of this part is not `Name: value`, or there are too
    /// many; multer's error says which.
    MalformedHeader(usize, multer::Error),
    /// A header of this part is not UTF-8 text.
    NotUtf8(usize),
    /// This part has no `Content-Disposition` header.
    NoDisposition(usize),
    /// This part's `Content-Disposition` is of another kind than `form-data`.
    NotFormData {
        /// The part's number.
        part: usize,
        /// The kind it has instead.
        kind: String,
    },
    /// This part's `Content-Disposition` cannot be read.
    BadDisposition(usize, ParamError),
    /// This part's `Content-Disposition` has `name` or `filename` twice.
    Twice {
        /// The part's number.
        part: usize,
        /// The parameter, as sent.
        key: String,
    },
    /// This part's `Content-Disposition` has no `name`.
    NoName(usize),
    /// The body has more than 64 parts.
    TooManyParts,
    /// Anything else multer refuses (none is known to reach here: it reads
    /// from memory, without size limits).
    Other(multer::Error),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::EmptyBoundary => write!(f, "the multipart boundary is empty"),
            Error::NoFirstBoundary => {
                write!(f, "the body does not start with the multipart boundary")
            }
            Error::NoClosingBoundary => write!(f, "the body ends without the closing boundary"),
            Error::TextAfterBoundary => write!(
                f,
                "a boundary line is followed by other text instead of a line break"
            ),
            Error::NoBlankLine(n) => {
                write!(
                    f,
                    "the headers of part {n} are not followed by a blank line"
                )
            }
            Error::NoBoundaryAfter(n) => write!(
                f,
                "part {n} is not followed by a boundary: the closing boundary is missing"
            ),
            Error::MalformedHeader(n, e) => {
                // multer says "failed to read headers"; httparse's reason
                // ("invalid header name", "too many headers") is its source.
                let reason = std::error::Error::source(e).map_or(e.to_string(), |s| s.to_string());
                write!(
                    f,
                    "part {n} has a header line that cannot be read ({reason}): \
                     each must be `Name: value`, with no header line without ':' \
                     and no folded header line, which multipart/form-data does not allow"
                )
            }
            Error::NotUtf8(n) => write!(f, "the headers of part {n} are not UTF-8 text"),
            Error::NoDisposition(n) => write!(f, "part {n} has no Content-Disposition header"),
            Error::NotFormData { part, kind } => write!(
                f,
                "part {part} has Content-Disposition {kind:?} instead of \"form-data\""
            ),
            Error::BadDisposition(n, e) => {
                write!(f, "part {n} has a malformed Content-Disposition: {e}")
            }
            Error::Twice { part, key } => {
                write!(f, "part {part} has {key} twice in its Content-Disposition")
            }
            Error::NoName(n) => write!(f, "part {n} has no name in its Content-Disposition"),
            Error::TooManyParts => write!(f, "the form has more than {MAX_PARTS} parts"),
            Error::Other(e) => write!(f, "the multipart body cannot be read: {e}"),
        }
    }
}

impl std::error::Error for Error {}

/// Why the parameters of a header value cannot be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParamError {
    /// Text where a `;` should start the next parameter (the rest).
    NoSemicolon(String),
    /// A parameter without a name (the rest).
    NoName(String),
    /// A parameter without `=value`.
    NoValue(String),
    /// A quoted value without its closing quote.
    Unclosed(String),
}

impl fmt::Display for ParamError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ParamError::NoSemicolon(rest) => write!(f, "expected ';' before {rest:?}"),
            ParamError::NoName(rest) => write!(f, "a parameter has no name before {rest:?}"),
            ParamError::NoValue(key) => write!(f, "parameter {key} has no value"),
            ParamError::Unclosed(key) => write!(f, "the quoted value of {key} is not closed"),
        }
    }
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
fn split_params(value: &str) -> Result<(&str, Params<'_>), ParamError> {
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
            .ok_or_else(|| ParamError::NoSemicolon(rest.to_owned()))?
            .trim_start();
        if rest.is_empty() {
            break;
        }
        let key_end = rest
            .find(|c: char| c == '=' || c == ';' || c.is_whitespace())
            .unwrap_or(rest.len());
        let key = &rest[..key_end];
        if key.is_empty() {
            return Err(ParamError::NoName(rest.to_owned()));
        }
        rest = rest[key_end..].trim_start();
        rest = rest
            .strip_prefix('=')
            .ok_or_else(|| ParamError::NoValue(key.to_owned()))?
            .trim_start();
        let value;
        if let Some(quoted) = rest.strip_prefix('"') {
            let (v, after) = unquote(quoted).ok_or_else(|| ParamError::Unclosed(key.to_owned()))?;
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

/// Splits a `multipart/form-data` body into its parts, given the boundary
/// from [`boundary`].
///
/// Refused, with an [`Error`] that says what is wrong: a body without the
/// first or the closing boundary, a part whose headers cannot be read or
/// have no `Content-Disposition: form-data` with a `name`, and a body of
/// more than 64 parts.
pub fn parse(body: &[u8], boundary: &str) -> Result<Vec<Part>, Error> {
    if boundary.is_empty() {
        return Err(Error::EmptyBoundary);
    }
    // The body in one piece, then a stream that never ends rather than
    // one that does: multer then tells a body cut short (it waits for
    // more, which `now` reports as `None`) from a malformed one (an error).
    let body_stream = stream::iter([Ok::<_, Infallible>(body.to_vec())]).chain(stream::pending());
    let mut multipart = multer::Multipart::new(body_stream, boundary);
    let mut parts = Vec::new();
    loop {
        let number = parts.len() + 1;
        let field = match now(multipart.next_field()) {
            Some(Ok(Some(field))) => field,
            Some(Ok(None)) => return Ok(parts),
            Some(Err(e)) => return Err(refusal(number, e)),
            None => return Err(cut_short(body, boundary, number)),
        };
        if number > MAX_PARTS {
            return Err(Error::TooManyParts);
        }
        let (name, filename, content_type) = headers(number, field.headers())?;
        let data = now(async move {
            let mut field = field;
            let mut data = Vec::new();
            while let Some(chunk) = field.chunk().await? {
                data.extend_from_slice(&chunk);
            }
            Ok::<_, multer::Error>(data)
        });
        let data = match data {
            Some(Ok(data)) => data,
            Some(Err(e)) => return Err(refusal(number, e)),
            None => return Err(Error::NoBoundaryAfter(number)),
        };
        parts.push(Part {
            name,
            filename,
            content_type,
            data,
        });
    }
}

/// The output of `future` if it is ready at its first poll, else `None`.
/// Multer reads the body from memory, so a future that is not ready waits
/// for bytes past its end: polling again could never help.
fn now<F: Future>(future: F) -> Option<F::Output> {
    let mut future = pin!(future);
    match future
        .as_mut()
        .poll(&mut Context::from_waker(Waker::noop()))
    {
        Poll::Ready(output) => Some(output),
        Poll::Pending => None,
    }
}

/// The error for what multer refuses while reading part `number`.
fn refusal(number: usize, e: multer::Error) -> Error {
    match e {
        // The one mismatch multer reports as this error, as the body it
        // reads never ends: text after a delimiter where a line break
        // should be. (Every other use of it means an end of stream.)
        multer::Error::IncompleteStream => Error::TextAfterBoundary,
        multer::Error::ReadHeaderFailed(_)
        | multer::Error::IncompleteHeaders
        | multer::Error::DecodeHeaderName { .. }
        | multer::Error::DecodeHeaderValue { .. } => Error::MalformedHeader(number, e),
        e => Error::Other(e),
    }
}

/// The error for a body that ends where multer waits for more, before
/// part `number`'s data: before any delimiter line `--BOUNDARY`, within
/// the last one (at most one byte after it and its padding, where multer
/// needs two to tell the closing `--` from a line break), or in the
/// headers after it.
fn cut_short(body: &[u8], boundary: &str, number: usize) -> Error {
    let needle = format!("--{boundary}").into_bytes();
    let Some(at) = body.windows(needle.len()).rposition(|w| w == needle) else {
        return Error::NoFirstBoundary;
    };
    let rest = &body[at + needle.len()..];
    let padding = rest
        .iter()
        .take_while(|&&b| b == b' ' || b == b'\t')
        .count();
    let rest = &rest[padding..];
    if rest.len() <= 1 || rest == b"\r\n" {
        Error::NoClosingBoundary
    } else {
        Error::NoBlankLine(number)
    }
}

/// The name, file name and content type of part `number` from its headers.
fn headers(
    number: usize,
    headers: &HeaderMap,
) -> Result<(String, Option<String>, Option<String>), Error> {
    let text = |value: &HeaderValue| {
        std::str::from_utf8(value.as_bytes())
            .map(str::to_owned)
            .map_err(|_| Error::NotUtf8(number))
    };
    for value in headers.values() {
        text(value)?;
    }
    let disposition = headers
        .get(CONTENT_DISPOSITION)
        .ok_or(Error::NoDisposition(number))?;
    let (name, filename) = content_disposition(number, &text(disposition)?)?;
    let content_type = headers.get(CONTENT_TYPE).map(text).transpose()?;
    Ok((name, filename, content_type))
}

/// The `name` and `filename` of a `Content-Disposition: form-data` value.
fn content_disposition(number: usize, value: &str) -> Result<(String, Option<String>), Error> {
    let (kind, params) = split_params(value).map_err(|e| Error::BadDisposition(number, e))?;
    if !kind.eq_ignore_ascii_case("form-data") {
        return Err(Error::NotFormData {
            part: number,
            kind: kind.to_owned(),
        });
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
            return Err(Error::Twice {
                part: number,
                key: key.to_owned(),
            });
        }
        *slot = Some(v.into_owned());
    }
    let name = name.ok_or(Error::NoName(number))?;
    Ok((name, filename))
}

/// A `multipart/form-data` body of `parts` (field name, file name for an
/// upload, contents) with `boundary`, as a browser sends it: what tools
/// and tests post to the admin's upload forms.
pub fn encode(parts: &[(&str, Option<&str>, &[u8])], boundary: &str) -> Vec<u8> {
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

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn one(body: &[u8], b: &str) -> Part {
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
    fn a_header_sent_twice_counts_once_the_last() {
        // httparse and multer keep the last; the old parser refused this.
        let p = one(
            b"--b\r\nContent-Disposition: form-data; name=a\r\n\
              Content-Disposition: form-data; name=z\r\n\r\nx\r\n--b--",
            "b",
        );
        assert_eq!(p.name, "z");
    }

    #[test]
    fn preamble_epilogue_and_padding() {
        let body = b"This is a preamble.\r\n--b \t\r\n\
            Content-Disposition: form-data; name=a\r\n\r\n1\r\n--b--\r\nepilogue --b\r\n";
        assert_eq!(one(body, "b").data, b"1");
    }

    fn err(body: &[u8]) -> String {
        parse(body, "b").unwrap_err().to_string()
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
            err(b"--b\r\nContent-Disposition: form-data; name=\"\x01\"\r\n\r\n\r\n--b--")
                .contains("part 1 has a header line that cannot be read")
        );
        assert!(err(b"--b\r\n").contains("ends without the closing boundary"));
        assert!(
            parse(b"----", "")
                .unwrap_err()
                .to_string()
                .contains("boundary is empty")
        );
    }

    fn encode(parts: &[(String, Option<String>, Vec<u8>)], boundary: &str) -> Vec<u8> {
        let parts: Vec<(&str, Option<&str>, &[u8])> = parts
            .iter()
            .map(|(n, f, d)| (n.as_str(), f.as_deref(), d.as_slice()))
            .collect();
        super::encode(&parts, boundary)
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
                .to_string()
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

    /// A checksum file of a few MB beside the CSRF field, as the loader
    /// page receives it, comes back whole (its speed: `benches/admin.rs`).
    #[test]
    fn a_large_upload_is_read_whole() {
        let line = b"0123456789abcdef0123456789abcdef  linux-x86_64/de/firefox-120.0.tar.bz2\n";
        let file: Vec<u8> = line.iter().copied().cycle().take(3 << 20).collect();
        let body = super::encode(
            &[("csrf", None, b"tok"), ("file", Some("SHA256SUMS"), &file)],
            "XY",
        );
        let parts = parse(&body, "XY").unwrap();
        assert_eq!(parts[1].data.len(), file.len());
        assert!(parts[1].data == file);
    }

    proptest! {
        #[test]
        fn round_trips(
            boundary in "[0-9A-Za-z'()+_,./:=?-]{1,40}",
            parts in proptest::collection::vec(
                // Header text: HTTP forbids control characters (tab aside).
                (
                    r"[^\x00-\x08\x0A-\x1F\x7F]{0,12}",
                    proptest::option::of(r"[^\x00-\x08\x0A-\x1F\x7F]{0,12}"),
                    data(),
                ),
                1..5,
            ),
        ) {
            let needle = format!("--{boundary}");
            prop_assume!(parts.iter().all(|(_, _, d)| {
                !d.windows(needle.len()).any(|w| w == needle.as_bytes())
            }));
            let body = encode(&parts, &boundary);
            let ct = format!("multipart/form-data; boundary=\"{boundary}\"");
            prop_assert_eq!(super::boundary(&ct), Some(boundary.as_str()));
            let parsed = parse(&body, &boundary).unwrap();
            prop_assert_eq!(parsed.len(), parts.len());
            for (p, (name, filename, data)) in parsed.iter().zip(&parts) {
                prop_assert_eq!(&p.name, name);
                prop_assert_eq!(&p.filename, filename);
                prop_assert_eq!(&p.data, data);
            }
        }

        #[test]
        fn never_panics(body in data(), boundary in "[a-z-]{1,4}") {
            let _ = parse(&body, &boundary);
        }
    }
}
