//! Following a shared (PostgreSQL) database: a node keeps what its index
//! was built from, reads what other nodes changed since — on NOTIFY, and by
//! polling the generation every [`POLL`] where notifications are lost —
//! and rebuilds from memory. When the database cannot be reached the node
//! keeps serving its last index and says so ([`DbHealth`]).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::Network;
use crate::error::Result;
use crate::index::Builder;
use crate::model::{FileInfo, LocationId, MirrorId, now_millis};
use crate::store::Snapshot;

/// How often a node asks the database for its generation when no
/// notification came.
pub const POLL: Duration = Duration::from_millis(250);

/// The longest a node waits before trying an unreachable database again.
const RETRY_MAX: Duration = Duration::from_secs(2);

/// A PostgreSQL node's state beside its index.
#[derive(Default)]
pub(super) struct Shared {
    /// What the served index was built from.
    served: Mutex<Option<Served>>,
    reachable: AtomicBool,
    /// The newest generation seen in the database.
    database_generation: AtomicU64,
    /// The generation the served index reflects.
    index_generation: AtomicU64,
    /// When the database last answered, and when the index last caught
    /// up with it (Unix milliseconds; 0: never).
    answered_at: AtomicU64,
    refreshed_at: AtomicU64,
    /// Why the database could not be reached or read, last time.
    error: Mutex<Option<String>>,
}

/// The inputs of the served index.
struct Served {
    generation: u64,
    snapshot: Arc<Snapshot>,
    files: Arc<Vec<FileInfo>>,
    /// The mirrors serving each location's file.
    serving: HashMap<LocationId, Vec<MirrorId>>,
}

impl Shared {
    /// Records how a refresh went.
    pub(super) fn note_refresh(&self, result: &Result<()>) {
        match result {
            Ok(()) => {
                let now = now_millis();
                self.reachable.store(true, Ordering::Release);
                self.answered_at.store(now, Ordering::Release);
                self.refreshed_at.store(now, Ordering::Release);
                *self.lock_error() = None;
            }
            Err(e) => self.note_down(e.to_string()),
        }
    }

    fn note_down(&self, why: String) {
        self.reachable.store(false, Ordering::Release);
        *self.lock_error() = Some(why);
    }

    fn note_generation(&self, generation: u64) {
        self.reachable.store(true, Ordering::Release);
        self.answered_at.store(now_millis(), Ordering::Release);
        self.database_generation
            .fetch_max(generation, Ordering::AcqRel);
        if self.index_generation.load(Ordering::Acquire) >= generation {
            // Nothing to read: the index is as new as the database.
            self.refreshed_at.store(now_millis(), Ordering::Release);
            *self.lock_error() = None;
        }
    }

    fn lock_error(&self) -> std::sync::MutexGuard<'_, Option<String>> {
        self.error.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// How a node's database is doing, as `/__heartbeat__` and `/metrics`
/// report it: read from memory, never from the database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DbHealth {
    /// `"redb"` or `"postgresql"`.
    pub backend: &'static str,
    /// Whether the database answered last time it was asked.
    pub reachable: bool,
    /// Why it did not, if it did not.
    pub error: Option<String>,
    /// The newest generation seen in the database (PostgreSQL).
    pub database_generation: u64,
    /// The generation the served index reflects (PostgreSQL).
    pub index_generation: u64,
    /// How long ago the index was last known to be current (PostgreSQL;
    /// `None`: never).
    pub refresh_age: Option<Duration>,
}

impl Network {
    /// How the database is doing, from memory.
    pub fn db_health(&self) -> DbHealth {
        let Some(shared) = &self.shared else {
            return DbHealth {
                backend: "redb",
                reachable: true,
                error: None,
                database_generation: 0,
                index_generation: 0,
                refresh_age: None,
            };
        };
        let refreshed = shared.refreshed_at.load(Ordering::Acquire);
        DbHealth {
            backend: "postgresql",
            reachable: shared.reachable.load(Ordering::Acquire),
            error: shared.lock_error().clone(),
            database_generation: shared.database_generation.load(Ordering::Acquire),
            index_generation: shared.index_generation.load(Ordering::Acquire),
            refresh_age: (refreshed > 0)
                .then(|| Duration::from_millis(now_millis().saturating_sub(refreshed))),
        }
    }

    /// Reads what changed in the shared database since the served index
    /// and publishes an index rebuilt from memory. Called with the publish
    /// lock held.
    pub(super) fn refresh(&self, shared: &Shared) -> Result<()> {
        let started = Instant::now();
        let mut served = shared.served.lock().unwrap_or_else(|e| e.into_inner());
        let since = served.as_ref().map(|s| s.generation);
        let mut serving = served
            .as_mut()
            .map(|s| std::mem::take(&mut s.serving))
            .unwrap_or_default();
        let mut cleared = false;
        let read = self
            .store
            .changes_since(since, |whole, location, mirror, serves| {
                if whole && !cleared {
                    serving.clear();
                    cleared = true;
                }
                let mirrors = serving.entry(location).or_default();
                match (serves, mirrors.iter().position(|m| *m == mirror)) {
                    (true, None) => mirrors.push(mirror),
                    (false, Some(at)) => {
                        mirrors.swap_remove(at);
                    }
                    _ => {}
                }
            });
        let changes = match read {
            Ok(changes) => changes,
            Err(e) => {
                // Keep what the served index was built from, as it was.
                if let Some(s) = served.as_mut() {
                    s.serving = serving;
                }
                return Err(e);
            }
        };
        let config_changed = changes.config.is_some();
        let (mut snapshot, files) = match (changes.config, served.take()) {
            (Some((snapshot, files)), _) => (snapshot, Arc::new(files)),
            (None, Some(old)) => (Snapshot::clone(&old.snapshot), old.files),
            (None, None) => unreachable!("a first read has the configuration"),
        };
        snapshot.health = changes.health;
        if config_changed && since.is_some() {
            // Another node may have imported GeoIP data.
            if self.lock_geo().file.is_none() {
                let geo = self.store.geoip()?.unwrap_or_default();
                self.lock_geo().db = Arc::new(geo);
            }
            // Or an ASN table.
            self.lock_geo().asn = Arc::new(self.store.asn()?.unwrap_or_default());
        }
        let tell_others = config_changed && since.is_some();
        let mut builder = Builder::new(&snapshot, &files);
        for (location, mirrors) in &serving {
            for mirror in mirrors {
                builder.serving(*location, *mirror);
            }
        }
        let snapshot = Arc::new(snapshot);
        self.publish(snapshot.clone(), builder, started);
        if tell_others {
            // After the publish: whoever wakes reads the new configuration.
            self.changed();
        }
        shared
            .index_generation
            .fetch_max(changes.generation, Ordering::AcqRel);
        shared
            .database_generation
            .fetch_max(changes.generation, Ordering::AcqRel);
        *served = Some(Served {
            generation: changes.generation,
            snapshot,
            files,
            serving,
        });
        Ok(())
    }

    /// Follows the shared database on a thread of its own until the
    /// returned [`Watcher`] is dropped: `None` for a redb network.
    pub fn watch(self: &Arc<Self>) -> Option<Watcher> {
        self.shared.as_ref()?;
        let stop = Arc::new(AtomicBool::new(false));
        let network = self.clone();
        let stopping = stop.clone();
        let thread = std::thread::Builder::new()
            .name("db-watch".into())
            .spawn(move || network.follow(&stopping))
            .ok()?;
        Some(Watcher {
            stop,
            thread: Some(thread),
        })
    }

    /// The watcher's loop: LISTEN on one connection, wake on a
    /// notification or after [`POLL`], compare generations, refresh.
    fn follow(&self, stop: &AtomicBool) {
        let (Some(db), Some(shared)) = (self.store.postgres(), &self.shared) else {
            return;
        };
        let mut client: Option<postgres::Client> = None;
        let mut retry = POLL;
        while !stop.load(Ordering::Acquire) {
            if client.is_none() {
                let listening = db.connect().and_then(|mut c| {
                    if db.notifies() {
                        let listen = format!("LISTEN {}", crate::store::postgres::CHANNEL);
                        c.batch_execute(&listen).map_err(|e| db.error(e))?;
                    }
                    Ok(c)
                });
                match listening {
                    Ok(c) => {
                        client = Some(c);
                        retry = POLL;
                    }
                    Err(e) => {
                        shared.note_down(e.to_string());
                        // Waiting between attempts, not synchronising.
                        std::thread::sleep(retry);
                        retry = (retry * 2).min(RETRY_MAX);
                        continue;
                    }
                }
            }
            let Some(c) = client.as_mut() else { continue };
            let checked = wait_and_read_generation(c);
            match checked {
                Ok(generation) => {
                    shared.note_generation(generation);
                    if generation > shared.index_generation.load(Ordering::Acquire)
                        && let Err(e) = self.republish()
                    {
                        tracing::warn!(error = %e, "cannot refresh the index; serving the last one");
                    }
                }
                Err(e) => {
                    let e = db.error(e);
                    tracing::warn!(error = %e, "lost the database; serving the last index");
                    shared.note_down(e.to_string());
                    client = None;
                }
            }
        }
    }
}

/// Waits up to [`POLL`] for a notification (taking every one queued),
/// then reads the committed generation.
fn wait_and_read_generation(c: &mut postgres::Client) -> Result<u64, postgres::Error> {
    use postgres::fallible_iterator::FallibleIterator;
    {
        let mut notifications = c.notifications();
        if notifications.timeout_iter(POLL).next()?.is_some() {
            while notifications.iter().next()?.is_some() {}
        }
    }
    let row = c.query_one("SELECT value FROM meta WHERE name = 'generation'", &[])?;
    Ok(crate::store::postgres::from_sql_int(row.get(0)))
}

/// Stops the watcher thread when dropped.
pub struct Watcher {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for Watcher {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(thread) = self.thread.take() {
            // It wakes within POLL (or a connect timeout).
            let _ = thread.join();
        }
    }
}
