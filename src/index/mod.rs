//! The in-memory availability index: an immutable snapshot of which mirrors
//! can serve which file, built from the store and swapped atomically when
//! something changes. The redirect path reads it without locks.
//!
//! Built for size: locations served by the same set of mirrors share one
//! [`Candidates`] table, so a network of 200 mirrors × 50,000 locations
//! where most mirrors carry everything holds a handful of tables, and a
//! pick costs the same however many locations there are.

mod meta;
mod pick;
mod regions;

use std::collections::HashMap;
use std::sync::Arc;

pub use meta::{FileMeta, base64_into, from_hex, hex};
pub use pick::{Candidates, KeyedRandom, Random, StickyKey, ThreadRandom, template_hash};
use regions::{MirrorTraits, TableMaker};
pub use regions::{RegionEntry, Regions, Tables};

use crate::geoip::asn::AsnDb;
use crate::geoip::{Country, GeoDb};
use crate::model::{
    Family, FileInfo, LANG_PLACEHOLDER, LocationId, MirrorHealth, MirrorId, ProductId,
};
use crate::query::percent_decode;
use crate::store::Snapshot;

const NONE: u32 = u32::MAX;

/// Longest path `/files/…` considers (longer ones are 404 at once): the
/// longest a stored path may be.
pub const MAX_FILE_PATH: usize = crate::validate::MAX_PATH_LEN;

/// A mirror as the redirect path needs it.
#[derive(Debug)]
pub struct MirrorEntry {
    /// Its id (for counting).
    pub id: MirrorId,
    /// Its name.
    pub name: Box<str>,
    /// Root URL without trailing slash.
    pub base_url: Box<str>,
    /// Its root over https that may serve https-only requests: the base
    /// URL if https, else its other-scheme URL unless sentry found that
    /// down.
    pub https_url: Option<Box<str>>,
    /// Its rating (weight before any damping).
    pub rating: u32,
    /// The operator's switch.
    pub active: bool,
    /// Active, rated and healthy: it may receive traffic.
    pub eligible: bool,
    /// The one country (ISO 3166-1 alpha-2, lower case) its regions
    /// cover, when they cover exactly one: `geo` of its `Link` headers and
    /// `location` in Metalink documents.
    pub country: Option<[u8; 2]>,
    /// What sentry last saw of it (absent: never checked).
    pub health: Option<MirrorHealth>,
    /// Whether it has a trace file (then its freshness is judged).
    pub has_trace: bool,
    /// How far it lags behind the origin, in seconds, by its trace file
    /// (`None`: no trace file, or not read yet).
    pub lag: Option<u64>,
}

impl MirrorEntry {
    /// [`MirrorEntry::country`] as text.
    pub fn country(&self) -> Option<&str> {
        self.country
            .as_ref()
            .and_then(|c| std::str::from_utf8(c).ok())
    }

    /// Whether it may serve https-only requests.
    pub fn is_https(&self) -> bool {
        self.https_url.is_some()
    }

    /// The root to send a request to: over https when `https_only`
    /// (never downgraded), else the base URL.
    pub fn url(&self, https_only: bool) -> &str {
        match &self.https_url {
            Some(u) if https_only => u,
            _ => &self.base_url,
        }
    }
}

/// A bounceable (active) product.
#[derive(Debug)]
pub struct ProductEntry {
    /// Its id (for counting).
    pub id: ProductId,
    /// Its name as spelled by the operator.
    pub name: Box<str>,
    /// Redirect to https mirrors only.
    pub ssl_only: bool,
    /// Languages it is offered in (empty: all).
    pub languages: Box<[Box<str>]>,
    /// How stale its files may be on a mirror with a trace file, in
    /// seconds (`None`: any).
    pub max_lag: Option<u64>,
    /// (os, location index), sorted by os.
    oses: Box<[(Box<str>, u32)]>,
}

impl ProductEntry {
    /// The stored spelling of `lang` if offered (any valid `lang` when the
    /// product has no languages).
    pub fn offers<'a>(&'a self, lang: &'a str) -> Option<&'a str> {
        if self.languages.is_empty() {
            return Some(lang);
        }
        self.languages
            .iter()
            .find(|l| l.eq_ignore_ascii_case(lang))
            .map(|l| &**l)
    }
}

/// A location ready to serve.
#[derive(Debug)]
pub struct LocationEntry {
    /// Its id (for counting).
    pub id: LocationId,
    /// Index of its product in the index.
    product: u32,
    /// Operating system.
    pub os: Box<str>,
    /// The path template split at every `:lang`.
    parts: Box<[Box<str>]>,
    /// [`pick::template_hash`] of its decoded template: the file part of
    /// its clients' sticky keys.
    template_hash: u64,
    /// Whether its product is served over https only.
    ssl_only: bool,
    /// The pools of its eligible mirrors (the world's and each region's).
    tables: Arc<Tables>,
    /// Active mirrors that have the file but get no traffic for it (down,
    /// rated 0, or http for an ssl-only product): for the mirror list.
    others: Arc<[u32]>,
    /// Its known files (indexes into the index's file table), by language.
    files: Box<[u32]>,
}

impl LocationEntry {
    /// Appends the path with `lang` filled in to `out`.
    pub fn render_path(&self, lang: &str, out: &mut String) {
        for (i, part) in self.parts.iter().enumerate() {
            if i > 0 {
                out.push_str(lang);
            }
            out.push_str(part);
        }
    }

    /// Whether the path has a `:lang` to fill.
    pub fn has_lang(&self) -> bool {
        self.parts.len() > 1
    }

    /// Whether only https mirrors may serve it (its product is ssl-only;
    /// for a path several products share, all of them are).
    pub fn ssl_only(&self) -> bool {
        self.ssl_only
    }

    /// The sticky-pick key of `client` asking for this location's file in
    /// `lang`: the same as for any other product or alias that resolves
    /// to the same path.
    pub fn sticky_key(&self, client: std::net::IpAddr, lang: &str) -> StickyKey {
        StickyKey::new(client, self.template_hash, lang)
    }

    /// Every mirror that may serve it, wherever the client is;
    /// `https_only` for TLS requests (ssl-only products are always).
    pub fn candidates(&self, https_only: bool) -> &Candidates {
        self.tables.world(https_only || self.ssl_only)
    }

    /// Active mirrors that have the file but receive no traffic for it
    /// (whatever the request): unhealthy, rated 0, or http for an ssl-only
    /// product. Indexes for [`Index::mirror`].
    pub fn idle_mirrors(&self) -> &[u32] {
        &self.others
    }
}

/// Why a request resolves to no file: all answer 404, but metrics and
/// logs tell them apart.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Miss {
    /// No such product or alias (or inactive).
    Product,
    /// The product has no location for that OS.
    Os,
    /// The product is not offered in that language, or the language is malformed.
    Language,
    /// No known file has that path.
    Path,
}

/// What a request resolved to.
#[derive(Clone, Copy, Debug)]
pub struct Target<'a> {
    /// The product.
    pub product: &'a ProductEntry,
    /// The location.
    pub location: &'a LocationEntry,
    /// The language filling `:lang` (the product's own spelling).
    pub lang: &'a str,
    /// What is known about the file (size, digests), if anything.
    pub file: Option<&'a FileMeta>,
}

impl Target<'_> {
    /// The path on a mirror.
    pub fn path(&self) -> String {
        let mut s = String::with_capacity(128);
        self.location.render_path(self.lang, &mut s);
        s
    }
}

/// How much of the network can serve one (product, os).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Uptake {
    /// The product.
    pub product: String,
    /// The operating system.
    pub os: String,
    /// Sum of ratings of active, healthy mirrors that have the file.
    pub available: u64,
    /// Sum of ratings of active mirrors.
    pub total: u64,
}

impl Uptake {
    /// `available / total` as a percentage (0 when there are no mirrors).
    pub fn percent(&self) -> f64 {
        if self.total == 0 {
            0.0
        } else {
            self.available as f64 * 100.0 / self.total as f64
        }
    }
}

/// Counts for metrics and benchmarks.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct IndexStats {
    /// Active products.
    pub products: usize,
    /// Locations of active products.
    pub locations: usize,
    /// All mirrors.
    pub mirrors: usize,
    /// Mirrors eligible for traffic.
    pub eligible_mirrors: usize,
    /// Distinct candidate tables (shared between locations).
    pub candidate_sets: usize,
    /// (location, eligible mirror) pairs that can serve.
    pub serving_pairs: usize,
    /// Known files.
    pub files: usize,
}

/// An immutable snapshot of the network for the redirect path.
#[derive(Debug, Default)]
pub struct Index {
    mirrors: Vec<MirrorEntry>,
    products: Vec<ProductEntry>,
    /// Lower-case product names and aliases → product index.
    names: HashMap<Box<str>, u32>,
    locations: Vec<LocationEntry>,
    /// Decoded path templates → location index.
    templates: HashMap<Box<str>, u32>,
    /// Decoded known file paths → (location index, file index).
    files: HashMap<Box<str>, (u32, u32)>,
    /// Known files of active products' locations.
    metas: Vec<FileMeta>,
    /// Whether redirects carry `Link: …; rel=duplicate` headers.
    link_headers: bool,
    /// What mirrors' lag is measured against: when the origin last
    /// changed, else when the freshest mirror synced (Unix seconds).
    freshness_reference: u64,
    /// Whether picks are sticky (setting [`STICKY`] is not `false`).
    sticky: bool,
    /// Locations before this one are products' own; those from here on
    /// stand for paths several products share (see [`Builder::finish`]).
    own_locations: usize,
    /// Regions and the country → region map.
    regions: Regions,
    /// IP address → country.
    geo: Arc<GeoDb>,
    stats: IndexStats,
    /// [`Index::uptake`], worked out on first use: pages ask for it on
    /// every view, and it only changes with the index.
    uptake: std::sync::OnceLock<Vec<Uptake>>,
}

impl Index {
    /// Resolves a bounce request. `product` and `os` are matched
    /// case-insensitively; `lang` must look like a locale.
    pub fn resolve<'a>(
        &'a self,
        product: &str,
        os: &str,
        lang: &'a str,
    ) -> Result<Target<'a>, Miss> {
        let p = self.product(product).ok_or(Miss::Product)?;
        let product = &self.products[p as usize];
        if !crate::validate::is_lang(lang) {
            return Err(Miss::Language);
        }
        let lang = product.offers(lang).ok_or(Miss::Language)?;
        let loc = product
            .oses
            .iter()
            .find(|(o, _)| o.eq_ignore_ascii_case(os))
            .map(|&(_, l)| l)
            .ok_or(Miss::Os)?;
        let location = &self.locations[loc as usize];
        Ok(Target {
            product,
            location,
            lang,
            file: self.file_at(location, lang),
        })
    }

    /// The known file of `location` in `lang`, if any.
    fn file_at(&self, location: &LocationEntry, lang: &str) -> Option<&FileMeta> {
        let files = &*location.files;
        let i = if location.has_lang() {
            files
                .binary_search_by(|&f| self.metas[f as usize].lang.as_ref().cmp(lang))
                .ok()?
        } else {
            0
        };
        files.get(i).map(|&f| &self.metas[f as usize])
    }

    /// Whether redirects carry `Link: <…>; rel=duplicate` headers for
    /// other candidates (setting [`LINK_HEADERS`] is `true`).
    pub fn link_headers(&self) -> bool {
        self.link_headers
    }

    /// Whether a mirror is picked by a weighted hash of (client, file)
    /// rather than at random (SPEC §2.6; on unless setting [`STICKY`] is
    /// `false`).
    pub fn sticky(&self) -> bool {
        self.sticky
    }

    fn product(&self, name: &str) -> Option<u32> {
        // Fold case without allocating for the usual short ASCII names.
        let mut buf = [0u8; 128];
        if name.len() <= buf.len() && name.is_ascii() {
            let folded = &mut buf[..name.len()];
            folded.copy_from_slice(name.as_bytes());
            folded.make_ascii_lowercase();
            let folded = std::str::from_utf8(folded).ok()?;
            self.names.get(folded).copied()
        } else {
            self.names.get(name.to_lowercase().as_str()).copied()
        }
    }

    /// Resolves a file path (percent-decoded, from `/files/<path>`): a known
    /// file, a location without `:lang`, or a location whose `:lang` a
    /// path component fills with a language the product offers.
    pub fn resolve_path<'a>(&'a self, path: &'a str) -> Result<Target<'a>, Miss> {
        // No known file has a longer path; a hostile one must not cost more.
        if path.len() > MAX_FILE_PATH {
            return Err(Miss::Path);
        }
        if let Some(&(loc, file)) = self.files.get(path) {
            let location = &self.locations[loc as usize];
            let file = &self.metas[file as usize];
            return Ok(Target {
                product: &self.products[location.product as usize],
                location,
                lang: &file.lang,
                file: Some(file),
            });
        }
        if let Some(&loc) = self.templates.get(path) {
            let location = &self.locations[loc as usize];
            if !location.has_lang() {
                return Ok(Target {
                    product: &self.products[location.product as usize],
                    location,
                    lang: "",
                    file: self.file_at(location, ""),
                });
            }
        }
        // Try each locale-shaped token of the path as the language.
        let is_lang_byte = |b: u8| b.is_ascii_alphanumeric() || b == b'-';
        let bytes = path.as_bytes();
        let mut tried: Vec<&str> = Vec::new();
        let mut start = None;
        for i in 0..=bytes.len() {
            let in_token = i < bytes.len() && is_lang_byte(bytes[i]);
            match (in_token, start) {
                (true, None) => start = Some(i),
                (false, Some(s)) => {
                    start = None;
                    let token = &path[s..i];
                    if !crate::validate::is_lang(token)
                        || tried.contains(&token)
                        || tried.len() >= 64
                    {
                        continue;
                    }
                    tried.push(token);
                    let key = replace_token(path, token);
                    let Some(&loc) = self.templates.get(key.as_str()) else {
                        continue;
                    };
                    let location = &self.locations[loc as usize];
                    let product = &self.products[location.product as usize];
                    if let Some(lang) = product.offers(token) {
                        return Ok(Target {
                            product,
                            location,
                            lang,
                            file: self.file_at(location, lang),
                        });
                    }
                }
                _ => {}
            }
        }
        Err(Miss::Path)
    }

    /// The pool `client` (from `country`) draws from for `location`
    /// (SPEC §2.5, §13): mirrors serving its address family and country,
    /// those that claim its network first, else its region's mirrors or
    /// those the region's throttle, share caps and fallbacks send it to
    /// (rolled with `rng`), else the world's. O(1) but for a binary search
    /// among claimed networks, when there are any.
    pub fn pool<'a>(
        &'a self,
        location: &'a LocationEntry,
        https_only: bool,
        client: std::net::IpAddr,
        country: Option<Country>,
        rng: &mut impl Random,
    ) -> &'a Candidates {
        location.tables.pool(
            &self.regions,
            country,
            self.regions.group_of(client),
            https_only || location.ssl_only,
            Family::of(client),
            rng,
        )
    }

    /// The regions.
    pub fn regions(&self) -> &Regions {
        &self.regions
    }

    /// The country of `ip` (`None` when unknown or without GeoIP data).
    pub fn country_of(&self, ip: std::net::IpAddr) -> Option<Country> {
        if self.geo.is_empty() {
            return None;
        }
        self.geo.lookup(ip)
    }

    /// The GeoIP data in use.
    pub fn geo(&self) -> &Arc<GeoDb> {
        &self.geo
    }

    /// This index with `geo` as its GeoIP data.
    pub fn with_geo(mut self, geo: Arc<GeoDb>) -> Index {
        self.geo = geo;
        self
    }

    /// The mirror with id `id`, if the index has it.
    pub fn mirror_by_id(&self, id: MirrorId) -> Option<&MirrorEntry> {
        self.mirrors.iter().find(|m| m.id == id)
    }

    /// The mirror at `index` (as returned by [`Candidates::pick`]).
    pub fn mirror(&self, index: u32) -> &MirrorEntry {
        &self.mirrors[index as usize]
    }

    /// Uptake of every (product, os): the rating of the mirrors that can
    /// serve it now against the rating of all active mirrors (SPEC §7).
    /// For ssl-only products only https mirrors can serve.
    pub fn uptake(&self) -> &[Uptake] {
        self.uptake.get_or_init(|| {
            let total: u64 = self
                .mirrors
                .iter()
                .filter(|m| m.active)
                .map(|m| u64::from(m.rating))
                .sum();
            // Locations served by the same mirrors share a candidate table:
            // its rating is summed once.
            let mut per_table: HashMap<*const Candidates, u64> = HashMap::new();
            let mut out = Vec::new();
            for p in &self.products {
                for (os, loc) in p.oses.iter() {
                    let table = self.locations[*loc as usize].candidates(false);
                    let available =
                        *per_table
                            .entry(std::ptr::from_ref(table))
                            .or_insert_with(|| {
                                table
                                    .iter()
                                    .map(|(m, _)| u64::from(self.mirrors[m as usize].rating))
                                    .sum()
                            });
                    out.push(Uptake {
                        product: p.name.to_string(),
                        os: os.to_string(),
                        available,
                        total,
                    });
                }
            }
            out
        })
    }

    /// How many locations each mirror receives downloads for now (active
    /// products; mirrors present, healthy, active, rated). Cheap: locations
    /// that share a candidate table are counted per table.
    pub fn serving_by_mirror(&self) -> HashMap<MirrorId, usize> {
        let mut per_table: HashMap<*const Candidates, (&Candidates, usize)> = HashMap::new();
        for l in &self.locations[..self.own_locations] {
            let table = l.candidates(false);
            per_table
                .entry(std::ptr::from_ref(table))
                .or_insert((table, 0))
                .1 += 1;
        }
        let mut out = HashMap::new();
        for (table, locations) in per_table.into_values() {
            for (m, _) in table.iter() {
                *out.entry(self.mirrors[m as usize].id).or_default() += locations;
            }
        }
        out
    }

    /// The product a name or alias stands for.
    pub fn product_named(&self, name: &str) -> Option<&ProductEntry> {
        self.product(name).map(|p| &self.products[p as usize])
    }

    /// Sizes, for metrics.
    pub fn stats(&self) -> IndexStats {
        self.stats
    }

    /// Builds an index from a configuration snapshot and the (location,
    /// mirror) pairs whose availability says they serve, grouped by
    /// location (the store's key order; see [`Builder::serving`]).
    pub fn build(
        snapshot: &Snapshot,
        serving: impl IntoIterator<Item = (LocationId, MirrorId)>,
    ) -> Index {
        Index::build_with_files(snapshot, &[], serving)
    }

    /// [`Index::build`] knowing `files` (their sizes and digests).
    pub fn build_with_files(
        snapshot: &Snapshot,
        files: &[FileInfo],
        serving: impl IntoIterator<Item = (LocationId, MirrorId)>,
    ) -> Index {
        let mut builder = Builder::new(snapshot, files);
        for (loc, mirror) in serving {
            builder.serving(loc, mirror);
        }
        builder.finish(&AsnDb::default())
    }
}

/// The setting sentry writes: when the origin's trace file (setting
/// [`ORIGIN_TRACE`]) says it last changed, in Unix seconds.
pub const ORIGIN_SYNCED: &str = "freshness.origin_synced";

/// The setting naming the origin's trace file (a full URL): mirrors' lag
/// is measured against it. Without it, against the freshest mirror.
pub const ORIGIN_TRACE: &str = "freshness.origin_trace";

/// What mirrors' lag is measured against: the origin's time (setting
/// [`ORIGIN_SYNCED`]) or the freshest mirror's, whichever is later.
fn freshness_reference(s: &Snapshot) -> u64 {
    let origin = s
        .settings
        .get(ORIGIN_SYNCED)
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or(0);
    s.mirrors
        .iter()
        .filter(|m| m.trace.is_some())
        .filter_map(|m| s.health.get(&m.id).map(|h| h.synced_at))
        .fold(origin, u64::max)
        // A clock ahead (or a lying trace file) must not make everyone stale.
        .min(crate::model::now())
}

/// The setting that makes selection damp mirrors much slower than the rest.
pub const DAMP_SLOW: &str = "selection.damp_slow";

/// The setting that turns sticky picks off (`false`): each redirect then
/// draws a mirror at random, in proportion to its rating.
pub const STICKY: &str = "bounce.sticky";

/// The setting that makes redirects name other mirrors in RFC 6249
/// `Link: <…>; rel=duplicate; pri=N` headers (`true`). Off by default: the
/// four extra header lines cost about a sixth of the redirect throughput.
pub const LINK_HEADERS: &str = "bounce.link_headers";

/// The one country the regions named `regions` cover together, if exactly
/// one (lower case).
fn single_country(regions: &[String], all: &[crate::model::Region]) -> Option<[u8; 2]> {
    let mut found: Option<[u8; 2]> = None;
    for name in regions {
        let region = all.iter().find(|r| r.name.eq_ignore_ascii_case(name))?;
        for c in &region.countries {
            let b = c.trim().as_bytes();
            if b.len() != 2 || !b.iter().all(u8::is_ascii_alphabetic) {
                return None;
            }
            let c = [b[0].to_ascii_lowercase(), b[1].to_ascii_lowercase()];
            match found {
                Some(f) if f != c => return None,
                _ => found = Some(c),
            }
        }
    }
    found
}

/// Scales down the weight of mirrors whose measured speed is below a
/// quarter of the median of measured mirrors, in proportion (never to 0).
fn damp_slow(s: &Snapshot, weight: &mut [u64]) {
    let mut speeds: Vec<u64> = s
        .mirrors
        .iter()
        .filter_map(|m| s.health.get(&m.id).map(|h| h.throughput))
        .filter(|&t| t > 0)
        .collect();
    if speeds.len() < 2 {
        return;
    }
    speeds.sort_unstable();
    let floor = speeds[speeds.len() / 2] / 4;
    for (i, m) in s.mirrors.iter().enumerate() {
        let speed = s.health.get(&m.id).map_or(0, |h| h.throughput);
        if speed > 0 && speed < floor && weight[i] > 0 {
            weight[i] = (weight[i] * speed / floor).max(1);
        }
    }
}

/// `path` with every whole-token occurrence of `token` replaced by `:lang`.
fn replace_token(path: &str, token: &str) -> String {
    let is_lang_byte = |b: u8| b.is_ascii_alphanumeric() || b == b'-';
    let mut out = String::with_capacity(path.len() + 8);
    let mut rest = path;
    let mut prev_is_lang = false;
    while let Some(pos) = rest.find(token) {
        let before_ok = if pos == 0 {
            !prev_is_lang
        } else {
            !is_lang_byte(rest.as_bytes()[pos - 1])
        };
        let after = pos + token.len();
        let after_ok = after == rest.len() || !is_lang_byte(rest.as_bytes()[after]);
        out.push_str(&rest[..pos]);
        if before_ok && after_ok {
            out.push_str(LANG_PLACEHOLDER);
        } else {
            out.push_str(token);
        }
        prev_is_lang = is_lang_byte(rest.as_bytes()[after - 1]);
        rest = &rest[after..];
    }
    out.push_str(rest);
    out
}

/// Builds an [`Index`] while availability rows stream in, sorted by
/// location: each location's mirror set is finished (and shared with equal
/// sets) as soon as the next location starts, so memory stays small.
pub struct Builder {
    index: Index,
    /// Mirror id → index of an active mirror, or NONE.
    active: Vec<u32>,
    /// Location id → location index, or NONE (inactive product).
    location_of: Vec<u32>,
    /// Templates several products' locations share, with those locations.
    shared_paths: Vec<(Box<str>, Vec<u32>)>,
    /// Makes (and shares) the pools of each eligible set.
    maker: TableMaker,
    current: u32,
    /// Active mirrors serving the current location.
    buffer: Vec<u32>,
    /// The eligible ones among them.
    eligible: Vec<u32>,
    shared: HashMap<Box<[u32]>, Arc<Tables>>,
    /// Idle mirror sets (see [`LocationEntry::idle_mirrors`]), shared.
    shared_idle: HashMap<Box<[u32]>, Arc<[u32]>>,
    no_idle: Arc<[u32]>,
    /// Per location index: whether it is new enough for the CDNs to be
    /// preferred (setting [`CDN_NEW_MINUTES`]).
    new_location: Vec<bool>,
    /// The rating of the mirrors (not CDNs) that serve a location for it
    /// to count as spread enough to leave the CDNs ([`CDN_ENOUGH_PERCENT`]).
    enough_rating: u64,
    /// The tables of locations no mirror serves.
    unserved: Arc<Tables>,
}

/// The setting for how long after its location is added a file counts as
/// new (minutes; default 60): new files go to the CDNs until enough
/// mirrors have them.
pub const CDN_NEW_MINUTES: &str = "cdn.new_minutes";

/// The setting for "enough mirrors have it": the share of the active
/// mirrors' rating (percent; default 50) that must serve a new file before
/// it leaves the CDNs.
pub const CDN_ENOUGH_PERCENT: &str = "cdn.enough_percent";

impl Builder {
    /// Starts from the configuration and the known files.
    pub fn new(s: &Snapshot, files: &[FileInfo]) -> Builder {
        let mut index = Index::default();
        let max_mirror = s.mirrors.iter().map(|m| m.id.0).max().unwrap_or(0) as usize;
        let mut active = vec![NONE; max_mirror + 1];
        let mut https = Vec::new();
        let mut serves = Vec::new();
        let mut weight = Vec::new();
        let mut seeds = Vec::new();
        let mut caps = Vec::new();
        let mut cdns = Vec::new();
        let now = crate::model::now();
        let reference = freshness_reference(s);
        for m in &s.mirrors {
            let health = s.health.get(&m.id);
            let healthy = health.is_none_or(|h| h.healthy);
            let i = index.mirrors.len() as u32;
            let away = m
                .maintenance
                .is_some_and(|w| w.keeps_out(health.map_or(0, |h| h.checked_at), now));
            let eligible = m.active && m.rating > 0 && healthy && !away;
            if m.active {
                active[m.id.0 as usize] = i;
            }
            if eligible {
                index.stats.eligible_mirrors += 1;
            }
            let https_url = m.https_url().filter(|u| {
                *u == m.base_url || health.is_none_or(|h| h.alt != crate::model::Reach::Down)
            });
            https.push(https_url.is_some());
            serves.push(Family::ALL.map(|f| {
                crate::model::family::serves(
                    m.families,
                    health.map(|h| h.reaches).unwrap_or_default(),
                    f,
                )
            }));
            seeds.push(pick::seed(m.id.0));
            caps.push(m.audience.max_share.unwrap_or(0));
            if eligible && m.kind == crate::model::MirrorKind::Cdn {
                cdns.push(i);
            }
            // A flapping mirror gets less traffic until it settles.
            weight.push(health.map_or(u64::from(m.rating), |h| h.damped(m.rating, now)));
            index.mirrors.push(MirrorEntry {
                id: m.id,
                name: m.name.as_str().into(),
                base_url: m.base_url.as_str().into(),
                https_url: https_url.map(Into::into),
                rating: m.rating,
                active: m.active,
                eligible,
                country: single_country(&m.regions, &s.regions),
                health: health.cloned(),
                has_trace: m.trace.is_some(),
                lag: health
                    .filter(|h| m.trace.is_some() && h.synced_at > 0)
                    .map(|h| reference.saturating_sub(h.synced_at)),
            });
        }

        if s.settings.get(DAMP_SLOW).is_some_and(|v| v == "true") {
            damp_slow(s, &mut weight);
        }
        index.freshness_reference = reference;
        index.link_headers = s.settings.get(LINK_HEADERS).is_some_and(|v| v == "true");
        index.sticky = s.settings.get(STICKY).is_none_or(|v| v != "false");

        let mut product_of = HashMap::new();
        for p in s.products.iter().filter(|p| p.active) {
            let i = index.products.len() as u32;
            product_of.insert(p.id, i);
            index.names.insert(p.name.to_lowercase().into(), i);
            index.products.push(ProductEntry {
                id: p.id,
                name: p.name.as_str().into(),
                ssl_only: p.ssl_only,
                languages: p.languages.iter().map(|l| l.as_str().into()).collect(),
                max_lag: p.max_lag_minutes.map(|m| u64::from(m) * 60),
                oses: Box::new([]),
            });
        }
        for a in &s.aliases {
            if let Some(&i) = product_of.get(&a.product) {
                index.names.insert(a.name.to_lowercase().into(), i);
            }
        }

        let empty = Arc::new(Tables::default());
        let no_idle: Arc<[u32]> = Arc::new([]);
        let max_location = s.locations.iter().map(|l| l.id.0).max().unwrap_or(0) as usize;
        let mut location_of = vec![NONE; max_location + 1];
        let mut oses: Vec<Vec<(Box<str>, u32)>> = vec![Vec::new(); index.products.len()];
        // Decoded template → its locations: products that share paths.
        let mut by_template: HashMap<Box<str>, Vec<u32>> = HashMap::new();
        let mut template_of: Vec<Box<str>> = Vec::new();
        for l in &s.locations {
            let Some(&p) = product_of.get(&l.product) else {
                continue;
            };
            let i = index.locations.len() as u32;
            location_of[l.id.0 as usize] = i;
            oses[p as usize].push((l.os.as_str().into(), i));
            let template: Box<str> = percent_decode(&l.path).into();
            let template_hash = pick::template_hash(&template);
            by_template.entry(template.clone()).or_default().push(i);
            template_of.push(template);
            index.locations.push(LocationEntry {
                id: l.id,
                product: p,
                os: l.os.as_str().into(),
                parts: l.path.split(LANG_PLACEHOLDER).map(Into::into).collect(),
                template_hash,
                ssl_only: index.products[p as usize].ssl_only,
                tables: empty.clone(),
                others: no_idle.clone(),
                files: Box::new([]),
            });
        }
        for (p, mut list) in oses.into_iter().enumerate() {
            list.sort();
            index.products[p].oses = list.into();
        }
        let mut files_of: HashMap<u32, Vec<u32>> = HashMap::new();
        let mut rendered = String::new();
        for f in files {
            let Some(loc) = f
                .location
                .and_then(|l| location_of.get(l.0 as usize).copied())
            else {
                continue;
            };
            if loc == NONE {
                continue;
            }
            let meta = FileMeta::new(f);
            let decoded = percent_decode(&f.path);
            // What a bounce for its location and language redirects to is
            // this file only if the paths agree.
            rendered.clear();
            index.locations[loc as usize].render_path(&meta.lang, &mut rendered);
            // A file whose path no longer fits its location (the location
            // moved) is not served: a redirect would go to the location's
            // new path with this file's size and digest.
            if percent_decode(&rendered) != decoded {
                continue;
            }
            let i = index.metas.len() as u32;
            // A file belongs to every location with its template whose
            // product offers its language.
            for &owner in &by_template[&template_of[loc as usize]] {
                let entry = &index.locations[owner as usize];
                let product = &index.products[entry.product as usize];
                if !entry.has_lang() || product.offers(&meta.lang).is_some() {
                    files_of.entry(owner).or_default().push(i);
                }
            }
            index.files.insert(decoded.into(), (loc, i));
            index.metas.push(meta);
        }
        for (loc, mut list) in files_of {
            let metas = &index.metas;
            list.sort_by(|&a, &b| metas[a as usize].lang.cmp(&metas[b as usize].lang));
            list.dedup_by(|a, b| metas[*a as usize].lang == metas[*b as usize].lang);
            index.locations[loc as usize].files = list.into();
        }
        index.stats.products = index.products.len();
        index.stats.locations = index.locations.len();
        index.stats.mirrors = index.mirrors.len();
        index.stats.files = index.files.len();
        index.own_locations = index.locations.len();
        let mut shared_paths = Vec::new();
        for (template, locations) in by_template {
            if locations.len() == 1 {
                index.templates.insert(template, locations[0]);
            } else {
                shared_paths.push((template, locations));
            }
        }
        let regions = Regions::new(&s.regions, &s.mirrors);
        let setting = |key: &str, default: u64| {
            s.settings
                .get(key)
                .and_then(|v| v.trim().parse::<u64>().ok())
                .unwrap_or(default)
        };
        let new_secs = setting(CDN_NEW_MINUTES, 60).saturating_mul(60);
        let new_location = s
            .locations
            .iter()
            .filter(|l| product_of.contains_key(&l.product))
            .map(|l| now.saturating_sub(l.created_at) < new_secs)
            .collect();
        let mirrors_rating: u64 = s
            .mirrors
            .iter()
            .filter(|m| m.active && m.kind == crate::model::MirrorKind::Mirror)
            .map(|m| u64::from(m.rating))
            .sum();
        let enough_rating = mirrors_rating
            .saturating_mul(setting(CDN_ENOUGH_PERCENT, 50).min(100))
            .div_ceil(100);
        Builder {
            new_location,
            enough_rating,
            unserved: empty,
            index,
            active,
            location_of,
            shared_paths,
            maker: TableMaker::new(
                regions,
                MirrorTraits {
                    https,
                    serves,
                    weight,
                    caps,
                    seeds,
                    cdns,
                },
            ),
            current: NONE,
            buffer: Vec::new(),
            eligible: Vec::new(),
            shared: HashMap::new(),
            shared_idle: HashMap::new(),
            no_idle,
        }
    }

    /// Records that `mirror` serves `location`. Rows must arrive grouped by
    /// location (the store's key order).
    pub fn serving(&mut self, location: LocationId, mirror: MirrorId) {
        let Some(&loc) = self.location_of.get(location.0 as usize) else {
            return;
        };
        let Some(&m) = self.active.get(mirror.0 as usize) else {
            return;
        };
        // A CDN serves everything: what sentry once found there is moot.
        if loc == NONE || m == NONE || self.maker.cdns.binary_search(&m).is_ok() {
            return;
        }
        if loc != self.current {
            self.flush();
            self.current = loc;
        }
        self.buffer.push(m);
    }

    fn flush(&mut self) {
        if self.current == NONE {
            return;
        }
        let loc = self.current as usize;
        self.buffer.sort_unstable();
        self.buffer.dedup();
        let mirrors = &self.index.mirrors;
        // A product that may be only so stale leaves out mirrors lagging more.
        let product = self.index.locations[loc].product as usize;
        let max_lag = self.index.products[product].max_lag;
        let reference = self.index.freshness_reference;
        self.eligible.clear();
        self.eligible.extend(self.buffer.iter().filter(|&&m| {
            let m = &mirrors[m as usize];
            m.eligible
                && max_lag.is_none_or(|max| {
                    crate::model::freshness::fresh_enough(
                        m.has_trace,
                        m.health.as_ref().map_or(0, |h| h.synced_at),
                        reference,
                        max,
                    )
                })
        }));
        // A new file goes to the CDNs until enough mirrors have it.
        let cdns = &self.maker.cdns;
        let mut to_cdns = false;
        if !cdns.is_empty() && self.new_location[loc] {
            let rating: u64 = self
                .eligible
                .iter()
                .map(|&m| u64::from(mirrors[m as usize].rating))
                .sum();
            if rating < self.enough_rating {
                self.eligible.clone_from(cdns);
                to_cdns = true;
            }
        }
        self.index.stats.serving_pairs += self.eligible.len();
        let tables = match self.shared.get(self.eligible.as_slice()) {
            Some(t) => t.clone(),
            None => {
                let t = Arc::new(self.maker.tables(&self.eligible));
                self.shared
                    .insert(self.eligible.as_slice().into(), t.clone());
                t
            }
        };
        let any = tables.world(self.index.locations[loc].ssl_only);
        // The rest of the mirrors that have it: usually none.
        let others = if any.len() == self.buffer.len() && !to_cdns {
            self.no_idle.clone()
        } else {
            let serving: Vec<u32> = any.iter().map(|(m, _)| m).collect();
            self.buffer.retain(|m| serving.binary_search(m).is_err());
            match self.shared_idle.get(self.buffer.as_slice()) {
                Some(set) => set.clone(),
                None => {
                    let set: Arc<[u32]> = self.buffer.as_slice().into();
                    self.shared_idle
                        .insert(self.buffer.as_slice().into(), set.clone());
                    set
                }
            }
        };
        let entry = &mut self.index.locations[loc];
        entry.tables = tables;
        entry.others = others;
        self.buffer.clear();
        self.current = NONE;
    }

    /// Finishes the index; `asn` tells which addresses the AS numbers
    /// mirrors claim announce.
    pub fn finish(mut self, asn: &AsnDb) -> Index {
        self.flush();
        // Locations no mirror has: the CDNs serve them.
        if !self.maker.cdns.is_empty() {
            let cdn_only = Arc::new(self.maker.tables(&[]));
            for l in &mut self.index.locations {
                if Arc::ptr_eq(&l.tables, &self.unserved) {
                    l.tables = cdn_only.clone();
                }
            }
        }
        self.index.stats.candidate_sets = self.shared.len();
        for (template, members) in std::mem::take(&mut self.shared_paths) {
            self.share(template, &members);
        }
        self.index.regions = std::mem::take(&mut self.maker.regions).with_asn(asn);
        self.index
    }

    /// Makes the location that `/files/` paths of `template` resolve to
    /// when several products' locations (`members`) have it (SPEC §2,
    /// "File-path bouncing"): its candidates are the union of theirs, each
    /// product's https rule applied; its files are theirs; it counts
    /// downloads under the first member that is not ssl-only (else the
    /// first).
    fn share(&mut self, template: Box<str>, members: &[u32]) {
        let locations = &self.index.locations;
        let member = |l: &u32| &locations[*l as usize];
        let primary = members
            .iter()
            .map(member)
            .find(|l| !l.ssl_only)
            .unwrap_or_else(|| member(&members[0]));
        let mut union: Vec<u32> = members
            .iter()
            .flat_map(|l| member(l).candidates(false).iter().map(|(m, _)| m))
            .collect();
        union.sort_unstable();
        union.dedup();
        let mut idle: Vec<u32> = members
            .iter()
            .flat_map(|l| member(l).others.iter().copied())
            .filter(|m| union.binary_search(m).is_err())
            .collect();
        idle.sort_unstable();
        idle.dedup();
        let metas = &self.index.metas;
        let mut files: Vec<u32> = members
            .iter()
            .flat_map(|l| member(l).files.iter().copied())
            .collect();
        files.sort_by(|&a, &b| metas[a as usize].lang.cmp(&metas[b as usize].lang));
        files.dedup_by(|a, b| metas[*a as usize].lang == metas[*b as usize].lang);
        let entry = LocationEntry {
            id: primary.id,
            product: primary.product,
            os: primary.os.clone(),
            parts: primary.parts.clone(),
            template_hash: primary.template_hash,
            ssl_only: members.iter().all(|l| member(l).ssl_only),
            tables: Arc::new(self.maker.tables(&union)),
            others: idle.into(),
            files: files.into(),
        };
        let shared = self.index.locations.len() as u32;
        self.index.locations.push(entry);
        self.index.templates.insert(template, shared);
        for (location, _) in self.index.files.values_mut() {
            if members.contains(location) {
                *location = shared;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::*;

    fn snapshot() -> Snapshot {
        use crate::model::fixtures::{location, mirror};
        let product = |id, name: &str, langs: &[&str], ssl_only| Product {
            ssl_only,
            ..crate::model::fixtures::product(id, name, langs)
        };
        Snapshot {
            products: vec![
                product(1, "Firefox-1.0", &["en-US", "de", "ja-JP-mac"], false),
                product(2, "Thunderbird", &[], false),
                product(3, "Secure", &[], true),
            ],
            aliases: vec![Alias {
                name: "firefox-latest".into(),
                product: ProductId(1),
            }],
            oses: vec!["win".into(), "linux".into()],
            locations: vec![
                location(
                    1,
                    1,
                    "win",
                    "/firefox/1.0/win32/:lang/Firefox%20Setup%201.0.exe",
                ),
                location(
                    2,
                    1,
                    "linux",
                    "/firefox/1.0/linux/:lang/firefox-1.0.tar.bz2",
                ),
                location(3, 2, "win", "/tb/setup.exe"),
                location(4, 3, "win", "/secure/:lang.exe"),
            ],
            mirrors: vec![
                mirror(1, "http://a.example", 10),
                mirror(2, "https://b.example", 30),
                mirror(3, "http://c.example", 0),
            ],
            health: HashMap::new(),
            regions: vec![],
            settings: Default::default(),
        }
    }

    fn all_serving() -> Vec<(LocationId, MirrorId)> {
        let mut v = Vec::new();
        for l in 1..=4 {
            for m in 1..=3 {
                v.push((LocationId(l), MirrorId(m)));
            }
        }
        v
    }

    #[test]
    fn resolution_rules() {
        let index = Index::build(&snapshot(), all_serving());
        let t = index.resolve("FIREFOX-1.0", "WIN", "DE").unwrap();
        assert_eq!(t.path(), "/firefox/1.0/win32/de/Firefox%20Setup%201.0.exe");
        let t = index
            .resolve("firefox-latest", "linux", "ja-jp-mac")
            .unwrap();
        assert_eq!(t.path(), "/firefox/1.0/linux/ja-JP-mac/firefox-1.0.tar.bz2");
        assert_eq!(
            index.resolve("nope", "win", "de").unwrap_err(),
            Miss::Product
        );
        assert_eq!(
            index.resolve("firefox-1.0", "osx", "de").unwrap_err(),
            Miss::Os
        );
        assert_eq!(
            index.resolve("firefox-1.0", "win", "fr").unwrap_err(),
            Miss::Language
        );
        // No languages: every valid language, and its own spelling.
        let t = index.resolve("thunderbird", "win", "xx-YY").unwrap();
        assert_eq!((t.path().as_str(), t.lang), ("/tb/setup.exe", "xx-YY"));
        assert_eq!(
            index.resolve("thunderbird", "win", "../x").unwrap_err(),
            Miss::Language
        );
    }

    #[test]
    fn hostile_languages_never_leave_the_directory() {
        let index = Index::build(&snapshot(), all_serving());
        let long = "a".repeat(33);
        for lang in [
            "../../x",
            "%2e%2e%2f",
            "..%2f",
            "@evil.example",
            "//evil.example",
            "a/b",
            "a\\b",
            "é",
            "a b",
            "a?b",
            "a#b",
            "",
            long.as_str(),
            "\u{202e}",
            ".",
        ] {
            assert_eq!(
                index.resolve("secure", "win", lang).unwrap_err(),
                Miss::Language,
                "{lang:?}"
            );
        }
    }

    #[test]
    fn candidates_respect_rating_tls_and_ssl_only() {
        let index = Index::build(&snapshot(), all_serving());
        let t = index.resolve("thunderbird", "win", "en-US").unwrap();
        let names = |c: &Candidates| -> Vec<String> {
            c.iter()
                .map(|(m, _)| index.mirror(m).name.to_string())
                .collect()
        };
        // Rating 0 never serves.
        assert_eq!(names(t.location.candidates(false)), vec!["m1", "m2"]);
        assert_eq!(names(t.location.candidates(true)), vec!["m2"]);
        let t = index.resolve("secure", "win", "en-US").unwrap();
        assert_eq!(names(t.location.candidates(false)), vec!["m2"]);
        // Identical mirror sets share one table.
        assert_eq!(index.stats().candidate_sets, 1);
    }

    #[test]
    fn unhealthy_inactive_and_missing_mirrors_are_left_out() {
        let mut s = snapshot();
        s.health.insert(
            MirrorId(2),
            MirrorHealth {
                healthy: false,
                ..Default::default()
            },
        );
        let serving = vec![(LocationId(3), MirrorId(1)), (LocationId(3), MirrorId(2))];
        let index = Index::build(&s, serving.clone());
        let t = index.resolve("thunderbird", "win", "en-US").unwrap();
        assert_eq!(t.location.candidates(false).len(), 1);
        assert!(t.location.candidates(true).is_empty());
        // Locations nobody serves have no candidates.
        let t = index.resolve("firefox-1.0", "win", "de").unwrap();
        assert!(t.location.candidates(false).is_empty());
        s.mirrors[0].active = false;
        let index = Index::build(&s, serving);
        let t = index.resolve("thunderbird", "win", "en-US").unwrap();
        assert!(t.location.candidates(false).is_empty());
    }

    #[test]
    fn https_only_requests_use_a_mirrors_https_root_never_its_http_one() {
        let mut s = snapshot();
        s.mirrors[0].base_url = "http://m1.example/pub".into();
        s.mirrors[0].alt_url = Some("https://secure.m1.example/pub".into());
        s.mirrors[1].base_url = "http://m2.example/pub".into();
        let serving = vec![(LocationId(3), MirrorId(1)), (LocationId(3), MirrorId(2))];
        let index = Index::build(&s, serving.clone());
        let t = index.resolve("thunderbird", "win", "en-US").unwrap();
        let https: Vec<u32> = t.location.candidates(true).iter().map(|(m, _)| m).collect();
        assert_eq!(https.len(), 1);
        let m = index.mirror(https[0]);
        assert_eq!(m.url(true), "https://secure.m1.example/pub");
        assert_eq!(m.url(false), "http://m1.example/pub");
        assert_eq!(t.location.candidates(false).len(), 2);
        // Sentry found the https root down: no https requests go there.
        s.health.insert(
            MirrorId(1),
            MirrorHealth {
                alt: Reach::Down,
                ..Default::default()
            },
        );
        let index = Index::build(&s, serving);
        let t = index.resolve("thunderbird", "win", "en-US").unwrap();
        assert!(t.location.candidates(true).is_empty());
        assert_eq!(t.location.candidates(false).len(), 2);
    }

    #[test]
    fn a_lag_limit_leaves_out_stale_mirrors_for_its_product_only() {
        let mut s = snapshot();
        s.mirrors[1].base_url = "http://b.example".into();
        for m in &mut s.mirrors[..2] {
            m.trace = Some("/lastsync".into());
        }
        let synced = |m: u64, at: u64| {
            (
                MirrorId(m),
                MirrorHealth {
                    synced_at: at,
                    ..Default::default()
                },
            )
        };
        // b synced an hour after a.
        s.health.extend([synced(1, 10_000), synced(2, 13_600)]);
        s.products[1].max_lag_minutes = Some(30);
        let serving = vec![
            (LocationId(1), MirrorId(1)),
            (LocationId(1), MirrorId(2)),
            (LocationId(3), MirrorId(1)),
            (LocationId(3), MirrorId(2)),
        ];
        let index = Index::build(&s, serving.clone());
        let names = |product: &str, lang: &str| -> Vec<String> {
            let t = index.resolve(product, "win", lang).unwrap();
            t.location
                .candidates(false)
                .iter()
                .map(|(m, _)| index.mirror(m).name.to_string())
                .collect()
        };
        assert_eq!(names("thunderbird", "en-US"), ["m2"], "a lags 60 min > 30");
        assert_eq!(names("firefox-1.0", "de"), ["m1", "m2"], "no limit");
        assert_eq!(index.mirror(0).lag, Some(3600));
        assert_eq!(index.mirror(1).lag, Some(0));
        // Measured against the origin when sentry read its trace file.
        s.settings.insert(ORIGIN_SYNCED.into(), "14000".into());
        let index = Index::build(&s, serving.clone());
        assert_eq!(index.mirror(1).lag, Some(400));
        // A trace file that could not be read: stale for the product.
        s.health.insert(MirrorId(2), MirrorHealth::default());
        let index = Index::build(&s, serving);
        let t = index.resolve("thunderbird", "win", "en-US").unwrap();
        assert!(t.location.candidates(false).is_empty());
        assert_eq!(index.mirror(1).lag, None);
    }

    #[test]
    fn cdns_take_new_files_until_enough_mirrors_have_them_and_back_everyone_up() {
        let mut s = snapshot();
        s.mirrors[2].kind = MirrorKind::Cdn;
        s.mirrors[2].rating = 100;
        s.mirrors[1].base_url = "http://b.example".into();
        let now = crate::model::now();
        for l in &mut s.locations {
            l.created_at = now;
        }
        // Thunderbird (new) on a (10 of 40); Firefox's de (new) on a and b.
        let serving = vec![
            (LocationId(1), MirrorId(1)),
            (LocationId(1), MirrorId(2)),
            (LocationId(3), MirrorId(1)),
        ];
        let names = |index: &Index, product: &str, lang: &str| -> Vec<String> {
            let t = index.resolve(product, "win", lang).unwrap();
            t.location
                .candidates(false)
                .iter()
                .map(|(m, _)| index.mirror(m).name.to_string())
                .collect()
        };
        let index = Index::build(&s, serving.clone());
        assert_eq!(names(&index, "thunderbird", "en-US"), ["m3"], "25% < 50%");
        assert_eq!(names(&index, "firefox-1.0", "de"), ["m1", "m2"], "100%");
        // Old files stay on the mirrors, however few have them.
        for l in &mut s.locations {
            l.created_at = now - 3600;
        }
        let index = Index::build(&s, serving.clone());
        assert_eq!(names(&index, "thunderbird", "en-US"), ["m1"]);
        // Nobody else can serve: the CDN, before the origin.
        let t = index.resolve("firefox-1.0", "linux", "de").unwrap();
        assert!(t.location.candidates(false).is_empty());
        let client = "192.0.2.1".parse().unwrap();
        let pool = index.pool(t.location, false, client, None, &mut pick::ThreadRandom);
        let picked: Vec<String> = pool
            .iter()
            .map(|(m, _)| index.mirror(m).name.to_string())
            .collect();
        assert_eq!(picked, ["m3"]);
        // A CDN that must not serve Germany is no fallback there either.
        s.mirrors[2].audience.never = vec![crate::geoip::Country::parse("DE").unwrap()];
        let index = Index::build(&s, serving);
        let t = index.resolve("firefox-1.0", "linux", "de").unwrap();
        let de = crate::geoip::Country::parse("DE");
        let fr = crate::geoip::Country::parse("FR");
        let mut rng = pick::ThreadRandom;
        assert!(
            index
                .pool(t.location, false, client, de, &mut rng)
                .is_empty()
        );
        assert_eq!(index.pool(t.location, false, client, fr, &mut rng).len(), 1);
    }

    #[test]
    fn inactive_products_are_unknown() {
        let mut s = snapshot();
        s.products[1].active = false;
        let index = Index::build(&s, all_serving());
        assert_eq!(
            index.resolve("thunderbird", "win", "en-US").unwrap_err(),
            Miss::Product
        );
    }

    #[test]
    fn file_paths() {
        let s = snapshot();
        let files = [FileInfo {
            path: "/firefox/1.0/win32/de/Firefox%20Setup%201.0.exe".into(),
            location: Some(LocationId(1)),
            lang: Some("de".into()),
            ..Default::default()
        }];
        let index = Index::build_with_files(&s, &files, all_serving());
        let t = index
            .resolve_path("/firefox/1.0/win32/de/Firefox Setup 1.0.exe")
            .unwrap();
        assert_eq!((t.location.id, t.lang), (LocationId(1), "de"));
        // From the template, with a language the product offers.
        let t = index
            .resolve_path("/firefox/1.0/linux/ja-JP-mac/firefox-1.0.tar.bz2")
            .unwrap();
        assert_eq!(t.path(), "/firefox/1.0/linux/ja-JP-mac/firefox-1.0.tar.bz2");
        assert_eq!(
            index
                .resolve_path("/firefox/1.0/linux/fr/firefox-1.0.tar.bz2")
                .unwrap_err(),
            Miss::Path
        );
        assert_eq!(
            index.resolve_path("/tb/setup.exe").unwrap().location.id,
            LocationId(3)
        );
        let t = index.resolve_path("/secure/pt-BR.exe").unwrap();
        assert_eq!(t.path(), "/secure/pt-BR.exe");
        for bad in [
            "/tb/../tb/setup.exe",
            "/tb",
            "",
            "/secure/:lang.exe",
            "/secure/a/b.exe",
        ] {
            assert!(index.resolve_path(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn uptake_counts_ratings_of_serving_mirrors() {
        let s = snapshot();
        // m1 (10) and m2 (30) serve thunderbird; m3 has rating 0.
        let serving = vec![
            (LocationId(3), MirrorId(1)),
            (LocationId(3), MirrorId(2)),
            (LocationId(1), MirrorId(2)),
        ];
        let index = Index::build(&s, serving);
        let up = index.uptake();
        let tb = up.iter().find(|u| u.product == "Thunderbird").unwrap();
        assert_eq!((tb.available, tb.total), (40, 40));
        let ff = up
            .iter()
            .find(|u| u.product == "Firefox-1.0" && u.os == "win")
            .unwrap();
        assert_eq!((ff.available, ff.total), (30, 40));
        assert_eq!(ff.percent(), 75.0);
        let linux = up
            .iter()
            .find(|u| u.product == "Firefox-1.0" && u.os == "linux")
            .unwrap();
        assert_eq!(linux.available, 0);
        // m2 serves two locations, m1 one; m3 (rating 0) none.
        let serving = index.serving_by_mirror();
        assert_eq!(serving.get(&MirrorId(1)), Some(&1));
        assert_eq!(serving.get(&MirrorId(2)), Some(&2));
        assert_eq!(serving.get(&MirrorId(3)), None);
    }

    #[test]
    fn slow_mirrors_are_damped_when_asked() {
        let mut s = snapshot();
        let speed = |t| MirrorHealth {
            throughput: t,
            ..Default::default()
        };
        s.health.insert(MirrorId(1), speed(1_000));
        s.health.insert(MirrorId(2), speed(100_000));
        s.health.insert(MirrorId(3), speed(100_000));
        let weights = |s: &Snapshot| {
            let index = Index::build(s, all_serving());
            let t = index.resolve("thunderbird", "win", "en-US").unwrap();
            t.location.candidates(false).iter().collect::<Vec<_>>()
        };
        assert_eq!(weights(&s), vec![(0, 10), (1, 30)]);
        s.settings.insert(DAMP_SLOW.into(), "true".into());
        // m1 runs at 1/25 of the median's quarter: weight 10 → 1 (never 0).
        assert_eq!(weights(&s), vec![(0, 1), (1, 30)]);
    }

    #[test]
    fn known_files_carry_their_size_and_digests() {
        let mut s = snapshot();
        let mut files = Vec::new();
        let sha256 = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
        files.push(FileInfo {
            path: "/firefox/1.0/win32/de/Firefox%20Setup%201.0.exe".into(),
            location: Some(LocationId(1)),
            lang: Some("de".into()),
            size: Some(3),
            sha256: Some(sha256.into()),
            ..Default::default()
        });
        files.push(FileInfo {
            path: "/tb/setup.exe".into(),
            location: Some(LocationId(3)),
            size: Some(7),
            ..Default::default()
        });
        // Listed under a location whose path it does not fit: found by its
        // own path only.
        files.push(FileInfo {
            path: "/elsewhere/en-US/x.exe".into(),
            location: Some(LocationId(1)),
            lang: Some("en-US".into()),
            size: Some(9),
            ..Default::default()
        });
        let index = Index::build_with_files(&s, &files, all_serving());
        let t = index.resolve("firefox-1.0", "win", "de").unwrap();
        let f = t.file.expect("the file is known");
        assert_eq!(f.size, Some(3));
        assert_eq!(
            f.digest.as_ref().unwrap(),
            "sha-256=ungWv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa0="
        );
        let t = index
            .resolve_path("/firefox/1.0/win32/de/Firefox Setup 1.0.exe")
            .unwrap();
        assert_eq!(t.file.and_then(|f| f.size), Some(3));
        // Not the file of another language, nor of another location.
        assert!(
            index
                .resolve("firefox-1.0", "win", "en-US")
                .unwrap()
                .file
                .is_none()
        );
        assert!(
            index
                .resolve("firefox-1.0", "linux", "de")
                .unwrap()
                .file
                .is_none()
        );
        // A location without `:lang` has one file, whatever the language.
        let t = index.resolve("thunderbird", "win", "xx").unwrap();
        assert_eq!(t.file.and_then(|f| f.size), Some(7));
        let t = index.resolve_path("/tb/setup.exe").unwrap();
        assert_eq!(t.file.and_then(|f| f.size), Some(7));
        // A file whose path does not fit its location's is not served: the
        // redirect would go to the location's path with this file's digest.
        assert_eq!(
            index.resolve_path("/elsewhere/en-US/x.exe").unwrap_err(),
            Miss::Path
        );
        assert!(!index.link_headers());
        s.settings.insert(LINK_HEADERS.into(), "true".into());
        assert!(Index::build_with_files(&s, &files, all_serving()).link_headers());
    }

    #[test]
    fn mirrors_in_one_country_have_it() {
        let mut s = snapshot();
        let region = crate::model::fixtures::region;
        s.regions = vec![
            region("de", &["DE"]),
            region("germany", &["DE"]),
            region("benelux", &["NL", "BE"]),
        ];
        s.mirrors[0].regions = vec!["de".into(), "Germany".into()];
        s.mirrors[1].regions = vec!["de".into(), "benelux".into()];
        let index = Index::build(&s, all_serving());
        let countries: Vec<Option<&str>> = (0..3).map(|m| index.mirror(m).country()).collect();
        assert_eq!(countries, vec![Some("de"), None, None]);
    }

    #[test]
    fn mirrors_that_have_a_file_but_get_no_traffic_are_kept_apart() {
        let mut s = snapshot();
        s.health.insert(
            MirrorId(1),
            MirrorHealth {
                healthy: false,
                ..Default::default()
            },
        );
        s.mirrors.push(Mirror {
            active: false,
            ..crate::model::fixtures::mirror(4, "http://d.example", 10)
        });
        let mut serving = all_serving();
        serving.push((LocationId(3), MirrorId(4)));
        serving.sort();
        let index = Index::build(&s, serving);
        let names = |ms: &[u32]| -> Vec<String> {
            ms.iter()
                .map(|&m| index.mirror(m).name.to_string())
                .collect()
        };
        let t = index.resolve("thunderbird", "win", "de").unwrap();
        // m1 is down, m3 rated 0; m4 is inactive and not listed at all.
        assert_eq!(names(t.location.idle_mirrors()), vec!["m1", "m3"]);
        assert_eq!(t.location.candidates(false).len(), 1);
        // Ssl-only: the http mirror m1 would be idle anyway; equal sets
        // are shared.
        let t = index.resolve("secure", "win", "de").unwrap();
        assert_eq!(names(t.location.idle_mirrors()), vec!["m1", "m3"]);
    }

    #[test]
    fn token_replacement() {
        assert_eq!(
            replace_token("/a/de/de-x/de.exe", "de"),
            "/a/:lang/de-x/:lang.exe"
        );
        assert_eq!(replace_token("/dede/de", "de"), "/dede/:lang");
    }

    #[test]
    fn a_path_several_products_share_is_served_by_all_of_them() {
        let mut s = snapshot();
        let mut files = Vec::new();
        // "Plain" is the ssl-only "Secure"'s twin: same paths, any mirror.
        s.products
            .push(crate::model::fixtures::product(4, "Plain", &[]));
        s.locations.push(crate::model::fixtures::location(
            5,
            4,
            "win",
            "/secure/:lang.exe",
        ));
        // The file was loaded into the ssl-only twin first.
        files.push(FileInfo {
            path: "/secure/de.exe".into(),
            location: Some(LocationId(4)),
            lang: Some("de".into()),
            size: Some(5),
            ..Default::default()
        });
        let mut serving = all_serving();
        serving.extend((1..=3).map(|m| (LocationId(5), MirrorId(m))));
        let index = Index::build_with_files(&s, &files, serving);
        let names = |c: &Candidates| -> Vec<&str> {
            c.iter().map(|(m, _)| &*index.mirror(m).base_url).collect()
        };
        let t = index.resolve_path("/secure/de.exe").unwrap();
        assert_eq!(
            names(t.location.candidates(false)),
            ["http://a.example", "https://b.example"]
        );
        assert_eq!(names(t.location.candidates(true)), ["https://b.example"]);
        assert!(!t.location.ssl_only());
        assert_eq!(
            &*t.product.name, "Plain",
            "counted under the product any mirror serves"
        );
        assert_eq!(t.file.and_then(|f| f.size), Some(5));
        // By template and language too.
        let t = index.resolve_path("/secure/fr.exe").unwrap();
        assert_eq!(names(t.location.candidates(false)).len(), 2);
        // Each product keeps its own rule when asked by name, and both
        // know the file.
        let secure = index.resolve("Secure", "win", "de").unwrap();
        assert_eq!(
            names(secure.location.candidates(false)),
            ["https://b.example"]
        );
        assert_eq!(secure.file.and_then(|f| f.size), Some(5));
        let plain = index.resolve("plain", "win", "de").unwrap();
        assert_eq!(plain.file.and_then(|f| f.size), Some(5));
        // The same sticky key whichever way the file is asked for.
        let ip: std::net::IpAddr = "192.0.2.7".parse().unwrap();
        assert_eq!(
            secure.location.sticky_key(ip, "de"),
            t.location.sticky_key(ip, "de").clone()
        );
        // The shared location is not counted twice.
        let serving = index.serving_by_mirror();
        assert_eq!(serving.get(&MirrorId(1)), Some(&4), "{serving:?}");
        assert_eq!(serving.get(&MirrorId(2)), Some(&5), "{serving:?}");
        // Both ssl-only: https only, and counted under the first.
        s.products[3].ssl_only = true;
        let index = Index::build(
            &s,
            all_serving()
                .into_iter()
                .chain((1..=3).map(|m| (LocationId(5), MirrorId(m)))),
        );
        let t = index.resolve_path("/secure/de.exe").unwrap();
        assert!(t.location.ssl_only());
        assert_eq!(
            t.location
                .candidates(false)
                .iter()
                .map(|(m, _)| m)
                .collect::<Vec<_>>(),
            [1]
        );
        assert_eq!(&*t.product.name, "Secure");
    }
}
