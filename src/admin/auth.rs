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

/// How long failures are remembered after the latest one: longer than the
/// longest wait, so a guesser who waits it out goes on waiting the longest
/// wait after every further failure.
pub const FORGET_AFTER_SECS: u64 = 3600;
/// How long an address that logged in to an account is remembered as
/// that account's client.
pub const KNOWN_SECS: u64 = 30 * 24 * 3600;
/// Entries kept at most in each table (failures per pair, per address,
/// known clients); the least recently used go first.
const MAX_ENTRIES: usize = 50_000;

/// Failed logins, counted per (account, client address) and per client
/// address. Past a number of failures the client waits before its next
/// attempt, the wait doubling with each further failure up to a cap; a
/// success forgets the pair's failures. Nobody can lock an account: an
/// address's failures make only that address wait. An address that
/// guesses many accounts waits for all of them, except the accounts it
/// has logged in to before (colleagues behind the same proxy carry on).
/// Admin logins and API checks share one.
pub struct Throttle {
    /// Failures one address may make for one account before it waits.
    pub per_pair: u32,
    /// Failures one address may make over all accounts before it waits
    /// (for accounts it has not logged in to).
    pub per_client: u32,
    /// The first wait in seconds; each further failure doubles it.
    pub first_wait: u64,
    /// The longest wait in seconds.
    pub max_wait: u64,
    state: Mutex<ThrottleState>,
}

#[derive(Default)]
struct ThrottleState {
    /// (account in lower case, address) → its failures.
    pairs: HashMap<(String, String), Failures>,
    /// Address → its failures over all accounts.
    clients: HashMap<String, Failures>,
    /// (account in lower case, address) → unix seconds of its latest
    /// login: spared the address-wide wait.
    known: HashMap<(String, String), u64>,
}

#[derive(Clone, Copy, Debug, Default)]
struct Failures {
    count: u32,
    /// Unix seconds of the latest failure.
    last: u64,
}

/// A client that is waiting, or will wait after its next failure (for
/// the admin's list).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Throttled {
    /// The account (as typed, lower case); `None`: every account the
    /// address has not logged in to.
    pub account: Option<String>,
    /// The client's address.
    pub client: String,
    /// Failures remembered.
    pub failures: u32,
    /// Unix seconds until which it waits (may have passed: the next
    /// failure makes it wait again, longer).
    pub until: u64,
}

impl Default for Throttle {
    fn default() -> Self {
        Throttle {
            per_pair: 5,
            per_client: 20,
            first_wait: 1,
            max_wait: 15 * 60,
            state: Mutex::default(),
        }
    }
}

impl Throttle {
    /// Seconds until `user` may try again from `client`, if it must wait.
    pub fn locked(&self, user: &str, client: &str, now: u64) -> Option<u64> {
        self.wait(&self.lock(), user, client, now)
    }

    fn wait(&self, state: &ThrottleState, user: &str, client: &str, now: u64) -> Option<u64> {
        let pair = pair_key(user, client);
        let by_pair = state
            .pairs
            .get(&pair)
            .and_then(|f| self.until(f, self.per_pair, now));
        let known = state
            .known
            .get(&pair)
            .is_some_and(|&at| now < at.saturating_add(KNOWN_SECS));
        let by_client = state
            .clients
            .get(client)
            .filter(|_| !known)
            .and_then(|f| self.until(f, self.per_client, now));
        by_pair
            .max(by_client)
            .filter(|&until| now < until)
            .map(|until| until - now)
    }

    /// When a client with these failures may try again: `None` when under
    /// `limit` or forgotten.
    fn until(&self, f: &Failures, limit: u32, now: u64) -> Option<u64> {
        if f.count < limit || now >= f.last.saturating_add(FORGET_AFTER_SECS) {
            return None;
        }
        let doublings = f.count - limit;
        let wait = if doublings >= 63 {
            self.max_wait
        } else {
            self.first_wait
                .saturating_mul(1 << doublings)
                .min(self.max_wait)
        };
        Some(f.last.saturating_add(wait))
    }

    /// Counts a login attempt before its password is checked, so that
    /// attempts sent at once cannot all slip past the limit (take the
    /// check's slot first: an attempt refused as busy must not count);
    /// `Err` holds the seconds to wait.
    pub fn attempt(&self, user: &str, client: &str, now: u64) -> Result<(), u64> {
        let mut state = self.lock();
        if let Some(wait) = self.wait(&state, user, client, now) {
            return Err(wait);
        }
        let pair = pair_key(user, client);
        if !state.pairs.contains_key(&pair) {
            make_room(&mut state.pairs, |f| f.last);
        }
        count_failure(state.pairs.entry(pair).or_default(), now);
        if !state.clients.contains_key(client) {
            make_room(&mut state.clients, |f| f.last);
        }
        count_failure(state.clients.entry(client.to_string()).or_default(), now);
        Ok(())
    }

    /// The attempt succeeded: forget the pair's failures, give the address
    /// its attempt back, and remember it as a client of the account.
    pub fn succeeded(&self, user: &str, client: &str, now: u64) {
        let mut state = self.lock();
        let pair = pair_key(user, client);
        state.pairs.remove(&pair);
        if let Some(f) = state.clients.get_mut(client) {
            f.count = f.count.saturating_sub(1);
        }
        if !state.known.contains_key(&pair) {
            make_room(&mut state.known, |&at| at);
        }
        state.known.insert(pair, now);
    }

    /// The clients at or past their limit whose failures are remembered,
    /// the latest to try again first.
    pub fn throttled(&self, now: u64) -> Vec<Throttled> {
        let state = self.lock();
        let pairs = state.pairs.iter().filter_map(|((user, client), f)| {
            Some(Throttled {
                account: Some(user.clone()),
                client: client.clone(),
                failures: f.count,
                until: self.until(f, self.per_pair, now)?,
            })
        });
        let clients = state.clients.iter().filter_map(|(client, f)| {
            Some(Throttled {
                account: None,
                client: client.clone(),
                failures: f.count,
                until: self.until(f, self.per_client, now)?,
            })
        });
        let mut out: Vec<Throttled> = pairs.chain(clients).collect();
        out.sort_by(|a, b| (b.until, &a.account, &a.client).cmp(&(a.until, &b.account, &b.client)));
        out
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, ThrottleState> {
        // A panic while holding it leaves counts at worst one off.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// One more failure at `now`, on top of those not forgotten yet.
fn count_failure(f: &mut Failures, now: u64) {
    if now >= f.last.saturating_add(FORGET_AFTER_SECS) {
        f.count = 0;
    }
    f.count = f.count.saturating_add(1);
    f.last = now;
}

fn pair_key(user: &str, client: &str) -> (String, String) {
    (user.to_lowercase(), client.to_string())
}

/// Before a new entry goes into a full table: drops the least recently
/// used eighth (by `time`), so that the table stays bounded at amortised
/// linear cost.
fn make_room<K: Eq + std::hash::Hash, V>(map: &mut HashMap<K, V>, time: impl Fn(&V) -> u64) {
    if map.len() < MAX_ENTRIES {
        return;
    }
    let mut times: Vec<u64> = map.values().map(&time).collect();
    let cut = times.len() / 8;
    let (_, &mut oldest_kept, _) = times.select_nth_unstable(cut);
    let mut dropped = 0;
    map.retain(|_, v| {
        let drop = time(v) < oldest_kept || (time(v) == oldest_kept && dropped < cut);
        dropped += usize::from(drop);
        !drop
    });
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

    /// Issue 15 item 1: five wrong passwords from any address locked the
    /// account for everyone, release tooling included.
    #[test]
    fn failures_make_only_their_address_wait_longer_and_longer() {
        let t = Throttle::default();
        for i in 0..5 {
            assert_eq!(t.locked("ann", "b", 100 + i), None);
            assert_eq!(t.attempt("ann", "b", 100 + i), Ok(()));
        }
        // Five failures: the address waits a second after the last one,
        // for the account in any spelling…
        assert_eq!(t.locked("ann", "b", 104), Some(1));
        assert_eq!(t.attempt("ANN", "b", 104), Err(1));
        // …while the account stays open to every other address.
        assert_eq!(t.locked("ann", "a", 104), None);
        assert_eq!(t.attempt("ann", "a", 104), Ok(()));
        t.succeeded("ann", "a", 104);
        // Each further failure doubles the wait, up to the cap.
        let mut now = 105;
        let mut waits = Vec::new();
        for _ in 0..12 {
            assert_eq!(t.attempt("ann", "b", now), Ok(()), "at {now}");
            let wait = t.locked("ann", "b", now).unwrap();
            assert_eq!(t.locked("ann", "b", now + wait - 1), Some(1));
            assert_eq!(t.locked("ann", "b", now + wait), None);
            waits.push(wait);
            now += wait;
        }
        assert_eq!(
            waits,
            [2, 4, 8, 16, 32, 64, 128, 256, 512, 900, 900, 900],
            "doubling, capped at {} s",
            t.max_wait
        );
        // A success from the address forgets its failures.
        assert_eq!(t.attempt("ann", "b", now), Ok(()));
        t.succeeded("ann", "b", now);
        for i in 0..4 {
            assert_eq!(t.attempt("ann", "b", now + i), Ok(()));
        }
        assert_eq!(t.locked("ann", "b", now + 4), None);
    }

    #[test]
    fn an_address_guessing_many_accounts_waits_except_for_its_own_accounts() {
        let t = Throttle::default();
        // bob logged in from c before.
        assert_eq!(t.attempt("bob", "c", 1), Ok(()));
        t.succeeded("bob", "c", 1);
        // Four failures each for five names: no pair reaches its limit,
        // the address does.
        for i in 0..20 {
            assert_eq!(t.attempt(&format!("guess{}", i % 5), "c", 10), Ok(()));
        }
        assert_eq!(t.locked("carl", "c", 10), Some(1));
        assert_eq!(t.attempt("guess0", "c", 10), Err(1));
        assert_eq!(t.locked("carl", "d", 10), None, "other addresses go on");
        assert_eq!(t.locked("bob", "c", 10), None, "bob's own address");
        assert_eq!(t.attempt("bob", "c", 10), Ok(()));
        // bob's success gives back only the attempt it took.
        t.succeeded("bob", "c", 10);
        assert_eq!(t.locked("carl", "c", 10), Some(1));
        // An address is known to an account for a while only.
        let later = 10 + KNOWN_SECS;
        for i in 0..20 {
            assert_eq!(t.attempt(&format!("other{}", i % 5), "c", later), Ok(()));
        }
        assert_eq!(t.locked("bob", "c", later), Some(1), "forgotten as bob's");
    }

    #[test]
    fn failures_are_forgotten_an_hour_after_the_last() {
        let t = Throttle::default();
        for _ in 0..5 {
            assert_eq!(t.attempt("ann", "b", 1000), Ok(()));
        }
        assert!(t.locked("ann", "b", 1000).is_some());
        assert_eq!(t.throttled(1000 + FORGET_AFTER_SECS - 1).len(), 1);
        assert!(t.throttled(1000 + FORGET_AFTER_SECS).is_empty());
        // Counted from scratch: four more are free.
        for i in 0..4 {
            assert_eq!(t.attempt("ann", "b", 1000 + FORGET_AFTER_SECS + i), Ok(()));
        }
        assert_eq!(t.locked("ann", "b", 1000 + FORGET_AFTER_SECS + 4), None);
    }

    #[test]
    fn the_admin_sees_who_waits() {
        let t = Throttle::default();
        for _ in 0..6 {
            let _ = t.attempt("Ann", "10.0.0.2", 50);
        }
        for i in 0..4 {
            assert_eq!(t.attempt("bob", "10.0.0.3", 50 + i), Ok(()));
        }
        let list = t.throttled(60);
        assert_eq!(
            list,
            [Throttled {
                account: Some("ann".into()),
                client: "10.0.0.2".into(),
                failures: 5,
                until: 51,
            }],
            "the sixth attempt waited and was not counted; bob is under the limit"
        );
        for i in 0..20 {
            let _ = t.attempt(&format!("g{i}"), "10.0.0.4", 70);
        }
        let list = t.throttled(70);
        assert_eq!(list.len(), 2, "{list:?}");
        assert_eq!(
            (list[0].account.as_deref(), list[0].client.as_str()),
            (None, "10.0.0.4"),
            "the latest to try again first"
        );
        assert_eq!((list[0].failures, list[0].until), (20, 71));
    }

    #[test]
    fn throttle_memory_is_bounded() {
        let t = Throttle::default();
        for i in 0..MAX_ENTRIES as u64 + 5000 {
            let client = format!("c{i}");
            assert_eq!(t.attempt("ann", &client, i), Ok(()));
            if i % 2 == 0 {
                t.succeeded("ann", &client, i);
            }
        }
        let state = t.lock();
        assert!(state.pairs.len() <= MAX_ENTRIES, "{}", state.pairs.len());
        assert!(state.clients.len() <= MAX_ENTRIES);
        assert!(state.known.len() <= MAX_ENTRIES);
        // The newest entries are kept.
        let last = MAX_ENTRIES as u64 + 4999;
        assert!(state.clients.contains_key(&format!("c{last}")));
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
