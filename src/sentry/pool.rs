//! Runs a plan's checks on a rayon pool: as many checks at once as the
//! pool has threads, at most `per_mirror` on any one mirror, each mirror's
//! base URL first (files only once it answers), and nothing new after the
//! deadline or a stop request.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Condvar, Mutex};
use std::time::Instant;

use super::plan::{Check, MirrorPlan};
use super::probe::Kinds;
use super::verdict::{
    FileResult, FileVerdict, MirrorResult, Observation, base_problem, file_problem, judge_base,
    judge_file,
};
use crate::model::{Family, Reach, Reaches};

/// Makes the HTTP requests of a check, over `via` (`None`: either
/// address family).
pub trait Probe: Sync {
    /// The address families `url`'s host has addresses in.
    fn families(&self, url: &str) -> Vec<Family>;
    /// HEAD (or ranged GET) `url`.
    fn head(&self, url: &str, via: Option<Family>) -> Observation;
    /// GET `url` and hash the body with the digests in `kinds`.
    fn digests(&self, url: &str, kinds: Kinds, via: Option<Family>) -> Observation;
    /// GET at most `max` bytes of `url`: (bytes received, milliseconds).
    fn measure(&self, url: &str, max: u64, via: Option<Family>) -> Option<(u64, u64)>;
    /// When the trace file at `url` says its mirror last synced (Unix
    /// seconds), or why it cannot tell.
    fn trace(&self, url: &str, via: Option<Family>) -> Result<u64, String>;
}

impl Probe for super::probe::Prober {
    fn families(&self, url: &str) -> Vec<Family> {
        super::probe::Prober::families(self, url)
    }
    fn head(&self, url: &str, via: Option<Family>) -> Observation {
        super::probe::Prober::head(self, url, via)
    }
    fn digests(&self, url: &str, kinds: Kinds, via: Option<Family>) -> Observation {
        super::probe::Prober::digests_of(self, url, kinds, via)
    }
    fn measure(&self, url: &str, max: u64, via: Option<Family>) -> Option<(u64, u64)> {
        super::probe::Prober::measure(self, url, max, via)
    }
    fn trace(&self, url: &str, via: Option<Family>) -> Result<u64, String> {
        super::probe::Prober::trace(self, url, via)
    }
}

/// What the base-URL check found.
struct BaseCheck {
    /// The answer that stands for the mirror: the first family's that
    /// answered properly, or the first failure.
    seen: Observation,
    /// Milliseconds that answer took (0: none answered).
    latency_ms: u64,
    /// Per family.
    reaches: Reaches,
    /// The family the file checks go over (one that answered).
    via: Option<Family>,
    /// Why the base URL failed over each family that did not answer.
    faults: Vec<(Family, String)>,
}

/// Checks `base_url` over each address family its host has addresses in
/// (IPv4 first), apart: a mirror whose IPv6 is broken still serves IPv4
/// clients, and its files are checked over the family that answered. A
/// name that does not resolve is tried once, either way, for the error.
fn check_base(probe: &impl Probe, base_url: &str) -> BaseCheck {
    let url = format!("{base_url}/");
    let timed = |via| {
        let started = Instant::now();
        let seen = probe.head(&url, via);
        let latency_ms = match seen {
            // An answer takes at least 1 ms, so 0 always means none: a
            // refused connection fails in a millisecond and has no latency.
            Observation::Answer { .. } => (started.elapsed().as_millis() as u64).max(1),
            Observation::Failed { .. } => 0,
        };
        (seen, latency_ms)
    };
    let families = probe.families(&url);
    if families.is_empty() {
        let (seen, latency_ms) = timed(None);
        return BaseCheck {
            seen,
            latency_ms,
            reaches: Reaches::default(),
            via: None,
            faults: Vec::new(),
        };
    }
    let mut reaches = Reaches {
        v4: Reach::NoAddress,
        v6: Reach::NoAddress,
    };
    let mut up: Option<(Observation, u64, Family)> = None;
    let mut failed: Option<Observation> = None;
    let mut faults = Vec::new();
    for family in families {
        let (seen, latency_ms) = timed(Some(family));
        let verdict = judge_base(&seen);
        let answered = verdict.is_ok();
        if let Err(why) = verdict {
            faults.push((family, why));
        }
        *reaches.of_mut(family) = if answered { Reach::Up } else { Reach::Down };
        if answered && up.is_none() {
            up = Some((seen, latency_ms, family));
        } else if !answered && failed.is_none() {
            failed = Some(seen);
        }
    }
    match (up, failed) {
        (Some((seen, latency_ms, family)), _) => BaseCheck {
            seen,
            latency_ms,
            reaches,
            via: Some(family),
            faults,
        },
        (None, failed) => BaseCheck {
            seen: failed.expect("a family was checked"),
            latency_ms: 0,
            reaches,
            via: None,
            faults,
        },
    }
}

/// A sample of the mirror's files over each family that answered besides
/// `via` (its files are checked over `via`): the first planned file. A
/// family over which it is not there serves nobody of that family, with
/// the reason in `faults`; the mirror as a whole is judged over `via`.
fn sample_other_families(
    probe: &impl Probe,
    plan: &MirrorPlan,
    via: Option<Family>,
    mut reaches: Reaches,
    mut faults: Vec<(Family, String)>,
) -> (Reaches, Vec<(Family, String)>) {
    let (Some(via), Some(sample)) = (via, plan.checks.first()) else {
        return (reaches, faults);
    };
    let others: Vec<Family> = Family::ALL
        .into_iter()
        .filter(|&f| f != via && reaches.of(f) == Reach::Up)
        .collect();
    if others.is_empty() {
        return (reaches, faults);
    }
    let url = format!("{}{}", plan.base_url, sample.path);
    // Only a file that is there over `via` says anything about the others:
    // one not synced yet is missing over every family.
    if judge_file(&sample.expected, &probe.head(&url, Some(via))) != FileVerdict::Present {
        return (reaches, faults);
    }
    for family in others {
        match judge_file(&sample.expected, &probe.head(&url, Some(family))) {
            FileVerdict::Missing(why) | FileVerdict::Fault(why) => {
                *reaches.of_mut(family) = Reach::Down;
                faults.push((family, format!("{}: {why}", sample.path)));
            }
            FileVerdict::Present | FileVerdict::Inconclusive(_) => {}
        }
    }
    (reaches, faults)
}

/// How much a speed measurement downloads at most.
pub const MEASURE_BYTES: u64 = 4 * 1024 * 1024;

/// How hard to work.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Checks in flight at most (the pool's size).
    pub threads: usize,
    /// Checks in flight on one mirror at most.
    pub per_mirror: usize,
    /// Start nothing after this.
    pub deadline: Instant,
    /// Stop taking checks off a mirror after this many faults on it.
    pub faults_per_mirror: usize,
}

/// Per mirror progress.
struct Progress {
    /// Base check: not started, running, or its verdict.
    base: Option<Option<Result<(), String>>>,
    /// The kind of problem the base check found.
    base_problem: Option<crate::model::Problem>,
    latency_ms: u64,
    /// Per family, from the base check.
    reaches: Reaches,
    /// Why the base URL failed over a family.
    family_faults: Vec<(Family, String)>,
    /// The family the file checks go over.
    via: Option<Family>,
    /// What the other-scheme URL showed.
    alt: Reach,
    /// When the trace file says it synced (0: unknown).
    synced_at: u64,
    next: usize,
    in_flight: usize,
    faults: usize,
    files: Vec<FileResult>,
    downloaded: (u64, u64),
}

enum Job<'a> {
    Base(usize),
    /// A file of mirror `usize`, over the family its base check answered.
    File(usize, &'a Check, Option<Family>),
}

/// Runs every check in `plans` and returns what each mirror showed.
pub fn execute(
    plans: &[MirrorPlan],
    probe: &impl Probe,
    limits: Limits,
    stop: &AtomicBool,
) -> Vec<MirrorResult> {
    let state = Mutex::new(
        plans
            .iter()
            .map(|_| Progress {
                base: None,
                base_problem: None,
                latency_ms: 0,
                reaches: Reaches::default(),
                family_faults: Vec::new(),
                via: None,
                alt: Reach::Unknown,
                synced_at: 0,
                next: 0,
                in_flight: 0,
                faults: 0,
                files: Vec::new(),
                downloaded: (0, 0),
            })
            .collect::<Vec<_>>(),
    );
    let wake = Condvar::new();
    let cursor = Mutex::new(0usize);
    let threads = limits.threads.max(1).min(
        plans
            .iter()
            .map(|p| p.checks.len() + 1)
            .sum::<usize>()
            .max(1),
    );
    let worker = || {
        loop {
            let job = {
                let mut st = state.lock().unwrap_or_else(|e| e.into_inner());
                loop {
                    if stop.load(Ordering::Relaxed) || Instant::now() >= limits.deadline {
                        break None;
                    }
                    let mut start = cursor.lock().unwrap_or_else(|e| e.into_inner());
                    let n = plans.len();
                    let mut found = None;
                    let mut busy = false;
                    for k in 0..n {
                        let i = (*start + k) % n;
                        let p = &mut st[i];
                        match &p.base {
                            None => {
                                p.base = Some(None);
                                found = Some(Job::Base(i));
                            }
                            Some(None) => busy = true,
                            Some(Some(Err(_))) => {}
                            Some(Some(Ok(()))) => {
                                if p.next < plans[i].checks.len()
                                    && p.faults < limits.faults_per_mirror
                                {
                                    if p.in_flight < limits.per_mirror {
                                        found = Some(Job::File(i, &plans[i].checks[p.next], p.via));
                                        p.next += 1;
                                        p.in_flight += 1;
                                    } else {
                                        busy = true;
                                    }
                                } else if p.in_flight > 0 {
                                    busy = true;
                                }
                            }
                        }
                        if found.is_some() {
                            // Next time start after this mirror: spread the load.
                            *start = (i + 1) % n;
                            break;
                        }
                    }
                    drop(start);
                    match found {
                        Some(job) => break Some(job),
                        None if busy => {
                            st = wake.wait(st).unwrap_or_else(|e| e.into_inner());
                        }
                        None => break None,
                    }
                }
            };
            let Some(job) = job else {
                wake.notify_all();
                return;
            };
            match job {
                Job::Base(i) => {
                    let base = check_base(probe, &plans[i].base_url);
                    // The other scheme's root, over the family that
                    // answered: up or down on its own.
                    let alt = match &plans[i].alt_url {
                        Some(alt) if judge_base(&base.seen).is_ok() => {
                            let seen = probe.head(&format!("{alt}/"), base.via);
                            if judge_base(&seen).is_ok() {
                                Reach::Up
                            } else {
                                Reach::Down
                            }
                        }
                        _ => Reach::Unknown,
                    };
                    let synced_at = match &plans[i].trace {
                        Some(trace) if judge_base(&base.seen).is_ok() => {
                            let url = format!("{}{trace}", plans[i].base_url);
                            probe.trace(&url, base.via).unwrap_or(0)
                        }
                        _ => 0,
                    };
                    let (reaches, faults) = sample_other_families(
                        probe,
                        &plans[i],
                        base.via,
                        base.reaches,
                        base.faults,
                    );
                    let mut st = state.lock().unwrap_or_else(|e| e.into_inner());
                    let p = &mut st[i];
                    p.latency_ms = base.latency_ms;
                    p.reaches = reaches;
                    p.family_faults = faults;
                    p.via = base.via;
                    p.alt = alt;
                    p.synced_at = synced_at;
                    p.base = Some(Some(judge_base(&base.seen)));
                    p.base_problem = base_problem(&base.seen);
                }
                Job::File(i, check, via) => {
                    let url = format!("{}{}", plans[i].base_url, check.path);
                    let started = Instant::now();
                    let seen = if check.hash {
                        probe.digests(&url, Kinds::strongest(&check.expected), via)
                    } else {
                        probe.head(&url, via)
                    };
                    let elapsed_ms = started.elapsed().as_millis() as u64;
                    let verdict = judge_file(&check.expected, &seen);
                    let measured = if check.measure && verdict == FileVerdict::Present {
                        probe.measure(&url, MEASURE_BYTES, via)
                    } else {
                        None
                    };
                    let mut st = state.lock().unwrap_or_else(|e| e.into_inner());
                    let p = &mut st[i];
                    p.in_flight -= 1;
                    if matches!(verdict, FileVerdict::Fault(_)) {
                        p.faults += 1;
                    }
                    if let Observation::Answer {
                        digests: Some(d), ..
                    } = &seen
                    {
                        p.downloaded.0 += d.bytes;
                        p.downloaded.1 += elapsed_ms;
                    }
                    if let Some((bytes, ms)) = measured {
                        p.downloaded.0 += bytes;
                        p.downloaded.1 += ms;
                    }
                    p.files.push(FileResult {
                        location: check.location,
                        lang: check.lang.clone(),
                        path: check.path.clone(),
                        problem: file_problem(&seen, &verdict),
                        verdict,
                        elapsed_ms,
                    });
                }
            }
            wake.notify_all();
        }
    };
    match rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .thread_name(|i| format!("sentry-{i}"))
        .build()
    {
        Ok(pool) => pool.scope(|s| {
            for _ in 0..threads {
                s.spawn(|_| worker());
            }
        }),
        // No threads to be had: check on this one.
        Err(_) => worker(),
    }
    let st = state.into_inner().unwrap_or_else(|e| e.into_inner());
    plans
        .iter()
        .zip(st)
        .map(|(plan, p)| MirrorResult {
            mirror: plan.mirror,
            base: p.base.flatten(),
            base_problem: p.base_problem,
            latency_ms: p.latency_ms,
            reaches: p.reaches,
            family_faults: p.family_faults,
            alt: p.alt,
            synced_at: p.synced_at,
            files: p.files,
            downloaded: p.downloaded,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{LocationId, MirrorId};
    use crate::sentry::verdict::{Expected, Failure};
    use std::collections::HashMap;
    use std::sync::atomic::AtomicUsize;

    /// Answers from a table and records concurrency per host.
    struct Table {
        down: Vec<&'static str>,
        in_flight: Mutex<HashMap<String, usize>>,
        max_per_host: AtomicUsize,
        max_total: AtomicUsize,
        total: AtomicUsize,
    }

    impl Table {
        fn enter(&self, url: &str) -> String {
            let host = url.split('/').nth(2).unwrap_or("").to_string();
            let mut f = self.in_flight.lock().unwrap();
            let n = f.entry(host.clone()).or_default();
            *n += 1;
            self.max_per_host.fetch_max(*n, Ordering::SeqCst);
            let t = self.total.fetch_add(1, Ordering::SeqCst) + 1;
            self.max_total.fetch_max(t, Ordering::SeqCst);
            host
        }
        fn leave(&self, host: &str) {
            *self.in_flight.lock().unwrap().get_mut(host).unwrap() -= 1;
            self.total.fetch_sub(1, Ordering::SeqCst);
        }
    }

    /// A 200, or a refused connection.
    fn answer(ok: bool) -> Observation {
        if ok {
            Observation::Answer {
                status: 200,
                content_type: None,
                length: None,
                digests: None,
                elapsed_ms: 1,
            }
        } else {
            Observation::Failed {
                failure: Failure::Connection,
                detail: "refused".into(),
            }
        }
    }

    impl Probe for Table {
        fn families(&self, _: &str) -> Vec<Family> {
            Vec::new()
        }
        fn head(&self, url: &str, _: Option<Family>) -> Observation {
            let host = self.enter(url);
            self.leave(&host);
            answer(!self.down.iter().any(|d| host.starts_with(d)))
        }
        fn digests(&self, url: &str, _: Kinds, via: Option<Family>) -> Observation {
            self.head(url, via)
        }
        fn measure(&self, _: &str, max: u64, _: Option<Family>) -> Option<(u64, u64)> {
            Some((max, 1))
        }
        /// A trace file says the time in its host name's digits (none: unreadable).
        fn trace(&self, url: &str, _: Option<Family>) -> Result<u64, String> {
            let digits: String = url.chars().filter(char::is_ascii_digit).collect();
            digits.parse().map_err(|_| "no time".to_string())
        }
    }

    fn plans(mirrors: usize, files: usize) -> Vec<MirrorPlan> {
        (0..mirrors)
            .map(|m| MirrorPlan {
                mirror: MirrorId(m as u64),
                name: format!("m{m}"),
                base_url: format!("http://m{m}.test"),
                checks: (0..files)
                    .map(|f| Check {
                        location: LocationId(f as u64),
                        lang: String::new(),
                        path: format!("/f{f}"),
                        expected: Expected::default(),
                        hash: false,
                        measure: false,
                    })
                    .collect(),
                alt_url: None,
                trace: None,
            })
            .collect()
    }

    fn table(down: Vec<&'static str>) -> Table {
        Table {
            down,
            in_flight: Mutex::default(),
            max_per_host: AtomicUsize::new(0),
            max_total: AtomicUsize::new(0),
            total: AtomicUsize::new(0),
        }
    }

    fn limits(threads: usize, per_mirror: usize) -> Limits {
        Limits {
            threads,
            per_mirror,
            deadline: Instant::now() + std::time::Duration::from_secs(60),
            faults_per_mirror: 3,
        }
    }

    #[test]
    fn trace_files_are_read_when_the_base_url_answers() {
        // m0 has a trace file saying 1700000000; m1 none; m2 is down.
        let t = table(vec!["m2.test"]);
        let mut p = plans(3, 0);
        p[0].trace = Some("/trace/1700000000".into());
        p[2].trace = Some("/trace/1800000000".into());
        let out = execute(&p, &t, limits(4, 2), &AtomicBool::new(false));
        let synced: Vec<u64> = out.iter().map(|r| r.synced_at).collect();
        // m0's URL has digits "0" then the time: the time. m2 is down, so
        // its trace file is not read.
        assert_eq!(synced, [1_700_000_000, 0, 0]);
    }

    #[test]
    fn the_other_scheme_root_is_checked_on_its_own() {
        // m0's https root is down, m1's up; m2's base URL is down, so its
        // other root is not tried.
        let t = table(vec!["m0.alt", "m2.test"]);
        let mut p = plans(3, 1);
        for (m, plan) in p.iter_mut().enumerate() {
            plan.alt_url = Some(format!("https://m{m}.alt"));
        }
        let out = execute(&p, &t, limits(4, 2), &AtomicBool::new(false));
        let alts: Vec<Reach> = out.iter().map(|r| r.alt).collect();
        assert_eq!(alts, [Reach::Down, Reach::Up, Reach::Unknown]);
        assert_eq!(out[0].base, Some(Ok(())), "the base URL still serves");
    }

    #[test]
    fn every_check_runs_within_the_limits() {
        let t = table(vec![]);
        let out = execute(&plans(3, 20), &t, limits(8, 2), &AtomicBool::new(false));
        assert!(
            out.iter()
                .all(|r| r.base == Some(Ok(())) && r.files.len() == 20)
        );
        assert!(t.max_per_host.load(Ordering::SeqCst) <= 2);
        assert!(t.max_total.load(Ordering::SeqCst) <= 8);
    }

    #[test]
    fn an_unreachable_mirror_gets_no_file_checks() {
        let t = table(vec!["m1."]);
        let out = execute(&plans(2, 5), &t, limits(4, 2), &AtomicBool::new(false));
        assert_eq!(
            out[1].base.as_ref().unwrap().as_ref().unwrap_err(),
            "connection failed: refused"
        );
        assert!(out[1].files.is_empty());
        assert_eq!(out[0].files.len(), 5);
        // Only the answer has a latency (at least 1 ms).
        assert_eq!(out[1].latency_ms, 0);
        assert!(out[0].latency_ms >= 1);
    }

    /// Hosts with addresses in both families; IPv6 refuses on hosts
    /// starting with one of `v6_down`. Records the way each request went.
    struct DualStack {
        v6_down: Vec<&'static str>,
        ways: Mutex<Vec<(String, Option<Family>)>>,
    }

    impl Probe for DualStack {
        fn families(&self, _: &str) -> Vec<Family> {
            Family::ALL.to_vec()
        }
        fn head(&self, url: &str, via: Option<Family>) -> Observation {
            self.ways.lock().unwrap().push((url.to_string(), via));
            let host = url.split('/').nth(2).unwrap_or("");
            answer(via != Some(Family::V6) || !self.v6_down.iter().any(|d| host.starts_with(d)))
        }
        fn digests(&self, url: &str, _: Kinds, via: Option<Family>) -> Observation {
            self.head(url, via)
        }
        fn measure(&self, _: &str, max: u64, _: Option<Family>) -> Option<(u64, u64)> {
            Some((max, 1))
        }
        fn trace(&self, _: &str, _: Option<Family>) -> Result<u64, String> {
            Err("no trace files here".into())
        }
    }

    /// Answers the base URL over both families, files over IPv4 only
    /// (IPv6 serves another document root).
    struct FilesOverV4;

    impl Probe for FilesOverV4 {
        fn families(&self, _: &str) -> Vec<Family> {
            Family::ALL.to_vec()
        }
        fn head(&self, url: &str, via: Option<Family>) -> Observation {
            let base = url.ends_with(".test/");
            if (base || via == Some(Family::V4)) && !url.ends_with("/missing") {
                answer(true)
            } else {
                Observation::Answer {
                    status: 404,
                    content_type: None,
                    length: None,
                    digests: None,
                    elapsed_ms: 1,
                }
            }
        }
        fn digests(&self, url: &str, _: Kinds, via: Option<Family>) -> Observation {
            self.head(url, via)
        }
        fn measure(&self, _: &str, max: u64, _: Option<Family>) -> Option<(u64, u64)> {
            Some((max, 1))
        }
        fn trace(&self, _: &str, _: Option<Family>) -> Result<u64, String> {
            Err("none".into())
        }
    }

    #[test]
    fn a_sample_file_is_checked_over_the_other_family_too() {
        let out = execute(
            &plans(1, 3),
            &FilesOverV4,
            limits(2, 2),
            &AtomicBool::new(false),
        );
        let r = &out[0];
        assert_eq!(r.base, Some(Ok(())), "the mirror serves over IPv4");
        assert_eq!(r.files.len(), 3);
        assert_eq!((r.reaches.v4, r.reaches.v6), (Reach::Up, Reach::Down));
        assert!(
            r.family_faults
                .iter()
                .any(|(f, why)| *f == Family::V6 && why.starts_with("/f0: ")),
            "{:?}",
            r.family_faults
        );
        // A file not there over any family (not synced yet) says nothing
        // about IPv6.
        let mut p = plans(1, 1);
        p[0].checks[0].path = "/missing".into();
        let out = execute(&p, &FilesOverV4, limits(2, 2), &AtomicBool::new(false));
        assert_eq!(
            (out[0].reaches.v4, out[0].reaches.v6),
            (Reach::Up, Reach::Up)
        );
    }

    #[test]
    fn each_family_is_checked_apart_and_files_go_over_one_that_answers() {
        let probe = DualStack {
            v6_down: vec!["m1."],
            ways: Mutex::new(Vec::new()),
        };
        let out = execute(&plans(2, 3), &probe, limits(4, 2), &AtomicBool::new(false));
        let found = |r: &MirrorResult| (r.reaches.v4, r.reaches.v6);
        assert_eq!(found(&out[0]), (Reach::Up, Reach::Up));
        assert_eq!(found(&out[1]), (Reach::Up, Reach::Down));
        // IPv4 answered: the mirror is in, with every file checked over it.
        assert_eq!(out[1].base, Some(Ok(())));
        assert_eq!(out[1].files.len(), 3);
        let ways = probe.ways.lock().unwrap();
        let of = |url: &str| -> Vec<Option<Family>> {
            ways.iter().filter(|(u, _)| u == url).map(|w| w.1).collect()
        };
        assert_eq!(of("http://m1.test/"), [Some(Family::V4), Some(Family::V6)]);
        // The sample over IPv4 and the file's own check: never over IPv6,
        // where the base URL failed.
        assert!(
            of("http://m1.test/f0")
                .iter()
                .all(|w| *w == Some(Family::V4))
        );
    }

    #[test]
    fn a_stop_request_starts_nothing() {
        let t = table(vec![]);
        let out = execute(&plans(2, 5), &t, limits(4, 2), &AtomicBool::new(true));
        assert!(out.iter().all(|r| r.base.is_none() && r.files.is_empty()));
    }
}
