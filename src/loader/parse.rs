//! Checksum files (MD5SUMS, SHA1SUMS, SHA256SUMS, SHA512SUMS), as GNU
//! coreutils and BSD tools write them. Pure and total: every line is either
//! an entry or a problem with its line number; nothing panics.

use crate::error::excerpt;

/// Which digest a line carries, from its length (or BSD tag).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum HashKind {
    /// 32 hex digits.
    Md5,
    /// 40 hex digits.
    Sha1,
    /// 64 hex digits.
    Sha256,
    /// 128 hex digits.
    Sha512,
}

impl HashKind {
    fn from_len(n: usize) -> Option<HashKind> {
        match n {
            32 => Some(HashKind::Md5),
            40 => Some(HashKind::Sha1),
            64 => Some(HashKind::Sha256),
            128 => Some(HashKind::Sha512),
            _ => None,
        }
    }

    /// Its usual name.
    pub fn name(self) -> &'static str {
        match self {
            HashKind::Md5 => "MD5",
            HashKind::Sha1 => "SHA1",
            HashKind::Sha256 => "SHA256",
            HashKind::Sha512 => "SHA512",
        }
    }
}

/// One usable line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// 1-based line number.
    pub line: usize,
    /// Digest kind.
    pub kind: HashKind,
    /// Lower-case hex digest.
    pub hash: String,
    /// The file's path as written (decoded from GNU escapes, leading `./`
    /// and `/` removed).
    pub path: String,
}

/// One unusable line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    /// 1-based line number.
    pub line: usize,
    /// What is wrong with it.
    pub reason: String,
}

/// A parsed checksum file.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Parsed {
    /// Usable lines.
    pub entries: Vec<Entry>,
    /// Unusable lines.
    pub problems: Vec<Problem>,
}

/// Parses a whole checksum file. Blank lines and `#` comments are skipped;
/// CRLF line ends are accepted; invalid UTF-8 is reported per line.
pub fn parse(bytes: &[u8]) -> Parsed {
    let mut out = Parsed::default();
    for (i, raw) in bytes.split(|&b| b == b'\n').enumerate() {
        let line = i + 1;
        let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
        let Ok(text) = std::str::from_utf8(raw) else {
            out.problems.push(Problem {
                line,
                reason: "not valid UTF-8".into(),
            });
            continue;
        };
        // A byte-order mark (Windows editors) is no part of the first line.
        let text = if line == 1 {
            text.strip_prefix('\u{feff}').unwrap_or(text)
        } else {
            text
        };
        let trimmed = text.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        match parse_line(text) {
            Ok((kind, hash, path)) => out.entries.push(Entry {
                line,
                kind,
                hash,
                path,
            }),
            Err(reason) => out.problems.push(Problem { line, reason }),
        }
    }
    out
}

fn parse_line(text: &str) -> Result<(HashKind, String, String), String> {
    let text = text.trim_start();
    // GNU tools mark a line whose name has `\` or a newline with a leading
    // `\`, in both formats.
    let (escaped, text) = match text.strip_prefix('\\') {
        Some(r) => (true, r),
        None => (false, text),
    };
    let name = |path: &str| -> Result<String, String> {
        if escaped {
            clean_path(&unescape(path)?)
        } else {
            clean_path(path)
        }
    };
    // BSD: `SHA256 (path) = hex`
    if let Some(open) = text.find(" (")
        && text[..open]
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-')
        && let Some(close) = text.rfind(") = ")
        && close > open
    {
        let tag = &text[..open];
        let path = &text[open + 2..close];
        let hex = text[close + 4..].trim();
        let kind = digest(hex)?;
        let expected = match tag.to_ascii_uppercase().replace('-', "").as_str() {
            "MD5" => HashKind::Md5,
            "SHA1" => HashKind::Sha1,
            "SHA256" => HashKind::Sha256,
            "SHA512" => HashKind::Sha512,
            other => {
                return Err(format!(
                    "unknown digest name {} (expected MD5, SHA1, SHA256 or SHA512)",
                    excerpt(other)
                ));
            }
        };
        if kind != expected {
            return Err(format!(
                "{tag} digest has {} hex digits, which is {}",
                hex.len(),
                kind.name()
            ));
        }
        return Ok((kind, hex.to_ascii_lowercase(), name(path)?));
    }
    // GNU: `[\]hex  path` or `[\]hex *path`
    let rest = text;
    let Some(space) = rest.find(' ') else {
        return Err("expected `<hex digest>  <path>` or `SHA256 (<path>) = <hex digest>`".into());
    };
    let hex = &rest[..space];
    let kind = digest(hex)?;
    let after = &rest[space + 1..];
    let path = match after.as_bytes().first() {
        Some(b' ') | Some(b'*') => &after[1..],
        _ => return Err("expected two spaces (or ` *`) between digest and path".into()),
    };
    if path.is_empty() {
        return Err("no path after the digest".into());
    }
    Ok((kind, hex.to_ascii_lowercase(), name(path)?))
}

fn digest(hex: &str) -> Result<HashKind, String> {
    if !hex.bytes().all(|b| b.is_ascii_hexdigit()) || hex.is_empty() {
        return Err(format!("{} is not a hex digest", excerpt(hex)));
    }
    HashKind::from_len(hex.len()).ok_or_else(|| {
        format!(
            "a digest of {} hex digits is none of MD5 (32), SHA-1 (40), SHA-256 (64), SHA-512 (128)",
            hex.len()
        )
    })
}

/// GNU coreutils escapes `\` as `\\` and a newline as `\n` in file names,
/// and marks such lines with a leading `\`.
fn unescape(path: &str) -> Result<String, String> {
    let mut out = String::with_capacity(path.len());
    let mut chars = path.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('\\') => out.push('\\'),
            Some('n') => out.push('\n'),
            Some('r') => out.push('\r'),
            other => {
                return Err(format!(
                    "bad escape \\{} in an escaped file name",
                    other.map(String::from).unwrap_or_default()
                ));
            }
        }
    }
    Ok(out)
}

fn clean_path(path: &str) -> Result<String, String> {
    let mut p = path;
    while let Some(rest) = p.strip_prefix("./") {
        p = rest;
    }
    let p = p.trim_start_matches('/');
    if p.is_empty() {
        return Err("empty path".into());
    }
    if p.split('/').any(|s| s == ".." || s == ".") {
        return Err(format!("path {} has '.' or '..' segments", excerpt(p)));
    }
    // Other control characters (a newline, written `\n` by GNU tools) are
    // percent-encoded in URLs; a NUL can name no file.
    if p.contains('\0') {
        return Err(format!("path {} contains a NUL byte", excerpt(p)));
    }
    Ok(p.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const SHA1: &str = "da39a3ee5e6b4b0d3255bfef95601890afd80709";
    const MD5: &str = "d41d8cd98f00b204e9800998ecf8427e";
    const SHA256: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    #[test]
    fn gnu_and_bsd_lines_mixed() {
        let text = format!(
            "# a comment\r\n{SHA1}  win32/de/Firefox Setup 1.0.exe\r\n\n{MD5} *./mac/ja-JP-mac/Firefox 1.0.dmg\nSHA256 (linux-x86_64/pt-BR/firefox-1.0.tar.bz2) = {}\n\\{SHA1}  odd\\\\name\\nwith newline\n{SHA1}  /abs/ünïcode path.exe\n",
            SHA256.to_uppercase()
        );
        let p = parse(text.as_bytes());
        assert!(p.problems.is_empty(), "{:?}", p.problems);
        let got: Vec<_> = p
            .entries
            .iter()
            .map(|e| (e.line, e.kind, e.path.as_str()))
            .collect();
        assert_eq!(
            got,
            vec![
                (2, HashKind::Sha1, "win32/de/Firefox Setup 1.0.exe"),
                (4, HashKind::Md5, "mac/ja-JP-mac/Firefox 1.0.dmg"),
                (
                    5,
                    HashKind::Sha256,
                    "linux-x86_64/pt-BR/firefox-1.0.tar.bz2"
                ),
                (6, HashKind::Sha1, "odd\\name\nwith newline"),
                (7, HashKind::Sha1, "abs/ünïcode path.exe"),
            ]
        );
        assert_eq!(p.entries[2].hash, SHA256);
    }

    #[test]
    fn every_bad_line_is_reported_with_its_number() {
        let text = format!(
            "{SHA1}  ok.exe\nnot a checksum line\n{}  short.exe\nzz{}  nothex.exe\n{SHA1}onespace.exe\n{SHA1}  \nMD5 (x) = {SHA1}\nWHIRLPOOL (x) = {MD5}\n{SHA1}  a/../b\n",
            &SHA1[..20],
            &SHA1[2..]
        );
        let p = parse(text.as_bytes());
        assert_eq!(p.entries.len(), 1);
        let lines: Vec<usize> = p.problems.iter().map(|x| x.line).collect();
        assert_eq!(lines, vec![2, 3, 4, 5, 6, 7, 8, 9]);
        assert!(
            p.problems[1].reason.contains("20 hex digits"),
            "{:?}",
            p.problems[1]
        );
        assert!(p.problems[5].reason.contains("MD5"), "{:?}", p.problems[5]);
        let bad_utf8 = parse(b"\xff\xfe  x\n");
        assert_eq!(bad_utf8.problems[0].reason, "not valid UTF-8");
    }

    proptest! {
        #[test]
        fn never_panics_on_arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let p = parse(&bytes);
            for e in &p.entries {
                prop_assert!(!e.path.is_empty());
            }
        }

        #[test]
        fn never_panics_on_line_shaped_text(s in "([0-9a-fA-F]{0,70}[ *\\\\(=)A-Z]{0,4}[ -~]{0,20}\n){0,8}") {
            let _ = parse(s.as_bytes());
        }

        #[test]
        fn round_trips_gnu_lines(path in "[a-zA-Z0-9 _.-]{1,20}(/[a-zA-Z0-9 _.-]{1,20}){0,3}", binary: bool) {
            prop_assume!(!path.split('/').any(|s| s == "." || s == ".." || s.starts_with(' ')));
            let line = format!("{SHA256} {}{path}\n", if binary { '*' } else { ' ' });
            let p = parse(line.as_bytes());
            prop_assert_eq!(p.entries.len(), 1, "{:?}", p.problems);
            prop_assert_eq!(&p.entries[0].path, path.trim_start_matches("./"));
        }
    }
}
