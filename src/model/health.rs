//! A mirror's health over time: one record per check ([`MirrorCheck`]),
//! what a check's error means and what to do about it ([`Problem`]),
//! uptime over a window, and the one word the pages use for a mirror's
//! state ([`MirrorState`]).

use super::{Mirror, MirrorHealth, MirrorId};

/// The highest rating the admin pages take. A rating is a selection
/// weight (SPEC §1, §3): 0 takes a mirror out of rotation, 100 is the
/// usual weight. A larger rating stored earlier (by the command line or
/// the API) stays as it is until someone changes it.
pub const MAX_RATING: u32 = 1000;

/// What one sentry check saw of one mirror as a whole (the mirror's
/// check history; see `store::checks` for how long it is kept).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MirrorCheck {
    /// The mirror.
    pub mirror: MirrorId,
    /// Unix seconds of the check.
    pub at: u64,
    /// It answered properly (its base URL and no file check failed at its
    /// end): the health the check gave it.
    pub ok: bool,
    /// Milliseconds its base URL took to answer; 0 when it did not answer
    /// (a refused connection has no latency).
    pub latency_ms: u32,
    /// Download speed measured in this check, bytes per second (0: none).
    pub throughput: u64,
    /// Files checked.
    pub files: u32,
    /// Files it lacked or served wrong.
    pub missing: u32,
    /// Checks in a row with this `ok`, this one included.
    pub streak: u32,
    /// Why it failed, or why a file was missing (empty: nothing wrong).
    pub error: String,
    /// The kind of problem `error` reports, as sentry decided it (`None`:
    /// nothing wrong, an unknown kind, or a row written before sentry
    /// stored it: see [`MirrorCheck::problem`]).
    pub problem: Option<Problem>,
}

impl MirrorCheck {
    /// The kind of problem of this check: the one sentry stored, or for
    /// rows without one, what [`Problem::of`] reads in the error.
    pub fn problem(&self) -> Option<Problem> {
        self.problem.or_else(|| Problem::of(&self.error))
    }

    /// Failed checks in a row up to this one (0 when it is `ok`).
    pub fn failures_in_a_row(&self) -> u32 {
        if self.ok { 0 } else { self.streak }
    }
}

/// How long one check's result stands for the mirror's state when
/// computing [`uptime`]: a longer gap to the next check is time nobody
/// looked, and is not counted.
pub const CHECK_STANDS_SECS: u64 = 86_400;

/// The share of the time from `from` to `now` that `checks` (oldest
/// first) saw the mirror up, weighted by time: each check stands until
/// the next one (at most [`CHECK_STANDS_SECS`]). Also the seconds that
/// were covered; `None` when no check covers any of the window.
pub fn uptime(checks: &[MirrorCheck], from: u64, now: u64) -> Option<(f64, u64)> {
    let mut up = 0u64;
    let mut covered = 0u64;
    for (i, c) in checks.iter().enumerate() {
        let next = checks.get(i + 1).map_or(now, |n| n.at);
        let end = next.min(c.at.saturating_add(CHECK_STANDS_SECS)).min(now);
        let start = c.at.max(from);
        if end <= start {
            continue;
        }
        covered += end - start;
        if c.ok {
            up += end - start;
        }
    }
    (covered > 0).then(|| (up as f64 / covered as f64, covered))
}

/// What a check's error means, as far as the advice differs. Each kind
/// has one message saying what to do ([`Problem::advice`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Problem {
    /// Nothing listens on the port: the connection was refused.
    Refused,
    /// The connection broke off or could not be made otherwise.
    Connection,
    /// The host name does not resolve.
    Dns,
    /// The certificate is for another name.
    TlsName,
    /// The certificate has expired or is not valid yet.
    TlsExpired,
    /// The certificate is signed by nobody trusted (self-signed, an
    /// incomplete chain).
    TlsUntrusted,
    /// Another TLS failure.
    Tls,
    /// No answer in time.
    Timeout,
    /// 404 (or 403, 410): the files are not where the base URL says.
    NotFound,
    /// 5xx: the mirror's server fails.
    ServerError,
    /// Wrong size, wrong checksum or an HTML page instead of the file.
    WrongFile,
    /// Redirected somewhere the checker does not follow.
    Redirect,
    /// Something that is not HTTP answered.
    Protocol,
}

impl Problem {
    /// Every kind, in the order of their stored codes (1, 2, …).
    pub const ALL: [Problem; 13] = [
        Problem::Refused,
        Problem::Connection,
        Problem::Dns,
        Problem::TlsName,
        Problem::TlsExpired,
        Problem::TlsUntrusted,
        Problem::Tls,
        Problem::Timeout,
        Problem::NotFound,
        Problem::ServerError,
        Problem::WrongFile,
        Problem::Redirect,
        Problem::Protocol,
    ];

    /// The number a row stores for `problem` (0: none).
    pub fn code(problem: Option<Problem>) -> u8 {
        problem.map_or(0, |p| {
            Problem::ALL.iter().position(|k| *k == p).unwrap_or(0) as u8 + 1
        })
    }

    /// The problem stored as `code` (`None` for 0 or an unknown number).
    pub fn from_code(code: u8) -> Option<Problem> {
        usize::from(code)
            .checked_sub(1)
            .and_then(|i| Problem::ALL.get(i).copied())
    }

    /// The kind of problem sentry's error text reports, for rows stored
    /// before sentry stored the kind it decided ([`MirrorCheck::problem`],
    /// [`MirrorHealth::problem`]); `None` for an empty or unknown text. A
    /// leading path (`/pub/x.tgz: 404 Not Found`) is not read: only why.
    pub fn of(error: &str) -> Option<Problem> {
        let why = match error.split_once(": ") {
            Some((path, why)) if path.starts_with('/') => why,
            _ => error,
        };
        let e = why.to_ascii_lowercase();
        let has = |words: &[&str]| words.iter().any(|w| e.contains(w));
        Some(if e.trim().is_empty() {
            return None;
        } else if has(&["connection refused", "os error 111", "os error 10061"]) {
            Problem::Refused
        } else if has(&[
            "does not resolve",
            "lookup address",
            "name resolution",
            "dns",
        ]) {
            Problem::Dns
        } else if has(&["tls failed", "certificate", "handshake"]) {
            if has(&["notvalidforname", "not valid for name", "name mismatch"]) {
                Problem::TlsName
            } else if has(&["expired", "notvalidyet", "not valid yet"]) {
                Problem::TlsExpired
            } else if has(&[
                "unknownissuer",
                "unknown issuer",
                "self-signed",
                "self signed",
            ]) {
                Problem::TlsUntrusted
            } else {
                Problem::Tls
            }
        } else if has(&["timed out", "timeout"]) {
            Problem::Timeout
        } else if has(&["redirect"]) {
            Problem::Redirect
        } else if has(&["broken http"]) {
            Problem::Protocol
        } else if server_error(&e) {
            Problem::ServerError
        } else if has(&["mismatch", "expected", "text/html"]) {
            Problem::WrongFile
        } else if has(&["404", "403", "410", "not found", "forbidden"]) {
            Problem::NotFound
        } else if has(&["connection", "reset", "broke off"]) {
            Problem::Connection
        } else {
            return None;
        })
    }

    /// A short name for the kind ("connection refused").
    pub fn name(self) -> &'static str {
        match self {
            Problem::Refused => "connection refused",
            Problem::Connection => "connection fails",
            Problem::Dns => "name does not resolve",
            Problem::TlsName => "certificate for another name",
            Problem::TlsExpired => "certificate expired",
            Problem::TlsUntrusted => "certificate not trusted",
            Problem::Tls => "secure connection fails",
            Problem::Timeout => "no answer in time",
            Problem::NotFound => "files not found",
            Problem::ServerError => "server errors",
            Problem::WrongFile => "wrong files",
            Problem::Redirect => "redirects elsewhere",
            Problem::Protocol => "not HTTP",
        }
    }

    /// What the problem means for the mirror at `base_url`, and what to
    /// do about it, in one sentence.
    pub fn advice(self, base_url: &str) -> String {
        let (host, port) = host_port(base_url);
        match self {
            Problem::Refused => format!(
                "Nothing listens on port {port} of {host}: is the server up, is the base URL right?"
            ),
            Problem::Connection => format!(
                "The connection to port {port} of {host} broke off: is the server overloaded, or a firewall in between?"
            ),
            Problem::Dns => format!(
                "The host name {host} does not resolve: is it spelled right in the base URL, and does the mirror's DNS have it?"
            ),
            Problem::TlsName => format!(
                "The certificate of {host} is for another name: use the name it is for in the base URL, or ask the mirror to fix its certificate."
            ),
            Problem::TlsExpired => format!(
                "The certificate of {host} has expired (or is not valid yet): the mirror's operator must renew it."
            ),
            Problem::TlsUntrusted => format!(
                "The certificate of {host} is not signed by a trusted authority (self-signed, or the chain is incomplete): the mirror must serve a full chain from a public authority."
            ),
            Problem::Tls => format!(
                "The secure connection to port {port} of {host} fails: does that port speak HTTPS? Use http:// in the base URL if the mirror has no HTTPS."
            ),
            Problem::Timeout => format!(
                "{host} did not answer in time: the server or its network is overloaded, or a firewall drops the checker's connections."
            ),
            Problem::NotFound => format!(
                "The files are not under {base_url} (not found): is the base URL the directory that holds the product directories, and has the mirror synced?"
            ),
            Problem::ServerError => format!(
                "{host} answers with server errors (5xx): the mirror's web server is failing; its operator should look at its logs."
            ),
            Problem::WrongFile => "Files differ from the published sizes or checksums (or an HTML page came instead of a file): the mirror is stale or partly synced.".to_string(),
            Problem::Redirect => format!(
                "{host} redirects the checker where it does not follow (a loop, or an internal address): the base URL should point at the files themselves."
            ),
            Problem::Protocol => format!(
                "Something that is not a web server answers on port {port} of {host}: is the port in the base URL right?"
            ),
        }
    }
}

/// Whether `error` (lower case, without a leading path) reports an HTTP
/// 5xx status: `503 Service Unavailable`.
fn server_error(error: &str) -> bool {
    let starts_5xx = |s: &str| {
        let b = s.as_bytes();
        b.len() >= 3
            && b[0] == b'5'
            && b[1].is_ascii_digit()
            && b[2].is_ascii_digit()
            && b.get(3).is_none_or(|c| !c.is_ascii_digit())
    };
    starts_5xx(error) || error.split(": ").skip(1).any(starts_5xx)
}

/// The host and port of an `http://` or `https://` URL (the scheme's port
/// when none is given).
pub fn host_port(url: &str) -> (String, u16) {
    let (https, rest) = match url.split_once("://") {
        Some((scheme, rest)) => (scheme.eq_ignore_ascii_case("https"), rest),
        None => (false, url),
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let authority = authority.rsplit('@').next().unwrap_or(authority);
    let default = if https { 443 } else { 80 };
    // [v6]:port, host:port, host.
    if let Some(v6) = authority.strip_prefix('[') {
        let (host, after) = v6.split_once(']').unwrap_or((v6, ""));
        let port = after.strip_prefix(':').and_then(|p| p.parse().ok());
        return (host.to_string(), port.unwrap_or(default));
    }
    match authority.rsplit_once(':') {
        Some((host, port)) if port.parse::<u16>().is_ok() => {
            (host.to_string(), port.parse().unwrap_or(default))
        }
        _ => (authority.to_string(), default),
    }
}

/// A mirror's state in one word, the same on every page (admin lists,
/// overview, mirror page, public status).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MirrorState {
    /// Switched off by an operator.
    Disabled,
    /// Rating 0: on standby, out of rotation.
    Standby,
    /// Never checked by sentry.
    Unchecked,
    /// Failed its last check.
    Down,
    /// Answers, but receives downloads for none of its files (none found
    /// yet, or all missing).
    ServesNothing,
    /// Up, but changing state often: its weight is damped.
    Flapping,
    /// Up and serving.
    Up,
}

impl MirrorState {
    /// The state of mirror `m` with sentry's view `h`, receiving downloads
    /// for `serves` locations now, in a network of `locations` locations
    /// of active products (with none, serving nothing is no fault).
    pub fn of(
        m: &Mirror,
        h: Option<&MirrorHealth>,
        serves: usize,
        locations: usize,
        now: u64,
    ) -> MirrorState {
        match h {
            _ if !m.active => MirrorState::Disabled,
            _ if m.rating == 0 => MirrorState::Standby,
            None => MirrorState::Unchecked,
            Some(h) if h.checked_at == 0 => MirrorState::Unchecked,
            Some(h) if !h.healthy => MirrorState::Down,
            Some(_) if serves == 0 && locations > 0 => MirrorState::ServesNothing,
            Some(h) if h.is_flapping(now) => MirrorState::Flapping,
            Some(_) => MirrorState::Up,
        }
    }

    /// The word pages show ("up — serves nothing").
    pub fn word(self) -> &'static str {
        match self {
            MirrorState::Disabled => "disabled",
            MirrorState::Standby => "rating 0",
            MirrorState::Unchecked => "unchecked",
            MirrorState::Down => "down",
            MirrorState::ServesNothing => "up — serves nothing",
            MirrorState::Flapping => "flapping",
            MirrorState::Up => "up",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_are_classified_with_advice_naming_host_and_port() {
        let refused = "connection failed: io: Connection refused (os error 111)";
        assert_eq!(Problem::of(refused), Some(Problem::Refused));
        assert_eq!(
            Problem::Refused.advice("http://127.0.0.1:9/pub"),
            "Nothing listens on port 9 of 127.0.0.1: is the server up, is the base URL right?"
        );
        assert!(
            Problem::Refused
                .advice("https://m.example/x")
                .contains("port 443 of m.example")
        );
        for (text, kind) in [
            ("host name does not resolve: dns failed", Problem::Dns),
            (
                "TLS failed: invalid peer certificate: NotValidForName",
                Problem::TlsName,
            ),
            (
                "TLS failed: invalid peer certificate: Expired",
                Problem::TlsExpired,
            ),
            (
                "TLS failed: invalid peer certificate: UnknownIssuer",
                Problem::TlsUntrusted,
            ),
            ("TLS failed: received corrupt message", Problem::Tls),
            ("timed out", Problem::Timeout),
            ("/pub/f.exe: timed out: timeout: global", Problem::Timeout),
            ("/pub/f.exe: 404 Not Found", Problem::NotFound),
            ("503 Service Unavailable", Problem::ServerError),
            ("/pub/f.exe: 502 Bad Gateway", Problem::ServerError),
            ("size 3 bytes, expected 42", Problem::WrongFile),
            ("sha256 mismatch: got ab, expected cd", Problem::WrongFile),
            ("redirect loop: x", Problem::Redirect),
            ("broken http: x", Problem::Protocol),
            ("connection failed: reset by peer", Problem::Connection),
        ] {
            assert_eq!(Problem::of(text), Some(kind), "{text}");
        }
        assert_eq!(Problem::of(""), None);
        assert_eq!(Problem::of("something odd"), None);
    }

    #[test]
    fn paths_in_old_error_texts_are_not_read() {
        // A missing file under a directory named like a kind of problem is
        // still a missing file.
        for (text, kind) in [
            ("/pub/dnsutils/x.tgz: 404 Not Found", Problem::NotFound),
            (
                "/pub/certificate-tools/a.zip: 404 Not Found",
                Problem::NotFound,
            ),
            (
                "/pub/timeout/redirect/expected.exe: 410 Gone",
                Problem::NotFound,
            ),
            ("/pub/dns/x.tgz: 502 Bad Gateway", Problem::ServerError),
            (
                "/pub/dns/x.tgz: size 3 bytes, expected 42",
                Problem::WrongFile,
            ),
        ] {
            assert_eq!(Problem::of(text), Some(kind), "{text}");
        }
        // A stored kind wins over the text; rows without one fall back.
        let stored = MirrorCheck {
            error: "/pub/dnsutils/x.tgz: something new".into(),
            problem: Some(Problem::NotFound),
            ..MirrorCheck::default()
        };
        assert_eq!(stored.problem(), Some(Problem::NotFound));
        let old = MirrorCheck {
            problem: None,
            error: "/pub/dnsutils/x.tgz: 404 Not Found".into(),
            ..stored
        };
        assert_eq!(old.problem(), Some(Problem::NotFound));
    }

    #[test]
    fn every_kind_has_its_own_code() {
        assert_eq!(Problem::code(None), 0);
        assert_eq!(Problem::from_code(0), None);
        assert_eq!(Problem::from_code(200), None);
        for p in Problem::ALL {
            assert_eq!(Problem::from_code(Problem::code(Some(p))), Some(p));
        }
    }

    #[test]
    fn hosts_and_ports_come_from_the_base_url() {
        assert_eq!(host_port("http://a.example/x"), ("a.example".into(), 80));
        assert_eq!(host_port("https://a.example"), ("a.example".into(), 443));
        assert_eq!(
            host_port("http://a.example:8080/x"),
            ("a.example".into(), 8080)
        );
        assert_eq!(host_port("http://[::1]:81/x"), ("::1".into(), 81));
        assert_eq!(host_port("https://[::1]/x"), ("::1".into(), 443));
    }

    fn check(at: u64, ok: bool) -> MirrorCheck {
        MirrorCheck {
            at,
            ok,
            ..MirrorCheck::default()
        }
    }

    #[test]
    fn uptime_is_weighted_by_time() {
        // Up from 0 to 300, down 300 to 400: 75 %.
        let checks = [check(0, true), check(100, true), check(300, false)];
        let (share, covered) = uptime(&checks, 0, 400).unwrap();
        assert_eq!(covered, 400);
        assert!((share - 0.75).abs() < 1e-9, "{share}");
        // A window starting later counts only its part.
        let (share, covered) = uptime(&checks, 200, 400).unwrap();
        assert_eq!(covered, 200);
        assert!((share - 0.5).abs() < 1e-9);
        // A gap longer than a check stands is not counted.
        let checks = [check(0, false), check(10 * 86_400, true)];
        let (share, covered) = uptime(&checks, 0, 10 * 86_400 + 100).unwrap();
        assert_eq!(covered, 86_400 + 100);
        assert!(share < 0.01);
        assert_eq!(uptime(&[], 0, 100), None);
    }

    #[test]
    fn a_mirror_that_answers_and_serves_nothing_is_not_up() {
        let m = crate::model::fixtures::mirror(1, "http://m.example", 100);
        let h = MirrorHealth {
            checked_at: 5,
            ..MirrorHealth::default()
        };
        let state = |serves, locations| MirrorState::of(&m, Some(&h), serves, locations, 10);
        assert_eq!(state(0, 10), MirrorState::ServesNothing);
        assert_eq!(state(0, 10).word(), "up — serves nothing");
        assert_eq!(state(3, 10), MirrorState::Up);
        assert_eq!(state(0, 0), MirrorState::Up, "nothing to serve");
        assert_eq!(MirrorState::of(&m, None, 0, 10, 10), MirrorState::Unchecked);
        let down = MirrorHealth {
            healthy: false,
            ..h.clone()
        };
        assert_eq!(
            MirrorState::of(&m, Some(&down), 0, 10, 10),
            MirrorState::Down
        );
        let off = Mirror {
            active: false,
            ..m.clone()
        };
        assert_eq!(
            MirrorState::of(&off, Some(&h), 5, 10, 10),
            MirrorState::Disabled
        );
    }
}
