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

/// Makes the HTTP requests of a check.
pub trait Probe: Sync {
    /// HEAD (or ranged GET) `url`.
    fn head(&self, url: &str) -> Observation;
    /// GET `url` and hash the body with the digests in `kinds`.
    fn digests(&self, url: &str, kinds: Kinds) -> Observation;
    /// GET at most `max` bytes of `url`: (bytes received, milliseconds).
    fn measure(&self, url: &str, max: u64) -> Option<(u64, u64)>;
}

impl Probe for super::probe::Prober {
    fn head(&self, url: &str) -> Observation {
        super::probe::Prober::head(self, url)
    }
    fn digests(&self, url: &str, kinds: Kinds) -> Observation {
        super::probe::Prober::digests_of(self, url, kinds)
    }
    fn measure(&self, url: &str, max: u64) -> Option<(u64, u64)> {
        super::probe::Prober::measure(self, url, max)
    }
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
    next: usize,
    in_flight: usize,
    faults: usize,
    files: Vec<FileResult>,
    downloaded: (u64, u64),
}

enum Job<'a> {
    Base(usize),
    File(usize, &'a Check),
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
                                        found = Some(Job::File(i, &plans[i].checks[p.next]));
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
                    let started = Instant::now();
                    let seen = probe.head(&format!("{}/", plans[i].base_url));
                    let verdict = judge_base(&seen);
                    let mut st = state.lock().unwrap_or_else(|e| e.into_inner());
                    // Latency only from an answer: a refused connection
                    // fails in a millisecond and has none (0). An answer
                    // takes at least 1 ms, so 0 always means none.
                    st[i].latency_ms = match seen {
                        Observation::Answer { .. } => (started.elapsed().as_millis() as u64).max(1),
                        Observation::Failed { .. } => 0,
                    };
                    st[i].base = Some(Some(verdict));
                    st[i].base_problem = base_problem(&seen);
                }
                Job::File(i, check) => {
                    let url = format!("{}{}", plans[i].base_url, check.path);
                    let started = Instant::now();
                    let seen = if check.hash {
                        probe.digests(&url, Kinds::strongest(&check.expected))
                    } else {
                        probe.head(&url)
                    };
                    let elapsed_ms = started.elapsed().as_millis() as u64;
                    let verdict = judge_file(&check.expected, &seen);
                    let measured = if check.measure && verdict == FileVerdict::Present {
                        probe.measure(&url, MEASURE_BYTES)
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

    impl Probe for Table {
        fn head(&self, url: &str) -> Observation {
            let host = self.enter(url);
            self.leave(&host);
            if self.down.iter().any(|d| host.starts_with(d)) {
                Observation::Failed {
                    failure: Failure::Connection,
                    detail: "refused".into(),
                }
            } else {
                Observation::Answer {
                    status: 200,
                    content_type: None,
                    length: None,
                    digests: None,
                    elapsed_ms: 1,
                }
            }
        }
        fn digests(&self, url: &str, _: Kinds) -> Observation {
            self.head(url)
        }
        fn measure(&self, _: &str, max: u64) -> Option<(u64, u64)> {
            Some((max, 1))
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

    #[test]
    fn a_stop_request_starts_nothing() {
        let t = table(vec![]);
        let out = execute(&plans(2, 5), &t, limits(4, 2), &AtomicBool::new(true));
        assert!(out.iter().all(|r| r.base.is_none() && r.files.is_empty()));
    }
}
