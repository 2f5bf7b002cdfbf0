//! Loader benchmarks (SPEC §5 and §10: a 100,000-line checksum file loads
//! in about a second, < 2 s): parsing, planning against the database, and
//! applying the plan into a fresh redb file, on two generated
//! 100,000-line SHA256SUMS-style files:
//!
//! 1. **archive** (the usual case): a mirror's `/pub` directory listing as
//!    Mozilla publishes it, with several releases (`firefox/releases/V/`,
//!    `firefox/candidates/…` is left out) of 7 platforms × 100 locales ×
//!    the file kinds each platform has (installers, MSI, stub installer,
//!    DMG and PKG, tarballs and their signatures, complete and partial
//!    update MARs under `update/<plat>/<lang>/`), plus `KEY`,
//!    `SHA256SUMS.asc` and source tarballs, cut at exactly 100,000 lines.
//!    One product (`firefox-120.0`, `--prefix /pub`) is loaded with
//!    `--match 'firefox/releases/120.0/win*/*Setup*.exe'`: 300 files in 3
//!    locations, every other line parsed and left out by the glob.
//! 2. **all used** (the worst case: every line becomes a file): 250
//!    platform directories (`plat-000` … mapped with `--os-map` to 250
//!    operating systems added beforehand) × 100 locales × the four digest
//!    kinds (MD5, SHA-1 in GNU lines, SHA-256 in BSD lines, SHA-512 in GNU
//!    binary-marked lines: the four *SUMS files concatenated) = 100,000
//!    lines → 25,000 files with four hashes each, 250 locations.
//! 3. **release** (SPEC §5, a whole release in one command): Firefox's
//!    layout, 10 platform directories × 100 locales × (the installer, the
//!    complete update and 48 partial updates) × SHA-256 and SHA-1 lines
//!    (GNU, binary `*` and BSD, some CRLF) = 100,000 lines → 50 products
//!    (`firefox-120.0`, `-complete`, `-partial-72.0` … `-partial-119.0`),
//!    500 locations, 50,000 files; two Android directories mapped with
//!    `--os-map` to operating systems the load creates.
//!
//! Timed, medians over several runs: `parse`; `parse + plan` against an
//! empty snapshot and against one where everything is already loaded
//! (the plan is then all "unchanged"); the library's full load into a
//! fresh redb file (`Network::open(path, true)`, snapshot, parse, plan,
//! `apply`, which republishes the index); and the real `bouncer load`
//! binary end to end (process start, reading the file, dry run and apply).
//! Figures are compared with the targets: parse + plan < 1 s, full load
//! < 2 s.
//!
//! Run with `cargo bench --bench loader` (a few seconds after the build).
//! Without `--bench` (`cargo test --benches`) it runs 1,000-line files once
//! as a smoke test.

use std::fmt::Write as _;
use std::hint::black_box;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use bouncer::loader::{self, Options, Status, locales::KNOWN};
use bouncer::network::Network;
use bouncer::store::Snapshot;

const PARSE_PLAN_TARGET: Duration = Duration::from_secs(1);
const FULL_LOAD_TARGET: Duration = Duration::from_secs(2);

struct Sizes {
    lines: usize,
    /// Platform directories of the "all used" file.
    platforms: usize,
    /// Platform directories of the release file (100 locales × 50 kinds
    /// × 2 digests each).
    release_platforms: usize,
    runs: usize,
    apply_runs: usize,
}

fn main() {
    let bench = std::env::args().any(|a| a == "--bench");
    let sizes = if bench {
        Sizes {
            lines: 100_000,
            platforms: 250,
            release_platforms: 10,
            runs: 11,
            apply_runs: 5,
        }
    } else {
        Sizes {
            lines: 1_000,
            platforms: 3,
            release_platforms: 1,
            runs: 1,
            apply_runs: 1,
        }
    };
    let locales = locales();
    let mut summary = Vec::new();

    let archive = archive(&locales, sizes.lines);
    let archive_options = Options {
        product: "firefox-120.0".into(),
        matching: Some("firefox/releases/120.0/win*/*Setup*.exe".into()),
        prefix: "/pub".into(),
        ..Options::default()
    };
    let archive_args = [
        "--product",
        "firefox-120.0",
        "--prefix",
        "/pub",
        "--match",
        "firefox/releases/120.0/win*/*Setup*.exe",
    ];
    run_case(
        "archive: one product --match'ed out of a 100k-line listing",
        &archive,
        &archive_options,
        &[],
        &archive_args,
        &sizes,
        &mut summary,
    );

    let platforms: Vec<(String, String)> = (0..sizes.platforms)
        .map(|i| (format!("plat-{i:03}"), format!("os{i:03}")))
        .collect();
    let all = all_used(&locales, &platforms);
    let os_map = platforms
        .iter()
        .map(|(d, o)| format!("{d}={o}"))
        .collect::<Vec<_>>()
        .join(",");
    let all_options = Options {
        product: "stress".into(),
        os_map: loader::parse_os_map(&os_map).expect("a valid --os-map"),
        prefix: "/pub/stress".into(),
        ..Options::default()
    };
    let oses: Vec<String> = platforms.iter().map(|(_, o)| o.clone()).collect();
    let all_args = [
        "--product",
        "stress",
        "--prefix",
        "/pub/stress",
        "--os-map",
        os_map.as_str(),
    ];
    let name = format!(
        "all used: every line a file ({} OSes x {} locales x 4 digests)",
        platforms.len(),
        locales.len()
    );
    run_case(
        &name,
        &all,
        &all_options,
        &oses,
        &all_args,
        &sizes,
        &mut summary,
    );

    let release = release(&locales, sizes.release_platforms);
    let release_map = "android-aarch64=android64,android-x86_64=android-x86_64";
    let release_options = Options {
        product: "firefox-120.0".into(),
        os_map: loader::parse_os_map(release_map).expect("a valid --os-map"),
        prefix: "/pub/firefox/releases/120.0".into(),
        ..Options::default()
    };
    let release_args = [
        "--product",
        "firefox-120.0",
        "--prefix",
        "/pub/firefox/releases/120.0",
        "--os-map",
        release_map,
    ];
    run_case(
        "release: a whole Firefox release in one load (every kind its own product)",
        &release,
        &release_options,
        &[],
        &release_args,
        &sizes,
        &mut summary,
    );
    kind_by_kind(&release, &release_options, &sizes, &mut summary);

    println!();
    println!("== summary (medians; targets: parse + plan < 1 s, full load < 2 s) ==");
    for line in summary {
        println!("{line}");
    }
}

/// 100 locales as Firefox ships them (`ja-JP-mac` only on mac).
fn locales() -> Vec<&'static str> {
    KNOWN
        .iter()
        .copied()
        .filter(|l| *l != "ja-JP-mac")
        .enumerate()
        .filter(|(i, _)| i % 6 != 2)
        .map(|(_, l)| l)
        .collect()
}

/// A deterministic hex digest of `len` digits for `seed`.
fn hex(seed: &str, len: usize) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in seed.bytes() {
        h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
    }
    let mut out = String::with_capacity(len);
    while out.len() < len {
        // splitmix64
        h = h.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = h;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^= z >> 31;
        let _ = write!(out, "{z:016x}");
    }
    out.truncate(len);
    out
}

/// The archive listing: releases, newest first, until `lines` lines.
fn archive(locales: &[&str], lines: usize) -> Vec<u8> {
    const PLATFORMS: [&str; 7] = [
        "win32",
        "win64",
        "win64-aarch64",
        "mac",
        "linux-i686",
        "linux-x86_64",
        "linux-aarch64",
    ];
    let mut out = String::with_capacity(lines * 120);
    let mut n = 0;
    let mut push = |out: &mut String, path: String| -> bool {
        if n == lines {
            return false;
        }
        let _ = writeln!(out, "{}  {path}", hex(&path, 64));
        n += 1;
        true
    };
    let versions = (0..).map(|i: u32| match i {
        0 => "120.0".to_string(),
        i => format!("{}.0{}", 120 - i / 2, if i % 2 == 1 { ".1" } else { "" }),
    });
    for v in versions {
        let dir = format!("firefox/releases/{v}");
        for extra in ["KEY", "SHA256SUMS", "SHA256SUMS.asc", "SHA512SUMS"] {
            if !push(&mut out, format!("{dir}/{extra}")) {
                return out.into_bytes();
            }
        }
        let src = format!("{dir}/source/firefox-{v}.source.tar.xz");
        if !push(&mut out, src.clone()) || !push(&mut out, format!("{src}.asc")) {
            return out.into_bytes();
        }
        for plat in PLATFORMS {
            for &l in locales {
                let l = if plat == "mac" && l == "ja" {
                    "ja-JP-mac"
                } else {
                    l
                };
                let kinds: Vec<String> = match plat {
                    p if p.starts_with("win") => vec![
                        format!("Firefox Setup {v}.exe"),
                        format!("Firefox Setup {v}.msi"),
                        "Firefox Installer.exe".into(),
                    ],
                    "mac" => vec![format!("Firefox {v}.dmg"), format!("Firefox {v}.pkg")],
                    _ => vec![
                        format!("firefox-{v}.tar.bz2"),
                        format!("firefox-{v}.tar.bz2.asc"),
                    ],
                };
                for k in kinds {
                    if !push(&mut out, format!("{dir}/{plat}/{l}/{k}")) {
                        return out.into_bytes();
                    }
                }
                for from in ["complete".to_string(), "118.0".into(), "119.0".into()] {
                    let mar = if from == "complete" {
                        format!("firefox-{v}.complete.mar")
                    } else {
                        format!("firefox-{from}-{v}.partial.mar")
                    };
                    if !push(&mut out, format!("{dir}/update/{plat}/{l}/{mar}")) {
                        return out.into_bytes();
                    }
                }
            }
        }
    }
    unreachable!("the versions never end")
}

/// A whole Firefox release as its SHA256SUMS and SHA1SUMS list it, in one
/// file: `platforms` platform directories × 100 locales × (the installer,
/// the complete update and 48 partial updates) × 2 digests; GNU, binary
/// and BSD lines, every third one with CRLF.
fn release(locales: &[&str], platforms: usize) -> Vec<u8> {
    const PLATFORMS: [(&str, &str); 10] = [
        ("win32", "Firefox Setup 120.0.exe"),
        ("win64", "Firefox Setup 120.0.exe"),
        ("win64-aarch64", "Firefox Setup 120.0.exe"),
        ("mac", "Firefox 120.0.dmg"),
        ("linux-i686", "firefox-120.0.tar.bz2"),
        ("linux-x86_64", "firefox-120.0.tar.bz2"),
        ("linux-aarch64", "firefox-120.0.tar.bz2"),
        ("android-aarch64", "fenix-120.0.apk"),
        ("android-x86_64", "fenix-120.0.apk"),
        ("android", "fenix-120.0.apk"),
    ];
    let mut out = String::with_capacity(platforms * locales.len() * 50 * 2 * 130);
    let mut n = 0;
    for (plat, installer) in PLATFORMS.iter().take(platforms) {
        for l in locales {
            let mut paths = vec![
                format!("{plat}/{l}/{installer}"),
                format!("update/{plat}/{l}/firefox-120.0.complete.mar"),
            ];
            paths.extend(
                (0..48)
                    .map(|k| format!("update/{plat}/{l}/firefox-{}.0-120.0.partial.mar", 72 + k)),
            );
            for p in paths {
                n += 1;
                let eol = if n % 3 == 0 { "\r\n" } else { "\n" };
                let sha256 = hex(&p, 64);
                match n % 3 {
                    0 => write!(out, "SHA256 ({p}) = {sha256}{eol}"),
                    1 => write!(out, "{sha256} *{p}{eol}"),
                    _ => write!(out, "{sha256}  {p}{eol}"),
                }
                .expect("writing to a string");
                let _ = writeln!(out, "{}  {p}", hex(&p, 40));
            }
        }
    }
    out.into_bytes()
}

/// Every line a file: platforms × locales × the four digest kinds.
fn all_used(locales: &[&str], platforms: &[(String, String)]) -> Vec<u8> {
    let mut out = String::with_capacity(platforms.len() * locales.len() * 4 * 150);
    let paths = || {
        platforms.iter().flat_map(|(dir, _)| {
            locales
                .iter()
                .map(move |l| format!("{dir}/{l}/Stress Setup 1.0.exe"))
        })
    };
    for p in paths() {
        let _ = writeln!(out, "{}  {p}", hex(&p, 32));
    }
    for p in paths() {
        let _ = writeln!(out, "{}  {p}", hex(&p, 40));
    }
    for p in paths() {
        let _ = writeln!(out, "SHA256 ({p}) = {}", hex(&p, 64));
    }
    for p in paths() {
        let _ = writeln!(out, "{} *{p}", hex(&p, 128));
    }
    out.into_bytes()
}

/// The median of `runs` timings of `f`.
fn median<T>(runs: usize, mut f: impl FnMut() -> T) -> Duration {
    let mut times: Vec<Duration> = (0..runs.max(1))
        .map(|_| {
            let start = Instant::now();
            black_box(f());
            start.elapsed()
        })
        .collect();
    times.sort();
    times[times.len() / 2]
}

/// A fresh database with these operating systems added.
fn fresh(path: &Path, oses: &[String]) -> Network {
    let net = Network::open(path, true).expect("create the database");
    if !oses.is_empty() {
        net.write(&bouncer::model::Actor::Program("bench"), |tx| {
            oses.iter().try_for_each(|o| tx.os_add(o).map(drop))
        })
        .expect("add the operating systems");
    }
    net
}

/// The configuration and the known files: what a plan is made against.
fn snapshot(net: &Network) -> (Snapshot, Vec<bouncer::model::FileInfo>) {
    let store = net.store();
    let snapshot = store.snapshot().expect("read the database");
    (snapshot, store.files().expect("read the files"))
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1e3)
}

fn versus(d: Duration, target: Duration) -> String {
    format!(
        "{} = {:.1}% of the {} s target ({})",
        ms(d),
        100.0 * d.as_secs_f64() / target.as_secs_f64(),
        target.as_secs(),
        if d < target { "ok" } else { "MISSED" }
    )
}

/// The baseline for the release: what loading it took before kinds, one
/// `--match` load per kind into its own product (the installers one glob
/// per platform's file type), each parsing the whole file, into one fresh
/// database; against the one load that does it all.
fn kind_by_kind(contents: &[u8], options: &Options, sizes: &Sizes, summary: &mut Vec<String>) {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let mut loads: Vec<(String, String)> = ["*.exe", "*.dmg", "*.tar.bz2", "*.apk"]
        .iter()
        .map(|g| (options.product.clone(), g.to_string()))
        .collect();
    loads.push((
        format!("{}-complete", options.product),
        "update/*.complete.mar".into(),
    ));
    loads.extend((0..48).map(|k| {
        let from = format!("{}.0", 72 + k);
        (
            format!("{}-partial-{from}", options.product),
            format!("update/*/firefox-{from}-120.0.partial.mar"),
        )
    }));
    let mut n = 0;
    let mut each = |one: bool| {
        n += 1;
        let net = fresh(&dir.path().join(format!("kinds-{n}.redb")), &[]);
        let actor = bouncer::model::Actor::Program("bench");
        let start = Instant::now();
        let mut files = 0;
        let runs: Vec<Options> = if one {
            vec![options.clone()]
        } else {
            loads
                .iter()
                .map(|(product, glob)| Options {
                    product: product.clone(),
                    matching: Some(glob.clone()),
                    ..options.clone()
                })
                .collect()
        };
        for o in &runs {
            let s = snapshot(&net);
            let plan = loader::plan(&s.0, &s.1, &loader::parse(contents), o).expect("a plan");
            files += loader::apply(&net, &plan, &actor).expect("apply").files;
        }
        (start.elapsed(), files)
    };
    let mut one: Vec<(Duration, usize)> = (0..sizes.apply_runs).map(|_| each(true)).collect();
    let mut many: Vec<(Duration, usize)> = (0..sizes.apply_runs).map(|_| each(false)).collect();
    one.sort();
    many.sort();
    let (one, many) = (one[one.len() / 2], many[many.len() / 2]);
    assert_eq!(one.1, many.1, "both ways load every file");
    let line = format!(
        "release, baseline: {} loads, one --match'ed kind each: {} for {} files; one load: {} ({:.2}x the time)",
        loads.len(),
        ms(many.0),
        many.1,
        ms(one.0),
        one.0.as_secs_f64() / many.0.as_secs_f64()
    );
    println!("{line}\n");
    summary.push(line);
}

fn run_case(
    name: &str,
    contents: &[u8],
    options: &Options,
    oses: &[String],
    cli_args: &[&str],
    sizes: &Sizes,
    summary: &mut Vec<String>,
) {
    println!("== {name} ==");
    let dir = tempfile::tempdir().expect("a temporary directory");
    let lines = contents.iter().filter(|&&b| b == b'\n').count();
    println!("file: {lines} lines, {:.1} MB", contents.len() as f64 / 1e6);

    // Parse.
    let parsed = loader::parse(contents);
    assert!(parsed.problems.is_empty(), "{:?}", &parsed.problems[..1]);
    assert_eq!(parsed.entries.len(), lines);
    let parse = median(sizes.runs, || loader::parse(contents));
    println!(
        "parse: {} ({:.0} lines/ms)",
        ms(parse),
        lines as f64 / parse.as_secs_f64() / 1e3
    );

    // Parse + plan against an empty database.
    let empty_net = fresh(&dir.path().join("empty.redb"), oses);
    let empty = snapshot(&empty_net);
    let plan = loader::plan(&empty.0, &empty.1, &parsed, options).expect("a plan");
    assert!(plan.skipped.is_empty(), "{:?}", &plan.skipped[..1]);
    let files = plan.files_with(Status::New);
    let locations = plan.locations_with(Status::New);
    println!(
        "plan: {} products, {} files in {} locations, {} lines left out by --match, {} not loaded",
        plan.products.len(),
        files,
        locations,
        plan.unmatched,
        plan.not_loaded.len()
    );
    let plan_empty = median(sizes.runs, || {
        loader::plan(&empty.0, &empty.1, &loader::parse(contents), options).expect("a plan")
    });
    let describe = median(sizes.runs, || plan.describe());
    println!(
        "parse + plan, empty database: {} (describe: {})",
        ms(plan_empty),
        ms(describe)
    );

    // The library's full load into fresh databases.
    let mut n = 0;
    let mut full = |dry_run: bool| {
        n += 1;
        let net = fresh(&dir.path().join(format!("load-{n}.redb")), oses);
        let start = Instant::now();
        let s = snapshot(&net);
        let parsed = loader::parse(contents);
        let plan = loader::plan(&s.0, &s.1, &parsed, options).expect("a plan");
        let text = plan.describe();
        if !dry_run {
            let done = loader::apply(&net, &plan, &bouncer::model::Actor::Program("bench"))
                .expect("apply");
            assert_eq!(done.files, files);
        }
        black_box(text);
        let took = start.elapsed();
        (took, net)
    };
    let mut dry: Vec<Duration> = (0..sizes.apply_runs).map(|_| full(true).0).collect();
    dry.sort();
    let dry = dry[dry.len() / 2];
    let mut applied: Vec<(Duration, Network)> =
        (0..sizes.apply_runs).map(|_| full(false)).collect();
    applied.sort_by_key(|(d, _)| *d);
    let apply = applied[applied.len() / 2].0;
    let (_, loaded_net) = applied.pop().expect("one run");
    drop(applied);
    println!(
        "library, fresh database (snapshot + parse + plan + describe [+ apply + index]): dry run {}, apply {}",
        ms(dry),
        ms(apply)
    );

    // Parse + plan against a database where all of it is loaded.
    let loaded = snapshot(&loaded_net);
    let again = loader::plan(&loaded.0, &loaded.1, &parsed, options).expect("a plan");
    assert!(!again.changes_anything());
    assert_eq!(again.files_with(Status::Same), files);
    let plan_loaded = median(sizes.runs, || {
        loader::plan(&loaded.0, &loaded.1, &loader::parse(contents), options).expect("a plan")
    });
    println!(
        "parse + plan, everything already loaded: {}",
        ms(plan_loaded)
    );
    drop(loaded_net);

    // The real binary, end to end.
    let file = dir.path().join("SHA256SUMS");
    std::fs::write(&file, contents).expect("write the checksum file");
    let file = file.to_str().expect("a UTF-8 path");
    let mut m = 0;
    let mut cli = |dry_run: bool| {
        m += 1;
        let db = dir.path().join(format!("cli-{m}.redb"));
        drop(fresh(&db, oses));
        let mut args = vec!["--db", db.to_str().expect("UTF-8"), "load", file];
        args.extend_from_slice(cli_args);
        if dry_run {
            args.push("--dry-run");
        }
        let start = Instant::now();
        let out = Command::new(env!("CARGO_BIN_EXE_bouncer"))
            .env_remove("BOUNCER_DB")
            .args(&args)
            .output()
            .expect("run bouncer load");
        let took = start.elapsed();
        assert!(out.status.success(), "{out:?}");
        let stdout = String::from_utf8_lossy(&out.stdout);
        let expect = if dry_run {
            "dry run: nothing written"
        } else {
            "applied:"
        };
        assert!(stdout.contains(expect), "{stdout}");
        took
    };
    let mut cli_dry: Vec<Duration> = (0..sizes.apply_runs).map(|_| cli(true)).collect();
    let mut cli_apply: Vec<Duration> = (0..sizes.apply_runs).map(|_| cli(false)).collect();
    cli_dry.sort();
    cli_apply.sort();
    let (cli_dry, cli_apply) = (cli_dry[cli_dry.len() / 2], cli_apply[cli_apply.len() / 2]);
    println!(
        "`bouncer load` end to end: --dry-run {}, apply {}",
        ms(cli_dry),
        ms(cli_apply)
    );
    println!();

    summary.push(format!(
        "{name}\n  {lines} lines -> {files} files, {locations} locations\n  parse                         {}\n  parse + plan (empty db)       {}\n  parse + plan (all loaded)     {}\n  full load, library, dry run   {}\n  full load, library, apply     {}\n  bouncer load --dry-run        {}\n  bouncer load                  {}",
        ms(parse),
        versus(plan_empty, PARSE_PLAN_TARGET),
        versus(plan_loaded, PARSE_PLAN_TARGET),
        versus(dry, FULL_LOAD_TARGET),
        versus(apply, FULL_LOAD_TARGET),
        versus(cli_dry, FULL_LOAD_TARGET),
        versus(cli_apply, FULL_LOAD_TARGET),
    ));
}
