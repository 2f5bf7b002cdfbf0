//! What the benchmark programs share (`mod support;` in each): child
//! processes that stop when the program ends, tools found on `PATH`, and
//! the release `bouncer` binary brought up to date.

// Each program uses what it needs of this.
#![allow(dead_code)]

use std::io::Read;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

/// Errors as the programs print them.
pub type Result<T> = std::result::Result<T, String>;

/// This program's name (`loadtest`, `nodes`): its messages start with it,
/// and it is the example cargo builds beside the binary.
pub fn program() -> String {
    std::env::current_exe()
        .ok()
        .and_then(|p| p.file_stem().map(|s| s.to_string_lossy().into_owned()))
        .unwrap_or_else(|| "bench".into())
}

// ----- child processes -----

#[cfg(unix)]
pub fn signal(pid: u32, sig: i32) {
    unsafe extern "C" {
        fn kill(pid: i32, sig: i32) -> i32;
    }
    // SAFETY: kill(2) takes plain integers; a stale pid only fails.
    unsafe {
        kill(pid as i32, sig);
    }
}

#[cfg(unix)]
pub const SIGTERM: i32 = 15;

/// A child process that is stopped (SIGTERM, then SIGKILL after a grace
/// period) when the guard is dropped, including during a panic.
pub struct Guard {
    name: String,
    /// `None` once stopped or waited for.
    pub child: Option<Child>,
}

impl Guard {
    /// Waits (at most `limit`) until something accepts connections on
    /// `addr`; an error when this child exits first (with its status) or
    /// the time runs out.
    pub fn await_listener(&mut self, addr: SocketAddr, limit: Duration) -> Result<()> {
        let deadline = Instant::now() + limit;
        while std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
            if let Some(child) = self.child.as_mut()
                && let Ok(Some(status)) = child.try_wait()
            {
                return Err(format!("{} exited ({status})", self.name));
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "{} did not listen on {addr} within {limit:?}",
                    self.name
                ));
            }
            thread::sleep(Duration::from_millis(20));
        }
        Ok(())
    }

    pub fn new(name: impl Into<String>, child: Child) -> Guard {
        Guard {
            name: name.into(),
            child: Some(child),
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, Child::id)
    }

    /// Asks the process to stop, waits up to `grace`, then kills it.
    /// Returns whether it exited on its own and successfully.
    pub fn stop(&mut self, grace: Duration) -> bool {
        let Some(mut child) = self.child.take() else {
            return true;
        };
        if let Ok(Some(status)) = child.try_wait() {
            return status.success();
        }
        #[cfg(unix)]
        signal(child.id(), SIGTERM);
        let deadline = Instant::now() + grace;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = child.try_wait() {
                return status.success();
            }
            thread::sleep(Duration::from_millis(20));
        }
        eprintln!(
            "{}: {} did not stop within {grace:?}; killing it",
            program(),
            self.name
        );
        let _ = child.kill();
        let _ = child.wait();
        false
    }

    /// Waits for the process to exit on its own, killing it after `limit`.
    pub fn wait_output(&mut self, limit: Duration) -> Result<String> {
        let mut child = self.child.take().ok_or("no child")?;
        let mut stdout = child.stdout.take().ok_or("no stdout")?;
        let reader = thread::spawn(move || {
            let mut s = String::new();
            let _ = stdout.read_to_string(&mut s);
            s
        });
        let deadline = Instant::now() + limit;
        loop {
            match child.try_wait() {
                Ok(Some(status)) => {
                    let out = reader.join().unwrap_or_default();
                    if !status.success() {
                        return Err(format!("{} failed ({status}): {out}", self.name));
                    }
                    return Ok(out);
                }
                Ok(None) if Instant::now() < deadline => thread::sleep(Duration::from_millis(50)),
                _ => {
                    let _ = child.kill();
                    let _ = child.wait();
                    return Err(format!("{} did not finish within {limit:?}", self.name));
                }
            }
        }
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        self.stop(Duration::from_secs(5));
    }
}

/// Starts `cmd` (a `bouncer … serve --listen 127.0.0.1:0`), guarded as
/// `name`; echoes its stderr tagged `[tag]` for as long as it runs (a full
/// pipe would block it) and returns once it prints where it listens, at
/// most `limit` later.
pub fn serve(
    cmd: &mut Command,
    name: impl Into<String>,
    tag: &str,
    limit: Duration,
) -> Result<(Guard, SocketAddr)> {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot start {:?}: {e}", cmd.get_program()))?;
    let stderr = child.stderr.take().ok_or("no stderr")?;
    let guard = Guard::new(name, child);
    let (tx, rx) = std::sync::mpsc::channel();
    let tag = tag.to_string();
    thread::spawn(move || {
        let mut sent = false;
        for line in std::io::BufRead::lines(std::io::BufReader::new(stderr)) {
            let Ok(line) = line else { break };
            if !sent && let Some(rest) = line.strip_prefix("bouncer: listening on http://") {
                let addr = rest.split_whitespace().next().unwrap_or("").to_string();
                let _ = tx.send(addr);
                sent = true;
            } else {
                eprintln!("  [{tag}] {line}");
            }
        }
    });
    let addr = rx.recv_timeout(limit).map_err(|_| {
        format!(
            "{} exited or did not print its listening address within {limit:?}",
            guard.name
        )
    })?;
    let addr = addr
        .parse()
        .map_err(|_| format!("bouncer printed an odd address {addr:?}"))?;
    Ok((guard, addr))
}

// ----- tools -----

/// The file `name` on `PATH`, if any.
pub fn which(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|p| p.join(name))
            .find(|p| p.is_file())
    })
}

/// `default` if it exists, else `name` as found on `PATH`.
pub fn tool(default: &str, name: &str) -> PathBuf {
    if Path::new(default).exists() {
        PathBuf::from(default)
    } else {
        which(name).unwrap_or_else(|| PathBuf::from(name))
    }
}

/// `target/release/bouncer`, beside this example's `target/release/examples/`.
/// Built (or brought up to date) first when cargo started us.
pub fn bouncer_binary() -> Result<PathBuf> {
    let example = program();
    let exe = std::env::current_exe().map_err(|e| format!("cannot find this program: {e}"))?;
    let dir = exe
        .parent()
        .and_then(Path::parent)
        .ok_or("cannot find the target directory")?;
    let bin = dir.join(format!("bouncer{}", std::env::consts::EXE_SUFFIX));
    let profile_is_release = dir.file_name().is_some_and(|n| n == "release");
    if let Some(cargo) = std::env::var_os("CARGO") {
        println!(
            "{example}: bringing {} up to date (cargo build)",
            bin.display()
        );
        let mut cmd = Command::new(cargo);
        // With this example in the same build, the library is compiled with
        // the same features as for the example, so nothing is rebuilt twice.
        cmd.args([
            "build",
            "--quiet",
            "--bin",
            "bouncer",
            "--example",
            example.as_str(),
        ])
        .current_dir(env!("CARGO_MANIFEST_DIR"));
        // `cargo run` gave us the package's variables; some build scripts
        // (ring's) track CARGO_MANIFEST_DIR, so passing them on would make
        // cargo rebuild half the dependency tree, twice.
        for (key, _) in std::env::vars_os() {
            let k = key.to_string_lossy();
            if k.starts_with("CARGO_PKG_")
                || matches!(
                    &*k,
                    "CARGO_MANIFEST_DIR"
                        | "CARGO_MANIFEST_PATH"
                        | "CARGO_CRATE_NAME"
                        | "CARGO_BIN_NAME"
                        | "CARGO_PRIMARY_PACKAGE"
                )
            {
                cmd.env_remove(&key);
            }
        }
        if profile_is_release {
            cmd.arg("--release");
        }
        match cmd.status() {
            Ok(s) if s.success() => {}
            Ok(s) => {
                eprintln!("{example}: warning: building bouncer failed ({s}); using what is there")
            }
            Err(e) => eprintln!("{example}: warning: cannot run cargo ({e}); using what is there"),
        }
    }
    if !bin.is_file() {
        return Err(format!(
            "{} does not exist: run `cargo build --release` first",
            bin.display()
        ));
    }
    if !profile_is_release {
        eprintln!(
            "{example}: warning: not a release build; figures will be meaningless (use --release)"
        );
    }
    Ok(bin)
}

// ----- wrk -----

/// What a wrk run measured.
#[derive(Clone, Debug, Default)]
pub struct WrkResult {
    pub requests_per_sec: f64,
    /// 99th percentile latency in microseconds.
    pub p99_us: f64,
    /// Median latency in microseconds.
    pub p50_us: f64,
    pub requests: u64,
    pub non_3xx: u64,
    pub socket_errors: String,
}

/// `wrk -t1 -c<connections> -d<secs>s --latency extra… http://addr/target`
/// (`extra`: headers, a Lua script), stopped if it overruns.
pub fn run_wrk(
    wrk: &Path,
    addr: SocketAddr,
    target: &str,
    secs: u64,
    connections: u32,
    extra: &[&std::ffi::OsStr],
) -> Result<WrkResult> {
    run_wrk_url(
        wrk,
        &format!("http://{addr}{target}"),
        secs,
        connections,
        extra,
    )
}

/// [`run_wrk`] against any URL (`https://…` too).
pub fn run_wrk_url(
    wrk: &Path,
    url: &str,
    secs: u64,
    connections: u32,
    extra: &[&std::ffi::OsStr],
) -> Result<WrkResult> {
    let out = wrk_output(wrk, url, secs, connections, extra)?;
    parse_wrk(&out).ok_or_else(|| format!("cannot read wrk's output:\n{out}"))
}

/// What `wrk -t1 -cN -dNs --latency extra… url` printed (for what a
/// script adds to [`parse_wrk`]'s figures), stopped if it overruns.
pub fn wrk_output(
    wrk: &Path,
    url: &str,
    secs: u64,
    connections: u32,
    extra: &[&std::ffi::OsStr],
) -> Result<String> {
    let child = Command::new(wrk)
        .args([
            "-t1",
            &format!("-c{connections}"),
            &format!("-d{secs}s"),
            "--latency",
        ])
        .args(extra)
        .arg(url)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", wrk.display()))?;
    let mut guard = Guard::new("wrk", child);
    guard.wait_output(Duration::from_secs(secs + 30))
}

/// The median of `v` (the upper one of an even count; NaN when empty).
pub fn median(mut v: Vec<f64>) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Microseconds as reports print them: `456 µs`, `1.23 ms`.
pub fn ms(us: f64) -> String {
    if us >= 1000.0 {
        format!("{:.2} ms", us / 1000.0)
    } else {
        format!("{us:.0} µs")
    }
}

/// `1.23ms`, `456.00us`, `2.00s` → microseconds.
pub fn duration_us(s: &str) -> Option<f64> {
    let s = s.trim();
    let (num, scale) = if let Some(n) = s.strip_suffix("us") {
        (n, 1.0)
    } else if let Some(n) = s.strip_suffix("ms") {
        (n, 1e3)
    } else if let Some(n) = s.strip_suffix("m") {
        (n, 60e6)
    } else if let Some(n) = s.strip_suffix('s') {
        (n, 1e6)
    } else {
        return None;
    };
    num.trim().parse::<f64>().ok().map(|v| v * scale)
}

/// The figures of wrk's `--latency` output.
pub fn parse_wrk(out: &str) -> Option<WrkResult> {
    let mut r = WrkResult::default();
    let mut seen = (false, false, false);
    for line in out.lines() {
        let t = line.trim();
        if let Some(v) = t.strip_prefix("Requests/sec:") {
            r.requests_per_sec = v.trim().parse().ok()?;
            seen.0 = true;
        } else if let Some(v) = t.strip_prefix("99%") {
            r.p99_us = duration_us(v)?;
            seen.1 = true;
        } else if let Some(v) = t.strip_prefix("50%") {
            r.p50_us = duration_us(v).unwrap_or(0.0);
        } else if t.contains(" requests in ") {
            r.requests = t.split_whitespace().next()?.parse().ok()?;
            seen.2 = true;
        } else if let Some(v) = t.strip_prefix("Non-2xx or 3xx responses:") {
            r.non_3xx = v.trim().parse().unwrap_or(0);
        } else if let Some(v) = t.strip_prefix("Socket errors:") {
            r.socket_errors = v.trim().to_string();
        }
    }
    (seen == (true, true, true)).then_some(r)
}

/// User + system CPU seconds of process `pid` (Linux; 0 elsewhere).
pub fn cpu_secs(pid: u32) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).map_or(0.0, |s| stat_cpu(&s))
}

/// CPU seconds of process `pid` and all its descendants alive now (nginx's
/// workers beside its master), from `/proc` (Linux; 0 elsewhere).
pub fn tree_cpu_secs(pid: u32) -> f64 {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return 0.0;
    };
    // (pid, parent, CPU seconds) of every process.
    let all: Vec<(u32, u32, f64)> = entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter_map(|p| {
            let stat = std::fs::read_to_string(format!("/proc/{p}/stat")).ok()?;
            let close = stat.rfind(')')?;
            let parent = stat[close + 2..].split_whitespace().nth(1)?.parse().ok()?;
            Some((p, parent, stat_cpu(&stat)))
        })
        .collect();
    let mut tree = vec![pid];
    let mut total = 0.0;
    while let Some(p) = tree.pop() {
        for &(child, parent, cpu) in &all {
            if child == p {
                total += cpu;
            }
            if parent == p {
                tree.push(child);
            }
        }
    }
    total
}

/// Fields 14 and 15 (utime, stime) of a `/proc/…/stat` line, in seconds.
pub fn stat_cpu(stat: &str) -> f64 {
    let Some(close) = stat.rfind(')') else {
        return 0.0;
    };
    // Fields after the name start at field 3.
    let fields: Vec<&str> = stat[close + 2..].split_whitespace().collect();
    let tick = |i: usize| {
        fields
            .get(i - 3)
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    (tick(14) + tick(15)) as f64 / clock_ticks()
}

/// Clock ticks a second (`sysconf(_SC_CLK_TCK)`), the unit of `/proc`'s
/// CPU times.
#[cfg(target_os = "linux")]
pub fn clock_ticks() -> f64 {
    unsafe extern "C" {
        fn sysconf(name: i32) -> i64;
    }
    const SC_CLK_TCK: i32 = 2;
    // SAFETY: sysconf takes and returns plain integers.
    let t = unsafe { sysconf(SC_CLK_TCK) };
    if t > 0 { t as f64 } else { 100.0 }
}

#[cfg(not(target_os = "linux"))]
pub fn clock_ticks() -> f64 {
    100.0
}

/// Marks every one of `locations` present and healthy on every one of
/// `mirrors`, as a sentry run over a complete network would.
pub fn all_present(
    tx: &mut bouncer::store::Tx,
    locations: &[bouncer::model::LocationId],
    mirrors: &[bouncer::model::MirrorId],
) -> bouncer::error::Result<()> {
    let present = bouncer::model::Availability {
        present: true,
        healthy: true,
        checked_at: bouncer::model::now(),
        error: String::new(),
    };
    for &l in locations {
        for &m in mirrors {
            tx.set_availability(l, m, &present)?;
        }
    }
    Ok(())
}
