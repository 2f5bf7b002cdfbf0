//! Every example `bouncer demo` prints and every example in README.md runs
//! here against a real demo, and must give the answer it states. The
//! examples are parsed from the demo's output and from the README, so a new
//! one is tested without a change here; the README lines that cannot run
//! against the demo are listed below ([`NOT_RUNNABLE`]), each with its
//! reason, so none is skipped silently. Also: the demo's temporary files
//! go when it stops, and its usage lines list every option it takes.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::time::Duration;

use crate::common::{self, Out, Response, form_urlencode, http_body, poll, split_url, try_http};

/// The binary under test.
const BIN: &str = env!("CARGO_BIN_EXE_bouncer");
/// The demo writes and hashes its files and runs a full sentry pass
/// before it serves.
const START_TIMEOUT: Duration = Duration::from_secs(60);
/// How long a command or the demo's shutdown may take.
const EXIT_TIMEOUT: Duration = Duration::from_secs(30);
/// Redirects followed at most, as a client would.
const MAX_HOPS: usize = 10;

/// README examples deliberately not run against the demo, each with the
/// reason: an inline code span or a code-block line, exactly as written
/// (continuation lines joined with one space). Every entry must still be
/// in the README, so the list cannot go stale.
const NOT_RUNNABLE: &[(&str, &str)] = &[
    (
        "cargo run --release -- demo",
        "starts the demo, which this test runs from the same binary (`bouncer demo`)",
    ),
    (".ci/run", "runs all of CI, this test included"),
    (
        "createdb bouncer                                   # once, on your PostgreSQL server (15 or newer)",
        "PostgreSQL's own tool, run on the database server",
    ),
    (
        "export BOUNCER_DB='postgres://bouncer:SECRET@db.example.org/bouncer?sslmode=require'",
        "names a database on another machine",
    ),
    (
        "bouncer copy --from bouncer.redb --to \"$BOUNCER_DB\"   # an existing network, with its ids, counts and log",
        "needs a PostgreSQL server; tests/nodes.rs and tests/copy.rs run the same against a throwaway one",
    ),
    (
        "bouncer serve --listen 0.0.0.0:8080                # on node A",
        "needs a PostgreSQL server; tests/nodes.rs and tests/copy.rs run the same against a throwaway one",
    ),
    (
        "bouncer serve --listen 0.0.0.0:8080                # on node B, and so on",
        "needs a PostgreSQL server; tests/nodes.rs and tests/copy.rs run the same against a throwaway one",
    ),
    (
        "bouncer copy --from \"$BOUNCER_DB\" --to snapshot.redb",
        "needs a PostgreSQL server; tests/nodes.rs and tests/copy.rs run the same against a throwaway one",
    ),
    (
        "bouncer serve",
        "names the command in prose; the demo is the server here, and serve's usage line is checked",
    ),
    (
        "bouncer load",
        "names the command in prose; its usage line is checked",
    ),
    (
        "bouncer backup",
        "names the command in prose; its usage line is checked",
    ),
    (
        "bouncer geoip import",
        "names the command in prose; its usage line is checked",
    ),
    (
        "bouncer serve --listen 0.0.0.0:80 --tls-listen 0.0.0.0:443 --tls-cert /etc/bouncer/fullchain.pem --tls-key /etc/bouncer/privkey.pem",
        "needs a real certificate and ports 80 and 443; tests/https.rs serves the same from certificate files",
    ),
    (
        "bouncer serve --listen 0.0.0.0:80 --tls-listen 0.0.0.0:443 --acme download.example.org --acme-contact ops@example.org",
        "needs a public name and Let's Encrypt; tests/acme.rs does the same against a real ACME server (pebble)",
    ),
    (
        "bouncer demo --tls",
        "starts a second demo; tests/https.rs runs it and every example it prints, with curl",
    ),
    ("https://", "a URL scheme, not a URL"),
    ("/var/lib/bouncer", "a directory on a server, not a URL"),
    ("/files/…", "a placeholder for any file's path"),
    ("/files/<path>", "a placeholder for any file's path"),
    ("GET /files/<path>", "a placeholder for any file's path"),
    (
        "GET /?product=P&os=O&lang=L[&print=yes]",
        "the endpoint's form, with placeholders P, O and L",
    ),
    (
        "/api/",
        "the API's prefix: its endpoints (`/api/product_show`, …) are named without it and tested in tests/api.rs",
    ),
];

/// README code blocks that are not examples at all, by the start of their
/// first line, with the reason.
const NOT_RUNNABLE_BLOCKS: &[(&str, &str)] = &[
    ("src/main.rs", "the map of the source tree"),
    (
        "cargo bench --bench index",
        "benchmarks and load tests that run for minutes (`cargo bench`, `cargo run --example`)",
    ),
    (
        "rustup target add",
        "release build steps: they install a toolchain and packages",
    ),
    (
        RELEASE_BLOCK,
        "needs a release's checksum file and a mirror with its files: \
         the_readme_release_example_runs_end_to_end runs it against generated ones",
    ),
];

/// The start of the README's block that loads a whole release.
const RELEASE_BLOCK: &str = "bouncer load SHA256SUMS --product firefox-120.0";

// ---------------------------------------------------------------------------
// The demo's own examples

#[test]
fn every_example_the_demo_prints_gives_the_answer_it_states() {
    let demo = Demo::start();
    let guide = Guide::parse(&demo.guide);
    assert!(
        guide.mirrors.len() >= 2 && guide.curls.len() >= 5 && !guide.commands.is_empty(),
        "the guide's examples were not found:\n{}",
        demo.guide
    );
    let mut report = Report::default();
    for (name, (url, down)) in &guide.mirrors {
        let line = format!("mirror {name}: {url}");
        report.check(&line, check_mirror(url, *down));
    }
    for line in &guide.curls {
        report.check(line, run_curl(line, &demo.base(), &guide.mirrors));
    }
    for line in &guide.commands {
        report.check(line, run_printed_command(line));
    }
    for url in &guide.urls {
        report.check(url, get_followed(url).and_then(succeeded));
    }
    match &guide.admin {
        Some((url, user, password)) => {
            report.check("admin login", log_in(url, user, password));
        }
        None => report.fail("admin login", "the guide names no admin user and password"),
    }
    report.finish("the demo's examples", &demo);
}

/// The demo's guide, taken apart.
struct Guide {
    /// Each mirror's base URL and whether the guide calls it down.
    mirrors: BTreeMap<String, (String, bool)>,
    /// `curl` lines, with their `# answer` comments.
    curls: Vec<String>,
    /// `bouncer …` command lines.
    commands: Vec<String>,
    /// Every other URL the guide shows (pages).
    urls: Vec<String>,
    /// The admin pages' URL, user and password.
    admin: Option<(String, String, String)>,
}

impl Guide {
    fn parse(text: &str) -> Guide {
        let mut guide = Guide {
            mirrors: BTreeMap::new(),
            curls: Vec::new(),
            commands: Vec::new(),
            urls: Vec::new(),
            admin: None,
        };
        // What comes before is sentry's report of its first run.
        let start = text
            .find("Bouncer demo network\n")
            .unwrap_or_else(|| panic!("no guide in the demo's output:\n{text}"));
        for line in text[start..].lines().map(str::trim) {
            if let Some(rest) = line.strip_prefix("mirror ")
                && let Some((name, url)) = rest.split_once(": ")
            {
                let (url, down) = match url.split_once("  (down)") {
                    Some((url, _)) => (url, true),
                    None => (url, false),
                };
                guide
                    .mirrors
                    .insert(name.to_string(), (url.trim().to_string(), down));
            } else if line.starts_with("curl ") {
                guide.curls.push(line.to_string());
            } else if shell_words(line).0.first().is_some_and(|w| is_bouncer(w)) {
                guide.commands.push(line.to_string());
            } else {
                if let Some(rest) = line.strip_prefix("Admin pages: ") {
                    let url = rest.split_whitespace().next().unwrap_or("").to_string();
                    let credentials = rest
                        .split_once("(user ")
                        .and_then(|(_, r)| r.strip_suffix(')'))
                        .and_then(|r| r.split_once(", password "));
                    if let Some((user, password)) = credentials {
                        guide.admin = Some((url, user.to_string(), password.to_string()));
                    }
                }
                guide.urls.extend(urls_in(line));
            }
        }
        guide
    }
}

/// Whether `word` runs the binary under test.
fn is_bouncer(word: &str) -> bool {
    let canonical = |p: &str| std::fs::canonicalize(p).ok();
    canonical(word).is_some_and(|w| Some(w) == canonical(BIN))
}

/// The `http://` URLs in `text`.
fn urls_in(text: &str) -> Vec<String> {
    text.match_indices("http://")
        .map(|(i, _)| {
            text[i..]
                .split(|c: char| c.is_whitespace() || c == '\'' || c == '"' || c == ')')
                .next()
                .unwrap_or("")
                .to_string()
        })
        .collect()
}

/// An up mirror answers HTTP at its base URL; a down one refuses.
fn check_mirror(url: &str, down: bool) -> Result<(), String> {
    let (port, _) = split_url(url)?;
    match (TcpStream::connect(("127.0.0.1", port)), down) {
        (Ok(_), true) => Err("said to be down, but it accepts connections".into()),
        (Err(_), true) => Ok(()),
        (Ok(_), false) => try_http(port, "GET", "/", &[])
            .map(|_| ())
            .map_err(|e| format!("does not answer HTTP: {e}")),
        (Err(e), false) => Err(format!("said to be up, but: {e}")),
    }
}

/// Runs a `bouncer …` line the guide printed, as printed: it must succeed
/// and print something.
fn run_printed_command(line: &str) -> Result<(), String> {
    let (words, _) = shell_words(line);
    let (program, args) = words.split_first().ok_or("an empty command")?;
    let out = run_bounded(Command::new(program).args(args))?;
    if out.code != 0 || out.stdout.is_empty() {
        return Err(format!(
            "exited {}: {:?} {:?}",
            out.code, out.stdout, out.stderr
        ));
    }
    Ok(())
}

/// Logs in on the admin pages with the printed user and password, and
/// opens the printed URL with the session.
fn log_in(url: &str, user: &str, password: &str) -> Result<(), String> {
    let (port, _) = split_url(url)?;
    let page = try_http(port, "GET", "/admin/login", &[]).map_err(|e| e.to_string())?;
    let mut jar: Vec<String> = cookies(&page);
    let csrf = input_value(&page.body, "csrf").ok_or("the login page has no CSRF token")?;
    let cookie = jar.join("; ");
    let body = form_urlencode(&[
        ("csrf", &csrf),
        ("next", "/admin/"),
        ("user", user),
        ("password", password),
    ]);
    let answer = http_body(
        port,
        "POST",
        "/admin/login",
        &[
            ("Cookie", &cookie),
            ("Content-Type", "application/x-www-form-urlencoded"),
        ],
        body.as_bytes(),
    );
    if answer.status != 303
        || !cookies(&answer)
            .iter()
            .any(|c| c.starts_with("bouncer_session="))
    {
        return Err(format!("the login was refused: {answer:?}"));
    }
    jar.extend(cookies(&answer));
    let (_, target) = split_url(url)?;
    let page = try_http(port, "GET", &target, &[("Cookie", &jar.join("; "))])
        .map_err(|e| e.to_string())?;
    if page.status != 200 {
        return Err(format!("{url} with the session: {page:?}"));
    }
    Ok(())
}

/// `name=value` of every cookie `r` sets.
fn cookies(r: &Response) -> Vec<String> {
    r.set_cookies()
        .iter()
        .filter_map(|c| c.split(';').next())
        .map(|c| c.trim().to_string())
        .collect()
}

fn input_value(html: &str, name: &str) -> Option<String> {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html.find(&marker)? + marker.len();
    let len = html[start..].find('"')?;
    Some(html[start..start + len].to_string())
}

// ---------------------------------------------------------------------------
// The README's examples

#[test]
fn every_readme_example_runs_against_the_demo() {
    let readme = Readme::read();
    let demo = Demo::start();
    let guide = Guide::parse(&demo.guide);
    let db = guide_database(&demo.guide);
    let mut report = Report::default();
    let mut skipped = Vec::new();
    let mut ran = 0;
    for block in &readme.blocks {
        let first = block.first().map_or("", String::as_str);
        if first.starts_with("GET ") {
            ran += 1;
            report.check(first, run_exchange(block, &demo.base(), &guide.mirrors));
            continue;
        }
        if let Some((prefix, _)) = NOT_RUNNABLE_BLOCKS
            .iter()
            .find(|(prefix, _)| first.starts_with(prefix))
        {
            skipped.push(*prefix);
            continue;
        }
        for line in logical_lines(block) {
            ran += run_readme_example(&line, &demo, &guide, &db, &mut report, &mut skipped);
        }
    }
    for span in &readme.spans {
        let candidate = ["bouncer ", "curl ", "GET ", "/", "http://", "https://"]
            .iter()
            .any(|p| span.starts_with(p));
        if candidate {
            ran += run_readme_example(span, &demo, &guide, &db, &mut report, &mut skipped);
        }
    }
    // The list of exceptions stays true: each is still in the README.
    for (text, _) in NOT_RUNNABLE.iter().chain(NOT_RUNNABLE_BLOCKS) {
        if !skipped.contains(text) {
            report.fail(
                text,
                "listed as not runnable, but no longer in the README: drop it",
            );
        }
    }
    assert!(ran >= 10, "only {ran} README examples were found");
    report.finish("the README's examples", &demo);
}

/// The README's Firefox release example, line by line: `bouncer load`
/// (dry run, then for real) on a generated `SHA256SUMS` beside real files
/// on a real mirror, `bouncer sentry --new` checking them there, then each
/// `curl` (its URL asked of a server on the database) must redirect to
/// the mirror for a file it has.
#[test]
fn the_readme_release_example_runs_end_to_end() {
    use crate::common::mirror::{Behaviour, Mirror};
    let readme = Readme::read();
    let block = readme
        .blocks
        .iter()
        .find(|b| b.first().is_some_and(|l| l.starts_with(RELEASE_BLOCK)))
        .expect("the README's release example");
    // The release: installers, MSIs, updates; signatures and KEY beside.
    const PREFIX: &str = "/pub/firefox/releases/120.0";
    let mut listed: Vec<String> = vec!["KEY".into()];
    for (platform, installers) in [
        (
            "win64",
            &["Firefox Setup 120.0.exe", "Firefox Setup 120.0.msi"][..],
        ),
        ("mac", &["Firefox 120.0.dmg"][..]),
        (
            "linux-x86_64",
            &["firefox-120.0.tar.bz2", "firefox-120.0.tar.bz2.asc"][..],
        ),
    ] {
        let langs: &[&str] = if platform == "mac" {
            &["de", "en-US", "ja-JP-mac"]
        } else {
            &["de", "en-US", "ja"]
        };
        for lang in langs {
            listed.extend(installers.iter().map(|i| format!("{platform}/{lang}/{i}")));
            listed.push(format!(
                "update/{platform}/{lang}/firefox-120.0.complete.mar"
            ));
            for from in ["118.0", "119.0"] {
                listed.push(format!(
                    "update/{platform}/{lang}/firefox-{from}-120.0.partial.mar"
                ));
            }
        }
    }
    let encoded = |p: &str| format!("{PREFIX}/{}", p.replace(' ', "%20"));
    let files: common::mirror::Files = Arc::new(
        listed
            .iter()
            .map(|p| (encoded(p), format!("{p}\n").repeat(50).into_bytes()))
            .collect(),
    );
    let sums: String = listed
        .iter()
        .map(|p| format!("{}  {p}\n", common::sha256_hex(&files[&encoded(p)])))
        .collect();
    let env = common::Env::new();
    let dir = env
        .db
        .parent()
        .expect("the database's directory")
        .join("release");
    std::fs::create_dir_all(&dir).expect("a directory for the release");
    std::fs::write(dir.join("SHA256SUMS"), sums).expect("write SHA256SUMS");
    let mirror = Mirror::start(&files, Behaviour::Healthy);
    env.ok(&["mirror", "add", "primary", &mirror.url]);

    let mut curls = Vec::new();
    for line in logical_lines(block) {
        let (words, _) = shell_words(&line);
        match words[0].as_str() {
            "bouncer" => {
                let out = run_bounded(
                    Command::new(BIN)
                        .current_dir(&dir)
                        .env_remove("BOUNCER_DB")
                        .arg("--db")
                        .arg(&env.db)
                        .args(&words[1..]),
                )
                .unwrap_or_else(|e| panic!("{line}: {e}"));
                assert_eq!(out.code, 0, "{line}: {out:?}");
                if words.contains(&"--dry-run".to_string()) {
                    for product in [
                        "firefox-120.0 ",
                        "firefox-120.0-msi ",
                        "firefox-120.0-complete ",
                    ] {
                        assert!(out.stdout.contains(product), "{line}: {}", out.stdout);
                    }
                }
            }
            "curl" => curls.push(words.last().expect("a URL").clone()),
            other => panic!("{line}: {other} is not a command this example should hold"),
        }
    }
    assert!(curls.len() >= 4, "{block:?}");
    let server = env.serve(&[]);
    for url in curls {
        let (_, target) = split_url(&url).expect("a URL");
        let r = server.get(&target);
        assert_eq!(r.status, 302, "{url}: {r:?}");
        let location = r.location();
        let path = location
            .strip_prefix(&mirror.url)
            .unwrap_or_else(|| panic!("{url} went to {location}, not the mirror"));
        assert!(
            files.contains_key(path),
            "{url} → {path}: a file the mirror does not have"
        );
    }
}

/// Runs one README example (a code-block line or an inline code span)
/// and records the result; how many it ran (0 when it is listed as not
/// runnable).
fn run_readme_example(
    example: &str,
    demo: &Demo,
    guide: &Guide,
    db: &str,
    report: &mut Report,
    skipped: &mut Vec<&'static str>,
) -> usize {
    if let Some((text, _)) = NOT_RUNNABLE.iter().find(|(text, _)| *text == example) {
        skipped.push(text);
        return 0;
    }
    let base = demo.base();
    // The README's examples use the default address.
    let here = |url: &str| url.replace("http://127.0.0.1:8080", &base);
    let result = if example.starts_with("bouncer ") {
        // Every command line is checked against --help; whole ones run.
        check_usage(example).and_then(|()| {
            if is_usage(example) {
                Ok(())
            } else {
                run_readme_command(example, db)
            }
        })
    } else if example.starts_with("curl ") {
        run_curl(&here(example), &base, &guide.mirrors)
    } else if let Some(target) = example.strip_prefix("GET ") {
        get_followed(&format!("{base}{target}")).and_then(succeeded)
    } else if example.starts_with('/') {
        get_followed(&format!("{base}{example}")).and_then(succeeded)
    } else if example.starts_with("http://") {
        get_followed(&here(example)).and_then(succeeded)
    } else {
        Err(
            "not an example this test can run: make it one, or add it to NOT_RUNNABLE with the reason"
                .into(),
        )
    };
    report.check(example, result);
    1
}

/// A `GET …` code block: the request, the status line, and headers the
/// answer must have (a Location's path must match; its host is a demo
/// mirror instead of the README's).
fn run_exchange(
    block: &[String],
    base: &str,
    mirrors: &BTreeMap<String, (String, bool)>,
) -> Result<(), String> {
    let target = block[0].strip_prefix("GET ").unwrap_or_default().trim();
    let answer = get(&format!("{base}{target}"), "GET")?;
    let status_line = block.get(1).ok_or("no status line after the request")?;
    let status: u16 = status_line
        .split_whitespace()
        .next()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("{status_line:?} is not a status line"))?;
    if answer.status != status {
        return Err(format!(
            "answered {} instead of {status}: {answer:?}",
            answer.status
        ));
    }
    for header in &block[2..] {
        let (name, value) = header
            .split_once(": ")
            .ok_or_else(|| format!("{header:?} is not a header"))?;
        let got = answer
            .header(name)
            .ok_or_else(|| format!("no {name} header: {answer:?}"))?;
        if name.eq_ignore_ascii_case("location") {
            let path = |url: &str| url.splitn(4, '/').nth(3).map(str::to_string);
            on_a_mirror(got, mirrors, &all_mirrors(mirrors))?;
            if path(got) != path(value) {
                return Err(format!("Location {got} instead of a mirror's {value}"));
            }
        } else if got != value {
            return Err(format!("{name}: {got} instead of {value}"));
        }
    }
    Ok(())
}

fn all_mirrors(mirrors: &BTreeMap<String, (String, bool)>) -> Vec<String> {
    mirrors.keys().cloned().collect()
}

/// Runs a README `bouncer …` command on the demo's database (through its
/// control socket): it must succeed.
fn run_readme_command(line: &str, db: &str) -> Result<(), String> {
    let (words, _) = shell_words(line);
    let out = run_bounded(
        Command::new(BIN)
            .env_remove("BOUNCER_DB")
            .args(["--db", db])
            .args(&words[1..]),
    )?;
    if out.code != 0 {
        return Err(format!("exited {}: {:?}", out.code, out.stderr));
    }
    Ok(())
}

/// The database the guide names.
fn guide_database(guide: &str) -> String {
    guide
        .lines()
        .find_map(|l| l.trim().strip_prefix("database: "))
        .and_then(|rest| rest.split("  ").next())
        .unwrap_or_else(|| panic!("the guide names no database:\n{guide}"))
        .to_string()
}

/// The README: its code blocks (lines) and its inline code spans outside
/// them (line breaks inside a span made spaces).
struct Readme {
    blocks: Vec<Vec<String>>,
    spans: Vec<String>,
}

impl Readme {
    fn read() -> Readme {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/README.md");
        let text = std::fs::read_to_string(path).expect("read README.md");
        let mut blocks = Vec::new();
        let mut prose = String::new();
        let mut block: Option<Vec<String>> = None;
        for line in text.lines() {
            if line.trim_start().starts_with("```") {
                match block.take() {
                    Some(b) => blocks.push(b),
                    None => block = Some(Vec::new()),
                }
                // A block is a paragraph break for the spans around it.
                prose.push_str("\n\n");
            } else if let Some(b) = &mut block {
                if !line.trim().is_empty() {
                    b.push(line.to_string());
                }
            } else {
                prose.push_str(line);
                prose.push('\n');
            }
        }
        assert!(block.is_none(), "README.md has an unclosed code block");
        let spans = prose
            .split('`')
            .skip(1)
            .step_by(2)
            .map(|s| s.split_whitespace().collect::<Vec<_>>().join(" "))
            .filter(|s| !s.is_empty())
            .collect();
        Readme { blocks, spans }
    }
}

/// A block's lines with continuation lines (indented deeper than the
/// block's first) joined to the line before.
fn logical_lines(block: &[String]) -> Vec<String> {
    let indent = |l: &str| l.len() - l.trim_start().len();
    let base = block.first().map_or(0, |l| indent(l));
    let mut lines: Vec<String> = Vec::new();
    for line in block {
        match lines.last_mut() {
            Some(last) if indent(line) > base => {
                last.push(' ');
                last.push_str(line.trim());
            }
            _ => lines.push(line.trim().to_string()),
        }
    }
    lines
}

// ---------------------------------------------------------------------------
// Usage lines

/// Whether a `bouncer …` line is a synopsis (placeholders, alternatives,
/// optional parts) rather than a command to run.
fn is_usage(line: &str) -> bool {
    let code = line.split(" # ").next().unwrap_or(line);
    code.contains(['[', '|', '…', '<'])
        || code.split_whitespace().any(|w| {
            w.bytes().any(|b| b.is_ascii_uppercase())
                && w.bytes()
                    .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b',')
        })
}

/// Checks a `bouncer …` line against the binary's `--help`: the command
/// (and each alternative's subcommand) exists, and every option the line
/// names is one it takes. In a synopsis, an alternative that does not end
/// in a lone `…` (which abbreviates) names every option it takes.
fn check_usage(line: &str) -> Result<(), String> {
    let (code, comment) = line.split_once(" # ").unwrap_or((line, ""));
    let words: Vec<&str> = code.split_whitespace().skip(1).collect();
    // Global options come before the command.
    let command_at = words
        .iter()
        .position(|w| w.bytes().all(|b| b.is_ascii_lowercase() || b == b'-'));
    let global = &words[..command_at.unwrap_or(words.len())];
    let top = help(&[])?;
    for option in options_in(&global.join(" ")) {
        takes(&top, &option, "bouncer")?;
    }
    let Some(at) = command_at else {
        return Ok(());
    };
    let command = words[at];
    let rest = words[at + 1..].join(" ");
    let command_help = help(&[command])?;
    let has_subcommands = command_help.contains("Commands:");
    for alternative in rest.split(" | ") {
        let mut args = vec![command];
        let mut options = alternative;
        if has_subcommands {
            let (sub, after) = alternative.split_once(' ').unwrap_or((alternative, ""));
            args.push(sub);
            options = after;
        }
        let text = help(&args)?;
        let name = format!("bouncer {}", args.join(" "));
        let named = options_in(options);
        for option in &named {
            takes(&text, option, &name)?;
        }
        // A synopsis is complete unless it ends in a lone `…`; a command
        // named in prose need not be.
        if !is_usage(line) || options.split_whitespace().last() == Some("…") {
            continue;
        }
        for option in options_in(text.split("Options:").nth(1).unwrap_or("")) {
            // `--db` is global: the demo's line may say it in its comment.
            let said = named.contains(&option) || options_in(comment).contains(&option);
            if option != "--help" && !said {
                return Err(format!(
                    "{name} takes {option}, which the usage line does not show (end the line with ` …` if it abbreviates)"
                ));
            }
        }
    }
    Ok(())
}

/// `bouncer args… --help`.
fn help(args: &[&str]) -> Result<String, String> {
    let out = run_bounded(Command::new(BIN).args(args).arg("--help"))?;
    if out.code != 0 {
        return Err(format!(
            "`bouncer {} --help` failed: {out:?}",
            args.join(" ")
        ));
    }
    Ok(out.stdout)
}

/// Whether `help` shows `option`.
fn takes(help: &str, option: &str, name: &str) -> Result<(), String> {
    if options_in(help).iter().any(|o| o == option) {
        Ok(())
    } else {
        Err(format!("{name} takes no {option}"))
    }
}

/// The `--options` in `text`.
fn options_in(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    for (i, _) in text.match_indices("--") {
        if i > 0 && text.as_bytes()[i - 1] == b'-' {
            continue;
        }
        let name: String = text[i + 2..]
            .chars()
            .take_while(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-')
            .collect();
        if name.starts_with(|c: char| c.is_ascii_lowercase()) {
            out.push(format!("--{}", name.trim_end_matches('-')));
        }
    }
    out
}

#[test]
fn the_demo_usage_lines_list_every_option_it_takes() {
    let readme = Readme::read();
    let lines: Vec<String> = readme
        .blocks
        .iter()
        .flat_map(|b| logical_lines(b))
        .filter(|l| l.starts_with("bouncer demo"))
        .collect();
    assert_eq!(lines.len(), 1, "one `bouncer demo` usage line: {lines:?}");
    check_usage(&lines[0]).unwrap_or_else(|e| panic!("{}: {e}", lines[0]));
    // The database it uses is its own business: --help says so.
    let text = help(&["demo"]).unwrap();
    assert!(
        text.contains("--db") && text.contains("temporary"),
        "demo --help says nothing of its database:\n{text}"
    );
    assert!(lines[0].contains("--db"), "{}", lines[0]);
}

// ---------------------------------------------------------------------------
// The demo's temporary files

#[test]
fn the_demo_removes_its_temporary_database_when_stopped() {
    for signal in ["TERM", "INT"] {
        let mut demo = Demo::start();
        let db = PathBuf::from(guide_database(&demo.guide));
        assert!(
            db.starts_with(demo.tmp.path()) && db.exists(),
            "SIG{signal}: the demo's database {} is not in its $TMPDIR",
            db.display()
        );
        let status = demo.stop(signal);
        assert!(status.success(), "SIG{signal}: {status:?}\n{}", demo.log());
        assert_eq!(
            entries(demo.tmp.path()),
            Vec::<String>::new(),
            "SIG{signal} left files behind"
        );
    }
}

#[test]
fn the_demo_without_serving_removes_its_temporary_database() {
    let tmp = tempfile::tempdir().unwrap();
    let out = run_bounded(
        Command::new(BIN)
            .env_remove("BOUNCER_DB")
            .env("TMPDIR", tmp.path())
            .args(["demo", "--no-serve", "--listen", "127.0.0.1:0"]),
    )
    .unwrap();
    assert_eq!(out.code, 0, "{out:?}");
    assert!(out.stdout.contains("temporary"), "{out:?}");
    assert_eq!(entries(tmp.path()), Vec::<String>::new());
}

#[test]
fn the_demo_keeps_the_database_named_with_db() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("demo.redb");
    let db = db.to_str().unwrap();
    let out = run_bounded(
        Command::new(BIN)
            .env_remove("BOUNCER_DB")
            .env("TMPDIR", tmp.path())
            .args(["--db", db, "demo", "--no-serve", "--listen", "127.0.0.1:0"]),
    )
    .unwrap();
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(entries(tmp.path()), Vec::<String>::new());
    let out = run_bounded(Command::new(BIN).args(["--db", db, "product", "list"])).unwrap();
    assert_eq!(out.code, 0, "{out:?}");
    assert!(out.stdout.contains("firefox-120.0"), "{out:?}");
}

/// The names in `dir`.
fn entries(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect()
}

// ---------------------------------------------------------------------------
// Running examples

/// Runs a `curl` line (its own flags, as curl reads them) and checks the
/// answer against its `# STATUS …` comment: the status (after redirects
/// with `-L`), and when the comment names mirrors, that the answer's URL
/// (Location, the followed URL, or a printed one) is on one of them and
/// that the mirror has the file. Without a comment, the answer must not
/// be an error.
fn run_curl(
    line: &str,
    base: &str,
    mirrors: &BTreeMap<String, (String, bool)>,
) -> Result<(), String> {
    let (words, comment) = shell_words(line);
    let request = Curl::parse(&words[1..])?;
    if !request.url.starts_with(base) {
        return Err(format!("{} is not on the demo ({base})", request.url));
    }
    let answer = request.perform()?;
    let Some(comment) = comment else {
        return succeeded(answer);
    };
    let status: u16 = comment
        .split(|c: char| !c.is_ascii_digit())
        .next()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("the comment {comment:?} does not start with the status"))?;
    if answer.response.status != status {
        return Err(format!(
            "answered {} instead of {status}: {:?}",
            answer.response.status, answer.response
        ));
    }
    let named: Vec<String> = mirrors
        .keys()
        .filter(|name| names(&comment, name))
        .cloned()
        .collect();
    if !named.is_empty() {
        let url = answer
            .url
            .as_deref()
            .ok_or_else(|| format!("no URL in the answer: {:?}", answer.response))?;
        on_a_mirror(url, mirrors, &named)?;
        if !answer.followed {
            // The mirror really has the file.
            let file = get(url, "GET")?;
            if file.status != 200 {
                return Err(format!("{url} answered {}", file.status));
            }
        }
    }
    Ok(())
}

/// Whether `text` names `word` as a whole word.
fn names(text: &str, word: &str) -> bool {
    text.match_indices(word).any(|(i, _)| {
        let before = text[..i].chars().next_back();
        let after = text[i + word.len()..].chars().next();
        let part = |c: Option<char>| c.is_some_and(|c| c.is_alphanumeric() || c == '-');
        !part(before) && !part(after)
    })
}

/// `url` is under the base URL of one of `allowed` mirrors.
fn on_a_mirror(
    url: &str,
    mirrors: &BTreeMap<String, (String, bool)>,
    allowed: &[String],
) -> Result<(), String> {
    let on = allowed
        .iter()
        .filter_map(|name| mirrors.get(name))
        .any(|(base, _)| url.starts_with(&format!("{base}/")));
    if on {
        Ok(())
    } else {
        Err(format!("{url} is not on {}", allowed.join(" or ")))
    }
}

/// The request a `curl` command line makes.
struct Curl {
    method: &'static str,
    url: String,
    follow: bool,
    headers: Vec<(String, String)>,
}

/// What a request ended with.
struct Answer {
    response: Response,
    /// Where it sends the client: the URL followed to (`-L`), else the
    /// Location, else a printed URL (`print=yes`).
    url: Option<String>,
    /// Whether redirects were followed.
    followed: bool,
}

impl Curl {
    /// Reads curl's arguments; a flag this does not know fails, rather
    /// than being misread.
    fn parse(args: &[String]) -> Result<Curl, String> {
        let mut curl = Curl {
            method: "GET",
            url: String::new(),
            follow: false,
            headers: Vec::new(),
        };
        let mut args = args.iter();
        while let Some(arg) = args.next() {
            let mut value = |flag: &str| {
                args.next()
                    .cloned()
                    .ok_or_else(|| format!("{flag} without its value"))
            };
            match arg.as_str() {
                "--head" => curl.method = "HEAD",
                "--location" => curl.follow = true,
                "--include" | "--silent" => {}
                "--output" | "--write-out" => {
                    value(arg)?;
                }
                "--header" => curl.headers.push(header(&value(arg)?)?),
                flags if flags.starts_with('-') && !flags.starts_with("--") => {
                    for flag in flags[1..].chars() {
                        match flag {
                            'I' => curl.method = "HEAD",
                            'L' => curl.follow = true,
                            // Output only: headers shown, quiet, errors.
                            'i' | 's' | 'S' => {}
                            'o' | 'w' => {
                                value(flags)?;
                            }
                            'H' => curl.headers.push(header(&value(flags)?)?),
                            other => {
                                return Err(format!("curl flag -{other} is not understood here"));
                            }
                        }
                    }
                }
                flag if flag.starts_with("--") => {
                    return Err(format!("curl flag {flag} is not understood here"));
                }
                url => curl.url = url.to_string(),
            }
        }
        if curl.url.is_empty() {
            return Err("no URL".into());
        }
        Ok(curl)
    }

    fn perform(&self) -> Result<Answer, String> {
        let headers: Vec<(&str, &str)> = self
            .headers
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_str()))
            .collect();
        let mut url = self.url.clone();
        for hop in 0..MAX_HOPS {
            let response = request(&url, self.method, &headers)?;
            let location = response.header("location").map(|l| absolute(&url, l));
            match location {
                Some(next) if self.follow && (300..400).contains(&response.status) => url = next,
                _ if hop > 0 => {
                    return Ok(Answer {
                        response,
                        url: Some(url),
                        followed: true,
                    });
                }
                location => {
                    let printed = response.body.trim();
                    let url = location.or_else(|| {
                        (response.status == 200 && printed.starts_with("http"))
                            .then(|| printed.to_string())
                    });
                    return Ok(Answer {
                        response,
                        url,
                        followed: false,
                    });
                }
            }
        }
        Err(format!("more than {MAX_HOPS} redirects"))
    }
}

fn header(text: &str) -> Result<(String, String), String> {
    text.split_once(':')
        .map(|(n, v)| (n.trim().to_string(), v.trim().to_string()))
        .ok_or_else(|| format!("{text:?} is not a header"))
}

/// `location` made absolute against `url`.
fn absolute(url: &str, location: &str) -> String {
    if location.starts_with("http://") || location.starts_with("https://") {
        return location.to_string();
    }
    let origin_end = url.match_indices('/').nth(2).map_or(url.len(), |(i, _)| i);
    format!("{}{location}", &url[..origin_end])
}

/// `GET url`, following redirects.
fn get_followed(url: &str) -> Result<Answer, String> {
    Curl {
        method: "GET",
        url: url.to_string(),
        follow: true,
        headers: Vec::new(),
    }
    .perform()
}

/// An answer that is not an error (a page, or a redirect to one).
fn succeeded(answer: Answer) -> Result<(), String> {
    if answer.response.status < 400 {
        Ok(())
    } else {
        Err(format!(
            "answered {} ({}): {:?}",
            answer.response.status,
            answer.url.unwrap_or_default(),
            answer.response.body.chars().take(300).collect::<String>()
        ))
    }
}

fn get(url: &str, method: &str) -> Result<Response, String> {
    request(url, method, &[])
}

/// One request to a `http://127.0.0.1:PORT/…` URL (the demo and its
/// mirrors live there).
fn request(url: &str, method: &str, headers: &[(&str, &str)]) -> Result<Response, String> {
    let (port, target) = split_url(url)?;
    try_http(port, method, &target, headers).map_err(|e| format!("{method} {url}: {e}"))
}

/// A command line split into words as a POSIX shell would (quotes,
/// backslashes), and its `# comment`.
fn shell_words(line: &str) -> (Vec<String>, Option<String>) {
    let mut words = Vec::new();
    let mut word: Option<String> = None;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\'' => {
                let w = word.get_or_insert_with(String::new);
                for c in chars.by_ref() {
                    if c == '\'' {
                        break;
                    }
                    w.push(c);
                }
            }
            '"' => {
                let w = word.get_or_insert_with(String::new);
                while let Some(c) = chars.next() {
                    match c {
                        '"' => break,
                        '\\' if matches!(chars.peek(), Some('"' | '\\' | '$' | '`')) => {
                            w.extend(chars.next());
                        }
                        c => w.push(c),
                    }
                }
            }
            '\\' => word.get_or_insert_with(String::new).extend(chars.next()),
            '#' if word.is_none() => {
                let comment: String = chars.collect();
                words.extend(word.take());
                return (words, Some(comment.trim().to_string()));
            }
            c if c.is_whitespace() => words.extend(word.take()),
            c => word.get_or_insert_with(String::new).push(c),
        }
    }
    words.extend(word);
    (words, None)
}

#[test]
fn shell_words_read_the_demo_s_quoting() {
    let (words, comment) = shell_words(
        r#"curl -sL -o /dev/null -w '%{url_effective}\n' 'http://h/?a=1&b=2'  # 200 from "x""#,
    );
    assert_eq!(
        words,
        [
            "curl",
            "-sL",
            "-o",
            "/dev/null",
            "-w",
            "%{url_effective}\\n",
            "http://h/?a=1&b=2"
        ]
    );
    assert_eq!(comment.as_deref(), Some("200 from \"x\""));
    assert_eq!(
        shell_words("'/tmp/my demo'/x 'it'\\''s' a#b").0,
        ["/tmp/my demo/x", "it's", "a#b"]
    );
}

/// Runs `command` with nothing on stdin, for at most [`EXIT_TIMEOUT`].
fn run_bounded(command: &mut Command) -> Result<Out, String> {
    common::run_bounded(command, EXIT_TIMEOUT).map(Out::from)
}

fn signal(pid: u32, name: &str) {
    let _ = Command::new("kill")
        .arg(format!("-{name}"))
        .arg(pid.to_string())
        .status();
}

/// Failures collected, so one run reports every example that fails.
#[derive(Default)]
struct Report {
    checked: usize,
    failures: Vec<String>,
}

impl Report {
    fn check(&mut self, example: &str, result: Result<(), String>) {
        self.checked += 1;
        if let Err(why) = result {
            self.fail(example, &why);
        }
    }

    fn fail(&mut self, example: &str, why: &str) {
        self.failures.push(format!("- {example}\n    {why}"));
    }

    fn finish(self, what: &str, demo: &Demo) {
        assert!(
            self.failures.is_empty(),
            "{} of {} of {what} failed:\n{}\n\nThe demo printed:\n{}\nand logged:\n{}",
            self.failures.len(),
            self.checked,
            self.failures.join("\n"),
            demo.guide,
            demo.log()
        );
    }
}

// ---------------------------------------------------------------------------
// The demo process

/// A running `bouncer demo --listen 127.0.0.1:0` with its own `$TMPDIR`;
/// killed when dropped.
struct Demo {
    child: Option<Child>,
    /// Its standard output up to the end of the guide.
    guide: String,
    port: u16,
    /// Its `$TMPDIR`, where its temporary files go.
    tmp: tempfile::TempDir,
    log: Arc<Mutex<String>>,
}

impl Demo {
    /// Starts the demo and waits (bounded) until it has printed its guide
    /// and listens.
    fn start() -> Demo {
        let tmp = tempfile::tempdir().expect("create a temporary directory");
        let mut child = Command::new(BIN)
            .env_remove("BOUNCER_DB")
            .env("TMPDIR", tmp.path())
            .args(["demo", "--listen", "127.0.0.1:0", "--threads", "2"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start bouncer demo");
        let (events, event) = mpsc::channel();
        let stdout = child.stdout.take().expect("piped stdout");
        let guide = Arc::new(Mutex::new(String::new()));
        let printed = guide.clone();
        let done = events.clone();
        // Both pipes are drained to the end, so the demo never blocks on one.
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                let end = line.starts_with("Ctrl-C ");
                let mut guide = printed.lock().unwrap();
                guide.push_str(&line);
                guide.push('\n');
                if end {
                    let _ = done.send(None);
                }
            }
        });
        let stderr = child.stderr.take().expect("piped stderr");
        let log = Arc::new(Mutex::new(String::new()));
        let logged = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if let Some(port) = listening_port(&line) {
                    let _ = events.send(Some(port));
                }
                let mut log = logged.lock().unwrap();
                log.push_str(&line);
                log.push('\n');
            }
        });
        let mut demo = Demo {
            child: Some(child),
            guide: String::new(),
            port: 0,
            tmp,
            log,
        };
        let mut guided = false;
        let deadline = std::time::Instant::now() + START_TIMEOUT;
        while !guided || demo.port == 0 {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match event.recv_timeout(left) {
                Ok(Some(port)) => demo.port = port,
                Ok(None) => guided = true,
                Err(_) => panic!(
                    "bouncer demo did not print its guide and listen within {START_TIMEOUT:?}:\n{}\n{}",
                    guide.lock().unwrap(),
                    demo.log()
                ),
            }
        }
        demo.guide = guide.lock().unwrap().clone();
        demo
    }

    fn base(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    /// Sends SIG`name` and waits (bounded) for the exit.
    fn stop(&mut self, name: &str) -> ExitStatus {
        let mut child = self.child.take().expect("the demo process");
        signal(child.id(), name);
        let status = poll(EXIT_TIMEOUT, Duration::from_millis(10), || {
            child.try_wait().expect("poll the demo")
        });
        status.unwrap_or_else(|| {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "bouncer demo did not stop within {EXIT_TIMEOUT:?} of SIG{name}:\n{}",
                self.log()
            )
        })
    }
}

impl Drop for Demo {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn listening_port(line: &str) -> Option<u16> {
    let rest = line.strip_prefix("bouncer: listening on http://127.0.0.1:")?;
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}
