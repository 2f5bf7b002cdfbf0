//! SPEC §2.5, geography: the client's address (trusted proxies, `?ip=`),
//! its country (imported CSV tables, `--geoip FILE.mmdb`), its region's
//! mirrors (throttle, fallback region, no global fallback), the country in
//! the download counts, and the `region` and `geoip` commands. The real
//! binary, real test mirrors on 127.0.0.1 serving the file, and redirects
//! answered by the real server.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use crate::common::mirror::Behaviour;
use crate::common::net::Net;
use crate::common::{Env, Out, Server, form_urlencode, get_url, http_body};

/// The one file of the test network, relative to every mirror's root.
const FILE: &str = "/tb/setup.exe";
const CONTENT: &[u8] = b"the installer";
/// The bounce URL of that file.
const TB: &str = "/?product=tb&os=win";

/// Plain `start,end,country` ranges: documentation networks spread over
/// four countries. 100.64.0.1 (`UNKNOWN`) is in none of them.
const RANGES: &str = "\
start,end,country
198.51.100.0,198.51.100.255,DE
203.0.113.0,203.0.113.255,US
192.0.2.0,192.0.2.127,JP
192.0.2.128,192.0.2.255,AU
2001:db8:de::,2001:db8:de:ffff:ffff:ffff:ffff:ffff,DE
";

/// In Germany (RANGES).
const DE: &str = "198.51.100.7";
/// In Germany, IPv6 (RANGES).
const DE6: &str = "2001:db8:de::1";
/// In the United States (RANGES).
const US: &str = "203.0.113.5";
/// In Japan (RANGES).
const JP: &str = "192.0.2.9";
/// In Australia (RANGES).
const AU: &str = "192.0.2.200";
/// The i-th of many clients in Germany (a /64 each in RANGES' IPv6 block).
fn in_germany(i: usize) -> String {
    format!("2001:db8:de:{i:x}::1")
}

/// The i-th of many clients in no range of RANGES.
fn nowhere(i: usize) -> String {
    format!("100.64.{}.{}", i / 256, i % 256)
}

/// In no range.
const UNKNOWN: &str = "100.64.0.1";

/// A database with product `tb` (one file on win): runs `regions`
/// (command lines), then adds each real mirror `(name, rating, regions)`,
/// which serves the file and is marked present (sentry stays off).
fn tb_net(regions: &[&str], mirrors: &[(&str, u32, &[&str])]) -> Net {
    let env = Env::new();
    env.setup(&["product add tb", &format!("location add tb win {FILE}")]);
    env.setup(regions);
    let files = Arc::new(BTreeMap::from([(FILE.to_string(), CONTENT.to_vec())]));
    let mut net = Net::new(env, files);
    for (name, rating, regions) in mirrors {
        let rating = rating.to_string();
        let mut args = vec!["--rating", &rating];
        for r in *regions {
            args.extend(["--region", r]);
        }
        net.add_present(name, Behaviour::Healthy, &args);
    }
    net
}

/// Geography's view of the network: where redirects went, GeoIP tables.
impl Net {
    /// `n` redirects of `target`: how many went to each mirror. The first
    /// redirect to each mirror is followed: the mirror must serve the file.
    fn tally(
        &self,
        server: &Server,
        target: &str,
        headers: &[(&str, &str)],
        n: usize,
    ) -> BTreeMap<String, usize> {
        let mut tally = BTreeMap::new();
        for location in server.locations(target, headers, n) {
            let name = self.name_of(&location, FILE);
            if !tally.contains_key(&name) {
                let r = get_url(&location);
                assert_eq!(r.status, 200, "{location}: {r:?}");
                assert_eq!(r.body.as_bytes(), CONTENT, "{location}");
            }
            *tally.entry(name).or_insert(0) += 1;
        }
        tally
    }

    /// Which mirrors `n` redirects of `TB` from `ip` (by `?ip=`) reached.
    fn picks_for(&self, server: &Server, ip: &str, n: usize) -> BTreeMap<String, usize> {
        self.tally(server, &format!("{TB}&ip={ip}"), &[], n)
    }

    /// Which mirrors `n` redirects of `TB` reached, the i-th from client
    /// `client(i)` (by `?ip=`): many clients, each asking once, as a
    /// population of downloaders does (one client asking again is
    /// retrying, and walks its own ranking).
    fn spread_picks(
        &self,
        server: &Server,
        client: impl Fn(usize) -> String,
        n: usize,
    ) -> BTreeMap<String, usize> {
        let mut tally = BTreeMap::new();
        for i in 0..n {
            let r = server.get_redirect(&format!("{TB}&ip={}", client(i)));
            *tally.entry(self.name_of(r.location(), FILE)).or_insert(0) += 1;
        }
        tally
    }

    /// Writes `text` to `name` beside the database; its path.
    fn file(&self, name: &str, text: &str) -> PathBuf {
        write(&self.env, name, text)
    }

    /// `geoip import` of `text` written to `name`; must succeed.
    fn geoip_import(&self, name: &str, text: &str) -> String {
        let path = self.file(name, text);
        self.env
            .ok(&["geoip", "import", path.to_str().expect("UTF-8 path")])
    }
}

/// Writes `text` to `name` in the database's directory; its path.
fn write(env: &Env, name: &str, text: &str) -> PathBuf {
    let path = env.db.with_file_name(name);
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).expect("create a directory for test files");
    }
    std::fs::write(&path, text).expect("write a test file");
    path
}

fn path_str(path: &Path) -> &str {
    path.to_str().expect("UTF-8 path")
}

/// The mirrors in `tally`, sorted.
fn names(tally: &BTreeMap<String, usize>) -> Vec<&str> {
    tally.keys().map(String::as_str).collect()
}

/// `name`'s share of all picks in `tally`.
fn share(tally: &BTreeMap<String, usize>, name: &str) -> f64 {
    let all: usize = tally.values().sum();
    tally.get(name).copied().unwrap_or(0) as f64 / all as f64
}

fn assert_fails(out: &Out, code: i32, says: &[&str]) {
    assert_eq!(out.code, code, "{out:?}");
    for s in says {
        assert!(out.stderr.contains(s), "stderr lacks {s:?}: {out:?}");
    }
}

/// Regions europe (DE) and north-america (US); two mirrors in europe, one
/// in north-america, one serving no region.
fn two_regions() -> Net {
    tb_net(
        &[
            "region add europe --country DE",
            "region add north-america --country US",
        ],
        &[
            ("eu1", 100, &["europe"]),
            ("eu2", 100, &["europe"]),
            ("na", 100, &["north-america"]),
            ("other", 100, &[]),
        ],
    )
}

#[test]
fn clients_get_their_regions_mirrors_and_unknown_ones_the_world() {
    let net = two_regions();
    // Imported before the server starts: DE's network is in the US here.
    let out = net.geoip_import(
        "first.csv",
        "198.51.100.0,198.51.100.255,US\n203.0.113.0,203.0.113.255,US\n",
    );
    assert!(out.contains("stored and in use"), "{out}");
    let server = net.env.serve(&["--allow-ip-override"]);
    assert_eq!(names(&net.picks_for(&server, DE, 50)), ["na"]);

    // Imported while it runs, through the control socket: in use at once.
    let out = net.geoip_import("ranges.csv", RANGES);
    assert!(out.contains("4 IPv4 and 1 IPv6 ranges"), "{out}");
    assert!(out.contains("stored and in use"), "{out}");
    assert_eq!(names(&net.picks_for(&server, DE, 200)), ["eu1", "eu2"]);
    assert_eq!(
        names(&net.picks_for(&server, "198.51.100.255", 50)),
        ["eu1", "eu2"]
    );
    assert_eq!(names(&net.picks_for(&server, US, 100)), ["na"]);
    // IPv6, raw and percent-encoded.
    assert_eq!(names(&net.picks_for(&server, DE6, 200)), ["eu1", "eu2"]);
    assert_eq!(
        names(&net.picks_for(&server, "2001%3Adb8%3Ade%3A%3Affff", 100)),
        ["eu1", "eu2"]
    );
    // IPv4-mapped IPv6 is the IPv4 address.
    assert_eq!(
        names(&net.picks_for(&server, "::ffff:203.0.113.9", 50)),
        ["na"]
    );
    // Outside every range, or in a country of no region (JP): every mirror.
    for ip in [UNKNOWN, JP, "2001:db8:df::1"] {
        assert_eq!(
            names(&net.picks_for(&server, ip, 300)),
            ["eu1", "eu2", "na", "other"],
            "{ip}"
        );
    }
    // Garbage in ?ip= is no address: the peer's (127.0.0.1, unknown).
    assert_eq!(
        names(&net.picks_for(&server, "not-an-ip", 300)),
        ["eu1", "eu2", "na", "other"]
    );

    // The running server's lookup agrees.
    let out = net.env.ok(&["geoip", "lookup", DE]);
    assert!(out.starts_with(&format!("{DE}: DE")), "{out}");
    assert!(out.contains("region europe"), "{out}");
    assert!(out.contains("its active mirrors: eu1, eu2"), "{out}");
    let out = net.env.ok(&["geoip", "lookup", UNKNOWN]);
    assert!(out.contains("in no range"), "{out}");
    assert!(out.contains("the world's mirrors"), "{out}");
}

#[test]
fn trusted_proxies_name_the_client_and_others_are_not_believed() {
    let net = two_regions();
    net.geoip_import("ranges.csv", RANGES);
    let xff = |value| [("X-Forwarded-For", value)];
    let everyone = ["eu1", "eu2", "na", "other"];

    let server = net.env.serve(&[
        "--trusted-proxy",
        "127.0.0.1/32",
        "--trusted-proxy",
        "10.0.0.0/8",
    ]);
    assert_eq!(names(&net.tally(&server, TB, &xff(US), 100)), ["na"]);
    // A forged entry left of the untrusted client changes nothing.
    let forged = format!("{DE}, {US}");
    assert_eq!(names(&net.tally(&server, TB, &xff(&forged), 100)), ["na"]);
    // Trusted hops right of the client are skipped.
    let chain = format!("{US}, 10.1.2.3");
    assert_eq!(names(&net.tally(&server, TB, &xff(&chain), 100)), ["na"]);
    let chain = format!("{DE}, 10.9.9.9, 10.1.2.3");
    assert_eq!(
        names(&net.tally(&server, TB, &xff(&chain), 100)),
        ["eu1", "eu2"]
    );
    // IPv6 with a port, as some proxies write it.
    let v6 = format!("[{DE6}]:4711");
    assert_eq!(
        names(&net.tally(&server, TB, &xff(&v6), 100)),
        ["eu1", "eu2"]
    );
    // Several header lines are one list: the last line's entry counts.
    let two_lines = [("X-Forwarded-For", DE), ("X-Forwarded-For", US)];
    assert_eq!(names(&net.tally(&server, TB, &two_lines, 100)), ["na"]);
    // No header: the trusted proxy itself (127.0.0.1, unknown): the world.
    assert_eq!(names(&net.tally(&server, TB, &[], 300)), everyone);
    // ?ip= is not allowed on this server.
    assert_eq!(names(&net.picks_for(&server, DE, 300)), everyone);
    server.stop();

    // 10.0.0.0/8 not trusted: the right-most entry, 10.1.2.3, is the client
    // (in no range).
    let server = net.env.serve(&["--trusted-proxy", "127.0.0.1"]);
    let chain = format!("{US}, 10.1.2.3");
    assert_eq!(names(&net.tally(&server, TB, &xff(&chain), 300)), everyone);
    assert_eq!(names(&net.tally(&server, TB, &xff(US), 100)), ["na"]);
    server.stop();

    // The peer (127.0.0.1) is no trusted proxy: its header is ignored.
    let server = net.env.serve(&["--trusted-proxy", "10.0.0.0/8"]);
    assert_eq!(names(&net.tally(&server, TB, &xff(DE), 300)), everyone);
    server.stop();

    // No trusted proxy at all: the header is ignored, and so is ?ip=.
    let server = net.env.serve(&[]);
    assert_eq!(names(&net.tally(&server, TB, &xff(DE), 300)), everyone);
    let forged = format!("{DE}, {DE}");
    assert_eq!(names(&net.tally(&server, TB, &xff(&forged), 300)), everyone);
    assert_eq!(names(&net.picks_for(&server, DE, 300)), everyone);
    server.stop();

    // A block that is no block stops the server before it starts.
    let out = net.env.run(&[
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--no-sentry",
        "--trusted-proxy",
        "10.0.0.0/33",
    ]);
    assert_fails(&out, 1, &["10.0.0.0/33", "0–32"]);
}

#[test]
fn a_throttled_region_keeps_its_share_of_its_clients() {
    // The region's mirror is light and the other heavy: what the region
    // keeps depends on the throttle, not on the ratings.
    let net = tb_net(
        &["region add europe --country DE --throttle 30"],
        &[("eu", 10, &["europe"]), ("out", 1000, &[])],
    );
    net.geoip_import("ranges.csv", RANGES);
    let server = net.env.serve(&["--allow-ip-override", "--no-count"]);
    let n = 2000;
    let tally = net.spread_picks(&server, in_germany, n);
    assert_eq!(tally.values().sum::<usize>(), n);
    // Binomial n = 2000, p = 0.3: sd ≈ 1 point; ± 5 points is 5 sd.
    let kept = share(&tally, "eu");
    assert!(
        (0.25..=0.35).contains(&kept),
        "europe kept {kept}: {tally:?}"
    );

    // Changed on the live server: 100 keeps everything, 0 nothing.
    net.env
        .ok(&["region", "set", "europe", "--throttle", "100"]);
    assert_eq!(names(&net.picks_for(&server, DE, 200)), ["eu"]);
    net.env.ok(&["region", "set", "europe", "--throttle", "0"]);
    assert_eq!(names(&net.picks_for(&server, DE, 200)), ["out"]);
    // What the throttle sends away has nowhere to go when the region
    // forbids the world and has no fallback: it stays.
    net.env.ok(&[
        "region",
        "set",
        "europe",
        "--throttle",
        "30",
        "--global-fallback",
        "false",
    ]);
    assert_eq!(names(&net.picks_for(&server, DE, 200)), ["eu"]);
    // Clients of no region still draw by rating from everyone.
    let tally = net.spread_picks(&server, nowhere, 2000);
    assert!(share(&tally, "out") > 0.95, "{tally:?}");
}

#[test]
fn a_region_without_eligible_mirrors_uses_its_fallback_region() {
    // asia's only mirror lacks the file; oceania has no mirror, no
    // fallback and no global fallback.
    let net = tb_net(
        &[
            "region add europe --country DE",
            "region add asia --country JP --fallback europe",
            "region add oceania --country AU --no-global-fallback",
        ],
        &[
            ("eu1", 100, &["europe"]),
            ("eu2", 100, &["europe"]),
            ("asia", 1000, &["asia"]),
            ("other", 100, &[]),
        ],
    );
    net.env.ok(&["status", "set", "asia", "missing"]);
    net.geoip_import("ranges.csv", RANGES);
    let server = net.env.serve(&["--allow-ip-override"]);
    assert_eq!(names(&net.picks_for(&server, JP, 300)), ["eu1", "eu2"]);
    // Without a fallback region, asia's clients go to the world.
    net.env.ok(&["region", "set", "asia", "--no-fallback"]);
    assert_eq!(
        names(&net.picks_for(&server, JP, 300)),
        ["eu1", "eu2", "other"]
    );
    // Nowhere to go: 503, never a mirror, never the world.
    for _ in 0..100 {
        let r = server.get(&format!("{TB}&ip={AU}"));
        assert_eq!(r.status, 503, "{r:?}");
        assert_eq!(r.header("location"), None, "{r:?}");
        assert!(r.header("retry-after").is_some(), "{r:?}");
    }
    // The world's clients are served all the while.
    assert_eq!(
        names(&net.picks_for(&server, UNKNOWN, 300)),
        ["eu1", "eu2", "other"]
    );
    server.stop();

    // With an origin, oceania's clients go there.
    let server = net.env.serve(&[
        "--allow-ip-override",
        "--fallback-url",
        "http://origin.example",
    ]);
    for _ in 0..100 {
        let r = server.get_redirect(&format!("{TB}&ip={AU}"));
        assert_eq!(r.location(), format!("http://origin.example{FILE}"));
    }
    // Giving oceania a fallback region brings its mirrors back.
    net.env
        .ok(&["region", "set", "oceania", "--fallback", "europe"]);
    assert_eq!(names(&net.picks_for(&server, AU, 300)), ["eu1", "eu2"]);
}

#[test]
fn a_mirror_in_two_regions_counts_once() {
    // x serves two regions, y none; equal ratings. A client in no region
    // draws from the world: 50/50. Counting x once per region would give
    // it two thirds.
    let net = tb_net(
        &[
            "region add europe --country DE",
            "region add north-america --country US",
        ],
        &[("x", 50, &["europe", "north-america"]), ("y", 50, &[])],
    );
    net.geoip_import("ranges.csv", RANGES);
    let server = net.env.serve(&["--allow-ip-override", "--no-count"]);
    let tally = net.spread_picks(&server, nowhere, 2000);
    // Binomial n = 2000, p = 0.5: sd ≈ 1.1 points; ± 5 points is > 4 sd,
    // and double counting (66.7 %) is 15 sd away.
    let x = share(&tally, "x");
    assert!((0.45..=0.55).contains(&x), "x's share {x}: {tally:?}");
    // Each of its regions gets it.
    assert_eq!(names(&net.picks_for(&server, DE, 100)), ["x"]);
    assert_eq!(names(&net.picks_for(&server, US, 100)), ["x"]);
    assert_eq!(
        net.env
            .mirror_rows()
            .into_iter()
            .find(|c| c[0] == "x")
            .map(|c| c[6].clone()),
        Some("europe,north-america".to_string())
    );
}

/// Logs in to the admin as user `geo` (a viewer the test added before
/// serving, password `geo-correct-horse`); the session's `Cookie` header
/// value.
fn admin_session(server: &Server) -> String {
    let page = server.get("/admin/login");
    assert_eq!(page.status, 200, "{page:?}");
    let login = page
        .set_cookies()
        .into_iter()
        .find_map(|c| c.split(';').next()?.trim().strip_prefix("bouncer_login="))
        .expect("a login cookie")
        .to_string();
    let body = form_urlencode(&[
        ("csrf", &login),
        ("next", "/admin/"),
        ("user", "geo"),
        ("password", "geo-correct-horse"),
    ]);
    let r = http_body(
        server.port,
        "POST",
        "/admin/login",
        &[
            ("Cookie", &format!("bouncer_login={login}")),
            ("Content-Type", "application/x-www-form-urlencoded"),
        ],
        body.as_bytes(),
    );
    assert_eq!(r.status, 303, "login: {r:?}");
    r.set_cookies()
        .into_iter()
        .find_map(|c| {
            let c = c.split(';').next()?.trim();
            c.starts_with("bouncer_session=").then(|| c.to_string())
        })
        .expect("a session cookie")
}

#[test]
fn downloads_are_counted_by_country() {
    let net = two_regions();
    net.geoip_import("ranges.csv", RANGES);
    net.env.add_user_with("geo", "viewer", "geo-correct-horse");
    let server = net.env.serve(&["--allow-ip-override"]);
    for (ip, n) in [(DE, 3), (DE6, 2), (US, 4), (UNKNOWN, 1), (JP, 2)] {
        net.picks_for(&server, ip, n);
    }
    // print=yes and HEAD are no downloads.
    assert_eq!(server.get(&format!("{TB}&ip={DE}&print=yes")).status, 200);
    let head = server.request("HEAD", &format!("{TB}&ip={US}"), &[]);
    assert_eq!(head.status, 302, "{head:?}");
    // The counters flush about every second.
    let stats = net
        .env
        .poll_stats(Duration::from_secs(15), |s| s.total >= 12);
    assert_eq!(stats.total, 12, "{}", stats.text);
    assert_eq!(stats.row("tb"), Some(12), "{}", stats.text);
    // `bouncer stats` has a per-country table too.
    for (country, n) in [("DE", 5), ("US", 4), ("JP", 2), ("--", 1)] {
        assert_eq!(stats.row(country), Some(n), "{country}: {}", stats.text);
    }

    // What operators see: the admin's breakdown by country.
    let session = admin_session(&server);
    let r = server.get_with(
        "/admin/stats/csv?by=country&days=7",
        &[("Cookie", &session)],
    );
    assert_eq!(r.status, 200, "{r:?}");
    let rows: BTreeMap<String, String> = r
        .body
        .lines()
        .skip(1)
        .filter_map(|l| {
            let mut cells = l.split(',');
            Some((cells.next()?.to_string(), cells.next()?.to_string()))
        })
        .collect();
    let expected: BTreeMap<String, String> =
        [("DE", "5"), ("US", "4"), ("JP", "2"), ("unknown", "1")]
            .into_iter()
            .map(|(c, n)| (c.to_string(), n.to_string()))
            .collect();
    assert_eq!(rows, expected, "{}", r.body);
    let (status, log) = server.stop();
    assert!(status.success(), "{status:?}\n{log}");

    // As stored: unknown is `--`.
    let store = bouncer::store::Store::open(&net.env.db).expect("open the database");
    let counts = store.counts(0, u32::MAX).expect("read the counts");
    let by_country: BTreeMap<String, u64> = counts.by_country.into_iter().collect();
    let expected: BTreeMap<String, u64> = [("DE", 5), ("US", 4), ("JP", 2), ("--", 1)]
        .into_iter()
        .map(|(c, n)| (c.to_string(), n))
        .collect();
    assert_eq!(by_country, expected);
    assert_eq!(counts.total, 12);
}

#[test]
fn geoip_import_reads_each_format_and_reports_bad_lines() {
    let env = Env::new();
    env.setup(&[
        "region add europe --country DE",
        "region add oceania --country AU",
        "mirror add eu http://127.0.0.1:9/eu --region europe",
    ]);
    let lookup = |ip: &str| env.ok(&["geoip", "lookup", ip]);
    let status = || env.ok(&["geoip", "status"]);
    assert!(status().starts_with("no GeoIP data"), "{}", status());
    assert!(lookup(DE).contains("unknown country"), "{}", lookup(DE));

    // Plain start,end,country with a header and a bad line.
    let plain = write(
        &env,
        "plain.csv",
        &format!("{RANGES}1.2.3,1.2.3.255,FR\n10.0.0.0,10.0.0.255,FR\n"),
    );
    let out = env.ok(&["geoip", "import", path_str(&plain)]);
    assert!(
        out.contains(&format!("7 line(s) read from {}:", plain.display())),
        "{out}"
    );
    assert!(out.contains("5 IPv4 and 1 IPv6 ranges"), "{out}");
    assert!(out.contains("1 line(s) could not be used"), "{out}");
    assert!(
        out.contains(&format!(
            "{}:7: \"1.2.3\" is not an IP address",
            plain.display()
        )),
        "{out}"
    );
    let de = lookup(DE);
    assert!(de.starts_with(&format!("{DE}: DE")), "{de}");
    assert!(de.contains("region europe"), "{de}");
    assert!(de.contains("its active mirrors: eu"), "{de}");
    assert!(lookup("10.0.0.7").starts_with("10.0.0.7: FR"));
    assert!(lookup("10.0.0.7").contains("in no region"));
    let s = status();
    assert!(
        s.starts_with(&format!(
            "5 IPv4 and 1 IPv6 ranges from {} (imported ",
            plain.display()
        )),
        "{s}"
    );

    // A file in no known format: refused, the table stays.
    let html = write(&env, "page.html", "<html><body>Not found</body></html>\n");
    let out = env.run(&["geoip", "import", path_str(&html)]);
    assert_fails(&out, 1, &["page.html is in no known format", "MaxMind"]);
    assert_eq!(out.stdout, "");
    // So is a missing file, named.
    let out = env.run(&["geoip", "import", "/nonexistent/geo.csv"]);
    assert_fails(&out, 1, &["/nonexistent/geo.csv"]);
    // Nothing at all is a usage error.
    assert_eq!(env.run(&["geoip", "import"]).code, 1);
    assert_eq!(status(), s);
    assert!(lookup(DE).contains("region europe"));

    // DB-IP lite: no header; an inverted range.
    let dbip = write(
        &env,
        "dbip-country-lite.csv",
        "1.0.0.0,1.0.0.255,AU\n1.0.2.0,1.0.1.0,CN\n1.0.4.0,1.0.7.255,ZZ\n2001:db8:de::,2001:db8:de::ffff,DE\n",
    );
    let out = env.ok(&["geoip", "import", path_str(&dbip)]);
    assert!(
        out.contains(&format!("4 line(s) read from {}:", dbip.display())),
        "{out}"
    );
    assert!(out.contains("1 IPv4 and 1 IPv6 ranges"), "{out}");
    assert!(
        out.contains(&format!(
            "{}:2: end 1.0.1.0 is before start 1.0.2.0",
            dbip.display()
        )),
        "{out}"
    );
    let au = lookup("1.0.0.9");
    assert!(au.starts_with("1.0.0.9: AU"), "{au}");
    assert!(au.contains("region oceania"), "{au}");
    assert!(au.contains("its active mirrors: none"), "{au}");
    assert!(lookup("2001:db8:de::7").contains("region europe"));
    // An import replaces the table: the plain file's ranges are gone.
    assert!(lookup(DE).contains("in no range"), "{}", lookup(DE));

    // MaxMind GeoLite2-Country: the directory of blocks and locations.
    let locations = "\
geoname_id,locale_code,continent_code,continent_name,country_iso_code,country_name,is_in_european_union
2077456,en,OC,Oceania,AU,Australia,0
2921044,en,EU,Europe,DE,Germany,1
6252001,en,NA,\"North America\",US,\"United States\",0
";
    let blocks4 = "\
network,geoname_id,registered_country_geoname_id,represented_country_geoname_id,is_anonymous_proxy,is_satellite_provider,is_anycast
198.51.100.0/24,2921044,2921044,,0,0,
203.0.113.0/24,6252001,6252001,,0,0,
192.0.2.0/33,2077456,2077456,,0,0,
192.0.2.128/25,,2077456,,0,0,
";
    let blocks6 = "\
network,geoname_id,registered_country_geoname_id,represented_country_geoname_id,is_anonymous_proxy,is_satellite_provider,is_anycast
2001:db8:de::/48,2921044,2921044,,0,0,
2001:db8:99::/48,999,,,0,0,
";
    let dir = env.db.with_file_name("GeoLite2-Country-CSV_20240102");
    write(
        &env,
        "GeoLite2-Country-CSV_20240102/GeoLite2-Country-Locations-en.csv",
        locations,
    );
    let b4 = write(
        &env,
        "GeoLite2-Country-CSV_20240102/GeoLite2-Country-Blocks-IPv4.csv",
        blocks4,
    );
    let b6 = write(
        &env,
        "GeoLite2-Country-CSV_20240102/GeoLite2-Country-Blocks-IPv6.csv",
        blocks6,
    );
    write(
        &env,
        "GeoLite2-Country-CSV_20240102/LICENSE.txt",
        "not CSV\n",
    );
    let out = env.ok(&["geoip", "import", path_str(&dir)]);
    assert!(out.contains("3 IPv4 and 1 IPv6 ranges"), "{out}");
    assert!(out.contains("2 line(s) could not be used"), "{out}");
    assert!(
        out.contains(&format!(
            "{}:4: \"192.0.2.0/33\" is not a network (address/prefix length)",
            b4.display()
        )),
        "{out}"
    );
    assert!(
        out.contains(&format!(
            "{}:3: geoname_id 999 is not in the locations file",
            b6.display()
        )),
        "{out}"
    );
    assert!(lookup(DE).contains("region europe"), "{}", lookup(DE));
    assert!(lookup(DE6).contains("region europe"), "{}", lookup(DE6));
    assert!(
        lookup(US).starts_with(&format!("{US}: US")),
        "{}",
        lookup(US)
    );
    // Registered country only: that one.
    assert!(lookup(AU).contains("region oceania"), "{}", lookup(AU));
    assert!(lookup(JP).contains("in no range"), "{}", lookup(JP));
    assert!(lookup("1.0.0.9").contains("in no range"));
    let s = status();
    assert!(s.starts_with("3 IPv4 and 1 IPv6 ranges from "), "{s}");
    assert!(s.contains("GeoLite2-Country-Blocks-IPv4.csv"), "{s}");
    // Blocks without their locations file: refused, naming what is missing.
    let out = env.run(&["geoip", "import", path_str(&b4)]);
    assert_fails(&out, 1, &["GeoLite2-Country-Locations-en.csv"]);
    assert_eq!(status(), s);

    // Addresses that are none.
    let out = env.run(&["geoip", "lookup", "198.51.100"]);
    assert_fails(&out, 1, &["\"198.51.100\" is not an IPv4 or IPv6 address"]);

    // Cleared: every client unknown again.
    let out = env.ok(&["geoip", "clear"]);
    assert!(out.contains("every client counts as unknown"), "{out}");
    assert!(status().starts_with("no GeoIP data"), "{}", status());
}

#[test]
fn a_failed_import_on_a_running_server_loses_nothing() {
    let net = two_regions();
    net.geoip_import("ranges.csv", RANGES);
    let server = net.env.serve(&["--allow-ip-override"]);
    let before = net.env.ok(&["geoip", "status"]);
    let html = net.file("page.html", "<html><body>Not found</body></html>\n");
    let out = net.env.run(&["geoip", "import", path_str(&html)]);
    assert_fails(&out, 1, &["page.html is in no known format"]);
    let empty = net.file("empty.csv", "start,end,country\n");
    let out = net.env.run(&["geoip", "import", path_str(&empty)]);
    assert_fails(&out, 1, &["no data lines"]);
    assert_eq!(net.env.ok(&["geoip", "status"]), before);
    assert_eq!(names(&net.picks_for(&server, DE, 200)), ["eu1", "eu2"]);
    assert_eq!(names(&net.picks_for(&server, US, 100)), ["na"]);
    // A bad line in a good file: the good lines are in use at once.
    let out = net.geoip_import(
        "more.csv",
        &format!("{RANGES}100.64.0.0,100.64.0.255,DEU\n100.64.1.0,100.64.1.255,US\n"),
    );
    assert!(
        out.contains("more.csv:7: \"DEU\" is not a two-letter country code"),
        "{out}"
    );
    assert_eq!(names(&net.picks_for(&server, "100.64.1.1", 100)), ["na"]);
    assert_eq!(
        names(&net.picks_for(&server, UNKNOWN, 300)),
        ["eu1", "eu2", "na", "other"]
    );
    server.stop();
    // Stored: the next server starts with it.
    let server = net.env.serve(&["--allow-ip-override"]);
    assert_eq!(names(&net.picks_for(&server, "100.64.1.1", 100)), ["na"]);
    // Cleared on the live server: every client is unknown at once.
    let out = net.env.ok(&["geoip", "clear"]);
    assert!(out.contains("every client counts as unknown"), "{out}");
    assert_eq!(
        names(&net.picks_for(&server, DE, 300)),
        ["eu1", "eu2", "na", "other"]
    );
    let out = net.env.ok(&["geoip", "lookup", DE]);
    assert!(out.contains("unknown country (no GeoIP data"), "{out}");
}

#[test]
fn region_commands_explain_what_they_did_and_refuse_what_they_cannot() {
    let env = Env::new();
    let run = |line: &str| env.run(&line.split_whitespace().collect::<Vec<_>>());
    let ok = |line: &str| {
        let out = run(line);
        assert_eq!(out.code, 0, "{line}: {out:?}");
        out.stdout
    };
    // A new, empty database (region list only reads, and creates none).
    ok("settings unset mail.host");
    assert!(ok("region list").starts_with("no regions"));
    assert_eq!(
        ok("region add europe --country de --country AT --throttle 50"),
        "added region europe: keeps 50%, fallback none, global fallback yes, 2 countries\n"
    );
    assert_eq!(
        ok("region add na --country US --fallback EUROPE --no-global-fallback"),
        "added region na: keeps 100%, fallback europe, global fallback no, 1 country\n"
    );
    // Errors.
    assert_fails(
        &run("region add asia --country JP --fallback nowhere"),
        1,
        &["no region named \"nowhere\""],
    );
    assert_fails(
        &run("region add germany --country DE"),
        1,
        &["DE belongs to region \"europe\"", "remove it there first"],
    );
    assert_fails(&run("region add Europe --country FR"), 1, &["europe"]);
    assert_fails(&run("region add asia --country JPN"), 1, &["JPN"]);
    assert_fails(
        &run("region add asia --continent XX"),
        1,
        &["\"XX\" is not a continent"],
    );
    assert_fails(&run("region set europe --fallback europe"), 1, &["itself"]);
    assert_fails(
        &run("region set europe --fallback na"),
        1,
        &["would make a cycle", "europe → na → europe"],
    );
    assert_fails(&run("region set nowhere --throttle 5"), 1, &["nowhere"]);
    assert_fails(
        &run("region set na --add-country at"),
        1,
        &["AT belongs to region \"europe\""],
    );
    assert_fails(&run("region remove nowhere"), 1, &["nowhere"]);
    assert_fails(
        &run("mirror add m http://127.0.0.1:9/m --region nowhere"),
        1,
        &["nowhere"],
    );

    assert_eq!(
        ok("region set europe --throttle 200 --add-country fr --remove-country AT"),
        "region europe: keeps 100%, fallback none, global fallback yes, 2 countries\n"
    );
    ok("mirror add eu http://127.0.0.1:9/eu --region Europe");
    ok("mirror add both http://127.0.0.1:9/both --region europe --region na");
    let list = ok("region list");
    let rows: Vec<Vec<&str>> = list
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(
        rows,
        vec![
            vec![
                "NAME",
                "KEEPS",
                "FALLBACK",
                "GLOBAL",
                "COUNTRIES",
                "MIRRORS"
            ],
            vec!["europe", "100%", "-", "yes", "DE,FR", "eu,both"],
            vec!["na", "100%", "europe", "no", "US", "both"],
        ],
        "{list}"
    );

    // Removing a region mirrors serve, or another falls back to: refused
    // with advice, nothing changed.
    let out = run("region remove europe");
    assert_fails(
        &out,
        1,
        &[
            "region \"europe\" cannot be removed",
            "mirror(s) eu, both serve it",
            "--no-regions",
            "region(s) na fall back to it",
        ],
    );
    assert_eq!(ok("region list"), list);
    ok("mirror set eu --no-regions");
    ok("mirror set both --region na");
    ok("region set na --no-fallback");
    assert_eq!(ok("region remove EUROPE"), "removed region europe\n");
    assert!(!ok("region list").contains("europe"));

    // One region per continent, around the countries already taken.
    let out = ok("region defaults");
    assert!(out.contains("added region europe: "), "{out}");
    assert!(out.contains("added region north-america: "), "{out}");
    assert!(
        out.contains("left out (already in another region): US"),
        "{out}"
    );
    assert!(
        out.contains("`bouncer mirror set NAME --region REGION`"),
        "{out}"
    );
    let again = ok("region defaults");
    assert_eq!(again.lines().count(), 7, "{again}");
    assert!(
        again
            .lines()
            .all(|l| l.ends_with(": exists, left as it is")),
        "{again}"
    );
    assert!(!again.contains("mirror set"), "{again}");
    let list = ok("region list");
    let europe = list
        .lines()
        .find(|l| l.starts_with("europe "))
        .expect("europe listed");
    assert!(europe.contains("DE") && europe.contains("FR"), "{europe}");
    let na = list
        .lines()
        .find(|l| l.starts_with("na "))
        .expect("na listed");
    assert!(na.contains(" US "), "{na}");
    let north = list
        .lines()
        .find(|l| l.starts_with("north-america "))
        .expect("north-america listed");
    assert!(!north.contains("US"), "{north}");
}

#[test]
fn region_commands_reach_the_running_server() {
    let net = tb_net(
        &["region add europe --country DE"],
        &[("eu", 100, &["europe"]), ("other", 100, &[])],
    );
    net.geoip_import("ranges.csv", RANGES);
    let server = net.env.serve(&["--allow-ip-override"]);
    assert_eq!(names(&net.picks_for(&server, DE, 100)), ["eu"]);
    assert_eq!(names(&net.picks_for(&server, US, 300)), ["eu", "other"]);
    let out = net
        .env
        .ok(&["region", "add", "north-america", "--country", "US"]);
    assert!(out.starts_with("added region north-america"), "{out}");
    net.env
        .ok(&["mirror", "set", "other", "--region", "north-america"]);
    assert_eq!(names(&net.picks_for(&server, US, 100)), ["other"]);
    // Refused on the live server just the same.
    let out = net.env.run(&["region", "remove", "europe"]);
    assert_fails(&out, 1, &["mirror(s) eu serve it"]);
    assert_eq!(names(&net.picks_for(&server, DE, 100)), ["eu"]);
    net.env
        .ok(&["region", "set", "europe", "--remove-country", "DE"]);
    assert_eq!(names(&net.picks_for(&server, DE, 300)), ["eu", "other"]);
}

/// The test database the GeoIP module builds (see make_mmdb.py beside it).
fn mmdb() -> String {
    format!(
        "{}/tests/fixtures/geoip/test-country.mmdb",
        env!("CARGO_MANIFEST_DIR")
    )
}

#[test]
fn serve_geoip_reads_an_mmdb_file() {
    let net = tb_net(
        &[
            "region add europe --country GB --country DE --country FR",
            "region add north-america --country US",
        ],
        &[
            ("eu", 100, &["europe"]),
            ("na", 100, &["north-america"]),
            ("other", 100, &[]),
        ],
    );
    // A stored import that says otherwise: the file wins while it is read.
    net.geoip_import("ranges.csv", "81.2.69.0,81.2.70.255,US\n");
    let server = net.env.serve(&["--allow-ip-override", "--geoip", &mmdb()]);
    assert_eq!(names(&net.picks_for(&server, "81.2.69.1", 100)), ["eu"]);
    assert_eq!(names(&net.picks_for(&server, "81.2.70.255", 100)), ["eu"]);
    assert_eq!(names(&net.picks_for(&server, "2a02:cf40::1", 100)), ["eu"]);
    // Registered country only.
    assert_eq!(names(&net.picks_for(&server, "2.0.0.1", 100)), ["eu"]);
    assert_eq!(names(&net.picks_for(&server, "216.160.83.56", 100)), ["na"]);
    for ip in ["1.0.0.1", "2001:218::1", "3.0.0.1", UNKNOWN] {
        assert_eq!(
            names(&net.picks_for(&server, ip, 300)),
            ["eu", "na", "other"],
            "{ip}"
        );
    }
    let status = net.env.ok(&["geoip", "status"]);
    assert!(
        status.starts_with("5 IPv4 and 2 IPv6 ranges from test-country.mmdb"),
        "{status}"
    );
    assert!(
        status.contains(&format!("read from {} at start-up", mmdb())),
        "{status}"
    );
    let out = net.env.ok(&["geoip", "lookup", "81.2.69.1"]);
    assert!(out.starts_with("81.2.69.1: GB"), "{out}");
    assert!(out.contains("region europe"), "{out}");
    // An import while it runs is stored, not used.
    let out = net.geoip_import("us.csv", "2a02:cf40::,2a02:cf40::ffff,US\n");
    assert!(out.contains("(--geoip)"), "{out}");
    assert_eq!(names(&net.picks_for(&server, "2a02:cf40::1", 100)), ["eu"]);
    let out = net.env.ok(&["geoip", "clear"]);
    assert!(
        out.contains(&format!("this server still reads {}", mmdb())),
        "{out}"
    );
    assert_eq!(names(&net.picks_for(&server, "81.2.69.1", 100)), ["eu"]);
    server.stop();

    // A file that is not there, or no .mmdb: the server does not start.
    let csv = net.file("not.mmdb", RANGES);
    let asn = mmdb().replace("test-country", "test-asn");
    for (file, says) in [
        ("/nonexistent.mmdb", "/nonexistent.mmdb"),
        (path_str(&csv), "is not a MaxMind DB file"),
        (&asn, "has no country data"),
    ] {
        let out = net.env.run(&[
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--no-sentry",
            "--geoip",
            file,
        ]);
        assert_fails(&out, 1, &[says]);
        assert!(!out.stderr.contains("listening"), "{out:?}");
    }
}

// SPEC §13, whom a mirror serves: countries it may or must not serve,
// client networks (CIDR prefixes, AS numbers from an imported ASN table)
// it serves first, and a cap on its share.

#[test]
fn mirrors_serve_only_their_countries_and_never_the_excluded() {
    let net = tb_net(
        &["region add europe --country DE"],
        &[
            ("de-only", 100, &["europe"]),
            ("eu", 100, &["europe"]),
            ("world", 100, &[]),
        ],
    );
    net.env
        .ok(&["mirror", "set", "de-only", "--only-countries", "de"]);
    net.env
        .ok(&["mirror", "set", "eu", "--never-countries", "US,JP"]);
    net.geoip_import("ranges.csv", RANGES);
    let server = net.env.serve(&["--allow-ip-override"]);
    assert_eq!(names(&net.picks_for(&server, DE, 100)), ["de-only", "eu"]);
    // The US is in no region: the world's mirrors that may serve it.
    assert_eq!(names(&net.picks_for(&server, US, 100)), ["world"]);
    assert_eq!(names(&net.picks_for(&server, JP, 100)), ["world"]);
    assert_eq!(names(&net.picks_for(&server, AU, 200)), ["eu", "world"]);
    // A client of unknown country is not known to be in Germany.
    assert_eq!(
        names(&net.picks_for(&server, UNKNOWN, 200)),
        ["eu", "world"]
    );
    // Lifted while it runs: in use at once.
    net.env
        .ok(&["mirror", "set", "de-only", "--only-countries", "none"]);
    assert_eq!(
        names(&net.picks_for(&server, US, 300)),
        ["de-only", "world"]
    );
    let rows = net.env.mirror_rows();
    let audience = |name: &str| {
        rows.iter()
            .find(|r| r[0] == name)
            .map(|r| r[AUDIENCE].clone())
            .unwrap()
    };
    assert_eq!(audience("eu"), "never JP,US");
    assert_eq!(audience("de-only"), "-");
    server.stop();
}

/// The column of `mirror list` that says whom a mirror serves.
const AUDIENCE: usize = 9;

#[test]
fn claimed_networks_are_served_first_prefixes_over_as_numbers() {
    let net = tb_net(
        &[
            "region add europe --country DE",
            "region add north-america --country US",
        ],
        &[
            ("eu", 100, &["europe"]),
            ("na", 100, &["north-america"]),
            ("isp", 100, &[]),
            ("campus", 100, &[]),
        ],
    );
    net.geoip_import("ranges.csv", RANGES);
    net.env
        .ok(&["mirror", "set", "isp", "--networks", "AS64500"]);
    net.env.ok(&[
        "mirror",
        "set",
        "campus",
        "--networks",
        "203.0.113.0/25, 2001:db8:de:1::/64",
    ]);
    let server = net.env.serve(&["--allow-ip-override"]);
    // No ASN table yet: the AS number matches nobody, the prefix does.
    assert_eq!(names(&net.picks_for(&server, DE, 100)), ["eu"]);
    assert_eq!(names(&net.picks_for(&server, US, 100)), ["campus"]);
    assert_eq!(names(&net.picks_for(&server, "203.0.113.200", 100)), ["na"]);
    assert_eq!(
        names(&net.picks_for(&server, "2001:db8:de:1::9", 100)),
        ["campus"]
    );
    assert_eq!(
        names(&net.picks_for(&server, "2001:db8:de:2::9", 100)),
        ["eu"]
    );
    let out = net.env.ok(&["asn", "status"]);
    assert!(out.starts_with("no ASN table"), "{out}");

    // An ASN table puts Germany's network and part of the US's in AS64500;
    // the campus prefix still wins inside it.
    let path = net.file(
        "asn.csv",
        "start,end,asn\n198.51.100.0,198.51.100.255,AS64500\n203.0.113.0,203.0.113.255,64500\nbad,line\n",
    );
    let out = net.env.ok(&["asn", "import", path_str(&path)]);
    assert!(out.contains("2 IPv4 and 0 IPv6 ranges"), "{out}");
    assert!(out.contains("1 line(s) could not be used"), "{out}");
    assert!(out.contains("stored and in use"), "{out}");
    assert_eq!(names(&net.picks_for(&server, DE, 100)), ["isp"]);
    assert_eq!(names(&net.picks_for(&server, US, 100)), ["campus"]);
    assert_eq!(
        names(&net.picks_for(&server, "203.0.113.200", 100)),
        ["isp"]
    );
    assert_eq!(
        names(&net.picks_for(&server, JP, 200)),
        ["campus", "eu", "isp", "na"]
    );
    let out = net.env.ok(&["asn", "lookup", DE]);
    assert_eq!(out, format!("{DE}: AS64500; served first by: isp\n"));
    let out = net.env.ok(&["asn", "status"]);
    assert!(
        out.starts_with("2 IPv4 and 0 IPv6 ranges from ") && out.contains("asn.csv (imported "),
        "{out}"
    );
    // Prefix, the AS range cut around it, and the IPv6 prefix.
    assert!(out.contains("mirrors claim 4 range(s)"), "{out}");

    // The claimant down: its network's clients go to their region again.
    net.env.ok(&["mirror", "set", "isp", "--active", "false"]);
    assert_eq!(names(&net.picks_for(&server, DE, 100)), ["eu"]);
    net.env.ok(&["mirror", "set", "isp", "--active", "true"]);
    let out = net.env.ok(&["asn", "clear"]);
    assert!(out.contains("removed the ASN table"), "{out}");
    assert_eq!(names(&net.picks_for(&server, DE, 100)), ["eu"]);
    server.stop();
}

#[test]
fn a_share_cap_holds_over_thousands_of_clients() {
    let net = tb_net(
        &["region add europe --country DE"],
        &[
            ("big", 300, &["europe"]),
            ("a", 100, &["europe"]),
            ("b", 100, &["europe"]),
            ("out", 100, &[]),
        ],
    );
    net.geoip_import("ranges.csv", RANGES);
    let server = net.env.serve(&["--allow-ip-override"]);
    let clients = 3000;
    let uncapped = net.spread_picks(&server, in_germany, clients);
    assert!((share(&uncapped, "big") - 0.6).abs() < 0.03, "{uncapped:?}");
    net.env.ok(&["mirror", "set", "big", "--max-share", "40%"]);
    // New clients each time: one asking again is retrying.
    let capped = net.spread_picks(&server, |i| in_germany(clients + i), clients);
    assert!((share(&capped, "big") - 0.4).abs() < 0.03, "{capped:?}");
    for other in ["a", "b"] {
        assert!((share(&capped, other) - 0.3).abs() < 0.03, "{capped:?}");
    }

    assert_eq!(share(&capped, "out"), 0.0, "Europe keeps its clients");

    // Every mirror of the region capped at 30%: 10% of Germany's
    // downloads leave for the world (here, the one mirror outside).
    net.env.setup(&[
        "mirror set a --max-share 30",
        "mirror set b --max-share 30",
        "mirror set big --max-share 30",
    ]);
    let all_capped = net.spread_picks(&server, |i| in_germany(2 * clients + i), clients);
    assert!(
        (share(&all_capped, "out") - 0.1).abs() < 0.02,
        "{all_capped:?}"
    );
    for capped in ["big", "a", "b"] {
        assert!(
            (share(&all_capped, capped) - 0.3).abs() < 0.03,
            "{all_capped:?}"
        );
    }
    server.stop();
}

#[test]
fn a_wrong_audience_is_refused_and_changes_nothing() {
    let net = tb_net(&[], &[("m", 100, &[])]);
    for (option, value, says) in [
        (
            "--networks",
            "10.0.0.1/8",
            "bits are set after the prefix length",
        ),
        ("--networks", "AS-1", "AS number"),
        ("--only-countries", "DEU", "is not a country"),
        ("--max-share", "0", "whole percentage from 1 to 100"),
    ] {
        let out = net.env.run(&["mirror", "set", "m", option, value]);
        assert_ne!(out.code, 0, "{out:?}");
        assert!(out.stderr.contains(says), "{option} {value}: {out:?}");
        assert!(
            out.stderr.contains("e.g.") || option == "--max-share",
            "{out:?}"
        );
    }
    let rows = net.env.mirror_rows();
    assert_eq!(rows[0][AUDIENCE], "-");
    net.env.ok(&[
        "mirror",
        "set",
        "m",
        "--networks",
        "192.0.2.0/24,as64500",
        "--max-share",
        "40",
    ]);
    let rows = net.env.mirror_rows();
    assert_eq!(rows[0][AUDIENCE], "first 192.0.2.0/24,AS64500; max 40%");
}
