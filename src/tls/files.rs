//! A certificate from files (`--tls-cert`, `--tls-key`): read and checked
//! at start (a bad pair stops the server with the reason), then read again
//! on SIGHUP and whenever either file changes. A reload that fails is
//! logged and the certificate in use stays.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use super::{Certificates, Loaded, TlsError};

/// How often the files' metadata is looked at.
const POLL: Duration = Duration::from_secs(2);

/// The certificate and key files.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pair {
    /// The certificate, followed by its chain (PEM).
    pub cert: PathBuf,
    /// Its private key (PEM).
    pub key: PathBuf,
}

impl Pair {
    /// Reads and checks both files.
    pub fn load(&self) -> Result<Loaded, TlsError> {
        let read = |what, path: &Path| {
            std::fs::read(path).map_err(|source| TlsError::Read {
                what,
                path: path.to_path_buf(),
                source,
            })
        };
        let cert = read("certificate", &self.cert)?;
        let key = read("key", &self.key)?;
        super::load_pem(
            &cert,
            &key,
            &self.cert,
            &self.key,
            crate::model::now() as i64,
        )
    }

    /// What identifies both files' current contents without reading them.
    fn stamp(&self) -> Option<[(SystemTime, u64, u64); 2]> {
        use std::os::unix::fs::MetadataExt;
        let one = |p: &Path| {
            let m = std::fs::metadata(p).ok()?;
            Some((m.modified().ok()?, m.len(), m.ino()))
        };
        Some([one(&self.cert)?, one(&self.key)?])
    }
}

/// Reads `pair` into `certificates` now (an error stops the start), then
/// keeps it fresh: on SIGHUP and when either file changes. Must be called
/// inside the runtime.
pub fn serve_from(pair: Pair, certificates: Arc<Certificates>) -> crate::error::Result<()> {
    use tokio::signal::unix::{SignalKind, signal};
    // Taken before reading: a change while the files are read is seen.
    let stamp = pair.stamp();
    let loaded = pair.load()?;
    log_installed(&pair, &loaded);
    certificates.install(loaded);
    let mut hangup = signal(SignalKind::hangup())
        .map_err(|e| crate::error::Error::io("cannot install the SIGHUP handler", e))?;
    let watched = Arc::downgrade(&certificates);
    tokio::spawn(async move {
        let mut stamp = stamp;
        let mut poll = tokio::time::interval(POLL);
        poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let asked = tokio::select! {
                Some(()) = hangup.recv() => true,
                _ = poll.tick() => false,
            };
            let Some(certificates) = watched.upgrade() else {
                break;
            };
            // Looked at off the runtime's workers.
            let look = pair.clone();
            let now = tokio::task::spawn_blocking(move || look.stamp())
                .await
                .ok()
                .flatten();
            if !asked && now == stamp {
                continue;
            }
            let job = pair.clone();
            let Ok((result, job)) = tokio::task::spawn_blocking(move || (job.load(), job)).await
            else {
                // Not read: the next look tries again.
                continue;
            };
            stamp = now;
            match result {
                Ok(loaded) => {
                    log_installed(&job, &loaded);
                    certificates.install(loaded);
                }
                Err(e) => {
                    tracing::error!(error = %e, "the TLS certificate was not reloaded; the one in use stays");
                    certificates.failed(e.to_string(), None);
                }
            }
        }
    });
    Ok(())
}

fn log_installed(pair: &Pair, loaded: &Loaded) {
    tracing::info!(
        cert = %pair.cert.display(),
        names = %loaded.info.names.join(" "),
        not_after = %super::utc(loaded.info.not_after),
        fingerprint = %loaded.info.fingerprint,
        "TLS certificate in use"
    );
}
