//! The loader: turns a checksum file into products' languages, locations
//! and files with their hashes. A release's file holds several kinds of
//! file per platform; each kind becomes its own product ([`kinds`]).
//! [`plan`] is pure (what would change, what exists, what conflicts, which
//! lines are unusable and why, which are no kind of file to offer);
//! [`apply`] writes a plan in one transaction. The CLI and the admin
//! upload share both steps.

mod describe;
mod kinds;
pub mod locales;
pub mod parse;
mod reason;

use std::collections::hash_map::Entry as HashEntry;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use crate::error::Thing;
use crate::error::{Error, Result};
use crate::model::{FileInfo, LANG_PLACEHOLDER, Product};
use crate::network::Network;
use crate::query::encode_raw_path;
use crate::store::{NewProduct, Snapshot};
pub use describe::{by_reason, common_template, ranges};
pub use kinds::MAX_KINDS;
pub use parse::{Entry, HashKind, Parsed, Problem, parse};
pub use reason::{Left, Reason};

/// Platform directories and the operating systems they hold, by default.
pub const DEFAULT_OS_MAP: &[(&str, &str)] = &[
    ("win32", "win"),
    ("win64", "win64"),
    ("win64-aarch64", "win64-aarch64"),
    ("mac", "osx"),
    ("linux-i686", "linux"),
    ("linux-x86_64", "linux64"),
    ("linux-aarch64", "linux64-aarch64"),
    ("android", "android"),
];

/// What to load, and how.
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// The main product: the installers go to it, every other kind of file
    /// to `PRODUCT-<kind>` (created if missing).
    pub product: String,
    /// Extra or overriding `directory=os` pairs; their operating systems
    /// are created when missing.
    pub os_map: Vec<(String, String)>,
    /// Only files whose path matches this glob (`*`, `?`) are used, all
    /// into the main product.
    pub matching: Option<String>,
    /// `--kind SUFFIX=GLOB`: files a glob matches form the kind `SUFFIX`
    /// (product `PRODUCT-SUFFIX`; an empty suffix is the main product).
    pub kinds: Vec<(String, String)>,
    /// Replace stored hashes and location paths that differ.
    pub force: bool,
    /// Directory on the mirrors that the checksum file's paths are relative
    /// to, e.g. `/firefox/releases/120.0`.
    pub prefix: String,
    /// Products the load creates are https-only (else as the main product).
    pub ssl_only: bool,
    /// Products the load creates are private (else as the main product).
    pub private: bool,
}

/// Parses `--os-map win32=win,mac=osx`.
pub fn parse_os_map(s: &str) -> Result<Vec<(String, String)>> {
    s.split(',')
        .filter(|p| !p.trim().is_empty())
        .map(|pair| {
            let (dir, os) = pair.split_once('=').ok_or_else(|| {
                Error::invalid(
                    "os map",
                    format!("{pair:?} is not DIR=OS (e.g. win32=win,mac=osx)"),
                )
            })?;
            Ok((dir.trim().to_string(), crate::validate::os(os)?))
        })
        .collect()
}

/// Parses `--kind` values (`SUFFIX=GLOB`; several in one value on lines
/// of their own, as the admin form gives them: globs may hold spaces).
pub fn parse_kinds<S: AsRef<str>>(values: &[S]) -> Result<Vec<(String, String)>> {
    let mut out = Vec::new();
    for value in values {
        for pair in value.as_ref().split(['\n', '\r']).map(str::trim) {
            if pair.is_empty() {
                continue;
            }
            let bad = |why: &str| {
                Error::invalid(
                    "kind",
                    format!("{pair:?} {why} (e.g. msi=*.msi, or complete=update/*.complete.mar)"),
                )
            };
            let (suffix, glob) = pair
                .split_once('=')
                .ok_or_else(|| bad("is not SUFFIX=GLOB"))?;
            let (suffix, glob) = (suffix.trim(), glob.trim());
            if glob.is_empty() {
                return Err(bad("has no glob"));
            }
            if !suffix
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-' || c == '_')
            {
                return Err(bad(
                    "has a suffix with other than letters, digits, '.', '-' and '_'",
                ));
            }
            out.push((suffix.to_string(), glob.to_string()));
        }
    }
    Ok(out)
}

/// How a planned item relates to what is stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    /// Not stored yet: will be added.
    New,
    /// Stored exactly so: nothing to do.
    Same,
    /// Stored with less (e.g. another hash kind): will be completed.
    Completed,
    /// Stored differently: kept unless forced.
    Conflict,
}

impl Status {
    /// Whether applying writes an item of this status (`force`: conflicts
    /// are replaced).
    pub fn written(self, force: bool) -> bool {
        match self {
            Status::New | Status::Completed => true,
            Status::Conflict => force,
            Status::Same => false,
        }
    }
}
/// A location the file implies.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlannedLocation {
    /// Operating system.
    pub os: String,
    /// Path template (percent-encoded, `:lang` where the language goes).
    pub path: String,
    /// Against the store.
    pub status: Status,
    /// The stored path, when it differs.
    pub stored: Option<String>,
    /// Languages seen for it.
    pub languages: usize,
}

/// Digests of one file, by kind.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Hashes {
    /// MD5.
    pub md5: Option<String>,
    /// SHA-1.
    pub sha1: Option<String>,
    /// SHA-256.
    pub sha256: Option<String>,
    /// SHA-512.
    pub sha512: Option<String>,
}

impl Hashes {
    fn slot(&mut self, kind: HashKind) -> &mut Option<String> {
        match kind {
            HashKind::Md5 => &mut self.md5,
            HashKind::Sha1 => &mut self.sha1,
            HashKind::Sha256 => &mut self.sha256,
            HashKind::Sha512 => &mut self.sha512,
        }
    }
}

/// A file the checksum file lists.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlannedFile {
    /// Path from a mirror's root, percent-encoded.
    pub path: String,
    /// Operating system of its location.
    pub os: String,
    /// Language filling the location's `:lang`.
    pub lang: Option<String>,
    /// Its digests.
    pub hashes: Hashes,
    /// Against the store.
    pub status: Status,
    /// For conflicts: what differs.
    pub detail: String,
}

/// A line that was not used, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Skipped {
    /// 1-based line number.
    pub line: usize,
    /// Why.
    pub reason: Reason,
}

/// A line of a file that is no kind of file to offer (a signature, a
/// checksum file, a source tarball, a platform directory without an
/// operating system): left out, not an error.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NotLoaded {
    /// 1-based line number.
    pub line: usize,
    /// Why.
    pub reason: Left,
    /// The path as listed.
    pub path: String,
}

/// A file as the checksum file lists it (one or more lines).
struct Listed {
    /// The path as listed (what globs match).
    raw: String,
    os: String,
    /// The location template the path fits.
    template: String,
    /// The template with [`kinds::PLATFORM`] for the platform directory.
    shape: String,
    /// The language (the main product's spelling) and as the path spells it.
    lang: Option<(String, String)>,
    hashes: Hashes,
    lines: Vec<usize>,
}

/// What loading a checksum file would do to one product.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ProductPlan {
    /// The product.
    pub product: String,
    /// `None` for the main product, else the kind it holds (`complete`).
    pub kind: Option<String>,
    /// The product does not exist yet and will be created.
    pub create: bool,
    /// Created https-only.
    pub ssl_only: bool,
    /// Created private.
    pub private: bool,
    /// Languages the product will gain.
    pub new_languages: Vec<String>,
    /// Its languages after the load (0: offered in every language).
    pub languages: usize,
    /// Locations implied, by OS.
    pub locations: Vec<PlannedLocation>,
    /// Files listed.
    pub files: Vec<PlannedFile>,
}

impl ProductPlan {
    /// Locations with this status.
    pub fn locations_with(&self, status: Status) -> usize {
        self.locations.iter().filter(|l| l.status == status).count()
    }

    /// Files with this status.
    pub fn files_with(&self, status: Status) -> usize {
        self.files.iter().filter(|f| f.status == status).count()
    }

    /// Whether applying it would change anything.
    pub fn changes_anything(&self, force: bool) -> bool {
        // A product is created only to hold what the file brings.
        (self.create && !self.locations.is_empty())
            || !self.new_languages.is_empty()
            || self.locations.iter().any(|l| l.status.written(force))
            || self.files.iter().any(|f| f.status.written(force))
    }
}

/// What loading a checksum file would do.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Plan {
    /// The main product's name.
    pub product: String,
    /// One per kind of file: the main product first, then by name.
    pub products: Vec<ProductPlan>,
    /// Operating systems `--os-map` names that will be created.
    pub new_oses: Vec<String>,
    /// Platform directories without an operating system.
    pub unmapped: Vec<String>,
    /// The `--os-map` pairs given (to suggest the whole option).
    pub os_map: Vec<(String, String)>,
    /// Lines that are no kind of file to offer.
    pub not_loaded: Vec<NotLoaded>,
    /// Lines that could not be used.
    pub skipped: Vec<Skipped>,
    /// Lines left out by `--match`.
    pub unmatched: usize,
    /// Conflicts will be overwritten.
    pub force: bool,
}

impl Plan {
    /// Whether applying it would change anything.
    pub fn changes_anything(&self) -> bool {
        self.products.iter().any(|p| p.changes_anything(self.force))
    }

    /// Locations of every product with this status.
    pub fn locations_with(&self, status: Status) -> usize {
        self.products.iter().map(|p| p.locations_with(status)).sum()
    }

    /// Files of every product with this status.
    pub fn files_with(&self, status: Status) -> usize {
        self.products.iter().map(|p| p.files_with(status)).sum()
    }

    /// Whether nothing in the file can be loaded at all.
    pub fn is_empty(&self) -> bool {
        self.products.is_empty()
    }

    /// The languages new to some product, each once, sorted.
    pub fn new_languages(&self) -> Vec<&str> {
        let all: BTreeSet<&str> = self
            .products
            .iter()
            .flat_map(|p| p.new_languages.iter().map(String::as_str))
            .collect();
        all.into_iter().collect()
    }

    /// The `--os-map` that maps every platform directory found, when some
    /// have no operating system.
    pub fn suggested_os_map(&self) -> Option<String> {
        if self.unmapped.is_empty() {
            return None;
        }
        let pairs: Vec<String> = self
            .os_map
            .iter()
            .map(|(d, o)| format!("{d}={o}"))
            .chain(self.unmapped.iter().map(|dir| {
                let os = crate::validate::os(dir).unwrap_or_else(|_| "OS".into());
                format!("{dir}={os}")
            }))
            .collect();
        Some(pairs.join(","))
    }
}

/// Whether `path` matches `glob` (`*` any run, `?` one character).
pub fn glob_match(glob: &str, path: &str) -> bool {
    let (g, p): (Vec<char>, Vec<char>) = (glob.chars().collect(), path.chars().collect());
    let (mut gi, mut pi, mut star, mut mark) = (0, 0, None, 0);
    while pi < p.len() {
        if gi < g.len() && (g[gi] == '?' || g[gi] == p[pi]) {
            gi += 1;
            pi += 1;
        } else if gi < g.len() && g[gi] == '*' {
            star = Some(gi);
            mark = pi;
            gi += 1;
        } else if let Some(s) = star {
            gi = s + 1;
            mark += 1;
            pi = mark;
        } else {
            return false;
        }
    }
    g[gi..].iter().all(|&c| c == '*')
}

/// Why a file is no kind of file to offer, from its name alone.
fn not_offered(name: &str) -> Option<Left> {
    let lower = name.to_ascii_lowercase();
    let ext = lower.rsplit_once('.').map_or("", |(_, e)| e);
    if matches!(ext, "asc" | "sig" | "gpg" | "sign" | "minisig" | "p7s") {
        Some(Left::Signature)
    } else if lower == "key"
        || (["md5", "sha", "b2"].iter().any(|p| lower.starts_with(p)) && lower.contains("sum"))
        || lower.ends_with("checksum")
        || lower.ends_with("checksums")
        || matches!(ext, "md5" | "sha1" | "sha256" | "sha512")
    {
        Some(Left::Checksums)
    } else if matches!(
        ext,
        "json" | "txt" | "xml" | "html" | "htm" | "log" | "yml" | "yaml" | "ini" | "toml" | "md"
    ) {
        Some(Left::Metadata)
    } else {
        None
    }
}

/// Whether a directory's name looks like a platform's.
fn platform_like(dir: &str) -> bool {
    const WORDS: &[&str] = &[
        "win", "mac", "osx", "linux", "android", "ios", "darwin", "freebsd", "openbsd", "netbsd",
        "x86", "x64", "amd64", "arm", "aarch64", "i386", "i686", "ppc", "riscv", "s390",
    ];
    dir.to_ascii_lowercase()
        .split(['-', '_', '.'])
        .any(|w| WORDS.iter().any(|p| w.starts_with(p)))
}

/// Works out what loading `parsed` would do: which kinds of file it holds,
/// and for the product of each what it adds, what exists and what
/// conflicts.
pub fn plan(s: &Snapshot, known: &[FileInfo], parsed: &Parsed, options: &Options) -> Result<Plan> {
    let main_name = crate::validate::name("product", &options.product)?;
    if options.matching.is_some() && !options.kinds.is_empty() {
        return Err(Error::invalid(
            "kind",
            "a match glob loads one kind of file into the product, and kinds name several: use one or the other".into(),
        ));
    }
    let main = s.product(&main_name);
    let os_map = OsMap::new(&options.os_map);
    let given: HashSet<&str> = options.os_map.iter().map(|(_, os)| os.as_str()).collect();
    let mut plan = Plan {
        product: main.map_or(main_name.clone(), |p| p.name.clone()),
        force: options.force,
        os_map: options.os_map.clone(),
        skipped: parsed
            .problems
            .iter()
            .map(|p| Skipped {
                line: p.line,
                reason: Reason::Unreadable(p.reason.clone()),
            })
            .collect(),
        ..Plan::default()
    };
    // Languages by lower-case spelling (the main product's first): one
    // lookup per path segment, whatever the number of languages.
    let main_langs: HashMap<String, &String> = languages_by_lower_case(main);
    let prefix = match options.prefix.trim_matches('/') {
        "" => String::new(),
        p => crate::validate::path(&format!("/{}", encode_raw_path(p).replace("%2F", "/")))?,
    };
    let lang_of = |seg: &str| -> Option<String> {
        main_langs
            .get(&seg.to_ascii_lowercase())
            .map(|l| (*l).clone())
            .or_else(|| locales::is_known(seg).then(|| seg.to_string()))
    };
    // Signatures and the like are loaded only when a kind names them.
    let named_kind = |path: &str| options.kinds.iter().any(|(_, g)| glob_match(g, path));

    let mut unmapped: BTreeSet<String> = BTreeSet::new();
    let mut per_file: HashMap<String, Listed> = HashMap::new();
    let mut valid: HashSet<String> = HashSet::new();
    for e in &parsed.entries {
        if let Some(glob) = &options.matching
            && !glob_match(glob, &e.path)
        {
            plan.unmatched += 1;
            continue;
        }
        let segments: Vec<&str> = e.path.split('/').collect();
        let name = segments.last().copied().unwrap_or_default();
        let not_loaded = |reason: Left| NotLoaded {
            line: e.line,
            reason,
            path: e.path.clone(),
        };
        if let Some(why) = not_offered(name).filter(|_| !named_kind(&e.path)) {
            plan.not_loaded.push(not_loaded(why));
            continue;
        }
        let dirs = &segments[..segments.len() - 1];
        let Some((os_at, os)) = dirs
            .iter()
            .enumerate()
            .find_map(|(i, seg)| os_map.get(seg).map(|os| (i, os)))
        else {
            // A directory named like a platform, or followed by a language,
            // is a platform without an operating system.
            let unknown = dirs.iter().enumerate().find(|(i, d)| {
                platform_like(d) || dirs.get(i + 1).is_some_and(|next| lang_of(next).is_some())
            });
            plan.not_loaded.push(match unknown {
                Some((_, dir)) => {
                    unmapped.insert(dir.to_string());
                    not_loaded(Left::Unmapped(dir.to_string()))
                }
                None => not_loaded(Left::NoPlatform),
            });
            continue;
        };
        // Operating systems `--os-map` names are created (those of the
        // locations planned, below).
        if !given.contains(os) && !s.oses.iter().any(|o| o == os) {
            plan.skipped.push(Skipped {
                line: e.line,
                reason: Reason::UnknownOs {
                    dir: segments[os_at].to_string(),
                    os: os.to_string(),
                },
            });
            continue;
        }
        // A file listed again (another digest kind) is placed already.
        let file_path = format!("{prefix}/{}", encode_raw_path(&e.path));
        let f = match per_file.entry(file_path) {
            HashEntry::Occupied(known) => known.into_mut(),
            HashEntry::Vacant(new) => {
                // The path rules hold for the file's own path too.
                let placed = place(e, &segments, os_at, os, &prefix, &lang_of, &mut valid)
                    .and_then(|listed| match crate::validate::path(new.key()) {
                        Ok(_) => Ok(listed),
                        Err(problem) => Err(problem.to_string()),
                    });
                match placed {
                    Ok(listed) => new.insert(listed),
                    Err(problem) => {
                        plan.skipped.push(Skipped {
                            line: e.line,
                            reason: Reason::BadPath(problem),
                        });
                        continue;
                    }
                }
            }
        };
        let slot = f.hashes.slot(e.kind);
        match slot {
            Some(h) if *h != e.hash => plan.skipped.push(Skipped {
                line: e.line,
                reason: Reason::DigestDiffers {
                    kind: e.kind.name(),
                    path: crate::error::excerpt(&e.path),
                    first: f.lines.first().copied().unwrap_or(0),
                },
            }),
            _ => {
                *slot = Some(e.hash.clone());
                f.lines.push(e.line);
            }
        }
    }
    plan.unmapped = unmapped.into_iter().collect();

    // Kinds of file: each a product.
    let mut files: Vec<(String, Listed)> = per_file.into_iter().collect();
    files.sort_by(|a, b| a.0.cmp(&b.0));
    // The main product's stored locations, and as shapes: the platform
    // directory of their OS blanked out.
    let stored: Vec<(&str, String)> = main
        .map(|p| {
            s.locations
                .iter()
                .filter(|l| l.product == p.id)
                .map(|l| (l.os.as_str(), shape_of(&l.path, &l.os, &os_map)))
                .collect()
        })
        .unwrap_or_default();
    let groups: Vec<kinds::Kind> = if options.matching.is_some() {
        vec![kinds::Kind {
            suffix: None,
            files: (0..files.len()).collect(),
        }]
    } else {
        let shaped: Vec<kinds::Shaped<'_>> = files
            .iter()
            .map(|(_, f)| kinds::Shaped {
                path: &f.raw,
                shape: &f.shape,
                os: &f.os,
            })
            .collect();
        let stored: Vec<(&str, &str)> = stored.iter().map(|(os, s)| (*os, s.as_str())).collect();
        kinds::infer(&shaped, &options.kinds, &stored).map_err(|kinds::TooManyKinds(n)| {
            Error::invalid(
                "checksum file",
                format!(
                    "its paths make {n} kinds of file, more than the {} products one load may create: it lists a whole tree, not a release; load the files of one release (a match glob), or name its kinds",
                    kinds::MAX_KINDS
                ),
            )
        })?
    };
    let against = Against {
        s,
        stored_files: known.iter().map(|f| (f.path.as_str(), f)).collect(),
        main,
        options,
    };
    let mut slots: Vec<Option<(String, Listed)>> = files.into_iter().map(Some).collect();
    for kind in groups {
        let listed: Vec<(String, Listed)> =
            kind.files.iter().filter_map(|&i| slots[i].take()).collect();
        // Kinds are named after the main product as it is stored.
        let name = match &kind.suffix {
            None => plan.product.clone(),
            Some(suffix) => {
                let name = format!("{}-{suffix}", plan.product);
                match crate::validate::name("product", &name) {
                    Ok(name) => name,
                    Err(e) => {
                        let reason = Reason::BadName {
                            product: name,
                            why: e.to_string(),
                        };
                        plan.skipped.extend(listed.iter().flat_map(|(_, f)| {
                            f.lines.iter().map(|&line| Skipped {
                                line,
                                reason: reason.clone(),
                            })
                        }));
                        continue;
                    }
                }
            }
        };
        let product = plan_product(&against, &name, kind.suffix, listed, &mut plan.skipped);
        // A kind whose every line was refused is no product to show.
        if !product.locations.is_empty() || !product.files.is_empty() {
            plan.products.push(product);
        }
    }
    plan.products
        .sort_by_cached_key(|p| (p.kind.is_some(), natural(&p.product)));
    // The operating systems of the planned locations that do not exist.
    let new_oses: BTreeSet<&str> = plan
        .products
        .iter()
        .flat_map(|p| &p.locations)
        .map(|l| l.os.as_str())
        .filter(|os| !s.oses.iter().any(|o| o == os))
        .collect();
    plan.new_oses = new_oses.into_iter().map(str::to_string).collect();
    plan.skipped.sort_by_key(|s| s.line);
    plan.not_loaded.sort_by_key(|s| s.line);
    Ok(plan)
}

/// Platform directories and their operating systems: the `--os-map` pairs
/// first, then the defaults; directories match in any case (`Win32/`).
struct OsMap<'a>(Vec<(&'a str, &'a str)>);

impl<'a> OsMap<'a> {
    fn new(given: &'a [(String, String)]) -> OsMap<'a> {
        OsMap(
            given
                .iter()
                .map(|(d, o)| (d.as_str(), o.as_str()))
                .chain(DEFAULT_OS_MAP.iter().copied())
                .collect(),
        )
    }

    /// The operating system of a platform directory.
    fn get(&self, dir: &str) -> Option<&'a str> {
        self.0
            .iter()
            .find(|(d, _)| d.eq_ignore_ascii_case(dir))
            .map(|(_, os)| *os)
    }
}

/// A stored location's template as a shape: its OS's platform directory
/// (by the map) blanked out.
fn shape_of(template: &str, os: &str, os_map: &OsMap<'_>) -> String {
    let mut done = false;
    template
        .split('/')
        .map(|seg| {
            if !done && os_map.get(seg) == Some(os) {
                done = true;
                kinds::PLATFORM
            } else {
                seg
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// A product's languages by their lower-case spelling.
fn languages_by_lower_case(product: Option<&Product>) -> HashMap<String, &String> {
    product
        .map(|p| {
            p.languages
                .iter()
                .map(|l| (l.to_ascii_lowercase(), l))
                .collect()
        })
        .unwrap_or_default()
}

/// A file placed: its language, location template and shape (the template
/// with the platform directory blanked out). `valid` are the templates
/// found to keep the path rules already (a release has a few hundred).
fn place(
    e: &Entry,
    segments: &[&str],
    os_at: usize,
    os: &str,
    prefix: &str,
    lang_of: &impl Fn(&str) -> Option<String>,
    valid: &mut HashSet<String>,
) -> std::result::Result<Listed, String> {
    let name = segments.last().copied().unwrap_or_default();
    // The language: a locale-shaped segment, preferably after the
    // platform; or a file named after one (`xpi/de.xpi`).
    let lang_at = segments
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != os_at)
        .filter_map(|(i, seg)| lang_of(seg).map(|l| (i, l, seg.len())))
        .min_by_key(|(i, ..)| (*i < os_at, *i))
        .or_else(|| {
            let (stem, _) = name.split_once('.')?;
            lang_of(stem).map(|l| (segments.len() - 1, l, stem.len()))
        });
    let mut template = prefix.to_string();
    let mut shape = prefix.to_string();
    for (i, seg) in segments.iter().enumerate() {
        let encoded = match &lang_at {
            Some((at, _, len)) if *at == i => {
                format!("{LANG_PLACEHOLDER}{}", encode_raw_path(&seg[*len..]))
            }
            _ => encode_raw_path(seg),
        };
        template.push('/');
        template.push_str(&encoded);
        shape.push('/');
        shape.push_str(if i == os_at {
            kinds::PLATFORM
        } else {
            &encoded
        });
    }
    // The path rules every entry point shares (a length cap, no segment a
    // server takes for '..', such as `..;`): a line that breaks them is
    // skipped, not the whole load refused.
    if !valid.contains(&template) {
        crate::validate::path(&template).map_err(|e| e.to_string())?;
        valid.insert(template.clone());
    }
    Ok(Listed {
        raw: e.path.clone(),
        os: os.to_string(),
        template,
        shape,
        lang: lang_at.map(|(at, l, len)| (l, segments[at][..len].to_string())),
        hashes: Hashes::default(),
        lines: Vec::new(),
    })
}

/// A sort key that orders the numbers in a name by value
/// (`partial-99.0` before `partial-100.0`).
fn natural(name: &str) -> Vec<(String, u64)> {
    let mut out = Vec::new();
    let mut rest = name;
    while !rest.is_empty() {
        let text_len = rest
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len());
        let (text, tail) = rest.split_at(text_len);
        let digits_len = tail
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(tail.len());
        let (digits, tail) = tail.split_at(digits_len);
        out.push((
            text.to_ascii_lowercase(),
            digits.parse().unwrap_or(u64::MAX),
        ));
        rest = tail;
    }
    out
}

/// What each product of a plan is planned against.
struct Against<'a> {
    s: &'a Snapshot,
    /// The stored files by path.
    stored_files: HashMap<&'a str, &'a FileInfo>,
    /// The main product, when it exists.
    main: Option<&'a Product>,
    options: &'a Options,
}

/// One product's part of a plan: its locations (one per OS), its files
/// against what is stored, its languages.
fn plan_product(
    against: &Against<'_>,
    name: &str,
    kind: Option<String>,
    files: Vec<(String, Listed)>,
    skipped: &mut Vec<Skipped>,
) -> ProductPlan {
    let Against {
        s,
        stored_files,
        main,
        options,
    } = against;
    let (s, main) = (*s, *main);
    let product = s.product(name);
    // Its stored locations by OS: one lookup per file.
    let stored: HashMap<&str, &crate::model::Location> = product
        .map(|p| {
            s.locations
                .iter()
                .filter(|l| l.product == p.id)
                .map(|l| (l.os.as_str(), l))
                .collect()
        })
        .unwrap_or_default();
    let stored_location = |os: &str| stored.get(os).copied();
    // Languages of this product by lower-case spelling.
    let own: HashMap<String, &String> = languages_by_lower_case(product);
    let mut plan = ProductPlan {
        product: product.map_or(name.to_string(), |p| p.name.clone()),
        kind,
        create: product.is_none(),
        ssl_only: options.ssl_only || main.is_some_and(|m| m.ssl_only),
        private: options.private || main.is_some_and(|m| !m.public),
        ..ProductPlan::default()
    };

    // One location per OS: several kinds of file for one OS (after --match
    // or --kind) are reported, unless the stored location chooses one.
    struct Group {
        langs: BTreeSet<String>,
        lines: Vec<usize>,
    }
    let mut by_os: BTreeMap<&str, BTreeMap<&str, Group>> = BTreeMap::new();
    for (_, f) in &files {
        let g = by_os
            .entry(&f.os)
            .or_default()
            .entry(&f.template)
            .or_insert_with(|| Group {
                langs: BTreeSet::new(),
                lines: Vec::new(),
            });
        if let Some((l, _)) = &f.lang {
            g.langs.insert(
                own.get(&l.to_ascii_lowercase())
                    .map_or(l.clone(), |l| (*l).clone()),
            );
        }
        g.lines.extend(&f.lines);
    }
    let mut chosen: HashMap<String, String> = HashMap::new();
    let mut langs_seen: BTreeSet<String> = BTreeSet::new();
    for (os, candidates) in by_os {
        let mut candidates: Vec<(&str, Group)> = candidates.into_iter().collect();
        if candidates.len() > 1 {
            let stored = stored_location(os).map(|l| l.path.as_str());
            if let Some(i) = candidates.iter().position(|(t, _)| Some(*t) == stored) {
                let keep = candidates.swap_remove(i);
                for (t, g) in candidates {
                    for line in g.lines {
                        skipped.push(Skipped {
                            line,
                            reason: Reason::OtherKind {
                                product: plan.product.clone(),
                                os: os.to_string(),
                                template: t.to_string(),
                            },
                        });
                    }
                }
                candidates = vec![keep];
            } else {
                let names: Vec<&str> = candidates.iter().map(|(t, _)| *t).collect();
                let reason = Reason::SeveralKinds {
                    product: plan.product.clone(),
                    os: os.to_string(),
                    templates: describe::examples(names.into_iter(), 3),
                };
                for (_, g) in candidates {
                    for line in g.lines {
                        skipped.push(Skipped {
                            line,
                            reason: reason.clone(),
                        });
                    }
                }
                continue;
            }
        }
        let (template, g) = candidates.remove(0);
        let (status, stored) = match stored_location(os) {
            None => (Status::New, None),
            Some(l) if l.path == template => (Status::Same, None),
            Some(l) => (Status::Conflict, Some(l.path.clone())),
        };
        langs_seen.extend(g.langs.iter().cloned());
        plan.locations.push(PlannedLocation {
            os: os.to_string(),
            path: template.to_string(),
            status,
            stored,
            languages: g.langs.len(),
        });
        chosen.insert(os.to_string(), template.to_string());
    }

    // Files of the chosen locations, against what is stored.
    let conflicting: HashMap<&str, &str> = plan
        .locations
        .iter()
        .filter(|l| l.status == Status::Conflict && !options.force)
        .filter_map(|l| Some((l.os.as_str(), l.stored.as_deref()?)))
        .collect();
    let mut unfit = Vec::new();
    for (path, listed) in files {
        let Listed {
            os,
            template,
            lang,
            hashes,
            lines,
            ..
        } = listed;
        // Lines of a kind of file that was not chosen are reported above.
        if chosen.get(&os) != Some(&template) {
            continue;
        }
        let lang = lang.map(|(ours, theirs)| {
            let ours = own
                .get(&ours.to_ascii_lowercase())
                .map_or(ours, |l| (*l).clone());
            (ours, theirs)
        });
        let reason = if let Some(stored) = conflicting.get(os.as_str()) {
            Some(Reason::StoredLocation {
                product: plan.product.clone(),
                os: os.clone(),
                stored: stored.to_string(),
            })
        } else {
            match &lang {
                Some((ours, theirs)) if ours != theirs => Some(Reason::Spelling {
                    theirs: theirs.clone(),
                    ours: ours.clone(),
                }),
                _ => None,
            }
        };
        if let Some(reason) = reason {
            unfit.extend(lines.into_iter().map(|line| Skipped {
                line,
                reason: reason.clone(),
            }));
            continue;
        }
        let lang = lang.map(|(ours, _)| ours);
        // A file is one row: listed under another product's location, it
        // would move (a conflict, replaced only when forced).
        let own = stored_location(&os).map(|l| l.id);
        let (status, detail) = match stored_files.get(path.as_str()) {
            None => (Status::New, String::new()),
            Some(old) if old.location.is_some() && old.location != own => {
                let owner = s
                    .locations
                    .iter()
                    .find(|l| Some(l.id) == old.location)
                    .and_then(|l| Some((s.product_by_id(l.product)?.name.as_str(), &l.os)));
                (
                    Status::Conflict,
                    match owner {
                        Some((product, os)) => format!("stored as a file of {product} for {os}"),
                        None => "stored as a file of another location".into(),
                    },
                )
            }
            Some(old) => compare(old, &hashes),
        };
        plan.files.push(PlannedFile {
            path,
            os,
            lang,
            hashes,
            status,
            detail,
        });
    }
    skipped.extend(unfit);

    // Languages: a new product takes those seen (or every language, as the
    // main product when it has no list); a product with a list gains the
    // missing ones; a product offered in every language stays so.
    let every = |p: &Product| p.languages.is_empty();
    plan.new_languages = match product {
        None if main.is_some_and(every) && plan.kind.is_some() => Vec::new(),
        None => langs_seen.into_iter().collect(),
        Some(p) if every(p) => Vec::new(),
        Some(_) => langs_seen
            .into_iter()
            .filter(|l| !own.contains_key(&l.to_ascii_lowercase()))
            .collect(),
    };
    plan.languages = product.map_or(0, |p| p.languages.len()) + plan.new_languages.len();
    plan
}

fn compare(old: &FileInfo, new: &Hashes) -> (Status, String) {
    let pairs = [
        ("md5", &old.md5, &new.md5),
        ("sha1", &old.sha1, &new.sha1),
        ("sha256", &old.sha256, &new.sha256),
        ("sha512", &old.sha512, &new.sha512),
    ];
    let mut completed = false;
    for (name, old, new) in pairs {
        match (old, new) {
            (Some(o), Some(n)) if o != n => {
                return (
                    Status::Conflict,
                    format!("stored {name} {o}, file says {n}"),
                );
            }
            (None, Some(_)) => completed = true,
            _ => {}
        }
    }
    if completed {
        (Status::Completed, String::new())
    } else {
        (Status::Same, String::new())
    }
}

/// What [`apply`] did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Applied {
    /// Operating systems created.
    pub oses: usize,
    /// Products created.
    pub products: usize,
    /// Locations added (or replaced with `--force`).
    pub locations: usize,
    /// Files added or updated.
    pub files: usize,
    /// Languages added to some product (each counted once).
    pub languages: usize,
}

/// Writes `plan` in one transaction (all or nothing): the operating
/// systems, every product it creates or completes, their locations and
/// files; marks each changed product for sentry's next `--new` check,
/// records an audit event, and publishes the new index.
pub fn apply(network: &Network, plan: &Plan, actor: &crate::model::Actor) -> Result<Applied> {
    if !plan.changes_anything() {
        return Ok(Applied::default());
    }
    network.write(actor, |tx| {
        let mut done = Applied::default();
        for os in &plan.new_oses {
            tx.os_add(os)?;
            done.oses += 1;
        }
        let mut changed = Vec::new();
        let mut languages = BTreeSet::new();
        for p in plan
            .products
            .iter()
            .filter(|p| p.changes_anything(plan.force))
        {
            apply_product(tx, p, plan.force, &mut done)?;
            changed.push(p.product.as_str());
            languages.extend(&p.new_languages);
        }
        done.languages = languages.len();
        let what = match changed.as_slice() {
            [one] => one.to_string(),
            [first, rest @ ..] => format!("{first} and {} more products", rest.len()),
            [] => String::new(),
        };
        tx.record(
            "loader.apply",
            format!(
                "{what}: {}{} languages, {} locations, {} files added or updated",
                if done.oses > 0 {
                    format!("{} operating systems, ", done.oses)
                } else {
                    String::new()
                },
                done.languages,
                done.locations,
                done.files
            ),
        )?;
        Ok(done)
    })
}

fn apply_product(
    tx: &mut crate::store::Tx,
    plan: &ProductPlan,
    force: bool,
    done: &mut Applied,
) -> Result<()> {
    if plan.create {
        tx.product_add(NewProduct {
            name: plan.product.clone(),
            languages: plan.new_languages.clone(),
            ssl_only: plan.ssl_only,
            private: plan.private,
        })?;
        done.products += 1;
    } else if !plan.new_languages.is_empty() {
        tx.product_update(&plan.product, |p| {
            p.languages.extend(plan.new_languages.iter().cloned())
        })?;
    }
    let mut location_ids = HashMap::new();
    for l in &plan.locations {
        let location = match l.status {
            Status::New => {
                done.locations += 1;
                tx.location_add(&plan.product, &l.os, &l.path)?
            }
            Status::Conflict if force => {
                done.locations += 1;
                tx.location_set_path(&plan.product, &l.os, &l.path)?
            }
            _ => tx.location(&plan.product, &l.os)?.ok_or_else(|| {
                Error::not_found(Thing::Location, &format!("{} for {}", plan.product, l.os))
            })?,
        };
        location_ids.insert(l.os.as_str(), location.id);
    }
    let written: Vec<_> = plan
        .files
        .iter()
        .filter(|f| f.status.written(force))
        .collect();
    let paths: Vec<String> = written.iter().map(|f| f.path.clone()).collect();
    let mut known = tx.files_at(&paths)?;
    let mut files = Vec::with_capacity(written.len());
    for f in written {
        let old = known.remove(&f.path).unwrap_or_default();
        let keep = |new: &Option<String>, old: Option<String>| {
            if force {
                new.clone().or(old)
            } else {
                old.or_else(|| new.clone())
            }
        };
        files.push(FileInfo {
            path: f.path.clone(),
            location: location_ids.get(f.os.as_str()).copied(),
            lang: f.lang.clone(),
            size: old.size,
            md5: keep(&f.hashes.md5, old.md5),
            sha1: keep(&f.hashes.sha1, old.sha1),
            sha256: keep(&f.hashes.sha256, old.sha256),
            sha512: keep(&f.hashes.sha512, old.sha512),
        });
    }
    tx.files_put(&files)?;
    done.files += files.len();
    // New files: sentry checks them on its next `--new` pass.
    tx.product_update(&plan.product, |p| p.checknow = true)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_ranges() {
        assert_eq!(ranges(&[1, 2, 3, 7, 9, 10]), "1-3, 7, 9-10");
        assert_eq!(ranges(&[4]), "4");
    }

    #[test]
    fn globs() {
        assert!(glob_match("*.exe", "win32/de/Firefox Setup 1.0.exe"));
        assert!(glob_match("win??/*", "win32/x"));
        assert!(!glob_match("*.exe", "win32/de/x.msi"));
        assert!(glob_match("*", ""));
        assert!(glob_match("a*b*c", "aXbYc") && !glob_match("a*b*c", "aXbY"));
    }

    /// The products a file's paths make, with each product's kind and its
    /// locations (OS → template), planned against an empty network.
    fn kinds_of(paths: &[&str], options: Options) -> Vec<(String, Vec<(String, String)>)> {
        let s = Snapshot {
            oses: DEFAULT_OS_MAP
                .iter()
                .map(|(_, os)| os.to_string())
                .collect(),
            ..Snapshot::default()
        };
        let text: String = paths
            .iter()
            .map(|p| format!("{}  {p}\n", "a".repeat(64)))
            .collect();
        let plan = plan(&s, &[], &parse(text.as_bytes()), &options).unwrap();
        assert!(plan.skipped.is_empty(), "{}", plan.describe());
        plan.products
            .iter()
            .map(|p| {
                let locations = p
                    .locations
                    .iter()
                    .map(|l| (l.os.clone(), l.path.clone()))
                    .collect();
                (p.product.clone(), locations)
            })
            .collect()
    }

    fn names(kinds: &[(String, Vec<(String, String)>)]) -> Vec<&str> {
        kinds.iter().map(|(p, _)| p.as_str()).collect()
    }

    fn fx() -> Options {
        Options {
            product: "firefox-120.0".into(),
            ..Options::default()
        }
    }

    const FIREFOX: &[&str] = &[
        "KEY",
        "SHA256SUMS.asc",
        "source/firefox-120.0.source.tar.xz",
        "jsshell/jsshell-linux-x86_64.zip",
        "win32/de/Firefox Setup 120.0.exe",
        "win32/de/Firefox Setup 120.0.msi",
        "win32/de/Firefox Installer.exe",
        "win32/fr/Firefox Setup 120.0.exe",
        "win32/fr/Firefox Setup 120.0.msi",
        "win32/fr/Firefox Installer.exe",
        "win64/de/Firefox Setup 120.0.exe",
        "win64/de/Firefox Setup 120.0.msi",
        "win64/de/Firefox Setup 120.0.msix",
        "mac/de/Firefox 120.0.dmg",
        "mac/de/Firefox 120.0.pkg",
        "mac/ja-JP-mac/Firefox 120.0.dmg",
        "mac/ja-JP-mac/Firefox 120.0.pkg",
        "linux-x86_64/de/firefox-120.0.tar.bz2",
        "linux-x86_64/de/firefox-120.0.tar.bz2.asc",
        "linux-x86_64/xpi/de.xpi",
        "linux-x86_64/xpi/fr.xpi",
        "update/win32/de/firefox-120.0.complete.mar",
        "update/win32/de/firefox-119.0-120.0.partial.mar",
        "update/win32/de/firefox-118.0.2-120.0.partial.mar",
        "update/win64/de/firefox-120.0.complete.mar",
        "update/win64/de/firefox-119.0-120.0.partial.mar",
        "update/mac/ja-JP-mac/firefox-120.0.complete.mar",
        "update/linux-x86_64/de/firefox-119.0-120.0.partial.mar",
    ];

    #[test]
    fn firefox_kinds() {
        let kinds = kinds_of(FIREFOX, fx());
        assert_eq!(
            names(&kinds),
            [
                "firefox-120.0",
                "firefox-120.0-complete",
                "firefox-120.0-msi",
                "firefox-120.0-msix",
                "firefox-120.0-partial-118.0.2",
                "firefox-120.0-partial-119.0",
                "firefox-120.0-pkg",
                "firefox-120.0-stub",
                "firefox-120.0-xpi",
            ]
        );
        let of = |p: &str| &kinds.iter().find(|(n, _)| n == p).unwrap().1;
        let loc = |os: &str, path: &str| (os.to_string(), path.to_string());
        assert_eq!(
            of("firefox-120.0"),
            &[
                loc("linux64", "/linux-x86_64/:lang/firefox-120.0.tar.bz2"),
                loc("osx", "/mac/:lang/Firefox%20120.0.dmg"),
                loc("win", "/win32/:lang/Firefox%20Setup%20120.0.exe"),
                loc("win64", "/win64/:lang/Firefox%20Setup%20120.0.exe"),
            ]
        );
        assert_eq!(
            of("firefox-120.0-partial-119.0"),
            &[
                loc(
                    "linux64",
                    "/update/linux-x86_64/:lang/firefox-119.0-120.0.partial.mar"
                ),
                loc("win", "/update/win32/:lang/firefox-119.0-120.0.partial.mar"),
                loc(
                    "win64",
                    "/update/win64/:lang/firefox-119.0-120.0.partial.mar"
                ),
            ]
        );
        assert_eq!(
            of("firefox-120.0-stub"),
            &[loc("win", "/win32/:lang/Firefox%20Installer.exe")]
        );
        // A language pack named after its language.
        assert_eq!(
            of("firefox-120.0-xpi"),
            &[loc("linux64", "/linux-x86_64/xpi/:lang.xpi")]
        );
    }

    #[test]
    fn a_stub_beside_the_installer_of_one_platform() {
        let paths = [
            "win32/de/Firefox Installer.exe",
            "win32/de/Firefox Setup 120.0.exe",
            "win32/fr/Firefox Installer.exe",
            "win32/fr/Firefox Setup 120.0.exe",
        ];
        let kinds = kinds_of(&paths, fx());
        let loc = |path: &str| vec![("win".to_string(), path.to_string())];
        assert_eq!(
            kinds,
            [
                (
                    "firefox-120.0".to_string(),
                    loc("/win32/:lang/Firefox%20Setup%20120.0.exe")
                ),
                (
                    "firefox-120.0-stub".to_string(),
                    loc("/win32/:lang/Firefox%20Installer.exe")
                ),
            ]
        );
    }

    /// A network where firefox-120.0 has its Windows installer location.
    fn loaded() -> Snapshot {
        use crate::model::fixtures;
        Snapshot {
            oses: DEFAULT_OS_MAP
                .iter()
                .map(|(_, os)| os.to_string())
                .collect(),
            products: vec![fixtures::product(1, "firefox-120.0", &["de", "fr"])],
            locations: vec![fixtures::location(
                1,
                1,
                "win",
                "/win32/:lang/Firefox%20Setup%20120.0.exe",
            )],
            ..Snapshot::default()
        }
    }

    fn planned(s: &Snapshot, known: &[FileInfo], paths: &[&str], options: &Options) -> Plan {
        let text: String = paths
            .iter()
            .map(|p| format!("{}  {p}\n", "a".repeat(64)))
            .collect();
        plan(s, known, &parse(text.as_bytes()), options).unwrap()
    }

    #[test]
    fn a_later_file_of_one_kind_is_that_kind_not_the_product() {
        let s = loaded();
        for (path, product) in [
            ("win32/de/Firefox Setup 120.0.msi", "firefox-120.0-msi"),
            ("win32/de/Firefox Installer.exe", "firefox-120.0-stub"),
            ("mac/de/Firefox 120.0.pkg", "firefox-120.0-pkg"),
            ("linux-x86_64/xpi/de.xpi", "firefox-120.0-xpi"),
            ("win32/de/Firefox Setup 120.0.exe", "firefox-120.0"),
        ] {
            let p = planned(&s, &[], &[path], &fx());
            let names: Vec<&str> = p.products.iter().map(|p| p.product.as_str()).collect();
            assert_eq!(names, [product], "{path}: {}", p.describe());
            assert_eq!(p.locations_with(Status::Conflict), 0, "{}", p.describe());
        }
    }

    #[test]
    fn odd_files_cost_their_lines_not_the_load() {
        // A kind whose name would be too long: its lines are skipped.
        let long = format!("win32/de/{} 1.exe", "x".repeat(250));
        let p = planned(
            &loaded(),
            &[],
            &["win32/de/Firefox Setup 120.0.exe", &long],
            &fx(),
        );
        assert_eq!(p.products.len(), 2, "{}", p.describe());
        assert!(
            p.skipped.is_empty(),
            "the suffix is cut short: {}",
            p.describe()
        );
        // A main product's name so long no kind's fits: those lines only.
        let p = planned(
            &loaded(),
            &[],
            &[
                "win32/de/Firefox Setup 120.0.exe",
                "win32/de/Firefox Setup 120.0.msi",
            ],
            &Options {
                product: "p".repeat(198),
                ..Options::default()
            },
        );
        assert_eq!(p.products.len(), 1, "{}", p.describe());
        assert_eq!(p.skipped.len(), 1, "{}", p.describe());
        assert!(matches!(p.skipped[0].reason, Reason::BadName { .. }));
        // A tree of a thousand kinds is refused as a whole, with why.
        let many: Vec<String> = (0..1000).map(|i| format!("win32/f-{i}.bin")).collect();
        let many: Vec<&str> = many.iter().map(String::as_str).collect();
        let text: String = many
            .iter()
            .map(|p| format!("{}  {p}\n", "a".repeat(64)))
            .collect();
        let err = plan(&loaded(), &[], &parse(text.as_bytes()), &fx()).unwrap_err();
        assert!(
            err.to_string().contains("more than the 500 products"),
            "{err}"
        );
        // --match loads no signature.
        let p = planned(
            &loaded(),
            &[],
            &[
                "linux-x86_64/de/firefox-120.0.tar.bz2",
                "linux-x86_64/de/firefox-120.0.tar.bz2.asc",
            ],
            &Options {
                matching: Some("linux-x86_64/*".into()),
                ..fx()
            },
        );
        assert_eq!(p.files_with(Status::New), 1, "{}", p.describe());
        assert_eq!(p.not_loaded[0].reason, Left::Signature);
    }

    #[test]
    fn a_file_stored_under_another_product_is_a_conflict() {
        let s = loaded();
        let known = [FileInfo {
            path: "/win32/de/Firefox%20Setup%20120.0.msi".into(),
            location: Some(crate::model::LocationId(1)),
            lang: Some("de".into()),
            ..FileInfo::default()
        }];
        let p = planned(&s, &known, &["win32/de/Firefox Setup 120.0.msi"], &fx());
        let f = &p.products[0].files[0];
        assert_eq!(f.status, Status::Conflict, "{}", p.describe());
        assert_eq!(f.detail, "stored as a file of firefox-120.0 for win");
    }

    #[test]
    fn admin_reasons_name_the_form_not_flags() {
        let reasons = [
            Reason::UnknownOs {
                dir: "linux-i686".into(),
                os: "linux".into(),
            },
            Reason::OtherKind {
                product: "p".into(),
                os: "win".into(),
                template: "/t".into(),
            },
            Reason::SeveralKinds {
                product: "p".into(),
                os: "win".into(),
                templates: "/a, /b".into(),
            },
            Reason::StoredLocation {
                product: "p".into(),
                os: "win".into(),
                stored: "/s".into(),
            },
        ];
        for r in reasons {
            assert!(r.to_string().contains("--"), "{r}");
            assert!(
                !r.web().contains("--") && !r.web().contains('`'),
                "{}",
                r.web()
            );
        }
    }

    #[test]
    fn a_linux_distribution_tree() {
        let paths = [
            "amd64/iso-cd/debian-12.2.0-amd64-netinst.iso",
            "amd64/iso-cd/SHA256SUMS.sign",
            "amd64/iso-dvd/debian-12.2.0-amd64-DVD-1.iso",
            "arm64/iso-cd/debian-12.2.0-arm64-netinst.iso",
            "arm64/iso-dvd/debian-12.2.0-arm64-DVD-1.iso",
            "x86_64/Fedora-Workstation-39-1.5-x86_64-CHECKSUM",
        ];
        let kinds = kinds_of(
            &paths,
            Options {
                product: "debian-12.2.0".into(),
                os_map: parse_os_map("amd64=linux64,arm64=linux64-aarch64").unwrap(),
                ..Options::default()
            },
        );
        let loc = |os: &str, path: &str| (os.to_string(), path.to_string());
        assert_eq!(
            kinds,
            [
                (
                    "debian-12.2.0".to_string(),
                    vec![
                        loc("linux64", "/amd64/iso-cd/debian-12.2.0-amd64-netinst.iso"),
                        loc(
                            "linux64-aarch64",
                            "/arm64/iso-cd/debian-12.2.0-arm64-netinst.iso"
                        ),
                    ]
                ),
                (
                    "debian-12.2.0-dvd".to_string(),
                    vec![
                        loc("linux64", "/amd64/iso-dvd/debian-12.2.0-amd64-DVD-1.iso"),
                        loc(
                            "linux64-aarch64",
                            "/arm64/iso-dvd/debian-12.2.0-arm64-DVD-1.iso"
                        ),
                    ]
                ),
            ]
        );
    }

    #[test]
    fn thunderbird_kinds() {
        let paths = [
            "win64/en-US/Thunderbird Setup 115.5.0.exe",
            "win64/en-US/Thunderbird Setup 115.5.0.msi",
            "mac/en-US/Thunderbird 115.5.0.dmg",
            "linux-x86_64/en-US/thunderbird-115.5.0.tar.bz2",
            "linux-i686/en-US/thunderbird-115.5.0.tar.bz2",
            "update/win64/en-US/thunderbird-115.5.0.complete.mar",
            "update/win64/en-US/thunderbird-115.4.3-115.5.0.partial.mar",
        ];
        let kinds = kinds_of(
            &paths,
            Options {
                product: "thunderbird-115.5.0".into(),
                ..Options::default()
            },
        );
        assert_eq!(
            names(&kinds),
            [
                "thunderbird-115.5.0",
                "thunderbird-115.5.0-complete",
                "thunderbird-115.5.0-msi",
                "thunderbird-115.5.0-partial-115.4.3",
            ]
        );
        assert_eq!(kinds[0].1.len(), 4, "{kinds:?}");
    }

    #[test]
    fn a_project_without_languages() {
        let paths = [
            "linux-x86_64/tool-2.1-linux-x86_64.tar.gz",
            "win64/tool-2.1-win64.zip",
            "win64/tool-2.1-setup.exe",
            "tool-2.1.tar.gz",
        ];
        let kinds = kinds_of(
            &paths,
            Options {
                product: "tool-2.1".into(),
                ..Options::default()
            },
        );
        let loc = |os: &str, path: &str| (os.to_string(), path.to_string());
        assert_eq!(
            kinds,
            [
                (
                    "tool-2.1".to_string(),
                    vec![
                        loc("linux64", "/linux-x86_64/tool-2.1-linux-x86_64.tar.gz"),
                        loc("win64", "/win64/tool-2.1-setup.exe"),
                    ]
                ),
                (
                    "tool-2.1-zip".to_string(),
                    vec![loc("win64", "/win64/tool-2.1-win64.zip")]
                ),
            ]
        );
    }

    #[test]
    fn spaces_and_percent_twenty_in_paths() {
        let paths = [
            "win32/de/My App Setup 2.0.exe",
            "win32/fr/My App Setup 2.0.exe",
            "win32/de/My%20App%20Setup%202.0.msi",
            "mac/de/My App 2.0.dmg",
        ];
        let kinds = kinds_of(
            &paths,
            Options {
                product: "app-2.0".into(),
                ..Options::default()
            },
        );
        assert_eq!(names(&kinds), ["app-2.0", "app-2.0-msi"]);
        // A literal `%20` in a name is a `%` on the mirror: kept encoded.
        assert_eq!(
            kinds[1].1,
            [(
                "win".to_string(),
                "/win32/:lang/My%2520App%2520Setup%25202.0.msi".to_string()
            )]
        );
    }

    #[test]
    fn explicit_kinds_and_match() {
        let kinds = kinds_of(
            FIREFOX,
            Options {
                kinds: parse_kinds(&["updates=update/*.complete.mar\n=*/*.msi"]).unwrap(),
                ..fx()
            },
        );
        let n = names(&kinds);
        assert!(n.contains(&"firefox-120.0-updates"), "{n:?}");
        assert!(!n.contains(&"firefox-120.0-complete"), "{n:?}");
        // The MSIs are the main product; the installers of every platform
        // (several file types) are named apart as such.
        let main = &kinds[0].1;
        assert!(main.iter().all(|(_, p)| p.ends_with(".msi")), "{main:?}");
        assert!(n.contains(&"firefox-120.0-installers"), "{n:?}");
        assert!(n.contains(&"firefox-120.0-stub"), "{n:?}");
        let installers = &kinds
            .iter()
            .find(|(p, _)| p == "firefox-120.0-installers")
            .unwrap()
            .1;
        assert_eq!(installers.len(), 4, "every platform's: {installers:?}");

        let one = kinds_of(
            FIREFOX,
            Options {
                matching: Some("update/*.complete.mar".into()),
                ..fx()
            },
        );
        assert_eq!(names(&one), ["firefox-120.0"]);
        assert_eq!(one[0].1.len(), 3);
        assert!(parse_kinds(&["msi"]).is_err());
        assert!(parse_kinds(&["m s=*.msi"]).is_err());
        assert!(parse_kinds(&["msi="]).is_err());
    }

    #[test]
    fn platform_directories_match_in_any_case() {
        let kinds = kinds_of(
            &[
                "Win32/de/Setup.exe",
                "WIN64/de/Setup.exe",
                "beos/de/Setup.exe",
            ],
            Options {
                product: "app".into(),
                os_map: parse_os_map("BeOS=linux").unwrap(),
                ..Options::default()
            },
        );
        let oses: Vec<&str> = kinds[0].1.iter().map(|(os, _)| os.as_str()).collect();
        assert_eq!(oses, ["linux", "win", "win64"], "{kinds:?}");
        assert_eq!(
            kinds[0].1[1].1, "/Win32/:lang/Setup.exe",
            "the path keeps its case"
        );
    }

    #[test]
    fn os_maps() {
        assert_eq!(
            parse_os_map("win32=WIN, mac=osx").unwrap(),
            vec![("win32".into(), "win".into()), ("mac".into(), "osx".into())]
        );
        assert!(parse_os_map("win32").is_err());
    }
}
