//! SPEC §10 durability under fire: the real server, real test mirrors
//! checked by sentry, redirect load, writes through the control socket and
//! the counter flushes all running, and `kill -9` at random moments. After
//! every crash the database opens, every acknowledged write is there, and
//! the downloads counted lose at most the last flush interval: never more
//! than the redirects received, never fewer than those received minus the
//! ones received in the last flush interval (and a margin) before the kill.
//!
//! `BOUNCER_TEST_SEED=N` replays a run; the seed and the figures are printed
//! (`cargo test crash -- --nocapture`).

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::common::mirror::{Behaviour, Files, Mirror};
use crate::common::net::{self, expand};
use crate::common::{Env, KeepAlive, Server, first_column, poll};

/// Crashes per run.
const ROUNDS: usize = 4;
/// Redirect clients, each on a keep-alive connection.
const CLIENTS: usize = 2;
/// The server's counter flush interval (`--flush-interval-ms`; 1 s by
/// default): short, so kills often land in a flush's commit and a round
/// lasts many intervals.
const FLUSH: Duration = Duration::from_millis(100);
/// Slack on top of the flush interval for the flush's own commit, which
/// may wait behind a write, and a busy machine's scheduling: generous, as
/// a loaded 2-core machine may hold a flush thread off for a second or
/// more; the bound still says that only the last moments are lost.
const MARGIN: Duration = Duration::from_millis(2500);
const BOUNCE: &str = "/?product=fx&os=win&lang=de";

/// The product's files in both languages.
fn files() -> Files {
    net::files(expand("/fx/:lang/setup.exe", &["en-US", "de"]))
}

/// Redirect clients: each records when it received every 302, until the
/// server goes away (a refused connection) or `stop`.
struct Load {
    stop: Arc<AtomicBool>,
    /// 302s received so far.
    progress: Arc<AtomicU64>,
    clients: Vec<JoinHandle<Vec<Instant>>>,
}

impl Load {
    fn start(port: u16) -> Load {
        let stop = Arc::new(AtomicBool::new(false));
        let progress = Arc::new(AtomicU64::new(0));
        let clients = (0..CLIENTS)
            .map(|_| {
                let stop = stop.clone();
                let progress = progress.clone();
                std::thread::spawn(move || {
                    let mut received = Vec::new();
                    'connect: while !stop.load(Ordering::Relaxed) {
                        let Ok(mut c) = KeepAlive::connect(port) else {
                            break;
                        };
                        while !stop.load(Ordering::Relaxed) {
                            match c.get(BOUNCE) {
                                Ok(r) if r.status == 302 => {
                                    received.push(Instant::now());
                                    progress.fetch_add(1, Ordering::Relaxed);
                                }
                                Ok(r) => panic!("GET {BOUNCE}: {r:?}"),
                                // Cut by the crash: try again, refused then.
                                Err(_) => continue 'connect,
                            }
                        }
                    }
                    received
                })
            })
            .collect();
        Load {
            stop,
            progress,
            clients,
        }
    }

    /// Every 302's arrival, once the clients have stopped.
    fn finish(self) -> Vec<Instant> {
        self.stop.store(true, Ordering::Relaxed);
        self.clients
            .into_iter()
            .flat_map(|c| c.join().expect("a redirect client"))
            .collect()
    }
}

/// Management commands through the control socket, one after another:
/// mirrors (on the real test mirrors, so sentry checks them) and regions.
/// Returns the names of those acknowledged (exit 0).
fn writer(
    env: Arc<Env>,
    urls: Vec<String>,
    first: usize,
    stop: Arc<AtomicBool>,
) -> JoinHandle<Acked> {
    std::thread::spawn(move || {
        let mut acked = Acked::default();
        let mut n = first;
        while !stop.load(Ordering::Relaxed) {
            n += 1;
            if n.is_multiple_of(2) {
                let name = format!("w{n}");
                // A directory of its own on a real test mirror: one
                // mirror per address.
                let url = format!("{}/{name}", urls[n % urls.len()].trim_end_matches('/'));
                if env.run(&["mirror", "add", &name, &url]).code == 0 {
                    acked.mirrors.insert(name);
                }
            } else {
                let name = format!("r{n}");
                if env.run(&["region", "add", &name]).code == 0 {
                    acked.regions.insert(name);
                }
            }
        }
        acked.next = n;
        acked
    })
}

#[derive(Default)]
struct Acked {
    mirrors: BTreeSet<String>,
    regions: BTreeSet<String>,
    /// The last number used.
    next: usize,
}

/// Every acknowledged write is in the database (read with no server).
fn assert_present(env: &Env, acked: &Acked, round: usize) {
    for (what, acked) in [("mirror", &acked.mirrors), ("region", &acked.regions)] {
        let listed: BTreeSet<String> = first_column(&env.ok(&[what, "list"])).into_iter().collect();
        let missing: Vec<_> = acked.difference(&listed).collect();
        assert!(
            missing.is_empty(),
            "round {round}: acknowledged {what}s lost: {missing:?}"
        );
    }
}

fn serve(env: &Env) -> Server {
    env.serve_with_sentry_on_demand(&[
        "--check-timeout",
        "2",
        "--flush-interval-ms",
        &FLUSH.as_millis().to_string(),
    ])
}

#[test]
fn kill_9_under_load_loses_no_acknowledged_write_and_at_most_a_flush_of_counts() {
    let seed = crate::common::test_seed("crash");
    let mut rng = fastrand::Rng::with_seed(seed);

    let files = files();
    let mirrors = [
        Mirror::start(&files, Behaviour::Healthy),
        Mirror::start(&files, Behaviour::Healthy),
    ];
    let urls: Vec<String> = mirrors.iter().map(|m| m.url.clone()).collect();
    let env = Arc::new(Env::new());
    env.setup(&[
        "product add fx --lang en-US --lang de",
        "location add fx win /fx/:lang/setup.exe",
        &format!("mirror add a {}", urls[0]),
        &format!("mirror add b {}", urls[1]),
        "status set a present",
        "status set b present",
    ]);

    let mut acked = Acked::default();
    let mut counted_before = 0;
    let mut received_total = 0;
    let mut report = Vec::new();
    for round in 1..=ROUNDS {
        let server = serve(&env);
        let load = Load::start(server.port);
        let stop_writing = Arc::new(AtomicBool::new(false));
        let writes = writer(env.clone(), urls.clone(), acked.next, stop_writing.clone());
        // Kill at a random moment once redirects flow (a bounded wait for
        // progress; the random delay is the experiment, not a wait).
        let flowing = poll(Duration::from_secs(20), Duration::from_millis(10), || {
            (load.progress.load(Ordering::Relaxed) >= 100).then_some(())
        });
        assert!(
            flowing.is_some(),
            "round {round}: no redirects\n{}",
            server.log()
        );
        std::thread::sleep(Duration::from_millis(rng.u64(2000..5000)));
        let kill = Instant::now();
        server.crash();
        stop_writing.store(true, Ordering::Relaxed);
        let mut received = load.finish();
        received.sort();
        let round_acked = writes.join().expect("the writer");
        assert!(
            !round_acked.mirrors.is_empty() || !round_acked.regions.is_empty(),
            "round {round}: no write was acknowledged"
        );

        // The database opens (no server holds it now) with every write
        // acknowledged so far.
        acked.mirrors.extend(round_acked.mirrors.iter().cloned());
        acked.regions.extend(round_acked.regions.iter().cloned());
        acked.next = round_acked.next;
        assert_present(&env, &acked, round);

        let counted_total = env.stats().total;
        let counted = counted_total - counted_before;
        let made = received.len() as u64;
        let window = received
            .iter()
            .filter(|t| **t + FLUSH + MARGIN >= kill)
            .count() as u64;
        assert!(made > 0, "round {round}: no redirect was received");
        assert!(
            counted <= made,
            "round {round}: {counted} downloads counted, only {made} redirects received"
        );
        assert!(
            made - counted <= window,
            "round {round}: {} downloads lost, more than the {window} received in the last {:?} before the kill",
            made - counted,
            FLUSH + MARGIN
        );
        // The lost ones are about the last received: how far back they go.
        let lost = made - counted;
        let lost_ms = received
            .len()
            .checked_sub(lost as usize + 1)
            .map_or(0, |i| {
                kill.saturating_duration_since(received[i]).as_millis()
            });
        report.push(format!(
            "round {round}: {made} redirects, {counted} counted, {lost} lost (the last ~{lost_ms} ms; bound {window}); {} mirrors and {} regions acknowledged",
            round_acked.mirrors.len(),
            round_acked.regions.len()
        ));
        counted_before = counted_total;
        received_total += made;
    }

    // One more start: it serves, and a clean stop counts exactly.
    let server = serve(&env);
    let mut c = KeepAlive::connect(server.port).expect("connect after the crashes");
    for _ in 0..50 {
        assert_eq!(c.get(BOUNCE).expect("a redirect").status, 302);
    }
    drop(c);
    let (status, log) = server.stop();
    assert!(status.success(), "{status:?}\n{log}");
    assert_eq!(env.stats().total, counted_before + 50);
    assert_present(&env, &acked, ROUNDS + 1);

    println!("{ROUNDS} kill -9 rounds survived (seed {seed}):");
    for line in &report {
        println!("  {line}");
    }
    println!(
        "  in all: {received_total} redirects, {counted_before} counted ({} lost); {} mirrors and {} regions acknowledged, all present",
        received_total - counted_before,
        acked.mirrors.len(),
        acked.regions.len()
    );
    drop(mirrors);
}
