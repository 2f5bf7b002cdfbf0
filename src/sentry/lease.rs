//! This node's claim on sentry's lease (PostgreSQL): a thread claims it
//! every [`RENEW`] for [`TTL`], so that one node checks the network and
//! another takes over within `TTL + RENEW` of the leader's death.

use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use crate::error::Error;
use crate::network::Network;
use crate::store::{Claim, Lease};

/// How long a claim lasts unless renewed.
pub const TTL: Duration = Duration::from_secs(15);

/// How often the holder renews (and others try to take over).
pub const RENEW: Duration = Duration::from_secs(5);

/// How much sooner than the database this node counts its lease as gone,
/// so that it stops writing before another node may start.
const MARGIN: Duration = Duration::from_secs(3);

/// This node's claim, kept current by a thread until [`Leadership::stop`].
pub struct Leadership {
    holder: String,
    /// The lease and when (by this node's clock) to stop trusting it.
    held: Mutex<Option<(Lease, Instant)>>,
    /// Who held it at the last claim this node lost (holder, until).
    elsewhere: Mutex<Option<(String, u64)>>,
    stopped: Mutex<bool>,
    wake: Condvar,
    thread: Mutex<Option<std::thread::JoinHandle<()>>>,
}

/// This process's name as a lease holder: host and process id.
pub fn node_name(role: &str) -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "localhost".into());
    format!("{role}@{host}:{}", std::process::id())
}

impl Leadership {
    /// Claims the lease for `holder` now and keeps claiming it on a thread
    /// of its own. Returns what the first claim got.
    pub fn start(network: Arc<Network>, holder: String) -> (Arc<Leadership>, Claim) {
        let leadership = Arc::new(Leadership {
            holder,
            held: Mutex::new(None),
            elsewhere: Mutex::new(None),
            stopped: Mutex::new(false),
            wake: Condvar::new(),
            thread: Mutex::new(None),
        });
        let first = leadership.claim(&network);
        let keeper = leadership.clone();
        let thread = std::thread::Builder::new()
            .name("sentry-lease".into())
            .spawn(move || keeper.keep(&network))
            .ok();
        *leadership.thread.lock().unwrap_or_else(|e| e.into_inner()) = thread;
        (leadership, first)
    }

    /// The lease, while this node holds it.
    pub fn current(&self) -> Option<Lease> {
        let held = self.held.lock().unwrap_or_else(|e| e.into_inner());
        held.as_ref()
            .filter(|(_, until)| Instant::now() < *until)
            .map(|(lease, _)| lease.clone())
    }

    /// Why this node may not run sentry now: who leads, as last seen.
    pub fn elsewhere(&self) -> Error {
        let seen = self.elsewhere.lock().unwrap_or_else(|e| e.into_inner());
        let (holder, until) = seen.clone().unwrap_or_default();
        Error::SentryElsewhere { holder, until }
    }

    /// One claim: records the outcome and tells the network's heartbeat.
    fn claim(&self, network: &Network) -> Claim {
        let asked = Instant::now();
        let claim = match network.store().lease_claim(&self.holder, TTL) {
            Ok(claim) => claim,
            Err(e) => {
                tracing::warn!(error = %e, "cannot claim sentry's lease");
                Claim::Taken {
                    holder: String::new(),
                    until: 0,
                }
            }
        };
        if let Claim::Taken { holder, until } = &claim {
            *self.elsewhere.lock().unwrap_or_else(|e| e.into_inner()) =
                Some((holder.clone(), *until));
        }
        let mut held = self.held.lock().unwrap_or_else(|e| e.into_inner());
        let was = held.as_ref().map(|(l, _)| l.token);
        *held = match &claim {
            Claim::Held(lease) => Some((lease.clone(), asked + TTL - MARGIN)),
            // Until the lease is lost by the database's clock, this node
            // keeps trusting what it held (a failed renewal alone does not
            // end it), as long as its own deadline allows.
            Claim::Taken { holder, .. } if holder.is_empty() => held.take(),
            Claim::Taken { .. } => None,
        };
        let now = held.as_ref().map(|(l, _)| (l.token, l.since));
        drop(held);
        if was != now.map(|(t, _)| t) {
            match now {
                Some((token, _)) => tracing::info!(token, "this node leads sentry now"),
                None => tracing::info!("this node no longer leads sentry"),
            }
            // Sentry's schedule waits on the network: wake it.
            network.notify();
        }
        network.set_sentry_leader(now.map(|(_, since)| since / 1000));
        claim
    }

    /// The thread: claims every [`RENEW`] until stopped, then releases.
    fn keep(&self, network: &Network) {
        loop {
            let stopped = self.stopped.lock().unwrap_or_else(|e| e.into_inner());
            let (stopped, _) = self
                .wake
                .wait_timeout_while(stopped, RENEW, |s| !*s)
                .unwrap_or_else(|e| e.into_inner());
            if *stopped {
                break;
            }
            drop(stopped);
            self.claim(network);
        }
        let held = self.held.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some((lease, _)) = held
            && let Err(e) = network.store().lease_release(&lease)
        {
            tracing::warn!(error = %e, "cannot release sentry's lease; it lapses by itself");
        }
        network.set_sentry_leader(None);
    }

    /// Stops claiming and releases the lease (so another node takes over
    /// at once), waiting for the thread.
    pub fn stop(&self) {
        *self.stopped.lock().unwrap_or_else(|e| e.into_inner()) = true;
        self.wake.notify_all();
        let thread = self.thread.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(thread) = thread {
            let _ = thread.join();
        }
    }
}

/// A lease taken for one run (a run from the command line, or Check now on
/// a node without a schedule): renewed while the run lasts, released when
/// this is dropped.
pub struct OneRun(Arc<Leadership>);

impl OneRun {
    /// Takes sentry's lease for one run, refused while a node leads.
    pub fn claim(network: Arc<Network>) -> Result<(OneRun, Lease), Error> {
        let (leadership, claim) = Leadership::start(network, node_name("run"));
        match claim {
            Claim::Held(lease) => Ok((OneRun(leadership), lease)),
            Claim::Taken { .. } => {
                leadership.stop();
                Err(leadership.elsewhere())
            }
        }
    }
}

impl Drop for OneRun {
    fn drop(&mut self) {
        self.0.stop();
    }
}
