//! SPEC §3: sentry against real mirrors. Every test builds its own network
//! of test mirrors on 127.0.0.1 (see `common::mirror`), runs
//! `bouncer sentry` (or `serve` with its schedule) and looks at what the
//! network then serves: `mirror list`, `status list`, `uptake` and
//! `print=yes` bounces. Checks time out after [`CHECK_TIMEOUT`] seconds; slow mirrors are
//! released when the test ends.

use std::collections::{BTreeMap, BTreeSet};
use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use crate::common::mirror::{Behaviour, Files, Mirror, UNRESOLVABLE};
use crate::common::net::{self, Net, expand};
use crate::common::smtp::{Login, Mail, Security, Smtp};
use crate::common::tls::Ca;
use crate::common::{Env, Server, sha256_hex, table};

const PRODUCT: &str = "fx";
/// Sorted: `de` is first and `zh-TW` last alphabetically.
const LANGS: [&str; 4] = ["de", "en-US", "fr", "zh-TW"];
/// The product's locations.
const LOCATIONS: [(&str, &str); 2] = [
    ("win", "/fx/win/:lang/Setup%20fx.exe"),
    ("linux", "/fx/linux/:lang/fx.tar.bz2"),
];
/// A location tests add later: every mirror already has its files.
const LATE: (&str, &str) = ("osx", "/fx/osx/:lang/fx.dmg");
/// A language tests add later (alphabetically last, so always checked):
/// every mirror has its files unless told otherwise.
const LATE_LANG: &str = "zu";
/// Bounces per `print=yes` sample: with five equal candidates the chance
/// that one is never picked is about 1e-19.
const SAMPLES: usize = 200;
/// Sentry's request timeout in seconds: a healthy test mirror answers at
/// once, but a loaded 2-core machine may take a second to schedule it; a
/// slow mirror costs this much per check.
const CHECK_TIMEOUT: &str = "3";
/// How long a test waits for the scheduled checker.
const PROMPT: Duration = Duration::from_secs(20);

/// The path of `os`'s file in `lang`.
fn path(os: &str, lang: &str) -> String {
    let (_, template) = LOCATIONS
        .iter()
        .chain([&LATE])
        .find(|(o, _)| *o == os)
        .unwrap_or_else(|| panic!("no location for {os}"));
    template.replace(":lang", lang)
}

/// Every file of every location (the late one too), each with its own
/// content and size.
fn files() -> Files {
    net::files(
        LOCATIONS
            .iter()
            .chain([&LATE])
            .flat_map(|(_, template)| expand(template, &[&LANGS[..], &[LATE_LANG]].concat())),
    )
}

/// The product's files (two locations, four languages) that `keep` picks
/// by (os, lang).
fn paths_where(keep: impl Fn(&str, &str) -> bool) -> Vec<String> {
    LOCATIONS
        .iter()
        .flat_map(|(os, _)| LANGS.iter().map(move |lang| (*os, *lang)))
        .filter(|(os, lang)| keep(os, lang))
        .map(|(os, lang)| path(os, lang))
        .collect()
}

/// What `mirror list` says about a mirror.
#[derive(Debug)]
struct Listed {
    health: String,
    serves: usize,
}

/// A database with product `fx` (four languages, win and linux).
fn fx_net() -> Net {
    let env = Env::new();
    let langs: Vec<String> = LANGS.iter().map(|l| format!("--lang {l}")).collect();
    env.setup(&[&format!("product add {PRODUCT} {}", langs.join(" "))]);
    for (os, template) in LOCATIONS {
        env.ok(&["location", "add", PRODUCT, os, template]);
    }
    Net::new(env, files())
}

/// [`fx_net`] with a network of test mirrors behaving as given.
fn fx_with(mirrors: &[(&str, Behaviour)]) -> Net {
    let mut net = fx_net();
    for (name, behaviour) in mirrors {
        net.add(name, behaviour.clone(), &[]);
    }
    net
}

/// [`fx_net`] with healthy test mirrors of these names.
fn fx_healthy(names: &[&str]) -> Net {
    let mut net = fx_net();
    for name in names {
        net.add(name, Behaviour::Healthy, &[]);
    }
    net
}

/// Sentry's view of the network: runs, lists, bounces.
impl Net {
    /// Stores every file's size and SHA-256 (`bouncer load`).
    fn load_fx_checksums(&self) {
        self.load_checksums(
            PRODUCT,
            "/fx",
            "win=win,linux=linux",
            &paths_where(|_, _| true),
        );
    }

    /// `bouncer sentry args… --timeout CHECK_TIMEOUT`, which must succeed.
    fn sentry(&self, args: &[&str]) -> String {
        let mut all = vec!["sentry"];
        all.extend_from_slice(args);
        all.extend_from_slice(&["--timeout", CHECK_TIMEOUT]);
        self.env.ok(&all)
    }

    /// `mirror list`, by name.
    fn listed(&self) -> BTreeMap<String, Listed> {
        self.env
            .mirror_list()
            .into_iter()
            .map(|(name, (health, serves))| (name, Listed { health, serves }))
            .collect()
    }

    /// Each mirror's HEALTH in `mirror list`.
    fn health(&self) -> BTreeMap<String, String> {
        self.listed()
            .into_iter()
            .map(|(name, l)| (name, l.health))
            .collect()
    }

    /// `status list --mirror NAME`: its (os, line) rows.
    fn status_of(&self, name: &str) -> Vec<(String, String)> {
        let out = self.env.ok(&["status", "list", "--mirror", name]);
        out.lines()
            .skip(1)
            .map(|line| {
                let os = line.split_whitespace().nth(1).unwrap_or("").to_string();
                (os, line.to_string())
            })
            .collect()
    }

    /// `uptake`: (available, total) for `os`, if listed.
    fn uptake(&self, os: &str) -> Option<(u64, u64)> {
        let rows = table(&self.env.ok(&["uptake", PRODUCT]));
        let cells = rows.iter().find(|cells| cells[1] == os)?;
        let number = |i: usize| -> u64 {
            cells[i]
                .parse()
                .unwrap_or_else(|_| panic!("unexpected uptake row {cells:?}"))
        };
        Some((number(2), number(3)))
    }

    /// Where a `print=yes` bounce for (os, lang) goes: a mirror's name, or
    /// `None` when no mirror can serve (503).
    fn pick(&self, server: &Server, os: &str, lang: &str) -> Option<String> {
        self.pick_for(server, os, lang, None)
    }

    /// [`Net::pick`] for the `client`-th of many clients
    /// ([`crate::common::client_address`]), or from 127.0.0.1.
    fn pick_for(
        &self,
        server: &Server,
        os: &str,
        lang: &str,
        client: Option<usize>,
    ) -> Option<String> {
        let target = format!("/?product={PRODUCT}&os={os}&lang={lang}&print=yes");
        let r = match client {
            Some(i) => crate::common::http_from(
                crate::common::client_address(i),
                server.port,
                "GET",
                &target,
                &[],
            ),
            None => server.get(&target),
        };
        match r.status {
            200 => Some(self.name_of(r.body.trim_end(), &path(os, lang))),
            503 => None,
            _ => panic!("GET {target}: {r:?}"),
        }
    }

    /// How often each mirror was picked in `n` bounces for (os, lang), one
    /// from each of `n` clients (one client gets one mirror), all of which
    /// must find a mirror.
    fn picks(&self, server: &Server, os: &str, lang: &str, n: usize) -> BTreeMap<String, usize> {
        let mut counts = BTreeMap::new();
        for i in 0..n {
            let name = self
                .pick_for(server, os, lang, Some(i))
                .unwrap_or_else(|| panic!("no mirror serves {os} {lang}"));
            *counts.entry(name).or_default() += 1;
        }
        counts
    }

    /// The mirrors [`SAMPLES`] bounces for (os, lang) went to.
    fn served(&self, server: &Server, os: &str, lang: &str) -> BTreeSet<String> {
        self.picks(server, os, lang, SAMPLES).into_keys().collect()
    }
}

/// Polls `done` every 50 ms until it holds; fails the test, showing the
/// server's log, if it does not within [`PROMPT`].
fn wait_until(server: &Server, what: &str, mut done: impl FnMut() -> bool) {
    let ok = crate::common::poll(PROMPT, Duration::from_millis(50), || done().then_some(()));
    assert!(
        ok.is_some(),
        "{what}: not within {PROMPT:?}; the server said:\n{}",
        server.log()
    );
}

fn set(names: &[&str]) -> BTreeSet<String> {
    names.iter().map(|n| n.to_string()).collect()
}

/// The report file named on sentry's `report: PATH` line.
fn report_path(out: &str) -> String {
    out.lines()
        .find_map(|l| l.strip_prefix("report: "))
        .unwrap_or_else(|| panic!("no report line in {out:?}"))
        .to_string()
}

/// The number of checks in sentry's first line.
fn checks(out: &str) -> usize {
    out.split(": ")
        .nth(1)
        .and_then(|s| s.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no check count in {out:?}"))
}

fn read(path: impl AsRef<Path>) -> String {
    let path = path.as_ref();
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

/// `mail set` towards `smtp`, operators at ops@b.example.
fn mail_to(net: &Net, smtp: &Smtp, contacts: bool) {
    let port = smtp.port.to_string();
    let contacts = contacts.to_string();
    net.env.ok(&[
        "mail",
        "set",
        "--host",
        "127.0.0.1",
        "--port",
        &port,
        "--tls",
        "none",
        "--from",
        "a@b.example",
        "--to",
        "ops@b.example",
        "--contacts",
        &contacts,
    ]);
}

fn assert_no_mail(smtp: &Smtp) {
    let pending = smtp.pending();
    assert!(pending.is_empty(), "unexpected mail: {pending:#?}");
}

/// One test mirror of each kind; `good` ones must serve everything.
fn mixed_network() -> Net {
    let mut net = fx_with(&[
        ("good-a", Behaviour::Healthy),
        ("good-b", Behaviour::Healthy),
        ("head405", Behaviour::HeadRefused),
        // Same size, other bytes: only a hash check can tell.
        ("wrongbytes", Behaviour::WrongContent),
        // Has win, lacks every linux file.
        (
            "partial",
            Behaviour::Missing(paths_where(|os, _| os == "linux")),
        ),
        ("broken", Behaviour::Broken),
        ("slow", Behaviour::Slow),
        ("reset", Behaviour::Reset),
        ("errorpage", Behaviour::ErrorPage),
        ("wrongsize", Behaviour::WrongSize),
        ("loop", Behaviour::RedirectLoop),
    ]);
    net.add_url("nowhere", UNRESOLVABLE, &[]);
    // A product no mirror carries.
    net.env.setup(&[
        "product add ghost",
        "location add ghost win /ghost/setup.exe",
    ]);
    net.load_fx_checksums();
    net
}

#[test]
fn a_mixed_network_serves_only_from_good_mirrors() {
    let net = mixed_network();
    let out = net.sentry(&["--all"]);
    assert!(out.starts_with("sentry run 1 (all): "), "{out}");
    assert!(!out.contains("ALARM"), "{out}");
    for down in ["broken", "slow", "reset", "nowhere"] {
        assert!(
            out.contains(&format!("  {down} is down: ")),
            "{down}: {out}"
        );
    }
    assert!(
        out.contains("  broken is down: 500 Internal Server Error\n"),
        "{out}"
    );
    assert!(out.contains("  slow is down: timed out"), "{out}");

    let listed = net.listed();
    let health = |n: &str| listed[n].health.as_str();
    let serves = |n: &str| listed[n].serves;
    for up in [
        "good-a",
        "good-b",
        "head405",
        "wrongbytes",
        "partial",
        "errorpage",
        "wrongsize",
        "loop",
    ] {
        assert_eq!(health(up), "up", "{up}: {listed:#?}");
    }
    assert_eq!(health("broken"), "down: 500 Internal Server Error");
    assert!(health("slow").starts_with("down: timed out"), "{listed:#?}");
    assert!(
        health("reset").starts_with("down: connection failed"),
        "{listed:#?}"
    );
    assert!(health("nowhere").starts_with("down: "), "{listed:#?}");
    for full in ["good-a", "good-b", "head405", "wrongbytes"] {
        assert_eq!(serves(full), 2, "{full}: {listed:#?}");
    }
    assert_eq!(serves("partial"), 1, "{listed:#?}");
    for none in [
        "errorpage",
        "wrongsize",
        "loop",
        "broken",
        "slow",
        "reset",
        "nowhere",
    ] {
        assert_eq!(serves(none), 0, "{none}: {listed:#?}");
    }

    // Why each file is missing.
    for (mirror, why) in [
        ("errorpage", "text/html"),
        ("wrongsize", "bytes, expected"),
        ("loop", "redirect"),
    ] {
        let rows = net.status_of(mirror);
        // fx win, fx linux and ghost win.
        assert_eq!(rows.len(), 3, "{mirror}: {rows:#?}");
        for (_, line) in &rows {
            assert!(line.contains(" missing "), "{mirror}: {line}");
            // ghost's file is on no mirror: 404 (or the error page).
            if line.starts_with("fx ") {
                assert!(line.contains(why), "{mirror}: {line}");
            }
        }
    }
    let partial = net.status_of("partial");
    let linux = partial
        .iter()
        .find(|(os, l)| os == "linux" && l.starts_with("fx "))
        .expect("partial's linux row");
    assert!(linux.1.contains(" missing ") && linux.1.contains("404 Not Found"));
    let win = partial
        .iter()
        .find(|(os, l)| os == "win" && l.starts_with("fx "))
        .expect("partial's win row");
    assert!(win.1.contains(" present "), "{}", win.1);
    // Mirrors that are down have no file verdicts.
    for down in ["broken", "slow", "reset", "nowhere"] {
        assert!(net.status_of(down).is_empty(), "{down}");
    }

    // Ratings are 100 each; twelve active mirrors.
    assert_eq!(net.uptake("win"), Some((500, 1200)));
    assert_eq!(net.uptake("linux"), Some((400, 1200)));

    let server = net.env.serve(&[]);
    let good = ["good-a", "good-b", "head405", "wrongbytes"];
    let mut win = set(&good);
    win.insert("partial".into());
    for lang in ["en-US", "zh-TW"] {
        assert_eq!(net.served(&server, "win", lang), win, "win {lang}");
        assert_eq!(
            net.served(&server, "linux", lang),
            set(&good),
            "linux {lang}"
        );
    }
    let r = server.get("/?product=ghost&os=win&print=yes");
    assert_eq!(r.status, 503, "{r:?}");
    assert!(r.header("retry-after").is_some(), "{r:?}");
}

/// The checker names DNS failures as such (`Failure::Dns`: "host name does
/// not resolve"), so operators see at once that the mirror's name is wrong.
#[test]
fn an_unresolvable_mirror_is_down_because_its_name_does_not_resolve() {
    let mut net = fx_healthy(&["good"]);
    net.add_url("nowhere", UNRESOLVABLE, &[]);
    let out = net.sentry(&["--all"]);
    assert!(out.contains("  nowhere is down: "), "{out}");
    let health = net.health();
    assert_eq!(health["good"], "up");
    assert!(
        health["nowhere"].starts_with("down: host name does not resolve"),
        "{health:#?}"
    );
}

#[test]
fn a_hash_check_catches_a_file_of_the_right_size_with_the_wrong_content() {
    let net = fx_with(&[
        ("good-a", Behaviour::Healthy),
        ("good-b", Behaviour::Healthy),
        ("wrongbytes", Behaviour::WrongContent),
    ]);
    net.sentry(&["--all"]);
    // Nothing has a known checksum yet.
    assert_eq!(
        net.sentry(&["--hashes"]),
        "sentry hashes: nothing to check\n"
    );

    net.load_fx_checksums();
    let out = net.sentry(&["--all"]);
    assert!(
        out.contains(" checks, 0 failures, 0 status changes\n"),
        "{out}"
    );
    assert_eq!(net.listed()["wrongbytes"].serves, 2);

    let out = net.sentry(&["--hashes"]);
    assert!(out.starts_with("sentry run 3 (hashes): "), "{out}");
    assert!(out.contains("  wrongbytes serves a wrong /fx/"), "{out}");
    assert!(out.contains("sha256 mismatch: got "), "{out}");
    assert!(out.contains("  wrongbytes lost fx win: "), "{out}");
    assert!(out.contains("  wrongbytes lost fx linux: "), "{out}");
    assert!(!out.contains("good-"), "{out}");
    // The expected digest is the real one (computed by sha256sum).
    let win_en = sha256_hex(&net.files[&path("win", "en-US")]);
    let wrong_en = sha256_hex(
        &net.files[&path("win", "en-US")]
            .iter()
            .map(|b| !b)
            .collect::<Vec<_>>(),
    );
    assert!(
        out.contains(&format!("got {wrong_en}, expected {win_en}")),
        "{out}"
    );
    assert!(read(report_path(&out)).contains("sha256 mismatch"));

    let listed = net.listed();
    assert_eq!(listed["wrongbytes"].health, "up", "{listed:#?}");
    assert_eq!(listed["wrongbytes"].serves, 0, "{listed:#?}");
    assert_eq!(listed["good-a"].serves, 2, "{listed:#?}");
    assert_eq!(listed["good-b"].serves, 2, "{listed:#?}");
    let rows = net.status_of("wrongbytes");
    assert!(!rows.is_empty(), "wrongbytes has no status rows");
    for (_, line) in rows {
        assert!(
            line.contains(" missing ") && line.contains("sha256 mismatch"),
            "{line}"
        );
    }

    let server = net.env.serve(&[]);
    for os in ["win", "linux"] {
        assert_eq!(
            net.served(&server, os, "fr"),
            set(&["good-a", "good-b"]),
            "{os}"
        );
    }
}

#[test]
fn a_broken_mirror_leaves_rotation_and_returns_after_repair() {
    let net = fx_healthy(&["alpha", "bravo", "charlie"]);
    // A running server: checks go through its control socket and reach
    // its index at once.
    let server = net.env.serve(&[]);
    let everyone = set(&["alpha", "bravo", "charlie"]);
    net.sentry(&["--all"]);
    assert_eq!(net.served(&server, "win", "de"), everyone);

    net.mirror("alpha").set(Behaviour::Broken);
    let out = net.sentry(&["--all"]);
    assert!(
        out.contains("  alpha is down: 500 Internal Server Error\n"),
        "{out}"
    );
    assert_eq!(net.health()["alpha"], "down: 500 Internal Server Error");
    assert_eq!(net.served(&server, "win", "de"), set(&["bravo", "charlie"]));
    assert_eq!(
        net.served(&server, "linux", "fr"),
        set(&["bravo", "charlie"])
    );
    // Still broken: no news, still out.
    let out = net.sentry(&["--all"]);
    assert!(out.contains(", 0 status changes\n"), "{out}");
    assert_eq!(net.served(&server, "win", "de"), set(&["bravo", "charlie"]));

    net.mirror("alpha").set(Behaviour::Healthy);
    let out = net.sentry(&["--all"]);
    assert!(out.contains("  alpha is back\n"), "{out}");
    assert_eq!(net.health()["alpha"], "up");
    assert_eq!(net.served(&server, "win", "de"), everyone);
    assert_eq!(net.served(&server, "linux", "fr"), everyone);
}

#[test]
fn a_mirror_lacking_only_the_last_language_is_caught() {
    let net = fx_with(&[
        ("full", Behaviour::Healthy),
        (
            "halfway",
            Behaviour::Missing(paths_where(|_, lang| lang == "zh-TW")),
        ),
    ]);
    let out = net.sentry(&["--all"]);
    assert!(out.contains(", 0 status changes\n"), "{out}");
    let rows = net.status_of("halfway");
    assert_eq!(rows.len(), 2, "{rows:#?}");
    for (_, line) in &rows {
        assert!(line.contains(" missing "), "{line}");
        assert!(line.contains("zh-TW: 404 Not Found"), "{line}");
    }
    let listed = net.listed();
    assert_eq!(listed["halfway"].health, "up");
    assert_eq!(listed["halfway"].serves, 0);
    assert_eq!(listed["full"].serves, 2);
    assert_eq!(net.uptake("win"), Some((100, 200)));

    // Even for the languages it has, the half-synced release is not used.
    let server = net.env.serve(&[]);
    for lang in ["de", "en-US", "zh-TW"] {
        assert_eq!(net.served(&server, "win", lang), set(&["full"]), "{lang}");
    }
}

#[test]
fn when_every_mirror_fails_at_once_the_checker_suspects_itself() {
    let net = fx_with(&[
        ("alpha", Behaviour::Healthy),
        ("bravo", Behaviour::Healthy),
        ("charlie", Behaviour::Healthy),
    ]);
    let smtp = Smtp::start();
    mail_to(&net, &smtp, false);
    let out = net.sentry(&["--all"]);
    assert!(!out.contains("ALARM"), "{out}");
    // Nothing changed: no mail.
    assert_no_mail(&smtp);

    for m in ["alpha", "bravo", "charlie"] {
        net.mirror(m).set(Behaviour::Broken);
    }
    let out = net.sentry(&["--all"]);
    assert!(out.contains("\nALARM: 3 of 3 mirrors failed"), "{out}");
    assert!(out.contains(", 0 status changes\n"), "{out}");
    assert!(!out.contains(" is down"), "{out}");
    for (name, l) in net.listed() {
        assert_eq!(l.health, "up", "{name}");
        assert_eq!(l.serves, 2, "{name}");
    }
    let mail = smtp.next();
    assert_eq!(mail.to, vec!["ops@b.example"]);
    assert!(mail.subject().contains("CHECKER ALARM"), "{mail:#?}");
    assert!(
        mail.data.contains("ALARM: 3 of 3 mirrors failed"),
        "{mail:#?}"
    );
    assert_no_mail(&smtp);

    // Traffic carries on as before.
    let server = net.env.serve(&[]);
    assert_eq!(
        net.served(&server, "win", "de"),
        set(&["alpha", "bravo", "charlie"])
    );
}

/// Operators get one mail per run with changes; with `mail.contacts`, each
/// affected mirror's contact gets one about that mirror alone.
#[test]
fn sentry_mails_operators_and_contacts_once_per_run() {
    let mut net = fx_net();
    net.add(
        "alpha",
        Behaviour::Healthy,
        &["--contact", "alpha@mirror.example"],
    );
    net.add(
        "bravo",
        Behaviour::Healthy,
        &["--contact", "bravo@mirror.example"],
    );
    net.add("charlie", Behaviour::Healthy, &[]);
    let smtp = Smtp::start();
    mail_to(&net, &smtp, false);
    net.sentry(&["--all"]);
    assert_no_mail(&smtp);

    net.mirror("alpha").set(Behaviour::Broken);
    net.sentry(&["--all"]);
    let ops = smtp.next();
    assert_eq!(ops.to, vec!["ops@b.example"], "{ops:#?}");
    assert!(ops.subject().contains("1 mirror(s) down"), "{ops:#?}");
    assert!(
        ops.data
            .contains("alpha is down: 500 Internal Server Error"),
        "{ops:#?}"
    );
    // Contacts are off: nothing else.
    assert_no_mail(&smtp);

    mail_to(&net, &smtp, true);
    net.mirror("alpha").set(Behaviour::Healthy);
    net.mirror("bravo").set(Behaviour::Broken);
    net.sentry(&["--all"]);
    let mut mails: Vec<Mail> = (0..3).map(|_| smtp.next()).collect();
    assert_no_mail(&smtp);
    mails.sort_by(|a, b| a.to.cmp(&b.to));
    let [alpha, bravo, ops] = &mails[..] else {
        unreachable!()
    };
    assert_eq!(ops.to, vec!["ops@b.example"], "{mails:#?}");
    assert!(ops.data.contains("alpha is back"), "{ops:#?}");
    assert!(ops.data.contains("bravo is down"), "{ops:#?}");
    assert_eq!(alpha.to, vec!["alpha@mirror.example"], "{mails:#?}");
    assert!(alpha.data.contains("alpha is back"), "{alpha:#?}");
    assert!(!alpha.data.contains("bravo"), "{alpha:#?}");
    assert_eq!(bravo.to, vec!["bravo@mirror.example"], "{mails:#?}");
    assert!(bravo.data.contains("bravo is down"), "{bravo:#?}");
    assert!(!bravo.data.contains("alpha"), "{bravo:#?}");

    // A run without changes sends nothing.
    net.sentry(&["--all"]);
    assert_no_mail(&smtp);
}

#[test]
fn mail_test_reaches_the_server_or_explains_the_port() {
    let net = fx_net();
    let smtp = Smtp::start();
    mail_to(&net, &smtp, false);
    assert_eq!(
        net.env.ok(&["mail", "test"]),
        "sent a test message to ops@b.example\n"
    );
    let mail = smtp.next();
    assert_eq!(mail.to, vec!["ops@b.example"]);
    assert_eq!(mail.subject(), "[bouncer] test message");
    assert!(mail.data.contains("Mail works."), "{mail:#?}");
    net.env.ok(&["mail", "test", "--to", "other@b.example"]);
    assert_eq!(smtp.next().to, vec!["other@b.example"]);

    // A port nobody listens on.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    net.env.ok(&["mail", "set", "--port", &port.to_string()]);
    let out = net.env.run(&["mail", "test"]);
    assert_eq!(out.code, 1, "{out:?}");
    assert!(
        out.stderr.contains(&format!("127.0.0.1:{port}")) && out.stderr.contains("mail.port"),
        "{out:?}"
    );
}

/// A run whose mail cannot go out still does its work, and says so.
#[test]
fn a_run_whose_mail_fails_warns_with_advice() {
    let net = fx_with(&[("alpha", Behaviour::Broken), ("bravo", Behaviour::Healthy)]);
    let smtp = Smtp::start();
    mail_to(&net, &smtp, false);
    let port = smtp.port;
    drop(smtp);
    let out = net.sentry(&["--all"]);
    assert!(out.contains("  alpha is down: "), "{out}");
    let warning = out
        .lines()
        .find(|l| l.starts_with("warning: mail not sent: "))
        .unwrap_or_else(|| panic!("no mail warning in {out}"));
    assert!(
        warning.contains(&format!("127.0.0.1:{port}")) && warning.contains("mail.port"),
        "{warning}"
    );
    assert!(net.health()["alpha"].starts_with("down: "));
}

/// The login bouncer uses with the TLS test servers.
const SMTP_USER: &str = "bouncer@b.example";
const SMTP_PASSWORD: &str = "correct horse";

/// A fresh database whose mail goes to `smtp` secured as `tls` (`starttls`
/// or `tls`), logging in as [`SMTP_USER`]; and the PEM file of `trusted`
/// (the CA the binary is told to trust) written beside it.
fn mail_over_tls(smtp: &Smtp, tls: &str, trusted: &Ca) -> (Env, PathBuf) {
    let env = Env::new();
    let ca_file = env
        .db
        .parent()
        .expect("the database's directory")
        .join("trusted-ca.pem");
    std::fs::write(&ca_file, &trusted.pem).expect("write the CA's PEM");
    let port = smtp.port.to_string();
    env.ok(&[
        "mail",
        "set",
        "--host",
        "127.0.0.1",
        "--port",
        &port,
        "--tls",
        tls,
        "--user",
        SMTP_USER,
        "--from",
        "a@b.example",
        "--to",
        "ops@b.example",
    ]);
    (env, ca_file)
}

/// `bouncer mail test` trusting only the CAs in `ca_file` (`SSL_CERT_FILE`
/// on the child, `SSL_CERT_DIR` removed), with `password` in
/// `BOUNCER_SMTP_PASSWORD`.
fn mail_test_trusting(env: &Env, ca_file: &Path, password: &str) -> crate::common::Out {
    env.run_env(
        &["mail", "test"],
        &[
            ("SSL_CERT_FILE", Some(ca_file.as_os_str())),
            ("SSL_CERT_DIR", None),
            ("BOUNCER_SMTP_PASSWORD", Some(OsStr::new(password))),
        ],
    )
}

/// A submission server with a certificate from `ca` that offers AUTH
/// (for the test user) only after STARTTLS.
fn starttls_server(ca: &Ca) -> Smtp {
    Smtp::start_with(
        Security::StartTls(ca.server_config()),
        Some(Login::new(SMTP_USER, SMTP_PASSWORD)),
    )
}

/// Submission on a server that offers AUTH only after STARTTLS: the
/// binary upgrades, logs in with `mail.user` and `BOUNCER_SMTP_PASSWORD`,
/// and the message arrives.
#[test]
fn mail_over_starttls_logs_in_and_is_delivered() {
    let ca = Ca::new("Bouncer test mail CA");
    let smtp = starttls_server(&ca);
    let (env, ca_file) = mail_over_tls(&smtp, "starttls", &ca);
    let out = mail_test_trusting(&env, &ca_file, SMTP_PASSWORD);
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(out.stdout, "sent a test message to ops@b.example\n");
    let mail = smtp.next();
    assert!(mail.tls, "{mail:#?}");
    assert_eq!(mail.login, Some((SMTP_USER.to_string(), "PLAIN")));
    assert_eq!(mail.to, vec!["ops@b.example"]);
    assert_eq!(mail.subject(), "[bouncer] test message");
    assert_no_mail(&smtp);
}

/// SMTPS (TLS from the first byte) on a server that only takes AUTH LOGIN.
#[test]
fn mail_over_implicit_tls_logs_in_and_is_delivered() {
    let ca = Ca::new("Bouncer test mail CA");
    let login = Login {
        mechanisms: vec!["LOGIN"],
        ..Login::new(SMTP_USER, SMTP_PASSWORD)
    };
    let smtp = Smtp::start_with(Security::Tls(ca.server_config()), Some(login));
    let (env, ca_file) = mail_over_tls(&smtp, "tls", &ca);
    let out = mail_test_trusting(&env, &ca_file, SMTP_PASSWORD);
    assert_eq!(out.code, 0, "{out:?}");
    let mail = smtp.next();
    assert!(mail.tls, "{mail:#?}");
    assert_eq!(mail.login, Some((SMTP_USER.to_string(), "LOGIN")));
    assert!(mail.data.contains("Mail works."), "{mail:#?}");
    assert_no_mail(&smtp);
}

/// A refused login (535) tells the operator which two settings to check.
#[test]
fn a_wrong_smtp_password_names_the_settings_to_check() {
    let ca = Ca::new("Bouncer test mail CA");
    let smtp = starttls_server(&ca);
    let (env, ca_file) = mail_over_tls(&smtp, "starttls", &ca);
    let out = mail_test_trusting(&env, &ca_file, "wrong horse");
    assert_eq!(out.code, 1, "{out:?}");
    for words in [
        "535",
        "refused the login",
        "mail.user",
        "BOUNCER_SMTP_PASSWORD",
    ] {
        assert!(out.stderr.contains(words), "{words:?} in {out:?}");
    }
    assert_no_mail(&smtp);
}

/// A server whose certificate comes from a CA the binary does not trust
/// gets nothing, in either TLS mode, and the operator is told TLS failed
/// on the certificate.
#[test]
fn an_smtp_server_with_an_untrusted_certificate_is_refused() {
    let ca = Ca::new("Bouncer test mail CA");
    let stranger = Ca::new("Some other CA");
    for (tls, security) in [
        ("starttls", Security::StartTls(ca.server_config())),
        ("tls", Security::Tls(ca.server_config())),
    ] {
        let smtp = Smtp::start_with(security, Some(Login::new(SMTP_USER, SMTP_PASSWORD)));
        let (env, stranger_file) = mail_over_tls(&smtp, tls, &stranger);
        let out = mail_test_trusting(&env, &stranger_file, SMTP_PASSWORD);
        assert_eq!(out.code, 1, "{tls}: {out:?}");
        for words in ["certificate", "TLS failed"] {
            assert!(out.stderr.contains(words), "{tls}: {words:?} in {out:?}");
        }
        assert_no_mail(&smtp);
    }
}

#[test]
fn reports_name_every_failure_and_the_index_lists_the_runs() {
    let net = fx_with(&[
        ("good", Behaviour::Healthy),
        ("broken", Behaviour::Broken),
        ("slow", Behaviour::Slow),
        (
            "partial",
            Behaviour::Missing(paths_where(|os, lang| os == "win" && lang == "de")),
        ),
    ]);
    let dir = tempfile::tempdir().unwrap();
    let reports = dir.path().join("sentry reports");
    let reports_arg = reports.to_str().unwrap();
    let out = net.sentry(&["--all", "--reports-dir", reports_arg]);
    // Two of four mirrors down is no majority: no alarm.
    assert!(!out.contains("ALARM"), "{out}");
    assert!(out.contains("  broken is down: "), "{out}");
    assert!(out.contains("  slow is down: "), "{out}");
    let first = reports.join("run-000001.html");
    assert_eq!(report_path(&out), first.display().to_string());
    let html = read(&first);
    assert!(html.contains("Sentry run 1 (all)"), "{html}");
    for name in ["good", "broken", "slow", "partial"] {
        assert!(html.contains(&format!("<td>{name}</td>")), "{name}: {html}");
    }
    assert!(html.contains("500 Internal Server Error"), "{html}");
    assert!(html.contains("timed out"), "{html}");
    assert!(html.contains("404 Not Found"), "{html}");
    assert!(html.contains(&path("win", "de")), "{html}");
    let index = read(reports.join("index.html"));
    assert!(index.contains("href=\"run-000001.html\""), "{index}");

    let out = net.sentry(&["--spot", "--reports-dir", reports_arg]);
    assert!(out.starts_with("sentry run 2 (spot): "), "{out}");
    assert!(reports.join("run-000002.html").is_file());
    let index = read(reports.join("index.html"));
    for run in ["run-000001.html", "run-000002.html"] {
        assert!(index.contains(&format!("href=\"{run}\"")), "{index}");
    }

    // Without --reports-dir, reports go beside the database.
    let out = net.sentry(&["--all"]);
    let beside = net.env.db.parent().unwrap().join("reports");
    assert_eq!(
        report_path(&out),
        beside.join("run-000003.html").display().to_string()
    );
    assert!(read(beside.join("index.html")).contains("href=\"run-000003.html\""));
}

#[test]
fn while_serving_a_new_mirror_or_location_is_checked_promptly() {
    let mut net = fx_net();
    let server = net
        .env
        .serve_with_sentry_on_demand(&["--check-timeout", CHECK_TIMEOUT]);
    // Added through the control socket.
    net.add("fresh", Behaviour::Healthy, &[]);
    wait_until(&server, "the new mirror serves", || {
        net.pick(&server, "win", "en-US").as_deref() == Some("fresh")
    });
    assert_eq!(net.health()["fresh"], "up");

    let (os, template) = LATE;
    net.env.ok(&["location", "add", PRODUCT, os, template]);
    wait_until(&server, "the new location is taken up", || {
        net.uptake(os) == Some((100, 100))
    });
    assert_eq!(net.pick(&server, os, "fr").as_deref(), Some("fresh"));
}

/// SPEC: a product added while serving is bounceable within 10 seconds:
/// sentry checks its new files at once, without a manual `status set`.
#[test]
fn while_serving_a_new_product_is_bounceable_within_ten_seconds() {
    let net = fx_healthy(&["alpha"]);
    let server = net
        .env
        .serve_with_sentry_on_demand(&["--check-timeout", CHECK_TIMEOUT]);
    // The start-up run has checked alpha: fx is served.
    wait_until(&server, "fx is served", || {
        net.pick(&server, "win", "de").as_deref() == Some("alpha")
    });
    // Through the control socket; the mirror already has the files.
    let (_, template) = LATE;
    let added = std::time::Instant::now();
    net.env.ok(&["product", "add", "nb", "--lang", "de"]);
    net.env.ok(&["location", "add", "nb", "win", template]);
    let target = "/?product=nb&os=win&lang=de";
    let served = crate::common::poll(Duration::from_secs(10), Duration::from_millis(50), || {
        let r = server.get(target);
        (r.status == 302).then_some(r)
    });
    let r = served.unwrap_or_else(|| {
        panic!(
            "{target} was not bounced within 10 s of being added; the server said:\n{}",
            server.log()
        )
    });
    assert_eq!(
        r.location(),
        format!("{}{}", net.mirror("alpha").url, path("osx", "de"))
    );
    eprintln!("new product bounceable after {:?}", added.elapsed());
}

/// While serving, `bouncer sentry` (whatever its tuning flags) reports into
/// the server's reports directory, where the index of runs links to it.
#[test]
fn while_serving_cli_runs_report_into_the_servers_directory() {
    let net = fx_healthy(&["alpha", "bravo"]);
    let dir = tempfile::tempdir().unwrap();
    let reports = dir.path().join("served reports");
    let server = net
        .env
        .serve_with_sentry_on_demand(&["--reports-dir", reports.to_str().unwrap()]);
    // The start-up run of never-checked mirrors.
    wait_until(&server, "the first run's report", || {
        reports.join("run-000001.html").is_file()
    });

    let out = net.env.ok(&["sentry", "--all"]);
    assert_eq!(
        report_path(&out),
        reports.join("run-000002.html").display().to_string()
    );
    let out = net.sentry(&["--all"]);
    assert_eq!(
        report_path(&out),
        reports.join("run-000003.html").display().to_string(),
        "a run with --timeout reported elsewhere"
    );
    let index = read(reports.join("index.html"));
    for run in 1..=3 {
        let file = format!("run-{run:06}.html");
        assert!(index.contains(&format!("href=\"{file}\"")), "{index}");
        assert!(reports.join(&file).is_file(), "{file} is missing");
    }
}

#[test]
fn while_serving_scheduled_checks_take_a_broken_mirror_out_and_back() {
    let net = fx_healthy(&["alpha", "bravo", "charlie"]);
    let server = net.env.serve_with_sentry(&[
        "--spot-every",
        "1",
        "--all-every",
        "0",
        "--hashes-every",
        "0",
        "--check-timeout",
        CHECK_TIMEOUT,
    ]);
    let everyone = set(&["alpha", "bravo", "charlie"]);
    // Never-checked mirrors are checked at start.
    wait_until(&server, "every mirror serves", || {
        net.listed().values().all(|l| l.serves == 2)
    });
    assert_eq!(net.served(&server, "win", "de"), everyone);

    net.mirror("alpha").set(Behaviour::Broken);
    wait_until(&server, "a spot check finds alpha broken", || {
        net.health()["alpha"].starts_with("down: ")
    });
    assert_eq!(net.served(&server, "win", "de"), set(&["bravo", "charlie"]));

    net.mirror("alpha").set(Behaviour::Healthy);
    wait_until(&server, "a spot check finds alpha repaired", || {
        net.health()["alpha"] == "up"
    });
    assert_eq!(net.served(&server, "win", "de"), everyone);
}

#[test]
fn a_flapping_mirror_is_damped_and_reported() {
    let net = fx_healthy(&["steady", "flaky"]);
    net.sentry(&["--all"]);
    let mut out = String::new();
    for behaviour in [
        Behaviour::Broken,
        Behaviour::Healthy,
        Behaviour::Broken,
        Behaviour::Healthy,
    ] {
        net.mirror("flaky").set(behaviour);
        out = net.sentry(&["--all"]);
    }
    assert!(out.contains("  flaky is back\n"), "{out}");
    let report = read(report_path(&out));
    assert!(report.contains("(flapping: damped)"), "{report}");

    // Four changes within hours: a quarter of its rating (25 against 100).
    let server = net.env.serve(&[]);
    let picks = net.picks(&server, "win", "de", 400);
    let flaky = picks.get("flaky").copied().unwrap_or(0);
    assert!((1..140).contains(&flaky), "{picks:?}");
}

#[test]
fn one_mirror_or_only_what_is_new_can_be_checked() {
    let net = fx_healthy(&["alpha", "bravo"]);
    let out = net.sentry(&["--mirror", "alpha"]);
    assert!(out.starts_with("sentry run 1 (all (alpha)): "), "{out}");
    assert!(
        out.contains(" checks, 0 failures, 0 status changes\n"),
        "{out}"
    );
    // The base URL, and three or four languages of each location.
    let alpha = checks(&out);
    assert!([7, 8, 9].contains(&alpha), "{out}");
    assert_eq!(net.mirror("alpha").requests(), alpha);
    assert_eq!(net.mirror("bravo").requests(), 0);
    let health = net.health();
    assert_eq!(
        (health["alpha"].as_str(), health["bravo"].as_str()),
        ("up", "unchecked")
    );

    let out = net.env.run(&["sentry", "--mirror", "nobody"]);
    assert_eq!(out.code, 1, "{out:?}");
    assert!(out.stderr.contains("nobody"), "{out:?}");
    let out = net.env.run(&["sentry", "--all", "--new"]);
    assert_eq!(out.code, 1, "{out:?}");
    assert!(out.stderr.contains("choose one"), "{out:?}");

    // A one-mirror run is no full check: the new product stays flagged, so
    // `--new` checks it on every mirror, the never-checked one included.
    let out = net.sentry(&["--new"]);
    assert!(out.starts_with("sentry run 2 (new): "), "{out}");
    assert_eq!(
        net.mirror("alpha").requests() + net.mirror("bravo").requests(),
        alpha + checks(&out)
    );
    assert!(net.mirror("alpha").requests() > alpha);
    assert!(net.mirror("bravo").requests() > 0);
    assert_eq!(net.health()["bravo"], "up");
    assert_eq!(net.sentry(&["--new"]), "sentry new: nothing to check\n");
    let (alpha, bravo) = (
        net.mirror("alpha").requests(),
        net.mirror("bravo").requests(),
    );
    assert_eq!(
        net.mirror("alpha").requests() + net.mirror("bravo").requests(),
        alpha + bravo
    );

    // A new location: only it (and each mirror's base URL).
    let (os, template) = LATE;
    net.env.ok(&["location", "add", PRODUCT, os, template]);
    let out = net.sentry(&["--new"]);
    assert!(out.starts_with("sentry run 3 (new): "), "{out}");
    // Base URL plus three or four sampled languages, on each mirror.
    let n = checks(&out);
    assert!((8..=10).contains(&n), "{out}");
    assert_eq!(net.uptake(os), Some((200, 200)));
    assert_eq!(net.sentry(&["--new"]), "sentry new: nothing to check\n");

    // A product flagged checknow is checked again, once.
    net.env
        .ok(&["product", "set", PRODUCT, "--checknow", "true"]);
    let out = net.sentry(&["--new"]);
    assert!(out.starts_with("sentry run 4 (new): "), "{out}");
    assert!(checks(&out) > n, "{out}");
    assert_eq!(net.sentry(&["--new"]), "sentry new: nothing to check\n");
}

/// SPEC §3 politeness: a clear User-Agent, the base URL first, one redirect followed at most; a mirror
/// refusing HEAD is asked for one byte with a ranged GET.
#[test]
fn checks_are_polite() {
    let net = fx_with(&[
        ("one", Behaviour::Healthy),
        ("loop", Behaviour::RedirectLoop),
        ("head405", Behaviour::HeadRefused),
    ]);
    net.sentry(&["--all"]);
    net.sentry(&["--all"]);
    for (name, mirror) in &net.mirrors {
        let seen = mirror.seen();
        assert_eq!(seen[0].path, "/", "{name}: {seen:#?}");
        for s in &seen {
            let ua = s.user_agent.as_deref().unwrap_or("");
            assert!(ua.starts_with("Bouncer-Sentry/"), "{name}: {s:?}");
        }
    }
    // Every file was asked for once, then once more after its redirect.
    let mut per_path: BTreeMap<String, usize> = BTreeMap::new();
    for s in net.mirror("loop").seen().iter().filter(|s| s.path != "/") {
        *per_path.entry(s.path.clone()).or_default() += 1;
    }
    assert!(!per_path.is_empty());
    for (path, n) in &per_path {
        assert_eq!(n % 2, 0, "{path} asked for {n} times");
    }
    let seen = net.mirror("head405").seen();
    assert!(
        seen.iter().any(|s| s.method == "HEAD" && s.path != "/"),
        "head405 was never asked for a file with HEAD: {seen:#?}"
    );
    for (i, s) in seen.iter().enumerate().filter(|(_, s)| s.method == "HEAD") {
        let next = seen
            .iter()
            .skip(i + 1)
            .find(|n| n.path == s.path)
            .unwrap_or_else(|| panic!("no GET after the refused HEAD of {}", s.path));
        assert_eq!(next.method, "GET", "{seen:#?}");
        assert_eq!(next.range.as_deref(), Some("bytes=0-0"), "{seen:#?}");
    }
}

#[test]
fn checks_on_one_mirror_stay_within_per_mirror() {
    // Answers wait until two checks of the mirror meet: two in flight is an
    // event the checker must make happen, not a timing accident.
    let gathering = Behaviour::Gathering(2);
    let net = fx_with(&[("one", gathering.clone()), ("two", gathering)]);
    net.sentry(&["--all", "--per-mirror", "2", "--threads", "16"]);
    for (name, mirror) in &net.mirrors {
        // Two at once (so a third would have shown), never three.
        assert_eq!(mirror.max_in_flight(), 2, "{name}");
    }
}

/// SPEC §3: `--new` checks new files. A language added to a product makes
/// new files on every location; a mirror lacking them must not get their
/// traffic until a full run hours later.
#[test]
fn a_language_added_to_a_product_is_checked_as_new() {
    let lagging: Vec<String> = LOCATIONS
        .iter()
        .map(|(os, _)| path(os, LATE_LANG))
        .collect();
    let net = fx_with(&[
        ("good", Behaviour::Healthy),
        ("lagging", Behaviour::Missing(lagging)),
    ]);
    net.sentry(&["--all"]);
    assert_eq!(net.listed()["lagging"].serves, 2);

    net.env
        .ok(&["product", "set", PRODUCT, "--add-lang", LATE_LANG]);
    let out = net.sentry(&["--new"]);
    assert_ne!(
        out, "sentry new: nothing to check\n",
        "the new files went unchecked"
    );
    assert_eq!(net.listed()["lagging"].serves, 0, "{out}");
    assert_eq!(net.listed()["good"].serves, 2, "{out}");
}

/// Regression: `--new` treated a location as checked once any one mirror
/// had a result for it, so a location checked only by a `--mirror` run was
/// never checked on the other mirrors.
#[test]
fn a_location_checked_on_one_mirror_is_still_new_on_the_others() {
    let net = fx_healthy(&["alpha", "bravo"]);
    net.sentry(&["--all"]);
    let (os, template) = LATE;
    net.env.ok(&["location", "add", PRODUCT, os, template]);
    net.sentry(&["--new", "--mirror", "alpha"]);
    assert_eq!(net.uptake(os), Some((100, 200)));
    let out = net.sentry(&["--new"]);
    assert!(out.starts_with("sentry run 3 (new): "), "{out}");
    assert_eq!(net.uptake(os), Some((200, 200)));
}

/// A stand-in for the Internet: an HTTP proxy (CONNECT, as ureq speaks
/// it) through which every request for any host is answered with a
/// redirect to `redirect_to`. It records each request line it sees.
struct RedirectingProxy {
    port: u16,
    seen: Arc<std::sync::Mutex<Vec<String>>>,
}

impl RedirectingProxy {
    fn start(redirect_to: String) -> RedirectingProxy {
        use std::io::{BufRead, BufReader, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind the proxy");
        let port = listener.local_addr().unwrap().port();
        let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
        let log = seen.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
                let log = log.clone();
                let redirect_to = redirect_to.clone();
                std::thread::spawn(move || {
                    let mut reader = BufReader::new(stream.try_clone().unwrap());
                    let mut writer = stream;
                    // The head of one request: its first line.
                    let mut head = || -> Option<String> {
                        let mut first = String::new();
                        reader.read_line(&mut first).ok()?;
                        loop {
                            let mut line = String::new();
                            if reader.read_line(&mut line).ok()? == 0 || line.trim().is_empty() {
                                break;
                            }
                        }
                        (!first.is_empty()).then(|| first.trim().to_string())
                    };
                    let Some(first) = head() else { return };
                    log.lock().unwrap().push(first.clone());
                    if first.starts_with("CONNECT ") {
                        let _ = writer.write_all(b"HTTP/1.1 200 Connection established\r\n\r\n");
                        let Some(inner) = head() else { return };
                        log.lock().unwrap().push(format!("  {inner}"));
                    }
                    let _ = writer.write_all(
                        format!(
                            "HTTP/1.1 302 Found\r\nLocation: {redirect_to}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                        )
                        .as_bytes(),
                    );
                });
            }
        });
        RedirectingProxy { port, seen }
    }

    fn seen(&self) -> Vec<String> {
        self.seen.lock().unwrap().clone()
    }
}

/// Issue 15: a mirror cannot make sentry probe an internal network. A
/// mirror "on the Internet" (reached through a proxy, as a public host
/// would be) that redirects to 127.0.0.1 is not followed there, and the
/// report says why.
#[test]
fn a_redirect_from_a_public_mirror_to_an_internal_address_is_not_followed() {
    let secret = Mirror::start(&Files::default(), Behaviour::Healthy);
    let proxy = RedirectingProxy::start(format!("{}/secret", secret.url));
    let env = Env::new();
    env.setup(&[
        "product add p",
        "location add p win /p/setup.exe",
        "mirror add remote http://mirror.example/pub",
    ]);
    let proxy_url = format!("http://127.0.0.1:{}", proxy.port);
    let out = env.run_env(
        &["sentry", "--all", "--timeout", "5"],
        &[
            ("HTTP_PROXY", Some(std::ffi::OsStr::new(&proxy_url))),
            ("http_proxy", Some(std::ffi::OsStr::new(&proxy_url))),
            ("ALL_PROXY", None),
            ("NO_PROXY", None),
            ("no_proxy", None),
        ],
    );
    assert_eq!(out.code, 0, "{out:?}");
    let seen = proxy.seen();
    // The mirror was asked, through the proxy…
    assert!(
        seen.iter().any(|l| l.contains("mirror.example")),
        "the proxy saw {seen:?}"
    );
    // …and its redirect to 127.0.0.1 was not followed.
    assert!(
        !seen.iter().any(|l| l.contains("127.0.0.1")),
        "sentry followed the redirect: {seen:?}"
    );
    assert_eq!(secret.requests(), 0, "the internal server was probed");
    let report = read(report_path(&out.stdout));
    assert!(
        report.contains("redirect to an internal address refused"),
        "{report}"
    );
    assert!(report.contains("not followed"), "{report}");
}
