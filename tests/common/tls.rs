//! An https test mirror on 127.0.0.1 whose certificate comes from a
//! private CA made for the test (rcgen), served over rustls: a client
//! trusts it only through that CA (`SSL_CERT_FILE` on the child).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
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

use super::mirror::Files;

/// How long a connection to the TLS mirror may stay silent.
const IO_TIMEOUT: Duration = Duration::from_secs(10);
/// The longest request head read.
const MAX_HEAD: usize = 16 * 1024;

/// A private certificate authority.
pub struct Ca {
    /// Its certificate, PEM: what a client is told to trust.
    pub pem: String,
    issuer: Issuer<'static, KeyPair>,
}

impl Ca {
    /// A new CA whose common name is `name`.
    pub fn new(name: &str) -> Ca {
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

    /// A fresh certificate from this CA for 127.0.0.1 and localhost, and
    /// its key, both PEM (for servers that read files, such as PostgreSQL).
    pub fn server_pem(&self) -> (String, String) {
        let mut params =
            CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()])
                .expect("server parameters");
        params
            .distinguished_name
            .push(DnType::CommonName, "127.0.0.1");
        let key = KeyPair::generate().expect("server key");
        let cert = params.signed_by(&key, &self.issuer).expect("sign");
        (cert.pem(), key.serialize_pem())
    }

    /// A rustls server configuration presenting a fresh certificate from
    /// this CA for 127.0.0.1 and localhost.
    pub fn server_config(&self) -> Arc<ServerConfig> {
        let (cert, key) = self.server_cert();
        let config =
            ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
                .with_safe_default_protocol_versions()
                .expect("TLS versions")
                .with_no_client_auth()
                .with_single_cert(vec![cert], key)
                .expect("server TLS configuration");
        Arc::new(config)
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
pub struct TlsMirror {
    /// Its base URL, `https://127.0.0.1:PORT`.
    pub url: String,
    addr: SocketAddr,
    seen: Arc<Mutex<Seen>>,
    stop: Arc<AtomicBool>,
    accept: Option<JoinHandle<()>>,
}

impl TlsMirror {
    /// Starts a mirror serving `files` with a certificate from `ca`.
    pub fn start(files: &Files, ca: &Ca) -> TlsMirror {
        let config = ca.server_config();
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

    /// `METHOD PATH` of every request read, in order.
    pub fn requests(&self) -> Vec<String> {
        self.seen.lock().unwrap().requests.clone()
    }

    /// Why connections ended without a request (handshake failures).
    pub fn failures(&self) -> Vec<String> {
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
