//! Regions in the index (SPEC §2.5) and whom each mirror serves (§13):
//! which pool a client draws from, computed when the index is built so a
//! redirect only looks it up.
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
//!
//! Countries: a mirror that may serve only some countries, or must not
//! serve some, is left out of every pool of the others. Countries that
//! share a region and the same mirrors left out form one *class*; pools
//! are kept per class.
//!
//! Networks: a client in a network some mirrors claim (a CIDR prefix or an
//! AS number) draws from those mirrors first, before its region, as long
//! as one of them may serve it. Claimed prefixes beat claimed AS numbers;
//! overlapping prefixes give the mirrors of all of them.
//!
//! Shares: a mirror capped at N% takes at most N% of any pool's weight; the
//! rest goes to the pool's other mirrors in proportion. When every mirror
//! of a region's pool is capped and the caps add up to less than 100%, the
//! rest of the region's downloads leave as the throttle's do; where there
//! is nowhere else to go, the capped mirrors share by their caps.

use std::collections::{HashMap, HashSet};
use std::net::IpAddr;
use std::sync::Arc;

use super::pick::{Candidates, Random};
use crate::geoip::Country;
use crate::geoip::asn::AsnDb;
use crate::model::Family;
use crate::model::{ClientNet, Mirror, Region};

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
}

/// Clients that get the same pools: a region (or none) and the mirrors
/// their country's rules leave out.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Class {
    region: Option<u16>,
    /// Index into [`Regions::bans`].
    ban: u16,
}

/// Every region, the country → class map and the client networks mirrors
/// serve first.
#[derive(Debug)]
pub struct Regions {
    entries: Vec<RegionEntry>,
    /// Region index of each country (`AA`..`ZZ` as 26 × 26), or NONE.
    by_country: Box<[u16]>,
    classes: Vec<Class>,
    /// Class of each country slot; the last entry: unknown countries.
    class_of: Box<[u16]>,
    /// Distinct sets of mirrors left out (`bans[b][m]`); 0: nobody.
    bans: Vec<Box<[bool]>>,
    /// Groups of mirrors that claim the same client networks.
    groups: Vec<Box<[u32]>>,
    /// Claimed prefixes, as disjoint ranges → group.
    prefixes4: Vec<(u32, u32, u16)>,
    prefixes6: Vec<(u128, u128, u16)>,
    /// Claimed AS number → group.
    asns: HashMap<u32, u16>,
    /// Client address → group, prefixes over AS ranges (see [`Regions::with_asn`]).
    nets4: Box<[(u32, u32, u16)]>,
    nets6: Box<[(u128, u128, u16)]>,
}

impl Default for Regions {
    fn default() -> Self {
        Regions {
            entries: Vec::new(),
            by_country: vec![NONE; SLOTS].into(),
            classes: vec![Class {
                region: None,
                ban: 0,
            }],
            class_of: vec![0; SLOTS + 1].into(),
            bans: vec![Box::default()],
            groups: Vec::new(),
            prefixes4: Vec::new(),
            prefixes6: Vec::new(),
            asns: HashMap::new(),
            nets4: Box::default(),
            nets6: Box::default(),
        }
    }
}

/// Country slots: `AA`..`ZZ`.
const SLOTS: usize = 26 * 26;

fn slot(country: Country) -> Option<usize> {
    let [a, b] = country.0;
    (a.is_ascii_uppercase() && b.is_ascii_uppercase())
        .then(|| usize::from(a - b'A') * 26 + usize::from(b - b'A'))
}

/// The country of slot `s`.
fn country_at(s: usize) -> Country {
    Country([b'A' + (s / 26) as u8, b'A' + (s % 26) as u8])
}

/// Disjoint ranges of `claims` (range, mirror), each with the sorted
/// mirrors of every claim covering it.
fn disjoint<T: Copy + Ord + Successor>(claims: &[(T, T, u32)]) -> Vec<(T, T, Vec<u32>)> {
    // Boundaries: every start, and every address after an end.
    let mut points: Vec<T> = Vec::new();
    for &(s, e, _) in claims {
        points.push(s);
        if let Some(n) = e.next() {
            points.push(n);
        }
    }
    points.sort_unstable();
    points.dedup();
    let mut out: Vec<(T, T, Vec<u32>)> = Vec::new();
    for (i, &start) in points.iter().enumerate() {
        let end = points.get(i + 1).and_then(|&n| n.prev()).unwrap_or(T::MAX);
        let mut mirrors: Vec<u32> = claims
            .iter()
            .filter(|&&(s, e, _)| s <= start && start <= e)
            .map(|&(_, _, m)| m)
            .collect();
        if mirrors.is_empty() {
            continue;
        }
        mirrors.sort_unstable();
        mirrors.dedup();
        match out.last_mut() {
            // Touching ranges with the same mirrors make one.
            Some(last) if last.2 == mirrors && last.1.next() == Some(start) => last.1 = end,
            _ => out.push((start, end, mirrors)),
        }
    }
    out
}

/// Addresses as integers, for [`disjoint`] and [`overlay`].
pub trait Successor: Sized {
    /// The highest address.
    const MAX: Self;
    /// The address after, if any.
    fn next(self) -> Option<Self>;
    /// The address before, if any.
    fn prev(self) -> Option<Self>;
}

impl Successor for u32 {
    const MAX: u32 = u32::MAX;
    fn next(self) -> Option<u32> {
        self.checked_add(1)
    }
    fn prev(self) -> Option<u32> {
        self.checked_sub(1)
    }
}

impl Successor for u128 {
    const MAX: u128 = u128::MAX;
    fn next(self) -> Option<u128> {
        self.checked_add(1)
    }
    fn prev(self) -> Option<u128> {
        self.checked_sub(1)
    }
}

/// `base` ranges with `top` laid over them: where a `top` range covers an
/// address its group wins. Both sorted and disjoint; so is the result.
fn overlay<T: Copy + Ord + Successor>(
    base: &[(T, T, u16)],
    top: &[(T, T, u16)],
) -> Vec<(T, T, u16)> {
    let mut out = Vec::with_capacity(base.len() + top.len());
    let mut t = 0;
    for &(mut s, e, g) in base {
        // Top ranges that end before this one starts go in first.
        while t < top.len() && top[t].1 < s {
            out.push(top[t]);
            t += 1;
        }
        // Cut this range around the top ranges inside it.
        let mut k = t;
        let mut done = false;
        while k < top.len() && top[k].0 <= e {
            let (ts, te, _) = top[k];
            if ts > s {
                out.push((s, ts.prev().expect("above s"), g));
            }
            match te.next() {
                Some(n) if te < e => s = n,
                _ => {
                    done = true;
                    break;
                }
            }
            k += 1;
        }
        if !done {
            out.push((s, e, g));
        }
    }
    out.extend_from_slice(&top[t..]);
    out.sort_unstable_by_key(|r| r.0);
    out.dedup();
    out
}

fn find<T: Copy + Ord>(ranges: &[(T, T, u16)], ip: T) -> Option<u16> {
    let i = ranges.partition_point(|r| r.0 <= ip).checked_sub(1)?;
    let (_, end, g) = ranges[i];
    (ip <= end).then_some(g)
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
        // Classes: (region, mirrors left out) per country and for unknown.
        let mut bans: HashMap<Box<[bool]>, u16> = HashMap::new();
        let nobody: Box<[bool]> = vec![false; mirrors.len()].into();
        bans.insert(nobody.clone(), 0);
        out.bans = vec![nobody];
        out.classes.clear();
        let mut classes: HashMap<Class, u16> = HashMap::new();
        let restricted = mirrors
            .iter()
            .any(|m| !m.audience.only.is_empty() || !m.audience.never.is_empty());
        let mut class_of = Vec::with_capacity(SLOTS + 1);
        for s in 0..=SLOTS {
            let country = (s < SLOTS).then(|| country_at(s));
            let ban: Box<[bool]> = if restricted {
                mirrors
                    .iter()
                    .map(|m| !m.audience.serves_country(country))
                    .collect()
            } else {
                out.bans[0].clone()
            };
            let next = out.bans.len() as u16;
            let ban = *bans.entry(ban.clone()).or_insert_with(|| {
                out.bans.push(ban);
                next
            });
            let region = (s < SLOTS)
                .then(|| out.by_country[s])
                .filter(|&r| r != NONE);
            let class = Class { region, ban };
            let next = out.classes.len() as u16;
            let c = *classes.entry(class.clone()).or_insert_with(|| {
                out.classes.push(class);
                next
            });
            class_of.push(c);
        }
        out.class_of = class_of.into();
        // Network groups.
        let mut groups: HashMap<Vec<u32>, u16> = HashMap::new();
        let mut group = |set: Vec<u32>, list: &mut Vec<Box<[u32]>>| -> u16 {
            *groups.entry(set.clone()).or_insert_with(|| {
                list.push(set.into());
                (list.len() - 1) as u16
            })
        };
        let mut claims4 = Vec::new();
        let mut claims6 = Vec::new();
        let mut by_asn: HashMap<u32, Vec<u32>> = HashMap::new();
        for (m, mirror) in mirrors.iter().enumerate() {
            for net in &mirror.audience.networks {
                match *net {
                    ClientNet::Asn(n) => by_asn.entry(n).or_default().push(m as u32),
                    net => {
                        if let Some((s, e)) = net.v4_range() {
                            claims4.push((s, e, m as u32));
                        }
                        if let Some((s, e)) = net.v6_range() {
                            claims6.push((s, e, m as u32));
                        }
                    }
                }
            }
        }
        for (s, e, set) in disjoint(&claims4) {
            let g = group(set, &mut out.groups);
            out.prefixes4.push((s, e, g));
        }
        for (s, e, set) in disjoint(&claims6) {
            let g = group(set, &mut out.groups);
            out.prefixes6.push((s, e, g));
        }
        let mut asns: Vec<_> = by_asn.into_iter().collect();
        asns.sort_unstable();
        for (asn, mut set) in asns {
            set.sort_unstable();
            set.dedup();
            let g = group(set, &mut out.groups);
            out.asns.insert(asn, g);
        }
        out.nets4 = out.prefixes4.clone().into();
        out.nets6 = out.prefixes6.clone().into();
        out
    }

    /// These regions knowing which addresses the claimed AS numbers
    /// announce, from `asn`.
    pub fn with_asn(mut self, asn: &AsnDb) -> Regions {
        if self.asns.is_empty() {
            return self;
        }
        let wanted: HashSet<u32> = self.asns.keys().copied().collect();
        let (v4, v6) = asn.ranges_of(&wanted);
        let tag = |n: u32| self.asns[&n];
        let v4: Vec<_> = v4.into_iter().map(|(s, e, n)| (s, e, tag(n))).collect();
        let v6: Vec<_> = v6.into_iter().map(|(s, e, n)| (s, e, tag(n))).collect();
        self.nets4 = overlay(&v4, &self.prefixes4).into();
        self.nets6 = overlay(&v6, &self.prefixes6).into();
        self
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

    /// The class of clients from `country` (`None`: unknown).
    fn class_of(&self, country: Option<Country>) -> u16 {
        let s = country.and_then(slot).unwrap_or(SLOTS);
        self.class_of[s]
    }

    /// The group of mirrors that claim `client`'s network, if any.
    pub fn group_of(&self, client: IpAddr) -> Option<u16> {
        match crate::client::unmap(client) {
            IpAddr::V4(a) if !self.nets4.is_empty() => find(&self.nets4, u32::from(a)),
            IpAddr::V6(a) if !self.nets6.is_empty() => find(&self.nets6, u128::from(a)),
            _ => None,
        }
    }

    /// The mirrors (indexes) of network group `g`, as [`Regions::group_of`]
    /// returns it.
    pub fn group(&self, g: u16) -> &[u32] {
        &self.groups[usize::from(g)]
    }

    /// Number of client-network ranges known (claimed prefixes and the
    /// ranges of claimed AS numbers), for status output.
    pub fn network_ranges(&self) -> usize {
        self.nets4.len() + self.nets6.len()
    }
}

/// The pools one candidate set offers: the world's, each class's, and each
/// claimed network's, for any mirror and for https mirrors only, for
/// clients of either address family and of each ([`variant`]). Shared by
/// every location that has the same eligible mirrors; equal pools share
/// one table.
#[derive(Debug, Default)]
pub struct Tables {
    /// Every eligible mirror, per [`variant`].
    world: [Arc<Candidates>; VARIANTS],
    /// Per class, in [`Regions`] order.
    classes: Box<[ClassPools]>,
    /// Per (network group, ban) with someone in it, sorted.
    networks: Box<[NetworkPools]>,
    /// The CDNs, per [`variant`]: where a client goes when its pool is
    /// empty, before the origin.
    cdn: Box<[[Arc<Candidates>; VARIANTS]]>,
}

#[derive(Debug)]
struct ClassPools {
    /// For downloads the class keeps, per [`variant`].
    stay: [Arc<Candidates>; VARIANTS],
    /// For downloads the throttle or the share caps send away.
    leave: [Arc<Candidates>; VARIANTS],
    /// Percent of downloads that stay, per [`variant`].
    keep: [u8; VARIANTS],
}

#[derive(Debug)]
struct NetworkPools {
    group: u16,
    ban: u16,
    pools: [Arc<Candidates>; VARIANTS],
}

/// Pools per candidate set and class: 2 schemes × 3 family filters.
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
    /// the client's family or country.
    pub fn world(&self, https_only: bool) -> &Candidates {
        &self.world[variant(https_only, None)]
    }

    /// The pool for a client of `family` from `country`, in the network
    /// group `group`; rolls the class's keep share with `rng` when some
    /// downloads leave.
    pub fn pool(
        &self,
        regions: &Regions,
        country: Option<Country>,
        group: Option<u16>,
        https_only: bool,
        family: Family,
        rng: &mut impl Random,
    ) -> &Candidates {
        let variant = variant(https_only, Some(family));
        let pool = self.pick_pool(regions, country, group, variant, rng);
        if !pool.is_empty() {
            return pool;
        }
        // The CDNs this client's country may use.
        let ban = regions.classes[usize::from(regions.class_of(country))].ban;
        self.cdn
            .get(usize::from(ban))
            .map_or(pool, |cdn| &cdn[variant])
    }

    fn pick_pool(
        &self,
        regions: &Regions,
        country: Option<Country>,
        group: Option<u16>,
        variant: usize,
        rng: &mut impl Random,
    ) -> &Candidates {
        let class = regions.class_of(country);
        // A location nobody serves has no class pools: the (empty) world.
        let Some(pools) = self.classes.get(usize::from(class)) else {
            return &self.world[variant];
        };
        if let Some(g) = group {
            let ban = regions.classes[usize::from(class)].ban;
            if let Ok(i) = self
                .networks
                .binary_search_by_key(&(g, ban), |n| (n.group, n.ban))
            {
                let pool = &self.networks[i].pools[variant];
                if !pool.is_empty() {
                    return pool;
                }
            }
        }
        let keep = pools.keep[variant];
        if keep >= 100 || rng.below(100) < u64::from(keep) {
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
    /// Share cap per mirror index, in percent (0: none).
    caps: Vec<u8>,
    /// Sticky-pick seed per mirror index (from the mirror's id).
    seeds: Vec<u64>,
    /// The CDNs that may take traffic (indexes, sorted).
    pub cdns: Vec<u32>,
    shared: HashMap<Box<[u32]>, Arc<Candidates>>,
    empty: Arc<Candidates>,
}

/// What [`TableMaker::new`] needs per mirror index.
pub struct MirrorTraits {
    /// Served over https.
    pub https: Vec<bool>,
    /// Whether IPv4 and IPv6 clients may be sent there.
    pub serves: Vec<[bool; 2]>,
    /// Selection weight.
    pub weight: Vec<u64>,
    /// Share cap in percent (0: none).
    pub caps: Vec<u8>,
    /// Sticky-pick seed (from the mirror's id).
    pub seeds: Vec<u64>,
    /// The CDNs that may take traffic (indexes, sorted).
    pub cdns: Vec<u32>,
}

/// `weighted` with the weights of capped mirrors brought down to their
/// caps (percent of the total), the rest shared by the others in
/// proportion. Unchanged when no cap bites; when every mirror is capped
/// and the caps add up to less than 100, in proportion to the caps.
fn cap_shares(weighted: &mut [(u32, u64)], caps: &[u8]) {
    let cap = |m: u32| f64::from(caps[m as usize]) / 100.0;
    let total: u64 = weighted.iter().map(|w| w.1).sum();
    let bites = weighted
        .iter()
        .any(|&(m, w)| caps[m as usize] > 0 && (w as f64) > cap(m) * total as f64);
    if !bites {
        return;
    }
    // Water-filling: fix every mirror over its cap at its cap, share what
    // is left among the rest by weight, until nobody is over.
    let mut share = vec![0.0f64; weighted.len()];
    let mut fixed = vec![false; weighted.len()];
    let mut left = 1.0f64;
    loop {
        let free: u64 = weighted
            .iter()
            .zip(&fixed)
            .filter(|(_, f)| !**f)
            .map(|(w, _)| w.1)
            .sum();
        if free == 0 {
            break;
        }
        let mut over = false;
        for (i, &(m, w)) in weighted.iter().enumerate() {
            if !fixed[i] && caps[m as usize] > 0 && left * w as f64 / free as f64 > cap(m) {
                fixed[i] = true;
                share[i] = cap(m);
                over = true;
            }
        }
        if !over {
            for (i, &(_, w)) in weighted.iter().enumerate() {
                if !fixed[i] {
                    share[i] = left * w as f64 / free as f64;
                }
            }
            break;
        }
        left = 1.0 - share.iter().sum::<f64>();
    }
    const SCALE: f64 = (1u64 << 40) as f64;
    for (w, s) in weighted.iter_mut().zip(share) {
        w.1 = ((s * SCALE) as u64).max(1);
    }
}

impl TableMaker {
    /// For a build whose mirrors have these traits.
    pub fn new(regions: Regions, traits: MirrorTraits) -> TableMaker {
        TableMaker {
            regions,
            https: traits.https,
            serves: traits.serves,
            weight: traits.weight,
            caps: traits.caps,
            seeds: traits.seeds,
            cdns: traits.cdns,
            shared: HashMap::new(),
            empty: Arc::new(Candidates::default()),
        }
    }

    /// The table for exactly `mirrors` (sorted, distinct; zero weights are
    /// dropped), share caps applied.
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
        let mut pairs: Vec<(u32, u64)> = weighted
            .iter()
            .map(|&m| (m, self.weight[m as usize]))
            .collect();
        cap_shares(&mut pairs, &self.caps);
        let seeds = &self.seeds;
        let table = Arc::new(Candidates::seeded(pairs, |m| seeds[m as usize]));
        self.shared.insert(weighted.into(), table.clone());
        table
    }

    /// The share of downloads `pool`'s mirrors may take together, in
    /// percent: below 100 only when every one of them is capped.
    fn capacity(&self, pool: &Candidates) -> u8 {
        let mut sum = 0u32;
        for (m, _) in pool.iter() {
            match self.caps[m as usize] {
                0 => return 100,
                c => sum += u32::from(c),
            }
        }
        sum.min(100) as u8
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

    /// `mirrors` that serve each [`variant`].
    fn bases(&self, mirrors: &[u32]) -> [Vec<u32>; VARIANTS] {
        let mut bases: [Vec<u32>; VARIANTS] = Default::default();
        for https_only in [false, true] {
            for family in [None, Some(Family::V4), Some(Family::V6)] {
                bases[variant(https_only, family)] = mirrors
                    .iter()
                    .copied()
                    .filter(|&m| !https_only || self.https[m as usize])
                    .filter(|&m| family.is_none_or(|f| self.serves[m as usize][f as usize]))
                    .collect();
            }
        }
        bases
    }

    /// The pools of one eligible mirror set (sorted, distinct).
    pub fn tables(&mut self, eligible: &[u32]) -> Tables {
        let bases = self.bases(eligible);
        let cdn_bases = self.bases(&self.cdns.clone());
        let cdn: Box<[[Arc<Candidates>; VARIANTS]]> = (0..self.regions.bans.len())
            .map(|b| {
                let banned = self.regions.bans[b].clone();
                std::array::from_fn(|v| {
                    let allowed: Vec<u32> = cdn_bases[v]
                        .iter()
                        .copied()
                        .filter(|&m| !banned[m as usize])
                        .collect();
                    self.table(&allowed)
                })
            })
            .collect();
        let world = std::array::from_fn(|v| self.table(&bases[v]));
        let mut classes = Vec::with_capacity(self.regions.classes.len());
        for c in 0..self.regions.classes.len() {
            let class = self.regions.classes[c].clone();
            let banned = self.regions.bans[usize::from(class.ban)].clone();
            let mut pools = ClassPools {
                stay: Default::default(),
                leave: Default::default(),
                keep: [100; VARIANTS],
            };
            for (variant, base) in bases.iter().enumerate() {
                let base: Vec<u32> = base
                    .iter()
                    .copied()
                    .filter(|&m| !banned[m as usize])
                    .collect();
                let Some(r) = class.region else {
                    pools.stay[variant] = self.table(&base);
                    continue;
                };
                let region = &self.regions.entries[usize::from(r)];
                let members = region.members.clone();
                let fallback_members = region.fallback.map(|f| self.regions.get(f).members.clone());
                let (global, leaks, throttle) =
                    (region.global_fallback, region.leaks(), region.throttle);
                let of = |members: &[bool], keep: bool| -> Vec<u32> {
                    base.iter()
                        .copied()
                        .filter(|&m| members[m as usize] == keep)
                        .collect()
                };
                let inside = of(&members, true);
                let fallback = fallback_members.as_deref().map(|members| of(members, true));
                let world = global.then(|| base.clone());
                let stay = self.first(&[Some(inside.clone()), fallback.clone(), world]);
                // Where leaving downloads go: the fallback region's mirrors
                // outside this region, else the world's.
                let not_inside = |pool: Option<Vec<u32>>| {
                    pool.map(|p| {
                        p.into_iter()
                            .filter(|&m| !members[m as usize])
                            .collect::<Vec<u32>>()
                    })
                };
                let outside = global.then(|| of(&members, false));
                let away = self.first(&[not_inside(fallback), outside]);
                let capacity = if away.is_empty() {
                    100
                } else {
                    self.capacity(&stay)
                };
                let kept = if leaks { throttle as u32 } else { 100 };
                pools.keep[variant] = (kept * u32::from(capacity) / 100) as u8;
                pools.leave[variant] = if !away.is_empty() {
                    away
                } else if leaks {
                    // Nowhere else to go: they stay.
                    self.table(&inside)
                } else {
                    self.empty.clone()
                };
                pools.stay[variant] = stay;
            }
            classes.push(pools);
        }
        let mut networks = Vec::new();
        for g in 0..self.regions.groups.len() {
            let group = self.regions.groups[g].clone();
            if !group.iter().any(|m| eligible.binary_search(m).is_ok()) {
                continue;
            }
            for b in 0..self.regions.bans.len() {
                let banned = &self.regions.bans[b];
                let sets: [Vec<u32>; VARIANTS] = std::array::from_fn(|v| {
                    group
                        .iter()
                        .copied()
                        .filter(|&m| !banned[m as usize] && bases[v].binary_search(&m).is_ok())
                        .collect()
                });
                let pools = sets.map(|set| self.table(&set));
                if pools.iter().any(|p| !p.is_empty()) {
                    networks.push(NetworkPools {
                        group: g as u16,
                        ban: b as u16,
                        pools,
                    });
                }
            }
        }
        Tables {
            world,
            classes: classes.into(),
            networks: networks.into(),
            cdn,
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
        index_by(regions, &AsnDb::default(), |mirrors| {
            for (m, &f) in mirrors.iter_mut().zip(families) {
                m.families = f;
            }
        })
    }

    /// [`index`] with the mirrors changed by `change`, knowing `asn`.
    fn index_by(regions: Vec<Region>, asn: &AsnDb, change: impl FnOnce(&mut [Mirror])) -> Index {
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
        change(&mut mirrors);
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
        let mut builder = crate::index::Builder::new(&s, &[]);
        for m in 1..=7 {
            builder.serving(LocationId(1), MirrorId(m));
        }
        builder.finish(asn)
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

    /// A client address of `family` in no claimed network.
    fn client(family: Family) -> IpAddr {
        match family {
            Family::V4 => "198.51.100.1".parse().unwrap(),
            Family::V6 => "2001:db8:ffff::1".parse().unwrap(),
        }
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
            .pool(location, https, client(family), country, &mut Fixed(roll))
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
                .pool(location, false, client(Family::V4), us, &mut rng)
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

    /// (mirror index, weight) of the pool the IPv4 or IPv6 `client` from
    /// `country` gets with the draw `roll`.
    fn pool_at(index: &Index, client: &str, country: Option<&str>, roll: u64) -> Vec<(u32, u64)> {
        let location = index.resolve("p", "win", "en-US").unwrap().location;
        let country = country.map(|c| Country::parse(c).unwrap());
        index
            .pool(
                location,
                false,
                client.parse().unwrap(),
                country,
                &mut Fixed(roll),
            )
            .iter()
            .collect()
    }

    fn audience(only: &str, never: &str, networks: &str, share: &str) -> crate::model::Audience {
        use crate::model::audience::*;
        crate::model::Audience {
            only: parse_countries(only).unwrap(),
            never: parse_countries(never).unwrap(),
            networks: parse_networks(networks).unwrap(),
            max_share: parse_share(share).unwrap(),
        }
    }

    #[test]
    fn mirrors_serve_only_their_countries_and_never_the_excluded() {
        // eu1 serves Germany only; "both" never serves France or Canada;
        // "world" never serves Great Britain.
        let index = index_by(standard_regions(), &AsnDb::default(), |m| {
            m[0].audience = audience("DE", "", "", "");
            m[3].audience = audience("", "FR,CA", "", "");
            m[4].audience = audience("", "GB", "", "");
        });
        let ip = "198.51.100.1";
        assert_eq!(
            pool_at(&index, ip, Some("DE"), 0),
            vec![(0, 10), (1, 30), (3, 40)]
        );
        assert_eq!(pool_at(&index, ip, Some("FR"), 0), vec![(1, 30)]);
        // Canada keeps 30% on North America's mirrors: only na1 now.
        assert_eq!(pool_at(&index, ip, Some("CA"), 0), vec![(2, 20)]);
        assert_eq!(pool_at(&index, ip, Some("US"), 0), vec![(2, 20), (3, 40)]);
        // Unknown countries never go to a mirror with an "only" list.
        let world = vec![(1, 30), (2, 20), (3, 40), (4, 50), (6, 5)];
        assert_eq!(pool_at(&index, ip, None, 0), world);
        let gb: Vec<_> = world.iter().copied().filter(|&(m, _)| m != 4).collect();
        assert_eq!(pool_at(&index, ip, Some("GB"), 0), gb);
        // The pages still list everyone.
        let location = index.resolve("p", "win", "en-US").unwrap().location;
        assert_eq!(location.candidates(false).len(), 6);
    }

    #[test]
    fn claimed_networks_are_served_first_prefixes_over_as_numbers() {
        // sa1 claims 203.0.113.0/24 and AS64500; na1 claims AS64500 and
        // 2001:db8:1::/48; world claims 203.0.113.128/25.
        let (asn, _) = AsnDb::from_ranges(
            vec![
                (0xc633_6400, 0xc633_64ff, 64500),
                (0x0a00_0000, 0x0aff_ffff, 64501),
            ],
            vec![],
        );
        let index = index_by(standard_regions(), &asn, |m| {
            m[6].audience = audience("", "", "203.0.113.0/24,AS64500", "");
            m[2].audience = audience("", "", "AS64500, 2001:db8:1::/48", "");
            m[4].audience = audience("", "", "203.0.113.128/25", "");
        });
        // A German client in AS64500 (198.51.100.0/24): na1 and sa1, not Europe.
        assert_eq!(
            pool_at(&index, "198.51.100.7", Some("DE"), 0),
            vec![(2, 20), (6, 5)]
        );
        // In the prefix: sa1 alone; in both prefixes: both claimants.
        assert_eq!(pool_at(&index, "203.0.113.5", Some("DE"), 0), vec![(6, 5)]);
        assert_eq!(
            pool_at(&index, "203.0.113.200", Some("DE"), 0),
            vec![(4, 50), (6, 5)]
        );
        assert_eq!(
            pool_at(&index, "2001:db8:1::9", Some("DE"), 0),
            vec![(2, 20)]
        );
        // AS64501 is nobody's: the region as before.
        assert_eq!(
            pool_at(&index, "10.1.2.3", Some("DE"), 0),
            vec![(0, 10), (1, 30), (3, 40)]
        );
        assert_eq!(index.regions().network_ranges(), 4);
        // Without the ASN table only the prefixes match.
        let plain = index_by(standard_regions(), &AsnDb::default(), |m| {
            m[6].audience = audience("", "", "203.0.113.0/24,AS64500", "");
        });
        assert_eq!(
            pool_at(&plain, "198.51.100.7", Some("DE"), 0),
            vec![(0, 10), (1, 30), (3, 40)]
        );
        assert_eq!(pool_at(&plain, "203.0.113.5", Some("DE"), 0), vec![(6, 5)]);
    }

    #[test]
    fn a_claimed_network_passes_on_when_its_mirrors_may_not_serve() {
        use Families::*;
        // sa1 claims the prefix but serves IPv4 only and never Germany.
        let index = index_by(standard_regions(), &AsnDb::default(), |m| {
            m[6].audience = audience("", "DE", "203.0.113.0/24,2001:db8::/32", "");
            m[6].families = V4Only;
        });
        assert_eq!(pool_at(&index, "203.0.113.5", Some("FR"), 0), vec![(6, 5)]);
        assert_eq!(
            pool_at(&index, "203.0.113.5", Some("DE"), 0),
            vec![(0, 10), (1, 30), (3, 40)]
        );
        assert_eq!(
            pool_at(&index, "2001:db8::5", Some("FR"), 0),
            vec![(0, 10), (1, 30), (3, 40)]
        );
    }

    #[test]
    fn share_caps_hold_and_the_rest_goes_to_the_others() {
        let mut w = vec![(0, 10), (1, 30), (3, 40)];
        // "both" (40 of 80) capped at 25%: 25% it, 75% the others 1:3.
        cap_shares(&mut w, &{
            let mut caps = vec![0; 7];
            caps[3] = 25;
            caps
        });
        let total: u64 = w.iter().map(|x| x.1).sum();
        let share = |i: usize| w[i].1 as f64 / total as f64;
        assert!((share(2) - 0.25).abs() < 1e-9, "{w:?}");
        assert!((share(0) - 0.1875).abs() < 1e-9, "{w:?}");
        assert!((share(1) - 0.5625).abs() < 1e-9, "{w:?}");
        // A cap that does not bite changes nothing.
        let mut same = vec![(0, 10), (1, 30), (3, 40)];
        cap_shares(&mut same, &[0, 0, 0, 60, 0, 0, 0]);
        assert_eq!(same, vec![(0, 10), (1, 30), (3, 40)]);
        // Two capped mirrors over their caps, one taking the rest.
        let mut two = vec![(0, 100), (1, 100), (2, 1)];
        cap_shares(&mut two, &[30, 30, 0]);
        let total: u64 = two.iter().map(|x| x.1).sum();
        assert!(
            (two[2].1 as f64 / total as f64 - 0.4).abs() < 1e-9,
            "{two:?}"
        );
    }

    #[test]
    fn a_region_of_capped_mirrors_sends_the_rest_away() {
        // Europe's mirrors all capped at 20%: 60% stays, 40% leaves to
        // the world outside Europe.
        let index = index_by(standard_regions(), &AsnDb::default(), |m| {
            for i in [0, 1, 3] {
                m[i].audience = audience("", "", "", "20");
            }
        });
        let ip = "198.51.100.1";
        let inside: Vec<u32> = pool_at(&index, ip, Some("DE"), 59)
            .iter()
            .map(|p| p.0)
            .collect();
        assert_eq!(inside, vec![0, 1, 3]);
        let outside: Vec<u32> = pool_at(&index, ip, Some("DE"), 60)
            .iter()
            .map(|p| p.0)
            .collect();
        assert_eq!(outside, vec![2, 4, 6]);
        // Unknown countries (the world's pool) have nowhere else to go.
        assert_eq!(pool_at(&index, ip, None, 99).len(), 6);
    }

    #[test]
    fn prefixes_cut_as_ranges_and_overlapping_claims_join() {
        let base = [(0u32, 100, 0u16), (200, 300, 1)];
        let top = [(10u32, 20, 5u16), (95, 210, 6), (250, 250, 7)];
        assert_eq!(
            overlay(&base, &top),
            vec![
                (0, 9, 0),
                (10, 20, 5),
                (21, 94, 0),
                (95, 210, 6),
                (211, 249, 1),
                (250, 250, 7),
                (251, 300, 1)
            ]
        );
        assert_eq!(overlay(&[], &top), top.to_vec());
        let claims = [
            (0u32, 99, 1u32),
            (50, 149, 2),
            (150, 199, 2),
            (0, u32::MAX, 3),
        ];
        assert_eq!(
            disjoint(&claims),
            vec![
                (0, 49, vec![1, 3]),
                (50, 99, vec![1, 2, 3]),
                (100, 199, vec![2, 3]),
                (200, u32::MAX, vec![3]),
            ]
        );
    }
}
