//! E-mail to operators (and, optionally, mirror contacts) over SMTP with
//! lettre. Settings live in the database (`bouncer mail set`); the SMTP
//! password comes from the environment (`BOUNCER_SMTP_PASSWORD`), never
//! from the database.

use std::collections::BTreeMap;
use std::time::Duration;

use lettre::message::Mailbox;
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{CertificateStore, Tls, TlsParameters};
use lettre::{Message, SmtpTransport, Transport};

use crate::error::{Error, Result};

/// Messages this process sent, for `/metrics`.
pub static SENT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
/// Messages this process failed to send, for `/metrics`.
pub static FAILED: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// How the SMTP connection is secured.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TlsMode {
    /// Plain text (a local relay).
    None,
    /// Plain, then STARTTLS (usually port 587).
    StartTls,
    /// TLS from the first byte (usually port 465).
    Tls,
}

impl TlsMode {
    /// Parses `none`, `starttls` or `tls`.
    pub fn parse(s: &str) -> Option<TlsMode> {
        match s {
            "none" => Some(TlsMode::None),
            "starttls" => Some(TlsMode::StartTls),
            "tls" => Some(TlsMode::Tls),
            _ => None,
        }
    }

    /// Its setting value.
    pub fn as_str(self) -> &'static str {
        match self {
            TlsMode::None => "none",
            TlsMode::StartTls => "starttls",
            TlsMode::Tls => "tls",
        }
    }
}

/// Where and how mail goes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MailConfig {
    /// SMTP server.
    pub host: String,
    /// Its port.
    pub port: u16,
    /// Connection security.
    pub tls: TlsMode,
    /// Login, if the server wants one.
    pub user: Option<String>,
    /// Password for `user` (from `BOUNCER_SMTP_PASSWORD`).
    pub password: Option<String>,
    /// Sender address.
    pub from: String,
    /// Operators.
    pub to: Vec<String>,
    /// Also tell a mirror's contact about its own mirror.
    pub contacts: bool,
}

/// Setting names.
pub const KEYS: &[&str] = &[
    "mail.host",
    "mail.port",
    "mail.tls",
    "mail.user",
    "mail.from",
    "mail.to",
    "mail.contacts",
];

impl MailConfig {
    /// The configuration in `settings`, or `None` when mail is not set up
    /// (no host or no recipients).
    pub fn from_settings(settings: &BTreeMap<String, String>) -> Result<Option<MailConfig>> {
        let get = |k: &str| {
            settings
                .get(k)
                .map(String::as_str)
                .filter(|v| !v.is_empty())
        };
        let (Some(host), Some(to)) = (get("mail.host"), get("mail.to")) else {
            return Ok(None);
        };
        let tls = match get("mail.tls") {
            None => TlsMode::StartTls,
            Some(t) => TlsMode::parse(t).ok_or_else(|| {
                Error::invalid("mail.tls", format!("{t:?}: use none, starttls or tls"))
            })?,
        };
        let port = match get("mail.port") {
            Some(p) => p
                .parse()
                .map_err(|_| Error::invalid("mail.port", format!("{p:?} is not a port")))?,
            None => match tls {
                TlsMode::None => 25,
                TlsMode::StartTls => 587,
                TlsMode::Tls => 465,
            },
        };
        Ok(Some(MailConfig {
            host: host.to_string(),
            port,
            tls,
            user: get("mail.user").map(str::to_string),
            password: std::env::var("BOUNCER_SMTP_PASSWORD").ok(),
            from: get("mail.from").unwrap_or("bouncer@localhost").to_string(),
            to: to
                .split(',')
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
                .collect(),
            contacts: get("mail.contacts") == Some("true"),
        }))
    }

    /// TLS towards `host`, trusting what sentry trusts: the platform's
    /// store (`SSL_CERT_FILE` and `SSL_CERT_DIR` honoured), so a relay
    /// with a private CA works; Mozilla's roots when the platform has none.
    fn tls_parameters(&self) -> std::result::Result<TlsParameters, String> {
        let store = if rustls_native_certs::load_native_certs().certs.is_empty() {
            CertificateStore::WebpkiRoots
        } else {
            CertificateStore::Default
        };
        TlsParameters::builder(self.host.clone())
            .certificate_store(store)
            .build_rustls()
            .map_err(|e| e.to_string())
    }

    fn transport(&self) -> std::result::Result<SmtpTransport, String> {
        // `builder_dangerous` only means "no TLS yet": it is added here.
        let builder = SmtpTransport::builder_dangerous(&self.host);
        let builder = match self.tls {
            TlsMode::None => builder,
            TlsMode::StartTls => builder.tls(Tls::Required(self.tls_parameters()?)),
            TlsMode::Tls => builder.tls(Tls::Wrapper(self.tls_parameters()?)),
        };
        let mut builder = builder
            .port(self.port)
            .timeout(Some(Duration::from_secs(15)));
        if let Some(user) = &self.user {
            builder = builder.credentials(Credentials::new(
                user.clone(),
                self.password.clone().unwrap_or_default(),
            ));
        }
        Ok(builder.build())
    }

    /// Sends one plain-text message to `to`. Errors come with advice.
    /// Counted in [`SENT`] or [`FAILED`].
    pub fn send(&self, to: &[String], subject: &str, body: &str) -> Result<()> {
        let result = self.send_message(to, subject, body);
        let tally = if result.is_ok() { &SENT } else { &FAILED };
        tally.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        result
    }

    fn send_message(&self, to: &[String], subject: &str, body: &str) -> Result<()> {
        let mailbox = |a: &str| -> Result<Mailbox> {
            a.parse()
                .map_err(|e| Error::invalid("mail address", format!("{a:?}: {e}")))
        };
        let mut message = Message::builder()
            .from(mailbox(&self.from)?)
            .subject(subject)
            .header(lettre::message::header::ContentType::TEXT_PLAIN);
        for a in to {
            message = message.to(mailbox(a)?);
        }
        let message = message
            .body(body.to_string())
            .map_err(|e| Error::invalid("mail", e.to_string()))?;
        let transport = self
            .transport()
            .map_err(|e| Error::invalid("mail", self.advise(&e)))?;
        transport
            .send(&message)
            .map(|_| ())
            .map_err(|e| Error::invalid("mail", self.advise(&e.to_string())))
    }

    /// Turns an SMTP failure into advice for the operator.
    pub fn advise(&self, error: &str) -> String {
        let e = error.to_ascii_lowercase();
        let hint = if e.contains("refused") {
            format!(
                "nothing accepts connections at {}:{}; check mail.host and mail.port",
                self.host, self.port
            )
        } else if e.contains("resolve") || e.contains("lookup") || e.contains("dns") {
            format!(
                "the host name {:?} does not resolve; check mail.host",
                self.host
            )
        } else if e.contains("tls")
            || e.contains("ssl")
            || e.contains("handshake")
            || e.contains("certificate")
        {
            "TLS failed: try --tls starttls with port 587, or --tls tls with port 465 (none only for a local relay)".to_string()
        } else if e.contains("auth") || e.contains("535") || e.contains("credentials") {
            "the server refused the login: check mail.user and BOUNCER_SMTP_PASSWORD".to_string()
        } else if e.contains("timed out") || e.contains("timeout") {
            format!(
                "{}:{} did not answer in time: a firewall, or the wrong port",
                self.host, self.port
            )
        } else if e.contains("550") || e.contains("553") || e.contains("relay") {
            "the server refused a sender or recipient: check mail.from and mail.to (relaying may be forbidden)".to_string()
        } else {
            "check the mail settings (`bouncer mail show`)".to_string()
        };
        format!("{error} — {hint}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn configuration_from_settings() {
        assert_eq!(MailConfig::from_settings(&settings(&[])).unwrap(), None);
        let c = MailConfig::from_settings(&settings(&[
            ("mail.host", "smtp.example"),
            ("mail.to", "a@example.org, b@example.org"),
            ("mail.tls", "tls"),
        ]))
        .unwrap()
        .unwrap();
        assert_eq!((c.port, c.tls), (465, TlsMode::Tls));
        assert_eq!(c.to, vec!["a@example.org", "b@example.org"]);
        assert!(
            MailConfig::from_settings(&settings(&[
                ("mail.host", "h"),
                ("mail.to", "a@b"),
                ("mail.tls", "ssl3")
            ]))
            .is_err()
        );
    }

    #[test]
    fn advice_names_the_fix() {
        let c = MailConfig::from_settings(&settings(&[("mail.host", "h"), ("mail.to", "a@b")]))
            .unwrap()
            .unwrap();
        assert!(
            c.advise("Connection refused (os error 111)")
                .contains("mail.port")
        );
        assert!(c.advise("invalid peer certificate").contains("starttls"));
        assert!(
            c.advise("535 5.7.8 Authentication failed")
                .contains("BOUNCER_SMTP_PASSWORD")
        );
    }
}
