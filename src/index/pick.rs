//! Weighted choice among a location's eligible mirrors. Pure: the caller
//! passes the randomness, so tests can fix it.
//!
//! Two ways to choose. [`Candidates::pick`] draws at random, in
//! proportion to weight. [`Candidates::pick_sticky`] ranks the mirrors by
//! a weighted hash of a key (a client and a file; SPEC §2.6): weighted
//! rendezvous hashing, where each mirror's score is an exponential
//! variable of rate = its weight, derived from hash(key, mirror), and the
//! lowest score wins. So one key always gets the same mirror while the
//! candidates and weights stay the same; across keys each mirror wins in
//! proportion to its weight; and a mirror that leaves takes only the keys
//! it won with it (every other mirror's scores are unchanged). The rest of
//! the ranking is the key's own order of alternatives.

use std::net::IpAddr;

/// A source of uniform random numbers.
pub trait Random {
    /// A number in `0..n` (`n` > 0).
    fn below(&mut self, n: u64) -> u64;
}

impl Random for fastrand::Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.u64(0..n)
    }
}

/// The calling thread's generator: no lock, no allocation.
pub struct ThreadRandom;

impl Random for ThreadRandom {
    fn below(&mut self, n: u64) -> u64 {
        fastrand::u64(0..n)
    }
}

/// A [`Random`] that is not random: numbers derived from a sticky key,
/// so decisions made with it (a region's throttle) are the same for the
/// same client and file, and spread evenly across clients and files.
pub struct KeyedRandom(pub u64);

impl Random for KeyedRandom {
    fn below(&mut self, n: u64) -> u64 {
        // Independent of the mirrors' scores, which mix in their seeds.
        self.0 = mix(self.0 ^ 0x7f4a_7c15_9e37_79b9);
        // Multiply-shift: no modulo bias worth the name for small `n`.
        ((u128::from(self.0) * u128::from(n)) >> 64) as u64
    }
}

/// The key a sticky pick ranks mirrors by: a client and a file.
/// Stable across processes and nodes running the same release.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StickyKey(pub u64);

impl StickyKey {
    /// The key of `client` (IPv4, or the /64 of IPv6: one host's privacy
    /// addresses change within it) asking for the file `template`
    /// ([`template_hash`] of its location's path template) in `lang`.
    pub fn new(client: IpAddr, template: u64, lang: &str) -> StickyKey {
        let mut h = Fnv::new();
        match client.to_canonical() {
            IpAddr::V4(v4) => h.write(&v4.octets()),
            IpAddr::V6(v6) => h.write(&v6.octets()[..8]),
        }
        h.write(b"\0");
        h.write(lang.as_bytes());
        StickyKey(mix(h.0 ^ template))
    }
}

/// The hash of a (decoded) path template, computed once per location when
/// the index is built: products and aliases whose locations have the same
/// template (twins sharing paths) key their clients alike.
pub fn template_hash(template: &str) -> u64 {
    let mut h = Fnv::new();
    h.write(template.as_bytes());
    mix(h.0)
}

/// 64-bit FNV-1a: small and stable (the hash must not change between
/// releases running side by side behind one load balancer).
struct Fnv(u64);

impl Fnv {
    fn new() -> Fnv {
        Fnv(0xcbf2_9ce4_8422_2325)
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
}

/// An exponential variable (rate 1, in units of ln 2) from 64 uniform
/// bits: -log2(U) for U = the bits as a fraction of 2^64. The integer part
/// is the count of leading zeros; the rest, -log2 of the mantissa, comes
/// from a polynomial instead of a call to `ln`, with no branch or division
/// in the way (absolute error below 4e-7: the chance that it swaps two
/// mirrors' order is of that size too, far under what shares could show;
/// below 2^-52, one draw in 2^52, only the integer part is right).
fn exponential(bits: u64) -> f64 {
    let zeros = bits.leading_zeros().min(51);
    // U = 2^-(zeros + 1) × (1 + x), x in [0, 1) from the bits after the
    // leading one (for U < 2^-52 the mantissa's few bits are dropped).
    let fraction = (bits << (zeros + 1)) >> 12;
    let x = f64::from_bits(0x3ff0_0000_0000_0000 | fraction) - 1.0;
    // log2(1 + x) on [0, 1): a degree-7 Chebyshev fit (error < 3.2e-7).
    let log2 = ((((((0.014_778_720_765_925_785 * x - 0.076_848_725_966_772_97) * x
        + 0.190_420_831_392_016_7)
        * x
        - 0.323_115_935_130_115_9)
        * x
        + 0.472_499_525_190_542_34)
        * x
        - 0.720_386_611_943_714_6)
        * x
        + 1.442_652_111_042_169_5)
        * x
        + 3.196_978_290_986_862_7e-7;
    f64::from(zeros) + 1.0 - log2
}

/// The ranking's order of (score, mirror index): lower score first, equal
/// scores by lower index.
fn by_rank(a: &(f64, u32), b: &(f64, u32)) -> std::cmp::Ordering {
    a.0.total_cmp(&b.0).then(a.1.cmp(&b.1))
}

/// SplitMix64's finaliser: every input bit moves every output bit.
pub fn mix(mut x: u64) -> u64 {
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// The seed a mirror's sticky scores are derived from: its stable id, so
/// rankings survive other mirrors being added, removed or reordered.
pub fn seed(mirror_id: u64) -> u64 {
    mix(mirror_id ^ 0x5851_f42d_4c95_7f2d)
}

/// Mirrors eligible for one location, with cumulative weights. Locations
/// served by the same mirrors share one `Candidates`.
#[derive(Debug, Default, PartialEq)]
pub struct Candidates {
    /// Indexes into the index's mirror table, ascending, each once.
    mirrors: Box<[u32]>,
    /// `cumulative[i]` = sum of weights of `mirrors[..=i]`.
    cumulative: Box<[u64]>,
    /// For sticky picks, per mirror (same order): its seed and the inverse
    /// of its weight.
    sticky: Box<[(u64, f64)]>,
    /// Whether every weight is the same: sticky scores then need no
    /// logarithm (the ranking by hash alone is the same).
    uniform: bool,
    /// The [`Candidates::RANKED`] heaviest mirrors, heaviest first (equal
    /// weights: lower index first): the alternatives a redirect offers.
    ranked: Box<[u32]>,
}

impl Candidates {
    /// Builds from (mirror index, weight) pairs; zero weights are left out,
    /// a mirror listed twice counts once. Sticky picks seed each mirror by
    /// its index; see [`Candidates::seeded`].
    pub fn new(weighted: Vec<(u32, u64)>) -> Candidates {
        Candidates::seeded(weighted, |m| seed(m.into()))
    }

    /// [`Candidates::new`] with `seed_of(mirror index)` as the seed of
    /// each mirror's sticky scores (the index passes [`seed`] of its id).
    pub fn seeded(mut weighted: Vec<(u32, u64)>, seed_of: impl Fn(u32) -> u64) -> Candidates {
        weighted.sort_unstable_by_key(|&(m, _)| m);
        weighted.dedup_by_key(|&mut (m, _)| m);
        weighted.retain(|&(_, w)| w > 0);
        let mut heaviest = weighted.clone();
        heaviest.sort_unstable_by_key(|&(m, w)| (std::cmp::Reverse(w), m));
        let ranked = heaviest
            .iter()
            .take(Self::RANKED)
            .map(|&(m, _)| m)
            .collect();
        let sticky = weighted
            .iter()
            .map(|&(m, w)| (seed_of(m), 1.0 / w as f64))
            .collect();
        let uniform = weighted.windows(2).all(|p| p[0].1 == p[1].1);
        let mut total = 0u64;
        let (mirrors, cumulative) = weighted
            .into_iter()
            .map(|(m, w)| {
                total += w;
                (m, total)
            })
            .unzip::<_, _, Vec<_>, Vec<_>>();
        Candidates {
            mirrors: mirrors.into(),
            cumulative: cumulative.into(),
            sticky,
            uniform,
            ranked,
        }
    }

    /// The sticky score of the mirror at position `i` for `key`: an
    /// exponential variable with rate = the mirror's weight (lower wins).
    /// With equal weights, the ranking only needs the variables' order,
    /// which is their uniform bits' order reversed: no logarithm then.
    fn score(&self, key: StickyKey, i: usize) -> f64 {
        let (seed, inverse_weight) = self.sticky[i];
        // One multiply mixes key and mirror (folded 128-bit product).
        let product = u128::from(key.0 ^ seed) * 0xf39c_c060_5ced_c835;
        let bits = (product as u64) ^ ((product >> 64) as u64);
        if self.uniform {
            -(bits as f64)
        } else {
            exponential(bits) * inverse_weight
        }
    }

    /// The mirror at place `rank` (0: the first) of `key`'s ranking,
    /// counting round: rank n is rank 0 again for n mirrors. `None` when
    /// there is none. O(n); allocates only for later ranks (a client
    /// retrying) among more than [`Candidates::ON_STACK`] mirrors.
    pub fn pick_sticky(&self, key: StickyKey, rank: usize) -> Option<u32> {
        let n = self.mirrors.len();
        if n == 0 {
            return None;
        }
        let rank = rank % n;
        if rank == 0 {
            let mut best = (f64::INFINITY, 0);
            for i in 0..n {
                let s = self.score(key, i);
                if s < best.0 {
                    best = (s, i);
                }
            }
            return Some(self.mirrors[best.1]);
        }
        let nth = |scored: &mut [(f64, u32)]| {
            scored.select_nth_unstable_by(rank, by_rank);
            scored[rank].1
        };
        if n <= Self::ON_STACK {
            let mut scored = [(0.0, 0); Self::ON_STACK];
            for (i, slot) in scored[..n].iter_mut().enumerate() {
                *slot = (self.score(key, i), self.mirrors[i]);
            }
            Some(nth(&mut scored[..n]))
        } else {
            Some(nth(&mut self.scored(key)))
        }
    }

    /// Candidates up to this many rank without allocating.
    pub const ON_STACK: usize = 64;

    /// (score, mirror index) of every mirror for `key`.
    fn scored(&self, key: StickyKey) -> Vec<(f64, u32)> {
        (0..self.mirrors.len())
            .map(|i| (self.score(key, i), self.mirrors[i]))
            .collect()
    }

    /// Every mirror index in `key`'s ranking, best first. Allocates: for
    /// `Link` headers and documents.
    pub fn ranking(&self, key: StickyKey) -> Vec<u32> {
        let mut scored = self.scored(key);
        scored.sort_unstable_by(by_rank);
        scored.into_iter().map(|(_, m)| m).collect()
    }

    /// How many of the heaviest mirrors [`Candidates::ranked`] keeps: the
    /// four alternatives a redirect lists besides the mirror it picked.
    pub const RANKED: usize = 5;

    /// Up to [`Candidates::RANKED`] mirror indexes, heaviest first.
    pub fn ranked(&self) -> &[u32] {
        &self.ranked
    }

    /// Every mirror index with its weight, heaviest first (equal weights:
    /// lower index first). Allocates: for documents, not redirects.
    pub fn by_weight(&self) -> Vec<(u32, u64)> {
        let mut all: Vec<(u32, u64)> = self.iter().collect();
        all.sort_unstable_by_key(|&(m, w)| (std::cmp::Reverse(w), m));
        all
    }

    /// Sum of the weights.
    pub fn total(&self) -> u64 {
        self.cumulative.last().copied().unwrap_or(0)
    }

    /// Whether nobody can serve.
    pub fn is_empty(&self) -> bool {
        self.mirrors.is_empty()
    }

    /// Number of eligible mirrors.
    pub fn len(&self) -> usize {
        self.mirrors.len()
    }

    /// Mirror indexes with their own (not cumulative) weights.
    pub fn iter(&self) -> impl Iterator<Item = (u32, u64)> + '_ {
        let mut prev = 0;
        self.mirrors
            .iter()
            .zip(self.cumulative.iter())
            .map(move |(&m, &c)| {
                let w = c - prev;
                prev = c;
                (m, w)
            })
    }

    /// Picks a mirror index with probability proportional to its weight;
    /// `None` when there is none (or all weights are zero). O(log n).
    pub fn pick(&self, rng: &mut impl Random) -> Option<u32> {
        let total = self.total();
        if total == 0 {
            return None;
        }
        let r = rng.below(total);
        // First i with cumulative[i] > r.
        let i = self.cumulative.partition_point(|&c| c <= r);
        self.mirrors.get(i).copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn empty_and_zero_weights_pick_nothing() {
        let mut rng = fastrand::Rng::with_seed(1);
        assert_eq!(Candidates::new(vec![]).pick(&mut rng), None);
        let zero = Candidates::new(vec![(1, 0), (2, 0)]);
        assert!(zero.is_empty());
        assert_eq!(zero.pick(&mut rng), None);
    }

    #[test]
    fn a_mirror_listed_twice_counts_once() {
        let c = Candidates::new(vec![(1, 10), (1, 10), (2, 10)]);
        assert_eq!(c.total(), 20);
        assert_eq!(c.iter().collect::<Vec<_>>(), vec![(1, 10), (2, 10)]);
    }

    #[test]
    fn boundaries_go_to_the_right_mirror() {
        struct Fixed(u64);
        impl Random for Fixed {
            fn below(&mut self, _: u64) -> u64 {
                self.0
            }
        }
        let c = Candidates::new(vec![(7, 1), (8, 2), (9, 3)]);
        let picks: Vec<_> = (0..6).map(|r| c.pick(&mut Fixed(r)).unwrap()).collect();
        assert_eq!(picks, vec![7, 8, 8, 9, 9, 9]);
    }

    #[test]
    fn ranking_is_heaviest_first_and_short() {
        let c = Candidates::new(vec![
            (1, 5),
            (2, 50),
            (3, 5),
            (4, 0),
            (5, 20),
            (6, 1),
            (7, 9),
            (8, 2),
        ]);
        assert_eq!(c.ranked(), &[2, 5, 7, 1, 3]);
        assert_eq!(
            c.by_weight(),
            vec![(2, 50), (5, 20), (7, 9), (1, 5), (3, 5), (8, 2), (6, 1)]
        );
        assert!(Candidates::new(vec![]).ranked().is_empty());
    }

    /// Keys of `n` distinct clients asking for one file.
    fn clients(n: u32) -> Vec<StickyKey> {
        (0..n)
            .map(|i| {
                let ip = IpAddr::from(std::net::Ipv4Addr::from(0x0a00_0000 + i));
                StickyKey::new(ip, template_hash("/pub/:lang/f.exe"), "de")
            })
            .collect()
    }

    /// Pearson's chi-square of `hits` against shares proportional to
    /// `weights`.
    fn chi_square(hits: &[u64], weights: &[u64]) -> f64 {
        let n: u64 = hits.iter().sum();
        let total: u64 = weights.iter().sum();
        hits.iter()
            .zip(weights)
            .map(|(&h, &w)| {
                let expected = n as f64 * w as f64 / total as f64;
                (h as f64 - expected).powi(2) / expected
            })
            .sum()
    }

    #[test]
    fn sticky_shares_follow_the_weights_across_clients() {
        let weights = [100u64, 50, 25, 10, 5, 1];
        let c = Candidates::new(
            weights
                .iter()
                .enumerate()
                .map(|(i, &w)| (i as u32, w))
                .collect(),
        );
        let mut hits = [0u64; 6];
        for key in clients(20_000) {
            hits[c.pick_sticky(key, 0).unwrap() as usize] += 1;
        }
        // 5 degrees of freedom: 20.5 is the 0.999 quantile.
        let chi = chi_square(&hits, &weights);
        assert!(chi < 20.5, "chi-square {chi:.1} for {hits:?}");
        // The throttle's roll spreads evenly too.
        let mut below_30 = 0;
        for key in clients(20_000) {
            below_30 += u32::from(KeyedRandom(key.0).below(100) < 30);
        }
        assert!((5_700..6_300).contains(&below_30), "{below_30}");
    }

    #[test]
    fn one_client_one_file_one_mirror_and_its_own_ranking() {
        let c = Candidates::new(vec![(1, 10), (2, 10), (3, 10), (4, 10)]);
        let key = clients(1)[0];
        let first = c.pick_sticky(key, 0).unwrap();
        for _ in 0..100 {
            assert_eq!(c.pick_sticky(key, 0), Some(first));
        }
        let ranking = c.ranking(key);
        assert_eq!(ranking[0], first);
        let walked: Vec<u32> = (0..8).map(|r| c.pick_sticky(key, r).unwrap()).collect();
        assert_eq!(walked[..4], ranking[..]);
        assert_eq!(walked[4..], ranking[..], "round again");
        let mut sorted = ranking.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, [1, 2, 3, 4]);
        // Other files of the same client are spread over the mirrors.
        let ip = IpAddr::from([10, 0, 0, 1]);
        let spread: std::collections::BTreeSet<u32> = (0..200)
            .map(|i| {
                let path = format!("/f{i}");
                c.pick_sticky(StickyKey::new(ip, template_hash(&path), ""), 0)
                    .unwrap()
            })
            .collect();
        assert_eq!(spread.len(), 4);
        assert_eq!(Candidates::new(vec![]).pick_sticky(key, 3), None);
    }

    #[test]
    fn equal_weights_rank_by_the_hash_as_the_logarithm_would() {
        let c = Candidates::new((0..12).map(|m| (m, 7)).collect());
        assert!(c.uniform);
        let mut hits = [0u64; 12];
        for key in clients(24_000) {
            let ranking = c.ranking(key);
            hits[ranking[0] as usize] += 1;
            // The same order as the exponential scores give.
            let mut by_log: Vec<(f64, u32)> = (0..12)
                .map(|i| {
                    let (seed, _) = c.sticky[i];
                    let product = u128::from(key.0 ^ seed) * 0xf39c_c060_5ced_c835;
                    let bits = (product as u64) ^ ((product >> 64) as u64);
                    (exponential(bits), c.mirrors[i])
                })
                .collect();
            by_log.sort_by(|a, b| a.0.total_cmp(&b.0));
            let by_log: Vec<u32> = by_log.into_iter().map(|(_, m)| m).collect();
            assert_eq!(ranking, by_log);
        }
        // 11 degrees of freedom: 31.3 is the 0.999 quantile.
        let chi = chi_square(&hits, &[1; 12]);
        assert!(chi < 31.3, "chi-square {chi:.1} for {hits:?}");
    }

    #[test]
    fn later_ranks_agree_with_the_ranking_on_and_off_the_stack() {
        for n in [2u32, 7, 64, 65, 200] {
            let c = Candidates::new((0..n).map(|m| (m, u64::from(m % 5 + 1))).collect());
            for key in clients(5) {
                let ranking = c.ranking(key);
                for (rank, &m) in ranking.iter().enumerate() {
                    assert_eq!(
                        c.pick_sticky(key, rank),
                        Some(m),
                        "{n} mirrors, rank {rank}"
                    );
                }
            }
        }
    }

    #[test]
    fn a_mirror_leaving_moves_only_its_own_clients() {
        let all = Candidates::new(vec![(1, 30), (2, 20), (3, 40), (4, 10)]);
        let without_3 = Candidates::new(vec![(1, 30), (2, 20), (4, 10)]);
        // Another weight for 2 moves clients to or from 2 only.
        let heavier_2 = Candidates::new(vec![(1, 30), (2, 60), (3, 40), (4, 10)]);
        let (mut moved, mut to_2) = (0, 0);
        for key in clients(5_000) {
            let before = all.pick_sticky(key, 0).unwrap();
            let after = without_3.pick_sticky(key, 0).unwrap();
            if before == 3 {
                moved += 1;
            } else {
                assert_eq!(before, after, "a client of {before} moved to {after}");
            }
            let heavier = heavier_2.pick_sticky(key, 0).unwrap();
            if heavier != before {
                assert_eq!(heavier, 2, "only to the heavier mirror");
                to_2 += 1;
            }
        }
        assert!(moved > 1_500 && to_2 > 0, "{moved} {to_2}");
    }

    #[test]
    fn sticky_keys_fold_ipv6_to_its_64_and_mapped_ipv4_to_ipv4() {
        let f = template_hash("/f/:lang/f.exe");
        let key = |ip: &str| StickyKey::new(ip.parse().unwrap(), f, "de");
        assert_eq!(key("2001:db8:1:2::1"), key("2001:db8:1:2:ffff::9"));
        assert_ne!(key("2001:db8:1:2::1"), key("2001:db8:1:3::1"));
        assert_eq!(key("192.0.2.1"), key("::ffff:192.0.2.1"));
        assert_ne!(key("192.0.2.1"), key("192.0.2.2"));
        // Another file or language is another key.
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        assert_ne!(StickyKey::new(ip, f, "de"), StickyKey::new(ip, f, "fr"));
        assert_ne!(
            StickyKey::new(ip, f, "de"),
            StickyKey::new(ip, template_hash("/g/:lang/g.exe"), "de")
        );
    }

    #[test]
    fn the_fast_logarithm_is_the_logarithm() {
        let mut rng = fastrand::Rng::with_seed(5);
        let mut worst = 0.0f64;
        for i in 0..200_000 {
            let bits = match i {
                0 => 0,
                1 => u64::MAX,
                2 => 1,
                3 => 1 << 63,
                _ => rng.u64(..) >> rng.u32(0..64),
            };
            let got = exponential(bits);
            if bits >= 1 << 12 {
                let exact = -(bits as f64 / 2f64.powi(64)).log2();
                worst = worst.max((got - exact).abs());
            } else {
                // Below 2^-52 the integer part is all that is left.
                assert!((51.0..=53.0).contains(&got), "{bits}: {got}");
            }
        }
        assert!(worst < 4e-7, "worst error {worst:e}");
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(24))]
        /// Over many picks with a fixed seed, each mirror's share is its
        /// weight's share, within 1.5 percentage points.
        #[test]
        fn picks_are_proportional_to_weight(weights in proptest::collection::vec(0u64..100, 1..12), seed: u64) {
            let c = Candidates::new(weights.iter().enumerate().map(|(i, &w)| (i as u32, w)).collect());
            prop_assume!(c.total() > 0);
            let mut rng = fastrand::Rng::with_seed(seed);
            let n = 60_000;
            let mut hits = vec![0u64; weights.len()];
            for _ in 0..n {
                hits[c.pick(&mut rng).unwrap() as usize] += 1;
            }
            for (i, &w) in weights.iter().enumerate() {
                let expected = w as f64 / c.total() as f64;
                let got = hits[i] as f64 / n as f64;
                prop_assert!((expected - got).abs() < 0.015, "mirror {i}: weight share {expected:.3}, picked {got:.3}");
                if w == 0 { prop_assert_eq!(hits[i], 0); }
            }
        }
    }
}
