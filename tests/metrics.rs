//! Operations (SPEC §8): `/metrics` after real redirects and a real
//! sentry run against test mirrors, where `/metrics` is served and to
//! whom, the access log, and the structured log's level.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use crate::common::mirror::{Behaviour, Files, Mirror};
use crate::common::{Env, NOT_FOUND, Server, http, poll};

/// How long a test waits for sentry's first run and the counts.
const PROMPT: Duration = Duration::from_secs(30);
/// The bounce every redirect test makes.
const FX: &str = "/?product=fx&os=win&lang=de";

/// One sample of an exposition.
#[derive(Debug)]
struct Sample {
    name: String,
    labels: BTreeMap<String, String>,
    value: f64,
}

/// A parsed `/metrics` page.
#[derive(Debug)]
struct Metrics {
    samples: Vec<Sample>,
    /// Family → type.
    types: BTreeMap<String, String>,
    text: String,
}

impl Metrics {
    /// Parses strictly: `# HELP` then `# TYPE` for each family, then its
    /// samples `name{k="v",…} value`.
    fn parse(text: &str) -> Metrics {
        let mut samples = Vec::new();
        let mut types = BTreeMap::new();
        let mut helped: Option<&str> = None;
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix("# HELP ") {
                assert!(helped.is_none(), "HELP without TYPE: {line:?}");
                helped = Some(rest.split(' ').next().unwrap());
            } else if let Some(rest) = line.strip_prefix("# TYPE ") {
                let (name, kind) = rest.split_once(' ').expect("TYPE name kind");
                assert_eq!(helped.take(), Some(name), "TYPE without its HELP: {line:?}");
                assert!(
                    ["counter", "gauge", "histogram"].contains(&kind),
                    "{line:?}"
                );
                assert!(types.insert(name.to_string(), kind.to_string()).is_none());
            } else {
                assert!(!line.starts_with('#') && !line.is_empty(), "{line:?}");
                samples.push(parse_sample(line));
            }
        }
        Metrics {
            samples,
            types,
            text: text.to_string(),
        }
    }

    /// The value of `name` with these labels (all of them).
    fn get(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        self.samples
            .iter()
            .find(|s| {
                s.name == name
                    && s.labels.len() == labels.len()
                    && labels
                        .iter()
                        .all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v))
            })
            .map(|s| s.value)
    }

    fn value(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        self.get(name, labels)
            .unwrap_or_else(|| panic!("no {name}{labels:?} in\n{}", self.text))
    }

    fn outcome(&self, outcome: &str) -> f64 {
        self.value("bouncer_requests_total", &[("outcome", outcome)])
    }
}

fn parse_sample(line: &str) -> Sample {
    fn bad<T>(line: &str) -> T {
        panic!("bad sample line {line:?}")
    }
    let end = line.find(['{', ' ']).unwrap_or_else(|| bad(line));
    let name = line[..end].to_string();
    let mut labels = BTreeMap::new();
    let mut chars = line[end..].chars().peekable();
    if chars.peek() == Some(&'{') {
        chars.next();
        loop {
            let key: String = chars.by_ref().take_while(|c| *c != '=').collect();
            assert_eq!(chars.next(), Some('"'), "{line:?}");
            let mut value = String::new();
            loop {
                match chars.next().unwrap_or_else(|| bad(line)) {
                    '"' => break,
                    '\\' => match chars.next().unwrap_or_else(|| bad(line)) {
                        'n' => value.push('\n'),
                        c => value.push(c),
                    },
                    c => value.push(c),
                }
            }
            labels.insert(key, value);
            match chars.next() {
                Some(',') => {}
                Some('}') => break,
                _ => bad(line),
            }
        }
    }
    assert_eq!(chars.next(), Some(' '), "{line:?}");
    let value: String = chars.collect();
    let value = match value.as_str() {
        "+Inf" => f64::INFINITY,
        v => v.parse().unwrap_or_else(|_| bad(line)),
    };
    Sample {
        name,
        labels,
        value,
    }
}

/// `GET /metrics` on `port`, which must answer 200 in the exposition
/// format.
fn metrics(port: u16) -> Metrics {
    let r = http(port, "GET", "/metrics", &[]);
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(
        r.header("content-type"),
        Some("text/plain; version=0.0.4; charset=utf-8")
    );
    assert_eq!(r.header("cache-control"), Some("no-store"));
    Metrics::parse(&r.body)
}

/// Product `fx` (German, Windows) and the https-only product `ssl` (so
/// no test mirror can serve it), and three test mirrors with every file:
/// `up1` and `up2` healthy, `down1` broken.
fn network() -> (Env, Vec<Mirror>) {
    let env = Env::new();
    env.setup(&[
        "product add fx --lang de",
        "location add fx win /fx/win/:lang/fx.exe",
        "product add ssl --lang de --ssl-only",
        "location add ssl win /ssl/win/:lang/ssl.exe",
    ]);
    let files: Files = Arc::new(
        [
            ("/fx/win/de/fx.exe", b"fx build\n".repeat(100)),
            ("/ssl/win/de/ssl.exe", b"ssl build\n".repeat(100)),
        ]
        .into_iter()
        .map(|(p, c)| (p.to_string(), c))
        .collect(),
    );
    let mut mirrors = Vec::new();
    for (name, behaviour) in [
        ("up1", Behaviour::Healthy),
        ("up2", Behaviour::Healthy),
        ("down1", Behaviour::Broken),
    ] {
        let mirror = Mirror::start(&files, behaviour);
        env.ok(&["mirror", "add", name, &mirror.url]);
        mirrors.push(mirror);
    }
    (env, mirrors)
}

/// Polls `/metrics` until sentry's first run is reflected in the index.
fn after_first_check(server: &Server) -> Metrics {
    poll(PROMPT, Duration::from_millis(50), || {
        let m = metrics(server.port);
        let checked = m.get("bouncer_mirror_up", &[("mirror", "down1")]) == Some(0.0)
            && m.get("bouncer_index_eligible_mirrors", &[]) == Some(2.0)
            && m.get("bouncer_index_serving_pairs", &[]).unwrap_or(0.0) >= 2.0;
        checked.then_some(m)
    })
    .unwrap_or_else(|| {
        panic!(
            "sentry's first run never showed:\n{}\n{}",
            http(server.port, "GET", "/metrics", &[]).body,
            server.log()
        )
    })
}

/// Every stderr line is one of the few fixed `bouncer: ` lines or a
/// logfmt event that starts with `ts`, `level` and `msg`.
fn assert_log_lines(log: &str) {
    assert!(!log.trim().is_empty(), "the server logged nothing");
    for line in log.lines() {
        if line.starts_with("bouncer: ") {
            continue;
        }
        let rest = line
            .strip_prefix("ts=")
            .unwrap_or_else(|| panic!("not logfmt: {line:?}"));
        let (ts, rest) = rest.split_once(' ').expect("fields after ts");
        assert!(ts.len() == 20 && ts.ends_with('Z'), "{line:?}");
        let (level, rest) = rest
            .strip_prefix("level=")
            .and_then(|r| r.split_once(' '))
            .unwrap_or_else(|| panic!("no level: {line:?}"));
        assert!(
            ["error", "warn", "info", "debug"].contains(&level),
            "{line:?}"
        );
        assert!(rest.starts_with("msg=\""), "{line:?}");
        // Quotes pair up: every unescaped quote opens or closes a value.
        let mut quotes = 0;
        let mut escaped = false;
        for c in rest.chars() {
            match c {
                '\\' if !escaped => escaped = true,
                '"' if !escaped => quotes += 1,
                _ => escaped = false,
            }
        }
        assert_eq!(quotes % 2, 0, "{line:?}");
    }
}

#[test]
fn metrics_count_each_outcome_and_show_sentry_and_the_index() {
    let (env, _mirrors) = network();
    let dir = tempfile::tempdir().unwrap();
    let access = dir.path().join("access.log");
    let server = env.serve_with_sentry(&[
        "--access-log",
        access.to_str().unwrap(),
        "--trusted-proxy",
        "127.0.0.1",
    ]);
    let before = after_first_check(&server);
    // Nothing has asked for a redirect yet.
    for outcome in ["redirect", "print", "not_found", "unavailable", "other"] {
        assert_eq!(before.outcome(outcome), 0.0, "{outcome}");
    }
    assert_eq!(before.value("bouncer_mirror_up", &[("mirror", "up1")]), 1.0);
    assert_eq!(before.value("bouncer_mirror_up", &[("mirror", "up2")]), 1.0);
    assert_eq!(
        before.value("bouncer_mirror_eligible", &[("mirror", "down1")]),
        0.0
    );
    assert!(
        before
            .get("bouncer_mirror_check_latency_seconds", &[("mirror", "up1")])
            .is_some()
    );
    let kind = [("kind", "new")];
    assert!(before.value("bouncer_sentry_last_run_checks", &kind) >= 3.0);
    assert!(before.value("bouncer_sentry_last_run_failures", &kind) >= 1.0);
    assert!(before.value("bouncer_sentry_runs_total", &[]) >= 1.0);
    assert_eq!(before.value("bouncer_index_products", &[]), 2.0);
    assert_eq!(before.value("bouncer_index_locations", &[]), 2.0);
    assert_eq!(before.value("bouncer_index_mirrors", &[]), 3.0);
    assert!(before.value("bouncer_index_generation", &[]) >= 2.0);
    assert_eq!(before.value("bouncer_regions", &[]), 0.0);
    assert_eq!(
        before.value("bouncer_geoip_ranges", &[("family", "ipv4")]),
        0.0
    );
    assert_eq!(before.types["bouncer_requests_total"], "counter");
    assert_eq!(
        before.types["bouncer_redirect_duration_seconds"],
        "histogram"
    );

    // 7 redirects (one from a client behind the trusted proxy, with a
    // hostile user agent), one by path, a print, two 404s, a 503, a 405.
    const REDIRECTS: usize = 7;
    server.locations(FX, &[], REDIRECTS - 1);
    let proxied = server.get_with(
        FX,
        &[
            ("X-Forwarded-For", "198.51.100.23"),
            ("User-Agent", "Mozilla \"evil\" \\o/"),
            ("Referer", "https://example.org/get"),
        ],
    );
    assert_eq!(proxied.status, 302);
    assert_eq!(server.get("/files/fx/win/de/fx.exe").status, 302);
    assert_eq!(server.get(&format!("{FX}&print=yes")).status, 200);
    assert_eq!(server.get("/?product=nope").status, 404);
    assert_eq!(server.get("/files/no/such/file.exe").status, 404);
    assert_eq!(server.get("/?product=ssl&os=win&lang=de").status, 503);
    assert_eq!(server.request("POST", "/", &[]).status, 405);
    // Not a redirect endpoint: not counted as one.
    assert_eq!(server.get("/__lbheartbeat__").status, 200);

    let m = metrics(server.port);
    assert_eq!(m.outcome("redirect"), (REDIRECTS + 1) as f64, "{}", m.text);
    assert_eq!(m.outcome("print"), 1.0);
    assert_eq!(m.outcome("not_found"), 2.0);
    assert_eq!(m.outcome("unavailable"), 1.0);
    assert_eq!(m.outcome("other"), 1.0);
    let total = (REDIRECTS + 1 + 1 + 2 + 1 + 1) as f64;
    assert_eq!(
        m.value("bouncer_redirect_duration_seconds_count", &[]),
        total
    );
    let buckets: Vec<&Sample> = m
        .samples
        .iter()
        .filter(|s| s.name == "bouncer_redirect_duration_seconds_bucket")
        .collect();
    assert!(buckets.len() >= 10, "{}", m.text);
    assert!(
        buckets.windows(2).all(|w| w[0].value <= w[1].value),
        "{}",
        m.text
    );
    let last = buckets.last().unwrap();
    assert_eq!(last.labels["le"], "+Inf");
    assert_eq!(last.value, total);
    assert!(m.value("bouncer_redirect_duration_seconds_sum", &[]) > 0.0);
    assert!(m.value("bouncer_page_requests_total", &[("site", "metrics")]) >= 2.0);

    // Downloads are counted and flushed within about a second.
    let flushed = poll(PROMPT, Duration::from_millis(50), || {
        let m = metrics(server.port);
        (m.value("bouncer_counts_written_total", &[]) == (REDIRECTS + 1) as f64).then_some(m)
    })
    .unwrap_or_else(|| panic!("counts not flushed:\n{}", metrics(server.port).text));
    assert!(flushed.value("bouncer_counts_flushes_total", &[]) >= 1.0);
    assert_eq!(
        flushed.value("bouncer_counts_flush_failures_total", &[]),
        0.0
    );
    assert!(flushed.value("bouncer_counts_flush_lag_seconds", &[]) <= 5.0);

    // Behind the trusted proxy, a public client is refused.
    let r = server.get_with("/metrics", &[("X-Forwarded-For", "203.0.113.5")]);
    assert_eq!((r.status, r.body.as_str()), (404, NOT_FOUND));
    // So is one whose forwarding chain cannot be read: it is nobody
    // known, not the (loopback) proxy that passed it on.
    for chain in ["garbage", "203.0.113.5, garbage", "1.2.3.4:99999999"] {
        let r = server.get_with("/metrics", &[("X-Forwarded-For", chain)]);
        assert_eq!((r.status, r.body.as_str()), (404, NOT_FOUND), "{chain}");
    }

    let (status, log) = server.stop();
    assert!(status.success(), "{status:?}\n{log}");
    // The fixed lines are there, the rest is logfmt, sentry's run is an
    // info event.
    assert!(
        log.contains("bouncer: listening on http://127.0.0.1:"),
        "{log}"
    );
    assert!(log.contains("bouncer: stopped; counts flushed"), "{log}");
    assert!(
        log.lines()
            .any(|l| l.contains(" level=info msg=\"sentry run\" mode=new ")),
        "{log}"
    );
    assert_log_lines(&log);

    // The access log: every request, flushed on shutdown.
    let text = std::fs::read_to_string(&access).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let with = |needle: &str| lines.iter().filter(|l| l.contains(needle)).count();
    let fx_302 = format!("\"GET {FX} HTTP/1.1\" 302 - ");
    assert_eq!(with(&fx_302), REDIRECTS, "{text}");
    assert_eq!(
        with("\"GET /files/fx/win/de/fx.exe HTTP/1.1\" 302 "),
        1,
        "{text}"
    );
    assert_eq!(with("&print=yes HTTP/1.1\" 200 "), 1, "{text}");
    assert_eq!(with("\"GET /?product=nope HTTP/1.1\" 404 19 "), 1, "{text}");
    assert_eq!(
        with("\"GET /?product=ssl&os=win&lang=de HTTP/1.1\" 503 "),
        1
    );
    assert_eq!(with("\"POST / HTTP/1.1\" 405 "), 1, "{text}");
    // The public client and the three unreadable chains.
    assert_eq!(with("\"GET /metrics HTTP/1.1\" 404 "), 4, "{text}");
    assert!(with("\"GET /metrics HTTP/1.1\" 200 ") >= 3, "{text}");
    // The proxied client's address, its referer and escaped user agent.
    let proxied = lines
        .iter()
        .find(|l| l.starts_with("198.51.100.23 - - ["))
        .unwrap_or_else(|| panic!("no line for the proxied client:\n{text}"));
    assert!(
        proxied.ends_with(&format!(
            "\"GET {FX} HTTP/1.1\" 302 - \"https://example.org/get\" \"Mozilla \\\"evil\\\" \\\\o/\""
        )),
        "{proxied}"
    );
    // The unreadable chains are nobody known (`::`), not the proxy.
    let unknown = lines.iter().filter(|l| l.starts_with(":: - - [")).count();
    assert_eq!(unknown, 3, "{text}");
    // Everyone else came straight from 127.0.0.1; one line per request.
    let direct = lines
        .iter()
        .filter(|l| l.starts_with("127.0.0.1 - - ["))
        .count();
    assert_eq!(direct + 2 + unknown, lines.len(), "{text}");
}

#[test]
fn metrics_are_served_on_the_admin_listener_only() {
    let env = Env::new();
    let server = env.serve(&["--admin-listen", "127.0.0.1:0"]);
    let admin = poll(Duration::from_secs(20), Duration::from_millis(20), || {
        server.log().lines().find_map(|l| {
            let rest = l.strip_prefix("bouncer: admin pages on http://127.0.0.1:")?;
            rest.chars()
                .take_while(char::is_ascii_digit)
                .collect::<String>()
                .parse::<u16>()
                .ok()
        })
    })
    .unwrap_or_else(|| panic!("no admin address:\n{}", server.log()));
    let r = server.get("/metrics");
    assert_eq!((r.status, r.body.as_str()), (404, NOT_FOUND));
    let m = metrics(admin);
    assert_eq!(m.value("bouncer_index_products", &[]), 0.0);
    // The refused request was no redirect: nothing counted.
    assert_eq!(m.outcome("not_found"), 0.0);
    // Apart from the public, any client may ask.
    let r = http(
        admin,
        "GET",
        "/metrics",
        &[("X-Forwarded-For", "203.0.113.5")],
    );
    assert_eq!(r.status, 200);
    // HEAD too; other methods are refused.
    assert_eq!(http(admin, "HEAD", "/metrics", &[]).status, 200);
    assert_eq!(http(admin, "POST", "/metrics", &[]).status, 405);
}

#[test]
fn public_metrics_answers_everyone_on_a_shared_listener() {
    let env = Env::new();
    let server = env.serve(&["--trusted-proxy", "127.0.0.1", "--public-metrics"]);
    let r = server.get_with("/metrics", &[("X-Forwarded-For", "203.0.113.5")]);
    assert_eq!(r.status, 200, "{r:?}");
    assert!(r.body.contains("# TYPE bouncer_requests_total counter\n"));
}

#[test]
fn log_level_warn_keeps_info_events_out() {
    let (env, _mirrors) = network();
    let server = env.serve_with_sentry(&["--log-level", "warn"]);
    after_first_check(&server);
    let (status, log) = server.stop();
    assert!(status.success(), "{status:?}\n{log}");
    assert!(!log.contains("level=info"), "{log}");
    // The fixed lines stay.
    assert!(
        log.contains("bouncer: listening on http://127.0.0.1:"),
        "{log}"
    );
    assert_log_lines(&log);

    // A level that does not exist is refused before serving.
    let out = env.run(&["serve", "--listen", "127.0.0.1:0", "--log-level", "loud"]);
    assert_ne!(out.code, 0, "{out:?}");
    assert!(out.stderr.contains("error, warn, info or debug"), "{out:?}");
    let out = env.run_env(
        &["serve", "--listen", "127.0.0.1:0"],
        &[("BOUNCER_LOG", Some(std::ffi::OsStr::new("chatty")))],
    );
    assert_ne!(out.code, 0, "{out:?}");
    assert!(out.stderr.contains("BOUNCER_LOG"), "{out:?}");
}
