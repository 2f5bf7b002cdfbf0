//! What the admin pages, the API, the CLI and the demo share to tell who
//! is asking: password hashes, random tokens, constant-time comparison,
//! what each role may change, and the throttle on failed logins.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, LazyLock, Mutex};

use crate::error::{Error, Result};
use crate::model::Role;
use crate::network::Network;
use crate::store::{LoginFailureRows, LoginFailures as Failures, LoginRecord};

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

/// The SHA-256 of a secret token, hex-encoded: what the database keeps of
/// a session id, so that reading it gives no usable cookie.
pub fn secret_hash(token: &str) -> String {
    use sha2::{Digest, Sha256};
    Sha256::digest(token.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
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
///
/// With redb (one node) the counts are kept in memory; on PostgreSQL in
/// the database, so that a guesser meets one count whichever node it
/// reaches. The database-backed calls block: call them off the async
/// workers.
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
    kind: Kind,
}

enum Kind {
    Memory(Mutex<ThrottleState>),
    Shared {
        network: Arc<Network>,
        /// Unix seconds from which the next attempt clears out what is
        /// forgotten.
        next_purge: AtomicU64,
    },
}

/// How often a node clears forgotten failures out of the database.
const PURGE_SECS: u64 = 600;

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

impl ThrottleState {
    fn record(&self, pair: &(String, String)) -> LoginRecord {
        LoginRecord {
            pair: self.pairs.get(pair).copied().unwrap_or_default(),
            client: self.clients.get(&pair.1).copied().unwrap_or_default(),
            known: self.known.get(pair).copied(),
        }
    }
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
    /// A throttle in memory with the usual limits.
    fn default() -> Self {
        Throttle {
            per_pair: 5,
            per_client: 20,
            first_wait: 1,
            max_wait: 15 * 60,
            kind: Kind::Memory(Mutex::default()),
        }
    }
}

impl Throttle {
    /// The throttle of `network`'s logins: in its database when that is
    /// PostgreSQL (shared by every node), else in memory.
    pub fn for_network(network: &Arc<Network>) -> Throttle {
        let mut throttle = Throttle::default();
        if network.store().postgres().is_some() {
            throttle.kind = Kind::Shared {
                network: network.clone(),
                next_purge: AtomicU64::new(0),
            };
        }
        throttle
    }

    /// Seconds until `user` may try again from `client`, if it must wait.
    pub fn locked(&self, user: &str, client: &str, now: u64) -> Result<Option<u64>> {
        let pair = pair_key(user, client);
        let record = match &self.kind {
            Kind::Memory(state) => lock(state).record(&pair),
            Kind::Shared { network, .. } => network.store().login_record(&pair.0, &pair.1)?,
        };
        Ok(self.wait(&record, now))
    }

    fn wait(&self, record: &LoginRecord, now: u64) -> Option<u64> {
        let by_pair = self.until(&record.pair, self.per_pair, now);
        let known = record
            .known
            .is_some_and(|at| now < at.saturating_add(KNOWN_SECS));
        let by_client = if known {
            None
        } else {
            self.until(&record.client, self.per_client, now)
        };
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
    /// attempts sent at once (to any node) cannot all slip past the limit
    /// (take the check's slot first: an attempt refused as busy must not
    /// count); the inner `Err` holds the seconds to wait, the outer one
    /// says the database could not be reached.
    pub fn attempt(&self, user: &str, client: &str, now: u64) -> Result<Result<(), u64>> {
        let pair = pair_key(user, client);
        let (network, next_purge) = match &self.kind {
            Kind::Memory(state) => {
                let mut state = lock(state);
                if let Some(wait) = self.wait(&state.record(&pair), now) {
                    return Ok(Err(wait));
                }
                if !state.pairs.contains_key(&pair) {
                    make_room(&mut state.pairs, |f| f.last);
                }
                count_failure(state.pairs.entry(pair).or_default(), now);
                if !state.clients.contains_key(client) {
                    make_room(&mut state.clients, |f| f.last);
                }
                count_failure(state.clients.entry(client.to_string()).or_default(), now);
                return Ok(Ok(()));
            }
            Kind::Shared {
                network,
                next_purge,
            } => (network, next_purge),
        };
        let store = network.store();
        if due(next_purge, now, PURGE_SECS) {
            let purged = store.logins_purge(
                now.saturating_sub(FORGET_AFTER_SECS),
                now.saturating_sub(KNOWN_SECS),
            );
            if let Err(e) = purged {
                tracing::warn!(error = %e, "cannot clear out forgotten login failures");
            }
        }
        store.login_attempt(&pair.0, &pair.1, |record| {
            if let Some(wait) = self.wait(record, now) {
                return (Err(wait), None);
            }
            let (mut by_pair, mut by_client) = (record.pair, record.client);
            count_failure(&mut by_pair, now);
            count_failure(&mut by_client, now);
            (Ok(()), Some((by_pair, by_client)))
        })
    }

    /// The attempt succeeded: forget the pair's failures, give the address
    /// its attempt back, and remember it as a client of the account.
    pub fn succeeded(&self, user: &str, client: &str, now: u64) -> Result<()> {
        let pair = pair_key(user, client);
        match &self.kind {
            Kind::Memory(state) => {
                let mut state = lock(state);
                state.pairs.remove(&pair);
                if let Some(f) = state.clients.get_mut(client) {
                    f.count = f.count.saturating_sub(1);
                }
                if !state.known.contains_key(&pair) {
                    make_room(&mut state.known, |&at| at);
                }
                state.known.insert(pair, now);
                Ok(())
            }
            Kind::Shared { network, .. } => network.store().login_succeeded(&pair.0, &pair.1, now),
        }
    }

    /// The clients at or past their limit whose failures are remembered,
    /// the latest to try again first.
    pub fn throttled(&self, now: u64) -> Result<Vec<Throttled>> {
        let rows = match &self.kind {
            Kind::Memory(state) => {
                let state = lock(state);
                LoginFailureRows {
                    pairs: state.pairs.iter().map(|(k, f)| (k.clone(), *f)).collect(),
                    clients: state.clients.iter().map(|(k, f)| (k.clone(), *f)).collect(),
                }
            }
            Kind::Shared { network, .. } => network.store().login_failures_over(
                self.per_pair,
                self.per_client,
                (now + 1).saturating_sub(FORGET_AFTER_SECS),
            )?,
        };
        let pairs = rows.pairs.into_iter().filter_map(|((user, client), f)| {
            Some(Throttled {
                until: self.until(&f, self.per_pair, now)?,
                account: Some(user),
                client,
                failures: f.count,
            })
        });
        let clients = rows.clients.into_iter().filter_map(|(client, f)| {
            Some(Throttled {
                until: self.until(&f, self.per_client, now)?,
                account: None,
                client,
                failures: f.count,
            })
        });
        let mut out: Vec<Throttled> = pairs.chain(clients).collect();
        out.sort_by(|a, b| (b.until, &a.account, &a.client).cmp(&(a.until, &b.account, &b.client)));
        Ok(out)
    }
}

fn lock(state: &Mutex<ThrottleState>) -> std::sync::MutexGuard<'_, ThrottleState> {
    // A panic while holding it leaves counts at worst one off.
    state.lock().unwrap_or_else(|e| e.into_inner())
}

/// Whether a periodic chore whose next turn is at `next` (unix seconds)
/// is due `now`; if so, the next turn is set `every` seconds on. One
/// caller among many at once gets the turn.
pub fn due(next: &AtomicU64, now: u64, every: u64) -> bool {
    let at = next.load(Ordering::Relaxed);
    now >= at
        && next
            .compare_exchange(
                at,
                now.saturating_add(every),
                Ordering::Relaxed,
                Ordering::Relaxed,
            )
            .is_ok()
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

    use crate::testing::postgres::TestPostgres;

    /// A network on a fresh PostgreSQL database, as a node opens it.
    fn node(url: &str) -> Arc<Network> {
        Arc::new(Network::open(crate::store::Place::Postgres(url.into()), false).unwrap())
    }

    /// A throttle in memory and, where PostgreSQL is installed, one in a
    /// fresh database: the throttle's rules hold in both.
    fn throttles() -> Vec<Throttle> {
        let mut out = vec![Throttle::default()];
        if let Some(server) = TestPostgres::shared_or_skip() {
            let t = Throttle::for_network(&node(&server.database()));
            assert!(matches!(t.kind, Kind::Shared { .. }));
            out.push(t);
        }
        out
    }

    /// Two nodes on one database meet one count: failures on one make
    /// the client wait on the other, the admin of either lists it, and a
    /// login on either forgets it on both.
    #[test]
    fn nodes_sharing_a_database_share_the_count() {
        let Some(server) = TestPostgres::shared_or_skip() else {
            return;
        };
        let url = server.database();
        let (a, b) = (
            Throttle::for_network(&node(&url)),
            Throttle::for_network(&node(&url)),
        );
        for i in 0..5 {
            let node = if i % 2 == 0 { &a } else { &b };
            assert_eq!(node.attempt("ann", "192.0.2.1", 100).unwrap(), Ok(()));
        }
        assert_eq!(b.attempt("Ann", "192.0.2.1", 100).unwrap(), Err(1));
        assert_eq!(a.locked("ann", "192.0.2.1", 100).unwrap(), Some(1));
        assert_eq!(a.locked("ann", "192.0.2.2", 100).unwrap(), None);
        let listed = b.throttled(100).unwrap();
        assert_eq!(
            listed,
            [Throttled {
                account: Some("ann".into()),
                client: "192.0.2.1".into(),
                failures: 5,
                until: 101,
            }]
        );
        assert_eq!(a.attempt("ann", "192.0.2.1", 101).unwrap(), Ok(()));
        b.succeeded("ann", "192.0.2.1", 101).unwrap();
        assert_eq!(a.locked("ann", "192.0.2.1", 101).unwrap(), None);
        assert!(a.throttled(101).unwrap().is_empty());
    }

    /// Attempts sent at once to two nodes are counted one after the
    /// other: exactly the limit gets through.
    #[test]
    fn attempts_at_once_on_two_nodes_count_each() {
        let Some(server) = TestPostgres::shared_or_skip() else {
            return;
        };
        let url = server.database();
        let nodes = [
            Throttle::for_network(&node(&url)),
            Throttle::for_network(&node(&url)),
        ];
        let passed = std::sync::atomic::AtomicU32::new(0);
        std::thread::scope(|s| {
            for t in &nodes {
                for _ in 0..4 {
                    s.spawn(|| {
                        for _ in 0..3 {
                            if t.attempt("ann", "192.0.2.9", 500).unwrap().is_ok() {
                                passed.fetch_add(1, Ordering::Relaxed);
                            }
                        }
                    });
                }
            }
        });
        assert_eq!(passed.into_inner(), nodes[0].per_pair);
    }

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
        for t in throttles() {
            for i in 0..5 {
                assert_eq!(t.locked("ann", "b", 100 + i).unwrap(), None);
                assert_eq!(t.attempt("ann", "b", 100 + i).unwrap(), Ok(()));
            }
            // Five failures: the address waits a second after the last one,
            // for the account in any spelling…
            assert_eq!(t.locked("ann", "b", 104).unwrap(), Some(1));
            assert_eq!(t.attempt("ANN", "b", 104).unwrap(), Err(1));
            // …while the account stays open to every other address.
            assert_eq!(t.locked("ann", "a", 104).unwrap(), None);
            assert_eq!(t.attempt("ann", "a", 104).unwrap(), Ok(()));
            t.succeeded("ann", "a", 104).unwrap();
            // Each further failure doubles the wait, up to the cap.
            let mut now = 105;
            let mut waits = Vec::new();
            for _ in 0..12 {
                assert_eq!(t.attempt("ann", "b", now).unwrap(), Ok(()), "at {now}");
                let wait = t.locked("ann", "b", now).unwrap().unwrap();
                assert_eq!(t.locked("ann", "b", now + wait - 1).unwrap(), Some(1));
                assert_eq!(t.locked("ann", "b", now + wait).unwrap(), None);
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
            assert_eq!(t.attempt("ann", "b", now).unwrap(), Ok(()));
            t.succeeded("ann", "b", now).unwrap();
            for i in 0..4 {
                assert_eq!(t.attempt("ann", "b", now + i).unwrap(), Ok(()));
            }
            assert_eq!(t.locked("ann", "b", now + 4).unwrap(), None);
        }
    }

    #[test]
    fn an_address_guessing_many_accounts_waits_except_for_its_own_accounts() {
        for t in throttles() {
            // bob logged in from c before.
            assert_eq!(t.attempt("bob", "c", 1).unwrap(), Ok(()));
            t.succeeded("bob", "c", 1).unwrap();
            // Four failures each for five names: no pair reaches its limit,
            // the address does.
            for i in 0..20 {
                assert_eq!(
                    t.attempt(&format!("guess{}", i % 5), "c", 10).unwrap(),
                    Ok(())
                );
            }
            assert_eq!(t.locked("carl", "c", 10).unwrap(), Some(1));
            assert_eq!(t.attempt("guess0", "c", 10).unwrap(), Err(1));
            assert_eq!(
                t.locked("carl", "d", 10).unwrap(),
                None,
                "other addresses go on"
            );
            assert_eq!(t.locked("bob", "c", 10).unwrap(), None, "bob's own address");
            assert_eq!(t.attempt("bob", "c", 10).unwrap(), Ok(()));
            // bob's success gives back only the attempt it took.
            t.succeeded("bob", "c", 10).unwrap();
            assert_eq!(t.locked("carl", "c", 10).unwrap(), Some(1));
            // An address is known to an account for a while only.
            let later = 10 + KNOWN_SECS;
            for i in 0..20 {
                assert_eq!(
                    t.attempt(&format!("other{}", i % 5), "c", later).unwrap(),
                    Ok(())
                );
            }
            assert_eq!(
                t.locked("bob", "c", later).unwrap(),
                Some(1),
                "forgotten as bob's"
            );
        }
    }

    #[test]
    fn failures_are_forgotten_an_hour_after_the_last() {
        for t in throttles() {
            for _ in 0..5 {
                assert_eq!(t.attempt("ann", "b", 1000).unwrap(), Ok(()));
            }
            assert!(t.locked("ann", "b", 1000).unwrap().is_some());
            assert_eq!(t.throttled(1000 + FORGET_AFTER_SECS - 1).unwrap().len(), 1);
            assert!(t.throttled(1000 + FORGET_AFTER_SECS).unwrap().is_empty());
            // Counted from scratch: four more are free.
            for i in 0..4 {
                assert_eq!(
                    t.attempt("ann", "b", 1000 + FORGET_AFTER_SECS + i).unwrap(),
                    Ok(())
                );
            }
            assert_eq!(
                t.locked("ann", "b", 1000 + FORGET_AFTER_SECS + 4).unwrap(),
                None
            );
        }
    }

    #[test]
    fn the_admin_sees_who_waits() {
        for t in throttles() {
            for _ in 0..6 {
                let _ = t.attempt("Ann", "10.0.0.2", 50).unwrap();
            }
            for i in 0..4 {
                assert_eq!(t.attempt("bob", "10.0.0.3", 50 + i).unwrap(), Ok(()));
            }
            let list = t.throttled(60).unwrap();
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
                let _ = t.attempt(&format!("g{i}"), "10.0.0.4", 70).unwrap();
            }
            let list = t.throttled(70).unwrap();
            assert_eq!(list.len(), 2, "{list:?}");
            assert_eq!(
                (list[0].account.as_deref(), list[0].client.as_str()),
                (None, "10.0.0.4"),
                "the latest to try again first"
            );
            assert_eq!((list[0].failures, list[0].until), (20, 71));
        }
    }

    #[test]
    fn throttle_memory_is_bounded() {
        let t = Throttle::default();
        for i in 0..MAX_ENTRIES as u64 + 5000 {
            let client = format!("c{i}");
            assert_eq!(t.attempt("ann", &client, i).unwrap(), Ok(()));
            if i % 2 == 0 {
                t.succeeded("ann", &client, i).unwrap();
            }
        }
        let Kind::Memory(state) = &t.kind else {
            unreachable!("made in memory")
        };
        let state = lock(state);
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
