//! Index benchmarks: how long the availability index takes to build and how
//! much memory it needs for a big network, and what a redirect's lookup
//! (resolve + weighted pick) costs as the network grows.
//!
//! Run with `cargo bench --bench index` (about 2–4 minutes, most of it
//! creating a 10-million-row redb file). Criterion prints its own figures;
//! this program adds a summary with medians, ratios and peak memory.
//!
//! The networks are Firefox-like: products with one location for each of
//! the 8 default operating systems, ~100 languages each, 200 mirrors that
//! serve every location except a few that carry only a subset (so there
//! are several distinct candidate sets).
//!
//! It also measures what counting a download costs the redirect path
//! (`Counters::count`, paced like a busy server), next to a prototype of
//! an aggregator that polls instead of being woken for every hit.
//!
//! Environment:
//! - `BENCH_REDB_MIRRORS` (default 200): mirrors in the redb variant.
//! - `BENCH_SKIP_REDB=1`: skip the redb variant.
//!
//! Without `--bench` (`cargo test --benches`) it runs on a tiny network as
//! a smoke test.

use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use bouncer::index::Index;
use bouncer::model::{
    Alias, Availability, DEFAULT_OSES, FileInfo, Location, LocationId, Mirror, MirrorId, Product,
    ProductId,
};
use bouncer::network::Network;
use bouncer::store::{NewMirror, NewProduct, Snapshot, Store};
use criterion::{BenchmarkId, Criterion};

// ----- heap accounting -----

/// The system allocator, counting live and peak bytes so the summary can
/// tell what the index itself keeps (RSS also holds freed-but-cached pages).
struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

fn grew(by: usize) {
    let now = LIVE.fetch_add(by, Ordering::Relaxed) + by;
    PEAK.fetch_max(now, Ordering::Relaxed);
}

// SAFETY: every call is forwarded to `System` unchanged; the counters only
// observe sizes.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: same contract as the caller's.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            grew(layout.size());
        }
        p
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: same contract as the caller's.
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            grew(layout.size());
        }
        p
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) };
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: same contract as the caller's.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            if new_size >= layout.size() {
                grew(new_size - layout.size());
            } else {
                LIVE.fetch_sub(layout.size() - new_size, Ordering::Relaxed);
            }
        }
        p
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

fn live_heap() -> usize {
    LIVE.load(Ordering::Relaxed)
}

/// Starts a new heap-peak window; returns the live bytes at its start.
fn reset_heap_peak() -> usize {
    let now = live_heap();
    PEAK.store(now, Ordering::Relaxed);
    now
}

fn heap_peak() -> usize {
    PEAK.load(Ordering::Relaxed)
}

// ----- process memory -----

/// A `Vm…:` figure of /proc/self/status in bytes (0 if unreadable).
fn proc_status(field: &str) -> usize {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<usize>().ok())
        .map_or(0, |kb| kb * 1024)
}

fn vm_hwm() -> usize {
    proc_status("VmHWM")
}

fn vm_rss() -> usize {
    proc_status("VmRSS")
}

/// Resets VmHWM to the current RSS (Linux ≥ 4.0); false if not possible,
/// in which case VmHWM is the peak since the process started.
fn reset_hwm() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

fn mb(bytes: usize) -> String {
    format!("{:.1} MB", bytes as f64 / 1e6)
}

// ----- the synthetic network -----

/// About 100 locales, like a Firefox release.
#[rustfmt::skip]
const LANGS: &[&str] = &[
    "en-US", "ach", "af", "an", "ar", "ast", "az", "be", "bg", "bn", "br", "bs", "ca", "ca-valencia",
    "cak", "cs", "cy", "da", "de", "dsb", "el", "en-CA", "en-GB", "eo", "es-AR", "es-CL", "es-ES",
    "es-MX", "et", "eu", "fa", "ff", "fi", "fr", "fur", "fy-NL", "ga-IE", "gd", "gl", "gn",
    "gu-IN", "he", "hi-IN", "hr", "hsb", "hu", "hy-AM", "ia", "id", "is", "it", "ja", "ka", "kab",
    "kk", "km", "kn", "ko", "lij", "lt", "lv", "mk", "mr", "ms", "my", "nb-NO", "ne-NP", "nl",
    "nn-NO", "oc", "pa-IN", "pl", "pt-BR", "pt-PT", "rm", "ro", "ru", "sat", "sc", "sco", "si",
    "sk", "skr", "sl", "son", "sq", "sr", "sv-SE", "szl", "ta", "te", "tg", "th", "tl", "tr",
    "trs", "uk", "ur", "uz", "vi", "xh", "zh-CN", "zh-TW",
];

/// Mirrors 1–3 carry only part of the files; everyone else carries all.
/// That makes 8 distinct candidate sets.
fn serves(location: u64, mirror: u64) -> bool {
    match mirror {
        1 => location.is_multiple_of(2),
        2 => location.is_multiple_of(3),
        3 => location.is_multiple_of(7),
        _ => true,
    }
}

#[derive(Clone, Copy)]
struct Shape {
    products: u64,
    mirrors: u64,
}

impl Shape {
    fn locations(self) -> u64 {
        self.products * DEFAULT_OSES.len() as u64
    }
}

fn product_name(p: u64) -> String {
    format!("firefox-{p}.0")
}

fn template(p: u64, os: &str) -> String {
    format!("/firefox/releases/{p}.0/{os}/:lang/Firefox%20Setup%20{p}.0.exe")
}

fn base_url(m: u64) -> String {
    if m.is_multiple_of(2) {
        format!("https://mirror{m}.example.org/pub/mozilla")
    } else {
        format!("http://mirror{m}.example.net/mozilla")
    }
}

fn rating(m: u64) -> u32 {
    (1 + m % 50) as u32 * 10
}

/// The configuration, as `Store::snapshot` would return it. Location ids
/// are 1.. in (product, os) order, as the store assigns them.
/// Known files (from checksum files) for the first product's locations.
fn known_files() -> Vec<FileInfo> {
    let mut files = Vec::new();
    for (i, os) in DEFAULT_OSES.iter().enumerate() {
        for lang in LANGS {
            files.push(FileInfo {
                path: template(1, os).replace(":lang", lang),
                location: Some(LocationId(i as u64 + 1)),
                lang: Some(lang.to_string()),
                ..Default::default()
            });
        }
    }
    files
}

fn snapshot(shape: Shape) -> Snapshot {
    let langs: Vec<String> = LANGS.iter().map(|l| l.to_string()).collect();
    let mut s = Snapshot {
        oses: DEFAULT_OSES.iter().map(|o| o.to_string()).collect(),
        aliases: vec![Alias {
            name: "firefox-latest".into(),
            product: ProductId(1),
        }],
        ..Default::default()
    };
    let mut loc = 0;
    for p in 1..=shape.products {
        s.products.push(Product {
            id: ProductId(p),
            name: product_name(p),
            ssl_only: false,
            public: true,
            active: true,
            checknow: false,
            priority: 0,
            languages: langs.clone(),
            created_at: 0,
            max_lag_minutes: None,
        });
        for os in DEFAULT_OSES {
            loc += 1;
            s.locations.push(Location {
                id: LocationId(loc),
                product: ProductId(p),
                os: os.to_string(),
                path: template(p, os),
                created_at: 0,
            });
        }
    }
    for m in 1..=shape.mirrors {
        s.mirrors.push(Mirror {
            id: MirrorId(m),
            name: format!("mirror{m}"),
            base_url: base_url(m),
            rating: rating(m),
            active: true,
            regions: vec![],
            contact: String::new(),
            created_at: 0,
            families: Default::default(),
            audience: Default::default(),
            alt_url: None,
            trace: None,
            kind: Default::default(),
            maintenance: None,
        });
    }
    s
}

/// Every (location, mirror) that serves, in the store's key order,
/// generated on the fly (10 million pairs would take 160 MB as a Vec).
fn serving(shape: Shape) -> impl Iterator<Item = (LocationId, MirrorId)> {
    (1..=shape.locations()).flat_map(move |l| {
        (1..=shape.mirrors)
            .filter(move |&m| serves(l, m))
            .map(move |m| (LocationId(l), MirrorId(m)))
    })
}

// ----- timing helpers -----

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

fn secs(d: Duration) -> f64 {
    d.as_secs_f64()
}

/// Median nanoseconds per call of `f` over `rounds` rounds of `iters` calls.
fn ns_per_call(rounds: usize, iters: usize, mut f: impl FnMut(usize) -> u64) -> f64 {
    let mut acc = 0u64;
    for i in 0..iters / 4 {
        acc ^= f(i);
    }
    let mut samples = Vec::with_capacity(rounds);
    for _ in 0..rounds {
        let start = Instant::now();
        for i in 0..iters {
            acc ^= f(i);
        }
        samples.push(start.elapsed().as_nanos() as f64 / iters as f64);
    }
    black_box(acc);
    median(samples)
}

struct Summary(Vec<String>);

impl Summary {
    fn line(&mut self, s: String) {
        println!("summary: {s}");
        self.0.push(s);
    }
}

// ----- the benchmarks -----

struct Scale {
    full: Shape,
    small: Shape,
    redb_mirrors: u64,
    build_runs: usize,
    rounds: usize,
    iters: usize,
}

fn main() {
    if let Some(db) = std::env::var_os(CHILD_DB) {
        return child_main(std::path::Path::new(&db));
    }
    let bench = std::env::args().any(|a| a == "--bench");
    let scale = if bench {
        Scale {
            full: Shape {
                products: 6_250,
                mirrors: 200,
            },
            small: Shape {
                products: 125,
                mirrors: 200,
            },
            redb_mirrors: std::env::var("BENCH_REDB_MIRRORS")
                .ok()
                .and_then(|v| v.parse().ok())
                .unwrap_or(200),
            build_runs: 5,
            rounds: 31,
            iters: 200_000,
        }
    } else {
        Scale {
            full: Shape {
                products: 50,
                mirrors: 20,
            },
            small: Shape {
                products: 5,
                mirrors: 20,
            },
            redb_mirrors: 20,
            build_runs: 1,
            rounds: 3,
            iters: 1_000,
        }
    };
    let mut criterion = Criterion::default().configure_from_args();
    let mut summary = Summary(Vec::new());
    let started = Instant::now();

    let full = build_in_memory(&scale, &mut criterion, &mut summary);
    if std::env::var_os("BENCH_SKIP_REDB").is_none() {
        build_from_redb(&scale, &mut summary);
    }
    lookups(&scale, &full, &mut criterion, &mut summary);
    sticky(&scale, &mut summary);
    regions(&scale, &full, &mut summary);
    audiences(&scale, &mut summary);
    counting(bench, &mut summary);

    criterion.final_summary();
    println!();
    println!(
        "==== summary ({:.0} s in all) ====",
        secs(started.elapsed())
    );
    for line in &summary.0 {
        println!("{line}");
    }
}

/// The sticky pick (SPEC §2.6) against the random one it replaced, in the
/// same run: a first request (rank 0: the best score), a retry (a later
/// rank) and the key itself, among 10, 50 and 200 mirrors of different
/// ratings and 50 and 200 of equal ones, each request a different client.
fn sticky(scale: &Scale, out: &mut Summary) {
    use bouncer::index::{Candidates, StickyKey};
    let file = bouncer::index::template_hash(
        "/pub/firefox/releases/120.0/win32/:lang/Firefox Setup 120.0.exe",
    );
    let keys: Vec<StickyKey> = (0..4096u32)
        .map(|i| {
            let ip = std::net::IpAddr::from(std::net::Ipv4Addr::from(0x0a00_0000 + i));
            StickyKey::new(ip, file, "de")
        })
        .collect();
    for (n, equal) in [
        (10u32, false),
        (50, false),
        (200, false),
        (50, true),
        (200, true),
    ] {
        let weight = |m: u32| if equal { 100 } else { 100 + u64::from(m % 7) };
        let c = Candidates::new((0..n).map(|m| (m, weight(m))).collect());
        let mut rng = fastrand::Rng::with_seed(9);
        let random = ns_per_call(scale.rounds, scale.iters, |i| {
            black_box(&c).pick(&mut rng).map_or(0, u64::from) ^ i as u64
        });
        let first = ns_per_call(scale.rounds, scale.iters, |i| {
            let key = keys[i % keys.len()];
            black_box(&c).pick_sticky(key, 0).map_or(0, u64::from)
        });
        let retry = ns_per_call(scale.rounds, scale.iters, |i| {
            let key = keys[i % keys.len()];
            black_box(&c).pick_sticky(key, 3).map_or(0, u64::from)
        });
        out.line(format!(
            "sticky pick among {n} mirrors ({} ratings): first request {first:.1} ns, retry (rank 3) {retry:.1} ns; random pick {random:.1} ns ({:.1}x)",
            if equal { "equal" } else { "different" },
            first / random
        ));
    }
    let ip = std::net::IpAddr::from([203, 0, 113, 9]);
    let key_ns = ns_per_call(scale.rounds, scale.iters, |i| {
        StickyKey::new(black_box(ip), black_box(file), black_box("de")).0 ^ i as u64
    });
    out.line(format!(
        "sticky key of a client, a file and a language: {key_ns:.1} ns"
    ));
}

/// The same network with 7 continent-sized regions (every mirror in one,
/// every fifth in two; Europe keeps 70% of its downloads, Asia falls back
/// to Europe, Oceania forbids the world): what the per-region pools cost
/// to build and keep, and a regional pick against a world pick.
fn regions(scale: &Scale, world: &Index, out: &mut Summary) {
    use bouncer::geoip::Country;
    use bouncer::model::Region;
    let shape = scale.full;
    let mut snap = snapshot(shape);
    let files = known_files();
    let names = [
        "africa",
        "asia",
        "europe",
        "north-america",
        "oceania",
        "south-america",
        "antarctica",
    ];
    let countries = ["ZA", "JP", "DE", "US", "AU", "BR", "AQ"];
    for (i, name) in names.iter().enumerate() {
        snap.regions.push(Region {
            name: name.to_string(),
            throttle: if *name == "europe" { 70 } else { 100 },
            fallback: (*name == "asia").then(|| "europe".into()),
            global_fallback: *name != "oceania",
            countries: vec![countries[i].into()],
        });
    }
    for m in &mut snap.mirrors {
        let i = m.id.0 as usize;
        m.regions = vec![names[i % 6].to_string()];
        if i.is_multiple_of(5) {
            m.regions.push(names[(i + 1) % 6].to_string());
        }
    }
    let heap_before = live_heap();
    let mut times = Vec::new();
    let mut index = Index::build_with_files(&snap, &files, serving(shape));
    let retained = live_heap() - heap_before;
    for _ in 0..scale.build_runs {
        drop(index);
        let start = Instant::now();
        index = Index::build_with_files(&snap, &files, serving(shape));
        times.push(secs(start.elapsed()));
    }
    let heap_before = live_heap();
    let plain = Index::build_with_files(&snapshot(shape), &files, serving(shape));
    let plain_heap = live_heap() - heap_before;
    drop(plain);
    out.line(format!(
        "regions: build with 7 regions median {:.3} s; index keeps {} (without regions {})",
        median(times),
        mb(retained),
        mb(plain_heap),
    ));
    let target = index
        .resolve("firefox-latest", "win", "de")
        .expect("resolves");
    let de = Country::parse("DE");
    let client: std::net::IpAddr = "192.0.2.1".parse().expect("an address");
    let mut rng = fastrand::Rng::with_seed(3);
    let regional = ns_per_call(scale.rounds, scale.iters, |_| {
        let pool = index.pool(target.location, false, client, black_box(de), &mut rng);
        u64::from(pool.pick(&mut rng).expect("a mirror"))
    });
    let world_target = world
        .resolve("firefox-latest", "win", "de")
        .expect("resolves");
    let plain = ns_per_call(scale.rounds, scale.iters, |_| {
        u64::from(
            world_target
                .location
                .candidates(false)
                .pick(&mut rng)
                .expect("a mirror"),
        )
    });
    out.line(format!(
        "regions: pool + pick for a client in Europe (throttle roll) median {regional:.1} ns vs a world pick {plain:.1} ns ({:.2}x)",
        regional / plain
    ));
}

/// SPEC §13 all on: the regions network with address families, country
/// rules, client networks (CIDR prefixes and AS numbers) and share caps on
/// many mirrors, and an ASN table of 500,000 ranges (1,000 in the smoke
/// run). The index build (target < 3 s) and a pool + pick, against the
/// same network with all of it off, in the same run.
fn audiences(scale: &Scale, out: &mut Summary) {
    use bouncer::geoip::Country;
    use bouncer::geoip::asn::AsnDb;
    use bouncer::index::Builder;
    use bouncer::model::audience::{parse_countries, parse_networks};
    use bouncer::model::{Families, Region};
    let shape = scale.full;
    let files = known_files();
    let mut off = snapshot(shape);
    let names = [
        "africa",
        "asia",
        "europe",
        "north-america",
        "oceania",
        "south-america",
    ];
    let countries = ["ZA", "JP", "DE", "US", "AU", "BR"];
    for (i, name) in names.iter().enumerate() {
        off.regions.push(Region {
            name: name.to_string(),
            throttle: if *name == "europe" { 70 } else { 100 },
            fallback: (*name == "asia").then(|| "europe".into()),
            global_fallback: *name != "oceania",
            countries: vec![countries[i].into()],
        });
    }
    for m in &mut off.mirrors {
        let i = m.id.0 as usize;
        m.regions = vec![names[i % 6].to_string()];
    }
    let mut on = off.clone();
    let claimed_asns = 60u32;
    for m in &mut on.mirrors {
        let i = m.id.0 as u32;
        let a = &mut m.audience;
        match i % 20 {
            0 => m.families = Families::V4Only,
            1 => m.families = Families::V6Only,
            2 => a.only = parse_countries(countries[(i as usize / 20) % 6]).expect("countries"),
            3 => a.never = parse_countries("CN,RU").expect("countries"),
            _ => {}
        }
        if i.is_multiple_of(4) {
            a.max_share = Some(30);
        }
        if i <= claimed_asns {
            a.networks = parse_networks(&format!("AS{i}")).expect("an AS number");
        } else if i <= claimed_asns + 20 {
            let prefixes = format!("10.{i}.0.0/16,10.{i}.128.0/24,2001:db8:{i:x}::/48");
            a.networks = parse_networks(&prefixes).expect("prefixes");
        }
    }
    // The ASN table: consecutive IPv4 blocks of 1,024 addresses from
    // 16.0.0.0, AS numbers 1 to 60,000 in turn, and a tenth as many IPv6.
    let ranges: u32 = if std::env::args().any(|a| a == "--bench") {
        500_000
    } else {
        1_000
    };
    let v4: Vec<(u32, u32, u32)> = (0..ranges - ranges / 10)
        .map(|i| {
            let start = 0x1000_0000 + i * 1024;
            (start, start + 1023, i % 60_000 + 1)
        })
        .collect();
    let v6: Vec<(u128, u128, u32)> = (0..ranges / 10)
        .map(|i| {
            let start = (0x2a00u128 << 112) | (u128::from(i) << 80);
            (start, start | ((1u128 << 80) - 1), i % 60_000 + 1)
        })
        .collect();
    let (asn, _) = AsnDb::from_ranges(v4, v6);
    let build = |s: &Snapshot, asn: &AsnDb| {
        let mut b = Builder::new(s, &files);
        for (l, m) in serving(shape) {
            b.serving(l, m);
        }
        b.finish(asn)
    };
    let empty = AsnDb::default();
    let mut times_off = Vec::new();
    let mut times_on = Vec::new();
    for _ in 0..scale.build_runs.max(1) {
        let start = Instant::now();
        drop(black_box(build(&off, &empty)));
        times_off.push(secs(start.elapsed()));
        let start = Instant::now();
        drop(black_box(build(&on, &asn)));
        times_on.push(secs(start.elapsed()));
    }
    let heap_before = live_heap();
    let index_on = build(&on, &asn);
    let heap_on = live_heap() - heap_before;
    let index_off = build(&off, &empty);
    let (build_off, build_on) = (median(times_off), median(times_on));
    out.line(format!(
        "§13 all on: index build at {} mirrors × {} locations with {ranges} ASN ranges median {build_on:.3} s (target < 3 s) vs {build_off:.3} s all off ({:.2}x); the index keeps {}; {} claimed client ranges",
        shape.mirrors,
        shape.products * DEFAULT_OSES.len() as u64,
        build_on / build_off,
        mb(heap_on),
        index_on.regions().network_ranges()
    ));
    let de = Country::parse("DE");
    let mut rng = fastrand::Rng::with_seed(5);
    let mut pick_ns = |index: &Index, client: std::net::IpAddr| {
        let target = index
            .resolve("firefox-latest", "win", "de")
            .expect("resolves");
        ns_per_call(scale.rounds, scale.iters, |_| {
            let pool = index.pool(
                target.location,
                false,
                black_box(client),
                black_box(de),
                &mut rng,
            );
            u64::from(pool.pick(&mut rng).expect("a mirror"))
        })
    };
    let outside: std::net::IpAddr = "192.0.2.1".parse().expect("an address");
    let claimed: std::net::IpAddr = "16.0.4.1".parse().expect("an address");
    let base = pick_ns(&index_off, outside);
    let on_outside = pick_ns(&index_on, outside);
    let on_claimed = pick_ns(&index_on, claimed);
    out.line(format!(
        "§13 all on: pool + pick for a client in Europe {on_outside:.1} ns, in a claimed AS {on_claimed:.1} ns, vs all off {base:.1} ns ({:.2}x, {:.2}x)",
        on_outside / base,
        on_claimed / base
    ));
}

/// 1a(i): `Index::build` from a snapshot in memory.
fn build_in_memory(scale: &Scale, c: &mut Criterion, out: &mut Summary) -> Index {
    let shape = scale.full;
    let snap = snapshot(shape);
    let files = known_files();
    let rss_before = vm_rss();
    let hwm_reset = reset_hwm();
    let heap_before = reset_heap_peak();

    let mut times = Vec::new();
    let start = Instant::now();
    let mut index = Index::build_with_files(&snap, &files, serving(shape));
    times.push(secs(start.elapsed()));
    let hwm = vm_hwm();
    let build_heap_peak = heap_peak() - heap_before;
    let retained = live_heap() - heap_before;
    for _ in 1..scale.build_runs {
        drop(index);
        let start = Instant::now();
        index = Index::build_with_files(&snap, &files, serving(shape));
        times.push(secs(start.elapsed()));
    }
    let stats = index.stats();
    let med = median(times.clone());
    out.line(format!(
        "build in memory: {} mirrors x {} locations ({} serving pairs, {} candidate sets): median {:.3} s over {} runs (min {:.3}, max {:.3}); target < 3 s: {}",
        shape.mirrors,
        stats.locations,
        stats.serving_pairs,
        stats.candidate_sets,
        med,
        times.len(),
        times.iter().copied().fold(f64::INFINITY, f64::min),
        times.iter().copied().fold(0.0, f64::max),
        if med < 3.0 { "met" } else { "MISSED" },
    ));
    out.line(format!(
        "build in memory: peak RSS (VmHWM) {} ({}; RSS before {} incl. the {} snapshot); heap peak during build +{}, index keeps {}; target < 300 MB: {}",
        mb(hwm),
        if hwm_reset { "window reset before the build" } else { "since process start" },
        mb(rss_before),
        mb(heap_before),
        mb(build_heap_peak),
        mb(retained),
        if hwm < 300_000_000 { "met" } else { "MISSED" },
    ));

    // What the ~100 languages per product cost: the same index with none.
    let mut bare = snap.clone();
    for p in &mut bare.products {
        p.languages.clear();
    }
    let heap_before = live_heap();
    let without_langs = Index::build_with_files(&bare, &files, serving(shape));
    let without = live_heap() - heap_before;
    drop(without_langs);
    drop(bare);
    out.line(format!(
        "index memory: {} with {} languages per product, {} without languages ({} of it is the {} per-product language lists, {:.0} bytes per language entry)",
        mb(retained),
        LANGS.len(),
        mb(without),
        mb(retained.saturating_sub(without)),
        stats.products,
        retained.saturating_sub(without) as f64 / (stats.products * LANGS.len()) as f64,
    ));

    // Split the build: configuration only (no availability) vs streaming.
    let config_only = median(
        (0..scale.build_runs)
            .map(|_| {
                let start = Instant::now();
                black_box(Index::build_with_files(&snap, &files, std::iter::empty()));
                secs(start.elapsed())
            })
            .collect(),
    );
    let just_iterate = median(
        (0..scale.build_runs)
            .map(|_| {
                let start = Instant::now();
                black_box(serving(shape).count());
                secs(start.elapsed())
            })
            .collect(),
    );
    out.line(format!(
        "build in memory, parts: configuration only (no availability) {:.3} s; generating the {} pairs alone {:.3} s; the rest (grouping into candidate sets) ~{:.3} s",
        config_only,
        stats.serving_pairs,
        just_iterate,
        (med - config_only - just_iterate).max(0.0),
    ));

    let mut group = c.benchmark_group("index_build");
    group.sample_size(10);
    group.warm_up_time(Duration::from_millis(500));
    group.measurement_time(Duration::from_secs(10));
    group.bench_function(
        BenchmarkId::new(
            "in_memory",
            format!("{}x{}", shape.mirrors, shape.locations()),
        ),
        |b| b.iter(|| Index::build_with_files(&snap, &files, serving(shape))),
    );
    group.finish();
    index
}

/// 1a(ii): from a real redb file: create it with the store's own write
/// API, then `Network::open` (which builds the index) and `republish`.
fn build_from_redb(scale: &Scale, out: &mut Summary) {
    let shape = Shape {
        mirrors: scale.redb_mirrors,
        ..scale.full
    };
    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = dir.path().join("bench.redb");
    let present = Availability {
        present: true,
        healthy: true,
        checked_at: 1_700_000_000,
        error: String::new(),
    };
    let langs: Vec<String> = LANGS.iter().map(|l| l.to_string()).collect();

    let start = Instant::now();
    let store = Store::open(&path).expect("open the store");
    let mirrors: Vec<MirrorId> = store
        .write(&bouncer::model::Actor::Program("bench"), |tx| {
            (1..=shape.mirrors)
                .map(|m| {
                    tx.mirror_add(NewMirror {
                        name: format!("mirror{m}"),
                        base_url: base_url(m),
                        rating: rating(m),
                        ..Default::default()
                    })
                    .map(|m| m.id)
                })
                .collect()
        })
        .expect("add mirrors");
    // ~500 locations (62 products × 8 OSes) per transaction.
    let per_tx = (500 / DEFAULT_OSES.len() as u64).max(1);
    let mut rows = 0u64;
    let mut availability_time = Duration::ZERO;
    let mut first = 1;
    while first <= shape.products {
        let last = (first + per_tx - 1).min(shape.products);
        let (n, t) = store
            .write(&bouncer::model::Actor::Program("bench"), |tx| {
                let mut n = 0;
                let mut t = Duration::ZERO;
                for p in first..=last {
                    let name = product_name(p);
                    tx.product_add(NewProduct {
                        name: name.clone(),
                        languages: langs.clone(),
                        ..Default::default()
                    })?;
                    if p == 1 {
                        tx.alias_set("firefox-latest", &name)?;
                    }
                    for os in DEFAULT_OSES {
                        let loc = tx.location_add(&name, os, &template(p, os))?;
                        let s = Instant::now();
                        for &m in &mirrors {
                            if serves(loc.id.0, m.0) {
                                tx.set_availability(loc.id, m, &present)?;
                                n += 1;
                            }
                        }
                        t += s.elapsed();
                    }
                }
                Ok((n, t))
            })
            .expect("add products");
        rows += n;
        availability_time += t;
        first = last + 1;
    }
    drop(store);
    let setup = start.elapsed();
    let heap_after_setup = live_heap();
    let size = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
    out.line(format!(
        "redb setup: {} mirrors x {} locations, {} availability rows in {} transactions: {:.1} s ({:.0} rows/s; set_availability alone {:.1} s = {:.2} µs/row); file {}",
        shape.mirrors,
        shape.locations(),
        rows,
        shape.products.div_ceil(per_tx) + 1,
        secs(setup),
        rows as f64 / secs(setup),
        secs(availability_time),
        availability_time.as_nanos() as f64 / 1e3 / rows.max(1) as f64,
        mb(size as usize),
    ));

    // Open and rebuild in a fresh process, so that its peak RSS is what a
    // server opening this file would see (this process's allocator still
    // holds the setup's freed memory).
    let exe = std::env::current_exe().expect("this program's path");
    let child = std::process::Command::new(exe)
        .env(CHILD_DB, &path)
        .env(CHILD_RUNS, scale.build_runs.to_string())
        .env(CHILD_LOCATIONS, shape.locations().to_string())
        .stderr(std::process::Stdio::inherit())
        .output();
    match child {
        Ok(o) if o.status.success() => {
            for line in String::from_utf8_lossy(&o.stdout).lines() {
                if let Some(l) = line.strip_prefix(CHILD_PREFIX) {
                    out.line(l.to_string());
                }
            }
        }
        other => {
            eprintln!(
                "the fresh-process measurement failed ({other:?}); measuring in this process"
            );
            for l in open_and_republish(&path, scale.build_runs, shape.locations()) {
                out.line(format!("{l} (in the benchmark process)"));
            }
        }
    }
    let _ = heap_after_setup;
}

const CHILD_DB: &str = "BOUNCER_BENCH_CHILD_DB";
const CHILD_RUNS: &str = "BOUNCER_BENCH_CHILD_RUNS";
const CHILD_LOCATIONS: &str = "BOUNCER_BENCH_CHILD_LOCATIONS";
const CHILD_PREFIX: &str = "child-summary: ";

/// The child process: opens the database at `$CHILD_DB` as a live network.
fn child_main(db: &std::path::Path) {
    let runs = std::env::var(CHILD_RUNS)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5);
    let locations = std::env::var(CHILD_LOCATIONS)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    for line in open_and_republish(db, runs, locations) {
        println!("{CHILD_PREFIX}{line}");
    }
    println!("{CHILD_PREFIX}{}", scan_with_cache_sizes(db, runs));
}

/// The availability table as `src/store/tables.rs` defines it (private there).
const AVAILABILITY: redb::TableDefinition<(u64, u64), &[u8]> =
    redb::TableDefinition::new("availability_v1");

/// The index build's scan of every availability row, straight on redb with
/// different cache sizes: how long it takes and how much heap the open
/// database keeps afterwards. Shows what a smaller cache in `Store::open`
/// would cost and save.
fn scan_with_cache_sizes(path: &std::path::Path, runs: usize) -> String {
    use redb::{ReadableDatabase, ReadableTable};
    let mut parts = Vec::new();
    for (label, size) in [
        (
            "1 GiB (redb's default, what Store::open uses)",
            1usize << 30,
        ),
        ("64 MiB", 64 << 20),
        ("16 MiB", 16 << 20),
    ] {
        let heap_before = live_heap();
        let db = redb::Builder::new()
            .set_cache_size(size)
            .create(path)
            .expect("open the file with redb");
        let mut times = Vec::new();
        let mut serving = 0u64;
        for _ in 0..runs {
            let start = Instant::now();
            let txn = db.begin_read().expect("read transaction");
            let table = txn.open_table(AVAILABILITY).expect("availability table");
            serving = 0;
            for row in table.iter().expect("iterate") {
                let (_, v) = row.expect("row");
                // Format byte, present, healthy: as `availability_serves`.
                if let [1, 1, 1, ..] = v.value() {
                    serving += 1;
                }
            }
            times.push(secs(start.elapsed()));
        }
        let held = live_heap().saturating_sub(heap_before);
        drop(db);
        parts.push(format!(
            "cache {label}: scan median {:.3} s, the open database then holds {} of heap",
            median(times),
            mb(held)
        ));
        black_box(serving);
    }
    format!(
        "redb cache size vs the availability scan ({} runs each, fresh process): {}",
        runs,
        parts.join("; ")
    )
}

/// `Network::open` (which builds the index), then `republish` `runs`
/// times; timings, peak RSS and what the heap holds.
fn open_and_republish(path: &std::path::Path, runs: usize, locations: u64) -> Vec<String> {
    let mut out = Vec::new();
    let hwm_reset = reset_hwm();
    let rss_before = vm_rss();
    let heap_before_open = live_heap();
    let start = Instant::now();
    let network = Network::open(path, true).expect("open the network");
    let open = start.elapsed();
    let hwm_open = vm_hwm();
    let heap_after_open = live_heap() - heap_before_open;
    let stats = network.index().stats();
    assert_eq!(stats.locations as u64, locations);

    let mut times = Vec::new();
    for _ in 0..runs {
        let start = Instant::now();
        network.republish().expect("republish");
        times.push(secs(start.elapsed()));
    }
    let hwm_republish = vm_hwm();
    let scan = median(
        (0..runs)
            .map(|_| {
                let start = Instant::now();
                let n = network
                    .store()
                    .read_network(|_, _| 0u64, |n, _, _| *n += 1)
                    .expect("scan");
                black_box(n);
                secs(start.elapsed())
            })
            .collect(),
    );
    let snapshot_read = median(
        (0..runs)
            .map(|_| {
                let start = Instant::now();
                black_box(network.store().snapshot().expect("snapshot"));
                secs(start.elapsed())
            })
            .collect(),
    );
    let heap_network = live_heap() - heap_before_open;
    let last_build = network.last_build();
    // The index alone, built from the same rows outside the network.
    let heap_before_index = live_heap();
    let index_alone = network
        .store()
        .read_network(
            |s, files| bouncer::index::Builder::new(&s, &files),
            |b, l, m| b.serving(l, m),
        )
        .expect("scan")
        .finish(&Default::default());
    let index_heap = live_heap() - heap_before_index;
    drop(index_alone);
    drop(network);
    let heap_after_close = live_heap();
    let med = median(times);
    out.push(format!(
        "redb memory: Network::open adds {} of live heap, {} after {} republishes; the index itself is {}; so ~{} is redb's read cache (Store::open keeps redb's default 1 GiB cache); closing the network brings the heap back to {}",
        mb(heap_after_open),
        mb(heap_network),
        runs,
        mb(index_heap),
        mb(heap_network.saturating_sub(index_heap)),
        mb(heap_after_close),
    ));
    out.push(format!(
        "redb build: Network::open(live) {:.3} s (first, page cache warm); republish median {:.3} s over {} runs (last_build {:.3} s); of which snapshot read {:.3} s, availability scan without index work {:.3} s; target < 3 s: {}",
        secs(open),
        med,
        runs,
        secs(last_build),
        snapshot_read,
        scan,
        if med < 3.0 { "met" } else { "MISSED" },
    ));
    out.push(format!(
        "redb build: peak RSS (VmHWM) after open {} and after {} republishes {} ({}; RSS before open {}); target < 300 MB: {}",
        mb(hwm_open),
        runs,
        mb(hwm_republish),
        if hwm_reset { "window reset before open" } else { "since process start" },
        mb(rss_before),
        if hwm_republish < 300_000_000 { "met" } else { "MISSED" },
    ));
    out
}

/// 1b: resolve + pick on 1,000 vs 50,000 locations, and `/files` paths.
fn lookups(scale: &Scale, full: &Index, c: &mut Criterion, out: &mut Summary) {
    let small_snap = snapshot(scale.small);
    let small = Index::build_with_files(&small_snap, &known_files(), serving(scale.small));
    drop(small_snap);
    let networks = [("small", scale.small, &small), ("full", scale.full, full)];

    // Requests spread over every product of the network, so a bigger
    // network also means a bigger working set.
    let mut rng = fastrand::Rng::with_seed(7);
    let spread =
        |shape: Shape, rng: &mut fastrand::Rng| -> Vec<(String, &'static str, &'static str)> {
            (0..4096)
                .map(|_| {
                    (
                        product_name(rng.u64(1..=shape.products)),
                        DEFAULT_OSES[rng.usize(..DEFAULT_OSES.len())],
                        LANGS[rng.usize(..LANGS.len())],
                    )
                })
                .collect()
        };

    let resolve_pick =
        |index: &Index, product: &str, os: &str, lang: &str, rng: &mut fastrand::Rng| -> u64 {
            let target = index.resolve(product, os, lang).expect("resolves");
            u64::from(
                target
                    .location
                    .candidates(false)
                    .pick(rng)
                    .expect("a mirror"),
            )
        };

    let mut hot = Vec::new();
    let mut spread_ns = Vec::new();
    for (label, shape, index) in networks {
        let mut pick_rng = fastrand::Rng::with_seed(1);
        let ns = ns_per_call(scale.rounds, scale.iters, |_| {
            resolve_pick(
                index,
                black_box("firefox-latest"),
                black_box("win"),
                black_box("de"),
                &mut pick_rng,
            )
        });
        hot.push((label, index.stats().locations, ns));
        let queries = spread(shape, &mut rng);
        let ns = ns_per_call(scale.rounds, scale.iters, |i| {
            let (p, os, lang) = &queries[i % queries.len()];
            resolve_pick(
                index,
                black_box(p),
                black_box(os),
                black_box(lang),
                &mut pick_rng,
            )
        });
        spread_ns.push((label, index.stats().locations, ns));
    }
    // The same spread, always with the product's first language: without
    // the language scan over scattered strings.
    let mut spread_first = Vec::new();
    for (label, shape, index) in networks {
        let mut pick_rng = fastrand::Rng::with_seed(1);
        let queries = spread(shape, &mut rng);
        let ns = ns_per_call(scale.rounds, scale.iters, |i| {
            let (p, os, _) = &queries[i % queries.len()];
            resolve_pick(
                index,
                black_box(p),
                black_box(os),
                black_box(LANGS[0]),
                &mut pick_rng,
            )
        });
        spread_first.push((label, index.stats().locations, ns));
    }
    for (what, v) in [
        ("one product (hot)", &hot),
        ("spread over all products, random language", &spread_ns),
        ("spread over all products, first language", &spread_first),
    ] {
        out.line(format!(
            "resolve+pick, {what}: {} locations {:.1} ns, {} locations {:.1} ns; ratio {}/{} = {:.2}",
            v[0].1,
            v[0].2,
            v[1].1,
            v[1].2,
            v[1].1,
            v[0].1,
            v[1].2 / v[0].2,
        ));
    }

    // The parts: resolve alone, pick alone, and the language scan.
    let mut pick_rng = fastrand::Rng::with_seed(2);
    let target = full
        .resolve("firefox-latest", "win", "de")
        .expect("resolves");
    let candidates = target.location.candidates(false);
    let pick_ns = ns_per_call(scale.rounds, scale.iters, |_| {
        u64::from(black_box(candidates).pick(&mut pick_rng).unwrap_or(0))
    });
    let resolve_ns = |lang: &'static str| {
        ns_per_call(scale.rounds, scale.iters, |_| {
            let t = full
                .resolve(
                    black_box("firefox-latest"),
                    black_box("win"),
                    black_box(lang),
                )
                .expect("resolves");
            t.lang.len() as u64
        })
    };
    let (first_lang, last_lang) = (LANGS[0], LANGS[LANGS.len() - 1]);
    let first_ns = resolve_ns(first_lang);
    let last_ns = resolve_ns(last_lang);
    out.line(format!(
        "resolve+pick parts ({} locations): pick among {} mirrors {:.1} ns; resolve with the product's first language ({first_lang}) {:.1} ns, with its last of {} ({last_lang}) {:.1} ns",
        full.stats().locations,
        candidates.len(),
        pick_ns,
        first_ns,
        LANGS.len(),
        last_ns,
    ));

    // /files paths (already percent-decoded, as the server passes them).
    let known = "/firefox/releases/1.0/win/de/Firefox Setup 1.0.exe".to_string();
    let from_template = format!(
        "/firefox/releases/{p}.0/linux64/pt-BR/Firefox Setup {p}.0.exe",
        p = scale.full.products
    );
    let unknown = "/firefox/releases/999999.0/win/de/Firefox Setup 999999.0.exe".to_string();
    // A hostile 32 KB path: 64 distinct tokens, then one token repeated.
    let mut hostile = String::new();
    for i in 0..64 {
        hostile.push_str(&format!("/t{i}"));
    }
    while hostile.len() < 32 * 1024 {
        hostile.push_str("/x");
    }
    let paths = [
        ("known file", known),
        ("template + language", from_template),
        ("unknown file (404)", unknown),
        ("hostile 32 KB path (404)", hostile),
    ];
    let mut files = Vec::new();
    for (label, path) in &paths {
        let long = path.len() > 1000;
        let (rounds, iters) = if long {
            (scale.rounds.min(11), (scale.iters / 1000).max(10))
        } else {
            (scale.rounds, scale.iters / 4)
        };
        let ns = ns_per_call(rounds, iters, |_| {
            full.resolve_path(black_box(path))
                .map_or(0, |t| t.location.id.0)
        });
        files.push(format!("{label} {:.0} ns", ns));
    }
    out.line(format!(
        "resolve_path ({} locations): {}",
        full.stats().locations,
        files.join(", ")
    ));

    // Criterion's view of the same.
    let mut group = c.benchmark_group("resolve_pick");
    group.warm_up_time(Duration::from_millis(500));
    group.measurement_time(Duration::from_secs(2));
    for (_, shape, index) in networks {
        let mut pick_rng = fastrand::Rng::with_seed(3);
        group.bench_function(BenchmarkId::new("hot", shape.locations()), |b| {
            b.iter(|| {
                resolve_pick(
                    index,
                    black_box("firefox-latest"),
                    black_box("win"),
                    black_box("de"),
                    &mut pick_rng,
                )
            })
        });
        let queries = spread(shape, &mut rng);
        let mut i = 0;
        group.bench_function(BenchmarkId::new("spread", shape.locations()), |b| {
            b.iter(|| {
                i = (i + 1) % queries.len();
                let (p, os, lang) = &queries[i];
                resolve_pick(
                    index,
                    black_box(p),
                    black_box(os),
                    black_box(lang),
                    &mut pick_rng,
                )
            })
        });
    }
    group.finish();
    let mut group = c.benchmark_group("resolve_path");
    group.warm_up_time(Duration::from_millis(500));
    group.measurement_time(Duration::from_secs(2));
    for (label, path) in &paths {
        group.bench_function(*label, |b| {
            b.iter(|| full.resolve_path(black_box(path)).is_ok())
        });
    }
    group.finish();
}

// ----- counting -----

/// CPU seconds used so far by this whole process (all threads).
fn process_cpu() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let Some(close) = stat.rfind(')') else {
        return 0.0;
    };
    let fields: Vec<&str> = stat[close + 2..].split_whitespace().collect();
    let tick = |i: usize| {
        fields
            .get(i - 3)
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    // utime and stime are fields 14 and 15, in clock ticks (100 a second).
    (tick(14) + tick(15)) as f64 / 100.0
}

/// Voluntary context switches of all this process's threads so far.
fn process_switches() -> u64 {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return 0;
    };
    tasks
        .flatten()
        .filter_map(|t| std::fs::read_to_string(t.path().join("status")).ok())
        .filter_map(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("voluntary_ctxt_switches:"))
                .and_then(|v| v.trim().parse::<u64>().ok())
        })
        .sum()
}

/// Calls `f` `n` times, each after `gap` of busy work (a server handling
/// a request); returns wall ns per call, CPU ns per call (all threads) and
/// voluntary context switches per call.
fn paced(n: usize, gap: Duration, mut f: impl FnMut(usize)) -> (f64, f64, f64) {
    let switches = process_switches();
    let cpu = process_cpu();
    let start = Instant::now();
    for i in 0..n {
        let until = Instant::now() + gap;
        while Instant::now() < until {
            std::hint::spin_loop();
        }
        f(i);
    }
    let wall = start.elapsed().as_nanos() as f64 / n as f64;
    // Let the other threads finish what they were handed.
    std::thread::sleep(Duration::from_millis(50));
    let cpu = (process_cpu() - cpu) * 1e9 / n as f64;
    let switches = process_switches().saturating_sub(switches) as f64 / n as f64;
    (wall, cpu, switches)
}

struct NullSink;

impl bouncer::counters::CountSink for NullSink {
    fn add_counts(&self, flush: &bouncer::counters::Flush) -> bouncer::error::Result<()> {
        black_box(flush);
        Ok(())
    }
}

fn hit(i: usize) -> bouncer::counters::Hit {
    bouncer::counters::Hit {
        product: ProductId(1),
        location: LocationId(1 + (i % 8) as u64),
        lang: bouncer::counters::Lang::new(LANGS[i % 8]),
        mirror: MirrorId(1 + (i % 10) as u64),
        country: *b"--",
    }
}

/// What `Counters::count` adds to a request, paced like a server doing
/// ~150k requests a second (a few µs of work between hits).
fn counting(bench: bool, out: &mut Summary) {
    use std::collections::HashMap;
    use std::sync::Arc;
    use std::sync::atomic::AtomicBool;

    let n = if bench { 400_000 } else { 2_000 };
    let gap = Duration::from_micros(3);
    let base = paced(n, gap, |i| {
        black_box(hit(i));
    });

    // The real thing: an aggregator thread blocked in `recv_timeout`, woken
    // by every `send`.
    let counters = bouncer::counters::Counters::start(Arc::new(NullSink), Duration::from_secs(1));
    let real = paced(n, gap, |i| counters.count(hit(i)));
    counters.stop();

    // Prototype: the same channel and aggregation, but the aggregator
    // sleeps and drains with `try_recv`, so a send never has to wake it.
    let (tx, rx) = std::sync::mpsc::channel::<bouncer::counters::Hit>();
    let done = Arc::new(AtomicBool::new(false));
    let stop = done.clone();
    let aggregator = std::thread::spawn(move || {
        let mut pending: HashMap<(LocationId, bouncer::counters::Lang), u64> = HashMap::new();
        let mut total = 0u64;
        loop {
            std::thread::sleep(Duration::from_millis(10));
            while let Ok(h) = rx.try_recv() {
                *pending.entry((h.location, h.lang)).or_default() += 1;
                total += 1;
            }
            if stop.load(Ordering::Acquire) {
                while let Ok(h) = rx.try_recv() {
                    *pending.entry((h.location, h.lang)).or_default() += 1;
                    total += 1;
                }
                return total;
            }
        }
    });
    let polled = paced(n, gap, |i| {
        let _ = tx.send(hit(i));
    });
    done.store(true, Ordering::Release);
    let total = aggregator.join().unwrap_or(0);
    assert_eq!(total as usize, n);

    let extra = |(w, c, s): (f64, f64, f64)| {
        format!(
            "+{:.0} ns wall, +{:.0} ns CPU (all threads), {:.2} voluntary context switches per hit",
            w - base.0,
            c - base.1,
            s
        )
    };
    out.line(format!(
        "counting, paced one hit per ~{} µs of work ({} hits): Counters::count {}; prototype with a polling aggregator (sleep 10 ms, drain with try_recv) {}",
        gap.as_micros(),
        n,
        extra(real),
        extra(polled),
    ));
}
