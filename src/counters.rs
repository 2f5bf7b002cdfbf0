//! Download counts. The redirect path appends a small fixed-size [`Hit`] to
//! a batch owned by its own thread (no disk, no lock, nothing shared); full
//! batches, and every batch when its thread goes idle or stops (the
//! runtime's park and stop hooks call [`flush_thread`]), go down a
//! lock-free channel to one thread that aggregates and writes to the store
//! about every second, and once more on shutdown.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::model::{CountBatch, LocationId, MirrorId, ProductId, day_of, now};
use crate::store::Store;
use crate::validate::MAX_LANG_LEN;

/// A language stored inline, so a hit needs no allocation.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Lang {
    len: u8,
    bytes: [u8; MAX_LANG_LEN],
}

impl Lang {
    /// Copies `lang`, cut at 32 bytes (validated languages are never longer).
    pub fn new(lang: &str) -> Lang {
        let mut bytes = [0u8; MAX_LANG_LEN];
        let n = lang.len().min(MAX_LANG_LEN);
        bytes[..n].copy_from_slice(&lang.as_bytes()[..n]);
        Lang {
            len: n as u8,
            bytes,
        }
    }

    /// The language.
    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.bytes[..self.len as usize]).unwrap_or("")
    }
}

/// One download.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Hit {
    /// What was downloaded.
    pub product: ProductId,
    /// Which location.
    pub location: LocationId,
    /// In which language (empty: none).
    pub lang: Lang,
    /// From which mirror.
    pub mirror: MirrorId,
    /// From which country (ISO code, `--` when unknown).
    pub country: [u8; 2],
}

enum Message {
    Hits(Vec<Hit>),
    Flush(mpsc::SyncSender<()>),
    Stop,
}

/// Counts since the last flush, per day.
#[derive(Default)]
struct Pending {
    days: HashMap<u32, Day>,
}

/// Downloads of one day by everything a hit says: one cheap hash per hit;
/// split into the four tallies only when flushing.
type Day = HashMap<Hit, u64, std::hash::BuildHasherDefault<Fx>>;

/// A fast non-cryptographic hasher (the keys are ours, not an attacker's).
#[derive(Default)]
struct Fx(u64);

impl std::hash::Hasher for Fx {
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            self.write_u64(u64::from_le_bytes(word));
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = (self.0.rotate_left(5) ^ n).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
    fn finish(&self) -> u64 {
        self.0
    }
}

impl Pending {
    fn add(&mut self, day: u32, hit: &Hit) {
        *self.days.entry(day).or_default().entry(*hit).or_default() += 1;
    }

    /// One day's counts as a batch for the store.
    fn batch(day: u32, d: &Day) -> CountBatch {
        fn tally<K: std::hash::Hash + Eq>(d: &Day, key: impl Fn(&Hit) -> K) -> HashMap<K, u64> {
            let mut out = HashMap::new();
            for (hit, n) in d {
                *out.entry(key(hit)).or_default() += n;
            }
            out
        }
        CountBatch {
            day,
            products: tally(d, |h| h.product).into_iter().collect(),
            locations: tally(d, |h| (h.location, h.lang))
                .into_iter()
                .map(|((l, lang), v)| (l, lang.as_str().to_string(), v))
                .collect(),
            mirrors: tally(d, |h| h.mirror).into_iter().collect(),
            countries: tally(d, |h| h.country)
                .into_iter()
                .map(|(c, v)| (String::from_utf8_lossy(&c).into_owned(), v))
                .collect(),
        }
    }
}

/// Figures for `/metrics`.
#[derive(Default)]
pub struct CounterStats {
    /// Hits handed to the counter.
    pub counted: AtomicU64,
    /// Unix seconds when the database last held every count handed over
    /// (a successful flush, or one that found nothing to write; the start
    /// before the first): `now − last_flush` is the flush lag.
    pub last_flush: AtomicU64,
    /// Flushes that failed (their counts are kept and retried).
    pub failed_flushes: AtomicU64,
    /// Days' batches written (one transaction each).
    pub flushes: AtomicU64,
    /// Hits written to the database.
    pub written: AtomicU64,
}

/// Hits a thread collects before handing them over.
const BATCH: usize = 64;

/// This thread's hits not yet handed over, and where they go.
struct LocalBatch {
    /// Which [`Counters`] they belong to.
    owner: u64,
    sender: mpsc::Sender<Message>,
    stats: Arc<CounterStats>,
    hits: Vec<Hit>,
}

impl LocalBatch {
    fn hand_over(&mut self) {
        if !self.hits.is_empty() {
            let hits = std::mem::replace(&mut self.hits, Vec::with_capacity(BATCH));
            self.stats
                .counted
                .fetch_add(hits.len() as u64, Ordering::Relaxed);
            let _ = self.sender.send(Message::Hits(hits));
        }
    }
}

impl Drop for LocalBatch {
    fn drop(&mut self) {
        self.hand_over();
    }
}

thread_local! {
    static LOCAL: std::cell::RefCell<Option<LocalBatch>> = const { std::cell::RefCell::new(None) };
}

/// Hands this thread's pending hits to their counters. Runtimes call it
/// when a worker goes idle or stops, so no hit waits for more traffic.
pub fn flush_thread() {
    let _ = LOCAL.try_with(|local| {
        if let Ok(mut local) = local.try_borrow_mut()
            && let Some(batch) = local.as_mut()
        {
            batch.hand_over();
        }
    });
}

static NEXT_OWNER: AtomicU64 = AtomicU64::new(1);

/// The counting service.
pub struct Counters {
    /// Tells this service's batches from another's on the same thread.
    owner: u64,
    sender: Option<mpsc::Sender<Message>>,
    thread: Mutex<Option<JoinHandle<()>>>,
    stats: Arc<CounterStats>,
}

impl Counters {
    /// Starts the aggregating thread, flushing into `store` every `interval`.
    pub fn start(store: Arc<dyn CountSink>, interval: Duration) -> Counters {
        let (sender, receiver) = mpsc::channel();
        let stats = Arc::new(CounterStats::default());
        stats.last_flush.store(now(), Ordering::Relaxed);
        let thread_stats = stats.clone();
        let thread = std::thread::Builder::new()
            .name("counters".into())
            .spawn(move || aggregate(receiver, store, interval, thread_stats))
            .ok();
        Counters {
            owner: NEXT_OWNER.fetch_add(1, Ordering::Relaxed),
            sender: thread.as_ref().map(|_| sender),
            thread: Mutex::new(thread),
            stats,
        }
    }

    /// Counting switched off (for measuring what counting costs).
    pub fn off() -> Counters {
        Counters {
            owner: 0,
            sender: None,
            thread: Mutex::new(None),
            stats: Arc::default(),
        }
    }

    /// Counts one download. Never blocks; touches only this thread's batch
    /// (and the channel once per [`BATCH`] hits).
    pub fn count(&self, hit: Hit) {
        let Some(sender) = &self.sender else { return };
        let _ = LOCAL.try_with(|local| {
            let Ok(mut local) = local.try_borrow_mut() else {
                return;
            };
            if local.as_ref().is_some_and(|b| b.owner != self.owner) {
                // Left by another (older) counting service: hand it over.
                *local = None;
            }
            let batch = local.get_or_insert_with(|| LocalBatch {
                owner: self.owner,
                sender: sender.clone(),
                stats: self.stats.clone(),
                hits: Vec::with_capacity(BATCH),
            });
            batch.hits.push(hit);
            if batch.hits.len() >= BATCH {
                batch.hand_over();
            }
        });
    }

    /// Writes everything counted so far (by threads that went idle, and by
    /// this one) and waits for it.
    pub fn flush(&self) {
        flush_thread();
        if let Some(sender) = &self.sender {
            let (ack, done) = mpsc::sync_channel(1);
            if sender.send(Message::Flush(ack)).is_ok() {
                let _ = done.recv();
            }
        }
    }

    /// Flushes and stops the thread.
    pub fn stop(&self) {
        flush_thread();
        if let Some(sender) = &self.sender {
            let _ = sender.send(Message::Stop);
        }
        let thread = self.thread.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(thread) = thread {
            let _ = thread.join();
        }
    }

    /// Figures for metrics.
    pub fn stats(&self) -> &CounterStats {
        &self.stats
    }
}

impl Drop for Counters {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Where counts go: the store, in production.
pub trait CountSink: Send + Sync {
    /// Adds one day's batch durably.
    fn add_counts(&self, batch: &CountBatch) -> crate::error::Result<()>;
}

impl CountSink for Store {
    fn add_counts(&self, batch: &CountBatch) -> crate::error::Result<()> {
        Store::add_counts(self, batch)
    }
}

impl CountSink for crate::network::Network {
    fn add_counts(&self, batch: &CountBatch) -> crate::error::Result<()> {
        self.store().add_counts(batch)
    }
}

fn aggregate(
    receiver: mpsc::Receiver<Message>,
    sink: Arc<dyn CountSink>,
    interval: Duration,
    stats: Arc<CounterStats>,
) {
    let mut pending = Pending::default();
    let mut next_flush = Instant::now() + interval;
    let flush = |pending: &mut Pending| {
        if pending.days.is_empty() {
            stats.last_flush.store(now(), Ordering::Relaxed);
            return;
        }
        // Each day is one transaction, dropped from `pending` once written;
        // a failed day stays and is retried whole next time.
        let days: Vec<u32> = pending.days.keys().copied().collect();
        for day in days {
            let batch = Pending::batch(day, &pending.days[&day]);
            match sink.add_counts(&batch) {
                Ok(()) => {
                    if let Some(d) = pending.days.remove(&day) {
                        stats.written.fetch_add(d.values().sum(), Ordering::Relaxed);
                    }
                    stats.flushes.fetch_add(1, Ordering::Relaxed);
                }
                Err(e) => {
                    tracing::error!(
                        day = %day,
                        error = %e,
                        "cannot write download counts; they are kept and retried"
                    );
                    stats.failed_flushes.fetch_add(1, Ordering::Relaxed);
                    return;
                }
            }
        }
        stats.last_flush.store(now(), Ordering::Relaxed);
    };
    loop {
        // Poll rather than block on the channel: a receiver blocked in
        // `recv` is woken by every download, which costs the request path a
        // context switch each time. Polling drains thousands at once.
        std::thread::sleep(POLL.min(next_flush.saturating_duration_since(Instant::now())));
        let day = day_of(now());
        loop {
            match receiver.try_recv() {
                Ok(Message::Hits(hits)) => hits.iter().for_each(|hit| pending.add(day, hit)),
                Ok(Message::Flush(ack)) => {
                    flush(&mut pending);
                    let _ = ack.send(());
                }
                Ok(Message::Stop) | Err(mpsc::TryRecvError::Disconnected) => {
                    // Take what is still queued before the final flush.
                    while let Ok(message) = receiver.try_recv() {
                        if let Message::Hits(hits) = message {
                            hits.iter().for_each(|hit| pending.add(day, hit));
                        }
                    }
                    flush(&mut pending);
                    return;
                }
                Err(mpsc::TryRecvError::Empty) => break,
            }
        }
        if Instant::now() >= next_flush {
            flush(&mut pending);
            next_flush = Instant::now() + interval;
        }
    }
}

/// How often the counting thread collects downloads.
const POLL: Duration = Duration::from_millis(10);

#[cfg(test)]
mod tests {
    use super::*;

    struct Recorder(Mutex<Vec<CountBatch>>);
    impl CountSink for Recorder {
        fn add_counts(&self, batch: &CountBatch) -> crate::error::Result<()> {
            self.0.lock().unwrap().push(batch.clone());
            Ok(())
        }
    }

    fn hit(mirror: u64, lang: &str) -> Hit {
        Hit {
            product: ProductId(1),
            location: LocationId(2),
            lang: Lang::new(lang),
            mirror: MirrorId(mirror),
            country: *b"--",
        }
    }

    #[test]
    fn hits_are_aggregated_into_one_batch() {
        let sink = Arc::new(Recorder(Mutex::new(Vec::new())));
        let counters = Counters::start(sink.clone(), Duration::from_secs(3600));
        for i in 0..1000 {
            counters.count(hit(i % 2, if i % 4 == 0 { "de" } else { "en-US" }));
        }
        counters.flush();
        let batches = sink.0.lock().unwrap().clone();
        assert_eq!(batches.len(), 1);
        let b = &batches[0];
        assert_eq!(b.products, vec![(ProductId(1), 1000)]);
        let mut mirrors = b.mirrors.clone();
        mirrors.sort();
        assert_eq!(mirrors, vec![(MirrorId(0), 500), (MirrorId(1), 500)]);
        let de = b.locations.iter().find(|l| l.1 == "de").unwrap();
        assert_eq!(de.2, 250);
        // Nothing new: nothing written.
        counters.flush();
        assert_eq!(sink.0.lock().unwrap().len(), 1);
    }

    #[test]
    fn stop_flushes_what_is_queued() {
        let sink = Arc::new(Recorder(Mutex::new(Vec::new())));
        let counters = Counters::start(sink.clone(), Duration::from_secs(3600));
        for _ in 0..10 {
            counters.count(hit(1, "de"));
        }
        counters.stop();
        assert_eq!(sink.0.lock().unwrap()[0].products, vec![(ProductId(1), 10)]);
    }

    #[test]
    fn failed_flushes_keep_their_counts() {
        struct Flaky(Mutex<u32>, Mutex<u64>);
        impl CountSink for Flaky {
            fn add_counts(&self, batch: &CountBatch) -> crate::error::Result<()> {
                let mut calls = self.0.lock().unwrap();
                *calls += 1;
                if *calls == 1 {
                    return Err(crate::error::Error::storage("disk full"));
                }
                *self.1.lock().unwrap() += batch.products.iter().map(|p| p.1).sum::<u64>();
                Ok(())
            }
        }
        let sink = Arc::new(Flaky(Mutex::new(0), Mutex::new(0)));
        let counters = Counters::start(sink.clone(), Duration::from_secs(3600));
        counters.count(hit(1, "de"));
        counters.flush();
        counters.count(hit(1, "de"));
        counters.flush();
        assert_eq!(*sink.1.lock().unwrap(), 2);
        let stats = counters.stats();
        assert_eq!(stats.failed_flushes.load(Ordering::Relaxed), 1);
        assert_eq!(stats.flushes.load(Ordering::Relaxed), 1);
        assert_eq!(stats.written.load(Ordering::Relaxed), 2);
        assert!(stats.last_flush.load(Ordering::Relaxed) > 0);
    }

    #[test]
    fn off_counts_nothing() {
        let counters = Counters::off();
        counters.count(hit(1, "de"));
        counters.flush();
        assert_eq!(counters.stats().counted.load(Ordering::Relaxed), 0);
    }
}
