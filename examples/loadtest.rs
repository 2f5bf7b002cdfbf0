//! Load benchmark: redirects per second and tail latency of the real
//! `bouncer serve` binary, next to nginx answering a fixed `return 302` (the
//! floor any redirector can hope for), with and without download counting.
//!
//! Run it with
//!
//! ```text
//! cargo run --release --example loadtest
//! ```
//!
//! It needs `wrk` and `nginx` (Debian: `apt-get install wrk nginx-light`),
//! and for `LOADTEST_TLS=1` also `h2load` (Debian: `nghttp2-client`) and an
//! nginx built with SSL (`--with-http_ssl_module` in `nginx -V`).
//! The release build of `bouncer` is made (or brought up to date) first if
//! `cargo` started this program; otherwise run `cargo build --release`
//! beforehand. The whole run takes about a minute after the build
//! (5 runs of `LOADTEST_SECS` plus a short hostile-path run).
//!
//! What it does: builds a demo-like database in a temporary directory (3
//! products × 4 operating systems × 8 languages, 10 mirrors on 127.0.0.1,
//! every file present everywhere); starts nginx with a generated config and
//! `bouncer serve` with 1 and 2 threads, counting on and off; runs
//! `wrk -t1 -c64 -dNs --latency` against each, on
//! `/?product=firefox-latest&os=win&lang=de`; prints req/s, p99, the ratio
//! to nginx and what counting costs; and checks, after stopping each
//! counting server (SIGTERM flushes its counts), that `bouncer stats` counts
//! as many downloads as wrk made requests. Then the same with GeoIP on: a
//! copy of the database with 500,000 imported IPv4 ranges, three regions
//! (one with a throttle, one with a fallback) and `--trusted-proxy
//! 127.0.0.1`, so every request's `X-Forwarded-For` is read, looked up and
//! sent to its region's pool (wrk sends the same header to every server,
//! nginx included). Last, a short extra run measures a hostile 32 KB
//! `/files/…` path that matches nothing.
//!
//! Sticky picks (SPEC §2.6) against the random pick they replaced, in the
//! same run: alternating rounds on copies of the database with
//! `bounce.sticky` off (random, as before) and on (the default), medians
//! of the rounds, for two kinds of traffic: many clients each asking once
//! (a wrk script gives every request an `X-Forwarded-For` address of its
//! own, `--trusted-proxy 127.0.0.1`; both arms pay for it alike), and one
//! client asking again and again (each request then counts as a retry and
//! takes the next mirror in its ranking: the sticky pick's worst case).
//!
//! Environment:
//! - `LOADTEST_SECS`: seconds per wrk run (default 10, 1–120).
//! - `LOADTEST_HOSTILE=0`: skip the hostile-path run.
//! - `LOADTEST_GEOIP=0`: skip the GeoIP runs (two in the table, then three
//!   alternating off/on rounds whose medians give the GeoIP cost).
//! - `LOADTEST_STICKY=0`: skip the sticky-pick rounds.
//! - `LOADTEST_BASELINE=PATH`: another `bouncer` binary (an earlier build,
//!   e.g. `git worktree add /tmp/old REV && cargo build --release` there)
//!   to compare with this one: alternating rounds, `--threads 1`, counting
//!   on, on the same database; medians and the ratio this / baseline.
//! - `LOADTEST_TLS=1`: run ONLY the HTTPS comparison (none of the above),
//!   described below.
//!
//! HTTPS (`LOADTEST_TLS=1`; SPEC §10; about 3½ minutes with 10 s runs):
//! one self-signed ECDSA P-256 certificate for `localhost` and
//! `127.0.0.1` (rcgen) in the temporary directory, served by nginx
//! (`listen … ssl`, HTTP/2 by ALPN, TLS 1.2 and 1.3, session tickets on,
//! `return 302`, 1 worker, no access log, `keepalive_requests` raised so
//! that, like bouncer, it never closes a keep-alive connection) and by
//! `bouncer serve --threads 1 --tls-listen … --tls-cert … --tls-key …`
//! (counting on; the same network as above, but its mirrors' base URLs
//! are https: bouncer sends a request that came over HTTPS to HTTPS
//! mirrors only, so with the http ones every answer would be a 503).
//! Three alternating rounds (nginx, bouncer, nginx, …), each server
//! started afresh for its turn; the report gives per side the medians of
//! req/s (or connections/s), p50, p99 and the server's CPU time per
//! request (from /proc: nginx's master and worker, all of bouncer's
//! threads), and bouncer / nginx of the medians:
//! - keep-alive: `wrk -t1 -c64 -dNs --latency https://…` (HTTP/1.1, as
//!   wrk offers no ALPN). Target ≥ 0.90.
//! - a new TLS connection per request, full handshakes. Target ≥ 0.80.
//!   Neither wrk nor h2load can measure this: h2load makes all the
//!   requests of a client on one connection (it reconnects only when the
//!   server closes), and with `-H "Connection: close"` both reconnect but
//!   keep the TLS session (wrk's `SSL_shutdown` + `SSL_clear` keeps it;
//!   h2load reuses its `SSL` object likewise), so every handshake after
//!   the first of each connection is a resumption. A probe shows it in
//!   every run (an extra nginx logging `$ssl_session_reused`: all but the
//!   first 4 handshakes of `-c4` resumed). So this program's own client
//!   does it: 64 connections at a time on one thread (tokio, rustls with
//!   ring, resumption off), each: connect, full handshake (ALPN
//!   http/1.1; TLS 1.3, X25519), one `GET` with `Connection: close`, read
//!   to the end, close; latency from connect to the end of the answer.
//!   rustls records for each connection whether its handshake was full or
//!   resumed: the report gives the counts (all full) and the session
//!   tickets the server sent per handshake. The client checks no
//!   certificate or handshake signature (a load generator needs no
//!   authentication; the server signs all the same), so a handshake costs
//!   it less than the server; still, on two cores it can set the pace
//!   against a fast server: the report says how busy its thread was, and
//!   the server CPU per connection compares the servers regardless.
//! - the same with resumption on, each of the 64 connections resuming its
//!   own previous session as wrk's do: informational.
//! - HTTP/2 keep-alive: `h2load -c64 -m10 -n 200000 https://…` (ALPN h2;
//!   h2load gives a mean latency, no percentiles): informational.
//!
//! `LOADTEST_ROTATE=1` runs only the rotating workload (SPEC §10, the
//! redirect's throughput and tail): 2,000 bounce URLs (20 products × 5
//! OSes × 20 languages, 50 mirrors holding every file) requested in turn
//! by `wrk -t1 -c64` with a Lua script that also prints p99.9, against
//! nginx (`return 302`, 1 worker), a bare hyper server with bouncer's
//! server settings and no logic (this program started again with
//! `LOADTEST_BARE_HYPER=ADDR`: what the HTTP stack costs), `bouncer serve
//! --threads 1` and `bouncer serve` with its default thread count; three
//! alternating rounds, medians of req/s, p50, p99, p99.9 and the server's
//! CPU time per request (its processes' user + system time over the
//! run), and the ratios to nginx and to the bare server. Before the
//! rounds it times bouncer's redirect logic alone in this process
//! (`server::route` over the 2,000 URLs, no network). `LOADTEST_BOUNCER_FLAGS` adds
//! flags to both bouncer sides (e.g. `--no-count`). The requests come
//! from 65,521 clients in turn (`X-Forwarded-For` in 10.0.0.0/8, bouncer
//! trusting 127.0.0.1 as its proxy), so no client asks for a file twice
//! in a run, as on a real network; `LOADTEST_CLIENTS=N` sets how many,
//! and `LOADTEST_CLIENTS=1` sends every request as wrk's own: each one a
//! retry of the same client walking its ranking (the costliest pick). With
//! `LOADTEST_BASELINE=PATH` the rounds also run that binary at one thread
//! and at its default, and the report gives this build's ratios to it.
//! `LOADTEST_ROUNDS=N` runs N alternating rounds (default 3, 1–21): more
//! rounds, steadier medians on a noisy machine. `LOADTEST_FEATURES=1` adds
//! bouncer at one thread on the same network with every SPEC §13 selection
//! feature on (address families, country rules, claimed AS numbers and a
//! prefix wrk's clients fall in, share caps, an ASN table of 500,000
//! ranges), in process and in the rounds, with its ratio to all off.
//!
//! Note that wrk runs on the same machine: with few cores, wrk and the
//! server compete for them (the core count is printed).
//!
//! Every child process (nginx, bouncer, wrk, h2load) is stopped when this
//! program ends, also on a panic.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use bouncer::model::{LocationId, MirrorId};
use bouncer::store::{NewMirror, NewProduct, Store};

const WRK: &str = "/usr/bin/wrk";
const NGINX: &str = "/usr/sbin/nginx";
const H2LOAD: &str = "/usr/bin/h2load";
const CONNECTIONS: u32 = 64;
const QUERY: &str = "/?product=firefox-latest&os=win&lang=de";
/// The client every request claims to be (in Germany in the GeoIP runs).
const CLIENT: &str = "198.51.100.7";
/// GeoIP ranges imported for the GeoIP runs.
const GEO_RANGES: u64 = 500_000;
/// Alternating rounds of the baseline comparison (`LOADTEST_BASELINE`).
const BASELINE_ROUNDS: usize = 5;
/// Alternating off/on rounds of the GeoIP comparison.
const GEO_ROUNDS: usize = 3;
/// Alternating random/sticky rounds of the sticky-pick comparison.
const STICKY_ROUNDS: usize = 3;
/// A wrk script that sends every request from a client of its own.
const MANY_CLIENTS_LUA: &str = r#"
local n = 0
request = function()
  n = n + 1
  local ip = string.format("10.%d.%d.%d", math.floor(n / 65536) % 256, math.floor(n / 256) % 256, n % 256)
  return wrk.format(nil, nil, { ["X-Forwarded-For"] = ip })
end
"#;

#[path = "support/rotate.rs"]
mod rotate;
mod support;
#[path = "support/tls.rs"]
mod tls;

use support::{Guard, Result, WrkResult, bouncer_binary, median, ms, tool, which};

fn main() -> ExitCode {
    // Started again as the bare hyper server of the rotating runs.
    if let Ok(addr) = std::env::var(rotate::BARE_HYPER) {
        return match rotate::bare_hyper(&addr) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("loadtest: {e}");
                ExitCode::FAILURE
            }
        };
    }
    // Everything that owns a child process lives inside `run`, so their
    // guards have stopped them before the exit code is returned.
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("loadtest: {e}");
            ExitCode::FAILURE
        }
    }
}

/// wrk against `target` on `addr` as every run here makes it: this
/// program's client address in `X-Forwarded-For`, `script` (a Lua file)
/// if given.
fn run_wrk(
    wrk: &Path,
    addr: SocketAddr,
    target: &str,
    secs: u64,
    script: Option<&Path>,
) -> Result<WrkResult> {
    let header = format!("X-Forwarded-For: {CLIENT}");
    let mut extra: Vec<&std::ffi::OsStr> = vec!["-H".as_ref(), header.as_ref()];
    if let Some(script) = script {
        extra.extend(["-s".as_ref(), script.as_os_str()]);
    }
    support::run_wrk(wrk, addr, target, secs, CONNECTIONS, &extra)
}

// ----- setup -----

/// Whether the switch `name` asks for only the `what` runs: 1 yes; 0,
/// empty or unset no.
fn only(name: &str, what: &str) -> Result<bool> {
    match std::env::var(name).as_deref() {
        Ok("1") => Ok(true),
        Ok("0") | Ok("") | Err(_) => Ok(false),
        Ok(v) => Err(format!("{name}={v:?}: say 1 ({what} runs only) or 0")),
    }
}

fn run() -> Result<()> {
    // Found first: bringing the binaries up to date may replace this file.
    let me = std::env::current_exe().map_err(|e| format!("cannot find this program: {e}"))?;
    let secs: u64 = match std::env::var("LOADTEST_SECS") {
        Ok(v) => v
            .trim()
            .parse::<u64>()
            .map_err(|_| format!("LOADTEST_SECS={v:?} is not a whole number of seconds"))?
            .clamp(1, 120),
        Err(_) => 10,
    };
    let hostile = std::env::var("LOADTEST_HOSTILE").map_or(true, |v| v != "0");
    let geoip = std::env::var("LOADTEST_GEOIP").map_or(true, |v| v != "0");
    let sticky = std::env::var("LOADTEST_STICKY").map_or(true, |v| v != "0");
    let tls = only("LOADTEST_TLS", "HTTPS")?;
    let rotating = only("LOADTEST_ROTATE", "rotating")?;
    let clients = match std::env::var("LOADTEST_CLIENTS") {
        Err(_) => rotate::CLIENTS,
        Ok(v) => v
            .parse::<u32>()
            .ok()
            .filter(|n| (1..=1 << 24).contains(n))
            .ok_or_else(|| {
                format!("LOADTEST_CLIENTS={v:?}: say a number of clients, 1 to 16777216")
            })?,
    };
    let rounds = match std::env::var("LOADTEST_ROUNDS") {
        Err(_) => rotate::ROUNDS,
        Ok(v) => v
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=21).contains(n))
            .ok_or_else(|| format!("LOADTEST_ROUNDS={v:?}: say a number of rounds, 1 to 21"))?,
    };
    let baseline = std::env::var_os("LOADTEST_BASELINE").map(PathBuf::from);
    if let Some(b) = &baseline
        && !b.is_file()
    {
        return Err(format!(
            "LOADTEST_BASELINE={} is not a file: name a bouncer binary",
            b.display()
        ));
    }
    let mut tools = vec![(WRK, "wrk"), (NGINX, "nginx")];
    if tls {
        tools.push((H2LOAD, "h2load"));
    }
    let missing: Vec<&str> = tools
        .into_iter()
        .filter(|(path, name)| !Path::new(path).exists() && which(name).is_none())
        .map(|(_, name)| name)
        .collect();
    if !missing.is_empty() {
        eprintln!(
            "loadtest: {} not found. Install with:\n    apt-get install wrk nginx-light{}\n(or your system's packages for {})",
            missing.join(" and "),
            if tls { " nghttp2-client" } else { "" },
            if tls {
                "wrk, nginx and h2load"
            } else {
                "wrk and nginx"
            },
        );
        return Err("missing tools".into());
    }
    let wrk = tool(WRK, "wrk");
    let nginx = tool(NGINX, "nginx");
    let bouncer = bouncer_binary()?;

    let cores = thread::available_parallelism().map_or(0, |n| n.get());
    println!(
        "loadtest: {secs} s per run, wrk -t1 -c{CONNECTIONS}, {cores} CPU core(s) shared by wrk and the server"
    );
    println!("loadtest: bouncer binary {}", bouncer.display());

    let dir = tempfile::tempdir().map_err(|e| format!("cannot make a temporary directory: {e}"))?;
    if rotating {
        rotate::run(&rotate::Setup {
            me: &me,
            wrk: &wrk,
            nginx: &nginx,
            bouncer: &bouncer,
            dir: dir.path(),
            secs,
            cores,
            flags: std::env::var("LOADTEST_BOUNCER_FLAGS")
                .unwrap_or_default()
                .split_whitespace()
                .map(str::to_string)
                .collect(),
            baseline: baseline.as_deref(),
            clients,
            rounds,
            features: std::env::var("LOADTEST_FEATURES").is_ok_and(|v| v == "1"),
        })?;
        println!("loadtest: done");
        return Ok(());
    }
    let db = dir.path().join("loadtest.redb");
    let started = Instant::now();
    build_database(&db, "http")?;
    println!(
        "loadtest: database built in {:.0} ms at {}",
        started.elapsed().as_secs_f64() * 1e3,
        db.display()
    );

    if tls {
        // The same network with https mirrors: bouncer sends a request
        // that came over HTTPS to HTTPS mirrors only (with the http ones
        // above, every answer would be a 503).
        let https_db = dir.path().join("loadtest-https.redb");
        build_database(&https_db, "https")?;
        tls::run(&tls::Setup {
            wrk: &wrk,
            nginx: &nginx,
            h2load: &tool(H2LOAD, "h2load"),
            bouncer: &bouncer,
            db: &https_db,
            dir: dir.path(),
            secs,
            cores,
        })?;
        println!("loadtest: done in {:.0} s", started.elapsed().as_secs_f64());
        return Ok(());
    }

    let mut rows: Vec<Row> = Vec::new();

    // nginx: the floor.
    {
        let port = free_port()?;
        let mut server = start_nginx(&nginx, dir.path(), port)?;
        let addr: SocketAddr = ([127, 0, 0, 1], port).into();
        check_redirect(addr, QUERY)?;
        let load = load_average();
        let result = run_wrk(&wrk, addr, QUERY, secs, None)?;
        server.stop(Duration::from_secs(5));
        rows.push(Row {
            label: "nginx return 302 (1 worker)".into(),
            threads: 0,
            counting: false,
            geo: false,
            wrk: result,
            counted: None,
            load,
            usage: Vec::new(),
        });
    }

    let geo_db = dir.path().join("loadtest-geoip.redb");
    if geoip {
        let started = Instant::now();
        build_database(&geo_db, "http")?;
        add_geography(&bouncer, &geo_db, dir.path())?;
        println!(
            "loadtest: GeoIP database ({GEO_RANGES} ranges, 3 regions) built in {:.0} ms",
            started.elapsed().as_secs_f64() * 1e3
        );
    }
    let mut runs = vec![
        (1, true, false),
        (2, true, false),
        (1, false, false),
        (2, false, false),
    ];
    if geoip {
        runs.extend([(1, true, true), (2, true, true)]);
    }
    let (mut counted_total, mut geo_counted_total) = (0u64, 0u64);
    for (threads, counting, geo) in runs {
        let (db, extra, counted_total): (&Path, &[&str], &mut u64) = if geo {
            (
                &geo_db,
                &["--trusted-proxy", "127.0.0.1"],
                &mut geo_counted_total,
            )
        } else {
            (&db, &[], &mut counted_total)
        };
        let mut server = start_bouncer(&bouncer, db, threads, counting, extra)?;
        check_redirect(server.addr, QUERY)?;
        if geo {
            check_region(server.addr)?;
        }
        let load = load_average();
        let before = thread_usage(server.guard.pid());
        let result = run_wrk(&wrk, server.addr, QUERY, secs, None)?;
        let usage = usage_delta(&before, &thread_usage(server.guard.pid()));
        let stopped = server.guard.stop(Duration::from_secs(30));
        if !stopped {
            return Err(format!(
                "bouncer --threads {threads} did not stop on SIGTERM; its counts may be lost"
            ));
        }
        let counted = if counting {
            let total = downloads(&bouncer, db)?;
            let delta = total.saturating_sub(*counted_total);
            *counted_total = total;
            Some(delta)
        } else {
            None
        };
        rows.push(Row {
            label: format!(
                "bouncer --threads {threads}{}{}",
                if counting { "" } else { " --no-count" },
                if geo { " +GeoIP" } else { "" }
            ),
            threads,
            counting,
            geo,
            wrk: result,
            counted,
            load,
            usage,
        });
    }

    // GeoIP off and on, alternating, so drift in the machine's speed hits
    // both alike; medians of the rounds.
    let mut geo_ab: Vec<(f64, f64)> = Vec::new();
    if geoip {
        for round in 1..=GEO_ROUNDS {
            let mut pair = [0.0; 2];
            for (i, (db, extra)) in [
                (&db, &[][..]),
                (&geo_db, &["--trusted-proxy", "127.0.0.1"][..]),
            ]
            .into_iter()
            .enumerate()
            {
                let mut server = start_bouncer(&bouncer, db, 1, true, extra)?;
                let result = run_wrk(&wrk, server.addr, QUERY, secs, None)?;
                server.guard.stop(Duration::from_secs(30));
                pair[i] = result.requests_per_sec;
            }
            println!(
                "loadtest: GeoIP round {round}/{GEO_ROUNDS}: off {:.0} req/s, on {:.0} req/s",
                pair[0], pair[1]
            );
            geo_ab.push((pair[0], pair[1]));
        }
    }

    // Random (as before) and sticky picks, alternating; medians.
    let mut sticky_ab: Vec<[f64; 4]> = Vec::new();
    if sticky {
        let random_db = dir.path().join("loadtest-random.redb");
        std::fs::copy(&db, &random_db).map_err(|e| format!("cannot copy the database: {e}"))?;
        let out = Command::new(&bouncer)
            .arg("--db")
            .arg(&random_db)
            .args(["settings", "set", "bounce.sticky", "false"])
            .output()
            .map_err(|e| format!("cannot run bouncer settings: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "bouncer settings set bounce.sticky false failed: {}",
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        let script = dir.path().join("many-clients.lua");
        std::fs::write(&script, MANY_CLIENTS_LUA)
            .map_err(|e| format!("cannot write the wrk script: {e}"))?;
        let proxy: &[&str] = &["--trusted-proxy", "127.0.0.1"];
        for round in 1..=STICKY_ROUNDS {
            let mut figures = [0.0; 4];
            for (i, (db, script)) in [
                (&random_db, Some(&script)),
                (&db, Some(&script)),
                (&random_db, None),
                (&db, None),
            ]
            .into_iter()
            .enumerate()
            {
                let mut server = start_bouncer(&bouncer, db, 1, true, proxy)?;
                let result = run_wrk(&wrk, server.addr, QUERY, secs, script.map(|p| p.as_path()))?;
                server.guard.stop(Duration::from_secs(30));
                figures[i] = result.requests_per_sec;
            }
            println!(
                "loadtest: sticky round {round}/{STICKY_ROUNDS}: many clients random {:.0} / sticky {:.0} req/s; one client random {:.0} / sticky {:.0} req/s",
                figures[0], figures[1], figures[2], figures[3]
            );
            sticky_ab.push(figures);
        }
    }

    // An earlier build against this one, alternating; medians.
    let mut baseline_ab: Vec<(f64, f64)> = Vec::new();
    if let Some(old) = &baseline {
        println!("loadtest: baseline binary {}", old.display());
        for round in 1..=BASELINE_ROUNDS {
            let mut figures = [0.0; 2];
            for (i, bin) in [old, &bouncer].into_iter().enumerate() {
                let mut server = start_bouncer(bin, &db, 1, true, &[])?;
                check_redirect(server.addr, QUERY)?;
                let result = run_wrk(&wrk, server.addr, QUERY, secs, None)?;
                server.guard.stop(Duration::from_secs(30));
                figures[i] = result.requests_per_sec;
            }
            println!(
                "loadtest: baseline round {round}/{BASELINE_ROUNDS}: baseline {:.0} / this build {:.0} req/s",
                figures[0], figures[1]
            );
            baseline_ab.push((figures[0], figures[1]));
        }
    }

    let hostile_row = if hostile {
        let mut path = String::from("/files");
        for i in 0..64 {
            path.push_str(&format!("/t{i}"));
        }
        while path.len() < 32 * 1024 {
            path.push_str("/x");
        }
        let mut server = start_bouncer(&bouncer, &db, 1, false, &[])?;
        let short = secs.min(5);
        let result = run_wrk(&wrk, server.addr, &path, short, None)?;
        server.guard.stop(Duration::from_secs(30));
        Some((short, result))
    } else {
        None
    };

    report(&rows, hostile_row.as_ref());
    if !geo_ab.is_empty() {
        let off = median(geo_ab.iter().map(|p| p.0).collect());
        let on = median(geo_ab.iter().map(|p| p.1).collect());
        println!(
            "GeoIP cost, --threads 1, medians of {GEO_ROUNDS} alternating rounds: off {off:.0} req/s, on {on:.0} req/s: (off − on) / off = {:.1}% (target < 10%)",
            (off - on) / off * 100.0
        );
    }
    if !sticky_ab.is_empty() {
        let of = |i: usize| median(sticky_ab.iter().map(|f| f[i]).collect());
        for (what, random, sticky) in [
            ("many clients, each asking once", of(0), of(1)),
            ("one client asking again and again (retries)", of(2), of(3)),
        ] {
            println!(
                "Sticky pick vs random, --threads 1, {what}, medians of {STICKY_ROUNDS} alternating rounds: random {random:.0} req/s, sticky {sticky:.0} req/s: sticky / random = {:.3}",
                sticky / random
            );
        }
    }
    if !baseline_ab.is_empty() {
        let old = median(baseline_ab.iter().map(|p| p.0).collect());
        let new = median(baseline_ab.iter().map(|p| p.1).collect());
        println!(
            "This build vs the baseline, --threads 1, counting on, medians of {BASELINE_ROUNDS} alternating rounds: baseline {old:.0} req/s, this build {new:.0} req/s: this / baseline = {:.3}",
            new / old
        );
    }
    let mismatches = rows
        .iter()
        .filter(|r| r.counting)
        .filter(|r| r.counted != Some(r.wrk.requests))
        .count();
    if mismatches > 0 {
        println!(
            "note: wrk counts only responses it received before it stopped; requests still in flight at that moment (at most {CONNECTIONS}, one per connection) are redirected and counted by bouncer but not by wrk."
        );
    }
    println!("loadtest: done in {:.0} s", started.elapsed().as_secs_f64());
    Ok(())
}

/// A demo-like network: 3 products × 4 OSes × 8 languages, 10 mirrors on
/// 127.0.0.1 (nothing needs to listen there), every file present; the
/// mirrors' base URLs start with `scheme` (`http`, or `https` for the
/// HTTPS runs: a request over HTTPS goes to HTTPS mirrors only).
fn build_database(db: &Path, scheme: &str) -> Result<()> {
    let err = |e: bouncer::error::Error| format!("cannot build the database: {e}");
    let store = Store::open(db).map_err(err)?;
    let langs: Vec<String> = ["en-US", "de", "fr", "ja", "es-ES", "it", "pt-BR", "ru"]
        .iter()
        .map(|l| l.to_string())
        .collect();
    let products = [
        ("Firefox-120.0", "/firefox/releases/120.0"),
        ("Firefox-115.5.0esr", "/firefox/releases/115.5.0esr"),
        ("Thunderbird-115.5.0", "/thunderbird/releases/115.5.0"),
    ];
    let oses = [
        ("win", "win32/:lang/Setup%20120.0.exe"),
        ("win64", "win64/:lang/Setup%20120.0.exe"),
        ("osx", "mac/:lang/Firefox%20120.0.dmg"),
        ("linux64", "linux-x86_64/:lang/firefox-120.0.tar.bz2"),
    ];
    store
        .write(&bouncer::model::Actor::Program("loadtest"), |tx| {
            let mut mirrors: Vec<MirrorId> = Vec::new();
            for i in 1..=10u32 {
                mirrors.push(
                    tx.mirror_add(NewMirror {
                        name: format!("mirror{i}"),
                        base_url: format!("{scheme}://127.0.0.1:{}/pub/mozilla", 9000 + i),
                        rating: 10 * i,
                        ..Default::default()
                    })?
                    .id,
                );
            }
            let mut locations: Vec<LocationId> = Vec::new();
            for (name, prefix) in products {
                tx.product_add(NewProduct {
                    name: name.into(),
                    languages: langs.clone(),
                    ..Default::default()
                })?;
                for (os, path) in oses {
                    locations.push(tx.location_add(name, os, &format!("{prefix}/{path}"))?.id);
                }
            }
            tx.alias_set("firefox-latest", products[0].0)?;
            support::all_present(tx, &locations, &mirrors)?;
            Ok(())
        })
        .map_err(err)?;
    Ok(())
}

/// Regions for the GeoIP runs (Europe keeps 90% of its downloads, Asia
/// falls back to Europe) and 500,000 IPv4 ranges imported with `bouncer
/// geoip import`, [`CLIENT`]'s in Germany.
fn add_geography(bin: &Path, db: &Path, dir: &Path) -> Result<()> {
    let err = |e: bouncer::error::Error| format!("cannot add regions: {e}");
    {
        let store = Store::open(db).map_err(err)?;
        let region = |name: &str, throttle, fallback: Option<&str>, countries: &[&str]| {
            bouncer::model::Region {
                name: name.into(),
                throttle,
                fallback: fallback.map(Into::into),
                global_fallback: true,
                countries: countries.iter().map(|c| c.to_string()).collect(),
            }
        };
        store
            .write(&bouncer::model::Actor::Program("loadtest"), |tx| {
                tx.region_add(region("europe", 90, None, &["DE", "FR", "GB"]))?;
                tx.region_add(region("north-america", 100, None, &["US", "CA"]))?;
                tx.region_add(region("asia", 100, Some("europe"), &["JP", "CN", "IN"]))?;
                for i in 1..=8 {
                    let r = if i <= 5 { "europe" } else { "north-america" };
                    tx.mirror_update(&format!("mirror{i}"), |m| m.regions = vec![r.into()])?;
                }
                Ok(())
            })
            .map_err(err)?;
    }
    let countries = ["US", "CN", "JP", "DE", "GB", "FR", "IN", "BR", "CA", "KR"];
    let client: std::net::Ipv4Addr = CLIENT.parse().map_err(|_| "bad CLIENT")?;
    let step = (1u64 << 32) / GEO_RANGES;
    let mine = u64::from(u32::from(client)) / step;
    let mut csv = String::with_capacity(GEO_RANGES as usize * 32);
    for i in 0..GEO_RANGES {
        let start = i * step;
        let end = if i + 1 == GEO_RANGES {
            u64::from(u32::MAX)
        } else {
            start + step - 1
        };
        let country = if i == mine {
            "DE"
        } else {
            countries[(i % 10) as usize]
        };
        let ip = |n: u64| std::net::Ipv4Addr::from(n as u32);
        csv.push_str(&format!("{},{},{country}\n", ip(start), ip(end)));
    }
    let file = dir.join("geoip.csv");
    std::fs::write(&file, csv).map_err(|e| format!("cannot write {}: {e}", file.display()))?;
    let out = Command::new(bin)
        .arg("--db")
        .arg(db)
        .args(["geoip", "import"])
        .arg(&file)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run bouncer geoip import: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "bouncer geoip import failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(())
}

/// With GeoIP on, [`CLIENT`] (Germany) must get Europe's mirrors (ports
/// 9001–9005) at least most of the time (Europe keeps 90%).
fn check_region(addr: SocketAddr) -> Result<()> {
    let mut european = 0;
    for _ in 0..50 {
        let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(5))
            .map_err(|e| format!("cannot connect to {addr}: {e}"))?;
        s.set_read_timeout(Some(Duration::from_secs(5))).ok();
        write!(
            s,
            "HEAD {QUERY} HTTP/1.1\r\nHost: {addr}\r\nX-Forwarded-For: {CLIENT}\r\nConnection: close\r\n\r\n"
        )
        .map_err(|e| format!("cannot send to {addr}: {e}"))?;
        let mut head = String::new();
        s.read_to_string(&mut head).ok();
        let location = head
            .lines()
            .find_map(|l| {
                l.strip_prefix("location: ")
                    .or_else(|| l.strip_prefix("Location: "))
            })
            .ok_or_else(|| format!("no Location in {head:?}"))?;
        if (9001..=9005).any(|p| location.contains(&format!(":{p}/"))) {
            european += 1;
        }
    }
    if european < 35 {
        return Err(format!(
            "GeoIP run: only {european} of 50 redirects for a German client went to Europe's mirrors"
        ));
    }
    Ok(())
}

fn free_port() -> Result<u16> {
    let l =
        TcpListener::bind("127.0.0.1:0").map_err(|e| format!("cannot find a free port: {e}"))?;
    l.local_addr()
        .map(|a| a.port())
        .map_err(|e| format!("cannot find a free port: {e}"))
}

fn start_nginx(nginx: &Path, dir: &Path, port: u16) -> Result<Guard> {
    let root = dir.join("nginx");
    std::fs::create_dir_all(&root).map_err(|e| format!("cannot make {}: {e}", root.display()))?;
    let r = root.display();
    let config = format!(
        "daemon off;
worker_processes 1;
error_log {r}/error.log;
pid {r}/nginx.pid;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    client_body_temp_path {r}/body;
    proxy_temp_path {r}/proxy;
    fastcgi_temp_path {r}/fastcgi;
    uwsgi_temp_path {r}/uwsgi;
    scgi_temp_path {r}/scgi;
    server {{
        listen 127.0.0.1:{port};
        location / {{ return 302 http://mirror.example/file; }}
    }}
}}
"
    );
    let guard = launch_nginx(nginx, &root, &config, port)?;
    println!(
        "loadtest: nginx (pid {}) on http://127.0.0.1:{port}",
        guard.pid()
    );
    Ok(guard)
}

/// Starts nginx with `config` (written to `root`/nginx.conf) and waits
/// until it listens on 127.0.0.1:`port`.
fn launch_nginx(nginx: &Path, root: &Path, config: &str, port: u16) -> Result<Guard> {
    let conf = root.join("nginx.conf");
    std::fs::write(&conf, config).map_err(|e| format!("cannot write {}: {e}", conf.display()))?;
    let child = Command::new(nginx)
        .arg("-p")
        .arg(root)
        .arg("-e")
        .arg(root.join("error.log"))
        .arg("-c")
        .arg(&conf)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", nginx.display()))?;
    let mut guard = Guard::new("nginx", child);
    let addr: SocketAddr = ([127, 0, 0, 1], port).into();
    guard
        .await_listener(addr, Duration::from_secs(10))
        .map_err(|e| {
            let log = std::fs::read_to_string(root.join("error.log")).unwrap_or_default();
            format!("{e}:\n{log}")
        })?;
    Ok(guard)
}

struct Server {
    guard: Guard,
    addr: SocketAddr,
}

fn start_bouncer(
    bin: &Path,
    db: &Path,
    threads: usize,
    counting: bool,
    extra: &[&str],
) -> Result<Server> {
    let mut cmd = Command::new(bin);
    cmd.arg("--db")
        .arg(db)
        .args(["serve", "--listen", "127.0.0.1:0", "--threads"])
        .arg(threads.to_string())
        .args(extra);
    if !counting {
        cmd.arg("--no-count");
    }
    cmd.args(quiet_flags(bin));
    let (guard, addr) = support::serve(
        &mut cmd,
        format!("bouncer --threads {threads}"),
        "bouncer",
        Duration::from_secs(30),
    )?;
    println!(
        "loadtest: bouncer --threads {threads}{} {} {} (pid {}) on http://{addr}",
        if counting { "" } else { " --no-count" },
        extra.join(" "),
        quiet_flags(bin).join(" "),
        guard.pid()
    );
    Ok(Server { guard, addr })
}

/// Flags that keep background work (mirror checks) out of the measurement,
/// for the builds that have them.
fn quiet_flags(bin: &Path) -> Vec<&'static str> {
    let help = Command::new(bin)
        .args(["serve", "--help"])
        .stdin(Stdio::null())
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default();
    ["--no-sentry"]
        .into_iter()
        .filter(|f| help.contains(f))
        .collect()
}

/// One HEAD request (not counted as a download): the answer must be a 302.
fn check_redirect(addr: SocketAddr, target: &str) -> Result<()> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(5))
        .map_err(|e| format!("cannot connect to {addr}: {e}"))?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok();
    write!(
        s,
        "HEAD {target} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .map_err(|e| format!("cannot send to {addr}: {e}"))?;
    let mut reply = String::new();
    let _ = s.read_to_string(&mut reply);
    let status = reply.lines().next().unwrap_or("");
    if !status.contains(" 302") {
        return Err(format!(
            "{addr}{target} answered {status:?}, not a 302:\n{reply}"
        ));
    }
    let location = reply
        .lines()
        .find(|l| l.to_ascii_lowercase().starts_with("location:"))
        .unwrap_or("(no location)");
    println!("loadtest: check: {status} {}", location.trim());
    Ok(())
}

// ----- what the server's threads did -----

/// CPU time and context switches of one group of threads (same name).
#[derive(Clone, Copy, Debug, Default)]
struct ThreadUse {
    threads: u32,
    cpu_secs: f64,
    voluntary: u64,
    involuntary: u64,
}

/// Per thread name (`http`, `counters`, …), summed over the threads of
/// `pid`, from /proc (Linux; empty elsewhere).
fn thread_usage(pid: u32) -> Vec<(String, ThreadUse)> {
    let mut out: Vec<(String, ThreadUse)> = Vec::new();
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return out;
    };
    for task in tasks.flatten() {
        let dir = task.path();
        let Ok(stat) = std::fs::read_to_string(dir.join("stat")) else {
            continue;
        };
        let (Some(open), Some(close)) = (stat.find('('), stat.rfind(')')) else {
            continue;
        };
        let name = stat[open + 1..close].to_string();
        let cpu = support::stat_cpu(&stat);
        let status = std::fs::read_to_string(dir.join("status")).unwrap_or_default();
        let field = |key: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(key))
                .and_then(|v| v.trim().parse::<u64>().ok())
                .unwrap_or(0)
        };
        let entry = match out.iter_mut().find(|(n, _)| *n == name) {
            Some(e) => e,
            None => {
                out.push((name, ThreadUse::default()));
                out.last_mut().expect("just pushed")
            }
        };
        entry.1.threads += 1;
        entry.1.cpu_secs += cpu;
        entry.1.voluntary += field("voluntary_ctxt_switches:");
        entry.1.involuntary += field("nonvoluntary_ctxt_switches:");
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

/// `after − before`, by thread name.
fn usage_delta(
    before: &[(String, ThreadUse)],
    after: &[(String, ThreadUse)],
) -> Vec<(String, ThreadUse)> {
    after
        .iter()
        .map(|(name, a)| {
            let b = before
                .iter()
                .find(|(n, _)| n == name)
                .map_or(ThreadUse::default(), |(_, b)| *b);
            (
                name.clone(),
                ThreadUse {
                    threads: a.threads,
                    cpu_secs: (a.cpu_secs - b.cpu_secs).max(0.0),
                    voluntary: a.voluntary.saturating_sub(b.voluntary),
                    involuntary: a.involuntary.saturating_sub(b.involuntary),
                },
            )
        })
        .filter(|(_, u)| u.cpu_secs > 0.0 || u.voluntary + u.involuntary > 0)
        .collect()
}

/// The 1-minute load average (other work on the machine skews figures).
fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|l| l.split_whitespace().next().map(str::to_string))
        .unwrap_or_else(|| "?".into())
}

/// Total downloads `bouncer stats` reports (today and yesterday, in case
/// the run crosses midnight UTC).
fn downloads(bin: &Path, db: &Path) -> Result<u64> {
    let out = Command::new(bin)
        .arg("--db")
        .arg(db)
        .args(["stats", "--days", "2"])
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run bouncer stats: {e}"))?;
    let text = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        return Err(format!(
            "bouncer stats failed: {}{}",
            text,
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    text.lines()
        .find(|l| l.starts_with("downloads over"))
        .and_then(|l| l.rsplit(':').next())
        .and_then(|n| n.trim().parse().ok())
        .ok_or_else(|| format!("cannot read bouncer stats' output:\n{text}"))
}

// ----- report -----

struct Row {
    label: String,
    threads: usize,
    counting: bool,
    geo: bool,
    wrk: WrkResult,
    counted: Option<u64>,
    /// Load average just before the run.
    load: String,
    /// What the server's threads did during the run.
    usage: Vec<(String, ThreadUse)>,
}

fn report(rows: &[Row], hostile: Option<&(u64, WrkResult)>) {
    let nginx = rows.first().map_or(1.0, |r| r.wrk.requests_per_sec);
    println!();
    println!(
        "{:<32} {:>10} {:>10} {:>10} {:>9} {:>8} {:>6}",
        "server", "req/s", "p50", "p99", "vs nginx", "non-3xx", "load"
    );
    for r in rows {
        println!(
            "{:<32} {:>10.0} {:>10} {:>10} {:>8.2}x {:>8} {:>6}{}",
            r.label,
            r.wrk.requests_per_sec,
            ms(r.wrk.p50_us),
            ms(r.wrk.p99_us),
            r.wrk.requests_per_sec / nginx,
            r.wrk.non_3xx,
            r.load,
            if r.wrk.socket_errors.is_empty() {
                String::new()
            } else {
                format!("  (socket errors: {})", r.wrk.socket_errors)
            }
        );
    }
    println!();
    for threads in [1, 2] {
        let find = |counting: bool, geo: bool| {
            rows.iter()
                .find(|r| r.threads == threads && r.counting == counting && r.geo == geo)
                .map(|r| r.wrk.requests_per_sec)
        };
        if let (Some(count), Some(no_count)) = (find(true, false), find(false, false)) {
            println!(
                "counting cost, --threads {threads}: (no-count − count) / no-count = ({no_count:.0} − {count:.0}) / {no_count:.0} = {:.1}%",
                (no_count - count) / no_count * 100.0
            );
        }
        if let (Some(off), Some(on)) = (find(true, false), find(true, true)) {
            println!(
                "GeoIP cost, --threads {threads}: (off − on) / off = ({off:.0} − {on:.0}) / {off:.0} = {:.1}% (target < 10%)",
                (off - on) / off * 100.0
            );
        }
    }
    println!();
    println!("where bouncer's CPU went during each run (from /proc; per 1000 requests):");
    for r in rows.iter().filter(|r| !r.usage.is_empty()) {
        let per_k = 1000.0 / r.wrk.requests.max(1) as f64;
        let parts: Vec<String> = r
            .usage
            .iter()
            .map(|(name, u)| {
                format!(
                    "{name} x{}: {:.2} s CPU ({:.1} ms/1k req), {:.0} voluntary + {:.0} involuntary context switches/1k req",
                    u.threads,
                    u.cpu_secs,
                    u.cpu_secs * 1e3 * per_k,
                    u.voluntary as f64 * per_k,
                    u.involuntary as f64 * per_k,
                )
            })
            .collect();
        println!("  {}:", r.label);
        for p in parts {
            println!("    {p}");
        }
    }
    println!();
    for r in rows.iter().filter(|r| r.counting) {
        let counted = r.counted.unwrap_or(0);
        let verdict = if counted == r.wrk.requests {
            "equal".to_string()
        } else {
            format!("differ by {}", counted as i64 - r.wrk.requests as i64)
        };
        println!(
            "counts, {}: wrk made {} requests, bouncer stats counted {} downloads: {verdict}",
            r.label, r.wrk.requests, counted
        );
    }
    if let Some((secs, h)) = hostile {
        println!();
        println!(
            "hostile /files path (32 KB, 64 distinct tokens, 404), bouncer --threads 1 --no-count, {secs} s: {:.0} req/s, p99 {} ({} responses, all 404 expected: non-3xx {})",
            h.requests_per_sec,
            ms(h.p99_us),
            h.requests,
            h.non_3xx
        );
    }
}
