//! HTTP Basic authentication with Bouncer's users: the header parsed,
//! failures throttled per (account, client) and per client with the admin
//! logins' throttle, and
//! successful checks remembered for a few minutes so that release tooling,
//! which sends its password with each of hundreds of calls, pays for
//! argon2 once rather than on every call.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hyper::HeaderMap;
use hyper::header::AUTHORIZATION;
use sha2::{Digest, Sha256};

use crate::auth::{Throttle, dummy_hash, verify_password};
use crate::model::User;
use crate::store::Store;

/// How long a verified password is remembered.
pub const REMEMBER: Duration = Duration::from_secs(5 * 60);
/// Verified passwords remembered at most (a handful of tools in practice).
const MAX_REMEMBERED: usize = 1024;
/// Longer names or passwords belong to no account: refused before they
/// cost a hash or a throttle entry.
const MAX_NAME: usize = 200;
const MAX_PASSWORD: usize = 1024;

/// Why a request is not let in.
#[derive(Debug)]
pub enum Denied {
    /// Unknown user or wrong password.
    Wrong,
    /// Too many failures for this account from this client, or from
    /// this client for any account: seconds to wait.
    Locked(u64),
    /// Too many password checks at once.
    Busy,
    /// The user table could not be read.
    Storage(crate::error::Error),
}

/// A successful verification, remembered.
struct Verified {
    /// Who: a hit must name the same user…
    user: String,
    /// …whose stored hash is still this one (a changed password forgets
    /// every remembered check at once).
    phc: String,
    /// When it is forgotten.
    until: Instant,
}

/// Authentication state of the API.
#[derive(Default)]
pub struct Gate {
    /// Failed checks per (account, client address) and per address
    /// (shared with the admin's logins when served together).
    pub throttle: Arc<Throttle>,
    /// SHA-256 of (name, password) → a check that succeeded. A std mutex:
    /// held for a lookup or an insert, never across a hash.
    remembered: Mutex<HashMap<[u8; 32], Verified>>,
    /// Password checks running now.
    verifying: crate::auth::Verifying,
}

impl Gate {
    /// The user `name` if `password` is theirs. `client` is the peer
    /// address (for throttling).
    pub fn check(
        &self,
        store: &Store,
        name: &str,
        password: &str,
        client: &str,
    ) -> Result<User, Denied> {
        if name.is_empty() || name.len() > MAX_NAME || password.len() > MAX_PASSWORD {
            return Err(Denied::Wrong);
        }
        let user = store.user(name).map_err(Denied::Storage)?;
        let key = fingerprint(name, password);
        if let Some(user) = &user
            && self.lock().get(&key).is_some_and(|v| {
                v.user == user.name && v.phc == user.password_hash && Instant::now() < v.until
            })
        {
            return Ok(user.clone());
        }
        // Taken before the attempt is counted: a busy server does not use
        // up anyone's attempts.
        let Some(_slot) = self.verifying.start() else {
            return Err(Denied::Busy);
        };
        let at = crate::model::now();
        self.throttle
            .attempt(name, client, at)
            .map_err(Denied::Storage)?
            .map_err(Denied::Locked)?;
        // Unknown names are checked against a fixed hash, so the time taken
        // does not tell which accounts exist.
        let phc = user
            .as_ref()
            .map_or(dummy_hash(), |u| u.password_hash.as_str());
        let verified = verify_password(password, phc);
        let Some(user) = user.filter(|_| verified) else {
            return Err(Denied::Wrong);
        };
        if let Err(e) = self.throttle.succeeded(name, client, at) {
            // The check stands; the pair's failures stay counted a while.
            tracing::warn!(user = name, error = %e, "cannot record a login in the throttle");
        }
        let now = Instant::now();
        let mut remembered = self.lock();
        if remembered.len() >= MAX_REMEMBERED {
            remembered.retain(|_, v| now < v.until);
            if remembered.len() >= MAX_REMEMBERED {
                remembered.clear();
            }
        }
        remembered.insert(
            key,
            Verified {
                user: user.name.clone(),
                phc: user.password_hash.clone(),
                until: now + REMEMBER,
            },
        );
        Ok(user)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<[u8; 32], Verified>> {
        // A panic while holding it leaves at worst a stale entry, which
        // the stored-hash comparison still guards.
        self.remembered.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// SHA-256 over the name's length, the name and the password, so that
/// no two (name, password) pairs share an input.
fn fingerprint(name: &str, password: &str) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update((name.len() as u64).to_be_bytes());
    h.update(name.as_bytes());
    h.update(password.as_bytes());
    h.finalize().into()
}

/// The (name, password) of an `Authorization: Basic …` header: the scheme
/// case-insensitive, the credentials split at the first `:`. `None` when
/// absent or malformed.
pub fn basic(headers: &HeaderMap) -> Option<(String, String)> {
    let value = headers.get(AUTHORIZATION)?.to_str().ok()?;
    let mut parts = value.split_ascii_whitespace();
    let (scheme, encoded) = (parts.next()?, parts.next()?);
    if parts.next().is_some() || !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = String::from_utf8(base64(encoded)?).ok()?;
    let (name, password) = decoded.split_once(':')?;
    Some((name.to_string(), password.to_string()))
}

/// Decodes standard base64 (RFC 4648 §4), padding optional.
fn base64(s: &str) -> Option<Vec<u8>> {
    let s = s.trim_end_matches('=');
    if s.len() % 4 == 1 {
        return None;
    }
    let mut out = Vec::with_capacity(s.len() * 3 / 4);
    let mut acc = 0u32;
    let mut bits = 0;
    for b in s.bytes() {
        let v = match b {
            b'A'..=b'Z' => b - b'A',
            b'a'..=b'z' => b - b'a' + 26,
            b'0'..=b'9' => b - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        };
        acc = acc << 6 | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine;

    fn header(value: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(AUTHORIZATION, value.parse().unwrap());
        h
    }

    #[test]
    fn basic_headers() {
        let enc = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
        assert_eq!(
            basic(&header(&format!("Basic {}", enc("ann:pa:ss word")))),
            Some(("ann".into(), "pa:ss word".into()))
        );
        assert_eq!(
            basic(&header(&format!("bAsIc   {}", enc("ann:")))),
            Some(("ann".into(), "".into()))
        );
        let unpadded = enc("bob:x").trim_end_matches('=').to_string();
        assert_eq!(
            basic(&header(&format!("Basic {unpadded}"))),
            Some(("bob".into(), "x".into()))
        );
        for bad in [
            format!("Bearer {}", enc("ann:x")),
            format!("Basic {} extra", enc("ann:x")),
            "Basic".to_string(),
            "Basic !!!!".to_string(),
            format!("Basic {}", enc("no-colon")),
            "Basic A".to_string(),
            "Basic /w==".to_string(), // not UTF-8
        ] {
            assert_eq!(basic(&header(&bad)), None, "{bad}");
        }
        assert_eq!(basic(&HeaderMap::new()), None);
    }

    proptest::proptest! {
        #[test]
        fn base64_round_trips(data: Vec<u8>) {
            let enc = base64::engine::general_purpose::STANDARD.encode(&data);
            proptest::prop_assert_eq!(base64(&enc), Some(data.clone()));
            let unpadded = base64::engine::general_purpose::STANDARD_NO_PAD.encode(&data);
            proptest::prop_assert_eq!(base64(&unpadded), Some(data));
        }

        #[test]
        fn base64_never_panics(s in ".*") {
            let _ = base64(&s);
        }
    }

    #[test]
    fn fingerprints_keep_names_and_passwords_apart() {
        assert_ne!(fingerprint("a:b", "c"), fingerprint("a", "b:c"));
        assert_ne!(fingerprint("ab", "c"), fingerprint("a", "bc"));
        assert_eq!(fingerprint("a", "b"), fingerprint("a", "b"));
    }
}
