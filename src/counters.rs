//! Download counts. The redirect path appends a small fixed-size [`Hit`] to
//! a batch owned by its own thread (no disk, no lock, nothing shared); full
//! batches, and every batch when its thread goes idle or stops (the
//! runtime's park and stop hooks call [`flush_thread`]), go down a
//! lock-free channel to one thread that aggregates and writes to the store
//! about every second, and once more on shutdown.
//!
//! Each day's batch, once sent, is a [`Flush`] numbered per node and
//! retried unchanged until it lands, so the store can apply it once even
//! when a failure hid a commit; new hits wait in a fresh tally meanwhile.
//! While the store fails, what waits is bounded ([`BACKLOG_KEYS`]): the
//! oldest is dropped and counted in [`CounterStats::dropped`].

use std::collections::{BTreeMap, HashMap, VecDeque};
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
#[derive(Clone, Copy, PartialEq, Eq)]
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

/// A map with the cheap hash below.
type FxMap<K> = HashMap<K, u64, std::hash::BuildHasherDefault<Fx>>;

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

/// One day's downloads in the four tallies a batch holds. What waits while
/// the database is down grows with the keys of these (products, locations
/// by language, mirrors, countries), not with their combinations; and
/// each hit is added to four small maps that stay in the cache, where one
/// map keyed by the whole hit would grow with the combinations and miss
/// the cache at every hit.
#[derive(Default)]
struct Tally {
    products: FxMap<ProductId>,
    locations: FxMap<(LocationId, Lang)>,
    mirrors: FxMap<MirrorId>,
    countries: FxMap<[u8; 2]>,
}

impl Tally {
    fn add(&mut self, hits: &[Hit]) {
        for hit in hits {
            *self.products.entry(hit.product).or_default() += 1;
            *self.locations.entry((hit.location, hit.lang)).or_default() += 1;
            *self.mirrors.entry(hit.mirror).or_default() += 1;
            *self.countries.entry(hit.country).or_default() += 1;
        }
    }

    fn keys(&self) -> usize {
        self.products.len() + self.locations.len() + self.mirrors.len() + self.countries.len()
    }

    /// Every download is in each tally once: the products' sum.
    fn downloads(&self) -> u64 {
        self.products.values().sum()
    }

    /// The batch for the store.
    fn into_batch(self, day: u32) -> CountBatch {
        CountBatch {
            day,
            products: self.products.into_iter().collect(),
            locations: self
                .locations
                .into_iter()
                .map(|((l, lang), v)| (l, lang.as_str().to_string(), v))
                .collect(),
            mirrors: self.mirrors.into_iter().collect(),
            countries: self
                .countries
                .into_iter()
                .map(|(c, v)| (String::from_utf8_lossy(&c).into_owned(), v))
                .collect(),
        }
    }
}

/// The rows `batch` upserts: what the backlog's bound counts.
fn batch_keys(batch: &CountBatch) -> usize {
    batch.products.len() + batch.locations.len() + batch.mirrors.len() + batch.countries.len()
}

/// The downloads in `batch` (each is in every tally once).
fn batch_downloads(batch: &CountBatch) -> u64 {
    batch.products.iter().map(|p| p.1).sum()
}

/// One day's counts on their way to the database, named so that a retry
/// is known for one: the store applies a (node, seq) at most once.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Flush {
    /// Who counted: this process ([`node_id`], new at every start).
    pub node: Arc<str>,
    /// The node's flush number: 1, 2, … in the order they are sent. A
    /// flush is sent only once every earlier one has landed (or was
    /// dropped), so the store can take a number not above the last one
    /// applied for a retry.
    pub seq: u64,
    /// The counts.
    pub batch: CountBatch,
}

/// A name for this process as a counting node, new at every start, so its
/// flush numbers need no storing: a restarted node starts again at 1
/// under a new name. Host and process id say whose it is; the random part
/// keeps apart two nodes whose hosts and process ids look alike
/// (containers).
pub fn node_id() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "node".into());
    format!("{host}:{}:{:016x}", std::process::id(), fastrand::u64(..))
}

/// The most keys (rows of batches: see [`Tally`]) kept in memory while
/// the database cannot take them; beyond, the oldest day's are dropped.
/// A key costs about 80 bytes, so this holds the backlog to some 40 MB:
/// days of an outage for most networks, and hours for one whose half a
/// million location × language pairs are all downloaded every day.
pub const BACKLOG_KEYS: usize = 500_000;

/// What the counting thread holds that the database does not (yet).
struct Backlog {
    /// This node's name in every flush.
    node: Arc<str>,
    /// The last flush number given out.
    seq: u64,
    /// Most keys kept ([`Backlog::keys`]) before the oldest are dropped.
    max_keys: usize,
    /// Tallied and never sent, per day: new hits merge in.
    waiting: BTreeMap<u32, Tally>,
    /// Sent and not known to have landed, oldest first: retried unchanged
    /// (the store may have applied one whose reply was lost) and in order
    /// (a later number applied would make an earlier one look applied).
    sent: VecDeque<Flush>,
}

impl Backlog {
    fn new(node: Arc<str>, max_keys: usize) -> Backlog {
        Backlog {
            node,
            seq: 0,
            max_keys,
            waiting: BTreeMap::new(),
            sent: VecDeque::new(),
        }
    }

    fn add(&mut self, day: u32, hits: &[Hit]) {
        self.waiting.entry(day).or_default().add(hits);
    }

    /// Keys held in batches and tallies.
    fn keys(&self) -> usize {
        let sent: usize = self.sent.iter().map(|f| batch_keys(&f.batch)).sum();
        sent + self.waiting.values().map(Tally::keys).sum::<usize>()
    }

    /// Downloads held in batches and tallies.
    fn downloads(&self) -> u64 {
        let sent: u64 = self.sent.iter().map(|f| batch_downloads(&f.batch)).sum();
        sent + self.waiting.values().map(Tally::downloads).sum::<u64>()
    }

    /// Sends what it can, drops the oldest beyond the bound, and
    /// publishes the figures.
    fn flush(&mut self, sink: &dyn CountSink, stats: &CounterStats) {
        if self.send(sink, stats) {
            stats.last_flush.store(now(), Ordering::Relaxed);
        }
        self.bound(stats);
        stats
            .backlog_downloads
            .store(self.downloads(), Ordering::Relaxed);
        stats
            .backlog_keys
            .store(self.keys() as u64, Ordering::Relaxed);
    }

    /// Sends the batches sent before, unchanged, then what waits (each
    /// day a batch with the next number, frozen from here on), in order,
    /// each one transaction; stops at the first failure. True when
    /// everything landed.
    fn send(&mut self, sink: &dyn CountSink, stats: &CounterStats) -> bool {
        loop {
            if self.sent.is_empty() {
                if self.waiting.is_empty() {
                    return true;
                }
                for (day, tally) in std::mem::take(&mut self.waiting) {
                    self.seq += 1;
                    self.sent.push_back(Flush {
                        node: self.node.clone(),
                        seq: self.seq,
                        batch: tally.into_batch(day),
                    });
                }
            }
            while let Some(flush) = self.sent.front() {
                if let Err(e) = sink.add_counts(flush) {
                    tracing::error!(
                        day = %flush.batch.day,
                        seq = %flush.seq,
                        error = %e,
                        "cannot write download counts; they are kept and retried"
                    );
                    stats.failed_flushes.fetch_add(1, Ordering::Relaxed);
                    return false;
                }
                stats
                    .written
                    .fetch_add(batch_downloads(&flush.batch), Ordering::Relaxed);
                stats.flushes.fetch_add(1, Ordering::Relaxed);
                self.sent.pop_front();
            }
        }
    }

    /// Drops the oldest (sent batches first, then waiting days) while more
    /// than `max_keys` are held, counting what is dropped.
    fn bound(&mut self, stats: &CounterStats) {
        let mut keys = self.keys();
        let mut dropped = 0;
        while keys > self.max_keys {
            let (k, d) = if let Some(f) = self.sent.pop_front() {
                (batch_keys(&f.batch), batch_downloads(&f.batch))
            } else if let Some((_, t)) = self.waiting.pop_first() {
                (t.keys(), t.downloads())
            } else {
                break;
            };
            keys -= k;
            dropped += d;
        }
        if dropped > 0 {
            stats.dropped.fetch_add(dropped, Ordering::Relaxed);
            tracing::error!(
                dropped,
                kept = self.downloads(),
                "the database has not taken download counts for long: the oldest are dropped"
            );
        }
    }

    /// At stop, after the last flush: what is still held is lost.
    fn abandon(&mut self, stats: &CounterStats) {
        let lost = self.downloads();
        if lost > 0 {
            stats.dropped.fetch_add(lost, Ordering::Relaxed);
            tracing::error!(
                lost,
                "stopping with download counts the database did not take"
            );
        }
        self.sent.clear();
        self.waiting.clear();
        stats.backlog_downloads.store(0, Ordering::Relaxed);
        stats.backlog_keys.store(0, Ordering::Relaxed);
    }
}

/// Figures for `/metrics` and the heartbeat.
#[derive(Default)]
pub struct CounterStats {
    /// Hits handed to the counter.
    pub counted: AtomicU64,
    /// Unix seconds when the database last held every count handed over
    /// (a successful flush, or one that found nothing to write; the start
    /// before the first): `now − last_flush` is the flush lag.
    pub last_flush: AtomicU64,
    /// Flush attempts that failed (their counts are kept and retried).
    pub failed_flushes: AtomicU64,
    /// Days' batches written (one transaction each).
    pub flushes: AtomicU64,
    /// Hits written to the database.
    pub written: AtomicU64,
    /// Hits dropped unwritten: the oldest beyond [`BACKLOG_KEYS`] while the
    /// database was down, and what was left at stop. At most: a batch
    /// whose failed write landed after all is counted here too.
    pub dropped: AtomicU64,
    /// Hits waiting in memory for the database, as of the last flush.
    pub backlog_downloads: AtomicU64,
    /// Keys (rows to upsert) waiting in memory, as of the last flush.
    pub backlog_keys: AtomicU64,
}

/// How far the database is behind this node's counting.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CounterLag {
    /// Downloads counted and neither written nor dropped yet (some in
    /// flight: a few seconds' worth is normal).
    pub unflushed: u64,
    /// Seconds since the database last held every count handed over
    /// (since the Unix epoch when counting is off: nothing flushes).
    pub seconds: u64,
}

impl CounterStats {
    /// The counter lag at Unix time `now` (for `/__heartbeat__`).
    pub fn lag(&self, now: u64) -> CounterLag {
        // Written and dropped first: hits are counted before they are
        // either, so the difference is never below the truth.
        let done = self.written.load(Ordering::Relaxed) + self.dropped.load(Ordering::Relaxed);
        let counted = self.counted.load(Ordering::Relaxed);
        CounterLag {
            unflushed: counted.saturating_sub(done),
            seconds: now.saturating_sub(self.last_flush.load(Ordering::Relaxed)),
        }
    }
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
    /// Starts the aggregating thread, flushing into `store` every `interval`
    /// as a new node ([`node_id`]), keeping up to [`BACKLOG_KEYS`] while
    /// the store fails.
    pub fn start(store: Arc<dyn CountSink>, interval: Duration) -> Counters {
        Counters::start_with(store, interval, BACKLOG_KEYS)
    }

    /// [`Counters::start`], keeping up to `max_keys` keys while the store
    /// fails.
    pub fn start_with(store: Arc<dyn CountSink>, interval: Duration, max_keys: usize) -> Counters {
        let (sender, receiver) = mpsc::channel();
        let stats = Arc::new(CounterStats::default());
        stats.last_flush.store(now(), Ordering::Relaxed);
        let thread_stats = stats.clone();
        let backlog = Backlog::new(node_id().into(), max_keys);
        let thread = std::thread::Builder::new()
            .name("counters".into())
            .spawn(move || aggregate(receiver, store, interval, thread_stats, backlog))
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
    /// Adds one day's batch durably, at most once per (node, seq): a
    /// flush applied before is success and adds nothing.
    fn add_counts(&self, flush: &Flush) -> crate::error::Result<()>;
}

impl CountSink for Store {
    fn add_counts(&self, flush: &Flush) -> crate::error::Result<()> {
        self.add_counts_once(&flush.node, flush.seq, &flush.batch)
            .map(|_| ())
    }
}

impl CountSink for crate::network::Network {
    fn add_counts(&self, flush: &Flush) -> crate::error::Result<()> {
        CountSink::add_counts(self.store(), flush)
    }
}

fn aggregate(
    receiver: mpsc::Receiver<Message>,
    sink: Arc<dyn CountSink>,
    interval: Duration,
    stats: Arc<CounterStats>,
    mut backlog: Backlog,
) {
    let mut next_flush = Instant::now() + interval;
    loop {
        // Poll rather than block on the channel: a receiver blocked in
        // `recv` is woken by every download, which costs the request path a
        // context switch each time. Polling drains thousands at once.
        std::thread::sleep(POLL.min(next_flush.saturating_duration_since(Instant::now())));
        let day = day_of(now());
        loop {
            match receiver.try_recv() {
                Ok(Message::Hits(hits)) => backlog.add(day, &hits),
                Ok(Message::Flush(ack)) => {
                    backlog.flush(&*sink, &stats);
                    let _ = ack.send(());
                }
                Ok(Message::Stop) | Err(mpsc::TryRecvError::Disconnected) => {
                    // Take what is still queued before the final flush.
                    while let Ok(message) = receiver.try_recv() {
                        if let Message::Hits(hits) = message {
                            backlog.add(day, &hits);
                        }
                    }
                    backlog.flush(&*sink, &stats);
                    backlog.abandon(&stats);
                    return;
                }
                Err(mpsc::TryRecvError::Empty) => break,
            }
        }
        if Instant::now() >= next_flush {
            backlog.flush(&*sink, &stats);
            next_flush = Instant::now() + interval;
        }
    }
}

/// How often the counting thread collects downloads.
const POLL: Duration = Duration::from_millis(10);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Error;

    /// A store in memory with the real one's rule (a node's flush applied
    /// at most once), told to fail its next calls before applying, or
    /// after (the commit happened, the reply was lost).
    #[derive(Default)]
    struct Fake(Mutex<FakeState>);

    #[derive(Default)]
    struct FakeState {
        /// Calls to come that fail before applying.
        fail: u32,
        /// Calls to come that apply, then fail.
        lost_replies: u32,
        /// Every flush received, in order.
        seen: Vec<Flush>,
        /// The last seq applied per node.
        applied: HashMap<Arc<str>, u64>,
        /// Downloads applied.
        downloads: u64,
    }

    impl CountSink for Fake {
        fn add_counts(&self, flush: &Flush) -> crate::error::Result<()> {
            let mut s = self.0.lock().unwrap();
            s.seen.push(flush.clone());
            if s.fail > 0 {
                s.fail -= 1;
                return Err(Error::storage("database down"));
            }
            if s.applied.get(&flush.node).is_none_or(|&l| l < flush.seq) {
                s.applied.insert(flush.node.clone(), flush.seq);
                s.downloads += batch_downloads(&flush.batch);
            }
            if s.lost_replies > 0 {
                s.lost_replies -= 1;
                return Err(Error::storage("connection lost"));
            }
            Ok(())
        }
    }

    impl Fake {
        fn state(&self) -> std::sync::MutexGuard<'_, FakeState> {
            self.0.lock().unwrap()
        }
        fn seqs(&self) -> Vec<u64> {
            self.state().seen.iter().map(|f| f.seq).collect()
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

    fn start(sink: &Arc<Fake>) -> Counters {
        Counters::start(sink.clone(), Duration::from_secs(3600))
    }

    fn load(a: &AtomicU64) -> u64 {
        a.load(Ordering::Relaxed)
    }

    #[test]
    fn hits_are_aggregated_into_one_batch() {
        let sink = Arc::new(Fake::default());
        let counters = start(&sink);
        for i in 0..1000 {
            counters.count(hit(i % 2, if i % 4 == 0 { "de" } else { "en-US" }));
        }
        counters.flush();
        let batches = sink.state().seen.clone();
        assert_eq!(batches.len(), 1);
        let b = &batches[0].batch;
        assert_eq!(b.products, vec![(ProductId(1), 1000)]);
        let mut mirrors = b.mirrors.clone();
        mirrors.sort();
        assert_eq!(mirrors, vec![(MirrorId(0), 500), (MirrorId(1), 500)]);
        let de = b.locations.iter().find(|l| l.1 == "de").unwrap();
        assert_eq!(de.2, 250);
        assert_eq!(b.countries, vec![("--".to_string(), 1000)]);
        // Nothing new: nothing written.
        counters.flush();
        assert_eq!(sink.state().seen.len(), 1);
    }

    #[test]
    fn stop_flushes_what_is_queued() {
        let sink = Arc::new(Fake::default());
        let counters = start(&sink);
        for _ in 0..10 {
            counters.count(hit(1, "de"));
        }
        counters.stop();
        assert_eq!(
            sink.state().seen[0].batch.products,
            vec![(ProductId(1), 10)]
        );
    }

    #[test]
    fn failed_flushes_are_retried_unchanged() {
        let sink = Arc::new(Fake::default());
        sink.state().fail = 3;
        let counters = start(&sink);
        // Hits between the failures wait apart from the batch sent.
        for n in 1..=3 {
            for _ in 0..n {
                counters.count(hit(1, "de"));
            }
            counters.flush();
        }
        let stats = counters.stats();
        assert_eq!(load(&stats.failed_flushes), 3);
        assert_eq!(load(&stats.backlog_downloads), 6);
        // The batch sent (4 keys) and the tally waiting (the same 4).
        assert_eq!(load(&stats.backlog_keys), 8);
        assert_eq!(stats.lag(now()).unflushed, 6);
        assert_eq!(sink.state().downloads, 0);

        counters.flush();
        assert_eq!(sink.seqs(), [1, 1, 1, 1, 2]);
        let seen = sink.state().seen.clone();
        assert!(seen[..4].iter().all(|f| *f == seen[0]), "{seen:?}");
        assert_eq!(batch_downloads(&seen[0].batch), 1);
        assert_eq!(batch_downloads(&seen[4].batch), 5);
        assert_eq!(seen[4].node, seen[0].node);
        assert_eq!(sink.state().downloads, 6);
        assert_eq!(load(&stats.flushes), 2);
        assert_eq!(load(&stats.written), 6);
        assert_eq!(load(&stats.dropped), 0);
        assert_eq!(load(&stats.backlog_downloads), 0);
        assert_eq!(load(&stats.backlog_keys), 0);
        assert_eq!(stats.lag(now()).unflushed, 0);
        assert!(stats.lag(now()).seconds <= 1);
    }

    #[test]
    fn a_failure_that_committed_counts_once() {
        let sink = Arc::new(Fake::default());
        sink.state().lost_replies = 1;
        let counters = start(&sink);
        counters.count(hit(1, "de"));
        counters.flush();
        assert_eq!(sink.state().downloads, 1);
        assert_eq!(counters.stats().lag(now()).unflushed, 1);
        // Before flush numbers, this hit joined the retried batch, and the
        // first one counted twice.
        counters.count(hit(1, "de"));
        counters.flush();
        assert_eq!(sink.seqs(), [1, 1, 2]);
        assert_eq!(sink.state().downloads, 2);
        let stats = counters.stats();
        assert_eq!(load(&stats.failed_flushes), 1);
        assert_eq!(load(&stats.written), 2);
        assert_eq!(stats.lag(now()).unflushed, 0);
    }

    #[test]
    fn the_backlog_is_bounded() {
        let sink = Arc::new(Fake::default());
        sink.state().fail = u32::MAX;
        let counters = Counters::start_with(sink.clone(), Duration::from_secs(3600), 10);
        let stats = counters.stats();
        counters.count(hit(1, "de"));
        counters.flush();
        assert_eq!(load(&stats.backlog_keys), 4);
        // Six more mirrors: 4 + 9 keys held, over 10: the batch sent first
        // (the oldest) goes.
        for m in 2..=7 {
            counters.count(hit(m, "de"));
        }
        counters.flush();
        assert_eq!(load(&stats.dropped), 1);
        assert_eq!(load(&stats.backlog_keys), 9);
        assert_eq!(load(&stats.backlog_downloads), 6);
        assert_eq!(stats.lag(now()).unflushed, 6);

        sink.state().fail = 0;
        counters.flush();
        assert_eq!(sink.state().downloads, 6);
        assert_eq!(load(&stats.written), 6);
        assert_eq!(stats.lag(now()).unflushed, 0);

        // One day alone over the bound is dropped whole.
        sink.state().fail = u32::MAX;
        for m in 10..21 {
            counters.count(hit(m, ""));
        }
        counters.flush();
        assert_eq!(load(&stats.dropped), 12);
        assert_eq!(load(&stats.backlog_keys), 0);
        assert_eq!(stats.lag(now()).unflushed, 0);
        assert_eq!(sink.state().downloads, 6);
        assert_eq!(load(&stats.counted), 18);
    }

    #[test]
    fn stopping_with_the_store_down_counts_what_is_lost() {
        let sink = Arc::new(Fake::default());
        sink.state().fail = u32::MAX;
        let counters = start(&sink);
        for _ in 0..5 {
            counters.count(hit(1, "de"));
        }
        counters.stop();
        assert_eq!(load(&counters.stats().dropped), 5);
        assert_eq!(counters.stats().lag(now()).unflushed, 0);
    }

    #[test]
    fn counts_wait_while_postgres_is_down() {
        let Some(server) = crate::testing::postgres::TestPostgres::start_or_skip() else {
            return;
        };
        let place = crate::store::Place::Postgres(server.database());
        let store = Arc::new(Store::open_at(&place).unwrap());
        let counters = Counters::start(store.clone(), Duration::from_secs(3600));
        let stats = counters.stats();
        counters.count(hit(1, "de"));
        counters.flush();
        assert_eq!(load(&stats.written), 1);

        server.stop();
        for _ in 0..3 {
            counters.count(hit(2, "de"));
            counters.flush();
        }
        assert_eq!(load(&stats.failed_flushes), 3);
        assert_eq!(load(&stats.backlog_downloads), 3);

        server.resume();
        // The pool reconnects on the next use; poll rather than guess when.
        let deadline = Instant::now() + Duration::from_secs(20);
        while load(&stats.backlog_downloads) > 0 && Instant::now() < deadline {
            counters.flush();
            std::thread::sleep(Duration::from_millis(50));
        }
        assert_eq!(load(&stats.backlog_downloads), 0);
        let c = store.counts(0, u32::MAX).unwrap();
        assert_eq!(c.total, 4);
        assert_eq!(c.by_mirror[&MirrorId(2)], 3);
        assert_eq!(load(&stats.written), 4);
        assert_eq!(stats.lag(now()).unflushed, 0);
    }

    #[test]
    fn every_start_is_a_new_node() {
        let (a, b) = (node_id(), node_id());
        assert_ne!(a, b);
        assert!(a.contains(&format!(":{}:", std::process::id())), "{a}");
    }

    #[test]
    fn off_counts_nothing() {
        let counters = Counters::off();
        counters.count(hit(1, "de"));
        counters.flush();
        assert_eq!(counters.stats().counted.load(Ordering::Relaxed), 0);
    }
}
