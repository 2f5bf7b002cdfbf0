//! Certificates obtained and renewed by ACME (RFC 8555), through the
//! `instant-acme` client: one account per directory, kept with the
//! certificate in a directory beside the database (owner-only); an order
//! for every `--acme` domain, validated by TLS-ALPN-01 on the TLS listener
//! (RFC 8737) or HTTP-01 on the plain one; renewal two thirds into the
//! certificate's life; failures logged, shown, and retried with backoff
//! while the certificate in use (if any) stays.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use instant_acme::{
    Account, AccountCredentials, AuthorizationStatus, ChallengeType, Identifier, NewAccount,
    NewOrder, OrderStatus, RetryPolicy,
};

use super::{Certificates, Loaded};

/// Let's Encrypt's production directory: the default.
pub const LETS_ENCRYPT: &str = "https://acme-v02.api.letsencrypt.org/directory";

/// The first wait after a failure; doubled after each one.
const FIRST_RETRY: Duration = Duration::from_secs(60);
/// The longest wait between attempts.
const LAST_RETRY: Duration = Duration::from_secs(2 * 3600);
/// How long an order may wait for validation and issuance.
const ORDER_PATIENCE: Duration = Duration::from_secs(120);

/// How the ACME server checks that this server answers for a domain.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Challenge {
    /// TLS-ALPN-01 on the TLS listener (port 443 in production).
    TlsAlpn,
    /// HTTP-01 on the plain listener (port 80 in production).
    Http,
}

impl Challenge {
    /// From `--acme-challenge`.
    pub fn parse(s: &str) -> Option<Challenge> {
        match s {
            "tls-alpn-01" => Some(Challenge::TlsAlpn),
            "http-01" => Some(Challenge::Http),
            _ => None,
        }
    }

    fn kind(self) -> ChallengeType {
        match self {
            Challenge::TlsAlpn => ChallengeType::TlsAlpn01,
            Challenge::Http => ChallengeType::Http01,
        }
    }
}

/// What `--acme…` asked for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Settings {
    /// The certificate's names.
    pub domains: Vec<String>,
    /// The account's contact e-mail address.
    pub contact: String,
    /// The directory URL.
    pub directory: String,
    /// A PEM CA to trust for the directory's HTTPS (a private ACME server)
    /// instead of the system's.
    pub ca: Option<PathBuf>,
    /// Where the account and certificate are kept.
    pub dir: PathBuf,
    /// How domains are validated.
    pub challenge: Challenge,
    /// Renew this long after issue instead of two thirds into the
    /// certificate's life (testing).
    pub renew_after: Option<Duration>,
}

impl Settings {
    fn account_file(&self) -> PathBuf {
        self.dir.join("account.json")
    }
    fn cert_file(&self) -> PathBuf {
        self.dir.join("certificate.pem")
    }
    fn key_file(&self) -> PathBuf {
        self.dir.join("certificate.key")
    }

    /// When a certificate `info`, put in place at `installed` (Unix
    /// seconds), should be replaced.
    fn renewal_time(&self, info: &super::Info, installed: i64) -> i64 {
        match self.renew_after {
            Some(after) => installed + after.as_secs() as i64,
            None => info.not_before + (info.not_after - info.not_before) * 2 / 3,
        }
    }
}

/// The wait before attempt `failures + 1` after `failures` failures in a
/// row.
pub fn backoff(failures: u32) -> Duration {
    let doubled = FIRST_RETRY.saturating_mul(1u32 << failures.saturating_sub(1).min(16));
    doubled.min(LAST_RETRY)
}

/// Puts the certificate kept in `settings.dir` in place if it is still
/// good for every domain and came from this directory, then obtains and
/// renews certificates for ever on the runtime. Fails only when the state
/// directory cannot be made owner-only. Must be called inside the
/// runtime.
pub fn serve_from(settings: Settings, certificates: Arc<Certificates>) -> crate::error::Result<()> {
    make_private_dir(&settings.dir)?;
    match kept(&settings) {
        Ok(loaded) => {
            tracing::info!(
                names = %loaded.info.names.join(" "),
                not_after = %super::utc(loaded.info.not_after),
                "ACME certificate from {} in use",
                settings.cert_file().display()
            );
            certificates.install(loaded);
        }
        Err(why) => tracing::info!(
            domains = %settings.domains.join(" "),
            directory = %settings.directory,
            "ordering an ACME certificate: {why}"
        ),
    }
    let watched = Arc::downgrade(&certificates);
    tokio::spawn(async move {
        loop {
            // Slept in steps, against the wall clock: a machine that was
            // suspended or whose clock moved renews on time all the same.
            loop {
                let Some(certificates) = watched.upgrade() else {
                    return;
                };
                let due = next_attempt(&settings, &certificates.status());
                certificates.renews_at(due);
                let wait = due - crate::model::now() as i64;
                if wait <= 0 {
                    break;
                }
                drop(certificates);
                tokio::time::sleep(Duration::from_secs((wait as u64).min(STEP))).await;
            }
            let Some(certificates) = watched.upgrade() else {
                return;
            };
            // The client has no timeouts of its own: a server that
            // accepts and then says nothing must not stall renewal.
            let attempt = tokio::time::timeout(ATTEMPT_PATIENCE, obtain(&settings, &certificates));
            let result = attempt.await.unwrap_or_else(|_| {
                Err(format!(
                    "the ACME server did not finish within {} s; is {} reachable?",
                    ATTEMPT_PATIENCE.as_secs(),
                    settings.directory
                ))
            });
            match result {
                Ok(loaded) => {
                    tracing::info!(
                        names = %loaded.info.names.join(" "),
                        not_after = %super::utc(loaded.info.not_after),
                        fingerprint = %loaded.info.fingerprint,
                        "ACME certificate obtained and in use"
                    );
                    certificates.install(loaded);
                }
                Err(error) => {
                    let failures = certificates.status().failures + 1;
                    let next = crate::model::now() as i64 + backoff(failures).as_secs() as i64;
                    tracing::error!(
                        error = %error,
                        directory = %settings.directory,
                        failures,
                        next_attempt = %super::utc(next),
                        "could not obtain an ACME certificate; the one in use (if any) stays"
                    );
                    certificates.failed(error, Some(next));
                }
            }
            certificates.clear_challenges();
        }
    });
    Ok(())
}

/// The longest single sleep of the renewal loop (seconds).
const STEP: u64 = 3600;
/// How long one attempt (account, order, validation, issuance) may take.
const ATTEMPT_PATIENCE: Duration = Duration::from_secs(600);
/// The least time between a certificate and the order for the next one
/// (seconds), unless `--acme-renew-after` says otherwise: a clock that
/// jumps never makes the loop order again and again.
const LEAST_LIFE: i64 = 3600;

/// When the next order is placed (Unix seconds): now without a
/// certificate, after the backoff after failures, else at the renewal
/// time.
fn next_attempt(settings: &Settings, status: &super::Status) -> i64 {
    let now = crate::model::now() as i64;
    if status.failures > 0 {
        let backoff_at = now + backoff(status.failures).as_secs() as i64;
        return status
            .next_renewal
            .map_or(backoff_at, |at| at.min(backoff_at));
    }
    let Some(info) = &status.certificate else {
        return now;
    };
    let installed = status.installed.unwrap_or(now);
    let due = settings.renewal_time(info, installed);
    match settings.renew_after {
        Some(_) => due,
        None => due.max(installed + LEAST_LIFE),
    }
}

/// Makes `dir` if it is missing, and owner-only in any case.
fn make_private_dir(dir: &Path) -> crate::error::Result<()> {
    use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
    let cannot = |e| {
        crate::error::Error::io(
            format!(
                "cannot make {} an owner-only directory for the ACME account and certificate (--acme-dir)",
                dir.display()
            ),
            e,
        )
    };
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(cannot)?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).map_err(cannot)
}

/// The certificate kept from an earlier run, if it loads, covers every
/// domain and came from this directory; else why not.
fn kept(settings: &Settings) -> Result<Loaded, String> {
    let pair = super::files::Pair {
        cert: settings.cert_file(),
        key: settings.key_file(),
    };
    if !pair.cert.exists() {
        return Err("none kept yet".into());
    }
    let loaded = pair
        .load()
        .map_err(|e| format!("the kept one cannot be used ({e})"))?;
    if let Some(missing) = settings.domains.iter().find(|d| !loaded.info.covers(d)) {
        return Err(format!("the kept one is not for {missing}"));
    }
    let account = std::fs::read_to_string(settings.account_file()).ok();
    let from = account.and_then(|t| serde_json::from_str::<Kept>(&t).ok());
    match from {
        Some(k) if k.directory == settings.directory => Ok(loaded),
        Some(k) => Err(format!("the kept one came from {}", k.directory)),
        None => Err("the kept one's account is missing".into()),
    }
}

/// One order: account, authorizations, finalization, certificate;
/// written beside the database, then returned for use.
async fn obtain(settings: &Settings, certificates: &Certificates) -> Result<Loaded, String> {
    let account = account(settings).await?;
    let identifiers: Vec<Identifier> = (settings.domains.iter())
        .map(|d| Identifier::Dns(d.clone()))
        .collect();
    let mut order = account
        .new_order(&NewOrder::new(&identifiers))
        .await
        .map_err(|e| format!("the ACME server refused the order: {}", why(&e)))?;
    let mut authorizations = order.authorizations();
    while let Some(authorization) = authorizations.next().await {
        let mut authorization =
            authorization.map_err(|e| format!("cannot read an authorization: {}", why(&e)))?;
        match authorization.status {
            AuthorizationStatus::Pending => {}
            AuthorizationStatus::Valid => continue,
            other => {
                return Err(format!(
                    "the authorization for {} is {other:?}: {}",
                    authorization.identifier(),
                    "does the name resolve to this server, and is the HTTPS (or, for http-01, the plain) listener reachable from the internet?"
                ));
            }
        }
        let domain = authorization.identifier().to_string();
        let kind = settings.challenge.kind();
        let mut challenge = authorization.challenge(kind.clone()).ok_or_else(|| {
            format!("the ACME server offers no {kind:?} challenge for {domain}; try the other --acme-challenge")
        })?;
        let key_authorization = challenge.key_authorization();
        match settings.challenge {
            Challenge::TlsAlpn => {
                let key = alpn_certificate(&domain, key_authorization.digest().as_ref())?;
                certificates.add_challenge(&domain, key);
            }
            Challenge::Http => certificates.add_token(&challenge.token, key_authorization.as_str()),
        }
        challenge
            .set_ready()
            .await
            .map_err(|e| format!("cannot start validating {domain}: {}", why(&e)))?;
    }
    let patience = RetryPolicy::new().timeout(ORDER_PATIENCE);
    let status = order
        .poll_ready(&patience)
        .await
        .map_err(|e| format!("validation did not finish: {}", why(&e)))?;
    if status != OrderStatus::Ready {
        let why = why_invalid(&mut order).await;
        return Err(format!("validation failed ({status:?}): {why}"));
    }
    let key_pem = order
        .finalize()
        .await
        .map_err(|e| format!("the ACME server refused to finalize the order: {}", why(&e)))?;
    let chain_pem = order
        .poll_certificate(&patience)
        .await
        .map_err(|e| format!("the certificate was not issued: {}", why(&e)))?;
    let loaded = super::load_pem(
        chain_pem.as_bytes(),
        key_pem.as_bytes(),
        &settings.cert_file(),
        &settings.key_file(),
        crate::model::now() as i64,
    )
    .map_err(|e| format!("the issued certificate cannot be used: {e}"))?;
    super::write_private(&settings.key_file(), &key_pem).map_err(|e| e.to_string())?;
    super::write_private(&settings.cert_file(), &chain_pem).map_err(|e| e.to_string())?;
    Ok(loaded)
}

/// What the server said about the authorizations that failed.
async fn why_invalid(order: &mut instant_acme::Order) -> String {
    let mut reasons = Vec::new();
    let mut authorizations = order.authorizations();
    while let Some(Ok(authorization)) = authorizations.next().await {
        for challenge in &authorization.challenges {
            if let Some(problem) = &challenge.error {
                reasons.push(format!("{}: {problem}", authorization.identifier()));
            }
        }
    }
    if reasons.is_empty() {
        "the ACME server gave no reason".into()
    } else {
        reasons.join("; ")
    }
}

/// The account for `settings.directory`: the one kept in the state
/// directory, else a new one registered now and kept.
async fn account(settings: &Settings) -> Result<Account, String> {
    let builder = || match &settings.ca {
        Some(ca) => Account::builder_with_root(ca)
            .map_err(|e| format!("cannot use --acme-ca {}: {e}", ca.display())),
        None => Account::builder().map_err(|e| format!("cannot start the ACME client: {e}")),
    };
    let file = settings.account_file();
    if let Ok(text) = std::fs::read_to_string(&file) {
        let kept: Kept = serde_json::from_str(&text).map_err(|e| {
            format!(
                "{} is damaged ({e}); remove it to register a new account",
                file.display()
            )
        })?;
        if kept.directory == settings.directory {
            return builder()?
                .from_credentials(kept.credentials)
                .await
                .map_err(|e| {
                    format!(
                        "the ACME directory {} did not answer: {}",
                        settings.directory,
                        why(&e)
                    )
                });
        }
    }
    let contact = format!("mailto:{}", settings.contact);
    let (account, credentials) = builder()?
        .create(
            &NewAccount {
                contact: &[&contact],
                terms_of_service_agreed: true,
                only_return_existing: false,
            },
            settings.directory.clone(),
            None,
        )
        .await
        .map_err(|e| {
            format!(
                "cannot register an account at {}: {}",
                settings.directory,
                why(&e)
            )
        })?;
    let kept = Kept {
        directory: settings.directory.clone(),
        credentials,
    };
    let text = serde_json::to_string(&kept).map_err(|e| e.to_string())?;
    super::write_private(&file, &text).map_err(|e| e.to_string())?;
    tracing::info!(directory = %settings.directory, contact = %settings.contact, "ACME account registered");
    Ok(account)
}

/// An ACME error and its causes, outermost first ("client error
/// (Connect): tcp connect error: Connection refused").
fn why(e: &instant_acme::Error) -> String {
    let mut text = e.to_string();
    let mut cause = std::error::Error::source(e);
    while let Some(c) = cause {
        let more = c.to_string();
        if !text.contains(&more) {
            text.push_str(": ");
            text.push_str(&more);
        }
        cause = c.source();
    }
    text
}

/// The account file: its directory, and credentials for it.
#[derive(serde::Serialize, serde::Deserialize)]
struct Kept {
    directory: String,
    credentials: AccountCredentials,
}

/// The TLS-ALPN-01 certificate for `domain` (RFC 8737): self-signed,
/// carrying the key authorization's digest in the acmeIdentifier
/// extension.
fn alpn_certificate(
    domain: &str,
    digest: &[u8],
) -> Result<Arc<rustls::sign::CertifiedKey>, String> {
    let make = || -> Result<(String, String), rcgen::Error> {
        let mut params = rcgen::CertificateParams::new(vec![domain.to_string()])?;
        params.custom_extensions = vec![rcgen::CustomExtension::new_acme_identifier(digest)];
        let key = rcgen::KeyPair::generate()?;
        let cert = params.self_signed(&key)?;
        Ok((cert.pem(), key.serialize_pem()))
    };
    let (cert, key) =
        make().map_err(|e| format!("cannot make the TLS-ALPN-01 certificate: {e}"))?;
    let none = Path::new("(challenge)");
    super::load_pem(
        cert.as_bytes(),
        key.as_bytes(),
        none,
        none,
        crate::model::now() as i64,
    )
    .map(|l| l.key)
    .map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Settings for one domain, renewing two thirds into the life.
    fn settings() -> Settings {
        Settings {
            domains: vec!["a.example.org".into()],
            contact: String::new(),
            directory: String::new(),
            ca: None,
            dir: PathBuf::new(),
            challenge: Challenge::TlsAlpn,
            renew_after: None,
        }
    }

    #[test]
    fn backoff_doubles_from_a_minute_up_to_two_hours() {
        let waits: Vec<u64> = (1..=9).map(|n| backoff(n).as_secs()).collect();
        assert_eq!(waits, [60, 120, 240, 480, 960, 1920, 3840, 7200, 7200]);
        assert_eq!(backoff(u32::MAX), LAST_RETRY);
    }

    #[test]
    fn renewal_is_two_thirds_into_the_life_unless_told() {
        let info = super::super::Info {
            names: vec![],
            issuer: String::new(),
            not_before: 1_000,
            not_after: 1_000 + 90 * 86_400,
            fingerprint: String::new(),
        };
        let mut settings = settings();
        assert_eq!(settings.renewal_time(&info, 5_000), 1_000 + 60 * 86_400);
        settings.renew_after = Some(Duration::from_secs(5));
        assert_eq!(settings.renewal_time(&info, 5_000), 5_005);
    }

    #[test]
    fn the_alpn_certificate_is_for_the_domain() {
        let key = alpn_certificate("download.example.org", &[7; 32]).unwrap();
        let info = super::super::Info::of(&key.cert[0]).unwrap();
        assert_eq!(info.names, ["download.example.org"]);
    }

    #[test]
    fn the_next_order_waits_for_renewal_backoff_or_at_least_an_hour() {
        let settings = settings();
        let now = crate::model::now() as i64;
        let mut status = super::super::Status {
            source: super::super::Source::Acme,
            certificate: None,
            installed: None,
            error: None,
            failures: 0,
            next_renewal: None,
        };
        assert!(next_attempt(&settings, &status) <= now + 1, "none yet: now");
        // A certificate whose renewal time has passed (a clock that
        // jumped): not at once again, an hour after it was put in place.
        status.certificate = Some(super::super::Info {
            names: vec![],
            issuer: String::new(),
            not_before: now - 100,
            not_after: now + 50,
            fingerprint: String::new(),
        });
        status.installed = Some(now);
        assert_eq!(next_attempt(&settings, &status), now + LEAST_LIFE);
        // After failures: the backoff, from the time already set.
        status.failures = 2;
        status.next_renewal = Some(now + 30);
        assert_eq!(next_attempt(&settings, &status), now + 30);
        status.next_renewal = None;
        let next = next_attempt(&settings, &status);
        assert!((now + 120..=now + 121).contains(&next), "{next}");
    }
}
