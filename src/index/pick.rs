//! Weighted choice among a location's eligible mirrors. Pure: the caller
//! passes the randomness, so tests can fix it.

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

/// Mirrors eligible for one location, with cumulative weights. Locations
/// served by the same mirrors share one `Candidates`.
#[derive(Debug, Default, PartialEq, Eq, Hash)]
pub struct Candidates {
    /// Indexes into the index's mirror table, ascending, each once.
    mirrors: Box<[u32]>,
    /// `cumulative[i]` = sum of weights of `mirrors[..=i]`.
    cumulative: Box<[u64]>,
    /// The [`Candidates::RANKED`] heaviest mirrors, heaviest first (equal
    /// weights: lower index first): the alternatives a redirect offers.
    ranked: Box<[u32]>,
}

impl Candidates {
    /// Builds from (mirror index, weight) pairs; zero weights are left out,
    /// a mirror listed twice counts once.
    pub fn new(mut weighted: Vec<(u32, u64)>) -> Candidates {
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
            ranked,
        }
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
