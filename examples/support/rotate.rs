//! The rotating workload of `loadtest` (`LOADTEST_ROTATE=1`, SPEC §10):
//! 2,000 bounce URLs (20 products × 5 operating systems × 20 languages,
//! 50 mirrors with every file), requested in turn by `wrk -t1 -c64`,
//! against nginx (`return 302`, 1 worker), a bare hyper server with
//! bouncer's server settings and no logic (what the HTTP stack costs), and
//! `bouncer serve` with `--threads 1` and with the default thread count.
//! Alternating rounds; medians of req/s, p50, p99, p99.9 and the server's
//! CPU time per request.

use std::net::SocketAddr;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use bouncer::model::{LocationId, MirrorId};
use bouncer::store::{NewMirror, NewProduct, Store};

use crate::support::{self, Guard, Result, WrkResult, median, ms};
use crate::{CONNECTIONS, check_redirect, free_port, start_bouncer, start_nginx};

/// Alternating rounds by default (`LOADTEST_ROUNDS`); the figures are
/// their medians.
pub const ROUNDS: usize = 3;
const PRODUCTS: usize = 20;
const OSES: [&str; 5] = ["win", "win64", "osx", "linux", "linux64"];
const LANGS: [&str; 20] = [
    "en-US", "de", "fr", "ja", "es-ES", "it", "pt-BR", "ru", "pl", "nl", "sv-SE", "zh-CN", "zh-TW",
    "ko", "tr", "cs", "fi", "da", "nb-NO", "uk",
];
const MIRRORS: u32 = 50;
/// The environment variable that makes this program the bare hyper
/// server (its value: the address to listen on).
pub const BARE_HYPER: &str = "LOADTEST_BARE_HYPER";

/// What `run` needs from `loadtest`.
pub struct Setup<'a> {
    /// This program's file, found before `cargo build` may replace it
    /// (then `/proc/self/exe` names a deleted file).
    pub me: &'a Path,
    pub wrk: &'a Path,
    pub nginx: &'a Path,
    pub bouncer: &'a Path,
    pub dir: &'a Path,
    pub secs: u64,
    pub cores: usize,
    /// More `bouncer serve` flags (`LOADTEST_BOUNCER_FLAGS`, split on
    /// spaces), e.g. `--no-count` to see what counting costs the tail.
    pub flags: Vec<String>,
    /// An earlier `bouncer` build run beside this one
    /// (`LOADTEST_BASELINE`): each change is measured against the one
    /// before in the same rounds.
    pub baseline: Option<&'a Path>,
    /// Distinct clients the requests come from (`LOADTEST_CLIENTS`,
    /// default [`CLIENTS`]); 1: all from wrk's own address.
    pub clients: u32,
    /// Alternating rounds (`LOADTEST_ROUNDS`, default [`ROUNDS`]).
    pub rounds: usize,
    /// Also run bouncer at one thread on the same network with every
    /// SPEC §13 selection feature on (`LOADTEST_FEATURES=1`).
    pub features: bool,
}

/// The rotation's URLs, in the order they are requested.
fn urls() -> Vec<String> {
    let mut urls = Vec::with_capacity(PRODUCTS * OSES.len() * LANGS.len());
    for p in 1..=PRODUCTS {
        for os in OSES {
            for lang in LANGS {
                urls.push(format!("/?product=product{p:02}&os={os}&lang={lang}"));
            }
        }
    }
    urls
}

/// Distinct clients in the rotation by default: a prime, so that the
/// (client, URL) pairs repeat only after 2,000 × 65,521 requests (hours
/// of a run), as many different clients behind a load balancer would
/// send them.
pub const CLIENTS: u32 = 65_521;

/// The wrk script: every request the next URL of the rotation, from the
/// next of `clients` client addresses (`X-Forwarded-For` from a trusted
/// proxy: 10.0.0.0/8; with one client, no header: every request is the
/// same client's, retrying each file over and over); p99.9 printed at
/// the end (wrk's `--latency` stops at p99).
fn lua(urls: &[String], clients: u32) -> String {
    let paths: Vec<String> = urls.iter().map(|u| format!("\"{u}\"")).collect();
    format!(
        r#"
local paths = {{{paths}}}
local clients = {clients}
local i = 0
local c = 0
request = function()
  i = i % #paths + 1
  if clients == 1 then
    return wrk.format("GET", paths[i])
  end
  c = c % clients + 1
  local from = string.format("10.%d.%d.%d", math.floor(c / 65536) % 256, math.floor(c / 256) % 256, c % 256)
  return wrk.format("GET", paths[i], {{["X-Forwarded-For"] = from}})
end
done = function(summary, latency, requests)
  io.write(string.format("p99.9: %dus\n", latency:percentile(99.9)))
end
"#,
        paths = paths.join(",\n"),
    )
}

/// The network: 20 products × 5 OSes × 20 languages, 50 mirrors holding
/// every file and healthy (as after a sentry run).
fn build_database(db: &Path) -> Result<()> {
    let err = |e: bouncer::error::Error| format!("cannot build the database: {e}");
    let store = Store::open(db).map_err(err)?;
    store
        .write(&bouncer::model::Actor::Program("loadtest"), |tx| {
            let mut mirrors: Vec<MirrorId> = Vec::new();
            for i in 1..=MIRRORS {
                let mirror = tx.mirror_add(NewMirror {
                    name: format!("mirror{i:02}"),
                    base_url: format!("http://127.0.0.1:{}/pub", 10_000 + i),
                    rating: 10 + i,
                    ..Default::default()
                })?;
                mirrors.push(mirror.id);
            }
            let mut locations: Vec<LocationId> = Vec::new();
            for p in 1..=PRODUCTS {
                let name = format!("product{p:02}");
                tx.product_add(NewProduct {
                    name: name.clone(),
                    languages: LANGS.iter().map(|l| l.to_string()).collect(),
                    ..Default::default()
                })?;
                for os in OSES {
                    let path = format!("/{name}/{os}/:lang/setup-{p}.bin");
                    locations.push(tx.location_add(&name, os, &path)?.id);
                }
            }
            support::all_present(tx, &locations, &mirrors)?;
            Ok(())
        })
        .map_err(err)
}

/// Ranges of the ASN table of the §13 run.
const ASN_RANGES: u32 = 500_000;

/// The same network with every SPEC §13 selection feature on, as a big
/// network would have them: a tenth of the mirrors IPv6 only and a tenth
/// IPv4 only, some serving only Germany or never China and Russia, five
/// claiming AS numbers and one a prefix that wrk's clients (10.0.0.0/16)
/// fall in (about one in ten of them gets its network's mirrors), the
/// five biggest capped at 3% each, and an ASN table of 500,000 ranges.
fn add_features(db: &Path) -> Result<()> {
    use bouncer::geoip::asn::AsnDb;
    use bouncer::model::audience::{parse_countries, parse_networks};
    let err = |e: bouncer::error::Error| format!("cannot turn the features on: {e}");
    // 10.0.0.0/16 in /24s, AS1 to AS256, then blocks of 1,024 from
    // 16.0.0.0 with AS numbers up to 60,000, and a tenth as many IPv6.
    let v4: Vec<(u32, u32, u32)> = (0..256u32)
        .map(|i| (0x0a00_0000 + (i << 8), 0x0a00_0000 + (i << 8) + 255, i + 1))
        .chain((0..ASN_RANGES * 9 / 10 - 256).map(|i| {
            let start = 0x1000_0000 + i * 1024;
            (start, start + 1023, i % 60_000 + 257)
        }))
        .collect();
    let v6: Vec<(u128, u128, u32)> = (0..ASN_RANGES / 10)
        .map(|i| {
            let start = (0x2a00u128 << 112) | (u128::from(i) << 80);
            (start, start | ((1u128 << 80) - 1), i % 60_000 + 1)
        })
        .collect();
    let (mut asn, _) = AsnDb::from_ranges(v4, v6);
    asn.source = "loadtest".into();
    let store = Store::open(db).map_err(err)?;
    store
        .write(&bouncer::model::Actor::Program("loadtest"), |tx| {
            tx.asn_put(Some(&asn))?;
            for i in 1..=MIRRORS {
                tx.mirror_update(&format!("mirror{i:02}"), |m| {
                    let a = &mut m.audience;
                    match i % 10 {
                        0 => m.families = bouncer::model::Families::V6Only,
                        1 => m.families = bouncer::model::Families::V4Only,
                        2 => a.only = parse_countries("DE").expect("a country"),
                        3 => a.never = parse_countries("CN,RU").expect("countries"),
                        _ => {}
                    }
                    if i <= 5 {
                        a.networks = parse_networks(&format!("AS{i}")).expect("an AS number");
                    } else if i == 6 {
                        a.networks = parse_networks("10.0.128.0/20").expect("a prefix");
                    }
                    if i > MIRRORS - 5 {
                        a.max_share = Some(3);
                    }
                })?;
            }
            Ok(())
        })
        .map_err(err)
}

/// The bare hyper server: bouncer's HTTP settings (a multi-threaded tokio
/// runtime with one worker, HTTP/1.1 with the same timer, header timeout,
/// buffer cap and keep-alive, `TCP_NODELAY`), answering every request
/// with the same 302. Runs until killed.
pub fn bare_hyper(addr: &str) -> Result<()> {
    use hyper::server::conn::http1;
    use hyper_util::rt::{TokioIo, TokioTimer};
    let addr: SocketAddr = addr
        .parse()
        .map_err(|_| format!("{BARE_HYPER}={addr:?} is not IP:PORT"))?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start a runtime: {e}"))?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|e| format!("cannot listen on {addr}: {e}"))?;
        let mut builder = http1::Builder::new();
        builder
            .timer(TokioTimer::new())
            .header_read_timeout(Duration::from_secs(10))
            .max_buf_size(64 * 1024)
            .max_header_size(64 * 1024)
            .keep_alive(true);
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let _ = stream.set_nodelay(true);
            let service = hyper::service::service_fn(|_req: hyper::Request<_>| async {
                let reply = hyper::Response::builder()
                    .status(302)
                    .header("location", "http://mirror.example/file")
                    .header("cache-control", "max-age=60")
                    .body(http_body_util::Full::new(bytes::Bytes::new()))
                    .expect("a fixed answer");
                Ok::<_, std::convert::Infallible>(reply)
            });
            let conn = builder.serve_connection(TokioIo::new(stream), service);
            tokio::spawn(conn);
        }
    })
}

/// This program (`me`) again, as the bare hyper server on a free port.
fn start_bare_hyper(me: &Path) -> Result<(Guard, SocketAddr)> {
    let port = free_port()?;
    let addr: SocketAddr = ([127, 0, 0, 1], port).into();
    let child = Command::new(me)
        .env(BARE_HYPER, addr.to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| format!("cannot start the bare hyper server: {e}"))?;
    let mut guard = Guard::new("the bare hyper server", child);
    guard.await_listener(addr, Duration::from_secs(10))?;
    Ok((guard, addr))
}

/// One wrk run of the rotation against `addr`: its figures and p99.9.
fn measure(wrk: &Path, addr: SocketAddr, secs: u64, script: &Path) -> Result<(WrkResult, f64)> {
    let script = ["-s".as_ref(), script.as_os_str()];
    let url = format!("http://{addr}/");
    let out = support::wrk_output(wrk, &url, secs, CONNECTIONS, &script)?;
    let result =
        support::parse_wrk(&out).ok_or_else(|| format!("cannot read wrk's output:\n{out}"))?;
    let p999 = out
        .lines()
        .find_map(|l| l.trim().strip_prefix("p99.9:"))
        .and_then(support::duration_us)
        .ok_or_else(|| format!("no p99.9 in wrk's output:\n{out}"))?;
    Ok((result, p999))
}

/// What bouncer's own logic costs a redirect, without the network: the
/// median over 5 passes of nanoseconds a request for `server::route`
/// answering the rotation in this process from `clients` clients as wrk
/// sends it (counting on). With a `LOADTEST_BASELINE` that is another
/// binary, this build's figure only.
fn in_process_ns(db: &Path, urls: &[String], clients: u32) -> Result<f64> {
    use bouncer::network::Network;
    use std::sync::Arc;
    let network =
        Network::open(db, true).map_err(|e| format!("cannot open {}: {e}", db.display()))?;
    let network = Arc::new(network);
    let counters = Arc::new(bouncer::counters::Counters::start(
        network.clone(),
        Duration::from_secs(1),
    ));
    let app = bouncer::bounce::Bouncer::new(
        network,
        bouncer::config::Config::default(),
        counters.clone(),
    );
    let requests: Vec<hyper::Request<()>> = urls
        .iter()
        .map(|u| hyper::Request::get(u).body(()).expect("a request"))
        .collect();
    let mut c = 0u32;
    let mut passes = Vec::new();
    for _ in 0..5 {
        let started = Instant::now();
        let mut n = 0u64;
        for _ in 0..100 {
            for req in &requests {
                let peer: std::net::IpAddr = if clients == 1 {
                    [127, 0, 0, 1].into()
                } else {
                    c = c % clients + 1;
                    std::net::Ipv4Addr::from(0x0a00_0000 | c).into()
                };
                let reply = bouncer::server::route(&app, req, peer);
                assert_eq!(reply.status(), 302);
                n += 1;
            }
        }
        passes.push(started.elapsed().as_secs_f64() * 1e9 / n as f64);
        bouncer::counters::flush_thread();
    }
    counters.stop();
    passes.sort_by(f64::total_cmp);
    Ok(passes[passes.len() / 2])
}

/// What a side of the comparison runs.
enum Side<'a> {
    Nginx,
    BareHyper,
    /// A `bouncer serve` binary with `--threads` (0: its default) on a
    /// database.
    Bouncer {
        bin: &'a Path,
        threads: usize,
        db: &'a Path,
    },
}

/// The sides compared, in the order each round runs them: nginx, the bare
/// server, bouncer at one thread and at its default, and with a baseline
/// the same two of the baseline binary.
fn sides<'a>(s: &'a Setup<'_>, db: &'a Path, features: &'a Path) -> Vec<(String, Side<'a>)> {
    let mut sides = vec![
        ("nginx return 302 (1 worker)".to_string(), Side::Nginx),
        (
            "bare hyper (bouncer's settings, 1 worker)".to_string(),
            Side::BareHyper,
        ),
    ];
    let mut bouncers = vec![("bouncer", s.bouncer)];
    if let Some(baseline) = s.baseline {
        bouncers.push(("baseline", baseline));
    }
    for (name, bin) in bouncers {
        sides.push((
            format!("{name} --threads 1"),
            Side::Bouncer {
                bin,
                threads: 1,
                db,
            },
        ));
        sides.push((
            format!("{name} (default threads)"),
            Side::Bouncer {
                bin,
                threads: 0,
                db,
            },
        ));
    }
    if s.features {
        sides.push((
            "bouncer --threads 1, §13 features on".to_string(),
            Side::Bouncer {
                bin: s.bouncer,
                threads: 1,
                db: features,
            },
        ));
    }
    sides
}

/// What one wrk run of one side measured.
struct Figures {
    wrk: WrkResult,
    p999: f64,
    /// The server's CPU time (its processes') per request answered.
    cpu_us: f64,
}

/// Runs the rounds and prints the report.
pub fn run(s: &Setup<'_>) -> Result<()> {
    let db = s.dir.join("loadtest-rotate.redb");
    let started = Instant::now();
    build_database(&db)?;
    let urls = urls();
    println!(
        "loadtest: rotating network ({PRODUCTS} products × {} OSes × {} languages = {} URLs, {MIRRORS} mirrors) built in {:.0} ms",
        OSES.len(),
        LANGS.len(),
        urls.len(),
        started.elapsed().as_secs_f64() * 1e3
    );
    let logic = in_process_ns(&db, &urls, s.clients)?;
    println!(
        "loadtest: bouncer's redirect logic in this process (server::route, no network): {logic:.0} ns a request"
    );
    let features = s.dir.join("loadtest-rotate-features.redb");
    if s.features {
        let started = Instant::now();
        build_database(&features)?;
        add_features(&features)?;
        println!(
            "loadtest: the same network with every §13 feature on ({ASN_RANGES} ASN ranges) built in {:.0} ms",
            started.elapsed().as_secs_f64() * 1e3
        );
        let on = in_process_ns(&features, &urls, s.clients)?;
        println!(
            "loadtest: redirect logic in this process with every §13 feature on: {on:.0} ns a request ({:.3}x off)",
            on / logic
        );
    }
    let script = s.dir.join("rotate.lua");
    std::fs::write(&script, lua(&urls, s.clients))
        .map_err(|e| format!("cannot write {}: {e}", script.display()))?;
    let sides = sides(s, &db, &features);
    let mut figures: Vec<Vec<Figures>> = (0..sides.len()).map(|_| Vec::new()).collect();
    for round in 1..=s.rounds {
        for (n, (label, side)) in sides.iter().enumerate() {
            let (mut guard, addr) = match side {
                Side::Nginx => {
                    let port = free_port()?;
                    (
                        start_nginx(s.nginx, s.dir, port)?,
                        ([127, 0, 0, 1], port).into(),
                    )
                }
                Side::BareHyper => start_bare_hyper(s.me)?,
                &Side::Bouncer { bin, threads, db } => {
                    let mut flags: Vec<&str> = s.flags.iter().map(String::as_str).collect();
                    if s.clients > 1 {
                        flags.extend(["--trusted-proxy", "127.0.0.1"]);
                    }
                    let server = start_bouncer(bin, db, threads, true, &flags)?;
                    check_redirect(server.addr, &urls[0])?;
                    (server.guard, server.addr)
                }
            };
            let cpu_before = support::tree_cpu_secs(guard.pid());
            let (result, p999) = measure(s.wrk, addr, s.secs, &script)?;
            let cpu = support::tree_cpu_secs(guard.pid()) - cpu_before;
            let cpu_us = cpu * 1e6 / result.requests.max(1) as f64;
            guard.stop(Duration::from_secs(30));
            if result.non_3xx > 0 || !result.socket_errors.is_empty() {
                println!(
                    "loadtest: {label}: {} answers not 3xx, socket errors {:?}",
                    result.non_3xx, result.socket_errors
                );
            }
            println!(
                "loadtest: round {round}, {label}: {:.0} req/s, p50 {}, p99 {}, p99.9 {}, server CPU {cpu_us:.2} µs a request",
                result.requests_per_sec,
                ms(result.p50_us),
                ms(result.p99_us),
                ms(p999)
            );
            figures[n].push(Figures {
                wrk: result,
                p999,
                cpu_us,
            });
        }
    }
    println!();
    println!(
        "Rotating workload: {} URLs from {} client(s), wrk -t1 -c{CONNECTIONS} -d{}s, medians of {} alternating rounds, {} CPU core(s) shared by wrk and the server",
        urls.len(),
        s.clients,
        s.secs,
        s.rounds,
        s.cores
    );
    println!(
        "{:<44} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9}",
        "server", "req/s", "p50", "p99", "p99.9", "CPU µs/req", "vs nginx"
    );
    let mut medians = Vec::new();
    for (n, (label, _)) in sides.iter().enumerate() {
        let of = |f: fn(&Figures) -> f64| median(figures[n].iter().map(f).collect());
        let rps = of(|r| r.wrk.requests_per_sec);
        let (p50, p99, p999) = (of(|r| r.wrk.p50_us), of(|r| r.wrk.p99_us), of(|r| r.p999));
        let cpu = of(|r| r.cpu_us);
        medians.push((rps, p99, cpu));
        let ratio = rps / medians[0].0;
        println!(
            "{label:<44} {rps:>9.0} {:>9} {:>9} {:>9} {cpu:>10.2} {ratio:>8.3}x",
            ms(p50),
            ms(p99),
            ms(p999)
        );
    }
    let (nginx, bare, one, default) = (medians[0], medians[1], medians[2], medians[3]);
    println!();
    println!(
        "bouncer --threads 1 / nginx = {:.3} (target ≥ 0.95), p99 {} (target < 1 ms); default threads / nginx = {:.3} (target ≥ 0.90)",
        one.0 / nginx.0,
        ms(one.1),
        default.0 / nginx.0
    );
    println!(
        "what bouncer adds to the HTTP stack: bouncer --threads 1 / bare hyper = {:.3} in req/s, {:+.2} µs of server CPU a request; bare hyper / nginx = {:.3}",
        one.0 / bare.0,
        one.2 - bare.2,
        bare.0 / nginx.0
    );
    if s.features {
        let on = medians[medians.len() - 1];
        println!(
            "§13 features on / off at --threads 1: req/s {:.3} (target ≥ 0.95), p99 {} vs {}, CPU {:.2} vs {:.2} µs a request",
            on.0 / one.0,
            ms(on.1),
            ms(one.1),
            on.2,
            one.2
        );
    }
    if let &[base_one, base_default, ..] = &medians[4..] {
        println!(
            "against the baseline: --threads 1 req/s {:.3}, p99 {} vs {}, CPU {:.2} vs {:.2} µs a request; default threads req/s {:.3}, p99 {} vs {}",
            one.0 / base_one.0,
            ms(one.1),
            ms(base_one.1),
            one.2,
            base_one.2,
            default.0 / base_default.0,
            ms(default.1),
            ms(base_default.1)
        );
    }
    Ok(())
}
