//! Admin page benchmarks: how long each admin page takes to answer on a big
//! network, through the same `admin::handle` the server calls.
//!
//! Run with `cargo bench --bench admin` (a few minutes, most of it creating
//! the redb file). The network: `BENCH_MIRRORS` mirrors (default 200) ×
//! `BENCH_PRODUCTS` products (default 1,000) × 50 locations each (one per
//! operating system: the 8 default ones and 42 more; 50,000 locations), ~100
//! languages each, every mirror serving every location (10 M availability
//! rows at the defaults), 30 days of download counts, 5,000 sentry runs
//! and a thousand audit events. Each page is answered 5 times; the summary
//! prints medians (issue 19's target: under 30 ms for the mirrors,
//! products, matrix, report and audit pages), and each against the cost of
//! reading the configuration alone (`Store::snapshot`), as a baseline in
//! the same run.
//! Then two pieces of the admin listener: reading a 20 MB checksum-file
//! upload (`Form::parse`, against copying the body once) and rendering
//! `/metrics` on this network.
//!
//! Without `--bench` (`cargo test --benches`) it runs on a tiny network as
//! a smoke test.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bouncer::admin::{Admin, Request, handle};
use bouncer::model::{Availability, CountBatch, DEFAULT_OSES, MirrorId, Role, User};
use bouncer::network::Network;
use bouncer::store::{NewMirror, NewProduct, Store};
use hyper::header::{COOKIE, HeaderValue};
use hyper::{HeaderMap, Method, StatusCode};

const LANGS: usize = 100;
/// Locations per product.
const LOCATIONS: u64 = 50;

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn build(path: &std::path::Path, mirrors: u64, products: u64) -> Duration {
    let start = Instant::now();
    let store = Store::open(path).expect("open the store");
    let langs: Vec<String> = (0..LANGS)
        .map(|i| {
            format!(
                "{}{}",
                (b'a' + (i / 26) as u8) as char,
                (b'a' + (i % 26) as u8) as char
            )
        })
        .collect();
    let present = Availability {
        present: true,
        healthy: true,
        checked_at: 1_700_000_000,
        error: String::new(),
    };
    let ids: Vec<MirrorId> = store
        .write(&bouncer::model::Actor::Program("bench"), |tx| {
            (1..=mirrors)
                .map(|m| {
                    tx.mirror_add(NewMirror {
                        name: format!("mirror{m}"),
                        base_url: format!("https://mirror{m}.example.org/pub"),
                        rating: (1 + m % 50) as u32 * 10,
                        ..Default::default()
                    })
                    .map(|m| m.id)
                })
                .collect()
        })
        .expect("add mirrors");
    // A location per product and operating system: the default ones and
    // more, up to LOCATIONS.
    let oses: Vec<String> = DEFAULT_OSES
        .iter()
        .map(|o| o.to_string())
        .chain((DEFAULT_OSES.len() as u64..LOCATIONS).map(|i| format!("os{i:02}")))
        .collect();
    store
        .write(&bouncer::model::Actor::Program("bench"), |tx| {
            for os in &oses[DEFAULT_OSES.len()..] {
                tx.os_add(os)?;
            }
            Ok(())
        })
        .expect("add operating systems");
    let per_tx = 10;
    let mut first = 1;
    while first <= products {
        let last = (first + per_tx - 1).min(products);
        store
            .write(&bouncer::model::Actor::Program("bench"), |tx| {
                for p in first..=last {
                    let name = format!("firefox-{p}.0");
                    tx.product_add(NewProduct {
                        name: name.clone(),
                        languages: langs.clone(),
                        ..Default::default()
                    })?;
                    for os in &oses {
                        let path = format!(
                            "/firefox/releases/{p}.0/{os}/:lang/Firefox%20Setup%20{p}.0.exe"
                        );
                        let l = tx.location_add(&name, os, &path)?;
                        for &m in &ids {
                            tx.set_availability(l.id, m, &present)?;
                        }
                    }
                }
                Ok(())
            })
            .expect("add products");
        first = last + 1;
    }
    let today = bouncer::model::day_of(bouncer::model::now());
    for day in today - 29..=today {
        let batch = CountBatch {
            day,
            products: (1..=products.min(500))
                .map(|p| (bouncer::model::ProductId(p), p * 3 + u64::from(day % 7)))
                .collect(),
            locations: (1..=products.min(500) * LOCATIONS)
                .map(|l| (bouncer::model::LocationId(l), format!("l{:02}", l % 100), l))
                .collect(),
            mirrors: ids.iter().map(|m| (*m, m.0 * 11)).collect(),
            countries: ["DE", "US", "FR", "JP", "BR", "--"]
                .iter()
                .enumerate()
                .map(|(i, c)| (c.to_string(), 1000 * (i as u64 + 1)))
                .collect(),
        };
        store.add_counts(&batch).expect("add counts");
    }
    store
        .write(&bouncer::model::Actor::Program("bench"), |tx| {
            for i in 0..5000u64 {
                let mut run = bouncer::model::SentryRun {
                    id: 0,
                    kind: ["spot", "all", "new", "hashes"][(i % 4) as usize].into(),
                    started_at: 1_700_000_000 + i * 60,
                    ended_at: 1_700_000_000 + i * 60 + 20,
                    checks: 400,
                    failures: i % 3,
                    changes: i % 2,
                    report: String::new(),
                    failed: Vec::new(),
                };
                tx.sentry_run_put(&mut run)?;
            }
            Ok(())
        })
        .expect("sentry runs");
    for i in 0..1000u32 {
        store
            .write(&bouncer::model::Actor::Admin("bench".into()), |tx| {
                tx.setting_put("bench.note", Some(&i.to_string()))
            })
            .expect("an audit event");
    }
    start.elapsed()
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn main() {
    let bench = std::env::args().any(|a| a == "--bench");
    let (mirrors, products) = if bench {
        (env("BENCH_MIRRORS", 200), env("BENCH_PRODUCTS", 1_000))
    } else {
        (3, 4)
    };
    let runs = if bench { 5 } else { 1 };
    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = dir.path().join("admin.redb");
    let built = build(&path, mirrors, products);
    let network = Arc::new(Network::open(&path, true).expect("open the network"));
    let admin = Admin::new(network.clone(), None, dir.path().join("reports"));
    let user = User {
        name: "bench".into(),
        password_hash: bouncer::auth::hash_password("bench-password").expect("a hash"),
        role: Role::Admin,
        created_at: 0,
    };
    network
        .write(&bouncer::model::Actor::Program("bench"), |tx| {
            tx.user_put(&user, "user.add")
        })
        .expect("a user");
    let session = admin
        .sessions
        .start(&user, bouncer::model::now())
        .expect("a session");
    let mut headers = HeaderMap::new();
    headers.insert(
        COOKIE,
        HeaderValue::from_str(&format!("bouncer_session={session}")).expect("a cookie"),
    );
    let get = |path_and_query: &str| {
        let (path, query) = path_and_query
            .split_once('?')
            .unwrap_or((path_and_query, ""));
        let start = Instant::now();
        let reply = handle(
            &admin,
            &Request {
                method: &Method::GET,
                path,
                query,
                headers: &headers,
                body: b"",
                peer: IpAddr::V4(Ipv4Addr::LOCALHOST),
            },
        );
        let took = start.elapsed();
        assert_eq!(reply.status(), StatusCode::OK, "GET /admin{path_and_query}");
        took
    };
    println!(
        "admin pages on {mirrors} mirrors × {} locations ({} availability rows; built in {:.1} s)",
        products * LOCATIONS,
        mirrors * products * LOCATIONS,
        built.as_secs_f64()
    );
    let snapshot = median(
        (0..runs)
            .map(|_| {
                let s = Instant::now();
                std::hint::black_box(network.store().snapshot().expect("a snapshot"));
                s.elapsed()
            })
            .collect(),
    );
    println!(
        "  {:<44} {:>9.1} ms",
        "baseline: Store::snapshot",
        snapshot.as_secs_f64() * 1e3
    );
    let mid = products / 2;
    let pages = [
        "/".to_string(),
        "/products".into(),
        format!("/products/firefox-{mid}.0"),
        "/products?q=firefox-1".into(),
        "/products?page=10".into(),
        "/products?state=unserved".into(),
        "/mirrors".into(),
        "/mirrors?sort=-serves".into(),
        "/mirrors?q=mirror1&state=up".into(),
        format!("/mirrors/mirror{}", mirrors.min(7)),
        "/availability".into(),
        format!("/availability?product=firefox-{mid}.0"),
        format!("/availability?product=firefox-{mid}.0&page=2"),
        format!("/availability?mirror=mirror{}", mirrors.min(7)),
        "/regions".into(),
        "/oses".into(),
        "/users".into(),
        "/loader".into(),
        "/reports".into(),
        "/reports?page=20".into(),
        "/reports?kind=all&failures=1".into(),
        "/stats".into(),
        "/stats?days=365".into(),
        "/audit".into(),
        "/audit?action=settings".into(),
    ];
    for page in &pages {
        let m = median((0..runs).map(|_| get(page)).collect());
        println!(
            "  GET /admin{page:<34} {:>9.1} ms  ({:.1}× snapshot)",
            m.as_secs_f64() * 1e3,
            m.as_secs_f64() / snapshot.as_secs_f64().max(1e-9)
        );
    }
    upload(runs, if bench { 20 << 20 } else { 64 << 10 });
    metrics(&network, runs);
}

/// Reading a checksum-file upload as the loader page receives it
/// (`multipart/form-data`, a CSRF field beside the file), against copying
/// the body once, as a baseline in the same run.
fn upload(runs: usize, size: usize) {
    let line = b"0123456789abcdef0123456789abcdef  linux-x86_64/de/firefox-120.0.tar.bz2\n";
    let file: Vec<u8> = line.iter().copied().cycle().take(size).collect();
    let body = bouncer::http::multipart::encode(
        &[("csrf", None, b"tok"), ("file", Some("SHA256SUMS"), &file)],
        "XY",
    );
    let copy = median(
        (0..runs)
            .map(|_| {
                let s = Instant::now();
                std::hint::black_box(body.clone());
                s.elapsed()
            })
            .collect(),
    );
    let parse = median(
        (0..runs)
            .map(|_| {
                let s = Instant::now();
                let form = bouncer::http::form::Form::parse(
                    Some("multipart/form-data; boundary=XY"),
                    std::hint::black_box(&body),
                )
                .expect("the upload parses");
                let took = s.elapsed();
                assert_eq!(form.file("file").map(|f| f.data.len()), Some(file.len()));
                took
            })
            .collect(),
    );
    println!(
        "  upload of {:.1} MB: copy {:.2} ms, Form::parse {:.2} ms ({:.1}× copy)",
        size as f64 / 1e6,
        copy.as_secs_f64() * 1e3,
        parse.as_secs_f64() * 1e3,
        parse.as_secs_f64() / copy.as_secs_f64().max(1e-9)
    );
}

/// `/metrics` on this network, against reading the configuration once.
fn metrics(network: &Arc<Network>, runs: usize) {
    let app = bouncer::bounce::Bouncer::new(
        network.clone(),
        bouncer::config::Config::default(),
        Arc::new(bouncer::counters::Counters::off()),
    );
    let traffic = bouncer::metrics::Traffic::new();
    traffic.redirect(StatusCode::FOUND, Duration::from_micros(3));
    let render = median(
        (0..runs)
            .map(|_| {
                let s = Instant::now();
                let text = bouncer::metrics::render(&app, &traffic, Some(0));
                let took = s.elapsed();
                assert!(text.contains("bouncer_requests_total"), "{text}");
                took
            })
            .collect(),
    );
    println!("  /metrics render {:>31.2} ms", render.as_secs_f64() * 1e3);
}
