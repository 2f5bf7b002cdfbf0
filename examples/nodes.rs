//! Several nodes on one PostgreSQL database (issue 17, "Performance"):
//! how fast a change reaches the other nodes, what a node's startup and
//! refresh cost on a big network, how long a sentry run holds the
//! generation lock, and whether a PostgreSQL-backed node redirects as fast
//! as a redb one.
//!
//! Run it with
//!
//! ```text
//! cargo run --release --example nodes
//! ```
//!
//! It needs PostgreSQL installed (`apt-get install postgresql`; it starts
//! a throwaway server of its own, [`TestPostgres`], so it runs as root or
//! as the `postgres` user) and `wrk` (`apt-get install wrk`). The release
//! build of `bouncer` is made (or brought up to date) first if `cargo`
//! started this program; otherwise run `cargo build --release` beforehand.
//! At the default scale the run takes several minutes, most of it filling
//! the big database (10 M availability rows).
//!
//! What it measures:
//!
//! 1. Change to served, across nodes: a small network (product `tb`, one
//!    location `/tb/setup.exe` for `win`, mirrors `m1` and `m2`, the file
//!    present on both, one of them active) and two `bouncer serve`
//!    processes A and B on it. `NODES_CHANGES` times, this program swaps
//!    which mirror is active (one write through the library) and, from the
//!    moment the write committed, polls both nodes with
//!    `GET /?product=tb&os=win&lang=en-US` until each redirects to the
//!    newly active mirror. Median, p90, p99 and max per node (target < 1 s).
//! 2. Startup and refresh on a big network: `NODES_MIRRORS` mirrors ×
//!    `NODES_LOCATIONS` locations with a finding for every pair, filled
//!    through the library (one transaction per mirror). Then, in this
//!    process, `Network::open` (what a node does when it starts: build the
//!    index from the database) and the resident memory it added; a sentry
//!    write turning 1,000 pairs not present and the `republish` that picks
//!    it up (a refresh reads only rows changed since), next to a full
//!    `Network::open` after it; and one `bouncer serve` from start to its
//!    `listening on` line.
//! 3. A sentry `--all` write on the big database: 1 M findings (the first
//!    5,000 locations × every mirror, fewer at a smaller scale) with new
//!    check times and nothing flipping, then the same with 1 % flipping,
//!    written as sentry writes them: the rows that leave their pair's
//!    serving state as it was in short transactions outside the generation
//!    lock (`Store::availability_refresh`), then one `Store::write` of the
//!    rest, which takes the lock first and holds it until it commits: its
//!    wall time is how long other writers wait. After each, the rows whose
//!    `gen` is the newest generation are counted: a run that flips nothing
//!    moves none. First, as the baseline, the no-flip findings in one
//!    locked write (how sentry wrote before the split).
//! 4. Redirects per second of a node on PostgreSQL against one on redb
//!    (the small network copied with `bouncer copy`), `--threads 1`,
//!    counting on, `wrk -t1 -c64 -dNs --latency`, alternating for 3 rounds;
//!    medians and the ratio (about 1.0 expected: the redirect path reads
//!    only the index in memory, never the database).
//!
//! Environment:
//! - `NODES_CHANGES`: changes in part 1 (default 100, 1–10000).
//! - `NODES_MIRRORS`, `NODES_LOCATIONS`: the big network of parts 2 and 3
//!   (default 200 × 50,000; e.g. 20 × 2,000 for a quick try).
//! - `NODES_SECS`: seconds per wrk run in part 4 (default 10, 1–120).
//! - `NODES_BIG=0`: skip parts 2 and 3; `NODES_WRK=0`: skip part 4.
//!
//! Everything runs on one machine: the nodes, PostgreSQL, wrk and this
//! program share its cores (the count is printed), so figures taken on a
//! busy machine are upper bounds for latencies and lower bounds for rates.
//!
//! Every child process (bouncer, wrk) and the PostgreSQL server are
//! stopped when this program ends, also on a panic.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Command, ExitCode, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use bouncer::model::{Actor, Availability, LocationId, MirrorId};
use bouncer::network::Network;
use bouncer::store::{NewMirror, NewProduct, Place, Store};
use bouncer::testing::postgres::TestPostgres;

const WRK: &str = "/usr/bin/wrk";
const CONNECTIONS: u32 = 64;
const QUERY: &str = "/?product=tb&os=win&lang=en-US";
/// The two mirrors of the small network, by name and host.
const SMALL_MIRRORS: [(&str, &str); 2] = [("m1", "m1.example"), ("m2", "m2.example")];
/// How long a node may take to serve a change before the run fails.
const CHANGE_LIMIT: Duration = Duration::from_secs(30);
/// Pairs the refresh test of part 2 turns not present.
const REFRESH_FLIPS: usize = 1_000;
/// Locations (× every mirror) the sentry write of part 3 covers.
const SENTRY_LOCATIONS: usize = 5_000;
/// Operating systems of the big network (locations = products × these).
const BIG_OSES: usize = 100;
/// Alternating PostgreSQL/redb rounds of part 4.
const WRK_ROUNDS: usize = 3;

mod support;

use support::{Guard, Result, WrkResult, bouncer_binary, median, ms, run_wrk, tool, which};

fn main() -> ExitCode {
    // Everything that owns a child process lives inside `run`, so their
    // guards have stopped them before the exit code is returned.
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("nodes: {e}");
            ExitCode::FAILURE
        }
    }
}

/// `name` from the environment as a whole number in `min..=max`, or `default`.
fn knob(name: &str, default: u64, min: u64, max: u64) -> Result<u64> {
    match std::env::var(name) {
        Ok(v) => v
            .trim()
            .replace('_', "")
            .parse::<u64>()
            .map(|n| n.clamp(min, max))
            .map_err(|_| format!("{name}={v:?} is not a whole number")),
        Err(_) => Ok(default),
    }
}

fn lib_err(what: &'static str) -> impl Fn(bouncer::error::Error) -> String {
    move |e| format!("{what}: {e}")
}

// ----- the run -----

/// What the summary at the end reports.
#[derive(Default)]
struct Summary {
    /// Part 1: per node (A, B), change-to-served latencies.
    changes: Vec<(&'static str, Vec<Duration>)>,
    big: Option<Big>,
    sentry: Vec<SentryWrite>,
    /// Part 4: (PostgreSQL, redb) per round.
    wrk: Vec<(WrkResult, WrkResult)>,
}

/// Part 2's figures.
struct Big {
    mirrors: usize,
    locations: usize,
    rows: usize,
    populate: Duration,
    /// Of `populate`: the availability rows alone.
    populate_rows: Duration,
    open: Duration,
    rss_before_kb: u64,
    rss_after_kb: u64,
    flip_write: Duration,
    republish: Duration,
    reopen: Duration,
    serve_startup: Duration,
}

/// Part 3's figures for one write.
struct SentryWrite {
    label: String,
    rows: usize,
    flips: usize,
    /// The rows that flip nothing, written outside the generation lock.
    unlocked: Duration,
    /// The locked write of the rest: how long other writers wait.
    held: Duration,
    /// Rows whose `gen` is the generation this write made.
    moved: i64,
}

fn run() -> Result<()> {
    let changes = knob("NODES_CHANGES", 100, 1, 10_000)? as usize;
    let mirrors = knob("NODES_MIRRORS", 200, 2, 10_000)? as usize;
    let locations = knob("NODES_LOCATIONS", 50_000, 1, 10_000_000)? as usize;
    let secs = knob("NODES_SECS", 10, 1, 120)?;
    let big = std::env::var("NODES_BIG").map_or(true, |v| v != "0");
    let throughput = std::env::var("NODES_WRK").map_or(true, |v| v != "0");
    if throughput && !Path::new(WRK).exists() && which("wrk").is_none() {
        return Err("wrk not found. Install it with: apt-get install wrk (or NODES_WRK=0)".into());
    }
    let wrk = tool(WRK, "wrk");
    let bouncer = bouncer_binary()?;
    let cores = thread::available_parallelism().map_or(0, |n| n.get());
    println!(
        "nodes: {cores} CPU core(s) shared by PostgreSQL, the nodes, wrk and this program; load {}",
        load_average()
    );
    println!("nodes: bouncer binary {}", bouncer.display());
    let started = Instant::now();
    let pg = TestPostgres::start()?;
    let dir = tempfile::tempdir().map_err(|e| format!("cannot make a temporary directory: {e}"))?;
    let mut summary = Summary::default();

    // Part 1.
    let small = pg.database();
    let store = Store::open_at(&Place::Postgres(small.clone()))
        .map_err(lib_err("cannot open the small database"))?;
    build_small(&store)?;
    {
        let mut a = start_bouncer(&bouncer, &small, "A")?;
        let mut b = start_bouncer(&bouncer, &small, "B")?;
        summary.changes = change_latency(&store, &[("A", a.addr), ("B", b.addr)], changes)?;
        a.guard.stop(Duration::from_secs(30));
        b.guard.stop(Duration::from_secs(30));
    }

    // Part 4, on the same small network.
    if throughput {
        let file = dir.path().join("small.redb");
        let out = Command::new(&bouncer)
            .args(["copy", "--from", &small, "--to"])
            .arg(&file)
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("cannot run bouncer copy: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "bouncer copy failed: {}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        let file = file.to_string_lossy().into_owned();
        let pg_node = start_bouncer(&bouncer, &small, "PostgreSQL")?;
        let redb_node = start_bouncer(&bouncer, &file, "redb")?;
        for round in 1..=WRK_ROUNDS {
            let on_pg = run_wrk(&wrk, pg_node.addr, QUERY, secs, CONNECTIONS, &[])?;
            let on_redb = run_wrk(&wrk, redb_node.addr, QUERY, secs, CONNECTIONS, &[])?;
            println!(
                "nodes: throughput round {round}/{WRK_ROUNDS}: PostgreSQL {:.0} req/s (p99 {}), redb {:.0} req/s (p99 {})",
                on_pg.requests_per_sec,
                ms(on_pg.p99_us),
                on_redb.requests_per_sec,
                ms(on_redb.p99_us)
            );
            summary.wrk.push((on_pg, on_redb));
        }
    }
    drop(store);

    // Parts 2 and 3.
    if big {
        let url = pg.database();
        let (b, writes) = big_network(&bouncer, &url, mirrors, locations)?;
        summary.big = Some(b);
        summary.sentry = writes;
    }

    report(&summary);
    println!("nodes: done in {:.0} s", started.elapsed().as_secs_f64());
    Ok(())
}

/// Product `tb` with one location, `/tb/setup.exe` for `win`, on mirrors
/// `m1` (active) and `m2` (inactive), the file present on both.
fn build_small(store: &Store) -> Result<()> {
    store
        .write(&Actor::Program("nodes"), |tx| {
            tx.product_add(NewProduct {
                name: "tb".into(),
                ..Default::default()
            })?;
            if !tx.oses()?.iter().any(|o| o == "win") {
                tx.os_add("win")?;
            }
            let location = tx.location_add("tb", "win", "/tb/setup.exe")?.id;
            for (i, (name, host)) in SMALL_MIRRORS.into_iter().enumerate() {
                let mirror = tx.mirror_add(NewMirror {
                    name: name.into(),
                    base_url: format!("http://{host}/pub"),
                    rating: 100,
                    inactive: i > 0,
                    ..Default::default()
                })?;
                tx.set_availability(location, mirror.id, &present(bouncer::model::now()))?;
            }
            Ok(())
        })
        .map_err(lib_err("cannot build the small network"))
}

fn present(checked_at: u64) -> Availability {
    Availability {
        present: true,
        healthy: true,
        checked_at,
        error: String::new(),
    }
}

/// Part 1: swaps the active mirror `changes` times and measures, per node,
/// from the commit until the node redirects to the newly active mirror.
fn change_latency(
    store: &Store,
    nodes: &[(&'static str, SocketAddr)],
    changes: usize,
) -> Result<Vec<(&'static str, Vec<Duration>)>> {
    for (name, addr) in nodes {
        let location = redirect(*addr)?;
        if !location.contains(SMALL_MIRRORS[0].1) {
            return Err(format!(
                "node {name} redirects to {location:?} before any change, not to {}",
                SMALL_MIRRORS[0].1
            ));
        }
    }
    let mut out: Vec<(&'static str, Vec<Duration>)> =
        nodes.iter().map(|(name, _)| (*name, Vec::new())).collect();
    println!(
        "nodes: part 1: {changes} changes of the active mirror, nodes {}",
        nodes
            .iter()
            .map(|(n, a)| format!("{n} on http://{a}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    for i in 0..changes {
        let (old, new) = if i % 2 == 0 {
            (SMALL_MIRRORS[0], SMALL_MIRRORS[1])
        } else {
            (SMALL_MIRRORS[1], SMALL_MIRRORS[0])
        };
        store
            .write(&Actor::Cli, |tx| {
                tx.mirror_update(old.0, |m| m.active = false)?;
                tx.mirror_update(new.0, |m| m.active = true)?;
                Ok(())
            })
            .map_err(lib_err("cannot swap the active mirror"))?;
        // The write returned: it committed.
        let t0 = Instant::now();
        let mut pending: Vec<usize> = (0..nodes.len()).collect();
        while !pending.is_empty() {
            let mut still = Vec::new();
            for n in pending {
                if redirect(nodes[n].1)?.contains(new.1) {
                    out[n].1.push(t0.elapsed());
                } else {
                    still.push(n);
                }
            }
            pending = still;
            if t0.elapsed() > CHANGE_LIMIT {
                return Err(format!(
                    "change {}: nodes {:?} still redirect to {} after {CHANGE_LIMIT:?}",
                    i + 1,
                    pending.iter().map(|&n| nodes[n].0).collect::<Vec<_>>(),
                    old.1
                ));
            }
            if !pending.is_empty() {
                // Leave the cores to the nodes doing the refresh; this
                // bounds the resolution of the figures to about 1 ms.
                thread::sleep(Duration::from_millis(1));
            }
        }
        if (i + 1) % 25 == 0 || i + 1 == changes {
            println!("nodes: part 1: {}/{changes} changes served", i + 1);
        }
    }
    Ok(out)
}

/// One `GET` of [`QUERY`] on a fresh connection: the `Location` it
/// redirects to (error on anything but a 302).
fn redirect(addr: SocketAddr) -> Result<String> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(5))
        .map_err(|e| format!("cannot connect to {addr}: {e}"))?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok();
    s.set_nodelay(true).ok();
    write!(
        s,
        "GET {QUERY} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .map_err(|e| format!("cannot send to {addr}: {e}"))?;
    let mut reply = String::new();
    s.read_to_string(&mut reply)
        .map_err(|e| format!("cannot read from {addr}: {e}"))?;
    let status = reply.lines().next().unwrap_or("");
    if !status.contains(" 302") {
        return Err(format!("{addr}{QUERY} answered {status:?}, not a 302"));
    }
    reply
        .lines()
        .find_map(|l| {
            let (name, value) = l.split_once(':')?;
            name.eq_ignore_ascii_case("location")
                .then(|| value.trim().to_string())
        })
        .ok_or_else(|| format!("{addr}{QUERY} answered a 302 without a Location"))
}

/// Parts 2 and 3 on a new database at `url`.
fn big_network(
    bouncer: &Path,
    url: &str,
    mirror_count: usize,
    location_count: usize,
) -> Result<(Big, Vec<SentryWrite>)> {
    let place = Place::Postgres(url.to_string());
    let store = Store::open_at(&place).map_err(lib_err("cannot open the big database"))?;
    let rows = mirror_count * location_count;
    println!(
        "nodes: part 2: filling {mirror_count} mirrors × {location_count} locations = {rows} availability rows"
    );
    let started = Instant::now();
    let (locations, mirrors, populate_rows) = populate(&store, mirror_count, location_count)?;
    let populate = started.elapsed();
    println!(
        "nodes: part 2: filled in {:.1} s, of which the availability rows {:.1} s ({:.0} rows/s)",
        populate.as_secs_f64(),
        populate_rows.as_secs_f64(),
        rows as f64 / populate_rows.as_secs_f64()
    );

    let rss_before_kb = rss_kb();
    let started = Instant::now();
    let network = Network::open(place.clone(), true).map_err(lib_err("Network::open"))?;
    let open = started.elapsed();
    let rss_after_kb = rss_kb();
    println!(
        "nodes: part 2: Network::open {:.0} ms, RSS {} → {} MB",
        open.as_secs_f64() * 1e3,
        rss_before_kb / 1024,
        rss_after_kb / 1024
    );

    // 1,000 distinct pairs, from the last locations (part 3 rewrites the
    // first ones).
    let flips: Vec<(LocationId, MirrorId)> = (0..REFRESH_FLIPS.min(rows))
        .map(|k| {
            let l = locations.len() - 1 - k % locations.len();
            let m = (k / locations.len() + k) % mirrors.len();
            (locations[l], mirrors[m])
        })
        .collect();
    let now = bouncer::model::now();
    let gone: Vec<(LocationId, MirrorId, Availability)> = flips
        .iter()
        .map(|&(l, m)| {
            (
                l,
                m,
                Availability {
                    present: false,
                    healthy: true,
                    checked_at: now,
                    error: "404".into(),
                },
            )
        })
        .collect();
    let generation = network.generation();
    let started = Instant::now();
    store
        .write(&Actor::Sentry, |tx| tx.set_availability_many(&gone))
        .map_err(lib_err("the sentry write of part 2"))?;
    let flip_write = started.elapsed();
    let started = Instant::now();
    network.republish().map_err(lib_err("republish"))?;
    let republish = started.elapsed();
    if network.generation() == generation {
        return Err("republish published nothing".into());
    }
    println!(
        "nodes: part 2: {} pairs turned not present: write {:.0} ms, republish (refresh) {:.0} ms",
        gone.len(),
        flip_write.as_secs_f64() * 1e3,
        republish.as_secs_f64() * 1e3
    );
    drop(network);
    let started = Instant::now();
    let network = Network::open(place.clone(), true).map_err(lib_err("Network::open"))?;
    let reopen = started.elapsed();
    drop(network);
    println!(
        "nodes: part 2: a full Network::open after it: {:.0} ms",
        reopen.as_secs_f64() * 1e3
    );
    // Back to present, so part 3's first run flips nothing.
    let back: Vec<(LocationId, MirrorId, Availability)> =
        flips.iter().map(|&(l, m)| (l, m, present(now))).collect();
    store
        .write(&Actor::Sentry, |tx| tx.set_availability_many(&back))
        .map_err(lib_err("undoing part 2's flips"))?;

    let started = Instant::now();
    let mut node = start_bouncer(bouncer, url, "big")?;
    let serve_startup = started.elapsed();
    node.guard.stop(Duration::from_secs(30));
    println!(
        "nodes: part 2: bouncer serve listening {:.0} ms after it started",
        serve_startup.as_secs_f64() * 1e3
    );

    // Part 3.
    let mut client = postgres::Client::connect(url, postgres::NoTls)
        .map_err(|e| format!("cannot connect to {url}: {e}"))?;
    let covered = &locations[..SENTRY_LOCATIONS.min(locations.len())];
    let mut writes = Vec::new();
    // The first: everything in one locked write, as before this split
    // (the baseline of the lock time, in the same run).
    for (label, every, split) in [
        ("one write", None, false),
        ("no flips", None, true),
        ("1 % flips", Some(100), true),
    ] {
        let checked_at = bouncer::model::now() + 1 + writes.len() as u64;
        let mut flips = 0;
        let mut batch: Vec<(LocationId, MirrorId, Availability)> =
            Vec::with_capacity(covered.len() * mirrors.len());
        for &l in covered {
            for &m in &mirrors {
                let mut a = present(checked_at);
                if every.is_some_and(|e| batch.len().is_multiple_of(e)) {
                    a.present = false;
                    flips += 1;
                }
                batch.push((l, m, a));
            }
        }
        // As sentry writes: what flips nothing first, outside the lock,
        // then one locked write of the rest.
        let started = Instant::now();
        let rest = if split {
            store
                .availability_refresh(&batch, None)
                .map_err(lib_err("the sentry write of part 3"))?
        } else {
            batch.clone()
        };
        let unlocked = started.elapsed();
        let locked = Instant::now();
        store
            .write(&Actor::Sentry, |tx| tx.set_availability_many(&rest))
            .map_err(lib_err("the sentry write of part 3"))?;
        let held = locked.elapsed();
        let moved: i64 = client
            .query_one(
                "SELECT count(*) FROM availability
                 WHERE gen = (SELECT value FROM meta WHERE name = 'generation')",
                &[],
            )
            .map_err(|e| format!("cannot count rows of the newest generation: {e}"))?
            .get(0);
        println!(
            "nodes: part 3: sentry write of {} rows, {label}: {:.2} s unlocked, {:.2} s under the lock; rows of its generation: {moved}",
            batch.len(),
            unlocked.as_secs_f64(),
            held.as_secs_f64()
        );
        writes.push(SentryWrite {
            label: label.into(),
            rows: batch.len(),
            flips,
            unlocked,
            held,
            moved,
        });
    }
    let big = Big {
        mirrors: mirrors.len(),
        locations: locations.len(),
        rows,
        populate,
        populate_rows,
        open,
        rss_before_kb,
        rss_after_kb,
        flip_write,
        republish,
        reopen,
        serve_startup,
    };
    Ok((big, writes))
}

/// Products × [`BIG_OSES`] operating systems up to `location_count`
/// locations, `mirror_count` mirrors, every file present on every mirror
/// (one transaction per mirror). Returns how long the availability rows took.
fn populate(
    store: &Store,
    mirror_count: usize,
    location_count: usize,
) -> Result<(Vec<LocationId>, Vec<MirrorId>, Duration)> {
    let oses: Vec<String> = (0..BIG_OSES.min(location_count))
        .map(|o| format!("os{o}"))
        .collect();
    let products = location_count.div_ceil(oses.len());
    let (locations, mirrors) = store
        .write(&Actor::Program("nodes"), |tx| {
            for os in &oses {
                tx.os_add(os)?;
            }
            let mut locations = Vec::with_capacity(location_count);
            'products: for p in 0..products {
                let name = format!("p{p}");
                tx.product_add(NewProduct {
                    name: name.clone(),
                    ..Default::default()
                })?;
                for os in &oses {
                    if locations.len() == location_count {
                        break 'products;
                    }
                    locations.push(
                        tx.location_add(&name, os, &format!("/{name}/{os}/file.bin"))?
                            .id,
                    );
                }
            }
            let mut mirrors = Vec::with_capacity(mirror_count);
            for m in 0..mirror_count {
                mirrors.push(
                    tx.mirror_add(NewMirror {
                        name: format!("mirror{m}"),
                        base_url: format!("http://mirror{m}.example/pub"),
                        rating: 100,
                        ..Default::default()
                    })?
                    .id,
                );
            }
            Ok((locations, mirrors))
        })
        .map_err(lib_err("cannot add the big network's products and mirrors"))?;
    let now = bouncer::model::now();
    let started = Instant::now();
    for (i, &m) in mirrors.iter().enumerate() {
        let rows: Vec<(LocationId, MirrorId, Availability)> =
            locations.iter().map(|&l| (l, m, present(now))).collect();
        store
            .write(&Actor::Sentry, |tx| tx.set_availability_many(&rows))
            .map_err(lib_err("cannot record availability"))?;
        if (i + 1) % 20 == 0 {
            let done = (i + 1) * locations.len();
            println!(
                "nodes: part 2: {}/{} mirrors filled ({done} rows, {:.0} s)",
                i + 1,
                mirrors.len(),
                started.elapsed().as_secs_f64()
            );
        }
    }
    Ok((locations, mirrors, started.elapsed()))
}

/// This process's resident memory in KB (/proc/self/status; 0 elsewhere).
fn rss_kb() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

/// The 1-minute load average (other work on the machine skews figures).
fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|l| l.split_whitespace().next().map(str::to_string))
        .unwrap_or_else(|| "?".into())
}

// ----- report -----

/// The `q`-quantile (0–1) of sorted `v`, nearest rank.
fn quantile<T: Copy>(v: &[T], q: f64) -> T {
    let rank = ((q * v.len() as f64).ceil() as usize).clamp(1, v.len());
    v[rank - 1]
}

fn dur(d: Duration) -> String {
    ms(d.as_secs_f64() * 1e6)
}

fn report(s: &Summary) {
    println!();
    println!("===== summary =====");
    if !s.changes.is_empty() {
        println!();
        println!(
            "1. change to served (commit in this process → node redirects to the newly active mirror; polled every ~1 ms)"
        );
        println!(
            "   {:<6} {:>7} {:>10} {:>10} {:>10} {:>10} {:>10}",
            "node", "changes", "min", "median", "p90", "p99", "max"
        );
        for (node, latencies) in &s.changes {
            let mut v = latencies.clone();
            v.sort();
            if v.is_empty() {
                continue;
            }
            println!(
                "   {:<6} {:>7} {:>10} {:>10} {:>10} {:>10} {:>10}",
                node,
                v.len(),
                dur(v[0]),
                dur(quantile(&v, 0.5)),
                dur(quantile(&v, 0.9)),
                dur(quantile(&v, 0.99)),
                dur(v[v.len() - 1])
            );
        }
        // Slow ones by number: a missed notification shows as about the
        // watcher's polling interval (250 ms).
        for (node, latencies) in &s.changes {
            let slow: Vec<String> = latencies
                .iter()
                .enumerate()
                .filter(|(_, d)| **d > Duration::from_millis(100))
                .map(|(i, d)| format!("#{} {}", i + 1, dur(*d)))
                .collect();
            if !slow.is_empty() {
                println!("   node {node}, changes over 100 ms: {}", slow.join(", "));
            }
        }
        let worst = s
            .changes
            .iter()
            .filter_map(|(_, v)| {
                let mut v = v.clone();
                v.sort();
                (!v.is_empty()).then(|| quantile(&v, 0.99))
            })
            .max()
            .unwrap_or_default();
        println!(
            "   target < 1 s: worst p99 {} → {}",
            dur(worst),
            if worst < Duration::from_secs(1) {
                "met"
            } else {
                "NOT met"
            }
        );
    }
    if let Some(b) = &s.big {
        println!();
        println!(
            "2. startup and refresh, {} mirrors × {} locations = {} availability rows",
            b.mirrors, b.locations, b.rows
        );
        let row = |what: &str, value: String| println!("   {what:<58} {value:>12}");
        row(
            "filling the database through the library",
            format!("{:.1} s", b.populate.as_secs_f64()),
        );
        row(
            "  of which availability (1 transaction per mirror)",
            format!(
                "{:.1} s, {:.0} rows/s",
                b.populate_rows.as_secs_f64(),
                b.rows as f64 / b.populate_rows.as_secs_f64().max(1e-9)
            ),
        );
        row(
            "Network::open (a node's startup: index from the database)",
            dur(b.open),
        );
        row(
            "  resident memory before → after",
            format!("{} → {} MB", b.rss_before_kb / 1024, b.rss_after_kb / 1024),
        );
        row(
            "sentry write turning 1,000 pairs not present",
            dur(b.flip_write),
        );
        row(
            "republish after it (refresh: changed rows + rebuild)",
            dur(b.republish),
        );
        row("a full Network::open after it", dur(b.reopen));
        row(
            "  refresh / full open",
            format!(
                "{:.3}",
                b.republish.as_secs_f64() / b.reopen.as_secs_f64().max(1e-9)
            ),
        );
        row(
            "bouncer serve, start to `listening on`",
            dur(b.serve_startup),
        );
    }
    if !s.sentry.is_empty() {
        println!();
        println!(
            "3. sentry --all write, as sentry makes it: the rows that flip nothing in short transactions\n   outside the generation lock, then one Store::write of the rest, which holds the lock until commit"
        );
        println!(
            "   {:<10} {:>9} {:>8} {:>12} {:>12} {:>12} {:>22}",
            "run", "rows", "flips", "unlocked", "lock held", "rows/s", "rows moved to its gen"
        );
        for w in &s.sentry {
            let total = w.unlocked + w.held;
            println!(
                "   {:<10} {:>9} {:>8} {:>10.2} s {:>10.2} s {:>12.0} {:>22}",
                w.label,
                w.rows,
                w.flips,
                w.unlocked.as_secs_f64(),
                w.held.as_secs_f64(),
                w.rows as f64 / total.as_secs_f64().max(1e-9),
                w.moved
            );
        }
    }
    if !s.wrk.is_empty() {
        println!();
        println!(
            "4. redirects, --threads 1, counting on, wrk -t1 -c{CONNECTIONS}, {} alternating rounds (medians)",
            s.wrk.len()
        );
        let pg_rps = median(s.wrk.iter().map(|r| r.0.requests_per_sec).collect());
        let redb_rps = median(s.wrk.iter().map(|r| r.1.requests_per_sec).collect());
        let pg_p99 = median(s.wrk.iter().map(|r| r.0.p99_us).collect());
        let redb_p99 = median(s.wrk.iter().map(|r| r.1.p99_us).collect());
        println!("   {:<12} {:>10} {:>10}", "node", "req/s", "p99");
        println!(
            "   {:<12} {:>10.0} {:>10}",
            "PostgreSQL",
            pg_rps,
            ms(pg_p99)
        );
        println!("   {:<12} {:>10.0} {:>10}", "redb", redb_rps, ms(redb_p99));
        println!(
            "   PostgreSQL / redb: req/s {:.3}, p99 {:.3}",
            pg_rps / redb_rps,
            pg_p99 / redb_p99
        );
        let errors: Vec<String> = s
            .wrk
            .iter()
            .flat_map(|(a, b)| [a, b])
            .filter(|r| r.non_3xx > 0 || !r.socket_errors.is_empty())
            .map(|r| format!("non-3xx {}, socket errors {:?}", r.non_3xx, r.socket_errors))
            .collect();
        if !errors.is_empty() {
            println!("   note: {}", errors.join("; "));
        }
    }
}

// ----- bouncer serve -----

struct Server {
    guard: Guard,
    addr: SocketAddr,
}

/// `bouncer --db DB serve --threads 1 --no-sentry` on a port of its own,
/// once it says where it listens.
fn start_bouncer(bin: &Path, db: &str, name: &str) -> Result<Server> {
    let (guard, addr) = support::serve(
        Command::new(bin)
            .args(["--db", db, "serve", "--listen", "127.0.0.1:0"])
            .args(["--threads", "1", "--no-sentry"]),
        format!("bouncer node {name}"),
        &format!("bouncer {name}"),
        Duration::from_secs(300),
    )?;
    println!(
        "nodes: bouncer node {name} (pid {}) on http://{addr}",
        guard.pid()
    );
    Ok(Server { guard, addr })
}

// ----- tools -----
