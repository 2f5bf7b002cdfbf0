//! `/metrics` in the Prometheus text exposition format (0.0.4): redirects
//! by outcome and their latency, page requests by site, the index's size,
//! the download counter's flush lag and backlog, sentry's view of each
//! mirror and its last runs, mails, GeoIP data. Each scrape reads these into constant
//! metrics of a fresh `prometheus-client` registry, which encodes them.
//!
//! The redirect path only adds to [`TRAFFIC`]: relaxed atomic additions to
//! its own thread's cache-line-aligned shard (no lock, no allocation, no
//! line shared with another thread while there are at most [`SHARDS`]
//! threads). Everything else is read when `/metrics` is asked for.

use std::borrow::Cow;
use std::cell::Cell;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use hyper::StatusCode;
use hyper::header::{CACHE_CONTROL, HeaderMap, HeaderValue};
use prometheus_client::encoding::{
    EncodeGaugeValue, EncodeMetric, MetricEncoder, NoLabelSet, prometheus_text,
};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::info::Info;
use prometheus_client::metrics::{MetricType, TypedMetric};
use prometheus_client::registry::{Metric, Registry};

use crate::bounce::Bouncer;
use crate::http::Reply;

/// What a request to a redirect endpoint (`/`, `/files/…`) came to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// 302 to a mirror (or the home or fallback URL).
    Redirect = 0,
    /// 200: `print=yes`, or a Metalink document.
    Print = 1,
    /// 404: unknown product, OS, language or file.
    NotFound = 2,
    /// 503: no mirror can serve.
    Unavailable = 3,
    /// Anything else (405, 400, …).
    Other = 4,
}

impl Outcome {
    /// Every outcome, in label order.
    pub const ALL: [Outcome; 5] = [
        Outcome::Redirect,
        Outcome::Print,
        Outcome::NotFound,
        Outcome::Unavailable,
        Outcome::Other,
    ];

    /// The outcome a reply's status means.
    pub fn of(status: StatusCode) -> Outcome {
        match status.as_u16() {
            302 => Outcome::Redirect,
            200 => Outcome::Print,
            404 => Outcome::NotFound,
            503 => Outcome::Unavailable,
            _ => Outcome::Other,
        }
    }

    /// Its `outcome` label.
    pub fn label(self) -> &'static str {
        match self {
            Outcome::Redirect => "redirect",
            Outcome::Print => "print",
            Outcome::NotFound => "not_found",
            Outcome::Unavailable => "unavailable",
            Outcome::Other => "other",
        }
    }
}

/// Which site a request other than a redirect went to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Site {
    /// The public pages.
    Public = 0,
    /// The admin pages.
    Admin = 1,
    /// The release-automation API.
    Api = 2,
    /// `/metrics` itself.
    Metrics = 3,
}

impl Site {
    /// Every site, in label order.
    pub const ALL: [Site; 4] = [Site::Public, Site::Admin, Site::Api, Site::Metrics];

    /// Its `site` label.
    pub fn label(self) -> &'static str {
        match self {
            Site::Public => "public",
            Site::Admin => "admin",
            Site::Api => "api",
            Site::Metrics => "metrics",
        }
    }
}

/// Whether `path` is a redirect endpoint (`/` or `/files/…`).
pub fn is_redirect_path(path: &str) -> bool {
    path == "/" || path.starts_with("/files/")
}

/// Upper bounds of the redirect latency buckets, in seconds (the time
/// spent answering, from the request's arrival at the router).
pub const BOUNDS: [f64; 16] = [
    0.000_01, 0.000_025, 0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025,
    0.05, 0.1, 0.25, 0.5, 1.0,
];
/// [`BOUNDS`] in nanoseconds.
const BOUNDS_NANOS: [u64; 16] = [
    10_000,
    25_000,
    50_000,
    100_000,
    250_000,
    500_000,
    1_000_000,
    2_500_000,
    5_000_000,
    10_000_000,
    25_000_000,
    50_000_000,
    100_000_000,
    250_000_000,
    500_000_000,
    1_000_000_000,
];
/// Buckets: one per bound, then `+Inf`.
const BUCKETS: usize = BOUNDS.len() + 1;

/// Shards of [`Traffic`]; threads beyond this many share them.
pub const SHARDS: usize = 16;

/// One thread's tallies, on cache lines of its own.
#[repr(align(128))]
struct Shard {
    outcomes: [AtomicU64; Outcome::ALL.len()],
    sites: [AtomicU64; Site::ALL.len()],
    /// Not cumulative: each latency lands in one bucket.
    buckets: [AtomicU64; BUCKETS],
    sum_nanos: AtomicU64,
}

impl Shard {
    const fn new() -> Shard {
        Shard {
            outcomes: [const { AtomicU64::new(0) }; Outcome::ALL.len()],
            sites: [const { AtomicU64::new(0) }; Site::ALL.len()],
            buckets: [const { AtomicU64::new(0) }; BUCKETS],
            sum_nanos: AtomicU64::new(0),
        }
    }
}

/// Request tallies: written by the request path, read by `/metrics`.
pub struct Traffic {
    shards: [Shard; SHARDS],
}

/// The server's tallies.
pub static TRAFFIC: Traffic = Traffic::new();

static NEXT_SLOT: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    /// This thread's shard (`usize::MAX` until its first request).
    static SLOT: Cell<usize> = const { Cell::new(usize::MAX) };
}

/// A sum of every shard at one moment.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Tally {
    /// Redirect-endpoint requests by [`Outcome`].
    pub outcomes: [u64; Outcome::ALL.len()],
    /// Other requests by [`Site`].
    pub sites: [u64; Site::ALL.len()],
    /// Latencies per bucket (not cumulative; the last is `+Inf`).
    pub buckets: [u64; BUCKETS],
    /// Sum of the latencies, in nanoseconds.
    pub sum_nanos: u64,
}

impl Default for Traffic {
    fn default() -> Self {
        Traffic::new()
    }
}

impl Traffic {
    /// All zero.
    pub const fn new() -> Traffic {
        Traffic {
            shards: [const { Shard::new() }; SHARDS],
        }
    }

    fn shard(&self) -> &Shard {
        let slot = SLOT
            .try_with(|slot| {
                let mut s = slot.get();
                if s == usize::MAX {
                    s = NEXT_SLOT.fetch_add(1, Ordering::Relaxed) % SHARDS;
                    slot.set(s);
                }
                s
            })
            .unwrap_or(0);
        &self.shards[slot]
    }

    /// Counts a redirect-endpoint request answered with `status` in `took`.
    pub fn redirect(&self, status: StatusCode, took: Duration) {
        let shard = self.shard();
        shard.outcomes[Outcome::of(status) as usize].fetch_add(1, Ordering::Relaxed);
        let nanos = u64::try_from(took.as_nanos()).unwrap_or(u64::MAX);
        let bucket = BOUNDS_NANOS
            .iter()
            .position(|&b| nanos <= b)
            .unwrap_or(BOUNDS_NANOS.len());
        shard.buckets[bucket].fetch_add(1, Ordering::Relaxed);
        shard.sum_nanos.fetch_add(nanos, Ordering::Relaxed);
    }

    /// Counts a request to `site`.
    pub fn page(&self, site: Site) {
        self.shard().sites[site as usize].fetch_add(1, Ordering::Relaxed);
    }

    /// The sums over every shard.
    pub fn tally(&self) -> Tally {
        let mut t = Tally::default();
        let add = |into: &mut [u64], from: &[AtomicU64]| {
            for (i, a) in into.iter_mut().zip(from) {
                *i += a.load(Ordering::Relaxed);
            }
        };
        for s in &self.shards {
            add(&mut t.outcomes, &s.outcomes);
            add(&mut t.sites, &s.sites);
            add(&mut t.buckets, &s.buckets);
            t.sum_nanos += s.sum_nanos.load(Ordering::Relaxed);
        }
        t
    }
}

/// Unix seconds when this server started (0: not yet marked).
static STARTED: AtomicU64 = AtomicU64::new(0);

/// Notes the server's start time, for `bouncer_start_time_seconds`.
pub fn mark_start() {
    STARTED.store(crate::model::now(), Ordering::Relaxed);
}

/// One scrape's metrics, registered under the names scrapers see.
#[derive(Default)]
struct Page(Registry);

impl Page {
    /// Registers `metric` as `name` (the exposed name: a counter's ends in
    /// `_total`), with `help`, one or more sentences.
    fn add(&mut self, name: &str, help: &str, metric: impl Metric) {
        // The encoder appends a counter's `_total` and an info's `_info`,
        // and the registry the help's final period.
        let suffix = match metric.metric_type() {
            MetricType::Counter => "_total",
            MetricType::Info => "_info",
            _ => "",
        };
        let name = name.strip_suffix(suffix).unwrap_or(name);
        let help = help.strip_suffix('.').unwrap_or(help);
        self.0.register(name, help, metric);
    }

    /// An unlabelled gauge.
    fn gauge<N>(&mut self, name: &str, help: &str, value: N)
    where
        N: EncodeGaugeValue + std::fmt::Debug + Send + Sync + 'static,
    {
        self.add(name, help, ConstGauge::new(value));
    }

    /// An unlabelled counter.
    fn counter(&mut self, name: &str, help: &str, value: u64) {
        self.add(name, help, ConstCounter::new(value));
    }

    /// The text exposition of everything added.
    fn encode(&self) -> String {
        let mut text = String::new();
        // Writing to a String cannot fail, so neither can encoding these
        // constant metrics; were it to, the page would be cut short.
        if let Err(err) = prometheus_text::encode(&mut text, &self.0) {
            tracing::warn!(error = %err, "metrics: cannot encode");
        }
        text
    }
}

/// A family of samples told apart by one label, in the order given.
///
/// Not a `Family`: that keeps its members in a hash map, so their order
/// would change from one scrape to the next, and it holds live metrics
/// where these are values read at scrape time.
#[derive(Debug)]
struct Labelled<M> {
    /// The label's name.
    key: &'static str,
    /// Each sample's label value and metric.
    samples: Vec<(Cow<'static, str>, M)>,
}

impl<M: EncodeMetric + TypedMetric> EncodeMetric for Labelled<M> {
    fn encode(&self, mut encoder: MetricEncoder) -> std::fmt::Result {
        for (value, metric) in &self.samples {
            let value: &str = value;
            metric.encode(encoder.encode_family(&[(self.key, value)])?)?;
        }
        Ok(())
    }

    fn metric_type(&self) -> MetricType {
        M::TYPE
    }
}

/// The redirect latencies of a [`Tally`] as a histogram over [`BOUNDS`].
#[derive(Debug)]
struct Latencies {
    /// Per bucket, not cumulative; the last is `+Inf`.
    buckets: [u64; BUCKETS],
    sum_nanos: u64,
}

impl EncodeMetric for Latencies {
    fn encode(&self, mut encoder: MetricEncoder) -> std::fmt::Result {
        // The encoder makes the counts cumulative.
        let buckets: [(f64, u64); BUCKETS] = std::array::from_fn(|i| {
            (
                BOUNDS.get(i).copied().unwrap_or(f64::INFINITY),
                self.buckets[i],
            )
        });
        encoder.encode_histogram::<NoLabelSet>(
            self.sum_nanos as f64 / 1e9,
            self.buckets.iter().sum(),
            &buckets,
            None,
        )
    }

    fn metric_type(&self) -> MetricType {
        MetricType::Histogram
    }
}

/// Whether `/metrics` may be answered to this request on a listener that
/// also serves the public: only to a client on this machine (its address
/// after trusted proxies is loopback, so a proxy forwarding the public is
/// refused), unless `serve --public-metrics`.
pub fn allowed(
    config: &crate::config::Config,
    peer: std::net::IpAddr,
    headers: &HeaderMap,
) -> bool {
    config.admin_listen.is_some()
        || config.public_metrics
        || config.trusted_proxies.client(peer, headers).is_loopback()
}

/// The metrics page (`Cache-Control: no-store`).
pub fn reply(text: String) -> Reply {
    let mut reply = crate::http::with_type(StatusCode::OK, prometheus_text::CONTENT_TYPE, text);
    (reply.headers_mut()).insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    reply
}

/// Sentry runs looked at for the last run of each kind.
const RUNS: usize = 64;

/// Every metric of this server. Reads the database (sentry's runs): call
/// it off the async threads. `dropped` is the access log's dropped lines
/// (`None`: no access log).
pub fn render(app: &Bouncer, traffic: &Traffic, dropped: Option<u64>) -> String {
    let mut p = Page::default();
    let now = crate::model::now();

    p.add(
        "bouncer_build_info",
        "Always 1; the version is a label.",
        Info::new([("version", env!("CARGO_PKG_VERSION"))]),
    );
    let started = STARTED.load(Ordering::Relaxed);
    if started > 0 {
        p.gauge(
            "bouncer_start_time_seconds",
            "Unix time when this server started.",
            started,
        );
    }

    let t = traffic.tally();
    p.add(
        "bouncer_requests_total",
        "Requests to the redirect endpoints (/ and /files/...) by outcome: redirect (302), print (200: print=yes or Metalink), not_found (404), unavailable (503), other.",
        Labelled {
            key: "outcome",
            samples: Outcome::ALL
                .iter()
                .map(|&o| (o.label().into(), ConstCounter::new(t.outcomes[o as usize])))
                .collect(),
        },
    );
    p.add(
        "bouncer_redirect_duration_seconds",
        "Time to answer a redirect-endpoint request, from routing to the reply (network time not included).",
        Latencies {
            buckets: t.buckets,
            sum_nanos: t.sum_nanos,
        },
    );
    p.add(
        "bouncer_page_requests_total",
        "Requests to the public pages, the admin pages, the API and /metrics.",
        Labelled {
            key: "site",
            samples: Site::ALL
                .iter()
                .map(|&s| (s.label().into(), ConstCounter::new(t.sites[s as usize])))
                .collect(),
        },
    );
    if let Some(dropped) = dropped {
        p.counter(
            "bouncer_access_log_dropped_total",
            "Access log lines dropped because the writer was behind.",
            dropped,
        );
    }

    if let Some(tls) = &app.tls {
        let status = tls.status();
        if let Some(cert) = &status.certificate {
            p.gauge(
                "bouncer_tls_certificate_expiry_seconds",
                "Unix time when the HTTPS listeners' certificate expires.",
                cert.not_after,
            );
            p.gauge(
                "bouncer_tls_certificate_days_left",
                "Days until the HTTPS listeners' certificate expires (negative once expired).",
                cert.days_left(now as i64),
            );
        }
        p.gauge(
            "bouncer_tls_certificate_failures",
            "Failed attempts to obtain, renew or reload the certificate since the last success.",
            i64::from(status.failures),
        );
    }

    let network = &app.network;
    let index = network.index();
    let s = index.stats();
    for (name, help, v) in [
        ("products", "Active products in the index.", s.products),
        ("locations", "Locations of active products.", s.locations),
        ("mirrors", "Mirrors in the index (all).", s.mirrors),
        (
            "eligible_mirrors",
            "Mirrors that may receive traffic (active, rated, healthy).",
            s.eligible_mirrors,
        ),
        (
            "candidate_sets",
            "Distinct candidate tables (shared between locations).",
            s.candidate_sets,
        ),
        (
            "serving_pairs",
            "(location, eligible mirror) pairs that can serve.",
            s.serving_pairs,
        ),
        ("files", "Known files.", s.files),
    ] {
        p.gauge(&format!("bouncer_index_{name}"), help, v);
    }
    p.gauge(
        "bouncer_index_generation",
        "How many times the index was built and published since the start.",
        network.generation(),
    );
    p.gauge(
        "bouncer_index_build_seconds",
        "How long the last index build took.",
        network.last_build().as_secs_f64(),
    );
    let db = network.db_health();
    p.gauge(
        "bouncer_database_up",
        "Whether the database answered last time this node asked (from memory: redirects never wait on it).",
        u64::from(db.reachable),
    );
    if db.backend != "redb" {
        p.gauge(
            "bouncer_database_generation",
            "The newest change this node saw committed in the shared database.",
            db.database_generation,
        );
        p.gauge(
            "bouncer_database_index_generation",
            "The change of the shared database the served index reflects.",
            db.index_generation,
        );
        p.gauge(
            "bouncer_database_refresh_age_seconds",
            "Seconds since the index was last known to be as new as the database.",
            db.refresh_age.map_or(f64::NAN, |a| a.as_secs_f64()),
        );
        p.gauge(
            "bouncer_sentry_leader",
            "Whether this node holds sentry's lease.",
            u64::from(network.sentry_leader().is_some()),
        );
    }
    let (v4, v6) = index.geo().len();
    p.add(
        "bouncer_geoip_ranges",
        "GeoIP address ranges loaded, by family.",
        Labelled {
            key: "family",
            samples: vec![
                ("ipv4".into(), ConstGauge::new(v4)),
                ("ipv6".into(), ConstGauge::new(v6)),
            ],
        },
    );
    p.gauge("bouncer_regions", "Regions defined.", index.regions().len());

    let c = app.counters.stats();
    let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
    p.gauge(
        "bouncer_counts_enabled",
        "1 when downloads are counted (0: serve --no-count).",
        u64::from(app.config.counting),
    );
    for (name, help, value) in [
        (
            "bouncer_counts_hits_total",
            "Downloads handed to the counter.",
            &c.counted,
        ),
        (
            "bouncer_counts_written_total",
            "Downloads written to the database.",
            &c.written,
        ),
        (
            "bouncer_counts_flushes_total",
            "Count batches written (one transaction per day's batch).",
            &c.flushes,
        ),
        (
            "bouncer_counts_flush_failures_total",
            "Count flushes that failed (their counts are kept and retried).",
            &c.failed_flushes,
        ),
        (
            "bouncer_counts_dropped_total",
            "Downloads dropped unwritten: the oldest beyond the in-memory bound while the database was down.",
            &c.dropped,
        ),
    ] {
        p.counter(name, help, load(value));
    }
    for (name, help, value) in [
        (
            "bouncer_counts_backlog_downloads",
            "Downloads waiting in memory for the database (as of the last flush).",
            &c.backlog_downloads,
        ),
        (
            "bouncer_counts_backlog_keys",
            "Rows to upsert waiting in memory for the database (as of the last flush).",
            &c.backlog_keys,
        ),
    ] {
        p.gauge(name, help, load(value));
    }
    if app.config.counting {
        let last = c.last_flush.load(Ordering::Relaxed);
        p.gauge(
            "bouncer_counts_flush_lag_seconds",
            "Seconds since the database last held every count handed over.",
            now.saturating_sub(last),
        );
    }

    mirrors(&mut p, &index);
    match network.store().sentry_runs(RUNS) {
        Ok(runs) => sentry_runs(&mut p, &runs),
        Err(err) => {
            tracing::warn!(error = %err, "metrics: cannot read sentry's runs");
        }
    }

    p.counter(
        "bouncer_mails_sent_total",
        "E-mails this process sent.",
        crate::mail::SENT.load(Ordering::Relaxed),
    );
    p.counter(
        "bouncer_mails_failed_total",
        "E-mails this process failed to send.",
        crate::mail::FAILED.load(Ordering::Relaxed),
    );
    p.encode()
}

/// Per mirror: what sentry last saw (mirrors never checked have no
/// `up`, latency or check time).
fn mirrors(p: &mut Page, index: &crate::index::Index) {
    let all: Vec<&crate::index::MirrorEntry> = (0..index.stats().mirrors)
        .map(|i| index.mirror(i as u32))
        .collect();
    p.add(
        "bouncer_mirror_up",
        "1 when the mirror passed its last check, 0 when it failed.",
        per_mirror(&all, |m| m.health.as_ref().map(|h| u64::from(h.healthy))),
    );
    p.add(
        "bouncer_mirror_eligible",
        "1 when the mirror may receive traffic (active, rated, healthy).",
        per_mirror(&all, |m| Some(u64::from(m.eligible))),
    );
    p.add(
        "bouncer_mirror_check_latency_seconds",
        "Time the mirror took to answer its last base-URL check.",
        per_mirror(&all, |m| {
            // 0: the mirror did not answer, so it has no latency.
            m.health
                .as_ref()
                .filter(|h| h.latency_ms > 0)
                .map(|h| f64::from(h.latency_ms) / 1000.0)
        }),
    );
    p.add(
        "bouncer_mirror_last_check_timestamp_seconds",
        "Unix time of the mirror's last check.",
        per_mirror(&all, |m| m.health.as_ref().map(|h| h.checked_at)),
    );
    p.add(
        "bouncer_mirror_lag_seconds",
        "How far the mirror lags behind the origin (or the freshest mirror) by its trace file (absent: no trace file, or not read).",
        per_mirror(&all, |m| m.lag),
    );
    p.add(
        "bouncer_mirror_family_up",
        "1 when the mirror answered its last check over this address family, 0 when it has addresses in it and did not (absent: not checked apart, or no address).",
        ByMirrorFamily(
            all.iter()
                .filter_map(|m| Some((m.name.to_string(), m.health.as_ref()?.reaches)))
                .flat_map(|(name, reaches)| {
                    crate::model::Family::ALL.into_iter().filter_map(move |f| {
                        let up = match reaches.of(f) {
                            crate::model::Reach::Up => 1,
                            crate::model::Reach::Down => 0,
                            _ => return None,
                        };
                        Some((name.clone(), f.as_str(), ConstGauge::new(up)))
                    })
                })
                .collect(),
        ),
    );
}

/// Gauges labelled `mirror` and `family` (`ipv4`, `ipv6`).
#[derive(Debug)]
struct ByMirrorFamily(Vec<(String, &'static str, ConstGauge<u64>)>);

impl EncodeMetric for ByMirrorFamily {
    fn encode(&self, mut encoder: MetricEncoder) -> std::fmt::Result {
        for (mirror, family, gauge) in &self.0 {
            let labels = [("mirror", mirror.as_str()), ("family", *family)];
            gauge.encode(encoder.encode_family(&labels)?)?;
        }
        Ok(())
    }

    fn metric_type(&self) -> MetricType {
        MetricType::Gauge
    }
}

/// A gauge labelled `mirror`, for each mirror that has a value.
fn per_mirror<N>(
    mirrors: &[&crate::index::MirrorEntry],
    value: impl Fn(&crate::index::MirrorEntry) -> Option<N>,
) -> Labelled<ConstGauge<N>> {
    Labelled {
        key: "mirror",
        samples: mirrors
            .iter()
            .filter_map(|m| Some((m.name.to_string().into(), ConstGauge::new(value(m)?))))
            .collect(),
    }
}

/// The number of runs, and the last finished run of each kind.
fn sentry_runs(p: &mut Page, runs: &[crate::model::SentryRun]) {
    p.counter(
        "bouncer_sentry_runs_total",
        "Sentry runs recorded in the database (all processes).",
        runs.iter().map(|r| r.id).max().unwrap_or(0),
    );
    // Newest first: the first finished run of a kind is its last.
    let mut last: Vec<(&str, &crate::model::SentryRun)> = Vec::new();
    for run in runs.iter().filter(|r| r.ended_at > 0) {
        let kind = run.kind.split(':').next().unwrap_or("");
        if !last.iter().any(|(k, _)| *k == kind) {
            last.push((kind, run));
        }
    }
    last.sort_by_key(|(k, _)| *k);
    let families: [(&str, &str, RunValue); 5] = [
        (
            "bouncer_sentry_last_run_checks",
            "Checks made by the last finished run of each kind.",
            |r| r.checks,
        ),
        (
            "bouncer_sentry_last_run_failures",
            "Checks that failed in the last finished run of each kind.",
            |r| r.failures,
        ),
        (
            "bouncer_sentry_last_run_changes",
            "Status changes made by the last finished run of each kind.",
            |r| r.changes,
        ),
        (
            "bouncer_sentry_last_run_end_timestamp_seconds",
            "Unix time when the last finished run of each kind ended.",
            |r| r.ended_at,
        ),
        (
            "bouncer_sentry_last_run_duration_seconds",
            "How long the last finished run of each kind took (whole seconds).",
            |r| r.ended_at.saturating_sub(r.started_at),
        ),
    ];
    for (name, help, value) in families {
        let samples = last
            .iter()
            .map(|(kind, run)| (kind.to_string().into(), ConstGauge::new(value(run))))
            .collect();
        p.add(
            name,
            help,
            Labelled {
                key: "kind",
                samples,
            },
        );
    }
}

type RunValue = fn(&crate::model::SentryRun) -> u64;

#[cfg(test)]
mod tests {
    use super::*;
    use hyper::header::CONTENT_TYPE;
    use std::collections::BTreeMap;

    /// One sample line parsed: name, labels, value.
    #[derive(Debug, Clone, PartialEq)]
    pub(crate) struct Sample {
        pub name: String,
        pub labels: BTreeMap<String, String>,
        pub value: f64,
    }

    /// Parses an exposition strictly: every line is `# HELP`, `# TYPE` or
    /// a sample; each family's HELP comes right before its TYPE and both
    /// before its samples; label values are unescaped. Returns the
    /// samples and the type of each family.
    pub(crate) fn parse(text: &str) -> Result<(Vec<Sample>, BTreeMap<String, String>), String> {
        let mut samples = Vec::new();
        let mut types = BTreeMap::new();
        let mut help: Option<String> = None;
        let mut current: Option<(String, String)> = None;
        assert!(text.ends_with('\n'), "the text ends with a newline");
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix("# HELP ") {
                let (name, _) = rest.split_once(' ').ok_or(format!("bad HELP {line:?}"))?;
                if help.is_some() {
                    return Err(format!("HELP without TYPE before {line:?}"));
                }
                help = Some(name.to_string());
            } else if let Some(rest) = line.strip_prefix("# TYPE ") {
                let (name, kind) = rest.split_once(' ').ok_or(format!("bad TYPE {line:?}"))?;
                if help.take().as_deref() != Some(name) {
                    return Err(format!("TYPE without its HELP: {line:?}"));
                }
                if !["counter", "gauge", "histogram", "summary", "untyped"].contains(&kind) {
                    return Err(format!("unknown type in {line:?}"));
                }
                if types.insert(name.to_string(), kind.to_string()).is_some() {
                    return Err(format!("family {name} twice"));
                }
                current = Some((name.to_string(), kind.to_string()));
            } else if line.starts_with('#') || line.is_empty() {
                return Err(format!("unexpected line {line:?}"));
            } else {
                let sample = parse_sample(line)?;
                let (family, kind) = current
                    .as_ref()
                    .ok_or(format!("sample before TYPE: {line:?}"))?;
                let ok = match kind.as_str() {
                    "histogram" => [
                        format!("{family}_bucket"),
                        format!("{family}_sum"),
                        format!("{family}_count"),
                    ]
                    .contains(&sample.name),
                    "counter" => sample.name == *family && family.ends_with("_total"),
                    _ => sample.name == *family,
                };
                if !ok {
                    return Err(format!("{} in family {family} ({kind})", sample.name));
                }
                samples.push(sample);
            }
        }
        Ok((samples, types))
    }

    fn parse_sample(line: &str) -> Result<Sample, String> {
        let bad = || format!("bad sample {line:?}");
        let name_end = line.find(['{', ' ']).ok_or_else(bad)?;
        let name = &line[..name_end];
        if name.is_empty()
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
        {
            return Err(bad());
        }
        let mut labels = BTreeMap::new();
        let mut chars = line[name_end..].chars().peekable();
        if chars.peek() == Some(&'{') {
            chars.next();
            loop {
                let mut key = String::new();
                loop {
                    match chars.next().ok_or_else(bad)? {
                        '=' => break,
                        c if c.is_ascii_alphanumeric() || c == '_' => key.push(c),
                        _ => return Err(bad()),
                    }
                }
                if key.is_empty() || chars.next() != Some('"') {
                    return Err(bad());
                }
                let mut value = String::new();
                loop {
                    match chars.next().ok_or_else(bad)? {
                        '"' => break,
                        '\\' => match chars.next().ok_or_else(bad)? {
                            'n' => value.push('\n'),
                            c @ ('\\' | '"') => value.push(c),
                            _ => return Err(bad()),
                        },
                        c => value.push(c),
                    }
                }
                if labels.insert(key, value).is_some() {
                    return Err(bad());
                }
                match chars.next().ok_or_else(bad)? {
                    ',' => {}
                    '}' => break,
                    _ => return Err(bad()),
                }
            }
        }
        if chars.next() != Some(' ') {
            return Err(bad());
        }
        let value: String = chars.collect();
        let value = match value.as_str() {
            "+Inf" => f64::INFINITY,
            "-Inf" => f64::NEG_INFINITY,
            "NaN" => f64::NAN,
            v => v.parse().map_err(|_| bad())?,
        };
        Ok(Sample {
            name: name.to_string(),
            labels,
            value,
        })
    }

    #[test]
    fn names_help_and_label_escaping() {
        let mut p = Page::default();
        p.add(
            "x_total",
            "Line one\\two\nthree.",
            Labelled {
                key: "a",
                samples: vec![
                    ("q\"uo\\te\nd".into(), ConstCounter::new(3u64)),
                    ("".into(), ConstCounter::new(0)),
                ],
            },
        );
        p.gauge("y", "Y.", f64::INFINITY);
        p.gauge("z", "Z", 2u64);
        let text = p.encode();
        assert_eq!(
            text,
            "# HELP x_total Line one\\\\two\\nthree.\n# TYPE x_total counter\n\
             x_total{a=\"q\\\"uo\\\\te\\nd\"} 3\nx_total{a=\"\"} 0\n\
             # HELP y Y.\n# TYPE y gauge\ny +Inf\n\
             # HELP z Z.\n# TYPE z gauge\nz 2\n"
        );
        let (samples, types) = parse(&text).unwrap();
        assert_eq!(samples[0].labels["a"], "q\"uo\\te\nd");
        assert_eq!(samples[1].labels["a"], "");
        assert_eq!(types["y"], "gauge");
    }

    #[test]
    fn histograms_are_cumulative_and_end_in_inf() {
        let mut buckets = [0; BUCKETS];
        buckets[0] = 2;
        buckets[BUCKETS - 1] = 3;
        let mut p = Page::default();
        p.add(
            "h_seconds",
            "H.",
            Latencies {
                buckets,
                sum_nanos: 4_500_000_000,
            },
        );
        let text = p.encode();
        assert!(
            text.starts_with(
                "# HELP h_seconds H.\n# TYPE h_seconds histogram\n\
                 h_seconds_bucket{le=\"1e-05\"} 2\nh_seconds_bucket{le=\"2.5e-05\"} 2\n"
            ),
            "{text}"
        );
        assert!(
            text.ends_with(
                "h_seconds_bucket{le=\"0.5\"} 2\nh_seconds_bucket{le=\"1\"} 2\n\
                 h_seconds_bucket{le=\"+Inf\"} 5\nh_seconds_sum 4.5\nh_seconds_count 5\n"
            ),
            "{text}"
        );
        let (samples, _) = parse(&text).unwrap();
        assert_eq!(samples.len(), BUCKETS + 2);
    }

    #[test]
    fn outcomes_follow_the_status() {
        for (status, outcome) in [
            (302, Outcome::Redirect),
            (200, Outcome::Print),
            (404, Outcome::NotFound),
            (503, Outcome::Unavailable),
            (405, Outcome::Other),
            (301, Outcome::Other),
        ] {
            assert_eq!(Outcome::of(StatusCode::from_u16(status).unwrap()), outcome);
        }
        assert!(is_redirect_path("/"));
        assert!(is_redirect_path("/files/a/b.exe"));
        assert!(!is_redirect_path("/files"));
        assert!(!is_redirect_path("/metrics"));
    }

    #[test]
    fn traffic_tallies_across_threads() {
        let traffic = Traffic::new();
        std::thread::scope(|s| {
            for t in 0..20u64 {
                let traffic = &traffic;
                s.spawn(move || {
                    for i in 0..1000u64 {
                        let status = if i % 10 == 0 { 404 } else { 302 };
                        let took = Duration::from_micros(t + i % 3);
                        traffic.redirect(StatusCode::from_u16(status).unwrap(), took);
                    }
                    traffic.page(Site::Admin);
                });
            }
        });
        let t = traffic.tally();
        assert_eq!(t.outcomes, [18_000, 0, 2_000, 0, 0]);
        assert_eq!(t.sites, [0, 20, 0, 0]);
        assert_eq!(t.buckets.iter().sum::<u64>(), 20_000);
        // 0..=21 µs: all within the first two buckets (10 µs, 25 µs).
        assert_eq!(t.buckets[0] + t.buckets[1], 20_000);
        let expected: u64 = (0..20u64)
            .map(|t| (0..1000u64).map(|i| (t + i % 3) * 1000).sum::<u64>())
            .sum();
        assert_eq!(t.sum_nanos, expected);
    }

    #[test]
    fn latencies_land_in_their_bucket() {
        let traffic = Traffic::new();
        let ok = StatusCode::FOUND;
        for micros in [10, 11, 999_999, 1_000_000, 1_000_001, 5_000_000] {
            traffic.redirect(ok, Duration::from_micros(micros));
        }
        let b = traffic.tally().buckets;
        assert_eq!(b[0], 1, "10 µs is within the 10 µs bucket");
        assert_eq!(b[1], 1);
        assert_eq!(b[15], 2, "up to 1 s");
        assert_eq!(b[16], 2, "+Inf");
        assert_eq!(BOUNDS.len(), BOUNDS_NANOS.len());
        for (s, n) in BOUNDS.iter().zip(BOUNDS_NANOS) {
            assert_eq!((s * 1e9).round() as u64, n);
        }
    }

    #[test]
    fn shards_have_cache_lines_of_their_own() {
        assert_eq!(std::mem::align_of::<Shard>(), 128);
        assert_eq!(std::mem::size_of::<Shard>() % 128, 0);
    }

    /// The unit-test network: product `p` and mirror `m"1\` (a name to
    /// escape), with `health` recorded for the mirror and `runs` stored.
    fn test_app(
        health: Option<crate::model::MirrorHealth>,
        runs: &[crate::model::SentryRun],
        counting: bool,
    ) -> (tempfile::TempDir, Bouncer) {
        let dir = tempfile::tempdir().unwrap();
        let network = std::sync::Arc::new(
            crate::network::Network::open(dir.path().join("m.redb"), true).unwrap(),
        );
        network
            .write(&crate::model::Actor::Program("test"), |tx| {
                tx.product_add(crate::store::NewProduct {
                    name: "p".into(),
                    ..Default::default()
                })?;
                let m = tx.mirror_add(crate::store::NewMirror {
                    name: r#"m"1\"#.into(),
                    base_url: "http://m.example/pub".into(),
                    rating: 1,
                    trace: Some("/lastsync".into()),
                    ..Default::default()
                })?;
                if let Some(h) = &health {
                    tx.set_health(m.id, h)?;
                }
                for run in runs {
                    tx.sentry_run_put(&mut run.clone())?;
                }
                Ok(())
            })
            .unwrap();
        let app = Bouncer::new(
            network,
            crate::config::Config {
                counting,
                ..Default::default()
            },
            std::sync::Arc::new(crate::counters::Counters::off()),
        );
        (dir, app)
    }

    /// Every family this server exposes, its type, and its samples'
    /// label names (a histogram's are those of its buckets).
    const EXPECTED: &[(&str, &str, &[&str])] = &[
        ("bouncer_build_info", "gauge", &["version"]),
        ("bouncer_start_time_seconds", "gauge", &[]),
        ("bouncer_requests_total", "counter", &["outcome"]),
        ("bouncer_redirect_duration_seconds", "histogram", &["le"]),
        ("bouncer_page_requests_total", "counter", &["site"]),
        ("bouncer_access_log_dropped_total", "counter", &[]),
        ("bouncer_index_products", "gauge", &[]),
        ("bouncer_index_locations", "gauge", &[]),
        ("bouncer_index_mirrors", "gauge", &[]),
        ("bouncer_index_eligible_mirrors", "gauge", &[]),
        ("bouncer_index_candidate_sets", "gauge", &[]),
        ("bouncer_index_serving_pairs", "gauge", &[]),
        ("bouncer_index_files", "gauge", &[]),
        ("bouncer_index_generation", "gauge", &[]),
        ("bouncer_index_build_seconds", "gauge", &[]),
        ("bouncer_database_up", "gauge", &[]),
        ("bouncer_geoip_ranges", "gauge", &["family"]),
        ("bouncer_regions", "gauge", &[]),
        ("bouncer_counts_enabled", "gauge", &[]),
        ("bouncer_counts_hits_total", "counter", &[]),
        ("bouncer_counts_written_total", "counter", &[]),
        ("bouncer_counts_flushes_total", "counter", &[]),
        ("bouncer_counts_flush_failures_total", "counter", &[]),
        ("bouncer_counts_dropped_total", "counter", &[]),
        ("bouncer_counts_backlog_downloads", "gauge", &[]),
        ("bouncer_counts_backlog_keys", "gauge", &[]),
        ("bouncer_counts_flush_lag_seconds", "gauge", &[]),
        ("bouncer_mirror_up", "gauge", &["mirror"]),
        ("bouncer_mirror_eligible", "gauge", &["mirror"]),
        ("bouncer_mirror_family_up", "gauge", &["family", "mirror"]),
        ("bouncer_mirror_check_latency_seconds", "gauge", &["mirror"]),
        ("bouncer_mirror_lag_seconds", "gauge", &["mirror"]),
        (
            "bouncer_mirror_last_check_timestamp_seconds",
            "gauge",
            &["mirror"],
        ),
        ("bouncer_sentry_runs_total", "counter", &[]),
        ("bouncer_sentry_last_run_checks", "gauge", &["kind"]),
        ("bouncer_sentry_last_run_failures", "gauge", &["kind"]),
        ("bouncer_sentry_last_run_changes", "gauge", &["kind"]),
        (
            "bouncer_sentry_last_run_end_timestamp_seconds",
            "gauge",
            &["kind"],
        ),
        (
            "bouncer_sentry_last_run_duration_seconds",
            "gauge",
            &["kind"],
        ),
        ("bouncer_mails_sent_total", "counter", &[]),
        ("bouncer_mails_failed_total", "counter", &[]),
    ];

    #[test]
    fn every_metric_is_there_with_its_labels() {
        let health = crate::model::MirrorHealth {
            healthy: true,
            checked_at: 1_700_000_000,
            since: 1_700_000_000,
            error: String::new(),
            flaps: 0,
            latency_ms: 12,
            throughput: 0,
            problem: None,
            reaches: crate::model::Reaches {
                v4: crate::model::Reach::Up,
                v6: crate::model::Reach::Down,
            },
            alt: crate::model::Reach::Unknown,
            synced_at: 1_699_999_000,
        };
        let run = |kind: &str, started_at, ended_at| crate::model::SentryRun {
            kind: kind.into(),
            started_at,
            ended_at,
            checks: 4,
            failures: 1,
            changes: 2,
            ..Default::default()
        };
        let runs = [
            run("new", 100, 103),
            run("mirror:m", 200, 201),
            run("all", 300, 0),
        ];
        let (_dir, app) = test_app(Some(health), &runs, true);
        mark_start();
        let text = render(&app, &Traffic::new(), Some(0));
        let (samples, types) = parse(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
        let expected: BTreeMap<&str, (&str, &[&str])> = EXPECTED
            .iter()
            .map(|&(name, kind, labels)| (name, (kind, labels)))
            .collect();
        assert_eq!(
            types.keys().map(String::as_str).collect::<Vec<_>>(),
            expected.keys().copied().collect::<Vec<_>>(),
            "{text}"
        );
        for (name, (kind, labels)) in &expected {
            assert_eq!(types[*name], *kind, "{name}");
            let family: Vec<&Sample> = samples
                .iter()
                .filter(|s| s.name == *name || (*kind == "histogram" && s.name.starts_with(name)))
                .collect();
            assert!(!family.is_empty(), "no sample of {name}\n{text}");
            for s in family {
                let keys: Vec<&str> = s.labels.keys().map(String::as_str).collect();
                let want = if s.name == format!("{name}_bucket") || *kind != "histogram" {
                    *labels
                } else {
                    &[]
                };
                assert_eq!(keys, want, "{s:?}");
            }
        }
        // Each HELP is a sentence, its period not doubled by the registry.
        for line in text.lines().filter(|l| l.starts_with("# HELP ")) {
            assert!(line.ends_with('.') && !line.ends_with(".."), "{line}");
        }
        let labels = |name: &str, key: &str| -> Vec<String> {
            samples
                .iter()
                .filter(|s| s.name == name)
                .map(|s| s.labels[key].clone())
                .collect()
        };
        assert_eq!(
            labels("bouncer_requests_total", "outcome"),
            ["redirect", "print", "not_found", "unavailable", "other"]
        );
        assert_eq!(
            labels("bouncer_page_requests_total", "site"),
            ["public", "admin", "api", "metrics"]
        );
        assert_eq!(labels("bouncer_geoip_ranges", "family"), ["ipv4", "ipv6"]);
        assert_eq!(labels("bouncer_mirror_up", "mirror"), [r#"m"1\"#]);
        // Each family the mirror was checked over: IPv4 up, IPv6 down.
        let families: Vec<(String, f64)> = samples
            .iter()
            .filter(|s| s.name == "bouncer_mirror_family_up")
            .map(|s| (s.labels["family"].clone(), s.value))
            .collect();
        assert_eq!(families, [("ipv4".into(), 1.0), ("ipv6".into(), 0.0)]);
        // The last finished run of each kind, the kind cut at its colon.
        assert_eq!(
            labels("bouncer_sentry_last_run_checks", "kind"),
            ["mirror", "new"]
        );
        let value = |name: &str| samples.iter().find(|s| s.name == name).unwrap().value;
        assert_eq!(value("bouncer_mirror_check_latency_seconds"), 0.012);
        assert_eq!(value("bouncer_sentry_runs_total"), 3.0);
        assert_eq!(value("bouncer_sentry_last_run_duration_seconds"), 1.0);
    }

    #[test]
    fn a_whole_page_parses() {
        let (_dir, app) = test_app(None, &[], false);
        let traffic = Traffic::new();
        traffic.redirect(StatusCode::FOUND, Duration::from_micros(3));
        traffic.redirect(StatusCode::SERVICE_UNAVAILABLE, Duration::from_millis(2));
        let text = render(&app, &traffic, Some(7));
        let (samples, types) = parse(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
        let value = |name: &str, label: Option<(&str, &str)>| {
            samples
                .iter()
                .find(|s| {
                    s.name == name
                        && label.is_none_or(|(k, v)| s.labels.get(k).map(String::as_str) == Some(v))
                })
                .map(|s| s.value)
        };
        assert_eq!(types["bouncer_redirect_duration_seconds"], "histogram");
        assert_eq!(
            value("bouncer_requests_total", Some(("outcome", "redirect"))),
            Some(1.0)
        );
        assert_eq!(
            value("bouncer_requests_total", Some(("outcome", "unavailable"))),
            Some(1.0)
        );
        assert_eq!(
            value("bouncer_redirect_duration_seconds_count", None),
            Some(2.0)
        );
        assert_eq!(
            value(
                "bouncer_redirect_duration_seconds_bucket",
                Some(("le", "+Inf"))
            ),
            Some(2.0)
        );
        assert_eq!(value("bouncer_access_log_dropped_total", None), Some(7.0));
        assert_eq!(value("bouncer_index_products", None), Some(1.0));
        assert_eq!(
            value(
                "bouncer_build_info",
                Some(("version", env!("CARGO_PKG_VERSION")))
            ),
            Some(1.0)
        );
        assert_eq!(value("bouncer_counts_enabled", None), Some(0.0));
        assert_eq!(value("bouncer_counts_dropped_total", None), Some(0.0));
        assert_eq!(value("bouncer_counts_backlog_downloads", None), Some(0.0));
        assert!(value("bouncer_counts_flush_lag_seconds", None).is_none());
        // Never checked: eligible is known, up is not.
        assert!(value("bouncer_mirror_up", None).is_none(), "{text}");
        assert!(
            text.contains(r#"bouncer_mirror_eligible{mirror="m\"1\\"} "#),
            "{text}"
        );
        assert!(value("bouncer_mirror_eligible", Some(("mirror", r#"m"1\"#))).is_some());
        // Buckets are cumulative.
        let buckets: Vec<f64> = samples
            .iter()
            .filter(|s| s.name == "bouncer_redirect_duration_seconds_bucket")
            .map(|s| s.value)
            .collect();
        assert_eq!(buckets.len(), BOUNDS.len() + 1);
        assert!(buckets.windows(2).all(|w| w[0] <= w[1]), "{buckets:?}");
    }

    #[test]
    fn metrics_reply_headers() {
        let r = reply("x 1\n".into());
        assert_eq!(
            r.headers()[CONTENT_TYPE],
            "text/plain; version=0.0.4; charset=utf-8"
        );
        assert_eq!(r.headers()[CACHE_CONTROL], "no-store");
    }
}
