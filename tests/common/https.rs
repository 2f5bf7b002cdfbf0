//! Reaching `bouncer serve`'s HTTPS listener: its port (from the log), a
//! keep-alive HTTP/1.1 client over rustls that verifies the certificate
//! against a given root and tells which certificate it got, and `curl`.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{ClientConfig, ClientConnection, RootCertStore, StreamOwned};

use super::{Server, poll};

/// The HTTPS listener's port, once the server has said where it listens.
pub fn https_port(server: &Server) -> u16 {
    let found = poll(Duration::from_secs(20), Duration::from_millis(20), || {
        let log = server.log();
        let rest = log.split("listening on https://").nth(1)?;
        let addr = rest.split_whitespace().next()?;
        addr.rsplit_once(':')?.1.parse().ok()
    });
    found.unwrap_or_else(|| panic!("no HTTPS listener in the log:\n{}", server.log()))
}

/// A client configuration trusting only the certificates in `root_pem`,
/// offering `alpn`.
pub fn client_config(root_pem: &str, alpn: &[&[u8]]) -> Arc<ClientConfig> {
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(root_pem.as_bytes()) {
        roots.add(cert.expect("a PEM certificate")).expect("a root");
    }
    let mut config =
        ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .expect("TLS versions")
            .with_root_certificates(roots)
            .with_no_client_auth();
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    Arc::new(config)
}

/// An answer read off a keep-alive connection.
#[derive(Debug)]
pub struct Answer {
    /// The status code.
    pub status: u16,
    /// Header lines, names in lower case.
    pub headers: Vec<(String, String)>,
    /// The body, as text.
    pub body: String,
}

impl Answer {
    /// The first header named `name` (lower case).
    pub fn header(&self, name: &str) -> Option<&str> {
        (self.headers.iter())
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// One TLS connection to 127.0.0.1:`port`, kept open for several requests.
pub struct TlsClient {
    stream: BufReader<StreamOwned<ClientConnection, TcpStream>>,
    host: String,
}

impl TlsClient {
    /// Connects and completes the handshake for `name`, verifying the
    /// server against `root_pem`, offering HTTP/1.1.
    pub fn connect(port: u16, name: &str, root_pem: &str) -> Result<TlsClient, String> {
        TlsClient::connect_offering(port, name, root_pem, &[b"http/1.1"])
    }

    /// [`TlsClient::connect`] offering the ALPN protocols `alpn`.
    pub fn connect_offering(
        port: u16,
        name: &str,
        root_pem: &str,
        alpn: &[&[u8]],
    ) -> Result<TlsClient, String> {
        let config = client_config(root_pem, alpn);
        let server_name = ServerName::try_from(name.to_string()).map_err(|e| e.to_string())?;
        let conn = ClientConnection::new(config, server_name).map_err(|e| e.to_string())?;
        let tcp = TcpStream::connect(("127.0.0.1", port)).map_err(|e| e.to_string())?;
        tcp.set_read_timeout(Some(Duration::from_secs(10))).ok();
        let mut stream = StreamOwned::new(conn, tcp);
        while stream.conn.is_handshaking() {
            stream
                .conn
                .complete_io(&mut stream.sock)
                .map_err(|e| format!("TLS handshake: {e}"))?;
        }
        Ok(TlsClient {
            stream: BufReader::new(stream),
            host: name.to_string(),
        })
    }

    /// The ALPN protocol agreed on.
    pub fn alpn(&self) -> Option<Vec<u8>> {
        (self.stream.get_ref().conn.alpn_protocol()).map(<[u8]>::to_vec)
    }

    /// Sends nothing and waits (at most `limit`) for the server to close
    /// the connection: whether it did.
    pub fn closed_within(mut self, limit: Duration) -> bool {
        let stream = self.stream.get_mut();
        stream.sock.set_read_timeout(Some(limit)).ok();
        let mut byte = [0u8; 1];
        loop {
            match stream.read(&mut byte) {
                Ok(0) => return true,
                // Whatever the server sends first (HTTP/2 settings).
                Ok(_) => continue,
                Err(e) => {
                    return !matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    );
                }
            }
        }
    }

    /// SHA-256 of the certificate the server presented, as bouncer logs it.
    pub fn fingerprint(&self) -> String {
        let certs = (self.stream.get_ref().conn.peer_certificates()).expect("a certificate");
        bouncer::tls::fingerprint(certs[0].as_ref())
    }

    /// `GET target` on this connection.
    pub fn get(&mut self, target: &str) -> Result<Answer, String> {
        let request = format!("GET {target} HTTP/1.1\r\nHost: {}\r\n\r\n", self.host);
        let stream = self.stream.get_mut();
        stream
            .write_all(request.as_bytes())
            .and_then(|()| stream.flush())
            .map_err(|e| format!("write: {e}"))?;
        let mut line = String::new();
        self.stream
            .read_line(&mut line)
            .map_err(|e| format!("read: {e}"))?;
        let status = (line.split_whitespace().nth(1))
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| format!("no status line: {line:?}"))?;
        let mut headers = Vec::new();
        loop {
            let mut line = String::new();
            self.stream
                .read_line(&mut line)
                .map_err(|e| format!("read: {e}"))?;
            let line = line.trim_end();
            if line.is_empty() {
                break;
            }
            if let Some((n, v)) = line.split_once(':') {
                headers.push((n.trim().to_ascii_lowercase(), v.trim().to_string()));
            }
        }
        let length: usize = (headers.iter())
            .find(|(n, _)| n == "content-length")
            .and_then(|(_, v)| v.parse().ok())
            .unwrap_or(0);
        let mut body = vec![0; length];
        self.stream
            .read_exact(&mut body)
            .map_err(|e| format!("read the body: {e}"))?;
        Ok(Answer {
            status,
            headers,
            body: String::from_utf8_lossy(&body).into_owned(),
        })
    }
}

/// Runs `curl ARGS` (which must be installed: CI installs it); its exit
/// code, stdout and stderr.
pub fn curl(args: &[&str]) -> (i32, String, String) {
    let out = Command::new("curl")
        .args(["--silent", "--show-error", "--max-time", "20"])
        .args(args)
        .output()
        .expect("run curl");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Whether curl is missing ([`bouncer::testing::tool_missing`] said so:
/// the test returns).
pub fn curl_missing() -> bool {
    let found = Command::new("curl").arg("--version").output().is_ok();
    if !found {
        bouncer::testing::tool_missing("curl is not installed (apt-get install curl)");
    }
    !found
}
