//! The data model of SPEC §1: what Bouncer knows about products, mirrors and
//! the files they carry. Plain values, no storage or HTTP concerns; the
//! rules a change obeys are pure functions in [`rules`] (re-exported here).

use std::fmt;

pub mod audience;
pub mod family;
pub mod freshness;
pub mod health;
pub mod maintenance;
pub mod rules;

pub use audience::{Audience, ClientNet};
pub use family::{Families, Family, Reach, Reaches};
pub use health::{MirrorCheck, MirrorState, Problem};
pub use rules::*;

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(pub u64);

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }
    };
}

id_type!(
    /// Stable numeric id of a product (never reused).
    ProductId
);
id_type!(
    /// Stable numeric id of a location (never reused).
    LocationId
);
id_type!(
    /// Stable numeric id of a mirror (never reused).
    MirrorId
);

/// The placeholder in a location path that a language replaces.
pub const LANG_PLACEHOLDER: &str = ":lang";

/// Operating systems a new database starts with.
pub const DEFAULT_OSES: &[&str] = &[
    "win",
    "win64",
    "win64-aarch64",
    "osx",
    "linux",
    "linux64",
    "linux64-aarch64",
    "android",
];

/// A downloadable build family, e.g. `firefox-120.0`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Product {
    /// Its id.
    pub id: ProductId,
    /// Unique (case-insensitively) name, as the operator spelled it.
    pub name: String,
    /// Only ever redirect to `https://` mirrors.
    pub ssl_only: bool,
    /// Shown in the download form and public feeds.
    pub public: bool,
    /// Bounced at all; an inactive product answers 404.
    pub active: bool,
    /// Sentry should check it soon (release tooling sets this on new builds).
    pub checknow: bool,
    /// Ordering hint for lists and sentry (higher first).
    pub priority: u32,
    /// Locales it exists in; empty means every language.
    pub languages: Vec<String>,
    /// Unix seconds when it was added.
    pub created_at: u64,
    /// How many minutes its files may lag behind the origin on a mirror
    /// with a trace file (`None`: any; SPEC §13).
    pub max_lag_minutes: Option<u32>,
}

/// (product, os) → a path template relative to a mirror's root.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Location {
    /// Its id.
    pub id: LocationId,
    /// The product it belongs to.
    pub product: ProductId,
    /// Operating system name (lower case).
    pub os: String,
    /// URL path starting with `/`, percent-encoded, where every `:lang` is
    /// replaced by the requested language.
    pub path: String,
    /// Unix seconds when it was added (sentry checks new locations first).
    pub created_at: u64,
}

/// A mirror: someone else's server carrying our files.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mirror {
    /// Its id.
    pub id: MirrorId,
    /// Unique name (case-insensitive).
    pub name: String,
    /// `http://` or `https://` URL of the mirror's root, without trailing slash.
    pub base_url: String,
    /// Selection weight; 0 takes it out of rotation.
    pub rating: u32,
    /// The operator's switch; inactive mirrors get no traffic.
    pub active: bool,
    /// Regions it serves; none means the world pool.
    pub regions: Vec<String>,
    /// Contact e-mail of the mirror's admins (may be empty).
    pub contact: String,
    /// Unix seconds when it was added.
    pub created_at: u64,
    /// The address families it serves (SPEC §13).
    pub families: Families,
    /// Whom it serves: countries, networks first, share cap (SPEC §13).
    pub audience: Audience,
    /// The same root over the other scheme, when it has both (SPEC §13):
    /// `https://` beside an `http://` base URL, or the other way round.
    pub alt_url: Option<String>,
    /// Its trace file, relative to its root (`/project/trace/master`,
    /// `/lastsync`): when it last synced (SPEC §13).
    pub trace: Option<String>,
    /// A mirror, or a CDN (SPEC §13).
    pub kind: MirrorKind,
    /// Its announced maintenance window, if any (SPEC §13).
    pub maintenance: Option<maintenance::Window>,
}

/// What kind of download target a mirror is (SPEC §13).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum MirrorKind {
    /// A mirror: carries what sentry finds on it, file by file.
    #[default]
    Mirror,
    /// A CDN: always complete (pulls from the origin), only probed;
    /// preferred for new files until enough mirrors have them, and the
    /// fallback before the origin.
    Cdn,
}

impl MirrorKind {
    /// `mirror` or `cdn`.
    pub fn as_str(self) -> &'static str {
        match self {
            MirrorKind::Mirror => "mirror",
            MirrorKind::Cdn => "cdn",
        }
    }

    /// Reads [`MirrorKind::as_str`] (any case; empty: a mirror).
    pub fn parse(s: &str) -> Option<MirrorKind> {
        match s.trim().to_ascii_lowercase().as_str() {
            "" | "mirror" => Some(MirrorKind::Mirror),
            "cdn" => Some(MirrorKind::Cdn),
            _ => None,
        }
    }

    /// Its stored code.
    pub fn code(self) -> u8 {
        self as u8
    }

    /// The kind of a stored code.
    pub fn from_code(code: u8) -> Option<MirrorKind> {
        [MirrorKind::Mirror, MirrorKind::Cdn]
            .get(usize::from(code))
            .copied()
    }
}

impl std::str::FromStr for MirrorKind {
    type Err = String;

    fn from_str(s: &str) -> Result<MirrorKind, String> {
        MirrorKind::parse(s).ok_or_else(|| format!("{s:?} is not a kind: say mirror or cdn"))
    }
}

impl Mirror {
    /// Whether it can be reached over TLS (its base URL or its other one).
    pub fn is_https(&self) -> bool {
        self.https_url().is_some()
    }

    /// Its root over https, if it has one.
    pub fn https_url(&self) -> Option<&str> {
        std::iter::once(self.base_url.as_str())
            .chain(self.alt_url.as_deref())
            .find(|u| u.starts_with("https://"))
    }
}

/// What sentry last saw of a mirror as a whole.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MirrorHealth {
    /// It answered properly on its last check.
    pub healthy: bool,
    /// Unix seconds of the last check.
    pub checked_at: u64,
    /// Unix seconds when `healthy` last changed.
    pub since: u64,
    /// Why it is unhealthy (empty when healthy).
    pub error: String,
    /// How often it changed state recently (for damping flapping mirrors).
    pub flaps: u32,
    /// Time to answer the last base-URL check, in milliseconds (0: it did
    /// not answer, so it has no latency).
    pub latency_ms: u32,
    /// Measured download speed in bytes per second (0: not measured yet).
    pub throughput: u64,
    /// The kind of problem `error` reports, as sentry decided it (`None`:
    /// healthy, an unknown kind, or stored before sentry stored it: see
    /// [`MirrorHealth::problem`]).
    pub problem: Option<Problem>,
    /// What the last check found over IPv4 and over IPv6 apart.
    pub reaches: Reaches,
    /// What the last check found at its other-scheme URL ([`Mirror::alt_url`];
    /// unknown without one).
    pub alt: Reach,
    /// When its trace file says it last synced (Unix seconds; 0: unknown,
    /// or it has no trace file).
    pub synced_at: u64,
}

impl MirrorHealth {
    /// The kind of problem the mirror has: the one sentry stored, or for
    /// rows without one, what [`Problem::of`] reads in the error.
    pub fn problem(&self) -> Option<Problem> {
        self.problem.or_else(|| Problem::of(&self.error))
    }

    /// Changes of state within this window count as flapping.
    pub const FLAP_WINDOW_SECS: u64 = 6 * 3600;

    /// Selection weight after damping a flapping mirror: halved for every
    /// change beyond two within the window, down to a sixteenth.
    pub fn damped(&self, rating: u32, now: u64) -> u64 {
        let recent = now.saturating_sub(self.since) < Self::FLAP_WINDOW_SECS;
        let excess = if recent {
            self.flaps.saturating_sub(2).min(4)
        } else {
            0
        };
        (u64::from(rating) >> excess).max(u64::from(rating > 0))
    }

    /// Whether selection currently damps it.
    pub fn is_flapping(&self, now: u64) -> bool {
        self.damped(100, now) < 100
    }
}

impl Default for MirrorHealth {
    /// A mirror nobody has checked yet counts as healthy: it still gets no
    /// traffic until a check finds its files (`Availability::present`).
    fn default() -> Self {
        MirrorHealth {
            healthy: true,
            checked_at: 0,
            since: 0,
            error: String::new(),
            flaps: 0,
            latency_ms: 0,
            throughput: 0,
            problem: None,
            reaches: Reaches::default(),
            alt: Reach::Unknown,
            synced_at: 0,
        }
    }
}

/// Per (location, mirror): does the mirror serve the file.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Availability {
    /// The file is there (right size, right content as far as checked).
    pub present: bool,
    /// The mirror answered the last check of this file properly.
    pub healthy: bool,
    /// Unix seconds of the last check.
    pub checked_at: u64,
    /// What went wrong on the last check (empty if nothing).
    pub error: String,
}

impl Availability {
    /// Whether this (location, mirror) may receive downloads.
    pub fn serves(&self) -> bool {
        self.present && self.healthy
    }
}

/// A concrete file: a location with its language filled in, or a path from
/// a checksum file.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FileInfo {
    /// URL path from the mirror root, percent-encoded, starting with `/`.
    pub path: String,
    /// The location it belongs to.
    pub location: Option<LocationId>,
    /// The language that fills the location's `:lang`, if any.
    pub lang: Option<String>,
    /// Size in bytes, when known.
    pub size: Option<u64>,
    /// Lower-case hex digests, when known.
    pub md5: Option<String>,
    /// Lower-case hex SHA-1.
    pub sha1: Option<String>,
    /// Lower-case hex SHA-256.
    pub sha256: Option<String>,
    /// Lower-case hex SHA-512.
    pub sha512: Option<String>,
}

/// A stable name pointing at a product (`firefox-latest`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Alias {
    /// The alias as spelled by the operator.
    pub name: String,
    /// The product it points at.
    pub product: ProductId,
}

/// A group of countries with its own mirrors.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Region {
    /// Unique name.
    pub name: String,
    /// Percent of the region's traffic kept in-region (≥ 100 or < 0: all).
    pub throttle: i32,
    /// Region to try when traffic leaves this one.
    pub fallback: Option<String>,
    /// Whether traffic may finally fall back to the whole world.
    pub global_fallback: bool,
    /// ISO 3166 country codes (upper case).
    pub countries: Vec<String>,
}

/// What an admin account may do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// Everything.
    Admin,
    /// API writes to products, locations and aliases.
    Release,
    /// Read only.
    Viewer,
}

impl Role {
    /// The name used on the command line and in the database.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Release => "release",
            Role::Viewer => "viewer",
        }
    }

    /// Parses `admin`, `release` or `viewer`.
    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "admin" => Some(Role::Admin),
            "release" => Some(Role::Release),
            "viewer" => Some(Role::Viewer),
            _ => None,
        }
    }
}

/// An admin account.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct User {
    /// Unique login name.
    pub name: String,
    /// PHC string of an argon2id hash.
    pub password_hash: String,
    /// What it may do.
    pub role: Role,
    /// Unix seconds when it was added.
    pub created_at: u64,
}

/// One sentry check pass.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SentryRun {
    /// Sequence number.
    pub id: u64,
    /// `all`, `new`, `spot`, `hashes`, `mirror:NAME`.
    pub kind: String,
    /// Unix seconds.
    pub started_at: u64,
    /// Unix seconds (0 while running).
    pub ended_at: u64,
    /// Checks made.
    pub checks: u64,
    /// Checks that failed.
    pub failures: u64,
    /// Status changes it caused.
    pub changes: u64,
    /// Path of its HTML report, relative to the reports directory.
    pub report: String,
    /// The mirrors with a failed check in this run (down, missing or
    /// faulty files), by id, ascending.
    pub failed: Vec<MirrorId>,
}

/// An entry of the audit log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Event {
    /// Sequence number.
    pub id: u64,
    /// Unix seconds.
    pub at: u64,
    /// Who: `cli`, `admin:NAME`, `api:NAME`, `sentry`, `loader`.
    pub actor: String,
    /// What, e.g. `mirror.add`.
    pub action: String,
    /// Human-readable details.
    pub detail: String,
}

/// Downloads of one day, aggregated by the counters before a flush.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CountBatch {
    /// Days since the Unix epoch (UTC).
    pub day: u32,
    /// Downloads per product.
    pub products: Vec<(ProductId, u64)>,
    /// Downloads per location and language (empty language: none).
    pub locations: Vec<(LocationId, String, u64)>,
    /// Downloads per mirror.
    pub mirrors: Vec<(MirrorId, u64)>,
    /// Downloads per ISO country code (`--` when unknown).
    pub countries: Vec<(String, u64)>,
}

/// The locations whose decoded path template is that of one of `wanted`
/// (the `wanted` ones too): whose files [`files_known`] counts for them.
pub fn sharing_paths(locations: &[Location], wanted: &[LocationId]) -> Vec<LocationId> {
    let decode = crate::query::percent_decode;
    let templates: std::collections::HashSet<_> = locations
        .iter()
        .filter(|l| wanted.contains(&l.id))
        .map(|l| decode(&l.path))
        .collect();
    locations
        .iter()
        .filter(|l| templates.contains(&decode(&l.path)))
        .map(|l| l.id)
        .collect()
}

/// How many known files each of the `wanted` locations has. A file
/// belongs to its own location and to every other location with the same
/// path template whose product offers the file's language: products that
/// share paths (Mozilla's ssl-only twins) share their files (SPEC §2,
/// "File-path bouncing"). A file whose path no longer fits its location's
/// template belongs to nobody (it is not served either).
pub fn files_known(
    products: &[Product],
    locations: &[Location],
    files: &[FileInfo],
    wanted: &[LocationId],
) -> std::collections::HashMap<LocationId, usize> {
    use std::collections::HashMap;
    let decode = crate::query::percent_decode;
    let template: HashMap<LocationId, String> = locations
        .iter()
        .map(|l| (l.id, decode(&l.path).into_owned()))
        .collect();
    let mut sharing: HashMap<&str, Vec<&Location>> = HashMap::new();
    for l in locations.iter().filter(|l| wanted.contains(&l.id)) {
        sharing.entry(template[&l.id].as_str()).or_default().push(l);
    }
    let offers = |l: &Location, lang: &str| {
        !l.path.contains(LANG_PLACEHOLDER)
            || products
                .iter()
                .find(|p| p.id == l.product)
                .is_some_and(|p| {
                    p.languages.is_empty()
                        || p.languages.iter().any(|x| x.eq_ignore_ascii_case(lang))
                })
    };
    let mut out = HashMap::new();
    for f in files {
        let Some(own) = f.location.and_then(|l| template.get(&l)) else {
            continue;
        };
        let Some(owners) = sharing.get(own.as_str()) else {
            continue;
        };
        let lang = f.lang.as_deref().unwrap_or("");
        if own.replace(LANG_PLACEHOLDER, lang) != decode(&f.path) {
            continue;
        }
        for l in owners.iter().filter(|l| offers(l, lang)) {
            *out.entry(l.id).or_default() += 1;
        }
    }
    out
}

/// Who makes a change: recorded with it in the audit log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Actor {
    /// A `bouncer` command (local or through the control socket).
    Cli,
    /// An admin-page user.
    Admin(String),
    /// An API user.
    Api(String),
    /// The checker, recording what it found.
    Sentry,
    /// `bouncer demo`, building its network.
    Demo,
    /// Another program driving the library (a test, a benchmark).
    Program(&'static str),
}

impl Actor {
    /// Whether this is sentry (its changes do not wake sentry again).
    pub fn is_sentry(&self) -> bool {
        matches!(self, Actor::Sentry)
    }
}

impl std::fmt::Display for Actor {
    /// The audit log's name: `cli`, `admin:NAME`, `api:NAME`, `sentry`, …
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Actor::Cli => f.write_str("cli"),
            Actor::Admin(user) => write!(f, "admin:{user}"),
            Actor::Api(user) => write!(f, "api:{user}"),
            Actor::Sentry => f.write_str("sentry"),
            Actor::Demo => f.write_str("demo"),
            Actor::Program(name) => f.write_str(name),
        }
    }
}

/// Seconds since the Unix epoch.
pub fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Unix time in milliseconds.
pub fn now_millis() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// Days since the Unix epoch for a Unix time in seconds.
pub fn day_of(unix_secs: u64) -> u32 {
    (unix_secs / 86_400) as u32
}

/// `YYYY-MM-DD HH:MM:SS UTC` for a Unix time in seconds.
pub fn utc(unix_secs: u64) -> String {
    let (year, month, day) = civil(unix_secs);
    let s = unix_secs % 86_400;
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02} UTC",
        s / 3600,
        s / 60 % 60,
        s % 60
    )
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's
/// algorithm; `y` ≥ 1970).
pub fn days_from_civil(y: u32, m: u32, d: u32) -> u32 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y / 400;
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The (year, month 1–12, day 1–31) of a Unix time, UTC.
pub fn civil(unix_secs: u64) -> (i64, i64, i64) {
    // Days to a civil date (Howard Hinnant's algorithm, proleptic Gregorian).
    let days = (unix_secs / 86_400) as i64 + 719_468;
    let era = days.div_euclid(146_097);
    let doe = days.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    #[test]
    fn files_belong_to_every_product_sharing_their_path() {
        use super::fixtures::{location, product};
        use super::*;
        let products = [
            Product {
                ssl_only: true,
                ..product(1, "Firefox-SSL", &["de", "en-GB"])
            },
            product(2, "Firefox", &["en-GB"]),
            product(3, "Other", &[]),
        ];
        let locations = [
            location(1, 1, "osx", "/f/mac/:lang/Firefox%2039.0.dmg"),
            location(2, 2, "osx", "/f/mac/:lang/Firefox%2039.0.dmg"),
            location(3, 3, "osx", "/other.dmg"),
        ];
        let file = |path: &str, location: u64, lang: &str| FileInfo {
            path: path.into(),
            location: Some(LocationId(location)),
            lang: Some(lang.to_string()).filter(|l| !l.is_empty()),
            ..Default::default()
        };
        let files = [
            // Loaded into the ssl-only twin; Firefox has en-GB only.
            file("/f/mac/en-GB/Firefox%2039.0.dmg", 1, "en-GB"),
            file("/f/mac/de/Firefox 39.0.dmg", 1, "de"),
            // No longer fits its location: nobody's.
            file("/f/old/en-GB/x.dmg", 1, "en-GB"),
            file("/other.dmg", 3, ""),
        ];
        let all = [LocationId(1), LocationId(2), LocationId(3)];
        let known = files_known(&products, &locations, &files, &all);
        assert_eq!(known.get(&LocationId(1)), Some(&2));
        assert_eq!(known.get(&LocationId(2)), Some(&1));
        assert_eq!(known.get(&LocationId(3)), Some(&1));
        let only = files_known(&products, &locations, &files, &[LocationId(2)]);
        assert_eq!(only.len(), 1);
        assert_eq!(only.get(&LocationId(2)), Some(&1));
    }

    #[test]
    fn utc_dates() {
        assert_eq!(super::utc(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(super::utc(951_782_400), "2000-02-29 00:00:00 UTC");
        assert_eq!(super::utc(1_795_634_112), "2026-11-25 19:15:12 UTC");
    }
}

/// Plain values for unit tests elsewhere in the crate.
#[cfg(test)]
pub(crate) mod fixtures {
    use super::*;

    /// An active, public product.
    pub fn product(id: u64, name: &str, languages: &[&str]) -> Product {
        Product {
            id: ProductId(id),
            name: name.into(),
            ssl_only: false,
            public: true,
            active: true,
            checknow: false,
            priority: 0,
            languages: languages.iter().map(|l| l.to_string()).collect(),
            created_at: 0,
            max_lag_minutes: None,
        }
    }

    /// A location.
    pub fn location(id: u64, product: u64, os: &str, path: &str) -> Location {
        Location {
            id: LocationId(id),
            product: ProductId(product),
            os: os.into(),
            path: path.into(),
            created_at: 0,
        }
    }

    /// A region of `countries` that takes all its clients' traffic
    /// (throttle 100) and falls back to the world.
    pub fn region(name: &str, countries: &[&str]) -> Region {
        Region {
            name: name.into(),
            throttle: 100,
            fallback: None,
            global_fallback: true,
            countries: countries.iter().map(|c| c.to_string()).collect(),
        }
    }

    /// An active mirror named `m<id>`.
    pub fn mirror(id: u64, base_url: &str, rating: u32) -> Mirror {
        Mirror {
            id: MirrorId(id),
            name: format!("m{id}"),
            base_url: base_url.into(),
            rating,
            active: true,
            regions: vec![],
            contact: String::new(),
            created_at: 0,
            families: Families::Both,
            audience: Audience::default(),
            alt_url: None,
            trace: None,
            kind: MirrorKind::Mirror,
            maintenance: None,
        }
    }
}
