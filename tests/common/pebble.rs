//! A real ACME server for the ACME client's tests: Debian's `pebble` on
//! 127.0.0.1 behind a private CA made for the test ([`super::tls::Ca`]),
//! resolving every name through its mock DNS, `pebble-challtestsrv`, which
//! answers 127.0.0.1 to A queries and nothing to AAAA ones (so validation
//! connects to 127.0.0.1 only).

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{Ipv4Addr, TcpListener, TcpStream, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{ClientConfig, ClientConnection, RootCertStore, StreamOwned};

use super::tls::Ca;

/// The ACME server.
const PEBBLE: &str = "/usr/bin/pebble";
/// Its mock DNS.
const CHALLTESTSRV: &str = "/usr/bin/pebble-challtestsrv";
/// How long both may take to answer after starting.
const START_TIMEOUT: Duration = Duration::from_secs(20);
/// The pause between two readiness checks.
const POLL_EVERY: Duration = Duration::from_millis(50);
/// How long one request to either may take.
const IO_TIMEOUT: Duration = Duration::from_secs(5);
/// How many times a start is tried in all: each try after the first is
/// one with fresh ports, because a port chosen for the last one was taken
/// (another process bound it between choosing and binding).
const ATTEMPTS: usize = 3;
/// A name the readiness check gives its own A record through
/// challtestsrv's management interface: an answer with it comes from this
/// harness's mock DNS, not another one on a port it lost.
const PROBE_NAME: &str = "ready.pebble-harness.test";
/// The address of [`PROBE_NAME`].
const PROBE_ADDRESS: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 2);
/// What both print when a listening port is taken.
const PORT_TAKEN: &str = "address already in use";

/// A real ACME server (pebble) on 127.0.0.1 with its mock DNS
/// (pebble-challtestsrv) answering 127.0.0.1 for every name; stopped (both
/// processes killed and reaped) when dropped.
pub struct Pebble {
    dir: tempfile::TempDir,
    /// ca.pem in `dir`.
    ca_file: PathBuf,
    /// challtestsrv, then pebble once started.
    children: Vec<Running>,
    log: Arc<Mutex<String>>,
    /// The ACME (HTTPS) listener's port.
    acme_port: u16,
    /// The root certificate pebble issues under, PEM.
    root: String,
}

/// A child process and the threads copying its stdout and stderr into the
/// log (they end when it exits).
struct Running {
    /// The program's file name.
    name: String,
    child: Child,
    readers: [JoinHandle<()>; 2],
}

impl Running {
    /// Waits until the copies are done.
    fn join_readers(self) {
        for reader in self.readers {
            let _ = reader.join();
        }
    }
}

/// Why a start attempt failed.
enum Failure {
    /// A chosen port was taken: try again with others.
    PortTaken,
    /// Anything else: give up.
    Fatal(String),
}

impl Pebble {
    /// Starts pebble whose validation authority connects to `http_port`
    /// for HTTP-01 and `tls_port` for TLS-ALPN-01 (bouncer's plain and TLS
    /// listeners), or None after bouncer::testing::tool_missing(..) when
    /// pebble is not installed (that call panics in CI).
    pub fn start(http_port: u16, tls_port: u16) -> Option<Pebble> {
        if !Path::new(PEBBLE).exists() || !Path::new(CHALLTESTSRV).exists() {
            super::tool_missing("pebble is not installed (apt-get install pebble)");
            return None;
        }
        for attempt in 1..=ATTEMPTS {
            let mut pebble = Pebble::new();
            match pebble.launch(http_port, tls_port) {
                Ok(()) => return Some(pebble),
                Err(Failure::PortTaken) if attempt < ATTEMPTS => {
                    pebble.stop();
                    eprintln!(
                        "pebble: a port was taken, starting again:\n{}",
                        pebble.log()
                    );
                }
                Err(Failure::PortTaken) => {
                    pebble.stop();
                    panic!(
                        "pebble: a port was taken {ATTEMPTS} times:\n{}",
                        pebble.log()
                    );
                }
                Err(Failure::Fatal(why)) => {
                    pebble.stop();
                    panic!("pebble did not start: {why}\n{}", pebble.log());
                }
            }
        }
        unreachable!("every attempt returns or panics")
    }

    /// The ACME directory URL, https://127.0.0.1:PORT/dir
    pub fn directory(&self) -> String {
        format!("https://127.0.0.1:{}/dir", self.acme_port)
    }

    /// A PEM file holding the CA that signed pebble's own HTTPS
    /// certificate (for bouncer's `--acme-ca FILE`).
    pub fn ca_file(&self) -> &Path {
        &self.ca_file
    }

    /// PEM of the root that signs the certificates pebble issues
    /// (management interface GET /roots/0), for clients verifying
    /// bouncer's certificate.
    pub fn issuing_root(&self) -> String {
        self.root.clone()
    }

    /// A PEM file with issuing_root() written in it (for curl --cacert).
    pub fn issuing_root_file(&self) -> PathBuf {
        self.dir.path().join("issuing-root.pem")
    }

    /// What pebble and challtestsrv printed so far (for failure messages).
    pub fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    /// A temporary directory with a fresh private CA (ca.pem) and its
    /// certificate for pebble's HTTPS listener (cert.pem, key.pem).
    fn new() -> Pebble {
        let dir = tempfile::tempdir().expect("create pebble's directory");
        let ca = Ca::new("Bouncer test pebble CA");
        let (cert, key) = ca.server_pem();
        for (name, pem) in [("ca.pem", &ca.pem), ("cert.pem", &cert), ("key.pem", &key)] {
            std::fs::write(dir.path().join(name), pem)
                .unwrap_or_else(|e| panic!("write pebble's {name}: {e}"));
        }
        Pebble {
            ca_file: dir.path().join("ca.pem"),
            dir,
            children: Vec::new(),
            log: Arc::new(Mutex::new(String::new())),
            acme_port: 0,
            root: String::new(),
        }
    }

    /// Starts challtestsrv and pebble on fresh ports and waits until both
    /// answer.
    fn launch(&mut self, http_port: u16, tls_port: u16) -> Result<(), Failure> {
        let deadline = Instant::now() + START_TIMEOUT;
        let [acme, management, dns, dns_management] = free_ports();
        self.acme_port = acme;

        let mut challtestsrv = Command::new(CHALLTESTSRV);
        challtestsrv.args([
            "-dns01",
            &format!("127.0.0.1:{dns}"),
            "-http01",
            "",
            "-https01",
            "",
            "-tlsalpn01",
            "",
            "-management",
            &format!("127.0.0.1:{dns_management}"),
            "-defaultIPv4",
            "127.0.0.1",
            "-defaultIPv6",
            "",
        ]);
        self.spawn(challtestsrv)?;
        self.wait_until(deadline, "challtestsrv's DNS to answer", || {
            dns_ready(dns_management, dns)
        })?;

        let config = serde_json::json!({"pebble": {
            "listenAddress": format!("127.0.0.1:{acme}"),
            "managementListenAddress": format!("127.0.0.1:{management}"),
            "certificate": self.dir.path().join("cert.pem"),
            "privateKey": self.dir.path().join("key.pem"),
            "httpPort": http_port,
            "tlsPort": tls_port,
            "ocspResponderURL": "",
            "externalAccountBindingRequired": false,
        }});
        let config_file = self.dir.path().join("pebble-config.json");
        std::fs::write(&config_file, config.to_string())
            .map_err(|e| Failure::Fatal(format!("write {}: {e}", config_file.display())))?;
        let mut pebble = Command::new(PEBBLE);
        pebble.arg("-config").arg(&config_file).args([
            "-dnsserver",
            &format!("127.0.0.1:{dns}"),
            "-strict=false",
        ]);
        // Only these settings, whatever the test process's environment says.
        for (name, _) in std::env::vars_os() {
            if name.to_string_lossy().starts_with("PEBBLE_") {
                pebble.env_remove(name);
            }
        }
        pebble
            .env("PEBBLE_VA_NOSLEEP", "1")
            .env("PEBBLE_WFE_NONCEREJECT", "0")
            .env("PEBBLE_AUTHZREUSE", "0");
        self.spawn(pebble)?;

        let client = client_config(&self.ca_file)?;
        self.wait_until(deadline, "pebble's directory to answer", || {
            let r = https_get(&client, acme, "/dir").ok()?;
            (r.status == 200 && r.body.contains("newOrder")).then_some(())
        })?;
        self.root = self.wait_until(deadline, "pebble's root at /roots/0", || {
            let r = https_get(&client, management, "/roots/0").ok()?;
            (r.status == 200 && r.body.contains("-----BEGIN CERTIFICATE-----")).then_some(r.body)
        })?;
        std::fs::write(self.issuing_root_file(), &self.root)
            .map_err(|e| Failure::Fatal(format!("write the issuing root: {e}")))?;
        // A port lost to another process may show only as a line in the
        // log (challtestsrv keeps running without the listener).
        self.check_children()
    }

    /// Starts `cmd` in the directory with its output copied into the log.
    fn spawn(&mut self, mut cmd: Command) -> Result<(), Failure> {
        let program = cmd.get_program().to_string_lossy().into_owned();
        let name = program.rsplit('/').next().unwrap_or_default().to_string();
        let mut child = cmd
            .current_dir(self.dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| Failure::Fatal(format!("start {program}: {e}")))?;
        let stdout = child.stdout.take().expect("piped stdout");
        let stderr = child.stderr.take().expect("piped stderr");
        let readers = [
            copy_lines(stdout, self.log.clone()),
            copy_lines(stderr, self.log.clone()),
        ];
        self.children.push(Running {
            name,
            child,
            readers,
        });
        Ok(())
    }

    /// Asks `check` every [`POLL_EVERY`] until it gives a value, failing
    /// when a child exits or loses a port first, or at `deadline`.
    fn wait_until<T>(
        &mut self,
        deadline: Instant,
        what: &str,
        mut check: impl FnMut() -> Option<T>,
    ) -> Result<T, Failure> {
        let limit = deadline.saturating_duration_since(Instant::now());
        let mut failure = None;
        let value = super::poll(limit, POLL_EVERY, || {
            if let Err(f) = self.check_children() {
                failure = Some(f);
                return Some(None);
            }
            check().map(Some)
        });
        match (value, failure) {
            (_, Some(failure)) => Err(failure),
            (Some(Some(value)), None) => Ok(value),
            _ => Err(Failure::Fatal(format!(
                "no sign within {START_TIMEOUT:?} of {what}"
            ))),
        }
    }

    /// Whether both children still run with every port they were given.
    fn check_children(&mut self) -> Result<(), Failure> {
        if self.log().contains(PORT_TAKEN) {
            return Err(Failure::PortTaken);
        }
        for i in 0..self.children.len() {
            if let Ok(Some(status)) = self.children[i].child.try_wait() {
                let running = self.children.remove(i);
                let name = running.name.clone();
                // Its last words, then whether they say why.
                running.join_readers();
                return if self.log().contains(PORT_TAKEN) {
                    Err(Failure::PortTaken)
                } else {
                    Err(Failure::Fatal(format!("{name} exited early ({status})")))
                };
            }
        }
        Ok(())
    }

    /// Kills and reaps both children, and waits for the rest of their
    /// output.
    fn stop(&mut self) {
        for mut running in self.children.drain(..) {
            let _ = running.child.kill();
            let _ = running.child.wait();
            running.join_readers();
        }
    }
}

impl Drop for Pebble {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Four distinct ports free on 127.0.0.1 (TCP) when chosen.
fn free_ports() -> [u16; 4] {
    let listeners: Vec<TcpListener> = (0..4)
        .map(|_| TcpListener::bind("127.0.0.1:0").expect("choose a free port"))
        .collect();
    std::array::from_fn(|i| listeners[i].local_addr().expect("a port").port())
}

/// A thread appending each line `from` prints to `log`, until it closes.
fn copy_lines(from: impl Read + Send + 'static, log: Arc<Mutex<String>>) -> JoinHandle<()> {
    std::thread::spawn(move || {
        let mut from = BufReader::new(from);
        let mut line = Vec::new();
        while from.read_until(b'\n', &mut line).is_ok_and(|n| n > 0) {
            let mut log = log.lock().unwrap();
            log.push_str(&String::from_utf8_lossy(&line));
            if !line.ends_with(b"\n") {
                log.push('\n');
            }
            line.clear();
        }
    })
}

/// Whether challtestsrv (management interface on `management`, DNS on
/// `dns`) answers [`PROBE_NAME`] with [`PROBE_ADDRESS`] once told to.
fn dns_ready(management: u16, dns: u16) -> Option<()> {
    let body = serde_json::json!({"host": PROBE_NAME, "addresses": [PROBE_ADDRESS.to_string()]});
    let r = super::try_http_body(
        management,
        "POST",
        "/add-a",
        &[("Content-Type", "application/json")],
        body.to_string().as_bytes(),
    )
    .ok()?;
    (r.status == 200).then_some(())?;
    (dns_a(dns, PROBE_NAME).ok()? == Some(PROBE_ADDRESS)).then_some(())
}

/// The first address in the answer to an A query for `name` sent over UDP
/// to 127.0.0.1:`port`, None when the answer has none.
fn dns_a(port: u16, name: &str) -> io::Result<Option<Ipv4Addr>> {
    let socket = UdpSocket::bind("127.0.0.1:0")?;
    socket.set_read_timeout(Some(Duration::from_millis(500)))?;
    socket.connect(("127.0.0.1", port))?;
    let id = fastrand::u16(..);
    // Header: id, recursion desired, one question.
    let mut query = Vec::new();
    query.extend_from_slice(&id.to_be_bytes());
    query.extend_from_slice(&[0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]);
    for label in name.split('.') {
        query.push(label.len() as u8);
        query.extend_from_slice(label.as_bytes());
    }
    // The root, type A, class IN.
    query.extend_from_slice(&[0, 0, 1, 0, 1]);
    socket.send(&query)?;
    let mut answer = [0u8; 512];
    let n = socket.recv(&mut answer)?;
    let bad = || io::Error::new(io::ErrorKind::InvalidData, "a malformed DNS answer");
    let answer = &answer[..n];
    if n < 12 || answer[..2] != id.to_be_bytes() || answer[3] & 0x0f != 0 {
        return Err(bad());
    }
    let count = u16::from_be_bytes([answer[6], answer[7]]);
    // The question again, then the answers' records.
    let mut at = skip_name(answer, 12).ok_or_else(bad)? + 4;
    for _ in 0..count {
        at = skip_name(answer, at).ok_or_else(bad)?;
        let fixed = answer.get(at..at + 10).ok_or_else(bad)?;
        let (kind, len) = (
            u16::from_be_bytes([fixed[0], fixed[1]]),
            usize::from(u16::from_be_bytes([fixed[8], fixed[9]])),
        );
        let data = answer.get(at + 10..at + 10 + len).ok_or_else(bad)?;
        if kind == 1 && len == 4 {
            return Ok(Some(Ipv4Addr::new(data[0], data[1], data[2], data[3])));
        }
        at += 10 + len;
    }
    Ok(None)
}

/// Where the (possibly compressed) name at `at` in a DNS message ends.
fn skip_name(message: &[u8], mut at: usize) -> Option<usize> {
    loop {
        let len = *message.get(at)?;
        match len {
            0 => return Some(at + 1),
            l if l & 0xc0 == 0xc0 => return Some(at + 2),
            l => at += 1 + usize::from(l),
        }
    }
}

/// A rustls client trusting only the CA in `ca_file`.
fn client_config(ca_file: &Path) -> Result<Arc<ClientConfig>, Failure> {
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(ca_file)
        .map_err(|e| Failure::Fatal(format!("read {}: {e}", ca_file.display())))?
    {
        let cert = cert.map_err(|e| Failure::Fatal(format!("parse the CA: {e}")))?;
        roots
            .add(cert)
            .map_err(|e| Failure::Fatal(format!("trust the CA: {e}")))?;
    }
    let config =
        ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .map_err(|e| Failure::Fatal(format!("TLS versions: {e}")))?
            .with_root_certificates(roots)
            .with_no_client_auth();
    Ok(Arc::new(config))
}

/// `GET path` over HTTPS from 127.0.0.1:`port` (HTTP/1.0: the answer is
/// never chunked, and ends when the server closes).
fn https_get(config: &Arc<ClientConfig>, port: u16, path: &str) -> io::Result<super::Response> {
    let tcp = TcpStream::connect(("127.0.0.1", port))?;
    tcp.set_read_timeout(Some(IO_TIMEOUT))?;
    tcp.set_write_timeout(Some(IO_TIMEOUT))?;
    let name = ServerName::IpAddress(Ipv4Addr::LOCALHOST.into());
    let conn = ClientConnection::new(config.clone(), name).map_err(io::Error::other)?;
    let mut tls = StreamOwned::new(conn, tcp);
    tls.write_all(format!("GET {path} HTTP/1.0\r\nHost: 127.0.0.1:{port}\r\n\r\n").as_bytes())?;
    let mut raw = Vec::new();
    match tls.read_to_end(&mut raw) {
        Ok(_) => {}
        // A close without close_notify after a whole answer.
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof && !raw.is_empty() => {}
        Err(e) => return Err(e),
    }
    super::parse_response(&raw, false)
        .map_err(|why| io::Error::new(io::ErrorKind::InvalidData, why))
}
