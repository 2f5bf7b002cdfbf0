//! HTTP checks against mirrors, with ureq over rustls. Certificates are
//! verified against the platform's trust store (`SSL_CERT_FILE` and
//! `SSL_CERT_DIR` honoured), one redirect is followed at most, every
//! request has timeouts and a clear User-Agent.

use std::io::Read;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use md5::Md5;
use sha1::{Digest, Sha1};
use sha2::Sha256;
use ureq::Agent;
use ureq::tls::{Certificate, RootCerts, TlsConfig};

use super::verdict::{Digests, Failure, Observation};

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

/// Makes checks.
pub struct Prober {
    agent: Agent,
    download: Agent,
}

impl Prober {
    /// A prober with these timeouts, trusting the platform's certificates.
    pub fn new(config: &ProbeConfig) -> Prober {
        let roots = rustls_native_certs::load_native_certs();
        let certs: Vec<Certificate<'static>> = roots
            .certs
            .iter()
            .map(|c| Certificate::from_der(c.as_ref()).to_owned())
            .collect();
        let tls = TlsConfig::builder()
            .root_certs(if certs.is_empty() {
                RootCerts::WebPki
            } else {
                RootCerts::new_with_certs(&certs)
            })
            .build();
        let agent = |response: Option<Duration>| -> Agent {
            Agent::config_builder()
                .tls_config(tls.clone())
                .http_status_as_error(false)
                .max_redirects(1)
                .max_idle_connections(IDLE_CONNECTIONS)
                .max_idle_connections_per_host(config.idle_per_host.max(1))
                .user_agent(config.user_agent.as_str())
                .timeout_connect(Some(config.connect_timeout))
                .timeout_recv_response(response)
                .timeout_per_read(Some(config.read_timeout))
                .build()
                .new_agent()
        };
        Prober {
            agent: agent(Some(config.response_timeout)),
            download: agent(Some(config.response_timeout)),
        }
    }

    /// HEAD `url`; a server that refuses HEAD (405, 501) is asked for the
    /// first byte with a ranged GET instead.
    pub fn head(&self, url: &str) -> Observation {
        let started = Instant::now();
        let seen = match self.agent.head(url).call() {
            Ok(r) if matches!(r.status().as_u16(), 405 | 501) => {
                match self.agent.get(url).header("Range", "bytes=0-0").call() {
                    Ok(mut r) => {
                        // Read the (one-byte) body so the connection is reused.
                        let _ = r.body_mut().with_config().limit(1024).read_to_vec();
                        answer(&r)
                    }
                    Err(e) => failed(&e),
                }
            }
            Ok(r) => answer(&r),
            Err(e) => failed(&e),
        };
        with_elapsed(seen, started)
    }

    /// GET `url` and compute MD5, SHA-1 and SHA-256 of the body in one
    /// streamed pass (the digests on their own threads).
    pub fn digests(&self, url: &str) -> Observation {
        self.digests_of(url, Kinds::ALL)
    }

    /// GET `url` and compute the digests in `kinds` in one streamed pass.
    pub fn digests_of(&self, url: &str, kinds: Kinds) -> Observation {
        let started = Instant::now();
        let mut response = match self.download.get(url).call() {
            Ok(r) => r,
            Err(e) => return with_elapsed(failed(&e), started),
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
    /// GET the first `max` bytes of `url` (a ranged request; a server that
    /// ignores the range is cut off at `max`) and time it. `None` when the
    /// download fails.
    pub fn measure(&self, url: &str, max: u64) -> Option<(u64, u64)> {
        let started = Instant::now();
        let mut r = self
            .download
            .get(url)
            .header("Range", format!("bytes=0-{}", max.saturating_sub(1)))
            .call()
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
