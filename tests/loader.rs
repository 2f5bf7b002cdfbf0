//! SPEC §5, the loader: `bouncer load FILE --product P [--prefix DIR]
//! [--match GLOB] [--kind SUFFIX=GLOB] [--os-map A=B,…] [--ssl-only]
//! [--private] [--dry-run] [--force]` on generated releases: Firefox-shaped
//! ones (100 locales × win32/win64/mac/linux-x86_64, installers, MSIs,
//! update MARs, `KEY`, `SHA256SUMS.asc`, the source tarball and a few
//! garbage lines) in GNU, BSD and mixed formats, a 100,000-line one with 50
//! kinds of file on 10 platforms, a Thunderbird-shaped one and a project
//! without languages. Each kind of file becomes a product (`P`, `P-msi`,
//! `P-complete`, `P-partial-119.0`, …) in one load: the printed plan, what
//! lands in the database, what the server then serves, dry runs, reloads,
//! later files that complete a release, `--match` and `--kind`, the flags
//! new products take, operating systems `--os-map` creates or suggests,
//! conflicts, unusable files, the control socket, and odd names (CRLF,
//! spaces, non-ASCII, `./`, GNU-escaped names).
//!
//! The database is read back with the library (`Store::open`) only while no
//! server holds it.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use bouncer::loader::locales::KNOWN;
use bouncer::model::FileInfo;
use bouncer::store::{Snapshot, Store};

use crate::common::{Env, Out};

const V: &str = "120.0";
const PREFIX: &str = "/pub/firefox/releases/120.0";
const MIRROR: &str = "http://127.0.0.1:9/mirror";
const PLATFORMS: [&str; 4] = ["win32", "win64", "mac", "linux-x86_64"];
const FX: &str = "firefox-120.0";
const WIN_EXE: &str = "win*/*Setup*.exe";

// ----- generated checksum files -----

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Md5,
    Sha1,
    Sha256,
    Sha512,
}

impl Kind {
    fn digits(self) -> usize {
        match self {
            Kind::Md5 => 32,
            Kind::Sha1 => 40,
            Kind::Sha256 => 64,
            Kind::Sha512 => 128,
        }
    }

    fn tag(self) -> &'static str {
        match self {
            Kind::Md5 => "MD5",
            Kind::Sha1 => "SHA1",
            Kind::Sha256 => "SHA256",
            Kind::Sha512 => "SHA512",
        }
    }

    fn of(self, f: &FileInfo) -> Option<&str> {
        match self {
            Kind::Md5 => f.md5.as_deref(),
            Kind::Sha1 => f.sha1.as_deref(),
            Kind::Sha256 => f.sha256.as_deref(),
            Kind::Sha512 => f.sha512.as_deref(),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Style {
    /// `<hex>  <path>`
    Gnu,
    /// `<hex> *<path>`
    GnuBinary,
    /// `SHA256 (<path>) = <hex>`
    Bsd,
}

/// 100 locales as Firefox ships them: `ja` everywhere but on mac, where it
/// is `ja-JP-mac`.
fn locales() -> Vec<&'static str> {
    let l: Vec<&str> = KNOWN
        .iter()
        .copied()
        .filter(|l| *l != "ja-JP-mac")
        .enumerate()
        .filter(|(i, _)| i % 6 != 2)
        .map(|(_, l)| l)
        .collect();
    assert_eq!(l.len(), 100);
    for want in ["de", "en-US", "fr", "ja", "pt-BR", "zh-TW"] {
        assert!(l.contains(&want), "{want}");
    }
    l
}

fn locale(platform: &str, l: &'static str) -> &'static str {
    if platform == "mac" && l == "ja" {
        "ja-JP-mac"
    } else {
        l
    }
}

/// A deterministic lower-case hex digest of `kind`'s length for `path`;
/// another `salt` gives another digest.
fn digest(path: &str, kind: Kind, salt: &str) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in salt.bytes().chain([0]).chain(path.bytes()) {
        h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
    }
    let mut out = String::new();
    while out.len() < kind.digits() {
        h = h.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = h;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^= z >> 31;
        let _ = write!(out, "{z:016x}");
    }
    out.truncate(kind.digits());
    out
}

fn installers(platform: &str) -> Vec<String> {
    match platform {
        "win32" | "win64" => vec![
            format!("Firefox Setup {V}.exe"),
            format!("Firefox Setup {V}.msi"),
        ],
        "mac" => vec![format!("Firefox {V}.dmg")],
        _ => vec![format!("firefox-{V}.tar.bz2")],
    }
}

/// Every file of the release in these locales, relative to its directory,
/// in SHA256SUMS order: `KEY`, `SHA256SUMS.asc`, the installers, the
/// complete updates, the source tarball.
fn release_paths_in(locales: &[&'static str]) -> Vec<String> {
    let mut paths = vec!["KEY".to_string(), "SHA256SUMS.asc".to_string()];
    for p in PLATFORMS {
        for &l in locales {
            for f in installers(p) {
                paths.push(format!("{p}/{}/{f}", locale(p, l)));
            }
        }
    }
    for p in PLATFORMS {
        for &l in locales {
            paths.push(format!(
                "update/{p}/{}/firefox-{V}.complete.mar",
                locale(p, l)
            ));
        }
    }
    paths.push(format!("source/firefox-{V}.source.tar.xz"));
    paths
}

/// The whole release: 2 + 4 × 100 × (installers + 1 MAR) + 1 = 1003 paths.
fn release_paths() -> Vec<String> {
    let paths = release_paths_in(&locales());
    assert_eq!(paths.len(), 1003);
    paths
}

/// A checksum file being written, with the line numbers of what it holds.
struct Sums {
    bytes: Vec<u8>,
    eol: &'static str,
    line: usize,
    /// Non-blank, non-comment lines.
    read: usize,
    /// Line numbers of the entries, in order.
    entries: Vec<usize>,
    /// (line, the reason the loader must give).
    garbage: Vec<(usize, String)>,
}

impl Sums {
    fn new(eol: &'static str) -> Sums {
        Sums {
            bytes: Vec::new(),
            eol,
            line: 0,
            read: 0,
            entries: Vec::new(),
            garbage: Vec::new(),
        }
    }

    fn raw(&mut self, bytes: &[u8]) {
        self.bytes.extend_from_slice(bytes);
        self.bytes.extend_from_slice(self.eol.as_bytes());
        self.line += 1;
    }

    fn comment(&mut self, text: &str) {
        self.raw(format!("# {text}").as_bytes());
    }

    fn blank(&mut self) {
        self.raw(b"");
    }

    fn entry(&mut self, path: &str, kind: Kind, style: Style, salt: &str) {
        let hex = digest(path, kind, salt);
        let line = match style {
            Style::Gnu => format!("{hex}  {path}"),
            Style::GnuBinary => format!("{hex} *{path}"),
            Style::Bsd => format!("{} ({path}) = {hex}", kind.tag()),
        };
        self.raw(line.as_bytes());
        self.read += 1;
        self.entries.push(self.line);
    }

    fn garbage(&mut self, bytes: &[u8], reason: &str) {
        self.raw(bytes);
        self.read += 1;
        self.garbage.push((self.line, reason.to_string()));
    }

    /// The next of [`garbage`]'s lines.
    fn next_garbage(&mut self) {
        let (bytes, reason) = &garbage()[self.garbage.len() % garbage().len()];
        self.garbage(bytes, reason);
    }

    fn write(&self, dir: &Path, name: &str) -> String {
        let path = dir.join(name);
        std::fs::write(&path, &self.bytes).expect("write the checksum file");
        path.to_str().expect("a UTF-8 path").to_string()
    }
}

/// Unusable lines and the reasons the loader gives for them.
fn garbage() -> Vec<(Vec<u8>, String)> {
    let sha256 = digest("x", Kind::Sha256, "");
    let sha1 = digest("x", Kind::Sha1, "");
    let md5 = digest("x", Kind::Md5, "");
    vec![
        (
            b"this is not a checksum line".to_vec(),
            "\"this\" is not a hex digest".into(),
        ),
        (
            format!("{}  win32/de/Firefox Setup {V}.exe", &sha256[..20]).into_bytes(),
            "a digest of 20 hex digits is none of MD5 (32), SHA-1 (40), SHA-256 (64), SHA-512 (128)"
                .into(),
        ),
        (
            format!("WHIRLPOOL (win32/de/Firefox Setup {V}.exe) = {md5}").into_bytes(),
            "unknown digest name \"WHIRLPOOL\" (expected MD5, SHA1, SHA256 or SHA512)".into(),
        ),
        (
            format!("{sha256}  ../../etc/passwd").into_bytes(),
            "path \"../../etc/passwd\" has '.' or '..' segments".into(),
        ),
        (
            format!("{sha256}-no-separator").into_bytes(),
            "expected `<hex digest>  <path>` or `SHA256 (<path>) = <hex digest>`".into(),
        ),
        (
            format!("SHA256 (win64/fr/Firefox Setup {V}.exe) = {sha1}").into_bytes(),
            "SHA256 digest has 40 hex digits, which is SHA1".into(),
        ),
        (
            b"\xff\xfe  not UTF-8".to_vec(),
            "not valid UTF-8".into(),
        ),
        (
            format!("{sha256} win32/de/one-space.exe").into_bytes(),
            "expected two spaces (or ` *`) between digest and path".into(),
        ),
    ]
}

/// Entries before which a garbage line goes.
const GARBAGE_AT: [usize; 8] = [1, 57, 200, 333, 512, 700, 901, 1002];

/// The whole release in one format: every path with these (kind, style)
/// pairs, a comment header, a blank line, and the 8 garbage lines spread
/// through it.
fn release(eol: &'static str, salt: &str, kinds: impl Fn(usize) -> Vec<(Kind, Style)>) -> Sums {
    let mut s = Sums::new(eol);
    s.comment(&format!("Firefox {V} checksums"));
    s.blank();
    for (i, path) in release_paths().iter().enumerate() {
        if GARBAGE_AT.contains(&i) {
            s.next_garbage();
        }
        for (kind, style) in kinds(i) {
            s.entry(path, kind, style, salt);
        }
    }
    s.blank();
    assert_eq!(s.garbage.len(), 8);
    s
}

fn gnu256() -> Sums {
    release("\n", "", |_| vec![(Kind::Sha256, Style::Gnu)])
}

fn bsd512() -> Sums {
    release("\n", "", |_| vec![(Kind::Sha512, Style::Bsd)])
}

/// The kinds (and styles) the mixed file gives the `i`th path.
fn mixed_kinds(i: usize) -> Vec<(Kind, Style)> {
    match i % 4 {
        0 => vec![(Kind::Sha256, Style::Gnu)],
        1 => vec![(Kind::Sha512, Style::Bsd)],
        2 => vec![(Kind::Sha256, Style::GnuBinary), (Kind::Sha512, Style::Bsd)],
        _ => vec![
            (Kind::Md5, Style::Gnu),
            (Kind::Sha1, Style::Bsd),
            (Kind::Sha256, Style::Bsd),
            (Kind::Sha512, Style::GnuBinary),
        ],
    }
}

// ----- helpers -----

fn load(env: &Env, file: &str, product: &str, extra: &[&str]) -> Out {
    let mut args = vec!["load", file, "--product", product, "--prefix", PREFIX];
    args.extend_from_slice(extra);
    env.run(&args)
}

/// A load that must succeed; its stdout.
fn load_ok(env: &Env, file: &str, product: &str, extra: &[&str]) -> String {
    let out = load(env, file, product, extra);
    assert_eq!(out.code, 0, "load {file} {extra:?}: {out:?}");
    assert_eq!(out.stderr, "", "{out:?}");
    out.stdout
}

fn assert_line(out: &str, line: &str) {
    assert!(
        out.lines().any(|l| l == line),
        "no line {line:?} in:\n{out}"
    );
}

/// The plan's line for `product`: `  NAME  new  locations …`.
fn product_line<'a>(out: &'a str, product: &str) -> &'a str {
    out.lines()
        .find(|l| {
            l.strip_prefix("  ")
                .and_then(|l| l.strip_prefix(product))
                .is_some_and(|rest| rest.starts_with("  "))
        })
        .unwrap_or_else(|| panic!("no line for product {product} in:\n{out}"))
}

/// The products a plan lists, in its order.
fn planned_products(out: &str) -> Vec<&str> {
    let mut lines = out.lines().skip_while(|l| !l.contains(" product(s): "));
    lines.next();
    lines
        .take_while(|l| l.starts_with("  ") && !l.starts_with("  total: "))
        .filter(|l| !l.starts_with("      "))
        .map(|l| l.split_whitespace().next().unwrap_or_default())
        .collect()
}

/// The unusable lines a [`Sums`] holds as `describe` reports them (each
/// garbage line has its own reason), in line order.
fn garbage_lines(sums: &Sums) -> String {
    let mut garbage = sums.garbage.clone();
    garbage.sort();
    garbage
        .iter()
        .map(|(line, reason)| format!("  line {line}: {reason}\n"))
        .collect()
}

/// Every garbage line reported with its number and reason.
fn assert_garbage_reported(out: &str, sums: &Sums) {
    for (line, reason) in &sums.garbage {
        assert_line(out, &format!("  line {line}: {reason}"));
    }
}

/// What a database holds of the release a file [`release`] wrote.
#[derive(Clone, Copy)]
enum Against {
    /// None of it.
    Nothing,
    /// All of it; the file's files are this (`unchanged`, `completed with
    /// more hashes`).
    Loaded(&'static str),
}

/// The plan `bouncer load FILE --product firefox-120.0` prints for a file
/// [`release`] wrote with one line per path (every line but the last):
/// the installers, the complete updates and the MSIs, each a product.
fn release_plan(file: &str, sums: &Sums, against: Against) -> String {
    let fresh = matches!(against, Against::Nothing);
    let (status, locations, files) = match against {
        Against::Nothing => ("new", "new", "new"),
        Against::Loaded(files) => ("existing", "unchanged", files),
    };
    let languages = |n: usize| {
        if fresh {
            format!("{n} languages ({n} new)")
        } else {
            format!("{n} languages")
        }
    };
    let product = |name: &str,
                   n_locations: usize,
                   n_languages: usize,
                   n_files: usize,
                   tail: &str| {
        format!(
            "  {name:<22}  {status:<8}  locations {n_locations} {locations}; {}; files {n_files} {files}{tail}\n",
            languages(n_languages)
        )
    };
    let mut out = format!("{file}: {} checksum line(s) read\n", sums.read);
    if fresh {
        let _ = writeln!(
            out,
            "languages new to the products: 101 ({}, … (89 more))",
            {
                let mut all: Vec<&str> = locales().into_iter().chain(["ja-JP-mac"]).collect();
                all.sort_unstable();
                all[..12].join(", ")
            }
        );
    }
    let _ = writeln!(
        out,
        "3 product(s): {}",
        if fresh {
            "3 new, 0 existing"
        } else {
            "0 new, 3 existing"
        }
    );
    out += &product(FX, 4, 101, 400, "");
    for (os, path) in [
        (
            "linux64",
            format!("{PREFIX}/linux-x86_64/:lang/firefox-{V}.tar.bz2"),
        ),
        ("osx", format!("{PREFIX}/mac/:lang/Firefox%20{V}.dmg")),
        ("win", exe("win32")),
        ("win64", exe("win64")),
    ] {
        let _ = writeln!(out, "      {os:<10} {path}  [100 languages] {locations}");
    }
    out += &product(
        "firefox-120.0-complete",
        4,
        101,
        400,
        &format!("; {PREFIX}/update/*/:lang/firefox-{V}.complete.mar"),
    );
    out += &product(
        "firefox-120.0-msi",
        2,
        100,
        200,
        &format!("; {PREFIX}/*/:lang/Firefox%20Setup%20{V}.msi"),
    );
    let _ = writeln!(out, "  total: locations 10 {locations}; files 1000 {files}");
    let (key, asc, source) = (sums.entries[0], sums.entries[1], sums.entries[1002]);
    let _ = write!(
        out,
        "3 line(s) not loaded (no kind of file to offer; not errors):\n  \
         line {key}: checksum or key file, e.g. KEY\n  \
         line {asc}: signature, e.g. SHA256SUMS.asc\n  \
         line {source}: no platform directory (source, language packs, tools, …), e.g. source/firefox-{V}.source.tar.xz\n"
    );
    let _ = writeln!(out, "{} line(s) could not be used:", sums.garbage.len());
    out + &garbage_lines(sums)
}

/// The Windows installer's location template for a platform directory.
fn exe(platform: &str) -> String {
    format!("{PREFIX}/{platform}/:lang/Firefox%20Setup%20{V}.exe")
}

/// The operating system of one of [`PLATFORMS`] (the loader's defaults).
fn os_of(platform: &str) -> &'static str {
    match platform {
        "win32" => "win",
        "win64" => "win64",
        "mac" => "osx",
        "linux-x86_64" => "linux64",
        other => panic!("no OS for {other}"),
    }
}

/// What the database holds: the configuration, and the known files.
struct Stored {
    snapshot: Snapshot,
    files: Vec<FileInfo>,
}

impl std::ops::Deref for Stored {
    type Target = Snapshot;
    fn deref(&self) -> &Snapshot {
        &self.snapshot
    }
}

fn snapshot(env: &Env) -> Stored {
    let store = Store::open(&env.db).expect("open the database");
    Stored {
        snapshot: store.snapshot().expect("read the database"),
        files: store.files().expect("read the files"),
    }
}

fn events(env: &Env) -> Vec<(String, String, String)> {
    Store::open(&env.db)
        .expect("open the database")
        .events(100_000)
        .expect("read the audit log")
        .into_iter()
        .map(|e| (e.actor, e.action, e.detail))
        .collect()
}

fn file<'a>(s: &'a Stored, path: &str) -> &'a FileInfo {
    s.files
        .iter()
        .find(|f| f.path == path)
        .unwrap_or_else(|| panic!("no file {path}"))
}

fn dir(env: &Env) -> PathBuf {
    env.db
        .parent()
        .expect("the database's directory")
        .to_path_buf()
}

fn print(server: &crate::common::Server, target: &str) -> String {
    let r = server.get(target);
    assert_eq!(r.status, 200, "{target}: {r:?}");
    r.body.trim_end().to_string()
}

// ----- tests -----

#[test]
fn a_firefox_release_loads_in_gnu_and_bsd_formats_and_is_served() {
    let env = Env::new();
    let d = dir(&env);
    let gnu = gnu256();
    let bsd = bsd512();
    let gnu_file = gnu.write(&d, "SHA256SUMS");
    let bsd_file = bsd.write(&d, "SHA512SUMS");
    // A new, empty database: a dry run only reads, and creates none.
    env.ok(&["settings", "unset", "mail.host"]);

    // Without --match every kind of file is a product: the installers
    // firefox-120.0, the complete updates and the MSIs products of their
    // own. Every line read is a file of one, not loaded (and why), or
    // garbage (with its line number).
    let plan = release_plan(&gnu_file, &gnu, Against::Nothing);
    let out = load_ok(&env, &gnu_file, FX, &["--dry-run"]);
    assert_eq!(out, format!("{plan}dry run: nothing written\n"));

    // One load sets up the whole release.
    let out = load_ok(&env, &gnu_file, FX, &[]);
    assert_eq!(
        out,
        format!(
            "{plan}applied: 3 new product(s), 101 language(s), 10 location(s), 1000 file(s); sentry checks them next\n"
        )
    );
    let ev = events(&env);
    assert!(
        ev.contains(&(
            "cli".into(),
            "loader.apply".into(),
            format!(
                "{FX} and 2 more products: 101 languages, 10 locations, 1000 files added or updated"
            )
        )),
        "{ev:?}"
    );

    // Sentry has checked the products; the next load marks them again.
    {
        let store = Store::open(&env.db).expect("open");
        let products = store.snapshot().unwrap().products.clone();
        store
            .write(&bouncer::model::Actor::Program("test"), |tx| {
                products.iter().try_for_each(|p| tx.product_checked(p))
            })
            .unwrap();
    }
    let s = snapshot(&env);
    assert!(s.products.iter().all(|p| !p.checknow));

    // SHA-512 in BSD lines completes what SHA-256 started, every kind.
    let out = load_ok(&env, &bsd_file, FX, &[]);
    assert_eq!(
        out,
        format!(
            "{}applied: 0 language(s), 0 location(s), 1000 file(s); sentry checks them next\n",
            release_plan(
                &bsd_file,
                &bsd,
                Against::Loaded("completed with more hashes")
            )
        )
    );
    let s = snapshot(&env);
    assert_eq!(s.products.len(), 3);
    assert!(s.products.iter().all(|p| p.checknow));

    // What the database holds.
    let mut rows = env.location_rows();
    rows.sort();
    let row = |p: &str, os: &str, path: String| (p.to_string(), os.to_string(), path);
    let msi = |p: &str| format!("{PREFIX}/{p}/:lang/Firefox%20Setup%20{V}.msi");
    let mar = |p: &str| format!("{PREFIX}/update/{p}/:lang/firefox-{V}.complete.mar");
    let mut want = vec![
        row(FX, "win", exe("win32")),
        row(FX, "win64", exe("win64")),
        row(FX, "osx", format!("{PREFIX}/mac/:lang/Firefox%20{V}.dmg")),
        row(
            FX,
            "linux64",
            format!("{PREFIX}/linux-x86_64/:lang/firefox-{V}.tar.bz2"),
        ),
        row("firefox-120.0-msi", "win", msi("win32")),
        row("firefox-120.0-msi", "win64", msi("win64")),
        row("firefox-120.0-complete", "win", mar("win32")),
        row("firefox-120.0-complete", "win64", mar("win64")),
        row("firefox-120.0-complete", "osx", mar("mac")),
        row("firefox-120.0-complete", "linux64", mar("linux-x86_64")),
    ];
    want.sort();
    assert_eq!(rows, want);

    for (product, n) in [
        (FX, 101),
        ("firefox-120.0-complete", 101),
        ("firefox-120.0-msi", 100),
    ] {
        let p = s.product(product).unwrap();
        assert_eq!(p.languages.len(), n, "{product}: {:?}", p.languages);
        let mac = p.languages.iter().any(|l| l == "ja-JP-mac");
        assert_eq!(mac, n == 101, "{product}: {:?}", p.languages);
    }
    assert_eq!(s.files.len(), 1000);
    let location = |p: &str, os: &str| {
        let pid = s.product(p).unwrap().id;
        s.locations
            .iter()
            .find(|l| l.product == pid && l.os == os)
            .unwrap()
            .id
    };
    for rel in release_paths() {
        let Some((platform, rest)) = rel.split_once('/') else {
            continue;
        };
        let rest: Vec<&str> = rest.split('/').collect();
        let (product, platform, l) = match (platform, &rest[..]) {
            ("update", &[p, l, _]) => ("firefox-120.0-complete", p, l),
            ("source", _) => continue,
            (p, &[l, name]) if name.ends_with(".msi") => ("firefox-120.0-msi", p, l),
            (p, &[l, _]) => (FX, p, l),
            _ => panic!("{rel}"),
        };
        let path = format!("{PREFIX}/{}", rel.replace(' ', "%20"));
        let f = file(&s, &path);
        assert_eq!(
            f.location,
            Some(location(product, os_of(platform))),
            "{path}"
        );
        assert_eq!(f.lang.as_deref(), Some(l), "{path}");
        for kind in [Kind::Sha256, Kind::Sha512] {
            assert_eq!(kind.of(f), Some(&*digest(&rel, kind, "")), "{path}");
        }
        assert_eq!((f.md5.as_deref(), f.sha1.as_deref()), (None, None));
    }
    assert!(!s.files.iter().any(|f| f.path.ends_with("/KEY")));

    // Served: each kind by product name, and by file path.
    env.setup(&[&format!("mirror add m1 {MIRROR}"), "status set m1 present"]);
    let server = env.serve(&[]);
    for (product, os, lang, path) in [
        (
            FX,
            "win",
            "de",
            format!("{PREFIX}/win32/de/Firefox%20Setup%20{V}.exe"),
        ),
        (
            FX,
            "win64",
            "zh-TW",
            format!("{PREFIX}/win64/zh-TW/Firefox%20Setup%20{V}.exe"),
        ),
        (
            FX,
            "osx",
            "ja-JP-mac",
            format!("{PREFIX}/mac/ja-JP-mac/Firefox%20{V}.dmg"),
        ),
        (
            FX,
            "linux64",
            "pt-BR",
            format!("{PREFIX}/linux-x86_64/pt-BR/firefox-{V}.tar.bz2"),
        ),
        (
            "firefox-120.0-msi",
            "win64",
            "fr",
            format!("{PREFIX}/win64/fr/Firefox%20Setup%20{V}.msi"),
        ),
        (
            "firefox-120.0-complete",
            "osx",
            "ja-JP-mac",
            format!("{PREFIX}/update/mac/ja-JP-mac/firefox-{V}.complete.mar"),
        ),
        (
            "firefox-120.0-complete",
            "win",
            "de",
            format!("{PREFIX}/update/win32/de/firefox-{V}.complete.mar"),
        ),
    ] {
        let url = print(
            &server,
            &format!("/?product={product}&os={os}&lang={lang}&print=yes"),
        );
        assert_eq!(url, format!("{MIRROR}{path}"));
        let r = server.get_redirect(&format!("/files{path}"));
        assert_eq!(r.location(), format!("{MIRROR}{path}"));
    }
    // A language the product does not have, a kind an OS has not, and
    // files never loaded.
    assert_eq!(
        server
            .get(&format!("/?product={FX}&os=win&lang=xx-YY"))
            .status,
        404
    );
    assert_eq!(
        server
            .get("/?product=firefox-120.0-msi&os=osx&lang=de")
            .status,
        404
    );
    assert_eq!(server.get(&format!("/files{PREFIX}/KEY")).status, 404);
    assert_eq!(
        server
            .get(&format!("/files{PREFIX}/source/firefox-{V}.source.tar.xz"))
            .status,
        404
    );
}

#[test]
fn a_mixed_file_gives_each_file_the_hashes_it_lists() {
    let env = Env::new();
    let sums = release("\n", "", mixed_kinds);
    let f = sums.write(&dir(&env), "MIXEDSUMS");
    let out = load_ok(&env, &f, FX, &[]);
    assert_line(&out, "  total: locations 10 new; files 1000 new");
    assert_garbage_reported(&out, &sums);
    assert_line(&out, "8 line(s) could not be used:");
    let s = snapshot(&env);
    let mut seen = 0;
    for (i, rel) in release_paths().iter().enumerate() {
        let path = format!("{PREFIX}/{}", rel.replace(' ', "%20"));
        let Some(f) = s.files.iter().find(|f| f.path == path) else {
            continue;
        };
        seen += 1;
        let kinds: Vec<Kind> = mixed_kinds(i).iter().map(|(k, _)| *k).collect();
        for kind in [Kind::Md5, Kind::Sha1, Kind::Sha256, Kind::Sha512] {
            let want = kinds.contains(&kind).then(|| digest(rel, kind, ""));
            assert_eq!(kind.of(f).map(str::to_string), want, "{rel} {kind:?}");
        }
    }
    assert_eq!(seen, 1000);
    assert!(load_ok(&env, &f, FX, &[]).ends_with("nothing to add\n"));

    // One path listed twice with different digests of one kind: the second
    // line is reported, the first one kept.
    let path = format!("win32/de/Firefox Setup {V}.exe");
    let (one, two) = (digest("a", Kind::Sha256, ""), digest("b", Kind::Sha256, ""));
    let text = format!("{one}  {path}\nSHA256 ({path}) = {two}\n");
    std::fs::write(dir(&env).join("TWICE"), text).unwrap();
    // (Files are known by path: another directory, not to meet the above.)
    let twice = dir(&env).join("TWICE");
    let out = env.ok(&[
        "load",
        twice.to_str().unwrap(),
        "--product",
        "twice",
        "--prefix",
        "/pub/twice",
    ]);
    assert_line(
        &out,
        &format!("  line 2: SHA256 of {path:?} differs from the one on line 1"),
    );
    let s = snapshot(&env);
    let stored = &file(&s, &format!("/pub/twice/{}", path.replace(' ', "%20"))).sha256;
    assert_eq!(stored.as_deref(), Some(one.as_str()));
}

#[test]
fn a_dry_run_writes_nothing() {
    let env = Env::new();
    env.setup(&[
        "product add other --lang de",
        "location add other win /other/:lang/setup.exe",
    ]);
    let sums = gnu256();
    let f = sums.write(&dir(&env), "SHA256SUMS");
    let state = |env: &Env| {
        (
            env.ok(&["product", "list"]),
            env.ok(&["location", "list"]),
            env.ok(&["os", "list"]),
            events(env),
            snapshot(env).files,
        )
    };
    let before = state(&env);
    for extra in [
        &["--dry-run"][..],
        &["--match", WIN_EXE, "--dry-run"],
        &["--dry-run", "--force"],
        &["--kind", "updates=update/*", "--dry-run"],
        // An operating system --os-map would create.
        &["--os-map", "mac=macos", "--dry-run"],
    ] {
        let out = load_ok(&env, &f, FX, extra);
        assert!(
            product_line(&out, FX).contains("  new  "),
            "{extra:?}: {out}"
        );
        assert!(out.ends_with("dry run: nothing written\n"), "{out}");
        assert!(!out.contains("applied:"), "{out}");
    }
    let out = load_ok(&env, &f, FX, &["--os-map", "mac=macos", "--dry-run"]);
    assert!(out.contains("\noperating systems to add: macos\n"), "{out}");
    let out = load_ok(&env, &f, FX, &["--dry-run"]);
    assert_line(&out, "  total: locations 10 new; files 1000 new");
    let after = state(&env);
    assert_eq!(before, after);
    assert!(!after.0.contains(FX));
    assert!(!after.2.contains("macos"));
    assert!(after.4.is_empty());

    // A dry run on a loaded release shows what a real run would do.
    load_ok(&env, &f, FX, &[]);
    let before = state(&env);
    let bsd = bsd512();
    let bsd_file = bsd.write(&dir(&env), "SHA512SUMS");
    let out = load_ok(&env, &bsd_file, FX, &["--dry-run"]);
    assert_eq!(
        out,
        format!(
            "{}dry run: nothing written\n",
            release_plan(
                &bsd_file,
                &bsd,
                Against::Loaded("completed with more hashes")
            )
        )
    );
    assert_eq!(before, state(&env));
}

#[test]
fn loading_the_same_release_twice_adds_nothing() {
    let env = Env::new();
    let d = dir(&env);
    let gnu = gnu256();
    let gnu_file = gnu.write(&d, "SHA256SUMS");
    // The same digests in BSD lines, CRLF: the same release.
    let bsd = release("\r\n", "", |_| vec![(Kind::Sha256, Style::Bsd)]);
    let bsd_file = bsd.write(&d, "BSD256");
    let first = load_ok(&env, &gnu_file, FX, &[]);
    assert!(
        first.ends_with(
            "applied: 3 new product(s), 101 language(s), 10 location(s), 1000 file(s); sentry checks them next\n"
        ),
        "{first}"
    );
    let (files, ev) = (snapshot(&env).files, events(&env));
    for (f, sums) in [(&gnu_file, &gnu), (&bsd_file, &bsd)] {
        let again = load_ok(&env, f, FX, &[]);
        assert_eq!(
            again,
            format!(
                "{}nothing to add\n",
                release_plan(f, sums, Against::Loaded("unchanged"))
            )
        );
    }
    assert_eq!((files, ev), (snapshot(&env).files, events(&env)));
}

#[test]
fn a_changed_hash_is_a_conflict_kept_unless_forced() {
    let env = Env::new();
    let d = dir(&env);
    let original = gnu256().write(&d, "SHA256SUMS");
    // The German Windows installer was rebuilt.
    let de = format!("win32/de/Firefox Setup {V}.exe");
    let paths = release_paths();
    let mut changed = release("\n", "", |i| {
        if paths[i] == de {
            vec![]
        } else {
            vec![(Kind::Sha256, Style::Gnu)]
        }
    });
    changed.entry(&de, Kind::Sha256, Style::Gnu, "rebuilt");
    let changed = changed.write(&d, "SHA256SUMS.new");
    let old = digest(&de, Kind::Sha256, "");
    let new = digest(&de, Kind::Sha256, "rebuilt");
    let path = format!("{PREFIX}/{}", de.replace(' ', "%20"));
    let stored = |env: &Env| file(&snapshot(env), &path).sha256.clone().unwrap();

    load_ok(&env, &original, FX, &[]);
    let ev = events(&env);
    let out = load_ok(&env, &changed, FX, &[]);
    assert!(
        product_line(&out, FX).ends_with("files 399 unchanged, 1 conflicting"),
        "{out}"
    );
    assert_line(
        &out,
        &format!(
            "      CONFLICT {path}: stored sha256 {old}, file says {new} (kept; --force replaces it)"
        ),
    );
    assert_line(
        &out,
        "  total: locations 10 unchanged; files 999 unchanged, 1 conflicting",
    );
    assert!(out.ends_with("nothing to add\n"), "{out}");
    assert_eq!(stored(&env), old);
    assert_eq!(events(&env), ev);
    let out = load_ok(&env, &original, FX, &[]);
    assert!(out.ends_with("nothing to add\n"), "{out}");
    assert!(!out.contains("CONFLICT"), "{out}");

    // A dry run with --force says what would happen, and does nothing.
    let out = load_ok(&env, &changed, FX, &["--force", "--dry-run"]);
    assert!(
        out.contains(&format!("file says {new} (will be replaced)")),
        "{out}"
    );
    assert_eq!(stored(&env), old);

    let out = load_ok(&env, &changed, FX, &["--force"]);
    assert!(
        out.contains(&format!("file says {new} (will be replaced)")),
        "{out}"
    );
    assert!(
        out.ends_with(
            "applied: 0 language(s), 0 location(s), 1 file(s); sentry checks them next\n"
        ),
        "{out}"
    );
    assert_eq!(stored(&env), new);
    // Now the original is the conflict.
    let out = load_ok(&env, &original, FX, &[]);
    assert!(
        out.contains(&format!("stored sha256 {new}, file says {old} (kept")),
        "{out}"
    );
    assert_eq!(stored(&env), new);
}

#[test]
fn a_file_of_garbage_adds_nothing_and_reports_every_line() {
    let env = Env::new();
    env.setup(&["product add other"]);
    let d = dir(&env);
    let mut sums = Sums::new("\n");
    sums.comment("nothing usable below");
    for _ in 0..garbage().len() {
        sums.next_garbage();
        sums.blank();
    }
    let junk = sums.write(&d, "JUNK");
    // Well-formed lines, none of them a file to offer.
    let mut nothing = Sums::new("\n");
    for p in [
        "KEY",
        "SHA256SUMS.asc",
        "source/firefox-120.0.source.tar.xz",
    ] {
        nothing.entry(p, Kind::Sha256, Style::Gnu, "");
    }
    let nothing_file = nothing.write(&d, "NOPLATFORM");
    let before = (env.ok(&["product", "list"]), events(&env));

    let out = load_ok(&env, &junk, "junk", &[]);
    assert_eq!(
        out,
        format!(
            "{junk}: 8 checksum line(s) read\n\
             0 product(s): 0 new, 0 existing\n\
             8 line(s) could not be used:\n\
             {}\
             nothing in this file can be loaded: see the reasons above\n",
            garbage_lines(&sums)
        )
    );
    let out2 = load_ok(&env, &nothing_file, "junk", &[]);
    assert_eq!(
        out2,
        format!(
            "{nothing_file}: 3 checksum line(s) read\n\
             0 product(s): 0 new, 0 existing\n\
             3 line(s) not loaded (no kind of file to offer; not errors):\n  \
             line 1: checksum or key file, e.g. KEY\n  \
             line 2: signature, e.g. SHA256SUMS.asc\n  \
             line 3: no platform directory (source, language packs, tools, …), e.g. source/firefox-120.0.source.tar.xz\n\
             nothing in this file can be loaded: see the reasons above\n"
        )
    );

    // Regression (src/loader/mod.rs `Plan::changes_anything`): a plan with
    // no location, file or language "changed anything" because the product
    // did not exist yet, and `apply` created an empty product.
    assert_eq!(
        (env.ok(&["product", "list"]), events(&env)),
        before,
        "a file with nothing usable changed the database:\n{out}\n{out2}"
    );
}

#[test]
fn unreadable_files_and_bad_options_fail_cleanly() {
    let env = Env::new();
    env.setup(&["product add other"]);
    let before = (env.ok(&["product", "list"]), events(&env));
    let missing = dir(&env).join("no such SHA256SUMS");
    let missing = missing.to_str().unwrap();
    let out = env.run(&["load", missing, "--product", FX]);
    assert_eq!(out.code, 1, "{out:?}");
    assert_eq!(out.stdout, "");
    assert!(
        out.stderr
            .starts_with(&format!("error: cannot read {missing}")),
        "{out:?}"
    );
    let f = gnu256().write(&dir(&env), "SHA256SUMS");
    for (args, why) in [
        (vec!["--product", FX, "--os-map", "win32"], "is not DIR=OS"),
        (
            vec!["--product", FX, "--prefix", "/pub/../etc"],
            "'.' or '..'",
        ),
        (vec!["--product", "two words"], "invalid product"),
        (vec!["--product", FX, "--kind", "msi"], "is not SUFFIX=GLOB"),
        (vec!["--product", FX, "--kind", "msi="], "has no glob"),
        (
            vec!["--product", FX, "--kind", "a/b=*.msi"],
            "has a suffix with other than letters",
        ),
        (
            vec!["--product", FX, "--kind", "msi=*.msi", "--match", "*.exe"],
            "use one or the other",
        ),
    ] {
        let out = env.run(&[&["load", f.as_str()][..], &args].concat());
        assert_eq!(out.code, 1, "{args:?}: {out:?}");
        assert!(
            out.stderr.starts_with("error: ") && out.stderr.contains(why),
            "{out:?}"
        );
        assert_eq!(out.stdout, "");
    }
    // Usage errors.
    assert_eq!(env.run(&["load", f.as_str()]).code, 2);
    assert_eq!(env.run(&["load", "--product", FX]).code, 2);
    assert_eq!((env.ok(&["product", "list"]), events(&env)), before);
}

#[test]
fn os_map_language_less_files_and_unknown_oses() {
    let env = Env::new();
    let d = dir(&env);
    let h = |p: &str| digest(p, Kind::Sha256, "");
    let paths = [
        "WINNT_x86-msvc/Thunderbird Setup 115.0.exe",
        "win64/Thunderbird Setup 115.0.exe",
        "linux-i686/thunderbird-115.0.tar.bz2",
        "beos/thunderbird-115.0.zip",
    ];
    let text: String = paths.iter().map(|p| format!("{}  {p}\n", h(p))).collect();
    std::fs::write(d.join("TB"), text).unwrap();
    let f = d.join("TB");
    let f = f.to_str().unwrap();
    let args = [
        "--prefix",
        "/pub/thunderbird/115.0",
        "--os-map",
        "WINNT_x86-msvc=win,beos=beos",
    ];
    // An operating system of the default map that is not known (removed
    // here) is no operating system to create: its lines are reported.
    env.setup(&["product add other", "os remove linux"]);
    let out = env.run(&[&["load", f, "--product", "tb-115.0"][..], &args].concat());
    assert_eq!(out.code, 0, "{out:?}");
    let out = out.stdout;
    let tb = "/pub/thunderbird/115.0";
    assert_eq!(
        out,
        format!(
            "{f}: 4 checksum line(s) read\n\
             operating systems to add: beos\n\
             1 product(s): 1 new, 0 existing\n  \
             tb-115.0  new       locations 3 new; every language; files 3 new\n      \
             beos       {tb}/beos/thunderbird-115.0.zip  [any language] new\n      \
             win        {tb}/WINNT_x86-msvc/Thunderbird%20Setup%20115.0.exe  [any language] new\n      \
             win64      {tb}/win64/Thunderbird%20Setup%20115.0.exe  [any language] new\n\
             1 line(s) could not be used:\n  \
             line 3: operating system \"linux\" is not known: add it with --os-map linux-i686=linux (which creates it) or `bouncer os add linux`\n\
             applied: 1 operating system(s), 1 new product(s), 0 language(s), 3 location(s), 3 file(s); sentry checks them next\n"
        )
    );
    assert!(env.ok(&["os", "list"]).lines().any(|l| l == "beos"));
    // Once the OS exists, a second run adds just it.
    env.setup(&["os add linux"]);
    let out = env.ok(&[&["load", f, "--product", "tb-115.0"][..], &args].concat());
    assert!(!out.contains("operating systems to add"), "{out}");
    assert_line(
        &out,
        "  tb-115.0  existing  locations 1 new, 3 unchanged; every language; files 1 new, 3 unchanged",
    );
    assert!(
        out.ends_with(
            "applied: 0 language(s), 1 location(s), 1 file(s); sentry checks them next\n"
        ),
        "{out}"
    );
    // Without --os-map, the Windows directory has no operating system and
    // the option to give is suggested; `beos` means nothing.
    let out = env.ok(&["load", f, "--product", "tb-other", "--dry-run"]);
    assert!(
        out.contains(
            "\n2 line(s) not loaded (no kind of file to offer; not errors):\n  \
             line 1: platform directory WINNT_x86-msvc has no operating system, e.g. WINNT_x86-msvc/Thunderbird Setup 115.0.exe\n  \
             line 4: no platform directory (source, language packs, tools, …), e.g. beos/thunderbird-115.0.zip\n\
             platform directories without an operating system (WINNT_x86-msvc): to load them, give --os-map WINNT_x86-msvc="
        ),
        "{out}"
    );

    assert!(
        env.ok(&["product", "list"])
            .contains("tb-115.0  all languages")
    );
    env.setup(&[&format!("mirror add m1 {MIRROR}"), "status set m1 present"]);
    let server = env.serve(&[]);
    for (os, path) in [
        (
            "win",
            "/pub/thunderbird/115.0/WINNT_x86-msvc/Thunderbird%20Setup%20115.0.exe",
        ),
        (
            "win64",
            "/pub/thunderbird/115.0/win64/Thunderbird%20Setup%20115.0.exe",
        ),
        (
            "linux",
            "/pub/thunderbird/115.0/linux-i686/thunderbird-115.0.tar.bz2",
        ),
        ("beos", "/pub/thunderbird/115.0/beos/thunderbird-115.0.zip"),
    ] {
        // A product without languages serves every language.
        for lang in ["de", "en-US"] {
            let url = print(
                &server,
                &format!("/?product=tb-115.0&os={os}&lang={lang}&print=yes"),
            );
            assert_eq!(url, format!("{MIRROR}{path}"));
        }
        assert_eq!(
            server.get(&format!("/files{path}")).location(),
            format!("{MIRROR}{path}")
        );
    }
}

#[test]
fn loading_through_the_control_socket_serves_at_once() {
    let env = Env::new();
    env.setup(&[&format!("mirror add m1 {MIRROR}")]);
    let sums = gnu256();
    let f = sums.write(&dir(&env), "SHA256SUMS");
    // The same load without a server, for its output.
    let alone = Env::new();
    let expected = load_ok(&alone, &f, FX, &[]);

    let server = env.serve(&[]);
    assert!(env.socket().exists());
    let target = format!("/?product={FX}&os=win64&lang=de&print=yes");
    let complete = "/?product=firefox-120.0-complete&os=osx&lang=ja-JP-mac&print=yes";
    assert_eq!(server.get(&target).status, 404);
    let dry = load_ok(&env, &f, FX, &["--dry-run"]);
    assert!(dry.ends_with("dry run: nothing written\n"), "{dry}");
    assert_eq!(server.get(&target).status, 404);
    let out = load_ok(&env, &f, FX, &[]);
    assert_eq!(out, expected, "the output differs through the socket");
    // Known now; nobody serves it yet.
    assert_eq!(server.get(&target).status, 503);
    assert_eq!(server.get(complete).status, 503);
    env.ok(&["status", "set", "m1", "present"]);
    let path = format!("{PREFIX}/win64/de/Firefox%20Setup%20{V}.exe");
    assert_eq!(print(&server, &target), format!("{MIRROR}{path}"));
    assert_eq!(
        server.get(&format!("/files{path}")).location(),
        format!("{MIRROR}{path}")
    );
    assert_eq!(
        print(&server, complete),
        format!("{MIRROR}{PREFIX}/update/mac/ja-JP-mac/firefox-{V}.complete.mar")
    );
    assert!(load_ok(&env, &f, FX, &[]).ends_with("nothing to add\n"));
    // A missing file is read (and refused) on the client's side.
    let out = env.run(&["load", "/nonexistent/SHA256SUMS", "--product", FX]);
    assert_eq!(out.code, 1);
    assert!(
        out.stderr.contains("cannot read /nonexistent/SHA256SUMS"),
        "{out:?}"
    );
    let (status, _) = server.stop();
    assert!(status.success());
    assert_eq!(snapshot(&env).files.len(), 1000);
}

#[test]
fn crlf_spaces_non_ascii_dot_slash_and_escaped_names() {
    let env = Env::new();
    let h = |p: &str| digest(p, Kind::Sha256, "");
    let mut sums = Sums::new("\r\n");
    sums.comment("odd names");
    sums.blank();
    sums.raw(format!("{}  ./win32/de/Firefox Setup 1.0.exe", h("1")).as_bytes());
    sums.raw(format!("{}  ././win32/fr/Firefox Setup 1.0.exe", h("2")).as_bytes());
    sums.raw(format!("{} *mac/de/Fírefox Ünïcode 1.0.dmg", h("3").to_uppercase()).as_bytes());
    sums.raw(format!("{} *./mac/ja-JP-mac/Fírefox Ünïcode 1.0.dmg", h("4")).as_bytes());
    // GNU tools escape `\` and newlines, and mark the line with a `\`.
    sums.raw(format!("\\{}  linux-x86_64/de/back\\\\slash 1.0.tar.bz2", h("5")).as_bytes());
    sums.raw(format!("\\{}  linux-i686/de/new\\nline.tar.bz2", h("6")).as_bytes());
    sums.raw(
        format!(
            "SHA256 (./win64/de/Firefox Setup (x64) 1.0.exe) = {}",
            h("7")
        )
        .as_bytes(),
    );
    sums.raw(format!("{}  /win64/fr/Firefox Setup (x64) 1.0.exe", h("8")).as_bytes());
    sums.blank();
    let f = sums.write(&dir(&env), "ODD");
    let p = "/pub/odd";
    let out = env.ok(&["load", &f, "--product", "odd", "--prefix", "/pub/odd/"]);
    assert!(
        out.starts_with(&format!("{f}: 8 checksum line(s) read\n")),
        "{out}"
    );
    assert!(!out.contains("could not be used"), "{out}");
    // The names are different on each platform: one kind, installers.
    assert!(
        out.contains(
            "\n1 product(s): 1 new, 0 existing\n  \
             odd  new       locations 5 new; 3 languages (3 new); files 8 new\n"
        ),
        "{out}"
    );
    let locations = [
        ("win", format!("{p}/win32/:lang/Firefox%20Setup%201.0.exe")),
        (
            "osx",
            format!("{p}/mac/:lang/F%C3%ADrefox%20%C3%9Cn%C3%AFcode%201.0.dmg"),
        ),
        (
            "linux64",
            format!("{p}/linux-x86_64/:lang/back%5Cslash%201.0.tar.bz2"),
        ),
        ("linux", format!("{p}/linux-i686/:lang/new%0Aline.tar.bz2")),
        (
            "win64",
            format!("{p}/win64/:lang/Firefox%20Setup%20%28x64%29%201.0.exe"),
        ),
    ];
    let rows = env.location_rows();
    for (os, path) in &locations {
        assert!(
            rows.contains(&("odd".into(), os.to_string(), path.clone())),
            "{os} {path}: {rows:?}"
        );
    }
    let s = snapshot(&env);
    let de_dmg = format!("{p}/mac/de/F%C3%ADrefox%20%C3%9Cn%C3%AFcode%201.0.dmg");
    assert_eq!(
        file(&s, &de_dmg).sha256.as_deref(),
        Some(&*h("3")),
        "lower-cased"
    );
    assert_eq!(
        file(&s, &format!("{p}/linux-i686/de/new%0Aline.tar.bz2"))
            .sha256
            .as_deref(),
        Some(&*h("6"))
    );
    assert_eq!(s.files.len(), 8);
    assert!(
        env.ok(&["load", &f, "--product", "odd", "--prefix", "/pub/odd"])
            .ends_with("nothing to add\n")
    );

    env.setup(&[&format!("mirror add m1 {MIRROR}"), "status set m1 present"]);
    let server = env.serve(&[]);
    for (os, lang, path) in [
        (
            "win",
            "fr",
            format!("{p}/win32/fr/Firefox%20Setup%201.0.exe"),
        ),
        (
            "osx",
            "ja-JP-mac",
            format!("{p}/mac/ja-JP-mac/F%C3%ADrefox%20%C3%9Cn%C3%AFcode%201.0.dmg"),
        ),
        (
            "linux64",
            "de",
            format!("{p}/linux-x86_64/de/back%5Cslash%201.0.tar.bz2"),
        ),
        (
            "linux",
            "de",
            format!("{p}/linux-i686/de/new%0Aline.tar.bz2"),
        ),
        (
            "win64",
            "fr",
            format!("{p}/win64/fr/Firefox%20Setup%20%28x64%29%201.0.exe"),
        ),
    ] {
        let url = print(
            &server,
            &format!("/?product=odd&os={os}&lang={lang}&print=yes"),
        );
        assert_eq!(url, format!("{MIRROR}{path}"));
        let r = server.get_redirect(&format!("/files{path}"));
        assert_eq!(r.location(), format!("{MIRROR}{path}"));
    }
    // The same file, asked for with other (valid) escapes.
    let r = server.get(&format!(
        "/files{p}/win64/fr/Firefox%20Setup%20(x64)%201.0.exe"
    ));
    assert_eq!(r.status, 302, "{r:?}");
}

/// All or nothing: `bouncer load` killed (SIGKILL) at moments spread over
/// its run leaves either the whole release or none of it, never a part.
#[test]
fn a_killed_load_leaves_all_or_nothing() {
    const OSES: usize = 120;
    let locales = locales();
    let platforms: Vec<(String, String)> = (0..OSES)
        .map(|i| (format!("plat-{i:03}"), format!("os{i:03}")))
        .collect();
    let mut text = String::new();
    for (d, _) in &platforms {
        for l in &locales {
            let p = format!("{d}/{l}/Setup 1.0.exe");
            let _ = writeln!(text, "{}  {p}", digest(&p, Kind::Sha256, ""));
        }
    }
    let os_map: Vec<String> = platforms.iter().map(|(d, o)| format!("{d}={o}")).collect();
    let os_map = os_map.join(",");
    let files = OSES * locales.len();
    let fresh = || {
        let env = Env::new();
        let store = Store::open(&env.db).expect("create the database");
        store
            .write(&bouncer::model::Actor::Program("test"), |tx| {
                platforms
                    .iter()
                    .try_for_each(|(_, o)| tx.os_add(o).map(drop))
            })
            .expect("add the operating systems");
        drop(store);
        let f = dir(&env).join("SHA256SUMS");
        std::fs::write(&f, &text).unwrap();
        (env, f)
    };
    let start = |env: &Env, f: &Path| {
        std::process::Command::new(env!("CARGO_BIN_EXE_bouncer"))
            .env_remove("BOUNCER_DB")
            .args([
                "--db",
                env.db.to_str().unwrap(),
                "load",
                f.to_str().unwrap(),
            ])
            .args(["--product", "big", "--os-map", &os_map])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("run bouncer load")
    };
    // How long a whole load takes here.
    let (env, f) = fresh();
    let t = std::time::Instant::now();
    assert!(start(&env, &f).wait().unwrap().success());
    let whole = t.elapsed();
    assert_eq!(snapshot(&env).files.len(), files);

    let mut outcomes = Vec::new();
    for tenth in 1..=9u32 {
        let (env, f) = fresh();
        let mut child = start(&env, &f);
        std::thread::sleep(whole * tenth / 10);
        let _ = child.kill();
        let _ = child.wait();
        let s = snapshot(&env);
        let loaded = (s.product("big").is_some(), s.locations.len(), s.files.len());
        assert!(
            loaded == (false, 0, 0) || loaded == (true, OSES, files),
            "killed at {tenth}/10 of {whole:?}: {loaded:?}"
        );
        outcomes.push(loaded.0);
    }
    eprintln!("whole load {whole:?}; killed runs that had committed: {outcomes:?}");
}

// ----- a whole Firefox release: 100,000 lines, 50 kinds, 10 platforms -----

/// The platform directories of a whole Firefox release and their operating
/// systems (the Android ones as `--os-map` names them).
const FX_PLATFORMS: [(&str, &str); 10] = [
    ("win32", "win"),
    ("win64", "win64"),
    ("win64-aarch64", "win64-aarch64"),
    ("mac", "osx"),
    ("linux-i686", "linux"),
    ("linux-x86_64", "linux64"),
    ("linux-aarch64", "linux64-aarch64"),
    ("android-aarch64", "android64"),
    ("android-x86_64", "android-x86_64"),
    ("android-arm", "android"),
];

/// Two operating systems to create, one that exists.
const FX_OS_MAP: &str =
    "android-aarch64=android64,android-x86_64=android-x86_64,android-arm=android";

/// The installer of a platform.
fn installer(platform: &str) -> String {
    if platform.starts_with("win") {
        format!("Firefox Setup {V}.exe")
    } else if platform == "mac" {
        format!("Firefox {V}.dmg")
    } else if platform.starts_with("linux") {
        format!("firefox-{V}.tar.bz2")
    } else {
        format!("fenix-{V}.apk")
    }
}

/// One file of the whole release.
struct BigFile {
    /// The product its kind becomes.
    product: String,
    /// Its platform directory and operating system.
    platform: (&'static str, &'static str),
    lang: &'static str,
    /// Relative to the release's directory.
    path: String,
}

/// Every file of the release, in kinds: the installers, the complete
/// updates and 48 partial updates (from 72.0 to 119.0) of 10 platforms ×
/// 100 locales: 50,000 files.
fn big_release() -> (Vec<String>, Vec<BigFile>) {
    let mut kinds = vec![(FX.to_string(), None), (format!("{FX}-complete"), None)];
    for from in 72..=119 {
        kinds.push((format!("{FX}-partial-{from}.0"), Some(format!("{from}.0"))));
    }
    let mut files = Vec::new();
    for platform in FX_PLATFORMS {
        for &l in &locales() {
            let l = locale(platform.0, l);
            for (i, (product, from)) in kinds.iter().enumerate() {
                let p = platform.0;
                let path = match (i, from) {
                    (0, _) => format!("{p}/{l}/{}", installer(p)),
                    (_, None) => format!("update/{p}/{l}/firefox-{V}.complete.mar"),
                    (_, Some(from)) => format!("update/{p}/{l}/firefox-{from}-{V}.partial.mar"),
                };
                files.push(BigFile {
                    product: product.clone(),
                    platform,
                    lang: l,
                    path,
                });
            }
        }
    }
    assert_eq!(files.len(), 50_000);
    (kinds.into_iter().map(|(p, _)| p).collect(), files)
}

/// The release's SHA256SUMS and SHA1SUMS in one file: 4 lines that are no
/// file to offer, each file's SHA-256 (GNU, binary `*` or BSD) and SHA-1
/// (GNU or BSD) lines, every fifth file's in CRLF, and 5 garbage lines.
fn big_sums(files: &[BigFile]) -> Sums {
    let mut s = Sums::new("\n");
    for p in [
        "KEY".to_string(),
        "SHA256SUMS.asc".into(),
        format!("linux-x86_64/de/firefox-{V}.tar.bz2.asc"),
        format!("source/firefox-{V}.source.tar.xz"),
    ] {
        s.entry(&p, Kind::Sha256, Style::Gnu, "");
    }
    let garbage = garbage();
    for (i, f) in files.iter().enumerate() {
        s.eol = if i % 5 == 4 { "\r\n" } else { "\n" };
        if let Some(g) = [3, 9_999, 25_000, 40_000, 49_990]
            .iter()
            .position(|&at| at == i)
        {
            let (bytes, reason) = &garbage[g];
            s.garbage(bytes, reason);
        }
        let style = [Style::Gnu, Style::GnuBinary, Style::Bsd][i % 3];
        s.entry(&f.path, Kind::Sha256, style, "");
        let style = [Style::Gnu, Style::Bsd][i % 2];
        s.entry(&f.path, Kind::Sha1, style, "");
    }
    assert_eq!(s.read, 4 + 100_000 + 5);
    s
}

/// The release: one `bouncer load` creates the operating systems
/// `--os-map` names and a product per kind of file, with `:lang`
/// templates and both hashes, reports 5 garbage lines by number and what is
/// no file to offer, loads everything else; a reload adds nothing; every
/// kind is served. (Its time is the benchmark's, not this test's.)
#[test]
fn a_100000_line_firefox_release_loads_every_kind_in_one_go() {
    let env = Env::new();
    let (products, files) = big_release();
    let sums = big_sums(&files);
    let f = sums.write(&dir(&env), "SHA256SUMS");
    env.setup(&["product add other"]);

    let out = load_ok(&env, &f, FX, &["--os-map", FX_OS_MAP]);
    let width = products.iter().map(String::len).max().unwrap();
    let mut plan = format!(
        "{f}: {} checksum line(s) read\n\
         operating systems to add: android-x86_64, android64\n\
         languages new to the products: 101 (ach, af, ar, as, ast, az, be, bn, bn-BD, bn-IN, bo, br, … (89 more))\n\
         50 product(s): 50 new, 0 existing\n",
        sums.read
    );
    for product in &products {
        let _ = write!(
            plan,
            "  {product:<width$}  new       locations 10 new; 101 languages (101 new); files 1000 new"
        );
        if product == FX {
            plan.push('\n');
            let mut platforms = FX_PLATFORMS.to_vec();
            platforms.sort_by_key(|(_, os)| *os);
            for (p, os) in platforms {
                let name = installer(p).replace(' ', "%20");
                let _ = writeln!(
                    plan,
                    "      {os:<15} {PREFIX}/{p}/:lang/{name}  [100 languages] new"
                );
            }
        } else {
            let name = files.iter().find(|f| &f.product == product).unwrap();
            let name = name.path.rsplit('/').next().unwrap();
            let _ = writeln!(plan, "; {PREFIX}/update/*/:lang/{name}");
        }
    }
    let _ = write!(
        plan,
        "  total: locations 500 new; files 50000 new\n\
         4 line(s) not loaded (no kind of file to offer; not errors):\n  \
         line 1: checksum or key file, e.g. KEY\n  \
         lines 2-3: signature, e.g. SHA256SUMS.asc\n  \
         line 4: no platform directory (source, language packs, tools, …), e.g. source/firefox-{V}.source.tar.xz\n\
         5 line(s) could not be used:\n{}\
         applied: 2 operating system(s), 50 new product(s), 101 language(s), 500 location(s), 50000 file(s); sentry checks them next\n",
        garbage_lines(&sums)
    );
    assert_eq!(out, plan);
    assert_eq!(sums.garbage.len(), 5);

    // What the database holds: the operating systems, every kind's
    // product, location and file.
    let s = snapshot(&env);
    for os in ["android64", "android-x86_64", "android"] {
        assert!(s.oses.iter().any(|o| o == os), "{os}: {:?}", s.oses);
    }
    let name = |id| &s.products.iter().find(|p| p.id == id).unwrap().name;
    let mut rows: Vec<(String, String, String)> = s
        .locations
        .iter()
        .map(|l| (name(l.product).clone(), l.os.clone(), l.path.clone()))
        .collect();
    rows.sort();
    let mut want: Vec<(String, String, String)> = files
        .iter()
        .map(|f| {
            let template = f
                .path
                .replacen(&format!("/{}/", f.lang), "/:lang/", 1)
                .replace(' ', "%20");
            (
                f.product.clone(),
                f.platform.1.to_string(),
                format!("{PREFIX}/{template}"),
            )
        })
        .collect();
    want.sort();
    want.dedup();
    assert_eq!(want.len(), 500);
    assert_eq!(rows, want);
    assert_eq!(s.products.len(), 51);
    for product in &products {
        let p = s.product(product).unwrap();
        assert_eq!(p.languages.len(), 101, "{product}");
        assert!(p.public && !p.ssl_only && p.checknow, "{p:?}");
    }
    let location: std::collections::HashMap<(u64, &str), u64> = s
        .locations
        .iter()
        .map(|l| ((l.product.0, l.os.as_str()), l.id.0))
        .collect();
    let stored: std::collections::HashMap<&str, &FileInfo> =
        s.files.iter().map(|f| (f.path.as_str(), f)).collect();
    assert_eq!(s.files.len(), 50_000);
    for f in &files {
        let path = format!("{PREFIX}/{}", f.path.replace(' ', "%20"));
        let stored = stored[path.as_str()];
        let product = s.product(&f.product).unwrap().id.0;
        assert_eq!(
            stored.location.map(|l| l.0),
            Some(location[&(product, f.platform.1)]),
            "{path}"
        );
        assert_eq!(stored.lang.as_deref(), Some(f.lang), "{path}");
        assert_eq!(
            (stored.sha256.clone(), stored.sha1.clone()),
            (
                Some(digest(&f.path, Kind::Sha256, "")),
                Some(digest(&f.path, Kind::Sha1, ""))
            ),
            "{path}"
        );
        assert_eq!((&stored.md5, &stored.sha512), (&None, &None), "{path}");
    }
    let loaded = events(&env);
    let applied: Vec<&(String, String, String)> = loaded
        .iter()
        .filter(|(_, action, _)| action == "loader.apply")
        .collect();
    assert_eq!(
        applied,
        [&(
            "cli".to_string(),
            "loader.apply".to_string(),
            format!(
                "{FX} and 49 more products: 2 operating systems, 101 languages, 500 locations, 50000 files added or updated"
            )
        )]
    );

    // Reloading adds nothing, and says so.
    let again = load_ok(&env, &f, FX, &["--os-map", FX_OS_MAP]);
    assert!(
        again.starts_with(&format!(
            "{f}: {} checksum line(s) read\n50 product(s): 0 new, 50 existing\n",
            sums.read
        )),
        "{again}"
    );
    for product in &products {
        assert!(
            product_line(&again, product)
                .starts_with(&format!(
                    "  {product:<width$}  existing  locations 10 unchanged; 101 languages; files 1000 unchanged"
                )),
            "{again}"
        );
    }
    assert_line(
        &again,
        "  total: locations 500 unchanged; files 50000 unchanged",
    );
    assert_garbage_reported(&again, &sums);
    assert!(again.ends_with("nothing to add\n"), "{again}");
    assert_eq!(events(&env), loaded);
    assert_eq!(snapshot(&env).files, s.files);

    // Every kind served, on a platform and in a language of its own.
    env.setup(&[&format!("mirror add m1 {MIRROR}"), "status set m1 present"]);
    let server = env.serve(&[]);
    let all = locales();
    for (i, product) in products.iter().enumerate() {
        let (platform, os) = FX_PLATFORMS[i % 10];
        let lang = locale(platform, all[i * 7 % 100]);
        let f = files
            .iter()
            .find(|f| &f.product == product && f.platform.0 == platform && f.lang == lang)
            .unwrap();
        let path = format!("{PREFIX}/{}", f.path.replace(' ', "%20"));
        let url = print(
            &server,
            &format!("/?product={product}&os={os}&lang={lang}&print=yes"),
        );
        assert_eq!(url, format!("{MIRROR}{path}"), "{product} {os} {lang}");
        let r = server.get_redirect(&format!("/files{path}"));
        assert_eq!(r.location(), format!("{MIRROR}{path}"));
    }
}

/// A release's first checksum file had 60 locales; a later one has all
/// 100: loading it completes every kind's product with the new languages
/// and their files, and leaves the locations as they are.
#[test]
fn a_later_file_with_more_locales_completes_the_products() {
    let env = Env::new();
    let all = locales();
    let early = &all[..60];
    let write = |name: &str, locales: &[&'static str]| {
        let mut s = Sums::new("\n");
        for p in release_paths_in(locales) {
            s.entry(&p, Kind::Sha256, Style::Gnu, "");
        }
        s.write(&dir(&env), name)
    };
    let early_file = write("SHA256SUMS.early", early);
    let late_file = write("SHA256SUMS", &all);
    let out = load_ok(&env, &early_file, FX, &[]);
    assert!(
        out.ends_with("600 file(s); sentry checks them next\n"),
        "{out}"
    );
    let mut rows = env.location_rows();
    rows.sort();
    let before = snapshot(&env).files;

    let out = load_ok(&env, &late_file, FX, &[]);
    let langs = |platforms: &[&str], ls: &[&'static str]| -> BTreeSet<&'static str> {
        platforms
            .iter()
            .flat_map(|p| ls.iter().map(move |l| locale(p, l)))
            .collect()
    };
    let mut new_langs = BTreeSet::new();
    for (product, platforms) in [
        (FX, &PLATFORMS[..]),
        ("firefox-120.0-complete", &PLATFORMS[..]),
        ("firefox-120.0-msi", &PLATFORMS[..2]),
    ] {
        let (had, has) = (langs(platforms, early), langs(platforms, &all));
        let n = platforms.len();
        assert!(
            product_line(&out, product).contains(&format!(
                "  existing  locations {n} unchanged; {} languages ({} new); files {} new, {} unchanged",
                has.len(),
                has.len() - had.len(),
                n * 40,
                n * 60
            )),
            "{product}: {out}"
        );
        new_langs.extend(has.difference(&had).copied());
    }
    assert_line(
        &out,
        "  total: locations 10 unchanged; files 400 new, 600 unchanged",
    );
    assert!(
        out.ends_with(&format!(
            "applied: {} language(s), 0 location(s), 400 file(s); sentry checks them next\n",
            new_langs.len()
        )),
        "{out}"
    );
    let mut after = env.location_rows();
    after.sort();
    assert_eq!(rows, after, "the locations are unchanged");
    let s = snapshot(&env);
    assert_eq!(s.files.len(), 1000);
    for f in &before {
        assert!(s.files.contains(f), "{f:?} changed");
    }
    for (product, n) in [
        (FX, 101),
        ("firefox-120.0-complete", 101),
        ("firefox-120.0-msi", 100),
    ] {
        assert_eq!(s.product(product).unwrap().languages.len(), n, "{product}");
    }
    assert!(load_ok(&env, &late_file, FX, &[]).ends_with("nothing to add\n"));

    // A language of the later file, in every kind.
    let lang = all[99];
    env.setup(&[&format!("mirror add m1 {MIRROR}"), "status set m1 present"]);
    let server = env.serve(&[]);
    for (product, os, path) in [
        (FX, "osx", format!("mac/{lang}/Firefox%20{V}.dmg")),
        (
            "firefox-120.0-complete",
            "linux64",
            format!("update/linux-x86_64/{lang}/firefox-{V}.complete.mar"),
        ),
        (
            "firefox-120.0-msi",
            "win",
            format!("win32/{lang}/Firefox%20Setup%20{V}.msi"),
        ),
    ] {
        assert_eq!(
            print(
                &server,
                &format!("/?product={product}&os={os}&lang={lang}&print=yes")
            ),
            format!("{MIRROR}{PREFIX}/{path}")
        );
    }
}

#[test]
fn match_narrows_to_one_kind_and_kind_names_kinds() {
    let env = Env::new();
    let gnu = gnu256();
    let f = gnu.write(&dir(&env), "SHA256SUMS");

    // --match: the Windows installers only, into the product.
    let out = load_ok(&env, &f, FX, &["--match", WIN_EXE]);
    assert_eq!(
        out,
        format!(
            "{f}: {} checksum line(s) read\n\
             languages new to the products: 100 (ach, af, ar, as, ast, az, be, bn, bn-BD, bn-IN, bo, br, … (88 more))\n\
             1 product(s): 1 new, 0 existing\n  \
             firefox-120.0  new       locations 2 new; 100 languages (100 new); files 200 new\n      \
             win        {}  [100 languages] new\n      \
             win64      {}  [100 languages] new\n\
             803 line(s) not matching --match left out\n\
             8 line(s) could not be used:\n{}\
             applied: 1 new product(s), 100 language(s), 2 location(s), 200 file(s); sentry checks them next\n",
            gnu.read,
            exe("win32"),
            exe("win64"),
            garbage_lines(&gnu)
        )
    );
    // Everything a --match names goes into the product, whatever its kind.
    let out = load_ok(
        &env,
        &f,
        "fx-updates",
        &["--match", "update/*.complete.mar", "--dry-run"],
    );
    assert_eq!(planned_products(&out), ["fx-updates"]);
    assert_line(
        &out,
        &format!(
            "      osx        {PREFIX}/update/mac/:lang/firefox-{V}.complete.mar  [100 languages] new"
        ),
    );
    // The whole file then completes the release: the stored installers
    // stay the product's kind; the other kinds become products.
    let out = load_ok(&env, &f, FX, &[]);
    assert_eq!(
        planned_products(&out),
        [FX, "firefox-120.0-complete", "firefox-120.0-msi"]
    );
    assert!(
        product_line(&out, FX).ends_with(
            "  existing  locations 2 new, 2 unchanged; 101 languages (1 new); files 200 new, 200 unchanged"
        ),
        "{out}"
    );
    assert!(!out.contains("CONFLICT"), "{out}");
    assert_eq!(snapshot(&env).files.len(), 1000);

    // --kind names a kind (and takes its files from the inferred kinds).
    let env = Env::new();
    let out = load_ok(
        &env,
        &f,
        FX,
        &[
            "--kind",
            "updates=update/*.complete.mar",
            "--kind",
            "windows-msi=*.msi",
        ],
    );
    assert_eq!(
        planned_products(&out),
        [FX, "firefox-120.0-updates", "firefox-120.0-windows-msi"]
    );
    assert!(
        product_line(&out, "firefox-120.0-updates").ends_with(&format!(
            "locations 4 new; 101 languages (101 new); files 400 new; {PREFIX}/update/*/:lang/firefox-{V}.complete.mar"
        )),
        "{out}"
    );
    let rows = env.location_rows();
    let of = |product: &str| -> Vec<(String, String)> {
        let mut r: Vec<(String, String)> = rows
            .iter()
            .filter(|(p, ..)| p == product)
            .map(|(_, os, path)| (os.clone(), path.clone()))
            .collect();
        r.sort();
        r
    };
    let mar = |p: &str| format!("{PREFIX}/update/{p}/:lang/firefox-{V}.complete.mar");
    assert_eq!(
        of("firefox-120.0-updates"),
        [
            ("linux64".into(), mar("linux-x86_64")),
            ("osx".into(), mar("mac")),
            ("win".into(), mar("win32")),
            ("win64".into(), mar("win64")),
        ]
    );
    assert_eq!(of("firefox-120.0-windows-msi").len(), 2);
    assert_eq!(of(FX).len(), 4);
    assert!(of("firefox-120.0-complete").is_empty());

    // `--kind =GLOB`: the files the main product holds (the MSIs here);
    // the installers are then a kind of their own.
    let env = Env::new();
    env.ok(&["settings", "unset", "mail.host"]);
    let out = load_ok(&env, &f, FX, &["--kind", "=*.msi", "--dry-run"]);
    let products = planned_products(&out);
    assert_eq!(products.len(), 3, "{out}");
    assert_eq!(products[..2], [FX, "firefox-120.0-complete"], "{out}");
    assert!(
        product_line(&out, FX).ends_with(&format!(
            "  new       locations 2 new; 100 languages (100 new); files 200 new; {PREFIX}/*/:lang/Firefox%20Setup%20{V}.msi"
        )),
        "{out}"
    );
    assert!(
        out.contains(&format!(
            "locations 4 new; 101 languages (101 new); files 400 new\n      \
             linux64    {PREFIX}/linux-x86_64/:lang/firefox-{V}.tar.bz2  [100 languages] new\n      \
             osx        {PREFIX}/mac/:lang/Firefox%20{V}.dmg  [100 languages] new\n      \
             win        {}  [100 languages] new\n      \
             win64      {}  [100 languages] new\n",
            exe("win32"),
            exe("win64")
        )),
        "{out}"
    );
    assert!(!out.contains("could not be used:\n  lines"), "{out}");
}

/// Regression (src/loader/kinds.rs, `infer`, naming the candidates): with
/// the MSIs named the main kind (`--kind =*.msi`), the installers left
/// (`.exe` on Windows, `.dmg`, `.tar.bz2`) were named from their first
/// shape in byte order, the mac `.dmg`, told apart from the main kind's
/// shape of *another* platform: `firefox-120.0-dmg` for a product whose
/// Windows and Linux files are no DMGs. A kind is now named against the
/// main kind of a platform they share, and installers of several file
/// types as such: `firefox-120.0-installers`.
#[test]
fn bug_installers_left_by_kind_were_named_after_the_mac_dmg() {
    let env = Env::new();
    let f = gnu256().write(&dir(&env), "SHA256SUMS");
    env.ok(&["settings", "unset", "mail.host"]);
    let out = load_ok(&env, &f, FX, &["--kind", "=*.msi", "--dry-run"]);
    let installers = out
        .lines()
        .position(|l| l.contains(&exe("win32")))
        .and_then(|at| {
            out.lines()
                .take(at)
                .filter(|l| !l.starts_with("      "))
                .last()
        })
        .unwrap_or_else(|| panic!("no product holds the installers:\n{out}"));
    assert!(
        installers.starts_with("  firefox-120.0-installers "),
        "the installers' product: {installers}\n{out}"
    );
}

/// Products a load creates are https-only and private as the main product
/// is, and offered in every language as it is; `--ssl-only` and
/// `--private` make a new release so.
#[test]
fn products_a_load_creates_carry_the_main_products_flags() {
    let gnu = gnu256();
    let kinds = [FX, "firefox-120.0-complete", "firefox-120.0-msi"];
    let env = Env::new();
    let f = gnu.write(&dir(&env), "SHA256SUMS");
    env.setup(&[&format!("product add {FX} --ssl-only --private")]);
    let out = load_ok(&env, &f, FX, &[]);
    assert!(
        product_line(&out, FX)
            .ends_with("  existing  locations 4 new; every language; files 400 new"),
        "{out}"
    );
    assert!(
        product_line(&out, "firefox-120.0-complete")
            .contains("  new       locations 4 new; every language; files 400 new; "),
        "{out}"
    );
    let s = snapshot(&env);
    for name in kinds {
        let p = s.product(name).unwrap();
        assert!(
            p.ssl_only && !p.public && p.languages.is_empty(),
            "{name}: {p:?}"
        );
    }
    env.setup(&[
        &format!("mirror add plain {MIRROR}"),
        "status set plain present",
    ]);
    let server = env.serve(&[]);
    // No https mirror: an https-only kind has no one to send to.
    let r = server.get("/?product=firefox-120.0-complete&os=win&lang=de");
    assert_eq!(r.status, 503, "{r:?}");
    drop(server);

    for (flag, ssl_only, public) in [("--ssl-only", true, true), ("--private", false, false)] {
        let env = Env::new();
        load_ok(&env, &f, FX, &[flag]);
        let s = snapshot(&env);
        for name in kinds {
            let p = s.product(name).unwrap();
            assert_eq!((p.ssl_only, p.public), (ssl_only, public), "{flag} {name}");
            assert_eq!(p.languages.len(), 100 + usize::from(name != kinds[2]));
        }
    }
}

/// A platform directory without an operating system is left out (not an
/// error) with the whole `--os-map` that loads it; given, it does.
#[test]
fn an_unmapped_platform_directory_is_reported_with_the_os_map_to_give() {
    let env = Env::new();
    let mut sums = Sums::new("\n");
    let mut unmapped = Vec::new();
    for p in ["win32", "android-aarch64", "android-arm"] {
        for l in ["de", "fr", "ja"] {
            for path in [
                format!("{p}/{l}/{}", installer(p)),
                format!("update/{p}/{l}/firefox-{V}.complete.mar"),
            ] {
                sums.entry(&path, Kind::Sha256, Style::Gnu, "");
                if p == "android-arm" {
                    unmapped.push(sums.line);
                }
            }
        }
    }
    let f = sums.write(&dir(&env), "SHA256SUMS");
    let given = "android-aarch64=android64";
    let out = load_ok(&env, &f, FX, &["--os-map", given]);
    let suggested = "android-aarch64=android64,android-arm=android-arm";
    assert!(
        out.contains(&format!(
            "\n6 line(s) not loaded (no kind of file to offer; not errors):\n  \
             lines {}: platform directory android-arm has no operating system, e.g. android-arm/de/fenix-{V}.apk\n\
             platform directories without an operating system (android-arm): to load them, give --os-map {suggested}\n",
            bouncer::loader::ranges(&unmapped)
        )),
        "{out}"
    );
    assert!(
        out.contains("\noperating systems to add: android64\n"),
        "{out}"
    );
    assert!(!out.contains("could not be used"), "{out}");
    assert!(
        product_line(&out, FX).ends_with("locations 2 new; 3 languages (3 new); files 6 new"),
        "{out}"
    );
    assert!(
        out.ends_with(
            "applied: 1 operating system(s), 2 new product(s), 3 language(s), 4 location(s), 12 file(s); sentry checks them next\n"
        ),
        "{out}"
    );

    // The option as suggested loads the rest.
    let out = load_ok(&env, &f, FX, &["--os-map", suggested]);
    assert!(
        out.contains("\noperating systems to add: android-arm\n"),
        "{out}"
    );
    assert!(!out.contains("not loaded"), "{out}");
    assert!(!out.contains("platform directories without"), "{out}");
    for product in [FX, "firefox-120.0-complete"] {
        assert!(
            product_line(&out, product).contains(
                "  existing  locations 1 new, 2 unchanged; 3 languages; files 3 new, 6 unchanged"
            ),
            "{out}"
        );
    }
    assert!(
        out.ends_with(
            "applied: 1 operating system(s), 0 language(s), 2 location(s), 6 file(s); sentry checks them next\n"
        ),
        "{out}"
    );
    let rows = env.location_rows();
    for (product, path) in [
        (FX, format!("{PREFIX}/android-arm/:lang/fenix-{V}.apk")),
        (
            "firefox-120.0-complete",
            format!("{PREFIX}/update/android-arm/:lang/firefox-{V}.complete.mar"),
        ),
    ] {
        let row = (product.to_string(), "android-arm".to_string(), path);
        assert!(rows.contains(&row), "{row:?}: {rows:?}");
    }
}

/// Thunderbird's layout: installers, MSIs, complete and partial updates
/// (one from a three-part version) and language packs per platform.
#[test]
fn a_thunderbird_release_loads_sensibly() {
    const TB: &str = "thunderbird-115.5.0";
    const TV: &str = "115.5.0";
    const TP: &str = "/pub/thunderbird/releases/115.5.0";
    let env = Env::new();
    let platforms = ["win32", "win64", "mac", "linux-i686", "linux-x86_64"];
    let mut paths = vec![
        "KEY".to_string(),
        "SHA256SUMS.asc".into(),
        format!("source/thunderbird-{TV}.source.tar.xz"),
        "linux-x86_64/en-US/buildhub.json".into(),
    ];
    for p in platforms {
        for l in ["de", "en-US", "fr", "ja"] {
            let l = locale(p, l);
            let installers = match p {
                "mac" => vec![format!("Thunderbird {TV}.dmg")],
                "linux-i686" | "linux-x86_64" => vec![format!("thunderbird-{TV}.tar.bz2")],
                _ => vec![
                    format!("Thunderbird Setup {TV}.exe"),
                    format!("Thunderbird Setup {TV}.msi"),
                ],
            };
            for i in installers {
                paths.push(format!("{p}/{l}/{i}"));
            }
            paths.push(format!("update/{p}/{l}/thunderbird-{TV}.complete.mar"));
            for from in ["102.0", "115.4.3"] {
                paths.push(format!(
                    "update/{p}/{l}/thunderbird-{from}-{TV}.partial.mar"
                ));
            }
            if p.starts_with("linux") && l != "en-US" {
                paths.push(format!("{p}/xpi/{l}.xpi"));
            }
        }
    }
    let mut sums = Sums::new("\n");
    for p in &paths {
        sums.entry(p, Kind::Sha512, Style::Bsd, "");
    }
    let f = sums.write(&dir(&env), "SHA512SUMS");
    let out = env.ok(&["load", &f, "--product", TB, "--prefix", TP]);
    assert_eq!(
        planned_products(&out),
        [
            TB,
            "thunderbird-115.5.0-complete",
            "thunderbird-115.5.0-msi",
            "thunderbird-115.5.0-partial-102.0",
            "thunderbird-115.5.0-partial-115.4.3",
            "thunderbird-115.5.0-xpi",
        ],
        "{out}"
    );
    assert!(
        out.contains(
            "\n4 line(s) not loaded (no kind of file to offer; not errors):\n  \
             line 1: checksum or key file, e.g. KEY\n  \
             line 2: signature, e.g. SHA256SUMS.asc\n  \
             line 3: no platform directory (source, language packs, tools, …), e.g. source/thunderbird-115.5.0.source.tar.xz\n  \
             line 4: metadata or text, e.g. linux-x86_64/en-US/buildhub.json\n"
        ),
        "{out}"
    );
    assert!(!out.contains("could not be used"), "{out}");
    let mut rows = env.location_rows();
    rows.sort();
    let mut want = Vec::new();
    for (p, os) in [
        ("win32", "win"),
        ("win64", "win64"),
        ("mac", "osx"),
        ("linux-i686", "linux"),
        ("linux-x86_64", "linux64"),
    ] {
        let row = |product: &str, path: String| (product.to_string(), os.to_string(), path);
        let installer = match p {
            "mac" => format!("Thunderbird%20{TV}.dmg"),
            "linux-i686" | "linux-x86_64" => format!("thunderbird-{TV}.tar.bz2"),
            _ => format!("Thunderbird%20Setup%20{TV}.exe"),
        };
        want.push(row(TB, format!("{TP}/{p}/:lang/{installer}")));
        want.push(row(
            "thunderbird-115.5.0-complete",
            format!("{TP}/update/{p}/:lang/thunderbird-{TV}.complete.mar"),
        ));
        for from in ["102.0", "115.4.3"] {
            want.push(row(
                &format!("{TB}-partial-{from}"),
                format!("{TP}/update/{p}/:lang/thunderbird-{from}-{TV}.partial.mar"),
            ));
        }
        if p.starts_with("win") {
            want.push(row(
                "thunderbird-115.5.0-msi",
                format!("{TP}/{p}/:lang/Thunderbird%20Setup%20{TV}.msi"),
            ));
        }
        if p.starts_with("linux") {
            want.push(row(
                "thunderbird-115.5.0-xpi",
                format!("{TP}/{p}/xpi/:lang.xpi"),
            ));
        }
    }
    want.sort();
    assert_eq!(rows, want);
    let s = snapshot(&env);
    assert_eq!(s.files.len(), paths.len() - 4);
    let langs = |p: &str| {
        let mut l = s.product(p).unwrap().languages.clone();
        l.sort();
        l
    };
    assert_eq!(langs(TB), ["de", "en-US", "fr", "ja", "ja-JP-mac"]);
    assert_eq!(
        langs("thunderbird-115.5.0-msi"),
        ["de", "en-US", "fr", "ja"]
    );
    assert_eq!(langs("thunderbird-115.5.0-xpi"), ["de", "fr", "ja"]);

    env.setup(&[&format!("mirror add m1 {MIRROR}"), "status set m1 present"]);
    let server = env.serve(&[]);
    for (product, os, lang, path) in [
        (
            TB,
            "osx",
            "ja-JP-mac",
            format!("mac/ja-JP-mac/Thunderbird%20{TV}.dmg"),
        ),
        (
            "thunderbird-115.5.0-partial-115.4.3",
            "win64",
            "fr",
            format!("update/win64/fr/thunderbird-115.4.3-{TV}.partial.mar"),
        ),
        (
            "thunderbird-115.5.0-xpi",
            "linux64",
            "de",
            "linux-x86_64/xpi/de.xpi".into(),
        ),
    ] {
        assert_eq!(
            print(
                &server,
                &format!("/?product={product}&os={os}&lang={lang}&print=yes")
            ),
            format!("{MIRROR}{TP}/{path}")
        );
    }
}

/// A project without languages, as a Linux distribution or a tool ships
/// it: one directory per platform, the setup program the installer of
/// Windows and its zip a kind of its own; `--kind =GLOB` makes the
/// archives the product instead.
#[test]
fn a_language_less_project_loads_sensibly() {
    let env = Env::new();
    let paths = [
        "linux-x86_64/tool-2.1-linux-x86_64.tar.gz",
        "linux-aarch64/tool-2.1-linux-aarch64.tar.gz",
        "win64/tool-2.1-win64.zip",
        "win64/tool-2.1-setup.exe",
        "SHA256SUMS.asc",
        "tool-2.1.tar.gz",
    ];
    let mut sums = Sums::new("\n");
    for p in paths {
        sums.entry(p, Kind::Sha256, Style::Gnu, "");
    }
    let f = sums.write(&dir(&env), "SHA256SUMS");
    let tp = "/pub/tool/2.1";
    let out = env.ok(&["load", &f, "--product", "tool-2.1", "--prefix", tp]);
    assert_eq!(
        out,
        format!(
            "{f}: 6 checksum line(s) read\n\
             2 product(s): 2 new, 0 existing\n  \
             tool-2.1      new       locations 3 new; every language; files 3 new\n      \
             linux64         {tp}/linux-x86_64/tool-2.1-linux-x86_64.tar.gz  [any language] new\n      \
             linux64-aarch64 {tp}/linux-aarch64/tool-2.1-linux-aarch64.tar.gz  [any language] new\n      \
             win64           {tp}/win64/tool-2.1-setup.exe  [any language] new\n  \
             tool-2.1-zip  new       locations 1 new; every language; files 1 new; {tp}/win64/tool-2.1-win64.zip\n  \
             total: locations 4 new; files 4 new\n\
             2 line(s) not loaded (no kind of file to offer; not errors):\n  \
             line 5: signature, e.g. SHA256SUMS.asc\n  \
             line 6: no platform directory (source, language packs, tools, …), e.g. tool-2.1.tar.gz\n\
             applied: 2 new product(s), 0 language(s), 4 location(s), 4 file(s); sentry checks them next\n"
        )
    );
    let s = snapshot(&env);
    assert!(s.product("tool-2.1").unwrap().languages.is_empty());
    assert!(s.product("tool-2.1-zip").unwrap().languages.is_empty());
    assert!(s.files.iter().all(|f| f.lang.is_none()));
    env.setup(&[&format!("mirror add m1 {MIRROR}"), "status set m1 present"]);
    let server = env.serve(&[]);
    for (product, os, path) in [
        (
            "tool-2.1",
            "linux64-aarch64",
            "linux-aarch64/tool-2.1-linux-aarch64.tar.gz",
        ),
        ("tool-2.1", "win64", "win64/tool-2.1-setup.exe"),
        ("tool-2.1-zip", "win64", "win64/tool-2.1-win64.zip"),
    ] {
        assert_eq!(
            print(
                &server,
                &format!("/?product={product}&os={os}&lang=de&print=yes")
            ),
            format!("{MIRROR}{tp}/{path}")
        );
    }
    drop(server);

    // The archives as the product: `--kind =GLOB`.
    let env = Env::new();
    let out = env.ok(&[
        "load",
        &f,
        "--product",
        "tool-2.1",
        "--prefix",
        tp,
        "--kind",
        "=*.tar.gz",
        "--kind",
        "=*.zip",
    ]);
    assert_eq!(
        planned_products(&out),
        ["tool-2.1", "tool-2.1-exe"],
        "{out}"
    );
    let mut rows = env.location_rows();
    rows.sort();
    let row =
        |p: &str, os: &str, path: &str| (p.to_string(), os.to_string(), format!("{tp}/{path}"));
    assert_eq!(
        rows,
        [
            row(
                "tool-2.1",
                "linux64",
                "linux-x86_64/tool-2.1-linux-x86_64.tar.gz"
            ),
            row(
                "tool-2.1",
                "linux64-aarch64",
                "linux-aarch64/tool-2.1-linux-aarch64.tar.gz"
            ),
            row("tool-2.1", "win64", "win64/tool-2.1-win64.zip"),
            row("tool-2.1-exe", "win64", "win64/tool-2.1-setup.exe"),
        ]
    );
}

// ----- regressions: bugs found, each pinned by the test named after it -----

/// Regression (src/loader/mod.rs, `plan`: `lang_of` returns the product's
/// spelling, the files loop drops a file whose path does not equal the
/// template filled with that spelling, `continue` "reported above" but it is
/// not): a product whose languages differ in case from the paths (`pt-br`
/// vs `pt-BR`) gets its location, and every file is silently dropped: no
/// file, no reported line.
#[test]
fn bug_product_languages_in_another_case_lose_their_files_silently() {
    let env = Env::new();
    env.setup(&["product add p --lang pt-br --lang DE"]);
    let h = digest("x", Kind::Sha256, "");
    let text = format!("{h}  win32/pt-BR/setup.exe\n{h}  win32/de/setup.exe\n");
    let f = dir(&env).join("CASE");
    std::fs::write(&f, text).unwrap();
    let out = env.ok(&["load", f.to_str().unwrap(), "--product", "p"]);
    assert_line(
        &out,
        "      win        /win32/:lang/setup.exe  [2 languages] new",
    );
    let s = snapshot(&env);
    let reported = out.contains("could not be used");
    assert!(
        s.files.len() == 2 || reported,
        "2 lines were neither loaded nor reported ({} files stored):\n{out}",
        s.files.len()
    );
}

/// Regression (src/loader/mod.rs, `plan` then `apply`): when the stored location
/// differs from the template (CONFLICT, kept without --force), the files
/// are still added, attached to the stored location; `/files/<new path>`
/// then redirects to the *stored* template's path: another file.
#[test]
fn bug_files_under_a_conflicting_location_redirect_elsewhere() {
    let env = Env::new();
    env.setup(&[
        "product add p --lang de",
        "location add p win /old/:lang/old.exe",
        &format!("mirror add m1 {MIRROR}"),
        "status set m1 present",
    ]);
    let h = digest("x", Kind::Sha256, "");
    let f = dir(&env).join("NEW");
    std::fs::write(&f, format!("{h}  win32/de/new.exe\n")).unwrap();
    // All into p (without --match, another installer is a kind of its own).
    let out = env.ok(&[
        "load",
        f.to_str().unwrap(),
        "--product",
        "p",
        "--match",
        "*",
    ]);
    assert!(
        out.contains("CONFLICT: stored /old/:lang/old.exe (kept; --force replaces it)"),
        "{out}"
    );
    let server = env.serve(&[]);
    let r = server.get("/files/win32/de/new.exe?print=yes");
    assert!(
        r.status == 404 || r.body.trim_end() == format!("{MIRROR}/win32/de/new.exe"),
        "/files/win32/de/new.exe must serve that file or none, not another: {r:?}\n{out}"
    );
}

/// GAP (src/loader/parse.rs, `parse_line`): `sha256sum --tag` (BSD format)
/// escapes names with `\` or newlines the same way and starts the line with
/// `\` (`\SHA256 (a\\b) = …`, coreutils 9.1); such lines are reported as
/// unusable ("\"SHA256\" is not a hex digest").
#[test]
fn gap_escaped_bsd_lines_as_sha256sum_tag_writes_them() {
    let env = Env::new();
    let h = digest("x", Kind::Sha256, "");
    let f = dir(&env).join("TAGGED");
    // A new, empty database: a dry run only reads, and creates none.
    env.ok(&["settings", "unset", "mail.host"]);
    std::fs::write(
        &f,
        format!("\\SHA256 (linux-x86_64/de/back\\\\slash.tar.bz2) = {h}\n"),
    )
    .unwrap();
    let out = env.ok(&["load", f.to_str().unwrap(), "--product", "p", "--dry-run"]);
    assert!(
        out.contains("\n      linux64    /linux-x86_64/:lang/back%5Cslash.tar.bz2  [1 language"),
        "{out}"
    );
}

/// Regression (src/store/mod.rs `Tx::location_set_path`, reached from
/// src/loader/mod.rs `apply` for a forced location CONFLICT): the location's
/// path changes, but the files loaded for the old path stay attached to it,
/// so `/files/<old path>` redirects to the *new* template's file.
/// (`delete_location` drops a location's files; changing its path should
/// drop, or re-home, the ones that no longer fit it.)
#[test]
fn bug_a_forced_location_change_leaves_old_files_redirecting_to_new_ones() {
    let env = Env::new();
    let d = dir(&env);
    let h = digest("x", Kind::Sha256, "");
    std::fs::write(d.join("A"), format!("{h}  win32/de/a.exe\n")).unwrap();
    std::fs::write(d.join("B"), format!("{h}  win32/de/b.exe\n")).unwrap();
    let a = d.join("A");
    let b = d.join("B");
    env.ok(&["load", a.to_str().unwrap(), "--product", "p"]);
    // B's installer into p itself (without --match, a kind of its own).
    let out = env.ok(&[
        "load",
        b.to_str().unwrap(),
        "--product",
        "p",
        "--match",
        "*",
        "--force",
    ]);
    assert!(
        out.contains("CONFLICT: stored /win32/:lang/a.exe (will be replaced)"),
        "{out}"
    );
    env.setup(&[&format!("mirror add m1 {MIRROR}"), "status set m1 present"]);
    let server = env.serve(&[]);
    assert_eq!(
        print(&server, "/files/win32/de/b.exe?print=yes"),
        format!("{MIRROR}/win32/de/b.exe")
    );
    let r = server.get("/files/win32/de/a.exe?print=yes");
    assert!(
        r.status == 404 || r.body.trim_end() == format!("{MIRROR}/win32/de/a.exe"),
        "/files/win32/de/a.exe must serve that file or none, not b.exe: {r:?}"
    );
}

/// GAP (src/loader/parse.rs `parse`): a checksum file saved with a UTF-8
/// byte-order mark (Windows tools; CRLF files are otherwise accepted) loses
/// its first line: "\"\u{feff}…\" is not a hex digest".
#[test]
fn gap_a_utf8_byte_order_mark_loses_the_first_line() {
    let env = Env::new();
    let h = digest("x", Kind::Sha256, "");
    let f = dir(&env).join("BOM");
    // A new, empty database: a dry run only reads, and creates none.
    env.ok(&["settings", "unset", "mail.host"]);
    std::fs::write(
        &f,
        format!("\u{feff}{h}  win32/de/a.exe\r\n{h}  win32/fr/a.exe\r\n"),
    )
    .unwrap();
    let out = env.ok(&["load", f.to_str().unwrap(), "--product", "p", "--dry-run"]);
    assert!(product_line(&out, "p").ends_with("; files 2 new"), "{out}");
}

/// A hostile checksum file with 10 MB fields: every message quotes a
/// short excerpt, never the whole line (issue 15).
///
/// Regression (src/loader/describe.rs, `Plan::describe`, the "not loaded"
/// groups): a line that is no kind of file to offer was shown with its
/// whole path as an example, so a 10 MB path was printed whole.
#[test]
fn huge_lines_are_quoted_in_short() {
    let env = Env::new();
    env.ok(&["product", "add", "x"]);
    let sums = env.db.with_file_name("HUGE.SUMS");
    let huge = |c: &str| c.repeat(10_000_000);
    std::fs::write(
        &sums,
        format!(
            "{} (a) = {}\n{}  {}\n{}  b\n",
            huge("X"),
            "a".repeat(64),
            "a".repeat(64),
            huge("p"),
            huge("z"),
        ),
    )
    .unwrap();
    let out = env.run(&[
        "load",
        sums.to_str().unwrap(),
        "--product",
        "x",
        "--dry-run",
    ]);
    assert_eq!(out.code, 0, "{}", &out.stderr[..out.stderr.len().min(500)]);
    let all = out.stdout.len() + out.stderr.len();
    assert!(all < 4096, "{all} bytes of output");
    // Each of the three lines is quoted in short.
    for (line, excerpt) in [(1, "XXXX…"), (2, "pppp…"), (3, "zzzz…")] {
        assert!(
            out.stdout
                .lines()
                .any(|l| l.starts_with(&format!("  line {line}: ")) && l.contains(excerpt)),
            "line {line}: {}",
            out.stdout
        );
    }
    // GeoIP imports quote their fields in short too.
    let csv = env.db.with_file_name("huge.csv");
    std::fs::write(
        &csv,
        format!("start,end,country\n{},2.2.2.2,DE\n", huge("1")),
    )
    .unwrap();
    let out = env.run(&["geoip", "import", csv.to_str().unwrap()]);
    assert_eq!(out.code, 1);
    assert!(out.stderr.len() < 4096, "{} bytes", out.stderr.len());
    assert!(
        out.stderr.contains("…\" is not an IP address"),
        "{}",
        out.stderr
    );
}
