//! HTTPS without a proxy (SPEC §12): the certificate the TLS listeners
//! present, where it comes from (files, or ACME; the demo writes a
//! self-signed one to files),
//! how it is swapped without dropping a connection, and its state for
//! `/__heartbeat__`, `/metrics` and the admin overview.
//!
//! [`Certificates`] is the rustls certificate resolver: new handshakes
//! read the current certificate from an atomic pointer; connections
//! already open keep theirs. [`files`] reloads PEM files on SIGHUP and
//! when they change; [`acme`] obtains and renews certificates (RFC 8555).

pub mod acme;
pub mod files;

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};

use arc_swap::ArcSwapOption;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;

/// The ALPN protocol of TLS-ALPN-01 validation (RFC 8737).
pub const ACME_TLS_ALPN: &[u8] = b"acme-tls/1";

/// Why a certificate or key cannot be used. Each says which file and
/// what to do.
#[derive(Debug)]
pub enum TlsError {
    /// A file cannot be read.
    Read {
        /// `certificate` or `key`.
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The certificate file holds no PEM certificate.
    NoCertificate {
        /// The file.
        path: PathBuf,
    },
    /// The key file holds no PEM private key.
    NoKey {
        /// The file.
        path: PathBuf,
    },
    /// The key is of a kind rustls cannot sign with, or damaged.
    BadKey {
        /// The file.
        path: PathBuf,
        /// What rustls said.
        reason: String,
    },
    /// The certificate cannot be parsed as X.509.
    BadCertificate {
        /// The file.
        path: PathBuf,
        /// What the parser said.
        reason: String,
    },
    /// The key does not belong to the certificate.
    KeyMismatch {
        /// The certificate file.
        cert: PathBuf,
        /// The key file.
        key: PathBuf,
    },
    /// The certificate's validity ended.
    Expired {
        /// The file.
        path: PathBuf,
        /// When it ended (Unix seconds).
        not_after: i64,
    },
    /// The certificate's validity has not begun.
    NotYetValid {
        /// The file.
        path: PathBuf,
        /// When it begins (Unix seconds).
        not_before: i64,
    },
    /// A file cannot be written (ACME state, the demo's certificate).
    Write {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
}

impl fmt::Display for TlsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TlsError::Read { what, path, source } => write!(
                f,
                "cannot read the TLS {what} file {}: {source}; check the path and that bouncer's user may read it",
                path.display()
            ),
            TlsError::NoCertificate { path } => write!(
                f,
                "{} holds no PEM certificate (-----BEGIN CERTIFICATE-----); --tls-cert takes the certificate followed by its chain",
                path.display()
            ),
            TlsError::NoKey { path } => write!(
                f,
                "{} holds no PEM private key (-----BEGIN PRIVATE KEY-----, RSA or EC); --tls-key takes the certificate's key",
                path.display()
            ),
            TlsError::BadKey { path, reason } => write!(
                f,
                "the private key in {} cannot be used ({reason}); use an RSA, ECDSA P-256/P-384 or Ed25519 key",
                path.display()
            ),
            TlsError::BadCertificate { path, reason } => write!(
                f,
                "the certificate in {} cannot be read ({reason}); is it a PEM X.509 certificate?",
                path.display()
            ),
            TlsError::KeyMismatch { cert, key } => write!(
                f,
                "the key in {} does not belong to the certificate in {}; give --tls-key the key the certificate was issued for",
                key.display(),
                cert.display()
            ),
            TlsError::Expired { path, not_after } => write!(
                f,
                "the certificate in {} expired on {}; renew it, or let bouncer obtain one (--acme DOMAIN --acme-contact EMAIL)",
                path.display(),
                utc(*not_after)
            ),
            TlsError::NotYetValid { path, not_before } => write!(
                f,
                "the certificate in {} is valid only from {}; is this machine's clock right?",
                path.display(),
                utc(*not_before)
            ),
            TlsError::Write { path, source } => write!(
                f,
                "cannot write {}: {source}; check that its directory exists and bouncer's user may write there (--acme-dir)",
                path.display()
            ),
        }
    }
}

impl std::error::Error for TlsError {}

impl From<TlsError> for crate::error::Error {
    fn from(e: TlsError) -> Self {
        crate::error::Error::Tls(e)
    }
}

/// What a certificate says about itself.
#[derive(Clone, Debug, PartialEq)]
pub struct Info {
    /// The DNS names and addresses it is for.
    pub names: Vec<String>,
    /// Who issued it (the issuer's distinguished name), shown on the
    /// overview: a staging CA is seen at once.
    pub issuer: String,
    /// Valid from (Unix seconds).
    pub not_before: i64,
    /// Valid until (Unix seconds).
    pub not_after: i64,
    /// SHA-256 of the certificate, colon-separated hex.
    pub fingerprint: String,
}

impl Info {
    /// Reads the leaf certificate `der`.
    pub fn of(der: &CertificateDer<'_>) -> Result<Info, String> {
        use x509_parser::prelude::{FromDer, GeneralName, X509Certificate};
        let (_, cert) = X509Certificate::from_der(der.as_ref()).map_err(|e| e.to_string())?;
        let mut names = Vec::new();
        if let Ok(Some(san)) = cert.subject_alternative_name() {
            for name in &san.value.general_names {
                match name {
                    GeneralName::DNSName(n) => names.push(n.to_string()),
                    GeneralName::IPAddress(ip) => match ip.len() {
                        4 => names.push(
                            std::net::Ipv4Addr::from(<[u8; 4]>::try_from(*ip).unwrap_or_default())
                                .to_string(),
                        ),
                        16 => names.push(
                            std::net::Ipv6Addr::from(<[u8; 16]>::try_from(*ip).unwrap_or([0; 16]))
                                .to_string(),
                        ),
                        _ => {}
                    },
                    _ => {}
                }
            }
        }
        let validity = cert.validity();
        Ok(Info {
            names,
            issuer: cert.issuer().to_string(),
            not_before: validity.not_before.timestamp(),
            not_after: validity.not_after.timestamp(),
            fingerprint: fingerprint(der.as_ref()),
        })
    }

    /// Whole days left at `now` (Unix seconds); negative once expired.
    pub fn days_left(&self, now: i64) -> f64 {
        (self.not_after - now) as f64 / 86_400.0
    }

    /// Whether it names `domain` (exactly or by a one-label wildcard).
    pub fn covers(&self, domain: &str) -> bool {
        self.names.iter().any(|n| {
            n.eq_ignore_ascii_case(domain)
                || n.strip_prefix("*.").is_some_and(|base| {
                    domain
                        .split_once('.')
                        .is_some_and(|(_, rest)| rest.eq_ignore_ascii_case(base))
                })
        })
    }
}

/// `YYYY-MM-DD HH:MM:SS UTC` for a certificate's time (Unix seconds).
pub fn utc(unix_secs: i64) -> String {
    crate::model::utc(unix_secs.max(0) as u64)
}

/// SHA-256 of `der` as colon-separated upper-case hex (as browsers and
/// `openssl x509 -fingerprint -sha256` show it).
pub fn fingerprint(der: &[u8]) -> String {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(der);
    let hex: Vec<String> = digest.iter().map(|b| format!("{b:02X}")).collect();
    hex.join(":")
}

/// A certificate chain and its key, ready to present, with what the leaf
/// says about itself.
pub struct Loaded {
    /// For rustls.
    pub key: Arc<CertifiedKey>,
    /// The leaf's names and validity.
    pub info: Info,
}

/// Makes a [`Loaded`] from PEM text: the chain (leaf first) and its key.
/// `cert_path` and `key_path` name where they came from in errors.
/// Refuses a key that is not the certificate's, and a certificate outside
/// its validity at `now` (Unix seconds).
pub fn load_pem(
    cert_pem: &[u8],
    key_pem: &[u8],
    cert_path: &Path,
    key_path: &Path,
    now: i64,
) -> Result<Loaded, TlsError> {
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(cert_pem)
        .collect::<Result<_, _>>()
        .map_err(|e| TlsError::BadCertificate {
            path: cert_path.to_path_buf(),
            reason: format!("a damaged PEM block: {e:?}"),
        })?;
    let Some(leaf) = chain.first() else {
        return Err(TlsError::NoCertificate {
            path: cert_path.to_path_buf(),
        });
    };
    let info = Info::of(leaf).map_err(|reason| TlsError::BadCertificate {
        path: cert_path.to_path_buf(),
        reason,
    })?;
    let key = PrivateKeyDer::from_pem_slice(key_pem).map_err(|_| TlsError::NoKey {
        path: key_path.to_path_buf(),
    })?;
    let signing = provider()
        .key_provider
        .load_private_key(key)
        .map_err(|e| TlsError::BadKey {
            path: key_path.to_path_buf(),
            reason: e.to_string(),
        })?;
    let certified = CertifiedKey::new(chain, signing);
    // Only a proven mismatch is refused: when the key cannot tell its
    // public half, or rustls reads the certificate no further (a critical
    // extension it does not know), the handshake decides.
    if let Err(rustls::Error::InconsistentKeys(rustls::InconsistentKeys::KeyMismatch)) =
        certified.keys_match()
    {
        return Err(TlsError::KeyMismatch {
            cert: cert_path.to_path_buf(),
            key: key_path.to_path_buf(),
        });
    }
    if now >= info.not_after {
        return Err(TlsError::Expired {
            path: cert_path.to_path_buf(),
            not_after: info.not_after,
        });
    }
    if now < info.not_before {
        return Err(TlsError::NotYetValid {
            path: cert_path.to_path_buf(),
            not_before: info.not_before,
        });
    }
    Ok(Loaded {
        key: Arc::new(certified),
        info,
    })
}

/// The crypto provider of every TLS server here: rustls with ring.
pub fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Where the certificate comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    /// `--tls-cert` and `--tls-key`.
    Files,
    /// Obtained by ACME (`--acme`).
    Acme,
}

impl Source {
    /// Its name in JSON, metrics and pages.
    pub fn label(self) -> &'static str {
        match self {
            Source::Files => "files",
            Source::Acme => "acme",
        }
    }
}

/// The certificate's state, for the status pages.
#[derive(Clone, Debug)]
pub struct Status {
    /// Where it comes from.
    pub source: Source,
    /// The certificate presented now (`None`: ACME has none yet).
    pub certificate: Option<Info>,
    /// When it was put in place (Unix seconds).
    pub installed: Option<i64>,
    /// The last failure to load or obtain one, until the next success.
    pub error: Option<String>,
    /// Failures to obtain or renew since the last success (ACME).
    pub failures: u32,
    /// ACME: when the next order is placed (Unix seconds).
    pub next_renewal: Option<i64>,
}

impl Status {
    /// The `"tls":{…}` member of `/__heartbeat__` (times in Unix
    /// seconds).
    pub fn json(&self, now: i64) -> String {
        let text = |s: &str| serde_json::Value::String(s.to_string()).to_string();
        let opt = |v: Option<String>| v.unwrap_or_else(|| "null".into());
        let cert = self.certificate.as_ref();
        format!(
            r#"{{"source":"{}","names":[{}],"not_after":{},"days_left":{},"error":{},"failures":{},"next_renewal":{}}}"#,
            self.source.label(),
            cert.map(|c| c
                .names
                .iter()
                .map(|n| text(n))
                .collect::<Vec<_>>()
                .join(","))
                .unwrap_or_default(),
            opt(cert.map(|c| c.not_after.to_string())),
            opt(cert.map(|c| format!("{:.1}", c.days_left(now)))),
            opt(self.error.as_deref().map(text)),
            self.failures,
            opt(self.next_renewal.map(|t| t.to_string())),
        )
    }

    /// Whether an operator should look: no certificate, a failure, or
    /// fewer than 14 days left.
    pub fn needs_attention(&self, now: i64) -> bool {
        self.error.is_some()
            || self
                .certificate
                .as_ref()
                .is_none_or(|c| c.days_left(now) < 14.0)
    }
}

/// The certificates the TLS listeners present: the current one, swapped
/// atomically (handshakes never wait for a writer), and the TLS-ALPN-01
/// challenge certificates and HTTP-01 answers of an ACME order in
/// progress.
pub struct Certificates {
    current: ArcSwapOption<CertifiedKey>,
    /// TLS-ALPN-01 certificates by lower-case domain.
    challenges: RwLock<HashMap<String, Arc<CertifiedKey>>>,
    /// HTTP-01 key authorizations by token.
    tokens: RwLock<HashMap<String, String>>,
    status: Mutex<Status>,
}

impl fmt::Debug for Certificates {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Certificates")
            .field("status", &self.status())
            .finish_non_exhaustive()
    }
}

impl Certificates {
    /// No certificate yet, from `source`.
    pub fn new(source: Source) -> Arc<Certificates> {
        Arc::new(Certificates {
            current: ArcSwapOption::empty(),
            challenges: RwLock::default(),
            tokens: RwLock::default(),
            status: Mutex::new(Status {
                source,
                certificate: None,
                installed: None,
                error: None,
                failures: 0,
                next_renewal: None,
            }),
        })
    }

    /// Presents `loaded` to new handshakes from now on (open connections
    /// keep theirs) and clears the last failure.
    pub fn install(&self, loaded: Loaded) {
        self.current.store(Some(loaded.key));
        let mut status = self.lock();
        status.certificate = Some(loaded.info);
        status.installed = Some(crate::model::now() as i64);
        status.error = None;
        status.failures = 0;
    }

    /// Records a failure to load or obtain a certificate; the current one
    /// stays.
    pub fn failed(&self, error: String, next_renewal: Option<i64>) {
        let mut status = self.lock();
        status.error = Some(error);
        status.failures += 1;
        status.next_renewal = next_renewal;
    }

    /// Records when the next ACME order is placed.
    pub fn renews_at(&self, at: i64) {
        self.lock().next_renewal = Some(at);
    }

    /// Whether a certificate is in place and in date at `now` (Unix
    /// seconds): what a browser sent to HTTPS would be shown. (Asked by
    /// admin requests on the plain listener, never by redirects.)
    pub fn usable(&self, now: i64) -> bool {
        (self.lock().certificate.as_ref()).is_some_and(|c| now < c.not_after)
    }

    /// The state now.
    pub fn status(&self) -> Status {
        self.lock().clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Status> {
        self.status.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Answers TLS-ALPN-01 validation for `domain` with `key` until
    /// [`Certificates::clear_challenges`].
    pub fn add_challenge(&self, domain: &str, key: Arc<CertifiedKey>) {
        (self.challenges.write().unwrap_or_else(|e| e.into_inner()))
            .insert(domain.to_ascii_lowercase(), key);
    }

    /// Answers `/.well-known/acme-challenge/{token}` with
    /// `key_authorization` until [`Certificates::clear_challenges`].
    pub fn add_token(&self, token: &str, key_authorization: &str) {
        (self.tokens.write().unwrap_or_else(|e| e.into_inner()))
            .insert(token.to_string(), key_authorization.to_string());
    }

    /// Forgets every challenge answer (the order is over).
    pub fn clear_challenges(&self) {
        (self.challenges.write().unwrap_or_else(|e| e.into_inner())).clear();
        (self.tokens.write().unwrap_or_else(|e| e.into_inner())).clear();
    }

    /// The HTTP-01 answer for `token`, while an order waits for it.
    pub fn key_authorization(&self, token: &str) -> Option<String> {
        (self.tokens.read().unwrap_or_else(|e| e.into_inner()))
            .get(token)
            .cloned()
    }
}

impl ResolvesServerCert for Certificates {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        // Validation offers `acme-tls/1` alone (RFC 8737 §3); a client
        // that offers it among others is an ordinary client.
        let validating = hello.alpn().is_some_and(|mut offered| {
            offered.next() == Some(ACME_TLS_ALPN) && offered.next().is_none()
        });
        if validating {
            let name = hello.server_name()?.to_ascii_lowercase();
            return (self.challenges.read().unwrap_or_else(|e| e.into_inner()))
                .get(&name)
                .cloned();
        }
        self.current.load_full()
    }
}

/// The rustls configuration of a TLS listener presenting `certificates`:
/// TLS 1.3 and 1.2, HTTP/2 and HTTP/1.1 by ALPN (and `acme-tls/1` for
/// validation), stateless session tickets for quick resumption.
pub fn server_config(
    certificates: Arc<Certificates>,
) -> Result<Arc<rustls::ServerConfig>, rustls::Error> {
    let mut config = rustls::ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])?
        .with_no_client_auth()
        .with_cert_resolver(certificates);
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec(), ACME_TLS_ALPN.to_vec()];
    config.ticketer = rustls::crypto::ring::Ticketer::new()?;
    Ok(Arc::new(config))
}

/// A self-signed certificate for `names` (DNS names or IP addresses) and
/// its key, both PEM: what `bouncer demo --tls` serves.
pub fn self_signed(names: &[&str]) -> Result<(String, String), rcgen::Error> {
    let mut params =
        rcgen::CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>())?;
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "bouncer demo");
    let key = rcgen::KeyPair::generate()?;
    let cert = params.self_signed(&key)?;
    Ok((cert.pem(), key.serialize_pem()))
}

/// Writes `text` to `path` readable by its owner only (keys, account
/// credentials), replacing it atomically and durably: a fresh temporary
/// file beside it, owner-only whatever was there, synced, renamed, and
/// the directory synced.
pub fn write_private(path: &Path, text: &str) -> Result<(), TlsError> {
    use std::io::Write;
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".new");
    let temp = path.with_file_name(name);
    let fail = |at: &Path| {
        let at = at.to_path_buf();
        move |source| TlsError::Write { path: at, source }
    };
    // A leftover from a crash may have other permissions: start afresh.
    let _ = std::fs::remove_file(&temp);
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&temp)
        .map_err(fail(&temp))?;
    file.set_permissions(std::fs::Permissions::from_mode(0o600))
        .map_err(fail(&temp))?;
    file.write_all(text.as_bytes()).map_err(fail(&temp))?;
    file.sync_all().map_err(fail(&temp))?;
    std::fs::rename(&temp, path).map_err(fail(path))?;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(fail(dir))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> i64 {
        crate::model::now() as i64
    }

    #[test]
    fn a_self_signed_pair_loads_and_says_what_it_is_for() {
        let (cert, key) = self_signed(&["localhost", "127.0.0.1"]).unwrap();
        let loaded = load_pem(
            cert.as_bytes(),
            key.as_bytes(),
            Path::new("c.pem"),
            Path::new("k.pem"),
            now(),
        )
        .unwrap();
        assert_eq!(loaded.info.names, ["localhost", "127.0.0.1"]);
        assert!(loaded.info.covers("LOCALHOST") && !loaded.info.covers("example.org"));
        assert!(loaded.info.days_left(now()) > 300.0);
        assert_eq!(loaded.info.fingerprint.len(), 32 * 3 - 1);
    }

    #[test]
    fn a_key_of_another_certificate_is_refused_by_name() {
        let (cert, _) = self_signed(&["localhost"]).unwrap();
        let (_, other_key) = self_signed(&["localhost"]).unwrap();
        let err = load_pem(
            cert.as_bytes(),
            other_key.as_bytes(),
            Path::new("c.pem"),
            Path::new("k.pem"),
            now(),
        )
        .err()
        .unwrap();
        assert!(matches!(err, TlsError::KeyMismatch { .. }), "{err}");
        assert!(
            err.to_string()
                .contains("k.pem does not belong to the certificate in c.pem")
        );
    }

    #[test]
    fn validity_is_checked_at_the_given_time() {
        let (cert, key) = self_signed(&["localhost"]).unwrap();
        let load = |at| {
            load_pem(
                cert.as_bytes(),
                key.as_bytes(),
                Path::new("c.pem"),
                Path::new("k.pem"),
                at,
            )
        };
        let info = load(now()).unwrap().info;
        assert!(matches!(
            load(info.not_after + 1),
            Err(TlsError::Expired { .. })
        ));
        assert!(matches!(
            load(info.not_before - 1),
            Err(TlsError::NotYetValid { .. })
        ));
    }

    #[test]
    fn files_without_pem_are_named() {
        let (cert, key) = self_signed(&["localhost"]).unwrap();
        let (c, k) = (Path::new("c.pem"), Path::new("k.pem"));
        let no_cert = load_pem(b"hello", key.as_bytes(), c, k, now())
            .err()
            .unwrap();
        assert!(matches!(no_cert, TlsError::NoCertificate { .. }));
        let no_key = load_pem(cert.as_bytes(), cert.as_bytes(), c, k, now())
            .err()
            .unwrap();
        assert!(matches!(no_key, TlsError::NoKey { .. }));
    }

    #[test]
    fn wildcards_cover_one_label() {
        let info = Info {
            names: vec!["*.example.org".into()],
            issuer: String::new(),
            not_before: 0,
            not_after: 0,
            fingerprint: String::new(),
        };
        assert!(info.covers("download.example.org"));
        assert!(!info.covers("a.b.example.org") && !info.covers("example.org"));
    }

    #[test]
    fn status_json_is_valid_and_complete() {
        let (cert, key) = self_signed(&["localhost"]).unwrap();
        let certs = Certificates::new(Source::Files);
        let empty: serde_json::Value = serde_json::from_str(&certs.status().json(now())).unwrap();
        assert_eq!(empty["not_after"], serde_json::Value::Null);
        let (c, k) = (Path::new("c.pem"), Path::new("k.pem"));
        assert!(!certs.usable(now()), "no certificate yet");
        let loaded = load_pem(cert.as_bytes(), key.as_bytes(), c, k, now()).unwrap();
        let not_after = loaded.info.not_after;
        certs.install(loaded);
        assert!(certs.usable(now()) && !certs.usable(not_after));
        certs.failed("the directory did not answer".into(), Some(now() + 60));
        let status = certs.status();
        let json: serde_json::Value = serde_json::from_str(&status.json(now())).unwrap();
        assert_eq!(json["source"], "files");
        assert_eq!(json["names"][0], "localhost");
        assert_eq!(json["error"], "the directory did not answer");
        assert_eq!(json["failures"], 1);
        assert!(json["days_left"].as_f64().unwrap() > 300.0);
        assert!(status.needs_attention(now()));
    }

    #[test]
    fn private_files_are_owner_only_even_over_a_leftover() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("certificate.key");
        let leftover = dir.path().join("certificate.key.new");
        std::fs::write(&leftover, "old").unwrap();
        std::fs::set_permissions(&leftover, std::fs::Permissions::from_mode(0o644)).unwrap();
        write_private(&path, "secret").unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "secret");
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        assert!(!leftover.exists());
        let err = write_private(&dir.path().join("no/such/dir/x"), "x")
            .err()
            .unwrap();
        assert!(err.to_string().contains("no/such/dir/x.new"), "{err}");
    }

    #[test]
    fn challenge_answers_last_until_the_order_is_over() {
        let certs = Certificates::new(Source::Acme);
        assert_eq!(certs.key_authorization("t1"), None);
        certs.add_token("t1", "t1.thumbprint");
        assert_eq!(
            certs.key_authorization("t1").as_deref(),
            Some("t1.thumbprint")
        );
        assert_eq!(certs.key_authorization("t2"), None);
        certs.clear_challenges();
        assert_eq!(certs.key_authorization("t1"), None);
    }
}
