//! What the index keeps about concrete files (from the files table) for
//! download clients: size and digests, and the `Digest` header value
//! (RFC 3230) already encoded, so a redirect only clones it.

use hyper::header::HeaderValue;

use crate::model::FileInfo;

/// A known file: its size and digests, as far as known.
#[derive(Debug)]
pub struct FileMeta {
    /// Its path from a mirror's root, percent-encoded (as stored).
    pub path: Box<str>,
    /// The language filling its location's `:lang` (empty: none).
    pub lang: Box<str>,
    /// Size in bytes.
    pub size: Option<u64>,
    /// MD5.
    pub md5: Option<[u8; 16]>,
    /// SHA-1.
    pub sha1: Option<[u8; 20]>,
    /// SHA-256.
    pub sha256: Option<[u8; 32]>,
    /// SHA-512.
    pub sha512: Option<Box<[u8; 64]>>,
    /// `sha-256=<base64>`, the `Digest` header of its redirects (when the
    /// SHA-256 is known).
    pub digest: Option<HeaderValue>,
}

impl FileMeta {
    /// From a row of the files table; digests that are not valid hex of
    /// the right length count as unknown.
    pub fn new(f: &FileInfo) -> FileMeta {
        let sha256 = f.sha256.as_deref().and_then(from_hex::<32>);
        let digest = sha256.map(|d| {
            let mut v = String::with_capacity(8 + 44);
            v.push_str("sha-256=");
            base64_into(&d, &mut v);
            HeaderValue::from_str(&v).expect("base64 is a valid header value")
        });
        FileMeta {
            path: f.path.as_str().into(),
            lang: f.lang.as_deref().unwrap_or("").into(),
            size: f.size,
            md5: f.md5.as_deref().and_then(from_hex::<16>),
            sha1: f.sha1.as_deref().and_then(from_hex::<20>),
            sha256,
            sha512: f.sha512.as_deref().and_then(from_hex::<64>).map(Box::new),
            digest,
        }
    }

    /// Known digests as (RFC 5854 / IANA hash name, lower-case hex),
    /// strongest first.
    pub fn hashes(&self) -> Vec<(&'static str, String)> {
        let mut out = Vec::new();
        if let Some(h) = &self.sha512 {
            out.push(("sha-512", hex(&h[..])));
        }
        if let Some(h) = &self.sha256 {
            out.push(("sha-256", hex(h)));
        }
        if let Some(h) = &self.sha1 {
            out.push(("sha-1", hex(h)));
        }
        if let Some(h) = &self.md5 {
            out.push(("md5", hex(h)));
        }
        out
    }
}

/// `N` bytes from `2N` hex digits (either case), or `None`.
pub fn from_hex<const N: usize>(s: &str) -> Option<[u8; N]> {
    let s = s.trim().as_bytes();
    if s.len() != 2 * N {
        return None;
    }
    let digit = |b: u8| match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    };
    let mut out = [0u8; N];
    for (i, pair) in s.chunks_exact(2).enumerate() {
        out[i] = digit(pair[0])? << 4 | digit(pair[1])?;
    }
    Some(out)
}

/// Lower-case hex.
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for &b in bytes {
        out.push(DIGITS[usize::from(b >> 4)] as char);
        out.push(DIGITS[usize::from(b & 15)] as char);
    }
    out
}

/// Appends standard base64 (RFC 4648 §4, padded) of `bytes`.
pub fn base64_into(bytes: &[u8], out: &mut String) {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = u32::from(b[0]) << 16 | u32::from(b[1]) << 8 | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_rfc_4648_vectors() {
        for (input, want) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            let mut out = String::new();
            base64_into(input.as_bytes(), &mut out);
            assert_eq!(out, want, "{input:?}");
        }
    }

    #[test]
    fn hex_round_trips_and_refuses_garbage() {
        let bytes: [u8; 4] = [0x00, 0xab, 0x7f, 0xff];
        assert_eq!(hex(&bytes), "00ab7fff");
        assert_eq!(from_hex::<4>("00AB7fff"), Some(bytes));
        assert_eq!(from_hex::<4>("00ab7ff"), None);
        assert_eq!(from_hex::<4>("00ab7ffg"), None);
        assert_eq!(from_hex::<4>("00ab7fff00"), None);
    }

    #[test]
    fn digest_header_is_base64_of_the_sha256() {
        // SHA-256 of "abc" (FIPS 180-2 example).
        let sha256 = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
        let meta = FileMeta::new(&FileInfo {
            path: "/a/b.exe".into(),
            sha256: Some(sha256.into()),
            md5: Some("not hex".into()),
            ..Default::default()
        });
        assert_eq!(
            meta.digest.as_ref().unwrap(),
            "sha-256=ungWv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa0="
        );
        assert_eq!(meta.md5, None);
        assert_eq!(meta.hashes(), vec![("sha-256", sha256.to_string())]);
        let none = FileMeta::new(&FileInfo::default());
        assert!(none.digest.is_none() && none.hashes().is_empty());
    }
}
