//! Who is asking: server-side sessions with random ids, CSRF tokens, login
//! throttling, and what each role may do.

use std::collections::HashMap;
use std::sync::Mutex;

use crate::model::Role;

/// How long a session lives without a request.
pub const IDLE_SECS: u64 = 8 * 3600;
/// How long a session lives at most, however busy.
pub const MAX_AGE_SECS: u64 = 7 * 24 * 3600;
/// Sessions kept at most; the least recently used go first.
const MAX_SESSIONS: usize = 10_000;

/// The session cookie's name.
pub const SESSION_COOKIE: &str = "bouncer_session";
/// The cookie that carries the login form's CSRF token before a session
/// exists.
pub const LOGIN_COOKIE: &str = "bouncer_login";

/// 32 random bytes from the operating system, hex-encoded.
pub fn random_token() -> String {
    use argon2::password_hash::rand_core::{OsRng, RngCore};
    let mut bytes = [0u8; 32];
    OsRng.fill_bytes(&mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Compares two secrets in time that does not depend on where they differ.
pub fn same_secret(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// A message shown once on the next page (after a redirect).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Flash {
    /// Whether it reports a failure.
    pub error: bool,
    /// The message.
    pub text: String,
}

/// A logged-in user's session.
#[derive(Clone, Debug)]
pub struct Session {
    /// The user's name.
    pub user: String,
    /// The user's password hash at login: a password changed anywhere
    /// (admin or CLI) ends the sessions started with the old one.
    pub password_hash: String,
    /// The token every form of this session carries.
    pub csrf: String,
    /// Unix seconds of login.
    pub created: u64,
    /// Unix seconds of the latest request.
    pub seen: u64,
    /// A message for the next page.
    pub flash: Option<Flash>,
}

/// Every live session, by id. Kept in memory: a restart logs everyone out.
#[derive(Default)]
pub struct Sessions {
    map: Mutex<HashMap<String, Session>>,
}

impl Sessions {
    /// Starts a session for `user` with fresh random ids; returns its id.
    pub fn start(&self, user: &crate::model::User, now: u64) -> String {
        let id = random_token();
        let mut map = self.lock();
        map.retain(|_, s| live(s, now));
        if map.len() >= MAX_SESSIONS
            && let Some(oldest) = map
                .iter()
                .min_by_key(|(_, s)| s.seen)
                .map(|(k, _)| k.clone())
        {
            map.remove(&oldest);
        }
        map.insert(
            id.clone(),
            Session {
                user: user.name.clone(),
                password_hash: user.password_hash.clone(),
                csrf: random_token(),
                created: now,
                seen: now,
                flash: None,
            },
        );
        id
    }

    /// The live session with this id, marked as seen now; its flash
    /// message is taken out.
    pub fn touch(&self, id: &str, now: u64) -> Option<Session> {
        let mut map = self.lock();
        let session = map.get_mut(id)?;
        if !live(session, now) {
            map.remove(id);
            return None;
        }
        session.seen = now;
        let out = session.clone();
        session.flash = None;
        Some(out)
    }

    /// The user of the live session with this id (without marking it
    /// seen).
    pub fn user_of(&self, id: &str, now: u64) -> Option<String> {
        self.lock()
            .get(id)
            .filter(|s| live(s, now))
            .map(|s| s.user.clone())
    }

    /// Leaves a message for the session's next page.
    pub fn flash(&self, id: &str, flash: Flash) {
        if let Some(s) = self.lock().get_mut(id) {
            s.flash = Some(flash);
        }
    }

    /// Ends one session.
    pub fn end(&self, id: &str) {
        self.lock().remove(id);
    }

    /// Ends every session of `user` (after a password change or removal).
    pub fn end_user(&self, user: &str) {
        self.lock().retain(|_, s| s.user != user);
    }

    /// How many sessions are live.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether no session is live.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Session>> {
        self.map.lock().unwrap_or_else(|e| e.into_inner())
    }
}

fn live(s: &Session, now: u64) -> bool {
    now.saturating_sub(s.seen) < IDLE_SECS && now.saturating_sub(s.created) < MAX_AGE_SECS
}

/// Failed logins counted per account and per client address; past the
/// limit, logins are refused (even with the right password) until the
/// window that began with the first failure has passed.
pub struct Throttle {
    /// Length of the window in seconds.
    pub window: u64,
    /// Failures allowed per account within the window.
    pub per_user: u32,
    /// Failures allowed per client address within the window.
    pub per_client: u32,
    failures: Mutex<HashMap<String, (u32, u64)>>,
}

impl Default for Throttle {
    fn default() -> Self {
        Throttle {
            window: 15 * 60,
            per_user: 5,
            per_client: 20,
            failures: Mutex::default(),
        }
    }
}

impl Throttle {
    /// Seconds until `user` may try again from `client`, if locked.
    pub fn locked(&self, user: &str, client: &str, now: u64) -> Option<u64> {
        self.wait(&self.lock(), user, client, now)
    }

    fn wait(
        &self,
        map: &HashMap<String, (u32, u64)>,
        user: &str,
        client: &str,
        now: u64,
    ) -> Option<u64> {
        let wait = |key: String, limit: u32| {
            map.get(&key).and_then(|&(n, start)| {
                let end = start + self.window;
                (n >= limit && now < end).then(|| end - now)
            })
        };
        let a = wait(user_key(user), self.per_user);
        let b = wait(client_key(client), self.per_client);
        a.max(b)
    }

    /// Counts a login attempt before its password is checked, so that
    /// attempts sent at once cannot all slip past the limit; `Err` holds
    /// the seconds to wait when locked.
    pub fn attempt(&self, user: &str, client: &str, now: u64) -> Result<(), u64> {
        let mut map = self.lock();
        if let Some(wait) = self.wait(&map, user, client, now) {
            return Err(wait);
        }
        if map.len() > 100_000 {
            let window = self.window;
            map.retain(|_, &mut (_, start)| now < start + window);
        }
        for key in [user_key(user), client_key(client)] {
            let entry = map.entry(key).or_insert((0, now));
            if now >= entry.1 + self.window {
                *entry = (0, now);
            }
            entry.0 += 1;
        }
        Ok(())
    }

    /// The attempt succeeded: forget the account's failures, and give the
    /// client its attempt back.
    pub fn succeeded(&self, user: &str, client: &str) {
        let mut map = self.lock();
        map.remove(&user_key(user));
        if let Some(entry) = map.get_mut(&client_key(client)) {
            entry.0 = entry.0.saturating_sub(1);
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, (u32, u64)>> {
        self.failures.lock().unwrap_or_else(|e| e.into_inner())
    }
}

fn user_key(user: &str) -> String {
    format!("u:{}", user.to_lowercase())
}

fn client_key(client: &str) -> String {
    format!("c:{client}")
}

/// What part of the admin a request touches, for role checks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Area {
    /// Products, their languages, locations and aliases, and the loader.
    Releases,
    /// Everything else: mirrors, regions, operating systems, users,
    /// availability toggles.
    Network,
}

/// Whether `role` may change things in `area` (everyone may read).
pub fn may_write(role: Role, area: Area) -> bool {
    match role {
        Role::Admin => true,
        Role::Release => area == Area::Releases,
        Role::Viewer => false,
    }
}

/// The value of cookie `name` in a `Cookie` header.
pub fn cookie<'a>(headers: &'a hyper::HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(hyper::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// A `Set-Cookie` value for an admin cookie (HttpOnly, SameSite=Strict,
/// scoped to `/admin`, Secure over HTTPS). `None` clears it.
pub fn set_cookie(name: &str, value: Option<&str>, secure: bool) -> String {
    let secure = if secure { "; Secure" } else { "" };
    match value {
        Some(v) => format!("{name}={v}; Path=/admin; HttpOnly; SameSite=Strict{secure}"),
        None => format!(
            "{name}=; Path=/admin; HttpOnly; SameSite=Strict; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT{secure}"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_random_and_long() {
        let a = random_token();
        assert_eq!(a.len(), 64);
        assert_ne!(a, random_token());
        assert!(same_secret(&a, &a.clone()));
        assert!(!same_secret(&a, &random_token()));
        assert!(!same_secret(&a, &a[..63]));
    }

    fn user(name: &str) -> crate::model::User {
        crate::model::User {
            name: name.into(),
            password_hash: "h".into(),
            role: Role::Admin,
            created_at: 0,
        }
    }

    #[test]
    fn sessions_expire_and_end() {
        let s = Sessions::default();
        let id = s.start(&user("ann"), 1000);
        assert_eq!(s.touch(&id, 1000 + IDLE_SECS - 1).unwrap().user, "ann");
        // Seen recently, so still live; idle for too long, gone.
        assert!(s.touch(&id, 1000 + 2 * IDLE_SECS).is_none());
        let id = s.start(&user("ann"), 0);
        let mut t = 0;
        while t < MAX_AGE_SECS - 60 {
            t += IDLE_SECS / 2;
            assert!(s.touch(&id, t.min(MAX_AGE_SECS - 1)).is_some());
        }
        assert!(s.touch(&id, MAX_AGE_SECS).is_none(), "absolute lifetime");
        let id = s.start(&user("bob"), 0);
        let other = s.start(&user("bob"), 0);
        assert_ne!(id, other);
        s.end_user("bob");
        assert!(s.touch(&other, 1).is_none());
    }

    #[test]
    fn flash_shows_once() {
        let s = Sessions::default();
        let id = s.start(&user("ann"), 0);
        s.flash(
            &id,
            Flash {
                error: false,
                text: "saved".into(),
            },
        );
        assert_eq!(s.touch(&id, 1).unwrap().flash.unwrap().text, "saved");
        assert!(s.touch(&id, 2).unwrap().flash.is_none());
    }

    #[test]
    fn throttle_locks_for_the_window() {
        let t = Throttle::default();
        for i in 0..5 {
            assert_eq!(t.locked("Ann", "1.2.3.4", i), None);
            assert_eq!(t.attempt("ann", "1.2.3.4", i), Ok(()));
        }
        assert_eq!(t.attempt("ann", "1.2.3.4", 9), Err(t.window - 9));
        // Locked per account from any address, until the window ends.
        assert_eq!(t.locked("ANN", "5.6.7.8", 10), Some(t.window - 10));
        assert!(t.locked("ann", "5.6.7.8", t.window - 1).is_some());
        assert_eq!(t.locked("ann", "5.6.7.8", t.window), None);
        // Another account from the same address is not locked yet…
        assert_eq!(t.locked("bob", "1.2.3.4", 10), None);
        // …until the address has failed too often.
        for i in 0..14 {
            assert!(t.attempt(&format!("user{i}"), "1.2.3.4", 20).is_ok());
        }
        // The 20th attempt from the address is counted, then it is locked.
        assert!(t.attempt("bob", "1.2.3.4", 20).is_ok());
        assert!(t.locked("bob", "1.2.3.4", 21).is_some());
        assert_eq!(t.locked("bob", "9.9.9.9", 21), None);
        t.succeeded("ann", "5.6.7.8");
        assert_eq!(t.locked("ann", "5.6.7.8", 30), None);
        // A success gives the address its attempt back.
        t.succeeded("bob", "1.2.3.4");
        assert_eq!(t.locked("carl", "1.2.3.4", 22), None);
    }

    #[test]
    fn roles() {
        assert!(may_write(Role::Admin, Area::Network));
        assert!(may_write(Role::Release, Area::Releases));
        assert!(!may_write(Role::Release, Area::Network));
        assert!(!may_write(Role::Viewer, Area::Releases));
    }

    #[test]
    fn cookies() {
        let mut h = hyper::HeaderMap::new();
        h.insert(
            hyper::header::COOKIE,
            "a=1; bouncer_session=abc; b=2".parse().unwrap(),
        );
        assert_eq!(cookie(&h, SESSION_COOKIE), Some("abc"));
        assert_eq!(cookie(&h, "c"), None);
        let c = set_cookie(SESSION_COOKIE, Some("x"), true);
        assert!(c.contains("HttpOnly") && c.contains("SameSite=Strict") && c.contains("Secure"));
        assert!(!set_cookie(SESSION_COOKIE, Some("x"), false).contains("Secure"));
    }
}
