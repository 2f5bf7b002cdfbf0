//! Who is logged in to the admin pages: server-side sessions with random
//! ids, their CSRF tokens and flash messages, and the cookies that carry
//! them.

use std::collections::HashMap;
use std::sync::Mutex;

use crate::auth::random_token;

/// How long a session lives without a request.
pub const IDLE_SECS: u64 = 8 * 3600;
/// How long a session lives at most, however busy.
pub const MAX_AGE_SECS: u64 = 7 * 24 * 3600;
/// Sessions kept at most; the least recently used go first.
const MAX_SESSIONS: usize = 10_000;

/// The session cookie's name over plain HTTP.
pub const SESSION_COOKIE: &str = "bouncer_session";
/// The cookie that carries the login form's CSRF token before a session
/// exists, over plain HTTP.
pub const LOGIN_COOKIE: &str = "bouncer_login";
/// The session cookie's name over HTTPS: a `__Host-` cookie is only taken
/// by browsers when `Secure`, for `Path=/` and without `Domain`, so a
/// sibling subdomain cannot plant one.
pub const HOST_SESSION_COOKIE: &str = "__Host-bouncer_session";
/// The login cookie's name over HTTPS (see [`HOST_SESSION_COOKIE`]).
pub const HOST_LOGIN_COOKIE: &str = "__Host-bouncer_login";

/// The session cookie's name for a request over HTTPS (`secure`) or not:
/// only this name is read, so a cookie set over plain HTTP (or planted by
/// a sibling subdomain) is no session over HTTPS.
pub fn session_cookie(secure: bool) -> &'static str {
    if secure {
        HOST_SESSION_COOKIE
    } else {
        SESSION_COOKIE
    }
}

/// The login cookie's name for a request over HTTPS or not.
pub fn login_cookie(secure: bool) -> &'static str {
    if secure {
        HOST_LOGIN_COOKIE
    } else {
        LOGIN_COOKIE
    }
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

/// A `Set-Cookie` value for an admin cookie (HttpOnly, SameSite=Strict):
/// over HTTPS (`secure`) a `__Host-` cookie, `Secure` and for `Path=/` as
/// that prefix demands; over plain HTTP scoped to `/admin`. `name` is
/// one of [`session_cookie`] and [`login_cookie`] for the same `secure`.
/// `None` clears it.
pub fn set_cookie(name: &str, value: Option<&str>, secure: bool) -> String {
    let attributes = if secure {
        "Path=/; HttpOnly; SameSite=Strict; Secure"
    } else {
        "Path=/admin; HttpOnly; SameSite=Strict"
    };
    match value {
        Some(v) => format!("{name}={v}; {attributes}"),
        None => format!("{name}=; {attributes}; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::model::Role;

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
    fn cookies() {
        let mut h = hyper::HeaderMap::new();
        h.insert(
            hyper::header::COOKIE,
            "a=1; bouncer_session=abc; b=2".parse().unwrap(),
        );
        assert_eq!(cookie(&h, SESSION_COOKIE), Some("abc"));
        assert_eq!(cookie(&h, "c"), None);
        let c = set_cookie(SESSION_COOKIE, Some("x"), false);
        assert_eq!(
            c,
            "bouncer_session=x; Path=/admin; HttpOnly; SameSite=Strict"
        );
    }

    /// Issue 15 item 11: over HTTPS the cookies are `__Host-` cookies, so
    /// a sibling subdomain cannot plant them; the plain name is not read.
    #[test]
    fn cookies_over_https_are_host_cookies() {
        assert_eq!(session_cookie(true), "__Host-bouncer_session");
        assert_eq!(login_cookie(true), "__Host-bouncer_login");
        assert_eq!(session_cookie(false), "bouncer_session");
        assert_eq!(login_cookie(false), "bouncer_login");
        let c = set_cookie(session_cookie(true), Some("x"), true);
        assert_eq!(
            c,
            "__Host-bouncer_session=x; Path=/; HttpOnly; SameSite=Strict; Secure"
        );
        let cleared = set_cookie(login_cookie(true), None, true);
        assert!(
            cleared.starts_with("__Host-bouncer_login=; Path=/;"),
            "{cleared}"
        );
        assert!(cleared.contains("; Secure") && cleared.contains("Max-Age=0"));
        assert!(!cleared.to_ascii_lowercase().contains("domain"));
        let mut h = hyper::HeaderMap::new();
        h.insert(
            hyper::header::COOKIE,
            "bouncer_session=planted".parse().unwrap(),
        );
        assert_eq!(cookie(&h, session_cookie(true)), None);
    }
}
