//! SPEC §3 "TLS": sentry verifies https mirrors against the platform's
//! trust store, honouring `SSL_CERT_FILE`, so a mirror whose certificate
//! comes from a private CA can be checked. The test makes its own CA and a
//! server certificate for 127.0.0.1 and localhost (rcgen), serves files
//! over rustls on 127.0.0.1, and runs `bouncer sentry` with `SSL_CERT_FILE`
//! set on the child only: to the private CA (the mirror is up), then to an
//! unrelated CA (the mirror is down, for a TLS reason).

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::{ServerConfig, ServerConnection, StreamOwned};

use crate::common::mirror::{Behaviour, Files, Mirror};
use crate::common::{Env, Out};

/// How long a connection to the TLS mirror may stay silent.
const IO_TIMEOUT: Duration = Duration::from_secs(10);
/// The longest request head read.
const MAX_HEAD: usize = 16 * 1024;
/// The product only https mirrors may serve.
const PRODUCT: &str = "sec";
const LOCATIONS: [(&str, &str); 2] = [
    ("win", "/sec/win/en-US/Setup%20sec.exe"),
    ("linux", "/sec/linux/en-US/sec.tar.bz2"),
];
/// Bounces sampled for the https-only product.
const SAMPLES: usize = 40;

/// A private certificate authority.
struct Ca {
    pem: String,
    issuer: Issuer<'static, KeyPair>,
}

impl Ca {
    fn new(name: &str) -> Ca {
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA parameters");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let key = KeyPair::generate().expect("CA key");
        let cert = params.self_signed(&key).expect("self-sign the CA");
        Ca {
            pem: cert.pem(),
            issuer: Issuer::new(params, key),
        }
    }

    /// A server certificate for 127.0.0.1 and localhost, and its key.
    fn server_cert(&self) -> (CertificateDer<'static>, PrivateKeyDer<'static>) {
        let mut params =
            CertificateParams::new(vec!["127.0.0.1".to_string(), "localhost".to_string()])
                .expect("server certificate parameters");
        params
            .distinguished_name
            .push(DnType::CommonName, "test mirror");
        params.use_authority_key_identifier_extension = true;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let key = KeyPair::generate().expect("server key");
        let cert = params
            .signed_by(&key, &self.issuer)
            .expect("sign the server certificate");
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
        (cert.der().clone(), key)
    }
}

/// What the TLS mirror saw: requests answered, connections that failed.
#[derive(Default, Debug)]
struct Seen {
    /// `METHOD PATH` of every request read.
    requests: Vec<String>,
    /// Why connections ended without a request (handshake failures).
    failures: Vec<String>,
}

/// An https mirror on 127.0.0.1: one thread per connection, one request
/// per connection (`Connection: close`), HEAD and GET of its files as
/// `application/octet-stream` with `Content-Length`, 404 otherwise.
/// Stopped when dropped.
struct TlsMirror {
    url: String,
    addr: SocketAddr,
    seen: Arc<Mutex<Seen>>,
    stop: Arc<AtomicBool>,
    accept: Option<JoinHandle<()>>,
}

impl TlsMirror {
    fn start(files: &Files, ca: &Ca) -> TlsMirror {
        let (cert, key) = ca.server_cert();
        let config =
            ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
                .with_safe_default_protocol_versions()
                .expect("TLS versions")
                .with_no_client_auth()
                .with_single_cert(vec![cert], key)
                .expect("server TLS configuration");
        let config = Arc::new(config);
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the TLS mirror");
        let addr = listener.local_addr().expect("TLS mirror address");
        let seen = Arc::new(Mutex::new(Seen::default()));
        let stop = Arc::new(AtomicBool::new(false));
        let accept = {
            let (files, seen, stop) = (files.clone(), seen.clone(), stop.clone());
            std::thread::spawn(move || {
                for tcp in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        return;
                    }
                    let Ok(tcp) = tcp else { continue };
                    let (config, files, seen) = (config.clone(), files.clone(), seen.clone());
                    std::thread::spawn(move || {
                        if let Err(e) = serve(tcp, config, &files, &seen) {
                            seen.lock().unwrap().failures.push(e.to_string());
                        }
                    });
                }
            })
        };
        TlsMirror {
            url: format!("https://{addr}"),
            addr,
            seen,
            stop,
            accept: Some(accept),
        }
    }

    fn requests(&self) -> Vec<String> {
        self.seen.lock().unwrap().requests.clone()
    }

    fn failures(&self) -> Vec<String> {
        self.seen.lock().unwrap().failures.clone()
    }
}

impl Drop for TlsMirror {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop.
        let _ = TcpStream::connect_timeout(&self.addr, IO_TIMEOUT);
        if let Some(accept) = self.accept.take() {
            let _ = accept.join();
        }
    }
}

/// One request on one TLS connection.
fn serve(
    tcp: TcpStream,
    config: Arc<ServerConfig>,
    files: &Files,
    seen: &Mutex<Seen>,
) -> std::io::Result<()> {
    tcp.set_read_timeout(Some(IO_TIMEOUT))?;
    tcp.set_write_timeout(Some(IO_TIMEOUT))?;
    let conn = ServerConnection::new(config).map_err(std::io::Error::other)?;
    let mut tls = StreamOwned::new(conn, tcp);
    // Reading runs the handshake first.
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if head.len() >= MAX_HEAD || tls.read(&mut byte)? == 0 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                "no complete request head",
            ));
        }
        head.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&head);
    let mut first = head.split("\r\n").next().unwrap_or("").split(' ');
    let method = first.next().unwrap_or("").to_string();
    let path = first
        .next()
        .unwrap_or("/")
        .split('?')
        .next()
        .unwrap_or("/")
        .to_string();
    seen.lock()
        .unwrap()
        .requests
        .push(format!("{method} {path}"));
    let (status, content_type, body): (&str, &str, Vec<u8>) =
        match (method.as_str(), files.get(&path)) {
            ("HEAD" | "GET", Some(content)) => {
                ("200 OK", "application/octet-stream", content.clone())
            }
            ("HEAD" | "GET", None) => ("404 Not Found", "text/plain", b"not found".to_vec()),
            _ => ("405 Method Not Allowed", "text/plain", b"GET only".to_vec()),
        };
    let mut out = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    if method != "HEAD" {
        out.extend_from_slice(&body);
    }
    tls.write_all(&out)?;
    tls.conn.send_close_notify();
    tls.flush()
}

/// Each location's file, with its own content.
fn files() -> Files {
    let files: BTreeMap<String, Vec<u8>> = LOCATIONS
        .iter()
        .enumerate()
        .map(|(i, (os, path))| {
            let content = format!("{os} build of {PRODUCT}\n").repeat(200 + i);
            (path.to_string(), content.into_bytes())
        })
        .collect();
    Arc::new(files)
}

/// `status list --mirror NAME`: its rows.
fn status_of(env: &Env, name: &str) -> Vec<String> {
    env.ok(&["status", "list", "--mirror", name])
        .lines()
        .skip(1)
        .map(str::to_string)
        .collect()
}

/// `bouncer sentry --all --timeout 2` trusting only the CAs in `ca_file`
/// (`SSL_CERT_FILE` on the child; `SSL_CERT_DIR` removed), which must
/// succeed.
fn sentry_trusting(env: &Env, ca_file: &Path) -> String {
    let out: Out = env.run_env(
        &["sentry", "--all", "--timeout", "2"],
        &[
            ("SSL_CERT_FILE", Some(ca_file.as_os_str())),
            ("SSL_CERT_DIR", None::<&OsStr>),
        ],
    );
    assert_eq!(out.code, 0, "bouncer sentry failed: {out:?}");
    out.stdout
}

#[test]
fn an_https_mirror_with_a_private_ca_is_checked_against_ssl_cert_file() {
    let ca = Ca::new("Bouncer test mirror CA");
    let stranger = Ca::new("Some other CA");
    let files = files();
    let https = TlsMirror::start(&files, &ca);
    let http = Mirror::start(&files, Behaviour::Healthy);

    let env = Env::new();
    let dir = env.db.parent().expect("the database's directory");
    let ca_file = dir.join("private-ca.pem");
    let stranger_file = dir.join("other-ca.pem");
    std::fs::write(&ca_file, &ca.pem).expect("write the CA's PEM");
    std::fs::write(&stranger_file, &stranger.pem).expect("write the other CA's PEM");
    env.ok(&["product", "add", PRODUCT, "--lang", "en-US", "--ssl-only"]);
    for (os, path) in LOCATIONS {
        env.ok(&["location", "add", PRODUCT, os, path]);
    }
    env.ok(&["mirror", "add", "secure", &https.url]);
    env.ok(&["mirror", "add", "plain", &http.url]);

    // 1. Trusting the private CA: the https mirror is up and has the files,
    // which it was asked for over TLS.
    let out = sentry_trusting(&env, &ca_file);
    assert!(!out.contains(" is down"), "{out}");
    let list = env.mirror_list();
    assert_eq!(list["secure"], ("up".to_string(), 2), "{list:#?}\n{out}");
    assert_eq!(list["plain"], ("up".to_string(), 2), "{list:#?}\n{out}");
    let rows = status_of(&env, "secure");
    assert_eq!(rows.len(), 2, "{rows:#?}");
    for row in &rows {
        assert!(row.contains(" present "), "{row}");
    }
    let asked = https.requests();
    for (_, path) in LOCATIONS {
        assert!(
            asked.iter().any(|r| r.ends_with(&format!(" {path}"))),
            "{path} not requested over TLS: {asked:#?}; failures: {:#?}",
            https.failures()
        );
    }

    // 3. The https-only product goes to the https mirror, never the plain
    // one.
    let server = env.serve(&[]);
    let expected = format!("{}{}", https.url, LOCATIONS[1].1);
    for _ in 0..SAMPLES {
        let r = server.get(&format!(
            "/?product={PRODUCT}&os=linux&lang=en-US&print=yes"
        ));
        assert_eq!(r.status, 200, "{r:?}");
        assert_eq!(r.body.trim_end(), expected, "{r:?}");
    }
    let (status, log) = server.stop();
    assert!(status.success(), "{status:?}: {log}");

    // 2. Trusting only an unrelated CA (SSL_CERT_FILE set, so the
    // machine's own store is not read): the https mirror is down because
    // its certificate is not trusted; no request got through.
    let before = https.requests().len();
    let out = sentry_trusting(&env, &stranger_file);
    assert!(out.contains("  secure is down: "), "{out}");
    let list = env.mirror_list();
    let health = &list["secure"].0;
    assert!(
        health.contains("TLS") || health.contains("certificate"),
        "no TLS reason in {health:?}: {list:#?}"
    );
    assert_eq!(list["plain"], ("up".to_string(), 2), "{list:#?}");
    assert_eq!(https.requests().len(), before, "{:#?}", https.requests());
    // Down, it gets no traffic: the https-only product has no mirror left.
    let server = env.serve(&[]);
    let r = server.get(&format!(
        "/?product={PRODUCT}&os=linux&lang=en-US&print=yes"
    ));
    assert_eq!(r.status, 503, "{r:?}");
    let (status, log) = server.stop();
    assert!(status.success(), "{status:?}: {log}");
    // The failure is classified as a TLS one (`Failure::Tls`: "TLS handshake
    // or certificate problem", shown as "TLS failed"), not as a refused or
    // dropped connection.
    assert!(
        health.starts_with("down: TLS failed"),
        "a certificate failure classified as {health:?}"
    );
}
