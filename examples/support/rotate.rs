//! The rotating workload of `loadtest` (`LOADTEST_ROTATE=1`, SPEC §10):
//! 2,000 bounce URLs (20 products × 5 operating systems × 20 languages,
//! 50 mirrors with every file), requested in turn by `wrk -t1 -c64`,
//! against nginx (`return 302`, 1 worker), a bare hyper server with
//! bouncer's server settings and no logic (what the HTTP stack costs), and
//! `bouncer serve` with `--threads 1` and with the default thread count.
//! Alternating rounds; medians of req/s, p50, p99 and p99.9.

use std::net::SocketAddr;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use bouncer::model::{LocationId, MirrorId};
use bouncer::store::{NewMirror, NewProduct, Store};

use crate::support::{self, Guard, Result, WrkResult};
use crate::{CONNECTIONS, check_redirect, free_port, start_bouncer, start_nginx};

/// Alternating rounds; the figures are their medians.
const ROUNDS: usize = 3;
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
}

/// The first URL of the rotation (for a sanity check).
fn first_url() -> String {
    format!("/?product=product01&os={}&lang={}", OSES[0], LANGS[0])
}

/// The wrk script: every request the next URL of the rotation; p99.9
/// printed at the end (wrk's `--latency` stops at p99).
fn lua() -> String {
    let quoted = |list: &[&str]| {
        list.iter()
            .map(|s| format!("\"{s}\""))
            .collect::<Vec<_>>()
            .join(",")
    };
    format!(
        r#"
local oses = {{{oses}}}
local langs = {{{langs}}}
local paths = {{}}
for p = 1, {PRODUCTS} do
  for _, os in ipairs(oses) do
    for _, lang in ipairs(langs) do
      paths[#paths + 1] = string.format("/?product=product%02d&os=%s&lang=%s", p, os, lang)
    end
  end
end
local i = 0
request = function()
  i = i % #paths + 1
  return wrk.format("GET", paths[i])
end
done = function(summary, latency, requests)
  io.write(string.format("p99.9: %dus\n", latency:percentile(99.9)))
end
"#,
        oses = quoted(&OSES),
        langs = quoted(&LANGS),
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

/// What a side of the comparison runs.
enum Side<'a> {
    Nginx,
    BareHyper,
    /// A `bouncer serve` binary with `--threads` (0: its default).
    Bouncer { bin: &'a Path, threads: usize },
}

/// The sides compared, in the order each round runs them: nginx, the bare
/// server, bouncer at one thread and at its default, and with a baseline
/// the same two of the baseline binary.
fn sides<'a>(s: &'a Setup<'_>) -> Vec<(String, Side<'a>)> {
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
            Side::Bouncer { bin, threads: 1 },
        ));
        sides.push((
            format!("{name} (default threads)"),
            Side::Bouncer { bin, threads: 0 },
        ));
    }
    sides
}

/// Runs the rounds and prints the report.
pub fn run(s: &Setup<'_>) -> Result<()> {
    let db = s.dir.join("loadtest-rotate.redb");
    let started = Instant::now();
    build_database(&db)?;
    println!(
        "loadtest: rotating network ({PRODUCTS} products × {} OSes × {} languages = {} URLs, {MIRRORS} mirrors) built in {:.0} ms",
        OSES.len(),
        LANGS.len(),
        PRODUCTS * OSES.len() * LANGS.len(),
        started.elapsed().as_secs_f64() * 1e3
    );
    let script = s.dir.join("rotate.lua");
    std::fs::write(&script, lua())
        .map_err(|e| format!("cannot write {}: {e}", script.display()))?;
    let sides = sides(s);
    let mut figures: Vec<Vec<(WrkResult, f64)>> = vec![Vec::new(); sides.len()];
    for round in 1..=ROUNDS {
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
                &Side::Bouncer { bin, threads } => {
                    let counting = !s.flags.iter().any(|f| f == "--no-count");
                    let flags: Vec<&str> = (s.flags.iter())
                        .filter(|f| *f != "--no-count")
                        .map(String::as_str)
                        .collect();
                    let server = start_bouncer(bin, &db, threads, counting, &flags)?;
                    check_redirect(server.addr, &first_url())?;
                    (server.guard, server.addr)
                }
            };
            let (result, p999) = measure(s.wrk, addr, s.secs, &script)?;
            guard.stop(Duration::from_secs(30));
            if result.non_3xx > 0 || !result.socket_errors.is_empty() {
                println!(
                    "loadtest: {label}: {} answers not 3xx, socket errors {:?}",
                    result.non_3xx, result.socket_errors
                );
            }
            println!(
                "loadtest: round {round}, {label}: {:.0} req/s, p50 {}, p99 {}, p99.9 {}",
                result.requests_per_sec,
                crate::ms(result.p50_us),
                crate::ms(result.p99_us),
                crate::ms(p999)
            );
            figures[n].push((result, p999));
        }
    }
    println!();
    println!(
        "Rotating workload: {} URLs, wrk -t1 -c{CONNECTIONS} -d{}s, medians of {ROUNDS} alternating rounds, {} CPU core(s) shared by wrk and the server",
        PRODUCTS * OSES.len() * LANGS.len(),
        s.secs,
        s.cores
    );
    println!(
        "{:<44} {:>9} {:>9} {:>9} {:>9} {:>9}",
        "server", "req/s", "p50", "p99", "p99.9", "vs nginx"
    );
    let median = |v: Vec<f64>| {
        let mut v = v;
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let mut medians = Vec::new();
    for (n, (label, _)) in sides.iter().enumerate() {
        let of = |f: fn(&(WrkResult, f64)) -> f64| median(figures[n].iter().map(f).collect());
        let rps = of(|r| r.0.requests_per_sec);
        let (p50, p99, p999) = (of(|r| r.0.p50_us), of(|r| r.0.p99_us), of(|r| r.1));
        medians.push((rps, p99));
        let ratio = rps / medians[0].0;
        println!(
            "{label:<44} {rps:>9.0} {:>9} {:>9} {:>9} {ratio:>8.3}x",
            crate::ms(p50),
            crate::ms(p99),
            crate::ms(p999)
        );
    }
    let (nginx, bare, one, default) = (medians[0], medians[1], medians[2], medians[3]);
    println!();
    println!(
        "bouncer --threads 1 / nginx = {:.3} (target ≥ 0.95), p99 {} (target < 1 ms); default threads / nginx = {:.3} (target ≥ 0.90)",
        one.0 / nginx.0,
        crate::ms(one.1),
        default.0 / nginx.0
    );
    println!(
        "what bouncer adds to the HTTP stack: bouncer --threads 1 / bare hyper = {:.3}; bare hyper / nginx = {:.3}",
        one.0 / bare.0,
        bare.0 / nginx.0
    );
    if let &[base_one, base_default] = &medians[4..] {
        println!(
            "against the baseline: --threads 1 req/s {:.3}, p99 {} vs {}; default threads req/s {:.3}, p99 {} vs {}",
            one.0 / base_one.0,
            crate::ms(one.1),
            crate::ms(base_one.1),
            default.0 / base_default.0,
            crate::ms(default.1),
            crate::ms(base_default.1)
        );
    }
    Ok(())
}
