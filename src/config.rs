//! Validated server configuration: raw flags become this in one step, so
//! the rest of the program never sees half-checked input.

use std::net::SocketAddr;
use std::time::Duration;

use hyper::header::HeaderValue;

use crate::error::{Error, Result};

/// How the server behaves.
#[derive(Clone, Debug)]
pub struct Config {
    /// Where the public server listens.
    pub listen: SocketAddr,
    /// Where the admin pages listen, when apart from the public server
    /// (then `/admin/` is not served on `listen`).
    pub admin_listen: Option<SocketAddr>,
    /// Tokio worker threads (0: one per core but one, see
    /// [`crate::app::workers`]).
    pub threads: usize,
    /// OS used when a request names none.
    pub default_os: String,
    /// Language used when a request names none.
    pub default_lang: String,
    /// Where a request without `product` goes (default: the download form).
    pub home_url: HeaderValue,
    /// Base URL (the origin) to send downloads to when no mirror can serve.
    pub fallback_url: Option<String>,
    /// `Cache-Control` of redirects.
    pub cache_control: HeaderValue,
    /// `Retry-After` seconds of a 503.
    pub retry_after: HeaderValue,
    /// Header that marks a request that arrived over HTTPS at a proxy
    /// (lower case), with value `https`.
    pub https_header: String,
    /// Concurrent connections at most; more wait in the kernel's backlog.
    pub max_connections: usize,
    /// How long a client may take to send its request headers.
    pub header_timeout: Duration,
    /// Unauthenticated admin and API requests a second per client address,
    /// after a burst of [`crate::ratelimit::BURST_SECONDS`] seconds' worth
    /// (0: unlimited).
    pub admin_rate: u32,
    /// Authenticated admin and API requests a second per user, after the
    /// same burst (0: unlimited, the default).
    pub user_rate: u32,
    /// How often counts are flushed to the database.
    pub flush_interval: Duration,
    /// Whether downloads are counted.
    pub counting: bool,
    /// How long shutdown waits for requests in flight.
    pub shutdown_grace: Duration,
    /// Proxies whose `X-Forwarded-For` is believed.
    pub trusted_proxies: crate::client::TrustedProxies,
    /// Whether `?ip=ADDR` may set the client's address (for testing
    /// regions; never on a public server).
    pub ip_override: bool,
    /// A MaxMind `.mmdb` file to read GeoIP data from instead of the
    /// imported table.
    pub geoip_file: Option<std::path::PathBuf>,
    /// Whether `/metrics` is answered to anyone on a listener that serves
    /// the public too (otherwise only to clients on this machine).
    pub public_metrics: bool,
    /// Where the access log goes (none: no access log).
    pub access_log: Option<std::path::PathBuf>,
    /// The access log's line format.
    pub access_log_format: crate::log::access::Format,
    /// HTTPS served here (none: plain HTTP only).
    pub tls: Option<Tls>,
}

/// HTTPS served by this process (SPEC §12).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tls {
    /// Where the HTTPS listener listens.
    pub listen: SocketAddr,
    /// Where its certificate comes from.
    pub certificate: Certificate,
    /// Whether `--admin-listen` stays plain HTTP.
    pub admin_plain: bool,
}

/// Where the HTTPS listeners' certificate comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Certificate {
    /// PEM files, reloaded when they change.
    Files(crate::tls::files::Pair),
    /// Obtained and renewed by ACME; `dir` is empty until the database's
    /// place fills it in ([`Config::place_acme_state`]).
    Acme(crate::tls::acme::Settings),
}

/// The HTTPS listener's address when none is given.
pub const DEFAULT_TLS_LISTEN: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED), 443);

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            admin_listen: None,
            threads: 0,
            default_os: "win".into(),
            default_lang: "en-US".into(),
            home_url: HeaderValue::from_static("/download"),
            fallback_url: None,
            cache_control: HeaderValue::from_static("max-age=60"),
            retry_after: HeaderValue::from_static("120"),
            https_header: "x-forwarded-proto".into(),
            max_connections: 10_000,
            header_timeout: Duration::from_secs(10),
            admin_rate: crate::ratelimit::DEFAULT_RATE,
            user_rate: crate::ratelimit::DEFAULT_USER_RATE,
            flush_interval: Duration::from_secs(1),
            counting: true,
            shutdown_grace: Duration::from_secs(10),
            trusted_proxies: crate::client::TrustedProxies::default(),
            ip_override: false,
            geoip_file: None,
            public_metrics: false,
            access_log: None,
            access_log_format: crate::log::access::Format::Combined,
            tls: None,
        }
    }
}

impl Config {
    /// Validates raw settings.
    pub fn from_cli(s: &crate::cli::Serve) -> Result<Config> {
        let mut c = Config::default();
        let address = |what: &'static str, a: String| {
            a.parse::<SocketAddr>().map_err(|_| {
                Error::invalid(
                    what,
                    format!("{a:?} is not IP:PORT (e.g. 127.0.0.1:8080 or [::]:80)"),
                )
            })
        };
        if let Some(listen) = s.listen.clone() {
            c.listen = address("listen address", listen)?;
        }
        if let Some(listen) = s.admin_listen.clone() {
            c.admin_listen = Some(address("admin listen address", listen)?);
        }
        if let Some(t) = s.threads {
            c.threads = t;
        }
        if let Some(os) = &s.default_os {
            c.default_os = crate::validate::os(os)?;
        }
        if let Some(lang) = &s.default_lang {
            c.default_lang = crate::validate::lang(lang)?;
        }
        if let Some(url) = &s.home_url {
            c.home_url = HeaderValue::from_str(url.trim()).map_err(|_| {
                Error::invalid("home URL", format!("{url:?} is not a valid header value"))
            })?;
        }
        if let Some(url) = &s.fallback_url {
            c.fallback_url = Some(crate::validate::base_url(url)?);
        }
        if let Some(age) = s.cache_max_age {
            c.cache_control = HeaderValue::from_str(&format!("max-age={age}"))
                .expect("digits are a valid header value");
        }
        if let Some(h) = &s.https_header {
            let h = h.trim().to_ascii_lowercase();
            if hyper::header::HeaderName::from_bytes(h.as_bytes()).is_err() {
                return Err(Error::invalid(
                    "https header",
                    format!("{h:?} is not a header name"),
                ));
            }
            c.https_header = h;
        }
        if let Some(n) = s.max_connections {
            if n == 0 {
                return Err(Error::invalid(
                    "max connections",
                    "must be at least 1".into(),
                ));
            }
            c.max_connections = n;
        }
        if let Some(secs) = s.header_timeout {
            c.header_timeout = Duration::from_secs(secs.max(1));
        }
        if let Some(rate) = s.admin_rate {
            c.admin_rate = rate;
        }
        if let Some(rate) = s.user_rate {
            c.user_rate = rate;
        }
        if let Some(ms) = s.flush_interval_ms {
            if !(10..=3_600_000).contains(&ms) {
                return Err(Error::invalid(
                    "flush interval",
                    format!("{ms} ms is not between 10 ms and one hour"),
                ));
            }
            c.flush_interval = Duration::from_millis(ms);
        }
        c.counting = !s.no_count;
        c.trusted_proxies = crate::client::TrustedProxies::parse(&s.trusted_proxy)?;
        c.ip_override = s.allow_ip_override;
        c.geoip_file = s.geoip.as_ref().map(std::path::PathBuf::from);
        c.public_metrics = s.public_metrics;
        c.access_log = s.access_log.as_ref().map(std::path::PathBuf::from);
        if let Some(format) = &s.access_log_format {
            c.access_log_format = crate::log::access::Format::parse(format)?;
        }
        c.tls = tls(s)?;
        Ok(c)
    }

    /// Puts the ACME state in `--acme-dir`, else in `acme/` beside the
    /// database file; a PostgreSQL database has no "beside", so there
    /// `--acme-dir` is required.
    pub fn place_acme_state(&mut self, db: &crate::store::Place) -> Result<()> {
        let Some(Tls {
            certificate: Certificate::Acme(settings),
            ..
        }) = &mut self.tls
        else {
            return Ok(());
        };
        if !settings.dir.as_os_str().is_empty() {
            return Ok(());
        }
        match db.file() {
            Some(file) => {
                let parent = file.parent().filter(|p| !p.as_os_str().is_empty());
                settings.dir = parent.unwrap_or(std::path::Path::new(".")).join("acme");
                Ok(())
            }
            None => Err(Error::invalid(
                "ACME settings",
                "with a PostgreSQL database, give --acme-dir DIR: where this node keeps its ACME account and certificate (several nodes: see README \"HTTPS\")".into(),
            )),
        }
    }
}

/// The HTTPS settings of `serve`'s flags, checked together.
fn tls(s: &crate::cli::Serve) -> Result<Option<Tls>> {
    let bad = |detail: &str| Err(Error::invalid("TLS settings", detail.to_string()));
    let certificate = match (&s.tls_cert, &s.tls_key, s.acme.is_empty()) {
        (None, None, true) => {
            if s.tls_listen.is_some() {
                return bad(
                    "--tls-listen needs a certificate: --tls-cert FILE --tls-key FILE, or --acme DOMAIN --acme-contact EMAIL",
                );
            }
            if s.admin_plain {
                return bad("--admin-plain only applies with TLS on (--tls-cert or --acme)");
            }
            if s.acme_contact.is_some()
                || s.acme_directory.is_some()
                || s.acme_ca.is_some()
                || s.acme_dir.is_some()
                || s.acme_challenge.is_some()
                || s.acme_renew_after.is_some()
            {
                return bad("the --acme-… options need --acme DOMAIN");
            }
            return Ok(None);
        }
        (Some(cert), Some(key), true) => Certificate::Files(crate::tls::files::Pair {
            cert: cert.into(),
            key: key.into(),
        }),
        (Some(_), None, _) => {
            return bad("--tls-cert needs --tls-key FILE, the certificate's private key");
        }
        (None, Some(_), _) => {
            return bad("--tls-key needs --tls-cert FILE, the certificate it belongs to");
        }
        (Some(_), Some(_), false) => {
            return bad("give either --tls-cert and --tls-key, or --acme: not both");
        }
        (None, None, false) => {
            let Some(contact) = s.acme_contact.as_deref().map(str::trim) else {
                return bad(
                    "--acme needs --acme-contact EMAIL: the address the certificate authority writes to about the account",
                );
            };
            if !contact.contains('@') || contact.contains(char::is_whitespace) {
                return bad(&format!(
                    "--acme-contact {contact:?} is not an e-mail address"
                ));
            }
            let mut domains = Vec::new();
            for d in &s.acme {
                let d = d.trim().trim_end_matches('.').to_ascii_lowercase();
                let label_ok = |l: &str| {
                    !l.is_empty()
                        && l.len() <= 63
                        && !l.starts_with('-')
                        && !l.ends_with('-')
                        && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                };
                if d.len() > 253 || !d.contains('.') || !d.split('.').all(label_ok) {
                    return bad(&format!(
                        "--acme {d:?} is not a domain name such as download.example.org (wildcards need DNS validation, which bouncer does not do)"
                    ));
                }
                if !domains.contains(&d) {
                    domains.push(d);
                }
            }
            let directory = s
                .acme_directory
                .clone()
                .unwrap_or_else(|| crate::tls::acme::LETS_ENCRYPT.into());
            if !directory.starts_with("https://") {
                return bad(&format!(
                    "--acme-directory {directory:?} must be an https:// URL (RFC 8555 requires HTTPS)"
                ));
            }
            let challenge = match &s.acme_challenge {
                None => crate::tls::acme::Challenge::TlsAlpn,
                Some(c) => crate::tls::acme::Challenge::parse(c).ok_or_else(|| {
                    Error::invalid(
                        "TLS settings",
                        format!("--acme-challenge {c:?} is neither tls-alpn-01 nor http-01"),
                    )
                })?,
            };
            Certificate::Acme(crate::tls::acme::Settings {
                domains,
                contact: contact.to_string(),
                directory,
                ca: s.acme_ca.as_ref().map(Into::into),
                dir: s.acme_dir.as_ref().map(Into::into).unwrap_or_default(),
                challenge,
                renew_after: match s.acme_renew_after {
                    Some(0) => return bad("--acme-renew-after must be at least 1 second"),
                    secs => secs.map(Duration::from_secs),
                },
            })
        }
    };
    if s.admin_plain && s.admin_listen.is_none() {
        return bad("--admin-plain needs --admin-listen ADDR: the admin pages' own listener");
    }
    let listen = match &s.tls_listen {
        None => DEFAULT_TLS_LISTEN,
        Some(a) => a.parse().map_err(|_| {
            Error::invalid(
                "TLS listen address",
                format!("{a:?} is not IP:PORT (e.g. 0.0.0.0:443 or [::]:443)"),
            )
        })?,
    };
    Ok(Some(Tls {
        listen,
        certificate,
        admin_plain: s.admin_plain,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn serve(args: &[&str]) -> crate::cli::Serve {
        use argh::FromArgs;
        crate::cli::Serve::from_args(&["serve"], args).expect("serve's flags")
    }

    fn refused(args: &[&str]) -> String {
        match Config::from_cli(&serve(args)) {
            Err(e) => e.to_string(),
            Ok(c) => panic!("{args:?} was accepted: {:?}", c.tls),
        }
    }

    #[test]
    fn tls_settings_are_checked_together() {
        assert_eq!(Config::from_cli(&serve(&[])).unwrap().tls, None);
        let c = Config::from_cli(&serve(&["--tls-cert", "c.pem", "--tls-key", "k.pem"])).unwrap();
        let tls = c.tls.unwrap();
        assert_eq!(tls.listen, DEFAULT_TLS_LISTEN);
        assert!(matches!(tls.certificate, Certificate::Files(_)));
        let c = Config::from_cli(&serve(&[
            "--acme",
            "Download.Example.org.",
            "--acme",
            "download.example.org",
            "--acme-contact",
            "ops@example.org",
            "--tls-listen",
            "[::]:8443",
        ]))
        .unwrap();
        let tls = c.tls.unwrap();
        assert_eq!(tls.listen.to_string(), "[::]:8443");
        let Certificate::Acme(acme) = tls.certificate else {
            panic!("ACME")
        };
        assert_eq!(acme.domains, ["download.example.org"]);
        assert_eq!(acme.directory, crate::tls::acme::LETS_ENCRYPT);
        assert_eq!(acme.challenge, crate::tls::acme::Challenge::TlsAlpn);

        for (args, says) in [
            (&["--tls-key", "k.pem"][..], "--tls-key needs --tls-cert"),
            (
                &["--tls-listen", "0.0.0.0:443"],
                "--tls-listen needs a certificate",
            ),
            (&["--acme", "a.example.org"], "--acme needs --acme-contact"),
            (
                &["--acme", "a.example.org", "--acme-contact", "nobody"],
                "is not an e-mail address",
            ),
            (
                &["--acme", "*.example.org", "--acme-contact", "a@b.c"],
                "is not a domain name",
            ),
            (
                &["--acme", "localhost", "--acme-contact", "a@b.c"],
                "is not a domain name",
            ),
            (
                &[
                    "--acme",
                    "a.example.org",
                    "--acme-contact",
                    "a@b.c",
                    "--acme-directory",
                    "http://ca/dir",
                ],
                "must be an https:// URL",
            ),
            (
                &[
                    "--acme",
                    "a.example.org",
                    "--acme-contact",
                    "a@b.c",
                    "--acme-challenge",
                    "dns-01",
                ],
                "is neither tls-alpn-01 nor http-01",
            ),
            (
                &[
                    "--acme",
                    "a.example.org",
                    "--acme-contact",
                    "a@b.c",
                    "--acme-renew-after",
                    "0",
                ],
                "at least 1 second",
            ),
            (&["--acme-contact", "a@b.c"], "need --acme DOMAIN"),
            (&["--admin-plain"], "only applies with TLS on"),
        ] {
            let error = refused(args);
            assert!(error.contains(says), "{args:?}: {error}");
        }
    }

    #[test]
    fn acme_state_goes_beside_the_database_file_and_needs_a_place_on_postgres() {
        let args = ["--acme", "a.example.org", "--acme-contact", "a@b.c"];
        let mut c = Config::from_cli(&serve(&args)).unwrap();
        c.place_acme_state(&crate::store::Place::parse("/var/lib/bouncer/bouncer.redb"))
            .unwrap();
        let Some(Tls {
            certificate: Certificate::Acme(acme),
            ..
        }) = &c.tls
        else {
            panic!("ACME")
        };
        assert_eq!(acme.dir, std::path::Path::new("/var/lib/bouncer/acme"));
        let mut c = Config::from_cli(&serve(&args)).unwrap();
        let error = c
            .place_acme_state(&crate::store::Place::parse(
                "postgres://db.example.org/bouncer",
            ))
            .unwrap_err();
        assert!(error.to_string().contains("give --acme-dir DIR"), "{error}");
    }
}
