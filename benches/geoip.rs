//! GeoIP benchmarks: what a lookup costs on a table the size of a full
//! free GeoIP database, next to a `BTreeMap` of the same ranges in the same
//! process, and what importing a DB-IP-sized CSV and storing the table cost.
//!
//! 1. Lookups: a `GeoDb` of 500,000 random non-overlapping IPv4 ranges and
//!    200,000 IPv6 ranges (DB-IP lite has ~300k and ~200k, GeoLite2 ~480k
//!    and ~330k networks). Random addresses are generated beforehand, so a
//!    batch measures the lookups only; figures are the median ns per lookup
//!    over 11 batches of 1M. Baseline: the same IPv4 ranges in a
//!    `BTreeMap<u32, (u32, Country)>` queried with `range(..=ip).next_back()`.
//!    Measured back to back (a CPU overlaps independent lookups' cache
//!    misses) and one at a time (each address depends on the answer
//!    before, so nothing overlaps: a lookup's latency). Target: median
//!    < 200 ns per IPv4 lookup, both ways.
//! 2. Import: a generated 500,000-line DB-IP-style CSV (`start,end,country`,
//!    contiguous IPv4 ranges), through `import::import` (median of 5).
//! 3. Storage: the size of `GeoDb::encode` and the time of `decode`.
//!
//! Run with `cargo bench --bench geoip` (a few seconds after the build).
//! Without `--bench` (`cargo test --benches`) it runs tiny sizes as a smoke
//! test, checking the lookups against the baseline.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Instant;

use bouncer::geoip::import::{Source, import};
use bouncer::geoip::{Country, GeoDb};

/// Target for the median IPv4 lookup.
const TARGET_NS: f64 = 200.0;

struct Sizes {
    v4_ranges: usize,
    v6_ranges: usize,
    batch: usize,
    batches: usize,
    csv_lines: usize,
    import_runs: usize,
}

/// Country codes to draw from.
const COUNTRIES: &[&str] = &[
    "US", "CN", "JP", "DE", "GB", "KR", "BR", "FR", "CA", "IT", "AU", "NL", "RU", "IN", "TW", "ES",
    "SE", "MX", "PL", "ZA", "CH", "AR", "BE", "TR", "ID", "NO", "AT", "FI", "DK", "IL", "SG", "HK",
    "UA", "RO", "VN", "TH", "CZ", "IE", "NZ", "PT", "CL", "CO", "EG", "MY", "PH", "IR", "SA", "GR",
];

fn country(rng: &mut fastrand::Rng) -> Country {
    Country::parse(COUNTRIES[rng.usize(..COUNTRIES.len())]).expect("a country code")
}

/// `n` random non-overlapping ranges: 2n distinct sorted cut points,
/// paired (so there are gaps between ranges, as in real files).
fn random_ranges<T: Ord + Copy>(
    n: usize,
    rng: &mut fastrand::Rng,
    mut point: impl FnMut(&mut fastrand::Rng) -> T,
) -> Vec<(T, T, Country)> {
    let mut points: Vec<T> = (0..2 * n + n / 8).map(|_| point(rng)).collect();
    points.sort_unstable();
    points.dedup();
    points
        .chunks_exact(2)
        .take(n)
        .map(|p| (p[0], p[1], country(rng)))
        .collect()
}

/// Median of `v` (sorted in place).
fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Median ns per call of `f` over `batches` passes over `ips`.
///
/// The slice goes through `black_box`, not each address: `black_box` on a
/// 17-byte `IpAddr` spills it to the stack and reads it back, a failed
/// store-to-load forward that serialises the loop and triples the figure
/// for IPv6 (a request handler has its address in registers already).
fn ns_per_lookup<T: Copy>(ips: &[T], batches: usize, mut f: impl FnMut(T) -> u32) -> f64 {
    // One pass to warm the caches and the branch predictor.
    let mut sink = 0u32;
    for &ip in black_box(ips) {
        sink = sink.wrapping_add(f(ip));
    }
    let mut times = Vec::with_capacity(batches);
    for _ in 0..batches {
        let start = Instant::now();
        for &ip in black_box(ips) {
            sink = sink.wrapping_add(f(ip));
        }
        times.push(start.elapsed().as_nanos() as f64 / ips.len() as f64);
    }
    black_box(sink);
    median(times)
}

/// Like [`ns_per_lookup`], but each lookup waits for the one before: the
/// address taken depends on the answers so far (the index moves by one
/// when their sum passes 2^31, so the addresses stay the random ones).
/// This is the latency of a lookup on its own, with no overlap.
fn ns_per_dependent_lookup<T: Copy>(ips: &[T], batches: usize, mut f: impl FnMut(T) -> u32) -> f64 {
    let n = ips.len();
    let mut sink = 0u32;
    let mut times = Vec::with_capacity(batches);
    for _ in 0..batches + 1 {
        let start = Instant::now();
        for i in 0..n {
            let j = i + (sink >> 31) as usize;
            let ip = if j < n { ips[j] } else { ips[0] };
            sink = sink.wrapping_add(f(ip));
        }
        times.push(start.elapsed().as_nanos() as f64 / n as f64);
    }
    black_box(sink);
    // The first pass warmed up.
    times.remove(0);
    median(times)
}

fn code(c: Option<Country>) -> u32 {
    c.map_or(0, |c| u32::from(u16::from_le_bytes(c.0)))
}

/// A DB-IP-style CSV of `n` contiguous IPv4 ranges covering the space.
fn dbip_csv(n: usize, rng: &mut fastrand::Rng) -> Vec<u8> {
    let step = (u64::from(u32::MAX) + 1) / n as u64;
    let mut out = String::with_capacity(n * 32);
    for i in 0..n as u64 {
        let start = (i * step) as u32;
        let end = if i + 1 == n as u64 {
            u32::MAX
        } else {
            ((i + 1) * step - 1) as u32
        };
        let _ = writeln!(
            out,
            "{},{},{}",
            Ipv4Addr::from(start),
            Ipv4Addr::from(end),
            country(rng)
        );
    }
    out.into_bytes()
}

fn main() {
    let bench = std::env::args().any(|a| a == "--bench");
    let sizes = if bench {
        Sizes {
            v4_ranges: 500_000,
            v6_ranges: 200_000,
            batch: 1_000_000,
            batches: 11,
            csv_lines: 500_000,
            import_runs: 5,
        }
    } else {
        Sizes {
            v4_ranges: 5_000,
            v6_ranges: 2_000,
            batch: 10_000,
            batches: 1,
            csv_lines: 5_000,
            import_runs: 1,
        }
    };
    let mut rng = fastrand::Rng::with_seed(42);
    let mut summary = Vec::new();

    // ----- the table -----
    let v4 = random_ranges(sizes.v4_ranges, &mut rng, |r| r.u32(..));
    // Global unicast 2000::/3, like real IPv6 data.
    let v6 = random_ranges(sizes.v6_ranges, &mut rng, |r| {
        (0b001u128 << 125) | (r.u128(..) >> 3)
    });
    let baseline: BTreeMap<u32, (u32, Country)> = v4.iter().map(|&(s, e, c)| (s, (e, c))).collect();
    let start = Instant::now();
    let (db, dropped) = GeoDb::from_ranges(v4, v6);
    let build = start.elapsed();
    assert!(dropped.is_empty(), "the generated ranges do not overlap");
    let (n4, n6) = db.len();

    // ----- lookups -----
    let ips4: Vec<u32> = (0..sizes.batch).map(|_| rng.u32(..)).collect();
    let addrs4: Vec<IpAddr> = ips4
        .iter()
        .map(|&ip| IpAddr::from(Ipv4Addr::from(ip)))
        .collect();
    let addrs6: Vec<IpAddr> = (0..sizes.batch)
        .map(|_| IpAddr::from(Ipv6Addr::from((0b001u128 << 125) | (rng.u128(..) >> 3))))
        .collect();
    let baseline_lookup = |ip: u32| -> Option<Country> {
        baseline
            .range(..=ip)
            .next_back()
            .and_then(|(_, &(end, c))| (ip <= end).then_some(c))
    };
    // Both must agree before their speeds are compared.
    let mut hits = 0usize;
    for (&ip, &addr) in ips4.iter().zip(&addrs4) {
        let found = db.lookup(addr);
        assert_eq!(found, baseline_lookup(ip), "{addr}");
        hits += usize::from(found.is_some());
    }
    let ours4 = ns_per_lookup(&addrs4, sizes.batches, |ip| code(db.lookup(ip)));
    let ours6 = ns_per_lookup(&addrs6, sizes.batches, |ip| code(db.lookup(ip)));
    let base4 = ns_per_lookup(&ips4, sizes.batches, |ip| code(baseline_lookup(ip)));
    let lat4 = ns_per_dependent_lookup(&addrs4, sizes.batches, |ip| code(db.lookup(ip)));
    let lat6 = ns_per_dependent_lookup(&addrs6, sizes.batches, |ip| code(db.lookup(ip)));
    let base_lat4 = ns_per_dependent_lookup(&ips4, sizes.batches, |ip| code(baseline_lookup(ip)));
    summary.push(format!(
        "table: {n4} IPv4 + {n6} IPv6 ranges built (sort check, merge) in {:.1} ms; {:.1} MB in memory (10 B per IPv4 range, 34 B per IPv6 range) plus a 256 KiB bucket index for each family of 4096 ranges or more",
        build.as_secs_f64() * 1e3,
        (n4 * 10 + n6 * 34) as f64 / 1e6,
    ));
    let met = |ns: f64| if ns < TARGET_NS { "met" } else { "MISSED" };
    summary.push(format!(
        "lookup, random addresses ({:.0}% of the IPv4 ones in a range), median of {} batches of {}, back to back (independent lookups overlap): IPv4 {:.1} ns, IPv6 {:.1} ns; baseline BTreeMap range(..=ip).next_back() IPv4 {:.1} ns; baseline/ours {:.2}x; target IPv4 < {TARGET_NS:.0} ns: {}",
        hits as f64 * 100.0 / ips4.len() as f64,
        sizes.batches,
        sizes.batch,
        ours4,
        ours6,
        base4,
        base4 / ours4,
        met(ours4),
    ));
    summary.push(format!(
        "lookup, one at a time (each address depends on the previous answer): IPv4 {:.1} ns, IPv6 {:.1} ns; baseline IPv4 {:.1} ns; baseline/ours {:.2}x; target IPv4 < {TARGET_NS:.0} ns: {}",
        lat4,
        lat6,
        base_lat4,
        base_lat4 / lat4,
        met(lat4),
    ));

    // ----- import -----
    let csv = dbip_csv(sizes.csv_lines, &mut rng);
    let mut times = Vec::new();
    let mut ranges = 0;
    for _ in 0..sizes.import_runs {
        let source = Source {
            name: "dbip-country-lite-2024-01.csv".into(),
            bytes: csv.clone(),
        };
        let start = Instant::now();
        let imported = import(std::slice::from_ref(&source)).expect("imports");
        times.push(start.elapsed().as_secs_f64());
        assert!(imported.problems.is_empty());
        assert_eq!(imported.lines, sizes.csv_lines);
        ranges = imported.db.len().0;
        black_box(imported);
    }
    let import_s = median(times);
    summary.push(format!(
        "import: {} DB-IP-style lines ({:.1} MB) -> {} ranges after merging, median {:.0} ms ({:.0} ns per line); target well under 1 s: {}",
        sizes.csv_lines,
        csv.len() as f64 / 1e6,
        ranges,
        import_s * 1e3,
        import_s * 1e9 / sizes.csv_lines as f64,
        if import_s < 0.5 { "met" } else { "MISSED" },
    ));

    // ----- storage -----
    let start = Instant::now();
    let encoded = db.encode();
    let encode_t = start.elapsed();
    let start = Instant::now();
    let decoded = GeoDb::decode(&encoded).expect("decodes");
    let decode_t = start.elapsed();
    assert_eq!(decoded, db);
    summary.push(format!(
        "storage: encode() of {n4} + {n6} ranges is {} bytes ({:.2} MB), encoded in {:.1} ms, decoded (with checks) in {:.1} ms",
        encoded.len(),
        encoded.len() as f64 / 1e6,
        encode_t.as_secs_f64() * 1e3,
        decode_t.as_secs_f64() * 1e3,
    ));

    println!();
    println!(
        "GeoIP summary{}:",
        if bench {
            ""
        } else {
            " (smoke test, tiny sizes)"
        }
    );
    for line in &summary {
        println!("- {line}");
    }
}
