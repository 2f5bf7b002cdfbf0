//! Judging what checks saw. Pure functions of observations and the
//! previous state (and the clock, passed in): no I/O, fully unit-tested.

use std::collections::{HashMap, HashSet};

use crate::model::{
    Availability, Family, LocationId, MirrorCheck, MirrorHealth, MirrorId, Problem, Reach,
};

/// How an HTTP exchange failed below the HTTP level.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Failure {
    /// No answer in time.
    Timeout,
    /// The host name does not resolve.
    Dns,
    /// The connection was refused: nothing listens on the port.
    Refused,
    /// Reset or dropped connection, or one that could not be made.
    Connection,
    /// TLS handshake or certificate problem.
    Tls,
    /// Malformed HTTP.
    Protocol,
    /// More redirects than the one we follow.
    Redirects,
    /// A redirect to a loopback, private, link-local or unspecified
    /// address from a mirror that is not itself at one: not followed.
    InternalRedirect,
}

/// What one HTTP check saw.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Observation {
    /// An HTTP answer (after at most one redirect).
    Answer {
        /// Status code.
        status: u16,
        /// `Content-Type` without parameters, lower case.
        content_type: Option<String>,
        /// Size of the file, from `Content-Length` or `Content-Range`.
        length: Option<u64>,
        /// Digests of the whole body, when it was downloaded.
        digests: Option<Digests>,
        /// Milliseconds to the answer (or to the end of the body).
        elapsed_ms: u64,
    },
    /// No HTTP answer.
    Failed {
        /// What kind of failure.
        failure: Failure,
        /// The client's explanation.
        detail: String,
    },
}

/// Digests of a downloaded body, lower-case hex.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Digests {
    /// MD5.
    pub md5: String,
    /// SHA-1.
    pub sha1: String,
    /// SHA-256.
    pub sha256: String,
    /// Bytes hashed.
    pub bytes: u64,
}

/// What a file should look like.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Expected {
    /// Known size.
    pub size: Option<u64>,
    /// Known MD5 (hex).
    pub md5: Option<String>,
    /// Known SHA-1 (hex).
    pub sha1: Option<String>,
    /// Known SHA-256 (hex).
    pub sha256: Option<String>,
    /// The file itself is HTML (so a `text/html` answer is no error page).
    pub html: bool,
}

/// The judgement of one file check.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FileVerdict {
    /// The right file is there.
    Present,
    /// The mirror answered, and the file is not there (or not the right one).
    Missing(String),
    /// The mirror failed to answer properly: the mirror is at fault.
    Fault(String),
    /// The mirror declined to answer now (408, 429): nothing learned, so
    /// nothing changes.
    Inconclusive(String),
}

impl FileVerdict {
    /// Whether a wrong hash caused it.
    pub fn is_hash_mismatch(&self) -> bool {
        matches!(self, FileVerdict::Missing(why) if why.contains("mismatch"))
    }
}

impl Failure {
    /// The kind of problem this failure is; `detail` (the client's words)
    /// tells only the certificate failures apart.
    pub fn problem(self, detail: &str) -> Problem {
        match self {
            Failure::Timeout => Problem::Timeout,
            Failure::Dns => Problem::Dns,
            Failure::Refused => Problem::Refused,
            Failure::Connection => Problem::Connection,
            Failure::Tls => match Problem::of(&describe(self, detail)) {
                Some(p @ (Problem::TlsName | Problem::TlsExpired | Problem::TlsUntrusted)) => p,
                _ => Problem::Tls,
            },
            Failure::Protocol => Problem::Protocol,
            Failure::Redirects | Failure::InternalRedirect => Problem::Redirect,
        }
    }
}

/// The kind of problem an HTTP answer with `status` reports, if any.
fn status_problem(status: u16) -> Option<Problem> {
    match status {
        300..=399 => Some(Problem::Redirect),
        // 408 and 429 only ask to come back later.
        408 | 429 => None,
        400..=499 => Some(Problem::NotFound),
        500.. => Some(Problem::ServerError),
        _ => None,
    }
}

/// The kind of problem a file check that saw `seen` and was judged
/// `verdict` ([`judge_file`]) found: decided from the observation, never
/// from the words (nor the file's path).
pub fn file_problem(seen: &Observation, verdict: &FileVerdict) -> Option<Problem> {
    if matches!(verdict, FileVerdict::Present | FileVerdict::Inconclusive(_)) {
        return None;
    }
    match seen {
        Observation::Failed { failure, detail } => Some(failure.problem(detail)),
        // A 2xx judged missing: an error page, the wrong size or hash.
        Observation::Answer { status, .. } => status_problem(*status).or(Some(Problem::WrongFile)),
    }
}

/// The kind of problem the base-URL check that saw `seen` found (`None`
/// when [`judge_base`] passes it).
pub fn base_problem(seen: &Observation) -> Option<Problem> {
    match seen {
        Observation::Answer { status, .. } if *status < 500 => None,
        Observation::Answer { status, .. } => status_problem(*status),
        Observation::Failed { failure, detail } => Some(failure.problem(detail)),
    }
}

fn describe(failure: Failure, detail: &str) -> String {
    let what = match failure {
        Failure::Timeout => "timed out",
        Failure::Dns => "host name does not resolve",
        Failure::Refused | Failure::Connection => "connection failed",
        Failure::Tls => "TLS failed",
        Failure::Protocol => "broken HTTP",
        Failure::Redirects => "redirect loop",
        Failure::InternalRedirect => "redirect to an internal address refused",
    };
    if detail.is_empty() {
        what.to_string()
    } else {
        format!("{what}: {detail}")
    }
}

/// Judges a file check: 403/404/other 4xx, a redirect elsewhere, the wrong
/// size, an error page or the wrong hash mean the file is missing; a
/// timeout, a 5xx or a broken connection mean the mirror is at fault.
pub fn judge_file(expected: &Expected, seen: &Observation) -> FileVerdict {
    let (status, content_type, length, digests) = match seen {
        Observation::Failed {
            failure: failure @ (Failure::Redirects | Failure::InternalRedirect),
            detail,
        } => return FileVerdict::Missing(describe(*failure, detail)),
        Observation::Failed { failure, detail } => {
            return FileVerdict::Fault(describe(*failure, detail));
        }
        Observation::Answer {
            status,
            content_type,
            length,
            digests,
            ..
        } => (*status, content_type, *length, digests),
    };
    match status {
        200..=299 => {}
        300..=399 => return FileVerdict::Missing(format!("{status}: redirects elsewhere")),
        408 | 429 => {
            return FileVerdict::Inconclusive(format!(
                "{status} {}: try again later",
                reason(status)
            ));
        }
        400..=499 => return FileVerdict::Missing(format!("{status} {}", reason(status))),
        _ => return FileVerdict::Fault(format!("{status} {}", reason(status))),
    }
    if !expected.html && content_type.as_deref() == Some("text/html") {
        return FileVerdict::Missing("text/html answer: an error page, not the file".into());
    }
    if let (Some(want), Some(got)) = (expected.size, length)
        && want != got
    {
        return FileVerdict::Missing(format!("size {got} bytes, expected {want}"));
    }
    if let Some(d) = digests {
        for (name, want, got) in [
            ("sha256", &expected.sha256, &d.sha256),
            ("sha1", &expected.sha1, &d.sha1),
            ("md5", &expected.md5, &d.md5),
        ] {
            // Only the digests computed (the strongest known) are compared.
            if let Some(want) = want
                && !got.is_empty()
                && !want.eq_ignore_ascii_case(got)
            {
                return FileVerdict::Missing(format!(
                    "{name} mismatch: got {got}, expected {want}"
                ));
            }
        }
    }
    FileVerdict::Present
}

/// Judges the base-URL check: any HTTP answer below 500 means the mirror
/// responds (many mirrors forbid directory listings).
pub fn judge_base(seen: &Observation) -> Result<(), String> {
    match seen {
        Observation::Answer { status, .. } if *status < 500 => Ok(()),
        Observation::Answer { status, .. } => Err(format!("{status} {}", reason(*status))),
        Observation::Failed { failure, detail } => Err(describe(*failure, detail)),
    }
}

fn reason(status: u16) -> &'static str {
    match status {
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        410 => "Gone",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "",
    }
}

/// One file check's result.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileResult {
    /// The location checked.
    pub location: LocationId,
    /// The language filled in (empty: none).
    pub lang: String,
    /// The path checked.
    pub path: String,
    /// The judgement.
    pub verdict: FileVerdict,
    /// The kind of problem it found ([`file_problem`]).
    pub problem: Option<Problem>,
    /// Milliseconds it took.
    pub elapsed_ms: u64,
}

/// Everything checked on one mirror in a run.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MirrorResult {
    /// The mirror.
    pub mirror: MirrorId,
    /// The base-URL check (`None`: not made, e.g. out of time).
    pub base: Option<Result<(), String>>,
    /// The kind of problem the base-URL check found ([`base_problem`]).
    pub base_problem: Option<Problem>,
    /// Milliseconds the base URL took to answer (0: it did not answer).
    pub latency_ms: u64,
    /// The files checked.
    pub files: Vec<FileResult>,
    /// Bytes downloaded for hash checks, and the milliseconds it took.
    pub downloaded: (u64, u64),
    /// What the base-URL check found over each address family.
    pub reaches: crate::model::Reaches,
    /// Why the base URL failed over a family that did not answer.
    pub family_faults: Vec<(Family, String)>,
    /// What its other-scheme URL showed (unknown: none, or not checked).
    pub alt: Reach,
    /// When its trace file says it synced (0: none, or unreadable).
    pub synced_at: u64,
}

impl MirrorResult {
    /// Why the mirror is at fault in this run, if it is.
    pub fn fault(&self) -> Option<String> {
        if let Some(Err(e)) = &self.base {
            return Some(e.clone());
        }
        self.files.iter().find_map(|f| match &f.verdict {
            FileVerdict::Fault(why) => Some(format!("{}: {why}", f.path)),
            _ => None,
        })
    }

    /// The kind of problem of [`MirrorResult::fault`].
    pub fn fault_problem(&self) -> Option<Problem> {
        if let Some(Err(_)) = &self.base {
            return self.base_problem;
        }
        self.files
            .iter()
            .find(|f| matches!(f.verdict, FileVerdict::Fault(_)))
            .and_then(|f| f.problem)
    }
}

/// The check-history record of one mirror's result `r`, given the health
/// it was judged to have: the fault, or else the first file found missing,
/// as its error.
fn check_of(r: &MirrorResult, h: &MirrorHealth, now: u64) -> MirrorCheck {
    let missing: Vec<&FileResult> = r
        .files
        .iter()
        .filter(|f| matches!(f.verdict, FileVerdict::Missing(_)))
        .collect();
    let (error, problem) = match r.fault() {
        Some(fault) => (Some(fault), r.fault_problem()),
        None => match missing.first() {
            Some(f) => match &f.verdict {
                FileVerdict::Missing(why) => (Some(format!("{}: {why}", f.path)), f.problem),
                _ => (None, None),
            },
            None => (None, None),
        },
    };
    let (bytes, ms) = r.downloaded;
    MirrorCheck {
        mirror: r.mirror,
        at: now,
        ok: h.healthy,
        latency_ms: r.latency_ms.min(u64::from(u32::MAX)) as u32,
        throughput: if bytes > 0 {
            bytes * 1000 / ms.max(1)
        } else {
            0
        },
        files: r.files.len().min(u32::MAX as usize) as u32,
        missing: missing.len().min(u32::MAX as usize) as u32,
        streak: 0,
        error: error.unwrap_or_default(),
        problem,
    }
}

/// A change worth telling operators about.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Change {
    /// The mirror stopped answering properly.
    MirrorDown {
        /// Which.
        mirror: MirrorId,
        /// Why.
        reason: String,
    },
    /// The mirror answers properly again.
    MirrorBack {
        /// Which.
        mirror: MirrorId,
    },
    /// A location's file went missing on a mirror.
    FileMissing {
        /// Which mirror.
        mirror: MirrorId,
        /// Which location.
        location: LocationId,
        /// Why.
        reason: String,
    },
    /// A location's file is present again (or for the first time).
    FileBack {
        /// Which mirror.
        mirror: MirrorId,
        /// Which location.
        location: LocationId,
    },
    /// The mirror stopped answering over one address family (it still
    /// answers over the other).
    FamilyDown {
        /// Which.
        mirror: MirrorId,
        /// Over which family.
        family: Family,
        /// Why.
        reason: String,
    },
    /// The mirror answers over this family again.
    FamilyBack {
        /// Which.
        mirror: MirrorId,
        /// Over which family.
        family: Family,
    },
    /// A file's content does not match its checksum.
    HashMismatch {
        /// Which mirror.
        mirror: MirrorId,
        /// Which file.
        path: String,
        /// What differs.
        detail: String,
    },
}

impl Change {
    /// The mirror concerned.
    pub fn mirror(&self) -> MirrorId {
        match self {
            Change::MirrorDown { mirror, .. }
            | Change::MirrorBack { mirror }
            | Change::FileMissing { mirror, .. }
            | Change::FileBack { mirror, .. }
            | Change::FamilyDown { mirror, .. }
            | Change::FamilyBack { mirror, .. }
            | Change::HashMismatch { mirror, .. } => *mirror,
        }
    }
}

/// What a run changes.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Decision {
    /// New health per checked mirror.
    pub health: Vec<(MirrorId, MirrorHealth)>,
    /// New availability per checked (location, mirror).
    pub availability: Vec<(LocationId, MirrorId, Availability)>,
    /// One record per checked mirror for its check history (`streak`
    /// left for the store to work out).
    pub checks: Vec<MirrorCheck>,
    /// What changed, for reports and mail.
    pub changes: Vec<Change>,
    /// Set when most mirrors failed at once: the checker's own network is
    /// the likely cause, so nobody was marked down.
    pub alarm: Option<String>,
}

/// The state before the run.
#[derive(Clone, Debug, Default)]
pub struct Previous {
    /// Health per mirror (absent: never checked).
    pub health: HashMap<MirrorId, MirrorHealth>,
    /// Availability per (location, mirror) (absent: never checked).
    pub availability: HashMap<(LocationId, MirrorId), Availability>,
}

/// Decides what a run's results change. A mirror is unhealthy when its
/// base check or any file check failed at the mirror's end; a location is
/// present on a mirror when every language checked was found. If most
/// mirrors checked (at least two) fail, the checker suspects itself:
/// nobody goes down, nothing goes missing for a fault, and `alarm` says why.
pub fn decide(results: &[MirrorResult], previous: &Previous, now: u64) -> Decision {
    let mut d = Decision::default();
    let judged: Vec<&MirrorResult> = results.iter().filter(|r| r.base.is_some()).collect();
    let faulty = judged.iter().filter(|r| r.fault().is_some()).count();
    if judged.len() >= 2 && faulty * 2 > judged.len() {
        d.alarm = Some(format!(
            "{faulty} of {} mirrors failed in one run: the checker's own network is the likely cause, so no mirror was marked down",
            judged.len()
        ));
    }
    // The same suspicion when most mirrors suddenly lack most of the files
    // they had (an error page or proxy between us and the world looks
    // like that): keep what we knew, and say so.
    let losing = judged
        .iter()
        .filter(|r| {
            let had: HashSet<LocationId> = r
                .files
                .iter()
                .map(|f| f.location)
                .filter(|l| {
                    previous
                        .availability
                        .get(&(*l, r.mirror))
                        .is_some_and(|a| a.present)
                })
                .collect();
            let lost = had
                .iter()
                .filter(|l| {
                    r.files
                        .iter()
                        .any(|f| f.location == **l && matches!(f.verdict, FileVerdict::Missing(_)))
                })
                .count();
            lost > 0 && lost * 2 >= had.len()
        })
        .count();
    let mass_loss = d.alarm.is_none() && judged.len() >= 2 && losing * 2 > judged.len();
    if mass_loss {
        d.alarm = Some(format!(
            "{losing} of {} mirrors lost most of their files at once: the checker's own network is the likely cause, so no file was marked missing",
            judged.len()
        ));
    }
    // Per address family, the same suspicion: most mirrors failing over
    // IPv6 at once says more about the checker (a host whose IPv6 does not
    // work) than about the mirrors. Their findings for it stay as they were.
    let mut suspect = Vec::new();
    for family in Family::ALL {
        let tried = judged
            .iter()
            .filter(|r| matches!(r.reaches.of(family), Reach::Up | Reach::Down))
            .count();
        let down = judged
            .iter()
            .filter(|r| r.reaches.of(family) == Reach::Down)
            .count();
        if tried >= 2 && down * 2 > tried {
            let name = family.label();
            suspect.push((
                family,
                format!(
                    "{down} of {tried} mirrors failed over {name} in one run: the checker's own {name} is the likely cause, so no mirror's {name} was marked down"
                ),
            ));
        }
    }
    for r in &judged {
        let old = previous.health.get(&r.mirror);
        let fault = r.fault();
        let healthy = match (&fault, &d.alarm) {
            (None, _) => true,
            // Under the alarm, a fault changes nothing.
            (Some(_), Some(_)) => old.is_none_or(|h| h.healthy),
            (Some(_), None) => false,
        };
        let was_healthy = old.is_none_or(|h| h.healthy);
        let changed = old.is_some() && healthy != was_healthy;
        let mut h = old.cloned().unwrap_or_default();
        if changed || old.is_none() {
            h.flaps = if changed && now.saturating_sub(h.since) < MirrorHealth::FLAP_WINDOW_SECS {
                h.flaps + 1
            } else {
                u32::from(changed)
            };
            h.since = now;
        }
        let mut reaches = r.reaches;
        for (family, _) in &suspect {
            if reaches.of(*family) == Reach::Down {
                *reaches.of_mut(*family) = old.map_or(Reach::Unknown, |h| h.reaches.of(*family));
            }
        }
        // A family lost or regained while the mirror as a whole answers
        // (when it does not, its going down says it all).
        if healthy {
            for family in Family::ALL {
                let (was, now) = (old.map(|h| h.reaches.of(family)), reaches.of(family));
                if now == Reach::Down && was.is_some_and(|w| w != Reach::Down) {
                    let reason = r.family_faults.iter().find(|(f, _)| *f == family);
                    d.changes.push(Change::FamilyDown {
                        mirror: r.mirror,
                        family,
                        reason: reason.map(|(_, why)| why.clone()).unwrap_or_default(),
                    });
                } else if now == Reach::Up && was == Some(Reach::Down) {
                    d.changes.push(Change::FamilyBack {
                        mirror: r.mirror,
                        family,
                    });
                }
            }
        }
        h.reaches = reaches;
        if r.base.is_some() {
            h.alt = r.alt;
            // No mirror synced after it was checked: a time ahead is a wrong clock.
            h.synced_at = r.synced_at.min(now);
        }
        h.healthy = healthy;
        h.checked_at = now;
        h.error = fault.clone().unwrap_or_default();
        h.problem = r.fault_problem();
        // Only an answer has a latency: one that did not answer has none
        // (0), not the time it took to fail nor the last answer's.
        h.latency_ms = r.latency_ms.min(u64::from(u32::MAX)) as u32;
        let (bytes, ms) = r.downloaded;
        if bytes > 0 {
            h.throughput = bytes * 1000 / ms.max(1);
        }
        if changed {
            d.changes.push(if healthy {
                Change::MirrorBack { mirror: r.mirror }
            } else {
                Change::MirrorDown {
                    mirror: r.mirror,
                    reason: fault.clone().unwrap_or_default(),
                }
            });
        } else if old.is_none() && !healthy {
            d.changes.push(Change::MirrorDown {
                mirror: r.mirror,
                reason: fault.clone().unwrap_or_default(),
            });
        }
        d.checks.push(check_of(r, &h, now));
        d.health.push((r.mirror, h));

        // Per location: combine the languages checked.
        let mut by_location: Vec<(LocationId, Vec<&FileResult>)> = Vec::new();
        for f in &r.files {
            match by_location.iter_mut().find(|(l, _)| *l == f.location) {
                Some((_, v)) => v.push(f),
                None => by_location.push((f.location, vec![f])),
            }
        }
        for (location, files) in by_location {
            let old = previous.availability.get(&(location, r.mirror));
            // Only conclusive answers say anything about the location.
            let files: Vec<&FileResult> = files
                .into_iter()
                .filter(|f| !matches!(f.verdict, FileVerdict::Inconclusive(_)))
                .collect();
            if files.is_empty() {
                continue;
            }
            let fault = files.iter().find_map(|f| match &f.verdict {
                FileVerdict::Fault(why) => Some(label(f, why)),
                _ => None,
            });
            let missing = files.iter().find_map(|f| match &f.verdict {
                FileVerdict::Missing(why) => Some(label(f, why)),
                _ => None,
            });
            for f in &files {
                if let FileVerdict::Missing(why) = &f.verdict
                    && f.verdict.is_hash_mismatch()
                {
                    d.changes.push(Change::HashMismatch {
                        mirror: r.mirror,
                        path: f.path.clone(),
                        detail: why.clone(),
                    });
                }
            }
            let was_present = old.is_some_and(|a| a.present);
            let av = match (fault, missing) {
                (Some(_), _) if d.alarm.is_some() => {
                    // Suspect ourselves: keep what we knew.
                    continue;
                }
                (None, Some(_)) if mass_loss && was_present => continue,
                (Some(why), _) => Availability {
                    present: was_present,
                    healthy: false,
                    checked_at: now,
                    error: why,
                },
                (None, Some(why)) => Availability {
                    present: false,
                    healthy: true,
                    checked_at: now,
                    error: why,
                },
                (None, None) => Availability {
                    present: true,
                    healthy: true,
                    checked_at: now,
                    error: String::new(),
                },
            };
            // A first check is no change: only a flip is news.
            if av.present && old.is_some_and(|a| !a.present) {
                d.changes.push(Change::FileBack {
                    mirror: r.mirror,
                    location,
                });
            } else if !av.present && was_present {
                d.changes.push(Change::FileMissing {
                    mirror: r.mirror,
                    location,
                    reason: av.error.clone(),
                });
            }
            d.availability.push((location, r.mirror, av));
        }
    }
    for (_, why) in suspect {
        d.alarm = Some(match d.alarm.take() {
            Some(alarm) => format!("{alarm}; {why}"),
            None => why,
        });
    }
    d
}

fn label(f: &FileResult, why: &str) -> String {
    if f.lang.is_empty() {
        why.to_string()
    } else {
        format!("{}: {why}", f.lang)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(status: u16, ct: &str, length: Option<u64>) -> Observation {
        Observation::Answer {
            status,
            content_type: Some(ct.into()),
            length,
            digests: None,
            elapsed_ms: 1,
        }
    }

    fn failed(failure: Failure) -> Observation {
        Observation::Failed {
            failure,
            detail: String::new(),
        }
    }

    #[test]
    fn file_verdicts() {
        let exp = Expected {
            size: Some(10),
            ..Default::default()
        };
        let bin = "application/octet-stream";
        assert_eq!(
            judge_file(&exp, &answer(200, bin, Some(10))),
            FileVerdict::Present
        );
        assert_eq!(
            judge_file(&exp, &answer(206, bin, Some(10))),
            FileVerdict::Present
        );
        assert!(
            matches!(judge_file(&exp, &answer(404, bin, None)), FileVerdict::Missing(m) if m.contains("404"))
        );
        assert!(matches!(
            judge_file(&exp, &answer(403, bin, None)),
            FileVerdict::Missing(_)
        ));
        // A mirror that rate-limits the checker tells us nothing.
        for status in [408, 429] {
            assert!(matches!(
                judge_file(&exp, &answer(status, bin, None)),
                FileVerdict::Inconclusive(_)
            ));
        }
        assert!(
            matches!(judge_file(&exp, &answer(200, bin, Some(9))), FileVerdict::Missing(m) if m.contains("size 9"))
        );
        assert!(
            matches!(judge_file(&exp, &answer(200, "text/html", Some(10))), FileVerdict::Missing(m) if m.contains("error page"))
        );
        assert!(matches!(
            judge_file(&exp, &answer(302, bin, None)),
            FileVerdict::Missing(_)
        ));
        assert!(matches!(
            judge_file(&exp, &answer(500, bin, None)),
            FileVerdict::Fault(_)
        ));
        assert!(matches!(
            judge_file(&exp, &answer(503, bin, None)),
            FileVerdict::Fault(_)
        ));
        for f in [
            Failure::Timeout,
            Failure::Dns,
            Failure::Connection,
            Failure::Tls,
            Failure::Protocol,
        ] {
            assert!(
                matches!(judge_file(&exp, &failed(f)), FileVerdict::Fault(_)),
                "{f:?}"
            );
        }
        assert!(matches!(
            judge_file(&exp, &failed(Failure::Redirects)),
            FileVerdict::Missing(_)
        ));
        // An HTML file may be served as HTML; an unknown size is no miss.
        let html = Expected {
            html: true,
            ..Default::default()
        };
        assert_eq!(
            judge_file(&html, &answer(200, "text/html", None)),
            FileVerdict::Present
        );
    }

    #[test]
    fn hash_verdicts() {
        let exp = Expected {
            sha256: Some("AB".into()),
            ..Default::default()
        };
        let with = |sha256: &str| Observation::Answer {
            status: 200,
            content_type: None,
            length: Some(3),
            digests: Some(Digests {
                sha256: sha256.into(),
                ..Default::default()
            }),
            elapsed_ms: 1,
        };
        assert_eq!(judge_file(&exp, &with("ab")), FileVerdict::Present);
        let v = judge_file(&exp, &with("cd"));
        assert!(v.is_hash_mismatch(), "{v:?}");
    }

    #[test]
    fn base_verdicts() {
        assert!(judge_base(&answer(403, "text/html", None)).is_ok());
        assert!(judge_base(&answer(200, "text/html", None)).is_ok());
        assert!(judge_base(&answer(502, "text/html", None)).is_err());
        assert!(
            judge_base(&failed(Failure::Dns))
                .unwrap_err()
                .contains("resolve")
        );
    }

    /// A file check; a missing file was not found (404), a fault was a
    /// server error.
    fn file(loc: u64, lang: &str, verdict: FileVerdict) -> FileResult {
        FileResult {
            location: LocationId(loc),
            lang: lang.into(),
            path: format!("/f/{loc}/{lang}"),
            problem: match verdict {
                FileVerdict::Missing(_) => Some(Problem::NotFound),
                FileVerdict::Fault(_) => Some(Problem::ServerError),
                _ => None,
            },
            verdict,
            elapsed_ms: 1,
        }
    }

    /// A mirror's result; a failed base check was a refused connection.
    fn result(mirror: u64, base: Result<(), String>, files: Vec<FileResult>) -> MirrorResult {
        MirrorResult {
            mirror: MirrorId(mirror),
            base_problem: base.is_err().then_some(Problem::Refused),
            base: Some(base),
            latency_ms: 5,
            files,
            downloaded: (0, 0),
            reaches: Default::default(),
            family_faults: Vec::new(),
            alt: crate::model::Reach::Unknown,
            synced_at: 0,
        }
    }

    #[test]
    fn problems_are_decided_from_what_was_seen() {
        let exp = Expected {
            size: Some(10),
            ..Default::default()
        };
        let problem = |seen: &Observation| file_problem(seen, &judge_file(&exp, seen));
        assert_eq!(
            problem(&answer(404, "text/html", None)),
            Some(Problem::NotFound)
        );
        assert_eq!(problem(&answer(410, "", None)), Some(Problem::NotFound));
        assert_eq!(problem(&answer(502, "", None)), Some(Problem::ServerError));
        assert_eq!(problem(&answer(302, "", None)), Some(Problem::Redirect));
        assert_eq!(
            problem(&answer(200, "text/html", None)),
            Some(Problem::WrongFile)
        );
        assert_eq!(problem(&answer(200, "", Some(3))), Some(Problem::WrongFile));
        assert_eq!(problem(&answer(200, "", Some(10))), None);
        assert_eq!(problem(&answer(429, "", None)), None);
        assert_eq!(problem(&failed(Failure::Dns)), Some(Problem::Dns));
        assert_eq!(problem(&failed(Failure::Refused)), Some(Problem::Refused));
        assert_eq!(problem(&failed(Failure::Timeout)), Some(Problem::Timeout));
        let tls = |detail: &str| Observation::Failed {
            failure: Failure::Tls,
            detail: detail.into(),
        };
        assert_eq!(
            problem(&tls("invalid peer certificate: Expired")),
            Some(Problem::TlsExpired)
        );
        assert_eq!(problem(&tls("corrupt message")), Some(Problem::Tls));
        assert_eq!(base_problem(&answer(403, "", None)), None);
        assert_eq!(
            base_problem(&answer(503, "", None)),
            Some(Problem::ServerError)
        );
        assert_eq!(
            base_problem(&failed(Failure::Connection)),
            Some(Problem::Connection)
        );
    }

    /// Review of issue 19, item 2: a file missing under a directory whose
    /// name sounds like a problem (dnsutils) is a missing file.
    #[test]
    fn a_missing_file_under_pub_dnsutils_is_not_found_not_dns() {
        let seen = answer(404, "text/html", None);
        let verdict = judge_file(&Expected::default(), &seen);
        let mut r = result(1, Ok(()), vec![]);
        r.files.push(FileResult {
            location: LocationId(7),
            lang: String::new(),
            path: "/pub/dnsutils/dnsutils-1.0.tgz".into(),
            problem: file_problem(&seen, &verdict),
            verdict,
            elapsed_ms: 1,
        });
        let d = decide(&[r], &healthy_before(&[1]), 100);
        let check = &d.checks[0];
        assert_eq!(check.error, "/pub/dnsutils/dnsutils-1.0.tgz: 404 Not Found");
        assert_eq!(check.problem, Some(Problem::NotFound));
        assert_eq!(check.problem(), Some(Problem::NotFound));
        // A mirror down for a timed-out file stores the kind with its health.
        let seen = failed(Failure::Timeout);
        let verdict = judge_file(&Expected::default(), &seen);
        let mut r = result(1, Ok(()), vec![]);
        r.files.push(FileResult {
            location: LocationId(7),
            lang: String::new(),
            path: "/pub/dnsutils/x.tgz".into(),
            problem: file_problem(&seen, &verdict),
            verdict,
            elapsed_ms: 1,
        });
        let d = decide(&[r], &healthy_before(&[1]), 100);
        let (_, h) = &d.health[0];
        assert!(!h.healthy);
        assert_eq!(h.problem, Some(Problem::Timeout));
        assert_eq!(d.checks[0].problem, Some(Problem::Timeout));
    }

    /// A file found present and healthy at `checked_at`.
    fn served_since(checked_at: u64) -> Availability {
        Availability {
            present: true,
            healthy: true,
            checked_at,
            error: String::new(),
        }
    }

    fn healthy_before(mirrors: &[u64]) -> Previous {
        let mut p = Previous::default();
        for &m in mirrors {
            p.health.insert(MirrorId(m), MirrorHealth::default());
        }
        p
    }

    #[test]
    fn each_family_is_judged_apart_and_a_checker_without_ipv6_marks_none_down() {
        use crate::model::{Reach::*, Reaches};
        let seen = |mirror, v4, v6| MirrorResult {
            reaches: Reaches { v4, v6 },
            ..result(mirror, Ok(()), vec![])
        };
        let reaches = |d: &Decision, m: u64| {
            let h = &d
                .health
                .iter()
                .find(|(id, _)| *id == MirrorId(m))
                .unwrap()
                .1;
            assert!(h.healthy, "one family answering keeps a mirror in");
            (h.reaches.v4, h.reaches.v6)
        };
        // One mirror's IPv6 fails: found, and no alarm.
        let runs = [seen(1, Up, Down), seen(2, Up, Up), seen(3, Up, NoAddress)];
        let d = decide(&runs, &healthy_before(&[1, 2, 3]), 100);
        assert_eq!(d.alarm, None);
        assert_eq!(reaches(&d, 1), (Up, Down));
        assert_eq!(reaches(&d, 3), (Up, NoAddress));
        // Every mirror fails over IPv6 at once: the checker's IPv6 is
        // suspect, and what was known of each mirror's IPv6 stays.
        let mut before = healthy_before(&[1, 2, 3]);
        before.health.get_mut(&MirrorId(1)).unwrap().reaches = Reaches { v4: Up, v6: Up };
        let runs = [
            seen(1, Up, Down),
            seen(2, Up, Down),
            seen(3, Down, NoAddress),
        ];
        let d = decide(&runs, &before, 200);
        let alarm = d.alarm.clone().unwrap_or_default();
        assert!(alarm.contains("2 of 2 mirrors failed over IPv6"), "{alarm}");
        assert_eq!(reaches(&d, 1), (Up, Up));
        assert_eq!(reaches(&d, 2), (Up, Unknown));
        // IPv4 was not suspect (1 of 3 down): mirror 3's finding stands.
        assert_eq!(reaches(&d, 3), (Down, NoAddress));
        assert!(
            !d.changes.iter().any(|c| matches!(
                c,
                Change::FamilyDown {
                    family: Family::V6,
                    ..
                }
            )),
            "a suspect family changes nobody: {:?}",
            d.changes
        );
    }

    #[test]
    fn losing_and_regaining_a_family_are_changes_to_tell() {
        use crate::model::{Reach::*, Reaches};
        let seen = |v6| MirrorResult {
            reaches: Reaches { v4: Up, v6 },
            family_faults: vec![(Family::V6, "connection failed: refused".into())]
                .into_iter()
                .filter(|_| v6 == Down)
                .collect(),
            ..result(1, Ok(()), vec![])
        };
        let mut before = healthy_before(&[1, 2]);
        before.health.get_mut(&MirrorId(1)).unwrap().reaches = Reaches { v4: Up, v6: Up };
        let other = MirrorResult {
            reaches: Reaches { v4: Up, v6: Up },
            ..result(2, Ok(()), vec![])
        };
        let d = decide(&[seen(Down), other.clone()], &before, 100);
        assert_eq!(
            d.changes,
            [Change::FamilyDown {
                mirror: MirrorId(1),
                family: Family::V6,
                reason: "connection failed: refused".into(),
            }]
        );
        before.health = d.health.into_iter().collect();
        let d = decide(&[seen(Up), other.clone()], &before, 200);
        assert_eq!(
            d.changes,
            [Change::FamilyBack {
                mirror: MirrorId(1),
                family: Family::V6,
            }]
        );
        // Unchanged: nothing to tell.
        before.health = d.health.into_iter().collect();
        assert!(decide(&[seen(Up), other], &before, 300).changes.is_empty());
    }

    /// Issue 19 item 7: a mirror that refuses connections has no latency
    /// (not the millisecond it took to fail, nor its last answer's), and
    /// each checked mirror gets a check-history record.
    #[test]
    fn only_answers_have_a_latency_and_every_check_is_recorded() {
        let mut previous = healthy_before(&[1, 2]);
        previous.health.get_mut(&MirrorId(1)).unwrap().latency_ms = 40;
        let mut refused = result(
            1,
            Err("connection failed: io: Connection refused (os error 111)".into()),
            vec![],
        );
        refused.latency_ms = 0;
        let mut answers = result(
            2,
            Ok(()),
            vec![
                file(7, "de", FileVerdict::Missing("404 Not Found".into())),
                file(8, "de", FileVerdict::Present),
            ],
        );
        answers.downloaded = (2_000_000, 1000);
        let d = decide(&[refused, answers], &previous, 100);
        let health: HashMap<_, _> = d.health.iter().cloned().collect();
        assert_eq!(health[&MirrorId(1)].latency_ms, 0);
        assert_eq!(health[&MirrorId(2)].latency_ms, 5);
        let c1 = d.checks.iter().find(|c| c.mirror == MirrorId(1)).unwrap();
        assert!(!c1.ok);
        assert_eq!(c1.latency_ms, 0);
        assert!(c1.error.contains("refused"), "{c1:?}");
        let c2 = d.checks.iter().find(|c| c.mirror == MirrorId(2)).unwrap();
        assert!(c2.ok);
        assert_eq!((c2.files, c2.missing, c2.latency_ms), (2, 1, 5));
        assert_eq!(c2.throughput, 2_000_000);
        assert_eq!(c2.error, "/f/7/de: 404 Not Found");
        assert_eq!(c2.at, 100);
    }

    #[test]
    fn a_missing_language_makes_the_location_missing() {
        let r = result(
            1,
            Ok(()),
            vec![
                file(7, "de", FileVerdict::Present),
                file(7, "zh-TW", FileVerdict::Missing("404 Not Found".into())),
                file(8, "", FileVerdict::Present),
            ],
        );
        let d = decide(&[r], &Previous::default(), 100);
        let av: HashMap<_, _> = d
            .availability
            .iter()
            .map(|(l, _, a)| (*l, a.clone()))
            .collect();
        assert!(!av[&LocationId(7)].present);
        assert_eq!(av[&LocationId(7)].error, "zh-TW: 404 Not Found");
        assert!(av[&LocationId(8)].present);
        assert!(d.health[0].1.healthy);
        // A first check reports no changes; a later flip does.
        assert!(d.changes.is_empty(), "{:?}", d.changes);
        let prev = Previous {
            availability: d
                .availability
                .iter()
                .map(|(l, m, a)| ((*l, *m), a.clone()))
                .collect(),
            ..Previous::default()
        };
        let r = result(
            1,
            Ok(()),
            vec![
                file(7, "de", FileVerdict::Present),
                file(7, "zh-TW", FileVerdict::Present),
                file(8, "", FileVerdict::Missing("404 Not Found".into())),
            ],
        );
        let d = decide(&[r], &prev, 200);
        assert_eq!(
            d.changes,
            vec![
                Change::FileBack {
                    mirror: MirrorId(1),
                    location: LocationId(7)
                },
                Change::FileMissing {
                    mirror: MirrorId(1),
                    location: LocationId(8),
                    reason: "404 Not Found".into()
                },
            ]
        );
    }

    #[test]
    fn faults_take_the_mirror_down_and_passing_brings_it_back() {
        let prev = healthy_before(&[1, 2, 3]);
        let down = [
            result(1, Err("timed out".into()), vec![]),
            result(2, Ok(()), vec![]),
            result(3, Ok(()), vec![]),
        ];
        let d = decide(&down, &prev, 1000);
        assert!(d.alarm.is_none());
        assert!(!d.health[0].1.healthy);
        assert_eq!(
            d.changes,
            vec![Change::MirrorDown {
                mirror: MirrorId(1),
                reason: "timed out".into()
            }]
        );

        let prev2 = Previous {
            health: d.health.iter().cloned().collect(),
            ..Previous::default()
        };
        // Still failing: no new change.
        let d2 = decide(&down[..1], &prev2, 1100);
        assert!(d2.changes.is_empty() && !d2.health[0].1.healthy);
        // Passing again: back.
        let d3 = decide(&[result(1, Ok(()), vec![])], &prev2, 1200);
        assert!(d3.health[0].1.healthy);
        assert_eq!(
            d3.changes,
            vec![Change::MirrorBack {
                mirror: MirrorId(1)
            }]
        );
    }

    #[test]
    fn a_file_fault_marks_the_mirror_and_keeps_presence() {
        let mut prev = healthy_before(&[1, 2, 3]);
        prev.availability
            .insert((LocationId(7), MirrorId(1)), served_since(1));
        let results = [
            result(
                1,
                Ok(()),
                vec![file(
                    7,
                    "de",
                    FileVerdict::Fault("500 Internal Server Error".into()),
                )],
            ),
            result(2, Ok(()), vec![]),
            result(3, Ok(()), vec![]),
        ];
        let d = decide(&results, &prev, 10);
        assert!(!d.health[0].1.healthy);
        let (_, _, av) = &d.availability[0];
        assert!(av.present && !av.healthy);
    }

    #[test]
    fn most_mirrors_failing_raises_the_alarm_and_changes_nothing() {
        let prev = healthy_before(&[1, 2, 3]);
        let results: Vec<_> = (1..=3)
            .map(|m| {
                result(
                    m,
                    Err("connection failed".into()),
                    vec![file(7, "", FileVerdict::Fault("timed out".into()))],
                )
            })
            .collect();
        let d = decide(&results, &prev, 10);
        assert!(d.alarm.is_some());
        assert!(d.health.iter().all(|(_, h)| h.healthy));
        assert!(d.availability.is_empty());
        assert!(d.changes.is_empty());
        // A single mirror cannot tell us anything about ourselves.
        let d = decide(&results[..1], &prev, 10);
        assert!(d.alarm.is_none());
    }

    #[test]
    fn most_mirrors_losing_their_files_at_once_raises_the_alarm() {
        let mut prev = healthy_before(&[1, 2, 3]);
        for m in 1..=3 {
            for l in [7, 8] {
                prev.availability.insert(
                    (LocationId(l), MirrorId(m)),
                    Availability {
                        present: true,
                        healthy: true,
                        checked_at: 1,
                        error: String::new(),
                    },
                );
            }
        }
        let lost = |m| {
            result(
                m,
                Ok(()),
                vec![
                    file(7, "", FileVerdict::Missing("404 Not Found".into())),
                    file(8, "", FileVerdict::Missing("404 Not Found".into())),
                ],
            )
        };
        let d = decide(&[lost(1), lost(2), lost(3)], &prev, 10);
        assert!(
            d.alarm.as_deref().is_some_and(|a| a.contains("lost most")),
            "{:?}",
            d.alarm
        );
        assert!(d.availability.is_empty() && d.changes.is_empty());
        // One mirror losing its files is news, not an alarm.
        let fine = |m| {
            result(
                m,
                Ok(()),
                vec![
                    file(7, "", FileVerdict::Present),
                    file(8, "", FileVerdict::Present),
                ],
            )
        };
        let d = decide(&[lost(1), fine(2), fine(3)], &prev, 10);
        assert!(d.alarm.is_none());
        assert_eq!(d.changes.len(), 2);
        // A new file nobody has yet is no loss.
        let new = |m| {
            result(
                m,
                Ok(()),
                vec![file(9, "", FileVerdict::Missing("404 Not Found".into()))],
            )
        };
        let d = decide(&[new(1), new(2), new(3)], &prev, 10);
        assert!(d.alarm.is_none());
        assert_eq!(d.availability.len(), 3);
    }

    #[test]
    fn a_rate_limited_check_changes_nothing() {
        let mut prev = healthy_before(&[1]);
        prev.availability
            .insert((LocationId(7), MirrorId(1)), served_since(1));
        let r = result(
            1,
            Ok(()),
            vec![file(7, "de", FileVerdict::Inconclusive("429".into()))],
        );
        let d = decide(&[r], &prev, 10);
        assert!(d.availability.is_empty() && d.changes.is_empty());
        assert!(d.health[0].1.healthy);
    }

    #[test]
    fn flapping_mirrors_are_damped() {
        let mut prev = healthy_before(&[1]);
        let mut t = 10_000;
        for i in 0..6 {
            let r = if i % 2 == 0 {
                Err("timed out".into())
            } else {
                Ok(())
            };
            let d = decide(&[result(1, r, vec![])], &prev, t);
            prev.health = d.health.into_iter().collect();
            t += 60;
        }
        let h = &prev.health[&MirrorId(1)];
        assert_eq!(h.flaps, 6);
        assert!(h.is_flapping(t));
        assert_eq!(h.damped(100, t), 100 >> 4);
        // It settles after the window.
        assert!(!h.is_flapping(t + MirrorHealth::FLAP_WINDOW_SECS));
        // Damping never takes a positive rating to zero.
        assert_eq!(h.damped(1, t), 1);
    }
}
