//! Who is logged in to the admin pages: server-side sessions with random
//! ids, their CSRF tokens and flash messages, and the cookies that carry
//! them.

use std::collections::HashMap;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};

use crate::auth::{random_token, secret_hash};
use crate::error::Result;
use crate::network::Network;
use crate::store::StoredSession;

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

/// Every live session, by id. With redb (one node) they are kept in
/// memory, as fast as before and without a disk write per request: a
/// restart logs everyone out. On PostgreSQL they are kept in the database
/// under the SHA-256 of their ids, so that any node serves any admin
/// request and ending a user's sessions ends them on every node; a
/// session's `seen` is stored at most once every [`TOUCH_SECS`].
///
/// The database-backed calls block: call them off the async workers (as
/// every admin request is answered).
pub struct Sessions {
    kind: Kind,
}

enum Kind {
    Memory(Mutex<HashMap<String, Session>>),
    Shared {
        network: Arc<Network>,
        /// Unix seconds from which the next request clears out expired
        /// sessions.
        next_purge: AtomicU64,
    },
}

/// How stale a stored session's `seen` may grow before a request stores
/// it again (idle expiry is hours: a minute more or less does not matter).
pub const TOUCH_SECS: u64 = 60;

/// How often a node clears expired sessions out of the database.
const PURGE_SECS: u64 = 600;

impl Default for Sessions {
    /// Sessions in memory.
    fn default() -> Self {
        Sessions {
            kind: Kind::Memory(Mutex::default()),
        }
    }
}

impl From<StoredSession> for Session {
    fn from(s: StoredSession) -> Session {
        Session {
            user: s.user,
            password_hash: s.password_hash,
            csrf: s.csrf,
            created: s.created,
            seen: s.seen,
            flash: s.flash.map(|(error, text)| Flash { error, text }),
        }
    }
}

impl Sessions {
    /// The sessions of `network`'s admin: in its database when that is
    /// PostgreSQL (shared by every node), else in memory.
    pub fn for_network(network: &Arc<Network>) -> Sessions {
        if network.store().postgres().is_none() {
            return Sessions::default();
        }
        Sessions {
            kind: Kind::Shared {
                network: network.clone(),
                next_purge: AtomicU64::new(0),
            },
        }
    }

    /// Whether the sessions are in the database (whose calls block).
    pub fn in_database(&self) -> bool {
        matches!(self.kind, Kind::Shared { .. })
    }

    /// Starts a session for `user` with fresh random ids; returns its id.
    pub fn start(&self, user: &crate::model::User, now: u64) -> Result<String> {
        let id = random_token();
        let session = Session {
            user: user.name.clone(),
            password_hash: user.password_hash.clone(),
            csrf: random_token(),
            created: now,
            seen: now,
            flash: None,
        };
        let (network, next_purge) = match &self.kind {
            Kind::Memory(map) => {
                let mut map = lock(map);
                map.retain(|_, s| live(s, now));
                if map.len() >= MAX_SESSIONS
                    && let Some(oldest) = map
                        .iter()
                        .min_by_key(|(_, s)| s.seen)
                        .map(|(k, _)| k.clone())
                {
                    map.remove(&oldest);
                }
                map.insert(id.clone(), session);
                return Ok(id);
            }
            Kind::Shared {
                network,
                next_purge,
            } => (network, next_purge),
        };
        let store = network.store();
        if crate::auth::due(next_purge, now, PURGE_SECS) {
            let purged = store.sessions_purge(
                now.saturating_sub(IDLE_SECS),
                now.saturating_sub(MAX_AGE_SECS),
            );
            if let Err(e) = purged {
                tracing::warn!(error = %e, "cannot clear out expired sessions");
            }
        }
        store.session_insert(
            &secret_hash(&id),
            &StoredSession {
                user: session.user,
                password_hash: session.password_hash,
                csrf: session.csrf,
                created: now,
                seen: now,
                flash: None,
            },
        )?;
        Ok(id)
    }

    /// The live session with this id, marked as seen now; its flash
    /// message is taken out.
    pub fn touch(&self, id: &str, now: u64) -> Result<Option<Session>> {
        match &self.kind {
            Kind::Memory(map) => {
                let mut map = lock(map);
                let Some(session) = map.get_mut(id) else {
                    return Ok(None);
                };
                if !live(session, now) {
                    map.remove(id);
                    return Ok(None);
                }
                session.seen = now;
                let out = session.clone();
                session.flash = None;
                Ok(Some(out))
            }
            Kind::Shared { network, .. } => {
                if !well_formed(id) {
                    return Ok(None);
                }
                let found =
                    network
                        .store()
                        .session_touch(&secret_hash(id), now, TOUCH_SECS, |s| {
                            live_between(s.created, s.seen, now)
                        })?;
                Ok(found.map(Session::from))
            }
        }
    }

    /// The user of the live session with this id (without marking it
    /// seen).
    pub fn user_of(&self, id: &str, now: u64) -> Result<Option<String>> {
        match &self.kind {
            Kind::Memory(map) => Ok(lock(map)
                .get(id)
                .filter(|s| live(s, now))
                .map(|s| s.user.clone())),
            Kind::Shared { network, .. } => {
                if !well_formed(id) {
                    return Ok(None);
                }
                Ok(network
                    .store()
                    .session_get(&secret_hash(id))?
                    .filter(|s| live_between(s.created, s.seen, now))
                    .map(|s| s.user))
            }
        }
    }

    /// Leaves a message for the session's next page.
    pub fn flash(&self, id: &str, flash: Flash) -> Result<()> {
        match &self.kind {
            Kind::Memory(map) => {
                if let Some(s) = lock(map).get_mut(id) {
                    s.flash = Some(flash);
                }
                Ok(())
            }
            Kind::Shared { network, .. } => {
                network
                    .store()
                    .session_flash(&secret_hash(id), flash.error, &flash.text)
            }
        }
    }

    /// Ends one session.
    pub fn end(&self, id: &str) -> Result<()> {
        match &self.kind {
            Kind::Memory(map) => {
                lock(map).remove(id);
                Ok(())
            }
            Kind::Shared { network, .. } => network.store().session_delete(&secret_hash(id)),
        }
    }

    /// Ends every session of `user` (after a password change or removal),
    /// on every node.
    pub fn end_user(&self, user: &str) -> Result<()> {
        match &self.kind {
            Kind::Memory(map) => {
                lock(map).retain(|_, s| s.user != user);
                Ok(())
            }
            Kind::Shared { network, .. } => network.store().sessions_delete_user(user),
        }
    }

    /// How many sessions are kept (expired ones not yet cleared out
    /// included).
    pub fn len(&self) -> Result<usize> {
        match &self.kind {
            Kind::Memory(map) => Ok(lock(map).len()),
            Kind::Shared { network, .. } => {
                Ok(usize::try_from(network.store().sessions_count()?).unwrap_or(usize::MAX))
            }
        }
    }

    /// Whether no session is kept.
    pub fn is_empty(&self) -> Result<bool> {
        Ok(self.len()? == 0)
    }
}

fn lock(
    map: &Mutex<HashMap<String, Session>>,
) -> std::sync::MutexGuard<'_, HashMap<String, Session>> {
    map.lock().unwrap_or_else(|e| e.into_inner())
}

/// Whether `id` could be one of ours ([`random_token`]'s form): others
/// cost no database lookup.
fn well_formed(id: &str) -> bool {
    id.len() == 64 && id.bytes().all(|b| b.is_ascii_hexdigit())
}

fn live(s: &Session, now: u64) -> bool {
    live_between(s.created, s.seen, now)
}

fn live_between(created: u64, seen: u64, now: u64) -> bool {
    now.saturating_sub(seen) < IDLE_SECS && now.saturating_sub(created) < MAX_AGE_SECS
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
    use crate::testing::postgres::TestPostgres;

    fn user(name: &str) -> crate::model::User {
        crate::model::User {
            name: name.into(),
            password_hash: "h".into(),
            role: Role::Admin,
            created_at: 0,
        }
    }

    /// A network on `url`, as a node opens it.
    fn node(url: &str) -> Arc<Network> {
        Arc::new(Network::open(crate::store::Place::Postgres(url.into()), false).unwrap())
    }

    /// Sessions in memory and, where PostgreSQL is installed, in a fresh
    /// database: the rules hold in both.
    fn sessions() -> Vec<Sessions> {
        let mut out = vec![Sessions::default()];
        if let Some(server) = TestPostgres::shared_or_skip() {
            let s = Sessions::for_network(&node(&server.database()));
            assert!(matches!(s.kind, Kind::Shared { .. }));
            out.push(s);
        }
        out
    }

    #[test]
    fn sessions_expire_and_end() {
        for s in sessions() {
            let id = s.start(&user("ann"), 1000).unwrap();
            let touched = s.touch(&id, 1000 + IDLE_SECS - 1).unwrap().unwrap();
            assert_eq!(touched.user, "ann");
            assert_eq!(s.user_of(&id, 1000 + IDLE_SECS).unwrap().unwrap(), "ann");
            // Seen recently, so still live; idle for too long, gone.
            assert!(s.touch(&id, 1000 + 2 * IDLE_SECS).unwrap().is_none());
            assert!(s.user_of(&id, 1000).unwrap().is_none(), "removed");
            let id = s.start(&user("ann"), 0).unwrap();
            let mut t = 0;
            while t < MAX_AGE_SECS - 60 {
                t += IDLE_SECS / 2;
                assert!(s.touch(&id, t.min(MAX_AGE_SECS - 1)).unwrap().is_some());
            }
            assert!(
                s.user_of(&id, MAX_AGE_SECS).unwrap().is_none(),
                "absolute lifetime"
            );
            assert!(s.touch(&id, MAX_AGE_SECS).unwrap().is_none());
            let id = s.start(&user("bob"), 0).unwrap();
            let other = s.start(&user("bob"), 0).unwrap();
            let carl = s.start(&user("carl"), 0).unwrap();
            assert_ne!(id, other);
            s.end_user("bob").unwrap();
            assert!(s.touch(&other, 1).unwrap().is_none());
            assert!(s.touch(&id, 1).unwrap().is_none());
            assert!(s.touch(&carl, 1).unwrap().is_some());
            s.end(&carl).unwrap();
            assert!(s.touch(&carl, 1).unwrap().is_none());
            assert!(s.touch("not-a-session", 1).unwrap().is_none());
        }
    }

    #[test]
    fn flash_shows_once() {
        for s in sessions() {
            let id = s.start(&user("ann"), 0).unwrap();
            s.flash(
                &id,
                Flash {
                    error: false,
                    text: "saved".into(),
                },
            )
            .unwrap();
            let shown = s.touch(&id, 1).unwrap().unwrap().flash.unwrap();
            assert_eq!((shown.error, shown.text.as_str()), (false, "saved"));
            assert!(s.touch(&id, 2).unwrap().unwrap().flash.is_none());
        }
    }

    /// Issue 17: on PostgreSQL a session made on one node works on every
    /// other (its CSRF token and flash message with it), ending it or its
    /// user's sessions on one ends them everywhere, and the database keeps
    /// only the hash of its id.
    #[test]
    fn a_session_made_on_one_node_works_on_another() {
        let Some(server) = TestPostgres::shared_or_skip() else {
            return;
        };
        let url = server.database();
        let (net_a, net_b) = (node(&url), node(&url));
        let (a, b) = (Sessions::for_network(&net_a), Sessions::for_network(&net_b));
        let now = crate::model::now();
        let id = a.start(&user("ann"), now).unwrap();
        let on_a = a.touch(&id, now).unwrap().unwrap();
        let on_b = b.touch(&id, now + 1).unwrap().unwrap();
        assert_eq!((on_b.user.as_str(), &on_b.csrf), ("ann", &on_a.csrf));
        assert_eq!(b.user_of(&id, now + 2).unwrap().as_deref(), Some("ann"));
        a.flash(
            &id,
            Flash {
                error: true,
                text: "failed".into(),
            },
        )
        .unwrap();
        assert_eq!(
            b.touch(&id, now + 3).unwrap().unwrap().flash.unwrap().text,
            "failed"
        );
        assert!(a.touch(&id, now + 4).unwrap().unwrap().flash.is_none());
        // Only the hash is stored.
        assert!(net_a.store().session_get(&id).unwrap().is_none());
        assert!(
            net_a
                .store()
                .session_get(&secret_hash(&id))
                .unwrap()
                .is_some()
        );
        b.end_user("ann").unwrap();
        assert!(a.touch(&id, now + 5).unwrap().is_none());
        let id = b.start(&user("bob"), now).unwrap();
        assert!(a.touch(&id, now).unwrap().is_some());
        a.end(&id).unwrap();
        assert!(b.user_of(&id, now).unwrap().is_none());
        assert_eq!(a.len().unwrap(), 0);
    }

    /// Requests within a minute of the last stored one write nothing; a
    /// later one stores the time it was seen.
    #[test]
    fn stored_sessions_are_touched_once_a_minute() {
        let Some(server) = TestPostgres::shared_or_skip() else {
            return;
        };
        let network = node(&server.database());
        let s = Sessions::for_network(&network);
        let id = s.start(&user("ann"), 1000).unwrap();
        let stored = || {
            network
                .store()
                .session_get(&secret_hash(&id))
                .unwrap()
                .unwrap()
                .seen
        };
        assert_eq!(
            s.touch(&id, 1000 + TOUCH_SECS - 1).unwrap().unwrap().seen,
            1000 + TOUCH_SECS - 1
        );
        assert_eq!(stored(), 1000);
        s.touch(&id, 1000 + TOUCH_SECS).unwrap();
        assert_eq!(stored(), 1000 + TOUCH_SECS);
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
