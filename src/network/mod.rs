//! The live network: the store plus the index the redirect path reads.
//! Every change goes through [`Network::write`], which commits and then
//! publishes a freshly built index; readers keep whatever index they loaded
//! and never wait for a writer.
//!
//! On PostgreSQL other nodes change the network too: `watch` follows the
//! database (LISTEN, and polling the generation) and republishes from what
//! changed, keeping the last index when the database cannot be reached.

mod watch;

pub use watch::{DbHealth, Watcher};

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;

use crate::error::Result;
use crate::geoip::GeoDb;
use crate::geoip::asn::AsnDb;
use crate::index::{Builder, Index};
use crate::model::{Actor, MirrorId};
use crate::store::{Place, Snapshot, Store, Tx};

/// Store + what was last published from it: the index the redirect path
/// reads and the configuration the pages read.
pub struct Network {
    store: Store,
    index: ArcSwap<Index>,
    /// The configuration read in the same transaction as `index` (live
    /// networks only): admin pages, the API and public pages read it
    /// instead of the tables.
    snapshot: ArcSwap<Snapshot>,
    /// Whether writes republish the index (off for one-shot CLI commands,
    /// which never bounce).
    live: bool,
    /// Serialises rebuild-and-swap so an older rebuild can never replace a
    /// newer one. Held only by writers; readers never touch it.
    publishing: Mutex<()>,
    /// Bumped on every publish, so waiters (sentry, tests) see changes.
    generation: AtomicU64,
    /// Bumped on every change made by someone other than sentry, under
    /// the lock its condition variable needs; sentry's schedule waits on it.
    changes: (Mutex<u64>, Condvar),
    /// How long the last index build took, in microseconds.
    last_build_micros: AtomicU64,
    /// Held by a sentry run: one at a time per network, whichever
    /// [`crate::sentry::Sentry`] (scheduled or from the CLI) makes it.
    sentry_run: Mutex<()>,
    /// The GeoIP data every published index carries.
    geo: Mutex<Geo>,
    /// On PostgreSQL: what the served index was built from (to rebuild
    /// from memory with the changes other nodes made) and how the
    /// database is doing.
    shared: Option<watch::Shared>,
    /// Since when (Unix seconds) this node holds sentry's lease;
    /// `u64::MAX`: it does not.
    sentry_leader: AtomicU64,
}

/// Where the GeoIP data in use came from, and the ASN table.
#[derive(Default)]
struct Geo {
    db: Arc<GeoDb>,
    /// The imported ASN table (empty: none).
    asn: Arc<AsnDb>,
    /// The `.mmdb` file it was read from (`serve --geoip`); imports into
    /// the database then wait for a restart without it.
    file: Option<std::path::PathBuf>,
}

impl Network {
    /// Opens the database; with `live`, builds the index and keeps it
    /// current on every write.
    pub fn open(place: impl Into<Place>, live: bool) -> Result<Network> {
        let store = Store::open_at(&place.into())?;
        let shared = store.postgres().map(|_| watch::Shared::default());
        let network = Network {
            store,
            shared,
            sentry_leader: AtomicU64::new(u64::MAX),
            index: ArcSwap::from_pointee(Index::default()),
            snapshot: ArcSwap::from_pointee(Snapshot::default()),
            live,
            publishing: Mutex::new(()),
            generation: AtomicU64::new(0),
            changes: (Mutex::new(0), Condvar::new()),
            sentry_run: Mutex::new(()),
            last_build_micros: AtomicU64::new(0),
            geo: Mutex::new(Geo::default()),
        };
        if live {
            match network.store.geoip() {
                Ok(Some(db)) => network.lock_geo().db = Arc::new(db),
                Ok(None) => {}
                // Redirects still work without countries; say what to do.
                Err(e) => tracing::warn!(error = %e, "GeoIP is off"),
            }
            match network.store.asn() {
                Ok(Some(db)) => network.lock_geo().asn = Arc::new(db),
                Ok(None) => {}
                Err(e) => tracing::warn!(error = %e, "AS numbers are off"),
            }
            network.republish()?;
        }
        Ok(network)
    }

    fn lock_geo(&self) -> std::sync::MutexGuard<'_, Geo> {
        self.geo.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Reads GeoIP data from a MaxMind `.mmdb` file and uses it instead of
    /// the imported table for as long as this network lives.
    pub fn use_geoip_file(&self, path: &Path) -> Result<()> {
        let db = crate::geoip::mmdb::read(path)?;
        let mut geo = self.lock_geo();
        geo.db = Arc::new(db);
        geo.file = Some(path.to_path_buf());
        drop(geo);
        if self.live {
            self.republish()?;
        }
        Ok(())
    }

    /// Stores `geo` as the imported GeoIP table (`None`: removes it) and,
    /// unless a `.mmdb` file is in use, puts it to work at once. Returns
    /// the file in use instead, if any.
    pub fn replace_geoip(
        &self,
        actor: &Actor,
        geo: Option<GeoDb>,
    ) -> Result<Option<std::path::PathBuf>> {
        self.store.write(actor, |tx| tx.geoip_put(geo.as_ref()))?;
        let file = {
            let mut current = self.lock_geo();
            if current.file.is_none() {
                current.db = Arc::new(geo.unwrap_or_default());
            }
            current.file.clone()
        };
        if self.live && file.is_none() {
            self.republish()?;
        }
        Ok(file)
    }

    /// Stores `asn` as the ASN table (`None`: removes it) and puts it to
    /// work at once.
    pub fn replace_asn(&self, actor: &Actor, asn: Option<AsnDb>) -> Result<()> {
        self.store.write(actor, |tx| tx.asn_put(asn.as_ref()))?;
        self.lock_geo().asn = Arc::new(asn.unwrap_or_default());
        if self.live {
            self.republish()?;
        }
        Ok(())
    }

    /// The ASN table in use (the server's) or stored (not live).
    pub fn asn(&self) -> Result<Arc<AsnDb>> {
        if self.live {
            Ok(self.lock_geo().asn.clone())
        } else {
            Ok(Arc::new(self.store.asn()?.unwrap_or_default()))
        }
    }

    /// Where the GeoIP data in use came from: the `.mmdb` file, if one.
    pub fn geoip_file(&self) -> Option<std::path::PathBuf> {
        self.lock_geo().file.clone()
    }

    /// Whether writes keep the index current.
    pub fn is_live(&self) -> bool {
        self.live
    }

    /// The store, for reads (and writes that need no republish, such as counts).
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Holds the network's sentry run gate: one run at a time, whichever
    /// [`crate::sentry::Sentry`] (scheduled or from the CLI) makes it.
    pub fn one_sentry_run(&self) -> std::sync::MutexGuard<'_, ()> {
        self.sentry_run.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The current index. Lock-free; the guard keeps that snapshot alive.
    pub fn index(&self) -> arc_swap::Guard<Arc<Index>> {
        self.index.load()
    }

    /// How many locations each mirror receives downloads for now (active
    /// products; present, healthy, active, rated; from the current index's
    /// [`Index::serving_by_mirror`]), and how many live locations there are:
    /// the one definition of "Serves" every page and feed uses.
    pub fn serving(&self) -> (HashMap<MirrorId, usize>, usize) {
        let index = self.index();
        (index.serving_by_mirror(), index.stats().locations)
    }

    /// The configuration as of the current index: published with it on a
    /// live network (no read), read from the store otherwise.
    pub fn snapshot(&self) -> Result<Arc<Snapshot>> {
        if self.live {
            Ok(self.snapshot.load_full())
        } else {
            self.store.snapshot().map(Arc::new)
        }
    }

    /// How many times the index was published.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// Duration of the last index build.
    pub fn last_build(&self) -> Duration {
        Duration::from_micros(self.last_build_micros.load(Ordering::Relaxed))
    }

    /// Runs `f` in one write transaction, commits, then publishes a new
    /// index so the change is live for the next request.
    pub fn write<T>(&self, actor: &Actor, f: impl FnOnce(&mut Tx) -> Result<T>) -> Result<T> {
        let out = self.store.write(actor, f)?;
        if self.live
            && let Err(e) = self.republish()
        {
            if self.shared.is_none() {
                return Err(e);
            }
            // Committed: on PostgreSQL the watcher brings the index up to
            // date once the database answers again, and the caller must
            // not be told that nothing changed.
            tracing::warn!(error = %e, "changed, but cannot refresh the index yet");
        }
        if !actor.is_sentry() {
            self.changed();
        }
        Ok(out)
    }

    /// Records whether (and since when, Unix seconds) this node holds
    /// sentry's lease.
    pub fn set_sentry_leader(&self, since: Option<u64>) {
        self.sentry_leader
            .store(since.unwrap_or(u64::MAX), Ordering::Release);
    }

    /// Since when (Unix seconds) this node holds sentry's lease, if it does.
    pub fn sentry_leader(&self) -> Option<u64> {
        let since = self.sentry_leader.load(Ordering::Acquire);
        (since != u64::MAX).then_some(since)
    }

    /// Counts a change made by someone other than sentry and wakes whoever
    /// waits for one.
    fn changed(&self) {
        let (count, cv) = &self.changes;
        *count.lock().unwrap_or_else(|e| e.into_inner()) += 1;
        cv.notify_all();
    }

    /// How many changes others than sentry have made.
    pub fn changes(&self) -> u64 {
        *self.changes.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Waits until [`Network::changes`] differs from `seen`, a
    /// [`Network::notify`], or `timeout`.
    /// `stop` is checked under the same lock [`Network::notify`] takes, so
    /// a stop request between the caller's check and this wait is not lost.
    pub fn wait_for_changes(&self, seen: u64, timeout: Duration, stop: &AtomicBool) {
        let (count, cv) = &self.changes;
        let guard = count.lock().unwrap_or_else(|e| e.into_inner());
        if *guard == seen && !stop.load(Ordering::Acquire) {
            let _ = cv.wait_timeout(guard, timeout);
        }
    }

    /// Keeps the index right as maintenance windows start and end (SPEC
    /// §13): rebuilds it at each boundary and counts that as a change, so
    /// sentry checks a mirror back from one at once. Runs until `stop`
    /// (then call [`Network::notify`]).
    pub fn follow_windows(&self, stop: &AtomicBool) {
        let mut failed = false;
        while !stop.load(Ordering::Acquire) {
            // Read before the snapshot: a change in between wakes the wait.
            let seen = self.changes();
            let now = crate::model::now();
            let next = self.snapshot().ok().and_then(|s| {
                crate::model::maintenance::next_boundary(
                    s.mirrors.iter().filter_map(|m| m.maintenance.as_ref()),
                    now,
                )
            });
            // A rebuild that failed is tried again soon.
            let wait = if failed {
                5
            } else {
                next.map_or(3600, |t| (t - now).min(3600))
            };
            self.wait_for_changes(seen, Duration::from_secs(wait), stop);
            if failed || next.is_some_and(|t| crate::model::now() >= t) {
                failed = match self.republish() {
                    Ok(()) => {
                        self.changed();
                        false
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "cannot rebuild the index for a maintenance window");
                        true
                    }
                };
            }
        }
    }

    /// Wakes everyone waiting in [`Network::wait_for_changes`].
    pub fn notify(&self) {
        // Under the lock, so a waiter between its check and its wait
        // cannot miss it.
        let _guard = self.changes.0.lock().unwrap_or_else(|e| e.into_inner());
        self.changes.1.notify_all();
    }

    /// An index built now from the store, whether or not this network is
    /// live (for one-shot commands that need one).
    pub fn fresh_index(&self) -> Result<Index> {
        let builder = self.store.read_network(
            |s, files| Builder::new(&s, &files),
            |b, loc, mirror| b.serving(loc, mirror),
        )?;
        let geo = if self.live {
            self.lock_geo().db.clone()
        } else {
            Arc::new(self.store.geoip()?.unwrap_or_default())
        };
        Ok(builder.finish(&*self.asn()?).with_geo(geo))
    }

    /// Rebuilds the index from the store and swaps it in (on PostgreSQL,
    /// from what changed since the index served).
    pub fn republish(&self) -> Result<()> {
        // A poisoned lock only means another rebuild panicked; the index it
        // guards is replaced wholesale, so carrying on is safe.
        let _guard = self.publishing.lock().unwrap_or_else(|e| e.into_inner());
        let started = Instant::now();
        if let Some(shared) = &self.shared {
            let result = self.refresh(shared);
            shared.note_refresh(&result);
            return result;
        }
        let mut snapshot = None;
        let builder = self.store.read_network(
            |s, files| {
                let builder = Builder::new(&s, &files);
                snapshot = Some(s);
                builder
            },
            |b, loc, mirror| b.serving(loc, mirror),
        )?;
        self.publish(Arc::new(snapshot.unwrap_or_default()), builder, started);
        Ok(())
    }

    /// Swaps in `snapshot` and the index `builder` holds, with the GeoIP
    /// data in use.
    fn publish(&self, snapshot: Arc<Snapshot>, builder: Builder, started: Instant) {
        let (geo, asn) = {
            let g = self.lock_geo();
            (g.db.clone(), g.asn.clone())
        };
        // The configuration first: a reader that sees the new index finds
        // at least as new a configuration.
        self.snapshot.store(snapshot);
        self.index
            .store(Arc::new(builder.finish(&asn).with_geo(geo)));
        self.last_build_micros
            .store(started.elapsed().as_micros() as u64, Ordering::Relaxed);
        self.generation.fetch_add(1, Ordering::AcqRel);
    }
}
