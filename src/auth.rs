//! What the admin pages, the API, the CLI and the demo share to tell who
//! is asking: password hashes, random tokens, constant-time comparison,
//! what each role may change, and the throttle on failed logins.

use std::collections::HashMap;
use std::sync::{LazyLock, Mutex};

use crate::error::{Error, Result};
use crate::model::Role;

/// An argon2id PHC string for `password` with a random salt.
pub fn hash_password(password: &str) -> Result<String> {
    use argon2::password_hash::{PasswordHasher, SaltString, rand_core::OsRng};
    // OsRng comes from password-hash's `getrandom` feature.
    let salt = SaltString::generate(&mut OsRng);
    argon2::Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| Error::invalid("password", format!("cannot hash it: {e}")))
}

/// Whether `password` matches an argon2id PHC string.
pub fn verify_password(password: &str, phc: &str) -> bool {
    use argon2::password_hash::{PasswordHash, PasswordVerifier};
    PasswordHash::new(phc).is_ok_and(|h| {
        argon2::Argon2::default()
            .verify_password(password.as_bytes(), &h)
            .is_ok()
    })
}

/// An argon2id hash of a random password, verified against when the user
/// name is unknown, so that the time a check takes does not tell which
/// accounts exist.
pub fn dummy_hash() -> &'static str {
    static DUMMY_HASH: LazyLock<String> =
        LazyLock::new(|| hash_password(&random_token()).unwrap_or_default());
    &DUMMY_HASH
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

/// What part of the network a change touches, for role checks on the
/// admin pages and the API.
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

/// Password checks running at once, at most: each takes ~19 MiB and a
/// core for a while (argon2 is slow on purpose).
pub const MAX_VERIFYING: usize = 4;

/// How many password checks are running; logins past
/// [`MAX_VERIFYING`] are refused as busy instead of queueing.
#[derive(Debug, Default)]
pub struct Verifying(std::sync::atomic::AtomicUsize);

/// A running password check's slot, given back when dropped.
pub struct VerifySlot<'a>(&'a std::sync::atomic::AtomicUsize);

impl Verifying {
    /// A slot for one check, if fewer than [`MAX_VERIFYING`] run.
    pub fn start(&self) -> Option<VerifySlot<'_>> {
        use std::sync::atomic::Ordering;
        self.0
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < MAX_VERIFYING).then_some(n + 1)
            })
            .ok()
            .map(|_| VerifySlot(&self.0))
    }

    /// Pretends `n` checks run (tests of a busy server).
    #[cfg(test)]
    pub fn set_running(&self, n: usize) {
        self.0.store(n, std::sync::atomic::Ordering::SeqCst);
    }
}

impl Drop for VerifySlot<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, std::sync::atomic::Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_verify() {
        let h = hash_password("correct horse").unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(verify_password("correct horse", &h));
        assert!(!verify_password("wrong horse", &h));
        assert!(!verify_password("x", "not a hash"));
        assert!(dummy_hash().starts_with("$argon2id$"));
        assert!(!verify_password("", dummy_hash()));
    }

    #[test]
    fn tokens_are_random_and_long() {
        let a = random_token();
        assert_eq!(a.len(), 64);
        assert_ne!(a, random_token());
        assert!(same_secret(&a, &a.clone()));
        assert!(!same_secret(&a, &random_token()));
        assert!(!same_secret(&a, &a[..63]));
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
}
