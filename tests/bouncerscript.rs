//! SPEC §7 with the real client: Mozilla's release tooling,
//! `bouncerscript` 3.6.2 from PyPI, drives a real `bouncer serve` (default
//! settings, sentry on) whose three real test mirrors (one https, behind a
//! private CA the server trusts through `SSL_CERT_FILE`) serve a Firefox
//! release. The client runs the way its worker runs it (`python -m
//! bouncerscript.script CONFIG` with `task.json` in the config's work
//! directory):
//!
//! 1. `submission`: the release's products (plain, `-SSL`, `-msi-SSL`,
//!    `-stub`, `-Complete`, `-Partial-…`, and an Android-only Fennec) with
//!    their locales and a location per platform;
//! 2. once sentry has found the files on the mirrors (bounded polling of
//!    `bouncer uptake`), `aliases`, whose `check_aliases_match` compares
//!    `GET /?product=ALIAS&print=yes` with `GET /?product=PRODUCT&print=yes`
//!    and passes over an alias answering exactly `404 page not found\n`
//!    (Fennec has no win build); the client's production URL is pointed at
//!    the test server: the venv's `bouncerscript/constants.py` gets one
//!    line that reads an environment variable;
//! 3. `locations`: the nightly products' paths bumped to the next version
//!    with `location_modify`;
//! 4. submission, aliases and locations again: nothing new is written (the
//!    export is byte for byte the same, the audit log has no new `api:`
//!    event, the client says it skipped everything);
//! 5. ten back-to-back re-runs of submission and aliases from one address:
//!    every one succeeds, and the access log holds no 429.
//!
//! The venv lives in `CARGO_TARGET_TMPDIR/bouncerscript-3.6.2` and is
//! reused. Without `python3 -m venv` (Debian: python3-venv) the test skips
//! with a line on stderr, unless `CI` or `BOUNCER_REQUIRE_TOOLS` is set:
//! then it fails.

use std::collections::{BTreeMap, BTreeSet};
use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::common::mirror::{Behaviour, Files, Mirror};
use crate::common::tls::{Ca, TlsMirror};
use crate::common::{Env, NOT_FOUND, admin_session, audit, http, password, poll, run_bounded};

/// The release tooling under test.
const BOUNCERSCRIPT: &str = "3.6.2";
/// What pip installs: the client, and the versions of the libraries it
/// calls (its requirements name them unpinned) that it was tested with,
/// so that a new release of one of them cannot change this test.
const PINS: [(&str, &str); 4] = [
    ("bouncerscript", BOUNCERSCRIPT),
    ("scriptworker", "63.6.1"),
    ("mozilla-version", "5.1.0"),
    ("aiohttp", "3.14.5"),
];
/// How long creating the venv and installing the client may take.
const INSTALL_TIMEOUT: Duration = Duration::from_secs(600);
/// How long one run of the client may take (its retries back off 5, 10,
/// 20, 40 s).
const CLIENT_TIMEOUT: Duration = Duration::from_secs(180);
/// How long sentry may take to find a release's files on the mirrors.
const UPTAKE_TIMEOUT: Duration = Duration::from_secs(120);
/// Back-to-back re-runs that must all get through.
const RERUNS: usize = 10;

/// The scopes of the production server and of each action.
const SCOPE_PREFIX: &str = "project:releng:bouncer:";
const SERVER_SCOPE: &str = "project:releng:bouncer:server:production";
/// The environment variable the patched `constants.py` reads: JSON
/// `{server scope: URL template}` merged into `GO_BOUNCER_URL_TMPL`.
const URL_TMPL_VAR: &str = "BOUNCER_TEST_GO_BOUNCER_URL_TMPL";
/// The line appended to the venv's `bouncerscript/constants.py`.
const CONSTANTS_PATCH: &str = "\n# Added by Bouncer's tests/bouncerscript.rs: where check_aliases_match asks.\n\
import json as _json, os as _os\n\
GO_BOUNCER_URL_TMPL.update(_json.loads(_os.environ.get(\"BOUNCER_TEST_GO_BOUNCER_URL_TMPL\", \"{}\")))\n";

/// The release.
const VERSION: &str = "130.0";
const PREVIOUS: &str = "129.0";
const LOCALES: [&str; 4] = ["de", "en-US", "fr", "zh-TW"];
/// Bouncer platform → the release's platform directory.
const PLATFORMS: [(&str, &str); 6] = [
    ("linux", "linux-i686"),
    ("linux64", "linux-x86_64"),
    ("osx", "mac"),
    ("win", "win32"),
    ("win64", "win64"),
    ("win64-aarch64", "win64-aarch64"),
];
/// The nightly version the nightly products point at, and the next one.
/// A mobile product in the same submission: Android only, so its alias
/// answers the default platform (win) with release tooling's 404.
const FENNEC: &str = "Fennec-68.11.0";
const FENNEC_ALIAS: &str = "fennec-latest";
/// Bouncer has no `android-x86` platform until the operators add it.
const FENNEC_PLATFORMS: [(&str, &str, &str); 2] = [
    ("android", "android-api-16", "android-arm"),
    ("android-x86", "android-x86", "android-i386"),
];
const NIGHTLY: &str = "130.0a1";
const NEXT_NIGHTLY: &str = "131.0a1";
/// Bouncer platform → the nightly file name's tail.
const NIGHTLY_SUFFIXES: [(&str, &str); 6] = [
    ("linux", "linux-i686.tar.bz2"),
    ("linux64", "linux-x86_64.tar.bz2"),
    ("osx", "mac.dmg"),
    ("win", "win32.installer.exe"),
    ("win64", "win64.installer.exe"),
    ("win64-aarch64", "win64-aarch64.installer.exe"),
];

/// The release user bouncerscript logs in as, and an admin who reads the
/// audit log.
const RELEASE_USER: &str = "releng";
const ADMIN_USER: &str = "ann";
/// The mirrors' ratings: two http mirrors and one https.
const HTTP_RATINGS: [u64; 2] = [100, 60];
const HTTPS_RATING: u64 = 40;

// ----- the release -----

/// One product of the submission task.
struct Product {
    name: String,
    ssl_only: bool,
    /// Bouncer platform → path template.
    paths: BTreeMap<String, String>,
}

/// The products a Firefox release submits, as its release-bouncer-sub
/// task lists them, and [`FENNEC`].
fn release_products() -> Vec<Product> {
    let per_platform = |only: &[&str], path: &dyn Fn(&str) -> String| {
        PLATFORMS
            .iter()
            .filter(|(os, _)| only.is_empty() || only.contains(os))
            .map(|(os, dir)| (os.to_string(), path(dir)))
            .collect::<BTreeMap<_, _>>()
    };
    let installer = |dir: &str| match dir {
        "linux-i686" | "linux-x86_64" => {
            format!("/firefox/releases/{VERSION}/{dir}/:lang/firefox-{VERSION}.tar.bz2")
        }
        "mac" => format!("/firefox/releases/{VERSION}/mac/:lang/Firefox%20{VERSION}.dmg"),
        _ => format!("/firefox/releases/{VERSION}/{dir}/:lang/Firefox%20Setup%20{VERSION}.exe"),
    };
    let product = |suffix: &str, ssl_only: bool, paths: BTreeMap<String, String>| Product {
        name: format!("Firefox-{VERSION}{suffix}"),
        ssl_only,
        paths,
    };
    vec![
        product("", false, per_platform(&[], &installer)),
        product("-SSL", true, per_platform(&[], &installer)),
        product(
            "-msi-SSL",
            true,
            per_platform(&["win", "win64"], &|dir| {
                format!("/firefox/releases/{VERSION}/{dir}/:lang/Firefox%20Setup%20{VERSION}.msi")
            }),
        ),
        product(
            "-stub",
            true,
            per_platform(&["win", "win64"], &|dir| {
                format!("/firefox/releases/{VERSION}/{dir}/:lang/Firefox%20Installer.exe")
            }),
        ),
        product(
            "-Complete",
            false,
            per_platform(&[], &|dir| {
                format!(
                    "/firefox/releases/{VERSION}/update/{dir}/:lang/firefox-{VERSION}.complete.mar"
                )
            }),
        ),
        product(
            &format!("-Partial-{PREVIOUS}"),
            false,
            per_platform(&[], &|dir| {
                format!(
                    "/firefox/releases/{VERSION}/update/{dir}/:lang/firefox-{PREVIOUS}-{VERSION}.partial.mar"
                )
            }),
        ),
        Product {
            name: FENNEC.to_string(),
            ssl_only: false,
            paths: FENNEC_PLATFORMS
                .iter()
                .map(|(os, dir, arch)| {
                    (
                        os.to_string(),
                        format!(
                            "/mobile/releases/68.11.0/{dir}/:lang/fennec-68.11.0.:lang.{arch}.apk"
                        ),
                    )
                })
                .collect(),
        },
    ]
}

/// The aliases a release points at its products (and [`FENNEC_ALIAS`]).
fn release_aliases() -> BTreeMap<String, String> {
    [
        ("firefox-latest", ""),
        ("firefox-latest-ssl", "-SSL"),
        ("firefox-msi-latest-ssl", "-msi-SSL"),
        ("firefox-stub", "-stub"),
    ]
    .into_iter()
    .map(|(alias, suffix)| (alias.to_string(), format!("Firefox-{VERSION}{suffix}")))
    .chain([(FENNEC_ALIAS.to_string(), FENNEC.to_string())])
    .collect()
}

/// The nightly products (bouncerscript's default set), their languages,
/// and their path template for `version` on `os`.
const NIGHTLY_PRODUCTS: [&str; 4] = [
    "firefox-nightly-latest",
    "firefox-nightly-latest-ssl",
    "firefox-nightly-latest-l10n",
    "firefox-nightly-latest-l10n-ssl",
];

fn nightly_path(product: &str, version: &str, suffix: &str) -> String {
    if product == "firefox-nightly-latest-ssl" {
        format!("/firefox/nightly/latest-mozilla-central/firefox-{version}.en-US.{suffix}")
    } else {
        format!("/firefox/nightly/latest-mozilla-central-l10n/firefox-{version}.:lang.{suffix}")
    }
}

fn nightly_langs(product: &str) -> Vec<&'static str> {
    if product == "firefox-nightly-latest-ssl" {
        vec!["en-US"]
    } else {
        LOCALES.to_vec()
    }
}

/// Every file the mirrors serve: each release location and both nightly
/// versions, in every locale.
fn mirror_files() -> Files {
    let mut templates: Vec<String> = release_products()
        .into_iter()
        .flat_map(|p| p.paths.into_values())
        .collect();
    for product in NIGHTLY_PRODUCTS {
        for version in [NIGHTLY, NEXT_NIGHTLY] {
            for (_, suffix) in NIGHTLY_SUFFIXES {
                templates.push(nightly_path(product, version, suffix));
            }
        }
    }
    let mut files = BTreeMap::new();
    for template in templates {
        for lang in LOCALES {
            let path = template.replace(":lang", lang);
            let content = format!("{path}\n").repeat(64).into_bytes();
            files.insert(path, content);
        }
    }
    Arc::new(files)
}

// ----- tasks -----

/// A task as the release graph hands it to the bouncer worker.
fn task(action: &str, kind: &str, payload: Value) -> Value {
    json!({
        "provisionerId": "scriptworker-k8s",
        "workerType": "gecko-3-bouncer",
        "schedulerId": "gecko-level-3",
        "dependencies": ["Sqlj3y4nQ9mZ6lBWw0rVEQ"],
        "created": "2024-08-27T12:00:00.000Z",
        "deadline": "2024-08-28T12:00:00.000Z",
        "expires": "2025-08-27T12:00:00.000Z",
        "priority": "highest",
        "retries": 5,
        "routes": [],
        "scopes": [SERVER_SCOPE, format!("{SCOPE_PREFIX}action:{action}")],
        "metadata": {
            "name": format!("release-bouncer-{kind}-firefox"),
            "description": format!("release bouncer {action} job"),
            "owner": "release@mozilla.com",
            "source": "https://hg.mozilla.org/releases/mozilla-release"
        },
        "tags": { "kind": format!("release-bouncer-{kind}") },
        "payload": payload
    })
}

fn submission_task() -> Value {
    let entries: serde_json::Map<String, Value> = release_products()
        .into_iter()
        .map(|p| {
            (
                p.name,
                json!({
                    "options": { "add_locales": true, "ssl_only": p.ssl_only },
                    "paths_per_bouncer_platform": p.paths,
                }),
            )
        })
        .collect();
    task(
        "submission",
        "sub",
        json!({ "locales": LOCALES, "submission_entries": entries }),
    )
}

fn aliases_task() -> Value {
    task(
        "aliases",
        "aliases",
        json!({ "aliases_entries": release_aliases() }),
    )
}

fn locations_task() -> Value {
    task(
        "locations",
        "locations",
        json!({ "bouncer_products": NIGHTLY_PRODUCTS, "version": NEXT_NIGHTLY }),
    )
}

// ----- the client -----

/// bouncerscript installed in a venv.
struct Bouncerscript {
    python: PathBuf,
    /// Where each run gets its config and work directory.
    runs: tempfile::TempDir,
    count: Mutex<usize>,
}

/// One run of the client.
struct Run {
    what: String,
    output: Output,
}

impl Run {
    fn ok(&self) -> bool {
        self.output.status.success()
    }

    /// Everything it printed (its log goes to stderr).
    fn text(&self) -> String {
        format!(
            "{}{}",
            String::from_utf8_lossy(&self.output.stdout),
            String::from_utf8_lossy(&self.output.stderr)
        )
    }

    fn shown(&self) -> String {
        format!(
            "bouncerscript {} exited {:?}\n----- stdout -----\n{}\n----- stderr -----\n{}",
            self.what,
            self.output.status.code(),
            String::from_utf8_lossy(&self.output.stdout),
            String::from_utf8_lossy(&self.output.stderr)
        )
    }
}

fn output_text(out: &Output) -> String {
    format!(
        "exit {:?}\n{}{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Gives up on the client: a panic where CI requires the test, else a
/// line on stderr and `None`.
fn unavailable(why: &str) -> Option<Bouncerscript> {
    crate::common::tool_missing(&format!("the bouncerscript test: {why}"));
    None
}

/// Whether the venv at `dir` has the client, patched, and a Python that
/// runs.
fn venv_works(dir: &Path) -> bool {
    let python = dir.join("bin").join("python");
    let mut check =
        "import importlib.metadata as m, bouncerscript.script, bouncerscript.constants as c\n"
            .to_string();
    for (name, version) in PINS {
        check.push_str(&format!(
            "assert m.version('{name}') == '{version}', m.version('{name}')\n"
        ));
    }
    check.push_str(&format!(
        "assert '{URL_TMPL_VAR}' in open(c.__file__).read()\n"
    ));
    run_bounded(
        Command::new(&python).args(["-c", &check]),
        Duration::from_secs(60),
    )
    .is_ok_and(|o| o.status.success())
}

/// The venv with bouncerscript, made (once: it is kept under the target
/// directory) with `python3 -m venv` and pip from PyPI.
fn bouncerscript() -> Option<Bouncerscript> {
    let cache = Path::new(env!("CARGO_TARGET_TMPDIR"));
    let dir = cache.join(format!("bouncerscript-{BOUNCERSCRIPT}"));
    let runs = || tempfile::tempdir().expect("a directory for the client's runs");
    if venv_works(&dir) {
        return Some(Bouncerscript {
            python: dir.join("bin").join("python"),
            runs: runs(),
            count: Mutex::new(0),
        });
    }
    let venv_help = run_bounded(
        Command::new("python3").args(["-m", "venv", "--help"]),
        Duration::from_secs(60),
    );
    match &venv_help {
        Ok(out) if out.status.success() => {}
        Ok(out) => {
            return unavailable(&format!(
                "`python3 -m venv` does not work (apt-get install python3-venv): {}",
                output_text(out)
            ));
        }
        Err(why) => {
            return unavailable(&format!(
                "python3 is missing (apt-get install python3-venv): {why}"
            ));
        }
    }
    // Built beside its final place, then renamed there: a run that dies
    // half-way leaves no half-made venv where the next run looks, and two
    // runs at once do not write into the same one. The client is run as
    // `bin/python -m …`, which works from the renamed directory.
    std::fs::create_dir_all(cache).expect("create the target's tmp directory");
    let building = cache.join(format!(
        "bouncerscript-{BOUNCERSCRIPT}.building-{}",
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&building);
    let made = run_bounded(
        Command::new("python3").arg("-m").arg("venv").arg(&building),
        INSTALL_TIMEOUT,
    );
    match &made {
        Ok(out) if out.status.success() => {}
        Ok(out) => {
            let _ = std::fs::remove_dir_all(&building);
            return unavailable(&format!(
                "`python3 -m venv` could not make a venv (apt-get install python3-venv): {}",
                output_text(out)
            ));
        }
        Err(why) => {
            let _ = std::fs::remove_dir_all(&building);
            return unavailable(&format!("`python3 -m venv` failed: {why}"));
        }
    }
    let python = building.join("bin").join("python");
    let installed = run_bounded(
        Command::new(&python)
            .args([
                "-m",
                "pip",
                "install",
                "--disable-pip-version-check",
                "--no-input",
                "--quiet",
            ])
            .args(PINS.map(|(name, version)| format!("{name}=={version}"))),
        INSTALL_TIMEOUT,
    );
    match &installed {
        Ok(out) if out.status.success() => {}
        Ok(out) => {
            let _ = std::fs::remove_dir_all(&building);
            return unavailable(&format!(
                "pip could not install {PINS:?} from PyPI: {}",
                output_text(out)
            ));
        }
        Err(why) => {
            let _ = std::fs::remove_dir_all(&building);
            return unavailable(&format!("pip install failed: {why}"));
        }
    }
    // Point check_aliases_match's hard-coded production URL at the test
    // server, through an environment variable each run sets.
    let located = run_bounded(
        Command::new(&python).args([
            "-c",
            "import bouncerscript.constants as c; print(c.__file__)",
        ]),
        Duration::from_secs(60),
    )
    .unwrap_or_else(|why| panic!("find bouncerscript's constants.py: {why}"));
    assert!(
        located.status.success(),
        "find bouncerscript's constants.py: {}",
        output_text(&located)
    );
    let constants = PathBuf::from(String::from_utf8_lossy(&located.stdout).trim());
    let original = std::fs::read_to_string(&constants)
        .unwrap_or_else(|e| panic!("read {}: {e}", constants.display()));
    assert!(
        original.contains("GO_BOUNCER_URL_TMPL = {"),
        "bouncerscript {BOUNCERSCRIPT}'s constants.py no longer has GO_BOUNCER_URL_TMPL:\n{original}"
    );
    std::fs::write(&constants, format!("{original}{CONSTANTS_PATCH}"))
        .unwrap_or_else(|e| panic!("patch {}: {e}", constants.display()));
    assert!(
        venv_works(&building),
        "the new venv at {} does not import bouncerscript {BOUNCERSCRIPT}",
        building.display()
    );
    let _ = std::fs::remove_dir_all(&dir);
    if std::fs::rename(&building, &dir).is_err() {
        // Another run put its venv there first.
        let _ = std::fs::remove_dir_all(&building);
    }
    assert!(
        venv_works(&dir),
        "no working bouncerscript venv at {}",
        dir.display()
    );
    Some(Bouncerscript {
        python: dir.join("bin").join("python"),
        runs: runs(),
        count: Mutex::new(0),
    })
}

impl Bouncerscript {
    /// Runs `task` against the server on `port` as the worker does: a
    /// script config (the server's API root and the release user's
    /// credentials under the production server scope) and a work
    /// directory holding `task.json`.
    fn run(&self, what: &str, task: &Value, port: u16) -> Run {
        let n = {
            let mut count = self.count.lock().unwrap();
            *count += 1;
            *count
        };
        let dir = self.runs.path().join(format!("{n:02}-{what}"));
        let work = dir.join("work");
        std::fs::create_dir_all(&work).expect("create the work directory");
        std::fs::write(
            work.join("task.json"),
            serde_json::to_vec_pretty(task).unwrap(),
        )
        .expect("write task.json");
        let config = json!({
            "work_dir": work,
            "verbose": true,
            "taskcluster_scope_prefix": SCOPE_PREFIX,
            "bouncer_config": {
                SERVER_SCOPE: {
                    "api_root": format!("http://127.0.0.1:{port}/api"),
                    "timeout_in_seconds": 60,
                    "username": RELEASE_USER,
                    "password": password(RELEASE_USER),
                }
            }
        });
        let config_path = dir.join("config.json");
        std::fs::write(&config_path, serde_json::to_vec_pretty(&config).unwrap())
            .expect("write the script config");
        let go_bouncer =
            json!({ SERVER_SCOPE: format!("http://127.0.0.1:{port}/?product={{}}&print=yes") });
        let output = run_bounded(
            Command::new(&self.python)
                .args(["-m", "bouncerscript.script"])
                .arg(&config_path)
                .current_dir(&dir)
                .env(URL_TMPL_VAR, go_bouncer.to_string())
                .env_remove("PYTHONPATH")
                .env_remove("PYTHONHOME")
                .env("PYTHONDONTWRITEBYTECODE", "1"),
            CLIENT_TIMEOUT,
        )
        .unwrap_or_else(|why| panic!("bouncerscript {what}: {why}"));
        Run {
            what: what.to_string(),
            output,
        }
    }
}

// ----- the server's access log -----

/// The access log's lines so far.
fn access_lines(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect()
}

/// The access log's lines that answered 429 (combined format: the status
/// follows the quoted request line).
fn too_many(lines: &[String]) -> Vec<String> {
    lines
        .iter()
        .filter(|l| {
            l.split('"')
                .nth(2)
                .and_then(|rest| rest.split_whitespace().next())
                == Some("429")
        })
        .cloned()
        .collect()
}

// ----- the network's state, from the CLI -----

/// `bouncer uptake`: (product, os) → (available, total).
fn uptake(env: &Env) -> BTreeMap<(String, String), (u64, u64)> {
    env.ok(&["uptake"])
        .lines()
        .skip(1)
        .filter_map(|line| {
            let cells: Vec<&str> = line.split_whitespace().collect();
            (cells.len() >= 4).then(|| {
                (
                    (cells[0].to_string(), cells[1].to_string()),
                    (
                        cells[2].parse().expect("AVAILABLE is a number"),
                        cells[3].parse().expect("TOTAL is a number"),
                    ),
                )
            })
        })
        .collect()
}

/// `bouncer export`, parsed, and its text.
fn export(env: &Env) -> (Value, String) {
    let text = env.ok(&["export"]);
    let value = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("bouncer export printed no JSON ({e}):\n{text}"));
    (value, text)
}

/// A product of the export, by name.
fn exported_product<'a>(export: &'a Value, name: &str) -> &'a Value {
    export["products"]
        .as_array()
        .expect("the export's products")
        .iter()
        .find(|p| p["name"] == name)
        .unwrap_or_else(|| panic!("product {name} is not in the export: {export:#}"))
}

/// Its locations: os → path.
fn exported_locations(product: &Value) -> BTreeMap<String, String> {
    product["locations"]
        .as_array()
        .expect("the product's locations")
        .iter()
        .map(|l| {
            (
                l["os"].as_str().unwrap().to_string(),
                l["path"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// The URL a `print=yes` bounce answers for `product` (default os and
/// language).
fn printed(port: u16, product: &str) -> String {
    let r = http(port, "GET", &format!("/?product={product}&print=yes"), &[]);
    assert_eq!(r.status, 200, "GET /?product={product}&print=yes: {r:?}");
    r.body.trim_end().to_string()
}

#[test]
fn bouncerscript_3_6_2_runs_a_release_against_bouncer() {
    let started = Instant::now();
    let Some(client) = bouncerscript() else {
        return;
    };
    eprintln!(
        "bouncerscript {BOUNCERSCRIPT} ready after {:?}",
        started.elapsed()
    );

    // The mirrors: two over http, one over https with a private CA.
    let files = mirror_files();
    let ca = Ca::new("Bouncer bouncerscript test CA");
    let plain: Vec<Mirror> = HTTP_RATINGS
        .iter()
        .map(|_| Mirror::start(&files, Behaviour::Healthy))
        .collect();
    let secure = TlsMirror::start(&files, &ca);

    // The operators' part: mirrors, users, a platform Bouncer lacks, the
    // long-lived nightly products.
    let env = Env::new();
    let dir = env
        .db
        .parent()
        .expect("the database's directory")
        .to_path_buf();
    let ca_file = dir.join("private-ca.pem");
    std::fs::write(&ca_file, &ca.pem).expect("write the CA's PEM");
    for (i, (mirror, rating)) in plain.iter().zip(HTTP_RATINGS).enumerate() {
        env.ok(&[
            "mirror",
            "add",
            &format!("plain{i}"),
            &mirror.url,
            "--rating",
            &rating.to_string(),
        ]);
    }
    env.ok(&[
        "mirror",
        "add",
        "secure",
        &secure.url,
        "--rating",
        &HTTPS_RATING.to_string(),
    ]);
    for (user, role) in [(RELEASE_USER, "release"), (ADMIN_USER, "admin")] {
        env.add_user(user, role);
    }
    env.ok(&["os", "add", "android-x86"]);
    for product in NIGHTLY_PRODUCTS {
        let mut add = vec!["product", "add", product];
        for lang in nightly_langs(product) {
            add.extend(["--lang", lang]);
        }
        if product.ends_with("-ssl") {
            add.push("--ssl-only");
        }
        env.ok(&add);
        for (os, suffix) in NIGHTLY_SUFFIXES {
            env.ok(&[
                "location",
                "add",
                product,
                os,
                &nightly_path(product, NIGHTLY, suffix),
            ]);
        }
    }

    // `bouncer serve` at its default settings (sentry on its schedule),
    // trusting the private CA for its sentry, with an access log.
    let access_log = dir.join("access.log");
    let server = env.serve_with_sentry_env(
        &["--access-log", access_log.to_str().expect("a UTF-8 path")],
        &[
            ("SSL_CERT_FILE", Some(ca_file.as_os_str())),
            ("SSL_CERT_DIR", None::<&OsStr>),
        ],
    );
    let port = server.port;
    let session = admin_session(port, ADMIN_USER, &password(ADMIN_USER));
    // The audit log's events by API callers, newest first.
    let api_audit = || audit(port, &session, "api:");
    let must = |run: &Run| {
        assert!(
            run.ok(),
            "{}\n----- server stderr -----\n{}\n----- 429s in the access log -----\n{:#?}",
            run.shown(),
            server.log(),
            too_many(&access_lines(&access_log))
        );
    };

    // 1. Submission: every product with its locales and locations.
    let first = client.run("submission", &submission_task(), port);
    must(&first);
    let (exported, _) = export(&env);
    for product in release_products() {
        assert!(
            first
                .text()
                .contains(&format!("Adding product \"{}\"...", product.name)),
            "the client did not add {}:\n{}",
            product.name,
            first.shown()
        );
        let p = exported_product(&exported, &product.name);
        assert_eq!(
            p["ssl_only"], product.ssl_only,
            "{}'s ssl_only: {p:#}",
            product.name
        );
        let langs: BTreeSet<&str> = p["languages"]
            .as_array()
            .expect("languages")
            .iter()
            .filter_map(Value::as_str)
            .collect();
        assert_eq!(
            langs,
            LOCALES.into_iter().collect(),
            "{}'s languages",
            product.name
        );
        assert_eq!(
            exported_locations(p),
            product.paths,
            "{}'s locations",
            product.name
        );
    }

    // 2. Sentry finds the release on the mirrors (every mirror for the
    // plain products, the https one for the ssl-only ones), as the release
    // waits for uptake before it moves the aliases.
    let total: u64 = HTTP_RATINGS.iter().sum::<u64>() + HTTPS_RATING;
    let wanted: BTreeMap<(String, String), (u64, u64)> = release_products()
        .into_iter()
        .flat_map(|p| {
            let available = if p.ssl_only { HTTPS_RATING } else { total };
            p.paths
                .into_keys()
                .map(move |os| ((p.name.clone(), os), (available, total)))
        })
        .collect();
    let waited = Instant::now();
    let found = poll(UPTAKE_TIMEOUT, Duration::from_millis(250), || {
        let now = uptake(&env);
        wanted
            .iter()
            .all(|(key, value)| now.get(key) == Some(value))
            .then_some(())
    });
    assert!(
        found.is_some(),
        "sentry did not find the release on every mirror within {UPTAKE_TIMEOUT:?}: \
         uptake wanted {wanted:#?}\ngot {:#?}\nmirrors: {:#?}\nhttps mirror requests: {}\nserver stderr:\n{}",
        uptake(&env),
        env.mirror_list(),
        secure.requests().len(),
        server.log()
    );
    eprintln!("uptake complete after {:?}", waited.elapsed());

    // 3. Aliases, checked by the client against print=yes bounces.
    let aliases = client.run("aliases", &aliases_task(), port);
    must(&aliases);
    let listed = env.ok(&["alias", "list"]);
    for (alias, product) in release_aliases() {
        assert!(
            listed
                .lines()
                .any(|l| l.split_whitespace().collect::<Vec<_>>() == [&alias, &product]),
            "alias {alias} → {product} missing from `alias list`:\n{listed}"
        );
        // The client compares an alias with its product unless the alias
        // answers release tooling's 404 (Fennec has no win build).
        let compared = aliases
            .text()
            .contains(&format!("Alias {alias} returned url: "));
        assert_eq!(
            compared,
            alias != FENNEC_ALIAS,
            "alias {alias}, compared by the client: {compared}\n{}",
            aliases.shown()
        );
    }
    let r = http(
        port,
        "GET",
        &format!("/?product={FENNEC_ALIAS}&print=yes"),
        &[],
    );
    assert_eq!(
        (r.status, r.body.as_str()),
        (404, NOT_FOUND),
        "{FENNEC_ALIAS} on win: {r:?}"
    );
    // The ssl-only products go to the https mirror only.
    let ssl_url = printed(port, "firefox-latest-ssl");
    assert!(
        ssl_url.starts_with(&format!(
            "{}/firefox/releases/{VERSION}/win32/en-US/",
            secure.url
        )),
        "firefox-latest-ssl printed {ssl_url}"
    );

    // 4. Locations: the nightly products move to the next nightly.
    let locations = client.run("locations", &locations_task(), port);
    must(&locations);
    let (exported, _) = export(&env);
    for product in NIGHTLY_PRODUCTS {
        let wanted: BTreeMap<String, String> = NIGHTLY_SUFFIXES
            .iter()
            .map(|(os, suffix)| (os.to_string(), nightly_path(product, NEXT_NIGHTLY, suffix)))
            .collect();
        assert_eq!(
            exported_locations(exported_product(&exported, product)),
            wanted,
            "{product}'s locations after the locations task:\n{}",
            locations.shown()
        );
    }

    // 5. Again: nothing new is written.
    let (_, export_before) = export(&env);
    let audit_before = api_audit();
    assert!(
        !audit_before.is_empty(),
        "no api: events in the audit log after the release"
    );
    let submission = client.run("submission-again", &submission_task(), port);
    must(&submission);
    let aliases = client.run("aliases-again", &aliases_task(), port);
    must(&aliases);
    let locations = client.run("locations-again", &locations_task(), port);
    must(&locations);
    let text = submission.text();
    for product in release_products() {
        assert!(
            text.contains(&format!(
                "Product \"{}\" already exists. Skipping...",
                product.name
            )),
            "the re-run did not skip {}:\n{}",
            product.name,
            submission.shown()
        );
        for path in product.paths.values() {
            assert!(
                text.contains(&format!(
                    "Path \"{path}\" for product \"{}\" already exists. Skipping...",
                    product.name
                )),
                "the re-run did not skip {} {path}:\n{}",
                product.name,
                submission.shown()
            );
        }
    }
    assert!(
        !locations.text().contains("Modifying corresponding path"),
        "the locations re-run modified a path:\n{}",
        locations.shown()
    );
    let (_, export_after) = export(&env);
    assert!(
        export_after == export_before,
        "a re-run changed the configuration:\n----- before -----\n{export_before}\n----- after -----\n{export_after}"
    );
    let audit_after = api_audit();
    assert_eq!(
        audit_after, audit_before,
        "a re-run wrote to the audit log (newest first)"
    );

    // 6. Ten back-to-back re-runs from one address at default settings:
    // none is refused.
    let rerun_started = Instant::now();
    let mut failed = Vec::new();
    for i in 0..RERUNS {
        for (what, task) in [
            ("submission", submission_task()),
            ("aliases", aliases_task()),
        ] {
            let run = client.run(&format!("rerun{i}-{what}"), &task, port);
            if !run.ok() {
                failed.push(run.shown());
            }
        }
    }
    let rerun_took = rerun_started.elapsed();
    let refused = too_many(&access_lines(&access_log));
    assert!(
        failed.is_empty() && refused.is_empty(),
        "{} of {} back-to-back re-runs failed; {} request(s) answered 429:\n{:#?}\n\
         ----- failed runs -----\n{}\n----- server stderr -----\n{}",
        failed.len(),
        RERUNS * 2,
        refused.len(),
        refused,
        failed.join("\n\n"),
        server.log()
    );
    assert_eq!(
        api_audit(),
        audit_before,
        "the back-to-back re-runs wrote to the audit log"
    );
    assert_eq!(
        printed(port, "firefox-latest"),
        printed(port, &format!("Firefox-{VERSION}")),
        "the alias and its product print different URLs"
    );

    let requests = access_lines(&access_log).len();
    let (status, log) = server.stop();
    assert!(status.success(), "bouncer serve exited {status:?}:\n{log}");
    let refused = too_many(&access_lines(&access_log));
    assert!(refused.is_empty(), "429s in the access log: {refused:#?}");
    assert!(
        plain.iter().all(|m| m.requests() > 0) && !secure.requests().is_empty(),
        "sentry did not check every mirror"
    );
    eprintln!(
        "bouncerscript test: {requests} requests; {} re-runs in {rerun_took:?}; {:?} in all",
        RERUNS * 2,
        started.elapsed()
    );
}
