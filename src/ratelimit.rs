//! Rate limits for the admin pages and the API: token buckets. A client
//! may send [`BURST_SECONDS`] seconds' worth of requests at once (release
//! automation submits a release in one go), then the configured number a
//! second; beyond that it gets `429 Too Many Requests` with `Retry-After`.
//! Redirects are never limited here.
//!
//! [`Limits`] holds two kinds: a bucket per client address for requests
//! that are not authenticated (on by default), and a bucket per user for
//! those that are (off by default: release tooling authenticates, and
//! several of its workers behind one NAT are normal). Failed logins have
//! their own throttle ([`crate::auth::Throttle`]).
//!
//! IPv6 clients are counted by their /64 (one host usually owns a whole
//! /64, so per-address buckets would cost an attacker nothing). Memory is
//! bounded: a bucket that is full again is the same as no bucket and is
//! dropped by a sweep every minute, and at [`MAX_CLIENTS`] buckets the
//! eighth that would be full soonest (the longest idle) is dropped at
//! once.

use std::collections::HashMap;
use std::hash::Hash;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use hyper::StatusCode;
use hyper::header::{HeaderValue, RETRY_AFTER};

use crate::http::{Reply, text};

/// A client may send this many seconds' worth of requests at once
/// before the rate applies (300 at the default rate).
pub const BURST_SECONDS: u32 = 30;
/// Unauthenticated requests a second per client address by default
/// (`serve --admin-rate`).
pub const DEFAULT_RATE: u32 = 10;
/// Authenticated requests a second per user by default (`serve
/// --user-rate`): no limit.
pub const DEFAULT_USER_RATE: u32 = 0;
/// Buckets kept at most.
pub const MAX_CLIENTS: usize = 100_000;
/// How often buckets that are full again are dropped.
const SWEEP_EVERY: Duration = Duration::from_secs(60);

/// Token buckets by key (a client address, a user name), kept as GCRA ("generic cell rate algorithm")
/// deadlines: one instant per client, the time at which its bucket will be
/// full again, so the arithmetic is exact integer time. A std `Mutex` is
/// enough: admin and API requests do a store read or write each, far
/// slower than this lock's few instructions, and the redirect path never
/// comes here.
pub struct RateLimit<K = IpAddr> {
    /// Time one token takes to come back; `None`: no limit.
    interval: Option<Duration>,
    /// How far a client's deadline may run ahead of now: `burst - 1`
    /// intervals.
    tolerance: Duration,
    /// Buckets kept at most.
    max_clients: usize,
    state: Mutex<State<K>>,
}

struct State<K> {
    /// When each client's bucket is full again; a client whose deadline
    /// has passed is the same as one without a bucket.
    full_at: HashMap<K, Instant>,
    last_sweep: Option<Instant>,
}

impl<K: Hash + Eq + Clone> RateLimit<K> {
    /// `rate` requests a second per client after a burst of
    /// [`BURST_SECONDS`] seconds' worth; a rate of 0 limits nothing.
    pub fn per_second(rate: u32) -> RateLimit<K> {
        RateLimit::new(rate, rate.saturating_mul(BURST_SECONDS))
    }

    /// `rate` requests a second per client after a burst of `burst`;
    /// a rate of 0 limits nothing.
    pub fn new(rate: u32, burst: u32) -> RateLimit<K> {
        RateLimit::with_capacity(rate, burst, MAX_CLIENTS)
    }

    /// [`RateLimit::new`] keeping at most `max_clients` buckets.
    pub fn with_capacity(rate: u32, burst: u32, max_clients: usize) -> RateLimit<K> {
        let interval = (rate > 0).then(|| Duration::from_secs(1) / rate);
        RateLimit {
            interval,
            tolerance: interval.unwrap_or_default() * (burst.max(1) - 1),
            max_clients: max_clients.max(1),
            state: Mutex::new(State {
                full_at: HashMap::new(),
                last_sweep: None,
            }),
        }
    }

    /// Whether this limits anything.
    pub fn is_on(&self) -> bool {
        self.interval.is_some()
    }

    /// Takes a token from `key`'s bucket at `now`: `Ok` to go ahead, or
    /// how long until a token is there (a refused request costs nothing).
    pub fn take(&self, key: &K, now: Instant) -> Result<(), Duration> {
        let Some(interval) = self.interval else {
            return Ok(());
        };
        // Poisoning only means another request panicked mid-update; the
        // deadlines are still instants.
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if state
            .last_sweep
            .is_none_or(|t| now.saturating_duration_since(t) >= SWEEP_EVERY)
        {
            state.full_at.retain(|_, full| *full > now);
            state.last_sweep = Some(now);
        }
        let full = match state.full_at.get(key) {
            Some(full) => (*full).max(now),
            None => {
                if state.full_at.len() >= self.max_clients {
                    self.make_room(&mut state.full_at, now);
                }
                now
            }
        };
        let ahead = full - now;
        if ahead > self.tolerance {
            return Err(ahead - self.tolerance);
        }
        state.full_at.insert(key.clone(), full + interval);
        Ok(())
    }

    /// Buckets kept now.
    pub fn clients(&self) -> usize {
        self.state
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .full_at
            .len()
    }

    /// Frees at least one place: the full buckets, else the eighth that
    /// will be full soonest (those clients start again with a full burst).
    fn make_room(&self, full_at: &mut HashMap<K, Instant>, now: Instant) {
        full_at.retain(|_, full| *full > now);
        if full_at.len() < self.max_clients {
            return;
        }
        let mut soonest: Vec<(Instant, &K)> = full_at.iter().map(|(k, t)| (*t, k)).collect();
        let drop = (soonest.len() / 8).max(1);
        soonest.select_nth_unstable_by_key(drop - 1, |&(t, _)| t);
        let soonest: Vec<K> = soonest[..drop].iter().map(|(_, k)| (*k).clone()).collect();
        for key in &soonest {
            full_at.remove(key);
        }
    }
}

impl RateLimit<IpAddr> {
    /// Takes a token from the bucket of `client`'s address (IPv6: its
    /// /64) at `now`; see [`RateLimit::take`].
    pub fn check(&self, client: IpAddr, now: Instant) -> Result<(), Duration> {
        self.take(&key(client), now)
    }
}

/// The limits of the admin pages and the API.
pub struct Limits {
    /// Unauthenticated requests, per client address.
    pub per_address: RateLimit<IpAddr>,
    /// Authenticated requests, per user name.
    pub per_user: RateLimit<String>,
}

impl Limits {
    /// `address_rate` unauthenticated requests a second per client address
    /// and `user_rate` authenticated ones per user, each after a burst of
    /// [`BURST_SECONDS`] seconds' worth (0: no limit).
    pub fn new(address_rate: u32, user_rate: u32) -> Limits {
        Limits {
            per_address: RateLimit::per_second(address_rate),
            per_user: RateLimit::per_second(user_rate),
        }
    }

    /// Takes a token for an unauthenticated request from `client`: `Ok`,
    /// or how long to wait.
    pub fn anonymous(&self, client: IpAddr) -> Result<(), Duration> {
        self.per_address.check(client, Instant::now())
    }

    /// Takes a token for a request authenticated as `user`: `Ok`, or how
    /// long to wait.
    pub fn user(&self, user: &str) -> Result<(), Duration> {
        if !self.per_user.is_on() {
            return Ok(());
        }
        self.per_user.take(&user.to_owned(), Instant::now())
    }
}

/// The bucket a client address belongs to: IPv4 addresses (also written
/// as IPv4-mapped IPv6) by address, IPv6 by /64.
fn key(client: IpAddr) -> IpAddr {
    match client.to_canonical() {
        IpAddr::V6(v6) => {
            let bits = u128::from(v6) & !((1u128 << 64) - 1);
            IpAddr::V6(bits.into())
        }
        v4 => v4,
    }
}

/// `wait` in whole seconds for `Retry-After`, rounded up, at least 1.
pub fn retry_after_secs(wait: Duration) -> u64 {
    (wait.as_secs() + u64::from(wait.subsec_nanos() > 0)).max(1)
}

/// `429 Too Many Requests` with `Retry-After` (whole seconds, at least 1).
pub fn too_many(wait: Duration) -> Reply {
    let secs = retry_after_secs(wait);
    let mut reply = text(
        StatusCode::TOO_MANY_REQUESTS,
        format!("429 too many requests; try again in {secs} s\n"),
    );
    reply
        .headers_mut()
        .insert(RETRY_AFTER, HeaderValue::from(secs));
    reply
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 1));
    const B: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 2));

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn a_burst_then_the_rate() {
        let limit = RateLimit::new(10, 5);
        let t0 = Instant::now();
        for _ in 0..5 {
            assert_eq!(limit.check(A, t0), Ok(()));
        }
        let wait = limit.check(A, t0).unwrap_err();
        assert_eq!(wait, ms(100));
        // A refused request costs nothing: the wait does not grow.
        assert_eq!(limit.check(A, t0).unwrap_err(), ms(100));
        // Half a token later: still 50 ms to go.
        assert_eq!(limit.check(A, t0 + ms(50)).unwrap_err(), ms(50));
        assert_eq!(limit.check(A, t0 + ms(100)), Ok(()));
        assert!(limit.check(A, t0 + ms(100)).is_err());
        // Ten a second, sustained.
        let mut admitted = 0;
        for i in 1..=100 {
            admitted += usize::from(limit.check(A, t0 + ms(100 + i * 10)).is_ok());
        }
        assert_eq!(admitted, 10);
    }

    #[test]
    fn clients_have_their_own_buckets() {
        let limit = RateLimit::new(1, 2);
        let t0 = Instant::now();
        assert!(limit.check(A, t0).is_ok());
        assert!(limit.check(A, t0).is_ok());
        assert!(limit.check(A, t0).is_err());
        assert!(limit.check(B, t0).is_ok());
        assert!(limit.check(B, t0).is_ok());
        assert!(limit.check(B, t0).is_err());
    }

    #[test]
    fn a_bucket_refills_up_to_the_burst_only() {
        let limit = RateLimit::new(10, 3);
        let t0 = Instant::now();
        assert!(limit.check(A, t0).is_ok());
        let later = t0 + Duration::from_secs(3600);
        for _ in 0..3 {
            assert!(limit.check(A, later).is_ok());
        }
        assert!(limit.check(A, later).is_err());
    }

    #[test]
    fn ipv6_clients_count_by_slash_64_and_mapped_ipv4_as_ipv4() {
        let limit = RateLimit::new(1, 1);
        let t0 = Instant::now();
        let one: IpAddr = "2001:db8:1:2::1".parse().unwrap();
        let same_64: IpAddr = "2001:db8:1:2:ffff::9".parse().unwrap();
        let other_64: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert!(limit.check(one, t0).is_ok());
        assert!(limit.check(same_64, t0).is_err());
        assert!(limit.check(other_64, t0).is_ok());
        let mapped: IpAddr = "::ffff:192.0.2.1".parse().unwrap();
        assert!(limit.check(A, t0).is_ok());
        assert!(limit.check(mapped, t0).is_err());
    }

    #[test]
    fn off_admits_everything_and_keeps_nothing() {
        let limit = RateLimit::new(0, 300);
        assert!(!limit.is_on());
        let t0 = Instant::now();
        for _ in 0..1000 {
            assert!(limit.check(A, t0).is_ok());
        }
        assert_eq!(limit.clients(), 0);
    }

    #[test]
    fn full_buckets_are_swept() {
        let limit = RateLimit::new(10, 10);
        let t0 = Instant::now();
        for i in 0..100u8 {
            let _ = limit.check(IpAddr::from([10, 0, 0, i]), t0);
        }
        assert_eq!(limit.clients(), 100);
        // A minute on, every bucket is full again: the next check sweeps.
        let later = t0 + SWEEP_EVERY;
        assert!(limit.check(A, later).is_ok());
        assert_eq!(limit.clients(), 1);
    }

    #[test]
    fn memory_is_capped_dropping_the_longest_idle() {
        let limit = RateLimit::with_capacity(1, 5, 16);
        let t0 = Instant::now();
        // Client i spends its burst at i ms (no sweep can drop it).
        for i in 0..16u8 {
            let ip = IpAddr::from([10, 0, 0, i]);
            for _ in 0..5 {
                let _ = limit.check(ip, t0 + ms(u64::from(i)));
            }
        }
        assert_eq!(limit.clients(), 16);
        // One more: the eighth that would be full soonest (2) goes.
        assert!(limit.check(A, t0 + ms(20)).is_ok());
        assert_eq!(limit.clients(), 15);
        // The two oldest start afresh; the third oldest is still limited.
        let client = |i: u8| IpAddr::from([10, 0, 0, i]);
        assert!(limit.check(client(0), t0 + ms(20)).is_ok());
        assert!(limit.check(client(2), t0 + ms(20)).is_err());
        for i in 0..=255u8 {
            let _ = limit.check(IpAddr::from([10, 1, 0, i]), t0 + ms(30));
            assert!(limit.clients() <= 16);
        }
    }

    #[test]
    fn a_clock_that_goes_backwards_is_harmless() {
        let limit = RateLimit::new(10, 1);
        let t0 = Instant::now() + Duration::from_secs(1);
        assert!(limit.check(A, t0).is_ok());
        assert!(limit.check(A, t0 - ms(500)).is_err());
        assert_eq!(limit.check(A, t0 + ms(100)), Ok(()));
    }

    #[test]
    fn the_429_says_when_to_come_back() {
        let r = too_many(ms(100));
        assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(r.headers()[RETRY_AFTER], "1");
        assert_eq!(too_many(ms(2500)).headers()[RETRY_AFTER], "3");
        assert_eq!(too_many(Duration::from_secs(4)).headers()[RETRY_AFTER], "4");
    }
}
