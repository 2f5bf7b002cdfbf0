//! Sentry benchmarks, against real HTTP servers on 127.0.0.1 that this
//! program starts itself (std::net, one thread per connection, keep-alive).
//!
//! 1. Concurrency: 50 mirrors (50 listeners) x 200 files, every answer
//!    delayed 20 ms by the server (the simulated network), checked by
//!    `pool::execute` with the real `Prober` (ureq), 64 threads, 4 checks per
//!    mirror. Ideal wall time = checks x 20 ms / 64. The server counts the
//!    connections it accepts, so connection reuse by the prober shows.
//!    A second pass charges one extra 20 ms round trip for each new
//!    connection (as a TCP handshake on a real network would; TLS adds more),
//!    with the real `Prober` and, for comparison, with a HEAD-only probe
//!    whose ureq agent keeps enough idle connections for the pool's
//!    concurrency.
//! 2. Hashing: a 512 MiB file of random bytes in a temporary directory,
//!    served over loopback: `Prober::digests` (MD5, SHA-1 and SHA-256 in one
//!    pass) next to coreutils `sha1sum`, `sha256sum` and `md5sum` on the same
//!    file (page cache warm), `hash_stream` on an in-memory slice and each
//!    digest alone in memory (read from a 512 MiB buffer in RAM, so a bit
//!    slower than on cache-hot data), and a prototype that downloads the
//!    file the same way but computes SHA-256 only. Process CPU time is
//!    sampled to show how many of the machine's cores each one keeps busy
//!    (the loopback server's sendfile runs in this process too); machine-wide
//!    CPU time shows other processes' load, and a repetition disturbed by it
//!    is redone (up to 3 more times).
//!
//! Figures are medians over a few runs; MB/s means 10^6 bytes per second.
//! Run with `cargo bench --bench sentry` (about 45 s after the build).
//! Without `--bench` (`cargo test --benches`) it runs tiny sizes as a smoke
//! test.

use std::fs::File;
use std::hint::black_box;
use std::io::{self, BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, mpsc};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use bouncer::model::Family;
use bouncer::model::{LocationId, MirrorId};
use bouncer::sentry::plan::{Check, MirrorPlan};
use bouncer::sentry::pool::{self, Limits, Probe};
use bouncer::sentry::probe::{ProbeConfig, Prober, hash_stream};
use bouncer::sentry::verdict::{Digests, Expected, Failure, FileVerdict, Observation};
use md5::Md5;
use sha1::{Digest, Sha1};
use sha2::Sha256;

/// The simulated network: every answer comes this long after its request.
const LATENCY: Duration = Duration::from_millis(20);
/// The size the latency servers give for every file.
const FILE_SIZE: u64 = 1234;
const THREADS: usize = 64;
const PER_MIRROR: usize = 4;

struct Sizes {
    mirrors: usize,
    files: usize,
    concurrency_runs: usize,
    handshake_runs: usize,
    big_file: usize,
    hash_runs: usize,
    extra_hash_runs: usize,
}

fn main() {
    let bench = std::env::args().any(|a| a == "--bench");
    let sizes = if bench {
        Sizes {
            mirrors: 50,
            files: 200,
            concurrency_runs: 3,
            handshake_runs: 1,
            big_file: 512 << 20,
            hash_runs: 3,
            extra_hash_runs: 3,
        }
    } else {
        Sizes {
            mirrors: 5,
            files: 10,
            concurrency_runs: 1,
            handshake_runs: 1,
            big_file: 4 << 20,
            hash_runs: 1,
            extra_hash_runs: 0,
        }
    };
    let started = Instant::now();
    let mut summary = Vec::new();
    concurrency(&sizes, &mut summary);
    hashing(&sizes, &mut summary);
    println!();
    println!(
        "==== summary ({:.0} s in all; {} cores) ====",
        started.elapsed().as_secs_f64(),
        thread::available_parallelism().map_or(0, |n| n.get())
    );
    for line in &summary {
        println!("{line}");
    }
}

// ----- the test servers -----

/// What the servers saw (shared by all the listeners of a measurement).
#[derive(Default)]
struct Counters {
    connections: AtomicUsize,
    requests: AtomicUsize,
    in_flight: AtomicUsize,
    max_in_flight: AtomicUsize,
    /// Microseconds from a parsed request to its answer written, summed.
    service_us: AtomicU64,
}

impl Counters {
    fn snapshot(&self) -> (usize, usize, u64) {
        (
            self.connections.load(Ordering::SeqCst),
            self.requests.load(Ordering::SeqCst),
            self.service_us.load(Ordering::SeqCst),
        )
    }
}

#[derive(Clone)]
enum Content {
    /// Every path is a file of `FILE_SIZE` zero bytes, answered after
    /// `delay`, plus `handshake` for the first answer on a connection.
    Slow {
        delay: Duration,
        handshake: Duration,
    },
    /// Every path is this file, sent with sendfile(2) (std's `io::copy`).
    File(PathBuf),
}

struct Server {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    accept: Option<JoinHandle<()>>,
}

impl Server {
    fn start(content: Content, counters: Arc<Counters>) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind a test server");
        let addr = listener.local_addr().expect("its address");
        let stop = Arc::new(AtomicBool::new(false));
        let stopping = stop.clone();
        let accept = thread::spawn(move || {
            for conn in listener.incoming() {
                if stopping.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(conn) = conn else { continue };
                counters.connections.fetch_add(1, Ordering::SeqCst);
                let (content, counters) = (content.clone(), counters.clone());
                thread::Builder::new()
                    .stack_size(256 * 1024)
                    .spawn(move || {
                        let _ = serve(conn, &content, &counters);
                    })
                    .expect("a connection thread");
            }
        });
        Server {
            addr,
            stop,
            accept: Some(accept),
        }
    }

    fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop; connection threads end when their client
        // closes (a dropped prober closes its pooled connections).
        let _ = TcpStream::connect(self.addr);
        if let Some(accept) = self.accept.take() {
            let _ = accept.join();
        }
    }
}

/// HTTP/1.1 with keep-alive: requests without bodies, answered in order.
fn serve(stream: TcpStream, content: &Content, counters: &Counters) -> io::Result<()> {
    stream.set_nodelay(true)?;
    let mut input = BufReader::new(stream.try_clone()?);
    let mut output = stream;
    let mut line = String::new();
    let mut first = true;
    loop {
        line.clear();
        if input.read_line(&mut line)? == 0 {
            return Ok(());
        }
        let head = line.starts_with("HEAD ");
        let mut close = false;
        loop {
            line.clear();
            if input.read_line(&mut line)? == 0 {
                return Ok(());
            }
            if line.trim_end().is_empty() {
                break;
            }
            let l = line.to_ascii_lowercase();
            close |= l.starts_with("connection:") && l.contains("close");
        }
        let began = Instant::now();
        counters.requests.fetch_add(1, Ordering::SeqCst);
        let now = counters.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        counters.max_in_flight.fetch_max(now, Ordering::SeqCst);
        let answered = answer(&mut output, content, head, first);
        counters.in_flight.fetch_sub(1, Ordering::SeqCst);
        counters
            .service_us
            .fetch_add(began.elapsed().as_micros() as u64, Ordering::SeqCst);
        answered?;
        first = false;
        if close {
            return Ok(());
        }
    }
}

fn answer(out: &mut TcpStream, content: &Content, head: bool, first: bool) -> io::Result<()> {
    let header = |len: u64| {
        format!(
            "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: {len}\r\n\r\n"
        )
    };
    match content {
        Content::Slow { delay, handshake } => {
            thread::sleep(if first { *delay + *handshake } else { *delay });
            let mut reply = header(FILE_SIZE).into_bytes();
            if !head {
                reply.resize(reply.len() + FILE_SIZE as usize, 0);
            }
            out.write_all(&reply)
        }
        Content::File(path) => {
            let mut file = File::open(path)?;
            out.write_all(header(file.metadata()?.len()).as_bytes())?;
            if !head {
                io::copy(&mut file, out)?;
            }
            Ok(())
        }
    }
}

// ----- 1. concurrency -----

fn plans(servers: &[Server], files: usize) -> Vec<MirrorPlan> {
    servers
        .iter()
        .enumerate()
        .map(|(m, server)| MirrorPlan {
            mirror: MirrorId(m as u64 + 1),
            name: format!("mirror{m}"),
            base_url: server.url(),
            checks: (0..files)
                .map(|f| Check {
                    location: LocationId(f as u64 + 1),
                    lang: String::new(),
                    path: format!("/pub/product/{f}/setup-{f}.exe"),
                    expected: Expected {
                        size: Some(FILE_SIZE),
                        ..Default::default()
                    },
                    hash: false,
                    measure: false,
                })
                .collect(),
            alt_url: None,
            trace: None,
        })
        .collect()
}

struct PoolRun {
    wall: f64,
    /// Cores this process (prober and servers) kept busy.
    cores: f64,
    /// Cores other processes kept busy meanwhile.
    elsewhere: f64,
    connections: usize,
    requests: usize,
    mean_service_ms: f64,
}

/// One `pool::execute` over `plans`, checking that every check passed.
fn pool_run(plans: &[MirrorPlan], probe: &impl Probe, counters: &Counters) -> PoolRun {
    let limits = Limits {
        threads: THREADS,
        per_mirror: PER_MIRROR,
        deadline: Instant::now() + Duration::from_secs(3600),
        faults_per_mirror: 3,
    };
    let (c0, r0, s0) = counters.snapshot();
    let (t, results) = timed(true, || {
        pool::execute(plans, probe, limits, &AtomicBool::new(false))
    });
    let wall = t.secs;
    let (c1, r1, s1) = counters.snapshot();
    for (plan, r) in plans.iter().zip(&results) {
        assert_eq!(r.base, Some(Ok(())), "base of {}", plan.name);
        assert_eq!(r.files.len(), plan.checks.len(), "files of {}", plan.name);
        if let Some(f) = r.files.iter().find(|f| f.verdict != FileVerdict::Present) {
            panic!("{} {}: {:?}", plan.name, f.path, f.verdict);
        }
    }
    let requests = r1 - r0;
    PoolRun {
        wall,
        cores: t.cores,
        elsewhere: t.elsewhere,
        connections: c1 - c0,
        requests,
        mean_service_ms: (s1 - s0) as f64 / 1000.0 / requests.max(1) as f64,
    }
}

/// A HEAD-only probe like `Prober::head`, but whose agent keeps an idle
/// connection for every check that can be in flight (ureq's defaults keep
/// 10 in all and 3 per host).
struct PooledHead {
    agent: ureq::Agent,
}

impl PooledHead {
    fn new(mirrors: usize) -> PooledHead {
        let config = ProbeConfig::default();
        PooledHead {
            agent: ureq::Agent::config_builder()
                .http_status_as_error(false)
                .max_redirects(1)
                .user_agent(config.user_agent.as_str())
                .timeout_connect(Some(config.connect_timeout))
                .timeout_recv_response(Some(config.response_timeout))
                .timeout_per_read(Some(config.read_timeout))
                .max_idle_connections(mirrors * PER_MIRROR)
                .max_idle_connections_per_host(PER_MIRROR)
                .build()
                .new_agent(),
        }
    }
}

impl Probe for PooledHead {
    fn families(&self, _: &str) -> Vec<Family> {
        Vec::new()
    }
    fn trace(&self, _: &str, _: Option<Family>) -> Result<u64, String> {
        Err("no trace files in this benchmark".into())
    }
    fn head(&self, url: &str, _: Option<Family>) -> Observation {
        let started = Instant::now();
        match self.agent.head(url).call() {
            Ok(r) => {
                let text = |name: &str| r.headers().get(name).and_then(|v| v.to_str().ok());
                Observation::Answer {
                    status: r.status().as_u16(),
                    content_type: text("content-type").map(str::to_string),
                    length: text("content-length").and_then(|v| v.parse().ok()),
                    digests: None,
                    elapsed_ms: started.elapsed().as_millis() as u64,
                }
            }
            Err(e) => Observation::Failed {
                failure: Failure::Connection,
                detail: e.to_string(),
            },
        }
    }
    fn digests(
        &self,
        url: &str,
        _: bouncer::sentry::probe::Kinds,
        via: Option<Family>,
    ) -> Observation {
        self.head(url, via)
    }
    fn measure(&self, _: &str, _: u64, _: Option<Family>) -> Option<(u64, u64)> {
        None
    }
}

fn start_servers(n: usize, content: &Content) -> (Vec<Server>, Arc<Counters>) {
    let counters = Arc::new(Counters::default());
    let servers = (0..n)
        .map(|_| Server::start(content.clone(), counters.clone()))
        .collect();
    (servers, counters)
}

fn concurrency(sizes: &Sizes, summary: &mut Vec<String>) {
    println!(
        "== concurrency: {} mirrors x {} files, {} ms per answer, {THREADS} threads, {PER_MIRROR} per mirror ==",
        sizes.mirrors,
        sizes.files,
        LATENCY.as_millis()
    );
    let checks = sizes.mirrors * (sizes.files + 1);
    // The pool bound; with few mirrors the per-mirror bound (the base, then
    // the files `PER_MIRROR` at a time) can be the larger.
    let ideal = (checks as f64 * LATENCY.as_secs_f64() / THREADS as f64)
        .max((1 + sizes.files.div_ceil(PER_MIRROR)) as f64 * LATENCY.as_secs_f64());

    let (servers, counters) = start_servers(
        sizes.mirrors,
        &Content::Slow {
            delay: LATENCY,
            handshake: Duration::ZERO,
        },
    );
    let plans = plans(&servers, sizes.files);
    let mut runs = Vec::new();
    for i in 0..sizes.concurrency_runs {
        // A fresh prober each time: scheduled runs are further apart than
        // ureq's idle timeout (15 s), so each starts with no connections.
        let prober = Prober::new(&ProbeConfig::default());
        let run = pool_run(&plans, &prober, &counters);
        println!(
            "run {}: {:.3} s for {} checks ({} requests on {} connections; server time per answer {:.2} ms; {:.2} cores busy here, {:.2} elsewhere)",
            i + 1,
            run.wall,
            checks,
            run.requests,
            run.connections,
            run.mean_service_ms,
            run.cores,
            run.elsewhere
        );
        runs.push(run);
    }
    let wall = median(runs.iter().map(|r| r.wall).collect());
    let med_conns = median(runs.iter().map(|r| r.connections as f64).collect());
    let service = median(runs.iter().map(|r| r.mean_service_ms).collect());
    let ratio = wall / ideal;
    summary.push(format!(
        "concurrency: {} mirrors (listeners) x ({} files + base) = {checks} checks, {} ms each, {THREADS} threads, {PER_MIRROR}/mirror: median wall {:.3} s over {} runs (min {:.3}, max {:.3}); ideal {checks} x {} ms / {THREADS} (or the per-mirror bound, if larger) = {:.3} s; ratio {:.3}; target <= 1.20: {}",
        sizes.mirrors,
        sizes.files,
        LATENCY.as_millis(),
        wall,
        runs.len(),
        runs.iter().map(|r| r.wall).fold(f64::INFINITY, f64::min),
        runs.iter().map(|r| r.wall).fold(0.0, f64::max),
        LATENCY.as_millis(),
        ideal,
        ratio,
        if ratio <= 1.2 { "met" } else { "MISSED" },
    ));
    summary.push(format!(
        "concurrency: server-side time per answer {service:.2} ms (ideal at that: {:.3} s, ratio {:.3}); peak answers in flight at the servers {}; connections opened per run: median {med_conns:.0} for {checks} requests ({:.0}% new); {:.2} cores busy in this process (prober + servers), {:.2} elsewhere",
        checks as f64 * service / 1000.0 / THREADS as f64,
        wall / (checks as f64 * service / 1000.0 / THREADS as f64),
        counters.max_in_flight.load(Ordering::SeqCst),
        100.0 * med_conns / checks as f64,
        median(runs.iter().map(|r| r.cores).collect()),
        median(runs.iter().map(|r| r.elsewhere).collect()),
    ));
    drop(servers);

    // Each new connection costs a round trip more.
    println!("== concurrency, a new connection costing one more 20 ms round trip ==");
    let (servers, counters) = start_servers(
        sizes.mirrors,
        &Content::Slow {
            delay: LATENCY,
            handshake: LATENCY,
        },
    );
    let plans = self::plans(&servers, sizes.files);
    let mut real = Vec::new();
    let mut pooled = Vec::new();
    for i in 0..sizes.handshake_runs {
        let prober = Prober::new(&ProbeConfig::default());
        let run = pool_run(&plans, &prober, &counters);
        println!(
            "run {} Prober: {:.3} s ({} connections)",
            i + 1,
            run.wall,
            run.connections
        );
        real.push(run);
        let probe = PooledHead::new(sizes.mirrors);
        let run = pool_run(&plans, &probe, &counters);
        println!(
            "run {} idle pool {}/{PER_MIRROR} per host: {:.3} s ({} connections)",
            i + 1,
            sizes.mirrors * PER_MIRROR,
            run.wall,
            run.connections
        );
        pooled.push(run);
    }
    let describe = |runs: &[PoolRun]| {
        let wall = median(runs.iter().map(|r| r.wall).collect());
        format!(
            "{:.3} s (x{:.2} ideal), {:.0} connections",
            wall,
            wall / ideal,
            median(runs.iter().map(|r| r.connections as f64).collect())
        )
    };
    summary.push(format!(
        "concurrency with +{} ms per new connection: Prober (ureq default idle pool, 10 in all / 3 per host) {}; same checks with an idle pool of {} / {PER_MIRROR} per host {}",
        LATENCY.as_millis(),
        describe(&real),
        sizes.mirrors * PER_MIRROR,
        describe(&pooled),
    ));
}

// ----- 2. hashing -----

/// CPU seconds used by this process and by its waited-for children.
fn cpu_seconds() -> (f64, f64) {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let fields: Vec<f64> = stat
        .rsplit_once(')')
        .map(|(_, rest)| {
            rest.split_whitespace()
                .map(|f| f.parse().unwrap_or(0.0))
                .collect()
        })
        .unwrap_or_default();
    let tick = 100.0; // USER_HZ on Linux
    let at = |i: usize| fields.get(i).copied().unwrap_or(0.0) / tick;
    // After the command name: state is field 3, utime 14 .. cstime 17.
    (at(11) + at(12), at(13) + at(14))
}

/// CPU seconds the whole machine spent busy (all processes), from /proc/stat.
fn machine_busy_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let ticks: Vec<f64> = stat
        .lines()
        .next()
        .unwrap_or("")
        .split_whitespace()
        .skip(1)
        .map(|f| f.parse().unwrap_or(0.0))
        .collect();
    // user nice system idle iowait irq softirq steal ...: all but idle and
    // iowait (guest time is already counted in user).
    let busy: f64 = ticks
        .iter()
        .take(8)
        .enumerate()
        .filter(|(i, _)| *i != 3 && *i != 4)
        .map(|(_, t)| t)
        .sum();
    busy / 100.0
}

struct Timed {
    secs: f64,
    /// Cores kept busy by what was measured.
    cores: f64,
    /// Cores kept busy meanwhile by other processes (noise).
    elsewhere: f64,
}

fn timed<T>(own_cpu: bool, f: impl FnOnce() -> T) -> (Timed, T) {
    let (own0, child0) = cpu_seconds();
    let machine0 = machine_busy_seconds();
    let start = Instant::now();
    let out = f();
    let secs = start.elapsed().as_secs_f64();
    let (own1, child1) = cpu_seconds();
    let machine1 = machine_busy_seconds();
    let ours = (own1 - own0) + (child1 - child0);
    let cpu = if own_cpu {
        own1 - own0
    } else {
        child1 - child0
    };
    (
        Timed {
            secs,
            cores: cpu / secs,
            elsewhere: ((machine1 - machine0 - ours) / secs).max(0.0),
        },
        out,
    )
}

/// What `Prober::digests` would cost computing only the digest a check
/// compares (here SHA-256): the same download, read on this thread in the
/// same 256 KiB chunks, hashed on one other thread.
fn sha256_only(agent: &ureq::Agent, url: &str) -> (String, u64) {
    const CHUNK: usize = 256 * 1024;
    let mut response = agent.get(url).call().expect("GET the big file");
    let mut reader = response.body_mut().with_config().limit(u64::MAX).reader();
    thread::scope(|scope| {
        let (tx, rx) = mpsc::sync_channel::<Vec<u8>>(8);
        let hasher = scope.spawn(move || {
            let mut h = Sha256::new();
            for chunk in rx {
                h.update(&chunk);
            }
            h.finalize()
        });
        let mut bytes = 0u64;
        loop {
            let mut buf = vec![0u8; CHUNK];
            let mut filled = 0;
            while filled < CHUNK {
                match io::Read::read(&mut reader, &mut buf[filled..]) {
                    Ok(0) => break,
                    Ok(n) => filled += n,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => panic!("download: {e}"),
                }
            }
            if filled == 0 {
                break;
            }
            buf.truncate(filled);
            bytes += filled as u64;
            tx.send(buf).expect("the hashing thread");
        }
        drop(tx);
        let digest = hasher.join().expect("the hashing thread");
        let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
        (hex, bytes)
    })
}

/// Runs a coreutils digest tool on `path`; its hex digest.
fn tool(name: &str, path: &Path) -> String {
    let out = Command::new(name)
        .arg(path)
        .output()
        .unwrap_or_else(|e| panic!("run {name}: {e}"));
    assert!(out.status.success(), "{name} failed");
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()
        .unwrap_or("")
        .to_string()
}

/// Other processes busier than this (in cores) during a measurement make
/// its repetition disturbed; a disturbed repetition is redone if time allows.
const QUIET: f64 = 0.15;

const SERIES: [&str; 10] = [
    "Prober::digests (HTTP, 3 digests)",
    "sha1sum",
    "sha256sum",
    "md5sum",
    "hash_stream (memory, 3 digests)",
    "MD5 alone (memory, 1 thread)",
    "SHA-1 alone (memory, 1 thread)",
    "SHA-256 alone (memory, 1 thread)",
    "SHA-1 + SHA-256 (memory, 1 thread)",
    "SHA-256 only (HTTP, prototype)",
];

/// One repetition of every hashing measurement, in `SERIES` order.
fn hash_rep(
    prober: &Prober,
    agent: &ureq::Agent,
    url: &str,
    path: &Path,
    data: &[u8],
) -> (Vec<Timed>, Digests) {
    let size = data.len() as u64;
    let mut times = Vec::new();
    let (t, seen) = timed(true, || prober.digests(url));
    let Observation::Answer {
        status: 200,
        digests: Some(d),
        ..
    } = seen
    else {
        panic!("digests over HTTP: {seen:?}");
    };
    assert_eq!(d.bytes, size);
    times.push(t);
    let (t, sha1) = timed(false, || tool("sha1sum", path));
    assert_eq!(sha1, d.sha1, "sha1sum and Prober::digests disagree");
    times.push(t);
    let (t, sha256) = timed(false, || tool("sha256sum", path));
    assert_eq!(sha256, d.sha256, "sha256sum and Prober::digests disagree");
    times.push(t);
    let (t, md5) = timed(false, || tool("md5sum", path));
    assert_eq!(md5, d.md5, "md5sum and Prober::digests disagree");
    times.push(t);
    let (t, mem) = timed(true, || {
        hash_stream(&mut &data[..]).expect("hash in memory")
    });
    assert_eq!(mem, d);
    times.push(t);
    let (t, _) = timed(true, || black_box(Md5::digest(black_box(data))));
    times.push(t);
    let (t, _) = timed(true, || black_box(Sha1::digest(black_box(data))));
    times.push(t);
    let (t, _) = timed(true, || black_box(Sha256::digest(black_box(data))));
    times.push(t);
    let (t, _) = timed(true, || {
        let (mut h1, mut h256) = (Sha1::new(), Sha256::new());
        for chunk in data.chunks(256 * 1024) {
            h1.update(chunk);
            h256.update(chunk);
        }
        black_box((h1.finalize(), h256.finalize()))
    });
    times.push(t);
    let (t, (sha256_only, bytes)) = timed(true, || sha256_only(agent, url));
    assert_eq!((sha256_only, bytes), (d.sha256.clone(), size));
    times.push(t);
    (times, d)
}

fn hashing(sizes: &Sizes, summary: &mut Vec<String>) {
    let size = sizes.big_file;
    println!(
        "== hashing: {} MiB of random bytes, {} runs ==",
        size >> 20,
        sizes.hash_runs
    );
    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = dir.path().join("big.bin");
    let mut data = vec![0u8; size];
    fastrand::Rng::with_seed(7).fill(&mut data);
    std::fs::write(&path, &data).expect("write the file");
    // Warm-up read: everything below hits the page cache.
    io::copy(&mut File::open(&path).expect("open"), &mut io::sink()).expect("read");

    let server = Server::start(Content::File(path.clone()), Arc::new(Counters::default()));
    let url = format!("{}/pub/big.bin", server.url());
    let prober = Prober::new(&ProbeConfig::default());
    let agent = ureq::Agent::new_with_defaults();

    let mut reps: Vec<Vec<Timed>> = Vec::new();
    let mut digests = None;
    let quiet = |rep: &[Timed]| rep.iter().all(|t| t.elsewhere < QUIET);
    for attempt in 0..sizes.hash_runs + sizes.extra_hash_runs {
        if reps.iter().filter(|r| quiet(r)).count() >= sizes.hash_runs {
            break;
        }
        let (rep, d) = hash_rep(&prober, &agent, &url, &path, &data);
        println!(
            "run {}: {}; busy elsewhere up to {:.2} cores{}",
            attempt + 1,
            SERIES
                .iter()
                .zip(&rep)
                .map(|(name, t)| format!(
                    "{} {:.0} MB/s",
                    name.split(' ').next().unwrap_or(""),
                    size as f64 / 1e6 / t.secs
                ))
                .collect::<Vec<_>>()
                .join(", "),
            rep.iter().map(|t| t.elsewhere).fold(0.0, f64::max),
            if quiet(&rep) { "" } else { " (disturbed)" }
        );
        reps.push(rep);
        digests = Some(d);
    }
    let quiet_reps = reps.iter().filter(|r| quiet(r)).count();
    let used: Vec<&Vec<Timed>> = if quiet_reps >= sizes.hash_runs {
        reps.iter().filter(|r| quiet(r)).collect()
    } else {
        reps.iter().collect()
    };
    let column = |i: usize, f: fn(&Timed) -> f64| median(used.iter().map(|r| f(&r[i])).collect());
    let mbps = |i: usize| size as f64 / 1e6 / column(i, |t| t.secs);
    let (digests_mbps, sha1sum) = (mbps(0), mbps(1));
    let ratio = digests_mbps / sha1sum;
    summary.push(format!(
        "hashing: {} MiB random file, page cache warm, median of {} runs{}: Prober::digests over loopback {:.0} MB/s vs sha1sum {:.0} MB/s: ratio {:.2}; target >= 0.80: {}",
        size >> 20,
        used.len(),
        if quiet_reps >= sizes.hash_runs {
            format!(" (quiet: other processes < {QUIET} cores)")
        } else {
            format!(
                " (WARNING: only {quiet_reps} of {} runs quiet, other processes busy)",
                reps.len()
            )
        },
        digests_mbps,
        sha1sum,
        ratio,
        if ratio >= 0.8 { "met" } else { "MISSED" },
    ));
    for (i, name) in SERIES.iter().enumerate() {
        summary.push(format!(
            "hashing: {:<38} {:>6.0} MB/s  ({:.2} x sha1sum; {:.2} cores busy)",
            name,
            mbps(i),
            mbps(i) / sha1sum,
            column(i, |t| t.cores),
        ));
    }
    summary.push(
        "hashing: the loopback server (sendfile) and ureq's reads share the 2 cores with the MD5 and SHA threads; coreutils tools are single-threaded, read(2) from the page cache, and (9.1, no OpenSSL) use portable C digests".to_string(),
    );
    if let Some(d) = digests {
        println!("digests agree with coreutils: sha1 {}", d.sha1);
    }
    drop(prober);
    drop(server);
    std::fs::remove_file(&path).expect("delete the big file");
    dir.close().expect("delete the temporary directory");
    assert!(!path.exists());
}

fn median(mut v: Vec<f64>) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}
