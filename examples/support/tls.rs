//! The HTTPS comparison of `loadtest` (`LOADTEST_TLS=1`): nginx and
//! `bouncer serve --tls-listen` with the same certificate, on keep-alive
//! HTTP/1.1 (wrk), a new TLS connection per request (a full handshake
//! every time: the client here, see [`handshakes`]) and HTTP/2 (h2load).
//! The module documentation of `loadtest` says what is measured and why.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, HandshakeKind, SignatureScheme};

use crate::support::{self, Guard, Result, WrkResult, median, ms};
use crate::{CONNECTIONS, QUERY, free_port, quiet_flags};

/// Alternating nginx/bouncer rounds; the figures are their medians.
const ROUNDS: usize = 3;
/// Requests of each HTTP/2 run.
const H2_REQUESTS: u64 = 200_000;
/// Concurrent streams per HTTP/2 connection.
const H2_STREAMS: u32 = 10;
/// SPEC §10: bouncer / nginx, keep-alive requests per second.
const TARGET_KEEP_ALIVE: f64 = 0.90;
/// SPEC §10: bouncer / nginx, full handshakes per second.
const TARGET_HANDSHAKES: f64 = 0.80;

/// What `run` needs from `loadtest`.
pub struct Setup<'a> {
    pub wrk: &'a Path,
    pub nginx: &'a Path,
    pub h2load: &'a Path,
    pub bouncer: &'a Path,
    pub db: &'a Path,
    pub dir: &'a Path,
    pub secs: u64,
    pub cores: usize,
}

/// The nginx build: its version line, and what the config must say for
/// HTTP/2 (`listen … ssl http2` before 1.25.1, `http2 on;` since).
struct NginxBuild {
    version: String,
    openssl: String,
    http2: bool,
    http2_directive: bool,
}

/// `nginx -V`: there must be an SSL module; HTTP/2 is optional.
fn nginx_build(nginx: &Path) -> Result<NginxBuild> {
    let out = Command::new(nginx)
        .arg("-V")
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run {} -V: {e}", nginx.display()))?;
    // nginx -V writes to stderr.
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout)
    );
    if !text.contains("--with-http_ssl_module") {
        return Err(format!(
            "{} was built without SSL (no --with-http_ssl_module in `nginx -V`), so it cannot serve HTTPS: install an nginx with it (Debian: nginx-light or nginx)\n{text}",
            nginx.display()
        ));
    }
    let version = text
        .lines()
        .find_map(|l| l.strip_prefix("nginx version: "))
        .unwrap_or("nginx (unknown version)")
        .trim()
        .to_string();
    let openssl = text
        .lines()
        .find(|l| l.starts_with("built with "))
        .map(|l| l.trim_start_matches("built with ").trim().to_string())
        .unwrap_or_default();
    let number: Vec<u32> = version
        .split('/')
        .nth(1)
        .unwrap_or("")
        .split(|c: char| !c.is_ascii_digit())
        .filter_map(|n| n.parse().ok())
        .collect();
    let http2_directive = number.as_slice() >= [1, 25, 1].as_slice();
    Ok(NginxBuild {
        version,
        openssl,
        http2: text.contains("--with-http_v2_module"),
        http2_directive,
    })
}

/// One self-signed ECDSA P-256 certificate for 127.0.0.1 and localhost
/// (rcgen's default key), written as `cert.pem` and `key.pem` in `dir`.
fn make_certificate(dir: &Path) -> Result<(PathBuf, PathBuf)> {
    let err = |e: rcgen::Error| format!("cannot make a certificate: {e}");
    let params =
        rcgen::CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()])
            .map_err(err)?;
    let key = rcgen::KeyPair::generate().map_err(err)?;
    let cert = params.self_signed(&key).map_err(err)?;
    let (cert_path, key_path) = (dir.join("cert.pem"), dir.join("key.pem"));
    std::fs::write(&cert_path, cert.pem())
        .map_err(|e| format!("cannot write {}: {e}", cert_path.display()))?;
    std::fs::write(&key_path, key.serialize_pem())
        .map_err(|e| format!("cannot write {}: {e}", key_path.display()))?;
    Ok((cert_path, key_path))
}

// ----- servers -----

/// The server under test: nginx (its worker is a child of `guard`'s
/// process) or bouncer, and its HTTPS address.
struct Server {
    guard: Guard,
    addr: SocketAddr,
}

impl Server {
    /// CPU seconds the server's processes have used so far (nginx: the
    /// master and its workers; bouncer: all its threads).
    fn cpu_secs(&self) -> f64 {
        let pid = self.guard.pid();
        let mut total = support::cpu_secs(pid);
        for child in children(pid) {
            total += support::cpu_secs(child);
        }
        total
    }
}

/// nginx answering `return 302` over TLS with `cert`/`key`; with
/// `log_resumption`, an access log of `$ssl_session_reused` per request
/// (for the resumption probe only: a log costs nginx time).
fn start_nginx(
    nginx: &Path,
    build: &NginxBuild,
    dir: &Path,
    (cert, key): (&Path, &Path),
    log_resumption: bool,
) -> Result<Server> {
    let port = free_port()?;
    let root = dir.join(if log_resumption {
        "nginx-tls-probe"
    } else {
        "nginx-tls"
    });
    std::fs::create_dir_all(&root).map_err(|e| format!("cannot make {}: {e}", root.display()))?;
    let r = root.display();
    let access_log = if log_resumption {
        format!("log_format reuse '$ssl_session_reused';\n    access_log {r}/access.log reuse;")
    } else {
        "access_log off;".to_string()
    };
    let (listen_http2, http2_on) = match (build.http2, build.http2_directive) {
        (false, _) => ("", ""),
        (true, false) => (" http2", ""),
        (true, true) => ("", "\n        http2 on;"),
    };
    let config = format!(
        "daemon off;
worker_processes 1;
error_log {r}/error.log;
pid {r}/nginx.pid;
events {{ worker_connections 1024; }}
http {{
    {access_log}
    client_body_temp_path {r}/body;
    proxy_temp_path {r}/proxy;
    fastcgi_temp_path {r}/fastcgi;
    uwsgi_temp_path {r}/uwsgi;
    scgi_temp_path {r}/scgi;
    # Like bouncer, never close a keep-alive connection (HTTP/1.1 or
    # HTTP/2) after some number of requests (nginx's default: 1000).
    keepalive_requests 10000000;
    server {{
        listen 127.0.0.1:{port} ssl{listen_http2};{http2_on}
        ssl_certificate {cert};
        ssl_certificate_key {key};
        ssl_protocols TLSv1.2 TLSv1.3;
        ssl_session_tickets on;
        location / {{ return 302 http://mirror.example/x; }}
    }}
}}
",
        cert = cert.display(),
        key = key.display(),
    );
    let guard = crate::launch_nginx(nginx, &root, &config, port)?;
    let addr: SocketAddr = ([127, 0, 0, 1], port).into();
    Ok(Server { guard, addr })
}

/// `bouncer serve --threads 1` (counting on) with an HTTPS listener on a
/// free port presenting `cert`/`key`.
fn start_bouncer(bin: &Path, db: &Path, (cert, key): (&Path, &Path)) -> Result<Server> {
    let port = free_port()?;
    let mut cmd = Command::new(bin);
    cmd.arg("--db")
        .arg(db)
        .args(["serve", "--listen", "127.0.0.1:0", "--threads", "1"])
        .arg("--tls-listen")
        .arg(format!("127.0.0.1:{port}"))
        .arg("--tls-cert")
        .arg(cert)
        .arg("--tls-key")
        .arg(key)
        .args(quiet_flags(bin));
    // `serve` returns once the plain listener's line is printed; the
    // HTTPS listener is bound before that line (its own line follows).
    let (mut guard, _plain) = support::serve(
        &mut cmd,
        "bouncer --threads 1 (HTTPS)",
        "bouncer",
        Duration::from_secs(30),
    )?;
    let addr: SocketAddr = ([127, 0, 0, 1], port).into();
    guard.await_listener(addr, Duration::from_secs(10))?;
    Ok(Server { guard, addr })
}

// ----- CPU time from /proc -----

/// The processes whose parent is `pid` (nginx's workers).
fn children(pid: u32) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|&p| {
            std::fs::read_to_string(format!("/proc/{p}/stat"))
                .ok()
                .and_then(|s| {
                    let close = s.rfind(')')?;
                    s[close + 2..]
                        .split_whitespace()
                        .nth(1)?
                        .parse::<u32>()
                        .ok()
                })
                == Some(pid)
        })
        .collect()
}

/// CPU seconds of the calling thread so far.
fn thread_cpu() -> f64 {
    std::fs::read_to_string("/proc/thread-self/stat").map_or(0.0, |s| support::stat_cpu(&s))
}

// ----- the clients -----

/// `wrk -t1 -cN -dNs --latency extra… https://addr/QUERY`.
fn run_wrk(
    wrk: &Path,
    addr: SocketAddr,
    secs: u64,
    connections: u32,
    extra: &[&str],
) -> Result<WrkResult> {
    let extra: Vec<&std::ffi::OsStr> = extra.iter().map(std::ffi::OsStr::new).collect();
    support::run_wrk_url(
        wrk,
        &format!("https://{addr}{QUERY}"),
        secs,
        connections,
        &extra,
    )
}

/// What an h2load run measured.
#[derive(Clone, Debug, Default)]
struct H2loadResult {
    requests_per_sec: f64,
    succeeded: u64,
    redirects: u64,
    /// Mean of "time for request", microseconds.
    mean_us: f64,
    protocol: String,
}

/// `h2load args… https://addr/target` (one thread).
fn run_h2load(h2load: &Path, addr: SocketAddr, args: &[&str]) -> Result<H2loadResult> {
    let child = Command::new(h2load)
        .args(args)
        .arg(format!("https://{addr}{QUERY}"))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", h2load.display()))?;
    let mut guard = Guard::new("h2load", child);
    let out = guard.wait_output(Duration::from_secs(300))?;
    parse_h2load(&out).ok_or_else(|| format!("cannot read h2load's output:\n{out}"))
}

fn parse_h2load(out: &str) -> Option<H2loadResult> {
    let mut r = H2loadResult::default();
    let mut seen = false;
    for line in out.lines() {
        let t = line.trim();
        if let Some(rest) = t.strip_prefix("finished in ") {
            // finished in 3.21s, 62306.23 req/s, 5.12MB/s
            let rate = rest.split(", ").nth(1)?.strip_suffix(" req/s")?;
            r.requests_per_sec = rate.trim().parse().ok()?;
            seen = true;
        } else if let Some(rest) = t.strip_prefix("requests: ") {
            // requests: 200000 total, 200000 started, 200000 done, 200000 succeeded, 0 failed, …
            r.succeeded = rest
                .split(", ")
                .find_map(|p| p.strip_suffix(" succeeded"))?
                .trim()
                .parse()
                .ok()?;
        } else if let Some(rest) = t.strip_prefix("status codes: ") {
            r.redirects = rest
                .split(", ")
                .find_map(|p| p.strip_suffix(" 3xx"))?
                .trim()
                .parse()
                .ok()?;
        } else if let Some(rest) = t.strip_prefix("time for request:") {
            // min max mean sd +/-sd
            r.mean_us = support::duration_us(rest.split_whitespace().nth(2)?)?;
        } else if let Some(rest) = t.strip_prefix("Application protocol:") {
            r.protocol = rest.trim().to_string();
        }
    }
    seen.then_some(r)
}

/// Accepts any certificate and any handshake signature: a load generator
/// needs no authentication, and skipping the signature check keeps the
/// client's share of the two cores small (the server signs all the same).
#[derive(Debug)]
struct AcceptAnything(Vec<SignatureScheme>);

impl ServerCertVerifier for AcceptAnything {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> std::result::Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        _message: &[u8],
        _cert: &CertificateDer<'_>,
        _dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        Ok(HandshakeSignatureValid::assertion())
    }

    fn verify_tls13_signature(
        &self,
        _message: &[u8],
        _cert: &CertificateDer<'_>,
        _dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        Ok(HandshakeSignatureValid::assertion())
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.clone()
    }
}

/// What a [`handshakes`] run measured.
#[derive(Clone, Debug, Default)]
struct HandshakeResult {
    /// Connections (one request each) completed per second.
    per_sec: f64,
    /// Connections that completed within the run.
    connections: u64,
    /// Of those, full handshakes and resumed ones.
    full: u64,
    resumed: u64,
    /// TLS 1.3 session tickets the server sent, in all.
    tickets: u64,
    /// Answers that were not a 302.
    non_302: u64,
    /// The status line of the first answer that was not a 302.
    first_other: String,
    errors: u64,
    first_error: String,
    /// Connect to end of the answer, microseconds.
    p50_us: f64,
    p99_us: f64,
    /// Protocol, cipher suite, key exchange and ALPN of the last
    /// connection.
    negotiated: String,
    /// CPU seconds the client used (its one thread).
    client_cpu_secs: f64,
    secs: f64,
}

/// One connection's tally.
#[derive(Default)]
struct Tally {
    latencies_us: Vec<u32>,
    full: u64,
    resumed: u64,
    tickets: u64,
    non_302: u64,
    first_other: String,
    errors: u64,
    first_error: String,
    negotiated: String,
}

/// A new TLS connection per request, `connections` at a time, for `secs`
/// seconds, on one thread: connect, handshake (ALPN http/1.1), `GET`
/// with `Connection: close`, read the answer to the end, close. With
/// `resume` off the client keeps no session, so every handshake is a
/// full one (counted from rustls' own record of each connection); with
/// it on, each of the `connections` resumes with a ticket from its own
/// previous session. Connections still open when the time is up are
/// dropped and not counted (as wrk does).
fn handshakes(
    addr: SocketAddr,
    secs: u64,
    connections: u32,
    resume: bool,
) -> Result<HandshakeResult> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let schemes = provider
        .signature_verification_algorithms
        .supported_schemes();
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("rustls client: {e}"))?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AcceptAnything(schemes)))
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    config.resumption = rustls::client::Resumption::disabled();
    let config = Arc::new(config);
    let request: Arc<[u8]> = format!(
        "GET {QUERY} HTTP/1.1\r\nHost: localhost:{}\r\nUser-Agent: loadtest\r\nConnection: close\r\n\r\n",
        addr.port()
    )
    .into_bytes()
    .into();
    let name = ServerName::try_from("localhost").map_err(|e| format!("server name: {e}"))?;
    let worker = thread::spawn(move || -> Result<HandshakeResult> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| format!("cannot start a runtime: {e}"))?;
        let cpu_before = thread_cpu();
        let started = Instant::now();
        let tallies = runtime.block_on(async move {
            let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
            let mut tasks = tokio::task::JoinSet::new();
            for _ in 0..connections {
                // With resumption, each connection keeps the tickets of
                // its own previous session, as wrk's connections do (a
                // store shared by all of them keeps only the latest 8
                // tickets, too few when many handshakes end together).
                let connector = tokio_rustls::TlsConnector::from(if resume {
                    let mut own = (*config).clone();
                    own.resumption = rustls::client::Resumption::in_memory_sessions(1);
                    Arc::new(own)
                } else {
                    config.clone()
                });
                let (request, name) = (request.clone(), name.clone());
                tasks.spawn(async move {
                    let mut tally = Tally::default();
                    while tokio::time::Instant::now() < deadline {
                        let start = Instant::now();
                        let one = one_connection(&connector, addr, name.clone(), &request);
                        match tokio::time::timeout_at(deadline, one).await {
                            Err(_) => break,
                            Ok(Ok(done)) => {
                                let us = start.elapsed().as_micros();
                                tally.latencies_us.push(us.min(u128::from(u32::MAX)) as u32);
                                match done.kind {
                                    Some(HandshakeKind::Resumed) => tally.resumed += 1,
                                    _ => tally.full += 1,
                                }
                                tally.tickets += u64::from(done.tickets);
                                if !done.status.starts_with("HTTP/1.1 302") {
                                    tally.non_302 += 1;
                                    if tally.first_other.is_empty() {
                                        tally.first_other = done.status;
                                    }
                                }
                                tally.negotiated = done.negotiated;
                            }
                            Ok(Err(e)) => {
                                tally.errors += 1;
                                if tally.first_error.is_empty() {
                                    tally.first_error = e;
                                }
                                tokio::time::sleep(Duration::from_millis(1)).await;
                            }
                        }
                    }
                    tally
                });
            }
            let mut tallies = Vec::new();
            while let Some(t) = tasks.join_next().await {
                if let Ok(t) = t {
                    tallies.push(t);
                }
            }
            tallies
        });
        let elapsed = started.elapsed().as_secs_f64();
        let client_cpu_secs = thread_cpu() - cpu_before;
        let mut r = HandshakeResult {
            secs: elapsed,
            client_cpu_secs,
            ..HandshakeResult::default()
        };
        let mut latencies: Vec<u32> = Vec::new();
        for t in tallies {
            latencies.extend(&t.latencies_us);
            r.full += t.full;
            r.resumed += t.resumed;
            r.tickets += t.tickets;
            r.non_302 += t.non_302;
            r.errors += t.errors;
            if r.first_error.is_empty() {
                r.first_error = t.first_error;
            }
            if r.first_other.is_empty() {
                r.first_other = t.first_other;
            }
            if !t.negotiated.is_empty() {
                r.negotiated = t.negotiated;
            }
        }
        latencies.sort_unstable();
        let pick = |q: f64| {
            latencies
                .get(((latencies.len() as f64 * q) as usize).min(latencies.len().saturating_sub(1)))
                .map_or(0.0, |&v| f64::from(v))
        };
        r.p50_us = pick(0.50);
        r.p99_us = pick(0.99);
        r.connections = latencies.len() as u64;
        r.per_sec = r.connections as f64 / secs as f64;
        Ok(r)
    });
    worker
        .join()
        .map_err(|_| "the handshake client panicked".to_string())?
}

/// What one connection saw.
struct Done {
    kind: Option<HandshakeKind>,
    tickets: u32,
    /// The answer's status line.
    status: String,
    negotiated: String,
}

async fn one_connection(
    connector: &tokio_rustls::TlsConnector,
    addr: SocketAddr,
    name: ServerName<'static>,
    request: &[u8],
) -> std::result::Result<Done, String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let tcp = tokio::net::TcpStream::connect(addr)
        .await
        .map_err(|e| format!("connect: {e}"))?;
    let _ = tcp.set_nodelay(true);
    let mut tls = connector
        .connect(name, tcp)
        .await
        .map_err(|e| format!("handshake: {e}"))?;
    tls.write_all(request)
        .await
        .map_err(|e| format!("write: {e}"))?;
    tls.flush().await.map_err(|e| format!("write: {e}"))?;
    let mut answer = Vec::with_capacity(1024);
    if let Err(e) = tls.read_to_end(&mut answer).await {
        // A server may close without close_notify once it has answered.
        let complete = answer.windows(4).any(|w| w == b"\r\n\r\n");
        if e.kind() != std::io::ErrorKind::UnexpectedEof || !complete {
            return Err(format!("read: {e}"));
        }
    }
    let conn = tls.get_ref().1;
    let negotiated = format!(
        "{} {} {} ALPN {}",
        conn.protocol_version()
            .map_or("?".to_string(), |v| format!("{v:?}")),
        conn.negotiated_cipher_suite()
            .map_or("?".to_string(), |s| format!("{:?}", s.suite())),
        conn.negotiated_key_exchange_group()
            .map_or("?".to_string(), |g| format!("{:?}", g.name())),
        conn.alpn_protocol()
            .map_or("none".into(), |p| String::from_utf8_lossy(p).into_owned()),
    );
    Ok(Done {
        kind: conn.handshake_kind(),
        tickets: conn.tls13_tickets_received(),
        status: String::from_utf8_lossy(answer.split(|&b| b == b'\r').next().unwrap_or(b""))
            .into_owned(),
        negotiated,
    })
}

// ----- the comparison -----

/// One measured figure of one run.
#[derive(Clone, Copy, Debug, Default)]
struct Figure {
    per_sec: f64,
    /// Latency percentiles, or (HTTP/2, from h2load) the mean in `p50`
    /// and nothing in `p99`.
    p50_us: f64,
    p99_us: Option<f64>,
    /// Server CPU per request (per connection where each has one).
    cpu_us: f64,
}

/// The tests, in the order each round runs them.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Test {
    KeepAlive,
    Full,
    Resumed,
    Http2,
}

impl Test {
    fn title(self) -> String {
        match self {
            Test::KeepAlive => format!(
                "HTTP/1.1 keep-alive: wrk -t1 -c{CONNECTIONS} (target ≥ {TARGET_KEEP_ALIVE:.2})"
            ),
            Test::Full => format!(
                "new connection per request, FULL handshake: rustls client, {CONNECTIONS} at a time (target ≥ {TARGET_HANDSHAKES:.2})"
            ),
            Test::Resumed => format!(
                "new connection per request, RESUMED with a ticket: rustls client, {CONNECTIONS} at a time (informational)"
            ),
            Test::Http2 => format!(
                "HTTP/2 keep-alive: h2load -c{CONNECTIONS} -m{H2_STREAMS} -n {H2_REQUESTS}, latency = mean (informational)"
            ),
        }
    }

    fn target(self) -> Option<f64> {
        match self {
            Test::KeepAlive => Some(TARGET_KEEP_ALIVE),
            Test::Full => Some(TARGET_HANDSHAKES),
            _ => None,
        }
    }

    fn unit(self) -> &'static str {
        match self {
            Test::Full | Test::Resumed => "conn/s",
            _ => "req/s",
        }
    }
}

const SIDES: [&str; 2] = ["nginx", "bouncer"];

/// Runs the HTTPS comparison and prints its report.
pub fn run(s: &Setup<'_>) -> Result<()> {
    let build = nginx_build(s.nginx)?;
    println!(
        "loadtest: TLS mode: {} ({}), HTTP/2 module {}",
        build.version,
        build.openssl,
        if build.http2 { "present" } else { "ABSENT" }
    );
    if !build.http2 {
        println!(
            "loadtest: nginx has no HTTP/2 (no --with-http_v2_module in `nginx -V`): the HTTP/2 figure is skipped"
        );
    }
    let (cert, key) = make_certificate(s.dir)?;
    let pair = (cert.as_path(), key.as_path());
    println!(
        "loadtest: certificate for localhost and 127.0.0.1 (ECDSA P-256, self-signed) at {}",
        cert.display()
    );

    probe_wrk_resumption(s, &build, pair)?;

    let mut tests = vec![Test::KeepAlive, Test::Full, Test::Resumed];
    if build.http2 {
        tests.push(Test::Http2);
    }
    // figures[test][side] over the rounds.
    let mut figures: Vec<[Vec<Figure>; 2]> = tests.iter().map(|_| [vec![], vec![]]).collect();
    // Per side: the handshake runs' tallies (full runs, resumed runs).
    let mut full_runs: [Vec<HandshakeResult>; 2] = [vec![], vec![]];
    let mut resumed_runs: [Vec<HandshakeResult>; 2] = [vec![], vec![]];
    let mut notes: Vec<String> = Vec::new();
    let secs = s.secs;
    for round in 1..=ROUNDS {
        for (side, name) in SIDES.into_iter().enumerate() {
            let mut server = if side == 0 {
                start_nginx(s.nginx, &build, s.dir, pair, false)?
            } else {
                start_bouncer(s.bouncer, s.db, pair)?
            };
            println!(
                "loadtest: round {round}/{ROUNDS}: {name} (pid {}) on https://{}",
                server.guard.pid(),
                server.addr
            );
            let check = handshakes_check(server.addr)?;
            if round == 1 {
                println!("loadtest: check: {name}: {check}");
            }
            let mut line = Vec::new();
            for (t, &test) in tests.iter().enumerate() {
                let cpu_before = server.cpu_secs();
                let figure = match test {
                    Test::KeepAlive => {
                        let w = run_wrk(s.wrk, server.addr, secs, CONNECTIONS, &[])?;
                        if w.non_3xx > 0 || !w.socket_errors.is_empty() {
                            notes.push(format!(
                                "{name} keep-alive, round {round}: {} non-3xx answers, socket errors: {}",
                                w.non_3xx,
                                if w.socket_errors.is_empty() { "none" } else { w.socket_errors.as_str() }
                            ));
                        }
                        let cpu = server.cpu_secs() - cpu_before;
                        Figure {
                            per_sec: w.requests_per_sec,
                            p50_us: w.p50_us,
                            p99_us: Some(w.p99_us),
                            cpu_us: cpu * 1e6 / w.requests.max(1) as f64,
                        }
                    }
                    Test::Full | Test::Resumed => {
                        let resume = test == Test::Resumed;
                        let h = handshakes(server.addr, secs, CONNECTIONS, resume)?;
                        let cpu = server.cpu_secs() - cpu_before;
                        if h.errors > 0 || h.non_302 > 0 {
                            notes.push(format!(
                                "{name} {}, round {round}: {} errors (first: {}), {} answers not a 302 (first: {:?})",
                                if resume { "resumed" } else { "full" },
                                h.errors,
                                h.first_error,
                                h.non_302,
                                h.first_other
                            ));
                        }
                        let f = Figure {
                            per_sec: h.per_sec,
                            p50_us: h.p50_us,
                            p99_us: Some(h.p99_us),
                            cpu_us: cpu * 1e6 / h.connections.max(1) as f64,
                        };
                        if resume {
                            resumed_runs[side].push(h);
                        } else {
                            full_runs[side].push(h);
                        }
                        f
                    }
                    Test::Http2 => {
                        let n = H2_REQUESTS.to_string();
                        let c = CONNECTIONS.to_string();
                        let m = H2_STREAMS.to_string();
                        let h = run_h2load(s.h2load, server.addr, &["-c", &c, "-m", &m, "-n", &n])?;
                        let cpu = server.cpu_secs() - cpu_before;
                        if h.protocol != "h2" {
                            return Err(format!(
                                "h2load against {name} negotiated {:?}, not h2",
                                h.protocol
                            ));
                        }
                        if h.succeeded != H2_REQUESTS || h.redirects != H2_REQUESTS {
                            notes.push(format!(
                                "{name} HTTP/2, round {round}: {} of {H2_REQUESTS} succeeded, {} were 3xx",
                                h.succeeded, h.redirects
                            ));
                        }
                        Figure {
                            per_sec: h.requests_per_sec,
                            p50_us: h.mean_us,
                            p99_us: None,
                            cpu_us: cpu * 1e6 / h.succeeded.max(1) as f64,
                        }
                    }
                };
                line.push(format!(
                    "{} {:.0} {}",
                    match test {
                        Test::KeepAlive => "keep-alive",
                        Test::Full => "full",
                        Test::Resumed => "resumed",
                        Test::Http2 => "h2",
                    },
                    figure.per_sec,
                    test.unit()
                ));
                figures[t][side].push(figure);
            }
            // bouncer flushes its counts on SIGTERM: give it time.
            if !server.guard.stop(Duration::from_secs(30)) && side == 1 {
                return Err("bouncer did not stop on SIGTERM".into());
            }
            println!(
                "loadtest: round {round}/{ROUNDS}: {name}: {}",
                line.join(", ")
            );
        }
    }

    // ----- report -----
    println!();
    println!(
        "HTTPS: nginx ({}, 1 worker) vs bouncer --threads 1 (rustls, ring), counting on; {} s per run; medians of {ROUNDS} alternating rounds; {} CPU core(s) shared by the client and the server",
        build.version, secs, s.cores
    );
    println!(
        "{:<20} {:>10} {:>10} {:>10} {:>12} {:>9}",
        "server", "per sec", "p50", "p99", "server CPU", "vs nginx"
    );
    let mut verdicts = Vec::new();
    for (t, &test) in tests.iter().enumerate() {
        println!("{}", test.title());
        let med = |side: usize| {
            let f = &figures[t][side];
            Figure {
                per_sec: median(f.iter().map(|x| x.per_sec).collect()),
                p50_us: median(f.iter().map(|x| x.p50_us).collect()),
                p99_us: f
                    .iter()
                    .map(|x| x.p99_us)
                    .collect::<Option<Vec<f64>>>()
                    .map(median),
                cpu_us: median(f.iter().map(|x| x.cpu_us).collect()),
            }
        };
        let (nginx, bouncer) = (med(0), med(1));
        let ratio = bouncer.per_sec / nginx.per_sec;
        for (side, f) in [(0, nginx), (1, bouncer)] {
            println!(
                "  {:<18} {:>10.0} {:>10} {:>10} {:>9.1} µs {:>9}",
                if side == 0 { "nginx" } else { "bouncer" },
                f.per_sec,
                ms(f.p50_us),
                f.p99_us.map_or("-".to_string(), ms),
                f.cpu_us,
                if side == 0 {
                    String::new()
                } else {
                    format!("{ratio:.3}x")
                }
            );
        }
        let rounds: Vec<String> = (0..figures[t][0].len())
            .map(|r| {
                format!(
                    "{:.0}/{:.0}",
                    figures[t][0][r].per_sec, figures[t][1][r].per_sec
                )
            })
            .collect();
        println!("  rounds (nginx/bouncer): {}", rounds.join(", "));
        if let Some(target) = test.target() {
            verdicts.push(format!(
                "{}: bouncer / nginx = {:.0} / {:.0} = {ratio:.3} (target ≥ {target:.2}): {}",
                match test {
                    Test::KeepAlive => "keep-alive req/s",
                    _ => "full handshakes/s",
                },
                bouncer.per_sec,
                nginx.per_sec,
                if ratio >= target { "met" } else { "NOT met" }
            ));
        }
    }
    println!();
    for v in &verdicts {
        println!("{v}");
    }
    println!();
    let mut saturated = false;
    for (side, name) in SIDES.into_iter().enumerate() {
        for (what, runs) in [("full", &full_runs[side]), ("resumed", &resumed_runs[side])] {
            let conns: u64 = runs.iter().map(|r| r.connections).sum();
            let full: u64 = runs.iter().map(|r| r.full).sum();
            let resumed: u64 = runs.iter().map(|r| r.resumed).sum();
            let tickets: u64 = runs.iter().map(|r| r.tickets).sum();
            let client_cpu: f64 = runs.iter().map(|r| r.client_cpu_secs).sum();
            let wall: f64 = runs.iter().map(|r| r.secs).sum();
            let busy = client_cpu / wall.max(1e-9) * 100.0;
            saturated |= busy >= 90.0;
            println!(
                "{name}, new-connection runs ({what}): {conns} connections: {full} full handshakes, {resumed} resumed; {:.2} session tickets received per connection; client thread busy {:.0}% of the time; {}",
                tickets as f64 / conns.max(1) as f64,
                busy,
                runs.last().map_or("", |r| r.negotiated.as_str())
            );
        }
    }
    if saturated {
        println!(
            "note: the client's thread was busy 90% of the time or more in some new-connection runs: there the client, not the server, set the pace, so that side's connections/s is a lower bound; the server CPU per connection compares the two servers regardless"
        );
    }
    if notes.is_empty() {
        println!("no errors: every answer was a 302");
    } else {
        for n in &notes {
            println!("note: {n}");
        }
    }
    Ok(())
}

/// One connection with a full handshake, for the record: what was
/// negotiated, and that the answer is a 302.
fn handshakes_check(addr: SocketAddr) -> Result<String> {
    let h = handshakes(addr, 1, 1, false)?;
    if h.connections == 0 || h.non_302 > 0 || h.errors > 0 {
        return Err(format!(
            "https://{addr}{QUERY}: {} connections, {} not a 302 (first: {:?}), {} errors ({})",
            h.connections, h.non_302, h.first_other, h.errors, h.first_error
        ));
    }
    Ok(format!(
        "302 over {}, {:.0} handshakes/s one at a time",
        h.negotiated, h.per_sec
    ))
}

/// Shows what wrk and h2load do when the server closes each connection
/// (`Connection: close`): they reconnect but keep the TLS session, so
/// the next handshake resumes. Measured on a separate nginx that logs
/// `$ssl_session_reused` for every request.
fn probe_wrk_resumption(s: &Setup<'_>, build: &NginxBuild, pair: (&Path, &Path)) -> Result<()> {
    let mut server = start_nginx(s.nginx, build, s.dir, pair, true)?;
    let log = s.dir.join("nginx-tls-probe").join("access.log");
    let count = |log: &Path| -> (usize, usize) {
        let text = std::fs::read_to_string(log).unwrap_or_default();
        let reused = text.lines().filter(|l| l.trim() == "r").count();
        (reused, text.lines().count())
    };
    // nginx writes a request's line as it ends: wait for every line (at
    // most a few seconds; a short count is reported as it is).
    let settled = |at_least: usize| {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let counted = count(&log);
            if counted.1 >= at_least || Instant::now() > deadline {
                return counted;
            }
            thread::sleep(Duration::from_millis(20));
        }
    };
    let w = run_wrk(s.wrk, server.addr, 1, 4, &["-H", "Connection: close"])?;
    let (wrk_reused, wrk_total) = settled(w.requests as usize);
    let _ = run_h2load(
        s.h2load,
        server.addr,
        &["--h1", "-c", "4", "-n", "2000", "-H", "Connection: close"],
    )?;
    let (all_reused, all_total) = settled(wrk_total + 2000);
    server.guard.stop(Duration::from_secs(5));
    println!(
        "loadtest: resumption probe (nginx logging $ssl_session_reused): wrk -c4 -H 'Connection: close': {wrk_reused} of {wrk_total} requests ({} reported by wrk) on a resumed session; h2load --h1 -c4 -n 2000 -H 'Connection: close': {} of {}",
        w.requests,
        all_reused - wrk_reused,
        all_total - wrk_total
    );
    if wrk_reused * 2 > wrk_total {
        println!(
            "loadtest: so wrk and h2load reconnecting measure resumed handshakes, not full ones; the new-connection runs use this program's rustls client without resumption instead"
        );
    }
    Ok(())
}
