//! Regions in the index (SPEC §2.5): which region a client's country
//! belongs to, and, for every shared candidate table, the pools that
//! region's clients draw from, computed when the index is built so a
//! redirect only looks them up.
//!
//! A region keeps `throttle`% of its clients' downloads on its own mirrors
//! (≥ 100 or < 0: all of them). The rest leave: to the fallback region's
//! mirrors, else to the whole world unless the region forbids global
//! fallback, else (nowhere else to go) they stay. Leaving traffic goes to
//! mirrors *outside* the region, so the throttle is the share the region
//! keeps. Whichever way a download goes, a pool with nobody in it passes
//! to the next: region → fallback region → world (if allowed); a region
//! that forbids global fallback never sends its clients to the world.
//! Every pool is a [`Candidates`] table, in which a mirror counts once
//! whatever its regions.

use std::collections::HashMap;
use std::sync::Arc;

use super::pick::{Candidates, Random};
use crate::geoip::Country;
use crate::model::Family;
use crate::model::{Mirror, Region};

const NONE: u16 = u16::MAX;

/// A region as selection needs it.
#[derive(Debug)]
pub struct RegionEntry {
    /// Its name.
    pub name: Box<str>,
    /// Percent of its clients' downloads kept on its mirrors.
    pub throttle: i32,
    /// Index of its fallback region.
    fallback: Option<u16>,
    /// Whether its clients may finally go to the whole world.
    pub global_fallback: bool,
    /// `members[m]`: whether mirror index `m` serves it.
    members: Box<[bool]>,
}

impl RegionEntry {
    /// Whether its throttle sends some downloads elsewhere.
    fn leaks(&self) -> bool {
        (0..100).contains(&self.throttle)
    }

    /// Whether this download stays in the region.
    fn keeps(&self, rng: &mut impl Random) -> bool {
        !self.leaks() || rng.below(100) < self.throttle as u64
    }
}

/// Every region, and the country → region map.
#[derive(Debug)]
pub struct Regions {
    entries: Vec<RegionEntry>,
    /// Region index of each country (`AA`..`ZZ` as 26 × 26), or NONE.
    by_country: Box<[u16]>,
}

impl Default for Regions {
    fn default() -> Self {
        Regions {
            entries: Vec::new(),
            by_country: vec![NONE; 26 * 26].into(),
        }
    }
}

fn slot(country: Country) -> Option<usize> {
    let [a, b] = country.0;
    (a.is_ascii_uppercase() && b.is_ascii_uppercase())
        .then(|| usize::from(a - b'A') * 26 + usize::from(b - b'A'))
}

impl Regions {
    /// From the stored regions and the index's mirror table (in order).
    pub fn new(regions: &[Region], mirrors: &[Mirror]) -> Regions {
        let mut out = Regions::default();
        let position = |name: &str| {
            regions
                .iter()
                .position(|r| r.name.eq_ignore_ascii_case(name))
                .map(|i| i as u16)
        };
        for (i, r) in regions.iter().enumerate() {
            let members = mirrors
                .iter()
                .map(|m| m.regions.iter().any(|n| n.eq_ignore_ascii_case(&r.name)))
                .collect();
            out.entries.push(RegionEntry {
                name: r.name.as_str().into(),
                throttle: r.throttle,
                fallback: r.fallback.as_deref().and_then(position),
                global_fallback: r.global_fallback,
                members,
            });
            for c in &r.countries {
                if let Some(s) = Country::parse(c).and_then(slot) {
                    out.by_country[s] = i as u16;
                }
            }
        }
        out
    }

    /// How many regions there are.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The region `country` belongs to.
    pub fn of(&self, country: Country) -> Option<u16> {
        let r = self.by_country[slot(country)?];
        (r != NONE).then_some(r)
    }

    /// The region at `index` (as returned by [`Regions::of`]).
    pub fn get(&self, index: u16) -> &RegionEntry {
        &self.entries[usize::from(index)]
    }
}

/// The pools one candidate set offers: the world's and each region's, for
/// any mirror and for https mirrors only, for clients of either address
/// family and of each ([`variant`]). Shared by every location that has
/// the same eligible mirrors; equal pools share one table.
#[derive(Debug, Default)]
pub struct Tables {
    /// Every eligible mirror, per [`variant`].
    world: [Arc<Candidates>; VARIANTS],
    /// Per region, in [`Regions`] order.
    regions: Box<[RegionPools]>,
}

#[derive(Debug)]
struct RegionPools {
    /// For downloads the region keeps, per [`variant`].
    stay: [Arc<Candidates>; VARIANTS],
    /// For downloads the throttle sends away, per [`variant`].
    leave: [Arc<Candidates>; VARIANTS],
}

/// Pools per candidate set and region: 2 schemes × 3 family filters.
const VARIANTS: usize = 6;

/// Which pool serves a request: https only or not, and the client's
/// address family (`None`: mirrors of either family, for the pages).
fn variant(https_only: bool, family: Option<Family>) -> usize {
    usize::from(https_only) * 3
        + match family {
            None => 0,
            Some(Family::V4) => 1,
            Some(Family::V6) => 2,
        }
}

impl Tables {
    /// The world pool: every mirror that may serve (`https_only`), whatever
    /// the client's family.
    pub fn world(&self, https_only: bool) -> &Candidates {
        &self.world[variant(https_only, None)]
    }

    /// The pool for a client in region `region` (none: the world); rolls
    /// the region's throttle with `rng` when it has one.
    pub fn pool(
        &self,
        regions: &Regions,
        region: Option<u16>,
        https_only: bool,
        family: Family,
        rng: &mut impl Random,
    ) -> &Candidates {
        let variant = variant(https_only, Some(family));
        // A location nobody serves has no region pools: the (empty) world.
        let Some((r, pools)) = region.and_then(|r| Some((r, self.regions.get(usize::from(r))?)))
        else {
            return &self.world[variant];
        };
        if regions.get(r).keeps(rng) {
            &pools.stay[variant]
        } else {
            &pools.leave[variant]
        }
    }
}

/// Builds [`Tables`] for candidate sets, sharing equal tables.
pub struct TableMaker {
    /// The regions (handed to the index when the build ends).
    pub regions: Regions,
    /// Https flag per mirror index.
    https: Vec<bool>,
    /// Per mirror index: whether IPv4 and IPv6 clients may be sent there.
    serves: Vec<[bool; 2]>,
    /// Weight per mirror index.
    weight: Vec<u64>,
    /// Sticky-pick seed per mirror index (from the mirror's id).
    seeds: Vec<u64>,
    shared: HashMap<Box<[u32]>, Arc<Candidates>>,
    empty: Arc<Candidates>,
}

impl TableMaker {
    /// For a build whose mirrors have these https flags, families served
    /// ([IPv4, IPv6]), weights and sticky-pick seeds.
    pub fn new(
        regions: Regions,
        https: Vec<bool>,
        serves: Vec<[bool; 2]>,
        weight: Vec<u64>,
        seeds: Vec<u64>,
    ) -> TableMaker {
        TableMaker {
            regions,
            https,
            serves,
            weight,
            seeds,
            shared: HashMap::new(),
            empty: Arc::new(Candidates::default()),
        }
    }

    /// The table for exactly `mirrors` (sorted, distinct; zero weights are
    /// dropped by [`Candidates::new`]).
    fn table(&mut self, mirrors: &[u32]) -> Arc<Candidates> {
        let weighted: Vec<u32> = mirrors
            .iter()
            .copied()
            .filter(|&m| self.weight[m as usize] > 0)
            .collect();
        if weighted.is_empty() {
            return self.empty.clone();
        }
        if let Some(t) = self.shared.get(weighted.as_slice()) {
            return t.clone();
        }
        let seeds = &self.seeds;
        let table = Arc::new(Candidates::seeded(
            weighted
                .iter()
                .map(|&m| (m, self.weight[m as usize]))
                .collect(),
            |m| seeds[m as usize],
        ));
        self.shared.insert(weighted.into(), table.clone());
        table
    }

    /// The first of `pools` that has someone with weight in it, as a table.
    fn first(&mut self, pools: &[Option<Vec<u32>>]) -> Arc<Candidates> {
        for pool in pools.iter().flatten() {
            let t = self.table(pool);
            if !t.is_empty() {
                return t;
            }
        }
        self.empty.clone()
    }

    /// The pools of one eligible mirror set (sorted, distinct).
    pub fn tables(&mut self, eligible: &[u32]) -> Tables {
        let mut bases: [Vec<u32>; VARIANTS] = Default::default();
        for https_only in [false, true] {
            for family in [None, Some(Family::V4), Some(Family::V6)] {
                bases[variant(https_only, family)] = eligible
                    .iter()
                    .copied()
                    .filter(|&m| !https_only || self.https[m as usize])
                    .filter(|&m| family.is_none_or(|f| self.serves[m as usize][f as usize]))
                    .collect();
            }
        }
        let world = std::array::from_fn(|v| self.table(&bases[v]));
        let mut out = Vec::with_capacity(self.regions.len());
        for r in 0..self.regions.entries.len() {
            let region = &self.regions.entries[r];
            let members = region.members.clone();
            let fallback_members = region.fallback.map(|f| self.regions.get(f).members.clone());
            let (global, leaks) = (region.global_fallback, region.leaks());
            let mut stay: [Arc<Candidates>; VARIANTS] = Default::default();
            let mut leave: [Arc<Candidates>; VARIANTS] = Default::default();
            for (variant, base) in bases.iter().enumerate() {
                let of = |members: &[bool], keep: bool| -> Vec<u32> {
                    base.iter()
                        .copied()
                        .filter(|&m| members[m as usize] == keep)
                        .collect()
                };
                let inside = of(&members, true);
                let fallback = fallback_members.as_deref().map(|members| {
                    base.iter()
                        .copied()
                        .filter(|&m| members[m as usize])
                        .collect::<Vec<u32>>()
                });
                let world = global.then(|| base.to_vec());
                stay[variant] = self.first(&[Some(inside.clone()), fallback.clone(), world]);
                leave[variant] = if leaks {
                    let not_inside = |pool: Option<Vec<u32>>| {
                        pool.map(|p| {
                            p.into_iter()
                                .filter(|&m| !members[m as usize])
                                .collect::<Vec<u32>>()
                        })
                    };
                    let outside = global.then(|| of(&members, false));
                    self.first(&[not_inside(fallback), outside, Some(inside)])
                } else {
                    self.empty.clone()
                };
            }
            out.push(RegionPools { stay, leave });
        }
        Tables {
            world,
            regions: out.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;
    use crate::index::Index;
    use crate::model::Families;
    use crate::model::fixtures::{location, mirror, product};
    use crate::model::{LocationId, MirrorId};
    use crate::store::Snapshot;

    /// Always the same draw.
    struct Fixed(u64);
    impl Random for Fixed {
        fn below(&mut self, n: u64) -> u64 {
            self.0 % n
        }
    }

    fn region(
        name: &str,
        throttle: i32,
        fallback: Option<&str>,
        global: bool,
        countries: &[&str],
    ) -> Region {
        Region {
            name: name.into(),
            throttle,
            fallback: fallback.map(Into::into),
            global_fallback: global,
            countries: countries.iter().map(|c| c.to_string()).collect(),
        }
    }

    /// Mirrors (index: name rating regions): 0 eu1 10 europe; 1 eu2 30
    /// europe (https); 2 na1 20 north-america; 3 both 40 europe +
    /// north-america; 4 world 50 none; 5 asia0 0 asia; 6 sa1 5 south-america.
    fn index(regions: Vec<Region>) -> Index {
        index_with(regions, &[])
    }

    /// [`index`] with the first mirrors serving these address families.
    fn index_with(regions: Vec<Region>, families: &[Families]) -> Index {
        let mut mirrors = vec![
            mirror(1, "http://eu1.example", 10),
            mirror(2, "https://eu2.example", 30),
            mirror(3, "http://na1.example", 20),
            mirror(4, "http://both.example", 40),
            mirror(5, "http://world.example", 50),
            mirror(6, "http://asia0.example", 0),
            mirror(7, "http://sa1.example", 5),
        ];
        let member_of: [&[&str]; 7] = [
            &["europe"],
            &["Europe"],
            &["north-america"],
            &["europe", "north-america"],
            &[],
            &["asia"],
            &["south-america"],
        ];
        for (m, names) in mirrors.iter_mut().zip(member_of) {
            m.regions = names.iter().map(|n| n.to_string()).collect();
        }
        for (m, &f) in mirrors.iter_mut().zip(families) {
            m.families = f;
        }
        let s = Snapshot {
            products: vec![product(1, "p", &[])],
            aliases: vec![],
            oses: vec!["win".into()],
            locations: vec![location(1, 1, "win", "/p.exe")],
            mirrors,
            health: HashMap::new(),
            regions,
            settings: Default::default(),
        };
        Index::build(&s, (1..=7).map(|m| (LocationId(1), MirrorId(m))))
    }

    fn standard() -> Index {
        index(standard_regions())
    }

    fn standard_regions() -> Vec<Region> {
        vec![
            region("europe", 100, None, true, &["DE", "FR"]),
            region("north-america", 30, None, true, &["US", "CA"]),
            region("asia", 100, Some("europe"), false, &["JP"]),
            region("oceania", 100, None, false, &["AU"]),
            region("africa", 100, Some("asia"), false, &["ZA"]),
            region("south-america", 0, None, false, &["BR"]),
        ]
    }

    /// (mirror index, weight) of the pool an IPv4 client in `country` gets
    /// with the draw `roll`.
    fn pool(index: &Index, country: Option<&str>, https: bool, roll: u64) -> Vec<(u32, u64)> {
        pool_of(index, Family::V4, country, https, roll)
    }

    /// [`pool`] for a client of `family`.
    fn pool_of(
        index: &Index,
        family: Family,
        country: Option<&str>,
        https: bool,
        roll: u64,
    ) -> Vec<(u32, u64)> {
        let location = index.resolve("p", "win", "en-US").unwrap().location;
        let country = country.map(|c| Country::parse(c).unwrap());
        index
            .pool(location, https, family, country, &mut Fixed(roll))
            .iter()
            .collect()
    }

    #[test]
    fn clients_get_only_mirrors_of_their_address_family() {
        use Families::*;
        // eu1 IPv6 only, eu2 (the one https mirror) IPv4 only.
        let index = index_with(standard_regions(), &[V6Only, V4Only]);
        let (v4, v6) = (Family::V4, Family::V6);
        assert_eq!(
            pool_of(&index, v4, Some("DE"), false, 0),
            vec![(1, 30), (3, 40)]
        );
        assert_eq!(
            pool_of(&index, v6, Some("DE"), false, 0),
            vec![(0, 10), (3, 40)]
        );
        assert_eq!(pool_of(&index, v4, Some("DE"), true, 0), vec![(1, 30)]);
        // No https mirror serves IPv6: none, rather than one it cannot reach.
        assert_eq!(pool_of(&index, v6, Some("DE"), true, 0), vec![]);
        // The world pool, and a region that falls back to it, filter alike.
        let world_v6 = vec![(0, 10), (2, 20), (3, 40), (4, 50), (6, 5)];
        assert_eq!(pool_of(&index, v6, None, false, 0), world_v6);
        assert!(!pool_of(&index, v4, None, false, 0).contains(&(0, 10)));
        // The pages' view (either family) still lists every mirror.
        let location = index.resolve("p", "win", "en-US").unwrap().location;
        assert_eq!(location.candidates(false).len(), 6);
    }

    #[test]
    fn clients_in_a_region_get_its_mirrors_each_once() {
        let index = standard();
        // "both" serves two regions and weighs 40, not 80.
        assert_eq!(
            pool(&index, Some("DE"), false, 0),
            vec![(0, 10), (1, 30), (3, 40)]
        );
        assert_eq!(
            pool(&index, Some("fr"), false, 99),
            vec![(0, 10), (1, 30), (3, 40)]
        );
        // Only https mirrors for a TLS request.
        assert_eq!(pool(&index, Some("DE"), true, 0), vec![(1, 30)]);
    }

    #[test]
    fn clients_nowhere_get_the_world_each_mirror_once() {
        let index = standard();
        let world = vec![(0, 10), (1, 30), (2, 20), (3, 40), (4, 50), (6, 5)];
        assert_eq!(pool(&index, None, false, 0), world, "unknown country");
        assert_eq!(
            pool(&index, Some("GB"), false, 0),
            world,
            "country in no region"
        );
        let location = index.resolve("p", "win", "en-US").unwrap().location;
        assert_eq!(location.candidates(false).total(), 155);
    }

    #[test]
    fn the_throttle_keeps_its_share_and_sends_the_rest_outside() {
        let index = standard();
        // Throttle 30: draws 0..=29 stay, 30..=99 leave.
        let inside = vec![(2, 20), (3, 40)];
        let outside = vec![(0, 10), (1, 30), (4, 50), (6, 5)];
        assert_eq!(pool(&index, Some("US"), false, 0), inside);
        assert_eq!(pool(&index, Some("US"), false, 29), inside);
        assert_eq!(pool(&index, Some("US"), false, 30), outside);
        assert_eq!(pool(&index, Some("US"), false, 99), outside);
    }

    #[test]
    fn the_throttle_holds_over_many_downloads() {
        let index = standard();
        let location = index.resolve("p", "win", "en-US").unwrap().location;
        let us = Country::parse("US");
        let mut rng = fastrand::Rng::with_seed(7);
        let picks = 200_000;
        let mut kept = 0;
        for _ in 0..picks {
            let m = index
                .pool(location, false, Family::V4, us, &mut rng)
                .pick(&mut rng)
                .unwrap();
            if m == 2 || m == 3 {
                kept += 1;
            }
        }
        let share = kept as f64 * 100.0 / picks as f64;
        assert!(
            (28.5..31.5).contains(&share),
            "kept {share:.2}% in-region, want 30%"
        );
    }

    #[test]
    fn an_empty_region_falls_back_to_its_fallback_region() {
        let index = standard();
        // Asia's only mirror is rated 0: Europe serves Japan.
        for roll in [0, 99] {
            assert_eq!(
                pool(&index, Some("JP"), false, roll),
                vec![(0, 10), (1, 30), (3, 40)]
            );
        }
    }

    #[test]
    fn no_global_fallback_means_never_the_world() {
        let index = standard();
        // Oceania has no mirrors, no fallback and forbids the world.
        assert_eq!(pool(&index, Some("AU"), false, 0), vec![]);
        // Africa falls back to Asia, which has nobody rated: still not the world.
        assert_eq!(pool(&index, Some("ZA"), false, 0), vec![]);
        // South America sends every download away (throttle 0) but has
        // nowhere to send it: it stays.
        assert_eq!(pool(&index, Some("BR"), false, 0), vec![(6, 5)]);
        assert_eq!(pool(&index, Some("BR"), false, 99), vec![(6, 5)]);
    }

    #[test]
    fn leaving_traffic_tries_the_fallback_region_first() {
        let index = index(vec![
            region("europe", 100, None, true, &["DE"]),
            region("north-america", 50, Some("europe"), true, &["US"]),
        ]);
        // Leaving North America: Europe's mirrors except "both", which is
        // in North America too.
        assert_eq!(pool(&index, Some("US"), false, 60), vec![(0, 10), (1, 30)]);
        assert_eq!(pool(&index, Some("US"), false, 10), vec![(2, 20), (3, 40)]);
    }

    #[test]
    fn throttles_of_100_and_more_or_below_0_keep_everything() {
        for throttle in [100, 250, -1, -100] {
            let index = index(vec![region("north-america", throttle, None, true, &["US"])]);
            for roll in [0, 50, 99] {
                assert_eq!(
                    pool(&index, Some("US"), false, roll),
                    vec![(2, 20), (3, 40)],
                    "throttle {throttle}, roll {roll}"
                );
            }
        }
    }

    #[test]
    fn a_throttle_of_0_sends_everything_away() {
        let index = index(vec![region("north-america", 0, None, true, &["US"])]);
        for roll in [0, 99] {
            assert_eq!(
                pool(&index, Some("US"), false, roll),
                vec![(0, 10), (1, 30), (4, 50), (6, 5)]
            );
        }
    }

    #[test]
    fn a_region_whose_mirrors_are_all_down_passes_on() {
        let mut regions = vec![region("europe", 100, None, true, &["DE"])];
        let index = index(regions.clone());
        // Only https mirrors of Europe: eu2; with https required it is the pool.
        assert_eq!(pool(&index, Some("DE"), true, 0), vec![(1, 30)]);
        // A region without a single mirror (and global fallback): the world.
        regions.push(region("antarctica", 100, None, true, &["AQ"]));
        let index = super::tests::index(regions);
        assert_eq!(pool(&index, Some("AQ"), false, 0).len(), 6);
    }
}
