//! SPEC §2, download clients: real `aria2c` downloads a file through the
//! Metalink document from test mirrors on 127.0.0.1 (one of them broken)
//! and checks its SHA-256; real `curl -L` follows a bounce to the file; the
//! `Link` and `Digest` headers of a redirect name mirrors that really serve
//! the file and its real digest.
//!
//! Needs `aria2c` (Debian: aria2) and `curl`. Without them the tests skip
//! with a line on stderr, unless `CI` or `BOUNCER_REQUIRE_TOOLS` is set:
//! then they fail.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::Arc;
use std::time::Duration;

use base64::Engine;

use crate::common::mirror::{Behaviour, Files};
use crate::common::net::Net;
use crate::common::{Env, Server, run_bounded, sha256_hex};

const PRODUCT: &str = "fx";
const TEMPLATE: &str = "/pub/fx/1.0/:lang/Fx%20Setup%201.0.exe";
/// The file in `de`, as mirrors and redirects spell it.
const PATH: &str = "/pub/fx/1.0/de/Fx%20Setup%201.0.exe";
/// The name clients save it as.
const NAME: &str = "Fx Setup 1.0.exe";
/// How long one client run may take.
const CLIENT_TIMEOUT: Duration = Duration::from_secs(60);

/// `name`'s path if it runs (`name --version`); `None` (with a line on
/// stderr) where it is missing, or a panic when CI requires it.
fn client(name: &str, package: &str) -> Option<PathBuf> {
    let found = Command::new(name)
        .arg("--version")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if found {
        return Some(PathBuf::from(name));
    }
    crate::common::tool_missing(&format!(
        "the download-client test needs {name}: apt-get install {package}"
    ));
    None
}

/// Runs a client with a time limit; kills it when it runs over.
fn run(mut command: Command) -> Output {
    run_bounded(&mut command, CLIENT_TIMEOUT).unwrap_or_else(|why| panic!("{why}"))
}

fn shown(out: &Output) -> String {
    format!(
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Runs `client`'s `command`, which must succeed and save exactly the
/// test file's bytes at `saved`.
fn assert_downloads(command: Command, client: &str, saved: &Path, net: &Net) {
    let out = run(command);
    assert!(out.status.success(), "{client} failed: {}", shown(&out));
    let got = std::fs::read(saved).unwrap_or_else(|e| panic!("{client} saved no file: {e}"));
    assert!(
        got == net.files[PATH],
        "{client} saved other bytes ({} bytes)",
        got.len()
    );
}

/// 3 MiB that differ everywhere (aria2 fetches it in several pieces).
fn content() -> Vec<u8> {
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    (0..3 << 20)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

/// A network serving [`PATH`] from test mirrors `(name, behaviour,
/// rating)`, every one marked present by hand (as if sentry had not seen
/// the broken ones yet), with the file's size and SHA-256 loaded, and its
/// server.
fn network(mirrors: &[(&str, Behaviour, u32)]) -> (Net, Server) {
    let files: Files = Arc::new(BTreeMap::from([(PATH.to_string(), content())]));
    let env = Env::new();
    env.setup(&[
        &format!("product add {PRODUCT} --lang de --lang en-US"),
        &format!("location add {PRODUCT} win {TEMPLATE}"),
        "settings set bounce.link_headers true",
    ]);
    let mut net = Net::new(env, files);
    for (name, behaviour, rating) in mirrors {
        net.add_present(name, behaviour.clone(), &["--rating", &rating.to_string()]);
    }
    // The version directory holds the one platform's files.
    net.load_checksums(PRODUCT, "/pub/fx", "1.0=win", &[PATH.to_string()]);
    let server = net.env.serve(&[]);
    (net, server)
}

/// `aria2c` with settings that keep a test short and independent of the
/// user's configuration, saving into `dir`.
fn aria2c(aria2c: &Path, dir: &Path) -> Command {
    let mut command = Command::new(aria2c);
    command.args([
        "--no-conf=true",
        "--check-integrity=true",
        "--allow-overwrite=true",
        "--auto-file-renaming=false",
        "--file-allocation=none",
        "--split=3",
        // Every test mirror is on 127.0.0.1: one host to aria2.
        "--max-connection-per-server=3",
        "--min-split-size=1M",
        "--max-tries=2",
        "--retry-wait=1",
        "--connect-timeout=5",
        "--timeout=10",
        "--summary-interval=0",
        "--console-log-level=warn",
    ]);
    command.arg(format!("--dir={}", dir.display()));
    command
}

#[test]
fn aria2_downloads_through_the_metalink_around_a_broken_mirror() {
    let Some(aria2) = client("aria2c", "aria2") else {
        return;
    };
    // The broken mirror is the heaviest: priority 1 in the Metalink.
    let (net, server) = network(&[
        ("broken", Behaviour::Broken, 100),
        ("good1", Behaviour::Healthy, 10),
        ("good2", Behaviour::Healthy, 10),
    ]);
    let r = server.get(&format!("/?product={PRODUCT}&os=win&lang=de&metalink"));
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.header("content-type"), Some("application/metalink4+xml"));
    let doc = roxmltree::Document::parse(&r.body).expect("a well-formed Metalink");
    let urls: Vec<(&str, &str)> = doc
        .descendants()
        .filter(|n| n.has_tag_name("url"))
        .map(|n| (n.attribute("priority").unwrap(), n.text().unwrap()))
        .collect();
    assert_eq!(urls.len(), 3, "{}", r.body);
    assert_eq!(urls[0].0, "1");
    assert!(urls.iter().all(|(_, u)| u.ends_with(PATH)), "{urls:?}");

    // From a saved document.
    let dir = tempfile::tempdir().unwrap();
    let meta4 = dir.path().join("fx.meta4");
    std::fs::write(&meta4, &r.body).unwrap();
    let out_dir = dir.path().join("saved");
    let mut command = aria2c(&aria2, &out_dir);
    command.arg(format!("--metalink-file={}", meta4.display()));
    assert_downloads(command, "aria2c", &out_dir.join(NAME), &net);
    // It tried the broken mirror first (priority 1), then the others.
    let asked = |name: &str| net.mirrors[name].requests();
    assert!(asked("broken") >= 1, "the broken mirror was never tried");
    assert!(asked("good1") + asked("good2") >= 1);

    // Straight from the server (`/files/…?metalink`), held in memory.
    let out_dir = dir.path().join("followed");
    let mut command = aria2c(&aria2, &out_dir);
    command
        .arg("--follow-metalink=mem")
        .arg(server.url(&format!("/files{PATH}?metalink")));
    assert_downloads(command, "aria2c", &out_dir.join(NAME), &net);
    let saved: Vec<_> = std::fs::read_dir(&out_dir)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(saved, vec![NAME], "only the file, no Metalink saved");

    // Metalinks are not downloads: after one real bounce, one is counted.
    server.get_redirect(&format!("/?product={PRODUCT}&os=win&lang=de"));
    let stats = net
        .env
        .poll_stats(Duration::from_secs(10), |s| s.total >= 1);
    assert_eq!(stats.total, 1, "{}", stats.text);
}

#[test]
fn aria2_refuses_bytes_that_do_not_match_the_metalink_hash() {
    let Some(aria2) = client("aria2c", "aria2") else {
        return;
    };
    let (_net, server) = network(&[("liar", Behaviour::WrongContent, 10)]);
    let dir = tempfile::tempdir().unwrap();
    let mut command = aria2c(&aria2, dir.path());
    command
        .arg("--follow-metalink=mem")
        .arg(server.url(&format!("/files{PATH}?metalink")));
    let out = run(command);
    assert!(
        !out.status.success(),
        "aria2c accepted the wrong bytes: {}",
        shown(&out)
    );
    // aria2's exit status for a failed checksum.
    assert_eq!(out.status.code(), Some(32), "{}", shown(&out));
}

#[test]
fn curl_follows_a_bounce_to_the_file_and_every_named_mirror_serves_it() {
    let Some(curl) = client("curl", "curl") else {
        return;
    };
    let (net, server) = network(&[
        ("m1", Behaviour::Healthy, 30),
        ("m2", Behaviour::Healthy, 20),
        ("m3", Behaviour::Healthy, 10),
    ]);
    let dir = tempfile::tempdir().unwrap();
    let saved = dir.path().join("download");
    let bounce = server.url(&format!("/?product={PRODUCT}&os=win&lang=de"));
    let mut command = Command::new(&curl);
    command
        .args(["-L", "-s", "--fail", "--max-time", "30", "-o"])
        .arg(&saved)
        .arg(&bounce);
    assert_downloads(command, "curl", &saved, &net);

    // The redirect's Digest is the file's real SHA-256, and its Link
    // headers name the two other mirrors, which serve the same bytes.
    let r = server.get_redirect(&format!("/?product={PRODUCT}&os=win&lang=de"));
    let sha256 = sha256_hex(&net.files[PATH]);
    let raw: Vec<u8> = (0..32)
        .map(|i| u8::from_str_radix(&sha256[2 * i..2 * i + 2], 16).unwrap())
        .collect();
    let want = format!(
        "sha-256={}",
        base64::engine::general_purpose::STANDARD.encode(raw)
    );
    assert_eq!(r.header("digest"), Some(want.as_str()));
    let links: Vec<&str> = r
        .headers
        .iter()
        .filter(|(n, _)| n == "link")
        .map(|(_, v)| v.as_str())
        .collect();
    assert_eq!(links.len(), 2, "{r:?}");
    for (i, link) in links.iter().enumerate() {
        let url = link
            .strip_prefix('<')
            .and_then(|l| l.split_once('>'))
            .map(|(url, _)| url)
            .unwrap_or_else(|| panic!("not a link: {link}"));
        assert!(
            link.ends_with(&format!("; rel=duplicate; pri={}", i + 1)),
            "{link}"
        );
        assert_ne!(url, r.location(), "the picked mirror is not a duplicate");
        let mut command = Command::new(&curl);
        command
            .args(["-s", "--fail", "--max-time", "30", "-o"])
            .arg(&saved)
            .arg(url);
        let out = run(command);
        assert!(out.status.success(), "curl {url} failed: {}", shown(&out));
        assert!(std::fs::read(&saved).unwrap() == net.files[PATH], "{url}");
    }

    // Two downloads: curl's bounce and the one above (fetching from the
    // mirrors directly is nothing of ours).
    let stats = net
        .env
        .poll_stats(Duration::from_secs(10), |s| s.total >= 2);
    assert_eq!(stats.total, 2, "{}", stats.text);
}
