//! HTTP checks against mirrors, with ureq over rustls. Certificates are
//! verified against the platform's trust store (`SSL_CERT_FILE` and
//! `SSL_CERT_DIR` honoured), one redirect is followed at most, every
//! request has timeouts and a clear User-Agent.
//!
//! Redirects are followed here, not by ureq, so that a mirror cannot make
//! sentry probe an internal network: a redirect to a loopback, private,
//! link-local or unspecified address is refused unless the mirror itself
//! is at an address of that class ([`redirect_allowed`]).

use std::io::Read;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use md5::Md5;
use sha1::{Digest, Sha1};
use sha2::Sha256;
use ureq::Agent;
use ureq::tls::{Certificate, RootCerts, TlsConfig};

use super::verdict::{Digests, Failure, Observation};
use crate::model::Family;

/// Timeouts and identity of the checker.
#[derive(Clone, Debug)]
pub struct ProbeConfig {
    /// To establish a connection.
    pub connect_timeout: Duration,
    /// From request to response headers.
    pub response_timeout: Duration,
    /// Longest pause while downloading a body for a hash check.
    pub read_timeout: Duration,
    /// The User-Agent header.
    pub user_agent: String,
    /// Idle connections kept per mirror (checks in flight on one mirror),
    /// so checks reuse connections instead of opening one each.
    pub idle_per_host: usize,
    /// Certificates (DER) trusted besides the platform's: the demo's own.
    pub also_trust: Vec<Vec<u8>>,
    /// Host names checked at these addresses instead of what DNS says
    /// (`--resolve`, as curl's): lower-case name → addresses.
    pub resolve: Overrides,
}

/// Host names with fixed addresses (`--resolve NAME=ADDR,…`).
pub type Overrides = std::collections::BTreeMap<String, Vec<std::net::IpAddr>>;

/// One `--resolve NAME=ADDR[,ADDR…]`: a host name sentry checks at these
/// addresses instead of what DNS says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Resolve {
    /// The host name, lower-cased.
    pub name: String,
    /// Its addresses, IPv4 or IPv6.
    pub addrs: Vec<std::net::IpAddr>,
}

impl std::str::FromStr for Resolve {
    type Err = String;

    /// Reads `NAME=ADDR[,ADDR…]`: the name lower-cased, each address an
    /// IPv4 or IPv6 address (brackets allowed).
    fn from_str(arg: &str) -> Result<Resolve, String> {
        let (name, addrs) = arg.split_once('=').ok_or_else(|| {
            format!("--resolve {arg:?}: give NAME=ADDRESS[,ADDRESS…], e.g. mirror.example=192.0.2.7,2001:db8::7")
        })?;
        let name = host_key(name);
        if name.is_empty() {
            return Err(format!(
                "--resolve {arg:?}: the host name is missing before '='"
            ));
        }
        let addrs = addrs
            .split(',')
            .map(|a| {
                let a = a.trim();
                a.trim_start_matches('[')
                    .trim_end_matches(']')
                    .parse()
                    .map_err(|_| format!("--resolve {arg:?}: {a:?} is not an IPv4 or IPv6 address"))
            })
            .collect::<Result<Vec<std::net::IpAddr>, String>>()?;
        Ok(Resolve { name, addrs })
    }
}

/// How `--resolve` and URLs name a host alike: lower case, no brackets.
fn host_key(host: &str) -> String {
    host.trim().trim_matches(['[', ']']).to_ascii_lowercase()
}

impl ProbeConfig {
    /// Adds `--resolve` entries (a later one for a name replaces an
    /// earlier one).
    pub fn add_resolve(&mut self, entries: &[Resolve]) {
        for r in entries {
            self.resolve.insert(r.name.clone(), r.addrs.clone());
        }
    }
}

impl Default for ProbeConfig {
    fn default() -> Self {
        ProbeConfig {
            connect_timeout: Duration::from_secs(5),
            response_timeout: Duration::from_secs(10),
            read_timeout: Duration::from_secs(30),
            user_agent: format!(
                "Bouncer-Sentry/{} (mirror checker)",
                env!("CARGO_PKG_VERSION")
            ),
            idle_per_host: 4,
            also_trust: Vec::new(),
            resolve: Overrides::new(),
        }
    }
}

impl ProbeConfig {
    /// One limit, in seconds, for connecting, for the answer and for any
    /// pause in a download (a mirror that stalls mid-body is as down as one
    /// that never answers).
    pub fn set_timeout(&mut self, secs: u64) {
        let t = Duration::from_secs(secs.max(1));
        self.connect_timeout = t;
        self.response_timeout = t;
        self.read_timeout = t;
    }
}

/// Idle connections kept in all (a network of 250 mirrors × 4).
const IDLE_CONNECTIONS: usize = 1024;

/// Makes checks, over either address family or one of them.
pub struct Prober {
    /// Per [`way`]: for HEADs, and for downloads.
    agents: [(Agent, Agent); 3],
    resolve: std::sync::Arc<Overrides>,
}

/// The agents' slot for reaching a host over `via` (`None`: either).
fn way(via: Option<Family>) -> usize {
    match via {
        None => 0,
        Some(Family::V4) => 1,
        Some(Family::V6) => 2,
    }
}

/// ureq's resolver, but names in `--resolve` get their given addresses
/// (of the family the agent is for).
#[derive(Debug)]
struct Resolver {
    overrides: std::sync::Arc<Overrides>,
    dns: ureq::unversioned::resolver::DefaultResolver,
}

impl ureq::unversioned::resolver::Resolver for Resolver {
    fn resolve(
        &self,
        uri: &ureq::http::Uri,
        config: &ureq::config::Config,
        timeout: ureq::unversioned::transport::NextTimeout,
    ) -> Result<ureq::unversioned::resolver::ResolvedSocketAddrs, ureq::Error> {
        let given = uri.host().and_then(|h| self.overrides.get(&host_key(h)));
        let Some(given) = given else {
            return self.dns.resolve(uri, config, timeout);
        };
        let https = uri.scheme_str() == Some("https");
        let port = uri.port_u16().unwrap_or(if https { 443 } else { 80 });
        let mut out = self.empty();
        let addrs = given.iter().map(|ip| std::net::SocketAddr::new(*ip, port));
        for addr in config.ip_family().keep_wanted(addrs) {
            out.push(addr);
        }
        if out.is_empty() {
            return Err(ureq::Error::HostNotFound);
        }
        Ok(out)
    }
}

impl Prober {
    /// A prober with these timeouts, trusting the platform's certificates.
    pub fn new(config: &ProbeConfig) -> Prober {
        let roots = rustls_native_certs::load_native_certs();
        let certs: Vec<Certificate<'static>> = (roots.certs.iter().map(|c| c.as_ref()))
            .chain(config.also_trust.iter().map(Vec::as_slice))
            .map(|c| Certificate::from_der(c).to_owned())
            .collect();
        let tls = TlsConfig::builder()
            .root_certs(if certs.is_empty() {
                RootCerts::WebPki
            } else {
                RootCerts::new_with_certs(&certs)
            })
            .build();
        let resolve = std::sync::Arc::new(config.resolve.clone());
        let agent = |response: Option<Duration>, via: Option<Family>| -> Agent {
            let config = Agent::config_builder()
                .ip_family(match via {
                    None => ureq::config::IpFamily::Any,
                    Some(Family::V4) => ureq::config::IpFamily::Ipv4Only,
                    Some(Family::V6) => ureq::config::IpFamily::Ipv6Only,
                })
                .tls_config(tls.clone())
                .http_status_as_error(false)
                // Followed by `Prober::call`, which vets the target.
                .max_redirects(0)
                .max_idle_connections(IDLE_CONNECTIONS)
                .max_idle_connections_per_host(config.idle_per_host.max(1))
                .user_agent(config.user_agent.as_str())
                .timeout_connect(Some(config.connect_timeout))
                .timeout_recv_response(response)
                .timeout_per_read(Some(config.read_timeout))
                .build();
            let resolver = Resolver {
                overrides: resolve.clone(),
                dns: Default::default(),
            };
            Agent::with_parts(
                config,
                ureq::unversioned::transport::DefaultConnector::new(),
                resolver,
            )
        };
        let both = |via| {
            (
                agent(Some(config.response_timeout), via),
                agent(Some(config.response_timeout), via),
            )
        };
        Prober {
            agents: [both(None), both(Some(Family::V4)), both(Some(Family::V6))],
            resolve,
        }
    }

    /// The address families `url`'s host has addresses in (an address
    /// given: its own; a name: what `--resolve` or DNS says), IPv4 first.
    /// Empty when the name does not resolve.
    pub fn families(&self, url: &str) -> Vec<Family> {
        let Ok(uri) = url.parse::<ureq::http::Uri>() else {
            return Vec::new();
        };
        let Some(host) = uri.host().map(host_key) else {
            return Vec::new();
        };
        let addrs: Vec<std::net::IpAddr> = if let Some(given) = self.resolve.get(&host) {
            given.clone()
        } else {
            // An address stands for itself; a name asks the system.
            use std::net::ToSocketAddrs;
            (host.as_str(), 80)
                .to_socket_addrs()
                .map(|a| a.map(|a| a.ip()).collect())
                .unwrap_or_default()
        };
        Family::ALL
            .into_iter()
            .filter(|&f| addrs.iter().any(|&ip| Family::of(ip) == f))
            .collect()
    }

    /// Sends `request` for `url`, and once more for the target of a
    /// redirect if [`redirect_allowed`] lets it go there; a second
    /// redirect is a failure, as is a refused target.
    fn call(
        url: &str,
        request: impl Fn(&str) -> Result<Response, ureq::Error>,
    ) -> Result<Response, Box<Observation>> {
        let first = request(url).map_err(|e| Box::new(failed(&e)))?;
        let Some(target) = redirect_target(url, &first) else {
            return Ok(first);
        };
        if let Err(why) = redirect_allowed(url, &target) {
            return Err(Box::new(Observation::Failed {
                failure: Failure::InternalRedirect,
                detail: why,
            }));
        }
        let second = request(&target).map_err(|e| Box::new(failed(&e)))?;
        if redirect_target(&target, &second).is_some() {
            return Err(Box::new(Observation::Failed {
                failure: Failure::Redirects,
                detail: format!("{url} redirects to {target}, which redirects again"),
            }));
        }
        Ok(second)
    }

    /// HEAD `url` over `via` (`None`: either family); a server that
    /// refuses HEAD (405, 501) is asked for the first byte with a ranged
    /// GET instead.
    pub fn head(&self, url: &str, via: Option<Family>) -> Observation {
        let started = Instant::now();
        let agent = &self.agents[way(via)].0;
        let ranged = |u: &str| agent.get(u).header("Range", "bytes=0-0").call();
        let seen = match Self::call(url, |u| agent.head(u).call()) {
            Ok(r) if matches!(r.status().as_u16(), 405 | 501) => match Self::call(url, ranged) {
                Ok(mut r) => {
                    // Read the (one-byte) body so the connection is reused.
                    let _ = r.body_mut().with_config().limit(1024).read_to_vec();
                    answer(&r)
                }
                Err(seen) => *seen,
            },
            Ok(r) => answer(&r),
            Err(seen) => *seen,
        };
        with_elapsed(seen, started)
    }

    /// GET `url` and compute MD5, SHA-1 and SHA-256 of the body in one
    /// streamed pass (the digests on their own threads).
    pub fn digests(&self, url: &str) -> Observation {
        self.digests_of(url, Kinds::ALL, None)
    }

    /// GET `url` over `via` and compute the digests in `kinds` in one
    /// streamed pass.
    pub fn digests_of(&self, url: &str, kinds: Kinds, via: Option<Family>) -> Observation {
        let started = Instant::now();
        let download = &self.agents[way(via)].1;
        let mut response = match Self::call(url, |u| download.get(u).call()) {
            Ok(r) => r,
            Err(seen) => return with_elapsed(*seen, started),
        };
        if !response.status().is_success() {
            return with_elapsed(answer(&response), started);
        }
        let mut reader = response.body_mut().with_config().limit(u64::MAX).reader();
        let digests = match hash_kinds(&mut reader, kinds) {
            Ok(d) => d,
            Err(e) => {
                return with_elapsed(
                    Observation::Failed {
                        failure: if e.kind() == std::io::ErrorKind::TimedOut {
                            Failure::Timeout
                        } else {
                            Failure::Connection
                        },
                        detail: format!("download broke off: {e}"),
                    },
                    started,
                );
            }
        };
        let mut seen = answer(&response);
        if let Observation::Answer {
            length, digests: d, ..
        } = &mut seen
        {
            *length = Some(digests.bytes);
            *d = Some(digests);
        }
        with_elapsed(seen, started)
    }
}

impl Prober {
    /// GET the trace file at `url` over `via` and read when it says its
    /// mirror last synced ([`crate::model::freshness::synced_at`]): `Err`
    /// says why not.
    pub fn trace(&self, url: &str, via: Option<Family>) -> Result<u64, String> {
        let agent = &self.agents[way(via)].0;
        let mut r = match Self::call(url, |u| agent.get(u).call()) {
            Ok(r) => r,
            Err(seen) => {
                return Err(match *seen {
                    Observation::Failed { detail, .. } => detail,
                    Observation::Answer { status, .. } => format!("HTTP {status}"),
                });
            }
        };
        if !r.status().is_success() {
            return Err(format!("{url}: HTTP {}", r.status().as_u16()));
        }
        let modified = r
            .headers()
            .get("last-modified")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let body = r
            .body_mut()
            .with_config()
            .limit(64 * 1024)
            .read_to_vec()
            .map_err(|e| format!("{url}: {e}"))?;
        let text = String::from_utf8_lossy(&body[..body.len().min(4096)]);
        crate::model::freshness::synced_at(&text, modified.as_deref())
            .ok_or_else(|| format!("{url} says no time and has no Last-Modified"))
    }

    /// GET the first `max` bytes of `url` (a ranged request; a server that
    /// ignores the range is cut off at `max`) and time it. `None` when the
    /// download fails.
    pub fn measure(&self, url: &str, max: u64, via: Option<Family>) -> Option<(u64, u64)> {
        let started = Instant::now();
        let range = format!("bytes=0-{}", max.saturating_sub(1));
        let download = &self.agents[way(via)].1;
        let mut r = Self::call(url, |u| {
            download.get(u).header("Range", range.as_str()).call()
        })
        .ok()?;
        if !r.status().is_success() {
            return None;
        }
        let mut reader = r
            .body_mut()
            .with_config()
            .limit(u64::MAX)
            .reader()
            .take(max);
        let bytes = std::io::copy(&mut reader, &mut std::io::sink()).ok()?;
        Some((bytes, started.elapsed().as_millis() as u64))
    }
}

/// Size of the chunks handed to the hashing threads.
const CHUNK: usize = 256 * 1024;

/// Which digests to compute.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Kinds {
    /// MD5.
    pub md5: bool,
    /// SHA-1.
    pub sha1: bool,
    /// SHA-256.
    pub sha256: bool,
}

impl Kinds {
    /// All three.
    pub const ALL: Kinds = Kinds {
        md5: true,
        sha1: true,
        sha256: true,
    };

    /// The strongest digest `expected` knows: comparing it proves the
    /// content, and computing one digest costs a third of three.
    pub fn strongest(expected: &super::verdict::Expected) -> Kinds {
        Kinds {
            sha256: expected.sha256.is_some(),
            sha1: expected.sha256.is_none() && expected.sha1.is_some(),
            md5: expected.sha256.is_none() && expected.sha1.is_none() && expected.md5.is_some(),
        }
    }
}

/// Reads `input` to the end, computing all three digests in one pass.
pub fn hash_stream(input: &mut impl Read) -> std::io::Result<Digests> {
    hash_kinds(input, Kinds::ALL)
}

/// Reads `input` to the end, computing the digests in `kinds` (the others
/// stay empty) while this thread reads: MD5 on one thread, SHA-1 and
/// SHA-256 on another.
pub fn hash_kinds(input: &mut impl Read, kinds: Kinds) -> std::io::Result<Digests> {
    type Chunk = std::sync::Arc<Vec<u8>>;
    std::thread::scope(|scope| {
        let mut senders: Vec<mpsc::SyncSender<Chunk>> = Vec::new();
        let md5 = kinds.md5.then(|| {
            let (tx, rx) = mpsc::sync_channel::<Chunk>(8);
            senders.push(tx);
            scope.spawn(move || {
                let mut h = Md5::new();
                for chunk in rx {
                    h.update(&chunk[..]);
                }
                hex(&h.finalize())
            })
        });
        let sha = (kinds.sha1 || kinds.sha256).then(|| {
            let (tx, rx) = mpsc::sync_channel::<Chunk>(8);
            senders.push(tx);
            scope.spawn(move || {
                let (mut h1, mut h256) = (Sha1::new(), Sha256::new());
                for chunk in rx {
                    if kinds.sha1 {
                        h1.update(&chunk[..]);
                    }
                    if kinds.sha256 {
                        h256.update(&chunk[..]);
                    }
                }
                (
                    if kinds.sha1 {
                        hex(&h1.finalize())
                    } else {
                        String::new()
                    },
                    if kinds.sha256 {
                        hex(&h256.finalize())
                    } else {
                        String::new()
                    },
                )
            })
        });
        let mut bytes = 0u64;
        let read = loop {
            let mut buf = vec![0u8; CHUNK];
            let mut filled = 0;
            // Fill whole chunks: fewer hand-offs between threads.
            let mut failed = None;
            while filled < CHUNK {
                match input.read(&mut buf[filled..]) {
                    Ok(0) => break,
                    Ok(n) => filled += n,
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                    Err(e) => {
                        failed = Some(e);
                        break;
                    }
                }
            }
            if let Some(e) = failed {
                break Err(e);
            }
            if filled == 0 {
                break Ok(());
            }
            buf.truncate(filled);
            bytes += filled as u64;
            let chunk = std::sync::Arc::new(buf);
            if senders.iter().any(|tx| tx.send(chunk.clone()).is_err()) {
                break Ok(());
            }
        };
        drop(senders);
        let md5 = md5
            .map(|t| t.join().unwrap_or_default())
            .unwrap_or_default();
        let (sha1, sha256) = sha
            .map(|t| t.join().unwrap_or_default())
            .unwrap_or_default();
        read.map(|()| Digests {
            md5,
            sha1,
            sha256,
            bytes,
        })
    })
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

/// A response as ureq gives it.
type Response = ureq::http::Response<ureq::Body>;

/// Where a 3xx answer to a request for `url` points, as an absolute URL
/// (`None` for other answers, or a redirect without a usable `Location`).
fn redirect_target(url: &str, r: &Response) -> Option<String> {
    if !r.status().is_redirection() {
        return None;
    }
    let location = r.headers().get("location")?.to_str().ok()?.trim();
    if location.starts_with("http://") || location.starts_with("https://") {
        return Some(location.to_string());
    }
    let (scheme, rest) = url.split_once("://")?;
    let authority = rest.split('/').next()?;
    if let Some(other_host) = location.strip_prefix("//") {
        return Some(format!("{scheme}://{other_host}"));
    }
    if location.starts_with('/') {
        return Some(format!("{scheme}://{authority}{location}"));
    }
    // Relative to the directory of `url`.
    let path = &rest[authority.len()..];
    let dir = &path[..path.rfind('/').map_or(0, |i| i + 1)];
    Some(format!("{scheme}://{authority}{dir}{location}"))
}

/// How far from the public Internet an address is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reach {
    /// A public address (or a name that does not resolve here).
    Public,
    /// 127.0.0.0/8, ::1.
    Loopback,
    /// 10/8, 172.16/12, 192.168/16, 100.64/10 (shared), fc00::/7.
    Private,
    /// 169.254/16, fe80::/10.
    LinkLocal,
    /// 0.0.0.0/8, ::.
    Unspecified,
}

impl Reach {
    /// The class of one address (IPv4-mapped IPv6 as IPv4).
    pub fn of(ip: std::net::IpAddr) -> Reach {
        use std::net::IpAddr;
        match crate::client::unmap(ip) {
            IpAddr::V4(v4) => {
                let [a, b, ..] = v4.octets();
                if v4.is_loopback() {
                    Reach::Loopback
                } else if a == 0 {
                    Reach::Unspecified
                } else if v4.is_link_local() {
                    Reach::LinkLocal
                } else if v4.is_private() || (a == 100 && (64..128).contains(&b)) {
                    Reach::Private
                } else {
                    Reach::Public
                }
            }
            IpAddr::V6(v6) => {
                let first = v6.segments()[0];
                if v6.is_loopback() {
                    Reach::Loopback
                } else if v6.is_unspecified() {
                    Reach::Unspecified
                } else if first & 0xffc0 == 0xfe80 {
                    Reach::LinkLocal
                } else if first & 0xfe00 == 0xfc00 {
                    Reach::Private
                } else {
                    Reach::Public
                }
            }
        }
    }

    /// The class of a URL's host: of its address, or the least public of
    /// the addresses its name resolves to (a name that does not resolve
    /// counts as public: nothing internal can be reached through it).
    fn of_url(url: &str) -> (Reach, String) {
        let Ok(uri) = url.parse::<ureq::http::Uri>() else {
            return (Reach::Public, String::new());
        };
        let host = uri.host().unwrap_or("");
        let host = host
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(host);
        let port = uri.port_u16();
        let port = port.unwrap_or(if url.starts_with("https:") { 443 } else { 80 });
        let addresses: Vec<std::net::IpAddr> = match host.parse() {
            Ok(ip) => vec![ip],
            Err(_) => std::net::ToSocketAddrs::to_socket_addrs(&(host, port))
                .map(|a| a.map(|s| s.ip()).collect())
                .unwrap_or_default(),
        };
        let worst = addresses
            .iter()
            .map(|&ip| Reach::of(ip))
            .find(|&r| r != Reach::Public)
            .unwrap_or(Reach::Public);
        (worst, host.to_string())
    }
}

/// Whether sentry may follow a redirect from `url` (on a mirror) to
/// `target`: always to a public address; to a loopback, private,
/// link-local or unspecified one only when the mirror is at one of the
/// same class. `Err` says what was refused, for the report.
pub fn redirect_allowed(url: &str, target: &str) -> Result<(), String> {
    let (to, host) = Reach::of_url(target);
    if to == Reach::Public || Reach::of_url(url).0 == to {
        return Ok(());
    }
    Err(format!(
        "{url} redirects to {target}, and {host} is a {} address while the mirror is not: not followed",
        match to {
            Reach::Loopback => "loopback",
            Reach::Private => "private",
            Reach::LinkLocal => "link-local",
            Reach::Unspecified => "unspecified",
            Reach::Public => "public",
        }
    ))
}

fn answer(r: &ureq::http::Response<ureq::Body>) -> Observation {
    let headers = r.headers();
    let text = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    // A 206 carries the full size after the slash of Content-Range.
    let length = text("content-range")
        .and_then(|v| v.rsplit('/').next())
        .and_then(|v| v.trim().parse().ok())
        .or_else(|| text("content-length").and_then(|v| v.trim().parse().ok()));
    Observation::Answer {
        status: r.status().as_u16(),
        content_type: text("content-type").map(|v| {
            v.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        }),
        length,
        digests: None,
        elapsed_ms: 0,
    }
}

fn failed(e: &ureq::Error) -> Observation {
    use ureq::Error as E;
    let failure = match e {
        E::Timeout(_) => Failure::Timeout,
        E::HostNotFound => Failure::Dns,
        E::ConnectionFailed => Failure::Connection,
        E::Io(io) => match io.kind() {
            std::io::ErrorKind::TimedOut | std::io::ErrorKind::WouldBlock => Failure::Timeout,
            std::io::ErrorKind::ConnectionRefused => Failure::Refused,
            // The resolver's failures arrive as plain I/O errors.
            _ if io.to_string().contains("lookup address") => Failure::Dns,
            // So do handshake and certificate failures: ureq drives rustls
            // over the socket, and rustls reports them as invalid data.
            std::io::ErrorKind::InvalidData => Failure::Tls,
            _ => Failure::Connection,
        },
        E::Tls(_) | E::Rustls(_) | E::Pem(_) => Failure::Tls,
        E::TooManyRedirects | E::RedirectFailed => Failure::Redirects,
        _ => Failure::Protocol,
    };
    Observation::Failed {
        failure,
        detail: e.to_string(),
    }
}

fn with_elapsed(mut seen: Observation, started: Instant) -> Observation {
    if let Observation::Answer { elapsed_ms, .. } = &mut seen {
        *elapsed_ms = started.elapsed().as_millis() as u64;
    }
    seen
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolve_entries_name_a_host_and_its_addresses() {
        let r: Resolve = "Mirror.Example=192.0.2.7, [2001:db8::7]".parse().unwrap();
        assert_eq!(r.name, "mirror.example");
        let addrs: Vec<String> = r.addrs.iter().map(ToString::to_string).collect();
        assert_eq!(addrs, ["192.0.2.7", "2001:db8::7"]);
        let err = |arg: &str| arg.parse::<Resolve>().unwrap_err();
        assert!(err("mirror.example").contains("give NAME=ADDRESS"));
        assert!(err("=192.0.2.7").contains("host name is missing"));
        assert!(err("m=192.0.2.300").contains("not an IPv4 or IPv6 address"));
        let mut config = ProbeConfig::default();
        config.add_resolve(&[r, "mirror.example=::1".parse().unwrap()]);
        assert_eq!(
            config.resolve["mirror.example"],
            ["::1".parse::<std::net::IpAddr>().unwrap()]
        );
        // The prober knows the families a name has from them.
        let prober = Prober::new(&config);
        assert_eq!(
            prober.families("http://MIRROR.example:81/pub/"),
            [Family::V6]
        );
        assert_eq!(prober.families("http://127.0.0.1/pub/"), [Family::V4]);
        assert_eq!(prober.families("http://[::1]:8080/"), [Family::V6]);
    }

    #[test]
    fn redirects_to_internal_addresses_are_refused_from_public_mirrors() {
        let public = "http://203.0.113.5/pub/f.exe";
        for target in [
            "http://127.0.0.1/x",
            "http://127.1.2.3:8080/x",
            "http://[::1]/x",
            "http://10.1.2.3/x",
            "http://172.16.0.1/x",
            "http://192.168.1.1/x",
            "http://100.64.0.1/x",
            "http://169.254.169.254/latest/meta-data/",
            "http://[fe80::1]/x",
            "http://[fd00::1]/x",
            "http://0.0.0.0/x",
            "http://[::ffff:127.0.0.1]/x",
            "http://user@127.0.0.1/x",
        ] {
            let e = redirect_allowed(public, target).unwrap_err();
            assert!(e.contains("not followed"), "{target}: {e}");
        }
        // Public targets are fine; so are internal ones of the mirror's own
        // class (a mirror on a private network redirecting within it).
        assert!(redirect_allowed(public, "https://198.51.100.9/f.exe").is_ok());
        assert!(redirect_allowed("http://127.0.0.1:8/f", "http://127.0.0.1:9/f").is_ok());
        assert!(redirect_allowed("http://10.0.0.1/f", "http://10.9.9.9/f").is_ok());
        assert!(redirect_allowed("http://10.0.0.1/f", "http://127.0.0.1/f").is_err());
        // A name that does not resolve here reaches nothing internal.
        assert!(redirect_allowed(public, "http://mirror.invalid/f").is_ok());
    }

    #[test]
    fn redirect_targets_are_made_absolute() {
        let r = |status: u16, location: &str| {
            ureq::http::Response::builder()
                .status(status)
                .header("location", location)
                .body(ureq::Body::builder().data(""))
                .unwrap()
        };
        let url = "http://m.example:8080/pub/dir/f.exe";
        assert_eq!(redirect_target(url, &r(200, "/x")), None);
        assert_eq!(
            redirect_target(url, &r(302, "https://o.example/y")).as_deref(),
            Some("https://o.example/y")
        );
        assert_eq!(
            redirect_target(url, &r(301, "/other/g.exe")).as_deref(),
            Some("http://m.example:8080/other/g.exe")
        );
        assert_eq!(
            redirect_target(url, &r(307, "//127.0.0.1/z")).as_deref(),
            Some("http://127.0.0.1/z")
        );
        assert_eq!(
            redirect_target(url, &r(302, "g.exe")).as_deref(),
            Some("http://m.example:8080/pub/dir/g.exe")
        );
    }

    #[test]
    fn digests_of_known_input() {
        let data = b"The quick brown fox jumps over the lazy dog".repeat(20_000);
        let d = hash_stream(&mut &data[..]).unwrap();
        assert_eq!(d.bytes, data.len() as u64);
        assert_eq!(hex(&Md5::digest(&data)), d.md5);
        assert_eq!(hex(&Sha1::digest(&data)), d.sha1);
        assert_eq!(hex(&Sha256::digest(&data)), d.sha256);
        let empty = hash_stream(&mut &b""[..]).unwrap();
        assert_eq!(
            empty.sha256,
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert_eq!(empty.md5, "d41d8cd98f00b204e9800998ecf8427e");
    }

    #[test]
    fn only_the_strongest_known_digest_is_computed() {
        use crate::sentry::verdict::Expected;
        let data = b"abc".repeat(100_000);
        let known = |md5: bool, sha1: bool, sha256: bool| Expected {
            md5: md5.then(String::new),
            sha1: sha1.then(String::new),
            sha256: sha256.then(String::new),
            ..Expected::default()
        };
        let k = Kinds::strongest(&known(true, true, true));
        assert_eq!(
            k,
            Kinds {
                md5: false,
                sha1: false,
                sha256: true
            }
        );
        let d = hash_kinds(&mut &data[..], k).unwrap();
        assert_eq!((d.md5.as_str(), d.sha1.as_str()), ("", ""));
        assert_eq!(d.sha256, hex(&Sha256::digest(&data)));
        assert_eq!(
            Kinds::strongest(&known(true, true, false)),
            Kinds {
                md5: false,
                sha1: true,
                sha256: false
            }
        );
        let d = hash_kinds(&mut &data[..], Kinds::strongest(&known(true, false, false))).unwrap();
        assert_eq!(d.md5, hex(&Md5::digest(&data)));
        assert_eq!(d.bytes, data.len() as u64);
    }
}
